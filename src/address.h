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
 * Limits: RFC 5321 4.5.3.1.1 (local part 64) and 4.5.3.1.2 (domain 255).
 */
#ifndef VSMTPD_ADDRESS_H
#define VSMTPD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define ADDRESS_LOCAL_MAX 64	/* RFC 5321 4.5.3.1.1 */
#define ADDRESS_DOMAIN_MAX 255	/* RFC 5321 4.5.3.1.2 */
#define ADDRESS_MAX (ADDRESS_LOCAL_MAX + 1 + ADDRESS_DOMAIN_MAX)

/*
 * A mailbox. Both fields empty means the null path "<>".
 * local:  the local part in canonical wire form: a quoted string whose
 *         content is a valid dot-string is stored unquoted ("a.b" -> a.b);
 *         otherwise quoted with only the necessary backslashes. Case kept.
 * domain: lower-cased (ASCII letters only); a trailing root dot is removed;
 *         an address literal keeps its brackets ("[127.0.0.1]",
 *         "[IPv6:::1]" with the IPv6 tag as "IPv6:").
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
 * Spaces before "<" are skipped (common client habit, as Postfix allows).
 * On success fills *out, sets *end to the index just past ">" and returns
 * ADDRESS_OK. "<postmaster>" (no domain) is accepted unless
 * ADDRESS_NEED_DOMAIN: it yields local "postmaster" and an empty domain.
 * On failure returns the error and leaves *out unspecified.
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
 * trailing hyphen) or, with utf8, also U-labels of UTF-8 bytes.
 */
bool address_domain_valid(const char *domain, size_t len, bool utf8);

/*
 * True when the local part can name a file safely: it is a dot-string of
 * atext without "/", does not start with "." and holds none of the routing
 * characters "%", "!" and "@" (so no "user%remote@local" trick can reach a
 * path or a relay). Used before expanding %u in a mailbox template.
 */
bool address_local_is_safe(const char *local);

#endif
