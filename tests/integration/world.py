"""The world outside vsmtpd for the outbound delivery and LMTP tests.

This module owns the pieces a relaying vsmtpd talks to, all on loopback:
- Dnsmasq: a private DNS server on 127.0.0.1 serving the zone below (MX, A,
  a null MX, NXDOMAIN for every other name under .test, a temporary failure);
  dns_query() is a minimal raw-UDP client for it (MX and A only).
- FakeSmtp: a scriptable SMTP/LMTP server (one thread per connection) that
  records every connection (command lines as received, TLS, AUTH user) and
  every message (envelope, DATA bytes after dot-unstuffing, replies given).
- Dovecot: a private Dovecot LMTP instance writing Maildirs.
- CertAuthority: a certificate authority made with the openssl CLI at test time.
- World: one test's set of them, with the vsmtpd configuration that points
  at them. Fixtures: `ca` (one per session) and `world` (per test; its
  fake() and dovecot() start the servers a test needs).
Every fake MX listens on the same port (outbound_port is per server) on its
own 127.0.0.x address; the zone maps names to those addresses.

Invariants: nothing sleeps for a fixed time; waits are on a Condition (the
fakes) or polls under a deadline (DNS and Dovecot readiness). Every process
and thread started here is stopped at teardown. Only the standard library
and the openssl, dnsmasq and dovecot programs are used.
RFC 1035 4.1 (DNS messages), RFC 5321 (the fake's SMTP), RFC 2033 (LMTP),
RFC 3207 (STARTTLS), RFC 4954 + 4616 (AUTH PLAIN/LOGIN), RFC 7505 (null MX).
"""

import base64
import os
import pwd
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from helpers import free_port

WAIT_TIMEOUT = 20           # seconds a wait_* helper waits by default
IO_TIMEOUT = 60             # a fake's connection gives up on a silent client
READY_TIMEOUT = 15          # dnsmasq / Dovecot start-up

# ---- the zone ---------------------------------------------------------------------

MX1_IP = "127.0.0.2"        # mx1.remote.test, MX 10 of remote.test
MX2_IP = "127.0.0.3"        # mx2.remote.test, MX 20 of remote.test
IMPLICIT_IP = "127.0.0.4"   # implicit.test: an A record, no MX
LITERAL_IP = "127.0.0.5"    # only reached as an address literal user@[127.0.0.5]
OTHER_IP = "127.0.0.6"      # mx.other.test, the MX of other.test
WRONGNAME_IP = "127.0.0.7"  # mx.wrongname.test, the MX of wrongname.test
SMARTHOST_IP = "127.0.0.8"  # smarthost.test: an A record, no MX
LMTP_IP = "127.0.0.9"       # a fake LMTP server
WORLD_IPS = tuple("127.0.0.%d" % i for i in range(1, 10))

ZONE_MX = (("remote.test", "mx1.remote.test", 10), ("remote.test", "mx2.remote.test", 20),
           ("other.test", "mx.other.test", 10), ("wrongname.test", "mx.wrongname.test", 10))
ZONE_A = (("mx1.remote.test", MX1_IP), ("mx2.remote.test", MX2_IP),
          ("implicit.test", IMPLICIT_IP), ("mx.other.test", OTHER_IP),
          ("mx.wrongname.test", WRONGNAME_IP), ("smarthost.test", SMARTHOST_IP))
ZONE_NULL_MX = ("nullmx.test",)
ZONE_TEMPFAIL = ("tempfail.test",)

QTYPE_A, QTYPE_MX = 1, 15
RCODE_NOERROR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 2, 3, 5


# ---- a minimal DNS client (RFC 1035 4.1) --------------------------------------------

class DnsReply:
    """rcode, and answers as (type, value): A -> "a.b.c.d", MX -> (pref, host)."""

    def __init__(self, rcode, answers):
        self.rcode = rcode
        self.answers = answers

    def mx(self):
        return sorted(v for t, v in self.answers if t == QTYPE_MX)

    def a(self):
        return sorted(v for t, v in self.answers if t == QTYPE_A)

    def __repr__(self):
        return "DnsReply(rcode=%d, answers=%r)" % (self.rcode, self.answers)


def _dns_name(pkt, off):
    """Decodes a possibly compressed name at off; returns (name, offset after it)."""
    labels = []
    end = None
    for _ in range(128):
        n = pkt[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | pkt[off + 1]
            continue
        off += 1
        if n == 0:
            return ".".join(labels), (end if end is not None else off)
        labels.append(pkt[off:off + n].decode("ascii"))
        off += n
    raise ValueError("DNS name loop")


def dns_query(port, name, qtype, server="127.0.0.1", timeout=2.0):
    """One UDP query; returns a DnsReply, or raises socket.timeout."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)        # RD, one question
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, (server, port))
        while True:
            pkt, _ = s.recvfrom(65535)
            if len(pkt) >= 12 and struct.unpack(">H", pkt[:2])[0] == qid:
                break
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", pkt[:12])
    off = 12
    for _ in range(qd):
        off = _dns_name(pkt, off)[1] + 4
    answers = []
    for _ in range(an):
        off = _dns_name(pkt, off)[1]
        rtype, _, _, rdlen = struct.unpack(">HHIH", pkt[off:off + 10])
        off += 10
        rdata = pkt[off:off + rdlen]
        if rtype == QTYPE_A:
            answers.append((rtype, socket.inet_ntoa(rdata)))
        elif rtype == QTYPE_MX:
            answers.append((rtype, (struct.unpack(">H", rdata[:2])[0], _dns_name(pkt, off + 2)[0])))
        off += rdlen
    return DnsReply(flags & 0xF, answers)


# ---- dnsmasq ------------------------------------------------------------------------

def _free_udp_tcp_port(addr="127.0.0.1"):
    """A port free for both UDP and TCP on addr (dnsmasq binds both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((addr, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((addr, port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free UDP+TCP port on %s" % addr)


class Dnsmasq:
    """dnsmasq answering for .test on 127.0.0.1:port. Names not in the zone are
    NXDOMAIN (--local=/test/). The temporary-failure domains are forwarded to
    "the default servers", of which there are none (--no-resolv), so dnsmasq
    answers REFUSED at once: a dead upstream port would also be a temporary
    failure, but only after the resolver's whole timeout."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "dnsmasq.log"
        self.proc = None
        self.port = None

    @property
    def spec(self):
        """The value of vsmtpd's `[global] dns`."""
        return "127.0.0.1:%d" % self.port

    def _args(self):
        args = ["dnsmasq", "--keep-in-foreground", "--port=%d" % self.port,
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                "--conf-file=/dev/null", "--pid-file=", "--user=" + pwd.getpwuid(os.getuid()).pw_name,
                "--log-facility=%s" % self.log, "--log-queries", "--local=/test/"]
        args += ["--mx-host=%s,%s,%d" % mx for mx in ZONE_MX]
        args += ["--host-record=%s,%s" % a for a in ZONE_A]
        # RFC 7505: MX 0 "." is RDATA 0000 (preference) 00 (the root name).
        args += ["--dns-rr=%s,%d,000000" % (d, QTYPE_MX) for d in ZONE_NULL_MX]
        args += ["--server=/%s/#" % d for d in ZONE_TEMPFAIL]
        return args

    def start(self):
        for _ in range(5):          # the port may be taken between the check and the bind
            self.port = _free_udp_tcp_port()
            self.proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready():
                return self
            err = self.proc.stderr.read().decode()
            self.proc.stderr.close()
            if "in use" not in err:
                break
        raise AssertionError("dnsmasq did not start: %s" % err)

    def _wait_ready(self):
        """Polls with real queries until dnsmasq answers, or it exits."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                dns_query(self.port, ZONE_A[0][0], QTYPE_A, timeout=0.1)
                return True
            except (socket.timeout, ConnectionRefusedError):
                continue
        raise AssertionError("dnsmasq on port %d did not answer within %ss" % (self.port, READY_TIMEOUT))

    def query(self, name, qtype):
        return dns_query(self.port, name, qtype)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


# ---- a test CA ----------------------------------------------------------------------

def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=str(cwd), capture_output=True, timeout=60)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr.decode())


class CertAuthority:
    """A CA (EC P-256) in root; issue() makes server certificates it signs."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cert = self.root / "ca.pem"
        self.key = self.root / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", self.key.name, "-out", self.cert.name, "-days", "2",
                 "-subj", "/CN=vsmtpd test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.root)

    def issue(self, name):
        """(cert, key) paths of a server certificate for DNS name `name`, made once."""
        cert, key = self.root / (name + ".pem"), self.root / (name + ".key")
        if cert.exists():
            return cert, key
        ext = self.root / (name + ".ext")
        ext.write_text("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n"
                       "basicConstraints=critical,CA:FALSE\n" % name)
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key.name, "-out", name + ".csr", "-subj", "/CN=" + name,
                 cwd=self.root)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", self.cert.name, "-CAkey",
                 self.key.name, "-set_serial", str(random.randrange(1, 2 ** 62)), "-days", "2",
                 "-extfile", ext.name, "-out", cert.name, cwd=self.root)
        key.chmod(0o600)
        return cert, key


# ---- the fake SMTP / LMTP server ----------------------------------------------------

DEFAULT_EXTENSIONS = ("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES")
STAGES = ("connect", "ehlo", "mail", "rcpt", "data", "eod")


class FakeConn:
    """One accepted connection. lines: (batch, bytes) for every command line
    received, batch being the number of the recv() that completed it (lines
    sent in one write share a batch). DATA content lines are not in lines."""

    def __init__(self, index, peer):
        self.index = index
        self.peer = peer
        self.lines = []
        self.tls = False
        self.tls_error = None        # why a TLS handshake failed, if one did
        self.injected = b""          # bytes pipelined after STARTTLS (must stay empty)
        self.auth_user = None
        self.quit = False            # the client sent QUIT
        self.closed = False
        self.sock = None

    def commands(self):
        return [l.decode("utf-8", "replace") for _, l in self.lines]

    def verbs(self):
        return [c.split(" ", 1)[0].upper() for c in self.commands()]

    def batch_of(self, prefix):
        """Batches of the command lines starting with prefix (case-insensitive)."""
        p = prefix.upper().encode()
        return [b for b, l in self.lines if l.upper().startswith(p)]

    def __repr__(self):
        return "FakeConn(#%d tls=%s%s auth=%r quit=%s lines=%r)" % (
            self.index, self.tls, " (%s)" % self.tls_error if self.tls_error else "",
            self.auth_user, self.quit, self.commands())


class FakeMessage:
    """A message whose content the fake received in full. replies: what the fake
    answered at its end (one per recipient in LMTP; none when it hung or dropped)."""

    def __init__(self, conn, mail_from, mail_params, rcpts, data):
        self.conn = conn.index
        self.tls = conn.tls
        self.auth_user = conn.auth_user
        self.mail_from = mail_from
        self.mail_params = mail_params
        self.rcpts = [r for r, _ in rcpts]
        self.rcpt_params = [p for _, p in rcpts]
        self.data = data
        self.replies = []

    @property
    def accepted(self):
        return any(r.startswith("2") for r in self.replies)

    def __repr__(self):
        return "FakeMessage(conn=#%d from=<%s> %s rcpts=%r replies=%r %d bytes)" % (
            self.conn, self.mail_from, self.mail_params, self.rcpts, self.replies, len(self.data))


def _split_path(arg, keyword):
    """"FROM:<a> P=1" -> ("a", "P=1"); None when malformed."""
    if not arg.upper().startswith(keyword + ":"):
        return None
    rest = arg[len(keyword) + 1:].lstrip()
    if not rest.startswith("<") or ">" not in rest:
        return None
    addr, params = rest[1:].split(">", 1)
    return addr, params.strip()


class _Wire:
    """Line reader and writer over one (possibly TLS-wrapped) socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.batch = 0

    def line(self):
        """The next CRLF-terminated line (without CRLF), or None at EOF."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.batch += 1
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, text):
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def drain(self):
        """Reads and drops everything until the peer closes (a hung server)."""
        while self.sock.recv(65536):
            pass


class _Session:
    """The fake's side of one connection."""

    def __init__(self, fake, conn, wire):
        self.fake = fake
        self.conn = conn
        self.wire = wire
        self.greeted = False
        self.txn = None              # (mail_from, mail_params, [(rcpt, params)])

    def answer(self, stage, arg, default):
        r = self.fake.reply(stage, arg, self.conn) if self.fake.reply else None
        return default if r is None else r

    def halts(self, stage):
        """Applies fake.drop / fake.hang at stage; True when the session must end."""
        if self.fake.drop == stage:
            return True
        if self.fake.hang == stage:
            self.wire.drain()
            return True
        return False

    def run(self):
        if self.halts("connect"):
            return
        kind = "LMTP" if self.fake.lmtp else "ESMTP"
        greeting = self.answer("connect", None, self.fake.greeting or
                               "220 %s %s fake" % (self.fake.name, kind))
        self.wire.send(greeting)
        if greeting.startswith("421"):
            return
        serving = greeting.startswith("2")
        while True:
            line = self.wire.line()
            if line is None:
                return
            with self.fake.lock:
                self.conn.lines.append((self.wire.batch, line))
                self.fake.lock.notify_all()
            verb, _, arg = line.decode("utf-8", "replace").partition(" ")
            verb = verb.upper()
            if not serving and verb != "QUIT":
                self.wire.send("503 5.5.1 no service here")
                continue
            handler = getattr(self, "cmd_" + verb.lower(), None)
            if handler is None:
                self.wire.send("502 5.5.2 command not recognized")
            elif handler(arg) is False:
                return

    # -- greeting and extensions --
    def _hello(self, arg, lmtp):
        if lmtp != self.fake.lmtp:
            self.wire.send("500 5.5.1 %s expected" % ("LHLO" if self.fake.lmtp else "EHLO"))
            return None
        if self.halts("ehlo"):
            return False
        self.txn = None
        self.greeted = True
        exts = list(self.fake.extensions)
        if self.fake.cert is not None and not self.conn.tls:
            exts.append("STARTTLS")
        if self.fake.auth is not None and (self.conn.tls or self.fake.cert is None):
            exts.append("AUTH PLAIN LOGIN")
        lines = [self.fake.name] + exts
        default = "\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                              for i, l in enumerate(lines))
        self.wire.send(self.answer("ehlo", arg, default))
        return None

    def cmd_ehlo(self, arg):
        return self._hello(arg, False)

    def cmd_lhlo(self, arg):
        return self._hello(arg, True)

    def cmd_helo(self, arg):
        if self.fake.lmtp:
            self.wire.send("500 5.5.1 LHLO expected")
            return None
        self.greeted = True
        self.txn = None
        self.wire.send("250 %s" % self.fake.name)
        return None

    def cmd_starttls(self, arg):
        if self.fake.cert is None or self.conn.tls:
            self.wire.send("502 5.5.1 STARTTLS not offered")
            return None
        self.wire.send("220 2.0.0 Ready to start TLS")
        self.conn.injected += self.wire.buf
        self.wire.buf = b""
        try:
            tls = self.fake.tls_context().wrap_socket(self.wire.sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.conn.tls_error = str(exc)
            return False
        self.wire.sock = tls
        with self.fake.lock:
            self.conn.sock = tls
            self.conn.tls = True
            self.fake.lock.notify_all()
        self.greeted = False
        self.txn = None
        return None

    # -- AUTH (RFC 4954; PLAIN RFC 4616, LOGIN) --
    def _b64_line(self, prompt):
        self.wire.send("334 " + prompt)
        line = self.wire.line()
        return None if line is None else base64.b64decode(line, validate=True).decode("utf-8")

    def cmd_auth(self, arg):
        if self.fake.auth is None or self.conn.auth_user is not None:
            self.wire.send("503 5.5.1 AUTH not available")
            return None
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        try:
            if mech == "PLAIN":
                raw = (base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) > 1
                       else self._b64_line(""))
                if raw is None:
                    return False
                _, user, password = raw.split("\0")
            elif mech == "LOGIN":
                user = (base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) > 1
                        else self._b64_line("VXNlcm5hbWU6"))
                password = self._b64_line("UGFzc3dvcmQ6") if user is not None else None
                if password is None:
                    return False
            else:
                self.wire.send("504 5.5.4 mechanism not supported")
                return None
        except ValueError:
            self.wire.send("501 5.5.2 cannot decode")
            return None
        if self.fake.auth.get(user) != password:
            self.wire.send("535 5.7.8 authentication failed")
            return None
        with self.fake.lock:
            self.conn.auth_user = user
            self.fake.lock.notify_all()
        self.wire.send("235 2.7.0 authenticated")
        return None

    # -- the transaction --
    def cmd_mail(self, arg):
        if self.halts("mail"):
            return False
        path = _split_path(arg, "FROM")
        if not self.greeted or self.txn is not None or path is None:
            self.wire.send("503 5.5.1 bad sequence or syntax")
            return None
        if self.fake.auth is not None and self.conn.auth_user is None:
            self.wire.send("530 5.7.0 authentication required")
            return None
        size = self.fake.size_limit()
        declared = [p for p in path[1].split() if p.upper().startswith("SIZE=")]
        if size and declared and int(declared[0][5:]) > size:
            self.wire.send("552 5.3.4 message size exceeds fixed maximum message size")
            return None
        r = self.answer("mail", path[0], "250 2.1.0 Ok")
        if r.startswith("2"):
            self.txn = (path[0], path[1], [])
        self.wire.send(r)
        return None

    def cmd_rcpt(self, arg):
        if self.halts("rcpt"):
            return False
        path = _split_path(arg, "TO")
        if self.txn is None or path is None:
            self.wire.send("503 5.5.1 need MAIL first")
            return None
        r = self.answer("rcpt", path[0], "250 2.1.5 Ok")
        if r.startswith("2"):
            self.txn[2].append(path)
        self.wire.send(r)
        return None

    def cmd_data(self, arg):
        if self.halts("data"):
            return False
        if self.txn is None or not self.txn[2]:
            self.wire.send("554 5.5.1 no valid recipients")
            return None
        r = self.answer("data", None, "354 End data with <CR><LF>.<CR><LF>")
        if not r.startswith("3"):
            self.txn = None
            self.wire.send(r)
            return None
        self.wire.send(r)
        content = []
        while True:
            line = self.wire.line()
            if line is None:
                return False
            if line == b".":
                break
            content.append((line[1:] if line.startswith(b".") else line) + b"\r\n")
        msg = FakeMessage(self.conn, self.txn[0], self.txn[1], self.txn[2], b"".join(content))
        self.txn = None
        with self.fake.lock:
            self.fake.messages.append(msg)
            n = len(self.fake.messages)
            self.fake.lock.notify_all()
        if self.halts("eod"):
            return False
        if self.fake.lmtp:
            replies = [self.answer("eod", r, "250 2.0.0 <%s> delivered" % r) for r in msg.rcpts]
        else:
            replies = [self.answer("eod", None, "250 2.0.0 Ok: queued as FAKE%d" % n)]
        with self.fake.lock:
            msg.replies = replies
            self.fake.lock.notify_all()
        for r in replies:
            self.wire.send(r)
        return None

    def cmd_rset(self, arg):
        self.txn = None
        self.wire.send("250 2.0.0 Ok")
        return None

    def cmd_noop(self, arg):
        self.wire.send("250 2.0.0 Ok")
        return None

    def cmd_quit(self, arg):
        self.conn.quit = True
        self.wire.send("221 2.0.0 Bye")
        return False


class FakeSmtp:
    """A scriptable SMTP (or, with lmtp=True, LMTP) server on (ip, port).

    greeting: the first reply (default "220 NAME ESMTP fake"); "421 ..." closes,
      another non-2xx greeting answers 503 to everything but QUIT.
    extensions: EHLO keywords; STARTTLS is added when cert is given (and until
      TLS is on), "AUTH PLAIN LOGIN" when auth is given (after TLS if cert is).
    reply(stage, arg, conn): returns a reply line to use instead of the default,
      or None; stage is one of STAGES; arg is the address for mail/rcpt, the
      recipient for an LMTP "eod", else None. Multi-line: lines joined by CRLF.
    hang / drop: a stage at which the fake stops answering (and reads until the
      client closes) / closes the connection; the message is recorded before
      an "eod" hang or drop.
    cert: (cert, key) for STARTTLS. auth: {user: password}; MAIL then needs AUTH.
    The attributes may be changed while the fake runs ("it changes its mind").
    """

    def __init__(self, ip, port, name="fake.test", greeting=None, extensions=DEFAULT_EXTENSIONS,
                 lmtp=False, reply=None, hang=None, drop=None, cert=None, auth=None):
        assert hang in STAGES + (None,) and drop in STAGES + (None,)
        self.ip = ip
        self.port = port
        self.name = name
        self.extensions = list(extensions)
        self.lmtp = lmtp
        self.greeting = greeting
        self.reply = reply
        self.hang = hang
        self.drop = drop
        self.cert = cert
        self.auth = auth
        self.lock = threading.Condition()
        self.connections = []
        self.messages = []
        self._threads = []
        self._lsock = None
        self._ctx = None

    def size_limit(self):
        for e in self.extensions:
            parts = e.split()
            if parts[0].upper() == "SIZE" and len(parts) > 1:
                return int(parts[1])
        return 0

    def tls_context(self):
        if self._ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
            self._ctx = ctx
        return self._ctx

    # -- life cycle --
    def start(self):
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        self._lsock = socket.socket(family, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((self.ip, self.port))
        self.port = self._lsock.getsockname()[1]       # port 0: the kernel's pick
        self._lsock.listen(64)
        t = threading.Thread(target=self._accept, name="fake-%s" % self.ip, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept(self):
        while True:
            try:
                sock, peer = self._lsock.accept()
            except OSError:
                return                  # stop() shut the listener down
            sock.settimeout(IO_TIMEOUT)
            with self.lock:
                conn = FakeConn(len(self.connections), peer)
                conn.sock = sock
                self.connections.append(conn)
                self.lock.notify_all()
            t = threading.Thread(target=self._serve, args=(conn, sock), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn, sock):
        wire = _Wire(sock)
        try:
            _Session(self, conn, wire).run()
        except (OSError, ValueError):     # ssl.SSLError is an OSError
            pass                        # the client went away, or spoke garbage
        finally:
            try:
                wire.sock.close()
            except OSError:
                pass
            with self.lock:
                conn.closed = True
                self.lock.notify_all()

    def stop(self):
        """Closes the listener and every connection; joins the threads."""
        if self._lsock is None:
            return
        for s in [self._lsock] + [c.sock for c in self.connections]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._lsock.close()
        for t in self._threads:
            t.join(10)
        self._lsock = None

    # -- waiting and inspecting --
    def wait(self, predicate, timeout=WAIT_TIMEOUT, what="a condition"):
        """Waits until predicate() (called under the lock) is true."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("fake %s:%d: timed out after %ss waiting for %s\n"
                                         "connections: %r\nmessages: %r" % (
                                             self.ip, self.port, timeout, what,
                                             self.connections, self.messages))
                self.lock.wait(left)

    def wait_messages(self, n, timeout=WAIT_TIMEOUT):
        """Waits for n messages received in full; returns the messages so far."""
        self.wait(lambda: len(self.messages) >= n, timeout, "%d message(s)" % n)
        with self.lock:
            return list(self.messages)

    def wait_connections(self, n, timeout=WAIT_TIMEOUT):
        self.wait(lambda: len(self.connections) >= n, timeout, "%d connection(s)" % n)
        with self.lock:
            return list(self.connections)

    def wait_closed(self, timeout=WAIT_TIMEOUT):
        """Waits until every connection so far has ended."""
        self.wait(lambda: all(c.closed for c in self.connections), timeout, "all connections closed")

    def accepted(self):
        with self.lock:
            return [m for m in self.messages if m.accepted]

    def commands(self):
        """Every command line of every connection, in connection order."""
        with self.lock:
            return [c for conn in self.connections for c in conn.commands()]


# ---- Dovecot LMTP ---------------------------------------------------------------------

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = vsmtpd-test-{tag}
log_path = {root}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:{root}/mail/%d/%n
lmtp_add_received_header = no
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {root}/users
  default_fields = uid={uid} gid={gid} home={root}/mail/%d/%n
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""


class Dovecot:
    """A private Dovecot answering LMTP on a Unix socket and 127.0.0.1:port and
    storing into {root}/mail/DOMAIN/USER (Maildir). Only the addresses in users
    exist; others get 550 5.1.1 at RCPT.

    Its directory is made under /tmp, not in the test's tmp_path: Dovecot will
    not write mail as root (it refuses uid 0), and the mail user must be able
    to reach the Maildirs, which pytest's 0700 directories forbid."""

    def __init__(self, users, port):
        self.users = list(users)
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="vsmtpd-dv-"))
        self.root.chmod(0o755)
        self.socket = self.root / "run" / "lmtp"
        self.log = self.root / "dovecot.log"
        self.proc = None

    def _mail_owner(self):
        if os.geteuid() != 0:
            return os.getuid(), os.getgid()
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid

    def start(self):
        uid, gid = self._mail_owner()
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, uid, gid)
        (self.root / "users").write_text("".join("%s::::::\n" % u for u in self.users))
        conf = self.root / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(root=self.root, tag=self.root.name, uid=uid, gid=gid,
                                            port=self.port))
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()
        return self

    def _wait_ready(self):
        """Polls both listeners for Dovecot's LMTP greeting."""
        deadline = time.monotonic() + READY_TIMEOUT
        targets = [(socket.AF_INET, ("127.0.0.1", self.port)), (socket.AF_UNIX, str(self.socket))]
        while targets:
            if self.proc.poll() is not None:
                raise AssertionError("dovecot exited: %s\n%s" % (
                    self.proc.stderr.read().decode(), self.log_text()))
            if time.monotonic() > deadline:
                raise AssertionError("dovecot not ready within %ss\n%s" % (READY_TIMEOUT, self.log_text()))
            family, addr = targets[0]
            try:
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect(addr)
                    if s.recv(512).startswith(b"220 "):
                        targets.pop(0)
            except OSError:
                time.sleep(0.02)

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ""

    def maildir(self, address):
        local, domain = address.lower().rsplit("@", 1)
        return self.root / "mail" / domain / local

    def new_files(self, address):
        d = self.maildir(address) / "new"
        return sorted(d.iterdir()) if d.is_dir() else []

    def stop(self):
        """SIGTERM and wait (Dovecot logs a warning for it and exits 0); removes the files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)


def split_dovecot_headers(data):
    """Splits a file Dovecot stored into ({header: value} of the Return-Path and
    Delivered-To lines it put on top, the rest)."""
    added = {}
    while True:
        name = data.split(b":", 1)[0]
        if name not in (b"Return-Path", b"Delivered-To") or b"\n" not in data:
            return added, data
        line, data = data.split(b"\n", 1)
        added[name.decode()] = line.split(b": ", 1)[1].decode()


# ---- the world of one test -------------------------------------------------------------

class World:
    """dnsmasq, the fakes and the vsmtpd configuration pointing at them.
    port: the port of every fake MX (vsmtpd's outbound_port)."""

    def __init__(self, env, ca, root):
        self.env = env
        self.ca = ca
        self.root = Path(root)
        self.port = self._port()
        self.dns = Dnsmasq(self.root / "dnsmasq").start()
        self.fakes = []
        self.dovecots = []

    def _port(self):
        while True:
            p = free_port(WORLD_IPS)
            if p != self.env.port:
                return p

    def fake(self, ip, port=None, **kw):
        """Starts a FakeSmtp on ip (port: the world's unless given; 0 = any);
        stopped at teardown."""
        f = FakeSmtp(ip, self.port if port is None else port, **kw).start()
        self.fakes.append(f)
        return f

    def dovecot(self, users=("user1@example.test", "user2@example.test", "user3@example.test")):
        d = Dovecot(users, free_port()).start()
        self.dovecots.append(d)
        return d

    def cert(self, name):
        return self.ca.issue(name)

    def credentials(self, user, password):
        """A smart_host_credentials file (mode 600); returns its path."""
        path = self.root / "smarthost.secret"
        path.write_text("%s:%s\n" % (user, password))
        path.chmod(0o600)
        return path

    def server(self, **overrides):
        """[server mx] relaying to the world: fast retries, short timeouts."""
        opts = {"outbound_port": str(self.port), "retry": "1s", "expire": "1h",
                "outbound_timeout_connect": "3s", "outbound_timeout_command": "5s",
                "outbound_timeout_data": "5s"}
        opts.update(overrides)
        return self.env.server(**opts)

    def global_opts(self, **overrides):
        return self.env.global_opts(dns=self.dns.spec, **overrides)

    def start(self, global_opts=None, **server_overrides):
        """Starts vsmtpd with self.server(**server_overrides)."""
        return self.env.start(servers=[("mx", self.server(**server_overrides))],
                              global_opts=self.global_opts(**(global_opts or {})))

    def close(self):
        for f in self.fakes:
            f.stop()
        for d in self.dovecots:
            d.stop()
        self.dns.stop()


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    return CertAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def world(env, ca, tmp_path):
    """The fakes are stopped before the env fixture stops vsmtpd (teardown runs
    in reverse order): an outbound connection still open then just ends."""
    w = World(env, ca, tmp_path / "world")
    yield w
    w.close()
