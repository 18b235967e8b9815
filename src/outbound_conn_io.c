/*
 * outbound_conn_io.c — blocking-with-deadline I/O for outbound sessions:
 * connect, send, read one reply, TLS handshake; plain sockets or OpenSSL.
 *
 * Owns nothing but the bytes in flight: the fd is non-blocking and every
 * wait is a poll() bounded by the caller's deadline (CLOCK_MONOTONIC, so a
 * clock step never stretches a timeout). Replies are parsed by
 * smtp_client.c; bytes after the end of one reply stay in c->in for the
 * next call (a peer may send several pipelined replies in one packet,
 * RFC 2920 3.2). What the replies mean is outbound_conn.c's business.
 *
 * Invariants: after any failure the session is broken and every later call
 * fails at once with the first fault kept; plain sends use MSG_NOSIGNAL
 * (OpenSSL writes with write(2): the daemon ignores SIGPIPE, main.c).
 * Errors: 0 / -1, the reason a short phrase in c->fault.
 *
 * RFC 5321 4.5.3.2 (timeouts per stage: the caller's deadlines).
 */
#include "outbound_conn_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>

uint64_t oconn_deadline(unsigned seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + (uint64_t)seconds * 1000;
}

__attribute__((format(printf, 2, 3)))
static int io_fail(struct oconn *c, const char *fmt, ...)
{
	if (!c->broken) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->fault, sizeof(c->fault), fmt, ap);
		va_end(ap);
		c->broken = true;
	}
	return -1;
}

/* Waits until fd is ready for events, or fails at deadline. */
static int io_wait(struct oconn *c, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = oconn_deadline(0);
		if (now >= deadline)
			return io_fail(c, "timeout");
		uint64_t left = deadline - now;
		struct pollfd pfd = { .fd = c->fd, .events = events };
		int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		/* POLLERR/POLLHUP count as ready: the next call says what happened. */
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return io_fail(c, "poll: %s", strerror(errno));
	}
}

int oconn_io_connect(struct oconn *c, const struct sockaddr *addr, socklen_t addrlen,
		     uint64_t deadline)
{
	c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return io_fail(c, "socket: %s", strerror(errno));
	/* Every write ends a command or a message and waits for the reply: Nagle
	 * would hold the last small segment for the peer's delayed ACK (40 ms a
	 * message). */
	if (addr->sa_family != AF_UNIX) {
		int on = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	int err = 0;
	if (connect(c->fd, addr, addrlen) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			err = errno;
		} else if (io_wait(c, POLLOUT, deadline) < 0) {
			snprintf(c->fault, sizeof(c->fault), "connect timed out");
			return -1;
		} else {
			socklen_t len = sizeof(err);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
		}
	}
	if (err == ECONNREFUSED)
		return io_fail(c, "connection refused");
	if (err != 0)
		return io_fail(c, "connect: %s", strerror(err));
	return 0;
}

/*
 * After an OpenSSL call returned ret: 0 when poll() should wait for
 * *events and the call be made again, else -1 with the session broken.
 */
static int io_ssl_retry(struct oconn *c, int ret, short *events)
{
	int err = SSL_get_error(c->ssl, ret);
	if (err == SSL_ERROR_WANT_READ) {
		*events = POLLIN;
		return 0;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		*events = POLLOUT;
		return 0;
	}
	char reason[OCONN_FAULT_MAX];
	tls_client_failure(c->ssl, err, reason, sizeof(reason));
	return io_fail(c, "%s", reason);
}

/*
 * Moves bytes once: reads into (or writes from) p[0..n) and returns how
 * many, waiting as needed until deadline; -1 on failure or end of input.
 */
static ssize_t io_transfer(struct oconn *c, bool writing, void *p, size_t n, uint64_t deadline)
{
	if (c->broken)
		return -1;
	int cap = n > INT32_MAX ? INT32_MAX : (int)n;
	for (;;) {
		short events = writing ? POLLOUT : POLLIN;
		if (c->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			int got = writing ? SSL_write(c->ssl, p, cap) : SSL_read(c->ssl, p, cap);
			if (got > 0)
				return got;
			if (io_ssl_retry(c, got, &events) < 0)
				return -1;
		} else {
			ssize_t got = writing ? send(c->fd, p, n, MSG_NOSIGNAL) : recv(c->fd, p, n, 0);
			if (got > 0)
				return got;
			if (got == 0)
				return io_fail(c, "connection closed by peer");
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return io_fail(c, "%s", strerror(errno));
		}
		if (io_wait(c, events, deadline) < 0)
			return -1;
	}
}

int oconn_io_send(struct oconn *c, const void *data, size_t len, uint64_t deadline)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = io_transfer(c, true, (void *)p, len, deadline);
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int oconn_io_reply(struct oconn *c, struct smtp_reply *r, uint64_t deadline, const char *context)
{
	for (;;) {
		if (c->broken)
			break;
		if (c->in_off < c->in_len) {
			size_t used = 0;
			int rc = smtp_reply_parse(&c->parser, c->in + c->in_off, c->in_len - c->in_off,
						  &used, r);
			c->in_off += used;
			if (rc == 1)
				return 0;
			if (rc < 0) {
				io_fail(c, "protocol error (malformed reply)");
				break;
			}
		}
		ssize_t n = io_transfer(c, false, c->in, sizeof(c->in), deadline);
		if (n < 0)
			break;
		c->in_off = 0;
		c->in_len = (size_t)n;
	}
	smtp_reply_make(r, 421, "4.4.2", "%s%s", c->fault, context);
	return -1;
}

int oconn_io_handshake(struct oconn *c, uint64_t deadline)
{
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int ret = SSL_connect(c->ssl);
		if (ret == 1)
			return 0;
		short events = POLLIN;	/* io_ssl_retry() sets it whenever it returns 0 */
		if (io_ssl_retry(c, ret, &events) < 0 || io_wait(c, events, deadline) < 0)
			return -1;
	}
}

/* ---- the public I/O calls ------------------------------------------------- */

int oconn_write(struct oconn *c, const void *data, size_t len, unsigned timeout)
{
	return oconn_io_send(c, data, len, oconn_deadline(timeout));
}

int oconn_read_reply(struct oconn *c, struct smtp_reply *r, unsigned timeout)
{
	return oconn_io_reply(c, r, oconn_deadline(timeout), " waiting for reply");
}
