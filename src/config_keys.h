/*
 * config_keys.h — the key table and its value types (private to config).
 *
 * Every key vsmtpd understands is one row of config_keys[] (config_keys.c):
 * its name, section, type, where it lands in struct config_global or
 * struct config_server, default, bounds and documentation. The loader
 * (config.c) never tests a key by name to validate it: it looks the row up
 * and hands the text to config_value_parse() (config_value.c), which
 * dispatches on the type. Defaults are written as a user would write them
 * and go through the same parser, so a default cannot drift from what the
 * documentation shows. Nothing here is used outside the config module.
 */
#ifndef VSMTPD_CONFIG_KEYS_H
#define VSMTPD_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2: longest local part and domain. */
#define CONFIG_LOCAL_MAX 64
#define CONFIG_DOMAIN_MAX 255
/* RFC 1035 2.3.4: longest label. */
#define CONFIG_LABEL_MAX 63
/* A [server NAME] name appears in logs and vsmtpctl commands. */
#define CONFIG_SERVER_NAME_MAX 64
/* useradd's limit on a login name. */
#define CONFIG_USER_NAME_MAX 32
/* Listeners one server may have. */
#define CONFIG_LISTEN_MAX 64
/* Extra SNI certificates one server may have (tls_sni). */
#define CONFIG_SNI_MAX 64
/* Items of a list value are separated by commas and/or blanks. */
#define CONFIG_LIST_SEPARATORS ", \t"
/* Longest CONFIG_T_STRING value (OpenSSL cipher lists run to a few hundred). */
#define CONFIG_STRING_MAX 1024

enum config_type {
	CONFIG_T_PATH,		/* a file or directory name, kept as written */
	CONFIG_T_WORD,		/* a user name: letters, digits, . _ - */
	CONFIG_T_ENUM,		/* one of the row's choices, stored as int */
	CONFIG_T_UINT,		/* unsigned within [min, max]; "auto" if auto_fn */
	CONFIG_T_SIZE,		/* bytes, K/M/G suffix; unsigned long long */
	CONFIG_T_DURATION,	/* seconds, s/m/h/d suffix; unsigned */
	CONFIG_T_LISTEN,	/* IP:port [tls] list -> struct config_listen[] */
	CONFIG_T_DOMAIN,	/* one domain name, lower-cased */
	CONFIG_T_ADDRESS,	/* one mailbox "local@domain" (RFC 5321), domain lower-cased */
	CONFIG_T_DOMAINS,	/* a list of domain names, lower-cased, sorted, unique */
	CONFIG_T_MAILBOX,	/* maildir:PATH template */
	CONFIG_T_CIDRS,		/* struct cidr_set */
	CONFIG_T_RETRY,		/* up to CONFIG_RETRY_MAX durations */
	CONFIG_T_BOOL,		/* yes | no -> bool */
	CONFIG_T_STRING,	/* printable ASCII; one of the row's choices if it has any */
	CONFIG_T_CERTS,		/* list of "CERT" or "CERT:KEY" paths -> char *[] */
	CONFIG_T_NEXTHOP,	/* host[:port] / [host]:port -> struct config_nexthop */
	CONFIG_T_RESOLVER,	/* "system" or IP:port -> char * (normalised) */
	CONFIG_T_TLS_POLICIES,	/* "domain:policy" list -> struct config_tls_policy[] */
};

/* A short word for people (the console's key list): "size", "duration", "yes/no", ... */
const char *config_type_name(enum config_type type);

enum config_scope {
	CONFIG_SCOPE_GLOBAL,	/* [global] -> struct config_global */
	CONFIG_SCOPE_SERVER,	/* [server NAME] -> struct config_server */
};

struct config_choice {
	const char *name;
	int value;
};

/* The console's property page (tab) a server key is shown on. */
enum config_page {
	CONFIG_PAGE_NONE,	/* [global] keys */
	CONFIG_PAGE_GENERAL,	/* listen addresses, hostname, connection limits, timeouts */
	CONFIG_PAGE_ACCESS,	/* networks, relay, TLS, authentication */
	CONFIG_PAGE_MESSAGES,	/* limits on messages, NDR copy, badmail */
	CONFIG_PAGE_DELIVERY,	/* outbound, smart host, retry, expiry, hops, masquerade */
};

#define CONFIG_KEY_REQUIRED 0x1u	/* no default: the section must set it */

struct config_key {
	const char *name;
	enum config_scope scope;
	enum config_type type;
	unsigned flags;		/* CONFIG_KEY_* */
	enum config_page page;	/* [server] keys: the console's tab */
	size_t off;		/* the field, from the start of the scope's struct */
	size_t off_n;		/* list types: the size_t count field */
	const char *def;	/* default as a user writes it; NULL: none (field stays 0/NULL) */
	void (*def_fn)(struct buf *out);	/* computed default, or NULL */
	const char *def_doc;	/* the default as the docs show it, when not def */
	unsigned (*auto_fn)(void);	/* CONFIG_T_UINT: the value "auto" means, or NULL */
	unsigned long long min, max;	/* UINT, SIZE, DURATION, and each RETRY item */
	const struct config_choice *choices;	/* ENUM, STRING; ends with a NULL name */
	const char *doc;	/* one line (Markdown) for docs/CONFIG.md */
	const char *example;	/* a typical value */
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* The annotated example configuration, identical to etc/vsmtpd.conf.example. */
extern const char config_example[];

/* "general", "access", "messages", "delivery"; NULL for CONFIG_PAGE_NONE. */
const char *config_page_name(enum config_page page);

/* The row named name (any scope), or NULL. */
const struct config_key *config_key_find(const char *name);

/* k's field in base (a struct config_global or struct config_server, by k->scope), and the
 * size_t count of a list type's field. */
static inline void *config_field(const struct config_key *k, const void *base)
{
	return (char *)base + k->off;
}

static inline size_t *config_field_count(const struct config_key *k, const void *base)
{
	return (size_t *)((char *)base + k->off_n);
}

/*
 * Parses text as k's type into the field of base (a struct config_global
 * or struct config_server, by k->scope). Returns 0, or -1 with the reason
 * appended to *why ("expected ...") and the field left empty. The field
 * must be empty (zeroed) on entry: parsing twice would leak.
 */
int config_value_parse(const struct config_key *k, const char *text, void *base, struct buf *why);

/* Frees what config_value_parse() stored in k's field of base. */
void config_value_free(const struct config_key *k, void *base);

/* Appends k's value in base as a user writes it in the config (config_format.c);
 * config_value_parse() of the text gives the same value back. */
void config_value_format(const struct config_key *k, const void *base, struct buf *out);

/*
 * The CONFIG_T_CERTS parser (config_tls.c, beside the TLS rules it serves):
 * text is a list of "CERT" or "CERT:KEY" items, at most CONFIG_SNI_MAX,
 * none listed twice; an empty list is fine. Returns 0 with *list (*n
 * strings, caller frees with config_list_free) or -1 with the reason
 * appended to *why and *list, *n untouched.
 */
int config_certs_parse(const char *text, char ***list, size_t *n, struct buf *why);

/*
 * The outbound value types (config_outbound.c): CONFIG_T_NEXTHOP (the
 * row's min is the default port), CONFIG_T_RESOLVER, CONFIG_T_TLS_POLICIES.
 * Same contract as config_value_parse() / config_value_free().
 */
int config_outbound_parse(const struct config_key *k, const char *text, void *field, size_t *count,
			  struct buf *why);
void config_outbound_free(const struct config_key *k, void *field, size_t *count);

/* The choices of a TLS policy key: none, may, encrypt, verify. */
extern const struct config_choice config_tls_policy_choices[];

/*
 * One "IP:port" or "[IPv6]:port" (numeric) into *out (config_value.c; the
 * listen parser). Returns 0, or -1 with the reason appended to *why.
 */
struct config_listen;
int config_endpoint_parse(const char *item, size_t len, struct config_listen *out, struct buf *why);

/* Frees n strings and the array holding them (config_value.c). */
void config_list_free(char **list, size_t n);

/*
 * Checks a domain name (RFC 1035 2.3.1 letters-digits-hyphen labels, RFC
 * 3696 2: a top label is not all digits) and writes it lower-cased into
 * out[0..CONFIG_DOMAIN_MAX]. Returns 0, or -1 with *why set to a static
 * reason.
 */
int config_domain_check(const char *text, size_t len, char *out, const char **why);

/* Human forms of sizes and durations, as the parser reads them ("25M", "5d"). */
void config_format_size(struct buf *out, unsigned long long bytes);
void config_format_duration(struct buf *out, unsigned long long seconds);

/* Appends s[0..len) with bytes outside printable ASCII as \xNN. */
void config_append_escaped(struct buf *out, const char *s, size_t len);

/*
 * Checks a local part s[0..len) as users files write it: a dot-atom of
 * RFC 5322 3.2.3 (UTF-8 allowed, RFC 6531), at most CONFIG_LOCAL_MAX
 * octets. Returns NULL, or a static reason.
 */
const char *config_local_check(const char *s, size_t len);

/*
 * A line-oriented side file (users, sender_login): fn gets each entry with
 * comments and surrounding blanks removed, and returns how many problems it
 * reported (as config_line_error() lines). NUL bytes and lines over
 * max_line octets (reported with the too_long text) are counted here.
 * Returns -1/errno when the file cannot be read, else 0 with *nbad set.
 */
int config_lines_read(const char *path, size_t max_line, const char *too_long,
		      unsigned (*fn)(void *arg, char *entry, const char *path, unsigned lineno,
				     struct buf *errors),
		      void *arg, struct buf *errors, unsigned *nbad);
/* Appends "PATH:LINE: 'text': why\n" (text escaped). */
void config_line_error(struct buf *errors, const char *path, unsigned line, const char *text,
		       size_t len, const char *why);
void config_lower(char *s);

/*
 * Reads the users file at path into *out (sorted, lower-cased, unique).
 * Returns -1 with errno when the file cannot be opened or read (out left
 * empty); otherwise 0, with one "path:line: message" appended to *errors
 * per bad line and *nbad set to their number (bad lines are skipped).
 */
struct config_users;
int config_users_read(const char *path, struct config_users *out, struct buf *errors, unsigned *nbad);
void config_users_free(struct config_users *u);

/*
 * Reads a sender_login file (config_login.c), with the same contract as
 * config_users_read(): -1/errno when it cannot be read, else 0 with every
 * bad line reported as "path:line: message" and counted in *nbad.
 */
struct config_sender_login;
int config_sender_login_read(const char *path, struct config_sender_login *out, struct buf *errors,
			     unsigned *nbad);
void config_sender_login_free(struct config_sender_login *l);

/*
 * While a snapshot is built (config.c), problems are filed with the line
 * of the configuration file they belong to, and reported in line order.
 * config_error() files "FILE:LINE: message\n"; config_error_lines() files
 * ready-made lines (each ending in "\n", e.g. another file's
 * "path:line: ...") under line, counting them as n problems.
 */
struct config_loader;
void config_error(struct config_loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void config_error_lines(struct config_loader *ld, int line, const struct buf *text, unsigned n);
const char *config_loader_path(const struct config_loader *ld);

/*
 * The TLS and AUTH keys of one server (config_tls.c): checks the rules
 * between them, builds srv->tls_ctx when tls_cert is set and loads
 * srv->auth_db when auth_users is. lines[i] says where config_keys[i] was
 * set: its line, 0 when it was not set, minus its line when its value was
 * invalid (rules involving it are then not checked, so one mistake is one
 * error). section_line is the [server NAME] line.
 */
struct config_server;
void config_tls_build(struct config_loader *ld, struct config_server *srv, const int *lines,
		      int section_line);

/*
 * The console keys of [global] (config_console.c), once every section is
 * built: checks the rules between them, loads c->global.console_db and
 * builds c->global.console_tls_ctx. lines as for config_tls_build(), for
 * the [global] rows.
 */
struct config;
void config_console_build(struct config_loader *ld, struct config *c, const int *lines);

/*
 * The outbound keys of one server (config_outbound.c), after every key was
 * parsed: builds srv->outbound_tls_ctx, reads smart_host_credentials (mode
 * checked like auth_users) and checks the rules between the keys. lines as
 * for config_tls_build().
 */
void config_outbound_build(struct config_loader *ld, struct config_server *srv, const int *lines,
			   int section_line);

#endif
