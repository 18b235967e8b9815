/*
 * cidr.c — parsing and matching IPv4/IPv6 network sets (see cidr.h).
 *
 * Owns the array in struct cidr_set (allocated here, freed by
 * cidr_set_free()); no global state, so any thread may parse or match, and
 * a parsed set may be matched from many threads at once.
 *
 * Invariants: every stored network has its host bits zero and a prefix
 * within its family's width. An IPv4-mapped network ("::ffff:10.0.0.0/104")
 * is stored as the IPv4 network it names (10.0.0.0/8), and a mapped client
 * address is matched as IPv4: dual-stack sockets report IPv4 peers that way,
 * and the admin's "10.0.0.0/8" must still apply to them. A native IPv6
 * network never matches an IPv4 client ("::/0" is all of IPv6, not more).
 *
 * Errors: -1 with a static message; the list parser also copies the bad
 * item for the caller's "file:line: bad network 'x'" message. It checks
 * syntax strictly (inet_pton's dotted quads, no leading zeros, digits only in
 * prefixes) because a silently misread ACL is a security hole.
 *
 * Standards: RFC 4632 3.1 (CIDR prefix notation), RFC 4291 2.3 (IPv6 prefix
 * notation) and 2.5.5.2 (IPv4-mapped addresses).
 */
#include "lib/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

/* "[" IPv6 text "]" "/" three digits: anything longer is not a network. */
#define CIDR_TEXT_MAX (INET6_ADDRSTRLEN + 6)
#define CIDR_PREFIX_DIGITS 3
#define CIDR_MAPPED_PREFIX 96	/* RFC 4291 2.5.5.2: ::ffff:0:0/96 */

static const unsigned char cidr_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static unsigned cidr_width(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* True when addr[0..16) and net agree on the first prefix bits. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	unsigned char mask = (unsigned char)(0xFF << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool host_bits_zero(const unsigned char *addr, unsigned width, unsigned prefix)
{
	for (unsigned bit = prefix; bit < width; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

static int parse_prefix(const char *p, unsigned max, unsigned *out, const char **err)
{
	size_t n = strlen(p);
	unsigned v = 0;

	if (n == 0 || n > CIDR_PREFIX_DIGITS) {
		*err = "bad prefix length";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9') {
			*err = "bad prefix length";
			return -1;
		}
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v > max) {
		*err = "prefix length out of range";
		return -1;
	}
	*out = v;
	return 0;
}

int cidr_parse(const char *text, struct cidr *out, const char **err)
{
	char addr[CIDR_TEXT_MAX + 1];
	size_t n = strlen(text);
	char *slash;
	bool bracket = false;

	if (n == 0) {
		*err = "empty network";
		return -1;
	}
	if (n > CIDR_TEXT_MAX) {
		*err = "network too long";
		return -1;
	}
	memcpy(addr, text, n + 1);
	char *a = addr;
	if (a[0] == '[') {
		char *close = strchr(a, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != '/')) {
			*err = "unbalanced bracket";
			return -1;
		}
		bracket = true;
		memmove(close, close + 1, strlen(close + 1) + 1);
		a++;
	}
	slash = strchr(a, '/');
	if (slash != NULL)
		*slash = '\0';

	memset(out, 0, sizeof(*out));
	if (strchr(a, ':') != NULL) {
		out->family = AF_INET6;
		if (inet_pton(AF_INET6, a, out->addr) != 1) {
			*err = "not an IPv6 address";
			return -1;
		}
	} else {
		out->family = AF_INET;
		if (bracket) {
			*err = "brackets are only for IPv6";
			return -1;
		}
		if (inet_pton(AF_INET, a, out->addr) != 1) {
			*err = "not an IPv4 address";
			return -1;
		}
	}
	unsigned width = cidr_width(out->family);
	out->prefix = width;
	if (slash != NULL && parse_prefix(slash + 1, width, &out->prefix, err) < 0)
		return -1;
	if (!host_bits_zero(out->addr, width, out->prefix)) {
		*err = "host bits set below the prefix";
		return -1;
	}
	if (out->family == AF_INET6 && out->prefix >= CIDR_MAPPED_PREFIX &&
	    memcmp(out->addr, cidr_mapped, sizeof(cidr_mapped)) == 0) {
		out->family = AF_INET;
		out->prefix -= CIDR_MAPPED_PREFIX;
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
	}
	return 0;
}

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copies the offending item, cut to fit, for the caller's error message. */
static void copy_bad(char *bad, size_t badsize, const char *item, size_t len)
{
	if (badsize == 0)
		return;
	if (len > badsize - 1)
		len = badsize - 1;
	memcpy(bad, item, len);
	bad[len] = '\0';
}

/* One list item p[0..len), not NUL-terminated, as cidr_parse() takes it. */
static int parse_item(const char *p, size_t len, struct cidr *net, const char **err)
{
	char item[CIDR_TEXT_MAX + 1];

	if (len > CIDR_TEXT_MAX) {
		*err = "network too long";
		return -1;
	}
	memcpy(item, p, len);
	item[len] = '\0';
	return cidr_parse(item, net, err);
}

int cidr_set_parse(const char *list, struct cidr_set *set, const char **err, char *bad, size_t badsize)
{
	size_t cap = 0;

	set->nets = NULL;
	set->n = 0;
	copy_bad(bad, badsize, "", 0);
	if (list == NULL)
		return 0;
	for (const char *p = list; *p != '\0';) {
		struct cidr net;
		size_t len = 0;

		if (is_sep(*p)) {
			p++;
			continue;
		}
		while (p[len] != '\0' && !is_sep(p[len]))
			len++;
		if (parse_item(p, len, &net, err) < 0) {
			copy_bad(bad, badsize, p, len);
			cidr_set_free(set);
			return -1;
		}
		if (set->n == cap) {
			cap = cap ? cap * 2 : 8;
			set->nets = xrealloc(set->nets, cap * sizeof(*set->nets));
		}
		set->nets[set->n++] = net;
		p += len;
	}
	return 0;
}

void cidr_set_free(struct cidr_set *set)
{
	free(set->nets);
	set->nets = NULL;
	set->n = 0;
}

bool cidr_set_match(const struct cidr_set *set, const struct sockaddr *sa)
{
	const unsigned char *addr;
	int family;

	if (set == NULL || sa == NULL)
		return false;
	switch (sa->sa_family) {
	case AF_INET:
		family = AF_INET;
		addr = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		break;
	case AF_INET6:
		family = AF_INET6;
		addr = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		if (memcmp(addr, cidr_mapped, sizeof(cidr_mapped)) == 0) {
			family = AF_INET;
			addr += 12;
		}
		break;
	default:
		return false;
	}
	for (size_t i = 0; i < set->n; i++)
		if (set->nets[i].family == family && prefix_equal(addr, set->nets[i].addr, set->nets[i].prefix))
			return true;
	return false;
}
