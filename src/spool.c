/*
 * spool.c — the durable spool: opening it, queue IDs, writing and
 * committing queue files, the commit thread pool with group directory
 * fsync, the free-space check (see spool.h). Reading, updating, removing
 * and scanning committed files is spool_read.c's.
 *
 * Owns the spool directory: lock (flock: one daemon per spool), tmp/ (files
 * being received), queue/ (committed files), corrupt/ (quarantine), hold/
 * (set aside by the admin: spool_read.c moves files in and out); the
 * commit threads; the ID generator; the cached free space of its file
 * system (min_free_space: refusing MAIL is the session's). The byte layout
 * is spool_format.c's; deciding when to deliver, retry or quarantine is
 * the queue's.
 *
 * Invariants, and the crash reasoning they rest on:
 * - A file appears under queue/ only by rename(2) from tmp/, after its
 *   content and trailer were fsync'd: rename is atomic, so after any crash
 *   queue/ID is either absent or complete. A torn file cannot be there; if
 *   a disk lies anyway, the trailer (content length) catches it at read.
 * - done(arg, 0), i.e. "250", comes only after the fsync of queue/ that
 *   covers the rename: until then the new name itself may not be on disk.
 * - tmp/ holds nothing anyone was promised: spool_open() empties it.
 * - IDs grow with time, are never reused (O_EXCL in tmp/, checked against
 *   queue/, rename without replace), and are [0-9A-V] only.
 * Errors: -1 (or NULL) with errno, as spool.h says; spool_open() writes
 * its reason into the caller's buffer. Corrupt files are logged with the
 * reason and reported as EINVAL.
 */
#include "spool.h"
#include "spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fdio.h"
#include "lib/xalloc.h"
#include "log.h"

#define SPOOL_WBUF_SIZE (64u << 10)	/* per-message write buffer */
#define SPOOL_THREADS_MAX 64
#define SPOOL_ID_TIME_CHARS 11		/* base 32: 55 bits of microseconds, until the year 3111 */
#define SPOOL_ID_LEN (SPOOL_ID_TIME_CHARS + SPOOL_ID_SUFFIX_CHARS)
#define SPOOL_ID_ATTEMPTS 32		/* fresh IDs tried before begin gives up with EEXIST */
#define SPOOL_DIR_MODE 0700
#define SPOOL_PARENT_MODE 0755		/* parents created on the way to the spool */
#define SPOOL_FILE_MODE 0600
#define SPOOL_LOCK_NAME "lock"
#define SPOOL_SPACE_CACHE_MS 1000	/* a statvfs serves the MAILs of one second */

_Static_assert(SPOOL_ID_LEN <= SPOOL_ID_MAX, "IDs fit");

struct spool_msg {
	struct spool *s;
	int fd;
	char id[SPOOL_ID_MAX + 1];
	char *wbuf;
	size_t wlen;
	unsigned long long content_len;	/* bytes after the envelope, trailer excluded */
	int err;			/* the first write error: sticky */
	void (*done)(void *arg, int err);
	void *done_arg;
	spool_direct_fn direct;		/* delivery at commit, or NULL */
	void *direct_arg;
	struct spool_msg *next;		/* in the commit job queue */
};

/* ---- small I/O helpers ------------------------------------------------------ */

/* Writes all of p[0..n); 0 or an errno. */
static int spool_write_all(int fd, const char *p, size_t n)
{
	return fd_write_all(fd, p, n) == 0 ? 0 : errno;
}

/* ---- group directory fsync -------------------------------------------------- */

static void spool_dirsync_init(struct spool_dirsync *d)
{
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->ticket = 0;
	d->running = false;
	d->waiters = NULL;
}

static void spool_dirsync_destroy(struct spool_dirsync *d)
{
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
}

/*
 * Makes every directory change the caller made in fd's directory before
 * calling this durable; 0 or an errno. Group commit: a caller takes a
 * ticket after its rename/unlink returned. If no fsync is running it runs
 * one for every ticket handed out so far; otherwise it waits, because the
 * running fsync may have started before its change and so may not cover
 * it. When an fsync ends, its result is given to exactly the tickets it
 * covered (those handed out before it started), and one of the remaining
 * waiters starts the next. So N commits arriving together cost about two
 * directory fsyncs, not N, and nobody is told "done" by an fsync that
 * began before its change.
 */
int spool_dirsync(struct spool_dirsync *d, int fd)
{
	struct spool_dirsync_waiter w = { 0, false, 0, NULL };

	pthread_mutex_lock(&d->mu);
	w.ticket = ++d->ticket;
	w.next = d->waiters;
	/* cppcheck-suppress autoVariables ; w leaves the list (done set by the fsync that covers it) before this returns */
	d->waiters = &w;
	while (!w.done) {
		if (d->running) {
			pthread_cond_wait(&d->cv, &d->mu);
			continue;
		}
		d->running = true;
		uint64_t covered = d->ticket;
		pthread_mutex_unlock(&d->mu);
		int err = fsync(fd) < 0 ? errno : 0;
		pthread_mutex_lock(&d->mu);
		d->running = false;
		for (struct spool_dirsync_waiter **pp = &d->waiters; *pp != NULL;) {
			struct spool_dirsync_waiter *x = *pp;
			if (x->ticket > covered) {
				pp = &x->next;
				continue;
			}
			x->done = true;
			x->err = err;
			*pp = x->next;
		}
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
	return w.err;
}

/* ---- IDs --------------------------------------------------------------------- */

static const char spool_b32[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";	/* ASCII order: IDs sort by time */

/*
 * A fresh ID: 11 base-32 digits of microseconds since the epoch, strictly
 * increasing within the process (a burst beyond one per microsecond runs a
 * little ahead of the clock, never backwards), then this process's random
 * suffix, which keeps apart IDs of runs whose clocks overlap (a clock
 * stepped back across a restart). Uniqueness is still checked on disk.
 */
static void spool_id_next(struct spool *s, char id[SPOOL_ID_MAX + 1])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;

	pthread_mutex_lock(&s->id_mu);
	if (us <= s->id_last_us)
		us = s->id_last_us + 1;
	s->id_last_us = us;
	pthread_mutex_unlock(&s->id_mu);

	for (int i = SPOOL_ID_TIME_CHARS - 1; i >= 0; i--) {
		id[i] = spool_b32[us & 31];
		us >>= 5;
	}
	memcpy(id + SPOOL_ID_TIME_CHARS, s->id_suffix, SPOOL_ID_SUFFIX_CHARS);
	id[SPOOL_ID_LEN] = '\0';
}

static void spool_id_seed(struct spool *s)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)ts.tv_nsec;
	}
	for (int i = 0; i < SPOOL_ID_SUFFIX_CHARS; i++) {
		s->id_suffix[i] = spool_b32[r & 31];
		r >>= 5;
	}
}

/* ---- the commit hook ----------------------------------------------------------- */

void spool_set_commit_hook(struct spool *s, void (*hook)(void *arg, const char *id), void *arg)
{
	pthread_mutex_lock(&s->hook_mu);
	s->hook = hook;
	s->hook_arg = arg;
	/* After we return, the old hook is not running and will not run: the
	 * caller may free what its arg points to. */
	while (s->hook_running > 0)
		pthread_cond_wait(&s->hook_cv, &s->hook_mu);
	pthread_mutex_unlock(&s->hook_mu);
}

static void spool_call_hook(struct spool *s, const char *id)
{
	pthread_mutex_lock(&s->hook_mu);
	void (*hook)(void *, const char *) = s->hook;
	void *arg = s->hook_arg;
	if (hook != NULL)
		s->hook_running++;
	pthread_mutex_unlock(&s->hook_mu);
	if (hook == NULL)
		return;
	hook(arg, id);
	pthread_mutex_lock(&s->hook_mu);
	if (--s->hook_running == 0)
		pthread_cond_broadcast(&s->hook_cv);
	pthread_mutex_unlock(&s->hook_mu);
}

/* ---- writing a message ----------------------------------------------------------- */

static int spool_msg_flush(struct spool_msg *m)
{
	if (m->err == 0 && m->wlen > 0)
		m->err = spool_write_all(m->fd, m->wbuf, m->wlen);
	m->wlen = 0;
	return m->err;
}

/* Appends bytes to the file through the buffer; 0 or the (sticky) errno. */
static int spool_msg_put(struct spool_msg *m, const char *p, size_t n)
{
	if (m->err != 0)
		return m->err;
	if (n <= SPOOL_WBUF_SIZE - m->wlen) {
		memcpy(m->wbuf + m->wlen, p, n);
		m->wlen += n;
		return 0;
	}
	if (spool_msg_flush(m) != 0)
		return m->err;
	if (n >= SPOOL_WBUF_SIZE) {
		m->err = spool_write_all(m->fd, p, n);	/* large: no copy */
		return m->err;
	}
	memcpy(m->wbuf, p, n);
	m->wlen = n;
	return 0;
}

static void spool_msg_free(struct spool_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->wbuf);
	free(m);
}

/* Whether queue/ID is free (0), taken (EEXIST) or unknown (an errno). */
static int spool_queue_free(struct spool *s, const char *id)
{
	struct stat st;
	if (fstatat(s->queuefd, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return EEXIST;
	return errno == ENOENT ? 0 : errno;
}

/* A spare file moved to tmp/ID for a fresh ID; -1 when there is none to take. */
static int spool_spare_take(struct spool *s, char id[SPOOL_ID_MAX + 1])
{
	pthread_mutex_lock(&s->spare_mu);
	struct spool_spare sp = { -1, "" };
	if (s->nspare > 0)
		sp = s->spare[--s->nspare];
	pthread_mutex_unlock(&s->spare_mu);
	if (sp.fd < 0)
		return -1;
	for (int attempt = 0; attempt < SPOOL_ID_ATTEMPTS; attempt++) {
		spool_id_next(s, id);
		if (renameat2(s->sparefd, sp.id, s->tmpfd, id, RENAME_NOREPLACE) < 0) {
			if (errno == EEXIST)
				continue;
			break;
		}
		if (spool_queue_free(s, id) == 0)
			return sp.fd;
		unlinkat(s->tmpfd, id, 0);	/* queue/ID exists (a clock stepped back) */
		close(sp.fd);
		return -1;
	}
	unlinkat(s->sparefd, sp.id, 0);
	close(sp.fd);
	return -1;
}

void spool_spare_put(struct spool *s, int fd, const char *id)
{
	bool keep = ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0;
	pthread_mutex_lock(&s->spare_mu);
	keep = keep && s->nspare < SPOOL_SPARES;
	if (keep) {
		s->spare[s->nspare].fd = fd;
		snprintf(s->spare[s->nspare].id, sizeof(s->spare[s->nspare].id), "%s", id);
		s->nspare++;
	}
	pthread_mutex_unlock(&s->spare_mu);
	if (!keep) {
		unlinkat(s->sparefd, id, 0);
		close(fd);
	}
}

/* The file of m, delivered at commit, is not needed: a spare (no fsync: spare/ is emptied at
 * every start, like tmp/). */
static void spool_msg_recycle(struct spool_msg *m)
{
	if (renameat(m->s->tmpfd, m->id, m->s->sparefd, m->id) < 0) {
		spool_msg_abort(m);
		return;
	}
	spool_spare_put(m->s, m->fd, m->id);
	m->fd = -1;
	spool_msg_free(m);
}

/* Creates tmp/ID for a fresh ID that is in use neither in tmp/ nor in queue/. */
static int spool_msg_create(struct spool *s, char id[SPOOL_ID_MAX + 1])
{
	for (int attempt = 0; attempt < SPOOL_ID_ATTEMPTS; attempt++) {
		spool_id_next(s, id);
		/* read too: delivery at commit copies the content from it */
		int fd = openat(s->tmpfd, id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
				SPOOL_FILE_MODE);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return -1;
		int err = spool_queue_free(s, id);
		if (err == 0)
			return fd;
		unlinkat(s->tmpfd, id, 0);
		close(fd);
		if (err != EEXIST) {
			errno = err;
			return -1;
		}
		/* queue/ID exists (a clock stepped back): take the next ID */
	}
	errno = EEXIST;
	return -1;
}

struct spool_msg *spool_msg_begin(struct spool *s, struct envelope *env, const char *prefix, size_t prefix_len)
{
	if (env->nrcpts == 0) {
		errno = EINVAL;	/* a queue file without recipients would be refused as corrupt */
		return NULL;
	}
	char id[SPOOL_ID_MAX + 1];
	int fd = spool_spare_take(s, id);
	if (fd < 0 && (fd = spool_msg_create(s, id)) < 0)
		return NULL;

	struct spool_msg *m = xcalloc(1, sizeof(*m));
	m->s = s;
	m->fd = fd;
	memcpy(m->id, id, sizeof(id));
	m->wbuf = xmalloc(SPOOL_WBUF_SIZE);
	memcpy(env->id, id, sizeof(id));

	struct buf hdr = BUF_INIT;
	spool_format_encode(env, &hdr);
	int err = hdr.len > SPOOL_HEADER_MAX ? EMSGSIZE : spool_msg_put(m, hdr.data, hdr.len);
	buf_free(&hdr);
	if (err == 0 && prefix_len > 0 && spool_msg_write(m, prefix, prefix_len) < 0)
		err = errno;
	if (err != 0) {
		spool_msg_abort(m);
		errno = err;
		return NULL;
	}
	return m;
}

const char *spool_msg_id(const struct spool_msg *m)
{
	return m->id;
}

int spool_msg_write(struct spool_msg *m, const void *data, size_t len)
{
	m->content_len += len;
	int err = spool_msg_put(m, data, len);
	if (err == 0)
		return 0;
	errno = err;
	return -1;
}

void spool_msg_abort(struct spool_msg *m)
{
	/* No fsync: tmp/ is emptied at every start, so a removal that a
	 * crash undoes costs nothing. */
	unlinkat(m->s->tmpfd, m->id, 0);
	spool_msg_free(m);
}

void spool_msg_set_direct(struct spool_msg *m, spool_direct_fn fn, void *arg)
{
	m->direct = fn;
	m->direct_arg = arg;
}

void spool_msg_commit(struct spool_msg *m, void (*done)(void *arg, int err), void *arg)
{
	struct spool *s = m->s;
	m->done = done;
	m->done_arg = arg;

	/* On the caller's thread, so that ENOSPC shows up here at the latest,
	 * before any thread hand-off. */
	char trailer[SPOOL_TRAILER_LEN];
	spool_format_trailer(m->content_len, trailer);
	if (spool_msg_put(m, trailer, sizeof(trailer)) == 0)
		spool_msg_flush(m);

	pthread_mutex_lock(&s->mu);
	m->next = NULL;
	if (s->jobs_tail != NULL)
		s->jobs_tail->next = m;
	else
		s->jobs_head = m;
	s->jobs_tail = m;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* spool_msg_commit_wait(): the commit thread's answer, handed back. */
struct spool_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
};

static void spool_wait_done(void *arg, int err)
{
	struct spool_wait *w = arg;
	pthread_mutex_lock(&w->mu);
	w->err = err;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int spool_msg_commit_wait(struct spool_msg *m)
{
	struct spool_wait w = { .done = false };
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	spool_msg_commit(m, spool_wait_done, &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	if (w.err == 0)
		return 0;
	errno = w.err;
	return -1;
}

/* A failed commit: nothing was promised, so nothing may stay behind. The
 * caller logs the error it is told; op names a step it cannot see. */
static void spool_commit_fail(struct spool_msg *m, int err, const char *op)
{
	if (op != NULL)
		log_error("event=spool_error id=%s op=%s error=\"%s\"", m->id, op, strerror(err));
	void (*done)(void *, int) = m->done;
	void *arg = m->done_arg;
	spool_msg_abort(m);
	done(arg, err);
}

/* rename without replacing: an existing queue/ID is never overwritten. */
static int spool_rename_new(int from_dir, int to_dir, const char *id)
{
	if (renameat2(from_dir, id, to_dir, id, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: spool_msg_create() found
	 * queue/ID free, and the spool lock keeps other processes out. */
	return renameat(from_dir, id, to_dir, id);
}

/*
 * Delivery at commit; true when it delivered everything and m is done.
 * A crash during it leaves tmp/ID (removed at start) and perhaps some
 * Maildir copies of a message the client never heard 250 for: it sends
 * again, and those recipients get it twice — the window every MTA has
 * between its commit and the client reading "250".
 */
static bool spool_commit_direct(struct spool_msg *m)
{
	struct spool_file f = { .fd = -1 };
	envelope_init(&f.env);
	bool all = false;
	if (spool_file_load(m->fd, m->id, &f) == 0) {
		f.fd = m->fd;
		all = m->direct(m->direct_arg, m->id, &f);
		f.fd = -1;	/* still m's */
	}
	spool_file_close(&f);
	if (!all)
		return false;
	void (*done)(void *, int) = m->done;
	void *arg = m->done_arg;
	spool_msg_recycle(m);	/* the tmp file is no longer needed: a spare */
	done(arg, 0);
	return true;
}

/*
 * Runs on a commit thread. The crash points, in order:
 *  1. before the data fsync: tmp/ID may be partial; it is in tmp/, so the
 *     next start removes it; the client got no 250 and sends again;
 *  2. after the fsync, before the rename: the same, the file is complete
 *     but still in tmp/;
 *  3. after the rename, before the directory fsync: after a crash queue/ID
 *     may or may not exist; if it does it is complete (its data was synced
 *     before the rename made it visible), so at worst the client, which
 *     got no 250, sends again and the message is delivered twice — never
 *     lost, never delivered truncated;
 *  4. after the directory fsync: queue/ID survives; only now is "250" said.
 * The tmp/ side of the rename needs no fsync: an entry reappearing in tmp/
 * after a crash is removed at start, queue/ID keeps its own link.
 */
static void spool_commit_run(struct spool *s, struct spool_msg *m)
{
	if (m->err != 0) {
		spool_commit_fail(m, m->err, NULL);	/* a write error, already seen by the writer */
		return;
	}
	if (m->direct != NULL && spool_commit_direct(m))
		return;
	/*
	 * fdatasync, not fsync: it writes the data and the metadata needed to
	 * read it back — the size and the block map, which for a new file is
	 * all that changed besides the timestamps, which we do not need. The
	 * file's name is made durable by the fsync of queue/ below.
	 */
	if (fdatasync(m->fd) < 0) {
		spool_commit_fail(m, errno, "fsync");
		return;
	}
	/* close() may report a deferred write error (NFS): take it seriously. */
	int fd = m->fd;
	m->fd = -1;
	if (close(fd) < 0 && errno != EINTR) {
		spool_commit_fail(m, errno, "close");
		return;
	}
	/* The commit point: the complete file gets its queue/ name atomically. */
	if (spool_rename_new(s->tmpfd, s->queuefd, m->id) < 0) {
		spool_commit_fail(m, errno, "rename");
		return;
	}
	int err = spool_dirsync(&s->queue_sync, s->queuefd);
	if (err != 0) {
		/* The name may not survive a crash and the client will hear 451
		 * and send again: remove it so that it is not delivered twice
		 * when it does survive. */
		log_error("event=spool_error id=%s op=dirsync error=\"%s\"", m->id, strerror(err));
		unlinkat(s->queuefd, m->id, 0);
		void (*done)(void *, int) = m->done;
		void *arg = m->done_arg;
		spool_msg_free(m);
		done(arg, err);
		return;
	}
	spool_call_hook(s, m->id);
	void (*done)(void *, int) = m->done;
	void *arg = m->done_arg;
	spool_msg_free(m);
	done(arg, 0);
}

static void *spool_commit_thread(void *arg)
{
	struct spool *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->jobs_head == NULL && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		struct spool_msg *m = s->jobs_head;
		if (m == NULL)
			break;	/* stopping, and every job is done */
		s->jobs_head = m->next;
		if (s->jobs_head == NULL)
			s->jobs_tail = NULL;
		pthread_mutex_unlock(&s->mu);
		spool_commit_run(s, m);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- free space ---------------------------------------------------------------------- */

static long long spool_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* statvfs of the spool now; ULLONG_MAX when it fails (logged). */
static unsigned long long spool_space_measure(struct spool *s)
{
	struct statvfs st;
	if (fstatvfs(s->dirfd, &st) < 0) {
		log_warn("event=spool_error op=statvfs dir=%s error=\"%s\"", s->path, strerror(errno));
		return ULLONG_MAX;
	}
	unsigned long long blocks = st.f_bavail, size = st.f_frsize;
	if (size != 0 && blocks > ULLONG_MAX / size)
		return ULLONG_MAX;
	return blocks * size;
}

unsigned long long spool_free_space(struct spool *s)
{
	long long now = spool_now_ms();
	long long at = atomic_load(&s->space_at_ms);
	if (now - at < SPOOL_SPACE_CACHE_MS)
		return atomic_load(&s->space_free);
	/* One caller measures; the others meanwhile take the value it
	 * replaces, at most a second old like any cached one. */
	if (!atomic_compare_exchange_strong(&s->space_at_ms, &at, now))
		return atomic_load(&s->space_free);
	unsigned long long space = spool_space_measure(s);
	atomic_store(&s->space_free, space);
	return space;
}

/* Records whether the space is low; the caller whose change it is logs it,
 * so each transition is logged once whatever the threads. */
static void spool_space_note(struct spool *s, bool low, unsigned long long space, unsigned long long min)
{
	if (atomic_load(&s->space_low) == low || atomic_exchange(&s->space_low, low) == low)
		return;
	if (low)
		log_warn("event=low_space state=low dir=%s free=%llu min=%llu", s->path, space, min);
	else if (min == 0)
		log_info("event=low_space state=ok dir=%s min=0", s->path);
	else
		log_info("event=low_space state=ok dir=%s free=%llu min=%llu", s->path, space, min);
}

bool spool_space_ok(struct spool *s, unsigned long long min, unsigned long long need)
{
	if (min == 0) {
		spool_space_note(s, false, 0, 0);	/* the check was switched off */
		return true;
	}
	unsigned long long space = spool_free_space(s);
	bool low = space < min;
	spool_space_note(s, low, space, min);
	/* Written so that nothing overflows: need may be any SIZE= value. */
	return !low && need <= space - min;
}

/* ---- opening and closing ----------------------------------------------------------- */

/* Copies path without its trailing slashes ("a/b/" -> "a/b"; "/" stays). */
static char *spool_path_trim(const char *path)
{
	char *copy = xstrdup(path);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	return copy;
}

/* fsync of the directory holding path: makes a new entry in it durable. */
static int spool_sync_parent(const char *path)
{
	char *copy = spool_path_trim(path);
	char *slash = strrchr(copy, '/');
	const char *parent = ".";
	if (slash == copy)
		parent = "/";
	else if (slash != NULL) {
		*slash = '\0';
		parent = copy;
	}
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd < 0 || fsync(fd) < 0 ? -1 : 0;
	int err = errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	errno = err;
	return rc;
}

/* mkdir -p, the last component with mode; each new entry is fsync'd. */
static int spool_mkdirs(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0)
		return spool_sync_parent(path);
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	/* A parent is missing: create it first. */
	char *parent = spool_path_trim(path);
	char *slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent) {
		free(parent);
		errno = ENOENT;
		return -1;
	}
	*slash = '\0';
	int rc = spool_mkdirs(parent, SPOOL_PARENT_MODE);
	int err = errno;
	free(parent);
	if (rc < 0) {
		errno = err;
		return -1;
	}
	if (mkdir(path, mode) == 0)
		return spool_sync_parent(path);
	return errno == EEXIST ? 0 : -1;
}

/* Creates (if missing) and opens dir/name; *created says whether it was made. */
static int spool_subdir(int dirfd, const char *name, bool *created)
{
	if (mkdirat(dirfd, name, SPOOL_DIR_MODE) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -1;
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/*
 * Removes everything in tmp/: files of messages that were being received
 * when the last run stopped. None was committed, so no client got a 250
 * for it; deleting them is the only correct outcome.
 */
/* Empties dirfd (tmp/ or spare/, named name). */
static void spool_clean_dir(struct spool *s, int dirfd, const char *name)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		log_warn("event=spool_cleanup dir=%s/%s error=\"%s\"", s->path, name, strerror(errno));
		return;
	}
	unsigned removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0)
			removed++;
		else
			log_warn("event=spool_cleanup dir=%s/%s error=\"%s\"", s->path, name, strerror(errno));
	}
	closedir(d);
	if (removed > 0 && strcmp(name, "tmp") == 0)
		log_info("event=spool_cleanup dir=%s/tmp removed=%u", s->path, removed);
}

static void spool_start_threads(struct spool *s, unsigned n)
{
	/* Commit threads take no signals: the main thread's event loop does. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	s->threads = xcalloc(n, sizeof(*s->threads));
	for (unsigned i = 0; i < n; i++) {
		int err = pthread_create(&s->threads[i], NULL, spool_commit_thread, s);
		if (err != 0) {
			if (i == 0)
				log_fatal("event=fatal reason=\"spool: cannot start a commit thread: %s\"",
					  strerror(err));
			log_warn("event=spool_threads wanted=%u started=%u error=\"%s\"", n, i, strerror(err));
			break;
		}
		s->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void spool_close_fds(struct spool *s)
{
	int *fds[] = { &s->tmpfd, &s->sparefd, &s->queuefd, &s->corruptfd, &s->lockfd, &s->dirfd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

struct spool *spool_open(const char *dir, unsigned nthreads, char *err, size_t errsize)
{
	struct spool *s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(dir);
	s->dirfd = s->tmpfd = s->sparefd = s->queuefd = s->corruptfd = s->lockfd = -1;
	const char *what = NULL;
	bool created = false;

	/* A new spool directory's own name must survive a crash too. */
	if (spool_mkdirs(dir, SPOOL_DIR_MODE) < 0) {
		what = "cannot create";
		goto fail;
	}
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		what = "cannot open";
		goto fail;
	}
	/* Two daemons on one spool would delete each other's tmp/ files. */
	s->lockfd = openat(s->dirfd, SPOOL_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, SPOOL_FILE_MODE);
	if (s->lockfd < 0) {
		what = "cannot create the lock file in";
		goto fail;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		what = errno == EWOULDBLOCK ? "another process is using" : "cannot lock";
		goto fail;
	}
	if ((s->tmpfd = spool_subdir(s->dirfd, "tmp", &created)) < 0 ||
	    (s->sparefd = spool_subdir(s->dirfd, "spare", &created)) < 0 ||
	    (s->queuefd = spool_subdir(s->dirfd, "queue", &created)) < 0 ||
	    (s->corruptfd = spool_subdir(s->dirfd, "corrupt", &created)) < 0) {
		what = "cannot create or open tmp/, spare/, queue/ or corrupt/ in";
		goto fail;
	}
	/* hold/ is only made here; admin actions, which are rare, open it
	 * each time they need it (spool_read.c). */
	int holdfd = spool_subdir(s->dirfd, SPOOL_HOLD_DIR, &created);
	if (holdfd < 0) {
		what = "cannot create or open hold/ in";
		goto fail;
	}
	close(holdfd);
	if (created && fsync(s->dirfd) < 0) {
		what = "cannot fsync";
		goto fail;
	}

	pthread_mutex_init(&s->id_mu, NULL);
	pthread_mutex_init(&s->spare_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->hook_mu, NULL);
	pthread_cond_init(&s->hook_cv, NULL);
	spool_dirsync_init(&s->queue_sync);
	atomic_init(&s->space_free, spool_space_measure(s));
	atomic_init(&s->space_at_ms, spool_now_ms());
	atomic_init(&s->space_low, false);
	spool_id_seed(s);
	spool_clean_dir(s, s->tmpfd, "tmp");
	spool_clean_dir(s, s->sparefd, "spare");
	if (nthreads == 0)
		nthreads = 1;
	spool_start_threads(s, nthreads > SPOOL_THREADS_MAX ? SPOOL_THREADS_MAX : nthreads);
	return s;

fail:
	if (errno == EWOULDBLOCK && strcmp(what, "another process is using") == 0)
		snprintf(err, errsize, "%s %s (is another vsmtpd running?)", what, dir);
	else
		snprintf(err, errsize, "%s %s: %s", what, dir, strerror(errno));
	spool_close_fds(s);
	free(s->path);
	free(s);
	return NULL;
}

void spool_close(struct spool *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	free(s->threads);
	spool_dirsync_destroy(&s->queue_sync);
	for (size_t i = 0; i < s->nspare; i++) {
		unlinkat(s->sparefd, s->spare[i].id, 0);
		close(s->spare[i].fd);
	}
	pthread_mutex_destroy(&s->spare_mu);
	pthread_mutex_destroy(&s->id_mu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->hook_mu);
	pthread_cond_destroy(&s->hook_cv);
	spool_close_fds(s);	/* closing the lock file releases the lock */
	free(s->path);
	free(s);
}

