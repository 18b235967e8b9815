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
 * RFC 8314 (implicit TLS), RFC 3207 (STARTTLS), RFC 6066 3 (SNI), RFC 8996
 * (no TLS 1.0/1.1), RFC 4954 (AUTH), RFC 6409 (message submission), RFC 3463
 * (4.3.1, insufficient system storage).
 */
#include "config_keys.h"

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "outbound_conn.h"
#include "tls.h"

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

static const struct config_choice level_choices[] = {
	{ "off", CONFIG_OFF },
	{ "optional", CONFIG_OPTIONAL },
	{ "required", CONFIG_REQUIRED },
	{ NULL, 0 },
};

/* CONFIG_T_STRING choices: only the names count. */
static const struct config_choice tls_protocol_choices[] = {
	{ "TLSv1.2", 0 },
	{ "TLSv1.3", 0 },
	{ NULL, 0 },
};

static const struct config_choice log_choices[] = {
	{ "stderr", LOG_DEST_STDERR },
	{ "syslog", LOG_DEST_SYSLOG },
	{ NULL, 0 },
};

#define GLOBAL(f) .scope = CONFIG_SCOPE_GLOBAL, .off = offsetof(struct config_global, f)
#define SERVER(f) .scope = CONFIG_SCOPE_SERVER, .off = offsetof(struct config_server, f)
#define COUNT(f) .off_n = offsetof(struct config_server, f)
#define GCOUNT(f) .off_n = offsetof(struct config_global, f)

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
	{ .name = "dns", GLOBAL(dns), .type = CONFIG_T_RESOLVER, .def = "system",
	  .doc = "DNS resolver for MX and address lookups: `system` (/etc/resolv.conf) or one "
		 "name server as `IP:port` / `[IPv6]:port`.",
	  .example = "127.0.0.1:5353" },
	{ .name = "delivery_threads", GLOBAL(delivery_threads), .type = CONFIG_T_UINT, .def = "32",
	  .min = 1, .max = 1024,
	  .doc = "Threads that deliver queued mail; each holds one delivery (Maildir, LMTP or "
		 "SMTP) at a time, so this is also the most outbound transactions at once.",
	  .example = "64" },
	{ .name = "max_outbound_connections", GLOBAL(max_outbound_connections), .type = CONFIG_T_UINT,
	  .def = "200", .min = 0, .max = 100000,
	  .doc = "Outbound SMTP and LMTP connections open at once, idle ones included; 0 = no limit.",
	  .example = "500" },
	{ .name = "outbound_idle_time", GLOBAL(outbound_idle_time), .type = CONFIG_T_DURATION,
	  .def = "5s", .min = 0, .max = 3600,
	  .doc = "How long an outbound connection is kept open after a message, for the next "
		 "message to the same destination; 0 = close at once.",
	  .example = "10s" },
	{ .name = "control", GLOBAL(control), .type = CONFIG_T_PATH, .def = "/run/vsmtpd/control.sock",
	  .doc = "Unix socket of the control API (`vsmtpctl`, docs/CONTROL.md), mode 0660. Whoever "
		 "can open it manages the daemon. Changed by a restart, not a reload.",
	  .example = "./run/control.sock" },
	{ .name = "metrics", GLOBAL(metrics), GCOUNT(nmetrics), .type = CONFIG_T_LISTEN, .def_doc = "(off)",
	  .doc = "Serve Prometheus metrics (counters per virtual server, sessions, queue size) over "
		 "plain HTTP at `http://IP:port/metrics`. Keep it on loopback or a management network.",
	  .example = "127.0.0.1:9325" },
	{ .name = "control_group", GLOBAL(control_group), .type = CONFIG_T_WORD,
	  .def_doc = "(the daemon's group)",
	  .doc = "Group that owns the control socket: its members may use `vsmtpctl`.",
	  .example = "mailadm" },
	{ .name = "min_free_space", GLOBAL(min_free_space), .type = CONFIG_T_SIZE, .def = "100M",
	  .min = 0, .max = K1 * K1 * K1 * K1,
	  .doc = "Free space the spool's file system must keep (blocks available to unprivileged "
		 "users). Below it, and for a MAIL whose SIZE would take the free space below it, "
		 "MAIL is answered 452 4.3.1 (RFC 3463) until space returns; 0 = no check. Applies "
		 "at reload.",
	  .example = "1G" },
	{ .name = "console", GLOBAL(console), GCOUNT(nconsole), .type = CONFIG_T_LISTEN,
	  .def_doc = "(off)",
	  .doc = "Serve the web console (docs/CONSOLE.md) at these `IP:port` addresses; it needs "
		 "`console_users`. HTTPS when `console_cert` is set. Keep it on loopback or a "
		 "management network. Changed by a restart, not a reload.",
	  .example = "127.0.0.1:8025" },
	{ .name = "console_users", GLOBAL(console_users), .type = CONFIG_T_PATH, .def_doc = "(none)",
	  .doc = "The console's accounts, one `name:crypt-hash:role` per line, mode 600; role is "
		 "`admin`, `readonly` or `operator=SERVER[,SERVER...]` (see docs/CONSOLE.md).",
	  .example = "/etc/vsmtpd/console.users" },
	{ .name = "console_cert", GLOBAL(console_cert), .type = CONFIG_T_PATH, .def_doc = "(none: HTTP)",
	  .doc = "Certificate chain (PEM, leaf first) for the console: set, it speaks HTTPS only "
		 "and its session cookies are `Secure`.",
	  .example = "/etc/vsmtpd/console.pem" },
	{ .name = "console_key", GLOBAL(console_key), .type = CONFIG_T_PATH, .def_doc = "(none)",
	  .doc = "Private key of `console_cert`, mode 600.",
	  .example = "/etc/vsmtpd/console.key" },

	/* [server NAME] */
	{ .name = "listen", .page = CONFIG_PAGE_GENERAL, SERVER(listen), COUNT(nlisten), .type = CONFIG_T_LISTEN,
	  .flags = CONFIG_KEY_REQUIRED, .def_doc = "(required)",
	  .doc = "Addresses to accept connections on: `IP:port` or `[IPv6]:port`, each "
		 "optionally followed by `tls` for implicit TLS (RFC 8314). Hosts are numeric; "
		 "no two listeners in the file may share an address and port.",
	  .example = "127.0.0.1:25, [::1]:25, 127.0.0.1:465 tls" },
	{ .name = "hostname", .page = CONFIG_PAGE_GENERAL, SERVER(hostname), .type = CONFIG_T_DOMAIN, .def_fn = hostname_default,
	  .def_doc = "this machine's name",
	  .doc = "Name the server gives in its greeting, its EHLO reply and Received: headers.",
	  .example = "mx.example.test" },
	{ .name = "local_domains", .page = CONFIG_PAGE_GENERAL, SERVER(local_domains), COUNT(nlocal_domains),
	  .type = CONFIG_T_DOMAINS, .def = "", .def_doc = "(none)",
	  .doc = "Domains whose mail is delivered here (case does not matter). Mail for any other "
		 "domain is relayed, and only for clients in `relay_networks` or, with "
		 "`relay_authenticated`, clients that logged in with AUTH.",
	  .example = "example.test, example.net" },
	{ .name = "mailbox", .page = CONFIG_PAGE_GENERAL, SERVER(mailbox), .type = CONFIG_T_MAILBOX,
	  .def = "maildir:/var/mail/vsmtpd/%d/%u",
	  .doc = "Where local mail is delivered: `maildir:PATH`, where `%d` is the domain, "
		 "`%u` the local part (lower-cased) and `%%` a percent sign; or an LMTP server "
		 "(RFC 2033): `lmtp:unix:PATH` or `lmtp:HOST[:PORT]` (port 24 unless given).",
	  .example = "maildir:./run/mail/%d/%u" },
	{ .name = "users", .page = CONFIG_PAGE_GENERAL, SERVER(users), .type = CONFIG_T_PATH, .def_doc = "(none)",
	  .doc = "File listing the known local recipients (see *Users file*); others are refused "
		 "with 550 5.1.1. Unset: every local part is accepted.",
	  .example = "./etc/users" },
	{ .name = "allow", .page = CONFIG_PAGE_ACCESS, SERVER(allow), .type = CONFIG_T_CIDRS, .def = "0.0.0.0/0, ::/0",
	  .doc = "Clients (IP networks) that may connect.",
	  .example = "192.0.2.0/24, 2001:db8::/32" },
	{ .name = "deny", .page = CONFIG_PAGE_ACCESS, SERVER(deny), .type = CONFIG_T_CIDRS, .def = "", .def_doc = "(none)",
	  .doc = "Clients that may not connect, even when `allow` matches them.",
	  .example = "192.0.2.66" },
	{ .name = "relay_networks", .page = CONFIG_PAGE_ACCESS, SERVER(relay_networks), .type = CONFIG_T_CIDRS, .def = "",
	  .def_doc = "(none)",
	  .doc = "Clients that may send mail to domains that are not local.",
	  .example = "127.0.0.1/32, 10.0.0.0/8" },
	{ .name = "relay_authenticated", .page = CONFIG_PAGE_ACCESS, SERVER(relay_authenticated), .type = CONFIG_T_BOOL,
	  .def = "yes",
	  .doc = "Clients that logged in with AUTH may send mail to domains that are not local, "
		 "wherever they connect from. Has no effect while `auth = off`.",
	  .example = "no" },
	{ .name = "max_connections", .page = CONFIG_PAGE_GENERAL, SERVER(max_connections), .type = CONFIG_T_UINT, .def = "1000",
	  .min = 0, .max = 1000000,
	  .doc = "Simultaneous connections to this server; 0 = no limit.",
	  .example = "500" },
	{ .name = "max_connections_per_ip", .page = CONFIG_PAGE_GENERAL, SERVER(max_connections_per_ip), .type = CONFIG_T_UINT,
	  .def = "20", .min = 0, .max = 1000000,
	  .doc = "Simultaneous connections from one client address; 0 = no limit.",
	  .example = "10" },
	{ .name = "max_connection_rate_per_ip", .page = CONFIG_PAGE_GENERAL, SERVER(max_connection_rate_per_ip),
	  .type = CONFIG_T_UINT, .def = "0", .min = 0, .max = 1000000,
	  .doc = "New connections one client address may open per minute; "
		 "further ones are refused until the minute has passed. 0 = no limit.",
	  .example = "60" },
	{ .name = "max_message_size", .page = CONFIG_PAGE_MESSAGES, SERVER(max_message_size), .type = CONFIG_T_SIZE, .def = "25M",
	  .min = 0, .max = K1 * K1 * K1 * K1,
	  .doc = "Largest message accepted, announced with SIZE (RFC 1870); 0 = no limit.",
	  .example = "50M" },
	{ .name = "max_recipients", .page = CONFIG_PAGE_MESSAGES, SERVER(max_recipients), .type = CONFIG_T_UINT, .def = "100",
	  .min = 0, .max = 100000,
	  .doc = "Recipients per message; 0 = no limit. RFC 5321 4.5.3.1.8 asks for at least 100.",
	  .example = "50" },
	{ .name = "max_messages_per_connection", .page = CONFIG_PAGE_MESSAGES, SERVER(max_messages_per_connection),
	  .type = CONFIG_T_UINT, .def = "100", .min = 0, .max = 1000000,
	  .doc = "Messages one connection may send; 0 = no limit.",
	  .example = "20" },
	{ .name = "timeout_command", .page = CONFIG_PAGE_GENERAL, SERVER(timeout_command), .type = CONFIG_T_DURATION, .def = "5m",
	  .min = 1, .max = DAY,
	  .doc = "How long a client may stay silent between commands (RFC 5321 4.5.3.2.7: 5m).",
	  .example = "2m" },
	{ .name = "timeout_data", .page = CONFIG_PAGE_GENERAL, SERVER(timeout_data), .type = CONFIG_T_DURATION, .def = "10m",
	  .min = 1, .max = DAY,
	  .doc = "How long a client may stay silent while sending message content.",
	  .example = "5m" },
	{ .name = "retry", .page = CONFIG_PAGE_DELIVERY, SERVER(retry), COUNT(nretry), .type = CONFIG_T_RETRY,
	  .def = "5m, 10m, 20m, 40m, 1h, 2h, 4h", .min = 1, .max = 30 * DAY,
	  .doc = "Waits between delivery attempts after a temporary failure; the last one repeats "
		 "until `expire`. At most 32 items.",
	  .example = "1m, 5m, 30m, 2h" },
	{ .name = "expire", .page = CONFIG_PAGE_DELIVERY, SERVER(expire), .type = CONFIG_T_DURATION, .def = "5d",
	  .min = 1, .max = 365 * DAY,
	  .doc = "How long a message may wait in the queue before it is returned to its sender "
		 "(RFC 5321 4.5.4.1: 4-5 days).",
	  .example = "3d" },
	{ .name = "starttls", .page = CONFIG_PAGE_ACCESS, SERVER(starttls), .type = CONFIG_T_ENUM, .def = "off",
	  .choices = level_choices,
	  .doc = "STARTTLS (RFC 3207): `off` = not offered; `optional` = offered; `required` = "
		 "clients must start TLS before MAIL (530 5.7.0 otherwise). Needs `tls_cert`. "
		 "Keep `optional` on a public MX: other servers may not speak TLS.",
	  .example = "optional" },
	{ .name = "tls_cert", .page = CONFIG_PAGE_ACCESS, SERVER(tls_cert), .type = CONFIG_T_PATH, .def_doc = "(none)",
	  .doc = "PEM file with the server certificate, then its intermediates. Needed by "
		 "`starttls` and by `tls` listeners. Read at start and on reload; an error names "
		 "this line.",
	  .example = "/etc/vsmtpd/mx.pem" },
	{ .name = "tls_key", .page = CONFIG_PAGE_ACCESS, SERVER(tls_key), .type = CONFIG_T_PATH,
	  .def_doc = "(the key is in `tls_cert`)",
	  .doc = "PEM file with the certificate's private key, unencrypted. Refused when group or "
		 "others may read or write it (`chmod 600`).",
	  .example = "/etc/vsmtpd/mx.key" },
	{ .name = "tls_sni", .page = CONFIG_PAGE_ACCESS, SERVER(tls_sni), COUNT(ntls_sni), .type = CONFIG_T_CERTS, .def = "",
	  .def_doc = "(none)",
	  .doc = "Extra certificates, each `CERT` (key inside) or `CERT:KEY`, offered to clients "
		 "that ask for one of their DNS names by SNI (RFC 6066); other clients get "
		 "`tls_cert`. At most 64; paths without spaces, commas or colons.",
	  .example = "/etc/vsmtpd/mx.example.net.pem:/etc/vsmtpd/mx.example.net.key" },
	{ .name = "tls_min_protocol", .page = CONFIG_PAGE_ACCESS, SERVER(tls_min_protocol), .type = CONFIG_T_STRING,
	  .def = TLS_DEFAULT_MIN_PROTOCOL, .choices = tls_protocol_choices,
	  .doc = "Oldest TLS version accepted (RFC 8996 retired 1.0 and 1.1).",
	  .example = "TLSv1.3" },
	{ .name = "tls_ciphers", .page = CONFIG_PAGE_ACCESS, SERVER(tls_ciphers), .type = CONFIG_T_STRING,
	  .def_doc = "forward-secret AEAD and CBC suites (see *TLS*)",
	  .doc = "OpenSSL cipher list for TLS 1.2.",
	  .example = "ECDHE+AESGCM:ECDHE+CHACHA20" },
	{ .name = "tls_ciphersuites", .page = CONFIG_PAGE_ACCESS, SERVER(tls_ciphersuites), .type = CONFIG_T_STRING,
	  .def_doc = "OpenSSL's default",
	  .doc = "OpenSSL suite list for TLS 1.3.",
	  .example = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256" },
	{ .name = "auth", .page = CONFIG_PAGE_ACCESS, SERVER(auth), .type = CONFIG_T_ENUM, .def = "off",
	  .choices = level_choices,
	  .doc = "SMTP AUTH (RFC 4954; PLAIN and LOGIN): `off` = not offered; `optional` = "
		 "offered; `required` = clients must log in before MAIL (530 5.7.0 otherwise). "
		 "Needs `auth_users`. AUTH is offered only inside TLS unless `auth_plaintext = yes`.",
	  .example = "required" },
	{ .name = "auth_users", .page = CONFIG_PAGE_ACCESS, SERVER(auth_users), .type = CONFIG_T_PATH, .def_doc = "(none)",
	  .doc = "File of `user:hash` lines (see *AUTH users file*). Refused when others may "
		 "read it (`chmod 600` or `640`).",
	  .example = "/etc/vsmtpd/passwd" },
	{ .name = "auth_plaintext", .page = CONFIG_PAGE_ACCESS, SERVER(auth_plaintext), .type = CONFIG_T_BOOL, .def = "no",
	  .doc = "Offer AUTH on connections without TLS, where passwords cross the network in "
		 "clear. Only for tests or a loopback listener.",
	  .example = "yes" },
	{ .name = "sender_login", .page = CONFIG_PAGE_ACCESS, SERVER(sender_login), .type = CONFIG_T_PATH, .def_doc = "(none)",
	  .doc = "File saying which AUTH user may use which envelope senders (see *Sender login "
		 "file*). Unset: no sender check.",
	  .example = "/etc/vsmtpd/sender_login" },
	{ .name = "outbound_port", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_port), .type = CONFIG_T_UINT, .def = "25",
	  .min = 1, .max = 65535,
	  .doc = "Port of the mail exchangers that relayed mail is delivered to.",
	  .example = "2525" },
	{ .name = "outbound_tls", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_tls), .type = CONFIG_T_ENUM, .def = "may",
	  .choices = config_tls_policy_choices,
	  .doc = "STARTTLS when delivering (RFC 3207): `none`; `may` = when offered, certificate "
		 "not checked; `encrypt` = required (else the mail waits); `verify` = required, and "
		 "the certificate must be valid for the exchanger's name.",
	  .example = "encrypt" },
	{ .name = "outbound_tls_policy", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_tls_policy), COUNT(noutbound_tls_policy),
	  .type = CONFIG_T_TLS_POLICIES, .def = "", .def_doc = "(none)",
	  .doc = "Per-domain exceptions to `outbound_tls`, as `domain:policy` items.",
	  .example = "example.net:verify, legacy.example:none" },
	{ .name = "outbound_tls_ca", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_tls_ca), .type = CONFIG_T_PATH,
	  .def_doc = "the system's CA store",
	  .doc = "PEM file of the certificate authorities `verify` trusts.",
	  .example = "/etc/ssl/certs/ca-certificates.crt" },
	{ .name = "outbound_concurrency", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_concurrency), .type = CONFIG_T_UINT,
	  .def = "20", .min = 0, .max = 10000,
	  .doc = "Connections open at once to one destination (domain, smart host or LMTP "
		 "server); 0 = no limit.",
	  .example = "10" },
	{ .name = "outbound_max_messages_per_connection", .page = CONFIG_PAGE_DELIVERY,
	  SERVER(outbound_max_messages_per_connection), .type = CONFIG_T_UINT, .def = "100",
	  .min = 0, .max = 1000000,
	  .doc = "Messages sent over one outbound connection before it is closed; 0 = no limit.",
	  .example = "50" },
	{ .name = "outbound_timeout_connect", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_timeout_connect),
	  .type = CONFIG_T_DURATION, .def = "30s", .min = 1, .max = 3600,
	  .doc = "How long to wait for a TCP connection and TLS handshake when delivering.",
	  .example = "10s" },
	{ .name = "outbound_timeout_command", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_timeout_command),
	  .type = CONFIG_T_DURATION, .def = "5m", .min = 1, .max = DAY,
	  .doc = "How long to wait for the greeting and each reply when delivering "
		 "(RFC 5321 4.5.3.2: 5m); the reply to DATA waits at most 2m of it.",
	  .example = "2m" },
	{ .name = "outbound_timeout_data", .page = CONFIG_PAGE_DELIVERY, SERVER(outbound_timeout_data), .type = CONFIG_T_DURATION,
	  .def = "10m", .min = 1, .max = DAY,
	  .doc = "How long to wait for the reply to the end of a message (RFC 5321 4.5.3.2.6: "
		 "10m); each block of content may take 3m of it.",
	  .example = "5m" },
	{ .name = "smart_host", .page = CONFIG_PAGE_DELIVERY, SERVER(smart_host), .type = CONFIG_T_NEXTHOP, .min = 25,
	  .def_doc = "(none: deliver to each domain's MX)",
	  .doc = "Send all relayed mail through this host: `host[:port]` (its MX records are "
		 "looked up), `[host]:port` or `[IP]:port` (no MX lookup). Port 25 unless given.",
	  .example = "[relay.example.net]:587" },
	{ .name = "smart_host_credentials", .page = CONFIG_PAGE_DELIVERY, SERVER(smart_host_credentials), .type = CONFIG_T_PATH,
	  .def_doc = "(none: no AUTH)",
	  .doc = "File holding one `user:password` line for AUTH PLAIN/LOGIN at the smart host. "
		 "Refused when others may read it. Sent only over TLS or to a loopback host.",
	  .example = "/etc/vsmtpd/smarthost.secret" },
	{ .name = "smart_host_tls", .page = CONFIG_PAGE_DELIVERY, SERVER(smart_host_tls), .type = CONFIG_T_ENUM, .def = "may",
	  .choices = config_tls_policy_choices,
	  .doc = "STARTTLS to the smart host: `none`, `may`, `encrypt` or `verify` (as "
		 "`outbound_tls`; `verify` checks the smart host's name).",
	  .example = "verify" },
	{ .name = "smart_host_direct_first", .page = CONFIG_PAGE_DELIVERY, SERVER(smart_host_direct_first), .type = CONFIG_T_BOOL,
	  .def = "no",
	  .doc = "Try each domain's MX first and use the smart host only when that fails "
		 "temporarily.",
	  .example = "yes" },
	{ .name = "delay_warning", .page = CONFIG_PAGE_DELIVERY, SERVER(delay_warning), .type = CONFIG_T_DURATION, .def = "4h",
	  .min = 0, .max = 365 * DAY,
	  .doc = "After this long in the queue, the sender is told the message is delayed "
		 "(RFC 3464 `delayed`); 0 = never.",
	  .example = "1h" },
	{ .name = "max_hop_count", .page = CONFIG_PAGE_DELIVERY, SERVER(max_hop_count), .type = CONFIG_T_UINT, .def = "30",
	  .min = 1, .max = 1000,
	  .doc = "A message with more `Received:` headers than this is looping: it fails with "
		 "5.4.6 (RFC 5321 6.3).",
	  .example = "50" },
	{ .name = "masquerade_domain", .page = CONFIG_PAGE_DELIVERY, SERVER(masquerade_domain), .type = CONFIG_T_DOMAIN,
	  .def_doc = "(none)",
	  .doc = "For relayed mail, a sender address in one of `local_domains` is rewritten to "
		 "this domain in MAIL FROM.",
	  .example = "example.com" },
	{ .name = "ndr_copy_to", .page = CONFIG_PAGE_MESSAGES, SERVER(ndr_copy_to), .type = CONFIG_T_ADDRESS, .def_doc = "(none)",
	  .doc = "Each failure report (bounce) this server sends also goes to this address, "
		 "e.g. the postmaster's.",
	  .example = "postmaster@example.test" },
	{ .name = "badmail", .page = CONFIG_PAGE_MESSAGES, SERVER(badmail), .type = CONFIG_T_PATH,
	  .def_doc = "(`badmail/` in the spool)",
	  .doc = "Directory where a message from the null sender `<>` (a report, or any other "
		 "that must not be bounced) is kept when it cannot be delivered: `ID.eml` (the "
		 "message) and `ID.txt` (why, per recipient).",
	  .example = "/var/spool/vsmtpd/badmail" },
};

const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

const char *config_page_name(enum config_page page)
{
	static const char *const names[] = {
		[CONFIG_PAGE_GENERAL] = "general",
		[CONFIG_PAGE_ACCESS] = "access",
		[CONFIG_PAGE_MESSAGES] = "messages",
		[CONFIG_PAGE_DELIVERY] = "delivery",
	};
	return page < sizeof(names) / sizeof(names[0]) ? names[page] : NULL;
}

const char *config_type_name(enum config_type type)
{
	switch (type) {
	case CONFIG_T_PATH:
		return "path";
	case CONFIG_T_WORD:
		return "name";
	case CONFIG_T_ENUM:
		return "choice";
	case CONFIG_T_UINT:
		return "number";
	case CONFIG_T_SIZE:
		return "size";
	case CONFIG_T_DURATION:
		return "duration";
	case CONFIG_T_LISTEN:
		return "addresses";
	case CONFIG_T_DOMAIN:
		return "domain";
	case CONFIG_T_ADDRESS:
		return "address";
	case CONFIG_T_DOMAINS:
		return "domains";
	case CONFIG_T_MAILBOX:
		return "mailbox";
	case CONFIG_T_CIDRS:
		return "networks";
	case CONFIG_T_RETRY:
		return "durations";
	case CONFIG_T_BOOL:
		return "yes/no";
	case CONFIG_T_STRING:
		return "text";
	case CONFIG_T_CERTS:
		return "certificates";
	case CONFIG_T_NEXTHOP:
		return "host";
	case CONFIG_T_RESOLVER:
		return "resolver";
	case CONFIG_T_TLS_POLICIES:
		return "policies";
	}
	return "text";
}

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
	"# Three virtual servers on loopback with different policies:\n"
	"#   mx  (127.0.0.1:2525) takes mail for example.test, only for the users in\n"
	"#       ./etc/users.example, relays for clients on 127.0.0.1, and offers\n"
	"#       STARTTLS;\n"
	"#   mx2 (127.0.0.2:2525) takes mail for any local part at example.org and\n"
	"#       relays for nobody;\n"
	"#   submission (127.0.0.1:2587 STARTTLS, 127.0.0.1:2465 implicit TLS) is for\n"
	"#       mail clients: TLS and AUTH are required (user1, password\n"
	"#       \"user1-demo-password\"), logged-in users may relay, and each may\n"
	"#       send only as the addresses ./etc/sender_login.example gives them.\n"
	"# `make run` creates ./run/tls/mx.pem and mx.key (self-signed) and makes\n"
	"# ./etc/passwd.example mode 600, as vsmtpd requires of password files.\n"
	"# Check a file with `vsmtpd -n -c FILE`. docs/CONFIG.md lists every key.\n"
	"# Comments start with # or ; at the start of a line, or with \" ;\" after a\n"
	"# value. A line that starts with a space continues the previous value.\n"
	"\n"
	"[global]\n"
	"spool   = ./run/spool        ; queued messages live here\n"
	"log     = stderr             ; stderr | syslog\n"
	"workers = auto               ; I/O threads: auto = one per CPU\n"
	"dns     = system             ; resolver for MX lookups; or IP:port\n"
	"control = ./run/control.sock ; vsmtpctl talks to the daemon here\n"
	"\n"
	"# The web console (docs/CONSOLE.md), off unless console is set. `make run`\n"
	"# turns these two lines on (in ./run/vsmtpd.conf) and makes an admin account\n"
	"# in ./run/console.users, printing its password: http://127.0.0.1:8025/\n"
	"# console       = 127.0.0.1:8025        ; keep it on loopback or a management net\n"
	"# console_users = ./run/console.users   ; name:crypt-hash:role lines, mode 600\n"
	"# console_cert  = ./run/tls/mx.pem      ; both set: HTTPS only, Secure cookies\n"
	"# console_key   = ./run/tls/mx.key\n"
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
	"starttls       = optional         ; off | optional | required\n"
	"tls_cert       = ./run/tls/mx.pem ; certificate chain, leaf first\n"
	"tls_key        = ./run/tls/mx.key ; private key, mode 600\n"
	"\n"
	"# Limits and timeouts, written out at their defaults.\n"
	"max_message_size            = 25M     ; K, M, G; 0 = no limit\n"
	"max_recipients              = 100     ; per message\n"
	"max_connections             = 1000    ; 0 = no limit\n"
	"max_connections_per_ip      = 20\n"
	"max_connection_rate_per_ip  = 0       ; new connections per minute; 0 = no limit\n"
	"max_messages_per_connection = 100\n"
	"timeout_command             = 5m      ; s, m, h, d; a bare number is seconds\n"
	"timeout_data                = 10m\n"
	"retry                       = 5m, 10m, 20m, 40m, 1h, 2h, 4h   ; the last repeats\n"
	"expire                      = 5d      ; then the message bounces\n"
	"\n"
	"# Delivery of relayed mail (to each domain's MX), at its defaults.\n"
	"outbound_port        = 25     ; port of the exchangers\n"
	"outbound_tls         = may    ; none | may | encrypt | verify\n"
	"outbound_concurrency = 20     ; connections per destination\n"
	"delay_warning        = 4h     ; tell the sender mail is late\n"
	"max_hop_count        = 30     ; more Received: lines = a loop: 5.4.6\n"
	"# smart_host         = [relay.example.net]:587   ; send everything there\n"
	"# masquerade_domain  = example.com  ; rewrite local senders' domain\n"
	"# ndr_copy_to        = postmaster@example.test   ; a copy of every bounce\n"
	"\n"
	"[server mx2]\n"
	"listen           = 127.0.0.2:2525\n"
	"hostname         = mx2.example.test\n"
	"local_domains    = example.org\n"
	"mailbox          = maildir:./run/mail/%d/%u\n"
	"# No users file: any local part at example.org is accepted.\n"
	"relay_networks   =                ; empty: relays for nobody\n"
	"max_message_size = 10M\n"
	"max_recipients   = 50\n"
	"\n"
	"[server submission]\n"
	"listen              = 127.0.0.1:2587, 127.0.0.1:2465 tls   ; STARTTLS; implicit TLS\n"
	"hostname            = submission.example.test\n"
	"local_domains       = example.test\n"
	"mailbox             = maildir:./run/mail/%d/%u\n"
	"users               = ./etc/users.example\n"
	"starttls            = required    ; no MAIL before STARTTLS on port 2587\n"
	"tls_cert            = ./run/tls/mx.pem\n"
	"tls_key             = ./run/tls/mx.key\n"
	"auth                = required    ; no MAIL before AUTH\n"
	"auth_users          = ./etc/passwd.example      ; user:crypt-hash lines, mode 600\n"
	"relay_networks      =             ; nobody relays by address...\n"
	"relay_authenticated = yes         ; ...but logged-in users do\n"
	"sender_login        = ./etc/sender_login.example ; who may send as whom\n";

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
	case CONFIG_T_STRING:
		if (k->choices == NULL)
			return;
		buf_append_str(out, " One of:");
		for (const struct config_choice *c = k->choices; c->name != NULL; c++)
			buf_printf(out, "%s `%s`", c == k->choices ? "" : ",", c->name);
		buf_append_str(out, ".");
		return;
	case CONFIG_T_BOOL:
		buf_append_str(out, " `yes` or `no`.");
		return;
	case CONFIG_T_PATH:
	case CONFIG_T_WORD:
	case CONFIG_T_LISTEN:
	case CONFIG_T_DOMAIN:
	case CONFIG_T_ADDRESS:
	case CONFIG_T_DOMAINS:
	case CONFIG_T_MAILBOX:
	case CONFIG_T_CIDRS:
	case CONFIG_T_CERTS:
	case CONFIG_T_NEXTHOP:
	case CONFIG_T_RESOLVER:
	case CONFIG_T_TLS_POLICIES:
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
		"## TLS\n"
		"\n"
		"A server with `tls_cert` gets a TLS context when the configuration is loaded\n"
		"(so `vsmtpd -n` checks the certificate, the key, their match and the key's\n"
		"mode); each problem is reported at the `tls_cert` line. It is used by\n"
		"`starttls` (RFC 3207) and by listeners with the `tls` flag (implicit TLS,\n"
		"RFC 8314). Either one without `tls_cert` is an error, and so are `tls_key`,\n"
		"`tls_sni`, `tls_min_protocol`, `tls_ciphers` and `tls_ciphersuites` without\n"
		"it. Keys must be unencrypted (nothing may stop start-up to ask for a\n"
		"pass-phrase) and readable only by their owner. A client that names a host\n"
		"by SNI gets the `tls_sni` certificate whose DNS names (subjectAltName, or the\n"
		"CN when there is none) match it, an exact name before a `*.` wildcard;\n"
		"others get `tls_cert`. Compression and renegotiation are off. The default\n"
		"TLS 1.2 cipher list keeps forward secrecy and drops RC4, 3DES, NULL, EXPORT\n"
		"and anonymous suites (RFC 7465, RFC 7525):\n"
		"\n"
		"    " TLS_DEFAULT_CIPHERS "\n"
		"\n"
		"## AUTH users file\n"
		"\n"
		"The file named by `auth_users` holds one account per line, `user:hash`, the\n"
		"hash being a crypt(3) string as `mkpasswd -m yescrypt` prints it (yescrypt,\n"
		"sha512-crypt `$6$` and bcrypt `$2b$` are accepted; DES and MD5 hashes are\n"
		"refused). Fields after a second `:` are ignored, so `/etc/shadow` lines work\n"
		"as they are. An empty hash, or one starting with `*` or `!`, is a disabled\n"
		"account. Blank lines and lines starting with `#` are ignored. User names are\n"
		"compared exactly (case matters). The file must not be readable by others:\n"
		"`chmod 600` (or 640 with a group). Problems are reported as\n"
		"`FILE:LINE: message`, never showing a hash.\n"
		"\n"
		"`auth = required` on a server where AUTH could never be offered (`starttls =\n"
		"off`, no `tls` listener and `auth_plaintext = no`) is an error.\n"
		"\n"
		"## Sender login file\n"
		"\n"
		"The file named by `sender_login` says which envelope senders (MAIL FROM) each\n"
		"AUTH user may use, one user per line:\n"
		"\n"
		"    # user: addresses and @domains\n"
		"    user1: user1@example.test, sales@example.test\n"
		"    admin: @example.test\n"
		"\n"
		"An address gives that one address; `@domain` gives every address of that\n"
		"domain (not of its subdomains). Items are separated by commas and/or spaces;\n"
		"a user may have several lines and an address several users. Addresses and\n"
		"domains are compared without regard to case, user names exactly. `#` starts\n"
		"a comment at the start of a line or after a space; blank lines are ignored.\n"
		"Problems are reported as `FILE:LINE: message`; a bad line grants nothing.\n"
		"\n"
		"## Two typical set-ups\n"
		"\n"
		"**An MX** receives mail for its domains from the whole Internet on port 25.\n"
		"Other servers may not speak TLS and do not log in, so TLS is offered, not\n"
		"required, and AUTH stays off:\n"
		"\n"
		"```ini\n"
		"[server mx]\n"
		"listen        = 0.0.0.0:25, [::]:25\n"
		"hostname      = mx.example.com\n"
		"local_domains = example.com\n"
		"users         = /etc/vsmtpd/users\n"
		"relay_networks =                    ; nobody relays through the MX\n"
		"starttls      = optional\n"
		"tls_cert      = /etc/vsmtpd/mx.pem\n"
		"tls_key       = /etc/vsmtpd/mx.key\n"
		"max_connection_rate_per_ip = 60\n"
		"```\n"
		"\n"
		"**A submission server** takes mail from your users' programs on ports 587\n"
		"(STARTTLS) and 465 (implicit TLS, RFC 8314), for any destination, once they\n"
		"have logged in (RFC 6409), and only with senders they own:\n"
		"\n"
		"```ini\n"
		"[server submission]\n"
		"listen              = 0.0.0.0:587, 0.0.0.0:465 tls\n"
		"hostname            = smtp.example.com\n"
		"local_domains       = example.com\n"
		"starttls            = required\n"
		"tls_cert            = /etc/vsmtpd/mx.pem\n"
		"tls_key             = /etc/vsmtpd/mx.key\n"
		"auth                = required\n"
		"auth_users          = /etc/vsmtpd/passwd\n"
		"relay_networks      =\n"
		"relay_authenticated = yes\n"
		"sender_login        = /etc/vsmtpd/sender_login\n"
		"```\n"
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
