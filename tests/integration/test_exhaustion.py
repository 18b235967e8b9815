"""Resource exhaustion: many idle connections, slow clients, floods, oversized input.

What each test proves, and why it is here (limits already covered elsewhere:
recipients, SIZE, BDAT chunks and timeouts in test_limits.py, a trickled
command in test_limits.py, command lines and AUTH lines in test_protocol.py
and test_access.py):
- 5,000 idle connections are all greeted and cost a bounded amount of the
  daemon's memory, measured as PSS (/proc/PID/smaps_rollup) of the optimised
  build (build/vsmtpd: the sanitizer build's shadow memory and quarantine
  would measure ASan, not vsmtpd), while a new client is still served.
- A DATA phase (and a chain of BDAT chunks) trickled slower than the idle
  timeout is cut off anyway: the whole content must arrive within
  timeout_data plus a second per KiB received.
- A flood from one address gets exactly max_connections_per_ip sessions,
  or max_connection_rate_per_ip per minute, and others are not hurt.
- Out of file descriptors, the daemon rests instead of spinning on accept().
- Thousands of pipelined recipients, a header line of megabytes, content
  without any CRLF and an endless AUTH response line are answered with their
  limits and leave the daemon's memory where it was.
Timeouts are waited for on the socket; memory is read from /proc.
"""

import os
import re
import resource
import selectors
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import Daemon, data_wire, send_mail, split_delivered

SIMPLE = b"Subject: t\r\n\r\nbody\r\n"
OPTIMISED = Path(__file__).resolve().parents[2] / "build" / "vsmtpd"
IDLE_CONNECTIONS = 5000
IDLE_SOURCES = 10                   # 127.0.0.10 .. 127.0.0.19, 500 connections each
IDLE_KIB_MAX = 16                   # per idle connection, optimised build


def pss_kib(pid):
    """The process's proportional set size, KiB."""
    for line in Path("/proc/%d/smaps_rollup" % pid).read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise AssertionError("no Pss in smaps_rollup of %d" % pid)


def raise_nofile(want):
    """Raises this process's open-file limit (the daemon inherits it) to at least want."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def start_optimised(env, **opts):
    """vsmtpd from build/ (not $VSMTPD_BIN) with the default server changed by opts."""
    if not os.access(OPTIMISED, os.X_OK):
        pytest.skip("no optimised build at %s (make)" % OPTIMISED)
    env.write_config(servers=[("mx", env.server(**opts))])
    d = Daemon(env.root, env.conf, binary=str(OPTIMISED))
    env.daemons.append(d)
    return d.start()


def start_with(env, **opts):
    return env.start(servers=[("mx", env.server(**opts))])


def wait_count(d, pattern, n, start=0, timeout=60):
    """Waits until n log lines from index start on match the regex."""
    deadline = time.monotonic() + timeout
    found, i = 0, start
    with d.cond:
        while True:
            while i < len(d.lines):
                found += bool(pattern.search(d.lines[i]))
                i += 1
            if found >= n:
                return found
            left = deadline - time.monotonic()
            assert left > 0, "%d of %d lines /%s/ after %ss" % (found, n, pattern.pattern, timeout)
            d.cond.wait(left)


def greet_all(socks, timeout=60):
    """Waits until every socket has read a whole "220 ...\\r\\n" greeting; returns
    the number greeted. Sockets are non-blocking and connecting."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    greeted = 0
    deadline = time.monotonic() + timeout
    while greeted < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                chunk = s.recv(512)
            except BlockingIOError:
                continue
            assert chunk, "connection closed before its greeting: %r" % bufs[s]
            bufs[s] += chunk
            if bufs[s].endswith(b"\r\n"):
                assert bufs[s].startswith(b"220 "), bufs[s]
                greeted += 1
                sel.unregister(s)
    sel.close()
    return greeted


# ---- many idle connections ----------------------------------------------------------

def test_exhaustion_5000_idle_connections_bounded_memory(env):
    raise_nofile(2 * IDLE_CONNECTIONS + 1000)
    per_ip = IDLE_CONNECTIONS // IDLE_SOURCES
    d = start_optimised(env, max_connections=str(IDLE_CONNECTIONS + 100),
                        max_connections_per_ip=str(per_ip))
    # One whole session first, so what is made once (thread caches, the
    # spool's buffers, the Maildir) is not counted against idle sessions.
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        c.quit()
    d.wait_removed(qid)
    before = pss_kib(d.pid)

    socks = []
    try:
        for i in range(IDLE_CONNECTIONS):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.%d" % (10 + i % IDLE_SOURCES), 0))
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", env.port))
        assert greet_all(socks) == IDLE_CONNECTIONS
        during = pss_kib(d.pid)
        per_conn = (during - before) / IDLE_CONNECTIONS
        print("\nidle connections: %d, PSS %d -> %d KiB, %.2f KiB per connection"
              % (IDLE_CONNECTIONS, before, during, per_conn))
        assert per_conn <= IDLE_KIB_MAX, (before, during, per_conn)

        # The per-IP limit holds at its edge, and a new client is served at once.
        with env.connect(source="127.0.0.10") as over:
            replies = over.expect_close()
        assert [(r.code, r.enh) for r in replies] == [(421, "4.7.0")], replies
        t0 = time.monotonic()
        with env.connect(source="127.0.0.2") as c:
            qid = send_mail(c, "s@remote.test", ["user2@example.test"], SIMPLE)
            c.quit()
        assert time.monotonic() - t0 < 5
        d.wait_removed(qid)
    finally:
        mark = d.log_mark()
        for s in socks:
            s.close()
    # Every session ends; the daemon is then as willing as before.
    wait_count(d, re.compile(r"event=disconnect "), IDLE_CONNECTIONS, start=mark)
    with env.connect(source="127.0.0.10") as c:
        assert c.reply().code == 220
        c.quit()


# ---- slow clients -----------------------------------------------------------------------

def trickle_until_closed(sock, pieces, gap, limit):
    """Sends pieces one by one, gap seconds apart (reading what the server says
    meanwhile), until the server closes or limit seconds have passed; returns
    (seconds from the first piece to the close, everything the server sent)."""
    got = b""
    t0 = time.monotonic()
    for piece in pieces:
        try:
            sock.sendall(piece)
        except OSError:
            return time.monotonic() - t0, got
        next_piece = time.monotonic() + gap
        while (left := next_piece - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                break
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return time.monotonic() - t0, got
            got += chunk
        if time.monotonic() - t0 > limit:
            break
    return time.monotonic() - t0, got


def test_exhaustion_data_trickled_is_cut_off(env):
    """A byte of content every 1.5 s never lets the 2 s idle timeout fire; the
    DATA phase is still ended about timeout_data after it began (the content
    received earns a second per KiB: here almost nothing)."""
    d = start_with(env, timeout_command="30s", timeout_data="2s")
    with env.connect(timeout=15) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        elapsed, got = trickle_until_closed(c.sock, [b"x"] * 40, 1.5, 30)
    assert got.startswith(b"421 4.4.2 "), got
    assert 1.5 <= elapsed < 5, elapsed
    d.wait_log(r"event=timeout .* reason=slow_data")
    d.wait_log(r"event=disconnect")
    env.assert_no_leftovers()
    assert env.mail_files() == []


def test_exhaustion_bdat_chunks_trickled_are_cut_off(env):
    """Each "BDAT 1" command and its byte come well within timeout_command, but the
    message they build is bounded as a whole, like DATA."""
    d = start_with(env, timeout_command="5s", timeout_data="2s")
    with env.connect(timeout=15) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        elapsed, got = trickle_until_closed(c.sock, [b"BDAT 1\r\nx"] * 40, 1.0, 30)
    assert got.endswith(b"421 4.4.2 mx.example.test Error: timeout exceeded\r\n"), got
    assert got.count(b"250 2.0.0 1 octets received\r\n") >= 1, got
    assert 1.5 <= elapsed < 5, elapsed
    d.wait_log(r"event=timeout .* reason=slow_data")
    env.assert_no_leftovers()
    assert env.mail_files() == []


def test_exhaustion_data_at_a_fair_rate_outlives_timeout_data(env):
    """Content that keeps coming at well over 1 KiB/s may take longer than
    timeout_data in all (a big message on a slow link)."""
    d = start_with(env, timeout_command="30s", timeout_data="2s")
    body = b"Subject: slow but steady\r\n\r\n" + (b"y" * 1022 + b"\r\n") * 64
    wire = data_wire(body)
    with env.connect(timeout=15) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        t0 = time.monotonic()
        step = 4096
        for i in range(0, len(wire), step):           # 4 KiB every 0.25 s: 16 KiB/s for 4 s
            c.send(wire[i:i + step])
            time.sleep(0.25)
        r = c.reply()
        assert time.monotonic() - t0 > 3
        assert (r.code, r.enh) == (250, "2.0.0"), r
        qid = r.queue_id()
        c.quit()
    d.wait_removed(qid)
    assert split_delivered(env.new_files("user1")[0].read_bytes())[3] == body.replace(b"\r\n", b"\n")


# ---- floods from one address ---------------------------------------------------------------

def test_exhaustion_connection_flood_from_one_address(env):
    """300 connections at once from one address: max_connections_per_ip of them
    are served, every other one gets 421 4.7.0 and is closed; another address is
    served meanwhile; when the flood ends the address may connect again."""
    d = start_with(env, max_connections_per_ip="10", max_connections="1000")
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", env.port), timeout=15,
                                         source_address=("127.0.0.5", 0))
            socks.append(s)
        greetings = []
        for s in socks:
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(512)
                assert chunk, data
                data += chunk
            greetings.append(data[:9])
        assert greetings.count(b"220 mx.ex") == 10, greetings
        assert greetings.count(b"421 4.7.0") == 290, greetings
        with env.connect(source="127.0.0.6") as other:
            qid = send_mail(other, "s@remote.test", ["user1@example.test"], SIMPLE)
            other.quit()
        d.wait_removed(qid)
    finally:
        mark = d.log_mark()
        for s in socks:
            s.close()
    wait_count(d, re.compile(r"event=disconnect .*client=127\.0\.0\.5 "), 10, start=mark)
    assert len(d.log_matches(r"client=127\.0\.0\.5 reason=max_connections_per_ip")) == 290
    with env.connect(source="127.0.0.5") as again:
        assert again.reply().code == 220
        again.quit()


def test_exhaustion_connection_rate_flood(env):
    """200 connections in a row from one address with a rate of 50 a minute:
    the first 50 are served, the other 150 refused, another address is not."""
    start_with(env, max_connection_rate_per_ip="50")
    codes = []
    for _ in range(200):
        with env.connect(source="127.0.0.7") as c:
            r = c.reply()
            codes.append((r.code, r.enh))
    assert codes[:50] == [(220, None)] * 50, codes[:50]
    assert codes[50:] == [(421, "4.7.0")] * 150, codes[50:]
    with env.connect(source="127.0.0.8") as c:
        assert c.reply().code == 220
        c.quit()


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    stat = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def test_exhaustion_out_of_file_descriptors_does_not_spin(env):
    """With its descriptors used up, vsmtpd leaves new connections in the
    backlog and rests: no busy loop on accept(), one log line, not millions;
    when sessions end it accepts again."""
    d = start_with(env, max_connections_per_ip="0")
    limit = len(os.listdir("/proc/%d/fd" % d.pid)) + 20
    resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (limit, limit))
    socks = []
    try:
        for _ in range(40):
            socks.append(socket.create_connection(("127.0.0.1", env.port), timeout=15))
        d.wait_log(r'event=accept_error server=mx address=\S+ error="Too many open files"')
        cpu = cpu_seconds(d.pid)
        time.sleep(1)                       # the span measured, not a wait for an event
        assert cpu_seconds(d.pid) - cpu < 0.5
        assert len(d.log_matches(r"event=accept_error")) == 1
    finally:
        for s in socks:
            s.close()
    d.wait_log(r"event=accept_resumed server=mx address=\S+ failures=\d+")
    with env.connect() as c:
        assert c.reply().code == 220
        c.quit()


# ---- oversized input -----------------------------------------------------------------------

def test_exhaustion_thousands_of_pipelined_recipients(env):
    d = start_with(env, max_recipients="100")
    n = 10000
    with env.connect() as c:
        c.reply()
        c.ehlo()
        batch = b"MAIL FROM:<s@remote.test>\r\n" + b"".join(
            b"RCPT TO:<r%d@remote.test>\r\n" % i for i in range(n)) + b"RSET\r\n"
        c.send(batch)
        replies = c.read(n + 2)
        assert replies[0].code == 250
        rcpt = [(r.code, r.enh) for r in replies[1:n + 1]]
        assert rcpt[:100] == [(250, "2.1.5")] * 100
        assert rcpt[100:] == [(452, "4.5.3")] * (n - 100)
        assert replies[-1].code == 250           # RSET: the session goes on
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE, greet=False)
        c.quit()
    d.wait_removed(qid)


def test_exhaustion_oversized_content_keeps_memory_flat(env):
    """A 4 MB header line, then 32 MB without any CRLF, then an AUTH response line
    of 8 MB: each is answered with its limit, and the daemon's memory does not
    grow with them (content is streamed and dropped, command lines are cut)."""
    users = env.root / "auth_users"
    hashed = subprocess.run(["openssl", "passwd", "-6", "secret"], check=True, capture_output=True,
                            text=True).stdout.strip()
    users.write_text("alice:%s\n" % hashed)
    os.chmod(users, 0o600)
    d = start_optimised(env, max_message_size="1M", auth="optional", auth_plaintext="yes",
                        auth_users=str(users))
    with env.connect() as c:
        qid = send_mail(c, "s@remote.test", ["user1@example.test"], SIMPLE)
        c.quit()
    d.wait_removed(qid)
    before = pss_kib(d.pid)
    with env.connect(timeout=60) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        c.send(b"X-Huge: " + b"h" * (4 << 20) + b"\r\n\r\nbody\r\n.\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<user1@example.test>")
        assert c.cmd("DATA").code == 354
        chunk = b"n" * (1 << 20)
        for _ in range(32):
            c.send(chunk)
        c.send(b"\r\n.\r\n")
        r = c.reply()
        assert (r.code, r.enh) == (552, "5.3.4"), r
        assert c.cmd("AUTH PLAIN").code == 334
        for _ in range(8):
            c.send(chunk)
        c.send(b"\r\n")
        r = c.reply()
        assert r.code in (500, 501) and r.enh.startswith("5.5."), r
        assert c.cmd("NOOP").code == 250
        c.quit()
    after = pss_kib(d.pid)
    print("\noversized input: PSS %d -> %d KiB after 44 MB of it" % (before, after))
    assert after - before < 2048, (before, after)
    assert env.new_files("user1") != [] and len(env.new_files("user1")) == 1
    env.assert_no_leftovers()
