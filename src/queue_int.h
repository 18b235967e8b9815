/*
 * queue_int.h — what the parts of one delivery attempt share (private to queue_deliver*.c).
 *
 * An attempt (queue_deliver.c) opens the queue file and walks the due
 * recipients; local Maildir copies are made at once, recipients for LMTP
 * servers and remote domains are handed to queue_relay.c, which groups
 * them by destination and runs one transaction per group. Both record
 * each recipient's outcome through the queue_rcpt_* functions, which set
 * its state in memory, mark it changed, note what the sender may have to
 * be told (queue_report.c sends it) and log one line:
 *   event=delivered id=ID to=<a> relay=H[IP]:P delay=S status=sent dsn=2.0.0 reply="..."
 *   event=deferred id=ID to=<a> [relay=..] delay=S status=deferred dsn=4.x.x tries=N next_try=S reason="..."
 *   event=failed id=ID to=<a> [relay=..] delay=S status=bounced dsn=5.x.x reason="..."
 */
#ifndef VSMTPD_QUEUE_INT_H
#define VSMTPD_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "dsn.h"
#include "queue_deliver.h"
#include "route.h"
#include "smtp_client.h"

/* What happened to one recipient in this attempt that its sender may have to be told (RFC 3464). */
struct queue_note {
	bool set;
	enum dsn_action action;
	char status[16];			/* "5.1.1" */
	char remote_mta[256];			/* host name of the relay, "" when local */
	char diag[SMTP_REPLY_TEXT_MAX];		/* an SMTP reply: the peer's, or ours for local failures */
};

struct queue_attempt {
	const struct queue_env *qe;
	const struct config *cfg;
	const char *id;
	struct spool_file *f;
	const struct config_server *policy;	/* retry/expire and delivery settings; may be NULL */
	long long now;
	bool *changed;				/* per recipient: state to write back */
	struct queue_note *notes;		/* per recipient */
};

/* How a recipient that was sent is reported (RFC 3461 5.2.2 / 6.2). */
enum queue_sent {
	QUEUE_SENT_DELIVERED,			/* into a mailbox (Maildir, LMTP): "delivered" */
	QUEUE_SENT_RELAYED,			/* to a next hop without DSN: "relayed" */
	QUEUE_SENT_PASSED_ON,			/* to a next hop with DSN: it reports, we do not */
};

/* A due recipient routed to an LMTP server or a remote domain. */
struct queue_hop {
	size_t i;				/* recipient index */
	enum route_kind kind;			/* ROUTE_LMTP or ROUTE_REMOTE */
	const struct config_server *srv;	/* ROUTE_LMTP: the server owning the domain */
	char domain[256];
};

/* relay: "host[ip]:port" or NULL; dsn: "2.0.0"-style or NULL (taken from text). */
void queue_rcpt_sent(struct queue_attempt *a, size_t i, enum queue_sent how, const char *relay,
		     const char *dsn, const char *reply);
void queue_rcpt_failed(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
		       const char *reason);
/* A temporary failure: retried on the schedule, or failed (4.4.7) once expired. */
void queue_rcpt_deferred(struct queue_attempt *a, size_t i, const char *relay, const char *dsn,
			 const char *reason);
/* Not tried (the destination is at its connection limit): due again in a second. */
void queue_rcpt_busy(struct queue_attempt *a, size_t i);

/*
 * Delivers recipient i into its Maildir rt->maildir (queue_deliver.c), the
 * copy named after (message, recipient); with earlier_run, cur/ is searched
 * for a copy a crashed run made. True when delivered (recorded); on a
 * failure, recorded (deferred or failed) only when record_failure.
 */
bool queue_maildir(struct queue_attempt *a, size_t i, const struct route *rt, bool earlier_run,
		   bool record_failure);

/* Received: fields beyond the policy's max_hop_count: the reason (in why), else NULL. */
const char *queue_loop_check(struct queue_attempt *a, char *why, size_t size);

/* Delivers hops[0..n) (queue_relay.c): one transaction per destination. */
void queue_relay(struct queue_attempt *a, const struct queue_hop *hops, size_t n);

/*
 * Tells the sender what the notes of this attempt call for (queue_report.c):
 * one report (dsn.h) for every noted recipient whose NOTIFY asks for it,
 * queued as a new message from <> and committed before this returns; with
 * a failure in it, also to the server's ndr_copy_to. A message from <> is
 * never reported on: its failed recipients are kept in the badmail
 * directory instead. Delayed recipients that were reported become
 * RCPT_WARNED. When the report or the badmail copy cannot be made durable,
 * the recipients it was for are put back to pending (tried again later),
 * so no failure is ever recorded without its notice.
 */
void queue_report(struct queue_attempt *a);

#endif
