/*
 * queue.h — the in-memory queue and local delivery scheduler (contract).
 *
 * Holds an index of every committed message in the spool (rebuilt from it
 * at start), decides when each is tried, and runs deliveries on a pool of
 * delivery threads. A delivery job opens the queue file, delivers each due
 * recipient (route: local Maildir), writes each recipient's new state in
 * place and syncs it, and removes the file once every recipient is final.
 * Deferred recipients are retried on the server's `retry` schedule until
 * `expire`, then failed. Recipients in non-local domains stay pending until
 * remote delivery exists (they are never dropped).
 *
 * Threads: queue_new/queue_recover/queue_set_config/queue_free on the main
 * thread (whose event_base runs the timers); queue_submit from any thread.
 */
#ifndef VSMTPD_QUEUE_H
#define VSMTPD_QUEUE_H

#include <event2/event.h>

#include "config.h"
#include "spool.h"

struct queue;

struct queue *queue_new(struct event_base *base, struct spool *spool, struct config *cfg, unsigned nthreads);
/* Uses cfg (takes a reference) for deliveries that start from now on. */
void queue_set_config(struct queue *q, struct config *cfg);
/* Indexes every message already in the spool and schedules it. Returns the count. */
int queue_recover(struct queue *q);
/* A message was committed: index it and deliver it now. Any thread. */
void queue_submit(struct queue *q, const char *id);
/* Waits for deliveries in flight to finish, stops the threads, frees. */
void queue_free(struct queue *q);

#endif
