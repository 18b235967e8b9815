/*
 * control_history.c — the `stats.history` control command: the last hour
 * of each virtual server, minute by minute (docs/CONTROL.md).
 *
 * Main thread; the counts are stats.c's, kept by server name (so a reload
 * does not reset them) in per-minute rings (stats_ring.c). One clock
 * reading serves the whole answer, so every server's buckets line up with
 * "minute".
 */
#include <string.h>
#include <time.h>

#include "control_int.h"
#include "stats.h"

/* The members of a server's history, in stats_ring_kind order. */
static const char *const history_names[STATS_RING_KINDS] = {
	[STATS_RING_ACCEPTED] = "accepted",
	[STATS_RING_DELIVERED] = "delivered",
	[STATS_RING_DEFERRED] = "deferred",
	[STATS_RING_BOUNCED] = "bounced",
};

static json_t *server_history(const char *name, long long now)
{
	unsigned long long n[STATS_RING_KINDS][STATS_RING_MINUTES];
	stats_history(name, now, n);
	json_t *o = json_object();
	for (unsigned k = 0; k < STATS_RING_KINDS; k++) {
		json_t *a = json_array();
		for (unsigned i = 0; i < STATS_RING_MINUTES; i++)
			json_array_append_new(a, json_integer((json_int_t)n[k][i]));
		json_object_set_new(o, history_names[k], a);
	}
	return o;
}

int control_stats_history(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	int bad = 0;
	const char *name = control_arg(req, "name", false, err, &bad);
	if (bad < 0)
		return -1;
	long long now = (long long)time(NULL);
	json_t *servers = json_object();
	for (size_t i = 0; i < d->nservers; i++)
		if (name == NULL || strcmp(name, d->servers[i]->name) == 0)
			json_object_set_new(servers, d->servers[i]->name, server_history(d->servers[i]->name, now));
	if (name != NULL && json_object_size(servers) == 0) {
		json_decref(servers);
		buf_printf(err, "no virtual server named '%s'", name);
		return -1;
	}
	json_t *minutes = json_array();
	long long first = stats_ring_minute(now) - (STATS_RING_MINUTES - 1);
	for (long long m = first; m < first + STATS_RING_MINUTES; m++)
		json_array_append_new(minutes, json_integer((json_int_t)(m * 60)));
	*result = json_pack("{s:o, s:o}", "minute", minutes, "servers", servers);
	return 0;
}
