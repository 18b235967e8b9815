"""Configuration checking: `vsmtpd -n -c FILE` and start-up with a bad file.

A bad file exits 1 with one "FILE:LINE: message" line on stderr per
problem (every problem, not only the first); a good one exits 0. Starting
the daemon with a bad file behaves the same and binds nothing.
"""

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from helpers import free_port, vsmtpd_binary

REPO = Path(__file__).resolve().parents[2]


def check(conf, cwd):
    p = subprocess.run([vsmtpd_binary(), "-n", "-c", str(conf)], cwd=str(cwd),
                       capture_output=True, text=True, timeout=60)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p


def error_lines(stderr, conf):
    """The (line number, message) pairs of stderr's "FILE:LINE: message" lines."""
    out = []
    for line in stderr.splitlines():
        m = re.match(r"^%s:(\d+): (.+)$" % re.escape(str(conf)), line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


def write(tmp_path, text, name="t.conf"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """[global]
spool = ./spool
workers = 2
control = ./control.sock

[server mx]
listen = 127.0.0.1:{p1}, 127.0.0.1:{p2}
hostname = mx.example.test
local_domains = example.test
mailbox = maildir:./mail/%d/%u
users = ./users
relay_networks = 127.0.0.1/32, 10.0.0.0/8
max_message_size = 25M
timeout_command = 5m
"""


def test_config_good_file_exits_0(tmp_path):
    (tmp_path / "users").write_text("user1\n")
    conf = write(tmp_path, GOOD.format(p1=free_port(), p2=free_port()))
    p = check(conf, tmp_path)
    assert p.returncode == 0, p.stderr
    assert error_lines(p.stderr, conf) == []
    # -n checks only: nothing is created.
    assert not (tmp_path / "spool").exists()


def test_config_example_file_is_valid(tmp_path):
    # The example refers to ./etc and to the certificate `make run` creates in
    # ./run/tls: check it from a copy of etc/ with a fresh certificate.
    shutil.copytree(REPO / "etc", tmp_path / "etc")
    os.chmod(tmp_path / "etc" / "passwd.example", 0o600)
    (tmp_path / "run" / "tls").mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.example.test", "-keyout", str(tmp_path / "run/tls/mx.key"),
                    "-out", str(tmp_path / "run/tls/mx.pem")], check=True, capture_output=True)
    os.chmod(tmp_path / "run" / "tls" / "mx.key", 0o600)
    p = check(tmp_path / "etc" / "vsmtpd.conf.example", tmp_path)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("body, line, words", [
    ("[global]\nspool = ./spool\nbogus_key = 1\n[server a]\nlisten = 127.0.0.1:2999\n", 3,
     ["bogus_key"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nhostname = a\nmax_mesage_size = 1M\n", 4,
     ["max_mesage_size"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nmax_message_size = 12Q\n", 3, ["max_message_size"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nmax_message_size = -5\n", 3, ["max_message_size"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nmax_message_size = 99999999G\n", 3, ["max_message_size"]),
    ("[server a]\nlisten = 127.0.0.1:2999\ntimeout_command = 5x\n", 3, ["timeout_command"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nmax_recipients = many\n", 3, ["max_recipients"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nrelay_networks = 10.0.0.0/33\n", 3, ["relay_networks"]),
    ("[server a]\nlisten = 127.0.0.1:2999\n[server b]\nlisten = 127.0.0.1:2999\n", 4, ["2999"]),
    ("[server a]\nlisten = 127.0.0.1:2999, 127.0.0.1:2999\n", 2, ["2999"]),
    ("[server a]\nlisten = 127.0.0.1:70000\n", 2, ["listen"]),
    ("[server a]\nlisten = localhost:25\n", 2, ["listen"]),
    ("[server a]\nhostname = x\n", 1, ["listen"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nlisten = 127.0.0.1:3000\n", 3, ["listen"]),
    ("[server a]\nlisten = 127.0.0.1:2999\n[server a]\nlisten = 127.0.0.1:3000\n", 3, ["a"]),
    ("[global]\nworkers = 0\n[server a]\nlisten = 127.0.0.1:2999\n", 2, ["workers"]),
    ("[global]\nlog = somewhere\n[server a]\nlisten = 127.0.0.1:2999\n", 2, ["log"]),
    ("[bogus]\n[server a]\nlisten = 127.0.0.1:2999\n", 1, ["bogus"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nmailbox = mbox:/var/mail\n", 3, ["mailbox"]),
    ("[server a]\nlisten = 127.0.0.1:2999\nusers = ./no-such-users-file\n", 3, ["users"]),
])
def test_config_error_names_file_and_line(tmp_path, body, line, words):
    conf = write(tmp_path, body)
    p = check(conf, tmp_path)
    assert p.returncode == 1, p.stderr
    errors = error_lines(p.stderr, conf)
    assert errors, "no FILE:LINE message: %r" % p.stderr
    assert line in [n for n, _ in errors], (line, p.stderr)
    text = " ".join(msg for n, msg in errors if n == line)
    for w in words:
        assert w in text, (w, p.stderr)


def test_config_every_error_is_reported(tmp_path):
    conf = write(tmp_path, "[global]\nbogus = 1\n[server a]\nlisten = 127.0.0.1:2999\n"
                           "max_message_size = 1Q\ntimeout_data = soon\n[server b]\n"
                           "listen = 127.0.0.1:2999\n")
    p = check(conf, tmp_path)
    assert p.returncode == 1
    assert sorted({n for n, _ in error_lines(p.stderr, conf)}) == [2, 5, 6, 8], p.stderr


def test_config_users_file_errors_name_its_line(tmp_path):
    (tmp_path / "users").write_text("user1\nfoo bar\n")
    conf = write(tmp_path, "[server a]\nlisten = 127.0.0.1:2999\nusers = ./users\n")
    p = check(conf, tmp_path)
    assert p.returncode == 1
    assert re.search(r"(^|\n)\S*users:2: ", p.stderr), p.stderr


def test_config_missing_file(tmp_path):
    p = check(tmp_path / "none.conf", tmp_path)
    assert p.returncode == 1
    assert "none.conf" in p.stderr


def test_config_bad_option_usage(tmp_path):
    p = subprocess.run([vsmtpd_binary(), "-Z"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "usage" in p.stderr


def test_config_version(tmp_path):
    p = subprocess.run([vsmtpd_binary(), "-V"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    assert re.match(r"^vsmtpd \d+\.\d+\.\d+\n$", p.stdout), p.stdout


def test_config_daemon_refuses_bad_file_and_binds_nothing(tmp_path):
    port = free_port()
    conf = write(tmp_path, "[global]\nspool = ./spool\n[server a]\nlisten = 127.0.0.1:%d\n"
                           "bogus = 1\n" % port)
    p = subprocess.run([vsmtpd_binary(), "-c", str(conf)], cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1
    assert error_lines(p.stderr, conf) and error_lines(p.stderr, conf)[0][0] == 5
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr
    s = socket.socket()
    s.bind(("127.0.0.1", port))     # still free
    s.close()
    assert not (tmp_path / "spool").exists()
