/*
 * queue_relay.c — the LMTP and SMTP part of a delivery attempt (see queue_int.h).
 *
 * Groups the due recipients of one message by destination — the LMTP
 * server of a local domain's mailbox setting, or a remote domain — and
 * runs one transaction per group with deliver_smtp(), under the delivery
 * settings of the server whose policy applies to the message (the one
 * that accepted it): outbound port, TLS policy, timeouts, per-destination
 * concurrency, smart host (with credentials; tried after direct delivery
 * when smart_host_direct_first), masquerading of the sender. Each
 * recipient's result is recorded with the queue_rcpt_* functions.
 * Owns nothing between calls. RFC 5321 5.1 (next hops), RFC 2033 (LMTP).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver_smtp.h"
#include "lib/xalloc.h"
#include "queue_int.h"

#define QUEUE_KEY_MAX 600
#define DATA_INIT_MAX 120	/* RFC 5321 4.5.3.2.2: 2 minutes for the 354 */
#define DATA_BLOCK_MAX 180	/* RFC 5321 4.5.3.2.3: 3 minutes per block */

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* What every destination of server srv shares: our name, timeouts, limits. */
static void dest_init(struct deliver_dest *d, const struct config_server *srv)
{
	memset(d, 0, sizeof(*d));
	d->params.helo_name = srv->hostname;
	d->params.tls_ctx = srv->outbound_tls_ctx;
	d->params.timeouts.connect = srv->outbound_timeout_connect;
	d->params.timeouts.greeting = srv->outbound_timeout_command;
	d->params.timeouts.command = srv->outbound_timeout_command;
	d->params.timeouts.data_init = min_u(srv->outbound_timeout_command, DATA_INIT_MAX);
	d->params.timeouts.data_block = min_u(srv->outbound_timeout_data, DATA_BLOCK_MAX);
	d->params.timeouts.data_end = srv->outbound_timeout_data;
	d->max_per_dest = srv->outbound_concurrency;
	d->max_messages = srv->outbound_max_messages_per_connection;
}

/* Direct delivery to domain's exchangers. */
static void dest_mx(struct deliver_dest *d, const struct config_server *srv, const char *domain,
		    char key[QUEUE_KEY_MAX])
{
	d->kind = DEST_MX;
	d->name = domain;
	d->port = srv->outbound_port;
	d->params.tls = (enum tls_policy)config_tls_policy_for(srv, domain);
	snprintf(key, QUEUE_KEY_MAX, "mx:%s:%s:%u", srv->name, domain, srv->outbound_port);
	d->pool_key = key;
}

static void dest_smart_host(struct deliver_dest *d, const struct config_server *srv, char key[QUEUE_KEY_MAX])
{
	const struct config_nexthop *h = &srv->smart_host;
	d->kind = h->mx ? DEST_MX : DEST_HOST;
	d->name = h->host;
	d->port = h->port;
	d->params.tls = (enum tls_policy)srv->smart_host_tls;
	d->params.tls_name = h->host;
	d->params.auth_user = srv->smart_host_user;
	d->params.auth_pass = srv->smart_host_password;
	snprintf(key, QUEUE_KEY_MAX, "smart:%s:%s:%u", srv->name, h->host, h->port);
	d->pool_key = key;
}

/* Records the results of one transaction. */
static void apply(struct queue_attempt *a, const size_t *idx, const struct deliver_rcpt *rc, size_t n,
		  const struct deliver_report *rep, bool lmtp)
{
	enum queue_sent how = lmtp ? QUEUE_SENT_DELIVERED
			      : rep->dsn_relayed ? QUEUE_SENT_RELAYED : QUEUE_SENT_PASSED_ON;
	for (size_t k = 0; k < n; k++) {
		const char *relay = rep->relay[0] != '\0' ? rep->relay : NULL;
		switch (rc[k].result) {
		case DELIVER_RCPT_OK:
			queue_rcpt_sent(a, idx[k], how, relay, rc[k].enh, rc[k].reply);
			break;
		case DELIVER_RCPT_PERM:
			queue_rcpt_failed(a, idx[k], relay, rc[k].enh, rc[k].reply);
			break;
		case DELIVER_RCPT_TEMP:
			if (rep->busy)
				queue_rcpt_busy(a, idx[k]);
			else
				queue_rcpt_deferred(a, idx[k], relay, rc[k].enh, rc[k].reply);
			break;
		}
	}
}

/* Direct delivery, then the smart host for the recipients that failed temporarily. */
static void relay_direct_first(struct queue_attempt *a, const struct config_server *srv, const char *domain,
			       const struct deliver_msg *msg, struct deliver_rcpt *rc, size_t n,
			       struct deliver_report *rep)
{
	struct deliver_dest d;
	char key[QUEUE_KEY_MAX];
	dest_init(&d, srv);
	dest_mx(&d, srv, domain, key);
	deliver_smtp(a->qe->dns, a->qe->pool, &d, msg, rc, n, rep);
	if (rep->busy)
		return;

	struct deliver_rcpt *again = xcalloc(n, sizeof(*again));
	size_t *back = xcalloc(n, sizeof(*back));
	size_t m = 0;
	for (size_t k = 0; k < n; k++) {
		if (rc[k].result != DELIVER_RCPT_TEMP)
			continue;
		again[m] = rc[k];
		back[m++] = k;
	}
	if (m > 0) {
		struct deliver_report rep2;
		dest_init(&d, srv);
		dest_smart_host(&d, srv, key);
		deliver_smtp(a->qe->dns, a->qe->pool, &d, msg, again, m, &rep2);
		if (!rep2.busy) {
			for (size_t k = 0; k < m; k++)
				rc[back[k]] = again[k];
			*rep = rep2;
		}
	}
	free(again);
	free(back);
}

/* One destination: hops g's kind, server and domain; recipients idx[0..n). */
static void relay_group(struct queue_attempt *a, const struct queue_hop *g, const size_t *idx, size_t n)
{
	struct envelope *env = &a->f->env;
	struct deliver_rcpt *rc = xcalloc(n, sizeof(*rc));
	for (size_t k = 0; k < n; k++) {
		const struct envelope_rcpt *r = &env->rcpts[idx[k]];
		rc[k].addr = r->addr;
		rc[k].notify = r->notify;
		rc[k].orcpt = r->orcpt;
	}
	char sender[1024];
	struct deliver_msg msg = {
		.id = a->id, .sender = env->sender, .ret = env->ret, .body = env->body,
		.smtputf8 = env->smtputf8, .envid = env->envid, .fd = a->f->fd,
		.content_off = a->f->content_off, .content_len = a->f->content_len,
	};
	struct deliver_report rep;
	memset(&rep, 0, sizeof(rep));
	struct deliver_dest d;
	char key[QUEUE_KEY_MAX];
	const struct config_server *srv = g->kind == ROUTE_LMTP ? g->srv : a->policy;

	if (srv == NULL) {
		for (size_t k = 0; k < n; k++)
			queue_rcpt_deferred(a, idx[k], NULL, "4.3.5", "4.3.5 no virtual server to deliver with");
		free(rc);
		return;
	}
	dest_init(&d, srv);
	if (g->kind == ROUTE_LMTP) {
		struct config_lmtp lmtp;
		struct buf why = BUF_INIT;
		if (config_lmtp_parse(srv->mailbox, &lmtp, &why) < 0) {
			/* cannot happen: the loader checked the same text */
			for (size_t k = 0; k < n; k++)
				queue_rcpt_deferred(a, idx[k], NULL, "4.3.5", "4.3.5 bad LMTP mailbox setting");
			buf_free(&why);
			free(rc);
			return;
		}
		d.kind = lmtp.unix_path != NULL ? DEST_LMTP_UNIX : DEST_LMTP_INET;
		d.name = lmtp.unix_path != NULL ? lmtp.unix_path : lmtp.inet.host;
		d.port = lmtp.inet.port;
		d.params.tls = TLS_POLICY_NONE;
		snprintf(key, sizeof(key), "lmtp:%s", srv->mailbox);
		d.pool_key = key;
		deliver_smtp(a->qe->dns, a->qe->pool, &d, &msg, rc, n, &rep);
		config_nexthop_free(&lmtp.inet);
	} else {
		msg.sender = route_masquerade(srv, env->sender, sender, sizeof(sender));
		if (srv->smart_host.host != NULL && srv->smart_host_direct_first) {
			relay_direct_first(a, srv, g->domain, &msg, rc, n, &rep);
		} else {
			if (srv->smart_host.host != NULL)
				dest_smart_host(&d, srv, key);
			else
				dest_mx(&d, srv, g->domain, key);
			deliver_smtp(a->qe->dns, a->qe->pool, &d, &msg, rc, n, &rep);
		}
	}
	apply(a, idx, rc, n, &rep, g->kind == ROUTE_LMTP);
	free(rc);
}

static bool same_destination(const struct queue_hop *x, const struct queue_hop *y)
{
	if (x->kind != y->kind)
		return false;
	if (x->kind == ROUTE_LMTP)
		return strcmp(x->srv->mailbox, y->srv->mailbox) == 0;
	return strcmp(x->domain, y->domain) == 0;
}

void queue_relay(struct queue_attempt *a, const struct queue_hop *hops, size_t n)
{
	bool *grouped = xcalloc(n, sizeof(*grouped));
	size_t *idx = xcalloc(n, sizeof(*idx));
	for (size_t g = 0; g < n; g++) {
		if (grouped[g])
			continue;
		size_t m = 0;
		for (size_t j = g; j < n; j++) {
			if (!grouped[j] && same_destination(&hops[g], &hops[j])) {
				grouped[j] = true;
				idx[m++] = hops[j].i;
			}
		}
		relay_group(a, &hops[g], idx, m);
	}
	free(grouped);
	free(idx);
}
