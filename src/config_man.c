/*
 * config_man.c — vsmtpd.conf(5): the configuration reference as a troff -man page.
 *
 * docs/vsmtpd.conf.5 is generated, never edited (build/config-doc man). Its text is
 * not written a second time: the page is config_write_reference() — docs/CONFIG.md,
 * driven by the key table of config_keys.c — translated from the small Markdown
 * subset that file uses (## headings, paragraphs, "- " lists, one key table per
 * section, indented and ``` code blocks, `code`, **bold**, *emphasis*), between a
 * NAME/SYNOPSIS head and a FILES/SEE ALSO tail that only a manual page has. So a key
 * added to the table or a sentence changed in the reference reaches both files; the
 * config unit tests fail when either committed file is stale.
 *
 * Each key table row becomes one .TP entry: the key in bold, its default, then the
 * meaning cell as the reference has it (doc, range, example). A Markdown construct
 * not listed above comes out as plain paragraph text, never as broken troff.
 *
 * Escaping (groff(7), groff_man(7)): '\' is written \e; no text line starts with '.'
 * or '\'' (\& goes first); '-' inside code and literal blocks is \- (a real minus,
 * so options and values copy-and-paste); characters outside ASCII are \[uXXXX], so
 * the page does not depend on the input encoding troff assumes.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "config_keys.h"

/* Where main.c looks without -c (its DEFAULT_CONFIG). */
#define MAN_CONFIG_PATH "/etc/vsmtpd/vsmtpd.conf"
/* An indented (code) line of the reference. */
#define MAN_CODE_INDENT "    "
#define MAN_CELLS 3	/* key | default | meaning */

/* How the reference's ## headings become .SH / .SS; others are .SH in capitals. */
struct man_heading {
	const char *md;
	const char *man;	/* NULL: the section is left out */
	bool sub;		/* .SS inside the section above */
};

static const struct man_heading man_headings[] = {
	{ "Format", "Format", true },
	{ "[global]", "[global] SECTION", false },
	{ "[server NAME]", "[server NAME] SECTIONS", false },
	{ "Two typical set-ups", "EXAMPLES", false },
	/* The example `make run` uses, with ./run paths: FILES names the installed copy. */
	{ "Example", NULL, false },
};

enum man_mode {
	MAN_INLINE,	/* Markdown inline markup is interpreted */
	MAN_LITERAL,	/* taken as is (code blocks) */
};

/* The translation of one piece of text: fonts open across its lines. */
struct man_text {
	struct buf *out;
	bool bol;	/* at the beginning of an output line */
	bool code, bold, em;
};

/* After a font run ends, the one still open outside it. */
static void man_font_restore(struct man_text *t)
{
	buf_append_str(t->out, t->em ? "\\fI" : t->bold ? "\\fB" : "\\fR");
}

/* One UTF-8 sequence at s (n bytes left) as \[uXXXX]; returns the bytes it used. */
static size_t man_utf8(struct buf *out, const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
	unsigned long cp = len == 4 ? s[0] & 0x07u : len == 3 ? s[0] & 0x0fu : s[0] & 0x1fu;
	if (len == 1 || len > n) {	/* a stray byte: shown, not passed to troff */
		buf_append_str(out, "\\[uFFFD]");
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0u) != 0x80u) {
			buf_append_str(out, "\\[uFFFD]");
			return i;
		}
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	buf_printf(out, "\\[u%04lX]", cp);
	return len;
}

/* Markup characters; returns the bytes of s it used, 0 when s[0] is not markup. */
static size_t man_markup(struct man_text *t, const char *s, size_t n)
{
	if (s[0] == '`') {
		t->code = !t->code;
		if (t->code)
			buf_append_str(t->out, "\\fB");
		else
			man_font_restore(t);
		return 1;
	}
	if (s[0] != '*' || t->code)
		return 0;
	bool *flag = n > 1 && s[1] == '*' ? &t->bold : &t->em;
	*flag = !*flag;
	if (*flag)
		buf_append_str(t->out, flag == &t->bold ? "\\fB" : "\\fI");
	else
		man_font_restore(t);
	return flag == &t->bold ? 2 : 1;
}

/* Appends s[0..n) translated; a '\n' in it starts a new output line. */
static void man_put(struct man_text *t, const char *s, size_t n, enum man_mode mode)
{
	for (size_t i = 0; i < n;) {
		char c = s[i];
		if (t->bol && (c == '.' || c == '\''))
			buf_append_str(t->out, "\\&");
		t->bol = c == '\n';
		size_t used = mode == MAN_INLINE ? man_markup(t, s + i, n - i) : 0;
		if (used > 0) {
			i += used;
			continue;
		}
		if (c == '\\' && mode == MAN_INLINE && i + 1 < n && s[i + 1] == '|') {
			buf_append_char(t->out, '|');	/* a Markdown table cell's escape */
			i += 2;
		} else if ((unsigned char)c >= 0x80) {
			i += man_utf8(t->out, (const unsigned char *)s + i, n - i);
		} else {
			if (c == '\\')
				buf_append_str(t->out, "\\e");
			else if (c == '-' && (t->code || mode == MAN_LITERAL))
				buf_append_str(t->out, "\\-");
			else
				buf_append_char(t->out, c);
			i++;
		}
	}
}

/* One self-contained piece of Markdown text, fonts closed at its end, then '\n'. */
static void man_inline(struct buf *out, const char *s, size_t n)
{
	struct man_text t = { .out = out, .bol = true };
	man_put(&t, s, n, MAN_INLINE);
	if (t.code || t.bold || t.em)
		buf_append_str(out, "\\fR");
	buf_append_char(out, '\n');
}

/* Lines of the reference, one at a time. */
struct man_lines {
	const char *p, *end;
};

static bool man_next_line(struct man_lines *ls, const char **line, size_t *len)
{
	if (ls->p >= ls->end)
		return false;
	const char *nl = memchr(ls->p, '\n', (size_t)(ls->end - ls->p));
	*line = ls->p;
	*len = nl != NULL ? (size_t)(nl - ls->p) : (size_t)(ls->end - ls->p);
	ls->p = nl != NULL ? nl + 1 : ls->end;
	return true;
}

/* The line after the current one starts with prefix. */
static bool man_peek_is(const struct man_lines *ls, const char *prefix)
{
	size_t n = strlen(prefix);
	return (size_t)(ls->end - ls->p) >= n && memcmp(ls->p, prefix, n) == 0;
}

static bool man_starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(line, prefix, n) == 0;
}

/* The page being written: a paragraph (or list item) is gathered, then flushed. */
struct man_page {
	struct buf *out;
	struct buf para;	/* its lines, leading blanks removed, joined by '\n' */
	bool item;		/* para is a "- " list item */
	bool headed;		/* nothing since the last heading: no .PP needed */
	bool skip;		/* inside a left-out section */
};

static void man_break(struct man_page *pg)
{
	if (!pg->headed)
		buf_append_str(pg->out, ".PP\n");
	pg->headed = false;
}

static void man_flush(struct man_page *pg)
{
	if (pg->para.len == 0)
		return;
	if (pg->item) {
		buf_append_str(pg->out, ".IP \\(bu 2\n");
		pg->headed = false;
	} else {
		man_break(pg);
	}
	man_inline(pg->out, pg->para.data, pg->para.len);
	buf_reset(&pg->para);
	pg->item = false;
}

static void man_heading(struct man_page *pg, const char *title, size_t len)
{
	const struct man_heading *h = NULL;
	for (size_t i = 0; i < sizeof(man_headings) / sizeof(man_headings[0]); i++)
		if (strlen(man_headings[i].md) == len && memcmp(man_headings[i].md, title, len) == 0)
			h = &man_headings[i];
	pg->skip = h != NULL && h->man == NULL;
	pg->headed = true;
	if (pg->skip)
		return;
	buf_append_str(pg->out, h != NULL && h->sub ? ".SS \"" : ".SH \"");
	struct buf text = BUF_INIT;
	if (h != NULL) {
		buf_append_str(&text, h->man);
	} else {
		for (size_t i = 0; i < len; i++)
			buf_append_char(&text, (char)toupper((unsigned char)title[i]));
	}
	struct man_text t = { .out = pg->out };
	man_put(&t, text.data, text.len, MAN_LITERAL);
	buf_append_str(pg->out, "\"\n");
	buf_free(&text);
}

/* A code block: lines taken as they are, in no-fill mode, indented. */
static void man_literal_begin(struct man_page *pg)
{
	man_break(pg);
	buf_append_str(pg->out, ".RS 4\n.nf\n");
}

static void man_literal_line(struct man_page *pg, const char *line, size_t len)
{
	struct man_text t = { .out = pg->out, .bol = true };
	man_put(&t, line, len, MAN_LITERAL);
	buf_append_char(pg->out, '\n');
}

static void man_literal_end(struct man_page *pg)
{
	buf_append_str(pg->out, ".fi\n.RE\n");
}

static void man_fenced(struct man_page *pg, struct man_lines *ls)
{
	const char *line;
	size_t len;
	man_literal_begin(pg);
	while (man_next_line(ls, &line, &len) && !man_starts(line, len, "```"))
		man_literal_line(pg, line, len);
	man_literal_end(pg);
}

static void man_indented(struct man_page *pg, struct man_lines *ls, const char *line, size_t len)
{
	size_t skip = strlen(MAN_CODE_INDENT);
	man_literal_begin(pg);
	man_literal_line(pg, line + skip, len - skip);
	while (man_peek_is(ls, MAN_CODE_INDENT) && man_next_line(ls, &line, &len))
		man_literal_line(pg, line + skip, len - skip);
	man_literal_end(pg);
}

/* Splits "| a | b | c |" at the '|' that cell() did not escape; returns the cell count. */
static size_t man_cells(const char *line, size_t len, const char **cell, size_t *cell_len, size_t max)
{
	size_t n = 0, start = 1;
	for (size_t i = 1; i < len; i++) {
		if (line[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (line[i] != '|')
			continue;
		size_t a = start, b = i;
		while (a < b && line[a] == ' ')
			a++;
		while (b > a && line[b - 1] == ' ')
			b--;
		if (n < max) {
			cell[n] = line + a;
			cell_len[n] = b - a;
		}
		n++;
		start = i + 1;
	}
	return n;
}

/* A key row: .TP, the key, "Default: ...", the meaning. The header row is dropped. */
static void man_table_row(struct man_page *pg, const struct man_lines *ls, const char *line, size_t len)
{
	const char *cell[MAN_CELLS];
	size_t cell_len[MAN_CELLS];
	if (man_starts(line, len, "|-") || man_peek_is(ls, "|-"))
		return;
	if (man_cells(line, len, cell, cell_len, MAN_CELLS) != MAN_CELLS) {
		man_break(pg);
		man_inline(pg->out, line, len);
		return;
	}
	buf_append_str(pg->out, ".TP\n");
	man_inline(pg->out, cell[0], cell_len[0]);
	buf_append_str(pg->out, "Default: ");
	struct man_text t = { .out = pg->out };
	man_put(&t, cell[1], cell_len[1], MAN_INLINE);
	buf_append_str(pg->out, t.code || t.bold || t.em ? "\\fR\n.br\n" : "\n.br\n");
	man_inline(pg->out, cell[2], cell_len[2]);
	pg->headed = false;
}

/* Text lines: a new list item, its continuation, or a paragraph line. */
static void man_text_line(struct man_page *pg, const char *line, size_t len)
{
	if (man_starts(line, len, "- ")) {
		man_flush(pg);
		pg->item = true;
		line += 2;
		len -= 2;
	}
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (pg->para.len > 0)
		buf_append_char(&pg->para, '\n');
	buf_append(&pg->para, line, len);
}

/* Skips the HTML comment starting at line. */
static void man_comment(struct man_lines *ls, const char *line, size_t len)
{
	while (memmem(line, len, "-->", 3) == NULL && man_next_line(ls, &line, &len))
		;
}

/* Skips a ``` block of a left-out section (its lines could look like headings). */
static void man_fenced_skip(struct man_lines *ls)
{
	const char *line;
	size_t len;
	while (man_next_line(ls, &line, &len) && !man_starts(line, len, "```"))
		;
}

/* A line that goes on the paragraph or list item being gathered. */
static bool man_continues(const char *line, size_t len)
{
	static const char *const other[] = { "#", "<!--", "```", MAN_CODE_INDENT, "|", "- " };
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (man_starts(line, len, other[i]))
			return false;
	return len > 0;
}

static void man_body(struct man_page *pg, const char *md, size_t md_len)
{
	struct man_lines ls = { md, md + md_len };
	const char *line;
	size_t len;
	while (man_next_line(&ls, &line, &len)) {
		if (!man_continues(line, len))
			man_flush(pg);
		if (man_starts(line, len, "## "))
			man_heading(pg, line + 3, len - 3);
		else if (man_starts(line, len, "<!--"))
			man_comment(&ls, line, len);
		else if (man_starts(line, len, "```") && pg->skip)
			man_fenced_skip(&ls);
		else if (pg->skip || len == 0 || man_starts(line, len, "# "))
			continue;	/* "# ": the title, which NAME says */
		else if (man_starts(line, len, "```"))
			man_fenced(pg, &ls);
		else if (man_starts(line, len, MAN_CODE_INDENT))
			man_indented(pg, &ls, line, len);
		else if (man_starts(line, len, "|"))
			man_table_row(pg, &ls, line, len);
		else
			man_text_line(pg, line, len);
	}
	man_flush(pg);
}

static void man_head(struct buf *out)
{
	buf_append_str(out,
		".\\\" vsmtpd.conf(5): generated by build/config-doc man from src/config_keys.c\n"
		".\\\" (the text of docs/CONFIG.md); do not edit by hand. Regenerate with: make docs\n"
		".TH VSMTPD.CONF 5 \"\" \"vsmtpd\" \"File Formats Manual\"\n"
		/* Key names, paths and values read badly hyphenated or spread out. */
		".nh\n"
		".ad l\n"
		".SH NAME\n"
		"vsmtpd.conf \\- configuration file of the vsmtpd SMTP server\n"
		".SH SYNOPSIS\n"
		".I " MAN_CONFIG_PATH "\n"
		".SH DESCRIPTION\n");
}

/* A FILES entry: a path and what it is. */
static void man_file(struct buf *out, const char *path, const char *what)
{
	buf_append_str(out, ".TP\n.I ");
	struct man_text t = { .out = out };
	man_put(&t, path, strlen(path), MAN_LITERAL);
	buf_append_char(out, '\n');
	man_inline(out, what, strlen(what));
}

/* A FILES entry for the default of a [global] path key (key names never change). */
static void man_key_file(struct buf *out, const char *key, const char *what)
{
	const struct config_key *k = config_key_find(key);
	if (k != NULL && k->def != NULL)
		man_file(out, k->def, what);
}

static void man_tail(struct buf *out)
{
	buf_append_str(out, ".SH FILES\n");
	man_file(out, MAN_CONFIG_PATH, "The configuration `vsmtpd` reads when `-c` names no other.");
	man_file(out, MAN_CONFIG_PATH ".example",
		 "An annotated example, installed by `make install`; its relative paths are those of "
		 "`make run` in the source tree.");
	man_key_file(out, "spool", "The default spool (`spool`): queued messages.");
	man_key_file(out, "control", "The default control socket (`control`).");
	buf_append_str(out,
		".SH SEE ALSO\n"
		".BR vsmtpd (8),\n"
		".BR vsmtpctl (8),\n"
		".BR vsmtpd\\-sendmail (8),\n"
		".BR crypt (5)\n");
}

void config_write_man(struct buf *out)
{
	struct buf md = BUF_INIT;
	config_write_reference(&md);
	struct man_page pg = { .out = out, .headed = true };
	man_head(out);
	man_body(&pg, md.data, md.len);
	man_tail(out);
	buf_free(&pg.para);
	buf_free(&md);
}
