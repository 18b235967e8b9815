/*
 * test_spool_format.c — the queue-file envelope format: exact bytes,
 * round trips of hostile values, every decode error, the fixed-width
 * recipient state field and the END trailer.
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
#include "smtp_proto.h"
#include "spool_format.h"

#define FIRST_LINE_LEN 26	/* "VSMTPD-QUEUE 1 " + 10 digits + "\n" */

/* ---- helpers ------------------------------------------------------------- */

/* A queue-file envelope: the first line announcing the right length, then records. */
static void make_header(struct buf *out, const char *records)
{
	buf_reset(out);
	buf_printf(out, "VSMTPD-QUEUE 1 %010zu\n%s", FIRST_LINE_LEN + strlen(records), records);
}

#define GOOD_RECORDS                                                            \
	"id 0ABCDEFGHIJKLMNO\n"                                                 \
	"arrival 1700000000\n"                                                  \
	"server mx\n"                                                           \
	"sender a@b.example\n"                                                  \
	"client 127.0.0.1\n"                                                    \
	"helo client.example\n"                                                 \
	"ret -\n"                                                               \
	"body -\n"                                                              \
	"smtputf8 0\n"                                                          \
	"rcpt P 0000 000000000000 - - to@example.test\n"                        \
	"end\n"

static void sample(struct envelope *e)
{
	envelope_init(e);
	strcpy(e->id, "0ABCDEFGHIJKLMNO");
	e->arrival = 1700000000;
	e->server = strdup("mx");
	e->sender = strdup("a@b.example");
	e->client_addr = strdup("127.0.0.1");
	e->helo = strdup("client.example");
	envelope_add_rcpt(e, "to@example.test", NULL, 0);
}

/* Decodes text as a whole envelope; returns the reason, or NULL on success. */
static const char *decode_text(const char *records, struct envelope *e)
{
	struct buf b = BUF_INIT;
	make_header(&b, records);
	const char *err = NULL;
	envelope_init(e);
	int rc = spool_format_decode(b.data, b.len, e, &err);
	buf_free(&b);
	if (rc == 0) {
		assert_null(err);
		return NULL;
	}
	assert_non_null(err);
	/* a failure leaves nothing behind */
	assert_int_equal(e->nrcpts, 0);
	assert_null(e->rcpts);
	assert_null(e->server);
	return err;
}

/* GOOD_RECORDS with the first occurrence of `from` replaced by `to`. */
static const char *decode_edited(const char *from, const char *to)
{
	static char text[4096];
	const char *good = GOOD_RECORDS;
	const char *at = strstr(good, from);
	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	struct envelope e;
	const char *err = decode_text(text, &e);
	envelope_free(&e);
	return err;
}

static void assert_same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL) {
		assert_ptr_equal(a, b);
		return;
	}
	assert_string_equal(a, b);
}

static void assert_same_envelope(const struct envelope *a, const struct envelope *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->arrival, b->arrival);
	assert_same_str(a->server, b->server);
	assert_same_str(a->sender, b->sender);
	assert_same_str(a->client_addr, b->client_addr);
	assert_same_str(a->helo, b->helo);
	assert_same_str(a->envid, b->envid);
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->nrcpts, b->nrcpts);
	for (size_t i = 0; i < a->nrcpts; i++) {
		assert_same_str(a->rcpts[i].addr, b->rcpts[i].addr);
		assert_same_str(a->rcpts[i].orcpt, b->rcpts[i].orcpt);
		assert_int_equal(a->rcpts[i].notify, b->rcpts[i].notify);
		assert_int_equal(a->rcpts[i].state, b->rcpts[i].state);
		assert_int_equal(a->rcpts[i].tries, b->rcpts[i].tries);
		assert_int_equal(a->rcpts[i].next_try, b->rcpts[i].next_try);
	}
}

/* Encodes e, decodes it back into out, checks the length bookkeeping. */
static void round_trip(const struct envelope *e, struct envelope *out, struct buf *enc)
{
	buf_reset(enc);
	spool_format_encode(e, enc);
	assert_int_equal(spool_format_header_len(enc->data, enc->len), enc->len);
	const char *err = NULL;
	envelope_init(out);
	assert_int_equal(spool_format_decode(enc->data, enc->len, out, &err), 0);
	assert_null(err);
	assert_int_equal(out->header_len, enc->len);
}

/* ---- encoding -------------------------------------------------------------- */

static void test_spool_format_encode_exact_bytes(void **state)
{
	struct envelope e;
	sample(&e);
	struct buf b = BUF_INIT;
	spool_format_encode(&e, &b);
	struct buf want = BUF_INIT;
	make_header(&want, GOOD_RECORDS);
	assert_int_equal(b.len, want.len);
	assert_memory_equal(b.data, want.data, want.len);
	assert_memory_equal(b.data, "VSMTPD-QUEUE 1 0000000204\n", FIRST_LINE_LEN);
	buf_free(&b);
	buf_free(&want);
	envelope_free(&e);
}

static void test_spool_format_encode_appends_to_existing_buffer(void **state)
{
	struct envelope e;
	sample(&e);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "prefix");
	spool_format_encode(&e, &b);
	assert_memory_equal(b.data, "prefixVSMTPD-QUEUE 1 0000000204\n", 6 + FIRST_LINE_LEN);
	assert_int_equal(spool_format_header_len(b.data + 6, b.len - 6), b.len - 6);
	buf_free(&b);
	envelope_free(&e);
}

static void test_spool_format_escapes_exact_bytes(void **state)
{
	struct envelope e;
	sample(&e);
	free(e.sender);
	e.sender = strdup("a b%c\r\n\t\x01\x7f\x1f!~\xc3\xa9@x");
	struct buf b = BUF_INIT;
	spool_format_encode(&e, &b);
	assert_non_null(strstr(b.data, "\nsender a%20b%25c%0D%0A%09%01%7F%1F!~\xc3\xa9@x\n"));
	buf_free(&b);
	envelope_free(&e);
}

static void test_spool_format_round_trip_all_fields(void **state)
{
	struct envelope e, d;
	struct buf b = BUF_INIT;
	sample(&e);
	e.envid = strdup("QQ+2B314");
	e.ret = SMTP_RET_HDRS;
	e.body = SMTP_BODY_8BITMIME;
	e.smtputf8 = true;
	envelope_add_rcpt(&e, "second@example.test", "rfc822;second@example.test",
			  SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	e.rcpts[1].state = RCPT_FAILED;
	e.rcpts[1].tries = 12;
	e.rcpts[1].next_try = 1700009999;
	round_trip(&e, &d, &b);
	assert_same_envelope(&e, &d);
	assert_string_equal(d.envid, "QQ+2B314");
	assert_string_equal(d.rcpts[1].orcpt, "rfc822;second@example.test");
	assert_non_null(strstr(b.data, "\nrcpt F 0012 001700009999 SD rfc822;second@example.test second@example.test\n"));
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

static void test_spool_format_round_trip_hostile_values(void **state)
{
	static const char *const hostile[] = {
		"", "-", "--", "%", "%%2D", "%2D", " ", "a b", "\r\n.\r\n", "\n", "end", "rcpt P 0000",
		"VSMTPD-END 0000000000000000", "\x01\x02\x03\x1f\x20\x7f", "\xff\xfe\x80",
		"caf\xc3\xa9@\xe2\x82\xac.example", "x\r\nrcpt P 0000 000000000000 - - evil@x\r\nend",
	};
	size_t n = sizeof(hostile) / sizeof(hostile[0]);
	for (size_t i = 0; i < n; i++) {
		struct envelope e, d;
		struct buf b = BUF_INIT;
		sample(&e);
		free(e.server);
		free(e.sender);
		free(e.client_addr);
		free(e.helo);
		e.server = strdup(hostile[i]);
		e.sender = strdup(hostile[i]);
		e.client_addr = strdup(hostile[i]);
		e.helo = strdup(hostile[i]);
		e.envid = hostile[i][0] != '\0' ? strdup(hostile[i]) : NULL;
		envelope_add_rcpt(&e, hostile[i][0] != '\0' ? hostile[i] : "x", hostile[i][0] != '\0' ? hostile[i] : NULL, 0);
		round_trip(&e, &d, &b);
		assert_same_envelope(&e, &d);
		/* no value can add a line: the first line, 12 records, maybe envid */
		size_t lines = 0;
		for (size_t k = 0; k < b.len; k++)
			lines += b.data[k] == '\n';
		assert_int_equal(lines, 1 + 12 + (e.envid != NULL));
		assert_int_equal(memchr(b.data, '\0', b.len) == NULL, 1);
		envelope_free(&e);
		envelope_free(&d);
		buf_free(&b);
	}
}

static void test_spool_format_absent_and_empty_optionals(void **state)
{
	struct envelope e, d;
	struct buf b = BUF_INIT;
	sample(&e);
	e.envid = strdup("");
	envelope_add_rcpt(&e, "x@y", "", 0);
	envelope_add_rcpt(&e, "z@y", "-", 0);
	round_trip(&e, &d, &b);
	assert_null(strstr(b.data, "envid"));
	assert_null(d.envid);
	assert_null(d.rcpts[1].orcpt);	/* "" means absent */
	assert_string_equal(d.rcpts[2].orcpt, "-");	/* a real "-" is kept */
	assert_non_null(strstr(b.data, "rcpt P 0000 000000000000 - %2D z@y\n"));
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

static void test_spool_format_null_required_strings_become_empty(void **state)
{
	struct envelope e, d;
	struct buf b = BUF_INIT;
	envelope_init(&e);
	strcpy(e.id, "Z");
	envelope_add_rcpt(&e, "r@x", NULL, 0);
	round_trip(&e, &d, &b);
	assert_string_equal(d.server, "");
	assert_string_equal(d.sender, "");
	assert_string_equal(d.client_addr, "");
	assert_string_equal(d.helo, "");
	assert_int_equal(d.arrival, 0);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

static void test_spool_format_notify_every_combination(void **state)
{
	for (unsigned bits = 0; bits < 16; bits++) {
		struct envelope e, d;
		struct buf b = BUF_INIT;
		sample(&e);
		e.rcpts[0].notify = bits;
		round_trip(&e, &d, &b);
		assert_int_equal(d.rcpts[0].notify, bits);
		envelope_free(&e);
		envelope_free(&d);
		buf_free(&b);
	}
	/* unknown bits are dropped, known ones kept */
	struct envelope e, d;
	struct buf b = BUF_INIT;
	sample(&e);
	e.rcpts[0].notify = 0x30 | SMTP_NOTIFY_FAILURE;
	round_trip(&e, &d, &b);
	assert_int_equal(d.rcpts[0].notify, SMTP_NOTIFY_FAILURE);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

static void test_spool_format_ret_body_values(void **state)
{
	for (int v = 0; v < 3; v++) {
		struct envelope e, d;
		struct buf b = BUF_INIT;
		sample(&e);
		e.ret = v;
		e.body = 2 - v;
		e.smtputf8 = v == 1;
		round_trip(&e, &d, &b);
		assert_int_equal(d.ret, v);
		assert_int_equal(d.body, 2 - v);
		assert_int_equal(d.smtputf8, v == 1);
		envelope_free(&e);
		envelope_free(&d);
		buf_free(&b);
	}
	struct envelope e, d;
	struct buf b = BUF_INIT;
	sample(&e);
	e.ret = 77;
	e.body = -3;
	round_trip(&e, &d, &b);
	assert_int_equal(d.ret, SMTP_RET_NONE);
	assert_int_equal(d.body, SMTP_BODY_NONE);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

static void test_spool_format_many_recipients(void **state)
{
	struct envelope e, d;
	struct buf b = BUF_INIT;
	sample(&e);
	for (unsigned i = 1; i < 1000; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "user%u@example.test", i);
		envelope_add_rcpt(&e, addr, i % 2 ? addr : NULL, i & 0xf);
		e.rcpts[i].tries = i;
		e.rcpts[i].next_try = 1000000LL * i;
		e.rcpts[i].state = "PDFW"[i % 4];
	}
	round_trip(&e, &d, &b);
	assert_same_envelope(&e, &d);
	for (size_t i = 1; i < d.nrcpts; i++)
		assert_true(d.rcpts[i].state_off > d.rcpts[i - 1].state_off);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

/* ---- the state field ------------------------------------------------------- */

static void test_spool_format_state_field_width_is_constant(void **state)
{
	static const struct {
		char state;
		unsigned tries;
		long long next;
		const char *want;
	} cases[] = {
		{ RCPT_PENDING, 0, 0, "P 0000 000000000000" },
		{ RCPT_DELIVERED, 1, 1, "D 0001 000000000001" },
		{ RCPT_WARNED, 3, 1700000000, "W 0003 001700000000" },
		{ RCPT_FAILED, 9999, 999999999999LL, "F 9999 999999999999" },
		{ RCPT_PENDING, 10000, 1000000000000LL, "P 9999 999999999999" },	/* clamped */
		{ RCPT_PENDING, 4294967295u, 9223372036854775807LL, "P 9999 999999999999" },
		{ RCPT_PENDING, 7, -5, "P 0007 000000000000" },
		{ 'X', 3, 1700000000, "P 0003 001700000000" },	/* unknown state: pending */
		{ '\0', 0, 0, "P 0000 000000000000" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope_rcpt r = { 0 };
		r.state = cases[i].state;
		r.tries = cases[i].tries;
		r.next_try = cases[i].next;
		struct buf b = BUF_INIT;
		spool_format_rcpt_state(&r, &b);
		assert_int_equal(b.len, SPOOL_RCPT_STATE_LEN);
		assert_string_equal(b.data, cases[i].want);
		buf_free(&b);
	}
}

static void test_spool_format_state_off_in_place_update(void **state)
{
	struct envelope e, d;
	struct buf b = BUF_INIT;
	sample(&e);
	envelope_add_rcpt(&e, "two@example.test", "rfc822;two@example.test", SMTP_NOTIFY_NEVER);
	envelope_add_rcpt(&e, "three@example.test", NULL, 0);
	round_trip(&e, &d, &b);
	for (size_t i = 0; i < d.nrcpts; i++) {
		assert_memory_equal(b.data + d.rcpts[i].state_off, "P 0000 000000000000", SPOOL_RCPT_STATE_LEN);
		assert_memory_equal(b.data + d.rcpts[i].state_off - 5, "rcpt ", 5);
	}
	/* overwrite recipient 1's field as spool_file_update_rcpt() would */
	d.rcpts[1].state = RCPT_DELIVERED;
	d.rcpts[1].tries = 42;
	d.rcpts[1].next_try = 1800000000;
	struct buf st = BUF_INIT;
	spool_format_rcpt_state(&d.rcpts[1], &st);
	size_t len_before = b.len;
	memcpy(b.data + d.rcpts[1].state_off, st.data, st.len);
	struct envelope u;
	const char *err;
	envelope_init(&u);
	assert_int_equal(spool_format_decode(b.data, b.len, &u, &err), 0);
	assert_int_equal(b.len, len_before);
	assert_int_equal(u.rcpts[1].state, RCPT_DELIVERED);
	assert_int_equal(u.rcpts[1].tries, 42);
	assert_int_equal(u.rcpts[1].next_try, 1800000000);
	assert_int_equal(u.rcpts[0].state, RCPT_PENDING);
	assert_int_equal(u.rcpts[2].state, RCPT_PENDING);
	assert_string_equal(u.rcpts[1].addr, "two@example.test");
	assert_int_equal(u.rcpts[1].notify, SMTP_NOTIFY_NEVER);
	buf_free(&st);
	envelope_free(&u);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

/* ---- the first line ------------------------------------------------------------ */

static void test_spool_format_header_len_first_line(void **state)
{
	const char *ok = "VSMTPD-QUEUE 1 0000000285\nid X\n";
	assert_int_equal(spool_format_header_len(ok, strlen(ok)), 285);
	assert_int_equal(spool_format_header_len(ok, FIRST_LINE_LEN), 285);
	assert_int_equal(spool_format_header_len(ok, FIRST_LINE_LEN - 1), 0);	/* short */
	assert_int_equal(spool_format_header_len("", 0), 0);
	const char *bad[] = {
		"VSMTPD-QUEUE 2 0000000285\n",	/* version */
		"vsmtpd-queue 1 0000000285\n",	/* magic */
		"VSMTPD-QUEUE 1 000000028\n\n",	/* width */
		"VSMTPD-QUEUE 1 00000002x5\n",	/* digit */
		"VSMTPD-QUEUE 1 -000000285\n",
		"VSMTPD-QUEUE 1 0000000285\r",
		"VSMTPD-QUEUE 1 0000000029\n",	/* shorter than the shortest envelope */
		"VSMTPD-QUEUE 1 0016777217\n",	/* > SPOOL_HEADER_MAX */
		"VSMTPD-QUEUE 1 9999999999\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(spool_format_header_len(bad[i], strlen(bad[i])), 0);
	assert_int_equal(spool_format_header_len("VSMTPD-QUEUE 1 0000000030\n", FIRST_LINE_LEN), 30);
	assert_int_equal(spool_format_header_len("VSMTPD-QUEUE 1 0016777216\n", FIRST_LINE_LEN), SPOOL_HEADER_MAX);
}

/* ---- decode errors ------------------------------------------------------------- */

static void test_spool_format_decode_good_records(void **state)
{
	struct envelope e;
	assert_null(decode_text(GOOD_RECORDS, &e));
	assert_string_equal(e.id, "0ABCDEFGHIJKLMNO");
	assert_int_equal(e.arrival, 1700000000);
	assert_string_equal(e.rcpts[0].addr, "to@example.test");
	assert_int_equal(e.rcpts[0].state_off, FIRST_LINE_LEN + strstr(GOOD_RECORDS, "P 0000") - GOOD_RECORDS);
	envelope_free(&e);
	/* records in another order are accepted too */
	assert_null(decode_text("rcpt P 0000 000000000000 - - a@b\n"
				"smtputf8 1\nbody 7BIT\nret FULL\nhelo h\nclient c\nsender \nserver s\n"
				"arrival 5\nid Q\nend\n", &e));
	assert_string_equal(e.sender, "");
	assert_int_equal(e.body, SMTP_BODY_7BIT);
	envelope_free(&e);
}

static void test_spool_format_decode_not_a_queue_file(void **state)
{
	struct envelope e;
	const char *err;
	envelope_init(&e);
	assert_int_equal(spool_format_decode("", 0, &e, &err), -1);
	assert_string_equal(err, "not a queue file");
	assert_int_equal(spool_format_decode("From x\n", 7, &e, &err), -1);
	assert_string_equal(err, "not a queue file");
	const char *v2 = "VSMTPD-QUEUE 2 0000000030\nend\n";
	assert_int_equal(spool_format_decode(v2, strlen(v2), &e, &err), -1);
	assert_string_equal(err, "unsupported queue file version");
	const char *bad = "VSMTPD-QUEUE 1 00000000x0\nend\n";
	assert_int_equal(spool_format_decode(bad, strlen(bad), &e, &err), -1);
	assert_string_equal(err, "bad header length");
}

static void test_spool_format_decode_length_mismatch(void **state)
{
	struct buf b = BUF_INIT;
	make_header(&b, GOOD_RECORDS);
	struct envelope e;
	const char *err;
	envelope_init(&e);
	assert_int_equal(spool_format_decode(b.data, b.len - 1, &e, &err), -1);
	assert_string_equal(err, "header length mismatch");
	buf_append_str(&b, "x");
	assert_int_equal(spool_format_decode(b.data, b.len, &e, &err), -1);
	assert_string_equal(err, "header length mismatch");
	buf_free(&b);
}

static void test_spool_format_decode_missing_each_required_record(void **state)
{
	static const struct {
		const char *line;
		const char *reason;
	} cases[] = {
		{ "id 0ABCDEFGHIJKLMNO\n", "missing id record" },
		{ "arrival 1700000000\n", "missing arrival record" },
		{ "server mx\n", "missing server record" },
		{ "sender a@b.example\n", "missing sender record" },
		{ "client 127.0.0.1\n", "missing client record" },
		{ "helo client.example\n", "missing helo record" },
		{ "ret -\n", "missing ret record" },
		{ "body -\n", "missing body record" },
		{ "smtputf8 0\n", "missing smtputf8 record" },
		{ "rcpt P 0000 000000000000 - - to@example.test\n", "no rcpt record" },
		{ "end\n", "missing end record" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(decode_edited(cases[i].line, ""), cases[i].reason);
}

static void test_spool_format_decode_duplicate_records(void **state)
{
	static const char *const lines[] = {
		"id 0ABCDEFGHIJKLMNO\n", "arrival 1700000000\n", "server mx\n", "sender a@b.example\n",
		"client 127.0.0.1\n", "helo client.example\n", "ret -\n", "body -\n", "smtputf8 0\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char twice[256];
		snprintf(twice, sizeof(twice), "%s%s", lines[i], lines[i]);
		assert_string_equal(decode_edited(lines[i], twice), "duplicate record");
	}
	assert_string_equal(decode_edited("ret -\n", "envid A\nenvid B\nret -\n"), "duplicate record");
	/* recipients may repeat */
	assert_null(decode_edited("end\n", "rcpt P 0000 000000000000 - - to@example.test\nend\n"));
}

static void test_spool_format_decode_unknown_kind_and_fields(void **state)
{
	assert_string_equal(decode_edited("ret -\n", "size 123\nret -\n"), "unknown record kind");
	assert_string_equal(decode_edited("ret -\n", "RET -\nret -\n"), "unknown record kind");
	assert_string_equal(decode_edited("ret -\n", "\nret -\n"), "unknown record kind");
	assert_string_equal(decode_edited("ret -\n", "ret\n"), "wrong number of fields");
	assert_string_equal(decode_edited("ret -\n", "ret - -\n"), "wrong number of fields");
	assert_string_equal(decode_edited("server mx\n", "server m x\n"), "wrong number of fields");
	assert_string_equal(decode_edited("end\n", "end \n"), "wrong number of fields");
	assert_string_equal(decode_edited("- - to@", "- to@"), "wrong number of fields");
	assert_string_equal(decode_edited("- - to@", "- - - to@"), "wrong number of fields");
	assert_string_equal(decode_edited("- - to@", "- - to@ a b c d e f"), "wrong number of fields");
}

static void test_spool_format_decode_bad_numbers(void **state)
{
	assert_string_equal(decode_edited("arrival 1700000000", "arrival "), "bad number");
	assert_string_equal(decode_edited("arrival 1700000000", "arrival -1"), "bad number");
	assert_string_equal(decode_edited("arrival 1700000000", "arrival 17x"), "bad number");
	assert_string_equal(decode_edited("arrival 1700000000", "arrival +5"), "bad number");
	assert_string_equal(decode_edited("arrival 1700000000", "arrival 9999999999999999999"), "bad number");
	assert_null(decode_edited("arrival 1700000000", "arrival 999999999999999999"));
	assert_string_equal(decode_edited("P 0000 ", "P 000 "), "bad number");
	assert_string_equal(decode_edited("P 0000 ", "P 00000 "), "bad number");
	assert_string_equal(decode_edited("P 0000 ", "P 00a0 "), "bad number");
	assert_string_equal(decode_edited("000000000000 -", "00000000000 -"), "bad number");
	assert_string_equal(decode_edited("000000000000 -", "-00000000001 -"), "bad number");
}

static void test_spool_format_decode_bad_state_and_notify(void **state)
{
	assert_string_equal(decode_edited("rcpt P ", "rcpt X "), "bad recipient state");
	assert_string_equal(decode_edited("rcpt P ", "rcpt p "), "bad recipient state");
	assert_string_equal(decode_edited("rcpt P ", "rcpt PD "), "bad recipient state");
	assert_string_equal(decode_edited("rcpt P ", "rcpt  "), "bad recipient state");
	assert_null(decode_edited("rcpt P ", "rcpt D "));
	assert_null(decode_edited("rcpt P ", "rcpt F "));
	assert_string_equal(decode_edited("000000000000 -", "000000000000 X"), "bad notify field");
	assert_string_equal(decode_edited("000000000000 -", "000000000000 FS"), "bad notify field");
	assert_string_equal(decode_edited("000000000000 -", "000000000000 SS"), "bad notify field");
	assert_string_equal(decode_edited("000000000000 -", "000000000000 "), "bad notify field");
	assert_null(decode_edited("000000000000 -", "000000000000 NSFD"));
}

static void test_spool_format_decode_bad_escapes(void **state)
{
	assert_string_equal(decode_edited("server mx", "server m%2"), "truncated escape");
	assert_string_equal(decode_edited("server mx", "server m%"), "truncated escape");
	assert_string_equal(decode_edited("server mx", "server %GG"), "bad escape");
	assert_string_equal(decode_edited("server mx", "server %0d"), "bad escape");	/* lower case */
	assert_string_equal(decode_edited("server mx", "server %41"), "needless escape");
	assert_string_equal(decode_edited("server mx", "server %2Dx"), "needless escape");
	assert_string_equal(decode_edited("server mx", "server %00"), "NUL in a value");
	assert_string_equal(decode_edited("server mx", "server m\tx"), "raw control byte in a value");
	assert_string_equal(decode_edited("server mx", "server m\rx"), "raw control byte in a value");
	assert_string_equal(decode_edited("server mx", "server m\x7fx"), "raw control byte in a value");
	assert_string_equal(decode_edited("server mx", "server -"), "absent marker in a required value");
	assert_string_equal(decode_edited("- - to@example.test", "- - -"), "absent marker in a required value");
	assert_string_equal(decode_edited("- - to@example.test", "- %0 a"), "truncated escape");
	assert_null(decode_edited("server mx", "server %25%20%0D%0A%7F\xc3\xa9"));
}

static void test_spool_format_decode_bad_values(void **state)
{
	assert_string_equal(decode_edited("id 0ABCDEFGHIJKLMNO", "id 0abc"), "bad id");
	assert_string_equal(decode_edited("id 0ABCDEFGHIJKLMNO", "id "), "bad id");
	assert_string_equal(decode_edited("id 0ABCDEFGHIJKLMNO", "id ../../etc"), "bad id");
	assert_string_equal(decode_edited("id 0ABCDEFGHIJKLMNO", "id 0123456789012345678901234"), "bad id");
	assert_null(decode_edited("id 0ABCDEFGHIJKLMNO", "id 012345678901234567890123"));
	assert_string_equal(decode_edited("ret -", "ret full"), "bad keyword");
	assert_string_equal(decode_edited("body -", "body 8BIT"), "bad keyword");
	assert_string_equal(decode_edited("smtputf8 0", "smtputf8 yes"), "bad keyword");
	assert_string_equal(decode_edited("ret -\n", "envid -\nret -\n"), "absent marker in a required value");
	assert_string_equal(decode_edited("ret -\n", "envid \nret -\n"), "empty envid");
	assert_string_equal(decode_edited("to@example.test\n", "\n"), "empty recipient address");
	assert_string_equal(decode_edited("- - to@", "-  to@"), "empty orcpt");	/* absent is "-" */
}

static void test_spool_format_decode_structure_errors(void **state)
{
	assert_string_equal(decode_edited("end\n", "end\nx"), "data after the end record");
	assert_string_equal(decode_edited("end\n", "end\nserver y\n"), "data after the end record");
	assert_string_equal(decode_edited("end\n", "end\nend\n"), "data after the end record");
	assert_string_equal(decode_edited("end\n", "end"), "unterminated record");
	assert_string_equal(decode_edited("end\n", "rcpt P 0000 000000000000 - - x"), "unterminated record");
}

static void test_spool_format_decode_envid_dash_value(void **state)
{
	struct envelope e;
	const char *text = "envid %2D\n" GOOD_RECORDS;
	assert_null(decode_text(text, &e));
	assert_string_equal(e.envid, "-");
	envelope_free(&e);
}

/* ---- IDs and the trailer ---------------------------------------------------------- */

static void test_spool_format_id_ok(void **state)
{
	assert_true(spool_format_id_ok("0"));
	assert_true(spool_format_id_ok("0123456789ABCDEFGHIJKLMN"));
	assert_true(spool_format_id_ok("ZZZZ"));
	assert_false(spool_format_id_ok(""));
	assert_false(spool_format_id_ok("0123456789ABCDEFGHIJKLMNO"));	/* 25 > SPOOL_ID_MAX */
	assert_false(spool_format_id_ok("abc"));
	assert_false(spool_format_id_ok("A.B"));
	assert_false(spool_format_id_ok("../X"));
	assert_false(spool_format_id_ok(".X"));
	assert_false(spool_format_id_ok("A B"));
	assert_false(spool_format_id_ok("\xc3\x89"));
}

static void test_spool_format_trailer_exact_bytes(void **state)
{
	char t[SPOOL_TRAILER_LEN];
	spool_format_trailer(0, t);
	assert_memory_equal(t, "\nVSMTPD-END 0000000000000000   \n", SPOOL_TRAILER_LEN);
	spool_format_trailer(0x123456789ABCDEFULL, t);
	assert_memory_equal(t, "\nVSMTPD-END 0123456789ABCDEF   \n", SPOOL_TRAILER_LEN);
	spool_format_trailer(~0ULL, t);
	assert_memory_equal(t, "\nVSMTPD-END FFFFFFFFFFFFFFFF   \n", SPOOL_TRAILER_LEN);
}

static void test_spool_format_trailer_check(void **state)
{
	char t[SPOOL_TRAILER_LEN];
	spool_format_trailer(4096, t);
	assert_true(spool_format_trailer_ok(t, 4096));
	assert_false(spool_format_trailer_ok(t, 4095));
	assert_false(spool_format_trailer_ok(t, 4097));
	assert_false(spool_format_trailer_ok(t, 0));
	/* any damaged byte is noticed */
	for (size_t i = 0; i < SPOOL_TRAILER_LEN; i++) {
		char d[SPOOL_TRAILER_LEN];
		memcpy(d, t, sizeof(d));
		d[i] ^= 0x20;
		assert_false(spool_format_trailer_ok(d, 4096));
		d[i] = '\0';
		assert_false(spool_format_trailer_ok(d, 4096));
	}
	char zeros[SPOOL_TRAILER_LEN] = { 0 };
	assert_false(spool_format_trailer_ok(zeros, 0));
	const char *lower = "\nVSMTPD-END 0000000000000abc   \n";
	assert_false(spool_format_trailer_ok(lower, 0xabc));
}

static void test_spool_format_envelope_helpers(void **state)
{
	struct envelope e;
	envelope_init(&e);
	assert_int_equal(e.nrcpts, 0);
	assert_null(e.rcpts);
	for (int i = 0; i < 33; i++)
		envelope_add_rcpt(&e, "a@b", i % 2 ? "rfc822;a@b" : NULL, (unsigned)i);
	assert_int_equal(e.nrcpts, 33);
	assert_int_equal(e.rcpts[32].state, RCPT_PENDING);
	assert_int_equal(e.rcpts[32].tries, 0);
	assert_int_equal(e.rcpts[32].next_try, 0);
	assert_int_equal(e.rcpts[31].notify, 31);
	assert_string_equal(e.rcpts[31].orcpt, "rfc822;a@b");
	envelope_free(&e);
	assert_int_equal(e.nrcpts, 0);
	assert_null(e.rcpts);
	envelope_add_rcpt(&e, "again@b", NULL, 0);	/* usable after free */
	assert_string_equal(e.rcpts[0].addr, "again@b");
	envelope_free(&e);
	envelope_free(&e);	/* twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spool_format_encode_exact_bytes),
		cmocka_unit_test(test_spool_format_encode_appends_to_existing_buffer),
		cmocka_unit_test(test_spool_format_escapes_exact_bytes),
		cmocka_unit_test(test_spool_format_round_trip_all_fields),
		cmocka_unit_test(test_spool_format_round_trip_hostile_values),
		cmocka_unit_test(test_spool_format_absent_and_empty_optionals),
		cmocka_unit_test(test_spool_format_null_required_strings_become_empty),
		cmocka_unit_test(test_spool_format_notify_every_combination),
		cmocka_unit_test(test_spool_format_ret_body_values),
		cmocka_unit_test(test_spool_format_many_recipients),
		cmocka_unit_test(test_spool_format_state_field_width_is_constant),
		cmocka_unit_test(test_spool_format_state_off_in_place_update),
		cmocka_unit_test(test_spool_format_header_len_first_line),
		cmocka_unit_test(test_spool_format_decode_good_records),
		cmocka_unit_test(test_spool_format_decode_not_a_queue_file),
		cmocka_unit_test(test_spool_format_decode_length_mismatch),
		cmocka_unit_test(test_spool_format_decode_missing_each_required_record),
		cmocka_unit_test(test_spool_format_decode_duplicate_records),
		cmocka_unit_test(test_spool_format_decode_unknown_kind_and_fields),
		cmocka_unit_test(test_spool_format_decode_bad_numbers),
		cmocka_unit_test(test_spool_format_decode_bad_state_and_notify),
		cmocka_unit_test(test_spool_format_decode_bad_escapes),
		cmocka_unit_test(test_spool_format_decode_bad_values),
		cmocka_unit_test(test_spool_format_decode_structure_errors),
		cmocka_unit_test(test_spool_format_decode_envid_dash_value),
		cmocka_unit_test(test_spool_format_id_ok),
		cmocka_unit_test(test_spool_format_trailer_exact_bytes),
		cmocka_unit_test(test_spool_format_trailer_check),
		cmocka_unit_test(test_spool_format_envelope_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
