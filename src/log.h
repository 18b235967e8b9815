/*
 * log.h — one line per event, to stderr or syslog.
 *
 * Lines are key=value pairs so that people grep them and tests assert on
 * them: "event=queued id=... session=... from=<...> size=...". Values with
 * spaces are the caller's to quote. Every function is safe to call from any
 * thread: a line is formatted in a local buffer and written with one write(2)
 * (stderr) or one syslog(3) call, so lines never interleave.
 */
#ifndef VSMTPD_LOG_H
#define VSMTPD_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_dest {
	LOG_DEST_STDERR,
	LOG_DEST_SYSLOG,
};

/* Chooses where lines go; before it is called they go to stderr. */
void log_init(enum log_dest dest);

/*
 * A tap sees every line (without the "vsmtpd[pid]: level: " prefix and the
 * newline), on the thread that logs it, before it is written: it must be
 * quick and must not log. NULL removes it. Used by `vsmtpctl monitor`.
 */
typedef void (*log_tap_fn)(void *arg, const char *level, const char *line, size_t len);
void log_set_tap(log_tap_fn fn, void *arg);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs, then exits with status 1. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
