/*
 * tls.h — server TLS contexts per virtual server, and how a TLS connection
 * is described in logs and Received: headers (contract).
 *
 * A virtual server gets one SSL_CTX, built on the main thread at start-up
 * or reload (before privileges are dropped, so root-only key files can be
 * read) and only read afterwards: any worker thread may SSL_new() from it
 * (OpenSSL 3 is thread-safe for that). The context owns its extra SNI
 * certificates; SSL_CTX_free() on it frees everything, and an SSL still
 * using it keeps it alive (OpenSSL refcounts), so a reload never pulls a
 * certificate from under a live session.
 *
 * The session (smtp_session.c) owns the connection: SSL_new(), the
 * bufferevent_openssl, handshake timeouts, STARTTLS (RFC 3207) and implicit
 * TLS (RFC 8314 3.3) sequencing. This module never does I/O on a socket.
 *
 * Errors are appended to a struct buf as one "message\n" line each, with
 * OpenSSL's reason strings; the caller prefixes its own context (the config
 * file and server name).
 */
#ifndef VSMTPD_TLS_H
#define VSMTPD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "lib/buf.h"

/* The oldest protocol accepted unless configured: RFC 8996 retires 1.0/1.1. */
#define TLS_DEFAULT_MIN_PROTOCOL "TLSv1.2"
/*
 * TLS 1.2 ciphers unless configured: forward-secret AEAD first, then
 * forward-secret CBC for older MTAs (opportunistic STARTTLS falls back to
 * plain text when nothing is shared, which is worse); never RC4, 3DES,
 * EXPORT, NULL or anonymous (RFC 7465, RFC 7525 4.2), nor CCM_8's short tag.
 */
#define TLS_DEFAULT_CIPHERS \
	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:ECDHE+AES:DHE+AES" \
	":!aNULL:!eNULL:!EXPORT:!RC4:!3DES:!DES:!MD5:!PSK:!SRP:!DSS:!AESCCM8"
/* A buffer this size always holds tls_describe() and tls_received_clause(). */
#define TLS_DESCRIBE_MAX 160

/* One extra certificate, offered to clients that ask for one of its names. */
struct tls_cert_pair {
	const char *cert_file;	/* PEM: leaf first, then intermediates */
	const char *key_file;	/* PEM private key; NULL: the key is in cert_file */
};

/* What a server context is built from; strings are only read during the call. */
struct tls_server_conf {
	const char *cert_file;	/* required; PEM chain, leaf first */
	const char *key_file;	/* NULL: the key is in cert_file */
	const struct tls_cert_pair *sni_certs;	/* chosen by SNI (RFC 6066 3); may be NULL */
	size_t sni_count;
	const char *min_protocol;	/* "TLSv1.2" or "TLSv1.3"; NULL: TLS_DEFAULT_MIN_PROTOCOL */
	const char *ciphers;		/* TLS 1.2 OpenSSL cipher list; NULL: TLS_DEFAULT_CIPHERS */
	const char *ciphersuites;	/* TLS 1.3 suites; NULL: OpenSSL's default */
};

/*
 * Builds a server context from conf. For the default certificate and every
 * SNI certificate: loads the chain and the key, refuses a key file that is
 * not a regular file, that group or others may read or write ("key file X
 * is readable by others (mode 0644); chmod 600"), that is encrypted (no
 * pass-phrase prompt ever blocks start-up) or that does not match its
 * certificate; refuses an SNI certificate with no DNS name to match.
 * Sets the minimum protocol, the cipher lists, server cipher preference,
 * no compression, no renegotiation, automatic DH/ECDH groups; session
 * tickets stay on with OpenSSL's per-process key.
 *
 * SNI: the client's server name is matched against each certificate's
 * subjectAltName DNS names, or its CN when it has none (RFC 6125 6.4.4),
 * ignoring case; a wildcard is only a whole left-most label ("*.example.test"
 * matches "a.example.test", not "example.test" nor "a.b.example.test",
 * RFC 6125 6.4.3). An exact name beats a wildcard, and the default
 * certificate beats the SNI ones; a name nothing matches, or no name at all,
 * gets the default certificate: SNI never fails a handshake.
 *
 * Returns the context (caller frees with SSL_CTX_free()), or NULL with every
 * problem found appended to *errors. Main thread only.
 */
SSL_CTX *tls_server_ctx_new(const struct tls_server_conf *conf, struct buf *errors);

/*
 * The context whose certificate a handshake on ctx (from
 * tls_server_ctx_new()) presents for servername (NULL or "" when the client
 * sent none), by the rules above. Borrowed: valid while ctx lives. The SNI
 * callback uses it; so can logs and tests. Any thread.
 */
SSL_CTX *tls_server_ctx_select(SSL_CTX *ctx, const char *servername);

/*
 * Writes "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256" for log
 * lines about ssl, or "version=none cipher=none bits=0" when ssl is NULL or
 * has no cipher yet. out is always NUL-terminated; it is "" when size is
 * too small for the whole text (TLS_DESCRIBE_MAX always suffices). Any
 * thread, for an SSL it owns.
 */
void tls_describe(const SSL *ssl, char *out, size_t size);

/*
 * Writes the Received: comment for a message that came over ssl, as
 * Postfix writes it (RFC 5321 4.4, RFC 8314 4.3):
 * "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))",
 * the numbers being the secret and algorithm bits. Writes "" when ssl is
 * NULL or has no cipher yet, or when size is too small (never a partial
 * clause; TLS_DESCRIBE_MAX always suffices). Any thread, for an SSL it owns.
 */
void tls_received_clause(const SSL *ssl, char *out, size_t size);

#endif
