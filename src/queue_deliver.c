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
 * Not here: choosing when to run (queue.c), where a recipient goes
 * (route.c), writing the Maildir file (deliver_maildir.c).
 * Log lines are key=value; reasons are quoted with '"' replaced by '\''.
 * RFC 5321 4.5.4.1 (retry, give-up), RFC 3463 (codes in reasons).
 */
#include "queue_deliver.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deliver_maildir.h"
#include "lib/xalloc.h"
#include "log.h"
#include "queue_sched.h"
#include "route.h"

#define QUEUE_REASON_MAX 512

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

static void queue_log_failed(const char *id, const char *addr, const char *reason)
{
	char q[QUEUE_REASON_MAX];
	log_info("event=failed id=%s to=<%s> reason=\"%s\"", id, addr, queue_quote(reason, q, sizeof(q)));
}

/* A temporary failure of recipient r at now: defer it, or fail it when expired. */
static void queue_defer(const char *id, struct envelope *env, struct envelope_rcpt *r,
			const struct config_server *srv, bool expires, const char *reason, long long now)
{
	const unsigned *retry = srv != NULL ? srv->retry : NULL;
	size_t nretry = srv != NULL ? srv->nretry : 0;
	unsigned expire = srv != NULL && expires ? srv->expire : 0;

	if (r->tries < QUEUE_TRIES_MAX)
		r->tries++;
	if (queue_sched_expired(now, env->arrival, expire)) {
		char why[QUEUE_REASON_MAX];
		snprintf(why, sizeof(why), "4.4.7 delivery time expired after %u tries; last error: %s",
			 r->tries, reason);
		r->state = RCPT_FAILED;
		queue_log_failed(id, r->addr, why);
		return;
	}
	r->next_try = queue_sched_next_try(retry, nretry, r->tries, now, env->arrival, expire);
	char q[QUEUE_REASON_MAX];
	log_info("event=deferred id=%s to=<%s> tries=%u next_try=%lld reason=\"%s\"", id, r->addr,
		 r->tries, r->next_try - now, queue_quote(reason, q, sizeof(q)));
}

/* Delivers recipient r once and sets its new state. */
static void queue_deliver_rcpt(const char *id, struct spool_file *f, size_t i, bool earlier_run,
			       const struct config *cfg, const struct config_server *policy, long long now)
{
	struct envelope *env = &f->env;
	struct envelope_rcpt *r = &env->rcpts[i];
	struct route rt;
	struct maildir_result res;
	char unique[64];

	/* One name per (message, recipient): a copy a crashed run published is
	 * recognised, so a restart never delivers it twice. */
	snprintf(unique, sizeof(unique), "%lld.%s_%zu", env->arrival, id, i);

	route_rcpt(cfg, env->server, r->addr, &rt);
	/* the retry policy of the server that accepted it, or of the domain's owner */
	const struct config_server *srv = policy != NULL ? policy : rt.srv;
	switch (rt.kind) {
	case ROUTE_LOCAL:
		if (deliver_maildir_once(rt.maildir, unique, earlier_run, env->sender, r->addr, f->fd,
					 f->content_off, f->content_len, &res) == 0) {
			r->state = RCPT_DELIVERED;
			log_info("event=delivered id=%s to=<%s> mailbox=%s/new/%s%s", id, r->addr, rt.maildir,
				 res.name, res.already ? " already=yes" : "");
			return;
		}
		if (res.permanent) {
			r->state = RCPT_FAILED;
			queue_log_failed(id, r->addr, res.text);
			return;
		}
		queue_defer(id, env, r, srv, true, res.text, now);
		return;
	case ROUTE_REMOTE:
		queue_defer(id, env, r, srv, false, rt.text, now);
		return;
	case ROUTE_DEFER:
		queue_defer(id, env, r, srv, true, rt.text, now);
		return;
	case ROUTE_FAILED:
		r->state = RCPT_FAILED;
		queue_log_failed(id, r->addr, rt.text);
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

enum queue_outcome queue_deliver(struct spool *spool, const struct config *cfg, const char *id,
				 long long now, long long started, long long *next_try)
{
	struct spool_file f;

	*next_try = now + QUEUE_IOERR_RETRY;
	if (spool_file_open(spool, id, &f) < 0)
		return queue_open_failed(spool, id, errno, now, next_try);

	struct envelope *env = &f.env;
	const char *first_domain = NULL;
	if (env->nrcpts > 0 && (first_domain = strrchr(env->rcpts[0].addr, '@')) != NULL)
		first_domain++;
	const struct config_server *policy = route_server(cfg, env->server, first_domain);
	bool *changed = xcalloc(env->nrcpts > 0 ? env->nrcpts : 1, sizeof(*changed));
	bool all_final = true;
	long long earliest = 0;
	bool have_earliest = false;

	/* A file last written before this process started may have been
	 * delivered by the run that crashed: look for its copies in cur/ too. */
	struct stat st;
	bool earlier_run = fstat(f.fd, &st) == 0 && (long long)st.st_mtime <= started;
	for (size_t i = 0; i < env->nrcpts; i++) {
		struct envelope_rcpt *r = &env->rcpts[i];
		if (r->state == RCPT_PENDING && r->next_try <= now) {
			queue_deliver_rcpt(id, &f, i, earlier_run, cfg, policy, now);
			changed[i] = true;
		}
		if (r->state != RCPT_PENDING)
			continue;
		all_final = false;
		if (!have_earliest || r->next_try < earliest)
			earliest = r->next_try;
		have_earliest = true;
	}

	enum queue_outcome outcome = QUEUE_OUTCOME_KEEP;
	if (all_final) {
		if (spool_remove(spool, id) == 0) {
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
		if (!changed[i])
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
	free(changed);
	spool_file_close(&f);
	return outcome;
}
