#!/bin/sh
# check-layers.sh — enforces the include rules of docs/ARCHITECTURE.md:
#  1. src/lib/ is mail-agnostic: it includes nothing from src/ outside src/lib/.
#  2. pure modules include only libc, src/lib/ and other pure headers: no
#     libevent, no OpenSSL, no sockets or threads.
set -u
cd "$(dirname "$0")/.." || exit 1
PURE="address smtp_proto spool_format auth_sasl queue_sched message smtp_client dsn addrlist config_edit stats_ring"
fail=0
for f in src/lib/*.[ch]; do
	if grep -nE '^#include "' "$f" | grep -vE '"lib/' ; then
		echo "check-layers: $f includes outside src/lib/" >&2; fail=1
	fi
done
for m in $PURE; do
	for f in src/$m.c src/$m.h src/${m}_*.c src/${m}_*.h; do
		[ -f "$f" ] || continue
		bad=$(grep -nE '^#include' "$f" | grep -E 'event2|openssl|sys/socket|netinet|pthread|"(config|spool|queue|server|worker|smtp_session|log)\.h"')
		if [ -n "$bad" ]; then
			echo "check-layers: pure $f includes: $bad" >&2; fail=1
		fi
	done
done
[ $fail = 0 ] && echo "check-layers: ok"
exit $fail
