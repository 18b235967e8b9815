/*
 * test_console_auth.c — the console's accounts file, roles, sessions, CSRF
 * tokens and login throttle (console_auth.h), driven with an injected clock.
 *
 * Accounts files are written to a private temp directory (mode 600: the
 * loader refuses files others may read) with hashes made here by
 * crypt_gensalt_rn() + crypt_r(); errors are compared line for line with the
 * temp directory stripped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "console_auth.h"

#define PASSWORD "correct horse"
#define T0 ((time_t)1000000)

static char dir[64];
static char *hash;		/* PASSWORD, sha512-crypt */
static char *const servers[] = { "mx", "mx2", "submission" };

static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/vsmtpd-console-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	assert_non_null(crypt_gensalt_rn("$6$", 0, NULL, 0, setting, sizeof(setting)));
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	assert_non_null(cd);
	hash = strdup(crypt_r(PASSWORD, setting, cd));
	free(cd);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(hash);
	return 0;
}

/* Writes the accounts file (each "%h" in text becomes the hash) with mode; returns its path. */
static const char *write_accounts(const char *text, mode_t mode)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/console.users", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (const char *p = text; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'h') {
			fputs(hash, f);
			p++;
		} else {
			fputc(*p, f);
		}
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* Loads text; returns the rc, the accounts in *out and the errors (temp dir stripped) in err. */
static int load(const char *text, mode_t mode, struct console_accounts **out, char *err, size_t errsize)
{
	struct buf b = BUF_INIT;
	int rc = console_accounts_load(write_accounts(text, mode), servers, 3, out, &b);
	const char *s = buf_str(&b);
	size_t dlen = strlen(dir);
	size_t o = 0;
	while (*s != '\0' && o + 1 < errsize) {
		if (strncmp(s, dir, dlen) == 0 && s[dlen] == '/') {
			s += dlen + 1;
			continue;
		}
		err[o++] = *s++;
	}
	err[o] = '\0';
	buf_free(&b);
	return rc;
}

/* ---- accounts -------------------------------------------------------------- */

static void test_console_accounts_roles(void **state)
{
	struct console_accounts *a;
	char err[2048];
	assert_int_equal(load("# accounts\n\n  alice:%h:admin  \nbob:%h:operator=mx,submission\r\n"
			      "carol:%h:readonly\nzed::admin\nyan:!%h:readonly\n",
			      0600, &a, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	const struct console_account *alice = console_accounts_find(a, "alice");
	const struct console_account *bob = console_accounts_find(a, "bob");
	const struct console_account *carol = console_accounts_find(a, "carol");
	assert_non_null(alice);
	assert_non_null(bob);
	assert_non_null(carol);
	assert_null(console_accounts_find(a, "Alice"));
	assert_null(console_accounts_find(a, "mallory"));
	assert_int_equal(alice->role, CONSOLE_ROLE_ADMIN);
	assert_int_equal(bob->role, CONSOLE_ROLE_OPERATOR);
	assert_int_equal(bob->nservers, 2);
	assert_string_equal(bob->servers[0], "mx");
	assert_string_equal(bob->servers[1], "submission");
	assert_int_equal(carol->role, CONSOLE_ROLE_READONLY);
	assert_string_equal(console_role_name(bob->role), "operator");
	assert_string_equal(console_role_name(carol->role), "readonly");
	assert_string_equal(console_role_name(alice->role), "admin");

	assert_true(console_may_manage(alice, "mx2"));
	assert_true(console_may_see(alice, "mx2"));
	assert_true(console_may_manage(bob, "mx"));
	assert_true(console_may_manage(bob, "submission"));
	assert_false(console_may_manage(bob, "mx2"));
	assert_false(console_may_see(bob, "mx2"));
	assert_false(console_may_see(bob, NULL));	/* a message with no server is nobody's */
	assert_false(console_may_manage(carol, "mx"));
	assert_true(console_may_see(carol, "mx2"));

	assert_true(console_accounts_check(a, "alice", PASSWORD));
	assert_true(console_accounts_check(a, "bob", PASSWORD));
	assert_false(console_accounts_check(a, "alice", "correct horsE"));
	assert_false(console_accounts_check(a, "alice", ""));
	assert_false(console_accounts_check(a, "mallory", PASSWORD));
	assert_false(console_accounts_check(a, "zed", ""));	/* disabled: empty hash */
	assert_false(console_accounts_check(a, "zed", PASSWORD));
	assert_null(console_accounts_find(a, "zed")->hash);
	assert_false(console_accounts_check(a, "yan", PASSWORD));	/* disabled: "!" */
	assert_false(console_accounts_check(a, NULL, PASSWORD));
	assert_false(console_accounts_check(NULL, "alice", PASSWORD));
	console_accounts_free(a);
	console_accounts_free(NULL);
}

static void test_console_accounts_errors_with_file_and_line(void **state)
{
	struct console_accounts *a = (struct console_accounts *)&a;
	char err[4096];
	assert_int_equal(load("alice:%h:admin\n"
			      "bob:%h\n"
			      "carol:%h:operator=mx,nope\n"
			      "dave:%h:root\n"
			      "alice:%h:readonly\n"
			      "eve:secret:admin\n"
			      ":%h:admin\n"
			      "fred:%h:operator=\n"
			      "gil:%h:operator=mx,mx\n"
			      "h i:%h:admin\n"
			      "ok:%h:operator=mx2\n",
			      0600, &a, err, sizeof(err)), -1);
	assert_null(a);
	assert_string_equal(err,
		"console.users:2: expected name:crypt-hash:role (role: admin, readonly or "
		"operator=SERVER[,SERVER...])\n"
		"console.users:3: user 'carol': operator of 'nope', which is no [server] of the config\n"
		"console.users:4: user 'dave': unknown role; expected admin, readonly or "
		"operator=SERVER[,SERVER...]\n"
		"console.users:5: duplicate user 'alice' (first on line 1)\n"
		"console.users:6: user 'eve': not a crypt(3) hash (a plain-text password?): expected "
		"$y$..., as made by mkpasswd -m yescrypt\n"
		"console.users:7: empty user name\n"
		"console.users:8: user 'fred': operator= needs a list of virtual servers, separated by "
		"',' (an empty name is in it)\n"
		"console.users:9: user 'gil': server 'mx' is listed twice\n"
		"console.users:10: user name contains a blank or control character\n");
	assert_null(strstr(err, hash));
}

static void test_console_accounts_file_problems(void **state)
{
	struct console_accounts *a;
	char err[1024];
	assert_int_equal(load("alice:%h:admin\n", 0644, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "console.users: console users file is accessible to other users "
				 "(mode 0644); refusing to use it: chmod o-rwx console.users\n");
	/* group-readable is fine (mode 640, as auth_users) */
	assert_int_equal(load("alice:%h:admin\n", 0640, &a, err, sizeof(err)), 0);
	console_accounts_free(a);
	assert_int_equal(load("# nobody yet\n\n", 0600, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "console.users: no account in the console users file: add "
				 "name:crypt-hash:admin\n");
	struct buf b = BUF_INIT;
	assert_int_equal(console_accounts_load("/nonexistent/console.users", servers, 3, &a, &b), -1);
	assert_string_equal(buf_str(&b), "/nonexistent/console.users: cannot open console users file: "
					 "No such file or directory\n");
	buf_free(&b);
}

/* ---- sessions and CSRF ----------------------------------------------------------- */

static bool hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static void test_console_session_tokens(void **state)
{
	struct console_sessions *s = console_sessions_new(0);
	const struct console_session *x = console_session_open(s, "alice", T0);
	assert_non_null(x);
	char token[CONSOLE_TOKEN_HEX + 1], csrf[CONSOLE_TOKEN_HEX + 1];
	strcpy(token, x->token);
	strcpy(csrf, x->csrf);
	assert_true(hex64(token));
	assert_true(hex64(csrf));
	assert_string_not_equal(token, csrf);
	assert_string_equal(x->user, "alice");
	const struct console_session *y = console_session_open(s, "alice", T0);
	assert_string_not_equal(y->token, token);	/* a new login, a new session */
	assert_int_equal(console_sessions_count(s), 2);

	x = console_session_find(s, token, T0 + 1);
	assert_non_null(x);
	assert_string_equal(x->csrf, csrf);
	assert_true(console_csrf_ok(x, csrf));
	assert_false(console_csrf_ok(x, NULL));
	assert_false(console_csrf_ok(x, ""));
	char wrong[CONSOLE_TOKEN_HEX + 1];
	strcpy(wrong, csrf);
	wrong[63] = wrong[63] == '0' ? '1' : '0';
	assert_false(console_csrf_ok(x, wrong));
	wrong[63] = '\0';
	assert_false(console_csrf_ok(x, wrong));
	assert_false(console_csrf_ok(x, token));

	/* near misses and odd shapes find nothing */
	strcpy(wrong, token);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	assert_null(console_session_find(s, wrong, T0 + 1));
	strcpy(wrong, token);
	wrong[0] = 'G';		/* not hex */
	assert_null(console_session_find(s, wrong, T0 + 1));
	assert_null(console_session_find(s, NULL, T0 + 1));
	assert_null(console_session_find(s, "", T0 + 1));
	char longer[CONSOLE_TOKEN_HEX + 2];
	snprintf(longer, sizeof(longer), "%s0", token);
	assert_null(console_session_find(s, longer, T0 + 1));

	console_session_close(s, token);
	assert_null(console_session_find(s, token, T0 + 2));
	assert_int_equal(console_sessions_count(s), 1);
	console_session_close(s, token);	/* twice: nothing */
	console_sessions_free(s);
	console_sessions_free(NULL);
}

static void test_console_session_idle_expiry(void **state)
{
	struct console_sessions *s = console_sessions_new(0);
	char token[CONSOLE_TOKEN_HEX + 1];
	strcpy(token, console_session_open(s, "bob", T0)->token);
	/* each use moves the idle limit on */
	time_t t = T0;
	for (int i = 0; i < 5; i++) {
		t += CONSOLE_SESSION_IDLE - 1;
		assert_non_null(console_session_find(s, token, t));
	}
	assert_null(console_session_find(s, token, t + CONSOLE_SESSION_IDLE));
	assert_int_equal(console_sessions_count(s), 0);	/* closed on the way */
	assert_null(console_session_find(s, token, t + 1));
	console_sessions_free(s);
}

static void test_console_session_absolute_lifetime(void **state)
{
	struct console_sessions *s = console_sessions_new(0);
	char token[CONSOLE_TOKEN_HEX + 1];
	strcpy(token, console_session_open(s, "carol", T0)->token);
	time_t t = T0;
	while (t + 600 < T0 + CONSOLE_SESSION_LIFETIME) {
		t += 600;
		assert_non_null(console_session_find(s, token, t));
	}
	assert_non_null(console_session_find(s, token, T0 + CONSOLE_SESSION_LIFETIME - 1));
	assert_null(console_session_find(s, token, T0 + CONSOLE_SESSION_LIFETIME));
	console_sessions_free(s);
}

static void test_console_sessions_bounded_least_recently_used_goes(void **state)
{
	struct console_sessions *s = console_sessions_new(3);
	char t[4][CONSOLE_TOKEN_HEX + 1];
	for (int i = 0; i < 3; i++)
		strcpy(t[i], console_session_open(s, "u", T0 + i)->token);
	assert_non_null(console_session_find(s, t[0], T0 + 10));	/* t[1] is now the least recent */
	strcpy(t[3], console_session_open(s, "u", T0 + 11)->token);
	assert_int_equal(console_sessions_count(s), 3);
	assert_null(console_session_find(s, t[1], T0 + 12));
	assert_non_null(console_session_find(s, t[0], T0 + 12));
	assert_non_null(console_session_find(s, t[2], T0 + 12));
	assert_non_null(console_session_find(s, t[3], T0 + 12));
	console_sessions_free(s);
}

/* ---- the throttle -------------------------------------------------------------------- */

/* One failed login from ip at now (it must be allowed to begin). */
static void failed_login(struct console_throttle *t, const char *ip, time_t now)
{
	assert_int_equal(console_throttle_begin(t, ip, now), 0);
	console_throttle_end(t, ip, false, now);
}

static void test_console_throttle_five_failures_block_fifteen_minutes(void **state)
{
	struct console_throttle *t = console_throttle_new(0);
	for (int i = 0; i < CONSOLE_THROTTLE_FAILURES; i++)
		failed_login(t, "192.0.2.1", T0 + 60 * i);	/* the last at T0 + 240 */
	assert_int_equal(console_throttle_begin(t, "192.0.2.1", T0 + 240), CONSOLE_THROTTLE_WINDOW);
	assert_int_equal(console_throttle_begin(t, "192.0.2.1", T0 + 300), CONSOLE_THROTTLE_WINDOW - 60);
	assert_int_equal(console_throttle_begin(t, "192.0.2.1", T0 + 240 + CONSOLE_THROTTLE_WINDOW - 1), 1);
	/* another address is not held back */
	assert_int_equal(console_throttle_begin(t, "192.0.2.2", T0 + 300), 0);
	console_throttle_end(t, "192.0.2.2", true, T0 + 300);
	/* 15 minutes after the last failure: allowed again, and one failure does not block */
	time_t later = T0 + 240 + CONSOLE_THROTTLE_WINDOW;
	failed_login(t, "192.0.2.1", later);
	assert_int_equal(console_throttle_begin(t, "192.0.2.1", later + 1), 0);
	console_throttle_end(t, "192.0.2.1", true, later + 1);
	console_throttle_free(t);
	console_throttle_free(NULL);
}

static void test_console_throttle_spread_out_failures_do_not_block(void **state)
{
	struct console_throttle *t = console_throttle_new(0);
	/* five failures, but never five within 15 minutes */
	for (int i = 0; i < 20; i++)
		failed_login(t, "198.51.100.7", T0 + (time_t)i * (CONSOLE_THROTTLE_WINDOW / 4 + 1));
	assert_int_equal(console_throttle_begin(t, "198.51.100.7", T0 + 20 * 226), 0);
	console_throttle_cancel(t, "198.51.100.7");
	console_throttle_free(t);
}

static void test_console_throttle_success_clears(void **state)
{
	struct console_throttle *t = console_throttle_new(0);
	for (int i = 0; i < CONSOLE_THROTTLE_FAILURES - 1; i++)
		failed_login(t, "203.0.113.9", T0 + i);
	assert_int_equal(console_throttle_begin(t, "203.0.113.9", T0 + 10), 0);
	console_throttle_end(t, "203.0.113.9", true, T0 + 10);
	for (int i = 0; i < CONSOLE_THROTTLE_FAILURES - 1; i++)
		failed_login(t, "203.0.113.9", T0 + 20 + i);
	assert_int_equal(console_throttle_begin(t, "203.0.113.9", T0 + 30), 0);	/* four, not eight */
	console_throttle_end(t, "203.0.113.9", false, T0 + 30);
	assert_true(console_throttle_begin(t, "203.0.113.9", T0 + 31) > 0);
	console_throttle_free(t);
}

static void test_console_throttle_one_check_at_a_time(void **state)
{
	struct console_throttle *t = console_throttle_new(0);
	assert_int_equal(console_throttle_begin(t, "192.0.2.5", T0), 0);
	assert_int_equal(console_throttle_begin(t, "192.0.2.5", T0), 1);
	assert_int_equal(console_throttle_begin(t, "::ffff:192.0.2.5", T0), 1);	/* v4-mapped: the same */
	console_throttle_cancel(t, "192.0.2.5");
	/* a cancelled check counted nothing */
	for (int i = 0; i < CONSOLE_THROTTLE_FAILURES - 1; i++)
		failed_login(t, "192.0.2.5", T0 + i);
	assert_int_equal(console_throttle_begin(t, "192.0.2.5", T0 + 9), 0);
	console_throttle_end(t, "192.0.2.5", false, T0 + 9);
	assert_true(console_throttle_begin(t, "192.0.2.5", T0 + 10) > 0);
	console_throttle_free(t);
}

static void test_console_throttle_ipv6_per_64(void **state)
{
	struct console_throttle *t = console_throttle_new(0);
	char ip[64];
	for (int i = 0; i < CONSOLE_THROTTLE_FAILURES; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2::%x", i + 1);
		failed_login(t, ip, T0 + i);
	}
	assert_true(console_throttle_begin(t, "2001:db8:1:2:ffff::1", T0 + 10) > 0);
	assert_int_equal(console_throttle_begin(t, "2001:db8:1:3::1", T0 + 10), 0);
	console_throttle_free(t);
}

static void test_console_throttle_bounded(void **state)
{
	struct console_throttle *t = console_throttle_new(2);
	for (int i = 0; i < CONSOLE_THROTTLE_FAILURES; i++)
		failed_login(t, "192.0.2.1", T0 + i);
	for (int i = 0; i < CONSOLE_THROTTLE_FAILURES; i++)
		failed_login(t, "192.0.2.2", T0 + 10 + i);
	assert_true(console_throttle_begin(t, "192.0.2.1", T0 + 20) > 0);
	/* a third address: the one whose last failure is oldest (192.0.2.1) is forgotten */
	failed_login(t, "192.0.2.3", T0 + 21);
	assert_int_equal(console_throttle_begin(t, "192.0.2.1", T0 + 22), 0);
	console_throttle_cancel(t, "192.0.2.1");
	console_throttle_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_console_accounts_roles),
		cmocka_unit_test(test_console_accounts_errors_with_file_and_line),
		cmocka_unit_test(test_console_accounts_file_problems),
		cmocka_unit_test(test_console_session_tokens),
		cmocka_unit_test(test_console_session_idle_expiry),
		cmocka_unit_test(test_console_session_absolute_lifetime),
		cmocka_unit_test(test_console_sessions_bounded_least_recently_used_goes),
		cmocka_unit_test(test_console_throttle_five_failures_block_fifteen_minutes),
		cmocka_unit_test(test_console_throttle_spread_out_failures_do_not_block),
		cmocka_unit_test(test_console_throttle_success_clears),
		cmocka_unit_test(test_console_throttle_one_check_at_a_time),
		cmocka_unit_test(test_console_throttle_ipv6_per_64),
		cmocka_unit_test(test_console_throttle_bounded),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
