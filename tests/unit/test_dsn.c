/*
 * test_dsn.c — report messages (dsn.c): the exact fields of RFC 3464, the
 * MIME structure of RFC 6522 (split on the boundary and checked part by
 * part), what RET returns, xtext decoding of ENVID and ORCPT, RFC 6533
 * types for SMTPUTF8, and hostile values that try to add fields or parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dsn.h"
#include "lib/buf.h"
#include "smtp_proto.h"

#define T0 1764384350LL		/* Sat, 29 Nov 2025 02:45:50 +0000 */
#define ORIGINAL "Subject: hi\r\nFrom: <a@example.test>\r\n\r\nbody\r\n"

static struct dsn_report report(const struct dsn_rcpt *rc, size_t n, enum dsn_include inc)
{
	return (struct dsn_report){
		.reporting_mta = "mx.example.test", .from = "postmaster@mx.example.test",
		.to = "a@example.test", .report_id = "REPORT1", .orig_id = "ORIG1", .envid = NULL,
		.client_helo = "client.example", .client_addr = "192.0.2.7", .arrival = T0, .now = T0 + 60,
		.include = inc, .rcpts = rc, .n = n,
	};
}

/* The whole report, with original appended between begin and end. */
static void build(const struct dsn_report *r, const char *original, struct buf *out)
{
	dsn_report_begin(r, out);
	if (r->include != DSN_INCLUDE_NONE)
		buf_append_str(out, original);
	size_t len = strlen(original);
	dsn_report_end(r, len >= 2 && strcmp(original + len - 2, "\r\n") == 0, out);
}

/* The n-th MIME part (0-based; -1: the preamble with the top header) of a report. */
static const char *part(const char *text, int n, char *out, size_t size)
{
	const char *sep = "\r\n--=_vsmtpd_report_REPORT1";
	const char *p = text;
	for (int i = -1; i < n; i++) {
		p = strstr(p, sep);
		assert_non_null(p);
		p += strlen(sep);
		assert_memory_equal(p, "\r\n", 2);	/* not the closing "--" */
		p += 2;
	}
	const char *end = strstr(p, sep);
	assert_non_null(end);
	snprintf(out, size, "%.*s", (int)(end - p), p);
	return out;
}

static void assert_has(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("missing \"%s\" in:\n%s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle) != NULL)
		fail_msg("unexpected \"%s\" in:\n%s", needle, hay);
}

/* Every line of a delivery-status body is "Name: value" or empty (block separators). */
static void assert_fields_only(const char *body)
{
	const char *p = strstr(body, "\r\n\r\n");
	assert_non_null(p);
	for (p += 4; *p != '\0';) {
		const char *eol = strstr(p, "\r\n");
		assert_non_null(eol);
		if (eol > p) {
			const char *colon = memchr(p, ':', (size_t)(eol - p));
			assert_non_null(colon);
			for (const char *q = p; q < colon; q++)
				assert_true((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || *q == '-');
			assert_int_equal(colon[1], ' ');
		}
		p = eol + 2;
	}
}

static const struct dsn_rcpt failed_rcpt = {
	.addr = "nobody@other.test", .action = DSN_ACTION_FAILED, .status = "5.1.1",
	.remote_mta = "mx.other.test", .diagnostic = "550 5.1.1 no such user", .last_attempt = T0 + 60,
};

static void test_dsn_failure_report_exact_fields(void **state)
{
	struct dsn_report r = report(&failed_rcpt, 1, DSN_INCLUDE_FULL);
	struct buf out = BUF_INIT;
	build(&r, ORIGINAL, &out);
	const char *t = buf_str(&out);
	char p[4096];

	const char *head = "Date: Sat, 29 Nov 2025 02:46:50 +0000\r\n"
			   "From: Mail Delivery System <postmaster@mx.example.test>\r\n"
			   "To: <a@example.test>\r\n"
			   "Subject: Delivery Status Notification (Failure)\r\n"
			   "Message-ID: <REPORT1@mx.example.test>\r\n"
			   "Auto-Submitted: auto-replied\r\n"
			   "MIME-Version: 1.0\r\n"
			   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
			   "\tboundary=\"=_vsmtpd_report_REPORT1\"\r\n\r\n";
	assert_memory_equal(t, head, strlen(head));
	part(t, 0, p, sizeof(p));
	assert_has(p, "Content-Type: text/plain; charset=us-ascii\r\n");
	assert_has(p, "  <nobody@other.test> (at mx.other.test)\r\n      550 5.1.1 no such user\r\n");
	assert_has(p, "about your message ORIG1,\r\nreceived on Sat, 29 Nov 2025 02:45:50 +0000.");
	part(t, 1, p, sizeof(p));
	assert_string_equal(p, "Content-Type: message/delivery-status\r\n"
			       "Content-Description: Delivery report\r\n\r\n"
			       "Reporting-MTA: dns; mx.example.test\r\n"
			       "Received-From-MTA: dns; client.example ([192.0.2.7])\r\n"
			       "Arrival-Date: Sat, 29 Nov 2025 02:45:50 +0000\r\n\r\n"
			       "Final-Recipient: rfc822; nobody@other.test\r\n"
			       "Action: failed\r\n"
			       "Status: 5.1.1\r\n"
			       "Remote-MTA: dns; mx.other.test\r\n"
			       "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
			       "Last-Attempt-Date: Sat, 29 Nov 2025 02:46:50 +0000\r\n");
	assert_fields_only(p);
	part(t, 2, p, sizeof(p));
	assert_string_equal(p, "Content-Type: message/rfc822\r\nContent-Description: Undelivered message\r\n\r\n"
			    ORIGINAL);
	/* the closing boundary ends the message */
	const char *close = "\r\n--=_vsmtpd_report_REPORT1--\r\n";
	assert_string_equal(t + out.len - strlen(close), close);
	buf_free(&out);
}

static void test_dsn_mixed_actions_one_block_each(void **state)
{
	const struct dsn_rcpt rc[] = {
		failed_rcpt,
		{ .addr = "late@other.test", .action = DSN_ACTION_DELAYED, .status = "4.4.1",
		  .diagnostic = "451 4.4.1 no answer", .retry_until = T0 + 86400 },
		{ .addr = "u@example.test", .action = DSN_ACTION_DELIVERED, .status = "2.0.0" },
		{ .addr = "r@far.test", .action = DSN_ACTION_RELAYED, .status = "2.0.0", .remote_mta = "mx.far.test" },
	};
	struct dsn_report r = report(rc, 4, DSN_INCLUDE_HEADERS);
	struct buf out = BUF_INIT;
	build(&r, "Subject: hi\r\n\r\n", &out);
	const char *t = buf_str(&out);
	char p[4096];
	assert_has(t, "Subject: Delivery Status Notification (Failure)\r\n");
	part(t, 1, p, sizeof(p));
	assert_fields_only(p);
	assert_has(p, "\r\n\r\nFinal-Recipient: rfc822; late@other.test\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
		      "Diagnostic-Code: smtp; 451 4.4.1 no answer\r\n"
		      "Will-Retry-Until: Sun, 30 Nov 2025 02:45:50 +0000\r\n");
	assert_has(p, "\r\n\r\nFinal-Recipient: rfc822; u@example.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n");
	assert_has(p, "\r\n\r\nFinal-Recipient: rfc822; r@far.test\r\nAction: relayed\r\nStatus: 2.0.0\r\n"
		      "Remote-MTA: dns; mx.far.test\r\n");
	assert_lacks(p, "Last-Attempt-Date: Thu");	/* only where given */
	part(t, 0, p, sizeof(p));
	assert_has(p, "It will not be tried again.");
	assert_has(p, "still being tried");
	assert_has(p, "delivered to the mailboxes");
	assert_has(p, "passed on to the mail servers");
	part(t, 2, p, sizeof(p));
	assert_string_equal(p, "Content-Type: text/rfc822-headers\r\n"
			       "Content-Description: The header of the message\r\n\r\nSubject: hi\r\n\r\n");
	buf_free(&out);
}

static void test_dsn_subject_follows_the_worst_outcome(void **state)
{
	struct dsn_rcpt rc = { .addr = "x@y.test", .action = DSN_ACTION_DELAYED, .status = "4.0.0" };
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	assert_has(buf_str(&out), "Subject: Delivery Status Notification (Delay)\r\n");
	/* no third part: part 2 is followed by the closing boundary */
	assert_has(buf_str(&out), "Status: 4.0.0\r\n\r\n--=_vsmtpd_report_REPORT1--\r\n");
	buf_reset(&out);
	rc.action = DSN_ACTION_RELAYED;
	build(&r, "", &out);
	assert_has(buf_str(&out), "Subject: Delivery Status Notification (Success)\r\n");
	buf_free(&out);
}

static void test_dsn_envid_and_orcpt_xtext_decoded(void **state)
{
	struct dsn_rcpt rc = failed_rcpt;
	rc.orcpt = "rfc822;Nobody+2BTag+3D1@other.test";
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
	r.envid = "QID+2B42";
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	assert_has(buf_str(&out), "Original-Envelope-Id: QID+42\r\n");
	assert_has(buf_str(&out), "\r\nOriginal-Recipient: rfc822; Nobody+Tag=1@other.test\r\n"
				  "Final-Recipient: rfc822; nobody@other.test\r\n");
	/* xtext that decodes to a control character, or is malformed, stays as it was */
	buf_reset(&out);
	rc.orcpt = "rfc822;a+0Db@x.test";
	r.envid = "bad+2";
	build(&r, "", &out);
	assert_has(buf_str(&out), "Original-Recipient: rfc822; a+0Db@x.test\r\n");
	assert_has(buf_str(&out), "Original-Envelope-Id: bad+2\r\n");
	buf_free(&out);
}

static void test_dsn_hostile_values_cannot_add_fields(void **state)
{
	struct dsn_rcpt rc = failed_rcpt;
	rc.diagnostic = "550 bad\r\nX-Injected: yes\r\n\r\n--=_vsmtpd_report_REPORT1--";
	rc.remote_mta = "evil\nBcc: victim@x.test";
	rc.addr = "a\r\nX-Two: 2@x.test";
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
	r.client_helo = "helo\r\nX-Three: 3";
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	const char *t = buf_str(&out);
	assert_lacks(t, "\nX-Injected");
	assert_lacks(t, "\nBcc:");
	assert_lacks(t, "\nX-Two");
	assert_lacks(t, "\nX-Three");
	/* the injected closing boundary sits inside a field value, not on a line of its own */
	assert_lacks(t, "\r\n--=_vsmtpd_report_REPORT1--\r\n\r\n");
	char p[4096];
	part(t, 1, p, sizeof(p));
	assert_fields_only(p);
	buf_free(&out);
}

static void test_dsn_smtputf8_uses_global_types(void **state)
{
	struct dsn_rcpt rc = failed_rcpt;
	rc.addr = "j\xc3\xb6rg@other.test";
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_FULL);
	r.smtputf8 = true;
	struct buf out = BUF_INIT;
	build(&r, ORIGINAL, &out);
	const char *t = buf_str(&out);
	assert_has(t, "Content-Type: text/plain; charset=utf-8\r\n");
	assert_has(t, "Content-Type: message/global-delivery-status\r\n");
	assert_has(t, "Final-Recipient: utf-8; j\xc3\xb6rg@other.test\r\n");
	assert_has(t, "Content-Type: message/global\r\n");
	buf_reset(&out);
	r.include = DSN_INCLUDE_HEADERS;
	build(&r, "Subject: x\r\n\r\n", &out);
	assert_has(buf_str(&out), "Content-Type: message/global-headers\r\n");
	buf_free(&out);
}

static void test_dsn_original_without_final_crlf(void **state)
{
	struct dsn_report r = report(&failed_rcpt, 1, DSN_INCLUDE_FULL);
	struct buf out = BUF_INIT;
	build(&r, "Subject: x\r\n\r\nno newline", &out);
	assert_has(buf_str(&out), "no newline\r\n\r\n--=_vsmtpd_report_REPORT1--\r\n");
	buf_free(&out);
}

static void test_dsn_include_rules(void **state)
{
	/* RFC 3461 4.3 */
	assert_int_equal(dsn_include(SMTP_RET_FULL, 10u << 20, true), DSN_INCLUDE_FULL);
	assert_int_equal(dsn_include(SMTP_RET_HDRS, 10, true), DSN_INCLUDE_HEADERS);
	assert_int_equal(dsn_include(SMTP_RET_NONE, DSN_FULL_DEFAULT_MAX, true), DSN_INCLUDE_FULL);
	assert_int_equal(dsn_include(SMTP_RET_NONE, DSN_FULL_DEFAULT_MAX + 1, true), DSN_INCLUDE_HEADERS);
	/* success and delay reports: headers at most */
	assert_int_equal(dsn_include(SMTP_RET_FULL, 10, false), DSN_INCLUDE_HEADERS);
	assert_int_equal(dsn_include(SMTP_RET_NONE, 10, false), DSN_INCLUDE_HEADERS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_failure_report_exact_fields),
		cmocka_unit_test(test_dsn_mixed_actions_one_block_each),
		cmocka_unit_test(test_dsn_subject_follows_the_worst_outcome),
		cmocka_unit_test(test_dsn_envid_and_orcpt_xtext_decoded),
		cmocka_unit_test(test_dsn_hostile_values_cannot_add_fields),
		cmocka_unit_test(test_dsn_smtputf8_uses_global_types),
		cmocka_unit_test(test_dsn_original_without_final_crlf),
		cmocka_unit_test(test_dsn_include_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
