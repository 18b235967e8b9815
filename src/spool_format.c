/*
 * spool_format.c — PURE queue-file envelope: encoding, strict decoding, the
 * fixed-width recipient state field and the END trailer (see spool_format.h).
 *
 * Owns the byte layout only; spool.c does every read, write and fsync. The
 * envelope is text, one record per line (here several to a line), fields
 * separated by one space, in any order but the first line and "end":
 *   VSMTPD-QUEUE 1 0000000345             version, total envelope length
 *   id 1J1APITQ495URBI   arrival 1700000000   server mx   sender a@b
 *   client 127.0.0.1   helo host.example   envid ABC (optional)
 *   ret -|FULL|HDRS   body -|7BIT|8BITMIME   smtputf8 0|1
 *   rcpt P 0003 001700000600 SF rfc822;x+y@b to@example.test   (per recipient)
 *   end
 * A recipient's first fields (state, tries: 4 digits, next_try: 12 digits)
 * have a fixed width, so delivery overwrites them in place with one pwrite.
 * Values are %XX-escaped (upper-case hex) for '%', every byte below 0x21
 * and 0x7f, so no space, CR, LF or NUL can break a record; UTF-8 and other
 * bytes from 0x80 stay as they are. "-" alone marks an absent optional
 * value (a real "-" is written "%2D"). Decoding accepts only canonical
 * escapes and never reads outside the bytes it was given (it is fuzzed).
 * Errors: decode returns -1 with a static reason; nothing here fails otherwise.
 * RFC 3461 (NOTIFY, ORCPT, ENVID, RET are stored as accepted), RFC 6152 and
 * RFC 6531 (BODY, SMTPUTF8 flags).
 */
#include "spool_format.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "smtp_proto.h"

#define SPOOL_MAGIC "VSMTPD-QUEUE 1 "	/* magic and the version this code writes */
#define SPOOL_MAGIC_NAME "VSMTPD-QUEUE "	/* magic alone: tells "other version" from "junk" */
#define SPOOL_LEN_DIGITS 10		/* fixed width, so the length can be patched in */
#define SPOOL_FIRST_LINE_LEN (sizeof(SPOOL_MAGIC) - 1 + SPOOL_LEN_DIGITS + 1)
#define SPOOL_END_LINE "end\n"
#define SPOOL_HEADER_MIN (SPOOL_FIRST_LINE_LEN + sizeof(SPOOL_END_LINE) - 1)
#define SPOOL_TRIES_DIGITS 4
#define SPOOL_NEXT_TRY_DIGITS 12
#define SPOOL_NUMBER_DIGITS_MAX 18	/* arrival: fits a long long */
#define SPOOL_FIELDS_MAX 7		/* "rcpt" and its six fields */
#define SPOOL_ABSENT "-"
#define SPOOL_TRAILER_MAGIC "\nVSMTPD-END "
#define SPOOL_TRAILER_PAD "   \n"

_Static_assert(SPOOL_FIRST_LINE_LEN <= SPOOL_FIRST_LINE_MAX, "first line fits");
_Static_assert(sizeof(SPOOL_TRAILER_MAGIC) - 1 + 16 + sizeof(SPOOL_TRAILER_PAD) - 1 == SPOOL_TRAILER_LEN,
	       "trailer layout");
_Static_assert(1 + 1 + SPOOL_TRIES_DIGITS + 1 + SPOOL_NEXT_TRY_DIGITS == SPOOL_RCPT_STATE_LEN,
	       "state field layout");

/* ---- envelope -------------------------------------------------------------- */

void envelope_init(struct envelope *e)
{
	memset(e, 0, sizeof(*e));
}

void envelope_free(struct envelope *e)
{
	free(e->server);
	free(e->sender);
	free(e->client_addr);
	free(e->helo);
	free(e->envid);
	for (size_t i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orcpt);
	}
	free(e->rcpts);
	envelope_init(e);
}

/* The array grows in powers of two: its capacity is implied by nrcpts. */
static struct envelope_rcpt *envelope_grow(struct envelope *e)
{
	size_t n = e->nrcpts;
	if (n == 0 || (n & (n - 1)) == 0)
		e->rcpts = xrealloc(e->rcpts, (n == 0 ? 1 : 2 * n) * sizeof(*e->rcpts));
	struct envelope_rcpt *r = &e->rcpts[e->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->state = RCPT_PENDING;
	return r;
}

void envelope_add_rcpt(struct envelope *e, const char *addr, const char *orcpt, unsigned notify)
{
	struct envelope_rcpt *r = envelope_grow(e);
	r->addr = xstrdup(addr != NULL ? addr : "");
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->notify = notify;
}

/* ---- encoding ------------------------------------------------------------ */

static bool byte_needs_escape(unsigned char c)
{
	return c == '%' || c < 0x21 || c == 0x7f;
}

static void put_value(struct buf *out, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	if (v == NULL)
		v = "";
	if (strcmp(v, SPOOL_ABSENT) == 0) {
		buf_append_str(out, "%2D");
		return;
	}
	for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
		if (!byte_needs_escape(*p)) {
			buf_append_char(out, (char)*p);
			continue;
		}
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 0xf] };
		buf_append(out, esc, sizeof(esc));
	}
}

static void put_optional(struct buf *out, const char *v)
{
	if (v == NULL || v[0] == '\0')
		buf_append_str(out, SPOOL_ABSENT);
	else
		put_value(out, v);
}

static void put_record(struct buf *out, const char *kind, const char *value)
{
	buf_append_str(out, kind);
	buf_append_char(out, ' ');
	put_value(out, value);
	buf_append_char(out, '\n');
}

static const char *ret_name(int ret)
{
	switch ((enum smtp_ret)ret) {
	case SMTP_RET_NONE:
		return SPOOL_ABSENT;
	case SMTP_RET_FULL:
		return "FULL";
	case SMTP_RET_HDRS:
		return "HDRS";
	}
	return SPOOL_ABSENT;
}

static const char *body_name(int body)
{
	switch ((enum smtp_body)body) {
	case SMTP_BODY_NONE:
		return SPOOL_ABSENT;
	case SMTP_BODY_7BIT:
		return "7BIT";
	case SMTP_BODY_8BITMIME:
		return "8BITMIME";
	}
	return SPOOL_ABSENT;
}

/* RFC 3461 4.1 NOTIFY keywords, one letter each, in this order. */
static const struct {
	char letter;
	unsigned bit;
} notify_letters[] = {
	{ 'N', SMTP_NOTIFY_NEVER },
	{ 'S', SMTP_NOTIFY_SUCCESS },
	{ 'F', SMTP_NOTIFY_FAILURE },
	{ 'D', SMTP_NOTIFY_DELAY },
};

static void put_notify(struct buf *out, unsigned notify)
{
	size_t before = out->len;
	for (size_t i = 0; i < sizeof(notify_letters) / sizeof(notify_letters[0]); i++)
		if (notify & notify_letters[i].bit)
			buf_append_char(out, notify_letters[i].letter);
	if (out->len == before)
		buf_append_str(out, SPOOL_ABSENT);
}

static char state_char(char state)
{
	return rcpt_state_valid(state) ? state : RCPT_PENDING;	/* unknown: tried again, never lost */
}

void spool_format_rcpt_state(const struct envelope_rcpt *r, struct buf *out)
{
	unsigned tries = r->tries > SPOOL_TRIES_MAX ? SPOOL_TRIES_MAX : r->tries;
	long long next = r->next_try < 0 ? 0 : r->next_try > SPOOL_NEXT_TRY_MAX ? SPOOL_NEXT_TRY_MAX : r->next_try;
	buf_printf(out, "%c %0*u %0*lld", state_char(r->state), SPOOL_TRIES_DIGITS, tries,
		   SPOOL_NEXT_TRY_DIGITS, next);
}

void spool_format_encode(const struct envelope *e, struct buf *out)
{
	size_t start = out->len;

	buf_printf(out, "%s%0*u\n", SPOOL_MAGIC, SPOOL_LEN_DIGITS, 0u);
	put_record(out, "id", e->id);
	buf_printf(out, "arrival %lld\n", e->arrival < 0 ? 0 : e->arrival);
	put_record(out, "server", e->server);
	put_record(out, "sender", e->sender);
	put_record(out, "client", e->client_addr);
	put_record(out, "helo", e->helo);
	if (e->envid != NULL && e->envid[0] != '\0')
		put_record(out, "envid", e->envid);
	buf_printf(out, "ret %s\nbody %s\nsmtputf8 %d\n", ret_name(e->ret), body_name(e->body),
		   e->smtputf8 ? 1 : 0);
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];
		buf_append_str(out, "rcpt ");
		spool_format_rcpt_state(r, out);
		buf_append_char(out, ' ');
		put_notify(out, r->notify);
		buf_append_char(out, ' ');
		put_optional(out, r->orcpt);
		buf_append_char(out, ' ');
		put_value(out, r->addr);
		buf_append_char(out, '\n');
	}
	buf_append_str(out, SPOOL_END_LINE);

	/* Patch the announced length into its fixed-width field (it always
	 * fits: ten digits, and an envelope of 10 GB cannot be built). */
	char digits[SPOOL_LEN_DIGITS + 1];
	snprintf(digits, sizeof(digits), "%0*zu", SPOOL_LEN_DIGITS, out->len - start);
	memcpy(out->data + start + sizeof(SPOOL_MAGIC) - 1, digits, SPOOL_LEN_DIGITS);
}

bool spool_format_id_ok(const char *id)
{
	size_t n = 0;
	for (; id[n] != '\0'; n++) {
		char c = id[n];
		if (n >= SPOOL_ID_MAX || !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return n > 0;
}

/* ---- the first line and the trailer ---------------------------------------- */

static bool all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return n > 0;
}

size_t spool_format_header_len(const char *data, size_t len)
{
	if (len < SPOOL_FIRST_LINE_LEN || memcmp(data, SPOOL_MAGIC, sizeof(SPOOL_MAGIC) - 1) != 0)
		return 0;
	const char *d = data + sizeof(SPOOL_MAGIC) - 1;
	if (!all_digits(d, SPOOL_LEN_DIGITS) || d[SPOOL_LEN_DIGITS] != '\n')
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < SPOOL_LEN_DIGITS; i++)
		n = n * 10 + (size_t)(d[i] - '0');
	if (n < SPOOL_HEADER_MIN || n > SPOOL_HEADER_MAX)
		return 0;
	return n;
}

void spool_format_trailer(unsigned long long content_len, char out[SPOOL_TRAILER_LEN])
{
	char t[SPOOL_TRAILER_LEN + 1];
	snprintf(t, sizeof(t), "%s%016llX%s", SPOOL_TRAILER_MAGIC, content_len, SPOOL_TRAILER_PAD);
	memcpy(out, t, SPOOL_TRAILER_LEN);
}

bool spool_format_trailer_ok(const char trailer[SPOOL_TRAILER_LEN], unsigned long long content_len)
{
	char want[SPOOL_TRAILER_LEN];
	spool_format_trailer(content_len, want);
	return memcmp(trailer, want, SPOOL_TRAILER_LEN) == 0;
}

/* ---- decoding -------------------------------------------------------------- */

/* A field of a record line: not NUL-terminated, points into the input. */
struct field {
	const char *p;
	size_t n;
};

static bool field_is(const struct field *f, const char *s)
{
	size_t n = strlen(s);
	return f->n == n && memcmp(f->p, s, n) == 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case is not canonical */
}

/*
 * Unescapes f into a new string. With allow_absent, "-" gives *out = NULL.
 * Only the encoder's own (canonical) forms are accepted, so that a decoded
 * envelope encodes back to the same bytes.
 */
static int get_value(const struct field *f, bool allow_absent, char **out, const char **err)
{
	*out = NULL;
	if (field_is(f, SPOOL_ABSENT)) {
		if (allow_absent)
			return 0;
		*err = "absent marker in a required value";
		return -1;
	}
	bool is_dash = field_is(f, "%2D");
	char *s = xmalloc(f->n + 1);
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++) {
		unsigned char c = (unsigned char)f->p[i];
		if (c != '%') {
			if (byte_needs_escape(c)) {
				*err = "raw control byte in a value";
				goto fail;
			}
			s[n++] = (char)c;
			continue;
		}
		if (i + 2 >= f->n) {
			*err = "truncated escape";
			goto fail;
		}
		int h = hex_digit(f->p[i + 1]), l = hex_digit(f->p[i + 2]);
		if (h < 0 || l < 0) {
			*err = "bad escape";
			goto fail;
		}
		unsigned char v = (unsigned char)(h << 4 | l);
		if (v == 0) {
			*err = "NUL in a value";
			goto fail;
		}
		if (!byte_needs_escape(v) && !is_dash) {
			*err = "needless escape";
			goto fail;
		}
		s[n++] = (char)v;
		i += 2;
	}
	s[n] = '\0';
	*out = s;
	return 0;
fail:
	free(s);
	return -1;
}

static int get_number(const struct field *f, size_t min_digits, size_t max_digits, long long *out,
		      const char **err)
{
	if (f->n < min_digits || f->n > max_digits || !all_digits(f->p, f->n)) {
		*err = "bad number";
		return -1;
	}
	long long v = 0;
	for (size_t i = 0; i < f->n; i++)
		v = v * 10 + (f->p[i] - '0');
	*out = v;
	return 0;
}

static int get_notify(const struct field *f, unsigned *out, const char **err)
{
	*out = 0;
	if (field_is(f, SPOOL_ABSENT))
		return 0;
	/* The letters in their fixed order, each at most once: canonical. */
	size_t next = 0;
	for (size_t i = 0; i < f->n; i++) {
		while (next < sizeof(notify_letters) / sizeof(notify_letters[0]) &&
		       notify_letters[next].letter != f->p[i])
			next++;
		if (next == sizeof(notify_letters) / sizeof(notify_letters[0])) {
			*err = "bad notify field";
			return -1;
		}
		*out |= notify_letters[next++].bit;
	}
	if (*out == 0) {
		*err = "bad notify field";
		return -1;
	}
	return 0;
}

enum spool_rec {
	SPOOL_REC_ID,
	SPOOL_REC_ARRIVAL,
	SPOOL_REC_SERVER,
	SPOOL_REC_SENDER,
	SPOOL_REC_CLIENT,
	SPOOL_REC_HELO,
	SPOOL_REC_ENVID,
	SPOOL_REC_RET,
	SPOOL_REC_BODY,
	SPOOL_REC_SMTPUTF8,
	SPOOL_REC_RCPT,
	SPOOL_REC_END,
	SPOOL_REC_COUNT
};

static const struct {
	const char *kind;
	size_t nfields;		/* including the kind */
	const char *missing;	/* reason when a required record is absent; NULL: optional */
} spool_recs[SPOOL_REC_COUNT] = {
	[SPOOL_REC_ID] = { "id", 2, "missing id record" },
	[SPOOL_REC_ARRIVAL] = { "arrival", 2, "missing arrival record" },
	[SPOOL_REC_SERVER] = { "server", 2, "missing server record" },
	[SPOOL_REC_SENDER] = { "sender", 2, "missing sender record" },
	[SPOOL_REC_CLIENT] = { "client", 2, "missing client record" },
	[SPOOL_REC_HELO] = { "helo", 2, "missing helo record" },
	[SPOOL_REC_ENVID] = { "envid", 2, NULL },
	[SPOOL_REC_RET] = { "ret", 2, "missing ret record" },
	[SPOOL_REC_BODY] = { "body", 2, "missing body record" },
	[SPOOL_REC_SMTPUTF8] = { "smtputf8", 2, "missing smtputf8 record" },
	[SPOOL_REC_RCPT] = { "rcpt", SPOOL_FIELDS_MAX, "no rcpt record" },
	[SPOOL_REC_END] = { "end", 1, "missing end record" },
};

static int decode_rcpt(const char *data, const struct field *fl, struct envelope *e, const char **err)
{
	const struct field *st = &fl[1], *tries = &fl[2], *next = &fl[3];
	if (st->n != 1 || state_char(st->p[0]) != st->p[0]) {
		*err = "bad recipient state";
		return -1;
	}
	long long t, nt;
	if (get_number(tries, SPOOL_TRIES_DIGITS, SPOOL_TRIES_DIGITS, &t, err) < 0 ||
	    get_number(next, SPOOL_NEXT_TRY_DIGITS, SPOOL_NEXT_TRY_DIGITS, &nt, err) < 0)
		return -1;
	unsigned notify;
	char *orcpt, *addr;
	if (get_notify(&fl[4], &notify, err) < 0 || get_value(&fl[5], true, &orcpt, err) < 0)
		return -1;
	if (get_value(&fl[6], false, &addr, err) < 0) {
		free(orcpt);
		return -1;
	}
	if (addr[0] == '\0' || (orcpt != NULL && orcpt[0] == '\0')) {
		*err = addr[0] == '\0' ? "empty recipient address" : "empty orcpt";
		free(orcpt);
		free(addr);
		return -1;
	}
	struct envelope_rcpt *r = envelope_grow(e);
	r->addr = addr;
	r->orcpt = orcpt;
	r->notify = notify;
	r->state = st->p[0];
	r->tries = (unsigned)t;
	r->next_try = nt;
	r->state_off = (size_t)(st->p - data);
	return 0;
}

static int decode_enum(const struct field *f, const char *const *names, size_t n, int *out,
		       const char **err)
{
	for (size_t i = 0; i < n; i++) {
		if (field_is(f, names[i])) {
			*out = (int)i;
			return 0;
		}
	}
	*err = "bad keyword";
	return -1;
}

static int decode_record(const char *data, enum spool_rec rec, const struct field *fl,
			 struct envelope *e, const char **err)
{
	static const char *const rets[] = { [SMTP_RET_NONE] = SPOOL_ABSENT, [SMTP_RET_FULL] = "FULL",
					    [SMTP_RET_HDRS] = "HDRS" };
	static const char *const bodies[] = { [SMTP_BODY_NONE] = SPOOL_ABSENT, [SMTP_BODY_7BIT] = "7BIT",
					      [SMTP_BODY_8BITMIME] = "8BITMIME" };
	static const char *const bools[] = { "0", "1" };
	long long v;
	int b;
	char *s;

	switch (rec) {
	case SPOOL_REC_ID:
		if (fl[1].n == 0 || fl[1].n > SPOOL_ID_MAX) {
			*err = "bad id";
			return -1;
		}
		memcpy(e->id, fl[1].p, fl[1].n);
		e->id[fl[1].n] = '\0';
		if (!spool_format_id_ok(e->id)) {
			*err = "bad id";
			return -1;
		}
		return 0;
	case SPOOL_REC_ARRIVAL:
		if (get_number(&fl[1], 1, SPOOL_NUMBER_DIGITS_MAX, &v, err) < 0)
			return -1;
		e->arrival = v;
		return 0;
	case SPOOL_REC_SERVER:
		return get_value(&fl[1], false, &e->server, err);
	case SPOOL_REC_SENDER:
		return get_value(&fl[1], false, &e->sender, err);
	case SPOOL_REC_CLIENT:
		return get_value(&fl[1], false, &e->client_addr, err);
	case SPOOL_REC_HELO:
		return get_value(&fl[1], false, &e->helo, err);
	case SPOOL_REC_ENVID:
		if (get_value(&fl[1], false, &s, err) < 0)
			return -1;
		e->envid = s;
		if (s[0] == '\0') {
			*err = "empty envid";
			return -1;
		}
		return 0;
	case SPOOL_REC_RET:
		return decode_enum(&fl[1], rets, sizeof(rets) / sizeof(rets[0]), &e->ret, err);
	case SPOOL_REC_BODY:
		return decode_enum(&fl[1], bodies, sizeof(bodies) / sizeof(bodies[0]), &e->body, err);
	case SPOOL_REC_SMTPUTF8:
		if (decode_enum(&fl[1], bools, 2, &b, err) < 0)
			return -1;
		e->smtputf8 = b == 1;
		return 0;
	case SPOOL_REC_RCPT:
		return decode_rcpt(data, fl, e, err);
	case SPOOL_REC_END:
	case SPOOL_REC_COUNT:
		return 0;
	}
	return 0;
}

/* Splits line[0..n) at single spaces; -1 when there are more than max fields. */
static int split_fields(const char *line, size_t n, struct field *fl, size_t max)
{
	size_t nf = 0;
	const char *p = line, *end = line + n;
	for (;;) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		if (nf == max)
			return -1;
		fl[nf].p = p;
		fl[nf].n = (size_t)((sp != NULL ? sp : end) - p);
		nf++;
		if (sp == NULL)
			return (int)nf;
		p = sp + 1;
	}
}

static int decode_lines(const char *data, size_t len, struct envelope *e, const char **err)
{
	bool seen[SPOOL_REC_COUNT] = { false };
	const char *p = data + SPOOL_FIRST_LINE_LEN, *end = data + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			*err = "unterminated record";
			return -1;
		}
		struct field fl[SPOOL_FIELDS_MAX];
		int nf = split_fields(p, (size_t)(nl - p), fl, SPOOL_FIELDS_MAX);
		enum spool_rec rec = SPOOL_REC_COUNT;
		for (int r = 0; r < SPOOL_REC_COUNT; r++)	/* fl[0] is set even when nf < 0 */
			if (field_is(&fl[0], spool_recs[r].kind))
				rec = (enum spool_rec)r;
		if (rec == SPOOL_REC_COUNT) {
			*err = "unknown record kind";
			return -1;
		}
		if (nf < 0 || (size_t)nf != spool_recs[rec].nfields) {
			*err = "wrong number of fields";
			return -1;
		}
		if (seen[rec] && rec != SPOOL_REC_RCPT) {
			*err = "duplicate record";
			return -1;
		}
		seen[rec] = true;
		if (decode_record(data, rec, fl, e, err) < 0)
			return -1;
		p = nl + 1;
		if (rec == SPOOL_REC_END)
			break;
	}
	if (!seen[SPOOL_REC_END]) {
		*err = spool_recs[SPOOL_REC_END].missing;
		return -1;
	}
	if (p != end) {
		*err = "data after the end record";
		return -1;
	}
	for (int r = 0; r < SPOOL_REC_COUNT; r++) {
		if (!seen[r] && spool_recs[r].missing != NULL) {
			*err = spool_recs[r].missing;
			return -1;
		}
	}
	return 0;
}

int spool_format_decode(const char *data, size_t len, struct envelope *e, const char **err)
{
	*err = NULL;
	if (len < sizeof(SPOOL_MAGIC_NAME) - 1 ||
	    memcmp(data, SPOOL_MAGIC_NAME, sizeof(SPOOL_MAGIC_NAME) - 1) != 0) {
		*err = "not a queue file";
		return -1;
	}
	if (len < sizeof(SPOOL_MAGIC) - 1 || memcmp(data, SPOOL_MAGIC, sizeof(SPOOL_MAGIC) - 1) != 0) {
		*err = "unsupported queue file version";
		return -1;
	}
	size_t hl = spool_format_header_len(data, len);
	if (hl == 0) {
		*err = "bad header length";
		return -1;
	}
	if (hl != len) {
		*err = "header length mismatch";
		return -1;
	}
	if (decode_lines(data, len, e, err) < 0) {
		envelope_free(e);
		return -1;
	}
	e->header_len = len;
	return 0;
}
