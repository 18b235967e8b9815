"""Self-tests of the outbound test world (world.py), without vsmtpd.

Before the outbound tests can be believed, their world must be: dnsmasq
answers the zone (checked with raw DNS queries), the fake SMTP/LMTP server
speaks the protocol to independent clients (smtplib, swaks, the raw client)
and records exactly what they sent, STARTTLS and AUTH work against the test
CA, hang/drop do what they say, and Dovecot stores an LMTP message in its
Maildir.
"""

import base64
import smtplib
import socket
import ssl
import subprocess

import pytest

from helpers import ConnectionClosed, SmtpClient, data_wire, send_mail
from world import (IMPLICIT_IP, LMTP_IP, MX1_IP, MX2_IP, QTYPE_A, QTYPE_MX, RCODE_NOERROR,
                   RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL, ZONE_A, split_dovecot_headers)


MESSAGE = (b"From: a@example.test\r\nSubject: world\r\n\r\n"
           b".leading dot\r\n..two dots\r\n.\r\nlast\r\n")


def test_world_dns_mx_in_preference_order(world):
    r = world.dns.query("remote.test", QTYPE_MX)
    assert r.rcode == RCODE_NOERROR
    assert r.mx() == [(10, "mx1.remote.test"), (20, "mx2.remote.test")]


def test_world_dns_a_records(world):
    for name, ip in ZONE_A:
        r = world.dns.query(name, QTYPE_A)
        assert (r.rcode, r.a()) == (RCODE_NOERROR, [ip]), name


def test_world_dns_implicit_null_nxdomain_tempfail(world):
    r = world.dns.query("implicit.test", QTYPE_MX)
    assert (r.rcode, r.mx()) == (RCODE_NOERROR, [])
    assert world.dns.query("implicit.test", QTYPE_A).a() == [IMPLICIT_IP]
    # RFC 7505: a single MX of preference 0 naming the root.
    r = world.dns.query("nullmx.test", QTYPE_MX)
    assert (r.rcode, r.mx()) == (RCODE_NOERROR, [(0, "")])
    for name in ("anything.test", "mx3.remote.test"):
        assert world.dns.query(name, QTYPE_MX).rcode == RCODE_NXDOMAIN, name
    assert world.dns.query("tempfail.test", QTYPE_MX).rcode in (RCODE_SERVFAIL, RCODE_REFUSED)


def test_world_fake_speaks_smtp_to_smtplib(world):
    fake = world.fake(MX1_IP, reply=lambda st, arg, c: "550 5.1.1 no such user"
                      if st == "rcpt" and arg == "bad@remote.test" else None)
    with smtplib.SMTP(MX1_IP, world.port, local_hostname="client.test", timeout=10) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert s.has_extn("pipelining") and s.has_extn("8bitmime") and not s.has_extn("starttls")
        refused = s.sendmail("a@example.test", ["x@remote.test", "bad@remote.test"], MESSAGE)
        assert refused == {"bad@remote.test": (550, b"5.1.1 no such user")}
    fake.wait_closed()
    (m,) = fake.wait_messages(1)
    assert m.data == MESSAGE
    assert (m.mail_from, m.rcpts, m.accepted) == ("a@example.test", ["x@remote.test"], True)
    assert m.mail_params.upper() == "SIZE=%d" % len(MESSAGE)
    (conn,) = fake.connections
    assert conn.commands()[0] == "ehlo client.test"
    assert conn.verbs() == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    assert conn.quit and not conn.tls


def test_world_fake_sees_pipelined_commands_in_one_batch(world):
    fake = world.fake(MX2_IP)
    out = subprocess.run(["swaks", "--server", "%s:%d" % (MX2_IP, world.port), "--pipeline",
                          "--to", "x@remote.test,y@remote.test", "--from", "p@example.test",
                          "--timeout", "10"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    fake.wait_closed()
    (conn,) = fake.connections
    batch = conn.batch_of("MAIL")
    assert batch == conn.batch_of("DATA") and conn.batch_of("RCPT") == batch * 2, conn.lines
    assert fake.messages[0].rcpts == ["x@remote.test", "y@remote.test"]

    # Without PIPELINING smtplib waits for each reply: one batch per command.
    world.fake(MX1_IP, extensions=["ENHANCEDSTATUSCODES"])
    with smtplib.SMTP(MX1_IP, world.port, timeout=10) as s:
        s.sendmail("a@example.test", ["x@remote.test"], MESSAGE)
    conn = world.fakes[-1].wait_connections(1)[0]
    batches = [b for b, _ in conn.lines]
    assert batches == sorted(set(batches)), conn.lines


def tls_client(port, ctx, name):
    """A raw client on MX1 after EHLO and STARTTLS, verifying the certificate for name."""
    c = SmtpClient(MX1_IP, port)
    assert c.reply().code == 220
    assert "STARTTLS" in c.ehlo().lines
    assert c.cmd("STARTTLS").code == 220
    c.sock = ctx.wrap_socket(c.sock, server_hostname=name)
    return c


def test_world_fake_starttls_and_auth(world):
    fake = world.fake(MX1_IP, cert=world.cert("mx1.remote.test"), auth={"relay": "s3cret"})
    ctx = ssl.create_default_context(cafile=str(world.ca.cert))
    with SmtpClient(MX1_IP, world.port) as c:
        c.reply()
        assert not any(l.startswith("AUTH") for l in c.ehlo().lines)   # AUTH only after TLS
        assert c.cmd("MAIL FROM:<a@example.test>").code == 530
    plain = base64.b64encode(b"\0relay\0s3cret").decode()
    with tls_client(world.port, ctx, "mx1.remote.test") as c:
        ehlo = c.ehlo()
        assert "AUTH PLAIN LOGIN" in ehlo.lines and "STARTTLS" not in ehlo.lines
        assert c.cmd("AUTH PLAIN " + base64.b64encode(b"\0relay\0wrong").decode()).code == 535
        assert c.cmd("AUTH PLAIN " + plain).code == 235
        send_mail(c, "a@example.test", ["x@remote.test"], MESSAGE, greet=False)
        c.quit()
    (m,) = fake.wait_messages(1)
    assert (m.tls, m.auth_user, m.data) == (True, "relay", MESSAGE)
    assert fake.connections[1].injected == b""

    # AUTH LOGIN, step by step.
    with tls_client(world.port, ctx, "mx1.remote.test") as c:
        c.ehlo()
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(base64.b64encode(b"relay").decode()).code == 334
        assert c.cmd(base64.b64encode(b"s3cret").decode()).code == 235
        c.quit()
    assert fake.wait_connections(3)[2].auth_user == "relay"
    # A name the certificate lacks fails the check.
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_client(world.port, ctx, "other.test")


def test_world_fake_lmtp_replies_per_recipient(world):
    def reply(stage, arg, conn):
        if stage == "rcpt" and arg == "c@example.test":
            return "550 5.1.1 unknown"
        if stage == "eod" and arg == "b@example.test":
            return "452 4.2.2 mailbox full"
        return None
    fake = world.fake(LMTP_IP, lmtp=True, reply=reply)
    with SmtpClient(LMTP_IP, world.port) as c:
        assert c.reply().code == 220
        assert c.cmd("EHLO client.test").code == 500
        assert c.cmd("LHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<s@example.test>").code == 250
        codes = [c.cmd("RCPT TO:<%s@example.test>" % u).code for u in "abc"]
        assert codes == [250, 250, 550]
        assert c.cmd("DATA").code == 354
        c.send(data_wire(MESSAGE))
        assert [r.code for r in c.read(2)] == [250, 452]
        c.quit()
    (m,) = fake.wait_messages(1)
    assert m.rcpts == ["a@example.test", "b@example.test"] and m.data == MESSAGE
    assert [r[:3] for r in m.replies] == ["250", "452"]


def test_world_fake_greeting_hang_and_drop(world):
    fake = world.fake(MX1_IP, greeting="421 4.3.2 not now")
    with SmtpClient(MX1_IP, world.port) as c:
        assert [r.code for r in c.expect_close()] == [421]
    fake.greeting = "554 5.7.1 go away"
    with SmtpClient(MX1_IP, world.port) as c:
        assert c.reply().code == 554
        assert c.cmd("EHLO x").code == 503
        c.quit()

    fake.greeting, fake.hang = None, "mail"
    with SmtpClient(MX1_IP, world.port, timeout=0.5) as c:
        c.reply()
        c.ehlo()
        with pytest.raises(socket.timeout):
            c.cmd("MAIL FROM:<a@example.test>")
    fake.hang, fake.drop = None, "rcpt"
    with SmtpClient(MX1_IP, world.port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.test>").code == 250
        with pytest.raises(ConnectionClosed):
            c.cmd("RCPT TO:<x@remote.test>")
    fake.wait_closed()
    with pytest.raises(AssertionError, match="timed out"):
        fake.wait_messages(1, timeout=0.1)


def test_world_dovecot_stores_lmtp_mail(world):
    dv = world.dovecot()
    with SmtpClient("127.0.0.1", dv.port) as c:
        assert c.reply().code == 220
        assert c.cmd("LHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<s@example.test>").code == 250
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        r = c.cmd("RCPT TO:<nobody@example.test>")
        assert (r.code, r.enh) == (550, "5.1.1"), r
        assert c.cmd("DATA").code == 354
        c.send(data_wire(MESSAGE))
        assert c.reply().code == 250
        c.quit()
    # The Unix socket too (smtplib's LMTP takes a path).
    with smtplib.LMTP(str(dv.socket)) as s:
        s.sendmail("t@example.test", ["user2@example.test"], MESSAGE)
    for user, sender in (("user1@example.test", "s@example.test"),
                         ("user2@example.test", "t@example.test")):
        (f,) = dv.new_files(user)
        added, rest = split_dovecot_headers(f.read_bytes())
        assert added["Return-Path"] == "<%s>" % sender
        assert rest == MESSAGE.replace(b"\r\n", b"\n")


def test_world_ca_certificate_verifies(ca):
    cert, key = ca.issue("smarthost.test")
    r = subprocess.run(["openssl", "verify", "-CAfile", str(ca.cert), "-verify_hostname",
                        "smarthost.test", str(cert)], capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ca.issue("smarthost.test") == (cert, key)
    assert key.stat().st_mode & 0o077 == 0
