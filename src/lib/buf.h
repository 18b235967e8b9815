/*
 * buf.h — a length-counted, growable byte buffer.
 *
 * The one way vsmtpd builds strings and holds protocol bytes: no strcpy, no
 * strcat, no sprintf into fixed arrays. Data is always NUL-terminated past
 * len (not counted), so text can be handed to libc; binary data is fine too.
 * Growth is fatal on out-of-memory (xalloc.h). Not thread-safe: one owner.
 * Mail-agnostic: part of src/lib/.
 */
#ifndef VSMTPD_LIB_BUF_H
#define VSMTPD_LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* NULL until the first append; then NUL-terminated */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
/* Frees the storage and leaves an empty buffer. */
void buf_free(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Makes room for at least n more bytes. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* The contents as a C string ("" when empty); borrowed. */
const char *buf_str(const struct buf *b);

#endif
