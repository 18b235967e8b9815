/*
 * callq.c — cross-thread call queue on a libevent base (see callq.h).
 *
 * A mutex-protected singly linked FIFO plus one event that posters make
 * active; event_active() is thread-safe once evthread_use_pthreads() ran.
 * The receiver takes the whole list under the lock and runs it unlocked, so
 * a posted function may itself post.
 */
#include "lib/callq.h"

#include <pthread.h>
#include <stdlib.h>

#include "lib/xalloc.h"

struct callq_item {
	struct callq_item *next;
	void (*fn)(void *arg);
	void *arg;
};

struct callq {
	pthread_mutex_t lock;
	struct callq_item *head, *tail;
	struct event *ev;
};

static void callq_run(evutil_socket_t fd, short what, void *arg)
{
	struct callq *q = arg;
	pthread_mutex_lock(&q->lock);
	struct callq_item *it = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	while (it != NULL) {
		struct callq_item *next = it->next;
		it->fn(it->arg);
		free(it);
		it = next;
	}
}

struct callq *callq_new(struct event_base *base)
{
	struct callq *q = xcalloc(1, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	q->ev = event_new(base, -1, 0, callq_run, q);
	if (q->ev == NULL)
		abort();
	return q;
}

void callq_free(struct callq *q)
{
	if (q == NULL)
		return;
	event_free(q->ev);
	struct callq_item *it = q->head;
	while (it != NULL) {
		struct callq_item *next = it->next;
		free(it);
		it = next;
	}
	pthread_mutex_destroy(&q->lock);
	free(q);
}

void callq_post(struct callq *q, void (*fn)(void *arg), void *arg)
{
	struct callq_item *it = xmalloc(sizeof(*it));
	it->next = NULL;
	it->fn = fn;
	it->arg = arg;
	pthread_mutex_lock(&q->lock);
	if (q->tail != NULL)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	pthread_mutex_unlock(&q->lock);
	event_active(q->ev, 0, 0);
}
