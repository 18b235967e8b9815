/*
 * stats_ring.h — counts per minute over the last hour (contract).
 *
 * Pure arithmetic for `stats.history` (stats.c keeps one ring per virtual
 * server name, under its lock): no clock, no lock, no allocation. Time is
 * passed in as unix seconds; a minute is [m * 60, m * 60 + 60). Slot
 * m mod 60 holds minute m, and is emptied when a later minute takes it,
 * so nothing ever has to tick: a ring that saw no event for an hour reads
 * as zeros.
 */
#ifndef VSMTPD_STATS_RING_H
#define VSMTPD_STATS_RING_H

#define STATS_RING_MINUTES 60

/* What is counted (the members of a stats.history server, in this order). */
enum stats_ring_kind {
	STATS_RING_ACCEPTED,	/* messages queued by the server (250 after DATA) */
	STATS_RING_DELIVERED,	/* recipients delivered or relayed */
	STATS_RING_DEFERRED,	/* recipient attempts that failed temporarily */
	STATS_RING_BOUNCED,	/* recipients failed for good */
	STATS_RING_KINDS,
};

struct stats_ring {
	long long minute[STATS_RING_MINUTES];	/* the minute each slot counts; a zeroed ring is empty */
	unsigned long long n[STATS_RING_MINUTES][STATS_RING_KINDS];
};

/* The minute of unix time t (rounded down, also before 1970). */
long long stats_ring_minute(long long t);

/* Counts one event of kind at unix time now. */
void stats_ring_add(struct stats_ring *r, long long now, enum stats_ring_kind kind);

/*
 * The last STATS_RING_MINUTES minutes up to now's, oldest first: out[k][i]
 * is the count of kind k in minute stats_ring_minute(now) - 59 + i.
 * Minutes the ring holds no count for (none yet, or later than now after
 * the clock was set back) read as 0.
 */
void stats_ring_read(const struct stats_ring *r, long long now,
		     unsigned long long out[STATS_RING_KINDS][STATS_RING_MINUTES]);

#endif
