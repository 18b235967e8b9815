/*
 * config.c — loading the INI file into an immutable, refcounted snapshot.
 *
 * Owns config_load() and the snapshot's life (config_ref/config_unref, any
 * thread; the count is atomic and the last unref frees). Loading runs on
 * one thread (main) and touches no global state. It goes in two passes:
 * inih splits lines into section/key/value, and this file records the raw
 * text of each key per section; then every section is built from the key
 * table (config_keys.c), user values and defaults alike going through
 * config_value_parse(), and cross-section rules (listener clashes, users
 * and sender_login files) are checked. Value syntax lives in
 * config_value.c, users files in config_users.c, sender_login files in
 * config_login.c, the rules between TLS and AUTH keys (and building the
 * TLS contexts and AUTH accounts a snapshot owns) in config_tls.c, the
 * console's keys (its accounts and certificate) in config_console.c; nothing
 * here validates a key by name.
 *
 * inih is fed through our own reader, which counts lines (Debian builds
 * inih without INI_HANDLER_LINENO), classifies each line the way inih will
 * (section header, key, continuation, comment) and so can report every
 * syntax error — inih itself only returns the first — plus the things
 * inih would do silently: overlong lines split in two, NUL bytes, an
 * indented "key = value" swallowed as a continuation, section names
 * truncated at 50 characters (we parse headers ourselves).
 *
 * Errors: every problem is appended to the caller's buffer as
 * "FILE:LINE: message\n" (user text escaped), loading continues, and
 * config_load() fails if there was any.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/ssl.h>

#include "auth.h"
#include "config_keys.h"
#include "console_auth.h"
#include "lib/xalloc.h"

enum line_kind {
	LINE_COMMENT,		/* blank, or a comment: inih ignores it */
	LINE_SECTION,		/* "[...]": handled by us, inih just tracks it */
	LINE_KEY,		/* must reach the handler, else it is a syntax error */
	LINE_CONT,		/* indented after a key: inih continues that key */
};

enum section_kind {
	SECTION_GLOBAL,
	SECTION_SERVER,
};

struct raw_value {
	bool set;
	int line;
	struct buf text;
};

struct raw_section {
	enum section_kind kind;
	char *name;		/* server name; NULL for [global] */
	int line;
	struct raw_value *vals;	/* config_nkeys entries, by table row */
};

/* One reported problem; reported in line order once the file is read. */
struct error_rec {
	int line;		/* 0: about the whole file, reported last */
	size_t seq;		/* keeps problems of one line in the order found */
	char *text;		/* complete lines, each ending in "\n" */
};

struct config_loader {
	const char *path;
	FILE *f;
	struct error_rec *errs;
	size_t nerrs;
	unsigned nerrors;	/* problems, counting each bad users-file line */

	char *buf;		/* getline() storage */
	size_t cap;
	const char *text;	/* the current line, without its line end */
	int lineno;
	enum line_kind kind;
	bool handled;		/* inih called the handler for the current line */
	bool prev_name;		/* mirrors inih's prev_name: a continuation is possible */

	struct raw_section *sections;
	size_t nsections;
	long cur;		/* index of the current section, or -1 */
	bool ignore;		/* the current section is invalid: skip its keys */
	long last;		/* table row of the last key stored in cur, or -1 */
};

static void error_push(struct config_loader *ld, int line, const struct buf *text)
{
	ld->errs = xrealloc(ld->errs, (ld->nerrs + 1) * sizeof(*ld->errs));
	ld->errs[ld->nerrs].line = line;
	ld->errs[ld->nerrs].seq = ld->nerrs;
	ld->errs[ld->nerrs].text = xstrdup(buf_str(text));
	ld->nerrs++;
}

static void error_vat(struct config_loader *ld, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void error_vat(struct config_loader *ld, int line, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;
	if (line > 0)
		buf_printf(&b, "%s:%d: ", ld->path, line);
	else
		buf_printf(&b, "%s: ", ld->path);
	buf_vprintf(&b, fmt, ap);
	buf_append_char(&b, '\n');
	error_push(ld, line, &b);
	buf_free(&b);
	ld->nerrors++;
}

static void error_at(struct config_loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void error_at(struct config_loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vat(ld, line, fmt, ap);
	va_end(ap);
}

void config_error(struct config_loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vat(ld, line, fmt, ap);
	va_end(ap);
}

void config_error_lines(struct config_loader *ld, int line, const struct buf *text, unsigned n)
{
	if (text->len == 0)
		return;
	error_push(ld, line, text);
	ld->nerrors += n;
}

const char *config_loader_path(const struct config_loader *ld)
{
	return ld->path;
}

static int cmp_error(const void *a, const void *b)
{
	const struct error_rec *x = a, *y = b;
	unsigned lx = x->line > 0 ? (unsigned)x->line : UINT_MAX;
	unsigned ly = y->line > 0 ? (unsigned)y->line : UINT_MAX;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hands the problems to the caller, in line order. */
static void errors_flush(struct config_loader *ld, struct buf *out)
{
	if (ld->nerrs > 1)
		qsort(ld->errs, ld->nerrs, sizeof(*ld->errs), cmp_error);
	for (size_t i = 0; i < ld->nerrs; i++) {
		buf_append_str(out, ld->errs[i].text);
		free(ld->errs[i].text);
	}
	free(ld->errs);
	ld->errs = NULL;
	ld->nerrs = 0;
}

/* User text made safe to print: tmp is reset and returned as a string. */
static const char *esc(struct buf *tmp, const char *s)
{
	buf_reset(tmp);
	config_append_escaped(tmp, s, strlen(s));
	return buf_str(tmp);
}

static const char *section_label(struct buf *tmp, const struct raw_section *s)
{
	buf_reset(tmp);
	switch (s->kind) {
	case SECTION_GLOBAL:
		buf_append_str(tmp, "[global]");
		break;
	case SECTION_SERVER:
		buf_printf(tmp, "[server %s]", s->name);
		break;
	}
	return buf_str(tmp);
}

static struct raw_section *section_add(struct config_loader *ld, enum section_kind kind, const char *name)
{
	ld->sections = xrealloc(ld->sections, (ld->nsections + 1) * sizeof(*ld->sections));
	struct raw_section *s = &ld->sections[ld->nsections];
	s->kind = kind;
	s->name = name != NULL ? xstrdup(name) : NULL;
	s->line = ld->lineno;
	s->vals = xcalloc(config_nkeys, sizeof(*s->vals));
	ld->cur = (long)ld->nsections++;
	ld->ignore = false;
	return s;
}

static const struct raw_section *section_find(const struct config_loader *ld, enum section_kind kind,
					      const char *name)
{
	for (size_t i = 0; i < ld->nsections; i++) {
		const struct raw_section *s = &ld->sections[i];
		if (s->kind == kind && (kind == SECTION_GLOBAL || strcmp(s->name, name) == 0))
			return s;
	}
	return NULL;
}

static bool server_name_ok(const char *name)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	size_t len = strlen(name);
	return len > 0 && len <= CONFIG_SERVER_NAME_MAX && strspn(name, ok) == len;
}

/* inih ends a header at the first ']' unless an inline comment (" ;") comes first. */
static const char *header_end(const char *p)
{
	bool was_space = false;
	for (; *p != '\0' && *p != ']'; p++) {
		if (was_space && *p == ';')
			break;
		was_space = isspace((unsigned char)*p);
	}
	return p;
}

static void section_header(struct config_loader *ld, const char *p)
{
	struct buf t = BUF_INIT;
	const char *end = header_end(p + 1);
	ld->cur = -1;
	ld->ignore = true;
	ld->last = -1;
	if (*end != ']') {
		error_at(ld, ld->lineno, "section header '%s' has no closing ']'", esc(&t, p));
		goto done;
	}
	ld->prev_name = false;
	const char *rest = end + 1 + strspn(end + 1, " \t\r\v\f");
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		error_at(ld, ld->lineno, "unexpected text '%s' after the section header", esc(&t, rest));

	char *inner = xstrndup(p + 1, (size_t)(end - p - 1));
	char *kind = inner + strspn(inner, " \t");
	size_t klen = strcspn(kind, " \t");
	char *name = kind + klen + strspn(kind + klen, " \t");
	size_t nlen = strlen(name);
	while (nlen > 0 && isspace((unsigned char)name[nlen - 1]))
		name[--nlen] = '\0';
	kind[klen] = '\0';

	const struct raw_section *dup;
	if (strcmp(kind, "global") == 0) {
		if (nlen > 0)
			error_at(ld, ld->lineno, "[global] takes no name");
		else if ((dup = section_find(ld, SECTION_GLOBAL, NULL)) != NULL)
			error_at(ld, ld->lineno, "duplicate [global] section (the first is at line %d)",
				 dup->line);
		else
			section_add(ld, SECTION_GLOBAL, NULL);
	} else if (strcmp(kind, "server") == 0) {
		if (nlen == 0)
			error_at(ld, ld->lineno, "[server] needs a name: [server NAME]");
		else if (strpbrk(name, " \t") != NULL || !server_name_ok(name))
			error_at(ld, ld->lineno,
				 "bad server name '%s': one word of up to %d letters, digits, '.', '_', '-'",
				 esc(&t, name), CONFIG_SERVER_NAME_MAX);
		else if ((dup = section_find(ld, SECTION_SERVER, name)) != NULL)
			error_at(ld, ld->lineno, "duplicate [server %s] (the first is at line %d)", name,
				 dup->line);
		else
			section_add(ld, SECTION_SERVER, name);
	} else {
		buf_reset(&t);
		config_append_escaped(&t, p + 1, (size_t)(end - p - 1));
		error_at(ld, ld->lineno, "unknown section [%s]; expected [global] or [server NAME]",
			 buf_str(&t));
	}
	free(inner);
done:
	buf_free(&t);
}

/* Called before each new line and at the end: a key line inih rejected. */
static void line_done(struct config_loader *ld)
{
	if (ld->lineno == 0 || ld->handled || (ld->kind != LINE_KEY && ld->kind != LINE_CONT))
		return;
	struct buf t = BUF_INIT;
	const char *p = ld->text + strspn(ld->text, " \t");
	error_at(ld, ld->lineno, "expected 'key = value', got '%s'", esc(&t, p));
	buf_free(&t);
}

static void line_classify(struct config_loader *ld, const char *s)
{
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == ';' || *p == '#')
		ld->kind = LINE_COMMENT;
	else if (p > s && ld->prev_name)
		ld->kind = LINE_CONT;
	else if (*p == '[') {
		ld->kind = LINE_SECTION;
		section_header(ld, p);
	} else
		ld->kind = LINE_KEY;
}

/*
 * A line we cannot hand to inih (NUL byte, too long) is replaced by an
 * empty one. If it was a section header, the keys below it belong to no
 * section we know: skip them rather than file them under the one before.
 */
static void line_reject(struct config_loader *ld, const char *s)
{
	const char *p = s + strspn(s, " \t");
	if (*p == '[') {
		ld->cur = -1;
		ld->ignore = true;
		ld->last = -1;
	}
}

/* inih's reader: fgets semantics, one line per call. */
static char *reader(char *str, int num, void *stream)
{
	struct config_loader *ld = stream;
	line_done(ld);
	errno = 0;
	ssize_t got = getline(&ld->buf, &ld->cap, ld->f);
	if (got < 0) {
		if (ferror(ld->f))
			error_at(ld, ld->lineno + 1, "read error: %s", strerror(errno ? errno : EIO));
		return NULL;
	}
	ld->lineno++;
	ld->kind = LINE_COMMENT;
	ld->handled = false;
	char *s = ld->buf;
	size_t len = (size_t)got;
	ld->text = "";
	str[0] = '\0';
	if (strlen(s) != len) {
		error_at(ld, ld->lineno, "the line contains a NUL byte");
		line_reject(ld, s);
		return str;
	}
	if (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	if (ld->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len >= (size_t)num) {
		error_at(ld, ld->lineno,
			 "line too long (%zu characters, at most %d); continue a long value on "
			 "indented lines", len, num - 1);
		line_reject(ld, s);
		return str;
	}
	ld->text = s;
	line_classify(ld, s);
	memcpy(str, s, len + 1);
	return str;
}

static bool key_like(const char *name)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	return name[0] != '\0' && strspn(name, ok) == strlen(name);
}

static void key_line(struct config_loader *ld, const char *name, const char *value)
{
	struct buf t = BUF_INIT;
	ld->last = -1;
	if (!key_like(name)) {
		error_at(ld, ld->lineno, "expected 'key = value', got '%s'",
			 esc(&t, ld->text + strspn(ld->text, " \t")));
		goto done;
	}
	if (ld->ignore)
		goto done;
	if (ld->cur < 0) {
		error_at(ld, ld->lineno, "'%s' is outside any section; put it under [global] or "
			 "[server NAME]", name);
		goto done;
	}
	struct raw_section *s = &ld->sections[ld->cur];
	const struct config_key *k = config_key_find(name);
	if (k == NULL) {
		char *lc = xstrdup(name);
		for (char *c = lc; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		error_at(ld, ld->lineno, "unknown key '%s' in %s%s", name, section_label(&t, s),
			 config_key_find(lc) != NULL ? " (keys are lower-case)" : "");
		free(lc);
		goto done;
	}
	bool global = s->kind == SECTION_GLOBAL;
	if (k->scope == CONFIG_SCOPE_SERVER && global) {
		error_at(ld, ld->lineno, "'%s' belongs in a [server NAME] section, not in [global]",
			 name);
		goto done;
	}
	if (k->scope == CONFIG_SCOPE_GLOBAL && !global) {
		error_at(ld, ld->lineno, "'%s' belongs in [global], not in %s", name,
			 section_label(&t, s));
		goto done;
	}
	size_t i = (size_t)(k - config_keys);
	struct raw_value *v = &s->vals[i];
	if (v->set) {
		error_at(ld, ld->lineno, "duplicate key '%s' in %s (first set at line %d)", name,
			 section_label(&t, s), v->line);
		goto done;
	}
	v->set = true;
	v->line = ld->lineno;
	buf_append_str(&v->text, value);
	ld->last = (long)i;
done:
	buf_free(&t);
}

/* An indented line: inih hands over the whole line, inline comment included. */
static void continuation(struct config_loader *ld, const char *value)
{
	if (ld->cur < 0)
		return;
	struct raw_section *s = &ld->sections[ld->cur];
	const char *cont = ld->last >= 0 ? config_keys[ld->last].name : "the key above";
	char *v = xstrdup(value);
	char *end = v;
	bool was_space = false;
	for (; *end != '\0' && !(was_space && *end == ';'); end++)
		was_space = isspace((unsigned char)*end);
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';

	size_t id = strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_");
	const char *after = v + id + strspn(v + id, " \t");
	char saved = v[id];
	v[id] = '\0';
	bool looks_key = id > 0 && (*after == '=' || *after == ':') && config_key_find(v) != NULL;
	v[id] = saved;
	const char *h = v + (v[0] == '[') + strspn(v + (v[0] == '['), " \t");
	bool looks_header = v[0] == '[' && (strncmp(h, "global", 6) == 0 || strncmp(h, "server", 6) == 0);
	if (looks_header) {
		error_at(ld, ld->lineno, "this indented line continues '%s'; a section header "
			 "must start at the beginning of the line", cont);
	} else if (looks_key) {
		v[id] = '\0';
		error_at(ld, ld->lineno, "this indented line continues '%s'; to set '%s', start "
			 "the line at its beginning", cont, v);
	} else if (ld->last >= 0 && *v != '\0') {
		struct buf *text = &s->vals[ld->last].text;
		buf_append_char(text, ' ');
		buf_append_str(text, v);
	}
	free(v);
}

static int handler(void *user, const char *unused_section, const char *name, const char *value)
{
	struct config_loader *ld = user;
	ld->handled = true;
	if (ld->kind == LINE_CONT) {
		continuation(ld, value);
		return 1;
	}
	ld->prev_name = true;
	key_line(ld, name, value);
	return 1;
}

/* ---- building the snapshot ------------------------------------------- */

static void value_error(struct config_loader *ld, int line, const struct config_key *k,
			const char *text, const struct buf *why)
{
	struct buf t = BUF_INIT;
	error_at(ld, line, "%s = '%s': %s", k->name, esc(&t, text), buf_str(why));
	buf_free(&t);
}

/*
 * Fills base from s (NULL: every key takes its default). When lines is not
 * NULL, lines[i] records where row i was set: its line, 0 when not set,
 * minus its line when its value was refused (config_tls_build's input).
 */
static void section_build(struct config_loader *ld, const struct raw_section *s,
			  enum config_scope scope, void *base, const char *label, int line,
			  int *lines)
{
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope != scope)
			continue;
		const struct raw_value *v = s != NULL ? &s->vals[i] : NULL;
		struct buf why = BUF_INIT, def = BUF_INIT;
		if (v != NULL && v->set) {
			bool ok = config_value_parse(k, buf_str(&v->text), base, &why) == 0;
			if (!ok)
				value_error(ld, v->line, k, buf_str(&v->text), &why);
			if (lines != NULL)
				lines[i] = ok ? v->line : -v->line;
		} else if (k->flags & CONFIG_KEY_REQUIRED) {
			error_at(ld, line, "%s has no '%s'; it is required", label, k->name);
		} else if (k->def_fn != NULL || k->def != NULL) {
			if (k->def_fn != NULL)
				k->def_fn(&def);
			else
				buf_append_str(&def, k->def);
			if (config_value_parse(k, buf_str(&def), base, &why) < 0) {
				struct buf t = BUF_INIT;
				error_at(ld, line, "%s sets no '%s' and the default, '%s', is not valid: "
					 "%s; set %s", label, k->name, esc(&t, buf_str(&def)),
					 buf_str(&why), k->name);
				buf_free(&t);
			}
		}
		buf_free(&why);
		buf_free(&def);
	}
}

static void config_free(struct config *c)
{
	for (size_t i = 0; i < c->nservers; i++) {
		struct config_server *srv = &c->servers[i];
		for (size_t k = 0; k < config_nkeys; k++)
			if (config_keys[k].scope == CONFIG_SCOPE_SERVER)
				config_value_free(&config_keys[k], srv);
		config_users_free(&srv->users_list);
		config_sender_login_free(&srv->sender_logins);
		SSL_CTX_free(srv->tls_ctx);
		srv->tls_ctx = NULL;
		auth_users_free(srv->auth_db);
		srv->auth_db = NULL;
		SSL_CTX_free(srv->outbound_tls_ctx);
		srv->outbound_tls_ctx = NULL;
		free(srv->smart_host_user);
		if (srv->smart_host_password != NULL)
			explicit_bzero(srv->smart_host_password, strlen(srv->smart_host_password));
		free(srv->smart_host_password);
		free(srv->name);
		free(srv->file);
	}
	console_accounts_free(c->global.console_db);
	SSL_CTX_free(c->global.console_tls_ctx);
	for (size_t k = 0; k < config_nkeys; k++)
		if (config_keys[k].scope == CONFIG_SCOPE_GLOBAL)
			config_value_free(&config_keys[k], &c->global);
	free(c->servers);
	free(c->path);
	free(c);
}

static bool addr_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static bool addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static unsigned short port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port;
	return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

/*
 * No two listeners may bind the same address and port. A wildcard
 * (0.0.0.0 or ::) takes the port on every address of its family; the
 * server module sets IPV6_V6ONLY, so the families do not clash.
 */
static void listeners_check(struct config_loader *ld, const struct config *c, const int *lines)
{
	for (size_t s = 0; s < c->nservers; s++) {
		const struct config_server *srv = &c->servers[s];
		for (size_t j = 0; j < srv->nlisten; j++) {
			const struct config_listen *l = &srv->listen[j];
			bool found = false;
			for (size_t s2 = 0; s2 <= s && !found; s2++) {
				const struct config_server *o = &c->servers[s2];
				size_t lim = s2 == s ? j : o->nlisten;
				for (size_t j2 = 0; j2 < lim && !found; j2++) {
					const struct config_listen *p = &o->listen[j2];
					if (p->addr.ss_family != l->addr.ss_family ||
					    port_of(&p->addr) != port_of(&l->addr))
						continue;
					found = true;
					if (addr_same(&p->addr, &l->addr) && s2 == s)
						error_at(ld, lines[s], "listen address %s is listed twice "
							 "in [server %s]", l->text, srv->name);
					else if (addr_same(&p->addr, &l->addr))
						error_at(ld, lines[s], "listen address %s of [server %s] "
							 "is already used by [server %s] at %s:%d",
							 l->text, srv->name, o->name, ld->path, lines[s2]);
					else if (addr_any(&p->addr) || addr_any(&l->addr))
						error_at(ld, lines[s], "listen address %s of [server %s] "
							 "overlaps %s of [server %s] at %s:%d (a wildcard "
							 "address takes the port on every address)",
							 l->text, srv->name, p->text, o->name, ld->path,
							 lines[s2]);
					else
						found = false;
				}
			}
		}
	}
}

/* Where row `name` was set in a server (see section_build), or section_line. */
static int key_line_of(const int *lines, const char *name, int section_line)
{
	int l = lines[config_key_find(name) - config_keys];
	return l != 0 ? abs(l) : section_line;
}

/* The users and sender_login files of srv; their bad lines are listed where each is named. */
static void server_files(struct config_loader *ld, struct config_server *srv, const int *lines)
{
	struct buf t = BUF_INIT, bad = BUF_INIT;
	unsigned nbad = 0;
	if (srv->users != NULL) {
		int line = key_line_of(lines, "users", srv->line);
		if (config_users_read(srv->users, &srv->users_list, &bad, &nbad) < 0) {
			int e = errno;
			error_at(ld, line, "users = '%s': cannot read: %s", esc(&t, srv->users),
				 strerror(e));
		}
		config_error_lines(ld, line, &bad, nbad);
		buf_reset(&bad);
	}
	if (srv->sender_login != NULL) {
		int line = key_line_of(lines, "sender_login", srv->line);
		if (config_sender_login_read(srv->sender_login, &srv->sender_logins, &bad, &nbad) < 0) {
			int e = errno;
			error_at(ld, line, "sender_login = '%s': cannot read: %s",
				 esc(&t, srv->sender_login), strerror(e));
		}
		config_error_lines(ld, line, &bad, nbad);
	}
	buf_free(&bad);
	buf_free(&t);
}

static struct config *config_build(struct config_loader *ld)
{
	struct config *c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	c->path = xstrdup(ld->path);
	const struct raw_section *g = section_find(ld, SECTION_GLOBAL, NULL);
	int *glines = xcalloc(config_nkeys, sizeof(*glines));
	section_build(ld, g, CONFIG_SCOPE_GLOBAL, &c->global, "[global]", g != NULL ? g->line : 0,
		      glines);

	size_t n = 0;
	for (size_t i = 0; i < ld->nsections; i++)
		n += ld->sections[i].kind == SECTION_SERVER;
	c->servers = xcalloc(n > 0 ? n : 1, sizeof(*c->servers));
	/* lines + j * config_nkeys: where each key of server j was set. */
	int *lines = xcalloc((n > 0 ? n : 1) * config_nkeys, sizeof(*lines));
	int *listen_lines = xcalloc(n > 0 ? n : 1, sizeof(*listen_lines));
	struct buf t = BUF_INIT;
	for (size_t i = 0; i < ld->nsections; i++) {
		const struct raw_section *s = &ld->sections[i];
		if (s->kind != SECTION_SERVER)
			continue;
		struct config_server *srv = &c->servers[c->nservers];
		int *kl = lines + c->nservers * config_nkeys;
		srv->name = xstrdup(s->name);
		srv->file = xstrdup(ld->path);
		srv->line = s->line;
		section_build(ld, s, CONFIG_SCOPE_SERVER, srv, section_label(&t, s), s->line, kl);
		listen_lines[c->nservers] = key_line_of(kl, "listen", s->line);
		c->nservers++;
	}
	if (c->nservers == 0)
		error_at(ld, 0, "no [server NAME] section: there is nothing to listen on");
	listeners_check(ld, c, listen_lines);

	for (size_t i = 0; i < c->nservers; i++) {
		server_files(ld, &c->servers[i], lines + i * config_nkeys);
		config_tls_build(ld, &c->servers[i], lines + i * config_nkeys, c->servers[i].line);
		config_outbound_build(ld, &c->servers[i], lines + i * config_nkeys, c->servers[i].line);
	}
	config_console_build(ld, c, glines);
	buf_free(&t);
	free(glines);
	free(lines);
	free(listen_lines);
	return c;
}

int config_load(const char *path, struct config **out, struct buf *errors)
{
	return config_load_as(path, path, out, errors);
}

int config_load_as(const char *path, const char *name, struct config **out, struct buf *errors)
{
	*out = NULL;
	struct config_loader ld = { .path = name, .cur = -1, .last = -1 };
	ld.f = fopen(path, "r");
	struct stat st;
	if (ld.f != NULL && fstat(fileno(ld.f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(ld.f);
		ld.f = NULL;
		errno = EISDIR;
	}
	if (ld.f == NULL) {
		buf_printf(errors, "%s: cannot open: %s\n", name, strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(reader, &ld, handler, &ld);
	fclose(ld.f);
	free(ld.buf);
	/* Every syntax error inih can see is also seen by the reader; this is a net. */
	if (rc != 0 && ld.nerrors == 0)
		error_at(&ld, rc > 0 ? rc : 0, "cannot parse the file");

	struct config *c = config_build(&ld);
	for (size_t i = 0; i < ld.nsections; i++) {
		for (size_t k = 0; k < config_nkeys; k++)
			buf_free(&ld.sections[i].vals[k].text);
		free(ld.sections[i].vals);
		free(ld.sections[i].name);
	}
	free(ld.sections);
	errors_flush(&ld, errors);
	if (ld.nerrors > 0) {
		config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

struct config *config_ref(struct config *c)
{
	if (c != NULL)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void config_unref(struct config *c)
{
	if (c != NULL && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(c);
}

const struct config_server *config_server_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nservers; i++)
		if (strcmp(c->servers[i].name, name) == 0)
			return &c->servers[i];
	return NULL;
}

static int cmp_domain(const void *key, const void *elem)
{
	return strcasecmp(key, *(char *const *)elem);
}

bool config_is_local_domain(const struct config_server *srv, const char *domain)
{
	return srv->nlocal_domains > 0 &&
	       bsearch(domain, srv->local_domains, srv->nlocal_domains, sizeof(char *), cmp_domain) != NULL;
}
