/*
 * dns.h — where mail for a domain goes: MX and address lookups through c-ares (contract).
 *
 * RFC 5321 5.1 and RFC 7505. For a domain: the MX records, ordered by
 * preference with equal preferences shuffled; the A and AAAA addresses of
 * every exchanger; the domain itself as an implicit MX of preference 0
 * when it has no MX record; a null MX ("MX 0 .") is a permanent failure.
 * Every query of a lookup is in flight at once (the MX query, then the A
 * and AAAA queries of all exchangers together), so a lookup costs two
 * round trips whatever the number of exchangers.
 *
 * The resolver is `[global] dns`: "system" (/etc/resolv.conf) or
 * "IP:port" / "[IPv6]:port" (one name server; tests run dnsmasq on
 * loopback). Callers block: dns_* functions run on delivery threads. Any
 * number of threads may call them at once with the same struct dns (each
 * call builds a c-ares channel of its own and destroys it before
 * returning). Nothing is logged here: out->error says why, the caller logs.
 */
#ifndef VSMTPD_DNS_H
#define VSMTPD_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_NAME_MAX 255
#define DNS_HOSTS_MAX 16	/* exchangers kept per lookup (lowest preferences first) */
#define DNS_ADDRS_MAX 8		/* addresses kept per exchanger */
#define DNS_TIMEOUT_DEFAULT 10	/* seconds for a whole lookup */

struct dns;

enum dns_status {
	DNS_OK,		/* at least one host with at least one address */
	DNS_NOTFOUND,	/* permanent: NXDOMAIN, or no exchanger has any address */
	DNS_NULLMX,	/* permanent: the domain says it takes no mail (RFC 7505) */
	DNS_TEMPFAIL,	/* temporary: SERVFAIL, timeout, refused, network error */
};

struct dns_addr {
	struct sockaddr_storage sa;	/* port 0; the caller sets the port */
	socklen_t len;
};

struct dns_host {
	char name[DNS_NAME_MAX + 1];	/* exchanger name, lower-case, no trailing dot */
	unsigned pref;			/* MX preference (0 for an implicit MX or a host lookup) */
	struct dns_addr addrs[DNS_ADDRS_MAX];	/* IPv6 first when the host has both */
	size_t naddrs;
};

struct dns_result {
	struct dns_host hosts[DNS_HOSTS_MAX];	/* in the order to try */
	size_t nhosts;
	int implicit;			/* 1: no MX record, the domain's own addresses */
	char error[256];		/* DNS_NOTFOUND/NULLMX/TEMPFAIL: why, for logs and DSNs; "" on DNS_OK */
};

/*
 * Parses spec ("system", "IP:port", "[IPv6]:port") and checks that a
 * c-ares channel can be built with it. NULL with a message in err on
 * failure ("IP:port" takes an IPv4 address, "[IPv6]:port" an IPv6 one;
 * the port is required). dns_new() and dns_free() run on the main thread
 * while no lookup is under way (they pair ares_library_init/cleanup, which
 * are not thread-safe); dns_free(NULL) does nothing.
 */
struct dns *dns_new(const char *spec, char *err, size_t errsize);
void dns_free(struct dns *d);

/*
 * Resolves where mail for domain goes (see the top of this file). A domain
 * that is an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") gives
 * that one address without a query; a malformed literal is DNS_NOTFOUND.
 * The domain is queried as an absolute name (no search list); a trailing
 * dot and upper case are accepted. Hosts whose lookups failed are left
 * out; when no exchanger has an address and one of them failed
 * temporarily the result is DNS_TEMPFAIL, else DNS_NOTFOUND. A null MX
 * beside other MX records is skipped. An MX pointing at an address
 * literal or at a CNAME is tolerated (the name is resolved). The whole
 * call, every query and retry included, ends within timeout seconds
 * (0 = DNS_TIMEOUT_DEFAULT); a query still unanswered then is a
 * temporary failure. out is always filled; any thread.
 */
enum dns_status dns_lookup_mx(struct dns *d, const char *domain, unsigned timeout, struct dns_result *out);

/*
 * A and AAAA of one host name (no MX lookup; a smart host in brackets, an
 * LMTP server): one host of preference 0. An address literal as above, or
 * a bare numeric IPv4 or IPv6 address (config_nexthop gives those without
 * brackets), gives that address without a query. Same timeout, statuses
 * and threads as dns_lookup_mx().
 */
enum dns_status dns_lookup_host(struct dns *d, const char *host, unsigned timeout, struct dns_result *out);

/*
 * Pure: orders hosts[0..n) by pref, ascending, shuffling runs of equal
 * preference with rnd (a uniform random number source, called as
 * rnd(arg); a Fisher-Yates shuffle takes it modulo the number of hosts of
 * the run still to place, so a source returning 0 leaves each run in its
 * input order). Stable apart from the shuffle. Exposed for unit tests.
 */
void dns_order_hosts(struct dns_host *hosts, size_t n, uint32_t (*rnd)(void *arg), void *arg);

#endif
