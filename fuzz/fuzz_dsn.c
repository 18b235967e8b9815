/*
 * fuzz_dsn.c — libFuzzer target for dsn.c (delivery status notifications).
 *
 * Input layout: byte [0] flags (bit 0 SMTPUTF8, bits 1-2 what to include,
 * bits 3-5 the number of recipients less one, bit 6 whether the original
 * ends in CRLF), bytes [1..8] the arrival time (raw, so any long long),
 * byte [9] the report's Date: (a choice of times), then per recipient 3
 * bytes (action, Last-Attempt-Date and Will-Retry-Until choices), then the
 * string fields cut at NUL bytes: reporting MTA, From, To, report ID,
 * original ID, ENVID, HELO, client address, then per recipient address,
 * ORCPT, status, remote MTA, diagnostic. A field missing from the input
 * is NULL where the contract allows it, else a plain default.
 * A report is built around a fixed original, as queue_report.c streams
 * one, and must hold whatever the fields were:
 *  - CRLF line ends only (no bare CR or LF), lines of at most 998 octets,
 *    no control character but TAB; 7-bit without SMTPUTF8, well-formed
 *    UTF-8 with it;
 *  - the boundary (from the header) only on lines of its own: 2 or 3
 *    delimiters, the closing one last;
 *  - the report's header and the delivery-status body made only of the
 *    fields dsn.h names (a value never adds one), continuation lines
 *    holding more than blanks; one status block per recipient, in order,
 *    with its Action and a valid Status;
 *  - dsn_include() as its contract says.
 *
 * Build: `make fuzz` (libFuzzer), or by hand: clang -g -D_GNU_SOURCE
 *   -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_dsn.c src/dsn.c src/lib/buf.c src/lib/xalloc.c
 * `make fuzz-replay` replays the corpus and fuzz/regress/dsn/ through fuzz/replay.c.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "lib/buf.h"
#include "smtp_proto.h"

#define FUZZ_INPUT_MAX (64u * 1024)
#define FUZZ_RCPTS_MAX 8
#define FUZZ_FIELDS (8 + 5 * FUZZ_RCPTS_MAX)
#define FUZZ_HEAD 10			/* flags, arrival, date choice */
#define RFC5322_LINE_MAX 998
#define RFC2046_BOUNDARY_MAX 70
#define ORIGINAL "Subject: original\r\nFrom: <a@example.test>\r\n\r\nbody"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fields a report's header and its delivery-status body may hold (dsn.h). */
static const char *const header_fields[] = { "Date", "From", "To", "Subject", "Message-ID",
					     "Auto-Submitted", "MIME-Version", "Content-Type", NULL };
static const char *const message_fields[] = { "Reporting-MTA", "Original-Envelope-Id",
					      "Received-From-MTA", "Arrival-Date", NULL };
static const char *const rcpt_fields[] = { "Original-Recipient", "Final-Recipient", "Action", "Status",
					   "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date",
					   "Will-Retry-Until", NULL };

/* A line of the report: text[0..len), its CRLF not counted. */
struct fuzz_line {
	const char *text;
	size_t len;
};

static void fuzz_fail(const char *why, const struct fuzz_line *l)
{
	fprintf(stderr, "fuzz_dsn: %s", why);
	if (l != NULL)
		fprintf(stderr, ": \"%.*s\"", (int)(l->len < 200 ? l->len : 200), l->text);
	fputc('\n', stderr);
	abort();
}

/* Times that gmtime and the folding find interesting; the byte's high bits move them a little. */
static long long fuzz_time(uint8_t pick)
{
	static const long long times[8] = { 0, 1, -1, 1764384350LL, 253402300799LL, LLONG_MAX, LLONG_MIN,
					    67768036191676799LL };
	long long t = times[pick & 7];
	long long d = pick >> 3;
	return t > LLONG_MAX - d ? t : t + d;
}

static bool line_is(const struct fuzz_line *l, const char *s)
{
	return l->len == strlen(s) && memcmp(l->text, s, l->len) == 0;
}

static bool line_starts(const struct fuzz_line *l, const char *s)
{
	size_t n = strlen(s);
	return l->len >= n && memcmp(l->text, s, n) == 0;
}

/* The field name opening l ("Name:"), or NULL for a continuation line; fails on anything else. */
static const char *field_name(const struct fuzz_line *l, const char *const *allowed)
{
	if (l->len > 0 && (l->text[0] == ' ' || l->text[0] == '\t')) {
		for (size_t i = 1; i < l->len; i++)
			if (l->text[i] != ' ' && l->text[i] != '\t')
				return NULL;
		fuzz_fail("a continuation line of blanks only", l);
	}
	for (const char *const *n = allowed; *n != NULL; n++) {
		size_t k = strlen(*n);
		if (l->len > k && memcmp(l->text, *n, k) == 0 && l->text[k] == ':')
			return *n;
	}
	fuzz_fail("a field the report should not have", l);
	return NULL;
}

static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
		 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	if (n == 0 || n > left)
		return 0;
	unsigned c = s[0] & (n == 2 ? 0x1fu : n == 3 ? 0x0fu : 0x07u);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3fu);
	}
	unsigned min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
	return c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ? 0 : n;
}

/* CRLF only, no NUL or control but TAB, 7-bit or UTF-8; cuts out into lines (caller frees). */
static struct fuzz_line *split_lines(const struct buf *out, bool utf8, size_t *nlines)
{
	const unsigned char *s = (const unsigned char *)out->data;
	size_t n = 0, cap = 64, start = 0;
	struct fuzz_line *lines = malloc(cap * sizeof(*lines));
	if (lines == NULL)
		abort();
	for (size_t i = 0; i < out->len;) {
		if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] != '\r' || i + 1 >= out->len || s[i + 1] != '\n')
				fuzz_fail("a bare CR or LF", NULL);
			if (n == cap && (lines = realloc(lines, (cap *= 2) * sizeof(*lines))) == NULL)
				abort();
			lines[n++] = (struct fuzz_line){ out->data + start, i - start };
			if (i - start > RFC5322_LINE_MAX)
				fuzz_fail("a line over 998 octets", &lines[n - 1]);
			start = i += 2;
			continue;
		}
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			fuzz_fail("a control character", NULL);
		size_t u = s[i] < 0x80 ? 1 : utf8 ? utf8_len(s + i, out->len - i) : 0;
		if (u == 0)
			fuzz_fail(utf8 ? "ill-formed UTF-8" : "8-bit in a report without SMTPUTF8", NULL);
		i += u;
	}
	if (start != out->len)
		fuzz_fail("the report does not end in CRLF", NULL);
	*nlines = n;
	return lines;
}

static bool status_valid(const char *s, size_t len)
{
	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	size_t i = 2;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, d++;
		if (d < 1 || d > 3 || (part == 0 && (i >= len || s[i++] != '.')))
			return false;
	}
	return i == len;
}

/* The delivery-status body lines[from..to): one block of message fields, then one per recipient. */
static void check_status(const struct fuzz_line *lines, size_t from, size_t to, const struct dsn_report *r)
{
	static const char *const actions[] = { "failed", "delayed", "delivered", "relayed" };
	if (to > from && lines[to - 1].len == 0)
		to--;	/* the CRLF before the delimiter belongs to it (RFC 2046 5.1.1) */
	size_t block = 0, finals = 0;
	for (size_t i = from; i < to; i++) {
		const struct fuzz_line *l = &lines[i];
		if (l->len == 0) {
			if (i == from || lines[i - 1].len == 0 || (block > 0 && finals != block))
				fuzz_fail("an empty status block, or one without Final-Recipient", l);
			block++;
			continue;
		}
		const char *name = field_name(l, block == 0 ? message_fields : rcpt_fields);
		if (name == NULL)
			continue;
		const struct dsn_rcpt *rc = block > 0 && block <= r->n ? &r->rcpts[block - 1] : NULL;
		if (rc == NULL && block > 0)
			fuzz_fail("more status blocks than recipients", l);
		if (strcmp(name, "Final-Recipient") == 0)
			finals++;
		char want[32];
		if (rc != NULL && strcmp(name, "Action") == 0) {
			snprintf(want, sizeof(want), "Action: %s", actions[rc->action]);
			if (!line_is(l, want))
				fuzz_fail("the wrong action", l);
		}
		if (strcmp(name, "Status") == 0 && (l->len < 8 || !status_valid(l->text + 8, l->len - 8)))
			fuzz_fail("an invalid status", l);
	}
	if (block != r->n || finals != r->n)
		fuzz_fail("not one status block per recipient", NULL);
}

/* Walks the report: header, boundary, parts. */
static void check_report(const struct buf *out, const struct dsn_report *r)
{
	size_t n, i = 0;
	struct fuzz_line *lines = split_lines(out, r->smtputf8, &n);
	for (; i < n && lines[i].len > 0; i++)
		field_name(&lines[i], header_fields);
	/* Content-Type's continuation line: a value cannot start a line with a TAB. */
	const char *b = strstr(out->data, "\r\n\tboundary=\"");
	const char *bend = b != NULL ? strchr(b + 13, '"') : NULL;
	if (i == n || b == NULL || bend == NULL || b > lines[i].text)
		fuzz_fail("no boundary in the header", NULL);
	b += 13;
	size_t blen = (size_t)(bend - b);
	if (blen == 0 || blen > RFC2046_BOUNDARY_MAX)
		fuzz_fail("boundary length", NULL);
	char delim[RFC2046_BOUNDARY_MAX + 3], close[RFC2046_BOUNDARY_MAX + 5];
	snprintf(delim, sizeof(delim), "--%.*s", (int)blen, b);
	snprintf(close, sizeof(close), "--%.*s--", (int)blen, b);

	size_t parts = 0, closes = 0, status_from = 0;
	for (i++; i < n; i++) {
		if (!line_starts(&lines[i], delim))
			continue;
		if (line_is(&lines[i], close)) {
			if (i != n - 1)
				fuzz_fail("text after the closing delimiter", NULL);
			closes++;
		} else if (!line_is(&lines[i], delim)) {
			fuzz_fail("the boundary on a line that is not a delimiter", &lines[i]);
		}
		if (parts == 2)
			check_status(lines, status_from, i, r);
		if (closes > 0)
			break;
		parts++;
		while (++i < n && lines[i].len > 0)
			;	/* the part's own header */
		status_from = i + 1;
	}
	if (closes != 1 || parts != (r->include == DSN_INCLUDE_NONE ? 2u : 3u))
		fuzz_fail("wrong number of parts", NULL);
	free(lines);
}

static void check_include(const uint8_t *data, size_t size)
{
	if (size < FUZZ_HEAD)
		return;
	int ret = data[1] % 4;
	unsigned long long clen = (unsigned long long)data[2] << (data[3] % 48);
	bool failed = data[4] & 1;
	enum dsn_include got = dsn_include(ret, clen, failed);
	enum dsn_include want = !failed			? DSN_INCLUDE_HEADERS
				: ret == SMTP_RET_FULL	? DSN_INCLUDE_FULL
				: ret == SMTP_RET_HDRS	? DSN_INCLUDE_HEADERS
				: clen <= DSN_FULL_DEFAULT_MAX ? DSN_INCLUDE_FULL
							      : DSN_INCLUDE_HEADERS;
	if (got != want)
		fuzz_fail("dsn_include() breaks its contract", NULL);
}

/* Cuts the strings out of in[0..len) at NULs (copied: the last one needs its NUL). */
static size_t fuzz_strings(const char *in, size_t len, char *copy, const char *f[FUZZ_FIELDS])
{
	size_t nf = 0;
	memcpy(copy, in, len);
	copy[len] = '\0';
	for (size_t at = 0; at <= len && nf < FUZZ_FIELDS && len > 0;) {
		f[nf++] = copy + at;
		at += strlen(copy + at) + 1;
	}
	for (size_t k = nf; k < FUZZ_FIELDS; k++)
		f[k] = NULL;
	return nf;
}

static const char *or_default(const char *s, const char *dflt)
{
	return s != NULL ? s : dflt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_include(data, size);
	size_t nr = ((size > 0 ? data[0] : 0) >> 3 & 7) + 1;
	if (size < FUZZ_HEAD + 3 * nr || size > FUZZ_INPUT_MAX)
		return 0;
	struct dsn_rcpt rc[FUZZ_RCPTS_MAX];
	const char *f[FUZZ_FIELDS];
	char *copy = malloc(size + 1);
	if (copy == NULL)
		abort();
	size_t at = FUZZ_HEAD + 3 * nr;
	fuzz_strings((const char *)data + at, size - at, copy, f);

	long long arrival;
	memcpy(&arrival, data + 1, sizeof(arrival));
	for (size_t k = 0; k < nr; k++) {
		const uint8_t *p = data + FUZZ_HEAD + 3 * k;
		const char *const *s = f + 8 + 5 * k;
		rc[k] = (struct dsn_rcpt){
			.addr = or_default(s[0], "rcpt@example.test"), .orcpt = s[1], .action = p[0] % 4,
			.status = s[2], .remote_mta = s[3], .diagnostic = s[4],
			.last_attempt = fuzz_time(p[1]), .retry_until = fuzz_time(p[2]),
		};
	}
	struct dsn_report r = {
		.reporting_mta = or_default(f[0], "mx.example.test"),
		.from = or_default(f[1], "postmaster@mx.example.test"),
		.to = f[2] != NULL && f[2][0] != '\0' ? f[2] : "sender@example.test",
		.report_id = or_default(f[3], "REPORT1"), .orig_id = or_default(f[4], "ORIG1"),
		.envid = f[5], .client_helo = f[6], .client_addr = f[7],
		.arrival = arrival, .now = fuzz_time(data[9]),
		.smtputf8 = data[0] & 1, .include = (data[0] >> 1 & 3) % 3, .rcpts = rc, .n = nr,
	};
	bool ended_crlf = data[0] & 0x40;
	struct buf out = BUF_INIT;
	dsn_report_begin(&r, &out);
	if (r.include != DSN_INCLUDE_NONE)
		buf_append_str(&out, ended_crlf ? ORIGINAL "\r\n" : ORIGINAL);
	dsn_report_end(&r, ended_crlf || r.include == DSN_INCLUDE_NONE, &out);
	check_report(&out, &r);
	buf_free(&out);
	free(copy);
	return 0;
}
