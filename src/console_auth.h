/*
 * console_auth.h — the web console's accounts, roles, sessions and login
 * throttle (contract; the rules users read are docs/CONSOLE.md).
 *
 * Decisions only: no sockets, no HTTP, no clock (every function that
 * needs the time takes `now`, in seconds of a clock that never goes
 * back), so the unit tests drive each rule with an injected clock. The
 * one slow call, console_accounts_check() (crypt(3)), is the caller's to
 * run off the event loop. Accounts belong to a config snapshot
 * (config_console.c loads them), are immutable once loaded and may be
 * read on any thread; a session table and a throttle have one owner (the
 * console, on the main thread) and no lock.
 */
#ifndef VSMTPD_CONSOLE_AUTH_H
#define VSMTPD_CONSOLE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

#define CONSOLE_USER_MAX 255		/* an account name, in octets (as auth_users: auth.h) */
#define CONSOLE_TOKEN_BYTES 32		/* 256 random bits per session token and CSRF token */
#define CONSOLE_TOKEN_HEX (2 * CONSOLE_TOKEN_BYTES)
#define CONSOLE_SESSION_IDLE (30 * 60)		/* seconds without a request that end a session */
#define CONSOLE_SESSION_LIFETIME (12 * 3600)	/* seconds after login that end it in any case */
#define CONSOLE_SESSIONS_MAX 1024		/* open at once; the least recently used goes first */
#define CONSOLE_THROTTLE_FAILURES 5		/* failed logins ... */
#define CONSOLE_THROTTLE_WINDOW (15 * 60)	/* ... within this many seconds block the address ... */
#define CONSOLE_THROTTLE_ENTRIES 4096		/* addresses remembered at once */

enum console_role {
	CONSOLE_ROLE_ADMIN,	/* everything */
	CONSOLE_ROLE_OPERATOR,	/* the named virtual servers and the messages they accepted */
	CONSOLE_ROLE_READONLY,	/* sees everything, changes nothing */
};

/* One account of the file, as loaded. */
struct console_account {
	char *name;
	char *hash;		/* NULL: disabled (the file's hash is empty or starts with '*' or '!') */
	enum console_role role;
	char **servers;		/* an operator's virtual servers, as listed; NULL otherwise */
	size_t nservers;
	int line;
};

struct console_accounts;

/*
 * Loads the accounts file at path: "name:crypt-hash:role" lines, role
 * being "admin", "readonly" or "operator=S1,S2,..." where every S must be
 * one of the nserver_names virtual servers of the config. Blank lines and
 * lines starting with "#" are skipped; blanks around a line are dropped.
 * The file must be a regular file that grants nothing to "other" (mode 600
 * or 640), as auth_users files (auth_secret_open()). Refused: a missing
 * field, a line or a name auth_secret_entry() or auth_name_problem()
 * refuses (a name is at most CONSOLE_USER_MAX octets, without blanks or
 * control characters), a hash auth_hash_problem() refuses, an
 * unknown role or server, a server listed twice, a name used twice, and a
 * file with no account at all. Returns 0 with *out (free with
 * console_accounts_free()), or -1 with every problem appended to *errors as
 * "path:line: message\n" in line order ("path: message\n" for the file as
 * a whole). No hash is ever written in a message. Main thread.
 */
int console_accounts_load(const char *path, char *const *server_names, size_t nserver_names,
			  struct console_accounts **out, struct buf *errors);

/* NULL is fine. */
void console_accounts_free(struct console_accounts *a);

/* The account named name (exact octets), disabled ones included, or NULL. Borrowed: valid while
 * a lives. Any thread. */
const struct console_account *console_accounts_find(const struct console_accounts *a, const char *name);

/*
 * True when name is an enabled account and password (non-empty) matches
 * its hash. Runs one crypt(3) in every case — for an unknown or disabled
 * name against the hash of the file's first enabled account — so the time
 * taken does not tell which names exist. Slow by design: never on the
 * event loop. Any thread; NULL arguments are false.
 */
bool console_accounts_check(const struct console_accounts *a, const char *name, const char *password);

/* "admin", "operator", "readonly". */
const char *console_role_name(enum console_role role);

/* True when acc may see and manage virtual server `server`: an admin, or an operator listing it.
 * (A readonly account sees every server and manages none: see console_may_change().) */
bool console_may_manage(const struct console_account *acc, const char *server);

/* True when acc may see what server `server` has (its state, settings, queued messages). */
bool console_may_see(const struct console_account *acc, const char *server);

/* ---- sessions ------------------------------------------------------------ */

struct console_session {
	char token[CONSOLE_TOKEN_HEX + 1];	/* the cookie's value: hex of 256 random bits */
	char csrf[CONSOLE_TOKEN_HEX + 1];	/* the X-CSRF-Token every POST must carry */
	char user[CONSOLE_USER_MAX + 1];
	time_t created, used;
};

struct console_sessions;

/* max 0 means CONSOLE_SESSIONS_MAX. */
struct console_sessions *console_sessions_new(size_t max);
void console_sessions_free(struct console_sessions *s);

/*
 * Opens a session for user at now: fresh token and CSRF token from the
 * kernel's CSPRNG (getrandom(2)). When max sessions are open, the least
 * recently used one is closed first. Returns the session (borrowed: valid
 * until it is closed or expires), or NULL when no random bytes could be had.
 */
const struct console_session *console_session_open(struct console_sessions *s, const char *user,
						   time_t now);

/*
 * The live session whose token is token (compared in constant time with
 * every open session's), marked used at now; NULL for a token of the wrong
 * shape, an unknown one, or one whose session has expired (idle for
 * CONSOLE_SESSION_IDLE, or open for CONSOLE_SESSION_LIFETIME) — an expired
 * session is closed on the way. Borrowed, as above.
 */
const struct console_session *console_session_find(struct console_sessions *s, const char *token,
						   time_t now);

/* Ends the session whose token is token; nothing when there is none. */
void console_session_close(struct console_sessions *s, const char *token);

/* Open sessions (expired ones not yet found count too). */
size_t console_sessions_count(const struct console_sessions *s);

/* True when header (the request's X-CSRF-Token, NULL when absent) is the session's CSRF token,
 * compared in constant time. */
bool console_csrf_ok(const struct console_session *x, const char *header);

/* ---- login throttle ------------------------------------------------------ */

/*
 * Failed logins per client address (IPv4 addresses one by one, IPv6 ones
 * per /64, v4-mapped ones as IPv4; other text as itself). After
 * CONSOLE_THROTTLE_FAILURES failures within CONSOLE_THROTTLE_WINDOW
 * seconds, the address is refused until CONSOLE_THROTTLE_WINDOW seconds
 * after its last failure; a success forgets its failures. One check per
 * address runs at a time, so that parallel guesses cannot slip past the
 * count. At most max addresses are remembered; when full, the one whose
 * last failure is oldest is forgotten.
 */
struct console_throttle;

/* max 0 means CONSOLE_THROTTLE_ENTRIES. */
struct console_throttle *console_throttle_new(size_t max);
void console_throttle_free(struct console_throttle *t);

/*
 * Before a password check from ip at now: 0 when it may go ahead (the
 * address then has a check in progress until console_throttle_end()), or
 * the seconds to wait (at least 1) when it is refused: blocked, or a check
 * from the same address is still running.
 */
unsigned console_throttle_begin(struct console_throttle *t, const char *ip, time_t now);

/* After the check begun for ip: ok forgets the address's failures, else one more is counted. */
void console_throttle_end(struct console_throttle *t, const char *ip, bool ok, time_t now);

/* The check begun for ip did not run after all: nothing is counted. */
void console_throttle_cancel(struct console_throttle *t, const char *ip);

#endif
