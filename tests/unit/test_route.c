/*
 * test_route.c — recipient -> destination decisions (route.c).
 *
 * The config is written to a temp directory and loaded with config_load(),
 * so the real parser fills every field route.c reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "route.h"

static char dir[64];
static struct config *cfg;

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-route-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	write_file("users", "user1\nuser.two\nonly@example.test\n");
	char conf[2048];
	snprintf(conf, sizeof(conf),
		 "[global]\nspool = %s/spool\n"
		 "[server mx]\nlisten = 127.0.0.1:2591\nhostname = mx.example.test\n"
		 "local_domains = example.test, alias.test\nmailbox = maildir:%s/mail/%%d/%%u\n"
		 "users = %s/users\n"
		 "[server open]\nlisten = 127.0.0.1:2592\nhostname = open.example.test\n"
		 "local_domains = open.test\nmailbox = maildir:%s/open/%%u\n"
		 "[server third]\nlisten = 127.0.0.1:2593\nhostname = third.test\n"
		 "local_domains = a-first.test, third.test\nmailbox = maildir:%s/third/%%d/%%u\n"
		 "[server lmtp]\nlisten = 127.0.0.1:2594\nhostname = lmtp.test\n"
		 "local_domains = lmtp.test\nmailbox = lmtp:unix:%s/lmtp.sock\n"
		 "masquerade_domain = example.com\n",
		 dir, dir, dir, dir, dir, dir);
	write_file("vsmtpd.conf", conf);
	char path[128];
	snprintf(path, sizeof(path), "%s/vsmtpd.conf", dir);
	struct buf err = BUF_INIT;
	int rc = config_load(path, &cfg, &err);
	if (rc != 0)
		fprintf(stderr, "%s", buf_str(&err));
	buf_free(&err);
	return rc;
}

static int teardown(void **state)
{
	config_unref(cfg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void expect_local(const char *server, const char *addr, const char *want_srv, const char *sub)
{
	struct route r;
	char want[256];
	route_rcpt(cfg, server, addr, &r);
	assert_int_equal(r.kind, ROUTE_LOCAL);
	assert_non_null(r.srv);
	assert_string_equal(r.srv->name, want_srv);
	snprintf(want, sizeof(want), "%s/%s", dir, sub);
	assert_string_equal(r.maildir, want);
}

static void expect_kind(const char *server, const char *addr, enum route_kind kind, const char *text)
{
	struct route r;
	route_rcpt(cfg, server, addr, &r);
	assert_int_equal(r.kind, kind);
	assert_string_equal(r.text, text);
}

static void test_route_local_known_user(void **state)
{
	expect_local("mx", "user1@example.test", "mx", "mail/example.test/user1");
	expect_local("mx", "user.two@alias.test", "mx", "mail/alias.test/user.two");
	expect_local("mx", "only@example.test", "mx", "mail/example.test/only");
	/* case: domain and local part lower-cased in the path */
	expect_local("mx", "User1@Example.TEST", "mx", "mail/example.test/user1");
}

static void test_route_unknown_user_is_permanent(void **state)
{
	expect_kind("mx", "nobody@example.test", ROUTE_FAILED, "5.1.1 user unknown");
	/* "only" is listed for example.test alone */
	expect_kind("mx", "only@alias.test", ROUTE_FAILED, "5.1.1 user unknown");
	/* relay tricks against a server with a users file: unknown */
	expect_kind("mx", "user1%remote.test@example.test", ROUTE_FAILED, "5.1.1 user unknown");
}

static void test_route_postmaster_always_known(void **state)
{
	expect_local("mx", "postmaster@example.test", "mx", "mail/example.test/postmaster");
	expect_local("mx", "PostMaster@alias.test", "mx", "mail/alias.test/postmaster");
	/* "<postmaster>" without a domain: mx's hostname is not local, but it
	 * lies in the local domain example.test (policy_postmaster_domain) */
	expect_local("mx", "postmaster", "mx", "mail/example.test/postmaster");
	/* third's hostname is one of its local domains: that one */
	expect_local("third", "postmaster", "third", "third/third.test/postmaster");
	expect_local("open", "Postmaster", "open", "open/postmaster");
}

static void test_route_no_domain_is_permanent(void **state)
{
	expect_kind("mx", "bob", ROUTE_FAILED, "5.1.3 recipient address has no domain");
	expect_kind("mx", "@example.test", ROUTE_FAILED, "5.1.3 bad recipient address syntax");
	expect_kind("mx", "", ROUTE_FAILED, "5.1.3 bad recipient address syntax");
}

static void expect_remote(const char *addr, const char *domain)
{
	struct route r;
	route_rcpt(cfg, "mx", addr, &r);
	assert_int_equal(r.kind, ROUTE_REMOTE);
	assert_null(r.srv);
	assert_string_equal(r.domain, domain);
}

static void test_route_remote(void **state)
{
	expect_remote("someone@Remote.TEST", "remote.test");
	/* a subdomain of a local domain is not local */
	expect_remote("user1@sub.example.test", "sub.example.test");
	/* an address literal is never a local domain (local_domains holds names) */
	expect_remote("user1@[127.0.0.1]", "[127.0.0.1]");
	expect_remote("user1@[IPv6:::1]", "[ipv6:::1]");
}

static void test_route_lmtp(void **state)
{
	struct route r;
	route_rcpt(cfg, "mx", "anyone@lmtp.test", &r);
	assert_int_equal(r.kind, ROUTE_LMTP);
	assert_non_null(r.srv);
	assert_string_equal(r.srv->name, "lmtp");
	assert_string_equal(r.domain, "lmtp.test");
}

static void test_route_masquerade(void **state)
{
	const struct config_server *srv = config_server_find(cfg, "lmtp");
	char out[128];
	assert_string_equal(route_masquerade(srv, "alice@lmtp.test", out, sizeof(out)), "alice@example.com");
	assert_string_equal(route_masquerade(srv, "alice@LMTP.test", out, sizeof(out)), "alice@example.com");
	/* not a local domain of the server, the null sender, no masquerade_domain */
	assert_string_equal(route_masquerade(srv, "bob@other.test", out, sizeof(out)), "bob@other.test");
	assert_string_equal(route_masquerade(srv, "", out, sizeof(out)), "");
	assert_string_equal(route_masquerade(config_server_find(cfg, "mx"), "a@example.test", out, sizeof(out)),
			    "a@example.test");
	assert_string_equal(route_masquerade(NULL, "a@example.test", out, sizeof(out)), "a@example.test");
}

static void test_route_other_server_owns_domain(void **state)
{
	/* accepted by mx (relay), but open.test is local to another server */
	expect_local("mx", "bob@open.test", "open", "open/bob");
	/* the accepting server was removed by a reload */
	expect_local("gone", "user1@example.test", "mx", "mail/example.test/user1");
	expect_local(NULL, "bob@open.test", "open", "open/bob");
}

static void test_route_unsafe_local_part_is_permanent(void **state)
{
	/* open.test has no users file: any local part is known, so the safety
	 * check of the path is what refuses these */
	const char *bad[] = { "user%remote.test@open.test", "a!b@open.test", "..@open.test",
			      ".x@open.test", "\"a/b\"@open.test", "\"../etc\"@open.test" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_kind("open", bad[i], ROUTE_FAILED, "5.1.3 local part cannot name a mailbox");
}

static void test_route_third_server(void **state)
{
	expect_local("third", "Bob@Third.Test", "third", "third/third.test/bob");
	expect_local("mx", "bob@third.test", "third", "third/third.test/bob");
}

static void test_route_server_for_policy(void **state)
{
	const struct config_server *s = route_server(cfg, "open", "example.test");
	assert_non_null(s);
	assert_string_equal(s->name, "open");
	s = route_server(cfg, "gone", "example.test");
	assert_string_equal(s->name, "mx");
	s = route_server(cfg, "gone", "third.test");
	assert_string_equal(s->name, "third");
	s = route_server(cfg, "gone", "remote.test");
	assert_string_equal(s->name, "mx");	/* the first server */
	s = route_server(cfg, NULL, NULL);
	assert_string_equal(s->name, "mx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_local_known_user),
		cmocka_unit_test(test_route_unknown_user_is_permanent),
		cmocka_unit_test(test_route_postmaster_always_known),
		cmocka_unit_test(test_route_no_domain_is_permanent),
		cmocka_unit_test(test_route_remote),
		cmocka_unit_test(test_route_lmtp),
		cmocka_unit_test(test_route_masquerade),
		cmocka_unit_test(test_route_other_server_owns_domain),
		cmocka_unit_test(test_route_unsafe_local_part_is_permanent),
		cmocka_unit_test(test_route_third_server),
		cmocka_unit_test(test_route_server_for_policy),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
