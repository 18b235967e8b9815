"""The SMTP dialogue itself: replies, sequencing, pipelining, BDAT, bad input.

Raw-socket tests against one default vsmtpd (conftest.py): every reply is
checked for its code and RFC 3463 enhanced code, and after each error the
session must still be usable (the next NOOP gets its own 250, proving no
reply was lost or invented).
"""

import os
import random
import re

import pytest

from conftest import MAX_SIZE_BYTES
from helpers import ConnectionClosed, data_wire, send_mail, split_delivered

SIMPLE = b"Subject: t\r\n\r\nbody\r\n"
EXTENSIONS = ["PIPELINING", "SIZE %d" % MAX_SIZE_BYTES, "8BITMIME", "ENHANCEDSTATUSCODES",
              "SMTPUTF8", "DSN", "CHUNKING"]


def greeted(env):
    c = env.connect()
    g = c.reply()
    assert g.code == 220, g
    c.ehlo()
    return c


def assert_alive(c):
    r = c.cmd("NOOP")
    assert (r.code, r.enh) == (250, "2.0.0"), r


def test_protocol_greeting(env, daemon):
    with env.connect() as c:
        g = c.reply()
        assert g.code == 220
        assert len(g.lines) == 1
        assert re.match(r"^mx\.example\.test ESMTP( |$)", g.text), g
        c.quit()


def test_protocol_ehlo_capabilities(env, daemon):
    with env.connect() as c:
        c.reply()
        r = c.cmd("EHLO client.example")
        assert r.code == 250
        assert r.lines[0] == "mx.example.test"
        exts = r.lines[1:]
        for e in EXTENSIONS:
            assert e in exts, (e, exts)
        assert len(set(exts)) == len(exts)
        # Nothing about TLS or AUTH is offered while they are not configured.
        assert not any(e.startswith(("STARTTLS", "AUTH")) for e in exts)
        c.quit()


def test_protocol_pipelining_replies_in_order(env, daemon):
    # From 127.0.0.3, outside relay_networks: the remote recipient is refused too.
    with env.connect(source="127.0.0.3") as c:
        assert c.reply().code == 220
        c.ehlo()
        c.send(b"MAIL FROM:<s@remote.test>\r\n"
               b"RCPT TO:<user1@example.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\n"
               b"RCPT TO:<someone@remote.test>\r\n"
               b"RCPT TO:<user2@example.test>\r\n"
               b"DATA\r\n")
        got = [(r.code, r.enh) for r in c.read(6)]
        assert got == [(250, "2.1.0"), (250, "2.1.5"), (550, "5.1.1"), (554, "5.7.1"),
                       (250, "2.1.5"), (354, None)]
        c.send(data_wire(SIMPLE) + b"QUIT\r\n")
        r = c.reply()
        qid = r.queue_id()
        assert c.reply().code == 221
        assert c.expect_close() == []
    daemon.wait_removed(qid)
    assert len(env.new_files("user1")) == 1
    assert len(env.new_files("user2")) == 1
    assert not env.maildir("nobody").exists()


def test_protocol_pipelining_whole_session_in_one_send(env, daemon):
    with env.connect() as c:
        c.send(b"EHLO client.example\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<user1@example.test>\r\n"
               b"DATA\r\n" + data_wire(SIMPLE) +
               b"MAIL FROM:<s2@remote.test>\r\nRCPT TO:<user2@example.test>\r\nDATA\r\n" +
               data_wire(SIMPLE) + b"QUIT\r\n")
        replies = c.expect_close()
    codes = [r.code for r in replies]
    assert codes == [220, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221], replies
    for r in (replies[5], replies[9]):
        daemon.wait_removed(r.queue_id())
    assert len(env.new_files("user1")) == 1 and len(env.new_files("user2")) == 1


def test_protocol_input_split_byte_by_byte(env, daemon):
    script = (b"EHLO client.example\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<user1@example.test>\r\n"
              b"DATA\r\n" + data_wire(b"Subject: slow\r\n\r\n.dot\r\nx\r\n") + b"QUIT\r\n")
    with env.connect() as c:
        for i in range(len(script)):
            c.send(script[i:i + 1])
        replies = c.expect_close()
    assert [r.code for r in replies] == [220, 250, 250, 250, 354, 250, 221], replies
    daemon.wait_removed(replies[5].queue_id())
    rest = split_delivered(env.new_files("user1")[0].read_bytes())[3]
    assert rest == b"Subject: slow\n\n.dot\nx\n"


@pytest.mark.parametrize("ehlo, setup, command, code", [
    (False, [], "MAIL FROM:<s@remote.test>", 503),            # before HELO/EHLO
    (False, [], "RCPT TO:<user1@example.test>", 503),
    (True, [], "RCPT TO:<user1@example.test>", 503),          # before MAIL
    (True, [], "DATA", 503),                                  # before MAIL
    (True, ["MAIL FROM:<s@remote.test>"], "MAIL FROM:<s@remote.test>", 503),     # nested MAIL
    (True, ["MAIL FROM:<s@remote.test>", "RCPT TO:<user1@example.test>", "RSET"],
     "RCPT TO:<user1@example.test>", 503),                    # RSET ended the transaction
    (True, ["MAIL FROM:<s@remote.test>", "RCPT TO:<user1@example.test>", "EHLO again.example"],
     "DATA", 503),                                            # EHLO ended it too (RFC 5321 4.1.4)
])
def test_protocol_sequencing_errors_503(env, daemon, ehlo, setup, command, code):
    with env.connect() as c:
        assert c.reply().code == 220
        if ehlo:
            c.ehlo()
        for line in setup:
            assert c.cmd(line).code == 250
        r = c.cmd(command)
        assert (r.code, r.enh) == (code, "5.5.1"), r
        assert_alive(c)
        c.quit()
    assert env.queue_files() == []


def test_protocol_data_without_valid_recipient(env, daemon):
    # RFC 5321 3.3: 503 or 554 "no valid recipients"; either way 5.5.1.
    with greeted(env) as c:
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert c.cmd("RCPT TO:<nobody@example.test>").code == 550
        r = c.cmd("DATA")
        assert r.code in (503, 554) and r.enh == "5.5.1", r
        # The refused DATA did not open a message: the next line is a command.
        assert_alive(c)
        c.quit()
    assert env.queue_files() == [] and env.mail_files() == []


def test_protocol_unknown_command_500(env, daemon):
    with greeted(env) as c:
        for line in ("FOOBAR", "MAILFROM:<s@remote.test>", "EHLOx", "TURN", "X" * 100):
            r = c.cmd(line)
            assert (r.code, r.enh) == (500, "5.5.2"), (line, r)
        assert_alive(c)
        c.quit()


@pytest.mark.parametrize("line, code, enh", [
    ("HELO", 501, "5.5.4"),
    ("EHLO", 501, "5.5.4"),
    ("MAIL TO:<s@remote.test>", 501, "5.5.4"),
    ("MAIL FROM:s@remote.test extra", 501, None),
    ("MAIL FROM:<s@remote.test", 501, None),
    ("MAIL FROM:<s@remote.test> FOO=BAR", 555, "5.5.4"),
    ("MAIL FROM:<s@remote.test> SIZE=abc", 501, "5.5.4"),
    ("MAIL FROM:<s@remote.test> BODY=BINARYMIME", 555, "5.5.4"),
    ("MAIL FROM:<s@remote.test> BODY=8BITMIME BODY=8BITMIME", 555, "5.5.4"),
    ("VRFY", 501, "5.5.4"),
])
def test_protocol_syntax_errors(env, daemon, line, code, enh):
    with greeted(env) as c:
        r = c.cmd(line)
        assert r.code == code, r
        if enh:
            assert r.enh == enh, r
        else:
            assert r.enh and r.enh.startswith("5."), r
        # The failed MAIL opened no transaction.
        r = c.cmd("RCPT TO:<user1@example.test>")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        c.quit()


def test_protocol_rcpt_syntax_errors(env, daemon):
    with greeted(env) as c:
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        for line in ("RCPT TO:user1@example.test", "RCPT TO:<user1@example.test", "RCPT FROM:<a@b>",
                     "RCPT TO:<>", "RCPT TO:<user1@example.test> NOTIFY=SOMETIMES"):
            r = c.cmd(line)
            assert 500 <= r.code <= 555 and r.enh and r.enh.startswith("5."), (line, r)
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        c.quit()


def test_protocol_parameters_need_ehlo(env, daemon):
    with env.connect() as c:
        c.reply()
        assert c.cmd("HELO client.example").code == 250
        r = c.cmd("MAIL FROM:<s@remote.test> SIZE=10")
        assert r.code == 555 and r.enh == "5.5.4", r
        c.quit()


def test_protocol_data_with_argument_501(env, daemon):
    with greeted(env) as c:
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        r = c.cmd("DATA now")
        assert (r.code, r.enh) == (501, "5.5.4"), r
        assert c.cmd("DATA").code == 354
        c.send(data_wire(SIMPLE))
        daemon.wait_removed(c.reply().queue_id())
        c.quit()


def test_protocol_commands_case_insensitive(env, daemon):
    with env.connect() as c:
        c.reply()
        assert c.cmd("ehlo client.example").code == 250
        assert c.cmd("mail from:<s@remote.test>").code == 250
        assert c.cmd("rcpt to:<user1@example.test>").code == 250
        assert c.cmd("data").code == 354
        c.send(data_wire(SIMPLE))
        qid = c.reply().queue_id()
        assert c.cmd("quit").code == 221
    daemon.wait_removed(qid)


def test_protocol_over_long_command_line(env, daemon):
    with greeted(env) as c:
        # 512 octets with CRLF (RFC 5321 4.5.3.1.4) is fine.
        r = c.cmd("NOOP " + "x" * (512 - 7))
        assert r.code == 250, r
        r = c.cmd("NOOP " + "x" * 5000)
        assert (r.code, r.enh) == (500, "5.5.2"), r
        assert_alive(c)
        # A megabyte without CRLF is swallowed, then answered once; a
        # "QUIT" between bare LFs inside it is never executed.
        c.send(b"NOOP " + b"y" * 500000 + b"\nQUIT\n" + b"z" * 500000 + b"\r\nNOOP\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (500, "5.5.2"), r
        r = c.reply()
        assert (r.code, r.enh) == (250, "2.0.0"), r
        c.quit()


def test_protocol_nul_bare_cr_bare_lf_in_command(env, daemon):
    with greeted(env) as c:
        for bad in (b"NOOP\x00\r\n", b"NOOP\nNOOP\r\n", b"NOOP\rNOOP\r\n", b"QUIT\nX\r\n"):
            c.send(bad)
            r = c.reply()
            assert (r.code, r.enh) == (500, "5.5.2"), (bad, r)
        assert_alive(c)
        # MAIL with a bare LF inside is not executed either.
        c.send(b"MAIL FROM:<s@remote.test>\nRCPT TO:<user1@example.test>\r\n")
        assert c.reply().code == 500
        r = c.cmd("RCPT TO:<user1@example.test>")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        c.quit()


def test_protocol_garbage_bytes_then_421_after_too_many_errors(env, daemon):
    rnd = random.Random(1234)
    with env.connect() as c:
        assert c.reply().code == 220
        replies = []
        try:
            for _ in range(60):
                junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
                junk = junk.replace(b"\r\n", b"")
                c.send(junk + b"\r\n")
                replies.append(c.reply())
                if replies[-1].code == 421:
                    break
        except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
            pass
        assert replies, "no reply to garbage"
        for r in replies[:-1]:
            assert 500 <= r.code < 600 and r.enh and r.enh.startswith("5."), r
        assert (replies[-1].code, replies[-1].enh) == (421, "4.7.0"), replies[-1]
        assert len(replies) <= 30
        c.expect_close()
    # The daemon is fine: a new client gets served.
    with greeted(env) as c2:
        assert_alive(c2)
        c2.quit()


def test_protocol_random_binary_streams_do_not_crash(env, daemon):
    rnd = random.Random(99)
    for _ in range(10):
        with env.connect() as c:
            c.reply()
            try:
                c.send(bytes(rnd.randrange(256) for _ in range(20000)))
                c.send(b"\r\nQUIT\r\n")
                c.expect_close()
            except (ConnectionClosed, BrokenPipeError, ConnectionResetError):
                pass
    with greeted(env) as c:
        assert_alive(c)
        c.quit()
    assert env.queue_files() == [] and env.mail_files() == []


def test_protocol_vrfy_expn_help_noop_rset(env, daemon):
    with greeted(env) as c:
        r = c.cmd("VRFY user1")
        assert (r.code, r.enh) == (252, "2.5.0"), r
        r = c.cmd("EXPN staff")
        assert r.code in (502, 252) and r.enh is not None, r
        r = c.cmd("HELP")
        assert r.code == 214 and r.enh == "2.0.0", r
        r = c.cmd("NOOP anything")
        assert (r.code, r.enh) == (250, "2.0.0"), r
        r = c.cmd("RSET")
        assert (r.code, r.enh) == (250, "2.0.0"), r
        r = c.cmd("RSET now")
        assert r.code == 501 and r.enh == "5.5.4", r
        c.quit()


def test_protocol_quit_221_then_close(env, daemon):
    with greeted(env) as c:
        replies = c.quit()
        assert len(replies) == 1
        r = replies[0]
        assert (r.code, r.enh) == (221, "2.0.0") and "mx.example.test" in r.text, r


def test_protocol_quit_with_argument_is_501(env, daemon):
    with greeted(env) as c:
        r = c.cmd("QUIT now")
        assert (r.code, r.enh) == (501, "5.5.4"), r
        c.quit()


def test_protocol_every_reply_has_enhanced_code(env, daemon):
    script = ["NOOP", "MAIL FROM:<s@remote.test>", "HELO client.example", "EHLO client.example",
              "MAIL FROM:<s@remote.test>", "MAIL FROM:<s@remote.test>",
              "RCPT TO:<nobody@example.test>", "RCPT TO:<x@elsewhere.test>",
              "RCPT TO:<user1@example.test>", "RCPT TO:<postmaster>", "RSET", "DATA", "VRFY x",
              "EXPN x", "HELP", "BOGUS", "MAIL FROM:<>", "RCPT TO:<>", "RCPT TO:<user2@example.test>",
              "DATA"]
    with env.connect() as c:
        c.reply()
        for line in script:
            c.cmd(line)
        c.send(data_wire(SIMPLE))
        c.reply()
        c.quit()
        replies = c.replies
    for r in replies[1:]:
        if r.lines[0] in ("mx.example.test",):       # HELO/EHLO: no code (RFC 2034 3)
            continue
        if r.code == 354:
            continue                                 # RFC 2034: only 2xx/4xx/5xx carry one
        for line in r.lines:
            m = re.match(r"^([245])\.\d{1,3}\.\d{1,3} ", line)
            assert m and int(m.group(1)) == r.code // 100, r


# ---- BDAT (RFC 3030) -------------------------------------------------------------------

def bdat_begin(c, rcpt="user1@example.test"):
    assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250


def test_bdat_chunks_delivered_raw(env, daemon):
    parts = [b"Subject: chunks\r\n\r\nfirst ", b"half\r\n.\r\n..not unstuffed\r\n", b"end\r\n"]
    with greeted(env) as c:
        bdat_begin(c)
        for p in parts[:-1]:
            c.send(b"BDAT %d\r\n" % len(p) + p)
            r = c.reply()
            assert (r.code, r.enh, r.message) == (250, "2.0.0", "%d octets received" % len(p)), r
        c.send(b"BDAT %d LAST\r\n" % len(parts[-1]) + parts[-1])
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    rest = split_delivered(env.new_files("user1")[0].read_bytes())[3]
    assert rest == b"".join(parts).replace(b"\r\n", b"\n")


def test_bdat_zero_last_ends_message(env, daemon):
    with greeted(env) as c:
        bdat_begin(c)
        c.send(b"BDAT 15\r\nSubject: zero\r\n")
        assert c.reply().message == "15 octets received"
        r = c.cmd("BDAT 0 LAST")
        qid = r.queue_id()
        c.quit()
    daemon.wait_removed(qid)
    assert split_delivered(env.new_files("user1")[0].read_bytes())[3] == b"Subject: zero\n"


def test_bdat_pipelined_with_envelope(env, daemon):
    chunk = b"Subject: piped\r\n\r\nbody\r\n"
    with greeted(env) as c:
        c.send(b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<user1@example.test>\r\n"
               b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"QUIT\r\n")
        replies = c.expect_close()
    assert [r.code for r in replies] == [250, 250, 250, 221], replies
    daemon.wait_removed(replies[2].queue_id())
    assert split_delivered(env.new_files("user1")[0].read_bytes())[3] == chunk.replace(b"\r\n", b"\n")


def test_bdat_without_mail_skips_chunk(env, daemon):
    with greeted(env) as c:
        # The chunk holds a command; it must be read as data and dropped.
        c.send(b"BDAT 6\r\nQUIT\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (503, "5.5.1"), r
        assert_alive(c)
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        c.send(b"BDAT 6 LAST\r\nNOOP\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (503, "5.5.1"), r
        assert_alive(c)
        c.quit()
    assert env.queue_files() == [] and env.mail_files() == []


def test_bdat_bad_argument_skips_chunk(env, daemon):
    with greeted(env) as c:
        bdat_begin(c)
        c.send(b"BDAT 6 NOTLAST\r\nQUIT\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (501, "5.5.4"), r
        assert_alive(c)
        c.quit()


def test_bdat_unparsable_size_closes(env, daemon):
    with greeted(env) as c:
        bdat_begin(c)
        c.send(b"BDAT lots\r\nwhatever\r\n")
        replies = c.expect_close()
        assert replies and replies[0].code == 501 and replies[0].enh == "5.5.4", replies
    assert env.queue_files() == []


def test_bdat_then_data_is_refused(env, daemon):
    with greeted(env) as c:
        bdat_begin(c)
        c.send(b"BDAT 10\r\nSubject: x")
        assert c.reply().code == 250
        r = c.cmd("DATA")
        assert (r.code, r.enh) == (503, "5.5.1"), r
        # The message failed; the next transaction starts afresh and only it is delivered.
        r = c.cmd("RCPT TO:<user2@example.test>")
        assert r.code == 503, r
        qid = send_mail(c, "s@remote.test", ["user2@example.test"], SIMPLE, greet=False)
        c.quit()
    daemon.wait_removed(qid)
    assert env.mail_files() == [p for p in env.mail_files() if p.startswith("example.test/user2/")]
    assert len(env.new_files("user2")) == 1
    assert not env.maildir("user1").exists()


def test_bdat_large_chunks(env, daemon):
    chunk = os.urandom(300000).replace(b"\r", b"").replace(b"\n", b"")
    with greeted(env) as c:
        bdat_begin(c)
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        assert c.reply().message == "%d octets received" % len(chunk)
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    assert split_delivered(env.new_files("user1")[0].read_bytes())[3] == chunk + chunk
