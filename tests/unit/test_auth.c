/*
 * test_auth.c — the users file, crypt(3) checks, and the failure throttle.
 *
 * Hashes are made here with crypt_gensalt_rn() + crypt_r() (yescrypt and
 * sha512-crypt), and also read from the golden files data/auth/NAME.users,
 * whose expected outcome is data/auth/NAME.ref: "OK <accounts>" or the
 * exact error lines (paths relative to the copy's directory). Files are
 * copied to a private temp directory first, since git does not keep the
 * 0600 mode the loader insists on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"

#define PASSWORD "correct horse"

static char dir[64];

static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-auth-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static char *path_of(const char *name)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* Writes len bytes to dir/name with the given mode; returns the path. */
static const char *write_file_n(const char *name, const char *text, size_t len, mode_t mode)
{
	const char *path = path_of(name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	return write_file_n(name, text, strlen(text), mode);
}

/* A fresh hash of password with the given method prefix ("$y$", "$6$"). */
static char *make_hash(const char *prefix, const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)));
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	assert_non_null(cd);
	const char *h = crypt_r(password, setting, cd);
	assert_non_null(h);
	assert_int_equal(strncmp(h, prefix, strlen(prefix)), 0);
	char *copy = strdup(h);
	free(cd);
	return copy;
}

/* Loads text as a users file; returns the result, errors in *err. */
static int load_text(const char *text, struct auth_users **u, struct buf *err)
{
	const char *path = write_file("users", text, 0600);
	return auth_users_load(path, u, err);
}

/* Error text with the temp directory removed, for exact comparison. */
static char *strip_dir(const char *text)
{
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	size_t plen = strlen(prefix);
	char *out = malloc(strlen(text) + 1), *o = out;
	assert_non_null(out);
	while (*text != '\0') {
		if (strncmp(text, prefix, plen) == 0) {
			text += plen;
			continue;
		}
		*o++ = *text++;
	}
	*o = '\0';
	return out;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char data[1 << 16];
	size_t n = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[n] = '\0';
	return strdup(data);
}

/* ---- users file: checks -------------------------------------------------- */

static void check_method(const char *prefix)
{
	char *h = make_hash(prefix, PASSWORD);
	char text[1024];
	snprintf(text, sizeof(text), "alice:%s\nbob:%s\n", h, h);
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text(text, &u, &err), 0);
	assert_string_equal(buf_str(&err), "");
	assert_int_equal(auth_users_count(u), 2);
	assert_true(auth_users_check(u, "alice", PASSWORD));
	assert_true(auth_users_check(u, "bob", PASSWORD));
	assert_false(auth_users_check(u, "alice", "correct horsE"));
	assert_false(auth_users_check(u, "alice", "correct horse "));
	assert_false(auth_users_check(u, "alice", "correct hors"));
	assert_false(auth_users_check(u, "alice", ""));
	assert_false(auth_users_check(u, "Alice", PASSWORD));	/* case-sensitive */
	assert_false(auth_users_check(u, "alice ", PASSWORD));
	assert_false(auth_users_check(u, "mallory", PASSWORD));
	assert_false(auth_users_check(u, "", PASSWORD));
	assert_false(auth_users_check(u, NULL, PASSWORD));
	assert_false(auth_users_check(u, "alice", NULL));
	assert_false(auth_users_check(NULL, "alice", PASSWORD));
	auth_users_free(u);
	buf_free(&err);
	free(h);
}

static void test_auth_users_check_yescrypt(void **state)
{
	check_method("$y$");
}

static void test_auth_users_check_sha512crypt(void **state)
{
	check_method("$6$");
}

static void test_auth_users_check_bcrypt(void **state)
{
	check_method("$2b$");
}

static void test_auth_users_password_with_8bit_and_controls(void **state)
{
	const char *pw = "p\xc3\xa4ss\tw\x01rd";
	char *h = make_hash("$y$", pw);
	char text[512];
	snprintf(text, sizeof(text), "j\xc3\xb6rg:%s\n", h);
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text(text, &u, &err), 0);
	assert_true(auth_users_check(u, "j\xc3\xb6rg", pw));
	assert_false(auth_users_check(u, "j\xc3\xb6rg", "p\xc3\xa4ss"));
	auth_users_free(u);
	buf_free(&err);
	free(h);
}

static void test_auth_users_long_names_never_match(void **state)
{
	char *h = make_hash("$6$", PASSWORD);
	char name[AUTH_USER_MAX + 2];
	memset(name, 'n', sizeof(name) - 1);
	name[AUTH_USER_MAX] = '\0';
	char text[1024];
	snprintf(text, sizeof(text), "%s:%s\n", name, h);
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text(text, &u, &err), 0);
	assert_true(auth_users_check(u, name, PASSWORD));	/* exactly 255 */
	name[AUTH_USER_MAX] = 'n';
	name[AUTH_USER_MAX + 1] = '\0';
	assert_false(auth_users_check(u, name, PASSWORD));	/* 256: not even looked up */
	auth_users_free(u);
	buf_free(&err);
	free(h);
}

/* ---- golden files --------------------------------------------------------- */

static void golden_one(const char *name)
{
	char src[256], ref[256];
	snprintf(src, sizeof(src), "data/auth/%s", name);
	snprintf(ref, sizeof(ref), "data/auth/%.*s.ref", (int)(strlen(name) - 6), name);
	char *text = slurp(src);
	char *want = slurp(ref);
	const char *path = write_file(name, text, 0600);

	struct auth_users *u = NULL;
	struct buf err = BUF_INIT;
	int rc = auth_users_load(path, &u, &err);
	if (strncmp(want, "OK ", 3) == 0) {
		if (rc != 0)
			fprintf(stderr, "%s: %s", name, buf_str(&err));
		assert_int_equal(rc, 0);
		assert_string_equal(buf_str(&err), "");
		assert_int_equal(auth_users_count(u), strtoul(want + 3, NULL, 10));
	} else {
		char *got = strip_dir(buf_str(&err));
		assert_int_equal(rc, -1);
		assert_null(u);
		assert_string_equal(got, want);
		free(got);
	}
	auth_users_free(u);
	buf_free(&err);
	free(text);
	free(want);
}

static void test_auth_users_golden_files(void **state)
{
	DIR *d = opendir("data/auth");
	assert_non_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > 6 && strcmp(e->d_name + len - 6, ".users") == 0) {
			golden_one(e->d_name);
			n++;
		}
	}
	closedir(d);
	assert_true(n >= 4);
}

static void test_auth_users_golden_valid_passwords(void **state)
{
	char *text = slurp("data/auth/valid.users");
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text(text, &u, &err), 0);
	static const char *ok[] = { "alice", "bob", "carol@example.test", "dave", "erin", "Frank" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_true(auth_users_check(u, ok[i], PASSWORD));
		assert_false(auth_users_check(u, ok[i], "wrong"));
	}
	/* Disabled accounts, including one whose locked hash would match. */
	static const char *off[] = { "disabled1", "disabled2", "disabled3", "disabled4" };
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		assert_false(auth_users_check(u, off[i], PASSWORD));
	assert_false(auth_users_check(u, "frank", PASSWORD));
	assert_false(auth_users_check(u, "disabled4", ""));
	auth_users_free(u);
	buf_free(&err);
	free(text);
}

static void test_auth_users_all_disabled_still_checks(void **state)
{
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text("x:*\ny:!\nz:\n", &u, &err), 0);
	assert_int_equal(auth_users_count(u), 3);
	assert_false(auth_users_check(u, "x", "*"));
	assert_false(auth_users_check(u, "y", "!"));
	assert_false(auth_users_check(u, "z", ""));
	assert_false(auth_users_check(u, "z", "anything"));
	assert_false(auth_users_check(u, "nobody", "anything"));
	auth_users_free(u);
	buf_free(&err);
}

/* ---- file-level refusals --------------------------------------------------- */

static void expect_mode_refused(mode_t mode, const char *mode_text)
{
	const char *path = write_file("users", "alice:*\n", mode);
	struct auth_users *u = (struct auth_users *)&u;
	struct buf err = BUF_INIT;
	assert_int_equal(auth_users_load(path, &u, &err), -1);
	assert_null(u);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s: users file is accessible to other users (mode %s); refusing to use it: "
		 "chmod o-rwx %s\n",
		 path, mode_text, path);
	assert_string_equal(buf_str(&err), want);
	buf_free(&err);
}

static void test_auth_users_world_readable_refused(void **state)
{
	expect_mode_refused(0644, "0644");
	expect_mode_refused(0604, "0604");
	expect_mode_refused(0602, "0602");
	expect_mode_refused(0601, "0601");
	expect_mode_refused(0666, "0666");
}

static void test_auth_users_group_readable_accepted(void **state)
{
	const char *path = write_file("users", "alice:*\n", 0640);
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(auth_users_load(path, &u, &err), 0);
	assert_int_equal(auth_users_count(u), 1);
	auth_users_free(u);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(auth_users_load(path, &u, &err), 0);
	auth_users_free(u);
	buf_free(&err);
}

static void test_auth_users_missing_file_and_directory(void **state)
{
	struct auth_users *u;
	struct buf err = BUF_INIT;
	char want[512];
	const char *path = path_of("no-such-file");
	snprintf(want, sizeof(want), "%s: cannot open users file: No such file or directory\n", path);
	assert_int_equal(auth_users_load(path, &u, &err), -1);
	assert_string_equal(buf_str(&err), want);
	buf_reset(&err);
	assert_int_equal(mkdir(path_of("adir"), 0700), 0);
	path = path_of("adir");
	snprintf(want, sizeof(want), "%s: users file is not a regular file\n", path);
	assert_int_equal(auth_users_load(path, &u, &err), -1);
	assert_string_equal(buf_str(&err), want);
	buf_free(&err);
}

static void test_auth_users_errors_append(void **state)
{
	/* The loader appends: what the caller had stays. */
	struct auth_users *u;
	struct buf err = BUF_INIT;
	buf_append_str(&err, "earlier\n");
	assert_int_equal(load_text("bad line\n", &u, &err), -1);
	char want[256];
	snprintf(want, sizeof(want), "earlier\n%s/users:1: missing ':' between user name and password hash\n",
		 dir);
	assert_string_equal(buf_str(&err), want);
	buf_free(&err);
}

static void test_auth_users_nul_and_long_lines(void **state)
{
	char text[4096];
	size_t n = 0;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "a:*\n");
	memcpy(text + n, "b\0c:*\n", 6);
	n += 6;
	text[n++] = 'x';
	memset(text + n, 'y', AUTH_USERS_LINE_MAX);
	n += AUTH_USERS_LINE_MAX;
	text[n++] = '\n';
	n += (size_t)snprintf(text + n, sizeof(text) - n, "d:*\n");
	const char *path = write_file_n("users", text, n, 0600);
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(auth_users_load(path, &u, &err), -1);
	char *got = strip_dir(buf_str(&err));
	assert_string_equal(got, "users:2: NUL byte in line\n"
				 "users:3: line longer than 1024 characters\n");
	free(got);
	buf_free(&err);
}

static void test_auth_users_control_chars_in_names(void **state)
{
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text("a\x01:*\nb\x7f:*\nc\rd:*\n", &u, &err), -1);
	char *got = strip_dir(buf_str(&err));
	assert_string_equal(got, "users:1: user name contains a blank or control character\n"
				 "users:2: user name contains a blank or control character\n"
				 "users:3: user name contains a blank or control character\n");
	free(got);
	buf_free(&err);
}

static void test_auth_users_hash_never_in_errors(void **state)
{
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text("a:SECRETplaintext\nb:$6$SECRETshort\nc:$1$SECRETsalt$abcdefghijklmnopqrstuv\n",
				   &u, &err), -1);
	assert_null(strstr(buf_str(&err), "SECRET"));
	assert_non_null(strstr(buf_str(&err), "users:3:"));
	buf_free(&err);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An unknown user costs a crypt too: its time is of the same order. */
static void test_auth_users_unknown_user_costs_a_crypt(void **state)
{
	char *h = make_hash("$y$", PASSWORD);
	char text[512];
	snprintf(text, sizeof(text), "alice:%s\nlocked:!\n", h);
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text(text, &u, &err), 0);
	const int rounds = 5;
	double t0 = now_seconds();
	for (int i = 0; i < rounds; i++)
		assert_false(auth_users_check(u, "alice", "wrong"));
	double known = now_seconds() - t0;
	t0 = now_seconds();
	for (int i = 0; i < rounds; i++)
		assert_false(auth_users_check(u, "nobody", "wrong"));
	double unknown = now_seconds() - t0;
	t0 = now_seconds();
	for (int i = 0; i < rounds; i++)
		assert_false(auth_users_check(u, "locked", "wrong"));
	double locked = now_seconds() - t0;
	/* Generous bounds (sanitizers, noisy machines): a skipped crypt would be
	 * thousands of times faster, not a third. */
	assert_true(unknown > known / 3);
	assert_true(locked > known / 3);
	auth_users_free(u);
	buf_free(&err);
	free(h);
}

struct check_thread {
	struct auth_users *u;
	int ok;
};

static void *check_thread_run(void *arg)
{
	struct check_thread *c = arg;
	for (int i = 0; i < 3; i++) {
		if (auth_users_check(c->u, "alice", PASSWORD))
			c->ok++;
		if (!auth_users_check(c->u, "alice", "nope"))
			c->ok++;
	}
	return NULL;
}

static void test_auth_users_check_from_many_threads(void **state)
{
	char *h = make_hash("$6$", PASSWORD);
	char text[512];
	snprintf(text, sizeof(text), "alice:%s\n", h);
	struct auth_users *u;
	struct buf err = BUF_INIT;
	assert_int_equal(load_text(text, &u, &err), 0);
	pthread_t th[4];
	struct check_thread c[4];
	for (int i = 0; i < 4; i++) {
		c[i].u = u;
		c[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, check_thread_run, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].ok, 6);
	}
	auth_users_free(u);
	buf_free(&err);
	free(h);
}

/* ---- throttle --------------------------------------------------------------- */

static void test_auth_throttle_delays_double_up_to_max(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	static const unsigned want[] = { 0, 1, 2, 4, 8, 10, 10, 10 };
	time_t now = 1000000;
	assert_int_equal(auth_throttle_delay(t, "192.0.2.1", now), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		auth_throttle_fail(t, "192.0.2.1", now);
		assert_int_equal(auth_throttle_failures(t, "192.0.2.1", now), i + 1);
		assert_int_equal(auth_throttle_delay(t, "192.0.2.1", now), want[i]);
		now += 5;
	}
	/* Another address is not affected. */
	assert_int_equal(auth_throttle_delay(t, "192.0.2.2", now), 0);
	assert_int_equal(auth_throttle_size(t), 1);
	auth_throttle_free(t);
}

static void test_auth_throttle_many_failures_no_overflow(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	for (int i = 0; i < 100000; i++)
		auth_throttle_fail(t, "192.0.2.9", 50);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.9", 50), 100000);
	assert_int_equal(auth_throttle_delay(t, "192.0.2.9", 50), AUTH_THROTTLE_DELAY_MAX);
	auth_throttle_free(t);
}

static void test_auth_throttle_decays_after_quiet(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	time_t now = 5000;
	for (int i = 0; i < 6; i++)
		auth_throttle_fail(t, "198.51.100.7", now);
	assert_int_equal(auth_throttle_delay(t, "198.51.100.7", now), 10);
	/* Just under one decay period: unchanged. */
	assert_int_equal(auth_throttle_failures(t, "198.51.100.7", now + AUTH_THROTTLE_DECAY - 1), 6);
	/* One period: halved (6 -> 3, delay 2). */
	assert_int_equal(auth_throttle_failures(t, "198.51.100.7", now + AUTH_THROTTLE_DECAY), 3);
	assert_int_equal(auth_throttle_delay(t, "198.51.100.7", now + AUTH_THROTTLE_DECAY), 2);
	/* Two periods from the last failure: 1; decay is counted from the failure,
	 * not from the last look. */
	assert_int_equal(auth_throttle_failures(t, "198.51.100.7", now + 2 * AUTH_THROTTLE_DECAY + 1), 1);
	/* Three: forgotten, and the entry freed. */
	assert_int_equal(auth_throttle_failures(t, "198.51.100.7", now + 3 * AUTH_THROTTLE_DECAY), 0);
	assert_int_equal(auth_throttle_size(t), 0);
	auth_throttle_free(t);
}

static void test_auth_throttle_failure_restarts_decay(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	for (int i = 0; i < 4; i++)
		auth_throttle_fail(t, "192.0.2.1", 0);
	auth_throttle_fail(t, "192.0.2.1", 500);	/* 5 failures, decay restarts at 500 */
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 1000), 5);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 1100), 2);
	auth_throttle_free(t);
}

static void test_auth_throttle_long_quiet_forgets(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	auth_throttle_fail(t, "192.0.2.1", 0);
	auth_throttle_fail(t, "192.0.2.1", 0);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", (time_t)1 << 40), 0);
	assert_int_equal(auth_throttle_size(t), 0);
	auth_throttle_free(t);
}

static void test_auth_throttle_clock_backwards_is_harmless(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	auth_throttle_fail(t, "192.0.2.1", 10000);
	auth_throttle_fail(t, "192.0.2.1", 10000);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 5), 2);
	auth_throttle_fail(t, "192.0.2.1", 5);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 5), 3);
	auth_throttle_free(t);
}

static void test_auth_throttle_success_halves(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	for (int i = 0; i < 5; i++)
		auth_throttle_fail(t, "192.0.2.1", 100);
	auth_throttle_success(t, "192.0.2.1", 100);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 100), 2);
	auth_throttle_success(t, "192.0.2.1", 100);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 100), 1);
	auth_throttle_success(t, "192.0.2.1", 100);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 100), 0);
	assert_int_equal(auth_throttle_size(t), 0);
	/* Success for an unknown address adds nothing. */
	auth_throttle_success(t, "192.0.2.77", 100);
	assert_int_equal(auth_throttle_size(t), 0);
	/* Alternating success and failure cannot keep the delay at zero forever. */
	for (int i = 0; i < 10; i++)
		auth_throttle_fail(t, "192.0.2.5", 200);
	for (int i = 0; i < 5; i++) {
		auth_throttle_success(t, "192.0.2.5", 200);
		auth_throttle_fail(t, "192.0.2.5", 200);
	}
	assert_true(auth_throttle_delay(t, "192.0.2.5", 200) >= 1);
	auth_throttle_free(t);
}

static void test_auth_throttle_ipv6_counts_per_64(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	auth_throttle_fail(t, "2001:db8:1:2::1", 0);
	auth_throttle_fail(t, "2001:db8:1:2:ffff:ffff:ffff:ffff", 0);
	auth_throttle_fail(t, "2001:0db8:0001:0002:0:0:0:9", 0);
	assert_int_equal(auth_throttle_failures(t, "2001:db8:1:2::abcd", 0), 3);
	assert_int_equal(auth_throttle_failures(t, "2001:db8:1:3::1", 0), 0);
	assert_int_equal(auth_throttle_size(t), 1);
	auth_throttle_free(t);
}

static void test_auth_throttle_v4_mapped_is_ipv4(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	auth_throttle_fail(t, "::ffff:192.0.2.1", 0);
	auth_throttle_fail(t, "192.0.2.1", 0);
	assert_int_equal(auth_throttle_failures(t, "192.0.2.1", 0), 2);
	/* Neighbouring v4 addresses are separate (no /64 grouping for v4). */
	assert_int_equal(auth_throttle_failures(t, "::ffff:192.0.2.2", 0), 0);
	auth_throttle_free(t);
}

static void test_auth_throttle_non_address_text(void **state)
{
	struct auth_throttle *t = auth_throttle_new(0);
	auth_throttle_fail(t, "unix", 0);
	auth_throttle_fail(t, "unix", 0);
	auth_throttle_fail(t, NULL, 0);
	auth_throttle_fail(t, "", 0);
	assert_int_equal(auth_throttle_failures(t, "unix", 0), 2);
	assert_int_equal(auth_throttle_failures(t, "", 0), 2);	/* NULL and "" are one key */
	assert_int_equal(auth_throttle_failures(t, "1.2.3.4.5", 0), 0);
	auth_throttle_free(t);
}

static void test_auth_throttle_bounded_evicts_oldest(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3);
	auth_throttle_fail(t, "10.0.0.1", 1);
	auth_throttle_fail(t, "10.0.0.2", 2);
	auth_throttle_fail(t, "10.0.0.3", 3);
	auth_throttle_fail(t, "10.0.0.1", 4);	/* .1 is now the newest */
	auth_throttle_fail(t, "10.0.0.4", 5);	/* evicts .2, the oldest failure */
	assert_int_equal(auth_throttle_size(t), 3);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.1", 5), 2);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.2", 5), 0);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.3", 5), 1);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.4", 5), 1);
	/* A flood of addresses keeps the table at its cap. */
	char ip[32];
	for (int i = 0; i < 10000; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		auth_throttle_fail(t, ip, 10 + i);
		assert_true(auth_throttle_size(t) <= 3);
	}
	assert_int_equal(auth_throttle_failures(t, "10.1.39.15", 10009), 1);	/* the last */
	assert_int_equal(auth_throttle_failures(t, "10.0.0.1", 10009), 0);
	auth_throttle_free(t);
}

static void test_auth_throttle_entries_reused_after_decay(void **state)
{
	struct auth_throttle *t = auth_throttle_new(2);
	auth_throttle_fail(t, "10.0.0.1", 0);
	auth_throttle_fail(t, "10.0.0.2", 0);
	/* Both decay away, which frees their slots for new addresses. */
	assert_int_equal(auth_throttle_failures(t, "10.0.0.1", 10000), 0);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.2", 10000), 0);
	auth_throttle_fail(t, "10.0.0.3", 10000);
	auth_throttle_fail(t, "10.0.0.4", 10000);
	assert_int_equal(auth_throttle_size(t), 2);
	assert_int_equal(auth_throttle_failures(t, "10.0.0.3", 10000), 1);
	auth_throttle_free(t);
}

struct throttle_thread {
	struct auth_throttle *t;
	int id;
};

static void *throttle_thread_run(void *arg)
{
	struct throttle_thread *c = arg;
	char ip[32];
	for (int i = 0; i < 2000; i++) {
		auth_throttle_fail(c->t, "203.0.113.1", 100);
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", c->id, i / 256, i % 256);
		auth_throttle_fail(c->t, ip, 100);
		(void)auth_throttle_delay(c->t, ip, 100);
		auth_throttle_success(c->t, ip, 100);
	}
	return NULL;
}

static void test_auth_throttle_threads(void **state)
{
	struct auth_throttle *t = auth_throttle_new(64);
	pthread_t th[4];
	struct throttle_thread c[4];
	for (int i = 0; i < 4; i++) {
		c[i].t = t;
		c[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, throttle_thread_run, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* The shared address was failed 8000 times and, being refreshed all the
	 * time, never evicted; every per-thread address was cleared by success. */
	assert_int_equal(auth_throttle_failures(t, "203.0.113.1", 100), 8000);
	assert_int_equal(auth_throttle_size(t), 1);
	auth_throttle_free(t);
}

static void test_auth_throttle_free_null(void **state)
{
	auth_throttle_free(NULL);
	auth_users_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_users_check_yescrypt),
		cmocka_unit_test(test_auth_users_check_sha512crypt),
		cmocka_unit_test(test_auth_users_check_bcrypt),
		cmocka_unit_test(test_auth_users_password_with_8bit_and_controls),
		cmocka_unit_test(test_auth_users_long_names_never_match),
		cmocka_unit_test(test_auth_users_golden_files),
		cmocka_unit_test(test_auth_users_golden_valid_passwords),
		cmocka_unit_test(test_auth_users_all_disabled_still_checks),
		cmocka_unit_test(test_auth_users_world_readable_refused),
		cmocka_unit_test(test_auth_users_group_readable_accepted),
		cmocka_unit_test(test_auth_users_missing_file_and_directory),
		cmocka_unit_test(test_auth_users_errors_append),
		cmocka_unit_test(test_auth_users_nul_and_long_lines),
		cmocka_unit_test(test_auth_users_control_chars_in_names),
		cmocka_unit_test(test_auth_users_hash_never_in_errors),
		cmocka_unit_test(test_auth_users_unknown_user_costs_a_crypt),
		cmocka_unit_test(test_auth_users_check_from_many_threads),
		cmocka_unit_test(test_auth_throttle_delays_double_up_to_max),
		cmocka_unit_test(test_auth_throttle_many_failures_no_overflow),
		cmocka_unit_test(test_auth_throttle_decays_after_quiet),
		cmocka_unit_test(test_auth_throttle_failure_restarts_decay),
		cmocka_unit_test(test_auth_throttle_long_quiet_forgets),
		cmocka_unit_test(test_auth_throttle_clock_backwards_is_harmless),
		cmocka_unit_test(test_auth_throttle_success_halves),
		cmocka_unit_test(test_auth_throttle_ipv6_counts_per_64),
		cmocka_unit_test(test_auth_throttle_v4_mapped_is_ipv4),
		cmocka_unit_test(test_auth_throttle_non_address_text),
		cmocka_unit_test(test_auth_throttle_bounded_evicts_oldest),
		cmocka_unit_test(test_auth_throttle_entries_reused_after_decay),
		cmocka_unit_test(test_auth_throttle_threads),
		cmocka_unit_test(test_auth_throttle_free_null),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
