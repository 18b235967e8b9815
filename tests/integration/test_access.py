"""Access control end to end: who may connect, relay, log in, and use TLS.

Each test starts a real vsmtpd (conftest's `env`) with one [server mx] whose
policy is set for the test, and drives it with the raw client (helpers.py),
smtplib, or a plain socket. Covered: allow/deny lists (554 greeting, then
503 until QUIT), connection limits and rates (421 and close), relaying by
address and after AUTH, AUTH PLAIN/LOGIN and their error replies (RFC 4954),
the failed-AUTH delay, STARTTLS (RFC 3207) including the pipelining
injection of CVE-2011-0411, implicit TLS (RFC 8314), the Received: header's
protocol name (RFC 3848) and TLS clause, sender_login, the mode checks on
keys and password files, and the switch to an unprivileged user.

Certificates are made once per session with the openssl CLI (an EC key, a
self-signed certificate for mx.example.test that the TLS clients also use
as their trust anchor); password hashes are made at test time with crypt(3)
(sha512-crypt). Clients bound to 127.0.0.2 and 127.0.0.3 stand for other
hosts. Nothing here sleeps for a fixed time except where a test must show
that nothing arrives (a short read timeout).
"""

import base64
import os
import pwd
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pytest

from conftest import Env
from helpers import free_port, send_mail, split_delivered, vsmtpd_binary

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

HOST = "mx.example.test"
OTHER = "127.0.0.2"
THIRD = "127.0.0.3"
SIMPLE = b"Subject: access test\r\n\r\nbody\r\n"

USERS = {"alice": "alice-secret", "bob": "bob-secret"}
SENDER_LOGIN = """# user: addresses and @domains
alice: alice@example.test, sales@example.test
bob: @example.net
"""

RECEIVED_TLS_RE = re.compile(
    r"Received: from (?P<helo>\S+) \(\[(?P<ip>[0-9.]+)\]\)\n"
    r"(?:\t\(using (?P<tlsver>TLSv1\.[23]) with cipher (?P<cipher>[A-Za-z0-9_-]+) "
    r"\((?P<bits>\d+)/(?P<algbits>\d+) bits\)\)\n)?"
    r"\tby (?P<host>\S+) \(vsmtpd\) with (?P<proto>[A-Z0-9]+) id (?P<id>[0-9A-Z]+)"
    r"(?:\n\tfor <(?P<for>[^>]+)>)?; (?P<date>[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} "
    r"\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})\n$")


# ---- fixtures and helpers -----------------------------------------------------------

@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """(cert, key): a self-signed EC certificate for mx.example.test, key mode 0600."""
    d = tmp_path_factory.mktemp("pki")
    cert, key = d / "mx.pem", d / "mx.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=" + HOST, "-addext", "subjectAltName=DNS:" + HOST,
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def tls_opts(pki, starttls="optional"):
    cert, key = pki
    return {"starttls": starttls, "tls_cert": str(cert), "tls_key": str(key)}


_HASHES = {}


def hash_of(password):
    if password not in _HASHES:
        _HASHES[password] = crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    return _HASHES[password]


def write_passwd(path, users=None, mode=0o600, extra=""):
    users = USERS if users is None else users
    text = "# AUTH accounts\n" + "".join("%s:%s\n" % (u, hash_of(p)) for u, p in users.items())
    Path(path).write_text(text + extra)
    os.chmod(path, mode)
    return Path(path)


def auth_opts(env, auth="optional", **extra):
    passwd = write_passwd(env.root / "passwd")
    opts = {"auth": auth, "auth_users": str(passwd)}
    opts.update(extra)
    return opts


def start(env, **opts):
    return env.start(servers=[("mx", env.server(**opts))])


def client_ctx(pki, check_hostname=True):
    """A client context that trusts only our certificate and needs TLS 1.2 or newer."""
    ctx = ssl.create_default_context(cafile=str(pki[0]))
    ctx.check_hostname = check_hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def tls_wrap(c, pki):
    """Wraps a raw client's socket in TLS (the server's 220 has been read)."""
    assert c.buf == b"", "bytes after the 220 to STARTTLS: %r" % c.buf
    c.sock = client_ctx(pki).wrap_socket(c.sock, server_hostname=HOST)
    return c


def starttls(c, pki):
    r = c.cmd("STARTTLS")
    assert (r.code, r.enh) == (220, "2.0.0"), r
    return tls_wrap(c, pki)


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def auth_plain(c, user, password):
    return c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (user, password)))


def caps(reply):
    """The EHLO keywords after the greeting line."""
    return reply.lines[1:]


def assert_silent(c, seconds=0.4):
    """Nothing more arrives on c within seconds (the connection stays open)."""
    assert c.buf == b"", "unexpected bytes: %r" % c.buf
    c.sock.settimeout(seconds)
    try:
        data = c.sock.recv(4096)
    except (socket.timeout, ssl.SSLWantReadError):
        data = None
    finally:
        c.sock.settimeout(20)
    assert data is None, "unexpected bytes: %r" % data


def tls_end(c):
    """Ends a session that is inside STARTTLS: QUIT, then EOF. Only 221 may come back;
    whether it does is test_access_starttls_quit_gets_221's business, so that one
    daemon bug fails one test."""
    c.send(b"QUIT\r\n")
    try:
        rest = c.expect_close()
    except (ssl.SSLError, OSError):
        rest = []
    assert [r.code for r in rest] in ([], [221]), rest
    c.close()


def tls_session(env, pki, source=None, ehlo=True):
    """A raw client on the STARTTLS server, past the greeting, EHLO, STARTTLS and EHLO."""
    c = env.connect(source=source)
    assert c.reply().code == 220
    c.ehlo()
    starttls(c, pki)
    if ehlo:
        c.ehlo()
    return c


def mail_rcpt_only(c, sender, rcpt):
    """MAIL and RCPT; returns (mail reply, rcpt reply or None)."""
    m = c.cmd("MAIL FROM:<%s>" % sender)
    if m.code != 250:
        return m, None
    return m, c.cmd("RCPT TO:<%s>" % rcpt)


def received_of(env, qid, user="user1", domain="example.test"):
    files = [p for p in env.new_files(user, domain)]
    assert len(files) == 1, files
    rp, dt, received, rest = split_delivered(files[0].read_bytes())
    m = RECEIVED_TLS_RE.match(received.decode("utf-8"))
    assert m, received
    assert m.group("id") == qid
    assert rest == SIMPLE.replace(b"\r\n", b"\n")
    return m


def smtplib_data(s, sender, rcpt, message=SIMPLE):
    code, text = s.mail(sender)
    assert code == 250, text
    code, text = s.rcpt(rcpt)
    assert code == 250, text
    code, text = s.data(message)
    assert code == 250, text
    m = re.match(rb"^2\.0\.0 Ok: queued as ([0-9A-Z]+)$", text)
    assert m, text
    return m.group(1).decode()


def check_config(conf, cwd):
    p = subprocess.run([vsmtpd_binary(), "-n", "-c", str(conf)], cwd=str(cwd),
                       capture_output=True, text=True, timeout=60)
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr
    return p


def line_of(conf, key):
    for i, line in enumerate(Path(conf).read_text().splitlines(), 1):
        if line.startswith(key + " ="):
            return i
    raise AssertionError("no %s line in %s" % (key, conf))


def errors_at(stderr, conf):
    out = []
    for line in stderr.splitlines():
        m = re.match(r"^%s:(\d+): (.+)$" % re.escape(str(conf)), line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


# ---- allow / deny -----------------------------------------------------------------------

def test_access_deny_554_then_503_until_quit(env):
    d = start(env, deny="%s/32" % OTHER)
    with env.connect(source=OTHER) as c:
        g = c.reply()
        assert (g.code, g.enh) == (554, "5.7.1"), g
        assert HOST in g.text
        for cmd in ("EHLO client.example", "HELO client.example", "MAIL FROM:<s@remote.test>",
                    "RCPT TO:<user1@example.test>", "DATA", "RSET", "NOOP", "STARTTLS",
                    "AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=="):
            r = c.cmd(cmd)
            assert (r.code, r.enh) == (503, "5.5.1"), (cmd, r)
        replies = c.quit()
        assert [(r.code, r.enh) for r in replies] == [(221, "2.0.0")]
    d.wait_log(r"event=refused .*server=mx client=127\.0\.0\.2 reason=access", timeout=5)
    # A client that is not denied is served.
    with env.connect() as c:
        assert c.reply().code == 220
        c.ehlo()
        c.quit()


def test_access_denied_pipelined_transaction_never_runs(env):
    d = start(env, deny="%s/32" % OTHER)
    with env.connect(source=OTHER) as c:
        assert c.reply().code == 554
        c.send(b"EHLO client.example\r\nMAIL FROM:<s@remote.test>\r\n"
               b"RCPT TO:<user1@example.test>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        replies = c.expect_close()
    # EHLO, MAIL, RCPT, DATA, and the three message lines ("Subject: x", "",
    # "body") and the "." are commands to a refused session: all 503.
    codes = [r.code for r in replies]
    assert codes[-1] == 221, replies
    assert set(codes[:-1]) == {503}, replies
    assert len(codes) == 9, replies
    assert not d.log_matches(r"event=(mail|queued)")
    assert env.queue_files() == [] and env.mail_files() == []


def test_access_allow_list_refuses_everyone_else(env):
    d = start(env, allow="127.0.0.1/32")
    with env.connect(source=OTHER) as c:
        g = c.reply()
        assert (g.code, g.enh) == (554, "5.7.1"), g
        c.quit()
    with env.connect(source="127.0.0.1") as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        c.quit()
    d.wait_removed(qid)


def test_access_deny_wins_over_allow(env):
    start(env, allow="127.0.0.0/8", deny="%s/32, 10.0.0.0/8" % OTHER)
    with env.connect(source=OTHER) as c:
        assert (c.reply().code, c.replies[0].enh) == (554, "5.7.1")
        c.quit()
    for src in ("127.0.0.1", THIRD):
        with env.connect(source=src) as c:
            assert c.reply().code == 220, src
            c.quit()


def test_access_deny_whole_network(env):
    start(env, deny="127.0.0.0/30")
    for src, code in (("127.0.0.1", 554), (OTHER, 554), (THIRD, 554), ("127.0.0.4", 220)):
        with env.connect(source=src) as c:
            assert c.reply().code == code, src
            c.quit()


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this host")
def test_access_ipv6_client_against_ipv4_and_ipv6_lists(env):
    v6_port = free_port()
    listen = "127.0.0.1:%d, [::1]:%d" % (env.port, v6_port)
    # An IPv4-only allow list does not let an IPv6 client in.
    d = start(env, listen=listen, allow="127.0.0.0/8")
    with env.connect("::1", port=v6_port) as c:
        g = c.reply()
        assert (g.code, g.enh) == (554, "5.7.1"), g
        c.quit()
    with env.connect(port=env.port) as c:
        assert c.reply().code == 220
        c.quit()
    d.stop()
    # An IPv6 deny entry refuses ::1 only.
    start(env, listen=listen, deny="::1/128")
    with env.connect("::1", port=v6_port) as c:
        assert (c.reply().code, c.replies[0].enh) == (554, "5.7.1")
        c.quit()
    with env.connect(port=env.port) as c:
        assert c.reply().code == 220
        c.quit()


# ---- connection limits -------------------------------------------------------------------

def test_access_max_connections_per_ip(env):
    d = start(env, max_connections_per_ip="2")
    held = [env.connect(source=OTHER) for _ in range(2)]
    for h in held:
        assert h.reply().code == 220
    with env.connect(source=OTHER) as third:
        replies = third.expect_close()
    assert [(r.code, r.enh) for r in replies] == [(421, "4.7.0")], replies
    d.wait_log(r"event=refused .*client=127\.0\.0\.2 reason=max_connections_per_ip", timeout=5)
    # Another address still gets in, twice.
    others = [env.connect(source=THIRD) for _ in range(2)]
    for o in others:
        assert o.reply().code == 220
        o.quit()
        o.close()
    # A freed slot can be used again.
    mark = d.log_mark()
    held[0].quit()
    held[0].close()
    d.wait_log(r"event=disconnect .*client=127\.0\.0\.2", start=mark)
    with env.connect(source=OTHER) as again:
        assert again.reply().code == 220
        again.quit()
    held[1].quit()
    held[1].close()


def test_access_max_connections(env):
    d = start(env, max_connections="2")
    a, b = env.connect(source="127.0.0.1"), env.connect(source=OTHER)
    assert a.reply().code == 220 and b.reply().code == 220
    with env.connect(source=THIRD) as c:
        replies = c.expect_close()
    assert [(r.code, r.enh) for r in replies] == [(421, "4.7.0")], replies
    d.wait_log(r"event=refused .*client=127\.0\.0\.3 reason=max_connections\b", timeout=5)
    mark = d.log_mark()
    b.quit()
    b.close()
    d.wait_log(r"event=disconnect", start=mark)
    with env.connect(source=THIRD) as c:
        assert c.reply().code == 220
        c.quit()
    a.quit()
    a.close()


def test_access_connection_rate_per_ip(env):
    d = start(env, max_connection_rate_per_ip="3")
    for _ in range(3):
        with env.connect(source=OTHER) as c:
            assert c.reply().code == 220
            c.quit()
    with env.connect(source=OTHER) as c:
        replies = c.expect_close()
    assert [(r.code, r.enh) for r in replies] == [(421, "4.7.0")], replies
    assert "per minute" in replies[0].message
    d.wait_log(r"event=refused .*client=127\.0\.0\.2 reason=max_connection_rate_per_ip", timeout=5)
    # The limit is per address.
    with env.connect(source=THIRD) as c:
        assert c.reply().code == 220
        c.quit()


# ---- relaying ---------------------------------------------------------------------------------

def test_access_relay_from_relay_networks(env):
    start(env, relay_networks="127.0.0.1/32")
    with env.connect(source="127.0.0.1") as c:
        c.reply()
        c.ehlo()
        m, r = mail_rcpt_only(c, "s@example.test", "someone@remote.test")
        assert (r.code, r.enh) == (250, "2.1.5"), r
        assert c.cmd("RSET").code == 250
        c.quit()


def test_access_relay_refused_outside_relay_networks(env):
    start(env, relay_networks="127.0.0.1/32")
    with env.connect(source=OTHER) as c:
        c.reply()
        c.ehlo()
        m, r = mail_rcpt_only(c, "s@remote.test", "someone@remote.test")
        assert (r.code, r.enh) == (554, "5.7.1"), r
        assert "Relay access denied" in r.message
        # Local mail is still accepted.
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        c.quit()


def test_access_relay_after_auth(env, pki):
    start(env, relay_networks="", relay_authenticated="yes", **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki, source=OTHER) as c:
        m, r = mail_rcpt_only(c, "s@example.test", "someone@remote.test")
        assert (r.code, r.enh) == (554, "5.7.1"), r
        assert c.cmd("RSET").code == 250
        r = auth_plain(c, "alice", USERS["alice"])
        assert (r.code, r.enh) == (235, "2.7.0"), r
        m, r = mail_rcpt_only(c, "alice@example.test", "someone@remote.test")
        assert (r.code, r.enh) == (250, "2.1.5"), r
        assert c.cmd("RSET").code == 250
        tls_end(c)


def test_access_relay_after_auth_refused_when_relay_authenticated_no(env, pki):
    start(env, relay_networks="", relay_authenticated="no", **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki, source=OTHER) as c:
        r = auth_plain(c, "alice", USERS["alice"])
        assert r.code == 235, r
        m, r = mail_rcpt_only(c, "alice@example.test", "someone@remote.test")
        assert m.code == 250
        assert (r.code, r.enh) == (554, "5.7.1"), r
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        tls_end(c)


# ---- AUTH ------------------------------------------------------------------------------------------

def test_access_auth_plain_smtplib_login(env, pki):
    d = start(env, **tls_opts(pki), **auth_opts(env))
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="client.example", timeout=30) as s:
        s.ehlo()
        assert s.has_extn("starttls") and not s.has_extn("auth")
        s.starttls(context=client_ctx(pki, check_hostname=False))
        s.ehlo()
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        code, text = s.login("alice", USERS["alice"])
        assert (code, text) == (235, b"2.7.0 Authentication successful")
    d.wait_log(r'event=auth .*client=127\.0\.0\.1 user="alice" result=ok', timeout=5)


def test_access_auth_login_smtplib(env, pki):
    d = start(env, **tls_opts(pki), **auth_opts(env))
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="client.example", timeout=30) as s:
        s.starttls(context=client_ctx(pki, check_hostname=False))
        s.ehlo()
        s.user, s.password = "bob", USERS["bob"]
        # smtplib sends "AUTH LOGIN <user>" then answers the password challenge.
        code, text = s.auth("LOGIN", s.auth_login)
        assert (code, text) == (235, b"2.7.0 Authentication successful")
    d.wait_log(r'event=auth .*user="bob" result=ok', timeout=5)


def test_access_auth_login_raw_challenges(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki) as c:
        r = c.cmd("AUTH LOGIN")
        assert r.raw == b"334 VXNlcm5hbWU6\r\n", r
        r = c.cmd(b64("bob"))
        assert r.raw == b"334 UGFzc3dvcmQ6\r\n", r
        r = c.cmd(b64(USERS["bob"]))
        assert r.raw == b"235 2.7.0 Authentication successful\r\n", r
        tls_end(c)


def test_access_auth_plain_without_initial_response(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki) as c:
        r = c.cmd("AUTH PLAIN")
        assert r.raw == b"334 \r\n", r
        r = c.cmd(b64("alice\0alice\0" + USERS["alice"]))    # authzid = authcid is fine
        assert (r.code, r.enh) == (235, "2.7.0"), r
        tls_end(c)


def test_access_auth_bad_password_and_unknown_user_535(env, pki):
    d = start(env, **tls_opts(pki), **auth_opts(env))
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="client.example", timeout=30) as s:
        s.starttls(context=client_ctx(pki, check_hostname=False))
        s.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice", "wrong-password")
        assert e.value.smtp_code == 535
        assert e.value.smtp_error.startswith(b"5.7.8 ")
    with tls_session(env, pki, source=OTHER) as c:
        r = auth_plain(c, "nosuchuser", "whatever")
        assert (r.code, r.enh) == (535, "5.7.8"), r
        # A wrong case of the user name is another user.
        r = auth_plain(c, "Alice", USERS["alice"])
        assert (r.code, r.enh) == (535, "5.7.8"), r
        # Still not authenticated: AUTH may be tried again and succeed.
        r = auth_plain(c, "alice", USERS["alice"])
        assert (r.code, r.enh) == (235, "2.7.0"), r
        tls_end(c)
    d.wait_log(r'event=auth .*user="alice" result=failed', timeout=5)
    assert "wrong-password" not in d.log_text()


def test_access_auth_disabled_account_535(env, pki):
    passwd = write_passwd(env.root / "passwd", extra="carol:!%s\ndave:*\n" % hash_of("carol-pw"))
    start(env, auth="optional", auth_users=str(passwd), **tls_opts(pki))
    with tls_session(env, pki) as c:
        for user, pw in (("carol", "carol-pw"), ("dave", "*"), ("dave", "")):
            r = auth_plain(c, user, pw)
            assert (r.code, r.enh) == (535, "5.7.8"), (user, r)
        tls_end(c)


def test_access_auth_unknown_mechanism_504(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki) as c:
        for mech in ("CRAM-MD5", "XOAUTH2 dGVzdA==", "GSSAPI"):
            r = c.cmd("AUTH " + mech)
            assert (r.code, r.enh) == (504, "5.5.4"), (mech, r)
        assert auth_plain(c, "alice", USERS["alice"]).code == 235
        tls_end(c)


def test_access_auth_cancel_501(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki) as c:
        assert c.cmd("AUTH LOGIN").code == 334
        r = c.cmd("*")
        assert (r.code, r.enh) == (501, "5.7.0"), r
        assert c.cmd("AUTH PLAIN").code == 334
        r = c.cmd("*")
        assert (r.code, r.enh) == (501, "5.7.0"), r
        # The session goes on, not authenticated.
        assert c.cmd("NOOP").code == 250
        assert auth_plain(c, "alice", USERS["alice"]).code == 235
        tls_end(c)


def test_access_auth_hostile_responses(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki) as c:
        r = c.cmd("AUTH PLAIN !!notbase64!!")
        assert (r.code, r.enh) == (501, "5.5.2"), r
        assert c.cmd("AUTH PLAIN").code == 334
        r = c.cmd("####")
        assert (r.code, r.enh) == (501, "5.5.2"), r
        # A proxy authorization identity is refused, even with a good password.
        r = c.cmd("AUTH PLAIN " + b64("bob\0alice\0" + USERS["alice"]))
        assert (r.code, r.enh) == (535, "5.7.8"), r
        # No NUL separators at all.
        r = c.cmd("AUTH PLAIN " + b64("alice" + USERS["alice"]))
        assert (r.code, r.enh) == (535, "5.7.8"), r
        # A NUL inside the password field is not a shorter password.
        r = c.cmd("AUTH PLAIN " + b64("\0alice\0" + USERS["alice"] + "\0junk"))
        assert r.code == 535, r
        # An over-long response line is refused without harm.
        r = c.cmd("AUTH PLAIN " + "A" * 20000)
        assert r.code in (500, 501), r
        # Syntax: two spaces, or a trailing space.
        r = c.cmd("AUTH PLAIN  " + b64("\0alice\0x"))
        assert (r.code, r.enh) == (501, "5.5.4"), r
        assert c.cmd("NOOP").code == 250
        tls_end(c)


def test_access_auth_twice_and_in_transaction_503(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env))
    with tls_session(env, pki) as c:
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = auth_plain(c, "alice", USERS["alice"])
        assert (r.code, r.enh) == (503, "5.5.1"), r
        assert c.cmd("RSET").code == 250
        assert auth_plain(c, "alice", USERS["alice"]).code == 235
        r = auth_plain(c, "bob", USERS["bob"])
        assert (r.code, r.enh) == (503, "5.5.1"), r
        r = c.cmd("AUTH LOGIN")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        tls_end(c)


def test_access_auth_needs_ehlo(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env, auth_plaintext="yes"))
    with env.connect() as c:
        c.reply()
        r = auth_plain(c, "alice", USERS["alice"])
        assert (r.code, r.enh) == (503, "5.5.1"), r
        assert c.cmd("HELO client.example").code == 250
        r = auth_plain(c, "alice", USERS["alice"])
        assert (r.code, r.enh) == (503, "5.5.1"), r
        c.quit()


def test_access_auth_before_tls_538_and_not_advertised(env, pki):
    d = start(env, **tls_opts(pki), **auth_opts(env))
    with env.connect() as c:
        c.reply()
        e = c.ehlo()
        assert "STARTTLS" in caps(e)
        assert not [k for k in caps(e) if k.upper().startswith("AUTH")], e
        for cmd in ("AUTH PLAIN " + b64("\0alice\0" + USERS["alice"]), "AUTH LOGIN"):
            r = c.cmd(cmd)
            assert (r.code, r.enh) == (538, "5.7.11"), r
        starttls(c, pki)
        e = c.ehlo()
        assert "AUTH PLAIN LOGIN" in caps(e), e
        assert "STARTTLS" not in caps(e), e
        assert auth_plain(c, "alice", USERS["alice"]).code == 235
        tls_end(c)
    # The password sent in clear was never checked.
    assert not d.log_matches(r'event=auth .*user="alice" result=failed')


def test_access_auth_off_not_offered_502(env, pki):
    start(env, **tls_opts(pki))
    with tls_session(env, pki) as c:
        assert not [k for k in c.replies[-1].lines if k.startswith("AUTH")]
        r = auth_plain(c, "alice", USERS["alice"])
        assert (r.code, r.enh) == (502, "5.5.1"), r
        tls_end(c)


def test_access_auth_plaintext_yes(env):
    d = start(env, **auth_opts(env, auth_plaintext="yes"))
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="client.example", timeout=30) as s:
        s.ehlo()
        assert not s.has_extn("starttls")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        assert s.login("bob", USERS["bob"])[0] == 235
        qid = smtplib_data(s, "bob@remote.test", "user1@example.test")
    d.wait_removed(qid)
    m = received_of(env, qid)
    assert m.group("proto") == "ESMTPA"
    assert m.group("tlsver") is None


def test_access_auth_required_mail_before_auth_530(env, pki):
    start(env, **tls_opts(pki), **auth_opts(env, auth="required"))
    with tls_session(env, pki) as c:
        r = c.cmd("MAIL FROM:<alice@example.test>")
        assert (r.code, r.enh) == (530, "5.7.0"), r
        # Nothing started: RCPT has no transaction.
        r = c.cmd("RCPT TO:<user1@example.test>")
        assert r.code == 503, r
        assert auth_plain(c, "alice", USERS["alice"]).code == 235
        qid = send_mail(c, "alice@example.test", ["user1@example.test"], SIMPLE, greet=False)
        tls_end(c)
    assert re.match(r"^[0-9A-Z]+$", qid)


def test_access_auth_failure_delays_grow(env):
    d = start(env, **auth_opts(env, auth_plaintext="yes"))
    times = []
    # One failure per connection: the delay follows the address, not the session.
    for _ in range(3):
        with env.connect() as c:
            c.reply()
            c.ehlo()
            t0 = time.monotonic()
            r = auth_plain(c, "alice", "guess")
            times.append(time.monotonic() - t0)
            assert (r.code, r.enh) == (535, "5.7.8"), r
            c.quit()
    assert times[0] < 0.9, times
    assert times[2] >= 1.0, times
    assert times[2] >= times[1] - 0.2, times
    # Another address is not slowed down.
    with env.connect(source=OTHER) as c:
        c.reply()
        c.ehlo()
        t0 = time.monotonic()
        assert auth_plain(c, "alice", "guess").code == 535
        assert time.monotonic() - t0 < 0.9
        c.quit()
    assert len(d.log_matches(r'event=auth .*client=127\.0\.0\.1 user="alice" result=failed')) == 3


def test_access_auth_second_failure_delayed_one_second(env):
    """The documented schedule is 0, 1, 2, 4, ... seconds: the 2nd failure waits 1 s."""
    d = start(env, **auth_opts(env, auth_plaintext="yes"))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        t0 = time.monotonic()
        assert auth_plain(c, "bob", "guess-1").code == 535
        t1 = time.monotonic()
        assert auth_plain(c, "bob", "guess-2").code == 535
        t2 = time.monotonic()
        c.quit()
    assert t1 - t0 < 0.9, (t1 - t0)
    assert t2 - t1 >= 1.0, (t2 - t1)
    delays = [m.group(1) for m in d.log_matches(r"event=auth .*result=failed delay=(\d+)")]
    assert delays == ["0", "1"], delays


# ---- STARTTLS and implicit TLS ---------------------------------------------------------------

def test_access_starttls_negotiates_tls12_or_newer(env, pki):
    d = start(env, **tls_opts(pki))
    with env.connect() as c:
        c.reply()
        e = c.ehlo()
        assert "STARTTLS" in caps(e)
        r = c.cmd("STARTTLS")
        assert r.raw == b"220 2.0.0 Ready to start TLS\r\n", r
        tls_wrap(c, pki)
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        cert = c.sock.getpeercert()
        assert dict(x[0] for x in cert["subject"])["commonName"] == HOST
        e = c.ehlo()
        assert "STARTTLS" not in caps(e), e
        r = c.cmd("STARTTLS")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        tls_end(c)
    d.wait_log(r"event=tls .*version=TLSv1\.[23] cipher=\S+ bits=\d+", timeout=5)


def old_tls_ctx():
    """A client context that offers only TLS 1.0 and 1.1 (RFC 8996 retired both)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def test_access_starttls_refuses_tls10_and_tls11(env, pki):
    d = start(env, **tls_opts(pki))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        with pytest.raises((ssl.SSLError, OSError)):
            c.sock = old_tls_ctx().wrap_socket(c.sock, server_hostname=HOST)
    # The server saw an old protocol offered (not some other failure).
    d.wait_log(r'event=tls_error .*client=127\.0\.0\.1 reason="unsupported protocol"', timeout=5)


def test_access_implicit_tls_refuses_tls10_and_tls11(env, pki):
    tls_port = free_port()
    start(env, listen="127.0.0.1:%d, 127.0.0.1:%d tls" % (env.port, tls_port), **tls_opts(pki))
    raw = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    with pytest.raises(ssl.SSLError) as e:
        old_tls_ctx().wrap_socket(raw, server_hostname=HOST)
    raw.close()
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value


def test_access_starttls_quit_gets_221(env, pki):
    """RFC 5321 4.1.1.10: QUIT is answered with 221 before the close, inside TLS too."""
    start(env, **tls_opts(pki))
    with tls_session(env, pki) as c:
        assert c.cmd("NOOP").code == 250
        replies = c.quit()
    assert [(r.code, r.enh) for r in replies] == [(221, "2.0.0")], replies


def test_access_implicit_tls_quit_gets_221(env, pki):
    tls_port = free_port()
    start(env, listen="127.0.0.1:%d, 127.0.0.1:%d tls" % (env.port, tls_port), **tls_opts(pki))
    with env.connect(port=tls_port) as c:
        c.sock = client_ctx(pki).wrap_socket(c.sock, server_hostname=HOST)
        g = c.reply()
        assert g.code == 220 and g.text.startswith(HOST + " ESMTP"), g
        e = c.ehlo()
        assert "STARTTLS" not in caps(e)
        replies = c.quit()
    assert [(r.code, r.enh) for r in replies] == [(221, "2.0.0")], replies


def test_access_starttls_off_not_offered(env, pki):
    start(env, **tls_opts(pki, starttls="off"))
    with env.connect() as c:
        c.reply()
        e = c.ehlo()
        assert "STARTTLS" not in caps(e)
        r = c.cmd("STARTTLS")
        assert (r.code, r.enh) == (502, "5.5.1"), r
        c.quit()


def test_access_starttls_required_mail_530(env, pki):
    start(env, **tls_opts(pki, starttls="required"))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        r = c.cmd("MAIL FROM:<s@remote.test>")
        assert (r.code, r.enh) == (530, "5.7.0"), r
        r = c.cmd("RCPT TO:<user1@example.test>")
        assert r.code == 503, r
        starttls(c, pki)
        c.ehlo()
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE, greet=False)
        tls_end(c)
    assert qid


def test_access_starttls_refused_in_transaction(env, pki):
    start(env, **tls_opts(pki))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = c.cmd("STARTTLS")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        c.quit()


def test_access_starttls_forgets_ehlo(env, pki):
    start(env, **tls_opts(pki))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        starttls(c, pki)
        r = c.cmd("MAIL FROM:<s@remote.test>")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        tls_end(c)


def test_access_starttls_injected_rset_never_answered(env, pki):
    start(env, **tls_opts(pki))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.send(b"STARTTLS\r\nRSET\r\nNOOP\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (220, "2.0.0"), r
        tls_wrap(c, pki)
        # The first reply inside TLS is the one to our EHLO, not to RSET/NOOP.
        e = c.cmd("EHLO tls.example")
        assert e.code == 250 and e.lines[0] == HOST and len(e.lines) > 1, e
        assert_silent(c)
        tls_end(c)


def test_access_starttls_injected_mail_never_executed(env, pki):
    d = start(env, **tls_opts(pki))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<user1@example.test>\r\n")
        r = c.reply()
        assert r.code == 220, r
        tls_wrap(c, pki)
        c.ehlo()
        # No transaction was opened by the injected MAIL.
        r = c.cmd("RCPT TO:<user1@example.test>")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        assert c.cmd("MAIL FROM:<good@remote.test>").code == 250
        assert_silent(c)
        tls_end(c)
    assert not d.log_matches(r"evil@remote\.test")


def test_access_starttls_garbage_instead_of_handshake(env, pki):
    d = start(env, **tls_opts(pki))
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        c.send(b"EHLO plain.example\r\nMAIL FROM:<x@remote.test>\r\n")
        data = b""
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert b"250" not in data and not data.startswith(b"2"), data
    assert d.running()
    with env.connect() as c:
        assert c.reply().code == 220
        c.quit()


def test_access_implicit_tls_smtp_ssl(env, pki):
    tls_port = free_port()
    d = start(env, listen="127.0.0.1:%d, 127.0.0.1:%d tls" % (env.port, tls_port),
              **tls_opts(pki, starttls="required"))
    ctx = client_ctx(pki, check_hostname=False)
    with smtplib.SMTP_SSL("127.0.0.1", tls_port, local_hostname="client.example",
                          context=ctx, timeout=30) as s:
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")
        # starttls = required is met by implicit TLS.
        qid = smtplib_data(s, "s@remote.test", "user1@example.test")
        cipher = s.sock.cipher()
    d.wait_removed(qid)
    m = received_of(env, qid)
    assert m.group("proto") == "ESMTPS"
    assert (m.group("tlsver"), m.group("cipher"), int(m.group("bits"))) == \
        (cipher[1], cipher[0], cipher[2])


def test_access_implicit_tls_port_refuses_plaintext(env, pki):
    tls_port = free_port()
    d = start(env, listen="127.0.0.1:%d, 127.0.0.1:%d tls" % (env.port, tls_port), **tls_opts(pki))
    s = socket.create_connection(("127.0.0.1", tls_port), timeout=5)
    try:
        # No plaintext greeting is sent on an implicit TLS port.
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(100)
        s.settimeout(10)
        s.sendall(b"EHLO plain.example\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert not data.startswith(b"220") and b"250" not in data, data
    finally:
        s.close()
    assert d.running()
    ctx = client_ctx(pki, check_hostname=False)
    with smtplib.SMTP_SSL("127.0.0.1", tls_port, context=ctx, timeout=30) as s2:
        assert s2.noop()[0] == 250


# ---- Received: header --------------------------------------------------------------------------

def test_access_received_esmtps_with_tls_clause(env, pki):
    d = start(env, **tls_opts(pki))
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="client.example", timeout=30) as s:
        s.starttls(context=client_ctx(pki, check_hostname=False))
        s.ehlo()
        qid = smtplib_data(s, "s@remote.test", "user1@example.test")
        cipher = s.sock.cipher()
    d.wait_removed(qid)
    m = received_of(env, qid)
    assert m.group("proto") == "ESMTPS"
    assert m.group("helo") == "client.example" and m.group("host") == HOST
    assert m.group("tlsver") == cipher[1]
    assert m.group("cipher") == cipher[0]
    assert int(m.group("bits")) == cipher[2]
    assert int(m.group("algbits")) >= int(m.group("bits")) >= 128
    assert m.group("for") == "user1@example.test"


def test_access_received_esmtpsa(env, pki):
    d = start(env, **tls_opts(pki), **auth_opts(env))
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="client.example", timeout=30) as s:
        s.starttls(context=client_ctx(pki, check_hostname=False))
        s.ehlo()
        s.login("alice", USERS["alice"])
        qid = smtplib_data(s, "alice@example.test", "user1@example.test")
    d.wait_removed(qid)
    m = received_of(env, qid)
    assert m.group("proto") == "ESMTPSA"
    assert m.group("tlsver") in ("TLSv1.2", "TLSv1.3")


def test_access_received_plain_esmtp_has_no_tls_clause(env, pki):
    d = start(env, **tls_opts(pki))
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        c.quit()
    d.wait_removed(qid)
    m = received_of(env, qid)
    assert m.group("proto") == "ESMTP"
    assert m.group("tlsver") is None


# ---- sender_login -------------------------------------------------------------------------------

def sender_login_server(env, pki):
    sl = env.root / "sender_login"
    sl.write_text(SENDER_LOGIN)
    return start(env, relay_networks="", sender_login=str(sl), **tls_opts(pki), **auth_opts(env))


@pytest.mark.parametrize("user,sender,code", [
    ("alice", "alice@example.test", 250),
    ("alice", "ALICE@Example.Test", 250),
    ("alice", "sales@example.test", 250),
    ("alice", "bob@example.net", 553),
    ("alice", "user2@example.test", 553),
    ("alice", "stranger@remote.test", 553),
    ("bob", "anyone@example.net", 250),
    ("bob", "x@sub.example.net", 553),
    ("bob", "alice@example.test", 553),
    ("bob", "", 250),
])
def test_access_sender_login_authenticated(env, pki, user, sender, code):
    sender_login_server(env, pki)
    with tls_session(env, pki) as c:
        assert auth_plain(c, user, USERS[user]).code == 235
        r = c.cmd("MAIL FROM:<%s>" % sender)
        expect = (250, "2.1.0") if code == 250 else (553, "5.7.1")
        assert (r.code, r.enh) == expect, r
        tls_end(c)


def test_access_sender_login_unauthenticated(env, pki):
    sender_login_server(env, pki)
    with tls_session(env, pki) as c:
        for sender, code in (("alice@example.test", 553), ("SALES@EXAMPLE.TEST", 553),
                             ("someone@example.net", 553), ("stranger@remote.test", 250),
                             ("x@sub.example.net", 250), ("", 250)):
            r = c.cmd("MAIL FROM:<%s>" % sender)
            if code == 250:
                assert (r.code, r.enh) == (250, "2.1.0"), (sender, r)
                assert c.cmd("RSET").code == 250
            else:
                assert (r.code, r.enh) == (553, "5.7.1"), (sender, r)
        tls_end(c)


# ---- configuration checks --------------------------------------------------------------------

def test_access_config_world_readable_key_refused(env, pki):
    key = env.root / "loose.key"
    key.write_bytes(pki[1].read_bytes())
    for mode in (0o644, 0o640, 0o604):
        os.chmod(key, mode)
        conf = env.write_config(servers=[("mx", env.server(starttls="optional",
                                                             tls_cert=str(pki[0]),
                                                             tls_key=str(key)))])
        p = check_config(conf, env.root)
        assert p.returncode == 1, (oct(mode), p.stderr)
        errs = errors_at(p.stderr, conf)
        assert errs, p.stderr
        # docs/CONFIG.md: TLS problems are reported at the tls_cert line.
        assert [n for n, _ in errs] == [line_of(conf, "tls_cert")], (errs, oct(mode))
        assert str(key) in errs[0][1] and "chmod" in errs[0][1], errs
    os.chmod(key, 0o600)
    p = check_config(conf, env.root)
    assert p.returncode == 0, p.stderr


def test_access_config_world_readable_auth_users_refused(env, pki):
    passwd = write_passwd(env.root / "passwd", mode=0o644)
    conf = env.write_config(servers=[("mx", env.server(auth="optional", auth_users=str(passwd),
                                                         auth_plaintext="yes"))])
    p = check_config(conf, env.root)
    assert p.returncode == 1, p.stderr
    errs = errors_at(p.stderr, conf)
    assert [n for n, _ in errs] == [line_of(conf, "auth_users")], p.stderr
    assert hash_of(USERS["alice"]) not in p.stderr
    for mode, rc in ((0o604, 1), (0o640, 0), (0o600, 0)):
        os.chmod(passwd, mode)
        p = check_config(conf, env.root)
        assert p.returncode == rc, (oct(mode), p.stderr)


def test_access_config_auth_required_without_a_way_refused(env):
    passwd = write_passwd(env.root / "passwd")
    conf = env.write_config(servers=[("mx", env.server(auth="required", auth_users=str(passwd)))])
    p = check_config(conf, env.root)
    assert p.returncode == 1, p.stderr
    assert errors_at(p.stderr, conf), p.stderr


def test_access_config_bad_auth_users_lines_named(env):
    passwd = env.root / "passwd"
    passwd.write_text("alice:%s\nold:abYl0j1gZqGgY\nmd5:$1$salt$abcdefghijklmnopqrstuv\n"
                      % hash_of("x"))
    os.chmod(passwd, 0o600)
    conf = env.write_config(servers=[("mx", env.server(auth="optional", auth_users=str(passwd),
                                                         auth_plaintext="yes"))])
    p = check_config(conf, env.root)
    assert p.returncode == 1, p.stderr
    lines = [int(m.group(1)) for m in
             re.finditer(r"^%s:(\d+): " % re.escape(str(passwd)), p.stderr, re.M)]
    assert lines == [2, 3], p.stderr
    assert "abYl0j1gZqGgY" not in p.stderr and "abcdefghijklmnopqrstuv" not in p.stderr


# ---- privileges --------------------------------------------------------------------------------

def test_access_privilege_drop_to_nobody():
    if os.geteuid() != 0:
        pytest.skip("needs root: vsmtpd only switches user when started as root")
    nobody = pwd.getpwnam("nobody")
    # Not tmp_path: its parents are 0700 (and pytest resets them), so the
    # unprivileged daemon could not reach its working directory there.
    root = Path(tempfile.mkdtemp(prefix="vsmtpd-privdrop-", dir="/tmp"))
    os.chmod(root, 0o755)
    env = Env(root)
    d = None
    try:
        env.mail.mkdir()
        os.chown(env.mail, nobody.pw_uid, nobody.pw_gid)
        d = env.start(global_opts=env.global_opts(user="nobody"))
        d.wait_log(r"event=privileges user=nobody uid=%d" % nobody.pw_uid, timeout=5)
        status = Path("/proc/%d/status" % d.pid).read_text()
        uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", status, re.M).groups()
        gids = re.search(r"^Gid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", status, re.M).groups()
        groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
        assert set(map(int, uids)) == {nobody.pw_uid}, status
        assert set(map(int, gids)) == {nobody.pw_gid}, status
        assert "0" not in groups, groups
        # The spool was handed over, down to its subdirectories.
        for p in [env.spool] + [x for x in env.spool.iterdir() if x.is_dir()]:
            assert p.stat().st_uid == nobody.pw_uid, p
        with env.connect() as c:
            qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
            c.quit()
        d.wait_removed(qid)
        files = env.new_files("user1")
        assert len(files) == 1, files
        assert files[0].stat().st_uid == nobody.pw_uid
        assert files[0].read_bytes().endswith(b"\nbody\n")
        d.stop()
    finally:
        if d is not None and d.running():
            d.stop(check=False)
        shutil.rmtree(root, ignore_errors=True)
