/*
 * auth_sasl.h — PURE server side of one SMTP AUTH exchange, PLAIN and LOGIN (contract).
 *
 * Sans-I/O, like smtp_proto: auth_sasl_start(mech, initial response) and
 * then auth_sasl_step(line) for each client line while the status is
 * CONTINUE (send "334 " + auth_sasl_reply().text each time). On DONE the
 * caller checks auth_sasl_authcid()/auth_sasl_password() (auth_users_check
 * in auth.h), calls auth_sasl_reject() if they are wrong, then sends
 * auth_sasl_reply(). The rules around the command (after EHLO, not twice,
 * not in a transaction, TLS first: 538 5.7.11) are the session's.
 *
 * Replies (RFC 4954 section 6, RFC 3463 enhanced codes):
 *   334 challenge  "" (PLAIN), "VXNlcm5hbWU6" / "UGFzc3dvcmQ6" (LOGIN)
 *   235 2.7.0      success (after the caller's check)
 *   504 5.5.4      unrecognised mechanism
 *   501 5.5.2      a response that is not strict base64 (RFC 4954 4)
 *   501 5.7.0      the client cancelled with "*" (RFC 4954 4)
 *   500 5.5.6      a line over AUTH_SASL_LINE_MAX, or a field over AUTH_SASL_FIELD_MAX
 *   535 5.7.8      malformed content, a proxy authzid, or auth_sasl_reject()
 *   503 5.5.1      auth_sasl_step() with no exchange in progress (caller bug)
 *
 * Secrets are wiped (explicit_bzero) on failure, on the next start and on
 * free. One exchange belongs to one session's thread; no globals.
 * RFC 4954, RFC 4616 (PLAIN), draft-murchison-sasl-login (LOGIN),
 * RFC 4648 section 4 (base64), RFC 4422 3.1 (mechanism names).
 */
#ifndef VSMTPD_AUTH_SASL_H
#define VSMTPD_AUTH_SASL_H

#include <stddef.h>

#define AUTH_SASL_LINE_MAX 12288	/* RFC 4954 4: response line, octets without CRLF */
#define AUTH_SASL_FIELD_MAX 255		/* RFC 4616 2: authzid, authcid, passwd: up to 255 octets */
#define AUTH_SASL_MECH_MAX 20		/* RFC 4422 3.1: mechanism names are 1..20 characters */
#define AUTH_SASL_MECHANISMS "PLAIN LOGIN"	/* for the EHLO "250-AUTH" line */

enum auth_sasl_mech {
	AUTH_SASL_MECH_UNKNOWN,
	AUTH_SASL_MECH_PLAIN,
	AUTH_SASL_MECH_LOGIN,
};

enum auth_sasl_status {
	AUTH_SASL_CONTINUE,	/* send the 334 challenge, feed the next line to auth_sasl_step() */
	AUTH_SASL_DONE,		/* authzid/authcid/password ready: check them */
	AUTH_SASL_FAILED,	/* over: send auth_sasl_reply(); auth_sasl_error() says why */
};

/* Why an exchange failed, for the log; the reply code follows from it. */
enum auth_sasl_error {
	AUTH_SASL_ERR_NONE,
	AUTH_SASL_ERR_MECHANISM,	/* 504 5.5.4 */
	AUTH_SASL_ERR_BASE64,		/* 501 5.5.2 */
	AUTH_SASL_ERR_CANCELLED,	/* 501 5.7.0 */
	AUTH_SASL_ERR_TOO_LONG,		/* 500 5.5.6 */
	AUTH_SASL_ERR_MALFORMED,	/* 535 5.7.8: missing NUL, empty field, bad UTF-8, control chars */
	AUTH_SASL_ERR_AUTHZID,		/* 535 5.7.8: authzid differs from authcid (no proxy auth) */
	AUTH_SASL_ERR_CREDENTIALS,	/* 535 5.7.8: auth_sasl_reject() */
	AUTH_SASL_ERR_SEQUENCE,		/* 503 5.5.1: step without an exchange in progress */
};

/* One reply. text is borrowed from the exchange (or static): valid until
 * the next call on it. enh is NULL for 334. */
struct auth_sasl_reply {
	int code;
	const char *enh;
	const char *text;
};

struct auth_sasl;

/* A new idle exchange object. Cannot fail (OOM is fatal). */
struct auth_sasl *auth_sasl_new(void);
/* Wipes every secret and frees. NULL is fine. */
void auth_sasl_free(struct auth_sasl *s);

/* The mechanism named name, compared case-insensitively; UNKNOWN for
 * anything else, including NULL, "" and names over AUTH_SASL_MECH_MAX. */
enum auth_sasl_mech auth_sasl_mech_lookup(const char *name);

/*
 * Starts an exchange (wiping any earlier one on s). mech is the AUTH
 * argument as sent; initial_response is the optional second argument, NULL
 * when absent. "=" is the empty initial response (RFC 4954 4); "" is not a
 * valid initial response (501 5.5.2): the caller passes NULL for "none".
 * PLAIN: without an initial response, CONTINUE with an empty challenge;
 * with one, DONE or FAILED at once. LOGIN: CONTINUE with "Username:", or,
 * with an initial response (taken as the user name, as common clients
 * send it), CONTINUE with "Password:".
 */
enum auth_sasl_status auth_sasl_start(struct auth_sasl *s, const char *mech,
				      const char *initial_response);

/*
 * Feeds one client line, CRLF removed, len bytes (NULs included, which
 * fail the base64 check). A line of exactly "*" cancels. When
 * len > AUTH_SASL_LINE_MAX the bytes are not read, so a caller that has
 * dropped the rest of an overlong line may pass what it kept with the full
 * length. Anything but CONTINUE ends the exchange.
 */
enum auth_sasl_status auth_sasl_step(struct auth_sasl *s, const char *line, size_t len);

/* After DONE, the caller found the credentials wrong: wipes them and moves
 * to FAILED with 535 5.7.8. Returns AUTH_SASL_FAILED. */
enum auth_sasl_status auth_sasl_reject(struct auth_sasl *s);

/* The reply for the current state: 334 + challenge (CONTINUE), 235 2.7.0
 * (DONE), the error's reply (FAILED), 503 5.5.1 before any start. */
void auth_sasl_reply(const struct auth_sasl *s, struct auth_sasl_reply *r);

enum auth_sasl_error auth_sasl_error(const struct auth_sasl *s);
/* The mechanism of the current exchange (UNKNOWN before start or after a 504). */
enum auth_sasl_mech auth_sasl_mechanism(const struct auth_sasl *s);
/* "PLAIN", "LOGIN" or "" (UNKNOWN): static. */
const char *auth_sasl_mech_name(enum auth_sasl_mech m);

/*
 * The extracted identities and password, NUL-terminated, borrowed until the
 * next start/reject/free. Valid (non-empty authcid and password) only in
 * DONE; "" otherwise. authzid is "" when the client sent none; when sent it
 * equals authcid (anything else fails). None holds a NUL. authcid and
 * authzid are valid UTF-8 with no control characters (C0, DEL); a PLAIN
 * password is valid UTF-8 (RFC 4616 2), a LOGIN password any other bytes
 * (the draft sets no charset and old clients send their local one).
 */
const char *auth_sasl_authzid(const struct auth_sasl *s);
const char *auth_sasl_authcid(const struct auth_sasl *s);
const char *auth_sasl_password(const struct auth_sasl *s);

#endif
