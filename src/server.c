/*
 * server.c — virtual servers: listening sockets, connection accounting.
 *
 * Owns each server's listeners (on the main thread's event_base), its
 * per-IP session table (a small mutex-protected hash: incremented on the
 * main thread at accept, decremented on a worker when a session ends) and
 * its counters (atomics). Does not speak SMTP: an accepted socket goes to a
 * worker as a struct session_start, with the connect-time policy verdict,
 * and smtp_session greets or refuses it there.
 * Listening sockets are opened once, without SO_REUSEPORT, so a second
 * daemon on the same address fails loudly instead of sharing the port.
 * A listener whose accept() fails (out of file descriptors or memory)
 * rests SERVER_ACCEPT_PAUSE_MS, the clients waiting in the backlog: the
 * socket stays readable, and accepting again at once would spin the main
 * thread and flood the log.
 */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "auth.h"
#include "lib/xalloc.h"
#include "log.h"
#include "policy.h"
#include "smtp_session.h"

#define SERVER_LISTEN_BACKLOG 1024
#define IPTAB_BUCKETS 1024
#define SERVER_AUTH_THROTTLE_MAX 4096	/* client IPs whose AUTH failures are remembered */
#define SERVER_ACCEPT_PAUSE_MS 500	/* a listener rests this long after accept() failed */

struct iptab_entry {
	struct iptab_entry *next;
	unsigned char addr[16];
	unsigned count;		/* sessions now */
	long long minute;	/* the minute `rate` counts */
	unsigned rate;		/* connections accepted in that minute */
};

struct server_iptab {
	pthread_mutex_t lock;
	struct iptab_entry *buckets[IPTAB_BUCKETS];
};

/* The client address as 16 bytes (IPv4 mapped into IPv6), so that
 * "1.2.3.4" and "::ffff:1.2.3.4" count as one client. */
static void iptab_key(const struct sockaddr *sa, unsigned char key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

static unsigned iptab_hash(const unsigned char key[16])
{
	unsigned h = 2166136261u;	/* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % IPTAB_BUCKETS;
}

/* Counts a new session of sa; *rate gets its connections in this minute
 * before this one. Returns its sessions before this one. */
static unsigned iptab_add(struct server_iptab *t, const struct sockaddr *sa, long long minute,
			  unsigned *rate)
{
	unsigned char key[16];
	iptab_key(sa, key);
	unsigned b = iptab_hash(key);
	pthread_mutex_lock(&t->lock);
	struct iptab_entry *e = t->buckets[b];
	while (e != NULL && memcmp(e->addr, key, 16) != 0)
		e = e->next;
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->addr, key, 16);
		e->next = t->buckets[b];
		t->buckets[b] = e;
	}
	if (e->minute != minute) {
		e->minute = minute;
		e->rate = 0;
	}
	*rate = e->rate++;
	unsigned before = e->count++;
	pthread_mutex_unlock(&t->lock);
	return before;
}

static void iptab_remove(struct server_iptab *t, const struct sockaddr *sa)
{
	unsigned char key[16];
	iptab_key(sa, key);
	unsigned b = iptab_hash(key);
	pthread_mutex_lock(&t->lock);
	struct iptab_entry **pp = &t->buckets[b];
	while (*pp != NULL && memcmp((*pp)->addr, key, 16) != 0)
		pp = &(*pp)->next;
	struct iptab_entry *e = *pp;
	/* An entry stays while it has sessions; after that only while its
	 * minute's rate could still refuse someone (the next add resets it). */
	if (e != NULL && --e->count == 0 && e->minute != (long long)time(NULL) / 60) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&t->lock);
}

static void iptab_free(struct server_iptab *t)
{
	for (size_t i = 0; i < IPTAB_BUCKETS; i++) {
		struct iptab_entry *e = t->buckets[i];
		while (e != NULL) {
			struct iptab_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static void server_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	struct server_listener *sl = arg;
	struct server *s = sl->server;
	struct server_ctx *ctx = s->ctx;
	struct session_start *st = xcalloc(1, sizeof(*st));

	if (sl->failures > 0) {
		log_info("event=accept_resumed server=%s address=%s failures=%llu", s->name, sl->cl->text,
			 sl->failures);
		sl->failures = 0;
	}
	st->tls = sl->tls;
	st->fd = fd;
	memcpy(&st->addr, sa, (size_t)salen < sizeof(st->addr) ? (size_t)salen : sizeof(st->addr));
	st->addrlen = (socklen_t)salen;
	unsigned now = atomic_fetch_add(&s->sessions_now, 1);
	unsigned rate;
	unsigned ip_now = iptab_add(s->iptab, sa, (long long)time(NULL) / 60, &rate);
	st->ip_counted = true;
	st->verdict = atomic_load(&s->state) == SERVER_PAUSED ? POLICY_CONN_PAUSED
								: policy_connect(s->conf, sa, now, ip_now, rate);
	atomic_fetch_add(&s->counters.connections, 1);
	if (st->verdict != POLICY_CONN_OK)
		atomic_fetch_add(&s->counters.refused, 1);
	server_ref(s);
	st->server = s;
	st->worker = ctx->workers[ctx->next_worker++ % ctx->nworkers];
	worker_post(st->worker, smtp_session_start, st);
}

/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays in the backlog
 * until sessions end and free what accept() needs. Logged once per run of
 * failures, and once more when accepting works again. */
static void server_accept_error(struct evconnlistener *l, void *arg)
{
	struct server_listener *sl = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, SERVER_ACCEPT_PAUSE_MS * 1000 };
	evconnlistener_disable(l);
	evtimer_add(sl->resume, &tv);
	if (sl->failures++ == 0)
		log_warn("event=accept_error server=%s address=%s error=\"%s\" pause_ms=%d", sl->server->name,
			 sl->cl->text, strerror(err), SERVER_ACCEPT_PAUSE_MS);
}

static void server_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct server_listener *sl = arg;
	if (sl->ev != NULL)
		evconnlistener_enable(sl->ev);
}

static int listen_socket(const struct config_listen *cl, char *err, size_t errsize)
{
	int fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket for %s: %s", cl->text, strerror(errno));
		return -1;
	}
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (cl->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) < 0 ||
	    listen(fd, SERVER_LISTEN_BACKLOG) < 0) {
		snprintf(err, errsize, "cannot listen on %s: %s", cl->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static struct server *server_new(struct server_ctx *ctx, struct config *cfg, const struct config_server *conf)
{
	struct server *s = xcalloc(1, sizeof(*s));
	atomic_init(&s->refs, 1);
	atomic_init(&s->state, SERVER_RUNNING);
	s->ctx = ctx;
	s->name = xstrdup(conf->name);
	s->cfg = config_ref(cfg);
	s->conf = conf;
	s->auth_throttle = auth_throttle_new(SERVER_AUTH_THROTTLE_MAX);
	s->iptab = xcalloc(1, sizeof(*s->iptab));
	pthread_mutex_init(&s->iptab->lock, NULL);
	s->listeners = xcalloc(conf->nlisten > 0 ? conf->nlisten : 1, sizeof(*s->listeners));
	return s;
}

/* Adds a listener on an open socket (or an existing evconnlistener, moved). */
static void server_add_listener(struct server *s, const struct config_listen *cl, struct evconnlistener *ev)
{
	struct server_listener *sl = &s->listeners[s->nlisteners++];
	sl->server = s;
	sl->cl = cl;
	sl->tls = cl->tls;
	sl->ev = ev;
	sl->failures = 0;
	sl->resume = evtimer_new(s->ctx->base, server_accept_resume, sl);
	if (sl->resume == NULL)
		log_fatal("event=fatal reason=\"out of memory for a listener timer\"");
	evconnlistener_set_cb(ev, server_accept, sl);
	evconnlistener_set_error_cb(ev, server_accept_error);
	evconnlistener_enable(ev);	/* it may come paused from the server it was moved from */
}

/* Binds conf's listener i and adds it; -1 with err. */
static int server_bind(struct server *s, const struct config_listen *cl, char *err, size_t errsize)
{
	int fd = listen_socket(cl, err, errsize);
	if (fd < 0)
		return -1;
	struct evconnlistener *ev = evconnlistener_new(s->ctx->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (ev == NULL) {
		snprintf(err, errsize, "cannot listen on %s", cl->text);
		close(fd);
		return -1;
	}
	server_add_listener(s, cl, ev);
	log_info("event=listen server=%s address=%s%s", s->name, cl->text, cl->tls ? " tls=yes" : "");
	return 0;
}

static void server_close_listeners(struct server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++) {
		struct server_listener *sl = &s->listeners[i];
		if (sl->resume != NULL)
			event_free(sl->resume);
		sl->resume = NULL;
		if (sl->ev != NULL)
			evconnlistener_free(sl->ev);
		sl->ev = NULL;
	}
	s->nlisteners = 0;
}

/* Binds every listener of the config; on failure none stays open. */
static int server_bind_all(struct server *s, char *err, size_t errsize)
{
	for (size_t i = 0; i < s->conf->nlisten; i++) {
		if (server_bind(s, &s->conf->listen[i], err, errsize) < 0) {
			server_close_listeners(s);
			return -1;
		}
	}
	return 0;
}

struct server *server_create_stopped(struct server_ctx *ctx, struct config *cfg,
				     const struct config_server *conf)
{
	struct server *s = server_new(ctx, cfg, conf);
	atomic_store(&s->state, SERVER_STOPPED);
	return s;
}

struct server *server_start(struct server_ctx *ctx, struct config *cfg,
			    const struct config_server *conf, char *err, size_t errsize)
{
	struct server *s = server_new(ctx, cfg, conf);
	if (server_bind_all(s, err, errsize) < 0) {
		server_unref(s);
		return NULL;
	}
	return s;
}

static bool same_listen(const struct config_listen *a, const struct config_listen *b)
{
	return a->tls == b->tls && a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

int server_reconfigure(struct server *old, struct config *cfg, const struct config_server *conf,
		       struct server **out, char *err, size_t errsize)
{
	struct server *s = server_new(old->ctx, cfg, conf);
	int state = atomic_load(&old->state);
	atomic_store(&s->state, state);
	int rc = 0;
	for (size_t i = 0; i < conf->nlisten && state != SERVER_STOPPED; i++) {
		struct server_listener *moved = NULL;
		for (size_t j = 0; j < old->nlisteners && moved == NULL; j++)
			if (old->listeners[j].ev != NULL && same_listen(old->listeners[j].cl, &conf->listen[i]))
				moved = &old->listeners[j];
		if (moved != NULL) {
			server_add_listener(s, &conf->listen[i], moved->ev);
			moved->ev = NULL;
		} else if (server_bind(s, &conf->listen[i], err, errsize) < 0) {
			rc = -1;
		}
	}
	server_close_listeners(old);
	/* the counters tell the server's story across reloads */
	atomic_store(&s->counters.connections, atomic_load(&old->counters.connections));
	atomic_store(&s->counters.refused, atomic_load(&old->counters.refused));
	atomic_store(&s->counters.messages, atomic_load(&old->counters.messages));
	atomic_store(&s->counters.rejected, atomic_load(&old->counters.rejected));
	atomic_store(&s->counters.rcpt_rejected, atomic_load(&old->counters.rcpt_rejected));
	atomic_store(&s->counters.bytes_in, atomic_load(&old->counters.bytes_in));
	*out = s;
	return rc;
}

void server_stop(struct server *s)
{
	server_close_listeners(s);
	server_unref(s);
}

int server_set_stopped(struct server *s, bool stopped, char *err, size_t errsize)
{
	int state = atomic_load(&s->state);
	if (stopped) {
		server_close_listeners(s);
		atomic_store(&s->state, SERVER_STOPPED);
		log_info("event=server_stopped server=%s", s->name);
		return 0;
	}
	if (state != SERVER_STOPPED)
		return 0;
	if (server_bind_all(s, err, errsize) < 0)
		return -1;
	atomic_store(&s->state, SERVER_RUNNING);
	log_info("event=server_started server=%s", s->name);
	return 0;
}

void server_set_paused(struct server *s, bool paused)
{
	int want = paused ? SERVER_PAUSED : SERVER_RUNNING;
	int from = paused ? SERVER_RUNNING : SERVER_PAUSED;
	if (atomic_compare_exchange_strong(&s->state, &from, want))
		log_info("event=server_%s server=%s", paused ? "paused" : "resumed", s->name);
}

const char *server_state_name(enum server_state st)
{
	switch (st) {
	case SERVER_RUNNING:
		return "running";
	case SERVER_PAUSED:
		return "paused";
	case SERVER_STOPPED:
		return "stopped";
	}
	return "running";
}

void server_ref(struct server *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void server_unref(struct server *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	free(s->listeners);
	iptab_free(s->iptab);
	auth_throttle_free(s->auth_throttle);
	config_unref(s->cfg);
	free(s->name);
	free(s);
}

void server_session_ended(struct server *s, const struct sockaddr *client, bool counted)
{
	atomic_fetch_sub(&s->sessions_now, 1);
	if (counted)
		iptab_remove(s->iptab, client);
}
