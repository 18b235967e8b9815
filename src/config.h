/*
 * config.h — the configuration: an immutable, refcounted snapshot (contract).
 *
 * config_load() reads the INI file (inih), validates every key against the
 * one table in config_keys.c, resolves listen addresses, reads each
 * server's users file, and returns a snapshot that nothing modifies
 * afterwards. A reload builds a new snapshot; sessions keep the one they
 * started with (config_ref/config_unref), so references may be dropped on
 * any thread. Errors name file:line and what is wrong; all errors of a file
 * are reported, not only the first.
 *
 * Field names are exactly the user-facing key names (docs/CONFIG.md).
 * Durations are seconds; sizes are bytes.
 */
#ifndef VSMTPD_CONFIG_H
#define VSMTPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "lib/cidr.h"
#include "log.h"

#define CONFIG_RETRY_MAX 32

struct config_listen {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool tls;		/* "tls" flag: implicit TLS (RFC 8314) */
	char text[64];		/* "127.0.0.1:2525" / "[::1]:2525" as normalised */
};

/* A users file: known local parts ("user1", any local domain of the server)
 * and full addresses ("user1@example.test"), stored lower-cased. */
struct config_users {
	char **entries;		/* sorted, for bsearch */
	size_t n;
};

struct config_server {
	char *name;
	char *file;			/* where the [server NAME] section starts */
	int line;

	struct config_listen *listen;	/* listen */
	size_t nlisten;
	char *hostname;			/* hostname; default: the machine's name */
	char **local_domains;		/* local_domains, lower-cased */
	size_t nlocal_domains;
	char *mailbox;			/* mailbox template, e.g. "maildir:./run/mail/%d/%u" */
	char *users;			/* users file path, or NULL: any local part */
	struct config_users users_list;	/* its contents */

	struct cidr_set allow;		/* allow (default: everything) */
	struct cidr_set deny;		/* deny (default: nothing) */
	struct cidr_set relay_networks;	/* relay_networks (default: nothing) */

	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned long long max_message_size;
	unsigned max_recipients;
	unsigned max_messages_per_connection;
	unsigned timeout_command;	/* seconds */
	unsigned timeout_data;		/* seconds */

	unsigned retry[CONFIG_RETRY_MAX];	/* retry schedule, seconds; the last repeats */
	size_t nretry;
	unsigned expire;		/* seconds a message may stay queued */
};

struct config_global {
	char *spool;
	char *user;			/* NULL: stay as started */
	unsigned workers;		/* resolved: "auto" -> number of CPUs */
	enum log_dest log;
};

struct config {
	int refs;			/* atomic */
	char *path;
	struct config_global global;
	struct config_server *servers;
	size_t nservers;
};

/*
 * Loads and validates path, and reads each server's users file. Returns 0
 * and a snapshot with one reference, or -1 (and *out NULL) with one
 * "file:line: message\n" per problem appended to *errors ("file: message"
 * for problems of the whole file; "usersfile:line: message" for bad users
 * file lines). Relative paths in values are kept as written (relative to
 * the working directory, like Postfix's command-line tools). Main thread;
 * touches no global state.
 */
int config_load(const char *path, struct config **out, struct buf *errors);

/*
 * config_ref() adds a reference and returns c; config_unref() drops one and
 * frees the snapshot with the last. Atomic: any thread. NULL is ignored.
 */
struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* The server named name, or NULL. */
const struct config_server *config_server_find(const struct config *c, const char *name);

/* True when domain is one of srv's local domains (compared case-insensitively). */
bool config_is_local_domain(const struct config_server *srv, const char *domain);

/*
 * True when srv knows local part `local` in `domain`: no users file means
 * any local part; otherwise "local" or "local@domain" must be listed.
 * postmaster is always known (RFC 5321 4.5.1). Case-insensitive.
 */
bool config_user_known(const struct config_server *srv, const char *local, const char *domain);

/*
 * Appends the Markdown reference of every key (config_keys.c): the text of
 * docs/CONFIG.md, which tools/config-doc prints. Any thread.
 */
void config_write_reference(struct buf *out);

/* Appends the annotated example configuration: the text of etc/vsmtpd.conf.example. */
void config_write_example(struct buf *out);

#endif
