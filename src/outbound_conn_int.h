/*
 * outbound_conn_int.h — what outbound_conn.c, outbound_conn_io.c,
 * outbound_conn_auth.c, outbound_pool.c and tls_client.c share; not for
 * other modules (they use outbound_conn.h).
 *
 * struct oconn itself, the deadline I/O layer (outbound_conn_io.c) and the
 * per-connection TLS helpers (tls_client.c). Every I/O function that fails
 * marks the session broken and leaves a short phrase in c->fault
 * ("timeout", "connection closed by peer", "certificate verify failed:
 * hostname mismatch"); a broken session refuses further I/O at once.
 */
#ifndef VSMTPD_OUTBOUND_CONN_INT_H
#define VSMTPD_OUTBOUND_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outbound_conn.h"
#include "smtp_client.h"
#include "tls.h"

#define OCONN_IN_SIZE 4096	/* read buffer: replies the peer pipelined wait here */
#define OCONN_FAULT_MAX 256
#define OCONN_QUIT_SECONDS 2	/* how long oconn_close() waits for the 221 */

struct oconn {
	int fd;
	SSL *ssl;			/* NULL in clear text */
	bool broken;			/* I/O failed or the peer said 421: no more commands, no QUIT */
	bool local;			/* loopback or unix socket: AUTH may go in clear text */
	unsigned messages;
	char peer[OCONN_PEER_MAX];
	char tls[TLS_DESCRIBE_MAX];	/* tls_describe() once TLS is up, else "" */
	char fault[OCONN_FAULT_MAX];	/* why the session broke */
	struct smtp_caps caps;
	struct smtp_reply_parser parser;
	size_t in_off, in_len;		/* unparsed bytes are in[in_off..in_len) */
	char in[OCONN_IN_SIZE];
};

/* ---- outbound_conn_io.c: blocking I/O with a deadline on a non-blocking fd */

/* Non-blocking connect, waited for until deadline. 0, or -1 with c->fault. */
int oconn_io_connect(struct oconn *c, const struct sockaddr *addr, socklen_t addrlen,
		     uint64_t deadline);
/* Sends all of data. 0, or -1 (broken). */
int oconn_io_send(struct oconn *c, const void *data, size_t len, uint64_t deadline);
/*
 * Reads one whole reply into *r. 0, or -1 (broken) with *r a made-up
 * "421 4.4.2 <fault><context>" (context e.g. " after EHLO").
 */
int oconn_io_reply(struct oconn *c, struct smtp_reply *r, uint64_t deadline, const char *context);
/* Runs SSL_connect on c->ssl. 0, or -1 (broken) with the reason in c->fault. */
int oconn_io_handshake(struct oconn *c, uint64_t deadline);
/* ---- outbound_conn.c, for the AUTH step ------------------------------------ */

/*
 * Sends the command formatted from fmt (its bytes are wiped afterwards:
 * they may hold credentials) and reads the reply into *r, both within
 * timeout seconds. 0, or -1 (broken) with *r a made-up 421 naming stage,
 * which is all that may be logged of the command.
 */
int oconn_command(struct oconn *c, unsigned timeout, const char *stage, struct smtp_reply *r,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* OCONN_OK for 2xx; else TEMP (4xx, odd codes) or PERM (5xx); a 421 or an
 * odd code marks the session broken (the peer is closing, or we are out of
 * step). *r stays as the reason. */
enum oconn_status oconn_judge(struct oconn *c, const struct smtp_reply *r);

/* ---- outbound_conn_auth.c ------------------------------------------------------ */

/* AUTH with p->auth_user when set (see outbound_conn.h); *why on failure. */
enum oconn_status oconn_auth(struct oconn *c, const struct oconn_params *p, struct smtp_reply *why);
/* Loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) or a unix socket. */
bool oconn_addr_is_local(const struct sockaddr *addr);

/* ---- tls_client.c -------------------------------------------------------------- */

/*
 * An SSL on fd for one connection: SNI = name unless it is an IP literal
 * (RFC 6066 3); with verify, SSL_VERIFY_PEER and the certificate must match
 * name (SSL_set1_host, or the IP). NULL when OpenSSL fails.
 */
SSL *tls_client_ssl_new(SSL_CTX *ctx, int fd, const char *name, bool verify);
/*
 * Why an OpenSSL call on ssl failed, from SSL_get_error()'s err, errno (for
 * SSL_ERROR_SYSCALL), the verify result (with verification on) and
 * OpenSSL's error queue (emptied): "certificate verify failed: hostname
 * mismatch", "connection closed by peer", "wrong version number".
 */
void tls_client_failure(const SSL *ssl, int err, char *out, size_t size);

#endif
