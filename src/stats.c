/*
 * stats.c — delivery counters by virtual server name (see stats.h).
 *
 * A short list under one mutex: there are a handful of virtual servers,
 * and a delivery is counted once per recipient, far from any per-byte
 * path. Entries live as long as the process.
 */
#include "stats.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

struct stats_entry {
	struct stats_entry *next;
	unsigned long long n[STATS_DELIVERY_KINDS];
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

void stats_count(const char *server, enum stats_delivery kind)
{
	if (server == NULL || server[0] == '\0')
		server = "-";
	pthread_mutex_lock(&stats_lock);
	stats_find(server, true)->n[kind]++;
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
