/*
 * fuzz_address.c — libFuzzer target for address.c.
 *
 * The first input byte picks the flags, the rest is the path text. Beyond
 * "no crash", it checks the contract on every accepted path: *end within the
 * input and just past a ">", the canonical lengths, that address_format()
 * fits ADDRESS_MAX + 1, and that the canonical form is a fixed point
 * (parsing "<" + format + ">" gives the same mailbox back). It also feeds
 * the raw bytes to the predicates.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_address.c
 *        src/address.c src/lib/buf.c src/lib/xalloc.c (-D_GNU_SOURCE)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailbox m, again;
	char text[ADDRESS_MAX + 1], path[ADDRESS_MAX + 3];
	size_t end = 0, end2 = 0;

	if (size == 0)
		return 0;
	unsigned flags = data[0] & (ADDRESS_ALLOW_NULL | ADDRESS_UTF8 | ADDRESS_NEED_DOMAIN);
	const char *s = (const char *)data + 1;
	size_t len = size - 1;

	/* A name address_domain_valid() likes parses as the domain of a path. */
	if (address_domain_valid(s, len, flags & ADDRESS_UTF8) && len + 4 <= ADDRESS_PATH_MAX) {
		path[0] = '<';
		path[1] = 'a';
		path[2] = '@';
		memcpy(path + 3, s, len);
		path[len + 3] = '>';
		check(address_parse_path(path, len + 4, flags, &m, &end) == ADDRESS_OK);
		check(end == len + 4 && strlen(m.domain) == len && strncasecmp(m.domain, s, len) == 0);
	}
	if (len < sizeof(text)) {
		memcpy(text, s, len);
		text[len] = '\0';
		(void)address_local_is_safe(text);
	}

	if (address_parse_path(s, len, flags, &m, &end) != ADDRESS_OK) {
		check(m.local[0] == '\0' && m.domain[0] == '\0');
		return 0;
	}
	check(end > 0 && end <= len && s[end - 1] == '>');
	check(strlen(m.local) <= ADDRESS_LOCAL_MAX);
	check(strlen(m.domain) <= ADDRESS_DOMAIN_MAX);
	if (address_is_null(&m)) {
		check(flags & ADDRESS_ALLOW_NULL);
		return 0;
	}
	if (m.domain[0] == '\0')
		check(!(flags & ADDRESS_NEED_DOMAIN) && address_is_postmaster(&m));
	else if (!address_is_literal(&m))
		check(address_domain_valid(m.domain, strlen(m.domain), flags & ADDRESS_UTF8));
	if (address_local_is_safe(m.local))
		check(strpbrk(m.local, "%!@/\"") == NULL && m.local[0] != '.');

	int n = address_format(&m, text, sizeof(text));
	check(n > 0 && (size_t)n == strlen(text));
	path[0] = '<';
	memcpy(path + 1, text, (size_t)n);
	path[n + 1] = '>';
	enum address_error err = address_parse_path(path, (size_t)n + 2, flags, &again, &end2);
	/* An IPv6 literal may grow a little in RFC 5952 form ("::ffff:0:0"). */
	if (err == ADDRESS_ERR_TOO_LONG && n + 2 > ADDRESS_PATH_MAX)
		return 0;
	check(err == ADDRESS_OK);
	check(end2 == (size_t)n + 2);
	check(strcmp(m.local, again.local) == 0 && strcmp(m.domain, again.domain) == 0);
	return 0;
}
