"""The web console in a real browser: Debian's chromium driven by
playwright-core (tests/browser/, one node process per scenario) against a
real vsmtpd serving the console on loopback.

Each scenario script does what an admin would do in the page and reports
what the page showed; this file starts the daemon, runs the script and
checks the effects on the daemon side: a setting changed in the Messages
tab refuses a too-large message with 552, the Pause button makes the server
answer 421, Hold and Release move a queued message in and out of the spool's
hold/, an operator sees only their server, a wrong password is refused.
Screenshots of every page are kept in build-san/artifacts/console/.

node, chromium and tests/browser/node_modules (`npm ci` there) are required:
without them these tests fail, they are not skipped.
"""

import json
import os
import shutil
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from helpers import SmtpClient, fields, free_port, render_config, vsmtpd_binary, wait_event
from test_control import control, two_servers
from test_control_queue import queued

REPO = Path(__file__).resolve().parents[2]
BROWSER = REPO / "tests" / "browser"
ARTIFACTS = REPO / "build-san" / "artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"
SCENARIO_TIMEOUT = 120

ACCOUNTS = {                      # name: (password, role)
    "alice": ("alice-secret", "admin"),
    "oscar": ("oscar-secret", "operator=mx"),
    "rita": ("rita-secret", "readonly"),
}


@pytest.fixture(scope="module", autouse=True)
def _browser_tools():
    missing = []
    if shutil.which("node") is None:
        missing.append("node (apt install nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s (apt install chromium)" % CHROMIUM)
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (npm ci in tests/browser)")
    if missing:
        pytest.fail("browser tests need: " + ", ".join(missing), pytrace=False)


def crypt_hash(password):
    p = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                       text=True, check=True)
    return p.stdout.strip()


class Console:
    """A daemon serving the console, and the URL to reach it."""

    def __init__(self, env, servers=None, **server_overrides):
        users = env.root / "console.users"
        users.write_text("".join("%s:%s:%s\n" % (name, crypt_hash(pw), role)
                                 for name, (pw, role) in ACCOUNTS.items()))
        users.chmod(0o600)
        port = free_port(("127.0.0.1",))
        self.url = "http://127.0.0.1:%d/" % port
        self.global_opts = env.global_opts(console="127.0.0.1:%d" % port, console_users=str(users))
        self.servers = servers or [("mx", env.server(**server_overrides))]
        self.env = env
        self.daemon = env.start(self.servers, self.global_opts)

    def run(self, script, user="alice", password=None, **args):
        """Runs tests/browser/SCRIPT.js as user; returns the result it reports."""
        cmd = ["node", str(BROWSER / (script + ".js")), "--url", self.url, "--user", user,
               "--password", ACCOUNTS[user][0] if password is None else password]
        for k, v in args.items():
            cmd += ["--" + k, str(v)]
        p = subprocess.run(cmd, cwd=str(BROWSER), capture_output=True, text=True,
                           timeout=SCENARIO_TIMEOUT)
        assert p.returncode == 0, "%s failed:\n%s\n%s\n--- vsmtpd log ---\n%s" % (
            script, p.stdout, p.stderr, self.daemon.log_tail())
        lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
        assert len(lines) == 1, p.stdout
        return json.loads(lines[0][len("RESULT "):])


def greeting_code(port):
    with SmtpClient("127.0.0.1", port) as c:
        return c.reply().code


def message(size):
    body = ("x" * 76 + "\r\n") * (size // 78 + 1)
    return "From: user1@example.test\r\nSubject: size\r\n\r\n" + body


def test_login_shows_the_user_the_role_and_every_server(env):
    servers, _ = two_servers(env)
    con = Console(env, servers)
    r = con.run("login")
    assert (r["user"], r["role"]) == ("alice", "Administrator")
    assert set(r["servers"]) == {"mx", "mx2"}
    assert r["servers"]["mx"] == {"state": "running", "buttons": ["Pause", "Stop"], "editable": True}
    assert r["queue_servers"] == ["mx", "mx2"]
    assert r["logged_out"]
    assert fields(con.daemon.wait_log(r"event=console_login ").string)["user"] == "alice"


def test_wrong_password_shows_the_error(env):
    con = Console(env)
    r = con.run("wrong_password", password="not-the-password")
    assert r["error"].strip() and not r["logged_in"]
    assert fields(con.daemon.wait_log(r"event=console_login_failed ").string)["user"] == "alice"


def test_operator_sees_only_their_server_and_readonly_changes_nothing(env):
    servers, _ = two_servers(env)
    con = Console(env, servers)
    r = con.run("login", user="oscar", foreign="mx2")
    assert r["role"] == "Operator of mx"
    assert list(r["servers"]) == ["mx"]
    assert r["servers"]["mx"]["buttons"] == ["Pause", "Stop"] and r["servers"]["mx"]["editable"]
    assert r["queue_servers"] == ["mx"]
    assert r["foreign_error"].strip()
    r = con.run("login", user="rita")
    assert r["role"] == "Read-only"
    assert set(r["servers"]) == {"mx", "mx2"}
    assert all(s["buttons"] == [] and not s["editable"] for s in r["servers"].values()), r


def test_max_message_size_set_in_the_messages_tab(env):
    con = Console(env)
    before = env.conf.read_text()
    # the page shows the daemon's refusal exactly as `vsmtpd -n` words it for that file
    bad = env.root / "bad.conf"
    bad.write_text(render_config(con.global_opts, [("mx", env.server(max_message_size="12Q"))]))
    chk = subprocess.run([vsmtpd_binary(), "-n", "-c", str(bad)], cwd=str(env.root),
                         capture_output=True, text=True, timeout=60)
    assert chk.returncode != 0
    expected = chk.stderr.replace(str(bad), str(env.conf)).strip()

    r = con.run("settings", server="mx", tab="Messages", key="max_message_size", value="100K", bad="12Q")
    assert r["bad_error"].strip() == expected
    assert "max_message_size" in r["notice"] and r["error_hidden"] and r["shown"] == "100K"
    after = env.conf.read_text()
    assert after == before.replace("max_message_size = 12M", "max_message_size = 100K")

    with smtplib.SMTP("127.0.0.1", env.port, timeout=20) as s:
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as exc:
            s.sendmail("user1@example.test", ["user2@example.test"], message(200 * 1024))
        assert exc.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", env.port, timeout=20) as s:
        assert s.sendmail("user1@example.test", ["user2@example.test"], message(10 * 1024)) == {}


def test_pause_and_resume_buttons(env):
    con = Console(env)
    assert con.run("server_state", server="mx", action="Pause", expect="paused")["state"] == "paused"
    assert greeting_code(env.port) == 421
    assert con.run("server_state", server="mx", action="Resume", expect="running")["state"] == "running"
    assert greeting_code(env.port) == 220


def wait_tried(c, qid):
    """Waits until the first attempt's states are written (the deferral is logged before)."""
    deadline = time.monotonic() + 10
    while True:
        (m,) = c.ok("queue.list")
        if m["id"] == qid and m["recipients"][0]["tries"] >= 1:
            return
        assert time.monotonic() < deadline, m
        time.sleep(0.02)


def test_hold_and_release_in_the_queue_view(env):
    con = Console(env)
    qid = queued(env, con.daemon)
    c = control(env)
    wait_tried(c, qid)

    r = con.run("queue_action", id=qid, action="Hold")
    assert r["status"] == "held" and qid in r["notice"]
    assert "Subject: waiting" in r["headers"]
    assert (env.spool / "hold" / qid).exists() and env.queue_files() == []
    assert c.ok("queue.list")[0]["held"] is True

    mark = con.daemon.log_mark()
    r = con.run("queue_action", id=qid, action="Release")
    assert r["status"] == "queued"
    assert not (env.spool / "hold" / qid).exists()
    # released means tried again at once, not at its scheduled time
    assert wait_event(con.daemon, "deferred", qid, "someone@remote.test", start=mark)["tries"] == "2"


def test_screenshot_of_every_page(env):
    con = Console(env)
    queued(env, con.daemon)
    with smtplib.SMTP("127.0.0.1", env.port, timeout=20) as s:
        for _ in range(2):
            s.sendmail("user1@example.test", ["user2@example.test"], message(1000))
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    r = con.run("screenshots", server="mx", out=ARTIFACTS)
    names = sorted(Path(f).name for f in r["files"])
    assert names == sorted(["servers.png", "server-general.png", "server-access.png",
                            "server-messages.png", "server-delivery.png", "queue.png", "charts.png"])
    for f in r["files"]:
        data = Path(f).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10000, f
    # the chart's legend counts what the daemon accepted in the hour: 3 messages
    assert r["legend"]["Accepted"] == 3, r["legend"]
