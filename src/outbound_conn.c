/*
 * outbound_conn.c — one outbound SMTP/LMTP session from connect to ready
 * for MAIL: greeting, EHLO/LHLO (HELO fallback), STARTTLS by policy and
 * EHLO again, AUTH; the clear-text retry of the "may" policy; QUIT.
 *
 * Owns each struct oconn from oconn_open() to oconn_close(): its socket,
 * its SSL, its read buffer. Does not: move bytes or time out
 * (outbound_conn_io.c), build SSLs (tls_client.c), log in
 * (outbound_conn_auth.c), keep idle sessions (outbound_pool.c), run
 * transactions (deliver_smtp.c).
 *
 * Invariants: oconn_open() hands out a session only when every step it
 * needed succeeded (TLS up when the policy demands it, AUTH done when
 * credentials are given); pipelined bytes that follow the 220 to STARTTLS
 * are dropped, never read as if they came over TLS; a broken session gets
 * no QUIT. Every TLS failure is logged as one event=tls_failed line.
 * Errors: enum oconn_status plus a reply (the peer's, or made up).
 *
 * RFC 5321 3.1, 3.2, 4.1.1.1, 4.5.3.2 (greeting, EHLO/HELO, timeouts),
 * RFC 2033 4.1 (LHLO), RFC 3207 (STARTTLS), RFC 7435 (opportunistic TLS),
 * RFC 8314 (implicit TLS), RFC 3463 (the enhanced codes we make up).
 */
#include "outbound_conn_int.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "lib/xalloc.h"
#include "log.h"

#define OCONN_COMMAND_RESERVE 1024	/* covers every command we format (AUTH PLAIN's too) */

/* One attempt at a session; oconn_open() makes a second for "may". */
struct oconn_try {
	const struct oconn_params *p;
	const char *host;
	enum tls_policy tls;	/* p->tls, or none on the clear-text retry */
	struct smtp_reply *why;
	bool tls_failed;	/* a handshake failed: "may" tries again in clear text */
};

static const char *oconn_policy_name(enum tls_policy tls)
{
	switch (tls) {
	case TLS_POLICY_NONE:
		return "none";
	case TLS_POLICY_MAY:
		return "may";
	case TLS_POLICY_ENCRYPT:
		return "encrypt";
	case TLS_POLICY_VERIFY:
		return "verify";
	}
	return "?";
}

/* "name[ip]:port"; a unix socket's peer is its name (the path). */
static void oconn_peer_format(char *out, const char *host, const struct sockaddr *addr,
			      socklen_t addrlen)
{
	if (addr->sa_family == AF_UNIX) {
		snprintf(out, OCONN_PEER_MAX, "%s", host);
		return;
	}
	char ip[64], port[8];	/* numeric: an IPv6 address with a scope id fits */
	if (getnameinfo(addr, addrlen, ip, sizeof(ip), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(out, OCONN_PEER_MAX, "%s[?]", host);
	else
		snprintf(out, OCONN_PEER_MAX, "%s[%s]:%s", host, ip, port);
}

int oconn_command(struct oconn *c, unsigned timeout, const char *stage, struct smtp_reply *r,
		  const char *fmt, ...)
{
	/* Reserved up front so the line never moves: a realloc would leave a
	 * copy of AUTH credentials behind in freed memory. */
	struct buf line = BUF_INIT;
	buf_reserve(&line, OCONN_COMMAND_RESERVE);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	buf_append(&line, "\r\n", 2);
	uint64_t deadline = oconn_deadline(timeout);
	int rc = oconn_io_send(c, line.data, line.len, deadline);
	explicit_bzero(line.data, line.cap);
	buf_free(&line);
	char context[32];
	snprintf(context, sizeof(context), " after %s", stage);
	if (rc < 0) {
		smtp_reply_make(r, 421, "4.4.2", "%s%s", c->fault, context);
		return -1;
	}
	return oconn_io_reply(c, r, deadline, context);
}

enum oconn_status oconn_judge(struct oconn *c, const struct smtp_reply *r)
{
	switch (r->code / 100) {
	case 2:
		return OCONN_OK;
	case 4:
		/* RFC 5321 3.8: a server that says 421 is closing the channel. */
		if (r->code == 421)
			c->broken = true;
		return OCONN_TEMP;
	case 5:
		return OCONN_PERM;
	}
	c->broken = true;
	return OCONN_TEMP;
}

/* Logs a TLS failure; reason comes from OpenSSL or the peer: '"' is replaced. */
static void oconn_log_tls_failed(struct oconn *c, struct oconn_try *t, const char *reason,
				 bool plaintext)
{
	char quoted[OCONN_FAULT_MAX + SMTP_REPLY_TEXT_MAX];
	snprintf(quoted, sizeof(quoted), "%s", reason);
	for (char *q = quoted; *q != '\0'; q++)
		if (*q == '"')
			*q = '\'';
	log_warn("event=tls_failed peer=%s policy=%s reason=\"%s\"%s", c->peer,
		 oconn_policy_name(t->tls), quoted, plaintext ? " next=plaintext" : "");
}

/* TLS on the connected socket (after STARTTLS's 220, or at once for a wrapper). */
static enum oconn_status oconn_tls_start(struct oconn *c, struct oconn_try *t)
{
	const char *name = t->p->tls_name != NULL ? t->p->tls_name : t->host;
	bool verify = t->tls == TLS_POLICY_VERIFY;
	c->ssl = tls_client_ssl_new(t->p->tls_ctx, c->fd, name, verify);
	if (c->ssl == NULL) {
		c->broken = true;
		snprintf(c->fault, sizeof(c->fault), "cannot create a TLS session");
	} else if (oconn_io_handshake(c, oconn_deadline(t->p->timeouts.connect)) == 0) {
		tls_describe(c->ssl, c->tls, sizeof(c->tls));
		log_info("event=tls_started peer=%s %s verified=%s", c->peer, c->tls,
			 verify ? "yes" : "no");
		return OCONN_OK;
	}
	t->tls_failed = true;
	bool retry = t->tls == TLS_POLICY_MAY && !t->p->tls_wrapper;
	oconn_log_tls_failed(c, t, c->fault, retry);
	smtp_reply_make(t->why, 421, "4.7.5", "TLS handshake failed: %s", c->fault);
	return OCONN_TEMP;
}

/*
 * A peer that greets or answers EHLO with our own name is this server: the
 * MX records point back at us and the mail would loop (RFC 5321 5.1). As
 * Postfix does, that fails for good with 5.4.6. LMTP servers are local by
 * nature and exempt.
 */
static enum oconn_status oconn_not_us(struct oconn *c, struct oconn_try *t)
{
	if (t->p->lmtp || !smtp_client_names_us(t->why, t->p->helo_name))
		return OCONN_OK;
	smtp_reply_make(t->why, 554, "5.4.6", "mail for %s loops back to myself", t->host);
	return OCONN_PERM;
}

/* EHLO (LHLO); a 5xx to EHLO falls back to HELO with no extensions. */
static enum oconn_status oconn_hello(struct oconn *c, struct oconn_try *t)
{
	const char *verb = t->p->lmtp ? "LHLO" : "EHLO";
	unsigned timeout = t->p->timeouts.command;
	if (oconn_command(c, timeout, verb, t->why, "%s %s", verb, t->p->helo_name) < 0)
		return OCONN_TEMP;
	memset(&c->caps, 0, sizeof(c->caps));
	if (t->why->code / 100 == 2) {
		smtp_client_parse_ehlo(t->why, &c->caps);
		return oconn_not_us(c, t);
	}
	/* RFC 5321 4.1.4: EHLO refused by an old server; LMTP has no HELO. */
	if (t->p->lmtp || t->why->code / 100 != 5)
		return oconn_judge(c, t->why);
	if (oconn_command(c, timeout, "HELO", t->why, "HELO %s", t->p->helo_name) < 0)
		return OCONN_TEMP;
	return oconn_judge(c, t->why);
}

/* A TLS requirement that cannot be met: logged, TEMP. */
static enum oconn_status oconn_tls_missing(struct oconn *c, struct oconn_try *t, const char *what)
{
	oconn_log_tls_failed(c, t, what, false);
	smtp_reply_make(t->why, 421, "4.7.0", "TLS required but %s", what);
	return OCONN_TEMP;
}

/* STARTTLS as the policy asks, then EHLO again over TLS (RFC 3207 4.2). */
static enum oconn_status oconn_starttls(struct oconn *c, struct oconn_try *t)
{
	bool required = t->tls == TLS_POLICY_ENCRYPT || t->tls == TLS_POLICY_VERIFY;
	if (!required && (t->tls == TLS_POLICY_NONE || !c->caps.starttls || t->p->tls_ctx == NULL))
		return OCONN_OK;
	if (t->p->tls_ctx == NULL)
		return oconn_tls_missing(c, t, "no TLS client context is configured");
	if (!c->caps.starttls)
		return oconn_tls_missing(c, t, "not offered");
	if (oconn_command(c, t->p->timeouts.command, "STARTTLS", t->why, "STARTTLS") < 0)
		return OCONN_TEMP;
	if (t->why->code != 220) {
		oconn_judge(c, t->why);
		oconn_log_tls_failed(c, t, t->why->text, !required && !c->broken);
		if (c->broken)
			return OCONN_TEMP;
		if (!required)
			return OCONN_OK;	/* opportunistic: the session goes on in clear text */
		char refused[SMTP_REPLY_TEXT_MAX];
		snprintf(refused, sizeof(refused), "%s", t->why->text);
		smtp_reply_make(t->why, 421, "4.7.0", "TLS required but STARTTLS refused: %s", refused);
		return OCONN_TEMP;
	}
	/* Whatever the peer sent after its 220 came in clear text; RFC 3207 6. */
	c->in_off = c->in_len = 0;
	enum oconn_status st = oconn_tls_start(c, t);
	if (st != OCONN_OK)
		return st;
	return oconn_hello(c, t);
}

/* Connect to AUTH, as one attempt with policy t->tls. */
static enum oconn_status oconn_try_open(struct oconn *c, const struct sockaddr *addr,
					socklen_t addrlen, struct oconn_try *t)
{
	const struct oconn_params *p = t->p;
	if (oconn_io_connect(c, addr, addrlen, oconn_deadline(p->timeouts.connect)) < 0) {
		smtp_reply_make(t->why, 421, "4.4.1", "%s", c->fault);
		return OCONN_TEMP;
	}
	if (p->tls_wrapper) {
		if (p->tls_ctx == NULL)
			return oconn_tls_missing(c, t, "no TLS client context is configured");
		enum oconn_status st = oconn_tls_start(c, t);
		if (st != OCONN_OK)
			return st;
	}
	if (oconn_io_reply(c, t->why, oconn_deadline(p->timeouts.greeting), " waiting for greeting") < 0)
		return OCONN_TEMP;
	enum oconn_status st = oconn_judge(c, t->why);
	if (st == OCONN_OK)
		st = oconn_not_us(c, t);
	if (st == OCONN_OK)
		st = oconn_hello(c, t);
	if (st == OCONN_OK && !p->tls_wrapper)
		st = oconn_starttls(c, t);
	if (st == OCONN_OK)
		st = oconn_auth(c, p, t->why);
	return st;
}

static struct oconn *oconn_new(const struct sockaddr *addr, socklen_t addrlen, const char *host)
{
	struct oconn *c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->local = oconn_addr_is_local(addr);
	oconn_peer_format(c->peer, host, addr, addrlen);
	smtp_reply_parser_init(&c->parser);
	return c;
}

enum oconn_status oconn_open(const struct sockaddr *addr, socklen_t addrlen, const char *host,
			     const struct oconn_params *p, struct oconn **out,
			     struct smtp_reply *why, char peer[OCONN_PEER_MAX])
{
	struct oconn_try t = { .p = p, .host = host, .tls = p->tls, .why = why };
	*out = NULL;
	for (;;) {
		struct oconn *c = oconn_new(addr, addrlen, host);
		snprintf(peer, OCONN_PEER_MAX, "%s", c->peer);
		enum oconn_status st = oconn_try_open(c, addr, addrlen, &t);
		if (st == OCONN_OK) {
			*out = c;
			return st;
		}
		oconn_close(c, true);
		if (!t.tls_failed || t.tls != TLS_POLICY_MAY || p->tls_wrapper)
			return st;
		t.tls = TLS_POLICY_NONE;
		t.tls_failed = false;
	}
}

const char *oconn_peer(const struct oconn *c)
{
	return c->peer;
}

const struct smtp_caps *oconn_caps(const struct oconn *c)
{
	return &c->caps;
}

const char *oconn_tls(const struct oconn *c)
{
	return c->tls;
}

unsigned oconn_messages(const struct oconn *c)
{
	return c->messages;
}

void oconn_count_message(struct oconn *c)
{
	c->messages++;
}

void oconn_close(struct oconn *c, bool quit)
{
	if (c == NULL)
		return;
	if (quit && !c->broken) {
		struct smtp_reply r;
		oconn_command(c, OCONN_QUIT_SECONDS, "QUIT", &r, "QUIT");
	}
	if (c->ssl != NULL) {
		/* One try at close_notify; the peer's answer is not awaited. */
		if (!c->broken)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
