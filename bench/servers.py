"""servers.py — the servers the benchmark runs: a private Postfix instance,
vsmtpd, and Postfix's smtp-sink as the relay target (one sink per server, so
that each sink's count is one server's deliveries only).

Owns the configuration each one gets and its start/stop. Every server lives
under the benchmark's temporary directory (BASE), listens on 127.0.0.1 only,
and is ended by stop() or, if Python dies, by run.sh's trap through the pid
files in BASE/state/.

Postfix: its own main.cf and master.cf in BASE/postfix/conf, its own
queue_directory and data_directory, started with `postfix -c DIR start` (no
postmulti, the system /etc/postfix is never read or changed), no chroot, log
to BASE/postfix/maillog through postlogd. Mail for bench.test goes to the
virtual(8) agent into the Maildir BASE/postfix/mail/bench.test/user/; other
domains are relayed to the smtp-sink. fsync stays on (the default).

vsmtpd: one [server bench] as the issue describes, log (stderr) to
BASE/vsmtpd/vsmtpd.log, Maildirs under BASE/vsmtpd/vmail/; other domains go
to its smtp-sink as the smart host (no DNS, no TLS).

Both relay with the same limits toward the sink: RELAY_CONCURRENCY
connections at once (Postfix's default destination limit), and no limit on
the messages per connection (Postfix's default smtp_connection_reuse_count_limit
= 0; its connections are bounded in time instead, 300 s by default).

Errors: BenchFailure when a server does not come up or does not stop.
"""

import grp
import os
import pwd
import subprocess
import time

from benchutil import BenchFailure, process_tree, wait_greeting

HOST = "127.0.0.1"
DOMAIN = "bench.test"
USER = "user"
RELAY_DOMAIN = "relay.test"
POSTFIX_BIN = "/usr/sbin/postfix"
SMTP_SINK = "/usr/sbin/smtp-sink"
# Postfix's own defaults throttle nothing at 32 sessions; 200 processes (and
# 200 connections per client) keep it from being limited artificially.
POSTFIX_PROCESS_LIMIT = 200
MESSAGE_SIZE_LIMIT = 50 * 1024 * 1024      # room for scenario (c)'s 10 MiB
# Connections to the relay target at once: Postfix's default_destination_
# concurrency_limit, written out in its main.cf and given to vsmtpd as
# outbound_concurrency. Messages per connection: unlimited on both sides.
RELAY_CONCURRENCY = 20
RELAY_MESSAGES_PER_CONNECTION = 0


def unprivileged_ids():
    """uid/gid the virtual(8) agent writes Maildirs as (nobody/nogroup)."""
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


class PostfixInstance:
    def __init__(self, base, port, sink_port, state_dir):
        self.base = os.path.join(base, "postfix")
        self.conf = os.path.join(self.base, "conf")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        self.mail = os.path.join(self.base, "mail")
        self.maillog = os.path.join(self.base, "maillog")
        self.maildir = os.path.join(self.mail, DOMAIN, USER)
        self.port = port
        self.sink_port = sink_port
        self.state_dir = state_dir
        self.master_pid = None

    def version(self):
        out = subprocess.run(["/usr/sbin/postconf", "-d", "-h", "mail_version"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or "unknown"

    def configure(self):
        uid, gid = unprivileged_ids()
        for d in (self.conf, self.queue, self.data, os.path.join(self.mail, DOMAIN)):
            os.makedirs(d, exist_ok=True)
        # Postfix's daemons (user postfix) must reach the queue through BASE.
        for d in (os.path.dirname(self.base), self.base, self.conf, self.queue):
            os.chmod(d, 0o755)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postfix").gr_gid)
        for d in (self.mail, os.path.join(self.mail, DOMAIN)):
            os.chown(d, uid, gid)
        main_cf = f"""# Private Postfix instance for vsmtpd's benchmark (bench/servers.py).
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $myhostname
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {self.mail}
virtual_mailbox_maps = static:{DOMAIN}/{USER}/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
virtual_mailbox_limit = 0
message_size_limit = {MESSAGE_SIZE_LIMIT}
relayhost = [{HOST}]:{self.sink_port}
default_destination_concurrency_limit = {RELAY_CONCURRENCY}
smtp_connection_reuse_count_limit = {RELAY_MESSAGES_PER_CONNECTION}
default_process_limit = {POSTFIX_PROCESS_LIMIT}
smtpd_client_connection_count_limit = {POSTFIX_PROCESS_LIMIT}
maillog_file = {self.maillog}
maillog_file_prefixes = {self.base}
"""
        master_cf = f"""# Private Postfix instance for vsmtpd's benchmark: no chroot anywhere.
# service    type  private unpriv chroot wakeup maxproc command
{HOST}:{self.port} inet n - n - - smtpd
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(main_cf)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(master_cf)

    def _postfix(self, *args, timeout=60):
        return subprocess.run([POSTFIX_BIN, "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def _read_master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self):
        r = self._postfix("start")
        if r.returncode != 0:
            raise BenchFailure("postfix start failed: " + (r.stderr or r.stdout).strip())
        deadline = time.monotonic() + 20
        while self.master_pid is None and time.monotonic() < deadline:
            self.master_pid = self._read_master_pid()
            time.sleep(0.1)
        if self.master_pid is None:
            raise BenchFailure("postfix master wrote no pid file")
        with open(os.path.join(self.state_dir, "postfix-master.pid"), "w") as f:
            f.write("%d\n" % self.master_pid)
        with open(os.path.join(self.state_dir, "postfix-conf"), "w") as f:
            f.write(self.conf + "\n")
        wait_greeting(HOST, self.port)

    def pids(self):
        return process_tree(self.master_pid) if self.master_pid else []

    def stop(self):
        if self.master_pid is None:
            return
        self._postfix("stop")
        deadline = time.monotonic() + 15
        while os.path.exists("/proc/%d" % self.master_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if os.path.exists("/proc/%d" % self.master_pid):
            self._postfix("abort")
            time.sleep(1)
        if os.path.exists("/proc/%d" % self.master_pid):
            os.kill(self.master_pid, 9)
        self.master_pid = None
        for name in ("postfix-master.pid", "postfix-conf"):
            try:
                os.unlink(os.path.join(self.state_dir, name))
            except FileNotFoundError:
                pass

    def queue_count(self):
        """Messages still in the queue (incoming, active, deferred)."""
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _root, _dirs, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n


class VsmtpdInstance:
    def __init__(self, base, binary, port, sink_port, registry, max_connections=None):
        self.base = os.path.join(base, "vsmtpd")
        self.binary = binary
        self.port = port
        self.sink_port = sink_port
        self.registry = registry
        self.max_connections = max_connections
        self.conf = os.path.join(self.base, "vsmtpd.conf")
        self.spool = os.path.join(self.base, "spool")
        self.log = os.path.join(self.base, "vsmtpd.log")
        self.maildir = os.path.join(self.base, "vmail", DOMAIN, USER)
        self.proc = None

    def configure(self):
        os.makedirs(self.spool, exist_ok=True)
        os.makedirs(os.path.dirname(self.maildir), exist_ok=True)
        limit = ""
        if self.max_connections is not None:
            limit = "max_connections = %d\n" % self.max_connections
        text = f"""; vsmtpd for the benchmark (bench/servers.py)
[global]
spool   = {self.spool}
workers = auto
log     = stderr
control = {self.base}/control.sock
dns     = 127.0.0.1:9

[server bench]
listen         = {HOST}:{self.port}
hostname       = vsmtpd.{DOMAIN}
local_domains  = {DOMAIN}
mailbox        = maildir:{self.base}/vmail/%d/%u
relay_networks = 127.0.0.0/8
max_connections_per_ip      = 0
max_messages_per_connection = 0
smart_host     = [{HOST}]:{self.sink_port}
smart_host_tls = none
outbound_concurrency = {RELAY_CONCURRENCY}
outbound_max_messages_per_connection = {RELAY_MESSAGES_PER_CONNECTION}
{limit}"""
        with open(self.conf, "w") as f:
            f.write(text)
        r = subprocess.run([self.binary, "-n", "-c", self.conf], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise BenchFailure("vsmtpd rejects the bench config: " + (r.stderr or r.stdout).strip())

    def start(self):
        logf = open(self.log, "ab")
        try:
            self.proc = self.registry.start("vsmtpd", [self.binary, "-c", self.conf],
                                            stdout=logf, stderr=logf)
        finally:
            logf.close()
        try:
            wait_greeting(HOST, self.port)
        except BenchFailure:
            if self.proc.poll() is not None:
                raise BenchFailure("vsmtpd exited at start with %d; see %s"
                                   % (self.proc.returncode, self.log))
            raise

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        rc = self.registry.stop("vsmtpd", grace=15.0)
        self.proc = None
        return rc

    def spool_count(self):
        """Queue files still in the spool (delivered ones are removed)."""
        n = 0
        for sub in ("queue", "tmp"):
            for _root, _dirs, files in os.walk(os.path.join(self.spool, sub)):
                n += len(files)
        return n


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1:PORT: accepts every message and keeps
    nothing. Its -c counters go to a file we read to count messages."""

    def __init__(self, base, port, registry, name="sink"):
        self.port = port
        self.registry = registry
        self.name = name
        self.out = os.path.join(base, name + ".out")
        self.proc = None

    def start(self):
        with open(self.out, "wb") as f:
            self.proc = self.registry.start(
                self.name, [SMTP_SINK, "-c", "-u", "nobody", "%s:%d" % (HOST, self.port), "1024"],
                stdout=f, stderr=subprocess.STDOUT)
        wait_greeting(HOST, self.port)

    def _counter(self, name):
        """The last `NAME=N` the sink printed (its -c counters), 0 before any."""
        try:
            with open(self.out, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 256))
                tail = f.read()
        except OSError:
            return 0
        i = tail.rfind(name.encode() + b"=")
        if i < 0:
            return 0
        digits = b""
        for c in tail[i + len(name) + 1:]:
            if not chr(c).isdigit():
                break
            digits += bytes([c])
        return int(digits) if digits else 0

    def messages(self):
        """Messages received so far."""
        return self._counter("mesg")

    def sessions(self):
        """Connections accepted so far (`sess=N`)."""
        return self._counter("sess")

    def stop(self):
        if self.proc is not None:
            self.registry.stop(self.name)
            self.proc = None
