/*
 * outbound_conn.h — outbound SMTP/LMTP connections: open, secure, log in, reuse (contract).
 *
 * One struct oconn is a connected session that is ready for MAIL (or, for
 * LMTP, for MAIL after LHLO): connect with a timeout, read the greeting,
 * EHLO (LHLO), STARTTLS per the TLS policy and EHLO again, AUTH when
 * credentials are given. I/O is blocking with a deadline per stage (RFC
 * 5321 4.5.3.2), on delivery threads; plain sockets or OpenSSL.
 *
 * The pool keeps idle sessions for reuse by the next message to the same
 * destination (key chosen by the caller, e.g. "mx:example.net:25") for a
 * few seconds, and counts open connections per destination and in total
 * so that the caller can honour per-destination and global limits.
 * Pool functions are thread-safe; one oconn is used by one thread at a time.
 *
 * TLS policies (per destination, RFC 3207 and RFC 7435 opportunistic TLS):
 *   none     never STARTTLS;
 *   may      STARTTLS when offered, certificate not checked; after a
 *            refused STARTTLS the session goes on in clear text, after a
 *            failed handshake a new connection does (once);
 *   encrypt  STARTTLS required (a peer without it, or a failed handshake,
 *            is a temporary failure), certificate not checked;
 *   verify   as encrypt, and the certificate must chain to the trusted CAs
 *            (SSL_CTX's store) and match tls_name (SSL_set1_host).
 * Implicit TLS (RFC 8314) to a smart host is `tls_wrapper`. Every TLS
 * failure is logged: "event=tls_failed peer=... policy=... reason=\"...\""
 * (plus " next=plaintext" when "may" goes on without TLS). AUTH credentials go
 * only over TLS or to a local peer (127.0.0.0/8, ::1, a unix socket).
 */
#ifndef VSMTPD_OUTBOUND_CONN_H
#define VSMTPD_OUTBOUND_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "smtp_client.h"

#define OCONN_PEER_MAX 320	/* "name[ip]:port" */

enum tls_policy {
	TLS_POLICY_NONE,
	TLS_POLICY_MAY,
	TLS_POLICY_ENCRYPT,
	TLS_POLICY_VERIFY,
};

/* Per-stage timeouts, seconds (RFC 5321 4.5.3.2 minimums in parentheses). */
struct oconn_timeouts {
	unsigned connect;	/* TCP connect + TLS handshake (none given; 30 s usual) */
	unsigned greeting;	/* 220 (5 min) */
	unsigned command;	/* EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET (5 min) */
	unsigned data_init;	/* the 354 (2 min) */
	unsigned data_block;	/* each write of content (3 min) */
	unsigned data_end;	/* the reply to "." (10 min) */
};

struct oconn_params {
	bool lmtp;			/* LHLO instead of EHLO (RFC 2033) */
	const char *helo_name;		/* our hostname */
	enum tls_policy tls;
	bool tls_wrapper;		/* implicit TLS from the first byte */
	SSL_CTX *tls_ctx;		/* client context (tls_client_ctx_new); NULL: tls must be none */
	const char *tls_name;		/* SNI and, with verify, the name the certificate must
					 * match; NULL: host (oconn_open) */
	const char *auth_user;		/* AUTH PLAIN (or LOGIN when PLAIN is not offered); NULL: none */
	const char *auth_pass;		/* at most 255 bytes each (RFC 4616 2) */
	struct oconn_timeouts timeouts;	/* each > 0 */
};

enum oconn_status {
	OCONN_OK,
	OCONN_TEMP,	/* connection refused/reset/timeout, 4xx greeting or EHLO, TLS needed and failed:
			 * try the next address or host, then defer */
	OCONN_PERM,	/* the server refused us for good (5xx greeting/EHLO, 5xx AUTH): RFC 5321
			 * 3.9 / 5.1 says try the next host anyway; fail only when none is left */
};

struct oconn;

/*
 * Connects to addr (port set; AF_INET, AF_INET6 or AF_UNIX) and runs the
 * session setup described above. host is the peer's name for logs
 * ("mx1.example.net"; may equal the IP; for a unix socket, its path, which
 * is then the whole peer string). On OCONN_OK *out is the session.
 * Otherwise *out is NULL and *why holds the reason: the peer's reply when
 * there was one ("554 5.7.1 ...", "535 5.7.8 ..."), or a made-up one
 * ("421 4.4.1 connection refused", "421 4.4.1 connect timed out", "421
 * 4.4.2 timeout waiting for greeting", "421 4.4.2 connection closed by
 * peer after EHLO", "421 4.7.0 TLS required but not offered", "421 4.7.5
 * TLS handshake failed: certificate verify failed: hostname mismatch",
 * "421 4.7.0 refusing to send AUTH credentials without TLS ..."). *peer is
 * always the "name[ip]:port". A failed session is closed with QUIT unless
 * it broke or the peer said 421. Blocks; any thread.
 */
enum oconn_status oconn_open(const struct sockaddr *addr, socklen_t addrlen, const char *host,
			     const struct oconn_params *p, struct oconn **out,
			     struct smtp_reply *why, char peer[OCONN_PEER_MAX]);

/* "name[ip]:port" of the session. */
const char *oconn_peer(const struct oconn *c);
/* What the peer offered in its last EHLO/LHLO. */
const struct smtp_caps *oconn_caps(const struct oconn *c);
/* "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" (tls_describe), or "" in clear text. */
const char *oconn_tls(const struct oconn *c);
/* Transactions done on this session (for the reuse limit); the caller counts. */
unsigned oconn_messages(const struct oconn *c);
void oconn_count_message(struct oconn *c);

/* Sends all of data within timeout seconds. 0, or -1 (the session is broken). */
int oconn_write(struct oconn *c, const void *data, size_t len, unsigned timeout);
/* Reads one whole reply within timeout seconds; replies the peer sent
 * ahead (pipelining) are kept for the next call. 0, or -1 (broken: timeout,
 * EOF, protocol error); then *r holds a made-up reply saying which, e.g.
 * "421 4.4.2 timeout waiting for reply". */
int oconn_read_reply(struct oconn *c, struct smtp_reply *r, unsigned timeout);
/* Sends QUIT (when quit and the session is sound), waits up to 2 s for the
 * reply, closes, frees. NULL is ignored. */
void oconn_close(struct oconn *c, bool quit);

/* ---- pool ---------------------------------------------------------------- */

struct oconn_pool;

/* idle_seconds: how long an idle session is kept (0: never kept);
 * max_total: open outbound connections in all (0: no limit). */
struct oconn_pool *oconn_pool_new(unsigned idle_seconds, unsigned max_total);
/* Closes every idle session (QUIT), frees. No slot may be held. */
void oconn_pool_free(struct oconn_pool *pool);

/*
 * Reserves a connection slot for destination key: false when key already
 * holds max_per_dest slots (0: no limit) or the pool holds max_total (after
 * closing the oldest idle session of another destination to make room).
 * A slot covers one connection, idle or in use; an idle session keeps its
 * slot. Each true must be matched by oconn_pool_release() or by handing
 * the session back with oconn_pool_put().
 */
bool oconn_pool_reserve(struct oconn_pool *pool, const char *key, unsigned max_per_dest);
void oconn_pool_release(struct oconn_pool *pool, const char *key);

/*
 * An idle session for key (its slot comes with it: do not reserve), or
 * NULL. Sessions idle for longer than idle_seconds are closed, not given.
 */
struct oconn *oconn_pool_take(struct oconn_pool *pool, const char *key);
/*
 * Hands c back for reuse under key (after a transaction that left it ready
 * for MAIL), keeping its slot; when the pool keeps nothing, c is broken,
 * or c has done max_messages transactions (0: no limit), closes it (QUIT
 * unless broken) and releases the slot. Sessions are closed outside the
 * pool's lock, so a slow QUIT never holds up other threads.
 */
void oconn_pool_put(struct oconn_pool *pool, const char *key, struct oconn *c, unsigned max_messages);
/* Closes sessions idle for longer than idle_seconds (call now and then). */
void oconn_pool_expire(struct oconn_pool *pool);

/*
 * For a caller that found no idle session and no free slot: the pool's
 * change count now, then a wait until it differs from seen (a session was
 * put back or a slot freed, for any destination: look again) or until
 * deadline_ms (oconn_deadline() time). True when it changed. So a burst of
 * messages to one destination queues on its connections instead of
 * retrying blindly.
 */
uint64_t oconn_pool_generation(struct oconn_pool *pool);
/* Milliseconds on the monotonic clock, seconds from now: the time unit of deadlines here. */
uint64_t oconn_deadline(unsigned seconds);
bool oconn_pool_wait(struct oconn_pool *pool, uint64_t seen, uint64_t deadline_ms);

/* ---- TLS ----------------------------------------------------------------- */

/*
 * A client SSL_CTX: TLS 1.2 or newer, certificates checked against ca_file
 * (PEM bundle) or, when NULL, the system's default store; verification
 * itself is switched on per connection by the verify policy. NULL with the
 * reasons appended to errors.
 */
SSL_CTX *tls_client_ctx_new(const char *ca_file, struct buf *errors);

#endif
