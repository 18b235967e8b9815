/*
 * test_queue.c — the queue with a real spool, a real event_base and a real
 * config: commit -> delivery -> removal, recovery at start, per-recipient
 * results (delivered, unknown user, remote with DNS failing, broken Maildir path),
 * retry and expiry driven through queue_deliver() with a chosen `now`, and
 * quarantine of a corrupt queue file; the admin's actions (flush, bounce,
 * hold, release, delete), through queue_deliver()'s flags and through a
 * running queue. Log lines are captured from stderr and checked too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "deliver_maildir.h"
#include "dns.h"
#include "outbound_conn.h"
#include "queue.h"
#include "queue_deliver.h"
#include "spool.h"

#define WAIT_SECONDS 20

static char dir[64];
static struct config *cfg;
static struct event_base *base;
static struct spool *spool;
static struct dns *dns;			/* a loopback port where no DNS server answers */
static struct oconn_pool *pool;
static struct queue_env qenv;
static int saved_stderr = -1;

static void write_file(const char *name, const char *text)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void path_of(char *out, size_t size, const char *sub)
{
	snprintf(out, size, "%s/%s", dir, sub);
}

static size_t count_entries(const char *sub)
{
	char path[256];
	path_of(path, sizeof(path), sub);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The one file in dir/sub (there must be exactly one) into out. */
static void read_only_file(const char *sub, struct buf *out)
{
	char path[512];
	path_of(path, sizeof(path), sub);
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	char name[256] = "";
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			snprintf(name, sizeof(name), "%s", e->d_name);
	closedir(d);
	assert_true(name[0] != '\0');
	char full[800];
	snprintf(full, sizeof(full), "%s/%s", path, name);
	int fd = open(full, O_RDONLY);
	assert_true(fd >= 0);
	char tmp[4096];
	ssize_t r;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(out, tmp, (size_t)r);
	close(fd);
}

static void rm_rf(const char *path)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

/* stderr into dir/log while a test runs, so log lines can be checked */
static void capture_start(void)
{
	char path[160];
	path_of(path, sizeof(path), "log");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	assert_true(fd >= 0);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void capture_stop(struct buf *out)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	char path[160];
	path_of(path, sizeof(path), "log");
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[1024];
	while (fgets(line, sizeof(line), f) != NULL)
		buf_append_str(out, line);
	fclose(f);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-queue-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	write_file("users", "user1\nuser2\nstuck\n");
	write_file("notadir", "a regular file where a directory should be\n");
	char conf[2048];
	snprintf(conf, sizeof(conf),
		 "[global]\nspool = %s/spool\n"
		 "[server mx]\nlisten = 127.0.0.1:2594\nhostname = mx.example.test\n"
		 "local_domains = example.test\nmailbox = maildir:%s/mail/%%d/%%u\n"
		 "users = %s/users\nretry = 1m, 10m, 1h\nexpire = 1d\n"
		 "[server broken]\nlisten = 127.0.0.1:2595\nhostname = broken.example.test\n"
		 "local_domains = broken.test\nmailbox = maildir:%s/notadir/%%u\n",
		 dir, dir, dir, dir);
	write_file("vsmtpd.conf", conf);
	char path[160];
	path_of(path, sizeof(path), "vsmtpd.conf");
	struct buf err = BUF_INIT;
	int rc = config_load(path, &cfg, &err);
	if (rc != 0)
		fprintf(stderr, "%s", buf_str(&err));
	buf_free(&err);
	if (rc != 0)
		return -1;
	evthread_use_pthreads();
	return 0;
}

static int teardown(void **state)
{
	config_unref(cfg);
	rm_rf(dir);
	return 0;
}

/* Each test: a fresh spool and Maildir tree, a fresh base. */
static int test_setup(void **state)
{
	char path[160];
	path_of(path, sizeof(path), "spool");
	rm_rf(path);
	path_of(path, sizeof(path), "mail");
	rm_rf(path);
	char err[256];
	path_of(path, sizeof(path), "spool");
	spool = spool_open(path, 2, err, sizeof(err));
	if (spool == NULL) {
		fprintf(stderr, "spool_open: %s\n", err);
		return -1;
	}
	dns = dns_new("127.0.0.1:9", err, sizeof(err));
	pool = oconn_pool_new(0, 0);
	qenv = (struct queue_env){ .spool = spool, .dns = dns, .pool = pool, .started = 0 };
	base = event_base_new();
	return base == NULL || dns == NULL ? -1 : 0;
}

static int test_teardown(void **state)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
	if (spool != NULL)
		spool_close(spool);
	spool = NULL;
	oconn_pool_free(pool);
	pool = NULL;
	dns_free(dns);
	dns = NULL;
	event_base_free(base);
	base = NULL;
	return 0;
}

struct commit_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int err;
};

static void commit_done(void *arg, int err)
{
	struct commit_wait *w = arg;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->err = err;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Commits a message (waiting for the commit); its ID into id. */
static void make_msg(const char *server, const char *sender, const char *const *rcpts, size_t n,
		     const char *content, long long arrival, char id[SPOOL_ID_MAX + 1])
{
	struct envelope env;
	envelope_init(&env);
	env.arrival = arrival;
	env.server = xstrdup(server);
	env.sender = xstrdup(sender);
	env.client_addr = xstrdup("127.0.0.1");
	env.helo = xstrdup("client.test");
	for (size_t i = 0; i < n; i++)
		envelope_add_rcpt(&env, rcpts[i], NULL, 0);
	struct spool_msg *m = spool_msg_begin(spool, &env, NULL, 0);
	assert_non_null(m);
	assert_int_equal(spool_msg_write(m, content, strlen(content)), 0);
	snprintf(id, SPOOL_ID_MAX + 1, "%s", env.id);
	struct commit_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };
	spool_msg_commit(m, commit_done, &w);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	assert_int_equal(w.err, 0);
	envelope_free(&env);
}

/* Runs the base until done(arg) holds (checked every 10 ms) or the deadline. */
static bool run_until(bool (*done)(void *arg), void *arg)
{
	time_t deadline = time(NULL) + WAIT_SECONDS;
	while (!done(arg)) {
		if (time(NULL) > deadline)
			return false;
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return true;
}

static bool queue_dir_empty(void *arg)
{
	return count_entries("spool/queue") == 0;
}

static void hook_submit(void *arg, const char *id)
{
	queue_submit(arg, id);
}

static const char CONTENT[] = "Received: from client.test\r\nSubject: test\r\n\r\nbody line\r\n"
			      "lone\rcr\r\n..leading dot kept as stored\r\n";
static const char STORED_BODY[] = "Received: from client.test\nSubject: test\n\nbody line\n"
				  "lone\rcr\n..leading dot kept as stored\n";

static void test_queue_submit_delivers_and_removes(void **state)
{
	struct queue *q = queue_new(base, spool, cfg, 2, dns, pool);
	spool_set_commit_hook(spool, hook_submit, q);
	const char *rcpts[] = { "user1@example.test", "User2@Example.Test" };
	char id[SPOOL_ID_MAX + 1];

	capture_start();
	make_msg("mx", "sender@remote.test", rcpts, 2, CONTENT, time(NULL), id);
	bool ok = run_until(queue_dir_empty, NULL);
	spool_set_commit_hook(spool, NULL, NULL);
	queue_free(q);
	struct buf log = BUF_INIT;
	capture_stop(&log);
	assert_true(ok);

	struct buf got = BUF_INIT;
	read_only_file("mail/example.test/user1/new", &got);
	struct buf want = BUF_INIT;
	buf_printf(&want, "Return-Path: <sender@remote.test>\nDelivered-To: user1@example.test\n%s",
		   STORED_BODY);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	buf_reset(&got);
	buf_reset(&want);
	/* the recipient as accepted in Delivered-To; the path lower-cased */
	read_only_file("mail/example.test/user2/new", &got);
	buf_printf(&want, "Return-Path: <sender@remote.test>\nDelivered-To: User2@Example.Test\n%s",
		   STORED_BODY);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	assert_int_equal(count_entries("mail/example.test/user1/tmp"), 0);

	char line[256];
	snprintf(line, sizeof(line), "event=delivered id=%s to=<user1@example.test> delay=0 status=sent mailbox=%s/mail/example.test/user1/new/",
		 id, dir);
	assert_non_null(strstr(buf_str(&log), line));
	snprintf(line, sizeof(line), "event=removed id=%s\n", id);
	assert_non_null(strstr(buf_str(&log), line));
	buf_free(&got);
	buf_free(&want);
	buf_free(&log);
}

static bool two_delivered(void *arg)
{
	return count_entries("mail/example.test/user1/new") == 2 && queue_dir_empty(NULL);
}

static void test_queue_recover_delivers_spooled(void **state)
{
	const char *r1[] = { "user1@example.test" };
	char id1[SPOOL_ID_MAX + 1], id2[SPOOL_ID_MAX + 1];
	/* committed while no queue ran (a restart) */
	make_msg("mx", "", r1, 1, "Subject: one\r\n\r\n1\r\n", time(NULL), id1);
	make_msg("mx", "a@b.test", r1, 1, "Subject: two\r\n\r\n2\r\n", time(NULL), id2);
	spool_close(spool);
	char path[160], err[256];
	path_of(path, sizeof(path), "spool");
	spool = spool_open(path, 2, err, sizeof(err));
	assert_non_null(spool);
	assert_int_equal(count_entries("spool/queue"), 2);

	struct queue *q = queue_new(base, spool, cfg, 3, dns, pool);
	capture_start();
	assert_int_equal(queue_recover(q), 2);
	bool ok = run_until(two_delivered, NULL);
	queue_free(q);
	struct buf log = BUF_INIT;
	capture_stop(&log);
	assert_true(ok);
	char line[128];
	snprintf(line, sizeof(line), "event=removed id=%s\n", id1);
	assert_non_null(strstr(buf_str(&log), line));
	snprintf(line, sizeof(line), "event=removed id=%s\n", id2);
	assert_non_null(strstr(buf_str(&log), line));
	buf_free(&log);
}

struct state_wait {
	const char *id;
	char want[8];	/* the expected state letters, in order */
};

static bool states_are(void *arg)
{
	struct state_wait *w = arg;
	struct spool_file f;
	if (spool_file_open(spool, w->id, &f) < 0)
		return false;
	bool same = f.env.nrcpts == strlen(w->want);
	for (size_t i = 0; same && i < f.env.nrcpts; i++)
		same = f.env.rcpts[i].state == w->want[i];
	spool_file_close(&f);
	return same;
}

static void test_queue_mixed_results_per_recipient(void **state)
{
	struct queue *q = queue_new(base, spool, cfg, 2, dns, pool);
	spool_set_commit_hook(spool, hook_submit, q);
	const char *rcpts[] = { "user1@example.test", "nobody@example.test", "someone@remote.test",
				"bob@broken.test" };
	char id[SPOOL_ID_MAX + 1];
	long long t0 = time(NULL);

	capture_start();
	make_msg("mx", "s@x.test", rcpts, 4, "Subject: mixed\r\n\r\nx\r\n", t0, id);
	struct state_wait w = { id, "DFPF" };
	bool ok = run_until(states_are, &w);
	spool_set_commit_hook(spool, NULL, NULL);
	queue_free(q);	/* waits for the job's sync */
	struct buf log = BUF_INIT;
	capture_stop(&log);
	assert_true(ok);

	struct spool_file f;
	assert_int_equal(spool_file_open(spool, id, &f), 0);
	assert_int_equal(f.env.rcpts[0].state, RCPT_DELIVERED);
	assert_int_equal(f.env.rcpts[1].state, RCPT_FAILED);
	assert_int_equal(f.env.rcpts[2].state, RCPT_PENDING);
	assert_int_equal(f.env.rcpts[2].tries, 1);
	/* first retry step of server mx: 1m */
	assert_true(f.env.rcpts[2].next_try >= t0 + 60 && f.env.rcpts[2].next_try <= time(NULL) + 60);
	assert_int_equal(f.env.rcpts[3].state, RCPT_FAILED);
	spool_file_close(&f);

	const char *s = buf_str(&log);
	char line[256];
	snprintf(line, sizeof(line), "event=failed id=%s to=<nobody@example.test> delay=", id);
	assert_non_null(strstr(s, line));
	assert_non_null(strstr(s, " status=bounced dsn=5.1.1 reason=\"5.1.1 user unknown\""));
	snprintf(line, sizeof(line), "event=deferred id=%s to=<someone@remote.test> delay=", id);
	assert_non_null(strstr(s, line));
	assert_non_null(strstr(s, " status=deferred dsn=4.4.3 tries=1 next_try=60 reason=\""));
	snprintf(line, sizeof(line), "event=failed id=%s to=<bob@broken.test> delay=", id);
	assert_non_null(strstr(s, line));
	snprintf(line, sizeof(line), "dsn=5.2.0 reason=\"5.2.0 maildir ");
	assert_non_null(strstr(s, line));
	assert_non_null(strstr(s, "Not a directory"));
	snprintf(line, sizeof(line), "event=removed id=%s", id);
	assert_null(strstr(s, line));
	buf_free(&log);

	/* A later attempt long past expiry (mx: 1d): the remote recipient
	 * fails for good (4.4.7); nothing else is touched. */
	long long next = 0;
	long long later = t0 + 30 * 86400;
	capture_start();
	assert_int_equal(queue_deliver(&qenv, cfg, id, later, 0, &next), QUEUE_OUTCOME_FORGET);
	capture_stop(&log);
	snprintf(line, sizeof(line), "event=failed id=%s to=<someone@remote.test> delay=%lld status=bounced "
		 "dsn=4.4.7 reason=\"4.4.7 delivery time expired after 2 tries; last error: ", id, later - t0);
	assert_non_null(strstr(buf_str(&log), line));
	assert_int_equal(spool_file_open(spool, id, &f), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_entries("mail/example.test/user1/new"), 1);
	buf_free(&log);
}

static void test_queue_retry_schedule_then_expiry(void **state)
{
	/* A Maildir whose tmp/ is a dangling symlink fails with ENOENT, a
	 * temporary error, even for root. Server mx: retry 1m, 10m, 1h; expire 1d. */
	char md[256], cmd[600];
	snprintf(md, sizeof(md), "%s/mail/example.test/stuck", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && ln -s nowhere '%s/tmp'", md, md);
	assert_int_equal(system(cmd), 0);
	const char *rcpts[] = { "stuck@example.test" };
	char id[SPOOL_ID_MAX + 1];
	long long t0 = 1700000000LL;
	long long next = 0;
	make_msg("mx", "s@x.test", rcpts, 1, "x\r\n", t0, id);

	struct buf log = BUF_INIT;
	capture_start();
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 60);
	/* not due yet: nothing changes */
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 59, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 60);
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 60, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 660);
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 660, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 4260);
	/* the last step repeats */
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 4260, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 7860);
	/* capped at the give-up time t0 + 1d */
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 86000, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 86400);
	struct spool_file f;
	assert_int_equal(spool_file_open(spool, id, &f), 0);
	/* past delay_warning (4h): the sender was told, once */
	assert_int_equal(f.env.rcpts[0].state, RCPT_WARNED);
	assert_int_equal(f.env.rcpts[0].tries, 5);
	assert_int_equal(f.env.rcpts[0].next_try, t0 + 86400);
	spool_file_close(&f);
	/* the try at the give-up time fails for good, and the file goes */
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 86400, 0, &next), QUEUE_OUTCOME_FORGET);
	capture_stop(&log);
	assert_int_equal(spool_file_open(spool, id, &f), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_entries("mail/example.test/stuck/new"), 0);
	char line[512];
	snprintf(line, sizeof(line), "event=deferred id=%s to=<stuck@example.test> delay=0 status=deferred "
		 "dsn=4.3.0 tries=1 next_try=60 reason=\"4.3.0 maildir %s: open tmp/: No such file or directory\"",
		 id, md);
	assert_non_null(strstr(buf_str(&log), line));
	snprintf(line, sizeof(line), "event=deferred id=%s to=<stuck@example.test> delay=86000 status=deferred "
		 "dsn=4.3.0 tries=5 next_try=400 ", id);
	assert_non_null(strstr(buf_str(&log), line));
	snprintf(line, sizeof(line), "event=failed id=%s to=<stuck@example.test> delay=86400 status=bounced "
		 "dsn=4.4.7 reason=\"4.4.7 delivery time "
		 "expired after 6 tries; last error: 4.3.0 maildir %s: open tmp/: No such file or directory\"",
		 id, md);
	assert_non_null(strstr(buf_str(&log), line));
	snprintf(line, sizeof(line), "event=removed id=%s\n", id);
	assert_non_null(strstr(buf_str(&log), line));
	/* one delay report (the try at 86000 s), then the failure report */
	snprintf(line, sizeof(line), " orig=%s kind=delay to=<s@x.test> rcpts=1\n", id);
	const char *delay = strstr(buf_str(&log), line);
	assert_non_null(delay);
	assert_null(strstr(delay + 1, line));
	snprintf(line, sizeof(line), " orig=%s kind=failure to=<s@x.test> rcpts=1\n", id);
	assert_non_null(strstr(delay, line));
	buf_free(&log);
}

static void test_queue_corrupt_file_is_quarantined(void **state)
{
	const char *rcpts[] = { "user1@example.test" };
	char id[SPOOL_ID_MAX + 1], path[256];
	make_msg("mx", "s@x.test", rcpts, 1, "Subject: c\r\n\r\nbody\r\n", time(NULL), id);
	/* tear the trailer off, as a crash or a bad disk might */
	snprintf(path, sizeof(path), "%s/spool/queue/%s", dir, id);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 5), 0);

	long long next = 0;
	struct buf log = BUF_INIT;
	capture_start();
	assert_int_equal(queue_deliver(&qenv, cfg, id, time(NULL), 0, &next), QUEUE_OUTCOME_FORGET);
	capture_stop(&log);
	assert_int_equal(count_entries("spool/queue"), 0);
	assert_int_equal(count_entries("spool/corrupt"), 1);
	assert_int_equal(count_entries("mail/example.test/user1/new"), 0);
	char line[128];
	snprintf(line, sizeof(line), "event=quarantined id=%s", id);
	assert_non_null(strstr(buf_str(&log), line));

	/* a message that vanished: forgotten, not retried */
	buf_reset(&log);
	capture_start();
	assert_int_equal(queue_deliver(&qenv, cfg, "NOSUCHID0000", time(NULL), 0, &next),
			 QUEUE_OUTCOME_FORGET);
	capture_stop(&log);
	buf_free(&log);
}

/* ---- admin actions -------------------------------------------------------- */

/* Recipient i's tries as written in queue/ID; -1 when the file cannot be read. */
static int tries_of(const char *id, size_t i)
{
	struct spool_file f;
	if (spool_file_open(spool, id, &f) < 0)
		return -1;
	int t = i < f.env.nrcpts ? (int)f.env.rcpts[i].tries : -1;
	spool_file_close(&f);
	return t;
}

/* Whether the one file in dir/sub (there must be at most one) contains text. */
static bool only_file_has(const char *sub, const char *text)
{
	if (count_entries(sub) != 1)
		return false;
	struct buf b = BUF_INIT;
	read_only_file(sub, &b);
	bool yes = strstr(buf_str(&b), text) != NULL;
	buf_free(&b);
	return yes;
}

static void test_queue_deliver_force_ignores_schedule(void **state)
{
	char md[256], cmd[600];
	snprintf(md, sizeof(md), "%s/mail/example.test/stuck", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && ln -s nowhere '%s/tmp'", md, md);
	assert_int_equal(system(cmd), 0);
	const char *rcpts[] = { "stuck@example.test" };
	char id[SPOOL_ID_MAX + 1];
	long long t0 = 1700000000LL, next = 0;
	make_msg("mx", "s@x.test", rcpts, 1, "x\r\n", t0, id);

	struct buf log = BUF_INIT;
	capture_start();
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 60);
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 5, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_int_equal(tries_of(id, 0), 1);
	/* forced: tried although due only at t0 + 60; the schedule goes on from there */
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 5, QUEUE_DELIVER_FORCE, &next),
			 QUEUE_OUTCOME_KEEP);
	assert_int_equal(next, t0 + 5 + 600);
	capture_stop(&log);
	assert_int_equal(tries_of(id, 0), 2);
	char line[256];
	snprintf(line, sizeof(line), "event=deferred id=%s to=<stuck@example.test> delay=5 status=deferred "
		 "dsn=4.3.0 tries=2 next_try=600 ", id);
	assert_non_null(strstr(buf_str(&log), line));
	buf_free(&log);
}

static void test_queue_deliver_bounce_fails_pending_and_reports(void **state)
{
	/* user1 is delivered at once; the remote recipient waits for its retry
	 * (DNS fails). The bounce fails it before it is due, with a report. */
	const char *rcpts[] = { "user1@example.test", "far@remote.test" };
	char id[SPOOL_ID_MAX + 1];
	long long t0 = (long long)time(NULL), next = 0;
	make_msg("mx", "s@x.test", rcpts, 2, "Subject: to return\r\n\r\nx\r\n", t0, id);

	struct buf log = BUF_INIT;
	capture_start();
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0, 0, &next), QUEUE_OUTCOME_KEEP);
	assert_true(next >= t0 + 60);
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 10, QUEUE_DELIVER_BOUNCE, &next),
			 QUEUE_OUTCOME_FORGET);
	capture_stop(&log);
	assert_int_equal(tries_of(id, 0), -1);
	assert_int_equal(count_entries("mail/example.test/user1/new"), 1);
	const char *s = buf_str(&log);
	char line[256];
	snprintf(line, sizeof(line), "event=failed id=%s to=<far@remote.test> delay=10 status=bounced "
		 "dsn=5.0.0 "
		 "reason=\"5.0.0 message returned by the administrator\"", id);
	assert_non_null(strstr(s, line));
	/* the delivered recipient is not touched again */
	snprintf(line, sizeof(line), "event=failed id=%s to=<user1@example.test>", id);
	assert_null(strstr(s, line));
	snprintf(line, sizeof(line), " orig=%s kind=failure to=<s@x.test> rcpts=1\n", id);
	assert_non_null(strstr(s, line));
	/* the report is queued: the one file left, saying why */
	assert_true(only_file_has("spool/queue", "returned by the administrator"));
	buf_free(&log);
}

/* Whether the queue has id idle again, its recipient tried w->tries times. */
struct idle_wait {
	struct queue *q;
	const char *id;
	int tries;
};

static bool idle_after(void *arg)
{
	struct idle_wait *w = arg;
	struct queue_entry *e;
	size_t n = queue_list(w->q, &e);
	bool idle = n == 1 && strcmp(e[0].id, w->id) == 0 && !e[0].busy && e[0].next_try > time(NULL);
	free(e);
	return idle && tries_of(w->id, 0) == w->tries;
}

static void test_queue_copy_published_by_killed_run_is_not_repeated(void **state)
{
	/*
	 * The run that had this message published both Maildir copies and was
	 * killed before recording them; a reader moved user2's on to cur/. This
	 * run started after the message arrived, but its file was written since
	 * (as when the dead run flushed recipients that were not due and this
	 * run wrote the others' states first): both copies count, none is made
	 * again.
	 */
	const char *rcpts[] = { "user1@example.test", "user2@example.test" };
	char id[SPOOL_ID_MAX + 1], md[256], unique[64], from[600], to[600];
	long long t0 = 1700000000LL, next = 0;
	make_msg("mx", "s@x.test", rcpts, 2, "Subject: once\r\n\r\nx\r\n", t0, id);
	struct spool_file f;
	assert_int_equal(spool_file_open(spool, id, &f), 0);
	for (size_t i = 0; i < 2; i++) {
		struct maildir_result res;
		snprintf(md, sizeof(md), "%s/mail/example.test/user%zu", dir, i + 1);
		snprintf(unique, sizeof(unique), "%lld.%s_%zu", t0, id, i);
		assert_int_equal(deliver_maildir_once(md, unique, false, f.env.sender, rcpts[i], f.fd,
						      f.content_off, f.content_len, &res), 0);
		if (i == 1) {
			snprintf(from, sizeof(from), "%s/new/%s", md, res.name);
			snprintf(to, sizeof(to), "%s/cur/%s:2,S", md, res.name);
			assert_int_equal(rename(from, to), 0);
		}
	}
	spool_file_close(&f);

	qenv.started = t0 + 10;
	struct buf log = BUF_INIT;
	capture_start();
	assert_int_equal(queue_deliver(&qenv, cfg, id, t0 + 20, 0, &next), QUEUE_OUTCOME_FORGET);
	capture_stop(&log);
	char line[256];
	for (size_t i = 0; i < 2; i++) {
		snprintf(line, sizeof(line), "event=delivered id=%s to=<%s> delay=20 status=sent mailbox=", id,
			 rcpts[i]);
		const char *at = strstr(buf_str(&log), line);
		assert_non_null(at);
		char rest[512];
		snprintf(rest, sizeof(rest), "%.*s", (int)strcspn(at, "\n"), at);
		assert_non_null(strstr(rest, " already=yes"));
	}
	buf_free(&log);
	assert_int_equal(count_entries("mail/example.test/user1/new"), 1);
	assert_int_equal(count_entries("mail/example.test/user2/new"), 0);
	assert_int_equal(count_entries("mail/example.test/user2/cur"), 1);
}

static void test_queue_hold_release_delete(void **state)
{
	struct queue *q = queue_new(base, spool, cfg, 1, dns, pool);
	spool_set_commit_hook(spool, hook_submit, q);
	const char *rcpts[] = { "far@remote.test" };
	char id[SPOOL_ID_MAX + 1];
	struct buf log = BUF_INIT;
	capture_start();
	make_msg("mx", "user1@example.test", rcpts, 1, "Subject: h\r\n\r\nx\r\n", time(NULL), id);
	struct idle_wait w = { q, id, 1 };
	bool ok1 = run_until(idle_after, &w);

	int held = queue_hold(q, id);
	size_t count_held = queue_count(q);
	errno = 0;
	int held2 = queue_hold(q, id);
	int err_held2 = errno;
	errno = 0;
	int flushed_held = queue_flush(q, id, NULL);
	int err_flush = errno;
	int flushed_all = queue_flush(q, NULL, NULL);
	/* a restart does not see it */
	int recovered = queue_recover(q);

	int released = queue_release(q, id);
	errno = 0;
	int released2 = queue_release(q, id);
	int err_released2 = errno;
	/* released: due now, tried once more */
	w.tries = 2;
	bool ok2 = run_until(idle_after, &w);

	/* a held message can be deleted too; no report either way */
	int held3 = queue_hold(q, id);
	int deleted = queue_delete(q, id);
	errno = 0;
	int deleted2 = queue_delete(q, id);
	int err_deleted2 = errno;
	spool_set_commit_hook(spool, NULL, NULL);
	queue_free(q);
	capture_stop(&log);

	assert_true(ok1);
	assert_int_equal(held, 0);
	assert_int_equal(count_held, 0);
	assert_int_equal(held2, -1);
	assert_int_equal(err_held2, ENOENT);
	assert_int_equal(flushed_held, -1);
	assert_int_equal(err_flush, ENOENT);
	assert_int_equal(flushed_all, 0);
	assert_int_equal(recovered, 0);
	assert_int_equal(released, 0);
	assert_int_equal(released2, -1);
	assert_int_equal(err_released2, ENOENT);
	assert_true(ok2);
	assert_int_equal(held3, 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(deleted2, -1);
	assert_int_equal(err_deleted2, ENOENT);
	assert_int_equal(count_entries("spool/queue"), 0);
	assert_int_equal(count_entries("spool/hold"), 0);
	assert_int_equal(count_entries("mail/example.test/user1/new"), 0);

	const char *s = buf_str(&log);
	char line[128];
	snprintf(line, sizeof(line), "event=held id=%s\n", id);
	const char *first = strstr(s, line);
	assert_non_null(first);
	assert_non_null(strstr(first + 1, line));
	snprintf(line, sizeof(line), "event=released id=%s\n", id);
	assert_non_null(strstr(s, line));
	snprintf(line, sizeof(line), "event=deleted id=%s held=yes\n", id);
	assert_non_null(strstr(s, line));
	assert_non_null(strstr(s, "event=flushed count=0\n"));
	assert_null(strstr(s, "event=report "));
	buf_free(&log);
}

static bool bounced_and_reported(void *arg)
{
	return queue_dir_empty(NULL) &&
	       only_file_has("mail/example.test/user1/new", "returned by the administrator");
}

static void test_queue_flush_and_bounce_while_busy(void **state)
{
	struct queue *q = queue_new(base, spool, cfg, 1, dns, pool);
	spool_set_commit_hook(spool, hook_submit, q);
	const char *rcpts[] = { "far@remote.test" };
	char id[SPOOL_ID_MAX + 1];
	struct buf log = BUF_INIT;
	capture_start();
	make_msg("mx", "user1@example.test", rcpts, 1, "Subject: b\r\n\r\nx\r\n", time(NULL), id);
	struct idle_wait w = { q, id, 1 };
	bool ok1 = run_until(idle_after, &w);

	int other = queue_flush(q, NULL, "other.test");
	/* the flush starts its job at once: the message is busy from here */
	int flushed = queue_flush(q, NULL, "REMOTE.test");
	struct queue_entry *e;
	size_t n = queue_list(q, &e);
	bool busy = n == 1 && e[0].busy;
	free(e);
	errno = 0;
	int hold = queue_hold(q, id);
	int err_hold = errno;
	errno = 0;
	int del = queue_delete(q, id);
	int err_del = errno;
	/* taken now, done once the forced attempt is back */
	int bounce = queue_bounce(q, id);
	bool ok2 = run_until(bounced_and_reported, NULL);
	spool_set_commit_hook(spool, NULL, NULL);
	queue_free(q);
	capture_stop(&log);

	assert_true(ok1);
	assert_int_equal(other, 0);
	assert_int_equal(flushed, 1);
	assert_true(busy);
	assert_int_equal(hold, -1);
	assert_int_equal(err_hold, EBUSY);
	assert_int_equal(del, -1);
	assert_int_equal(err_del, EBUSY);
	assert_int_equal(bounce, 0);
	assert_true(ok2);
	assert_int_equal(count_entries("spool/hold"), 0);

	const char *s = buf_str(&log);
	char line[256];
	assert_non_null(strstr(s, "event=flushed domain=other.test count=0\n"));
	assert_non_null(strstr(s, "event=flushed domain=REMOTE.test count=1\n"));
	snprintf(line, sizeof(line), "event=bounce_requested id=%s busy=yes\n", id);
	assert_non_null(strstr(s, line));
	/* the forced try, long before its retry was due, then the bounce */
	snprintf(line, sizeof(line), "event=deferred id=%s to=<far@remote.test> ", id);
	const char *forced = strstr(s, line);
	assert_non_null(forced);
	assert_non_null(strstr(forced, " tries=2 "));
	snprintf(line, sizeof(line), "event=failed id=%s to=<far@remote.test> ", id);
	const char *failed = strstr(s, line);
	assert_non_null(failed);
	assert_true(failed > forced);
	assert_non_null(strstr(failed, "dsn=5.0.0 reason=\"5.0.0 message returned by the administrator\""));
	snprintf(line, sizeof(line), " orig=%s kind=failure to=<user1@example.test> rcpts=1\n", id);
	assert_non_null(strstr(s, line));
	buf_free(&log);
}

static void test_queue_bounce_of_held_message(void **state)
{
	struct queue *q = queue_new(base, spool, cfg, 1, dns, pool);
	spool_set_commit_hook(spool, hook_submit, q);
	const char *rcpts[] = { "far@remote.test" };
	char id[SPOOL_ID_MAX + 1];
	struct buf log = BUF_INIT;
	capture_start();
	make_msg("mx", "user1@example.test", rcpts, 1, "Subject: hb\r\n\r\nx\r\n", time(NULL), id);
	struct idle_wait w = { q, id, 1 };
	bool ok1 = run_until(idle_after, &w);
	int held = queue_hold(q, id);
	/* released to be returned */
	int bounce = queue_bounce(q, id);
	errno = 0;
	int none = queue_bounce(q, "NOSUCHID0000");
	int err_none = errno;
	bool ok2 = run_until(bounced_and_reported, NULL);
	spool_set_commit_hook(spool, NULL, NULL);
	queue_free(q);
	capture_stop(&log);
	assert_true(ok1);
	assert_int_equal(held, 0);
	assert_int_equal(bounce, 0);
	assert_int_equal(none, -1);
	assert_int_equal(err_none, ENOENT);
	assert_true(ok2);
	assert_int_equal(count_entries("spool/hold"), 0);
	char line[128];
	snprintf(line, sizeof(line), "event=released id=%s\n", id);
	const char *released = strstr(buf_str(&log), line);
	assert_non_null(released);
	snprintf(line, sizeof(line), "event=bounce_requested id=%s\n", id);
	assert_non_null(strstr(released, line));
	buf_free(&log);
}

struct submitter {
	const char *rcpt;
	int n;
};

static void *submit_thread(void *arg)
{
	struct submitter *s = arg;
	const char *rcpts[] = { s->rcpt };
	char id[SPOOL_ID_MAX + 1];
	for (int i = 0; i < s->n; i++)
		make_msg("mx", "s@x.test", rcpts, 1, "Subject: many\r\n\r\nx\r\n", time(NULL), id);
	return NULL;
}

static bool all_many_delivered(void *arg)
{
	return count_entries("mail/example.test/user1/new") == 200 &&
	       count_entries("mail/example.test/user2/new") == 200 && queue_dir_empty(NULL);
}

static void test_queue_many_concurrent_submits(void **state)
{
	/* 400 messages from two committing threads through 3 delivery threads
	 * (at most 12 jobs in flight): every one delivered once, all removed */
	struct queue *q = queue_new(base, spool, cfg, 3, dns, pool);
	spool_set_commit_hook(spool, hook_submit, q);
	struct submitter s1 = { "user1@example.test", 200 }, s2 = { "user2@example.test", 200 };
	pthread_t t1, t2;
	capture_start();
	assert_int_equal(pthread_create(&t1, NULL, submit_thread, &s1), 0);
	assert_int_equal(pthread_create(&t2, NULL, submit_thread, &s2), 0);
	bool ok = run_until(all_many_delivered, NULL);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	spool_set_commit_hook(spool, NULL, NULL);
	queue_free(q);
	struct buf log = BUF_INIT;
	capture_stop(&log);
	assert_true(ok);
	size_t removed = 0;
	for (const char *p = buf_str(&log); (p = strstr(p, "event=removed")) != NULL; p++)
		removed++;
	assert_int_equal(removed, 400);
	buf_free(&log);
}

static void test_queue_free_with_waiting_messages(void **state)
{
	/* remote recipients wait (DNS fails); freeing the queue loses nothing */
	const char *rcpts[] = { "x@remote.test" };
	char id[SPOOL_ID_MAX + 1];
	for (int i = 0; i < 5; i++)
		make_msg("mx", "s@x.test", rcpts, 1, "x\r\n", time(NULL), id);
	struct queue *q = queue_new(base, spool, cfg, 1, dns, pool);
	capture_start();
	assert_int_equal(queue_recover(q), 5);
	/* let the first round run, then stop while the rest may be in flight */
	struct timeval tv = { 0, 200000 };
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	queue_free(q);
	struct buf log = BUF_INIT;
	capture_stop(&log);
	assert_int_equal(count_entries("spool/queue"), 5);
	buf_free(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_submit_delivers_and_removes, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_recover_delivers_spooled, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_mixed_results_per_recipient, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_retry_schedule_then_expiry, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_corrupt_file_is_quarantined, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_deliver_force_ignores_schedule, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_deliver_bounce_fails_pending_and_reports, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_copy_published_by_killed_run_is_not_repeated, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_hold_release_delete, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_flush_and_bounce_while_busy, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_bounce_of_held_message, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_many_concurrent_submits, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_queue_free_with_waiting_messages, test_setup, test_teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
