/*
 * fuzz_spool_format.c — libFuzzer target for the queue-file envelope format (spool_format).
 *
 * Every input is used twice. First as a queue file's envelope part, copied
 * into a buffer of exactly its size so that any over-read is caught: when
 * decoding succeeds, the result must satisfy the contract (the announced
 * length is the input length, each recipient's state_off points at the
 * bytes spool_format_rcpt_state() produces for it) and must survive an
 * encode/decode round trip unchanged, with the re-encoding itself stable.
 * Second as raw material for an envelope: the input, cut at NUL bytes,
 * gives the string fields (hostile bytes included), which must encode and
 * decode back to the same values. Trailers are checked on the last bytes.
 *
 *   clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_spool_format.c \
 *       src/spool_format.c src/lib/buf.c src/lib/xalloc.c -o fuzz_spool_format
 *   ./fuzz_spool_format fuzz/corpus/spool_format
 * `make fuzz-replay` links it with fuzz/replay.c to replay the corpus and
 * fuzz/regress/spool_format/ under gcc with ASan and UBSan.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "spool_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_spool_format: invariant broken: %s\n", what);
		abort();
	}
}

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void check_same(const struct envelope *a, const struct envelope *b)
{
	check(strcmp(a->id, b->id) == 0, "id");
	check(a->arrival == b->arrival, "arrival");
	check(str_eq(a->server, b->server) && str_eq(a->sender, b->sender), "server/sender");
	check(str_eq(a->client_addr, b->client_addr) && str_eq(a->helo, b->helo), "client/helo");
	check(str_eq(a->envid, b->envid), "envid");
	check(a->ret == b->ret && a->body == b->body && a->smtputf8 == b->smtputf8, "flags");
	check(a->nrcpts == b->nrcpts, "nrcpts");
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct envelope_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		check(str_eq(x->addr, y->addr) && str_eq(x->orcpt, y->orcpt), "rcpt strings");
		check(x->notify == y->notify && x->state == y->state, "rcpt notify/state");
		check(x->tries == y->tries && x->next_try == y->next_try, "rcpt tries/next_try");
	}
}

/* Decodes enc (which must be valid) and checks it against want. */
static void check_reencode(const struct buf *enc, const struct envelope *want)
{
	struct envelope back;
	const char *err;
	envelope_init(&back);
	check(spool_format_header_len(enc->data, enc->len) == enc->len, "encoded header length");
	check(spool_format_decode(enc->data, enc->len, &back, &err) == 0, "encoding decodes");
	check_same(want, &back);
	struct buf again = BUF_INIT;
	spool_format_encode(&back, &again);
	check(again.len == enc->len && memcmp(again.data, enc->data, enc->len) == 0, "stable encoding");
	buf_free(&again);
	envelope_free(&back);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	char *copy = xmalloc(size);
	if (size > 0)
		memcpy(copy, data, size);
	size_t hl = spool_format_header_len(copy, size);
	/* the shortest envelope: a 26-byte first line and "end\n" */
	check(hl == 0 || (hl >= 30 && hl <= SPOOL_HEADER_MAX), "header_len range");

	struct envelope e;
	const char *err = NULL;
	envelope_init(&e);
	if (spool_format_decode(copy, size, &e, &err) < 0) {
		check(err != NULL && e.nrcpts == 0 && e.rcpts == NULL && e.server == NULL, "failure is clean");
		free(copy);
		return;
	}
	check(err == NULL && hl == size && e.header_len == size && e.nrcpts > 0, "success contract");
	check(spool_format_id_ok(e.id), "decoded id");
	struct buf st = BUF_INIT;
	for (size_t i = 0; i < e.nrcpts; i++) {
		buf_reset(&st);
		spool_format_rcpt_state(&e.rcpts[i], &st);
		check(st.len == SPOOL_RCPT_STATE_LEN, "state width");
		check(e.rcpts[i].state_off + st.len <= size, "state_off in range");
		check(memcmp(copy + e.rcpts[i].state_off, st.data, st.len) == 0, "state_off bytes");
	}
	buf_free(&st);
	struct buf enc = BUF_INIT;
	spool_format_encode(&e, &enc);
	check_reencode(&enc, &e);
	buf_free(&enc);
	envelope_free(&e);
	free(copy);
}

/* The next NUL-terminated piece of the input, or "" at its end. */
static char *next_piece(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
	const uint8_t *stop = nul != NULL ? nul : end;
	char *s = xstrndup((const char *)*p, (size_t)(stop - *p));
	*p = nul != NULL ? nul + 1 : end;
	return s;
}

static void fuzz_build(const uint8_t *data, size_t size)
{
	if (size < 4)
		return;
	const uint8_t *p = data + 4, *end = data + size;
	struct envelope e;
	envelope_init(&e);
	memcpy(e.id, "0123456789ABCDEFGHIJKLMN", SPOOL_ID_MAX);
	e.id[1 + data[0] % SPOOL_ID_MAX] = '\0';
	e.arrival = (long long)data[1] << 24 | data[2];
	e.ret = data[3] % 3;
	e.body = (data[3] >> 2) % 3;
	e.smtputf8 = (data[3] >> 4) & 1;
	e.server = next_piece(&p, end);
	e.sender = next_piece(&p, end);
	e.client_addr = next_piece(&p, end);
	e.helo = next_piece(&p, end);
	char *envid = next_piece(&p, end);
	if (envid[0] != '\0')
		e.envid = envid;
	else
		free(envid);
	do {
		char *addr = next_piece(&p, end), *orcpt = next_piece(&p, end);
		envelope_add_rcpt(&e, addr[0] != '\0' ? addr : "x", orcpt[0] != '\0' ? orcpt : NULL,
				  (unsigned)(e.nrcpts * 7) & 0xf);
		struct envelope_rcpt *r = &e.rcpts[e.nrcpts - 1];
		r->state = "PDF"[e.nrcpts % 3];
		r->tries = (unsigned)(e.nrcpts * 1237) % 10000;
		r->next_try = (long long)e.nrcpts * 999999937LL;
		free(addr);
		free(orcpt);
	} while (p < end && e.nrcpts < 64);

	struct buf enc = BUF_INIT;
	spool_format_encode(&e, &enc);
	check_reencode(&enc, &e);
	buf_free(&enc);
	envelope_free(&e);
}

static void fuzz_trailer(const uint8_t *data, size_t size)
{
	char t[SPOOL_TRAILER_LEN];
	spool_format_trailer(size, t);
	check(spool_format_trailer_ok(t, size), "own trailer");
	check(!spool_format_trailer_ok(t, size + 1), "trailer for another length");
	if (size < SPOOL_TRAILER_LEN)
		return;
	const char *tail = (const char *)data + size - SPOOL_TRAILER_LEN;
	unsigned long long claimed = size - SPOOL_TRAILER_LEN;
	spool_format_trailer(claimed, t);
	check(spool_format_trailer_ok(tail, claimed) == (memcmp(tail, t, SPOOL_TRAILER_LEN) == 0),
	      "trailer check");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size);
	fuzz_build(data, size);
	fuzz_trailer(data, size);
	return 0;
}
