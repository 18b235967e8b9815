/*
 * daemon.c — live reconfiguration of the running daemon (see daemon.h).
 *
 * A reload loads the config file into a new snapshot and, only when it
 * has no error, switches to it in three steps, so that addresses freed by
 * one server can be taken by another: removed servers are stopped, kept
 * ones reconfigured (their listeners move to the new server object without
 * ever closing), added ones started. Sessions in progress hold a reference
 * on their old server and its snapshot, so they finish under the settings
 * they began with. Global settings that shape threads and sockets made at
 * start (spool, user, workers, control, dns, delivery threads, the
 * outbound connection pool) take a restart: a reload says so in the log.
 * Main thread only.
 */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "log.h"

struct server *daemon_server(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nservers; i++)
		if (strcmp(d->servers[i]->name, name) == 0)
			return d->servers[i];
	return NULL;
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The same addresses, TLS flags and order (the normalised text says both address and port). */
static bool same_listen(const struct config_listen *a, size_t na, const struct config_listen *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].tls != b[i].tls || strcmp(a[i].text, b[i].text) != 0)
			return false;
	return true;
}

/* Logs each global setting that changed but only applies at start. */
static void daemon_warn_restart(const struct config_global *o, const struct config_global *n)
{
	const struct {
		const char *key;
		bool same;
	} keys[] = {
		{ "spool", same_str(o->spool, n->spool) },
		{ "user", same_str(o->user, n->user) },
		{ "workers", o->workers == n->workers },
		{ "control", same_str(o->control, n->control) },
		{ "control_group", same_str(o->control_group, n->control_group) },
		{ "dns", same_str(o->dns, n->dns) },
		{ "delivery_threads", o->delivery_threads == n->delivery_threads },
		{ "max_outbound_connections", o->max_outbound_connections == n->max_outbound_connections },
		{ "outbound_idle_time", o->outbound_idle_time == n->outbound_idle_time },
		{ "log", o->log == n->log },
		{ "metrics", same_listen(o->metrics, o->nmetrics, n->metrics, n->nmetrics) },
		{ "console", same_listen(o->console, o->nconsole, n->console, n->nconsole) },
		{ "console_cert", same_str(o->console_cert, n->console_cert) },
		{ "console_key", same_str(o->console_key, n->console_key) },
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!keys[i].same)
			log_warn("event=reload_needs_restart key=%s reason=\"[global] %s changes at the next "
				 "start\"", keys[i].key, keys[i].key);
}

int daemon_reload(struct daemon *d, struct buf *errors, struct buf *added, struct buf *removed,
		  struct buf *changed)
{
	struct config *nc;
	if (config_load(d->config_path, &nc, errors) < 0) {
		log_warn("event=reload_failed config=%s reason=\"the config has errors; the running one "
			 "stays\"", d->config_path);
		return -1;
	}
	daemon_warn_restart(&d->cfg->global, &nc->global);
	struct server **ns = xcalloc(nc->nservers > 0 ? nc->nservers : 1, sizeof(*ns));
	char err[512];

	/* 1. servers that are gone */
	for (size_t i = 0; i < d->nservers; i++) {
		if (config_server_find(nc, d->servers[i]->name) != NULL)
			continue;
		buf_printf(removed, "%s\n", d->servers[i]->name);
		server_stop(d->servers[i]);
		d->servers[i] = NULL;
	}
	/* 2. servers that stay: new settings, the same sockets */
	for (size_t i = 0; i < nc->nservers; i++) {
		size_t j = 0;
		while (j < d->nservers &&
		       (d->servers[j] == NULL || strcmp(d->servers[j]->name, nc->servers[i].name) != 0))
			j++;
		if (j == d->nservers)
			continue;
		struct server *old = d->servers[j];
		if (server_reconfigure(old, nc, &nc->servers[i], &ns[i], err, sizeof(err)) < 0)
			log_error("event=reload_error server=%s reason=\"%s\"", old->name, err);
		buf_printf(changed, "%s\n", old->name);
		server_stop(old);
		d->servers[j] = NULL;	/* it may be freed: the next names must not be read from it */
	}
	/* 3. new servers */
	for (size_t i = 0; i < nc->nservers; i++) {
		if (ns[i] != NULL)
			continue;
		ns[i] = server_create_stopped(&d->ctx, nc, &nc->servers[i]);
		if (server_set_stopped(ns[i], false, err, sizeof(err)) < 0)
			log_error("event=reload_error server=%s reason=\"%s; it stays stopped\"", ns[i]->name, err);
		buf_printf(added, "%s\n", ns[i]->name);
	}
	free(d->servers);
	d->servers = ns;
	d->nservers = nc->nservers;
	queue_set_config(d->queue, nc);
	config_unref(d->cfg);
	d->cfg = nc;
	log_info("event=reloaded config=%s servers=%zu", d->config_path, nc->nservers);
	return 0;
}
