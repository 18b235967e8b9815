/*
 * test_config.c — the configuration loader, its key table and its docs.
 *
 * Cases write small configs into a temporary directory (so messages can be
 * compared byte for byte as "t.conf:LINE: ...") or load the files in
 * data/config/ (errors.conf against the golden errors.ref). The example
 * config and docs/CONFIG.md are checked against what config_keys.c
 * generates, so neither can drift. The group setup also makes throw-away
 * TLS certificates with the openssl command line and AUTH users files in
 * the temporary directory (keys mode 600, and deliberately unsafe copies).
 * The example config is loaded from a copy of etc/ next to such a
 * certificate, as `make run` arranges it. Runs with the working directory
 * tests/unit/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "auth.h"
#include "config.h"
#include "outbound_conn.h"
#include "tls.h"

static char tmpdir[64];

/* user1's password hash in etc/passwd.example ("user1-demo-password"). */
#define USER1_HASH "$y$j9T$SoIzdLQ.fCpWd9OD45UqE1$WVMeXvF6REktNvFSDtPW4yjjJ8c9JWei7vZhjTtgFP7"
#define USER1_PASSWORD "user1-demo-password"

/* Certificates and password files the TLS and AUTH cases use (group setup). */
static const char fixture_script[] =
	"set -e\n"
	"cat > req.cnf <<'EOF'\n"
	"[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
	"EOF\n"
	"leaf() { openssl req -config req.cnf -x509 -nodes -days 3 -newkey ec"
	" -pkeyopt ec_paramgen_curve:P-256 -keyout $1.key -out $1.pem -subj /CN=$2"
	" -addext subjectAltName=$3; }\n"
	"leaf mx mx.example.test DNS:mx.example.test,DNS:submission.example.test\n"
	"leaf other other.example.test DNS:other.example.test\n"
	"cat mx.pem mx.key > combined.pem\n"
	"cp mx.key open.key\n"
	"chmod 644 *.pem open.key\n"
	"chmod 600 mx.key other.key combined.pem\n"
	"printf 'user1:%s\\n' '" USER1_HASH "' > passwd\n"
	"cp passwd passwd_open\n"
	"chmod 600 passwd\n"
	"chmod 644 passwd_open\n";

/* ---- helpers ---------------------------------------------------------- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_append(&b, "", 0);
	return b.data;
}

static void write_bytes(const char *name, const char *data, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_tmp(const char *name, const char *text)
{
	write_bytes(name, text, strlen(text));
}

/* The errors with the temporary directory cut out: "t.conf:3: ...". */
static char *relative(const struct buf *err)
{
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "%s/", tmpdir);
	size_t plen = strlen(prefix);
	const char *s = buf_str(err);
	struct buf out = BUF_INIT;
	buf_append(&out, "", 0);
	for (const char *p; (p = strstr(s, prefix)) != NULL; s = p + plen)
		buf_append(&out, s, (size_t)(p - s));
	buf_append_str(&out, s);
	return out.data;
}

/* Loads bytes as tmpdir/t.conf; returns the errors (caller frees). */
static char *load_bytes(const char *data, size_t len, struct config **out)
{
	write_bytes("t.conf", data, len);
	char path[128];
	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	struct buf err = BUF_INIT;
	int rc = config_load(path, out, &err);
	char *rel = relative(&err);
	buf_free(&err);
	if (rc == 0)
		assert_non_null(*out);
	else
		assert_null(*out);
	assert_int_equal(rc == 0, rel[0] == '\0');
	return rel;
}

static char *load_text(const char *text, struct config **out)
{
	return load_bytes(text, strlen(text), out);
}

static struct config *load_ok(const char *text)
{
	struct config *c;
	char *e = load_text(text, &c);
	if (e[0] != '\0')
		fprintf(stderr, "unexpected errors:\n%s", e);
	assert_string_equal(e, "");
	free(e);
	return c;
}

static void expect_errors(const char *text, const char *expected)
{
	struct config *c;
	char *e = load_text(text, &c);
	assert_null(c);
	assert_string_equal(e, expected);
	free(e);
}

/*
 * A config setting key = value: in [global] (line 2) or in [server a]
 * (line 4). Lines 5 and 6 give the server a listener and a hostname
 * unless the key under test is one of them.
 */
static char *try_key(bool global, const char *key, const char *value, struct config **out)
{
	char text[4096];
	bool listen = strcmp(key, "listen") == 0, host = strcmp(key, "hostname") == 0;
	snprintf(text, sizeof(text),
		 "[global]\n%s%s%s\n[server a]\n%s%s%s\n%s\n%s\n",
		 global ? key : "#", global ? " = " : "", global ? value : "",
		 global ? "#" : key, global ? "" : " = ", global ? "" : value,
		 listen ? "#" : "listen = 127.0.0.1:2525", host ? "#" : "hostname = a.test");
	return load_text(text, out);
}

static struct config *good_value(bool global, const char *key, const char *value)
{
	struct config *c;
	char *e = try_key(global, key, value, &c);
	if (e[0] != '\0')
		fprintf(stderr, "%s = '%s': unexpected errors:\n%s", key, value, e);
	assert_string_equal(e, "");
	free(e);
	return c;
}

static void bad_value(bool global, const char *key, const char *value, const char *why)
{
	struct config *c;
	char expect[1024];
	snprintf(expect, sizeof(expect), "t.conf:%d: %s = '%s': %s\n", global ? 2 : 4, key, value,
		 why);
	char *e = try_key(global, key, value, &c);
	assert_null(c);
	assert_string_equal(e, expect);
	free(e);
}

/* listen = value in a server that has a certificate, as a "tls" listener needs. */
static struct config *good_tls_listen(const char *value)
{
	char text[1024];
	snprintf(text, sizeof(text), "[server a]\nlisten = %s\nhostname = a.test\n"
		 "tls_cert = %s/combined.pem\n", value, tmpdir);
	return load_ok(text);
}

static const struct config_server *server_a(const struct config *c)
{
	const struct config_server *s = config_server_find(c, "a");
	assert_non_null(s);
	return s;
}

static struct sockaddr_storage ip(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return ss;
}

static bool matches(const struct cidr_set *set, const char *addr)
{
	struct sockaddr_storage ss = ip(addr);
	return cidr_set_match(set, (const struct sockaddr *)&ss);
}

static unsigned ncpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

static unsigned port_of(const struct config_listen *l)
{
	if (l->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
}

static int group_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vsmtpd-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	char path[128], cmd[256];
	snprintf(path, sizeof(path), "%s/fixture.sh", tmpdir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(fixture_script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && sh fixture.sh >fixture.log 2>&1 </dev/null", tmpdir);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/fixture.log >&2", tmpdir);
		(void)system(cmd);
		fprintf(stderr, "making the test certificates failed (is openssl installed?)\n");
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the example, the docs, the defaults ------------------------------ */

/*
 * Loads the example from a copy of etc/ next to ./run/tls/mx.pem and
 * mx.key, made as `make run` makes them, with passwd.example mode 600 (git
 * keeps no modes): the relative paths resolve as they do for `make run`.
 */
static struct config *load_example(void)
{
	char cwd[512], cmd[2048], dir[128];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(dir, sizeof(dir), "%s/example", tmpdir);
	snprintf(cmd, sizeof(cmd),
		 "set -e; rm -rf %s; mkdir -p %s/etc %s/run/tls; "
		 "cp ../../etc/vsmtpd.conf.example ../../etc/users.example "
		 "../../etc/passwd.example ../../etc/sender_login.example %s/etc/; "
		 "cp %s/mx.pem %s/mx.key %s/run/tls/; chmod 600 %s/etc/passwd.example",
		 dir, dir, dir, dir, tmpdir, tmpdir, dir, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chdir(dir), 0);
	struct buf err = BUF_INIT;
	struct config *c = NULL;
	int rc = config_load("etc/vsmtpd.conf.example", &c, &err);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(buf_str(&err), "");
	assert_int_equal(rc, 0);
	buf_free(&err);
	return c;
}

static void test_config_example_loads_exact_values(void **state)
{
	struct config *c = load_example();

	assert_string_equal(c->path, "etc/vsmtpd.conf.example");
	assert_string_equal(c->global.spool, "./run/spool");
	assert_null(c->global.user);
	assert_int_equal(c->global.workers, ncpu());
	assert_int_equal(c->global.log, LOG_DEST_STDERR);
	assert_int_equal(c->nservers, 3);

	const struct config_server *mx = &c->servers[0];
	assert_ptr_equal(config_server_find(c, "mx"), mx);
	assert_string_equal(mx->name, "mx");
	assert_string_equal(mx->file, "etc/vsmtpd.conf.example");
	assert_int_equal(mx->line, 34);
	assert_int_equal(mx->nlisten, 1);
	assert_string_equal(mx->listen[0].text, "127.0.0.1:2525");
	assert_false(mx->listen[0].tls);
	assert_int_equal(mx->listen[0].addr.ss_family, AF_INET);
	assert_int_equal(mx->listen[0].addrlen, sizeof(struct sockaddr_in));
	assert_int_equal(port_of(&mx->listen[0]), 2525);
	assert_string_equal(mx->hostname, "mx.example.test");
	assert_int_equal(mx->nlocal_domains, 1);
	assert_string_equal(mx->local_domains[0], "example.test");
	assert_string_equal(mx->mailbox, "maildir:./run/mail/%d/%u");
	assert_string_equal(mx->users, "./etc/users.example");
	assert_int_equal(mx->users_list.n, 6);
	const char *users[] = { "postmaster", "user1", "user2", "user3", "user4", "user5" };
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(mx->users_list.entries[i], users[i]);
	assert_int_equal(mx->allow.n, 2);
	assert_true(matches(&mx->allow, "192.0.2.1"));
	assert_true(matches(&mx->allow, "2001:db8::1"));
	assert_int_equal(mx->deny.n, 0);
	assert_int_equal(mx->relay_networks.n, 1);
	assert_true(matches(&mx->relay_networks, "127.0.0.1"));
	assert_false(matches(&mx->relay_networks, "127.0.0.2"));
	assert_int_equal(mx->max_message_size, 25ULL * 1024 * 1024);
	assert_int_equal(mx->max_recipients, 100);
	assert_int_equal(mx->max_connections, 1000);
	assert_int_equal(mx->max_connections_per_ip, 20);
	assert_int_equal(mx->max_messages_per_connection, 100);
	assert_int_equal(mx->timeout_command, 300);
	assert_int_equal(mx->timeout_data, 600);
	unsigned retry[] = { 300, 600, 1200, 2400, 3600, 7200, 14400 };
	assert_int_equal(mx->nretry, 7);
	for (size_t i = 0; i < 7; i++)
		assert_int_equal(mx->retry[i], retry[i]);
	assert_int_equal(mx->expire, 5 * 86400);
	assert_int_equal(mx->max_connection_rate_per_ip, 0);
	assert_int_equal(mx->starttls, CONFIG_OPTIONAL);
	assert_string_equal(mx->tls_cert, "./run/tls/mx.pem");
	assert_string_equal(mx->tls_key, "./run/tls/mx.key");
	assert_int_equal(mx->ntls_sni, 0);
	assert_string_equal(mx->tls_min_protocol, "TLSv1.2");
	assert_null(mx->tls_ciphers);
	assert_null(mx->tls_ciphersuites);
	assert_non_null(mx->tls_ctx);
	assert_int_equal(mx->auth, CONFIG_OFF);
	assert_null(mx->auth_users);
	assert_null(mx->auth_db);
	assert_false(mx->auth_plaintext);
	assert_true(mx->relay_authenticated);
	assert_null(mx->sender_login);

	const struct config_server *mx2 = config_server_find(c, "mx2");
	assert_ptr_equal(mx2, &c->servers[1]);
	assert_int_equal(mx2->nlisten, 1);
	assert_string_equal(mx2->listen[0].text, "127.0.0.2:2525");
	assert_string_equal(mx2->hostname, "mx2.example.test");
	assert_int_equal(mx2->nlocal_domains, 1);
	assert_string_equal(mx2->local_domains[0], "example.org");
	assert_string_equal(mx2->mailbox, "maildir:./run/mail/%d/%u");
	assert_null(mx2->users);
	assert_int_equal(mx2->users_list.n, 0);
	assert_int_equal(mx2->relay_networks.n, 0);
	assert_false(matches(&mx2->relay_networks, "127.0.0.1"));
	assert_int_equal(mx2->max_message_size, 10ULL * 1024 * 1024);
	assert_int_equal(mx2->max_recipients, 50);
	assert_int_equal(mx2->max_connections, 1000);
	assert_int_equal(mx2->timeout_data, 600);
	assert_int_equal(mx2->expire, 5 * 86400);
	assert_int_equal(mx2->starttls, CONFIG_OFF);
	assert_null(mx2->tls_ctx);
	assert_int_equal(mx2->auth, CONFIG_OFF);

	const struct config_server *sub = config_server_find(c, "submission");
	assert_ptr_equal(sub, &c->servers[2]);
	assert_int_equal(sub->nlisten, 2);
	assert_string_equal(sub->listen[0].text, "127.0.0.1:2587");
	assert_false(sub->listen[0].tls);
	assert_string_equal(sub->listen[1].text, "127.0.0.1:2465");
	assert_true(sub->listen[1].tls);
	assert_string_equal(sub->hostname, "submission.example.test");
	assert_true(config_is_local_domain(sub, "example.test"));
	assert_string_equal(sub->mailbox, "maildir:./run/mail/%d/%u");
	assert_string_equal(sub->users, "./etc/users.example");
	assert_int_equal(sub->users_list.n, 6);
	assert_int_equal(sub->starttls, CONFIG_REQUIRED);
	assert_string_equal(sub->tls_cert, "./run/tls/mx.pem");
	assert_string_equal(sub->tls_key, "./run/tls/mx.key");
	assert_non_null(sub->tls_ctx);
	assert_ptr_not_equal(sub->tls_ctx, mx->tls_ctx);
	assert_int_equal(sub->auth, CONFIG_REQUIRED);
	assert_string_equal(sub->auth_users, "./etc/passwd.example");
	assert_non_null(sub->auth_db);
	assert_int_equal(auth_users_count(sub->auth_db), 1);
	assert_true(auth_users_check(sub->auth_db, "user1", USER1_PASSWORD));
	assert_false(auth_users_check(sub->auth_db, "user1", "wrong"));
	assert_false(sub->auth_plaintext);
	assert_int_equal(sub->relay_networks.n, 0);
	assert_true(sub->relay_authenticated);
	assert_string_equal(sub->sender_login, "./etc/sender_login.example");
	assert_int_equal(sub->sender_logins.n, 1);
	assert_true(config_sender_owned_by(sub, "user1", "user1@example.test"));
	assert_false(config_sender_owned_by(sub, "user1", "user2@example.test"));
	assert_true(config_sender_is_owned(sub, "User1@Example.Test"));
	config_unref(c);
}

static void test_config_example_file_is_current(void **state)
{
	char *file = read_file("../../etc/vsmtpd.conf.example");
	assert_non_null(file);
	struct buf want = BUF_INIT;
	config_write_example(&want);
	if (strcmp(file, buf_str(&want)) != 0)
		fail_msg("etc/vsmtpd.conf.example is stale: run build/config-doc example > "
			 "etc/vsmtpd.conf.example");
	free(file);
	buf_free(&want);
}

static void test_config_docs_are_current(void **state)
{
	char *file = read_file("../../docs/CONFIG.md");
	assert_non_null(file);
	struct buf want = BUF_INIT;
	config_write_reference(&want);
	if (strcmp(file, buf_str(&want)) != 0)
		fail_msg("docs/CONFIG.md is stale: run build/config-doc > docs/CONFIG.md");
	free(file);
	buf_free(&want);
}

static void test_config_man_page_is_current(void **state)
{
	char *file = read_file("../../docs/vsmtpd.conf.5");
	assert_non_null(file);
	struct buf want = BUF_INIT;
	config_write_man(&want);
	if (strcmp(file, buf_str(&want)) != 0)
		fail_msg("docs/vsmtpd.conf.5 is stale: run build/config-doc man > docs/vsmtpd.conf.5");
	free(file);
	buf_free(&want);
}

static void test_config_reference_lists_every_key(void **state)
{
	struct buf doc = BUF_INIT;
	config_write_reference(&doc);
	const char *keys[] = { "spool", "user", "workers", "log", "listen", "hostname",
			       "local_domains", "mailbox", "users", "allow", "deny",
			       "relay_networks", "max_connections", "max_connections_per_ip",
			       "max_message_size", "max_recipients", "max_messages_per_connection",
			       "timeout_command", "timeout_data", "retry", "expire",
			       "max_connection_rate_per_ip", "relay_authenticated", "starttls",
			       "tls_cert", "tls_key", "tls_sni", "tls_min_protocol", "tls_ciphers",
			       "tls_ciphersuites", "auth", "auth_users", "auth_plaintext",
			       "sender_login" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char row[64];
		snprintf(row, sizeof(row), "\n| `%s` | ", keys[i]);
		if (strstr(buf_str(&doc), row) == NULL)
			fail_msg("no table row for %s", keys[i]);
	}
	assert_non_null(strstr(buf_str(&doc), "| `max_message_size` | `25M` |"));
	assert_non_null(strstr(buf_str(&doc), "| `retry` | `5m, 10m, 20m, 40m, 1h, 2h, 4h` |"));
	assert_non_null(strstr(buf_str(&doc), "| `starttls` | `off` |"));
	assert_non_null(strstr(buf_str(&doc), "One of: `off`, `optional`, `required`."));
	assert_non_null(strstr(buf_str(&doc), "| `tls_min_protocol` | `TLSv1.2` |"));
	assert_non_null(strstr(buf_str(&doc), "| `relay_authenticated` | `yes` |"));
	assert_non_null(strstr(buf_str(&doc), "| `auth_plaintext` | `no` |"));
	assert_non_null(strstr(buf_str(&doc), "    " TLS_DEFAULT_CIPHERS "\n"));
	assert_non_null(strstr(buf_str(&doc), "## Sender login file\n"));
	assert_non_null(strstr(buf_str(&doc), "[server submission]\n"));
	buf_free(&doc);
}

static void test_config_defaults(void **state)
{
	struct buf err = BUF_INIT;
	struct config *c = NULL;
	assert_int_equal(config_load("data/config/minimal.conf", &c, &err), 0);
	assert_string_equal(buf_str(&err), "");
	buf_free(&err);

	assert_string_equal(c->global.spool, "/var/spool/vsmtpd");
	assert_null(c->global.user);
	assert_int_equal(c->global.workers, ncpu());
	assert_int_equal(c->global.log, LOG_DEST_STDERR);
	assert_int_equal(c->nservers, 1);
	const struct config_server *s = &c->servers[0];
	assert_string_equal(s->name, "only");
	assert_int_equal(s->line, 3);
	char host[256];
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	for (char *p = host; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	assert_string_equal(s->hostname, host);
	assert_int_equal(s->nlocal_domains, 0);
	assert_string_equal(s->mailbox, "maildir:/var/mail/vsmtpd/%d/%u");
	assert_null(s->users);
	assert_int_equal(s->allow.n, 2);
	assert_true(matches(&s->allow, "203.0.113.9"));
	assert_true(matches(&s->allow, "2001:db8::9"));
	assert_int_equal(s->deny.n, 0);
	assert_false(matches(&s->deny, "203.0.113.9"));
	assert_int_equal(s->relay_networks.n, 0);
	assert_int_equal(s->max_connections, 1000);
	assert_int_equal(s->max_connections_per_ip, 20);
	assert_int_equal(s->max_message_size, 25ULL * 1024 * 1024);
	assert_int_equal(s->max_recipients, 100);
	assert_int_equal(s->max_messages_per_connection, 100);
	assert_int_equal(s->timeout_command, 300);
	assert_int_equal(s->timeout_data, 600);
	assert_int_equal(s->nretry, 7);
	assert_int_equal(s->retry[0], 300);
	assert_int_equal(s->retry[6], 4 * 3600);
	assert_int_equal(s->expire, 432000);
	assert_int_equal(s->max_connection_rate_per_ip, 0);
	assert_int_equal(s->starttls, CONFIG_OFF);
	assert_null(s->tls_cert);
	assert_null(s->tls_key);
	assert_null(s->tls_sni);
	assert_int_equal(s->ntls_sni, 0);
	assert_string_equal(s->tls_min_protocol, "TLSv1.2");
	assert_null(s->tls_ciphers);
	assert_null(s->tls_ciphersuites);
	assert_null(s->tls_ctx);
	assert_int_equal(s->auth, CONFIG_OFF);
	assert_null(s->auth_users);
	assert_null(s->auth_db);
	assert_false(s->auth_plaintext);
	assert_true(s->relay_authenticated);
	assert_null(s->sender_login);
	assert_null(s->sender_logins.entries);
	assert_int_equal(s->sender_logins.n, 0);
	assert_false(config_sender_is_owned(s, "user1@example.test"));
	assert_false(config_sender_owned_by(s, "user1", "user1@example.test"));
	/* delivery */
	assert_string_equal(c->global.dns, "system");
	assert_int_equal(c->global.delivery_threads, 32);
	assert_int_equal(c->global.max_outbound_connections, 200);
	assert_int_equal(c->global.outbound_idle_time, 5);
	assert_int_equal(c->global.min_free_space, 100ULL * 1024 * 1024);
	assert_int_equal(s->outbound_port, 25);
	assert_int_equal(s->outbound_tls, TLS_POLICY_MAY);
	assert_int_equal(s->noutbound_tls_policy, 0);
	assert_null(s->outbound_tls_ca);
	assert_non_null(s->outbound_tls_ctx);
	assert_int_equal(s->outbound_concurrency, 20);
	assert_int_equal(s->outbound_max_messages_per_connection, 100);
	assert_int_equal(s->outbound_timeout_connect, 30);
	assert_int_equal(s->outbound_timeout_command, 300);
	assert_int_equal(s->outbound_timeout_data, 600);
	assert_null(s->smart_host.host);
	assert_null(s->smart_host_credentials);
	assert_null(s->smart_host_user);
	assert_int_equal(s->smart_host_tls, TLS_POLICY_MAY);
	assert_false(s->smart_host_direct_first);
	assert_int_equal(s->delay_warning, 4 * 3600);
	assert_int_equal(s->max_hop_count, 30);
	assert_null(s->masquerade_domain);
	assert_null(s->ndr_copy_to);
	assert_null(s->badmail);
	config_unref(c);
}

/* ---- delivery keys ----------------------------------------------------- */

static void expect_smart_host(const char *value, const char *host, unsigned port, bool mx)
{
	struct config *c = good_value(false, "smart_host", value);
	assert_string_equal(server_a(c)->smart_host.host, host);
	assert_int_equal(server_a(c)->smart_host.port, port);
	assert_int_equal(server_a(c)->smart_host.mx, mx);
	config_unref(c);
}

static void test_config_smart_host(void **state)
{
	expect_smart_host("relay.example.net", "relay.example.net", 25, true);
	expect_smart_host("Relay.Example.NET:587", "relay.example.net", 587, true);
	expect_smart_host("[relay.example.net]:587", "relay.example.net", 587, false);
	expect_smart_host("[192.0.2.1]", "192.0.2.1", 25, false);
	expect_smart_host("192.0.2.1:2525", "192.0.2.1", 2525, false);
	expect_smart_host("[2001:db8::1]:25", "2001:db8::1", 25, false);
	bad_value(false, "smart_host", "relay.example.net:0", "the port must be a number from 1 to 65535");
	bad_value(false, "smart_host", "relay.example.net:x", "the port must be a number from 1 to 65535");
	bad_value(false, "smart_host", "2001:db8::1", "IPv6 addresses go in brackets, e.g. [::1]:25");
	bad_value(false, "smart_host", "[relay.example.net", "expected [host]:port or [IP]:port");
	bad_value(false, "smart_host", "relay_host.example", "'relay_host.example': only letters, digits, "
		  "'-' and '.' are allowed in a domain name");
}

static void test_config_ndr_copy_to(void **state)
{
	struct config *c = good_value(false, "ndr_copy_to", "Postmaster@Example.TEST");
	assert_string_equal(server_a(c)->ndr_copy_to, "Postmaster@example.test");
	config_unref(c);
	const char *bad[] = { "postmaster", "<postmaster@example.test>", "a@b@example.test",
			      "user@[192.0.2.1]", "two words@example.test", "@example.test" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad_value(false, "ndr_copy_to", bad[i], "expected an address: local@domain");
}

static void test_config_dns(void **state)
{
	struct config *c = good_value(true, "dns", "127.0.0.1:5353");
	assert_string_equal(c->global.dns, "127.0.0.1:5353");
	config_unref(c);
	c = good_value(true, "dns", "[::1]:53");
	assert_string_equal(c->global.dns, "[::1]:53");
	config_unref(c);
	bad_value(true, "dns", "8.8.8.8", "'8.8.8.8': expected IP:port (e.g. 127.0.0.1:25 or [::1]:25) "
		  "(expected system, IP:port or [IPv6]:port)");
	bad_value(true, "dns", "resolver.example:53", "'resolver.example': the host must be a numeric IPv4 "
		  "address or an [IPv6] address, not a name (expected system, IP:port or [IPv6]:port)");
}

static void test_config_tls_policy(void **state)
{
	struct config *c = good_value(false, "outbound_tls_policy", "Example.NET:verify, legacy.example:none");
	const struct config_server *s = server_a(c);
	assert_int_equal(s->noutbound_tls_policy, 2);
	assert_int_equal(config_tls_policy_for(s, "example.net"), TLS_POLICY_VERIFY);
	assert_int_equal(config_tls_policy_for(s, "LEGACY.example"), TLS_POLICY_NONE);
	assert_int_equal(config_tls_policy_for(s, "other.example"), TLS_POLICY_MAY);
	config_unref(c);
	c = good_value(false, "outbound_tls", "encrypt");
	assert_int_equal(config_tls_policy_for(server_a(c), "other.example"), TLS_POLICY_ENCRYPT);
	config_unref(c);
	bad_value(false, "outbound_tls_policy", "example.net", "'example.net': expected domain:policy");
	bad_value(false, "outbound_tls_policy", "example.net:strict",
		  "'example.net:strict': the policy must be none, may, encrypt or verify");
	bad_value(false, "outbound_tls_policy", "a.test:may a.test:none", "'a.test:none': the domain is listed twice");
	bad_value(false, "outbound_tls", "dane", "expected none, may, encrypt or verify");
}

static void test_config_smart_host_credentials(void **state)
{
	char text[1024];
	write_tmp("cred", "# smart host login\nrelayuser:pa:ss word\n");
	char path[128];
	snprintf(path, sizeof(path), "%s/cred", tmpdir);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "smart_host = [127.0.0.1]:2526\nsmart_host_credentials = %s\n", path);
	struct config *c = load_ok(text);
	assert_string_equal(server_a(c)->smart_host_user, "relayuser");
	assert_string_equal(server_a(c)->smart_host_password, "pa:ss word");
	config_unref(c);

	assert_int_equal(chmod(path, 0644), 0);
	expect_errors(text, "cred: credentials file is accessible to other users (mode 0644); "
		      "refusing to use it: chmod o-rwx cred\n");
	assert_int_equal(chmod(path, 0600), 0);
	write_tmp("cred", "nocolon\n");
	expect_errors(text, "t.conf:5: cred:1: expected one line user:password\n");
	write_tmp("cred", "a:b\nc:d\n");
	expect_errors(text, "t.conf:5: cred:2: expected one line user:password\n");
	write_tmp("cred", "# nothing\n");
	expect_errors(text, "t.conf:5: cred: no user:password line\n");

	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "smart_host_credentials = %s\nsmart_host_direct_first = yes\n", path);
	expect_errors(text, "t.conf:4: smart_host_credentials needs smart_host\n"
		      "t.conf:5: smart_host_direct_first needs smart_host\n");
}

/* ---- error kinds ------------------------------------------------------- */

static void test_config_errors_golden(void **state)
{
	struct buf err = BUF_INIT;
	struct config *c = (struct config *)&err;	/* must be reset to NULL */
	assert_int_equal(config_load("data/config/errors.conf", &c, &err), -1);
	assert_null(c);
	char *want = read_file("data/config/errors.ref");
	assert_non_null(want);
	assert_string_equal(buf_str(&err), want);
	free(want);
	buf_free(&err);
}

static void test_config_cannot_open(void **state)
{
	struct buf err = BUF_INIT;
	struct config *c;
	assert_int_equal(config_load("data/config/no-such.conf", &c, &err), -1);
	assert_null(c);
	assert_string_equal(buf_str(&err), "data/config/no-such.conf: cannot open: No such file or directory\n");
	buf_reset(&err);
	assert_int_equal(config_load("data/config", &c, &err), -1);
	assert_string_equal(buf_str(&err), "data/config: cannot open: Is a directory\n");
	buf_free(&err);
}

static void test_config_errors_append(void **state)
{
	/* Errors are appended: what the caller had stays. */
	struct buf err = BUF_INIT;
	buf_append_str(&err, "before\n");
	struct config *c;
	assert_int_equal(config_load("data/config/no-such.conf", &c, &err), -1);
	assert_string_equal(buf_str(&err),
			    "before\ndata/config/no-such.conf: cannot open: No such file or directory\n");
	buf_free(&err);
}

static void test_config_unknown_section(void **state)
{
	expect_errors("[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		      "[Global]\nspool = /x\n[servers b]\nlisten = 127.0.0.1:1\n",
		      "t.conf:4: unknown section [Global]; expected [global] or [server NAME]\n"
		      "t.conf:6: unknown section [servers b]; expected [global] or [server NAME]\n");
}

static void test_config_unknown_key(void **state)
{
	expect_errors("[global]\nspol = /x\n[server a]\nlisten = 127.0.0.1:2525\n"
		      "hostname = a.test\nMax_Recipients = 5\n",
		      "t.conf:2: unknown key 'spol' in [global]\n"
		      "t.conf:6: unknown key 'Max_Recipients' in [server a] (keys are lower-case)\n");
}

static void test_config_key_in_wrong_section(void **state)
{
	expect_errors("[global]\nhostname = a.test\n[server a]\nlisten = 127.0.0.1:2525\n"
		      "hostname = a.test\nworkers = 2\n",
		      "t.conf:2: 'hostname' belongs in a [server NAME] section, not in [global]\n"
		      "t.conf:6: 'workers' belongs in [global], not in [server a]\n");
}

static void test_config_key_outside_section(void **state)
{
	expect_errors("spool = /x\n[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n",
		      "t.conf:1: 'spool' is outside any section; put it under [global] or "
		      "[server NAME]\n");
}

static void test_config_duplicate_key(void **state)
{
	expect_errors("[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		      "max_recipients = 5\n\nmax_recipients = 5\n",
		      "t.conf:6: duplicate key 'max_recipients' in [server a] (first set at line 4)\n");
}

static void test_config_server_names(void **state)
{
	expect_errors("[server]\n[server a b]\n[server a/b]\n[global x]\n"
		      "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		      "[server a]\nlisten = 127.0.0.1:2526\n[global]\n[global]\n",
		      "t.conf:1: [server] needs a name: [server NAME]\n"
		      "t.conf:2: bad server name 'a b': one word of up to 64 letters, digits, '.', '_', '-'\n"
		      "t.conf:3: bad server name 'a/b': one word of up to 64 letters, digits, '.', '_', '-'\n"
		      "t.conf:4: [global] takes no name\n"
		      "t.conf:8: duplicate [server a] (the first is at line 5)\n"
		      "t.conf:11: duplicate [global] section (the first is at line 10)\n");
	/* A long name is kept whole (inih would cut it at 49 characters). */
	char name[65];
	memset(name, 'n', 64);
	name[64] = '\0';
	char text[256];
	snprintf(text, sizeof(text), "[server %s]\nlisten = 127.0.0.1:2525\nhostname = a.test\n", name);
	struct config *c = load_ok(text);
	assert_non_null(config_server_find(c, name));
	assert_null(config_server_find(c, "a"));
	config_unref(c);
	snprintf(text, sizeof(text), "[server %sx]\nlisten = 127.0.0.1:2525\n", name);
	struct config *bad;
	char *e = load_text(text, &bad);
	assert_non_null(strstr(e, "t.conf:1: bad server name"));
	free(e);
}

static void test_config_missing_listen(void **state)
{
	expect_errors("[server a]\nhostname = a.test\n\n[server b]\nhostname = b.test\nlisten =\n",
		      "t.conf:1: [server a] has no 'listen'; it is required\n"
		      "t.conf:6: listen = '': expected at least one IP:port (e.g. 127.0.0.1:25, [::1]:25)\n");
}

static void test_config_no_server_section(void **state)
{
	expect_errors("[global]\nspool = /x\n",
		      "t.conf: no [server NAME] section: there is nothing to listen on\n");
	expect_errors("", "t.conf: no [server NAME] section: there is nothing to listen on\n");
}

static void test_config_syntax_errors_all_reported(void **state)
{
	/* inih itself returns only the first; each bad line gets its own error. */
	expect_errors("[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		      "max recipients 5\n[server b\nlisten\n=5\nlisten 127.0.0.1:25\n",
		      "t.conf:4: expected 'key = value', got 'max recipients 5'\n"
		      "t.conf:5: section header '[server b' has no closing ']'\n"
		      "t.conf:6: expected 'key = value', got 'listen'\n"
		      "t.conf:7: expected 'key = value', got '=5'\n"
		      "t.conf:8: expected 'key = value', got 'listen 127.0.0.1:25'\n");
}

static void test_config_section_header_trailing_text(void **state)
{
	expect_errors("[server a] x\nlisten = 127.0.0.1:2525\nhostname = a.test\n",
		      "t.conf:1: unexpected text 'x' after the section header\n");
	struct config *c = load_ok("[server a]   ; comment\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
				   "[global] # comment\n");
	config_unref(c);
}

static void test_config_errors_in_line_order(void **state)
{
	/* Values are checked after parsing, yet errors come out by line. */
	expect_errors("[server a]\nmax_recipients = x\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		      "bogus = 1\ntimeout_data = y\n",
		      "t.conf:2: max_recipients = 'x': expected a whole number\n"
		      "t.conf:5: unknown key 'bogus' in [server a]\n"
		      "t.conf:6: timeout_data = 'y': expected a duration: seconds, or a number with "
		      "an s, m, h or d suffix (e.g. 30s, 5m, 2h, 5d)\n");
}

static void test_config_hostile_bytes_escaped(void **state)
{
	static const char text[] = "[server a]\nlisten = 127.0.0.1:2525\nhostname = a\x1b[2J.test\n"
				   "mailbox = maildir:/x\x01y\n[server \xff]\nhost\0name = x\n";
	struct config *c;
	char *e = load_bytes(text, sizeof(text) - 1, &c);
	assert_null(c);
	assert_string_equal(e,
		"t.conf:3: hostname = 'a\\x1b[2J.test': only letters, digits, '-' and '.' are "
		"allowed in a domain name\n"
		"t.conf:4: mailbox = 'maildir:/x\\x01y': control characters are not allowed in a path\n"
		"t.conf:5: bad server name '\\xff': one word of up to 64 letters, digits, '.', '_', '-'\n"
		"t.conf:6: the line contains a NUL byte\n");
	free(e);
}

static void test_config_long_line(void **state)
{
	char text[1024];
	char list[400] = "";
	for (int i = 1; i <= 25; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s10.0.%d.0/24",
			 i > 1 ? ", " : "", i);
	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "relay_networks = %s\n", list);
	char want[160];
	snprintf(want, sizeof(want), "t.conf:4: line too long (%zu characters, at most 199); "
		 "continue a long value on indented lines\n", strlen("relay_networks = ") + strlen(list));
	expect_errors(text, want);

	/* An overlong section header: its keys are not filed under [server a]. */
	char name[200];
	memset(name, 'n', 195);
	name[195] = '\0';
	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "[server %s]\nlisten = 127.0.0.1:2526\n", name);
	snprintf(want, sizeof(want), "t.conf:4: line too long (%zu characters, at most 199); "
		 "continue a long value on indented lines\n", strlen(name) + 9);
	expect_errors(text, want);

	/* Exactly 199 characters still fits. */
	char path[200];
	memset(path, 'p', sizeof(path));
	path[199 - strlen("spool = /")] = '\0';
	snprintf(text, sizeof(text), "[global]\nspool = /%s\n[server a]\nlisten = 127.0.0.1:2525\n"
		 "hostname = a.test\n", path);
	struct config *c = load_ok(text);
	assert_int_equal(strlen(c->global.spool), 191);
	config_unref(c);
}

/* ---- line syntax ------------------------------------------------------- */

static void test_config_continuation_lines(void **state)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "[server a]\n"
		 "listen = 127.0.0.1:2525,\n"
		 "    127.0.0.1:2465 tls   ; a comment on a continuation line\n"
		 "\n"
		 "\t[::1]:2525\n"
		 "hostname = a.test\n"
		 "local_domains = a.test ; first\n"
		 "  b.test\n"
		 "tls_cert = %s/combined.pem\n", tmpdir);
	struct config *c = load_ok(text);
	const struct config_server *s = server_a(c);
	assert_int_equal(s->nlisten, 3);
	assert_string_equal(s->listen[0].text, "127.0.0.1:2525");
	assert_string_equal(s->listen[1].text, "127.0.0.1:2465");
	assert_true(s->listen[1].tls);
	assert_string_equal(s->listen[2].text, "[::1]:2525");
	assert_int_equal(s->nlocal_domains, 2);
	assert_string_equal(s->local_domains[1], "b.test");
	config_unref(c);
}

static void test_config_indented_key_is_error(void **state)
{
	expect_errors("[server a]\n  listen = 127.0.0.1:2525\n  hostname = a.test\n"
		      "mailbox = maildir:/x\n [server b]\nhostname = a.test\n",
		      "t.conf:3: this indented line continues 'listen'; to set 'hostname', start the "
		      "line at its beginning\n"
		      "t.conf:5: this indented line continues 'mailbox'; a section header must start "
		      "at the beginning of the line\n");
}

static void test_config_comments_bom_crlf(void **state)
{
	struct config *c = load_ok("\xEF\xBB\xBF# comment\r\n; another\r\n[global]\r\n"
				   "spool = /s ; inline\r\nlog = syslog\r\n"
				   "[server a]\r\nlisten = 127.0.0.1:2525\r\nhostname = a.test\r\n"
				   "mailbox = maildir:/m/#%d\r\ndeny = ; nothing\r\n");
	assert_string_equal(c->global.spool, "/s");
	assert_int_equal(c->global.log, LOG_DEST_SYSLOG);
	assert_string_equal(server_a(c)->mailbox, "maildir:/m/#%d");
	assert_int_equal(server_a(c)->deny.n, 0);
	config_unref(c);
}

static void test_config_colon_separator(void **state)
{
	/* inih accepts "key: value" as configparser does. */
	struct config *c = load_ok("[server a]\nlisten: 127.0.0.1:2525\nhostname: a.test\n");
	assert_string_equal(server_a(c)->listen[0].text, "127.0.0.1:2525");
	config_unref(c);
}

/* ---- value types ------------------------------------------------------- */

static void test_config_size_values(void **state)
{
	static const struct { const char *text; unsigned long long v; } ok[] = {
		{ "0", 0 }, { "1", 1 }, { "512K", 512ULL << 10 }, { "512k", 512ULL << 10 },
		{ "25M", 25ULL << 20 }, { "1G", 1ULL << 30 }, { "1024G", 1ULL << 40 },
		{ "000123", 123 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config *c = good_value(false, "max_message_size", ok[i].text);
		assert_int_equal(server_a(c)->max_message_size, ok[i].v);
		config_unref(c);
	}
	static const char expect[] = "expected a size: a number of bytes with an optional K, M or "
				     "G suffix (e.g. 512K, 25M)";
	const char *bad[] = { "25Q", "25MB", "-1", "+1", "1.5M", "M", "25 M", "0x10", "1T" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad_value(false, "max_message_size", bad[i], expect);
	bad_value(false, "max_message_size", "1025G", "must be between 0 and 1024G");
	bad_value(false, "max_message_size", "99999999999999999999",
		  "too large: must be between 0 and 1024G");
	bad_value(false, "max_message_size", "18014398509481984K",
		  "too large: must be between 0 and 1024G");
	bad_value(false, "max_message_size", "", expect);
}

static void test_config_duration_values(void **state)
{
	static const struct { const char *text; unsigned v; } ok[] = {
		{ "1", 1 }, { "30s", 30 }, { "5m", 300 }, { "2h", 7200 }, { "1d", 86400 },
		{ "86400", 86400 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config *c = good_value(false, "timeout_command", ok[i].text);
		assert_int_equal(server_a(c)->timeout_command, ok[i].v);
		config_unref(c);
	}
	static const char expect[] = "expected a duration: seconds, or a number with an s, m, h or "
				     "d suffix (e.g. 30s, 5m, 2h, 5d)";
	const char *bad[] = { "5M", "5ms", "m", "-5", "1.5h", "5 m", "1w" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad_value(false, "timeout_command", bad[i], expect);
	bad_value(false, "timeout_command", "0", "must be between 1s and 1d");
	bad_value(false, "timeout_command", "0s", "must be between 1s and 1d");
	bad_value(false, "timeout_command", "86401", "must be between 1s and 1d");
	bad_value(false, "timeout_command", "2d", "must be between 1s and 1d");
	bad_value(false, "expire", "366d", "must be between 1s and 365d");
	bad_value(false, "expire", "999999999999999999999d", "too large: must be between 1s and 365d");
	bad_value(false, "expire", "307445734561825861d", "too large: must be between 1s and 365d");
	struct config *c = good_value(false, "expire", "365d");
	assert_int_equal(server_a(c)->expire, 365 * 86400);
	config_unref(c);
}

static void test_config_uint_values(void **state)
{
	struct config *c = good_value(false, "max_connections", "0");
	assert_int_equal(server_a(c)->max_connections, 0);
	config_unref(c);
	c = good_value(false, "max_connections", "1000000");
	assert_int_equal(server_a(c)->max_connections, 1000000);
	config_unref(c);
	c = good_value(false, "max_messages_per_connection", "7");
	assert_int_equal(server_a(c)->max_messages_per_connection, 7);
	config_unref(c);
	bad_value(false, "max_connections", "1000001", "must be between 0 and 1000000");
	bad_value(false, "max_connections", "4294967296", "must be between 0 and 1000000");
	bad_value(false, "max_connections", "99999999999999999999999",
		  "too large: must be between 0 and 1000000");
	bad_value(false, "max_connections", "+5", "expected a whole number");
	bad_value(false, "max_connections", "5k", "expected a whole number");
	bad_value(false, "max_recipients", "auto", "expected a whole number");
	bad_value(false, "max_recipients", "", "expected a whole number");
}

static void test_config_workers(void **state)
{
	struct config *c = good_value(true, "workers", "auto");
	assert_int_equal(c->global.workers, ncpu());
	config_unref(c);
	c = good_value(true, "workers", "AUTO");
	assert_int_equal(c->global.workers, ncpu());
	config_unref(c);
	c = good_value(true, "workers", "64");
	assert_int_equal(c->global.workers, 64);
	config_unref(c);
	bad_value(true, "workers", "0", "must be between 1 and 64");
	bad_value(true, "workers", "65", "must be between 1 and 64");
	bad_value(true, "workers", "lots", "expected \"auto\" or a whole number");
}

static void test_config_global_strings(void **state)
{
	struct config *c = good_value(true, "log", "syslog");
	assert_int_equal(c->global.log, LOG_DEST_SYSLOG);
	config_unref(c);
	bad_value(true, "log", "file", "expected stderr or syslog");
	bad_value(true, "log", "", "expected stderr or syslog");
	c = good_value(true, "user", "vsmtpd");
	assert_string_equal(c->global.user, "vsmtpd");
	config_unref(c);
	bad_value(true, "user", "-rf", "expected a user name (up to 32 letters, digits, '.', '_', '-')");
	bad_value(true, "user", "a b", "expected a user name (up to 32 letters, digits, '.', '_', '-')");
	bad_value(true, "user", "", "expected a user name (up to 32 letters, digits, '.', '_', '-')");
	c = good_value(true, "spool", "relative/spool dir");
	assert_string_equal(c->global.spool, "relative/spool dir");
	config_unref(c);
	bad_value(true, "spool", "", "expected a path");
}

static void test_config_listen_v4(void **state)
{
	struct config *c = good_value(false, "listen", "127.0.0.1:25, 0.0.0.0:587 192.0.2.1:65535");
	const struct config_server *s = server_a(c);
	assert_int_equal(s->nlisten, 3);
	assert_string_equal(s->listen[0].text, "127.0.0.1:25");
	assert_int_equal(port_of(&s->listen[0]), 25);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&s->listen[0].addr;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(s->listen[0].addrlen, sizeof(struct sockaddr_in));
	assert_string_equal(s->listen[1].text, "0.0.0.0:587");
	assert_string_equal(s->listen[2].text, "192.0.2.1:65535");
	assert_int_equal(port_of(&s->listen[2]), 65535);
	config_unref(c);
	/* Normalised: leading zeros in the port go. */
	c = good_value(false, "listen", "127.0.0.1:0025");
	assert_string_equal(server_a(c)->listen[0].text, "127.0.0.1:25");
	config_unref(c);
}

static void test_config_listen_v6(void **state)
{
	struct config *c = good_value(false, "listen", "[0:0:0:0:0:0:0:1]:2525, [2001:DB8::1]:25, [::]:26");
	const struct config_server *s = server_a(c);
	assert_int_equal(s->nlisten, 3);
	assert_string_equal(s->listen[0].text, "[::1]:2525");
	assert_int_equal(s->listen[0].addr.ss_family, AF_INET6);
	assert_int_equal(s->listen[0].addrlen, sizeof(struct sockaddr_in6));
	assert_int_equal(port_of(&s->listen[0]), 2525);
	assert_string_equal(s->listen[1].text, "[2001:db8::1]:25");
	assert_string_equal(s->listen[2].text, "[::]:26");
	config_unref(c);
	c = good_tls_listen("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 tls");
	assert_string_equal(server_a(c)->listen[0].text, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	assert_true(server_a(c)->listen[0].tls);
	config_unref(c);
}

static void test_config_listen_tls_flag(void **state)
{
	struct config *c = good_tls_listen("127.0.0.1:465 tls, 127.0.0.1:25, [::1]:465 TLS");
	const struct config_server *s = server_a(c);
	assert_int_equal(s->nlisten, 3);
	assert_true(s->listen[0].tls);
	assert_false(s->listen[1].tls);
	assert_true(s->listen[2].tls);
	assert_string_equal(s->listen[0].text, "127.0.0.1:465");
	config_unref(c);
	bad_value(false, "listen", "tls 127.0.0.1:25", "'tls' must follow an address (e.g. 127.0.0.1:465 tls)");
	bad_value(false, "listen", "127.0.0.1:25 tls tls", "'tls' must follow an address (e.g. 127.0.0.1:465 tls)");
	bad_value(false, "listen", "127.0.0.1:25 ssl", "'ssl': expected IP:port (e.g. 127.0.0.1:25 or [::1]:25)");
}

static void test_config_listen_bad_port(void **state)
{
	bad_value(false, "listen", "127.0.0.1:0", "'127.0.0.1:0': the port must be a number from 1 to 65535");
	bad_value(false, "listen", "127.0.0.1:65536", "'127.0.0.1:65536': the port must be a number from 1 to 65535");
	bad_value(false, "listen", "127.0.0.1:smtp", "'127.0.0.1:smtp': the port must be a number from 1 to 65535");
	bad_value(false, "listen", "127.0.0.1:", "'127.0.0.1:': the port must be a number from 1 to 65535");
	bad_value(false, "listen", "127.0.0.1:-25", "'127.0.0.1:-25': the port must be a number from 1 to 65535");
	bad_value(false, "listen", "127.0.0.1:99999999999999999999999", "'127.0.0.1:99999999999999999999999': the port must be a number from 1 to 65535");
	bad_value(false, "listen", "127.0.0.1", "'127.0.0.1': expected IP:port (e.g. 127.0.0.1:25 or [::1]:25)");
	bad_value(false, "listen", "[::1]25", "'[::1]25': expected [IPv6]:port");
	bad_value(false, "listen", "[::1", "'[::1': expected [IPv6]:port");
	bad_value(false, "listen", "[::1]:0", "'[::1]:0': the port must be a number from 1 to 65535");
}

static void test_config_listen_bad_host(void **state)
{
	bad_value(false, "listen", "localhost:25",
		  "'localhost': the host must be a numeric IPv4 address or an [IPv6] address, not a name");
	bad_value(false, "listen", "[localhost]:25", "'localhost': not an IPv6 address");
	bad_value(false, "listen", "127.0.0.256:25", "'127.0.0.256': not an IPv4 address");
	bad_value(false, "listen", "127.1:25", "'127.1': not an IPv4 address");
	bad_value(false, "listen", ":25", "'': not an IPv4 address");
	bad_value(false, "listen", "::1:25", "'::1:25': IPv6 addresses go in brackets, e.g. [::1]:25");
	bad_value(false, "listen", "[::ffff:127.0.0.1]:25",
		  "'::ffff:127.0.0.1': write an IPv4-mapped address as plain IPv4");
	bad_value(false, "listen", "[fe80::1%eth0]:25", "'fe80::1%eth0': not an IPv6 address");
	char longitem[200];
	memset(longitem, '1', 100);
	strcpy(longitem + 100, ":25");
	bad_value(false, "listen", longitem, "'11111111111111111111...': not an address");
}

static void test_config_listen_count_limit(void **state)
{
	/* Built with continuation lines, as an admin would. */
	struct buf b = BUF_INIT;
	buf_append_str(&b, "[server a]\nhostname = a.test\nlisten =");
	for (int i = 1; i <= 65; i++)
		buf_printf(&b, "%s1.1.1.1:%d\n", i == 1 ? " " : "  ", i);
	struct config *c;
	char *e = load_text(buf_str(&b), &c);
	assert_null(c);
	assert_non_null(strstr(e, "t.conf:3: listen = '1.1.1.1:1 1.1.1.1:2 "));
	assert_non_null(strstr(e, "1.1.1.1:65': at most 64 addresses\n"));
	free(e);
	buf_free(&b);
}

static void test_config_listener_clash_across_servers(void **state)
{
	expect_errors("[server a]\nhostname = a.test\nlisten = 127.0.0.1:2525\n"
		      "[server b]\nhostname = b.test\nlisten = 127.0.0.2:2525, 127.0.0.1:2525 tls\n",
		      "t.conf:6: listen address 127.0.0.1:2525 of [server b] is already used by "
		      "[server a] at t.conf:3\n"
		      "t.conf:6: listen address 127.0.0.1:2525 has the 'tls' flag, which needs "
		      "tls_cert (the certificate to offer)\n");
	expect_errors("[server a]\nhostname = a.test\nlisten = [::1]:25\n"
		      "[server b]\nhostname = b.test\nlisten = [0::1]:25\n",
		      "t.conf:6: listen address [::1]:25 of [server b] is already used by "
		      "[server a] at t.conf:3\n");
}

static void test_config_listener_clash_same_server(void **state)
{
	expect_errors("[server a]\nhostname = a.test\nlisten = 127.0.0.1:25, 127.0.0.1:025\n",
		      "t.conf:3: listen address 127.0.0.1:25 is listed twice in [server a]\n");
}

static void test_config_listener_wildcard_overlap(void **state)
{
	expect_errors("[server a]\nhostname = a.test\nlisten = 127.0.0.1:25\n"
		      "[server b]\nhostname = b.test\nlisten = 0.0.0.0:25\n",
		      "t.conf:6: listen address 0.0.0.0:25 of [server b] overlaps 127.0.0.1:25 of "
		      "[server a] at t.conf:3 (a wildcard address takes the port on every address)\n");
	expect_errors("[server a]\nhostname = a.test\nlisten = [::]:25\n"
		      "[server b]\nhostname = b.test\nlisten = [::1]:25\n",
		      "t.conf:6: listen address [::1]:25 of [server b] overlaps [::]:25 of "
		      "[server a] at t.conf:3 (a wildcard address takes the port on every address)\n");
	/* Different ports, or different families (IPV6_V6ONLY), do not clash. */
	struct config *c = load_ok("[server a]\nhostname = a.test\nlisten = 0.0.0.0:25, [::]:25\n"
				   "[server b]\nhostname = b.test\nlisten = 127.0.0.1:26, [::1]:26\n"
				   "[server c]\nhostname = c.test\nlisten = 127.0.0.2:26\n");
	assert_int_equal(c->nservers, 3);
	config_unref(c);
}

static void test_config_local_domains(void **state)
{
	struct config *c = good_value(false, "local_domains",
				      "Example.TEST, b.example  a.example,example.test xn--bcher-kva.example");
	const struct config_server *s = server_a(c);
	assert_int_equal(s->nlocal_domains, 4);
	assert_string_equal(s->local_domains[0], "a.example");
	assert_string_equal(s->local_domains[1], "b.example");
	assert_string_equal(s->local_domains[2], "example.test");
	assert_string_equal(s->local_domains[3], "xn--bcher-kva.example");
	assert_true(config_is_local_domain(s, "example.test"));
	assert_true(config_is_local_domain(s, "EXAMPLE.test"));
	assert_true(config_is_local_domain(s, "a.example"));
	assert_false(config_is_local_domain(s, "c.example"));
	assert_false(config_is_local_domain(s, "example"));
	assert_false(config_is_local_domain(s, ""));
	config_unref(c);

	c = good_value(false, "local_domains", "");
	assert_int_equal(server_a(c)->nlocal_domains, 0);
	assert_false(config_is_local_domain(server_a(c), "a.test"));
	config_unref(c);
	c = good_value(false, "local_domains", "localhost");
	assert_true(config_is_local_domain(server_a(c), "localhost"));
	config_unref(c);
}

static void test_config_bad_domains(void **state)
{
	bad_value(false, "local_domains", "a.test, ex..com", "'ex..com': empty label (\"..\" or a leading dot)");
	bad_value(false, "local_domains", ".a.test", "'.a.test': empty label (\"..\" or a leading dot)");
	bad_value(false, "local_domains", "a.test.", "'a.test.': write the domain without a trailing dot");
	bad_value(false, "local_domains", "-a.test", "'-a.test': a label cannot start or end with '-'");
	bad_value(false, "local_domains", "a-.test", "'a-.test': a label cannot start or end with '-'");
	bad_value(false, "local_domains", "a_b.test", "'a_b.test': only letters, digits, '-' and '.' are allowed in a domain name");
	bad_value(false, "local_domains", "192.0.2.1", "'192.0.2.1': the last label is all digits: an IP address is not a domain name");
	bad_value(false, "local_domains", "[192.0.2.1]", "'[192.0.2.1]': only letters, digits, '-' and '.' are allowed in a domain name");
	struct config *c;
	char *e = try_key(false, "local_domains", "b\xc3\xbc" "cher.example", &c);
	assert_null(c);
	assert_string_equal(e, "t.conf:4: local_domains = 'b\\xc3\\xbccher.example': "
			       "'b\\xc3\\xbccher.example': internationalised names must be written "
			       "in their xn-- (A-label) form\n");
	free(e);
	char label[80], value[100];
	memset(label, 'l', 64);
	label[64] = '\0';
	snprintf(value, sizeof(value), "%s.test", label);
	char why[200];
	snprintf(why, sizeof(why), "'%s': a label is at most 63 characters (RFC 1035 2.3.4)", value);
	bad_value(false, "local_domains", value, why);
	label[63] = '\0';
	snprintf(value, sizeof(value), "%s.test", label);
	c = good_value(false, "local_domains", value);
	config_unref(c);
}

static void test_config_hostname(void **state)
{
	struct config *c = good_value(false, "hostname", "MX.Example.Test");
	assert_string_equal(server_a(c)->hostname, "mx.example.test");
	config_unref(c);
	bad_value(false, "hostname", "mx example.test", "only letters, digits, '-' and '.' are allowed in a domain name");
	bad_value(false, "hostname", "", "expected a domain name");
	bad_value(false, "hostname", "mx.example.test.", "write the domain without a trailing dot");
}

static void test_config_mailbox(void **state)
{
	struct config *c = good_value(false, "mailbox", "maildir:/srv/mail/%d/%u/100%%");
	assert_string_equal(server_a(c)->mailbox, "maildir:/srv/mail/%d/%u/100%%");
	config_unref(c);
	static const char *const lmtp[] = { "lmtp:unix:/run/dovecot/lmtp", "lmtp:127.0.0.1:24",
					    "lmtp:[::1]:2424", "lmtp:lmtp.example.test" };
	for (size_t i = 0; i < sizeof(lmtp) / sizeof(lmtp[0]); i++) {
		c = good_value(false, "mailbox", lmtp[i]);
		assert_string_equal(server_a(c)->mailbox, lmtp[i]);
		config_unref(c);
	}
	bad_value(false, "mailbox", "lmtp:unix:", "lmtp:unix: needs a socket path of 1 to 107 characters");
	bad_value(false, "mailbox", "lmtp:127.0.0.1:0", "the port must be a number from 1 to 65535 "
		  "(expected lmtp:unix:PATH or lmtp:HOST[:PORT])");
	bad_value(false, "mailbox", "lmtp:::1:24", "IPv6 addresses go in brackets, e.g. [::1]:25 "
		  "(expected lmtp:unix:PATH or lmtp:HOST[:PORT])");
	const char *expect = "expected maildir:PATH, lmtp:unix:PATH or lmtp:HOST[:PORT] "
			     "(e.g. maildir:/var/mail/vsmtpd/%d/%u)";
	bad_value(false, "mailbox", "maildir:", expect);
	bad_value(false, "mailbox", "/var/mail/%u", expect);
	bad_value(false, "mailbox", "Maildir:/x", expect);
	const char *why = "in the path, %d is the domain, %u the local part and %% a percent sign; nothing else may follow %";
	bad_value(false, "mailbox", "maildir:/x/%s", why);
	bad_value(false, "mailbox", "maildir:/x/%", why);
}

static void test_config_cidr_lists(void **state)
{
	struct config *c = load_ok("[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
				   "allow = 10.0.0.0/8 2001:db8::/32\ndeny = 10.9.0.0/16\n"
				   "relay_networks = 127.0.0.1, ::1\n");
	const struct config_server *s = server_a(c);
	assert_int_equal(s->allow.n, 2);
	assert_true(matches(&s->allow, "10.1.2.3"));
	assert_false(matches(&s->allow, "11.1.2.3"));
	assert_true(matches(&s->allow, "2001:db8:1::1"));
	assert_true(matches(&s->deny, "10.9.1.1"));
	assert_false(matches(&s->deny, "10.8.1.1"));
	assert_true(matches(&s->relay_networks, "127.0.0.1"));
	assert_true(matches(&s->relay_networks, "::1"));
	assert_false(matches(&s->relay_networks, "127.0.0.2"));
	config_unref(c);
	c = good_value(false, "allow", "");
	assert_int_equal(server_a(c)->allow.n, 0);
	assert_false(matches(&server_a(c)->allow, "127.0.0.1"));
	config_unref(c);

	struct config *bad;
	char *e = try_key(false, "relay_networks", "127.0.0.1/32, 10.0.0.0/33", &bad);
	assert_null(bad);
	assert_non_null(strstr(e, "t.conf:4: relay_networks = '127.0.0.1/32, 10.0.0.0/33': '10.0.0.0/33': "));
	free(e);
	e = try_key(false, "deny", "example.com", &bad);
	assert_null(bad);
	assert_non_null(strstr(e, "t.conf:4: deny = 'example.com': 'example.com': "));
	free(e);
}

static void test_config_retry(void **state)
{
	struct config *c = good_value(false, "retry", "30s,1m 1h, 30d");
	const struct config_server *s = server_a(c);
	assert_int_equal(s->nretry, 4);
	assert_int_equal(s->retry[0], 30);
	assert_int_equal(s->retry[1], 60);
	assert_int_equal(s->retry[2], 3600);
	assert_int_equal(s->retry[3], 30 * 86400);
	config_unref(c);

	char list[400] = "";
	for (int i = 1; i <= 32; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%dm", i > 1 ? "," : "", i);
	c = good_value(false, "retry", list);
	assert_int_equal(server_a(c)->nretry, CONFIG_RETRY_MAX);
	assert_int_equal(server_a(c)->retry[31], 32 * 60);
	config_unref(c);
	strcat(list, ",33m");
	bad_value(false, "retry", list, "at most 32 intervals");

	bad_value(false, "retry", "", "expected a list of durations (e.g. 5m, 10m, 1h)");
	bad_value(false, "retry", ",", "expected a list of durations (e.g. 5m, 10m, 1h)");
	bad_value(false, "retry", "5m, 10x", "'10x': expected a duration: seconds, or a number with an s, m, h or d suffix (e.g. 30s, 5m, 2h, 5d)");
	bad_value(false, "retry", "5m, 0s", "'0s': must be between 1s and 30d");
	bad_value(false, "retry", "31d", "'31d': must be between 1s and 30d");
}

/* ---- users files ------------------------------------------------------- */

static void test_config_users_file_parsed(void **state)
{
	char text[256];
	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "users = %s/data/config/users.txt\nlocal_domains = example.test, other.test\n",
		 getcwd((char[256]){ 0 }, 256));
	struct config *c = load_ok(text);
	const struct config_server *s = server_a(c);
	const char *want[] = { "a#b", "only@example.test", "spaced@example.test", "user1", "user2" };
	assert_int_equal(s->users_list.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(s->users_list.entries[i], want[i]);
	config_unref(c);
}

static void test_config_users_file_bad_lines(void **state)
{
	write_tmp("users", "ok\n\xff\x01@example.test\nlocal.@example.test\n"
		  "a@[192.0.2.1]\n12345678901234567890123456789012345678901234567890123456789012345\n"
		  "ok@example.test\n");
	expect_errors("[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		      "users = users\n",
		      "t.conf:4: users = 'users': cannot read: No such file or directory\n");
	char text[256];
	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "users = %s/users\nmax_recipients = x\n", tmpdir);
	expect_errors(text,
		      "users:2: '\\xff\\x01@example.test': a local part may hold letters, digits, '.' "
		      "and !#$%&'*+-/=?^_`{|}~\n"
		      "users:3: 'local.@example.test': a local part cannot start or end with '.'\n"
		      "users:4: 'a@[192.0.2.1]': only letters, digits, '-' and '.' are allowed in a "
		      "domain name\n"
		      "users:5: '12345678901234567890123456789012345678901234567890123456789012345': "
		      "a local part is at most 64 characters (RFC 5321 4.5.3.1.1)\n"
		      "t.conf:5: max_recipients = 'x': expected a whole number\n");
}

static void test_config_users_file_unreadable(void **state)
{
	char text[256];
	snprintf(text, sizeof(text), "%s/dir", tmpdir);
	assert_true(mkdir(text, 0700) == 0 || errno == EEXIST);
	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "\nusers = %s/dir\n", tmpdir);
	expect_errors(text, "t.conf:5: users = 'dir': cannot read: Is a directory\n");
}

static struct config *users_config(void)
{
	write_tmp("known", "# known users\nuser1\nUser2\nonly@Example.Test\n");
	char text[256];
	snprintf(text, sizeof(text), "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
		 "local_domains = example.test, other.test\nusers = %s/known\n"
		 "[server open]\nlisten = 127.0.0.1:2526\nhostname = b.test\n", tmpdir);
	return load_ok(text);
}

static void test_config_user_known(void **state)
{
	struct config *c = users_config();
	const struct config_server *s = server_a(c);
	assert_true(config_user_known(s, "user1", "example.test"));
	assert_true(config_user_known(s, "USER1", "other.test"));
	assert_true(config_user_known(s, "user2", "example.test"));
	assert_true(config_user_known(s, "only", "example.test"));
	assert_true(config_user_known(s, "Only", "EXAMPLE.TEST"));
	assert_false(config_user_known(s, "only", "other.test"));
	assert_false(config_user_known(s, "user3", "example.test"));
	assert_false(config_user_known(s, "user", "example.test"));
	assert_false(config_user_known(s, "user1x", "example.test"));
	assert_false(config_user_known(s, "", "example.test"));
	assert_false(config_user_known(s, "only@example.test", ""));
	assert_false(config_user_known(s, "only@example.test", "example.test"));
	assert_false(config_user_known(s, "user1@x", "example.test"));
	char longlocal[300];
	memset(longlocal, 'u', sizeof(longlocal) - 1);
	longlocal[sizeof(longlocal) - 1] = '\0';
	assert_false(config_user_known(s, longlocal, "example.test"));
	assert_false(config_user_known(s, "only", longlocal));
	config_unref(c);
}

static void test_config_postmaster_always_known(void **state)
{
	struct config *c = users_config();
	const struct config_server *s = server_a(c);
	assert_true(config_user_known(s, "postmaster", "example.test"));
	assert_true(config_user_known(s, "PostMaster", "other.test"));
	assert_true(config_user_known(s, "POSTMASTER", ""));
	assert_false(config_user_known(s, "postmasters", "example.test"));
	config_unref(c);
}

static void test_config_no_users_file_knows_everyone(void **state)
{
	struct config *c = users_config();
	const struct config_server *open = config_server_find(c, "open");
	assert_non_null(open);
	assert_null(open->users);
	assert_true(config_user_known(open, "anyone", "b.test"));
	assert_true(config_user_known(open, "x", ""));
	config_unref(c);
}

/* ---- snapshot life ----------------------------------------------------- */

static void test_config_refcount(void **state)
{
	struct config *c = users_config();
	assert_int_equal(c->refs, 1);
	assert_ptr_equal(config_ref(c), c);
	assert_ptr_equal(config_ref(c), c);
	assert_int_equal(c->refs, 3);
	config_unref(c);
	config_unref(c);
	assert_int_equal(c->refs, 1);
	/* Still usable with one reference left; ASan catches a premature free. */
	assert_true(config_user_known(server_a(c), "user1", "example.test"));
	config_unref(c);
	assert_null(config_ref(NULL));
	config_unref(NULL);
}

static void test_config_server_find(void **state)
{
	struct config *c = users_config();
	assert_ptr_equal(config_server_find(c, "a"), &c->servers[0]);
	assert_ptr_equal(config_server_find(c, "open"), &c->servers[1]);
	assert_null(config_server_find(c, "A"));
	assert_null(config_server_find(c, "ope"));
	assert_null(config_server_find(c, ""));
	assert_int_equal(c->servers[1].line, 6);
	config_unref(c);
}

static void test_config_reload_gives_independent_snapshots(void **state)
{
	struct config *a = load_ok("[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
				   "max_recipients = 5\n");
	struct config *b = load_ok("[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n"
				   "max_recipients = 6\n");
	assert_int_equal(server_a(a)->max_recipients, 5);
	config_unref(a);
	assert_int_equal(server_a(b)->max_recipients, 6);
	config_unref(b);
}

/* ---- TLS, AUTH, sender logins, connection rate ------------------------- */

/* tmpdir/name, in one of a few rotating buffers. */
static const char *tpath(const char *name)
{
	static char paths[8][128];
	static unsigned next;
	char *p = paths[next++ % 8];
	snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
	return p;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* [server a] with a listener and a hostname, then extra from line 4 on. */
static char *load_server(const char *extra, struct config **out)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "[server a]\nlisten = 127.0.0.1:2525\nhostname = a.test\n%s", extra);
	char *e = load_text(buf_str(&b), out);
	buf_free(&b);
	return e;
}

static struct config *server_ok(const char *extra)
{
	struct config *c;
	char *e = load_server(extra, &c);
	if (e[0] != '\0')
		fprintf(stderr, "unexpected errors:\n%s", e);
	assert_string_equal(e, "");
	free(e);
	return c;
}

static void server_errors(const char *extra, const char *expected)
{
	struct config *c;
	char *e = load_server(extra, &c);
	assert_null(c);
	assert_string_equal(e, expected);
	free(e);
}

/* "tls_cert = DIR/mx.pem\ntls_key = DIR/mx.key\n" (lines 4 and 5 with load_server). */
static const char *mx_tls(void)
{
	static char text[300];
	snprintf(text, sizeof(text), "tls_cert = %s/mx.pem\ntls_key = %s/mx.key\n", tmpdir, tmpdir);
	return text;
}

static void test_config_bool_values(void **state)
{
	static const struct { const char *text; bool v; } ok[] = {
		{ "yes", true }, { "no", false }, { "YES", true }, { "No", false },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config *c = good_value(false, "relay_authenticated", ok[i].text);
		assert_int_equal(server_a(c)->relay_authenticated, ok[i].v);
		config_unref(c);
		c = good_value(false, "auth_plaintext", ok[i].text);
		assert_int_equal(server_a(c)->auth_plaintext, ok[i].v);
		config_unref(c);
	}
	const char *bad[] = { "true", "1", "on", "y", "", "yes please" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_value(false, "relay_authenticated", bad[i], "expected yes or no");
		bad_value(false, "auth_plaintext", bad[i], "expected yes or no");
	}
}

static void test_config_level_values(void **state)
{
	struct config *c = good_value(false, "starttls", "OFF");
	assert_int_equal(server_a(c)->starttls, CONFIG_OFF);
	config_unref(c);
	c = good_value(false, "auth", "off");
	assert_int_equal(server_a(c)->auth, CONFIG_OFF);
	config_unref(c);
	const char *bad[] = { "on", "yes", "", "require", "optional required" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_value(false, "starttls", bad[i], "expected off, optional or required");
		bad_value(false, "auth", bad[i], "expected off, optional or required");
	}
	char extra[512];
	snprintf(extra, sizeof(extra), "%sstarttls = Optional\nauth = optional\nauth_users = %s\n",
		 mx_tls(), tpath("passwd"));
	c = server_ok(extra);
	assert_int_equal(server_a(c)->starttls, CONFIG_OPTIONAL);
	assert_int_equal(server_a(c)->auth, CONFIG_OPTIONAL);
	config_unref(c);
	snprintf(extra, sizeof(extra), "%sstarttls = required\nauth = REQUIRED\nauth_users = %s\n",
		 mx_tls(), tpath("passwd"));
	c = server_ok(extra);
	assert_int_equal(server_a(c)->starttls, CONFIG_REQUIRED);
	assert_int_equal(server_a(c)->auth, CONFIG_REQUIRED);
	config_unref(c);
}

static void test_config_connection_rate(void **state)
{
	static const struct { const char *text; unsigned v; } ok[] = {
		{ "0", 0 }, { "60", 60 }, { "1000000", 1000000 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct config *c = good_value(false, "max_connection_rate_per_ip", ok[i].text);
		assert_int_equal(server_a(c)->max_connection_rate_per_ip, ok[i].v);
		config_unref(c);
	}
	bad_value(false, "max_connection_rate_per_ip", "1000001", "must be between 0 and 1000000");
	bad_value(false, "max_connection_rate_per_ip", "-1", "expected a whole number");
	bad_value(false, "max_connection_rate_per_ip", "60/m", "expected a whole number");
	bad_value(false, "max_connection_rate_per_ip", "", "expected a whole number");
	bad_value(false, "max_connection_rate_per_ip", "99999999999999999999999",
		  "too large: must be between 0 and 1000000");
}

static void test_config_tls_min_protocol(void **state)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "%stls_min_protocol = tlsv1.3\n", mx_tls());
	struct config *c = server_ok(extra);
	/* Stored as spelled in the docs, whatever the case written. */
	assert_string_equal(server_a(c)->tls_min_protocol, "TLSv1.3");
	assert_int_equal(SSL_CTX_get_min_proto_version(server_a(c)->tls_ctx), TLS1_3_VERSION);
	config_unref(c);
	snprintf(extra, sizeof(extra), "%stls_min_protocol = TLSv1.2\n", mx_tls());
	c = server_ok(extra);
	assert_string_equal(server_a(c)->tls_min_protocol, "TLSv1.2");
	assert_int_equal(SSL_CTX_get_min_proto_version(server_a(c)->tls_ctx), TLS1_2_VERSION);
	config_unref(c);
	const char *bad[] = { "TLSv1.1", "TLSv1", "SSLv3", "", "TLSv1.2 TLSv1.3", "1.3" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad_value(false, "tls_min_protocol", bad[i], "expected TLSv1.2 or TLSv1.3");
}

static void test_config_tls_string_values(void **state)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "%stls_ciphers = ECDHE+AESGCM:ECDHE+CHACHA20\n"
		 "tls_ciphersuites = TLS_AES_256_GCM_SHA384\n", mx_tls());
	struct config *c = server_ok(extra);
	assert_string_equal(server_a(c)->tls_ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20");
	assert_string_equal(server_a(c)->tls_ciphersuites, "TLS_AES_256_GCM_SHA384");
	assert_non_null(server_a(c)->tls_ctx);
	config_unref(c);
	bad_value(false, "tls_ciphers", "", "expected a value (leave the key out for the default)");
	bad_value(false, "tls_ciphersuites", "", "expected a value (leave the key out for the default)");
	struct config *bad;
	char *e = try_key(false, "tls_ciphers", "HIGH:\x01!aNULL", &bad);
	assert_null(bad);
	assert_string_equal(e, "t.conf:4: tls_ciphers = 'HIGH:\\x01!aNULL': only printable ASCII "
			       "characters are allowed\n");
	free(e);
	e = try_key(false, "tls_ciphersuites", "TLS_AES\xc3\xa9", &bad);
	assert_string_equal(e, "t.conf:4: tls_ciphersuites = 'TLS_AES\\xc3\\xa9': only printable "
			       "ASCII characters are allowed\n");
	free(e);
	/* Over CONFIG_STRING_MAX (1024), built with continuation lines. */
	struct buf b = BUF_INIT;
	buf_append_str(&b, "tls_ciphers = A");
	for (int i = 0; i < 11; i++) {
		buf_append_str(&b, "\n  ");
		for (int j = 0; j < 99; j++)
			buf_append_char(&b, 'B');
	}
	buf_append_char(&b, '\n');
	e = load_server(buf_str(&b), &bad);
	assert_null(bad);
	assert_non_null(strstr(e, "': at most 1024 characters\n"));
	assert_int_equal(strncmp(e, "t.conf:4: tls_ciphers = 'A BBB", 30), 0);
	free(e);
	buf_free(&b);
}

static void test_config_tls_sni_values(void **state)
{
	struct config *c = good_value(false, "tls_sni", "");
	assert_int_equal(server_a(c)->ntls_sni, 0);
	config_unref(c);
	bad_value(false, "tls_sni", ":k.key", "':k.key': expected CERT or CERT:KEY (the certificate path is missing)");
	bad_value(false, "tls_sni", "a.pem, c.pem:", "'c.pem:': expected CERT or CERT:KEY (the key path after ':' is missing)");
	bad_value(false, "tls_sni", "a.pem:b.key:c", "'a.pem:b.key:c': expected CERT or CERT:KEY (more than one ':')");
	bad_value(false, "tls_sni", "a.pem b.pem:b.key a.pem", "'a.pem': listed twice");
	struct config *bad;
	char *e = try_key(false, "tls_sni", "a\x7f.pem", &bad);
	assert_string_equal(e, "t.conf:4: tls_sni = 'a\\x7f.pem': 'a\\x7f.pem': control characters "
			       "are not allowed in a path\n");
	free(e);
	struct buf b = BUF_INIT;
	buf_append_str(&b, "tls_sni =");
	for (int i = 1; i <= 65; i++)
		buf_printf(&b, "%s/c%d.pem\n", i == 1 ? " " : "  ", i);
	e = load_server(buf_str(&b), &bad);
	assert_null(bad);
	assert_non_null(strstr(e, "/c65.pem': at most 64 certificates\n"));
	free(e);
	buf_free(&b);

	char extra[1024];
	snprintf(extra, sizeof(extra), "%stls_sni = %s:%s, %s\n", mx_tls(), tpath("other.pem"),
		 tpath("other.key"), tpath("combined.pem"));
	c = server_ok(extra);
	const struct config_server *s = server_a(c);
	assert_int_equal(s->ntls_sni, 2);
	char want[256];
	snprintf(want, sizeof(want), "%s/other.pem:%s/other.key", tmpdir, tmpdir);
	assert_string_equal(s->tls_sni[0], want);
	assert_string_equal(s->tls_sni[1], tpath("combined.pem"));
	config_unref(c);
}

static void test_config_tls_ctx_built(void **state)
{
	char extra[1024];
	snprintf(extra, sizeof(extra), "starttls = optional\n%stls_sni = %s:%s\n", mx_tls(),
		 tpath("other.pem"), tpath("other.key"));
	struct config *c = server_ok(extra);
	const struct config_server *s = server_a(c);
	assert_non_null(s->tls_ctx);
	assert_string_equal(s->tls_cert, tpath("mx.pem"));
	assert_string_equal(s->tls_key, tpath("mx.key"));
	/* The default certificate, and the SNI one for its name. */
	assert_ptr_equal(tls_server_ctx_select(s->tls_ctx, "mx.example.test"), s->tls_ctx);
	assert_ptr_equal(tls_server_ctx_select(s->tls_ctx, NULL), s->tls_ctx);
	SSL_CTX *other = tls_server_ctx_select(s->tls_ctx, "other.example.test");
	assert_non_null(other);
	assert_ptr_not_equal(other, s->tls_ctx);
	assert_non_null(SSL_CTX_get0_certificate(s->tls_ctx));
	assert_non_null(SSL_CTX_get0_privatekey(s->tls_ctx));
	config_unref(c);

	/* The key inside the certificate file; no STARTTLS: the context is built all the same. */
	snprintf(extra, sizeof(extra), "tls_cert = %s\n", tpath("combined.pem"));
	c = server_ok(extra);
	assert_null(server_a(c)->tls_key);
	assert_int_equal(server_a(c)->starttls, CONFIG_OFF);
	assert_non_null(server_a(c)->tls_ctx);
	assert_non_null(SSL_CTX_get0_privatekey(server_a(c)->tls_ctx));
	config_unref(c);
}

static void test_config_tls_needs_cert(void **state)
{
	server_errors("starttls = optional\n",
		      "t.conf:4: starttls = optional needs tls_cert (the certificate to offer)\n");
	server_errors("\nstarttls = required\n",
		      "t.conf:5: starttls = required needs tls_cert (the certificate to offer)\n");
	expect_errors("[server a]\nhostname = a.test\nlisten = 127.0.0.1:2525,\n"
		      "  127.0.0.1:2465 tls, 127.0.0.1:2466 tls\n",
		      "t.conf:3: listen address 127.0.0.1:2465 has the 'tls' flag, which needs "
		      "tls_cert (the certificate to offer)\n");
	/* Both, each at its own line. */
	expect_errors("[server a]\nhostname = a.test\nstarttls = optional\nlisten = 127.0.0.1:465 tls\n",
		      "t.conf:3: starttls = optional needs tls_cert (the certificate to offer)\n"
		      "t.conf:4: listen address 127.0.0.1:465 has the 'tls' flag, which needs "
		      "tls_cert (the certificate to offer)\n");
	/* A refused tls_cert value is one error, not two. */
	server_errors("starttls = optional\ntls_cert = \x01\n",
		      "t.conf:5: tls_cert = '\\x01': control characters are not allowed in a path\n");
	/* A refused starttls value is one error too. */
	server_errors("starttls = sometimes\n",
		      "t.conf:4: starttls = 'sometimes': expected off, optional or required\n");
}

static void test_config_tls_settings_need_cert(void **state)
{
	server_errors("tls_key = /k.key\ntls_sni = /s.pem\ntls_min_protocol = TLSv1.3\n"
		      "tls_ciphers = HIGH\ntls_ciphersuites = TLS_AES_128_GCM_SHA256\n",
		      "t.conf:4: tls_key has no effect without tls_cert\n"
		      "t.conf:5: tls_sni has no effect without tls_cert\n"
		      "t.conf:6: tls_min_protocol has no effect without tls_cert\n"
		      "t.conf:7: tls_ciphers has no effect without tls_cert\n"
		      "t.conf:8: tls_ciphersuites has no effect without tls_cert\n");
}

static void test_config_tls_world_readable_key_refused(void **state)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "starttls = optional\n\ntls_cert = %s\ntls_key = %s\n",
		 tpath("mx.pem"), tpath("open.key"));
	server_errors(extra, "t.conf:6: cannot set up TLS: key file open.key is readable by others "
			     "(mode 0644); chmod 600\n");
	/* Without tls_key the key is read from tls_cert, and the same rule holds. */
	snprintf(extra, sizeof(extra), "tls_cert = %s\n", tpath("mx.pem"));
	struct config *c;
	char *e = load_server(extra, &c);
	assert_null(c);
	assert_string_equal(e, "t.conf:4: cannot set up TLS: key file mx.pem is readable by others "
			       "(mode 0644); chmod 600\n");
	free(e);
}

static void test_config_tls_errors_at_cert_line(void **state)
{
	/* Every problem tls.c finds is its own line, all at the tls_cert line. */
	char extra[512];
	snprintf(extra, sizeof(extra), "tls_ciphers = NO-SUCH-CIPHER\ntls_cert = %s\ntls_key = %s\n"
		 "tls_ciphersuites = NO_SUCH_SUITE\n", tpath("mx.pem"), tpath("mx.key"));
	struct config *c;
	char *e = load_server(extra, &c);
	assert_null(c);
	const char *l1 = "t.conf:5: cannot set up TLS: ciphers \"NO-SUCH-CIPHER\" selects no usable TLS 1.2 cipher";
	const char *l2 = "\nt.conf:5: cannot set up TLS: ciphersuites \"NO_SUCH_SUITE\" is not a valid TLS 1.3 suite list";
	assert_int_equal(strncmp(e, l1, strlen(l1)), 0);
	assert_non_null(strstr(e, l2));
	assert_int_equal(count_lines(e), 2);
	free(e);

	snprintf(extra, sizeof(extra), "tls_cert = %s\n", tpath("no-such.pem"));
	e = load_server(extra, &c);
	assert_null(c);
	static const char nocert[] = "t.conf:4: cannot set up TLS: cannot load a PEM certificate "
				     "chain from no-such.pem";
	assert_int_equal(strncmp(e, nocert, strlen(nocert)), 0);
	assert_int_equal(count_lines(e), 1);
	free(e);

	/* A bad SNI certificate: reported at tls_cert too. */
	snprintf(extra, sizeof(extra), "%stls_sni = %s:%s\n", mx_tls(), tpath("other.pem"),
		 tpath("open.key"));
	server_errors(extra, "t.conf:4: cannot set up TLS: key file open.key is readable by others "
			     "(mode 0644); chmod 600\n");
	/* Wrong key for the certificate. */
	snprintf(extra, sizeof(extra), "tls_cert = %s\ntls_key = %s\n", tpath("mx.pem"),
		 tpath("other.key"));
	e = load_server(extra, &c);
	assert_null(c);
	assert_int_equal(strncmp(e, "t.conf:4: cannot set up TLS: ", 29), 0);
	assert_non_null(strstr(e, "other.key"));
	free(e);
}

static void test_config_auth_users_loaded(void **state)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "%sstarttls = optional\nauth = required\nauth_users = %s\n",
		 mx_tls(), tpath("passwd"));
	struct config *c = server_ok(extra);
	const struct config_server *s = server_a(c);
	assert_string_equal(s->auth_users, tpath("passwd"));
	assert_non_null(s->auth_db);
	assert_int_equal(auth_users_count(s->auth_db), 1);
	assert_true(auth_users_check(s->auth_db, "user1", USER1_PASSWORD));
	assert_false(auth_users_check(s->auth_db, "User1", USER1_PASSWORD));
	config_unref(c);
	/* Loaded (and checked) even with auth = off. */
	snprintf(extra, sizeof(extra), "auth_users = %s\n", tpath("passwd"));
	c = server_ok(extra);
	assert_int_equal(server_a(c)->auth, CONFIG_OFF);
	assert_non_null(server_a(c)->auth_db);
	config_unref(c);
}

static void test_config_auth_users_world_readable_refused(void **state)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "auth = optional\nauth_plaintext = yes\nauth_users = %s\n",
		 tpath("passwd_open"));
	server_errors(extra, "t.conf:6: auth_users = 'passwd_open': users file is accessible to other "
			     "users (mode 0644); refusing to use it: chmod o-rwx passwd_open\n");
	snprintf(extra, sizeof(extra), "auth_users = %s\n", tpath("no-such-passwd"));
	server_errors(extra, "t.conf:4: auth_users = 'no-such-passwd': cannot open users file: No "
			     "such file or directory\n");
}

static void test_config_auth_users_bad_lines(void **state)
{
	write_tmp("passwd_bad", "# accounts\nuser1:" USER1_HASH "\nno colon here\n"
		  "user2:$1$abcdefgh$abcdefghijklmnopqrstuv\nuser1:" USER1_HASH "\n");
	assert_int_equal(chmod(tpath("passwd_bad"), 0600), 0);
	char extra[512];
	snprintf(extra, sizeof(extra), "max_recipients = 5\nauth_users = %s\nmax_recipients = 6\n",
		 tpath("passwd_bad"));
	struct config *c;
	char *e = load_server(extra, &c);
	assert_null(c);
	/* auth.c's own lines, kept as they are, at the auth_users line (5). */
	const char *want_start = "passwd_bad:3: missing ':' between user name and password hash\n"
				 "passwd_bad:4: user 'user2': ";
	assert_int_equal(strncmp(e, want_start, strlen(want_start)), 0);
	const char *dup = strstr(e, "\npasswd_bad:5: duplicate user 'user1' (first on line 2)\n"
				    "t.conf:6: duplicate key 'max_recipients' in [server a] (first "
				    "set at line 4)\n");
	assert_non_null(dup);
	assert_int_equal(strlen(dup), strlen("\npasswd_bad:5: duplicate user 'user1' (first on line 2)\n"
					     "t.conf:6: duplicate key 'max_recipients' in [server a] "
					     "(first set at line 4)\n"));
	assert_null(strstr(e, "$1$"));
	free(e);
}

static void test_config_auth_needs_users(void **state)
{
	server_errors("auth_plaintext = yes\nauth = optional\n",
		      "t.conf:5: auth = optional needs auth_users (the file of user:password-hash "
		      "lines)\n");
	char extra[512];
	snprintf(extra, sizeof(extra), "%sstarttls = optional\nauth = required\n", mx_tls());
	server_errors(extra, "t.conf:7: auth = required needs auth_users (the file of "
			     "user:password-hash lines)\n");
	/* A refused auth_users value is one error. */
	server_errors("auth_plaintext = yes\nauth = optional\nauth_users =\n",
		      "t.conf:6: auth_users = '': expected a path\n");
	server_errors("auth = maybe\n", "t.conf:4: auth = 'maybe': expected off, optional or required\n");
}

static void test_config_auth_required_never_offered(void **state)
{
	char extra[1024];
	snprintf(extra, sizeof(extra), "auth_users = %s\nauth = required\n", tpath("passwd"));
	server_errors(extra, "t.conf:5: auth = required, but AUTH would never be offered: starttls "
			     "is off, no listener has the 'tls' flag and auth_plaintext is no\n");
	/* Any one of the three makes it valid. */
	snprintf(extra, sizeof(extra), "auth_users = %s\nauth = required\nauth_plaintext = yes\n",
		 tpath("passwd"));
	struct config *c = server_ok(extra);
	assert_true(server_a(c)->auth_plaintext);
	config_unref(c);
	snprintf(extra, sizeof(extra), "auth_users = %s\nauth = required\nstarttls = optional\n%s",
		 tpath("passwd"), mx_tls());
	c = server_ok(extra);
	config_unref(c);
	snprintf(extra, sizeof(extra), "[server a]\nlisten = 127.0.0.1:2465 tls\nhostname = a.test\n"
		 "auth_users = %s\nauth = required\n%s", tpath("passwd"), mx_tls());
	c = load_ok(extra);
	assert_true(server_a(c)->listen[0].tls);
	assert_non_null(server_a(c)->tls_ctx);
	config_unref(c);
	/* auth = optional there is allowed: nobody can log in, nothing is refused. */
	snprintf(extra, sizeof(extra), "auth_users = %s\nauth = optional\n", tpath("passwd"));
	c = server_ok(extra);
	config_unref(c);
}

static void test_config_relay_authenticated_without_auth(void **state)
{
	struct config *c = server_ok("relay_authenticated = yes\nauth = off\n");
	assert_true(server_a(c)->relay_authenticated);
	assert_int_equal(server_a(c)->auth, CONFIG_OFF);
	assert_null(server_a(c)->auth_db);
	config_unref(c);
}

static struct config *login_config(void)
{
	write_tmp("logins", "# who may send as whom\n"
		  "user1: user1@example.test, Sales@Example.Test\n"
		  "\n"
		  "admin:@example.net   # a whole domain\n"
		  "user1:user1@example.test sales@example.test,, first.last@example.org\n"
		  "User1: other@example.test\n"
		  "  team : sales@example.test\r\n"
		  "a#b: a#b@example.test\n");
	char extra[256];
	snprintf(extra, sizeof(extra), "sender_login = %s\n", tpath("logins"));
	return server_ok(extra);
}

static void test_config_sender_login_parsed(void **state)
{
	struct config *c = login_config();
	const struct config_server *s = server_a(c);
	assert_string_equal(s->sender_login, tpath("logins"));
	static const struct { const char *pattern, *user; } want[] = {
		{ "@example.net", "admin" },
		{ "a#b@example.test", "a#b" },
		{ "first.last@example.org", "user1" },
		{ "other@example.test", "User1" },
		{ "sales@example.test", "team" },
		{ "sales@example.test", "user1" },
		{ "user1@example.test", "user1" },
	};
	assert_int_equal(s->sender_logins.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < s->sender_logins.n; i++) {
		assert_string_equal(s->sender_logins.entries[i].pattern, want[i].pattern);
		assert_string_equal(s->sender_logins.entries[i].user, want[i].user);
	}
	config_unref(c);
	/* An empty file owns nothing. */
	write_tmp("logins_empty", "# nobody yet\n\n");
	char extra[256];
	snprintf(extra, sizeof(extra), "sender_login = %s\n", tpath("logins_empty"));
	c = server_ok(extra);
	assert_int_equal(server_a(c)->sender_logins.n, 0);
	assert_false(config_sender_is_owned(server_a(c), "user1@example.test"));
	config_unref(c);
}

static void test_config_sender_login_bad_lines(void **state)
{
	static const char file[] =
		"ok: ok@example.test\n"
		"no colon here\n"
		": nobody@example.test\n"
		"two words: a@example.test\n"
		"user1:\n"
		"user1: example.test\n"
		"user1: a@b@example.test\n"
		"user1: a..b@example.test\n"
		"user1: good@example.test, bad@ex_ample.test\n"
		"user1: @\n"
		"user1: \"quoted\"@example.test\n"
		"bad\x01user: x@example.test\n"
		"user1: \xff@example.test, x@example.test.\n"
		"user1: nul\0@example.test\n";
	write_bytes("logins_bad", file, sizeof(file) - 1);
	char extra[256];
	snprintf(extra, sizeof(extra), "max_recipients = x\nsender_login = %s\n", tpath("logins_bad"));
	server_errors(extra,
		"t.conf:4: max_recipients = 'x': expected a whole number\n"
		"logins_bad:2: 'no colon here': expected 'user: address, @domain, ...'\n"
		"logins_bad:3: '': expected 'user: address, @domain, ...' (the user name is missing)\n"
		"logins_bad:4: 'two words': a user name cannot contain blanks or control characters\n"
		"logins_bad:5: 'user1': no address after the user name; expected 'user: address, "
		"@domain, ...'\n"
		"logins_bad:6: 'example.test': expected an address (user@example.test) or @domain\n"
		"logins_bad:7: 'a@b@example.test': more than one '@'\n"
		"logins_bad:8: 'a..b@example.test': a local part cannot contain \"..\"\n"
		"logins_bad:9: 'bad@ex_ample.test': only letters, digits, '-' and '.' are allowed in "
		"a domain name\n"
		"logins_bad:10: '@': expected a domain name\n"
		"logins_bad:11: '\"quoted\"@example.test': quoted local parts are not supported\n"
		"logins_bad:12: 'bad\\x01user': a user name cannot contain blanks or control characters\n"
		"logins_bad:13: 'x@example.test.': write the domain without a trailing dot\n"
		"logins_bad:14: '': the line contains a NUL byte\n");

	/* A bad line grants nothing, not even its good items. */
	write_tmp("logins_half", "user1: good@example.test, bad@@example.test\n");
	snprintf(extra, sizeof(extra), "sender_login = %s\n", tpath("logins_half"));
	server_errors(extra, "logins_half:1: 'bad@@example.test': more than one '@'\n");

	snprintf(extra, sizeof(extra), "sender_login = %s\n", tpath("no-such-logins"));
	server_errors(extra, "t.conf:4: sender_login = 'no-such-logins': cannot read: No such file "
			     "or directory\n");
	snprintf(extra, sizeof(extra), "\nsender_login = %s\n", tmpdir);
	struct config *c;
	char *e = load_server(extra, &c);
	assert_null(c);
	char want[160];
	snprintf(want, sizeof(want), "t.conf:5: sender_login = '%s': cannot read: Is a directory\n",
		 tmpdir);
	assert_string_equal(e, want);
	free(e);
}

static void test_config_sender_login_long_line(void **state)
{
	struct buf b = BUF_INIT;
	buf_append_str(&b, "user1:");
	while (b.len <= 4096)
		buf_append_str(&b, " a@example.test");
	buf_append_str(&b, "\nuser2: b@example.test\n");
	write_tmp("logins_long", buf_str(&b));
	buf_free(&b);
	char extra[256];
	snprintf(extra, sizeof(extra), "sender_login = %s\n", tpath("logins_long"));
	server_errors(extra, "logins_long:1: 'user1: a@example.test a@example.test a@e': line too "
			     "long; split it: a user may appear on several lines\n");
}

static void test_config_sender_owned_by(void **state)
{
	struct config *c = login_config();
	const struct config_server *s = server_a(c);
	/* Exact addresses, any case. */
	assert_true(config_sender_owned_by(s, "user1", "user1@example.test"));
	assert_true(config_sender_owned_by(s, "user1", "USER1@EXAMPLE.TEST"));
	assert_true(config_sender_owned_by(s, "user1", "Sales@example.test"));
	assert_true(config_sender_owned_by(s, "team", "sales@example.test"));
	assert_true(config_sender_owned_by(s, "user1", "first.last@example.org"));
	assert_true(config_sender_owned_by(s, "a#b", "a#b@example.test"));
	/* User names are exact octets. */
	assert_true(config_sender_owned_by(s, "User1", "other@example.test"));
	assert_false(config_sender_owned_by(s, "user1", "other@example.test"));
	assert_false(config_sender_owned_by(s, "USER1", "user1@example.test"));
	/* Someone else's address, and unknown users. */
	assert_false(config_sender_owned_by(s, "team", "user1@example.test"));
	assert_false(config_sender_owned_by(s, "nobody", "user1@example.test"));
	assert_false(config_sender_owned_by(s, "", "user1@example.test"));
	/* @domain: every address of the domain, not of subdomains, not of others. */
	assert_true(config_sender_owned_by(s, "admin", "anything@example.net"));
	assert_true(config_sender_owned_by(s, "admin", "X.Y@EXAMPLE.NET"));
	assert_true(config_sender_owned_by(s, "admin", "\"quoted local\"@example.net"));
	assert_false(config_sender_owned_by(s, "admin", "a@sub.example.net"));
	assert_false(config_sender_owned_by(s, "admin", "a@example.network"));
	assert_false(config_sender_owned_by(s, "admin", "user1@example.test"));
	assert_false(config_sender_owned_by(s, "user1", "user1@example.net"));
	/* Near misses and hostile input. */
	assert_false(config_sender_owned_by(s, "user1", "user1@example.tes"));
	assert_false(config_sender_owned_by(s, "user1", "user1x@example.test"));
	assert_false(config_sender_owned_by(s, "user1", "user1"));
	assert_false(config_sender_owned_by(s, "user1", ""));
	assert_false(config_sender_owned_by(s, "admin", "@example.net"));
	assert_false(config_sender_owned_by(s, "admin", "a@"));
	assert_false(config_sender_owned_by(s, "user1", "\"user1@example.test\"@evil.test"));
	assert_false(config_sender_owned_by(s, NULL, "user1@example.test"));
	assert_false(config_sender_owned_by(s, "user1", NULL));
	char longaddr[600];
	memset(longaddr, 'a', 500);
	strcpy(longaddr + 500, "@example.net");
	assert_false(config_sender_owned_by(s, "admin", longaddr));
	config_unref(c);
}

static void test_config_sender_is_owned(void **state)
{
	struct config *c = login_config();
	const struct config_server *s = server_a(c);
	assert_true(config_sender_is_owned(s, "user1@example.test"));
	assert_true(config_sender_is_owned(s, "SALES@example.test"));
	assert_true(config_sender_is_owned(s, "other@example.test"));
	assert_true(config_sender_is_owned(s, "whoever@example.net"));
	assert_false(config_sender_is_owned(s, "user2@example.test"));
	assert_false(config_sender_is_owned(s, "user1@example.org"));
	assert_false(config_sender_is_owned(s, "whoever@sub.example.net"));
	assert_false(config_sender_is_owned(s, ""));
	assert_false(config_sender_is_owned(s, "postmaster"));
	assert_false(config_sender_is_owned(s, NULL));
	config_unref(c);
}

static void test_config_snapshot_owns_tls_and_auth(void **state)
{
	/* A reload keeps two snapshots alive, each with its own context and accounts;
	 * dropping them frees both (ASan reports a leak or a double free). */
	char extra[1024];
	snprintf(extra, sizeof(extra), "%sstarttls = required\nauth = required\nauth_users = %s\n"
		 "sender_login = %s\n", mx_tls(), tpath("passwd"), tpath("logins"));
	write_tmp("logins", "user1: user1@example.test\n");
	struct config *a = server_ok(extra);
	struct config *b = server_ok(extra);
	assert_ptr_not_equal(server_a(a)->tls_ctx, server_a(b)->tls_ctx);
	assert_ptr_not_equal(server_a(a)->auth_db, server_a(b)->auth_db);
	/* A session may keep its SSL after the snapshot goes (OpenSSL refcounts). */
	SSL *ssl = SSL_new(server_a(a)->tls_ctx);
	assert_non_null(ssl);
	config_ref(a);
	config_unref(a);
	config_unref(a);
	SSL_free(ssl);
	assert_true(config_sender_owned_by(server_a(b), "user1", "user1@example.test"));
	config_unref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_example_loads_exact_values),
		cmocka_unit_test(test_config_example_file_is_current),
		cmocka_unit_test(test_config_docs_are_current),
		cmocka_unit_test(test_config_man_page_is_current),
		cmocka_unit_test(test_config_reference_lists_every_key),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_errors_golden),
		cmocka_unit_test(test_config_cannot_open),
		cmocka_unit_test(test_config_errors_append),
		cmocka_unit_test(test_config_unknown_section),
		cmocka_unit_test(test_config_unknown_key),
		cmocka_unit_test(test_config_key_in_wrong_section),
		cmocka_unit_test(test_config_key_outside_section),
		cmocka_unit_test(test_config_duplicate_key),
		cmocka_unit_test(test_config_server_names),
		cmocka_unit_test(test_config_missing_listen),
		cmocka_unit_test(test_config_no_server_section),
		cmocka_unit_test(test_config_syntax_errors_all_reported),
		cmocka_unit_test(test_config_section_header_trailing_text),
		cmocka_unit_test(test_config_errors_in_line_order),
		cmocka_unit_test(test_config_hostile_bytes_escaped),
		cmocka_unit_test(test_config_long_line),
		cmocka_unit_test(test_config_continuation_lines),
		cmocka_unit_test(test_config_indented_key_is_error),
		cmocka_unit_test(test_config_comments_bom_crlf),
		cmocka_unit_test(test_config_colon_separator),
		cmocka_unit_test(test_config_size_values),
		cmocka_unit_test(test_config_duration_values),
		cmocka_unit_test(test_config_uint_values),
		cmocka_unit_test(test_config_workers),
		cmocka_unit_test(test_config_global_strings),
		cmocka_unit_test(test_config_listen_v4),
		cmocka_unit_test(test_config_listen_v6),
		cmocka_unit_test(test_config_listen_tls_flag),
		cmocka_unit_test(test_config_listen_bad_port),
		cmocka_unit_test(test_config_listen_bad_host),
		cmocka_unit_test(test_config_listen_count_limit),
		cmocka_unit_test(test_config_listener_clash_across_servers),
		cmocka_unit_test(test_config_listener_clash_same_server),
		cmocka_unit_test(test_config_listener_wildcard_overlap),
		cmocka_unit_test(test_config_local_domains),
		cmocka_unit_test(test_config_bad_domains),
		cmocka_unit_test(test_config_hostname),
		cmocka_unit_test(test_config_mailbox),
		cmocka_unit_test(test_config_smart_host),
		cmocka_unit_test(test_config_ndr_copy_to),
		cmocka_unit_test(test_config_dns),
		cmocka_unit_test(test_config_tls_policy),
		cmocka_unit_test(test_config_smart_host_credentials),
		cmocka_unit_test(test_config_cidr_lists),
		cmocka_unit_test(test_config_retry),
		cmocka_unit_test(test_config_users_file_parsed),
		cmocka_unit_test(test_config_users_file_bad_lines),
		cmocka_unit_test(test_config_users_file_unreadable),
		cmocka_unit_test(test_config_user_known),
		cmocka_unit_test(test_config_postmaster_always_known),
		cmocka_unit_test(test_config_no_users_file_knows_everyone),
		cmocka_unit_test(test_config_refcount),
		cmocka_unit_test(test_config_server_find),
		cmocka_unit_test(test_config_reload_gives_independent_snapshots),
		cmocka_unit_test(test_config_bool_values),
		cmocka_unit_test(test_config_level_values),
		cmocka_unit_test(test_config_connection_rate),
		cmocka_unit_test(test_config_tls_min_protocol),
		cmocka_unit_test(test_config_tls_string_values),
		cmocka_unit_test(test_config_tls_sni_values),
		cmocka_unit_test(test_config_tls_ctx_built),
		cmocka_unit_test(test_config_tls_needs_cert),
		cmocka_unit_test(test_config_tls_settings_need_cert),
		cmocka_unit_test(test_config_tls_world_readable_key_refused),
		cmocka_unit_test(test_config_tls_errors_at_cert_line),
		cmocka_unit_test(test_config_auth_users_loaded),
		cmocka_unit_test(test_config_auth_users_world_readable_refused),
		cmocka_unit_test(test_config_auth_users_bad_lines),
		cmocka_unit_test(test_config_auth_needs_users),
		cmocka_unit_test(test_config_auth_required_never_offered),
		cmocka_unit_test(test_config_relay_authenticated_without_auth),
		cmocka_unit_test(test_config_sender_login_parsed),
		cmocka_unit_test(test_config_sender_login_bad_lines),
		cmocka_unit_test(test_config_sender_login_long_line),
		cmocka_unit_test(test_config_sender_owned_by),
		cmocka_unit_test(test_config_sender_is_owned),
		cmocka_unit_test(test_config_snapshot_owns_tls_and_auth),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
