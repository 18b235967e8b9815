/*
 * config_outbound.c — the outbound delivery keys: next hops, the resolver,
 * TLS policies, smart host credentials.
 *
 * Owns three value types (dispatched to by config_value.c): a next hop
 * (smart_host; also the target of mailbox = lmtp:...), the DNS resolver
 * ("system" or a numeric IP:port) and the outbound_tls_policy list. Owns
 * config_outbound_build(), called by config.c once per server after every
 * key was parsed: it builds the server's client TLS context, reads
 * smart_host_credentials (a private file, checked like auth_users) and
 * checks the rules between the keys. Like every part of the loader it
 * runs on the main thread, before privileges are dropped; errors name the
 * line of the key they concern.
 *
 * Next hop syntax (as Postfix's relayhost, which admins know): "host" or
 * "host:port" looks up host's MX records; "[host]:port" and numeric
 * addresses do not. RFC 5321 5.1, RFC 3207, RFC 2033 (LMTP's port 24).
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "auth.h"
#include "config_keys.h"
#include "lib/xalloc.h"
#include "outbound_conn.h"

#define CREDENTIALS_LINE_MAX 1024
#define TLS_POLICIES_MAX 1024

const struct config_choice config_tls_policy_choices[] = {
	{ "none", TLS_POLICY_NONE },
	{ "may", TLS_POLICY_MAY },
	{ "encrypt", TLS_POLICY_ENCRYPT },
	{ "verify", TLS_POLICY_VERIFY },
	{ NULL, 0 },
};

static bool is_numeric_host(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

static int port_parse(const char *s, unsigned *port)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long v = strtoul(s, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int config_nexthop_parse(const char *text, unsigned default_port, struct config_nexthop *out,
			 struct buf *why)
{
	char s[CONFIG_DOMAIN_MAX + 16];
	memset(out, 0, sizeof(*out));
	size_t len = strlen(text);
	if (len == 0 || len >= sizeof(s)) {
		buf_append_str(why, "expected host, host:port, [host]:port or [IP]:port");
		return -1;
	}
	memcpy(s, text, len + 1);

	char *host = s, *port_text = NULL;
	bool bracket = s[0] == '[';
	if (bracket) {
		char *close = strchr(s, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			buf_append_str(why, "expected [host]:port or [IP]:port");
			return -1;
		}
		*close = '\0';
		host = s + 1;
		port_text = close[1] == ':' ? close + 2 : NULL;
	} else {
		char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			buf_append_str(why, "IPv6 addresses go in brackets, e.g. [::1]:25");
			return -1;
		}
		if (colon != NULL) {
			*colon = '\0';
			port_text = colon + 1;
		}
	}
	unsigned port = default_port;
	if (port_text != NULL && port_parse(port_text, &port) < 0) {
		buf_append_str(why, "the port must be a number from 1 to 65535");
		return -1;
	}
	char name[CONFIG_DOMAIN_MAX + 1];
	const char *err;
	if (is_numeric_host(host)) {
		memcpy(name, host, strlen(host) + 1);	/* an address is at most 45 characters */
	} else if (config_domain_check(host, strlen(host), name, &err) < 0) {
		buf_printf(why, "'%s': %s", host, err);
		return -1;
	}
	out->host = xstrdup(name);
	out->port = port;
	out->mx = !bracket && !is_numeric_host(host);
	return 0;
}

void config_nexthop_free(struct config_nexthop *n)
{
	free(n->host);
	n->host = NULL;
}

int config_lmtp_parse(const char *mailbox, struct config_lmtp *out, struct buf *why)
{
	static const char unix_prefix[] = "lmtp:unix:";
	memset(out, 0, sizeof(*out));
	if (strncmp(mailbox, unix_prefix, sizeof(unix_prefix) - 1) == 0) {
		const char *path = mailbox + sizeof(unix_prefix) - 1;
		struct sockaddr_un probe;
		if (*path == '\0' || strlen(path) >= sizeof(probe.sun_path)) {
			buf_printf(why, "lmtp:unix: needs a socket path of 1 to %zu characters",
				   sizeof(probe.sun_path) - 1);
			return -1;
		}
		for (const char *p = path; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				buf_append_str(why, "control characters are not allowed in a path");
				return -1;
			}
		}
		out->unix_path = path;
		return 0;
	}
	if (config_nexthop_parse(mailbox + strlen("lmtp:"), CONFIG_LMTP_PORT, &out->inet, why) < 0) {
		buf_append_str(why, " (expected lmtp:unix:PATH or lmtp:HOST[:PORT])");
		return -1;
	}
	out->inet.mx = false;
	return 0;
}

int config_tls_policy_for(const struct config_server *srv, const char *domain)
{
	for (size_t i = 0; i < srv->noutbound_tls_policy; i++)
		if (strcasecmp(srv->outbound_tls_policy[i].domain, domain) == 0)
			return srv->outbound_tls_policy[i].policy;
	return srv->outbound_tls;
}

static int parse_resolver(const char *text, char **field, struct buf *why)
{
	if (strcmp(text, "system") == 0) {
		*field = xstrdup(text);
		return 0;
	}
	struct config_listen l;
	if (config_endpoint_parse(text, strlen(text), &l, why) < 0) {
		buf_append_str(why, " (expected system, IP:port or [IPv6]:port)");
		return -1;
	}
	*field = xstrdup(l.text);
	return 0;
}

static void policies_free(struct config_tls_policy *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].domain);
	free(list);
}

static int parse_policies(const char *text, struct config_tls_policy **field, size_t *count,
			  struct buf *why)
{
	struct config_tls_policy *list = NULL;
	size_t n = 0;
	const char *p = text;
	for (;;) {
		p += strspn(p, CONFIG_LIST_SEPARATORS);
		if (*p == '\0')
			break;
		size_t len = strcspn(p, CONFIG_LIST_SEPARATORS);
		const char *colon = memchr(p, ':', len);
		char d[CONFIG_DOMAIN_MAX + 1];
		const char *err = "expected domain:policy";
		int policy = -1;
		if (colon != NULL && config_domain_check(p, (size_t)(colon - p), d, &err) == 0) {
			size_t plen = len - (size_t)(colon + 1 - p);
			err = "the policy must be none, may, encrypt or verify";
			for (const struct config_choice *c = config_tls_policy_choices; c->name != NULL; c++)
				if (strlen(c->name) == plen && strncasecmp(colon + 1, c->name, plen) == 0)
					policy = c->value;
		}
		for (size_t i = 0; policy >= 0 && i < n; i++) {
			if (strcmp(list[i].domain, d) == 0) {
				err = "the domain is listed twice";
				policy = -1;
			}
		}
		if (policy < 0 || n == TLS_POLICIES_MAX) {
			buf_append_char(why, '\'');
			config_append_escaped(why, p, len);
			buf_printf(why, "': %s", policy < 0 ? err : "too many items");
			policies_free(list, n);
			return -1;
		}
		list = xrealloc(list, (n + 1) * sizeof(*list));
		list[n].domain = xstrdup(d);
		list[n].policy = policy;
		n++;
		p += len;
	}
	*field = list;
	*count = n;
	return 0;
}

int config_outbound_parse(const struct config_key *k, const char *text, void *field, size_t *count,
			  struct buf *why)
{
	switch (k->type) {
	case CONFIG_T_NEXTHOP:
		if (text[strspn(text, CONFIG_LIST_SEPARATORS)] == '\0')
			return 0;	/* empty: none */
		return config_nexthop_parse(text, (unsigned)k->min, field, why);
	case CONFIG_T_RESOLVER:
		return parse_resolver(text, field, why);
	case CONFIG_T_TLS_POLICIES:
		return parse_policies(text, field, count, why);
	default:
		buf_append_str(why, "internal error: not an outbound type");
		return -1;
	}
}

void config_outbound_free(const struct config_key *k, void *field, size_t *count)
{
	switch (k->type) {
	case CONFIG_T_NEXTHOP:
		config_nexthop_free(field);
		return;
	case CONFIG_T_RESOLVER:
		free(*(char **)field);
		*(char **)field = NULL;
		return;
	case CONFIG_T_TLS_POLICIES:
		policies_free(*(struct config_tls_policy **)field, *count);
		*(struct config_tls_policy **)field = NULL;
		*count = 0;
		return;
	default:
		return;
	}
}

static int line_of(const int *lines, const char *name, int section_line)
{
	int l = lines[config_key_find(name) - config_keys];
	return l != 0 ? abs(l) : section_line;
}

/* Reads the one "user:password" line of srv->smart_host_credentials. */
static void credentials_read(struct config_loader *ld, struct config_server *srv, int line)
{
	struct buf err = BUF_INIT;
	const char *path = srv->smart_host_credentials;
	FILE *f = auth_secret_open(path, "credentials file", &err);
	if (f == NULL) {
		config_error_lines(ld, line, &err, 1);
		buf_free(&err);
		return;
	}
	char text[CREDENTIALS_LINE_MAX + 2];
	unsigned lineno = 0, found = 0;
	while (fgets(text, sizeof(text), f) != NULL) {
		lineno++;
		size_t len = strcspn(text, "\r\n");
		bool whole = text[len] != '\0' || feof(f);
		text[len] = '\0';
		if (!whole) {
			config_error(ld, line, "%s:%u: line too long", path, lineno);
			break;
		}
		if (text[0] == '\0' || text[0] == '#')
			continue;
		char *colon = strchr(text, ':');
		if (colon == NULL || colon == text || colon[1] == '\0' || found > 0) {
			config_error(ld, line, "%s:%u: expected one line user:password", path, lineno);
			found++;
			continue;
		}
		*colon = '\0';
		srv->smart_host_user = xstrdup(text);
		srv->smart_host_password = xstrdup(colon + 1);
		explicit_bzero(text, sizeof(text));
		found++;
	}
	explicit_bzero(text, sizeof(text));
	fclose(f);
	if (found == 0)
		config_error(ld, line, "%s: no user:password line", path);
	buf_free(&err);
}

void config_outbound_build(struct config_loader *ld, struct config_server *srv, const int *lines,
			   int section_line)
{
	struct buf err = BUF_INIT;
	int ca_line = lines[config_key_find("outbound_tls_ca") - config_keys];
	if (ca_line >= 0) {
		srv->outbound_tls_ctx = tls_client_ctx_new(srv->outbound_tls_ca, &err);
		if (srv->outbound_tls_ctx == NULL)
			config_error_lines(ld, line_of(lines, "outbound_tls_ca", section_line), &err, 1);
	}
	int cred_line = lines[config_key_find("smart_host_credentials") - config_keys];
	if (srv->smart_host_credentials != NULL && cred_line > 0) {
		if (srv->smart_host.host == NULL)
			config_error(ld, cred_line, "smart_host_credentials needs smart_host");
		else
			credentials_read(ld, srv, cred_line);
	}
	int direct_line = lines[config_key_find("smart_host_direct_first") - config_keys];
	if (srv->smart_host_direct_first && srv->smart_host.host == NULL && direct_line > 0)
		config_error(ld, direct_line, "smart_host_direct_first needs smart_host");
	buf_free(&err);
}
