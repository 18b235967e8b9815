/*
 * test_dsn.c — report messages (dsn.c): the exact fields of RFC 3464, the
 * MIME structure of RFC 6522 (a small checker parses every report: the
 * boundary from the header, each part's Content-Type, the delivery-status
 * body as blocks of "Name: value" fields), what RET returns, xtext decoding
 * of ENVID and ORCPT, RFC 6533 types and addresses for SMTPUTF8, folding,
 * and hostile values that try to add fields or parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dsn.h"
#include "lib/buf.h"
#include "smtp_proto.h"

#define T0 1764384350LL		/* Sat, 29 Nov 2025 02:45:50 +0000 */
#define ORIGINAL "Subject: hi\r\nFrom: <a@example.test>\r\n\r\nbody\r\n"
#define BOUNDARY "=_vsmtpd_report_REPORT1"
#define PARTS_MAX 4
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"

static struct dsn_report report(const struct dsn_rcpt *rc, size_t n, enum dsn_include inc)
{
	return (struct dsn_report){
		.reporting_mta = "mx.example.test", .from = "postmaster@mx.example.test",
		.to = "a@example.test", .report_id = "REPORT1", .orig_id = "ORIG1", .envid = NULL,
		.client_helo = "client.example", .client_addr = "192.0.2.7", .arrival = T0, .now = T0 + 60,
		.include = inc, .rcpts = rc, .n = n,
	};
}

/* The whole report, with original appended between begin and end as the caller does. */
static void build(const struct dsn_report *r, const char *original, struct buf *out)
{
	dsn_report_begin(r, out);
	if (r->include != DSN_INCLUDE_NONE)
		buf_append_str(out, original);
	size_t len = strlen(original);
	dsn_report_end(r, len >= 2 && strcmp(original + len - 2, "\r\n") == 0, out);
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

/* ---- the checker: a report split into its parts, each checked ---------- */

struct mime {
	char boundary[80];
	int nparts;
	char part[PARTS_MAX][8192];	/* each part: its header section, the empty line, its body */
};

/* Lines s[0..len) all end in CRLF (no bare CR or LF) and are at most max bytes long. */
static void check_lines(const char *s, size_t len, size_t max)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r') {
			assert_true(i + 1 < len && s[i + 1] == '\n');
		} else if (s[i] == '\n') {
			assert_true(i > 0 && s[i - 1] == '\r');
			if (i - 1 - start > max)
				fail_msg("line of %zu bytes: %.60s...", i - 1 - start, s + start);
			start = i + 1;
		}
	}
	assert_int_equal(start, len);	/* the last line is ended too */
}

/*
 * Lines of fields from s up to the first empty line (or the end): each is
 * "Name: value" or a continuation starting with a blank; returns where the
 * empty line ends (or the end).
 */
static const char *check_fields(const char *s)
{
	bool first = true;
	while (*s != '\0') {
		const char *eol = strstr(s, "\r\n");
		assert_non_null(eol);
		if (eol == s)
			return s + 2;
		if (*s == ' ' || *s == '\t') {
			assert_false(first);	/* a continuation needs a field before it */
			const char *q = s;
			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			assert_true(q < eol);	/* not blanks only (RFC 5322 3.2.2) */
		} else {
			const char *q = s;
			while (*q != '\0' && strchr(NAME_CHARS, *q) != NULL)
				q++;
			if (q == s || q[0] != ':' || q[1] != ' ')
				fail_msg("not a field: %.*s", (int)(eol - s), s);
		}
		first = false;
		s = eol + 2;
	}
	return s;
}

/* The value of field name in the field lines at s, unfolded, into out ("" when absent). */
static const char *field(const char *s, const char *name, char *out, size_t size)
{
	out[0] = '\0';
	size_t nlen = strlen(name);
	for (const char *p = s; *p != '\0' && strncmp(p, "\r\n", 2) != 0;) {
		const char *eol = strstr(p, "\r\n");
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			size_t n = 0;
			for (const char *q = p + nlen + 2; *q != '\0'; q++) {
				if (q[0] == '\r' && q[1] == '\n' && q[2] != ' ' && q[2] != '\t')
					break;
				if (*q != '\r' && *q != '\n' && n + 1 < size)
					out[n++] = *q;
			}
			out[n] = '\0';
			return out;
		}
		p = eol + 2;
	}
	return out;
}

/* How many fields named name start a line in the block at s (up to its empty line). */
static int count_field(const char *s, const char *name)
{
	int n = 0;
	size_t nlen = strlen(name);
	for (const char *p = s; *p != '\0' && strncmp(p, "\r\n", 2) != 0; p = strstr(p, "\r\n") + 2)
		n += strncmp(p, name, nlen) == 0 && p[nlen] == ':';
	return n;
}

/* The body of a message/delivery-status: a per-message block, then one block per recipient. */
static void check_status_body(const char *body, size_t nrcpts)
{
	char v[1024];
	size_t blocks = 0;
	for (const char *p = body; *p != '\0'; blocks++) {
		if (blocks == 0) {
			assert_int_equal(count_field(p, "Reporting-MTA"), 1);
			assert_int_equal(count_field(p, "Arrival-Date"), 1);
			assert_int_equal(count_field(p, "Final-Recipient"), 0);
		} else {
			assert_int_equal(count_field(p, "Final-Recipient"), 1);
			assert_int_equal(count_field(p, "Action"), 1);
			assert_int_equal(count_field(p, "Status"), 1);
			field(p, "Action", v, sizeof(v));
			assert_true(strcmp(v, "failed") == 0 || strcmp(v, "delayed") == 0 ||
				    strcmp(v, "delivered") == 0 || strcmp(v, "relayed") == 0);
			field(p, "Status", v, sizeof(v));
			assert_true(strlen(v) >= 5 && strchr("245", v[0]) != NULL && v[1] == '.');
		}
		p = check_fields(p);
	}
	assert_int_equal(blocks, nrcpts + 1);
}

/* The next delimiter line at or after from: "--boundary" at the start of a line. */
static const char *next_delim(const char *text, const char *from, const char *delim)
{
	for (const char *p = strstr(from, delim); p != NULL; p = strstr(p + 1, delim))
		if (p >= text + 2 && p[-2] == '\r' && p[-1] == '\n')
			return p;
	return NULL;
}

/*
 * Checks a whole report and splits it into m: a header section of fields
 * naming multipart/report and its boundary; the boundary on lines of its own
 * only, once per part and once closing at the very end; each part's
 * Content-Type as in types; part 2 a delivery-status body for nrcpts.
 */
static void check_report(const struct buf *out, const char *const *types, int ntypes, size_t nrcpts,
			 struct mime *m)
{
	const char *t = buf_str(out);
	char v[1024];
	const char *body = check_fields(t);
	field(t, "Content-Type", v, sizeof(v));
	assert_memory_equal(v, "multipart/report; report-type=delivery-status;", 46);
	const char *bq = strstr(v, "boundary=\"");
	assert_non_null(bq);
	bq += strlen("boundary=\"");
	const char *eq = strchr(bq, '"');
	assert_non_null(eq);
	snprintf(m->boundary, sizeof(m->boundary), "%.*s", (int)(eq - bq), bq);
	assert_true(strlen(m->boundary) >= 1 && strlen(m->boundary) <= 70);

	char delim[96];
	snprintf(delim, sizeof(delim), "--%s", m->boundary);
	/* a delimiter counts at the start of a line only (RFC 2046 5.1.1): elsewhere it is text */
	int seen = 0;
	for (const char *p = next_delim(t, t, delim); p != NULL; p = next_delim(t, p + 1, delim))
		seen++;
	assert_int_equal(seen, ntypes + 1);

	m->nparts = 0;
	const char *p = next_delim(t, body, delim);
	assert_non_null(p);
	while (strncmp(p + strlen(delim), "--", 2) != 0) {
		assert_memory_equal(p + strlen(delim), "\r\n", 2);
		const char *start = p + strlen(delim) + 2;
		const char *next = next_delim(t, start, delim);
		assert_non_null(next);
		assert_true(m->nparts < PARTS_MAX);
		snprintf(m->part[m->nparts], sizeof(m->part[0]), "%.*s", (int)(next - 2 - start), start);
		m->nparts++;
		p = next;
	}
	assert_string_equal(p + strlen(delim), "--\r\n");	/* the closing delimiter ends the report */
	assert_int_equal(m->nparts, ntypes);
	for (int k = 0; k < ntypes; k++) {
		field(m->part[k], "Content-Type", v, sizeof(v));
		size_t tl = strlen(types[k]);
		if (strncmp(v, types[k], tl) != 0 || (v[tl] != '\0' && v[tl] != ';'))
			fail_msg("part %d is \"%s\", not %s", k + 1, v, types[k]);
		const char *pb = check_fields(m->part[k]);
		if (k == 1)
			check_status_body(pb, nrcpts);
	}
	check_lines(t, out->len, 998);
}

/* The body of part k (after its header section). */
static const char *part_body(const struct mime *m, int k)
{
	const char *p = strstr(m->part[k], "\r\n\r\n");
	assert_non_null(p);
	return p + 4;
}

/* No byte of s[0..len) is 8-bit. */
static void assert_7bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			fail_msg("8-bit byte at %zu: %.40s", i, s + i);
}

static const char *const FULL_TYPES[] = { "text/plain", "message/delivery-status", "message/rfc822" };
static const char *const HDRS_TYPES[] = { "text/plain", "message/delivery-status", "text/rfc822-headers" };
static const char *const GLOBAL_TYPES[] = { "text/plain", "message/global-delivery-status",
					    "message/global" };
static const char *const GHDRS_TYPES[] = { "text/plain", "message/global-delivery-status",
					   "message/global-headers" };

static const struct dsn_rcpt failed_rcpt = {
	.addr = "nobody@other.test", .action = DSN_ACTION_FAILED, .status = "5.1.1",
	.remote_mta = "mx.other.test", .diagnostic = "550 5.1.1 no such user", .last_attempt = T0 + 60,
};

/* ---- tests --------------------------------------------------------------- */

static void test_dsn_failure_report_exact_fields(void **state)
{
	struct dsn_report r = report(&failed_rcpt, 1, DSN_INCLUDE_FULL);
	struct buf out = BUF_INIT;
	build(&r, ORIGINAL, &out);
	struct mime m;
	check_report(&out, FULL_TYPES, 3, 1, &m);
	assert_7bit(out.data, out.len);

	const char *head = "Date: Sat, 29 Nov 2025 02:46:50 +0000\r\n"
			   "From: Mail Delivery System <postmaster@mx.example.test>\r\n"
			   "To: <a@example.test>\r\n"
			   "Subject: Delivery Status Notification (Failure)\r\n"
			   "Message-ID: <REPORT1@mx.example.test>\r\n"
			   "Auto-Submitted: auto-replied\r\n"
			   "MIME-Version: 1.0\r\n"
			   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
			   "\tboundary=\"" BOUNDARY "\"\r\n\r\n";
	assert_memory_equal(out.data, head, strlen(head));
	assert_string_equal(m.boundary, BOUNDARY);
	assert_string_equal(m.part[0], "Content-Type: text/plain; charset=us-ascii\r\n"
				       "Content-Transfer-Encoding: 7bit\r\n"
				       "Content-Description: Notification\r\n\r\n"
				       "This is the mail system at mx.example.test.\r\n\r\n"
				       "This report is about your message ORIG1,\r\n"
				       "received on Sat, 29 Nov 2025 02:45:50 +0000.\r\n\r\n"
				       "Your message could not be delivered to the recipients below.\r\n"
				       "It will not be tried again.\r\n\r\n"
				       "  <nobody@other.test>: failed (5.1.1)\r\n"
				       "      mx.other.test said: 550 5.1.1 no such user\r\n\r\n"
				       "The machine-readable report and your message follow.\r\n");
	assert_string_equal(m.part[1], "Content-Type: message/delivery-status\r\n"
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
	assert_string_equal(m.part[2], "Content-Type: message/rfc822\r\n"
				       "Content-Description: Undelivered message\r\n\r\n" ORIGINAL);
	buf_free(&out);
}

static void test_dsn_mixed_actions_one_block_each(void **state)
{
	const struct dsn_rcpt rc[] = {
		{ .addr = "r@far.test", .action = DSN_ACTION_RELAYED, .status = "2.0.0",
		  .remote_mta = "mx.far.test" },
		{ .addr = "u@example.test", .action = DSN_ACTION_DELIVERED, .status = "2.0.0" },
		{ .addr = "late@other.test", .action = DSN_ACTION_DELAYED, .status = "4.4.1",
		  .diagnostic = "451 4.4.1 no answer", .retry_until = T0 + 86400 },
		failed_rcpt,
		{ .addr = "gone@other.test", .action = DSN_ACTION_FAILED, .status = "5.2.1",
		  .diagnostic = "550 5.2.1 disabled" },
	};
	struct dsn_report r = report(rc, 5, DSN_INCLUDE_HEADERS);
	struct buf out = BUF_INIT;
	build(&r, "Subject: hi\r\n\r\n", &out);
	struct mime m;
	check_report(&out, HDRS_TYPES, 3, 5, &m);
	assert_has(out.data, "Subject: Delivery Status Notification (Failure)\r\n");
	/* the machine-readable blocks keep the order of the recipients */
	const char *b = part_body(&m, 1);
	const char *r1 = strstr(b, "\r\n\r\nFinal-Recipient: rfc822; r@far.test\r\nAction: relayed\r\n"
				   "Status: 2.0.0\r\nRemote-MTA: dns; mx.far.test\r\n\r\n");
	const char *r2 = strstr(b, "\r\n\r\nFinal-Recipient: rfc822; u@example.test\r\nAction: delivered\r\n"
				   "Status: 2.0.0\r\n\r\n");
	const char *r3 = strstr(b, "\r\n\r\nFinal-Recipient: rfc822; late@other.test\r\nAction: delayed\r\n"
				   "Status: 4.4.1\r\nDiagnostic-Code: smtp; 451 4.4.1 no answer\r\n"
				   "Will-Retry-Until: Sun, 30 Nov 2025 02:45:50 +0000\r\n\r\n");
	const char *r4 = strstr(b, "\r\n\r\nFinal-Recipient: rfc822; nobody@other.test\r\n"
				   "Action: failed\r\n");
	const char *r5 = strstr(b, "\r\n\r\nFinal-Recipient: rfc822; gone@other.test\r\nAction: failed\r\n"
				   "Status: 5.2.1\r\nDiagnostic-Code: smtp; 550 5.2.1 disabled\r\n");
	assert_true(r1 != NULL && r2 > r1 && r3 > r2 && r4 > r3 && r5 > r4);
	/* the human text groups them: failed, delayed, delivered, relayed */
	const char *text = part_body(&m, 0);
	const char *f1 = strstr(text, "It will not be tried again.\r\n\r\n"
				      "  <nobody@other.test>: failed (5.1.1)\r\n"
				      "      mx.other.test said: 550 5.1.1 no such user\r\n"
				      "  <gone@other.test>: failed (5.2.1)\r\n"
				      "      550 5.2.1 disabled\r\n");
	const char *f2 = strstr(text, "  <late@other.test>: not delivered yet (4.4.1)\r\n"
				      "      451 4.4.1 no answer\r\n"
				      "      It will be tried until Sun, 30 Nov 2025 02:45:50 +0000.\r\n");
	const char *f3 = strstr(text, "recipients below.\r\n\r\n  <u@example.test>: delivered\r\n");
	const char *f4 = strstr(text, "nothing more of it.\r\n\r\n"
				      "  <r@far.test>: passed on to mx.far.test\r\n");
	assert_true(f1 != NULL && f2 > f1 && f3 > f2 && f4 > f3);
	assert_has(text, "The machine-readable report and the header of your message follow.");
	assert_string_equal(part_body(&m, 2), "Subject: hi\r\n\r\n");
	check_lines(m.part[0], strlen(m.part[0]), 78);
	check_lines(m.part[1], strlen(m.part[1]), 78);
	buf_free(&out);
}

static void test_dsn_delay_report(void **state)
{
	struct dsn_rcpt rc = { .addr = "x@y.test", .action = DSN_ACTION_DELAYED, .status = "4.4.7",
			       .remote_mta = "mx.y.test", .diagnostic = "421 4.4.7 busy",
			       .last_attempt = T0 + 3600, .retry_until = T0 + 5 * 86400 };
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_HEADERS);
	r.client_addr = NULL;
	struct buf out = BUF_INIT;
	build(&r, ORIGINAL, &out);
	struct mime m;
	check_report(&out, HDRS_TYPES, 3, 1, &m);
	assert_has(out.data, "Subject: Delivery Status Notification (Delay)\r\n");
	assert_string_equal(part_body(&m, 1), "Reporting-MTA: dns; mx.example.test\r\n"
					      "Received-From-MTA: dns; client.example\r\n"
					      "Arrival-Date: Sat, 29 Nov 2025 02:45:50 +0000\r\n\r\n"
					      "Final-Recipient: rfc822; x@y.test\r\n"
					      "Action: delayed\r\n"
					      "Status: 4.4.7\r\n"
					      "Remote-MTA: dns; mx.y.test\r\n"
					      "Diagnostic-Code: smtp; 421 4.4.7 busy\r\n"
					      "Last-Attempt-Date: Sat, 29 Nov 2025 03:45:50 +0000\r\n"
					      "Will-Retry-Until: Thu, 4 Dec 2025 02:45:50 +0000\r\n");
	assert_has(part_body(&m, 0), "It will be tried until Thu, 4 Dec 2025 02:45:50 +0000.\r\n");
	/* the headers only: what was given, up to and including the empty line */
	assert_string_equal(part_body(&m, 2), ORIGINAL);
	buf_reset(&out);
	/* Will-Retry-Until is for delayed recipients only; no HELO, no Received-From-MTA */
	rc.action = DSN_ACTION_FAILED;
	rc.status = "5.4.7";
	r.client_helo = NULL;
	r.client_addr = "192.0.2.7";
	build(&r, ORIGINAL, &out);
	check_report(&out, HDRS_TYPES, 3, 1, &m);
	assert_lacks(out.data, "Will-Retry-Until");
	assert_lacks(out.data, "tried until");
	assert_lacks(out.data, "Received-From-MTA");
	buf_free(&out);
}

static void test_dsn_success_report_without_original(void **state)
{
	const struct dsn_rcpt rc[] = {
		{ .addr = "u@example.test", .action = DSN_ACTION_DELIVERED, .status = "2.0.0" },
		{ .addr = "r@far.test", .action = DSN_ACTION_RELAYED, .status = "2.0.0",
		  .remote_mta = "mx.far.test", .diagnostic = "250 2.0.0 queued as X", .last_attempt = T0 },
	};
	struct dsn_report r = report(rc, 2, DSN_INCLUDE_NONE);
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	struct mime m;
	check_report(&out, FULL_TYPES, 2, 2, &m);	/* no third part */
	assert_has(out.data, "Subject: Delivery Status Notification (Success)\r\n");
	assert_has(part_body(&m, 0), "The machine-readable report and nothing else follow.");
	/* part 2 is followed by the closing boundary, whatever the caller said of the original */
	const char *tail = "Last-Attempt-Date: Sat, 29 Nov 2025 02:45:50 +0000\r\n\r\n--" BOUNDARY "--\r\n";
	assert_string_equal(out.data + out.len - strlen(tail), tail);
	buf_reset(&out);
	dsn_report_begin(&r, &out);
	dsn_report_end(&r, false, &out);
	assert_string_equal(out.data + out.len - strlen(tail), tail);
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
	assert_has(out.data, "\r\nOriginal-Envelope-Id: QID+42\r\n");
	assert_has(out.data, "\r\n\r\nOriginal-Recipient: rfc822; Nobody+Tag=1@other.test\r\n"
			     "Final-Recipient: rfc822; nobody@other.test\r\n");

	static const struct {
		const char *orcpt, *envid, *want_orcpt, *want_envid;
	} kept[] = {
		/* decodes to a control character: kept as it was */
		{ "rfc822;a+0Db@x.test", "id+0A+0D", "rfc822; a+0Db@x.test", "id+0A+0D" },
		/* malformed: "+" at the end, one digit, lower case hex */
		{ "rfc822;a+@x.test", "bad+2", "rfc822; a+@x.test", "bad+2" },
		{ "rfc822;a+2b@x.test", "x+3d", "rfc822; a+2b@x.test", "x+3d" },
		/* decodes to 8-bit: kept as it was */
		{ "rfc822;j+C3+B6rg@x.test", "+FF", "rfc822; j+C3+B6rg@x.test", "+FF" },
		/* the type is kept as given */
		{ "RFC822;b+40c@x.test", "e", "RFC822; b@c@x.test", "e" },
		{ "x-local;who+20else", "e", "x-local; who else", "e" },
	};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		char want[256];
		buf_reset(&out);
		rc.orcpt = kept[i].orcpt;
		r.envid = kept[i].envid;
		build(&r, "", &out);
		snprintf(want, sizeof(want), "\r\nOriginal-Recipient: %s\r\n", kept[i].want_orcpt);
		assert_has(out.data, want);
		snprintf(want, sizeof(want), "\r\nOriginal-Envelope-Id: %s\r\n", kept[i].want_envid);
		assert_has(out.data, want);
	}
	/* an ORCPT without a type is not as stored: no Original-Recipient; an empty ENVID: no field */
	buf_reset(&out);
	rc.orcpt = "just-text";
	r.envid = "";
	build(&r, "", &out);
	assert_lacks(out.data, "Original-Recipient");
	assert_lacks(out.data, "Original-Envelope-Id");
	buf_free(&out);
}

static void test_dsn_long_xtext_is_cut_not_overflowed(void **state)
{
	/* 2000 "+41" decode to 2000 "A": more than any stack buffer a decoder might use */
	struct buf envid = BUF_INIT, orcpt = BUF_INIT;
	buf_append_str(&orcpt, "rfc822;");
	for (int i = 0; i < 2000; i++) {
		buf_append_str(&envid, "+41");
		buf_append_str(&orcpt, "+42");
	}
	struct dsn_rcpt rc = failed_rcpt;
	rc.orcpt = buf_str(&orcpt);
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
	r.envid = buf_str(&envid);
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	struct mime m;
	check_report(&out, FULL_TYPES, 2, 1, &m);	/* every line within 998 */
	assert_has(out.data, "\r\nOriginal-Envelope-Id: AAAAAAAAAA");
	assert_has(out.data, "\r\nOriginal-Recipient: rfc822; BBBBBBBBBB");
	buf_free(&out);
	buf_free(&envid);
	buf_free(&orcpt);
}

static void test_dsn_hostile_values_cannot_add_fields(void **state)
{
	struct dsn_rcpt rc = failed_rcpt;
	rc.diagnostic = "550 bad\r\nX-Injected: yes\r\n\r\n--" BOUNDARY "--";
	rc.remote_mta = "evil\nBcc: victim@x.test";
	rc.addr = "a\r\nX-Two: 2@x.test";
	rc.orcpt = "rfc822\r\nX-Four:;x\rX-Five: 5";
	rc.status = "5.1.1\r\nX-Six: 6";
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_HEADERS);
	r.client_helo = "helo\r\nX-Three: 3";
	r.client_addr = "1.2.3.4\r\n\r\nbody";
	r.envid = "e\r\n\r\n--" BOUNDARY;
	r.to = "a@x.test>\r\nX-Seven: 7";
	r.orig_id = "ID\r\n\r\n--" BOUNDARY "--";
	r.report_id = "REPORT1";
	struct buf out = BUF_INIT;
	build(&r, "Subject: x\r\n\r\n", &out);
	struct mime m;
	check_report(&out, HDRS_TYPES, 3, 1, &m);	/* still three parts, one recipient */
	for (const char *const *f = (const char *const[]){ "X-Injected", "Bcc", "X-Two", "X-Three", "X-Four",
							    "X-Five", "X-Six", "X-Seven", NULL };
	     *f != NULL; f++) {
		char line_start[32];
		snprintf(line_start, sizeof(line_start), "\n%s", *f);
		assert_lacks(out.data, line_start);
	}
	/* a status that is not one is replaced by the action's generic one */
	assert_has(out.data, "\r\nStatus: 5.0.0\r\n");
	buf_free(&out);
}

static void test_dsn_hostile_report_id_makes_a_safe_boundary(void **state)
{
	struct dsn_report r = report(&failed_rcpt, 1, DSN_INCLUDE_FULL);
	r.report_id = "ab\"c d\r\n--x;=";
	struct buf out = BUF_INIT;
	build(&r, ORIGINAL, &out);
	struct mime m;
	check_report(&out, FULL_TYPES, 3, 1, &m);
	assert_string_equal(m.boundary, "=_vsmtpd_report_ab_c_d__--x__");
	assert_has(out.data, "\r\nMessage-ID: <ab\"c d  --x;=@mx.example.test>\r\n");
	buf_free(&out);
}

static void test_dsn_8bit_replaced_without_smtputf8(void **state)
{
	struct dsn_rcpt rc = failed_rcpt;
	rc.diagnostic = "550 5.1.1 unbekannter Empf\xc3\xa4nger \xff";
	rc.addr = "j\xc3\xb6rg+x=y\\z@other.test";
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	struct mime m;
	check_report(&out, FULL_TYPES, 2, 1, &m);
	assert_7bit(out.data, out.len);
	assert_has(out.data, "Content-Type: text/plain; charset=us-ascii\r\n"
			     "Content-Transfer-Encoding: 7bit\r\n");
	assert_has(out.data, "\r\nDiagnostic-Code: smtp; 550 5.1.1 unbekannter Empf??nger ?\r\n");
	/* RFC 6533 3: utf-8-addr-xtext, the 7-bit form of a UTF-8 address */
	assert_has(out.data, "\r\nFinal-Recipient: utf-8; j\\x{F6}rg\\x{2B}x\\x{3D}y\\x{5C}z@other.test\r\n");
	assert_has(part_body(&m, 0), "  <j??rg+x=y\\z@other.test>: failed (5.1.1)\r\n");
	buf_free(&out);
}

static void test_dsn_smtputf8_uses_global_types(void **state)
{
	struct dsn_rcpt rc[] = { failed_rcpt, failed_rcpt };
	rc[0].addr = "j\xc3\xb6rg@other.test";
	rc[0].orcpt = "utf-8;j\xc3\xb6rg@other.test";
	rc[0].diagnostic = "550 5.1.1 \xe2\x9c\x97 gibt es nicht \xc3\x28 \xed\xa0\x80";
	struct dsn_report r = report(rc, 2, DSN_INCLUDE_FULL);
	r.smtputf8 = true;
	r.to = "s\xc3\xa9nder@example.test";
	struct buf out = BUF_INIT;
	build(&r, ORIGINAL, &out);
	struct mime m;
	check_report(&out, GLOBAL_TYPES, 3, 2, &m);
	assert_has(out.data, "\r\nTo: <s\xc3\xa9nder@example.test>\r\n");
	assert_has(m.part[0], "Content-Type: text/plain; charset=utf-8\r\n"
			      "Content-Transfer-Encoding: 8bit\r\n");
	assert_has(m.part[0], "  <j\xc3\xb6rg@other.test>: failed (5.1.1)\r\n");
	assert_has(m.part[1], "\r\n\r\nOriginal-Recipient: utf-8; j\xc3\xb6rg@other.test\r\n"
			      "Final-Recipient: utf-8; j\xc3\xb6rg@other.test\r\n");
	/* ASCII addresses stay rfc822 */
	assert_has(m.part[1], "\r\nFinal-Recipient: rfc822; nobody@other.test\r\n");
	/* well-formed UTF-8 is kept, a bad sequence or a surrogate is not */
	assert_has(m.part[1], "\r\nDiagnostic-Code: smtp; 550 5.1.1 \xe2\x9c\x97 gibt es nicht ?( ???\r\n");
	assert_string_equal(part_body(&m, 2), ORIGINAL);
	buf_reset(&out);
	r.include = DSN_INCLUDE_HEADERS;
	build(&r, "Subject: x\r\n\r\n", &out);
	check_report(&out, GHDRS_TYPES, 3, 2, &m);
	/* an SMTPUTF8 report with nothing 8-bit to say says it in us-ascii */
	buf_reset(&out);
	r.to = "a@example.test";
	r.rcpts = &failed_rcpt;
	r.n = 1;
	build(&r, "Subject: x\r\n\r\n", &out);
	check_report(&out, GHDRS_TYPES, 3, 1, &m);
	assert_has(m.part[0], "Content-Type: text/plain; charset=us-ascii\r\n");
	buf_free(&out);
}

static void test_dsn_long_values_folded(void **state)
{
	const char *diag = "550-5.1.1 The email account that you tried to reach does not exist. Please "
			   "try double-checking the recipient's email address for typos or unnecessary "
			   "spaces. 550 5.1.1 https://support.example.test/mail/?p=NoSuchUser-a-long-url-"
			   "without-any-blanks-in-it-at-all-abcdefghijklmnopqrstuvwxyz   ";
	struct dsn_rcpt rc = failed_rcpt;
	rc.diagnostic = diag;
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	struct mime m;
	check_report(&out, FULL_TYPES, 2, 1, &m);
	/* folded before blanks: unfolding gives the value back (trailing blanks dropped) */
	char v[1024], want[1024];
	const char *block = strstr(part_body(&m, 1), "\r\n\r\n") + 4;
	field(block, "Diagnostic-Code", v, sizeof(v));
	snprintf(want, sizeof(want), "smtp; %.*s", (int)strlen(diag) - 3, diag);
	assert_string_equal(v, want);
	assert_has(block, "\r\nDiagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach\r\n"
			  " does not exist.");
	/* every line within 78 but the one holding a word longer than that */
	for (const char *p = m.part[1]; *p != '\0';) {
		const char *eol = strstr(p, "\r\n");
		if (eol - p > 78)
			assert_non_null(memmem(p, (size_t)(eol - p), "abcdefghijklmnopqrstuvwxyz", 26));
		p = eol + 2;
	}
	/* the text part wraps it too, indented */
	assert_has(part_body(&m, 0), "      mx.other.test said: 550-5.1.1 The email account that you"
				     " tried to\r\n      reach does not exist.");
	buf_free(&out);

	/* a value without blanks is cut short of the 998 limit */
	struct buf big = BUF_INIT;
	buf_append_str(&big, "550 ");
	for (int i = 0; i < 3000; i++)
		buf_append_char(&big, (char)('a' + i % 26));
	rc.diagnostic = buf_str(&big);
	build(&r, "", &out);
	check_report(&out, FULL_TYPES, 2, 1, &m);	/* no line over 998 */
	/* (and not folded before its long word: that would only add a short line) */
	assert_has(out.data, "\r\nDiagnostic-Code: smtp; 550 abcdefghij");
	buf_free(&out);
	buf_free(&big);
}

static void test_dsn_status_defaults(void **state)
{
	static const struct {
		enum dsn_action action;
		const char *given, *want;
	} cases[] = {
		{ DSN_ACTION_FAILED, NULL, "5.0.0" },	  { DSN_ACTION_FAILED, "", "5.0.0" },
		{ DSN_ACTION_FAILED, "5.1", "5.0.0" },	  { DSN_ACTION_FAILED, "3.1.1", "5.0.0" },
		{ DSN_ACTION_FAILED, "5.1.1234", "5.0.0" }, { DSN_ACTION_FAILED, "5.1.1 ", "5.0.0" },
		{ DSN_ACTION_DELAYED, "x", "4.0.0" },	  { DSN_ACTION_DELIVERED, NULL, "2.0.0" },
		{ DSN_ACTION_RELAYED, NULL, "2.0.0" },	  { DSN_ACTION_FAILED, "4.4.1", "4.4.1" },
		{ DSN_ACTION_FAILED, "5.123.999", "5.123.999" },
	};
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsn_rcpt rc = { .addr = "x@y.test", .action = cases[i].action,
				       .status = cases[i].given };
		struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
		char want[64];
		buf_reset(&out);
		build(&r, "", &out);
		snprintf(want, sizeof(want), "\r\nStatus: %s\r\n", cases[i].want);
		assert_has(out.data, want);
	}
	buf_free(&out);
}

static void test_dsn_dates(void **state)
{
	struct dsn_rcpt rc = failed_rcpt;
	rc.last_attempt = 951782400;	/* a leap day */
	struct dsn_report r = report(&rc, 1, DSN_INCLUDE_NONE);
	r.now = 0;
	r.arrival = 4102444799LL;	/* the last second of 2099 */
	struct buf out = BUF_INIT;
	build(&r, "", &out);
	assert_memory_equal(out.data, "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n", 38);
	assert_has(out.data, "\r\nArrival-Date: Thu, 31 Dec 2099 23:59:59 +0000\r\n");
	assert_has(out.data, "\r\nLast-Attempt-Date: Tue, 29 Feb 2000 00:00:00 +0000\r\n");
	buf_reset(&out);
	rc.last_attempt = 0;	/* no attempt: no field */
	build(&r, "", &out);
	assert_lacks(out.data, "Last-Attempt-Date");
	buf_free(&out);
}

static void test_dsn_original_without_final_crlf(void **state)
{
	struct dsn_report r = report(&failed_rcpt, 1, DSN_INCLUDE_FULL);
	struct buf out = BUF_INIT;
	build(&r, "Subject: x\r\n\r\nno newline", &out);
	struct mime m;
	check_report(&out, FULL_TYPES, 3, 1, &m);
	assert_has(out.data, "no newline\r\n\r\n--" BOUNDARY "--\r\n");
	assert_string_equal(part_body(&m, 2), "Subject: x\r\n\r\nno newline\r\n");
	buf_free(&out);
}

static void test_dsn_include_rules(void **state)
{
	/* RFC 3461 4.3 */
	assert_int_equal(dsn_include(SMTP_RET_FULL, 10u << 20, true), DSN_INCLUDE_FULL);
	assert_int_equal(dsn_include(SMTP_RET_HDRS, 10, true), DSN_INCLUDE_HEADERS);
	assert_int_equal(dsn_include(SMTP_RET_NONE, DSN_FULL_DEFAULT_MAX, true), DSN_INCLUDE_FULL);
	assert_int_equal(dsn_include(SMTP_RET_NONE, DSN_FULL_DEFAULT_MAX + 1, true), DSN_INCLUDE_HEADERS);
	assert_int_equal(dsn_include(SMTP_RET_NONE, 0, true), DSN_INCLUDE_FULL);
	/* success and delay reports: headers at most */
	assert_int_equal(dsn_include(SMTP_RET_FULL, 10, false), DSN_INCLUDE_HEADERS);
	assert_int_equal(dsn_include(SMTP_RET_HDRS, 10, false), DSN_INCLUDE_HEADERS);
	assert_int_equal(dsn_include(SMTP_RET_NONE, 10, false), DSN_INCLUDE_HEADERS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_failure_report_exact_fields),
		cmocka_unit_test(test_dsn_mixed_actions_one_block_each),
		cmocka_unit_test(test_dsn_delay_report),
		cmocka_unit_test(test_dsn_success_report_without_original),
		cmocka_unit_test(test_dsn_envid_and_orcpt_xtext_decoded),
		cmocka_unit_test(test_dsn_long_xtext_is_cut_not_overflowed),
		cmocka_unit_test(test_dsn_hostile_values_cannot_add_fields),
		cmocka_unit_test(test_dsn_hostile_report_id_makes_a_safe_boundary),
		cmocka_unit_test(test_dsn_8bit_replaced_without_smtputf8),
		cmocka_unit_test(test_dsn_smtputf8_uses_global_types),
		cmocka_unit_test(test_dsn_long_values_folded),
		cmocka_unit_test(test_dsn_status_defaults),
		cmocka_unit_test(test_dsn_dates),
		cmocka_unit_test(test_dsn_original_without_final_crlf),
		cmocka_unit_test(test_dsn_include_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
