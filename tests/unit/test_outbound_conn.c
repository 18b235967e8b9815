/*
 * test_outbound_conn.c — outbound sessions against a scripted SMTP peer on
 * 127.0.0.1 (an ephemeral port): greeting codes, EHLO caps, the HELO
 * fallback, LHLO, STARTTLS under each policy (certificates made at test
 * time with the openssl command line), AUTH PLAIN and LOGIN byte for byte,
 * timeouts, pipelined replies, refused connections, and the pool.
 *
 * The peer runs a script per connection on its own thread: "S<text>"
 * sends text, "R" reads one line, "E" reads until the client closes (both
 * record what they read, so tests compare the client's bytes exactly),
 * "T" runs the server side of a TLS handshake, "W<ms>" waits. Set-up
 * cases are rows (struct oconn_case: scripts, parameters, the expected
 * status, reason, client bytes and log lines) run by run_case(), which
 * also checks that no credential ever reaches the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "outbound_conn.h"
#include "outbound_conn_int.h"
#include "tls.h"

#define PEER_CONNS_MAX 8
#define PEER_IO_SECONDS 5	/* the peer gives up on a silent client after this */

static char dir[64];
static SSL_CTX *server_ctx;	/* mx.example.test, signed by ca.pem */
static SSL_CTX *client_ctx;	/* trusts ca.pem */
static SSL_CTX *stranger_ctx;	/* trusts only other-ca.pem */

/* ---- the scripted peer ------------------------------------------------------ */

struct peer;

struct peer_conn {
	struct peer *peer;
	size_t idx;
	int fd;
	SSL *ssl;
	pthread_t thread;
	size_t inlen;
	char in[4096];
};

struct peer {
	int lfd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *const *scripts[PEER_CONNS_MAX];	/* per connection; the last one repeats */
	size_t nscripts;
	atomic_bool stop;
	pthread_t acceptor;
	size_t nconns;
	struct peer_conn conns[PEER_CONNS_MAX];
	struct buf got[PEER_CONNS_MAX];	/* what each connection's client sent */
};

static ssize_t pc_read(struct peer_conn *pc, char *p, size_t n)
{
	if (pc->ssl != NULL)
		return SSL_read(pc->ssl, p, (int)n);
	return recv(pc->fd, p, n, 0);
}

static bool pc_send(struct peer_conn *pc, const char *s)
{
	size_t n = strlen(s);
	if (pc->ssl != NULL)
		return SSL_write(pc->ssl, s, (int)n) == (int)n;
	return send(pc->fd, s, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* Reads one line (through LF) into got; false at EOF or error. */
static bool pc_line(struct peer_conn *pc, struct buf *got)
{
	for (;;) {
		char *lf = memchr(pc->in, '\n', pc->inlen);
		if (lf != NULL) {
			size_t n = (size_t)(lf - pc->in) + 1;
			buf_append(got, pc->in, n);
			memmove(pc->in, pc->in + n, pc->inlen - n);
			pc->inlen -= n;
			return true;
		}
		if (pc->inlen == sizeof(pc->in))
			return false;
		ssize_t r = pc_read(pc, pc->in + pc->inlen, sizeof(pc->in) - pc->inlen);
		if (r <= 0)
			return false;
		pc->inlen += (size_t)r;
	}
}

static bool pc_step(struct peer_conn *pc, const char *step, struct buf *got)
{
	switch (step[0]) {
	case 'S':
		return pc_send(pc, step + 1);
	case 'R':
		return pc_line(pc, got);
	case 'E': {
		buf_append(got, pc->in, pc->inlen);
		pc->inlen = 0;
		ssize_t r;
		while ((r = pc_read(pc, pc->in, sizeof(pc->in))) > 0)
			buf_append(got, pc->in, (size_t)r);
		return false;
	}
	case 'T':
		pc->ssl = SSL_new(server_ctx);
		SSL_set_fd(pc->ssl, pc->fd);
		return SSL_accept(pc->ssl) == 1;
	case 'W':
		usleep((useconds_t)atoi(step + 1) * 1000);
		return true;
	}
	return false;
}

static void *pc_run(void *arg)
{
	struct peer_conn *pc = arg;
	struct peer *pe = pc->peer;
	size_t s = pc->idx < pe->nscripts ? pc->idx : pe->nscripts - 1;
	for (const char *const *step = pe->scripts[s]; *step != NULL; step++)
		if (!pc_step(pc, *step, &pe->got[pc->idx]))
			break;
	SSL_free(pc->ssl);
	ERR_clear_error();
	close(pc->fd);
	return NULL;
}

static void *peer_accept(void *arg)
{
	struct peer *pe = arg;
	while (!atomic_load(&pe->stop) && pe->nconns < PEER_CONNS_MAX) {
		struct pollfd pfd = { .fd = pe->lfd, .events = POLLIN };
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		int fd = accept4(pe->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = PEER_IO_SECONDS };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		struct peer_conn *pc = &pe->conns[pe->nconns];
		pc->peer = pe;
		pc->idx = pe->nconns;
		pc->fd = fd;
		pthread_create(&pc->thread, NULL, pc_run, pc);
		pe->nconns++;
	}
	return NULL;
}

/* A listening socket on 127.0.0.1:ephemeral; nothing accepts yet. */
static int listen_loopback(struct sockaddr_in *addr, int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
	socklen_t len = sizeof(*addr);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	if (backlog >= 0)
		assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* A listening unix socket at dir/name. */
static int listen_unix(const char *name, struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	snprintf(addr->sun_path, sizeof(addr->sun_path), "%s/%s", dir, name);
	unlink(addr->sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

/*
 * A peer on 127.0.0.1 (or a unix socket) that runs scripts[i] on
 * connection i (the last one for the rest).
 */
static struct peer *peer_start(bool unix_socket, const char *const *const *scripts, size_t n)
{
	struct peer *pe = xcalloc(1, sizeof(*pe));
	if (unix_socket) {
		pe->lfd = listen_unix("lmtp.sock", (struct sockaddr_un *)&pe->addr);
		pe->addrlen = sizeof(struct sockaddr_un);
	} else {
		pe->lfd = listen_loopback((struct sockaddr_in *)&pe->addr, 16);
		pe->addrlen = sizeof(struct sockaddr_in);
	}
	for (size_t i = 0; i < n; i++)
		pe->scripts[i] = scripts[i];
	pe->nscripts = n;
	assert_int_equal(pthread_create(&pe->acceptor, NULL, peer_accept, pe), 0);
	return pe;
}

#define SCRIPTS(...) (const char *const *const[]){ __VA_ARGS__ }, \
		     sizeof((const char *const *const[]){ __VA_ARGS__ }) / sizeof(char **)
#define PEER(...) peer_start(false, SCRIPTS(__VA_ARGS__))
#define PEER_UNIX(...) peer_start(true, SCRIPTS(__VA_ARGS__))
#define SCRIPT(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Stops accepting and waits for every connection's script to end. */
static void peer_stop(struct peer *pe)
{
	atomic_store(&pe->stop, true);
	pthread_join(pe->acceptor, NULL);
	for (size_t i = 0; i < pe->nconns; i++)
		pthread_join(pe->conns[i].thread, NULL);
	close(pe->lfd);
}

static void peer_free(struct peer *pe)
{
	for (size_t i = 0; i < PEER_CONNS_MAX; i++)
		buf_free(&pe->got[i]);
	free(pe);
}

static const char *peer_got(struct peer *pe, size_t i)
{
	return buf_str(&pe->got[i]);
}

/* ---- client helpers ---------------------------------------------------------------- */

static struct oconn_params params(void)
{
	struct oconn_params p;
	memset(&p, 0, sizeof(p));
	p.helo_name = "client.test";
	p.tls = TLS_POLICY_NONE;
	p.tls_ctx = client_ctx;
	p.timeouts = (struct oconn_timeouts){ 5, 5, 5, 5, 5, 5 };
	return p;
}

static enum oconn_status open_to(struct peer *pe, const struct oconn_params *p, struct oconn **c,
				 struct smtp_reply *why)
{
	char peer[OCONN_PEER_MAX];
	return oconn_open((struct sockaddr *)&pe->addr, pe->addrlen, "mx.example.test", p, c, why,
			  peer);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* stderr (the log) goes to a file between capture_start() and capture_end(). */
static int saved_stderr = -1;

static void capture_start(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/stderr.log", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void capture_end(struct buf *out)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	char path[128];
	snprintf(path, sizeof(path), "%s/stderr.log", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char chunk[1024];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(out, chunk, n);
	fclose(f);
}

#define GREET "S220 mx.example.test ESMTP\r\n"
#define BYE "R", "S221 2.0.0 bye\r\n"
#define EHLO_TLS "S250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
#define GO_AHEAD "S220 2.0.0 go ahead\r\n"
/* A peer that does STARTTLS: the failing cases end at its handshake. */
#define STARTTLS_SCRIPT SCRIPT(GREET, "R", EHLO_TLS, "R", GO_AHEAD, "T", "R", \
			       "S250-mx.example.test\r\n250 SIZE 2000\r\n", BYE)
#define AUTH_USER "user"
#define AUTH_PASS "secret"
#define PLAIN_LINE "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n"	/* base64("\0user\0secret") */

/* ---- session set-up: one scripted peer, one oconn_open(), per case --------------------- */

struct oconn_case {
	const char *const *scripts[2];	/* the second one for a second connection */
	bool lmtp, auth, tls_wrapper;
	bool stranger;			/* trust only other-ca.pem */
	enum tls_policy tls;
	const char *tls_name;
	enum oconn_status status;
	const char *why;		/* in why.text, or NULL */
	const char *sent[2];		/* the client's bytes on each connection, exactly */
	const char *log[3];		/* each in the log */
	void (*check)(const struct oconn *c);	/* more about an OCONN_OK session */
};

static void run_case(void **state)
{
	const struct oconn_case *k = *state;
	size_t nconns = k->scripts[1] != NULL ? 2 : 1;
	struct peer *pe = peer_start(false, k->scripts, nconns);
	struct oconn_params p = params();
	p.lmtp = k->lmtp;
	p.tls = k->tls;
	p.tls_wrapper = k->tls_wrapper;
	p.tls_name = k->tls_name;
	if (k->stranger)
		p.tls_ctx = stranger_ctx;
	if (k->auth) {
		p.auth_user = AUTH_USER;
		p.auth_pass = AUTH_PASS;
	}
	struct oconn *c;
	struct smtp_reply why;
	struct buf log = BUF_INIT;
	capture_start();
	enum oconn_status st = open_to(pe, &p, &c, &why);
	capture_end(&log);
	assert_int_equal(st, k->status);
	assert_true((c != NULL) == (st == OCONN_OK));
	if (k->why != NULL)
		assert_contains(why.text, k->why);
	if (c != NULL && k->check != NULL)
		k->check(c);
	oconn_close(c, true);
	peer_stop(pe);
	assert_int_equal(pe->nconns, nconns);
	for (size_t i = 0; i < nconns; i++)
		assert_string_equal(peer_got(pe, i), k->sent[i]);
	for (size_t i = 0; i < 3 && k->log[i] != NULL; i++)
		assert_contains(buf_str(&log), k->log[i]);
	/* Credentials never reach the log. */
	assert_null(strstr(buf_str(&log), AUTH_PASS));
	assert_null(strstr(buf_str(&log), "c2VjcmV0"));
	buf_free(&log);
	peer_free(pe);
}

static void check_full_caps(const struct oconn *c)
{
	const struct smtp_caps *caps = oconn_caps(c);
	assert_true(caps->pipelining);
	assert_true(caps->eightbitmime);
	assert_true(caps->enhancedstatuscodes);
	assert_true(caps->size);
	assert_int_equal(caps->size_max, 1000);
	assert_false(caps->starttls);
	assert_string_equal(oconn_tls(c), "");
	assert_int_equal(oconn_messages(c), 0);
}

static void check_no_caps(const struct oconn *c)
{
	struct smtp_caps none;
	memset(&none, 0, sizeof(none));
	assert_memory_equal(oconn_caps(c), &none, sizeof(none));
}

static void check_pipelining(const struct oconn *c)
{
	assert_true(oconn_caps(c)->pipelining);
}

/* The EHLO over TLS replaced the caps of the first one. */
static void check_tls_and_new_caps(const struct oconn *c)
{
	assert_contains(oconn_tls(c), "version=TLSv1.");
	const struct smtp_caps *caps = oconn_caps(c);
	assert_false(caps->starttls);
	assert_false(caps->pipelining);
	assert_int_equal(caps->size_max, 2000);
}

static void check_tls(const struct oconn *c)
{
	assert_contains(oconn_tls(c), "version=TLSv1.");
}

static void check_clear_text(const struct oconn *c)
{
	assert_string_equal(oconn_tls(c), "");
	assert_true(oconn_caps(c)->starttls);
}

static const struct oconn_case test_oconn_greeting_220_and_ehlo_caps = {
	.scripts = { SCRIPT(GREET, "R", "S250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
				   "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n", BYE) },
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nQUIT\r\n" },
	.check = check_full_caps,
};

/* 421: the peer is closing, so no QUIT. */
static const struct oconn_case test_oconn_greeting_421_is_temp = {
	.scripts = { SCRIPT("S421 4.3.2 busy, come back later\r\n", "E") },
	.status = OCONN_TEMP,
	.why = "421 4.3.2 busy, come back later",
	.sent = { "" },
};

static const struct oconn_case test_oconn_greeting_554_is_perm = {
	.scripts = { SCRIPT("S554 5.7.1 no mail from you\r\n", BYE) },
	.status = OCONN_PERM,
	.why = "554 5.7.1 no mail from you",
	.sent = { "QUIT\r\n" },
};

/* RFC 5321 5.1: an exchanger that is this server (it greets or answers
 * EHLO with our name) would loop the mail back: 5.4.6 for good. */
static const struct oconn_case test_oconn_greeting_with_our_name_is_a_loop = {
	.scripts = { SCRIPT("S220 Client.Test ESMTP\r\n", BYE) },
	.status = OCONN_PERM,
	.why = "554 5.4.6 mail for mx.example.test loops back to myself",
	.sent = { "QUIT\r\n" },
};

static const struct oconn_case test_oconn_ehlo_with_our_name_is_a_loop = {
	.scripts = { SCRIPT(GREET, "R", "S250-client.test\r\n250 PIPELINING\r\n", BYE) },
	.status = OCONN_PERM,
	.why = "554 5.4.6 mail for mx.example.test loops back to myself",
	.sent = { "EHLO client.test\r\nQUIT\r\n" },
};

/* A name that merely starts like ours is someone else. */
static const struct oconn_case test_oconn_greeting_with_longer_name_is_not_us = {
	.scripts = { SCRIPT("S220 client.test.example ESMTP\r\n", "R", "S250 mx.example.test\r\n", BYE) },
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nQUIT\r\n" },
};

static const struct oconn_case test_oconn_ehlo_502_falls_back_to_helo = {
	.scripts = { SCRIPT(GREET, "R", "S502 5.5.1 EHLO not implemented\r\n", "R",
			    "S250 mx.example.test\r\n", BYE) },
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nHELO client.test\r\nQUIT\r\n" },
	.check = check_no_caps,
};

static const struct oconn_case test_oconn_ehlo_4xx_is_temp = {
	.scripts = { SCRIPT(GREET, "R", "S450 4.3.2 not now\r\n", BYE) },
	.status = OCONN_TEMP,
	.why = "450 4.3.2 not now",
	.sent = { "EHLO client.test\r\nQUIT\r\n" },
};

static const struct oconn_case test_oconn_lhlo = {
	.scripts = { SCRIPT("S220 lmtp ready\r\n", "R", "S250-lmtp.example.test\r\n250 PIPELINING\r\n",
			    BYE) },
	.lmtp = true,
	.status = OCONN_OK,
	.sent = { "LHLO client.test\r\nQUIT\r\n" },
	.check = check_pipelining,
};

/* LMTP has no HELO: a 5xx to LHLO is final. */
static const struct oconn_case test_oconn_lhlo_5xx_is_perm = {
	.scripts = { SCRIPT("S220 lmtp ready\r\n", "R", "S500 5.5.1 what?\r\n", BYE) },
	.lmtp = true,
	.status = OCONN_PERM,
	.why = "500 5.5.1 what?",
	.sent = { "LHLO client.test\r\nQUIT\r\n" },
};

/* The "250 injected" after the 220 came in clear text: it must be dropped. */
static const struct oconn_case test_oconn_starttls_verify_ok = {
	.scripts = { SCRIPT(GREET, "R", EHLO_TLS, "R", GO_AHEAD "250 injected\r\n", "T", "R",
			    "S250-mx.example.test\r\n250 SIZE 2000\r\n", BYE) },
	.tls = TLS_POLICY_VERIFY,
	.tls_name = "mx.example.test",
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nSTARTTLS\r\nEHLO client.test\r\nQUIT\r\n" },
	.log = { "event=tls_started peer=mx.example.test[127.0.0.1]:", "verified=yes" },
	.check = check_tls_and_new_caps,
};

static const struct oconn_case test_oconn_starttls_verify_wrong_name = {
	.scripts = { STARTTLS_SCRIPT },
	.tls = TLS_POLICY_VERIFY,
	.tls_name = "other.example.test",
	.status = OCONN_TEMP,
	.why = "421 4.7.5 TLS handshake failed: certificate verify failed: hostname mismatch",
	.sent = { "EHLO client.test\r\nSTARTTLS\r\n" },	/* and no clear-text retry */
	.log = { "event=tls_failed peer=mx.example.test[127.0.0.1]:",
		 " policy=verify reason=\"certificate verify failed: hostname mismatch\"\n" },
};

static const struct oconn_case test_oconn_starttls_verify_unknown_ca = {
	.scripts = { STARTTLS_SCRIPT },
	.stranger = true,
	.tls = TLS_POLICY_VERIFY,
	.tls_name = "mx.example.test",
	.status = OCONN_TEMP,
	.why = "certificate verify failed: unable to get local issuer certificate",
	.sent = { "EHLO client.test\r\nSTARTTLS\r\n" },
};

/* encrypt does not check the certificate. */
static const struct oconn_case test_oconn_starttls_encrypt_unknown_ca_ok = {
	.scripts = { STARTTLS_SCRIPT },
	.stranger = true,
	.tls = TLS_POLICY_ENCRYPT,
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nSTARTTLS\r\nEHLO client.test\r\nQUIT\r\n" },
	.log = { "verified=no" },
	.check = check_tls,
};

static const struct oconn_case test_oconn_encrypt_without_starttls_is_temp = {
	.scripts = { SCRIPT(GREET, "R", "S250-mx.example.test\r\n250 PIPELINING\r\n", BYE) },
	.tls = TLS_POLICY_ENCRYPT,
	.status = OCONN_TEMP,
	.why = "421 4.7.0 TLS required but not offered",
	.sent = { "EHLO client.test\r\nQUIT\r\n" },
	.log = { "event=tls_failed", "policy=encrypt reason=\"not offered\"" },
};

/* may: a broken handshake, then a new connection in clear text. */
static const struct oconn_case test_oconn_may_broken_handshake_retries_plain = {
	.scripts = { SCRIPT(GREET, "R", EHLO_TLS, "R", GO_AHEAD, "W100", "Sthis is not TLS at all\r\n\r\n"),
		     SCRIPT(GREET, "R", EHLO_TLS, BYE) },
	.tls = TLS_POLICY_MAY,
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nSTARTTLS\r\n", "EHLO client.test\r\nQUIT\r\n" },
	.log = { "event=tls_failed", "policy=may reason=", "next=plaintext" },
	.check = check_clear_text,
};

/* may: a STARTTLS refused with 454 goes on in clear text on the same session. */
static const struct oconn_case test_oconn_may_starttls_refused_goes_on = {
	.scripts = { SCRIPT(GREET, "R", EHLO_TLS, "R", "S454 4.7.0 TLS not available\r\n", BYE) },
	.tls = TLS_POLICY_MAY,
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nSTARTTLS\r\nQUIT\r\n" },
	.log = { "reason=\"454 4.7.0 TLS not available\" next=plaintext" },
	.check = check_clear_text,
};

/* Implicit TLS (RFC 8314): the handshake comes first; tls_name defaults to the host. */
static const struct oconn_case test_oconn_tls_wrapper = {
	.scripts = { SCRIPT("T", GREET, "R", "S250 mx.example.test\r\n", BYE) },
	.tls = TLS_POLICY_VERIFY,
	.tls_wrapper = true,
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nQUIT\r\n" },
	.check = check_tls,
};

static const struct oconn_case test_oconn_auth_plain = {
	.scripts = { SCRIPT(GREET, "R", "S250-mx.example.test\r\n250 AUTH LOGIN PLAIN\r\n", "R",
			    "S235 2.7.0 authenticated\r\n", BYE) },
	.auth = true,
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\n" PLAIN_LINE "QUIT\r\n" },
};

static const struct oconn_case test_oconn_auth_login = {
	.scripts = { SCRIPT(GREET, "R", "S250-mx.example.test\r\n250 AUTH LOGIN\r\n", "R",
			    "S334 VXNlcm5hbWU6\r\n", "R", "S334 UGFzc3dvcmQ6\r\n", "R",
			    "S235 2.7.0 authenticated\r\n", BYE) },
	.auth = true,
	.status = OCONN_OK,
	.sent = { "EHLO client.test\r\nAUTH LOGIN\r\ndXNlcg==\r\nc2VjcmV0\r\nQUIT\r\n" },
};

static const struct oconn_case test_oconn_auth_535_is_perm = {
	.scripts = { SCRIPT(GREET, "R", "S250-mx.example.test\r\n250 AUTH PLAIN\r\n", "R",
			    "S535 5.7.8 authentication failed\r\n", BYE) },
	.auth = true,
	.status = OCONN_PERM,
	.why = "535 5.7.8 authentication failed",
	.sent = { "EHLO client.test\r\n" PLAIN_LINE "QUIT\r\n" },
};

static const struct oconn_case test_oconn_auth_454_is_temp = {
	.scripts = { SCRIPT(GREET, "R", "S250-mx.example.test\r\n250 AUTH LOGIN\r\n", "R",
			    "S454 4.7.0 try again later\r\n", BYE) },
	.auth = true,
	.status = OCONN_TEMP,
	.why = "454 4.7.0 try again later",
	.sent = { "EHLO client.test\r\nAUTH LOGIN\r\nQUIT\r\n" },
};

static const struct oconn_case test_oconn_auth_not_offered_is_temp = {
	.scripts = { SCRIPT(GREET, "R", "S250-mx.example.test\r\n250 AUTH CRAM-MD5\r\n", BYE) },
	.auth = true,
	.status = OCONN_TEMP,
	.why = "421 4.7.0 peer does not offer AUTH PLAIN or LOGIN",
	.sent = { "EHLO client.test\r\nQUIT\r\n" },
};

/* ---- AUTH, the rest ----------------------------------------------------------------- */

static struct oconn_params auth_params(void)
{
	struct oconn_params p = params();
	p.auth_user = AUTH_USER;
	p.auth_pass = AUTH_PASS;
	return p;
}

/* Credentials never go in clear text to a peer that is not local. */
static void test_oconn_auth_refused_without_tls(void **state)
{
	struct oconn *c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->caps.auth = SMTP_AUTH_MECH_PLAIN;
	struct oconn_params p = auth_params();
	struct smtp_reply why;
	assert_int_equal(oconn_auth(c, &p, &why), OCONN_TEMP);
	assert_contains(why.text, "421 4.7.0 refusing to send AUTH credentials without TLS");
	free(c);
}

static void test_oconn_addr_is_local(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	const char *v4[] = { "127.0.0.1", "127.1.2.3", "10.0.0.1", "128.0.0.1" };
	const bool v4_local[] = { true, true, false, false };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(inet_pton(AF_INET, v4[i], &in.sin_addr), 1);
		assert_int_equal(oconn_addr_is_local((struct sockaddr *)&in), v4_local[i]);
	}
	const char *v6[] = { "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2001:db8::1" };
	const bool v6_local[] = { true, true, false, false };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(inet_pton(AF_INET6, v6[i], &in6.sin6_addr), 1);
		assert_int_equal(oconn_addr_is_local((struct sockaddr *)&in6), v6_local[i]);
	}
	assert_true(oconn_addr_is_local((struct sockaddr *)&un));
}

/* LMTP over a unix socket: local, so AUTH may go without TLS; the peer is the path. */
static void test_oconn_unix_socket_lhlo_auth(void **state)
{
	struct peer *pe = PEER_UNIX(SCRIPT("S220 lmtp ready\r\n", "R", "S250-lmtp\r\n250 AUTH PLAIN\r\n",
					   "R", "S235 2.7.0 ok\r\n", BYE));
	struct oconn_params p = auth_params();
	p.lmtp = true;
	struct oconn *c;
	struct smtp_reply why;
	char peer[OCONN_PEER_MAX];
	const char *path = ((struct sockaddr_un *)&pe->addr)->sun_path;
	assert_int_equal(oconn_open((struct sockaddr *)&pe->addr, pe->addrlen, path, &p, &c, &why,
				    peer),
			 OCONN_OK);
	assert_string_equal(oconn_peer(c), path);
	assert_string_equal(peer, path);
	oconn_close(c, true);
	peer_stop(pe);
	assert_string_equal(peer_got(pe, 0),
			    "LHLO client.test\r\n" PLAIN_LINE "QUIT\r\n");
	unlink(path);
	peer_free(pe);
}

/* ---- timeouts, pipelining, refusal ------------------------------------------------- */

static void test_oconn_greeting_timeout(void **state)
{
	struct peer *pe = PEER(SCRIPT("E"));
	struct oconn_params p = params();
	p.timeouts.greeting = 1;
	struct oconn *c;
	struct smtp_reply why;
	double t0 = now_seconds();
	assert_int_equal(open_to(pe, &p, &c, &why), OCONN_TEMP);
	double took = now_seconds() - t0;
	assert_true(took >= 0.9 && took < 2.0);
	assert_string_equal(why.text, "421 4.4.2 timeout waiting for greeting");
	peer_stop(pe);
	assert_string_equal(peer_got(pe, 0), "");	/* broken: no QUIT */
	peer_free(pe);
}

static void test_oconn_command_timeout(void **state)
{
	struct peer *pe = PEER(SCRIPT(GREET, "E"));
	struct oconn_params p = params();
	p.timeouts.command = 1;
	struct oconn *c;
	struct smtp_reply why;
	double t0 = now_seconds();
	assert_int_equal(open_to(pe, &p, &c, &why), OCONN_TEMP);
	assert_true(now_seconds() - t0 < 2.0);
	assert_string_equal(why.text, "421 4.4.2 timeout after EHLO");
	peer_stop(pe);
	assert_string_equal(peer_got(pe, 0), "EHLO client.test\r\n");
	peer_free(pe);
}

/* Replies that arrive together are handed out one by one. */
static void test_oconn_pipelined_replies(void **state)
{
	struct peer *pe = PEER(SCRIPT("S220 mx ESMTP\r\n250-mx.example.test\r\n250 PIPELINING\r\n",
				      "R", "R", "R", "R",
				      "S250 2.1.0 ok\r\n550-5.1.1 no such\r\n550 5.1.1 user\r\n250 2.0.0 reset\r\n",
				      BYE));
	struct oconn_params p = params();
	struct oconn *c;
	struct smtp_reply why;
	assert_int_equal(open_to(pe, &p, &c, &why), OCONN_OK);
	assert_true(oconn_caps(c)->pipelining);
	const char cmds[] = "MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRSET\r\n";
	assert_int_equal(oconn_write(c, cmds, strlen(cmds), 5), 0);
	struct smtp_reply r;
	assert_int_equal(oconn_read_reply(c, &r, 5), 0);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.1.0");
	assert_int_equal(oconn_read_reply(c, &r, 5), 0);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enh, "5.1.1");
	assert_contains(r.text, "no such");
	assert_contains(r.text, "user");
	assert_int_equal(oconn_read_reply(c, &r, 5), 0);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enh, "2.0.0");
	oconn_close(c, true);
	peer_stop(pe);
	assert_string_equal(peer_got(pe, 0), "EHLO client.test\r\n"
					     "MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
					     "RSET\r\nQUIT\r\n");
	peer_free(pe);
}

/* A read that fails leaves a made-up 421 and a broken session. */
static void test_oconn_read_after_close_is_421(void **state)
{
	struct peer *pe = PEER(SCRIPT(GREET, "R", "S250 mx.example.test\r\n"));
	struct oconn_params p = params();
	struct oconn *c;
	struct smtp_reply why;
	assert_int_equal(open_to(pe, &p, &c, &why), OCONN_OK);
	struct smtp_reply r;
	assert_int_equal(oconn_read_reply(c, &r, 5), -1);
	assert_string_equal(r.text, "421 4.4.2 connection closed by peer waiting for reply");
	assert_int_equal(oconn_write(c, "NOOP\r\n", 6, 5), -1);
	oconn_close(c, true);
	peer_stop(pe);
	peer_free(pe);
}

static void test_oconn_connection_refused(void **state)
{
	struct sockaddr_in addr;
	int fd = listen_loopback(&addr, -1);	/* bound, not listening: RST */
	struct oconn_params p = params();
	struct oconn *c;
	struct smtp_reply why;
	char peer[OCONN_PEER_MAX];
	assert_int_equal(oconn_open((struct sockaddr *)&addr, sizeof(addr), "mx.example.test", &p, &c,
				    &why, peer),
			 OCONN_TEMP);
	assert_null(c);
	assert_string_equal(why.text, "421 4.4.1 connection refused");
	assert_int_equal(why.code, 421);
	char expect[64];
	snprintf(expect, sizeof(expect), "mx.example.test[127.0.0.1]:%u", ntohs(addr.sin_port));
	assert_string_equal(peer, expect);
	close(fd);
}

/* A SYN to a listener whose accept queue is full is dropped: connect hangs. */
static void test_oconn_connect_timeout(void **state)
{
	struct sockaddr_in addr;
	int lfd = listen_loopback(&addr, 0);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&addr, sizeof(addr)), 0);
	struct oconn_params p = params();
	p.timeouts.connect = 1;
	struct oconn *c;
	struct smtp_reply why;
	char peer[OCONN_PEER_MAX];
	double t0 = now_seconds();
	assert_int_equal(oconn_open((struct sockaddr *)&addr, sizeof(addr), "mx.example.test", &p, &c,
				    &why, peer),
			 OCONN_TEMP);
	double took = now_seconds() - t0;
	assert_true(took >= 0.9 && took < 2.0);
	assert_string_equal(why.text, "421 4.4.1 connect timed out");
	close(filler);
	close(lfd);
}

/* ---- the pool ----------------------------------------------------------------------- */

#define POOL_SCRIPT SCRIPT(GREET, "R", "S250 mx.example.test\r\n", BYE)

static struct oconn *pool_open(struct peer *pe)
{
	struct oconn_params p = params();
	struct oconn *c;
	struct smtp_reply why;
	assert_int_equal(open_to(pe, &p, &c, &why), OCONN_OK);
	return c;
}

/* Frees the pool, then checks that each of the peer's nconns sessions ended with QUIT. */
static void pool_done(struct oconn_pool *pool, struct peer *pe, size_t nconns)
{
	oconn_pool_free(pool);
	peer_stop(pe);
	assert_int_equal(pe->nconns, nconns);
	for (size_t i = 0; i < nconns; i++)
		assert_string_equal(peer_got(pe, i), "EHLO client.test\r\nQUIT\r\n");
	peer_free(pe);
}

static void test_pool_reserve_limits(void **state)
{
	struct oconn_pool *pool = oconn_pool_new(10, 3);
	assert_true(oconn_pool_reserve(pool, "a", 2));
	assert_true(oconn_pool_reserve(pool, "a", 2));
	assert_false(oconn_pool_reserve(pool, "a", 2));	/* per destination */
	assert_true(oconn_pool_reserve(pool, "b", 0));
	assert_false(oconn_pool_reserve(pool, "c", 0));	/* in total, nothing idle to close */
	oconn_pool_release(pool, "a");
	assert_true(oconn_pool_reserve(pool, "c", 0));
	oconn_pool_release(pool, "a");
	oconn_pool_release(pool, "b");
	oconn_pool_release(pool, "c");
	oconn_pool_free(pool);
}

static void *release_later(void *arg)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	oconn_pool_release(arg, "a");
	return NULL;
}

/* A delivery that finds its destination full waits for a slot, not a blind retry. */
static void test_pool_wait_wakes_when_a_slot_frees(void **state)
{
	struct oconn_pool *pool = oconn_pool_new(10, 0);
	assert_true(oconn_pool_reserve(pool, "a", 1));
	assert_false(oconn_pool_reserve(pool, "a", 1));
	/* nothing changes: the wait ends at its deadline */
	uint64_t seen = oconn_pool_generation(pool);
	double t0 = now_seconds();
	assert_false(oconn_pool_wait(pool, seen, oconn_deadline(1)));
	assert_true(now_seconds() - t0 >= 0.9);
	/* another thread frees the slot: the waiter wakes at once and gets it */
	pthread_t th;
	seen = oconn_pool_generation(pool);
	t0 = now_seconds();
	assert_int_equal(pthread_create(&th, NULL, release_later, pool), 0);
	assert_true(oconn_pool_wait(pool, seen, oconn_deadline(10)));
	assert_true(now_seconds() - t0 < 5);
	pthread_join(th, NULL);
	assert_true(oconn_pool_reserve(pool, "a", 1));
	oconn_pool_release(pool, "a");
	oconn_pool_free(pool);
}

static void test_pool_take_put_reuse_lifo(void **state)
{
	struct peer *pe = PEER(POOL_SCRIPT);
	struct oconn_pool *pool = oconn_pool_new(10, 0);
	assert_null(oconn_pool_take(pool, "a"));
	assert_true(oconn_pool_reserve(pool, "a", 2));
	struct oconn *c1 = pool_open(pe);
	assert_true(oconn_pool_reserve(pool, "a", 2));
	struct oconn *c2 = pool_open(pe);
	oconn_pool_put(pool, "a", c1, 0);
	oconn_pool_put(pool, "a", c2, 0);
	assert_false(oconn_pool_reserve(pool, "a", 2));	/* idle sessions keep their slots */
	assert_null(oconn_pool_take(pool, "b"));
	assert_ptr_equal(oconn_pool_take(pool, "a"), c2);	/* the freshest first */
	assert_ptr_equal(oconn_pool_take(pool, "a"), c1);
	assert_null(oconn_pool_take(pool, "a"));
	oconn_pool_put(pool, "a", c1, 0);
	oconn_pool_put(pool, "a", c2, 0);
	pool_done(pool, pe, 2);	/* QUITs both */
}

static void test_pool_max_messages_closes(void **state)
{
	struct peer *pe = PEER(POOL_SCRIPT);
	struct oconn_pool *pool = oconn_pool_new(10, 0);
	assert_true(oconn_pool_reserve(pool, "a", 1));
	struct oconn *c = pool_open(pe);
	oconn_count_message(c);
	oconn_pool_put(pool, "a", c, 1);
	assert_null(oconn_pool_take(pool, "a"));
	assert_true(oconn_pool_reserve(pool, "a", 1));	/* the slot came back */
	oconn_pool_release(pool, "a");
	pool_done(pool, pe, 1);
}

static void test_pool_idle_expiry(void **state)
{
	struct peer *pe = PEER(POOL_SCRIPT);
	struct oconn_pool *pool = oconn_pool_new(1, 0);
	assert_true(oconn_pool_reserve(pool, "a", 1));
	oconn_pool_put(pool, "a", pool_open(pe), 0);
	assert_true(oconn_pool_reserve(pool, "b", 1));
	oconn_pool_put(pool, "b", pool_open(pe), 0);
	usleep(1300 * 1000);
	oconn_pool_expire(pool);
	peer_stop(pe);	/* both QUIT by now */
	assert_string_equal(peer_got(pe, 0), "EHLO client.test\r\nQUIT\r\n");
	assert_string_equal(peer_got(pe, 1), "EHLO client.test\r\nQUIT\r\n");
	assert_null(oconn_pool_take(pool, "a"));
	assert_true(oconn_pool_reserve(pool, "a", 1));	/* slots came back */
	assert_true(oconn_pool_reserve(pool, "b", 1));
	oconn_pool_release(pool, "a");
	oconn_pool_release(pool, "b");
	oconn_pool_free(pool);
	peer_free(pe);
}

/* take() does not hand out a session that outstayed idle_seconds. */
static void test_pool_take_skips_expired(void **state)
{
	struct peer *pe = PEER(POOL_SCRIPT);
	struct oconn_pool *pool = oconn_pool_new(1, 0);
	assert_true(oconn_pool_reserve(pool, "a", 1));
	oconn_pool_put(pool, "a", pool_open(pe), 0);
	usleep(1300 * 1000);
	assert_null(oconn_pool_take(pool, "a"));
	assert_true(oconn_pool_reserve(pool, "a", 1));
	oconn_pool_release(pool, "a");
	pool_done(pool, pe, 1);
}

/* At max_total, an idle session of another destination makes room. */
static void test_pool_total_limit_closes_other_idle(void **state)
{
	struct peer *pe = PEER(POOL_SCRIPT);
	struct oconn_pool *pool = oconn_pool_new(10, 1);
	assert_true(oconn_pool_reserve(pool, "a", 0));
	oconn_pool_put(pool, "a", pool_open(pe), 0);
	assert_false(oconn_pool_reserve(pool, "a", 0));	/* only another destination's goes */
	assert_true(oconn_pool_reserve(pool, "b", 0));
	assert_null(oconn_pool_take(pool, "a"));
	oconn_pool_release(pool, "b");
	pool_done(pool, pe, 1);
}

/* A session whose pool keeps nothing is closed at once. */
static void test_pool_keeps_nothing_when_idle_zero(void **state)
{
	struct peer *pe = PEER(POOL_SCRIPT);
	struct oconn_pool *pool = oconn_pool_new(0, 0);
	assert_true(oconn_pool_reserve(pool, "a", 1));
	oconn_pool_put(pool, "a", pool_open(pe), 0);
	assert_null(oconn_pool_take(pool, "a"));
	assert_true(oconn_pool_reserve(pool, "a", 1));
	oconn_pool_release(pool, "a");
	pool_done(pool, pe, 1);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static const char pki_script[] =
	"set -e\n"
	"printf '[req]\\ndistinguished_name = dn\\nprompt = no\\n[dn]\\nCN = x\\n' > req.cnf\n"
	"R='openssl req -config req.cnf -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256'\n"
	"CA='-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign'\n"
	"$R -keyout ca.key -out ca.pem -subj '/CN=oconn test CA' $CA\n"
	"$R -keyout other-ca.key -out other-ca.pem -subj '/CN=oconn other CA' $CA\n"
	"$R -keyout mx.key -out mx.pem -subj /CN=mx.example.test"
	" -addext subjectAltName=DNS:mx.example.test -CA ca.pem -CAkey ca.key\n"
	"chmod 600 *.key\n";

static SSL_CTX *client_ctx_for(const char *ca)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, ca);
	struct buf errors = BUF_INIT;
	SSL_CTX *ctx = tls_client_ctx_new(path, &errors);
	if (ctx == NULL)
		fail_msg("tls_client_ctx_new: %s", buf_str(&errors));
	buf_free(&errors);
	return ctx;
}

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);	/* as main.c does: OpenSSL writes with write(2) */
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-oconn-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cd %s && cat > pki.sh && sh pki.sh >pki.log 2>&1 </dev/null", dir);
	FILE *sh = popen(cmd, "w");
	assert_non_null(sh);
	fputs(pki_script, sh);
	if (pclose(sh) != 0)
		fail_msg("making the test certificates failed: see %s/pki.log", dir);
	char cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s/mx.pem", dir);
	snprintf(key, sizeof(key), "%s/mx.key", dir);
	struct tls_server_conf conf = { .cert_file = cert, .key_file = key };
	struct buf errors = BUF_INIT;
	server_ctx = tls_server_ctx_new(&conf, &errors);
	if (server_ctx == NULL)
		fail_msg("tls_server_ctx_new: %s", buf_str(&errors));
	buf_free(&errors);
	client_ctx = client_ctx_for("ca.pem");
	stranger_ctx = client_ctx_for("other-ca.pem");
	return 0;
}

static int group_teardown(void **state)
{
	SSL_CTX_free(server_ctx);
	SSL_CTX_free(client_ctx);
	SSL_CTX_free(stranger_ctx);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void test_tls_client_ctx_bad_ca_file(void **state)
{
	struct buf errors = BUF_INIT;
	assert_null(tls_client_ctx_new("/nonexistent/ca.pem", &errors));
	assert_contains(buf_str(&errors), "/nonexistent/ca.pem");
	buf_free(&errors);
}

#define CASE(name) { #name, run_case, NULL, NULL, (void *)&name }

int main(void)
{
	const struct CMUnitTest tests[] = {
		CASE(test_oconn_greeting_220_and_ehlo_caps),
		CASE(test_oconn_greeting_421_is_temp),
		CASE(test_oconn_greeting_554_is_perm),
		CASE(test_oconn_greeting_with_our_name_is_a_loop),
		CASE(test_oconn_ehlo_with_our_name_is_a_loop),
		CASE(test_oconn_greeting_with_longer_name_is_not_us),
		CASE(test_oconn_ehlo_502_falls_back_to_helo),
		CASE(test_oconn_ehlo_4xx_is_temp),
		CASE(test_oconn_lhlo),
		CASE(test_oconn_lhlo_5xx_is_perm),
		CASE(test_oconn_starttls_verify_ok),
		CASE(test_oconn_starttls_verify_wrong_name),
		CASE(test_oconn_starttls_verify_unknown_ca),
		CASE(test_oconn_starttls_encrypt_unknown_ca_ok),
		CASE(test_oconn_encrypt_without_starttls_is_temp),
		CASE(test_oconn_may_broken_handshake_retries_plain),
		CASE(test_oconn_may_starttls_refused_goes_on),
		CASE(test_oconn_tls_wrapper),
		CASE(test_oconn_auth_plain),
		CASE(test_oconn_auth_login),
		CASE(test_oconn_auth_535_is_perm),
		CASE(test_oconn_auth_454_is_temp),
		CASE(test_oconn_auth_not_offered_is_temp),
		cmocka_unit_test(test_oconn_auth_refused_without_tls),
		cmocka_unit_test(test_oconn_addr_is_local),
		cmocka_unit_test(test_oconn_unix_socket_lhlo_auth),
		cmocka_unit_test(test_oconn_greeting_timeout),
		cmocka_unit_test(test_oconn_command_timeout),
		cmocka_unit_test(test_oconn_pipelined_replies),
		cmocka_unit_test(test_oconn_read_after_close_is_421),
		cmocka_unit_test(test_oconn_connection_refused),
		cmocka_unit_test(test_oconn_connect_timeout),
		cmocka_unit_test(test_pool_reserve_limits),
		cmocka_unit_test(test_pool_wait_wakes_when_a_slot_frees),
		cmocka_unit_test(test_pool_take_put_reuse_lifo),
		cmocka_unit_test(test_pool_max_messages_closes),
		cmocka_unit_test(test_pool_idle_expiry),
		cmocka_unit_test(test_pool_take_skips_expired),
		cmocka_unit_test(test_pool_total_limit_closes_other_idle),
		cmocka_unit_test(test_pool_keeps_nothing_when_idle_zero),
		cmocka_unit_test(test_tls_client_ctx_bad_ca_file),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
