/*
 * spool_format.h — PURE encoding of a queue file's envelope (contract).
 *
 * A queue file is   [envelope][content][trailer]
 *   envelope: versioned text records (first line "VSMTPD-QUEUE 1 <header length>"),
 *             each recipient with a FIXED-WIDTH state field so that delivery
 *             can update it in place with one pwrite (no rewrite, no rename);
 *   content:  the message exactly as it will be relayed (CRLF line ends,
 *             dot-unstuffed, our Received: header first);
 *   trailer:  a fixed-size END record holding the content length, so a
 *             truncated or torn file is recognised and never delivered.
 * All values are escaped so that no CR, LF, NUL or space inside a value can
 * break a record. Unknown record kinds are an error (the version number is
 * what changes when the format does).
 *
 * Pure: libc, src/lib/ and this header. No I/O: spool.c reads and writes.
 */
#ifndef VSMTPD_SPOOL_FORMAT_H
#define VSMTPD_SPOOL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

#define SPOOL_ID_MAX 24
#define SPOOL_TRAILER_LEN 32		/* bytes of the END record */
#define SPOOL_HEADER_MAX (16u << 20)	/* an envelope larger than this is corrupt */
#define SPOOL_FIRST_LINE_MAX 64		/* spool_format_header_len() needs at most this much */
#define SPOOL_RCPT_STATE_LEN 19		/* "S TTTT NNNNNNNNNNNN": state, tries, next_try */
#define SPOOL_TRIES_MAX 9999		/* the tries field is 4 digits */
#define SPOOL_NEXT_TRY_MAX 999999999999LL	/* the next_try field is 12 digits */

enum rcpt_state {
	RCPT_PENDING = 'P',	/* not delivered yet (maybe deferred: tries > 0) */
	RCPT_WARNED = 'W',	/* pending, and its sender was told it is late (RFC 3464 delayed) */
	RCPT_DELIVERED = 'D',	/* final: delivered (or relayed) */
	RCPT_FAILED = 'F',	/* final: failed for good */
};

/* Still to be delivered: PENDING or WARNED. */
static inline bool rcpt_state_pending(char state)
{
	return state == RCPT_PENDING || state == RCPT_WARNED;
}

/* One of the enum rcpt_state letters. */
static inline bool rcpt_state_valid(char state)
{
	return rcpt_state_pending(state) || state == RCPT_DELIVERED || state == RCPT_FAILED;
}

struct envelope_rcpt {
	char *addr;		/* "local@domain" as accepted */
	char *orcpt;		/* DSN ORCPT "type;xtext", or NULL */
	unsigned notify;	/* SMTP_NOTIFY_* bits, 0 = absent */
	char state;		/* enum rcpt_state */
	unsigned tries;		/* delivery attempts so far (fits the fixed field: <= 9999) */
	long long next_try;	/* unix seconds; 0 = as soon as possible */
	size_t state_off;	/* decode: file offset of this recipient's state field */
};

struct envelope {
	char id[SPOOL_ID_MAX + 1];
	long long arrival;	/* unix seconds */
	char *server;		/* virtual server that accepted it */
	char *sender;		/* reverse path "local@domain", "" for <> */
	char *client_addr;	/* "127.0.0.1" */
	char *helo;		/* HELO/EHLO argument */
	char *envid;		/* DSN ENVID xtext, or NULL */
	int ret;		/* enum smtp_ret */
	int body;		/* enum smtp_body */
	bool smtputf8;
	struct envelope_rcpt *rcpts;
	size_t nrcpts;
	/* decode only: */
	size_t header_len;	/* bytes of the envelope part = content offset */
};

void envelope_init(struct envelope *e);
void envelope_free(struct envelope *e);	/* frees members, leaves an empty envelope */
/* Adds a pending recipient (strings copied; orcpt may be NULL). */
void envelope_add_rcpt(struct envelope *e, const char *addr, const char *orcpt, unsigned notify);

/*
 * Appends the envelope part of a queue file to out (e->id must be set).
 * Canonical: NULL strings are written as "" (orcpt and envid: as absent, and
 * "" counts as absent too); tries and next_try are clamped to their fields;
 * an unknown state is written as RCPT_PENDING, unknown ret/body values and
 * unknown notify bits as absent. The length it announces is exact, even
 * beyond SPOOL_HEADER_MAX (which decoding then refuses: spool.c checks).
 */
void spool_format_encode(const struct envelope *e, struct buf *out);

/* True when id is 1..SPOOL_ID_MAX characters of [0-9A-Z] (safe as a file name). */
bool spool_format_id_ok(const char *id);

/*
 * Returns the total envelope length announced by the first line of a queue
 * file, given at least its first 64 bytes (or fewer if the file is
 * shorter); 0 if they are not a valid first line.
 */
size_t spool_format_header_len(const char *data, size_t len);

/*
 * Decodes an envelope part data[0..len) (len = spool_format_header_len()).
 * Fills e (envelope_init() first), with each recipient's state_off.
 * Returns 0, or -1 with a static reason in *err (e is then left empty).
 * Strict: an unknown or duplicate record, a missing required one (id,
 * arrival, server, sender, client, helo, ret, body, smtputf8, at least one
 * rcpt, end), a malformed number or escape, a raw control byte, or a length
 * different from the announced one is an error. Never reads outside data.
 */
int spool_format_decode(const char *data, size_t len, struct envelope *e, const char **err);

/*
 * Appends the fixed-width state field of r (what spool_file_update_rcpt
 * writes): exactly SPOOL_RCPT_STATE_LEN bytes for any r (clamped as encode).
 */
void spool_format_rcpt_state(const struct envelope_rcpt *r, struct buf *out);

/* The END record for a content length; and its check. */
void spool_format_trailer(unsigned long long content_len, char out[SPOOL_TRAILER_LEN]);
bool spool_format_trailer_ok(const char trailer[SPOOL_TRAILER_LEN], unsigned long long content_len);

#endif
