/*
 * smtp_client.c — PURE client side of SMTP/LMTP: reply parser, EHLO reader,
 * MAIL/RCPT builders, refusals before a transaction, and the dot-stuffer.
 *
 * Owns no state of its own: the reply parser and the dot-stuffer keep theirs
 * in the caller's structs (smtp_client.h), so any split of the input gives
 * the same result (the unit tests and fuzz/fuzz_smtp_client.c check this).
 * Sockets, timeouts and what a reply means for the delivery belong to
 * outbound_conn*.c and deliver_smtp*.c.
 *
 * Invariants: a reply handed out has a code in 200..599, the same on each
 * of its lines, at most SMTP_REPLY_LINES_MAX lines of at most
 * SMTP_REPLY_LINE_MAX octets, no NUL; text, lines and enh are NUL-terminated
 * and text holds no control character. Commands end in CRLF and carry a
 * parameter only when the peer offered its extension. Dot-stuffed output
 * never holds a line "." before smtp_dot_finish() writes it.
 *
 * Errors: smtp_reply_parse() returns -1 on a protocol error; the builders
 * cannot fail (out-of-memory is fatal in buf.c).
 *
 * RFC 5321 4.1.1.1 (EHLO), 4.2 and 4.2.1 (reply lines), 4.5.2 (transparency);
 * RFC 2034 / 3463 (enhanced codes); RFC 1870 (SIZE); RFC 6152 (8BITMIME);
 * RFC 6531 (SMTPUTF8); RFC 3461 4.1-4.4 (NOTIFY, ORCPT, RET, ENVID); RFC 4954
 * (AUTH, with the pre-standard "AUTH=" form); RFC 2033 (LHLO replies).
 */
#include "smtp_client.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_proto.h"

/* ---- the reply parser (RFC 5321 4.2) -------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Appends s[0..n) to dst (NUL-terminated, room for cap bytes with the NUL),
 * cutting at cap - 1; with clean, control characters become spaces. */
static void text_add(char *dst, size_t cap, const char *s, size_t n, bool clean)
{
	size_t len = strlen(dst);
	size_t room = cap - 1 - len;
	if (n > room)
		n = room;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[len + i] = (char)(clean && (c < 0x20 || c == 0x7f) ? ' ' : c);
	}
	dst[len + n] = '\0';
}

/* Counts 1-3 digits at s[*i]; false when there are none or more than 3. */
static bool enh_number(const char *s, size_t n, size_t *i)
{
	size_t start = *i;
	while (*i < n && is_digit(s[*i]))
		(*i)++;
	return *i > start && *i - start <= 3;
}

/*
 * Copies an RFC 2034 code "class.subject.detail" that opens the first line's
 * text into enh. The class must be that of the reply: an enhanced code that
 * contradicts it would misreport the outcome in a DSN, so it is not taken.
 */
static void enh_parse(const char *s, size_t n, int code, char enh[16])
{
	size_t i = 2;
	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[0] != (char)('0' + code / 100) ||
	    s[1] != '.')
		return;
	if (!enh_number(s, n, &i) || i >= n || s[i] != '.')
		return;
	i++;
	if (!enh_number(s, n, &i) || (i < n && s[i] != ' '))
		return;
	memcpy(enh, s, i);
	enh[i] = '\0';
}

/* The parser ready for the next reply; the large buffers are only cut. */
static void parser_restart(struct smtp_reply_parser *p)
{
	p->linelen = 0;
	p->nlines = 0;
	p->code = 0;
	p->cur.code = 0;
	p->cur.enh[0] = '\0';
	p->cur.text[0] = '\0';
	p->cur.lines[0] = '\0';
}

void smtp_reply_parser_init(struct smtp_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
}

/* Takes the line in p->line (LF removed). Returns 1 when it was the last
 * line of the reply, 0 when more follow, -1 on a protocol error. */
static int reply_line(struct smtp_reply_parser *p)
{
	char *l = p->line;
	size_t n = p->linelen;
	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (n > SMTP_REPLY_LINE_MAX || n < 3 || !is_digit(l[0]) || !is_digit(l[1]) || !is_digit(l[2]))
		return -1;
	/* RFC 5321 4.2: the last line may be the bare code, "250". */
	if (n > 3 && l[3] != ' ' && l[3] != '-')
		return -1;
	int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (code < 200 || code > 599)
		return -1;
	const char *t = n > 3 ? l + 4 : l + 3;
	size_t tn = n > 3 ? n - 4 : 0;
	if (p->nlines == 0) {
		p->code = code;
		p->cur.code = code;
		enh_parse(t, tn, code, p->cur.enh);
		text_add(p->cur.text, sizeof(p->cur.text), l, 3, true);
	} else if (code != p->code) {
		return -1;	/* RFC 5321 4.2.1: one code on every line */
	}
	if (p->nlines >= SMTP_REPLY_LINES_MAX)
		return -1;
	if (tn > 0) {
		text_add(p->cur.text, sizeof(p->cur.text), " ", 1, true);
		text_add(p->cur.text, sizeof(p->cur.text), t, tn, true);
	}
	/* A line that does not fit in lines is left out whole, so that no EHLO
	 * keyword is ever cut; the first always fits (2048 < 4096). */
	size_t have = strlen(p->cur.lines);
	size_t sep = p->nlines > 0 ? 1 : 0;
	if (have + sep + tn < sizeof(p->cur.lines)) {
		text_add(p->cur.lines, sizeof(p->cur.lines), "\n", sep, false);
		text_add(p->cur.lines, sizeof(p->cur.lines), t, tn, false);
	}
	p->nlines++;
	p->linelen = 0;
	return n == 3 || l[3] == ' ';
}

int smtp_reply_parse(struct smtp_reply_parser *p, const char *data, size_t len, size_t *used,
		     struct smtp_reply *out)
{
	size_t off = 0;
	while (off < len) {
		const char *nl = memchr(data + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (data + off)) : len - off;
		/* One byte of line is kept free for the NUL reply_line() writes. */
		if (memchr(data + off, '\0', n) != NULL || n > sizeof(p->line) - 1 - p->linelen) {
			*used = off + n;
			return -1;
		}
		memcpy(p->line + p->linelen, data + off, n);
		p->linelen += n;
		off += n;
		if (nl == NULL)
			break;
		off++;
		int rc = reply_line(p);
		if (rc != 0) {
			*used = off;
			if (rc < 0)
				return -1;
			*out = p->cur;
			parser_restart(p);
			return 1;
		}
	}
	*used = off;
	return 0;
}

/* ---- EHLO / LHLO keywords (RFC 5321 4.1.1.1) ------------------------------ */

static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The next word of [*s, end): its start and *n, or NULL at the end. */
static const char *next_word(const char **s, const char *end, size_t *n)
{
	const char *p = *s;
	while (p < end && is_sep(*p))
		p++;
	const char *w = p;
	while (p < end && !is_sep(*p))
		p++;
	*s = p;
	*n = (size_t)(p - w);
	return *n > 0 ? w : NULL;
}

static bool word_is(const char *w, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(w, name, n) == 0;
}

/* RFC 1870 4: "SIZE" [SP 1*20DIGIT]; false when malformed or over range. */
static bool size_parse(const char *w, size_t n, unsigned long long *v)
{
	unsigned long long x = 0;
	if (w == NULL || n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(w[i]))
			return false;
		unsigned d = (unsigned)(w[i] - '0');
		if (x > (~0ULL - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

static unsigned auth_mech(const char *w, size_t n)
{
	if (word_is(w, n, "PLAIN"))
		return SMTP_AUTH_MECH_PLAIN;
	if (word_is(w, n, "LOGIN"))
		return SMTP_AUTH_MECH_LOGIN;
	return 0;	/* CRAM-MD5 and the rest: never used by this client */
}

static const struct {
	const char *name;
	size_t off;
} ehlo_flags[] = {
	{ "PIPELINING", offsetof(struct smtp_caps, pipelining) },		/* RFC 2920 */
	{ "STARTTLS", offsetof(struct smtp_caps, starttls) },			/* RFC 3207 */
	{ "8BITMIME", offsetof(struct smtp_caps, eightbitmime) },		/* RFC 6152 */
	{ "SMTPUTF8", offsetof(struct smtp_caps, smtputf8) },			/* RFC 6531 */
	{ "DSN", offsetof(struct smtp_caps, dsn) },				/* RFC 3461 */
	{ "CHUNKING", offsetof(struct smtp_caps, chunking) },			/* RFC 3030 */
	{ "ENHANCEDSTATUSCODES", offsetof(struct smtp_caps, enhancedstatuscodes) }, /* RFC 2034 */
};

static void ehlo_line(const char *s, const char *end, struct smtp_caps *caps)
{
	size_t n;
	const char *w = next_word(&s, end, &n);
	if (w == NULL)
		return;
	if (word_is(w, n, "SIZE")) {
		unsigned long long v = 0;
		const char *a = next_word(&s, end, &n);
		caps->size = true;
		caps->size_max = size_parse(a, n, &v) ? v : 0;
		return;
	}
	/* RFC 4954 4 "AUTH mech..."; before it, servers said "AUTH=mech...". */
	if (n >= 5 && strncasecmp(w, "AUTH=", 5) == 0) {
		caps->auth |= auth_mech(w + 5, n - 5);
		n = 4;
	}
	if (word_is(w, n, "AUTH")) {
		while ((w = next_word(&s, end, &n)) != NULL)
			caps->auth |= auth_mech(w, n);
		return;
	}
	for (size_t i = 0; i < sizeof(ehlo_flags) / sizeof(ehlo_flags[0]); i++) {
		if (word_is(w, n, ehlo_flags[i].name))
			*(bool *)((char *)caps + ehlo_flags[i].off) = true;
	}
}

void smtp_client_parse_ehlo(const struct smtp_reply *r, struct smtp_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	const char *s = strchr(r->lines, '\n');
	while (s != NULL) {
		s++;
		const char *e = strchr(s, '\n');
		ehlo_line(s, e != NULL ? e : s + strlen(s), caps);
		s = e;
	}
}

/* ---- MAIL and RCPT (RFC 5321 4.1.1.2-3, RFC 3461 4) ----------------------- */

static const char *ret_name(int ret)
{
	switch ((enum smtp_ret)ret) {
	case SMTP_RET_NONE:
		return NULL;
	case SMTP_RET_FULL:
		return "FULL";
	case SMTP_RET_HDRS:
		return "HDRS";
	}
	return NULL;
}

void smtp_client_mail_cmd(struct buf *out, const struct smtp_client_mail *m, const struct smtp_caps *caps)
{
	buf_printf(out, "MAIL FROM:<%s>", m->sender);
	if (caps->size && m->size > 0)
		buf_printf(out, " SIZE=%llu", m->size);
	if (caps->eightbitmime && m->body == SMTP_BODY_8BITMIME)
		buf_append_str(out, " BODY=8BITMIME");
	if (caps->smtputf8 && m->smtputf8)
		buf_append_str(out, " SMTPUTF8");
	if (caps->dsn) {
		const char *ret = ret_name(m->ret);
		if (ret != NULL)
			buf_printf(out, " RET=%s", ret);
		if (m->envid != NULL && m->envid[0] != '\0')
			buf_printf(out, " ENVID=%s", m->envid);
	}
	buf_append_str(out, "\r\n");
}

/* RFC 3461 4.1: "NEVER" alone, else a comma list of the others. */
static void notify_add(struct buf *out, unsigned notify)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ SMTP_NOTIFY_SUCCESS, "SUCCESS" },
		{ SMTP_NOTIFY_FAILURE, "FAILURE" },
		{ SMTP_NOTIFY_DELAY, "DELAY" },
	};
	if (notify & SMTP_NOTIFY_NEVER) {
		buf_append_str(out, " NOTIFY=NEVER");
		return;
	}
	const char *sep = " NOTIFY=";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (notify & names[i].bit) {
			buf_printf(out, "%s%s", sep, names[i].name);
			sep = ",";
		}
	}
}

void smtp_client_rcpt_cmd(struct buf *out, const char *addr, unsigned notify, const char *orcpt,
			  const struct smtp_caps *caps)
{
	buf_printf(out, "RCPT TO:<%s>", addr);
	if (caps->dsn) {
		notify_add(out, notify);
		if (orcpt != NULL && orcpt[0] != '\0')
			buf_printf(out, " ORCPT=%s", orcpt);
	}
	buf_append_str(out, "\r\n");
}

void smtp_reply_make(struct smtp_reply *r, int code, const char *enh, const char *fmt, ...)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	int n = snprintf(r->text, sizeof(r->text), "%d %s ", code, enh);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text + n, sizeof(r->text) - (size_t)n, fmt, ap);
	va_end(ap);
}

bool smtp_client_names_us(const struct smtp_reply *r, const char *our_name)
{
	size_t len = strcspn(r->lines, " \n");
	return our_name[0] != '\0' && len == strlen(our_name) && strncasecmp(r->lines, our_name, len) == 0;
}

const char *smtp_client_refusal(const struct smtp_caps *caps, unsigned long long size, bool smtputf8,
				bool eightbit)
{
	if (caps->size_max > 0 && size > caps->size_max)
		return "5.3.4 message size exceeds the fixed limit of the next hop";
	if (smtputf8 && !caps->smtputf8)
		return "5.6.7 the next hop does not support SMTPUTF8";
	if (eightbit && !caps->eightbitmime)
		return "5.6.3 the next hop does not support 8BITMIME";
	return NULL;
}

/* ---- dot-stuffing (RFC 5321 4.5.2) ---------------------------------------- */

void smtp_dot_init(struct smtp_dot *d)
{
	d->line_start = true;
	d->after_cr = false;
	d->clean_end = true;
}

void smtp_dot_encode(struct smtp_dot *d, const char *in, size_t len, struct buf *out)
{
	if (len == 0)
		return;
	/* Each pass copies one line, or the tail of one, in a single append. */
	size_t off = 0;
	while (off < len) {
		if (d->line_start && in[off] == '.')
			buf_append_char(out, '.');
		const char *nl = memchr(in + off, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - (in + off)) + 1 : len - off;
		buf_append(out, in + off, n);
		off += n;
		d->line_start = nl != NULL;
	}
	bool cr_before = len >= 2 ? in[len - 2] == '\r' : d->after_cr;
	d->clean_end = in[len - 1] == '\n' && cr_before;
	d->after_cr = in[len - 1] == '\r';
}

void smtp_dot_finish(struct smtp_dot *d, struct buf *out)
{
	if (!d->clean_end)
		buf_append_str(out, "\r\n");
	buf_append_str(out, ".\r\n");
	smtp_dot_init(d);
}
