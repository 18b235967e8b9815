/*
 * smtp_session.h — one SMTP connection on a worker thread (contract).
 *
 * Binds the pure protocol engine (smtp_proto) to a socket: reads, feeds,
 * answers events with policy decisions and spool operations, writes the
 * replies, enforces timeouts. The only place where "250 queued" is said,
 * and only after spool_msg_commit() reported success.
 */
#ifndef VSMTPD_SMTP_SESSION_H
#define VSMTPD_SMTP_SESSION_H

#include <stdbool.h>
#include <sys/socket.h>

#include "policy.h"
#include "server.h"
#include "worker.h"

/* A connection accepted on the main thread, on its way to a worker. */
struct session_start {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct server *server;		/* reference handed over */
	struct worker *worker;
	enum policy_conn verdict;	/* anything but OK: refuse in the greeting */
	bool ip_counted;		/* counted in the server's per-IP table */
	bool tls;			/* accepted on an implicit-TLS listener */
};

/* Runs on st->worker's thread (post it there); takes st. */
void smtp_session_start(void *st);

/* Asks every session of the calling worker to end: idle ones get "421
 * 4.3.2" now, one whose message is being committed finishes that first.
 * Runs on a worker thread (post it there). */
void smtp_session_shutdown_all(void *unused);

/* Sessions alive in the whole daemon. Any thread. */
unsigned smtp_session_count(void);

#endif
