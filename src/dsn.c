/*
 * dsn.c — delivery status notification messages (see dsn.h).
 *
 * Builds the text of a report; the caller streams the original between
 * dsn_report_begin() and dsn_report_end(). Every value that comes from
 * the envelope (addresses, ENVID, ORCPT, replies of other servers) is
 * sanitised before it goes into a header field, so nothing a client or a
 * remote server sent can add a field or a MIME part: control characters
 * become spaces, and bytes that are not ASCII (or, in an SMTPUTF8 report,
 * not well-formed UTF-8) become '?'. So a report on a message that did not
 * use SMTPUTF8 is 7-bit up to the original, whatever the peers said.
 * Each field is built whole, then written folded at blanks to stay within
 * 78 columns where it can, and cut short so that no line passes 998.
 * RFC 3461 4 (xtext), 4.3 (RET); RFC 3464 2 (fields); RFC 6522 (the
 * report type); RFC 6533 3 (utf-8 addresses), 6 (global types); RFC 3834
 * (Auto-Submitted); RFC 5322 2.1.1 (line lengths), 2.2.3 (folding),
 * 3.3 (dates); RFC 2046 5.1.1 (boundaries).
 */
#include "dsn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smtp_proto.h"

/* RFC 5322 2.1.1: lines SHOULD be at most 78 characters, MUST be at most 998. */
#define DSN_LINE_WANT 78
/* A field is cut here, so that a value without blanks to fold at stays under 998. */
#define DSN_FIELD_MAX 900
/* A host name or queue ID written into an unfolded line of the text part is cut here (RFC 1035 2.3.4). */
#define DSN_NAME_MAX 255
/* The text part's lines, and the indent of a recipient's details in it. */
#define DSN_TEXT_WIDTH 76
#define DSN_TEXT_INDENT "      "
/* "=_vsmtpd_report_" and up to DSN_BOUNDARY_ID characters of the report ID (RFC 2046: 70 at most). */
#define DSN_BOUNDARY_ID 40
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
		/* no RET: the whole message unless it is large */
		full_or_headers = content_len <= DSN_FULL_DEFAULT_MAX ? DSN_INCLUDE_FULL
								      : DSN_INCLUDE_HEADERS;
		break;
	}
	return any_failed ? full_or_headers : DSN_INCLUDE_HEADERS;
}

/*
 * The length of the well-formed UTF-8 sequence at s (2 to 4), or 0 (RFC 3629 4:
 * no overlong forms, no surrogates, nothing above U+10FFFF). s is NUL-terminated,
 * so a sequence cut short fails on the NUL.
 */
static size_t utf8_seq(const unsigned char *s, unsigned *cp)
{
	size_t n;
	unsigned c, min;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2, c = s[0] & 0x1fu, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3, c = s[0] & 0x0fu, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4, c = s[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/*
 * Appends s (NULL: nothing) with every control character (CR and LF above
 * all) made a space, and each byte that is not ASCII made '?' — unless utf8
 * and it starts a well-formed UTF-8 sequence, which is kept.
 */
static void put_clean(struct buf *out, const char *s, bool utf8)
{
	if (s == NULL)
		return;
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		unsigned cp;
		size_t n = *p >= 0x80 && utf8 ? utf8_seq(p, &cp) : 0;
		if (n > 0) {
			buf_append(out, p, n);
			p += n;
			continue;
		}
		buf_append_char(out, *p < 0x20 || *p == 0x7f ? ' ' : *p >= 0x80 ? '?' : (char)*p);
		p++;
	}
}

static bool is_empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static bool is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* The first blank at or after i that follows a non-blank and lies past min: a place to break; len if none. */
static size_t next_break(const char *s, size_t i, size_t len, size_t min)
{
	for (; i < len; i++)
		if (s[i] == ' ' && s[i - 1] != ' ' && i > min)
			return i;
	return len;
}

/*
 * Where to break s[from..len) so that the piece s[from..cut) is at most
 * width bytes: at the last place within width (else the first after it: a
 * long word stays whole). A word too long for any line stays on the line it
 * follows, as breaking before it would only add a short line. len when the
 * rest fits or cannot be broken.
 */
static size_t break_at(const char *s, size_t from, size_t len, size_t width, size_t min)
{
	if (len - from <= width)
		return len;
	size_t cut = next_break(s, from + 1, len, min);
	for (size_t b = cut; b < len && b - from <= width; b = next_break(s, b + 1, len, min))
		cut = b;
	while (cut < len) {
		size_t next = next_break(s, cut + 1, len, min);
		if (next - cut <= width)
			return cut;
		cut = next;
	}
	return len;
}

/* The length of s[0..len) cut to at most max bytes, between UTF-8 sequences, without trailing blanks. */
static size_t trimmed_len(const char *s, size_t len, size_t max)
{
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;	/* do not split a sequence */
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	return len;
}

/*
 * Appends the field built in f ("Name: value", already clean) and its CRLF,
 * folded before blanks of the value (RFC 5322 2.2.3: unfolding gives the
 * value back). A continuation line always holds more than blanks, as
 * trailing blanks are dropped. Empties f for the next field.
 */
static void put_field_line(struct buf *out, struct buf *f)
{
	const char *s = buf_str(f);
	size_t len = trimmed_len(s, f->len, DSN_FIELD_MAX);
	const char *colon = memchr(s, ':', len);
	size_t min = colon != NULL ? (size_t)(colon - s) + 1 : len;	/* never fold in the name */
	size_t from = 0;
	while (from < len) {
		size_t cut = break_at(s, from, len, DSN_LINE_WANT, min);
		buf_append(out, s + from, cut - from);
		buf_append_str(out, "\r\n");
		from = cut;	/* the blank at cut starts the continuation line */
	}
	buf_reset(f);
}

/* "Name: " + value cleaned + CRLF, folded; nothing when value is NULL or "". */
static void put_field(struct buf *out, struct buf *f, const char *name, const char *value, bool utf8)
{
	if (is_empty(value))
		return;
	buf_append_str(f, name);
	put_clean(f, value, utf8);
	put_field_line(out, f);
}

/*
 * Appends s cleaned and cut to at most max bytes (between UTF-8 sequences):
 * for a value written into a line that is not folded, which must stay
 * within 998 octets whatever the value (RFC 5322 2.1.1).
 */
static void put_clean_cut(struct buf *out, const char *s, bool utf8, size_t max)
{
	struct buf c = BUF_INIT;
	put_clean(&c, s, utf8);
	buf_append(out, buf_str(&c), trimmed_len(buf_str(&c), c.len, max));
	buf_free(&c);
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
	/* tm_year may be near INT_MAX for a far-off time: add in long long. */
	buf_printf(out, "%s, %d %s %04lld %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
		   months[tm.tm_mon % 12], (long long)tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "Name: date" + CRLF */
static void put_date(struct buf *out, struct buf *f, const char *name, long long when)
{
	buf_append_str(f, name);
	put_date_value(f, when);
	put_field_line(out, f);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* RFC 3461 4: upper case only */
}

/*
 * Appends xtext s decoded (RFC 3461 4: "+XX" is the byte 0xXX) when it is
 * well-formed and the result is printable ASCII; else s as it is (cleaned),
 * which shows the sender what was sent rather than a guess.
 */
static void put_xtext(struct buf *out, const char *s, bool utf8)
{
	struct buf d = BUF_INIT;
	bool ok = true;
	for (const char *p = s; *p != '\0' && ok; p++) {
		int c = (unsigned char)*p;
		if (c == '+') {
			int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
			c = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
			p += c < 0 ? 0 : 2;
		}
		ok = c >= 0x20 && c < 0x7f;
		buf_append_char(&d, (char)c);
	}
	put_clean(out, ok ? buf_str(&d) : s, utf8);
	buf_free(&d);
}

/*
 * Appends a non-ASCII address as utf-8-addr-xtext (RFC 6533 3), the 7-bit
 * form for a report that is not of the global types: each character that is
 * not ASCII, and each of controls, blank, '+', '=' and '\', becomes
 * "\x{HEX}"; bytes that are not UTF-8 become U+FFFD.
 */
static void put_utf8_xtext(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		unsigned cp = *p;
		size_t n = 1;
		if (*p >= 0x80 && (n = utf8_seq(p, &cp)) == 0)
			n = 1, cp = 0xfffd;
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\')
			buf_append_char(out, (char)cp);
		else
			buf_printf(out, "\\x{%02X}", cp);
		p += n;
	}
}

/*
 * "rfc822; addr" for an ASCII address; "utf-8; addr" for another (RFC 6533
 * 3: the plain UTF-8 mailbox in a global report, utf-8-addr-xtext otherwise).
 */
static void put_address(struct buf *out, const char *addr, bool smtputf8)
{
	if (addr == NULL || is_ascii(addr)) {
		buf_append_str(out, "rfc822; ");
		put_clean(out, addr, false);
	} else if (smtputf8) {
		buf_append_str(out, "utf-8; ");
		put_clean(out, addr, true);
	} else {
		buf_append_str(out, "utf-8; ");
		put_utf8_xtext(out, addr);
	}
}

/* "Original-Recipient: TYPE; address" from the stored ORCPT "TYPE;xtext" (RFC 3461 4.2). */
static void put_orcpt(struct buf *out, struct buf *f, const char *orcpt, bool utf8)
{
	const char *semi = orcpt != NULL ? strchr(orcpt, ';') : NULL;
	if (semi == NULL)
		return;	/* not as stored by the protocol engine: say nothing rather than garble */
	buf_append_str(f, "Original-Recipient: ");
	size_t tlen = (size_t)(semi - orcpt) < 32 ? (size_t)(semi - orcpt) : 32;
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)orcpt[i];	/* the type is an atom: kept as given */
		buf_append_char(f, c > 0x20 && c < 0x7f ? (char)c : '?');
	}
	buf_append_str(f, "; ");
	put_xtext(f, semi + 1, utf8);
	put_field_line(out, f);
}

/* RFC 3463 2: "class.subject.detail", class 2, 4 or 5, each number 1 to 3 digits. */
static bool status_valid(const char *s)
{
	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	s += 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		while (s[n] >= '0' && s[n] <= '9')
			n++;
		if (n < 1 || n > 3 || s[n] != (part == 0 ? '.' : '\0'))
			return false;
		s += n + 1;
	}
	return true;
}

/* The given status, or the generic one of the action when it is missing or malformed (RFC 3464 2.3.4). */
static const char *status_of(const struct dsn_rcpt *rc)
{
	if (status_valid(rc->status))
		return rc->status;
	switch (rc->action) {
	case DSN_ACTION_DELAYED:
		return "4.0.0";
	case DSN_ACTION_DELIVERED:
	case DSN_ACTION_RELAYED:
		return "2.0.0";
	case DSN_ACTION_FAILED:
		break;
	}
	return "5.0.0";
}

/*
 * The MIME boundary: "=_" never occurs in base64, and in quoted-printable
 * only as a broken escape, so no encoded original can hold it; the report
 * ID makes it unique, reduced to characters a boundary may hold.
 */
static void boundary(const struct dsn_report *r, char out[DSN_BOUNDARY_MAX])
{
	size_t n = (size_t)snprintf(out, DSN_BOUNDARY_MAX, "=_vsmtpd_report_");
	size_t max = n + DSN_BOUNDARY_ID;
	for (const char *p = r->report_id != NULL ? r->report_id : ""; *p != '\0' && n < max; p++) {
		char c = *p;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     c == '.' || c == '-' || c == '_';
		out[n++] = plain ? c : '_';
	}
	out[n] = '\0';
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

/*
 * Appends the text built in t as lines of at most DSN_TEXT_WIDTH where
 * blanks allow, the later ones indented by DSN_TEXT_INDENT; empties t.
 */
static void put_wrapped(struct buf *out, struct buf *t)
{
	const char *s = buf_str(t);
	size_t len = trimmed_len(s, t->len, DSN_FIELD_MAX);
	size_t from = 0, lead = 0;
	while (from < len && s[from] == ' ')
		from++, lead++;
	buf_append(out, s, lead);
	size_t width = DSN_TEXT_WIDTH - lead;
	while (from < len) {
		size_t cut = break_at(s, from, len, width, from);
		buf_append(out, s + from, cut - from);
		buf_append_str(out, "\r\n");
		for (from = cut; from < len && s[from] == ' '; from++)
			;
		if (from < len)
			buf_append_str(out, DSN_TEXT_INDENT);
		width = DSN_TEXT_WIDTH - strlen(DSN_TEXT_INDENT);
	}
	buf_reset(t);
}

/* One recipient in the text part: "<addr>: what happened", then details, indented. */
static void put_text_rcpt(const struct dsn_report *r, const struct dsn_rcpt *rc, struct buf *out,
			  struct buf *t)
{
	bool utf8 = r->smtputf8;
	buf_append_str(t, "  <");
	put_clean(t, rc->addr, utf8);
	buf_append_str(t, ">: ");
	switch (rc->action) {
	case DSN_ACTION_FAILED:
	case DSN_ACTION_DELAYED:
		buf_printf(t, "%s (%s)", rc->action == DSN_ACTION_FAILED ? "failed" : "not delivered yet",
			   status_of(rc));
		break;
	case DSN_ACTION_DELIVERED:
		buf_append_str(t, "delivered");
		break;
	case DSN_ACTION_RELAYED:
		buf_append_str(t, "passed on");
		if (!is_empty(rc->remote_mta))
			buf_append_str(t, " to ");
		put_clean(t, rc->remote_mta, utf8);
		break;
	}
	put_wrapped(out, t);
	if (!is_empty(rc->diagnostic)) {
		buf_append_str(t, DSN_TEXT_INDENT);
		if (!is_empty(rc->remote_mta)) {
			put_clean(t, rc->remote_mta, utf8);
			buf_append_str(t, " said: ");
		}
		put_clean(t, rc->diagnostic, utf8);
		put_wrapped(out, t);
	}
	if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0) {
		buf_append_str(t, DSN_TEXT_INDENT "It will be tried until ");
		put_date_value(t, rc->retry_until);
		buf_append_str(t, ".");
		put_wrapped(out, t);
	}
}

/* The human-readable part: who reports on what, then one paragraph per kind of outcome. */
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
		{ DSN_ACTION_DELIVERED, "Your message was put in the mailboxes of the recipients below." },
		{ DSN_ACTION_RELAYED, "Your message was passed on to the mail servers of the recipients\r\n"
				      "below. They do not send reports like this one: you may hear\r\n"
				      "nothing more of it." },
	};
	buf_append_str(out, "This is the mail system at ");
	put_clean_cut(out, r->reporting_mta, r->smtputf8, DSN_NAME_MAX);
	buf_append_str(out, ".\r\n\r\nThis report is about your message ");
	put_clean_cut(out, r->orig_id, r->smtputf8, DSN_NAME_MAX);
	buf_append_str(out, ",\r\nreceived on ");
	put_date_value(out, r->arrival);
	buf_append_str(out, ".\r\n");
	struct buf t = BUF_INIT;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (!any_action(r, kinds[k].action))
			continue;
		buf_append_str(out, "\r\n");
		buf_append_str(out, kinds[k].says);
		buf_append_str(out, "\r\n\r\n");
		for (size_t i = 0; i < r->n; i++)
			if (r->rcpts[i].action == kinds[k].action)
				put_text_rcpt(r, &r->rcpts[i], out, &t);
	}
	buf_free(&t);
	buf_append_str(out, "\r\nThe machine-readable report and ");
	buf_append_str(out, r->include == DSN_INCLUDE_FULL	    ? "your message"
			    : r->include == DSN_INCLUDE_HEADERS ? "the header of your message"
								: "nothing else");
	buf_append_str(out, " follow.\r\n");
}

/* The per-recipient block of the delivery-status body (RFC 3464 2.3). */
static void put_status_rcpt(const struct dsn_report *r, const struct dsn_rcpt *rc, struct buf *out,
			    struct buf *f)
{
	bool utf8 = r->smtputf8;
	buf_append_str(out, "\r\n");
	put_orcpt(out, f, rc->orcpt, utf8);
	buf_append_str(f, "Final-Recipient: ");
	put_address(f, rc->addr, utf8);
	put_field_line(out, f);
	buf_printf(out, "Action: %s\r\nStatus: %s\r\n", action_name(rc->action), status_of(rc));
	put_field(out, f, "Remote-MTA: dns; ", rc->remote_mta, utf8);
	put_field(out, f, "Diagnostic-Code: smtp; ", rc->diagnostic, utf8);
	if (rc->last_attempt != 0)
		put_date(out, f, "Last-Attempt-Date: ", rc->last_attempt);
	if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0)
		put_date(out, f, "Will-Retry-Until: ", rc->retry_until);
}

/* The message/delivery-status body (RFC 3464 2.2, 2.3). */
static void put_status(const struct dsn_report *r, struct buf *out)
{
	bool utf8 = r->smtputf8;
	struct buf f = BUF_INIT;
	buf_append_str(&f, "Reporting-MTA: dns; ");
	put_clean(&f, r->reporting_mta, utf8);
	put_field_line(out, &f);
	if (!is_empty(r->envid)) {
		buf_append_str(&f, "Original-Envelope-Id: ");
		put_xtext(&f, r->envid, utf8);
		put_field_line(out, &f);
	}
	if (!is_empty(r->client_helo)) {
		buf_append_str(&f, "Received-From-MTA: dns; ");
		put_clean(&f, r->client_helo, utf8);
		if (!is_empty(r->client_addr)) {
			buf_append_str(&f, " ([");
			put_clean(&f, r->client_addr, false);
			buf_append_str(&f, "])");
		}
		put_field_line(out, &f);
	}
	put_date(out, &f, "Arrival-Date: ", r->arrival);
	for (size_t i = 0; i < r->n; i++)
		put_status_rcpt(r, &r->rcpts[i], out, &f);
	buf_free(&f);
}

/* The report's own header section, up to the empty line. */
static void put_header(const struct dsn_report *r, const char *b, struct buf *out)
{
	bool utf8 = r->smtputf8;
	const char *subject = any_action(r, DSN_ACTION_FAILED)	   ? "Failure"
			      : any_action(r, DSN_ACTION_DELAYED) ? "Delay"
								  : "Success";
	struct buf f = BUF_INIT;
	put_date(out, &f, "Date: ", r->now);
	buf_append_str(&f, "From: Mail Delivery System <");
	put_clean(&f, r->from, utf8);
	buf_append_str(&f, ">");
	put_field_line(out, &f);
	buf_append_str(&f, "To: <");
	put_clean(&f, r->to, utf8);
	buf_append_str(&f, ">");
	put_field_line(out, &f);
	buf_printf(out, "Subject: Delivery Status Notification (%s)\r\n", subject);
	buf_append_str(&f, "Message-ID: <");
	put_clean(&f, r->report_id, false);
	buf_append_str(&f, "@");
	put_clean(&f, r->reporting_mta, false);
	buf_append_str(&f, ">");
	put_field_line(out, &f);
	buf_free(&f);
	buf_printf(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
			"Content-Type: multipart/report; report-type=delivery-status;\r\n"
			"\tboundary=\"%s\"\r\n\r\n",
		   b);
}

/* True when s[0..len) has a byte that is not ASCII. */
static bool has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

void dsn_report_begin(const struct dsn_report *r, struct buf *out)
{
	char b[DSN_BOUNDARY_MAX];
	boundary(r, b);
	put_header(r, b, out);
	buf_append_str(out, "This is a MIME-encapsulated message.\r\n");

	struct buf text = BUF_INIT;
	put_text(r, &text);
	bool eight = has_8bit(text.data, text.len);	/* only ever in an SMTPUTF8 report */
	buf_printf(out, "\r\n--%s\r\nContent-Type: text/plain; charset=%s\r\n"
			"Content-Transfer-Encoding: %s\r\nContent-Description: Notification\r\n\r\n",
		   b, eight ? "utf-8" : "us-ascii", eight ? "8bit" : "7bit");
	buf_append(out, text.data, text.len);
	buf_free(&text);

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
