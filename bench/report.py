"""report.py — turns the benchmark's measurements into bench/RESULTS.md.

Owns: the description of the machine (CPUs, CPU model, kernel, memory, the
file system of the scratch directory, limits), the summaries of both servers'
logs (warnings, errors, refusals), and the layout of RESULTS.md: medians
with the min-max range of the runs, vsmtpd/Postfix ratios, the figures as
fractions of the machine's limits, then every raw run so that each median
can be checked.

Input: the results dict that bench.py fills (key -> server -> list of runs,
each a dict of numbers). Missing figures print as "—", failed ones as
FAILED. Python 3 standard library only.
"""

import collections
import os
import platform
import re
import subprocess
import time

from benchutil import median
from servers import RELAY_CONCURRENCY


# ---- the machine -------------------------------------------------------------

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return "%.1f GiB" % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    return "unknown"


def _filesystem(path):
    """fstype, device and options of the mount that holds PATH."""
    path = os.path.realpath(path)
    best = None
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fstype, opts = line.split()[:4]
                mnt = mnt.replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                        (best is None or len(mnt) > len(best[1])):
                    best = (dev, mnt, fstype, opts)
    except OSError:
        return "unknown"
    if best is None:
        return "unknown"
    journal = ""
    if best[2] in ("ext3", "ext4"):
        # jbd2 keeps one /proc entry per journalled device, e.g. vda-8.
        dev = os.path.basename(os.path.realpath(best[0]))
        try:
            has = any(e.startswith(dev + "-") for e in os.listdir("/proc/fs/jbd2"))
        except OSError:
            has = False
        journal = ", with a journal" if has else ", **without a journal** (no jbd2 for it)"
    return "%s on %s%s (%s, mounted at %s)" % (best[2], best[0], journal, best[3], best[1])


def _git_rev(binary):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(binary)))
    try:
        rev = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no",
                                "--", "src"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not rev:
        return "unknown"
    return rev + (" (src/ modified)" if dirty.strip() else "")


def machine_info(tmp, vsmtpd_binary):
    try:
        version = subprocess.run([vsmtpd_binary, "-V"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = "unknown"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "memory": _mem_total(),
        "filesystem": _filesystem(tmp),
        "vsmtpd": "%s, git %s" % (version or "unknown", _git_rev(vsmtpd_binary)),
        "vsmtpd_binary": vsmtpd_binary,
    }


# ---- logs --------------------------------------------------------------------

# vsmtpd: "vsmtpd[PID]: LEVEL: event=NAME ..."; Postfix: "... postfix/smtpd[PID]: warning: ..."
VSMTPD_LINE = re.compile(r"^vsmtpd\[\d+\]: (\w+): (?:event=(\w+))?")
POSTFIX_LINE = re.compile(r"postfix/[\w/-]+\[\d+\]: (warning|error|fatal|panic): (.*)$")
NOTABLE_EVENTS = {"refused", "rejected", "deferred", "failed", "lost", "timeout", "corrupt",
                  "vanished", "quarantined", "fatal", "session_error", "spool_error",
                  "queue_error", "accept_error", "tls_error"}


def _normalise(text):
    text = re.sub(r"\b[0-9A-F]{8,}\b", "ID", text)
    text = re.sub(r"\d+", "N", text)
    return text[:160]


def log_summary(path):
    """Counts of log levels and notable events, and the most common
    warning/error lines (numbers replaced by N)."""
    out = {"path": path, "lines": 0, "levels": collections.Counter(),
           "events": collections.Counter(), "top": collections.Counter()}
    try:
        f = open(path, errors="replace")
    except OSError:
        return out
    with f:
        for line in f:
            out["lines"] += 1
            line = line.rstrip("\n")
            m = VSMTPD_LINE.match(line)
            if m:
                level, event = m.group(1), m.group(2)
                out["levels"][level] += 1
                if event in NOTABLE_EVENTS:
                    out["events"][event] += 1
                if level != "info":
                    out["top"][_normalise(line.split(": ", 1)[1])] += 1
                continue
            m = POSTFIX_LINE.search(line)
            if m:
                out["levels"][m.group(1)] += 1
                out["top"][_normalise(m.group(1) + ": " + m.group(2))] += 1
    return out


# ---- strace -c ---------------------------------------------------------------

SYNC_CALLS = ("fsync", "fdatasync", "sync_file_range", "syncfs", "sync")


def parse_strace(path):
    """syscall -> calls, from the table `strace -c` writes; {} if none."""
    calls = {}
    try:
        f = open(path, errors="replace")
    except OSError:
        return calls
    with f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) not in (5, 6) or parts[-1] == "total":
                continue
            try:
                float(parts[0])
                float(parts[1])
                numbers = [int(x) for x in parts[2:-1]]
            except ValueError:
                continue
            calls[parts[-1]] = numbers[1]
    return calls


# ---- formatting ----------------------------------------------------------------

def _num(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, int):
        return "%d%s" % (v, unit)
    if abs(v) >= 100:
        s = "%.0f" % v
    elif abs(v) >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s + unit


def _runs(results, key, server):
    return results.get(key, {}).get(server, [])


def _failed(results, key, server):
    return (key, server) in results.get("failed_keys", set())


def _median_field(results, key, server, field):
    vals = [r[field] for r in _runs(results, key, server) if r.get(field) is not None]
    return median(vals)


def _cell(results, key, server, field, unit=""):
    """'median [min–max]' over the runs, or FAILED, or —."""
    if _failed(results, key, server):
        return "FAILED"
    vals = [r[field] for r in _runs(results, key, server) if r.get(field) is not None]
    if not vals:
        return "—"
    if len(vals) == 1:
        return _num(vals[0], unit)
    return "%s [%s–%s]" % (_num(median(vals), unit), _num(min(vals)), _num(max(vals)))


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return "%.2f×" % (a / b)


def _pct(a, b):
    if a is None or b is None or b == 0:
        return "—"
    if 100.0 * a / b < 1:
        return "%.1f%%" % (100.0 * a / b)
    return "%.0f%%" % (100.0 * a / b)


# ---- RESULTS.md --------------------------------------------------------------

def write(path, results):
    m = results.get("machine", {})
    runs = results.get("runs")
    n = results.get("messages")
    L = []
    add = L.append
    add("# vsmtpd and Postfix, side by side")
    add("")
    add("Generated by `make bench` (`bench/run.sh` → `bench/bench.py`); do not edit by hand, "
        "run it again. See `bench/README.md` for the method.")
    if results.get("quick"):
        add("")
        add("**Quick run (`--quick`): 1 run, 500 messages — checks the harness, not the numbers.**")
    only = results.get("only")
    if only:
        add("")
        add("**Partial run (`--only %s`): the other figures were not measured.**" % ",".join(only))
    add("")
    add("- Date: %s; whole run took %.0f s." % (m.get("date", "?"), results.get("elapsed_seconds", 0)))
    add("- vsmtpd: %s (`%s`, workers = auto)." % (m.get("vsmtpd", "?"), m.get("vsmtpd_binary", "?")))
    add("- Postfix: %s from Debian, private instance, default fsync behaviour." % m.get("postfix_version", "?"))
    add("- Each figure: median of %s runs, [min–max] of the runs beside it; (d) ran once. "
        "Runs of the two servers alternate." % runs)
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    add("| CPUs (nproc) | %s |" % m.get("nproc", "?"))
    add("| CPU model | %s |" % m.get("cpu", "?"))
    add("| kernel | %s |" % m.get("kernel", "?"))
    add("| memory | %s |" % m.get("memory", "?"))
    add("| file system of the temp dir (spools, Maildirs) | %s |" % m.get("filesystem", "?"))
    add("| open-file limit during the run | %s |" % results.get("fd_limit", "?"))
    if "busy_before" in results:
        add("| CPU used by other work just before / just after the run | %.0f%% / %.0f%% "
            "(load average %.2f / %.2f) |" % (results["busy_before"] * 100,
                                               results.get("busy_after", 0) * 100,
                                               results.get("load_before", 0),
                                               results.get("load_after", 0)))
    add("")

    sink = _median_field(results, "limit_sink", "machine", "rate")
    f1 = _median_field(results, "limit_fsync_1", "machine", "rate")
    f16 = _median_field(results, "limit_fsync_16", "machine", "rate")
    add("## The machine's limits")
    add("")
    add("| limit | per second |")
    add("|---|---|")
    add("| smtp-source → smtp-sink, 32 sessions, %d × 2 KiB, nothing on disk | %s msg/s |"
        % (n, _cell(results, "limit_sink", "machine", "rate")))
    add("| fsync cycle (create, write 2 KiB, fsync, rename, fsync dir), 1 thread | %s cycles/s |"
        % _cell(results, "limit_fsync_1", "machine", "rate"))
    add("| the same, 16 threads | %s cycles/s |" % _cell(results, "limit_fsync_16", "machine", "rate"))
    add("")
    add("A durably accepted and delivered message costs Postfix at least two such cycles (queue "
        "file, then Maildir file), so half the 16-thread figure is a rough ceiling for it in (a). "
        "vsmtpd delivers a single-recipient local message at commit, before the 250 (its Maildir "
        "file is the durable copy): one cycle, so for vsmtpd the ceiling is the whole 16-thread "
        "figure, and the columns below that divide it by 2 can exceed 100 %.")
    add("")

    add("## Throughput")
    add("")
    add("| scenario | Postfix | vsmtpd | vsmtpd / Postfix |")
    add("|---|---|---|---|")
    for s in (1, 8, 32):
        key = "accept_%d" % s
        add("| (a) %d × 2 KiB into Maildir, %d session%s, msg/s | %s | %s | %s |"
            % (n, s, "" if s == 1 else "s", _cell(results, key, "postfix", "rate"),
               _cell(results, key, "vsmtpd", "rate"),
               _ratio(_median_field(results, key, "vsmtpd", "rate"),
                      _median_field(results, key, "postfix", "rate"))))
    add("| (b) %d × 2 KiB relayed to smtp-sink, 32 sessions, msg/s | %s | %s | %s |"
        % (n, _cell(results, "relay_32", "postfix", "rate"), _cell(results, "relay_32", "vsmtpd", "rate"),
           _ratio(_median_field(results, "relay_32", "vsmtpd", "rate"),
                  _median_field(results, "relay_32", "postfix", "rate"))))
    add("| (c) 20 × 10 MiB into Maildir, 4 sessions, msg/s | %s | %s | %s |"
        % (_cell(results, "large", "postfix", "rate"), _cell(results, "large", "vsmtpd", "rate"),
           _ratio(_median_field(results, "large", "vsmtpd", "rate"),
                  _median_field(results, "large", "postfix", "rate"))))
    add("| (c) the same in MiB/s | %s | %s | %s |"
        % (_cell(results, "large", "postfix", "mib_per_second"),
           _cell(results, "large", "vsmtpd", "mib_per_second"),
           _ratio(_median_field(results, "large", "vsmtpd", "mib_per_second"),
                  _median_field(results, "large", "postfix", "mib_per_second"))))
    add("| (e) sequential one-message sessions, sessions/s | %s | %s | %s |"
        % (_cell(results, "latency", "postfix", "rate"), _cell(results, "latency", "vsmtpd", "rate"),
           _ratio(_median_field(results, "latency", "vsmtpd", "rate"),
                  _median_field(results, "latency", "postfix", "rate"))))
    add("")
    add("(a) and (c) are timed from the start of smtp-source until the Maildir holds every "
        "message; (b) until smtp-sink has counted every message. The time at which smtp-source "
        "itself finished (all `250` replies in) is in the raw runs below.")
    add("")
    if _runs(results, "relay_32", "postfix") or _runs(results, "relay_32", "vsmtpd"):
        add("(b): each server relays to a smtp-sink of its own at `[127.0.0.1]:port` (no DNS, no "
            "TLS), at most %d connections at once (Postfix's default destination concurrency), "
            "no limit on messages per connection for either. New connections the sink accepted per "
            "run (a server reuses the idle ones left from its own previous run, so a run may need "
            "none): Postfix %s, vsmtpd %s."
            % (RELAY_CONCURRENCY, _cell(results, "relay_32", "postfix", "sink_connections"),
               _cell(results, "relay_32", "vsmtpd", "sink_connections")))
        add("")

    add("### CPU per message (user + system, all the server's processes and threads)")
    add("")
    add("| scenario | Postfix, ms | vsmtpd, ms | vsmtpd / Postfix |")
    add("|---|---|---|---|")
    cpu_rows = [("accept_%d" % s, "(a) %d session%s" % (s, "" if s == 1 else "s")) for s in (1, 8, 32)]
    cpu_rows += [("relay_32", "(b) relay, 32 sessions"), ("large", "(c) 10 MiB messages")]
    for key, label in cpu_rows:
        v = _cell(results, key, "vsmtpd", "cpu_ms_per_msg")
        add("| %s | %s | %s | %s |" % (label, _cell(results, key, "postfix", "cpu_ms_per_msg"), v,
                                       _ratio(_median_field(results, key, "vsmtpd", "cpu_ms_per_msg"),
                                              _median_field(results, key, "postfix", "cpu_ms_per_msg"))))
    add("")
    add("Counted from /proc/PID/stat (utime, stime and the reaped children's cutime, cstime) "
        "from the start of the run until the queue is empty again; the machine has %s CPUs, "
        "shared with the load generator." % m.get("nproc", "?"))
    add("")
    pl = {srv: _runs(results, "pss_load", srv) for srv in ("postfix", "vsmtpd")}
    if pl["postfix"] or pl["vsmtpd"]:
        add("Memory (PSS, KiB) of each server just after its start and after scenarios (a)–(c) "
            "and (e), all its processes: Postfix %s, vsmtpd %s."
            % tuple("%d → %d (%d processes)" % (r[0]["start_kib"], r[0]["end_kib"], r[0]["processes"])
                    if r else "—" for r in (pl["postfix"], pl["vsmtpd"])))
        add("")

    add("### As fractions of the machine's limits (medians)")
    add("")
    add("| scenario | Postfix / sink | vsmtpd / sink | Postfix / (fsync16 ÷ 2) | vsmtpd / (fsync16 ÷ 2) |")
    add("|---|---|---|---|---|")
    half = f16 / 2 if f16 else None
    for s in (1, 8, 32):
        key = "accept_%d" % s
        p = _median_field(results, key, "postfix", "rate")
        v = _median_field(results, key, "vsmtpd", "rate")
        add("| (a) %d session%s | %s | %s | %s | %s |" % (s, "" if s == 1 else "s", _pct(p, sink),
                                                        _pct(v, sink), _pct(p, half), _pct(v, half)))
    p = _median_field(results, "relay_32", "postfix", "rate")
    v = _median_field(results, "relay_32", "vsmtpd", "rate")
    add("| (b) relay, 32 sessions | %s | %s | — | — |" % (_pct(p, sink), _pct(v, sink)))
    add("")
    add("One session is bound by one fsync chain at a time: compare (a) 1 session with the "
        "1-thread fsync figure (%s cycles/s)." % _num(f1))
    add("")

    add("## Latency (e): %s sequential sessions, connect → EHLO → MAIL → RCPT → DATA (1 KiB) → QUIT"
        % results.get("latency_sessions", "500"))
    add("")
    add("| | Postfix | vsmtpd | vsmtpd / Postfix |")
    add("|---|---|---|---|")
    for field, label in (("p50_ms", "p50, ms"), ("p99_ms", "p99, ms"), ("max_ms", "max, ms")):
        add("| %s | %s | %s | %s |" % (label, _cell(results, "latency", "postfix", field),
                                       _cell(results, "latency", "vsmtpd", field),
                                       _ratio(_median_field(results, "latency", "vsmtpd", field),
                                              _median_field(results, "latency", "postfix", field))))
    add("")
    add("Timed by Python's smtplib from connect() until the reply to QUIT; the `250` after DATA "
        "comes only once the message is on disk (fsync) for both servers.")
    add("")

    sc = {srv: _runs(results, "syscalls", srv) for srv in ("postfix", "vsmtpd")}
    if sc["postfix"] or sc["vsmtpd"]:
        add("## System calls per message (f)")
        add("")
        msgs = (sc["vsmtpd"] or sc["postfix"])[0]["messages"]
        add("An untimed run of %d × 2 KiB over 8 sessions (scenario (a)'s load) with every "
            "process of the server under `strace -f -c`." % msgs)
        add("")
        add("| system call | Postfix | vsmtpd |")
        add("|---|---|---|")
        per = {}
        for srv in ("postfix", "vsmtpd"):
            r = sc[srv]
            per[srv] = {k: v / r[0]["messages"] for k, v in r[0]["calls"].items()} if r else {}
        totals = {srv: sum(per[srv].values()) for srv in per}
        syncs = {srv: sum(per[srv].get(k, 0) for k in SYNC_CALLS) for srv in per}
        add("| **all** | %s | %s |" % (_num(totals["postfix"]) if per["postfix"] else "—",
                                      _num(totals["vsmtpd"]) if per["vsmtpd"] else "—"))
        add("| **fsync + fdatasync** | %s | %s |" % (_num(syncs["postfix"]) if per["postfix"] else "—",
                                                     _num(syncs["vsmtpd"]) if per["vsmtpd"] else "—"))
        # The ten most frequent calls of each server, most frequent first.
        top = collections.Counter()
        for srv in per:
            for k, v in collections.Counter(per[srv]).most_common(10):
                top[k] = max(top[k], v)
        for k, _v in top.most_common():
            add("| %s | %s | %s |" % (k, _num(per["postfix"].get(k)) if per["postfix"] else "—",
                                      _num(per["vsmtpd"].get(k)) if per["vsmtpd"] else "—"))
        add("")
        add("Postfix's figure covers master and every process it forked during the run "
            "(smtpd, cleanup, qmgr, virtual, ...); vsmtpd's all its threads.")
        add("")

    add("## Idle connections (d): 2000 clients that read the greeting and stay silent")
    add("")
    add("| | Postfix | vsmtpd |")
    add("|---|---|---|")
    rows = (("greeted (220) within the window", "greeted", None),
            ("refused with another reply", "rejected", None),
            ("closed by the server", "closed", None),
            ("no reply yet at the end of the window", "waiting", None),
            ("connect() failed", "connect_errors", None),
            ("seconds until the last greeting", "last_greeting_seconds", ""),
            ("server processes before → after", None, None),
            ("PSS before, KiB", "pss_before_kib", ""),
            ("PSS with the connections open, KiB", "pss_after_kib", ""),
            ("PSS per greeted connection, KiB", "kib_per_connection", ""))
    for label, field, _u in rows:
        cells = []
        for srv in ("postfix", "vsmtpd"):
            r = _runs(results, "idle", srv)
            if _failed(results, "idle", srv):
                cells.append("FAILED")
            elif not r:
                cells.append("—")
            elif field is None:
                cells.append("%d → %d" % (r[0]["processes_before"], r[0]["processes_after"]))
            elif isinstance(r[0][field], float):
                cells.append(_num(r[0][field]))
            else:
                cells.append("—" if r[0][field] is None else str(r[0][field]))
        add("| %s | %s | %s |" % (label, cells[0], cells[1]))
    add("")
    add("The window is %s s after all connects were started. vsmtpd ran with max_connections = 3000 "
        "for this run; Postfix with default_process_limit = 200 (one smtpd process per "
        "connection: the others wait in the listen queue). PSS sums /proc/PID/smaps_rollup over "
        "the server's processes (Postfix: master and all its children); kernel socket buffers "
        "are not in it." % results.get("idle_window", "10"))
    add("")

    add("## Logs")
    add("")
    for srv in ("postfix", "vsmtpd"):
        s = results.get("logs", {}).get(srv)
        if not s:
            continue
        levels = ", ".join("%s %d" % kv for kv in sorted(s["levels"].items()))
        events = ", ".join("%s %d" % kv for kv in sorted(s["events"].items())) or "none"
        if srv == "postfix":
            add("- **postfix** (`maillog_file`): %d lines; warning/error/fatal/panic lines: %s."
                % (s["lines"], levels or "none"))
        else:
            add("- **vsmtpd** (stderr): %d lines; by level: %s; notable events (refused, "
                "rejected, deferred, timeout, errors...): %s." % (s["lines"], levels or "none", events))
        for text, count in s["top"].most_common(8):
            add("  - %d × `%s`" % (count, text.replace("`", "'")))
    add("")

    gains = os.path.join(os.path.dirname(os.path.abspath(__file__)), "GAINS.md")
    if os.path.exists(gains):
        with open(gains) as f:
            add(f.read().rstrip("\n"))
        add("")

    add("## Failures and notes")
    add("")
    if not results.get("failures"):
        add("No run failed: in every run each message arrived exactly once (file count and "
            "distinct Message-Id headers in the Maildir, or smtp-sink's count).")
    for f in results.get("failures", []):
        add("- **FAILED** %s" % f)
    for note in results.get("notes", []):
        add("- note: %s" % note)
    add("")

    add("## Every run")
    add("")
    add("| figure | server | run | values |")
    add("|---|---|---|---|")
    for key in sorted(k for k, v in results.items() if isinstance(v, dict) and k not in
                      ("machine", "logs", "syscalls")):
        for srv, lst in sorted(results[key].items()):
            for i, r in enumerate(lst):
                vals = ", ".join("%s=%s" % (k, _num(v) if isinstance(v, float) else v)
                                 for k, v in r.items())
                add("| %s | %s | %d | %s |" % (key, srv, i + 1, vals))
    add("")
    with open(path, "w") as f:
        f.write("\n".join(L))
