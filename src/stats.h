/*
 * stats.h — delivery counters per virtual server, for `vsmtpctl stats` and
 * the metrics endpoint (contract).
 *
 * Connection and message counters live in struct server (server.h); the
 * outcomes of deliveries are counted here, by the name of the virtual
 * server whose policy delivered them, so that they survive reloads (a
 * reload makes new struct servers) and count for servers since removed.
 * Any thread.
 */
#ifndef VSMTPD_STATS_H
#define VSMTPD_STATS_H

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

#endif
