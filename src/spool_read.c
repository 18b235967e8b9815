/*
 * spool_read.c — committed queue files: opening and checking them,
 * updating recipient states in place, removal, quarantine, the recovery
 * scan, holding and releasing (see spool.h).
 *
 * Runs on delivery threads (and the main thread for the scan). A file is
 * trusted only after its first line, envelope and trailer all check out;
 * anything else is logged and reported as EINVAL so that the queue moves it
 * to corrupt/, never delivers it. Errors: -1 with errno.
 */
#include "spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "log.h"

static int spool_pwrite_all(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pwrite(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			return EIO;
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Reads up to n bytes at off, stopping only at end of file; the count or -1. */
static ssize_t spool_pread_full(int fd, char *p, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* ---- reading and updating committed files ----------------------------------------- */

static int spool_corrupt(const char *id, const char *reason)
{
	log_warn("event=spool_corrupt id=%s reason=\"%s\"", id, reason);
	errno = EINVAL;
	return -1;
}

int spool_file_load(int fd, const char *id, struct spool_file *f)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode))
		return spool_corrupt(id, "not a regular file");

	char first[SPOOL_FIRST_LINE_MAX];
	ssize_t n = spool_pread_full(fd, first, sizeof(first), 0);
	if (n < 0)
		return -1;
	size_t hl = spool_format_header_len(first, (size_t)n);
	if (hl == 0)
		return spool_corrupt(id, "bad first line");
	if ((unsigned long long)st.st_size < (unsigned long long)hl + SPOOL_TRAILER_LEN)
		return spool_corrupt(id, "truncated");

	char *hdr = xmalloc(hl);
	n = spool_pread_full(fd, hdr, hl, 0);
	if (n < 0 || (size_t)n != hl) {
		free(hdr);
		return n < 0 ? -1 : spool_corrupt(id, "truncated");
	}
	const char *why;
	int rc = spool_format_decode(hdr, hl, &f->env, &why);
	free(hdr);
	if (rc < 0)
		return spool_corrupt(id, why);
	if (strcmp(f->env.id, id) != 0)
		return spool_corrupt(id, "id record differs from the file name");

	off_t content_len = st.st_size - (off_t)hl - SPOOL_TRAILER_LEN;
	char trailer[SPOOL_TRAILER_LEN];
	n = spool_pread_full(fd, trailer, sizeof(trailer), st.st_size - SPOOL_TRAILER_LEN);
	if (n < 0)
		return -1;
	if ((size_t)n != sizeof(trailer) || !spool_format_trailer_ok(trailer, (unsigned long long)content_len))
		return spool_corrupt(id, "bad trailer (torn or truncated file)");
	f->content_off = (off_t)hl;
	f->content_len = content_len;
	return 0;
}

/* spool_file_open() in the directory dirfd (queue/ or hold/). */
static int spool_file_open_in(int dirfd, const char *id, struct spool_file *f)
{
	f->fd = -1;
	envelope_init(&f->env);
	f->content_off = 0;
	f->content_len = 0;
	if (!spool_format_id_ok(id)) {
		errno = ENOENT;	/* no queue file can have that name */
		return -1;
	}
	int fd = openat(dirfd, id, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && (errno == ELOOP || errno == EISDIR))
		return spool_corrupt(id, "not a regular file");
	if (fd < 0)
		return -1;
	if (spool_file_load(fd, id, f) < 0) {
		int err = errno;
		envelope_free(&f->env);
		close(fd);
		errno = err;
		return -1;
	}
	f->fd = fd;
	return 0;
}

int spool_file_open(struct spool *s, const char *id, struct spool_file *f)
{
	return spool_file_open_in(s->queuefd, id, f);
}

void spool_file_close(struct spool_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	envelope_free(&f->env);
}

int spool_file_update_rcpt(struct spool_file *f, size_t i)
{
	if (f->fd < 0 || i >= f->env.nrcpts) {
		errno = EINVAL;
		return -1;
	}
	const struct envelope_rcpt *r = &f->env.rcpts[i];
	if (!rcpt_state_valid(r->state)) {
		errno = EINVAL;
		return -1;
	}
	if (r->state_off + SPOOL_RCPT_STATE_LEN > f->env.header_len) {
		errno = EINVAL;	/* not from spool_file_open() */
		return -1;
	}
	struct buf st = BUF_INIT;
	spool_format_rcpt_state(r, &st);
	/* Overwritten in place: the file's length and layout never change.
	 * Should a crash tear the write (it may straddle a sector), every byte
	 * of the field is still an old or a new one, so the file still decodes:
	 * the state letter is a single byte, and mixed digits only move a
	 * retry earlier or later. */
	int err = spool_pwrite_all(f->fd, st.data, st.len, (off_t)r->state_off);
	buf_free(&st);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int spool_file_sync(struct spool_file *f)
{
	/* Overwrites in place change neither size nor block map: fdatasync
	 * makes them durable without a needless inode timestamp write. */
	return fdatasync(f->fd);
}

int spool_remove(struct spool *s, const char *id)
{
	if (!spool_format_id_ok(id)) {
		errno = ENOENT;
		return -1;
	}
	/* Moved out to spare/, not unlinked: a new message takes it there, which
	 * is much cheaper than a new inode. */
	if (renameat(s->queuefd, id, s->sparefd, id) < 0)
		return -1;
	/* Until queue/ is synced a crash may bring the file back, and its
	 * recipients would be delivered again: the caller must know. */
	int err = spool_dirsync(&s->queue_sync, s->queuefd);
	if (err != 0) {
		/* Left as it is: the caller writes the states into it, in case a
		 * crash brings it back to queue/. */
		errno = err;
		return -1;
	}
	int fd = openat(s->sparefd, id, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0)
		spool_spare_put(s, fd, id);
	else
		unlinkat(s->sparefd, id, 0);
	return 0;
}

int spool_quarantine(struct spool *s, const char *id)
{
	if (!spool_format_id_ok(id)) {
		errno = ENOENT;
		return -1;
	}
	if (renameat(s->queuefd, id, s->corruptfd, id) < 0)
		return -1;
	/* The new name first, then the old one's removal: at no point may a
	 * crash leave the file in neither directory. */
	if (fsync(s->corruptfd) < 0)
		return -1;
	int err = spool_dirsync(&s->queue_sync, s->queuefd);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

static int spool_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* spool_scan() of the directory dirfd (queue/ or hold/). */
static int spool_scan_dir(int dirfd, void (*fn)(void *arg, const char *id), void *arg)
{
	/* A new open file description: readdir must not share dirfd's offset. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			rc = errno != 0 ? -1 : 0;
			break;
		}
		/* Dot files and other strangers are the admin's; not ours to read. */
		if (de->d_name[0] == '.' || !spool_format_id_ok(de->d_name) || de->d_type == DT_DIR)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	int err = errno;
	closedir(d);
	/* Oldest first: IDs sort by arrival time. */
	if (rc == 0 && n > 0)
		qsort(names, n, sizeof(*names), spool_cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			fn(arg, names[i]);
		free(names[i]);
	}
	free(names);
	if (rc < 0) {
		errno = err;
		return -1;
	}
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int spool_scan(struct spool *s, void (*fn)(void *arg, const char *id), void *arg)
{
	return spool_scan_dir(s->queuefd, fn, arg);
}

/* ---- held messages ---------------------------------------------------------------- */

/* hold/, opened for one call: holding is rare, so struct spool keeps no descriptor for it. */
static int spool_hold_open(struct spool *s)
{
	return openat(s->dirfd, SPOOL_HOLD_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* Closes fd keeping errno; returns -1 for the caller's error path. */
static int spool_close_keep_errno(int fd)
{
	int err = errno;
	close(fd);
	errno = err;
	return -1;
}

/*
 * rename(from_dir/id -> to_dir/id) without replacing, then fsync of to_dir,
 * then of from_dir: the new name is durable before the old one's removal
 * is, so no crash can leave the file in neither directory.
 */
static int spool_move(int from_dir, int to_dir, const char *id)
{
	if (!spool_format_id_ok(id)) {
		errno = ENOENT;
		return -1;
	}
	if (renameat2(from_dir, id, to_dir, id, RENAME_NOREPLACE) < 0) {
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		/* no RENAME_NOREPLACE on this file system: check, then rename (the
		 * spool lock keeps other processes out; the main thread is the
		 * only one that moves files between queue/ and hold/) */
		struct stat st;
		if (fstatat(to_dir, id, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			errno = EEXIST;
			return -1;
		}
		if (renameat(from_dir, id, to_dir, id) < 0)
			return -1;
	}
	if (fsync(to_dir) < 0 || fsync(from_dir) < 0)
		return -1;
	return 0;
}

int spool_hold(struct spool *s, const char *id)
{
	int hold = spool_hold_open(s);
	if (hold < 0)
		return -1;
	if (spool_move(s->queuefd, hold, id) < 0)
		return spool_close_keep_errno(hold);
	close(hold);
	return 0;
}

int spool_release(struct spool *s, const char *id)
{
	int hold = spool_hold_open(s);
	if (hold < 0)
		return -1;
	if (spool_move(hold, s->queuefd, id) < 0)
		return spool_close_keep_errno(hold);
	close(hold);
	return 0;
}

int spool_remove_held(struct spool *s, const char *id)
{
	if (!spool_format_id_ok(id)) {
		errno = ENOENT;
		return -1;
	}
	int hold = spool_hold_open(s);
	if (hold < 0)
		return -1;
	/* as spool_remove(): until hold/ is synced a crash may bring it back */
	if (unlinkat(hold, id, 0) < 0 || fsync(hold) < 0)
		return spool_close_keep_errno(hold);
	close(hold);
	return 0;
}

int spool_file_open_held(struct spool *s, const char *id, struct spool_file *f)
{
	f->fd = -1;
	envelope_init(&f->env);
	f->content_off = 0;
	f->content_len = 0;
	int hold = spool_hold_open(s);
	if (hold < 0)
		return -1;
	int rc = spool_file_open_in(hold, id, f);
	int err = errno;
	close(hold);
	errno = err;
	return rc;
}

int spool_scan_held(struct spool *s, void (*fn)(void *arg, const char *id), void *arg)
{
	int hold = spool_hold_open(s);
	if (hold < 0)
		return -1;
	int n = spool_scan_dir(hold, fn, arg);
	int err = errno;
	close(hold);
	errno = err;
	return n;
}
