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

	st->tls = sl->tls;
	st->fd = fd;
	memcpy(&st->addr, sa, (size_t)salen < sizeof(st->addr) ? (size_t)salen : sizeof(st->addr));
	st->addrlen = (socklen_t)salen;
	unsigned now = atomic_fetch_add(&s->sessions_now, 1);
	unsigned rate;
	unsigned ip_now = iptab_add(s->iptab, sa, (long long)time(NULL) / 60, &rate);
	st->ip_counted = true;
	st->verdict = policy_connect(s->conf, sa, now, ip_now, rate);
	atomic_fetch_add(&s->counters.connections, 1);
	if (st->verdict != POLICY_CONN_OK)
		atomic_fetch_add(&s->counters.refused, 1);
	server_ref(s);
	st->server = s;
	st->worker = ctx->workers[ctx->next_worker++ % ctx->nworkers];
	worker_post(st->worker, smtp_session_start, st);
}

static void server_accept_error(struct evconnlistener *l, void *arg)
{
	struct server *s = ((struct server_listener *)arg)->server;
	int err = EVUTIL_SOCKET_ERROR();
	/* EMFILE/ENFILE/ENOBUFS: the listener keeps going; the next accept
	 * may succeed once sessions end. Logged so the admin sees it. */
	log_warn("event=accept_error server=%s error=\"%s\"", s->name, strerror(err));
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

struct server *server_start(struct server_ctx *ctx, struct config *cfg,
			    const struct config_server *conf, char *err, size_t errsize)
{
	struct server *s = xcalloc(1, sizeof(*s));
	atomic_init(&s->refs, 1);
	s->ctx = ctx;
	s->name = xstrdup(conf->name);
	s->cfg = config_ref(cfg);
	s->conf = conf;
	s->auth_throttle = auth_throttle_new(SERVER_AUTH_THROTTLE_MAX);
	s->iptab = xcalloc(1, sizeof(*s->iptab));
	pthread_mutex_init(&s->iptab->lock, NULL);
	s->listeners = xcalloc(conf->nlisten, sizeof(*s->listeners));
	for (size_t i = 0; i < conf->nlisten; i++) {
		int fd = listen_socket(&conf->listen[i], err, errsize);
		if (fd < 0) {
			server_stop(s);
			return NULL;
		}
		struct server_listener *sl = &s->listeners[i];
		sl->server = s;
		sl->tls = conf->listen[i].tls;
		sl->ev = evconnlistener_new(ctx->base, server_accept, sl, LEV_OPT_CLOSE_ON_FREE, 0, fd);
		if (sl->ev == NULL) {
			snprintf(err, errsize, "cannot listen on %s", conf->listen[i].text);
			close(fd);
			server_stop(s);
			return NULL;
		}
		evconnlistener_set_error_cb(sl->ev, server_accept_error);
		s->nlisteners++;
		log_info("event=listen server=%s address=%s", s->name, conf->listen[i].text);
	}
	return s;
}

void server_stop(struct server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		evconnlistener_free(s->listeners[i].ev);
	s->nlisteners = 0;
	server_unref(s);
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
