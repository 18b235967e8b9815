/*
 * policy.h — who may connect and which recipients a virtual server takes (contract).
 *
 * Decisions only: no I/O, no counters of its own (the caller passes the
 * current counts), so every rule is unit-testable with a config snapshot.
 * Replies follow RFC 5321 4.2/4.3.2 with RFC 3463 enhanced codes.
 */
#ifndef VSMTPD_POLICY_H
#define VSMTPD_POLICY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "address.h"
#include "config.h"

enum policy_conn {
	POLICY_CONN_OK,
	POLICY_CONN_DENIED,	/* allow/deny lists: greeting "554 5.7.1" */
	POLICY_CONN_BUSY,	/* max_connections: "421 4.7.0" */
	POLICY_CONN_BUSY_IP,	/* max_connections_per_ip: "421 4.7.0" */
	POLICY_CONN_RATE,	/* max_connection_rate_per_ip: "421 4.7.0" */
	POLICY_CONN_PAUSED,	/* the server is paused (vsmtpctl): "421 4.3.2" */
};

/*
 * Decides a new connection from sa, given the server's sessions now, this
 * IP's sessions now and its connections in the last minute (all before
 * counting the new one). deny wins over allow; a client must match allow.
 */
enum policy_conn policy_connect(const struct config_server *srv, const struct sockaddr *sa,
				unsigned sessions_now, unsigned ip_sessions_now, unsigned ip_rate_now);

/*
 * The domain a bare "<postmaster>" (RFC 5321 4.1.1.3) belongs to on srv:
 * the server's hostname when it is a local domain, else the local domain
 * that the hostname is in ("mx.example.test" -> "example.test"), else the
 * first local domain, else the hostname. Borrowed from srv.
 */
const char *policy_postmaster_domain(const struct config_server *srv);

struct policy_reply {
	int code;		/* 250 when accepted */
	const char *enh;	/* "2.1.5", "5.1.1", ... */
	char text[160];
};

/*
 * Decides RCPT TO for a client at sa on server srv. A bare <postmaster> is
 * rewritten in place to postmaster@policy_postmaster_domain(srv).
 * Accepts local recipients the server knows (users file, or any local part
 * that can name a Maildir safely), and non-local ones only for clients in
 * relay_networks, or authenticated ones when relay_authenticated = yes.
 * Sets *local to whether the recipient is local.
 * Returns true when accepted; r always holds the reply to give.
 */
bool policy_rcpt(const struct config_server *srv, const struct sockaddr *sa, bool authenticated,
		 struct mailbox *rcpt, bool *local, struct policy_reply *r);

/*
 * Decides MAIL FROM before the transaction starts: TLS required (530
 * 5.7.0), AUTH required (530 5.7.0), and the sender-login list (553 5.7.1:
 * an authenticated user may only use the addresses it owns; a client that
 * did not authenticate may not use an address someone owns). user is the
 * authenticated name or NULL; sender is "local@domain" or "" for <>.
 */
bool policy_mail(const struct config_server *srv, bool tls, const char *user, const char *sender,
		 struct policy_reply *r);

#endif
