/*
 * test_config_format.c — config_value_format(), the inverse of the parsers.
 *
 * The property under test: for every key, parsing the formatted text of a
 * value gives the same value back (compared field by field, by type), and
 * formatting that again gives the same text. It is checked on every key of
 * the example config (loaded from a copy of etc/ next to a throw-away
 * certificate, as test_config.c does: most keys there are at their
 * defaults), on every key's documented example value, and on hand-made
 * values whose exact text is pinned (units, normalisation, brackets).
 * Runs with the working directory tests/unit/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_keys.h"

static char tmpdir[64];

/* The example next to its certificate, ./run/tls/mx.pem and mx.key, as `make run` makes
 * them. Run in the temporary directory; $1 is the tree's etc/. */
static const char fixture_script[] =
	"set -e\n"
	"mkdir -p example/etc example/run/tls\n"
	"cp \"$1\"/vsmtpd.conf.example \"$1\"/users.example \"$1\"/passwd.example"
	" \"$1\"/sender_login.example example/etc/\n"
	"chmod 600 example/etc/passwd.example\n"
	"printf '[req]\\ndistinguished_name = dn\\nprompt = no\\n[dn]\\nCN = unused\\n' > req.cnf\n"
	"openssl req -config req.cnf -x509 -nodes -days 3 -newkey ec -pkeyopt ec_paramgen_curve:P-256"
	" -keyout example/run/tls/mx.key -out example/run/tls/mx.pem -subj /CN=mx.example.test"
	" -addext subjectAltName=DNS:mx.example.test,DNS:submission.example.test\n"
	"chmod 600 example/run/tls/mx.key\n";

/* A zeroed struct of either scope, big enough for both. */
union scope_struct {
	struct config_global g;
	struct config_server s;
};

/* ---- comparing two fields of one key, by type -------------------------- */

static const void *field(const struct config_key *k, const void *base)
{
	return (const char *)base + k->off;
}

static size_t count(const struct config_key *k, const void *base)
{
	return k->off_n == 0 ? 0 : *(const size_t *)((const char *)base + k->off_n);
}

static bool str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool strings_eq(char *const *a, char *const *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool listen_eq(const struct config_listen *a, const struct config_listen *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].addrlen != b[i].addrlen || memcmp(&a[i].addr, &b[i].addr, a[i].addrlen) != 0 ||
		    a[i].tls != b[i].tls || strcmp(a[i].text, b[i].text) != 0)
			return false;
	}
	return true;
}

static bool cidrs_eq(const struct cidr_set *a, const struct cidr_set *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct cidr *x = &a->nets[i], *y = &b->nets[i];
		if (x->family != y->family || x->prefix != y->prefix || memcmp(x->addr, y->addr, 16) != 0)
			return false;
	}
	return true;
}

static bool policies_eq(const struct config_tls_policy *a, const struct config_tls_policy *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!str_eq(a[i].domain, b[i].domain) || a[i].policy != b[i].policy)
			return false;
	return true;
}

static bool values_eq(const struct config_key *k, const void *a, const void *b)
{
	const void *fa = field(k, a), *fb = field(k, b);
	size_t n = count(k, a);
	if (n != count(k, b))
		return false;
	switch (k->type) {
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_DOMAIN:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_MAILBOX:
	case CONFIG_T_STRING:
	case CONFIG_T_RESOLVER:
		return str_eq(*(char *const *)fa, *(char *const *)fb);
	case CONFIG_T_ENUM:
		return *(const int *)fa == *(const int *)fb;
	case CONFIG_T_UINT:
	case CONFIG_T_DURATION:
		return *(const unsigned *)fa == *(const unsigned *)fb;
	case CONFIG_T_SIZE:
		return *(const unsigned long long *)fa == *(const unsigned long long *)fb;
	case CONFIG_T_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CONFIG_T_LISTEN:
		return listen_eq(*(struct config_listen *const *)fa, *(struct config_listen *const *)fb, n);
	case CONFIG_T_DOMAINS:
	case CONFIG_T_CERTS:
		return strings_eq(*(char **const *)fa, *(char **const *)fb, n);
	case CONFIG_T_CIDRS:
		return cidrs_eq(fa, fb);
	case CONFIG_T_RETRY:
		return memcmp(fa, fb, n * sizeof(unsigned)) == 0;
	case CONFIG_T_NEXTHOP: {
		const struct config_nexthop *x = fa, *y = fb;
		if (x->host == NULL || y->host == NULL)
			return x->host == y->host;
		return strcmp(x->host, y->host) == 0 && x->port == y->port && x->mx == y->mx;
	}
	case CONFIG_T_TLS_POLICIES:
		return policies_eq(*(struct config_tls_policy *const *)fa,
				   *(struct config_tls_policy *const *)fb, n);
	}
	return false;
}

/* True when the field is unset: its empty text is then "not set", not a value to parse. */
static bool unset(const struct config_key *k, const void *base)
{
	const void *f = field(k, base);
	switch (k->type) {
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_DOMAIN:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_MAILBOX:
	case CONFIG_T_STRING:
	case CONFIG_T_RESOLVER:
		return *(char *const *)f == NULL;
	case CONFIG_T_NEXTHOP:
		return ((const struct config_nexthop *)f)->host == NULL;
	case CONFIG_T_LISTEN:
		return count(k, base) == 0;	/* an optional listener list (metrics): off */
	case CONFIG_T_ENUM:
	case CONFIG_T_UINT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
	case CONFIG_T_DOMAINS:
	case CONFIG_T_CIDRS:
	case CONFIG_T_RETRY:
	case CONFIG_T_BOOL:
	case CONFIG_T_CERTS:
	case CONFIG_T_TLS_POLICIES:
		return false;
	}
	return false;
}

/* ---- the round trip --------------------------------------------------- */

/*
 * Formats k's value in base, parses the text into a fresh struct and
 * checks that the value and its text come back unchanged. Returns the text
 * (caller frees).
 */
static char *round_trip(const struct config_key *k, const void *base)
{
	struct buf text = BUF_INIT, again = BUF_INIT, why = BUF_INIT;
	buf_append(&text, "", 0);
	config_value_format(k, base, &text);
	if (unset(k, base)) {
		assert_string_equal(buf_str(&text), "");
		return text.data;
	}
	union scope_struct copy;
	memset(&copy, 0, sizeof(copy));
	if (config_value_parse(k, buf_str(&text), &copy, &why) < 0)
		fail_msg("%s = '%s': the parser refuses the formatted text: %s", k->name, buf_str(&text),
			 buf_str(&why));
	if (!values_eq(k, base, &copy))
		fail_msg("%s = '%s': parsed back to another value", k->name, buf_str(&text));
	config_value_format(k, &copy, &again);
	assert_string_equal(buf_str(&again), buf_str(&text));
	config_value_free(k, &copy);
	buf_free(&again);
	buf_free(&why);
	return text.data;
}

/* Parses input as key's value, checks it formats as expected, and round-trips it. */
static void expect_format(const char *key, const char *input, const char *expected)
{
	const struct config_key *k = config_key_find(key);
	assert_non_null(k);
	union scope_struct v;
	memset(&v, 0, sizeof(v));
	struct buf why = BUF_INIT;
	if (config_value_parse(k, input, &v, &why) < 0)
		fail_msg("%s = '%s': %s", key, input, buf_str(&why));
	char *text = round_trip(k, &v);
	assert_string_equal(text, expected);
	free(text);
	config_value_free(k, &v);
	buf_free(&why);
}

/* ---- cases ------------------------------------------------------------ */

static void test_config_format_example_round_trips(void **state)
{
	char cwd[512], dir[128];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(dir, sizeof(dir), "%s/example", tmpdir);
	assert_int_equal(chdir(dir), 0);
	struct buf err = BUF_INIT;
	struct config *c = NULL;
	int rc = config_load("etc/vsmtpd.conf.example", &c, &err);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(buf_str(&err), "");
	assert_int_equal(rc, 0);
	assert_int_equal(c->nservers, 3);

	unsigned checked = 0;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope == CONFIG_SCOPE_GLOBAL) {
			free(round_trip(k, &c->global));
			checked++;
			continue;
		}
		for (size_t s = 0; s < c->nservers; s++) {
			free(round_trip(k, &c->servers[s]));
			checked++;
		}
	}
	assert_true(checked > 3 * 40);

	/* a few values pinned, as written in the example */
	const struct config_server *mx = config_server_find(c, "mx");
	const struct config_server *sub = config_server_find(c, "submission");
	struct {
		const struct config_key *k;
		const void *base;
		const char *want;
	} pinned[] = {
		{ config_key_find("spool"), &c->global, "./run/spool" },
		{ config_key_find("log"), &c->global, "stderr" },
		{ config_key_find("dns"), &c->global, "system" },
		{ config_key_find("user"), &c->global, "" },
		{ config_key_find("listen"), mx, "127.0.0.1:2525" },
		{ config_key_find("listen"), sub, "127.0.0.1:2587, 127.0.0.1:2465 tls" },
		{ config_key_find("allow"), mx, "0.0.0.0/0, ::/0" },
		{ config_key_find("deny"), mx, "" },
		{ config_key_find("relay_networks"), mx, "127.0.0.1" },
		{ config_key_find("starttls"), mx, "optional" },
		{ config_key_find("max_message_size"), mx, "25M" },
		{ config_key_find("timeout_command"), mx, "5m" },
		{ config_key_find("retry"), mx, "5m, 10m, 20m, 40m, 1h, 2h, 4h" },
		{ config_key_find("expire"), mx, "5d" },
		{ config_key_find("relay_authenticated"), sub, "yes" },
		{ config_key_find("auth_plaintext"), sub, "no" },
		{ config_key_find("smart_host"), mx, "" },
		{ config_key_find("outbound_tls_policy"), mx, "" },
		{ config_key_find("mailbox"), mx, "maildir:./run/mail/%d/%u" },
	};
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		assert_non_null(pinned[i].k);
		char *text = round_trip(pinned[i].k, pinned[i].base);
		assert_string_equal(text, pinned[i].want);
		free(text);
	}
	config_unref(c);
	buf_free(&err);
}

/* Every key's documented example value (docs/CONFIG.md) comes back. */
static void test_config_format_key_examples_round_trip(void **state)
{
	unsigned n = 0;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->example == NULL)
			continue;
		union scope_struct v;
		memset(&v, 0, sizeof(v));
		struct buf why = BUF_INIT;
		if (config_value_parse(k, k->example, &v, &why) < 0)
			fail_msg("%s = '%s': %s", k->name, k->example, buf_str(&why));
		free(round_trip(k, &v));
		config_value_free(k, &v);
		buf_free(&why);
		n++;
	}
	assert_true(n > 40);
}

static void test_config_format_durations(void **state)
{
	expect_format("timeout_command", "300", "5m");
	expect_format("timeout_command", "90", "90s");
	expect_format("timeout_command", "3600s", "1h");
	expect_format("timeout_data", "86400", "1d");
	expect_format("outbound_idle_time", "0", "0s");
	expect_format("expire", "120h", "5d");
	expect_format("retry", "60, 3600 90s,2d", "1m, 1h, 90s, 2d");
}

static void test_config_format_sizes_and_numbers(void **state)
{
	expect_format("max_message_size", "26214400", "25M");
	expect_format("max_message_size", "1536", "1536");
	expect_format("max_message_size", "2048M", "2G");
	expect_format("max_message_size", "0", "0");
	expect_format("max_recipients", "007", "7");
	expect_format("workers", "3", "3");
}

static void test_config_format_words(void **state)
{
	expect_format("auth_plaintext", "YES", "yes");
	expect_format("relay_authenticated", "No", "no");
	expect_format("starttls", "Required", "required");
	expect_format("log", "SYSLOG", "syslog");
	expect_format("outbound_tls", "Verify", "verify");
	expect_format("tls_min_protocol", "tlsv1.3", "TLSv1.3");
	expect_format("hostname", "MX.Example.TEST", "mx.example.test");
	expect_format("ndr_copy_to", "Postmaster@Example.TEST", "Postmaster@example.test");
	expect_format("dns", "system", "system");
	expect_format("dns", "127.0.0.1:5353", "127.0.0.1:5353");
	expect_format("dns", "[::1]:53", "[::1]:53");
}

static void test_config_format_lists(void **state)
{
	expect_format("listen", "[::1]:25 , 127.0.0.1:465 TLS", "[::1]:25, 127.0.0.1:465 tls");
	expect_format("listen", "[0:0::1]:2525", "[::1]:2525");
	expect_format("local_domains", "B.test a.test,b.test", "a.test, b.test");
	expect_format("local_domains", "", "");
	expect_format("tls_sni", "a.pem:a.key b.pem", "a.pem:a.key, b.pem");
	expect_format("outbound_tls_policy", "Example.COM:Verify  b.test:none",
		      "example.com:verify, b.test:none");
}

static void test_config_format_networks(void **state)
{
	expect_format("allow", "10.0.0.0/8 ::ffff:192.168.0.0/112, ::1 2001:db8::/32",
		      "10.0.0.0/8, 192.168.0.0/16, ::1, 2001:db8::/32");
	expect_format("relay_networks", "127.0.0.1/32, [2001:DB8::]/48, 0.0.0.0/0",
		      "127.0.0.1, 2001:db8::/48, 0.0.0.0/0");
	expect_format("deny", " ", "");
}

static void test_config_format_next_hops(void **state)
{
	expect_format("smart_host", "relay.example.net", "relay.example.net");
	expect_format("smart_host", "Relay.Example.NET:587", "relay.example.net:587");
	expect_format("smart_host", "[relay.example.net]:587", "[relay.example.net]:587");
	expect_format("smart_host", "[relay.example.net]", "[relay.example.net]");
	expect_format("smart_host", "[relay.example.net]:25", "[relay.example.net]");
	expect_format("smart_host", "192.0.2.1", "192.0.2.1");
	expect_format("smart_host", "[192.0.2.1]:2525", "192.0.2.1:2525");
	expect_format("smart_host", "[2001:db8::1]:587", "[2001:db8::1]:587");
	expect_format("smart_host", "", "");

	/* a value made by hand, not by the parser */
	const struct config_key *k = config_key_find("smart_host");
	assert_non_null(k);
	struct config_server srv;
	memset(&srv, 0, sizeof(srv));
	srv.smart_host.host = "::1";
	srv.smart_host.port = 25;
	char *text = round_trip(k, &srv);
	assert_string_equal(text, "[::1]");
	free(text);
}

static void test_config_format_unset_is_empty(void **state)
{
	struct config_server srv;
	memset(&srv, 0, sizeof(srv));
	static const char *const keys[] = { "users", "tls_cert", "tls_ciphers", "masquerade_domain",
					    "ndr_copy_to", "smart_host", "badmail" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct config_key *k = config_key_find(keys[i]);
		assert_non_null(k);
		struct buf out = BUF_INIT;
		config_value_format(k, &srv, &out);
		assert_string_equal(buf_str(&out), "");
		buf_free(&out);
	}
}

/* ---- set-up ------------------------------------------------------------ */

static int group_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vsmtpd-format-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	char path[128], cmd[640];
	snprintf(path, sizeof(path), "%s/fixture.sh", tmpdir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(fixture_script, f);
	fclose(f);
	char cwd[256];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "cd '%s' && sh fixture.sh '%s/../../etc' > fixture.log 2>&1 < /dev/null",
		 tmpdir, cwd);
	if (system(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/fixture.log >&2", tmpdir);
		(void)system(cmd);
		fprintf(stderr, "making the example's certificate failed (is openssl installed?)\n");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_format_example_round_trips),
		cmocka_unit_test(test_config_format_key_examples_round_trip),
		cmocka_unit_test(test_config_format_durations),
		cmocka_unit_test(test_config_format_sizes_and_numbers),
		cmocka_unit_test(test_config_format_words),
		cmocka_unit_test(test_config_format_lists),
		cmocka_unit_test(test_config_format_networks),
		cmocka_unit_test(test_config_format_next_hops),
		cmocka_unit_test(test_config_format_unset_is_empty),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
