/*
 * queue_int.h — what the parts of one delivery attempt share (private to queue_deliver*.c).
 *
 * An attempt (queue_deliver.c) opens the queue file and walks the due
 * recipients; local Maildir copies are made at once, recipients for LMTP
 * servers and remote domains are handed to queue_relay.c, which groups
 * them by destination and runs one transaction per group. Both record
 * each recipient's outcome through the queue_rcpt_* functions, which set
 * its state in memory, mark it changed and log one line:
 *   event=delivered id=ID to=<a> relay=H[IP]:P delay=S status=sent dsn=2.0.0 reply="..."
 *   event=deferred id=ID to=<a> [relay=..] delay=S status=deferred dsn=4.x.x tries=N next_try=S reason="..."
 *   event=failed id=ID to=<a> [relay=..] delay=S status=bounced dsn=5.x.x reason="..."
 */
#ifndef VSMTPD_QUEUE_INT_H
#define VSMTPD_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "queue_deliver.h"
#include "route.h"

struct queue_attempt {
	const struct queue_env *qe;
	const struct config *cfg;
	const char *id;
	struct spool_file *f;
	const struct config_server *policy;	/* retry/expire and delivery settings; may be NULL */
	long long now;
	bool *changed;				/* per recipient: state to write back */
};

/* A due recipient routed to an LMTP server or a remote domain. */
struct queue_hop {
	size_t i;				/* recipient index */
	enum route_kind kind;			/* ROUTE_LMTP or ROUTE_REMOTE */
	const struct config_server *srv;	/* ROUTE_LMTP: the server owning the domain */
	char domain[256];
};

/* relay: "host[ip]:port" or NULL; dsn: "2.0.0"-style or NULL (taken from text). */
void queue_rcpt_sent(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
		     const char *reply);
void queue_rcpt_failed(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
		       const char *reason);
/* A temporary failure: retried on the schedule, or failed (4.4.7) once expired. */
void queue_rcpt_deferred(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
			 const char *reason);
/* Not tried (the destination is at its connection limit): due again in a second. */
void queue_rcpt_busy(struct queue_attempt *a, size_t i);

/* Delivers hops[0..n) (queue_relay.c): one transaction per destination. */
void queue_relay(struct queue_attempt *a, const struct queue_hop *hops, size_t n);

#endif
