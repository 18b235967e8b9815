/*
 * queue_sched.h — PURE retry and expiry arithmetic for the queue (contract).
 *
 * Time is always passed in (unix seconds), so every rule is unit-tested
 * without a clock. The schedule is the server's `retry` list: after the
 * n-th failed attempt the next try is retry[n-1] seconds later, the last
 * step repeating; no try is ever scheduled past arrival + expire, and a
 * recipient that fails at or after that moment has expired (RFC 5321
 * 4.5.4.1: retry until a give-up time of at least 4-5 days, configurable).
 * Pure: libc, src/lib/ and this header.
 */
#ifndef VSMTPD_QUEUE_SCHED_H
#define VSMTPD_QUEUE_SCHED_H

#include <stdbool.h>
#include <stddef.h>

/* Used when a server has an empty retry list (RFC 5321 4.5.4.1: >= 30 min is
 * recommended between tries; the configured default is 5m, 10m, ... ). */
#define QUEUE_SCHED_DEFAULT_RETRY 300u

/*
 * The delay after the tries-th failed attempt (tries >= 1; 0 counts as 1):
 * retry[tries-1], or the last entry once tries > nretry;
 * QUEUE_SCHED_DEFAULT_RETRY when nretry is 0.
 */
unsigned queue_sched_delay(const unsigned *retry, size_t nretry, unsigned tries);

/* True when a message that arrived at `arrival` may no longer be tried at `now`. */
bool queue_sched_expired(long long now, long long arrival, unsigned expire);

/*
 * The time of the next try after the tries-th failed attempt at `now`:
 * now + queue_sched_delay(), but never later than arrival + expire (so that the
 * last try happens at the give-up time, not long after it). With
 * expire == 0 there is no cap. Never returns a value below now.
 */
long long queue_sched_next_try(const unsigned *retry, size_t nretry, unsigned tries,
			 long long now, long long arrival, unsigned expire);

#endif
