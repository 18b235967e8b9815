/*
 * test_queue_sched.c — the retry schedule and expiry arithmetic (queue_sched.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "queue_sched.h"

/* The documented default: 5m, 10m, 20m, 40m, 1h, 2h, 4h; expire 5d. */
static const unsigned retry[] = { 300, 600, 1200, 2400, 3600, 7200, 14400 };
#define NRETRY (sizeof(retry) / sizeof(retry[0]))
#define T0 1700000000LL
#define EXPIRE (5u * 86400u)

static void test_queue_sched_first_retry_uses_first_step(void **state)
{
	assert_int_equal(queue_sched_delay(retry, NRETRY, 1), 300);
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 1, T0, T0, EXPIRE), T0 + 300);
	/* tries == 0 is treated as the first failure, not an out-of-range index */
	assert_int_equal(queue_sched_delay(retry, NRETRY, 0), 300);
}

static void test_queue_sched_steps_in_order(void **state)
{
	for (unsigned i = 1; i <= NRETRY; i++)
		assert_int_equal(queue_sched_delay(retry, NRETRY, i), retry[i - 1]);
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 3, T0 + 5000, T0, EXPIRE), T0 + 5000 + 1200);
}

static void test_queue_sched_last_step_repeats(void **state)
{
	assert_int_equal(queue_sched_delay(retry, NRETRY, NRETRY + 1), 14400);
	assert_int_equal(queue_sched_delay(retry, NRETRY, 9999), 14400);
	assert_int_equal(queue_sched_delay(retry, NRETRY, UINT_MAX), 14400);
	const unsigned one[] = { 60 };
	assert_int_equal(queue_sched_delay(one, 1, 1), 60);
	assert_int_equal(queue_sched_delay(one, 1, 50), 60);
}

static void test_queue_sched_empty_schedule_uses_default(void **state)
{
	assert_int_equal(queue_sched_delay(retry, 0, 1), QUEUE_SCHED_DEFAULT_RETRY);
	assert_int_equal(queue_sched_delay(NULL, 0, 7), QUEUE_SCHED_DEFAULT_RETRY);
	assert_int_equal(queue_sched_next_try(NULL, 0, 1, T0, T0, EXPIRE), T0 + QUEUE_SCHED_DEFAULT_RETRY);
}

static void test_queue_sched_next_try_capped_at_expiry(void **state)
{
	long long give_up = T0 + EXPIRE;
	/* 4h step from 1h before the give-up time lands exactly on it */
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 20, give_up - 3600, T0, EXPIRE), give_up);
	/* a step that ends exactly at expiry is not changed */
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 20, give_up - 14400, T0, EXPIRE), give_up);
	/* one second earlier: not capped */
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 20, give_up - 14401, T0, EXPIRE), give_up - 1);
	/* already past the give-up time: never earlier than now */
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 20, give_up + 10, T0, EXPIRE), give_up + 10);
}

static void test_queue_sched_expiry_boundary(void **state)
{
	assert_false(queue_sched_expired(T0, T0, EXPIRE));
	assert_false(queue_sched_expired(T0 + EXPIRE - 1, T0, EXPIRE));
	assert_true(queue_sched_expired(T0 + EXPIRE, T0, EXPIRE));
	assert_true(queue_sched_expired(T0 + EXPIRE + 100000, T0, EXPIRE));
	/* a clock that went backwards does not expire anything */
	assert_false(queue_sched_expired(T0 - 1000, T0, EXPIRE));
	/* expire 0: no give-up time */
	assert_false(queue_sched_expired(LLONG_MAX, 0, 0));
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 1, T0, 0, 0), T0 + 300);
}

static void test_queue_sched_extreme_values_saturate(void **state)
{
	/* a corrupt queue file with an arrival near the end of time */
	assert_false(queue_sched_expired(T0, LLONG_MAX - 10, EXPIRE));
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 1, LLONG_MAX - 10, LLONG_MAX - 10, EXPIRE),
			 LLONG_MAX);
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 1, LLONG_MAX - 10, 0, 0), LLONG_MAX);
	/* an arrival far in the past: expired, and the next try is now */
	assert_true(queue_sched_expired(T0, LLONG_MIN, EXPIRE));
	assert_int_equal(queue_sched_next_try(retry, NRETRY, 1, T0, LLONG_MIN, EXPIRE), T0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_sched_first_retry_uses_first_step),
		cmocka_unit_test(test_queue_sched_steps_in_order),
		cmocka_unit_test(test_queue_sched_last_step_repeats),
		cmocka_unit_test(test_queue_sched_empty_schedule_uses_default),
		cmocka_unit_test(test_queue_sched_next_try_capped_at_expiry),
		cmocka_unit_test(test_queue_sched_expiry_boundary),
		cmocka_unit_test(test_queue_sched_extreme_values_saturate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
