/*
 * address.h — PURE RFC 5321 path and mailbox parsing (contract).
 *
 * Turns the text after "MAIL FROM:" / "RCPT TO:" into a mailbox and the
 * position where the ESMTP parameters start. Pure: libc, src/lib/ and this
 * header only; no allocation (results live in struct mailbox).
 *
 * Grammar: RFC 5321 4.1.2 (Path, Mailbox, Local-part, Dot-string,
 * Quoted-string, Domain, address-literal), 4.1.3 (IPv4/IPv6 literals),
 * Appendix C (source routes "@a,@b:" are parsed and dropped), RFC 6531 3.3
 * (UTF-8 in local parts and domains only when ADDRESS_UTF8 is given).
 * Limits: RFC 5321 4.5.3.1.1 (local part 64), 4.5.3.1.2 (domain 255) and
 * 4.5.3.1.3 (path 256).
 */
#ifndef VSMTPD_ADDRESS_H
#define VSMTPD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define ADDRESS_LOCAL_MAX 64	/* RFC 5321 4.5.3.1.1 */
#define ADDRESS_DOMAIN_MAX 255	/* RFC 5321 4.5.3.1.2 */
#define ADDRESS_PATH_MAX 256	/* RFC 5321 4.5.3.1.3: "<" to ">" inclusive */
#define ADDRESS_LABEL_MAX 63	/* RFC 1035 2.3.4, one domain label */
#define ADDRESS_MAX (ADDRESS_LOCAL_MAX + 1 + ADDRESS_DOMAIN_MAX)

/*
 * A mailbox. Both fields empty means the null path "<>".
 * local:  the local part in canonical wire form: a quoted string whose
 *         content is a valid dot-string is stored unquoted ("a.b" -> a.b);
 *         otherwise quoted with only the necessary backslashes. Case kept.
 * domain: lower-cased (ASCII letters only); a trailing root dot is removed;
 *         an address literal keeps its brackets: IPv4 in plain decimal
 *         ("[127.000.0.1]" -> "[127.0.0.1]"), IPv6 as "IPv6:" plus its
 *         RFC 5952 text ("[ipv6:0:0::1]" -> "[IPv6:::1]"),
 *         a General-address-literal ("[tag:content]") exactly as sent.
 * Lengths: the canonical local part is at most ADDRESS_LOCAL_MAX octets and
 * the canonical domain at most ADDRESS_DOMAIN_MAX, so address_format() of a
 * parsed mailbox always fits in ADDRESS_MAX + 1 bytes.
 */
struct mailbox {
	char local[ADDRESS_LOCAL_MAX * 2 + 3];	/* room for quoting */
	char domain[ADDRESS_DOMAIN_MAX + 1];
};

/* flags for address_parse_path() */
#define ADDRESS_ALLOW_NULL 0x1	/* "<>" is accepted (reverse-path) */
#define ADDRESS_UTF8 0x2	/* SMTPUTF8 in force: UTF-8 allowed */
#define ADDRESS_NEED_DOMAIN 0x4	/* a bare local part ("<postmaster>") is refused */

enum address_error {
	ADDRESS_OK = 0,
	ADDRESS_ERR_SYNTAX,	/* not a path at all: 501 5.1.3 / 5.1.7 */
	ADDRESS_ERR_TOO_LONG,	/* over a limit: 501 5.1.3 (RFC 5321 4.5.3.1) */
	ADDRESS_ERR_UTF8,	/* UTF-8 without SMTPUTF8: 553 5.6.7 (RFC 6531 3.5) */
	ADDRESS_ERR_NULL,	/* "<>" where a mailbox is needed */
};

/*
 * Parses a Path ("<" [A-d-l ":"] Mailbox ">") at the start of s[0..len).
 * s need not be NUL-terminated; any octet (NUL included) is judged as data.
 * Spaces and tabs before "<" are skipped (common client habit, as Postfix
 * allows); nothing after ">" is looked at. On success fills *out, sets *end
 * to the index just past ">" and returns ADDRESS_OK. "<postmaster>" (no
 * domain; any case, unquoted, no source route) is accepted unless
 * ADDRESS_NEED_DOMAIN: it yields local "postmaster" as spelled and an empty
 * domain; any other bare local part is ADDRESS_ERR_SYNTAX.
 * Errors: ADDRESS_ERR_UTF8 for an octet >= 0x80 in a local part or domain
 * without ADDRESS_UTF8 (with it, malformed UTF-8 — overlong, surrogate,
 * above U+10FFFF, C1 control — is ADDRESS_ERR_SYNTAX); ADDRESS_ERR_TOO_LONG
 * for a well-formed path over a limit (canonical local part > 64, a label
 * > 63, canonical domain > 255, or the path as sent, source route included,
 * > 256 octets); ADDRESS_ERR_NULL for "<>" without ADDRESS_ALLOW_NULL.
 * On failure *out is cleared (both fields empty) and *end is not touched.
 * Thread-safe; no allocation.
 */
enum address_error address_parse_path(const char *s, size_t len, unsigned flags,
				      struct mailbox *out, size_t *end);

/* True for the null path "<>". */
bool address_is_null(const struct mailbox *m);

/* True when the local part is "postmaster" in any case (RFC 5321 4.5.1). */
bool address_is_postmaster(const struct mailbox *m);

/* True when the domain is an address literal ("[...]"). */
bool address_is_literal(const struct mailbox *m);

/*
 * Writes "local@domain" (or "" for the null path, "local" when the domain
 * is empty) into out[0..size). Returns the length, or -1 if it did not fit.
 */
int address_format(const struct mailbox *m, char *out, size_t size);

/*
 * True when a domain name (not a literal) is valid per RFC 5321 4.1.2
 * (labels of letters, digits and hyphens, 1..63 each, no leading or
 * trailing hyphen, at most 255 octets, no trailing root dot) or, with utf8,
 * also U-labels holding valid UTF-8 (checked for encoding, not for IDNA2008).
 */
bool address_domain_valid(const char *domain, size_t len, bool utf8);

/*
 * True when the local part can name a file safely: it is a dot-string of
 * atext without "/", does not start with "." and holds none of the routing
 * characters "%", "!" and "@" (so no "user%remote@local" trick can reach a
 * path or a relay). Non-ASCII letters are allowed when they are valid
 * UTF-8. At most ADDRESS_LOCAL_MAX octets. Used before expanding %u in a
 * mailbox template.
 */
bool address_local_is_safe(const char *local);

#endif
