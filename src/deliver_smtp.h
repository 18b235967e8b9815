/*
 * deliver_smtp.h — hand one queued message to the next hop over SMTP or LMTP (contract).
 *
 * One call delivers a message to the recipients of one destination: a
 * remote domain (MX lookup, RFC 5321 5.1), a smart host, or an LMTP
 * server (RFC 2033). It finds the hosts (dns.h), takes an idle session from
 * the pool or opens one (outbound_conn.h), trying hosts and their
 * addresses in order until one accepts a transaction, and runs the
 * transaction: MAIL, every RCPT, DATA (pipelined when the peer offers
 * PIPELINING, RFC 2920), the content from the queue file dot-stuffed,
 * and for LMTP one reply per accepted recipient after the final dot.
 * Each recipient ends with a result: delivered (2xx), temporary (4xx, or
 * no host could be reached), or permanent (5xx). Runs on a delivery
 * thread; blocks.
 *
 * Fallback rules (RFC 5321 5.1): a host that cannot be reached, or
 * refuses the session, makes the next address/host be tried; a 4xx/5xx
 * to MAIL or DATA, or a 4xx/5xx to a RCPT, is an answer from the
 * destination and is final for this attempt (no next host). When every
 * host failed, recipients are temporary failures, except when every host
 * refused us with 5xx (permanent). The session goes back to the pool
 * after a transaction that ended cleanly (after RSET when the transaction
 * was refused).
 */
#ifndef VSMTPD_DELIVER_SMTP_H
#define VSMTPD_DELIVER_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "dns.h"
#include "outbound_conn.h"
#include "smtp_client.h"

enum deliver_dest_kind {
	DEST_MX,		/* name is a domain: its MX hosts (or address literal) */
	DEST_HOST,		/* name is one host: its A/AAAA only (a "[host]" smart host) */
	DEST_LMTP_INET,		/* name is a host or IP for LMTP over TCP */
	DEST_LMTP_UNIX,		/* name is the path of an LMTP unix socket */
};

struct deliver_dest {
	enum deliver_dest_kind kind;
	const char *name;
	unsigned port;			/* DEST_MX/HOST/LMTP_INET */
	struct oconn_params params;	/* lmtp is set by the kind; tls_name defaults to each host's name */
	const char *pool_key;		/* sessions are shared between calls with the same key */
	unsigned max_per_dest;		/* connections to this destination at once; 0 = no limit */
	unsigned max_messages;		/* transactions per session; 0 = no limit */
	unsigned dns_timeout;		/* seconds; 0 = default */
};

/* The message: envelope values as in the queue file, content as a file range. */
struct deliver_msg {
	const char *id;			/* for log lines */
	const char *sender;		/* "" for <>; after masquerading */
	int ret, body;			/* enum smtp_ret, enum smtp_body */
	bool smtputf8;
	const char *envid;		/* or NULL */
	int fd;				/* the queue file */
	off_t content_off, content_len;
};

enum deliver_rcpt_result {
	DELIVER_RCPT_OK,		/* the next hop accepted it */
	DELIVER_RCPT_TEMP,		/* try again later */
	DELIVER_RCPT_PERM,		/* failed for good */
};

struct deliver_rcpt {
	const char *addr;		/* in: "local@domain" */
	unsigned notify;		/* in: SMTP_NOTIFY_* or 0 */
	const char *orcpt;		/* in: or NULL */
	enum deliver_rcpt_result result;	/* out */
	/* out: the reply that decided it ("250 2.1.5 Ok" / "550 5.1.1 ...")
	 * or a made-up one for local failures ("451 4.4.1 connection refused"):
	 * code, enhanced code, text, as smtp_reply.text. */
	char reply[SMTP_REPLY_TEXT_MAX];
	char enh[16];			/* out: the enhanced code ("5.1.1"), made up from the basic
					 * code (RFC 3463: X.0.0) when the peer gave none */
};

struct deliver_report {
	char relay[OCONN_PEER_MAX];	/* the host that answered, "name[ip]:port"; "" when none */
	bool dsn_relayed;		/* the peer did not offer DSN: NOTIFY=SUCCESS means "relayed" */
	bool busy;			/* not tried: max_per_dest reached; recipients are TEMP; try
					 * again soon without counting an attempt */
	bool tls;			/* the transaction ran over TLS */
};

/*
 * Delivers msg to rcpts[0..n) at dest; fills every rcpts[i].result/reply/enh
 * and *rep. Never fails as a whole: every problem is a recipient result.
 * Before the transaction, smtp_client_refusal() against the peer's caps may
 * fail every recipient permanently (SIZE, SMTPUTF8).
 */
void deliver_smtp(struct dns *dns, struct oconn_pool *pool, const struct deliver_dest *dest,
		  const struct deliver_msg *msg, struct deliver_rcpt *rcpts, size_t n,
		  struct deliver_report *rep);

#endif
