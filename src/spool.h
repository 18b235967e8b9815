/*
 * spool.h — the durable spool: writing, committing, reading queue files (contract).
 *
 * Layout under the spool directory (mode 0700):
 *   lock        flock(2)ed by the one process using the spool
 *   tmp/ID      a message being received; never delivered; removed at start
 *   spare/ID    an empty file kept for reuse by a later message (the file of
 *               one delivered at commit, or removed from the queue); removed
 *               at start
 *   queue/ID    a committed message (spool_format.h layout)
 *   corrupt/ID  a queue file that failed its checks (spool_quarantine)
 *   hold/ID     a committed message the admin set aside (spool_hold): never
 *               scanned at start nor delivered until spool_release moves it back
 * IDs are 15 characters of [0-9A-V] (base-32 microseconds, then a random
 * per-process part): unique across threads and restarts, sorting by time.
 *
 * Commit = fsync(file) -> rename(tmp/ID, queue/ID) -> fsync(queue/). The
 * directory fsync is shared by every commit that renamed before it began
 * (group commit), and file fsyncs run on a pool of commit threads so that
 * the kernel merges their journal commits. Nobody may say "250" before
 * spool_msg_commit()'s callback reports 0.
 *
 * Threads: spool_msg_* may be called from any one thread per message; the
 * commit callback and the commit hook run on a commit thread. The read and
 * update functions are for delivery threads; they block on disk.
 * Errors: -1 with errno (ENOSPC, EIO, ...), or 0.
 */
#ifndef VSMTPD_SPOOL_H
#define VSMTPD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "spool_format.h"

#define SPOOL_HOLD_DIR "hold"		/* the held messages' directory under the spool */

struct spool;
struct spool_msg;

/*
 * Opens (creating when missing, parents included) the spool at dir, locks
 * it (a second process, or a second spool_open() of the same dir, fails),
 * removes leftovers in tmp/ and starts nthreads commit threads (0 means 1).
 * Returns NULL with a message in err[0..errsize) on failure.
 */
struct spool *spool_open(const char *dir, unsigned nthreads, char *err, size_t errsize);
/* Waits for commits in flight (every done() has run), stops the threads,
 * frees, unlocks. No spool_msg_* call may start once it has begun. */
void spool_close(struct spool *s);

/*
 * Called on a commit thread after each message is committed and before its
 * done() (the queue's door); hook NULL unsets it. When this returns, the old
 * hook is not running and will not run again, so its arg may be freed.
 * Not to be called from inside the hook.
 */
void spool_set_commit_hook(struct spool *s, void (*hook)(void *arg, const char *id), void *arg);

/*
 * Starts a message: assigns a fresh unique ID into env->id, creates tmp/ID,
 * writes the envelope and then `prefix` (our Received: header; may be NULL
 * with prefix_len 0) as the first content bytes. env is not kept: it may be
 * freed right after. Returns NULL with errno on failure (EINVAL: no
 * recipients; EMSGSIZE: envelope over SPOOL_HEADER_MAX; ENOSPC, EIO, ...).
 */
struct spool_msg *spool_msg_begin(struct spool *s, struct envelope *env, const char *prefix, size_t prefix_len);
const char *spool_msg_id(const struct spool_msg *m);
/* Appends content (buffered, 64 KiB). After a failure every later call fails
 * with the same errno; since writes are buffered, an error may show only at
 * the commit. */
int spool_msg_write(struct spool_msg *m, const void *data, size_t len);
/* Removes the tmp file and frees m. */
void spool_msg_abort(struct spool_msg *m);
/*
 * Finishes the content, then commits on a commit thread. Takes m. done()
 * runs on that thread with err 0 (committed: say 250) or an errno (the tmp
 * file is gone: say 451/452).
 */
void spool_msg_commit(struct spool_msg *m, void (*done)(void *arg, int err), void *arg);

/*
 * Delivery at commit: fn runs on the commit thread with the complete file
 * (f as spool_file_open() gives it, still in tmp/) before anything of it is
 * synced. It returns true when it delivered every recipient durably itself
 * (a Maildir copy fsync'd into new/ is then the message's durable copy):
 * the file is removed, never queued, and done(arg, 0) follows. It returns
 * false, having changed nothing, to have the message committed as usual.
 * Set before spool_msg_commit(); arg must live until done() runs.
 */
struct spool_file;
typedef bool (*spool_direct_fn)(void *arg, const char *id, struct spool_file *f);
void spool_msg_set_direct(struct spool_msg *m, spool_direct_fn fn, void *arg);

/*
 * Free space ([global] min_free_space). The spool's file system's free
 * bytes are statvfs f_bavail * f_frsize (what an unprivileged daemon may
 * still use), measured at most once a second and cached: callers on the
 * per-MAIL path never wait for the disk. Any thread; lock-free (atomics).
 */
/* The cached free bytes (refreshed when a second old); ULLONG_MAX when
 * statvfs fails (unknown: nothing is refused for it). */
unsigned long long spool_free_space(struct spool *s);
/*
 * True when a message of `need` bytes (a MAIL's SIZE=, 0 when unknown)
 * still leaves min bytes free; min 0 means no check (always true, no
 * statvfs). Logs "event=low_space state=low" once when the free space
 * falls below min and "state=ok" once when it is back (or min is 0); a
 * refusal for a large `need` alone is no transition.
 */
bool spool_space_ok(struct spool *s, unsigned long long min, unsigned long long need);

/* spool_msg_commit() for a thread that may block (a delivery thread
 * queueing a report): returns once committed (0; the commit hook has run)
 * or failed (-1 with errno; the tmp file is gone). */
int spool_msg_commit_wait(struct spool_msg *m);

/* A committed queue file opened for delivery. */
struct spool_file {
	int fd;
	struct envelope env;		/* decoded, with state offsets */
	off_t content_off;		/* = env.header_len */
	off_t content_len;
};

/*
 * Opens queue/ID and decodes it; checks the trailer. -1 with errno (EINVAL:
 * corrupt, with the reason logged; ENOENT: no such file, or id is not a
 * valid ID). After a failure f holds nothing (spool_file_close is harmless).
 */
int spool_file_open(struct spool *s, const char *id, struct spool_file *f);
void spool_file_close(struct spool_file *f);
/* Writes recipient i's state field in place (from f->env.rcpts[i]); not yet
 * durable. EINVAL for a bad index or state letter. */
int spool_file_update_rcpt(struct spool_file *f, size_t i);
/* Makes the updates durable (fdatasync). */
int spool_file_sync(struct spool_file *f);
/*
 * Takes queue/ID out of the queue, then fsyncs queue/ (grouped with other
 * callers); the file, emptied, becomes a spare for a new message, so an
 * open descriptor of it may soon read another message. When the fsync
 * fails, -1 and the file is left whole (out of queue/ unless a crash
 * brings it back).
 */
int spool_remove(struct spool *s, const char *id);
/* Moves a corrupt queue/ID aside into corrupt/ID (kept for the admin, never delivered). */
int spool_quarantine(struct spool *s, const char *id);

/* Calls fn for every committed ID in queue/, oldest first (recovery at start);
 * names that are not IDs and dot files are skipped. Returns the count or -1. */
int spool_scan(struct spool *s, void (*fn)(void *arg, const char *id), void *arg);

/*
 * Held messages (the control API's queue.hold). Each moves one file with
 * rename(2) and syncs the directory that gained it before the one that
 * lost it, so a crash leaves the file in one place or the other, never in
 * neither. -1 with errno: ENOENT when id is not a valid ID or its file is
 * not where the call expects it; EEXIST when the other directory already
 * has that name (nothing is replaced). Any thread; they block on disk.
 */
/* queue/ID -> hold/ID. The caller makes sure no delivery has it open. */
int spool_hold(struct spool *s, const char *id);
/* hold/ID -> queue/ID. */
int spool_release(struct spool *s, const char *id);
/* Unlinks hold/ID, then fsyncs hold/. */
int spool_remove_held(struct spool *s, const char *id);
/* spool_file_open() for hold/ID: to read a held message (never to deliver it). */
int spool_file_open_held(struct spool *s, const char *id, struct spool_file *f);
/* spool_scan() for hold/. */
int spool_scan_held(struct spool *s, void (*fn)(void *arg, const char *id), void *arg);

#endif
