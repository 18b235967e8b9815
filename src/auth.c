/*
 * auth.c — the SMTP AUTH users file, crypt(3) password checks, and the failure throttle.
 *
 * Owns: struct auth_users (sorted accounts plus a dummy hash, immutable
 * after auth_users_load, shared read-only by every worker thread) and
 * struct auth_throttle (a bounded per-address table behind one mutex).
 * Does not run SASL (auth_sasl.c), read the clock (times come in) or
 * decide replies (the session).
 *
 * Invariants: auth_users_check() runs exactly one crypt_r() whatever the
 * user, and compares in constant time; struct crypt_data (32 KiB) lives on
 * the heap and is wiped after use; no hash is ever copied into an error
 * message. The throttle never holds more than its max_entries addresses.
 * Errors: auth_users_load() returns -1 and appends "file:line: message"
 * lines; everything else cannot fail (OOM is fatal).
 *
 * RFC 4954 section 4 (server verifies the credentials), RFC 4616 section 2
 * (identity lengths), crypt(5) and crypt_checksalt(3) from libxcrypt.
 * Needs -lcrypt (pkg-config libcrypt).
 */
#include "auth.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"

/* The shortest digest part of a current crypt(3) hash: 22 characters (md5,
 * bcrypt's salt+hash is 53, sha*-crypt and yescrypt 43..86). A stored hash
 * whose last "$" field is shorter was truncated and could never match. */
#define AUTH_HASH_DIGEST_MIN 22

struct auth_user {
	char *name;
	char *hash;		/* NULL: disabled account */
	int line;
};

struct auth_users {
	struct auth_user *users;	/* sorted by name (strcmp) */
	size_t n;
	char *dummy;			/* crypt setting used for unknown/disabled users */
};

/* One problem found while loading, kept so errors come out in line order. */
struct load_error {
	int line;
	char *text;
};

struct load_ctx {
	struct auth_user *users;
	size_t n, cap;
	struct load_error *errs;
	size_t nerrs, errcap;
};

static void load_error(struct load_ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void load_error(struct load_ctx *c, int line, const char *fmt, ...)
{
	if (c->nerrs == c->errcap) {
		c->errcap = c->errcap ? c->errcap * 2 : 8;
		c->errs = xrealloc(c->errs, c->errcap * sizeof(*c->errs));
	}
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	c->errs[c->nerrs].line = line;
	c->errs[c->nerrs].text = xstrdup(buf_str(&b));
	c->nerrs++;
	buf_free(&b);
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool hash_char_ok(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '/' || ch == '$' || ch == '=' || ch == ',';
}

const char *auth_hash_problem(const char *hash)
{
	size_t len = strlen(hash);
	if (len >= CRYPT_OUTPUT_SIZE)
		return "password hash is too long";
	for (size_t i = 0; i < len; i++)
		if (!hash_char_ok((unsigned char)hash[i]))
			return "password hash contains a character no crypt(3) hash has";
	/* Every current method has a "$id$" prefix; DES and friends, refused as
	 * legacy anyway, do not, and neither does a plain-text password. */
	if (hash[0] != '$')
		return "not a crypt(3) hash (a plain-text password?): expected $y$..., as made by "
		       "mkpasswd -m yescrypt";
	switch (crypt_checksalt(hash)) {
	case CRYPT_SALT_OK:
		break;
	case CRYPT_SALT_INVALID:
		return "unrecognised password hash: expected a crypt(3) string such as "
		       "$y$... (mkpasswd -m yescrypt), $6$... or $2b$...";
	case CRYPT_SALT_METHOD_DISABLED:
		return "password hash method is disabled in this libcrypt";
	case CRYPT_SALT_METHOD_LEGACY:
		return "legacy password hash method (MD5, SHA-256 crypt, ...) refused: "
		       "rehash with mkpasswd -m yescrypt";
	case CRYPT_SALT_TOO_CHEAP:
		return "password hash cost is too low: rehash with mkpasswd -m yescrypt";
	default:
		return "unrecognised password hash";
	}
	const char *digest = strrchr(hash, '$');
	if (digest == NULL || strlen(digest + 1) < AUTH_HASH_DIGEST_MIN)
		return "password hash is truncated (no digest after the salt)";
	return NULL;
}

#define AUTH_STR_(x) #x
#define AUTH_STR(x) AUTH_STR_(x)

char *auth_secret_entry(char *line, size_t len, const char **why)
{
	*why = NULL;
	if (memchr(line, '\0', len) != NULL) {
		*why = "NUL byte in line";
		return NULL;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || is_blank(line[len - 1])))
		line[--len] = '\0';
	while (is_blank(*line)) {
		line++;
		len--;
	}
	if (len == 0 || line[0] == '#')
		return NULL;
	if (len > AUTH_USERS_LINE_MAX) {
		*why = "line longer than " AUTH_STR(AUTH_USERS_LINE_MAX) " characters";
		return NULL;
	}
	return line;
}

const char *auth_name_problem(const char *name)
{
	size_t len = strlen(name);
	if (len == 0)
		return "empty user name";
	if (len > AUTH_USER_MAX)
		return "user name longer than " AUTH_STR(AUTH_USER_MAX) " octets";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch <= 0x20 || ch == 0x7f)
			return "user name contains a blank or control character";
	}
	return NULL;
}

int auth_secret_lines(FILE *f, void (*fn)(void *arg, char *text, size_t len, int lineno), void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	int lineno = 0;
	while ((got = getline(&line, &cap, f)) > 0)
		fn(arg, line, (size_t)got, ++lineno);
	int bad = ferror(f) ? lineno + 1 : 0;
	int e = errno;
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	errno = e;
	return bad;
}

static void load_line(void *arg, char *text, size_t len, int lineno)
{
	struct load_ctx *c = arg;
	const char *why;
	char *line = auth_secret_entry(text, len, &why);
	if (line == NULL) {
		if (why != NULL)
			load_error(c, lineno, "%s", why);
		return;
	}
	char *colon = strchr(line, ':');
	if (colon == NULL) {
		load_error(c, lineno, "missing ':' between user name and password hash");
		return;
	}
	*colon = '\0';
	char *hash = colon + 1;
	char *more = strchr(hash, ':');
	if (more != NULL)
		*more = '\0';	/* /etc/shadow's aging fields: ignored */
	if ((why = auth_name_problem(line)) != NULL) {
		load_error(c, lineno, "%s", why);
		return;
	}
	bool disabled = hash[0] == '\0' || hash[0] == '*' || hash[0] == '!';
	if (!disabled) {
		why = auth_hash_problem(hash);
		if (why != NULL) {
			load_error(c, lineno, "user '%s': %s", line, why);
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->users = xrealloc(c->users, c->cap * sizeof(*c->users));
	}
	c->users[c->n].name = xstrdup(line);
	c->users[c->n].hash = disabled ? NULL : xstrdup(hash);
	c->users[c->n].line = lineno;
	c->n++;
}

static int user_cmp(const void *a, const void *b)
{
	const struct auth_user *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r != 0)
		return r;
	return (x->line > y->line) - (x->line < y->line);
}

static int error_cmp(const void *a, const void *b)
{
	const struct load_error *x = a, *y = b;
	return (x->line > y->line) - (x->line < y->line);
}

/* Length of the method prefix: "$y$", "$2b$", "$6$" ("" for no "$" id). */
static size_t hash_method_len(const char *hash)
{
	if (hash[0] != '$')
		return 0;
	const char *end = strchr(hash + 1, '$');
	return end != NULL ? (size_t)(end - hash) + 1 : 0;
}

/*
 * The dummy for unknown and disabled users: an existing hash of the most
 * common method, so a miss costs what a hit costs; with no enabled
 * account, a fresh setting of libxcrypt's preferred method.
 */
static char *dummy_pick(const struct auth_user *users, size_t n)
{
	size_t best = n, best_count = 0;
	for (size_t i = 0; i < n; i++) {
		if (users[i].hash == NULL)
			continue;
		size_t mlen = hash_method_len(users[i].hash), count = 0;
		for (size_t j = 0; j < n; j++)
			if (users[j].hash != NULL && hash_method_len(users[j].hash) == mlen &&
			    strncmp(users[i].hash, users[j].hash, mlen) == 0)
				count++;
		if (count > best_count) {
			best = i;
			best_count = count;
		}
	}
	if (best < n)
		return xstrdup(users[best].hash);
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (crypt_gensalt_rn(NULL, 0, NULL, 0, setting, sizeof(setting)) != NULL)
		return xstrdup(setting);
	return xstrdup("$6$vsmtpd.dummy$");
}

static void users_free_array(struct auth_user *users, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(users[i].name);
		if (users[i].hash != NULL)
			explicit_bzero(users[i].hash, strlen(users[i].hash));
		free(users[i].hash);
	}
	free(users);
}

FILE *auth_secret_open(const char *path, const char *what, struct buf *errors)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		buf_printf(errors, "%s: cannot open %s: %s\n", path, what, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		buf_printf(errors, "%s: cannot stat %s: %s\n", path, what, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_printf(errors, "%s: %s is not a regular file\n", path, what);
		close(fd);
		return NULL;
	}
	if ((st.st_mode & 007) != 0) {
		buf_printf(errors,
			   "%s: %s is accessible to other users (mode %04o); "
			   "refusing to use it: chmod o-rwx %s\n",
			   path, what, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "r");
	if (f == NULL) {
		buf_printf(errors, "%s: %s\n", path, strerror(errno));
		close(fd);
	}
	return f;
}

int auth_users_load(const char *path, struct auth_users **out, struct buf *errors)
{
	*out = NULL;
	FILE *f = auth_secret_open(path, "users file", errors);
	if (f == NULL)
		return -1;

	struct load_ctx c = { 0 };
	int bad = auth_secret_lines(f, load_line, &c);
	if (bad > 0)
		load_error(&c, bad, "read error: %s", strerror(errno));
	fclose(f);

	if (c.n > 1)
		qsort(c.users, c.n, sizeof(*c.users), user_cmp);
	for (size_t i = 1; i < c.n; i++)
		if (strcmp(c.users[i - 1].name, c.users[i].name) == 0)
			load_error(&c, c.users[i].line, "duplicate user '%s' (first on line %d)",
				   c.users[i].name, c.users[i - 1].line);

	int rc = 0;
	if (c.nerrs > 0) {
		/* At most one error per line (a bad line is never stored, so never a duplicate). */
		qsort(c.errs, c.nerrs, sizeof(*c.errs), error_cmp);
		for (size_t i = 0; i < c.nerrs; i++)
			buf_printf(errors, "%s:%d: %s\n", path, c.errs[i].line, c.errs[i].text);
		rc = -1;
	}
	for (size_t i = 0; i < c.nerrs; i++)
		free(c.errs[i].text);
	free(c.errs);
	if (rc != 0) {
		users_free_array(c.users, c.n);
		return -1;
	}

	struct auth_users *u = xcalloc(1, sizeof(*u));
	u->users = c.users;
	u->n = c.n;
	u->dummy = dummy_pick(c.users, c.n);
	*out = u;
	return 0;
}

void auth_users_free(struct auth_users *u)
{
	if (u == NULL)
		return;
	users_free_array(u->users, u->n);
	free(u->dummy);
	free(u);
}

size_t auth_users_count(const struct auth_users *u)
{
	return u->n;
}

static int user_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct auth_user *)elem)->name);
}

/* Equal strings, in time that depends only on their lengths. */
static bool equal_consttime(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la < lb ? la : lb;
	volatile unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool auth_users_check(const struct auth_users *u, const char *user, const char *password)
{
	if (u == NULL || user == NULL || password == NULL)
		return false;
	const struct auth_user *e = NULL;
	if (u->n > 0 && strlen(user) <= AUTH_USER_MAX)
		e = bsearch(user, u->users, u->n, sizeof(*u->users), user_key_cmp);
	bool usable = e != NULL && e->hash != NULL && password[0] != '\0';
	bool match = auth_hash_verify(password, usable ? e->hash : u->dummy);
	return usable && match;
}

bool auth_hash_verify(const char *password, const char *hash)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *got = crypt_r(password, hash, cd);
	/* "*" starts libxcrypt's failure tokens; a valid hash never does. */
	bool match = got != NULL && got[0] != '*' && equal_consttime(got, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return match;
}

/* ---- failure throttle ---------------------------------------------------- */

struct throttle_key {
	unsigned char family;	/* 4, 6 (a /64), or 0: the text itself, truncated */
	unsigned char addr[16];
};

struct throttle_entry {
	struct throttle_key key;
	unsigned failures;
	time_t decay_from;		/* decay periods are counted from here */
	struct throttle_entry *hnext;	/* hash chain, or the free list */
	struct throttle_entry *older, *newer;	/* by last failure, oldest first */
};

struct auth_throttle {
	pthread_mutex_t lock;
	size_t cap, n;
	struct throttle_entry *pool;
	struct throttle_entry *free_list;
	struct throttle_entry **buckets;
	size_t nbuckets;		/* a power of two */
	struct throttle_entry *oldest, *newest;
};

struct auth_throttle *auth_throttle_new(size_t max_entries)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));
	t->cap = max_entries > 0 ? max_entries : AUTH_THROTTLE_DEFAULT_ENTRIES;
	t->pool = xcalloc(t->cap, sizeof(*t->pool));
	for (size_t i = 0; i < t->cap; i++) {
		t->pool[i].hnext = t->free_list;
		t->free_list = &t->pool[i];
	}
	t->nbuckets = 16;
	while (t->nbuckets < t->cap * 2)
		t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void auth_throttle_free(struct auth_throttle *t)
{
	if (t == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->buckets);
	free(t->pool);
	free(t);
}

static struct throttle_key throttle_key_of(const char *ip)
{
	struct throttle_key k;
	memset(&k, 0, sizeof(k));
	if (ip == NULL)
		return k;
	unsigned char a[16];
	if (inet_pton(AF_INET, ip, a) == 1) {
		k.family = 4;
		memcpy(k.addr, a, 4);
		return k;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			k.family = 4;
			memcpy(k.addr, a + 12, 4);
		} else {
			k.family = 6;
			memcpy(k.addr, a, 8);
		}
		return k;
	}
	size_t n = strlen(ip);
	memcpy(k.addr, ip, n < sizeof(k.addr) ? n : sizeof(k.addr));
	return k;
}

static size_t throttle_hash(const struct auth_throttle *t, const struct throttle_key *k)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	h = (h ^ k->family) * 16777619u;
	for (size_t i = 0; i < sizeof(k->addr); i++)
		h = (h ^ k->addr[i]) * 16777619u;
	return h & (t->nbuckets - 1);
}

static struct throttle_entry *throttle_find(struct auth_throttle *t, const struct throttle_key *k)
{
	for (struct throttle_entry *e = t->buckets[throttle_hash(t, k)]; e != NULL; e = e->hnext)
		if (memcmp(&e->key, k, sizeof(*k)) == 0)
			return e;
	return NULL;
}

static void lru_unlink(struct auth_throttle *t, struct throttle_entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_push_newest(struct auth_throttle *t, struct throttle_entry *e)
{
	e->older = t->newest;
	e->newer = NULL;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

static void throttle_remove(struct auth_throttle *t, struct throttle_entry *e)
{
	struct throttle_entry **pp = &t->buckets[throttle_hash(t, &e->key)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(t, e);
	memset(e, 0, sizeof(*e));
	e->hnext = t->free_list;
	t->free_list = e;
	t->n--;
}

/* Applies the halvings owed since decay_from; drops the entry at zero. */
static struct throttle_entry *throttle_decay(struct auth_throttle *t, struct throttle_entry *e,
					     time_t now)
{
	if (e == NULL || now <= e->decay_from)
		return e;
	time_t periods = (now - e->decay_from) / AUTH_THROTTLE_DECAY;
	if (periods <= 0)
		return e;
	e->failures = periods >= 32 ? 0 : e->failures >> periods;
	e->decay_from += periods * AUTH_THROTTLE_DECAY;
	if (e->failures == 0) {
		throttle_remove(t, e);
		return NULL;
	}
	return e;
}

static struct throttle_entry *throttle_lookup(struct auth_throttle *t, const char *ip, time_t now)
{
	struct throttle_key k = throttle_key_of(ip);
	return throttle_decay(t, throttle_find(t, &k), now);
}

void auth_throttle_fail(struct auth_throttle *t, const char *ip, time_t now)
{
	struct throttle_key k = throttle_key_of(ip);
	pthread_mutex_lock(&t->lock);
	struct throttle_entry *e = throttle_decay(t, throttle_find(t, &k), now);
	if (e == NULL) {
		if (t->free_list == NULL)
			throttle_remove(t, t->oldest);
		e = t->free_list;
		t->free_list = e->hnext;
		e->key = k;
		size_t b = throttle_hash(t, &k);
		e->hnext = t->buckets[b];
		t->buckets[b] = e;
		t->n++;
	} else {
		lru_unlink(t, e);
	}
	lru_push_newest(t, e);
	if (e->failures < UINT_MAX)
		e->failures++;
	e->decay_from = now;
	pthread_mutex_unlock(&t->lock);
}

void auth_throttle_success(struct auth_throttle *t, const char *ip, time_t now)
{
	pthread_mutex_lock(&t->lock);
	struct throttle_entry *e = throttle_lookup(t, ip, now);
	if (e != NULL) {
		e->failures /= 2;
		if (e->failures == 0)
			throttle_remove(t, e);
	}
	pthread_mutex_unlock(&t->lock);
}

unsigned auth_throttle_failures(struct auth_throttle *t, const char *ip, time_t now)
{
	pthread_mutex_lock(&t->lock);
	struct throttle_entry *e = throttle_lookup(t, ip, now);
	unsigned n = e != NULL ? e->failures : 0;
	pthread_mutex_unlock(&t->lock);
	return n;
}

unsigned auth_throttle_delay(struct auth_throttle *t, const char *ip, time_t now)
{
	unsigned n = auth_throttle_failures(t, ip, now);
	if (n <= 1)
		return 0;
	if (n - 2 >= 4)
		return AUTH_THROTTLE_DELAY_MAX;
	unsigned d = 1u << (n - 2);
	return d < AUTH_THROTTLE_DELAY_MAX ? d : AUTH_THROTTLE_DELAY_MAX;
}

size_t auth_throttle_size(struct auth_throttle *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}
