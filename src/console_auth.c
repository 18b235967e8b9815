/*
 * console_auth.c — the web console's accounts file, roles, sessions and
 * failed-login throttle (see console_auth.h).
 *
 * Owns: struct console_accounts (sorted accounts, immutable once loaded,
 * owned by a config snapshot), struct console_sessions (a bounded table of
 * open sessions) and struct console_throttle (a bounded table of client
 * addresses). It does not read the clock, talk HTTP or log: console.c and
 * console_login.c do, on the main thread, which owns the two tables.
 *
 * Invariants: a session token is only ever compared in constant time, and
 * with every open session's, so neither timing nor the order of the table
 * says how much of a guess was right; tokens come from getrandom(2) and are
 * never derived from each other; a session outlives neither
 * CONSOLE_SESSION_IDLE without use nor CONSOLE_SESSION_LIFETIME; both
 * tables stay within their bounds. Password hashes are checked with
 * auth.c's rules and its constant-time crypt(3) comparison, and never
 * appear in a message.
 * Errors: console_accounts_load() returns -1 with "path:line: message"
 * lines; the rest cannot fail but for randomness (NULL), OOM being fatal.
 */
#include "console_auth.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "lib/xalloc.h"

_Static_assert(CONSOLE_USER_MAX == AUTH_USER_MAX, "console accounts are named as auth_users ones");

struct console_accounts {
	struct console_account *v;	/* sorted by name */
	size_t n;
	char *dummy;			/* hash checked for unknown and disabled names */
};

/* ---- the accounts file ------------------------------------------------- */

struct acc_load {
	const char *path;
	char *const *servers;
	size_t nservers;
	struct console_account *v;
	size_t n, cap;
	struct buf *errors;
	bool bad;
};

static void acc_error(struct acc_load *l, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void acc_error(struct acc_load *l, int line, const char *fmt, ...)
{
	va_list ap;
	buf_printf(l->errors, "%s:%d: ", l->path, line);
	va_start(ap, fmt);
	buf_vprintf(l->errors, fmt, ap);
	va_end(ap);
	buf_append_char(l->errors, '\n');
	l->bad = true;
}

static void account_clear(struct console_account *a)
{
	free(a->name);
	if (a->hash != NULL)
		explicit_bzero(a->hash, strlen(a->hash));
	free(a->hash);
	for (size_t i = 0; i < a->nservers; i++)
		free(a->servers[i]);
	free(a->servers);
}

static bool server_known(const struct acc_load *l, const char *name, size_t len)
{
	for (size_t i = 0; i < l->nservers; i++)
		if (strlen(l->servers[i]) == len && memcmp(l->servers[i], name, len) == 0)
			return true;
	return false;
}

/* "admin", "readonly", "operator=S1,S2": 0 with a's role and servers set, or -1 (reported). */
static int role_parse(struct acc_load *l, int line, const char *role, struct console_account *a)
{
	if (strcmp(role, "admin") == 0) {
		a->role = CONSOLE_ROLE_ADMIN;
		return 0;
	}
	if (strcmp(role, "readonly") == 0) {
		a->role = CONSOLE_ROLE_READONLY;
		return 0;
	}
	if (strncmp(role, "operator=", 9) != 0) {
		acc_error(l, line, "user '%s': unknown role; expected admin, readonly or "
			  "operator=SERVER[,SERVER...]", a->name);
		return -1;
	}
	a->role = CONSOLE_ROLE_OPERATOR;
	const char *p = role + 9;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0) {
			acc_error(l, line, "user '%s': operator= needs a list of virtual servers, "
				  "separated by ',' (an empty name is in it)", a->name);
			return -1;
		}
		if (!server_known(l, p, len)) {
			acc_error(l, line, "user '%s': operator of '%.*s', which is no [server] of "
				  "the config", a->name, (int)len, p);
			return -1;
		}
		for (size_t i = 0; i < a->nservers; i++) {
			if (strlen(a->servers[i]) == len && memcmp(a->servers[i], p, len) == 0) {
				acc_error(l, line, "user '%s': server '%.*s' is listed twice", a->name,
					  (int)len, p);
				return -1;
			}
		}
		a->servers = xrealloc(a->servers, (a->nservers + 1) * sizeof(*a->servers));
		a->servers[a->nservers++] = xstrndup(p, len);
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

/* A line: the file's conventions (comments, blanks, limits) and name rules are auth_users'. */
static void acc_line(void *arg, char *text, size_t len, int lineno)
{
	struct acc_load *l = arg;
	const char *why;
	char *line = auth_secret_entry(text, len, &why);
	if (line == NULL) {
		if (why != NULL)
			acc_error(l, lineno, "%s", why);
		return;
	}
	char *hash = strchr(line, ':');
	char *role = hash != NULL ? strchr(hash + 1, ':') : NULL;
	if (role == NULL) {
		acc_error(l, lineno, "expected name:crypt-hash:role (role: admin, readonly or "
			  "operator=SERVER[,SERVER...])");
		return;
	}
	*hash++ = '\0';
	*role++ = '\0';
	if ((why = auth_name_problem(line)) != NULL) {
		acc_error(l, lineno, "%s", why);
		return;
	}
	bool disabled = hash[0] == '\0' || hash[0] == '*' || hash[0] == '!';
	why = disabled ? NULL : auth_hash_problem(hash);
	if (why != NULL) {
		acc_error(l, lineno, "user '%s': %s", line, why);
		return;
	}
	struct console_account a = { .name = xstrdup(line), .line = lineno };
	if (role_parse(l, lineno, role, &a) < 0) {
		account_clear(&a);
		return;
	}
	/* a linear search keeps the errors in line order; a file holds a few dozen accounts */
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].name, a.name) == 0) {
			acc_error(l, lineno, "duplicate user '%s' (first on line %d)", a.name, l->v[i].line);
			account_clear(&a);
			return;
		}
	}
	a.hash = disabled ? NULL : xstrdup(hash);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = a;
}

static int account_cmp(const void *x, const void *y)
{
	return strcmp(((const struct console_account *)x)->name, ((const struct console_account *)y)->name);
}

int console_accounts_load(const char *path, char *const *server_names, size_t nserver_names,
			  struct console_accounts **out, struct buf *errors)
{
	*out = NULL;
	FILE *f = auth_secret_open(path, "console users file", errors);
	if (f == NULL)
		return -1;
	struct acc_load l = { .path = path, .servers = server_names, .nservers = nserver_names,
			      .errors = errors };
	int bad = auth_secret_lines(f, acc_line, &l);
	if (bad > 0)
		acc_error(&l, bad, "read error: %s", strerror(errno));
	fclose(f);

	if (!l.bad && l.n == 0) {
		buf_printf(errors, "%s: no account in the console users file: add name:crypt-hash:admin\n",
			   path);
		l.bad = true;
	}
	if (l.bad) {
		for (size_t i = 0; i < l.n; i++)
			account_clear(&l.v[i]);
		free(l.v);
		return -1;
	}
	qsort(l.v, l.n, sizeof(*l.v), account_cmp);
	struct console_accounts *a = xcalloc(1, sizeof(*a));
	a->v = l.v;
	a->n = l.n;
	/* The first file line with a hash: unknown names then cost what known ones cost. */
	const struct console_account *first = NULL;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].hash != NULL && (first == NULL || a->v[i].line < first->line))
			first = &a->v[i];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (first != NULL)
		a->dummy = xstrdup(first->hash);
	else if (crypt_gensalt_rn(NULL, 0, NULL, 0, setting, sizeof(setting)) != NULL)
		a->dummy = xstrdup(setting);
	else
		a->dummy = xstrdup("$6$vsmtpd.dummy$");
	*out = a;
	return 0;
}

void console_accounts_free(struct console_accounts *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		account_clear(&a->v[i]);
	free(a->v);
	free(a->dummy);
	free(a);
}

static int account_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct console_account *)elem)->name);
}

const struct console_account *console_accounts_find(const struct console_accounts *a, const char *name)
{
	if (a == NULL || name == NULL || a->n == 0)
		return NULL;
	return bsearch(name, a->v, a->n, sizeof(*a->v), account_key_cmp);
}

bool console_accounts_check(const struct console_accounts *a, const char *name, const char *password)
{
	if (a == NULL || name == NULL || password == NULL)
		return false;
	const struct console_account *acc = console_accounts_find(a, name);
	bool usable = acc != NULL && acc->hash != NULL && password[0] != '\0';
	bool match = auth_hash_verify(password, usable ? acc->hash : a->dummy);
	return usable && match;
}

const char *console_role_name(enum console_role role)
{
	switch (role) {
	case CONSOLE_ROLE_ADMIN:
		return "admin";
	case CONSOLE_ROLE_OPERATOR:
		return "operator";
	case CONSOLE_ROLE_READONLY:
		return "readonly";
	}
	return "?";
}

static bool operator_of(const struct console_account *acc, const char *server)
{
	for (size_t i = 0; i < acc->nservers; i++)
		if (strcmp(acc->servers[i], server) == 0)
			return true;
	return false;
}

bool console_may_manage(const struct console_account *acc, const char *server)
{
	switch (acc->role) {
	case CONSOLE_ROLE_ADMIN:
		return true;
	case CONSOLE_ROLE_OPERATOR:
		return server != NULL && operator_of(acc, server);
	case CONSOLE_ROLE_READONLY:
		return false;
	}
	return false;
}

bool console_may_see(const struct console_account *acc, const char *server)
{
	return acc->role != CONSOLE_ROLE_OPERATOR || (server != NULL && operator_of(acc, server));
}

/* ---- sessions ------------------------------------------------------------ */

struct console_sessions {
	struct console_session *v;	/* v[0..n) open, in no order */
	size_t n, max;
};

/* Equal buffers of len bytes, in time that depends on len only. */
static bool equal_consttime(const char *a, const char *b, size_t len)
{
	volatile unsigned char diff = 0;
	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* out[0..CONSOLE_TOKEN_HEX] <- hex of CONSOLE_TOKEN_BYTES random bytes; -1 without randomness. */
static int token_new(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[CONSOLE_TOKEN_BYTES];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[CONSOLE_TOKEN_HEX] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

static bool token_shaped(const char *t)
{
	return t != NULL && strlen(t) == CONSOLE_TOKEN_HEX &&
	       strspn(t, "0123456789abcdef") == CONSOLE_TOKEN_HEX;
}

struct console_sessions *console_sessions_new(size_t max)
{
	struct console_sessions *s = xcalloc(1, sizeof(*s));
	s->max = max > 0 ? max : CONSOLE_SESSIONS_MAX;
	s->v = xcalloc(s->max, sizeof(*s->v));
	return s;
}

void console_sessions_free(struct console_sessions *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s->v, s->max * sizeof(*s->v));
	free(s->v);
	free(s);
}

static void session_remove(struct console_sessions *s, size_t i)
{
	s->v[i] = s->v[--s->n];
	explicit_bzero(&s->v[s->n], sizeof(s->v[s->n]));
}

const struct console_session *console_session_open(struct console_sessions *s, const char *user,
						   time_t now)
{
	struct console_session x = { .created = now, .used = now };
	if (token_new(x.token) < 0 || token_new(x.csrf) < 0)
		return NULL;
	snprintf(x.user, sizeof(x.user), "%s", user);
	if (s->n == s->max) {
		size_t lru = 0;
		for (size_t i = 1; i < s->n; i++)
			if (s->v[i].used < s->v[lru].used)
				lru = i;
		session_remove(s, lru);
	}
	s->v[s->n] = x;
	explicit_bzero(&x, sizeof(x));
	return &s->v[s->n++];
}

static bool session_expired(const struct console_session *x, time_t now)
{
	return now - x->used >= CONSOLE_SESSION_IDLE || now - x->created >= CONSOLE_SESSION_LIFETIME;
}

/* The index of the session with token, or s->n; every open session is compared, in full. */
static size_t session_index(const struct console_sessions *s, const char *token)
{
	size_t found = s->n;
	if (!token_shaped(token))
		return found;
	for (size_t i = 0; i < s->n; i++)
		if (equal_consttime(s->v[i].token, token, CONSOLE_TOKEN_HEX))
			found = i;
	return found;
}

const struct console_session *console_session_find(struct console_sessions *s, const char *token,
						   time_t now)
{
	size_t i = session_index(s, token);
	if (i == s->n)
		return NULL;
	if (session_expired(&s->v[i], now)) {
		session_remove(s, i);
		return NULL;
	}
	s->v[i].used = now;
	return &s->v[i];
}

void console_session_close(struct console_sessions *s, const char *token)
{
	size_t i = session_index(s, token);
	if (i < s->n)
		session_remove(s, i);
}

size_t console_sessions_count(const struct console_sessions *s)
{
	return s->n;
}

bool console_csrf_ok(const struct console_session *x, const char *header)
{
	return token_shaped(header) && equal_consttime(x->csrf, header, CONSOLE_TOKEN_HEX);
}

/* ---- login throttle ------------------------------------------------------ */

/* An address as the throttle counts it: "4:a.b.c.d", "6:" and the /64, or "t:" and the text. */
#define THROTTLE_KEY_MAX 80

struct throttle_entry {
	char key[THROTTLE_KEY_MAX];
	time_t fails[CONSOLE_THROTTLE_FAILURES];	/* the latest failures, a ring */
	unsigned nfails;	/* counted (at most CONSOLE_THROTTLE_FAILURES kept) */
	unsigned next;		/* where the next failure goes in the ring */
	time_t last;		/* the latest failure */
	bool checking;		/* a password check is running */
};

struct console_throttle {
	struct throttle_entry *v;
	size_t n, max;
};

static void throttle_key(const char *ip, char *key)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(key, THROTTLE_KEY_MAX, "4:%s", ip);
		return;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			inet_ntop(AF_INET, a + 12, text, sizeof(text));
			snprintf(key, THROTTLE_KEY_MAX, "4:%s", text);
			return;
		}
		/* one host commonly holds a whole /64 */
		memset(a + 8, 0, 8);
		inet_ntop(AF_INET6, a, text, sizeof(text));
		snprintf(key, THROTTLE_KEY_MAX, "6:%s", text);
		return;
	}
	snprintf(key, THROTTLE_KEY_MAX, "t:%s", ip);
}

struct console_throttle *console_throttle_new(size_t max)
{
	struct console_throttle *t = xcalloc(1, sizeof(*t));
	t->max = max > 0 ? max : CONSOLE_THROTTLE_ENTRIES;
	t->v = xcalloc(t->max, sizeof(*t->v));
	return t;
}

void console_throttle_free(struct console_throttle *t)
{
	if (t == NULL)
		return;
	free(t->v);
	free(t);
}

/* An entry that no longer matters: no check running, and its failures all out of the window. */
static bool throttle_stale(const struct throttle_entry *e, time_t now)
{
	return !e->checking && (e->nfails == 0 || now - e->last >= CONSOLE_THROTTLE_WINDOW);
}

static void throttle_remove(struct console_throttle *t, size_t i)
{
	t->v[i] = t->v[--t->n];
}

/* The entry of key, or NULL; stale entries met on the way are dropped. */
static struct throttle_entry *throttle_find(struct console_throttle *t, const char *key, time_t now)
{
	for (size_t i = 0; i < t->n;) {
		if (throttle_stale(&t->v[i], now)) {
			throttle_remove(t, i);
			continue;
		}
		if (strcmp(t->v[i].key, key) == 0)
			return &t->v[i];
		i++;
	}
	return NULL;
}

/* Seconds left of the block on e at now, or 0. */
static unsigned throttle_blocked(const struct throttle_entry *e, time_t now)
{
	if (e->nfails < CONSOLE_THROTTLE_FAILURES)
		return 0;
	/* the ring's next slot holds the oldest of the last CONSOLE_THROTTLE_FAILURES failures */
	time_t oldest = e->fails[e->next];
	if (e->last - oldest >= CONSOLE_THROTTLE_WINDOW || now - e->last >= CONSOLE_THROTTLE_WINDOW)
		return 0;
	return (unsigned)(e->last + CONSOLE_THROTTLE_WINDOW - now);
}

unsigned console_throttle_begin(struct console_throttle *t, const char *ip, time_t now)
{
	char key[THROTTLE_KEY_MAX];
	throttle_key(ip, key);
	struct throttle_entry *e = throttle_find(t, key, now);
	if (e != NULL && e->checking)
		return 1;
	if (e != NULL) {
		unsigned wait = throttle_blocked(e, now);
		if (wait > 0)
			return wait;
	} else {
		if (t->n == t->max) {
			/* full of live entries: forget the one whose last failure is oldest */
			size_t old = t->n;
			for (size_t i = 0; i < t->n; i++)
				if (!t->v[i].checking && (old == t->n || t->v[i].last < t->v[old].last))
					old = i;
			if (old == t->n)
				return 1;	/* every entry has a check running */
			throttle_remove(t, old);
		}
		e = &t->v[t->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
	}
	e->checking = true;
	return 0;
}

/* The entry of ip with a check running, or NULL. */
static struct throttle_entry *throttle_checking(struct console_throttle *t, const char *ip)
{
	char key[THROTTLE_KEY_MAX];
	throttle_key(ip, key);
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].checking && strcmp(t->v[i].key, key) == 0)
			return &t->v[i];
	return NULL;
}

void console_throttle_cancel(struct console_throttle *t, const char *ip)
{
	struct throttle_entry *e = throttle_checking(t, ip);
	if (e != NULL)
		e->checking = false;
}

void console_throttle_end(struct console_throttle *t, const char *ip, bool ok, time_t now)
{
	struct throttle_entry *e = throttle_checking(t, ip);
	if (e == NULL)
		return;
	e->checking = false;
	if (ok) {
		throttle_remove(t, (size_t)(e - t->v));
		return;
	}
	e->fails[e->next] = now;
	e->next = (e->next + 1) % CONSOLE_THROTTLE_FAILURES;
	if (e->nfails < CONSOLE_THROTTLE_FAILURES)
		e->nfails++;
	e->last = now;
}
