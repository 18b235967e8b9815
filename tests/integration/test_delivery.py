"""Local delivery end to end: what a client sends is what lands in the Maildir.

Each test sends through a real client (smtplib, the raw client or swaks) and
compares the stored file byte for byte: the two headers vsmtpd adds, the
Received: header (by regex), and the message as sent with CRLF turned into
LF and dot-stuffing removed. After delivery nothing may remain in the spool
(tmp/, queue/) nor in the Maildir's tmp/.
"""

import email.utils
import re
import smtplib
import subprocess
from pathlib import Path

from helpers import (RECEIVED_RE, data_wire, send_mail, split_delivered, wait_for_file)


def check_stored(path, sender, rcpt, message, qid, helo="client.example", proto="ESMTP",
                 host="mx.example.test", for_rcpt=True, ip="127.0.0.1"):
    """Asserts the stored file at path, byte for byte; returns its bytes."""
    data = Path(path).read_bytes()
    rp, dt, received, rest = split_delivered(data)
    assert rp == b"Return-Path: <" + sender.encode() + b">"
    assert dt == b"Delivered-To: " + rcpt.encode()
    m = re.match(RECEIVED_RE, received.decode("utf-8"))
    assert m, received
    assert m.group("helo") == helo
    assert m.group("ip") == ip
    assert m.group("host") == host
    assert m.group("proto") == proto
    assert m.group("id") == qid
    if for_rcpt:
        assert m.group("for") == rcpt
    else:
        assert m.group("for") is None
    assert email.utils.parsedate_to_datetime(m.group("date")) is not None
    assert rest == message.replace(b"\r\n", b"\n")
    # The Maildir name records the stored size (",S=<bytes>").
    size = re.search(r",S=(\d+)$", Path(path).name)
    assert size and int(size.group(1)) == len(data), Path(path).name
    return data


def smtplib_send(port, sender, rcpts, message, host="127.0.0.1"):
    """Sends with smtplib's low-level calls; returns the queue ID."""
    with smtplib.SMTP(host, port, local_hostname="client.example", timeout=30) as s:
        code, _ = s.ehlo()
        assert code == 250
        code, text = s.mail(sender)
        assert code == 250, text
        for r in rcpts:
            code, text = s.rcpt(r)
            assert code == 250, text
        code, text = s.data(message)
        assert code == 250, text
        m = re.match(rb"^2\.0\.0 Ok: queued as ([0-9A-Z]+)$", text)
        assert m, text
        return m.group(1).decode()


MESSAGE = (b"From: Sender <sender@remote.test>\r\n"
           b"To: user1@example.test\r\n"
           b"Subject: plain delivery\r\n"
           b"Message-ID: <plain-1@remote.test>\r\n"
           b"\r\n"
           b"Hello user1,\r\n"
           b"\r\n"
           b"  indented line\twith a tab  \r\n"
           b"last line\r\n")


def test_delivery_plain_smtplib_byte_exact(env, daemon):
    qid = smtplib_send(env.port, "sender@remote.test", ["user1@example.test"], MESSAGE)
    files = wait_for_file(env.maildir("user1") / "new" / "*")
    daemon.wait_removed(qid)
    assert len(files) == 1
    check_stored(files[0], "sender@remote.test", "user1@example.test", MESSAGE, qid)
    env.assert_no_leftovers()
    # Maildir structure: new/, cur/, tmp/ all exist.
    for sub in ("new", "cur", "tmp"):
        assert (env.maildir("user1") / sub).is_dir()


def test_delivery_several_recipients_one_file_each(env, daemon):
    rcpts = ["user1@example.test", "user2@example.test", "user3@example.test"]
    qid = smtplib_send(env.port, "sender@remote.test", rcpts, MESSAGE)
    daemon.wait_removed(qid)
    for r in rcpts:
        user = r.split("@")[0]
        files = env.new_files(user)
        assert len(files) == 1, (user, files)
        check_stored(files[0], "sender@remote.test", r, MESSAGE, qid, for_rcpt=False)
    env.assert_no_leftovers()


def test_delivery_same_recipient_twice_one_copy(env, daemon):
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test", "user1@example.test"], MESSAGE)
        c.quit()
    daemon.wait_removed(qid)
    assert len(env.new_files("user1")) == 1


def test_delivery_recipient_case_folded_to_lower_case_maildir(env, daemon):
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["USER2@Example.TEST"], MESSAGE)
        c.quit()
    daemon.wait_removed(qid)
    files = env.new_files("user2")
    assert len(files) == 1
    # The local part is kept as sent, the domain is lower-cased.
    assert files[0].read_bytes().split(b"\n")[1] == b"Delivered-To: USER2@example.test"
    # The domain's Maildir is the lower-case one; no other directory appears.
    assert sorted(p.name for p in env.mail.iterdir()) == ["example.test"]
    assert sorted(p.name for p in (env.mail / "example.test").iterdir()) == ["user2"]


def test_delivery_users_file_entry_is_case_insensitive(env, daemon):
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["caseuser@example.test"], MESSAGE)
        c.quit()
    daemon.wait_removed(qid)
    assert len(env.new_files("caseuser")) == 1


def test_delivery_users_file_full_address_only_in_its_domain(env, daemon):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = c.cmd("RCPT TO:<netonly@example.test>")
        assert (r.code, r.enh) == (550, "5.1.1"), r
        r = c.cmd("RCPT TO:<netonly@example.net>")
        assert (r.code, r.enh) == (250, "2.1.5"), r
        assert c.cmd("DATA").code == 354
        c.send(data_wire(MESSAGE))
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    assert len(env.new_files("netonly", "example.net")) == 1
    assert not env.maildir("netonly").exists()


def test_delivery_dot_stuffing_both_ways(env, daemon):
    # Lines that start with a dot: alone, doubled, followed by text; and a
    # line of just ".." and one of "..." (stuffed on the wire by data_wire).
    message = (b"Subject: dots\r\n\r\n"
               b".\r\n"
               b"..x\r\n"
               b".x\r\n"
               b"..\r\n"
               b"...\r\n"
               b"x.\r\n"
               b" .\r\n"
               b".\r\n")
    wire = data_wire(message)
    assert wire.startswith(b"Subject: dots\r\n\r\n..\r\n...x\r\n..x\r\n...\r\n....\r\n")
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(wire)
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    files = env.new_files("user1")
    assert len(files) == 1
    check_stored(files[0], "s@remote.test", "user1@example.test", message, qid)


def test_delivery_dot_stuffing_via_smtplib(env, daemon):
    message = b"Subject: dots\r\n\r\n.\r\n..x\r\n.x\r\nend\r\n"
    qid = smtplib_send(env.port, "s@remote.test", ["user1@example.test"], message)
    daemon.wait_removed(qid)
    files = env.new_files("user1")
    check_stored(files[0], "s@remote.test", "user1@example.test", message, qid)


def test_delivery_8bit_body_preserved(env, daemon):
    body = bytes(range(0x80, 0x100)) + b"\r\n" + "Grüße, ça va? Ωμέγα".encode("utf-8") + b"\r\n"
    message = b"Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n" \
              b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
    with env.connect() as c:
        c.reply()
        ehlo = c.ehlo()
        assert "8BITMIME" in ehlo.lines
        r = c.cmd("MAIL FROM:<s@remote.test> BODY=8BITMIME")
        assert (r.code, r.enh) == (250, "2.1.0"), r
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(data_wire(message))
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    files = env.new_files("user1")
    data = check_stored(files[0], "s@remote.test", "user1@example.test", message, qid)
    assert bytes(range(0x80, 0x100)) in data


def test_delivery_smtputf8_addresses(env):
    # No users file here: any local part is accepted, UTF-8 ones included.
    d = env.start(servers=[("mx", env.server(users=None))])
    sender = "jörg@bücher.test"
    rcpt = "δοκιμή@example.test"
    message = "Subject: ünïcödé\r\nFrom: <jörg@bücher.test>\r\n\r\nκείμενο\r\n".encode("utf-8")
    with env.connect() as c:
        c.reply()
        assert "SMTPUTF8" in c.ehlo().lines
        r = c.cmd("MAIL FROM:<%s> SMTPUTF8" % sender)
        assert (r.code, r.enh) == (250, "2.1.0"), r
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        assert (r.code, r.enh) == (250, "2.1.5"), r
        assert c.cmd("DATA").code == 354
        c.send(data_wire(message))
        qid = c.reply().queue_id()
        c.quit()
    d.wait_removed(qid)
    files = env.new_files(rcpt.split("@")[0])
    assert len(files) == 1
    # RFC 6531 3.7.3: the Received header says UTF8SMTP for such a transaction.
    check_stored(files[0], sender, rcpt, message, qid, proto="UTF8SMTP")


def test_delivery_utf8_address_without_smtputf8_refused(env, daemon):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        r = c.cmd("MAIL FROM:<jörg@bücher.test>")
        assert r.code in (501, 553, 555) and r.enh.startswith("5."), r
        r = c.cmd("MAIL FROM:<s@remote.test>")
        assert r.code == 250
        r = c.cmd("RCPT TO:<üser1@example.test>")
        assert r.code in (501, 553, 555) and r.enh.startswith("5."), r
        c.quit()


def test_delivery_null_sender(env, daemon):
    with env.connect() as c:
        qid = send_mail(c, "", ["user1@example.test"], MESSAGE)
        c.quit()
    daemon.wait_removed(qid)
    files = env.new_files("user1")
    check_stored(files[0], "", "user1@example.test", MESSAGE, qid)


def test_delivery_helo_gives_smtp_protocol(env, daemon):
    with env.connect() as c:
        assert c.reply().code == 220
        r = c.cmd("HELO old.client.example")
        assert r.code == 250 and r.lines == ["mx.example.test"], r
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(data_wire(MESSAGE))
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    check_stored(env.new_files("user1")[0], "s@remote.test", "user1@example.test", MESSAGE, qid,
                 helo="old.client.example", proto="SMTP")


def test_delivery_ten_megabytes_byte_exact(env, daemon):
    line = bytes(range(0x21, 0x7f)) * 2 + b"\r\n"            # 190 + 2 bytes
    body = b"".join(b"%07d " % i + line for i in range(10 * 1024 * 1024 // len(line)))
    message = b"Subject: big\r\n\r\n" + body
    assert len(message) > 10 * 1000 * 1000
    qid = smtplib_send(env.port, "s@remote.test", ["user1@example.test"], message)
    daemon.wait_removed(qid, timeout=120)
    files = env.new_files("user1")
    assert len(files) == 1
    check_stored(files[0], "s@remote.test", "user1@example.test", message, qid)
    env.assert_no_leftovers()


def test_delivery_message_without_final_crlf_gets_none_added(env, daemon):
    # "hello" CRLF "." CRLF: the CRLF before the dot is the message's own.
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: x\r\n\r\nhello\r\n.\r\n")
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    data = env.new_files("user1")[0].read_bytes()
    assert data.endswith(b"\n\nhello\n")


def test_delivery_empty_message(env, daemon):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b".\r\n")
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    data = env.new_files("user1")[0].read_bytes()
    _, _, _, rest = split_delivered(data)
    assert rest == b""


def test_delivery_several_messages_one_connection(env, daemon):
    ids = []
    with env.connect() as c:
        c.reply()
        c.ehlo()
        for i in range(5):
            msg = b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i)
            ids.append(send_mail(c, "s@remote.test", ["user1@example.test"], msg, greet=False))
        c.quit()
    assert len(set(ids)) == 5
    for qid in ids:
        daemon.wait_removed(qid)
    bodies = sorted(split_delivered(f.read_bytes())[3] for f in env.new_files("user1"))
    assert bodies == sorted(b"Subject: n%d\n\nbody %d\n" % (i, i) for i in range(5))


def test_delivery_unknown_user_550(env, daemon):
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        r = c.cmd("RCPT TO:<nobody@example.test>")
        assert (r.code, r.enh) == (550, "5.1.1"), r
        assert "nobody@example.test" in r.text
        r = c.cmd("DATA")
        assert r.code in (503, 554) and r.enh == "5.5.1", r
        c.quit()
    assert env.mail_files() == []
    assert env.queue_files() == []


def test_delivery_postmaster_always_accepted(env, daemon):
    # Not in the users file; bare <postmaster> and postmaster@ each local domain.
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test>").code == 250
        for rcpt in ("postmaster", "postmaster@example.test", "PostMaster@example.net"):
            r = c.cmd("RCPT TO:<%s>" % rcpt)
            assert (r.code, r.enh) == (250, "2.1.5"), (rcpt, r)
        assert c.cmd("DATA").code == 354
        c.send(data_wire(MESSAGE))
        qid = c.reply().queue_id()
        c.quit()
    daemon.wait_removed(qid)
    # The bare postmaster and postmaster@example.test may be one mailbox; the
    # example.net one is another.
    assert len(env.new_files("postmaster", "example.net")) == 1
    pm = env.new_files("postmaster", "example.test")
    assert 1 <= len(pm) <= 2
    env.assert_no_leftovers()


def test_delivery_bare_postmaster_null_sender(env, daemon):
    with env.connect() as c:
        qid = send_mail(c, "", ["Postmaster"], MESSAGE)
        c.quit()
    daemon.wait_removed(qid)
    files = env.new_files("postmaster")
    assert len(files) == 1
    # RFC 5321 4.1.1.3: <postmaster> alone is postmaster at the first local domain.
    check_stored(files[0], "", "Postmaster@example.test", MESSAGE, qid)


def test_delivery_swaks_pipelined(env, daemon):
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % env.port, "--pipeline", "--to",
         "user1@example.test,user2@example.test", "--from", "p@remote.test", "--timeout", "30"],
        capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    m = re.search(rb"<-\s+250 2\.0\.0 Ok: queued as ([0-9A-Z]+)", out.stdout)
    assert m, out.stdout.decode()
    daemon.wait_removed(m.group(1).decode())
    for u in ("user1", "user2"):
        files = env.new_files(u)
        assert len(files) == 1
        assert b"This is a test mailing" in files[0].read_bytes()


def test_delivery_swaks(env, daemon):
    body = "swaks test body\nsecond line"
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % env.port, "--to", "user3@example.test",
         "--from", "swaks@remote.test", "--helo", "swaks.client.example",
         "--header", "Subject: via swaks", "--body", body, "--timeout", "30"],
        capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    m = re.search(rb"<-  250 2\.0\.0 Ok: queued as ([0-9A-Z]+)", out.stdout)
    assert m, out.stdout.decode()
    daemon.wait_removed(m.group(1).decode())
    files = env.new_files("user3")
    assert len(files) == 1
    data = files[0].read_bytes()
    assert data.startswith(b"Return-Path: <swaks@remote.test>\nDelivered-To: user3@example.test\n")
    _, _, received, rest = split_delivered(data)
    assert b"from swaks.client.example ([127.0.0.1])" in received
    assert b"Subject: via swaks\n" in rest
    # swaks sends its own blank lines after the body.
    assert b"\n\nswaks test body\nsecond line\n" in rest
    env.assert_no_leftovers()
