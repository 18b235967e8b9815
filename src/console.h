/*
 * console.h — the web console's HTTP(S) server, [global] console (contract;
 * what users and the front end see is docs/CONSOLE.md).
 *
 * libevent's evhttp on the main thread's event_base: the JSON API under
 * /api/ (each call a control request run with control_execute(), the
 * account's role checked first) and the front end compiled in from www/.
 * HTTPS only when the snapshot has a console TLS context (console_cert).
 * Off (NULL, and nothing to close) when [global] console is unset.
 */
#ifndef VSMTPD_CONSOLE_H
#define VSMTPD_CONSOLE_H

#include <stddef.h>

#include "daemon.h"

struct console;

/*
 * Binds every [global] console address of d->cfg and starts serving. NULL
 * with err[0] == '\0' when the console is off; NULL with a sentence in err
 * when an address cannot be bound. Main thread, before privileges drop.
 * Accounts are looked up in d->cfg at each request, so a reload's new
 * accounts file applies at once; the addresses and the certificate are the
 * ones of this call until a restart.
 */
struct console *console_open(struct daemon *d, char *err, size_t errsize);

/* Closes the listeners and every connection, ends every session; waits for password checks in
 * progress (a few milliseconds each). NULL is fine. Main thread. */
void console_close(struct console *c);

#endif
