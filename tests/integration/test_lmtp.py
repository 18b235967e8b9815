"""Local delivery over LMTP (RFC 2033): mailbox = lmtp:unix:PATH | lmtp:HOST:PORT.

The real server is a private Dovecot (world.Dovecot): what vsmtpd accepted
must land in Dovecot's Maildir byte for byte, after the Return-Path (and
Delivered-To) lines Dovecot puts on top. A fake LMTP server (world.FakeSmtp
with lmtp=True) scripts what Dovecot cannot easily do: a different verdict
per recipient after the content, or being reachable on [::1]. An LMTP
server that is down means the recipients wait (4.x.x), never fail.
"""

import re

import pytest

from helpers import RECEIVED_RE, free_port, send_mail, wait_event
from world import LMTP_IP, split_dovecot_headers

MESSAGE = (b"From: Sender <s@remote.test>\r\n"
           b"To: user1@example.test\r\n"
           b"Subject: over lmtp\r\n"
           b"\r\n"
           b"Hello,\r\n"
           b".dot first\r\n"
           b"  indented\ttab  \r\n"
           b"bye\r\n")


def submit(env, rcpts, sender="s@remote.test", message=MESSAGE):
    with env.connect() as c:
        qid = send_mail(c, sender, rcpts, message)
        c.quit()
    return qid


def check_dovecot_copy(dv, rcpt, sender, qid, for_rcpt):
    """The one file Dovecot stored for rcpt: its added headers, then our
    Received: header, then the message as sent (LF line ends)."""
    (f,) = dv.new_files(rcpt)
    added, rest = split_dovecot_headers(f.read_bytes())
    assert added["Return-Path"] == "<%s>" % sender
    assert added.get("Delivered-To", rcpt) == rcpt
    lines = rest.split(b"\n")
    i = 1
    while lines[i].startswith(b"\t"):
        i += 1
    received = b"\n".join(lines[:i]) + b"\n"
    m = re.match(RECEIVED_RE, received.decode())
    assert m, received
    assert (m.group("id"), m.group("host"), m.group("for")) == \
        (qid, "mx.example.test", rcpt if for_rcpt else None)
    assert b"\n".join(lines[i:]) == MESSAGE.replace(b"\r\n", b"\n")


def test_lmtp_unix_socket_to_dovecot_byte_exact(world):
    dv = world.dovecot()
    d = world.start(mailbox="lmtp:unix:%s" % dv.socket)
    qid = submit(world.env, ["user1@example.test"])
    ev = wait_event(d, "delivered", qid, "user1@example.test")
    assert ev["status"] == "sent" and ev["dsn"].startswith("2."), ev
    d.wait_removed(qid)
    check_dovecot_copy(dv, "user1@example.test", "s@remote.test", qid, for_rcpt=True)
    world.env.assert_no_leftovers()
    assert world.env.mail_files() == []         # nothing went to vsmtpd's own Maildirs


def test_lmtp_tcp_to_dovecot_two_recipients(world):
    dv = world.dovecot()
    d = world.start(mailbox="lmtp:127.0.0.1:%d" % dv.port)
    rcpts = ["user1@example.test", "user2@example.test"]
    qid = submit(world.env, rcpts)
    for r in rcpts:
        wait_event(d, "delivered", qid, r)
    d.wait_removed(qid)
    for r in rcpts:
        check_dovecot_copy(dv, r, "s@remote.test", qid, for_rcpt=False)


def test_lmtp_unknown_user_fails_while_others_delivered(world):
    # vsmtpd's users file knows user3, Dovecot does not: 550 5.1.1 at RCPT.
    dv = world.dovecot(users=["user1@example.test", "user2@example.test"])
    d = world.start(mailbox="lmtp:unix:%s" % dv.socket)
    qid = submit(world.env, ["user1@example.test", "user3@example.test"], sender="")
    assert wait_event(d, "failed", qid, "user3@example.test")["dsn"] == "5.1.1"
    wait_event(d, "delivered", qid, "user1@example.test")
    d.wait_removed(qid)
    assert len(dv.new_files("user1@example.test")) == 1
    assert not dv.maildir("user3@example.test").exists()


def test_lmtp_per_recipient_replies_after_data(world):
    verdicts = {"user2@example.test": "452 4.2.2 <user2@example.test> mailbox full",
                "user3@example.test": "552 5.2.2 <user3@example.test> over quota for good"}
    fake = world.fake(LMTP_IP, lmtp=True, reply=lambda stage, arg, conn:
                      verdicts.get(arg) if stage == "eod" else None)
    d = world.start(mailbox="lmtp:%s:%d" % (LMTP_IP, world.port))
    rcpts = ["user1@example.test", "user2@example.test", "user3@example.test"]
    qid = submit(world.env, rcpts, sender="")
    wait_event(d, "delivered", qid, "user1@example.test")
    assert wait_event(d, "deferred", qid, "user2@example.test")["dsn"] == "4.2.2"
    assert wait_event(d, "failed", qid, "user3@example.test")["dsn"] == "5.2.2"
    verdicts.pop("user2@example.test")      # the mailbox has room again
    wait_event(d, "delivered", qid, "user2@example.test")
    d.wait_removed(qid)
    assert [m.rcpts for m in fake.messages] == [rcpts, ["user2@example.test"]]
    conn = fake.connections[0]
    assert conn.commands()[0] == "LHLO mx.example.test"
    assert "EHLO" not in conn.verbs() and "HELO" not in conn.verbs()


def test_lmtp_ipv6_address(world):
    fake = world.fake("::1", port=0, lmtp=True)
    d = world.start(mailbox="lmtp:[::1]:%d" % fake.port)
    qid = submit(world.env, ["user1@example.test"])
    d.wait_removed(qid)
    (m,) = fake.wait_messages(1)
    assert m.rcpts == ["user1@example.test"] and m.data.endswith(MESSAGE)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_lmtp_server_down_defers(world, kind):
    mailbox = ("lmtp:127.0.0.1:%d" % free_port() if kind == "tcp"
               else "lmtp:unix:%s" % (world.root / "no-such.sock"))
    d = world.start(mailbox=mailbox)
    qid = submit(world.env, ["user1@example.test"])
    ev = wait_event(d, "deferred", qid, "user1@example.test")
    assert ev["status"] == "deferred" and re.match(r"4\.\d+\.\d+$", ev["dsn"]) and ev["tries"] == "1", ev
    assert world.env.queue_files() == [qid]
    assert world.env.mail_files() == []
