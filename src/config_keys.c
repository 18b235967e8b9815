/*
 * config_keys.c — the one table of configuration keys, and its documentation.
 *
 * Owns config_keys[]: every key's name (a promise to users: never rename),
 * section, type, target field, default, bounds and one-line doc. Validation
 * (config_value.c), defaults and freeing (config.c) and docs/CONFIG.md
 * (config_write_reference(), printed by tools/config-doc) are all driven by
 * it, so adding a key is adding a row and a field in config.h. Also owns
 * config_example, the text of etc/vsmtpd.conf.example; unit tests fail when
 * either file drifts from what this file produces.
 *
 * Invariants: defaults are written as a user would write them and must
 * parse (a unit test loads a config that relies on every default); list
 * rows name their count field in off_n.
 *
 * Standards cited in the rows: RFC 5321 4.5.3.1.8 (at least 100 recipients),
 * 4.5.3.2 (timeouts), 4.5.4.1 (give-up time of 4-5 days), RFC 1870 (SIZE),
 * RFC 8314 (implicit TLS).
 */
#include "config_keys.h"

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

_Static_assert(sizeof(enum log_dest) == sizeof(int), "CONFIG_T_ENUM stores an int");

#define CONFIG_WORKERS_MAX 64
#define CONFIG_HOSTNAME_BUF 256
#define K1 1024ULL
#define DAY 86400ULL

static unsigned workers_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > CONFIG_WORKERS_MAX ? CONFIG_WORKERS_MAX : (unsigned)n;
}

static void hostname_default(struct buf *out)
{
	char name[CONFIG_HOSTNAME_BUF];
	if (gethostname(name, sizeof(name)) < 0) {
		buf_append_str(out, "localhost");
		return;
	}
	name[sizeof(name) - 1] = '\0';
	buf_append_str(out, name);
}

static const struct config_choice log_choices[] = {
	{ "stderr", LOG_DEST_STDERR },
	{ "syslog", LOG_DEST_SYSLOG },
	{ NULL, 0 },
};

#define GLOBAL(f) .scope = CONFIG_SCOPE_GLOBAL, .off = offsetof(struct config_global, f)
#define SERVER(f) .scope = CONFIG_SCOPE_SERVER, .off = offsetof(struct config_server, f)
#define COUNT(f) .off_n = offsetof(struct config_server, f)

const struct config_key config_keys[] = {
	/* [global] */
	{ .name = "spool", GLOBAL(spool), .type = CONFIG_T_PATH, .def = "/var/spool/vsmtpd",
	  .doc = "Directory that holds queued messages until they are delivered.",
	  .example = "./run/spool" },
	{ .name = "user", GLOBAL(user), .type = CONFIG_T_WORD, .def_doc = "(none)",
	  .doc = "User to switch to after binding the listeners, when started as root. "
		 "Unset: keep running as the user that started vsmtpd.",
	  .example = "vsmtpd" },
	{ .name = "workers", GLOBAL(workers), .type = CONFIG_T_UINT, .def = "auto",
	  .auto_fn = workers_auto, .min = 1, .max = CONFIG_WORKERS_MAX,
	  .doc = "Number of I/O threads; `auto` = one per CPU.",
	  .example = "4" },
	{ .name = "log", GLOBAL(log), .type = CONFIG_T_ENUM, .def = "stderr", .choices = log_choices,
	  .doc = "Where log lines go.",
	  .example = "syslog" },

	/* [server NAME] */
	{ .name = "listen", SERVER(listen), COUNT(nlisten), .type = CONFIG_T_LISTEN,
	  .flags = CONFIG_KEY_REQUIRED, .def_doc = "(required)",
	  .doc = "Addresses to accept connections on: `IP:port` or `[IPv6]:port`, each "
		 "optionally followed by `tls` for implicit TLS (RFC 8314). Hosts are numeric; "
		 "no two listeners in the file may share an address and port.",
	  .example = "127.0.0.1:25, [::1]:25, 127.0.0.1:465 tls" },
	{ .name = "hostname", SERVER(hostname), .type = CONFIG_T_DOMAIN, .def_fn = hostname_default,
	  .def_doc = "this machine's name",
	  .doc = "Name the server gives in its greeting, its EHLO reply and Received: headers.",
	  .example = "mx.example.test" },
	{ .name = "local_domains", SERVER(local_domains), COUNT(nlocal_domains),
	  .type = CONFIG_T_DOMAINS, .def = "", .def_doc = "(none)",
	  .doc = "Domains whose mail is delivered here (case does not matter). Mail for any other "
		 "domain is relayed, and only for clients in `relay_networks`.",
	  .example = "example.test, example.net" },
	{ .name = "mailbox", SERVER(mailbox), .type = CONFIG_T_MAILBOX,
	  .def = "maildir:/var/mail/vsmtpd/%d/%u",
	  .doc = "Where local mail is delivered: `maildir:PATH`, where `%d` is the domain, "
		 "`%u` the local part (lower-cased) and `%%` a percent sign.",
	  .example = "maildir:./run/mail/%d/%u" },
	{ .name = "users", SERVER(users), .type = CONFIG_T_PATH, .def_doc = "(none)",
	  .doc = "File listing the known local recipients (see *Users file*); others are refused "
		 "with 550 5.1.1. Unset: every local part is accepted.",
	  .example = "./etc/users" },
	{ .name = "allow", SERVER(allow), .type = CONFIG_T_CIDRS, .def = "0.0.0.0/0, ::/0",
	  .doc = "Clients (IP networks) that may connect.",
	  .example = "192.0.2.0/24, 2001:db8::/32" },
	{ .name = "deny", SERVER(deny), .type = CONFIG_T_CIDRS, .def = "", .def_doc = "(none)",
	  .doc = "Clients that may not connect, even when `allow` matches them.",
	  .example = "192.0.2.66" },
	{ .name = "relay_networks", SERVER(relay_networks), .type = CONFIG_T_CIDRS, .def = "",
	  .def_doc = "(none)",
	  .doc = "Clients that may send mail to domains that are not local.",
	  .example = "127.0.0.1/32, 10.0.0.0/8" },
	{ .name = "max_connections", SERVER(max_connections), .type = CONFIG_T_UINT, .def = "1000",
	  .min = 0, .max = 1000000,
	  .doc = "Simultaneous connections to this server; 0 = no limit.",
	  .example = "500" },
	{ .name = "max_connections_per_ip", SERVER(max_connections_per_ip), .type = CONFIG_T_UINT,
	  .def = "20", .min = 0, .max = 1000000,
	  .doc = "Simultaneous connections from one client address; 0 = no limit.",
	  .example = "10" },
	{ .name = "max_message_size", SERVER(max_message_size), .type = CONFIG_T_SIZE, .def = "25M",
	  .min = 0, .max = K1 * K1 * K1 * K1,
	  .doc = "Largest message accepted, announced with SIZE (RFC 1870); 0 = no limit.",
	  .example = "50M" },
	{ .name = "max_recipients", SERVER(max_recipients), .type = CONFIG_T_UINT, .def = "100",
	  .min = 0, .max = 100000,
	  .doc = "Recipients per message; 0 = no limit. RFC 5321 4.5.3.1.8 asks for at least 100.",
	  .example = "50" },
	{ .name = "max_messages_per_connection", SERVER(max_messages_per_connection),
	  .type = CONFIG_T_UINT, .def = "100", .min = 0, .max = 1000000,
	  .doc = "Messages one connection may send; 0 = no limit.",
	  .example = "20" },
	{ .name = "timeout_command", SERVER(timeout_command), .type = CONFIG_T_DURATION, .def = "5m",
	  .min = 1, .max = DAY,
	  .doc = "How long a client may stay silent between commands (RFC 5321 4.5.3.2.7: 5m).",
	  .example = "2m" },
	{ .name = "timeout_data", SERVER(timeout_data), .type = CONFIG_T_DURATION, .def = "10m",
	  .min = 1, .max = DAY,
	  .doc = "How long a client may stay silent while sending message content.",
	  .example = "5m" },
	{ .name = "retry", SERVER(retry), COUNT(nretry), .type = CONFIG_T_RETRY,
	  .def = "5m, 10m, 20m, 40m, 1h, 2h, 4h", .min = 1, .max = 30 * DAY,
	  .doc = "Waits between delivery attempts after a temporary failure; the last one repeats "
		 "until `expire`. At most 32 items.",
	  .example = "1m, 5m, 30m, 2h" },
	{ .name = "expire", SERVER(expire), .type = CONFIG_T_DURATION, .def = "5d",
	  .min = 1, .max = 365 * DAY,
	  .doc = "How long a message may wait in the queue before it is returned to its sender "
		 "(RFC 5321 4.5.4.1: 4-5 days).",
	  .example = "3d" },
};

const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

const struct config_key *config_key_find(const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

const char config_example[] =
	"# vsmtpd.conf.example -- the configuration `make run` starts with.\n"
	"#\n"
	"# Two virtual servers on loopback with different policies:\n"
	"#   mx  (127.0.0.1:2525) takes mail for example.test, only for the users in\n"
	"#       ./etc/users.example, and relays for clients on 127.0.0.1;\n"
	"#   mx2 (127.0.0.2:2525) takes mail for any local part at example.org and\n"
	"#       relays for nobody.\n"
	"# Check a file with `vsmtpd -n -c FILE`. docs/CONFIG.md lists every key.\n"
	"# Comments start with # or ; at the start of a line, or with \" ;\" after a\n"
	"# value. A line that starts with a space continues the previous value.\n"
	"\n"
	"[global]\n"
	"spool   = ./run/spool        ; queued messages live here\n"
	"log     = stderr             ; stderr | syslog\n"
	"workers = auto               ; I/O threads: auto = one per CPU\n"
	"\n"
	"[server mx]\n"
	"listen         = 127.0.0.1:2525   ; IP:port list; add \"tls\" after one for implicit TLS\n"
	"hostname       = mx.example.test  ; used in the greeting and Received: headers\n"
	"local_domains  = example.test     ; mail for these domains is delivered here\n"
	"mailbox        = maildir:./run/mail/%d/%u   ; %d = domain, %u = local part\n"
	"users          = ./etc/users.example        ; unknown local parts get 550 5.1.1\n"
	"allow          = 0.0.0.0/0, ::/0  ; who may connect\n"
	"deny           =                  ; who may not (nobody here)\n"
	"relay_networks = 127.0.0.1/32     ; who may send to other domains\n"
	"\n"
	"# Limits and timeouts, written out at their defaults.\n"
	"max_message_size            = 25M     ; K, M, G; 0 = no limit\n"
	"max_recipients              = 100     ; per message\n"
	"max_connections             = 1000    ; 0 = no limit\n"
	"max_connections_per_ip      = 20\n"
	"max_messages_per_connection = 100\n"
	"timeout_command             = 5m      ; s, m, h, d; a bare number is seconds\n"
	"timeout_data                = 10m\n"
	"retry                       = 5m, 10m, 20m, 40m, 1h, 2h, 4h   ; the last repeats\n"
	"expire                      = 5d      ; then the message bounces\n"
	"\n"
	"[server mx2]\n"
	"listen           = 127.0.0.2:2525\n"
	"hostname         = mx2.example.test\n"
	"local_domains    = example.org\n"
	"mailbox          = maildir:./run/mail/%d/%u\n"
	"# No users file: any local part at example.org is accepted.\n"
	"relay_networks   =                ; empty: relays for nobody\n"
	"max_message_size = 10M\n"
	"max_recipients   = 50\n";

/* Markdown table cells cannot hold a raw '|'. */
static void cell(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			buf_append_char(out, '\\');
		buf_append_char(out, *s);
	}
}

static void write_range(struct buf *out, const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_T_UINT:
		buf_printf(out, " Range: %llu to %llu.", k->min, k->max);
		return;
	case CONFIG_T_SIZE:
		buf_append_str(out, " Range: ");
		config_format_size(out, k->min);
		buf_append_str(out, " to ");
		config_format_size(out, k->max);
		buf_append_str(out, ".");
		return;
	case CONFIG_T_DURATION:
	case CONFIG_T_RETRY:
		buf_append_str(out, k->type == CONFIG_T_RETRY ? " Each from " : " Range: ");
		config_format_duration(out, k->min);
		buf_append_str(out, " to ");
		config_format_duration(out, k->max);
		buf_append_str(out, ".");
		return;
	case CONFIG_T_ENUM:
		buf_append_str(out, " One of:");
		for (const struct config_choice *c = k->choices; c->name != NULL; c++)
			buf_printf(out, "%s `%s`", c == k->choices ? "" : ",", c->name);
		buf_append_str(out, ".");
		return;
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_LISTEN:
	case CONFIG_T_DOMAIN:
	case CONFIG_T_DOMAINS:
	case CONFIG_T_MAILBOX:
	case CONFIG_T_CIDRS:
		return;
	}
}

static void write_table(struct buf *out, enum config_scope scope)
{
	buf_append_str(out, "| key | default | meaning |\n|---|---|---|\n");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope != scope)
			continue;
		buf_printf(out, "| `%s` | ", k->name);
		if (k->def_doc != NULL)
			cell(out, k->def_doc);
		else {
			buf_append_char(out, '`');
			cell(out, k->def);
			buf_append_char(out, '`');
		}
		buf_append_str(out, " | ");
		cell(out, k->doc);
		write_range(out, k);
		buf_append_str(out, " Example: `");
		cell(out, k->example);
		buf_append_str(out, "` |\n");
	}
}

void config_write_reference(struct buf *out)
{
	buf_append_str(out,
		"# vsmtpd configuration reference\n"
		"\n"
		"<!-- Generated by build/config-doc from src/config_keys.c; do not edit by hand.\n"
		"     Regenerate with: build/config-doc > docs/CONFIG.md -->\n"
		"\n"
		"vsmtpd reads one INI file (`vsmtpd -c FILE`; `vsmtpd -n -c FILE` only checks it).\n"
		"Every problem in the file is reported, each as `FILE:LINE: message`, and nothing\n"
		"starts until the file is valid.\n"
		"\n"
		"## Format\n"
		"\n"
		"- Sections: `[global]` at most once, and one `[server NAME]` per virtual server.\n"
		"  NAME is one word of letters, digits, `.`, `_` and `-`, unique in the file.\n"
		"- Settings are `key = value` lines, each key at most once per section. Keys are\n"
		"  lower-case and must start at the beginning of the line.\n"
		"- A line that starts with a space or a tab continues the value of the key above\n"
		"  it, as in Postfix's main.cf; this splits long lists.\n"
		"- Comments: a line whose first character (after spaces) is `#` or `;`, and,\n"
		"  after a value, `;` preceded by a space. `#` after a value is not a comment.\n"
		"- A line is at most 199 characters; use continuation lines for longer values.\n"
		"- Lists (addresses, domains, networks, retry intervals) are separated by commas\n"
		"  and/or spaces.\n"
		"- Sizes are bytes, or a number with `K`, `M` or `G` (1024, 1024², 1024³):\n"
		"  `512K`, `25M`.\n"
		"- Durations are seconds, or a number with `s`, `m`, `h` or `d`: `30s`, `5m`,\n"
		"  `2h`, `5d`.\n"
		"- Numbers are plain decimal digits; a value out of range is an error, never\n"
		"  clamped.\n"
		"- Relative paths are relative to the directory vsmtpd is started in.\n"
		"\n"
		"## [global]\n"
		"\n"
		"Settings of the whole daemon. The section may be left out: every key has a default.\n"
		"\n");
	write_table(out, CONFIG_SCOPE_GLOBAL);
	buf_append_str(out,
		"\n"
		"## [server NAME]\n"
		"\n"
		"A virtual SMTP server: its listeners and its own policy. Define as many as\n"
		"needed (at least one); they may share local domains but not listeners.\n"
		"A `0.0.0.0:PORT` listener takes every IPv4 address on that port, so it\n"
		"cannot be combined with another IPv4 listener on the same port (likewise\n"
		"`[::]:PORT` for IPv6).\n"
		"\n");
	write_table(out, CONFIG_SCOPE_SERVER);
	buf_append_str(out,
		"\n"
		"## Users file\n"
		"\n"
		"The file named by `users` lists the local recipients a server accepts, one per\n"
		"line: a local part (`user1`: that user in every local domain of the server) or\n"
		"a full address (`user1@example.test`: only there). Case does not matter;\n"
		"spaces around an entry are ignored; `#` starts a comment at the start of a\n"
		"line or after a space; blank lines are ignored. `postmaster` is always\n"
		"accepted (RFC 5321 4.5.1), listed or not. The file is read when the\n"
		"configuration is loaded; errors are reported as `USERSFILE:LINE: message`.\n"
		"\n"
		"## Example\n"
		"\n"
		"This is `etc/vsmtpd.conf.example`, the file `make run` uses:\n"
		"\n"
		"```ini\n");
	buf_append_str(out, config_example);
	buf_append_str(out, "```\n");
}

void config_write_example(struct buf *out)
{
	buf_append_str(out, config_example);
}
