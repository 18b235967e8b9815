/*
 * auth.h — SMTP AUTH accounts: the users file, password checks, failure throttle (contract).
 *
 * The users file holds "user:hash" lines, hash being any crypt(3) string
 * libxcrypt accepts as current (yescrypt "$y$", sha512-crypt "$6$", bcrypt
 * "$2b$", ...), as made by `mkpasswd -m yescrypt`. Blank lines and lines
 * starting with "#" are ignored; leading and trailing blanks are dropped;
 * fields after a second ":" are ignored, so /etc/shadow lines work as they
 * are. An empty hash, or one starting with "*" or "!", is a disabled
 * account: it exists and never authenticates. The file must not be
 * readable or writable by "other" (mode & 007): it is refused otherwise.
 *
 * A struct auth_users is immutable once loaded, so checks may run on any
 * number of threads at once. The SASL exchange that yields the user name
 * and password is auth_sasl.h's; what to do after a failure (throttle,
 * reply 535 5.7.8) is the session's.
 *
 * RFC 4954 section 4 (server-side credential check), RFC 4616 section 2
 * (255-octet identities), crypt(5).
 */
#ifndef VSMTPD_AUTH_H
#define VSMTPD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "lib/buf.h"

#define AUTH_USER_MAX 255		/* RFC 4616 2: authcid up to 255 octets */
#define AUTH_USERS_LINE_MAX 1024	/* a users file line, without its newline */

struct auth_users;

/*
 * Loads the users file at path. Returns 0 and *out (caller frees with
 * auth_users_free), or -1 with one "path:line: message\n" per problem
 * appended to *errors (all problems of the file, in line order; file-level
 * problems as "path: message\n"). Refused: a file that is not a regular
 * file, or whose mode grants anything to "other"; lines without ":", with
 * an empty or over-long user name or one holding blanks or control
 * characters; duplicate user names; hashes that libxcrypt does not accept,
 * marks legacy (DES, MD5, ...) or too cheap, and truncated hashes.
 * Never prints a hash in an error. Main thread (config loading).
 */
int auth_users_load(const char *path, struct auth_users **out, struct buf *errors);

/*
 * The lines of a file of accounts (this users file, the web console's):
 * auth_secret_entry() takes one line as getline() read it (len octets) and
 * returns its entry, blanks around it and the line end removed in place;
 * NULL for a blank or "#" line, and for a bad one with a static reason in
 * *why (else NULL): a NUL byte, more than AUTH_USERS_LINE_MAX octets.
 * auth_name_problem() is NULL for a user name as the rules above allow
 * one, else why not. Any thread.
 */
char *auth_secret_entry(char *line, size_t len, const char **why);

/*
 * Feeds each line of f to fn as getline() read it, numbered from 1; the
 * buffer is wiped when done (the lines hold password hashes). Returns 0, or
 * the number of the line a read error stopped at (errno set).
 */
int auth_secret_lines(FILE *f, void (*fn)(void *arg, char *text, size_t len, int lineno), void *arg);
const char *auth_name_problem(const char *name);

/*
 * NULL when hash is a crypt(3) string auth_users_load() accepts (the rules
 * above), else a static sentence saying why not, with no hash text in it.
 * Shared with the console's accounts file (console_auth.c). Any thread.
 */
const char *auth_hash_problem(const char *hash);

/*
 * True when crypt_r(password, hash) gives hash back: one crypt_r() and a
 * constant-time comparison, whatever the outcome. Any thread.
 */
bool auth_hash_verify(const char *password, const char *hash);

/*
 * Opens a file of secrets (`what` names it in errors: "users file",
 * "credentials file") for reading: NULL with "path: message\n" appended to
 * *errors when it cannot be opened, is not a regular file, or grants
 * anything to "other".
 */
FILE *auth_secret_open(const char *path, const char *what, struct buf *errors);

/* NULL is fine. */
void auth_users_free(struct auth_users *u);

/* Accounts loaded, disabled ones included. */
size_t auth_users_count(const struct auth_users *u);

/*
 * True when user (case-sensitive, exact octets) exists, is enabled, and
 * password (non-empty) matches its hash. Runs exactly one crypt_r() in
 * every case — for an unknown or disabled user or an empty password
 * against a dummy hash of the file's most common method — and compares in
 * constant time, so the time taken does not tell which users exist. Slow
 * by design (tens of milliseconds for yescrypt): call it off the event
 * loop if that matters. Thread-safe; NULL user or password is false.
 */
bool auth_users_check(const struct auth_users *u, const char *user, const char *password);

/*
 * Failed-AUTH throttle per client address, shared by every session of a
 * server (a mutex inside; any thread). IPv4 addresses count one by one,
 * IPv6 ones per /64 (one host commonly holds a whole /64; v4-mapped
 * addresses count as IPv4); text that is not an address counts as itself.
 * Time comes in (no clock reads), in seconds.
 *
 * After a failure the caller calls auth_throttle_fail(), then waits
 * auth_throttle_delay() seconds before answering 535: 0 after the first
 * failure, then 1, 2, 4, 8, and AUTH_THROTTLE_DELAY_MAX from the sixth on.
 * Every AUTH_THROTTLE_DECAY seconds without a failure halve the count
 * (so a client is forgotten after about an hour of quiet). A success halves
 * it too, rather than clearing it, so that one valid account cannot be used
 * to wipe the record of guesses at others. Memory is bounded: at most
 * max_entries addresses; when full, the one whose last failure is oldest
 * is forgotten.
 */
#define AUTH_THROTTLE_DELAY_MAX 10	/* seconds */
#define AUTH_THROTTLE_DECAY 600		/* seconds without a failure that halve the count */
#define AUTH_THROTTLE_DEFAULT_ENTRIES 4096

struct auth_throttle;

/* max_entries 0 means AUTH_THROTTLE_DEFAULT_ENTRIES. */
struct auth_throttle *auth_throttle_new(size_t max_entries);
void auth_throttle_free(struct auth_throttle *t);

void auth_throttle_fail(struct auth_throttle *t, const char *ip, time_t now);
void auth_throttle_success(struct auth_throttle *t, const char *ip, time_t now);
/* Seconds to wait before answering a failure, from the failures recorded. */
unsigned auth_throttle_delay(struct auth_throttle *t, const char *ip, time_t now);
/* Failures currently counted for ip (after decay), for tests and logs. */
unsigned auth_throttle_failures(struct auth_throttle *t, const char *ip, time_t now);
/* Addresses currently tracked. */
size_t auth_throttle_size(struct auth_throttle *t);

#endif
