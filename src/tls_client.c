/*
 * tls_client.c — OpenSSL for outbound sessions: the client context, one
 * SSL per connection (SNI, certificate verification), and why a TLS call
 * failed, in words fit for a log line and a DSN.
 *
 * Owns no state: the SSL_CTX is the caller's (built once, then only read
 * by delivery threads, which OpenSSL 3 allows); each SSL belongs to its
 * struct oconn. Does not: touch sockets or time anything (outbound_conn_io.c),
 * decide when TLS is needed (outbound_conn.c).
 *
 * Invariants: the context never verifies by itself (SSL_VERIFY_NONE);
 * only the verify policy turns SSL_VERIFY_PEER on, per SSL, together with
 * the name to match, so opportunistic TLS (RFC 7435) never fails on a
 * certificate. The OpenSSL error queue is left empty.
 * Errors: NULL with "message: reason\n" lines appended to a struct buf.
 *
 * RFC 3207 (STARTTLS), RFC 6066 3 (SNI: never an IP literal), RFC 6125
 * (name checks, by OpenSSL), RFC 8996 (TLS 1.2 at least).
 */
#include "outbound_conn_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* The reason of OpenSSL's first queued error, or fallback; empties the queue. */
static void tls_client_reason(char *out, size_t size, const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	snprintf(out, size, "%s", reason != NULL ? reason : fallback);
	ERR_clear_error();
}

__attribute__((format(printf, 2, 3)))
static SSL_CTX *tls_client_ctx_error(struct buf *errors, const char *fmt, ...)
{
	char reason[256];
	tls_client_reason(reason, sizeof(reason), "unknown error");
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(errors, fmt, ap);
	va_end(ap);
	buf_printf(errors, ": %s\n", reason);
	return NULL;
}

SSL_CTX *tls_client_ctx_new(const char *ca_file, struct buf *errors)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return tls_client_ctx_error(errors, "cannot create a TLS client context");
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* Pooled sessions sit idle most of the time: give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	int ok;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_DEFAULT_CIPHERS) != 1)
		ok = 0;
	else if (ca_file != NULL)
		ok = SSL_CTX_load_verify_file(ctx, ca_file);
	else
		ok = SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		SSL_CTX_free(ctx);
		if (ca_file != NULL)
			return tls_client_ctx_error(errors, "cannot set up the TLS client context "
							    "with CA file %s", ca_file);
		return tls_client_ctx_error(errors, "cannot set up the TLS client context");
	}
	return ctx;
}

static bool tls_client_is_ip(const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

SSL *tls_client_ssl_new(SSL_CTX *ctx, int fd, const char *name, bool verify)
{
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL)
		return NULL;
	bool ip = tls_client_is_ip(name);
	/* Partial writes: the I/O loop advances by what was written. */
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
	bool ok = SSL_set_fd(ssl, fd) == 1;
	if (ok && !ip && name[0] != '\0')
		ok = SSL_set_tlsext_host_name(ssl, name) == 1;
	if (ok && verify) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (ip)
			ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
		else
			ok = SSL_set1_host(ssl, name) == 1;
	}
	if (!ok) {
		ERR_clear_error();
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

void tls_client_failure(const SSL *ssl, int err, char *out, size_t size)
{
	int saved_errno = errno;
	long verify = SSL_get_verify_result(ssl);
	if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) && verify != X509_V_OK) {
		snprintf(out, size, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
		ERR_clear_error();
		return;
	}
	if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && saved_errno == 0 &&
					      ERR_peek_error() == 0)) {
		snprintf(out, size, "connection closed by peer");
		ERR_clear_error();
		return;
	}
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		snprintf(out, size, "%s", strerror(saved_errno));
		return;
	}
	tls_client_reason(out, size, "TLS error");
}
