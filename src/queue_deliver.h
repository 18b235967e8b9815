/*
 * queue_deliver.h — one delivery attempt of one queued message (contract).
 *
 * The body of a queue job, kept apart from the scheduler (queue.c) so that
 * it can be driven with any `now` in tests. Runs on a delivery thread and
 * blocks on disk. The caller guarantees that no other attempt of the same
 * message runs at the same time.
 */
#ifndef VSMTPD_QUEUE_DELIVER_H
#define VSMTPD_QUEUE_DELIVER_H

#include "config.h"
#include "dns.h"
#include "outbound_conn.h"
#include "spool.h"

#define QUEUE_IOERR_RETRY 60	/* seconds before a message whose file failed us is tried again */
#define QUEUE_TRIES_MAX 9999	/* the fixed-width tries field of a queue file */

/* What the admin asked of one attempt (flags of queue_deliver; queue.h sets them). */
#define QUEUE_DELIVER_FORCE 0x1		/* every pending recipient is due, whatever its next_try */
#define QUEUE_DELIVER_BOUNCE 0x2	/* every pending recipient fails (QUEUE_BOUNCE_REASON) */
#define QUEUE_BOUNCE_REASON "5.0.0 message returned by the administrator"

/* What every attempt needs besides the config; owned by the queue's creator. */
struct queue_env {
	struct spool *spool;
	struct dns *dns;		/* MX and address lookups */
	struct oconn_pool *pool;	/* outbound sessions and their limits */
	long long started;		/* when this process started (unix seconds) */
};

enum queue_outcome {
	QUEUE_OUTCOME_FORGET,	/* the file is gone (removed, quarantined, vanished): drop it */
	QUEUE_OUTCOME_KEEP,	/* still queued: try again at *next_try */
};

/*
 * Opens queue/ID, delivers every PENDING recipient whose next_try <= now
 * (route, then Maildir, LMTP or SMTP: the recipients of one destination in
 * one transaction), and records each result: DELIVERED, FAILED
 * (permanent, or a temporary failure at or after arrival + expire of the
 * server's policy in cfg), or still PENDING with tries + 1 and next_try from
 * the retry schedule (a destination at its connection limit is tried again
 * a second later without counting a try). A message with more Received:
 * fields than max_hop_count fails every due recipient with 5.4.6.
 * When every recipient is final the file is removed; otherwise the changed
 * state fields are written in place and synced once. A corrupt file is
 * quarantined. Logs one line per event (delivered, deferred, failed,
 * removed, quarantined). Returns the outcome; for KEEP, *next_try is the
 * earliest time a recipient is due (now + QUEUE_IOERR_RETRY after a disk
 * error). Each Maildir copy is named after (message, recipient), so a copy
 * an earlier run published is found, not written twice; a message that
 * arrived at or before env->started may have been delivered by a crashed
 * run, so cur/ is searched as well.
 * flags (QUEUE_DELIVER_*, 0 for a scheduled attempt): FORCE makes every
 * pending recipient due now; BOUNCE fails every pending recipient, due or
 * not, with 5.0.0 and QUEUE_BOUNCE_REASON, reported to the sender like any
 * other failure (queue_report.c).
 */
enum queue_outcome queue_deliver(const struct queue_env *env, const struct config *cfg, const char *id,
				 long long now, unsigned flags, long long *next_try);

#endif
