/*
 * config_edit.c — changing settings in the text of a config file (see config_edit.h).
 *
 * Owns nothing but the text it is given: pure, no I/O, any thread. Each
 * edit scans the current text into lines, classified as the loader sees
 * them, then writes the text again with the key's lines replaced, dropped
 * or added. The classification mirrors config.c's reader (NUL bytes and
 * overlong lines are refused and read as blank; a BOM on line 1 is
 * skipped; one CR before the LF is part of the line end) and inih 55
 * (a comment starts with ';' or '#' after blanks; an indented line
 * continues the last setting once a setting has been read since the last
 * valid section header; a header ends at the first ']' unless a " ;"
 * comment comes first; a setting is split at the first '=' or ':'; an
 * inline comment is a ';' after a blank). Whether the result is a valid
 * configuration is not decided here: the caller loads it (config_load).
 *
 * Invariant: the only lines written differently are the edited key's own
 * lines (its setting lines and their continuation lines) in the section,
 * and the line end of a last line that a new line now follows.
 *
 * Errors: -1 with a sentence in *why, the output untouched.
 */
#include "config_edit.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

#define EDIT_BOM "\xEF\xBB\xBF"
/* What starts a continuation line we write. */
#define EDIT_CONT_INDENT "\t"

enum edit_kind {
	EDIT_BLANK,		/* blank or comment: the loader ignores it */
	EDIT_REFUSED,		/* NUL byte or too long: read as blank, reported by the loader */
	EDIT_HEADER,		/* a section header with its ']' */
	EDIT_BAD_HEADER,	/* "[" without ']': ends the section before it, starts none */
	EDIT_KEY,		/* key = value */
	EDIT_BAD_KEY,		/* neither of the above nor blank: a syntax error */
	EDIT_CONT,		/* indented, after a setting: continues it */
};

struct edit_line {
	size_t off;		/* where the line starts in the text */
	size_t body;		/* bytes of BOM before its content (line 1 only) */
	size_t clen;		/* content bytes after the BOM, line end excluded */
	size_t eol;		/* line end bytes: "\n", "\r\n", "\r" at the end, or none */
	enum edit_kind kind;
	bool ends_section;	/* a header of any kind, or a refused line starting with '[' */
	bool target;		/* EDIT_HEADER: it names the section edited */
	size_t key, klen;	/* EDIT_KEY: the key name within the content */
	size_t delim;		/* EDIT_KEY: the '=' or ':' within the content */
	long owner;		/* EDIT_CONT: the setting line it continues, or -1 */
};

/* The section asked for: "server NAME" -> kind "server", name "NAME". */
struct edit_target {
	const char *kind, *name;
	size_t kind_len, name_len;
};

/* inih's find_chars_or_comment(): the first of chars, or a ';' after a blank, or the end. */
static size_t find_or_comment(const char *s, size_t from, size_t len, const char *chars)
{
	bool was_space = false;
	size_t i = from;
	for (; i < len && strchr(chars, s[i]) == NULL && !(was_space && s[i] == ';'); i++)
		was_space = isspace((unsigned char)s[i]);
	return i;
}

static size_t skip_space(const char *s, size_t i, size_t len)
{
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	return i;
}

static size_t trim_space(const char *s, size_t from, size_t end)
{
	while (end > from && isspace((unsigned char)s[end - 1]))
		end--;
	return end;
}

/* config.c's header_end() and section_header(): does "[...]" at c[p..len) name t? */
static bool header_names(const char *c, size_t p, size_t end, const struct edit_target *t)
{
	size_t k = p + 1;
	while (k < end && (c[k] == ' ' || c[k] == '\t'))
		k++;
	size_t klen = 0;
	while (k + klen < end && c[k + klen] != ' ' && c[k + klen] != '\t')
		klen++;
	size_t n = k + klen;
	while (n < end && (c[n] == ' ' || c[n] == '\t'))
		n++;
	size_t nend = trim_space(c, n, end);
	return klen == t->kind_len && memcmp(c + k, t->kind, klen) == 0 && nend - n == t->name_len &&
	       memcmp(c + n, t->name, t->name_len) == 0;
}

/*
 * Classifies one line's content c[0..clen) (no NUL in it), given whether a
 * setting was read since the last valid header (inih's prev_name).
 */
static void classify(struct edit_line *l, const char *c, bool *prev_name, const struct edit_target *t,
		     bool *found)
{
	size_t p = skip_space(c, 0, l->clen);
	if (p == l->clen || c[p] == ';' || c[p] == '#') {
		l->kind = EDIT_BLANK;
	} else if (p > 0 && *prev_name) {
		l->kind = EDIT_CONT;
	} else if (c[p] == '[') {
		size_t end = find_or_comment(c, p + 1, l->clen, "]");
		l->ends_section = true;
		if (end == l->clen || c[end] != ']') {
			l->kind = EDIT_BAD_HEADER;
			return;
		}
		l->kind = EDIT_HEADER;
		*prev_name = false;
		l->target = !*found && header_names(c, p, end, t);
		*found = *found || l->target;
	} else {
		size_t end = find_or_comment(c, p, l->clen, "=:");
		if (end == l->clen || (c[end] != '=' && c[end] != ':')) {
			l->kind = EDIT_BAD_KEY;
			return;
		}
		l->kind = EDIT_KEY;
		l->key = p;
		l->klen = trim_space(c, p, end) - p;
		l->delim = end;
		*prev_name = true;
	}
}

/* Splits text into lines and classifies them; *found: the target header is there. */
static size_t scan(const char *text, size_t len, const struct edit_target *t, struct edit_line **out,
		   bool *found)
{
	size_t n = 0, cap = 16;
	struct edit_line *lines = xmalloc(cap * sizeof(*lines));
	bool prev_name = false;
	long last_key = -1;
	*found = false;
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t raw = nl != NULL ? (size_t)(nl - (text + off)) + 1 : len - off;
		if (n == cap)
			lines = xrealloc(lines, (cap *= 2) * sizeof(*lines));
		struct edit_line *l = &lines[n];
		memset(l, 0, sizeof(*l));
		l->off = off;
		l->owner = -1;
		const char *s = text + off;
		size_t clen = raw;
		if (clen > 0 && s[clen - 1] == '\n')
			clen--;
		if (clen > 0 && s[clen - 1] == '\r')
			clen--;
		l->eol = raw - clen;
		if (n == 0 && clen >= 3 && memcmp(s, EDIT_BOM, 3) == 0)
			l->body = 3;
		l->clen = clen - l->body;
		const char *c = s + l->body;
		bool nul = memchr(s, '\0', raw) != NULL;
		if (nul || l->clen > CONFIG_EDIT_LINE_MAX) {
			/* as config.c's line_reject(): a refused header still ends the section */
			const char *from = nul ? s : c;
			size_t lim = nul ? raw : l->clen;
			size_t p = 0;
			while (p < lim && (from[p] == ' ' || from[p] == '\t'))
				p++;
			l->kind = EDIT_REFUSED;
			l->ends_section = p < lim && from[p] == '[';
		} else {
			classify(l, c, &prev_name, t, found);
		}
		if (l->ends_section)
			last_key = -1;
		else if (l->kind == EDIT_KEY)
			last_key = (long)n;
		else if (l->kind == EDIT_CONT)
			l->owner = last_key;
		n++;
		off += raw;
	}
	*out = lines;
	return n;
}

/* ---- writing ------------------------------------------------------------ */

static const char *line_text(const char *text, const struct edit_line *l)
{
	return text + l->off + l->body;
}

/* A piece of a split value may not start what the loader would read otherwise. */
static bool piece_ok(const char *v, size_t len)
{
	if (v[0] == '#' || v[0] == ';' || v[0] == '[')
		return false;
	size_t id = 0;
	while (id < len && (islower((unsigned char)v[id]) || isdigit((unsigned char)v[id]) || v[id] == '_'))
		id++;
	size_t after = id;
	while (after < len && (v[after] == ' ' || v[after] == '\t'))
		after++;
	return id == 0 || after == len || (v[after] != '=' && v[after] != ':');
}

/* Can the value be cut at v[i] (a space), the rest going on the next line? */
static bool cut_ok(const char *v, size_t len, size_t i)
{
	return v[i] == ' ' && i > 0 && i + 1 < len && !isspace((unsigned char)v[i - 1]) &&
	       !isspace((unsigned char)v[i + 1]) && piece_ok(v + i + 1, len - i - 1);
}

/*
 * Writes a setting line: head (everything before the value), the value,
 * tail (blanks and inline comment after it); the value continues on
 * indented lines when the line would be too long. Lines are separated by
 * eol; the last one ends with last_eol.
 */
static void write_setting(struct buf *out, const char *head, size_t hlen, const char *v, const char *tail,
			  size_t tlen, const char *eol, const char *last_eol)
{
	size_t vlen = strlen(v);
	size_t room = hlen + tlen < CONFIG_EDIT_LINE_MAX ? CONFIG_EDIT_LINE_MAX - hlen - tlen : 0;
	size_t from = 0;
	bool first = true;
	for (;;) {
		size_t end = vlen;
		if (vlen - from > room) {
			/* the last cut that fits, else the first one there is */
			size_t cut = 0;
			for (size_t i = from + 1; i < vlen; i++) {
				if (!cut_ok(v, vlen, i))
					continue;
				if (i - from > room && cut != 0)
					break;
				cut = i;
				if (i - from > room)
					break;
			}
			if (cut != 0)
				end = cut;
		}
		if (first)
			buf_append(out, head, hlen);
		else
			buf_append_str(out, EDIT_CONT_INDENT);
		buf_append(out, v + from, end - from);
		if (first)
			buf_append(out, tail, tlen);
		if (end == vlen) {
			buf_append_str(out, last_eol);
			return;
		}
		buf_append_str(out, eol);
		from = end + 1;
		first = false;
		room = CONFIG_EDIT_LINE_MAX - strlen(EDIT_CONT_INDENT);
	}
}

/* The existing setting line l with value v: its head and tail kept. */
static void write_replaced(struct buf *out, const char *text, const struct edit_line *l, const char *v,
			   const char *eol, const char *last_eol)
{
	const char *c = line_text(text, l);
	size_t vstart = l->delim + 1;
	size_t cmt = find_or_comment(c, vstart, l->clen, "");
	size_t v1 = trim_space(c, vstart, cmt);
	size_t v0 = skip_space(c, vstart, v1);
	struct buf head = BUF_INIT, tail = BUF_INIT;
	buf_append(&head, text + l->off, l->body + v0);
	if (v0 == v1) {
		/* no old value: keep one blank of those after the delimiter, or add one as before it */
		bool blank_after = vstart < cmt && isspace((unsigned char)c[vstart]);
		if (blank_after)
			buf_append_char(&head, c[vstart]);
		else if (v[0] != '\0' && l->delim > 0 && isspace((unsigned char)c[l->delim - 1]))
			buf_append_char(&head, ' ');
		v1 = vstart + blank_after;
	}
	buf_append(&tail, c + v1, l->clen - v1);
	if (v[0] == '\0') {
		/* an empty value: no blank left dangling, one kept before a comment */
		struct buf h2 = BUF_INIT;
		buf_append(&h2, head.data, trim_space(head.data, 0, head.len));
		size_t t0 = skip_space(buf_str(&tail), 0, tail.len);
		if (t0 < tail.len)
			buf_append_char(&h2, ' ');
		buf_consume(&tail, t0);
		buf_free(&head);
		head = h2;
	} else if (tail.len > 0 && tail.data[0] == ';') {
		/* a comment needs a blank before it */
		struct buf t2 = BUF_INIT;
		buf_append_char(&t2, ' ');
		buf_append(&t2, tail.data, tail.len);
		buf_free(&tail);
		tail = t2;
	}
	write_setting(out, head.data, head.len, v, buf_str(&tail), tail.len, eol, last_eol);
	buf_free(&head);
	buf_free(&tail);
}

/* A new "key = value" line. */
static void write_added(struct buf *out, const char *key, const char *v, const char *eol, const char *last_eol)
{
	struct buf head = BUF_INIT;
	buf_printf(&head, v[0] != '\0' ? "%s = " : "%s =", key);
	write_setting(out, head.data, head.len, v, "", 0, eol, last_eol);
	buf_free(&head);
}

/* ---- one edit ----------------------------------------------------------- */

/* The line end new lines get: the first line's, else "\n". */
static const char *file_eol(const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);
	return nl != NULL && nl > text && nl[-1] == '\r' ? "\r\n" : "\n";
}

static bool key_is(const char *text, const struct edit_line *l, const char *key)
{
	return l->kind == EDIT_KEY && l->klen == strlen(key) &&
	       memcmp(line_text(text, l) + l->key, key, l->klen) == 0;
}

static void eol_of(const char *text, const struct edit_line *l, char out[3])
{
	memcpy(out, text + l->off + l->body + l->clen, l->eol);
	out[l->eol] = '\0';
}

/* Does the line end with a line break the reader sees ("\n")? A last "\r" alone is not one. */
static bool ends_in_lf(const char *text, const struct edit_line *l)
{
	return l->eol > 0 && text[l->off + l->body + l->clen + l->eol - 1] == '\n';
}

static bool indented(const char *text, const struct edit_line *l)
{
	return l->clen > 0 && isspace((unsigned char)line_text(text, l)[0]);
}

static int edit_one(const char *name, const char *text, size_t len, const struct edit_target *t,
		    const char *label, const char *key, const char *value, struct buf *out, struct buf *why)
{
	struct edit_line *lines;
	bool found;
	size_t n = scan(text, len, t, &lines, &found);
	if (!found) {
		buf_printf(why, "%s: no [%s] section", name, label);
		free(lines);
		return -1;
	}
	size_t h = 0;
	while (!lines[h].target)
		h++;
	size_t e = h + 1;
	while (e < n && !lines[e].ends_section)
		e++;

	/* the key's setting lines in the section (first: the one kept), and where a new one goes */
	long first = -1;
	size_t last = h;
	for (size_t i = h + 1; i < e; i++) {
		if (first < 0 && value != NULL && key_is(text, &lines[i], key))
			first = (long)i;
		if (lines[i].kind == EDIT_KEY || lines[i].kind == EDIT_CONT || lines[i].kind == EDIT_BAD_KEY)
			last = i;
	}
	if (value != NULL && first < 0 && e < n && lines[e].kind != EDIT_REFUSED && indented(text, &lines[e])) {
		buf_printf(why, "%s:%zu: this section header is indented: a setting added above it "
			   "would make it a continuation line; start the header at the beginning of the line",
			   name, e + 1);
		free(lines);
		return -1;
	}

	const char *eol = file_eol(text, len);
	for (size_t i = 0; i < n; i++) {
		const struct edit_line *l = &lines[i];
		bool in = i > h && i < e;
		bool mine = in && (key_is(text, l, key) ||
				   (l->kind == EDIT_CONT && l->owner >= 0 && key_is(text, &lines[l->owner], key)));
		char own_eol[3];
		eol_of(text, l, own_eol);
		if ((long)i == first)
			write_replaced(out, text, l, value, eol, own_eol);
		else if (!mine)
			buf_append(out, text + l->off, l->body + l->clen + l->eol);
		if (value != NULL && first < 0 && i == last) {
			bool lf = ends_in_lf(text, l);
			if (!lf)
				buf_append_str(out, eol);
			write_added(out, key, value, eol, lf ? eol : "");
		}
	}
	free(lines);
	return 0;
}

/* ---- checks ------------------------------------------------------------- */

static bool key_ok(const char *key)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	return key[0] != '\0' && strspn(key, ok) == strlen(key);
}

/* The value as it will be written (blanks trimmed), or NULL with *why set. Caller frees. */
static char *value_clean(const char *key, const char *value, struct buf *why)
{
	size_t from = skip_space(value, 0, strlen(value));
	size_t to = trim_space(value, from, strlen(value));
	for (size_t i = from; i < to; i++) {
		if (value[i] == '\n' || value[i] == '\r') {
			buf_printf(why, "the value of %s has a line break; a value is one line", key);
			return NULL;
		}
		if (value[i] == ';' && (i == from || isspace((unsigned char)value[i - 1]))) {
			buf_printf(why, "the value of %s has a ';' %s, which would start a comment", key,
				   i == from ? "at its start" : "after a blank");
			return NULL;
		}
	}
	return xstrndup(value + from, to - from);
}

static int target_parse(const char *section, struct edit_target *t)
{
	const char *k = section + strspn(section, " \t");
	t->kind = k;
	t->kind_len = strcspn(k, " \t");
	t->name = k + t->kind_len + strspn(k + t->kind_len, " \t");
	t->name_len = trim_space(t->name, 0, strlen(t->name));
	return t->kind_len > 0 && memchr(t->name, ' ', t->name_len) == NULL &&
			       memchr(t->name, '\t', t->name_len) == NULL ? 0 : -1;
}

int config_edit_apply(const char *name, const char *text, size_t len, const char *section,
		      struct config_edit *edits, size_t nedits, struct buf *out, struct buf *why)
{
	struct edit_target t;
	if (target_parse(section, &t) < 0) {
		buf_printf(why, "bad section name '%s'", section);
		return -1;
	}
	struct buf label = BUF_INIT, cur = BUF_INIT, next = BUF_INIT;
	buf_append(&label, t.kind, t.kind_len);
	if (t.name_len > 0) {
		buf_append_char(&label, ' ');
		buf_append(&label, t.name, t.name_len);
	}
	buf_append(&cur, text, len);
	int rc = 0;
	for (size_t i = 0; i < nedits && rc == 0; i++) {
		char *v = NULL;
		if (!key_ok(edits[i].key)) {
			buf_printf(why, "bad key name '%s'", edits[i].key);
			rc = -1;
		} else if (edits[i].value != NULL && (v = value_clean(edits[i].key, edits[i].value, why)) == NULL) {
			rc = -1;
		} else {
			buf_reset(&next);
			buf_append(&next, "", 0);
			rc = edit_one(name, buf_str(&cur), cur.len, &t, buf_str(&label), edits[i].key, v, &next,
				      why);
		}
		if (rc == 0) {
			edits[i].changed = next.len != cur.len ||
					   (cur.len > 0 && memcmp(next.data, cur.data, cur.len) != 0);
			struct buf swap = cur;
			cur = next;
			next = swap;
		}
		free(v);
	}
	if (rc == 0)
		buf_append(out, buf_str(&cur), cur.len);
	buf_free(&label);
	buf_free(&cur);
	buf_free(&next);
	return rc;
}
