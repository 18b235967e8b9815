/*
 * control_submit.c — the `submit` control command: a message handed over by
 * a local program (vsmtpd-sendmail), queued as if received by SMTP
 * (docs/CONTROL.md; vsmtpd-sendmail(8)).
 *
 * Main thread. Checks the arguments against the virtual server's limits
 * (max_recipients, max_message_size), normalises line ends to CRLF, and
 * adds what a local submission lacks, as Postfix's cleanup does: our
 * Received: field first, then — when the header section has none — From:,
 * Date: and Message-ID:, appended at its end. The envelope is the one an
 * SMTP session would build for a client at 127.0.0.1 saying "localhost".
 * Invariant: {"id"} is answered only after spool_msg_commit_wait() returned
 * 0, i.e. the file is fsync'd and renamed into queue/ (the main thread
 * waits for that one fsync; the commit hook only posts to the queue, so it
 * cannot wait for us). Not here: who may submit (the socket's mode and
 * group), recipient routing and unknown local users (delivery reports them
 * to the sender, as for mail relayed to us).
 * Errors are sentences; a failure of the spool (disk full, I/O) starts with
 * "temporary failure:", which vsmtpd-sendmail turns into EX_TEMPFAIL.
 * RFC 5322 3.6 (the fields added), 3.6.4 (Message-ID), 3.3 (date-time);
 * RFC 5321 4.4 (Received:), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "address.h"
#include "control_int.h"
#include "lib/base64.h"
#include "lib/xalloc.h"
#include "log.h"
#include "policy.h"
#include "smtp_proto.h"
#include "spool.h"

#define SUBMIT_USER_MAX 64		/* octets of the user name kept for Received: and the log */
#define SUBMIT_TEMPFAIL "temporary failure: "	/* how a retryable error's sentence starts */

/* What the header section of the normalised message holds, and where it ends. */
struct submit_headers {
	size_t end;		/* just past the last header field (where added fields go) */
	bool has_separator;	/* an empty line follows at end */
	bool has_from, has_date, has_message_id;
};

/* The virtual server named by "server", or the first one; NULL with err set. */
static const struct config_server *submit_server(struct daemon *d, json_t *req, struct buf *err)
{
	int bad = 0;
	const char *name = control_arg(req, "server", false, err, &bad);
	if (bad < 0)
		return NULL;
	if (name == NULL) {
		if (d->cfg->nservers == 0)
			buf_append_str(err, "no virtual server is configured");
		return d->cfg->nservers > 0 ? &d->cfg->servers[0] : NULL;
	}
	const struct config_server *srv = config_server_find(d->cfg, name);
	if (srv == NULL)
		buf_printf(err, "no virtual server named '%s'", name);
	return srv;
}

static bool has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] > 127)
			return true;
	return false;
}

/*
 * Parses one JSON string as a whole path "<text>" into its canonical form
 * (address_format) in out; what kind names the argument in the sentence.
 * A bare "postmaster" recipient gets the server's postmaster domain, as in
 * RCPT TO (RFC 5321 4.1.1.3). Returns 0 or -1 with err set.
 */
static int submit_address(const struct config_server *srv, json_t *v, bool sender, char *out, size_t outsize,
			  struct buf *err)
{
	const char *kind = sender ? "sender" : "recipient";
	if (!json_is_string(v)) {
		buf_append_str(err, sender ? "argument 'sender' must be a string (\"\" for <>)"
					   : "argument 'recipients' must be an array of strings");
		return -1;
	}
	const char *text = json_string_value(v);
	size_t len = json_string_length(v);
	if (sender && len == 0) {
		out[0] = '\0';
		return 0;
	}
	struct buf path = BUF_INIT;
	buf_append_char(&path, '<');
	buf_append(&path, text, len);
	buf_append_char(&path, '>');
	struct mailbox mb;
	size_t end = 0;
	unsigned flags = ADDRESS_UTF8 | (sender ? ADDRESS_NEED_DOMAIN : 0);
	enum address_error rc = address_parse_path(path.data, path.len, flags, &mb, &end);
	bool whole = rc == ADDRESS_OK && end == path.len && strlen(text) == len;
	buf_free(&path);
	if (whole && !sender && mb.domain[0] == '\0')
		snprintf(mb.domain, sizeof(mb.domain), "%s", policy_postmaster_domain(srv));
	if (!whole || address_format(&mb, out, outsize) < 0) {
		buf_printf(err, "%s '%.*s' is not a valid address", kind, (int)(len > 300 ? 300 : len), text);
		return -1;
	}
	return 0;
}

static bool envelope_has(const struct envelope *e, const char *addr)
{
	for (size_t i = 0; i < e->nrcpts; i++)
		if (strcasecmp(e->rcpts[i].addr, addr) == 0)
			return true;
	return false;
}

/* Fills env's sender and recipients from the request; 0 or -1 with err set. */
static int submit_envelope(const struct config_server *srv, json_t *req, struct envelope *env,
			   struct buf *err)
{
	char addr[ADDRESS_MAX * 2 + 8] = "";
	json_t *sender = json_object_get(req, "sender");
	if (sender == NULL) {
		buf_append_str(err, "missing argument 'sender' (\"\" for the null sender <>)");
		return -1;
	}
	if (submit_address(srv, sender, true, addr, sizeof(addr), err) < 0)
		return -1;
	env->sender = xstrdup(addr);
	env->smtputf8 = has_8bit(addr, strlen(addr));

	json_t *rcpts = json_object_get(req, "recipients");
	if (!json_is_array(rcpts)) {
		buf_append_str(err, rcpts == NULL ? "missing argument 'recipients'"
						  : "argument 'recipients' must be an array of addresses");
		return -1;
	}
	size_t n = json_array_size(rcpts);
	if (n == 0) {
		buf_append_str(err, "no recipients");
		return -1;
	}
	if (srv->max_recipients > 0 && n > srv->max_recipients) {
		buf_printf(err, "too many recipients: %zu, server %s takes at most %u", n, srv->name,
			   srv->max_recipients);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (submit_address(srv, json_array_get(rcpts, i), false, addr, sizeof(addr), err) < 0)
			return -1;
		if (has_8bit(addr, strlen(addr)))
			env->smtputf8 = true;
		/* the same recipient twice gets one copy, as in an SMTP transaction */
		if (!envelope_has(env, addr))
			envelope_add_rcpt(env, addr, NULL, 0);
	}
	return 0;
}

/* Decodes "message_b64" into a new buffer (*out, caller frees); 0 or -1 with err set. */
static int submit_decode(json_t *req, char **out, size_t *outlen, struct buf *err)
{
	int bad = 0;
	const char *b64 = control_arg(req, "message_b64", true, err, &bad);
	if (b64 == NULL)
		return -1;
	size_t len = json_string_length(json_object_get(req, "message_b64"));
	size_t cap = base64_decoded_max(len);
	char *msg = xmalloc(cap + 1);
	if (strlen(b64) != len || base64_decode(b64, len, msg, cap, outlen) != BASE64_OK) {
		free(msg);
		buf_append_str(err, "message_b64 is not valid base64 (RFC 4648, padded, no line breaks)");
		return -1;
	}
	*out = msg;
	return 0;
}

/* Appends msg[0..len) to out with every line end made CRLF (a bare LF or a
 * bare CR becomes CRLF) and a CRLF added after a last line that lacks one. */
static void normalise_crlf(const char *msg, size_t len, struct buf *out)
{
	buf_reserve(out, len + len / 32 + 2);
	size_t run = 0;		/* start of the bytes not yet copied */
	for (size_t i = 0; i < len; i++) {
		if (msg[i] != '\r' && msg[i] != '\n')
			continue;
		buf_append(out, msg + run, i - run);
		buf_append(out, "\r\n", 2);
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			i++;
		run = i + 1;
	}
	buf_append(out, msg + run, len - run);
	if (len > run)
		buf_append(out, "\r\n", 2);
}

/* True when line[0..len) starts a header field: a field name (printable
 * ASCII but ":"), blanks allowed before the colon (RFC 5322 4.5.x obs). */
static bool header_field_name(const char *line, size_t len, const char *want)
{
	size_t i = 0;
	while (i < len && line[i] > 32 && line[i] < 127 && line[i] != ':')
		i++;
	if (i == 0)
		return false;
	size_t name_len = i;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= len || line[i] != ':')
		return false;
	return want == NULL || (strlen(want) == name_len && strncasecmp(line, want, name_len) == 0);
}

/*
 * Scans the header section of the CRLF content: header fields and their
 * continuation lines from the start, up to the first line that is neither
 * (the empty separator, or a body that came without one).
 */
static void scan_headers(const char *data, size_t len, struct submit_headers *h)
{
	memset(h, 0, sizeof(*h));
	size_t i = 0;
	bool in_field = false;
	while (i < len) {
		const char *line = data + i;
		const char *crlf = memmem(line, len - i, "\r\n", 2);
		size_t llen = crlf != NULL ? (size_t)(crlf - line) : len - i;
		if (in_field && llen > 0 && (line[0] == ' ' || line[0] == '\t')) {
			i += llen + 2;
			continue;
		}
		if (!header_field_name(line, llen, NULL))
			break;
		in_field = true;
		h->has_from |= header_field_name(line, llen, "From");
		h->has_date |= header_field_name(line, llen, "Date");
		h->has_message_id |= header_field_name(line, llen, "Message-ID");
		i += llen + 2;
	}
	h->end = i < len ? i : len;
	h->has_separator = len - h->end >= 2 && memcmp(data + h->end, "\r\n", 2) == 0;
}

/* The user name as it may appear in a comment and a log value. */
static void sanitise_user(const char *user, char *out, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; user[i] != '\0' && n + 1 < size && n < SUBMIT_USER_MAX; i++) {
		unsigned char c = (unsigned char)user[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  strchr("._-+@", c) != NULL;
		out[n++] = ok ? (char)c : '_';
	}
	out[n] = '\0';
}

static void date_now(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(out, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Our Received: field (first in the content) and the fields the header
 * section lacks (appended at its end). */
static void submit_fields(const struct config_server *srv, const struct envelope *env, const char *user,
			  const struct submit_headers *h, struct buf *received, struct buf *added)
{
	char date[64];
	date_now(date, sizeof(date));
	buf_printf(received, "Received: by %s (vsmtpd%s%s)\r\n\tid %s; %s\r\n", srv->hostname,
		   user[0] != '\0' ? ", from user " : "", user, env->id, date);
	if (!h->has_from) {
		if (env->sender[0] == '\0')
			buf_printf(added, "From: MAILER-DAEMON@%s\r\n", srv->hostname);
		else
			buf_printf(added, "From: <%s>\r\n", env->sender);
	}
	if (!h->has_date)
		buf_printf(added, "Date: %s\r\n", date);
	if (!h->has_message_id)
		buf_printf(added, "Message-ID: <%s@%s>\r\n", env->id, srv->hostname);
}

/*
 * Writes the content and commits it; returns 0 with env->id set, or -1
 * with the errno of the spool. The main thread blocks for the commit.
 */
static int submit_queue(struct daemon *d, const struct config_server *srv, struct envelope *env,
			const char *user, const struct buf *msg, size_t *size)
{
	struct spool_msg *m = spool_msg_begin(d->spool, env, NULL, 0);
	if (m == NULL)
		return -1;
	struct submit_headers h;
	scan_headers(msg->data, msg->len, &h);
	struct buf received = BUF_INIT, added = BUF_INIT;
	submit_fields(srv, env, user, &h, &received, &added);
	if (!h.has_separator)
		buf_append(&added, "\r\n", 2);	/* a body that came without the empty line */
	/* an error shows at the commit; empty pieces (a NULL buffer) are not written */
	const struct { const char *p; size_t n; } parts[] = {
		{ received.data, received.len },
		{ msg->data, h.end },
		{ added.data, added.len },
		{ msg->data + h.end, msg->len - h.end },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i].n > 0)
			spool_msg_write(m, parts[i].p, parts[i].n);
	*size = received.len + added.len + msg->len;
	buf_free(&received);
	buf_free(&added);
	return spool_msg_commit_wait(m);
}

static void spool_error_sentence(int err, struct buf *out)
{
	if (err == ENOSPC || err == EDQUOT)
		buf_append_str(out, SUBMIT_TEMPFAIL "insufficient system storage; try again later");
	else
		buf_printf(out, SUBMIT_TEMPFAIL "cannot queue the message (%s); try again later",
			   strerror(err));
}

int control_submit(struct daemon *d, json_t *req, json_t **result, struct buf *err)
{
	const struct config_server *srv = submit_server(d, req, err);
	if (srv == NULL)
		return -1;
	int bad = 0;
	const char *user_arg = control_arg(req, "user", false, err, &bad);
	if (bad < 0)
		return -1;
	/* Only root may speak for another user (a daemon running sendmail for
	 * someone); anyone else is named by the kernel's word. */
	json_int_t uid = json_integer_value(json_object_get(req, CONTROL_PEER_UID));
	char who[64];
	if (uid > 0 || user_arg == NULL) {
		struct passwd *pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;
		if (pw != NULL)
			snprintf(who, sizeof(who), "%s", pw->pw_name);
		else
			snprintf(who, sizeof(who), "uid %lld", (long long)uid);
		user_arg = who;
	}
	char user[SUBMIT_USER_MAX + 1];
	sanitise_user(user_arg, user, sizeof(user));

	struct envelope env;
	envelope_init(&env);
	char *raw = NULL;
	size_t raw_len = 0;
	struct buf msg = BUF_INIT;
	int rc = -1;
	if (submit_envelope(srv, req, &env, err) < 0 || submit_decode(req, &raw, &raw_len, err) < 0)
		goto done;
	normalise_crlf(raw, raw_len, &msg);
	if (srv->max_message_size > 0 && msg.len > srv->max_message_size) {
		buf_printf(err, "message too large: %zu bytes, server %s takes at most %llu", msg.len,
			   srv->name, srv->max_message_size);
		goto done;
	}
	env.arrival = (long long)time(NULL);
	env.server = xstrdup(srv->name);
	env.client_addr = xstrdup("127.0.0.1");
	env.helo = xstrdup("localhost");
	env.ret = SMTP_RET_NONE;
	env.body = has_8bit(msg.data, msg.len) ? SMTP_BODY_8BITMIME : SMTP_BODY_NONE;
	size_t size = 0;
	if (submit_queue(d, srv, &env, user, &msg, &size) < 0) {
		int e = errno;
		log_error("event=spool_error op=submit user=%s error=\"%s\"", user[0] != '\0' ? user : "-",
			  strerror(e));
		spool_error_sentence(e, err);
		goto done;
	}
	log_info("event=submitted id=%s user=%s from=<%s> nrcpt=%zu size=%zu", env.id,
		 user[0] != '\0' ? user : "-", env.sender, env.nrcpts, size);
	*result = json_pack("{s:s}", "id", env.id);
	rc = 0;
done:
	free(raw);
	buf_free(&msg);
	envelope_free(&env);
	return rc;
}
