/*
 * address.c — RFC 5321 path and mailbox parsing and canonical form.
 *
 * Owns no state: every function works on the bytes it is given and on the
 * caller's struct mailbox, so it may run on any thread. It does not decide
 * what an address means (local or remote, known user, relay allowed): that
 * is policy.c, which relies on the canonical form built here.
 *
 * Invariants: a successful parse leaves a local part of at most
 * ADDRESS_LOCAL_MAX octets in canonical form (unquoted when the content is
 * a dot-string, else quoted with only '"' and '\' escaped) and a lower-cased
 * domain of at most ADDRESS_DOMAIN_MAX octets without a root dot. Nothing the
 * client wrote is interpreted as routing: "%", "!" and quoted "@" stay in
 * the local part; a source route is checked and dropped, never followed.
 *
 * Errors: the parser walks the input once with a cursor; a syntax or UTF-8
 * problem returns at once, while a length overrun is only noted and reported
 * after the whole path proved well-formed, so "too long" always means "would
 * be fine if shorter".
 *
 * RFCs: 5321 4.1.2 (Path, Mailbox, Local-part, Domain, address-literal),
 * 4.1.3 (address literals), 4.5.3.1 (limits), Appendix C (source routes);
 * 6531 3.3 (UTF-8 in local parts and domains); 3629 4 (well-formed UTF-8).
 */
#include "address.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/* The longest text inside "[IPv6:...]" inet_pton can accept (RFC 4291 2.2). */
#define ADDRESS_IPV6_TEXT_MAX 45
/* Up to three decimal digits in one IPv4 literal octet (RFC 5321 4.1.3 Snum). */
#define ADDRESS_SNUM_DIGITS 3

struct cursor {
	const char *s;
	size_t len;
	size_t i;
	unsigned flags;
	bool too_long;		/* a limit was passed; reported after the syntax */
};

/* A bounded writer: counts everything, stores what fits (plus a NUL). */
struct sink {
	char *p;
	size_t cap;
	size_t n;
};

static void sink_put(struct sink *k, const char *src, size_t n)
{
	if (k->n + n < k->cap)
		memcpy(k->p + k->n, src, n);
	k->n += n;
	if (k->n < k->cap)
		k->p[k->n] = '\0';
}

static void sink_putc(struct sink *k, char c)
{
	sink_put(k, &c, 1);
}

/* One IPv4 octet in plain decimal, without leading zeros. */
static void sink_put_octet(struct sink *k, unsigned v)
{
	if (v >= 100)
		sink_putc(k, (char)('0' + v / 100));
	if (v >= 10)
		sink_putc(k, (char)('0' + v / 10 % 10));
	sink_putc(k, (char)('0' + v % 10));
}

static bool sink_fits(const struct sink *k)
{
	return k->n < k->cap;
}

static int peek(const struct cursor *c)
{
	return c->i < c->len ? (unsigned char)c->s[c->i] : -1;
}

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629 4) for one non-ASCII
 * character at p[0..n), or 0. Overlongs, surrogates and code points above
 * U+10FFFF are refused by the second-byte ranges; C1 controls (U+0080..
 * U+009F) too, as no address has a use for them.
 */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;

	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		need = 2;
	else if (p[0] == 0xE0) {
		need = 3;
		lo = 0xA0;
	} else if (p[0] == 0xED) {
		need = 3;
		hi = 0x9F;
	} else if (p[0] >= 0xE1 && p[0] <= 0xEF)
		need = 3;
	else if (p[0] == 0xF0) {
		need = 4;
		lo = 0x90;
	} else if (p[0] == 0xF4) {
		need = 4;
		hi = 0x8F;
	} else if (p[0] >= 0xF1 && p[0] <= 0xF3)
		need = 4;
	else
		return 0;
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k < need; k++)
		if ((p[k] & 0xC0) != 0x80)
			return 0;
	if (p[0] == 0xC2 && p[1] < 0xA0)
		return 0;
	return need;
}

/*
 * At an octet >= 0x80 where UTF8-non-ascii is allowed with SMTPUTF8:
 * consumes one character and reports its length in *n.
 */
static enum address_error take_utf8(struct cursor *c, size_t *n)
{
	if (!(c->flags & ADDRESS_UTF8))
		return ADDRESS_ERR_UTF8;
	*n = utf8_len((const unsigned char *)c->s + c->i, c->len - c->i);
	if (*n == 0)
		return ADDRESS_ERR_SYNTAX;
	c->i += *n;
	return ADDRESS_OK;
}

static bool is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_letdig(int ch)
{
	return is_alpha(ch) || is_digit(ch);
}

/* RFC 5322 3.2.3 atext, as RFC 5321 4.1.2 uses it. */
static bool is_atext(int ch)
{
	return is_letdig(ch) || (ch > 0 && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* RFC 5321 4.1.2 dcontent: printable US-ASCII but "[", "\", "]". */
static bool is_dcontent(int ch)
{
	return (ch >= 33 && ch <= 90) || (ch >= 94 && ch <= 126);
}

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Dot-string = Atom *("." Atom); UTF-8 characters count as atext if utf8. */
static bool dotstring_valid(const char *p, size_t n, bool utf8)
{
	bool atom_empty = true;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n;) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '.') {
			if (atom_empty)
				return false;
			atom_empty = true;
			i++;
		} else if (ch >= 0x80) {
			size_t k = utf8 ? utf8_len((const unsigned char *)p + i, n - i) : 0;
			if (k == 0)
				return false;
			atom_empty = false;
			i += k;
		} else if (is_atext(ch)) {
			atom_empty = false;
			i++;
		} else
			return false;
	}
	return !atom_empty;
}

/* Dot-string local part, stored as sent: it already is canonical. */
static enum address_error parse_dotstring(struct cursor *c, struct sink *k)
{
	size_t start = c->i;
	bool atom_empty = true;

	for (;;) {
		int ch = peek(c);
		if (ch >= 0x80) {
			size_t n;
			enum address_error err = take_utf8(c, &n);
			if (err != ADDRESS_OK)
				return err;
			atom_empty = false;
		} else if (ch >= 0 && is_atext(ch)) {
			c->i++;
			atom_empty = false;
		} else if (ch == '.' && !atom_empty) {
			c->i++;
			atom_empty = true;
		} else
			break;
	}
	if (atom_empty)
		return ADDRESS_ERR_SYNTAX;
	sink_put(k, c->s + start, c->i - start);
	return ADDRESS_OK;
}

/*
 * Quoted-string local part (RFC 5321 4.1.2 QcontentSMTP, RFC 6531 3.3
 * qtextSMTP =/ UTF8-non-ascii). The unescaped content goes to *content;
 * the caller turns it into canonical form.
 */
static enum address_error parse_quoted(struct cursor *c, struct sink *content)
{
	c->i++;		/* the opening DQUOTE */
	for (;;) {
		int ch = peek(c);
		if (ch < 0)
			return ADDRESS_ERR_SYNTAX;
		if (ch == '"') {
			c->i++;
			return ADDRESS_OK;
		}
		if (ch >= 0x80) {
			size_t start = c->i, n;
			enum address_error err = take_utf8(c, &n);
			if (err != ADDRESS_OK)
				return err;
			sink_put(content, c->s + start, n);
			continue;
		}
		if (ch == '\\') {
			c->i++;
			ch = peek(c);	/* quoted-pairSMTP: %d92 %d32-126 */
			if (ch < 32 || ch > 126)
				return ADDRESS_ERR_SYNTAX;
		} else if (ch < 32 || ch > 126)
			return ADDRESS_ERR_SYNTAX;
		sink_putc(content, (char)ch);
		c->i++;
	}
}

/*
 * Local-part = Dot-string / Quoted-string, written to out[] in canonical
 * form. *bare_postmaster tells whether it was the unquoted word
 * "postmaster", the one local part allowed without a domain.
 */
static enum address_error parse_local(struct cursor *c, char *out, size_t outsize,
				      bool *bare_postmaster)
{
	struct sink k = { out, outsize, 0 };
	char content[ADDRESS_LOCAL_MAX + 1];
	struct sink ck = { content, sizeof(content), 0 };
	enum address_error err;

	*bare_postmaster = false;
	out[0] = '\0';
	if (peek(c) != '"') {
		err = parse_dotstring(c, &k);
		if (err != ADDRESS_OK)
			return err;
		if (k.n > ADDRESS_LOCAL_MAX || !sink_fits(&k))
			c->too_long = true;
		else
			*bare_postmaster = strcasecmp(out, "postmaster") == 0;
		return ADDRESS_OK;
	}
	content[0] = '\0';
	err = parse_quoted(c, &ck);
	if (err != ADDRESS_OK)
		return err;
	/* The canonical form is never shorter than the content. */
	if (ck.n > ADDRESS_LOCAL_MAX) {
		c->too_long = true;
		return ADDRESS_OK;
	}
	if (dotstring_valid(content, ck.n, true)) {
		sink_put(&k, content, ck.n);
	} else {
		sink_putc(&k, '"');
		for (size_t i = 0; i < ck.n; i++) {
			if (content[i] == '"' || content[i] == '\\')
				sink_putc(&k, '\\');
			sink_putc(&k, content[i]);
		}
		sink_putc(&k, '"');
	}
	if (k.n > ADDRESS_LOCAL_MAX || !sink_fits(&k))
		c->too_long = true;
	return ADDRESS_OK;
}

static bool label_start(const struct cursor *c)
{
	int ch = peek(c);
	return ch >= 0x80 || (ch >= 0 && is_letdig(ch));
}

/*
 * Domain = sub-domain *("." sub-domain), each Let-dig [Ldh-str] or, with
 * SMTPUTF8, a U-label of well-formed UTF-8. Writes the lower-cased name to
 * *k; a single trailing dot (the root) is consumed and not written.
 */
static enum address_error parse_domain(struct cursor *c, struct sink *k)
{
	for (;;) {
		size_t start = c->i;
		int last = -1;

		if (!label_start(c))
			return ADDRESS_ERR_SYNTAX;
		for (;;) {
			int ch = peek(c);
			if (ch >= 0x80) {
				size_t n;
				enum address_error err = take_utf8(c, &n);
				if (err != ADDRESS_OK)
					return err;
				sink_put(k, c->s + c->i - n, n);
			} else if (ch >= 0 && (is_letdig(ch) || ch == '-')) {
				sink_putc(k, lower((char)ch));
				c->i++;
			} else
				break;
			last = ch;
		}
		if (last == '-')
			return ADDRESS_ERR_SYNTAX;
		if (c->i - start > ADDRESS_LABEL_MAX)
			c->too_long = true;
		if (peek(c) != '.')
			break;
		c->i++;
		if (!label_start(c))
			break;	/* the root dot: dropped */
		sink_putc(k, '.');
	}
	if (k->n > ADDRESS_DOMAIN_MAX || !sink_fits(k))
		c->too_long = true;
	return ADDRESS_OK;
}

/* IPv4-address-literal = Snum 3("." Snum), written in plain decimal. */
static bool literal_ipv4(const char *p, size_t n, struct sink *k)
{
	size_t i = 0;

	sink_putc(k, '[');
	for (int part = 0; part < 4; part++) {
		unsigned value = 0;
		size_t digits = 0;

		if (part > 0) {
			if (i >= n || p[i] != '.')
				return false;
			sink_putc(k, '.');
			i++;
		}
		while (i < n && is_digit(p[i])) {
			if (++digits > ADDRESS_SNUM_DIGITS)
				return false;
			value = value * 10 + (unsigned)(p[i] - '0');
			i++;
		}
		if (digits == 0 || value > 255)
			return false;
		sink_put_octet(k, value);
	}
	if (i != n)
		return false;
	sink_putc(k, ']');
	return true;
}

/*
 * Writes a 128-bit address as RFC 5952 text: lower-case hex without leading
 * zeros, the longest run of two or more zero groups (the first on a tie) as
 * "::", and the dotted-quad tail only for IPv4-mapped addresses (section 5).
 * Written here rather than by inet_ntop, whose glibc version also prints
 * the deprecated IPv4-compatible form ("::1:2" as "::0.1.0.2").
 */
static void ipv6_format(const unsigned char bin[16], struct sink *k)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned group[8];
	int best = -1, best_len = 0, ngroups = 8;

	if (memcmp(bin, mapped, sizeof(mapped)) == 0)
		ngroups = 6;
	for (int g = 0; g < 8; g++)
		group[g] = (unsigned)bin[2 * g] << 8 | bin[2 * g + 1];
	for (int g = 0; g < ngroups;) {
		int run = 0;
		while (g + run < ngroups && group[g + run] == 0)
			run++;
		if (run > best_len && run >= 2) {
			best = g;
			best_len = run;
		}
		g += run > 0 ? run : 1;
	}
	for (int g = 0; g < ngroups; g++) {
		if (g == best) {
			sink_put(k, "::", 2);
			g += best_len - 1;
			continue;
		}
		if (g > 0 && g != best + best_len)
			sink_putc(k, ':');
		bool lead = true;
		for (int shift = 12; shift >= 0; shift -= 4) {
			unsigned nibble = group[g] >> shift & 0xF;
			if (lead && nibble == 0 && shift > 0)
				continue;
			lead = false;
			sink_putc(k, hex[nibble]);
		}
	}
	if (ngroups == 8)
		return;
	/* "::ffff:" came out above as "::" + "ffff"; add the IPv4 tail. */
	for (int b = 12; b < 16; b++) {
		sink_putc(k, b == 12 ? ':' : '.');
		sink_put_octet(k, bin[b]);
	}
}

/* IPv6-address-literal = "IPv6:" IPv6-addr, checked by inet_pton. */
static bool literal_ipv6(const char *p, size_t n, struct sink *k)
{
	char text[ADDRESS_IPV6_TEXT_MAX + 1];
	unsigned char bin[16];

	if (n == 0 || n > ADDRESS_IPV6_TEXT_MAX)
		return false;
	memcpy(text, p, n);
	text[n] = '\0';
	if (inet_pton(AF_INET6, text, bin) != 1)
		return false;
	sink_put(k, "[IPv6:", 6);
	ipv6_format(bin, k);
	sink_putc(k, ']');
	return true;
}

/* Standardized-tag = Ldh-str (RFC 5321 4.1.3), i.e. Let-dig [Ldh-str]. */
static bool ldh_str_valid(const char *p, size_t n)
{
	if (n == 0 || !is_letdig(p[0]) || !is_letdig(p[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_letdig(p[i]) && p[i] != '-')
			return false;
	return true;
}

/* address-literal = "[" ( IPv4 / IPv6 / General-address-literal ) "]" */
static enum address_error parse_literal(struct cursor *c, struct sink *k)
{
	size_t start = ++c->i;	/* past "[" */
	int ch;

	while ((ch = peek(c)) >= 0 && is_dcontent(ch))
		c->i++;
	if (ch != ']')
		return ADDRESS_ERR_SYNTAX;
	const char *p = c->s + start;
	size_t n = c->i - start;
	c->i++;
	const char *colon = memchr(p, ':', n);
	if (colon == NULL)
		return literal_ipv4(p, n, k) ? ADDRESS_OK : ADDRESS_ERR_SYNTAX;
	size_t tag = (size_t)(colon - p);
	if (tag == 4 && strncasecmp(p, "IPv6", 4) == 0)
		return literal_ipv6(colon + 1, n - tag - 1, k) ? ADDRESS_OK : ADDRESS_ERR_SYNTAX;
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	if (!ldh_str_valid(p, tag) || tag + 1 == n)
		return ADDRESS_ERR_SYNTAX;
	sink_putc(k, '[');
	sink_put(k, p, n);
	sink_putc(k, ']');
	if (k->n > ADDRESS_DOMAIN_MAX || !sink_fits(k))
		c->too_long = true;
	return ADDRESS_OK;
}

/*
 * A-d-l = At-domain *( "," At-domain ), followed by ":" (RFC 5321 4.1.2).
 * Checked so that garbage is refused, then dropped (Appendix C): the
 * mailbox after it is where the mail goes, and relay control judges that.
 */
static enum address_error parse_adl(struct cursor *c)
{
	char scratch[ADDRESS_DOMAIN_MAX + 1];

	for (;;) {
		/* cppcheck-suppress legacyUninitvar ; scratch is only written to (the domain is dropped) */
		struct sink k = { scratch, sizeof(scratch), 0 };
		if (peek(c) != '@')
			return ADDRESS_ERR_SYNTAX;
		c->i++;
		enum address_error err = parse_domain(c, &k);
		if (err != ADDRESS_OK)
			return err;
		if (peek(c) == ':') {
			c->i++;
			return ADDRESS_OK;
		}
		if (peek(c) != ',')
			return ADDRESS_ERR_SYNTAX;
		c->i++;
	}
}

enum address_error address_parse_path(const char *s, size_t len, unsigned flags,
				      struct mailbox *out, size_t *end)
{
	struct cursor c = { s, len, 0, flags, false };
	struct sink dk = { out->domain, sizeof(out->domain), 0 };
	bool route = false, postmaster;
	enum address_error err;

	out->local[0] = '\0';
	out->domain[0] = '\0';
	while (peek(&c) == ' ' || peek(&c) == '\t')
		c.i++;
	if (peek(&c) != '<')
		return ADDRESS_ERR_SYNTAX;
	size_t start = c.i++;
	if (peek(&c) == '>') {
		if (!(flags & ADDRESS_ALLOW_NULL))
			return ADDRESS_ERR_NULL;
		*end = c.i + 1;
		return ADDRESS_OK;
	}
	if (peek(&c) == '@') {
		err = parse_adl(&c);
		if (err != ADDRESS_OK)
			goto fail;
		route = true;
	}
	err = parse_local(&c, out->local, sizeof(out->local), &postmaster);
	if (err != ADDRESS_OK)
		goto fail;
	if (peek(&c) == '>' && postmaster && !route && !(flags & ADDRESS_NEED_DOMAIN)) {
		/* RFC 5321 4.1.1.3: "<Postmaster>" needs no domain. */
	} else {
		if (peek(&c) != '@') {
			err = ADDRESS_ERR_SYNTAX;
			goto fail;
		}
		c.i++;
		err = peek(&c) == '[' ? parse_literal(&c, &dk) : parse_domain(&c, &dk);
		if (err != ADDRESS_OK)
			goto fail;
		if (peek(&c) != '>') {
			err = ADDRESS_ERR_SYNTAX;
			goto fail;
		}
	}
	c.i++;
	if (c.i - start > ADDRESS_PATH_MAX || c.too_long) {
		err = ADDRESS_ERR_TOO_LONG;
		goto fail;
	}
	*end = c.i;
	return ADDRESS_OK;
fail:
	out->local[0] = '\0';
	out->domain[0] = '\0';
	return err;
}

bool address_is_null(const struct mailbox *m)
{
	return m->local[0] == '\0' && m->domain[0] == '\0';
}

bool address_is_postmaster(const struct mailbox *m)
{
	return strcasecmp(m->local, "postmaster") == 0;
}

bool address_is_literal(const struct mailbox *m)
{
	return m->domain[0] == '[';
}

int address_format(const struct mailbox *m, char *out, size_t size)
{
	struct sink k = { out, size, 0 };

	if (size == 0)
		return -1;
	out[0] = '\0';
	sink_put(&k, m->local, strlen(m->local));
	if (m->domain[0] != '\0') {
		sink_putc(&k, '@');
		sink_put(&k, m->domain, strlen(m->domain));
	}
	if (!sink_fits(&k)) {
		out[0] = '\0';
		return -1;
	}
	return (int)k.n;
}

bool address_domain_valid(const char *domain, size_t len, bool utf8)
{
	char scratch[ADDRESS_DOMAIN_MAX + 1];
	struct sink k = { scratch, sizeof(scratch), 0 };
	struct cursor c = { domain, len, 0, utf8 ? ADDRESS_UTF8 : 0, false };

	if (len == 0 || len > ADDRESS_DOMAIN_MAX || domain[len - 1] == '.')
		return false;
	return parse_domain(&c, &k) == ADDRESS_OK && c.i == len && !c.too_long;
}

bool address_local_is_safe(const char *local)
{
	size_t n = strlen(local);

	if (n == 0 || n > ADDRESS_LOCAL_MAX || local[0] == '.')
		return false;
	if (strpbrk(local, "/%!@\"") != NULL)
		return false;
	return dotstring_valid(local, n, true);
}
