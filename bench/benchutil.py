"""benchutil.py — small helpers shared by the benchmark scripts.

Owns: the registry of every process the benchmark starts (so that all of them
are ended on exit, each by its own pid), waiting for a listener's greeting,
counting Maildir files and checking that each message arrived exactly once,
reading a process tree's memory (PSS from /proc/PID/smaps_rollup), and
medians/percentiles.

Error convention: a broken run raises BenchFailure with a sentence saying what
went wrong; the driver (bench.py) records it in RESULTS.md and exits non-zero
at the end. Everything here is bounded in time: every wait has a deadline.
Python 3 standard library only.
"""

import math
import os
import re
import signal
import socket
import statistics
import subprocess
import time


class BenchFailure(Exception):
    """A run that lost or duplicated mail, or a server that misbehaved."""


# ---- processes ---------------------------------------------------------------

class ProcessRegistry:
    """Every child process we start, with a pid file per process under
    STATE_DIR so that run.sh's trap can end them even if Python dies."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.procs = {}          # name -> subprocess.Popen
        os.makedirs(state_dir, exist_ok=True)

    def start(self, name, argv, stdout=None, stderr=None, cwd=None):
        # A session of its own: a Ctrl-C on the terminal reaches only us, and
        # we stop our children in order (and can tell a crash from a signal).
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, cwd=cwd,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = proc
        with open(os.path.join(self.state_dir, name + ".pid"), "w") as f:
            f.write("%d\n" % proc.pid)
        return proc

    def stop(self, name, grace=10.0):
        """SIGTERM, then SIGKILL after GRACE seconds. Returns the exit code."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        try:
            os.unlink(os.path.join(self.state_dir, name + ".pid"))
        except FileNotFoundError:
            pass
        return proc.returncode

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name, grace=5.0)


# ---- network -----------------------------------------------------------------

def wait_greeting(host, port, timeout=20.0):
    """Waits until HOST:PORT answers with a 220 greeting; raises BenchFailure
    when it does not within TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2.0) as s:
                data = s.recv(512)
                if data.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                    return
                last = "greeting %r" % data[:60]
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise BenchFailure("%s:%d did not greet within %.0fs (%s)" % (host, port, timeout, last))


def tcp_established_to(port):
    """Established IPv4 connections whose remote end is 127.0.0.1:PORT, seen
    from the connecting side (/proc/net/tcp): the relay connections a server
    holds open to its sink."""
    want = ":%04X" % port
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[2].endswith(want) and fields[3] == "01":
                    n += 1
    except OSError:
        pass
    return n


# ---- Maildir -----------------------------------------------------------------

def count_files(path):
    try:
        return len(os.listdir(path))
    except FileNotFoundError:
        return 0


def clear_dir_files(path):
    """Removes the files directly inside PATH (a Maildir's new/, cur/, tmp/)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(os.path.join(path, n))
        except FileNotFoundError:
            pass


def clear_maildir(maildir):
    for sub in ("new", "cur", "tmp"):
        clear_dir_files(os.path.join(maildir, sub))


def wait_count(counter, expected, source_done, stall=30.0, cap=600.0, poll=0.02):
    """Polls COUNTER() until it reaches EXPECTED. Returns the monotonic time
    at which it did. SOURCE_DONE() tells whether the sender has finished; once
    it has, the count must keep growing: STALL seconds without progress fail
    the run (mail lost), and so does CAP seconds in all. A count above
    EXPECTED fails at once (mail duplicated)."""
    start = time.monotonic()
    last_n, last_change = -1, start
    while True:
        n = counter()
        now = time.monotonic()
        if n >= expected:
            if n > expected:
                raise BenchFailure("%d messages arrived, %d were sent (duplicates)" % (n, expected))
            return now
        if n != last_n:
            last_n, last_change = n, now
        if source_done() and now - last_change > stall:
            raise BenchFailure("only %d of %d messages arrived; no progress for %.0fs (mail lost)"
                               % (n, expected, stall))
        if now - start > cap:
            raise BenchFailure("only %d of %d messages arrived after %.0fs" % (n, expected, cap))
        time.sleep(poll)


MESSAGE_ID_RE = re.compile(rb"^Message-Id:\s*(<[^>\r\n]*>)", re.I | re.M)


def verify_maildir(new_dir, expected, settle=1.0):
    """Exactly-once check after a run: after SETTLE more seconds new/ must hold
    EXPECTED files whose Message-Id headers are all different (smtp-source
    and our latency client number every message). Raises BenchFailure."""
    time.sleep(settle)
    names = os.listdir(new_dir)
    if len(names) != expected:
        raise BenchFailure("%s holds %d messages after settling, expected %d"
                           % (new_dir, len(names), expected))
    ids = set()
    missing = 0
    for n in names:
        with open(os.path.join(new_dir, n), "rb") as f:
            head = f.read(16384)
        end = head.find(b"\n\n")
        m = MESSAGE_ID_RE.search(head if end < 0 else head[:end + 1])
        if m is None:
            missing += 1
        else:
            ids.add(m.group(1))
    if missing:
        raise BenchFailure("%d delivered messages have no Message-Id header" % missing)
    if len(ids) != expected:
        raise BenchFailure("%d distinct Message-Ids among %d delivered messages (duplicates)"
                           % (len(ids), expected))


# ---- memory ------------------------------------------------------------------

def children_map():
    """pid -> list of child pids, from /proc/*/stat."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces.
        fields = stat[stat.rfind(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(d))
    return kids


def process_tree(pid):
    """PID and all its descendants."""
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pss_kib(pids):
    """Sum of the Pss lines of /proc/PID/smaps_rollup over PIDS (KiB);
    processes that exited meanwhile count 0."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU seconds of PIDS and of the children they have reaped
    (utime + stime + cutime + cstime from /proc/PID/stat). Over a whole
    process tree this counts every process that lived in it, also those that
    exited meanwhile (e.g. Postfix's smtpd processes, reaped by master)."""
    ticks = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLOCK_TICKS


def _cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)      # idle + iowait
    return sum(fields), idle


def cpu_busy(seconds=2.0):
    """Share (0..1) of all CPUs busy during the next SECONDS, from /proc/stat:
    how much of the machine other workloads take before we start."""
    total0, idle0 = _cpu_times()
    time.sleep(seconds)
    total1, idle1 = _cpu_times()
    if total1 == total0:
        return 0.0
    return 1.0 - (idle1 - idle0) / (total1 - total0)


def wait_quiet(threshold, max_wait, report):
    """Waits (at most MAX_WAIT seconds) until other workloads use less than
    THRESHOLD of the CPUs; returns the last busy share measured."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy >= threshold and time.monotonic() < deadline:
        report("the machine is %.0f%% busy with other work; waiting for it to calm down" % (busy * 100))
        time.sleep(3.0)
        busy = cpu_busy()
    return busy


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---- statistics --------------------------------------------------------------

def median(values):
    return statistics.median(values) if values else None


def percentile(sorted_values, q):
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return None
    rank = math.ceil(q / 100.0 * len(sorted_values))
    return sorted_values[max(0, min(len(sorted_values), rank) - 1)]
