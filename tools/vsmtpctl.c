/*
 * vsmtpctl.c — the command-line client of vsmtpd's control API.
 *
 *   vsmtpctl [-c CONFIG] [-s SOCKET] [--json] COMMAND [ARGS]
 *
 * Owns nothing but one connection: it turns the command line into one JSON
 * request line (docs/CONTROL.md), sends it to the control socket, reads
 * the one reply line and prints the result for people (aligned tables,
 * "key = value" lines) or, with --json, as the daemon returned it; after
 * `monitor`, it prints the log lines that follow until either side ends. It
 * decides nothing: every check of names, IDs and states is the daemon's,
 * and its error sentence is printed as is. The socket is -s, else
 * [global] control of the config file (-c, default /etc/vsmtpd/vsmtpd.conf).
 *
 * The commands are one table of grammar strings ("queue list [--domain
 * DOMAIN] ..."): the same string parses the command line, builds the
 * request and is the usage text, so the three cannot disagree. Grammar:
 * lower-case words are the command; an UPPER word is a required argument
 * and [UPPER] an optional one, sent under its lower-cased name; [--opt
 * VALUE] is an option sent as "opt" (a VALUE written a|b|c allows only
 * those); "[A | --opt VALUE]" allows one of its parts at most; a last
 * "UPPER..." takes one or more arguments, which the command's own builder
 * turns into the request (config set: KEY=VALUE pairs into "settings").
 *
 * Exit status (sysexits.h): 0 done; 1 the daemon refused (its sentence on
 * stderr); 64 usage; 69 the daemon cannot be reached or did not answer;
 * 76 the answer was not a reply; 78 the config file cannot be read.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "config_keys.h"
#include "control_client.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

#define CTL_EXIT_REFUSED 1
#define CTL_TIMEOUT_MS (60 * 1000)		/* a reload reads certificates; nothing takes a minute */
#define CTL_REPLY_MAX (512u * 1024 * 1024)	/* queue.list of a huge queue, but not unbounded */
#define CTL_SLOTS_MAX 4			/* arguments one grammar may have */
#define CTL_REPEAT_MAX 64		/* arguments one "UPPER..." takes */
#define CTL_WORDS_MAX 2			/* words naming a command */
#define CTL_TOKEN_MAX 48
#define CTL_USAGE_COLUMN 36		/* where a command's line of usage text starts */

/* ---- the command table ----------------------------------------------------- */

typedef void (*ctl_print_fn)(json_t *result, json_t *req);

static void print_status(json_t *result, json_t *req);
static void print_server_list(json_t *result, json_t *req);
static void print_server_show(json_t *result, json_t *req);
static void print_server_state(json_t *result, json_t *req);
static void print_reload(json_t *result, json_t *req);
static void print_config_keys(json_t *result, json_t *req);
static void print_config_set(json_t *result, json_t *req);
static void print_stats(json_t *result, json_t *req);
static void print_queue_list(json_t *result, json_t *req);
static void print_queue_show(json_t *result, json_t *req);
static void print_queue_flush(json_t *result, json_t *req);
static void print_queue_action(json_t *result, json_t *req);
static void print_queue_summary(json_t *result, json_t *req);

struct ctl_grammar;
/* Fills the request's arguments from the command line (the "cmd" is set already). */
typedef void (*ctl_build_fn)(json_t *req, const struct ctl_grammar *gr);

static void build_config_set(json_t *req, const struct ctl_grammar *gr);
static void build_config_unset(json_t *req, const struct ctl_grammar *gr);

struct ctl_cmd {
	const char *grammar;
	const char *api;	/* "cmd" of the request */
	ctl_print_fn print;	/* NULL: the reply starts a stream of lines (monitor) */
	const char *doc;
	ctl_build_fn build;	/* NULL: each argument under its slot's name */
};

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", "status", print_status, "the daemon: version, pid, uptime, config", NULL },
	{ "server list", "server.list", print_server_list,
	  "the virtual servers, their state and counters", NULL },
	{ "server show NAME", "server.show", print_server_show,
	  "a server's settings, as the config writes them", NULL },
	{ "server stop NAME", "server.stop", print_server_state,
	  "close its listeners; sessions finish", NULL },
	{ "server start NAME", "server.start", print_server_state,
	  "open the listeners of a stopped server", NULL },
	{ "server pause NAME", "server.pause", print_server_state,
	  "answer new connections 421; sessions finish", NULL },
	{ "server resume NAME", "server.resume", print_server_state, "back to running from paused", NULL },
	{ "reload", "reload", print_reload, "read the config file again (on errors nothing changes)", NULL },
	{ "config keys", "config.keys", print_config_keys,
	  "every [server] key: its page, type and default", NULL },
	{ "config set SERVER KEY=VALUE...", "config.set", print_config_set,
	  "change settings in the config file, then reload", build_config_set },
	{ "config unset SERVER KEY...", "config.set", print_config_set,
	  "remove settings from the config file, then reload", build_config_unset },
	{ "monitor", "monitor", NULL, "the daemon's log lines as they are written, until interrupted", NULL },
	{ "stats [NAME]", "stats", print_stats, "counters, of every server or of one", NULL },
	{ "queue list [--domain DOMAIN] [--sender ADDRESS] [--state pending|deferred|held]", "queue.list",
	  print_queue_list, "queued messages, like mailq", NULL },
	{ "queue show ID", "queue.show", print_queue_show,
	  "one message: envelope, recipients, headers", NULL },
	{ "queue flush [ID | --domain DOMAIN]", "queue.flush", print_queue_flush,
	  "try now: one message, a domain's, or all", NULL },
	{ "queue hold ID", "queue.hold", print_queue_action, "set a message aside until released", NULL },
	{ "queue release ID", "queue.release", print_queue_action,
	  "put a held message back, tried now", NULL },
	{ "queue delete ID", "queue.delete", print_queue_action, "remove a message without a report", NULL },
	{ "queue bounce ID", "queue.bounce", print_queue_action,
	  "fail its pending recipients, with a report", NULL },
	{ "queue summary", "queue.summary", print_queue_summary,
	  "recipients by domain and age, like qshape", NULL },
};
#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

/* One argument of a grammar, and what the command line gave it. */
struct ctl_slot {
	char flag[CTL_TOKEN_MAX];	/* "--domain"; "" for a positional argument */
	char key[CTL_TOKEN_MAX];	/* the request's member: "domain", "name", "id" */
	char meta[CTL_TOKEN_MAX];	/* "DOMAIN", "NAME", or the choices "pending|deferred|held" */
	bool optional;
	int group;			/* > 0: at most one slot of the group may be given */
	bool repeat;			/* "UPPER...": takes every argument left */
	const char *value;		/* the (first) argument given */
	const char *values[CTL_REPEAT_MAX];	/* repeat: all of them */
	size_t nvalues;
};

struct ctl_grammar {
	char words[CTL_WORDS_MAX][CTL_TOKEN_MAX];
	size_t nwords;
	struct ctl_slot slots[CTL_SLOTS_MAX];
	size_t nslots;
};

/* A grammar string is ours, not the user's: a bad one is a bug, caught by any run of -h. */
static void grammar_bug(const char *g)
{
	fprintf(stderr, "vsmtpctl: internal error: bad grammar '%s'\n", g);
	abort();
}

static void copy_token(char *dst, const char *s, size_t len, const char *g)
{
	if (len == 0 || len >= CTL_TOKEN_MAX)
		grammar_bug(g);
	memcpy(dst, s, len);
	dst[len] = '\0';
}

static bool is_upper_word(const char *s)
{
	return s[0] >= 'A' && s[0] <= 'Z';
}

/* One argument s[0..len): "NAME" or "--opt VALUE". */
static void grammar_slot(struct ctl_grammar *gr, const char *s, size_t len, bool optional, int group,
			 const char *g)
{
	if (gr->nslots == CTL_SLOTS_MAX)
		grammar_bug(g);
	struct ctl_slot *sl = &gr->slots[gr->nslots++];
	memset(sl, 0, sizeof(*sl));
	sl->optional = optional;
	sl->group = group;
	if (len > 2 && s[0] == '-' && s[1] == '-') {
		const char *sp = memchr(s, ' ', len);
		if (sp == NULL)
			grammar_bug(g);
		copy_token(sl->flag, s, (size_t)(sp - s), g);
		copy_token(sl->key, s + 2, (size_t)(sp - s) - 2, g);
		copy_token(sl->meta, sp + 1, len - (size_t)(sp + 1 - s), g);
		return;
	}
	if (!is_upper_word(s))
		grammar_bug(g);
	if (len > 3 && memcmp(s + len - 3, "...", 3) == 0) {
		sl->repeat = true;
		len -= 3;
	}
	copy_token(sl->meta, s, len, g);
	copy_token(sl->key, s, len, g);
	for (char *p = sl->key; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

/* "[a | b]" at s[0..len) (brackets included): each part optional, at most one of them. */
static void grammar_group(struct ctl_grammar *gr, const char *s, size_t len, int group, const char *g)
{
	const char *p = s + 1, *end = s + len - 1;
	while (p < end) {
		const char *bar = p;
		while (bar + 3 <= end && memcmp(bar, " | ", 3) != 0)
			bar++;
		if (bar + 3 > end)
			bar = end;
		grammar_slot(gr, p, (size_t)(bar - p), true, group, g);
		p = bar == end ? end : bar + 3;
	}
}

static void grammar_parse(const char *g, struct ctl_grammar *gr)
{
	memset(gr, 0, sizeof(*gr));
	int groups = 0;
	for (const char *p = g; *p != '\0';) {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (*p == '[') {
			const char *close = strchr(p, ']');
			if (close == NULL)
				grammar_bug(g);
			size_t len = (size_t)(close + 1 - p);
			bool alternatives = memmem(p, len, " | ", 3) != NULL;
			if (alternatives)
				grammar_group(gr, p, len, ++groups, g);
			else
				grammar_slot(gr, p + 1, len - 2, true, 0, g);
			p = close + 1;
			continue;
		}
		size_t len = strcspn(p, " ");
		if (is_upper_word(p)) {
			grammar_slot(gr, p, len, false, 0, g);
		} else {
			if (gr->nwords == CTL_WORDS_MAX || gr->nslots > 0)
				grammar_bug(g);
			copy_token(gr->words[gr->nwords++], p, len, g);
		}
		p += len;
	}
	if (gr->nwords == 0)
		grammar_bug(g);
}

/* ---- usage ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: vsmtpctl [-c CONFIG] [-s SOCKET] [--json] COMMAND [ARGS]\n"
		   "  -c CONFIG  the daemon's config file, for [global] control (default %s)\n"
		   "  -s SOCKET  the control socket (instead of the config's)\n"
		   "  --json     print the result as the daemon returns it (JSON)\n"
		   "  -h         this text\n"
		   "commands:\n",
		CONTROL_DEFAULT_CONFIG);
	for (size_t i = 0; i < CTL_NCMDS; i++) {
		struct ctl_grammar gr;
		grammar_parse(ctl_cmds[i].grammar, &gr);	/* checks every grammar */
		int pad = CTL_USAGE_COLUMN - (int)strlen(ctl_cmds[i].grammar);
		if (pad < 1)	/* too long to share its line */
			fprintf(f, "  %s\n  %*s%s\n", ctl_cmds[i].grammar, CTL_USAGE_COLUMN, "",
				ctl_cmds[i].doc);
		else
			fprintf(f, "  %s%*s%s\n", ctl_cmds[i].grammar, pad, "", ctl_cmds[i].doc);
	}
	fprintf(f, "exit status: 0 done, 1 refused by the daemon, 64 usage, 69 daemon unreachable,\n"
		   "  76 bad answer, 78 config unreadable. See vsmtpctl(8).\n");
}

/* The command being parsed, once known: its usage line is what a mistake in its arguments needs. */
static const struct ctl_cmd *ctl_current;

/* A usage error: the reason and the usage text on stderr, exit 64. */
static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("vsmtpctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	if (ctl_current != NULL)
		fprintf(stderr, "usage: vsmtpctl [OPTIONS] %s\n", ctl_current->grammar);
	else
		usage(stderr);
	exit(EX_USAGE);
}

/* ---- the command line -> a request ----------------------------------------- */

struct ctl_opts {
	const char *config;
	bool config_given;
	const char *socket;
	bool json;
};

/* The row whose words start argv; *used says how many. Exits with a usage error when none does. */
static const struct ctl_cmd *command_find(int argc, char **argv, struct ctl_grammar *gr, int *used)
{
	bool first_known = false;
	struct buf subs = BUF_INIT;
	for (size_t i = 0; i < CTL_NCMDS; i++) {
		grammar_parse(ctl_cmds[i].grammar, gr);
		if (strcmp(gr->words[0], argv[0]) != 0)
			continue;
		first_known = true;
		if (gr->nwords == 1 || (argc > 1 && strcmp(gr->words[1], argv[1]) == 0)) {
			*used = (int)gr->nwords;
			buf_free(&subs);
			ctl_current = &ctl_cmds[i];
			return ctl_current;
		}
		buf_printf(&subs, "%s%s", subs.len > 0 ? ", " : "", gr->words[1]);
	}
	if (!first_known)
		usage_error("unknown command '%s'", argv[0]);
	if (argc > 1)
		usage_error("unknown command '%s %s' (%s takes %s)", argv[0], argv[1], argv[0],
			    buf_str(&subs));
	usage_error("'%s' needs one of: %s", argv[0], buf_str(&subs));
}

static struct ctl_slot *slot_by_flag(struct ctl_grammar *gr, const char *flag, size_t len)
{
	for (size_t i = 0; i < gr->nslots; i++)
		if (strlen(gr->slots[i].flag) == len && strncmp(gr->slots[i].flag, flag, len) == 0)
			return &gr->slots[i];
	return NULL;
}

static struct ctl_slot *next_positional(struct ctl_grammar *gr)
{
	for (size_t i = 0; i < gr->nslots; i++)
		if (gr->slots[i].flag[0] == '\0' && (gr->slots[i].value == NULL || gr->slots[i].repeat))
			return &gr->slots[i];
	return NULL;
}

/* The command's words, "queue list", for messages; borrowed until the next call. */
static const char *words_of(const struct ctl_grammar *gr)
{
	static char text[CTL_WORDS_MAX * CTL_TOKEN_MAX];
	snprintf(text, sizeof(text), "%s%s%s", gr->words[0], gr->nwords > 1 ? " " : "",
		 gr->nwords > 1 ? gr->words[1] : "");
	return text;
}

/* The slot's name in messages: "--domain" or "NAME". */
static const char *slot_label(const struct ctl_slot *sl)
{
	return sl->flag[0] != '\0' ? sl->flag : sl->meta;
}

/* Checks what the grammar can: choices, groups, required arguments. */
static void slots_check(const struct ctl_grammar *gr)
{
	for (size_t i = 0; i < gr->nslots; i++) {
		const struct ctl_slot *sl = &gr->slots[i];
		if (sl->value == NULL) {
			if (!sl->optional)
				usage_error("'%s' needs %s", words_of(gr), sl->meta);
			continue;
		}
		if (strchr(sl->meta, '|') != NULL) {
			bool ok = false;
			size_t vlen = strlen(sl->value);
			for (const char *c = sl->meta; *c != '\0';) {
				size_t n = strcspn(c, "|");
				ok = ok || (n == vlen && strncmp(c, sl->value, n) == 0);
				c += n + (c[n] == '|');
			}
			if (!ok)
				usage_error("%s must be one of %s, not '%s'", sl->flag, sl->meta, sl->value);
		}
		for (size_t j = i + 1; j < gr->nslots; j++) {
			if (sl->group > 0 && gr->slots[j].group == sl->group && gr->slots[j].value != NULL)
				usage_error("give %s or %s, not both", slot_label(sl),
					    slot_label(&gr->slots[j]));
		}
	}
}

/*
 * Fills the grammar's slots from argv[0..argc) (after the command words).
 * "--json" and "-h" are taken here too, wherever they stand.
 */
static void slots_fill(struct ctl_grammar *gr, int argc, char **argv, struct ctl_opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (a[0] == '-' && a[1] == '-') {
			const char *eq = strchr(a, '=');
			size_t flen = eq != NULL ? (size_t)(eq - a) : strlen(a);
			struct ctl_slot *sl = slot_by_flag(gr, a, flen);
			if (sl == NULL)
				usage_error("'%s' has no option %.*s", words_of(gr), (int)flen, a);
			if (sl->value != NULL)
				usage_error("%s given twice", sl->flag);
			if (eq == NULL && i + 1 == argc)
				usage_error("%s needs a value (%s)", sl->flag, sl->meta);
			sl->value = eq != NULL ? eq + 1 : argv[++i];
			continue;
		}
		if (a[0] == '-' && a[1] != '\0')
			usage_error("'%s' has no option %s", words_of(gr), a);
		struct ctl_slot *sl = next_positional(gr);
		if (sl == NULL || (sl->repeat && sl->nvalues == CTL_REPEAT_MAX))
			usage_error("too many arguments for '%s': %s", words_of(gr), a);
		if (sl->value == NULL)
			sl->value = a;
		if (sl->repeat)
			sl->values[sl->nvalues++] = a;
	}
	slots_check(gr);
}

static json_t *request_build(const struct ctl_cmd *cmd, const struct ctl_grammar *gr)
{
	json_t *req = json_object();
	json_object_set_new(req, "cmd", json_string(cmd->api));
	if (cmd->build != NULL) {
		cmd->build(req, gr);
		return req;
	}
	for (size_t i = 0; i < gr->nslots; i++)
		if (gr->slots[i].value != NULL)
			json_object_set_new(req, gr->slots[i].key, json_string(gr->slots[i].value));
	return req;
}

/* config set SERVER KEY=VALUE...: {"server", "settings": {KEY: VALUE}}; VALUE may be empty. */
static void build_config_set(json_t *req, const struct ctl_grammar *gr)
{
	json_t *settings = json_object();
	const struct ctl_slot *pairs = &gr->slots[1];
	for (size_t i = 0; i < pairs->nvalues; i++) {
		const char *eq = strchr(pairs->values[i], '=');
		if (eq == NULL || eq == pairs->values[i])
			usage_error("expected KEY=VALUE, not '%s'", pairs->values[i]);
		char *key = xstrndup(pairs->values[i], (size_t)(eq - pairs->values[i]));
		json_object_set_new(settings, key, json_string(eq + 1));
		free(key);
	}
	json_object_set_new(req, "server", json_string(gr->slots[0].value));
	json_object_set_new(req, "settings", settings);
}

/* config unset SERVER KEY...: {"server", "settings": {KEY: null}}. */
static void build_config_unset(json_t *req, const struct ctl_grammar *gr)
{
	json_t *settings = json_object();
	for (size_t i = 0; i < gr->slots[1].nvalues; i++)
		json_object_set_new(settings, gr->slots[1].values[i], json_null());
	json_object_set_new(req, "server", json_string(gr->slots[0].value));
	json_object_set_new(req, "settings", settings);
}

/* ---- where the socket is --------------------------------------------------- */

/*
 * [global] control of the config file (control_site_load(): as the daemon
 * reads it, or just that line when the rest does not load); a file that
 * cannot be read at all falls back to the default socket unless -c named
 * it. Caller frees.
 */
static char *socket_from_config(const struct ctl_opts *o)
{
	struct control_site site;
	struct buf errors = BUF_INIT;
	if (control_site_load(o->config, &site, &errors) < 0) {
		if (!o->config_given) {
			buf_free(&errors);
			return control_default_socket();
		}
		fprintf(stderr, "vsmtpctl: cannot read %s (or give the socket with -s):\n%s", o->config,
			buf_str(&errors));
		exit(EX_CONFIG);
	}
	buf_free(&errors);
	char *path = site.control;
	site.control = NULL;
	control_site_free(&site);
	return path;
}

/* ---- one connection: a request, its reply, a stream ------------------------ */

struct ctl_conn {
	const char *path;
	int fd;
	struct buf in;		/* bytes read past the last line taken */
};

static void __attribute__((noreturn)) unreachable(const char *path, const char *why)
{
	fprintf(stderr, "vsmtpctl: cannot reach vsmtpd at %s: %s\n", path, why);
	exit(EX_UNAVAILABLE);
}

static void conn_open(struct ctl_conn *c, const char *path)
{
	c->path = path;
	buf_init(&c->in);
	c->fd = control_client_connect(path);
	if (c->fd < 0)
		unreachable(path, strerror(errno));
}

static void conn_close(struct ctl_conn *c)
{
	close(c->fd);
	buf_free(&c->in);
}

static long long now_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits for the socket to be ready for events before the deadline (now_ms(); -1: none). */
static void conn_wait(struct ctl_conn *c, short events, long long deadline)
{
	for (;;) {
		long long left = deadline < 0 ? -1 : deadline - now_ms();
		if (deadline >= 0 && left <= 0)
			unreachable(c->path, "no answer within a minute");
		struct pollfd p = { .fd = c->fd, .events = events };
		int rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return;
		if (rc < 0 && errno != EINTR)
			unreachable(c->path, strerror(errno));
	}
}

static void conn_send(struct ctl_conn *c, const char *data, size_t len, long long deadline)
{
	size_t off = 0;
	while (off < len) {
		conn_wait(c, POLLOUT, deadline);
		ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			unreachable(c->path, strerror(errno));
		off += (size_t)n;
	}
}

/* The next line (its "\n" dropped) into *line: 0, or -1 when the daemon closed the connection. */
static int conn_line(struct ctl_conn *c, struct buf *line, long long deadline)
{
	char chunk[65536];
	const char *nl;
	while ((nl = c->in.len > 0 ? memchr(c->in.data, '\n', c->in.len) : NULL) == NULL) {
		if (c->in.len > CTL_REPLY_MAX)
			unreachable(c->path, "the answer is too long");
		conn_wait(c, POLLIN, deadline);
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			unreachable(c->path, strerror(errno));
		if (n == 0)
			return -1;
		buf_append(&c->in, chunk, (size_t)n);
	}
	size_t len = (size_t)(nl - c->in.data);
	buf_reset(line);
	buf_append(line, c->in.data, len);
	buf_consume(&c->in, len + 1);
	return 0;
}

/* Sends req and returns its reply object; exits on any failure to get one. */
static json_t *conn_call(struct ctl_conn *c, json_t *req)
{
	long long deadline = now_ms() + CTL_TIMEOUT_MS;
	char *text = json_dumps(req, JSON_COMPACT);
	struct buf line = BUF_INIT;
	buf_append_str(&line, text);
	buf_append_char(&line, '\n');
	free(text);
	conn_send(c, line.data, line.len, deadline);
	if (conn_line(c, &line, deadline) < 0)
		unreachable(c->path, "the connection was closed before the answer");
	json_error_t jerr;
	json_t *reply = json_loadb(buf_str(&line), line.len, 0, &jerr);
	buf_free(&line);
	if (reply == NULL || !json_is_object(reply) || !json_is_boolean(json_object_get(reply, "ok"))) {
		fprintf(stderr, "vsmtpctl: the answer from %s is not a control reply%s%s\n", c->path,
			reply == NULL ? ": " : "", reply == NULL ? jerr.text : "");
		exit(EX_PROTOCOL);
	}
	return reply;
}

/*
 * monitor: after its reply the connection carries log lines, {"level",
 * "line"} each, until the daemon closes it (it stops) or we are
 * interrupted. Printed as they come: the line, or the object with --json.
 */
static void conn_stream(struct ctl_conn *c, bool as_json)
{
	struct buf line = BUF_INIT;
	while (conn_line(c, &line, -1) == 0) {
		json_t *o = json_loadb(buf_str(&line), line.len, 0, NULL);
		const char *text = json_string_value(json_object_get(o, "line"));
		const char *level = json_string_value(json_object_get(o, "level"));
		if (as_json) {
			json_dumpf(o != NULL ? o : json_null(), stdout, JSON_COMPACT);
			putchar('\n');
		} else if (text != NULL) {
			printf("%s%s%s\n", level != NULL && strcmp(level, "info") != 0 ? level : "",
			       level != NULL && strcmp(level, "info") != 0 ? ": " : "", text);
		}
		json_decref(o);
		fflush(stdout);
	}
	buf_free(&line);
}

/* ---- output helpers -------------------------------------------------------- */

/* A scalar (or a list of them) as text: strings as they are, lists joined with ", ". */
static void text_of(struct buf *out, json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		buf_append(out, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		buf_printf(out, "%lld", (long long)json_integer_value(v));
		return;
	case JSON_REAL:
		buf_printf(out, "%g", json_real_value(v));
		return;
	case JSON_TRUE:
		buf_append_str(out, "yes");
		return;
	case JSON_FALSE:
		buf_append_str(out, "no");
		return;
	case JSON_NULL:
		buf_append_str(out, "-");
		return;
	case JSON_ARRAY: {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			if (i > 0)
				buf_append_str(out, ", ");
			text_of(out, e);
		}
		return;
	}
	case JSON_OBJECT: {
		char *s = json_dumps(v, JSON_COMPACT);
		buf_append_str(out, s);
		free(s);
		return;
	}
	}
}

/*
 * The member key of obj as text ("-" when absent). Borrowed: valid until
 * the fourth call after, so a printf may take a few of them.
 */
static const char *member(json_t *obj, const char *key)
{
	static struct buf ring[4];
	static size_t next;
	struct buf *b = &ring[next++ % 4];
	buf_reset(b);
	json_t *v = json_object_get(obj, key);
	text_of(b, v != NULL ? v : json_null());
	return buf_str(b);
}

static long long member_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* "2024-05-01T10:00:00+02:00": local time, ISO 8601 with its offset. */
static void time_iso(struct buf *out, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char text[32];
	if (localtime_r(&tt, &tm) == NULL || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		buf_printf(out, "%lld", t);
		return;
	}
	long off = tm.tm_gmtoff / 60;
	buf_printf(out, "%s%c%02ld:%02ld", text, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/* A time member (unix seconds) as ISO text; 0 or absent is "-", a string is kept. */
static void time_of(struct buf *out, json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) > 0)
		time_iso(out, (long long)json_integer_value(v));
	else if (json_is_string(v))
		buf_append_str(out, json_string_value(v));
	else
		buf_append_str(out, "-");
}

/* "3d 4h", "2h 5m", "5m 12s", "12s": the two largest units. */
static void span(struct buf *out, long long s)
{
	static const struct {
		char unit;
		long long secs;
	} units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	if (s < 0)
		s = 0;
	for (size_t i = 0; i < 4; i++) {
		if (i < 3 && s < units[i].secs)
			continue;
		buf_printf(out, "%lld%c", s / units[i].secs, units[i].unit);
		if (i < 3 && s % units[i].secs / units[i + 1].secs > 0)
			buf_printf(out, " %lld%c", s % units[i].secs / units[i + 1].secs, units[i + 1].unit);
		return;
	}
}

/* An aligned table: two spaces between columns, numbers right-aligned. */
struct table {
	const char *align;	/* one 'l' or 'r' per column */
	size_t ncols;
	char **cells;
	size_t n, cap;
};

static void table_init(struct table *t, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->align = align;
	t->ncols = strlen(align);
}

static void __attribute__((format(printf, 2, 3))) table_cell(struct table *t, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (t->n == t->cap) {
		t->cap = t->cap > 0 ? 2 * t->cap : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof(*t->cells));
	}
	t->cells[t->n++] = xstrdup(buf_str(&b));
	buf_free(&b);
}

/* Prints each row, indented, and frees the table. */
static void table_print(struct table *t, const char *indent)
{
	size_t width[16] = { 0 };
	for (size_t i = 0; i < t->n; i++) {
		size_t w = strlen(t->cells[i]);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t c = i % t->ncols;
		bool last = c + 1 == t->ncols;
		if (c == 0)
			fputs(indent, stdout);
		if (t->align[c] == 'r')
			printf("%*s", (int)width[c], t->cells[i]);
		else if (last)
			fputs(t->cells[i], stdout);	/* no trailing blanks */
		else
			printf("%-*s", (int)width[c], t->cells[i]);
		fputs(last ? "\n" : "  ", stdout);
		free(t->cells[i]);
	}
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Prints "key: value" lines aligned, for the members of obj not in skip. */
static void print_members(json_t *obj, const char *const *skip)
{
	size_t w = 0;
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		if (strlen(key) > w)
			w = strlen(key);
	}
	json_object_foreach(obj, key, v) {
		bool skipped = false;
		for (const char *const *s = skip; *s != NULL; s++)
			skipped = skipped || strcmp(*s, key) == 0;
		if (!skipped)
			printf("%s:%*s %s\n", key, (int)(w - strlen(key)), "", member(obj, key));
	}
}

/* ---- printers, one per kind of result -------------------------------------- */

static void print_status(json_t *result, json_t *req)
{
	struct buf since = BUF_INIT, up = BUF_INIT;
	long long started = member_int(result, "started");
	time_iso(&since, started);
	span(&up, (long long)time(NULL) - started);
	printf("vsmtpd %s, pid %s, up %s (since %s)\n", member(result, "version"),
	       member(result, "pid"), buf_str(&up), buf_str(&since));
	static const char *const skip[] = { "version", "pid", "started", NULL };
	print_members(result, skip);
	buf_free(&since);
	buf_free(&up);
}

static void print_server_list(json_t *result, json_t *req)
{
	struct table t;
	table_init(&t, "llrrrl");
	table_cell(&t, "NAME");
	table_cell(&t, "STATE");
	table_cell(&t, "SESSIONS");
	table_cell(&t, "CONNECTIONS");
	table_cell(&t, "MESSAGES");
	table_cell(&t, "LISTEN");
	size_t i;
	json_t *s;
	json_array_foreach(result, i, s) {
		json_t *counters = json_object_get(s, "counters");
		table_cell(&t, "%s", member(s, "name"));
		table_cell(&t, "%s", member(s, "state"));
		json_t *sessions_in = json_object_get(s, "sessions") != NULL ? s : counters;
		table_cell(&t, "%s", member(sessions_in, "sessions"));
		table_cell(&t, "%s", member(counters, "connections"));
		table_cell(&t, "%s", member(counters, "messages"));
		table_cell(&t, "%s", member(s, "listen"));
	}
	table_print(&t, "");
}

/* A scratch struct of either scope, for parsing one value. */
union ctl_scratch {
	struct config_global g;
	struct config_server s;
};

/*
 * k's default as config_value_format() writes it ("" when k has none: it
 * is then unset), or NULL when this vsmtpctl cannot tell. Caller frees.
 */
static char *default_text(const struct config_key *k)
{
	struct buf def = BUF_INIT, out = BUF_INIT, why = BUF_INIT;
	if (k->def != NULL)
		buf_append_str(&def, k->def);
	else if (k->def_fn != NULL)
		k->def_fn(&def);
	else
		return xstrdup("");
	union ctl_scratch scratch;
	memset(&scratch, 0, sizeof(scratch));
	char *text = NULL;
	if (config_value_parse(k, buf_str(&def), &scratch, &why) == 0) {
		buf_append(&out, "", 0);
		config_value_format(k, &scratch, &out);
		config_value_free(k, &scratch);
		text = xstrdup(buf_str(&out));
	}
	buf_free(&def);
	buf_free(&out);
	buf_free(&why);
	return text;
}

/*
 * One "key = value" line, '=' after column w. A key at its default is a
 * comment, "#key = value": the section then sets only what differs, so it
 * is a config vsmtpd accepts (a default written out can trip a rule, as
 * tls_min_protocol without tls_cert does) and shows what was changed.
 */
static void setting_line(const char *key, size_t w, json_t *v)
{
	struct buf b = BUF_INIT;
	text_of(&b, v);
	const struct config_key *k = config_key_find(key);
	char *def = k != NULL ? default_text(k) : NULL;
	bool is_default = def != NULL && strcmp(def, buf_str(&b)) == 0;
	printf("%s%-*s =%s%s\n", is_default ? "#" : "", (int)w - is_default, key, b.len > 0 ? " " : "",
	       buf_str(&b));
	free(def);
	buf_free(&b);
}

/*
 * A valid [server] section: the settings in the order of the key table
 * (the config's order), then any the table lacks (a newer daemon).
 */
static void print_server_show(json_t *result, json_t *req)
{
	json_t *settings = json_object_get(result, "settings");
	printf("# %s: %s; section at %s:%s; '#' lines: at the default\n", member(result, "name"),
	       member(result, "state"), member(result, "file"), member(result, "line"));
	printf("[server %s]\n", member(result, "name"));
	size_t w = 0;
	const char *key;
	json_t *v;
	json_object_foreach(settings, key, v) {
		if (strlen(key) + 1 > w)
			w = strlen(key) + 1;	/* room for the '#' of a default */
	}
	for (size_t i = 0; i < config_nkeys; i++) {
		v = json_object_get(settings, config_keys[i].name);
		if (config_keys[i].scope == CONFIG_SCOPE_SERVER && v != NULL)
			setting_line(config_keys[i].name, w, v);
	}
	json_object_foreach(settings, key, v) {
		const struct config_key *k = config_key_find(key);
		if (k == NULL || k->scope != CONFIG_SCOPE_SERVER)
			setting_line(key, w, v);
	}
}

static void print_server_state(json_t *result, json_t *req)
{
	printf("server %s: %s\n", member(result, "name"), member(result, "state"));
}

static void print_reload(json_t *result, json_t *req)
{
	json_t *servers = json_object_get(result, "servers");
	printf("config reloaded\n");
	const char *key;
	json_t *v;
	json_object_foreach(servers, key, v) {
		if (json_array_size(v) > 0)
			printf("  %s: %s\n", key, member(servers, key));
	}
}

/* One line per key: name, page, type, default (the doc is in --json and docs/CONFIG.md). */
static void print_config_keys(json_t *result, json_t *req)
{
	struct table t;
	table_init(&t, "llll");
	table_cell(&t, "KEY");
	table_cell(&t, "PAGE");
	table_cell(&t, "TYPE");
	table_cell(&t, "DEFAULT");
	size_t i;
	json_t *k;
	json_array_foreach(result, i, k) {
		table_cell(&t, "%s", member(k, "name"));
		table_cell(&t, "%s", member(k, "page"));
		table_cell(&t, "%s", member(k, "type"));
		table_cell(&t, "%s", member(k, "default"));
	}
	table_print(&t, "");
}

static void print_config_set(json_t *result, json_t *req)
{
	json_t *changed = json_object_get(result, "changed");
	if (json_array_size(changed) > 0)
		printf("changed in %s: %s\n", member(req, "server"), member(result, "changed"));
	else
		printf("%s: the config file already said so\n", member(req, "server"));
	print_reload(result, req);
}

/* "name  value" lines of a counters object, numbers right-aligned. */
static void print_counters(const char *title, json_t *counters)
{
	struct table t;
	table_init(&t, "lr");
	const char *key;
	json_t *v;
	json_object_foreach(counters, key, v) {
		table_cell(&t, "%s", key);
		table_cell(&t, "%s", member(counters, key));
	}
	printf("%s\n", title);
	table_print(&t, "  ");
}

/* {"servers": {NAME: {counters}}, "queue": {counters}}: a block each. */
static void print_stats(json_t *result, json_t *req)
{
	const char *key, *name;
	json_t *v, *one;
	bool first = true;
	json_object_foreach(result, key, v) {
		if (!json_is_object(v))
			continue;
		json_t *probe = json_object_iter_value(json_object_iter(v));
		if (json_is_object(probe)) {
			json_object_foreach(v, name, one) {
				char *title = xasprintf("%s%s %s", first ? "" : "\n",
							strcmp(key, "servers") == 0 ? "server" : key, name);
				print_counters(title, one);
				free(title);
				first = false;
			}
			continue;
		}
		char *title = xasprintf("%s%s", first ? "" : "\n", key);
		print_counters(title, v);
		free(title);
		first = false;
	}
}

/* A message's state in one word: held, or what its unfinished recipients wait for. */
static const char *message_state(json_t *m)
{
	if (json_is_true(json_object_get(m, "held")))
		return "held";
	bool pending = false, deferred = false;
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(m, "recipients"), i, r) {
		const char *s = json_string_value(json_object_get(r, "state"));
		if (s == NULL)
			continue;
		deferred = deferred || strcmp(s, "deferred") == 0 || strcmp(s, "warned") == 0;
		pending = pending || strcmp(s, "pending") == 0;
	}
	return deferred ? "deferred" : pending ? "pending" : "done";
}

/* The envelope sender, "<>" for the null sender. */
static const char *sender_of(json_t *m)
{
	const char *s = member(m, "sender");
	return s[0] == '\0' ? "<>" : s;
}

static void print_queue_list(json_t *result, json_t *req)
{
	if (json_array_size(result) == 0) {
		printf(json_object_size(req) > 1 ? "no queued message matches\n" : "queue is empty\n");
		return;
	}
	struct table t;
	table_init(&t, "llrlrl");
	table_cell(&t, "ID");
	table_cell(&t, "ARRIVAL");
	table_cell(&t, "SIZE");
	table_cell(&t, "SENDER");
	table_cell(&t, "RCPTS");
	table_cell(&t, "STATE");
	long long bytes = 0;
	size_t i;
	json_t *m;
	json_array_foreach(result, i, m) {
		struct buf when = BUF_INIT;
		time_of(&when, json_object_get(m, "arrival"));
		table_cell(&t, "%s", member(m, "id"));
		table_cell(&t, "%s", buf_str(&when));
		table_cell(&t, "%s", member(m, "size"));
		table_cell(&t, "%s", sender_of(m));
		table_cell(&t, "%zu", json_array_size(json_object_get(m, "recipients")));
		table_cell(&t, "%s", message_state(m));
		bytes += member_int(m, "size");
		buf_free(&when);
	}
	table_print(&t, "");
	size_t n = json_array_size(result);
	printf("-- %zu message%s, %lld bytes\n", n, n == 1 ? "" : "s", bytes);
}

static void print_recipients(json_t *rcpts)
{
	struct table t;
	table_init(&t, "llrl");
	table_cell(&t, "RECIPIENT");
	table_cell(&t, "STATE");
	table_cell(&t, "TRIES");
	table_cell(&t, "NEXT TRY");
	size_t i;
	json_t *r;
	json_array_foreach(rcpts, i, r) {
		struct buf next = BUF_INIT;
		time_of(&next, json_object_get(r, "next_try"));
		table_cell(&t, "%s", member(r, "address"));
		table_cell(&t, "%s", member(r, "state"));
		table_cell(&t, "%s", member(r, "tries"));
		table_cell(&t, "%s", buf_str(&next));
		buf_free(&next);
	}
	table_print(&t, "  ");
}

static void print_queue_show(json_t *result, json_t *req)
{
	struct buf when = BUF_INIT;
	time_of(&when, json_object_get(result, "arrival"));
	printf("id:      %s\n", member(result, "id"));
	printf("arrival: %s\n", buf_str(&when));
	printf("size:    %s bytes\n", member(result, "size"));
	printf("sender:  %s\n", sender_of(result));
	printf("state:   %s\n", message_state(result));
	static const char *const skip[] = {
		"id", "arrival", "size", "sender", "held", "recipients", "headers", NULL,
	};
	print_members(result, skip);
	printf("recipients:\n");
	print_recipients(json_object_get(result, "recipients"));
	const char *headers = json_string_value(json_object_get(result, "headers"));
	if (headers != NULL) {
		/* the header section as stored (CRLF): lines end with LF on a terminal */
		printf("\n");
		for (const char *p = headers; *p != '\0'; p++)
			if (!(p[0] == '\r' && p[1] == '\n'))
				putchar(*p);
		if (headers[0] != '\0' && headers[strlen(headers) - 1] != '\n')
			printf("\n");
	}
	buf_free(&when);
}

static void print_queue_flush(json_t *result, json_t *req)
{
	long long n = member_int(result, "flushed");
	printf("flushed %lld message%s\n", n, n == 1 ? "" : "s");
}

static void print_queue_action(json_t *result, json_t *req)
{
	printf("message %s: %s\n", member(result, "id"), member(result, "state"));
}

/* Domains by age, as qshape: a TOTAL row first, then the daemon's order (most recipients first). */
static void print_queue_summary(json_t *result, json_t *req)
{
	json_t *first = json_array_get(result, 0);
	if (first == NULL) {
		printf("no recipient is waiting\n");
		return;
	}
	json_t *ages = json_object_get(first, "age");
	char align[16];
	size_t nages = json_object_size(ages);
	if (nages > sizeof(align) - 3)
		nages = sizeof(align) - 3;	/* qshape has 10 columns; the daemon sends 4 */
	memset(align, 'r', sizeof(align));
	align[0] = 'l';
	align[nages + 2] = '\0';
	struct table t;
	table_init(&t, align);
	table_cell(&t, "DOMAIN");
	table_cell(&t, "TOTAL");
	const char *age;
	json_t *v;
	long long total[16] = { 0 }, all = 0;
	size_t k = 0;
	json_object_foreach(ages, age, v) {
		if (k++ < nages)
			table_cell(&t, "%s", age);
	}
	size_t i;
	json_t *row;
	json_array_foreach(result, i, row) {
		all += member_int(row, "recipients");
		k = 0;
		json_object_foreach(ages, age, v) {
			if (k < nages)
				total[k++] += member_int(json_object_get(row, "age"), age);
		}
	}
	table_cell(&t, "TOTAL");
	table_cell(&t, "%lld", all);
	for (k = 0; k < nages; k++)
		table_cell(&t, "%lld", total[k]);
	json_array_foreach(result, i, row) {
		table_cell(&t, "%s", member(row, "domain"));
		table_cell(&t, "%s", member(row, "recipients"));
		k = 0;
		json_object_foreach(ages, age, v) {
			if (k++ < nages)
				table_cell(&t, "%lld", member_int(json_object_get(row, "age"), age));
		}
	}
	table_print(&t, "");
}

/* ---- main ------------------------------------------------------------------ */

/* The global options before COMMAND; returns the index of COMMAND. */
static int options_parse(int argc, char **argv, struct ctl_opts *o)
{
	static const struct option longs[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:s:hj", longs, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->config = optarg;
			o->config_given = true;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind == argc)
		usage_error("no command given");
	return optind;
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { .config = CONTROL_DEFAULT_CONFIG };
	int first = options_parse(argc, argv, &o);
	struct ctl_grammar gr;
	int used;
	const struct ctl_cmd *cmd = command_find(argc - first, argv + first, &gr, &used);
	slots_fill(&gr, argc - first - used, argv + first + used, &o);
	json_t *req = request_build(cmd, &gr);

	char *path = o.socket != NULL ? xstrdup(o.socket) : socket_from_config(&o);
	struct ctl_conn c;
	conn_open(&c, path);
	json_t *reply = conn_call(&c, req);

	int rc = 0;
	json_t *result = json_object_get(reply, "result");
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *error = json_string_value(json_object_get(reply, "error"));
		fprintf(stderr, "%s\n", error != NULL ? error : "vsmtpd refused it without a reason");
		rc = CTL_EXIT_REFUSED;
	} else if (cmd->print == NULL) {
		conn_stream(&c, o.json);
	} else if (o.json) {
		json_dumpf(result != NULL ? result : json_null(), stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
		printf("\n");
	} else {
		cmd->print(result != NULL ? result : json_null(), req);
	}
	conn_close(&c);
	free(path);
	json_decref(reply);
	json_decref(req);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "vsmtpctl: cannot write the output: %s\n", strerror(errno));
		return EX_IOERR;
	}
	return rc;
}
