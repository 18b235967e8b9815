/*
 * config_users.c — users files: the known local recipients of a server.
 *
 * Owns reading a users file into struct config_users (called by config.c
 * while a snapshot is built) and the lookup config_user_known(), which any
 * thread may call on a loaded snapshot: the list is immutable and sorted,
 * so a lookup is two binary searches and no locks.
 *
 * Format: one entry per line, either a local part ("user1", valid in every
 * local domain of the server) or an address ("user1@example.test"). "#"
 * starts a comment at the start of a line or after white space ("#" is a
 * legal local-part character, so "a#b" is an entry); blank lines are
 * skipped; entries are stored lower-cased (comparison is case-insensitive
 * by policy, although RFC 5321 2.4 lets local parts be case-sensitive).
 * Quoted local parts are refused: the entry must be a dot-atom.
 *
 * Errors: a file that cannot be read is -1/errno for the caller to report
 * at the `users` key; each bad line is "USERSFILE:LINE: message" and the
 * line is skipped, so every bad line is reported at once.
 *
 * Standards: RFC 5322 3.2.3 (dot-atom), RFC 5321 4.5.1 (postmaster),
 * 4.5.3.1.1 and 4.5.3.1.2 (lengths), RFC 6531 (UTF-8 local parts).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_keys.h"
#include "lib/xalloc.h"

/* Longest line worth reading: an address is at most 64 + 1 + 255 octets. */
#define CONFIG_USERS_LINE_MAX 1024
#define CONFIG_ENTRY_MAX (CONFIG_LOCAL_MAX + 1 + CONFIG_DOMAIN_MAX)

static const char atext_specials[] = "!#$%&'*+-/=?^_`{|}~";

static bool is_atext(unsigned char c)
{
	/* Bytes >= 0x80: UTF-8 local parts (RFC 6531 3.3). */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || (c != '\0' && strchr(atext_specials, c) != NULL);
}

const char *config_local_check(const char *s, size_t len)
{
	if (len == 0)
		return "empty local part";
	if (len > CONFIG_LOCAL_MAX)
		return "a local part is at most 64 characters (RFC 5321 4.5.3.1.1)";
	if (s[0] == '"')
		return "quoted local parts are not supported";
	if (s[0] == '.' || s[len - 1] == '.')
		return "a local part cannot start or end with '.'";
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return "a local part cannot contain \"..\"";
			continue;
		}
		if (!is_atext((unsigned char)s[i]))
			return "a local part may hold letters, digits, '.' and !#$%&'*+-/=?^_`{|}~";
	}
	return NULL;
}

/* Checks one entry; returns NULL and the lower-cased entry in out, or a reason. */
static const char *entry_check(char *e, char *out)
{
	size_t len = strlen(e);
	if (strpbrk(e, " \t") != NULL)
		return "one entry per line (this line has a space in it)";
	if (len > CONFIG_ENTRY_MAX)
		return "too long for an address (RFC 5321 4.5.3.1)";
	char *at = strchr(e, '@');
	if (at != NULL && strchr(at + 1, '@') != NULL)
		return "more than one '@'";
	size_t llen = at != NULL ? (size_t)(at - e) : len;
	const char *why = config_local_check(e, llen);
	if (why != NULL)
		return why;
	memcpy(out, e, llen);
	out[llen] = '\0';
	if (at != NULL) {
		char d[CONFIG_DOMAIN_MAX + 1];
		if (config_domain_check(at + 1, strlen(at + 1), d, &why) < 0)
			return why;
		out[llen] = '@';
		memcpy(out + llen + 1, d, strlen(d) + 1);
	}
	config_lower(out);
	return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct users_read {
	char **entries;
	size_t n;
};

static unsigned users_line(void *arg, char *e, const char *path, unsigned lineno, struct buf *errors)
{
	struct users_read *r = arg;
	char entry[CONFIG_ENTRY_MAX + 1];
	const char *why = entry_check(e, entry);
	if (why != NULL) {
		config_line_error(errors, path, lineno, e, strlen(e), why);
		return 1;
	}
	r->entries = xrealloc(r->entries, (r->n + 1) * sizeof(*r->entries));
	r->entries[r->n++] = xstrdup(entry);
	return 0;
}

int config_users_read(const char *path, struct config_users *out, struct buf *errors, unsigned *nbad)
{
	struct users_read r = { NULL, 0 };
	int rc = config_lines_read(path, CONFIG_USERS_LINE_MAX, "line too long", users_line, &r, errors, nbad);
	out->entries = r.entries;
	out->n = r.n;
	if (rc < 0) {
		int saved = errno;
		config_users_free(out);
		errno = saved;
		return -1;
	}
	if (out->n > 1)
		qsort(out->entries, out->n, sizeof(*out->entries), cmp_entry);
	size_t u = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (u > 0 && strcmp(out->entries[u - 1], out->entries[i]) == 0)
			free(out->entries[i]);
		else
			out->entries[u++] = out->entries[i];
	}
	out->n = u;
	return 0;
}

void config_users_free(struct config_users *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->entries[i]);
	free(u->entries);
	u->entries = NULL;
	u->n = 0;
}

static bool listed(const struct config_users *u, const char *key)
{
	return u->n > 0 && bsearch(&key, u->entries, u->n, sizeof(*u->entries), cmp_entry) != NULL;
}

bool config_user_known(const struct config_server *srv, const char *local, const char *domain)
{
	if (strcasecmp(local, "postmaster") == 0)
		return true;
	if (srv->users == NULL)
		return true;
	char key[CONFIG_ENTRY_MAX + 1];
	size_t llen = strlen(local);
	/* "a@b" as a local part (quoted, from the wire) must not match the
	 * full-address entry "a@b": only dot-atoms are listed. */
	if (llen == 0 || llen > CONFIG_LOCAL_MAX || memchr(local, '@', llen) != NULL)
		return false;
	memcpy(key, local, llen + 1);
	config_lower(key);
	if (listed(&srv->users_list, key))
		return true;
	size_t dlen = domain != NULL ? strlen(domain) : 0;
	if (dlen == 0 || dlen > CONFIG_DOMAIN_MAX)
		return false;
	key[llen] = '@';
	memcpy(key + llen + 1, domain, dlen + 1);
	config_lower(key);
	return listed(&srv->users_list, key);
}
