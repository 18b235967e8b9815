/*
 * deliver_smtp_int.h — what deliver_smtp.c (hosts, sessions, fallback)
 * and deliver_smtp_txn.c (one transaction) share; not for other modules
 * (they use deliver_smtp.h).
 */
#ifndef VSMTPD_DELIVER_SMTP_INT_H
#define VSMTPD_DELIVER_SMTP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "deliver_smtp.h"

/* What a transaction left its session fit for. */
enum txn_end {
	TXN_SOUND,	/* between transactions, ready for MAIL: may go back to the pool */
	TXN_BROKEN,	/* I/O failed, the peer said 421, or it is out of step: close it */
	TXN_STALE,	/* a cached session failed before MAIL's reply: no recipient touched */
};

/*
 * Runs one transaction for rcpts[0..n) on c, as deliver_smtp.h describes,
 * and sets the result of every recipient, except on TXN_STALE (only when
 * cached: c came from the pool and this is its first use since).
 * params gives the timeouts and lmtp (a reply per recipient after the
 * dot). Does not close c.
 */
enum txn_end deliver_txn(struct oconn *c, bool cached, const struct oconn_params *params,
			 const struct deliver_msg *msg, struct deliver_rcpt *rcpts, size_t n);

/* Sets rc's result from r's class (2xx OK, 5xx PERM, else TEMP), its reply
 * and its enhanced code (made up as X.0.0 when r has none, RFC 3463). */
void deliver_rcpt_set(struct deliver_rcpt *rc, const struct smtp_reply *r);

#endif
