/*
 * console.c — the web console's HTTP server: listeners, TLS, the front
 * end's files, security headers, and the hand-off to the API (console.h).
 *
 * Owns the evhttp server on the main thread's event_base, its listening
 * sockets, the session table and the login throttle (console_auth.h).
 * Handlers run on the main thread, so the API calls control_execute()
 * directly, without locks; only the login's password check leaves it
 * (console_login.c). With a console TLS context every connection is a
 * bufferevent_openssl from its first byte: HTTPS only, never both.
 * evhttp enforces the limits: a body of at most CONSOLE_BODY_MAX, headers
 * of at most CONSOLE_HEADERS_MAX, CONSOLE_TIMEOUT seconds of silence.
 *
 * Invariants: every reply it sends carries Cache-Control: no-store,
 * nosniff, X-Frame-Options: DENY and a Content-Security-Policy that allows
 * only the console's own files; static files are looked up in the table
 * compiled from www/, never on disk, so no path can reach outside it.
 * Errors: console_open() fails with a sentence (an address that cannot be
 * bound); a request gets its status and {"error": sentence}.
 * RFC 9110 (HTTP semantics), RFC 6265 (cookies), RFC 6454 (Origin).
 */
#include "console_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>

#include "http_listen.h"
#include "lib/xalloc.h"
#include "log.h"

#define CONSOLE_BODY_MAX (1 << 20)	/* a settings change is a few hundred bytes */
#define CONSOLE_HEADERS_MAX (16 * 1024)
#define CONSOLE_TIMEOUT 60		/* seconds a connection may stay silent */
#define CONSOLE_CSP                                                                               \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "            \
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "                 \
	"frame-ancestors 'none'"

time_t console_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void console_peer(struct evhttp_request *req, char *ip, size_t size)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;
	if (conn != NULL)
		evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(ip, size, "%s", addr != NULL ? addr : "unknown");
}

const char *console_cookie(struct evhttp_request *req)
{
	static char token[CONSOLE_TOKEN_HEX + 1];
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
	size_t nlen = strlen(CONSOLE_COOKIE);
	while (h != NULL && *h != '\0') {
		h += strspn(h, " \t");
		size_t len = strcspn(h, ";");
		if (len > nlen && strncmp(h, CONSOLE_COOKIE, nlen) == 0 && h[nlen] == '=') {
			size_t vlen = len - nlen - 1;
			while (vlen > 0 && (h[nlen + 1 + vlen - 1] == ' ' || h[nlen + 1 + vlen - 1] == '\t'))
				vlen--;
			if (vlen != CONSOLE_TOKEN_HEX)
				return NULL;
			memcpy(token, h + nlen + 1, vlen);
			token[vlen] = '\0';
			return token;
		}
		h += len + (h[len] == ';');
	}
	return NULL;
}

bool console_origin_ok(const struct console *c, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *origin = evhttp_find_header(in, "Origin");
	if (origin == NULL)
		return true;
	const char *host = evhttp_find_header(in, "Host");
	if (host == NULL)
		return false;
	const char *scheme = c->tls_ctx != NULL ? "https://" : "http://";
	size_t slen = strlen(scheme);
	/* scheme and host name are case-insensitive (RFC 6454 4) */
	return strncasecmp(origin, scheme, slen) == 0 && strcasecmp(origin + slen, host) == 0;
}

static const char *reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

static void security_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Content-Security-Policy", CONSOLE_CSP);
}

void console_reply(struct evhttp_request *req, int code, const char *type, const void *body, size_t len)
{
	security_headers(req, type);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, reason(code), out);
	evbuffer_free(out);
}

void console_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	json_decref(body);
	if (text == NULL)
		text = xstrdup("{\"error\":\"the reply could not be encoded\"}");
	console_reply(req, code, "application/json", text, strlen(text));
	free(text);
}

void console_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	console_reply_json(req, code, json_pack("{s:s}", "error", buf_str(&b)));
	buf_free(&b);
}

void console_set_cookie(const struct console *c, struct evhttp_request *req, const char *token)
{
	char cookie[256];
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", CONSOLE_COOKIE,
		 token != NULL ? token : "", c->tls_ctx != NULL ? "; Secure" : "",
		 token != NULL ? "" : "; Max-Age=0");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
}

json_t *console_session_json(const struct console_account *acc, const struct console_session *x)
{
	json_t *servers = json_null();
	if (acc->role == CONSOLE_ROLE_OPERATOR) {
		servers = json_array();
		for (size_t i = 0; i < acc->nservers; i++)
			json_array_append_new(servers, json_string(acc->servers[i]));
	}
	return json_pack("{s:s, s:s, s:o, s:s}", "user", acc->name, "role", console_role_name(acc->role),
			 "servers", servers, "csrf", x->csrf);
}

/* A file of the front end: GET or HEAD; "/" is /index.html. */
static void console_static(struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	const struct console_asset *a = console_assets;
	while (a->path != NULL && strcmp(a->path, path) != 0)
		a++;
	if (a->path == NULL) {
		console_reply_error(req, 404, "no such page");
		return;
	}
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		console_reply_error(req, 405, "a page takes GET only");
		return;
	}
	security_headers(req, a->type);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_reference(out, a->data, a->len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void console_request(struct evhttp_request *req, void *arg)
{
	struct console *c = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL || path[0] != '/') {
		console_reply_error(req, 400, "the request target must be a path");
		return;
	}
	if (strcmp(path, "/api/login") == 0)
		console_login(c, req);
	else if (strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0)
		console_api(c, req, path);
	else
		console_static(req, path);
}

/* Every connection speaks TLS from its first byte (evhttp sets the socket afterwards). */
static struct bufferevent *console_tls_bev(struct event_base *base, void *arg)
{
	struct console *c = arg;
	SSL *ssl = SSL_new(c->tls_ctx);
	struct bufferevent *bev = ssl != NULL ? bufferevent_openssl_socket_new(base, -1, ssl,
						BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
					      : NULL;
	/* No fallback: evhttp would serve plain HTTP on a NULL. Out of memory is fatal anyway. */
	if (bev == NULL)
		log_fatal("event=fatal reason=\"console: cannot set up a TLS connection\"");
	/* browsers often close without a TLS close_notify: not an error */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static int console_listen(struct console *c, const struct config_listen *cl, char *err, size_t errsize)
{
	if (http_listen(c->http, cl, "console", err, errsize) < 0)
		return -1;
	log_info("event=console_listen address=%s tls=%s", cl->text, c->tls_ctx != NULL ? "yes" : "no");
	return 0;
}

struct console *console_open(struct daemon *d, char *err, size_t errsize)
{
	const struct config_global *g = &d->cfg->global;
	err[0] = '\0';
	if (g->nconsole == 0)
		return NULL;
	struct console *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->http = evhttp_new(d->base);
	if (c->http == NULL) {
		snprintf(err, errsize, "console: cannot create the HTTP server");
		free(c);
		return NULL;
	}
	c->sessions = console_sessions_new(0);
	c->throttle = console_throttle_new(0);
	c->done = callq_new(d->base);
	if (g->console_tls_ctx != NULL) {
		SSL_CTX_up_ref(g->console_tls_ctx);
		c->tls_ctx = g->console_tls_ctx;
		evhttp_set_bevcb(c->http, console_tls_bev, c);
	}
	evhttp_set_gencb(c->http, console_request, c);
	/* every method reaches console_request(), which answers 405 with the JSON error */
	evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(c->http, CONSOLE_BODY_MAX);
	evhttp_set_max_headers_size(c->http, CONSOLE_HEADERS_MAX);
	evhttp_set_timeout(c->http, CONSOLE_TIMEOUT);
	for (size_t i = 0; i < g->nconsole; i++) {
		if (console_listen(c, &g->console[i], err, errsize) < 0) {
			console_close(c);
			return NULL;
		}
	}
	return c;
}

void console_close(struct console *c)
{
	if (c == NULL)
		return;
	console_login_drain(c);
	evhttp_free(c->http);
	callq_free(c->done);
	console_sessions_free(c->sessions);
	console_throttle_free(c->throttle);
	SSL_CTX_free(c->tls_ctx);
	free(c);
}
