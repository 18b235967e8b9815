/*
 * queue.h — the in-memory queue and local delivery scheduler (contract).
 *
 * Holds an index of every committed message in the spool (rebuilt from it
 * at start), decides when each is tried, and runs deliveries on a pool of
 * delivery threads. A delivery job (queue_deliver.h) opens the queue file,
 * delivers each due recipient (route: local Maildir), writes each
 * recipient's new state in place and syncs it, and removes the file once
 * every recipient is final. Deferred recipients are retried on the
 * server's `retry` schedule until `expire`, then failed. Local recipients
 * go to Maildirs or LMTP servers, others to their domain's exchangers or
 * the smart host (queue_relay.c).
 * Log lines (log.h), one per event (queue_int.h has the full forms):
 *   event=delivered id=ID to=<addr> (mailbox=DIR/new/NAME | relay=H[IP]:P) status=sent ...
 *   event=deferred id=ID to=<addr> ... tries=N next_try=SECONDS-FROM-NOW reason="..."
 *   event=failed id=ID to=<addr> ... status=bounced reason="..."
 *   event=removed id=ID
 *   event=quarantined id=ID reason="..."  (a corrupt queue file, moved to corrupt/)
 *   event=held|released|deleted|bounce_requested id=ID, event=flushed ... count=N  (admin actions)
 *
 * Threads: queue_new/queue_recover/queue_set_config/queue_free on the main
 * thread (whose event_base runs the timers; evthread_use_pthreads() must
 * have been called before that base was created); queue_submit from any
 * thread; the admin actions below on the main thread.
 */
#ifndef VSMTPD_QUEUE_H
#define VSMTPD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "config.h"
#include "dns.h"
#include "outbound_conn.h"
#include "spool.h"

struct queue;

/*
 * Starts nthreads (0 counts as 1) delivery threads; takes a reference on
 * cfg. dns and pool serve LMTP and SMTP deliveries; they must outlive the
 * queue. Idle sessions of the pool are closed by the delivery threads
 * once they have waited outbound_idle_time.
 */
struct queue *queue_new(struct event_base *base, struct spool *spool, struct config *cfg, unsigned nthreads,
			struct dns *dns, struct oconn_pool *pool);
/* Uses cfg (takes a reference) for deliveries that start from now on. */
void queue_set_config(struct queue *q, struct config *cfg);
/*
 * Indexes every message already in the spool and schedules it (each is
 * opened once soon after, by a delivery thread, to learn when it is due).
 * Returns the count newly indexed, or -1 (logged) when the scan failed.
 */
int queue_recover(struct queue *q);
/* A message was committed: index it and deliver it now. Any thread. */
void queue_submit(struct queue *q, const char *id);
/*
 * Admin actions (the control API). Main thread. Each logs one line. A
 * message is "queued" when it is indexed (in queue/); "busy" while a
 * delivery job has it. Errors: -1 with errno ENOENT (no such queued, or
 * for release/delete/bounce held, message), EBUSY (being delivered right
 * now: try again in a moment), or what the spool said.
 */
/*
 * Makes messages due now and forces their next attempt
 * (QUEUE_DELIVER_FORCE: every pending recipient is tried, whatever its
 * schedule); a busy one gets it as soon as its job is back. id NULL: every
 * queued message; domain non-NULL: only those with a pending recipient in
 * it (each file is read, on this thread). Held messages are not touched.
 * Returns how many were flushed (0 when id's message has no pending
 * recipient in domain), or -1 (ENOENT: id is not queued).
 */
int queue_flush(struct queue *q, const char *id, const char *domain);
/* Moves an idle queued message to hold/ and out of the index: never tried until released. EBUSY when busy. */
int queue_hold(struct queue *q, const char *id);
/* Moves a held message back into queue/ and indexes it, due now and forced as by a flush.
 * ENOENT when not held. */
int queue_release(struct queue *q, const char *id);
/* Removes a queued (idle) or held message without any report. EBUSY when busy. */
int queue_delete(struct queue *q, const char *id);
/*
 * Its next attempt fails every pending recipient (5.0.0, "message returned
 * by the administrator"; QUEUE_DELIVER_BOUNCE) and sends the failure
 * report as for any failure. Due now; a busy message once its job is back;
 * a held one is released first.
 */
int queue_bounce(struct queue *q, const char *id);

/* One indexed message, as queue_list() sees it. */
struct queue_entry {
	char id[SPOOL_ID_MAX + 1];
	bool busy;		/* a delivery job has it */
	long long next_try;	/* unix seconds when it is next due (0: now, or busy) */
};

/* Every queued (not held) message, oldest first, into *out (caller frees); the count. */
size_t queue_list(const struct queue *q, struct queue_entry **out);
/* How many messages are queued (not held). */
size_t queue_count(const struct queue *q);
/* Whether env has a pending recipient in domain (case-insensitive). Pure; any thread. */
bool queue_env_has_domain(const struct envelope *env, const char *domain);

/* Waits for deliveries in flight to finish, stops the threads, frees.
 * Messages not yet tried stay in the spool for the next start. */
void queue_free(struct queue *q);

#endif
