/*
 * test_addrlist.c — address-list parsing (addrlist.c) for `vsmtpd-sendmail -t`:
 * display names quoted and not, commas and brackets inside quotes, nested
 * comments, groups, folded lines, obsolete routes and empty elements; and
 * hostile values: unclosed quotes, comments and brackets, NULs, stray
 * specials, nested groups, overlong addresses, deep comment nesting, and
 * every prefix of valid lists (never a crash, never a partial result).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "addrlist.h"

struct collect {
	char text[8192];	/* the addresses joined with "|" */
	size_t len;
	int calls;
};

static void collect_fn(void *arg, const char *addr)
{
	struct collect *c = arg;
	size_t n = strlen(addr);
	assert_true(c->len + n + 2 < sizeof(c->text));
	if (c->calls++ > 0)
		c->text[c->len++] = '|';
	memcpy(c->text + c->len, addr, n);
	c->len += n;
	c->text[c->len] = '\0';
}

/* Parses value; checks the count and the addresses handed out ("a|b|c"). */
static void expect(const char *value, int count, const char *joined)
{
	struct collect c = { .text = "", .len = 0, .calls = 0 };
	int n = addrlist_parse(value, strlen(value), collect_fn, &c);
	if (n != count)
		fail_msg("%s: count %d, expected %d (got \"%s\")", value, n, count, c.text);
	assert_int_equal(c.calls, count < 0 ? 0 : count);
	assert_string_equal(c.text, joined);
	/* the check-only form agrees */
	assert_int_equal(addrlist_parse(value, strlen(value), NULL, NULL), count);
}

static void bad(const char *value)
{
	expect(value, -1, "");
}

static void test_addrlist_plain_forms(void **state)
{
	expect("", 0, "");
	expect("   ", 0, "");
	expect("a@b.example", 1, "a@b.example");
	expect("  a@b.example  ", 1, "a@b.example");
	expect("a@b, c@d", 2, "a@b|c@d");
	expect("<a@b>", 1, "a@b");
	expect("John Doe <john@example.test>", 1, "john@example.test");
	expect("John Doe <john@example.test>, jane@example.test", 2, "john@example.test|jane@example.test");
	expect("first.last+tag@sub.example.test", 1, "first.last+tag@sub.example.test");
	expect("a@[127.0.0.1]", 1, "a@[127.0.0.1]");
	expect("x <a@[IPv6:::1]>", 1, "a@[IPv6:::1]");
}

static void test_addrlist_quoted_display_names(void **state)
{
	expect("\"Doe, John\" <john@example.test>, \"Roe, Jane\" <jane@example.test>", 2,
	       "john@example.test|jane@example.test");
	expect("\"a <b@c>, d@e\" <real@example.test>", 1, "real@example.test");
	expect("\"quote \\\" and \\\\\" <q@example.test>", 1, "q@example.test");
	expect("Dr. J. R. Doe <jrd@example.test>", 1, "jrd@example.test");	/* obs-phrase dots */
	expect("\"\" <e@example.test>", 1, "e@example.test");
	expect("=?UTF-8?B?w4lsb2TDrWU=?= <elodie@example.test>", 1, "elodie@example.test");
	expect("Élodie Dupré <elodie@exemple.test>", 1, "elodie@exemple.test");
}

static void test_addrlist_comments(void **state)
{
	expect("a@b (Alice)", 1, "a@b");
	expect("(lead) a@b (trail), (x) c@d", 2, "a@b|c@d");
	expect("Alice (the (nested) one) <a@b>", 1, "a@b");
	expect("a(c1)@(c2)b(c3).(c4)example", 1, "a@b.example");
	expect("a@b (comma, inside; and <angle> \"quote)", 1, "a@b");
	expect("a@b (escaped \\) paren)", 1, "a@b");
	expect("john . doe @ example . test", 1, "john.doe@example.test");	/* obs: CFWS around dots */
}

static void test_addrlist_quoted_local_parts(void **state)
{
	expect("\"john doe\"@example.test", 1, "\"john doe\"@example.test");
	expect("<\"a,b\"@example.test>", 1, "\"a,b\"@example.test");
	expect("\"a\\\"b\"@x", 1, "\"a\\\"b\"@x");
	expect("\"a\".b@x", 1, "\"a\".b@x");	/* obs-local-part */
	expect("üser@exämple.test", 1, "üser@exämple.test");	/* RFC 6532 */
}

static void test_addrlist_groups(void **state)
{
	expect("undisclosed-recipients:;", 0, "");
	expect("Undisclosed recipients: ;", 0, "");
	expect("team: a@b, Carl <c@d>;", 2, "a@b|c@d");
	expect("team: a@b, c@d;, e@f", 3, "a@b|c@d|e@f");
	expect("x@y, team: a@b;, other: ;, z@w", 3, "x@y|a@b|z@w");
	expect("team: a@b, c@d; (done)", 2, "a@b|c@d");
	expect("team: ,a@b,,;", 1, "a@b");
	expect("\"The Team\": a@b;", 1, "a@b");
}

static void test_addrlist_folded_lines(void **state)
{
	expect("John Doe\r\n <john@example.test>,\r\n\tjane@example.test", 2,
	       "john@example.test|jane@example.test");
	expect("a@b,\n c@d", 2, "a@b|c@d");
	expect("team:\r\n a@b,\r\n c@d;", 2, "a@b|c@d");
	expect("\"folded\r\n name\"@example.test", 1, "\"folded name\"@example.test");
	expect("a@b (a comment\r\n folded)", 1, "a@b");
}

static void test_addrlist_obsolete_forms(void **state)
{
	expect(", a@b,, ,c@d,", 2, "a@b|c@d");
	expect(",", 0, "");
	expect("<@relay.example:a@b>", 1, "a@b");
	expect("X <@r1.example,@r2.example:a@b>", 1, "a@b");
	expect("<@r1,,@r2:a@b>", 1, "a@b");
}

static void test_addrlist_bare_local_parts(void **state)
{
	expect("root", 1, "root");
	expect("root, postmaster", 2, "root|postmaster");
	expect("<root>", 1, "root");
	expect("john.doe", 1, "john.doe");
	expect("Cron Daemon <root>", 1, "root");
}

static void test_addrlist_syntax_errors(void **state)
{
	bad("John Doe");			/* a phrase and no address */
	bad("John Doe, a@b");
	bad("a@b c@d");
	bad("a@b@c");
	bad("<>");
	bad("Name <>");
	bad("<a@b");
	bad("a@b>");
	bad("<<a@b>>");
	bad("Name <a@b> trailing");
	bad("\"unclosed <a@b>");
	bad("a@b (unclosed comment");
	bad("a@b (unclosed (nested) comment");
	bad("a@b )");
	bad("a@[127.0.0.1");
	bad("a@[1[2]");
	bad("a@b]");
	bad("@b");
	bad("a@");
	bad("a@.b");
	bad("a@b.");
	bad(".a@b");
	bad("a.@b");
	bad("a..b@c");
	bad("a@b;");				/* ";" outside a group */
	bad("team: a@b");			/* a group never closed */
	bad("team: inner: a@b;;");		/* a group in a group */
	bad(": a@b;");				/* a group without a name */
	bad(". <a@b>");
	bad("a\\b@c");
	bad("a@b\\");
	bad("\"a\\");
	bad("<@r1 a@b>");			/* a route without ":" */
	bad("<@:a@b>");
	bad("a@b\x01");
	bad("a@b, ;");
}

static void test_addrlist_nul_is_an_error(void **state)
{
	static const char with_nul[] = "a@b, c\0d@e";
	assert_int_equal(addrlist_parse(with_nul, sizeof(with_nul) - 1, NULL, NULL), -1);
	static const char in_quote[] = "\"a\0b\"@c";
	assert_int_equal(addrlist_parse(in_quote, sizeof(in_quote) - 1, NULL, NULL), -1);
	static const char in_comment[] = "a@b (x\0y)";
	assert_int_equal(addrlist_parse(in_comment, sizeof(in_comment) - 1, NULL, NULL), -1);
	static const char after_bs[] = "\"a\\\0\"@c";
	assert_int_equal(addrlist_parse(after_bs, sizeof(after_bs) - 1, NULL, NULL), -1);
	/* len is honoured: the NUL past it is never looked at */
	assert_int_equal(addrlist_parse("a@b\0junk", 3, NULL, NULL), 1);
	assert_int_equal(addrlist_parse(NULL, 0, NULL, NULL), 0);
}

static void test_addrlist_length_limit(void **state)
{
	size_t n = ADDRLIST_ADDR_MAX + 10;
	char *v = malloc(n + 1);
	assert_non_null(v);
	/* exactly ADDRLIST_ADDR_MAX octets: accepted */
	memset(v, 'a', ADDRLIST_ADDR_MAX - 2);
	memcpy(v + ADDRLIST_ADDR_MAX - 2, "@b", 3);
	assert_int_equal(addrlist_parse(v, strlen(v), NULL, NULL), 1);
	/* one more: refused */
	memset(v, 'a', ADDRLIST_ADDR_MAX - 1);
	memcpy(v + ADDRLIST_ADDR_MAX - 1, "@b", 3);
	assert_int_equal(addrlist_parse(v, strlen(v), NULL, NULL), -1);
	/* a long display name is no address: fine */
	memset(v, 'n', n - 6);
	memcpy(v + n - 6, " <a@b>", 7);
	expect(v, 1, "a@b");
	free(v);
}

static void test_addrlist_deep_comments_and_big_lists(void **state)
{
	size_t depth = 100000;
	char *v = malloc(2 * depth + 8);
	assert_non_null(v);
	memcpy(v, "a@b ", 4);
	memset(v + 4, '(', depth);
	memset(v + 4 + depth, ')', depth);
	v[4 + 2 * depth] = '\0';
	assert_int_equal(addrlist_parse(v, strlen(v), NULL, NULL), 1);
	v[4 + 2 * depth - 1] = '\0';	/* one ")" short */
	assert_int_equal(addrlist_parse(v, strlen(v), NULL, NULL), -1);
	free(v);

	/* many addresses, many empty elements */
	size_t count = 20000;
	char *list = malloc(count * 6 + 1);
	assert_non_null(list);
	for (size_t i = 0; i < count; i++)
		memcpy(list + 6 * i, "a@b, ,", 6);
	list[6 * count] = '\0';
	assert_int_equal(addrlist_parse(list, strlen(list), NULL, NULL), (int)count);
	free(list);
}

static void count_fn(void *arg, const char *addr)
{
	(*(int *)arg)++;
}

/* Every prefix and every one-byte change of valid lists: no crash, no
 * out-of-bounds read (ASan), and a callback count that matches the result. */
static void test_addrlist_prefixes_and_mutations(void **state)
{
	static const char *const lists[] = {
		"\"Doe, John\" (the boss) <john@example.test>, team: a@b, <@r:c@d>;, e@[127.0.0.1]",
		"A (x (y) z) <\"q\\\"l\"@x>,\r\n\tb.c@d (e)",
	};
	static const char mutations[] = "\"()<>[]:;@,.\\ \r\n\0a\x80";
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		size_t len = strlen(lists[l]);
		char *copy = malloc(len);
		assert_non_null(copy);
		for (size_t cut = 0; cut <= len; cut++) {
			/* exactly cut bytes: ASan sees any read past them */
			memcpy(copy, lists[l], cut);
			int calls = 0;
			int n = addrlist_parse(copy, cut, count_fn, &calls);
			assert_int_equal(calls, n < 0 ? 0 : n);
		}
		for (size_t i = 0; i < len; i++) {
			for (size_t m = 0; m < sizeof(mutations) - 1; m++) {
				memcpy(copy, lists[l], len);
				copy[i] = mutations[m];
				int calls = 0;
				int n = addrlist_parse(copy, len, count_fn, &calls);
				assert_int_equal(calls, n < 0 ? 0 : n);
			}
		}
		free(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrlist_plain_forms),
		cmocka_unit_test(test_addrlist_quoted_display_names),
		cmocka_unit_test(test_addrlist_comments),
		cmocka_unit_test(test_addrlist_quoted_local_parts),
		cmocka_unit_test(test_addrlist_groups),
		cmocka_unit_test(test_addrlist_folded_lines),
		cmocka_unit_test(test_addrlist_obsolete_forms),
		cmocka_unit_test(test_addrlist_bare_local_parts),
		cmocka_unit_test(test_addrlist_syntax_errors),
		cmocka_unit_test(test_addrlist_nul_is_an_error),
		cmocka_unit_test(test_addrlist_length_limit),
		cmocka_unit_test(test_addrlist_deep_comments_and_big_lists),
		cmocka_unit_test(test_addrlist_prefixes_and_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
