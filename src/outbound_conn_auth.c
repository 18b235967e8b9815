/*
 * outbound_conn_auth.c — logging in to the next hop with SMTP AUTH PLAIN
 * or LOGIN, and the rule for when credentials may travel at all.
 *
 * Owns nothing beyond the call: the credentials are the caller's
 * (struct oconn_params), the session is outbound_conn.c's. Does not: run
 * the server side of AUTH (auth_sasl.c), choose the TLS policy.
 *
 * Invariants: credentials are sent only over TLS or to a local peer
 * (127.0.0.0/8, ::1, a unix socket), as a passive eavesdropper on any
 * other path would read them; otherwise the session fails TEMP with a
 * reason that says so. PLAIN is preferred (one round trip, RFC 4954 4's
 * initial response), LOGIN when PLAIN is not offered. The password never
 * reaches a log line or a made-up reply, and every buffer that held it
 * is wiped before it is freed.
 * Errors: OCONN_TEMP for our refusals and 4xx, OCONN_PERM for 5xx (535).
 *
 * RFC 4954 (AUTH), RFC 4616 (PLAIN), draft-murchison-sasl-login (LOGIN).
 */
#include "outbound_conn_int.h"

#include <netinet/in.h>
#include <string.h>

#include "lib/base64.h"

#define OCONN_AUTH_FIELD_MAX 255	/* RFC 4616 2: authcid and passwd, octets */

bool oconn_addr_is_local(const struct sockaddr *addr)
{
	switch (addr->sa_family) {
	case AF_UNIX:
		return true;
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
	}
	}
	return false;
}

/* Sends prefix + base64(data) as one line and reads the reply. */
static int auth_send(struct oconn *c, unsigned timeout, struct smtp_reply *r, const char *prefix,
		     const void *data, size_t len)
{
	struct buf b64 = BUF_INIT;
	base64_encode(&b64, data, len);	/* reserves the whole length first: no stray copies */
	int rc = oconn_command(c, timeout, "AUTH", r, "%s%s", prefix, b64.data);
	explicit_bzero(b64.data, b64.cap);
	buf_free(&b64);
	return rc;
}

static int auth_plain(struct oconn *c, unsigned timeout, const char *user, const char *pass,
		      struct smtp_reply *r)
{
	/* authzid (empty) NUL authcid NUL passwd */
	char msg[2 * OCONN_AUTH_FIELD_MAX + 2];
	size_t ulen = strlen(user), plen = strlen(pass);
	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[1 + ulen] = '\0';
	memcpy(msg + 2 + ulen, pass, plen);
	int rc = auth_send(c, timeout, r, "AUTH PLAIN ", msg, 2 + ulen + plen);
	explicit_bzero(msg, sizeof(msg));
	return rc;
}

/* AUTH LOGIN: the user name and the password each answer a 334. */
static int auth_login(struct oconn *c, unsigned timeout, const char *user, const char *pass,
		      struct smtp_reply *r)
{
	if (oconn_command(c, timeout, "AUTH", r, "AUTH LOGIN") < 0)
		return -1;
	if (r->code != 334)
		return 0;
	if (auth_send(c, timeout, r, "", user, strlen(user)) < 0)
		return -1;
	if (r->code != 334)
		return 0;
	return auth_send(c, timeout, r, "", pass, strlen(pass));
}

enum oconn_status oconn_auth(struct oconn *c, const struct oconn_params *p, struct smtp_reply *why)
{
	if (p->auth_user == NULL)
		return OCONN_OK;
	const char *pass = p->auth_pass != NULL ? p->auth_pass : "";
	if (c->ssl == NULL && !c->local) {
		smtp_reply_make(why, 421, "4.7.0", "refusing to send AUTH credentials without TLS "
			"(use the encrypt or verify TLS policy)");
		return OCONN_TEMP;
	}
	if ((c->caps.auth & (SMTP_AUTH_MECH_PLAIN | SMTP_AUTH_MECH_LOGIN)) == 0) {
		smtp_reply_make(why, 421, "4.7.0", "peer does not offer AUTH PLAIN or LOGIN");
		return OCONN_TEMP;
	}
	if (p->auth_user[0] == '\0' || strlen(p->auth_user) > OCONN_AUTH_FIELD_MAX ||
	    strlen(pass) > OCONN_AUTH_FIELD_MAX) {
		smtp_reply_make(why, 421, "4.7.0", "AUTH user name empty, or it or the password "
			"longer than %d bytes", OCONN_AUTH_FIELD_MAX);
		return OCONN_TEMP;
	}
	unsigned timeout = p->timeouts.command;
	int rc = (c->caps.auth & SMTP_AUTH_MECH_PLAIN)
			 ? auth_plain(c, timeout, p->auth_user, pass, why)
			 : auth_login(c, timeout, p->auth_user, pass, why);
	if (rc < 0)
		return OCONN_TEMP;
	return oconn_judge(c, why);
}
