"""vsmtpd under valgrind memcheck: a short scenario that touches every part.

The sanitizer build runs every other test; this one runs the optimised
build (build/vsmtpd: valgrind cannot run an ASan binary) under
  valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
through a wrapper script given to helpers.Daemon as the binary. The
scenario: a message for a local Maildir (delivered at commit), one for two
local recipients (through the queue), STARTTLS then AUTH then a message
relayed to a fake MX of the outbound world (DNS, the outbound pool), a
failed AUTH, a control command, a reload and a message after it, and
SIGTERM. Passed when the daemon exits 0 and valgrind counted no error (an
invalid read or write, a use of uninitialised memory, a definite leak).
"""

import json
import os
import re
import smtplib
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from helpers import Daemon, send_mail
from world import MX1_IP

OPTIMISED = Path(__file__).resolve().parents[2] / "build" / "vsmtpd"
SIMPLE = b"Subject: t\r\n\r\nbody\r\n"
VALGRIND_READY_TIMEOUT = 60
VALGRIND_OPTIONS = ("--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
                    "--track-origins=yes", "--num-callers=30")


def control(env, cmd, **args):
    """One request on the control socket; returns its result."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(str(env.root / "control.sock"))
        s.sendall((json.dumps(dict(args, cmd=cmd)) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            assert chunk, "control socket closed"
            buf += chunk
    r = json.loads(buf)
    assert r["ok"], r
    return r["result"]


def valgrind_wrapper(root):
    """A script that runs build/vsmtpd under memcheck, its report in root/valgrind.log."""
    script = Path(root) / "vsmtpd-valgrind"
    script.write_text("#!/bin/sh\nexec valgrind %s --log-file=%s %s \"$@\"\n"
                      % (" ".join(VALGRIND_OPTIONS), Path(root) / "valgrind.log", OPTIMISED))
    script.chmod(0o755)
    return script


def test_valgrind_memcheck_scenario_has_no_errors(env, world):
    if not os.access(OPTIMISED, os.X_OK):
        pytest.skip("no optimised build at %s (make)" % OPTIMISED)
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        pytest.skip("valgrind is not installed")
    cert, key = world.cert("mx.example.test")
    users = env.root / "auth_users"
    hashed = subprocess.run(["openssl", "passwd", "-6", "secret"], check=True, capture_output=True,
                            text=True).stdout.strip()
    users.write_text("alice:%s\n" % hashed)
    users.chmod(0o600)
    fake = world.fake(MX1_IP)
    env.write_config(servers=[("mx", world.server(starttls="optional", tls_cert=str(cert),
                                                   tls_key=str(key), auth="optional",
                                                   auth_users=str(users)))],
                     global_opts=world.global_opts())
    d = Daemon(env.root, env.conf, binary=str(valgrind_wrapper(env.root)))
    env.daemons.append(d)
    d.start(timeout=VALGRIND_READY_TIMEOUT)

    # Local: one recipient (delivered at commit), then two (through the queue).
    with env.connect(timeout=60) as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        qid2 = send_mail(c, "s@remote.test", ["user2@example.test", "user3@example.test"], SIMPLE,
                         greet=False)
        c.quit()
    d.wait_removed(qid, timeout=60)
    d.wait_removed(qid2, timeout=60)

    # STARTTLS, a failed then a good AUTH, a relayed message.
    ctx = ssl.create_default_context(cafile=str(world.ca.cert))
    ctx.check_hostname = False          # smtplib names the server by its address; the chain is checked
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="client.example", timeout=60) as s:
        s.starttls(context=ctx)
        s.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("alice", "wrong")
        s.login("alice", "secret")
        s.sendmail("alice@example.test", ["rcpt@remote.test"], SIMPLE)
    (m,) = fake.wait_messages(1, timeout=60)
    assert m.rcpts == ["rcpt@remote.test"]
    d.wait_log(r"event=removed ", start=0, timeout=60)

    # The control socket, a reload, and a session on the reloaded server.
    assert control(env, "status")["servers"] == 1
    assert control(env, "queue.list") is not None
    mark = d.log_mark()
    control(env, "reload")
    d.wait_log(r"event=reloaded ", start=mark, timeout=60)
    with env.connect(timeout=60) as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        c.quit()
    d.wait_removed(qid, timeout=60)

    status = d.stop(check=False)
    report = (env.root / "valgrind.log").read_text()
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", report)
    print("\n" + "\n".join(l for l in report.splitlines() if "SUMMARY" in l or "lost:" in l))
    assert summary and summary.group(1) == "0" and status == 0, report[-20000:]
    assert len(env.new_files("user1")) == 2 and len(env.new_files("user2")) == 1
