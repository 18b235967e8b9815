/*
 * server.h — virtual SMTP servers at run time: listeners, counters (contract).
 *
 * A struct server is one [server NAME] section brought to life: its
 * listening sockets (accepted on the main thread), the per-IP connection
 * counts its limits need, and its counters. Accepted connections are
 * checked by policy_connect() and handed to a worker round-robin, where
 * smtp_session takes over. Sessions hold a reference to their server, so a
 * stopped server lives on until its last session ends.
 */
#ifndef VSMTPD_SERVER_H
#define VSMTPD_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "config.h"
#include "spool.h"
#include "worker.h"

/* What every virtual server of the daemon shares. */
struct server_ctx {
	struct event_base *base;	/* main thread */
	struct spool *spool;
	struct worker **workers;
	unsigned nworkers;
	unsigned next_worker;		/* round-robin; main thread only */
};

struct server_counters {
	atomic_ullong connections;	/* accepted sockets */
	atomic_ullong refused;		/* turned away at connect (deny, limits) */
	atomic_ullong messages;		/* queued (250 after DATA) */
	atomic_ullong rejected;		/* messages refused after DATA */
	atomic_ullong rcpt_rejected;
	atomic_ullong bytes_in;		/* message octets queued */
};

struct server_iptab;
struct server_ratetab;

/* One listening socket of a server. */
struct server_listener {
	struct server *server;
	struct evconnlistener *ev;
	const struct config_listen *cl;	/* its address, in the server's config */
	bool tls;			/* implicit TLS (RFC 8314) */
	struct event *resume;		/* ends a pause after accept() failed */
	unsigned long long failures;	/* accept() failures since the last success */
};

enum server_state {
	SERVER_RUNNING,
	SERVER_PAUSED,		/* listening; new connections get 421 and are closed */
	SERVER_STOPPED,		/* not listening */
};

struct server {
	atomic_int refs;
	atomic_int state;			/* enum server_state; set on the main thread */
	struct server_ctx *ctx;
	char *name;
	struct config *cfg;			/* the snapshot conf points into */
	const struct config_server *conf;
	struct server_listener *listeners;
	size_t nlisteners;
	atomic_uint sessions_now;
	struct server_iptab *iptab;		/* sessions per client IP */
	struct auth_throttle *auth_throttle;	/* failed AUTH attempts per client IP */
	struct server_counters counters;
};

/*
 * Creates the server for conf (a section of cfg, which it references) and
 * binds every listener. Returns NULL with a message in err on failure
 * (nothing stays bound). Main thread.
 */
struct server *server_start(struct server_ctx *ctx, struct config *cfg,
			    const struct config_server *conf, char *err, size_t errsize);
/* The server for conf, STOPPED: no listener yet (server_set_stopped(s, false) binds them). */
struct server *server_create_stopped(struct server_ctx *ctx, struct config *cfg,
				     const struct config_server *conf);
/*
 * The server for conf that takes over from old (a reload): old's open
 * listeners whose address and TLS flag conf still lists are moved over
 * (never closed, so no connection is refused meanwhile), the others are
 * closed, new ones bound; old's state and counters carry over. old keeps
 * the caller's reference, without listeners. A listener that cannot be
 * bound is left out and named in err (the server runs on the others); 0,
 * or -1 when that happened. Main thread.
 */
int server_reconfigure(struct server *old, struct config *cfg, const struct config_server *conf,
		       struct server **out, char *err, size_t errsize);
/* Closes the listeners and drops the caller's reference. Main thread. */
void server_stop(struct server *s);

/* Control (main thread). Stop closes the listeners, start binds them again
 * (-1 with err when one cannot be bound: then none is open); pause and
 * resume switch between RUNNING and PAUSED. Sessions in progress are never
 * touched. */
int server_set_stopped(struct server *s, bool stopped, char *err, size_t errsize);
void server_set_paused(struct server *s, bool paused);
const char *server_state_name(enum server_state st);

void server_ref(struct server *s);
void server_unref(struct server *s);
/* A session of this server ended: uncount it. Any thread. */
void server_session_ended(struct server *s, const struct sockaddr *client, bool counted);

#endif
