/*
 * metrics.c — the Prometheus text endpoint, [global] metrics (see metrics.h).
 *
 * libevent's evhttp serves GET /metrics on the main thread: the counters
 * of every virtual server (server.h), their delivery outcomes (stats.h),
 * sessions now and states, in the Prometheus text exposition format 0.0.4.
 * Read-only; anything but GET /metrics is 404 or 405.
 */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "http_listen.h"
#include "lib/xalloc.h"
#include "log.h"
#include "stats.h"

struct metrics {
	struct daemon *d;
	struct evhttp *http;
};

/* One family: its HELP and TYPE lines, then a sample per server. */
static void family(struct evbuffer *out, struct daemon *d, const char *name, const char *type,
		   const char *help, unsigned long long (*value)(const struct server *s))
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < d->nservers; i++)
		evbuffer_add_printf(out, "%s{server=\"%s\"} %llu\n", name, d->servers[i]->name,
				    value(d->servers[i]));
}

static unsigned long long v_connections(const struct server *s)
{
	return atomic_load(&s->counters.connections);
}

static unsigned long long v_refused(const struct server *s)
{
	return atomic_load(&s->counters.refused);
}

static unsigned long long v_sessions(const struct server *s)
{
	return atomic_load(&s->sessions_now);
}

static unsigned long long v_messages(const struct server *s)
{
	return atomic_load(&s->counters.messages);
}

static unsigned long long v_rejected(const struct server *s)
{
	return atomic_load(&s->counters.rejected);
}

static unsigned long long v_rcpt_rejected(const struct server *s)
{
	return atomic_load(&s->counters.rcpt_rejected);
}

static unsigned long long v_bytes(const struct server *s)
{
	return atomic_load(&s->counters.bytes_in);
}

static void metrics_text(struct daemon *d, struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP vsmtpd_start_time_seconds When the daemon started (unix time).\n"
				 "# TYPE vsmtpd_start_time_seconds gauge\nvsmtpd_start_time_seconds %lld\n",
			    d->started);
	family(out, d, "vsmtpd_connections_total", "counter", "Connections accepted.", v_connections);
	family(out, d, "vsmtpd_connections_refused_total", "counter",
	       "Connections turned away at connect (deny lists, limits, paused).", v_refused);
	family(out, d, "vsmtpd_sessions", "gauge", "SMTP sessions open now.", v_sessions);
	family(out, d, "vsmtpd_messages_accepted_total", "counter", "Messages queued (250 after DATA).",
	       v_messages);
	family(out, d, "vsmtpd_messages_rejected_total", "counter", "Messages refused after DATA.",
	       v_rejected);
	family(out, d, "vsmtpd_recipients_rejected_total", "counter", "RCPT commands refused.",
	       v_rcpt_rejected);
	family(out, d, "vsmtpd_received_bytes_total", "counter", "Message bytes queued.", v_bytes);
	evbuffer_add_printf(out, "# HELP vsmtpd_deliveries_total Recipient delivery outcomes.\n"
				 "# TYPE vsmtpd_deliveries_total counter\n");
	static const char *const outcome[STATS_DELIVERY_KINDS] = { "sent", "deferred", "bounced" };
	for (size_t i = 0; i < d->nservers; i++) {
		unsigned long long n[STATS_DELIVERY_KINDS];
		stats_get(d->servers[i]->name, n);
		for (int k = 0; k < STATS_DELIVERY_KINDS; k++)
			evbuffer_add_printf(out, "vsmtpd_deliveries_total{server=\"%s\",status=\"%s\"} %llu\n",
					    d->servers[i]->name, outcome[k], n[k]);
	}
	evbuffer_add_printf(out, "# HELP vsmtpd_server_state The state of each virtual server.\n"
				 "# TYPE vsmtpd_server_state gauge\n");
	for (size_t i = 0; i < d->nservers; i++)
		for (int st = SERVER_RUNNING; st <= SERVER_STOPPED; st++)
			evbuffer_add_printf(out, "vsmtpd_server_state{server=\"%s\",state=\"%s\"} %d\n",
					    d->servers[i]->name, server_state_name((enum server_state)st),
					    atomic_load(&d->servers[i]->state) == st);
}

static void metrics_request(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	if (strcmp(evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)), "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "GET only");
		return;
	}
	struct evbuffer *out = evbuffer_new();
	metrics_text(m->d, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

struct metrics *metrics_open(struct daemon *d, char *err, size_t errsize)
{
	const struct config_global *g = &d->cfg->global;
	if (g->nmetrics == 0)
		return NULL;
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->d = d;
	m->http = evhttp_new(d->base);
	if (m->http == NULL) {
		snprintf(err, errsize, "metrics: cannot create the HTTP server");
		free(m);
		return NULL;
	}
	evhttp_set_gencb(m->http, metrics_request, m);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	for (size_t i = 0; i < g->nmetrics; i++) {
		const struct config_listen *cl = &g->metrics[i];
		if (http_listen(m->http, cl, "metrics", err, errsize) < 0) {
			metrics_close(m);
			return NULL;
		}
		log_info("event=metrics_listen address=%s", cl->text);
	}
	return m;
}

void metrics_close(struct metrics *m)
{
	if (m == NULL)
		return;
	evhttp_free(m->http);
	free(m);
}
