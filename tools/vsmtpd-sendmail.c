/*
 * vsmtpd-sendmail.c — the sendmail(8) command of vsmtpd: reads a message on
 * stdin and hands it to the running daemon (vsmtpd-sendmail(8)).
 *
 * A short-lived client: the options sendmail and Postfix programs are
 * called with, the message read from stdin (a lone "." ends it unless -i),
 * recipients from the arguments and, with -t, from To:, Cc: and Bcc:
 * (addrlist.c), Bcc: fields removed, a From: with the -F name added when
 * the message has none. Then one `submit` request on the control socket
 * (docs/CONTROL.md) and one reply: the daemon validates, adds Received:,
 * Date:, Message-ID: (and From: when still missing) and queues with an
 * fsync before it answers, so exit 0 means the message is safe.
 * Not here: delivery, queue files, header rewriting beyond Bcc: and From:.
 * The daemon trusts what this program says (the sender, the user name):
 * who may submit is decided by the control socket's mode and group.
 * The config (-C) is read with config_load(); when that fails (a user who
 * may not read the TLS keys or AUTH files it checks), only [global]
 * control and the first server's hostname are read from it.
 * Exit codes are sendmail's (sysexits.h): 0; EX_USAGE bad options or no
 * recipients; EX_DATAERR a message or address refused; EX_UNAVAILABLE
 * vsmtpd not reachable; EX_TEMPFAIL a temporary failure (the caller should
 * try again); EX_CONFIG an unreadable config; EX_IOERR stdin failed;
 * EX_SOFTWARE anything else. Errors go to stderr, one line each.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "addrlist.h"
#include "address.h"
#include "config.h"
#include "control_client.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/fdio.h"
#include "lib/xalloc.h"

/* The daemon refuses request lines over 48 MiB (control.c); base64 makes
 * 4 of 3 bytes, and the envelope needs some room. */
#define SENDMAIL_MESSAGE_MAX (35u << 20)
#define SENDMAIL_REPLY_TIMEOUT_MS (10 * 60 * 1000)	/* the daemon answers once it has fsync'd */
#define SENDMAIL_REPLY_MAX (64u * 1024)
#define SENDMAIL_TEMPFAIL "temporary failure:"		/* control_submit.c's retryable errors */
#define SENDMAIL_ENCODED_CHUNK 30	/* UTF-8 octets per RFC 2047 encoded-word (< 75 chars) */

static const char *progname = "vsmtpd-sendmail";

struct options {
	bool from_headers;		/* -t */
	bool ignore_dots;		/* -i, -oi */
	bool verbose;			/* -v: say the queue ID */
	const char *sender;		/* -f / -r; NULL: LOGIN@domain */
	const char *fullname;		/* -F */
	const char *config;		/* -C; NULL: the default, unless -S */
	const char *socket;		/* -S */
	char **rcpt_args;
	int nrcpt_args;
};

/* The envelope recipients, canonical and without duplicates. */
struct rcpt_list {
	char **addr;
	size_t n, cap;
	const char *domain;		/* qualifies bare local parts */
	int bad;			/* sysexits code once an address was refused, else 0 */
	int bad_code;			/* what a refused address costs: EX_USAGE or EX_DATAERR */
};

static void usage(void)
{
	fprintf(stderr, "usage: %s [-t] [-i|-oi] [-f sender] [-F fullname] [-C config] [-S socket] [-bm] "
		"[-v] [-oX] [--] [recipient ...] < message\n", progname);
}

/* ---- options --------------------------------------------------------------- */

static int parse_options(int argc, char **argv, struct options *o)
{
	int c;
	opterr = 1;
	while ((c = getopt(argc, argv, "B:C:F:N:R:S:V:b:f:h:io:r:tv")) != -1) {
		switch (c) {
		case 'b':
			if (strcmp(optarg, "m") != 0) {
				fprintf(stderr, "%s: -b%s is not supported (only -bm: deliver mail)\n",
					progname, optarg);
				return EX_USAGE;
			}
			break;
		case 'C':
			o->config = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'f':
		case 'r':
			o->sender = optarg;
			break;
		case 'i':
			o->ignore_dots = true;
			break;
		case 'o':
			if (strcmp(optarg, "i") == 0)
				o->ignore_dots = true;
			break;	/* other -oX: sendmail.cf options, meaningless here */
		case 'S':
			o->socket = optarg;
			break;
		case 't':
			o->from_headers = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'B': case 'N': case 'R': case 'V': case 'h':
			break;	/* body type, DSN options, hop count: accepted and ignored */
		default:
			usage();
			return EX_USAGE;
		}
	}
	o->rcpt_args = argv + optind;
	o->nrcpt_args = argc - optind;
	return 0;
}

/* ---- configuration --------------------------------------------------------- */

static char *machine_name(void)
{
	char name[256];
	if (gethostname(name, sizeof(name) - 1) < 0 || name[0] == '\0')
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	return xstrdup(name);
}

/*
 * Fills s from the config (o->config, or the default one unless -S alone
 * was given); -S overrides the socket. Returns 0 or EX_CONFIG.
 */
static int load_site(const struct options *o, struct control_site *s)
{
	const char *path = o->config != NULL ? o->config : o->socket == NULL ? CONTROL_DEFAULT_CONFIG : NULL;
	memset(s, 0, sizeof(*s));
	if (path != NULL) {
		struct buf errors = BUF_INIT;
		if (control_site_load(path, s, &errors) < 0) {
			/* not even readable: say why */
			fprintf(stderr, "%s: cannot read the configuration:\n%s", progname, buf_str(&errors));
			buf_free(&errors);
			return EX_CONFIG;
		}
		buf_free(&errors);
	}
	if (o->socket != NULL) {
		free(s->control);
		s->control = xstrdup(o->socket);
	}
	if (s->control == NULL)
		s->control = control_default_socket();
	if (s->hostname == NULL)
		s->hostname = machine_name();	/* hostname's default in the daemon too */
	return 0;
}

/* ---- addresses -------------------------------------------------------------- */

/* True when addr has an "@" outside quotes (a quoted local part may hold one). */
static bool has_domain(const char *addr)
{
	bool quoted = false;
	for (const char *p = addr; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '@')
			return true;
	}
	return false;
}

/*
 * The canonical form of addr (address_format), a bare local part
 * qualified with domain first. Returns 0, or -1 when it is no address.
 */
static int canonical_address(const char *addr, const char *domain, char *out, size_t size)
{
	struct buf path = BUF_INIT;
	buf_printf(&path, "<%s%s%s>", addr, has_domain(addr) ? "" : "@", has_domain(addr) ? "" : domain);
	struct mailbox mb;
	size_t end = 0;
	unsigned flags = ADDRESS_UTF8 | ADDRESS_NEED_DOMAIN;
	enum address_error rc = address_parse_path(path.data, path.len, flags, &mb, &end);
	bool ok = rc == ADDRESS_OK && end == path.len && address_format(&mb, out, size) >= 0;
	buf_free(&path);
	return ok ? 0 : -1;
}

static void rcpt_add(void *arg, const char *addr)
{
	struct rcpt_list *l = arg;
	char canon[ADDRESS_MAX * 2 + 8];
	if (canonical_address(addr, l->domain, canon, sizeof(canon)) < 0) {
		fprintf(stderr, "%s: %s: not a valid recipient address\n", progname, addr);
		l->bad = l->bad_code;
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->addr[i], canon) == 0)
			return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->addr = xrealloc(l->addr, l->cap * sizeof(*l->addr));
	}
	l->addr[l->n++] = xstrdup(canon);
}

/* Adds the addresses of one address list; what names it for an error. */
static void rcpt_add_list(struct rcpt_list *l, const char *text, size_t len, const char *what, int bad_code)
{
	l->bad_code = bad_code;
	if (addrlist_parse(text, len, rcpt_add, l) < 0) {
		fprintf(stderr, "%s: cannot parse the addresses of %s: %.*s\n", progname, what,
			(int)(len > 200 ? 200 : len), text);
		l->bad = bad_code;
	}
}

static void rcpt_free(struct rcpt_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->addr[i]);
	free(l->addr);
}

/* The envelope sender: "" for <>; -1 when -f names no address. */
static int envelope_sender(const struct options *o, const char *domain, const char *login, char *out,
			   size_t size)
{
	if (o->sender == NULL)
		return canonical_address(login, domain, out, size);
	const char *s = o->sender;
	size_t len = strlen(s);
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	char *bare = xstrndup(s, len);
	int rc = canonical_address(bare, domain, out, size);
	free(bare);
	return rc;
}

/* The real user's login name, reduced to what may stand in an address. */
static char *login_name(void)
{
	struct passwd *pw = getpwuid(getuid());
	struct buf b = BUF_INIT;
	if (pw != NULL && pw->pw_name[0] != '\0')
		buf_append_str(&b, pw->pw_name);
	else
		buf_printf(&b, "uid%u", (unsigned)getuid());
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._-+", c) != NULL))
			b.data[i] = '_';
	}
	char *name = xstrdup(buf_str(&b));
	buf_free(&b);
	return name;
}

/* ---- the message ------------------------------------------------------------ */

/* The line at data[from..len): its length without the line end, and the next line's start. */
static size_t line_at(const char *data, size_t len, size_t from, size_t *next)
{
	const char *lf = memchr(data + from, '\n', len - from);
	size_t end = lf != NULL ? (size_t)(lf - data) : len;
	*next = lf != NULL ? end + 1 : len;
	if (end > from && data[end - 1] == '\r')
		end--;
	return end - from;
}

/*
 * Reads stdin into msg. Without ignore_dots a line holding only "." ends
 * the message (and is not part of it); nothing after it is read.
 * Returns 0, EX_DATAERR (over SENDMAIL_MESSAGE_MAX) or EX_IOERR.
 */
static int read_message(bool ignore_dots, struct buf *msg)
{
	size_t line = 0;	/* where the line being read starts */
	for (;;) {
		buf_reserve(msg, 65536);
		ssize_t n = read(STDIN_FILENO, msg->data + msg->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: reading the message: %s\n", progname, strerror(errno));
			return EX_IOERR;
		}
		size_t scan = msg->len;
		msg->len += (size_t)n;
		msg->data[msg->len] = '\0';
		while (!ignore_dots) {
			const char *lf = memchr(msg->data + scan, '\n', msg->len - scan);
			size_t end = lf != NULL ? (size_t)(lf - msg->data) : msg->len;
			if (lf == NULL && n > 0)
				break;	/* the line goes on in the next read */
			size_t text = end > line && msg->data[end - 1] == '\r' ? end - line - 1 : end - line;
			if (text == 1 && msg->data[line] == '.') {
				msg->len = line;
				msg->data[line] = '\0';
				return 0;
			}
			if (lf == NULL)
				break;
			line = scan = end + 1;
		}
		if (msg->len > SENDMAIL_MESSAGE_MAX) {
			fprintf(stderr, "%s: message too large (over %u bytes)\n", progname,
				SENDMAIL_MESSAGE_MAX);
			return EX_DATAERR;
		}
		if (n == 0)
			return 0;
	}
}

/* True when line[0..len) starts the header field name (any case), blanks allowed before the colon. */
static bool field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0)
		return false;
	while (n < len && (line[n] == ' ' || line[n] == '\t'))
		n++;
	return n < len && line[n] == ':';
}

/* True when line[0..len) starts a header field: a name of printable ASCII but ":", then ":". */
static bool field_start(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && line[i] > 32 && line[i] < 127 && line[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == ':';
}

/* The header fields -t reads; Resent- ones, when present, replace the others (RFC 5322 3.6.6). */
static const char *const rcpt_fields[] = { "To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc" };
#define NRCPT_FIELDS (sizeof(rcpt_fields) / sizeof(rcpt_fields[0]))

struct header_scan {
	size_t end;			/* the header section's end (where a From: goes) */
	bool has_from;
	bool resent;			/* a Resent-To/Cc/Bcc field is present */
};

/* Which of rcpt_fields line starts, or -1. */
static int rcpt_field(const char *line, size_t len)
{
	for (size_t i = 0; i < NRCPT_FIELDS; i++)
		if (field_is(line, len, rcpt_fields[i]))
			return (int)i;
	return -1;
}

/*
 * Walks the header section of msg (fields and their continuation lines,
 * up to the first line that is neither), copying into out every field but
 * Bcc: and Resent-Bcc:; with rcpts, the addresses of the recipient fields
 * go there (pass 2, once h->resent is known). Returns the scan.
 */
static void walk_headers(const struct buf *msg, struct header_scan *h, struct buf *out,
			 struct rcpt_list *rcpts)
{
	size_t i = 0;
	while (i < msg->len) {
		size_t next;
		size_t llen = line_at(msg->data, msg->len, i, &next);
		if (!field_start(msg->data + i, llen))
			break;
		size_t field_end = next;	/* the field with its continuation lines */
		while (field_end < msg->len && (msg->data[field_end] == ' ' || msg->data[field_end] == '\t'))
			line_at(msg->data, msg->len, field_end, &field_end);
		int kind = rcpt_field(msg->data + i, llen);
		bool bcc = kind == 2 || kind == 5;
		h->has_from |= field_is(msg->data + i, llen, "From");
		h->resent |= kind >= 3;
		if (rcpts != NULL && kind >= 0 && (kind >= 3) == h->resent) {
			const char *colon = memchr(msg->data + i, ':', llen);
			size_t from = (size_t)(colon - msg->data) + 1;
			char what[32];
			snprintf(what, sizeof(what), "the %s: field", rcpt_fields[kind]);
			rcpt_add_list(rcpts, msg->data + from, field_end - from, what, EX_DATAERR);
		}
		if (out != NULL && !bcc)
			buf_append(out, msg->data + i, field_end - i);
		i = field_end;
	}
	h->end = i;
}

/* Appends the -F name as an RFC 5322 display name: a quoted string, or
 * RFC 2047 encoded-words when it holds non-ASCII octets. Control octets
 * (a CR or LF could start a new field) become spaces. */
static void display_name(const char *name, struct buf *out)
{
	struct buf clean = BUF_INIT;
	bool ascii = true;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		buf_append_char(&clean, c < 32 || c == 127 ? ' ' : (char)c);
		ascii &= c < 128;
	}
	if (ascii) {
		buf_append_char(out, '"');
		for (size_t i = 0; i < clean.len; i++) {
			if (clean.data[i] == '"' || clean.data[i] == '\\')
				buf_append_char(out, '\\');
			buf_append_char(out, clean.data[i]);
		}
		buf_append_char(out, '"');
		buf_free(&clean);
		return;
	}
	/* RFC 2047 5(3): words of whole UTF-8 characters, each under 75 characters */
	for (size_t i = 0; i < clean.len;) {
		size_t n = clean.len - i < SENDMAIL_ENCODED_CHUNK ? clean.len - i : SENDMAIL_ENCODED_CHUNK;
		while (i + n < clean.len && n > 1 && ((unsigned char)clean.data[i + n] & 0xC0) == 0x80)
			n--;	/* do not split a character */
		buf_append_str(out, i > 0 ? " =?UTF-8?B?" : "=?UTF-8?B?");
		base64_encode(out, clean.data + i, n);
		buf_append_str(out, "?=");
		i += n;
	}
	buf_free(&clean);
}

/*
 * The message as submitted: Bcc: fields removed, a From: with the -F name
 * added at the end of the header section when there is none; with -t the
 * recipient fields' addresses go to rcpts.
 */
static void prepare_message(const struct options *o, const struct buf *msg, const char *sender,
			    struct rcpt_list *rcpts, struct buf *out)
{
	struct header_scan h = { 0 };
	walk_headers(msg, &h, NULL, NULL);	/* pass 1: are there Resent- fields? */
	walk_headers(msg, &h, out, o->from_headers ? rcpts : NULL);
	if (!h.has_from && o->fullname != NULL && sender[0] != '\0') {
		if (out->len > 0 && out->data[out->len - 1] != '\n')
			buf_append_char(out, '\n');	/* a last field without its line end */
		buf_append_str(out, "From: ");
		display_name(o->fullname, out);
		buf_printf(out, " <%s>\n", sender);
	}
	buf_append(out, msg->data + h.end, msg->len - h.end);
}

/* ---- the control socket ----------------------------------------------------- */

static int connect_control(const char *path)
{
	int fd = control_client_connect(path);
	if (fd < 0)
		fprintf(stderr, "%s: cannot reach vsmtpd at %s: %s\n", progname, path, strerror(errno));
	return fd;
}

/* The request line: the envelope as JSON, the base64 message spliced in
 * (base64 needs no JSON escaping, and this spares copies of a big string). */
static int build_request(const char *sender, const struct rcpt_list *r, const char *user,
			 const struct buf *msg, struct buf *line)
{
	json_t *rcpts = json_array();
	for (size_t i = 0; i < r->n; i++)
		json_array_append_new(rcpts, json_string(r->addr[i]));
	json_t *req = json_pack("{s:s, s:s, s:o, s:s}", "cmd", "submit", "sender", sender, "recipients",
				rcpts, "user", user);
	char *text = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (text == NULL) {
		fprintf(stderr, "%s: cannot encode the request\n", progname);
		return EX_SOFTWARE;
	}
	size_t len = strlen(text);
	buf_reserve(line, len + base64_encoded_len(msg->len) + 32);
	buf_append(line, text, len - 1);	/* without its closing "}" */
	buf_append_str(line, ",\"message_b64\":\"");
	base64_encode(line, msg->data, msg->len);
	buf_append_str(line, "\"}\n");
	free(text);
	return 0;
}

/* Reads one reply line into reply; 0, or -1 (closed, timed out, too long) with why set. */
static int read_reply(int fd, struct buf *reply, const char **why)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, SENDMAIL_REPLY_TIMEOUT_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			*why = "no answer from vsmtpd in time";
			return -1;
		}
		buf_reserve(reply, 4096);
		ssize_t n = rc < 0 ? -1 : read(fd, reply->data + reply->len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = "vsmtpd closed the connection without answering";
			return -1;
		}
		reply->len += (size_t)n;
		reply->data[reply->len] = '\0';
		char *lf = memchr(reply->data, '\n', reply->len);
		if (lf != NULL) {
			reply->len = (size_t)(lf - reply->data);
			reply->data[reply->len] = '\0';
			return 0;
		}
		if (reply->len > SENDMAIL_REPLY_MAX) {
			*why = "vsmtpd's answer is too long";
			return -1;
		}
	}
}

/* Judges the reply line; returns the exit code. */
static int judge_reply(const struct buf *reply, bool verbose)
{
	json_error_t jerr;
	json_t *r = json_loadb(reply->data, reply->len, 0, &jerr);
	json_t *ok = json_object_get(r, "ok");
	const char *error = json_string_value(json_object_get(r, "error"));
	const char *id = json_string_value(json_object_get(json_object_get(r, "result"), "id"));
	int rc;
	if (json_is_true(ok) && id != NULL) {
		if (verbose)
			fprintf(stderr, "%s: queued as %s\n", progname, id);
		rc = EX_OK;
	} else if (json_is_false(ok) && error != NULL) {
		fprintf(stderr, "%s: %s\n", progname, error);
		bool temporary = strncmp(error, SENDMAIL_TEMPFAIL, strlen(SENDMAIL_TEMPFAIL)) == 0;
		rc = temporary ? EX_TEMPFAIL : EX_DATAERR;
	} else {
		fprintf(stderr, "%s: unexpected answer from vsmtpd: %.200s\n", progname, buf_str(reply));
		rc = EX_SOFTWARE;
	}
	json_decref(r);
	return rc;
}

/* Sends the request, reads the one reply; returns the exit code. */
static int submit(const char *path, const struct buf *request, bool verbose)
{
	int fd = connect_control(path);
	if (fd < 0)
		return EX_UNAVAILABLE;
	/* A daemon that refuses early (a line too long) still answers: read
	 * its reply even when our write fails. */
	bool sent = fd_write_all(fd, request->data, request->len) == 0;
	int write_errno = errno;
	shutdown(fd, SHUT_WR);
	struct buf reply = BUF_INIT;
	const char *why = NULL;
	int rc;
	if (read_reply(fd, &reply, &why) == 0) {
		rc = judge_reply(&reply, verbose);
	} else {
		/* Nobody can tell whether it was queued: the caller should try
		 * again (a duplicate is better than a loss). */
		if (!sent)
			fprintf(stderr, "%s: sending to vsmtpd: %s\n", progname, strerror(write_errno));
		fprintf(stderr, "%s: %s; try again later\n", progname, why);
		rc = EX_TEMPFAIL;
	}
	buf_free(&reply);
	close(fd);
	return rc;
}

/* ---- main ------------------------------------------------------------------- */

static int run(const struct options *o, const struct control_site *site)
{
	char *login = login_name();
	char sender[ADDRESS_MAX * 2 + 8];
	struct rcpt_list rcpts = { .domain = site->hostname };
	struct buf msg = BUF_INIT, out = BUF_INIT, request = BUF_INIT;
	int rc = EX_USAGE;
	if (envelope_sender(o, site->hostname, login, sender, sizeof(sender)) < 0) {
		fprintf(stderr, "%s: -f %s: not a valid sender address\n", progname, o->sender);
		goto done;
	}
	for (int i = 0; i < o->nrcpt_args; i++)
		rcpt_add_list(&rcpts, o->rcpt_args[i], strlen(o->rcpt_args[i]), "an argument", EX_USAGE);
	if (rcpts.bad != 0 || (rcpts.n == 0 && !o->from_headers)) {
		if (rcpts.bad == 0)
			fprintf(stderr, "%s: no recipients given (name them, or use -t)\n", progname);
		rc = rcpts.bad != 0 ? rcpts.bad : EX_USAGE;
		goto done;
	}
	rc = read_message(o->ignore_dots, &msg);
	if (rc != 0)
		goto done;
	prepare_message(o, &msg, sender, &rcpts, &out);
	if (rcpts.bad != 0) {
		rc = rcpts.bad;
		goto done;
	}
	if (rcpts.n == 0) {
		fprintf(stderr, "%s: no recipients in the arguments nor in To:, Cc: or Bcc:\n", progname);
		rc = EX_USAGE;
		goto done;
	}
	rc = build_request(sender, &rcpts, login, &out, &request);
	if (rc == 0)
		rc = submit(site->control, &request, o->verbose);
done:
	buf_free(&msg);
	buf_free(&out);
	buf_free(&request);
	rcpt_free(&rcpts);
	free(login);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);	/* a daemon that hangs up is an error to report, not a death */
	struct control_site site;
	rc = load_site(&o, &site);
	if (rc == 0)
		rc = run(&o, &site);
	control_site_free(&site);
	return rc;
}
