/*
 * deliver_maildir.c — one message copy into a Maildir (see deliver_maildir.h).
 *
 * Owns no state beyond a process-wide name counter and the cached, escaped
 * host name; runs on delivery threads, any number at once, also into the
 * same Maildir. The file is written in DIR/tmp/ (0600) through one 64 KiB
 * buffer, fsync'd, then moved into DIR/new/ without ever replacing a file,
 * and DIR/new/ is fsync'd: only then is the copy durable and the delivery
 * reported done. Where the file system has them (ext4, XFS, Btrfs, tmpfs)
 * the tmp/ file is unnamed (O_TMPFILE) and linked into new/ by its
 * /proc/self/fd path: a crash mid-copy leaves nothing behind, and tmp/ sees
 * no traffic. Elsewhere it is a named tmp/ file (O_EXCL) renamed into new/
 * (renameat2 RENAME_NOREPLACE, or link+unlink). Directories created on the way are fsync'd into
 * their parents for the same reason. A copy named after (queue ID, recipient)
 * that exists already, in new/ or cur/, is that delivery, done by a run that
 * died before the queue recorded it: never written twice.
 * Names follow cr.yp.to's Maildir rules: "SEC.M<usec>P<pid>Q<n>R<random>.HOST"
 * with "/" ":" "," in HOST escaped as \057 \072 \054, and ",S=<size>" (bytes
 * of the stored file) appended in new/ (the Courier/Dovecot convention).
 * Not done here: choosing the directory (route.c), retry (queue.c).
 * Errors: -1 with struct maildir_result; every errno is temporary except
 * those that say the path can never work (ENOTDIR, ELOOP, ENAMETOOLONG,
 * EINVAL). Every failure removes its tmp/ file. Texts start with an RFC 3463
 * enhanced status code (X.2.2 quota, X.3.1 disk full, X.2.0 / X.3.0 other).
 */
#include "deliver_maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "address.h"
#include "lib/fdio.h"
#include "lib/xalloc.h"

#define MAILDIR_BLOCK (64 * 1024)	/* read and write unit */
#define MAILDIR_NAME_TRIES 16		/* fresh names tried after EEXIST */
#define MAILDIR_HOST_MAX 120		/* escaped host name bytes kept in a name */

static atomic_ulong maildir_counter;
static pthread_once_t maildir_proc_once = PTHREAD_ONCE_INIT;
static bool maildir_have_proc;	/* /proc/self/fd/N names an open file: O_TMPFILE copies can be linked */

static void maildir_proc_init(void)
{
	maildir_have_proc = access("/proc/self/fd", X_OK) == 0;
}
static pthread_once_t maildir_host_once = PTHREAD_ONCE_INIT;
static char maildir_host[MAILDIR_HOST_MAX + 1];

static void maildir_host_init(void)
{
	char raw[HOST_NAME_MAX + 1];
	size_t n = 0;

	if (gethostname(raw, sizeof(raw)) != 0 || raw[0] == '\0')
		snprintf(raw, sizeof(raw), "localhost");
	raw[sizeof(raw) - 1] = '\0';
	for (const char *p = raw; *p != '\0'; p++) {
		const char *esc = NULL;
		switch (*p) {
		case '/':
			esc = "\\057";
			break;
		case ':':
			esc = "\\072";
			break;
		case ',':
			esc = "\\054";
			break;
		}
		size_t add = esc != NULL ? 4 : 1;
		if (n + add > MAILDIR_HOST_MAX)
			break;
		if (esc != NULL)
			memcpy(maildir_host + n, esc, 4);
		else
			maildir_host[n] = (unsigned char)*p < 0x21 || *p == 0x7f ? '_' : *p;
		n += add;
	}
	maildir_host[n] = '\0';
}

/* A fresh unique base name ("SEC.M..P..Q..R...HOST") into out[0..size). */
static void maildir_name(char *out, size_t size)
{
	struct timeval tv;
	unsigned long long rnd = 0;

	pthread_once(&maildir_host_once, maildir_host_init);
	gettimeofday(&tv, NULL);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd ^= (unsigned long long)tv.tv_usec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&tv;
	unsigned long q = atomic_fetch_add(&maildir_counter, 1) + 1;
	snprintf(out, size, "%lld.M%06ldP%ldQ%luR%016llx.%s", (long long)tv.tv_sec,
		 (long)tv.tv_usec, (long)getpid(), q, rnd, maildir_host);
}

static bool maildir_errno_permanent(int err)
{
	return err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG || err == EINVAL;
}

static int maildir_fail(struct maildir_result *res, const char *dir, const char *what, int err)
{
	const char *code;

	res->permanent = maildir_errno_permanent(err);
	if (res->permanent)
		code = "5.2.0";
	else if (err == EDQUOT)
		code = "4.2.2";
	else if (err == ENOSPC)
		code = "4.3.1";
	else
		code = "4.3.0";
	snprintf(res->text, sizeof(res->text), "%s maildir %s: %s: %s", code, dir, what, strerror(err));
	errno = err;
	return -1;
}

static int maildir_fsync_dir(int dfd)
{
	return fsync(dfd) == 0 || errno == EINVAL ? 0 : -1;
}

/* fsyncs the directory holding path (path is modified and restored). */
static int maildir_fsync_parent(char *path)
{
	char *slash = strrchr(path, '/');
	const char *parent = ".";
	int fd, rc;

	if (slash == path)
		parent = "/";
	else if (slash != NULL) {
		*slash = '\0';
		parent = path;
	}
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (slash != NULL && slash != path)
		*slash = '/';
	if (fd < 0)
		return -1;
	rc = maildir_fsync_dir(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* mkdir -p path (0700), fsyncing each new directory into its parent. -1 with errno. */
static int maildir_mkdir_p(const char *path)
{
	char *p = xstrdup(path);
	size_t len = strlen(p);
	int rc = 0;

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (size_t i = 1; i <= len && rc == 0; i++) {
		if ((p[i] != '/' && p[i] != '\0') || p[i - 1] == '/')
			continue;	/* inside a component, or "a//b" */
		char saved = p[i];
		p[i] = '\0';
		if (mkdir(p, 0700) == 0)
			rc = maildir_fsync_parent(p);
		else if (errno != EEXIST)
			rc = -1;
		p[i] = saved;
	}
	int e = errno;
	free(p);
	errno = e;
	return rc;
}

/* Opens sub ("tmp", "new") of the Maildir dfd, creating tmp/new/cur when missing. */
static int maildir_open_sub(int dfd, const char *sub)
{
	int fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (mkdirat(dfd, subs[i], 0700) < 0 && errno != EEXIST)
			return -1;
	if (maildir_fsync_dir(dfd) < 0)
		return -1;
	return openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Appends a header line, with any CR or LF in the value made harmless. */
static size_t maildir_header(char *out, size_t cap, const char *name, const char *open,
			     const char *value, const char *close)
{
	size_t n = 0;
	const char *parts[] = { name, open };
	for (size_t k = 0; k < 2; k++)
		for (const char *s = parts[k]; *s != '\0' && n < cap; s++)
			out[n++] = *s;
	for (const char *s = value; *s != '\0' && n < cap; s++)
		out[n++] = *s == '\r' || *s == '\n' ? ' ' : *s;
	for (const char *s = close; *s != '\0' && n < cap; s++)
		out[n++] = *s;
	if (n < cap)
		out[n++] = '\n';
	return n;
}

/*
 * Copies in[0..n) to out with CRLF made LF; a CR that ends the block waits in
 * *cr for the next one to show what follows it. Returns the bytes written:
 * at most n + 1. Runs between CRs go by memcpy (a byte at a time was the
 * cost of large messages).
 */
static size_t maildir_lf(const char *in, size_t n, char *out, bool *cr)
{
	size_t i = 0, o = 0;
	if (*cr) {
		*cr = false;
		bool crlf = in[0] == '\n';
		out[o++] = crlf ? '\n' : '\r';	/* a lone CR stays */
		i = crlf ? 1 : 0;
	}
	while (i < n) {
		const char *hit = memchr(in + i, '\r', n - i);
		size_t run = hit != NULL ? (size_t)(hit - (in + i)) : n - i;
		memcpy(out + o, in + i, run);
		o += run;
		i += run;
		if (i == n)
			break;
		if (i + 1 == n) {
			*cr = true;
			break;
		}
		bool crlf = in[i + 1] == '\n';
		out[o++] = crlf ? '\n' : '\r';
		i += crlf ? 2 : 1;
	}
	return o;
}

/*
 * Writes the headers and content [off, off+len) of in to out, CRLF -> LF.
 * Returns the bytes written, or -1 with errno and *what naming the step.
 */
static long long maildir_copy(int out, int in, off_t off, off_t len, const char *return_path,
			      const char *delivered_to, const char **what)
{
	char *wbuf = xmalloc(MAILDIR_BLOCK + 1);	/* a block, and a CR held from the one before */
	char *rbuf = xmalloc(MAILDIR_BLOCK);
	size_t wn = 0;
	long long total = 0;
	bool cr_pending = false;	/* a CR ended the previous block */
	long long rc = -1;

	/* both headers fit: addresses are at most a few hundred bytes */
	wn = maildir_header(wbuf, MAILDIR_BLOCK / 2, "Return-Path: ", "<", return_path, ">");
	wn += maildir_header(wbuf + wn, MAILDIR_BLOCK / 2 - 1, "Delivered-To: ", "", delivered_to, "");

	off_t done = 0;
	while (done < len) {
		size_t want = len - done > MAILDIR_BLOCK ? MAILDIR_BLOCK : (size_t)(len - done);
		ssize_t r = pread(in, rbuf, want, off + done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;	/* the queue file is shorter than its envelope says */
			*what = "read queue file";
			goto fail;
		}
		done += r;
		if (wn + (size_t)r + 1 > MAILDIR_BLOCK + 1) {
			if (fd_write_all(out, wbuf, wn) < 0) {
				*what = "write";
				goto fail;
			}
			total += (long long)wn;
			wn = 0;
		}
		wn += maildir_lf(rbuf, (size_t)r, wbuf + wn, &cr_pending);
	}
	if (cr_pending)
		wbuf[wn++] = '\r';
	if (fd_write_all(out, wbuf, wn) < 0) {
		*what = "write";
		goto fail;
	}
	total += (long long)wn;
	rc = total;
fail:
	{
		int e = errno;
		free(wbuf);
		free(rbuf);
		errno = e;
	}
	return rc;
}

/*
 * The copy's file, for writing: an unnamed one in tmp/ (*anon) where the
 * file system has O_TMPFILE, else tmp/name. With `fixed`, name is given (a
 * named tmp/ file of that name is a crashed run's partial copy, replaced);
 * otherwise a fresh name is made into name[0..size). -1 with errno.
 */
static int maildir_create(int tmpfd, bool fixed, char *name, size_t size, bool *anon)
{
	pthread_once(&maildir_proc_once, maildir_proc_init);
	*anon = false;
	if (!fixed)
		maildir_name(name, size);
	if (maildir_have_proc) {
		int out = openat(tmpfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (out >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) {
			*anon = out >= 0;
			return out;
		}
	}
	if (fixed) {
		unlinkat(tmpfd, name, 0);
		return openat(tmpfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	}
	for (int t = 0; t < MAILDIR_NAME_TRIES; t++) {
		if (t > 0)
			maildir_name(name, size);
		int out = openat(tmpfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (out >= 0 || errno != EEXIST)
			return out;
	}
	errno = EEXIST;
	return -1;
}

/* Gives the unnamed file fd the name newname in newfd; never replaces a file. */
static int maildir_link_anon(int fd, int newfd, const char *newname)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, path, newfd, newname, AT_SYMLINK_FOLLOW);
}

/* Moves the copy (the unnamed file anon_fd, or tmp/name when anon_fd < 0) to
 * new/name,S=size (never replacing a file); with `retry`, a clash picks a
 * fresh name. The name into res. */
static int maildir_publish(int tmpfd, const char *name, int anon_fd, int newfd, long long size, bool retry,
			   struct maildir_result *res)
{
	char base[200];
	for (int t = 0; t < (retry ? MAILDIR_NAME_TRIES : 1); t++) {
		if (t == 0)
			snprintf(res->name, sizeof(res->name), "%s,S=%lld", name, size);
		else {
			maildir_name(base, sizeof(base));
			snprintf(res->name, sizeof(res->name), "%s,S=%lld", base, size);
		}
		if (anon_fd >= 0) {
			if (maildir_link_anon(anon_fd, newfd, res->name) == 0)
				return 0;
			if (errno == EEXIST)
				continue;
			return -1;
		}
		if (renameat2(tmpfd, name, newfd, res->name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST)
			continue;
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		/* the file system has no RENAME_NOREPLACE: link() never replaces either */
		if (linkat(tmpfd, name, newfd, res->name, 0) == 0) {
			unlinkat(tmpfd, name, 0);
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

/*
 * Whether sub/ of the Maildir holds a copy published as name (followed by
 * ",S=..." in new/, or ":2,..." once a reader moved it to cur/): 1 when it
 * does, with sub/ fsync'd (the run that published it may have died before
 * its own directory fsync), 0 when not, -1 with errno when that fsync failed.
 */
static int maildir_find(int dfd, const char *sub, const char *name)
{
	int fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	size_t n = strlen(name);
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d)) != NULL) {
		char c = de->d_name[n];
		found = strncmp(de->d_name, name, n) == 0 && (c == '\0' || c == ',' || c == ':');
	}
	int rc = found ? 1 : 0;
	if (found && maildir_fsync_dir(dirfd(d)) < 0)
		rc = -1;
	int e = errno;
	closedir(d);
	errno = e;
	return rc;
}

int deliver_maildir_once(const char *dir, const char *unique, bool check,
			 const char *return_path, const char *delivered_to, int fd, off_t off,
			 off_t len, struct maildir_result *res)
{
	char name[200];
	const char *what = "open";
	int dfd = -1, tmpfd = -1, newfd = -1, out = -1;
	bool created = false, anon = false;
	int err;

	memset(res, 0, sizeof(*res));
	if (dir == NULL || dir[0] == '\0' || off < 0 || len < 0) {
		errno = EINVAL;
		return maildir_fail(res, dir == NULL ? "" : dir, "bad arguments", EINVAL);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT) {
		if (maildir_mkdir_p(dir) < 0) {
			what = "create";
			goto fail;
		}
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd < 0)
		goto fail;
	what = "open tmp/";
	if ((tmpfd = maildir_open_sub(dfd, "tmp")) < 0)
		goto fail;
	what = "open new/";
	if ((newfd = maildir_open_sub(dfd, "new")) < 0)
		goto fail;

	what = "create tmp/ file";
	if (unique != NULL) {
		pthread_once(&maildir_host_once, maildir_host_init);
		snprintf(name, sizeof(name), "%s.%s", unique, maildir_host);
		int found = 0;
		what = "fsync new/";
		if (check && (found = maildir_find(dfd, "new", name)) == 0) {
			what = "fsync cur/";
			found = maildir_find(dfd, "cur", name);
		}
		if (found < 0)
			goto fail;
		if (found > 0) {
			snprintf(res->name, sizeof(res->name), "%s", name);
			res->already = true;
			close(newfd);
			close(tmpfd);
			close(dfd);
			return 0;
		}
		what = "create tmp/ file";
	}
	if ((out = maildir_create(tmpfd, unique != NULL, name, sizeof(name), &anon)) < 0)
		goto fail;
	created = !anon;

	long long size = maildir_copy(out, fd, off, len, return_path == NULL ? "" : return_path,
				      delivered_to == NULL ? "" : delivered_to, &what);
	if (size < 0)
		goto fail;
	what = "fsync";
	if (fsync(out) < 0)
		goto fail;
	/*
	 * Published with the file still open (an unnamed one is linked by its
	 * descriptor). A unique name taken in new/ is this (message,
	 * recipient)'s copy, made by a run that died before recording it:
	 * fsync'd before it was given that name, so it is whole, and ours is
	 * dropped.
	 */
	what = "rename into new/";
	int pub = maildir_publish(tmpfd, name, anon ? out : -1, newfd, size, unique == NULL, res);
	if (pub < 0 && (unique == NULL || errno != EEXIST))
		goto fail;
	res->already = pub < 0;
	if (created && res->already)
		unlinkat(tmpfd, name, 0);
	created = false;
	what = "close";
	err = close(out);
	out = -1;
	if (err == 0) {
		what = "fsync new/";
		err = fsync(newfd) < 0 && errno != EINVAL ? -1 : 0;
	}
	if (err < 0) {
		/* Not durable: take ours back so that a retry does not leave two copies. */
		err = errno;
		if (!res->already)
			unlinkat(newfd, res->name, 0);
		errno = err;
		goto fail;
	}
	close(newfd);
	close(tmpfd);
	close(dfd);
	return 0;

fail:
	err = errno;
	if (out >= 0)
		close(out);
	if (created)
		unlinkat(tmpfd, name, 0);
	if (newfd >= 0)
		close(newfd);
	if (tmpfd >= 0)
		close(tmpfd);
	if (dfd >= 0)
		close(dfd);
	res->name[0] = '\0';
	return maildir_fail(res, dir, what, err);
}

int deliver_maildir(const char *dir, const char *return_path, const char *delivered_to,
		    int fd, off_t off, off_t len, struct maildir_result *res)
{
	return deliver_maildir_once(dir, NULL, false, return_path, delivered_to, fd, off, len, res);
}

/* Appends s to out[*n..size), marking the bytes as substituted. */
static int maildir_put(char *out, bool *sub, size_t size, size_t *n, const char *s, bool lower,
		       bool from_sub)
{
	for (; *s != '\0'; s++) {
		if (*n + 1 >= size)
			return -1;
		char c = *s;
		if (lower && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		sub[*n] = from_sub;
		out[(*n)++] = c;
	}
	return 0;
}

/* True when a component of out made of substituted bytes is "." or "..". */
static bool maildir_dotdot(const char *out, const bool *sub, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && out[i] != '/')
			continue;
		size_t clen = i - start;
		bool any_sub = false;
		for (size_t k = start; k < i; k++)
			any_sub |= sub[k];
		if (any_sub && (clen == 1 || clen == 2) && out[start] == '.' &&
		    (clen == 1 || out[start + 1] == '.'))
			return true;
		start = i + 1;
	}
	return false;
}

int maildir_expand(const char *tmpl, const char *local, const char *domain, char *out, size_t size)
{
	if (size == 0)
		return -1;
	out[0] = '\0';
	if (tmpl == NULL || local == NULL || domain == NULL)
		return -1;
	bool *sub = xcalloc(size, sizeof(*sub));
	size_t n = 0;
	int rc = -1;

	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p != '%') {
			char one[2] = { *p, '\0' };
			if (maildir_put(out, sub, size, &n, one, false, false) < 0)
				goto fail;
			continue;
		}
		switch (*++p) {
		case 'u':
			if (!address_local_is_safe(local))
				goto fail;
			if (maildir_put(out, sub, size, &n, local, true, true) < 0)
				goto fail;
			break;
		case 'd':
			/* a domain names one directory: never empty, never a path */
			if (domain[0] == '\0' || domain[0] == '.' || strchr(domain, '/') != NULL)
				goto fail;
			if (maildir_put(out, sub, size, &n, domain, true, true) < 0)
				goto fail;
			break;
		case '%':
			if (maildir_put(out, sub, size, &n, "%", false, false) < 0)
				goto fail;
			break;
		default:	/* unknown escape, or a lone % at the end */
			goto fail;
		}
	}
	out[n] = '\0';
	if (maildir_dotdot(out, sub, n))
		goto fail;
	rc = 0;
fail:
	if (rc < 0)
		out[0] = '\0';
	free(sub);
	return rc;
}
