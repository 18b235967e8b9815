#!/bin/sh
# fuzz-ci.sh — a short fuzzing pass for `make fuzz-ci`: every target for SECONDS, one per CPU at a
# time, each from its seed corpus (fuzz/corpus/NAME) plus what earlier runs found (fuzz/out/NAME).
# A crash, a timeout (-timeout: a quadratic path), a memory blow-up or any UBSan report (halt_on_error,
# as the libFuzzer build lets UB recover) fails the run; the input is left in fuzz/regress/NAME/,
# where `make fuzz-replay` keeps replaying it once fixed. Prints runs and executions per second.
#
# Usage: scripts/fuzz-ci.sh BUILD-DIR SECONDS NAME...
set -u
cd "$(dirname "$0")/.." || exit 1
[ $# -ge 3 ] || { echo "usage: $0 BUILD-DIR SECONDS NAME..." >&2; exit 2; }
build=$1
seconds=$2
shift 2
jobs=$(nproc 2>/dev/null || echo 2)
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

one() {
	n=$1
	mkdir -p "fuzz/out/$n" "fuzz/regress/$n"
	"$build/fuzz/fuzz_$n" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="fuzz/regress/$n/" \
		"fuzz/out/$n" "fuzz/corpus/$n" > "fuzz/out/$n.log" 2>&1
}

echo "fuzz-ci: $# targets, ${seconds}s each, $jobs at a time"
failed=""
# Runs the targets $jobs at a time; each group waits for its slowest member (all take $seconds).
while [ $# -gt 0 ]; do
	group=""
	i=0
	while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
		one "$1" &
		group="$group $1:$!"
		i=$((i + 1))
		shift
	done
	for g in $group; do
		n=${g%%:*}
		if ! wait "${g#*:}"; then
			failed="$failed $n"
		fi
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/out/$n.log")
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "fuzz/out/$n.log")
		echo "fuzz-ci: $n: ${runs:-?} runs, ${rate:-?} exec/s"
	done
done
if [ -n "$failed" ]; then
	for n in $failed; do
		echo "== fuzz-ci: $n failed (fuzz/out/$n.log):" >&2
		grep -v -E '^(#[0-9]|INFO:|	pulse|MS:|stat::)' "fuzz/out/$n.log" | tail -n 40 >&2
	done
	echo "fuzz-ci: failed:$failed; inputs in fuzz/regress/<name>/" >&2
	exit 1
fi
echo "fuzz-ci: ok"
