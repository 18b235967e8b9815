/*
 * base64.h — strict RFC 4648 section 4 base64, for SASL exchanges (contract).
 *
 * Decoding is strict, as RFC 4954 section 4 needs a server to tell "cannot
 * decode" apart: only the standard alphabet, no whitespace or line breaks,
 * length a multiple of 4, "=" padding only at the end and only as much as
 * needed, and unused bits of the last group zero (RFC 4648 3.5), so every
 * byte string has exactly one accepted encoding. The empty text decodes to
 * nothing. Decoding writes into the caller's fixed buffer (no growth, so a
 * decoded secret leaves no stray copies behind in freed memory).
 * Mail-agnostic: part of src/lib/. Thread-safe (no state).
 */
#ifndef VSMTPD_LIB_BASE64_H
#define VSMTPD_LIB_BASE64_H

#include <stddef.h>

#include "lib/buf.h"

enum base64_result {
	BASE64_OK,
	BASE64_INVALID,		/* not canonical strict base64 */
	BASE64_TOO_LONG,	/* would decode to more than the output buffer holds */
};

/* Bytes that len characters of base64 decode to at most. */
size_t base64_decoded_max(size_t len);

/* Characters needed to encode len bytes (without a terminating NUL). */
size_t base64_encoded_len(size_t len);

/*
 * Decodes text[0..len) into out (capacity cap). The size check comes first,
 * from len alone (padding counted), so an oversized input is TOO_LONG
 * whatever its characters. On BASE64_OK *outlen is the decoded length; on
 * error *outlen is 0 and the bytes written to out are zeroed again.
 */
enum base64_result base64_decode(const char *text, size_t len, void *out, size_t cap,
				 size_t *outlen);

/* Appends the padded base64 text of data[0..len) to out. Cannot fail. */
void base64_encode(struct buf *out, const void *data, size_t len);

#endif
