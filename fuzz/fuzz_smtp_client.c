/*
 * fuzz_smtp_client.c — libFuzzer target for the pure SMTP client helpers.
 *
 * Input layout: byte [0] seeds the cuts, the rest is what a server sends.
 * The bytes go through smtp_reply_parse() twice, in one piece and in cuts
 * of 1, 1-8 or 1-512 octets drawn from the seed; smtp_client_parse_ehlo()
 * reads every complete reply. Both runs must yield the same replies and
 * end the same way (error or not), and every reply must hold the parser's
 * invariants: code 200..599 and the same digits opening text, text, lines
 * and enh NUL-terminated in their arrays, no control character in text,
 * enh empty or "class.subject.detail" of the reply's class, used <= len.
 * The same bytes are then dot-stuffed whole and cut: the outputs must be
 * equal and un-stuff back to the input, with no lone "." line before the end.
 *
 * Seeds in fuzz/corpus/smtp_client/ are server sides of SMTP and LMTP
 * sessions (greetings, EHLO/LHLO replies, enhanced codes, bare LF, NUL,
 * overlong lines) behind one seed byte.
 *
 * Build: `make fuzz` (libFuzzer), or by hand: clang -g -D_GNU_SOURCE
 *   -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_smtp_client.c
 *   src/smtp_client.c src/lib/buf.c src/lib/xalloc.c
 * `make test` replays the corpus and fuzz/regress/smtp_client/ through
 * fuzz/replay.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp_client.h"

#define FUZZ_INPUT_MAX (256u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next cut length: a linear congruential step keeps the cuts
 * deterministic for one seed byte. */
static size_t fuzz_cut(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	uint32_t x = *s >> 8;
	switch (x & 3) {
	case 0:
		return 1;
	case 1:
		return (x >> 2) % 8 + 1;
	default:
		return (x >> 2) % 512 + 1;
	}
}

static void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_smtp_client: %s\n", why);
	abort();
}

static bool fuzz_nul_within(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void fuzz_check_enh(const struct smtp_reply *r)
{
	const char *e = r->enh;
	if (e[0] == '\0')
		return;
	if (e[0] != (char)('0' + r->code / 100) || (e[0] != '2' && e[0] != '4' && e[0] != '5') || e[1] != '.')
		fuzz_fail("enhanced code of another class");
	size_t dots = 0, digits = 0;
	for (const char *p = e + 2; *p != '\0'; p++) {
		if (*p == '.') {
			if (digits == 0)
				fuzz_fail("empty enhanced code field");
			dots++;
			digits = 0;
		} else if (*p >= '0' && *p <= '9') {
			if (++digits > 3)
				fuzz_fail("enhanced code field over 3 digits");
		} else {
			fuzz_fail("enhanced code with a stray byte");
		}
	}
	if (dots != 1 || digits == 0)
		fuzz_fail("enhanced code is not class.subject.detail");
}

static void fuzz_check_reply(const struct smtp_reply *r, struct buf *log)
{
	if (r->code < 200 || r->code > 599)
		fuzz_fail("code out of range");
	if (!fuzz_nul_within(r->text, sizeof(r->text)) || !fuzz_nul_within(r->lines, sizeof(r->lines)) ||
	    !fuzz_nul_within(r->enh, sizeof(r->enh)))
		fuzz_fail("a reply field without its NUL");
	char code[4];
	snprintf(code, sizeof(code), "%03d", r->code);
	if (strncmp(r->text, code, 3) != 0)
		fuzz_fail("text does not open with the code");
	for (const char *p = r->text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			fuzz_fail("control character in text");
	}
	fuzz_check_enh(r);

	struct smtp_caps caps;
	smtp_client_parse_ehlo(r, &caps);
	if ((!caps.size && caps.size_max != 0) ||
	    (caps.auth & ~(unsigned)(SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN)) != 0)
		fuzz_fail("impossible caps");
	buf_printf(log, "R%d|%s|%s|%s|%d%d%d%d%d%d%d%d|%llu|%u\n", r->code, r->enh, r->text, r->lines,
		   caps.pipelining, caps.starttls, caps.eightbitmime, caps.smtputf8, caps.dsn, caps.chunking,
		   caps.enhancedstatuscodes, caps.size, caps.size_max, caps.auth);
}

/* Parses in[0..len) fed in cuts (seed == NULL: whole); logs every reply. */
static void fuzz_replies(const char *in, size_t len, uint32_t *seed, struct buf *log)
{
	struct smtp_reply_parser *p = malloc(sizeof(*p));
	struct smtp_reply *r = malloc(sizeof(*r));
	size_t off = 0, end = 0;
	if (p == NULL || r == NULL)
		abort();
	smtp_reply_parser_init(p);
	while (off < len) {
		if (end <= off) {
			size_t n = seed != NULL ? fuzz_cut(seed) : len;
			end = off + (n < len - off ? n : len - off);
		}
		size_t used = 0;
		int rc = smtp_reply_parse(p, in + off, end - off, &used, r);
		if (used > end - off || (rc == 0 && used != end - off))
			fuzz_fail("bad used count");
		off += used;
		if (rc < 0) {
			buf_append_str(log, "E\n");
			break;
		}
		if (rc == 1)
			fuzz_check_reply(r, log);
	}
	free(p);
	free(r);
}

/* Dot-stuffs in whole and in cuts; checks equality and the round trip. */
static void fuzz_dot(const char *in, size_t len, uint32_t seed)
{
	struct buf whole = BUF_INIT, cut = BUF_INIT;
	struct smtp_dot d;
	smtp_dot_init(&d);
	smtp_dot_encode(&d, in, len, &whole);
	smtp_dot_finish(&d, &whole);
	for (size_t off = 0; off < len;) {
		size_t n = fuzz_cut(&seed);
		n = n < len - off ? n : len - off;
		smtp_dot_encode(&d, in + off, n, &cut);
		off += n;
	}
	smtp_dot_finish(&d, &cut);
	if (whole.len != cut.len || memcmp(whole.data, cut.data, whole.len) != 0)
		fuzz_fail("dot-stuffing changed with the cuts");
	if (whole.len < 3 || memcmp(whole.data + whole.len - 3, ".\r\n", 3) != 0)
		fuzz_fail("no final dot");
	size_t j = 0;
	bool line_start = true;
	for (size_t i = 0; i + 3 < whole.len && j < len; i++, j++) {
		if (line_start && whole.data[i] == '.') {
			if (whole.data[i + 1] != '.')
				fuzz_fail("a line-start dot not doubled");
			i++;
		}
		if (whole.data[i] != in[j])
			fuzz_fail("un-stuffing does not give the input back");
		line_start = whole.data[i] == '\n';
	}
	if (j != len)
		fuzz_fail("output shorter than the input");
	buf_free(&whole);
	buf_free(&cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > FUZZ_INPUT_MAX)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	uint32_t seed = data[0];
	struct buf whole = BUF_INIT, cut = BUF_INIT;

	fuzz_replies(in, len, NULL, &whole);
	fuzz_replies(in, len, &seed, &cut);
	if (whole.len != cut.len || (whole.len > 0 && memcmp(whole.data, cut.data, whole.len) != 0))
		fuzz_fail("split changed the replies");
	buf_free(&whole);
	buf_free(&cut);
	fuzz_dot(in, len, data[0]);
	return 0;
}
