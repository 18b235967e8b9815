/*
 * console_login.c — POST /api/login: the throttle, the password check on a
 * thread of its own, the session and its cookie.
 *
 * crypt(3) takes tens of milliseconds by design, too long for the main
 * thread that serves every connection, control command and queue timer.
 * So a login checks the throttle (console_auth.h) on the main thread,
 * hands the name and password to a short-lived thread, and finishes the
 * request when the answer comes back through c->done (evhttp lets a reply
 * wait; if the client went meanwhile, sending frees the request). At most
 * CONSOLE_LOGINS_MAX checks run at once. The thread holds a reference on
 * the config snapshot whose accounts it reads, so a reload meanwhile frees
 * nothing under it; the session is opened only if the account is still in
 * the config of that moment.
 *
 * Invariants: the password is wiped from memory once checked; every
 * attempt is logged (event=console_login or console_login_failed, with the
 * user name made printable), a throttled one too. The login's POST is
 * refused like any other from a foreign Origin, and must be JSON, which a
 * form on another site cannot send.
 */
#include "console_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "lib/xalloc.h"
#include "log.h"

struct console_login {
	struct console *c;
	struct evhttp_request *req;
	struct config *cfg;		/* a reference: its accounts are being read */
	pthread_t thread;
	bool ok;
	char ip[64];
	char old[CONSOLE_TOKEN_HEX + 1];	/* the session the client had, ended by a new login */
	char user[CONSOLE_USER_MAX + 2];	/* one more: a longer name is no account's */
	char password[CONSOLE_PASSWORD_MAX + 1];
	struct console_login *prev, *next;
};

/* name made safe for a log line, where it stands unquoted: printable ASCII without blanks,
 * quotes or backslashes (others become '?'), at most 64 octets. */
static void log_name(const char *name, char *out, size_t size)
{
	size_t i = 0;
	for (; name[i] != '\0' && i + 1 < size && i < 64; i++) {
		unsigned char ch = (unsigned char)name[i];
		out[i] = ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
	}
	out[i] = '\0';
}

static void login_unlink(struct console_login *l)
{
	struct console *c = l->c;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		c->logins = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	c->nlogins--;
}

static void login_free(struct console_login *l)
{
	explicit_bzero(l->password, sizeof(l->password));
	config_unref(l->cfg);
	free(l);
}

/* Main thread: the check is over. */
static void login_done(void *arg)
{
	struct console_login *l = arg;
	struct console *c = l->c;
	pthread_join(l->thread, NULL);
	login_unlink(l);
	time_t now = console_now();
	char name[80];
	log_name(l->user, name, sizeof(name));
	const struct console_account *acc =
		l->ok ? console_accounts_find(c->d->cfg->global.console_db, l->user) : NULL;
	const struct console_session *x = acc != NULL && acc->hash != NULL
						  ? console_session_open(c->sessions, l->user, now)
						  : NULL;
	console_throttle_end(c->throttle, l->ip, l->ok, now);
	if (x != NULL) {
		if (l->old[0] != '\0')
			console_session_close(c->sessions, l->old);
		log_info("event=console_login user=%s ip=%s role=%s", name, l->ip,
			 console_role_name(acc->role));
		console_set_cookie(c, l->req, x->token);
		console_reply_json(l->req, 200, console_session_json(acc, x));
	} else if (l->ok) {
		/* the account went at a reload, or no randomness could be had */
		log_warn("event=console_login_failed user=%s ip=%s reason=%s", name, l->ip,
			 acc == NULL || acc->hash == NULL ? "account_removed" : "no_random");
		console_reply_error(l->req, 503, "the session could not be opened: try again");
	} else {
		log_info("event=console_login_failed user=%s ip=%s reason=password", name, l->ip);
		console_reply_error(l->req, 401, "wrong user name or password");
	}
	login_free(l);
}

static void *login_thread(void *arg)
{
	struct console_login *l = arg;
	l->ok = console_accounts_check(l->cfg->global.console_db, l->user, l->password);
	explicit_bzero(l->password, sizeof(l->password));
	callq_post(l->c->done, login_done, l);
	return NULL;
}

/* The body as {"user": string, "password": string}: 0, or -1 with a reply sent. */
static int login_parse(struct evhttp_request *req, struct console_login *l)
{
	const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
	    (type[16] != '\0' && type[16] != ';' && type[16] != ' ')) {
		console_reply_error(req, 400, "login takes a JSON body (Content-Type: application/json)");
		return -1;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *o = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, JSON_REJECT_DUPLICATES,
			       &jerr);
	const char *user = json_string_value(json_object_get(o, "user"));
	const char *password = json_string_value(json_object_get(o, "password"));
	int rc = -1;
	if (user == NULL || password == NULL)
		console_reply_error(req, 400, "login takes {\"user\": \"...\", \"password\": \"...\"}");
	else if (strlen(password) > CONSOLE_PASSWORD_MAX)
		console_reply_error(req, 400, "the password is longer than %d octets", CONSOLE_PASSWORD_MAX);
	else
		rc = 0;
	if (rc == 0) {
		/* a name too long for an account is cut one past the limit: still no account's */
		snprintf(l->user, sizeof(l->user), "%s", user);
		snprintf(l->password, sizeof(l->password), "%s", password);
	}
	if (password != NULL)
		explicit_bzero((char *)password, strlen(password));
	evbuffer_drain(in, len);
	json_decref(o);
	return rc;
}

void console_login(struct console *c, struct evhttp_request *req)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
		console_reply_error(req, 405, "login takes POST");
		return;
	}
	if (!console_origin_ok(c, req)) {
		console_reply_error(req, 403, "the request comes from another site (Origin)");
		return;
	}
	struct console_login *l = xcalloc(1, sizeof(*l));
	l->c = c;
	l->req = req;
	console_peer(req, l->ip, sizeof(l->ip));
	if (login_parse(req, l) < 0) {
		free(l);
		return;
	}
	char name[80];
	log_name(l->user, name, sizeof(name));
	if (c->d->cfg->global.console_db == NULL || c->nlogins >= CONSOLE_LOGINS_MAX) {
		/* no accounts: a reload took console_users away; or too many checks at once */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		console_reply_error(req, 503, "logins cannot be checked now: try again");
		login_free(l);
		return;
	}
	unsigned wait = console_throttle_begin(c->throttle, l->ip, console_now());
	if (wait > 0) {
		log_info("event=console_login_failed user=%s ip=%s reason=throttled retry_after=%u", name,
			 l->ip, wait);
		char text[16];
		snprintf(text, sizeof(text), "%u", wait);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", text);
		console_reply_error(req, 429, "too many failed logins from your address: try again in %u "
			  "seconds", wait);
		login_free(l);
		return;
	}
	const char *old = console_cookie(req);
	if (old != NULL)
		snprintf(l->old, sizeof(l->old), "%s", old);
	l->cfg = config_ref(c->d->cfg);
	l->next = c->logins;
	if (c->logins != NULL)
		c->logins->prev = l;
	c->logins = l;
	c->nlogins++;
	if (pthread_create(&l->thread, NULL, login_thread, l) != 0) {
		login_unlink(l);
		console_throttle_cancel(c->throttle, l->ip);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		console_reply_error(req, 503, "logins cannot be checked now: try again");
		login_free(l);
	}
}

void console_login_drain(struct console *c)
{
	/* the threads post to c->done, freed next: wait for each; their requests go with evhttp */
	for (struct console_login *l = c->logins, *next; l != NULL; l = next) {
		next = l->next;
		pthread_join(l->thread, NULL);
		login_free(l);
	}
	c->logins = NULL;
	c->nlogins = 0;
}
