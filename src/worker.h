/*
 * worker.h — I/O worker threads, each with its own libevent loop (contract).
 *
 * A session lives on one worker for its whole life, so nothing on the hot
 * path takes a lock. Other threads reach a worker only by posting a call
 * (worker_post), which runs on the worker's thread.
 */
#ifndef VSMTPD_WORKER_H
#define VSMTPD_WORKER_H

#include <event2/event.h>

struct worker;

/* Starts a thread running a new event_base until worker_stop(). */
struct worker *worker_start(unsigned index);
struct event_base *worker_base(const struct worker *w);
unsigned worker_index(const struct worker *w);
/* Runs fn(arg) on the worker's thread, in posting order. Any thread. */
void worker_post(struct worker *w, void (*fn)(void *arg), void *arg);
/* Ends the loop (after what is posted so far has run), joins, frees. Main thread. */
void worker_stop(struct worker *w);

#endif
