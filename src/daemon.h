/*
 * daemon.h — the running daemon as the control commands see it (contract).
 *
 * One struct daemon per process, built by main.c and touched on the main
 * thread only: the current config snapshot, the spool, the queue, and one
 * struct server per [server] section of that snapshot (running, paused or
 * stopped). Control commands (control_*.c) act on it; a reload
 * (daemon_reload.c) replaces the snapshot and the servers in it.
 */
#ifndef VSMTPD_DAEMON_H
#define VSMTPD_DAEMON_H

#include <stddef.h>

#include <event2/event.h>

#include "config.h"
#include "dns.h"
#include "lib/buf.h"
#include "outbound_conn.h"
#include "queue.h"
#include "server.h"
#include "spool.h"

#define VSMTPD_VERSION "0.1.0"

struct console;
struct control;
struct metrics;

struct daemon {
	struct config *cfg;		/* the current snapshot */
	const char *config_path;	/* what -c named: reload reads it again */
	long long started;		/* unix seconds */
	struct event_base *base;
	struct spool *spool;
	struct queue *queue;
	struct dns *dns;
	struct oconn_pool *pool;
	struct server_ctx ctx;
	struct server **servers;	/* one per cfg->servers[i], same order */
	size_t nservers;
	struct control *control;
	struct metrics *metrics;	/* NULL: off */
	struct console *console;	/* the web console; NULL: off */
	struct event *sig_term, *sig_int, *sig_hup, *shutdown_timer;
	int shutdown_ticks;
};

/* The server named name, or NULL. */
struct server *daemon_server(struct daemon *d, const char *name);

/*
 * Reads d->config_path again and applies it (SIGHUP and the `reload`
 * command): servers added are started, removed ones stopped, the others
 * take the new settings for new sessions (sessions in progress keep the
 * snapshot they began with); listeners that stay are kept open, so no
 * connection is refused during a reload; a paused or stopped server stays
 * so. The queue uses the new snapshot for the attempts that start next.
 * Returns 0, filling added, removed and changed (names, one per line); -1
 * with every error in *errors ("file:line: message" lines), and then
 * nothing changed.
 */
int daemon_reload(struct daemon *d, struct buf *errors, struct buf *added, struct buf *removed,
		  struct buf *changed);

#endif
