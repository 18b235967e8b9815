"""clients.py — the load the benchmark sends: Postfix's smtp-source, a fleet
of idle connections, and a sequential smtplib client for latency.

Owns how each client is driven and what it reports; it knows nothing about
which server is on the other end. All traffic goes to 127.0.0.1. Every loop
is bounded (message counts, connection counts, deadlines).

Errors: BenchFailure when smtp-source fails or a latency session does not
complete with the expected replies. Python 3 standard library only.
"""

import errno
import selectors
import smtplib
import socket
import subprocess
import time

from benchutil import BenchFailure

SMTP_SOURCE = "/usr/sbin/smtp-source"
SOURCE_TIMEOUT = 600          # seconds: a hung smtp-source is killed


class SourceRun:
    """smtp-source started in the background; done() says when it ended."""

    def __init__(self, port, sessions, messages, length, to, sender="from@bench.test",
                 host="127.0.0.1"):
        self.argv = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(length),
                     "-f", sender, "-t", to, "%s:%d" % (host, port)]
        self.start_time = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.end_time = None
        self.stderr = b""

    def abort(self):
        """Ends a run that already failed (the caller reports why)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()

    def done(self):
        if self.end_time is None and self.proc.poll() is not None:
            self.end_time = time.monotonic()
        return self.end_time is not None

    def finish(self):
        """Waits for smtp-source; raises BenchFailure when it failed."""
        try:
            _out, self.stderr = self.proc.communicate(timeout=SOURCE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise BenchFailure("smtp-source did not finish within %ds" % SOURCE_TIMEOUT)
        self.done()
        if self.proc.returncode != 0:
            raise BenchFailure("smtp-source exited with %d: %s" % (
                self.proc.returncode, self.stderr.decode(errors="replace").strip()[:300]))
        return self.end_time - self.start_time


# ---- idle connections ---------------------------------------------------------

class IdleFleet:
    """N connections that read the greeting and then say nothing.

    open() starts all the connects at once (non-blocking); poll(seconds)
    reads greetings and notices closes until the deadline. The sockets stay
    open until close(), so that the server's memory can be read meanwhile."""

    def __init__(self, port, count, host="127.0.0.1"):
        self.addr = (host, port)
        self.count = count
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.greeted = 0            # got a 220 line
        self.rejected = 0           # got another reply (421, 554, ...)
        self.closed = 0             # the server closed (or reset) the connection
        self.connect_errors = 0     # connect() failed outright
        self.last_greet = None      # monotonic time of the latest greeting
        self.state = {}             # fd -> "wait" | "greeted" | "rejected" | "closed"

    def open(self):
        for _ in range(self.count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(self.addr)
            if err not in (0, errno.EINPROGRESS):
                self.connect_errors += 1
                s.close()
                continue
            self.socks.append(s)
            self.state[s.fileno()] = "wait"
            self.sel.register(s, selectors.EVENT_READ)

    def poll(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for key, _ev in self.sel.select(min(left, 0.5)):
                self._readable(key.fileobj)

    def _readable(self, s):
        fd = s.fileno()
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            if self.state[fd] == "greeted":
                self.greeted -= 1
            self.state[fd] = "closed"
            self.closed += 1
            self.sel.unregister(s)
            return
        if self.state[fd] != "wait":
            return
        if data.startswith(b"220"):
            self.state[fd] = "greeted"
            self.greeted += 1
            self.last_greet = time.monotonic()
        else:
            self.state[fd] = "rejected"
            self.rejected += 1

    def waiting(self):
        return sum(1 for v in self.state.values() if v == "wait")

    def close(self):
        for s in self.socks:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        self.socks = []
        self.sel.close()


# ---- latency -----------------------------------------------------------------

def latency_run(port, sessions, to="user@bench.test", sender="from@bench.test",
                host="127.0.0.1", tag="lat"):
    """SESSIONS sequential sessions, one message each: connect, EHLO, MAIL,
    RCPT, DATA, QUIT. Returns the list of connect-to-QUIT-reply times in
    seconds. Each message has its own Message-Id (TAG.N) for the
    exactly-once check."""
    times = []
    for i in range(sessions):
        msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: latency %d\r\n"
               "Message-Id: <%s.%d@client.bench.test>\r\n\r\n%s\r\n"
               % (sender, to, i, tag, i, "x" * 1000))
        t0 = time.perf_counter()
        try:
            s = smtplib.SMTP(host, port, local_hostname="client.bench.test", timeout=30)
            refused = s.sendmail(sender, [to], msg)
            code, _ = s.quit()
        except (smtplib.SMTPException, OSError) as e:
            raise BenchFailure("latency session %d failed: %s" % (i, e))
        t1 = time.perf_counter()
        if refused or code != 221:
            raise BenchFailure("latency session %d: refused=%r QUIT reply %d" % (i, refused, code))
        times.append(t1 - t0)
    return times
