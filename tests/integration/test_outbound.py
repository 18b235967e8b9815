"""Relaying: vsmtpd delivers non-local mail to the MX of the recipient's domain.

Each test builds a world (world.py): dnsmasq serving the .test zone, fake
MX servers on 127.0.0.x (all on the world's port, vsmtpd's outbound_port)
and a vsmtpd that accepts mail from 127.0.0.1 and relays it. A test sends
through the raw client, then checks both sides: what the fake received
(commands as sent, DATA bytes, TLS, AUTH) and the event= lines vsmtpd logs
for each recipient (delivered / deferred / failed, relay=, dsn=).
Failures that must not produce a bounce use the null sender, so no report
can land anywhere and blur what is checked.
RFC 5321 5.1 (MX), 4.2.5/4.5.4 (retries), 6.3 (loops); RFC 7505 (null MX);
RFC 2920 (PIPELINING), 1870 (SIZE), 6531 (SMTPUTF8), 3461 (DSN), 3207
(STARTTLS), 4954 (AUTH).
"""

import re

import pytest

from helpers import RECEIVED_RE, data_wire, events, send_mail, wait_event
from world import (IMPLICIT_IP, LITERAL_IP, MX1_IP, MX2_IP, OTHER_IP, SMARTHOST_IP,
                   WRONGNAME_IP)

SENDER = "sender@example.test"
MESSAGE = (b"From: Sender <sender@example.test>\r\n"
           b"To: rcpt@remote.test\r\n"
           b"Subject: relayed\r\n"
           b"Message-ID: <relay-1@example.test>\r\n"
           b"\r\n"
           b"Hello,\r\n"
           b".a line that starts with a dot\r\n"
           b"  indented\twith a tab  \r\n"
           b"last line\r\n")
RECEIVED_CRLF_RE = RECEIVED_RE.replace(r"\n", r"\r\n")


# ---- helpers ----------------------------------------------------------------------

def relay_of(name, ip, port):
    return "%s[%s]:%d" % (name, ip, port)


def submit(env, rcpts, message=MESSAGE, sender=SENDER, params=""):
    """Sends one message to vsmtpd; returns its queue ID."""
    with env.connect() as c:
        qid = send_mail(c, sender, rcpts, message, params=params)
        c.quit()
    return qid


def split_received(data):
    """(our Received: header, the rest) of relayed DATA bytes (CRLF lines)."""
    lines = data.split(b"\r\n")
    assert lines[0].startswith(b"Received: "), data[:300]
    i = 1
    while lines[i].startswith(b"\t"):
        i += 1
    return b"\r\n".join(lines[:i]) + b"\r\n", b"\r\n".join(lines[i:])


def hop_message(n):
    trace = b"".join(b"Received: from hop%d.test by hop%d.test; Mon, 1 Jan 2024 00:00:0%d +0000\r\n"
                     % (i, i + 1, i) for i in range(n))
    return trace + b"Subject: looping\r\n\r\nround and round\r\n"


# ---- delivery and the MX choice ------------------------------------------------------

def test_outbound_relayed_mail_arrives_byte_for_byte(world):
    fake = world.fake(MX1_IP)
    d = world.start()
    qid = submit(world.env, ["rcpt@remote.test"])
    ev = wait_event(d, "delivered", qid, "rcpt@remote.test")
    assert ev["relay"] == relay_of("mx1.remote.test", MX1_IP, world.port)
    assert (ev["status"], ev["dsn"]) == ("sent", "2.0.0")
    assert ev["reply"].startswith("250 2.0.0 Ok: queued as FAKE1"), ev
    d.wait_removed(qid)
    (m,) = fake.wait_messages(1)
    assert (m.mail_from, m.rcpts) == (SENDER, ["rcpt@remote.test"])
    received, rest = split_received(m.data)
    r = re.match(RECEIVED_CRLF_RE, received.decode())
    assert r, received
    assert (r.group("helo"), r.group("ip"), r.group("host"), r.group("id"), r.group("for")) == \
        ("client.example", "127.0.0.1", "mx.example.test", qid, "rcpt@remote.test")
    assert rest == MESSAGE
    assert fake.connections[0].commands()[0] == "EHLO mx.example.test"
    world.env.assert_no_leftovers()


def test_outbound_lowest_preference_mx_first(world):
    mx1, mx2 = world.fake(MX1_IP), world.fake(MX2_IP)
    d = world.start()
    qid = submit(world.env, ["rcpt@remote.test"])
    d.wait_removed(qid)
    assert len(mx1.wait_messages(1)) == 1
    assert mx2.connections == []


def test_outbound_dead_primary_falls_back_to_secondary(world):
    mx2 = world.fake(MX2_IP)            # nothing listens on mx1 (127.0.0.2)
    d = world.start()
    qid = submit(world.env, ["rcpt@remote.test"])
    ev = wait_event(d, "delivered", qid, "rcpt@remote.test")
    assert ev["relay"] == relay_of("mx2.remote.test", MX2_IP, world.port)
    d.wait_removed(qid)
    assert mx2.wait_messages(1)[0].rcpts == ["rcpt@remote.test"]


def test_outbound_421_greeting_falls_back_to_secondary(world):
    mx1 = world.fake(MX1_IP, greeting="421 4.3.2 mx1 is shutting down")
    mx2 = world.fake(MX2_IP)
    d = world.start()
    qid = submit(world.env, ["rcpt@remote.test"])
    ev = wait_event(d, "delivered", qid, "rcpt@remote.test")
    assert ev["relay"] == relay_of("mx2.remote.test", MX2_IP, world.port)
    assert len(mx2.wait_messages(1)) == 1
    assert mx1.wait_connections(1)[0].lines == [] and mx1.messages == []


def test_outbound_implicit_mx(world):
    fake = world.fake(IMPLICIT_IP)
    d = world.start()
    qid = submit(world.env, ["rcpt@implicit.test"])
    ev = wait_event(d, "delivered", qid, "rcpt@implicit.test")
    assert ev["relay"] == relay_of("implicit.test", IMPLICIT_IP, world.port)
    assert fake.wait_messages(1)[0].rcpts == ["rcpt@implicit.test"]


def test_outbound_address_literal(world):
    # policy.c: a literal is never local, so it relays for relay_networks.
    fake = world.fake(LITERAL_IP)
    d = world.start()
    qid = submit(world.env, ["rcpt@[%s]" % LITERAL_IP])
    ev = wait_event(d, "delivered", qid, "rcpt@[%s]" % LITERAL_IP)
    assert ev["relay"].endswith("[%s]:%d" % (LITERAL_IP, world.port)), ev
    assert fake.wait_messages(1)[0].rcpts == ["rcpt@[%s]" % LITERAL_IP]


# ---- DNS answers that are not a mail exchanger ----------------------------------------

@pytest.mark.parametrize("rcpt, dsn", [("rcpt@nullmx.test", "5.1.10"),     # RFC 7505 3
                                       ("rcpt@nothere.test", "5.1.2")])
def test_outbound_dns_permanent_failure_fails_at_once(world, rcpt, dsn):
    d = world.start()
    qid = submit(world.env, [rcpt], sender="")
    ev = wait_event(d, "failed", qid, rcpt)
    assert (ev["status"], ev["dsn"]) == ("bounced", dsn)
    assert "relay" not in ev
    d.wait_removed(qid)
    assert events(d, "deferred", qid) == []


def test_outbound_dns_temporary_failure_defers(world):
    d = world.start()
    qid = submit(world.env, ["rcpt@tempfail.test"], sender="")
    ev = wait_event(d, "deferred", qid, "rcpt@tempfail.test")
    assert (ev["status"], ev["dsn"], ev["tries"]) == ("deferred", "4.4.3", "1")
    assert "relay" not in ev
    assert world.env.queue_files() == [qid]


# ---- replies of the MX ----------------------------------------------------------------

def test_outbound_rcpt_4xx_retried_until_accepted(world):
    verdict = {"rcpt": "451 4.3.0 try later"}
    fake = world.fake(OTHER_IP, reply=lambda stage, arg, conn: verdict.get(stage))
    d = world.start()
    qid = submit(world.env, ["rcpt@other.test"])
    ev = wait_event(d, "deferred", qid, "rcpt@other.test")
    assert (ev["dsn"], ev["tries"], ev["reason"]) == ("4.3.0", "1", "451 4.3.0 try later")
    assert ev["relay"] == relay_of("mx.other.test", OTHER_IP, world.port)
    verdict.clear()                     # the MX changes its mind
    wait_event(d, "delivered", qid, "rcpt@other.test")
    d.wait_removed(qid)
    assert [m.rcpts for m in fake.messages] == [["rcpt@other.test"]]
    assert len([c for c in fake.commands() if c.upper().startswith("RCPT")]) >= 2


def test_outbound_expire_fails_with_4_4_7(world):
    world.fake(OTHER_IP, reply=lambda stage, arg, conn: "451 4.3.0 try later" if stage == "rcpt" else None)
    d = world.start(expire="3s")
    qid = submit(world.env, ["rcpt@other.test"], sender="")
    ev = wait_event(d, "failed", qid, "rcpt@other.test", timeout=30)
    assert (ev["status"], ev["dsn"]) == ("bounced", "4.4.7")
    assert "451 4.3.0 try later" in ev["reason"]
    d.wait_removed(qid)
    assert len(events(d, "deferred", qid)) >= 1


def test_outbound_rcpt_5xx_fails_at_once(world):
    fake = world.fake(OTHER_IP, reply=lambda stage, arg, conn:
                      "550 5.1.1 no such user" if stage == "rcpt" else None)
    d = world.start()
    qid = submit(world.env, ["nobody@other.test"], sender="")
    ev = wait_event(d, "failed", qid, "nobody@other.test")
    assert (ev["status"], ev["dsn"], ev["reason"]) == ("bounced", "5.1.1", "550 5.1.1 no such user")
    d.wait_removed(qid)
    assert events(d, "deferred", qid) == []
    # One RCPT, never retried; DATA may have been pipelined (RFC 2920 3.1),
    # but no content was sent.
    verbs = [c.split(" ", 1)[0].upper() for c in fake.commands()]
    assert verbs.count("RCPT") == 1
    assert fake.messages == []


def test_outbound_mixed_recipients_in_one_message(world):
    verdicts = {"later@other.test": "450 4.2.0 mailbox busy", "bad@other.test": "550 5.1.1 unknown"}
    fake = world.fake(OTHER_IP, reply=lambda stage, arg, conn:
                      verdicts.get(arg) if stage == "rcpt" else None)
    d = world.start()
    rcpts = ["ok@other.test", "later@other.test", "bad@other.test"]
    qid = submit(world.env, rcpts, sender="")
    assert wait_event(d, "delivered", qid, "ok@other.test")["dsn"] == "2.0.0"
    assert wait_event(d, "deferred", qid, "later@other.test")["dsn"] == "4.2.0"
    assert wait_event(d, "failed", qid, "bad@other.test")["dsn"] == "5.1.1"
    verdicts.pop("later@other.test")
    wait_event(d, "delivered", qid, "later@other.test")
    d.wait_removed(qid)
    assert [m.rcpts for m in fake.messages] == [["ok@other.test"], ["later@other.test"]]
    assert len(events(d, "delivered", qid)) == 2


@pytest.mark.parametrize("stage", ["mail", "data"])
def test_outbound_mx_closing_mid_transaction_defers(world, stage):
    fake = world.fake(OTHER_IP, drop=stage)
    d = world.start()
    qid = submit(world.env, ["rcpt@other.test"])
    assert wait_event(d, "deferred", qid, "rcpt@other.test")["dsn"].startswith("4.")
    fake.drop = None
    wait_event(d, "delivered", qid, "rcpt@other.test")
    d.wait_removed(qid)
    assert len(fake.accepted()) == 1


def test_outbound_data_timeout_defers_and_delivers_once(world):
    fake = world.fake(OTHER_IP, hang="eod")
    d = world.start(outbound_timeout_data="2s")
    qid = submit(world.env, ["rcpt@other.test"])
    ev = wait_event(d, "deferred", qid, "rcpt@other.test")
    assert ev["dsn"].startswith("4.") and ev["relay"] == relay_of("mx.other.test", OTHER_IP, world.port)
    fake.hang = None
    wait_event(d, "delivered", qid, "rcpt@other.test")
    d.wait_removed(qid)
    d.stop()
    # One copy the MX never acknowledged (it hung), one it accepted; no more.
    assert [m.accepted for m in fake.messages] == [False, True]
    assert len(events(d, "delivered", qid)) == 1


# ---- ESMTP extensions of the MX --------------------------------------------------------

def test_outbound_pipelining_used_when_offered(world):
    fake = world.fake(OTHER_IP)
    d = world.start()
    qid = submit(world.env, ["a@other.test", "b@other.test"])
    d.wait_removed(qid)
    conn = fake.wait_connections(1)[0]
    batch = conn.batch_of("MAIL")
    assert len(batch) == 1 and conn.batch_of("RCPT") == batch * 2 and conn.batch_of("DATA") == batch, \
        conn.lines


def test_outbound_no_pipelining_when_not_offered(world):
    fake = world.fake(OTHER_IP, extensions=["8BITMIME", "ENHANCEDSTATUSCODES"])
    d = world.start()
    qid = submit(world.env, ["a@other.test", "b@other.test"])
    d.wait_removed(qid)
    conn = fake.wait_connections(1)[0]
    batches = [b for b, _ in conn.lines]
    assert batches == sorted(set(batches)), conn.lines     # one command per read
    assert fake.messages[0].rcpts == ["a@other.test", "b@other.test"]


def test_outbound_message_bigger_than_peer_size_fails_5_3_4(world):
    fake = world.fake(OTHER_IP, extensions=["PIPELINING", "SIZE 1000", "ENHANCEDSTATUSCODES"])
    d = world.start()
    big = b"Subject: big\r\n\r\n" + (b"y" * 78 + b"\r\n") * 60      # 4.8 kB
    qid = submit(world.env, ["rcpt@other.test"], message=big, sender="")
    ev = wait_event(d, "failed", qid, "rcpt@other.test")
    assert (ev["status"], ev["dsn"]) == ("bounced", "5.3.4")
    d.wait_removed(qid)
    assert not any(c.upper().startswith("MAIL") for c in fake.commands())


UTF8_SENDER = "jörg@example.test"
UTF8_MESSAGE = "Subject: grüße\r\nFrom: <jörg@example.test>\r\n\r\nκείμενο\r\n".encode("utf-8")


def test_outbound_smtputf8_to_peer_without_it_fails_5_6_7(world):
    fake = world.fake(OTHER_IP)         # no SMTPUTF8 in its EHLO
    d = world.start()
    qid = submit(world.env, ["rcpt@other.test"], message=UTF8_MESSAGE, sender=UTF8_SENDER,
                 params=" SMTPUTF8")
    ev = wait_event(d, "failed", qid, "rcpt@other.test")
    assert (ev["status"], ev["dsn"]) == ("bounced", "5.6.7")
    d.wait_removed(qid)
    assert fake.messages == []


def test_outbound_smtputf8_passed_when_offered(world):
    fake = world.fake(OTHER_IP, extensions=["PIPELINING", "8BITMIME", "SMTPUTF8"])
    d = world.start()
    qid = submit(world.env, ["rcpt@other.test"], message=UTF8_MESSAGE, sender=UTF8_SENDER,
                 params=" SMTPUTF8")
    d.wait_removed(qid)
    (m,) = fake.wait_messages(1)
    assert m.mail_from == UTF8_SENDER
    assert "SMTPUTF8" in m.mail_params.upper().split()
    assert split_received(m.data)[1] == UTF8_MESSAGE


EIGHTBIT_MESSAGE = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n".encode("latin-1")


@pytest.mark.parametrize("offered", [True, False])
def test_outbound_8bitmime_content_needs_a_peer_with_8bitmime(world, offered):
    """RFC 6152 3: 8-bit content goes with BODY=8BITMIME to a peer that
    offers it; to one that does not it fails with 5.6.3, never sent as is."""
    exts = ["PIPELINING", "ENHANCEDSTATUSCODES"] + (["8BITMIME"] if offered else [])
    fake = world.fake(OTHER_IP, extensions=exts)
    d = world.start()
    qid = submit(world.env, ["rcpt@other.test"], message=EIGHTBIT_MESSAGE, sender="",
                 params=" BODY=8BITMIME")
    if offered:
        wait_event(d, "delivered", qid, "rcpt@other.test")
        (m,) = fake.wait_messages(1)
        assert "BODY=8BITMIME" in m.mail_params.upper().split()
        assert split_received(m.data)[1] == EIGHTBIT_MESSAGE
    else:
        ev = wait_event(d, "failed", qid, "rcpt@other.test")
        assert (ev["status"], ev["dsn"]) == ("bounced", "5.6.3")
        assert fake.messages == []
    d.wait_removed(qid)


def test_outbound_8bitmime_declared_but_7bit_goes_to_any_peer(world):
    """Clients often declare BODY=8BITMIME for plain ASCII: that needs nothing."""
    fake = world.fake(OTHER_IP, extensions=["PIPELINING"])
    d = world.start()
    qid = submit(world.env, ["rcpt@other.test"], params=" BODY=8BITMIME")
    wait_event(d, "delivered", qid, "rcpt@other.test")
    (m,) = fake.wait_messages(1)
    assert "BODY" not in m.mail_params.upper()
    assert split_received(m.data)[1] == MESSAGE
    d.wait_removed(qid)


@pytest.mark.parametrize("offered", [True, False])
def test_outbound_dsn_parameters_only_when_offered(world, offered):
    exts = ["PIPELINING", "ENHANCEDSTATUSCODES"] + (["DSN"] if offered else [])
    fake = world.fake(OTHER_IP, extensions=exts)
    d = world.start()
    with world.env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<%s> RET=HDRS ENVID=QQ314" % SENDER).code == 250
        r = c.cmd("RCPT TO:<rcpt@other.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;rcpt@other.test")
        assert r.code == 250, r
        assert c.cmd("DATA").code == 354
        c.send(data_wire(MESSAGE))
        qid = c.reply().queue_id()
        c.quit()
    d.wait_removed(qid)
    (m,) = fake.wait_messages(1)
    mail = m.mail_params.upper().split()
    rcpt = m.rcpt_params[0].upper().split()
    if offered:
        assert "RET=HDRS" in mail and "ENVID=QQ314" in mail
        assert "NOTIFY=FAILURE,DELAY" in rcpt and "ORCPT=RFC822;RCPT@OTHER.TEST" in rcpt
    else:
        keys = {p.split("=", 1)[0] for p in mail + rcpt}
        assert not keys & {"RET", "ENVID", "NOTIFY", "ORCPT"}, (mail, rcpt)


def test_outbound_connection_reused_for_next_message(world):
    fake = world.fake(OTHER_IP)
    d = world.start(outbound_concurrency="1")
    with world.env.connect() as c:
        c.reply()
        c.ehlo()
        ids = [send_mail(c, SENDER, ["rcpt@other.test"], b"Subject: n%d\r\n\r\nx\r\n" % i, greet=False)
               for i in range(2)]
        c.quit()
    for qid in ids:
        d.wait_removed(qid)
    assert [m.conn for m in fake.wait_messages(2)] == [0, 0]
    assert len(fake.connections) == 1
    assert fake.connections[0].verbs().count("EHLO") == 1


# ---- TLS ---------------------------------------------------------------------------------

def test_outbound_starttls_used_when_offered(world):
    fake = world.fake(MX1_IP, cert=world.cert("mx1.remote.test"))
    d = world.start()               # outbound_tls = may: any certificate will do
    qid = submit(world.env, ["rcpt@remote.test"])
    d.wait_removed(qid)
    (m,) = fake.wait_messages(1)
    assert m.tls and split_received(m.data)[1] == MESSAGE
    conn = fake.connections[0]
    assert conn.verbs()[:3] == ["EHLO", "STARTTLS", "EHLO"] and conn.injected == b""


def test_outbound_tls_encrypt_without_starttls_defers(world):
    fake = world.fake(MX1_IP)
    world.fake(MX2_IP)
    d = world.start(outbound_tls="encrypt")
    qid = submit(world.env, ["rcpt@remote.test"])
    ev = wait_event(d, "deferred", qid, "rcpt@remote.test")
    assert ev["dsn"].startswith("4."), ev
    assert fake.messages == [] and world.fakes[1].messages == []
    assert not any(c.upper().startswith("MAIL") for f in world.fakes for c in f.commands())


def test_outbound_tls_verify_with_right_ca_delivers(world, ca):
    fake = world.fake(MX1_IP, cert=world.cert("mx1.remote.test"))
    d = world.start(outbound_tls="verify", outbound_tls_ca=str(ca.cert))
    qid = submit(world.env, ["rcpt@remote.test"])
    wait_event(d, "delivered", qid, "rcpt@remote.test")
    assert fake.wait_messages(1)[0].tls


def test_outbound_tls_verify_wrong_name_defers(world, ca):
    # mx.wrongname.test presents mx1.remote.test's certificate.
    fake = world.fake(WRONGNAME_IP, cert=world.cert("mx1.remote.test"))
    d = world.start(outbound_tls_policy="wrongname.test:verify", outbound_tls_ca=str(ca.cert))
    qid = submit(world.env, ["rcpt@wrongname.test"])
    ev = wait_event(d, "deferred", qid, "rcpt@wrongname.test")
    assert ev["dsn"].startswith("4."), ev
    assert fake.messages == []
    assert not any(c.upper().startswith("MAIL") for c in fake.commands())


# ---- smart host ----------------------------------------------------------------------------

def test_outbound_smart_host_with_auth_and_tls_verify(world, ca):
    sh = world.fake(SMARTHOST_IP, cert=world.cert("smarthost.test"), auth={"relayuser": "pa55"})
    mx1, other = world.fake(MX1_IP), world.fake(OTHER_IP)
    d = world.start(smart_host="smarthost.test:%d" % world.port, smart_host_tls="verify",
                    smart_host_credentials=str(world.credentials("relayuser", "pa55")),
                    outbound_tls_ca=str(ca.cert))
    rcpts = ["a@remote.test", "b@other.test"]
    qid = submit(world.env, rcpts)
    for r in rcpts:
        ev = wait_event(d, "delivered", qid, r)
        assert ev["relay"] == relay_of("smarthost.test", SMARTHOST_IP, world.port)
    d.wait_removed(qid)
    msgs = sh.wait_messages(1)
    assert sorted(r for m in msgs for r in m.rcpts) == rcpts
    assert all(m.tls and m.auth_user == "relayuser" for m in msgs)
    assert mx1.connections == [] and other.connections == []


def test_outbound_smart_host_literal_and_tls_none(world):
    sh = world.fake(SMARTHOST_IP, cert=world.cert("smarthost.test"))
    d = world.start(smart_host="[%s]:%d" % (SMARTHOST_IP, world.port), smart_host_tls="none")
    qid = submit(world.env, ["a@remote.test"])
    d.wait_removed(qid)
    (m,) = sh.wait_messages(1)
    assert not m.tls and "STARTTLS" not in sh.connections[0].verbs()


def test_outbound_smart_host_direct_first(world):
    sh = world.fake(SMARTHOST_IP)
    other = world.fake(OTHER_IP)        # remote.test's exchangers are both dead
    d = world.start(smart_host="[%s]:%d" % (SMARTHOST_IP, world.port), smart_host_direct_first="yes")
    qid = submit(world.env, ["a@remote.test", "b@other.test"])
    assert wait_event(d, "delivered", qid, "b@other.test")["relay"] == \
        relay_of("mx.other.test", OTHER_IP, world.port)
    assert wait_event(d, "delivered", qid, "a@remote.test")["relay"].endswith(
        "[%s]:%d" % (SMARTHOST_IP, world.port))
    d.wait_removed(qid)
    assert [m.rcpts for m in sh.messages] == [["a@remote.test"]]
    assert [m.rcpts for m in other.messages] == [["b@other.test"]]


# ---- envelope rewriting and loops -------------------------------------------------------------

def test_outbound_masquerade_domain_rewrites_local_senders_only(world):
    fake = world.fake(OTHER_IP)
    d = world.start(masquerade_domain="masq.test")
    ids = [submit(world.env, ["rcpt@other.test"], sender=s)
           for s in ("user1@example.test", "someone@elsewhere.test")]
    for qid in ids:
        d.wait_removed(qid)
    froms = sorted(m.mail_from for m in fake.wait_messages(2))
    assert froms == ["someone@elsewhere.test", "user1@masq.test"]
    assert all(split_received(m.data)[1] == MESSAGE for m in fake.messages)  # headers untouched


def test_outbound_too_many_hops_fails_5_4_6(world):
    fake = world.fake(MX1_IP)
    d = world.start(max_hop_count="3")
    rcpts = ["rcpt@remote.test", "user1@example.test"]
    qid = submit(world.env, rcpts, message=hop_message(4), sender="")
    for r in rcpts:
        ev = wait_event(d, "failed", qid, r)
        assert (ev["status"], ev["dsn"]) == ("bounced", "5.4.6")
    d.wait_removed(qid)
    assert fake.connections == []
    assert world.env.mail_files() == []


def test_outbound_mx_that_is_ourselves_fails_5_4_6(world):
    """RFC 5321 5.1: an exchanger greeting with our own hostname is this
    server; relaying to it would loop, so the recipient fails at once."""
    fake = world.fake(OTHER_IP, name="MX.example.test")
    d = world.start()
    qid = submit(world.env, ["rcpt@other.test"], sender="")
    ev = wait_event(d, "failed", qid, "rcpt@other.test")
    assert (ev["status"], ev["dsn"]) == ("bounced", "5.4.6")
    assert "loops back to myself" in ev["reason"], ev
    d.wait_removed(qid)
    assert [c.split(" ", 1)[0].upper() for c in fake.commands()] == ["QUIT"]


def test_outbound_hops_within_limit_are_delivered(world):
    fake = world.fake(MX1_IP)
    d = world.start(max_hop_count="3")
    qid = submit(world.env, ["rcpt@remote.test"], message=hop_message(2))
    wait_event(d, "delivered", qid, "rcpt@remote.test")
    assert split_received(fake.wait_messages(1)[0].data)[1] == hop_message(2)


# ---- crash ------------------------------------------------------------------------------------

def test_outbound_kill9_while_queued_then_each_message_once(world):
    d = world.start()                   # remote.test's exchangers are dead for now
    with world.env.connect() as c:
        c.reply()
        c.ehlo()
        ids = [send_mail(c, SENDER, ["rcpt@remote.test"], b"Subject: q%d\r\n\r\nx\r\n" % i, greet=False)
               for i in range(4)]
        c.quit()
    for qid in ids:
        wait_event(d, "deferred", qid, "rcpt@remote.test")
    d.kill9()
    fake = world.fake(MX1_IP)
    d2 = world.env.start(write=False)
    for qid in ids:
        d2.wait_removed(qid)
    d2.stop()
    subjects = sorted(re.search(rb"^Subject: (\S+)\r$", m.data, re.M).group(1).decode()
                      for m in fake.messages)
    assert subjects == ["q0", "q1", "q2", "q3"]
    world.env.assert_no_leftovers()
