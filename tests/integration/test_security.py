"""Hostile clients: relaying, relay tricks, SMTP smuggling, bytes that must not pass.

The default server (conftest.py) relays for 127.0.0.1 only; a client bound
to 127.0.0.3 is an outsider. An outsider's mail for a non-local domain must
be refused, and no address trick may turn a local-looking address into a
relayed one: it is refused, or delivered locally, and SPOOL/queue is empty
in the end. Smuggling attempts (RFC 5321 4.1.1.4 end-of-data lookalikes,
CVE-2023-51764) must never end DATA: the hidden commands are never
executed, the message is refused, nothing is delivered.
"""

import pytest

from helpers import data_wire, send_mail, split_delivered

OUTSIDER = "127.0.0.3"
SIMPLE = b"Subject: t\r\n\r\nbody\r\n"


def test_relay_denied_for_outsider(env, daemon):
    with env.connect(source=OUTSIDER) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = c.cmd("RCPT TO:<someone@remote.test>")
        assert (r.code, r.enh) == (554, "5.7.1"), r
        assert r.message.endswith("Relay access denied"), r
        assert "someone@remote.test" in r.message
        r = c.cmd("DATA")
        assert r.code in (503, 554), r
        c.quit()
    assert daemon.log_matches(r"event=rcpt .*to=<someone@remote\.test> result=rejected code=5\.7\.1")
    assert env.queue_files() == [] and env.mail_files() == []


def test_relay_denied_when_relay_networks_empty(env):
    d = env.start(servers=[("mx", env.server(relay_networks=""))])
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = c.cmd("RCPT TO:<someone@remote.test>")
        assert (r.code, r.enh) == (554, "5.7.1"), r
        # Local mail is still welcome.
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(data_wire(SIMPLE))
        d.wait_removed(c.reply().queue_id())
        c.quit()
    assert env.queue_files() == []


# Each address either is refused, or is delivered to a local Maildir (the
# value: (domain, user) it may land in, or None when it must be refused).
TRICKS = {
    "user1%remote.test@example.test": None,
    "\"user1@remote.test\"@example.test": None,
    "\"user1%remote.test\"@example.test": None,
    "@example.test:user1@remote.test": None,
    "@example.test,@example.net:user1@remote.test": None,
    "user1@remote.test@example.test": None,
    "remote.test!user1@example.test": None,
    "user1@[127.0.0.9]": None,
    "user1@[127.0.0.1]": None,
    "user1@[IPv6:::1]": None,
    "user1@remote.test.": None,
    "USER1@REMOTE.TEST": None,
    "user1@remote.test%example.test": None,
    "user1@example.test@remote.test": None,
    "user1@localhost": None,
    "user1@example.test.remote.test": None,
    "\"user1\\@remote.test\"@example.test": None,
    "user1@example.test.": ("example.test", "user1"),
    "USER1@EXAMPLE.TEST": ("example.test", "user1"),
    "@remote.test:user1@example.test": ("example.test", "user1"),
}


@pytest.mark.parametrize("addr", sorted(TRICKS))
def test_relay_trick_never_relayed(env, daemon, addr):
    allowed = TRICKS[addr]
    with env.connect(source=OUTSIDER) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = c.cmd("RCPT TO:<%s>" % addr)
        if r.code == 250:
            assert allowed is not None, "relay trick accepted from an outsider: %s -> %r" % (addr, r)
            assert c.cmd("DATA").code == 354
            c.send(data_wire(SIMPLE))
            qid = c.reply().queue_id()
            daemon.wait_removed(qid)
            domain, user = allowed
            assert len(env.new_files(user, domain)) == 1
            assert [p.split("/")[:2] for p in env.mail_files() if "/new/" in p] == [[domain, user]]
        else:
            assert 500 <= r.code < 600 and r.enh and r.enh.startswith("5."), r
            r = c.cmd("DATA")
            assert r.code in (503, 554), r
            assert env.mail_files() == []
        c.quit()
    assert env.queue_files() == []
    assert not daemon.log_matches(r"event=deferred")


def test_relay_allowed_from_relay_network_is_queued(env, daemon):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = c.cmd("RCPT TO:<someone@remote.test>")
        assert (r.code, r.enh) == (250, "2.1.5"), r
        assert c.cmd("DATA").code == 354
        c.send(data_wire(SIMPLE))
        qid = c.reply().queue_id()
        c.quit()
    # Remote delivery does not exist yet: the message waits in the queue.
    daemon.wait_log(r"event=deferred id=%s to=<someone@remote\.test>" % qid)
    assert env.queue_files() == [qid]
    assert env.mail_files() == []


def test_relay_mixed_local_and_remote(env, daemon):
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test", "someone@remote.test"], SIMPLE)
        c.quit()
    daemon.wait_log(r"event=delivered id=%s to=<user1@example\.test>" % qid)
    daemon.wait_log(r"event=deferred id=%s to=<someone@remote\.test>" % qid)
    assert len(env.new_files("user1")) == 1
    # The local copy is done, the remote one waits: the file stays queued.
    assert env.queue_files() == [qid]


def test_relay_outsider_cannot_use_ip_literal_of_server(env, daemon):
    with env.connect(source=OUTSIDER) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        for addr in ("postmaster@[127.0.0.1]", "user1@[127.0.0.3]"):
            r = c.cmd("RCPT TO:<%s>" % addr)
            assert r.code >= 500, (addr, r)
        c.quit()
    assert env.queue_files() == []


# ---- SMTP smuggling --------------------------------------------------------------------

SMUGGLED = (b"MAIL FROM:<evil@remote.test>\r\n"
            b"RCPT TO:<user2@example.test>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")

# variant -> the enhanced codes its refusal may carry
SMUGGLING = [
    (b"\n.\n", {"5.5.2"}),
    (b"\n.\r\n", {"5.5.2"}),
    (b"\r.\r\n", {"5.5.2"}),
    (b"\r\n.\n", {"5.5.2"}),
    (b"\r\n.\r", {"5.5.2"}),
    (b"\r.\r", {"5.5.2"}),
    (b"\n.", {"5.5.2"}),
    (b"\r\n\x00.\r\n", {"5.6.0"}),
    (b"\r\n.\x00\r\n", {"5.6.0"}),
    (b"\n\x00.\n", {"5.5.2", "5.6.0"}),
    (b"\x00\n.\n", {"5.5.2", "5.6.0"}),
    (b"\n.\n\x00", {"5.5.2", "5.6.0"}),
]


@pytest.mark.parametrize("variant, enhs", SMUGGLING, ids=[repr(v) for v, _ in SMUGGLING])
@pytest.mark.parametrize("split", [False, True], ids=["one-send", "split"])
def test_smuggling_never_ends_data(env, daemon, variant, enhs, split):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        head = b"Subject: innocent\r\n\r\nhello" + variant
        if split:
            c.send(head)
            c.send(SMUGGLED)
        else:
            c.send(head + SMUGGLED)
        r = c.reply()
        assert r.code == 550 and r.enh in enhs, r
        # The session is in step: a proper transaction follows and is the only one delivered.
        qid = send_mail(c, "good@remote.test", ["user3@example.test"], SIMPLE, greet=False)
        rest = c.quit()
        assert len(rest) == 1
    daemon.wait_removed(qid)
    assert env.new_files("user1") == [] and env.new_files("user2") == []
    assert len(env.new_files("user3")) == 1
    assert [p.split("/")[1] for p in env.mail_files() if "/new/" in p] == ["user3"]
    assert not daemon.log_matches(r"from=<evil@remote\.test>")
    env.assert_no_leftovers()


def test_smuggling_byte_by_byte(env, daemon):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        payload = b"Subject: innocent\r\n\r\nhello\n.\r\n" + SMUGGLED
        for i in range(len(payload)):
            c.send(payload[i:i + 1])
        r = c.reply()
        assert (r.code, r.enh) == (550, "5.5.2"), r
        assert len(c.quit()) == 1
    assert env.mail_files() == [] and env.queue_files() == []
    assert not daemon.log_matches(r"from=<evil@remote\.test>")


@pytest.mark.parametrize("body, enh", [
    (b"Subject: nul\r\n\r\nab\x00cd\r\n", "5.6.0"),
    (b"Subject: nul\x00\r\n\r\nx\r\n", "5.6.0"),
    (b"\x00", "5.6.0"),
    (b"Subject: cr\r\n\r\na\rb\r\n", "5.5.2"),
    (b"Subject: lf\r\n\r\na\nb\r\n", "5.5.2"),
    (b"Subject: lf\nX: y\r\n\r\nb\r\n", "5.5.2"),
    (b"Subject: crcr\r\n\r\na\r\r\nb\r\n", "5.5.2"),
])
def test_data_bad_bytes_refused(env, daemon, body, enh):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        c.send(body + b"\r\n.\r\n" if not body.endswith(b"\r\n") else body + b".\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (550, enh), r
        # Refused whole: the next message on the connection goes through alone.
        qid = send_mail(c, "s@remote.test", ["user2@example.test"], SIMPLE, greet=False)
        c.quit()
    daemon.wait_removed(qid)
    assert env.new_files("user1") == []
    assert len(env.new_files("user2")) == 1
    env.assert_no_leftovers()


def test_data_8bit_and_control_characters_pass(env, daemon):
    # Only NUL, bare CR and bare LF are refused; other control bytes pass.
    body = b"Subject: ctl\r\n\r\n" + bytes(c for c in range(1, 32) if c not in (10, 13)) + b"\x7f\xff\r\n"
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], body)
        c.quit()
    daemon.wait_removed(qid)
    rest = split_delivered(env.new_files("user1")[0].read_bytes())[3]
    assert rest == body.replace(b"\r\n", b"\n")
