/*
 * dsn.c — delivery status notification messages (see dsn.h).
 *
 * Builds the text of a report; the caller streams the original between
 * dsn_report_begin() and dsn_report_end(). Every value that comes from
 * the envelope (addresses, ENVID, ORCPT, replies of other servers) is
 * sanitised before it goes into a header field, so nothing a client or a
 * remote server sent can add a field or a MIME part.
 * RFC 3461 4 (xtext), 4.3 (RET); RFC 3464 2 (fields); RFC 6522 (the
 * report type); RFC 6533 (utf-8 addresses, global types); RFC 3834
 * (Auto-Submitted); RFC 5322 3.3 (dates).
 */
#include "dsn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smtp_proto.h"

#define DSN_BOUNDARY_MAX 64

enum dsn_include dsn_include(int ret, unsigned long long content_len, bool any_failed)
{
	enum dsn_include full_or_headers;
	switch (ret) {
	case SMTP_RET_FULL:
		full_or_headers = DSN_INCLUDE_FULL;
		break;
	case SMTP_RET_HDRS:
		full_or_headers = DSN_INCLUDE_HEADERS;
		break;
	default:
		full_or_headers = content_len <= DSN_FULL_DEFAULT_MAX ? DSN_INCLUDE_FULL : DSN_INCLUDE_HEADERS;
		break;
	}
	return any_failed ? full_or_headers : DSN_INCLUDE_HEADERS;
}

/* Appends s with every control character (CR and LF above all) made a space. */
static void put_clean(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		buf_append_char(out, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
}

/* "Name: value\r\n" with value cleaned; nothing when value is NULL or "". */
static void put_field(struct buf *out, const char *name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	buf_append_str(out, name);
	put_clean(out, value);
	buf_append_str(out, "\r\n");
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Appends xtext s decoded (RFC 3461 4: "+XX" is the byte 0xXX) when the
 * result is printable ASCII; else s as it is (cleaned).
 */
static void put_xtext(struct buf *out, const char *s)
{
	char decoded[1024];
	size_t n = 0;
	bool ok = true;
	for (const char *p = s; *p != '\0' && ok; p++) {
		int c = (unsigned char)*p;
		if (*p == '+') {
			int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
			if (lo < 0) {
				ok = false;
				break;
			}
			c = hi * 16 + lo;
			p += 2;
		}
		ok = c >= 0x20 && c < 0x7f && n + 1 < sizeof(decoded);
		decoded[n++] = (char)c;
	}
	decoded[n] = '\0';
	put_clean(out, ok ? decoded : s);
}

static bool is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* "rfc822; addr", or "utf-8; addr" for a non-ASCII address (RFC 6533 3). */
static void put_address(struct buf *out, const char *addr)
{
	buf_append_str(out, is_ascii(addr) ? "rfc822; " : "utf-8; ");
	put_clean(out, addr);
}

/* "Sun, 29 Nov 2026 02:45:50 +0000" (RFC 5322 3.3, in UTC). */
static void put_date_value(struct buf *out, long long when)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)when;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	buf_printf(out, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
		   months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "Field: date\r\n" */
static void put_date(struct buf *out, const char *field, long long when)
{
	buf_printf(out, "%s: ", field);
	put_date_value(out, when);
	buf_append_str(out, "\r\n");
}

static void boundary(const struct dsn_report *r, char out[DSN_BOUNDARY_MAX])
{
	/* "=_" never occurs in base64, and in quoted-printable only as a broken escape. */
	snprintf(out, DSN_BOUNDARY_MAX, "=_vsmtpd_report_%.24s", r->report_id);
}

static bool any_action(const struct dsn_report *r, enum dsn_action a)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->rcpts[i].action == a)
			return true;
	return false;
}

static const char *action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_ACTION_FAILED:
		return "failed";
	case DSN_ACTION_DELAYED:
		return "delayed";
	case DSN_ACTION_DELIVERED:
		return "delivered";
	case DSN_ACTION_RELAYED:
		return "relayed";
	}
	return "failed";
}

/* The human-readable part: one paragraph per kind of outcome. */
static void put_text(const struct dsn_report *r, struct buf *out)
{
	static const struct {
		enum dsn_action action;
		const char *says;
	} kinds[] = {
		{ DSN_ACTION_FAILED, "Your message could not be delivered to the recipients below.\r\n"
				     "It will not be tried again." },
		{ DSN_ACTION_DELAYED, "Your message has not been delivered yet to the recipients below.\r\n"
				      "Nothing needs to be done: it is still being tried, and you\r\n"
				      "will be told if it fails." },
		{ DSN_ACTION_DELIVERED, "Your message was delivered to the mailboxes of the recipients below." },
		{ DSN_ACTION_RELAYED, "Your message was passed on to the mail servers of the recipients\r\n"
				      "below. They do not send reports like this one: you may hear\r\n"
				      "nothing more of it." },
	};
	buf_append_str(out, "This is the mail system at ");
	put_clean(out, r->reporting_mta);
	buf_append_str(out, ".\r\n\r\nThis report is about your message ");
	put_clean(out, r->orig_id);
	buf_append_str(out, ",\r\nreceived on ");
	put_date_value(out, r->arrival);
	buf_append_str(out, ".\r\n");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (!any_action(r, kinds[k].action))
			continue;
		buf_append_str(out, "\r\n");
		buf_append_str(out, kinds[k].says);
		buf_append_str(out, "\r\n\r\n");
		for (size_t i = 0; i < r->n; i++) {
			const struct dsn_rcpt *rc = &r->rcpts[i];
			if (rc->action != kinds[k].action)
				continue;
			buf_append_str(out, "  <");
			put_clean(out, rc->addr);
			buf_append_str(out, ">");
			if (rc->remote_mta != NULL) {
				buf_append_str(out, " (at ");
				put_clean(out, rc->remote_mta);
				buf_append_str(out, ")");
			}
			buf_append_str(out, "\r\n");
			if (rc->diagnostic != NULL) {
				buf_append_str(out, "      ");
				put_clean(out, rc->diagnostic);
				buf_append_str(out, "\r\n");
			}
		}
	}
	buf_append_str(out, "\r\nThe machine-readable report and ");
	buf_append_str(out, r->include == DSN_INCLUDE_FULL ? "your message"
			    : r->include == DSN_INCLUDE_HEADERS ? "the header of your message"
								: "nothing else");
	buf_append_str(out, " follow.\r\n");
}

/* The message/delivery-status body (RFC 3464 2.2, 2.3). */
static void put_status(const struct dsn_report *r, struct buf *out)
{
	put_field(out, "Reporting-MTA: dns; ", r->reporting_mta);
	if (r->envid != NULL && r->envid[0] != '\0') {
		buf_append_str(out, "Original-Envelope-Id: ");
		put_xtext(out, r->envid);
		buf_append_str(out, "\r\n");
	}
	if (r->client_helo != NULL && r->client_helo[0] != '\0') {
		buf_append_str(out, "Received-From-MTA: dns; ");
		put_clean(out, r->client_helo);
		if (r->client_addr != NULL && r->client_addr[0] != '\0') {
			buf_append_str(out, " ([");
			put_clean(out, r->client_addr);
			buf_append_str(out, "])");
		}
		buf_append_str(out, "\r\n");
	}
	put_date(out, "Arrival-Date", r->arrival);
	for (size_t i = 0; i < r->n; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		buf_append_str(out, "\r\n");
		const char *semi = rc->orcpt != NULL ? strchr(rc->orcpt, ';') : NULL;
		if (semi != NULL) {
			buf_append_str(out, "Original-Recipient: ");
			char type[32];
			snprintf(type, sizeof(type), "%.*s", (int)(semi - rc->orcpt < 31 ? semi - rc->orcpt : 31),
				 rc->orcpt);
			put_clean(out, type);
			buf_append_str(out, "; ");
			put_xtext(out, semi + 1);
			buf_append_str(out, "\r\n");
		}
		buf_append_str(out, "Final-Recipient: ");
		put_address(out, rc->addr);
		buf_printf(out, "\r\nAction: %s\r\n", action_name(rc->action));
		put_field(out, "Status: ", rc->status);
		put_field(out, "Remote-MTA: dns; ", rc->remote_mta);
		put_field(out, "Diagnostic-Code: smtp; ", rc->diagnostic);
		if (rc->last_attempt != 0)
			put_date(out, "Last-Attempt-Date", rc->last_attempt);
		if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0)
			put_date(out, "Will-Retry-Until", rc->retry_until);
	}
}

void dsn_report_begin(const struct dsn_report *r, struct buf *out)
{
	char b[DSN_BOUNDARY_MAX];
	boundary(r, b);
	const char *subject = any_action(r, DSN_ACTION_FAILED)	   ? "Failure"
			      : any_action(r, DSN_ACTION_DELAYED) ? "Delay"
								  : "Success";
	put_date(out, "Date", r->now);
	buf_append_str(out, "From: Mail Delivery System <");
	put_clean(out, r->from);
	buf_append_str(out, ">\r\nTo: <");
	put_clean(out, r->to);
	buf_printf(out, ">\r\nSubject: Delivery Status Notification (%s)\r\nMessage-ID: <", subject);
	put_clean(out, r->report_id);
	buf_append_str(out, "@");
	put_clean(out, r->reporting_mta);
	buf_printf(out, ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
			"Content-Type: multipart/report; report-type=delivery-status;\r\n"
			"\tboundary=\"%s\"\r\n\r\n"
			"This is a MIME-encapsulated message.\r\n\r\n"
			"--%s\r\nContent-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: 8bit\r\n"
			"Content-Description: Notification\r\n\r\n",
		   b, b, r->smtputf8 ? "utf-8" : "us-ascii");
	put_text(r, out);
	buf_printf(out, "\r\n--%s\r\nContent-Type: message/%sdelivery-status\r\n"
			"Content-Description: Delivery report\r\n\r\n",
		   b, r->smtputf8 ? "global-" : "");
	put_status(r, out);
	switch (r->include) {
	case DSN_INCLUDE_NONE:
		return;
	case DSN_INCLUDE_FULL:
		buf_printf(out, "\r\n--%s\r\nContent-Type: message/%s\r\n"
				"Content-Description: Undelivered message\r\n\r\n",
			   b, r->smtputf8 ? "global" : "rfc822");
		return;
	case DSN_INCLUDE_HEADERS:
		buf_printf(out, "\r\n--%s\r\nContent-Type: %s\r\n"
				"Content-Description: The header of the message\r\n\r\n",
			   b, r->smtputf8 ? "message/global-headers" : "text/rfc822-headers");
		return;
	}
}

void dsn_report_end(const struct dsn_report *r, bool original_ended_crlf, struct buf *out)
{
	char b[DSN_BOUNDARY_MAX];
	boundary(r, b);
	if (r->include != DSN_INCLUDE_NONE && !original_ended_crlf)
		buf_append_str(out, "\r\n");
	buf_printf(out, "\r\n--%s--\r\n", b);
}
