/*
 * dsn.h — PURE building of delivery status notifications (contract).
 *
 * A report is a message from the virtual server's postmaster to the
 * original sender, sent with the empty reverse path <>: a
 * multipart/report; report-type=delivery-status (RFC 3462 / 6522) of
 * three parts:
 *   1. text/plain: what happened, for a human, recipient by recipient;
 *   2. message/delivery-status (RFC 3464): per-message fields
 *      (Reporting-MTA, Original-Envelope-Id, Received-From-MTA,
 *      Arrival-Date), then per recipient (Original-Recipient, Final-Recipient,
 *      Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date,
 *      Will-Retry-Until);
 *   3. the original message (message/rfc822) or its header section
 *      (text/rfc822-headers), or nothing — see dsn_include().
 * For a message that used SMTPUTF8 the types are the RFC 6533 ones
 * (message/global-delivery-status, message/global, message/global-headers)
 * and addresses are typed utf-8.
 *
 * The caller streams the original's content between dsn_report_begin()
 * and dsn_report_end(), so a large original is never held in memory.
 * Lines end in CRLF, as in the content of a queue file.
 *
 * Pure: libc, src/lib/ and this header; dates are formatted from the unix
 * seconds given, in UTC. No clock, no I/O.
 */
#ifndef VSMTPD_DSN_H
#define VSMTPD_DSN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* Without RET, the whole original is returned up to this size, else its headers. */
#define DSN_FULL_DEFAULT_MAX (64 * 1024)

enum dsn_action {
	DSN_ACTION_FAILED,	/* failed for good */
	DSN_ACTION_DELAYED,	/* still being retried */
	DSN_ACTION_DELIVERED,	/* delivered to a mailbox (Maildir, LMTP) */
	DSN_ACTION_RELAYED,	/* handed to a next hop that does not offer DSN */
};

struct dsn_rcpt {
	const char *addr;		/* the recipient as accepted: "local@domain" */
	const char *orcpt;		/* ORCPT as stored ("rfc822;xtext"), or NULL */
	enum dsn_action action;
	const char *status;		/* enhanced code: "5.1.1", "4.4.1", "2.0.0" */
	const char *remote_mta;		/* the host name that answered (no [ip]:port), or NULL */
	const char *diagnostic;		/* the reply that decided it ("550 5.1.1 ..."), or NULL */
	long long last_attempt;		/* unix seconds; 0: no Last-Attempt-Date */
	long long retry_until;		/* DELAYED: unix seconds of expiry; 0: no Will-Retry-Until */
};

enum dsn_include {
	DSN_INCLUDE_NONE,		/* no third part */
	DSN_INCLUDE_HEADERS,		/* the header section of the original */
	DSN_INCLUDE_FULL,		/* the whole original */
};

struct dsn_report {
	const char *reporting_mta;	/* our host name (the virtual server's hostname) */
	const char *from;		/* the report's From: address, "postmaster@HOST" */
	const char *to;			/* the original sender (never "") */
	const char *report_id;		/* the report's queue ID: Message-ID and MIME boundary */
	const char *orig_id;		/* the original's queue ID, named in the text */
	const char *envid;		/* ENVID as stored (xtext), or NULL */
	const char *client_helo;	/* the original's HELO name, or NULL: Received-From-MTA */
	const char *client_addr;	/* and its IP address, or NULL */
	long long arrival;		/* the original's arrival: Arrival-Date */
	long long now;			/* the report's Date: */
	bool smtputf8;			/* the original used SMTPUTF8: RFC 6533 types */
	enum dsn_include include;
	const struct dsn_rcpt *rcpts;	/* at least one */
	size_t n;
};

/*
 * What to return of the original (RFC 3461 4.3): RET=FULL the whole
 * message, RET=HDRS its headers, no RET (SMTP_RET_NONE) the whole message
 * when content_len <= DSN_FULL_DEFAULT_MAX, else its headers. Reports that
 * only tell of success or delay return headers at most (RFC 3461 4.3: the
 * content is for failures); any_failed says whether one recipient failed.
 */
enum dsn_include dsn_include(int ret, unsigned long long content_len, bool any_failed);

/*
 * Appends the report's header section, its first two parts and the headers
 * of the third part (when r->include is not NONE) to out; the caller then
 * appends the original (all of it, or its header section up to and
 * including the empty line, see message_header_len()) and calls
 * dsn_report_end(). Subject: "Delivery Status Notification (Failure)" when
 * a recipient failed, "(Delay)" when one is delayed, else "(Success)";
 * also Date, From, To, Message-ID <report_id@reporting_mta>,
 * Auto-Submitted: auto-replied (RFC 3834), MIME-Version.
 * Field values from the envelope are never trusted: CR, LF and other
 * control characters are replaced, and xtext (RFC 3461 4) is decoded
 * where the result is printable, else left as it was. Without smtputf8,
 * bytes that are not ASCII become '?', so all but the original is 7-bit
 * (a non-ASCII address is written as RFC 6533 utf-8-addr-xtext); with it,
 * only ill-formed UTF-8 does. A missing or malformed status becomes the
 * action's generic one (5.0.0, 4.0.0, 2.0.0). Long fields are folded at
 * blanks (78 columns where possible) and cut short of the 998 limit.
 */
void dsn_report_begin(const struct dsn_report *r, struct buf *out);

/* Appends what closes the report: a CRLF when the original did not end in
 * one (original_ended_crlf false) and the closing boundary. */
void dsn_report_end(const struct dsn_report *r, bool original_ended_crlf, struct buf *out);

#endif
