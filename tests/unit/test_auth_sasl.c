/*
 * test_auth_sasl.c — SASL PLAIN/LOGIN exchanges and strict base64.
 *
 * Each case drives auth_sasl_start()/auth_sasl_step() with the bytes a
 * client would send and checks the exact status, the exact reply (code,
 * enhanced code, challenge) and the extracted fields; secrets are checked
 * to be wiped through the pointers the object handed out.
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

#include "auth_sasl.h"
#include "lib/base64.h"

/* ---- helpers ------------------------------------------------------------- */

static struct buf enc;

/* base64 of data[0..len), valid until the next call. */
static const char *b64n(const void *data, size_t len)
{
	buf_reset(&enc);
	base64_encode(&enc, data, len);
	return buf_str(&enc);
}

/* base64 of authzid NUL authcid NUL passwd. */
static const char *plain(const char *authzid, const char *authcid, const char *passwd)
{
	char msg[4096];
	size_t a = strlen(authzid), c = strlen(authcid), p = strlen(passwd);
	assert_true(a + c + p + 2 <= sizeof(msg));
	memcpy(msg, authzid, a);
	msg[a] = '\0';
	memcpy(msg + a + 1, authcid, c);
	msg[a + 1 + c] = '\0';
	memcpy(msg + a + 2 + c, passwd, p);
	return b64n(msg, a + c + p + 2);
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

static void expect_reply(const struct auth_sasl *s, int code, const char *enh, const char *text)
{
	struct auth_sasl_reply r;
	auth_sasl_reply(s, &r);
	assert_int_equal(r.code, code);
	if (enh == NULL)
		assert_null(r.enh);
	else
		assert_string_equal(r.enh, enh);
	if (text != NULL)
		assert_string_equal(r.text, text);
}

static void expect_failed(struct auth_sasl *s, enum auth_sasl_status st, enum auth_sasl_error err,
			  int code, const char *enh)
{
	assert_int_equal(st, AUTH_SASL_FAILED);
	assert_int_equal(auth_sasl_error(s), err);
	expect_reply(s, code, enh, NULL);
	assert_string_equal(auth_sasl_authcid(s), "");
	assert_string_equal(auth_sasl_authzid(s), "");
	assert_string_equal(auth_sasl_password(s), "");
}

/* Starts PLAIN with initial response ir and returns the status. */
static enum auth_sasl_status plain_ir(struct auth_sasl *s, const char *ir)
{
	return auth_sasl_start(s, "PLAIN", ir);
}

static enum auth_sasl_status step_str(struct auth_sasl *s, const char *line)
{
	return auth_sasl_step(s, line, strlen(line));
}

static int setup(void **state)
{
	*state = auth_sasl_new();
	buf_init(&enc);
	return 0;
}

static int teardown(void **state)
{
	auth_sasl_free(*state);
	buf_free(&enc);
	return 0;
}

/* ---- PLAIN --------------------------------------------------------------- */

static void test_auth_sasl_plain_initial_response(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(plain_ir(s, plain("", "alice", "s3cret")), AUTH_SASL_DONE);
	assert_int_equal(auth_sasl_mechanism(s), AUTH_SASL_MECH_PLAIN);
	assert_string_equal(auth_sasl_authzid(s), "");
	assert_string_equal(auth_sasl_authcid(s), "alice");
	assert_string_equal(auth_sasl_password(s), "s3cret");
	assert_int_equal(auth_sasl_error(s), AUTH_SASL_ERR_NONE);
	expect_reply(s, 235, "2.7.0", "Authentication successful");
}

static void test_auth_sasl_plain_rfc4616_example(void **state)
{
	struct auth_sasl *s = *state;
	/* RFC 4616 4: "\0tim\0tanstaaftanstaaf" */
	assert_int_equal(plain_ir(s, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_authcid(s), "tim");
	assert_string_equal(auth_sasl_password(s), "tanstaaftanstaaf");
}

static void test_auth_sasl_plain_no_initial_response_empty_challenge(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_reply(s, 334, NULL, "");
	assert_string_equal(auth_sasl_password(s), "");
	assert_int_equal(step_str(s, plain("", "bob", "pw")), AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_authcid(s), "bob");
	assert_string_equal(auth_sasl_password(s), "pw");
	expect_reply(s, 235, "2.7.0", NULL);
}

static void test_auth_sasl_plain_authzid_equal_accepted(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(plain_ir(s, plain("alice", "alice", "pw")), AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_authzid(s), "alice");
	assert_string_equal(auth_sasl_authcid(s), "alice");
}

static void test_auth_sasl_plain_authzid_different_is_535(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, plain("root", "alice", "pw")), AUTH_SASL_ERR_AUTHZID, 535,
		      "5.7.8");
}

static void test_auth_sasl_plain_authzid_prefix_is_535(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, plain("alic", "alice", "pw")), AUTH_SASL_ERR_AUTHZID, 535,
		      "5.7.8");
	expect_failed(s, plain_ir(s, plain("Alice", "alice", "pw")), AUTH_SASL_ERR_AUTHZID, 535,
		      "5.7.8");
}

static void test_auth_sasl_plain_missing_nuls_is_535(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, b64n("alicepw", 7)), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
	expect_failed(s, plain_ir(s, b64n("\0alicepw", 8)), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
}

static void test_auth_sasl_plain_nul_in_password_is_535(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, b64n("\0alice\0p\0w", 10)), AUTH_SASL_ERR_MALFORMED, 535,
		      "5.7.8");
}

static void test_auth_sasl_plain_empty_fields_are_535(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, plain("", "", "pw")), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
	expect_failed(s, plain_ir(s, plain("", "alice", "")), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
	expect_failed(s, plain_ir(s, b64n("\0\0", 2)), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
}

static void test_auth_sasl_plain_equals_is_empty_response(void **state)
{
	struct auth_sasl *s = *state;
	/* "=" decodes to the empty message, which has no NUL. */
	expect_failed(s, plain_ir(s, "="), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
}

static void test_auth_sasl_plain_empty_string_initial_response_is_501(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, ""), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

static void test_auth_sasl_plain_255_octet_fields_accepted(void **state)
{
	struct auth_sasl *s = *state;
	char *a = repeat('a', AUTH_SASL_FIELD_MAX);
	char *p = repeat('p', AUTH_SASL_FIELD_MAX);
	assert_int_equal(plain_ir(s, plain(a, a, p)), AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_authcid(s), a);
	assert_string_equal(auth_sasl_authzid(s), a);
	assert_string_equal(auth_sasl_password(s), p);
	free(a);
	free(p);
}

static void test_auth_sasl_plain_oversized_fields_are_500(void **state)
{
	struct auth_sasl *s = *state;
	char *big = repeat('x', AUTH_SASL_FIELD_MAX + 1);
	expect_failed(s, plain_ir(s, plain("", big, "pw")), AUTH_SASL_ERR_TOO_LONG, 500, "5.5.6");
	expect_failed(s, plain_ir(s, plain("", "alice", big)), AUTH_SASL_ERR_TOO_LONG, 500, "5.5.6");
	expect_failed(s, plain_ir(s, plain(big, "alice", "pw")), AUTH_SASL_ERR_TOO_LONG, 500,
		      "5.5.6");
	free(big);
}

static void test_auth_sasl_plain_oversized_message_is_500(void **state)
{
	struct auth_sasl *s = *state;
	char *big = repeat('x', 2000);
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, plain("", "alice", big)), AUTH_SASL_ERR_TOO_LONG, 500, "5.5.6");
	expect_reply(s, 500, "5.5.6", "Authentication exchange line is too long");
	free(big);
}

static void test_auth_sasl_plain_utf8_identities_accepted(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(plain_ir(s, plain("", "j\xc3\xb6rg@\xe4\xbe\x8b.test", "p\xc3\xa4ss")),
			 AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_authcid(s), "j\xc3\xb6rg@\xe4\xbe\x8b.test");
	assert_string_equal(auth_sasl_password(s), "p\xc3\xa4ss");
}

static void test_auth_sasl_plain_invalid_utf8_is_535(void **state)
{
	struct auth_sasl *s = *state;
	static const char *bad[] = {
		"\xc3\x28",		/* bad continuation */
		"\xc0\xaf",		/* overlong "/" */
		"\xe0\x80\xaf",		/* overlong 3-byte */
		"\xf0\x8f\xbf\xbf",	/* overlong 4-byte U+FFFF */
		"\xf8\x88\x80\x80\x80",	/* 5-byte form */
		"\x80",		/* lone continuation */
		"\xed\xa0\x80",		/* surrogate U+D800 */
		"\xf4\x90\x80\x80",	/* past U+10FFFF */
		"\xff",
		"a\xe2\x82",		/* truncated */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_failed(s, plain_ir(s, plain("", bad[i], "pw")), AUTH_SASL_ERR_MALFORMED, 535,
			      "5.7.8");
		expect_failed(s, plain_ir(s, plain("", "alice", bad[i])), AUTH_SASL_ERR_MALFORMED,
			      535, "5.7.8");
	}
}

static void test_auth_sasl_plain_control_chars_in_authcid_are_535(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, plain("", "ali\r\nce", "pw")), AUTH_SASL_ERR_MALFORMED, 535,
		      "5.7.8");
	expect_failed(s, plain_ir(s, plain("", "alice\x7f", "pw")), AUTH_SASL_ERR_MALFORMED, 535,
		      "5.7.8");
	expect_failed(s, plain_ir(s, plain("a\tb", "a\tb", "pw")), AUTH_SASL_ERR_MALFORMED, 535,
		      "5.7.8");
	/* Controls are fine in a password (it is only hashed). */
	assert_int_equal(plain_ir(s, plain("", "alice", "p\tw\x01")), AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_password(s), "p\tw\x01");
}

static void test_auth_sasl_plain_cancel_is_501_570(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "*"), AUTH_SASL_ERR_CANCELLED, 501, "5.7.0");
	expect_reply(s, 501, "5.7.0", "Authentication cancelled");
}

static void test_auth_sasl_star_initial_response_is_bad_base64(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, "*"), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

static void test_auth_sasl_double_star_is_not_cancel(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "**"), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "* "), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

static void test_auth_sasl_equals_continuation_is_bad_base64(void **state)
{
	struct auth_sasl *s = *state;
	/* "=" means "empty" only as an initial response (RFC 4954 4). */
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "="), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

static void test_auth_sasl_empty_continuation_is_535(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, ""), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
}

/* ---- base64 strictness through the exchange ------------------------------- */

static void test_auth_sasl_bad_base64_variants_are_501_552(void **state)
{
	struct auth_sasl *s = *state;
	/* "AGFsaWNlAHB3" is "\0alice\0pw" */
	assert_int_equal(plain_ir(s, "AGFsaWNlAHB3"), AUTH_SASL_DONE);
	static const char *bad[] = {
		"AGFsaWNlAHB",		/* length not a multiple of 4 */
		"AGFsaWNlAHB3=",	/* stray padding */
		"AGFsaWNlAHB3====",	/* a whole group of padding */
		"AGFs=WNlAHB3",		/* padding in the middle */
		"AGFsaWNl AHB3",	/* space */
		"AGFsaWNlAHB3 ",	/* trailing space */
		" AGFsaWNlAHB3",	/* leading space */
		"AGFsaWNl\tAHB3",	/* tab */
		"AGFsaWNlAHB3\r",	/* CR left over */
		"AGFsaWNl-HB3",		/* base64url alphabet */
		"AGFsaWNl_HB3",
		"AGFsaWNl!HB3",
		"AGFsaWNlAHB\xc3",	/* 8-bit byte */
		"AB==",			/* non-zero unused bits (RFC 4648 3.5) */
		"ABC=",
		"A===",
		"====",
		"AA=A",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_failed(s, plain_ir(s, bad[i]), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
		assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
		expect_failed(s, step_str(s, bad[i]), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
	}
	expect_reply(s, 501, "5.5.2", "Cannot decode response: invalid base64");
}

static void test_auth_sasl_nul_in_line_is_501(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, auth_sasl_step(s, "AGFs\0WNlAHB3", 12), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

static void test_auth_sasl_line_over_limit_is_500_unread(void **state)
{
	struct auth_sasl *s = *state;
	char *line = repeat('!', AUTH_SASL_LINE_MAX + 1);
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	/* Invalid characters, yet 500 5.5.6: an overlong line is not read. */
	expect_failed(s, auth_sasl_step(s, line, AUTH_SASL_LINE_MAX + 1), AUTH_SASL_ERR_TOO_LONG, 500,
		      "5.5.6");
	/* A caller that dropped the tail passes what it kept, with the real length. */
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, auth_sasl_step(s, "AAAA", (size_t)1 << 20), AUTH_SASL_ERR_TOO_LONG, 500,
		      "5.5.6");
	/* An initial response longer than a line, too. */
	char *ir = repeat('A', AUTH_SASL_LINE_MAX + 4);
	expect_failed(s, plain_ir(s, ir), AUTH_SASL_ERR_TOO_LONG, 500, "5.5.6");
	free(ir);
	free(line);
}

static void test_auth_sasl_size_checked_before_characters(void **state)
{
	struct auth_sasl *s = *state;
	/* A line within AUTH_SASL_LINE_MAX that would decode to more than the
	 * mechanism holds is 500 5.5.6 whatever its characters... */
	char *line = repeat('A', AUTH_SASL_LINE_MAX);
	line[5] = '!';
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, auth_sasl_step(s, line, AUTH_SASL_LINE_MAX), AUTH_SASL_ERR_TOO_LONG, 500,
		      "5.5.6");
	free(line);
	/* ...and so is a well-formed one (3 * 255 + 3 octets > PLAIN's 767). */
	char *big = repeat('x', 3 * AUTH_SASL_FIELD_MAX + 3);
	assert_int_equal(auth_sasl_start(s, "PLAIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, b64n(big, strlen(big))), AUTH_SASL_ERR_TOO_LONG, 500, "5.5.6");
	free(big);
}

/* ---- LOGIN --------------------------------------------------------------- */

static void test_auth_sasl_login_full_exchange(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	expect_reply(s, 334, NULL, "VXNlcm5hbWU6");
	assert_int_equal(step_str(s, b64n("carol", 5)), AUTH_SASL_CONTINUE);
	expect_reply(s, 334, NULL, "UGFzc3dvcmQ6");
	assert_string_equal(auth_sasl_authcid(s), "");	/* not DONE yet */
	assert_int_equal(step_str(s, b64n("hunter2", 7)), AUTH_SASL_DONE);
	assert_int_equal(auth_sasl_mechanism(s), AUTH_SASL_MECH_LOGIN);
	assert_string_equal(auth_sasl_authcid(s), "carol");
	assert_string_equal(auth_sasl_authzid(s), "");
	assert_string_equal(auth_sasl_password(s), "hunter2");
	expect_reply(s, 235, "2.7.0", "Authentication successful");
}

static void test_auth_sasl_login_challenges_decode_to_prompts(void **state)
{
	struct auth_sasl *s = *state;
	struct auth_sasl_reply r;
	unsigned char out[32];
	size_t n;
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	auth_sasl_reply(s, &r);
	assert_int_equal(base64_decode(r.text, strlen(r.text), out, sizeof(out), &n), BASE64_OK);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "Username:", 9);
	assert_int_equal(step_str(s, b64n("u", 1)), AUTH_SASL_CONTINUE);
	auth_sasl_reply(s, &r);
	assert_int_equal(base64_decode(r.text, strlen(r.text), out, sizeof(out), &n), BASE64_OK);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "Password:", 9);
}

static void test_auth_sasl_login_initial_response_is_username(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", b64n("dave", 4)), AUTH_SASL_CONTINUE);
	expect_reply(s, 334, NULL, "UGFzc3dvcmQ6");
	assert_int_equal(step_str(s, b64n("pw", 2)), AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_authcid(s), "dave");
	assert_string_equal(auth_sasl_password(s), "pw");
}

static void test_auth_sasl_login_initial_response_errors(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, auth_sasl_start(s, "LOGIN", "="), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
	expect_failed(s, auth_sasl_start(s, "LOGIN", "ZGF2ZQ"), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
	expect_failed(s, auth_sasl_start(s, "LOGIN", ""), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

static void test_auth_sasl_login_cancel_at_each_step(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "*"), AUTH_SASL_ERR_CANCELLED, 501, "5.7.0");
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n("carol", 5)), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "*"), AUTH_SASL_ERR_CANCELLED, 501, "5.7.0");
}

static void test_auth_sasl_login_empty_fields_are_535(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, ""), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n("carol", 5)), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, ""), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
}

static void test_auth_sasl_login_field_limits(void **state)
{
	struct auth_sasl *s = *state;
	char *max = repeat('m', AUTH_SASL_FIELD_MAX);
	char *big = repeat('b', AUTH_SASL_FIELD_MAX + 1);
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n(max, AUTH_SASL_FIELD_MAX)), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n(max, AUTH_SASL_FIELD_MAX)), AUTH_SASL_DONE);
	assert_string_equal(auth_sasl_authcid(s), max);
	assert_string_equal(auth_sasl_password(s), max);

	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, b64n(big, AUTH_SASL_FIELD_MAX + 1)), AUTH_SASL_ERR_TOO_LONG, 500,
		      "5.5.6");
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n("u", 1)), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, b64n(big, AUTH_SASL_FIELD_MAX + 1)), AUTH_SASL_ERR_TOO_LONG, 500,
		      "5.5.6");
	free(max);
	free(big);
}

static void test_auth_sasl_login_username_checks(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, b64n("car\r\nol", 7)), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, b64n("car\0ol", 6)), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, b64n("\xc0\xaf", 2)), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
}

static void test_auth_sasl_login_password_any_bytes_but_nul(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", b64n("eve", 3)), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n("p\xe4ss", 4)), AUTH_SASL_DONE);	/* Latin-1 */
	assert_string_equal(auth_sasl_password(s), "p\xe4ss");
	assert_int_equal(auth_sasl_start(s, "LOGIN", b64n("eve", 3)), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, b64n("p\0ss", 4)), AUTH_SASL_ERR_MALFORMED, 535, "5.7.8");
}

static void test_auth_sasl_login_bad_base64_password_is_501(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", b64n("eve", 3)), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, "cGFzcw=="), AUTH_SASL_DONE);	/* "pass" */
	assert_int_equal(auth_sasl_start(s, "LOGIN", b64n("eve", 3)), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "cGFzcw="), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
	assert_int_equal(auth_sasl_start(s, "LOGIN", b64n("eve", 3)), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "cGFzcx=="), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

/* ---- mechanisms ----------------------------------------------------------- */

static void test_auth_sasl_unknown_mechanism_is_504(void **state)
{
	struct auth_sasl *s = *state;
	static const char *bad[] = { "CRAM-MD5", "DIGEST-MD5", "GSSAPI", "XOAUTH2", "PLAINX",
				     "PLAI", "LOGIN ", " LOGIN", "", "P\303\244AIN", "PLAIN\t" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_failed(s, auth_sasl_start(s, bad[i], NULL), AUTH_SASL_ERR_MECHANISM, 504,
			      "5.5.4");
		assert_int_equal(auth_sasl_mechanism(s), AUTH_SASL_MECH_UNKNOWN);
	}
	expect_failed(s, auth_sasl_start(s, NULL, NULL), AUTH_SASL_ERR_MECHANISM, 504, "5.5.4");
	/* The mechanism is checked before the initial response. */
	expect_failed(s, auth_sasl_start(s, "CRAM-MD5", "!!!"), AUTH_SASL_ERR_MECHANISM, 504,
		      "5.5.4");
	expect_reply(s, 504, "5.5.4", "Unrecognized authentication mechanism");
}

static void test_auth_sasl_mechanism_names_case_insensitive(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_mech_lookup("plain"), AUTH_SASL_MECH_PLAIN);
	assert_int_equal(auth_sasl_mech_lookup("PlAiN"), AUTH_SASL_MECH_PLAIN);
	assert_int_equal(auth_sasl_mech_lookup("login"), AUTH_SASL_MECH_LOGIN);
	assert_int_equal(auth_sasl_mech_lookup("Login"), AUTH_SASL_MECH_LOGIN);
	assert_int_equal(auth_sasl_mech_lookup("LOGIN"), AUTH_SASL_MECH_LOGIN);
	assert_int_equal(auth_sasl_mech_lookup(NULL), AUTH_SASL_MECH_UNKNOWN);
	assert_int_equal(auth_sasl_start(s, "pLaIn", plain("", "a", "b")), AUTH_SASL_DONE);
	assert_int_equal(auth_sasl_start(s, "login", NULL), AUTH_SASL_CONTINUE);
	expect_reply(s, 334, NULL, "VXNlcm5hbWU6");
}

static void test_auth_sasl_mechanism_names(void **state)
{
	assert_string_equal(auth_sasl_mech_name(AUTH_SASL_MECH_PLAIN), "PLAIN");
	assert_string_equal(auth_sasl_mech_name(AUTH_SASL_MECH_LOGIN), "LOGIN");
	assert_string_equal(auth_sasl_mech_name(AUTH_SASL_MECH_UNKNOWN), "");
	assert_string_equal(AUTH_SASL_MECHANISMS, "PLAIN LOGIN");
}

/* ---- sequence, reject, wiping --------------------------------------------- */

static void test_auth_sasl_step_before_start_is_503(void **state)
{
	struct auth_sasl *s = *state;
	expect_reply(s, 503, "5.5.1", NULL);
	expect_failed(s, step_str(s, "AAAA"), AUTH_SASL_ERR_SEQUENCE, 503, "5.5.1");
}

static void test_auth_sasl_step_after_done_is_503_and_wipes(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(plain_ir(s, plain("", "alice", "pw")), AUTH_SASL_DONE);
	const char *pw = auth_sasl_password(s);
	expect_failed(s, step_str(s, "AAAA"), AUTH_SASL_ERR_SEQUENCE, 503, "5.5.1");
	assert_int_equal(pw[0], 0);
	assert_int_equal(pw[1], 0);
}

static void test_auth_sasl_step_after_failure_is_503(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, plain_ir(s, "!"), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
	expect_failed(s, step_str(s, plain("", "a", "b")), AUTH_SASL_ERR_SEQUENCE, 503, "5.5.1");
}

static void test_auth_sasl_reject_is_535_and_wipes(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(plain_ir(s, plain("alice", "alice", "s3cret")), AUTH_SASL_DONE);
	const char *pw = auth_sasl_password(s);
	const char *cid = auth_sasl_authcid(s);
	assert_int_equal(auth_sasl_reject(s), AUTH_SASL_FAILED);
	assert_int_equal(auth_sasl_error(s), AUTH_SASL_ERR_CREDENTIALS);
	expect_reply(s, 535, "5.7.8", "Authentication credentials invalid");
	for (size_t i = 0; i <= AUTH_SASL_FIELD_MAX; i++) {
		assert_int_equal(pw[i], 0);
		assert_int_equal(cid[i], 0);
	}
	assert_string_equal(auth_sasl_password(s), "");
}

static void test_auth_sasl_failure_wipes_login_username(void **state)
{
	struct auth_sasl *s = *state;
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n("carol", 5)), AUTH_SASL_CONTINUE);
	assert_int_equal(step_str(s, b64n("pw", 2)), AUTH_SASL_DONE);
	const char *pw = auth_sasl_password(s);
	assert_int_equal(auth_sasl_start(s, "LOGIN", NULL), AUTH_SASL_CONTINUE);
	assert_int_equal(pw[0], 0);	/* a new start wipes the old secret */
	assert_int_equal(step_str(s, b64n("dave", 4)), AUTH_SASL_CONTINUE);
	expect_failed(s, step_str(s, "!!!!"), AUTH_SASL_ERR_BASE64, 501, "5.5.2");
}

static void test_auth_sasl_restart_after_failure(void **state)
{
	struct auth_sasl *s = *state;
	expect_failed(s, auth_sasl_start(s, "CRAM-MD5", NULL), AUTH_SASL_ERR_MECHANISM, 504, "5.5.4");
	assert_int_equal(plain_ir(s, plain("", "alice", "pw")), AUTH_SASL_DONE);
	assert_int_equal(auth_sasl_error(s), AUTH_SASL_ERR_NONE);
	assert_string_equal(auth_sasl_authcid(s), "alice");
}

static void test_auth_sasl_free_null_is_harmless(void **state)
{
	auth_sasl_free(NULL);
}

/* Every reply the engine can give: a valid code and enhanced code pair. */
static void test_auth_sasl_every_reply_is_well_formed(void **state)
{
	struct auth_sasl *s = *state;
	struct auth_sasl_reply r;
	const char *irs[] = { NULL, "=", "", "!", "AAAA", "AGFsaWNlAHB3", "cm9vdABhAGI=" };
	const char *mechs[] = { "PLAIN", "LOGIN", "X" };
	for (size_t m = 0; m < 3; m++) {
		for (size_t i = 0; i < sizeof(irs) / sizeof(irs[0]); i++) {
			auth_sasl_start(s, mechs[m], irs[i]);
			auth_sasl_reply(s, &r);
			assert_non_null(r.text);
			assert_null(strpbrk(r.text, "\r\n"));
			if (r.code == 334) {
				assert_null(r.enh);
				continue;
			}
			assert_true(r.code >= 200 && r.code < 600);
			assert_non_null(r.enh);
			assert_int_equal(r.enh[0], '0' + r.code / 100);
			assert_int_equal(r.enh[1], '.');
		}
	}
}

/* ---- lib/base64 ------------------------------------------------------------ */

static void test_auth_sasl_base64_rfc4648_vectors(void **state)
{
	static const char *plainv[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *codedv[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					"Zm9vYmFy" };
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(b64n(plainv[i], strlen(plainv[i])), codedv[i]);
		assert_int_equal(base64_encoded_len(strlen(plainv[i])), strlen(codedv[i]));
		unsigned char out[16];
		size_t n = 99;
		assert_int_equal(base64_decode(codedv[i], strlen(codedv[i]), out, sizeof(out), &n),
				 BASE64_OK);
		assert_int_equal(n, strlen(plainv[i]));
		assert_memory_equal(out, plainv[i], n);
	}
}

static void test_auth_sasl_base64_roundtrip_all_bytes(void **state)
{
	unsigned char in[256], out[256];
	for (size_t i = 0; i < 256; i++)
		in[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= 256; len++) {
		const char *t = b64n(in, len);
		size_t n;
		assert_int_equal(base64_decode(t, strlen(t), out, len, &n), BASE64_OK);
		assert_int_equal(n, len);
		assert_memory_equal(out, in, len);
		if (len > 0) {
			assert_int_equal(base64_decode(t, strlen(t), out, len - 1, &n),
					 BASE64_TOO_LONG);
			assert_int_equal(n, 0);
		}
	}
}

static void test_auth_sasl_base64_invalid_clears_output(void **state)
{
	unsigned char out[16];
	memset(out, 0x5a, sizeof(out));
	size_t n = 7;
	/* First group valid ("foo"), second invalid: what was written is zeroed. */
	assert_int_equal(base64_decode("Zm9vZ!==", 8, out, sizeof(out), &n), BASE64_INVALID);
	assert_int_equal(n, 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 0);
	assert_int_equal(out[2], 0);
	assert_int_equal(out[3], 0x5a);
	/* Every single non-alphabet byte is refused in any position. */
	for (int c = 0; c < 256; c++) {
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/';
		char t[5] = "QUJD";
		t[1] = (char)c;
		enum base64_result want = alpha ? BASE64_OK : BASE64_INVALID;
		assert_int_equal(base64_decode(t, 4, out, sizeof(out), &n), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_auth_sasl_plain_initial_response),
		T(test_auth_sasl_plain_rfc4616_example),
		T(test_auth_sasl_plain_no_initial_response_empty_challenge),
		T(test_auth_sasl_plain_authzid_equal_accepted),
		T(test_auth_sasl_plain_authzid_different_is_535),
		T(test_auth_sasl_plain_authzid_prefix_is_535),
		T(test_auth_sasl_plain_missing_nuls_is_535),
		T(test_auth_sasl_plain_nul_in_password_is_535),
		T(test_auth_sasl_plain_empty_fields_are_535),
		T(test_auth_sasl_plain_equals_is_empty_response),
		T(test_auth_sasl_plain_empty_string_initial_response_is_501),
		T(test_auth_sasl_plain_255_octet_fields_accepted),
		T(test_auth_sasl_plain_oversized_fields_are_500),
		T(test_auth_sasl_plain_oversized_message_is_500),
		T(test_auth_sasl_plain_utf8_identities_accepted),
		T(test_auth_sasl_plain_invalid_utf8_is_535),
		T(test_auth_sasl_plain_control_chars_in_authcid_are_535),
		T(test_auth_sasl_plain_cancel_is_501_570),
		T(test_auth_sasl_star_initial_response_is_bad_base64),
		T(test_auth_sasl_double_star_is_not_cancel),
		T(test_auth_sasl_equals_continuation_is_bad_base64),
		T(test_auth_sasl_empty_continuation_is_535),
		T(test_auth_sasl_bad_base64_variants_are_501_552),
		T(test_auth_sasl_nul_in_line_is_501),
		T(test_auth_sasl_line_over_limit_is_500_unread),
		T(test_auth_sasl_size_checked_before_characters),
		T(test_auth_sasl_login_full_exchange),
		T(test_auth_sasl_login_challenges_decode_to_prompts),
		T(test_auth_sasl_login_initial_response_is_username),
		T(test_auth_sasl_login_initial_response_errors),
		T(test_auth_sasl_login_cancel_at_each_step),
		T(test_auth_sasl_login_empty_fields_are_535),
		T(test_auth_sasl_login_field_limits),
		T(test_auth_sasl_login_username_checks),
		T(test_auth_sasl_login_password_any_bytes_but_nul),
		T(test_auth_sasl_login_bad_base64_password_is_501),
		T(test_auth_sasl_unknown_mechanism_is_504),
		T(test_auth_sasl_mechanism_names_case_insensitive),
		T(test_auth_sasl_mechanism_names),
		T(test_auth_sasl_step_before_start_is_503),
		T(test_auth_sasl_step_after_done_is_503_and_wipes),
		T(test_auth_sasl_step_after_failure_is_503),
		T(test_auth_sasl_reject_is_535_and_wipes),
		T(test_auth_sasl_failure_wipes_login_username),
		T(test_auth_sasl_restart_after_failure),
		T(test_auth_sasl_free_null_is_harmless),
		T(test_auth_sasl_every_reply_is_well_formed),
		T(test_auth_sasl_base64_rfc4648_vectors),
		T(test_auth_sasl_base64_roundtrip_all_bytes),
		T(test_auth_sasl_base64_invalid_clears_output),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
