"""Crashes, restarts, aborted clients, shutdown and load.

Durability is checked the hard way: SIGKILL right after the 250 and a
restart on the same spool must deliver every accepted message exactly once;
a client that vanishes mid-message leaves nothing behind; SIGTERM with
clients connected ends them with 421 and exits 0; many concurrent clients
get every message delivered exactly once.
"""

import os
import re
import smtplib
import socket
import struct
import subprocess
import threading

from helpers import data_wire, free_port, send_mail, split_delivered, vsmtpd_binary, wait_for_file

SIMPLE = b"Subject: t\r\n\r\nbody\r\n"


def subjects(files):
    out = []
    for f in files:
        rest = split_delivered(f.read_bytes())[3]
        m = re.search(rb"^Subject: (.*)$", rest, re.M)
        out.append(m.group(1).decode() if m else None)
    return sorted(out)


def test_disconnect_mid_data_leaves_nothing(env, daemon):
    c = env.connect()
    c.reply()
    c.ehlo()
    c.cmd("MAIL FROM:<s@remote.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: cut\r\n\r\n" + b"x" * 200000 + b"\r\n")
    mark = daemon.log_mark()
    c.close()
    daemon.wait_log(r"event=disconnect", start=mark)
    env.assert_no_leftovers()
    assert env.mail_files() == []
    assert not daemon.log_matches(r"event=queued")


def test_disconnect_mid_bdat_leaves_nothing(env, daemon):
    c = env.connect()
    c.reply()
    c.ehlo()
    c.cmd("MAIL FROM:<s@remote.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    c.send(b"BDAT 100\r\n" + b"y" * 100)
    assert c.reply().code == 250
    c.send(b"BDAT 100000 LAST\r\n" + b"y" * 5000)
    c.close()
    daemon.wait_log(r"event=disconnect")
    env.assert_no_leftovers()
    assert env.mail_files() == []


def test_reset_mid_data_leaves_nothing(env, daemon):
    c = env.connect()
    c.reply()
    c.ehlo()
    c.cmd("MAIL FROM:<s@remote.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    c.cmd("DATA")
    c.send(b"Subject: rst\r\n\r\npartial\r\n")
    # SO_LINGER 0: close sends a TCP RST instead of a FIN.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    daemon.wait_log(r"event=disconnect")
    env.assert_no_leftovers()
    assert env.mail_files() == []


def test_kill9_after_250_then_restart_loses_nothing(env):
    d = env.start()
    with env.connect() as c:
        c.reply()
        c.ehlo()
        ids = [send_mail(c, "s@remote.test", ["user1@example.test", "user2@example.test"],
                         b"Subject: k%d\r\n\r\nbody\r\n" % i, greet=False) for i in range(5)]
        d.kill9()           # right after the last 250
    d2 = env.start(write=False)
    assert d2.log_matches(r"event=ready .*queued=\d+")
    for qid in ids:
        if qid in env.queue_files():       # not removed before the kill: d2 removes it
            d2.wait_removed(qid)
    assert env.queue_files() == []
    assert os.listdir(env.spool / "tmp") == []
    # A Maildir tmp/ file of a delivery cut by the kill may remain: Maildir
    # readers remove such files after 36 hours (cr.yp.to/proto/maildir.html);
    # it is never in new/, so it is never read as mail.
    for u in ("user1", "user2"):
        assert set(subjects(env.new_files(u))) == {"k%d" % i for i in range(5)}, u


def test_kill9_under_load_then_restart_delivers_exactly_once(env):
    """Clients keep sending while vsmtpd is killed: every message that got its
    250 is delivered exactly once after the restart, and no message at all is
    delivered twice (deliveries in flight at the kill must not be repeated)."""
    d = env.start()
    accepted = []
    lock = threading.Lock()
    enough = threading.Event()

    def client(n):
        try:
            with env.connect() as c:
                c.reply()
                c.ehlo()
                for i in range(1000):
                    subject = "L%d-%d" % (n, i)
                    send_mail(c, "s@remote.test", ["user1@example.test", "user2@example.test"],
                              b"Subject: %s\r\n\r\nx\r\n" % subject.encode(), greet=False)
                    with lock:
                        accepted.append(subject)
                        if len(accepted) >= 60:
                            enough.set()
        except Exception:   # the kill cuts every client off, mid-reply or mid-send
            return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    assert enough.wait(60), "clients did not get 60 messages through"
    d.kill9()
    for t in threads:
        t.join(60)
    d2 = env.start(write=False)
    with lock:
        got = sorted(accepted)
    for u in ("user1", "user2"):
        wait_for_file(env.maildir(u) / "new" / "*", count=len(got), timeout=60)
    # Drain: every queue file goes once its recipients are done.
    for qid in env.queue_files():
        d2.wait_removed(qid, timeout=60)
    for u in ("user1", "user2"):
        delivered = subjects(env.new_files(u))
        dups = sorted({s for s in delivered if delivered.count(s) > 1})
        assert dups == [], "%s: delivered twice: %s" % (u, dups)
        missing = sorted(set(got) - set(delivered))
        assert missing == [], "%s: accepted but lost: %s" % (u, missing)


def test_kill9_mid_data_then_restart_delivers_nothing(env):
    d = env.start()
    c = env.connect()
    c.reply()
    c.ehlo()
    c.cmd("MAIL FROM:<s@remote.test>")
    c.cmd("RCPT TO:<user1@example.test>")
    c.cmd("DATA")
    c.send(b"Subject: half\r\n\r\n" + b"h" * 100000)
    d.wait_log(r"event=rcpt")
    d.kill9()
    c.close()
    d2 = env.start(write=False)
    # A message that never got its 250 is dropped at start (SPOOL/tmp is cleaned).
    assert d2.log_matches(r"event=ready .*queued=0")
    assert os.listdir(env.spool / "tmp") == []
    assert env.queue_files() == [] and env.mail_files() == []


def test_restart_delivers_message_queued_before_crash(env):
    # The Maildir is blocked (its tmp/ is a dangling symlink), so the message
    # stays queued; after SIGKILL, unblocking and restart it is delivered.
    blocked = env.maildir("user1")
    blocked.mkdir(parents=True)
    os.symlink("/nonexistent/vsmtpd-test", blocked / "tmp")
    d = env.start(servers=[("mx", env.server(retry="1s"))])
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], b"Subject: later\r\n\r\nx\r\n")
        c.quit()
    d.wait_log(r"event=deferred id=%s" % qid)
    assert env.queue_files() == [qid]
    d.kill9()
    os.unlink(blocked / "tmp")
    d2 = env.start(write=False)
    d2.wait_log(r"event=ready .*queued=1")
    d2.wait_removed(qid)
    files = env.new_files("user1")
    assert len(files) == 1
    assert split_delivered(files[0].read_bytes())[3] == b"Subject: later\n\nx\n"
    env.assert_no_leftovers()


def test_deferred_message_retried_without_restart(env):
    blocked = env.maildir("user1")
    blocked.mkdir(parents=True)
    os.symlink("/nonexistent/vsmtpd-test", blocked / "tmp")
    d = env.start(servers=[("mx", env.server(retry="1s"))])
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test", "user2@example.test"], SIMPLE)
        c.quit()
    d.wait_log(r"event=deferred id=%s to=<user1@example\.test>" % qid)
    # user2 is not held up by user1's problem.
    d.wait_log(r"event=delivered id=%s to=<user2@example\.test>" % qid)
    os.unlink(blocked / "tmp")
    d.wait_removed(qid, timeout=30)
    assert len(env.new_files("user1")) == 1
    assert len(env.new_files("user2")) == 1      # not delivered twice by the retry


def test_sigterm_with_clients_connected(env):
    d = env.start()
    idle = env.connect()
    idle.reply()
    busy = env.connect()
    busy.reply()
    busy.ehlo()
    busy.cmd("MAIL FROM:<s@remote.test>")
    busy.cmd("RCPT TO:<user1@example.test>")
    d.proc.send_signal(15)
    for c in (idle, busy):
        replies = c.expect_close()
        assert [(r.code, r.enh) for r in replies] == [(421, "4.3.2")], replies
        c.close()
    assert d.stop() == 0
    assert env.queue_files() == [] and env.mail_files() == []


def test_second_daemon_on_same_spool_refused(env):
    d = env.start()
    other = env.root / "other.conf"
    env.write_config(servers=[("mx", env.server(listen="127.0.0.1:%d" % free_port()))],
                     path=other)
    p = subprocess.run([d.binary, "-c", str(other)], cwd=str(env.root), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0
    assert "spool" in p.stderr
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr
    # The first one is unharmed.
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        c.quit()
    d.wait_removed(qid)


def test_listen_address_in_use_fails_cleanly(env):
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    blocker.bind(("127.0.0.1", env.port))
    blocker.listen(1)
    try:
        env.write_config()
        p = subprocess.run([vsmtpd_binary(), "-c", str(env.conf)],
                           cwd=str(env.root), capture_output=True, text=True, timeout=60)
    finally:
        blocker.close()
    assert p.returncode != 0
    assert "127.0.0.1:%d" % env.port in p.stderr
    assert "AddressSanitizer" not in p.stderr and "runtime error:" not in p.stderr


def test_concurrent_clients_all_delivered_exactly_once(env, daemon):
    nthreads, per_thread = 16, 5
    errors = []

    def client(n):
        try:
            with smtplib.SMTP("127.0.0.1", env.port, local_hostname="c%d.example" % n,
                              timeout=60) as s:
                for i in range(per_thread):
                    rcpts = ["user1@example.test"] + (["user2@example.test"] if i % 2 else [])
                    s.sendmail("s%d@remote.test" % n, rcpts,
                               b"Subject: c%d-%d\r\n\r\nfrom thread %d\r\n" % (n, i, n))
        except Exception as exc:   # reported in the main thread
            errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    total = nthreads * per_thread
    wait_for_file(env.maildir("user1") / "new" / "*", count=total, timeout=60)
    wait_for_file(env.maildir("user2") / "new" / "*", count=nthreads * (per_thread // 2), timeout=60)
    daemon.wait_log(r"event=removed", timeout=60)
    expect1 = sorted("c%d-%d" % (n, i) for n in range(nthreads) for i in range(per_thread))
    expect2 = sorted("c%d-%d" % (n, i) for n in range(nthreads) for i in range(per_thread) if i % 2)
    assert subjects(env.new_files("user1")) == expect1
    assert subjects(env.new_files("user2")) == expect2
    # Every queued message was removed once.
    queued = [m.group(1) for m in daemon.log_matches(r"event=queued .*id=([0-9A-Z]+)")]
    assert len(queued) == total and len(set(queued)) == total
    for qid in queued:
        daemon.wait_removed(qid, timeout=60)
    env.assert_no_leftovers()


def test_concurrent_raw_pipelined_clients(env, daemon):
    errors = []
    results = {}

    def client(n):
        try:
            with env.connect() as c:
                msgs = b"".join(
                    b"MAIL FROM:<p%d@remote.test>\r\nRCPT TO:<user3@example.test>\r\nDATA\r\n" % n +
                    data_wire(b"Subject: p%d-%d\r\n\r\n.\r\n" % (n, i)) for i in range(4))
                c.send(b"EHLO p.example\r\n" + msgs + b"QUIT\r\n")
                replies = c.expect_close()
                results[n] = [r.code for r in replies]
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for n, codes in results.items():
        assert codes == [220, 250] + [250, 250, 354, 250] * 4 + [221], (n, codes)
    wait_for_file(env.maildir("user3") / "new" / "*", count=48, timeout=60)
    assert subjects(env.new_files("user3")) == sorted("p%d-%d" % (n, i) for n in range(12)
                                                      for i in range(4))
