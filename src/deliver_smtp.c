/*
 * deliver_smtp.c — one queued message to one destination over SMTP or
 * LMTP: the hosts to try, a session for each, fallback between them (see
 * deliver_smtp.h). The transaction on a session is deliver_smtp_txn.c's.
 *
 * Owns nothing between calls: each call takes an idle session from the
 * pool or opens one under a pool slot it reserved, and gives both back
 * (oconn_pool_put, or oconn_close + oconn_pool_release) before returning.
 * Does not: resolve names (dns.c), connect, secure or log in
 * (outbound_conn.c), log per recipient or record results (the caller).
 *
 * Invariants: every recipient leaves with a result, a reply and an
 * enhanced code; a slot reserved here is released on every path that does
 * not hand the session to the pool; a host is given up for the next one
 * only when no session could be set up with it (RFC 5321 5.1), never
 * after it answered the transaction; a cached session that turns out to
 * have died while idle is replaced once, silently. One log line per failed
 * connection: "event=connect_failed id=... relay=... reason=\"...\"".
 * Errors: none as a whole; every problem ends as recipient results.
 *
 * RFC 5321 5.1 (hosts and addresses in order, give up only when every
 * host failed), RFC 7505 4.2 (null MX: 556 5.1.10), RFC 2033 (LMTP over
 * TCP or a unix socket), RFC 3463 (the enhanced codes made up here).
 */
#include "deliver_smtp.h"
#include "deliver_smtp_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "lib/xalloc.h"
#include "log.h"

/* Seconds a delivery waits for a connection of its destination to come free. */
#define DELIVER_SLOT_WAIT 5

/* One call: what it delivers, and the last failure to set up a session. */
struct deliver_ctx {
	struct oconn_pool *pool;
	const struct deliver_dest *dest;
	const struct deliver_msg *msg;
	struct deliver_rcpt *rcpts;
	size_t n;
	struct deliver_report *rep;
	struct oconn_params params;	/* dest->params with lmtp set by the kind */
	struct smtp_reply temp_fail;	/* the last temporary failure, "... by peer" */
	struct smtp_reply perm_fail;	/* the last permanent one */
	bool temp_seen;
	bool stale_seen;		/* a cached session was found dead */
};

void deliver_rcpt_set(struct deliver_rcpt *rc, const struct smtp_reply *r)
{
	int class = r->code / 100;
	switch (class) {
	case 2:
		rc->result = DELIVER_RCPT_OK;
		break;
	case 5:
		rc->result = DELIVER_RCPT_PERM;
		break;
	default:
		/* 4xx; any other code is a peer out of step: try again later. */
		class = 4;
		rc->result = DELIVER_RCPT_TEMP;
		break;
	}
	snprintf(rc->reply, sizeof(rc->reply), "%s", r->text);
	if (r->enh[0] != '\0')
		snprintf(rc->enh, sizeof(rc->enh), "%s", r->enh);
	else
		snprintf(rc->enh, sizeof(rc->enh), "%d.0.0", class);
}

static void deliver_all(struct deliver_ctx *d, const struct smtp_reply *r)
{
	for (size_t i = 0; i < d->n; i++)
		deliver_rcpt_set(&d->rcpts[i], r);
}

/* The text of r after its code and enhanced code. */
static const char *reply_detail(const struct smtp_reply *r)
{
	const char *p = r->text;
	size_t enhlen = strlen(r->enh);
	if (strlen(p) >= 4)
		p += 4;
	if (enhlen > 0 && strncmp(p, r->enh, enhlen) == 0 && p[enhlen] == ' ')
		p += enhlen + 1;
	return p;
}

/*
 * Fills out with the hosts to try, ports set; -1 with *why (the reply for
 * every recipient) when there are none.
 */
static int deliver_hosts(struct dns *dns, const struct deliver_dest *dest, struct dns_result *out,
			 struct smtp_reply *why)
{
	enum dns_status st = DNS_OK;
	switch (dest->kind) {
	case DEST_MX:
		st = dns_lookup_mx(dns, dest->name, dest->dns_timeout, out);
		break;
	case DEST_HOST:
	case DEST_LMTP_INET:
		st = dns_lookup_host(dns, dest->name, dest->dns_timeout, out);
		break;
	case DEST_LMTP_UNIX: {
		memset(out, 0, sizeof(*out));
		struct sockaddr_un *un = (struct sockaddr_un *)&out->hosts[0].addrs[0].sa;
		size_t len = strlen(dest->name);
		/* One test covers both copies below: sun_path is the shorter. */
		_Static_assert(sizeof(un->sun_path) <= sizeof(out->hosts[0].name), "sun_path fits a host name");
		if (len >= sizeof(un->sun_path)) {
			smtp_reply_make(why, 451, "4.3.5", "LMTP socket path too long: %s", dest->name);
			return -1;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, dest->name, len + 1);
		memcpy(out->hosts[0].name, dest->name, len + 1);
		out->hosts[0].addrs[0].len = sizeof(*un);
		out->hosts[0].naddrs = 1;
		out->nhosts = 1;
		return 0;
	}
	}
	switch (st) {
	case DNS_OK:
		break;
	case DNS_NOTFOUND:
		smtp_reply_make(why, 550, "5.1.2", "%s: %s", dest->name, out->error);
		return -1;
	case DNS_NULLMX:
		smtp_reply_make(why, 556, "5.1.10", "Recipient address has null MX");
		return -1;
	case DNS_TEMPFAIL:
		smtp_reply_make(why, 451, "4.4.3", "%s: %s", dest->name, out->error);
		return -1;
	}
	for (size_t h = 0; h < out->nhosts; h++) {
		for (size_t a = 0; a < out->hosts[h].naddrs; a++) {
			struct sockaddr_storage *ss = &out->hosts[h].addrs[a].sa;
			if (ss->ss_family == AF_INET)
				((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)dest->port);
			else if (ss->ss_family == AF_INET6)
				((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)dest->port);
		}
	}
	return 0;
}

/* Logs a failed session set-up and keeps it as "<code> <enh> <detail> by <peer>". */
static void deliver_open_failed(struct deliver_ctx *d, enum oconn_status st, const struct smtp_reply *why,
				const char *peer)
{
	char reason[SMTP_REPLY_TEXT_MAX];
	snprintf(reason, sizeof(reason), "%s", why->text);
	for (char *q = reason; *q != '\0'; q++)
		if (*q == '"')
			*q = '\'';
	log_info("event=connect_failed id=%s relay=%s reason=\"%s\"", d->msg->id, peer, reason);

	bool perm = st == OCONN_PERM;
	char enh[sizeof(why->enh)];
	snprintf(enh, sizeof(enh), "%s", why->enh[0] != '\0' ? why->enh : perm ? "5.0.0" : "4.0.0");
	/* A 421 says the session is over; for the recipient it is a 451. */
	int code = why->code == 421 ? 451 : why->code;
	smtp_reply_make(perm ? &d->perm_fail : &d->temp_fail, code, enh, "%s by %s", reply_detail(why),
			   peer);
	d->temp_seen |= !perm;
}

/* A new session to one address of host h under a slot already reserved; NULL (slot released) on failure. */
static struct oconn *deliver_open(struct deliver_ctx *d, const struct dns_host *h, const struct dns_addr *a)
{
	struct oconn *c;
	struct smtp_reply why;
	char peer[OCONN_PEER_MAX];
	enum oconn_status st = oconn_open((const struct sockaddr *)&a->sa, a->len, h->name, &d->params, &c,
					  &why, peer);
	switch (st) {
	case OCONN_OK:
		return c;
	case OCONN_TEMP:
	case OCONN_PERM:
		break;
	}
	oconn_pool_release(d->pool, d->dest->pool_key);
	deliver_open_failed(d, st, &why, peer);
	return NULL;
}

/*
 * Runs the transaction on c, then hands c to the pool or closes it; false
 * (nothing decided, slot released) when c was a cached session found dead
 * and a new one to the same address could not be opened.
 */
static bool deliver_on(struct deliver_ctx *d, struct oconn *c, bool cached, const struct dns_host *h,
		       const struct dns_addr *a)
{
	enum txn_end end = deliver_txn(c, cached, &d->params, d->msg, d->rcpts, d->n);
	if (end == TXN_STALE) {
		/* It died while idle: not a failure of the host; the slot carries over. */
		oconn_close(c, false);
		d->stale_seen = true;
		c = deliver_open(d, h, a);
		if (c == NULL)
			return false;
		end = deliver_txn(c, false, &d->params, d->msg, d->rcpts, d->n);
	}
	snprintf(d->rep->relay, sizeof(d->rep->relay), "%s", oconn_peer(c));
	d->rep->dsn_relayed = !oconn_caps(c)->dsn;
	d->rep->tls = oconn_tls(c)[0] != '\0';
	switch (end) {
	case TXN_SOUND:
		oconn_pool_put(d->pool, d->dest->pool_key, c, d->dest->max_messages);
		return true;
	case TXN_BROKEN:
	case TXN_STALE:
		break;
	}
	oconn_close(c, false);
	oconn_pool_release(d->pool, d->dest->pool_key);
	return true;
}

/*
 * A pooled idle session (*cached true), or a slot reserved for a new one
 * (*cached false, *c NULL); while the destination is at its limit, waits
 * up to DELIVER_SLOT_WAIT for a session to come back, so that a burst of
 * messages to one place flows through its open connections. False: still
 * full (the caller tries again later).
 */
static bool deliver_session(struct deliver_ctx *d, struct oconn **c, bool *cached)
{
	uint64_t deadline = oconn_deadline(DELIVER_SLOT_WAIT);
	for (;;) {
		uint64_t seen = oconn_pool_generation(d->pool);
		/* After one stale session, idle ones are not trusted again in this call. */
		*c = d->stale_seen ? NULL : oconn_pool_take(d->pool, d->dest->pool_key);
		*cached = *c != NULL;
		if (*cached || oconn_pool_reserve(d->pool, d->dest->pool_key, d->dest->max_per_dest))
			return true;
		if (!oconn_pool_wait(d->pool, seen, deadline))
			return false;
	}
}

/* Every host, every address, until one takes the transaction; false when none could. */
static bool deliver_hosts_try(struct deliver_ctx *d, const struct dns_result *hosts)
{
	for (size_t h = 0; h < hosts->nhosts; h++) {
		const struct dns_host *host = &hosts->hosts[h];
		for (size_t i = 0; i < host->naddrs; i++) {
			struct oconn *c;
			bool cached;
			if (!deliver_session(d, &c, &cached)) {
				struct smtp_reply busy;
				smtp_reply_make(&busy, 451, "4.4.5", "too many connections to %s", d->dest->name);
				deliver_all(d, &busy);
				d->rep->busy = true;
				return true;
			}
			if (!cached)
				c = deliver_open(d, host, &host->addrs[i]);
			if (c != NULL && deliver_on(d, c, cached, host, &host->addrs[i]))
				return true;
		}
	}
	return false;
}

void deliver_smtp(struct dns *dns, struct oconn_pool *pool, const struct deliver_dest *dest,
		  const struct deliver_msg *msg, struct deliver_rcpt *rcpts, size_t n,
		  struct deliver_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	struct deliver_ctx d = {
		.pool = pool, .dest = dest, .msg = msg, .rcpts = rcpts, .n = n, .rep = rep,
		.params = dest->params,
	};
	d.params.lmtp = dest->kind == DEST_LMTP_INET || dest->kind == DEST_LMTP_UNIX;
	struct dns_result *hosts = xcalloc(1, sizeof(*hosts));
	struct smtp_reply why;
	if (deliver_hosts(dns, dest, hosts, &why) < 0)
		deliver_all(&d, &why);
	else if (!deliver_hosts_try(&d, hosts))
		deliver_all(&d, d.temp_seen ? &d.temp_fail : &d.perm_fail);
	free(hosts);
}
