/*
 * log.c — event lines to stderr or syslog (see log.h).
 *
 * Owns only the destination, chosen once at start-up before threads exist,
 * and the tap that copies every line to the control socket's monitors.
 * A line longer than LOG_LINE_MAX is cut and marked with "...", never split.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static enum log_dest log_dest = LOG_DEST_STDERR;
/* The tap (log_set_tap): read by every logging thread, so atomic. */
static _Atomic(log_tap_fn) log_tap;
static void *_Atomic log_tap_arg;

void log_set_tap(log_tap_fn fn, void *arg)
{
	atomic_store(&log_tap_arg, arg);
	atomic_store(&log_tap, fn);
}

void log_init(enum log_dest dest)
{
	log_dest = dest;
	if (dest == LOG_DEST_SYSLOG)
		openlog("vsmtpd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

static void log_line(int prio, const char *level, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void log_line(int prio, const char *level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int n = 0;

	if (log_dest == LOG_DEST_STDERR)
		n = snprintf(line, sizeof(line), "vsmtpd[%ld]: %s: ", (long)getpid(), level);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2) {
		len = sizeof(line) - 2;
		memcpy(line + len - 3, "...", 3);
	}
	log_tap_fn tap = atomic_load(&log_tap);
	if (tap != NULL)
		tap(atomic_load(&log_tap_arg), level, line + n, len - (size_t)n);
	if (log_dest == LOG_DEST_SYSLOG) {
		line[len] = '\0';
		syslog(prio, "%s", line);
		return;
	}
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

#define LOG_FN(name, prio, level)                          \
	void name(const char *fmt, ...)                    \
	{                                                  \
		va_list ap;                                \
		va_start(ap, fmt);                         \
		log_line(prio, level, fmt, ap);            \
		va_end(ap);                                \
	}

LOG_FN(log_info, LOG_INFO, "info")
LOG_FN(log_warn, LOG_WARNING, "warning")
LOG_FN(log_error, LOG_ERR, "error")

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(LOG_CRIT, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}
