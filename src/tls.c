/*
 * tls.c — OpenSSL server contexts per virtual server, SNI certificate
 * choice, and the text that describes a TLS connection.
 *
 * Owns: each virtual server's SSL_CTX and, hung on it as ex_data, its SNI
 * SSL_CTXs (freed by OpenSSL with the default context when its last
 * reference goes). Built on the main thread, then only read; the SNI
 * callback runs on a worker thread and touches nothing mutable.
 * Does not: open sockets, run or time handshakes, decide when STARTTLS is
 * offered (smtp_session.c, with bufferevent_openssl); client contexts
 * belong to the delivery agent.
 *
 * Invariants: every SNI context is configured exactly as the default one
 * (SSL_set_SSL_CTX() swaps only the certificate); SNI choice never fails a
 * handshake; a private key is read from the very descriptor whose mode was
 * checked, so no file swap slips in a key others can read.
 *
 * Errors: -1/NULL plus one "message\n" line per problem in a struct buf,
 * with OpenSSL's reason strings; the OpenSSL error queue is left empty.
 *
 * RFC 3207 and RFC 8314 (what the contexts serve), RFC 6066 3 (SNI),
 * RFC 6125 6.4 (name matching), RFC 7525 / RFC 8996 (protocols, ciphers),
 * RFC 5746 (renegotiation: refused outright).
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lib/xalloc.h"

/* A DNS name is at most 253 octets in text form (RFC 1035 2.3.4). */
#define TLS_SERVERNAME_MAX 253
/* Session ID context: resumption is only valid within vsmtpd's contexts. */
#define TLS_SID_CONTEXT "vsmtpd"

/* The extra certificates of one default context, chosen by SNI. */
struct tls_sni {
	size_t count;
	SSL_CTX **ctxs;
};

static pthread_once_t tls_sni_once = PTHREAD_ONCE_INIT;
static int tls_sni_index = -1;

static void tls_sni_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	struct tls_sni *sni = ptr;
	if (sni == NULL)
		return;
	for (size_t i = 0; i < sni->count; i++)
		SSL_CTX_free(sni->ctxs[i]);
	free(sni->ctxs);
	free(sni);
}

static void tls_sni_index_init(void)
{
	tls_sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_sni_free);
}

/*
 * Appends ": reason; reason" from OpenSSL's error queue (emptying it),
 * leaving out repeats and the generic wrappers that add nothing.
 */
static void tls_append_queue(struct buf *errors)
{
	const char *sep = ": ";
	unsigned long last = 0;
	unsigned long e;
	while ((e = ERR_get_error()) != 0) {
		if (ERR_GET_REASON(e) == ERR_GET_REASON(last) && ERR_GET_LIB(e) == ERR_GET_LIB(last))
			continue;
		last = e;
		const char *reason = ERR_reason_error_string(e);
		if (reason != NULL && strcmp(reason, "system lib") == 0)
			continue;
		buf_append_str(errors, sep);
		if (reason != NULL) {
			buf_append_str(errors, reason);
		} else {
			char text[256];
			ERR_error_string_n(e, text, sizeof(text));
			buf_append_str(errors, text);
		}
		sep = "; ";
	}
}

/* One error line: the message, then whatever OpenSSL queued about it. */
__attribute__((format(printf, 2, 3)))
static void tls_error(struct buf *errors, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(errors, fmt, ap);
	va_end(ap);
	tls_append_queue(errors);
	buf_append_char(errors, '\n');
}

static int tls_parse_protocol(const char *text, int *version, struct buf *errors)
{
	if (text == NULL)
		text = TLS_DEFAULT_MIN_PROTOCOL;
	if (strcasecmp(text, "TLSv1.2") == 0) {
		*version = TLS1_2_VERSION;
		return 0;
	}
	if (strcasecmp(text, "TLSv1.3") == 0) {
		*version = TLS1_3_VERSION;
		return 0;
	}
	buf_printf(errors, "min_protocol \"%s\" is not supported (use TLSv1.2 or TLSv1.3)\n", text);
	return -1;
}

/* A context with every setting but the certificate; NULL on error. */
static SSL_CTX *tls_ctx_configured(const struct tls_server_conf *conf, int version,
				   struct buf *errors)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_error(errors, "cannot create a TLS context");
		return NULL;
	}
	bool ok = true;
	if (SSL_CTX_set_min_proto_version(ctx, version) != 1) {
		tls_error(errors, "cannot set the minimum TLS protocol");
		ok = false;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
	/* Idle SMTP sessions are the common case: give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	const char *ciphers = conf->ciphers != NULL ? conf->ciphers : TLS_DEFAULT_CIPHERS;
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		tls_error(errors, "ciphers \"%s\" selects no usable TLS 1.2 cipher", ciphers);
		ok = false;
	}
	if (conf->ciphersuites != NULL) {
		if (SSL_CTX_set_ciphersuites(ctx, conf->ciphersuites) != 1) {
			tls_error(errors, "ciphersuites \"%s\" is not a valid TLS 1.3 suite list",
				  conf->ciphersuites);
			ok = false;
		} else if (conf->ciphersuites[0] == '\0' && version == TLS1_3_VERSION) {
			buf_printf(errors, "ciphersuites is empty but min_protocol is TLSv1.3: "
					   "no handshake could succeed\n");
			ok = false;
		}
	}
	SSL_CTX_set_dh_auto(ctx, 1);
	if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SID_CONTEXT,
					   strlen(TLS_SID_CONTEXT)) != 1) {
		tls_error(errors, "cannot set the TLS session id context");
		ok = false;
	}
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Pass-phrase callback: never prompt; remember that one was wanted. */
static int tls_no_passphrase(char *out, int size, int rwflag, void *arg)
{
	*(bool *)arg = true;
	return -1;
}

/*
 * Reads the private key at path, refusing a file that is not a regular file
 * or that group or others may read or write, and an encrypted key.
 * Returns the key (caller frees) or NULL.
 */
static EVP_PKEY *tls_read_key(const char *path, struct buf *errors)
{
	/* O_NONBLOCK: a FIFO put in the key's place must not hang start-up. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		buf_printf(errors, "cannot open key file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		buf_printf(errors, "cannot stat key file %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	const char *problem = NULL;
	if (!S_ISREG(st.st_mode))
		problem = "is not a regular file";
	else if (st.st_mode & (S_IRGRP | S_IROTH))
		problem = "is readable by others";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		problem = "is writable by others";
	if (problem != NULL) {
		if (S_ISREG(st.st_mode))
			buf_printf(errors, "key file %s %s (mode %04o); chmod 600\n", path, problem,
				   (unsigned)(st.st_mode & 07777));
		else
			buf_printf(errors, "key file %s %s\n", path, problem);
		close(fd);
		return NULL;
	}
	BIO *bio = BIO_new_fd(fd, BIO_CLOSE);
	if (bio == NULL) {
		tls_error(errors, "cannot read key file %s", path);
		close(fd);
		return NULL;
	}
	bool wanted_passphrase = false;
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, &wanted_passphrase);
	BIO_free(bio);
	if (key != NULL)
		return key;
	if (wanted_passphrase) {
		ERR_clear_error();
		buf_printf(errors, "key file %s is encrypted: vsmtpd cannot ask for a pass-phrase; "
				   "store it decrypted with mode 600\n", path);
	} else {
		tls_error(errors, "no PEM private key in %s", path);
	}
	return NULL;
}

/* Loads one certificate chain and its key into ctx; 0 or -1. */
static int tls_load_pair(SSL_CTX *ctx, const char *cert, const char *key, struct buf *errors)
{
	if (cert == NULL || cert[0] == '\0') {
		buf_printf(errors, "no certificate file given\n");
		return -1;
	}
	if (key != NULL && key[0] == '\0')
		key = NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_error(errors, "cannot load a PEM certificate chain from %s", cert);
		return -1;
	}
	const char *key_path = key != NULL ? key : cert;
	EVP_PKEY *pkey = tls_read_key(key_path, errors);
	if (pkey == NULL)
		return -1;
	/*
	 * Checked here, not only by SSL_CTX_use_PrivateKey(): a key of another
	 * type (EC for an RSA certificate) would be filed in its own slot and
	 * the mismatch only noticed, obscurely, later.
	 */
	int rc = -1;
	if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey) != 1)
		tls_error(errors, "key file %s does not match certificate %s", key_path, cert);
	else if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		tls_error(errors, "cannot use the private key in %s", key_path);
	else
		rc = 0;
	EVP_PKEY_free(pkey);
	return rc;
}

/* Whether cert names anything SNI could ask for: a DNS SAN or a CN. */
static bool tls_cert_has_names(X509 *cert)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool found = false;
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_DNS)
			found = true;
	}
	GENERAL_NAMES_free(sans);
	if (found)
		return true;
	return X509_NAME_get_index_by_NID(X509_get_subject_name(cert), NID_commonName, -1) >= 0;
}

static bool tls_ctx_matches(SSL_CTX *ctx, const char *name, size_t len, unsigned flags)
{
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	return cert != NULL && X509_check_host(cert, name, len, flags, NULL) == 1;
}

SSL_CTX *tls_server_ctx_select(SSL_CTX *ctx, const char *servername)
{
	if (tls_sni_index < 0 || servername == NULL)
		return ctx;
	size_t len = strlen(servername);
	/* RFC 6066 3 forbids the trailing dot; be lenient, as names compare without it. */
	if (len > 1 && servername[len - 1] == '.')
		len--;
	if (len == 0 || len > TLS_SERVERNAME_MAX)
		return ctx;
	const struct tls_sni *sni = SSL_CTX_get_ex_data(ctx, tls_sni_index);
	if (sni == NULL)
		return ctx;
	/* Exact names first, anywhere; then wildcards (RFC 6125 6.4.3). */
	static const unsigned passes[] = {
		X509_CHECK_FLAG_NO_WILDCARDS,
		X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
	};
	for (size_t p = 0; p < sizeof(passes) / sizeof(passes[0]); p++) {
		if (tls_ctx_matches(ctx, servername, len, passes[p]))
			return ctx;
		for (size_t i = 0; i < sni->count; i++)
			if (tls_ctx_matches(sni->ctxs[i], servername, len, passes[p]))
				return sni->ctxs[i];
	}
	return ctx;
}

/* Runs during ClientHello on a worker thread; arg is the default context. */
static int tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
	SSL_CTX *def = arg;
	SSL_CTX *chosen = tls_server_ctx_select(def, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	/* On failure (out of memory) the default certificate still serves. */
	if (chosen != def && SSL_set_SSL_CTX(ssl, chosen) == NULL)
		ERR_clear_error();
	return SSL_TLSEXT_ERR_OK;
}

/* Builds the SNI contexts into sni; reports every bad pair. 0 or -1. */
static int tls_sni_build(const struct tls_server_conf *conf, int version, struct tls_sni *sni,
			 struct buf *errors)
{
	int rc = 0;
	sni->ctxs = xcalloc(conf->sni_count, sizeof(*sni->ctxs));
	for (size_t i = 0; i < conf->sni_count; i++) {
		const struct tls_cert_pair *pair = &conf->sni_certs[i];
		if (pair->cert_file == NULL || pair->cert_file[0] == '\0') {
			buf_printf(errors, "SNI certificate %zu has no certificate file\n", i + 1);
			rc = -1;
			continue;
		}
		SSL_CTX *ctx = tls_ctx_configured(conf, version, errors);
		if (ctx == NULL) {
			rc = -1;
			continue;
		}
		if (tls_load_pair(ctx, pair->cert_file, pair->key_file, errors) < 0) {
			SSL_CTX_free(ctx);
			rc = -1;
			continue;
		}
		if (!tls_cert_has_names(SSL_CTX_get0_certificate(ctx))) {
			buf_printf(errors, "certificate %s has no DNS name (subjectAltName or CN) "
					   "for SNI to match\n", pair->cert_file);
			SSL_CTX_free(ctx);
			rc = -1;
			continue;
		}
		sni->ctxs[sni->count++] = ctx;
	}
	return rc;
}

SSL_CTX *tls_server_ctx_new(const struct tls_server_conf *conf, struct buf *errors)
{
	ERR_clear_error();
	pthread_once(&tls_sni_once, tls_sni_index_init);
	if (tls_sni_index < 0) {
		tls_error(errors, "cannot allocate OpenSSL ex_data index");
		return NULL;
	}
	if (conf->sni_count > 0 && conf->sni_certs == NULL) {
		buf_printf(errors, "sni_count is %zu but no SNI certificates are given\n",
			   conf->sni_count);
		return NULL;
	}
	int version;
	if (tls_parse_protocol(conf->min_protocol, &version, errors) < 0)
		return NULL;
	SSL_CTX *ctx = tls_ctx_configured(conf, version, errors);
	if (ctx == NULL)
		return NULL;
	int rc = tls_load_pair(ctx, conf->cert_file, conf->key_file, errors);
	struct tls_sni *sni = xcalloc(1, sizeof(*sni));
	if (conf->sni_count > 0 && tls_sni_build(conf, version, sni, errors) < 0)
		rc = -1;
	/* Attached even on failure: SSL_CTX_free() below then frees it. */
	if (SSL_CTX_set_ex_data(ctx, tls_sni_index, sni) != 1) {
		tls_sni_free(NULL, sni, NULL, 0, 0, NULL);
		tls_error(errors, "cannot attach SNI certificates to the TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (rc < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (sni->count > 0) {
		SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername_cb);
		SSL_CTX_set_tlsext_servername_arg(ctx, ctx);
	}
	ERR_clear_error();
	return ctx;
}

/* Formats into out, or leaves "" when it does not fit whole. */
__attribute__((format(printf, 3, 4)))
static void tls_format(char *out, size_t size, const char *fmt, ...)
{
	if (size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		out[0] = '\0';
}

/* The negotiated cipher, or NULL while there is none to speak of. */
static const SSL_CIPHER *tls_cipher(const SSL *ssl)
{
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return NULL;
	return SSL_get_current_cipher(ssl);
}

void tls_describe(const SSL *ssl, char *out, size_t size)
{
	const SSL_CIPHER *cipher = tls_cipher(ssl);
	if (cipher == NULL) {
		tls_format(out, size, "version=none cipher=none bits=0");
		return;
	}
	tls_format(out, size, "version=%s cipher=%s bits=%d", SSL_get_version(ssl),
		   SSL_CIPHER_get_name(cipher), SSL_CIPHER_get_bits(cipher, NULL));
}

void tls_received_clause(const SSL *ssl, char *out, size_t size)
{
	const SSL_CIPHER *cipher = tls_cipher(ssl);
	if (cipher == NULL) {
		tls_format(out, size, "%s", "");
		return;
	}
	int alg_bits = 0;
	int bits = SSL_CIPHER_get_bits(cipher, &alg_bits);
	tls_format(out, size, "(using %s with cipher %s (%d/%d bits))", SSL_get_version(ssl),
		   SSL_CIPHER_get_name(cipher), bits, alg_bits);
}
