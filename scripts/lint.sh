#!/bin/sh
# lint.sh — static analysis for `make lint`: clang-tidy (the checks of .clang-tidy, every warning an
# error) and cppcheck (warning, performance, portability; a finding is an error) over the C files
# given. Both always run, so one report shows everything; exits 1 when either found something.
# A false positive is silenced where it stands, with its reason: /* NOLINT(check) */ for
# clang-tidy, /* cppcheck-suppress id ; reason */ on the line before for cppcheck.
#
# Usage: scripts/lint.sh FILE... -- COMPILER-FLAGS...
# clang-tidy reads the flags from a compilation database written to a temporary directory, so
# that the files can be checked in parallel (one per CPU).
# shellcheck disable=SC2086 # $files and $flags are lists: split on purpose (no blanks in the names)
set -u
cd "$(dirname "$0")/.." || exit 1

files=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	files="$files $1"
	shift
done
[ $# -gt 0 ] && shift
flags="$*"
[ -n "$files" ] || { echo "lint: no files" >&2; exit 2; }
for tool in clang-tidy cppcheck; do
	command -v $tool >/dev/null || { echo "lint: $tool not installed (make deps)" >&2; exit 2; }
done
jobs=$(nproc 2>/dev/null || echo 2)
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# compile_commands.json: one entry per file; the flags have no quotes or backslashes to escape.
{
	echo "["
	sep=""
	for f in $files; do
		printf '%s{"directory": "%s", "file": "%s", "command": "cc %s -c %s"}\n' \
			"$sep" "$PWD" "$f" "$flags" "$f"
		sep=","
	done
	echo "]"
} > "$tmp/compile_commands.json"

fail=0
echo "lint: clang-tidy over $(echo $files | wc -w) files ($jobs at a time)"
if ! printf '%s\n' $files | xargs -P "$jobs" -n 1 clang-tidy --quiet -p "$tmp" > "$tmp/tidy.out" 2>&1; then
	grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$tmp/tidy.out"
	echo "lint: clang-tidy found problems (above)" >&2
	fail=1
fi

echo "lint: cppcheck"
# cppcheck needs only what selects code: the system headers stay unread (it knows libc).
if ! cppcheck --enable=warning,performance,portability --std=c11 -D_GNU_SOURCE -I src --inline-suppr --quiet \
	-j "$jobs" --error-exitcode=1 --template='{file}:{line}: {severity}: {message} [{id}]' $files; then
	echo "lint: cppcheck found problems (above)" >&2
	fail=1
fi
[ $fail = 0 ] && echo "lint: ok"
exit $fail
