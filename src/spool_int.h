/*
 * spool_int.h — what spool.c and spool_read.c share; not for other modules.
 *
 * struct spool (the directory handles, the commit pool, the group fsync of
 * queue/) and the group-fsync call. Everything else goes through spool.h.
 */
#ifndef VSMTPD_SPOOL_INT_H
#define VSMTPD_SPOOL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spool.h"

#define SPOOL_ID_SUFFIX_CHARS 4		/* base 32: 20 random bits per process */

/* Group fsync of one directory: see spool_dirsync(). */
struct spool_dirsync_waiter {
	uint64_t ticket;
	bool done;
	int err;
	struct spool_dirsync_waiter *next;
};

struct spool_dirsync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t ticket;		/* last ticket handed out */
	bool running;			/* an fsync is in progress */
	struct spool_dirsync_waiter *waiters;
};

#define SPOOL_SPARES 64	/* spare tmp/ files kept */

struct spool {
	char *path;
	int dirfd, tmpfd, sparefd, queuefd, corruptfd, lockfd;

	pthread_mutex_t id_mu;
	uint64_t id_last_us;		/* the last ID's time part: IDs strictly increase */
	char id_suffix[SPOOL_ID_SUFFIX_CHARS];

	pthread_mutex_t mu;		/* the commit job queue */
	pthread_cond_t cv;
	struct spool_msg *jobs_head, *jobs_tail;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;

	pthread_mutex_t hook_mu;	/* the commit hook and the calls in progress */
	pthread_cond_t hook_cv;
	void (*hook)(void *arg, const char *id);
	void *hook_arg;
	unsigned hook_running;

	struct spool_dirsync queue_sync;	/* fsync of queue/, shared by commits and removals */

	/* Emptied files of messages delivered at commit, in spare/, reused for new ones:
	 * creating an inode costs far more than renaming one (ext4 searches for one not
	 * freed recently). */
	pthread_mutex_t spare_mu;
	struct spool_spare {
		int fd;
		char id[SPOOL_ID_MAX + 1];	/* its name in spare/ */
	} spare[SPOOL_SPARES];
	size_t nspare;

	/* spool_free_space(): the last statvfs, read and refreshed by any thread */
	atomic_ullong space_free;		/* bytes, ULLONG_MAX when unknown */
	atomic_llong space_at_ms;		/* CLOCK_MONOTONIC of that statvfs */
	atomic_bool space_low;			/* below min_free_space at the last check */
};

/*
 * Makes every rename/unlink in the directory fd that returned before this
 * call durable: one fsync serves all callers that came before it began
 * (group commit). Returns 0 or an errno. Any thread.
 */
int spool_dirsync(struct spool_dirsync *d, int fd);

/* Keeps fd, the file spare/ID, emptied, for a later message (or removes it when there are
 * enough). Takes fd. Any thread. */
void spool_spare_put(struct spool *s, int fd, const char *id);

/* Reads and checks everything of fd's queue file but the content into f (f->fd untouched); -1
 * with errno (EINVAL: corrupt, logged). spool_read.c; the commit uses it for delivery at commit. */
struct spool_file;
int spool_file_load(int fd, const char *id, struct spool_file *f);

#endif
