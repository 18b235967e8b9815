/*
 * base64.c — strict RFC 4648 base64 encode/decode (see base64.h).
 *
 * Owns no state. Written here rather than borrowed: glibc has no public
 * decoder (libresolv's b64_pton skips whitespace), OpenSSL's
 * EVP_DecodeBlock accepts non-canonical input and is not linked yet, and
 * libevent has none. Decoding is table-driven and branches only on
 * validity, never on the decoded values; errors are return values.
 */
#include "lib/base64.h"

#include <stdbool.h>
#include <string.h>

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for alphabet characters, -1 for everything else (including "="). */
static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t base64_decoded_max(size_t len)
{
	return len / 4 * 3;
}

size_t base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

static size_t base64_padding(const char *text, size_t len)
{
	if (len >= 2 && text[len - 1] == '=' && text[len - 2] == '=')
		return 2;
	if (len >= 1 && text[len - 1] == '=')
		return 1;
	return 0;
}

enum base64_result base64_decode(const char *text, size_t len, void *out, size_t cap,
				 size_t *outlen)
{
	unsigned char *o = out;
	*outlen = 0;
	if (len % 4 != 0)
		return BASE64_INVALID;
	size_t pad = base64_padding(text, len);
	size_t need = base64_decoded_max(len) - pad;
	if (need > cap)
		return BASE64_TOO_LONG;

	size_t n = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		size_t real = last ? 4 - pad : 4;	/* alphabet characters in this group */
		for (size_t k = 0; k < 4; k++) {
			v[k] = k < real ? base64_value((unsigned char)text[i + k]) : 0;
			if (v[k] < 0)
				goto fail;
		}
		unsigned long group = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
				      ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		/* RFC 4648 3.5: the bits a short group does not use must be zero. */
		if ((real == 3 && (group & 0xff) != 0) || (real == 2 && (group & 0xffff) != 0))
			goto fail;
		o[n++] = (unsigned char)(group >> 16);
		if (real >= 3)
			o[n++] = (unsigned char)(group >> 8);
		if (real == 4)
			o[n++] = (unsigned char)group;
	}
	*outlen = n;
	return BASE64_OK;
fail:
	memset(o, 0, n);
	return BASE64_INVALID;
}

void base64_encode(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	buf_append(out, "", 0);	/* NUL-terminated even when len is 0 */
	buf_reserve(out, base64_encoded_len(len));
	for (size_t i = 0; i < len; i += 3) {
		size_t rest = len - i;
		unsigned long group = (unsigned long)p[i] << 16;
		if (rest > 1)
			group |= (unsigned long)p[i + 1] << 8;
		if (rest > 2)
			group |= p[i + 2];
		char q[4];
		q[0] = base64_alphabet[(group >> 18) & 63];
		q[1] = base64_alphabet[(group >> 12) & 63];
		q[2] = rest > 1 ? base64_alphabet[(group >> 6) & 63] : '=';
		q[3] = rest > 2 ? base64_alphabet[group & 63] : '=';
		buf_append(out, q, 4);
	}
}
