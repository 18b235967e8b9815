"""vsmtpctl, the command-line client of the control API, against a running daemon.

What the CLI adds to the API (tests/integration/test_control.py covers the
API itself): the command line becomes the right request, results become
readable tables and "key = value" lines or, with --json, the result as
returned; the daemon's error sentence goes to stderr with exit status 1, a
usage mistake exits 64 with a usage text, an unreachable daemon 69, a -c
file that cannot be read 78. The socket is found with -s or from the
config's [global] control. `server show` prints a [server] section that
vsmtpd itself accepts, and that gives the same settings back.
"""

import json
import os
import queue
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import free_port, send_mail, vsmtpd_binary, wait_event

REPO = Path(__file__).resolve().parents[2]
EX_USAGE, EX_UNAVAILABLE, EX_CONFIG = 64, 69, 78


def vsmtpctl_binary():
    build = os.environ.get("VSMTPD_BUILD")
    return str(Path(build) / "vsmtpctl") if build else str(REPO / "build" / "vsmtpctl")


def ctl(env, *args, socket_path=None, check=None):
    """Runs vsmtpctl -s SOCKET args... in the test directory; returns the CompletedProcess.
    check: the exit status expected (asserted with the output in the message)."""
    sock = str(socket_path or env.root / "control.sock")
    p = subprocess.run([vsmtpctl_binary(), "-s", sock] + list(args), cwd=str(env.root),
                       capture_output=True, text=True, timeout=60)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    if check is not None:
        assert p.returncode == check, (p.returncode, p.stdout, p.stderr)
    return p


def ctl_raw(env, *args):
    """vsmtpctl with exactly these arguments (no -s)."""
    p = subprocess.run([vsmtpctl_binary()] + list(args), cwd=str(env.root),
                       capture_output=True, text=True, timeout=60)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p


def table(text):
    """Rows of an aligned table as lists of cells (two or more blanks between cells)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def settings_of(show_output):
    """{key: value} of `server show` output, and the set of keys at their default ("#key = ...")."""
    out, defaults = {}, set()
    for line in show_output.splitlines():
        m = re.match(r"^(#?)(\w+)\s*=\s?(.*)$", line)
        if m:
            out[m.group(2)] = m.group(3)
            if m.group(1):
                defaults.add(m.group(2))
    return out, defaults


def greeting(addr, port):
    with socket.create_connection((addr, port), timeout=10) as s:
        return s.recv(512).decode()


def two_servers(env):
    port2 = free_port(("127.0.0.2",))
    mx2 = env.server(listen="127.0.0.2:%d" % port2, hostname="mx2.example.test",
                     local_domains="example.org", users=None)
    return [("mx", env.server()), ("mx2", mx2)], port2


# ---- status and servers ---------------------------------------------------------------

def test_vsmtpctl_status(env):
    d = env.start()
    p = ctl(env, "status", check=0)
    first = p.stdout.splitlines()[0]
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
    assert re.match(r"^vsmtpd \S+, pid %d, up [\dsmhd ]+ \(since %s\)$" % (d.pid, iso), first), first
    assert "config:" in p.stdout and str(env.conf) in p.stdout
    js = json.loads(ctl(env, "--json", "status", check=0).stdout)
    assert js["pid"] == d.pid and js["config"] == str(env.conf) and js["servers"] == 1


def test_vsmtpctl_server_list_table_and_json(env):
    servers, port2 = two_servers(env)
    d = env.start(servers=servers)
    with env.connect() as cl:
        qid = send_mail(cl, "a@remote.test", ["user1@example.test"], b"Subject: x\r\n\r\nx\r\n")
        cl.quit()
    d.wait_removed(qid)
    deadline = time.monotonic() + 10
    while True:     # the session ends on its worker thread a moment after the client saw EOF
        rows = table(ctl(env, "server", "list", check=0).stdout)
        if rows[1][2] == "0" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert rows[0] == ["NAME", "STATE", "SESSIONS", "CONNECTIONS", "MESSAGES", "LISTEN"]
    assert rows[1] == ["mx", "running", "0", "1", "1", "127.0.0.1:%d" % env.port]
    assert rows[2] == ["mx2", "running", "0", "0", "0", "127.0.0.2:%d" % port2]
    js = json.loads(ctl(env, "--json", "server", "list", check=0).stdout)
    assert [(s["name"], s["state"], s["listen"]) for s in js] == [
        ("mx", "running", ["127.0.0.1:%d" % env.port]), ("mx2", "running", ["127.0.0.2:%d" % port2])]
    assert js[0]["counters"]["messages"] == 1
    # --json may also follow the command
    assert [s["name"] for s in json.loads(ctl(env, "server", "list", "--json", check=0).stdout)] == \
        ["mx", "mx2"]


def test_vsmtpctl_server_show_matches_the_config(env):
    env.start(servers=[("mx", env.server(timeout_data="90", max_message_size="12582912",
                                         relay_networks="127.0.0.1/32, ::1",
                                         local_domains="Example.NET example.test"))])
    p = ctl(env, "server", "show", "mx", check=0)
    lines = p.stdout.splitlines()
    assert lines[0].startswith("# mx: running; section at %s:" % env.conf)
    assert lines[1] == "[server mx]"
    s, defaults = settings_of(p.stdout)
    # as written in the config, normalised the way the parser reads it
    assert s["listen"] == "127.0.0.1:%d" % env.port
    assert s["hostname"] == "mx.example.test"
    assert s["local_domains"] == "example.net, example.test"
    assert s["mailbox"] == "maildir:./mail/%d/%u"
    assert s["users"] == "./users"
    assert s["relay_networks"] == "127.0.0.1, ::1"
    assert s["max_message_size"] == "12M"
    assert s["timeout_data"] == "90s"
    assert s["max_recipients"] == "100"
    # defaults, in the config's words
    assert s["timeout_command"] == "5m" and s["expire"] == "5d"
    assert s["allow"] == "0.0.0.0/0, ::/0" and s["deny"] == ""
    assert s["starttls"] == "off" and s["auth_plaintext"] == "no"
    assert s["retry"] == "5m, 10m, 20m, 40m, 1h, 2h, 4h"
    assert s["tls_cert"] == "" and s["smart_host"] == ""     # unset
    # what the config changes is a setting, what it leaves (or sets to the default) a comment
    assert {"listen", "local_domains", "relay_networks", "timeout_data", "max_message_size"} <= \
        set(s) - defaults
    assert {"timeout_command", "allow", "tls_cert", "max_recipients", "retry"} <= defaults
    # in the order of the key table, every server key once
    keys = [m.group(1) for m in (re.match(r"^#?(\w+)\s*=", l) for l in lines) if m]
    js = json.loads(ctl(env, "--json", "server", "show", "mx", check=0).stdout)
    assert sorted(keys) == sorted(js["settings"]) and keys[0] == "listen"
    assert js["settings"]["max_message_size"] == "12M"


def test_vsmtpctl_server_show_output_is_a_config_that_gives_the_same_settings(env):
    env.start(servers=[("mx", env.server(retry="1m, 90s", relay_networks="10.0.0.0/8"))])
    shown = ctl(env, "server", "show", "mx", check=0).stdout
    glob_opts = env.global_opts(control=str(env.root / "control2.sock"))
    text = "[global]\n" + "".join("%s = %s\n" % kv for kv in glob_opts.items()) + "\n" + shown
    conf2 = env.root / "again.conf"
    conf2.write_text(text)
    chk = subprocess.run([vsmtpd_binary(), "-n", "-c", str(conf2)], cwd=str(env.root),
                         capture_output=True, text=True, timeout=60)
    assert chk.returncode == 0, chk.stderr
    env.daemons[0].stop()
    from helpers import Daemon
    d2 = Daemon(env.root, conf2)
    env.daemons.append(d2)
    d2.start()
    again = ctl(env, "server", "show", "mx", socket_path=env.root / "control2.sock", check=0).stdout
    assert again.splitlines()[2:] == shown.splitlines()[2:]


def test_vsmtpctl_pause_resume_stop_start(env):
    servers, port2 = two_servers(env)
    env.start(servers=servers)
    assert ctl(env, "server", "pause", "mx", check=0).stdout == "server mx: paused\n"
    rows = table(ctl(env, "server", "list", check=0).stdout)
    assert [r[:2] for r in rows[1:]] == [["mx", "paused"], ["mx2", "running"]]
    assert greeting("127.0.0.1", env.port).startswith("421 ")
    assert ctl(env, "server", "resume", "mx", check=0).stdout == "server mx: running\n"
    assert table(ctl(env, "server", "list", check=0).stdout)[1][1] == "running"
    assert greeting("127.0.0.1", env.port).startswith("220 ")

    assert ctl(env, "server", "stop", "mx2", check=0).stdout == "server mx2: stopped\n"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port2), timeout=5)
    p = ctl(env, "server", "pause", "mx2", check=1)
    assert "start it first" in p.stderr and p.stdout == ""
    assert ctl(env, "server", "start", "mx2", check=0).stdout == "server mx2: running\n"
    assert greeting("127.0.0.2", port2).startswith("220 ")


def test_vsmtpctl_stats(env):
    servers, _ = two_servers(env)
    env.start(servers=servers)
    out = ctl(env, "stats", check=0).stdout
    assert "server mx\n" in out and "server mx2\n" in out
    out = ctl(env, "stats", "mx2", check=0).stdout
    assert out.startswith("server mx2\n") and "server mx\n" not in out
    counters = dict(table(out)[1:])
    assert counters["connections"] == "0" and "bytes_in" in counters
    js = json.loads(ctl(env, "--json", "stats", "mx", check=0).stdout)
    assert list(js["servers"]) == ["mx"]


def test_vsmtpctl_monitor_prints_log_lines_as_they_come(env):
    env.start()
    proc = subprocess.Popen([vsmtpctl_binary(), "-s", str(env.root / "control.sock"), "monitor"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    try:
        # Nothing says when the daemon has taken the monitor request: a message sent
        # before may go unseen, so messages are sent until one is seen to the end.
        seen = []
        for _ in range(10):
            with env.connect() as cl:
                qid = send_mail(cl, "a@remote.test", ["user1@example.test"], b"Subject: x\r\n\r\nx\r\n")
                cl.quit()
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    seen.append(lines.get(timeout=0.1).rstrip("\n"))
                except queue.Empty:
                    continue
                if "event=removed id=%s" % qid in seen[-1]:
                    break
            if any("event=removed id=%s" % qid in l for l in seen):
                break
        assert any("event=removed id=%s" % qid in l for l in seen), (seen, proc.poll())
        assert any(re.match(r"^event=\w+ id=%s\b" % qid, l) for l in seen), seen
        assert all("event=" in l for l in seen), seen
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("server", "show", "nope"),
    ("server", "pause", "nope"),
    ("stats", "nope"),
])
def test_vsmtpctl_unknown_server_is_the_daemons_error_exit_1(env, args):
    env.start()
    p = ctl(env, *args, check=1)
    assert p.stderr == "no virtual server named 'nope'\n" and p.stdout == ""
    p = ctl(env, "--json", *args, check=1)
    assert p.stderr == "no virtual server named 'nope'\n" and p.stdout == ""


@pytest.mark.parametrize("args, says", [
    ((), "no command given"),
    (("bogus",), "unknown command 'bogus'"),
    (("server",), "'server' needs one of: list, show"),
    (("server", "bogus"), "unknown command 'server bogus'"),
    (("server", "show"), "'server show' needs NAME"),
    (("server", "show", "a", "b"), "too many arguments"),
    (("queue", "list", "--state", "gone"), "--state must be one of pending|deferred|held"),
    (("queue", "list", "--domain"), "--domain needs a value"),
    (("queue", "list", "--bogus", "x"), "'queue list' has no option --bogus"),
    (("queue", "flush", "ID1", "--domain", "x.test"), "give ID or --domain, not both"),
    (("-x", "status"), "unknown option"),
    (("config", "set", "mx"), "'config set' needs KEY=VALUE"),
    (("config", "set", "mx", "max_recipients"), "expected KEY=VALUE, not 'max_recipients'"),
    (("config", "set", "mx", "=5"), "expected KEY=VALUE, not '=5'"),
    (("config", "unset", "mx"), "'config unset' needs KEY"),
])
def test_vsmtpctl_usage_errors_exit_64(env, args, says):
    # no daemon: a usage error is found before any connection
    p = ctl(env, *args, socket_path=env.root / "nowhere.sock", check=EX_USAGE)
    assert p.stderr.startswith("vsmtpctl: ") and says in p.stderr, p.stderr
    assert "usage: vsmtpctl" in p.stderr and p.stdout == ""


def test_vsmtpctl_help(env):
    p = ctl_raw(env, "-h")
    assert p.returncode == 0 and p.stdout.startswith("usage: vsmtpctl ")
    for cmd in ("status", "server list", "server show NAME", "server pause NAME", "reload",
                "stats [NAME]", "queue list", "queue flush [ID | --domain DOMAIN]", "queue summary"):
        assert "\n  %s " % cmd in p.stdout, cmd


def test_vsmtpctl_unreachable_daemon_exit_69(env, tmp_path):
    missing = tmp_path / "nowhere.sock"
    p = ctl(env, "status", socket_path=missing, check=EX_UNAVAILABLE)
    assert p.stderr == "vsmtpctl: cannot reach vsmtpd at %s: No such file or directory\n" % missing
    # a socket file nobody listens on
    dead = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(dead))
    s.close()
    p = ctl(env, "server", "list", socket_path=dead, check=EX_UNAVAILABLE)
    assert p.stderr == "vsmtpctl: cannot reach vsmtpd at %s: Connection refused\n" % dead


def test_vsmtpctl_a_server_that_closes_without_answering_exit_69(env, tmp_path):
    path = tmp_path / "mute.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    proc = subprocess.Popen([vsmtpctl_binary(), "-s", str(path), "status"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn, _ = srv.accept()
    assert conn.recv(4096) == b'{"cmd":"status"}\n'
    conn.close()
    out, err = proc.communicate(timeout=30)
    srv.close()
    assert proc.returncode == EX_UNAVAILABLE and "closed before the answer" in err, err


# ---- the socket from the config ---------------------------------------------------------

def test_vsmtpctl_finds_the_socket_in_the_config(env):
    env.start()
    p = ctl_raw(env, "-c", str(env.conf), "status")
    assert p.returncode == 0 and p.stdout.startswith("vsmtpd "), p.stderr
    p = ctl_raw(env, "-c", str(env.root / "missing.conf"), "status")
    assert p.returncode == EX_CONFIG and "cannot read %s" % (env.root / "missing.conf") in p.stderr


def test_vsmtpctl_reload_with_a_broken_config_reports_the_daemons_errors(env):
    env.start()
    assert ctl_raw(env, "-c", str(env.conf), "reload").returncode == 0
    good = env.conf.read_text()
    env.conf.write_text(good + "timeout_data = forever\n")
    lines = len(good.splitlines()) + 1
    # the config no longer loads, but its control line still names the socket
    p = ctl_raw(env, "-c", str(env.conf), "reload")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr.startswith("%s:%d: timeout_data = 'forever': " % (env.conf, lines)), p.stderr
    assert ctl(env, "status", check=0)


# ---- the config file ----------------------------------------------------------------------

def test_vsmtpctl_config_set_and_unset_edit_the_file(env):
    env.start()
    before = env.conf.read_text()
    p = ctl(env, "config", "set", "mx", "max_recipients=7", "retry=5m 1h", check=0)
    assert p.stdout == "changed in mx: max_recipients, retry\nconfig reloaded\n  reloaded: mx\n", p.stdout
    assert env.conf.read_text() == before.replace("max_recipients = 100\n", "max_recipients = 7\n") + \
        "retry = 5m 1h\n"
    show = settings_of(ctl(env, "server", "show", "mx", check=0).stdout)[0]
    assert show["max_recipients"] == "7" and show["retry"] == "5m, 1h"

    p = ctl(env, "config", "unset", "mx", "retry", "max_recipients", check=0)
    assert p.stdout.startswith("changed in mx: retry, max_recipients\n"), p.stdout
    assert env.conf.read_text() == before.replace("max_recipients = 100\n", "")
    p = ctl(env, "config", "unset", "mx", "retry", check=0)
    assert p.stdout.startswith("mx: the config file already said so\n"), p.stdout

    js = json.loads(ctl(env, "--json", "config", "set", "mx", "deny=", check=0).stdout)
    assert js["changed"] == ["deny"] and js["servers"]["reloaded"] == ["mx"]
    assert env.conf.read_text().endswith("deny =\n")


def test_vsmtpctl_config_set_errors_are_the_daemons(env):
    env.start()
    before = env.conf.read_text()
    p = ctl(env, "config", "set", "mx", "bogus=1", check=1)
    assert p.stderr == "unknown key 'bogus' (config.keys lists them)\n" and p.stdout == ""
    p = ctl(env, "config", "set", "mx", "max_message_size=huge", check=1)
    assert p.stderr.startswith("%s:" % os.path.realpath(env.conf)) and "max_message_size = 'huge'" in p.stderr
    p = ctl(env, "config", "unset", "nope", "hostname", check=1)
    assert p.stderr == "no virtual server named 'nope'\n"
    assert env.conf.read_text() == before


def test_vsmtpctl_config_keys(env):
    env.start()
    rows = table(ctl(env, "config", "keys", check=0).stdout)
    assert rows[0] == ["KEY", "PAGE", "TYPE", "DEFAULT"]
    by = {r[0]: r[1:] for r in rows[1:]}
    assert by["listen"] == ["general", "addresses", "(required)"]
    assert by["max_message_size"] == ["messages", "size", "25M"]
    js = json.loads(ctl(env, "--json", "config", "keys", check=0).stdout)
    assert [k["name"] for k in js] == [r[0] for r in rows[1:]]


# ---- the queue --------------------------------------------------------------------------

SENDER = "user1@example.test"


def test_vsmtpctl_queue_list_show_hold_release_delete(env):
    d = env.start()
    assert ctl(env, "queue", "list", check=0).stdout == "queue is empty\n"
    assert ctl(env, "queue", "summary", check=0).stdout == "no recipient is waiting\n"
    with env.connect() as c:
        qid = send_mail(c, SENDER, ["a@remote.test", "b@remote.test"],
                        b"Subject: waiting\r\nMessage-ID: <cli-1@example.test>\r\n\r\nbody\r\n")
        c.quit()
    for r in ("a@remote.test", "b@remote.test"):
        wait_event(d, "deferred", qid, r)       # the resolver is dead: it stays queued

    out = ctl(env, "queue", "list", check=0).stdout.splitlines()
    rows = table("\n".join(out[:-1]))
    assert rows[0] == ["ID", "ARRIVAL", "SIZE", "SENDER", "RCPTS", "STATE"]
    assert rows[1][0] == qid and rows[1][3:] == [SENDER, "2", "deferred"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", rows[1][1])
    assert out[-1] == "-- 1 message, %s bytes" % rows[1][2]
    assert table(ctl(env, "queue", "list", "--domain", "remote.test", check=0).stdout)[1][0] == qid
    assert ctl(env, "queue", "list", "--state=pending", check=0).stdout == "no queued message matches\n"

    show = ctl(env, "queue", "show", qid, check=0).stdout
    assert "id:      %s\n" % qid in show and "sender:  %s\n" % SENDER in show
    assert re.search(r"^  a@remote\.test\s+deferred\s+1\s+\d{4}-", show, re.M), show
    assert "Message-ID: <cli-1@example.test>\n" in show and "\r" not in show and "body" not in show

    summary = table(ctl(env, "queue", "summary", check=0).stdout)
    assert summary[0] == ["DOMAIN", "TOTAL", "<5m", "<1h", "<1d", ">=1d"]
    assert summary[1] == ["TOTAL", "2", "2", "0", "0", "0"]
    assert summary[2] == ["remote.test", "2", "2", "0", "0", "0"]

    def idle(*args):
        """A message action, retried while its delivery attempt is still finishing."""
        for _ in range(500):
            p = ctl(env, *args)
            if p.returncode == 0 or "being delivered right now" not in p.stderr:
                return p
        return p

    assert idle("queue", "hold", qid).stdout == "message %s: held\n" % qid
    assert table(ctl(env, "queue", "list", "--state", "held", check=0).stdout)[1][5] == "held"
    p = ctl(env, "queue", "hold", qid, check=1)
    assert "is held already" in p.stderr
    assert idle("queue", "release", qid).stdout == "message %s: queued\n" % qid
    assert idle("queue", "delete", qid).stdout == "message %s: deleted\n" % qid
    assert ctl(env, "queue", "list", check=0).stdout == "queue is empty\n"
    p = ctl(env, "queue", "show", qid, check=1)
    assert p.stderr == "no message with ID '%s' in the queue\n" % qid
    assert ctl(env, "queue", "flush", check=0).stdout == "flushed 0 messages\n"
