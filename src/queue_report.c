/*
 * queue_report.c — what the sender is told after a delivery attempt (see queue_int.h).
 *
 * The notes queue_deliver.c and queue_relay.c took during the attempt say
 * what happened to each recipient; NOTIFY (RFC 3461 4.1) says which of
 * those the sender wants to hear of: failures and delays unless NOTIFY
 * says otherwise, successes only with NOTIFY=SUCCESS, nothing with NEVER.
 * One attempt makes at most one report, covering every recipient that
 * needs telling (RFC 3464 2: one DSN may report on several recipients).
 *
 * Invariants, and why:
 * - A report is a queued message like any other (from <>, to the sender
 *   and for failures also to ndr_copy_to): committed with fsync before the
 *   attempt writes the states that caused it. A crash in between sends
 *   the report twice at worst, never loses it; a report that cannot be
 *   queued puts the failed recipients back to pending, to fail (and be
 *   reported) again a minute later.
 * - Mail from <> is never reported on (RFC 5321 4.5.5, 6.1): no bounce
 *   loops. Its failed recipients are kept for the admin in the badmail
 *   directory (ID.eml, the message; ID.txt, one line per failure), synced
 *   before the failure is recorded, as Exchange's badmail folder does.
 * - Delayed recipients that were reported become RCPT_WARNED, so the
 *   delay report goes out once.
 * Runs on a delivery thread; blocks on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "log.h"
#include "message.h"
#include "queue_int.h"
#include "smtp_proto.h"

#define REPORT_CHUNK (64 * 1024)		/* the original is copied in pieces this big */
#define REPORT_HEADERS_MAX (256 * 1024)		/* RET=HDRS: at most this much of the original */

/* Whether recipient i's NOTIFY asks to be told of what its note says (RFC 3461 4.1). */
static bool report_wanted(const struct envelope_rcpt *r, const struct queue_note *n)
{
	if (!n->set || (r->notify & SMTP_NOTIFY_NEVER))
		return false;
	switch (n->action) {
	case DSN_ACTION_FAILED:
		return r->notify == 0 || (r->notify & SMTP_NOTIFY_FAILURE);
	case DSN_ACTION_DELAYED:
		return r->notify == 0 || (r->notify & SMTP_NOTIFY_DELAY);
	case DSN_ACTION_DELIVERED:
	case DSN_ACTION_RELAYED:
		return (r->notify & SMTP_NOTIFY_SUCCESS) != 0;
	}
	return false;
}

/* The settings that speak for the message: its server's, else the first. */
static const struct config_server *report_server(const struct queue_attempt *a)
{
	return a->policy != NULL ? a->policy : &a->cfg->servers[0];
}

/* Reads up to size bytes of the content at off; what pread() returns. */
static ssize_t report_pread(const struct spool_file *f, char *buf, size_t size, off_t off)
{
	off_t left = f->content_len - off;
	size_t want = left < (off_t)size ? (size_t)left : size;
	ssize_t got;
	do
		got = pread(f->fd, buf, want, f->content_off + off);
	while (got < 0 && errno == EINTR);
	return got;
}

/*
 * Calls put(arg, bytes) for the first len bytes of the content; -1 (errno)
 * when it cannot be read or put fails. *crlf: whether they end in CRLF.
 */
static int report_copy(const struct spool_file *f, off_t len, int (*put)(void *arg, const void *p, size_t n),
		       void *arg, bool *crlf)
{
	char *chunk = xmalloc(REPORT_CHUNK);
	char last[2] = { 0, 0 };
	int rc = 0;
	for (off_t off = 0; off < len && rc == 0;) {
		ssize_t got = report_pread(f, chunk, (size_t)(len - off < REPORT_CHUNK ? len - off : REPORT_CHUNK),
					   off);
		if (got <= 0) {
			if (got == 0)
				errno = EIO;	/* shorter than its trailer said: the file changed under us */
			rc = -1;
			break;
		}
		rc = put(arg, chunk, (size_t)got);
		last[0] = got >= 2 ? chunk[got - 2] : last[1];
		last[1] = chunk[got - 1];
		off += got;
	}
	free(chunk);
	*crlf = last[0] == '\r' && last[1] == '\n';
	return rc;
}

/* The length of the original's header section (all of its first REPORT_HEADERS_MAX bytes
 * when no empty line ends it there). */
static off_t report_header_len(const struct spool_file *f)
{
	size_t want = f->content_len < REPORT_HEADERS_MAX ? (size_t)f->content_len : REPORT_HEADERS_MAX;
	char *head = xmalloc(want > 0 ? want : 1);
	ssize_t got = report_pread(f, head, want, 0);
	size_t len = got > 0 ? message_header_len(head, (size_t)got) : 0;
	free(head);
	return len > 0 ? (off_t)len : (off_t)want;
}

static int report_put(void *arg, const void *p, size_t n)
{
	return spool_msg_write(arg, p, n);
}

/* Writes buf to the report and empties it. */
static int report_flush(struct spool_msg *m, struct buf *b)
{
	int rc = spool_msg_write(m, b->data, b->len);
	buf_reset(b);
	return rc;
}

/* Queues the report on rc[0..n); 0, or -1 with errno (nothing queued). */
static int report_queue(struct queue_attempt *a, const struct dsn_rcpt *rc, size_t n, bool any_failed)
{
	const struct envelope *env = &a->f->env;
	const struct config_server *srv = report_server(a);
	struct dsn_report r = {
		.reporting_mta = srv->hostname, .to = env->sender, .orig_id = a->id,
		.envid = env->envid, .client_helo = env->helo, .client_addr = env->client_addr,
		.arrival = env->arrival, .now = a->now, .smtputf8 = env->smtputf8,
		.include = dsn_include(env->ret, (unsigned long long)a->f->content_len, any_failed),
		.rcpts = rc, .n = n,
	};
	char from[300];
	snprintf(from, sizeof(from), "postmaster@%s", srv->hostname);
	r.from = from;

	struct envelope renv;
	envelope_init(&renv);
	renv.arrival = a->now;
	renv.server = xstrdup(env->server);
	renv.sender = xstrdup("");
	renv.client_addr = xstrdup("");
	renv.helo = xstrdup(srv->hostname);
	renv.ret = SMTP_RET_NONE;
	renv.body = r.include != DSN_INCLUDE_NONE ? env->body : SMTP_BODY_NONE;
	renv.smtputf8 = env->smtputf8;
	envelope_add_rcpt(&renv, env->sender, NULL, SMTP_NOTIFY_NEVER);
	if (any_failed && srv->ndr_copy_to != NULL)
		envelope_add_rcpt(&renv, srv->ndr_copy_to, NULL, SMTP_NOTIFY_NEVER);
	struct spool_msg *m = spool_msg_begin(a->qe->spool, &renv, NULL, 0);
	envelope_free(&renv);
	if (m == NULL)
		return -1;

	r.report_id = spool_msg_id(m);
	struct buf b = BUF_INIT;
	dsn_report_begin(&r, &b);
	int rc_w = report_flush(m, &b);
	bool crlf = true;
	if (rc_w == 0 && r.include != DSN_INCLUDE_NONE) {
		off_t len = r.include == DSN_INCLUDE_FULL ? a->f->content_len : report_header_len(a->f);
		rc_w = report_copy(a->f, len, report_put, m, &crlf);
	}
	dsn_report_end(&r, crlf, &b);
	if (rc_w == 0)
		rc_w = report_flush(m, &b);
	buf_free(&b);
	if (rc_w < 0) {
		int err = errno;
		spool_msg_abort(m);
		errno = err;
		return -1;
	}
	char rid[SPOOL_ID_MAX + 1];
	snprintf(rid, sizeof(rid), "%s", r.report_id);
	if (spool_msg_commit_wait(m) < 0)
		return -1;
	bool any_delayed = false;
	for (size_t i = 0; i < n; i++)
		any_delayed |= rc[i].action == DSN_ACTION_DELAYED;
	log_info("event=report id=%s orig=%s kind=%s to=<%s> rcpts=%zu%s%s%s", rid, a->id,
		 any_failed ? "failure" : any_delayed ? "delay" : "success", env->sender, n,
		 any_failed && srv->ndr_copy_to != NULL ? " copy=<" : "",
		 any_failed && srv->ndr_copy_to != NULL ? srv->ndr_copy_to : "",
		 any_failed && srv->ndr_copy_to != NULL ? ">" : "");
	return 0;
}

/* mkdir -p of dir (mode 0700), each new directory synced into its parent; 0 or -1 with errno. */
static int badmail_mkdir(const char *dir)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0700) == 0) {
			/* a new directory is durable only once its parent is synced */
			char *slash = strrchr(path, '/');
			int pfd = slash == NULL ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
			if (slash != NULL) {
				*slash = '\0';
				pfd = open(slash == path ? "/" : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				*slash = '/';
			}
			int rc = pfd >= 0 ? fsync(pfd) : -1;
			if (pfd >= 0)
				close(pfd);
			if (rc < 0)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
		if (c == '\0')
			return 0;
		*p = c;
	}
}

static int fd_put(void *arg, const void *p, size_t n)
{
	int fd = *(int *)arg;
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, (const char *)p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* Writes (once) and syncs DIR/ID.eml, the message; 0 or -1 (errno). */
static int badmail_message(struct queue_attempt *a, int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;	/* an earlier attempt kept it */
	bool crlf;
	int rc = report_copy(a->f, a->f->content_len, fd_put, &fd, &crlf);
	if (rc == 0)
		rc = fsync(fd);
	int err = errno;
	close(fd);
	if (rc < 0) {
		unlinkat(dfd, name, 0);
		errno = err;
	}
	return rc;
}

/* Appends one line per failed recipient to DIR/ID.txt and syncs it; 0 or -1 (errno). */
static int badmail_reasons(struct queue_attempt *a, int dfd, const char *name, const bool *failed)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < a->f->env.nrcpts; i++) {
		if (!failed[i])
			continue;
		const struct queue_note *n = &a->notes[i];
		buf_printf(&b, "time=%lld id=%s from=<> to=<%s> dsn=%s%s%s reason=\"", a->now, a->id,
			   a->f->env.rcpts[i].addr, n->status, n->remote_mta[0] != '\0' ? " relay=" : "",
			   n->remote_mta);
		for (const char *p = n->diag; *p != '\0'; p++)
			buf_append_char(&b, *p == '"' ? '\'' : (unsigned char)*p < 0x20 ? ' ' : *p);
		buf_append_str(&b, "\"\n");
	}
	int rc = fd_put(&fd, b.data, b.len);
	if (rc == 0)
		rc = fsync(fd);
	int err = errno;
	close(fd);
	buf_free(&b);
	errno = err;
	return rc;
}

/* Keeps the message from <> and why its recipients failed[] failed; 0 or -1 (errno). */
static int badmail_keep(struct queue_attempt *a, const bool *failed, size_t nfailed)
{
	const struct config_server *srv = report_server(a);
	char dir[4096];
	if (srv->badmail != NULL)
		snprintf(dir, sizeof(dir), "%s", srv->badmail);
	else
		snprintf(dir, sizeof(dir), "%s/badmail", a->cfg->global.spool);
	if (badmail_mkdir(dir) < 0)
		return -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	char eml[SPOOL_ID_MAX + 8], txt[SPOOL_ID_MAX + 8];
	snprintf(eml, sizeof(eml), "%s.eml", a->id);
	snprintf(txt, sizeof(txt), "%s.txt", a->id);
	int rc = badmail_message(a, dfd, eml);
	if (rc == 0)
		rc = badmail_reasons(a, dfd, txt, failed);
	if (rc == 0)
		rc = fsync(dfd);
	int err = errno;
	close(dfd);
	if (rc < 0) {
		errno = err;
		return -1;
	}
	log_warn("event=badmail id=%s path=%s/%s rcpts=%zu", a->id, dir, eml, nfailed);
	return 0;
}

/* The notice could not be made durable: the failures it was for are not recorded yet. */
static void report_undo(struct queue_attempt *a, const bool *failed, const char *what)
{
	log_error("event=report_error id=%s op=%s error=\"%s\" retry_in=%d", a->id, what, strerror(errno),
		  QUEUE_IOERR_RETRY);
	for (size_t i = 0; i < a->f->env.nrcpts; i++) {
		if (!failed[i])
			continue;
		struct envelope_rcpt *r = &a->f->env.rcpts[i];
		r->state = RCPT_PENDING;
		r->next_try = a->now + QUEUE_IOERR_RETRY;
	}
}

void queue_report(struct queue_attempt *a)
{
	const struct envelope *env = &a->f->env;
	size_t n = env->nrcpts;
	bool *failed = xcalloc(n > 0 ? n : 1, sizeof(*failed));
	struct dsn_rcpt *rc = xcalloc(n > 0 ? n : 1, sizeof(*rc));
	size_t nrc = 0, nfailed = 0;
	bool bounce = env->sender[0] != '\0';
	for (size_t i = 0; i < n; i++) {
		const struct queue_note *note = &a->notes[i];
		const struct envelope_rcpt *r = &env->rcpts[i];
		bool is_failure = note->set && note->action == DSN_ACTION_FAILED;
		if (!bounce) {
			/* from <>: failures go to badmail, nothing is reported */
			failed[i] = is_failure;
			nfailed += is_failure;
			continue;
		}
		if (!report_wanted(r, note))
			continue;
		failed[i] = is_failure;
		nfailed += is_failure;
		rc[nrc++] = (struct dsn_rcpt){
			.addr = r->addr, .orcpt = r->orcpt, .action = note->action, .status = note->status,
			.remote_mta = note->remote_mta[0] != '\0' ? note->remote_mta : NULL, .diagnostic = note->diag,
			.last_attempt = a->now,
			.retry_until = note->action == DSN_ACTION_DELAYED && report_server(a)->expire > 0
					       ? env->arrival + report_server(a)->expire : 0,
		};
	}
	if (!bounce && nfailed > 0) {
		if (badmail_keep(a, failed, nfailed) < 0)
			report_undo(a, failed, "badmail");
	} else if (nrc > 0) {
		if (report_queue(a, rc, nrc, nfailed > 0) < 0) {
			report_undo(a, failed, "report");
		} else {
			for (size_t i = 0; i < n; i++) {
				struct envelope_rcpt *r = &a->f->env.rcpts[i];
				if (r->state == RCPT_PENDING && a->notes[i].set &&
				    a->notes[i].action == DSN_ACTION_DELAYED && report_wanted(r, &a->notes[i])) {
					r->state = RCPT_WARNED;
					a->changed[i] = true;
				}
			}
		}
	}
	free(rc);
	free(failed);
}
