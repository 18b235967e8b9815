/*
 * stats.c — delivery counters by virtual server name (see stats.h).
 *
 * A short list under one mutex: there are a handful of virtual servers,
 * and a delivery is counted once per recipient, far from any per-byte
 * path. Entries live as long as the process. Each entry also has a ring of
 * the last hour's minutes (stats_ring.c), stamped with the wall clock
 * (time(2)) when the event is counted: minutes are those of the clock
 * the console's charts are read by.
 */
#include "stats.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"

struct stats_entry {
	struct stats_entry *next;
	unsigned long long n[STATS_DELIVERY_KINDS];
	struct stats_ring hour;
	char name[];
};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_entry *stats_list;

static struct stats_entry *stats_find(const char *name, bool create)
{
	for (struct stats_entry *e = stats_list; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	if (!create)
		return NULL;
	size_t len = strlen(name);
	struct stats_entry *e = xcalloc(1, sizeof(*e) + len + 1);
	memcpy(e->name, name, len + 1);
	e->next = stats_list;
	stats_list = e;
	return e;
}

/* Where each delivery outcome goes in the hour's ring. */
static const enum stats_ring_kind ring_kind[STATS_DELIVERY_KINDS] = {
	[STATS_SENT] = STATS_RING_DELIVERED,
	[STATS_DEFERRED] = STATS_RING_DEFERRED,
	[STATS_BOUNCED] = STATS_RING_BOUNCED,
};

void stats_count(const char *server, enum stats_delivery kind)
{
	if (server == NULL || server[0] == '\0')
		server = "-";
	long long now = (long long)time(NULL);
	pthread_mutex_lock(&stats_lock);
	struct stats_entry *e = stats_find(server, true);
	e->n[kind]++;
	stats_ring_add(&e->hour, now, ring_kind[kind]);
	pthread_mutex_unlock(&stats_lock);
}

void stats_count_accepted(const char *server)
{
	long long now = (long long)time(NULL);
	pthread_mutex_lock(&stats_lock);
	stats_ring_add(&stats_find(server, true)->hour, now, STATS_RING_ACCEPTED);
	pthread_mutex_unlock(&stats_lock);
}

void stats_history(const char *server, long long now,
		   unsigned long long out[STATS_RING_KINDS][STATS_RING_MINUTES])
{
	static const struct stats_ring empty;
	pthread_mutex_lock(&stats_lock);
	struct stats_entry *e = stats_find(server, false);
	stats_ring_read(e != NULL ? &e->hour : &empty, now, out);
	pthread_mutex_unlock(&stats_lock);
}

void stats_get(const char *server, unsigned long long out[STATS_DELIVERY_KINDS])
{
	pthread_mutex_lock(&stats_lock);
	struct stats_entry *e = stats_find(server, false);
	for (int k = 0; k < STATS_DELIVERY_KINDS; k++)
		out[k] = e != NULL ? e->n[k] : 0;
	pthread_mutex_unlock(&stats_lock);
}
