/*
 * queue_deliver.c — one delivery attempt of one queued message (see queue_deliver.h).
 *
 * Owns nothing between calls: the queue file is the only record. Runs on a
 * delivery thread. Invariants, and why:
 * - A recipient's new state is written only after its delivery finished
 *   (deliver_maildir fsync'd the copy), and synced before the attempt
 *   reports back; a crash in between repeats a delivery (a duplicate),
 *   never loses one.
 * - When every recipient is final the file is removed without writing the
 *   states first: the removal is itself the record that nothing is left to
 *   do, and spool_remove fsyncs the directory. If the removal fails, the
 *   states are written and synced instead, so a retry does not deliver
 *   twice.
 * - `now` comes in from the caller: expiry and the retry schedule are pure
 *   arithmetic (queue_sched.c).
 * - A message with more Received: fields than max_hop_count is looping:
 *   every due recipient fails (RFC 5321 6.3), local ones too.
 * - An admin's bounce is a failure like any other: noted, reported by
 *   queue_report.c, and written only once the report is durable.
 * Not here: choosing when to run (queue.c), where a recipient goes
 * (route.c), writing the Maildir file (deliver_maildir.c), LMTP and SMTP
 * transactions (queue_relay.c, deliver_smtp.c).
 * Log lines are key=value; reasons are quoted with '"' replaced by '\''.
 * RFC 5321 4.5.4.1 (retry, give-up), RFC 3463 (codes in reasons).
 */
#include "queue_deliver.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver_maildir.h"
#include "lib/xalloc.h"
#include "log.h"
#include "message.h"
#include "queue_int.h"
#include "queue_sched.h"
#include "route.h"
#include "stats.h"

#define QUEUE_REASON_MAX 512
#define QUEUE_HEADER_READ (64 * 1024)	/* Received: fields are counted in this much of the header */

/* Copies text into out with double quotes and control characters made harmless. */
static const char *queue_quote(const char *text, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = text; *p != '\0' && n + 1 < size; p++) {
		unsigned char c = (unsigned char)*p;
		out[n++] = c == '"' ? '\'' : c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	out[n] = '\0';
	return out;
}

/* The enhanced status code in "550 5.1.1 text" or "5.1.1 text", or def. */
static const char *queue_dsn_of(const char *text, char *out, size_t size, const char *def)
{
	const char *p = text;
	if (p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] == ' ')
		p += 4;
	size_t n = strspn(p, "0123456789.");
	if (n >= 5 && n < size && (p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.') {
		memcpy(out, p, n);
		out[n] = '\0';
		return out;
	}
	return def;
}

/* " relay=R" or "" */
static void queue_relay_field(const char *relay, char *out, size_t size)
{
	if (relay != NULL && relay[0] != '\0')
		snprintf(out, size, " relay=%s", relay);
	else
		out[0] = '\0';
}

/*
 * Notes what recipient i's sender may have to be told. text is a reply
 * ("550 5.1.1 ...") or one of our reasons ("5.1.1 ..."), which is given
 * the shape of the reply we would have sent (the Diagnostic-Code is an
 * SMTP one either way).
 */
static void queue_note(struct queue_attempt *a, size_t i, enum dsn_action action, const char *status,
		       const char *relay, const char *text)
{
	struct queue_note *n = &a->notes[i];
	n->set = true;
	n->action = action;
	snprintf(n->status, sizeof(n->status), "%s", status);
	/* "host[ip]:port" -> host; "[ip][ip]:port" (an address literal) -> ip */
	n->remote_mta[0] = '\0';
	if (relay != NULL && relay[0] != '\0') {
		size_t len = strcspn(relay, "[");
		if (len == 0 && relay[0] == '[')
			snprintf(n->remote_mta, sizeof(n->remote_mta), "%.*s", (int)strcspn(relay + 1, "]"),
				 relay + 1);
		else
			snprintf(n->remote_mta, sizeof(n->remote_mta), "%.*s", (int)len, relay);
	}
	bool reply = text[0] >= '2' && text[0] <= '5' && strspn(text, "0123456789") == 3 && text[3] == ' ';
	if (reply)
		snprintf(n->diag, sizeof(n->diag), "%s", text);
	else
		snprintf(n->diag, sizeof(n->diag), "%c50 %s", status[0], text);
}

void queue_rcpt_sent(struct queue_attempt *a, size_t i, enum queue_sent how, const char *relay,
		     const char *dsn, const char *reply)
{
	struct envelope_rcpt *r = &a->f->env.rcpts[i];
	char q[QUEUE_REASON_MAX], d[16], rf[OCONN_PEER_MAX + 8];
	r->state = RCPT_DELIVERED;
	a->changed[i] = true;
	const char *code = dsn != NULL ? dsn : queue_dsn_of(reply, d, sizeof(d), "2.0.0");
	if (how != QUEUE_SENT_PASSED_ON)
		queue_note(a, i, how == QUEUE_SENT_RELAYED ? DSN_ACTION_RELAYED : DSN_ACTION_DELIVERED, code,
			   relay, reply);
	stats_count(a->f->env.server, STATS_SENT);
	queue_relay_field(relay, rf, sizeof(rf));
	log_info("event=delivered id=%s to=<%s>%s delay=%lld status=sent dsn=%s reply=\"%s\"", a->id,
		 r->addr, rf, a->now - a->f->env.arrival, code, queue_quote(reply, q, sizeof(q)));
}

/* A failure for good: reason is logged, diag (the reply behind it) goes in the report. */
static void queue_rcpt_fail(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
			    const char *reason, const char *diag)
{
	struct envelope_rcpt *r = &a->f->env.rcpts[i];
	char q[QUEUE_REASON_MAX], d[16], rf[OCONN_PEER_MAX + 8];
	r->state = RCPT_FAILED;
	a->changed[i] = true;
	const char *code = dsn != NULL ? dsn : queue_dsn_of(reason, d, sizeof(d), "5.0.0");
	queue_note(a, i, DSN_ACTION_FAILED, code, relay, diag);
	stats_count(a->f->env.server, STATS_BOUNCED);
	queue_relay_field(relay, rf, sizeof(rf));
	log_info("event=failed id=%s to=<%s>%s delay=%lld status=bounced dsn=%s reason=\"%s\"", a->id,
		 r->addr, rf, a->now - a->f->env.arrival, code, queue_quote(reason, q, sizeof(q)));
}

void queue_rcpt_failed(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
		       const char *reason)
{
	queue_rcpt_fail(a, i, relay, dsn, reason, reason);
}

void queue_rcpt_deferred(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
			 const char *reason)
{
	struct envelope *env = &a->f->env;
	struct envelope_rcpt *r = &env->rcpts[i];
	const struct config_server *srv = a->policy;
	const unsigned *retry = srv != NULL ? srv->retry : NULL;
	size_t nretry = srv != NULL ? srv->nretry : 0;
	unsigned expire = srv != NULL ? srv->expire : 0;
	char q[QUEUE_REASON_MAX], d[16], rf[OCONN_PEER_MAX + 8];

	a->changed[i] = true;
	if (r->tries < QUEUE_TRIES_MAX)
		r->tries++;
	if (queue_sched_expired(a->now, env->arrival, expire)) {
		char why[QUEUE_REASON_MAX];
		snprintf(why, sizeof(why), "4.4.7 delivery time expired after %u tries; last error: %s",
			 r->tries, reason);
		queue_rcpt_fail(a, i, relay, "4.4.7", why, reason);
		return;
	}
	r->next_try = queue_sched_next_try(retry, nretry, r->tries, a->now, env->arrival, expire);
	/* Late enough to warn the sender, once (RCPT_WARNED once the report is queued). */
	unsigned warn = srv != NULL ? srv->delay_warning : 0;
	if (warn > 0 && r->state == RCPT_PENDING && a->now - env->arrival >= (long long)warn)
		queue_note(a, i, DSN_ACTION_DELAYED, dsn != NULL ? dsn : queue_dsn_of(reason, d, sizeof(d), "4.0.0"),
			   relay, reason);
	queue_relay_field(relay, rf, sizeof(rf));
	stats_count(env->server, STATS_DEFERRED);
	log_info("event=deferred id=%s to=<%s>%s delay=%lld status=deferred dsn=%s tries=%u next_try=%lld "
		 "reason=\"%s\"", a->id, r->addr, rf, a->now - env->arrival,
		 dsn != NULL ? dsn : queue_dsn_of(reason, d, sizeof(d), "4.0.0"), r->tries,
		 r->next_try - a->now, queue_quote(reason, q, sizeof(q)));
}

void queue_rcpt_busy(struct queue_attempt *a, size_t i)
{
	/* in memory only: the state on disk (due) is still right */
	a->f->env.rcpts[i].next_try = a->now + 1;
}

bool queue_maildir(struct queue_attempt *a, size_t i, const struct route *rt, bool earlier_run,
		   bool record_failure)
{
	struct envelope *env = &a->f->env;
	struct envelope_rcpt *r = &env->rcpts[i];
	struct maildir_result res;
	char unique[64];

	/* One name per (message, recipient): a copy a crashed run published is
	 * recognised, so a restart never delivers it twice. */
	snprintf(unique, sizeof(unique), "%lld.%s_%zu", env->arrival, a->id, i);
	if (deliver_maildir_once(rt->maildir, unique, earlier_run, env->sender, r->addr, a->f->fd,
				 a->f->content_off, a->f->content_len, &res) == 0) {
		r->state = RCPT_DELIVERED;
		a->changed[i] = true;
		queue_note(a, i, DSN_ACTION_DELIVERED, "2.0.0", NULL, "250 2.0.0 delivered to its Maildir");
		stats_count(env->server, STATS_SENT);
		log_info("event=delivered id=%s to=<%s> delay=%lld status=sent mailbox=%s/new/%s%s", a->id,
			 r->addr, a->now - env->arrival, rt->maildir, res.name,
			 res.already ? " already=yes" : "");
		return true;
	}
	if (!record_failure)
		return false;
	if (res.permanent)
		queue_rcpt_failed(a, i, NULL, NULL, res.text);
	else
		queue_rcpt_deferred(a, i, NULL, NULL, res.text);
	return false;
}

const char *queue_loop_check(struct queue_attempt *a, char *why, size_t size)
{
	if (a->policy == NULL || a->policy->max_hop_count == 0)
		return NULL;
	size_t want = a->f->content_len < QUEUE_HEADER_READ ? (size_t)a->f->content_len : QUEUE_HEADER_READ;
	char *head = xmalloc(want > 0 ? want : 1);
	ssize_t got = pread(a->f->fd, head, want, a->f->content_off);
	unsigned hops = got > 0 ? message_count_field(head, (size_t)got, "Received") : 0;
	free(head);
	if (hops <= a->policy->max_hop_count)
		return NULL;
	snprintf(why, size, "5.4.6 too many hops: %u Received: header fields, the limit is %u (mail loop?)",
		 hops, a->policy->max_hop_count);
	return why;
}

/* Routes recipient i: local Maildir at once; LMTP and remote into hops. */
static void queue_route_one(struct queue_attempt *a, size_t i, bool earlier_run,
			    struct queue_hop *hops, size_t *nhops)
{
	struct route rt;
	route_rcpt(a->cfg, a->f->env.server, a->f->env.rcpts[i].addr, &rt);
	switch (rt.kind) {
	case ROUTE_LOCAL:
		queue_maildir(a, i, &rt, earlier_run, true);
		return;
	case ROUTE_LMTP:
	case ROUTE_REMOTE: {
		struct queue_hop *h = &hops[(*nhops)++];
		h->i = i;
		h->kind = rt.kind;
		h->srv = rt.srv;
		memcpy(h->domain, rt.domain, sizeof(h->domain));
		return;
	}
	case ROUTE_DEFER:
		queue_rcpt_deferred(a, i, NULL, NULL, rt.text);
		return;
	case ROUTE_FAILED:
		queue_rcpt_failed(a, i, NULL, NULL, rt.text);
		return;
	}
}

/* Handles a queue file that cannot be opened. */
static enum queue_outcome queue_open_failed(struct spool *spool, const char *id, int err,
					    long long now, long long *next_try)
{
	switch (err) {
	case ENOENT:
		/* removed behind our back (by an admin): nothing to deliver */
		log_warn("event=vanished id=%s", id);
		return QUEUE_OUTCOME_FORGET;
	case EINVAL:
		if (spool_quarantine(spool, id) == 0)
			log_error("event=quarantined id=%s reason=\"corrupt queue file, moved to corrupt/\"", id);
		else
			log_error("event=corrupt id=%s reason=\"corrupt queue file; cannot move it aside: %s\"",
				  id, strerror(errno));
		/* never delivered; a restart's recovery scan finds it again if it stayed */
		return QUEUE_OUTCOME_FORGET;
	default:
		log_error("event=spool_error id=%s op=open error=\"%s\"", id, strerror(err));
		*next_try = now + QUEUE_IOERR_RETRY;
		return QUEUE_OUTCOME_KEEP;
	}
}

enum queue_outcome queue_deliver(const struct queue_env *qe, const struct config *cfg, const char *id,
				 long long now, unsigned flags, long long *next_try)
{
	struct spool_file f;

	*next_try = now + QUEUE_IOERR_RETRY;
	if (spool_file_open(qe->spool, id, &f) < 0)
		return queue_open_failed(qe->spool, id, errno, now, next_try);

	struct envelope *env = &f.env;
	const char *first_domain = NULL;
	if (env->nrcpts > 0 && (first_domain = strrchr(env->rcpts[0].addr, '@')) != NULL)
		first_domain++;
	struct queue_attempt a = {
		.qe = qe, .cfg = cfg, .id = id, .f = &f, .now = now,
		.policy = route_server(cfg, env->server, first_domain),
		.changed = xcalloc(env->nrcpts > 0 ? env->nrcpts : 1, sizeof(bool)),
		.notes = xcalloc(env->nrcpts > 0 ? env->nrcpts : 1, sizeof(struct queue_note)),
	};
	struct queue_hop *hops = xcalloc(env->nrcpts > 0 ? env->nrcpts : 1, sizeof(*hops));
	size_t nhops = 0;

	/*
	 * A message that arrived before this process started may have been
	 * delivered by the run that crashed, and a reader may have moved the
	 * copy on to cur/: search there too. Not "a file last written before
	 * the start": a recipient the crashed run delivered while not due (a
	 * flush) is tried here only when due, after this run has rewritten
	 * the file for the others.
	 */
	bool earlier_run = env->arrival <= qe->started;
	char loop[QUEUE_REASON_MAX];
	const char *looping = queue_loop_check(&a, loop, sizeof(loop));
	bool any_time = (flags & (QUEUE_DELIVER_FORCE | QUEUE_DELIVER_BOUNCE)) != 0;
	for (size_t i = 0; i < env->nrcpts; i++) {
		struct envelope_rcpt *r = &env->rcpts[i];
		if (!rcpt_state_pending(r->state) || (r->next_try > now && !any_time))
			continue;
		if (flags & QUEUE_DELIVER_BOUNCE)
			queue_rcpt_failed(&a, i, NULL, "5.0.0", QUEUE_BOUNCE_REASON);
		else if (looping != NULL)
			queue_rcpt_failed(&a, i, NULL, "5.4.6", looping);
		else
			queue_route_one(&a, i, earlier_run, hops, &nhops);
	}
	if (nhops > 0)
		queue_relay(&a, hops, nhops);
	free(hops);
	queue_report(&a);

	bool all_final = true;
	long long earliest = 0;
	for (size_t i = 0; i < env->nrcpts; i++) {
		struct envelope_rcpt *r = &env->rcpts[i];
		if (!rcpt_state_pending(r->state))
			continue;
		if (all_final || r->next_try < earliest)
			earliest = r->next_try;
		all_final = false;
	}

	enum queue_outcome outcome = QUEUE_OUTCOME_KEEP;
	if (all_final) {
		if (spool_remove(qe->spool, id) == 0) {
			log_info("event=removed id=%s", id);
			outcome = QUEUE_OUTCOME_FORGET;
			goto done;
		}
		log_error("event=spool_error id=%s op=remove error=\"%s\"", id, strerror(errno));
		earliest = now + QUEUE_IOERR_RETRY;
	}
	*next_try = earliest;
	bool dirty = false;
	for (size_t i = 0; i < env->nrcpts; i++) {
		if (!a.changed[i])
			continue;
		if (spool_file_update_rcpt(&f, i) == 0) {
			dirty = true;
			continue;
		}
		/* that recipient keeps its old state on disk: it is tried again */
		log_error("event=spool_error id=%s op=update error=\"%s\"", id, strerror(errno));
		*next_try = now + QUEUE_IOERR_RETRY;
	}
	if (dirty && spool_file_sync(&f) < 0) {
		log_error("event=spool_error id=%s op=sync error=\"%s\"", id, strerror(errno));
		*next_try = now + QUEUE_IOERR_RETRY;
	}
done:
	free(a.notes);
	free(a.changed);
	spool_file_close(&f);
	return outcome;
}
