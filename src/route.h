/*
 * route.h — where a recipient's copy goes (contract).
 *
 * Given the config snapshot, the name of the virtual server that accepted
 * the message and a recipient "local@domain" (as stored in the queue file),
 * decides the destination: a local Maildir directory, a local LMTP server,
 * a remote domain (delivered over SMTP by the accepting server's delivery
 * settings), or a permanent failure.
 * The accepting server is used when it still exists; otherwise (removed by
 * a reload) any server that lists the domain in local_domains. "postmaster"
 * without a domain (RFC 5321 4.5.1) is postmaster@ the accepting server's
 * hostname when that is one of its local domains, else @ its first local
 * domain (in the snapshot's order). Reads only the snapshot: any thread.
 */
#ifndef VSMTPD_ROUTE_H
#define VSMTPD_ROUTE_H

#include <limits.h>

#include "config.h"

enum route_kind {
	ROUTE_LOCAL,		/* deliver into maildir */
	ROUTE_LMTP,		/* local, to the LMTP server of srv->mailbox */
	ROUTE_REMOTE,		/* a non-local domain: relay it to `domain` */
	ROUTE_DEFER,		/* local, but not deliverable now (e.g. no usable mailbox setting) */
	ROUTE_FAILED,		/* permanent: text says why */
};

struct route {
	enum route_kind kind;
	const struct config_server *srv;	/* the server owning the domain; NULL if none */
	char maildir[PATH_MAX];		/* ROUTE_LOCAL: the Maildir directory */
	char domain[256];		/* the recipient's domain, lower-cased */
	char text[256];			/* ROUTE_REMOTE/DEFER/FAILED: "4.4.0 ..." / "5.1.1 ..." */
};

/* Routes addr for a message accepted by server `server`. Always fills *out. */
void route_rcpt(const struct config *cfg, const char *server, const char *addr, struct route *out);

/*
 * The envelope sender for relayed mail from server srv: sender with its
 * domain replaced by srv->masquerade_domain when that is set and the
 * domain is one of srv's local_domains; else sender itself. Writes into
 * out[0..size) and returns out.
 */
const char *route_masquerade(const struct config_server *srv, const char *sender, char *out, size_t size);

/*
 * The server whose policy (retry, expire) applies to a message accepted by
 * `server` for a recipient in `domain` (may be NULL): the accepting server
 * if it still exists, else one that lists domain as local, else the first
 * server, else NULL (no servers at all).
 */
const struct config_server *route_server(const struct config *cfg, const char *server, const char *domain);

#endif
