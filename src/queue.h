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
 *
 * Threads: queue_new/queue_recover/queue_set_config/queue_free on the main
 * thread (whose event_base runs the timers; evthread_use_pthreads() must
 * have been called before that base was created); queue_submit from any
 * thread.
 */
#ifndef VSMTPD_QUEUE_H
#define VSMTPD_QUEUE_H

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
/* Waits for deliveries in flight to finish, stops the threads, frees.
 * Messages not yet tried stay in the spool for the next start. */
void queue_free(struct queue *q);

#endif
