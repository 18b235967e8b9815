/*
 * control.h — the control socket (contract; the protocol is docs/CONTROL.md).
 *
 * A unix socket on the main thread's event_base speaking JSON lines: one
 * request per line, one reply line each, in order. Access is the
 * socket's: mode 0660, group [global] control_group when set.
 */
#ifndef VSMTPD_CONTROL_H
#define VSMTPD_CONTROL_H

#include <stddef.h>

#include <jansson.h>

#include "daemon.h"

/*
 * Creates the socket at d->cfg->global.control (its directory too, when
 * missing; a stale socket file is replaced) and starts serving it. NULL
 * with a message in err on failure. Main thread, before privileges drop.
 */
struct control *control_open(struct daemon *d, char *err, size_t errsize);

/*
 * Runs one request object (docs/CONTROL.md; the caller sets CONTROL_PEER_UID
 * in control_int.h's sense when it matters) and returns the reply object
 * {"ok", "tag", "result" | "error"} (a new reference). `monitor` only makes
 * sense on the socket. Main thread: the web console hops here to call it.
 */
json_t *control_execute(struct daemon *d, json_t *req);

/* Closes the socket and every connection, removes the socket file. */
void control_close(struct control *c);

#endif
