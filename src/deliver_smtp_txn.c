/*
 * deliver_smtp_txn.c — one mail transaction on a ready outbound session:
 * MAIL, RCPT for each recipient, DATA, the content, the final reply or
 * replies (see deliver_smtp.h, deliver_smtp_int.h).
 *
 * Owns, for one call: the recipients' progress (no answer / accepted /
 * final), the command bytes, the content buffer. Borrows the session:
 * deliver_smtp.c decides whether to pool or close it from the txn_end
 * returned. Does not: build commands or dot-stuff (smtp_client.c), parse
 * replies or time out (outbound_conn.c).
 *
 * Invariants: a recipient is DELIVER_RCPT_OK only after its 2xx to the
 * final dot was read (one reply for all, or with LMTP one per accepted
 * recipient in RCPT order); when the session breaks every recipient
 * without a final answer is TEMP with the reason; the session ends
 * TXN_SOUND only in the state after a transaction (after the final reply,
 * or after RSET's 2xx), so the next MAIL may follow; with PIPELINING the
 * commands go in writes of up to TXN_PIPELINE_MAX (MAIL, every RCPT and
 * DATA in one write for up to 98 recipients) and replies are read in the
 * order the commands were sent.
 * Errors: none as a whole; problems become recipient results and txn_end.
 *
 * RFC 5321 3.3, 4.1.1.2-4.1.1.5 (MAIL, RCPT, DATA, RSET), 4.5.2
 * (dot-stuffing), 4.5.3.2 (timeouts), 3.8 (421); RFC 2920 3.1 (batching
 * up to DATA, replies in order); RFC 2033 4.2 (LMTP: a reply per
 * recipient after the dot); RFC 1870 (SIZE); RFC 3461 4 (DSN parameters).
 */
#include "deliver_smtp_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "smtp_proto.h"

#define TXN_CHUNK (64 * 1024)	/* content read from the queue file per pread() */
/* Commands per pipelined write: their replies (a few KB) always fit in the
 * socket buffers, so peer and client never wait on each other's reads. */
#define TXN_PIPELINE_MAX 100

enum txn_rcpt {
	TXN_RCPT_OPEN,		/* no answer yet */
	TXN_RCPT_ACCEPTED,	/* 2xx to RCPT: the final answer comes after the dot */
	TXN_RCPT_FINAL,		/* result and reply set */
};

struct txn {
	struct oconn *c;
	bool lmtp;
	const struct oconn_timeouts *to;
	const struct deliver_msg *msg;
	struct deliver_rcpt *rcpts;
	size_t n;
	enum txn_rcpt *state;
	bool cached;		/* from the pool, and the peer has not answered since */
	enum txn_end end;
	struct buf out;		/* bytes to send */
};

/* Gives every recipient without a final answer r. */
static void txn_answer_open(struct txn *t, const struct smtp_reply *r)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->state[i] == TXN_RCPT_FINAL)
			continue;
		deliver_rcpt_set(&t->rcpts[i], r);
		t->state[i] = TXN_RCPT_FINAL;
	}
}

/* The session is over: r (a 4xx) answers every open recipient. -1. */
static int txn_break(struct txn *t, const struct smtp_reply *r)
{
	if (t->cached) {
		/* Nothing was answered on it yet: the caller starts afresh. */
		t->end = TXN_STALE;
		return -1;
	}
	t->end = TXN_BROKEN;
	txn_answer_open(t, r);
	return -1;
}

/* Sends t->out (and empties it); what names it in the made-up reply. */
static int txn_send(struct txn *t, const char *what, unsigned timeout)
{
	int rc = oconn_write(t->c, t->out.data, t->out.len, timeout);
	buf_reset(&t->out);
	if (rc == 0)
		return 0;
	struct smtp_reply r;
	smtp_reply_make(&r, 421, "4.4.2", "connection broken while sending %s", what);
	return txn_break(t, &r);
}

/*
 * Reads the reply to a command whose success is class want (2, or 3 for
 * DATA). -1 ends the session: I/O failure, a 421 (RFC 5321 3.8), or a
 * reply of another class (the peer is out of step with us).
 */
static int txn_read(struct txn *t, struct smtp_reply *r, unsigned timeout, int want)
{
	if (oconn_read_reply(t->c, r, timeout) < 0)
		return txn_break(t, r);
	if (r->code == 421)
		return txn_break(t, r);
	int class = r->code / 100;
	if (class != want && class != 4 && class != 5) {
		struct smtp_reply odd;
		smtp_reply_make(&odd, 421, "4.5.0", "unexpected reply: %s", r->text);
		return txn_break(t, &odd);
	}
	t->cached = false;
	return 0;
}

/* Up to TXN_CHUNK bytes of the content from off; what pread() returns. */
static ssize_t txn_read_content(const struct deliver_msg *m, char *chunk, off_t off)
{
	off_t left = m->content_off + m->content_len - off;
	size_t want = left < TXN_CHUNK ? (size_t)left : TXN_CHUNK;
	ssize_t got;
	do
		got = pread(m->fd, chunk, want, off);
	while (got < 0 && errno == EINTR);
	return got;
}

/* Whether the content has a byte above 127; false when it cannot be read
 * (sending it would then fail with its own reason). */
static bool txn_content_has_8bit(const struct deliver_msg *m)
{
	char *chunk = xmalloc(TXN_CHUNK);
	bool found = false;
	off_t end = m->content_off + m->content_len;
	for (off_t off = m->content_off; off < end && !found;) {
		ssize_t got = txn_read_content(m, chunk, off);
		if (got <= 0)
			break;
		for (ssize_t i = 0; i < got && !found; i++)
			found = (unsigned char)chunk[i] >= 0x80;
		off += got;
	}
	free(chunk);
	return found;
}

/* The queue file's content, dot-stuffed, and the final dot (RFC 5321 4.5.2). */
static int txn_content(struct txn *t)
{
	char *chunk = xmalloc(TXN_CHUNK);
	struct smtp_dot dot;
	smtp_dot_init(&dot);
	off_t off = t->msg->content_off;
	off_t left = t->msg->content_len;
	int rc = 0;
	while (left > 0 && rc == 0) {
		ssize_t got = txn_read_content(t->msg, chunk, off);
		if (got <= 0) {
			/* The session is mid-DATA with no way back: it is closed unfinished. */
			struct smtp_reply r;
			smtp_reply_make(&r, 451, "4.3.0", "cannot read the queue file: %s",
					   got < 0 ? strerror(errno) : "shorter than its content");
			rc = txn_break(t, &r);
			break;
		}
		smtp_dot_encode(&dot, chunk, (size_t)got, &t->out);
		off += got;
		left -= got;
		/* the last piece goes out with the final dot, in one write */
		if (left > 0)
			rc = txn_send(t, "the message", t->to->data_block);
	}
	free(chunk);
	if (rc < 0)
		return -1;
	smtp_dot_finish(&dot, &t->out);
	return txn_send(t, "the message", t->to->data_block);
}

/* After the dot: one reply for all (SMTP) or one per accepted recipient (LMTP). */
static void txn_final(struct txn *t)
{
	struct smtp_reply r;
	if (!t->lmtp) {
		if (txn_read(t, &r, t->to->data_end, 2) == 0)
			txn_answer_open(t, &r);
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (t->state[i] != TXN_RCPT_ACCEPTED)
			continue;
		if (txn_read(t, &r, t->to->data_end, 2) < 0)
			return;
		deliver_rcpt_set(&t->rcpts[i], &r);
		t->state[i] = TXN_RCPT_FINAL;
	}
}

/* Appends command k: 0 is MAIL, 1..n the RCPTs, n + 1 DATA. */
static void txn_command(struct txn *t, size_t k)
{
	const struct smtp_caps *caps = oconn_caps(t->c);
	const struct deliver_msg *m = t->msg;
	if (k == 0) {
		struct smtp_client_mail mail = {
			.sender = m->sender, .size = (unsigned long long)m->content_len, .body = m->body,
			.smtputf8 = m->smtputf8, .ret = m->ret, .envid = m->envid,
		};
		smtp_client_mail_cmd(&t->out, &mail, caps);
	} else if (k <= t->n) {
		const struct deliver_rcpt *rc = &t->rcpts[k - 1];
		smtp_client_rcpt_cmd(&t->out, rc->addr, rc->notify, rc->orcpt, caps);
	} else {
		buf_append_str(&t->out, "DATA\r\n");
	}
}

/*
 * MAIL, the RCPTs and DATA: with PIPELINING in groups of up to
 * TXN_PIPELINE_MAX commands in one write, the group's replies read in
 * order before the next group is sent (RFC 2920 3.1); else one at a time.
 * Nothing more is sent once the transaction cannot succeed (MAIL refused,
 * or DATA next with no RCPT accepted). 1 with DATA's reply in *data, 0
 * when DATA was not sent, -1 when the session ended.
 */
static int txn_envelope(struct txn *t, size_t *accepted, struct smtp_reply *data)
{
	const size_t last = t->n + 1;
	const size_t window = oconn_caps(t->c)->pipelining ? TXN_PIPELINE_MAX : 1;
	size_t sent = 0;
	bool mail_ok = false;
	for (size_t got = 0;; got++) {
		if (sent == got) {
			if (got > 0 && (!mail_ok || (got == last && *accepted == 0)))
				return 0;
			const char *what = sent == 0 ? "MAIL" : sent == last ? "DATA" : "RCPT";
			while (sent <= last && sent - got < window)
				txn_command(t, sent++);
			if (txn_send(t, what, t->to->command) < 0)
				return -1;
		}
		if (got == last)
			return txn_read(t, data, t->to->data_init, 3) < 0 ? -1 : 1;
		struct smtp_reply r;
		if (txn_read(t, &r, t->to->command, 2) < 0)
			return -1;
		if (got == 0) {
			mail_ok = r.code / 100 == 2;
			if (!mail_ok)
				txn_answer_open(t, &r);
		} else if (mail_ok && r.code / 100 == 2) {
			/* Pipelined after a refused MAIL, replies are read only to stay in step. */
			t->state[got - 1] = TXN_RCPT_ACCEPTED;
			(*accepted)++;
		} else if (mail_ok) {
			deliver_rcpt_set(&t->rcpts[got - 1], &r);
			t->state[got - 1] = TXN_RCPT_FINAL;
		}
	}
}

static void txn_run(struct txn *t)
{
	const struct smtp_caps *caps = oconn_caps(t->c);
	/* Declared 8BITMIME to a peer without it: only real 8-bit content is refused. */
	bool eightbit = t->msg->body == SMTP_BODY_8BITMIME && !caps->eightbitmime &&
			txn_content_has_8bit(t->msg);
	const char *why = smtp_client_refusal(caps, (unsigned long long)t->msg->content_len, t->msg->smtputf8,
					      eightbit);
	struct smtp_reply r;
	if (why != NULL) {
		/* why is "X.Y.Z text"; the code is ours (RFC 5321 4.2.3: 554 transaction failed). */
		char enh[16];
		size_t len = strcspn(why, " ");
		snprintf(enh, sizeof(enh), "%.*s", (int)len, why);
		smtp_reply_make(&r, 554, enh, "%s", why[len] == ' ' ? why + len + 1 : why + len);
		txn_answer_open(t, &r);
		return;
	}
	oconn_count_message(t->c);
	size_t accepted = 0;
	int rc = txn_envelope(t, &accepted, &r);
	if (rc < 0)
		return;
	if (rc == 1 && r.code == 354) {
		if (accepted > 0 && txn_content(t) == 0)
			txn_final(t);
		/* RFC 2920 3.1: DATA must fail when no RCPT succeeded; a peer that
		 * wants content for nobody is out of step: end the session. */
		if (accepted == 0)
			t->end = TXN_BROKEN;
		return;
	}
	if (rc == 1)
		txn_answer_open(t, &r);
	/* The transaction was refused: RSET makes the session ready for the next one. */
	buf_append_str(&t->out, "RSET\r\n");
	if (txn_send(t, "RSET", t->to->command) < 0 || txn_read(t, &r, t->to->command, 2) < 0)
		return;
	if (r.code / 100 != 2)
		t->end = TXN_BROKEN;
}

enum txn_end deliver_txn(struct oconn *c, bool cached, const struct oconn_params *params,
			 const struct deliver_msg *msg, struct deliver_rcpt *rcpts, size_t n)
{
	struct txn t = {
		.c = c, .lmtp = params->lmtp, .to = &params->timeouts, .msg = msg, .rcpts = rcpts, .n = n,
		.state = xcalloc(n > 0 ? n : 1, sizeof(*t.state)), .cached = cached, .end = TXN_SOUND,
		.out = BUF_INIT,
	};
	txn_run(&t);
	buf_free(&t.out);
	free(t.state);
	return t.end;
}
