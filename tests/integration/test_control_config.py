"""config.set, config.keys and stats.history (docs/CONTROL.md) against a running daemon.

config.set edits the config file itself: the tests write a file by hand,
with comments, inline comments, blank lines and continuation lines, and
compare the whole file afterwards, byte for byte, with the one edit
expected. A change must take effect (a smaller max_message_size refuses
a message with 552), a bad value must be refused with exactly what
`vsmtpd -n` says of the same file and leave the file and the daemon as
they were, a symlinked config is edited behind its link, and a daemon
that may not write the file (after dropping to [global] user) says so.
stats.history is checked after real mail went through, and across the
reload config.set makes.
"""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import Env
from helpers import Daemon, data_wire, send_mail, vsmtpd_binary
from test_control import control

MINUTES = 60


def hand_written(env, max_size="12M"):
    """A config as a person writes it: comments, alignment, a continuation line."""
    return ("# vsmtpd for the control tests\n"
            "[global]\n"
            "spool   = ./spool   ; queued mail\n"
            "log     = stderr\n"
            "workers = 2\n"
            "dns     = 127.0.0.1:9\n"
            "control = %s\n"
            "min_free_space = 1M\n"
            "\n"
            "; the one server\n"
            "[server mx]\n"
            "listen           = 127.0.0.1:%d\n"
            "hostname         = mx.example.test\n"
            "local_domains    = example.test,\n"
            "                   example.net   ; both\n"
            "mailbox          = maildir:./mail/%%d/%%u\n"
            "users            = ./users\n"
            "max_message_size = %s   ; keep it small\n"
            "max_recipients   = 100\n"
            "\n"
            "# end\n") % (env.root / "control.sock", env.port, max_size)


def start_hand_written(env, text=None):
    env.conf.write_text(text or hand_written(env))
    return env.start(write=False)


def files_beside(path):
    """Names in the config's directory that start with '.' (config.set's temporary files)."""
    return sorted(p.name for p in Path(path).parent.iterdir() if p.name.startswith("."))


def big_message(kib):
    return b"Subject: big\r\n\r\n" + (b"z" * 98 + b"\r\n") * (kib * 1024 // 100 + 1)


# ---- config.set -------------------------------------------------------------------------

def test_config_set_changes_the_value_keeps_the_file_and_takes_effect(env):
    d = start_hand_written(env)
    before = env.conf.read_text()
    mark = d.log_mark()
    c = control(env)
    r = c.ok("config.set", server="mx", settings={"max_message_size": "1K"})
    assert r == {"changed": ["max_message_size"],
                 "servers": {"added": [], "removed": [], "reloaded": ["mx"]}}
    assert env.conf.read_text() == before.replace(
        "max_message_size = 12M   ; keep it small\n", "max_message_size = 1K   ; keep it small\n")
    assert files_beside(env.conf) == []
    d.wait_log(r"event=config_set server=mx keys=max_message_size config=%s$"
               % re.escape(os.path.realpath(env.conf)), start=mark)
    assert c.ok("server.show", name="mx")["settings"]["max_message_size"] == "1K"

    with env.connect() as cl:
        cl.reply()
        cl.ehlo()
        assert cl.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert cl.cmd("RCPT TO:<user1@example.test>").code == 250
        assert cl.cmd("DATA").code == 354
        cl.send(data_wire(big_message(2)))
        r = cl.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
        cl.quit()


def test_config_set_adds_and_removes_keys(env):
    d = start_hand_written(env)
    before = env.conf.read_text()
    c = control(env)
    r = c.ok("config.set", server="mx",
             settings={"max_message_size": None, "max_recipients": "100", "timeout_data": "5m"})
    # max_recipients was already 100: the file did not change for it
    assert r["changed"] == ["max_message_size", "timeout_data"]
    assert env.conf.read_text() == before.replace(
        "max_message_size = 12M   ; keep it small\n", "").replace(
        "max_recipients   = 100\n", "max_recipients   = 100\ntimeout_data = 5m\n")
    settings = c.ok("server.show", name="mx")["settings"]
    assert settings["max_message_size"] == "25M"         # back to the default
    assert settings["timeout_data"] == "5m"
    # the continuation line of a replaced value goes with it
    r = c.ok("config.set", server="mx", settings={"local_domains": "example.test"})
    assert "local_domains    = example.test\nmailbox" in env.conf.read_text()
    assert c.ok("server.show", name="mx")["settings"]["local_domains"] == "example.test"


def test_config_set_bad_value_is_refused_as_vsmtpd_n_says(env):
    d = start_hand_written(env)
    before = env.conf.read_bytes()
    c = control(env)
    r = c.call("config.set", server="mx", settings={"max_message_size": "lots", "timeout_data": "forever"})
    assert r["ok"] is False
    assert env.conf.read_bytes() == before and files_beside(env.conf) == []
    assert c.ok("server.show", name="mx")["settings"]["max_message_size"] == "12M"

    # the same edit made by hand, checked by `vsmtpd -n`: the same lines
    real = os.path.realpath(env.conf)
    env.conf.write_text(before.decode().replace("max_message_size = 12M ", "max_message_size = lots ")
                        .replace("max_recipients   = 100\n",
                                 "max_recipients   = 100\ntimeout_data = forever\n"))
    p = subprocess.run([vsmtpd_binary(), "-n", "-c", real], cwd=str(env.root), capture_output=True,
                       text=True, timeout=60)
    env.conf.write_bytes(before)
    assert p.returncode == 1
    assert r["error"] == p.stderr.rstrip("\n")
    assert len(r["error"].splitlines()) == 2 and r["error"].startswith(real + ":18: max_message_size")


def test_config_set_rule_between_keys_is_refused(env):
    start_hand_written(env)
    before = env.conf.read_bytes()
    r = control(env).call("config.set", server="mx", settings={"starttls": "required"})
    assert r["ok"] is False and r["error"].startswith(os.path.realpath(env.conf) + ":"), r
    assert env.conf.read_bytes() == before


@pytest.mark.parametrize("args, error", [
    ({"server": "nope", "settings": {"hostname": "x.test"}}, "no virtual server named 'nope'"),
    ({"server": "mx", "settings": {"bogus": "1"}}, "unknown key 'bogus' (config.keys lists them)"),
    ({"server": "mx", "settings": {"workers": "3"}},
     "'workers' is a [global] setting: config.set changes [server NAME] settings only"),
    ({"server": "mx", "settings": {"hostname": 3}},
     "settings.hostname must be a string, or null to remove the key"),
    ({"server": "mx", "settings": {"hostname": "a\nb"}},
     "the value of hostname has a line break; a value is one line"),
    ({"server": "mx", "settings": {"hostname": "a ;b"}},
     "the value of hostname has a ';' after a blank, which would start a comment"),
    ({"server": "mx", "settings": {}}, "argument 'settings' must be an object"),
    ({"server": "mx", "settings": "hostname=x"}, "argument 'settings' must be an object"),
    ({"settings": {"hostname": "x"}}, "missing argument 'server'"),
])
def test_config_set_argument_errors_change_nothing(env, args, error):
    d = start_hand_written(env)
    before = env.conf.read_bytes()
    r = control(env).call("config.set", **args)
    assert r["ok"] is False and r["error"].startswith(error), r
    assert env.conf.read_bytes() == before and files_beside(env.conf) == []
    assert not d.log_matches(r"event=(config_set|reloaded)\b")


def test_config_set_every_bad_key_is_listed(env):
    start_hand_written(env)
    r = control(env).call("config.set", server="mx", settings={"bogus": "1", "spool": "x", "hostname": "ok"})
    assert r["error"] == ("unknown key 'bogus' (config.keys lists them)\n"
                          "'spool' is a [global] setting: config.set changes [server NAME] settings only")


def test_config_set_section_missing_from_the_file(env):
    start_hand_written(env)
    # the file was edited by hand and not reloaded: mx is running, but no longer in the file
    env.conf.write_text(env.conf.read_text().replace("[server mx]", "[server other]"))
    r = control(env).call("config.set", server="mx", settings={"hostname": "x.test"})
    assert r["error"] == "%s: no [server mx] section" % os.path.realpath(env.conf)


def test_config_set_edits_the_file_behind_a_symlink(env):
    real_dir = env.root / "etc"
    real_dir.mkdir()
    real = real_dir / "vsmtpd.conf"
    real.write_text(hand_written(env))
    os.chmod(real, 0o640)
    env.conf.symlink_to(real)
    env.start(write=False)
    r = control(env).ok("config.set", server="mx", settings={"hostname": "new.example.test"})
    assert r["changed"] == ["hostname"]
    assert os.path.islink(env.conf) and os.readlink(env.conf) == str(real)
    assert "hostname         = new.example.test\n" in real.read_text()
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640
    assert files_beside(real) == []
    assert control(env).ok("server.show", name="mx")["settings"]["hostname"] == "new.example.test"


def test_config_set_crlf_file_stays_crlf(env):
    text = hand_written(env).replace("\n", "\r\n")
    start_hand_written(env, text)
    control(env).ok("config.set", server="mx", settings={"max_recipients": "7", "timeout_data": "2m"})
    assert env.conf.read_bytes() == text.replace("max_recipients   = 100\r\n",
                                                 "max_recipients   = 7\r\ntimeout_data = 2m\r\n").encode()


def fifo_open_by(pid, path):
    """Does process pid have path open?"""
    fds = Path("/proc/%d/fd" % pid)
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            pass
    return False


def feed_fifo(path, contents, pid):
    """Writes each text to the FIFO for one reader's open, waiting for vsmtpd (pid) to close
    it in between, so that each open reads exactly one of them."""
    for text in contents:
        with open(path, "w") as f:          # blocks until vsmtpd opens it
            f.write(text)
        deadline = time.monotonic() + 20
        while fifo_open_by(pid, path) and time.monotonic() < deadline:
            time.sleep(0.01)


def test_config_set_reload_failure_puts_the_file_back(env):
    """The users file is a FIFO that reads well at start and for config.set's check, then
    badly for its reload (as if edited in between): the reload fails after the rename, and
    the old text must come back."""
    fifo = env.root / "users.fifo"
    os.mkfifo(fifo)
    env.conf.write_text(hand_written(env).replace("./users", "./users.fifo"))
    d = Daemon(env.root, env.conf)
    env.daemons.append(d)
    first = threading.Thread(target=lambda: open(fifo, "w").write("user1\n"), daemon=True)
    first.start()
    d.start()
    first.join(timeout=20)
    before = env.conf.read_bytes()
    threading.Thread(target=feed_fifo, args=(fifo, ["user1\n", "bad user\n"], d.pid), daemon=True).start()
    c = control(env)
    r = c.call("config.set", server="mx", settings={"max_recipients": "5"})
    assert r["ok"] is False
    assert r["error"].startswith("./users.fifo:1: 'bad user': "), r
    assert env.conf.read_bytes() == before and files_beside(env.conf) == []
    assert c.ok("server.show", name="mx")["settings"]["max_recipients"] == "100"
    d.wait_log(r"event=reload_failed\b")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start vsmtpd as another user")
def test_config_set_when_the_daemon_may_not_write_the_file():
    try:
        import pwd
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    # A world-readable directory (pytest's are 0700), so that the daemon still reads its
    # config after dropping to nobody; the file and its directory stay root's.
    root = Path(tempfile.mkdtemp(prefix="vsmtpd-config-set-"))
    os.chmod(root, 0o755)
    e = Env(root)
    d = None
    try:
        text = hand_written(e).replace("min_free_space = 1M\n", "min_free_space = 1M\nuser = nobody\n")
        e.conf.write_text(text)
        d = Daemon(root, "vsmtpd.conf").start()
        d.wait_log(r"event=privileges user=nobody\b")
        r = control(e).call("config.set", server="mx", settings={"hostname": "x.test"})
        real = os.path.realpath(e.conf)
        assert r == {"ok": False, "error": "cannot change %s: vsmtpd (user nobody, uid %d) may not write it "
                     "(Permission denied); give it write access, or edit the file by hand and reload"
                     % (real, pwd.getpwnam("nobody").pw_uid)}
        assert e.conf.read_text() == text
    finally:
        if d is not None:
            d.stop()
        shutil.rmtree(root)


# ---- config.keys --------------------------------------------------------------------------

def test_config_keys_lists_every_server_key(env):
    start_hand_written(env)
    c = control(env)
    keys = c.ok("config.keys")
    names = [k["name"] for k in keys]
    assert sorted(names) == sorted(c.ok("server.show", name="mx")["settings"])
    for k in keys:
        assert set(k) == {"name", "page", "type", "default", "choices", "doc", "required"}, k
        assert k["page"] in ("general", "access", "messages", "delivery"), k
        assert isinstance(k["type"], str) and k["type"], k
        assert isinstance(k["doc"], str) and k["doc"], k
        assert k["choices"] is None or all(isinstance(x, str) for x in k["choices"]), k
    by = {k["name"]: k for k in keys}
    assert by["listen"]["required"] is True and by["hostname"]["required"] is False
    assert (by["max_message_size"]["type"], by["max_message_size"]["default"]) == ("size", "25M")
    assert by["timeout_data"]["type"] == "duration"
    assert by["relay_networks"]["type"] == "networks"
    assert by["auth_plaintext"]["type"] == "yes/no"
    assert by["starttls"]["choices"] == ["off", "optional", "required"]
    assert by["starttls"]["page"] == "access" and by["listen"]["page"] == "general"


# ---- stats.history ------------------------------------------------------------------------

def history_totals(h, name):
    return {k: sum(v) for k, v in h["servers"][name].items()}


def test_stats_history_counts_per_minute_and_survives_a_reload(env):
    d = start_hand_written(env)
    c = control(env)
    h = c.ok("stats.history")
    now = int(time.time())
    assert len(h["minute"]) == MINUTES
    assert all(b - a == 60 for a, b in zip(h["minute"], h["minute"][1:]))
    assert h["minute"][-1] in (now // 60 * 60, now // 60 * 60 - 60)
    assert list(h["servers"]) == ["mx"]
    assert set(h["servers"]["mx"]) == {"accepted", "delivered", "deferred", "bounced"}
    assert all(len(v) == MINUTES for v in h["servers"]["mx"].values())
    assert history_totals(h, "mx") == {"accepted": 0, "delivered": 0, "deferred": 0, "bounced": 0}

    ids = []
    with env.connect() as cl:
        for i in range(3):
            ids.append(send_mail(cl, "s@remote.test", ["user1@example.test"],
                                 b"Subject: %d\r\n\r\nhello\r\n" % i, greet=i == 0))
        cl.quit()
    for qid in ids:
        d.wait_log(r"event=delivered id=%s\b" % qid)
    h = c.ok("stats.history", name="mx")
    assert history_totals(h, "mx") == {"accepted": 3, "delivered": 3, "deferred": 0, "bounced": 0}
    # the counts sit in the last minutes, never in the future
    assert sum(h["servers"]["mx"]["accepted"][-2:]) == 3

    # config.set reloads: new server objects, the same history
    c.ok("config.set", server="mx", settings={"max_recipients": "50"})
    assert history_totals(c.ok("stats.history"), "mx")["accepted"] == 3

    r = c.call("stats.history", name="nope")
    assert r == {"ok": False, "error": "no virtual server named 'nope'"}
