/*
 * config_lines.c — the reader shared by the config's line-oriented side
 * files (users, sender_login).
 *
 * Owns the common rules of those files: "#" starts a comment at the start
 * of a line or after white space, blanks around an entry are ignored, blank
 * lines are skipped, a NUL byte or an over-long line is a FILE:LINE error.
 * What an entry means is the caller's callback. Runs in config_load() only.
 */
#include "config_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void config_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

void config_line_error(struct buf *errors, const char *path, unsigned line, const char *text,
		       size_t len, const char *why)
{
	buf_printf(errors, "%s:%u: '", path, line);
	config_append_escaped(errors, text, len);
	buf_printf(errors, "': %s\n", why);
}

/* Cuts a comment: "#" at the start or after white space. */
static void cut_comment(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int config_lines_read(const char *path, size_t max_line, const char *too_long,
		      unsigned (*fn)(void *arg, char *entry, const char *path, unsigned lineno,
				     struct buf *errors),
		      void *arg, struct buf *errors, unsigned *nbad)
{
	*nbad = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned lineno = 0;
	errno = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)got != strlen(line)) {
			config_line_error(errors, path, lineno, "", 0, "the line contains a NUL byte");
			++*nbad;
			continue;
		}
		if ((size_t)got > max_line) {
			config_line_error(errors, path, lineno, line, 40, too_long);
			++*nbad;
			continue;
		}
		cut_comment(line);
		char *e = trim(line);
		if (*e != '\0')
			*nbad += fn(arg, e, path, lineno, errors);
	}
	int saved = errno;
	bool failed = ferror(f) != 0;
	free(line);
	fclose(f);
	if (failed) {
		errno = saved != 0 ? saved : EIO;
		return -1;
	}
	return 0;
}
