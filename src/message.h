/*
 * message.h — PURE questions about a message's header section (contract).
 *
 * The content of a queue file is an RFC 5322 message with CRLF line ends.
 * These functions look at its header section only (up to the first empty
 * line), given a prefix of the content that may end anywhere.
 * Pure: libc and this header.
 */
#ifndef VSMTPD_MESSAGE_H
#define VSMTPD_MESSAGE_H

#include <stddef.h>

/*
 * Counts the header fields named name (case-insensitive, e.g. "Received")
 * in the header section of data[0..len): fields start at the beginning of
 * a line with "name:" (blanks allowed before the colon, RFC 5322 4.5.x
 * obsolete syntax); continuation lines (starting with a blank) are not
 * fields. Stops at the first empty line or at len. RFC 5321 6.3 counts
 * Received: fields to detect mail loops.
 */
unsigned message_count_field(const char *data, size_t len, const char *name);

/*
 * The length of the header section at the start of data[0..len), the
 * empty line that ends it included ("A: b\r\n\r\n" -> 8; content that
 * starts with an empty line -> its length, 2 for "\r\n"); 0 when no empty
 * line ends it within data[0..len). Bare LF line ends count too.
 */
size_t message_header_len(const char *data, size_t len);

#endif
