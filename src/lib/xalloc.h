/*
 * xalloc.h — allocation that cannot fail.
 *
 * Out of memory is fatal in vsmtpd, as in Postfix, OpenSMTPD and Redis: a
 * mail server that limps on without memory loses mail in harder-to-see ways.
 * Each function prints a line on stderr and aborts when the allocator fails.
 * Mail-agnostic: part of src/lib/, includes nothing from src/.
 */
#ifndef VSMTPD_LIB_XALLOC_H
#define VSMTPD_LIB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Returned strings are the caller's to free(). */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
