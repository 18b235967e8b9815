"""Per-server limits and timeouts, and several virtual servers in one daemon.

Each test starts vsmtpd with the limit it exercises set small, drives a
client over it, and checks the exact reply (RFC 5321 4.5.3.1.10 452 4.5.3,
RFC 1870 552 5.3.4, 421 4.4.2 timeouts, 421 4.7.0 connection limits) and
that nothing over a limit is delivered. Timeouts are waited for on the
socket, never with sleeps.
"""

import re
import socket
import time

from helpers import RECEIVED_RE, data_wire, free_port, send_mail, split_delivered

SIMPLE = b"Subject: t\r\n\r\nbody\r\n"


def start_with(env, **opts):
    return env.start(servers=[("mx", env.server(**opts))])


# ---- recipients ---------------------------------------------------------------------

def test_limit_too_many_recipients_452(env):
    d = start_with(env, max_recipients="3")
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        for u in ("user1", "user2", "user3"):
            assert c.cmd("RCPT TO:<%s@example.test>" % u).code == 250
        for u in ("postmaster", "caseuser"):
            r = c.cmd("RCPT TO:<%s@example.test>" % u)
            assert (r.code, r.enh) == (452, "4.5.3"), r
        # The transaction goes on with the three accepted.
        assert c.cmd("DATA").code == 354
        c.send(data_wire(SIMPLE))
        qid = c.reply().queue_id()
        # The next transaction has a fresh count.
        qid2 = send_mail(c, "s@remote.test", ["user1@example.test", "user2@example.test",
                                              "user3@example.test"], SIMPLE, greet=False)
        c.quit()
    d.wait_removed(qid)
    d.wait_removed(qid2)
    for u in ("user1", "user2", "user3"):
        assert len(env.new_files(u)) == 2
    assert not env.maildir("postmaster").exists() and not env.maildir("caseuser").exists()


def test_limit_refused_recipients_do_not_count(env):
    d = start_with(env, max_recipients="2")
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        for u in ("nobody1", "nobody2", "nobody3"):
            assert c.cmd("RCPT TO:<%s@example.test>" % u).code == 550
        assert c.cmd("RCPT TO:<user1@example.test>").code == 250
        assert c.cmd("RCPT TO:<user2@example.test>").code == 250
        assert c.cmd("RCPT TO:<user3@example.test>").code == 452
        c.quit()


# ---- message size ---------------------------------------------------------------------

def test_limit_size_parameter_over_limit_552(env):
    start_with(env, max_message_size="10K")
    with env.connect() as c:
        c.reply()
        assert "SIZE 10240" in c.ehlo().lines
        r = c.cmd("MAIL FROM:<s@remote.test> SIZE=10241")
        assert (r.code, r.enh) == (552, "5.3.4"), r
        r = c.cmd("MAIL FROM:<s@remote.test> SIZE=99999999999999999999999")
        assert r.code in (501, 552) and r.enh.startswith("5."), r
        r = c.cmd("MAIL FROM:<s@remote.test> SIZE=10240")
        assert (r.code, r.enh) == (250, "2.1.0"), r
        c.quit()


def test_limit_actual_size_over_limit_552(env):
    d = start_with(env, max_message_size="10K")
    big = b"Subject: big\r\n\r\n" + (b"z" * 98 + b"\r\n") * 120          # ~12 KB
    small = b"Subject: small\r\n\r\n" + (b"s" * 98 + b"\r\n") * 90       # ~9 KB
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        c.send(data_wire(big))
        r = c.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
        qid = send_mail(c, "s@remote.test", ["user2@example.test"], small, greet=False)
        c.quit()
    d.wait_removed(qid)
    assert env.new_files("user1") == []
    assert split_delivered(env.new_files("user2")[0].read_bytes())[3] == small.replace(b"\r\n", b"\n")
    env.assert_no_leftovers()


def test_limit_size_lying_size_parameter(env):
    # SIZE= announces little, the message is big: the real size decides.
    d = start_with(env, max_message_size="10K")
    with env.connect() as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@remote.test> SIZE=100").code == 250
        c.cmd("RCPT TO:<user1@example.test>")
        c.cmd("DATA")
        c.send(data_wire(b"Subject: liar\r\n\r\n" + b"q" * 98 + b"\r\n" + (b"q" * 98 + b"\r\n") * 200))
        r = c.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
        c.quit()
    assert env.mail_files() == [] and env.queue_files() == []
    assert d.running()


def test_limit_bdat_over_limit_552(env):
    start_with(env, max_message_size="10K")
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        chunk = b"a" * 6000
        c.send(b"BDAT 6000\r\n" + chunk)
        assert c.reply().code == 250
        c.send(b"BDAT 6000 LAST\r\n" + chunk)
        r = c.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
        assert c.cmd("NOOP").code == 250
        c.quit()
    assert env.mail_files() == [] and env.queue_files() == []


def test_limit_huge_bdat_chunk_refused_without_buffering(env):
    # A chunk announced far over the limit is refused after it is read; a
    # client that then disconnects leaves nothing behind.
    d = start_with(env, max_message_size="10K")
    with env.connect() as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        c.send(b"BDAT 1000000000 LAST\r\n" + b"b" * 200000)
    d.wait_log(r"event=disconnect")
    env.assert_no_leftovers()
    assert env.mail_files() == []


# ---- timeouts ---------------------------------------------------------------------------

def test_limit_command_timeout_421(env):
    start_with(env, timeout_command="2s")
    with env.connect(timeout=15) as c:
        c.reply()
        c.ehlo()
        t0 = time.monotonic()
        replies = c.expect_close()          # waits on the socket for the server's timeout
        elapsed = time.monotonic() - t0
    assert len(replies) == 1, replies
    assert (replies[0].code, replies[0].enh) == (421, "4.4.2"), replies
    assert 1.5 <= elapsed < 10, elapsed


def test_limit_command_timeout_before_helo(env):
    start_with(env, timeout_command="1s")
    with env.connect(timeout=15) as c:
        assert c.reply().code == 220
        replies = c.expect_close()
    assert [(r.code, r.enh) for r in replies] == [(421, "4.4.2")]


def test_limit_data_timeout_421_nothing_kept(env):
    d = start_with(env, timeout_command="30s", timeout_data="2s")
    with env.connect(timeout=15) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: slow\r\n\r\npartial line")
        t0 = time.monotonic()
        replies = c.expect_close()
        elapsed = time.monotonic() - t0
    assert [(r.code, r.enh) for r in replies] == [(421, "4.4.2")]
    assert 1.5 <= elapsed < 10, elapsed
    d.wait_log(r"event=disconnect")
    env.assert_no_leftovers()
    assert env.mail_files() == []


def test_limit_activity_resets_command_timeout(env):
    start_with(env, timeout_command="2s")
    with env.connect(timeout=15) as c:
        c.reply()
        c.ehlo()
        # NOOPs 0.5 s apart for 3 s: the 2 s timeout never fires.
        c.sock.settimeout(0.5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            try:
                c.sock.recv(1, socket.MSG_PEEK)
                raise AssertionError("unexpected bytes from server: %r" % c.sock.recv(1000))
            except TimeoutError:
                pass
            c.sock.settimeout(15)
            assert c.cmd("NOOP").code == 250
            c.sock.settimeout(0.5)
        c.sock.settimeout(15)
        c.quit()


# ---- per-connection limits ------------------------------------------------------------

def test_limit_max_messages_per_connection(env):
    d = start_with(env, max_messages_per_connection="2")
    with env.connect() as c:
        c.reply()
        c.ehlo()
        ids = [send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE, greet=False)
               for _ in range(2)]
        c.send(b"MAIL FROM:<s@remote.test>\r\n")
        replies = c.expect_close()
    assert [(r.code, r.enh) for r in replies] == [(421, "4.7.0")]
    for qid in ids:
        d.wait_removed(qid)
    assert len(env.new_files("user1")) == 2
    # A new connection may send again.
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        c.quit()
    d.wait_removed(qid)


def test_limit_max_connections_per_ip(env):
    d = start_with(env, max_connections_per_ip="2")
    a, b = env.connect(), env.connect()
    assert a.reply().code == 220 and b.reply().code == 220
    with env.connect() as third:
        replies = third.expect_close()
    assert [(r.code, r.enh) for r in replies] == [(421, "4.7.0")]
    # Another address is not affected.
    with env.connect(source="127.0.0.3") as other:
        assert other.reply().code == 220
        other.quit()
    mark = d.log_mark()
    a.quit()
    a.close()
    d.wait_log(r"event=disconnect", start=mark)
    with env.connect() as again:
        assert again.reply().code == 220
        again.quit()
    b.quit()
    b.close()


def test_limit_max_connections(env):
    start_with(env, max_connections="2")
    a = env.connect(source="127.0.0.1")
    b = env.connect(source="127.0.0.3")
    assert a.reply().code == 220 and b.reply().code == 220
    with env.connect(source="127.0.0.4") as third:
        replies = third.expect_close()
    assert [(r.code, r.enh) for r in replies] == [(421, "4.7.0")]
    a.quit()
    b.quit()
    a.close()
    b.close()


def test_limit_deny_list_554_greeting(env):
    start_with(env, deny="127.0.0.3/32")
    with env.connect(source="127.0.0.3") as c:
        g = c.reply()
        assert (g.code, g.enh) == (554, "5.7.1"), g
        r = c.cmd("EHLO client.example")
        assert r.code == 503 and r.enh == "5.5.1", r
        r = c.cmd("MAIL FROM:<s@remote.test>")
        assert r.code == 503, r
        c.quit()
    with env.connect() as c:
        assert c.reply().code == 220
        c.quit()


# ---- several virtual servers --------------------------------------------------------------

def two_servers(env, **a_extra):
    a = env.server(listen="127.0.0.1:%d" % env.port, hostname="mx.example.test",
                   local_domains="example.test", max_message_size="10K", max_recipients="3",
                   relay_networks="")
    a.update(a_extra)
    b = env.server(listen="127.0.0.2:%d" % env.port, hostname="mx2.example.org",
                   local_domains="example.org", users=None, max_message_size="100K",
                   max_recipients="50", relay_networks="")
    return env.start(servers=[("mx", a), ("mx2", b)])


def test_vservers_own_greeting_and_ehlo(env):
    two_servers(env)
    for addr, host, size in (("127.0.0.1", "mx.example.test", 10240),
                             ("127.0.0.2", "mx2.example.org", 102400)):
        with env.connect(addr) as c:
            g = c.reply()
            assert g.text.startswith(host + " ESMTP"), g
            e = c.ehlo()
            assert e.lines[0] == host
            assert "SIZE %d" % size in e.lines
            c.quit()


def test_vservers_own_size_limit(env):
    d = two_servers(env)
    msg = b"Subject: 20k\r\n\r\n" + (b"m" * 98 + b"\r\n") * 200          # ~20 KB
    with env.connect("127.0.0.1") as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        c.cmd("DATA")
        c.send(data_wire(msg))
        r = c.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
        c.quit()
    with env.connect("127.0.0.2") as c:
        qid = send_mail(c, "s@remote.test", ["anyone@example.org"], msg)
        c.quit()
    d.wait_removed(qid)
    files = env.new_files("anyone", "example.org")
    assert len(files) == 1
    _, _, received, rest = split_delivered(files[0].read_bytes())
    assert rest == msg.replace(b"\r\n", b"\n")
    m = re.match(RECEIVED_RE, received.decode())
    assert m and m.group("host") == "mx2.example.org" and m.group("ip") == "127.0.0.1"
    assert env.new_files("user1") == []
    assert d.log_matches(r"event=queued .*id=%s server=mx2\b" % qid)


def test_vservers_own_recipient_limit(env):
    two_servers(env)
    with env.connect("127.0.0.1") as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        codes = [c.cmd("RCPT TO:<%s@example.test>" % u).code
                 for u in ("user1", "user2", "user3", "caseuser")]
        assert codes == [250, 250, 250, 452]
        c.quit()
    with env.connect("127.0.0.2") as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        codes = [c.cmd("RCPT TO:<u%d@example.org>" % i).code for i in range(10)]
        assert codes == [250] * 10
        c.quit()


def test_vservers_own_domains_and_users(env):
    d = two_servers(env)
    with env.connect("127.0.0.1") as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        r = c.cmd("RCPT TO:<anyone@example.org>")
        assert (r.code, r.enh) == (554, "5.7.1"), r          # not local to mx, no relaying
        r = c.cmd("RCPT TO:<anyone@example.test>")
        assert (r.code, r.enh) == (550, "5.1.1"), r          # mx has a users file
        c.quit()
    with env.connect("127.0.0.2") as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        r = c.cmd("RCPT TO:<user1@example.test>")
        assert (r.code, r.enh) == (554, "5.7.1"), r          # not local to mx2
        r = c.cmd("RCPT TO:<Some.Body@Example.ORG>")
        assert (r.code, r.enh) == (250, "2.1.5"), r          # no users file: any local part
        c.cmd("DATA")
        c.send(data_wire(SIMPLE))
        qid = c.reply().queue_id()
        c.quit()
    d.wait_removed(qid)
    files = env.new_files("some.body", "example.org")
    assert len(files) == 1
    assert files[0].read_bytes().split(b"\n")[1] == b"Delivered-To: Some.Body@example.org"


def test_vservers_several_listeners_one_server(env):
    p2 = free_port()
    d = env.start(servers=[("mx", env.server(listen="127.0.0.1:%d, 127.0.0.1:%d" % (env.port, p2)))])
    ids = []
    for port in (env.port, p2):
        with env.connect(port=port) as c:
            ids.append(send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE))
            c.quit()
    for qid in ids:
        d.wait_removed(qid)
    assert len(env.new_files("user1")) == 2


def test_vservers_connection_limits_are_per_server(env):
    two_servers(env, max_connections="1")
    a = env.connect("127.0.0.1")
    assert a.reply().code == 220
    with env.connect("127.0.0.1") as busy:
        assert [r.code for r in busy.expect_close()] == [421]
    # mx2 has its own count.
    with env.connect("127.0.0.2") as c:
        assert c.reply().code == 220
        c.quit()
    a.quit()
    a.close()


def test_limit_slow_client_cannot_stretch_a_command(env):
    """A client trickling a command a byte at a time (slowloris) is cut off
    timeout_command after the server began waiting for that command, however
    often a byte arrives; meanwhile other clients are served at once."""
    start_with(env, timeout_command="2s")
    with env.connect(timeout=15) as slow:
        assert slow.reply().code == 220
        t0 = time.monotonic()
        closed = None
        for ch in b"EHLO trickle.example" * 10:
            try:
                slow.sock.send(bytes([ch]))
            except OSError:
                closed = time.monotonic() - t0
                break
            with env.connect() as other:            # others are not blocked
                assert other.reply().code == 220
                other.quit()
            slow.sock.settimeout(0.3)
            try:
                data = slow.sock.recv(512)
            except TimeoutError:
                continue
            finally:
                slow.sock.settimeout(15)
            assert data.startswith(b"421 4.4.2 "), data
            closed = time.monotonic() - t0
            break
        assert closed is not None and 1.5 < closed < 4.5, closed
