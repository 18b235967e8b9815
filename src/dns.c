/*
 * dns.c — MX and address lookups through c-ares, blocking (see dns.h).
 *
 * Owns the parsed resolver setting (struct dns) and, for the length of one
 * call, a c-ares channel built for that call and destroyed before it
 * returns. A channel per lookup rather than per thread: nothing outlives
 * the call (no clean-up at thread exit, nothing stale after a reload) and
 * "system" follows edits of /etc/resolv.conf. It costs a few allocations
 * and a socket, beside two network round trips. With "IP:port" every
 * option is given, so c-ares reads no file at all.
 * Ordering equal preferences is dns_order.c's; logging is the caller's.
 *
 * Invariants: a call ends by its deadline, c-ares' retries included
 * (queries still out then are cancelled and count as timeouts). Names are
 * queried as absolute names: ares_query, never ares_search. Host names in
 * results are lower-case without a trailing dot. At most DNS_MX_READ MX
 * records of an answer are read and the DNS_HOSTS_MAX best kept, each name
 * once.
 *
 * Errors: an enum dns_status, and a line for humans in out->error.
 *
 * RFC 5321 5.1 (MX order, implicit MX, unusable MX is an error), RFC 7505
 * (null MX), RFC 5321 4.1.3 (address literals), RFC 2181 10.3 (an MX
 * naming a CNAME: tolerated, the name is resolved).
 */
#include "dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/xalloc.h"

#define DNS_MX_READ 64		/* MX records read from one answer; more is abuse */
#define DNS_TRIES 3		/* c-ares sends per query and server, inside the deadline */
#define DNS_TRY_MS_MIN 100	/* the first wait for an answer, at least */
#define DNS_LITERAL_V6 "IPv6:"	/* RFC 5321 4.1.3 tag, case-insensitive */

struct dns {
	bool system;				/* /etc/resolv.conf */
	struct ares_addr_port_node server;	/* else this one name server */
};

/* One lookup in progress: its channel and its deadline. */
struct dns_call {
	ares_channel ch;
	long long deadline;	/* CLOCK_MONOTONIC, ms */
	int pending;		/* queries whose callback has not run */
};

/* The answer to the MX query. */
struct dns_mx {
	struct dns_call *call;
	int status;			/* ARES_*: of the query, else of parsing */
	bool nullmx;			/* the one record is "0 ." */
	size_t records;			/* MX records in the answer */
	struct dns_host *hosts;		/* the usable ones, DNS_MX_READ at most */
	size_t n;
};

/* The answer to one A or AAAA query. */
struct dns_answer {
	struct dns_call *call;
	int type;			/* ns_t_a or ns_t_aaaa */
	int status;
	int n;
	union {
		struct ares_addrttl v4[DNS_ADDRS_MAX];
		struct ares_addr6ttl v6[DNS_ADDRS_MAX];
	} a;
};

static enum dns_status dns_fail(struct dns_result *out, enum dns_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum dns_status dns_fail(struct dns_result *out, enum dns_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
	return st;
}

static long long dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t dns_rnd(void *unused_arg)
{
	return arc4random();
}

/* NXDOMAIN, no data and bad names are answers; everything else may pass. */
static bool dns_is_temp(int status)
{
	return status != ARES_ENOTFOUND && status != ARES_ENODATA && status != ARES_EBADNAME;
}

static const char *dns_status_text(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
		return "NXDOMAIN";
	case ARES_ENODATA:
		return "no data";
	case ARES_ESERVFAIL:
		return "SERVFAIL";
	case ARES_EREFUSED:
		return "REFUSED";
	case ARES_ETIMEOUT:
	case ARES_ECANCELLED:
		return "timeout";
	default:
		return ares_strerror(status);
	}
}

/* dst = src lower-cased without one trailing dot; -1 when that is empty,
 * starts with a dot or does not fit. */
static int dns_name_copy(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n > 0 && src[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX || src[0] == '.')
		return -1;
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? (char)(src[i] - 'A' + 'a') : src[i];
	dst[n] = '\0';
	return 0;
}

/* ---- addresses ---------------------------------------------------------- */

static void dns_addr_set(struct dns_addr *a, int family, const void *raw)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, raw, sizeof(sin->sin_addr));
		a->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, raw, sizeof(sin6->sin6_addr));
		a->len = sizeof(*sin6);
	}
}

/* A numeric address of family into *a; -1 when text is not one. */
static int dns_addr_parse(int family, const char *text, struct dns_addr *a)
{
	unsigned char raw[sizeof(struct in6_addr)];

	if (inet_pton(family, text, raw) != 1)
		return -1;
	dns_addr_set(a, family, raw);
	return 0;
}

/* The result "one host, one address, no query" for name. */
static enum dns_status dns_single(struct dns_result *out, const char *name, const struct dns_addr *a)
{
	struct dns_host *h = &out->hosts[0];

	snprintf(h->name, sizeof(h->name), "%s", name);
	h->addrs[0] = *a;
	h->naddrs = 1;
	out->nhosts = 1;
	return DNS_OK;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3). */
static enum dns_status dns_literal(const char *text, struct dns_result *out)
{
	size_t len = strlen(text);
	const size_t tag = strlen(DNS_LITERAL_V6);
	char ip[INET6_ADDRSTRLEN];
	int family = AF_INET;
	struct dns_addr a;

	if (len < 3 || text[len - 1] != ']')
		return dns_fail(out, DNS_NOTFOUND, "malformed address literal");
	const char *p = text + 1;
	len -= 2;
	if (len > tag && strncasecmp(p, DNS_LITERAL_V6, tag) == 0) {
		family = AF_INET6;
		p += tag;
		len -= tag;
	}
	if (len >= sizeof(ip))
		return dns_fail(out, DNS_NOTFOUND, "malformed address literal");
	memcpy(ip, p, len);
	ip[len] = '\0';
	if (dns_addr_parse(family, ip, &a) != 0)
		return dns_fail(out, DNS_NOTFOUND, "malformed address literal");
	return dns_single(out, text, &a);
}

/* ---- running a channel -------------------------------------------------- */

/* A channel for one call; ARES_SUCCESS or the c-ares error. */
static int dns_channel(const struct dns *d, long long budget_ms, ares_channel *ch)
{
	struct ares_options o;
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
	int r;

	memset(&o, 0, sizeof(o));
	/* Waits of t, 2t, 4t fill the budget when nothing answers. */
	o.timeout = (int)(budget_ms / 7 > DNS_TRY_MS_MIN ? budget_ms / 7 : DNS_TRY_MS_MIN);
	o.tries = DNS_TRIES;
	o.lookups = (char *)"b";
	if (!d->system) {
		/* With every option given c-ares reads no resolv.conf. */
		mask |= ARES_OPT_SERVERS | ARES_OPT_DOMAINS | ARES_OPT_NDOTS | ARES_OPT_SORTLIST |
			ARES_OPT_NOROTATE;
		o.ndots = 1;
	}
	r = ares_init_options(ch, &o, mask);
	if (r != ARES_SUCCESS)
		return r;
	if (d->system)
		return ARES_SUCCESS;
	struct ares_addr_port_node srv = d->server;	/* c-ares takes it non-const */
	r = ares_set_servers_ports(*ch, &srv);
	if (r != ARES_SUCCESS)
		ares_destroy(*ch);
	return r;
}

static enum dns_status dns_call_start(const struct dns *d, unsigned timeout, struct dns_call *c,
				      struct dns_result *out)
{
	long long budget = (long long)(timeout ? timeout : DNS_TIMEOUT_DEFAULT) * 1000;
	int r;

	c->deadline = dns_now_ms() + budget;
	c->pending = 0;
	r = dns_channel(d, budget, &c->ch);
	if (r != ARES_SUCCESS)
		return dns_fail(out, DNS_TEMPFAIL, "DNS resolver set-up failed: %s (temporary)",
				ares_strerror(r));
	return DNS_OK;
}

/* Drives the channel until every callback ran; at the deadline, cancels
 * what is left (those callbacks see ARES_ECANCELLED). */
static void dns_run(struct dns_call *c)
{
	while (c->pending > 0) {
		long long left = c->deadline - dns_now_ms();
		if (left <= 0) {
			ares_cancel(c->ch);
			return;
		}
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		/* Bits read unsigned: ARES_GETSOCK_WRITABLE(bits, 15) is 1 << 31 on an int. */
		unsigned bits = (unsigned)ares_getsock(c->ch, socks, ARES_GETSOCK_MAXNUM);
		nfds_t n = 0;
		for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = (bits & 1u << i ? POLLIN : 0) |
				   (bits & 1u << (i + ARES_GETSOCK_MAXNUM) ? POLLOUT : 0);
			if (ev != 0)
				pfd[n++] = (struct pollfd){ .fd = socks[i], .events = ev };
		}
		struct timeval max = { .tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000 }, tv;
		struct timeval *wait = ares_timeout(c->ch, &max, &tv);
		int ms = (int)(wait->tv_sec * 1000 + (wait->tv_usec + 999) / 1000);
		int r = poll(pfd, n, ms);
		if (r < 0 && errno != EINTR) {
			ares_cancel(c->ch);
			return;
		}
		if (r <= 0) {
			ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);	/* timeouts */
			continue;
		}
		for (nfds_t i = 0; i < n; i++) {
			short re = pfd[i].revents;
			if (re == 0)
				continue;
			ares_process_fd(c->ch, re & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
					re & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
		}
	}
}

/* ---- the address queries ------------------------------------------------ */

static void dns_on_addr(void *arg, int status, int unused_timeouts, unsigned char *abuf, int alen)
{
	struct dns_answer *ans = arg;

	ans->call->pending--;
	ans->n = DNS_ADDRS_MAX;
	if (status == ARES_SUCCESS)
		status = ans->type == ns_t_a ? ares_parse_a_reply(abuf, alen, NULL, ans->a.v4, &ans->n)
					     : ares_parse_aaaa_reply(abuf, alen, NULL, ans->a.v6, &ans->n);
	if (status != ARES_SUCCESS)
		ans->n = 0;
	ans->status = status;
}

/* Fills h->addrs: IPv6 first, but leaving IPv4 a share of the slots so a
 * sender without IPv6 still has something to try. */
static void dns_host_fill(struct dns_host *h, const struct dns_answer *v6, const struct dns_answer *v4)
{
	size_t n4 = (size_t)v4->n, n6 = (size_t)v6->n;
	size_t room6 = DNS_ADDRS_MAX - (n4 < DNS_ADDRS_MAX / 2 ? n4 : DNS_ADDRS_MAX / 2);

	for (size_t i = 0; i < n6 && i < room6; i++)
		dns_addr_set(&h->addrs[h->naddrs++], AF_INET6, &v6->a.v6[i].ip6addr);
	for (size_t i = 0; i < n4 && h->naddrs < DNS_ADDRS_MAX; i++)
		dns_addr_set(&h->addrs[h->naddrs++], AF_INET, &v4->a.v4[i].ipaddr);
}

/* The A/AAAA failure that speaks for a host: a temporary one first, then
 * NXDOMAIN, then the other. */
static const struct dns_answer *dns_host_failure(const struct dns_answer *ans)
{
	for (int i = 0; i < 2; i++)
		if (dns_is_temp(ans[i].status))
			return &ans[i];
	return ans[0].status == ARES_ENOTFOUND ? &ans[0] : &ans[1];
}

/*
 * Resolves out->hosts[0..nhosts) all at once and keeps those with an
 * address. mx_domain names the domain whose MX records these are (NULL for
 * a host lookup), for the error text.
 */
static enum dns_status dns_resolve_hosts(struct dns_call *c, const char *mx_domain,
					 struct dns_result *out)
{
	struct dns_answer ans[DNS_HOSTS_MAX][2];	/* AAAA, A */
	const struct dns_answer *temp = NULL, *none = NULL;
	char temp_host[DNS_NAME_MAX + 1], none_host[DNS_NAME_MAX + 1];
	size_t kept = 0;

	for (size_t i = 0; i < out->nhosts; i++) {
		for (int f = 0; f < 2; f++) {
			ans[i][f] = (struct dns_answer){ .call = c, .type = f == 0 ? ns_t_aaaa : ns_t_a };
			c->pending++;	/* before: the callback may run at once */
			ares_query(c->ch, out->hosts[i].name, ns_c_in, ans[i][f].type, dns_on_addr, &ans[i][f]);
		}
	}
	dns_run(c);

	for (size_t i = 0; i < out->nhosts; i++) {
		struct dns_host *h = &out->hosts[i];
		dns_host_fill(h, &ans[i][0], &ans[i][1]);
		if (h->naddrs > 0) {
			if (kept != i)
				out->hosts[kept] = *h;
			kept++;
			continue;
		}
		const struct dns_answer *why = dns_host_failure(ans[i]);
		if (temp == NULL && dns_is_temp(why->status)) {
			temp = why;
			snprintf(temp_host, sizeof(temp_host), "%s", h->name);
		} else if (none == NULL && !dns_is_temp(why->status)) {
			none = why;
			snprintf(none_host, sizeof(none_host), "%s", h->name);
		}
	}
	out->nhosts = kept;
	if (kept > 0)
		return DNS_OK;
	if (none == NULL && temp == NULL)	/* no host to look up: callers never ask that */
		return dns_fail(out, DNS_NOTFOUND, "no host to look up");
	if (temp != NULL)
		return dns_fail(out, DNS_TEMPFAIL, "DNS lookup of %s for %s failed: %s (temporary)",
				temp->type == ns_t_a ? "A" : "AAAA", temp_host, dns_status_text(temp->status));
	if (out->implicit)
		return dns_fail(out, DNS_NOTFOUND, "no MX or A/AAAA records for %s (%s)", none_host,
				dns_status_text(none->status));
	if (mx_domain != NULL)
		return dns_fail(out, DNS_NOTFOUND, "no A/AAAA records for any MX host of %s (%s: %s)",
				mx_domain, none_host, dns_status_text(none->status));
	return dns_fail(out, DNS_NOTFOUND, "no A/AAAA records for %s (%s)", none_host,
			dns_status_text(none->status));
}

/* ---- the MX query ------------------------------------------------------- */

static bool dns_is_root(const char *name)
{
	return name[0] == '\0' || strcmp(name, ".") == 0;
}

static void dns_mx_take(struct dns_mx *mx, const struct ares_mx_reply *list)
{
	for (const struct ares_mx_reply *r = list; r != NULL; r = r->next)
		mx->records++;
	/* RFC 7505 3: the null MX is the domain's only MX record. */
	if (mx->records == 1 && list->priority == 0 && dns_is_root(list->host)) {
		mx->nullmx = true;
		return;
	}
	mx->hosts = xcalloc(mx->records < DNS_MX_READ ? mx->records : DNS_MX_READ, sizeof(*mx->hosts));
	for (const struct ares_mx_reply *r = list; r != NULL && mx->n < DNS_MX_READ; r = r->next) {
		/* A "." beside other records breaks RFC 7505 3: skip it, keep the rest. */
		if (dns_is_root(r->host) || dns_name_copy(mx->hosts[mx->n].name, r->host) != 0)
			continue;
		mx->hosts[mx->n++].pref = r->priority;
	}
}

static void dns_on_mx(void *arg, int status, int unused_timeouts, unsigned char *abuf, int alen)
{
	struct dns_mx *mx = arg;
	struct ares_mx_reply *list = NULL;

	mx->call->pending--;
	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &list);
	/* An answer of CNAMEs only holds no MX either. */
	if (status == ARES_SUCCESS && list == NULL)
		status = ARES_ENODATA;
	if (status == ARES_SUCCESS)
		dns_mx_take(mx, list);
	ares_free_data(list);
	mx->status = status;
}

static bool dns_has_host(const struct dns_result *out, const char *name)
{
	for (size_t i = 0; i < out->nhosts; i++)
		if (strcmp(out->hosts[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Queries the MX records of name and fills out->hosts with the names to
 * resolve, in order (or the domain itself: implicit MX). DNS_OK means
 * "now resolve them"; anything else is final.
 */
static enum dns_status dns_mx_hosts(struct dns_call *c, const char *name, struct dns_result *out)
{
	struct dns_mx mx = { .call = c };
	enum dns_status st = DNS_OK;

	c->pending++;
	ares_query(c->ch, name, ns_c_in, ns_t_mx, dns_on_mx, &mx);
	dns_run(c);

	if (mx.status == ARES_ENODATA) {
		/* RFC 5321 5.1: no MX record, the domain is its own exchanger. */
		out->implicit = 1;
		snprintf(out->hosts[0].name, sizeof(out->hosts[0].name), "%s", name);
		out->nhosts = 1;
	} else if (mx.status != ARES_SUCCESS) {
		st = dns_is_temp(mx.status)
			     ? dns_fail(out, DNS_TEMPFAIL, "DNS lookup of MX for %s failed: %s (temporary)",
					name, dns_status_text(mx.status))
			     : dns_fail(out, DNS_NOTFOUND, "no MX or A/AAAA records for %s (%s)", name,
					dns_status_text(mx.status));
	} else if (mx.nullmx) {
		st = dns_fail(out, DNS_NULLMX, "%s does not accept mail (null MX, RFC 7505)", name);
	} else if (mx.n == 0) {
		st = dns_fail(out, DNS_NOTFOUND, "no usable MX record for %s", name);
	} else {
		dns_order_hosts(mx.hosts, mx.n, dns_rnd, NULL);
		for (size_t i = 0; i < mx.n && out->nhosts < DNS_HOSTS_MAX; i++)
			if (!dns_has_host(out, mx.hosts[i].name))
				out->hosts[out->nhosts++] = mx.hosts[i];
	}
	free(mx.hosts);
	return st;
}

/* ---- the API ------------------------------------------------------------ */

/* "IP:port" or "[IPv6]:port" into *srv; NULL, or what is wrong. */
static const char *dns_parse_server(const char *spec, struct ares_addr_port_node *srv)
{
	char ip[INET6_ADDRSTRLEN];
	const char *end, *port;
	int family;

	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (end == NULL || end[1] != ':')
			return "expected \"[IPv6]:port\"";
		spec++;
		port = end + 2;
		family = AF_INET6;
	} else {
		end = strchr(spec, ':');
		if (end == NULL)
			return "expected \"IP:port\"";
		port = end + 1;
		family = AF_INET;
	}
	if ((size_t)(end - spec) >= sizeof(ip))
		return "bad IP address";
	memcpy(ip, spec, (size_t)(end - spec));
	ip[end - spec] = '\0';
	if (inet_pton(family, ip, &srv->addr) != 1)
		return family == AF_INET6 ? "bad IPv6 address" : "bad IPv4 address";
	char *stop;
	errno = 0;
	unsigned long p = strtoul(port, &stop, 10);
	if (port[0] < '0' || port[0] > '9' || *stop != '\0' || errno != 0 || p == 0 || p > 65535)
		return "bad port";
	srv->family = family;
	srv->udp_port = srv->tcp_port = (int)p;
	srv->next = NULL;
	return NULL;
}

struct dns *dns_new(const char *spec, char *err, size_t errsize)
{
	struct dns *d = xcalloc(1, sizeof(*d));
	ares_channel ch;
	int r;

	if (strcmp(spec, "system") == 0) {
		d->system = true;
	} else {
		const char *why = dns_parse_server(spec, &d->server);
		if (why != NULL) {
			snprintf(err, errsize, "dns \"%s\": %s (or \"system\")", spec, why);
			free(d);
			return NULL;
		}
	}
	r = ares_library_init(ARES_LIB_INIT_ALL);
	if (r == ARES_SUCCESS) {
		r = dns_channel(d, DNS_TIMEOUT_DEFAULT * 1000, &ch);
		if (r == ARES_SUCCESS) {
			ares_destroy(ch);
			return d;
		}
		ares_library_cleanup();
	}
	snprintf(err, errsize, "dns \"%s\": c-ares: %s", spec, ares_strerror(r));
	free(d);
	return NULL;
}

void dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	ares_library_cleanup();
	free(d);
}

enum dns_status dns_lookup_mx(struct dns *d, const char *domain, unsigned timeout, struct dns_result *out)
{
	char name[DNS_NAME_MAX + 1];
	struct dns_call c;
	enum dns_status st;

	memset(out, 0, sizeof(*out));
	if (domain[0] == '[')
		return dns_literal(domain, out);
	if (dns_name_copy(name, domain) != 0)
		return dns_fail(out, DNS_NOTFOUND, "bad domain name");
	if (dns_call_start(d, timeout, &c, out) != DNS_OK)
		return DNS_TEMPFAIL;
	st = dns_mx_hosts(&c, name, out);
	if (st == DNS_OK)
		st = dns_resolve_hosts(&c, name, out);
	ares_destroy(c.ch);
	return st;
}

enum dns_status dns_lookup_host(struct dns *d, const char *host, unsigned timeout, struct dns_result *out)
{
	struct dns_call c;
	struct dns_addr a;
	enum dns_status st;

	memset(out, 0, sizeof(*out));
	if (host[0] == '[')
		return dns_literal(host, out);
	if (dns_addr_parse(AF_INET, host, &a) == 0 || dns_addr_parse(AF_INET6, host, &a) == 0)
		return dns_single(out, host, &a);
	if (dns_name_copy(out->hosts[0].name, host) != 0)
		return dns_fail(out, DNS_NOTFOUND, "bad host name");
	out->nhosts = 1;
	if (dns_call_start(d, timeout, &c, out) != DNS_OK)
		return DNS_TEMPFAIL;
	st = dns_resolve_hosts(&c, NULL, out);
	ares_destroy(c.ch);
	return st;
}
