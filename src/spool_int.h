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

struct spool {
	char *path;
	int dirfd, tmpfd, queuefd, corruptfd, lockfd;

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

#endif
