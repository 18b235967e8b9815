/*
 * config_value.c — the value types of the key table: text in, field out.
 *
 * Owns the parsing and freeing of every type in enum config_type. Each
 * parser either fills its field completely or leaves it empty and appends
 * the reason to *why, phrased as what was expected, so the loader can print
 * "file:line: key = 'value': reason". It knows nothing of sections, lines or
 * defaults (config.c) and nothing of individual keys: bounds and choices
 * come from the table row (config_keys.c).
 *
 * Strictness is deliberate: numbers are digits only (no sign, no spaces,
 * no hex), a suffix is one letter, listen hosts are numeric addresses
 * (a name would make the daemon depend on DNS at start-up), and a value
 * that does not fit is an error, never a silent clamp.
 *
 * Standards: RFC 1035 2.3.1 and 2.3.4 (domain syntax and lengths), RFC 3696
 * section 2 (all-numeric top labels), RFC 5321 4.5.3.1.2 (domain length),
 * RFC 8314 (the "tls" flag: implicit TLS listeners), RFC 4291 2.5.5.2,
 * RFC 6066 3 (tls_sni: certificates chosen by server name).
 */
#include "config_keys.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "config.h"
#include "lib/xalloc.h"

/* Longest listen item: "[" IPv6 "]:" port, plus slack for a helpful error. */
#define CONFIG_LISTEN_ITEM_MAX 80
#define CONFIG_PORT_MAX 65535

static const char expect_size[] =
	"expected a size: a number of bytes with an optional K, M or G suffix (e.g. 512K, 25M)";
static const char expect_duration[] =
	"expected a duration: seconds, or a number with an s, m, h or d suffix (e.g. 30s, 5m, 2h, 5d)";

void config_append_escaped(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '\\')
			buf_printf(out, "\\x%02x", c);
		else
			buf_append_char(out, (char)c);
	}
}

/* "'item': " with the item escaped, to start a reason about one list item. */
static void item_quote(struct buf *why, const char *s, size_t len)
{
	buf_append_char(why, '\'');
	config_append_escaped(why, s, len);
	buf_append_str(why, "': ");
}

static bool is_blank(const char *s)
{
	return s[strspn(s, " \t")] == '\0';
}

/* The next comma/space separated item of *s, or NULL at the end. */
static const char *next_item(const char **s, size_t *len)
{
	const char *p = *s + strspn(*s, CONFIG_LIST_SEPARATORS);
	if (*p == '\0')
		return NULL;
	*len = strcspn(p, CONFIG_LIST_SEPARATORS);
	*s = p + *len;
	return p;
}

/*
 * Reads the decimal digits at s[0..len) into *v, stopping at the first
 * non-digit (*used says where). Returns 0, -1 when there is no digit, or
 * -2 when the number does not fit.
 */
static int read_number(const char *s, size_t len, unsigned long long *v, size_t *used)
{
	unsigned long long n = 0;
	size_t i = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (n > (ULLONG_MAX - d) / 10)
			return -2;
		n = n * 10 + d;
	}
	if (i == 0)
		return -1;
	*v = n;
	*used = i;
	return 0;
}

static int multiply(unsigned long long *v, unsigned long long by)
{
	if (by != 0 && *v > ULLONG_MAX / by)
		return -1;
	*v *= by;
	return 0;
}

static unsigned long long size_unit(char c)
{
	switch (c) {
	case 'k': case 'K': return 1024ULL;
	case 'm': case 'M': return 1024ULL * 1024;
	case 'g': case 'G': return 1024ULL * 1024 * 1024;
	}
	return 0;
}

static unsigned long long duration_unit(char c)
{
	switch (c) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	}
	return 0;
}

/* A number with an optional one-letter unit; unit(c) is 0 for a bad letter. */
static int read_scaled(const char *s, size_t len, unsigned long long (*unit)(char),
		       unsigned long long *v, bool *overflow)
{
	size_t used;
	int rc = read_number(s, len, v, &used);
	*overflow = rc == -2;
	if (rc < 0)
		return -1;
	if (used == len)
		return 0;
	if (used + 1 != len || unit(s[used]) == 0)
		return -1;
	if (multiply(v, unit(s[used])) < 0) {
		*overflow = true;
		return -1;
	}
	return 0;
}

void config_format_size(struct buf *out, unsigned long long bytes)
{
	static const char units[] = "GMK";
	for (int i = 0; units[i] != '\0'; i++) {
		unsigned long long u = size_unit(units[i]);
		if (bytes != 0 && bytes % u == 0) {
			buf_printf(out, "%llu%c", bytes / u, units[i]);
			return;
		}
	}
	buf_printf(out, "%llu", bytes);
}

void config_format_duration(struct buf *out, unsigned long long seconds)
{
	static const char units[] = "dhm";
	for (int i = 0; units[i] != '\0'; i++) {
		unsigned long long u = duration_unit(units[i]);
		if (seconds != 0 && seconds % u == 0) {
			buf_printf(out, "%llu%c", seconds / u, units[i]);
			return;
		}
	}
	buf_printf(out, "%llus", seconds);
}

static void format_bound(struct buf *out, enum config_type type, unsigned long long v)
{
	switch (type) {
	case CONFIG_T_SIZE:
		config_format_size(out, v);
		return;
	case CONFIG_T_DURATION:
	case CONFIG_T_RETRY:
		config_format_duration(out, v);
		return;
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_ENUM:
	case CONFIG_T_UINT:
	case CONFIG_T_LISTEN:
	case CONFIG_T_DOMAIN:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_DOMAINS:
	case CONFIG_T_MAILBOX:
	case CONFIG_T_CIDRS:
	case CONFIG_T_BOOL:
	case CONFIG_T_STRING:
	case CONFIG_T_CERTS:
	case CONFIG_T_NEXTHOP:
	case CONFIG_T_RESOLVER:
	case CONFIG_T_TLS_POLICIES:
		buf_printf(out, "%llu", v);
		return;
	}
}

static int check_bounds(const struct config_key *k, unsigned long long v, struct buf *why)
{
	if (v >= k->min && v <= k->max)
		return 0;
	buf_append_str(why, "must be between ");
	format_bound(why, k->type, k->min);
	buf_append_str(why, " and ");
	format_bound(why, k->type, k->max);
	return -1;
}

/* Sizes, durations and retry items: one scaled number within the row's bounds. */
static int parse_scaled(const struct config_key *k, const char *s, size_t len,
			unsigned long long (*unit)(char), const char *expect,
			unsigned long long *v, struct buf *why)
{
	bool overflow;
	if (read_scaled(s, len, unit, v, &overflow) < 0) {
		if (overflow) {
			/* *v is not a number here: a row without an upper bound would take it as one */
			*v = ULLONG_MAX;
			buf_append_str(why, "too large: ");
			return check_bounds(k, ULLONG_MAX, why);
		}
		buf_append_str(why, expect);
		return -1;
	}
	return check_bounds(k, *v, why);
}

static int parse_uint(const struct config_key *k, const char *text, void *field, struct buf *why)
{
	unsigned long long v;
	size_t used;
	if (k->auto_fn != NULL && strcasecmp(text, "auto") == 0) {
		unsigned a = k->auto_fn();
		*(unsigned *)field = a < k->min ? (unsigned)k->min : a > k->max ? (unsigned)k->max : a;
		return 0;
	}
	size_t len = strlen(text);
	int rc = read_number(text, len, &v, &used);
	if (rc < 0 || used != len) {
		if (rc == -2) {
			buf_append_str(why, "too large: ");
			return check_bounds(k, ULLONG_MAX, why);
		}
		buf_append_str(why, k->auto_fn != NULL ? "expected \"auto\" or a whole number"
							: "expected a whole number");
		return -1;
	}
	if (check_bounds(k, v, why) < 0)
		return -1;
	*(unsigned *)field = (unsigned)v;
	return 0;
}

static int parse_size(const struct config_key *k, const char *text, void *field, struct buf *why)
{
	unsigned long long v;
	if (parse_scaled(k, text, strlen(text), size_unit, expect_size, &v, why) < 0)
		return -1;
	*(unsigned long long *)field = v;
	return 0;
}

static int parse_duration(const struct config_key *k, const char *text, void *field, struct buf *why)
{
	unsigned long long v;
	if (parse_scaled(k, text, strlen(text), duration_unit, expect_duration, &v, why) < 0)
		return -1;
	*(unsigned *)field = (unsigned)v;
	return 0;
}

static int parse_retry(const struct config_key *k, const char *text, void *base, struct buf *why)
{
	unsigned *out = config_field(k, base);
	size_t *n = config_field_count(k, base);
	const char *p = text, *item;
	size_t len;
	unsigned got[CONFIG_RETRY_MAX];
	size_t count = 0;
	while ((item = next_item(&p, &len)) != NULL) {
		unsigned long long v;
		if (count == CONFIG_RETRY_MAX) {
			buf_printf(why, "at most %d intervals", CONFIG_RETRY_MAX);
			return -1;
		}
		struct buf one = BUF_INIT;
		if (parse_scaled(k, item, len, duration_unit, expect_duration, &v, &one) < 0) {
			item_quote(why, item, len);
			buf_append_str(why, buf_str(&one));
			buf_free(&one);
			return -1;
		}
		buf_free(&one);
		got[count++] = (unsigned)v;
	}
	if (count == 0) {
		buf_append_str(why, "expected a list of durations (e.g. 5m, 10m, 1h)");
		return -1;
	}
	memcpy(out, got, count * sizeof(got[0]));
	*n = count;
	return 0;
}

static int parse_path(const char *text, void *field, struct buf *why)
{
	size_t len = strlen(text);
	if (len == 0) {
		buf_append_str(why, "expected a path");
		return -1;
	}
	if (len >= PATH_MAX) {
		buf_printf(why, "a path is at most %d characters", PATH_MAX - 1);
		return -1;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			buf_append_str(why, "control characters are not allowed in a path");
			return -1;
		}
	}
	*(char **)field = xstrdup(text);
	return 0;
}

static int parse_word(const char *text, void *field, struct buf *why)
{
	size_t len = strlen(text);
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	if (len == 0 || len > CONFIG_USER_NAME_MAX || strspn(text, ok) != len || text[0] == '-') {
		buf_printf(why, "expected a user name (up to %d letters, digits, '.', '_', '-')",
			   CONFIG_USER_NAME_MAX);
		return -1;
	}
	*(char **)field = xstrdup(text);
	return 0;
}

/* The row's choices as "a, b or c". */
static void list_choices(struct buf *out, const struct config_choice *choices)
{
	for (const struct config_choice *c = choices; c->name != NULL; c++)
		buf_printf(out, "%s%s", c == choices ? "" : c[1].name == NULL ? " or " : ", ", c->name);
}

static int parse_enum(const struct config_key *k, const char *text, void *field, struct buf *why)
{
	for (const struct config_choice *c = k->choices; c->name != NULL; c++) {
		if (strcasecmp(text, c->name) == 0) {
			memcpy(field, &c->value, sizeof(c->value));
			return 0;
		}
	}
	buf_append_str(why, "expected ");
	list_choices(why, k->choices);
	return -1;
}

int config_domain_check(const char *text, size_t len, char *out, const char **why)
{
	if (len == 0) {
		*why = "expected a domain name";
		return -1;
	}
	if (len > CONFIG_DOMAIN_MAX) {
		*why = "a domain name is at most 255 characters (RFC 5321 4.5.3.1.2)";
		return -1;
	}
	if (text[len - 1] == '.') {
		*why = "write the domain without a trailing dot";
		return -1;
	}
	size_t label = 0;
	bool numeric = true, last_numeric = true;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? text[i] : '.';
		if (c == '.') {
			if (label == 0) {
				*why = "empty label (\"..\" or a leading dot)";
				return -1;
			}
			if (text[i - 1] == '-' || text[i - label] == '-') {
				*why = "a label cannot start or end with '-'";
				return -1;
			}
			label = 0;
			last_numeric = numeric;
			numeric = true;
			continue;
		}
		if ((unsigned char)c >= 0x80) {
			*why = "internationalised names must be written in their xn-- (A-label) form";
			return -1;
		}
		bool digit = c >= '0' && c <= '9';
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		if (!digit && !alpha && c != '-') {
			*why = "only letters, digits, '-' and '.' are allowed in a domain name";
			return -1;
		}
		if (++label > CONFIG_LABEL_MAX) {
			*why = "a label is at most 63 characters (RFC 1035 2.3.4)";
			return -1;
		}
		numeric = numeric && digit;
	}
	if (last_numeric) {
		*why = "the last label is all digits: an IP address is not a domain name";
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		out[i] = (text[i] >= 'A' && text[i] <= 'Z') ? (char)(text[i] - 'A' + 'a') : text[i];
	out[len] = '\0';
	return 0;
}

static int parse_domain(const char *text, void *field, struct buf *why)
{
	char d[CONFIG_DOMAIN_MAX + 1];
	const char *err;
	if (config_domain_check(text, strlen(text), d, &err) < 0) {
		buf_append_str(why, err);
		return -1;
	}
	*(char **)field = xstrdup(d);
	return 0;
}

/* A mailbox as an RCPT TO would take it: "local@domain", no "<>", no bare local part. */
static int parse_address(const char *text, void *field, struct buf *why)
{
	size_t len = strlen(text);
	char path[ADDRESS_PATH_MAX + 1];
	struct mailbox m;
	size_t end;
	if (len == 0 || len + 2 > ADDRESS_PATH_MAX || text[0] == '<') {
		buf_append_str(why, "expected an address: local@domain");
		return -1;
	}
	snprintf(path, sizeof(path), "<%s>", text);
	if (address_parse_path(path, len + 2, ADDRESS_NEED_DOMAIN, &m, &end) != ADDRESS_OK || end != len + 2 ||
	    address_is_literal(&m)) {
		buf_append_str(why, "expected an address: local@domain");
		return -1;
	}
	for (char *d = m.domain; *d != '\0'; d++)
		*d = (char)tolower((unsigned char)*d);
	char out[sizeof(m.local) + 1 + sizeof(m.domain)];
	address_format(&m, out, sizeof(out));
	*(char **)field = xstrdup(out);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_domains(const struct config_key *k, const char *text, void *base, struct buf *why)
{
	const char *p = text, *item;
	size_t len, n = 0;
	char **list = NULL;
	while ((item = next_item(&p, &len)) != NULL) {
		char d[CONFIG_DOMAIN_MAX + 1];
		const char *err;
		if (config_domain_check(item, len, d, &err) < 0) {
			item_quote(why, item, len);
			buf_append_str(why, err);
			config_list_free(list, n);
			return -1;
		}
		list = xrealloc(list, (n + 1) * sizeof(*list));
		list[n++] = xstrdup(d);
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp_str);
	size_t u = 0;
	for (size_t i = 0; i < n; i++) {
		if (u > 0 && strcmp(list[u - 1], list[i]) == 0)
			free(list[i]);
		else
			list[u++] = list[i];
	}
	*(char ***)config_field(k, base) = list;
	*config_field_count(k, base) = u;
	return 0;
}

static int parse_port(const char *s, unsigned *port)
{
	unsigned long long v;
	size_t used, len = strlen(s);
	if (read_number(s, len, &v, &used) < 0 || used != len || v == 0 || v > CONFIG_PORT_MAX)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int config_endpoint_parse(const char *item, size_t len, struct config_listen *out, struct buf *why)
{
	char s[CONFIG_LISTEN_ITEM_MAX];
	if (len >= sizeof(s)) {
		buf_append_char(why, '\'');
		config_append_escaped(why, item, 20);
		buf_append_str(why, "...': not an address");
		return -1;
	}
	memcpy(s, item, len);
	s[len] = '\0';

	char *host = s, *port_text;
	bool v6 = s[0] == '[';
	if (v6) {
		char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			item_quote(why, s, len);
			buf_append_str(why, "expected [IPv6]:port");
			return -1;
		}
		*close = '\0';
		host = s + 1;
		port_text = close + 2;
	} else {
		char *colon = strrchr(s, ':');
		if (colon == NULL) {
			item_quote(why, s, len);
			buf_append_str(why, "expected IP:port (e.g. 127.0.0.1:25 or [::1]:25)");
			return -1;
		}
		if (colon != strchr(s, ':')) {
			item_quote(why, s, len);
			buf_append_str(why, "IPv6 addresses go in brackets, e.g. [::1]:25");
			return -1;
		}
		*colon = '\0';
		port_text = colon + 1;
	}

	unsigned port;
	if (parse_port(port_text, &port) < 0) {
		item_quote(why, item, len);
		buf_printf(why, "the port must be a number from 1 to %d", CONFIG_PORT_MAX);
		return -1;
	}

	memset(out, 0, sizeof(*out));
	char text[INET6_ADDRSTRLEN];
	if (v6) {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&out->addr;
		if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1) {
			item_quote(why, host, strlen(host));
			buf_append_str(why, "not an IPv6 address");
			return -1;
		}
		if (IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr)) {
			item_quote(why, host, strlen(host));
			buf_append_str(why, "write an IPv4-mapped address as plain IPv4");
			return -1;
		}
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons((unsigned short)port);
		out->addrlen = sizeof(*sa);
		inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof(text));
		snprintf(out->text, sizeof(out->text), "[%s]:%u", text, port);
		return 0;
	}
	struct sockaddr_in *sa = (struct sockaddr_in *)&out->addr;
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		item_quote(why, host, strlen(host));
		if (strpbrk(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != NULL)
			buf_append_str(why, "the host must be a numeric IPv4 address or an [IPv6] "
					    "address, not a name");
		else
			buf_append_str(why, "not an IPv4 address");
		return -1;
	}
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)port);
	out->addrlen = sizeof(*sa);
	inet_ntop(AF_INET, &sa->sin_addr, text, sizeof(text));
	snprintf(out->text, sizeof(out->text), "%s:%u", text, port);
	return 0;
}

static int parse_listen(const struct config_key *k, const char *text, void *base, struct buf *why)
{
	struct config_listen *list = NULL;
	size_t n = 0, len;
	const char *p = text, *item;
	bool flag_ok = false;	/* a "tls" may follow: the last item was an address */
	while ((item = next_item(&p, &len)) != NULL) {
		if (len == 3 && strncasecmp(item, "tls", 3) == 0) {
			if (!flag_ok) {
				buf_append_str(why, "'tls' must follow an address (e.g. 127.0.0.1:465 tls)");
				goto fail;
			}
			list[n - 1].tls = true;
			flag_ok = false;
			continue;
		}
		if (n == CONFIG_LISTEN_MAX) {
			buf_printf(why, "at most %d addresses", CONFIG_LISTEN_MAX);
			goto fail;
		}
		list = xrealloc(list, (n + 1) * sizeof(*list));
		if (config_endpoint_parse(item, len, &list[n], why) < 0)
			goto fail;
		n++;
		flag_ok = true;
	}
	if (n == 0) {
		buf_append_str(why, "expected at least one IP:port (e.g. 127.0.0.1:25, [::1]:25)");
		goto fail;
	}
	*(struct config_listen **)config_field(k, base) = list;
	*config_field_count(k, base) = n;
	return 0;
fail:
	free(list);
	return -1;
}

static int parse_mailbox(const char *text, void *field, struct buf *why)
{
	static const char maildir[] = "maildir:";
	if (strncmp(text, "lmtp:", 5) == 0) {
		struct config_lmtp t;
		if (config_lmtp_parse(text, &t, why) < 0)
			return -1;
		config_nexthop_free(&t.inet);
		*(char **)field = xstrdup(text);
		return 0;
	}
	if (strncmp(text, maildir, sizeof(maildir) - 1) != 0 || text[sizeof(maildir) - 1] == '\0') {
		buf_append_str(why, "expected maildir:PATH, lmtp:unix:PATH or lmtp:HOST[:PORT] "
				    "(e.g. maildir:/var/mail/vsmtpd/%d/%u)");
		return -1;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			buf_append_str(why, "control characters are not allowed in a path");
			return -1;
		}
		if (*p != '%')
			continue;
		p++;
		if (*p != 'd' && *p != 'u' && *p != '%') {
			buf_append_str(why, "in the path, %d is the domain, %u the local part and %% a "
					    "percent sign; nothing else may follow %");
			return -1;
		}
	}
	if (strlen(text) >= PATH_MAX) {
		buf_printf(why, "a path is at most %d characters", PATH_MAX - 1);
		return -1;
	}
	*(char **)field = xstrdup(text);
	return 0;
}

static int parse_cidrs(const char *text, void *field, struct buf *why)
{
	struct cidr_set *set = field;
	if (is_blank(text)) {
		set->nets = NULL;
		set->n = 0;
		return 0;
	}
	const char *err = "bad network";
	char bad[96] = "";
	if (cidr_set_parse(text, set, &err, bad, sizeof(bad)) < 0) {
		item_quote(why, bad, strlen(bad));
		buf_append_str(why, err);
		set->nets = NULL;
		set->n = 0;
		return -1;
	}
	return 0;
}

static int parse_bool(const char *text, void *field, struct buf *why)
{
	if (strcasecmp(text, "yes") == 0) {
		*(bool *)field = true;
		return 0;
	}
	if (strcasecmp(text, "no") == 0) {
		*(bool *)field = false;
		return 0;
	}
	buf_append_str(why, "expected yes or no");
	return -1;
}

/*
 * Printable ASCII only: these values reach OpenSSL and log lines. With
 * choices, the value is one of them (any case) and is stored as the row
 * spells it, so code downstream compares exact strings.
 */
static int parse_string(const struct config_key *k, const char *text, void *field, struct buf *why)
{
	size_t len = strlen(text);
	if (k->choices != NULL) {
		for (const struct config_choice *c = k->choices; c->name != NULL; c++) {
			if (strcasecmp(text, c->name) == 0) {
				*(char **)field = xstrdup(c->name);
				return 0;
			}
		}
		buf_append_str(why, "expected ");
		list_choices(why, k->choices);
		return -1;
	}
	if (len == 0) {
		buf_append_str(why, "expected a value (leave the key out for the default)");
		return -1;
	}
	if (len > CONFIG_STRING_MAX) {
		buf_printf(why, "at most %d characters", CONFIG_STRING_MAX);
		return -1;
	}
	for (const char *p = text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
			buf_append_str(why, "only printable ASCII characters are allowed");
			return -1;
		}
	}
	*(char **)field = xstrdup(text);
	return 0;
}

void config_list_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int parse_certs(const struct config_key *k, const char *text, void *base, struct buf *why)
{
	return config_certs_parse(text, (char ***)config_field(k, base), config_field_count(k, base), why);
}

int config_value_parse(const struct config_key *k, const char *text, void *base, struct buf *why)
{
	void *field = config_field(k, base);
	switch (k->type) {
	case CONFIG_T_PATH:
		return parse_path(text, field, why);
	case CONFIG_T_WORD:
		return parse_word(text, field, why);
	case CONFIG_T_ENUM:
		return parse_enum(k, text, field, why);
	case CONFIG_T_UINT:
		return parse_uint(k, text, field, why);
	case CONFIG_T_SIZE:
		return parse_size(k, text, field, why);
	case CONFIG_T_DURATION:
		return parse_duration(k, text, field, why);
	case CONFIG_T_LISTEN:
		return parse_listen(k, text, base, why);
	case CONFIG_T_DOMAIN:
		return parse_domain(text, field, why);
	case CONFIG_T_ADDRESS:
		return parse_address(text, field, why);
	case CONFIG_T_DOMAINS:
		return parse_domains(k, text, base, why);
	case CONFIG_T_MAILBOX:
		return parse_mailbox(text, field, why);
	case CONFIG_T_CIDRS:
		return parse_cidrs(text, field, why);
	case CONFIG_T_RETRY:
		return parse_retry(k, text, base, why);
	case CONFIG_T_BOOL:
		return parse_bool(text, field, why);
	case CONFIG_T_STRING:
		return parse_string(k, text, field, why);
	case CONFIG_T_CERTS:
		return parse_certs(k, text, base, why);
	case CONFIG_T_NEXTHOP:
	case CONFIG_T_RESOLVER:
	case CONFIG_T_TLS_POLICIES:
		return config_outbound_parse(k, text, field, k->off_n != 0 ? config_field_count(k, base) : NULL, why);
	}
	buf_append_str(why, "internal error: unknown type");
	return -1;
}

void config_value_free(const struct config_key *k, void *base)
{
	void *field = config_field(k, base);
	switch (k->type) {
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_DOMAIN:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_MAILBOX:
	case CONFIG_T_STRING:
		free(*(char **)field);
		*(char **)field = NULL;
		return;
	case CONFIG_T_DOMAINS:
	case CONFIG_T_CERTS: {
		config_list_free(*(char ***)field, *config_field_count(k, base));
		*(char ***)field = NULL;
		*config_field_count(k, base) = 0;
		return;
	}
	case CONFIG_T_LISTEN:
		free(*(struct config_listen **)field);
		*(struct config_listen **)field = NULL;
		*config_field_count(k, base) = 0;
		return;
	case CONFIG_T_CIDRS: {
		struct cidr_set *set = field;
		if (set->nets != NULL)
			cidr_set_free(set);
		set->nets = NULL;
		set->n = 0;
		return;
	}
	case CONFIG_T_NEXTHOP:
	case CONFIG_T_RESOLVER:
	case CONFIG_T_TLS_POLICIES:
		config_outbound_free(k, field, k->off_n != 0 ? config_field_count(k, base) : NULL);
		return;
	case CONFIG_T_ENUM:
	case CONFIG_T_UINT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
	case CONFIG_T_RETRY:
	case CONFIG_T_BOOL:
		return;
	}
}
