/*
 * queue.c — the in-memory queue index and the delivery scheduler (see queue.h).
 *
 * Owns, on the main thread: an index of every queued message (open
 * addressing hash by ID, linear probing with backward-shift deletion), a
 * binary min-heap of the idle ones by next_try, and ONE libevent timer for
 * the heap's top — so 100k queued messages cost one timer, O(log n) per
 * change. Owns the delivery threads: they take jobs from a list (mutex +
 * condvar) and hand results back through a second list and an event made
 * active with event_active() (thread-safe: main called
 * evthread_use_pthreads() before creating the base). queue_submit() works
 * the same way from the spool's commit threads.
 * Invariants: a message is either in the heap (idle) or busy (one job in
 * flight), never both, so at most one job per message; at most
 * QUEUE_JOBS_PER_THREAD * nthreads jobs are in flight, so the job list is
 * bounded and a 100k-message recovery is fed in steps; a job holds a
 * reference on the config snapshot current when it started. The queue file
 * is the only durable record: nothing here needs saving.
 * Admin actions (the control API) run here too: a flush or bounce of a
 * busy message is kept in its flags and rides on the attempt that starts
 * once the job is back; a hold or delete of a busy message is refused
 * (EBUSY), as the job has its file open. A held message leaves the index
 * (its file is in hold/) and comes back with queue_release().
 * Not here: what one attempt does (queue_deliver.c), the schedule maths
 * (queue_sched.c). Out of memory is fatal; other errors are logged by the
 * job and end as a later retry.
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/xalloc.h"
#include "log.h"
#include "queue_deliver.h"

#define QUEUE_JOBS_PER_THREAD 4	/* jobs in flight per delivery thread */
#define QUEUE_TIMER_MAX 60	/* longest sleep: wall-clock jumps are noticed within it */
#define QUEUE_MAP_MIN 64	/* initial index slots (a power of two) */
#define QUEUE_NOT_IN_HEAP SIZE_MAX
#define QUEUE_IDLE_CHECK 1	/* seconds between idle-session sweeps of a waiting thread */

struct queue_msg {
	char id[SPOOL_ID_MAX + 1];
	long long next_try;	/* unix seconds; 0 = now */
	size_t heap_idx;	/* QUEUE_NOT_IN_HEAP while busy */
	bool busy;		/* a job for it is in flight */
	bool again;		/* submitted while busy: due as soon as the job is back */
	unsigned flags;		/* QUEUE_DELIVER_* the admin asked of its next attempt */
};

struct queue_job {
	struct queue_job *next;
	char id[SPOOL_ID_MAX + 1];
	struct config *cfg;		/* reference held for the job */
	unsigned flags;			/* QUEUE_DELIVER_* */
	enum queue_outcome outcome;
	long long next_try;
};

struct queue_id {
	struct queue_id *next;
	char id[SPOOL_ID_MAX + 1];
};

struct queue {
	/* main thread only */
	struct event_base *base;
	struct config *cfg;
	struct queue_msg **slots;	/* index; NULL = empty slot */
	size_t nslots, count;
	struct queue_msg **heap;
	size_t hlen, hcap;
	struct event *timer;
	struct event *wake;
	unsigned inflight, max_inflight;
	struct queue_env env;		/* spool, dns, pool, process start (read-only once built) */

	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct queue_job *jobs, *jobs_tail;	/* to the delivery threads */
	struct queue_job *done, *done_tail;	/* back from them */
	struct queue_id *incoming, *incoming_tail;	/* queue_submit() */
	bool stopping;

	pthread_t *threads;
	unsigned nthreads;
};

/* ---- index: open addressing by ID ---------------------------------------- */

static size_t queue_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static size_t queue_slot(const struct queue *q, const char *id)
{
	size_t mask = q->nslots - 1;
	size_t i = queue_hash(id) & mask;
	while (q->slots[i] != NULL && strcmp(q->slots[i]->id, id) != 0)
		i = (i + 1) & mask;
	return i;
}

static struct queue_msg *queue_find(const struct queue *q, const char *id)
{
	return q->slots[queue_slot(q, id)];
}

static void queue_map_grow(struct queue *q)
{
	struct queue_msg **old = q->slots;
	size_t nold = q->nslots;
	q->nslots = nold * 2;
	q->slots = xcalloc(q->nslots, sizeof(*q->slots));
	for (size_t i = 0; i < nold; i++)
		if (old[i] != NULL)
			q->slots[queue_slot(q, old[i]->id)] = old[i];
	free(old);
}

static void queue_map_insert(struct queue *q, struct queue_msg *m)
{
	if ((q->count + 1) * 2 > q->nslots)
		queue_map_grow(q);
	q->slots[queue_slot(q, m->id)] = m;
	q->count++;
}

static void queue_map_remove(struct queue *q, const char *id)
{
	size_t mask = q->nslots - 1;
	size_t i = queue_slot(q, id);
	if (q->slots[i] == NULL)
		return;
	q->slots[i] = NULL;
	q->count--;
	/* backward shift: move later members of the run into the hole when
	 * their home slot does not lie cyclically in (hole, j] */
	for (size_t j = (i + 1) & mask; q->slots[j] != NULL; j = (j + 1) & mask) {
		size_t home = queue_hash(q->slots[j]->id) & mask;
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		q->slots[i] = q->slots[j];
		q->slots[j] = NULL;
		i = j;
	}
}

/* ---- heap of idle messages by next_try ----------------------------------- */

static void queue_heap_set(struct queue *q, size_t i, struct queue_msg *m)
{
	q->heap[i] = m;
	m->heap_idx = i;
}

static void queue_heap_up(struct queue *q, size_t i)
{
	struct queue_msg *m = q->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (q->heap[parent]->next_try <= m->next_try)
			break;
		queue_heap_set(q, i, q->heap[parent]);
		i = parent;
	}
	queue_heap_set(q, i, m);
}

static void queue_heap_down(struct queue *q, size_t i)
{
	struct queue_msg *m = q->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->hlen)
			break;
		if (c + 1 < q->hlen && q->heap[c + 1]->next_try < q->heap[c]->next_try)
			c++;
		if (m->next_try <= q->heap[c]->next_try)
			break;
		queue_heap_set(q, i, q->heap[c]);
		i = c;
	}
	queue_heap_set(q, i, m);
}

static void queue_heap_push(struct queue *q, struct queue_msg *m)
{
	if (q->hlen == q->hcap) {
		q->hcap = q->hcap == 0 ? 64 : q->hcap * 2;
		q->heap = xrealloc(q->heap, q->hcap * sizeof(*q->heap));
	}
	queue_heap_set(q, q->hlen++, m);
	queue_heap_up(q, m->heap_idx);
}

static struct queue_msg *queue_heap_pop(struct queue *q)
{
	struct queue_msg *top = q->heap[0];
	struct queue_msg *last = q->heap[--q->hlen];
	if (q->hlen > 0) {
		queue_heap_set(q, 0, last);
		queue_heap_down(q, 0);
	}
	top->heap_idx = QUEUE_NOT_IN_HEAP;
	return top;
}

/* Takes an idle message out of the heap. */
static void queue_heap_remove(struct queue *q, struct queue_msg *m)
{
	size_t i = m->heap_idx;
	struct queue_msg *last = q->heap[--q->hlen];
	m->heap_idx = QUEUE_NOT_IN_HEAP;
	if (last == m)
		return;
	queue_heap_set(q, i, last);
	queue_heap_up(q, i);
	queue_heap_down(q, last->heap_idx);
}

/* Moves an idle message to next_try (earlier or later). */
static void queue_heap_update(struct queue *q, struct queue_msg *m, long long next_try)
{
	m->next_try = next_try;
	queue_heap_up(q, m->heap_idx);
	queue_heap_down(q, m->heap_idx);
}

/* ---- delivery threads ---------------------------------------------------- */

static void *queue_thread(void *arg)
{
	struct queue *q = arg;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (!q->stopping && q->jobs == NULL) {
			/* idle: close the outbound sessions nobody reused in time */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += QUEUE_IDLE_CHECK;
			if (pthread_cond_timedwait(&q->cond, &q->lock, &until) != 0 && q->jobs == NULL &&
			    !q->stopping) {
				pthread_mutex_unlock(&q->lock);
				oconn_pool_expire(q->env.pool);
				pthread_mutex_lock(&q->lock);
			}
		}
		if (q->stopping) {
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		struct queue_job *job = q->jobs;
		q->jobs = job->next;
		if (q->jobs == NULL)
			q->jobs_tail = NULL;
		pthread_mutex_unlock(&q->lock);

		job->outcome = queue_deliver(&q->env, job->cfg, job->id, (long long)time(NULL), job->flags,
					     &job->next_try);
		config_unref(job->cfg);
		job->cfg = NULL;

		job->next = NULL;
		pthread_mutex_lock(&q->lock);
		if (q->done_tail != NULL)
			q->done_tail->next = job;
		else
			q->done = job;
		q->done_tail = job;
		pthread_mutex_unlock(&q->lock);
		event_active(q->wake, 0, 0);
	}
}

/* ---- scheduling (main thread) -------------------------------------------- */

static void queue_arm(struct queue *q, long long now)
{
	if (q->hlen == 0 || q->inflight >= q->max_inflight) {
		/* nothing idle, or a returning job will call queue_dispatch() */
		evtimer_del(q->timer);
		return;
	}
	long long wait = q->heap[0]->next_try - now;
	if (wait < 0)
		wait = 0;
	if (wait > QUEUE_TIMER_MAX)
		wait = QUEUE_TIMER_MAX;
	struct timeval tv = { (time_t)wait, 0 };
	evtimer_add(q->timer, &tv);
}

/* Starts jobs for due messages while there is room, then re-arms the timer. */
static void queue_dispatch(struct queue *q)
{
	long long now = (long long)time(NULL);
	struct queue_job *head = NULL, *tail = NULL;
	unsigned started = 0;

	while (q->hlen > 0 && q->inflight < q->max_inflight && q->heap[0]->next_try <= now) {
		struct queue_msg *m = queue_heap_pop(q);
		m->busy = true;
		struct queue_job *job = xcalloc(1, sizeof(*job));
		memcpy(job->id, m->id, sizeof(job->id));
		job->cfg = config_ref(q->cfg);
		job->flags = m->flags;
		m->flags = 0;
		if (tail != NULL)
			tail->next = job;
		else
			head = job;
		tail = job;
		q->inflight++;
		started++;
	}
	if (head != NULL) {
		pthread_mutex_lock(&q->lock);
		if (q->jobs_tail != NULL)
			q->jobs_tail->next = head;
		else
			q->jobs = head;
		q->jobs_tail = tail;
		if (started == 1)
			pthread_cond_signal(&q->cond);
		else
			pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
	}
	queue_arm(q, now);
}

static void queue_on_timer(evutil_socket_t fd, short what, void *arg)
{
	queue_dispatch(arg);
}

/* Makes an indexed message due now (a busy one: once its job is back). */
static void queue_due_now(struct queue *q, struct queue_msg *m)
{
	if (m->busy)
		m->again = true;
	else
		queue_heap_update(q, m, 0);
}

/* Indexes id (new: due now) or makes an indexed one due now; NULL for a bad ID. */
static struct queue_msg *queue_index(struct queue *q, const char *id)
{
	struct queue_msg *m = queue_find(q, id);
	if (m != NULL) {
		queue_due_now(q, m);
		return m;
	}
	if (strlen(id) > SPOOL_ID_MAX || id[0] == '\0') {
		log_error("event=queue_error id=%s reason=\"bad queue ID\"", id);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	memcpy(m->id, id, strlen(id) + 1);
	m->heap_idx = QUEUE_NOT_IN_HEAP;
	queue_map_insert(q, m);
	queue_heap_push(q, m);
	return m;
}

/* Drops an idle message from the index (its file has left queue/). */
static void queue_forget(struct queue *q, struct queue_msg *m)
{
	queue_heap_remove(q, m);
	queue_map_remove(q, m->id);
	free(m);
}

/* A job came back. */
static void queue_job_done(struct queue *q, struct queue_job *job, long long now)
{
	struct queue_msg *m = queue_find(q, job->id);
	q->inflight--;
	if (m == NULL)
		return;	/* cannot happen: busy messages stay indexed */
	m->busy = false;
	if (job->outcome == QUEUE_OUTCOME_FORGET) {
		queue_map_remove(q, m->id);
		free(m);
		return;
	}
	/* never sooner than a second from now, whatever the schedule says */
	long long next = job->next_try > now ? job->next_try : now + 1;
	m->next_try = m->again ? 0 : next;
	m->again = false;
	queue_heap_push(q, m);
}

static void queue_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	pthread_mutex_lock(&q->lock);
	struct queue_job *done = q->done;
	struct queue_id *in = q->incoming;
	q->done = q->done_tail = NULL;
	q->incoming = q->incoming_tail = NULL;
	pthread_mutex_unlock(&q->lock);

	long long now = (long long)time(NULL);
	while (done != NULL) {
		struct queue_job *next = done->next;
		queue_job_done(q, done, now);
		free(done);
		done = next;
	}
	while (in != NULL) {
		struct queue_id *next = in->next;
		queue_index(q, in->id);
		free(in);
		in = next;
	}
	queue_dispatch(q);
}

/* ---- public -------------------------------------------------------------- */

struct queue *queue_new(struct event_base *base, struct spool *spool, struct config *cfg, unsigned nthreads,
			struct dns *dns, struct oconn_pool *pool)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	q->base = base;
	q->cfg = config_ref(cfg);
	q->nslots = QUEUE_MAP_MIN;
	q->slots = xcalloc(q->nslots, sizeof(*q->slots));
	q->nthreads = nthreads > 0 ? nthreads : 1;
	q->max_inflight = q->nthreads * QUEUE_JOBS_PER_THREAD;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->env.spool = spool;
	q->env.dns = dns;
	q->env.pool = pool;
	q->env.started = (long long)time(NULL);
	q->timer = evtimer_new(base, queue_on_timer, q);
	q->wake = event_new(base, -1, 0, queue_on_wake, q);
	if (q->timer == NULL || q->wake == NULL)
		log_fatal("event=fatal reason=\"queue: cannot create events\"");
	q->threads = xcalloc(q->nthreads, sizeof(*q->threads));
	for (unsigned i = 0; i < q->nthreads; i++)
		if (pthread_create(&q->threads[i], NULL, queue_thread, q) != 0)
			log_fatal("event=fatal reason=\"queue: cannot start delivery thread\"");
	return q;
}

void queue_set_config(struct queue *q, struct config *cfg)
{
	struct config *old = q->cfg;
	q->cfg = config_ref(cfg);
	config_unref(old);
}

static void queue_recover_one(void *arg, const char *id)
{
	queue_index(arg, id);
}

int queue_recover(struct queue *q)
{
	size_t before = q->count;
	int n = spool_scan(q->env.spool, queue_recover_one, q);
	if (n < 0)
		log_error("event=queue_error reason=\"spool scan failed; queued mail is not being delivered\"");
	queue_dispatch(q);
	return n < 0 ? -1 : (int)(q->count - before);
}

void queue_submit(struct queue *q, const char *id)
{
	struct queue_id *it = xcalloc(1, sizeof(*it));
	size_t len = strlen(id);
	memcpy(it->id, id, len > SPOOL_ID_MAX ? SPOOL_ID_MAX : len);

	pthread_mutex_lock(&q->lock);
	if (q->incoming_tail != NULL)
		q->incoming_tail->next = it;
	else
		q->incoming = it;
	q->incoming_tail = it;
	pthread_mutex_unlock(&q->lock);
	event_active(q->wake, 0, 0);
}

/* ---- admin actions (main thread) ----------------------------------------- */

size_t queue_count(const struct queue *q)
{
	return q->count;
}

bool queue_env_has_domain(const struct envelope *env, const char *domain)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		const char *at = strrchr(env->rcpts[i].addr, '@');
		if (rcpt_state_pending(env->rcpts[i].state) && at != NULL && strcasecmp(at + 1, domain) == 0)
			return true;
	}
	return false;
}

/* Whether queue/ID has a pending recipient in domain; false when it cannot be read. */
static bool queue_file_has_domain(struct queue *q, const char *id, const char *domain)
{
	struct spool_file f;
	if (spool_file_open(q->env.spool, id, &f) < 0)
		return false;	/* vanished or corrupt: its own job will say so */
	bool yes = queue_env_has_domain(&f.env, domain);
	spool_file_close(&f);
	return yes;
}

/* Asks flags of m's next attempt and makes it due now (a busy one: when its job is back). */
static void queue_request(struct queue *q, struct queue_msg *m, unsigned flags)
{
	m->flags |= flags;
	queue_due_now(q, m);
}

int queue_flush(struct queue *q, const char *id, const char *domain)
{
	int n = 0;
	if (id != NULL) {
		struct queue_msg *m = queue_find(q, id);
		if (m == NULL) {
			errno = ENOENT;
			return -1;
		}
		if (domain == NULL || queue_file_has_domain(q, id, domain)) {
			queue_request(q, m, QUEUE_DELIVER_FORCE);
			n = 1;
		}
	} else {
		for (size_t i = 0; i < q->nslots; i++) {
			struct queue_msg *m = q->slots[i];
			if (m == NULL || (domain != NULL && !queue_file_has_domain(q, m->id, domain)))
				continue;
			queue_request(q, m, QUEUE_DELIVER_FORCE);
			n++;
		}
	}
	/* one line per request, not per message: a flush of everything may touch 100k */
	if (id != NULL)
		log_info("event=flushed id=%s count=%d", id, n);
	else
		log_info("event=flushed%s%s count=%d", domain != NULL ? " domain=" : "",
			 domain != NULL ? domain : "", n);
	queue_dispatch(q);
	return n;
}

int queue_hold(struct queue *q, const char *id)
{
	struct queue_msg *m = queue_find(q, id);
	if (m == NULL) {
		errno = ENOENT;
		return -1;
	}
	if (m->busy) {
		errno = EBUSY;	/* its job has the file open and may still write to it */
		return -1;
	}
	if (spool_hold(q->env.spool, id) < 0)
		return -1;
	log_info("event=held id=%s", id);
	queue_forget(q, m);
	queue_dispatch(q);
	return 0;
}

int queue_release(struct queue *q, const char *id)
{
	if (spool_release(q->env.spool, id) < 0)
		return -1;
	log_info("event=released id=%s", id);
	/* tried now: its recipients' retry times passed or not */
	struct queue_msg *m = queue_index(q, id);
	if (m != NULL)
		m->flags |= QUEUE_DELIVER_FORCE;
	queue_dispatch(q);
	return 0;
}

int queue_delete(struct queue *q, const char *id)
{
	struct queue_msg *m = queue_find(q, id);
	if (m == NULL) {
		if (spool_remove_held(q->env.spool, id) < 0)
			return -1;
		log_info("event=deleted id=%s held=yes", id);
		return 0;
	}
	if (m->busy) {
		errno = EBUSY;
		return -1;
	}
	if (spool_remove(q->env.spool, id) < 0) {
		int err = errno;
		if (err == ENOENT)
			queue_forget(q, m);	/* gone already: nothing left to deliver */
		errno = err;
		return -1;
	}
	log_info("event=deleted id=%s", id);
	queue_forget(q, m);
	queue_dispatch(q);
	return 0;
}

int queue_bounce(struct queue *q, const char *id)
{
	struct queue_msg *m = queue_find(q, id);
	if (m == NULL) {
		/* a held message: back into the queue to be returned */
		if (spool_release(q->env.spool, id) < 0)
			return -1;
		log_info("event=released id=%s", id);
		m = queue_index(q, id);	/* queue_request() below makes it due now */
		if (m == NULL) {
			errno = ENOENT;	/* not an ID: spool_release() refused it already */
			return -1;
		}
	}
	queue_request(q, m, QUEUE_DELIVER_BOUNCE);
	log_info("event=bounce_requested id=%s%s", id, m->busy ? " busy=yes" : "");
	queue_dispatch(q);
	return 0;
}

static int queue_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct queue_entry *)a)->id, ((const struct queue_entry *)b)->id);
}

size_t queue_list(const struct queue *q, struct queue_entry **out)
{
	struct queue_entry *e = xcalloc(q->count > 0 ? q->count : 1, sizeof(*e));
	size_t n = 0;
	for (size_t i = 0; i < q->nslots && n < q->count; i++) {
		const struct queue_msg *m = q->slots[i];
		if (m == NULL)
			continue;
		memcpy(e[n].id, m->id, sizeof(e[n].id));
		e[n].busy = m->busy;
		e[n].next_try = m->busy ? 0 : m->next_try;
		n++;
	}
	/* oldest first: IDs sort by arrival */
	qsort(e, n, sizeof(*e), queue_entry_cmp);
	*out = e;
	return n;
}

void queue_free(struct queue *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);

	/* jobs not started stay in the spool for the next start */
	for (struct queue_job *j = q->jobs, *next; j != NULL; j = next) {
		next = j->next;
		config_unref(j->cfg);
		free(j);
	}
	for (struct queue_job *j = q->done, *next; j != NULL; j = next) {
		next = j->next;
		free(j);
	}
	for (struct queue_id *it = q->incoming, *next; it != NULL; it = next) {
		next = it->next;
		free(it);
	}
	for (size_t i = 0; i < q->nslots; i++)
		free(q->slots[i]);
	free(q->slots);
	free(q->heap);
	event_free(q->timer);
	event_free(q->wake);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	config_unref(q->cfg);
	free(q);
}
