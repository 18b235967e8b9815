/*
 * test_smtp_client.c — the pure SMTP/LMTP client helpers: reply parsing
 * (multiline, enhanced codes, bare LF, NUL, long lines, too many lines,
 * mixed codes, every split of the input), EHLO keywords (SIZE, the two AUTH
 * forms), MAIL/RCPT builders with and without the peer's extensions,
 * refusals, and the dot-stuffer cut at every point against one-shot output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp_client.h"
#include "smtp_proto.h"

/* ---- helpers ------------------------------------------------------------- */

/* Feeds in[0..len) in one piece; on 1, checks that all of it was used. */
static int parse_mem(const char *in, size_t len, struct smtp_reply *r)
{
	struct smtp_reply_parser p;
	size_t used = 0;
	smtp_reply_parser_init(&p);
	int rc = smtp_reply_parse(&p, in, len, &used, r);
	if (rc == 1)
		assert_int_equal(used, len);
	return rc;
}

static int parse(const char *in, struct smtp_reply *r)
{
	return parse_mem(in, strlen(in), r);
}

/* Feeds in one byte at a time; returns what the last call returned. */
static int parse_bytewise(const char *in, size_t len, struct smtp_reply *r)
{
	struct smtp_reply_parser p;
	int rc = 0;
	smtp_reply_parser_init(&p);
	for (size_t i = 0; i < len && rc == 0; i++) {
		size_t used = 0;
		rc = smtp_reply_parse(&p, in + i, 1, &used, r);
		assert_int_equal(used, 1);
	}
	return rc;
}

static void assert_reply(const char *in, int code, const char *enh, const char *text, const char *lines)
{
	struct smtp_reply r;
	assert_int_equal(parse(in, &r), 1);
	assert_int_equal(r.code, code);
	assert_string_equal(r.enh, enh);
	assert_string_equal(r.text, text);
	if (lines != NULL)
		assert_string_equal(r.lines, lines);
}

static void assert_enh(const char *in, const char *enh)
{
	struct smtp_reply r;
	assert_int_equal(parse(in, &r), 1);
	assert_string_equal(r.enh, enh);
}

static void assert_refused(const char *in)
{
	struct smtp_reply r;
	assert_int_equal(parse_mem(in, strlen(in), &r), -1);
}

/* An n-octet line "250-xxx..." (or "250 " when last), without its end. */
static void make_line(struct buf *b, size_t n, bool last)
{
	buf_append_str(b, last ? "250 " : "250-");
	for (size_t i = 4; i < n; i++)
		buf_append_char(b, (char)('a' + i % 26));
}

static struct smtp_caps ehlo(const char *reply)
{
	struct smtp_reply r;
	struct smtp_caps caps;
	assert_int_equal(parse(reply, &r), 1);
	memset(&caps, 0xa5, sizeof(caps));	/* parse_ehlo must clear it */
	smtp_client_parse_ehlo(&r, &caps);
	return caps;
}

static const struct smtp_caps caps_all = {
	.pipelining = true, .starttls = true, .eightbitmime = true, .smtputf8 = true, .dsn = true,
	.chunking = true, .enhancedstatuscodes = true, .size = true, .size_max = 1000,
	.auth = SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN,
};
static const struct smtp_caps caps_none;

static void assert_mail(const struct smtp_client_mail *m, const struct smtp_caps *caps, const char *want)
{
	struct buf b = BUF_INIT;
	smtp_client_mail_cmd(&b, m, caps);
	assert_string_equal(buf_str(&b), want);
	buf_free(&b);
}

static void assert_rcpt(const char *addr, unsigned notify, const char *orcpt, const struct smtp_caps *caps,
			const char *want)
{
	struct buf b = BUF_INIT;
	smtp_client_rcpt_cmd(&b, addr, notify, orcpt, caps);
	assert_string_equal(buf_str(&b), want);
	buf_free(&b);
}

/* Dot-stuffs content in one call, then finishes. */
static void dot_whole(const char *in, size_t len, struct buf *out)
{
	struct smtp_dot d;
	smtp_dot_init(&d);
	smtp_dot_encode(&d, in, len, out);
	smtp_dot_finish(&d, out);
}

static void assert_dot(const char *in, const char *want)
{
	struct buf b = BUF_INIT;
	dot_whole(in, strlen(in), &b);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	buf_free(&b);
}

/* ---- reply parser: well-formed replies ------------------------------------ */

static void test_smtp_client_reply_single_line(void **unused_state)
{
	assert_reply("250 ok\r\n", 250, "", "250 ok", "ok");
}

static void test_smtp_client_reply_multiline_joined(void **unused_state)
{
	assert_reply("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n", 250, "",
		     "250 mx.example PIPELINING SIZE 100", "mx.example\nPIPELINING\nSIZE 100");
}

static void test_smtp_client_reply_4xx_and_5xx(void **unused_state)
{
	assert_reply("421 4.3.2 shutting down\r\n", 421, "4.3.2", "421 4.3.2 shutting down", NULL);
	assert_reply("554 no\r\n", 554, "", "554 no", NULL);
	assert_reply("599 x\r\n", 599, "", "599 x", NULL);
	assert_reply("200 x\r\n", 200, "", "200 x", NULL);
}

static void test_smtp_client_reply_intermediate_codes(void **unused_state)
{
	assert_reply("354 End data with <CR><LF>.<CR><LF>\r\n", 354, "",
		     "354 End data with <CR><LF>.<CR><LF>", NULL);
	assert_reply("334 VXNlcm5hbWU6\r\n", 334, "", "334 VXNlcm5hbWU6", "VXNlcm5hbWU6");
}

static void test_smtp_client_reply_bare_lf_tolerated(void **unused_state)
{
	assert_reply("250-a\n250-b\r\n250 c\n", 250, "", "250 a b c", "a\nb\nc");
}

static void test_smtp_client_reply_bare_code_last_line(void **unused_state)
{
	assert_reply("250\r\n", 250, "", "250", "");
	assert_reply("250-first\r\n250\r\n", 250, "", "250 first", "first\n");
}

static void test_smtp_client_reply_empty_continuation_text(void **unused_state)
{
	assert_reply("250-\r\n250 ok\r\n", 250, "", "250 ok", "\nok");
	assert_reply("250 \r\n", 250, "", "250", "");
}

static void test_smtp_client_reply_control_chars_in_text(void **unused_state)
{
	assert_reply("250 a\tb\x01" "c\x7f" "d\r\n", 250, "", "250 a b c d", "a\tb\x01" "c\x7f" "d");
	assert_reply("250 a\rb\r\n", 250, "", "250 a b", "a\rb");
	/* Only the CR just before LF ends the line. */
	assert_reply("250 ok\r\r\n", 250, "", "250 ok ", "ok\r");
}

static void test_smtp_client_reply_utf8_text_kept(void **unused_state)
{
	assert_reply("550 5.1.1 \xc3\xa9t\xc3\xa9\r\n", 550, "5.1.1", "550 5.1.1 \xc3\xa9t\xc3\xa9", NULL);
}

static void test_smtp_client_reply_spaces_kept_verbatim(void **unused_state)
{
	assert_reply("250  two  spaces \r\n", 250, "", "250  two  spaces ", " two  spaces ");
}

/* ---- reply parser: enhanced codes (RFC 2034) ------------------------------ */

static void test_smtp_client_enh_on_first_line(void **unused_state)
{
	assert_reply("550 5.1.1 <a@b> unknown\r\n", 550, "5.1.1", "550 5.1.1 <a@b> unknown", NULL);
}

static void test_smtp_client_enh_after_dash(void **unused_state)
{
	assert_reply("550-5.1.1 no such user\r\n550 5.1.1 see the docs\r\n", 550, "5.1.1",
		     "550 5.1.1 no such user 5.1.1 see the docs", NULL);
}

static void test_smtp_client_enh_alone_on_line(void **unused_state)
{
	assert_enh("250 2.0.0\r\n", "2.0.0");
}

static void test_smtp_client_enh_largest_numbers(void **unused_state)
{
	assert_enh("451 4.999.999 x\r\n", "4.999.999");
	assert_enh("250 2.010.007 x\r\n", "2.010.007");
}

static void test_smtp_client_enh_class_must_match_code(void **unused_state)
{
	assert_enh("550 2.0.0 odd\r\n", "");
	assert_enh("250 5.0.0 odd\r\n", "");
	assert_enh("354 3.0.0 go\r\n", "");	/* class 3 does not exist */
}

static void test_smtp_client_enh_malformed_ignored(void **unused_state)
{
	static const char *const bad[] = {
		"550 5.1 x\r\n",	"550 5..1 x\r\n",	  "550 .1.1 x\r\n",	"550 5.1.\r\n",
		"550 5.1000.1 x\r\n",	"550 5.1.1000 x\r\n", "550 5.1.1x\r\n",	"550 5.1.1-x\r\n",
		"550 5-1-1 x\r\n",	"550  5.1.1 x\r\n",	  "550 55.1.1 x\r\n",	"550 5.a.1 x\r\n",
		"550 5.1.1\tx\r\n",	"550 x 5.1.1\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_enh(bad[i], "");
}

static void test_smtp_client_enh_only_from_first_line(void **unused_state)
{
	assert_enh("550-no code here\r\n550 5.1.1 late\r\n", "");
}

/* ---- reply parser: protocol errors ---------------------------------------- */

static void test_smtp_client_reply_mixed_codes_refused(void **unused_state)
{
	assert_refused("250-a\r\n251 b\r\n");
	assert_refused("250-a\r\n550 b\r\n");
	assert_refused("450-a\r\n550 b\r\n");
}

static void test_smtp_client_reply_code_out_of_range(void **unused_state)
{
	assert_refused("199 x\r\n");
	assert_refused("100 x\r\n");
	assert_refused("000 x\r\n");
	assert_refused("600 x\r\n");
	assert_refused("999 x\r\n");
}

static void test_smtp_client_reply_malformed_lines(void **unused_state)
{
	static const char *const bad[] = {
		"\r\n",	       "\n",	       "25\r\n",      "2x0 ok\r\n",   "25 ok\r\n",
		"250x\r\n",    "250_ok\r\n",   " 250 ok\r\n", "abc ok\r\n",   "250\tok\r\n",
		"-250 ok\r\n", "+OK ready\r\n", "250-a\r\nxyz\r\n", "250-a\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(bad[i]);
}

static void test_smtp_client_reply_nul_refused_anywhere(void **unused_state)
{
	static const char in[] = "250-first\r\n250 second\r\n";
	for (size_t i = 0; i + 1 < sizeof(in); i++) {
		char copy[sizeof(in)];
		struct smtp_reply r;
		memcpy(copy, in, sizeof(in));
		copy[i] = '\0';
		assert_int_equal(parse_mem(copy, sizeof(in) - 1, &r), -1);
		assert_int_equal(parse_bytewise(copy, sizeof(in) - 1, &r), -1);
	}
}

static void test_smtp_client_reply_longest_line_accepted(void **unused_state)
{
	struct buf b = BUF_INIT;
	struct smtp_reply r;
	make_line(&b, SMTP_REPLY_LINE_MAX, true);
	buf_append_str(&b, "\r\n");
	assert_int_equal(parse_mem(b.data, b.len, &r), 1);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	assert_int_equal(strlen(r.lines), SMTP_REPLY_LINE_MAX - 4);
	/* With a bare LF too. */
	b.len -= 2;
	buf_append_str(&b, "\n");
	assert_int_equal(parse_mem(b.data, b.len, &r), 1);
	buf_free(&b);
}

static void test_smtp_client_reply_overlong_line_refused(void **unused_state)
{
	struct buf b = BUF_INIT;
	struct smtp_reply r;
	make_line(&b, SMTP_REPLY_LINE_MAX + 1, true);
	buf_append_str(&b, "\r\n");
	assert_int_equal(parse_mem(b.data, b.len, &r), -1);
	assert_int_equal(parse_bytewise(b.data, b.len, &r), -1);
	b.len -= 2;
	buf_append_str(&b, "\n");
	assert_int_equal(parse_mem(b.data, b.len, &r), -1);
	buf_free(&b);
}

static void test_smtp_client_reply_endless_line_refused_early(void **unused_state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	char chunk[512];
	size_t used = 0, fed = 0;
	int rc = 0;
	memset(chunk, 'x', sizeof(chunk));
	memcpy(chunk, "250 ", 4);
	smtp_reply_parser_init(&p);
	while (rc == 0 && fed < 64 * 1024) {
		rc = smtp_reply_parse(&p, chunk, sizeof(chunk), &used, &r);
		fed += sizeof(chunk);
	}
	assert_int_equal(rc, -1);
	assert_true(fed <= SMTP_REPLY_LINE_MAX + 2 + sizeof(chunk));
}

static void test_smtp_client_reply_hundred_lines_accepted(void **unused_state)
{
	struct buf b = BUF_INIT;
	struct smtp_reply r;
	for (int i = 1; i < SMTP_REPLY_LINES_MAX; i++)
		buf_printf(&b, "250-line%d\r\n", i);
	buf_append_str(&b, "250 last\r\n");
	assert_int_equal(parse_mem(b.data, b.len, &r), 1);
	assert_non_null(strstr(r.lines, "line99\nlast"));
	assert_int_equal(parse_bytewise(b.data, b.len, &r), 1);
	buf_free(&b);
}

static void test_smtp_client_reply_too_many_lines_refused(void **unused_state)
{
	struct buf b = BUF_INIT;
	struct smtp_reply r;
	for (int i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		buf_printf(&b, "250-line%d\r\n", i);
	buf_append_str(&b, "250 last\r\n");
	assert_int_equal(parse_mem(b.data, b.len, &r), -1);
	buf_free(&b);
}

static void test_smtp_client_reply_text_truncated(void **unused_state)
{
	struct buf b = BUF_INIT;
	struct smtp_reply r;
	for (int i = 0; i < 10; i++) {
		make_line(&b, 500, i == 9);
		buf_append_str(&b, "\r\n");
	}
	assert_int_equal(parse_mem(b.data, b.len, &r), 1);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	assert_memory_equal(r.text, "250 ", 4);
	/* lines keeps the whole lines that fit: 8 of 496 octets, 7 separators. */
	assert_int_equal(strlen(r.lines), 8 * 496 + 7);
	buf_free(&b);
}

static void test_smtp_client_reply_lines_skip_what_does_not_fit(void **unused_state)
{
	struct buf b = BUF_INIT;
	struct smtp_reply r;
	struct smtp_caps caps;
	buf_append_str(&b, "250-mx.example\r\n");
	for (int i = 0; i < 3; i++) {
		make_line(&b, 2000, false);
		buf_append_str(&b, "\r\n");
	}
	buf_append_str(&b, "250 AUTH PLAIN\r\n");
	assert_int_equal(parse_mem(b.data, b.len, &r), 1);
	assert_non_null(strstr(r.lines, "\nAUTH PLAIN"));
	smtp_client_parse_ehlo(&r, &caps);
	assert_int_equal(caps.auth, SMTP_AUTH_MECH_PLAIN);
	buf_free(&b);
}

static void test_smtp_client_reply_error_reports_used(void **unused_state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used = 99;
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_parse(&p, "xyz\r\n250 ok\r\n", 13, &used, &r), -1);
	assert_true(used <= 13);
}

/* ---- reply parser: incremental feeding ------------------------------------ */

static void test_smtp_client_reply_empty_feed(void **unused_state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used = 99;
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_parse(&p, "", 0, &used, &r), 0);
	assert_int_equal(used, 0);
}

static void test_smtp_client_reply_incomplete_needs_more(void **unused_state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used = 0;
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_parse(&p, "250-a\r\n250-b\r\n25", 16, &used, &r), 0);
	assert_int_equal(used, 16);
	assert_int_equal(smtp_reply_parse(&p, "0 c\r", 4, &used, &r), 0);
	assert_int_equal(smtp_reply_parse(&p, "\n", 1, &used, &r), 1);
	assert_int_equal(used, 1);
	assert_string_equal(r.text, "250 a b c");
}

static void test_smtp_client_reply_stops_after_one_reply(void **unused_state)
{
	static const char in[] = "250 first\r\n354 go ahead\r\n221 2.0.0 bye\r\n";
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used = 0, off = 0;
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_parse(&p, in, sizeof(in) - 1, &used, &r), 1);
	assert_int_equal(used, 11);
	assert_string_equal(r.text, "250 first");
	off += used;
	assert_int_equal(smtp_reply_parse(&p, in + off, sizeof(in) - 1 - off, &used, &r), 1);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.enh, "");
	off += used;
	assert_int_equal(smtp_reply_parse(&p, in + off, sizeof(in) - 1 - off, &used, &r), 1);
	assert_int_equal(r.code, 221);
	assert_string_equal(r.enh, "2.0.0");
	assert_string_equal(r.lines, "2.0.0 bye");
	assert_int_equal(off + used, sizeof(in) - 1);
}

static void test_smtp_client_reply_state_reset_between_replies(void **unused_state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used = 0;
	static const char in[] = "550-5.1.1 a\r\n550 b\r\n250 ok\r\n";
	smtp_reply_parser_init(&p);
	assert_int_equal(smtp_reply_parse(&p, in, sizeof(in) - 1, &used, &r), 1);
	assert_int_equal(smtp_reply_parse(&p, in + used, sizeof(in) - 1 - used, &used, &r), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "");
	assert_string_equal(r.text, "250 ok");
	assert_string_equal(r.lines, "ok");
}

/* Every reply, fed cut at every single point and byte by byte, must parse
 * exactly as in one piece. */
static void test_smtp_client_reply_every_split_same(void **unused_state)
{
	static const char *const inputs[] = {
		"250 ok\r\n",
		"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 AUTH PLAIN LOGIN\r\n",
		"550-5.1.1 a\r\n550-5.1.1 b\n550 5.1.1 c\r\n",
		"250\r\n",
		"250-\r\n250 \r\n",
		"421 4.4.2 a\x01\tb\r\r\n",
	};
	for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
		const char *in = inputs[k];
		size_t len = strlen(in);
		struct smtp_reply whole, part;
		assert_int_equal(parse_mem(in, len, &whole), 1);
		assert_int_equal(parse_bytewise(in, len, &part), 1);
		assert_memory_equal(&whole, &part, sizeof(whole));
		for (size_t cut = 0; cut <= len; cut++) {
			struct smtp_reply_parser p;
			size_t u1 = 0, u2 = 0;
			smtp_reply_parser_init(&p);
			int rc = smtp_reply_parse(&p, in, cut, &u1, &part);
			if (rc == 0)
				rc = smtp_reply_parse(&p, in + cut, len - cut, &u2, &part);
			assert_int_equal(rc, 1);
			assert_int_equal(u1 + u2, len);
			assert_int_equal(part.code, whole.code);
			assert_string_equal(part.enh, whole.enh);
			assert_string_equal(part.text, whole.text);
			assert_string_equal(part.lines, whole.lines);
		}
	}
}

/* ---- EHLO keywords -------------------------------------------------------- */

static void test_smtp_client_ehlo_all_keywords(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
				  "250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250-STARTTLS\r\n"
				  "250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"
				  "250 AUTH PLAIN LOGIN CRAM-MD5\r\n");
	assert_true(c.pipelining && c.starttls && c.eightbitmime && c.smtputf8 && c.dsn && c.chunking &&
		    c.enhancedstatuscodes && c.size);
	assert_int_equal(c.size_max, 10240000);
	assert_int_equal(c.auth, SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN);
}

static void test_smtp_client_ehlo_greeting_only_clears_caps(void **unused_state)
{
	struct smtp_caps c = ehlo("250 mx.example PIPELINING SIZE 10 AUTH PLAIN\r\n");
	struct smtp_caps zero;
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&c, &zero, sizeof(c));
}

static void test_smtp_client_ehlo_greeting_line_not_read(void **unused_state)
{
	struct smtp_caps c = ehlo("250-PIPELINING\r\n250 DSN\r\n");
	assert_false(c.pipelining);
	assert_true(c.dsn);
}

static void test_smtp_client_ehlo_case_insensitive(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx\r\n250-pipelining\r\n250-StartTLS\r\n250-8bitmime\r\n"
				  "250-size 42\r\n250 auth plain login\r\n");
	assert_true(c.pipelining && c.starttls && c.eightbitmime && c.size);
	assert_int_equal(c.size_max, 42);
	assert_int_equal(c.auth, SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN);
}

static void test_smtp_client_ehlo_size_without_argument(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx\r\n250 SIZE\r\n");
	assert_true(c.size);
	assert_int_equal(c.size_max, 0);
	c = ehlo("250-mx\r\n250 SIZE   \r\n");
	assert_true(c.size);
	assert_int_equal(c.size_max, 0);
}

static void test_smtp_client_ehlo_size_zero_is_no_limit(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx\r\n250 SIZE 0\r\n");
	assert_true(c.size);
	assert_int_equal(c.size_max, 0);
}

static void test_smtp_client_ehlo_size_malformed_is_no_limit(void **unused_state)
{
	static const char *const bad[] = {
		"250-mx\r\n250 SIZE abc\r\n",	"250-mx\r\n250 SIZE 12x\r\n",
		"250-mx\r\n250 SIZE -1\r\n",	"250-mx\r\n250 SIZE +5\r\n",
		"250-mx\r\n250 SIZE 1.5\r\n",	"250-mx\r\n250 SIZE 18446744073709551616\r\n",
		"250-mx\r\n250 SIZE 99999999999999999999999\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct smtp_caps c = ehlo(bad[i]);
		assert_true(c.size);
		assert_int_equal(c.size_max, 0);
	}
}

static void test_smtp_client_ehlo_size_largest(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx\r\n250 SIZE 18446744073709551615\r\n");
	assert_true(c.size_max == 18446744073709551615ULL);
	c = ehlo("250-mx\r\n250 SIZE 000123 extra\r\n");
	assert_int_equal(c.size_max, 123);
}

static void test_smtp_client_ehlo_auth_mechanisms(void **unused_state)
{
	assert_int_equal(ehlo("250-mx\r\n250 AUTH CRAM-MD5 PLAIN\r\n").auth, SMTP_AUTH_MECH_PLAIN);
	assert_int_equal(ehlo("250-mx\r\n250 AUTH LOGIN\r\n").auth, SMTP_AUTH_MECH_LOGIN);
	assert_int_equal(ehlo("250-mx\r\n250 AUTH CRAM-MD5 XOAUTH2\r\n").auth, 0);
	assert_int_equal(ehlo("250-mx\r\n250 AUTH\r\n").auth, 0);
	assert_int_equal(ehlo("250-mx\r\n250 AUTH PLAINX LOGINS\r\n").auth, 0);
}

static void test_smtp_client_ehlo_old_auth_form(void **unused_state)
{
	assert_int_equal(ehlo("250-mx\r\n250 AUTH=PLAIN LOGIN\r\n").auth,
			 SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN);
	assert_int_equal(ehlo("250-mx\r\n250 auth=login\r\n").auth, SMTP_AUTH_MECH_LOGIN);
	assert_int_equal(ehlo("250-mx\r\n250 AUTH=\r\n").auth, 0);
	/* Both forms, as old Postfix announces them: the union. */
	assert_int_equal(ehlo("250-mx\r\n250-AUTH LOGIN\r\n250 AUTH=PLAIN\r\n").auth,
			 SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN);
}

static void test_smtp_client_ehlo_unknown_and_lookalike_keywords(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx\r\n250-XPIPELINING\r\n250-PIPELINING2\r\n250-DSN=yes\r\n"
				  "250-X-EXPS GSSAPI\r\n250-SIZES 10\r\n250-ETRN\r\n250 VRFY\r\n");
	struct smtp_caps zero;
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&c, &zero, sizeof(c));
}

static void test_smtp_client_ehlo_whitespace_tolerated(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx\r\n250-  PIPELINING \r\n250-\tSIZE\t77\r\n250 AUTH  PLAIN\tLOGIN \r\n");
	assert_true(c.pipelining);
	assert_int_equal(c.size_max, 77);
	assert_int_equal(c.auth, SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN);
}

static void test_smtp_client_ehlo_empty_lines_ignored(void **unused_state)
{
	struct smtp_caps c = ehlo("250-mx\r\n250-\r\n250- \r\n250 DSN\r\n");
	assert_true(c.dsn);
}

static void test_smtp_client_lhlo_reply(void **unused_state)
{
	/* RFC 2033: an LHLO reply reads like an EHLO one. */
	struct smtp_caps c = ehlo("250-lmtp.example\n250-PIPELINING\n250-ENHANCEDSTATUSCODES\n250 8BITMIME\n");
	assert_true(c.pipelining && c.enhancedstatuscodes && c.eightbitmime);
	assert_false(c.starttls || c.size || c.dsn);
}

/* ---- MAIL FROM ------------------------------------------------------------ */

static void test_smtp_client_mail_plain(void **unused_state)
{
	struct smtp_client_mail m = { .sender = "a@b.example" };
	assert_mail(&m, &caps_none, "MAIL FROM:<a@b.example>\r\n");
	assert_mail(&m, &caps_all, "MAIL FROM:<a@b.example>\r\n");
}

static void test_smtp_client_mail_null_sender(void **unused_state)
{
	struct smtp_client_mail m = { .sender = "" };
	assert_mail(&m, &caps_all, "MAIL FROM:<>\r\n");
}

static void test_smtp_client_mail_every_parameter(void **unused_state)
{
	struct smtp_client_mail m = {
		.sender = "\"a b\"@b.example", .size = 123, .body = SMTP_BODY_8BITMIME,
		.smtputf8 = true, .ret = SMTP_RET_HDRS, .envid = "QQ+2B1",
	};
	assert_mail(&m, &caps_all,
		    "MAIL FROM:<\"a b\"@b.example> SIZE=123 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B1\r\n");
	assert_mail(&m, &caps_none, "MAIL FROM:<\"a b\"@b.example>\r\n");
}

static void test_smtp_client_mail_size_only_when_offered(void **unused_state)
{
	struct smtp_client_mail m = { .sender = "a@b", .size = 5000000000ULL };
	struct smtp_caps caps = { .size = true };
	assert_mail(&m, &caps, "MAIL FROM:<a@b> SIZE=5000000000\r\n");
	m.size = 0;
	assert_mail(&m, &caps, "MAIL FROM:<a@b>\r\n");
}

static void test_smtp_client_mail_body_only_8bitmime(void **unused_state)
{
	struct smtp_client_mail m = { .sender = "a@b", .body = SMTP_BODY_7BIT };
	struct smtp_caps caps = { .eightbitmime = true };
	assert_mail(&m, &caps, "MAIL FROM:<a@b>\r\n");
	m.body = SMTP_BODY_NONE;
	assert_mail(&m, &caps, "MAIL FROM:<a@b>\r\n");
	m.body = SMTP_BODY_8BITMIME;
	assert_mail(&m, &caps, "MAIL FROM:<a@b> BODY=8BITMIME\r\n");
	/* Without 8BITMIME the body goes as is (the caller logs it). */
	assert_mail(&m, &caps_none, "MAIL FROM:<a@b>\r\n");
}

static void test_smtp_client_mail_smtputf8_only_when_offered(void **unused_state)
{
	struct smtp_client_mail m = { .sender = "\xc3\xa9@b", .smtputf8 = true };
	struct smtp_caps caps = { .smtputf8 = true };
	assert_mail(&m, &caps, "MAIL FROM:<\xc3\xa9@b> SMTPUTF8\r\n");
	assert_mail(&m, &caps_none, "MAIL FROM:<\xc3\xa9@b>\r\n");
}

static void test_smtp_client_mail_dsn_parameters(void **unused_state)
{
	struct smtp_client_mail m = { .sender = "a@b", .ret = SMTP_RET_FULL, .envid = "X" };
	struct smtp_caps dsn = { .dsn = true };
	assert_mail(&m, &dsn, "MAIL FROM:<a@b> RET=FULL ENVID=X\r\n");
	m.ret = SMTP_RET_NONE;
	assert_mail(&m, &dsn, "MAIL FROM:<a@b> ENVID=X\r\n");
	m.envid = "";
	assert_mail(&m, &dsn, "MAIL FROM:<a@b>\r\n");
	m.envid = NULL;
	m.ret = SMTP_RET_HDRS;
	assert_mail(&m, &dsn, "MAIL FROM:<a@b> RET=HDRS\r\n");
	struct smtp_caps no_dsn = caps_all;
	no_dsn.dsn = false;
	assert_mail(&m, &no_dsn, "MAIL FROM:<a@b>\r\n");
}

static void test_smtp_client_commands_append(void **unused_state)
{
	struct buf b = BUF_INIT;
	struct smtp_client_mail m = { .sender = "a@b" };
	buf_append_str(&b, "RSET\r\n");
	smtp_client_mail_cmd(&b, &m, &caps_none);
	smtp_client_rcpt_cmd(&b, "c@d", 0, NULL, &caps_none);
	buf_append_str(&b, "DATA\r\n");
	assert_string_equal(buf_str(&b), "RSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
	buf_free(&b);
}

/* ---- RCPT TO -------------------------------------------------------------- */

static void test_smtp_client_rcpt_plain(void **unused_state)
{
	assert_rcpt("c@d.example", 0, NULL, &caps_all, "RCPT TO:<c@d.example>\r\n");
	assert_rcpt("Postmaster", 0, NULL, &caps_none, "RCPT TO:<Postmaster>\r\n");
}

static void test_smtp_client_rcpt_dsn_dropped_without_dsn(void **unused_state)
{
	assert_rcpt("c@d", SMTP_NOTIFY_FAILURE, "rfc822;c@d", &caps_none, "RCPT TO:<c@d>\r\n");
}

static void test_smtp_client_rcpt_notify_never(void **unused_state)
{
	struct smtp_caps dsn = { .dsn = true };
	assert_rcpt("c@d", SMTP_NOTIFY_NEVER, NULL, &dsn, "RCPT TO:<c@d> NOTIFY=NEVER\r\n");
	/* NEVER cannot be combined (RFC 3461 4.1): it wins. */
	assert_rcpt("c@d", SMTP_NOTIFY_NEVER | SMTP_NOTIFY_DELAY, NULL, &dsn, "RCPT TO:<c@d> NOTIFY=NEVER\r\n");
}

static void test_smtp_client_rcpt_notify_list_order(void **unused_state)
{
	struct smtp_caps dsn = { .dsn = true };
	assert_rcpt("c@d", SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_SUCCESS, NULL, &dsn,
		    "RCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE,DELAY\r\n");
	assert_rcpt("c@d", SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE, NULL, &dsn,
		    "RCPT TO:<c@d> NOTIFY=FAILURE,DELAY\r\n");
	assert_rcpt("c@d", SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS, NULL, &dsn,
		    "RCPT TO:<c@d> NOTIFY=SUCCESS,DELAY\r\n");
	assert_rcpt("c@d", SMTP_NOTIFY_DELAY, NULL, &dsn, "RCPT TO:<c@d> NOTIFY=DELAY\r\n");
	assert_rcpt("c@d", SMTP_NOTIFY_SUCCESS, NULL, &dsn, "RCPT TO:<c@d> NOTIFY=SUCCESS\r\n");
}

static void test_smtp_client_rcpt_notify_absent_or_unknown_bits(void **unused_state)
{
	struct smtp_caps dsn = { .dsn = true };
	assert_rcpt("c@d", 0, NULL, &dsn, "RCPT TO:<c@d>\r\n");
	assert_rcpt("c@d", 0x100, NULL, &dsn, "RCPT TO:<c@d>\r\n");
}

static void test_smtp_client_rcpt_orcpt(void **unused_state)
{
	struct smtp_caps dsn = { .dsn = true };
	assert_rcpt("c@d", 0, "rfc822;c+2Bx@d", &dsn, "RCPT TO:<c@d> ORCPT=rfc822;c+2Bx@d\r\n");
	assert_rcpt("c@d", 0, "", &dsn, "RCPT TO:<c@d>\r\n");
	assert_rcpt("c@d", SMTP_NOTIFY_FAILURE, "rfc822;c@d", &dsn,
		    "RCPT TO:<c@d> NOTIFY=FAILURE ORCPT=rfc822;c@d\r\n");
}

/* ---- refusals before a transaction ---------------------------------------- */

static void test_smtp_client_refusal_size(void **unused_state)
{
	struct smtp_caps caps = { .size = true, .size_max = 1000, .smtputf8 = true };
	assert_null(smtp_client_refusal(&caps, 1000, false, false));
	assert_string_equal(smtp_client_refusal(&caps, 1001, false, false),
			    "5.3.4 message size exceeds the fixed limit of the next hop");
	caps.size_max = 0;
	assert_null(smtp_client_refusal(&caps, 1ULL << 40, false, false));
	assert_null(smtp_client_refusal(&caps_none, 1ULL << 40, false, false));
}

static void test_smtp_client_refusal_smtputf8(void **unused_state)
{
	struct smtp_caps caps = { .smtputf8 = true };
	assert_null(smtp_client_refusal(&caps, 10, true, false));
	assert_null(smtp_client_refusal(&caps_none, 10, false, false));
	assert_string_equal(smtp_client_refusal(&caps_none, 10, true, false),
			    "5.6.7 the next hop does not support SMTPUTF8");
}

/* RFC 6152 3: 8-bit content is not sent to a peer without 8BITMIME. */
static void test_smtp_client_refusal_8bitmime(void **unused_state)
{
	struct smtp_caps caps = { .eightbitmime = true };
	assert_null(smtp_client_refusal(&caps, 10, false, true));
	assert_null(smtp_client_refusal(&caps_none, 10, false, false));
	assert_string_equal(smtp_client_refusal(&caps_none, 10, false, true),
			    "5.6.3 the next hop does not support 8BITMIME");
}

static void test_smtp_client_refusal_size_checked_first(void **unused_state)
{
	struct smtp_caps caps = { .size = true, .size_max = 5 };
	const char *why = smtp_client_refusal(&caps, 6, true, false);
	assert_non_null(why);
	assert_memory_equal(why, "5.3.4 ", 6);
}

/* ---- dot-stuffing --------------------------------------------------------- */

static void test_smtp_client_dot_empty_content(void **unused_state)
{
	assert_dot("", ".\r\n");
}

static void test_smtp_client_dot_plain_lines(void **unused_state)
{
	assert_dot("a\r\n", "a\r\n.\r\n");
	assert_dot("Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n");
}

static void test_smtp_client_dot_no_final_crlf(void **unused_state)
{
	assert_dot("abc", "abc\r\n.\r\n");
	assert_dot(".", "..\r\n.\r\n");
	assert_dot("a\r\nb", "a\r\nb\r\n.\r\n");
}

static void test_smtp_client_dot_leading_dots_doubled(void **unused_state)
{
	assert_dot(".x\r\n", "..x\r\n.\r\n");
	assert_dot("..\r\n", "...\r\n.\r\n");
	assert_dot(".\r\n", "..\r\n.\r\n");
	assert_dot("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n");
	assert_dot("\r\n.\r\n", "\r\n..\r\n.\r\n");
}

static void test_smtp_client_dot_inner_dots_untouched(void **unused_state)
{
	assert_dot("a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n");
}

static void test_smtp_client_dot_bare_line_ends(void **unused_state)
{
	/* A dot after a bare LF is doubled too; a bare CR starts no line. */
	assert_dot("a\n.\r\n", "a\n..\r\n.\r\n");
	assert_dot("a\r.\r\n", "a\r.\r\n.\r\n");
	/* Content ending in a bare LF or CR still gets CRLF before the dot. */
	assert_dot("a\n", "a\n\r\n.\r\n");
	assert_dot("a\r", "a\r\r\n.\r\n");
	assert_dot("\n", "\n\r\n.\r\n");
}

static void test_smtp_client_dot_nul_and_binary_kept(void **unused_state)
{
	static const char in[] = "a\0b\r\n\xff.\r\n";
	static const char want[] = "a\0b\r\n\xff.\r\n.\r\n";
	struct buf b = BUF_INIT;
	dot_whole(in, sizeof(in) - 1, &b);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	buf_free(&b);
}

/* Encodes in at the cuts a < b (a piece may be empty) and finishes. */
static void dot_cut(const char *in, size_t len, size_t a, size_t b, struct buf *out)
{
	struct smtp_dot d;
	smtp_dot_init(&d);
	smtp_dot_encode(&d, in, a, out);
	smtp_dot_encode(&d, in + a, b - a, out);
	smtp_dot_encode(&d, in + b, len - b, out);
	smtp_dot_finish(&d, out);
}

static const char *const dot_tricky[] = {
	".\r\n..\r\n.a\r\nb.\r\n\r\n.\r\n",
	"a\r\n.",
	"\r\n\r\n.\r",
	"x\n.\n.\r\n\r",
	".",
	"\r",
	"\n",
	"ab\r\n",
};

static void test_smtp_client_dot_every_split_same(void **unused_state)
{
	for (size_t k = 0; k < sizeof(dot_tricky) / sizeof(dot_tricky[0]); k++) {
		const char *in = dot_tricky[k];
		size_t len = strlen(in);
		struct buf whole = BUF_INIT;
		dot_whole(in, len, &whole);
		for (size_t a = 0; a <= len; a++) {
			for (size_t b = a; b <= len; b++) {
				struct buf cut = BUF_INIT;
				dot_cut(in, len, a, b, &cut);
				assert_int_equal(cut.len, whole.len);
				assert_memory_equal(cut.data, whole.data, whole.len);
				buf_free(&cut);
			}
		}
		buf_free(&whole);
	}
}

static void test_smtp_client_dot_bytewise_same(void **unused_state)
{
	for (size_t k = 0; k < sizeof(dot_tricky) / sizeof(dot_tricky[0]); k++) {
		const char *in = dot_tricky[k];
		size_t len = strlen(in);
		struct buf whole = BUF_INIT, cut = BUF_INIT;
		struct smtp_dot d;
		dot_whole(in, len, &whole);
		smtp_dot_init(&d);
		for (size_t i = 0; i < len; i++) {
			smtp_dot_encode(&d, in + i, 1, &cut);
			smtp_dot_encode(&d, in + i, 0, &cut);
		}
		smtp_dot_finish(&d, &cut);
		assert_int_equal(cut.len, whole.len);
		assert_memory_equal(cut.data, whole.data, whole.len);
		buf_free(&whole);
		buf_free(&cut);
	}
}

/* Only the final line of the output is a lone dot, and un-stuffing the
 * output gives the content back (with the CRLF finish added). */
static void test_smtp_client_dot_round_trip(void **unused_state)
{
	for (size_t k = 0; k < sizeof(dot_tricky) / sizeof(dot_tricky[0]); k++) {
		const char *in = dot_tricky[k];
		size_t len = strlen(in);
		struct buf out = BUF_INIT, back = BUF_INIT;
		dot_whole(in, len, &out);
		bool line_start = true;
		for (size_t i = 0; i < out.len - 3; i++) {
			if (line_start && out.data[i] == '.') {
				assert_int_equal(out.data[i + 1], '.');
				i++;
			}
			buf_append_char(&back, out.data[i]);
			line_start = out.data[i] == '\n';
		}
		assert_memory_equal(out.data + out.len - 3, ".\r\n", 3);
		assert_true(back.len >= len);
		assert_memory_equal(back.data, in, len);
		buf_free(&out);
		buf_free(&back);
	}
}

static void test_smtp_client_dot_finish_resets(void **unused_state)
{
	struct smtp_dot d;
	struct buf b = BUF_INIT;
	smtp_dot_init(&d);
	smtp_dot_encode(&d, "a", 1, &b);
	smtp_dot_finish(&d, &b);
	smtp_dot_encode(&d, ".b\r\n", 4, &b);
	smtp_dot_finish(&d, &b);
	assert_string_equal(buf_str(&b), "a\r\n.\r\n..b\r\n.\r\n");
	buf_free(&b);
}

static void test_smtp_client_dot_large_content(void **unused_state)
{
	const size_t lines = 100000;
	struct buf in = BUF_INIT, out = BUF_INIT;
	for (size_t i = 0; i < lines; i++)
		buf_append_str(&in, i % 2 ? ".\r\n" : "x.\r\n");
	struct smtp_dot d;
	smtp_dot_init(&d);
	for (size_t off = 0; off < in.len; off += 4093) {
		size_t n = in.len - off < 4093 ? in.len - off : 4093;
		smtp_dot_encode(&d, in.data + off, n, &out);
	}
	smtp_dot_finish(&d, &out);
	assert_int_equal(out.len, in.len + lines / 2 + 3);
	buf_free(&in);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_client_reply_single_line),
		cmocka_unit_test(test_smtp_client_reply_multiline_joined),
		cmocka_unit_test(test_smtp_client_reply_4xx_and_5xx),
		cmocka_unit_test(test_smtp_client_reply_intermediate_codes),
		cmocka_unit_test(test_smtp_client_reply_bare_lf_tolerated),
		cmocka_unit_test(test_smtp_client_reply_bare_code_last_line),
		cmocka_unit_test(test_smtp_client_reply_empty_continuation_text),
		cmocka_unit_test(test_smtp_client_reply_control_chars_in_text),
		cmocka_unit_test(test_smtp_client_reply_utf8_text_kept),
		cmocka_unit_test(test_smtp_client_reply_spaces_kept_verbatim),
		cmocka_unit_test(test_smtp_client_enh_on_first_line),
		cmocka_unit_test(test_smtp_client_enh_after_dash),
		cmocka_unit_test(test_smtp_client_enh_alone_on_line),
		cmocka_unit_test(test_smtp_client_enh_largest_numbers),
		cmocka_unit_test(test_smtp_client_enh_class_must_match_code),
		cmocka_unit_test(test_smtp_client_enh_malformed_ignored),
		cmocka_unit_test(test_smtp_client_enh_only_from_first_line),
		cmocka_unit_test(test_smtp_client_reply_mixed_codes_refused),
		cmocka_unit_test(test_smtp_client_reply_code_out_of_range),
		cmocka_unit_test(test_smtp_client_reply_malformed_lines),
		cmocka_unit_test(test_smtp_client_reply_nul_refused_anywhere),
		cmocka_unit_test(test_smtp_client_reply_longest_line_accepted),
		cmocka_unit_test(test_smtp_client_reply_overlong_line_refused),
		cmocka_unit_test(test_smtp_client_reply_endless_line_refused_early),
		cmocka_unit_test(test_smtp_client_reply_hundred_lines_accepted),
		cmocka_unit_test(test_smtp_client_reply_too_many_lines_refused),
		cmocka_unit_test(test_smtp_client_reply_text_truncated),
		cmocka_unit_test(test_smtp_client_reply_lines_skip_what_does_not_fit),
		cmocka_unit_test(test_smtp_client_reply_error_reports_used),
		cmocka_unit_test(test_smtp_client_reply_empty_feed),
		cmocka_unit_test(test_smtp_client_reply_incomplete_needs_more),
		cmocka_unit_test(test_smtp_client_reply_stops_after_one_reply),
		cmocka_unit_test(test_smtp_client_reply_state_reset_between_replies),
		cmocka_unit_test(test_smtp_client_reply_every_split_same),
		cmocka_unit_test(test_smtp_client_ehlo_all_keywords),
		cmocka_unit_test(test_smtp_client_ehlo_greeting_only_clears_caps),
		cmocka_unit_test(test_smtp_client_ehlo_greeting_line_not_read),
		cmocka_unit_test(test_smtp_client_ehlo_case_insensitive),
		cmocka_unit_test(test_smtp_client_ehlo_size_without_argument),
		cmocka_unit_test(test_smtp_client_ehlo_size_zero_is_no_limit),
		cmocka_unit_test(test_smtp_client_ehlo_size_malformed_is_no_limit),
		cmocka_unit_test(test_smtp_client_ehlo_size_largest),
		cmocka_unit_test(test_smtp_client_ehlo_auth_mechanisms),
		cmocka_unit_test(test_smtp_client_ehlo_old_auth_form),
		cmocka_unit_test(test_smtp_client_ehlo_unknown_and_lookalike_keywords),
		cmocka_unit_test(test_smtp_client_ehlo_whitespace_tolerated),
		cmocka_unit_test(test_smtp_client_ehlo_empty_lines_ignored),
		cmocka_unit_test(test_smtp_client_lhlo_reply),
		cmocka_unit_test(test_smtp_client_mail_plain),
		cmocka_unit_test(test_smtp_client_mail_null_sender),
		cmocka_unit_test(test_smtp_client_mail_every_parameter),
		cmocka_unit_test(test_smtp_client_mail_size_only_when_offered),
		cmocka_unit_test(test_smtp_client_mail_body_only_8bitmime),
		cmocka_unit_test(test_smtp_client_mail_smtputf8_only_when_offered),
		cmocka_unit_test(test_smtp_client_mail_dsn_parameters),
		cmocka_unit_test(test_smtp_client_commands_append),
		cmocka_unit_test(test_smtp_client_rcpt_plain),
		cmocka_unit_test(test_smtp_client_rcpt_dsn_dropped_without_dsn),
		cmocka_unit_test(test_smtp_client_rcpt_notify_never),
		cmocka_unit_test(test_smtp_client_rcpt_notify_list_order),
		cmocka_unit_test(test_smtp_client_rcpt_notify_absent_or_unknown_bits),
		cmocka_unit_test(test_smtp_client_rcpt_orcpt),
		cmocka_unit_test(test_smtp_client_refusal_size),
		cmocka_unit_test(test_smtp_client_refusal_smtputf8),
		cmocka_unit_test(test_smtp_client_refusal_8bitmime),
		cmocka_unit_test(test_smtp_client_refusal_size_checked_first),
		cmocka_unit_test(test_smtp_client_dot_empty_content),
		cmocka_unit_test(test_smtp_client_dot_plain_lines),
		cmocka_unit_test(test_smtp_client_dot_no_final_crlf),
		cmocka_unit_test(test_smtp_client_dot_leading_dots_doubled),
		cmocka_unit_test(test_smtp_client_dot_inner_dots_untouched),
		cmocka_unit_test(test_smtp_client_dot_bare_line_ends),
		cmocka_unit_test(test_smtp_client_dot_nul_and_binary_kept),
		cmocka_unit_test(test_smtp_client_dot_every_split_same),
		cmocka_unit_test(test_smtp_client_dot_bytewise_same),
		cmocka_unit_test(test_smtp_client_dot_round_trip),
		cmocka_unit_test(test_smtp_client_dot_finish_resets),
		cmocka_unit_test(test_smtp_client_dot_large_content),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
