/*
 * stats_ring.c — counts per minute over the last hour (see stats_ring.h).
 *
 * Pure: the caller owns the ring, the clock and the locking. A slot is
 * tagged with the minute it counts; adding to a slot tagged with another
 * minute starts it again from zero, and reading skips slots whose tag is
 * not the minute asked for. So a clock set back makes the newer slots
 * invisible until their minutes come again, never counted twice.
 */
#include "stats_ring.h"

#include <string.h>

long long stats_ring_minute(long long t)
{
	return t >= 0 ? t / 60 : -((-t + 59) / 60);
}

static unsigned slot_of(long long minute)
{
	long long s = minute % STATS_RING_MINUTES;
	return (unsigned)(s < 0 ? s + STATS_RING_MINUTES : s);
}

void stats_ring_add(struct stats_ring *r, long long now, enum stats_ring_kind kind)
{
	long long m = stats_ring_minute(now);
	unsigned s = slot_of(m);
	if (r->minute[s] != m) {
		r->minute[s] = m;
		memset(r->n[s], 0, sizeof(r->n[s]));
	}
	r->n[s][kind]++;
}

void stats_ring_read(const struct stats_ring *r, long long now,
		     unsigned long long out[STATS_RING_KINDS][STATS_RING_MINUTES])
{
	long long last = stats_ring_minute(now);
	for (unsigned i = 0; i < STATS_RING_MINUTES; i++) {
		long long m = last - (STATS_RING_MINUTES - 1) + i;
		unsigned s = slot_of(m);
		for (unsigned k = 0; k < STATS_RING_KINDS; k++)
			out[k][i] = r->minute[s] == m ? r->n[s][k] : 0;
	}
}
