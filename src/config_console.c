/*
 * config_console.c — the web console's [global] keys: the rules between
 * them, and the accounts and TLS context they load.
 *
 * config_console_build() runs once per load (config.c), after every key
 * and every [server] section was built, so that an operator's servers can
 * be checked against the config. The console needs an accounts file;
 * console_cert and console_key go together; none of the three means
 * anything without console. Then it loads the accounts
 * (console_accounts_load(): the file, its mode and every line) into
 * global.console_db and, for HTTPS, builds global.console_tls_ctx with
 * tls.c's tls_server_ctx_new() (files, key mode, match). Both belong to the
 * snapshot, which frees them (config.c): so `vsmtpd -n` checks them, and a
 * reload reads the accounts again. The listener itself is console.c's.
 *
 * Errors are filed through config_error() at the line of the key they
 * concern; the accounts file's own "path:line: message" lines are kept as
 * they are, at console_users. A key whose value was refused is left out of
 * the rules, so one mistake gives one error.
 */
#include "config.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config_keys.h"
#include "console_auth.h"
#include "lib/xalloc.h"
#include "tls.h"

/* Where [global] row name was set: its line, 0 when unset, negative when its value was refused. */
static int row_line(const int *lines, const char *name)
{
	return lines[config_key_find(name) - config_keys];
}

/* Files each line of text at line: "path:N: ..." lines of the file as they are, the others
 * about the file as a whole, after "key = 'path': ". */
static void file_lines(struct config_loader *ld, int line, const char *key, const char *path,
		       const struct buf *text)
{
	size_t plen = strlen(path);
	struct buf own = BUF_INIT, esc = BUF_INIT;
	unsigned n = 0;
	config_append_escaped(&esc, path, plen);
	for (const char *p = buf_str(text); *p != '\0';) {
		size_t len = strcspn(p, "\n");
		bool numbered = len > plen + 1 && strncmp(p, path, plen) == 0 && p[plen] == ':' &&
				p[plen + 1] >= '0' && p[plen + 1] <= '9';
		if (numbered) {
			buf_append(&own, p, len);
			buf_append_char(&own, '\n');
			n++;
		} else {
			size_t skip = len >= plen + 2 && strncmp(p, path, plen) == 0 &&
						      strncmp(p + plen, ": ", 2) == 0
					      ? plen + 2
					      : 0;
			config_error(ld, line, "%s = '%s': %.*s", key, buf_str(&esc), (int)(len - skip),
				     p + skip);
		}
		p += len + (p[len] == '\n');
	}
	config_error_lines(ld, line, &own, n);
	buf_free(&own);
	buf_free(&esc);
}

static void console_accounts_build(struct config_loader *ld, struct config *c, int line)
{
	char **names = xcalloc(c->nservers > 0 ? c->nservers : 1, sizeof(*names));
	for (size_t i = 0; i < c->nservers; i++)
		names[i] = c->servers[i].name;
	struct buf errors = BUF_INIT;
	if (console_accounts_load(c->global.console_users, names, c->nservers, &c->global.console_db,
				  &errors) < 0) {
		if (errors.len == 0)
			buf_append_str(&errors, "cannot load the accounts\n");
		file_lines(ld, line, "console_users", c->global.console_users, &errors);
	}
	buf_free(&errors);
	free(names);
}

static void console_tls_build(struct config_loader *ld, struct config_global *g, int line)
{
	struct tls_server_conf conf = { .cert_file = g->console_cert, .key_file = g->console_key };
	struct buf errors = BUF_INIT;
	ERR_clear_error();
	g->console_tls_ctx = tls_server_ctx_new(&conf, &errors);
	if (g->console_tls_ctx == NULL) {
		if (errors.len == 0)
			buf_append_str(&errors, "the TLS context could not be built\n");
		for (const char *p = buf_str(&errors); *p != '\0';) {
			size_t len = strcspn(p, "\n");
			config_error(ld, line, "console_cert: cannot set up TLS: %.*s", (int)len, p);
			p += len + (p[len] == '\n');
		}
	}
	ERR_clear_error();
	buf_free(&errors);
}

void config_console_build(struct config_loader *ld, struct config *c, const int *lines)
{
	struct config_global *g = &c->global;
	int l_console = row_line(lines, "console");
	int l_users = row_line(lines, "console_users");
	int l_cert = row_line(lines, "console_cert");
	int l_key = row_line(lines, "console_key");
	if (l_console < 0)
		return;		/* refused: its rules would only repeat that */
	if (g->nconsole == 0) {
		static const char *const needs_console[] = { "console_users", "console_cert", "console_key" };
		for (size_t i = 0; i < sizeof(needs_console) / sizeof(needs_console[0]); i++) {
			int line = row_line(lines, needs_console[i]);
			if (line > 0)
				config_error(ld, line, "%s has no effect without console (the address to "
					     "serve the console at)", needs_console[i]);
		}
		return;
	}
	if (l_users == 0)
		config_error(ld, l_console, "console needs console_users (the file of name:crypt-hash:role "
			     "accounts)");
	if (l_cert > 0 && l_key == 0)
		config_error(ld, l_cert, "console_cert needs console_key (the private key of the "
			     "certificate)");
	if (l_key > 0 && l_cert == 0)
		config_error(ld, l_key, "console_key needs console_cert (the certificate of the key)");
	if (l_users > 0)
		console_accounts_build(ld, c, l_users);
	if (l_cert > 0 && l_key > 0)
		console_tls_build(ld, g, l_cert);
}
