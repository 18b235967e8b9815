"""Helpers for the vsmtpd integration tests.

This module owns the test harness: writing a configuration into a test's
temporary directory, starting and stopping real vsmtpd processes, a raw
socket SMTP client that sees every reply byte, and Maildir/spool
inspection. The tests themselves live in test_*.py; fixtures in conftest.py.

Invariants:
- Nothing here sleeps for a fixed time to wait for the daemon: log lines are
  waited for on a threading.Condition fed by a reader thread, sockets are
  read with timeouts, and files are polled with a short interval under a
  deadline.
- A daemon is clean when it exits 0 and its stderr holds no sanitizer report
  (AddressSanitizer, LeakSanitizer, "runtime error:"); Daemon.stop() checks
  both.
Only the Python standard library is used.
"""

import glob
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

READY_TIMEOUT = 30          # seconds for "event=ready" (ASan builds start slowly)
STOP_TIMEOUT = 40           # the daemon waits up to 30 s for sessions to end
DELIVERY_TIMEOUT = 20       # seconds for a queued message to reach a Maildir
SOCKET_TIMEOUT = 20         # seconds for a reply on a client socket
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

QUEUE_ID_RE = re.compile(r"^[0-9A-Z]+$")
QUEUED_RE = re.compile(r"^Ok: queued as ([0-9A-Z]+)$")
ENH_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


def vsmtpd_binary():
    """The daemon under test: $VSMTPD_BIN (set by `make integration`), else build/vsmtpd."""
    path = os.environ.get("VSMTPD_BIN")
    if path:
        return path
    return str(Path(__file__).resolve().parents[2] / "build" / "vsmtpd")


# ---- ports ----------------------------------------------------------------------

def free_port(addrs=("127.0.0.1",)):
    """A TCP port that is free on every address in addrs (port 0 on the first, then checked)."""
    for _ in range(200):
        first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        first.bind((addrs[0], 0))
        port = first.getsockname()[1]
        socks = [first]
        ok = True
        for addr in addrs[1:]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            try:
                s.bind((addr, port))
            except OSError:
                ok = False
                break
        for s in socks:
            s.close()
        if ok:
            return port
    raise RuntimeError("no port free on all of %r" % (addrs,))


# ---- configuration --------------------------------------------------------------

def render_config(global_opts, servers):
    """INI text from {key: value} for [global] and [(name, {key: value}), ...] for servers."""
    out = ["[global]"]
    for k, v in global_opts.items():
        out.append("%s = %s" % (k, v))
    for name, opts in servers:
        out.append("")
        out.append("[server %s]" % name)
        for k, v in opts.items():
            out.append("%s = %s" % (k, v))
    return "\n".join(out) + "\n"


# ---- the daemon -----------------------------------------------------------------

class Daemon:
    """One vsmtpd process started in workdir with the config file conf (relative paths
    in the config are relative to workdir)."""

    def __init__(self, workdir, conf, binary=None):
        self.workdir = Path(workdir)
        self.conf = Path(conf)
        self.binary = binary or vsmtpd_binary()
        self.proc = None
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self.reader = None
        self.returncode = None

    # -- life cycle --
    def start(self, timeout=READY_TIMEOUT):
        self.lines = []
        self.eof = False
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], cwd=str(self.workdir),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        self.wait_log(r"event=ready\b", timeout=timeout)
        return self

    def _read_stderr(self):
        stream = self.proc.stderr
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=True):
        """SIGTERM, wait for the exit; with check, assert a clean exit (status 0, no
        sanitizer report). Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("vsmtpd did not exit within %ds of SIGTERM\n%s"
                                 % (STOP_TIMEOUT, self.log_tail()))
        self.reader.join(timeout=10)
        if check:
            self.assert_clean()
        return self.returncode

    def kill9(self):
        """SIGKILL: a crash. The exit is not checked."""
        self.proc.send_signal(signal.SIGKILL)
        self.returncode = self.proc.wait(timeout=STOP_TIMEOUT)
        self.reader.join(timeout=10)

    def assert_clean(self):
        text = self.log_text()
        bad = [m for m in SANITIZER_MARKERS if m in text]
        assert not bad, "sanitizer report in vsmtpd's stderr:\n%s" % text[-20000:]
        assert self.returncode == 0, "vsmtpd exited with status %r\n%s" % (
            self.returncode, self.log_tail())

    # -- log --
    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def log_tail(self, n=60):
        with self.cond:
            return "\n".join(self.lines[-n:])

    def wait_log(self, pattern, timeout=DELIVERY_TIMEOUT, start=0):
        """Waits for a log line (index >= start) matching the regex; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                if self.eof:
                    raise AssertionError("vsmtpd exited (status %r) before logging /%s/\n%s"
                                         % (self.proc.poll(), pattern, "\n".join(self.lines[-60:])))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out after %ss waiting for /%s/ in the log\n%s"
                                         % (timeout, pattern, "\n".join(self.lines[-60:])))
                self.cond.wait(left)

    def log_matches(self, pattern):
        rx = re.compile(pattern)
        with self.cond:
            return [m for m in (rx.search(l) for l in self.lines) if m]

    def log_mark(self):
        """The index of the next log line (for wait_log(start=...))."""
        with self.cond:
            return len(self.lines)

    def wait_removed(self, qid, timeout=DELIVERY_TIMEOUT):
        """Waits until the queue file of qid is removed (every recipient done)."""
        return self.wait_log(r"event=removed id=%s\b" % re.escape(qid), timeout=timeout)


# ---- event= log lines -------------------------------------------------------------

FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def fields(line):
    """{key: value} of an event= log line (quotes removed)."""
    return {k: (v[1:-1] if v.startswith('"') else v) for k, v in FIELD_RE.findall(line)}


def wait_event(d, event, qid, rcpt, start=0, timeout=20):
    """Waits for `event=EVENT id=QID to=<RCPT>`; returns the line's fields."""
    m = d.wait_log(r"event=%s id=%s to=<%s>(\s|$)" % (event, qid, re.escape(rcpt)),
                   start=start, timeout=timeout)
    return fields(m.string)


def events(d, event, qid):
    """The fields of every `event=EVENT id=QID` line so far."""
    return [fields(m.string) for m in d.log_matches(r"event=%s id=%s " % (event, qid))]


# ---- the raw client -------------------------------------------------------------

class Reply:
    """One SMTP reply: code (int), lines (texts after "ddd-"/"ddd "), raw bytes."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return self.lines[-1]

    @property
    def enh(self):
        """The enhanced status code of the first line, or None."""
        first = self.lines[0].split(" ", 1)[0] if self.lines else ""
        return first if ENH_RE.match(first) else None

    @property
    def message(self):
        """The last line's text after the enhanced status code."""
        parts = self.lines[-1].split(" ", 1)
        if ENH_RE.match(parts[0]):
            return parts[1] if len(parts) > 1 else ""
        return self.lines[-1]

    def queue_id(self):
        m = QUEUED_RE.match(self.message)
        assert m, "not a 'queued as' reply: %r" % self.raw
        return m.group(1)

    def __repr__(self):
        return "Reply(%r)" % self.raw


class ConnectionClosed(Exception):
    pass


class SmtpClient:
    """A byte-exact SMTP client on a raw socket. Replies are parsed strictly: every
    line must be "ddd-text" or "ddd text" (or "ddd") and end with CRLF, and all lines
    of a reply must carry the same code. Every reply read is kept in self.replies."""

    def __init__(self, host, port, source=None, timeout=SOCKET_TIMEOUT):
        src = (source, 0) if source else None
        self.sock = socket.create_connection((host, port), timeout=timeout, source_address=src)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.replies = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise ConnectionClosed("connection closed by vsmtpd (unparsed: %r)" % self.buf)
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            assert len(self.buf) < 4096, "reply line without CRLF: %r" % self.buf[:200]
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """Reads one (possibly multi-line) reply."""
        raw = b""
        lines = []
        code = None
        while True:
            line = self._line()
            raw += line + b"\r\n"
            assert b"\n" not in line and b"\r" not in line, "bare CR/LF in reply %r" % raw
            m = re.match(rb"^([2-5][0-9][0-9])([- ]?)(.*)$", line, re.S)
            assert m, "malformed reply line %r" % line
            assert m.group(2) or not m.group(3), "malformed reply line %r" % line
            c = int(m.group(1))
            assert code is None or c == code, "code changes inside a reply: %r" % raw
            code = c
            text = m.group(3)
            assert all(0x20 <= b < 0x7f for b in text), "reply not printable ASCII: %r" % raw
            lines.append(text.decode("ascii"))
            if m.group(2) != b"-":
                break
        r = Reply(code, lines, raw)
        self.replies.append(r)
        return r

    def read(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        """Sends one command line (CRLF added) and reads its reply."""
        self.send((line.encode("utf-8") if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r
        return r

    def expect_close(self):
        """Reads until EOF; returns the replies that came before it."""
        out = []
        while True:
            try:
                out.append(self.reply())
            except ConnectionClosed:
                assert self.buf == b"", "trailing bytes before EOF: %r" % self.buf
                return out

    def quit(self):
        """QUIT, expect 221 and EOF; returns every reply read on the way."""
        self.send(b"QUIT\r\n")
        rest = self.expect_close()
        assert rest and rest[-1].code == 221, rest
        return rest


def data_wire(message):
    """The DATA wire form of message (bytes with CRLF lines): dot-stuffed, terminated."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = [b"." + l if l.startswith(b".") else l for l in lines]
    return b"\r\n".join(stuffed) + b"\r\n.\r\n"


def send_mail(client, sender, rcpts, message, greet=True, params=""):
    """One transaction on a raw client (not pipelined); asserts every step; returns the queue ID."""
    if greet:
        g = client.reply()
        assert g.code == 220, g
        client.ehlo()
    r = client.cmd("MAIL FROM:<%s>%s" % (sender, params))
    assert (r.code, r.enh) == (250, "2.1.0"), r
    for rcpt in rcpts:
        r = client.cmd("RCPT TO:<%s>" % rcpt)
        assert (r.code, r.enh) == (250, "2.1.5"), r
    r = client.cmd("DATA")
    assert r.code == 354, r
    client.send(data_wire(message))
    r = client.reply()
    assert (r.code, r.enh) == (250, "2.0.0"), r
    return r.queue_id()


# ---- Maildir and spool --------------------------------------------------------------

def wait_for_file(pattern, timeout=DELIVERY_TIMEOUT, count=1):
    """Polls a glob pattern (a str path) until at least count files match; returns them sorted."""
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(glob.glob(str(pattern)))
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss: %d of %d files match %s"
                                 % (timeout, len(found), count, pattern))
        time.sleep(0.02)


def files_in(path):
    p = Path(path)
    if not p.is_dir():
        return []
    return sorted(x for x in p.iterdir() if x.is_file())


def all_files(root):
    """Every regular file under root (recursive), as paths relative to root."""
    root = Path(root)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def split_delivered(data):
    """Splits a stored Maildir file into (return_path_line, delivered_to_line,
    received_header, rest); the Received header is its first line plus tab-led
    continuation lines, LF-terminated."""
    lines = data.split(b"\n")
    assert len(lines) >= 4, data[:300]
    rp, dt = lines[0], lines[1]
    assert lines[2].startswith(b"Received: "), data[:300]
    i = 3
    while i < len(lines) and lines[i].startswith(b"\t"):
        i += 1
    received = b"\n".join(lines[2:i]) + b"\n"
    rest = b"\n".join(lines[i:])
    return rp, dt, received, rest


RECEIVED_RE = (r"Received: from (?P<helo>[^\s]+) \(\[(?P<ip>[0-9.]+)\]\)\n"
               r"\tby (?P<host>[^\s]+) \(vsmtpd\) with (?P<proto>[A-Z0-9]+) id (?P<id>[0-9A-Z]+)"
               r"(?:\n\tfor <(?P<for>[^>]+)>)?; (?P<date>[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} "
               r"\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})\n$")
