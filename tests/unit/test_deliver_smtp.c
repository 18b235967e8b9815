/*
 * test_deliver_smtp.c — deliver_smtp() against a fake MTA on 127.0.0.1 (or
 * a unix socket for LMTP): the bytes of pipelined and one-by-one
 * transactions, per-recipient results for every kind of reply, RSET after
 * a refused transaction, LMTP replies per recipient, a peer hanging up in
 * DATA, the SIZE refusal, session reuse and a cached session found dead,
 * the busy limit, refused connections and DNS failures.
 *
 * The fake MTA is a small SMTP/LMTP server on its own thread that serves
 * connections one after another. Its replies come from a struct mta
 * filled by the test (defaults: everything accepted); it records every
 * line each connection sent, so tests compare the client's bytes exactly.
 * With `hold` it answers nothing until DATA arrives: a client that waited
 * for MAIL's reply before sending its RCPTs would time out, so a passing
 * test proves the batch went in one go (RFC 2920). Destinations are
 * "[127.0.0.1]" (an address literal: no DNS query) with the fake's port.
 * Fallback across MX hosts needs a DNS server: the integration tests run
 * it with dnsmasq.
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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "deliver_smtp.h"
#include "dns.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "outbound_conn.h"
#include "smtp_proto.h"

#define MTA_RCPTS_MAX 8
#define MTA_CONNS_MAX 4
#define MTA_IO_SECONDS 5
#define TEST_SECONDS 2		/* every client timeout: a stuck test fails fast */

static char dir[64];
static struct dns *dns;			/* points at a UDP port where nobody answers */
static int dns_sink = -1;		/* that port */
static struct oconn_pool *pool;
static int saved_stderr = -1;

/* ---- the fake MTA ------------------------------------------------------------ */

struct mta {
	/* What it says; NULL fields take the defaults in mta_reply_for(). */
	bool lmtp;
	bool unix_socket;
	const char *greeting;
	const char *caps;			/* EHLO keywords separated by '\n' */
	const char *mail;
	const char *rcpt[MTA_RCPTS_MAX];	/* per RCPT of a transaction */
	const char *data;
	const char *final[MTA_RCPTS_MAX];	/* SMTP: [0]; LMTP: per accepted RCPT */
	bool hold;				/* no reply to MAIL or RCPT before DATA, RSET or QUIT */
	bool hangup_in_data;			/* close after the first content line */
	const char *close_after_txn;		/* after the first final reply: say it ("": no), close */

	int lfd;
	unsigned port;
	char path[108];
	pthread_t thread;
	atomic_bool stop;
	size_t nconns;
	struct buf got[MTA_CONNS_MAX];		/* what each connection sent */
	bool ahead;				/* a command arrived before the last was answered */
};

struct mta_conn {
	int fd;
	struct buf pending;			/* replies not sent yet */
	size_t inlen;
	char in[8192];
};

static const char *or_default(const char *s, const char *dflt)
{
	return s != NULL ? s : dflt;
}

static void mta_reply(struct mta_conn *mc, const char *text)
{
	buf_append_str(&mc->pending, text);
	buf_append_str(&mc->pending, "\r\n");
}

static void mta_flush(struct mta_conn *mc)
{
	if (mc->pending.len > 0 && send(mc->fd, mc->pending.data, mc->pending.len, MSG_NOSIGNAL) < 0)
		mc->pending.len = 0;
	buf_reset(&mc->pending);
}

/* The next line (with its CRLF) appended to got; false at EOF or timeout. */
static bool mta_line(struct mta_conn *mc, struct buf *got, bool *more)
{
	for (;;) {
		char *lf = memchr(mc->in, '\n', mc->inlen);
		if (lf != NULL) {
			size_t n = (size_t)(lf - mc->in) + 1;
			buf_append(got, mc->in, n);
			memmove(mc->in, mc->in + n, mc->inlen - n);
			mc->inlen -= n;
			*more = mc->inlen > 0;
			return true;
		}
		if (mc->inlen == sizeof(mc->in))
			return false;
		ssize_t r = recv(mc->fd, mc->in + mc->inlen, sizeof(mc->in) - mc->inlen, 0);
		if (r <= 0)
			return false;
		mc->inlen += (size_t)r;
	}
}

static void mta_ehlo(struct mta *m, struct mta_conn *mc)
{
	struct buf r = BUF_INIT;
	buf_append_str(&r, "250");
	buf_append_str(&r, m->caps != NULL ? "-fake.test" : " fake.test");
	for (const char *p = m->caps; p != NULL && *p != '\0';) {
		size_t len = strcspn(p, "\n");
		bool last = p[len] == '\0';
		buf_printf(&r, "\r\n250%c%.*s", last ? ' ' : '-', (int)len, p);
		p += last ? len : len + 1;
	}
	mta_reply(mc, buf_str(&r));
	buf_free(&r);
}

/* Content up to the dot; false when the connection is to end. */
static bool mta_content(struct mta *m, struct mta_conn *mc, struct buf *got)
{
	bool more;
	for (;;) {
		size_t start = got->len;
		if (!mta_line(mc, got, &more))
			return false;
		if (m->hangup_in_data)
			return false;
		if (strcmp(got->data + start, ".\r\n") == 0)
			return true;
	}
}

/* One connection, until QUIT, EOF, or a scripted hang-up. */
static void mta_serve(struct mta *m, int fd, struct buf *got)
{
	struct mta_conn mc = { .fd = fd, .pending = BUF_INIT };
	size_t nrcpt = 0, accepted = 0;
	mta_reply(&mc, or_default(m->greeting, "220 fake.test ESMTP"));
	mta_flush(&mc);
	for (;;) {
		size_t start = got->len;
		bool more;
		if (!mta_line(&mc, got, &more))
			break;
		m->ahead |= more;
		const char *cmd = got->data + start;
		bool flush = !m->hold;
		if (strncasecmp(cmd, "EHLO", 4) == 0 || strncasecmp(cmd, "LHLO", 4) == 0) {
			mta_ehlo(m, &mc);
			flush = true;
		} else if (strncasecmp(cmd, "MAIL", 4) == 0) {
			nrcpt = accepted = 0;
			mta_reply(&mc, or_default(m->mail, "250 2.1.0 Ok"));
		} else if (strncasecmp(cmd, "RCPT", 4) == 0) {
			const char *r = nrcpt < MTA_RCPTS_MAX ? m->rcpt[nrcpt] : NULL;
			r = or_default(r, "250 2.1.5 Ok");
			nrcpt++;
			accepted += r[0] == '2';
			mta_reply(&mc, r);
		} else if (strncasecmp(cmd, "DATA", 4) == 0) {
			const char *r = or_default(m->data, "354 End data with <CR><LF>.<CR><LF>");
			mta_reply(&mc, r);
			mta_flush(&mc);
			flush = true;
			if (r[0] == '3') {
				if (!mta_content(m, &mc, got))
					break;
				for (size_t i = 0; i < (m->lmtp ? accepted : 1); i++)
					mta_reply(&mc, or_default(m->final[i], "250 2.0.0 Ok: queued"));
				if (m->close_after_txn != NULL) {
					mta_flush(&mc);
					if (m->close_after_txn[0] != '\0')
						mta_reply(&mc, m->close_after_txn);
					mta_flush(&mc);
					break;
				}
			}
		} else if (strncasecmp(cmd, "RSET", 4) == 0) {
			mta_reply(&mc, "250 2.0.0 Ok");
			flush = true;
		} else if (strncasecmp(cmd, "QUIT", 4) == 0) {
			mta_reply(&mc, "221 2.0.0 Bye");
			mta_flush(&mc);
			break;
		} else {
			mta_reply(&mc, "500 5.5.2 what?");
		}
		if (flush)
			mta_flush(&mc);
	}
	buf_free(&mc.pending);
}

static void *mta_run(void *arg)
{
	struct mta *m = arg;
	while (!atomic_load(&m->stop)) {
		struct pollfd pfd = { .fd = m->lfd, .events = POLLIN };
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = MTA_IO_SECONDS };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (m->nconns < MTA_CONNS_MAX)
			mta_serve(m, fd, &m->got[m->nconns++]);
		close(fd);
	}
	return NULL;
}

/* A socket (SOCK_STREAM or SOCK_DGRAM) bound to 127.0.0.1:ephemeral; *port set. */
static int bind_loopback(int type, unsigned *port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t len = sizeof(sin);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void mta_start(struct mta *m)
{
	if (m->unix_socket) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		snprintf(m->path, sizeof(m->path), "%s/lmtp.sock", dir);
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", m->path);
		unlink(m->path);
		m->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(bind(m->lfd, (struct sockaddr *)&un, sizeof(un)), 0);
	} else {
		m->lfd = bind_loopback(SOCK_STREAM, &m->port);
	}
	assert_int_equal(listen(m->lfd, 8), 0);
	assert_int_equal(pthread_create(&m->thread, NULL, mta_run, m), 0);
}

/* Closes the pool's idle sessions (they QUIT), then stops the fake: its records are final. */
static void mta_stop(struct mta *m)
{
	oconn_pool_free(pool);
	pool = NULL;
	atomic_store(&m->stop, true);
	pthread_join(m->thread, NULL);
	close(m->lfd);
}

static void mta_free(struct mta *m)
{
	for (size_t i = 0; i < MTA_CONNS_MAX; i++)
		buf_free(&m->got[i]);
}

/* ---- the client side ------------------------------------------------------------ */

struct job {
	struct deliver_dest dest;
	struct deliver_msg msg;
	struct deliver_rcpt rcpts[MTA_RCPTS_MAX];
	size_t n;
	struct deliver_report rep;
	char relay[OCONN_PEER_MAX];	/* what rep.relay should say */
};

#define QUEUE_HEAD "envelope lines that are not content\n"
#define QUEUE_TAIL "trailer\n"

/* A queue file with content between a head and a tail; the message points at it. */
static void job_content(struct job *j, const char *content, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/queue-XXXXXX", dir);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, QUEUE_HEAD, strlen(QUEUE_HEAD)), (ssize_t)strlen(QUEUE_HEAD));
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(write(fd, QUEUE_TAIL, strlen(QUEUE_TAIL)), (ssize_t)strlen(QUEUE_TAIL));
	j->msg.fd = fd;
	j->msg.content_off = (off_t)strlen(QUEUE_HEAD);
	j->msg.content_len = (off_t)len;
}

#define SIMPLE_CONTENT "Subject: hi\r\n\r\nHello.\r\n"

/* A job to the fake m: n recipients r1@example.net..., the simple content. */
static void job_init(struct job *j, const struct mta *m, size_t n)
{
	memset(j, 0, sizeof(*j));
	j->dest.kind = m->unix_socket ? DEST_LMTP_UNIX : m->lmtp ? DEST_LMTP_INET : DEST_HOST;
	j->dest.name = m->unix_socket ? m->path : "[127.0.0.1]";
	j->dest.port = m->port;
	j->dest.params.helo_name = "client.test";
	j->dest.params.tls = TLS_POLICY_NONE;
	struct oconn_timeouts to = { TEST_SECONDS, TEST_SECONDS, TEST_SECONDS,
				     TEST_SECONDS, TEST_SECONDS, TEST_SECONDS };
	j->dest.params.timeouts = to;
	j->dest.pool_key = "test:dest";
	j->msg.id = "QID1";
	j->msg.sender = "sender@example.org";
	static char addrs[MTA_RCPTS_MAX][48];
	for (size_t i = 0; i < n; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "r%zu@example.net", i + 1);
		j->rcpts[i].addr = addrs[i];
	}
	j->n = n;
	if (m->unix_socket)
		snprintf(j->relay, sizeof(j->relay), "%s", m->path);
	else
		snprintf(j->relay, sizeof(j->relay), "[127.0.0.1][127.0.0.1]:%u", m->port);
	job_content(j, SIMPLE_CONTENT, strlen(SIMPLE_CONTENT));
}

static void job_run(struct job *j)
{
	deliver_smtp(dns, pool, &j->dest, &j->msg, j->rcpts, j->n, &j->rep);
}

static void job_free(struct job *j)
{
	close(j->msg.fd);
}

static void assert_rcpt(const struct deliver_rcpt *r, enum deliver_rcpt_result result, const char *enh,
			const char *reply)
{
	assert_int_equal(r->result, result);
	assert_string_equal(r->enh, enh);
	assert_string_equal(r->reply, reply);
}

/* ---- log capture ------------------------------------------------------------------ */

static void capture_start(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/stderr.log", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* What was logged since capture_start(), into out. */
static void capture_end(struct buf *out)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
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

/* ---- tests ------------------------------------------------------------------------- */

static void test_deliver_pipelined_transaction_bytes(void **state)
{
	struct mta m = { .caps = "PIPELINING\nSIZE 100000\n8BITMIME\nDSN\nENHANCEDSTATUSCODES",
			 .hold = true };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	const char content[] = "Subject: dots\r\n\r\n.hidden\r\n..two\r\nend\r\n";
	close(j.msg.fd);
	job_content(&j, content, strlen(content));
	j.msg.body = SMTP_BODY_8BITMIME;
	j.msg.ret = SMTP_RET_HDRS;
	j.msg.envid = "QID1+2Bx";
	j.rcpts[0].notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE;
	j.rcpts[0].orcpt = "rfc822;r1@example.net";
	job_run(&j);
	for (size_t i = 0; i < 2; i++)
		assert_rcpt(&j.rcpts[i], DELIVER_RCPT_OK, "2.0.0", "250 2.0.0 Ok: queued");
	assert_string_equal(j.rep.relay, j.relay);
	assert_false(j.rep.dsn_relayed);
	assert_false(j.rep.busy);
	assert_false(j.rep.tls);
	mta_stop(&m);
	assert_int_equal(m.nconns, 1);
	assert_true(m.ahead);
	assert_string_equal(buf_str(&m.got[0]),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org> SIZE=38 BODY=8BITMIME RET=HDRS ENVID=QID1+2Bx\r\n"
			    "RCPT TO:<r1@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r1@example.net\r\n"
			    "RCPT TO:<r2@example.net>\r\n"
			    "DATA\r\n"
			    "Subject: dots\r\n\r\n..hidden\r\n...two\r\nend\r\n.\r\n"
			    "QUIT\r\n");
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_without_pipelining_one_by_one(void **state)
{
	struct mta m = { .caps = "SIZE\nENHANCEDSTATUSCODES" };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	const char content[] = "Subject: x\r\n\r\nno line end";
	close(j.msg.fd);
	job_content(&j, content, strlen(content));
	j.rcpts[0].notify = SMTP_NOTIFY_NEVER;	/* no DSN offered: not sent */
	job_run(&j);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(j.rcpts[i].result, DELIVER_RCPT_OK);
	assert_true(j.rep.dsn_relayed);
	mta_stop(&m);
	assert_false(m.ahead);
	assert_string_equal(buf_str(&m.got[0]),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org> SIZE=25\r\n"
			    "RCPT TO:<r1@example.net>\r\n"
			    "RCPT TO:<r2@example.net>\r\n"
			    "DATA\r\n"
			    "Subject: x\r\n\r\nno line end\r\n.\r\n"
			    "QUIT\r\n");
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_mixed_rcpt_results(void **state)
{
	struct mta m = { .caps = "PIPELINING",
			 .rcpt = { "250 2.1.5 Ok", "450 4.2.1 mailbox busy", "550 no such user" } };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 3);
	job_run(&j);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_OK, "2.0.0", "250 2.0.0 Ok: queued");
	assert_rcpt(&j.rcpts[1], DELIVER_RCPT_TEMP, "4.2.1", "450 4.2.1 mailbox busy");
	/* no enhanced code from the peer: made up from the class */
	assert_rcpt(&j.rcpts[2], DELIVER_RCPT_PERM, "5.0.0", "550 no such user");
	mta_stop(&m);
	assert_non_null(strstr(buf_str(&m.got[0]), "DATA\r\n" SIMPLE_CONTENT ".\r\nQUIT\r\n"));
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_all_rcpts_refused_rset_no_data(void **state)
{
	struct mta m = { .rcpt = { "550 5.1.1 unknown", "551 5.1.6 moved" } };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	job_run(&j);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_PERM, "5.1.1", "550 5.1.1 unknown");
	assert_rcpt(&j.rcpts[1], DELIVER_RCPT_PERM, "5.1.6", "551 5.1.6 moved");
	mta_stop(&m);
	assert_string_equal(buf_str(&m.got[0]),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org>\r\n"
			    "RCPT TO:<r1@example.net>\r\n"
			    "RCPT TO:<r2@example.net>\r\n"
			    "RSET\r\n"
			    "QUIT\r\n");
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_pipelined_all_refused_data_ignored_then_rset(void **state)
{
	struct mta m = { .caps = "PIPELINING", .rcpt = { "550 5.1.1 unknown" },
			 .data = "554 5.5.1 no valid recipients", .hold = true };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 1);
	job_run(&j);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_PERM, "5.1.1", "550 5.1.1 unknown");
	/* the session was fit for reuse: the second message goes over it */
	struct job k;
	job_init(&k, &m, 1);
	job_run(&k);
	assert_rcpt(&k.rcpts[0], DELIVER_RCPT_PERM, "5.1.1", "550 5.1.1 unknown");
	mta_stop(&m);
	assert_int_equal(m.nconns, 1);
	assert_string_equal(buf_str(&m.got[0]),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.net>\r\nDATA\r\n"
			    "RSET\r\n"
			    "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.net>\r\nDATA\r\n"
			    "RSET\r\n"
			    "QUIT\r\n");
	job_free(&j);
	job_free(&k);
	mta_free(&m);
}

static void test_deliver_mail_452_all_temp(void **state)
{
	struct mta m = { .mail = "452 4.3.1 insufficient system storage" };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	job_run(&j);
	for (size_t i = 0; i < 2; i++)
		assert_rcpt(&j.rcpts[i], DELIVER_RCPT_TEMP, "4.3.1", "452 4.3.1 insufficient system storage");
	mta_stop(&m);
	assert_string_equal(buf_str(&m.got[0]),
			    "EHLO client.test\r\nMAIL FROM:<sender@example.org>\r\nRSET\r\nQUIT\r\n");
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_data_554_perm(void **state)
{
	struct mta m = { .rcpt = { "250 2.1.5 Ok", "550 5.1.1 unknown" }, .data = "554 5.7.1 no thanks" };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	job_run(&j);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_PERM, "5.7.1", "554 5.7.1 no thanks");
	assert_rcpt(&j.rcpts[1], DELIVER_RCPT_PERM, "5.1.1", "550 5.1.1 unknown");
	mta_stop(&m);
	assert_non_null(strstr(buf_str(&m.got[0]), "DATA\r\nRSET\r\nQUIT\r\n"));
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_final_451_temp(void **state)
{
	struct mta m = { .caps = "PIPELINING", .final = { "451 4.3.0 try later" } };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	job_run(&j);
	for (size_t i = 0; i < 2; i++)
		assert_rcpt(&j.rcpts[i], DELIVER_RCPT_TEMP, "4.3.0", "451 4.3.0 try later");
	mta_stop(&m);
	/* a refused message still ends a transaction: no RSET needed */
	assert_non_null(strstr(buf_str(&m.got[0]), "\r\n.\r\nQUIT\r\n"));
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_lmtp_reply_per_recipient(void **state)
{
	struct mta m = { .lmtp = true, .unix_socket = true, .caps = "PIPELINING\nENHANCEDSTATUSCODES",
			 .rcpt = { "250 2.1.5 Ok", "550 5.1.1 unknown", "250 2.1.5 Ok", "250 2.1.5 Ok" },
			 .final = { "250 2.0.0 r1 saved", "452 4.2.2 r3 over quota",
				    "550 5.2.1 r4 disabled" } };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 4);
	job_run(&j);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_OK, "2.0.0", "250 2.0.0 r1 saved");
	assert_rcpt(&j.rcpts[1], DELIVER_RCPT_PERM, "5.1.1", "550 5.1.1 unknown");
	assert_rcpt(&j.rcpts[2], DELIVER_RCPT_TEMP, "4.2.2", "452 4.2.2 r3 over quota");
	assert_rcpt(&j.rcpts[3], DELIVER_RCPT_PERM, "5.2.1", "550 5.2.1 r4 disabled");
	assert_string_equal(j.rep.relay, m.path);
	mta_stop(&m);
	assert_string_equal(buf_str(&m.got[0]),
			    "LHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org>\r\n"
			    "RCPT TO:<r1@example.net>\r\nRCPT TO:<r2@example.net>\r\n"
			    "RCPT TO:<r3@example.net>\r\nRCPT TO:<r4@example.net>\r\n"
			    "DATA\r\n" SIMPLE_CONTENT ".\r\n"
			    "QUIT\r\n");
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_lmtp_inet_missing_reply_is_temp(void **state)
{
	/* The peer answers for one of two accepted recipients, then hangs up. */
	struct mta m = { .close_after_txn = "" };	/* one final reply, SMTP style */
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	j.dest.kind = DEST_LMTP_INET;
	job_run(&j);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_OK, "2.0.0", "250 2.0.0 Ok: queued");
	assert_int_equal(j.rcpts[1].result, DELIVER_RCPT_TEMP);
	assert_string_equal(j.rcpts[1].enh, "4.4.2");
	assert_int_equal(strncmp(j.rcpts[1].reply, "421 4.4.2 ", 10), 0);
	mta_stop(&m);
	assert_non_null(strstr(buf_str(&m.got[0]), "LHLO client.test\r\n"));
	job_free(&j);
	mta_free(&m);
}

/*
 * Content larger than the socket buffers and several 64 KiB chunks, in
 * 64-byte lines, some starting with '.': line 1024 starts the second
 * chunk. *wire gets what the peer must see: the lines dot-stuffed.
 */
static void big_content(struct buf *content, struct buf *wire)
{
	for (size_t i = 0; i < 6000; i++) {
		bool dot = i % 7 == 0 || i == 1024;
		size_t start = content->len;
		buf_printf(content, "%c%061zu\r\n", dot ? '.' : 'x', i);
		if (dot)
			buf_append_char(wire, '.');
		buf_append(wire, content->data + start, content->len - start);
	}
}

static void test_deliver_big_content_chunked_and_stuffed(void **state)
{
	struct mta m = { .caps = "PIPELINING" };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 1);
	struct buf content = BUF_INIT, wire = BUF_INIT;
	big_content(&content, &wire);
	assert_int_equal(content.len, 6000 * 64);
	assert_int_equal(content.data[65536], '.');
	close(j.msg.fd);
	job_content(&j, content.data, content.len);
	job_run(&j);
	assert_int_equal(j.rcpts[0].result, DELIVER_RCPT_OK);
	mta_stop(&m);
	const char *got = buf_str(&m.got[0]);
	const char *body = strstr(got, "DATA\r\n");
	assert_non_null(body);
	body += 6;
	buf_append_str(&wire, ".\r\nQUIT\r\n");
	assert_int_equal(strlen(body), wire.len);
	assert_memory_equal(body, wire.data, wire.len);
	buf_free(&content);
	buf_free(&wire);
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_hangup_mid_data_temp(void **state)
{
	struct mta m = { .caps = "PIPELINING", .hangup_in_data = true };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	struct buf content = BUF_INIT, wire = BUF_INIT;
	big_content(&content, &wire);
	close(j.msg.fd);
	job_content(&j, content.data, content.len);
	job_run(&j);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(j.rcpts[i].result, DELIVER_RCPT_TEMP);
		assert_int_equal(strncmp(j.rcpts[i].reply, "421 4.4.2 ", 10), 0);
	}
	mta_stop(&m);
	assert_int_equal(m.nconns, 1);
	assert_null(strstr(buf_str(&m.got[0]), "QUIT"));
	buf_free(&content);
	buf_free(&wire);
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_size_too_big_perm_without_mail(void **state)
{
	struct mta m = { .caps = "PIPELINING\nSIZE 10" };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	job_run(&j);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(j.rcpts[i].result, DELIVER_RCPT_PERM);
		assert_string_equal(j.rcpts[i].enh, "5.3.4");
		assert_int_equal(strncmp(j.rcpts[i].reply, "554 5.3.4 ", 10), 0);
	}
	mta_stop(&m);
	assert_string_equal(buf_str(&m.got[0]), "EHLO client.test\r\nQUIT\r\n");
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_reuses_session(void **state)
{
	struct mta m = { .caps = "PIPELINING" };
	mta_start(&m);
	struct job j, k;
	job_init(&j, &m, 1);
	job_init(&k, &m, 1);
	k.msg.sender = "";
	job_run(&j);
	job_run(&k);
	assert_int_equal(j.rcpts[0].result, DELIVER_RCPT_OK);
	assert_int_equal(k.rcpts[0].result, DELIVER_RCPT_OK);
	assert_string_equal(k.rep.relay, k.relay);
	mta_stop(&m);
	assert_int_equal(m.nconns, 1);
	assert_string_equal(buf_str(&m.got[0]),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.net>\r\nDATA\r\n"
			    SIMPLE_CONTENT ".\r\n"
			    "MAIL FROM:<>\r\nRCPT TO:<r1@example.net>\r\nDATA\r\n"
			    SIMPLE_CONTENT ".\r\n"
			    "QUIT\r\n");
	job_free(&j);
	job_free(&k);
	mta_free(&m);
}

static void test_deliver_max_messages_closes_session(void **state)
{
	struct mta m = { 0 };
	mta_start(&m);
	struct job j, k;
	job_init(&j, &m, 1);
	job_init(&k, &m, 1);
	j.dest.max_messages = k.dest.max_messages = 1;
	job_run(&j);
	job_run(&k);
	assert_int_equal(k.rcpts[0].result, DELIVER_RCPT_OK);
	mta_stop(&m);
	assert_int_equal(m.nconns, 2);
	assert_non_null(strstr(buf_str(&m.got[0]), ".\r\nQUIT\r\n"));
	job_free(&j);
	job_free(&k);
	mta_free(&m);
}

/* A session the peer ended while it sat in the pool: closed (bye ""), or after a 421. */
static void dead_cached_session(const char *bye)
{
	struct mta m = { .caps = "PIPELINING", .close_after_txn = bye };
	mta_start(&m);
	struct job j, k;
	job_init(&j, &m, 1);
	job_init(&k, &m, 1);
	job_run(&j);
	assert_int_equal(j.rcpts[0].result, DELIVER_RCPT_OK);
	usleep(50 * 1000);	/* let the close arrive */
	capture_start();
	job_run(&k);
	struct buf log = BUF_INIT;
	capture_end(&log);
	assert_rcpt(&k.rcpts[0], DELIVER_RCPT_OK, "2.0.0", "250 2.0.0 Ok: queued");
	assert_null(strstr(buf_str(&log), "connect_failed"));
	mta_stop(&m);
	assert_int_equal(m.nconns, 2);
	assert_string_equal(buf_str(&m.got[1]),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org>\r\nRCPT TO:<r1@example.net>\r\nDATA\r\n"
			    SIMPLE_CONTENT ".\r\n");
	buf_free(&log);
	job_free(&j);
	job_free(&k);
	mta_free(&m);
}

static void test_deliver_dead_cached_session_retried_fresh(void **state)
{
	dead_cached_session("");
}

static void test_deliver_cached_session_421_retried_fresh(void **state)
{
	dead_cached_session("421 4.4.2 idle too long");
}

/* More recipients than one pipelined write carries: every reply still lands on its recipient. */
static void test_deliver_many_recipients_pipelined_in_groups(void **state)
{
	enum { MANY = 250 };
	struct mta m = { .caps = "PIPELINING", .rcpt = { "550 5.1.1 first unknown" } };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 0);
	struct deliver_rcpt *rc = xcalloc(MANY, sizeof(*rc));
	char (*addrs)[32] = xcalloc(MANY, sizeof(*addrs));
	for (size_t i = 0; i < MANY; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "u%zu@example.net", i);
		rc[i].addr = addrs[i];
	}
	deliver_smtp(dns, pool, &j.dest, &j.msg, rc, MANY, &j.rep);
	assert_rcpt(&rc[0], DELIVER_RCPT_PERM, "5.1.1", "550 5.1.1 first unknown");
	for (size_t i = 1; i < MANY; i++)
		assert_rcpt(&rc[i], DELIVER_RCPT_OK, "2.0.0", "250 2.0.0 Ok: queued");
	mta_stop(&m);
	const char *got = buf_str(&m.got[0]);
	assert_non_null(strstr(got, "RCPT TO:<u249@example.net>\r\nDATA\r\n"));
	assert_true(m.ahead);
	free(addrs);
	free(rc);
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_rcpt_421_closes_session(void **state)
{
	struct mta m = { .rcpt = { "250 2.1.5 Ok", "421 4.3.2 shutting down" } };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 3);
	job_run(&j);
	for (size_t i = 0; i < 3; i++)
		assert_rcpt(&j.rcpts[i], DELIVER_RCPT_TEMP, "4.3.2", "421 4.3.2 shutting down");
	mta_stop(&m);
	assert_string_equal(buf_str(&m.got[0]),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<sender@example.org>\r\n"
			    "RCPT TO:<r1@example.net>\r\nRCPT TO:<r2@example.net>\r\n");
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_busy_when_slots_taken(void **state)
{
	struct mta m = { 0 };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 2);
	j.dest.max_per_dest = 1;
	assert_true(oconn_pool_reserve(pool, j.dest.pool_key, 1));
	job_run(&j);
	assert_true(j.rep.busy);
	assert_string_equal(j.rep.relay, "");
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(j.rcpts[i].result, DELIVER_RCPT_TEMP);
		assert_string_equal(j.rcpts[i].enh, "4.4.5");
	}
	oconn_pool_release(pool, j.dest.pool_key);
	mta_stop(&m);
	assert_int_equal(m.nconns, 0);
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_connection_refused_temp_and_logged(void **state)
{
	unsigned port;
	int fd = bind_loopback(SOCK_STREAM, &port);	/* bound, not listening: refused */
	struct mta m = { .port = port };
	struct job j;
	job_init(&j, &m, 1);
	capture_start();
	job_run(&j);
	struct buf log = BUF_INIT;
	capture_end(&log);
	char want[256];
	snprintf(want, sizeof(want), "451 4.4.1 connection refused by [127.0.0.1][127.0.0.1]:%u", port);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_TEMP, "4.4.1", want);
	assert_string_equal(j.rep.relay, "");
	snprintf(want, sizeof(want),
		 "event=connect_failed id=QID1 relay=[127.0.0.1][127.0.0.1]:%u "
		 "reason=\"421 4.4.1 connection refused\"", port);
	assert_non_null(strstr(buf_str(&log), want));
	buf_free(&log);
	close(fd);
	job_free(&j);
}

static void test_deliver_greeting_554_perm(void **state)
{
	struct mta m = { .greeting = "554 5.7.1 \"you\" are not welcome" };
	mta_start(&m);
	struct job j;
	job_init(&j, &m, 1);
	capture_start();
	job_run(&j);
	struct buf log = BUF_INIT;
	capture_end(&log);
	char want[SMTP_REPLY_TEXT_MAX];
	snprintf(want, sizeof(want), "554 5.7.1 \"you\" are not welcome by %s", j.relay);
	assert_rcpt(&j.rcpts[0], DELIVER_RCPT_PERM, "5.7.1", want);
	assert_non_null(strstr(buf_str(&log), "reason=\"554 5.7.1 'you' are not welcome\""));
	mta_stop(&m);
	buf_free(&log);
	job_free(&j);
	mta_free(&m);
}

static void test_deliver_dns_failures(void **state)
{
	struct mta m = { 0 };
	struct job j;
	job_init(&j, &m, 2);
	j.dest.kind = DEST_MX;
	j.dest.name = "[not-an-ip]";
	job_run(&j);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(j.rcpts[i].result, DELIVER_RCPT_PERM);
		assert_string_equal(j.rcpts[i].enh, "5.1.2");
		assert_int_equal(strncmp(j.rcpts[i].reply, "550 5.1.2 [not-an-ip]: ", 23), 0);
	}
	/* nobody answers the resolver's queries */
	j.dest.name = "example.test";
	j.dest.dns_timeout = 1;
	job_run(&j);
	assert_int_equal(j.rcpts[0].result, DELIVER_RCPT_TEMP);
	assert_string_equal(j.rcpts[0].enh, "4.4.3");
	assert_int_equal(strncmp(j.rcpts[0].reply, "451 4.4.3 example.test: ", 24), 0);
	assert_string_equal(j.rep.relay, "");
	job_free(&j);
}

/* ---- fixtures -------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_deliver_smtp.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	unsigned port;
	dns_sink = bind_loopback(SOCK_DGRAM, &port);
	char spec[64], err[256];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", port);
	dns = dns_new(spec, err, sizeof(err));
	return dns != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
	dns_free(dns);
	close(dns_sink);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	pool = oconn_pool_new(30, 0);
	return 0;
}

static int teardown(void **state)
{
	oconn_pool_free(pool);
	pool = NULL;
	return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_deliver_pipelined_transaction_bytes),
		T(test_deliver_without_pipelining_one_by_one),
		T(test_deliver_mixed_rcpt_results),
		T(test_deliver_all_rcpts_refused_rset_no_data),
		T(test_deliver_pipelined_all_refused_data_ignored_then_rset),
		T(test_deliver_mail_452_all_temp),
		T(test_deliver_data_554_perm),
		T(test_deliver_final_451_temp),
		T(test_deliver_lmtp_reply_per_recipient),
		T(test_deliver_lmtp_inet_missing_reply_is_temp),
		T(test_deliver_big_content_chunked_and_stuffed),
		T(test_deliver_hangup_mid_data_temp),
		T(test_deliver_size_too_big_perm_without_mail),
		T(test_deliver_reuses_session),
		T(test_deliver_max_messages_closes_session),
		T(test_deliver_dead_cached_session_retried_fresh),
		T(test_deliver_cached_session_421_retried_fresh),
		T(test_deliver_many_recipients_pipelined_in_groups),
		T(test_deliver_rcpt_421_closes_session),
		T(test_deliver_busy_when_slots_taken),
		T(test_deliver_connection_refused_temp_and_logged),
		T(test_deliver_greeting_554_perm),
		T(test_deliver_dns_failures),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
