/*
 * smtp_proto_data.c — the message streams: DATA text and BDAT chunks.
 *
 * Owns the DATA scanner (where a line starts, dot-unstuffing, the one true
 * end CRLF "." CRLF) and the BDAT chunk reader. Message bytes are never
 * copied: each DATA_CHUNK event points into the engine's input buffer, so
 * memory stays bounded whatever the line lengths. Pure: no I/O.
 *
 * Invariants:
 * - DATA ends only at CRLF "." CRLF. A CR not followed by LF, or an LF not
 *   preceded by CR, anywhere in the text marks the message BARE_EOL and is
 *   never a line end: "\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\n" and
 *   "\r\n.\r" + other do not end DATA (SMTP smuggling, CVE-2023-51764).
 * - A "." that starts a line is never content: it is dot-stuffing, or the
 *   start of the terminator (RFC 5321 4.5.2). Everything else is content,
 *   so the CRLF before the terminating "." belongs to the message.
 * - Once a message has failed (too big, bare CR/LF, NUL) no more of it is
 *   passed on; the stream is still read to its end. Which byte fails it
 *   depends only on the bytes, never on how they were split.
 * - A BDAT chunk is exactly its declared octets, passed raw (RFC 3030 2).
 * Errors: refusals become replies when the message ends (DATA) or when the
 * chunk has been read (BDAT).
 */
#include <string.h>

#include "smtp_proto.h"
#include "smtp_proto_int.h"

void smtp_proto_data_begin(struct smtp_proto *p)
{
	p->dscan = SMTP_DSCAN_BOL;
	p->dstatus = SMTP_DATA_OK;
	p->dsize = 0;
}

static void data_finish(struct smtp_proto *p)
{
	switch (p->dstatus) {
	case SMTP_DATA_OK:
		break;
	case SMTP_DATA_TOO_BIG:
		smtp_proto_reply(p, 552, "5.3.4", "Error: message file too big");
		break;
	case SMTP_DATA_BARE_EOL:
		smtp_proto_reply(p, 550, "5.5.2", "Error: bare <CR> or <LF> in message text");
		break;
	case SMTP_DATA_NUL:
		smtp_proto_reply(p, 550, "5.6.0", "Error: NUL character in message text");
		break;
	case SMTP_DATA_REFUSED:
		smtp_proto_reply(p, 554, "5.5.1", "Error: message refused");
		break;
	}
	smtp_proto_data_end(p, p->dstatus, false, p->dsize);
}

/* Fills a DATA_CHUNK event for input[start..end). */
static enum smtp_step chunk_event(struct smtp_proto *p, struct smtp_event *ev, size_t start,
				  size_t end)
{
	ev->type = SMTP_EV_DATA_CHUNK;
	ev->data = p->in.data + start;
	ev->len = end - start;
	return SMTP_STEP_EVENT;
}

/* Length of the run of s[0..n) before its first CR, LF or NUL: bytes that are content whatever
 * comes next (memchr is vectorised; a byte at a time is what made large messages slow). */
static size_t plain_run(const unsigned char *s, size_t n)
{
	static const unsigned char special[] = { '\r', '\n', '\0' };
	for (size_t k = 0; k < sizeof(special); k++) {
		const unsigned char *hit = memchr(s, special[k], n);
		if (hit != NULL)
			n = (size_t)(hit - s);
	}
	return n;
}

enum smtp_step smtp_proto_data_step(struct smtp_proto *p, struct smtp_event *ev)
{
	const unsigned char *b = (const unsigned char *)buf_str(&p->in);
	size_t len = p->in.len;
	size_t i = p->in_pos;
	size_t start = i;	/* first content byte not yet passed on */
	unsigned long long max = p->max_message_size;

	while (i < len) {
		if (p->dscan == SMTP_DSCAN_TEXT) {
			/* Mid-line: ordinary bytes go at once, up to the size limit
			 * (the byte that reaches it is looked at below). */
			size_t run = plain_run(b + i, len - i);
			if (max > 0 && run > max - p->dsize)
				run = p->dsize < max ? (size_t)(max - p->dsize) : 0;
			if (run > 0) {
				p->dsize += run;
				i += run;
				continue;
			}
		}
		unsigned char c = b[i];
		enum smtp_data_status bad = SMTP_DATA_OK;
		enum smtp_dscan next = SMTP_DSCAN_TEXT;

		switch (p->dscan) {
		case SMTP_DSCAN_BOL:
			if (c == '.') {
				/* Not content either way: pass on what precedes. */
				p->dscan = SMTP_DSCAN_DOT;
				p->in_pos = i + 1;
				if (p->dstatus == SMTP_DATA_OK && i > start)
					return chunk_event(p, ev, start, i);
				start = ++i;
				continue;
			}
			break;
		case SMTP_DSCAN_DOT:
			if (c == '\r') {
				p->dscan = SMTP_DSCAN_DOT_CR;
				start = ++i;
				continue;
			}
			break;
		case SMTP_DSCAN_DOT_CR:
			if (c == '\n') {
				p->in_pos = i + 1;
				data_finish(p);
				return SMTP_STEP_AGAIN;
			}
			bad = SMTP_DATA_BARE_EOL;	/* the CR after the "." */
			break;
		case SMTP_DSCAN_CR:
			if (c == '\n')
				next = SMTP_DSCAN_BOL;
			else
				bad = SMTP_DATA_BARE_EOL;	/* the CR before c */
			break;
		case SMTP_DSCAN_TEXT:
			break;
		}
		/* c is content. */
		if (c == '\r')
			next = SMTP_DSCAN_CR;
		else if (c == '\n' && next != SMTP_DSCAN_BOL && bad == SMTP_DATA_OK)
			bad = SMTP_DATA_BARE_EOL;
		else if (c == '\0' && bad == SMTP_DATA_OK)
			bad = SMTP_DATA_NUL;
		if (bad == SMTP_DATA_OK && max > 0 && p->dsize >= max)
			bad = SMTP_DATA_TOO_BIG;
		if (bad != SMTP_DATA_OK && p->dstatus == SMTP_DATA_OK) {
			p->dstatus = bad;
			/* Pass on what came before c; c is looked at again on the
			 * next step, which then passes nothing more. */
			if (i > start) {
				p->in_pos = i;
				return chunk_event(p, ev, start, i);
			}
		}
		p->dscan = next;
		p->dsize++;
		i++;
	}
	p->in_pos = i;
	if (p->dstatus == SMTP_DATA_OK && i > start)
		return chunk_event(p, ev, start, i);
	return SMTP_STEP_MORE;
}

/* The current chunk has been read: reply, or end the message. */
static void bdat_chunk_done(struct smtp_proto *p)
{
	switch (p->bdat_end) {
	case SMTP_BDAT_END_OK:
		if (p->bdat_last) {
			smtp_proto_data_end(p, SMTP_DATA_OK, true, p->bdat_total);
			return;
		}
		smtp_proto_reply(p, 250, "2.0.0", "%llu octets received", p->bdat_chunk);
		smtp_proto_set_state(p, SMTP_STATE_CHUNKING);
		return;
	case SMTP_BDAT_END_REPLY:
		buf_append(&p->out, p->bdat_reply.data, p->bdat_reply.len);
		smtp_proto_set_state(p, p->bdat_back);
		if (p->bdat_count_error)
			smtp_proto_count_error(p);
		return;
	case SMTP_BDAT_END_FAIL:
		/* RFC 3030 2: after a failed BDAT the transaction is over; the
		 * chunks the client pipelined behind it get 503 (no MAIL). */
		buf_append(&p->out, p->bdat_reply.data, p->bdat_reply.len);
		smtp_proto_data_end(p, p->bdat_status, true, p->bdat_total);
		if (p->bdat_count_error)
			smtp_proto_count_error(p);
		return;
	}
}

enum smtp_step smtp_proto_bdat_step(struct smtp_proto *p, struct smtp_event *ev)
{
	if (p->bdat_left == 0) {
		bdat_chunk_done(p);
		return SMTP_STEP_AGAIN;
	}
	size_t avail = p->in.len - p->in_pos;
	if (avail == 0)
		return SMTP_STEP_MORE;
	size_t n = p->bdat_left < avail ? (size_t)p->bdat_left : avail;
	size_t start = p->in_pos;
	p->in_pos += n;
	p->bdat_left -= n;
	if (p->bdat_discard)
		return SMTP_STEP_AGAIN;
	ev->type = SMTP_EV_DATA_CHUNK;
	ev->data = p->in.data + start;
	ev->len = n;
	return SMTP_STEP_EVENT;
}
