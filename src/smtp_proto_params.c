/*
 * smtp_proto_params.c — ESMTP parameters of MAIL FROM and RCPT TO.
 *
 * Owns the parameter grammar (RFC 5321 4.1.2 esmtp-param) and the values
 * of the extensions vsmtpd offers: SIZE (RFC 1870), BODY (RFC 6152),
 * SMTPUTF8 (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461 4), AUTH (RFC 4954
 * 5, accepted and ignored once its xtext checks out, as that RFC asks of a
 * server that does not trust the client's AUTH). No state: input text in,
 * a filled struct or one error reply out.
 *
 * Error convention: -1 and *err = the reply. A value that is malformed is
 * "501 5.5.4"; a keyword that is unknown or repeated, or a value that is
 * well formed but not offered (BODY=BINARYMIME), is "555 5.5.4" (RFC 5321
 * 4.1.1.11); a SIZE over the limit is "552 5.3.4" (RFC 1870 6).
 * Keywords and the enumerated values are case-insensitive; ENVID and ORCPT
 * are kept as sent.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_proto.h"
#include "smtp_proto_int.h"

#define SMTP_PARAM_KEY_SHOWN 32	/* keyword octets quoted in an error reply */

struct param {
	const char *key;
	size_t klen;
	const char *val;	/* NULL: no "=value" */
	size_t vlen;
};

/* Fills *err with "Error: <what> <keyword>". */
static void param_fail(struct smtp_param_error *err, int code, const char *enh, const char *what,
		       const struct param *pm)
{
	int klen = (int)(pm->klen < SMTP_PARAM_KEY_SHOWN ? pm->klen : SMTP_PARAM_KEY_SHOWN);
	err->code = code;
	err->enh = enh;
	snprintf(err->text, sizeof(err->text), "Error: %s %.*s", what, klen, pm->key);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool key_is(const struct param *pm, const char *name)
{
	return pm->klen == strlen(name) && strncasecmp(pm->key, name, pm->klen) == 0;
}

static bool val_is(const char *v, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(v, name, n) == 0;
}

/*
 * Takes the next "keyword[=value]" from *s (before end). Returns 1 and *pm,
 * 0 at the end of the list, -1 on a malformed parameter (with *err).
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 * esmtp-value   = 1*(%d33-60 / %d62-126) (RFC 6531 3.3 adds UTF-8)
 */
static int param_next(const char **s, const char *end, struct param *pm, struct smtp_param_error *err)
{
	const char *c = *s;

	while (c < end && *c == ' ')
		c++;
	if (c == end)
		return 0;
	const char *tok = c;
	while (c < end && *c != ' ')
		c++;
	*s = c;
	pm->key = tok;
	const char *eq = memchr(tok, '=', (size_t)(c - tok));
	pm->klen = (size_t)((eq != NULL ? eq : c) - tok);
	pm->val = eq != NULL ? eq + 1 : NULL;
	pm->vlen = eq != NULL ? (size_t)(c - eq - 1) : 0;

	bool ok = pm->klen > 0 && is_alnum(pm->key[0]);
	for (size_t i = 1; ok && i < pm->klen; i++)
		ok = is_alnum(pm->key[i]) || pm->key[i] == '-';
	if (!ok) {
		err->code = 501;
		err->enh = "5.5.4";
		snprintf(err->text, sizeof(err->text), "Error: bad parameter syntax");
		return -1;
	}
	if (pm->val != NULL) {
		ok = pm->vlen > 0;
		for (size_t i = 0; ok && i < pm->vlen; i++) {
			unsigned char v = (unsigned char)pm->val[i];
			ok = (v >= 33 && v <= 126 && v != '=') || v >= 0x80;
		}
		if (!ok) {
			param_fail(err, 501, "5.5.4", "bad value for parameter", pm);
			return -1;
		}
	}
	return 1;
}

bool smtp_proto_xtext_valid(const char *s, size_t len)
{
	/* RFC 3461 4: xtext = *( xchar / hexchar ); xchar is "!".."~" but
	 * "+" and "="; hexchar is "+" and two upper-case hex digits (lower
	 * case is taken too: decoders read both, and refusing a message over
	 * it would help no one). */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			for (int k = 1; k <= 2; k++) {
				char h = i + (size_t)k < len ? s[i + (size_t)k] : '\0';
				if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F') || (h >= 'a' && h <= 'f')))
					return false;
			}
			i += 2;
			continue;
		}
		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

/* Parses a decimal number of any length without overflow; -1 when it is
 * not all digits, 1 when it does not fit, 0 and *out otherwise. */
static int parse_size(const char *v, size_t n, unsigned long long *out)
{
	unsigned long long x = 0;
	bool big = false;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		unsigned d = (unsigned)(v[i] - '0');
		if (x > (~0ULL - d) / 10)
			big = true;
		else
			x = x * 10 + d;
	}
	*out = x;
	return big ? 1 : 0;
}

enum mail_seen { SEEN_SIZE = 1, SEEN_BODY = 2, SEEN_UTF8 = 4, SEEN_RET = 8, SEEN_ENVID = 16, SEEN_AUTH = 32 };

/* One MAIL parameter; 0 or -1 with *err. */
static int mail_param(const struct param *pm, unsigned long long max_size,
		      struct smtp_mail_params *out, unsigned *seen, struct smtp_param_error *err)
{
	unsigned bit = key_is(pm, "SIZE")       ? SEEN_SIZE
		       : key_is(pm, "BODY")     ? SEEN_BODY
		       : key_is(pm, "SMTPUTF8") ? SEEN_UTF8
		       : key_is(pm, "RET")      ? SEEN_RET
		       : key_is(pm, "ENVID")    ? SEEN_ENVID
		       : key_is(pm, "AUTH")     ? SEEN_AUTH
						: 0;
	if (bit == 0) {
		param_fail(err, 555, "5.5.4", "unsupported parameter", pm);
		return -1;
	}
	if (*seen & bit) {
		param_fail(err, 555, "5.5.4", "duplicate parameter", pm);
		return -1;
	}
	*seen |= bit;
	if (bit == SEEN_UTF8) {
		if (pm->val != NULL) {
			param_fail(err, 501, "5.5.4", "no value allowed for parameter", pm);
			return -1;
		}
		out->smtputf8 = true;
		return 0;
	}
	if (pm->val == NULL) {
		param_fail(err, 501, "5.5.4", "value required for parameter", pm);
		return -1;
	}
	const char *v = pm->val;
	size_t n = pm->vlen;
	switch (bit) {
	case SEEN_SIZE: {
		int r = parse_size(v, n, &out->size);
		if (r < 0) {
			param_fail(err, 501, "5.5.4", "bad value for parameter", pm);
			return -1;
		}
		/* RFC 1870 6: a declared size over the limit is refused here. */
		if (r > 0 || (max_size > 0 && out->size > max_size)) {
			err->code = 552;
			err->enh = "5.3.4";
			snprintf(err->text, sizeof(err->text), "Error: message size exceeds fixed limit");
			return -1;
		}
		return 0;
	}
	case SEEN_BODY:
		if (val_is(v, n, "7BIT"))
			out->body = SMTP_BODY_7BIT;
		else if (val_is(v, n, "8BITMIME"))
			out->body = SMTP_BODY_8BITMIME;
		else {
			param_fail(err, 555, "5.5.4", "unsupported value for parameter", pm);
			return -1;
		}
		return 0;
	case SEEN_RET:
		if (val_is(v, n, "FULL"))
			out->ret = SMTP_RET_FULL;
		else if (val_is(v, n, "HDRS"))
			out->ret = SMTP_RET_HDRS;
		else {
			param_fail(err, 501, "5.5.4", "bad value for parameter", pm);
			return -1;
		}
		return 0;
	case SEEN_ENVID:
		if (n > SMTP_ENVID_MAX || !smtp_proto_xtext_valid(v, n)) {
			param_fail(err, 501, "5.5.4", "bad value for parameter", pm);
			return -1;
		}
		memcpy(out->envid, v, n);
		out->envid[n] = '\0';
		return 0;
	case SEEN_AUTH:
		/* RFC 4954 5: AUTH=<> or an xtext mailbox; its value is
		 * discarded since this server did not authenticate the sender. */
		if (!val_is(v, n, "<>") && !smtp_proto_xtext_valid(v, n)) {
			param_fail(err, 501, "5.5.4", "bad value for parameter", pm);
			return -1;
		}
		return 0;
	}
	return 0;
}

int smtp_proto_mail_params(const char *s, size_t len, unsigned long long max_size,
			   struct smtp_mail_params *out, struct smtp_param_error *err)
{
	const char *end = s + len;
	unsigned seen = 0;
	struct param pm;
	int r;

	memset(out, 0, sizeof(*out));
	while ((r = param_next(&s, end, &pm, err)) > 0)
		if (mail_param(&pm, max_size, out, &seen, err) < 0)
			return -1;
	return r;
}

/* RFC 3461 4.1: NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ). */
static int parse_notify(const char *v, size_t n, unsigned *out)
{
	unsigned bits = 0;
	size_t i = 0;

	while (i <= n) {
		const char *comma = memchr(v + i, ',', n - i);
		size_t j = comma != NULL ? (size_t)(comma - v) : n;
		const char *item = v + i;
		size_t ilen = j - i;
		unsigned bit = val_is(item, ilen, "NEVER")     ? SMTP_NOTIFY_NEVER
			       : val_is(item, ilen, "SUCCESS") ? SMTP_NOTIFY_SUCCESS
			       : val_is(item, ilen, "FAILURE") ? SMTP_NOTIFY_FAILURE
			       : val_is(item, ilen, "DELAY")   ? SMTP_NOTIFY_DELAY
							       : 0;
		if (bit == 0)
			return -1;
		bits |= bit;
		i = j + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return -1;
	*out = bits;
	return 0;
}

/* RFC 3461 4.2: ORCPT = addr-type ";" xtext; addr-type is an atom. */
static bool orcpt_valid(const char *v, size_t n)
{
	const char *semi = memchr(v, ';', n);
	if (n > SMTP_ORCPT_MAX || semi == NULL || semi == v || semi == v + n - 1)
		return false;
	for (const char *c = v; c < semi; c++)
		if (!is_alnum(*c) && strchr("!#$%&'*+-/=?^_`{|}~", *c) == NULL)
			return false;
	return smtp_proto_xtext_valid(semi + 1, (size_t)(v + n - semi - 1));
}

int smtp_proto_rcpt_params(const char *s, size_t len, struct smtp_rcpt_params *out,
			   struct smtp_param_error *err)
{
	const char *end = s + len;
	bool seen_notify = false, seen_orcpt = false;
	struct param pm;
	int r;

	memset(out, 0, sizeof(*out));
	while ((r = param_next(&s, end, &pm, err)) > 0) {
		bool notify = key_is(&pm, "NOTIFY");
		if (!notify && !key_is(&pm, "ORCPT")) {
			param_fail(err, 555, "5.5.4", "unsupported parameter", &pm);
			return -1;
		}
		if (notify ? seen_notify : seen_orcpt) {
			param_fail(err, 555, "5.5.4", "duplicate parameter", &pm);
			return -1;
		}
		if (notify) {
			seen_notify = true;
			if (pm.val == NULL || parse_notify(pm.val, pm.vlen, &out->notify) < 0) {
				param_fail(err, 501, "5.5.4", "bad value for parameter", &pm);
				return -1;
			}
			continue;
		}
		seen_orcpt = true;
		if (pm.val == NULL || !orcpt_valid(pm.val, pm.vlen)) {
			param_fail(err, 501, "5.5.4", "bad value for parameter", &pm);
			return -1;
		}
		memcpy(out->orcpt, pm.val, pm.vlen);
		out->orcpt[pm.vlen] = '\0';
	}
	return r;
}
