/*
 * outbound_pool.c — connection slots per destination and idle outbound
 * sessions kept for reuse (see outbound_conn.h).
 *
 * Owns, under one mutex: a small hash of destinations (key, slots held,
 * a LIFO stack of idle sessions, so the freshest is reused and the stale
 * ones age out at the bottom) and one list of every idle session, oldest
 * last, for expiry and for making room under max_total. Owns the idle
 * sessions themselves; a session taken out is the caller's again. Does
 * not: open sessions or decide limits (deliver_smtp.c passes them).
 *
 * Invariants: total == the sum of every destination's slots; a
 * destination's slots >= its idle sessions; a destination with no slot is
 * freed; sessions are closed (QUIT, up to 2 s) only after the mutex is
 * released, so one slow peer never stalls other delivery threads.
 * Errors: none; a refused reservation is `false`.
 *
 * RFC 5321 4.5.3.2 (keeping idle sessions only briefly: servers time out
 * idle clients), RFC 5321 4.1.4 (the session goes on with MAIL).
 */
#include "outbound_conn_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"
#include "log.h"

#define POOL_BUCKETS 64		/* destinations hash; chains stay short for hundreds */

struct pool_dest;

struct pool_idle {
	struct oconn *c;
	uint64_t since;			/* monotonic ms when it was put back */
	struct pool_dest *dest;
	struct pool_idle *dnext;	/* in dest's stack, towards older */
	struct pool_idle *gprev, *gnext;	/* in the pool's list; gnext towards older */
};

struct pool_dest {
	char *key;
	unsigned slots;
	struct pool_idle *idle;		/* top of the stack: the freshest */
	struct pool_dest *next;		/* in its bucket */
};

struct oconn_pool {
	pthread_mutex_t mu;
	pthread_cond_t changed;		/* a session came back or a slot was freed */
	uint64_t generation;		/* counts those changes */
	uint64_t idle_ms;
	unsigned max_total;
	unsigned total;
	struct pool_idle *newest, *oldest;
	struct pool_dest *buckets[POOL_BUCKETS];
};

struct oconn_pool *oconn_pool_new(unsigned idle_seconds, unsigned max_total)
{
	struct oconn_pool *pool = xcalloc(1, sizeof(*pool));
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->changed, NULL);
	pool->idle_ms = (uint64_t)idle_seconds * 1000;
	pool->max_total = max_total;
	return pool;
}

/* FNV-1a. */
static struct pool_dest **pool_bucket(struct oconn_pool *pool, const char *key)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return &pool->buckets[h % POOL_BUCKETS];
}

/* The destination for key; created with no slot when create, else NULL. */
static struct pool_dest *pool_dest_find(struct oconn_pool *pool, const char *key, bool create)
{
	struct pool_dest **b = pool_bucket(pool, key);
	for (struct pool_dest *d = *b; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	if (!create)
		return NULL;
	struct pool_dest *d = xcalloc(1, sizeof(*d));
	d->key = xstrdup(key);
	d->next = *b;
	*b = d;
	return d;
}

/* Frees d when it holds no slot. */
static void pool_dest_tidy(struct oconn_pool *pool, struct pool_dest *d)
{
	if (d->slots > 0)
		return;
	struct pool_dest **pp = pool_bucket(pool, d->key);
	while (*pp != d)
		pp = &(*pp)->next;
	*pp = d->next;
	free(d->key);
	free(d);
}

/* A waiter in oconn_pool_wait() may find room now. Under the lock. */
static void pool_changed(struct oconn_pool *pool)
{
	pool->generation++;
	pthread_cond_broadcast(&pool->changed);
}

static void pool_slot_drop(struct oconn_pool *pool, struct pool_dest *d)
{
	d->slots--;
	pool->total--;
	pool_dest_tidy(pool, d);
	pool_changed(pool);
}

/*
 * Takes idle entry e out of both lists, dropping its slot unless keep_slot
 * (the session goes on with the same slot).
 */
static void pool_idle_unlink(struct oconn_pool *pool, struct pool_idle *e, bool keep_slot)
{
	struct pool_dest *d = e->dest;
	struct pool_idle **pp = &d->idle;
	while (*pp != e)
		pp = &(*pp)->dnext;
	*pp = e->dnext;
	if (e->gprev != NULL)
		e->gprev->gnext = e->gnext;
	else
		pool->newest = e->gnext;
	if (e->gnext != NULL)
		e->gnext->gprev = e->gprev;
	else
		pool->oldest = e->gprev;
	e->dest = NULL;
	e->gprev = e->gnext = NULL;
	if (!keep_slot)
		pool_slot_drop(pool, d);
}

/* Unlinks e, slot and all, onto *victims: to be closed after unlocking. */
static void pool_idle_evict(struct oconn_pool *pool, struct pool_idle *e, struct pool_idle **victims)
{
	pool_idle_unlink(pool, e, false);
	e->dnext = *victims;
	*victims = e;
}

static void pool_victims_close(struct pool_idle *victims)
{
	while (victims != NULL) {
		struct pool_idle *e = victims;
		/* The analyzer loses track of pool->oldest in pool_idle_unlink() and evicts e twice. */
		victims = e->dnext;	/* NOLINT(clang-analyzer-unix.Malloc) */
		oconn_close(e->c, true);
		free(e);
	}
}

/* Evicts every session idle for longer than idle_ms. */
static void pool_expire_locked(struct oconn_pool *pool, struct pool_idle **victims)
{
	uint64_t now = oconn_deadline(0);
	while (pool->oldest != NULL && now - pool->oldest->since > pool->idle_ms)
		pool_idle_evict(pool, pool->oldest, victims);
}

bool oconn_pool_reserve(struct oconn_pool *pool, const char *key, unsigned max_per_dest)
{
	struct pool_idle *victims = NULL;
	pthread_mutex_lock(&pool->mu);
	struct pool_dest *d = pool_dest_find(pool, key, true);
	bool ok = max_per_dest == 0 || d->slots < max_per_dest;
	if (ok && pool->max_total != 0 && pool->total >= pool->max_total) {
		/* Make room: the oldest idle session of another destination goes. */
		struct pool_idle *e = pool->oldest;
		while (e != NULL && e->dest == d)
			e = e->gprev;
		ok = e != NULL;
		if (ok)
			pool_idle_evict(pool, e, &victims);
	}
	if (ok) {
		d->slots++;
		pool->total++;
	} else {
		pool_dest_tidy(pool, d);
	}
	pthread_mutex_unlock(&pool->mu);
	pool_victims_close(victims);
	return ok;
}

void oconn_pool_release(struct oconn_pool *pool, const char *key)
{
	pthread_mutex_lock(&pool->mu);
	struct pool_dest *d = pool_dest_find(pool, key, false);
	if (d != NULL && d->slots > 0)
		pool_slot_drop(pool, d);
	else
		log_error("event=bug module=outbound_pool reason=\"release without a slot\" key=%s", key);
	pthread_mutex_unlock(&pool->mu);
}

struct oconn *oconn_pool_take(struct oconn_pool *pool, const char *key)
{
	struct pool_idle *victims = NULL;
	struct oconn *c = NULL;
	pthread_mutex_lock(&pool->mu);
	pool_expire_locked(pool, &victims);
	struct pool_dest *d = pool_dest_find(pool, key, false);
	struct pool_idle *e = d != NULL ? d->idle : NULL;
	if (e != NULL) {
		pool_idle_unlink(pool, e, true);
		c = e->c;
		free(e);
	}
	pthread_mutex_unlock(&pool->mu);
	pool_victims_close(victims);
	return c;
}

void oconn_pool_put(struct oconn_pool *pool, const char *key, struct oconn *c, unsigned max_messages)
{
	bool keep = pool->idle_ms > 0 && !c->broken &&
		    (max_messages == 0 || c->messages < max_messages);
	if (!keep) {
		oconn_close(c, true);
		oconn_pool_release(pool, key);
		return;
	}
	pthread_mutex_lock(&pool->mu);
	struct pool_dest *d = pool_dest_find(pool, key, false);
	if (d == NULL) {
		pthread_mutex_unlock(&pool->mu);
		log_error("event=bug module=outbound_pool reason=\"put without a slot\" key=%s", key);
		oconn_close(c, true);
		return;
	}
	struct pool_idle *e = xcalloc(1, sizeof(*e));
	e->c = c;
	e->since = oconn_deadline(0);
	e->dest = d;
	e->dnext = d->idle;
	d->idle = e;
	e->gnext = pool->newest;
	if (pool->newest != NULL)
		pool->newest->gprev = e;
	else
		pool->oldest = e;
	pool->newest = e;
	pool_changed(pool);
	pthread_mutex_unlock(&pool->mu);
}

uint64_t oconn_pool_generation(struct oconn_pool *pool)
{
	pthread_mutex_lock(&pool->mu);
	uint64_t g = pool->generation;
	pthread_mutex_unlock(&pool->mu);
	return g;
}

bool oconn_pool_wait(struct oconn_pool *pool, uint64_t seen, uint64_t deadline_ms)
{
	pthread_mutex_lock(&pool->mu);
	while (pool->generation == seen) {
		uint64_t now = oconn_deadline(0);
		if (now >= deadline_ms)
			break;
		/* the condvar runs on CLOCK_REALTIME: wait the remaining span from now */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		uint64_t left = deadline_ms - now;
		until.tv_sec += (time_t)(left / 1000);
		until.tv_nsec += (long)(left % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&pool->changed, &pool->mu, &until);
	}
	bool changed = pool->generation != seen;
	pthread_mutex_unlock(&pool->mu);
	return changed;
}

void oconn_pool_expire(struct oconn_pool *pool)
{
	struct pool_idle *victims = NULL;
	pthread_mutex_lock(&pool->mu);
	pool_expire_locked(pool, &victims);
	pthread_mutex_unlock(&pool->mu);
	pool_victims_close(victims);
}

void oconn_pool_free(struct oconn_pool *pool)
{
	if (pool == NULL)
		return;
	struct pool_idle *victims = NULL;
	while (pool->oldest != NULL)
		pool_idle_evict(pool, pool->oldest, &victims);
	pool_victims_close(victims);
	if (pool->total != 0)
		log_error("event=bug module=outbound_pool reason=\"freed with slots held\" slots=%u",
			  pool->total);
	for (size_t i = 0; i < POOL_BUCKETS; i++) {
		while (pool->buckets[i] != NULL) {
			struct pool_dest *d = pool->buckets[i];
			pool->buckets[i] = d->next;
			free(d->key);
			free(d);
		}
	}
	pthread_cond_destroy(&pool->changed);
	pthread_mutex_destroy(&pool->mu);
	free(pool);
}
