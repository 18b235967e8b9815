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
 * Durations are seconds; sizes are bytes. A snapshot also owns what it
 * loaded for its servers — each server's TLS context (SSL_CTX) and AUTH
 * accounts — so they live exactly as long as the sessions that use them.
 */
#ifndef VSMTPD_CONFIG_H
#define VSMTPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <openssl/types.h>

#include "lib/buf.h"
#include "lib/cidr.h"
#include "log.h"

#define CONFIG_RETRY_MAX 32

struct auth_users;
struct console_accounts;

/* starttls and auth: whether the server offers the extension, and whether
 * a client must use it before sending mail. */
enum config_level {
	CONFIG_OFF,
	CONFIG_OPTIONAL,
	CONFIG_REQUIRED,
};

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

/*
 * A sender_login file: which AUTH user may use which envelope senders.
 * One entry per (address, user) pair; `pattern` is a full address
 * ("user1@example.test") or "@domain" (every address of that domain),
 * lower-cased. Sorted by pattern, then user; no duplicates.
 */
struct config_sender_entry {
	char *pattern;
	char *user;			/* AUTH user name, exact octets */
};

struct config_sender_login {
	struct config_sender_entry *entries;
	size_t n;
};

/* A next hop as configured: "host", "host:port", "[host]:port" or "[IP]:port". */
struct config_nexthop {
	char *host;			/* NULL: none; a name, an IPv4 or an IPv6 address (no brackets) */
	unsigned port;			/* 0: the key's default */
	bool mx;			/* look up MX records of host (written without brackets) */
};

/* One outbound_tls_policy item: mail for domain uses policy. */
struct config_tls_policy {
	char *domain;			/* lower-cased */
	int policy;			/* enum tls_policy (outbound_conn.h) */
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

	/* Connection rate (policy). */
	unsigned max_connection_rate_per_ip;	/* new connections per IP per minute; 0 = no limit */

	/* TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS). */
	int starttls;			/* enum config_level */
	char *tls_cert;			/* PEM chain, leaf first; NULL: no TLS */
	char *tls_key;			/* PEM key; NULL: the key is inside tls_cert */
	char **tls_sni;			/* extra certificates: "CERT" or "CERT:KEY" each */
	size_t ntls_sni;
	char *tls_min_protocol;		/* "TLSv1.2" or "TLSv1.3" (spelled so) */
	char *tls_ciphers;		/* TLS 1.2 list; NULL: TLS_DEFAULT_CIPHERS (tls.h) */
	char *tls_ciphersuites;		/* TLS 1.3 list; NULL: OpenSSL's default */
	SSL_CTX *tls_ctx;		/* built from the above whenever tls_cert is set; else NULL */

	/* AUTH (RFC 4954) and what authenticated clients may do. */
	int auth;			/* enum config_level */
	char *auth_users;		/* user:crypt-hash file; NULL: none */
	struct auth_users *auth_db;	/* its accounts, loaded; NULL when auth_users is */
	bool auth_plaintext;		/* offer AUTH before TLS (default no) */
	bool relay_authenticated;	/* authenticated clients may relay (default yes) */
	char *sender_login;		/* sender_login file, or NULL */
	struct config_sender_login sender_logins;	/* its contents */

	/* Outbound delivery (RFC 5321 5.1, 4.5.3.2; RFC 3207). */
	unsigned outbound_port;
	int outbound_tls;		/* enum tls_policy */
	struct config_tls_policy *outbound_tls_policy;	/* per-domain overrides */
	size_t noutbound_tls_policy;
	char *outbound_tls_ca;		/* PEM CA bundle; NULL: the system's store */
	SSL_CTX *outbound_tls_ctx;	/* client context, always built */
	unsigned outbound_concurrency;	/* connections per destination; 0 = no limit */
	unsigned outbound_max_messages_per_connection;
	unsigned outbound_timeout_connect;
	unsigned outbound_timeout_command;
	unsigned outbound_timeout_data;
	struct config_nexthop smart_host;
	char *smart_host_credentials;	/* "user:password" file; NULL: no AUTH */
	char *smart_host_user;		/* loaded from it */
	char *smart_host_password;
	int smart_host_tls;		/* enum tls_policy */
	bool smart_host_direct_first;
	unsigned delay_warning;
	unsigned max_hop_count;
	char *masquerade_domain;	/* NULL: none */
	char *ndr_copy_to;		/* "local@domain"; NULL: none */
	char *badmail;			/* NULL: SPOOL/badmail */
};

struct config_global {
	char *spool;
	char *user;			/* NULL: stay as started */
	unsigned workers;		/* resolved: "auto" -> number of CPUs */
	enum log_dest log;
	char *dns;			/* "system" or "IP:port" as normalised */
	unsigned delivery_threads;
	unsigned max_outbound_connections;	/* 0 = no limit */
	unsigned outbound_idle_time;	/* seconds an idle outbound session is kept */
	char *control;			/* the control socket's path */
	char *control_group;		/* its group; NULL: the daemon's */
	struct config_listen *metrics;	/* Prometheus endpoint addresses; none: off */
	size_t nmetrics;
	unsigned long long min_free_space;	/* bytes the spool's file system keeps free; 0 = no check */
	struct config_listen *console;	/* web console addresses; none: off */
	size_t nconsole;
	char *console_users;		/* its accounts file */
	char *console_cert, *console_key;	/* set: HTTPS */
	struct console_accounts *console_db;	/* console_users, loaded (config_console.c); NULL: off */
	SSL_CTX *console_tls_ctx;	/* built from console_cert and console_key; NULL: HTTP */
};

struct config {
	int refs;			/* atomic */
	char *path;
	struct config_global global;
	struct config_server *servers;
	size_t nservers;
};

/*
 * Loads and validates path, checks the rules between keys (TLS and AUTH
 * settings that need one another), reads each server's users and
 * sender_login files, loads its auth_users accounts and builds its TLS
 * context when tls_cert is set (so `vsmtpd -n` checks certificates, keys
 * and their modes too). Returns 0 and a snapshot with one reference, or -1
 * (and *out NULL) with one "file:line: message\n" per problem appended to
 * *errors ("file: message" for problems of the whole file;
 * "usersfile:line: message" for bad lines of a users, sender_login or
 * auth_users file). Relative paths in values are kept as written (relative
 * to the working directory, like Postfix's command-line tools). Main
 * thread; touches no global state but OpenSSL's error queue.
 */
int config_load(const char *path, struct config **out, struct buf *errors);

/*
 * config_load() of the file at path, named `name` in every message and in
 * the snapshot (c->path, each server's file): `config.set` checks the
 * edited text in a temporary file beside the config, and its errors must
 * name the config file itself.
 */
int config_load_as(const char *path, const char *name, struct config **out, struct buf *errors);

/*
 * config_ref() adds a reference and returns c; config_unref() drops one and
 * frees the snapshot with the last. Atomic: any thread. NULL is ignored.
 */
struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/*
 * Parses a next hop: "host", "host:port", "[host]:port", "[IP]:port" or
 * "[IPv6]:port" (host: a domain name, or a numeric address). A bracketed
 * host or a numeric address means "no MX lookup"; port defaults to
 * default_port. Fills *out (host allocated; free with config_nexthop_free)
 * and returns 0, or -1 with the reason appended to *why. Any thread.
 */
int config_nexthop_parse(const char *text, unsigned default_port, struct config_nexthop *out,
			 struct buf *why);
void config_nexthop_free(struct config_nexthop *n);

#define CONFIG_LMTP_PORT 24

/* Where a mailbox = lmtp:... setting delivers. */
struct config_lmtp {
	const char *unix_path;		/* "lmtp:unix:PATH": points into the text; else NULL */
	struct config_nexthop inet;	/* "lmtp:HOST[:PORT]" (port default 24, never MX) */
};

/* Parses a mailbox value starting "lmtp:"; 0, or -1 with the reason in *why.
 * Free out->inet with config_nexthop_free. Any thread. */
int config_lmtp_parse(const char *mailbox, struct config_lmtp *out, struct buf *why);

/* The TLS policy for mail to domain: its outbound_tls_policy item, else outbound_tls. */
int config_tls_policy_for(const struct config_server *srv, const char *domain);

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
 * Sender ownership (sender_login): sender is an envelope address
 * "local@domain" as address_format() writes it. True when srv has a
 * sender_login file in which `user` (exact octets, as AUTH user names are
 * compared) lists sender itself or "@domain" of its domain; addresses and
 * domains compare case-insensitively (ASCII). False when srv has no
 * sender_login file, for the null sender "", for a sender without a
 * domain and for NULL arguments. Any thread (the snapshot is immutable).
 */
bool config_sender_owned_by(const struct config_server *srv, const char *user, const char *sender);

/* True when some user of srv's sender_login file owns sender (same rules). */
bool config_sender_is_owned(const struct config_server *srv, const char *sender);

/*
 * Appends the Markdown reference of every key (config_keys.c): the text of
 * docs/CONFIG.md, which tools/config-doc prints. Any thread.
 */
void config_write_reference(struct buf *out);

/*
 * Appends vsmtpd.conf(5) in troff -man (config_man.c): the same reference,
 * translated, with NAME, SYNOPSIS, FILES and SEE ALSO; the text of
 * docs/vsmtpd.conf.5, which `tools/config-doc man` prints. Any thread.
 */
void config_write_man(struct buf *out);

/* Appends the annotated example configuration: the text of etc/vsmtpd.conf.example. */
void config_write_example(struct buf *out);

#endif
