/*
 * cidr.h — sets of IPv4/IPv6 networks, and matching an address against them.
 *
 * A set is parsed from the comma/space separated list an admin writes
 * ("127.0.0.1/32, 10.0.0.0/8, ::1, 2001:db8::/32"); a bare address is a
 * host network (/32 or /128). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
 * match IPv4 networks. A mapped network (::ffff:a.b.c.d/n, n >= 96) is
 * stored as the IPv4 network a.b.c.d/(n-96); native IPv6 networks never
 * match IPv4 or mapped clients. Mail-agnostic: part of src/lib/.
 */
#ifndef VSMTPD_LIB_CIDR_H
#define VSMTPD_LIB_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network address, host bits zero */
	unsigned prefix;	/* 0..32 or 0..128 */
};

struct cidr_set {
	struct cidr *nets;
	size_t n;
};

/*
 * Parses one network ("a.b.c.d[/n]" or "x:y::z[/n]", brackets allowed around
 * IPv6). Host bits set below the prefix are an error (as "10.1.2.3/8" is
 * likely a typo). Returns 0, or -1 with a static message in *err.
 */
int cidr_parse(const char *text, struct cidr *out, const char **err);

/*
 * Parses a list into *set (which it initialises). Returns 0, or -1 with
 * *err set and the offending item copied into bad[0..badsize). On error
 * the set is left empty.
 */
int cidr_set_parse(const char *list, struct cidr_set *set, const char **err, char *bad, size_t badsize);
void cidr_set_free(struct cidr_set *set);
bool cidr_set_match(const struct cidr_set *set, const struct sockaddr *sa);

#endif
