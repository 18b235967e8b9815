"""harness.py — start real vsmtpd processes and talk to them.

A Daemon writes a config into a temporary directory (spool, Maildirs, users
file under it), starts build*/vsmtpd in the foreground, and waits for its
"event=ready" log line (read by a thread; no fixed sleeps). At stop it sends
SIGTERM and fails the test unless the exit is clean and stderr holds no
sanitizer report. RawClient speaks SMTP over a plain socket for the tests
that need exact bytes (pipelining, smuggling, BDAT).
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

VSMTPD = os.environ.get("VSMTPD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "vsmtpd")


def free_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """One vsmtpd with its own directory tree under tmp."""

    def __init__(self, tmp, servers, global_extra="", users=("user1", "user2", "postmaster")):
        self.tmp = str(tmp)
        self.spool = os.path.join(self.tmp, "spool")
        self.mail = os.path.join(self.tmp, "mail")
        self.users_file = os.path.join(self.tmp, "users")
        with open(self.users_file, "w") as f:
            f.write("\n".join(users) + "\n")
        self.conf = os.path.join(self.tmp, "vsmtpd.conf")
        self.servers = servers
        self.global_extra = global_extra
        self.lines = []
        self.cond = threading.Condition()
        self.proc = None
        self.write_config()

    def write_config(self):
        text = "[global]\nspool = %s\nlog = stderr\nworkers = 2\n%s\n" % (self.spool, self.global_extra)
        for name, body in self.servers.items():
            text += "[server %s]\n%s\n" % (name, body.format(mail=self.mail, users=self.users_file))
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        self.lines = []
        self.proc = subprocess.Popen([VSMTPD, "-c", self.conf], stderr=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, cwd=self.tmp)
        threading.Thread(target=self._reader, args=(self.proc,), daemon=True).start()
        self.wait_log(r"event=ready", timeout=20)
        return self

    def _reader(self, proc):
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<eof>")
            self.cond.notify_all()

    def wait_log(self, pattern, timeout=10, count=1):
        """Waits until `count` log lines match; returns the matching lines."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [l for l in self.lines if rx.search(l)]
                if len(hits) >= count:
                    return hits
                if "<eof>" in self.lines:
                    raise AssertionError("vsmtpd exited while waiting for %r:\n%s" % (pattern, "\n".join(self.lines)))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timeout waiting for %r; log:\n%s" % (pattern, "\n".join(self.lines[-40:])))
                self.cond.wait(left)

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("vsmtpd did not stop on SIGTERM")
        self.proc = None
        self.wait_log("<eof>", timeout=5)
        text = self.log_text()
        assert "AddressSanitizer" not in text and "runtime error:" not in text, text
        assert rc == 0, "vsmtpd exited with %d:\n%s" % (rc, text[-4000:])

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def maildir_files(self, domain, user, sub="new"):
        d = os.path.join(self.mail, domain, user, sub)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, n) for n in os.listdir(d))

    def wait_mail(self, domain, user, count=1, timeout=15):
        """Waits for `count` delivered files (deliveries are logged; the
        log line is the event, the file check is the proof)."""
        deadline = time.monotonic() + timeout
        while True:
            files = self.maildir_files(domain, user)
            if len(files) >= count:
                return files
            if time.monotonic() > deadline:
                raise AssertionError("no mail for %s@%s; log:\n%s" % (user, domain, self.log_text()[-3000:]))
            with self.cond:
                self.cond.wait(0.05)

    def spool_files(self, sub):
        d = os.path.join(self.spool, sub)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


class RawClient:
    """SMTP over a raw socket: exact bytes out, parsed replies in."""

    def __init__(self, host, port, source=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """Reads one (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed; got %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", errors="replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), lines

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self, timeout=10):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def parse_maildir_file(path):
    """Splits a delivered file into (return_path, delivered_to, received, rest)."""
    data = open(path, "rb").read()
    m = re.match(rb"Return-Path: <([^>]*)>\nDelivered-To: ([^\n]*)\n(Received: [^\n]*\n(?:\t[^\n]*\n)*)", data)
    assert m, data[:400]
    return m.group(1).decode(), m.group(2).decode(), m.group(3).decode(), data[m.end():]
