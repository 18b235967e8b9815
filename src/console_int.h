/*
 * console_int.h — what the console's files share (private to console*.c).
 *
 * console.c owns the HTTP server and the replies (every response carries
 * the security headers), console_login.c the login (its password check
 * runs on a thread of its own), console_api.c the API routes and the role
 * checks, and the generated $(BUILD)/gen/console_assets.c the files of
 * www/. Everything here runs on the main thread.
 */
#ifndef VSMTPD_CONSOLE_INT_H
#define VSMTPD_CONSOLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "console.h"
#include "console_auth.h"
#include "lib/callq.h"

#define CONSOLE_COOKIE "vsmtpd_session"
#define CONSOLE_LOGINS_MAX 16		/* password checks running at once */
#define CONSOLE_PASSWORD_MAX 1024	/* longer passwords are refused, not hashed */

/* One file of www/, compiled in by scripts/embed-assets.py. */
struct console_asset {
	const char *path;		/* "/index.html" */
	const char *type;		/* its Content-Type */
	const unsigned char *data;
	size_t len;
};

/* Every file of www/; the last entry has a NULL path. */
extern const struct console_asset console_assets[];

struct console_login;

struct console {
	struct daemon *d;
	struct evhttp *http;
	SSL_CTX *tls_ctx;		/* our reference on the snapshot's; NULL: plain HTTP */
	struct console_sessions *sessions;
	struct console_throttle *throttle;
	struct callq *done;		/* password checks report here */
	struct console_login *logins;	/* checks running */
	unsigned nlogins;
};

/* Seconds of a clock that never goes back (sessions and the throttle measure with it). */
time_t console_now(void);

/* The client's address as text ("127.0.0.1", "::1"), into ip[0..size). */
void console_peer(struct evhttp_request *req, char *ip, size_t size);

/* The session token of the request's Cookie header (borrowed from it), or NULL. */
const char *console_cookie(struct evhttp_request *req);

/* True when the request has no Origin header, or one naming the console itself (the scheme it
 * serves and the request's Host). */
bool console_origin_ok(const struct console *c, struct evhttp_request *req);

/* Sends the reply with the security headers of docs/CONSOLE.md. body is copied. */
void console_reply(struct evhttp_request *req, int code, const char *type, const void *body, size_t len);

/* Sends body (a reference taken) as JSON. */
void console_reply_json(struct evhttp_request *req, int code, json_t *body);

/* Sends {"error": sentence}. */
void console_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The Set-Cookie header that opens (token) or ends (NULL) the session cookie. */
void console_set_cookie(const struct console *c, struct evhttp_request *req, const char *token);

/* {"user", "role", "servers", "csrf"} for a session of acc. */
json_t *console_session_json(const struct console_account *acc, const struct console_session *x);

/* console_login.c: POST /api/login; and, at close, waiting for the checks in progress. */
void console_login(struct console *c, struct evhttp_request *req);
void console_login_drain(struct console *c);

/* console_api.c: every other path under /api/. */
void console_api(struct console *c, struct evhttp_request *req, const char *path);

#endif
