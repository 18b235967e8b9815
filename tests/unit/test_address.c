/*
 * test_address.c — RFC 5321 path parsing: canonical output, limits, UTF-8,
 * literals, relay tricks and hostile input.
 *
 * Most cases are rows of one table: input, flags, expected error and, on
 * success, the exact canonical local part, domain and *end. Limits are
 * built at run time at n and n + 1 octets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "address.h"

#define OK ADDRESS_OK
#define SYN ADDRESS_ERR_SYNTAX
#define LONG ADDRESS_ERR_TOO_LONG
#define U8 ADDRESS_ERR_UTF8
#define NUL_ ADDRESS_ERR_NULL
#define F_NULL ADDRESS_ALLOW_NULL
#define F_UTF8 ADDRESS_UTF8
#define F_DOM ADDRESS_NEED_DOMAIN

struct path_case {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	unsigned flags;
	enum address_error want;
	const char *local;	/* on success */
	const char *domain;
	size_t end;		/* 0: the whole input */
};

static const struct path_case cases_plain[] = {
	{ "<user@example.test>", 0, 0, OK, "user", "example.test", 0 },
	{ "<User.Name@Example.TEST>", 0, 0, OK, "User.Name", "example.test", 0 },
	{ "<user@example.test> SIZE=100", 0, 0, OK, "user", "example.test", 19 },
	{ "<user@example.test>BODY=8BITMIME", 0, 0, OK, "user", "example.test", 19 },
	{ "   <user@example.test>", 0, 0, OK, "user", "example.test", 0 },
	{ "\t<a@b>", 0, 0, OK, "a", "b", 0 },
	{ "<a@b>>", 0, 0, OK, "a", "b", 5 },
	{ "<a+tag@x-y.example>", 0, 0, OK, "a+tag", "x-y.example", 0 },
	{ "<!#$%&'*+-/=?^_`{|}~@example.test>", 0, 0, OK, "!#$%&'*+-/=?^_`{|}~", "example.test", 0 },
	{ "<user@1.2.3.4>", 0, 0, OK, "user", "1.2.3.4", 0 },
	{ "<user@123abc.example>", 0, 0, OK, "user", "123abc.example", 0 },
	{ "<user@xn--bcher-kva.example>", 0, 0, OK, "user", "xn--bcher-kva.example", 0 },
	/* root dot */
	{ "<user@example.test.>", 0, 0, OK, "user", "example.test", 0 },
	{ "<user@example.test..>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@.>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@.example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@example..test>", 0, 0, SYN, NULL, NULL, 0 },
};

static const struct path_case cases_null_and_postmaster[] = {
	{ "<>", 0, F_NULL, OK, "", "", 0 },
	{ "  <> SIZE=10", 0, F_NULL, OK, "", "", 4 },
	{ "<>", 0, 0, NUL_, NULL, NULL, 0 },
	{ "<>", 0, F_DOM, NUL_, NULL, NULL, 0 },
	{ "< >", 0, F_NULL, SYN, NULL, NULL, 0 },
	{ "<postmaster>", 0, 0, OK, "postmaster", "", 0 },
	{ "<PostMaster>", 0, 0, OK, "PostMaster", "", 0 },
	{ "<postmaster>", 0, F_DOM, SYN, NULL, NULL, 0 },
	{ "<root>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<\"postmaster\">", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@a.example:postmaster>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<postmaster@Example.TEST>", 0, F_DOM, OK, "postmaster", "example.test", 0 },
};

static const struct path_case cases_quoted[] = {
	{ "<\"user\"@example.test>", 0, 0, OK, "user", "example.test", 0 },
	{ "<\"a.b\"@example.test>", 0, 0, OK, "a.b", "example.test", 0 },
	{ "<\"a..b\"@example.test>", 0, 0, OK, "\"a..b\"", "example.test", 0 },
	{ "<\".a\"@example.test>", 0, 0, OK, "\".a\"", "example.test", 0 },
	{ "<\"a b\"@example.test>", 0, 0, OK, "\"a b\"", "example.test", 0 },
	{ "<\"\\a\\b\"@example.test>", 0, 0, OK, "ab", "example.test", 0 },
	{ "<\"a\\ b\"@example.test>", 0, 0, OK, "\"a b\"", "example.test", 0 },
	{ "<\"a\\\"b\"@example.test>", 0, 0, OK, "\"a\\\"b\"", "example.test", 0 },
	{ "<\"a\\\\b\"@example.test>", 0, 0, OK, "\"a\\\\b\"", "example.test", 0 },
	{ "<\"\"@example.test>", 0, 0, OK, "\"\"", "example.test", 0 },
	{ "<\"a\"b@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<\"a\tb\"@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<\"a\\\tb\"@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<\"abc@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<\"abc\\", 0, 0, SYN, NULL, NULL, 0 },
};

static const struct path_case cases_relay_tricks[] = {
	{ "<user%remote@local.test>", 0, 0, OK, "user%remote", "local.test", 0 },
	{ "<\"user@remote\"@local.test>", 0, 0, OK, "\"user@remote\"", "local.test", 0 },
	{ "<@local.test:user@remote.test>", 0, 0, OK, "user", "remote.test", 0 },
	{ "<@a.test,@b.test:user@c.test>", 0, 0, OK, "user", "c.test", 0 },
	{ "<remote!user@local.test>", 0, 0, OK, "remote!user", "local.test", 0 },
	{ "<user@remote.test@local.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@remote.test%local.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@a.test,b.test:user@c.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@a.test:@b.test:user@c.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@a.test user@c.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@[1.2.3.4]:user@c.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@:user@c.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@>", 0, F_NULL, SYN, NULL, NULL, 0 },
};

static const struct path_case cases_syntax_errors[] = {
	{ "", 0, 0, SYN, NULL, NULL, 0 },
	{ "   ", 0, 0, SYN, NULL, NULL, 0 },
	{ "user@example.test", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@example.test", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@example.test >", 0, 0, SYN, NULL, NULL, 0 },
	{ "< user@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<us er@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<.user@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user.@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<us..er@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@-example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@example-.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@exa_mple.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user(comment)@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@example.test\r\n>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<us\ter@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<us\x7f" "er@example.test>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<us\0er@example.test>", 20, 0, SYN, NULL, NULL, 0 },
	{ "<user@exam\0ple.test>", 20, 0, SYN, NULL, NULL, 0 },
	{ "<user@example.test>", 18, 0, SYN, NULL, NULL, 0 },
	{ "<<user@example.test>>", 0, 0, SYN, NULL, NULL, 0 },
	{ "Full Name <user@example.test>", 0, 0, SYN, NULL, NULL, 0 },
};

static const struct path_case cases_literals[] = {
	{ "<user@[127.0.0.1]>", 0, 0, OK, "user", "[127.0.0.1]", 0 },
	{ "<user@[127.000.00.001]>", 0, 0, OK, "user", "[127.0.0.1]", 0 },
	{ "<user@[0.0.0.0]>", 0, 0, OK, "user", "[0.0.0.0]", 0 },
	{ "<user@[255.255.255.255]>", 0, 0, OK, "user", "[255.255.255.255]", 0 },
	{ "<user@[256.1.1.1]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[1.2.3.0001]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[1.2.3]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[1.2.3.4.5]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[1.2.3.]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[1..2.3]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[0x7f.0.0.1]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[1.2.3.4>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[1.2.3.4]x>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[ 1.2.3.4]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[IPv6:::1]>", 0, 0, OK, "user", "[IPv6:::1]", 0 },
	{ "<user@[ipv6:0:0:0:0:0:0:0:1]>", 0, 0, OK, "user", "[IPv6:::1]", 0 },
	{ "<user@[IPv6:2001:DB8::A]>", 0, 0, OK, "user", "[IPv6:2001:db8::a]", 0 },
	{ "<user@[IPv6:::ffff:1.2.3.4]>", 0, 0, OK, "user", "[IPv6:::ffff:1.2.3.4]", 0 },
	{ "<user@[IPv6:::102:304]>", 0, 0, OK, "user", "[IPv6:::102:304]", 0 },
	{ "<user@[IPv6:::FFFF:0102:0304]>", 0, 0, OK, "user", "[IPv6:::ffff:1.2.3.4]", 0 },
	{ "<user@[IPv6:1:0:0:1:0:0:0:1]>", 0, 0, OK, "user", "[IPv6:1:0:0:1::1]", 0 },
	{ "<user@[IPv6:1:0:1:1:1:1:1:1]>", 0, 0, OK, "user", "[IPv6:1:0:1:1:1:1:1:1]", 0 },
	{ "<user@[IPv6:0:0:1:0:0:1:0:0]>", 0, 0, OK, "user", "[IPv6:::1:0:0:1:0:0]", 0 },
	{ "<user@[IPv6:2001:db8:0:0:0:0:0:0]>", 0, 0, OK, "user", "[IPv6:2001:db8::]", 0 },
	{ "<user@[IPv6:0::0]>", 0, 0, OK, "user", "[IPv6:::]", 0 },
	{ "<user@[IPv6:1.2.3.4]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[IPv6:::1::2]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[IPv6:fe80::1%eth0]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[IPv6:]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[IPv6:12345::]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[x-tag:Some.Content]>", 0, 0, OK, "user", "[x-tag:Some.Content]", 0 },
	{ "<user@[x-tag:]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[-tag:a]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[tag-:a]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[:a]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[tag:a\\b]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[tag:a[b]>", 0, 0, SYN, NULL, NULL, 0 },
	{ "<user@[example.test]>", 0, 0, SYN, NULL, NULL, 0 },
};

static const struct path_case cases_utf8[] = {
	{ "<j\xc3\xb6rg@example.test>", 0, 0, U8, NULL, NULL, 0 },
	{ "<j\xc3\xb6rg@example.test>", 0, F_UTF8, OK, "j\xc3\xb6rg", "example.test", 0 },
	{ "<user@b\xc3\xbc" "cher.example>", 0, 0, U8, NULL, NULL, 0 },
	{ "<user@B\xc3\xbc" "cher.Example>", 0, F_UTF8, OK, "user", "b\xc3\xbc" "cher.example", 0 },
	{ "<\"j\xc3\xb6 rg\"@example.test>", 0, F_UTF8, OK, "\"j\xc3\xb6 rg\"", "example.test", 0 },
	{ "<\"j\xc3\xb6rg\"@example.test>", 0, F_UTF8, OK, "j\xc3\xb6rg", "example.test", 0 },
	{ "<\xe2\x82\xac@example.test>", 0, F_UTF8, OK, "\xe2\x82\xac", "example.test", 0 },
	{ "<\xf0\x9f\x98\x80@example.test>", 0, F_UTF8, OK, "\xf0\x9f\x98\x80", "example.test", 0 },
	{ "<\xf4\x8f\xbf\xbf@example.test>", 0, F_UTF8, OK, "\xf4\x8f\xbf\xbf", "example.test", 0 },
	{ "<\xc0\xaf@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },		/* overlong "/" */
	{ "<\xe0\x80\xaf@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },	/* overlong, 3 bytes */
	{ "<\xf0\x80\x80\xaf@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },	/* overlong, 4 bytes */
	{ "<\xed\xa0\x80@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },	/* surrogate D800 */
	{ "<\xf4\x90\x80\x80@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },	/* U+110000 */
	{ "<\xf5\x80\x80\x80@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },
	{ "<\xff@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },
	{ "<\x80@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },		/* lone continuation */
	{ "<\xc3@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },		/* truncated */
	{ "<a\xc3", 0, F_UTF8, SYN, NULL, NULL, 0 },				/* truncated at end */
	{ "<\xc2\x85@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },		/* C1 control NEL */
	{ "<\"\xc0\xaf\"@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },
	{ "<\"a\\\xc3\xb6\"@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },	/* quoted-pair is ASCII */
	{ "<user@[1.2.3.\xc3\xb6]>", 0, F_UTF8, SYN, NULL, NULL, 0 },
	{ "<user@\xc3\xb6-.example>", 0, F_UTF8, SYN, NULL, NULL, 0 },
	{ "\xc2\xa0<user@example.test>", 0, F_UTF8, SYN, NULL, NULL, 0 },
};

static void run_table(const struct path_case *cases, size_t ncases)
{
	for (size_t i = 0; i < ncases; i++) {
		const struct path_case *t = &cases[i];
		struct mailbox m;
		size_t end = 9999;
		size_t len = t->len ? t->len : strlen(t->in);

		memset(&m, 'X', sizeof(m));
		enum address_error got = address_parse_path(t->in, len, t->flags, &m, &end);
		if (got != t->want)
			fail_msg("case %zu \"%s\": got error %d, want %d", i, t->in, got, t->want);
		if (t->want != OK) {
			assert_int_equal(end, 9999);
			assert_string_equal(m.local, "");
			assert_string_equal(m.domain, "");
			continue;
		}
		size_t want_end = t->end ? t->end : len;
		if (strcmp(m.local, t->local) != 0 || strcmp(m.domain, t->domain) != 0 || end != want_end)
			fail_msg("case %zu \"%s\": got <%s> <%s> end %zu, want <%s> <%s> end %zu", i,
				 t->in, m.local, m.domain, end, t->local, t->domain, want_end);
	}
}

#define TABLE_TEST(name) \
	static void test_address_##name(void **state) \
	{ \
		run_table(cases_##name, sizeof(cases_##name) / sizeof(cases_##name[0])); \
	}

TABLE_TEST(plain)
TABLE_TEST(null_and_postmaster)
TABLE_TEST(quoted)
TABLE_TEST(relay_tricks)
TABLE_TEST(syntax_errors)
TABLE_TEST(literals)
TABLE_TEST(utf8)

/* Builds "<" local "@" domain ">" from repeated characters. */
static size_t build(char *out, size_t size, size_t nlocal, size_t ndomain_labels, size_t lastlabel)
{
	size_t n = 0;
	out[n++] = '<';
	for (size_t i = 0; i < nlocal; i++)
		out[n++] = 'l';
	out[n++] = '@';
	for (size_t i = 0; i < ndomain_labels; i++) {
		memset(out + n, 'd', 63);
		n += 63;
		out[n++] = '.';
	}
	memset(out + n, 'e', lastlabel);
	n += lastlabel;
	out[n++] = '>';
	assert_true(n < size);
	out[n] = '\0';
	return n;
}

static void test_address_local_limit(void **state)
{
	char in[600];
	struct mailbox m;
	size_t end;
	size_t n = build(in, sizeof(in), ADDRESS_LOCAL_MAX, 0, 4);

	assert_int_equal(address_parse_path(in, n, 0, &m, &end), OK);
	assert_int_equal(strlen(m.local), ADDRESS_LOCAL_MAX);
	assert_int_equal(end, n);
	n = build(in, sizeof(in), ADDRESS_LOCAL_MAX + 1, 0, 4);
	assert_int_equal(address_parse_path(in, n, 0, &m, &end), LONG);
	/* A very long local part is still "too long", not a buffer overrun. */
	n = build(in, sizeof(in), 500, 0, 4);
	assert_int_equal(address_parse_path(in, n, 0, &m, &end), LONG);
}

static void test_address_quoted_limit_is_on_canonical_form(void **state)
{
	char in[300], want[100];
	struct mailbox m;
	size_t end;

	/* 62 content octets + 2 quotes = 64 canonical: fits. */
	snprintf(in, sizeof(in), "<\"%.*s \"@x.test>", 61, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(address_parse_path(in, strlen(in), 0, &m, &end), OK);
	snprintf(want, sizeof(want), "\"%.*s \"", 61, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(m.local, want);
	assert_int_equal(strlen(m.local), 64);
	/* 63 content octets + 2 quotes = 65: too long. */
	snprintf(in, sizeof(in), "<\"%.*s \"@x.test>", 62, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(address_parse_path(in, strlen(in), 0, &m, &end), LONG);
	/* Escapes that are needed count: 31 "\"" escaped = 62 + 2 = 64. */
	char *p = in;
	p += sprintf(p, "<\"");
	for (int i = 0; i < 31; i++)
		p += sprintf(p, "\\\"");
	p += sprintf(p, "\"@x.test>");
	assert_int_equal(address_parse_path(in, strlen(in), 0, &m, &end), OK);
	assert_int_equal(strlen(m.local), 64);
	p = in + 2;
	for (int i = 0; i < 32; i++)
		p += sprintf(p, "\\\"");
	p += sprintf(p, "\"@x.test>");
	assert_int_equal(address_parse_path(in, strlen(in), 0, &m, &end), LONG);
	/* Needless quoting does not count: 64 "\a" pairs unquote to 64 octets. */
	p = in + 2;
	for (int i = 0; i < 64; i++)
		p += sprintf(p, "\\a");
	p += sprintf(p, "\"@x.test>");
	assert_int_equal(address_parse_path(in, strlen(in), 0, &m, &end), OK);
	assert_int_equal(strlen(m.local), 64);
	assert_int_equal(strspn(m.local, "a"), 64);
}

static void test_address_label_limit(void **state)
{
	char in[600];
	struct mailbox m;
	size_t end;
	size_t n = build(in, sizeof(in), 1, 0, ADDRESS_LABEL_MAX);

	assert_int_equal(address_parse_path(in, n, 0, &m, &end), OK);
	assert_int_equal(strlen(m.domain), 63);
	n = build(in, sizeof(in), 1, 0, ADDRESS_LABEL_MAX + 1);
	assert_int_equal(address_parse_path(in, n, 0, &m, &end), LONG);
}

static void test_address_path_limit(void **state)
{
	char in[600];
	struct mailbox m;
	size_t end;
	/* "<" + 59 + "@" + 3 * 64 + 2 + ">" = 256 */
	size_t n = build(in, sizeof(in), 59, 3, 2);

	assert_int_equal(n, ADDRESS_PATH_MAX);
	assert_int_equal(address_parse_path(in, n, 0, &m, &end), OK);
	assert_int_equal(end, 256);
	assert_int_equal(strlen(m.domain), 3 * 64 + 2);
	n = build(in, sizeof(in), 60, 3, 2);
	assert_int_equal(address_parse_path(in, n, 0, &m, &end), LONG);
	/* The root dot is part of the path as sent. */
	n = build(in, sizeof(in), 58, 3, 2);
	memmove(in + n, in + n - 1, 2);
	in[n - 1] = '.';
	assert_int_equal(address_parse_path(in, n + 1, 0, &m, &end), OK);
	assert_int_equal(end, 256);
	n = build(in, sizeof(in), 59, 3, 2);
	memmove(in + n, in + n - 1, 2);
	in[n - 1] = '.';
	assert_int_equal(address_parse_path(in, n + 1, 0, &m, &end), LONG);
	/* A source route counts too, although it is dropped. */
	char route[400];
	char label[64];
	memset(label, 'd', 63);
	label[63] = '\0';
	snprintf(route, sizeof(route), "<@%s.%s.%s.%.57s:u@x>", label, label, label, label);
	assert_int_equal(strlen(route), ADDRESS_PATH_MAX);
	assert_int_equal(address_parse_path(route, strlen(route), 0, &m, &end), OK);
	assert_string_equal(m.local, "u");
	assert_string_equal(m.domain, "x");
	snprintf(route, sizeof(route), "<@%s.%s.%s.%.58s:u@x>", label, label, label, label);
	assert_int_equal(address_parse_path(route, strlen(route), 0, &m, &end), LONG);
}

static void test_address_long_path_is_syntax_when_malformed(void **state)
{
	char in[1200];
	struct mailbox m;
	size_t end;

	memset(in, 'a', sizeof(in));
	in[0] = '<';
	in[600] = '@';
	in[601] = '@';
	in[1199] = '>';
	assert_int_equal(address_parse_path(in, sizeof(in), 0, &m, &end), SYN);
}

static void test_address_domain_valid(void **state)
{
	char d[300];

	assert_true(address_domain_valid("example.test", 12, false));
	assert_true(address_domain_valid("a", 1, false));
	assert_true(address_domain_valid("1-2.x9", 6, false));
	assert_false(address_domain_valid("", 0, false));
	assert_false(address_domain_valid("example.test.", 13, false));
	assert_false(address_domain_valid(".example", 8, false));
	assert_false(address_domain_valid("a..b", 4, false));
	assert_false(address_domain_valid("-a.b", 4, false));
	assert_false(address_domain_valid("a-.b", 4, false));
	assert_false(address_domain_valid("a_b", 3, false));
	assert_false(address_domain_valid("[1.2.3.4]", 9, false));
	assert_false(address_domain_valid("a b", 3, false));
	assert_false(address_domain_valid("ab\0c", 4, false));
	assert_false(address_domain_valid("b\xc3\xbc" "cher.example", 14, false));
	assert_true(address_domain_valid("b\xc3\xbc" "cher.example", 14, true));
	assert_false(address_domain_valid("b\xc3" "cher.example", 13, true));
	/* only the given length is read */
	assert_true(address_domain_valid("example.test>junk", 12, false));

	/* labels: 63 ok, 64 not */
	memset(d, 'a', 64);
	assert_true(address_domain_valid(d, 63, false));
	assert_false(address_domain_valid(d, 64, false));
	/* whole name: 255 ok, 256 not (4 labels of 63 + 3 dots = 255) */
	for (int i = 0; i < 300; i++)
		d[i] = (i % 64 == 63) ? '.' : 'a';
	assert_true(address_domain_valid(d, 255, false));
	d[255] = 'a';
	assert_false(address_domain_valid(d, 256, false));
	d[254] = '.';
	d[255] = 'b';
	assert_false(address_domain_valid(d, 256, false));
}

static void test_address_local_is_safe(void **state)
{
	char l[80];

	assert_true(address_local_is_safe("user"));
	assert_true(address_local_is_safe("first.last"));
	assert_true(address_local_is_safe("a+b=c_d-e"));
	assert_true(address_local_is_safe("j\xc3\xb6rg"));
	assert_false(address_local_is_safe(""));
	assert_false(address_local_is_safe(".hidden"));
	assert_false(address_local_is_safe("a..b"));
	assert_false(address_local_is_safe("a."));
	assert_false(address_local_is_safe(".."));
	assert_false(address_local_is_safe("../etc"));
	assert_false(address_local_is_safe("a/b"));
	assert_false(address_local_is_safe("user%remote"));
	assert_false(address_local_is_safe("remote!user"));
	assert_false(address_local_is_safe("\"user@remote\""));
	assert_false(address_local_is_safe("\"a b\""));
	assert_false(address_local_is_safe("a b"));
	assert_false(address_local_is_safe("j\xc3rg"));
	assert_false(address_local_is_safe("\xc0\xaf"));
	memset(l, 'a', sizeof(l));
	l[64] = '\0';
	assert_true(address_local_is_safe(l));
	l[64] = 'a';
	l[65] = '\0';
	assert_false(address_local_is_safe(l));
}

static void test_address_relay_tricks_are_not_safe(void **state)
{
	static const char *const tricks[] = {
		"<user%remote@local.test>", "<\"user@remote\"@local.test>", "<remote!user@local.test>",
		"<\"user%remote\"@local.test>", "<\"../../etc/passwd\"@local.test>",
	};
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		struct mailbox m;
		size_t end;
		assert_int_equal(address_parse_path(tricks[i], strlen(tricks[i]), 0, &m, &end), OK);
		assert_string_equal(m.domain, "local.test");
		if (address_local_is_safe(m.local))
			fail_msg("%s: local part <%s> called safe", tricks[i], m.local);
	}
}

static void test_address_predicates_and_format(void **state)
{
	struct mailbox m;
	size_t end;
	char out[ADDRESS_MAX + 1];

	assert_int_equal(address_parse_path("<>", 2, F_NULL, &m, &end), OK);
	assert_true(address_is_null(&m));
	assert_false(address_is_postmaster(&m));
	assert_int_equal(address_format(&m, out, sizeof(out)), 0);
	assert_string_equal(out, "");

	assert_int_equal(address_parse_path("<PostMaster>", 12, 0, &m, &end), OK);
	assert_false(address_is_null(&m));
	assert_true(address_is_postmaster(&m));
	assert_int_equal(address_format(&m, out, sizeof(out)), 10);
	assert_string_equal(out, "PostMaster");

	assert_int_equal(address_parse_path("<\"postmaster\"@X.test>", 21, 0, &m, &end), OK);
	assert_true(address_is_postmaster(&m));
	assert_false(address_is_literal(&m));
	assert_int_equal(address_format(&m, out, sizeof(out)), 17);
	assert_string_equal(out, "postmaster@x.test");

	assert_int_equal(address_parse_path("<postmasterx@x.test>", 20, 0, &m, &end), OK);
	assert_false(address_is_postmaster(&m));

	assert_int_equal(address_parse_path("<\"a b\"@[IPv6:::1]>", 18, 0, &m, &end), OK);
	assert_true(address_is_literal(&m));
	assert_int_equal(address_format(&m, out, sizeof(out)), 16);
	assert_string_equal(out, "\"a b\"@[IPv6:::1]");
	/* exact fit and one short */
	assert_int_equal(address_format(&m, out, 17), 16);
	assert_int_equal(address_format(&m, out, 16), -1);
	assert_string_equal(out, "");
	assert_int_equal(address_format(&m, out, 0), -1);
}

static void test_address_format_always_fits_max(void **state)
{
	char in[600], out[ADDRESS_MAX + 1];
	struct mailbox m;
	size_t end;
	size_t n = build(in, sizeof(in), 59, 3, 2);

	assert_int_equal(address_parse_path(in, n, 0, &m, &end), OK);
	assert_int_equal(address_format(&m, out, sizeof(out)), 59 + 1 + 194);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_plain),
		cmocka_unit_test(test_address_null_and_postmaster),
		cmocka_unit_test(test_address_quoted),
		cmocka_unit_test(test_address_relay_tricks),
		cmocka_unit_test(test_address_syntax_errors),
		cmocka_unit_test(test_address_literals),
		cmocka_unit_test(test_address_utf8),
		cmocka_unit_test(test_address_local_limit),
		cmocka_unit_test(test_address_quoted_limit_is_on_canonical_form),
		cmocka_unit_test(test_address_label_limit),
		cmocka_unit_test(test_address_path_limit),
		cmocka_unit_test(test_address_long_path_is_syntax_when_malformed),
		cmocka_unit_test(test_address_domain_valid),
		cmocka_unit_test(test_address_local_is_safe),
		cmocka_unit_test(test_address_relay_tricks_are_not_safe),
		cmocka_unit_test(test_address_predicates_and_format),
		cmocka_unit_test(test_address_format_always_fits_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
