/*
 * http_listen.h — a listening socket for one of the daemon's HTTP servers (contract).
 *
 * The metrics endpoint and the web console are libevent evhttp servers on
 * the main thread; both bind their [global] addresses the same way.
 */
#ifndef VSMTPD_HTTP_LISTEN_H
#define VSMTPD_HTTP_LISTEN_H

#include <stddef.h>

#include <event2/http.h>

#include "config.h"

/*
 * Binds cl (SO_REUSEADDR, non-blocking, close-on-exec) and hands the socket
 * to http. Returns 0, or -1 with "WHO: cannot listen on ADDR: reason" in err.
 * Main thread, before privileges drop.
 */
int http_listen(struct evhttp *http, const struct config_listen *cl, const char *who, char *err,
		size_t errsize);

#endif
