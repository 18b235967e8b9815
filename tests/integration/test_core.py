"""test_core.py — the core issue end to end: receive, spool, deliver to Maildir.

Real vsmtpd processes, real clients (smtplib, raw sockets, swaks), and the
Maildir checked byte for byte.
"""
import os
import re
import shutil
import smtplib
import subprocess
import threading

import pytest

from harness import Daemon, RawClient, free_port, parse_maildir_file, VSMTPD

MX = """listen = 127.0.0.1:{port}
hostname = mx.example.test
local_domains = example.test
mailbox = maildir:{{mail}}/%d/%u
users = {{users}}
relay_networks = 10.9.9.0/24
max_message_size = 20M
max_recipients = 5
max_messages_per_connection = 3
timeout_command = 2s
timeout_data = 3s
"""

MX2 = """listen = 127.0.0.2:{port}
hostname = mx2.example.test
local_domains = example.org
mailbox = maildir:{{mail}}/%d/%u
relay_networks = 127.0.0.0/8
max_message_size = 1K
max_recipients = 2
"""


@pytest.fixture
def d(tmp_path):
    port = free_port()
    daemon = Daemon(tmp_path, {"mx": MX.format(port=port), "mx2": MX2.format(port=port)})
    daemon.port = port
    daemon.start()
    yield daemon
    daemon.stop()


def raw(d, host="127.0.0.1"):
    c = RawClient(host, d.port)
    code, _ = c.reply()
    assert code == 220
    return c


def ehlo(c):
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    return lines


MSG = (b"From: a@b.test\r\nTo: user1@example.test\r\nSubject: hello\r\n\r\n"
       b"line one\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n")


def test_plain_delivery_is_byte_exact(d):
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("a@b.test", ["user1@example.test"], MSG)
    (f,) = d.wait_mail("example.test", "user1")
    rp, dt, received, rest = parse_maildir_file(f)
    assert rp == "a@b.test"
    assert dt == "user1@example.test"
    assert re.match(r"Received: from \S+ \(\[127\.0\.0\.1\]\)\n\tby mx\.example\.test \(vsmtpd\) "
                    r"with ESMTP id [0-9A-V]+\n\tfor <user1@example\.test>; .+\n$", received), received
    assert rest == MSG.replace(b"\r\n", b"\n")
    d.wait_log(r"event=removed")
    assert d.spool_files("queue") == [] and d.spool_files("tmp") == []
    assert d.maildir_files("example.test", "user1", "tmp") == []


def test_ehlo_advertises_extensions(d):
    c = raw(d)
    lines = ehlo(c)
    assert lines[0] == "250-mx.example.test"
    exts = [l[4:] for l in lines[1:]]
    for e in ("PIPELINING", "SIZE 20971520", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "CHUNKING"):
        assert e in exts


def test_several_recipients_one_file_each(d):
    with smtplib.SMTP("127.0.0.1", d.port) as s:
        s.sendmail("a@b.test", ["user1@example.test", "User2@Example.Test", "postmaster@example.test"], MSG)
    for user, addr in (("user1", "user1@example.test"), ("user2", "User2@example.test"),
                       ("postmaster", "postmaster@example.test")):
        (f,) = d.wait_mail("example.test", user)
        _, dt, received, rest = parse_maildir_file(f)
        assert dt == addr
        assert "\tfor <" not in received
        assert rest == MSG.replace(b"\r\n", b"\n")


def test_dot_stuffing_and_8bit_body(d):
    body = b"Subject: 8bit\r\n\r\n" + bytes(range(0x80, 0x100)) + b"\r\n.\r\n..\r\n.x\r\n"
    c = raw(d)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.test> BODY=8BITMIME")[0] == 250
    assert c.cmd("RCPT TO:<user1@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    stuffed = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in body.split(b"\r\n")[:-1])
    c.send(stuffed + b".\r\n")
    code, lines = c.reply()
    assert code == 250 and re.match(r"250 2\.0\.0 Ok: queued as [0-9A-V]+$", lines[0])
    (f,) = d.wait_mail("example.test", "user1")
    assert parse_maildir_file(f)[3] == body.replace(b"\r\n", b"\n")


def test_pipelined_replies_in_order(d):
    c = raw(d)
    ehlo(c)
    c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<user1@example.test>\r\n"
           b"RCPT TO:<x@remote.test>\r\nDATA\r\n")
    assert c.reply()[0] == 250
    code, lines = c.reply()
    assert code == 550 and lines[0].startswith("550 5.1.1 ")
    assert c.reply()[0] == 250
    code, lines = c.reply()
    assert code == 554 and "5.7.1" in lines[0] and "Relay access denied" in lines[0]
    assert c.reply()[0] == 354
    c.send(b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    d.wait_mail("example.test", "user1")


def test_bdat_chunks(d):
    c = raw(d)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("RCPT TO:<user1@example.test>")[0] == 250
    part1 = b"Subject: chunks\r\n\r\nfirst "
    part2 = b"second\r\n.not stuffed\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, lines = c.reply()
    assert code == 250 and lines[0] == "250 2.0.0 %d octets received" % len(part1)
    c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, lines = c.reply()
    assert code == 250 and "queued as" in lines[0]
    (f,) = d.wait_mail("example.test", "user1")
    assert parse_maildir_file(f)[3] == (part1 + part2).replace(b"\r\n", b"\n")
    # BDAT without a transaction: the chunk is read and refused.
    c.send(b"BDAT 5\r\nhello")
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250


def test_bdat_zero_last(d):
    c = raw(d)
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    c.send(b"BDAT 9\r\nSubject: ")
    assert c.reply()[0] == 250
    assert c.cmd("BDAT 0 LAST")[0] == 250
    (f,) = d.wait_mail("example.test", "user1")
    assert parse_maildir_file(f)[3] == b"Subject: "


@pytest.mark.parametrize("ending", [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r\n\x00.\r\n"])
def test_smuggling_is_refused(d, ending):
    c = raw(d)
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: smuggle\r\n\r\nbody" + ending +
           b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<user2@example.test>\r\nDATA\r\nevil\r\n.\r\n")
    code, lines = c.reply()
    assert code == 550 and lines[0].startswith(("550 5.5.2", "550 5.6.0")), lines
    assert c.cmd("NOOP")[0] == 250      # nothing smuggled was answered
    c.cmd("QUIT")
    d.wait_log(r"event=rejected")
    assert d.maildir_files("example.test", "user1") == []
    assert d.maildir_files("example.test", "user2") == []
    assert d.spool_files("queue") == [] and d.spool_files("tmp") == []


def test_unknown_user_and_relay_denied(d):
    c = raw(d)
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    code, lines = c.cmd("RCPT TO:<nobody@example.test>")
    assert code == 550 and lines[0].startswith("550 5.1.1")
    code, lines = c.cmd("RCPT TO:<someone@remote.test>")
    assert code == 554 and lines[0].startswith("554 5.7.1") and "Relay access denied" in lines[0]


@pytest.mark.parametrize("addr", [
    "<user%remote.test@example.test>", "<\"user@remote.test\"@example.test>",
    "<@example.test:user@remote.test>", "<user@remote.test@example.test>",
    "<remote.test!user@example.test>", "<user@[127.0.0.9]>", "<user@remote.test.>",
    "<USER@REMOTE.TEST>", "<\"user%remote.test\"@example.test>"])
def test_relay_tricks_never_queue(d, addr):
    c = raw(d)
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    code, _ = c.cmd("RCPT TO:%s" % addr)
    assert code >= 500
    assert c.cmd("DATA")[0] >= 500
    assert d.spool_files("queue") == []


def test_relay_from_relay_network_is_queued(d):
    # mx2 relays for 127.0.0.0/8: the message waits in the queue for remote delivery.
    c = raw(d, "127.0.0.2")
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    assert c.cmd("RCPT TO:<someone@remote.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: relay\r\n\r\nx\r\n.\r\n")
    code, lines = c.reply()
    qid = re.search(r"queued as ([0-9A-V]+)", lines[0]).group(1)
    d.wait_log(r"event=deferred id=%s" % qid)
    assert d.spool_files("queue") == [qid]


def test_two_virtual_servers_have_their_own_policy(d):
    c = raw(d, "127.0.0.2")
    lines = ehlo(c)
    assert lines[0] == "250-mx2.example.test" and "250-SIZE 1024" in lines
    c.cmd("MAIL FROM:<a@b.test>")
    assert c.cmd("RCPT TO:<anyone@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<other@example.org>")[0] == 250
    code, lines = c.cmd("RCPT TO:<third@example.org>")
    assert code == 452 and lines[0].startswith("452 4.5.3")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: big\r\n\r\n" + b"x" * 2000 + b"\r\n.\r\n")
    code, lines = c.reply()
    assert code == 552 and lines[0].startswith("552 5.3.4")
    # example.test is not local to mx2, example.org is not local to mx.
    c.cmd("MAIL FROM:<a@b.test>")
    assert c.cmd("RCPT TO:<user1@example.test>")[0] == 250   # relay for 127/8 on mx2
    c2 = raw(d)
    ehlo(c2)
    c2.cmd("MAIL FROM:<a@b.test>")
    assert c2.cmd("RCPT TO:<anyone@example.org>")[0] == 554
    # SIZE= over the limit is refused at MAIL.
    c3 = raw(d, "127.0.0.2")
    ehlo(c3)
    code, lines = c3.cmd("MAIL FROM:<a@b.test> SIZE=5000")
    assert code == 552 and "5.3.4" in lines[0]


def test_any_local_part_domain_delivers(d):
    with smtplib.SMTP("127.0.0.2", d.port) as s:
        s.sendmail("a@b.test", ["Someone.Else@example.org"], b"Subject: x\r\n\r\nhi\r\n")
    (f,) = d.wait_mail("example.org", "someone.else")
    assert parse_maildir_file(f)[1] == "Someone.Else@example.org"


def test_bare_postmaster(d):
    c = raw(d)
    ehlo(c)
    c.cmd("MAIL FROM:<>")
    assert c.cmd("RCPT TO:<Postmaster>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: pm\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    (f,) = d.wait_mail("example.test", "postmaster")
    rp, dt, _, _ = parse_maildir_file(f)
    assert rp == "" and dt == "Postmaster@example.test"


def test_ten_megabyte_message(d):
    body = b"Subject: big\r\n\r\n" + (b"0123456789" * 99 + b"\r\n") * 10100
    with smtplib.SMTP("127.0.0.1", d.port, timeout=60) as s:
        s.sendmail("a@b.test", ["user1@example.test"], body)
    (f,) = d.wait_mail("example.test", "user1", timeout=60)
    assert parse_maildir_file(f)[3] == body.replace(b"\r\n", b"\n")


def test_protocol_errors(d):
    c = raw(d)
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 503          # before HELO
    assert c.cmd("FOOBAR")[0] == 500
    code, lines = c.cmd("HELO")
    assert code == 501
    ehlo(c)
    assert c.cmd("RCPT TO:<user1@example.test>")[0] == 503  # before MAIL
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 503          # nested
    assert c.cmd("DATA")[0] == 554                          # no valid recipients
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("MAIL FROM:<not an address>")[0] == 501
    assert c.cmd("VRFY user1")[0] == 252
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("RSET")[0] == 250
    code, lines = c.cmd("X" * 5000)
    assert code == 500 and "5.5.2" in lines[0]
    c.send(b"NOOP\x00\r\n")
    assert c.reply()[0] == 500
    c.send(b"NOOP\nNOOP\r\n")                                 # bare LF in a command
    assert c.reply()[0] == 500
    assert c.cmd("QUIT")[0] == 221
    assert c.closed()


def test_every_reply_has_an_enhanced_code(d):
    c = raw(d)
    for line in ["HELO x", "EHLO x", "MAIL FROM:<a@b.test>", "RCPT TO:<user1@example.test>", "RSET",
                 "NOOP", "VRFY x", "HELP", "BOGUS", "MAIL FROM:<>", "RCPT TO:<>", "DATA"]:
        code, lines = c.cmd(line)
        if line.startswith(("EHLO", "HELO")):
            continue        # RFC 2034 3: no enhanced code on HELO/EHLO replies
        assert re.match(r"\d{3} [245]\.\d{1,3}\.\d{1,3} ", lines[-1]), (line, lines)


def test_too_many_recipients_and_messages(d):
    c = raw(d)
    ehlo(c)
    for n in range(3):
        c.cmd("MAIL FROM:<a@b.test>")
        for i in range(5):
            assert c.cmd("RCPT TO:<user1@example.test>")[0] == 250
        code, lines = c.cmd("RCPT TO:<user2@example.test>")
        assert code == 452 and lines[0].startswith("452 4.5.3")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: n\r\n\r\nx\r\n.\r\n")
        assert c.reply()[0] == 250
    code, lines = c.cmd("MAIL FROM:<a@b.test>")
    assert code == 421 and lines[0].startswith("421 4.7.0")
    assert c.closed()
    # duplicates of one recipient are delivered once
    d.wait_mail("example.test", "user1", count=3)
    d.wait_log(r"event=removed", count=3)
    assert len(d.maildir_files("example.test", "user1")) == 3


def test_command_timeout(d):
    c = raw(d)
    ehlo(c)
    code, lines = c.reply()   # waits for the server's timeout (2s)
    assert code == 421 and lines[0].startswith("421 4.4.2")
    assert c.closed()


def test_disconnect_mid_data_leaves_nothing(d):
    c = raw(d)
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    c.cmd("DATA")
    c.send(b"Subject: cut\r\n\r\n" + b"x" * 100000)
    c.close()
    d.wait_log(r"event=disconnect")
    assert d.spool_files("tmp") == [] and d.spool_files("queue") == []
    assert d.maildir_files("example.test", "user1") == []


def test_data_timeout(d):
    c = raw(d)
    ehlo(c)
    c.cmd("MAIL FROM:<a@b.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    c.cmd("DATA")
    c.send(b"Subject: slow\r\n\r\npartial")
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.4.2")
    assert c.closed()
    d.wait_log(r"event=disconnect")
    assert d.spool_files("tmp") == []


def test_garbage_does_not_crash(d):
    c = raw(d)
    c.send(bytes(range(256)) * 20 + b"\r\n")
    code, _ = c.reply()
    assert code == 500
    assert c.cmd("NOOP")[0] == 250


def test_concurrent_clients_all_delivered_once(d):
    errors = []

    def client(n):
        try:
            with smtplib.SMTP("127.0.0.1", d.port, timeout=30) as s:
                for i in range(3):
                    s.sendmail("a@b.test", ["user2@example.test"], b"Subject: c%d-%d\r\n\r\nx\r\n" % (n, i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    files = d.wait_mail("example.test", "user2", count=30, timeout=60)
    subjects = sorted(open(f, "rb").read().split(b"Subject: ")[1].split(b"\n")[0] for f in files)
    assert subjects == sorted(b"c%d-%d" % (n, i) for n in range(10) for i in range(3))


def test_kill9_after_250_then_restart_delivers_once(tmp_path):
    port = free_port()
    d = Daemon(tmp_path, {"mx": MX.format(port=port)})
    d.port = port
    d.start()
    ids = []
    for i in range(5):
        with smtplib.SMTP("127.0.0.1", port) as s:
            s.sendmail("a@b.test", ["user1@example.test"], b"Subject: k%d\r\n\r\nx\r\n" % i)
    d.kill9()
    # Whatever was not delivered before the kill is in the spool; a restart delivers it.
    d.start()
    files = d.wait_mail("example.test", "user1", count=5, timeout=30)
    d.stop()
    assert len(files) == 5
    assert d.spool_files("queue") == [] and d.spool_files("tmp") == []


def test_restart_recovers_queued_message(tmp_path):
    # A message that cannot be delivered yet (its Maildir path is blocked by a
    # file) stays queued across a SIGKILL and is delivered after the block goes.
    port = free_port()
    d = Daemon(tmp_path, {"mx": MX.format(port=port) + "retry = 1s\n"})
    d.port = port
    os.makedirs(os.path.join(d.mail, "example.test", "user1"))
    blocker = os.path.join(d.mail, "example.test", "user1", "tmp")
    os.symlink("/nonexistent/dangling", blocker)
    d.start()
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("a@b.test", ["user1@example.test"], b"Subject: later\r\n\r\nx\r\n")
    d.wait_log(r"event=deferred")
    queued = d.spool_files("queue")
    assert len(queued) == 1
    d.kill9()
    os.unlink(blocker)
    # retry = 1s so the restarted daemon tries again at once or nearly.
    d.start()
    (f,) = d.wait_mail("example.test", "user1", timeout=30)
    d.stop()
    assert parse_maildir_file(f)[3] == b"Subject: later\n\nx\n"
    assert d.spool_files("queue") == []


def test_config_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("[global]\nspool = %s/spool\n[server a]\nlisten = 127.0.0.1:2999\nbogus_key = 1\n"
                   "max_message_size = 12Q\n[server b]\nlisten = 127.0.0.1:2999\n" % tmp_path)
    p = subprocess.run([VSMTPD, "-n", "-c", str(bad)], capture_output=True, text=True)
    assert p.returncode == 1
    assert "%s:5:" % bad in p.stderr and "bogus_key" in p.stderr
    assert "%s:6:" % bad in p.stderr
    assert "%s:8:" % bad in p.stderr
    good = tmp_path / "good.conf"
    good.write_text("[global]\nspool = %s/spool\n[server a]\nlisten = 127.0.0.1:2999\n" % tmp_path)
    p = subprocess.run([VSMTPD, "-n", "-c", str(good)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is installed by make deps")
def test_swaks_delivers(d):
    p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % d.port, "--from", "a@b.test",
                        "--to", "user1@example.test", "--pipeline"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    (f,) = d.wait_mail("example.test", "user1")
    assert b"This is a test mailing" in open(f, "rb").read()
