/*
 * test_message.c — header-section questions (message.c): counting Received:
 * fields for loop detection, with folded lines, odd spacing, bare LF, a
 * body that holds lookalike lines, and prefixes cut anywhere; the length
 * of the header section (what a report returns for RET=HDRS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "message.h"

static unsigned count(const char *text)
{
	return message_count_field(text, strlen(text), "Received");
}

static void test_message_counts_fields(void **state)
{
	assert_int_equal(count(""), 0);
	assert_int_equal(count("Subject: x\r\n\r\nbody\r\n"), 0);
	assert_int_equal(count("Received: a\r\nReceived: b\r\nSubject: x\r\n\r\n"), 2);
	/* case, blanks before the colon (RFC 5322 obsolete syntax), bare LF */
	assert_int_equal(count("received: a\nRECEIVED : b\r\nReceived\t: c\r\n\r\n"), 3);
}

static void test_message_ignores_lookalikes(void **state)
{
	/* a continuation line, a longer field name, no colon */
	assert_int_equal(count("Received: a\r\n Received: folded\r\nReceived-SPF: pass\r\n"
			       "Received x\r\nReceivedx: y\r\n\r\n"), 1);
	/* after the empty line it is body */
	assert_int_equal(count("Subject: x\r\n\r\nReceived: in the body\r\nReceived: again\r\n"), 0);
	assert_int_equal(count("Received: a\n\nReceived: body\n"), 1);
}

static void test_message_prefix_cut_anywhere(void **state)
{
	const char *text = "Received: one\r\nReceived: two\r\n\r\nReceived: body\r\n";
	size_t len = strlen(text);
	for (size_t cut = 0; cut <= len; cut++) {
		unsigned n = message_count_field(text, cut, "Received");
		unsigned want = cut >= 24 ? 2 : cut >= 9 ? 1 : 0;	/* "Received:" is 9 bytes */
		assert_int_equal(n, want);
	}
}

static size_t hlen(const char *text)
{
	return message_header_len(text, strlen(text));
}

static void test_message_header_len(void **state)
{
	assert_int_equal(hlen("A: b\r\n\r\nbody\r\n"), 8);
	assert_int_equal(hlen("\r\nbody only\r\n"), 2);
	assert_int_equal(hlen("A: b\n\nbody"), 6);
	assert_int_equal(hlen("A: b\r\n\nbody"), 7);
	assert_int_equal(hlen("A: b\r\n folded\r\n\r\n"), 17);
	/* no empty line within the prefix */
	assert_int_equal(hlen(""), 0);
	assert_int_equal(hlen("A: b\r\nC: d\r\n"), 0);
	assert_int_equal(hlen("A: b\r\n\r"), 0);
	/* a line holding only spaces is not empty */
	assert_int_equal(hlen("A: b\r\n \r\nC: d\r\n\r\n"), 17);
}

static void test_message_header_len_prefix_cut_anywhere(void **state)
{
	/* what a report returns for RET=HDRS is read in one piece that may end anywhere */
	static const char *const texts[] = {
		"Received: one\r\nSubject: two\r\n\r\nbody\r\n\r\nmore\r\n",
		"Received: one\nSubject: two\n\nbody\n",
		"Received: one\r\nSubject: two\r\n\nbody\r\n",
		"\r\n\r\nbody\r\n",
	};
	static const size_t ends[] = { 31, 28, 30, 2 };
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		size_t len = strlen(texts[t]);
		for (size_t cut = 0; cut <= len; cut++)
			assert_int_equal(message_header_len(texts[t], cut), cut >= ends[t] ? ends[t] : 0);
	}
	/* a NUL in the header section is just a byte */
	assert_int_equal(message_header_len("A: b\0c\r\n\r\n", 10), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_counts_fields),
		cmocka_unit_test(test_message_ignores_lookalikes),
		cmocka_unit_test(test_message_prefix_cut_anywhere),
		cmocka_unit_test(test_message_header_len),
		cmocka_unit_test(test_message_header_len_prefix_cut_anywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
