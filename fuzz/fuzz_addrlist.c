/*
 * fuzz_addrlist.c — libFuzzer target for addrlist.c (RFC 5322 address lists, `sendmail -t`).
 *
 * The whole input is a header field value, handed over without a NUL so
 * that any read past its end is caught. Beyond "no crash" it checks the
 * contract: counting only (fn NULL) and handing out give the same result;
 * fn is called exactly that many times, never on error (all or nothing);
 * each address is non-empty, at most ADDRLIST_ADDR_MAX octets, and holds no
 * CR or LF (folds are removed); and an address handed out
 * is a fixed point: parsed again as a list it gives itself, once. Time must
 * stay linear: libFuzzer's -timeout catches a quadratic path.
 *
 * Seeds in fuzz/corpus/addrlist/ are To:/Cc: values: display names, quoted
 * strings, comments, groups, folds, routes, domain literals, UTF-8.
 *
 * Build: `make fuzz` (libFuzzer), or by hand: clang -g -D_GNU_SOURCE
 *   -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_addrlist.c src/addrlist.c
 * `make fuzz-replay` replays the corpus and fuzz/regress/addrlist/ through fuzz/replay.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrlist.h"

#define FUZZ_INPUT_MAX (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_seen {
	int calls;
	const char *want;	/* the re-parse: the one address expected, or NULL */
	int mismatches;
};

static void fuzz_fail(const char *why, const char *addr)
{
	fprintf(stderr, "fuzz_addrlist: %s: \"%s\"\n", why, addr != NULL ? addr : "");
	abort();
}

static void fuzz_reparsed(void *arg, const char *addr)
{
	struct fuzz_seen *s = arg;
	s->calls++;
	if (strcmp(addr, s->want) != 0)
		s->mismatches++;
}

/* Checks one address handed out, and that it parses back to itself. */
static void fuzz_address(void *arg, const char *addr)
{
	struct fuzz_seen *s = arg;
	size_t len = strlen(addr);
	s->calls++;
	if (len == 0 || len > ADDRLIST_ADDR_MAX)
		fuzz_fail("address length out of range", addr);
	/* Other controls may stand in quoted strings and domain literals (RFC 5322 4.1 obs-qtext,
	 * obs-dtext): address_parse_path() refuses them, not this module. */
	if (strpbrk(addr, "\r\n") != NULL)
		fuzz_fail("a fold left in an address", addr);

	/* A copy of exactly its length, so the re-parse cannot lean on the NUL either. */
	char *copy = malloc(len);
	if (copy == NULL)
		abort();
	memcpy(copy, addr, len);
	struct fuzz_seen again = { .want = addr };
	int n = addrlist_parse(copy, len, fuzz_reparsed, &again);
	free(copy);
	if (n != 1 || again.calls != 1 || again.mismatches != 0)
		fuzz_fail("an address handed out does not parse back to itself", addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_INPUT_MAX)
		return 0;
	const char *value = (const char *)data;
	struct fuzz_seen seen = { 0 };
	int counted = addrlist_parse(value, size, NULL, NULL);
	int n = addrlist_parse(value, size, fuzz_address, &seen);
	if (n != counted)
		fuzz_fail("counting and handing out disagree", NULL);
	if (n < -1 || seen.calls != (n > 0 ? n : 0))
		fuzz_fail("fn not called once per address (or called on error)", NULL);
	return 0;
}
