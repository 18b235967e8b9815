/*
 * config_format.c — the value types of the key table: field out, text back.
 *
 * Owns config_value_format(), the inverse of config_value_parse()
 * (config_value.c): given a row and the struct holding its field, it
 * writes the value as a user would write it in the config, so that the
 * control API (server.show) and vsmtpctl show settings in the words of the
 * file, and parsing the text again gives the same value. It reads only;
 * it knows no key by name: units, choices and default ports come from the
 * row.
 *
 * Forms chosen: durations and sizes in their largest exact unit ("5m",
 * "25M"), lists joined with ", ", listeners as normalised at load
 * ("[::1]:25 tls"), networks in prefix notation with host networks bare
 * ("127.0.0.1", "10.0.0.0/8"; an IPv4-mapped network was stored as IPv4 and
 * is shown so), a next hop without its port when the port is the row's
 * default. A key left unset (NULL string, no next hop, no listener) is
 * the empty text, which for those types the parser does not take back:
 * the caller must treat "" as "not set" (vsmtpctl compares it with the
 * row's default).
 *
 * Standards: RFC 4632 3.1 and RFC 4291 2.3 (prefix notation), RFC 5952
 * (IPv6 text, as inet_ntop writes it).
 */
#include "config_keys.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "config.h"

#define FORMAT_LIST_SEP ", "

static void format_sep(struct buf *out, size_t i)
{
	if (i > 0)
		buf_append_str(out, FORMAT_LIST_SEP);
}

static void format_choice(struct buf *out, const struct config_choice *choices, int value)
{
	for (const struct config_choice *c = choices; c != NULL && c->name != NULL; c++) {
		if (c->value == value) {
			buf_append_str(out, c->name);
			return;
		}
	}
	buf_printf(out, "%d", value);	/* not a choice: cannot come from the parser */
}

static void format_string(struct buf *out, const char *s)
{
	if (s != NULL)
		buf_append_str(out, s);
}

static void format_strings(struct buf *out, char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		format_sep(out, i);
		buf_append_str(out, list[i]);
	}
}

static void format_listen(struct buf *out, const struct config_listen *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		format_sep(out, i);
		buf_append_str(out, list[i].text);
		if (list[i].tls)
			buf_append_str(out, " tls");
	}
}

/* "10.0.0.0/8", "2001:db8::/32"; a host network as its bare address. */
static void format_cidr(struct buf *out, const struct cidr *net)
{
	char text[INET6_ADDRSTRLEN];
	unsigned width = net->family == AF_INET ? 32 : 128;
	if (inet_ntop(net->family, net->addr, text, sizeof(text)) == NULL) {
		buf_append_str(out, "?");	/* a family cidr.c never stores */
		return;
	}
	buf_append_str(out, text);
	if (net->prefix != width)
		buf_printf(out, "/%u", net->prefix);
}

static void format_cidrs(struct buf *out, const struct cidr_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		format_sep(out, i);
		format_cidr(out, &set->nets[i]);
	}
}

static void format_retry(struct buf *out, const unsigned *retry, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		format_sep(out, i);
		config_format_duration(out, retry[i]);
	}
}

/*
 * "host" (MX lookup) or, without one, "[host]" — except numeric IPv4,
 * which never gets an MX lookup, bare; IPv6 always in brackets, as the
 * port's colon would otherwise be ambiguous. ":port" unless the default.
 */
static void format_nexthop(struct buf *out, const struct config_nexthop *nh, unsigned default_port)
{
	if (nh->host == NULL)
		return;
	unsigned char probe[sizeof(struct in6_addr)];
	bool v4 = inet_pton(AF_INET, nh->host, probe) == 1;
	bool v6 = inet_pton(AF_INET6, nh->host, probe) == 1;
	bool bracket = v6 || (!nh->mx && !v4);
	buf_printf(out, bracket ? "[%s]" : "%s", nh->host);
	if (nh->port != 0 && nh->port != default_port)
		buf_printf(out, ":%u", nh->port);
}

static void format_policies(struct buf *out, const struct config_tls_policy *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		format_sep(out, i);
		buf_printf(out, "%s:", list[i].domain);
		format_choice(out, config_tls_policy_choices, list[i].policy);
	}
}

void config_value_format(const struct config_key *k, const void *base, struct buf *out)
{
	const void *field = config_field(k, base);
	switch (k->type) {
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_DOMAIN:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_MAILBOX:
	case CONFIG_T_STRING:
	case CONFIG_T_RESOLVER:
		format_string(out, *(char *const *)field);
		return;
	case CONFIG_T_ENUM:
		format_choice(out, k->choices, *(const int *)field);
		return;
	case CONFIG_T_UINT:
		buf_printf(out, "%u", *(const unsigned *)field);
		return;
	case CONFIG_T_SIZE:
		config_format_size(out, *(const unsigned long long *)field);
		return;
	case CONFIG_T_DURATION:
		config_format_duration(out, *(const unsigned *)field);
		return;
	case CONFIG_T_BOOL:
		buf_append_str(out, *(const bool *)field ? "yes" : "no");
		return;
	case CONFIG_T_LISTEN:
		format_listen(out, *(struct config_listen *const *)field, *config_field_count(k, base));
		return;
	case CONFIG_T_DOMAINS:
	case CONFIG_T_CERTS:
		format_strings(out, *(char **const *)field, *config_field_count(k, base));
		return;
	case CONFIG_T_CIDRS:
		format_cidrs(out, field);
		return;
	case CONFIG_T_RETRY:
		format_retry(out, field, *config_field_count(k, base));
		return;
	case CONFIG_T_NEXTHOP:
		format_nexthop(out, field, (unsigned)k->min);
		return;
	case CONFIG_T_TLS_POLICIES:
		format_policies(out, *(struct config_tls_policy *const *)field, *config_field_count(k, base));
		return;
	}
}
