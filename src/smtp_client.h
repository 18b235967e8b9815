/*
 * smtp_client.h — PURE client side of SMTP and LMTP: replies, EHLO, commands, dot-stuffing (contract).
 *
 * What the outbound client needs that does not touch a socket, so that
 * every rule is unit-tested and the reply parser fuzzed:
 * - an incremental reply parser (RFC 5321 4.2: "NNN-text" lines, then
 *   "NNN text"; RFC 2034 enhanced codes);
 * - the EHLO/LHLO keyword parser (RFC 5321 4.1.1.1, 2920 PIPELINING,
 *   1870 SIZE, 6152 8BITMIME, 6531 SMTPUTF8, 3461 DSN, 3207 STARTTLS,
 *   4954 AUTH, 3030 CHUNKING);
 * - MAIL and RCPT command builders that add only the parameters the peer
 *   offers (RFC 3461 4: DSN parameters only to a DSN peer);
 * - a streaming dot-stuffer for the content (RFC 5321 4.5.2).
 * Pure: libc, src/lib/, this header and smtp_proto.h (for its constants).
 * No state beyond the caller's structs; callable from any thread.
 */
#ifndef VSMTPD_SMTP_CLIENT_H
#define VSMTPD_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define SMTP_REPLY_LINE_MAX 2048	/* longer lines are a protocol error (RFC 5321 4.5.3.1.5: 512) */
#define SMTP_REPLY_LINES_MAX 100	/* more lines in one reply are a protocol error */
#define SMTP_REPLY_TEXT_MAX 1024	/* kept text of a reply, truncated beyond */

struct smtp_reply {
	int code;			/* 200..599 */
	/* "5.1.1" when the first line's text opens with an RFC 2034 code
	 * (class 2/4/5 and the reply's own class, subject and detail 0-999)
	 * followed by ' ' or the line end; else "". */
	char enh[16];
	/* The whole reply on one line: every line's text after "NNN-"/"NNN ",
	 * joined with " ", starting with the code, e.g. "550 5.1.1 <a@b> unknown".
	 * Control characters are replaced by spaces; truncated at
	 * SMTP_REPLY_TEXT_MAX - 1 bytes. For logs and Diagnostic-Code fields. */
	char text[SMTP_REPLY_TEXT_MAX];
	/* The raw lines' texts (after the code and separator) joined with '\n':
	 * what smtp_client_parse_ehlo() reads. A line that does not fit is left
	 * out whole (the first always fits), so no keyword is ever cut. */
	char lines[SMTP_REPLY_TEXT_MAX * 4];
};

/* Incremental reply parser: feed bytes as they arrive. */
struct smtp_reply_parser {
	char line[SMTP_REPLY_LINE_MAX + 2];
	size_t linelen;
	size_t nlines;
	int code;
	struct smtp_reply cur;
};

void smtp_reply_parser_init(struct smtp_reply_parser *p);

/*
 * Consumes bytes of data[0..len) up to and including the end of one whole
 * reply; *used says how many. Returns 1 with the reply in *out (the parser
 * is then ready for the next reply), 0 when all of data was used and the
 * reply is not complete yet, or -1 on a protocol error (a line that does not
 * start with three digits and ' ' or '-', a code that changes between lines,
 * a code outside 200..599, a line over SMTP_REPLY_LINE_MAX, over
 * SMTP_REPLY_LINES_MAX lines, a NUL). A line ends at LF; a CR before it is
 * dropped (servers that send bare LF are tolerated, as every MTA does). The
 * bare code ("250") is a valid last line (RFC 5321 4.2 grammar). A line is
 * refused as soon as it grows too long, without waiting for its LF.
 * After -1 the parser must be initialised again. Any thread; one owner.
 */
int smtp_reply_parse(struct smtp_reply_parser *p, const char *data, size_t len, size_t *used,
		     struct smtp_reply *out);

enum {
	SMTP_AUTH_MECH_PLAIN = 1u << 0,
	SMTP_AUTH_MECH_LOGIN = 1u << 1,
};

/* What a server offered in its EHLO (or LHLO) reply. */
struct smtp_caps {
	bool pipelining, starttls, eightbitmime, smtputf8, dsn, chunking, enhancedstatuscodes;
	bool size;			/* SIZE offered */
	unsigned long long size_max;	/* SIZE's limit; 0 = none announced */
	unsigned auth;			/* SMTP_AUTH_MECH_* offered */
};

/* Reads the keywords of a 250 EHLO/LHLO reply into *caps, cleared first
 * (case-insensitive; the first line, the greeting, is skipped; unknown
 * keywords are ignored; a malformed SIZE argument counts as SIZE without a
 * limit; "AUTH=PLAIN LOGIN", the pre-RFC 4954 form, counts like AUTH). */
void smtp_client_parse_ehlo(const struct smtp_reply *r, struct smtp_caps *caps);

/* What MAIL FROM says; enums as in smtp_proto.h (SMTP_RET_*, SMTP_BODY_*). */
struct smtp_client_mail {
	const char *sender;		/* "local@domain", "" for <> */
	unsigned long long size;	/* content bytes; 0 = do not announce */
	int body;			/* enum smtp_body: 7BIT/8BITMIME absent/present */
	bool smtputf8;
	int ret;			/* enum smtp_ret; absent = not sent */
	const char *envid;		/* xtext as stored, or NULL */
};

/*
 * Appends "MAIL FROM:<sender>[ SIZE=n][ BODY=8BITMIME][ SMTPUTF8]
 * [ RET=..][ ENVID=..]\r\n" with each parameter only when caps offers its
 * extension (SIZE when size > 0; BODY only for an 8BITMIME body; RET and
 * ENVID only with DSN). Addresses are stored in canonical wire form
 * (address.h: already quoted where RFC 5321 4.1.2 needs it) and are
 * written as they are inside <>.
 */
void smtp_client_mail_cmd(struct buf *out, const struct smtp_client_mail *m, const struct smtp_caps *caps);

/*
 * Appends "RCPT TO:<addr>[ NOTIFY=..][ ORCPT=..]\r\n"; NOTIFY (SMTP_NOTIFY_*
 * bits of smtp_proto.h, 0 = absent) and ORCPT ("type;xtext" as stored, or
 * NULL) only when caps->dsn.
 */
void smtp_client_rcpt_cmd(struct buf *out, const char *addr, unsigned notify, const char *orcpt,
			  const struct smtp_caps *caps);

/* Fills *r with a reply made up here (a local failure given the shape of
 * a peer's reply): code, enh, and text "code enh detail". */
void smtp_reply_make(struct smtp_reply *r, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Whether the peer gave our own name as the first word of its reply (a
 * greeting or an EHLO reply): the exchanger is this very server, and mail
 * to it would loop (RFC 5321 5.1). Compared case-insensitively; an empty
 * name never matches.
 */
bool smtp_client_names_us(const struct smtp_reply *r, const char *our_name);

/*
 * Why a message cannot go to a peer with these caps, or NULL when it can:
 * "5.3.4 message size exceeds the fixed limit of the next hop" when
 * caps->size_max and size > size_max; "5.6.7 the next hop does not support
 * SMTPUTF8" (RFC 6531 3.4) when smtputf8 and not caps->smtputf8;
 * "5.6.3 the next hop does not support 8BITMIME" when eightbit (a
 * BODY=8BITMIME message whose content really has 8-bit bytes) and not
 * caps->eightbitmime (RFC 6152 3: such a message must not be sent as is;
 * we do not convert it to 7 bits). A message declared 8BITMIME whose
 * content is all 7-bit goes as is, without BODY=.
 */
const char *smtp_client_refusal(const struct smtp_caps *caps, unsigned long long size, bool smtputf8,
				bool eightbit);

/* Streaming dot-stuffing of message content that has CRLF line ends; the
 * content may be cut anywhere between calls. */
struct smtp_dot {
	bool line_start;	/* the next byte starts a line: at the start, after LF */
	bool after_cr;		/* the last byte was CR */
	bool clean_end;		/* the content so far is empty or ends with CRLF */
};

void smtp_dot_init(struct smtp_dot *d);
/* Appends in[0..len) to out with a '.' doubled at the start of every line.
 * A line starts after any LF, bare or not: a stray LF "." never becomes an
 * end of data for a lenient peer (SMTP smuggling). */
void smtp_dot_encode(struct smtp_dot *d, const char *in, size_t len, struct buf *out);
/* Appends the end of data: "\r\n" first when the content was not empty and
 * did not end with CRLF, then ".\r\n" (empty content: ".\r\n" alone).
 * Leaves *d initialised for another message. */
void smtp_dot_finish(struct smtp_dot *d, struct buf *out);

#endif
