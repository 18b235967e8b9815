/*
 * fuzz_message.c — libFuzzer target for message.c (header-section questions on stored content).
 *
 * Input layout: byte [0] picks the field name (one of a few, or up to 32
 * ftext octets from the input up to the first ':' when its top bit is set),
 * byte [1] picks a cut point, the rest is the content prefix, handed over
 * without a NUL so that any read past its end is caught.
 * Checks, beyond "no crash":
 *  - both functions agree with simple oracles written here another way
 *    (the header length as the first of "\n\n", "\n\r\n" or a leading
 *    empty line; the count by comparing each line's start with the name);
 *  - a prefix of the content never counts more fields, and its header
 *    length is 0 or the full content's (the daemon reads a prefix);
 *  - what follows the header section does not change the count.
 *
 * Build: `make fuzz` (libFuzzer), or by hand: clang -g -D_GNU_SOURCE
 *   -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_message.c src/message.c
 * `make fuzz-replay` replays the corpus and fuzz/regress/message/ through fuzz/replay.c.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

#define FUZZ_INPUT_MAX (256u * 1024)
#define FUZZ_NAME_MAX 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_message: %s\n", why);
	abort();
}

/* The earliest end of an empty line, or 0: found by looking for its shapes, not by walking lines. */
static size_t oracle_header_len(const char *s, size_t len)
{
	size_t best = 0;
	if (len >= 1 && s[0] == '\n')
		return 1;
	if (len >= 2 && s[0] == '\r' && s[1] == '\n')
		return 2;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '\n')
			continue;
		if (s[i + 1] == '\n')
			best = i + 2;
		else if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n')
			best = i + 3;
		if (best != 0)
			return best;
	}
	return 0;
}

/* Does the line at s[0..end) open with name, blanks, then a colon (before any CR)? */
static int oracle_is_field(const char *s, size_t end, const char *name, size_t nlen)
{
	if (end < nlen)
		return 0;
	for (size_t k = 0; k < nlen; k++)
		if (tolower((unsigned char)s[k]) != tolower((unsigned char)name[k]))
			return 0;
	size_t j = nlen;
	while (j < end && (s[j] == ' ' || s[j] == '\t'))
		j++;
	return j < end && s[j] == ':';
}

static unsigned oracle_count(const char *s, size_t len, const char *name)
{
	size_t h = oracle_header_len(s, len);
	size_t limit = h != 0 ? h : len;
	size_t nlen = strlen(name);
	unsigned count = 0;
	for (size_t start = 0; start < limit;) {
		const char *lf = memchr(s + start, '\n', limit - start);
		size_t end = lf != NULL ? (size_t)(lf - s) : limit;
		count += (unsigned)oracle_is_field(s + start, end - start, name, nlen);
		start = end + 1;
	}
	return count;
}

/* Fills name from the first byte's choice; returns how many input bytes it took. */
static size_t fuzz_name(uint8_t pick, const char *in, size_t len, char name[FUZZ_NAME_MAX + 1])
{
	static const char *const names[] = { "Received", "received", "Subject", "X", "Received-SPF",
					     "DKIM-Signature", "A-B", "Delivered-To" };
	if (!(pick & 0x80)) {
		snprintf(name, FUZZ_NAME_MAX + 1, "%s", names[pick % (sizeof(names) / sizeof(names[0]))]);
		return 0;
	}
	size_t n = 0, used = 0;
	/* RFC 5322 3.6.8 ftext: printable ASCII but ':'; the input's name ends at the first ':'. */
	while (used < len && n < FUZZ_NAME_MAX && in[used] != ':') {
		unsigned char c = (unsigned char)in[used++];
		if (c > 0x20 && c < 0x7f)
			name[n++] = (char)c;
	}
	if (n == 0)
		name[n++] = 'X';
	name[n] = '\0';
	return used < len ? used + 1 : used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > FUZZ_INPUT_MAX)
		return 0;
	char name[FUZZ_NAME_MAX + 1];
	size_t skip = fuzz_name(data[0], (const char *)data + 2, size - 2, name);
	const char *s = (const char *)data + 2 + skip;
	size_t len = size - 2 - skip;

	size_t h = message_header_len(s, len);
	unsigned n = message_count_field(s, len, name);
	if (h != oracle_header_len(s, len))
		fuzz_fail("header length differs from the oracle");
	if (h > len || (h > 0 && s[h - 1] != '\n'))
		fuzz_fail("header length not at the end of a line");
	if (n != oracle_count(s, len, name))
		fuzz_fail("field count differs from the oracle");
	if (h > 0 && message_count_field(s, h, name) != n)
		fuzz_fail("the body changed the count");

	size_t cut = len == 0 ? 0 : (size_t)data[1] * 257 % (len + 1);
	size_t hp = message_header_len(s, cut);
	if (message_count_field(s, cut, name) > n)
		fuzz_fail("a prefix counts more fields");
	if (hp != 0 && hp != h)
		fuzz_fail("a prefix ends its header elsewhere");
	return 0;
}
