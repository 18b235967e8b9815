/*
 * console_api.c — the console's JSON API: each /api/ path is a control
 * request, run with control_execute() once the account's role allows it
 * (docs/CONSOLE.md has the table).
 *
 * Owns the route table and the checks every call goes through, in this
 * order: a live session (401), a known path (404) and method (405); for a
 * POST, the console's own Origin and the session's CSRF token (403); then
 * the role (403): readonly accounts never POST but to log out, reload is
 * the admin's, and an operator sees and acts on its own virtual servers
 * only — their state and settings, and the queued messages whose "server"
 * (the server that accepted them) is one of them; another's message is
 * answered as if it did not exist (404). The account is looked up in the
 * current config at every call, so a reload that changes a role or removes
 * an account applies at once (a removed account's sessions end).
 * Does not parse settings or run commands itself: control*.c do, and their
 * error sentences come back unchanged with 400.
 *
 * Every POST that acts is logged: event=console_action user= ip= cmd=
 * target= result=ok|error.
 */
#include "console_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "control.h"
#include "lib/xalloc.h"
#include "log.h"

#define API_SEGMENTS 4		/* the longest path: servers/NAME/settings */
#define API_SEGMENT_MAX 256

struct api_call {
	struct console *c;
	struct evhttp_request *req;
	const struct console_account *acc;
	const struct console_session *x;	/* borrowed from c->sessions */
	const struct api_route *route;
	char ip[64];
	const char *arg;			/* the route's '*': a server name or a queue ID */
};

typedef void (*api_fn)(struct api_call *a);

struct api_route {
	enum evhttp_cmd_type method;
	const char *pattern;		/* path below /api/; '*' is any one segment */
	api_fn fn;
	const char *cmd;		/* the control command, for the handlers that share one */
};

static void api_session(struct api_call *a);
static void api_logout(struct api_call *a);
static void api_plain(struct api_call *a);
static void api_servers(struct api_call *a);
static void api_server_show(struct api_call *a);
static void api_settings(struct api_call *a);
static void api_server_action(struct api_call *a);
static void api_queue(struct api_call *a);
static void api_message(struct api_call *a);
static void api_message_action(struct api_call *a);
static void api_per_server(struct api_call *a);
static void api_reload(struct api_call *a);

static const struct api_route api_routes[] = {
	{ EVHTTP_REQ_GET, "session", api_session, NULL },
	{ EVHTTP_REQ_POST, "logout", api_logout, NULL },
	{ EVHTTP_REQ_GET, "status", api_plain, "status" },
	{ EVHTTP_REQ_GET, "keys", api_plain, "config.keys" },
	{ EVHTTP_REQ_GET, "servers", api_servers, "server.list" },
	{ EVHTTP_REQ_GET, "servers/*", api_server_show, "server.show" },
	{ EVHTTP_REQ_POST, "servers/*/settings", api_settings, "config.set" },
	{ EVHTTP_REQ_POST, "servers/*/start", api_server_action, "server.start" },
	{ EVHTTP_REQ_POST, "servers/*/stop", api_server_action, "server.stop" },
	{ EVHTTP_REQ_POST, "servers/*/pause", api_server_action, "server.pause" },
	{ EVHTTP_REQ_POST, "servers/*/resume", api_server_action, "server.resume" },
	{ EVHTTP_REQ_GET, "queue", api_queue, "queue.list" },
	{ EVHTTP_REQ_GET, "queue/*", api_message, "queue.show" },
	{ EVHTTP_REQ_POST, "queue/*/hold", api_message_action, "queue.hold" },
	{ EVHTTP_REQ_POST, "queue/*/release", api_message_action, "queue.release" },
	{ EVHTTP_REQ_POST, "queue/*/flush", api_message_action, "queue.flush" },
	{ EVHTTP_REQ_POST, "queue/*/delete", api_message_action, "queue.delete" },
	{ EVHTTP_REQ_POST, "queue/*/bounce", api_message_action, "queue.bounce" },
	{ EVHTTP_REQ_GET, "stats", api_per_server, "stats" },
	{ EVHTTP_REQ_GET, "history", api_per_server, "stats.history" },
	{ EVHTTP_REQ_POST, "reload", api_reload, "reload" },
};

#define API_NROUTES (sizeof(api_routes) / sizeof(api_routes[0]))

/* ---- running control commands ---------------------------------------------------- */

/*
 * Runs cmd with the members of args (a reference taken; NULL: none). Returns the result (a new
 * reference), or NULL with the command's error sentence in *err.
 */
static json_t *api_run(struct console *c, const char *cmd, json_t *args, struct buf *err)
{
	json_t *req = args != NULL ? args : json_object();
	json_object_set_new(req, "cmd", json_string(cmd));
	json_t *reply = control_execute(c->d, req);
	json_decref(req);
	json_t *result = NULL;
	if (json_is_true(json_object_get(reply, "ok"))) {
		result = json_incref(json_object_get(reply, "result"));
	} else {
		const char *e = json_string_value(json_object_get(reply, "error"));
		buf_append_str(err, e != NULL ? e : "the command failed");
	}
	json_decref(reply);
	return result;
}

/* Runs cmd and sends its result, or 400 with its error. */
static void api_send(struct api_call *a, const char *cmd, json_t *args)
{
	struct buf err = BUF_INIT;
	json_t *result = api_run(a->c, cmd, args, &err);
	if (result != NULL)
		console_reply_json(a->req, 200, result);
	else
		console_reply_error(a->req, 400, "%s", buf_str(&err));
	buf_free(&err);
}

/* An action: run, logged, answered. It may reload the config, and free a->acc with it. */
static void api_act(struct api_call *a, const char *cmd, json_t *args)
{
	struct buf err = BUF_INIT;
	json_t *result = api_run(a->c, cmd, args, &err);
	a->acc = NULL;
	log_info("event=console_action user=%s ip=%s cmd=%s target=%s result=%s", a->x->user, a->ip, cmd,
		 a->arg != NULL ? a->arg : "-", result != NULL ? "ok" : "error");
	if (result != NULL)
		console_reply_json(a->req, 200, result);
	else
		console_reply_error(a->req, 400, "%s", buf_str(&err));
	buf_free(&err);
}

/* ---- the handlers -------------------------------------------------------------------- */

static void api_session(struct api_call *a)
{
	console_reply_json(a->req, 200, console_session_json(a->acc, a->x));
}

static void api_logout(struct api_call *a)
{
	log_info("event=console_logout user=%s ip=%s", a->acc->name, a->ip);
	console_session_close(a->c->sessions, a->x->token);
	a->x = NULL;
	console_set_cookie(a->c, a->req, NULL);
	console_reply_json(a->req, 200, json_object());
}

static void api_plain(struct api_call *a)
{
	api_send(a, a->route->cmd, NULL);
}

/* Runs the route's command (args: taken) and answers its list without the entries whose
 * member `field` names a virtual server the account may not see. */
static void api_reply_visible(struct api_call *a, json_t *args, const char *field)
{
	struct buf err = BUF_INIT;
	json_t *list = api_run(a->c, a->route->cmd, args, &err);
	if (list == NULL) {
		console_reply_error(a->req, 400, "%s", buf_str(&err));
		buf_free(&err);
		return;
	}
	for (size_t i = json_array_size(list); i > 0; i--) {
		const char *name = json_string_value(json_object_get(json_array_get(list, i - 1), field));
		if (!console_may_see(a->acc, name))
			json_array_remove(list, i - 1);
	}
	console_reply_json(a->req, 200, list);
	buf_free(&err);
}

static void api_servers(struct api_call *a)
{
	api_reply_visible(a, NULL, "name");
}

/* The route's server exists and acc may see it (manage: act on it): true, or false with a reply. */
static bool api_server_allowed(struct api_call *a, bool manage)
{
	if (daemon_server(a->c->d, a->arg) == NULL) {
		console_reply_error(a->req, 404, "no virtual server named '%s'", a->arg);
		return false;
	}
	if (manage ? !console_may_manage(a->acc, a->arg) : !console_may_see(a->acc, a->arg)) {
		console_reply_error(a->req, 403, "%s is not one of your virtual servers", a->arg);
		return false;
	}
	return true;
}

static void api_server_show(struct api_call *a)
{
	if (api_server_allowed(a, false))
		api_send(a, a->route->cmd, json_pack("{s:s}", "name", a->arg));
}

static void api_server_action(struct api_call *a)
{
	if (api_server_allowed(a, true))
		api_act(a, a->route->cmd, json_pack("{s:s}", "name", a->arg));
}

/* The request body as a JSON object (a new reference), or NULL with a 400 sent. */
static json_t *api_body(struct api_call *a)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(a->req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *o = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, JSON_REJECT_DUPLICATES,
			       &jerr);
	if (!json_is_object(o)) {
		console_reply_error(a->req, 400, "the body must be a JSON object%s%s", o == NULL ? ": " : "",
				    o == NULL ? jerr.text : "");
		json_decref(o);
		return NULL;
	}
	return o;
}

static void api_settings(struct api_call *a)
{
	if (!api_server_allowed(a, true))
		return;
	json_t *body = api_body(a);
	if (body == NULL)
		return;
	json_t *settings = json_object_get(body, "settings");
	if (!json_is_object(settings)) {
		console_reply_error(a->req, 400, "the body must be {\"settings\": {KEY: \"value\" or null}}");
		json_decref(body);
		return;
	}
	api_act(a, a->route->cmd, json_pack("{s:s, s:O}", "server", a->arg, "settings", settings));
	json_decref(body);
}

static void api_queue(struct api_call *a)
{
	static const char *const filters[] = { "server", "state", "domain", "sender" };
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(a->req));
	/* the parser initialises q, even for "" */
	if (evhttp_parse_query_str(query != NULL ? query : "", &q) < 0) {
		evhttp_clear_headers(&q);
		console_reply_error(a->req, 400, "the query string cannot be parsed");
		return;
	}
	json_t *args = json_object();
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		const char *v = evhttp_find_header(&q, filters[i]);
		if (v != NULL && v[0] != '\0')
			json_object_set_new(args, filters[i], json_string(v));
	}
	evhttp_clear_headers(&q);
	const char *server = json_string_value(json_object_get(args, "server"));
	if (server != NULL && !console_may_see(a->acc, server)) {
		console_reply_error(a->req, 403, "%s is not one of your virtual servers", server);
		json_decref(args);
		return;
	}
	api_reply_visible(a, args, "server");
}

/* The route's message, as queue.show gives it (a new reference), when acc may see it; else NULL
 * with a 404 sent — another operator's message is answered as a missing one. */
static json_t *api_message_find(struct api_call *a)
{
	struct buf err = BUF_INIT;
	json_t *m = api_run(a->c, "queue.show", json_pack("{s:s}", "id", a->arg), &err);
	if (m != NULL && !console_may_see(a->acc, json_string_value(json_object_get(m, "server")))) {
		json_decref(m);
		m = NULL;
		buf_reset(&err);
	}
	if (m == NULL && err.len == 0)
		buf_printf(&err, "no message with ID '%s' in the queue", a->arg);
	if (m == NULL)
		console_reply_error(a->req, 404, "%s", buf_str(&err));
	buf_free(&err);
	return m;
}

static void api_message(struct api_call *a)
{
	json_t *m = api_message_find(a);
	if (m != NULL)
		console_reply_json(a->req, 200, m);
}

static void api_message_action(struct api_call *a)
{
	json_t *m = api_message_find(a);
	if (m == NULL)
		return;
	const char *server = json_string_value(json_object_get(m, "server"));
	bool may = console_may_manage(a->acc, server);
	json_decref(m);
	if (!may) {
		console_reply_error(a->req, 403, "your role may not act on this message");
		return;
	}
	api_act(a, a->route->cmd, json_pack("{s:s}", "id", a->arg));
}

/* stats, stats.history: {"servers": {NAME: ...}, ...}, an operator's own servers only. */
static void api_per_server(struct api_call *a)
{
	struct buf err = BUF_INIT;
	json_t *r = api_run(a->c, a->route->cmd, NULL, &err);
	if (r == NULL) {
		console_reply_error(a->req, 400, "%s", buf_str(&err));
		buf_free(&err);
		return;
	}
	json_t *servers = json_object_get(r, "servers");
	const char *name;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(servers, tmp, name, v) {
		if (!console_may_see(a->acc, name))
			json_object_del(servers, name);
	}
	console_reply_json(a->req, 200, r);
	buf_free(&err);
}

static void api_reload(struct api_call *a)
{
	if (a->acc->role != CONSOLE_ROLE_ADMIN) {
		console_reply_error(a->req, 403, "only an admin may reload the configuration");
		return;
	}
	api_act(a, a->route->cmd, NULL);
}

/* ---- routing and the checks every call goes through ---------------------------------- */

/* Splits the path below /api/ into at most API_SEGMENTS segments; -1 when it has more or an
 * empty one. */
static int api_split(const char *path, char seg[API_SEGMENTS][API_SEGMENT_MAX])
{
	int n = 0;
	const char *p = path;
	for (;;) {
		size_t len = strcspn(p, "/");
		if (len == 0 || len >= API_SEGMENT_MAX || n == API_SEGMENTS)
			return -1;
		memcpy(seg[n], p, len);
		seg[n][len] = '\0';
		n++;
		if (p[len] == '\0')
			return n;
		p += len + 1;
	}
}

/* True when the segments match pattern; *arg is set to the one '*' matched. */
static bool api_match(const char *pattern, char seg[API_SEGMENTS][API_SEGMENT_MAX], int n, const char **arg)
{
	int i = 0;
	const char *p = pattern;
	*arg = NULL;
	for (; i < n && *p != '\0'; i++) {
		size_t len = strcspn(p, "/");
		if (len == 1 && p[0] == '*')
			*arg = seg[i];
		else if (strlen(seg[i]) != len || strncmp(seg[i], p, len) != 0)
			return false;
		p += len + (p[len] == '/');
	}
	return i == n && *p == '\0';
}

/* The account of the request's live session, or NULL with a 401 sent. */
static bool api_authenticate(struct api_call *a)
{
	struct console *c = a->c;
	a->x = console_session_find(c->sessions, console_cookie(a->req), console_now());
	a->acc = a->x != NULL ? console_accounts_find(c->d->cfg->global.console_db, a->x->user) : NULL;
	if (a->acc != NULL && a->acc->hash != NULL)
		return true;
	if (a->x != NULL) {
		/* the account was removed or disabled at a reload: its sessions end */
		console_session_close(c->sessions, a->x->token);
		a->x = NULL;
	}
	console_reply_error(a->req, 401, "not logged in (or the session ended): log in again");
	return false;
}

void console_api(struct console *c, struct evhttp_request *req, const char *path)
{
	struct api_call a = { .c = c, .req = req };
	console_peer(req, a.ip, sizeof(a.ip));
	if (!api_authenticate(&a))
		return;
	char seg[API_SEGMENTS][API_SEGMENT_MAX];
	int n = strncmp(path, "/api/", 5) == 0 ? api_split(path + 5, seg) : -1;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const char *allow = NULL;
	for (size_t i = 0; n > 0 && i < API_NROUTES && a.route == NULL; i++) {
		const char *arg;
		if (!api_match(api_routes[i].pattern, seg, n, &arg))
			continue;
		if (api_routes[i].method == method) {
			a.route = &api_routes[i];
			a.arg = arg;
		} else {
			allow = api_routes[i].method == EVHTTP_REQ_GET ? "GET" : "POST";
		}
	}
	if (a.route == NULL && allow != NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
		console_reply_error(req, 405, "%s takes %s", path, allow);
		return;
	}
	if (a.route == NULL) {
		console_reply_error(req, 404, "no such API call: %s", path);
		return;
	}
	if (method == EVHTTP_REQ_POST) {
		if (!console_origin_ok(c, req)) {
			console_reply_error(req, 403, "the request comes from another site (Origin)");
			return;
		}
		const char *token = evhttp_find_header(evhttp_request_get_input_headers(req), "X-CSRF-Token");
		if (!console_csrf_ok(a.x, token)) {
			console_reply_error(req, 403, "missing or wrong X-CSRF-Token: reload the page");
			return;
		}
		if (a.acc->role == CONSOLE_ROLE_READONLY && a.route->fn != api_logout) {
			console_reply_error(req, 403, "a read-only account changes nothing");
			return;
		}
	}
	a.route->fn(&a);
}
