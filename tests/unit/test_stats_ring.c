/*
 * test_stats_ring.c — the per-minute ring behind `stats.history`.
 *
 * Time is passed in, so each case places events at chosen unix seconds and
 * reads the hour back: minute edges, the oldest minute still shown, a
 * slot reused an hour later, a clock set back, kinds kept apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "stats_ring.h"

/* A minute well after 1970, at its first second. */
#define T0 (28000000LL * 60)

static unsigned long long out[STATS_RING_KINDS][STATS_RING_MINUTES];

static unsigned long long total(enum stats_ring_kind k)
{
	unsigned long long n = 0;
	for (unsigned i = 0; i < STATS_RING_MINUTES; i++)
		n += out[k][i];
	return n;
}

static void test_stats_ring_empty_reads_zero(void **state)
{
	static const struct stats_ring r;
	stats_ring_read(&r, T0, out);
	stats_ring_read(&r, 30, out);	/* minute 0, which a zeroed slot is tagged with */
	for (unsigned k = 0; k < STATS_RING_KINDS; k++)
		assert_int_equal(total(k), 0);
}

static void test_stats_ring_current_minute_is_last(void **state)
{
	static struct stats_ring r;
	stats_ring_add(&r, T0 + 59, STATS_RING_ACCEPTED);
	stats_ring_add(&r, T0 + 60, STATS_RING_ACCEPTED);
	stats_ring_add(&r, T0 + 61, STATS_RING_ACCEPTED);
	stats_ring_read(&r, T0 + 119, out);
	assert_int_equal(out[STATS_RING_ACCEPTED][STATS_RING_MINUTES - 1], 2);
	assert_int_equal(out[STATS_RING_ACCEPTED][STATS_RING_MINUTES - 2], 1);
	assert_int_equal(total(STATS_RING_ACCEPTED), 3);
}

static void test_stats_ring_oldest_minute_shown(void **state)
{
	static struct stats_ring r;
	stats_ring_add(&r, T0, STATS_RING_DELIVERED);
	stats_ring_read(&r, T0 + 59 * 60 + 59, out);
	assert_int_equal(out[STATS_RING_DELIVERED][0], 1);
	stats_ring_read(&r, T0 + 60 * 60, out);	/* an hour later it is gone */
	assert_int_equal(total(STATS_RING_DELIVERED), 0);
}

static void test_stats_ring_slot_reused_an_hour_later(void **state)
{
	static struct stats_ring r;
	for (int i = 0; i < 5; i++)
		stats_ring_add(&r, T0 + 10, STATS_RING_BOUNCED);
	stats_ring_add(&r, T0 + 3600 + 10, STATS_RING_BOUNCED);
	stats_ring_read(&r, T0 + 3600 + 10, out);
	assert_int_equal(out[STATS_RING_BOUNCED][STATS_RING_MINUTES - 1], 1);
	assert_int_equal(total(STATS_RING_BOUNCED), 1);
}

static void test_stats_ring_clock_set_back(void **state)
{
	static struct stats_ring r;
	stats_ring_add(&r, T0 + 5 * 60, STATS_RING_DEFERRED);
	stats_ring_read(&r, T0, out);	/* a minute later than now is not shown */
	assert_int_equal(total(STATS_RING_DEFERRED), 0);
	stats_ring_add(&r, T0, STATS_RING_DEFERRED);
	stats_ring_read(&r, T0 + 5 * 60, out);
	assert_int_equal(out[STATS_RING_DEFERRED][STATS_RING_MINUTES - 1], 1);
	assert_int_equal(out[STATS_RING_DEFERRED][STATS_RING_MINUTES - 6], 1);
	/* the slot of minute +5 taken by minute -55: counted from zero, never twice */
	stats_ring_add(&r, T0 - 55 * 60, STATS_RING_DEFERRED);
	stats_ring_read(&r, T0, out);
	assert_int_equal(out[STATS_RING_DEFERRED][STATS_RING_MINUTES - 1], 1);
	assert_int_equal(out[STATS_RING_DEFERRED][4], 1);
	assert_int_equal(total(STATS_RING_DEFERRED), 2);
}

static void test_stats_ring_kinds_apart(void **state)
{
	static struct stats_ring r;
	stats_ring_add(&r, T0, STATS_RING_ACCEPTED);
	stats_ring_add(&r, T0, STATS_RING_DELIVERED);
	stats_ring_add(&r, T0, STATS_RING_DELIVERED);
	stats_ring_add(&r, T0 + 60, STATS_RING_BOUNCED);	/* a new minute keeps no count of the old */
	stats_ring_read(&r, T0 + 60, out);
	assert_int_equal(out[STATS_RING_ACCEPTED][STATS_RING_MINUTES - 2], 1);
	assert_int_equal(out[STATS_RING_DELIVERED][STATS_RING_MINUTES - 2], 2);
	assert_int_equal(out[STATS_RING_BOUNCED][STATS_RING_MINUTES - 1], 1);
	assert_int_equal(out[STATS_RING_DELIVERED][STATS_RING_MINUTES - 1], 0);
	assert_int_equal(total(STATS_RING_DEFERRED), 0);
}

static void test_stats_ring_minute_rounds_down(void **state)
{
	assert_int_equal(stats_ring_minute(0), 0);
	assert_int_equal(stats_ring_minute(59), 0);
	assert_int_equal(stats_ring_minute(60), 1);
	assert_int_equal(stats_ring_minute(-1), -1);
	assert_int_equal(stats_ring_minute(-60), -1);
	assert_int_equal(stats_ring_minute(-61), -2);
	/* before 1970 the slots still line up */
	static struct stats_ring r;
	stats_ring_add(&r, -61, STATS_RING_ACCEPTED);
	stats_ring_read(&r, -1, out);
	assert_int_equal(out[STATS_RING_ACCEPTED][STATS_RING_MINUTES - 2], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_ring_empty_reads_zero),
		cmocka_unit_test(test_stats_ring_current_minute_is_last),
		cmocka_unit_test(test_stats_ring_oldest_minute_shown),
		cmocka_unit_test(test_stats_ring_slot_reused_an_hour_later),
		cmocka_unit_test(test_stats_ring_clock_set_back),
		cmocka_unit_test(test_stats_ring_kinds_apart),
		cmocka_unit_test(test_stats_ring_minute_rounds_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
