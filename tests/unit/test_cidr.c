/*
 * test_cidr.c — network parsing, list parsing and matching at prefix edges.
 *
 * Tables of (text -> network or error) and (list, client -> match). Clients
 * are built as real sockaddr_in / sockaddr_in6, the way accept() hands them
 * over, IPv4-mapped IPv6 included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "lib/cidr.h"

struct parse_case {
	const char *text;
	const char *err;	/* NULL: valid */
	int family;
	const char *addr;	/* inet_ntop of the stored network */
	unsigned prefix;
};

static const struct parse_case parse_cases[] = {
	{ "127.0.0.1", NULL, AF_INET, "127.0.0.1", 32 },
	{ "10.0.0.0/8", NULL, AF_INET, "10.0.0.0", 8 },
	{ "0.0.0.0/0", NULL, AF_INET, "0.0.0.0", 0 },
	{ "192.168.1.2/32", NULL, AF_INET, "192.168.1.2", 32 },
	{ "192.168.1.2/31", NULL, AF_INET, "192.168.1.2", 31 },
	{ "128.0.0.0/1", NULL, AF_INET, "128.0.0.0", 1 },
	{ "::1", NULL, AF_INET6, "::1", 128 },
	{ "::/0", NULL, AF_INET6, "::", 0 },
	{ "2001:DB8::/32", NULL, AF_INET6, "2001:db8::", 32 },
	{ "[2001:db8::]/32", NULL, AF_INET6, "2001:db8::", 32 },
	{ "[::1]", NULL, AF_INET6, "::1", 128 },
	{ "fe80::/10", NULL, AF_INET6, "fe80::", 10 },
	{ "2001:db8::2/127", NULL, AF_INET6, "2001:db8::2", 127 },
	{ "8000::/1", NULL, AF_INET6, "8000::", 1 },
	/* mapped networks are stored as the IPv4 network they name */
	{ "::ffff:10.0.0.0/104", NULL, AF_INET, "10.0.0.0", 8 },
	{ "::ffff:192.0.2.1", NULL, AF_INET, "192.0.2.1", 32 },
	{ "::ffff:0:0/96", NULL, AF_INET, "0.0.0.0", 0 },
	{ "::fffe:0:0/95", NULL, AF_INET6, "::fffe:0:0", 95 },	/* wider than mapped: kept IPv6 */
	{ "::ffff:0:0/95", "host bits set below the prefix", 0, NULL, 0 },
	/* errors */
	{ "", "empty network", 0, NULL, 0 },
	{ "10.1.2.3/8", "host bits set below the prefix", 0, NULL, 0 },
	{ "10.0.0.1/31", "host bits set below the prefix", 0, NULL, 0 },
	{ "2001:db8::1/64", "host bits set below the prefix", 0, NULL, 0 },
	{ "2001:db8::1/127", "host bits set below the prefix", 0, NULL, 0 },
	{ "10.0.0.0/33", "prefix length out of range", 0, NULL, 0 },
	{ "::/129", "prefix length out of range", 0, NULL, 0 },
	{ "10.0.0.0/", "bad prefix length", 0, NULL, 0 },
	{ "10.0.0.0/-1", "bad prefix length", 0, NULL, 0 },
	{ "10.0.0.0/+8", "bad prefix length", 0, NULL, 0 },
	{ "10.0.0.0/8x", "bad prefix length", 0, NULL, 0 },
	{ "10.0.0.0/0008", "bad prefix length", 0, NULL, 0 },
	{ "10.0.0.0/8/8", "bad prefix length", 0, NULL, 0 },
	{ "10.0.0", "not an IPv4 address", 0, NULL, 0 },
	{ "256.0.0.0", "not an IPv4 address", 0, NULL, 0 },
	{ "010.0.0.1", "not an IPv4 address", 0, NULL, 0 },
	{ "0x7f.0.0.1", "not an IPv4 address", 0, NULL, 0 },
	{ "localhost", "not an IPv4 address", 0, NULL, 0 },
	{ " 10.0.0.1", "not an IPv4 address", 0, NULL, 0 },
	{ "1::2::3", "not an IPv6 address", 0, NULL, 0 },
	{ "fe80::1%eth0", "not an IPv6 address", 0, NULL, 0 },
	{ "[10.0.0.1]", "brackets are only for IPv6", 0, NULL, 0 },
	{ "[::1", "unbalanced bracket", 0, NULL, 0 },
	{ "[::1]x", "unbalanced bracket", 0, NULL, 0 },
	{ "[2001:db8::/32]", NULL, AF_INET6, "2001:db8::", 32 },
	{ "[::1/12]8", "unbalanced bracket", 0, NULL, 0 },
	{ "[1111:2222:3333:4444:5555:6666:255.255.255.255]/128", NULL, AF_INET6, "1111:2222:3333:4444:5555:6666:ffff:ffff", 128 },
	{ "[]", "brackets are only for IPv6", 0, NULL, 0 },
	{ "[10.0.0.0]/8", "brackets are only for IPv6", 0, NULL, 0 },
	{ "[::1]]", "unbalanced bracket", 0, NULL, 0 },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa/128", "network too long", 0, NULL, 0 },
};

static void test_cidr_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *t = &parse_cases[i];
		struct cidr c;
		const char *err = NULL;
		char text[INET6_ADDRSTRLEN];

		int r = cidr_parse(t->text, &c, &err);
		if (t->err != NULL) {
			if (r != -1 || err == NULL || strcmp(err, t->err) != 0)
				fail_msg("\"%s\": got %d \"%s\", want error \"%s\"", t->text, r,
					 err ? err : "", t->err);
			continue;
		}
		if (r != 0)
			fail_msg("\"%s\": unexpected error \"%s\"", t->text, err ? err : "");
		assert_int_equal(c.family, t->family);
		assert_non_null(inet_ntop(c.family, c.addr, text, sizeof(text)));
		if (strcmp(text, t->addr) != 0 || c.prefix != t->prefix)
			fail_msg("\"%s\": got %s/%u, want %s/%u", t->text, text, c.prefix, t->addr, t->prefix);
		if (c.family == AF_INET)
			for (int b = 4; b < 16; b++)
				assert_int_equal(c.addr[b], 0);
	}
}

/* A client address as accept() would return it. */
static const struct sockaddr *client(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(25);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(25);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

struct match_case {
	const char *list;
	const char *ip;
	bool want;
};

static const struct match_case match_cases[] = {
	/* /0 */
	{ "0.0.0.0/0", "0.0.0.0", true },
	{ "0.0.0.0/0", "255.255.255.255", true },
	{ "0.0.0.0/0", "2001:db8::1", false },
	{ "0.0.0.0/0", "::ffff:192.0.2.1", true },
	{ "::/0", "2001:db8::1", true },
	{ "::/0", "::", true },
	{ "::/0", "192.0.2.1", false },
	{ "::/0", "::ffff:192.0.2.1", false },	/* a mapped client is IPv4 */
	/* /1 */
	{ "128.0.0.0/1", "128.0.0.0", true },
	{ "128.0.0.0/1", "255.255.255.255", true },
	{ "128.0.0.0/1", "127.255.255.255", false },
	{ "0.0.0.0/1", "127.255.255.255", true },
	{ "8000::/1", "8000::", true },
	{ "8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false },
	/* /8 and a byte boundary */
	{ "10.0.0.0/8", "10.255.255.255", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "9.255.255.255", false },
	/* /31 and /32 */
	{ "192.0.2.2/31", "192.0.2.2", true },
	{ "192.0.2.2/31", "192.0.2.3", true },
	{ "192.0.2.2/31", "192.0.2.1", false },
	{ "192.0.2.2/31", "192.0.2.4", false },
	{ "192.0.2.2/32", "192.0.2.2", true },
	{ "192.0.2.2/32", "192.0.2.3", false },
	{ "192.0.2.2", "192.0.2.2", true },
	{ "192.0.2.2", "192.0.2.1", false },
	/* /127 and /128 */
	{ "2001:db8::2/127", "2001:db8::2", true },
	{ "2001:db8::2/127", "2001:db8::3", true },
	{ "2001:db8::2/127", "2001:db8::1", false },
	{ "2001:db8::2/127", "2001:db8::4", false },
	{ "2001:db8::2/128", "2001:db8::2", true },
	{ "2001:db8::2/128", "2001:db8::3", false },
	{ "::1", "::1", true },
	{ "::1", "::2", false },
	/* /33 and /63-/65 across a byte inside IPv6 */
	{ "2001:db8:8000::/33", "2001:db8:ffff::1", true },
	{ "2001:db8:8000::/33", "2001:db8:7fff::1", false },
	{ "2001:db8:0:0::/64", "2001:db8::ffff:ffff:ffff:ffff", true },
	{ "2001:db8:0:0::/64", "2001:db8:0:1::", false },
	/* IPv4-mapped clients match IPv4 networks */
	{ "127.0.0.1/32", "::ffff:127.0.0.1", true },
	{ "127.0.0.1/32", "::ffff:127.0.0.2", false },
	{ "10.0.0.0/8", "::ffff:10.1.2.3", true },
	{ "::ffff:10.0.0.0/104", "10.1.2.3", true },
	{ "::ffff:10.0.0.0/104", "::ffff:10.1.2.3", true },
	{ "::ffff:10.0.0.0/104", "11.1.2.3", false },
	/* not mapped: IPv4-compatible, and NAT64 */
	{ "127.0.0.1/32", "::127.0.0.1", false },
	{ "127.0.0.1/32", "64:ff9b::127.0.0.1", false },
	/* lists */
	{ "10.0.0.0/8, 192.168.0.0/16 ::1", "192.168.44.1", true },
	{ "10.0.0.0/8, 192.168.0.0/16 ::1", "::1", true },
	{ "10.0.0.0/8, 192.168.0.0/16 ::1", "172.16.0.1", false },
	{ "", "127.0.0.1", false },
	{ "", "::1", false },
};

static void test_cidr_match_table(void **state)
{
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *t = &match_cases[i];
		struct cidr_set set;
		struct sockaddr_storage ss;
		const char *err = NULL;
		char bad[64];

		if (cidr_set_parse(t->list, &set, &err, bad, sizeof(bad)) != 0)
			fail_msg("\"%s\": %s (%s)", t->list, err, bad);
		bool got = cidr_set_match(&set, client(t->ip, &ss));
		cidr_set_free(&set);
		if (got != t->want)
			fail_msg("\"%s\" vs %s: got %d, want %d", t->list, t->ip, got, t->want);
	}
}

static void test_cidr_set_parse_separators(void **state)
{
	struct cidr_set set;
	const char *err = NULL;
	char bad[64];

	assert_int_equal(cidr_set_parse(" ,10.0.0.0/8,,\t::1 ,\n192.0.2.1/32, ", &set, &err, bad, sizeof(bad)), 0);
	assert_int_equal(set.n, 3);
	assert_int_equal(set.nets[0].family, AF_INET);
	assert_int_equal(set.nets[0].prefix, 8);
	assert_int_equal(set.nets[1].family, AF_INET6);
	assert_int_equal(set.nets[1].prefix, 128);
	assert_int_equal(set.nets[2].prefix, 32);
	assert_string_equal(bad, "");
	cidr_set_free(&set);
	assert_null(set.nets);
	assert_int_equal(set.n, 0);
	cidr_set_free(&set);	/* twice is harmless */
}

static void test_cidr_set_parse_empty_is_empty_set(void **state)
{
	struct cidr_set set;
	struct sockaddr_storage ss;
	const char *err = NULL;
	char bad[8];

	assert_int_equal(cidr_set_parse("", &set, &err, bad, sizeof(bad)), 0);
	assert_int_equal(set.n, 0);
	assert_false(cidr_set_match(&set, client("127.0.0.1", &ss)));
	cidr_set_free(&set);
	assert_int_equal(cidr_set_parse(" , \t", &set, &err, bad, sizeof(bad)), 0);
	assert_int_equal(set.n, 0);
	cidr_set_free(&set);
	assert_int_equal(cidr_set_parse(NULL, &set, &err, bad, sizeof(bad)), 0);
	assert_int_equal(set.n, 0);
	cidr_set_free(&set);
}

static void test_cidr_set_parse_error_names_item_and_empties_set(void **state)
{
	struct cidr_set set;
	const char *err = NULL;
	char bad[64];

	assert_int_equal(cidr_set_parse("10.0.0.0/8, 10.1.2.3/8, ::1", &set, &err, bad, sizeof(bad)), -1);
	assert_string_equal(err, "host bits set below the prefix");
	assert_string_equal(bad, "10.1.2.3/8");
	assert_null(set.nets);
	assert_int_equal(set.n, 0);

	assert_int_equal(cidr_set_parse("::1;10.0.0.1", &set, &err, bad, sizeof(bad)), -1);
	assert_string_equal(err, "not an IPv6 address");
	assert_string_equal(bad, "::1;10.0.0.1");

	/* the bad item is cut to fit */
	char small[6];
	assert_int_equal(cidr_set_parse("1.2.3.4 example.test", &set, &err, small, sizeof(small)), -1);
	assert_string_equal(small, "examp");
	assert_int_equal(set.n, 0);

	/* a very long item is refused without overrunning anything */
	char list[2100];
	memset(list, 'a', sizeof(list) - 1);
	list[sizeof(list) - 1] = '\0';
	assert_int_equal(cidr_set_parse(list, &set, &err, bad, sizeof(bad)), -1);
	assert_string_equal(err, "network too long");
	assert_int_equal(strlen(bad), sizeof(bad) - 1);
	assert_int_equal(cidr_set_parse(list, &set, &err, bad, 0), -1);
}

static void test_cidr_set_parse_many(void **state)
{
	struct cidr_set set;
	struct sockaddr_storage ss;
	const char *err = NULL;
	char bad[64], list[8192];
	size_t n = 0;

	for (int i = 0; i < 256; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "10.%d.0.0/16, ", i);
	assert_int_equal(cidr_set_parse(list, &set, &err, bad, sizeof(bad)), 0);
	assert_int_equal(set.n, 256);
	assert_true(cidr_set_match(&set, client("10.255.1.1", &ss)));
	assert_true(cidr_set_match(&set, client("10.0.255.255", &ss)));
	assert_false(cidr_set_match(&set, client("11.0.0.1", &ss)));
	cidr_set_free(&set);
}

static void test_cidr_match_other_families_never(void **state)
{
	struct cidr_set set;
	const char *err = NULL;
	char bad[64];
	struct sockaddr_un un;

	assert_int_equal(cidr_set_parse("0.0.0.0/0 ::/0", &set, &err, bad, sizeof(bad)), 0);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_false(cidr_set_match(&set, (const struct sockaddr *)&un));
	assert_false(cidr_set_match(&set, NULL));
	assert_false(cidr_set_match(NULL, (const struct sockaddr *)&un));
	cidr_set_free(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse_table),
		cmocka_unit_test(test_cidr_match_table),
		cmocka_unit_test(test_cidr_set_parse_separators),
		cmocka_unit_test(test_cidr_set_parse_empty_is_empty_set),
		cmocka_unit_test(test_cidr_set_parse_error_names_item_and_empties_set),
		cmocka_unit_test(test_cidr_set_parse_many),
		cmocka_unit_test(test_cidr_match_other_families_never),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
