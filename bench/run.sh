#!/bin/bash
# run.sh — `make bench`: vsmtpd against a private Postfix on this machine.
#
# Usage (from anywhere): bench/run.sh [VSMTPD_BINARY] [bench.py options...]
#   VSMTPD_BINARY  default build/vsmtpd (the optimised build; built with
#                  `make build/vsmtpd` when missing)
#   options        --runs N (default 3), --quick (harness check only),
#                  --out FILE (default bench/RESULTS.md), --wait-quiet SECONDS
#                  (wait at most that long, default 120, for other work to
#                  leave the CPUs before starting), --only LIST (some of
#                  limits,a,b,c,d,e,f; default all)
# Environment: BENCH_TMPDIR — where the scratch directory is made (default
# /tmp); the figures depend on that file system. BENCH_KEEP=1 keeps the
# scratch directory (both servers' logs) for a look afterwards.
#
# Steps: install Postfix if missing (install-postfix.sh), raise the
# open-file limit for the idle-connection scenario, make a scratch directory,
# run bench.py, and on any exit end every process the run started (each by
# the pid it recorded in SCRATCH/state/, the Postfix instance with `postfix
# abort`) and remove the scratch directory. Takes about 5-10 minutes.
# Exit status: bench.py's (0 = every run passed, 1 = a run failed).
set -euo pipefail

# Everything runs inside functions, which bash reads whole before running:
# editing this file while a benchmark runs cannot change what it does.
tmp=

cleanup() {
	trap - EXIT INT TERM HUP
	if [ -f "$tmp/state/postfix-conf" ]; then
		/usr/sbin/postfix -c "$(cat "$tmp/state/postfix-conf")" abort >/dev/null 2>&1 || true
	fi
	for f in "$tmp"/state/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in 1 2 3 4 5 6 7 8 9 10; do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.5
			done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "bench: kept $tmp (logs: postfix/maillog, vsmtpd/vsmtpd.log)"
	else
		rm -rf "$tmp"
	fi
}

main() {
	root=$(cd "$(dirname "$0")/.." && pwd)
	cd "$root"
	bin=build/vsmtpd
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
		bin=$1
		shift
	fi

	bench/install-postfix.sh
	if [ ! -x "$bin" ]; then
		make "$bin"
	fi
	bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

	# The idle-connection scenario holds 2,000 connections on each side.
	want=65536
	hard=$(ulimit -Hn)
	if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
		ulimit -n "$want"
	else
		ulimit -n "$hard"
	fi

	tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/vsmtpd-bench.XXXXXX")

	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP

	echo "bench: scratch directory $tmp, open-file limit $(ulimit -n)"
	/usr/bin/python3 bench/bench.py --vsmtpd "$bin" --tmp "$tmp" "$@"
}

main "$@"; exit $?
