/*
 * auth_sasl.c — PURE SASL PLAIN and LOGIN server exchanges for SMTP AUTH.
 *
 * Owns one exchange's state and its decoded secrets, in fixed arrays inside
 * the object (no growth, so no stray copies in freed memory); nothing else.
 * It does not read sockets, check passwords or decide whether AUTH is
 * allowed now: the session and auth.c do (see auth_sasl.h).
 *
 * Invariants: a state other than DONE holds no password (sasl_fail() and
 * every start wipe it); the scratch buffer is wiped after every decode;
 * every reply has a code from RFC 4954 section 6 and an RFC 3463 code.
 * Errors are states, not return codes: every entry point returns the new
 * status and auth_sasl_error() tells why it failed.
 *
 * RFC 4954 sections 4 and 6, RFC 4616 section 2 (message = [authzid] NUL
 * authcid NUL passwd), draft-murchison-sasl-login-00 (challenges
 * "Username:" and "Password:"), RFC 4648 section 4 via lib/base64.
 * Proxy authorization is not supported: an authzid must equal the authcid.
 * SASLprep (RFC 4013, RECOMMENDED by RFC 4616) is not applied: names and
 * passwords are compared as the octets the client sent.
 */
#include "auth_sasl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/xalloc.h"

/* RFC 4616 2: the longest PLAIN message whose three fields we accept. */
#define AUTH_SASL_PLAIN_MAX (3 * AUTH_SASL_FIELD_MAX + 2)

#define AUTH_SASL_LOGIN_USER_CHALLENGE "VXNlcm5hbWU6"	/* base64("Username:") */
#define AUTH_SASL_LOGIN_PASS_CHALLENGE "UGFzc3dvcmQ6"	/* base64("Password:") */

enum auth_sasl_state {
	AUTH_SASL_STATE_IDLE,
	AUTH_SASL_STATE_PLAIN,		/* sent the empty challenge, waiting for the message */
	AUTH_SASL_STATE_LOGIN_USER,	/* sent "Username:" */
	AUTH_SASL_STATE_LOGIN_PASS,	/* sent "Password:" */
	AUTH_SASL_STATE_DONE,
	AUTH_SASL_STATE_FAILED,
};

struct auth_sasl {
	enum auth_sasl_state state;
	enum auth_sasl_mech mech;
	enum auth_sasl_error error;
	char authzid[AUTH_SASL_FIELD_MAX + 1];
	char authcid[AUTH_SASL_FIELD_MAX + 1];
	char password[AUTH_SASL_FIELD_MAX + 1];
	unsigned char scratch[AUTH_SASL_PLAIN_MAX];
};

struct auth_sasl *auth_sasl_new(void)
{
	return xcalloc(1, sizeof(struct auth_sasl));
}

static void sasl_wipe(struct auth_sasl *s)
{
	explicit_bzero(s->authzid, sizeof(s->authzid));
	explicit_bzero(s->authcid, sizeof(s->authcid));
	explicit_bzero(s->password, sizeof(s->password));
	explicit_bzero(s->scratch, sizeof(s->scratch));
}

void auth_sasl_free(struct auth_sasl *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, sizeof(*s));
	free(s);
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Case-insensitive in ASCII only, whatever the locale. */
static bool mech_equal(const char *name, const char *upper)
{
	for (; *name != '\0' && *upper != '\0'; name++, upper++)
		if (ascii_upper(*name) != *upper)
			return false;
	return *name == '\0' && *upper == '\0';
}

enum auth_sasl_mech auth_sasl_mech_lookup(const char *name)
{
	if (name == NULL)
		return AUTH_SASL_MECH_UNKNOWN;
	if (mech_equal(name, "PLAIN"))
		return AUTH_SASL_MECH_PLAIN;
	if (mech_equal(name, "LOGIN"))
		return AUTH_SASL_MECH_LOGIN;
	return AUTH_SASL_MECH_UNKNOWN;
}

const char *auth_sasl_mech_name(enum auth_sasl_mech m)
{
	switch (m) {
	case AUTH_SASL_MECH_UNKNOWN:
		return "";
	case AUTH_SASL_MECH_PLAIN:
		return "PLAIN";
	case AUTH_SASL_MECH_LOGIN:
		return "LOGIN";
	}
	return "";
}

static enum auth_sasl_status sasl_fail(struct auth_sasl *s, enum auth_sasl_error err)
{
	sasl_wipe(s);
	s->state = AUTH_SASL_STATE_FAILED;
	s->error = err;
	return AUTH_SASL_FAILED;
}

static enum auth_sasl_status sasl_continue(struct auth_sasl *s, enum auth_sasl_state next)
{
	s->state = next;
	return AUTH_SASL_CONTINUE;
}

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
 * U+10FFFF. NUL never reaches here (it separates PLAIN fields).
 */
static bool utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t more;
		unsigned long cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += more + 1;
	}
	return true;
}

static bool has_control(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

enum field_kind { FIELD_IDENTITY, FIELD_PASSWORD_UTF8, FIELD_PASSWORD_ANY };

/* Checks one field and copies it NUL-terminated into dst (FIELD_MAX + 1). */
static enum auth_sasl_error field_take(char *dst, const unsigned char *src, size_t n,
				       enum field_kind kind)
{
	if (n > AUTH_SASL_FIELD_MAX)
		return AUTH_SASL_ERR_TOO_LONG;
	if (memchr(src, '\0', n) != NULL)
		return AUTH_SASL_ERR_MALFORMED;
	switch (kind) {
	case FIELD_IDENTITY:
		if (!utf8_valid(src, n) || has_control(src, n))
			return AUTH_SASL_ERR_MALFORMED;
		break;
	case FIELD_PASSWORD_UTF8:
		if (!utf8_valid(src, n))
			return AUTH_SASL_ERR_MALFORMED;
		break;
	case FIELD_PASSWORD_ANY:
		break;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return AUTH_SASL_ERR_NONE;
}

/*
 * Decodes one response into s->scratch (at most cap bytes). A line over
 * AUTH_SASL_LINE_MAX is not read. Returns AUTH_SASL_ERR_NONE and *n.
 */
static enum auth_sasl_error sasl_decode(struct auth_sasl *s, const char *text, size_t len,
					size_t cap, size_t *n)
{
	*n = 0;
	if (len > AUTH_SASL_LINE_MAX)
		return AUTH_SASL_ERR_TOO_LONG;
	switch (base64_decode(text, len, s->scratch, cap, n)) {
	case BASE64_OK:
		return AUTH_SASL_ERR_NONE;
	case BASE64_INVALID:
		return AUTH_SASL_ERR_BASE64;
	case BASE64_TOO_LONG:
		return AUTH_SASL_ERR_TOO_LONG;
	}
	return AUTH_SASL_ERR_BASE64;
}

/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd. */
static enum auth_sasl_status plain_finish(struct auth_sasl *s, const char *text, size_t len)
{
	size_t n;
	enum auth_sasl_error err = sasl_decode(s, text, len, sizeof(s->scratch), &n);
	if (err != AUTH_SASL_ERR_NONE)
		return sasl_fail(s, err);
	const unsigned char *msg = s->scratch;
	const unsigned char *nul1 = memchr(msg, '\0', n);
	if (nul1 == NULL)
		return sasl_fail(s, AUTH_SASL_ERR_MALFORMED);
	size_t zlen = (size_t)(nul1 - msg);
	const unsigned char *cid = nul1 + 1;
	const unsigned char *nul2 = memchr(cid, '\0', n - zlen - 1);
	if (nul2 == NULL)
		return sasl_fail(s, AUTH_SASL_ERR_MALFORMED);
	size_t clen = (size_t)(nul2 - cid);
	const unsigned char *pw = nul2 + 1;
	size_t plen = n - zlen - clen - 2;
	if (clen == 0 || plen == 0)
		return sasl_fail(s, AUTH_SASL_ERR_MALFORMED);

	/* Lengths first, so an oversized field is 500 5.5.6 whatever else is wrong. */
	if (zlen > AUTH_SASL_FIELD_MAX || clen > AUTH_SASL_FIELD_MAX || plen > AUTH_SASL_FIELD_MAX)
		return sasl_fail(s, AUTH_SASL_ERR_TOO_LONG);
	if ((err = field_take(s->authzid, msg, zlen, FIELD_IDENTITY)) != AUTH_SASL_ERR_NONE ||
	    (err = field_take(s->authcid, cid, clen, FIELD_IDENTITY)) != AUTH_SASL_ERR_NONE ||
	    (err = field_take(s->password, pw, plen, FIELD_PASSWORD_UTF8)) != AUTH_SASL_ERR_NONE)
		return sasl_fail(s, err);
	explicit_bzero(s->scratch, n);
	if (zlen > 0 && (zlen != clen || memcmp(s->authzid, s->authcid, clen) != 0))
		return sasl_fail(s, AUTH_SASL_ERR_AUTHZID);
	s->state = AUTH_SASL_STATE_DONE;
	return AUTH_SASL_DONE;
}

/* One LOGIN response: the user name or the password, never empty. */
static enum auth_sasl_error login_take(struct auth_sasl *s, const char *text, size_t len,
				       char *dst, enum field_kind kind)
{
	size_t n;
	enum auth_sasl_error err = sasl_decode(s, text, len, AUTH_SASL_FIELD_MAX, &n);
	if (err == AUTH_SASL_ERR_NONE && n == 0)
		err = AUTH_SASL_ERR_MALFORMED;
	if (err == AUTH_SASL_ERR_NONE)
		err = field_take(dst, s->scratch, n, kind);
	explicit_bzero(s->scratch, n);
	return err;
}

enum auth_sasl_status auth_sasl_start(struct auth_sasl *s, const char *mech,
				      const char *initial_response)
{
	sasl_wipe(s);
	s->error = AUTH_SASL_ERR_NONE;
	s->mech = auth_sasl_mech_lookup(mech);
	if (s->mech == AUTH_SASL_MECH_UNKNOWN)
		return sasl_fail(s, AUTH_SASL_ERR_MECHANISM);

	/* RFC 4954 4: "=" is the zero-length initial response. */
	const char *ir = initial_response;
	size_t irlen = ir != NULL ? strlen(ir) : 0;
	if (ir != NULL && irlen == 1 && ir[0] == '=')
		irlen = 0;
	else if (ir != NULL && irlen == 0)
		return sasl_fail(s, AUTH_SASL_ERR_BASE64);

	switch (s->mech) {
	case AUTH_SASL_MECH_UNKNOWN:
		break;
	case AUTH_SASL_MECH_PLAIN:
		if (ir == NULL)
			return sasl_continue(s, AUTH_SASL_STATE_PLAIN);
		return plain_finish(s, ir, irlen);
	case AUTH_SASL_MECH_LOGIN: {
		if (ir == NULL)
			return sasl_continue(s, AUTH_SASL_STATE_LOGIN_USER);
		enum auth_sasl_error err = login_take(s, ir, irlen, s->authcid, FIELD_IDENTITY);
		if (err != AUTH_SASL_ERR_NONE)
			return sasl_fail(s, err);
		return sasl_continue(s, AUTH_SASL_STATE_LOGIN_PASS);
	}
	}
	return sasl_fail(s, AUTH_SASL_ERR_MECHANISM);
}

enum auth_sasl_status auth_sasl_step(struct auth_sasl *s, const char *line, size_t len)
{
	switch (s->state) {
	case AUTH_SASL_STATE_IDLE:
	case AUTH_SASL_STATE_DONE:
	case AUTH_SASL_STATE_FAILED:
		return sasl_fail(s, AUTH_SASL_ERR_SEQUENCE);
	case AUTH_SASL_STATE_PLAIN:
	case AUTH_SASL_STATE_LOGIN_USER:
	case AUTH_SASL_STATE_LOGIN_PASS:
		break;
	}
	/* RFC 4954 4: a line of a single "*" cancels the exchange. */
	if (len == 1 && line[0] == '*')
		return sasl_fail(s, AUTH_SASL_ERR_CANCELLED);

	enum auth_sasl_error err = AUTH_SASL_ERR_NONE;
	switch (s->state) {
	case AUTH_SASL_STATE_IDLE:
	case AUTH_SASL_STATE_DONE:
	case AUTH_SASL_STATE_FAILED:
		break;
	case AUTH_SASL_STATE_PLAIN:
		return plain_finish(s, line, len);
	case AUTH_SASL_STATE_LOGIN_USER:
		err = login_take(s, line, len, s->authcid, FIELD_IDENTITY);
		if (err != AUTH_SASL_ERR_NONE)
			return sasl_fail(s, err);
		return sasl_continue(s, AUTH_SASL_STATE_LOGIN_PASS);
	case AUTH_SASL_STATE_LOGIN_PASS:
		err = login_take(s, line, len, s->password, FIELD_PASSWORD_ANY);
		if (err != AUTH_SASL_ERR_NONE)
			return sasl_fail(s, err);
		s->state = AUTH_SASL_STATE_DONE;
		return AUTH_SASL_DONE;
	}
	return sasl_fail(s, AUTH_SASL_ERR_SEQUENCE);
}

enum auth_sasl_status auth_sasl_reject(struct auth_sasl *s)
{
	return sasl_fail(s, AUTH_SASL_ERR_CREDENTIALS);
}

static void reply_set(struct auth_sasl_reply *r, int code, const char *enh, const char *text)
{
	r->code = code;
	r->enh = enh;
	r->text = text;
}

static void reply_error(enum auth_sasl_error err, struct auth_sasl_reply *r)
{
	switch (err) {
	case AUTH_SASL_ERR_NONE:
	case AUTH_SASL_ERR_SEQUENCE:
		reply_set(r, 503, "5.5.1", "No authentication exchange in progress");
		return;
	case AUTH_SASL_ERR_MECHANISM:
		reply_set(r, 504, "5.5.4", "Unrecognized authentication mechanism");
		return;
	case AUTH_SASL_ERR_BASE64:
		reply_set(r, 501, "5.5.2", "Cannot decode response: invalid base64");
		return;
	case AUTH_SASL_ERR_CANCELLED:
		reply_set(r, 501, "5.7.0", "Authentication cancelled");
		return;
	case AUTH_SASL_ERR_TOO_LONG:
		reply_set(r, 500, "5.5.6", "Authentication exchange line is too long");
		return;
	case AUTH_SASL_ERR_MALFORMED:
		reply_set(r, 535, "5.7.8", "Authentication credentials invalid: malformed response");
		return;
	case AUTH_SASL_ERR_AUTHZID:
		reply_set(r, 535, "5.7.8",
			  "Authentication credentials invalid: proxy authorization not supported");
		return;
	case AUTH_SASL_ERR_CREDENTIALS:
		reply_set(r, 535, "5.7.8", "Authentication credentials invalid");
		return;
	}
	reply_set(r, 503, "5.5.1", "No authentication exchange in progress");
}

void auth_sasl_reply(const struct auth_sasl *s, struct auth_sasl_reply *r)
{
	switch (s->state) {
	case AUTH_SASL_STATE_IDLE:
		reply_error(AUTH_SASL_ERR_SEQUENCE, r);
		return;
	case AUTH_SASL_STATE_PLAIN:
		reply_set(r, 334, NULL, "");
		return;
	case AUTH_SASL_STATE_LOGIN_USER:
		reply_set(r, 334, NULL, AUTH_SASL_LOGIN_USER_CHALLENGE);
		return;
	case AUTH_SASL_STATE_LOGIN_PASS:
		reply_set(r, 334, NULL, AUTH_SASL_LOGIN_PASS_CHALLENGE);
		return;
	case AUTH_SASL_STATE_DONE:
		reply_set(r, 235, "2.7.0", "Authentication successful");
		return;
	case AUTH_SASL_STATE_FAILED:
		reply_error(s->error, r);
		return;
	}
	reply_error(AUTH_SASL_ERR_SEQUENCE, r);
}

enum auth_sasl_error auth_sasl_error(const struct auth_sasl *s)
{
	return s->error;
}

enum auth_sasl_mech auth_sasl_mechanism(const struct auth_sasl *s)
{
	return s->mech;
}

const char *auth_sasl_authzid(const struct auth_sasl *s)
{
	return s->state == AUTH_SASL_STATE_DONE ? s->authzid : "";
}

const char *auth_sasl_authcid(const struct auth_sasl *s)
{
	return s->state == AUTH_SASL_STATE_DONE ? s->authcid : "";
}

const char *auth_sasl_password(const struct auth_sasl *s)
{
	return s->state == AUTH_SASL_STATE_DONE ? s->password : "";
}
