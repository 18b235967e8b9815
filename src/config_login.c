/*
 * config_login.c — sender_login files: which AUTH user may use which
 * envelope senders.
 *
 * Owns reading a sender_login file into struct config_sender_login (called
 * by config.c while a snapshot is built) and the lookups
 * config_sender_owned_by() and config_sender_is_owned(), which any thread
 * may call on a loaded snapshot: the table is immutable and sorted, so a
 * lookup is a binary search and no locks. What the session does with the
 * answer (refuse MAIL FROM with 553 5.7.1) is not decided here.
 *
 * Format: "user: item, item ..." per line, where an item is an address
 * ("user1@example.test": that address) or "@domain" (every address of the
 * domain, not of its subdomains); items are separated by commas and/or
 * blanks; a user may appear on several lines and an address may belong to
 * several users. "#" starts a comment at the start of a line or after
 * white space ("#" is legal in a local part); blank lines are skipped.
 * Addresses and domains are stored lower-cased and compared so (ASCII);
 * user names are exact octets, as auth.c compares them.
 *
 * Errors: a file that cannot be read is -1/errno for the caller to report
 * at the sender_login key; each bad line is "FILE:LINE: message" and the
 * line is skipped, so every bad line is reported at once.
 *
 * Standards: RFC 5322 3.2.3 (dot-atom local parts), RFC 5321 4.5.3.1.1
 * and 4.5.3.1.2 (lengths), RFC 4616 2 (255-octet identities), RFC 6531
 * (UTF-8 local parts).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config_keys.h"
#include "lib/xalloc.h"

/* A line lists one user and the addresses they may send as. */
#define CONFIG_LOGIN_LINE_MAX 4096
/* "local@domain" or "@domain": RFC 5321 4.5.3.1.1 and 4.5.3.1.2. */
#define CONFIG_PATTERN_MAX (CONFIG_LOCAL_MAX + 1 + CONFIG_DOMAIN_MAX)
#define CONFIG_LOGIN_SEPARATORS ", \t"

/* A user name as auth.c accepts it: 1..255 octets, no blanks, controls or ':'. */
static const char *user_check(const char *s, size_t len)
{
	if (len == 0)
		return "expected 'user: address, @domain, ...' (the user name is missing)";
	if (len > AUTH_USER_MAX)
		return "a user name is at most 255 characters (RFC 4616 2)";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return "a user name cannot contain blanks or control characters";
	return NULL;
}

/* Checks one item; returns NULL and the lower-cased pattern in out, or a reason. */
static const char *item_check(const char *s, size_t len, char *out)
{
	const char *at = memchr(s, '@', len);
	if (at == NULL)
		return "expected an address (user@example.test) or @domain";
	if (memchr(at + 1, '@', len - (size_t)(at + 1 - s)) != NULL)
		return "more than one '@'";
	if (len > CONFIG_PATTERN_MAX)
		return "too long for an address (RFC 5321 4.5.3.1)";
	size_t llen = (size_t)(at - s);
	const char *why;
	if (llen > 0 && (why = config_local_check(s, llen)) != NULL)
		return why;
	char d[CONFIG_DOMAIN_MAX + 1];
	if (config_domain_check(at + 1, len - llen - 1, d, &why) < 0)
		return why;
	memcpy(out, s, llen);
	out[llen] = '@';
	memcpy(out + llen + 1, d, strlen(d) + 1);
	config_lower(out);
	return NULL;
}

static void entry_add(struct config_sender_login *out, size_t *cap, const char *pattern,
		      const char *user, size_t ulen)
{
	if (out->n == *cap) {
		*cap = *cap > 0 ? *cap * 2 : 16;
		out->entries = xrealloc(out->entries, *cap * sizeof(*out->entries));
	}
	out->entries[out->n].pattern = xstrdup(pattern);
	out->entries[out->n].user = xstrndup(user, ulen);
	out->n++;
}

/*
 * One non-blank line, comment cut. Items are checked before any is kept:
 * a bad line adds nothing, so a typo cannot grant half of what it says.
 * Returns the number of problems reported (0 or 1).
 */
static unsigned line_parse(struct config_sender_login *out, size_t *cap, char *e, const char *path,
			   unsigned lineno, struct buf *errors)
{
	char *colon = strchr(e, ':');
	if (colon == NULL) {
		config_line_error(errors, path, lineno, e, strlen(e),
			 "expected 'user: address, @domain, ...'");
		return 1;
	}
	size_t ulen = (size_t)(colon - e);
	while (ulen > 0 && (e[ulen - 1] == ' ' || e[ulen - 1] == '\t'))
		ulen--;
	const char *why = user_check(e, ulen);
	if (why != NULL) {
		config_line_error(errors, path, lineno, e, ulen, why);
		return 1;
	}
	char pattern[CONFIG_PATTERN_MAX + 1];
	size_t nitems = 0;
	for (int pass = 0; pass < 2; pass++) {
		const char *p = colon + 1;
		for (;;) {
			p += strspn(p, CONFIG_LOGIN_SEPARATORS);
			if (*p == '\0')
				break;
			size_t len = strcspn(p, CONFIG_LOGIN_SEPARATORS);
			why = item_check(p, len, pattern);
			if (why != NULL) {
				config_line_error(errors, path, lineno, p, len, why);
				return 1;
			}
			if (pass == 1)
				entry_add(out, cap, pattern, e, ulen);
			nitems++;
			p += len;
		}
		if (nitems == 0) {
			config_line_error(errors, path, lineno, e, ulen,
				 "no address after the user name; expected 'user: address, @domain, ...'");
			return 1;
		}
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct config_sender_entry *x = a, *y = b;
	int c = strcmp(x->pattern, y->pattern);
	return c != 0 ? c : strcmp(x->user, y->user);
}

/* Sorts by (pattern, user) and drops repeated pairs. */
static void entries_sort(struct config_sender_login *l)
{
	if (l->n > 1)
		qsort(l->entries, l->n, sizeof(*l->entries), cmp_entry);
	size_t u = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (u > 0 && cmp_entry(&l->entries[u - 1], &l->entries[i]) == 0) {
			free(l->entries[i].pattern);
			free(l->entries[i].user);
		} else {
			l->entries[u++] = l->entries[i];
		}
	}
	l->n = u;
}

struct login_read {
	struct config_sender_login *out;
	size_t cap;
};

static unsigned login_line(void *arg, char *e, const char *path, unsigned lineno, struct buf *errors)
{
	struct login_read *r = arg;
	return line_parse(r->out, &r->cap, e, path, lineno, errors);
}

int config_sender_login_read(const char *path, struct config_sender_login *out, struct buf *errors,
			     unsigned *nbad)
{
	struct login_read r = { out, 0 };
	out->entries = NULL;
	out->n = 0;
	if (config_lines_read(path, CONFIG_LOGIN_LINE_MAX,
			      "line too long; split it: a user may appear on several lines", login_line,
			      &r, errors, nbad) < 0) {
		int saved = errno;
		config_sender_login_free(out);
		errno = saved;
		return -1;
	}
	entries_sort(out);
	return 0;
}

void config_sender_login_free(struct config_sender_login *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->entries[i].pattern);
		free(l->entries[i].user);
	}
	free(l->entries);
	l->entries = NULL;
	l->n = 0;
}

/* Index of the first entry whose pattern is key, or l->n. */
static size_t first_of(const struct config_sender_login *l, const char *key)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(l->entries[mid].pattern, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && strcmp(l->entries[lo].pattern, key) == 0 ? lo : l->n;
}

/* True when key is listed, for user (or for anyone when user is NULL). */
static bool pattern_owned(const struct config_sender_login *l, const char *key, const char *user)
{
	for (size_t i = first_of(l, key); i < l->n && strcmp(l->entries[i].pattern, key) == 0; i++)
		if (user == NULL || strcmp(l->entries[i].user, user) == 0)
			return true;
	return false;
}

/*
 * The two patterns that may own sender: "local@domain" and "@domain",
 * lower-cased. The domain starts after the last '@' (a quoted local part
 * may hold one). False when sender cannot be owned at all: no '@', an
 * empty local part or domain, or too long to be listed.
 */
static bool sender_keys(const char *sender, char *exact, char *domain)
{
	size_t len = strlen(sender);
	const char *at = strrchr(sender, '@');
	if (at == NULL || at == sender || at[1] == '\0' || len > CONFIG_PATTERN_MAX)
		return false;
	memcpy(exact, sender, len + 1);
	config_lower(exact);
	memcpy(domain, exact + (at - sender), len - (size_t)(at - sender) + 1);
	return true;
}

static bool sender_owned(const struct config_server *srv, const char *user, const char *sender)
{
	char exact[CONFIG_PATTERN_MAX + 1], domain[CONFIG_PATTERN_MAX + 1];
	if (srv->sender_login == NULL || sender == NULL || !sender_keys(sender, exact, domain))
		return false;
	if (pattern_owned(&srv->sender_logins, exact, user))
		return true;
	return pattern_owned(&srv->sender_logins, domain, user);
}

bool config_sender_owned_by(const struct config_server *srv, const char *user, const char *sender)
{
	return user != NULL && sender_owned(srv, user, sender);
}

bool config_sender_is_owned(const struct config_server *srv, const char *sender)
{
	return sender_owned(srv, NULL, sender);
}
