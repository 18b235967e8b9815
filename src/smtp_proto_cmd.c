/*
 * smtp_proto_cmd.c — the SMTP command table and its handlers.
 *
 * Owns the command grammar of the inbound engine: one table row per verb
 * (verb, handler, states it is served in, argument rule), the sequencing
 * replies of RFC 5321 4.1.4, and the check step of each handler (syntax,
 * limits) before it queues the event that asks the session for a verdict.
 * It does not decide policy (who may send, which recipients exist): the
 * session does, through the verdicts. Sequencing errors are detected
 * here; state changes on verdicts happen in smtp_proto.c.
 *
 * Invariants: a command line holding NUL, a bare CR or a bare LF is never
 * executed; MAIL/RCPT parameters are accepted only after EHLO; no event
 * is queued for a command the engine itself refused, except the DATA_END
 * that a DATA after BDAT brings (the message in progress fails).
 * Errors: every refusal is a reply (smtp_proto_error() counts it).
 *
 * RFC 5321 4.1.1 (commands), 4.1.4 (order), 4.3.2 (codes), 4.5.1
 * (postmaster), 4.5.3.1.10 (too many recipients); RFC 1870, RFC 3030,
 * RFC 3207 4, RFC 3461 4, RFC 3463, RFC 6531 3.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "smtp_proto.h"
#include "smtp_proto_int.h"

/* The states a command is served in; in any other it is a sequencing error
 * (in SMTP_STATE_REJECT, after a 554 greeting, only QUIT and BDAT, which
 * must still read its chunk, are served). */
#define ST(s) SMTP_STATE_BIT(SMTP_STATE_##s)
#define ST_GREETED (ST(HELO) | ST(MAIL) | ST(RCPT) | ST(CHUNKING))
#define ST_ANY (ST(CONNECT) | ST_GREETED)

enum smtp_cmd_arg {
	SMTP_ARG_ANY,		/* NOOP, HELP: an argument is allowed and ignored */
	SMTP_ARG_NONE,		/* DATA, RSET, QUIT, STARTTLS: none allowed */
	SMTP_ARG_NEED,		/* HELO, MAIL, ...: one required */
};

enum smtp_cmd_id {
	SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_MAIL, SMTP_CMD_RCPT, SMTP_CMD_DATA,
	SMTP_CMD_BDAT, SMTP_CMD_RSET, SMTP_CMD_NOOP, SMTP_CMD_QUIT, SMTP_CMD_VRFY,
	SMTP_CMD_EXPN, SMTP_CMD_HELP, SMTP_CMD_STARTTLS, SMTP_CMD_AUTH,
};

struct smtp_cmd {
	const char *verb;
	enum smtp_cmd_id id;
	void (*handler)(struct smtp_proto *p, const char *arg, size_t len);
	unsigned states;
	enum smtp_cmd_arg arg;
	const char *usage;	/* for "501 5.5.4 Syntax: ..." */
};

static void cmd_helo(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_ehlo(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_mail(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_rcpt(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_data(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_bdat(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_rset(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_noop(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_quit(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_vrfy(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_expn(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_help(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_starttls(struct smtp_proto *p, const char *arg, size_t len);
static void cmd_auth(struct smtp_proto *p, const char *arg, size_t len);

static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO", SMTP_CMD_HELO, cmd_helo, ST_ANY, SMTP_ARG_NEED, "HELO hostname" },
	{ "EHLO", SMTP_CMD_EHLO, cmd_ehlo, ST_ANY, SMTP_ARG_NEED, "EHLO hostname" },
	{ "MAIL", SMTP_CMD_MAIL, cmd_mail, ST(HELO), SMTP_ARG_NEED,
	  "MAIL FROM:<address> [parameters]" },
	{ "RCPT", SMTP_CMD_RCPT, cmd_rcpt, ST(MAIL) | ST(RCPT), SMTP_ARG_NEED,
	  "RCPT TO:<address> [parameters]" },
	/* DATA and BDAT sort out their sequencing themselves: DATA without a
	 * recipient is 554, BDAT must read its chunk whatever the state. */
	{ "DATA", SMTP_CMD_DATA, cmd_data, ST(MAIL) | ST(RCPT) | ST(CHUNKING), SMTP_ARG_NONE,
	  "DATA" },
	{ "BDAT", SMTP_CMD_BDAT, cmd_bdat, ST_ANY | ST(REJECT), SMTP_ARG_ANY,
	  "BDAT size [LAST]" },
	{ "RSET", SMTP_CMD_RSET, cmd_rset, ST_ANY, SMTP_ARG_NONE, "RSET" },
	{ "NOOP", SMTP_CMD_NOOP, cmd_noop, ST_ANY, SMTP_ARG_ANY, "NOOP" },
	{ "QUIT", SMTP_CMD_QUIT, cmd_quit, ST_ANY | ST(REJECT), SMTP_ARG_NONE, "QUIT" },
	{ "VRFY", SMTP_CMD_VRFY, cmd_vrfy, ST_ANY, SMTP_ARG_NEED, "VRFY address" },
	{ "EXPN", SMTP_CMD_EXPN, cmd_expn, ST_ANY, SMTP_ARG_NEED, "EXPN list" },
	{ "HELP", SMTP_CMD_HELP, cmd_help, ST_ANY, SMTP_ARG_ANY, "HELP" },
	{ "STARTTLS", SMTP_CMD_STARTTLS, cmd_starttls, ST_ANY, SMTP_ARG_NONE, "STARTTLS" },
	/* RFC 4954 4: after EHLO, outside a mail transaction. */
	{ "AUTH", SMTP_CMD_AUTH, cmd_auth, ST(HELO), SMTP_ARG_NEED, "AUTH mechanism [initial-response]" },
};

static const struct smtp_cmd *cmd_find(const char *verb, size_t len)
{
	for (size_t i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (strlen(smtp_cmds[i].verb) == len && strncasecmp(smtp_cmds[i].verb, verb, len) == 0)
			return &smtp_cmds[i];
	return NULL;
}

static bool in_transaction(const struct smtp_proto *p)
{
	return p->state == SMTP_STATE_MAIL || p->state == SMTP_STATE_RCPT ||
	       p->state == SMTP_STATE_CHUNKING;
}

/* The reply to a command its state does not serve (RFC 5321 4.1.4). */
static void cmd_sequence_error(struct smtp_proto *p, const struct smtp_cmd *cmd)
{
	const char *why = "Error: bad sequence of commands";

	if (p->state == SMTP_STATE_REJECT) {
		smtp_proto_error(p, 503, "5.5.1", "Error: access denied, send QUIT");
		return;
	}
	switch (cmd->id) {
	case SMTP_CMD_MAIL:
		why = p->state == SMTP_STATE_CONNECT ? "Error: send HELO/EHLO first"
						     : "Error: nested MAIL command";
		break;
	case SMTP_CMD_RCPT:
		why = p->state == SMTP_STATE_CHUNKING ? "Error: RCPT after BDAT"
						      : "Error: need MAIL command";
		break;
	case SMTP_CMD_DATA:
		why = "Error: need MAIL and RCPT commands";
		break;
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
	case SMTP_CMD_BDAT:
	case SMTP_CMD_RSET:
	case SMTP_CMD_NOOP:
	case SMTP_CMD_QUIT:
	case SMTP_CMD_VRFY:
	case SMTP_CMD_EXPN:
	case SMTP_CMD_HELP:
	case SMTP_CMD_STARTTLS:
		break;
	case SMTP_CMD_AUTH:
		why = in_transaction(p) ? "Error: MAIL transaction in progress" : "Error: send EHLO first";
		break;
	}
	smtp_proto_error(p, 503, "5.5.1", "%s", why);
}

void smtp_proto_cmd_line(struct smtp_proto *p, const char *line, size_t len)
{
	/* A line ends only at CRLF: a NUL, CR or LF inside it is a smuggling
	 * attempt or a broken client, and the line is refused whole. */
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL ||
	    memchr(line, '\n', len) != NULL) {
		smtp_proto_error(p, 500, "5.5.2", "Error: bad syntax: NUL, bare <CR> or bare <LF> in command");
		return;
	}
	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	const struct smtp_cmd *cmd = cmd_find(line, vlen);
	if (cmd == NULL) {
		if (p->state == SMTP_STATE_REJECT)
			smtp_proto_error(p, 503, "5.5.1", "Error: access denied, send QUIT");
		else
			smtp_proto_error(p, 500, "5.5.2", "Error: command not recognized");
		return;
	}
	const char *arg = line + vlen;
	size_t alen = len - vlen;
	while (alen > 0 && arg[0] == ' ') {
		arg++;
		alen--;
	}
	while (alen > 0 && (arg[alen - 1] == ' ' || arg[alen - 1] == '\t'))
		alen--;
	if (!(cmd->states & SMTP_STATE_BIT(p->state))) {
		cmd_sequence_error(p, cmd);
		return;
	}
	if ((cmd->arg == SMTP_ARG_NONE && alen > 0) || (cmd->arg == SMTP_ARG_NEED && alen == 0)) {
		smtp_proto_error(p, 501, "5.5.4", "Syntax: %s", cmd->usage);
		return;
	}
	cmd->handler(p, arg, alen);
}

/* ---- HELO / EHLO ----------------------------------------------------------- */

void smtp_proto_helo_reply(struct smtp_proto *p, bool esmtp)
{
	if (!esmtp) {
		/* RFC 5321 4.1.1.1: "250 domain"; enhanced codes come with EHLO. */
		buf_printf(&p->out, "250 %s\r\n", p->hostname);
		return;
	}
	char size[32];
	const char *ext[10];
	size_t n = 0;

	if (p->max_message_size > 0)
		snprintf(size, sizeof(size), "SIZE %llu", p->max_message_size);
	else
		snprintf(size, sizeof(size), "SIZE");
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "DSN";
	ext[n++] = "CHUNKING";
	if (p->starttls && !p->tls)
		ext[n++] = "STARTTLS";
	char auth[64];
	if (p->auth_mechanisms != NULL && (p->tls || !p->auth_needs_tls)) {
		snprintf(auth, sizeof(auth), "AUTH %s", p->auth_mechanisms);
		ext[n++] = auth;
	}
	buf_printf(&p->out, "250-%s\r\n", p->hostname);
	for (size_t i = 0; i < n; i++)
		buf_printf(&p->out, "250%c%s\r\n", i + 1 < n ? '-' : ' ', ext[i]);
}

static void helo_common(struct smtp_proto *p, const char *arg, size_t len, bool esmtp)
{
	/* The name ends up in logs and the Received: header: no controls. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c < ' ' || c == 0x7f) {
			smtp_proto_error(p, 501, "5.5.4", "Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
			return;
		}
	}
	/* RFC 5321 4.1.4: HELO/EHLO in a transaction clears it. */
	if (in_transaction(p)) {
		smtp_proto_push(p, SMTP_EV_RSET);
		smtp_proto_txn_end(p);
	}
	smtp_proto_set_state(p, SMTP_STATE_CONNECT);
	buf_reset(&p->helo);
	buf_append(&p->helo, arg, len);
	struct smtp_event *ev = smtp_proto_push(p, SMTP_EV_HELO);
	ev->esmtp = esmtp;
	p->wait = esmtp ? SMTP_WAIT_EHLO : SMTP_WAIT_HELO;
}

static void cmd_helo(struct smtp_proto *p, const char *arg, size_t len)
{
	helo_common(p, arg, len, false);
}

static void cmd_ehlo(struct smtp_proto *p, const char *arg, size_t len)
{
	helo_common(p, arg, len, true);
}

/* ---- MAIL / RCPT ------------------------------------------------------------ */

/* Reply for a path that address_parse_path() refused. */
static void path_error(struct smtp_proto *p, enum address_error e, bool sender)
{
	const char *enh = sender ? "5.1.7" : "5.1.3";
	const char *who = sender ? "sender" : "recipient";

	switch (e) {
	case ADDRESS_OK:
		return;
	case ADDRESS_ERR_SYNTAX:
		smtp_proto_error(p, 501, enh, "Error: bad %s address syntax", who);
		return;
	case ADDRESS_ERR_TOO_LONG:
		/* RFC 5321 4.5.3.1.10: "501 Path too long". */
		smtp_proto_error(p, 501, enh, "Error: %s address too long", who);
		return;
	case ADDRESS_ERR_UTF8:
		/* RFC 6531 3.5. */
		smtp_proto_error(p, 553, "5.6.7", "Error: UTF-8 %s address needs SMTPUTF8", who);
		return;
	case ADDRESS_ERR_NULL:
		smtp_proto_error(p, 501, enh, "Error: null %s address not allowed", who);
		return;
	}
}

/*
 * Parses "<path> [params]" after "FROM:"/"TO:" and checks that what follows
 * the path is a parameter list. flags are address_parse_path()'s, with
 * ADDRESS_UTF8 set: the final UTF-8 check needs the parameters (SMTPUTF8),
 * so callers reparse without it. Returns 0, the mailbox and the parameter
 * text, or -1 after queuing the reply.
 */
static int path_split(struct smtp_proto *p, const char *s, size_t len, unsigned flags, bool sender,
		      struct mailbox *mb, const char **params, size_t *plen)
{
	size_t end = 0;
	enum address_error e = address_parse_path(s, len, flags | ADDRESS_UTF8, mb, &end);
	if (e != ADDRESS_OK) {
		path_error(p, e, sender);
		return -1;
	}
	if (end > len || (end < len && s[end] != ' ')) {
		smtp_proto_error(p, 501, "5.5.4", "Syntax: %s",
				 sender ? "MAIL FROM:<address> [parameters]" : "RCPT TO:<address> [parameters]");
		return -1;
	}
	*params = s + end;
	*plen = len - end;
	while (*plen > 0 && **params == ' ') {
		(*params)++;
		(*plen)--;
	}
	/* RFC 5321 4.1.1.11 / RFC 1869: parameters are a service extension. */
	if (*plen > 0 && !p->esmtp) {
		smtp_proto_error(p, 555, "5.5.4", "Error: parameters need EHLO");
		return -1;
	}
	return 0;
}

static int path_utf8_check(struct smtp_proto *p, const char *s, size_t len, unsigned flags,
			   bool utf8, bool sender, struct mailbox *mb)
{
	size_t end = 0;
	if (utf8)
		return 0;
	enum address_error e = address_parse_path(s, len, flags, mb, &end);
	if (e != ADDRESS_OK) {
		path_error(p, e, sender);
		return -1;
	}
	return 0;
}

static void cmd_mail(struct smtp_proto *p, const char *arg, size_t len)
{
	/* RFC 5321 4.1.2: a reverse-path is "<>" or a full mailbox; only a
	 * recipient may be a bare "<postmaster>" (4.1.1.3). */
	const unsigned flags = ADDRESS_ALLOW_NULL | ADDRESS_NEED_DOMAIN;
	struct smtp_mail_params mp;
	struct smtp_param_error err;
	struct mailbox mb;
	const char *params = NULL;
	size_t plen = 0;

	if (p->max_messages > 0 && p->messages >= p->max_messages) {
		smtp_proto_reply(p, 421, "4.7.0", "%s Error: too many messages in one session",
				 p->hostname);
		smtp_proto_close(p, SMTP_EV_CLOSE);
		return;
	}
	if (len < 5 || strncasecmp(arg, "FROM:", 5) != 0) {
		smtp_proto_error(p, 501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
		return;
	}
	if (path_split(p, arg + 5, len - 5, flags, true, &mb, &params, &plen) < 0)
		return;
	if (smtp_proto_mail_params(params, plen, p->max_message_size, &mp, &err) < 0) {
		smtp_proto_error(p, err.code, err.enh, "%s", err.text);
		return;
	}
	if (path_utf8_check(p, arg + 5, len - 5, flags, mp.smtputf8, true, &mb) < 0)
		return;
	struct smtp_event *ev = smtp_proto_push(p, SMTP_EV_MAIL);
	ev->mailbox = mb;
	ev->mail = mp;
	p->mail_smtputf8 = mp.smtputf8;
	p->wait = SMTP_WAIT_MAIL;
}

static void cmd_rcpt(struct smtp_proto *p, const char *arg, size_t len)
{
	const unsigned flags = 0;
	struct smtp_rcpt_params rp;
	struct smtp_param_error err;
	struct mailbox mb;
	const char *params = NULL;
	size_t plen = 0;

	if (len < 3 || strncasecmp(arg, "TO:", 3) != 0) {
		smtp_proto_error(p, 501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]");
		return;
	}
	if (path_split(p, arg + 3, len - 3, flags, false, &mb, &params, &plen) < 0)
		return;
	if (smtp_proto_rcpt_params(params, plen, &rp, &err) < 0) {
		smtp_proto_error(p, err.code, err.enh, "%s", err.text);
		return;
	}
	if (path_utf8_check(p, arg + 3, len - 3, flags, p->smtputf8, false, &mb) < 0)
		return;
	/* RFC 5321 4.5.3.1.10: the client sends the rest in another
	 * transaction; not a protocol error. */
	if (p->max_recipients > 0 && p->rcpts >= p->max_recipients) {
		smtp_proto_reply(p, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	struct smtp_event *ev = smtp_proto_push(p, SMTP_EV_RCPT);
	ev->mailbox = mb;
	ev->rcpt = rp;
	p->wait = SMTP_WAIT_RCPT;
}

/* ---- DATA / BDAT -------------------------------------------------------------- */

static void cmd_data(struct smtp_proto *p, const char *arg, size_t len)
{
	switch (p->state) {
	case SMTP_STATE_MAIL:
		smtp_proto_error(p, 554, "5.5.1", "Error: no valid recipients");
		return;
	case SMTP_STATE_CHUNKING:
		/* RFC 3030 2: DATA and BDAT do not mix; the message fails. */
		smtp_proto_reply(p, 503, "5.5.1", "Error: DATA after BDAT");
		smtp_proto_data_end(p, SMTP_DATA_REFUSED, true, p->bdat_total);
		smtp_proto_count_error(p);
		return;
	case SMTP_STATE_RCPT: {
		struct smtp_event *ev = smtp_proto_push(p, SMTP_EV_DATA_START);
		ev->bdat = false;
		p->wait = SMTP_WAIT_DATA;
		return;
	}
	case SMTP_STATE_INIT:
	case SMTP_STATE_CONNECT:
	case SMTP_STATE_HELO:
	case SMTP_STATE_DATA:
	case SMTP_STATE_BDAT:
	case SMTP_STATE_AUTH:
	case SMTP_STATE_REJECT:
	case SMTP_STATE_TLS_WAIT:
	case SMTP_STATE_CLOSED:
		return;	/* excluded by the table */
	}
}

/*
 * Parses "size [LAST]" (RFC 3030 2: bdat-cmd = "BDAT" SP chunk-size
 * [SP end-marker]). Returns -1 when no size can be read (the octet stream
 * is then lost), 1 when the size is good but something else is wrong (the
 * chunk can still be skipped), 0 when all is well.
 */
static int bdat_parse(const char *arg, size_t len, unsigned long long *size, bool *last)
{
	size_t i = 0;
	unsigned long long n = 0;

	while (i < len && arg[i] >= '0' && arg[i] <= '9') {
		unsigned d = (unsigned)(arg[i] - '0');
		if (n > (~0ULL - d) / 10)
			return -1;
		n = n * 10 + d;
		i++;
	}
	if (i == 0 || (i < len && arg[i] != ' '))
		return -1;
	*size = n;
	*last = false;
	while (i < len && arg[i] == ' ')
		i++;
	if (i == len)
		return 0;
	if (len - i == 4 && strncasecmp(arg + i, "LAST", 4) == 0) {
		*last = true;
		return 0;
	}
	return 1;
}

/* Reads and drops the chunk, then replies (RFC 3030 2: the receiver must
 * stay in step with a pipelining client after a failed BDAT). */
static void bdat_skip(struct smtp_proto *p, unsigned long long size, int code, const char *enh,
		      const char *text)
{
	p->bdat_left = size;
	p->bdat_chunk = size;
	p->bdat_discard = true;
	p->bdat_count_error = true;
	p->bdat_end = SMTP_BDAT_END_REPLY;
	p->bdat_back = p->state;
	buf_reset(&p->bdat_reply);
	smtp_proto_format(&p->bdat_reply, code, enh, "%s", text);
	smtp_proto_set_state(p, SMTP_STATE_BDAT);
}

static void cmd_bdat(struct smtp_proto *p, const char *arg, size_t len)
{
	unsigned long long size = 0;
	bool last = false;
	int r = bdat_parse(arg, len, &size, &last);

	if (r < 0) {
		/* Without the size the rest of the stream cannot be told from
		 * commands: stop here. */
		smtp_proto_reply(p, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		smtp_proto_close(p, SMTP_EV_CLOSE);
		return;
	}
	if (r > 0) {
		bdat_skip(p, size, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		return;
	}
	switch (p->state) {
	case SMTP_STATE_REJECT:
		bdat_skip(p, size, 503, "5.5.1", "Error: access denied, send QUIT");
		return;
	case SMTP_STATE_CONNECT:
		bdat_skip(p, size, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	case SMTP_STATE_HELO:
		bdat_skip(p, size, 503, "5.5.1", "Error: need MAIL command");
		return;
	case SMTP_STATE_MAIL:
		bdat_skip(p, size, 503, "5.5.1", "Error: need RCPT command");
		return;
	case SMTP_STATE_RCPT:
	case SMTP_STATE_CHUNKING:
		break;
	case SMTP_STATE_INIT:
	case SMTP_STATE_DATA:
	case SMTP_STATE_BDAT:
	case SMTP_STATE_AUTH:
	case SMTP_STATE_TLS_WAIT:
	case SMTP_STATE_CLOSED:
		return;	/* excluded by the table */
	}
	bool first = p->state == SMTP_STATE_RCPT;
	unsigned long long max = p->max_message_size;
	bool too_big = max > 0 && (size > max || p->bdat_total > max - size);

	p->bdat_left = size;
	p->bdat_chunk = size;
	p->bdat_last = last;
	p->bdat_total = p->bdat_total > ~0ULL - size ? ~0ULL : p->bdat_total + size;
	p->bdat_discard = too_big;
	p->bdat_count_error = false;
	p->bdat_end = too_big ? SMTP_BDAT_END_FAIL : SMTP_BDAT_END_OK;
	p->bdat_status = SMTP_DATA_TOO_BIG;
	buf_reset(&p->bdat_reply);
	if (too_big)
		smtp_proto_format(&p->bdat_reply, 552, "5.3.4", "Error: message file too big");
	if (first) {
		struct smtp_event *ev = smtp_proto_push(p, SMTP_EV_DATA_START);
		ev->bdat = true;
		p->wait = SMTP_WAIT_BDAT;
		return;
	}
	smtp_proto_set_state(p, SMTP_STATE_BDAT);
}

/* ---- the rest ------------------------------------------------------------------ */

static void cmd_rset(struct smtp_proto *p, const char *arg, size_t len)
{
	if (in_transaction(p)) {
		smtp_proto_push(p, SMTP_EV_RSET);
		smtp_proto_txn_end(p);
	}
	smtp_proto_reply(p, 250, "2.0.0", "Ok");
}

static void cmd_noop(struct smtp_proto *p, const char *arg, size_t len)
{
	smtp_proto_reply(p, 250, "2.0.0", "Ok");
}

static void cmd_quit(struct smtp_proto *p, const char *arg, size_t len)
{
	smtp_proto_reply(p, 221, "2.0.0", "%s closing connection", p->hostname);
	smtp_proto_close(p, SMTP_EV_QUIT);
}

static void cmd_vrfy(struct smtp_proto *p, const char *arg, size_t len)
{
	/* RFC 5321 3.5.3: 252, and no word on whether the user exists. */
	smtp_proto_reply(p, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_expn(struct smtp_proto *p, const char *arg, size_t len)
{
	smtp_proto_error(p, 502, "5.5.1", "Error: EXPN not implemented");
}

static void cmd_help(struct smtp_proto *p, const char *arg, size_t len)
{
	smtp_proto_reply(p, 214, "2.0.0",
			 "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s",
			 p->starttls && !p->tls ? " STARTTLS" : "");
}

static void cmd_starttls(struct smtp_proto *p, const char *arg, size_t len)
{
	if (!p->starttls) {
		smtp_proto_error(p, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (p->tls) {
		smtp_proto_error(p, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (in_transaction(p)) {
		smtp_proto_error(p, 503, "5.5.1", "Error: MAIL transaction in progress");
		return;
	}
	smtp_proto_push(p, SMTP_EV_STARTTLS);
	p->wait = SMTP_WAIT_STARTTLS;
}

/* ---- AUTH (RFC 4954) -------------------------------------------------------- */

static void cmd_auth(struct smtp_proto *p, const char *arg, size_t len)
{
	if (p->auth_mechanisms == NULL) {
		smtp_proto_error(p, 502, "5.5.1", "Error: authentication not enabled");
		return;
	}
	if (!p->esmtp) {
		smtp_proto_error(p, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (p->authenticated) {
		smtp_proto_error(p, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (p->auth_needs_tls && !p->tls) {
		smtp_proto_error(p, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return;
	}
	/* "mechanism [SP initial-response]": the session's SASL code judges both. */
	size_t mlen = 0;
	while (mlen < len && arg[mlen] != ' ')
		mlen++;
	size_t ilen = mlen < len ? len - mlen - 1 : 0;
	if (mlen == 0 || (mlen < len && (ilen == 0 || memchr(arg + mlen + 1, ' ', ilen) != NULL))) {
		smtp_proto_error(p, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return;
	}
	buf_reset(&p->auth_arg);
	buf_append(&p->auth_arg, arg, mlen);
	if (mlen < len) {
		buf_append_char(&p->auth_arg, '\0');
		buf_append(&p->auth_arg, arg + mlen + 1, ilen);
	}
	smtp_proto_push(p, SMTP_EV_AUTH);
	p->wait = SMTP_WAIT_AUTH;
}
