/*
 * smtp_session.c — one SMTP connection: socket <-> smtp_proto <-> policy, spool.
 *
 * Owns the session: its bufferevent, its protocol engine, the envelope being
 * built and the spool message being written. Lives on one worker thread;
 * other threads reach it only through worker_post() (the spool's commit
 * callback does). Sessions of a worker are kept in a thread-local list so
 * that shutdown can reach them.
 *
 * Invariants:
 * - "250 ... queued as ID" is sent only from session_commit_done() with
 *   err == 0, i.e. after the spool fsync'd the file, renamed it into queue/
 *   and fsync'd the directory.
 * - While a verdict is pending (commit in flight) the session reads nothing:
 *   replies stay in order, and buffered input stays bounded.
 * - A session whose client vanished while its commit runs is kept (dead)
 *   until the commit finishes: the commit callback always finds it.
 * - Input is fed to the engine at most SESSION_FEED bytes at a time and only
 *   when it has consumed the previous piece; output waiting for a client
 *   that does not read stops reading at SESSION_OUT_MAX.
 *
 * Not here: protocol rules (smtp_proto), recipient rules (policy), file
 * formats and fsyncs (spool), delivery (queue).
 */
#include "smtp_session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "auth.h"
#include "auth_sasl.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "log.h"
#include "queue_direct.h"
#include "smtp_proto.h"
#include "spool.h"
#include "stats.h"
#include "tls.h"

#define SESSION_FEED (16u * 1024)		/* bytes handed to the engine per step */
#define SESSION_READ_MAX (256u * 1024)		/* input buffered from the socket at most */
#define SESSION_OUT_MAX (64u * 1024)		/* unread replies before we stop reading */
#define SESSION_HELO_LOG_MAX 255		/* HELO text kept for Received: and logs */
#define SESSION_AUTH_CHECKS_MAX 64		/* password checks running at once (daemon-wide) */
#define SESSION_DATA_MIN_RATE 1024		/* bytes/s of content that earn a second past timeout_data */

struct session {
	struct session *prev, *next;		/* the worker's list */
	unsigned long long id;
	struct worker *worker;
	struct server *server;
	const struct config_server *conf;	/* inside server->cfg */
	struct bufferevent *bev;
	struct smtp_proto *proto;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool ip_counted;
	char client_ip[INET6_ADDRSTRLEN];
	char helo[SESSION_HELO_LOG_MAX + 1];
	bool esmtp;

	struct envelope env;			/* the transaction being built */
	bool in_txn;
	struct spool_msg *msg;			/* while DATA/BDAT content arrives */

	SSL *ssl;				/* owned by bev once TLS is up */
	char *auth_user;			/* authenticated name, or NULL */
	struct auth_sasl *sasl;			/* the AUTH exchange, once one started */
	bool tls_upgrade;			/* STARTTLS accepted: switch once "220" is out */
	bool waiting;				/* a verdict is pending (commit) */
	bool closing;				/* flush the output, then free */
	bool dead;				/* socket gone; free when the commit ends */
	/* The next command must be complete by then (timeout_command from the
	 * moment we wait for it): the read timeout alone restarts with every
	 * byte, so a client trickling a byte a second would never time out. */
	struct event *deadline;
	/* A message's content, from its DATA or first BDAT to its end, must
	 * be in by timeout_data plus a second per SESSION_DATA_MIN_RATE bytes
	 * received: neither the idle timeout (restarted by every byte) nor the
	 * command deadline of each BDAT bounds the whole. Made at the first
	 * message, so idle sessions do not pay for it. */
	struct event *data_deadline;
	struct timespec data_start;		/* CLOCK_MONOTONIC */
	unsigned long long data_bytes;		/* content received (none once refused: too big) */
	unsigned messages;			/* queued in this session */
};

static atomic_ullong session_ids;
static atomic_uint sessions_alive;
static atomic_uint auth_checks;		/* password checks running */
static __thread struct session *sessions_head;	/* this worker's sessions */
static __thread bool shutting_down;		/* this worker is stopping */

static void session_process(struct session *s);
static void session_data_deadline_cb(evutil_socket_t fd, short what, void *arg);

unsigned smtp_session_count(void)
{
	return atomic_load(&sessions_alive);
}

static void client_ip_text(const struct sockaddr *sa, char *out, size_t size)
{
	out[0] = '\0';
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
		return;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6))
		inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)size);
	else
		inet_ntop(AF_INET6, a6, out, (socklen_t)size);
}

/* The message's content is all in, or abandoned: its deadline is over. */
static void session_data_stop(struct session *s)
{
	if (s->data_deadline != NULL)
		evtimer_del(s->data_deadline);
}

static void session_txn_reset(struct session *s)
{
	session_data_stop(s);
	if (s->msg != NULL) {
		spool_msg_abort(s->msg);
		s->msg = NULL;
	}
	if (s->in_txn)
		envelope_free(&s->env);
	s->in_txn = false;
}

static void session_free(struct session *s)
{
	if (s->deadline != NULL)
		event_free(s->deadline);
	session_txn_reset(s);
	if (s->data_deadline != NULL)
		event_free(s->data_deadline);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	smtp_proto_free(s->proto);
	free(s->auth_user);
	auth_sasl_free(s->sasl);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		sessions_head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	log_info("event=disconnect session=%llx server=%s client=%s messages=%u", s->id,
		 s->server->name, s->client_ip, s->messages);
	server_session_ended(s->server, (const struct sockaddr *)&s->addr, s->ip_counted);
	server_unref(s->server);
	free(s);
	atomic_fetch_sub(&sessions_alive, 1);
}

/* The socket is gone (EOF, error, or our own close after the last reply). */
static void session_drop_socket(struct session *s)
{
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->waiting) {
		s->dead = true;		/* session_commit_done() frees it */
		return;
	}
	session_free(s);
}

/* Under TLS the filter hands its records to the socket's bufferevent:
 * the last reply is sent only once that one is empty too. */
static void session_linger_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct session *s = arg;
	if (evbuffer_get_length(buf) == 0) {
		evbuffer_remove_cb(buf, session_linger_cb, s);
		session_drop_socket(s);
	}
}

static void session_close_when_sent(struct session *s)
{
	struct bufferevent *under = s->ssl != NULL ? bufferevent_get_underlying(s->bev) : NULL;
	if (under == NULL) {
		session_drop_socket(s);
		return;
	}
	struct evbuffer *uo = bufferevent_get_output(under);
	if (evbuffer_get_length(uo) == 0) {
		session_drop_socket(s);
		return;
	}
	/* a client that stops reading is dropped after timeout_command */
	struct timeval tv = { s->conf->timeout_command, 0 };
	bufferevent_set_timeouts(under, NULL, &tv);
	evbuffer_remove_cb(uo, session_linger_cb, s);	/* at most once */
	evbuffer_add_cb(uo, session_linger_cb, s);
}

/* Moves the engine's replies to the socket; frees a closing session once
 * everything is written. */
static void session_flush(struct session *s)
{
	size_t len;
	const char *out = smtp_proto_output(s->proto, &len);
	if (len > 0 && s->bev != NULL) {
		bufferevent_write(s->bev, out, len);
		evtimer_del(s->deadline);	/* a command was answered: the next wait starts afresh */
	}
	smtp_proto_output_clear(s->proto);
	if (s->bev == NULL)
		return;
	struct evbuffer *o = bufferevent_get_output(s->bev);
	if (s->closing) {
		bufferevent_disable(s->bev, EV_READ);
		if (evbuffer_get_length(o) == 0)
			session_close_when_sent(s);
		return;
	}
	/* A client that pipelines without reading replies does not make us
	 * buffer without bound: stop reading until it catches up. */
	if (evbuffer_get_length(o) > SESSION_OUT_MAX || s->waiting || s->tls_upgrade)
		bufferevent_disable(s->bev, EV_READ);
	else
		bufferevent_enable(s->bev, EV_READ);
	const struct config_server *c = s->conf;
	bool in_data = smtp_proto_in_data(s->proto);
	struct timeval tv = { in_data ? c->timeout_data : c->timeout_command, 0 };
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	/* Waiting for a command (or a TLS handshake): its deadline runs from
	 * the first wait, not from the last byte. */
	if (in_data || s->waiting)
		evtimer_del(s->deadline);
	else if (!evtimer_pending(s->deadline, NULL))
		evtimer_add(s->deadline, &tv);
}

/* ---- the Received: header (RFC 5321 4.4, RFC 5322 3.6.7) ---------------- */

static void received_header(struct session *s, const char *id, struct buf *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);

	/* RFC 3848 / RFC 6531 3.7.3 protocol names: ESMTP + S (TLS). */
	const char *base = s->env.smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	const char *tls = s->ssl != NULL && s->esmtp ? "S" : "";
	const char *auth = s->auth_user != NULL ? "A" : "";
	buf_printf(out, "Received: from %s ([%s])\r\n", s->helo, s->client_ip);
	if (s->ssl != NULL) {
		char clause[TLS_DESCRIBE_MAX];
		tls_received_clause(s->ssl, clause, sizeof(clause));
		buf_printf(out, "\t%s\r\n", clause);
	}
	buf_printf(out, "\tby %s (vsmtpd) with %s%s%s id %s", s->conf->hostname, base, tls, auth, id);
	if (s->env.nrcpts == 1)
		buf_printf(out, "\r\n\tfor <%s>", s->env.rcpts[0].addr);
	buf_printf(out, "; %s\r\n", date);
}

/* ---- event handlers ------------------------------------------------------ */

static void on_helo(struct session *s, const struct smtp_event *ev)
{
	snprintf(s->helo, sizeof(s->helo), "%s", ev->helo);
	s->esmtp = ev->esmtp;
	log_info("event=helo session=%llx helo=\"%s\" esmtp=%s", s->id, s->helo,
		 ev->esmtp ? "yes" : "no");
	smtp_proto_accept(s->proto);
}

/*
 * min_free_space: a message that would leave the spool's file system with
 * less than that is refused before it is sent, not found out at its end
 * (RFC 5321 4.2.3 and 4.3.2: 452 to MAIL or DATA; RFC 1870 6.1: 452 for a
 * SIZE= beyond what we can hold now; RFC 3463 4.3.1). Read from the
 * session's own snapshot, so a reload applies it to new sessions; the
 * spool caches the statvfs.
 */
static bool session_space_ok(struct session *s, unsigned long long size)
{
	return spool_space_ok(s->server->ctx->spool, s->server->cfg->global.min_free_space, size);
}

static void on_mail(struct session *s, const struct smtp_event *ev)
{
	char sender[ADDRESS_MAX * 2 + 8];
	if (address_format(&ev->mailbox, sender, sizeof(sender)) < 0) {
		smtp_proto_verdict(s->proto, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	struct policy_reply r;
	if (!policy_mail(s->conf, s->ssl != NULL, s->auth_user, sender, &r)) {
		log_info("event=mail session=%llx from=<%s> result=rejected code=%s", s->id, sender, r.enh);
		smtp_proto_verdict(s->proto, r.code, r.enh, "%s", r.text);
		return;
	}
	if (!session_space_ok(s, ev->mail.size)) {
		log_info("event=mail session=%llx from=<%s> size=%llu result=rejected code=4.3.1 "
			 "reason=low_space", s->id, sender, ev->mail.size);
		smtp_proto_verdict(s->proto, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	session_txn_reset(s);
	envelope_init(&s->env);
	s->in_txn = true;
	s->env.arrival = (long long)time(NULL);
	s->env.server = xstrdup(s->server->name);
	s->env.sender = xstrdup(sender);
	s->env.client_addr = xstrdup(s->client_ip);
	s->env.helo = xstrdup(s->helo);
	s->env.envid = ev->mail.envid[0] != '\0' ? xstrdup(ev->mail.envid) : NULL;
	s->env.ret = (int)ev->mail.ret;
	s->env.body = (int)ev->mail.body;
	s->env.smtputf8 = ev->mail.smtputf8;
	log_info("event=mail session=%llx from=<%s> size=%llu", s->id, sender, ev->mail.size);
	smtp_proto_accept(s->proto);
}

static bool envelope_has_rcpt(const struct envelope *e, const char *addr)
{
	for (size_t i = 0; i < e->nrcpts; i++)
		if (strcasecmp(e->rcpts[i].addr, addr) == 0)
			return true;
	return false;
}

static void on_rcpt(struct session *s, const struct smtp_event *ev)
{
	struct mailbox rcpt = ev->mailbox;
	struct policy_reply r;
	bool local;
	char addr[ADDRESS_MAX * 2 + 8];

	bool ok = policy_rcpt(s->conf, (const struct sockaddr *)&s->addr, s->auth_user != NULL, &rcpt,
			      &local, &r);
	if (address_format(&rcpt, addr, sizeof(addr)) < 0)
		addr[0] = '\0';
	log_info("event=rcpt session=%llx to=<%s> result=%s%s%s", s->id, addr,
		 ok ? "accepted" : "rejected", ok ? "" : " code=", ok ? "" : r.enh);
	if (!ok) {
		atomic_fetch_add(&s->server->counters.rcpt_rejected, 1);
		smtp_proto_verdict(s->proto, r.code, r.enh, "%s", r.text);
		return;
	}
	/* The same recipient twice in one transaction gets one copy. */
	if (!envelope_has_rcpt(&s->env, addr))
		envelope_add_rcpt(&s->env, addr, ev->rcpt.orcpt[0] != '\0' ? ev->rcpt.orcpt : NULL,
				  ev->rcpt.notify);
	smtp_proto_accept(s->proto);
}

static void on_data_start(struct session *s)
{
	/* The space may have gone since MAIL: say so before the content comes. */
	if (!session_space_ok(s, 0)) {
		log_info("event=rejected session=%llx reason=low_space", s->id);
		smtp_proto_verdict(s->proto, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	struct spool_msg *m = spool_msg_begin(s->server->ctx->spool, &s->env, NULL, 0);
	if (m == NULL) {
		int err = errno;
		log_error("event=spool_error session=%llx error=\"%s\"", s->id, strerror(err));
		if (err == ENOSPC || err == EDQUOT)
			smtp_proto_verdict(s->proto, 452, "4.3.1", "Insufficient system storage");
		else
			smtp_proto_verdict(s->proto, 451, "4.3.0", "Local error in processing");
		return;
	}
	s->msg = m;
	if (s->data_deadline == NULL &&
	    (s->data_deadline = evtimer_new(worker_base(s->worker), session_data_deadline_cb, s)) == NULL)
		log_fatal("event=fatal reason=\"out of memory for a session timer\"");
	clock_gettime(CLOCK_MONOTONIC, &s->data_start);
	s->data_bytes = 0;
	struct timeval tv = { s->conf->timeout_data, 0 };
	evtimer_add(s->data_deadline, &tv);
	struct buf rec = BUF_INIT;
	received_header(s, spool_msg_id(m), &rec);
	spool_msg_write(m, rec.data, rec.len);	/* an error shows at commit */
	buf_free(&rec);
	smtp_proto_accept(s->proto);
}

struct commit_result {
	struct session *s;
	int err;
	unsigned long long size;
};

static void session_commit_done(void *arg)
{
	struct commit_result *cr = arg;
	struct session *s = cr->s;
	int err = cr->err;
	unsigned long long size = cr->size;
	free(cr);

	s->waiting = false;
	if (err == 0) {
		s->messages++;
		atomic_fetch_add(&s->server->counters.messages, 1);
		stats_count_accepted(s->server->name);
		atomic_fetch_add(&s->server->counters.bytes_in, size);
		log_info("event=queued session=%llx id=%s server=%s from=<%s> nrcpt=%zu size=%llu",
			 s->id, s->env.id, s->server->name, s->env.sender, s->env.nrcpts, size);
		smtp_proto_verdict(s->proto, 250, "2.0.0", "Ok: queued as %s", s->env.id);
	} else {
		atomic_fetch_add(&s->server->counters.rejected, 1);
		log_error("event=spool_error session=%llx id=%s error=\"%s\"", s->id, s->env.id,
			  strerror(err));
		if (err == ENOSPC || err == EDQUOT)
			smtp_proto_verdict(s->proto, 452, "4.3.1", "Insufficient system storage");
		else
			smtp_proto_verdict(s->proto, 451, "4.3.0", "Local error in processing");
	}
	session_txn_reset(s);
	if (s->dead) {
		session_free(s);
		return;
	}
	if (shutting_down) {
		smtp_proto_shutdown(s->proto);
		s->closing = true;
	}
	session_process(s);
}

/* Runs on a spool commit thread: hop back to the session's worker. */
static void session_commit_cb(void *arg, int err)
{
	struct commit_result *cr = arg;
	cr->err = err;
	worker_post(cr->s->worker, session_commit_done, cr);
}

static void on_data_end(struct session *s, const struct smtp_event *ev)
{
	if (ev->status != SMTP_DATA_OK) {
		atomic_fetch_add(&s->server->counters.rejected, 1);
		log_info("event=rejected session=%llx reason=%s size=%llu", s->id,
			 ev->status == SMTP_DATA_TOO_BIG	 ? "too_big"
			 : ev->status == SMTP_DATA_BARE_EOL ? "bare_eol"
			 : ev->status == SMTP_DATA_NUL	 ? "nul"
							 : "refused",
			 ev->size);
		session_txn_reset(s);
		return;
	}
	struct commit_result *cr = xcalloc(1, sizeof(*cr));
	cr->s = s;
	cr->size = ev->size;
	struct spool_msg *m = s->msg;
	s->msg = NULL;
	session_data_stop(s);
	s->waiting = true;
	/* Mail for local Maildirs only is delivered before the 250 and never queued
	 * (queue_direct.c); the session's server keeps that config alive meanwhile. */
	spool_msg_set_direct(m, queue_deliver_direct, s->server->cfg);
	spool_msg_commit(m, session_commit_cb, cr);
}

/* ---- AUTH (RFC 4954): the SASL exchange is auth_sasl's; checking the
 * password (crypt(3), tens of milliseconds by design) runs on a thread of
 * its own so the worker's other sessions never wait for it. */

struct auth_check {
	struct session *s;
	const struct auth_users *db;	/* kept alive by the session's config */
	bool ok;
	char user[AUTH_SASL_FIELD_MAX + 1];
	char password[AUTH_SASL_FIELD_MAX + 1];
};

static void session_auth_reply(struct session *s)
{
	struct auth_sasl_reply r;
	auth_sasl_reply(s->sasl, &r);
	smtp_proto_verdict(s->proto, r.code, r.enh, "%s", r.text);
}

static void session_auth_finish(struct session *s)
{
	s->waiting = false;
	if (s->dead) {
		session_free(s);
		return;
	}
	session_auth_reply(s);
	session_process(s);
}

static void session_auth_delay_done(evutil_socket_t fd, short what, void *arg)
{
	session_auth_finish(arg);
}

static void session_auth_done(void *arg)
{
	struct auth_check *c = arg;
	struct session *s = c->s;
	time_t now = time(NULL);
	struct auth_throttle *t = s->server->auth_throttle;

	atomic_fetch_sub(&auth_checks, 1);
	if (c->ok) {
		s->auth_user = xstrdup(c->user);
		auth_throttle_success(t, s->client_ip, now);
		log_info("event=auth session=%llx client=%s user=\"%s\" result=ok", s->id, s->client_ip,
			 c->user);
		free(c);
		session_auth_finish(s);
		return;
	}
	auth_sasl_reject(s->sasl);
	/* The delay grows with this IP's recent failures: guessing is slow. */
	auth_throttle_fail(t, s->client_ip, now);
	unsigned delay = auth_throttle_delay(t, s->client_ip, now);
	log_info("event=auth session=%llx client=%s user=\"%s\" result=failed delay=%u", s->id,
		 s->client_ip, c->user, delay);
	free(c);
	struct timeval tv = { delay, 0 };
	if (delay == 0 || s->dead ||
	    event_base_once(worker_base(s->worker), -1, EV_TIMEOUT, session_auth_delay_done, s, &tv) < 0)
		session_auth_finish(s);
}

static void *session_auth_thread(void *arg)
{
	struct auth_check *c = arg;
	c->ok = auth_users_check(c->db, c->user, c->password);
	explicit_bzero(c->password, sizeof(c->password));
	worker_post(c->s->worker, session_auth_done, c);
	return NULL;
}

static void session_auth_check(struct session *s)
{
	const char *user = auth_sasl_authcid(s->sasl);
	const char *pass = auth_sasl_password(s->sasl);
	pthread_t th;
	pthread_attr_t attr;

	if (atomic_fetch_add(&auth_checks, 1) >= SESSION_AUTH_CHECKS_MAX) {
		atomic_fetch_sub(&auth_checks, 1);
		smtp_proto_verdict(s->proto, 454, "4.7.0", "Temporary authentication failure, try again later");
		return;
	}
	struct auth_check *c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->db = s->conf->auth_db;
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->password, sizeof(c->password), "%s", pass);
	s->waiting = true;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&th, &attr, session_auth_thread, c);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		explicit_bzero(c->password, sizeof(c->password));
		free(c);
		atomic_fetch_sub(&auth_checks, 1);
		s->waiting = false;
		smtp_proto_verdict(s->proto, 454, "4.7.0", "Temporary authentication failure, try again later");
	}
}

static void session_auth_next(struct session *s, enum auth_sasl_status st)
{
	struct auth_sasl_reply r;
	switch (st) {
	case AUTH_SASL_CONTINUE:
		auth_sasl_reply(s->sasl, &r);
		smtp_proto_auth_challenge(s->proto, r.text);
		return;
	case AUTH_SASL_DONE:
		session_auth_check(s);
		return;
	case AUTH_SASL_FAILED:
		log_info("event=auth session=%llx client=%s result=refused", s->id, s->client_ip);
		session_auth_reply(s);
		return;
	}
}

static void session_handle(struct session *s, const struct smtp_event *ev)
{
	switch (ev->type) {
	case SMTP_EV_NONE:
		return;
	case SMTP_EV_HELO:
		on_helo(s, ev);
		return;
	case SMTP_EV_MAIL:
		on_mail(s, ev);
		return;
	case SMTP_EV_RCPT:
		on_rcpt(s, ev);
		return;
	case SMTP_EV_DATA_START:
		on_data_start(s);
		return;
	case SMTP_EV_DATA_CHUNK:
		s->data_bytes += ev->len;
		if (s->msg != NULL)
			spool_msg_write(s->msg, ev->data, ev->len);
		return;
	case SMTP_EV_DATA_END:
		on_data_end(s, ev);
		return;
	case SMTP_EV_RSET:
		session_txn_reset(s);
		return;
	case SMTP_EV_STARTTLS:
		if (s->conf->tls_ctx == NULL) {
			smtp_proto_verdict(s->proto, 454, "4.7.0", "TLS not available");
			return;
		}
		smtp_proto_accept(s->proto);	/* "220", pipelined plaintext dropped */
		s->tls_upgrade = true;
		return;
	case SMTP_EV_AUTH:
		if (s->sasl == NULL)
			s->sasl = auth_sasl_new();
		session_auth_next(s, auth_sasl_start(s->sasl, ev->auth_mech, ev->auth_initial));
		return;
	case SMTP_EV_AUTH_DATA:
		session_auth_next(s, auth_sasl_step(s->sasl, ev->data, ev->len));
		return;
	case SMTP_EV_QUIT:
	case SMTP_EV_CLOSE:
		s->closing = true;
		return;
	}
}

/* Feeds buffered input to the engine and acts on its events until it needs
 * more input, waits for a verdict, or closes; then writes the replies. */
static void session_process(struct session *s)
{
	while (!s->waiting && !s->closing && !s->tls_upgrade && s->bev != NULL) {
		struct smtp_event ev;
		enum smtp_ev_type t = smtp_proto_next(s->proto, &ev);
		if (t != SMTP_EV_NONE) {
			session_handle(s, &ev);
			continue;
		}
		if (smtp_proto_closed(s->proto)) {
			s->closing = true;
			break;
		}
		struct evbuffer *in = bufferevent_get_input(s->bev);
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, SESSION_FEED, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		size_t n = v.iov_len < SESSION_FEED ? v.iov_len : SESSION_FEED;
		smtp_proto_feed(s->proto, v.iov_base, n);
		evbuffer_drain(in, n);
	}
	session_flush(s);
}

/* ---- bufferevent callbacks ---------------------------------------------- */

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void session_setcb(struct session *s);

/*
 * The "220" after STARTTLS is on the wire: wrap the socket in TLS. Plaintext
 * the client sent behind STARTTLS is thrown away here (the engine dropped
 * what it had buffered), so no injected command is ever answered
 * (RFC 3207 5, CVE-2011-0411). Bytes still in the kernel are read as TLS
 * records and fail the handshake, which closes the session.
 */
static void session_start_tls(struct session *s)
{
	s->tls_upgrade = false;
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	SSL *ssl = SSL_new(s->conf->tls_ctx);
	struct bufferevent *tb = NULL;
	if (ssl != NULL)
		tb = bufferevent_openssl_filter_new(worker_base(s->worker), s->bev, ssl,
						    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL) {
		log_error("event=tls_error session=%llx reason=\"cannot start TLS\"", s->id);
		if (ssl != NULL)
			SSL_free(ssl);
		session_drop_socket(s);
		return;
	}
	s->bev = tb;
	s->ssl = ssl;
	session_setcb(s);
	smtp_proto_tls_started(s->proto);
	session_flush(s);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	if (s->closing) {
		session_close_when_sent(s);
		return;
	}
	if (s->tls_upgrade) {
		session_start_tls(s);
		return;
	}
	/* Output drained below the low mark: reading may resume. */
	session_process(s);
}

/* A session timed out (no byte for the timeout, or no whole command by its deadline). */
static void session_timed_out(struct session *s, const char *why)
{
	log_info("event=timeout session=%llx client=%s reason=%s", s->id, s->client_ip, why);
	smtp_proto_timeout(s->proto);
	s->closing = true;
	session_flush(s);
}

static void session_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	if (s->bev != NULL && !s->closing && !s->waiting)
		session_timed_out(s, "slow_command");
}

/*
 * The message's time is up unless its content came at SESSION_DATA_MIN_RATE
 * on average: then the deadline is later, and the timer is set for it. A
 * refused (too big) message earns nothing more, so even endless content
 * ends by timeout_data + max_message_size / SESSION_DATA_MIN_RATE.
 */
static void session_data_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	if (s->bev == NULL || s->closing || s->msg == NULL)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long used_ms = (now.tv_sec - s->data_start.tv_sec) * 1000LL +
			    (now.tv_nsec - s->data_start.tv_nsec) / 1000000;
	long long allowed_ms = (long long)s->conf->timeout_data * 1000LL +
			       (long long)(s->data_bytes * 1000 / SESSION_DATA_MIN_RATE);
	if (used_ms < allowed_ms) {
		long long left = allowed_ms - used_ms;
		struct timeval tv = { (time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000 };
		evtimer_add(s->data_deadline, &tv);
		return;
	}
	session_timed_out(s, "slow_data");
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		char desc[TLS_DESCRIBE_MAX];
		tls_describe(s->ssl, desc, sizeof(desc));
		log_info("event=tls session=%llx %s", s->id, desc);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && !s->closing) {
		session_timed_out(s, "idle");
		return;
	}
	if (s->ssl != NULL && (what & BEV_EVENT_ERROR)) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (e != 0)
			log_info("event=tls_error session=%llx client=%s reason=\"%s\"", s->id,
				 s->client_ip, ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown");
	}
	if (s->msg != NULL)
		log_info("event=lost session=%llx client=%s reason=\"connection lost during DATA\"",
			 s->id, s->client_ip);
	session_drop_socket(s);
}

/* ---- start and shutdown -------------------------------------------------- */

static void session_setcb(struct session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_READ_MAX);
}

static void session_greet(struct session *s, enum policy_conn verdict)
{
	switch (verdict) {
	case POLICY_CONN_OK:
		smtp_proto_greet(s->proto, 220, NULL, "vsmtpd");
		return;
	case POLICY_CONN_DENIED:
		log_info("event=refused session=%llx server=%s client=%s reason=access", s->id,
			 s->server->name, s->client_ip);
		/* RFC 5321 3.1: after a 554 greeting the client may only QUIT;
		 * the engine answers anything else with 503 until then, and the
		 * command timeout bounds how long a refused client can stay. */
		smtp_proto_greet(s->proto, 554, "5.7.1", "Access denied");
		return;
	case POLICY_CONN_BUSY:
		log_info("event=refused session=%llx server=%s client=%s reason=max_connections",
			 s->id, s->server->name, s->client_ip);
		smtp_proto_greet(s->proto, 421, "4.7.0", "Too many connections, try again later");
		s->closing = true;
		return;
	case POLICY_CONN_BUSY_IP:
		log_info("event=refused session=%llx server=%s client=%s reason=max_connections_per_ip",
			 s->id, s->server->name, s->client_ip);
		smtp_proto_greet(s->proto, 421, "4.7.0",
				 "Too many connections from your address, try again later");
		s->closing = true;
		return;
	case POLICY_CONN_RATE:
		log_info("event=refused session=%llx server=%s client=%s reason=max_connection_rate_per_ip",
			 s->id, s->server->name, s->client_ip);
		smtp_proto_greet(s->proto, 421, "4.7.0",
				 "Too many connections from your address per minute, try again later");
		s->closing = true;
		return;
	case POLICY_CONN_PAUSED:
		log_info("event=refused session=%llx server=%s client=%s reason=paused", s->id,
			 s->server->name, s->client_ip);
		smtp_proto_greet(s->proto, 421, "4.3.2", "Service paused, try again later");
		s->closing = true;
		return;
	}
}

void smtp_session_start(void *arg)
{
	struct session_start *st = arg;
	struct session *s = xcalloc(1, sizeof(*s));

	atomic_fetch_add(&sessions_alive, 1);
	s->id = atomic_fetch_add(&session_ids, 1) + 1;
	s->worker = st->worker;
	s->server = st->server;
	s->conf = st->server->conf;
	s->addr = st->addr;
	s->addrlen = st->addrlen;
	s->ip_counted = st->ip_counted;
	client_ip_text((const struct sockaddr *)&s->addr, s->client_ip, sizeof(s->client_ip));
	snprintf(s->helo, sizeof(s->helo), "unknown");

	const struct config_server *c = s->conf;
	struct smtp_proto_conf pc = {
		.hostname = c->hostname,
		.max_message_size = c->max_message_size,
		.max_recipients = c->max_recipients,
		.max_messages = c->max_messages_per_connection,
		.max_errors = 0,
		.starttls = c->starttls != CONFIG_OFF && c->tls_ctx != NULL && !st->tls,
		.auth_mechanisms = c->auth != CONFIG_OFF && c->auth_db != NULL ? AUTH_SASL_MECHANISMS : NULL,
		.auth_needs_tls = !c->auth_plaintext,
	};
	s->proto = smtp_proto_new(&pc);
	if (st->tls)
		smtp_proto_tls_started(s->proto);	/* implicit TLS (RFC 8314) */
	s->next = sessions_head;
	if (sessions_head != NULL)
		sessions_head->prev = s;
	sessions_head = s;

	struct event_base *base = worker_base(s->worker);
	s->deadline = evtimer_new(base, session_deadline_cb, s);
	if (s->deadline == NULL)
		log_fatal("event=fatal reason=\"out of memory for a session timer\"");
	if (st->tls && c->tls_ctx != NULL && (s->ssl = SSL_new(c->tls_ctx)) != NULL)
		s->bev = bufferevent_openssl_socket_new(base, st->fd, s->ssl, BUFFEREVENT_SSL_ACCEPTING,
							BEV_OPT_CLOSE_ON_FREE);
	else if (!st->tls)
		s->bev = bufferevent_socket_new(base, st->fd, BEV_OPT_CLOSE_ON_FREE);
	enum policy_conn verdict = st->verdict;
	if (s->bev == NULL) {
		log_error("event=session_error session=%llx reason=\"cannot set up the connection\"", s->id);
		if (s->ssl != NULL)
			SSL_free(s->ssl);
		close(st->fd);
		free(st);
		session_free(s);
		return;
	}
	free(st);
	session_setcb(s);
	if (verdict == POLICY_CONN_OK)
		log_info("event=connect session=%llx server=%s client=%s", s->id, s->server->name,
			 s->client_ip);
	session_greet(s, verdict);
	session_flush(s);
}

void smtp_session_shutdown_all(void *unused)
{
	shutting_down = true;
	struct session *s = sessions_head;
	while (s != NULL) {
		struct session *next = s->next;
		if (!s->waiting && !s->closing && s->bev != NULL) {
			smtp_proto_shutdown(s->proto);
			s->closing = true;
			session_flush(s);	/* may free s */
		}
		s = next;
	}
}
