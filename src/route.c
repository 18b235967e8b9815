/*
 * route.c — recipient -> destination (see route.h).
 *
 * Owns nothing; reads the config snapshot it is given. Local means: the
 * domain (lower-cased; an address literal such as "[192.0.2.1]" only when
 * listed verbatim in local_domains) is one of the chosen server's
 * local_domains. A local recipient must be known at delivery time too
 * (the users file may have changed since RCPT), and its local part must
 * name a file safely (maildir_expand / address_local_is_safe): a
 * "user%remote" or "../x" local part fails for good, it is never relayed
 * nor turned into a path. Remote domains are relayed under the delivery
 * settings of the accepting server; masquerading (route_masquerade) is
 * applied to relayed mail only. Not here: delivery itself
 * (deliver_maildir.c, deliver_smtp.c), retry policy (queue.c). RFC 5321 2.3.5 (domains), 4.5.1 (postmaster),
 * RFC 3463 codes in every text.
 */
#include "route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "deliver_maildir.h"
#include "policy.h"

#define ROUTE_MAILDIR_PREFIX "maildir:"
#define ROUTE_LMTP_PREFIX "lmtp:"

static const struct config_server *route_local_server(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->nservers; i++)
		if (config_is_local_domain(&cfg->servers[i], domain))
			return &cfg->servers[i];
	return NULL;
}

const struct config_server *route_server(const struct config *cfg, const char *server, const char *domain)
{
	const struct config_server *srv = server != NULL ? config_server_find(cfg, server) : NULL;
	if (srv != NULL)
		return srv;
	if (domain != NULL && domain[0] != '\0' && (srv = route_local_server(cfg, domain)) != NULL)
		return srv;
	return cfg->nservers > 0 ? &cfg->servers[0] : NULL;
}

static void route_set(struct route *out, enum route_kind kind, const char *text)
{
	out->kind = kind;
	snprintf(out->text, sizeof(out->text), "%s", text);
}

void route_rcpt(const struct config *cfg, const char *server, const char *addr, struct route *out)
{
	char local[ADDRESS_LOCAL_MAX * 2 + 3];
	char domain[ADDRESS_DOMAIN_MAX + 1];
	const char *at = strrchr(addr, '@');
	size_t llen = at != NULL ? (size_t)(at - addr) : strlen(addr);
	size_t dlen = at != NULL ? strlen(at + 1) : 0;

	memset(out, 0, sizeof(*out));
	if (llen == 0 || llen >= sizeof(local) || dlen >= sizeof(domain)) {
		route_set(out, ROUTE_FAILED, "5.1.3 bad recipient address syntax");
		return;
	}
	memcpy(local, addr, llen);
	local[llen] = '\0';
	for (size_t i = 0; i < dlen; i++) {
		char c = at[1 + i];
		domain[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	domain[dlen] = '\0';

	const struct config_server *srv = server != NULL ? config_server_find(cfg, server) : NULL;
	if (dlen == 0) {
		/* only "<postmaster>" may come without a domain (RFC 5321 4.5.1) */
		if (strcasecmp(local, "postmaster") != 0) {
			route_set(out, ROUTE_FAILED, "5.1.3 recipient address has no domain");
			return;
		}
		if (srv == NULL && cfg->nservers > 0)
			srv = &cfg->servers[0];
		if (srv == NULL || srv->nlocal_domains == 0) {
			route_set(out, ROUTE_FAILED, "5.1.1 no local domain for postmaster");
			return;
		}
		snprintf(domain, sizeof(domain), "%s", policy_postmaster_domain(srv));
	} else if (srv == NULL || !config_is_local_domain(srv, domain)) {
		srv = route_local_server(cfg, domain);
	}
	out->srv = srv;
	snprintf(out->domain, sizeof(out->domain), "%s", domain);
	if (srv == NULL) {
		out->kind = ROUTE_REMOTE;
		return;
	}
	if (!config_user_known(srv, local, domain)) {
		route_set(out, ROUTE_FAILED, "5.1.1 user unknown");
		return;
	}

	const char *tmpl = srv->mailbox;
	if (tmpl == NULL || tmpl[0] == '\0') {
		route_set(out, ROUTE_DEFER, "4.3.5 no mailbox configured for this domain");
		return;
	}
	if (strncmp(tmpl, ROUTE_LMTP_PREFIX, strlen(ROUTE_LMTP_PREFIX)) == 0) {
		out->kind = ROUTE_LMTP;
		return;
	}
	if (strncmp(tmpl, ROUTE_MAILDIR_PREFIX, strlen(ROUTE_MAILDIR_PREFIX)) == 0)
		tmpl += strlen(ROUTE_MAILDIR_PREFIX);
	if (maildir_expand(tmpl, local, domain, out->maildir, sizeof(out->maildir)) < 0) {
		route_set(out, ROUTE_FAILED, address_local_is_safe(local)
			  ? "5.3.5 mailbox path cannot be built for this recipient"
			  : "5.1.3 local part cannot name a mailbox");
		return;
	}
	out->kind = ROUTE_LOCAL;
}

const char *route_masquerade(const struct config_server *srv, const char *sender, char *out, size_t size)
{
	const char *at = strrchr(sender, '@');
	if (srv != NULL && srv->masquerade_domain != NULL && at != NULL && config_is_local_domain(srv, at + 1))
		snprintf(out, size, "%.*s@%s", (int)(at - sender), sender, srv->masquerade_domain);
	else
		snprintf(out, size, "%s", sender);
	return out;
}
