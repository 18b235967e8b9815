/*
 * config_tls.c — the TLS and AUTH keys of a virtual server: the rules
 * between them, and the TLS context and AUTH accounts they load.
 *
 * Owns the tls_sni value type (config_certs_parse(), dispatched to by
 * config_value.c) and config_tls_build(), called by config.c once per
 * server after every key has been parsed. It checks what no single value can: a STARTTLS offer
 * or an implicit-TLS listener needs a certificate; TLS settings need the
 * certificate they modify; AUTH needs an accounts file; AUTH required on a
 * server that could never offer it (no TLS, and AUTH not allowed in plain
 * text) is refused. Then it builds srv->tls_ctx with tls_server_ctx_new()
 * (tls.c checks files, key modes, ciphers) and loads srv->auth_db with
 * auth_users_load() (auth.c checks the file, its mode and every line).
 * Both belong to the snapshot, which frees them (config.c). Key file
 * contents are read here, on the main thread, before privileges are
 * dropped. It does not parse values (config_value.c) nor decide anything
 * at session time (smtp_session.c, policy.c).
 *
 * Errors are filed through config_error() with the line of the key they
 * concern: TLS build problems at tls_cert, one line each; problems of the
 * auth_users file keep auth.c's own "FILE:LINE: ..." lines, at auth_users.
 * A key whose value was refused is left out of every rule here, so one
 * mistake gives one error.
 *
 * Standards: RFC 3207 (STARTTLS), RFC 8314 3.3 (implicit TLS), RFC 6066 3
 * (SNI), RFC 4954 4 (AUTH, and not in plain text: RFC 4954 14).
 */
#include "config.h"

#include <limits.h>
#include <openssl/err.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config_keys.h"
#include "lib/xalloc.h"
#include "tls.h"

/* One tls_sni item: "CERT" or "CERT:KEY", neither part empty. */
static const char *cert_item_check(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	if (colon == s)
		return "expected CERT or CERT:KEY (the certificate path is missing)";
	if (colon != NULL && colon == s + len - 1)
		return "expected CERT or CERT:KEY (the key path after ':' is missing)";
	if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) != NULL)
		return "expected CERT or CERT:KEY (more than one ':')";
	if (len >= PATH_MAX)
		return "too long for a path";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "control characters are not allowed in a path";
	return NULL;
}

static bool listed_before(char *const *list, size_t n, const char *item, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], item, len) == 0)
			return true;
	return false;
}

int config_certs_parse(const char *text, char ***out, size_t *nout, struct buf *why)
{
	const char *p = text;
	size_t n = 0;
	char **list = NULL;
	for (;;) {
		p += strspn(p, CONFIG_LIST_SEPARATORS);
		if (*p == '\0')
			break;
		const char *item = p;
		size_t len = strcspn(p, CONFIG_LIST_SEPARATORS);
		p += len;
		if (n == CONFIG_SNI_MAX) {
			buf_printf(why, "at most %d certificates", CONFIG_SNI_MAX);
			goto fail;
		}
		const char *err = cert_item_check(item, len);
		if (err == NULL && listed_before(list, n, item, len))
			err = "listed twice";
		if (err != NULL) {
			buf_append_char(why, '\'');
			config_append_escaped(why, item, len);
			buf_printf(why, "': %s", err);
			goto fail;
		}
		list = xrealloc(list, (n + 1) * sizeof(*list));
		list[n++] = xstrndup(item, len);
	}
	*out = list;
	*nout = n;
	return 0;
fail:
	config_list_free(list, n);
	return -1;
}

/* Where row name was set: its line, 0 when unset, negative when its value was refused. */
static int row_line(const int *lines, const char *name)
{
	return lines[config_key_find(name) - config_keys];
}

static const char *level_name(int level)
{
	switch ((enum config_level)level) {
	case CONFIG_OFF:
		return "off";
	case CONFIG_OPTIONAL:
		return "optional";
	case CONFIG_REQUIRED:
		return "required";
	}
	return "?";
}

/* The first listener with the "tls" flag, or NULL. */
static const struct config_listen *tls_listener(const struct config_server *srv)
{
	for (size_t i = 0; i < srv->nlisten; i++)
		if (srv->listen[i].tls)
			return &srv->listen[i];
	return NULL;
}

/* Files each "message\n" line of text at line, prefixed by prefix. */
static void file_lines(struct config_loader *ld, int line, const char *prefix, const struct buf *text)
{
	const char *p = buf_str(text);
	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		config_error(ld, line, "%s%.*s", prefix, (int)len, p);
		p += len + (p[len] == '\n');
	}
}

/* Settings that only mean something with a certificate. */
static void tls_rules(struct config_loader *ld, const struct config_server *srv, const int *lines)
{
	static const char *const needs_cert[] = {
		"tls_key", "tls_sni", "tls_min_protocol", "tls_ciphers", "tls_ciphersuites",
	};
	if (row_line(lines, "tls_cert") != 0)
		return;
	int l_starttls = row_line(lines, "starttls");
	if (l_starttls > 0 && srv->starttls != CONFIG_OFF)
		config_error(ld, l_starttls, "starttls = %s needs tls_cert (the certificate to offer)",
			     level_name(srv->starttls));
	const struct config_listen *l = tls_listener(srv);
	int l_listen = row_line(lines, "listen");
	if (l != NULL && l_listen > 0)
		config_error(ld, l_listen, "listen address %s has the 'tls' flag, which needs tls_cert "
			     "(the certificate to offer)", l->text);
	for (size_t i = 0; i < sizeof(needs_cert) / sizeof(needs_cert[0]); i++) {
		int line = row_line(lines, needs_cert[i]);
		/* "tls_sni =" (an empty list) asks for nothing. */
		bool empty = strcmp(needs_cert[i], "tls_sni") == 0 && srv->ntls_sni == 0;
		if (line > 0 && !empty)
			config_error(ld, line, "%s has no effect without tls_cert", needs_cert[i]);
	}
}

/* Builds srv->tls_ctx; every problem tls.c reports becomes one error at tls_cert. */
static void tls_ctx_build(struct config_loader *ld, struct config_server *srv, int line)
{
	struct tls_cert_pair *pairs = xcalloc(srv->ntls_sni > 0 ? srv->ntls_sni : 1, sizeof(*pairs));
	char **certs = xcalloc(srv->ntls_sni > 0 ? srv->ntls_sni : 1, sizeof(*certs));
	for (size_t i = 0; i < srv->ntls_sni; i++) {
		/* "CERT:KEY" or "CERT", checked by the CONFIG_T_CERTS parser. */
		const char *item = srv->tls_sni[i];
		const char *colon = strchr(item, ':');
		certs[i] = colon != NULL ? xstrndup(item, (size_t)(colon - item)) : xstrdup(item);
		pairs[i].cert_file = certs[i];
		pairs[i].key_file = colon != NULL ? colon + 1 : NULL;
	}
	struct tls_server_conf conf = {
		.cert_file = srv->tls_cert,
		.key_file = srv->tls_key,
		.sni_certs = srv->ntls_sni > 0 ? pairs : NULL,
		.sni_count = srv->ntls_sni,
		.min_protocol = srv->tls_min_protocol,
		.ciphers = srv->tls_ciphers,
		.ciphersuites = srv->tls_ciphersuites,
	};
	struct buf errors = BUF_INIT;
	ERR_clear_error();
	srv->tls_ctx = tls_server_ctx_new(&conf, &errors);
	if (srv->tls_ctx == NULL) {
		if (errors.len == 0)
			buf_append_str(&errors, "the TLS context could not be built\n");
		file_lines(ld, line, "cannot set up TLS: ", &errors);
	}
	ERR_clear_error();
	buf_free(&errors);
	for (size_t i = 0; i < srv->ntls_sni; i++)
		free(certs[i]);
	free(certs);
	free(pairs);
}

/*
 * Loads srv->auth_db. auth.c writes "PATH:LINE: message" for bad lines,
 * kept as they are; its "PATH: message" lines about the whole file are
 * tied to the auth_users line like every other problem of a named file.
 */
static void auth_db_load(struct config_loader *ld, struct config_server *srv, int line)
{
	struct buf errors = BUF_INIT;
	if (auth_users_load(srv->auth_users, &srv->auth_db, &errors) == 0) {
		buf_free(&errors);
		return;
	}
	size_t plen = strlen(srv->auth_users);
	struct buf lines = BUF_INIT, esc = BUF_INIT;
	unsigned n = 0;
	const char *p = buf_str(&errors);
	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		bool own_line = len > plen + 1 && strncmp(p, srv->auth_users, plen) == 0 &&
				p[plen] == ':' && p[plen + 1] >= '0' && p[plen + 1] <= '9';
		if (own_line) {
			buf_append(&lines, p, len);
			buf_append_char(&lines, '\n');
			n++;
		} else {
			const char *msg = p;
			size_t mlen = len;
			if (len >= plen + 2 && strncmp(p, srv->auth_users, plen) == 0 &&
			    strncmp(p + plen, ": ", 2) == 0) {
				msg += plen + 2;
				mlen -= plen + 2;
			}
			buf_reset(&esc);
			config_append_escaped(&esc, srv->auth_users, plen);
			config_error(ld, line, "auth_users = '%s': %.*s", buf_str(&esc), (int)mlen, msg);
		}
		p += len + (p[len] == '\n');
	}
	if (errors.len == 0) {
		config_append_escaped(&esc, srv->auth_users, plen);
		config_error(ld, line, "auth_users = '%s': cannot load the accounts", buf_str(&esc));
	}
	config_error_lines(ld, line, &lines, n);
	buf_free(&lines);
	buf_free(&esc);
	buf_free(&errors);
}

static void auth_rules(struct config_loader *ld, const struct config_server *srv, const int *lines)
{
	int l_auth = row_line(lines, "auth");
	if (l_auth <= 0 || srv->auth == CONFIG_OFF)
		return;
	if (row_line(lines, "auth_users") == 0)
		config_error(ld, l_auth, "auth = %s needs auth_users (the file of user:password-hash "
			     "lines)", level_name(srv->auth));
	/* RFC 4954 14: no password in plain text, unless the admin says so. */
	if (srv->auth == CONFIG_REQUIRED && srv->starttls == CONFIG_OFF &&
	    row_line(lines, "starttls") >= 0 && tls_listener(srv) == NULL &&
	    row_line(lines, "listen") >= 0 && !srv->auth_plaintext &&
	    row_line(lines, "auth_plaintext") >= 0)
		config_error(ld, l_auth, "auth = required, but AUTH would never be offered: starttls "
			     "is off, no listener has the 'tls' flag and auth_plaintext is no");
}

void config_tls_build(struct config_loader *ld, struct config_server *srv, const int *lines,
		      int section_line)
{
	tls_rules(ld, srv, lines);
	auth_rules(ld, srv, lines);
	int l_cert = row_line(lines, "tls_cert");
	if (srv->tls_cert != NULL)
		tls_ctx_build(ld, srv, l_cert > 0 ? l_cert : section_line);
	int l_users = row_line(lines, "auth_users");
	if (srv->auth_users != NULL)
		auth_db_load(ld, srv, l_users > 0 ? l_users : section_line);
}
