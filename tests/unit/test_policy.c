/*
 * test_policy.c — connection and recipient decisions, relay tricks included.
 *
 * Each case builds a server from a small config file written to a temp
 * directory (so the real parser fills every field) and asks policy_*().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "policy.h"

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
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-policy-XXXXXX");
	assert_non_null(mkdtemp(dir));
	write_file("users", "user1\nUser2\nonly@example.test\n");
	char conf[1024];
	snprintf(conf, sizeof(conf),
		 "[global]\nspool = %s/spool\n"
		 "[server mx]\nlisten = 127.0.0.1:2599\nhostname = mx.example.test\n"
		 "local_domains = example.test, other.test\nmailbox = maildir:%s/mail/%%d/%%u\n"
		 "users = %s/users\nrelay_networks = 10.0.0.0/8, 2001:db8::/32\n"
		 "deny = 192.0.2.0/24\nallow = 0.0.0.0/0, ::/0\n"
		 "max_connections = 3\nmax_connections_per_ip = 2\nmax_connection_rate_per_ip = 10\n"
		 "[server open]\nlisten = 127.0.0.1:2598\nhostname = open.example.test\n"
		 "local_domains = example.org\nmailbox = maildir:%s/mail/%%d/%%u\n"
		 "allow = 127.0.0.0/8\n",
		 dir, dir, dir, dir);
	write_file("vsmtpd.conf", conf);
	char path[128];
	snprintf(path, sizeof(path), "%s/vsmtpd.conf", dir);
	struct buf err = BUF_INIT;
	int rc = config_load(path, &cfg, &err);
	if (rc != 0)
		fprintf(stderr, "%s", buf_str(&err));
	buf_free(&err);
	assert_int_equal(rc, 0);
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	config_unref(cfg);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
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

static const struct config_server *mx(void)
{
	return config_server_find(cfg, "mx");
}

/* Parses "<addr>" and asks policy_rcpt; returns the reply code. */
static int rcpt(const struct config_server *srv, const char *client, const char *path,
		struct mailbox *m, bool *local)
{
	size_t end;
	assert_int_equal(address_parse_path(path, strlen(path), 0, m, &end), ADDRESS_OK);
	struct sockaddr_storage ss = ip(client);
	struct policy_reply r;
	bool ok = policy_rcpt(srv, (struct sockaddr *)&ss, false, m, local, &r);
	assert_true(ok == (r.code == 250));
	return r.code;
}

static int rcpt_code(const char *client, const char *path)
{
	struct mailbox m;
	bool local;
	return rcpt(mx(), client, path, &m, &local);
}

static void test_policy_connect_allow_deny(void **state)
{
	struct sockaddr_storage a = ip("127.0.0.1"), b = ip("192.0.2.7"), c = ip("::1");
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&a, 0, 0, 0), POLICY_CONN_OK);
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&b, 0, 0, 0), POLICY_CONN_DENIED);
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&c, 0, 0, 0), POLICY_CONN_OK);
	const struct config_server *open = config_server_find(cfg, "open");
	struct sockaddr_storage d = ip("10.1.1.1");
	assert_int_equal(policy_connect(open, (struct sockaddr *)&d, 0, 0, 0), POLICY_CONN_DENIED);
	assert_int_equal(policy_connect(open, (struct sockaddr *)&c, 0, 0, 0), POLICY_CONN_DENIED);
}

static void test_policy_connect_limits(void **state)
{
	struct sockaddr_storage a = ip("127.0.0.1");
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&a, 2, 1, 0), POLICY_CONN_OK);
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&a, 3, 0, 0), POLICY_CONN_BUSY);
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&a, 1, 2, 0), POLICY_CONN_BUSY_IP);
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&a, 1, 1, 9), POLICY_CONN_OK);
	assert_int_equal(policy_connect(mx(), (struct sockaddr *)&a, 1, 1, 10), POLICY_CONN_RATE);
}

static void test_policy_rcpt_known_users(void **state)
{
	assert_int_equal(rcpt_code("127.0.0.1", "<user1@example.test>"), 250);
	assert_int_equal(rcpt_code("127.0.0.1", "<USER1@Example.TEST>"), 250);
	assert_int_equal(rcpt_code("127.0.0.1", "<user2@other.test>"), 250);
	assert_int_equal(rcpt_code("127.0.0.1", "<only@example.test>"), 250);
	assert_int_equal(rcpt_code("127.0.0.1", "<only@other.test>"), 550);
	assert_int_equal(rcpt_code("127.0.0.1", "<nobody@example.test>"), 550);
}

static void test_policy_rcpt_postmaster_always(void **state)
{
	struct mailbox m;
	bool local;
	assert_int_equal(rcpt(mx(), "192.0.2.1", "<PostMaster@example.test>", &m, &local), 250);
	assert_true(local);
	assert_int_equal(rcpt(mx(), "192.0.2.1", "<postmaster>", &m, &local), 250);
	assert_true(local);
	assert_string_equal(m.domain, "example.test");
}

static void test_policy_rcpt_relay(void **state)
{
	struct mailbox m;
	bool local;
	assert_int_equal(rcpt(mx(), "127.0.0.1", "<a@remote.test>", &m, &local), 554);
	assert_int_equal(rcpt(mx(), "10.2.3.4", "<a@remote.test>", &m, &local), 250);
	assert_false(local);
	assert_int_equal(rcpt_code("2001:db8::5", "<a@remote.test>"), 250);
	assert_int_equal(rcpt_code("2001:db9::5", "<a@remote.test>"), 554);
}

static void test_policy_rcpt_relay_tricks(void **state)
{
	/* From outside relay_networks, none of these may be taken for relaying. */
	const char *tricks[] = {
		"<user%remote.test@example.test>", "<\"user@remote.test\"@example.test>",
		"<@example.test:user@remote.test>", "<remote.test!user@example.test>",
		"<user@[127.0.0.9]>", "<user@remote.test.>", "<USER@REMOTE.TEST>",
		"<\"user%remote\"@example.test>",
	};
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		int code = rcpt_code("127.0.0.1", tricks[i]);
		if (code == 250)
			fail_msg("relay trick accepted: %s", tricks[i]);
	}
}

static void test_policy_rcpt_any_local_part_is_still_safe(void **state)
{
	const struct config_server *open = config_server_find(cfg, "open");
	struct mailbox m;
	bool local;
	assert_int_equal(rcpt(open, "127.0.0.1", "<anyone@example.org>", &m, &local), 250);
	assert_int_equal(rcpt(open, "127.0.0.1", "<user%remote.test@example.org>", &m, &local), 550);
	assert_int_equal(rcpt(open, "127.0.0.1", "<remote!user@example.org>", &m, &local), 550);
	assert_int_equal(rcpt(open, "127.0.0.1", "<\"a/../../etc\"@example.org>", &m, &local), 550);
	assert_int_equal(rcpt(open, "127.0.0.1", "<a@remote.test>", &m, &local), 554);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_connect_allow_deny),
		cmocka_unit_test(test_policy_connect_limits),
		cmocka_unit_test(test_policy_rcpt_known_users),
		cmocka_unit_test(test_policy_rcpt_postmaster_always),
		cmocka_unit_test(test_policy_rcpt_relay),
		cmocka_unit_test(test_policy_rcpt_relay_tricks),
		cmocka_unit_test(test_policy_rcpt_any_local_part_is_still_safe),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
