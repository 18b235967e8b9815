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
};

/*
 * Decides a new connection from sa, given the server's sessions now and
 * this IP's sessions now (both before counting the new one). deny wins
 * over allow; a client must match allow.
 */
enum policy_conn policy_connect(const struct config_server *srv, const struct sockaddr *sa,
				unsigned sessions_now, unsigned ip_sessions_now);

struct policy_reply {
	int code;		/* 250 when accepted */
	const char *enh;	/* "2.1.5", "5.1.1", ... */
	char text[160];
};

/*
 * Decides RCPT TO for a client at sa on server srv. A bare <postmaster> is
 * rewritten in place to postmaster@<first local domain> (or @hostname).
 * Accepts local recipients the server knows (users file, or any local part
 * that can name a Maildir safely), and non-local ones only for clients in
 * relay_networks. Sets *local to whether the recipient is local.
 * Returns true when accepted; r always holds the reply to give.
 */
bool policy_rcpt(const struct config_server *srv, const struct sockaddr *sa,
		 struct mailbox *rcpt, bool *local, struct policy_reply *r);

#endif
