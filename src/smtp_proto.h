/*
 * smtp_proto.h — PURE inbound SMTP protocol engine (contract).
 *
 * Bytes in, events and replies out: no sockets, no clock, no disk, no
 * globals, no threads. The session (smtp_session.c) feeds what it read,
 * pulls events, answers those that need a decision with a verdict, and
 * writes out whatever output the engine produced. Fuzzed and unit-tested
 * without a network.
 *
 *   smtp_proto_feed(p, bytes)          input, in any split
 *   while ((ev = smtp_proto_next(p, &e)) != SMTP_EV_NONE)
 *       handle e; if smtp_ev_needs_verdict(ev): smtp_proto_accept(p) or
 *       smtp_proto_verdict(p, code, enh, fmt, ...) — now or later (async)
 *   out = smtp_proto_output(p, &len); write it; smtp_proto_output_clear(p)
 *
 * Invariants:
 * - Replies come out in command order (RFC 2920 pipelining): while a
 *   verdict is pending no later command is looked at.
 * - The same input fed in one piece or byte by byte gives the same events
 *   and output.
 * - Only CRLF "." CRLF ends DATA. A bare CR or LF anywhere in DATA text
 *   marks the message SMTP_DATA_BARE_EOL (refused whole, CVE-2023-51764);
 *   it never ends the data nor starts a command. A command line is ended
 *   only by CRLF; one holding a bare CR/LF or NUL is refused as a whole.
 * - Memory is bounded: at most SMTP_LINE_MAX bytes of a command line are
 *   held; message text is passed through in chunks whatever its line
 *   lengths; BDAT chunks of any declared size are streamed or skipped.
 * - Every reply line ends with CRLF and carries an RFC 3463 enhanced code
 *   (except the greeting, the HELO/EHLO replies and 354), is printable
 *   ASCII and at most 512 octets (RFC 5321 4.5.3.1.5).
 * - Negative replies to commands (the engine's and the session's refusals,
 *   but not 452 "too many recipients" nor the verdict on a message) count
 *   as errors; the one that reaches max_errors is followed by "421 4.7.0"
 *   and SMTP_EV_CLOSE.
 *
 * RFC 5321 (4.1.1 commands, 4.1.4 sequencing, 4.2 replies, 4.3.2 codes per
 * command, 4.5.2 dot-stuffing, 4.5.3.1 limits), RFC 1870 SIZE, RFC 2920
 * PIPELINING, RFC 3030 CHUNKING/BDAT, RFC 3461 DSN parameters, RFC 3463,
 * RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3207 STARTTLS (the command).
 */
#ifndef VSMTPD_SMTP_PROTO_H
#define VSMTPD_SMTP_PROTO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "address.h"

#define SMTP_LINE_MAX 2048	/* command line incl. CRLF: 512 (RFC 5321 4.5.3.1.4) + extension room (RFC 3461 ORCPT 500, RFC 1870) */
#define SMTP_ENVID_MAX 100	/* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX 500	/* RFC 3461 4.2 */
#define SMTP_AUTH_LINE_MAX 12288	/* RFC 4954 4: an AUTH response line, without CRLF */
#define SMTP_DEFAULT_MAX_ERRORS 20	/* protocol errors before 421 (as Postfix smtpd_hard_error_limit) */

/* What the engine needs to know; copied by smtp_proto_new(). */
struct smtp_proto_conf {
	const char *hostname;		/* greeting, EHLO first line, 221/421 texts */
	unsigned long long max_message_size; /* SIZE advertised and enforced; 0 = no limit */
	unsigned max_recipients;	/* per transaction; 0 = no limit; beyond: 452 4.5.3 */
	unsigned max_messages;		/* per connection; 0 = no limit; beyond: 421 4.7.0 and close */
	unsigned max_errors;		/* 0 = SMTP_DEFAULT_MAX_ERRORS */
	bool starttls;			/* offer STARTTLS while not yet in TLS */
	const char *auth_mechanisms;	/* "PLAIN LOGIN" to offer AUTH (RFC 4954); NULL: no AUTH */
	bool auth_needs_tls;		/* AUTH only once TLS is up (538 5.7.11 before) */
};

enum smtp_ev_type {
	SMTP_EV_NONE,		/* nothing now: feed more input, or give the pending verdict */
	SMTP_EV_HELO,		/* HELO/EHLO; verdict needed (accept -> 250 / EHLO list) */
	SMTP_EV_MAIL,		/* MAIL FROM, syntax and sequence checked; verdict needed */
	SMTP_EV_RCPT,		/* RCPT TO, checked, under max_recipients; verdict needed */
	SMTP_EV_DATA_START,	/* DATA, or the first BDAT of a transaction; verdict needed:
				   accept -> "354" (DATA) / chunk is read (BDAT) */
	SMTP_EV_DATA_CHUNK,	/* message bytes, never empty: dot-unstuffed (DATA) or raw
				   (BDAT), line ends as sent; data points into the engine's
				   input buffer (no copy) */
	SMTP_EV_DATA_END,	/* end of message; verdict needed only if status == SMTP_DATA_OK,
				   otherwise the engine has already queued the refusal. Either
				   way the transaction is over (back to after-HELO) and the
				   message counts toward max_messages. A failed BDAT
				   transaction also ends here (status != OK), at once */
	SMTP_EV_RSET,		/* the transaction is gone (RSET, or HELO/EHLO inside a
				   transaction, just before the HELO event): drop its
				   envelope and spool file; no verdict */
	SMTP_EV_STARTTLS,	/* verdict needed (only outside a mail transaction); on
				   accept "220" is queued, the pipelined plaintext behind it
				   is discarded, and the state is reset: flush, start TLS,
				   then call smtp_proto_tls_started() */
	SMTP_EV_AUTH,		/* AUTH mechanism [initial-response]; verdict needed: 235
				   (authenticated), 4xx/5xx, or smtp_proto_auth_challenge() */
	SMTP_EV_AUTH_DATA,	/* the client's line after a 334 challenge (data, len; "*"
				   cancels); answered like SMTP_EV_AUTH */
	SMTP_EV_QUIT,		/* "221" queued: flush and close */
	SMTP_EV_CLOSE,		/* a 421 is queued (or a 501 for a BDAT size that cannot be
				   read, as the byte stream is then lost): flush and close */
};

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

/* RFC 3461 NOTIFY bits; 0 = parameter absent (the RFC defaults apply). */
#define SMTP_NOTIFY_NEVER 0x1
#define SMTP_NOTIFY_SUCCESS 0x2
#define SMTP_NOTIFY_FAILURE 0x4
#define SMTP_NOTIFY_DELAY 0x8

enum smtp_data_status {
	SMTP_DATA_OK,
	SMTP_DATA_TOO_BIG,	/* over max_message_size: 552 5.3.4 queued */
	SMTP_DATA_BARE_EOL,	/* bare CR or LF in DATA: 550 5.5.2 queued */
	SMTP_DATA_NUL,		/* NUL octet in DATA: 550 5.6.0 queued */
	SMTP_DATA_REFUSED,	/* BDAT: the start was refused (the verdict's reply is queued
				   once the chunk has been read), or DATA came after BDAT */
};

struct smtp_mail_params {
	unsigned long long size;	/* SIZE=, 0 when absent */
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char envid[SMTP_ENVID_MAX + 1];	/* xtext as sent (validated); "" when absent */
};

struct smtp_rcpt_params {
	unsigned notify;		/* SMTP_NOTIFY_* bits */
	char orcpt[SMTP_ORCPT_MAX + 1];	/* "addr-type;xtext" as sent (validated); "" when absent */
};

/* An event. Pointers are borrowed: valid until the next call on the engine. */
struct smtp_event {
	enum smtp_ev_type type;
	const char *helo;		/* HELO: the argument as sent (trimmed; no control
					   characters: those are refused with 501) */
	bool esmtp;			/* HELO: it was EHLO */
	struct mailbox mailbox;		/* MAIL (null path possible) and RCPT ("<postmaster>":
					   empty domain) */
	struct smtp_mail_params mail;	/* MAIL */
	struct smtp_rcpt_params rcpt;	/* RCPT */
	const char *auth_mech;		/* AUTH: the mechanism name as sent */
	const char *auth_initial;	/* AUTH: the initial response, or NULL when none */
	const char *data;		/* DATA_CHUNK, AUTH_DATA */
	size_t len;			/* DATA_CHUNK */
	bool bdat;			/* DATA_START, DATA_END: by BDAT rather than DATA */
	enum smtp_data_status status;	/* DATA_END */
	unsigned long long size;	/* DATA_END: message octets received (after dot-
					   unstuffing; all BDAT chunk sizes), counted to the
					   end even when the message was refused */
};

struct smtp_proto;

struct smtp_proto *smtp_proto_new(const struct smtp_proto_conf *conf);
void smtp_proto_free(struct smtp_proto *p);

/*
 * Queues the greeting (once; later calls are ignored). code 220 (or any
 * code below 400): "220 <hostname> ESMTP <text>". Otherwise "<code> <enh>
 * <hostname> <text>" (no enhanced code when enh is NULL) and the RFC 5321
 * 3.1 state: 5xx (554 for a refused client) -> every command but QUIT gets
 * "503 5.5.1"; 4xx (421 when busy) -> SMTP_EV_CLOSE next. Input fed before
 * the greeting is held until it.
 */
void smtp_proto_greet(struct smtp_proto *p, int code, const char *enh, const char *text);

/* Appends input. The caller should drain smtp_proto_next() before feeding
 * large amounts more, so that buffered input stays small. */
void smtp_proto_feed(struct smtp_proto *p, const void *data, size_t len);

/* Fills *ev with the next event and returns its type (SMTP_EV_NONE: none). */
enum smtp_ev_type smtp_proto_next(struct smtp_proto *p, struct smtp_event *ev);

/* True for the event types that wait on a verdict (see the enum). */
bool smtp_ev_needs_verdict(const struct smtp_event *ev);

/* Answers the pending event with its standard positive reply. Ignored
 * when no verdict is pending (a second answer, or after a close). */
void smtp_proto_accept(struct smtp_proto *p);

/*
 * Answers the pending event with a reply of the caller's: code (2xx accepts,
 * 4xx/5xx refuses; 421 also closes), enhanced code "x.y.z" (replaced by
 * "<class>.0.0" when missing or not of the code's class), text (one line:
 * CR, LF, NUL and other non-printable octets become spaces, 8-bit octets
 * "?"; cut to fit 512 octets). A positive answer to HELO/EHLO or DATA gets
 * the engine's fixed reply (capability list, 354); to MAIL, RCPT, DATA_END
 * and STARTTLS (220) the caller's line. A refused first BDAT is answered
 * after its chunk has been read and ends the transaction. Any other code is
 * a caller bug and becomes "451 4.3.0". Ignored when nothing is pending.
 */
void smtp_proto_verdict(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Answers a pending SMTP_EV_AUTH / SMTP_EV_AUTH_DATA with "334 text" (a
 * base64 challenge, possibly empty): the next line the client sends, up to
 * SMTP_AUTH_LINE_MAX octets, comes back as SMTP_EV_AUTH_DATA.
 */
void smtp_proto_auth_challenge(struct smtp_proto *p, const char *text);

/* The session timed out: queues "421 4.4.2 ... timeout" and closes. */
void smtp_proto_timeout(struct smtp_proto *p);
/* The server is going down: queues "421 4.3.2 ... shutting down" and closes. */
void smtp_proto_shutdown(struct smtp_proto *p);
/* TLS is up after STARTTLS: EHLO is needed again, STARTTLS no longer offered.
 * Between the accepted STARTTLS and this call all input is dropped. May be
 * called before the greeting for implicit TLS (RFC 8314). */
void smtp_proto_tls_started(struct smtp_proto *p);

/* True once the engine waits for a DATA or BDAT chunk's bytes (timeout_data applies). */
bool smtp_proto_in_data(const struct smtp_proto *p);
/* True when the engine has closed (after QUIT / CLOSE): feed nothing more. */
bool smtp_proto_closed(const struct smtp_proto *p);

/* Reply bytes produced so far (borrowed), then clear them once written. */
const char *smtp_proto_output(const struct smtp_proto *p, size_t *len);
void smtp_proto_output_clear(struct smtp_proto *p);

#endif
