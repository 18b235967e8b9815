/*
 * test_spool.c — the durable spool on real directories under /tmp: commit
 * and read back byte for byte, abort, crash leftovers, concurrent commits
 * with unique IDs, refusal of truncated and torn files, in-place recipient
 * updates, removal, quarantine, scanning, holding and releasing, and write errors (EFBIG from a
 * file size limit; ENOSPC from a tiny tmpfs when a mount namespace can be
 * had, skipped otherwise); the free-space check (min_free_space): its
 * arithmetic, its once-per-transition log lines, its one-second cache on
 * a tmpfs of known size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "log.h"
#include "spool.h"

/* ---- fixtures and helpers ------------------------------------------------- */

struct fixture {
	char dir[64];		/* a fresh directory; the spool is dir/spool */
	char spool[96];
	struct spool *s;
};

static void rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		while (d != NULL && (de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char sub[512];
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_tree(sub);
		}
		if (d != NULL)
			closedir(d);
		rmdir(path);
		return;
	}
	unlink(path);
}

static struct spool *open_spool(const char *path, unsigned nthreads)
{
	char err[256] = "";
	struct spool *s = spool_open(path, nthreads, err, sizeof(err));
	if (s == NULL)
		fail_msg("spool_open(%s): %s", path, err);
	return s;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/vsmtpd-test-spool-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->dir);
	f->s = open_spool(f->spool, 4);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	spool_close(f->s);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static void path_of(const struct fixture *f, const char *sub, const char *id, char *out, size_t size)
{
	snprintf(out, size, "%s/%s/%s", f->spool, sub, id);
}

static bool exists(const struct fixture *f, const char *sub, const char *id)
{
	char p[256];
	struct stat st;
	path_of(f, sub, id, p, sizeof(p));
	return lstat(p, &st) == 0;
}

/* Number of entries in spool/sub, dot entries excluded. */
static int count_in(const char *spool, const char *sub)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", spool, sub);
	DIR *d = opendir(p);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_entries(const struct fixture *f, const char *sub)
{
	return count_in(f->spool, sub);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void sample_env(struct envelope *e, unsigned nrcpts)
{
	envelope_init(e);
	e->arrival = 1700000000;
	e->server = xstrdup("mx");
	e->sender = xstrdup("sender with space@example.test");
	e->client_addr = xstrdup("192.0.2.7");
	e->helo = xstrdup("client\r\n.example");
	e->envid = xstrdup("ENV1");
	e->ret = 1;
	e->body = 2;
	e->smtputf8 = true;
	for (unsigned i = 0; i < nrcpts; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "rcpt%u@example.test", i);
		envelope_add_rcpt(e, addr, i % 2 ? "rfc822;x@y" : NULL, i & 0xf);
	}
}

/* Collects done() calls: count, last error, and the order against the hook. */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int err;
	int hook_calls;
	bool hook_before_done;
	char hook_id[SPOOL_ID_MAX + 1];
};

static void waiter_init(struct waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
}

static void waiter_destroy(struct waiter *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

static void on_done(void *arg, int err)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->mu);
	w->done++;
	if (err != 0)
		w->err = err;
	w->hook_before_done = w->hook_calls == w->done;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void on_hook(void *arg, const char *id)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->mu);
	w->hook_calls++;
	snprintf(w->hook_id, sizeof(w->hook_id), "%s", id);
	pthread_mutex_unlock(&w->mu);
}

static void waiter_wait(struct waiter *w, int n)
{
	pthread_mutex_lock(&w->mu);
	while (w->done < n)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* Commits one message with the given content (spool_msg_commit_wait); returns the errno or 0. */
static int commit_one(struct spool *s, struct envelope *env, const char *prefix, const void *data,
		      size_t len, char id[SPOOL_ID_MAX + 1])
{
	struct spool_msg *m = spool_msg_begin(s, env, prefix, prefix != NULL ? strlen(prefix) : 0);
	assert_non_null(m);
	if (id != NULL)
		strcpy(id, spool_msg_id(m));
	spool_msg_write(m, data, len);
	return spool_msg_commit_wait(m) == 0 ? 0 : errno;
}

/* Reads n content bytes of an open queue file. */
static char *read_content(const struct spool_file *sf)
{
	char *p = xmalloc((size_t)sf->content_len + 1);
	assert_int_equal(pread(sf->fd, p, (size_t)sf->content_len, sf->content_off), sf->content_len);
	p[sf->content_len] = '\0';
	return p;
}

static void assert_same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* ---- opening ---------------------------------------------------------------- */

static void test_spool_open_creates_layout(void **state)
{
	struct fixture *f = *state;
	static const char *const subs[] = { "", "/tmp", "/queue", "/corrupt", "/hold" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char p[256];
		struct stat st;
		snprintf(p, sizeof(p), "%s%s", f->spool, subs[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	assert_true(exists(f, ".", "lock"));
}

static void test_spool_open_creates_missing_parents(void **state)
{
	struct fixture *f = *state;
	char p[256], err[256];
	snprintf(p, sizeof(p), "%s/a/b/c/", f->dir);
	struct spool *s = spool_open(p, 1, err, sizeof(err));
	assert_non_null(s);
	spool_close(s);
	snprintf(p, sizeof(p), "%s/a/b/c/queue", f->dir);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
}

static void test_spool_open_refuses_second_user(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	assert_null(spool_open(f->spool, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "another process is using"));
	assert_non_null(strstr(err, f->spool));
	/* once the first is closed, the spool can be opened again */
	spool_close(f->s);
	f->s = open_spool(f->spool, 2);
}

static void test_spool_open_errors_are_explained(void **state)
{
	struct fixture *f = *state;
	char p[256], err[256] = "";
	snprintf(p, sizeof(p), "%s/plainfile", f->dir);
	write_file(p, "x", 1);
	assert_null(spool_open(p, 1, err, sizeof(err)));
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "Not a directory"));
	snprintf(p, sizeof(p), "%s/plainfile/sub", f->dir);
	err[0] = '\0';
	assert_null(spool_open(p, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create"));
}

static void test_spool_open_removes_tmp_leftovers(void **state)
{
	struct fixture *f = *state;
	struct envelope e;
	sample_env(&e, 1);
	/* what a crash leaves: a message half received (its bytes copied
	 * aside, since a begun message cannot outlive its spool), junk */
	struct spool_msg *m = spool_msg_begin(f->s, &e, "Received: x\r\n", 13);
	assert_non_null(m);
	char id[SPOOL_ID_MAX + 1], p[256];
	strcpy(id, spool_msg_id(m));
	spool_msg_abort(m);
	path_of(f, "tmp", id, p, sizeof(p));
	write_file(p, "VSMTPD-QUEUE 1 000", 18);
	path_of(f, "tmp", "JUNK.123", p, sizeof(p));
	write_file(p, "junk", 4);
	path_of(f, "tmp", ".hidden", p, sizeof(p));
	write_file(p, "junk", 4);
	spool_close(f->s);
	assert_int_equal(count_entries(f, "tmp"), 2);
	f->s = open_spool(f->spool, 1);
	assert_int_equal(count_entries(f, "tmp"), 0);
	assert_false(exists(f, "tmp", ".hidden"));
	assert_false(exists(f, "tmp", id));
	assert_int_equal(count_entries(f, "queue"), 0);
	envelope_free(&e);
}

/* ---- IDs ------------------------------------------------------------------------ */

static void test_spool_ids_are_valid_and_increase(void **state)
{
	struct fixture *f = *state;
	struct envelope e;
	sample_env(&e, 1);
	char prev[SPOOL_ID_MAX + 1] = "";
	for (int i = 0; i < 300; i++) {
		struct spool_msg *m = spool_msg_begin(f->s, &e, NULL, 0);
		assert_non_null(m);
		const char *id = spool_msg_id(m);
		assert_string_equal(e.id, id);
		assert_int_equal(strlen(id), 15);
		assert_true(spool_format_id_ok(id));
		assert_int_equal(strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUV"), 15);
		assert_true(strcmp(prev, id) < 0);
		strcpy(prev, id);
		spool_msg_abort(m);
	}
	envelope_free(&e);
}

static void test_spool_begin_without_recipients_is_einval(void **state)
{
	struct fixture *f = *state;
	struct envelope e;
	sample_env(&e, 0);
	errno = 0;
	assert_null(spool_msg_begin(f->s, &e, NULL, 0));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(count_entries(f, "tmp"), 0);
	envelope_free(&e);
}

/* ---- commit and read back ---------------------------------------------------------- */

static void test_spool_commit_round_trip(void **state)
{
	struct fixture *f = *state;
	struct waiter hook;
	waiter_init(&hook);
	spool_set_commit_hook(f->s, on_hook, &hook);
	struct envelope e;
	sample_env(&e, 3);
	const char *prefix = "Received: from client\r\n";
	const char *body = "Subject: hi\r\n\r\nline with NUL \0 and \xff bytes\r\n.\r\n";
	size_t body_len = 48;
	char id[SPOOL_ID_MAX + 1];
	assert_int_equal(commit_one(f->s, &e, prefix, body, body_len, id), 0);
	assert_int_equal(hook.hook_calls, 1);
	assert_string_equal(hook.hook_id, id);
	assert_true(exists(f, "queue", id));
	assert_int_equal(count_entries(f, "tmp"), 0);

	struct spool_file sf;
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	assert_string_equal(sf.env.id, id);
	assert_int_equal(sf.env.arrival, e.arrival);
	assert_same_str(sf.env.server, e.server);
	assert_same_str(sf.env.sender, e.sender);
	assert_same_str(sf.env.client_addr, e.client_addr);
	assert_same_str(sf.env.helo, e.helo);
	assert_same_str(sf.env.envid, e.envid);
	assert_int_equal(sf.env.ret, 1);
	assert_int_equal(sf.env.body, 2);
	assert_true(sf.env.smtputf8);
	assert_int_equal(sf.env.nrcpts, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(sf.env.rcpts[i].addr, e.rcpts[i].addr);
		assert_same_str(sf.env.rcpts[i].orcpt, e.rcpts[i].orcpt);
		assert_int_equal(sf.env.rcpts[i].notify, e.rcpts[i].notify);
		assert_int_equal(sf.env.rcpts[i].state, RCPT_PENDING);
	}
	assert_int_equal(sf.content_off, sf.env.header_len);
	assert_int_equal(sf.content_len, strlen(prefix) + body_len);
	char *content = read_content(&sf);
	assert_memory_equal(content, prefix, strlen(prefix));
	assert_memory_equal(content + strlen(prefix), body, body_len);
	struct stat st;
	assert_int_equal(fstat(sf.fd, &st), 0);
	assert_int_equal(st.st_size, sf.content_off + sf.content_len + SPOOL_TRAILER_LEN);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(content);
	spool_file_close(&sf);
	assert_int_equal(sf.fd, -1);
	spool_set_commit_hook(f->s, NULL, NULL);
	waiter_destroy(&hook);
	envelope_free(&e);
}

/* A spool_direct_fn: records what it saw; delivers (true) when arg says so. */
struct direct_seen {
	bool deliver;
	int calls;
	char id[SPOOL_ID_MAX + 1];
	char content[64];
	size_t nrcpts;
};

static bool direct_fn(void *arg, const char *id, struct spool_file *f)
{
	struct direct_seen *d = arg;
	d->calls++;
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->nrcpts = f->env.nrcpts;
	size_t n = f->content_len < (off_t)sizeof(d->content) - 1 ? (size_t)f->content_len : sizeof(d->content) - 1;
	assert_int_equal(pread(f->fd, d->content, n, f->content_off), (ssize_t)n);
	d->content[n] = '\0';
	return d->deliver;
}

static int commit_direct(struct spool *s, struct envelope *env, const char *body, struct direct_seen *d,
			 char id[SPOOL_ID_MAX + 1])
{
	struct spool_msg *m = spool_msg_begin(s, env, NULL, 0);
	assert_non_null(m);
	strcpy(id, spool_msg_id(m));
	spool_msg_write(m, body, strlen(body));
	spool_msg_set_direct(m, direct_fn, d);
	return spool_msg_commit_wait(m) == 0 ? 0 : errno;
}

/* Delivered at commit: never queued, the hook not called, the tmp/ file kept (emptied) in spare/,
 * which the next message takes under its own ID, with nothing of the first left in it. */
static void test_spool_direct_delivery_and_spare_reuse(void **state)
{
	struct fixture *f = *state;
	struct waiter hook;
	waiter_init(&hook);
	spool_set_commit_hook(f->s, on_hook, &hook);
	struct envelope e;
	sample_env(&e, 1);
	struct direct_seen d = { .deliver = true };
	char id1[SPOOL_ID_MAX + 1], id2[SPOOL_ID_MAX + 1];
	assert_int_equal(commit_direct(f->s, &e, "a long first message body\r\n", &d, id1), 0);
	assert_int_equal(d.calls, 1);
	assert_string_equal(d.id, id1);
	assert_int_equal(d.nrcpts, 1);
	assert_string_equal(d.content, "a long first message body\r\n");
	assert_int_equal(hook.hook_calls, 0);
	assert_int_equal(count_entries(f, "queue"), 0);
	assert_int_equal(count_entries(f, "tmp"), 0);
	assert_int_equal(count_entries(f, "spare"), 1);

	/* not delivered at commit: the spare becomes the queue file, cut to its length */
	d.deliver = false;
	assert_int_equal(commit_direct(f->s, &e, "short\r\n", &d, id2), 0);
	assert_int_equal(d.calls, 2);
	assert_string_equal(d.content, "short\r\n");
	assert_string_not_equal(id1, id2);
	assert_int_equal(hook.hook_calls, 1);
	assert_int_equal(count_entries(f, "tmp"), 0);
	assert_int_equal(count_entries(f, "spare"), 0);	/* taken */
	struct spool_file sf;
	assert_int_equal(spool_file_open(f->s, id2, &sf), 0);
	char *content = read_content(&sf);
	assert_string_equal(content, "short\r\n");
	free(content);
	spool_file_close(&sf);
	spool_set_commit_hook(f->s, NULL, NULL);
	waiter_destroy(&hook);
	envelope_free(&e);
}

static void test_spool_commit_large_and_small_writes(void **state)
{
	struct fixture *f = *state;
	struct envelope e;
	sample_env(&e, 1);
	size_t total = 3u << 20;
	unsigned char *data = xmalloc(total);
	unsigned x = 12345;
	for (size_t i = 0; i < total; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	struct spool_msg *m = spool_msg_begin(f->s, &e, NULL, 0);
	assert_non_null(m);
	char id[SPOOL_ID_MAX + 1];
	strcpy(id, spool_msg_id(m));
	/* chunk sizes around the 64 KiB buffer: tiny, exact, larger, huge */
	static const size_t sizes[] = { 1, 7, 65535, 1, 65536, 65537, 3, 200000, 1000000, 4096 };
	size_t off = 0;
	for (size_t i = 0; off < total; i = (i + 1) % (sizeof(sizes) / sizeof(sizes[0]))) {
		size_t n = sizes[i] < total - off ? sizes[i] : total - off;
		assert_int_equal(spool_msg_write(m, data + off, n), 0);
		off += n;
	}
	struct waiter w;
	waiter_init(&w);
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 1);
	assert_int_equal(w.err, 0);
	waiter_destroy(&w);

	struct spool_file sf;
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	assert_int_equal(sf.content_len, total);
	char *content = read_content(&sf);
	assert_memory_equal(content, data, total);
	free(content);
	spool_file_close(&sf);
	free(data);
	envelope_free(&e);
}

static void test_spool_empty_content_commits(void **state)
{
	struct fixture *f = *state;
	struct envelope e;
	sample_env(&e, 1);
	char id[SPOOL_ID_MAX + 1];
	assert_int_equal(commit_one(f->s, &e, NULL, "", 0, id), 0);
	struct spool_file sf;
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	assert_int_equal(sf.content_len, 0);
	spool_file_close(&sf);
	envelope_free(&e);
}

static void test_spool_abort_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct envelope e;
	sample_env(&e, 2);
	struct spool_msg *m = spool_msg_begin(f->s, &e, "R: x\r\n", 6);
	assert_non_null(m);
	char id[SPOOL_ID_MAX + 1];
	strcpy(id, spool_msg_id(m));
	assert_true(exists(f, "tmp", id));
	char big[100000];
	memset(big, 'a', sizeof(big));
	assert_int_equal(spool_msg_write(m, big, sizeof(big)), 0);
	spool_msg_abort(m);
	assert_int_equal(count_entries(f, "tmp"), 0);
	assert_int_equal(count_entries(f, "queue"), 0);
	envelope_free(&e);
}

struct worker_arg {
	struct spool *s;
	int n;
	char (*ids)[SPOOL_ID_MAX + 1];
	struct waiter *w;
};

static void *commit_worker(void *arg)
{
	struct worker_arg *a = arg;
	struct envelope e;
	sample_env(&e, 2);
	for (int i = 0; i < a->n; i++) {
		struct spool_msg *m = spool_msg_begin(a->s, &e, "R\r\n", 3);
		if (m == NULL)
			abort();
		strcpy(a->ids[i], spool_msg_id(m));
		char line[64];
		int len = snprintf(line, sizeof(line), "message %s\r\n", a->ids[i]);
		spool_msg_write(m, line, (size_t)len);
		spool_msg_commit(m, on_done, a->w);
	}
	envelope_free(&e);
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct scan_result {
	int n;
	char (*ids)[SPOOL_ID_MAX + 1];
	size_t cap;
};

static void on_scan(void *arg, const char *id)
{
	struct scan_result *r = arg;
	if ((size_t)r->n < r->cap)
		strcpy(r->ids[r->n], id);
	r->n++;
}

static void test_spool_concurrent_commits_unique_ids(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 8, PER = 200, TOTAL = THREADS * PER };
	struct waiter w;
	waiter_init(&w);
	spool_set_commit_hook(f->s, on_hook, &w);
	char (*ids)[SPOOL_ID_MAX + 1] = xcalloc(TOTAL, sizeof(*ids));
	pthread_t th[THREADS];
	struct worker_arg args[THREADS];
	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct worker_arg){ f->s, PER, ids + i * PER, &w };
		assert_int_equal(pthread_create(&th[i], NULL, commit_worker, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	waiter_wait(&w, TOTAL);
	assert_int_equal(w.done, TOTAL);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.hook_calls, TOTAL);
	qsort(ids, TOTAL, sizeof(*ids), cmp_id);
	for (int i = 1; i < TOTAL; i++)
		assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	assert_int_equal(count_entries(f, "queue"), TOTAL);
	assert_int_equal(count_entries(f, "tmp"), 0);

	/* the scan finds each one, oldest first, and each reads back whole */
	struct scan_result r = { 0, xcalloc(TOTAL, sizeof(*ids)), TOTAL };
	assert_int_equal(spool_scan(f->s, on_scan, &r), TOTAL);
	assert_int_equal(r.n, TOTAL);
	for (int i = 0; i < TOTAL; i++)
		assert_string_equal(r.ids[i], ids[i]);
	for (int i = 0; i < TOTAL; i += 97) {
		struct spool_file sf;
		assert_int_equal(spool_file_open(f->s, ids[i], &sf), 0);
		char *content = read_content(&sf);
		char want[64];
		snprintf(want, sizeof(want), "R\r\nmessage %s\r\n", ids[i]);
		assert_string_equal(content, want);
		free(content);
		spool_file_close(&sf);
	}
	spool_set_commit_hook(f->s, NULL, NULL);
	free(r.ids);
	free(ids);
	waiter_destroy(&w);
}

static void test_spool_close_drains_pending_commits(void **state)
{
	struct fixture *f = *state;
	struct waiter w;
	waiter_init(&w);
	struct envelope e;
	sample_env(&e, 1);
	for (int i = 0; i < 50; i++) {
		struct spool_msg *m = spool_msg_begin(f->s, &e, NULL, 0);
		assert_non_null(m);
		spool_msg_write(m, "x\r\n", 3);
		spool_msg_commit(m, on_done, &w);
	}
	spool_close(f->s);	/* returns only after every done() ran */
	assert_int_equal(w.done, 50);
	assert_int_equal(w.err, 0);
	assert_int_equal(count_entries(f, "queue"), 50);
	f->s = open_spool(f->spool, 1);
	waiter_destroy(&w);
	envelope_free(&e);
}

static void test_spool_hook_runs_before_done_and_can_be_unset(void **state)
{
	struct fixture *f = *state;
	struct envelope e;
	sample_env(&e, 1);
	struct waiter w;
	waiter_init(&w);
	spool_set_commit_hook(f->s, on_hook, &w);
	struct spool_msg *m = spool_msg_begin(f->s, &e, NULL, 0);
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 1);
	assert_int_equal(w.hook_calls, 1);
	assert_true(w.hook_before_done);
	spool_set_commit_hook(f->s, NULL, NULL);
	m = spool_msg_begin(f->s, &e, NULL, 0);
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 2);
	assert_int_equal(w.hook_calls, 1);
	assert_int_equal(w.err, 0);
	waiter_destroy(&w);
	envelope_free(&e);
}

/* ---- refusing damaged files ----------------------------------------------------- */

/* Commits a message and returns its path under queue/ and its ID. */
static void committed(struct fixture *f, char id[SPOOL_ID_MAX + 1], char *path, size_t size)
{
	struct envelope e;
	sample_env(&e, 2);
	const char *body = "Subject: x\r\n\r\nbody\r\n";
	assert_int_equal(commit_one(f->s, &e, NULL, body, strlen(body), id), 0);
	path_of(f, "queue", id, path, size);
	envelope_free(&e);
}

static void assert_corrupt(struct fixture *f, const char *id)
{
	struct spool_file sf;
	errno = 0;
	assert_int_equal(spool_file_open(f->s, id, &sf), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(sf.fd, -1);
	assert_int_equal(sf.env.nrcpts, 0);
	spool_file_close(&sf);	/* harmless after a failure */
}

static void test_spool_truncated_file_is_refused(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	static const off_t cut[] = { 1, SPOOL_TRAILER_LEN, SPOOL_TRAILER_LEN + 5 };
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		assert_int_equal(truncate(p, st.st_size - cut[i]), 0);
		assert_corrupt(f, id);
	}
	assert_int_equal(truncate(p, 100), 0);	/* inside the envelope */
	assert_corrupt(f, id);
	assert_int_equal(truncate(p, 10), 0);	/* inside the first line */
	assert_corrupt(f, id);
	assert_int_equal(truncate(p, 0), 0);
	assert_corrupt(f, id);
}

static void test_spool_bad_trailer_is_refused(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	/* a zeroed tail, as after a crash on a file system that lies */
	char zeros[SPOOL_TRAILER_LEN] = { 0 };
	char saved[SPOOL_TRAILER_LEN];
	assert_int_equal(pread(fd, saved, sizeof(saved), st.st_size - SPOOL_TRAILER_LEN), SPOOL_TRAILER_LEN);
	assert_int_equal(pwrite(fd, zeros, sizeof(zeros), st.st_size - SPOOL_TRAILER_LEN), SPOOL_TRAILER_LEN);
	assert_corrupt(f, id);
	/* the right trailer again: fine; one appended byte: refused */
	assert_int_equal(pwrite(fd, saved, sizeof(saved), st.st_size - SPOOL_TRAILER_LEN), SPOOL_TRAILER_LEN);
	struct spool_file sf;
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	spool_file_close(&sf);
	assert_int_equal(pwrite(fd, "\n", 1, st.st_size), 1);
	assert_corrupt(f, id);
	close(fd);
}

static void test_spool_damaged_envelope_is_refused(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	char hdr[64];
	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	char *rec = memmem(hdr, sizeof(hdr), "\nid ", 4);
	assert_non_null(rec);
	assert_int_equal(pwrite(fd, "x", 1, rec - hdr + 1), 1);	/* "id" -> "xd" */
	close(fd);
	assert_corrupt(f, id);
}

static void test_spool_id_mismatch_is_refused(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256], q[256];
	committed(f, id, p, sizeof(p));
	path_of(f, "queue", "ZZZZZZZZZZZZZZZ", q, sizeof(q));
	assert_int_equal(rename(p, q), 0);
	assert_corrupt(f, "ZZZZZZZZZZZZZZZ");
}

static void test_spool_file_open_bad_names(void **state)
{
	struct fixture *f = *state;
	struct spool_file sf;
	static const char *const names[] = { "", "../lock", "..", "abc", "A/B", "0123456789ABCDEFGHIJKLMNO" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		errno = 0;
		assert_int_equal(spool_file_open(f->s, names[i], &sf), -1);
		assert_int_equal(errno, ENOENT);
	}
	errno = 0;
	assert_int_equal(spool_file_open(f->s, "NOSUCHID", &sf), -1);
	assert_int_equal(errno, ENOENT);
	/* a directory or a symbolic link in queue/ is not a queue file */
	char p[256];
	path_of(f, "queue", "ADIR", p, sizeof(p));
	assert_int_equal(mkdir(p, 0700), 0);
	assert_corrupt(f, "ADIR");
	path_of(f, "queue", "ALINK", p, sizeof(p));
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_corrupt(f, "ALINK");
}

/* ---- updating, removing, quarantining, scanning --------------------------------- */

static void test_spool_update_rcpt_in_place(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	struct stat before, after;
	assert_int_equal(stat(p, &before), 0);

	struct spool_file sf;
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	sf.env.rcpts[1].state = RCPT_DELIVERED;
	sf.env.rcpts[1].tries = 3;
	sf.env.rcpts[1].next_try = 1700003600;
	assert_int_equal(spool_file_update_rcpt(&sf, 1), 0);
	sf.env.rcpts[0].tries = 1;
	sf.env.rcpts[0].next_try = 999999999999LL;
	assert_int_equal(spool_file_update_rcpt(&sf, 0), 0);
	assert_int_equal(spool_file_sync(&sf), 0);
	spool_file_close(&sf);

	assert_int_equal(stat(p, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	assert_int_equal(sf.env.rcpts[1].state, RCPT_DELIVERED);
	assert_int_equal(sf.env.rcpts[1].tries, 3);
	assert_int_equal(sf.env.rcpts[1].next_try, 1700003600);
	assert_int_equal(sf.env.rcpts[0].state, RCPT_PENDING);
	assert_int_equal(sf.env.rcpts[0].tries, 1);
	assert_int_equal(sf.env.rcpts[0].next_try, 999999999999LL);
	assert_string_equal(sf.env.rcpts[1].addr, "rcpt1@example.test");
	char *content = read_content(&sf);
	assert_string_equal(content, "Subject: x\r\n\r\nbody\r\n");
	free(content);
	spool_file_close(&sf);
}

static void test_spool_update_rcpt_rejects_bad_input(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	struct spool_file sf;
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	errno = 0;
	assert_int_equal(spool_file_update_rcpt(&sf, 2), -1);
	assert_int_equal(errno, EINVAL);
	sf.env.rcpts[0].state = 'Q';
	errno = 0;
	assert_int_equal(spool_file_update_rcpt(&sf, 0), -1);
	assert_int_equal(errno, EINVAL);
	spool_file_close(&sf);
	/* nothing was written */
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	assert_int_equal(sf.env.rcpts[0].state, RCPT_PENDING);
	spool_file_close(&sf);
}

static void test_spool_remove(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	assert_int_equal(spool_remove(f->s, id), 0);
	assert_false(exists(f, "queue", id));
	/* kept, empty, for the next message, which takes it */
	assert_true(exists(f, "spare", id));
	struct stat st;
	path_of(f, "spare", id, p, sizeof(p));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	struct envelope e;
	sample_env(&e, 1);
	char id2[SPOOL_ID_MAX + 1];
	assert_int_equal(commit_one(f->s, &e, NULL, "x\r\n", 3, id2), 0);
	assert_int_equal(count_entries(f, "spare"), 0);
	assert_true(exists(f, "queue", id2));
	envelope_free(&e);
	errno = 0;
	assert_int_equal(spool_remove(f->s, id), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(spool_remove(f->s, "../lock"), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(exists(f, ".", "lock"));
}

static void test_spool_quarantine(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	assert_int_equal(spool_quarantine(f->s, id), 0);
	assert_false(exists(f, "queue", id));
	assert_true(exists(f, "corrupt", id));
	errno = 0;
	assert_int_equal(spool_quarantine(f->s, id), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_quarantine(f->s, "bad/name"), -1);
}

static void test_spool_scan_skips_strangers(void **state)
{
	struct fixture *f = *state;
	char a[SPOOL_ID_MAX + 1], b[SPOOL_ID_MAX + 1], p[256];
	committed(f, a, p, sizeof(p));
	committed(f, b, p, sizeof(p));
	path_of(f, "queue", ".hidden", p, sizeof(p));
	write_file(p, "x", 1);
	path_of(f, "queue", "lower", p, sizeof(p));
	write_file(p, "x", 1);
	path_of(f, "queue", "A.B", p, sizeof(p));
	write_file(p, "x", 1);
	path_of(f, "queue", "SUBDIR", p, sizeof(p));
	assert_int_equal(mkdir(p, 0700), 0);
	char ids[4][SPOOL_ID_MAX + 1];
	struct scan_result r = { 0, ids, 4 };
	assert_int_equal(spool_scan(f->s, on_scan, &r), 2);
	assert_int_equal(r.n, 2);
	assert_string_equal(ids[0], a);
	assert_string_equal(ids[1], b);
	assert_true(strcmp(a, b) < 0);
	/* an empty queue */
	assert_int_equal(spool_remove(f->s, a), 0);
	assert_int_equal(spool_remove(f->s, b), 0);
	r.n = 0;
	assert_int_equal(spool_scan(f->s, on_scan, &r), 0);
	assert_int_equal(r.n, 0);
}

/* ---- held messages ----------------------------------------------------------------- */

static void test_spool_hold_and_release(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], other[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	committed(f, other, p, sizeof(p));
	assert_int_equal(spool_hold(f->s, id), 0);
	assert_false(exists(f, "queue", id));
	assert_true(exists(f, "hold", id));

	/* recovery does not see it; the held scan does */
	char ids[4][SPOOL_ID_MAX + 1];
	struct scan_result r = { 0, ids, 4 };
	assert_int_equal(spool_scan(f->s, on_scan, &r), 1);
	assert_string_equal(ids[0], other);
	r.n = 0;
	assert_int_equal(spool_scan_held(f->s, on_scan, &r), 1);
	assert_string_equal(ids[0], id);

	/* readable in hold/ only, content and all */
	struct spool_file sf;
	errno = 0;
	assert_int_equal(spool_file_open(f->s, id, &sf), -1);
	assert_int_equal(errno, ENOENT);
	spool_file_close(&sf);
	assert_int_equal(spool_file_open_held(f->s, id, &sf), 0);
	assert_string_equal(sf.env.id, id);
	assert_int_equal(sf.env.nrcpts, 2);
	char *content = read_content(&sf);
	assert_string_equal(content, "Subject: x\r\n\r\nbody\r\n");
	free(content);
	spool_file_close(&sf);
	errno = 0;
	assert_int_equal(spool_file_open_held(f->s, other, &sf), -1);
	assert_int_equal(errno, ENOENT);

	/* each move only from where the file is */
	errno = 0;
	assert_int_equal(spool_hold(f->s, id), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(spool_release(f->s, other), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_release(f->s, id), 0);
	assert_true(exists(f, "queue", id));
	assert_false(exists(f, "hold", id));
	assert_int_equal(spool_file_open(f->s, id, &sf), 0);
	spool_file_close(&sf);
	errno = 0;
	assert_int_equal(spool_release(f->s, id), -1);
	assert_int_equal(errno, ENOENT);

	/* names that are not IDs never reach the file system */
	static const char *const bad[] = { "../lock", "bad/name", "", "lower" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(spool_hold(f->s, bad[i]), -1);
		assert_int_equal(errno, ENOENT);
		errno = 0;
		assert_int_equal(spool_release(f->s, bad[i]), -1);
		assert_int_equal(errno, ENOENT);
		errno = 0;
		assert_int_equal(spool_remove_held(f->s, bad[i]), -1);
		assert_int_equal(errno, ENOENT);
		assert_int_equal(spool_file_open_held(f->s, bad[i], &sf), -1);
	}
	assert_true(exists(f, ".", "lock"));
}

static void test_spool_release_never_replaces(void **state)
{
	/* the same name in both directories (an admin's copy): nothing is overwritten */
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256], held[256];
	committed(f, id, p, sizeof(p));
	assert_int_equal(spool_hold(f->s, id), 0);
	path_of(f, "hold", id, held, sizeof(held));
	write_file(p, "an admin's file", 15);
	errno = 0;
	assert_int_equal(spool_release(f->s, id), -1);
	assert_int_equal(errno, EEXIST);
	assert_true(exists(f, "hold", id));
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 15);
	errno = 0;
	assert_int_equal(spool_hold(f->s, id), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(stat(held, &st), 0);
	assert_true(st.st_size > 15);
}

static void test_spool_remove_held(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	errno = 0;
	assert_int_equal(spool_remove_held(f->s, id), -1);	/* queued, not held */
	assert_int_equal(errno, ENOENT);
	assert_true(exists(f, "queue", id));
	assert_int_equal(spool_hold(f->s, id), 0);
	assert_int_equal(spool_remove_held(f->s, id), 0);
	assert_false(exists(f, "hold", id));
	assert_int_equal(count_entries(f, "queue"), 0);
	errno = 0;
	assert_int_equal(spool_remove_held(f->s, id), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_spool_held_survives_restart(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	assert_int_equal(spool_hold(f->s, id), 0);
	spool_close(f->s);
	f->s = open_spool(f->spool, 1);
	char ids[2][SPOOL_ID_MAX + 1];
	struct scan_result r = { 0, ids, 2 };
	assert_int_equal(spool_scan(f->s, on_scan, &r), 0);
	assert_int_equal(spool_scan_held(f->s, on_scan, &r), 1);
	assert_string_equal(ids[0], id);
	assert_int_equal(spool_release(f->s, id), 0);
	r.n = 0;
	assert_int_equal(spool_scan(f->s, on_scan, &r), 1);
}

static void test_spool_survives_restart(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX + 1], p[256];
	committed(f, id, p, sizeof(p));
	spool_close(f->s);
	f->s = open_spool(f->spool, 3);
	char ids[2][SPOOL_ID_MAX + 1];
	struct scan_result r = { 0, ids, 2 };
	assert_int_equal(spool_scan(f->s, on_scan, &r), 1);
	assert_string_equal(ids[0], id);
	/* a new run's IDs still sort after the old ones */
	struct envelope e;
	sample_env(&e, 1);
	struct spool_msg *m = spool_msg_begin(f->s, &e, NULL, 0);
	assert_true(strcmp(spool_msg_id(m), id) > 0);
	spool_msg_abort(m);
	envelope_free(&e);
}

/* ---- write errors ------------------------------------------------------------------- */

/*
 * Runs in a child: a file size limit makes write(2) fail with EFBIG once
 * the file would pass it. The error must come out of spool_msg_write()
 * (once the buffer spills) or at the latest from the commit, and the tmp
 * file must be gone. Exit status: 0 ok, else the failed step.
 */
static int child_write_error(const char *dir)
{
	/* A spool of its own: the parent's holds the lock and its commit
	 * threads do not exist in this child. */
	char sp[256], err[256];
	snprintf(sp, sizeof(sp), "%s/limited", dir);
	struct spool *s = spool_open(sp, 2, err, sizeof(err));
	if (s == NULL)
		return 9;
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { 200000, 200000 };
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 10;
	struct envelope e;
	sample_env(&e, 1);
	/* 1: a write that goes past the limit fails at once (large writes skip the buffer) */
	struct spool_msg *m = spool_msg_begin(s, &e, NULL, 0);
	if (m == NULL)
		return 11;
	static char big[300000];
	errno = 0;
	if (spool_msg_write(m, big, sizeof(big)) != -1 || errno != EFBIG)
		return 12;
	errno = 0;
	if (spool_msg_write(m, "x", 1) != -1 || errno != EFBIG)	/* sticky */
		return 13;
	struct waiter w;
	waiter_init(&w);
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 1);
	if (w.err != EFBIG)
		return 14;
	/* 2: buffered writes that only fail at the commit's flush */
	m = spool_msg_begin(s, &e, NULL, 0);
	if (m == NULL)
		return 15;
	w.err = 0;
	for (int i = 0; i < 3; i++)	/* each fits the buffer after a flush */
		if (spool_msg_write(m, big, 60000) < 0)
			return 16;
	if (spool_msg_write(m, big, 30000) < 0)
		return 17;
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 2);
	if (w.err != EFBIG)
		return 18;
	if (count_in(sp, "tmp") != 0 || count_in(sp, "queue") != 0)
		return 19;
	spool_close(s);
	envelope_free(&e);
	return 0;
}

static void test_spool_write_error_surfaces(void **state)
{
	struct fixture *f = *state;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_write_error(f->dir));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_entries(f, "tmp"), 0);
}

/*
 * Runs in a child with its own mount namespace: the spool on a 256 KiB
 * tmpfs. Exit 77 when no such namespace or mount can be had (skip).
 */
static int child_enospc(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0 && (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0))
		return 77;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 77;
	char mnt[256];
	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	if (mkdir(mnt, 0700) < 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0)
		return 77;
	char err[256], sp[300];
	snprintf(sp, sizeof(sp), "%s/spool", mnt);
	struct spool *s = spool_open(sp, 2, err, sizeof(err));
	if (s == NULL)
		return 20;
	struct envelope e;
	sample_env(&e, 1);
	static char chunk[8192];
	int rc = 0;
	struct spool_msg *m = spool_msg_begin(s, &e, NULL, 0);
	if (m == NULL)
		return 21;
	int werr = 0;
	for (int i = 0; i < 100 && werr == 0; i++)	/* 800 KiB into 256 KiB */
		if (spool_msg_write(m, chunk, sizeof(chunk)) < 0)
			werr = errno;
	if (werr != ENOSPC)
		rc = 22;
	struct waiter w;
	waiter_init(&w);
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 1);
	if (rc == 0 && w.err != ENOSPC)
		rc = 23;
	if (rc == 0 && (count_in(sp, "tmp") != 0 || count_in(sp, "queue") != 0))
		rc = 24;
	/* the space was given back: a small message fits again */
	m = spool_msg_begin(s, &e, NULL, 0);
	if (m == NULL)
		return rc != 0 ? rc : 25;
	w.err = 0;
	spool_msg_write(m, "small\r\n", 7);
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 2);
	if (rc == 0 && (w.err != 0 || count_in(sp, "queue") != 1))
		rc = 26;
	spool_close(s);
	envelope_free(&e);
	umount(mnt);
	return rc;
}

static void test_spool_enospc_surfaces(void **state)
{
	struct fixture *f = *state;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_enospc(f->dir));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- free space -------------------------------------------------------------------- */

/* spool_space_ok() against the value the cache holds: retried when a
 * refresh (once a second) changed it between the calls. */
static void test_spool_space_ok_arithmetic(void **state)
{
	struct fixture *f = *state;
	assert_true(spool_space_ok(f->s, 0, ULLONG_MAX));	/* 0: no check at all */
	assert_false(spool_space_ok(f->s, ULLONG_MAX, 0));
	assert_false(spool_space_ok(f->s, 1, ULLONG_MAX));	/* no overflow */
	for (int tries = 0;; tries++) {
		assert_true(tries < 10);
		unsigned long long space = spool_free_space(f->s);
		assert_true(space > 2 && space != ULLONG_MAX);
		bool fits = spool_space_ok(f->s, 1, space - 1);
		bool over = spool_space_ok(f->s, 1, space);
		bool at_min = spool_space_ok(f->s, space, 0);
		bool past_min = spool_space_ok(f->s, space + 1, 0);
		if (spool_free_space(f->s) != space)
			continue;
		assert_true(fits);
		assert_false(over);
		assert_true(at_min);
		assert_false(past_min);
		break;
	}
	spool_space_ok(f->s, 0, 0);	/* leave the state "ok" */
}

struct taps {
	int low, ok;
	char last[512];
};

static void count_tap(void *arg, const char *level, const char *line, size_t len)
{
	struct taps *t = arg;
	if (len >= sizeof(t->last))
		len = sizeof(t->last) - 1;
	if (strncmp(line, "event=low_space state=low ", 26) == 0)
		t->low++;
	else if (strncmp(line, "event=low_space state=ok ", 25) == 0)
		t->ok++;
	else
		return;
	memcpy(t->last, line, len);
	t->last[len] = '\0';
}

static void test_spool_space_logs_each_transition_once(void **state)
{
	struct fixture *f = *state;
	struct taps t = { 0 };
	log_set_tap(count_tap, &t);
	assert_true(spool_space_ok(f->s, 1, 0));	/* ok from the start: nothing to say */
	assert_false(spool_space_ok(f->s, 1, ULLONG_MAX));	/* a big SIZE alone: no transition */
	assert_int_equal(t.low + t.ok, 0);
	assert_false(spool_space_ok(f->s, ULLONG_MAX, 0));
	assert_false(spool_space_ok(f->s, ULLONG_MAX, 0));
	assert_int_equal(t.low, 1);
	assert_non_null(strstr(t.last, " free="));
	char min[64];
	snprintf(min, sizeof(min), " min=%llu", ULLONG_MAX);
	assert_non_null(strstr(t.last, min));
	assert_int_equal(t.ok, 0);
	assert_true(spool_space_ok(f->s, 1, 0));
	assert_true(spool_space_ok(f->s, 1, 0));
	assert_int_equal(t.ok, 1);
	assert_false(spool_space_ok(f->s, ULLONG_MAX, 0));
	assert_true(spool_space_ok(f->s, 0, 0));	/* switched off while low: back to ok */
	assert_int_equal(t.low, 2);
	assert_int_equal(t.ok, 2);
	assert_non_null(strstr(t.last, " min=0"));
	log_set_tap(NULL, NULL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Runs in a child with its own mount namespace: the spool on a 1 MiB
 * tmpfs. A 600 KiB message lowers the free space the check sees, but only
 * once the cached value is a second old. Exit 77 when no such namespace or
 * mount can be had (skip).
 */
static int child_space(const char *dir)
{
	if (unshare(CLONE_NEWNS) < 0 && (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0))
		return 77;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 77;
	char mnt[256];
	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	if (mkdir(mnt, 0700) < 0 || mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
		return 77;
	char err[256], sp[300];
	snprintf(sp, sizeof(sp), "%s/spool", mnt);
	struct spool *s = spool_open(sp, 2, err, sizeof(err));
	if (s == NULL)
		return 30;
	int rc = 0;
	unsigned long long before = spool_free_space(s);
	if (before > (1u << 20) || before < (900u << 10))
		rc = 31;
	if (rc == 0 && (!spool_space_ok(s, 512u << 10, 0) || spool_space_ok(s, 512u << 10, 600u << 10)))
		rc = 32;
	struct envelope e;
	sample_env(&e, 1);
	struct spool_msg *m = spool_msg_begin(s, &e, NULL, 0);
	if (m == NULL)
		return rc != 0 ? rc : 33;
	static char big[600u << 10];
	memset(big, 'x', sizeof(big));
	spool_msg_write(m, big, sizeof(big));
	struct waiter w;
	waiter_init(&w);
	spool_msg_commit(m, on_done, &w);
	waiter_wait(&w, 1);
	if (rc == 0 && w.err != 0)
		rc = 34;
	/* within the second: the cached value, no statvfs */
	if (rc == 0 && spool_free_space(s) != before)
		rc = 35;
	sleep_ms(1100);
	unsigned long long after = spool_free_space(s);
	if (rc == 0 && (after > before - sizeof(big) || after == ULLONG_MAX))
		rc = 36;
	if (rc == 0 && spool_space_ok(s, 512u << 10, 0))
		rc = 37;
	spool_close(s);
	envelope_free(&e);
	umount(mnt);
	return rc;
}

static void test_spool_space_follows_the_disk(void **state)
{
	struct fixture *f = *state;
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_space(f->dir));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spool_open_creates_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_open_creates_missing_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_open_refuses_second_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_open_errors_are_explained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_open_removes_tmp_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_ids_are_valid_and_increase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_begin_without_recipients_is_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_commit_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_direct_delivery_and_spare_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_commit_large_and_small_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_empty_content_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_concurrent_commits_unique_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_close_drains_pending_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_hook_runs_before_done_and_can_be_unset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_truncated_file_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_bad_trailer_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_damaged_envelope_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_id_mismatch_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_file_open_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_update_rcpt_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_update_rcpt_rejects_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_scan_skips_strangers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_hold_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_release_never_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_remove_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_held_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_write_error_surfaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_enospc_surfaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_space_ok_arithmetic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_space_logs_each_transition_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_space_follows_the_disk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
