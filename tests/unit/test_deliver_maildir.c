/*
 * test_deliver_maildir.c — Maildir delivery and mailbox template expansion.
 *
 * Each case delivers from a content file written to a temp directory and
 * compares the stored file byte for byte with what it must be.
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
#include <unistd.h>

#include "deliver_maildir.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#define BLOCK (64 * 1024)	/* deliver_maildir's read block */

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-maildir-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A content file holding prefix bytes then data; returns the fd. */
static int content_fd(const char *prefix, const void *data, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/content", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, prefix, strlen(prefix)), (ssize_t)strlen(prefix));
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

static size_t count_entries(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return (size_t)-1;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void read_file(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	char tmp[8192];
	ssize_t r;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(out, tmp, (size_t)r);
	close(fd);
}

/* Delivers data (after a 7-byte prefix, to test the offset) and returns the stored bytes. */
static void deliver_and_read(const char *md, const char *sender, const void *data, size_t len,
			     struct buf *stored, struct maildir_result *res)
{
	int fd = content_fd("ENVLOPE", data, len);
	assert_int_equal(deliver_maildir(md, sender, "rcpt@example.test", fd, 7, (off_t)len, res), 0);
	close(fd);
	char path[512];
	snprintf(path, sizeof(path), "%s/new/%s", md, res->name);
	read_file(path, stored);
	/* the name's S= is the stored size */
	const char *s = strstr(res->name, ",S=");
	assert_non_null(s);
	assert_int_equal(strtoull(s + 3, NULL, 10), stored->len);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);
}

static void test_deliver_maildir_crlf_to_lf_exact(void **state)
{
	char md[128];
	snprintf(md, sizeof(md), "%s/m1", dir);
	const char in[] = "Subject: hi\r\n\r\nline 1\r\nlone\rcr\r\n\r\n.dot\r\n";
	const char want[] = "Return-Path: <sender@example.org>\nDelivered-To: rcpt@example.test\n"
			    "Subject: hi\n\nline 1\nlone\rcr\n\n.dot\n";
	struct buf got = BUF_INIT;
	struct maildir_result res;
	deliver_and_read(md, "sender@example.org", in, sizeof(in) - 1, &got, &res);
	assert_int_equal(got.len, sizeof(want) - 1);
	assert_memory_equal(got.data, want, got.len);
	buf_free(&got);
}

static void test_deliver_maildir_null_sender_and_empty_content(void **state)
{
	char md[128];
	snprintf(md, sizeof(md), "%s/m2", dir);
	const char want[] = "Return-Path: <>\nDelivered-To: rcpt@example.test\n";
	struct buf got = BUF_INIT;
	struct maildir_result res;
	deliver_and_read(md, "", "", 0, &got, &res);
	assert_int_equal(got.len, sizeof(want) - 1);
	assert_memory_equal(got.data, want, got.len);
	size_t nl = strlen(res.name);
	assert_true(nl > 5);
	assert_string_equal(res.name + nl - 5, ",S=48");
	buf_free(&got);
}

/* CRs at the end of a read block, the LF at the start of the next; and a
 * lone CR at a block end, and at the very end of the content. */
static void test_deliver_maildir_cr_at_block_boundaries(void **state)
{
	char md[128];
	snprintf(md, sizeof(md), "%s/m3", dir);
	size_t len = 3 * BLOCK + 1;
	char *in = xmalloc(len);
	memset(in, 'a', len);
	in[BLOCK - 1] = '\r';		/* CRLF split across blocks 1/2 */
	in[BLOCK] = '\n';
	in[2 * BLOCK - 1] = '\r';	/* lone CR at the end of block 2 */
	in[2 * BLOCK] = 'b';
	in[3 * BLOCK - 2] = '\r';	/* CR CR | LF: one lone CR kept, one CRLF */
	in[3 * BLOCK - 1] = '\r';
	in[3 * BLOCK] = '\n';
	struct buf want = BUF_INIT;
	buf_append_str(&want, "Return-Path: <s@x.test>\nDelivered-To: rcpt@example.test\n");
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		buf_append_char(&want, in[i]);
	}
	struct buf got = BUF_INIT;
	struct maildir_result res;
	deliver_and_read(md, "s@x.test", in, len, &got, &res);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, got.len);
	/* spot checks, independent of the reference loop above */
	size_t h = strlen("Return-Path: <s@x.test>\nDelivered-To: rcpt@example.test\n");
	assert_int_equal(got.data[h + BLOCK - 1], '\n');
	assert_int_equal(got.data[h + BLOCK], 'a');
	assert_int_equal(got.len, h + len - 2);
	buf_free(&got);
	buf_free(&want);

	/* a trailing lone CR survives */
	buf_init(&got);
	deliver_and_read(md, "s@x.test", "ab\r", 3, &got, &res);
	assert_int_equal(got.data[got.len - 1], '\r');
	assert_int_equal(got.data[got.len - 2], 'b');
	buf_free(&got);
	free(in);
}

static void test_deliver_maildir_creates_dirs(void **state)
{
	char md[256], path[300];
	snprintf(md, sizeof(md), "%s/deep/er/box/", dir);
	int fd = content_fd("", "x\r\n", 3);
	struct maildir_result res;
	assert_int_equal(deliver_maildir(md, "a@b.test", "c@d.test", fd, 0, 3, &res), 0);
	close(fd);
	const char *subs[] = { "", "tmp", "new", "cur" };
	for (size_t i = 0; i < 4; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/deep/er/box/%s", dir, subs[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	snprintf(path, sizeof(path), "%s/deep/er/box/new", dir);
	assert_int_equal(count_entries(path), 1);
	/* an existing Maildir missing only cur/ still works */
	snprintf(path, sizeof(path), "%s/deep/er/box/cur", dir);
	assert_int_equal(rmdir(path), 0);
	fd = content_fd("", "y", 1);
	assert_int_equal(deliver_maildir(md, "", "c@d.test", fd, 0, 1, &res), 0);
	close(fd);
}

static void test_deliver_maildir_names_unique(void **state)
{
	char md[128], path[160];
	snprintf(md, sizeof(md), "%s/many", dir);
	int fd = content_fd("", "body\r\n", 6);
	char (*names)[256] = xcalloc(1000, sizeof(*names));
	for (size_t i = 0; i < 1000; i++) {
		struct maildir_result res;
		assert_int_equal(deliver_maildir(md, "a@b.test", "c@d.test", fd, 0, 6, &res), 0);
		/* cr.yp.to: no "/" and no ":" in a name; nothing starting with "." */
		assert_null(strchr(res.name, '/'));
		assert_null(strchr(res.name, ':'));
		assert_true(res.name[0] != '.');
		memcpy(names[i], res.name, sizeof(res.name));
	}
	close(fd);
	for (size_t i = 0; i < 1000; i++)
		for (size_t j = i + 1; j < 1000; j++)
			assert_string_not_equal(names[i], names[j]);
	snprintf(path, sizeof(path), "%s/new", md);
	assert_int_equal(count_entries(path), 1000);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);
	free(names);
}

struct deliverer {
	const char *md;
	int fd;
	int failures;
};

static void *deliver_thread(void *arg)
{
	struct deliverer *d = arg;
	for (int i = 0; i < 250; i++) {
		struct maildir_result res;
		if (deliver_maildir(d->md, "a@b.test", "c@d.test", d->fd, 0, 6, &res) != 0)
			d->failures++;
	}
	return NULL;
}

static void test_deliver_maildir_concurrent_threads(void **state)
{
	/* four delivery threads into one Maildir: 1000 distinct files, nothing lost */
	char md[128], path[160];
	snprintf(md, sizeof(md), "%s/shared", dir);
	int fd = content_fd("", "body\r\n", 6);
	struct deliverer d[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		d[i] = (struct deliverer){ md, fd, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, deliver_thread, &d[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(d[i].failures, 0);
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/new", md);
	assert_int_equal(count_entries(path), 1000);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);
}

static void test_deliver_maildir_enotdir_is_permanent(void **state)
{
	char md[128], file[128];
	snprintf(file, sizeof(file), "%s/plainfile", dir);
	int f = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(f >= 0);
	close(f);
	snprintf(md, sizeof(md), "%s/plainfile/box", dir);
	int fd = content_fd("", "x", 1);
	struct maildir_result res;
	assert_int_equal(deliver_maildir(md, "a@b.test", "c@d.test", fd, 0, 1, &res), -1);
	assert_true(res.permanent);
	assert_int_equal(strncmp(res.text, "5.", 2), 0);
	assert_non_null(strstr(res.text, "Not a directory"));
	assert_string_equal(res.name, "");
	/* the Maildir itself is a file */
	assert_int_equal(deliver_maildir(file, "a@b.test", "c@d.test", fd, 0, 1, &res), -1);
	assert_true(res.permanent);
	close(fd);
}

static void test_deliver_maildir_failure_cleans_tmp(void **state)
{
	/* new/ is a file: the tmp/ file is written, the rename fails, tmp/ is emptied */
	char md[128], path[160];
	snprintf(md, sizeof(md), "%s/badnew", dir);
	assert_int_equal(mkdir(md, 0700), 0);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/new", md);
	int f = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(f >= 0);
	close(f);
	int fd = content_fd("", "x", 1);
	struct maildir_result res;
	assert_int_equal(deliver_maildir(md, "a@b.test", "c@d.test", fd, 0, 1, &res), -1);
	assert_true(res.permanent);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);

	/* content shorter than announced (a truncated queue file): temporary, tmp/ empty */
	snprintf(md, sizeof(md), "%s/short", dir);
	assert_int_equal(deliver_maildir(md, "a@b.test", "c@d.test", fd, 0, 100, &res), -1);
	assert_false(res.permanent);
	assert_int_equal(strncmp(res.text, "4.", 2), 0);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);
	snprintf(path, sizeof(path), "%s/new", md);
	assert_int_equal(count_entries(path), 0);

	/* a bad descriptor: temporary (EBADF), nothing left */
	assert_int_equal(deliver_maildir(md, "a@b.test", "c@d.test", -1, 0, 1, &res), -1);
	assert_false(res.permanent);
	assert_int_equal(count_entries(path), 0);
	close(fd);
}

static void test_deliver_maildir_unwritable_is_temporary(void **state)
{
	if (geteuid() == 0)
		skip();	/* root writes anywhere */
	char md[128];
	snprintf(md, sizeof(md), "%s/ro", dir);
	assert_int_equal(mkdir(md, 0500), 0);
	char sub[160];
	snprintf(sub, sizeof(sub), "%s/box", md);
	int fd = content_fd("", "x", 1);
	struct maildir_result res;
	assert_int_equal(deliver_maildir(sub, "a@b.test", "c@d.test", fd, 0, 1, &res), -1);
	assert_false(res.permanent);
	close(fd);
	chmod(md, 0700);
}

static void test_deliver_maildir_header_injection(void **state)
{
	char md[128];
	snprintf(md, sizeof(md), "%s/inj", dir);
	struct buf got = BUF_INIT;
	struct maildir_result res;
	deliver_and_read(md, "a\r\nX-Evil: 1@b.test", "", 0, &got, &res);
	const char want[] = "Return-Path: <a  X-Evil: 1@b.test>\nDelivered-To: rcpt@example.test\n";
	assert_int_equal(got.len, sizeof(want) - 1);
	assert_memory_equal(got.data, want, got.len);
	buf_free(&got);
}

/* The one entry of md/sub into name (there must be exactly one). */
static void only_entry(const char *md, const char *sub, char *name, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", md, sub);
	assert_int_equal(count_entries(path), 1);
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			snprintf(name, size, "%s", e->d_name);
	closedir(d);
}

static void test_deliver_maildir_once_copy_already_published(void **state)
{
	/*
	 * A run killed after publishing a copy but before the queue recorded
	 * it: the restarted run's copy of the same (message, recipient) meets
	 * the name in new/, even without a search, and counts as delivered;
	 * once a reader moved it to cur/, the search (check) finds it there.
	 */
	char md[128], path[512], first[256], name[256];
	snprintf(md, sizeof(md), "%s/once", dir);
	int fd = content_fd("", "body\r\n", 6);
	struct maildir_result res;
	assert_int_equal(deliver_maildir_once(md, "1000.QID_0", false, "a@b.test", "c@d.test", fd, 0, 6, &res), 0);
	assert_false(res.already);
	assert_int_equal(strncmp(res.name, "1000.QID_0.", 11), 0);
	only_entry(md, "new", first, sizeof(first));
	assert_string_equal(first, res.name);

	assert_int_equal(deliver_maildir_once(md, "1000.QID_0", false, "a@b.test", "c@d.test", fd, 0, 6, &res), 0);
	assert_true(res.already);
	assert_string_equal(res.name, first);
	only_entry(md, "new", name, sizeof(name));
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);

	/* read by a mail client: moved to cur/ with flags */
	char from[600], to[600];
	snprintf(from, sizeof(from), "%s/new/%s", md, first);
	snprintf(to, sizeof(to), "%s/cur/%s:2,S", md, first);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(deliver_maildir_once(md, "1000.QID_0", true, "a@b.test", "c@d.test", fd, 0, 6, &res), 0);
	assert_true(res.already);
	snprintf(path, sizeof(path), "%s/new", md);
	assert_int_equal(count_entries(path), 0);
	only_entry(md, "cur", name, sizeof(name));

	/* another recipient of the same message is a copy of its own */
	assert_int_equal(deliver_maildir_once(md, "1000.QID_1", true, "a@b.test", "e@d.test", fd, 0, 6, &res), 0);
	assert_false(res.already);
	only_entry(md, "new", name, sizeof(name));
	assert_string_equal(name, res.name);
	close(fd);
}

static void test_maildir_expand_substitutes(void **state)
{
	char out[128];
	assert_int_equal(maildir_expand("./run/mail/%d/%u", "User.Name", "example.test", out, sizeof(out)), 0);
	assert_string_equal(out, "./run/mail/example.test/user.name");
	assert_int_equal(maildir_expand("/m/%%/%u-%u", "a", "d.test", out, sizeof(out)), 0);
	assert_string_equal(out, "/m/%/a-a");
	assert_int_equal(maildir_expand("/var/mail/shared", "x", "d.test", out, sizeof(out)), 0);
	assert_string_equal(out, "/var/mail/shared");
	/* the template is the admin's: its own ".." is kept */
	assert_int_equal(maildir_expand("../mail/%u", "bob", "d.test", out, sizeof(out)), 0);
	assert_string_equal(out, "../mail/bob");
	/* a domain literal names a directory as it is */
	assert_int_equal(maildir_expand("/m/%d/%u", "bob", "[127.0.0.1]", out, sizeof(out)), 0);
	assert_string_equal(out, "/m/[127.0.0.1]/bob");
}

static void test_maildir_expand_rejects_unsafe(void **state)
{
	char out[64];
	const char *bad_local[] = { "../etc", "..", ".", "a/b", "user%remote", "a!b", "a@b",
				    "\"a b\"", "", ".hidden" };
	for (size_t i = 0; i < sizeof(bad_local) / sizeof(bad_local[0]); i++) {
		snprintf(out, sizeof(out), "junk");
		assert_int_equal(maildir_expand("/m/%d/%u", bad_local[i], "d.test", out, sizeof(out)), -1);
		assert_string_equal(out, "");
	}
	const char *bad_domain[] = { "", "..", ".", "a/b", "../x", ".d.test" };
	for (size_t i = 0; i < sizeof(bad_domain) / sizeof(bad_domain[0]); i++)
		assert_int_equal(maildir_expand("/m/%d/%u", "bob", bad_domain[i], out, sizeof(out)), -1);
	/* only substituted values are checked: an unused empty domain is fine */
	assert_int_equal(maildir_expand("/m/%u", "bob", "", out, sizeof(out)), 0);
	/* unknown escapes and a lone trailing % */
	assert_int_equal(maildir_expand("/m/%x", "bob", "d.test", out, sizeof(out)), -1);
	assert_int_equal(maildir_expand("/m/%", "bob", "d.test", out, sizeof(out)), -1);
	/* too long for out */
	assert_int_equal(maildir_expand("/m/%u", "abcdefgh", "d", out, 11), -1);
	assert_int_equal(maildir_expand("/m/%u", "abcdefg", "d", out, 11), 0);
	assert_string_equal(out, "/m/abcdefg");
	assert_int_equal(maildir_expand("/m", "a", "d", out, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver_maildir_crlf_to_lf_exact),
		cmocka_unit_test(test_deliver_maildir_null_sender_and_empty_content),
		cmocka_unit_test(test_deliver_maildir_cr_at_block_boundaries),
		cmocka_unit_test(test_deliver_maildir_creates_dirs),
		cmocka_unit_test(test_deliver_maildir_names_unique),
		cmocka_unit_test(test_deliver_maildir_concurrent_threads),
		cmocka_unit_test(test_deliver_maildir_enotdir_is_permanent),
		cmocka_unit_test(test_deliver_maildir_failure_cleans_tmp),
		cmocka_unit_test(test_deliver_maildir_unwritable_is_temporary),
		cmocka_unit_test(test_deliver_maildir_header_injection),
		cmocka_unit_test(test_deliver_maildir_once_copy_already_published),
		cmocka_unit_test(test_maildir_expand_substitutes),
		cmocka_unit_test(test_maildir_expand_rejects_unsafe),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
