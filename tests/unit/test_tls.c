/*
 * test_tls.c — server contexts, key checks, protocol floor, SNI choice and
 * the log / Received: texts, with real handshakes.
 *
 * The group setup makes a throw-away PKI with the openssl command line in a
 * temp directory (a CA, an intermediate, leaf certificates for exact,
 * wildcard, CN-only and nameless cases, and broken keys). Handshakes run in
 * memory: a client SSL and a server SSL joined by a BIO pair, no sockets.
 * The whole binary is skipped, with a message, when the openssl binary is
 * missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

static char dir[64];

/* DIR/name in one of a few rotating buffers (tests use several at once). */
static const char *path(const char *name)
{
	static char paths[32][256];
	static unsigned next;
	char *p = paths[next++ % 32];
	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

static const char fixture_script[] =
	"set -e\n"
	"cat > req.cnf <<'EOF'\n"
	"[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
	"EOF\n"
	"R='openssl req -config req.cnf -x509 -nodes -days 3'\n"
	"EC='-newkey ec -pkeyopt ec_paramgen_curve:P-256'\n"
	"CAEXT='-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign'\n"
	"$R $EC -keyout ca.key -out ca.pem -subj '/CN=vsmtpd test CA' $CAEXT\n"
	"$R $EC -keyout inter.key -out inter.pem -subj '/CN=vsmtpd test intermediate' $CAEXT"
	" -CA ca.pem -CAkey ca.key\n"
	"leaf() { name=$1; key=$2; subj=$3; san=$4; ca=${5:-ca}\n"
	"  if [ -n \"$san\" ]; then ext=\"-addext subjectAltName=$san\"; else ext=; fi\n"
	"  $R -newkey $key -keyout $name.key -out $name.pem -subj \"$subj\" $ext"
	" -CA $ca.pem -CAkey $ca.key; }\n"
	"leaf mx rsa:2048 /CN=mx.example.test DNS:mx.example.test\n"
	"leaf other 'ec -pkeyopt ec_paramgen_curve:P-256' /CN=other.example.test DNS:other.example.test\n"
	"leaf wild 'ec -pkeyopt ec_paramgen_curve:P-256' '/CN=*.wild.example.test' 'DNS:*.wild.example.test'\n"
	"leaf star 'ec -pkeyopt ec_paramgen_curve:P-256' '/CN=*.example.test' 'DNS:*.example.test'\n"
	"leaf cnonly 'ec -pkeyopt ec_paramgen_curve:P-256' /CN=cn.example.test ''\n"
	"leaf sancn 'ec -pkeyopt ec_paramgen_curve:P-256' /CN=cnignored.example.test DNS:san.example.test\n"
	"leaf noname 'ec -pkeyopt ec_paramgen_curve:P-256' '/O=vsmtpd test' ''\n"
	"leaf chainleaf 'ec -pkeyopt ec_paramgen_curve:P-256' /CN=chain.example.test"
	" DNS:chain.example.test inter\n"
	"cat chainleaf.pem inter.pem > chain.pem\n"
	"cat mx.pem mx.key > combined.pem\n"
	"openssl pkey -in other.key -aes256 -passout pass:secret -out enc.key\n"
	"printf 'not a key\\n' > garbage.key\n"
	"cp mx.key mx644.key\n"
	"cp mx.key mx640.key\n"
	"cp mx.key mx620.key\n"
	"chmod 644 *.pem\n"
	"chmod 600 *.key combined.pem\n"
	"chmod 644 mx644.key\n"
	"chmod 640 mx640.key\n"
	"chmod 620 mx620.key\n";

static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-tls-XXXXXX");
	assert_non_null(mkdtemp(dir));
	FILE *f = fopen(path("fixture.sh"), "w");
	assert_non_null(f);
	fputs(fixture_script, f);
	fclose(f);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cd %s && sh fixture.sh >fixture.log 2>&1 </dev/null", dir);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/fixture.log >&2", dir);
		(void)system(cmd);
		fail_msg("making the test certificates failed");
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int test_setup(void **state)
{
	ERR_clear_error();
	return 0;
}

/* The default configuration: mx.example.test, no SNI certificates. */
static struct tls_server_conf conf_mx(void)
{
	struct tls_server_conf c;
	memset(&c, 0, sizeof(c));
	c.cert_file = path("mx.pem");
	c.key_file = path("mx.key");
	return c;
}

/* Builds a context that must load; fails the test with the errors if not. */
static SSL_CTX *ctx_ok(const struct tls_server_conf *c)
{
	struct buf err = BUF_INIT;
	SSL_CTX *ctx = tls_server_ctx_new(c, &err);
	if (ctx == NULL)
		fail_msg("tls_server_ctx_new: %s", buf_str(&err));
	assert_int_equal(err.len, 0);
	assert_int_equal(ERR_peek_error(), 0);
	buf_free(&err);
	return ctx;
}

/* Builds a context that must be refused; returns the error text (caller frees). */
static char *ctx_refused(const struct tls_server_conf *c)
{
	struct buf err = BUF_INIT;
	SSL_CTX *ctx = tls_server_ctx_new(c, &err);
	assert_null(ctx);
	assert_true(err.len > 0);
	assert_int_equal(err.data[err.len - 1], '\n');
	assert_int_equal(ERR_peek_error(), 0);
	char *text = strdup(buf_str(&err));
	buf_free(&err);
	return text;
}

/* A client context trusting the test CA, limited as asked (0: no limit / default). */
static SSL_CTX *client_ctx(int min_version, int max_version, const char *ciphers,
			   const char *suites)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	assert_non_null(c);
	assert_int_equal(SSL_CTX_load_verify_locations(c, path("ca.pem"), NULL), 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	if (min_version != 0)
		assert_int_equal(SSL_CTX_set_min_proto_version(c, min_version), 1);
	if (max_version != 0)
		assert_int_equal(SSL_CTX_set_max_proto_version(c, max_version), 1);
	if (ciphers != NULL)
		assert_int_equal(SSL_CTX_set_cipher_list(c, ciphers), 1);
	if (suites != NULL)
		assert_int_equal(SSL_CTX_set_ciphersuites(c, suites), 1);
	return c;
}

struct conn {
	SSL *client;
	SSL *server;
};

static void conn_free(struct conn *c)
{
	/* Without close_notify OpenSSL marks the session not resumable. */
	if (SSL_is_init_finished(c->client) && SSL_is_init_finished(c->server)) {
		SSL_shutdown(c->client);
		SSL_shutdown(c->server);
		ERR_clear_error();
	}
	SSL_free(c->client);
	SSL_free(c->server);
	c->client = c->server = NULL;
}

static bool want_io(SSL *ssl, int rc)
{
	int e = SSL_get_error(ssl, rc);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* Drives both ends until both finish (0) or one fails (-1). */
static int pump_handshake(struct conn *c)
{
	for (int i = 0; i < 64; i++) {
		int rc_c = SSL_do_handshake(c->client);
		if (rc_c <= 0 && !want_io(c->client, rc_c))
			return -1;
		int rc_s = SSL_do_handshake(c->server);
		if (rc_s <= 0 && !want_io(c->server, rc_s))
			return -1;
		if (rc_c == 1 && rc_s == 1)
			return 0;
	}
	return -1;
}

/*
 * Sets up client and server over a BIO pair, with sni (may be NULL) and an
 * optional session to resume, and runs the handshake: 0 or -1.
 */
static int handshake(SSL_CTX *server_ctx, SSL_CTX *cctx, const char *sni, SSL_SESSION *resume,
		     struct conn *c)
{
	c->client = SSL_new(cctx);
	c->server = SSL_new(server_ctx);
	assert_non_null(c->client);
	assert_non_null(c->server);
	BIO *bc, *bs;
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c->client, bc, bc);
	SSL_set_bio(c->server, bs, bs);
	SSL_set_connect_state(c->client);
	SSL_set_accept_state(c->server);
	if (sni != NULL) {
		assert_int_equal(SSL_set_tlsext_host_name(c->client, sni), 1);
		assert_int_equal(SSL_set1_host(c->client, sni), 1);
	}
	if (resume != NULL)
		assert_int_equal(SSL_set_session(c->client, resume), 1);
	return pump_handshake(c);
}

/* The CN of a certificate, "" when it has none. */
static const char *cn_of(X509 *cert)
{
	static char cn[256];
	cn[0] = '\0';
	if (cert != NULL &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) < 0)
		cn[0] = '\0';
	return cn;
}

static const char *peer_cn(SSL *client)
{
	X509 *peer = SSL_get1_peer_certificate(client);
	assert_non_null(peer);
	const char *cn = cn_of(peer);
	X509_free(peer);
	return cn;
}

/* ---- loading ---------------------------------------------------------- */

static void test_tls_ctx_loads_with_safe_defaults(void **state)
{
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	assert_string_equal(cn_of(SSL_CTX_get0_certificate(ctx)), "mx.example.test");
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	uint64_t opts = SSL_CTX_get_options(ctx);
	assert_true(opts & SSL_OP_NO_COMPRESSION);
	assert_true(opts & SSL_OP_NO_RENEGOTIATION);
	assert_true(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
	assert_false(opts & SSL_OP_NO_TICKET);
	SSL_CTX_free(ctx);
}

static void test_tls_default_ciphers_are_modern(void **state)
{
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	STACK_OF(SSL_CIPHER) *list = SSL_CTX_get_ciphers(ctx);
	assert_non_null(list);
	int tls12 = 0;
	const char *first12 = NULL;
	for (int i = 0; i < sk_SSL_CIPHER_num(list); i++) {
		const SSL_CIPHER *ci = sk_SSL_CIPHER_value(list, i);
		const char *name = SSL_CIPHER_get_name(ci);
		const char *bad[] = { "RC4", "DES", "NULL", "EXP", "MD5", "ADH", "AECDH", "PSK",
				      "SRP", "CCM8", "CAMELLIA" };
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
			if (strstr(name, bad[b]) != NULL)
				fail_msg("weak cipher %s offered", name);
		assert_int_not_equal(SSL_CIPHER_get_cipher_nid(ci), NID_undef);
		assert_int_not_equal(SSL_CIPHER_get_auth_nid(ci), NID_auth_null);
		assert_true(SSL_CIPHER_get_bits(ci, NULL) >= 128);
		if (SSL_CIPHER_get_kx_nid(ci) != NID_kx_any) {
			/* TLS 1.2: forward secrecy only. */
			int kx = SSL_CIPHER_get_kx_nid(ci);
			assert_true(kx == NID_kx_ecdhe || kx == NID_kx_dhe);
			if (tls12++ == 0)
				first12 = name;
		}
	}
	assert_true(tls12 >= 8);
	/* Server preference order starts with forward-secret AEAD. */
	assert_non_null(first12);
	assert_true(strstr(first12, "GCM") != NULL || strstr(first12, "CHACHA20") != NULL);
	SSL_CTX_free(ctx);
}

static void test_tls_missing_files_named(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.cert_file = path("absent.pem");
	char *e = ctx_refused(&c);
	char want[512];
	snprintf(want, sizeof(want), "cannot load a PEM certificate chain from %s: ", path("absent.pem"));
	assert_memory_equal(e, want, strlen(want));
	assert_non_null(strstr(e, "No such file or directory"));
	free(e);

	c = conf_mx();
	c.key_file = path("absent.key");
	e = ctx_refused(&c);
	snprintf(want, sizeof(want), "cannot open key file %s: No such file or directory\n",
		 path("absent.key"));
	assert_string_equal(e, want);
	free(e);

	c = conf_mx();
	c.cert_file = NULL;
	e = ctx_refused(&c);
	assert_string_equal(e, "no certificate file given\n");
	free(e);
}

static void test_tls_mismatched_key_refused(void **state)
{
	/* Same key type (EC) and another type (EC key for an RSA certificate). */
	const char *pairs[][2] = { { "star.pem", "other.key" }, { "mx.pem", "other.key" } };
	for (size_t i = 0; i < 2; i++) {
		struct tls_server_conf c = conf_mx();
		c.cert_file = path(pairs[i][0]);
		c.key_file = path(pairs[i][1]);
		char *e = ctx_refused(&c);
		char want[512];
		snprintf(want, sizeof(want), "key file %s does not match certificate %s",
			 path(pairs[i][1]), path(pairs[i][0]));
		assert_memory_equal(e, want, strlen(want));
		assert_ptr_equal(strchr(e, '\n'), e + strlen(e) - 1);	/* one line */
		free(e);
	}
}

static void test_tls_world_readable_key_refused(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.key_file = path("mx644.key");
	char *e = ctx_refused(&c);
	char want[512];
	snprintf(want, sizeof(want), "key file %s is readable by others (mode 0644); chmod 600\n",
		 path("mx644.key"));
	assert_string_equal(e, want);
	free(e);
}

static void test_tls_group_readable_or_writable_key_refused(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.key_file = path("mx640.key");
	char *e = ctx_refused(&c);
	char want[512];
	snprintf(want, sizeof(want), "key file %s is readable by others (mode 0640); chmod 600\n",
		 path("mx640.key"));
	assert_string_equal(e, want);
	free(e);

	c.key_file = path("mx620.key");
	e = ctx_refused(&c);
	snprintf(want, sizeof(want), "key file %s is writable by others (mode 0620); chmod 600\n",
		 path("mx620.key"));
	assert_string_equal(e, want);
	free(e);
}

static void test_tls_key_not_regular_file_refused(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.key_file = dir;
	char *e = ctx_refused(&c);
	char want[512];
	snprintf(want, sizeof(want), "key file %s is not a regular file\n", dir);
	assert_string_equal(e, want);
	free(e);

	/* A FIFO must not block start-up. */
	const char *fifo = path("key.fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	c.key_file = fifo;
	e = ctx_refused(&c);
	snprintf(want, sizeof(want), "key file %s is not a regular file\n", fifo);
	assert_string_equal(e, want);
	free(e);
	unlink(fifo);
}

static void test_tls_encrypted_key_refused_without_prompt(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.cert_file = path("other.pem");
	c.key_file = path("enc.key");
	char *e = ctx_refused(&c);
	char want[512];
	snprintf(want, sizeof(want), "key file %s is encrypted: vsmtpd cannot ask for a "
		 "pass-phrase; store it decrypted with mode 600\n", path("enc.key"));
	assert_string_equal(e, want);
	free(e);
}

static void test_tls_garbage_key_refused(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.key_file = path("garbage.key");
	char *e = ctx_refused(&c);
	char want[512];
	snprintf(want, sizeof(want), "no PEM private key in %s", path("garbage.key"));
	assert_memory_equal(e, want, strlen(want));
	free(e);

	/* A key where the certificate chain should be. */
	c = conf_mx();
	c.cert_file = path("mx.key");
	e = ctx_refused(&c);
	snprintf(want, sizeof(want), "cannot load a PEM certificate chain from %s: ", path("mx.key"));
	assert_memory_equal(e, want, strlen(want));
	free(e);
}

static void test_tls_key_in_cert_file(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.cert_file = path("combined.pem");
	c.key_file = NULL;
	SSL_CTX *ctx = ctx_ok(&c);
	assert_string_equal(cn_of(SSL_CTX_get0_certificate(ctx)), "mx.example.test");
	SSL_CTX_free(ctx);

	/* Without a separate key, the certificate file's mode is what is checked. */
	c.cert_file = path("mx.pem");
	char *e = ctx_refused(&c);
	assert_non_null(strstr(e, "is readable by others"));
	free(e);
}

static void test_tls_bad_settings_refused(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.min_protocol = "TLSv1";
	char *e = ctx_refused(&c);
	assert_string_equal(e, "min_protocol \"TLSv1\" is not supported (use TLSv1.2 or TLSv1.3)\n");
	free(e);

	c = conf_mx();
	c.min_protocol = "SSLv3";
	e = ctx_refused(&c);
	assert_string_equal(e, "min_protocol \"SSLv3\" is not supported (use TLSv1.2 or TLSv1.3)\n");
	free(e);

	c = conf_mx();
	c.ciphers = "NOPE";
	e = ctx_refused(&c);
	const char *want = "ciphers \"NOPE\" selects no usable TLS 1.2 cipher: no cipher match\n";
	assert_string_equal(e, want);
	free(e);

	c = conf_mx();
	c.ciphersuites = "TLS_NOPE";
	e = ctx_refused(&c);
	want = "ciphersuites \"TLS_NOPE\" is not a valid TLS 1.3 suite list";
	assert_memory_equal(e, want, strlen(want));
	free(e);

	c = conf_mx();
	c.ciphersuites = "";
	c.min_protocol = "TLSv1.3";
	e = ctx_refused(&c);
	assert_string_equal(e, "ciphersuites is empty but min_protocol is TLSv1.3: "
			       "no handshake could succeed\n");
	free(e);
}

static void test_tls_every_problem_reported(void **state)
{
	struct tls_cert_pair extra[] = {
		{ path("other.pem"), path("mx.key") },
		{ path("noname.pem"), path("noname.key") },
		{ path("wild.pem"), path("wild.key") },
		{ NULL, NULL },
	};
	struct tls_server_conf c = conf_mx();
	c.key_file = path("mx644.key");
	c.sni_certs = extra;
	c.sni_count = 4;
	char *e = ctx_refused(&c);
	char want[2048];
	snprintf(want, sizeof(want),
		 "key file %s is readable by others (mode 0644); chmod 600\n"
		 "key file %s does not match certificate %s: ",
		 path("mx644.key"), path("mx.key"), path("other.pem"));
	assert_memory_equal(e, want, strlen(want));
	snprintf(want, sizeof(want), "certificate %s has no DNS name (subjectAltName or CN) for SNI "
		 "to match\n", path("noname.pem"));
	assert_non_null(strstr(e, want));
	assert_non_null(strstr(e, "\nSNI certificate 4 has no certificate file\n"));
	/* Four lines: one per bad pair, none for the good one. */
	int lines = 0;
	for (const char *p = e; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 4);
	free(e);
}

/* ---- handshakes ------------------------------------------------------- */

static void test_tls_handshake_tls13_describe(void **state)
{
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	SSL_CTX *cctx = client_ctx(0, 0, NULL, "TLS_AES_256_GCM_SHA384");
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, "mx.example.test", NULL, &cn), 0);
	assert_string_equal(peer_cn(cn.client), "mx.example.test");
	assert_int_equal(SSL_get_verify_result(cn.client), X509_V_OK);
	char out[TLS_DESCRIBE_MAX];
	tls_describe(cn.server, out, sizeof(out));
	assert_string_equal(out, "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256");
	tls_received_clause(cn.server, out, sizeof(out));
	assert_string_equal(out, "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))");
	assert_null(SSL_get_current_compression(cn.server));
	conn_free(&cn);

	SSL_CTX_free(cctx);
	cctx = client_ctx(0, 0, NULL, "TLS_AES_128_GCM_SHA256");
	assert_int_equal(handshake(ctx, cctx, NULL, NULL, &cn), 0);
	tls_received_clause(cn.server, out, sizeof(out));
	assert_string_equal(out, "(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits))");
	conn_free(&cn);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_handshake_tls12_received_clause(void **state)
{
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	SSL_CTX *cctx = client_ctx(0, TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", NULL);
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, NULL, NULL, &cn), 0);
	char out[TLS_DESCRIBE_MAX];
	tls_describe(cn.server, out, sizeof(out));
	assert_string_equal(out, "version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256");
	tls_received_clause(cn.server, out, sizeof(out));
	assert_string_equal(out,
			    "(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))");
	conn_free(&cn);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_server_cipher_preference(void **state)
{
	/* The client lists CBC first; the server's AEAD preference wins. */
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	SSL_CTX *cctx = client_ctx(0, TLS1_2_VERSION,
				   "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384", NULL);
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, NULL, NULL, &cn), 0);
	assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(cn.server)),
			    "ECDHE-RSA-AES256-GCM-SHA384");
	conn_free(&cn);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_min_tls13_refuses_tls12_client(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.min_protocol = "TLSv1.3";
	SSL_CTX *ctx = ctx_ok(&c);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	SSL_CTX *cctx = client_ctx(0, TLS1_2_VERSION, NULL, NULL);
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, NULL, NULL, &cn), -1);
	assert_false(SSL_is_init_finished(cn.server));
	unsigned long e = ERR_peek_error();
	assert_int_equal(ERR_GET_REASON(e), SSL_R_UNSUPPORTED_PROTOCOL);
	ERR_clear_error();
	char out[TLS_DESCRIBE_MAX];
	tls_describe(cn.server, out, sizeof(out));
	assert_string_equal(out, "version=none cipher=none bits=0");
	tls_received_clause(cn.server, out, sizeof(out));
	assert_string_equal(out, "");
	conn_free(&cn);

	/* The same client is fine with the default floor... */
	c = conf_mx();
	SSL_CTX *def = ctx_ok(&c);
	assert_int_equal(handshake(def, cctx, NULL, NULL, &cn), 0);
	assert_string_equal(SSL_get_version(cn.server), "TLSv1.2");
	conn_free(&cn);
	/* ...and a TLS 1.3 client with the TLS 1.3 floor. */
	SSL_CTX *c13 = client_ctx(0, 0, NULL, NULL);
	assert_int_equal(handshake(ctx, c13, NULL, NULL, &cn), 0);
	assert_string_equal(SSL_get_version(cn.server), "TLSv1.3");
	conn_free(&cn);
	SSL_CTX_free(c13);
	SSL_CTX_free(def);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_tls11_client_refused(void **state)
{
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	SSL_CTX *cctx = client_ctx(TLS1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0", NULL);
	SSL_CTX_set_security_level(cctx, 0);
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, NULL, NULL, &cn), -1);
	assert_false(SSL_is_init_finished(cn.server));
	ERR_clear_error();
	conn_free(&cn);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_renegotiation_refused(void **state)
{
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	SSL_CTX *cctx = client_ctx(0, TLS1_2_VERSION, NULL, NULL);
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, NULL, NULL, &cn), 0);
	assert_int_equal(SSL_renegotiate(cn.client), 1);
	char byte;
	int client_failed = 0;
	for (int i = 0; i < 16 && !client_failed; i++) {
		int rc = SSL_do_handshake(cn.client);
		if (rc <= 0 && !want_io(cn.client, rc)) {
			client_failed = 1;
			break;
		}
		rc = SSL_read(cn.server, &byte, 1);
		assert_true(rc <= 0);
		assert_true(want_io(cn.server, rc));	/* the server just says no */
	}
	assert_true(client_failed);
	assert_int_equal(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION);
	ERR_clear_error();
	conn_free(&cn);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_session_resumption(void **state)
{
	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	for (int v = 0; v < 2; v++) {
		SSL_CTX *cctx = client_ctx(0, v == 0 ? TLS1_2_VERSION : 0, NULL, NULL);
		struct conn cn;
		assert_int_equal(handshake(ctx, cctx, "mx.example.test", NULL, &cn), 0);
		char byte;
		/* TLS 1.3 tickets come after the handshake: let the client read them. */
		int rc = SSL_read(cn.client, &byte, 1);
		assert_true(rc <= 0 && want_io(cn.client, rc));
		SSL_SESSION *sess = SSL_get1_session(cn.client);
		assert_non_null(sess);
		assert_true(SSL_SESSION_is_resumable(sess));
		conn_free(&cn);
		assert_int_equal(handshake(ctx, cctx, "mx.example.test", sess, &cn), 0);
		assert_int_equal(SSL_session_reused(cn.server), 1);
		conn_free(&cn);
		SSL_SESSION_free(sess);
		SSL_CTX_free(cctx);
	}
	SSL_CTX_free(ctx);
}

static void test_tls_chain_sent(void **state)
{
	struct tls_server_conf c = conf_mx();
	c.cert_file = path("chain.pem");
	c.key_file = path("chainleaf.key");
	SSL_CTX *ctx = ctx_ok(&c);
	SSL_CTX *cctx = client_ctx(0, 0, NULL, NULL);
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, "chain.example.test", NULL, &cn), 0);
	/* The client trusts only the root: verification needs the intermediate. */
	assert_int_equal(SSL_get_verify_result(cn.client), X509_V_OK);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(cn.client);
	assert_int_equal(sk_X509_num(chain), 2);
	assert_string_equal(cn_of(sk_X509_value(chain, 1)), "vsmtpd test intermediate");
	conn_free(&cn);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

/* ---- SNI -------------------------------------------------------------- */

/* mx by default; star (*.example.test) listed before the exact ones. */
static SSL_CTX *sni_ctx(void)
{
	static struct tls_cert_pair extra[5];
	const char *names[] = { "star", "other", "wild", "cnonly", "sancn" };
	char file[64];
	for (size_t i = 0; i < 5; i++) {
		snprintf(file, sizeof(file), "%s.pem", names[i]);
		extra[i].cert_file = strdup(path(file));
		snprintf(file, sizeof(file), "%s.key", names[i]);
		extra[i].key_file = strdup(path(file));
	}
	struct tls_server_conf c = conf_mx();
	c.sni_certs = extra;
	c.sni_count = 5;
	SSL_CTX *ctx = ctx_ok(&c);
	for (size_t i = 0; i < 5; i++) {
		free((char *)extra[i].cert_file);
		free((char *)extra[i].key_file);
	}
	return ctx;
}

static const char *selected(SSL_CTX *ctx, const char *name)
{
	return cn_of(SSL_CTX_get0_certificate(tls_server_ctx_select(ctx, name)));
}

static void test_tls_sni_select_rules(void **state)
{
	SSL_CTX *ctx = sni_ctx();
	assert_string_equal(selected(ctx, NULL), "mx.example.test");
	assert_string_equal(selected(ctx, ""), "mx.example.test");
	/* The default's exact name beats the wildcard listed first. */
	assert_string_equal(selected(ctx, "mx.example.test"), "mx.example.test");
	/* An exact SNI name beats a wildcard listed before it. */
	assert_string_equal(selected(ctx, "other.example.test"), "other.example.test");
	assert_string_equal(selected(ctx, "OTHER.Example.TEST"), "other.example.test");
	assert_string_equal(selected(ctx, "other.example.test."), "other.example.test");
	/* The wildcard is one whole left-most label. */
	assert_string_equal(selected(ctx, "a.wild.example.test"), "*.wild.example.test");
	assert_string_equal(selected(ctx, "a.b.wild.example.test"), "mx.example.test");
	assert_string_equal(selected(ctx, "wild.example.test"), "*.example.test");
	assert_string_equal(selected(ctx, "anything.example.test"), "*.example.test");
	assert_string_equal(selected(ctx, "example.test"), "mx.example.test");
	/* CN counts only without DNS SANs (RFC 6125 6.4.4). */
	assert_string_equal(selected(ctx, "cn.example.test"), "cn.example.test");
	assert_string_equal(selected(ctx, "san.example.test"), "cnignored.example.test");
	assert_string_equal(selected(ctx, "cnignored.example.test"), "*.example.test");
	/* Unknown and hostile names fall back to the default. */
	assert_string_equal(selected(ctx, "nope.test"), "mx.example.test");
	assert_string_equal(selected(ctx, "192.0.2.1"), "mx.example.test");
	assert_string_equal(selected(ctx, "a.b.c.nope"), "mx.example.test");
	assert_string_equal(selected(ctx, "other.example.test\r\nX"), "mx.example.test");
	assert_string_equal(selected(ctx, ".example.test"), "mx.example.test");
	char big[400];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + sizeof(big) - 1 - strlen(".example.test"), ".example.test", strlen(".example.test"));
	assert_string_equal(selected(ctx, big), "mx.example.test");
	SSL_CTX_free(ctx);

	/* Without the *.example.test certificate the CN of sancn is still ignored. */
	struct tls_cert_pair extra[] = { { path("sancn.pem"), path("sancn.key") },
					 { path("wild.pem"), path("wild.key") } };
	struct tls_server_conf c = conf_mx();
	c.sni_certs = extra;
	c.sni_count = 2;
	ctx = ctx_ok(&c);
	assert_string_equal(selected(ctx, "cnignored.example.test"), "mx.example.test");
	assert_string_equal(selected(ctx, "wild.example.test"), "mx.example.test");
	assert_string_equal(selected(ctx, "x.wild.example.test"), "*.wild.example.test");
	SSL_CTX_free(ctx);
}

static void test_tls_sni_handshake_picks_certificate(void **state)
{
	SSL_CTX *ctx = sni_ctx();
	SSL_CTX *cctx = client_ctx(0, 0, NULL, NULL);
	const char *cases[][2] = {
		{ "other.example.test", "other.example.test" },
		{ "Other.Example.Test", "other.example.test" },
		{ "x.wild.example.test", "*.wild.example.test" },
		{ "cn.example.test", "cn.example.test" },
		{ "mx.example.test", "mx.example.test" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn cn;
		assert_int_equal(handshake(ctx, cctx, cases[i][0], NULL, &cn), 0);
		assert_string_equal(peer_cn(cn.client), cases[i][1]);
		/* The client's own RFC 6125 check agrees with the choice. */
		assert_int_equal(SSL_get_verify_result(cn.client), X509_V_OK);
		conn_free(&cn);
	}
	/* TLS 1.2 takes the same path. */
	SSL_CTX *c12 = client_ctx(0, TLS1_2_VERSION, NULL, NULL);
	struct conn cn;
	assert_int_equal(handshake(ctx, c12, "other.example.test", NULL, &cn), 0);
	assert_string_equal(peer_cn(cn.client), "other.example.test");
	conn_free(&cn);
	SSL_CTX_free(c12);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_sni_unknown_or_absent_gets_default(void **state)
{
	SSL_CTX *ctx = sni_ctx();
	SSL_CTX *cctx = client_ctx(0, 0, NULL, NULL);
	const char *names[] = { "nope.test", "a.b.wild.example.test", NULL };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct conn cn;
		assert_int_equal(handshake(ctx, cctx, names[i], NULL, &cn), 0);
		assert_string_equal(peer_cn(cn.client), "mx.example.test");
		conn_free(&cn);
	}
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

static void test_tls_sni_context_outlives_default(void **state)
{
	/* A session switched to an SNI certificate keeps working after the
	 * server's context is dropped (as on a config reload). */
	SSL_CTX *ctx = sni_ctx();
	SSL_CTX *cctx = client_ctx(0, 0, NULL, NULL);
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, "other.example.test", NULL, &cn), 0);
	SSL_CTX_free(ctx);
	const char msg[] = "250 ok\r\n";
	assert_int_equal(SSL_write(cn.server, msg, sizeof(msg) - 1), sizeof(msg) - 1);
	char got[16];
	assert_int_equal(SSL_read(cn.client, got, sizeof(got)), sizeof(msg) - 1);
	assert_memory_equal(got, msg, sizeof(msg) - 1);
	conn_free(&cn);
	SSL_CTX_free(cctx);
}

/* ---- texts ------------------------------------------------------------ */

static void test_tls_texts_without_tls_or_room(void **state)
{
	char out[TLS_DESCRIBE_MAX];
	memset(out, 'x', sizeof(out));
	tls_describe(NULL, out, sizeof(out));
	assert_string_equal(out, "version=none cipher=none bits=0");
	memset(out, 'x', sizeof(out));
	tls_received_clause(NULL, out, sizeof(out));
	assert_string_equal(out, "");

	struct tls_server_conf c = conf_mx();
	SSL_CTX *ctx = ctx_ok(&c);
	SSL_CTX *cctx = client_ctx(0, 0, NULL, "TLS_AES_256_GCM_SHA384");
	struct conn cn;
	assert_int_equal(handshake(ctx, cctx, NULL, NULL, &cn), 0);
	/* Too small: nothing rather than half a clause. */
	char small[20];
	memset(small, 'x', sizeof(small));
	tls_received_clause(cn.server, small, sizeof(small));
	assert_string_equal(small, "");
	memset(small, 'x', sizeof(small));
	tls_describe(cn.server, small, sizeof(small));
	assert_string_equal(small, "");
	const char *want = "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))";
	size_t n = strlen(want);
	char exact[80];
	tls_received_clause(cn.server, exact, n);	/* one byte short for the NUL */
	assert_string_equal(exact, "");
	tls_received_clause(cn.server, exact, n + 1);
	assert_string_equal(exact, want);
	tls_received_clause(cn.server, exact, 0);	/* writes nothing at all */
	assert_string_equal(exact, want);
	/* The client end describes the same connection. */
	tls_describe(cn.client, out, sizeof(out));
	assert_string_equal(out, "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256");
	conn_free(&cn);
	SSL_CTX_free(cctx);
	SSL_CTX_free(ctx);
}

int main(void)
{
	if (system("openssl version >/dev/null 2>&1") != 0) {
		printf("[  SKIPPED ] test_tls: no openssl binary in PATH to make test certificates\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, test_setup)
		T(test_tls_ctx_loads_with_safe_defaults),
		T(test_tls_default_ciphers_are_modern),
		T(test_tls_missing_files_named),
		T(test_tls_mismatched_key_refused),
		T(test_tls_world_readable_key_refused),
		T(test_tls_group_readable_or_writable_key_refused),
		T(test_tls_key_not_regular_file_refused),
		T(test_tls_encrypted_key_refused_without_prompt),
		T(test_tls_garbage_key_refused),
		T(test_tls_key_in_cert_file),
		T(test_tls_bad_settings_refused),
		T(test_tls_every_problem_reported),
		T(test_tls_handshake_tls13_describe),
		T(test_tls_handshake_tls12_received_clause),
		T(test_tls_server_cipher_preference),
		T(test_tls_min_tls13_refuses_tls12_client),
		T(test_tls_tls11_client_refused),
		T(test_tls_renegotiation_refused),
		T(test_tls_session_resumption),
		T(test_tls_chain_sent),
		T(test_tls_sni_select_rules),
		T(test_tls_sni_handshake_picks_certificate),
		T(test_tls_sni_unknown_or_absent_gets_default),
		T(test_tls_sni_context_outlives_default),
		T(test_tls_texts_without_tls_or_room),
#undef T
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
