"""The web console's HTTP API (docs/CONSOLE.md) against a running daemon.

Requests go over loopback with http.client, so what is tested is what a
browser gets: status codes, headers, cookies and JSON. Accounts are made
per module with `openssl passwd -6`: alice (admin), bob (operator of mx),
carol (readonly). Two virtual servers run: mx (127.0.0.1) and mx2
(127.0.0.2). Queued messages that stay queued are mail for remote.test,
whose deliveries defer (the test resolver is a dead port).

Covered: no API call without a session; login failures and the per-address
throttle (429, Retry-After); CSRF and Origin checks; readonly and operator
roles on servers, settings and queued messages; admin actions (pause /
resume seen by an SMTP client, hold / release); the static files and their
headers; cookies over HTTP and HTTPS (a test-made certificate); logout;
accounts read again at reload; the console's config errors as `vsmtpd -n`
reports them, and a start-up error when its address is taken.
"""

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from helpers import Daemon, SmtpClient, free_port, send_mail, vsmtpd_binary, wait_event

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}
ROLES = {"alice": "admin", "bob": "operator=mx", "carol": "readonly", "dave": "operator=mx2,mx"}
SENDER = "user1@example.test"
MESSAGE = b"Subject: waiting\r\n\r\nin the queue\r\n"
WWW_INDEX = Path(__file__).resolve().parents[2] / "www" / "index.html"

# Every API call but login; none may answer without a session.
ENDPOINTS = [
    ("GET", "/api/session"), ("GET", "/api/status"), ("GET", "/api/keys"), ("GET", "/api/servers"),
    ("GET", "/api/servers/mx"), ("GET", "/api/queue"), ("GET", "/api/queue/ABC"),
    ("GET", "/api/stats"), ("GET", "/api/history"), ("POST", "/api/logout"),
    ("POST", "/api/servers/mx/settings"), ("POST", "/api/servers/mx/start"),
    ("POST", "/api/servers/mx/stop"), ("POST", "/api/servers/mx/pause"),
    ("POST", "/api/servers/mx/resume"), ("POST", "/api/queue/ABC/hold"),
    ("POST", "/api/queue/ABC/release"), ("POST", "/api/queue/ABC/flush"),
    ("POST", "/api/queue/ABC/delete"), ("POST", "/api/queue/ABC/bounce"), ("POST", "/api/reload"),
    ("GET", "/api/nothing/here"),
]


def crypt_hash(password):
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password.encode(),
                       capture_output=True, check=True, timeout=30)
    return r.stdout.decode().strip()


@pytest.fixture(scope="module")
def hashes():
    return {u: crypt_hash(p) for u, p in PASSWORDS.items()}


def write_accounts(path, hashes, roles=ROLES):
    path.write_text("# console accounts\n" + "".join(
        "%s:%s:%s\n" % (u, hashes[u], r) for u, r in roles.items()))
    path.chmod(0o600)


class Response:
    def __init__(self, resp, body):
        self.status = resp.status
        self.headers = resp.headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


class Browser:
    """One user agent: its session cookie and CSRF token, a new connection per request."""

    def __init__(self, port, tls=None, source=None):
        self.port = port
        self.tls = tls
        self.source = source
        self.cookie = None
        self.csrf = None

    @property
    def origin(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def request(self, method, path, body=None, headers=None, csrf=True):
        src = (self.source, 0) if self.source else None
        if self.tls:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=20, context=self.tls,
                                               source_address=src)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20, source_address=src)
        h = {}
        data = None
        if method == "POST":
            h["Content-Type"] = "application/json"
            data = json.dumps(body if body is not None else {})
            if csrf and self.csrf:
                h["X-CSRF-Token"] = self.csrf
        if self.cookie:
            h["Cookie"] = "vsmtpd_session=" + self.cookie
        h.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            return Response(resp, resp.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def login(self, user, password=None):
        r = self.post("/api/login", {"user": user,
                                         "password": PASSWORDS[user] if password is None else password})
        if r.status == 200:
            m = re.match(r"vsmtpd_session=([0-9a-f]{64});", r.headers["Set-Cookie"])
            assert m, r.headers["Set-Cookie"]
            self.cookie = m.group(1)
            self.csrf = r.json["csrf"]
        return r

    def ok(self, method, path, body=None):
        r = self.request(method, path, body)
        assert r.status == 200, r
        return r.json


class Site:
    """A running vsmtpd with mx, mx2 and the console: d, and the ports of each."""

    def __init__(self, env, hashes, tls=None, roles=ROLES):
        self.console_port, self.port2 = free_port(), free_port(("127.0.0.2",))
        self.port1 = env.port
        write_accounts(env.root / "console.users", hashes, roles)
        opts = {"console": "127.0.0.1:%d" % self.console_port, "console_users": "./console.users"}
        if tls:
            opts["console_cert"], opts["console_key"] = str(tls[0]), str(tls[1])
        mx2 = env.server(listen="127.0.0.2:%d" % self.port2, hostname="mx2.example.test",
                         local_domains="example.org", users=None, relay_networks="127.0.0.0/8")
        self.d = env.start(servers=[("mx", env.server()), ("mx2", mx2)],
                           global_opts=env.global_opts(**opts))

    def wait_log(self, pattern, **kw):
        return self.d.wait_log(pattern, **kw)


@pytest.fixture
def console(env, hashes):
    return Site(env, hashes)


def queued(d, addr, port):
    """A message accepted by the server at addr:port that stays queued; its ID."""
    with SmtpClient(addr, port) as c:
        qid = send_mail(c, SENDER, ["someone@remote.test"], MESSAGE)
        c.quit()
    wait_event(d, "deferred", qid, "someone@remote.test")
    return qid


def when_idle(b, path):
    """POST path, again while the message's delivery attempt is still finishing."""
    deadline = time.monotonic() + 10
    while True:
        r = b.post(path)
        if r.status == 200 or "being delivered" not in (r.json or {}).get("error", "") \
                or time.monotonic() > deadline:
            return r
        time.sleep(0.02)


def greeting(addr, port):
    with socket.create_connection((addr, port), timeout=10) as s:
        return s.recv(512).decode()


# ---- sessions and login -----------------------------------------------------------------

def test_no_api_call_without_a_session(console):
    b = Browser(console.console_port)
    for method, path in ENDPOINTS:
        r = b.request(method, path)
        assert r.status == 401, (method, path, r)
        assert r.json["error"]
    b.cookie = "0" * 64           # well formed, but no session's
    for method, path in ENDPOINTS:
        assert b.request(method, path).status == 401, (method, path)
    b.cookie = "x; vsmtpd_session=" + "1" * 64
    assert b.get("/api/status").status == 401


def test_login_gives_session_and_cookie_flags(console):
    b = Browser(console.console_port)
    r = b.login("alice")
    assert r.status == 200, r
    assert r.json == {"user": "alice", "role": "admin", "servers": None, "csrf": b.csrf}
    assert re.fullmatch(r"[0-9a-f]{64}", b.csrf) and b.csrf != b.cookie
    flags = [f.strip() for f in r.headers["Set-Cookie"].split(";")[1:]]
    assert sorted(flags) == ["HttpOnly", "Path=/", "SameSite=Strict"]      # not Secure over HTTP
    assert r.headers["Cache-Control"] == "no-store"
    assert b.ok("GET", "/api/session") == r.json
    assert b.ok("GET", "/api/status")["servers"] == 2
    console.wait_log(r'event=console_login user=alice ip=127\.0\.0\.1 role=admin')
    bob = Browser(console.console_port)
    assert bob.login("bob").json["servers"] == ["mx"]
    assert bob.ok("GET", "/api/session")["role"] == "operator"


def test_login_refusals(console):
    b = Browser(console.console_port)
    for user, pw in (("alice", "wrong"), ("nobody", "alice-pw"), ("alice", "")):
        r = b.login(user, pw)
        assert r.status == 401 and r.json["error"] == "wrong user name or password", r
    console.wait_log(r'event=console_login_failed user=nobody ip=127\.0\.0\.1 reason=password')
    assert b.get("/api/login").status == 405
    r = b.request("POST", "/api/login", headers={"Content-Type": "text/plain"})
    assert r.status == 400
    r = b.post("/api/login", {"user": "alice"})
    assert r.status == 400
    # a login from another site's page: refused before any password is checked
    r = b.post("/api/login", {"user": "alice", "password": "alice-pw"},
               headers={"Origin": "http://evil.example"})
    assert r.status == 403


def test_login_throttled_after_five_failures(console):
    b = Browser(console.console_port)
    for _ in range(5):
        assert b.login("alice", "guess").status == 401
    r = b.login("alice")                         # even the right password now
    assert r.status == 429, r
    wait = int(r.headers["Retry-After"])
    assert 800 < wait <= 900
    assert b.cookie is None
    console.wait_log(r'event=console_login_failed user=alice ip=127\.0\.0\.1 reason=throttled')
    # per address: another client is not held back
    other = Browser(console.console_port, source="127.0.0.2")
    assert other.login("alice").status == 200
    assert b.login("alice").status == 429


def test_logout_ends_the_session(console):
    b = Browser(console.console_port)
    b.login("carol")
    cookie = b.cookie
    assert b.post("/api/logout", csrf=False).status == 403       # logout needs the token too
    r = b.post("/api/logout")
    assert r.status == 200 and r.json == {}
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    b.cookie = cookie
    assert b.get("/api/session").status == 401
    console.wait_log(r"event=console_logout user=carol")


# ---- CSRF and Origin --------------------------------------------------------------------

def test_post_needs_csrf_token_and_own_origin(console):
    b = Browser(console.console_port)
    b.login("alice")
    assert b.post("/api/servers/mx/pause", csrf=False).status == 403
    assert b.post("/api/servers/mx/pause", headers={"X-CSRF-Token": "0" * 64}).status == 403
    assert b.post("/api/servers/mx/pause", headers={"X-CSRF-Token": b.csrf[:-1]}).status == 403
    other = Browser(console.console_port)
    other.login("alice")                     # another session's token is not this one's
    assert b.post("/api/servers/mx/pause", headers={"X-CSRF-Token": other.csrf}).status == 403
    for origin in ("http://evil.example", "null", "https://127.0.0.1:%d" % console.console_port):
        r = b.post("/api/servers/mx/pause", headers={"Origin": origin})
        assert r.status == 403, (origin, r)
    assert b.ok("GET", "/api/servers/mx")["state"] == "running"
    r = b.post("/api/servers/mx/pause", headers={"Origin": b.origin})
    assert r.status == 200 and r.json["state"] == "paused"


# ---- roles --------------------------------------------------------------------------------

def test_readonly_sees_but_never_changes(console):
    b = Browser(console.console_port)
    b.login("carol")
    assert [s["name"] for s in b.ok("GET", "/api/servers")] == ["mx", "mx2"]
    assert b.ok("GET", "/api/servers/mx2")["name"] == "mx2"
    assert set(b.ok("GET", "/api/stats")["servers"]) == {"mx", "mx2"}
    for path in ("/api/servers/mx/pause", "/api/servers/mx2/stop", "/api/reload",
                 "/api/queue/ABC/hold"):
        r = b.post(path)
        assert r.status == 403, (path, r)
    r = b.post("/api/servers/mx/settings", {"settings": {"max_recipients": "5"}})
    assert r.status == 403
    assert b.ok("GET", "/api/servers/mx")["state"] == "running"
    assert b.ok("GET", "/api/servers/mx")["settings"]["max_recipients"] == "100"


def test_operator_only_reaches_its_own_servers_and_messages(console):
    mine = queued(console.d, "127.0.0.1", console.port1)
    theirs = queued(console.d, "127.0.0.2", console.port2)
    b = Browser(console.console_port)
    b.login("bob")
    assert [s["name"] for s in b.ok("GET", "/api/servers")] == ["mx"]
    assert b.get("/api/servers/mx2").status == 403
    assert b.get("/api/servers/nosuch").status == 404
    assert list(b.ok("GET", "/api/stats")["servers"]) == ["mx"]
    assert list(b.ok("GET", "/api/history")["servers"]) == ["mx"]
    for action in ("stop", "pause", "resume", "start"):
        assert b.post("/api/servers/mx2/" + action).status == 403
    r = b.post("/api/servers/mx2/settings", {"settings": {"max_recipients": "5"}})
    assert r.status == 403
    # the queue: only what mx accepted
    assert [m["id"] for m in b.ok("GET", "/api/queue")] == [mine]
    assert [m["id"] for m in b.ok("GET", "/api/queue?server=mx")] == [mine]
    assert b.get("/api/queue?server=mx2").status == 403
    assert b.ok("GET", "/api/queue/" + mine)["server"] == "mx"
    assert b.get("/api/queue/" + theirs).status == 404
    for action in ("hold", "release", "flush", "delete", "bounce"):
        assert b.post("/api/queue/%s/%s" % (theirs, action)).status == 404, action
    admin = Browser(console.console_port)
    admin.login("alice")
    assert {m["id"] for m in admin.ok("GET", "/api/queue")} == {mine, theirs}
    assert [m["held"] for m in admin.ok("GET", "/api/queue?server=mx2")] == [False]
    # ... and it acts on its own
    r = when_idle(b, "/api/queue/%s/hold" % mine)
    assert r.status == 200 and r.json == {"id": mine, "state": "held"}
    assert b.ok("POST", "/api/queue/%s/release" % mine) == {"id": mine, "state": "queued"}
    assert b.ok("POST", "/api/servers/mx/pause")["state"] == "paused"
    assert b.ok("POST", "/api/servers/mx/resume")["state"] == "running"
    assert b.post("/api/reload").status == 403
    console.wait_log(r"event=console_action user=bob ip=127\.0\.0\.1 cmd=queue\.hold target=%s "
                     r"result=ok" % mine)


def test_admin_pauses_resumes_holds_and_releases(console):
    b = Browser(console.console_port)
    b.login("alice")
    assert b.ok("POST", "/api/servers/mx2/pause") == {"name": "mx2", "state": "paused"}
    assert greeting("127.0.0.2", console.port2).startswith("421 4.3.2")
    assert b.ok("POST", "/api/servers/mx2/resume") == {"name": "mx2", "state": "running"}
    assert greeting("127.0.0.2", console.port2).startswith("220 ")
    qid = queued(console.d, "127.0.0.2", console.port2)
    r = when_idle(b, "/api/queue/%s/hold" % qid)
    assert r.status == 200 and r.json == {"id": qid, "state": "held"}
    assert b.ok("GET", "/api/queue?state=held")[0]["id"] == qid
    assert b.ok("POST", "/api/queue/%s/release" % qid) == {"id": qid, "state": "queued"}
    assert b.ok("GET", "/api/queue/" + qid)["held"] is False
    r = b.post("/api/queue/NOSUCHID/hold")
    assert r.status == 404 and "NOSUCHID" in r.json["error"]
    r = b.post("/api/servers/mx/nonsense")
    assert r.status == 404
    assert b.get("/api/servers/mx/pause").status == 405
    assert b.ok("POST", "/api/reload")["servers"]["reloaded"] == ["mx", "mx2"]
    console.wait_log(r"event=console_action user=alice ip=127\.0\.0\.1 cmd=server\.pause target=mx2 "
                     r"result=ok")


def test_settings_change_and_invalid_value(console, env):
    b = Browser(console.console_port)
    b.login("bob")
    r = b.post("/api/servers/mx/settings", {"settings": {"max_message_size": "1M"}})
    assert r.status == 200, r
    assert r.json["changed"] == ["max_message_size"]
    assert b.ok("GET", "/api/servers/mx")["settings"]["max_message_size"] == "1M"
    assert re.search(r"^max_message_size = 1M$", env.conf.read_text(), re.M)
    before = env.conf.read_text()
    r = b.post("/api/servers/mx/settings", {"settings": {"max_message_size": "lots"}})
    assert r.status == 400
    assert env.conf.read_text() == before
    # the same words `vsmtpd -n` says of a file with that value
    bad = Path(os.path.realpath(env.conf))
    saved = bad.read_text()
    try:
        bad.write_text(saved.replace("max_message_size = 1M", "max_message_size = lots"))
        n = subprocess.run([vsmtpd_binary(), "-n", "-c", str(bad)], cwd=str(env.root),
                           capture_output=True, timeout=60)
    finally:
        bad.write_text(saved)
    assert n.returncode == 1
    assert r.json["error"].splitlines() == n.stderr.decode().splitlines()
    assert b.post("/api/servers/mx/settings", {"nothing": 1}).status == 400
    assert b.request("POST", "/api/servers/mx/settings", headers={"Content-Type": "text/plain"}).status == 400


def test_accounts_are_read_again_at_reload(console, env, hashes):
    bob = Browser(console.console_port)
    bob.login("bob")
    dave = Browser(console.console_port)
    dave.login("dave")
    assert [s["name"] for s in dave.ok("GET", "/api/servers")] == ["mx", "mx2"]
    write_accounts(env.root / "console.users", hashes,
                   {"alice": "admin", "bob": "readonly", "carol": "readonly"})
    admin = Browser(console.console_port)
    admin.login("alice")
    admin.ok("POST", "/api/reload")
    assert bob.ok("GET", "/api/session")["role"] == "readonly"
    assert bob.post("/api/servers/mx/pause").status == 403
    assert dave.get("/api/session").status == 401             # the account went: so did its sessions
    assert dave.login("dave").status == 401


# ---- the front end's files ------------------------------------------------------------------

def test_static_files_and_security_headers(console):
    b = Browser(console.console_port)
    r = b.get("/")
    if WWW_INDEX.exists():
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.body == WWW_INDEX.read_bytes()
        assert b.get("/index.html").body == r.body
    else:
        assert r.status == 404
    for resp in (r, b.get("/no/such/file.js"), b.get("/api/status")):
        h = resp.headers
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["X-Frame-Options"] == "DENY"
        assert h["Cache-Control"] == "no-store"
        csp = h["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert b.get("/no/such/file.js").status == 404
    assert b.get("/../etc/passwd").status in (400, 404)
    if WWW_INDEX.exists():
        assert b.post("/").status == 405
    for js in sorted(WWW_INDEX.parent.glob("*.js")):
        r = b.get("/" + js.name)
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript"), js
        assert r.body == js.read_bytes()


# ---- HTTPS ----------------------------------------------------------------------------------

def test_https_console(env, hashes, ca):
    site = Site(env, hashes, tls=ca.issue("console.test"))
    port = site.console_port
    site.wait_log(r"event=console_listen address=127\.0\.0\.1:%d tls=yes" % port, timeout=5)
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    ctx.check_hostname = False                 # the certificate names console.test, not 127.0.0.1
    b = Browser(port, tls=ctx)
    assert b.get("/api/status").status == 401
    r = b.login("alice")
    assert r.status == 200
    flags = [f.strip() for f in r.headers["Set-Cookie"].split(";")[1:]]
    assert sorted(flags) == ["HttpOnly", "Path=/", "SameSite=Strict", "Secure"]
    assert b.ok("POST", "/api/servers/mx/pause", None)["state"] == "paused"
    assert b.post("/api/servers/mx/resume", headers={"Origin": "http://127.0.0.1:%d" % port}).status == 403
    assert b.post("/api/servers/mx/resume", headers={"Origin": b.origin}).status == 200
    # HTTPS only: plain HTTP gets no answer
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError, socket.timeout)):
        conn.request("GET", "/api/status")
        conn.getresponse().read()
    conn.close()


# ---- configuration ---------------------------------------------------------------------------

def check_config(env, text):
    """(status, stderr lines) of `vsmtpd -n` on text."""
    env.conf.write_text(text)
    r = subprocess.run([vsmtpd_binary(), "-n", "-c", str(env.conf)], cwd=str(env.root),
                       capture_output=True, timeout=60)
    return r.returncode, r.stderr.decode().splitlines()


def base_config(env, glob=""):
    return ("[global]\nspool = ./spool\ncontrol = ./control.sock\n%s\n[server mx]\n"
            "listen = 127.0.0.1:%d\n" % (glob, env.port))


def test_console_config_errors(env, hashes):
    conf = str(env.conf)
    rc, err = check_config(env, base_config(env, "console = 127.0.0.1:8025"))
    assert rc == 1 and err == ["%s:4: console needs console_users (the file of name:crypt-hash:role "
                               "accounts)" % conf]
    rc, err = check_config(env, base_config(env, "console_users = ./console.users"))
    assert rc == 1 and err == ["%s:4: console_users has no effect without console (the address to "
                               "serve the console at)" % conf]
    users = env.root / "console.users"
    users.write_text("alice:%s:admin\nbob:%s\ncarol:%s:operator=mx,mx9\ndave:%s:root\n"
                     "alice:%s:readonly\neve:plaintext:admin\n" % ((hashes["alice"],) * 5))
    users.chmod(0o600)
    rc, err = check_config(env, base_config(env, "console = 127.0.0.1:8025\n"
                                                 "console_users = ./console.users\n"
                                                 "console_cert = ./console.pem"))
    assert rc == 1
    assert err == [
        "./console.users:2: expected name:crypt-hash:role (role: admin, readonly or "
        "operator=SERVER[,SERVER...])",
        "./console.users:3: user 'carol': operator of 'mx9', which is no [server] of the config",
        "./console.users:4: user 'dave': unknown role; expected admin, readonly or "
        "operator=SERVER[,SERVER...]",
        "./console.users:5: duplicate user 'alice' (first on line 1)",
        "./console.users:6: user 'eve': not a crypt(3) hash (a plain-text password?): expected "
        "$y$..., as made by mkpasswd -m yescrypt",
        "%s:6: console_cert needs console_key (the private key of the certificate)" % conf,
    ]
    write_accounts(users, hashes)
    users.chmod(0o644)
    rc, err = check_config(env, base_config(env, "console = 127.0.0.1:8025\n"
                                                 "console_users = ./console.users"))
    assert rc == 1 and len(err) == 1
    assert err[0].startswith("%s:5: console_users = './console.users': console users file is "
                             "accessible to other users (mode 0644)" % conf), err
    users.chmod(0o600)
    rc, err = check_config(env, base_config(env, "console = 127.0.0.1:8025\n"
                                                 "console_users = ./console.users"))
    assert rc == 1 and "operator of 'mx2'" in err[0]           # dave's mx2 is no server here
    write_accounts(users, hashes, {"alice": "admin"})
    rc, err = check_config(env, base_config(env, "console = 127.0.0.1:8025\n"
                                                 "console_users = ./console.users"))
    assert (rc, err) == (0, ["%s: configuration ok (1 virtual servers)" % conf])


def test_console_address_taken_is_a_startup_error(env, hashes):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        write_accounts(env.root / "console.users", hashes, {"alice": "admin"})
        env.write_config(global_opts=env.global_opts(console="127.0.0.1:%d" % port,
                                                     console_users="./console.users"))
        d = Daemon(env.root, env.conf)
        with pytest.raises(AssertionError, match="exited"):
            d.start(timeout=20)
        d.proc.wait(timeout=20)
        assert d.proc.returncode == 1
        assert d.log_matches(r'event=fatal reason="console: cannot listen on 127\.0\.0\.1:%d: '
                             r'Address already in use"' % port)
