/*
 * addrlist.h — PURE RFC 5322 address-list parsing for To:, Cc: and Bcc: (contract).
 *
 * `vsmtpd-sendmail -t` takes its recipients from the message's header, where
 * addresses come dressed as people write them: display names (quoted or
 * not, commas inside quotes), comments in parentheses, groups, folded
 * lines. This module strips the dressing and hands out each bare address.
 * Pure: libc and this header; no allocation.
 *
 * Grammar: RFC 5322 3.4 (address-list, mailbox, name-addr, angle-addr,
 * group, addr-spec), 3.2.2 (CFWS, nested comments, quoted-pairs), 3.2.4
 * (quoted-string), 4.4 (obsolete forms: empty list elements, a route
 * "<@a,@b:x@y>" which is dropped, blanks and comments around the dots of
 * an address, "." in display names), RFC 6532 3.2 (UTF-8 in atoms and
 * quoted strings, not checked for well-formedness here).
 * Beyond RFC 5322, as sendmail and Postfix accept on the command line and in
 * headers: an address without "@" (a bare local part such as "root") is
 * passed on as is; the caller qualifies it.
 */
#ifndef VSMTPD_ADDRLIST_H
#define VSMTPD_ADDRLIST_H

#include <stddef.h>

/* An address handed out is at most this many octets (more is an error). */
#define ADDRLIST_ADDR_MAX 1024

/*
 * Parses the header field value value[0..len) (what follows "To:", folds
 * included; value need not be NUL-terminated). For each address, in order,
 * calls fn(arg, addr) with addr NUL-terminated and borrowed for the call:
 * the addr-spec with comments and blanks removed, "local@domain" or a bare
 * "local"; a quoted local part keeps its quotes and quoted-pairs as written
 * (folds inside it removed); a domain literal keeps its brackets. Groups
 * give their members; an empty group ("undisclosed-recipients:;") gives
 * nothing. Nothing else is checked about the address (length limits,
 * domain syntax): that is the caller's (address_parse_path).
 *
 * All or nothing: the whole value is checked before fn is first called, so
 * on error fn was never called. Returns the number of addresses, or -1 on
 * a syntax error (an unclosed quote, comment, "<" or "[", a NUL, a phrase
 * with no address, "<>", a group inside a group, ";" outside a group, an
 * address over ADDRLIST_ADDR_MAX, ...). fn may be NULL (only checks and
 * counts). Thread-safe; no allocation; runs in time linear in len.
 */
int addrlist_parse(const char *value, size_t len, void (*fn)(void *arg, const char *addr), void *arg);

#endif
