/*
 * control_server.c — control commands about the daemon and its virtual
 * servers: status, server.*, reload, stats (docs/CONTROL.md).
 *
 * Main thread. Stopping, starting, pausing and resuming a server touch
 * only its listeners and its accept verdict (server.h): sessions in
 * progress, on any server, are never disturbed. A reload is
 * daemon_reload(); its errors come back as the command's error, one
 * "file:line: message" per line, and the running config stays.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_keys.h"
#include "control_int.h"
#include "smtp_session.h"
#include "stats.h"

/* The server named by the request's "name", or NULL with err set. */
static struct server *named_server(struct daemon *d, json_t *req, struct buf *err)
{
	int bad = 0;
	const char *name = control_arg(req, "name", true, err, &bad);
	if (name == NULL)
		return NULL;
	struct server *s = daemon_server(d, name);
	if (s == NULL)
		buf_printf(err, "no virtual server named '%s'", name);
	return s;
}

static json_t *server_counters(const struct server *s)
{
	unsigned long long del[STATS_DELIVERY_KINDS];
	stats_get(s->name, del);
	return json_pack("{s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "connections", (json_int_t)atomic_load(&s->counters.connections),
			 "refused", (json_int_t)atomic_load(&s->counters.refused),
			 "sessions", (int)atomic_load(&s->sessions_now),
			 "messages", (json_int_t)atomic_load(&s->counters.messages),
			 "rejected", (json_int_t)atomic_load(&s->counters.rejected),
			 "rcpt_rejected", (json_int_t)atomic_load(&s->counters.rcpt_rejected),
			 "bytes_in", (json_int_t)atomic_load(&s->counters.bytes_in),
			 "delivered", (json_int_t)del[STATS_SENT], "deferred", (json_int_t)del[STATS_DEFERRED],
			 "bounced", (json_int_t)del[STATS_BOUNCED]);
}

static json_t *server_summary(const struct server *s)
{
	json_t *listen = json_array();
	for (size_t i = 0; i < s->conf->nlisten; i++) {
		const struct config_listen *cl = &s->conf->listen[i];
		char text[160];
		snprintf(text, sizeof(text), "%s%s", cl->text, cl->tls ? " tls" : "");
		json_array_append_new(listen, json_string(text));
	}
	return json_pack("{s:s, s:s, s:o, s:i, s:o}", "name", s->name, "state",
			 server_state_name((enum server_state)atomic_load(&s->state)), "listen", listen, "sessions",
			 (int)atomic_load(&s->sessions_now), "counters", server_counters(s));
}

int control_status(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	*result = json_pack("{s:s, s:i, s:I, s:s, s:i, s:i, s:I}", "version", VSMTPD_VERSION, "pid",
			    (int)getpid(), "started", (json_int_t)d->started, "config", d->config_path, "servers",
			    (int)d->nservers, "sessions", (int)smtp_session_count(), "queued",
			    (json_int_t)queue_count(d->queue));
	return 0;
}

int control_server_list(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	*result = json_array();
	for (size_t i = 0; i < d->nservers; i++)
		json_array_append_new(*result, server_summary(d->servers[i]));
	return 0;
}

int control_server_show(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	struct server *s = named_server(d, req, err);
	if (s == NULL)
		return -1;
	json_t *settings = json_object();
	struct buf v = BUF_INIT;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope != CONFIG_SCOPE_SERVER)
			continue;
		buf_reset(&v);
		config_value_format(k, s->conf, &v);
		json_object_set_new(settings, k->name, json_string(buf_str(&v)));
	}
	buf_free(&v);
	*result = json_pack("{s:s, s:s, s:s, s:i, s:o}", "name", s->name, "state",
			    server_state_name((enum server_state)atomic_load(&s->state)), "file", s->conf->file,
			    "line", s->conf->line, "settings", settings);
	return 0;
}

static int server_state_result(struct server *s, json_t **result)
{
	*result = json_pack("{s:s, s:s}", "name", s->name, "state",
			    server_state_name((enum server_state)atomic_load(&s->state)));
	return 0;
}

/* Stops (stopped true) or starts the named server. */
static int server_stop_start(struct daemon *d, json_t *req, json_t **result, struct buf *err, bool stopped)
{
	struct server *s = named_server(d, req, err);
	if (s == NULL)
		return -1;
	char why[512];
	if (server_set_stopped(s, stopped, why, sizeof(why)) < 0) {
		buf_printf(err, "cannot start %s: %s", s->name, why);
		return -1;
	}
	return server_state_result(s, result);
}

int control_server_stop(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	return server_stop_start(d, req, result, err, true);
}

int control_server_start(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	return server_stop_start(d, req, result, err, false);
}

/* Pauses (paused true) or resumes the named server; a stopped one must be started first. */
static int server_pause_resume(struct daemon *d, json_t *req, json_t **result, struct buf *err, bool paused)
{
	struct server *s = named_server(d, req, err);
	if (s == NULL)
		return -1;
	if (atomic_load(&s->state) == SERVER_STOPPED) {
		buf_printf(err, "%s is stopped: start it first", s->name);
		return -1;
	}
	server_set_paused(s, paused);
	return server_state_result(s, result);
}

int control_server_pause(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	return server_pause_resume(d, req, result, err, true);
}

int control_server_resume(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	return server_pause_resume(d, req, result, err, false);
}

/* "a\nb\n" -> ["a", "b"] */
static json_t *lines_array(const struct buf *b)
{
	json_t *a = json_array();
	const char *p = buf_str(b);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		json_array_append_new(a, json_stringn(p, len));
		p += len + (nl != NULL);
	}
	return a;
}

int control_reload(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	struct buf added = BUF_INIT, removed = BUF_INIT, kept = BUF_INIT;
	struct buf errors = BUF_INIT;
	int rc = daemon_reload(d, &errors, &added, &removed, &kept);
	if (rc < 0) {
		/* the file:line lines, without the last newline */
		size_t len = errors.len;
		while (len > 0 && errors.data[len - 1] == '\n')
			len--;
		buf_append(err, errors.data, len);
	} else {
		*result = json_pack("{s:{s:o, s:o, s:o}}", "servers", "added", lines_array(&added), "removed",
				    lines_array(&removed), "reloaded", lines_array(&kept));
	}
	buf_free(&added);
	buf_free(&removed);
	buf_free(&kept);
	buf_free(&errors);
	return rc;
}

int control_stats(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	int bad = 0;
	const char *name = control_arg(req, "name", false, err, &bad);
	if (bad < 0)
		return -1;
	json_t *servers = json_object();
	for (size_t i = 0; i < d->nservers; i++) {
		if (name != NULL && strcmp(name, d->servers[i]->name) != 0)
			continue;
		json_object_set_new(servers, d->servers[i]->name, server_counters(d->servers[i]));
	}
	if (name != NULL && json_object_size(servers) == 0) {
		json_decref(servers);
		buf_printf(err, "no virtual server named '%s'", name);
		return -1;
	}
	*result = json_pack("{s:o}", "servers", servers);
	return 0;
}
