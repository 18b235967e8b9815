/*
 * smtp_proto_int.h — internals shared by the parts of the smtp_proto engine.
 *
 * Not a public interface: only src/smtp_proto*.c include it. The engine is
 * split by job: smtp_proto.c (input, events, verdicts, replies, state),
 * smtp_proto_cmd.c (the command table and its handlers), smtp_proto_params.c
 * (ESMTP parameters of MAIL and RCPT), smtp_proto_data.c (the DATA text and
 * BDAT chunk streams). All of them are pure: libc, src/lib/, address.h.
 *
 * Conventions: handlers never write to p->out directly but through
 * smtp_proto_reply() (a reply) or smtp_proto_error() (a reply that counts
 * toward max_errors); state changes only through smtp_proto_set_state().
 */
#ifndef VSMTPD_SMTP_PROTO_INT_H
#define VSMTPD_SMTP_PROTO_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "smtp_proto.h"

#define SMTP_REPLY_MAX 512	/* reply line incl. CRLF (RFC 5321 4.5.3.1.5) */
#define SMTP_EVQ_MAX 4		/* events one step can queue (RSET + HELO, ... + CLOSE) */

enum smtp_state {
	SMTP_STATE_INIT,	/* before smtp_proto_greet(): input is held */
	SMTP_STATE_CONNECT,	/* greeted: HELO/EHLO needed */
	SMTP_STATE_HELO,	/* greeted, no mail transaction */
	SMTP_STATE_MAIL,	/* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,	/* at least one recipient accepted */
	SMTP_STATE_CHUNKING,	/* between the BDAT chunks of a started message */
	SMTP_STATE_DATA,	/* reading DATA text up to CRLF.CRLF */
	SMTP_STATE_BDAT,	/* reading (or discarding) a BDAT chunk's octets */
	SMTP_STATE_AUTH,	/* after a 334 challenge: the next line is an AUTH response */
	SMTP_STATE_REJECT,	/* 554 greeting: only QUIT is served (RFC 5321 3.1) */
	SMTP_STATE_TLS_WAIT,	/* STARTTLS accepted: input dropped until TLS is up */
	SMTP_STATE_CLOSED,	/* QUIT or CLOSE emitted: input ignored */
};

#define SMTP_STATE_BIT(s) (1u << (s))

/* The event that waits on the session's verdict. */
enum smtp_wait {
	SMTP_WAIT_NONE,
	SMTP_WAIT_HELO,
	SMTP_WAIT_EHLO,
	SMTP_WAIT_MAIL,
	SMTP_WAIT_RCPT,
	SMTP_WAIT_DATA,		/* DATA_START by DATA */
	SMTP_WAIT_BDAT,		/* DATA_START by the first BDAT */
	SMTP_WAIT_DATA_END,
	SMTP_WAIT_STARTTLS,
	SMTP_WAIT_AUTH,		/* AUTH or AUTH_DATA */
};

/* Where the DATA scanner stands (only CRLF "." CRLF ends the text). */
enum smtp_dscan {
	SMTP_DSCAN_BOL,		/* at the start of a line: after a real CRLF */
	SMTP_DSCAN_TEXT,	/* inside a line */
	SMTP_DSCAN_CR,		/* after a CR inside the text */
	SMTP_DSCAN_DOT,		/* after a "." at the start of a line */
	SMTP_DSCAN_DOT_CR,	/* after "." CR at the start of a line */
};

/* What happens when the current BDAT chunk has been read. */
enum smtp_bdat_end {
	SMTP_BDAT_END_OK,	/* "250 ... octets received", or DATA_END on LAST */
	SMTP_BDAT_END_REPLY,	/* chunk was discarded: queue bdat_reply, back to bdat_back */
	SMTP_BDAT_END_FAIL,	/* message failed: queue bdat_reply, DATA_END(bdat_status) */
};

struct smtp_proto {
	/* configuration (copied) */
	char *hostname;
	unsigned long long max_message_size;
	unsigned max_recipients;
	unsigned max_messages;
	unsigned max_errors;
	bool starttls;
	char *auth_mechanisms;	/* NULL: AUTH not offered */
	bool auth_needs_tls;
	bool authenticated;	/* a 235 was given (RFC 4954 4: AUTH only once) */
	struct buf auth_arg;	/* mechanism NUL initial-response of the pending AUTH */

	enum smtp_state state;
	enum smtp_wait wait;
	bool tls;		/* TLS is active: STARTTLS no longer offered */
	bool esmtp;		/* the accepted greeting was EHLO */

	struct buf in;		/* input; bytes before in_pos are consumed */
	size_t in_pos;
	size_t scan;		/* CRLF search resumes at in_pos + scan */
	bool skipping;		/* swallowing an over-long command line */
	bool skip_cr;		/* ... and its last byte was CR */
	struct buf out;		/* replies not yet taken by the session */

	struct smtp_event evq[SMTP_EVQ_MAX];
	unsigned evq_head, evq_len;
	struct buf helo;	/* HELO/EHLO argument of the pending event */

	unsigned errors;	/* negative replies to commands so far */
	unsigned rcpts;		/* recipients accepted in this transaction */
	unsigned messages;	/* transactions ended by DATA_END */
	bool smtputf8;		/* the accepted MAIL carried SMTPUTF8 */
	bool mail_smtputf8;	/* ... of the MAIL waiting for its verdict */

	/* DATA */
	enum smtp_dscan dscan;
	enum smtp_data_status dstatus;
	unsigned long long dsize;

	/* BDAT */
	unsigned long long bdat_left;	/* octets of the current chunk still to read */
	unsigned long long bdat_chunk;	/* size of the current chunk */
	unsigned long long bdat_total;	/* octets declared in this transaction */
	bool bdat_last;
	bool bdat_discard;		/* read the chunk but pass nothing on */
	bool bdat_count_error;		/* bdat_reply counts toward max_errors */
	enum smtp_bdat_end bdat_end;
	enum smtp_data_status bdat_status;	/* for SMTP_BDAT_END_FAIL */
	enum smtp_state bdat_back;	/* state after SMTP_BDAT_END_REPLY */
	struct buf bdat_reply;		/* a whole reply line, queued once the chunk is read */
};

/* How a step of the input machine ended. */
enum smtp_step {
	SMTP_STEP_MORE,		/* input exhausted: nothing to do until more is fed */
	SMTP_STEP_AGAIN,	/* progress made (state, events, replies): step again */
	SMTP_STEP_EVENT,	/* *ev was filled and is to be returned now */
};

/* smtp_proto.c */
void smtp_proto_set_state(struct smtp_proto *p, enum smtp_state s);
/* Appends one whole reply line "CODE ENH TEXT\r\n" to out: text made of
 * printable ASCII only, the line cut to SMTP_REPLY_MAX, an enhanced code
 * that does not match the reply class replaced by "X.0.0". */
void smtp_proto_vformat(struct buf *out, int code, const char *enh, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
void smtp_proto_format(struct buf *out, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void smtp_proto_reply(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A reply that counts as an error; at max_errors it adds the 421 and closes. */
void smtp_proto_error(struct smtp_proto *p, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void smtp_proto_count_error(struct smtp_proto *p);
/* Queues an event (zeroed but for its type) and returns it for filling. */
struct smtp_event *smtp_proto_push(struct smtp_proto *p, enum smtp_ev_type type);
/* Ends the session: queues QUIT or CLOSE, drops all input, state CLOSED. */
void smtp_proto_close(struct smtp_proto *p, enum smtp_ev_type type);
/* The mail transaction is over: back to the after-HELO state. */
void smtp_proto_txn_end(struct smtp_proto *p);
/* Queues DATA_END, ends the transaction and counts the message; when status
 * is SMTP_DATA_OK the end waits on a verdict. */
void smtp_proto_data_end(struct smtp_proto *p, enum smtp_data_status status, bool bdat,
			 unsigned long long size);

/* smtp_proto_cmd.c: executes one command line (without its CRLF). */
void smtp_proto_cmd_line(struct smtp_proto *p, const char *line, size_t len);
/* The EHLO capability list or HELO line, for an accepted greeting. */
void smtp_proto_helo_reply(struct smtp_proto *p, bool esmtp);

/* smtp_proto_data.c */
void smtp_proto_data_begin(struct smtp_proto *p);
enum smtp_step smtp_proto_data_step(struct smtp_proto *p, struct smtp_event *ev);
enum smtp_step smtp_proto_bdat_step(struct smtp_proto *p, struct smtp_event *ev);

/* smtp_proto_params.c: ESMTP parameters (RFC 5321 4.1.2 Mail-parameters). */
struct smtp_param_error {
	int code;
	const char *enh;
	char text[128];
};
/* Parses the parameters after the path of MAIL FROM (s[0..len), may be
 * empty). Returns 0 and fills *out, or -1 and fills *err with the reply. */
int smtp_proto_mail_params(const char *s, size_t len, unsigned long long max_size,
			   struct smtp_mail_params *out, struct smtp_param_error *err);
/* The same for RCPT TO. */
int smtp_proto_rcpt_params(const char *s, size_t len, struct smtp_rcpt_params *out,
			   struct smtp_param_error *err);
/* True when s[0..len) is RFC 3461 4 xtext (possibly empty). */
bool smtp_proto_xtext_valid(const char *s, size_t len);

#endif
