/*
 * stats.h — delivery counters per virtual server, for `vsmtpctl stats` and
 * the metrics endpoint (contract).
 *
 * Connection and message counters live in struct server (server.h); the
 * outcomes of deliveries are counted here, by the name of the virtual
 * server whose policy delivered them, so that they survive reloads (a
 * reload makes new struct servers) and count for servers since removed.
 * The same name also keeps the last hour minute by minute (stats_ring.h)
 * for `stats.history`: those outcomes, and the messages the server
 * accepted. Any thread.
 */
#ifndef VSMTPD_STATS_H
#define VSMTPD_STATS_H

#include "stats_ring.h"

enum stats_delivery {
	STATS_SENT,		/* a recipient delivered or relayed */
	STATS_DEFERRED,		/* a recipient's attempt failed temporarily */
	STATS_BOUNCED,		/* a recipient failed for good */
	STATS_DELIVERY_KINDS,
};

/* Counts one outcome for the server named server (NULL or "": "-"). */
void stats_count(const char *server, enum stats_delivery kind);

/* The counts of the server named server (zeros when it never delivered). */
void stats_get(const char *server, unsigned long long out[STATS_DELIVERY_KINDS]);

/* Counts a message the server named server queued (its 250 after DATA), for the history. */
void stats_count_accepted(const char *server);

/* The server's last hour at unix time now, per minute, as stats_ring_read() gives it. */
void stats_history(const char *server, long long now,
		   unsigned long long out[STATS_RING_KINDS][STATS_RING_MINUTES]);

#endif
