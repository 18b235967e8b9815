/*
 * worker.c — an I/O thread: one event_base, one call queue (see worker.h).
 *
 * Owns the thread and its base. The loop keeps running while empty
 * (EVLOOP_NO_EXIT_ON_EMPTY) until worker_stop() posts the exit, so a
 * stopping worker first runs every call posted before, including the
 * sessions' last writes.
 */
#include "worker.h"

#include <pthread.h>
#include <stdlib.h>

#include "lib/callq.h"
#include "lib/xalloc.h"
#include "log.h"

struct worker {
	unsigned index;
	struct event_base *base;
	struct callq *calls;
	pthread_t thread;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

struct worker *worker_start(unsigned index)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	w->index = index;
	w->base = event_base_new();
	if (w->base == NULL)
		log_fatal("event=fatal reason=\"event_base_new failed\"");
	w->calls = callq_new(w->base);
	int err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err != 0)
		log_fatal("event=fatal reason=\"cannot start worker thread: error %d\"", err);
	return w;
}

struct event_base *worker_base(const struct worker *w)
{
	return w->base;
}

unsigned worker_index(const struct worker *w)
{
	return w->index;
}

void worker_post(struct worker *w, void (*fn)(void *arg), void *arg)
{
	callq_post(w->calls, fn, arg);
}

static void worker_exit(void *arg)
{
	struct worker *w = arg;
	event_base_loopexit(w->base, NULL);
}

void worker_stop(struct worker *w)
{
	worker_post(w, worker_exit, w);
	pthread_join(w->thread, NULL);
	callq_free(w->calls);
	event_base_free(w->base);
	free(w);
}
