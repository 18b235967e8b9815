/*
 * fuzz_smtp_proto.c — libFuzzer target for the pure inbound SMTP engine.
 *
 * Input layout: a 6-byte header, then the client's bytes.
 *   [0] settings: bit0 starttls, bit1 TLS already up, bit2 small
 *       max_message_size (64), bit3 max_recipients 3, bit4 max_messages 2,
 *       bit5 max_errors 5, bit6 time out at the end, bit7 shut down instead
 *   [1] greeting: 0-239 -> 220, 240-247 -> 554, 248-255 -> 421
 *   [2..3] seed of the cuts the client bytes are fed in
 *   [4..5] seed of the session's verdicts (accept, refuse 4xx/5xx, 421,
 *       custom text with control characters, answer late)
 * The same input is run twice, fed in one piece and in the seeded cuts;
 * the replies and the events (chunks merged) must be identical, and every
 * reply must be well formed (lines end in CRLF, no bare CR or LF, at most
 * SMTP_REPLY_MAX octets, a 2xx-5xx code). Any difference aborts.
 *
 * Seeds in fuzz/corpus/smtp_proto/ are the client bytes of the golden
 * transcripts in tests/unit/data/smtp_proto/ behind a zero header.
 *
 * Build: `make fuzz` (libFuzzer), or by hand: clang -g -D_GNU_SOURCE
 *   -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_smtp_proto.c
 *   src/smtp_proto*.c src/address.c src/lib/buf.c src/lib/xalloc.c
 * `make test` replays the corpus and fuzz/regress/smtp_proto/ through
 * fuzz/replay.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp_proto.h"
#include "smtp_proto_int.h"

#define FUZZ_HEADER 6
#define FUZZ_INPUT_MAX (256u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rng {
	uint32_t s;
};

static uint32_t rng_next(struct rng *r)
{
	/* xorshift32: deterministic and good enough to pick cuts. */
	uint32_t x = r->s != 0 ? r->s : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	r->s = x;
	return x;
}

struct fuzz_run {
	struct smtp_proto *p;
	struct rng verdicts;
	struct buf log;		/* events and output, in order */
	char last;		/* kind of the last log record: 'O'utput, 'D'ata, 'E'vent */
};

static void fuzz_check_output(const char *out, size_t len)
{
	size_t line_start = 0;
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '\r' && (i + 1 >= len || out[i + 1] != '\n'))
			abort();	/* bare CR */
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();	/* bare LF */
		if (out[i] == '\0')
			abort();
		if (out[i] != '\n')
			continue;
		size_t n = i + 1 - line_start;
		const char *l = out + line_start;
		if (n > SMTP_REPLY_MAX || n < 6 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
		    l[2] < '0' || l[2] > '9' || (l[3] != ' ' && l[3] != '-'))
			abort();
		line_start = i + 1;
	}
	if (line_start != len)
		abort();	/* a reply line without its CRLF */
}

static void fuzz_take_output(struct fuzz_run *r)
{
	size_t len = 0;
	const char *out = smtp_proto_output(r->p, &len);
	if (len == 0)
		return;
	fuzz_check_output(out, len);
	/* Consecutive outputs (and chunks) are merged: when the engine produced
	 * them depends on the cuts, what it produced must not. */
	if (r->last != 'O')
		buf_append(&r->log, "O", 1);
	buf_append(&r->log, out, len);
	r->last = 'O';
	smtp_proto_output_clear(r->p);
}

static void fuzz_verdict(struct fuzz_run *r)
{
	uint32_t v = rng_next(&r->verdicts);
	struct smtp_event ev;

	if ((v & 7) == 7) {
		/* Answer late: nothing may happen while the verdict is pending. */
		if (smtp_proto_next(r->p, &ev) != SMTP_EV_NONE)
			abort();
		size_t len = 0;
		smtp_proto_output(r->p, &len);
		if (len != 0)
			abort();
	}
	switch ((v >> 3) % 16) {
	case 0:
		smtp_proto_verdict(r->p, 550, "5.7.1", "refused");
		break;
	case 1:
		smtp_proto_verdict(r->p, 451, "4.3.0", "later");
		break;
	case 2:
		smtp_proto_verdict(r->p, 421, "4.3.2", "bye");
		break;
	case 3:
		smtp_proto_verdict(r->p, 250, "2.0.0", "custom\r\ntext%c", 0);
		break;
	case 4:
		smtp_proto_verdict(r->p, 599, "4.x", "odd enh");
		break;
	case 5:
		smtp_proto_verdict(r->p, 120, NULL, "bad code");
		break;
	default:
		smtp_proto_accept(r->p);
		break;
	}
}

static void fuzz_drain(struct fuzz_run *r)
{
	for (;;) {
		struct smtp_event ev;
		enum smtp_ev_type t = smtp_proto_next(r->p, &ev);
		if (t != ev.type)
			abort();
		fuzz_take_output(r);
		if (t == SMTP_EV_NONE)
			return;
		if (t == SMTP_EV_DATA_CHUNK) {
			if (ev.len == 0)
				abort();
			if (r->last != 'D')
				buf_append(&r->log, "D", 1);
			buf_append(&r->log, ev.data, ev.len);
			r->last = 'D';
			continue;
		}
		r->last = 'E';
		buf_printf(&r->log, "E%d,%d,%d,%llu,", (int)t, (int)ev.status, (int)ev.bdat,
			   t == SMTP_EV_DATA_END ? ev.size : 0ULL);
		if (t == SMTP_EV_HELO)
			buf_append_str(&r->log, ev.helo);
		if (t == SMTP_EV_MAIL || t == SMTP_EV_RCPT)
			buf_printf(&r->log, "%s@%s,%llu,%d,%d,%d,%s,%u,%s", ev.mailbox.local,
				   ev.mailbox.domain, ev.mail.size, (int)ev.mail.body, (int)ev.mail.smtputf8,
				   (int)ev.mail.ret, ev.mail.envid, ev.rcpt.notify, ev.rcpt.orcpt);
		if (smtp_ev_needs_verdict(&ev)) {
			fuzz_verdict(r);
			fuzz_take_output(r);
		}
	}
}

/* Runs the engine over the client bytes; cuts == NULL feeds them whole. */
static void fuzz_run(const uint8_t *hdr, const uint8_t *in, size_t len, struct rng *cuts, struct buf *log)
{
	struct fuzz_run r;
	struct smtp_proto_conf conf = {
		.hostname = "fuzz.test",
		.max_message_size = (hdr[0] & 4) ? 64 : 0,
		.max_recipients = (hdr[0] & 8) ? 3 : 0,
		.max_messages = (hdr[0] & 16) ? 2 : 0,
		.max_errors = (hdr[0] & 32) ? 5 : 0,
		.starttls = (hdr[0] & 1) != 0,
	};

	memset(&r, 0, sizeof(r));
	r.verdicts.s = (uint32_t)hdr[4] << 8 | hdr[5];
	r.p = smtp_proto_new(&conf);
	if (hdr[0] & 2)
		smtp_proto_tls_started(r.p);
	if (hdr[1] < 240)
		smtp_proto_greet(r.p, 220, NULL, "fuzz");
	else if (hdr[1] < 248)
		smtp_proto_greet(r.p, 554, "5.7.1", "denied");
	else
		smtp_proto_greet(r.p, 421, "4.7.0", "busy");
	fuzz_drain(&r);
	size_t off = 0;
	while (off < len) {
		size_t n = len - off;
		if (cuts != NULL) {
			uint32_t c = rng_next(cuts);
			size_t want = (c & 3) == 0 ? 1 : (c & 3) == 1 ? (c >> 2) % 8 + 1 : (c >> 2) % 512 + 1;
			n = want < n ? want : n;
		}
		smtp_proto_feed(r.p, in + off, n);
		off += n;
		fuzz_drain(&r);
	}
	if (hdr[0] & 64)
		smtp_proto_timeout(r.p);
	else if (hdr[0] & 128)
		smtp_proto_shutdown(r.p);
	fuzz_drain(&r);
	if ((hdr[0] & (64 | 128)) && !smtp_proto_closed(r.p))
		abort();
	*log = r.log;
	smtp_proto_free(r.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FUZZ_HEADER || size > FUZZ_INPUT_MAX)
		return 0;
	struct buf whole = BUF_INIT, cut = BUF_INIT;
	struct rng cuts = { (uint32_t)data[2] << 8 | data[3] };

	fuzz_run(data, data + FUZZ_HEADER, size - FUZZ_HEADER, NULL, &whole);
	fuzz_run(data, data + FUZZ_HEADER, size - FUZZ_HEADER, &cuts, &cut);
	if (whole.len != cut.len || (whole.len > 0 && memcmp(whole.data, cut.data, whole.len) != 0)) {
		fprintf(stderr, "fuzz_smtp_proto: split changed the result\n");
		abort();
	}
	buf_free(&whole);
	buf_free(&cut);
	return 0;
}
