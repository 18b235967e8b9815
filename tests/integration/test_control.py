"""The control API (docs/CONTROL.md) against a running daemon, over its unix socket.

Virtual servers are stopped, started, paused and resumed while others keep
serving and while sessions are open; the config is reloaded (by the
`reload` command and by SIGHUP) with added, removed and changed servers and
with a broken file (refused with its file:line errors, the running config
kept). Requests go as raw JSON lines, so the protocol itself is what is
tested; tests/integration/test_vsmtpctl_cli.py drives the CLI.
"""

import json
import os
import signal
import socket

import pytest

from helpers import ConnectionClosed, free_port, send_mail


class Control:
    """One connection to the control socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(str(path))
        self.buf = b""

    def raw(self, line):
        self.sock.sendall(line if isinstance(line, bytes) else line.encode())
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, cmd, **args):
        return self.raw(json.dumps(dict(args, cmd=cmd)) + "\n")

    def ok(self, cmd, **args):
        r = self.call(cmd, **args)
        assert r["ok"], r
        return r["result"]

    def close(self):
        self.sock.close()


def control(env):
    return Control(env.root / "control.sock")


def two_servers(env, port2=None):
    """[server mx] on 127.0.0.1:port and [server mx2] on 127.0.0.2:port2."""
    port2 = port2 or free_port(("127.0.0.2",))
    mx2 = env.server(listen="127.0.0.2:%d" % port2, hostname="mx2.example.test",
                     local_domains="example.org", users=None)
    return [("mx", env.server()), ("mx2", mx2)], port2


def greeting(addr, port):
    with socket.create_connection((addr, port), timeout=10) as s:
        return s.recv(512).decode()


def test_control_socket_mode_and_status(env):
    env.start()
    path = env.root / "control.sock"
    assert oct(os.stat(path).st_mode & 0o777) == "0o660"
    c = control(env)
    st = c.ok("status", tag=42)
    assert st["servers"] == 1 and st["config"] == str(env.conf) and st["pid"] > 0
    r = c.call("status", tag=[1, "x"])
    assert r["tag"] == [1, "x"]


@pytest.mark.parametrize("line, error", [
    (b"not json\n", "not a JSON object"),
    (b"[1, 2]\n", "not a JSON object"),
    (b'{"x": 1}\n', 'missing "cmd"'),
    (b'{"cmd": "bogus"}\n', "unknown command 'bogus'"),
    (b'{"cmd": "server.pause"}\n', "missing argument 'name'"),
    (b'{"cmd": "server.pause", "name": 3}\n', "argument 'name' must be a string"),
    (b'{"cmd": "server.pause", "name": "nope"}\n', "no virtual server named 'nope'"),
])
def test_control_bad_requests_get_errors_and_the_connection_stays(env, line, error):
    env.start()
    c = control(env)
    r = c.raw(line)
    assert r["ok"] is False and error in r["error"], r
    assert c.ok("status")["servers"] == 1          # still usable


def test_control_overlong_line_is_refused(env):
    d = env.start()
    c = control(env)
    r = c.raw(b"x" * (48 * 1024 * 1024 + 10))
    assert r["ok"] is False and "too long" in r["error"]
    assert control(env).ok("status")           # the daemon is fine
    d.stop()


def test_control_server_list_and_show(env):
    servers, port2 = two_servers(env)
    env.start(servers=servers)
    with env.connect() as cl:
        send_mail(cl, "a@remote.test", ["user1@example.test"], b"Subject: x\r\n\r\nx\r\n")
        cl.quit()
    c = control(env)
    lst = c.ok("server.list")
    assert [s["name"] for s in lst] == ["mx", "mx2"]
    assert lst[0]["listen"] == ["127.0.0.1:%d" % env.port] and lst[0]["state"] == "running"
    assert lst[0]["counters"]["messages"] == 1 and lst[1]["counters"]["messages"] == 0
    show = c.ok("server.show", name="mx2")
    assert show["settings"]["hostname"] == "mx2.example.test"
    assert show["settings"]["local_domains"] == "example.org"
    assert show["settings"]["listen"] == "127.0.0.2:%d" % port2
    assert show["file"] == str(env.conf) and show["line"] > 1
    stats = c.ok("stats", name="mx")
    assert stats["servers"]["mx"]["messages"] == 1


def test_control_pause_lets_open_sessions_finish_and_refuses_new_ones(env):
    servers, port2 = two_servers(env)
    env.start(servers=servers)
    c = control(env)
    with env.connect() as open_session:
        assert open_session.reply().code == 220
        open_session.ehlo()
        assert c.ok("server.pause", name="mx") == {"name": "mx", "state": "paused"}
        assert greeting("127.0.0.1", env.port).startswith("421 4.3.2 ")
        assert greeting("127.0.0.2", port2).startswith("220 ")        # the other server serves
        # the session that was open goes on to the end
        send_mail(open_session, "a@remote.test", ["user1@example.test"], b"Subject: x\r\n\r\nx\r\n",
                  greet=False)
        open_session.quit()
    c.ok("server.resume", name="mx")
    assert greeting("127.0.0.1", env.port).startswith("220 ")


def test_control_stop_and_start_one_server(env):
    servers, port2 = two_servers(env)
    env.start(servers=servers)
    c = control(env)
    assert c.ok("server.stop", name="mx")["state"] == "stopped"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", env.port), timeout=5)
    assert greeting("127.0.0.2", port2).startswith("220 ")
    r = c.call("server.pause", name="mx")
    assert not r["ok"] and "start it first" in r["error"]
    assert c.ok("server.start", name="mx")["state"] == "running"
    assert greeting("127.0.0.1", env.port).startswith("220 ")


def test_control_reload_adds_removes_and_changes_servers(env):
    d = env.start()
    c = control(env)
    with env.connect() as old_session:          # begun under the old settings
        assert old_session.reply().code == 220
        old_session.ehlo()
        servers, port2 = two_servers(env)
        mx = dict(servers[0][1], max_message_size="100")
        env.write_config(servers=[("mx", mx), servers[1]])
        res = c.ok("reload")
        assert res["servers"] == {"added": ["mx2"], "removed": [], "reloaded": ["mx"]}
        assert greeting("127.0.0.2", port2).startswith("220 ")
        # the old session keeps the 25M limit; a new one gets 100 bytes
        body = b"Subject: big\r\n\r\n" + b"y" * 500 + b"\r\n"
        send_mail(old_session, "a@remote.test", ["user1@example.test"], body, greet=False)
        old_session.quit()
    with env.connect() as new:
        assert new.reply().code == 220
        new.ehlo()
        r = new.cmd("MAIL FROM:<a@remote.test> SIZE=500")
        assert r.code == 552, r
    env.write_config(servers=[("mx", env.server())])
    os.kill(d.pid, signal.SIGHUP)
    d.wait_log(r"event=reloaded .* servers=1")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", port2), timeout=5)
    assert [s["name"] for s in c.ok("server.list")] == ["mx"]


def test_control_reload_with_errors_keeps_the_running_config(env):
    env.start()
    c = control(env)
    good = env.conf.read_text()
    env.conf.write_text(good + "\nbogus_key = 1\nmax_message_size = 12Q\n")
    r = c.call("reload")
    assert r["ok"] is False
    lines = r["error"].split("\n")
    assert len(lines) == 2 and all(l.startswith("%s:" % env.conf) for l in lines), lines
    assert greeting("127.0.0.1", env.port).startswith("220 ")
    assert c.ok("server.list")[0]["state"] == "running"


def test_control_paused_state_survives_a_reload(env):
    env.start()
    c = control(env)
    c.ok("server.pause", name="mx")
    c.ok("reload")
    assert c.ok("server.list")[0]["state"] == "paused"
    assert greeting("127.0.0.1", env.port).startswith("421 ")


def test_control_monitor_streams_log_lines(env):
    env.start()
    mon = control(env)
    assert mon.ok("monitor") == {"monitoring": True}
    with env.connect() as cl:
        qid = send_mail(cl, "a@remote.test", ["user1@example.test"], b"Subject: x\r\n\r\nx\r\n")
        cl.quit()
    seen = []
    while not any("event=removed id=%s" % qid in l["line"] for l in seen):
        line = mon.raw(b"")
        assert set(line) == {"level", "line"}, line
        seen.append(line)
    assert any(l["line"].startswith("event=queued id=%s " % qid) or
               ("id=%s" % qid in l["line"] and "event=delivered" in l["line"]) for l in seen)
    # other connections are still served while a monitor listens
    assert control(env).ok("status")["servers"] == 1


def test_control_metrics_endpoint(env):
    port = free_port()
    env.start(global_opts=env.global_opts(metrics="127.0.0.1:%d" % port))
    with env.connect() as cl:
        send_mail(cl, "a@remote.test", ["user1@example.test"], b"Subject: x\r\n\r\nx\r\n")
        cl.quit()
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    assert 'vsmtpd_messages_accepted_total{server="mx"} 1\n' in text
    assert 'vsmtpd_server_state{server="mx",state="running"} 1\n' in text
    assert "# TYPE vsmtpd_connections_total counter\n" in text
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % port, timeout=10)
    assert e.value.code == 404
