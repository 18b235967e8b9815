/*
 * smtp_proto.c — the inbound SMTP engine's core: input, events, verdicts, replies.
 *
 * Owns struct smtp_proto: the input buffer, the reply buffer, the event
 * queue, the verdict being waited on and the protocol state. Pure and
 * single-threaded: one engine belongs to one session on one thread. The
 * command grammar lives in smtp_proto_cmd.c and smtp_proto_params.c, the
 * message streams in smtp_proto_data.c.
 *
 * Invariants:
 * - While a verdict is pending (p->wait) no input is looked at, so replies
 *   come out in command order (RFC 2920).
 * - A command line is cut only at CRLF, within SMTP_LINE_MAX bytes; a longer
 *   one is swallowed to its CRLF and answered "500 5.5.2", never buffered.
 * - Every reply line is built by smtp_proto_vformat(): printable ASCII,
 *   ends with CRLF, at most SMTP_REPLY_MAX octets, a well-formed RFC 3463
 *   code of the reply's class.
 * - State changes go through smtp_proto_set_state() only.
 * Errors: the engine never fails; bad input becomes a reply, out of memory
 * is fatal (xalloc.h).
 *
 * RFC 5321 3.1 (greeting), 4.2 (replies), 4.5.3.1.4 (line length);
 * RFC 2920 (pipelining); RFC 3207 5 (STARTTLS state reset).
 */
#include "smtp_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "smtp_proto_int.h"

struct smtp_proto *smtp_proto_new(const struct smtp_proto_conf *conf)
{
	struct smtp_proto *p = xcalloc(1, sizeof(*p));
	const char *h = conf->hostname != NULL ? conf->hostname : "";
	struct buf host = BUF_INIT;

	/* The hostname goes into replies: keep it one printable token. */
	for (const char *c = h; *c != '\0'; c++)
		if (*c > ' ' && *c < 0x7f)
			buf_append_char(&host, *c);
	p->hostname = xstrdup(host.len > 0 ? buf_str(&host) : "localhost");
	buf_free(&host);
	p->max_message_size = conf->max_message_size;
	p->max_recipients = conf->max_recipients;
	p->max_messages = conf->max_messages;
	p->max_errors = conf->max_errors != 0 ? conf->max_errors : SMTP_DEFAULT_MAX_ERRORS;
	p->starttls = conf->starttls;
	p->auth_mechanisms = conf->auth_mechanisms != NULL ? xstrdup(conf->auth_mechanisms) : NULL;
	p->auth_needs_tls = conf->auth_needs_tls;
	p->state = SMTP_STATE_INIT;
	p->wait = SMTP_WAIT_NONE;
	return p;
}

void smtp_proto_free(struct smtp_proto *p)
{
	if (p == NULL)
		return;
	buf_free(&p->in);
	buf_free(&p->out);
	buf_free(&p->helo);
	buf_free(&p->bdat_reply);
	/* an AUTH initial response may hold a password */
	if (p->auth_arg.data != NULL)
		explicit_bzero(p->auth_arg.data, p->auth_arg.cap);
	buf_free(&p->auth_arg);
	free(p->auth_mechanisms);
	free(p->hostname);
	free(p);
}

void smtp_proto_set_state(struct smtp_proto *p, enum smtp_state s)
{
#ifdef SMTP_PROTO_TRACE
	fprintf(stderr, "smtp_proto: state %d -> %d\n", (int)p->state, (int)s);
#endif
	p->state = s;
}

/* ---- replies ------------------------------------------------------------- */

static bool enh_valid(int code, const char *enh)
{
	/* RFC 3463 2: class "." subject "." detail, 1-3 digits each. */
	if (enh == NULL || enh[0] != (char)('0' + code / 100) || enh[1] != '.')
		return false;
	const char *c = enh + 2;
	for (int part = 0; part < 2; part++) {
		int digits = 0;
		while (*c >= '0' && *c <= '9' && digits < 4) {
			c++;
			digits++;
		}
		if (digits < 1 || digits > 3)
			return false;
		if (part == 0 && *c++ != '.')
			return false;
	}
	return *c == '\0';
}

/* Appends text[0..n) as RFC 5321 4.2 textstring (printable US-ASCII: CR,
 * LF, NUL, controls and 8-bit octets would break the reply), at most room
 * octets of it. */
static void append_text(struct buf *out, const char *text, size_t n, size_t room)
{
	for (size_t i = 0; i < n && i < room; i++) {
		unsigned char c = (unsigned char)text[i];
		buf_append_char(out, c >= ' ' && c < 0x7f ? (char)c : c >= 0x80 ? '?' : ' ');
	}
}

void smtp_proto_vformat(struct buf *out, int code, const char *enh, const char *fmt, va_list ap)
{
	struct buf text = BUF_INIT;
	char cls[16];

	buf_vprintf(&text, fmt, ap);
	if (!enh_valid(code, enh)) {
		snprintf(cls, sizeof(cls), "%d.0.0", code / 100);
		enh = cls;
	}
	size_t start = out->len;
	buf_printf(out, "%03d %s", code, enh);
	size_t used = out->len - start + 1 + 2;	/* SP, CRLF */
	if (text.len > 0 && used < SMTP_REPLY_MAX) {
		buf_append_char(out, ' ');
		append_text(out, text.data, text.len, SMTP_REPLY_MAX - used);
	}
	buf_append(out, "\r\n", 2);
	buf_free(&text);
}

void smtp_proto_format(struct buf *out, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_proto_vformat(out, code, enh, fmt, ap);
	va_end(ap);
}

void smtp_proto_reply(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_proto_vformat(&p->out, code, enh, fmt, ap);
	va_end(ap);
}

void smtp_proto_count_error(struct smtp_proto *p)
{
	if (p->state == SMTP_STATE_CLOSED)
		return;
	p->errors++;
	if (p->errors < p->max_errors)
		return;
	smtp_proto_reply(p, 421, "4.7.0", "%s Error: too many errors", p->hostname);
	smtp_proto_close(p, SMTP_EV_CLOSE);
}

void smtp_proto_error(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	smtp_proto_vformat(&p->out, code, enh, fmt, ap);
	va_end(ap);
	smtp_proto_count_error(p);
}

/* ---- events and transactions --------------------------------------------- */

struct smtp_event *smtp_proto_push(struct smtp_proto *p, enum smtp_ev_type type)
{
	/* No step queues more than SMTP_EVQ_MAX events and next() drains the
	 * queue before it steps again, so this cannot overflow. */
	if (p->evq_len >= SMTP_EVQ_MAX)
		abort();
	struct smtp_event *ev = &p->evq[(p->evq_head + p->evq_len) % SMTP_EVQ_MAX];
	p->evq_len++;
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	return ev;
}

static void drop_input(struct smtp_proto *p)
{
	buf_reset(&p->in);
	p->in_pos = 0;
	p->scan = 0;
	p->skipping = false;
	p->skip_cr = false;
}

void smtp_proto_close(struct smtp_proto *p, enum smtp_ev_type type)
{
	if (p->state == SMTP_STATE_CLOSED)
		return;
	smtp_proto_push(p, type);
	p->wait = SMTP_WAIT_NONE;
	drop_input(p);
	smtp_proto_set_state(p, SMTP_STATE_CLOSED);
}

void smtp_proto_txn_end(struct smtp_proto *p)
{
	p->rcpts = 0;
	p->smtputf8 = false;
	p->bdat_total = 0;
	smtp_proto_set_state(p, SMTP_STATE_HELO);
}

void smtp_proto_data_end(struct smtp_proto *p, enum smtp_data_status status, bool bdat,
			 unsigned long long size)
{
	struct smtp_event *ev = smtp_proto_push(p, SMTP_EV_DATA_END);
	ev->bdat = bdat;
	ev->status = status;
	ev->size = size;
	if (status == SMTP_DATA_OK)
		p->wait = SMTP_WAIT_DATA_END;
	p->messages++;
	smtp_proto_txn_end(p);
}

bool smtp_ev_needs_verdict(const struct smtp_event *ev)
{
	switch (ev->type) {
	case SMTP_EV_HELO:
	case SMTP_EV_MAIL:
	case SMTP_EV_RCPT:
	case SMTP_EV_DATA_START:
	case SMTP_EV_STARTTLS:
	case SMTP_EV_AUTH:
	case SMTP_EV_AUTH_DATA:
		return true;
	case SMTP_EV_DATA_END:
		return ev->status == SMTP_DATA_OK;
	case SMTP_EV_NONE:
	case SMTP_EV_DATA_CHUNK:
	case SMTP_EV_RSET:
	case SMTP_EV_QUIT:
	case SMTP_EV_CLOSE:
		return false;
	}
	return false;
}

/* ---- greeting, timeouts ---------------------------------------------------- */

void smtp_proto_greet(struct smtp_proto *p, int code, const char *enh, const char *text)
{
	struct buf raw = BUF_INIT;

	if (p->state != SMTP_STATE_INIT)
		return;
	if (text == NULL)
		text = "";
	if (code < 400 || code > 599) {
		/* RFC 5321 4.2: the greeting names the host; no RFC 3463 code. */
		buf_printf(&raw, "%s ESMTP%s%s", p->hostname, text[0] != '\0' ? " " : "", text);
		buf_append_str(&p->out, "220 ");
		append_text(&p->out, raw.data, raw.len, SMTP_REPLY_MAX - 6);
		buf_append(&p->out, "\r\n", 2);
		buf_free(&raw);
		smtp_proto_set_state(p, SMTP_STATE_CONNECT);
		return;
	}
	if (enh_valid(code, enh)) {
		smtp_proto_reply(p, code, enh, "%s %s", p->hostname, text);
	} else {
		buf_printf(&raw, "%s %s", p->hostname, text);
		buf_printf(&p->out, "%03d ", code);
		append_text(&p->out, raw.data, raw.len, SMTP_REPLY_MAX - 6);
		buf_append(&p->out, "\r\n", 2);
	}
	buf_free(&raw);
	/* RFC 5321 3.1: 421 closes at once; 554 waits for QUIT. */
	if (code / 100 == 4) {
		smtp_proto_close(p, SMTP_EV_CLOSE);
		return;
	}
	smtp_proto_set_state(p, SMTP_STATE_REJECT);
}

void smtp_proto_timeout(struct smtp_proto *p)
{
	if (p->state == SMTP_STATE_CLOSED)
		return;
	smtp_proto_reply(p, 421, "4.4.2", "%s Error: timeout exceeded", p->hostname);
	smtp_proto_close(p, SMTP_EV_CLOSE);
}

void smtp_proto_shutdown(struct smtp_proto *p)
{
	if (p->state == SMTP_STATE_CLOSED)
		return;
	smtp_proto_reply(p, 421, "4.3.2", "%s Error: server shutting down", p->hostname);
	smtp_proto_close(p, SMTP_EV_CLOSE);
}

void smtp_proto_tls_started(struct smtp_proto *p)
{
	p->tls = true;
	if (p->state == SMTP_STATE_TLS_WAIT)
		smtp_proto_set_state(p, SMTP_STATE_CONNECT);
}

bool smtp_proto_in_data(const struct smtp_proto *p)
{
	return p->state == SMTP_STATE_DATA || p->state == SMTP_STATE_BDAT;
}

bool smtp_proto_closed(const struct smtp_proto *p)
{
	return p->state == SMTP_STATE_CLOSED;
}

const char *smtp_proto_output(const struct smtp_proto *p, size_t *len)
{
	*len = p->out.len;
	return buf_str(&p->out);
}

void smtp_proto_output_clear(struct smtp_proto *p)
{
	buf_reset(&p->out);
}

/* ---- verdicts ------------------------------------------------------------- */

/* Appends the caller's line if there is one, else the standard reply. */
static void reply_or(struct smtp_proto *p, const struct buf *line, int code, const char *enh,
		     const char *text)
{
	if (line != NULL)
		buf_append(&p->out, line->data, line->len);
	else
		smtp_proto_reply(p, code, enh, "%s", text);
}

/*
 * A positive answer to the pending event; line is the caller's reply, or
 * NULL for smtp_proto_accept(). HELO/EHLO and DATA have replies of a fixed
 * form (capability list, 354), so theirs are always ours.
 */
static void grant(struct smtp_proto *p, const struct buf *line, int code)
{
	enum smtp_wait w = p->wait;

	p->wait = SMTP_WAIT_NONE;
	switch (w) {
	case SMTP_WAIT_NONE:
		return;
	case SMTP_WAIT_HELO:
	case SMTP_WAIT_EHLO:
		p->esmtp = w == SMTP_WAIT_EHLO;
		smtp_proto_set_state(p, SMTP_STATE_HELO);
		smtp_proto_helo_reply(p, p->esmtp);
		return;
	case SMTP_WAIT_MAIL:
		p->smtputf8 = p->mail_smtputf8;
		p->rcpts = 0;
		p->bdat_total = 0;
		smtp_proto_set_state(p, SMTP_STATE_MAIL);
		reply_or(p, line, 250, "2.1.0", "Ok");
		return;
	case SMTP_WAIT_RCPT:
		p->rcpts++;
		smtp_proto_set_state(p, SMTP_STATE_RCPT);
		reply_or(p, line, 250, "2.1.5", "Ok");
		return;
	case SMTP_WAIT_DATA:
		/* RFC 5321 4.3.2: 354 is an intermediate reply, no RFC 3463 code. */
		buf_append_str(&p->out, "354 End data with <CR><LF>.<CR><LF>\r\n");
		smtp_proto_data_begin(p);
		smtp_proto_set_state(p, SMTP_STATE_DATA);
		return;
	case SMTP_WAIT_BDAT:
		smtp_proto_set_state(p, SMTP_STATE_BDAT);
		return;
	case SMTP_WAIT_DATA_END:
		reply_or(p, line, 250, "2.0.0", "Ok: queued");
		return;
	case SMTP_WAIT_AUTH:
		/* RFC 4954 4: 235 ends the exchange; AUTH is not allowed again. */
		p->authenticated = true;
		smtp_proto_set_state(p, SMTP_STATE_HELO);
		reply_or(p, code == 235 ? line : NULL, 235, "2.7.0", "Authentication successful");
		return;
	case SMTP_WAIT_STARTTLS:
		reply_or(p, code == 220 ? line : NULL, 220, "2.0.0", "Ready to start TLS");
		/* RFC 3207 5: forget the plaintext session, and drop whatever the
		 * client pipelined behind STARTTLS (command injection). */
		drop_input(p);
		p->esmtp = false;
		p->authenticated = false;
		buf_reset(&p->helo);
		smtp_proto_set_state(p, SMTP_STATE_TLS_WAIT);
		return;
	}
}

/* A 4xx/5xx answer to the pending event, line being the whole reply. */
static void refuse(struct smtp_proto *p, int code, const struct buf *line)
{
	enum smtp_wait w = p->wait;

	p->wait = SMTP_WAIT_NONE;
	if (code == 421) {
		buf_append(&p->out, line->data, line->len);
		smtp_proto_close(p, SMTP_EV_CLOSE);
		return;
	}
	if (w == SMTP_WAIT_BDAT) {
		/* RFC 3030 2: the refusal is the reply to the chunk, given once
		 * its octets have been read; the transaction then fails. */
		buf_reset(&p->bdat_reply);
		buf_append(&p->bdat_reply, line->data, line->len);
		p->bdat_discard = true;
		p->bdat_count_error = true;
		p->bdat_end = SMTP_BDAT_END_FAIL;
		p->bdat_status = SMTP_DATA_REFUSED;
		smtp_proto_set_state(p, SMTP_STATE_BDAT);
		return;
	}
	buf_append(&p->out, line->data, line->len);
	if (w == SMTP_WAIT_HELO || w == SMTP_WAIT_EHLO)
		smtp_proto_set_state(p, SMTP_STATE_CONNECT);
	if (w == SMTP_WAIT_AUTH)
		smtp_proto_set_state(p, SMTP_STATE_HELO);
	/* The fate of a message is not a protocol error of the client. */
	if (w != SMTP_WAIT_DATA_END)
		smtp_proto_count_error(p);
}

void smtp_proto_accept(struct smtp_proto *p)
{
	if (p->wait == SMTP_WAIT_NONE || p->state == SMTP_STATE_CLOSED)
		return;
	grant(p, NULL, 0);
}

void smtp_proto_verdict(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	va_list ap;

	if (p->wait == SMTP_WAIT_NONE || p->state == SMTP_STATE_CLOSED)
		return;
	bool positive = code / 100 == 2 || (code / 100 == 3 && p->wait == SMTP_WAIT_DATA);
	if (!positive && code / 100 != 4 && code / 100 != 5) {
		/* Not a reply code for this event: a bug in the caller, which
		 * must not become a malformed reply. */
		code = 451;
		smtp_proto_format(&line, code, "4.3.0", "Error: internal error");
	} else {
		va_start(ap, fmt);
		smtp_proto_vformat(&line, code, enh, fmt, ap);
		va_end(ap);
	}
	if (positive)
		grant(p, &line, code);
	else
		refuse(p, code, &line);
	buf_free(&line);
}

void smtp_proto_auth_challenge(struct smtp_proto *p, const char *text)
{
	if (p->wait != SMTP_WAIT_AUTH || p->state == SMTP_STATE_CLOSED)
		return;
	p->wait = SMTP_WAIT_NONE;
	buf_append_str(&p->out, "334 ");
	for (const char *c = text; *c != '\0'; c++)
		buf_append_char(&p->out, *c < ' ' || *c == 0x7f ? ' ' : *c);
	buf_append_str(&p->out, "\r\n");
	smtp_proto_set_state(p, SMTP_STATE_AUTH);
}

/* ---- input ---------------------------------------------------------------- */

void smtp_proto_feed(struct smtp_proto *p, const void *data, size_t len)
{
	if (len == 0 || p->state == SMTP_STATE_CLOSED || p->state == SMTP_STATE_TLS_WAIT)
		return;
	if (p->in_pos > 0) {
		buf_consume(&p->in, p->in_pos);
		p->in_pos = 0;
	}
	buf_append(&p->in, data, len);
}

enum line_read { LINE_MORE, LINE_OK, LINE_TOO_LONG };

/* Cuts the next command line (CRLF excluded) out of the input. */
static enum line_read line_read(struct smtp_proto *p, const char **line, size_t *len)
{
	const char *b = buf_str(&p->in) + p->in_pos;
	size_t avail = p->in.len - p->in_pos;
	/* an AUTH response line may be longer than a command (RFC 4954 4) */
	size_t max = p->state == SMTP_STATE_AUTH ? SMTP_AUTH_LINE_MAX + 2 : SMTP_LINE_MAX;

	if (p->skipping) {
		for (size_t i = 0; i < avail; i++) {
			if (p->skip_cr && b[i] == '\n') {
				p->in_pos += i + 1;
				p->skipping = false;
				p->skip_cr = false;
				return LINE_TOO_LONG;
			}
			p->skip_cr = b[i] == '\r';
		}
		p->in_pos += avail;
		return LINE_MORE;
	}
	size_t lim = avail < max ? avail : max;
	for (size_t i = p->scan; i + 1 < lim; i++) {
		if (b[i] == '\r' && b[i + 1] == '\n') {
			*line = b;
			*len = i;
			p->in_pos += i + 2;
			p->scan = 0;
			return LINE_OK;
		}
	}
	if (avail < max) {
		/* The last byte may be a CR whose LF has not come yet. */
		p->scan = lim > 0 ? lim - 1 : 0;
		return LINE_MORE;
	}
	/* No CRLF ends a line within max octets: swallow the rest. */
	p->skipping = true;
	p->skip_cr = b[max - 1] == '\r';
	p->in_pos += max;
	p->scan = 0;
	return line_read(p, line, len);
}

static enum smtp_step command_step(struct smtp_proto *p)
{
	const char *line = NULL;
	size_t len = 0;

	switch (line_read(p, &line, &len)) {
	case LINE_MORE:
		return SMTP_STEP_MORE;
	case LINE_TOO_LONG:
		if (p->state == SMTP_STATE_AUTH) {
			smtp_proto_set_state(p, SMTP_STATE_HELO);
			smtp_proto_error(p, 500, "5.5.6", "Error: authentication exchange line is too long");
			return SMTP_STEP_AGAIN;
		}
		smtp_proto_error(p, 500, "5.5.2", "Error: line too long");
		return SMTP_STEP_AGAIN;
	case LINE_OK:
		if (p->state == SMTP_STATE_AUTH) {
			/* the response line goes to the session as it is */
			struct smtp_event *ev = smtp_proto_push(p, SMTP_EV_AUTH_DATA);
			buf_reset(&p->auth_arg);
			buf_append(&p->auth_arg, line, len);
			ev->len = len;
			p->wait = SMTP_WAIT_AUTH;
			return SMTP_STEP_AGAIN;
		}
		smtp_proto_cmd_line(p, line, len);
		return SMTP_STEP_AGAIN;
	}
	return SMTP_STEP_MORE;
}

enum smtp_ev_type smtp_proto_next(struct smtp_proto *p, struct smtp_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = SMTP_EV_NONE;
	for (;;) {
		if (p->evq_len > 0) {
			*ev = p->evq[p->evq_head];
			p->evq_head = (p->evq_head + 1) % SMTP_EVQ_MAX;
			p->evq_len--;
			if (ev->type == SMTP_EV_HELO)
				ev->helo = buf_str(&p->helo);
			if (ev->type == SMTP_EV_AUTH_DATA)
				ev->data = buf_str(&p->auth_arg);
			if (ev->type == SMTP_EV_AUTH) {
				/* auth_arg holds "MECH\0[initial]" */
				size_t mlen = strlen(buf_str(&p->auth_arg));
				ev->auth_mech = buf_str(&p->auth_arg);
				ev->auth_initial = mlen < p->auth_arg.len ? ev->auth_mech + mlen + 1 : NULL;
			}
			return ev->type;
		}
		if (p->wait != SMTP_WAIT_NONE)
			return SMTP_EV_NONE;
		enum smtp_step step = SMTP_STEP_MORE;
		switch (p->state) {
		case SMTP_STATE_INIT:
		case SMTP_STATE_CLOSED:
			return SMTP_EV_NONE;
		case SMTP_STATE_TLS_WAIT:
			drop_input(p);
			return SMTP_EV_NONE;
		case SMTP_STATE_DATA:
			step = smtp_proto_data_step(p, ev);
			break;
		case SMTP_STATE_BDAT:
			step = smtp_proto_bdat_step(p, ev);
			break;
		case SMTP_STATE_CONNECT:
		case SMTP_STATE_HELO:
		case SMTP_STATE_MAIL:
		case SMTP_STATE_RCPT:
		case SMTP_STATE_CHUNKING:
		case SMTP_STATE_AUTH:
		case SMTP_STATE_REJECT:
			step = command_step(p);
			break;
		}
		switch (step) {
		case SMTP_STEP_MORE:
			/* Keep the buffer small for the next feed. */
			if (p->in_pos == p->in.len) {
				buf_reset(&p->in);
				p->in_pos = 0;
			}
			return SMTP_EV_NONE;
		case SMTP_STEP_EVENT:
			return ev->type;
		case SMTP_STEP_AGAIN:
			break;
		}
	}
}
