/*
 * policy.c — connection and recipient decisions for one virtual server.
 *
 * Owns no state: the config snapshot and the counts come in, a verdict goes
 * out. Relay control is deliberately narrow: a recipient is local only when
 * its domain is listed in local_domains, and a local recipient must be
 * known (users file) or have a local part that names a file safely
 * (address_local_is_safe: no "%", "!", "@", "/", quotes) — so none of the
 * classic relay tricks ("user%remote@local", "\"user@remote\"@local",
 * "remote!user@local") can turn a local address into a relayed one, and
 * source routes are already dropped by the address parser (RFC 5321
 * Appendix C). Everything else is relaying, allowed only from
 * relay_networks (authenticated clients come with the access issue).
 */
#include "policy.h"

#include <stdio.h>
#include <string.h>

enum policy_conn policy_connect(const struct config_server *srv, const struct sockaddr *sa,
				unsigned sessions_now, unsigned ip_sessions_now, unsigned ip_rate_now)
{
	if (cidr_set_match(&srv->deny, sa) || !cidr_set_match(&srv->allow, sa))
		return POLICY_CONN_DENIED;
	if (srv->max_connections > 0 && sessions_now >= srv->max_connections)
		return POLICY_CONN_BUSY;
	if (srv->max_connections_per_ip > 0 && ip_sessions_now >= srv->max_connections_per_ip)
		return POLICY_CONN_BUSY_IP;
	if (srv->max_connection_rate_per_ip > 0 && ip_rate_now >= srv->max_connection_rate_per_ip)
		return POLICY_CONN_RATE;
	return POLICY_CONN_OK;
}

const char *policy_postmaster_domain(const struct config_server *srv)
{
	const char *h = srv->hostname;
	for (const char *d = h; d != NULL; d = strchr(d + 1, '.')) {
		const char *cand = d == h ? d : d + 1;
		if (*cand != '\0' && config_is_local_domain(srv, cand))
			return cand;
	}
	return srv->nlocal_domains > 0 ? srv->local_domains[0] : h;
}

static void reply(struct policy_reply *r, int code, const char *enh, const struct mailbox *m,
		  const char *why)
{
	char addr[ADDRESS_MAX * 2 + 8];
	if (address_format(m, addr, sizeof(addr)) < 0)
		addr[0] = '\0';
	r->code = code;
	r->enh = enh;
	if (why == NULL)
		snprintf(r->text, sizeof(r->text), "Ok");
	else
		snprintf(r->text, sizeof(r->text), "<%.80s>: %s", addr, why);
}

bool policy_rcpt(const struct config_server *srv, const struct sockaddr *sa, bool authenticated,
		 struct mailbox *rcpt, bool *local, struct policy_reply *r)
{
	if (rcpt->domain[0] == '\0') {
		/* RFC 5321 4.1.1.3: "<postmaster>" alone must be accepted. */
		snprintf(rcpt->domain, sizeof(rcpt->domain), "%s", policy_postmaster_domain(srv));
		*local = true;
		reply(r, 250, "2.1.5", rcpt, NULL);
		return true;
	}
	*local = !address_is_literal(rcpt) && config_is_local_domain(srv, rcpt->domain);
	if (*local) {
		bool known = config_user_known(srv, rcpt->local, rcpt->domain);
		if (known && srv->users == NULL && !address_is_postmaster(rcpt) &&
		    !address_local_is_safe(rcpt->local))
			known = false;
		if (!known) {
			reply(r, 550, "5.1.1", rcpt,
			      "Recipient address rejected: User unknown in local recipient table");
			return false;
		}
		reply(r, 250, "2.1.5", rcpt, NULL);
		return true;
	}
	if (cidr_set_match(&srv->relay_networks, sa) || (authenticated && srv->relay_authenticated)) {
		reply(r, 250, "2.1.5", rcpt, NULL);
		return true;
	}
	reply(r, 554, "5.7.1", rcpt, "Relay access denied");
	return false;
}

static bool refuse(struct policy_reply *r, int code, const char *enh, const char *text)
{
	r->code = code;
	r->enh = enh;
	snprintf(r->text, sizeof(r->text), "%s", text);
	return false;
}

bool policy_mail(const struct config_server *srv, bool tls, const char *user, const char *sender,
		 struct policy_reply *r)
{
	if (srv->starttls == CONFIG_REQUIRED && !tls)
		return refuse(r, 530, "5.7.0", "Must issue a STARTTLS command first");
	if (srv->auth == CONFIG_REQUIRED && user == NULL)
		return refuse(r, 530, "5.7.0", "Authentication required");
	if (srv->sender_login != NULL && sender[0] != '\0') {
		if (user != NULL && !config_sender_owned_by(srv, user, sender))
			return refuse(r, 553, "5.7.1", "Sender address rejected: not owned by the authenticated user");
		if (user == NULL && config_sender_is_owned(srv, sender))
			return refuse(r, 553, "5.7.1", "Sender address rejected: authentication required for this sender");
	}
	r->code = 250;
	r->enh = "2.1.0";
	snprintf(r->text, sizeof(r->text), "Ok");
	return true;
}
