/*
 * fuzz_auth_sasl.c — libFuzzer target for the SASL exchange (auth_sasl) and strict base64.
 *
 * Input layout: byte 0 picks the mechanism (bits 0-1: PLAIN, LOGIN,
 * "pLaIn", or the first line of the input as the name) and whether an
 * initial response is sent (bit 2: the next line); every following
 * "\n"-separated line is one client response. Besides crashes and
 * sanitizer reports it checks the contract's invariants: replies are
 * well-formed, DONE yields non-empty fields within the RFC 4616 limits
 * and an authzid that is empty or equal to the authcid, a finished
 * exchange exposes no secret, and base64 decoding is canonical (whatever
 * decodes re-encodes to the same text).
 *
 * `make fuzz` runs it with libFuzzer; `make test` replays fuzz/corpus/auth_sasl
 * and fuzz/regress/auth_sasl through fuzz/replay.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_sasl.h"
#include "lib/base64.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const struct auth_sasl *s, enum auth_sasl_status st)
{
	struct auth_sasl_reply r;
	auth_sasl_reply(s, &r);
	if (r.text == NULL || strpbrk(r.text, "\r\n") != NULL)
		abort();
	switch (st) {
	case AUTH_SASL_CONTINUE:
		if (r.code != 334 || r.enh != NULL)
			abort();
		return;
	case AUTH_SASL_DONE: {
		if (r.code != 235)
			abort();
		const char *zid = auth_sasl_authzid(s), *cid = auth_sasl_authcid(s);
		const char *pw = auth_sasl_password(s);
		size_t zl = strlen(zid), cl = strlen(cid), pl = strlen(pw);
		if (cl == 0 || pl == 0 || cl > AUTH_SASL_FIELD_MAX || pl > AUTH_SASL_FIELD_MAX ||
		    zl > AUTH_SASL_FIELD_MAX)
			abort();
		if (zl > 0 && strcmp(zid, cid) != 0)
			abort();
		for (size_t i = 0; i < cl; i++)
			if ((unsigned char)cid[i] < 0x20 || cid[i] == 0x7f)
				abort();
		return;
	}
	case AUTH_SASL_FAILED:
		if (r.code < 500 || r.code > 554 || r.enh == NULL || r.enh[0] != '5' || r.enh[1] != '.')
			abort();
		if (auth_sasl_authcid(s)[0] != '\0' || auth_sasl_password(s)[0] != '\0' ||
		    auth_sasl_authzid(s)[0] != '\0')
			abort();
		return;
	}
	abort();
}

/* Strict base64 is canonical: a text that decodes re-encodes to itself. */
static void check_base64(const uint8_t *data, size_t size)
{
	unsigned char out[1024];
	size_t n;
	if (base64_decode((const char *)data, size, out, sizeof(out), &n) != BASE64_OK)
		return;
	struct buf b = BUF_INIT;
	base64_encode(&b, out, n);
	if (b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	buf_free(&b);
}

/* The next "\n"-terminated line of [*p, end) as a NUL-terminated copy. */
static char *next_line(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *line = xmalloc(n + 1);
	memcpy(line, *p, n);
	line[n] = '\0';
	*p = nl != NULL ? nl + 1 : end;
	*len = n;
	return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_base64(data, size);
	if (size == 0)
		return 0;
	const uint8_t *p = data + 1, *end = data + size;
	uint8_t mode = data[0];
	size_t len;
	char *mech = NULL;
	switch (mode & 3) {
	case 0:
		mech = xstrdup("PLAIN");
		break;
	case 1:
		mech = xstrdup("LOGIN");
		break;
	case 2:
		mech = xstrdup("pLaIn");
		break;
	case 3:
		mech = next_line(&p, end, &len);
		break;
	}
	char *ir = (mode & 4) ? next_line(&p, end, &len) : NULL;

	struct auth_sasl *s = auth_sasl_new();
	enum auth_sasl_status st = auth_sasl_start(s, mech, ir);
	check_reply(s, st);
	while (st == AUTH_SASL_CONTINUE && p < end) {
		char *line = next_line(&p, end, &len);
		st = auth_sasl_step(s, line, len);
		check_reply(s, st);
		free(line);
	}
	if (st == AUTH_SASL_DONE && (mode & 8)) {
		st = auth_sasl_reject(s);
		check_reply(s, st);
	}
	/* One more line after the end is a sequence error, never a crash. */
	if (st != AUTH_SASL_CONTINUE && (mode & 16)) {
		st = auth_sasl_step(s, "AAAA", 4);
		if (st != AUTH_SASL_FAILED || auth_sasl_error(s) != AUTH_SASL_ERR_SEQUENCE)
			abort();
	}
	auth_sasl_free(s);
	free(mech);
	free(ir);
	return 0;
}
