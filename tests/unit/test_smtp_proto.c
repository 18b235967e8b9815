/*
 * test_smtp_proto.c — unit tests of the pure inbound SMTP engine.
 *
 * Three kinds of tests, all driving smtp_proto through its public API with
 * a scripted client and session:
 *
 * 1. Golden transcripts. Each data/smtp_proto/NAME.in is a script; running
 *    it must produce exactly the log in NAME.ref. Script lines:
 *      # ...                 comment (blank lines are ignored too)
 *      conf KEY=VALUE ...    engine settings, before anything else: hostname
 *                            (default mx.test), max_message_size,
 *                            max_recipients, max_messages, max_errors (all
 *                            default 0), starttls (0|1, default 0), auth
 *                            (0|1: offer "PLAIN LOGIN"), auth_tls (0|1)
 *      greet CODE ENH TEXT   smtp_proto_greet(); ENH "-" is NULL. Without a
 *                            greet line the script starts with greet 220 - vsmtpd
 *      C: BYTES              client bytes, as written after "C: " with the
 *                            escapes \r \n \t \0 \\ \xHH; no CRLF is implied
 *      R: COUNT BYTES        the same BYTES COUNT times (long lines, big data)
 *      V: CODE ENH TEXT      a verdict (ENH "-" is NULL); "V: accept";
 *                            "V: 334 TEXT" answers with an AUTH challenge
 *      T: timeout|shutdown|tls   smtp_proto_timeout/shutdown/tls_started
 *    The V: lines form one queue in file order, wherever they stand: each
 *    event that needs a verdict takes the next one, or is accepted once the
 *    queue is empty. After each feed and each T: the walker drains events.
 *    The log (NAME.ref) holds, in order of appearance:
 *      S: BYTES              one line of server output, escaped, ending \r\n
 *      E: TYPE ...           one event: HELO/EHLO "arg", MAIL/RCPT <addr>
 *                            and the parameters present, DATA_START [bdat],
 *                            DATA "bytes" (consecutive chunks merged),
 *                            DATA_END STATUS size=N [bdat], RSET, STARTTLS,
 *                            AUTH mech ["initial"], AUTH_DATA "line", QUIT, CLOSE
 *    SMTP_PROTO_REGEN=1 in the environment rewrites the .ref files (review
 *    the diff before committing).
 * 2. Property tests over the same scripts: the client bytes of each
 *    segment (the bytes between T: lines) fed in one piece, byte by byte
 *    and in random splits give the same log; every reply line is well
 *    formed (CRLF, code, RFC 3463 code, <= 512 octets).
 * 3. Focused tests of single behaviours, mostly as inline scripts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp_proto.h"
#include "smtp_proto_int.h"

#define DATA_DIR "data/smtp_proto"

/* ---- scripts ---------------------------------------------------------------- */

enum step_kind { STEP_BYTES, STEP_TIMEOUT, STEP_SHUTDOWN, STEP_TLS };

struct step {
	enum step_kind kind;
	struct buf bytes;
};

struct verdict {
	bool accept;
	bool challenge;		/* "V: 334 TEXT": smtp_proto_auth_challenge() */
	int code;
	char enh[16];
	bool enh_null;
	char text[256];
};

struct script {
	char hostname[64];
	struct smtp_proto_conf conf;
	int greet_code;
	char greet_enh[16];
	bool greet_enh_null;
	char greet_text[128];
	struct step *steps;
	size_t nsteps;
	struct verdict *verdicts;
	size_t nverdicts;
};

static void script_free(struct script *sc)
{
	for (size_t i = 0; i < sc->nsteps; i++)
		buf_free(&sc->steps[i].bytes);
	free(sc->steps);
	free(sc->verdicts);
	memset(sc, 0, sizeof(*sc));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void unescape(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 >= n) {
			buf_append_char(out, s[i]);
			continue;
		}
		char c = s[++i];
		switch (c) {
		case 'r': buf_append_char(out, '\r'); break;
		case 'n': buf_append_char(out, '\n'); break;
		case 't': buf_append_char(out, '\t'); break;
		case '0': buf_append_char(out, '\0'); break;
		case 'x':
			assert_true(i + 2 < n);
			assert_true(hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0);
			buf_append_char(out, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
			break;
		default: buf_append_char(out, c); break;
		}
	}
}

static void escape(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '\r': buf_append_str(out, "\\r"); break;
		case '\n': buf_append_str(out, "\\n"); break;
		case '\t': buf_append_str(out, "\\t"); break;
		case '\0': buf_append_str(out, "\\0"); break;
		case '\\': buf_append_str(out, "\\\\"); break;
		default:
			if (c < ' ' || c >= 0x7f)
				buf_printf(out, "\\x%02x", c);
			else
				buf_append_char(out, (char)c);
		}
	}
}

static struct step *script_step(struct script *sc, enum step_kind kind)
{
	sc->steps = realloc(sc->steps, (sc->nsteps + 1) * sizeof(*sc->steps));
	assert_non_null(sc->steps);
	struct step *st = &sc->steps[sc->nsteps++];
	st->kind = kind;
	buf_init(&st->bytes);
	return st;
}

static void parse_verdict(const char *s, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (strcmp(s, "accept") == 0) {
		v->accept = true;
		return;
	}
	if (strncmp(s, "334", 3) == 0) {
		v->challenge = true;
		snprintf(v->text, sizeof(v->text), "%s", s[3] == ' ' ? s + 4 : "");
		return;
	}
	int off = 0;
	assert_int_equal(sscanf(s, "%d %15s %n", &v->code, v->enh, &off) >= 2, 1);
	v->enh_null = strcmp(v->enh, "-") == 0;
	snprintf(v->text, sizeof(v->text), "%s", s + off);
}

/* Parses script text (see the top of this file). */
static void script_parse(const char *text, struct script *sc)
{
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->hostname, sizeof(sc->hostname), "mx.test");
	sc->greet_code = 220;
	sc->greet_enh_null = true;
	snprintf(sc->greet_text, sizeof(sc->greet_text), "vsmtpd");

	const char *line = text;
	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
		char *l = strndup(line, n);
		assert_non_null(l);
		line += n + (nl != NULL);

		if (l[0] == '#' || l[0] == '\0') {
			free(l);
			continue;
		}
		if (strncmp(l, "C: ", 3) == 0) {
			struct step *st = script_step(sc, STEP_BYTES);
			unescape(l + 3, strlen(l + 3), &st->bytes);
		} else if (strncmp(l, "R: ", 3) == 0) {
			char *rest = NULL;
			unsigned long count = strtoul(l + 3, &rest, 10);
			assert_true(rest != NULL && *rest == ' ');
			struct buf one = BUF_INIT;
			unescape(rest + 1, strlen(rest + 1), &one);
			struct step *st = script_step(sc, STEP_BYTES);
			for (unsigned long k = 0; k < count; k++)
				buf_append(&st->bytes, one.data, one.len);
			buf_free(&one);
		} else if (strncmp(l, "V: ", 3) == 0) {
			sc->verdicts = realloc(sc->verdicts, (sc->nverdicts + 1) * sizeof(*sc->verdicts));
			assert_non_null(sc->verdicts);
			parse_verdict(l + 3, &sc->verdicts[sc->nverdicts++]);
		} else if (strcmp(l, "T: timeout") == 0) {
			script_step(sc, STEP_TIMEOUT);
		} else if (strcmp(l, "T: shutdown") == 0) {
			script_step(sc, STEP_SHUTDOWN);
		} else if (strcmp(l, "T: tls") == 0) {
			script_step(sc, STEP_TLS);
		} else if (strncmp(l, "greet ", 6) == 0) {
			int off = 0;
			assert_true(sscanf(l + 6, "%d %15s %n", &sc->greet_code, sc->greet_enh, &off) >= 2);
			sc->greet_enh_null = strcmp(sc->greet_enh, "-") == 0;
			snprintf(sc->greet_text, sizeof(sc->greet_text), "%s", l + 6 + off);
		} else if (strncmp(l, "conf ", 5) == 0) {
			char *save = NULL;
			for (char *kv = strtok_r(l + 5, " ", &save); kv != NULL; kv = strtok_r(NULL, " ", &save)) {
				char *eq = strchr(kv, '=');
				assert_non_null(eq);
				*eq = '\0';
				const char *v = eq + 1;
				if (strcmp(kv, "hostname") == 0)
					snprintf(sc->hostname, sizeof(sc->hostname), "%s", v);
				else if (strcmp(kv, "max_message_size") == 0)
					sc->conf.max_message_size = strtoull(v, NULL, 10);
				else if (strcmp(kv, "max_recipients") == 0)
					sc->conf.max_recipients = (unsigned)strtoul(v, NULL, 10);
				else if (strcmp(kv, "max_messages") == 0)
					sc->conf.max_messages = (unsigned)strtoul(v, NULL, 10);
				else if (strcmp(kv, "max_errors") == 0)
					sc->conf.max_errors = (unsigned)strtoul(v, NULL, 10);
				else if (strcmp(kv, "starttls") == 0)
					sc->conf.starttls = strcmp(v, "1") == 0;
				else if (strcmp(kv, "auth") == 0)	/* auth=1: "PLAIN LOGIN" */
					sc->conf.auth_mechanisms = strcmp(v, "1") == 0 ? "PLAIN LOGIN" : NULL;
				else if (strcmp(kv, "auth_tls") == 0)
					sc->conf.auth_needs_tls = strcmp(v, "1") == 0;
				else
					fail_msg("unknown conf key %s", kv);
			}
		} else {
			fail_msg("bad script line: %s", l);
		}
		free(l);
	}
}

/* ---- the walker --------------------------------------------------------------- */

struct run {
	const struct script *sc;
	struct smtp_proto *p;
	size_t vnext;
	struct buf log;
	struct buf chunk;	/* DATA bytes not yet logged (merged) */
	bool chunk_open;
	unsigned long long max_in_cap;	/* largest input buffer seen */
};

static void log_chunk_flush(struct run *r)
{
	if (!r->chunk_open)
		return;
	buf_append_str(&r->log, "E: DATA \"");
	escape(r->chunk.data != NULL ? r->chunk.data : "", r->chunk.len, &r->log);
	buf_append_str(&r->log, "\"\n");
	buf_reset(&r->chunk);
	r->chunk_open = false;
}

static void log_output(struct run *r)
{
	size_t len = 0;
	const char *out = smtp_proto_output(r->p, &len);
	if (len == 0)
		return;
	log_chunk_flush(r);
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(out + i, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - (out + i)) + 1 : len - i;
		buf_append_str(&r->log, "S: ");
		escape(out + i, n, &r->log);
		buf_append_char(&r->log, '\n');
		i += n;
	}
	smtp_proto_output_clear(r->p);
}

static const char *status_name(enum smtp_data_status s)
{
	switch (s) {
	case SMTP_DATA_OK: return "OK";
	case SMTP_DATA_TOO_BIG: return "TOO_BIG";
	case SMTP_DATA_BARE_EOL: return "BARE_EOL";
	case SMTP_DATA_NUL: return "NUL";
	case SMTP_DATA_REFUSED: return "REFUSED";
	}
	return "?";
}

static void log_mailbox(struct buf *log, const struct mailbox *m)
{
	buf_append_str(log, " <");
	escape(m->local, strlen(m->local), log);
	if (m->domain[0] != '\0')
		buf_append_char(log, '@');
	escape(m->domain, strlen(m->domain), log);
	buf_append_char(log, '>');
}

static void log_event(struct run *r, const struct smtp_event *ev)
{
	struct buf *log = &r->log;

	if (ev->type == SMTP_EV_DATA_CHUNK) {
		assert_true(ev->len > 0);	/* no empty chunks */
		buf_append(&r->chunk, ev->data, ev->len);
		r->chunk_open = true;
		return;
	}
	log_chunk_flush(r);
	switch (ev->type) {
	case SMTP_EV_NONE:
		fail_msg("NONE logged");
		return;
	case SMTP_EV_HELO:
		buf_append_str(log, ev->esmtp ? "E: EHLO \"" : "E: HELO \"");
		escape(ev->helo, strlen(ev->helo), log);
		buf_append_str(log, "\"");
		break;
	case SMTP_EV_MAIL:
		buf_append_str(log, "E: MAIL");
		log_mailbox(log, &ev->mailbox);
		if (ev->mail.size > 0)
			buf_printf(log, " size=%llu", ev->mail.size);
		if (ev->mail.body != SMTP_BODY_NONE)
			buf_printf(log, " body=%s", ev->mail.body == SMTP_BODY_7BIT ? "7BIT" : "8BITMIME");
		if (ev->mail.smtputf8)
			buf_append_str(log, " smtputf8");
		if (ev->mail.ret != SMTP_RET_NONE)
			buf_printf(log, " ret=%s", ev->mail.ret == SMTP_RET_FULL ? "FULL" : "HDRS");
		if (ev->mail.envid[0] != '\0')
			buf_printf(log, " envid=%s", ev->mail.envid);
		break;
	case SMTP_EV_RCPT:
		buf_append_str(log, "E: RCPT");
		log_mailbox(log, &ev->mailbox);
		if (ev->rcpt.notify != 0)
			buf_printf(log, " notify=%s%s%s%s",
				   ev->rcpt.notify & SMTP_NOTIFY_NEVER ? "N" : "",
				   ev->rcpt.notify & SMTP_NOTIFY_SUCCESS ? "S" : "",
				   ev->rcpt.notify & SMTP_NOTIFY_FAILURE ? "F" : "",
				   ev->rcpt.notify & SMTP_NOTIFY_DELAY ? "D" : "");
		if (ev->rcpt.orcpt[0] != '\0')
			buf_printf(log, " orcpt=%s", ev->rcpt.orcpt);
		break;
	case SMTP_EV_DATA_START:
		buf_append_str(log, ev->bdat ? "E: DATA_START bdat" : "E: DATA_START");
		break;
	case SMTP_EV_DATA_CHUNK:
		break;
	case SMTP_EV_DATA_END:
		buf_printf(log, "E: DATA_END %s size=%llu%s", status_name(ev->status), ev->size,
			   ev->bdat ? " bdat" : "");
		break;
	case SMTP_EV_RSET:
		buf_append_str(log, "E: RSET");
		break;
	case SMTP_EV_STARTTLS:
		buf_append_str(log, "E: STARTTLS");
		break;
	case SMTP_EV_AUTH:
		buf_printf(log, "E: AUTH %s", ev->auth_mech);
		if (ev->auth_initial != NULL) {
			buf_append_str(log, " \"");
			escape(ev->auth_initial, strlen(ev->auth_initial), log);
			buf_append_str(log, "\"");
		}
		break;
	case SMTP_EV_AUTH_DATA:
		buf_append_str(log, "E: AUTH_DATA \"");
		escape(ev->data, ev->len, log);
		buf_append_str(log, "\"");
		break;
	case SMTP_EV_QUIT:
		buf_append_str(log, "E: QUIT");
		break;
	case SMTP_EV_CLOSE:
		buf_append_str(log, "E: CLOSE");
		break;
	}
	buf_append_char(log, '\n');
}

static void run_verdict(struct run *r)
{
	if (r->vnext >= r->sc->nverdicts) {
		smtp_proto_accept(r->p);
		return;
	}
	const struct verdict *v = &r->sc->verdicts[r->vnext++];
	if (v->challenge)
		smtp_proto_auth_challenge(r->p, v->text);
	else if (v->accept)
		smtp_proto_accept(r->p);
	else
		smtp_proto_verdict(r->p, v->code, v->enh_null ? NULL : v->enh, "%s", v->text);
}

static void run_drain(struct run *r)
{
	for (;;) {
		struct smtp_event ev;
		enum smtp_ev_type t = smtp_proto_next(r->p, &ev);
		assert_int_equal(t, ev.type);
		if (r->p->in.cap > r->max_in_cap)
			r->max_in_cap = r->p->in.cap;
		log_output(r);
		if (t == SMTP_EV_NONE)
			return;
		log_event(r, &ev);
		if (smtp_ev_needs_verdict(&ev)) {
			run_verdict(r);
			log_output(r);
		}
	}
}

static void run_start(struct run *r, const struct script *sc)
{
	memset(r, 0, sizeof(*r));
	r->sc = sc;
	struct smtp_proto_conf conf = sc->conf;
	conf.hostname = sc->hostname;
	r->p = smtp_proto_new(&conf);
	smtp_proto_greet(r->p, sc->greet_code, sc->greet_enh_null ? NULL : sc->greet_enh,
			 sc->greet_text);
	run_drain(r);
}

static void run_action(struct run *r, enum step_kind kind)
{
	switch (kind) {
	case STEP_BYTES:
		return;
	case STEP_TIMEOUT:
		smtp_proto_timeout(r->p);
		break;
	case STEP_SHUTDOWN:
		smtp_proto_shutdown(r->p);
		break;
	case STEP_TLS:
		smtp_proto_tls_started(r->p);
		break;
	}
	run_drain(r);
}

static void run_feed(struct run *r, const char *b, size_t n)
{
	smtp_proto_feed(r->p, b, n);
	run_drain(r);
}

static void run_finish(struct run *r, struct buf *log)
{
	log_chunk_flush(r);
	*log = r->log;
	buf_free(&r->chunk);
	smtp_proto_free(r->p);
	r->p = NULL;
}

/* How a segment's bytes are cut into feeds. */
enum split { SPLIT_STEPS, SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

/* Runs a script; returns the log in *log (caller frees). */
static void script_run(const struct script *sc, enum split how, unsigned seed, struct buf *log)
{
	struct run r;
	struct buf seg = BUF_INIT;

	run_start(&r, sc);
	srand(seed);
	for (size_t i = 0; i <= sc->nsteps; i++) {
		bool end = i == sc->nsteps;
		const struct step *st = end ? NULL : &sc->steps[i];
		if (how == SPLIT_STEPS) {
			if (end)
				break;
			if (st->kind == STEP_BYTES)
				run_feed(&r, st->bytes.data != NULL ? st->bytes.data : "", st->bytes.len);
			else
				run_action(&r, st->kind);
			continue;
		}
		if (!end && st->kind == STEP_BYTES) {
			buf_append(&seg, st->bytes.data != NULL ? st->bytes.data : "", st->bytes.len);
			continue;
		}
		/* End of a segment: feed it in the chosen cuts. */
		size_t off = 0;
		while (off < seg.len) {
			size_t n = seg.len - off;
			if (how == SPLIT_BYTES)
				n = 1;
			else if (how == SPLIT_RANDOM) {
				size_t cut = (size_t)(rand() % 4 == 0 ? rand() % 3000 : rand() % 40) + 1;
				n = cut < n ? cut : n;
			}
			run_feed(&r, seg.data + off, n);
			off += n;
		}
		buf_reset(&seg);
		if (!end)
			run_action(&r, st->kind);
	}
	buf_free(&seg);
	run_finish(&r, log);
}

static void run_text(const char *text, struct buf *log)
{
	struct script sc;
	script_parse(text, &sc);
	script_run(&sc, SPLIT_STEPS, 0, log);
	script_free(&sc);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	if (b.data == NULL)
		buf_append(&b, "", 0);
	return b.data;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the .in files, sorted; NULL-terminated, caller frees. */
static char **golden_names(void)
{
	DIR *d = opendir(DATA_DIR);
	assert_non_null(d);
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 4 || strcmp(e->d_name + l - 3, ".in") != 0)
			continue;
		names = realloc(names, (n + 2) * sizeof(*names));
		assert_non_null(names);
		names[n++] = strndup(e->d_name, l - 3);
	}
	closedir(d);
	assert_true(n > 0);
	names[n] = NULL;
	qsort(names, n, sizeof(*names), cmp_names);
	return names;
}

static void names_free(char **names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

/* Prints the first line where two logs differ. */
static void show_diff(const char *name, const char *want, const char *got)
{
	int line = 1;
	const char *w = want, *g = got;
	while (*w != '\0' && *w == *g) {
		if (*w == '\n')
			line++;
		w++;
		g++;
	}
	const char *we = strchr(w, '\n'), *ge = strchr(g, '\n');
	print_error("%s: line %d differs\n  want: %.*s\n  got:  %.*s\n", name, line,
		    (int)(we != NULL ? we - w : (long)strlen(w)), w,
		    (int)(ge != NULL ? ge - g : (long)strlen(g)), g);
}

/* ---- reply well-formedness -------------------------------------------------- */

/* Checks every S: line of a log; hostname is the HELO reply's text. */
static void check_replies(const char *name, const char *log, const char *hostname)
{
	bool first = true, in_ehlo = false;
	char helo_reply[128];
	snprintf(helo_reply, sizeof(helo_reply), "250 %s\\r\\n", hostname);
	for (const char *l = log; *l != '\0';) {
		const char *nl = strchr(l, '\n');
		size_t n = nl != NULL ? (size_t)(nl - l) : strlen(l);
		if (strncmp(l, "S: ", 3) == 0) {
			const char *s = l + 3;
			size_t sl = n - 3;
			if (sl < 8 || strncmp(s + sl - 4, "\\r\\n", 4) != 0)
				fail_msg("%s: reply without CRLF: %.*s", name, (int)n, l);
			if (sl - 4 + 2 > SMTP_REPLY_MAX)
				fail_msg("%s: reply over 512 octets", name);
			if (!(s[0] >= '2' && s[0] <= '5' && isdigit((unsigned char)s[1]) &&
			      isdigit((unsigned char)s[2]) && (s[3] == ' ' || s[3] == '-')))
				fail_msg("%s: bad reply code: %.*s", name, (int)n, l);
			/* no RFC 3463 code: greeting, EHLO/HELO, 354, and 334 (RFC 4954 4) */
			bool exempt = first || strncmp(s, "354 ", 4) == 0 || strncmp(s, "334 ", 4) == 0 ||
				      s[3] == '-' || in_ehlo ||
				      (sl == strlen(helo_reply) && strncmp(s, helo_reply, sl) == 0);
			in_ehlo = s[3] == '-';
			if (!exempt) {
				/* "CODE X.Y.Z " with X the reply class */
				int a = -1, b = -1, c = -1, off = 0;
				if (sscanf(s + 4, "%d.%d.%d%n", &a, &b, &c, &off) != 3 || a != s[0] - '0' ||
				    b < 0 || b > 999 || c < 0 || c > 999 ||
				    (s[4 + off] != ' ' && s[4 + off] != '\\'))
					fail_msg("%s: no enhanced code: %.*s", name, (int)n, l);
			}
			first = false;
		}
		l += n + (nl != NULL);
	}
}

/* ---- 1 and 2: golden transcripts and split properties ------------------------- */

static void test_smtp_proto_golden_transcripts(void **state)
{
	char **names = golden_names();
	int failed = 0, count = 0;
	bool regen = getenv("SMTP_PROTO_REGEN") != NULL;

	for (size_t i = 0; names[i] != NULL; i++) {
		char path[512];
		snprintf(path, sizeof(path), DATA_DIR "/%s.in", names[i]);
		char *in = read_file(path);
		assert_non_null(in);
		struct script sc;
		script_parse(in, &sc);
		struct buf log = BUF_INIT;
		script_run(&sc, SPLIT_STEPS, 0, &log);
		const char *got = buf_str(&log);
		check_replies(names[i], got, sc.hostname);
		snprintf(path, sizeof(path), DATA_DIR "/%s.ref", names[i]);
		if (regen) {
			FILE *f = fopen(path, "wb");
			assert_non_null(f);
			fwrite(got, 1, strlen(got), f);
			fclose(f);
		}
		char *want = read_file(path);
		if (want == NULL || strcmp(want, got) != 0) {
			show_diff(names[i], want != NULL ? want : "", got);
			failed++;
		}
		count++;
		free(want);
		buf_free(&log);
		script_free(&sc);
		free(in);
	}
	names_free(names);
	if (failed > 0)
		fail_msg("%d of %d transcripts differ", failed, count);
	assert_true(count >= 20);
}

static void test_smtp_proto_split_invariance(void **state)
{
	char **names = golden_names();
	int failed = 0;

	for (size_t i = 0; names[i] != NULL; i++) {
		char path[512];
		snprintf(path, sizeof(path), DATA_DIR "/%s.in", names[i]);
		char *in = read_file(path);
		assert_non_null(in);
		struct script sc;
		script_parse(in, &sc);
		struct buf ref = BUF_INIT;
		script_run(&sc, SPLIT_STEPS, 0, &ref);
		const enum split hows[] = { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };
		for (size_t h = 0; h < 3; h++) {
			unsigned seeds = hows[h] == SPLIT_RANDOM ? 12 : 1;
			for (unsigned seed = 1; seed <= seeds; seed++) {
				struct buf log = BUF_INIT;
				script_run(&sc, hows[h], seed, &log);
				if (strcmp(buf_str(&ref), buf_str(&log)) != 0) {
					char label[300];
					snprintf(label, sizeof(label), "%s (split %zu seed %u)", names[i], h, seed);
					show_diff(label, buf_str(&ref), buf_str(&log));
					failed++;
				}
				buf_free(&log);
			}
		}
		buf_free(&ref);
		script_free(&sc);
		free(in);
	}
	names_free(names);
	if (failed > 0)
		fail_msg("%d split runs differ", failed);
}

/* ---- 3: focused tests -------------------------------------------------------------- */

/* Runs an inline script and checks that its log holds each expected line,
 * in order (other lines may come between). */
static void expect_lines(const char *script, ...)
{
	struct buf log = BUF_INIT;
	va_list ap;
	run_text(script, &log);
	check_replies("inline", buf_str(&log), "mx.test");
	const char *at = buf_str(&log);
	va_start(ap, script);
	for (const char *want = va_arg(ap, const char *); want != NULL; want = va_arg(ap, const char *)) {
		const char *hit = strstr(at, want);
		if (hit == NULL) {
			print_error("log:\n%s", buf_str(&log));
			va_end(ap);
			buf_free(&log);
			fail_msg("missing (in order): %s", want);
		}
		at = hit + strlen(want);
	}
	va_end(ap);
	buf_free(&log);
}

/* The same, and the log must not contain bad. */
static void expect_absent(const char *script, const char *bad)
{
	struct buf log = BUF_INIT;
	run_text(script, &log);
	if (strstr(buf_str(&log), bad) != NULL) {
		print_error("log:\n%s", buf_str(&log));
		buf_free(&log);
		fail_msg("unexpected: %s", bad);
	}
	buf_free(&log);
}

#define EHLO "C: EHLO c.test\\r\\n\n"
#define TXN EHLO "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<r@mx.test>\\r\\n\n"

static void test_smtp_proto_greeting_220(void **state)
{
	expect_lines("", "S: 220 mx.test ESMTP vsmtpd\\r\\n\n", NULL);
}

static void test_smtp_proto_greeting_sanitises(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test\r\nX" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	size_t len;
	smtp_proto_greet(p, 220, NULL, "hi\r\nthere");
	const char *out = smtp_proto_output(p, &len);
	assert_int_equal(len, strlen("220 mx.testX ESMTP hi  there\r\n"));
	assert_memory_equal(out, "220 mx.testX ESMTP hi  there\r\n", len);
	smtp_proto_free(p);
}

static void test_smtp_proto_ehlo_capabilities(void **state)
{
	expect_lines("conf max_message_size=1000 starttls=1\n" EHLO,
		     "S: 250-mx.test\\r\\n\nS: 250-PIPELINING\\r\\n\nS: 250-SIZE 1000\\r\\n\n"
		     "S: 250-8BITMIME\\r\\n\nS: 250-ENHANCEDSTATUSCODES\\r\\n\nS: 250-SMTPUTF8\\r\\n\n"
		     "S: 250-DSN\\r\\n\nS: 250-CHUNKING\\r\\n\nS: 250 STARTTLS\\r\\n\n",
		     NULL);
}

static void test_smtp_proto_ehlo_size_unlimited(void **state)
{
	expect_lines(EHLO, "S: 250-SIZE\\r\\n\n", "S: 250 CHUNKING\\r\\n\n", NULL);
	expect_absent(EHLO, "STARTTLS");
}

static void test_smtp_proto_helo_reply(void **state)
{
	expect_lines("C: HELO c.test\\r\\n", "E: HELO \"c.test\"\n", "S: 250 mx.test\\r\\n\n", NULL);
}

static void test_smtp_proto_helo_without_arg_is_501(void **state)
{
	expect_lines("C: HELO\\r\\n\nC: EHLO   \\r\\n", "S: 501 5.5.4 Syntax: HELO hostname\\r\\n\n",
		     "S: 501 5.5.4 Syntax: EHLO hostname\\r\\n\n", NULL);
}

static void test_smtp_proto_helo_control_char_is_501(void **state)
{
	expect_lines("C: EHLO a\\x01b\\r\\n", "S: 501 5.5.4 Syntax: EHLO hostname\\r\\n\n", NULL);
	expect_absent("C: EHLO a\\x01b\\r\\n", "E: EHLO");
}

static void test_smtp_proto_verbs_case_insensitive(void **state)
{
	expect_lines("C: ehlo c.test\\r\\n\nC: mAiL fRoM:<a@b.test>\\r\\n\nC: rcpt to:<r@mx.test>\\r\\n\nC: data\\r\\n",
		     "E: EHLO", "E: MAIL <a@b.test>", "E: RCPT <r@mx.test>", "S: 354 ", NULL);
}

static void test_smtp_proto_mail_before_helo_is_503(void **state)
{
	expect_lines("C: MAIL FROM:<a@b.test>\\r\\n", "S: 503 5.5.1 Error: send HELO/EHLO first\\r\\n\n", NULL);
}

static void test_smtp_proto_nested_mail_is_503(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n",
		     "S: 250 2.1.0 Ok\\r\\n\n", "S: 503 5.5.1 Error: nested MAIL command\\r\\n\n", NULL);
}

static void test_smtp_proto_rcpt_before_mail_is_503(void **state)
{
	expect_lines(EHLO "C: RCPT TO:<r@mx.test>\\r\\n", "S: 503 5.5.1 Error: need MAIL command\\r\\n\n", NULL);
}

static void test_smtp_proto_data_without_mail_is_503(void **state)
{
	expect_lines(EHLO "C: DATA\\r\\n", "S: 503 5.5.1 Error: need MAIL and RCPT commands\\r\\n\n", NULL);
}

static void test_smtp_proto_data_without_rcpt_is_554(void **state)
{
	expect_lines(EHLO "V: accept\nV: accept\nV: 550 5.1.1 No such user\n"
			  "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<x@mx.test>\\r\\n\nC: DATA\\r\\n",
		     "S: 550 5.1.1 No such user\\r\\n\n", "S: 554 5.5.1 Error: no valid recipients\\r\\n\n", NULL);
}

static void test_smtp_proto_unknown_verb_is_500(void **state)
{
	expect_lines("C: FOO bar\\r\\n\nC: \\r\\n\nC: MAILFROM:<a@b>\\r\\n",
		     "S: 500 5.5.2 Error: command not recognized\\r\\n\n",
		     "S: 500 5.5.2 Error: command not recognized\\r\\n\n",
		     "S: 500 5.5.2 Error: command not recognized\\r\\n\n", NULL);
}

static void test_smtp_proto_args_where_none_allowed_is_501(void **state)
{
	expect_lines(TXN "C: DATA x\\r\\n\nC: RSET x\\r\\n\nC: QUIT now\\r\\n",
		     "S: 501 5.5.4 Syntax: DATA\\r\\n\n", "S: 501 5.5.4 Syntax: RSET\\r\\n\n",
		     "S: 501 5.5.4 Syntax: QUIT\\r\\n\n", NULL);
}

static void test_smtp_proto_mail_syntax_errors(void **state)
{
	expect_lines(EHLO "C: MAIL TO:<a@b.test>\\r\\n\nC: MAIL FROM:a@b.test\\r\\n\nC: MAIL FROM:<a@b.test>x\\r\\n\n"
			  "C: MAIL FROM:<postmaster>\\r\\n",
		     "S: 501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\\r\\n\n",
		     "S: 501 5.1.7 Error: bad sender address syntax\\r\\n\n",
		     "S: 501 5.5.4 Syntax: MAIL FROM:<address> [parameters]\\r\\n\n",
		     "S: 501 5.1.7 Error: bad sender address syntax\\r\\n\n", NULL);
}

static void test_smtp_proto_mail_null_sender(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<>\\r\\n", "E: MAIL <>\n", "S: 250 2.1.0 Ok\\r\\n\n", NULL);
}

static void test_smtp_proto_rcpt_null_is_501(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<>\\r\\n\nC: RCPT TO:<>\\r\\n",
		     "S: 501 5.1.3 Error: null recipient address not allowed\\r\\n\n", NULL);
}

static void test_smtp_proto_rcpt_postmaster_without_domain(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<>\\r\\n\nC: RCPT TO:<Postmaster>\\r\\n", "E: RCPT <Postmaster>\n",
		     "S: 250 2.1.5 Ok\\r\\n\n", NULL);
}

static void test_smtp_proto_rcpt_bad_syntax_is_501_513(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<>\\r\\n\nC: RCPT TO:<a b@c>\\r\\n\nC: RCPT <r@mx.test>\\r\\n",
		     "S: 501 5.1.3 Error: bad recipient address syntax\\r\\n\n",
		     "S: 501 5.5.4 Syntax: RCPT TO:<address> [parameters]\\r\\n\n", NULL);
}

static void test_smtp_proto_path_too_long(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<\n"
			  "R: 65 a\n"
			  "C: @b.test>\\r\\n",
		     "S: 501 5.1.7 Error: sender address too long\\r\\n\n", NULL);
}

static void test_smtp_proto_utf8_needs_smtputf8(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<j\\xc3\\xb6rg@b.test>\\r\\n\n"
			  "C: MAIL FROM:<j\\xc3\\xb6rg@b.test> SMTPUTF8\\r\\n\n"
			  "C: RCPT TO:<m\\xc3\\xbc@mx.test>\\r\\n",
		     "S: 553 5.6.7 Error: UTF-8 sender address needs SMTPUTF8\\r\\n\n",
		     "E: MAIL <j\\xc3\\xb6rg@b.test> smtputf8\n", "E: RCPT <m\\xc3\\xbc@mx.test>\n", NULL);
}

static void test_smtp_proto_rcpt_utf8_without_smtputf8_is_553(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<m\\xc3\\xbc@mx.test>\\r\\n",
		     "S: 553 5.6.7 Error: UTF-8 recipient address needs SMTPUTF8\\r\\n\n", NULL);
}

static void test_smtp_proto_params_after_helo_are_555(void **state)
{
	expect_lines("C: HELO c.test\\r\\n\nC: MAIL FROM:<a@b.test> SIZE=10\\r\\n",
		     "S: 555 5.5.4 Error: parameters need EHLO\\r\\n\n", NULL);
}

static void test_smtp_proto_mail_params_parsed(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test> size=100 BODY=8bitmime RET=hdrs ENVID=QQ+2B1+2b AUTH=<>\\r\\n",
		     "E: MAIL <a@b.test> size=100 body=8BITMIME ret=HDRS envid=QQ+2B1+2b\n", NULL);
}

static void test_smtp_proto_mail_param_errors(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test> SIZE=1x\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> BODY=BINARYMIME\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> FOO=bar\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> SIZE=1 size=2\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> SMTPUTF8=yes\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> RET=ALL\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> ENVID=a+zz\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> ENVID=a=b\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> =x\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> AUTH=a\\x01\\r\\n\n"
			  "C: MAIL FROM:<a@b.test> SIZE\\r\\n",
		     "S: 501 5.5.4 Error: bad value for parameter SIZE\\r\\n\n",
		     "S: 555 5.5.4 Error: unsupported value for parameter BODY\\r\\n\n",
		     "S: 555 5.5.4 Error: unsupported parameter FOO\\r\\n\n",
		     "S: 555 5.5.4 Error: duplicate parameter size\\r\\n\n",
		     "S: 501 5.5.4 Error: no value allowed for parameter SMTPUTF8\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter RET\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter ENVID\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter ENVID\\r\\n\n",
		     "S: 501 5.5.4 Error: bad parameter syntax\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter AUTH\\r\\n\n",
		     "S: 501 5.5.4 Error: value required for parameter SIZE\\r\\n\n", NULL);
}

static void test_smtp_proto_envid_length_limit(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test> ENVID=\nR: 100 x\nC: \\r\\n", "E: MAIL <a@b.test> envid=xxxx", NULL);
	expect_lines(EHLO "C: MAIL FROM:<a@b.test> ENVID=\nR: 101 x\nC: \\r\\n",
		     "S: 501 5.5.4 Error: bad value for parameter ENVID\\r\\n\n", NULL);
}

static void test_smtp_proto_size_param_limits(void **state)
{
	expect_lines("conf max_message_size=1000\n" EHLO "C: MAIL FROM:<a@b.test> SIZE=1000\\r\\n\nC: RSET\\r\\n\n"
		     "C: MAIL FROM:<a@b.test> SIZE=1001\\r\\n\nC: MAIL FROM:<a@b.test> SIZE=99999999999999999999\\r\\n",
		     "E: MAIL <a@b.test> size=1000\n",
		     "S: 552 5.3.4 Error: message size exceeds fixed limit\\r\\n\n",
		     "S: 552 5.3.4 Error: message size exceeds fixed limit\\r\\n\n", NULL);
}

static void test_smtp_proto_rcpt_dsn_params(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> NOTIFY=success,Delay ORCPT=rfc822;r+40mx.test\\r\\n\n"
			  "C: RCPT TO:<s@mx.test> NOTIFY=NEVER\\r\\n",
		     "E: RCPT <r@mx.test> notify=SD orcpt=rfc822;r+40mx.test\n", "E: RCPT <s@mx.test> notify=N\n",
		     NULL);
}

static void test_smtp_proto_rcpt_dsn_param_errors(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> NOTIFY=NEVER,SUCCESS\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> NOTIFY=SUCCESS,\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> NOTIFY=SOMETIMES\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> ORCPT=r@mx.test\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> ORCPT=rfc822;a+4\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> ORCPT=;a\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> NOTIFY=DELAY NOTIFY=DELAY\\r\\n\n"
			  "C: RCPT TO:<r@mx.test> SIZE=10\\r\\n",
		     "S: 501 5.5.4 Error: bad value for parameter NOTIFY\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter NOTIFY\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter NOTIFY\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter ORCPT\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter ORCPT\\r\\n\n",
		     "S: 501 5.5.4 Error: bad value for parameter ORCPT\\r\\n\n",
		     "S: 555 5.5.4 Error: duplicate parameter NOTIFY\\r\\n\n",
		     "S: 555 5.5.4 Error: unsupported parameter SIZE\\r\\n\n", NULL);
}

static void test_smtp_proto_orcpt_length_limit(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<r@mx.test> ORCPT=rfc822;\nR: 493 x\nC: \\r\\n",
		     "E: RCPT <r@mx.test> orcpt=rfc822;xxx", NULL);
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<r@mx.test> ORCPT=rfc822;\nR: 494 x\nC: \\r\\n",
		     "S: 501 5.5.4 Error: bad value for parameter ORCPT\\r\\n\n", NULL);
}

static void test_smtp_proto_max_recipients_452(void **state)
{
	expect_lines("conf max_recipients=2\n" EHLO "V: accept\nV: accept\nV: 550 5.1.1 no\n"
		     "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<x@mx.test>\\r\\n\n"
		     "C: RCPT TO:<r1@mx.test>\\r\\n\nC: RCPT TO:<r2@mx.test>\\r\\n\nC: RCPT TO:<r3@mx.test>\\r\\n",
		     "S: 550 5.1.1 no\\r\\n\n", "E: RCPT <r1@mx.test>", "E: RCPT <r2@mx.test>",
		     "S: 452 4.5.3 Error: too many recipients\\r\\n\n", NULL);
	expect_absent("conf max_recipients=2\n" EHLO "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<r1@mx.test>\\r\\n\n"
		      "C: RCPT TO:<r2@mx.test>\\r\\n\nC: RCPT TO:<r3@mx.test>\\r\\n",
		      "E: RCPT <r3@mx.test>");
}

static void test_smtp_proto_max_recipients_resets_per_transaction(void **state)
{
	expect_lines("conf max_recipients=1\n" EHLO "C: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<r1@mx.test>\\r\\n\n"
		     "C: RSET\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n\nC: RCPT TO:<r2@mx.test>\\r\\n",
		     "E: RCPT <r1@mx.test>", "E: RSET", "E: RCPT <r2@mx.test>\nS: 250 2.1.5 Ok", NULL);
}

static void test_smtp_proto_max_messages_421(void **state)
{
	expect_lines("conf max_messages=1\n" TXN "C: DATA\\r\\n\nC: hi\\r\\n.\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n\nC: NOOP\\r\\n",
		     "E: DATA_END OK size=4\n", "S: 250 2.0.0 Ok: queued\\r\\n\n",
		     "S: 421 4.7.0 mx.test Error: too many messages in one session\\r\\n\nE: CLOSE\n", NULL);
	expect_absent("conf max_messages=1\n" TXN "C: DATA\\r\\n\nC: hi\\r\\n.\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n\nC: NOOP\\r\\n",
		      "S: 250 2.0.0 Ok\\r\\n");
}

static void test_smtp_proto_max_errors_421(void **state)
{
	expect_lines("conf max_errors=3\nC: X\\r\\n\nC: Y\\r\\n\nC: Z\\r\\n\nC: W\\r\\n",
		     "S: 500 5.5.2 Error: command not recognized\\r\\n\n",
		     "S: 500 5.5.2 Error: command not recognized\\r\\n\n",
		     "S: 500 5.5.2 Error: command not recognized\\r\\n\n"
		     "S: 421 4.7.0 mx.test Error: too many errors\\r\\n\nE: CLOSE\n",
		     NULL);
}

static void test_smtp_proto_max_errors_default(void **state)
{
	struct buf log = BUF_INIT;
	run_text("R: 25 X\\r\\n\n", &log);
	const char *s = buf_str(&log);
	int n = 0;
	for (const char *h = s; (h = strstr(h, "S: 500 ")) != NULL; h++)
		n++;
	assert_int_equal(n, SMTP_DEFAULT_MAX_ERRORS);
	assert_non_null(strstr(s, "too many errors"));
	buf_free(&log);
}

static void test_smtp_proto_452_is_not_an_error(void **state)
{
	expect_absent("conf max_recipients=1 max_errors=2\n" EHLO "C: MAIL FROM:<a@b.test>\\r\\n\n"
		      "R: 5 RCPT TO:<r@mx.test>\\r\\n\n",
		      "too many errors");
}

static void test_smtp_proto_line_max_exact_ok(void **state)
{
	/* "NOOP " + filler + CRLF == SMTP_LINE_MAX octets */
	char script[128];
	snprintf(script, sizeof(script), "C: NOOP \nR: %d x\nC: \\r\\n", SMTP_LINE_MAX - 7);
	expect_lines(script, "S: 250 2.0.0 Ok\\r\\n\n", NULL);
	snprintf(script, sizeof(script), "C: NOOP \nR: %d x\nC: \\r\\n\nC: NOOP\\r\\n", SMTP_LINE_MAX - 6);
	expect_lines(script, "S: 500 5.5.2 Error: line too long\\r\\n\nS: 250 2.0.0 Ok\\r\\n\n", NULL);
}

static void test_smtp_proto_long_line_swallowed(void **state)
{
	/* The tail of the long line must not run as a command. */
	expect_lines(EHLO "C: NOOP \nR: 3000 x\nC: \\r\\nMAIL FROM:<a@b.test>\\r\\n\nR: 3000 y\nC: \\rQUIT\\r\\nNOOP\\r\\n",
		     "S: 500 5.5.2 Error: line too long\\r\\n\n", "E: MAIL <a@b.test>", "S: 250 2.1.0 Ok",
		     "S: 500 5.5.2 Error: line too long\\r\\n\nS: 250 2.0.0 Ok\\r\\n\n", NULL);
	expect_absent(EHLO "C: NOOP \nR: 3000 x\nC: \\r\\nMAIL FROM:<a@b.test>\\r\\n\nR: 3000 y\nC: \\rQUIT\\r\\nNOOP\\r\\n",
		      "E: QUIT");
}

static void test_smtp_proto_long_line_memory_bounded(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	char blob[4096];
	memset(blob, 'x', sizeof(blob));
	smtp_proto_greet(p, 220, NULL, "");
	for (int i = 0; i < 1000; i++) {
		smtp_proto_feed(p, blob, sizeof(blob));
		assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
		assert_true(p->in.cap <= 4 * sizeof(blob));
	}
	smtp_proto_feed(p, "\r\n", 2);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	size_t len;
	const char *out = smtp_proto_output(p, &len);
	assert_true(strstr(out, "500 5.5.2 Error: line too long\r\n") != NULL);
	smtp_proto_free(p);
}

static void test_smtp_proto_nul_in_command_refused(void **state)
{
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\0 SIZE=1\\r\\n",
		     "S: 500 5.5.2 Error: bad syntax: NUL, bare <CR> or bare <LF> in command\\r\\n\n", NULL);
	expect_absent(EHLO "C: MAIL FROM:<a@b.test>\\0 SIZE=1\\r\\n", "E: MAIL");
}

static void test_smtp_proto_bare_lf_in_command_refused(void **state)
{
	/* The two "lines" are one line with a bare LF: neither runs. */
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\nRCPT TO:<r@mx.test>\\r\\n",
		     "S: 500 5.5.2 Error: bad syntax: NUL, bare <CR> or bare <LF> in command\\r\\n\n", NULL);
	expect_absent(EHLO "C: MAIL FROM:<a@b.test>\\nRCPT TO:<r@mx.test>\\r\\n", "E: MAIL");
}

static void test_smtp_proto_bare_cr_in_command_refused(void **state)
{
	expect_lines(EHLO "C: NOOP\\rQUIT\\r\\n",
		     "S: 500 5.5.2 Error: bad syntax: NUL, bare <CR> or bare <LF> in command\\r\\n\n", NULL);
	expect_absent(EHLO "C: NOOP\\rQUIT\\r\\n", "E: QUIT");
}

static void test_smtp_proto_data_dot_unstuffing(void **state)
{
	expect_lines(TXN "C: DATA\\r\\n\nC: .hidden\\r\\n..\\r\\n...x\\r\\na.b\\r\\n.\\r\\n",
		     "S: 354 End data with <CR><LF>.<CR><LF>\\r\\n\n",
		     "E: DATA \"hidden\\r\\n.\\r\\n..x\\r\\na.b\\r\\n\"\nE: DATA_END OK size=21\n", NULL);
}

static void test_smtp_proto_data_empty_message(void **state)
{
	expect_lines(TXN "C: DATA\\r\\n.\\r\\n", "E: DATA_START\n", "E: DATA_END OK size=0\n", NULL);
}

static void test_smtp_proto_data_pipelined_after_end(void **state)
{
	expect_lines(TXN "C: DATA\\r\\n\nC: x\\r\\n.\\r\\nQUIT\\r\\n",
		     "E: DATA \"x\\r\\n\"\nE: DATA_END OK size=3\nS: 250 2.0.0 Ok: queued\\r\\n\n"
		     "S: 221 2.0.0 mx.test closing connection\\r\\n\nE: QUIT\n",
		     NULL);
}

/* Each variant must neither end the data nor let the command behind it run. */
static void smuggle(const char *variant)
{
	char script[1024];
	snprintf(script, sizeof(script),
		 TXN "C: DATA\\r\\n\nC: Subject: x\\r\\n\\r\\nbody%sMAIL FROM:<evil@x.test>\\r\\n"
		     "RCPT TO:<victim@mx.test>\\r\\nDATA\\r\\nfake\\r\\n.\\r\\nNOOP\\r\\n",
		 variant);
	expect_lines(script, "S: 550 5.5.2 Error: bare <CR> or <LF> in message text\\r\\n\nE: DATA_END BARE_EOL size=",
		     "S: 250 2.0.0 Ok\\r\\n\n", NULL);
	expect_absent(script, "evil");
	expect_absent(script, "victim");
}

static void test_smtp_proto_smuggling_lf_dot_lf(void **state) { smuggle("\\n.\\n"); }
static void test_smtp_proto_smuggling_lf_dot_crlf(void **state) { smuggle("\\n.\\r\\n"); }
static void test_smtp_proto_smuggling_cr_dot_crlf(void **state) { smuggle("\\r.\\r\\n"); }
static void test_smtp_proto_smuggling_crlf_dot_lf(void **state) { smuggle("\\r\\n.\\n"); }
static void test_smtp_proto_smuggling_crlf_dot_cr(void **state) { smuggle("\\r\\n.\\r"); }
static void test_smtp_proto_smuggling_cr_dot_cr(void **state) { smuggle("\\r.\\r"); }
static void test_smtp_proto_smuggling_lf_dot_cr(void **state) { smuggle("\\n.\\r"); }

static void test_smtp_proto_data_bare_eol_passes_nothing_after(void **state)
{
	expect_lines(TXN "C: DATA\\r\\n\nC: ok\\r\\nba\\nd after\\r\\n.\\r\\n",
		     "E: DATA \"ok\\r\\nba\"\nS: 550 5.5.2 Error: bare <CR> or <LF> in message text\\r\\n\nE: DATA_END BARE_EOL size=16\n", NULL);
}

static void test_smtp_proto_data_nul(void **state)
{
	expect_lines(TXN "C: DATA\\r\\n\nC: a\\0b\\r\\n.\\r\\n", "E: DATA \"a\"\nS: 550 5.6.0 Error: NUL character in message text\\r\\n\nE: DATA_END NUL size=5\n", NULL);
}

static void test_smtp_proto_data_too_big(void **state)
{
	expect_lines("conf max_message_size=10\n" TXN "C: DATA\\r\\n\nC: 0123456789\\r\\n.\\r\\n",
		     "E: DATA \"0123456789\"\nS: 552 5.3.4 Error: message file too big\\r\\n\nE: DATA_END TOO_BIG size=12\n", NULL);
	expect_lines("conf max_message_size=12\n" TXN "C: DATA\\r\\n\nC: 0123456789\\r\\n.\\r\\n",
		     "E: DATA_END OK size=12\n", NULL);
}

static void test_smtp_proto_data_big_streams_bounded(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	char blob[16384];
	unsigned long long total = 0;
	memset(blob, 'y', sizeof(blob));
	smtp_proto_greet(p, 220, NULL, "");
	const char *hdr = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n";
	smtp_proto_feed(p, hdr, strlen(hdr));
	while (smtp_proto_next(p, &ev) != SMTP_EV_NONE)
		if (smtp_ev_needs_verdict(&ev))
			smtp_proto_accept(p);
	assert_true(smtp_proto_in_data(p));
	for (int i = 0; i < 256; i++) {	/* 4 MB in one line */
		smtp_proto_feed(p, blob, sizeof(blob));
		while (smtp_proto_next(p, &ev) != SMTP_EV_NONE) {
			assert_int_equal(ev.type, SMTP_EV_DATA_CHUNK);
			/* no copy: the chunk points into the fed data */
			assert_true(ev.data >= p->in.data && ev.data + ev.len <= p->in.data + p->in.len);
			total += ev.len;
		}
		assert_true(p->in.cap <= 2 * sizeof(blob) + 64);
	}
	smtp_proto_feed(p, "\r\n.\r\n", 5);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_DATA_CHUNK);
	total += ev.len;
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_DATA_END);
	assert_int_equal(ev.status, SMTP_DATA_OK);
	assert_int_equal(total, 256ULL * sizeof(blob) + 2);
	assert_int_equal(ev.size, total);
	assert_false(smtp_proto_in_data(p));
	smtp_proto_free(p);
}

static void test_smtp_proto_data_refused_start(void **state)
{
	expect_lines(TXN "V: accept\nV: accept\nV: accept\nV: 451 4.3.0 spool trouble\nC: DATA\\r\\n\nC: RSET\\r\\n",
		     "E: DATA_START\nS: 451 4.3.0 spool trouble\\r\\n\n", "S: 250 2.0.0 Ok\\r\\n\nE: RSET\n", NULL);
}

static void test_smtp_proto_data_end_verdict_text(void **state)
{
	expect_lines(TXN "V: accept\nV: accept\nV: accept\nV: accept\nV: 250 2.0.0 Ok: queued as ABC123\n"
		     "C: DATA\\r\\n\nC: x\\r\\n.\\r\\n",
		     "E: DATA_END OK size=3\nS: 250 2.0.0 Ok: queued as ABC123\\r\\n\n", NULL);
}

static void test_smtp_proto_verdict_text_sanitised(void **state)
{
	expect_lines(EHLO "V: accept\nV: 550 5.7.1 bad\\r\\n250 ok\nC: MAIL FROM:<a@b.test>\\r\\n",
		     "S: 550 5.7.1 bad\\\\r\\\\n250 ok\\r\\n\n", NULL);
	/* real control characters, through the API */
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	size_t len;
	smtp_proto_greet(p, 220, NULL, "");
	smtp_proto_output_clear(p);
	smtp_proto_feed(p, "EHLO x\r\n", 8);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_HELO);
	smtp_proto_verdict(p, 550, "5.7.1", "a\r\nb%cc\td\x7f\xff", 0);
	const char *out = smtp_proto_output(p, &len);
	assert_int_equal(len, strlen("550 5.7.1 a  b c d ?\r\n"));
	assert_memory_equal(out, "550 5.7.1 a  b c d ?\r\n", len);
	smtp_proto_free(p);
}

static void test_smtp_proto_verdict_bad_enh_replaced(void **state)
{
	expect_lines(EHLO "V: accept\nV: 550 4.1.1 wrong class\nV: 451 - no enh\nV: 550 5.1234.1 long\n"
		     "C: MAIL FROM:<a@b.test>\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n",
		     "S: 550 5.0.0 wrong class\\r\\n\n", "S: 451 4.0.0 no enh\\r\\n\n", "S: 550 5.0.0 long\\r\\n\n",
		     NULL);
}

static void test_smtp_proto_verdict_bad_code_is_451(void **state)
{
	expect_lines(EHLO "V: accept\nV: 999 9.9.9 nonsense\nC: MAIL FROM:<a@b.test>\\r\\n",
		     "S: 451 4.3.0 Error: internal error\\r\\n\n", NULL);
}

static void test_smtp_proto_verdict_text_truncated(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	size_t len;
	char big[2000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	smtp_proto_greet(p, 220, NULL, "");
	smtp_proto_output_clear(p);
	smtp_proto_feed(p, "EHLO x\r\n", 8);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_HELO);
	smtp_proto_verdict(p, 550, "5.7.1", "%s", big);
	const char *out = smtp_proto_output(p, &len);
	assert_int_equal(len, SMTP_REPLY_MAX);
	assert_memory_equal(out + len - 2, "\r\n", 2);
	smtp_proto_free(p);
}

static void test_smtp_proto_verdict_421_closes(void **state)
{
	expect_lines(EHLO "V: accept\nV: 421 4.7.0 go away\nC: MAIL FROM:<a@b.test>\\r\\n\nC: NOOP\\r\\n",
		     "S: 421 4.7.0 go away\\r\\n\nE: CLOSE\n", NULL);
	expect_absent(EHLO "V: accept\nV: 421 4.7.0 go away\nC: MAIL FROM:<a@b.test>\\r\\n\nC: NOOP\\r\\n",
		      "S: 250 2.0.0 Ok");
}

static void test_smtp_proto_helo_refused_needs_helo_again(void **state)
{
	expect_lines("V: 550 5.7.1 no thanks\nC: EHLO c.test\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n",
		     "S: 550 5.7.1 no thanks\\r\\n\n", "S: 503 5.5.1 Error: send HELO/EHLO first\\r\\n\n", NULL);
}

static void test_smtp_proto_ehlo_in_transaction_resets(void **state)
{
	expect_lines(TXN "C: EHLO again.test\\r\\n\nC: RCPT TO:<r@mx.test>\\r\\n",
		     "E: RSET\nE: EHLO \"again.test\"\n", "S: 503 5.5.1 Error: need MAIL command\\r\\n\n", NULL);
}

static void test_smtp_proto_rset_outside_transaction_no_event(void **state)
{
	expect_lines("C: RSET\\r\\n", "S: 250 2.0.0 Ok\\r\\n\n", NULL);
	expect_absent("C: RSET\\r\\n" EHLO "C: RSET\\r\\n", "E: RSET");
}

static void test_smtp_proto_vrfy_expn_help_noop(void **state)
{
	expect_lines("C: VRFY root\\r\\n\nC: VRFY\\r\\n\nC: EXPN staff\\r\\n\nC: HELP\\r\\n\nC: HELP me\\r\\n\nC: NOOP hello\\r\\n",
		     "S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\\r\\n\n",
		     "S: 501 5.5.4 Syntax: VRFY address\\r\\n\n", "S: 502 5.5.1 Error: EXPN not implemented\\r\\n\n",
		     "S: 214 2.0.0 Commands:", "S: 214 2.0.0 Commands:", "S: 250 2.0.0 Ok\\r\\n\n", NULL);
}

static void test_smtp_proto_quit_ignores_rest(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	size_t len;
	smtp_proto_greet(p, 220, NULL, "");
	smtp_proto_output_clear(p);
	smtp_proto_feed(p, "QUIT\r\nNOOP\r\n", 12);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_QUIT);
	assert_true(smtp_proto_closed(p));
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	smtp_proto_feed(p, "NOOP\r\n", 6);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	const char *out = smtp_proto_output(p, &len);
	assert_int_equal(len, strlen("221 2.0.0 mx.test closing connection\r\n"));
	assert_memory_equal(out, "221 2.0.0 mx.test closing connection\r\n", len);
	smtp_proto_free(p);
}

static void test_smtp_proto_greeting_554_only_quit(void **state)
{
	expect_lines("greet 554 5.7.1 Access denied\nC: EHLO c.test\\r\\n\nC: MAIL FROM:<a@b.test>\\r\\n\nC: FOO\\r\\n\nC: QUIT\\r\\n",
		     "S: 554 5.7.1 mx.test Access denied\\r\\n\n",
		     "S: 503 5.5.1 Error: access denied, send QUIT\\r\\n\n",
		     "S: 503 5.5.1 Error: access denied, send QUIT\\r\\n\n",
		     "S: 503 5.5.1 Error: access denied, send QUIT\\r\\n\n",
		     "S: 221 2.0.0 mx.test closing connection\\r\\n\nE: QUIT\n", NULL);
	expect_absent("greet 554 5.7.1 Access denied\nC: EHLO c.test\\r\\n", "E: EHLO");
}

static void test_smtp_proto_greeting_421_closes(void **state)
{
	expect_lines("greet 421 4.7.0 Too busy\nC: EHLO c.test\\r\\n", "S: 421 4.7.0 mx.test Too busy\\r\\n\nE: CLOSE\n",
		     NULL);
	expect_absent("greet 421 4.7.0 Too busy\nC: EHLO c.test\\r\\n", "E: EHLO");
	expect_lines("greet 421 - busy\n", "S: 421 mx.test busy\\r\\n\n", NULL);
}

static void test_smtp_proto_timeout_and_shutdown(void **state)
{
	expect_lines(EHLO "T: timeout\nC: NOOP\\r\\n", "S: 421 4.4.2 mx.test Error: timeout exceeded\\r\\n\nE: CLOSE\n",
		     NULL);
	expect_lines("T: shutdown\nT: timeout\n", "S: 421 4.3.2 mx.test Error: server shutting down\\r\\n\nE: CLOSE\n",
		     NULL);
	expect_absent("T: shutdown\nT: timeout\n", "4.4.2");
}

static void test_smtp_proto_starttls_not_offered_is_502(void **state)
{
	expect_lines(EHLO "C: STARTTLS\\r\\n", "S: 502 5.5.1 Error: command not implemented\\r\\n\n", NULL);
}

static void test_smtp_proto_starttls_discards_pipelined_input(void **state)
{
	const char *s = "conf starttls=1\n" EHLO
			"C: STARTTLS\\r\\nMAIL FROM:<evil@x.test>\\r\\nRCPT TO:<v@mx.test>\\r\\n\n"
			"C: NOOP\\r\\n\nT: tls\nC: MAIL FROM:<a@b.test>\\r\\n\nC: EHLO c.test\\r\\n";
	expect_lines(s, "E: STARTTLS\nS: 220 2.0.0 Ready to start TLS\\r\\n\n",
		     "S: 503 5.5.1 Error: send HELO/EHLO first\\r\\n\n", "E: EHLO \"c.test\"", "S: 250 CHUNKING\\r\\n\n",
		     NULL);
	expect_absent(s, "evil");
	expect_absent(s, "S: 250 2.0.0 Ok");	/* the NOOP fed before TLS came up */
}

static void test_smtp_proto_starttls_after_tls_is_503(void **state)
{
	expect_lines("conf starttls=1\n" EHLO "C: STARTTLS\\r\\n\nT: tls\n" EHLO "C: STARTTLS\\r\\n",
		     "S: 220 2.0.0 Ready", "S: 503 5.5.1 Error: TLS already active\\r\\n\n", NULL);
}

static void test_smtp_proto_starttls_in_transaction_is_503(void **state)
{
	expect_lines("conf starttls=1\n" TXN "C: STARTTLS\\r\\n", "S: 503 5.5.1 Error: MAIL transaction in progress\\r\\n\n",
		     NULL);
}

static void test_smtp_proto_starttls_refused(void **state)
{
	expect_lines("conf starttls=1\nV: accept\nV: 454 4.7.0 TLS not available\n" EHLO "C: STARTTLS\\r\\n\nC: NOOP\\r\\n",
		     "S: 454 4.7.0 TLS not available\\r\\n\nS: 250 2.0.0 Ok\\r\\n\n", NULL);
}

static void test_smtp_proto_starttls_before_ehlo(void **state)
{
	expect_lines("conf starttls=1\nC: STARTTLS\\r\\n\nT: tls\n" EHLO,
		     "E: STARTTLS\nS: 220 2.0.0 Ready to start TLS\\r\\n\n", "S: 250 CHUNKING\\r\\n\n", NULL);
}

static void test_smtp_proto_implicit_tls_not_offered(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test", .starttls = true };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	size_t len;
	smtp_proto_tls_started(p);	/* RFC 8314 listener: TLS from the start */
	smtp_proto_greet(p, 220, NULL, "");
	smtp_proto_feed(p, "EHLO c\r\nSTARTTLS\r\n", 18);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_HELO);
	smtp_proto_accept(p);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	const char *out = smtp_proto_output(p, &len);
	assert_null(strstr(out, "STARTTLS"));
	assert_non_null(strstr(out, "503 5.5.1 Error: TLS already active\r\n"));
	smtp_proto_free(p);
}

static void test_smtp_proto_bdat_basic(void **state)
{
	expect_lines(TXN "C: BDAT 5\\r\\nhel\nC: lo\nC: BDAT 3 LAST\\r\\n!\\r\\n",
		     "E: DATA_START bdat\n", "E: DATA \"hello\"\nS: 250 2.0.0 5 octets received\\r\\n\n",
		     "E: DATA \"!\\r\\n\"\nE: DATA_END OK size=8 bdat\nS: 250 2.0.0 Ok: queued\\r\\n\n", NULL);
}

static void test_smtp_proto_bdat_raw_no_unstuffing(void **state)
{
	expect_lines(TXN "C: BDAT 10 LAST\\r\\n.\\n.\\r\\n\\0\\r.\\r\\n",
		     "E: DATA \".\\n.\\r\\n\\0\\r.\\r\\n\"\n", "E: DATA_END OK size=10 bdat\n", NULL);
}

static void test_smtp_proto_bdat_zero_last(void **state)
{
	expect_lines(TXN "C: BDAT 0 LAST\\r\\n", "E: DATA_START bdat\nE: DATA_END OK size=0 bdat\n", NULL);
	expect_lines(TXN "C: BDAT 0\\r\\nBDAT 0 last\\r\\n", "S: 250 2.0.0 0 octets received\\r\\n\n",
		     "E: DATA_END OK size=0 bdat\n", NULL);
}

static void test_smtp_proto_bdat_without_transaction_discarded(void **state)
{
	expect_lines(EHLO "C: BDAT 10\\r\\nQUIT\\r\\nxxxx\nC: NOOP\\r\\n",
		     "S: 503 5.5.1 Error: need MAIL command\\r\\n\n", "S: 250 2.0.0 Ok\\r\\n\n", NULL);
	expect_absent(EHLO "C: BDAT 10\\r\\nQUIT\\r\\nxxxx\nC: NOOP\\r\\n", "QUIT");
	expect_lines(EHLO "C: MAIL FROM:<a@b.test>\\r\\nBDAT 4 LAST\\r\\nQUIT\\r\\n",
		     "S: 503 5.5.1 Error: need RCPT command\\r\\n\n", NULL);
	expect_lines("C: BDAT 2\\r\\nxx", "S: 503 5.5.1 Error: send HELO/EHLO first\\r\\n\n", NULL);
}

static void test_smtp_proto_bdat_bad_size_closes(void **state)
{
	expect_lines(TXN "C: BDAT 99999999999999999999 LAST\\r\\nQUIT\\r\\n",
		     "S: 501 5.5.4 Syntax: BDAT size [LAST]\\r\\n\nE: CLOSE\n", NULL);
	expect_lines(TXN "C: BDAT -1\\r\\n", "S: 501 5.5.4 Syntax: BDAT size [LAST]\\r\\n\nE: CLOSE\n", NULL);
	expect_lines(TXN "C: BDAT\\r\\n", "S: 501 5.5.4 Syntax: BDAT size [LAST]\\r\\n\nE: CLOSE\n", NULL);
	expect_lines(TXN "C: BDAT 1x\\r\\n", "E: CLOSE\n", NULL);
}

static void test_smtp_proto_bdat_bad_marker_skips_chunk(void **state)
{
	expect_lines(TXN "C: BDAT 4 FINAL\\r\\nNOOP\nC: NOOP\\r\\n",
		     "S: 501 5.5.4 Syntax: BDAT size [LAST]\\r\\n\nS: 250 2.0.0 Ok\\r\\n\n", NULL);
}

static void test_smtp_proto_bdat_too_big(void **state)
{
	expect_lines("conf max_message_size=10\n" TXN "C: BDAT 6\\r\\n123456BDAT 6 LAST\\r\\nabcdefBDAT 2 LAST\\r\\nzz",
		     "E: DATA \"123456\"\nS: 250 2.0.0 6 octets received\\r\\n\n",
		     "S: 552 5.3.4 Error: message file too big\\r\\n\nE: DATA_END TOO_BIG size=12 bdat\n",
		     "S: 503 5.5.1 Error: need MAIL command\\r\\n\n", NULL);
	expect_absent("conf max_message_size=10\n" TXN "C: BDAT 6\\r\\n123456BDAT 6 LAST\\r\\nabcdef", "abcdef");
}

static void test_smtp_proto_bdat_first_chunk_too_big(void **state)
{
	expect_lines("conf max_message_size=3\n" TXN "C: BDAT 4 LAST\\r\\nabcd",
		     "E: DATA_START bdat\nS: 552 5.3.4 Error: message file too big\\r\\n\nE: DATA_END TOO_BIG size=4 bdat\n",
		     NULL);
}

static void test_smtp_proto_bdat_refused_start(void **state)
{
	expect_lines(TXN "V: accept\nV: accept\nV: accept\nV: 452 4.3.1 Insufficient system storage\n"
		     "C: BDAT 3\\r\\nabcBDAT 2 LAST\\r\\nxyNOOP\\r\\n",
		     "E: DATA_START bdat\n",
		     "S: 452 4.3.1 Insufficient system storage\\r\\n\nE: DATA_END REFUSED size=3 bdat\n",
		     "S: 503 5.5.1 Error: need MAIL command\\r\\n\nS: 250 2.0.0 Ok\\r\\n\n", NULL);
	expect_absent(TXN "V: accept\nV: accept\nV: accept\nV: 452 4.3.1 Insufficient system storage\n"
		      "C: BDAT 3\\r\\nabcBDAT 2 LAST\\r\\nxyNOOP\\r\\n",
		      "E: DATA \"");
}

static void test_smtp_proto_data_after_bdat_is_503(void **state)
{
	expect_lines(TXN "C: BDAT 2\\r\\nxxDATA\\r\\nMAIL FROM:<a@b.test>\\r\\n",
		     "S: 250 2.0.0 2 octets received\\r\\n\n",
		     "S: 503 5.5.1 Error: DATA after BDAT\\r\\n\nE: DATA_END REFUSED size=2 bdat\n", "E: MAIL", NULL);
}

static void test_smtp_proto_rcpt_after_bdat_is_503(void **state)
{
	expect_lines(TXN "C: BDAT 2\\r\\nxxRCPT TO:<s@mx.test>\\r\\nRSET\\r\\n",
		     "S: 503 5.5.1 Error: RCPT after BDAT\\r\\n\n", "S: 250 2.0.0 Ok\\r\\n\nE: RSET\n", NULL);
}

static void test_smtp_proto_bdat_in_data_state_flag(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	smtp_proto_greet(p, 220, NULL, "");
	const char *s = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nBDAT 4\r\nab";
	smtp_proto_feed(p, s, strlen(s));
	while (smtp_proto_next(p, &ev) != SMTP_EV_NONE)
		if (smtp_ev_needs_verdict(&ev))
			smtp_proto_accept(p);
	assert_true(smtp_proto_in_data(p));
	smtp_proto_feed(p, "cd", 2);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_DATA_CHUNK);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "cd", 2);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	assert_false(smtp_proto_in_data(p));
	smtp_proto_free(p);
}

static void test_smtp_proto_async_verdict_keeps_order(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	size_t len;
	smtp_proto_greet(p, 220, NULL, "");
	smtp_proto_output_clear(p);
	const char *s = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nNOOP\r\n";
	smtp_proto_feed(p, s, strlen(s));
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_HELO);
	assert_string_equal(ev.helo, "c");
	/* no verdict yet: nothing more comes out */
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	smtp_proto_output(p, &len);
	assert_int_equal(len, 0);
	smtp_proto_accept(p);
	smtp_proto_output_clear(p);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_MAIL);
	assert_string_equal(ev.mailbox.local, "a");
	assert_string_equal(ev.mailbox.domain, "b.test");
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	/* a second answer for the same event is ignored */
	smtp_proto_accept(p);
	smtp_proto_accept(p);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_RCPT);
	smtp_proto_verdict(p, 550, "5.1.1", "unknown");
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	const char *out = smtp_proto_output(p, &len);
	const char *want = "250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n250 2.0.0 Ok\r\n";
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	smtp_proto_free(p);
}

static void test_smtp_proto_pipelined_group_in_order(void **state)
{
	expect_lines("C: EHLO c.test\\r\\nMAIL FROM:<a@b.test>\\r\\nRCPT TO:<r1@mx.test>\\r\\nRCPT TO:<r2@mx.test>\\r\\n"
		     "DATA\\r\\n\nC: body\\r\\n.\\r\\nQUIT\\r\\n",
		     "S: 250 CHUNKING\\r\\n\nE: MAIL <a@b.test>\nS: 250 2.1.0 Ok\\r\\n\n"
		     "E: RCPT <r1@mx.test>\nS: 250 2.1.5 Ok\\r\\n\nE: RCPT <r2@mx.test>\nS: 250 2.1.5 Ok\\r\\n\n"
		     "E: DATA_START\nS: 354 End data with <CR><LF>.<CR><LF>\\r\\n\n",
		     "E: DATA \"body\\r\\n\"\nE: DATA_END OK size=6\nS: 250 2.0.0 Ok: queued\\r\\n\n"
		     "S: 221 2.0.0 mx.test closing connection\\r\\n\nE: QUIT\n",
		     NULL);
}

static void test_smtp_proto_needs_verdict_table(void **state)
{
	struct smtp_event ev = { 0 };
	const enum smtp_ev_type yes[] = { SMTP_EV_HELO, SMTP_EV_MAIL, SMTP_EV_RCPT, SMTP_EV_DATA_START,
					  SMTP_EV_STARTTLS };
	const enum smtp_ev_type no[] = { SMTP_EV_NONE, SMTP_EV_DATA_CHUNK, SMTP_EV_RSET, SMTP_EV_QUIT,
					 SMTP_EV_CLOSE };
	for (size_t i = 0; i < 5; i++) {
		ev.type = yes[i];
		assert_true(smtp_ev_needs_verdict(&ev));
		ev.type = no[i];
		assert_false(smtp_ev_needs_verdict(&ev));
	}
	ev.type = SMTP_EV_DATA_END;
	ev.status = SMTP_DATA_OK;
	assert_true(smtp_ev_needs_verdict(&ev));
	ev.status = SMTP_DATA_BARE_EOL;
	assert_false(smtp_ev_needs_verdict(&ev));
}

static void test_smtp_proto_input_before_greet_is_held(void **state)
{
	struct smtp_proto_conf conf = { .hostname = "mx.test" };
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	size_t len;
	smtp_proto_feed(p, "NOOP\r\n", 6);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	smtp_proto_output(p, &len);
	assert_int_equal(len, 0);
	smtp_proto_greet(p, 220, NULL, NULL);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_NONE);
	const char *out = smtp_proto_output(p, &len);
	const char *want = "220 mx.test ESMTP\r\n250 2.0.0 Ok\r\n";
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	smtp_proto_free(p);
}

static void test_smtp_proto_free_null_and_midway(void **state)
{
	smtp_proto_free(NULL);
	struct smtp_proto_conf conf = { 0 };	/* NULL hostname */
	struct smtp_proto *p = smtp_proto_new(&conf);
	struct smtp_event ev;
	size_t len;
	smtp_proto_greet(p, 220, NULL, "x");
	const char *out = smtp_proto_output(p, &len);
	assert_memory_equal(out, "220 localhost ESMTP x\r\n", len);
	smtp_proto_feed(p, "EHLO a\r\nMAIL FROM:<a@b.test>\r\n", 30);
	assert_int_equal(smtp_proto_next(p, &ev), SMTP_EV_HELO);
	smtp_proto_free(p);	/* with a verdict pending and input buffered */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_proto_golden_transcripts),
		cmocka_unit_test(test_smtp_proto_split_invariance),
		cmocka_unit_test(test_smtp_proto_greeting_220),
		cmocka_unit_test(test_smtp_proto_greeting_sanitises),
		cmocka_unit_test(test_smtp_proto_ehlo_capabilities),
		cmocka_unit_test(test_smtp_proto_ehlo_size_unlimited),
		cmocka_unit_test(test_smtp_proto_helo_reply),
		cmocka_unit_test(test_smtp_proto_helo_without_arg_is_501),
		cmocka_unit_test(test_smtp_proto_helo_control_char_is_501),
		cmocka_unit_test(test_smtp_proto_verbs_case_insensitive),
		cmocka_unit_test(test_smtp_proto_mail_before_helo_is_503),
		cmocka_unit_test(test_smtp_proto_nested_mail_is_503),
		cmocka_unit_test(test_smtp_proto_rcpt_before_mail_is_503),
		cmocka_unit_test(test_smtp_proto_data_without_mail_is_503),
		cmocka_unit_test(test_smtp_proto_data_without_rcpt_is_554),
		cmocka_unit_test(test_smtp_proto_unknown_verb_is_500),
		cmocka_unit_test(test_smtp_proto_args_where_none_allowed_is_501),
		cmocka_unit_test(test_smtp_proto_mail_syntax_errors),
		cmocka_unit_test(test_smtp_proto_mail_null_sender),
		cmocka_unit_test(test_smtp_proto_rcpt_null_is_501),
		cmocka_unit_test(test_smtp_proto_rcpt_postmaster_without_domain),
		cmocka_unit_test(test_smtp_proto_rcpt_bad_syntax_is_501_513),
		cmocka_unit_test(test_smtp_proto_path_too_long),
		cmocka_unit_test(test_smtp_proto_utf8_needs_smtputf8),
		cmocka_unit_test(test_smtp_proto_rcpt_utf8_without_smtputf8_is_553),
		cmocka_unit_test(test_smtp_proto_params_after_helo_are_555),
		cmocka_unit_test(test_smtp_proto_mail_params_parsed),
		cmocka_unit_test(test_smtp_proto_mail_param_errors),
		cmocka_unit_test(test_smtp_proto_envid_length_limit),
		cmocka_unit_test(test_smtp_proto_size_param_limits),
		cmocka_unit_test(test_smtp_proto_rcpt_dsn_params),
		cmocka_unit_test(test_smtp_proto_rcpt_dsn_param_errors),
		cmocka_unit_test(test_smtp_proto_orcpt_length_limit),
		cmocka_unit_test(test_smtp_proto_max_recipients_452),
		cmocka_unit_test(test_smtp_proto_max_recipients_resets_per_transaction),
		cmocka_unit_test(test_smtp_proto_max_messages_421),
		cmocka_unit_test(test_smtp_proto_max_errors_421),
		cmocka_unit_test(test_smtp_proto_max_errors_default),
		cmocka_unit_test(test_smtp_proto_452_is_not_an_error),
		cmocka_unit_test(test_smtp_proto_line_max_exact_ok),
		cmocka_unit_test(test_smtp_proto_long_line_swallowed),
		cmocka_unit_test(test_smtp_proto_long_line_memory_bounded),
		cmocka_unit_test(test_smtp_proto_nul_in_command_refused),
		cmocka_unit_test(test_smtp_proto_bare_lf_in_command_refused),
		cmocka_unit_test(test_smtp_proto_bare_cr_in_command_refused),
		cmocka_unit_test(test_smtp_proto_data_dot_unstuffing),
		cmocka_unit_test(test_smtp_proto_data_empty_message),
		cmocka_unit_test(test_smtp_proto_data_pipelined_after_end),
		cmocka_unit_test(test_smtp_proto_smuggling_lf_dot_lf),
		cmocka_unit_test(test_smtp_proto_smuggling_lf_dot_crlf),
		cmocka_unit_test(test_smtp_proto_smuggling_cr_dot_crlf),
		cmocka_unit_test(test_smtp_proto_smuggling_crlf_dot_lf),
		cmocka_unit_test(test_smtp_proto_smuggling_crlf_dot_cr),
		cmocka_unit_test(test_smtp_proto_smuggling_cr_dot_cr),
		cmocka_unit_test(test_smtp_proto_smuggling_lf_dot_cr),
		cmocka_unit_test(test_smtp_proto_data_bare_eol_passes_nothing_after),
		cmocka_unit_test(test_smtp_proto_data_nul),
		cmocka_unit_test(test_smtp_proto_data_too_big),
		cmocka_unit_test(test_smtp_proto_data_big_streams_bounded),
		cmocka_unit_test(test_smtp_proto_data_refused_start),
		cmocka_unit_test(test_smtp_proto_data_end_verdict_text),
		cmocka_unit_test(test_smtp_proto_verdict_text_sanitised),
		cmocka_unit_test(test_smtp_proto_verdict_bad_enh_replaced),
		cmocka_unit_test(test_smtp_proto_verdict_bad_code_is_451),
		cmocka_unit_test(test_smtp_proto_verdict_text_truncated),
		cmocka_unit_test(test_smtp_proto_verdict_421_closes),
		cmocka_unit_test(test_smtp_proto_helo_refused_needs_helo_again),
		cmocka_unit_test(test_smtp_proto_ehlo_in_transaction_resets),
		cmocka_unit_test(test_smtp_proto_rset_outside_transaction_no_event),
		cmocka_unit_test(test_smtp_proto_vrfy_expn_help_noop),
		cmocka_unit_test(test_smtp_proto_quit_ignores_rest),
		cmocka_unit_test(test_smtp_proto_greeting_554_only_quit),
		cmocka_unit_test(test_smtp_proto_greeting_421_closes),
		cmocka_unit_test(test_smtp_proto_timeout_and_shutdown),
		cmocka_unit_test(test_smtp_proto_starttls_not_offered_is_502),
		cmocka_unit_test(test_smtp_proto_starttls_discards_pipelined_input),
		cmocka_unit_test(test_smtp_proto_starttls_after_tls_is_503),
		cmocka_unit_test(test_smtp_proto_starttls_in_transaction_is_503),
		cmocka_unit_test(test_smtp_proto_starttls_refused),
		cmocka_unit_test(test_smtp_proto_starttls_before_ehlo),
		cmocka_unit_test(test_smtp_proto_implicit_tls_not_offered),
		cmocka_unit_test(test_smtp_proto_bdat_basic),
		cmocka_unit_test(test_smtp_proto_bdat_raw_no_unstuffing),
		cmocka_unit_test(test_smtp_proto_bdat_zero_last),
		cmocka_unit_test(test_smtp_proto_bdat_without_transaction_discarded),
		cmocka_unit_test(test_smtp_proto_bdat_bad_size_closes),
		cmocka_unit_test(test_smtp_proto_bdat_bad_marker_skips_chunk),
		cmocka_unit_test(test_smtp_proto_bdat_too_big),
		cmocka_unit_test(test_smtp_proto_bdat_first_chunk_too_big),
		cmocka_unit_test(test_smtp_proto_bdat_refused_start),
		cmocka_unit_test(test_smtp_proto_data_after_bdat_is_503),
		cmocka_unit_test(test_smtp_proto_rcpt_after_bdat_is_503),
		cmocka_unit_test(test_smtp_proto_bdat_in_data_state_flag),
		cmocka_unit_test(test_smtp_proto_async_verdict_keeps_order),
		cmocka_unit_test(test_smtp_proto_pipelined_group_in_order),
		cmocka_unit_test(test_smtp_proto_needs_verdict_table),
		cmocka_unit_test(test_smtp_proto_input_before_greet_is_held),
		cmocka_unit_test(test_smtp_proto_free_null_and_midway),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
