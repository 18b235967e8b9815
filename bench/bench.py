#!/usr/bin/env python3
"""bench.py — vsmtpd against Postfix, side by side, on this machine.

Usage: bench.py --vsmtpd BUILD/vsmtpd --tmp DIR [--runs N] [--quick] [--out RESULTS.md]
                [--only limits,a,b,c,d,e,f]
(normally started by bench/run.sh, which installs Postfix, builds vsmtpd,
raises the open-file limit, makes DIR and cleans up after us).

Runs, each verified (every message arrived exactly once, else the run fails
loudly and the result says FAILED):
  limits  the machine: smtp-source into smtp-sink (no disk) at 32 sessions;
          the fsync cycle (fsync_cycle.c) with 1 and 16 threads
  (a)     5,000 messages of 2 KiB into a Maildir over 1, 8 and 32 sessions,
          timed until the Maildir holds them all
  (b)     the same relayed into smtp-sink over 32 sessions, timed until the
          sink has them all (each server relays to a sink of its own)
  (c)     20 messages of 10 MiB over 4 sessions into a Maildir
  (d)     2,000 idle connections: how many are greeted, PSS before and after
  (e)     500 sequential one-message sessions: latency p50/p99
  (f)     untimed: 1,000 messages under strace -c -f, system calls (and
          fsync/fdatasync calls) per message
Each figure is the median of --runs runs (3), (d) runs once. Runs of the two
servers alternate so that drift of the machine hits both alike. --only runs
some scenarios (the others print as "—"), e.g. `--only b` while working on
the relay path.
Exit status: 0 when every run passed, 1 when any failed (RESULTS.md is
written either way), 2 on bad usage.
"""

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True          # keep bench/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchutil import (BenchFailure, ProcessRegistry, clear_maildir, count_files, cpu_busy,
                       cpu_seconds, load_average, percentile, pss_kib, tcp_established_to,
                       verify_maildir, wait_count, wait_quiet)
from clients import IdleFleet, SourceRun, latency_run
from servers import DOMAIN, RELAY_DOMAIN, USER, PostfixInstance, SmtpSink, VsmtpdInstance
import report

POSTFIX_PORT = 2625
VSMTPD_PORT = 2626
POSTFIX_SINK_PORT = 2627
LIMIT_SINK_PORT = 2628
VSMTPD_SINK_PORT = 2629

ACCEPT_MESSAGES = 5000
ACCEPT_SIZE = 2048
ACCEPT_SESSIONS = (1, 8, 32)
LARGE_MESSAGES = 20
LARGE_SIZE = 10 * 1024 * 1024
LARGE_SESSIONS = 4
IDLE_CONNECTIONS = 2000
IDLE_WINDOW = 10.0           # seconds the idle fleet waits for greetings
VSMTPD_IDLE_MAX_CONNECTIONS = 3000
LATENCY_SESSIONS = 500
FSYNC_SECONDS = 2
DRAIN_TIMEOUT = 30.0
SYSCALL_MESSAGES = 1000
QUIET_THRESHOLD = 0.15       # share of the CPUs other work may use when we start
RELAY_SESSIONS = 32
SCENARIOS = ("limits", "a", "b", "c", "d", "e", "f")

TO_LOCAL = "%s@%s" % (USER, DOMAIN)
TO_RELAY = "%s@%s" % (USER, RELAY_DOMAIN)


def log(msg):
    print("bench: " + msg, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = os.path.abspath(args.tmp)
        self.registry = ProcessRegistry(os.path.join(self.tmp, "state"))
        self.results = {"runs": args.runs, "messages": args.messages, "quick": args.quick,
                        "latency_sessions": args.latency, "idle_window": IDLE_WINDOW,
                        "only": (sorted(args.only, key=SCENARIOS.index)
                                 if args.only != set(SCENARIOS) else None),
                        "failures": [], "notes": []}
        self.postfix = None
        self.vsmtpd = None
        self.sinks = {}          # server name -> its SmtpSink (the relay target)

    # -- bookkeeping -------------------------------------------------------

    def fail(self, what, err):
        msg = "%s: %s" % (what, err)
        log("FAILED " + msg)
        self.results["failures"].append(msg)

    def note(self, msg):
        log("note: " + msg)
        self.results["notes"].append(msg)

    def record(self, key, server, value):
        self.results.setdefault(key, {}).setdefault(server, []).append(value)

    # -- servers -----------------------------------------------------------

    def start_sink(self, name, port):
        if name not in self.sinks:
            sink = SmtpSink(self.tmp, port, self.registry, name="sink-" + name)
            sink.start()
            self.sinks[name] = sink

    def start_servers(self, vsmtpd_max_connections=None, postfix=True, vsmtpd=True):
        if postfix:
            self.start_sink("postfix", POSTFIX_SINK_PORT)
            self.postfix = PostfixInstance(self.tmp, POSTFIX_PORT, POSTFIX_SINK_PORT,
                                           self.registry.state_dir)
            self.postfix.configure()
            self.postfix.start()
        if vsmtpd:
            self.start_sink("vsmtpd", VSMTPD_SINK_PORT)
            self.vsmtpd = VsmtpdInstance(self.tmp, self.args.vsmtpd, VSMTPD_PORT, VSMTPD_SINK_PORT,
                                         self.registry, max_connections=vsmtpd_max_connections)
            self.vsmtpd.configure()
            self.vsmtpd.start()

    def stop_servers(self):
        if self.postfix is not None:
            self.postfix.stop()
            self.postfix = None
        if self.vsmtpd is not None:
            alive = self.vsmtpd.alive()
            rc = self.vsmtpd.stop()
            if not alive and rc != 0:
                self.fail("vsmtpd", "the daemon had died (exit status %s, negative: killed by "
                          "that signal); see its log" % rc)
            elif not alive:
                self.note("vsmtpd had exited (status 0) before it was stopped")
            elif rc not in (0, None):
                self.note("vsmtpd exited with %s on SIGTERM" % rc)
            self.vsmtpd = None

    def stop_all(self):
        try:
            self.stop_servers()
        finally:
            for sink in self.sinks.values():
                sink.stop()
            self.sinks = {}
            self.registry.stop_all()

    def servers(self):
        return [("postfix", self.postfix, POSTFIX_PORT), ("vsmtpd", self.vsmtpd, VSMTPD_PORT)]

    def drain(self, name, server, must=False):
        """Waits until the server's queue is empty after a run (bounded). A
        queue that does not empty is a note, or with MUST a failed run: for
        the relay, a message still queued once the sink has them all would
        be sent again."""
        count = server.queue_count if name == "postfix" else server.spool_count
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while count() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = count()
        if left:
            msg = "%d files still in its queue %.0fs after all mail was delivered" % (left, DRAIN_TIMEOUT)
            if must:
                raise BenchFailure(msg)
            self.note("%s: %s" % (name, msg))

    def source_warnings(self, name, src):
        """smtp-source reports unexpected replies on stderr; keep them."""
        text = src.stderr.decode(errors="replace").strip()
        if text:
            lines = text.splitlines()
            self.note("%s: smtp-source printed %d line(s), first: %s" % (name, len(lines), lines[0][:200]))

    # -- one measured run --------------------------------------------------

    def accept_run(self, name, server, port, sessions, messages, size):
        """smtp-source into SERVER; seconds until the Maildir holds them all."""
        new_dir = os.path.join(server.maildir, "new")
        clear_maildir(server.maildir)
        cpu0 = cpu_seconds(server.pids())
        src = SourceRun(port, sessions, messages, size, TO_LOCAL)
        try:
            t_end = wait_count(lambda: count_files(new_dir), messages, src.done)
        except BenchFailure:
            src.abort()
            raise
        accept_secs = src.finish()
        self.source_warnings(name, src)
        deliver_secs = t_end - src.start_time
        verify_maildir(new_dir, messages)
        self.drain(name, server)
        cpu = cpu_seconds(server.pids()) - cpu0
        clear_maildir(server.maildir)
        return {"seconds": deliver_secs, "accept_seconds": accept_secs,
                "rate": messages / deliver_secs, "cpu_ms_per_msg": cpu * 1000 / messages}

    def relay_run(self, name, server, port, sessions, messages):
        """smtp-source into SERVER for the relay domain; seconds until the
        server's own smtp-sink has counted them all. Exactly once: the sink's
        count, one second later still, and the server's queue empty. Also the
        connections the server opened to the sink during the run: those the
        sink saw end (its sess= counter) plus those open at the end minus
        those open (idle, from the previous run) at the start."""
        sink = self.sinks[name]
        base, base_sess = sink.messages(), sink.sessions()
        open0 = tcp_established_to(sink.port)
        cpu0 = cpu_seconds(server.pids())
        src = SourceRun(port, sessions, messages, ACCEPT_SIZE, TO_RELAY)
        try:
            t_end = wait_count(lambda: sink.messages() - base, messages, src.done)
        except BenchFailure:
            src.abort()
            raise
        accept_secs = src.finish()
        self.source_warnings("%s relay" % name, src)
        time.sleep(1.0)
        got = sink.messages() - base
        if got != messages:
            raise BenchFailure("smtp-sink received %d messages, %d were sent" % (got, messages))
        self.drain(name, server, must=True)
        cpu = cpu_seconds(server.pids()) - cpu0
        conns = sink.sessions() - base_sess + tcp_established_to(sink.port) - open0
        secs = t_end - src.start_time
        return {"seconds": secs, "accept_seconds": accept_secs, "rate": messages / secs,
                "cpu_ms_per_msg": cpu * 1000 / messages, "sink_connections": conns}

    # -- scenarios ---------------------------------------------------------

    def machine_limits(self):
        log("limits: smtp-source -> smtp-sink at 32 sessions")
        sink = SmtpSink(self.tmp, LIMIT_SINK_PORT, self.registry, name="limit-sink")
        sink.start()
        try:
            for r in range(self.args.runs):
                base = sink.messages()
                src = SourceRun(LIMIT_SINK_PORT, 32, self.args.messages, ACCEPT_SIZE, TO_LOCAL)
                try:
                    try:
                        wait_count(lambda: sink.messages() - base, self.args.messages, src.done)
                    except BenchFailure:
                        src.abort()
                        raise
                    secs = src.finish()
                    self.record("limit_sink", "machine", {"seconds": secs,
                                                          "rate": self.args.messages / secs})
                except BenchFailure as e:
                    self.fail("limits: sink run %d" % (r + 1), e)
        finally:
            sink.stop()
        log("limits: fsync cycle with 1 and 16 threads")
        exe = os.path.join(self.tmp, "fsync_cycle")
        src_c = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fsync_cycle.c")
        cc = subprocess.run(["gcc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra",
                             "-Werror", "-pthread", src_c, "-o", exe],
                            capture_output=True, text=True, timeout=120)
        if cc.returncode != 0:
            self.fail("limits: fsync_cycle build", cc.stderr.strip()[:300])
            return
        work = os.path.join(self.tmp, "fsync")
        for r in range(self.args.runs):
            for threads in (1, 16):
                os.makedirs(work, exist_ok=True)
                out = subprocess.run([exe, work, str(threads), str(FSYNC_SECONDS)],
                                     capture_output=True, text=True, timeout=FSYNC_SECONDS + 60)
                m = re.search(r"per_second=([0-9.]+)", out.stdout)
                if out.returncode != 0 or m is None:
                    self.fail("limits: fsync_cycle %d threads" % threads, out.stderr.strip())
                    continue
                self.record("limit_fsync_%d" % threads, "machine", {"rate": float(m.group(1))})
                shutil.rmtree(work, ignore_errors=True)

    def scenario_accept(self):
        n = self.args.messages
        for r in range(self.args.runs):
            for sessions in ACCEPT_SESSIONS:
                order = self.servers() if r % 2 == 0 else list(reversed(self.servers()))
                for name, server, port in order:
                    key = "accept_%d" % sessions
                    if self.skip(key, name):
                        continue
                    log("(a) %s: %d x 2 KiB over %d sessions, run %d" % (name, n, sessions, r + 1))
                    try:
                        res = self.accept_run(name, server, port, sessions, n, ACCEPT_SIZE)
                        self.record(key, name, res)
                        log("    %.0f msg/s (smtp-source done after %.2fs, Maildir full after %.2fs)"
                            % (res["rate"], res["accept_seconds"], res["seconds"]))
                    except BenchFailure as e:
                        self.record_failure(key, name, "(a) %s %d sessions run %d" % (name, sessions, r + 1), e)

    def scenario_relay(self):
        n = self.args.messages
        key = "relay_%d" % RELAY_SESSIONS
        for r in range(self.args.runs):
            order = self.servers() if r % 2 == 0 else list(reversed(self.servers()))
            for name, server, port in order:
                if self.skip(key, name):
                    continue
                log("(b) %s: %d x 2 KiB relayed to smtp-sink over %d sessions, run %d"
                    % (name, n, RELAY_SESSIONS, r + 1))
                try:
                    res = self.relay_run(name, server, port, RELAY_SESSIONS, n)
                    self.record(key, name, res)
                    log("    %.0f msg/s (smtp-source done after %.2fs, sink full after %.2fs, "
                        "%d connections to the sink, %.2f ms CPU/msg)"
                        % (res["rate"], res["accept_seconds"], res["seconds"],
                           res["sink_connections"], res["cpu_ms_per_msg"]))
                except BenchFailure as e:
                    self.record_failure(key, name, "(b) %s relay run %d" % (name, r + 1), e)

    def scenario_large(self):
        for r in range(self.args.runs):
            order = self.servers() if r % 2 == 0 else list(reversed(self.servers()))
            for name, server, port in order:
                if self.skip("large", name):
                    continue
                log("(c) %s: %d x 10 MiB over %d sessions, run %d"
                    % (name, LARGE_MESSAGES, LARGE_SESSIONS, r + 1))
                try:
                    res = self.accept_run(name, server, port, LARGE_SESSIONS, LARGE_MESSAGES,
                                          LARGE_SIZE)
                    res["mib_per_second"] = LARGE_MESSAGES * LARGE_SIZE / 1048576 / res["seconds"]
                    self.record("large", name, res)
                    log("    %.1f msg/s, %.0f MiB/s" % (res["rate"], res["mib_per_second"]))
                except BenchFailure as e:
                    self.record_failure("large", name, "(c) %s run %d" % (name, r + 1), e)

    def scenario_latency(self):
        for r in range(self.args.runs):
            order = self.servers() if r % 2 == 0 else list(reversed(self.servers()))
            for name, server, port in order:
                if self.skip("latency", name):
                    continue
                log("(e) %s: %d sequential sessions, run %d" % (name, self.args.latency, r + 1))
                new_dir = os.path.join(server.maildir, "new")
                clear_maildir(server.maildir)
                try:
                    t0 = time.monotonic()
                    times = latency_run(port, self.args.latency, tag="%s.%d" % (name, r))
                    total = time.monotonic() - t0
                    wait_count(lambda: count_files(new_dir), self.args.latency, lambda: True)
                    verify_maildir(new_dir, self.args.latency)
                    times.sort()
                    res = {"p50_ms": percentile(times, 50) * 1000,
                           "p99_ms": percentile(times, 99) * 1000,
                           "max_ms": times[-1] * 1000,
                           "rate": len(times) / total}
                    self.record("latency", name, res)
                    log("    p50 %.2f ms, p99 %.2f ms, %.0f sessions/s"
                        % (res["p50_ms"], res["p99_ms"], res["rate"]))
                    self.drain(name, server)
                except BenchFailure as e:
                    self.record_failure("latency", name, "(e) %s run %d" % (name, r + 1), e)
                clear_maildir(server.maildir)

    def scenario_syscalls(self):
        """An untimed run under strace -c -f: system calls per message, and
        how many of them are fsync/fdatasync (the durability cost)."""
        if shutil.which("strace") is None:
            self.note("strace is not installed: no system-call profile")
            return
        n = SYSCALL_MESSAGES
        for name, server, port in self.servers():
            log("(f) %s: %d x 2 KiB over 8 sessions under strace -c (untimed)" % (name, n))
            out = os.path.join(self.tmp, "strace-%s.txt" % name)
            argv = ["strace", "-f", "-c", "-o", out]
            for pid in server.pids():
                argv += ["-p", str(pid)]
            tracer = self.registry.start("strace", argv, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.0)
                self.accept_run(name, server, port, 8, n, ACCEPT_SIZE)
                time.sleep(0.5)
            except BenchFailure as e:
                self.fail("(f) %s under strace" % name, e)
                continue
            finally:
                tracer.send_signal(signal.SIGINT)
                try:
                    tracer.wait(30)
                except subprocess.TimeoutExpired:
                    pass
                self.registry.stop("strace")
            calls = report.parse_strace(out)
            if calls:
                self.record("syscalls", name, {"messages": n, "calls": calls})

    def scenario_idle(self, name):
        """One fresh server, IDLE_CONNECTIONS idle clients; memory from PSS."""
        if name == "postfix":
            self.start_servers(vsmtpd=False)
            server, port = self.postfix, POSTFIX_PORT
        else:
            self.start_servers(vsmtpd_max_connections=VSMTPD_IDLE_MAX_CONNECTIONS, postfix=False)
            server, port = self.vsmtpd, VSMTPD_PORT
        log("(d) %s: %d idle connections for %.0fs" % (name, IDLE_CONNECTIONS, IDLE_WINDOW))
        fleet = IdleFleet(port, IDLE_CONNECTIONS)
        try:
            time.sleep(1.0)
            pids_before = server.pids()
            before = pss_kib(pids_before)
            t0 = time.monotonic()
            fleet.open()
            fleet.poll(IDLE_WINDOW)
            pids_after = server.pids()
            after = pss_kib(pids_after)
            res = {"connections": IDLE_CONNECTIONS, "greeted": fleet.greeted,
                   "rejected": fleet.rejected, "closed": fleet.closed,
                   "waiting": fleet.waiting(), "connect_errors": fleet.connect_errors,
                   "last_greeting_seconds": (fleet.last_greet - t0) if fleet.last_greet else None,
                   "pss_before_kib": before, "pss_after_kib": after,
                   "processes_before": len(pids_before), "processes_after": len(pids_after),
                   "kib_per_connection": ((after - before) / fleet.greeted) if fleet.greeted else None}
            self.record("idle", name, res)
            log("    greeted %d, rejected %d, closed %d, still waiting %d; PSS %d -> %d KiB"
                % (fleet.greeted, fleet.rejected, fleet.closed, fleet.waiting(), before, after))
        except BenchFailure as e:
            self.record_failure("idle", name, "(d) %s" % name, e)
        finally:
            fleet.close()
        # The server must still work after the fleet leaves.
        try:
            time.sleep(1.0)
            res = self.accept_run(name, server, port, 1, 10, ACCEPT_SIZE)
        except BenchFailure as e:
            self.fail("(d) %s after the idle fleet" % name, e)
        self.stop_servers()

    # -- failure bookkeeping -----------------------------------------------

    def record_failure(self, key, name, what, err):
        if name == "vsmtpd" and self.vsmtpd is not None and not self.vsmtpd.alive():
            err = "%s; vsmtpd had died with exit status %s (negative: killed by that signal)" % (
                err, self.vsmtpd.proc.returncode)
        self.fail(what, err)
        self.results.setdefault("failed_keys", set()).add((key, name))
        # A server that lost mail may deliver it late into the next run: restart it.
        self.restart(name)

    def skip(self, key, name):
        return (key, name) in self.results.get("failed_keys", set())

    def restart(self, name):
        try:
            if name == "postfix" and self.postfix is not None:
                self.postfix.stop()
                clear_maildir(self.postfix.maildir)
                self.postfix.start()
            elif name == "vsmtpd" and self.vsmtpd is not None:
                self.vsmtpd.stop()
                clear_maildir(self.vsmtpd.maildir)
                self.vsmtpd.start()
        except BenchFailure as e:
            self.fail("restart %s" % name, e)

    # -- main --------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        self.results["machine"] = report.machine_info(self.tmp, self.args.vsmtpd)
        busy = wait_quiet(QUIET_THRESHOLD, self.args.wait_quiet, log)
        self.results["busy_before"] = busy
        self.results["load_before"] = load_average()
        if busy >= QUIET_THRESHOLD:
            self.note("other work used %.0f%% of the CPUs when the benchmark started: "
                      "the figures are lower and noisier than on a quiet machine" % (busy * 100))
        only = self.args.only
        if "limits" in only:
            self.machine_limits()
        self.start_servers()
        self.results["machine"]["postfix_version"] = self.postfix.version()
        time.sleep(1.0)
        pss_start = {name: pss_kib(srv.pids()) for name, srv, _port in self.servers()}
        try:
            for scenario, run in (("a", self.scenario_accept), ("b", self.scenario_relay),
                                  ("c", self.scenario_large), ("e", self.scenario_latency),
                                  ("f", self.scenario_syscalls)):
                if scenario in only:
                    run()
            time.sleep(1.0)
            if only == set(SCENARIOS):
                for name, srv, _port in self.servers():
                    self.record("pss_load", name, {"start_kib": pss_start[name],
                                                   "end_kib": pss_kib(srv.pids()),
                                                   "processes": len(srv.pids())})
        finally:
            self.stop_servers()
        for name in ("postfix", "vsmtpd"):
            if "d" not in only:
                break
            try:
                self.scenario_idle(name)
            except BenchFailure as e:
                self.fail("(d) %s" % name, e)
                self.stop_servers()
        self.results["logs"] = {
            "postfix": report.log_summary(os.path.join(self.tmp, "postfix", "maillog")),
            "vsmtpd": report.log_summary(os.path.join(self.tmp, "vsmtpd", "vsmtpd.log")),
        }
        self.results["elapsed_seconds"] = time.monotonic() - started
        self.results["load_after"] = load_average()
        self.results["busy_after"] = cpu_busy()
        if self.results["busy_after"] >= QUIET_THRESHOLD:
            self.note("other work used %.0f%% of the CPUs right after the benchmark: it may "
                      "have competed with the runs" % (self.results["busy_after"] * 100))


def main():
    p = argparse.ArgumentParser(description="vsmtpd against Postfix, side by side")
    p.add_argument("--vsmtpd", required=True, help="the vsmtpd binary (optimised build)")
    p.add_argument("--tmp", required=True, help="empty scratch directory (removed by run.sh)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "RESULTS.md"))
    p.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    p.add_argument("--wait-quiet", type=int, default=120, metavar="SECONDS",
                   help="wait at most this long for other work to leave the CPUs (default 120)")
    p.add_argument("--quick", action="store_true",
                   help="1 run, 500 messages, 50 latency sessions: checks the harness only")
    p.add_argument("--only", default=",".join(SCENARIOS), metavar="LIST",
                   help="comma-separated scenarios to run, of %s (default: all)" % ",".join(SCENARIOS))
    args = p.parse_args()
    args.only = set(x.strip() for x in args.only.split(",") if x.strip())
    if not args.only or not args.only <= set(SCENARIOS):
        p.error("--only takes a comma-separated list of %s" % ",".join(SCENARIOS))
    args.messages, args.latency = ACCEPT_MESSAGES, LATENCY_SESSIONS
    if args.quick:
        args.runs, args.messages, args.latency = 1, 500, 50
    if not 1 <= args.runs <= 9:
        p.error("--runs must be 1 to 9")
    if not 0 <= args.wait_quiet <= 3600:
        p.error("--wait-quiet must be 0 to 3600")
    if not os.access(args.vsmtpd, os.X_OK):
        p.error("%s is not an executable" % args.vsmtpd)
    os.makedirs(args.tmp, exist_ok=True)

    bench = Bench(args)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        bench.run()
    finally:
        bench.stop_all()
    bench.results["fd_limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    report.write(args.out, bench.results)
    log("results written to %s" % args.out)
    if bench.results["failures"]:
        log("%d run(s) FAILED:" % len(bench.results["failures"]))
        for f in bench.results["failures"]:
            log("  " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
