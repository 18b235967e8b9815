/*
 * addrlist.c — PURE RFC 5322 address-list parsing (see addrlist.h).
 *
 * Owns nothing. A lexer turns the value into tokens (atoms, quoted strings,
 * domain literals, single specials), skipping blanks, folds and comments;
 * a recursive-descent parser with one token of lookahead walks the
 * address-list grammar. A mailbox without "<" is ambiguous until its end
 * ("John Doe <a@b>" and "john.doe@b" both start with words), so its words
 * are scanned once to see what follows them, then read again as an
 * addr-spec when no "<" or ":" came: at most two passes over a phrase, so
 * time stays linear. The whole value is parsed once without calling back
 * (to refuse a bad list before anything is handed out) and once more to
 * hand out the addresses. No recursion deeper than one group.
 * Errors: -1 for any syntax error; no partial results.
 */
#include "addrlist.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

enum tok {
	TOK_END,
	TOK_ATOM,	/* 1*atext (RFC 5322 3.2.3), UTF-8 octets included (RFC 6532) */
	TOK_QSTRING,	/* "..." with its quotes */
	TOK_DLITERAL,	/* [...] with its brackets */
	TOK_SPECIAL,	/* one of < > : ; @ , . */
	TOK_ERROR,	/* anything that cannot start a token, an unclosed construct, a NUL */
};

struct token {
	enum tok type;
	size_t start, end;	/* the token's text: value[start..end) */
	char c;			/* TOK_SPECIAL: which one */
};

struct parser {
	const unsigned char *s;
	size_t len, pos;	/* the lexer's position: just past the last token taken */
	bool emit;		/* second pass: call fn */
	void (*fn)(void *arg, const char *addr);
	void *arg;
	int count;
	char out[ADDRLIST_ADDR_MAX + 1];	/* the address being assembled */
	size_t outlen;
	bool overflow;
};

static bool is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;	/* RFC 6532 3.2: UTF8-non-ascii */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skips blanks, folds and (nested) comments from i; returns the new index,
 * or len + 1 for an unclosed comment or a NUL inside one. */
static size_t skip_cfws(const unsigned char *s, size_t len, size_t i)
{
	while (i < len) {
		if (is_blank(s[i])) {
			i++;
			continue;
		}
		if (s[i] != '(')
			return i;
		size_t depth = 0;
		do {
			unsigned char c = s[i++];
			if (c == '\0')
				return len + 1;
			if (c == '\\') {
				if (i >= len || s[i] == '\0')
					return len + 1;
				i++;
			} else if (c == '(') {
				depth++;
			} else if (c == ')') {
				depth--;
			}
		} while (depth > 0 && i < len);
		if (depth > 0)
			return len + 1;
	}
	return i;
}

/* The end of a quoted string or domain literal opened at s[i], closed by
 * `close`; 0 when it is not closed or holds a NUL or a nested `open`, or a
 * quoted-pair of CR or LF (RFC 5322 4.1 obs-qp): out_token() drops folds,
 * which would leave the backslash escaping the closing quote. */
static size_t scan_quoted(const unsigned char *s, size_t len, size_t i, unsigned char open,
			  unsigned char close)
{
	for (i++; i < len; i++) {
		unsigned char c = s[i];
		if (c == '\0' || (open != close && c == open))
			return 0;
		if (c == close)
			return i + 1;
		if (c == '\\') {
			if (i + 1 >= len || s[i + 1] == '\0' || s[i + 1] == '\r' || s[i + 1] == '\n')
				return 0;
			i++;
		}
	}
	return 0;
}

/* The token at the lexer's position, without taking it. */
static struct token peek(const struct parser *p)
{
	struct token t = { .type = TOK_ERROR };
	size_t i = skip_cfws(p->s, p->len, p->pos);
	if (i > p->len)
		return t;
	t.start = i;
	if (i == p->len) {
		t.type = TOK_END;
		t.end = i;
		return t;
	}
	unsigned char c = p->s[i];
	if (c == '"' || c == '[') {
		size_t end = scan_quoted(p->s, p->len, i, c, c == '"' ? '"' : ']');
		if (end == 0)
			return t;
		t.type = c == '"' ? TOK_QSTRING : TOK_DLITERAL;
		t.end = end;
	} else if (is_atext(c)) {
		size_t end = i;
		while (end < p->len && is_atext(p->s[end]))
			end++;
		t.type = TOK_ATOM;
		t.end = end;
	} else if (c != '\0' && strchr("<>:;@,.", c) != NULL) {
		t.type = TOK_SPECIAL;
		t.c = (char)c;
		t.end = i + 1;
	}
	return t;	/* anything else (")", "]", "\", a control octet) is TOK_ERROR */
}

static void take(struct parser *p, const struct token *t)
{
	p->pos = t->end;
}

static bool is_special(const struct token *t, char c)
{
	return t->type == TOK_SPECIAL && t->c == c;
}

static bool is_word(const struct token *t)
{
	return t->type == TOK_ATOM || t->type == TOK_QSTRING;
}

/* Appends a token's text; folds (CR, LF) inside a quoted string are dropped. */
static void out_token(struct parser *p, const struct token *t)
{
	for (size_t i = t->start; i < t->end; i++) {
		unsigned char c = p->s[i];
		if (c == '\r' || c == '\n')
			continue;
		if (p->outlen >= ADDRLIST_ADDR_MAX) {
			p->overflow = true;
			return;
		}
		p->out[p->outlen++] = (char)c;
	}
}

static void out_char(struct parser *p, char c)
{
	if (p->outlen >= ADDRLIST_ADDR_MAX) {
		p->overflow = true;
		return;
	}
	p->out[p->outlen++] = c;
}

/* domain = dot-atom / domain-literal (obs-domain: CFWS around the dots). */
static int parse_domain(struct parser *p)
{
	struct token t = peek(p);
	if (t.type == TOK_DLITERAL) {
		take(p, &t);
		out_token(p, &t);
		return 0;
	}
	for (;;) {
		if (t.type != TOK_ATOM)
			return -1;
		take(p, &t);
		out_token(p, &t);
		t = peek(p);
		if (!is_special(&t, '.'))
			return 0;
		take(p, &t);
		out_char(p, '.');
		t = peek(p);
	}
}

/* local-part = word *("." word) (obs-local-part), then "@" domain or nothing. */
static int parse_addr_spec(struct parser *p)
{
	p->outlen = 0;
	p->overflow = false;
	struct token t = peek(p);
	for (;;) {
		if (!is_word(&t))
			return -1;
		take(p, &t);
		out_token(p, &t);
		t = peek(p);
		if (!is_special(&t, '.'))
			break;
		take(p, &t);
		out_char(p, '.');
		t = peek(p);
	}
	if (is_special(&t, '@')) {
		take(p, &t);
		out_char(p, '@');
		if (parse_domain(p) < 0)
			return -1;
	}
	return 0;
}

/* The address just assembled is complete: check its length, hand it out. */
static int emit(struct parser *p)
{
	if (p->overflow)
		return -1;
	if (p->count == INT_MAX)
		return -1;
	p->out[p->outlen] = '\0';
	p->count++;
	if (p->emit && p->fn != NULL)
		p->fn(p->arg, p->out);
	return 0;
}

/* obs-route = obs-domain-list ":" (RFC 5322 4.4), after "<": parsed, dropped. */
static int parse_route(struct parser *p)
{
	struct token t = peek(p);
	for (;;) {
		if (!is_special(&t, '@'))
			return -1;
		take(p, &t);
		if (parse_domain(p) < 0)
			return -1;
		t = peek(p);
		while (is_special(&t, ',')) {
			take(p, &t);
			t = peek(p);
		}
		if (is_special(&t, ':')) {
			take(p, &t);
			return 0;
		}
	}
}

/* angle-addr after its "<": [obs-route] addr-spec ">". */
static int parse_angle(struct parser *p)
{
	struct token t = peek(p);
	if (is_special(&t, '@') && parse_route(p) < 0)
		return -1;
	if (parse_addr_spec(p) < 0)
		return -1;
	t = peek(p);
	if (!is_special(&t, '>'))
		return -1;
	take(p, &t);
	return emit(p);
}

static int parse_address(struct parser *p, bool in_group);

/* group after its ":": [group-list] ";" — mailboxes or empty elements. */
static int parse_group(struct parser *p)
{
	for (;;) {
		struct token t = peek(p);
		if (is_special(&t, ';')) {
			take(p, &t);
			return 0;
		}
		if (is_special(&t, ',')) {
			take(p, &t);
			continue;
		}
		if (t.type == TOK_END || parse_address(p, true) < 0)
			return -1;
		t = peek(p);
		if (!is_special(&t, ',') && !is_special(&t, ';'))
			return -1;
	}
}

/*
 * address = mailbox / group. Scans the leading words and dots (a display
 * name or a local part) and decides by what follows them.
 */
static int parse_address(struct parser *p, bool in_group)
{
	size_t start = p->pos;
	size_t words = 0, tokens = 0;
	bool first_is_word = false;
	struct token t = peek(p);
	while (is_word(&t) || is_special(&t, '.')) {
		if (tokens++ == 0)
			first_is_word = is_word(&t);
		if (is_word(&t))
			words++;
		take(p, &t);
		t = peek(p);
	}
	if (is_special(&t, '<')) {
		if (tokens > 0 && !first_is_word)
			return -1;	/* a display name is a phrase: it starts with a word */
		take(p, &t);
		return parse_angle(p);
	}
	if (is_special(&t, ':')) {
		if (in_group || words == 0 || !first_is_word)
			return -1;
		take(p, &t);
		return parse_group(p);
	}
	/* an addr-spec, or a bare local part: read the words again as one */
	p->pos = start;
	if (parse_addr_spec(p) < 0)
		return -1;
	return emit(p);
}

/* address-list, with obs-addr-list's empty elements. */
static int parse_list(struct parser *p)
{
	for (;;) {
		struct token t = peek(p);
		if (t.type == TOK_END)
			return 0;
		if (is_special(&t, ',')) {
			take(p, &t);
			continue;
		}
		if (parse_address(p, false) < 0)
			return -1;
		t = peek(p);
		if (t.type == TOK_END)
			return 0;
		if (!is_special(&t, ','))
			return -1;
	}
}

static int addrlist_pass(const char *value, size_t len, bool emit_now,
			 void (*fn)(void *arg, const char *addr), void *arg)
{
	struct parser p = {
		.s = (const unsigned char *)value, .len = len, .emit = emit_now, .fn = fn, .arg = arg,
	};
	if (parse_list(&p) < 0)
		return -1;
	return p.count;
}

int addrlist_parse(const char *value, size_t len, void (*fn)(void *arg, const char *addr), void *arg)
{
	if (value == NULL)
		return len == 0 ? 0 : -1;
	int n = addrlist_pass(value, len, false, NULL, NULL);
	if (n <= 0 || fn == NULL)
		return n;
	return addrlist_pass(value, len, true, fn, arg);
}
