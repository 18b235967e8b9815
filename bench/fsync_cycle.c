/*
 * fsync_cycle.c — the machine's durable-write limit, for bench/RESULTS.md.
 *
 * Every durably accepted message costs at least one "fsync cycle": create a
 * file, write the data, fsync it, rename it into place and fsync the
 * directory that holds the new name (the Maildir tmp -> new step; a spool
 * commit has the same shape). This program runs that cycle with 2 KiB files
 * in THREADS threads for about SECONDS seconds and prints the number of
 * completed cycles per second, so that the MTAs' message rates can be read as
 * fractions of what the disk allows.
 *
 * Usage: fsync_cycle DIR THREADS SECONDS
 *   DIR must exist and be empty of tmp/ and new/ (both are created). All
 *   files are removed before exit. Output, one line on stdout:
 *     threads=T cycles=N seconds=S per_second=R
 * Exit status 0, or 1 with a message on stderr (bad arguments or an I/O
 * error: the first failing call and errno).
 *
 * Bounded: each thread stops at the deadline or after MAX_CYCLES_PER_THREAD
 * cycles, whichever comes first.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE 2048                 /* the benchmark's message size */
#define MAX_THREADS 64
#define MAX_SECONDS 60
#define MAX_CYCLES_PER_THREAD 200000

struct worker {
	pthread_t thread;
	int index;
	long cycles;
	int failed;
};

static const char *base_dir;
static double deadline;

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One cycle: tmp/NAME written and fsynced, renamed to new/NAME, new/ fsynced.
 * Returns 0, or -1 after printing the failing step. */
static int cycle_run(int new_fd, int index, long n, const char *data)
{
	char tmp_path[4096], new_path[4096];
	int fd;

	snprintf(tmp_path, sizeof tmp_path, "%s/tmp/%d.%ld", base_dir, index, n);
	snprintf(new_path, sizeof new_path, "%s/new/%d.%ld", base_dir, index, n);
	fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "fsync_cycle: open %s: %s\n", tmp_path, strerror(errno));
		return -1;
	}
	if (write(fd, data, FILE_SIZE) != FILE_SIZE || fsync(fd) != 0) {
		fprintf(stderr, "fsync_cycle: write/fsync %s: %s\n", tmp_path, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp_path, new_path) != 0 || fsync(new_fd) != 0) {
		fprintf(stderr, "fsync_cycle: close/rename/dir fsync %s: %s\n", new_path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char data[FILE_SIZE];
	char new_dir[4096];
	int new_fd;

	memset(data, 'X', sizeof data);
	snprintf(new_dir, sizeof new_dir, "%s/new", base_dir);
	/* Each thread has its own descriptor of new/, as each MTA process would. */
	new_fd = open(new_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (new_fd < 0) {
		fprintf(stderr, "fsync_cycle: open %s: %s\n", new_dir, strerror(errno));
		w->failed = 1;
		return NULL;
	}
	while (w->cycles < MAX_CYCLES_PER_THREAD && now_seconds() < deadline) {
		if (cycle_run(new_fd, w->index, w->cycles, data) != 0) {
			w->failed = 1;
			break;
		}
		w->cycles++;
	}
	close(new_fd);
	return NULL;
}

/* Removes every file the workers made (bounded by their cycle counts). */
static void files_remove(const struct worker *workers, int nthreads)
{
	char path[4096];

	for (int i = 0; i < nthreads; i++) {
		for (long n = 0; n <= workers[i].cycles; n++) {
			snprintf(path, sizeof path, "%s/new/%d.%ld", base_dir, i, n);
			unlink(path);
			snprintf(path, sizeof path, "%s/tmp/%d.%ld", base_dir, i, n);
			unlink(path);
		}
	}
}

static int number_parse(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static struct worker workers[MAX_THREADS];
	char path[4096];
	int nthreads, seconds, failed = 0;
	long total = 0;
	double start, elapsed;

	if (argc != 4 || number_parse(argv[2], 1, MAX_THREADS, &nthreads) != 0
	    || number_parse(argv[3], 1, MAX_SECONDS, &seconds) != 0) {
		fprintf(stderr, "usage: fsync_cycle DIR THREADS(1-%d) SECONDS(1-%d)\n",
		    MAX_THREADS, MAX_SECONDS);
		return 1;
	}
	base_dir = argv[1];
	snprintf(path, sizeof path, "%s/tmp", base_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "fsync_cycle: mkdir %s: %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof path, "%s/new", base_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "fsync_cycle: mkdir %s: %s\n", path, strerror(errno));
		return 1;
	}
	start = now_seconds();
	deadline = start + seconds;
	for (int i = 0; i < nthreads; i++) {
		workers[i].index = i;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
			fprintf(stderr, "fsync_cycle: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(workers[i].thread, NULL);
		total += workers[i].cycles;
		failed |= workers[i].failed;
	}
	elapsed = now_seconds() - start;
	files_remove(workers, nthreads);
	if (failed)
		return 1;
	printf("threads=%d cycles=%ld seconds=%.3f per_second=%.1f\n", nthreads, total, elapsed,
	    (double)total / elapsed);
	return 0;
}
