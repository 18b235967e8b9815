/*
 * callq.h — hand a function call to the thread that runs an event_base.
 *
 * Any thread posts (fn, arg); the thread running the base calls fn(arg) in
 * posting order at its next loop turn. This is how commit threads, delivery
 * threads and the main thread talk to one another without sharing state:
 * the receiver owns the data once the call runs. Requires
 * evthread_use_pthreads() before the base was created.
 * Mail-agnostic: part of src/lib/ (depends on libevent only).
 */
#ifndef VSMTPD_LIB_CALLQ_H
#define VSMTPD_LIB_CALLQ_H

#include <event2/event.h>

struct callq;

struct callq *callq_new(struct event_base *base);
/* Calls still queued are dropped (not run). Call on the base's thread. */
void callq_free(struct callq *q);
/* Any thread. */
void callq_post(struct callq *q, void (*fn)(void *arg), void *arg);

#endif
