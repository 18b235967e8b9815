/*
 * queue_sched.c — retry and expiry arithmetic (see queue_sched.h).
 *
 * Owns nothing: pure functions of their arguments. Sums saturate instead
 * of overflowing, because arrival and next_try come from queue files that
 * an admin (or a corrupt disk) may have filled with extreme values.
 * RFC 5321 4.5.4.1 (retry strategy, give-up time).
 */
#include "queue_sched.h"

#include <limits.h>

static long long queue_sched_add(long long a, long long b)
{
	if (b > 0 && a > LLONG_MAX - b)
		return LLONG_MAX;
	if (b < 0 && a < LLONG_MIN - b)
		return LLONG_MIN;
	return a + b;
}

unsigned queue_sched_delay(const unsigned *retry, size_t nretry, unsigned tries)
{
	if (nretry == 0 || retry == NULL)
		return QUEUE_SCHED_DEFAULT_RETRY;
	size_t i = tries == 0 ? 0 : (size_t)tries - 1;
	if (i >= nretry)
		i = nretry - 1;
	return retry[i];
}

bool queue_sched_expired(long long now, long long arrival, unsigned expire)
{
	if (expire == 0)
		return false;
	return now >= queue_sched_add(arrival, expire);
}

long long queue_sched_next_try(const unsigned *retry, size_t nretry, unsigned tries,
			 long long now, long long arrival, unsigned expire)
{
	long long next = queue_sched_add(now, queue_sched_delay(retry, nretry, tries));
	if (expire == 0)
		return next;
	long long limit = queue_sched_add(arrival, expire);
	if (next > limit)
		next = limit;
	if (next < now)
		next = now;
	return next;
}
