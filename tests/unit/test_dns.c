/*
 * test_dns.c — dns.c and dns_order.c: the pure ordering with a chosen
 * random source; resolver settings dns_new() takes and refuses; address
 * literals and numeric hosts (no query); then real lookups against a
 * dnsmasq started here on 127.0.0.1 at a free port (MX order, shuffling of
 * equal preferences, A+AAAA, implicit MX, null MX, NXDOMAIN, no data,
 * CNAME, the DNS_HOSTS_MAX cut, a temporary failure bounded by the
 * timeout, partial failure, several threads at once). Only loopback is
 * ever queried: never "system".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"

#define DNSMASQ_READY_SECONDS 10
#define DNSMASQ_PORT_ATTEMPTS 5
#define MANY_MX 20		/* records of many.test: more than DNS_HOSTS_MAX */
#define SHUFFLE_LOOKUPS 64
#define THREADS 4
#define THREAD_LOOKUPS 25

static pid_t dnsmasq_pid = -1;
static struct dns *live;	/* the dnsmasq resolver */

/* ---- helpers -------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A loopback UDP port nobody uses at this moment. */
static unsigned free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static struct dns *new_dns_at(unsigned port)
{
	char spec[32], err[256] = "";
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", port);
	struct dns *d = dns_new(spec, err, sizeof(err));
	assert_non_null(d);
	assert_string_equal(err, "");
	return d;
}

static void assert_addr(const struct dns_addr *a, const char *text)
{
	char got[INET6_ADDRSTRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
	const void *raw;
	if (sa->sa_family == AF_INET) {
		raw = &((const struct sockaddr_in *)sa)->sin_addr;
		assert_int_equal(a->len, sizeof(struct sockaddr_in));
		assert_int_equal(((const struct sockaddr_in *)sa)->sin_port, 0);
	} else {
		assert_int_equal(sa->sa_family, AF_INET6);
		raw = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		assert_int_equal(a->len, sizeof(struct sockaddr_in6));
		assert_int_equal(((const struct sockaddr_in6 *)sa)->sin6_port, 0);
	}
	assert_non_null(inet_ntop(sa->sa_family, raw, got, sizeof(got)));
	assert_string_equal(got, text);
}

/* A result of one host holding one address. */
static void assert_single(const struct dns_result *r, const char *name, const char *addr)
{
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, name);
	assert_int_equal(r->hosts[0].pref, 0);
	assert_int_equal(r->hosts[0].naddrs, 1);
	assert_addr(&r->hosts[0].addrs[0], addr);
	assert_string_equal(r->error, "");
}

/* ---- dns_order_hosts ------------------------------------------------------ */

struct seq {
	const uint32_t *v;	/* values returned in turn, then 0 */
	size_t n, calls;
};

static uint32_t seq_next(void *arg)
{
	struct seq *s = arg;
	uint32_t v = s->calls < s->n ? s->v[s->calls] : 0;
	s->calls++;
	return v;
}

static uint32_t xorshift(void *arg)
{
	uint32_t *x = arg;
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void set_hosts(struct dns_host *h, const char *const *names, const unsigned *prefs, size_t n)
{
	memset(h, 0, n * sizeof(*h));
	for (size_t i = 0; i < n; i++) {
		snprintf(h[i].name, sizeof(h[i].name), "%s", names[i]);
		h[i].pref = prefs[i];
	}
}

static void test_dns_order_sorts_by_preference_stably(void **state)
{
	static const char *const names[] = { "c20", "a10", "d30", "b10", "e20", "f5" };
	static const unsigned prefs[] = { 20, 10, 30, 10, 20, 5 };
	static const char *const want[] = { "f5", "a10", "b10", "c20", "e20", "d30" };
	struct dns_host h[6];
	struct seq zero = { 0 };

	set_hosts(h, names, prefs, 6);
	dns_order_hosts(h, 6, seq_next, &zero);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(h[i].name, want[i]);
	/* One call per host of a run of two, none for runs of one. */
	assert_int_equal(zero.calls, 2);
}

static void test_dns_order_shuffles_with_rnd(void **state)
{
	static const char *const names[] = { "x", "a", "b", "c" };
	static const unsigned prefs[] = { 1, 7, 7, 7 };
	static const uint32_t picks[] = { 2, 0 };	/* a<->c, then b stays: c b a */
	struct dns_host h[4];
	struct seq s = { picks, 2, 0 };

	set_hosts(h, names, prefs, 4);
	dns_order_hosts(h, 4, seq_next, &s);
	assert_string_equal(h[0].name, "x");
	assert_string_equal(h[1].name, "c");
	assert_string_equal(h[2].name, "b");
	assert_string_equal(h[3].name, "a");
	assert_int_equal(s.calls, 2);
}

static void test_dns_order_shuffle_reaches_every_permutation(void **state)
{
	static const char *const names[] = { "a", "b", "c" };
	static const unsigned prefs[] = { 5, 5, 5 };
	unsigned seen[3][3] = { { 0 } };	/* [position][host] */
	uint32_t x = 2463534242u;
	struct dns_host h[3];

	for (int round = 0; round < 600; round++) {
		set_hosts(h, names, prefs, 3);
		dns_order_hosts(h, 3, xorshift, &x);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(h[i].pref, 5);
			seen[i][h[i].name[0] - 'a']++;
		}
	}
	/* Each host lands in each place about 200 times. */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			assert_in_range(seen[i][j], 120, 280);
}

static void test_dns_order_empty_and_single(void **state)
{
	struct dns_host h[1];
	struct seq s = { 0 };
	static const char *const names[] = { "only" };
	static const unsigned prefs[] = { 3 };

	dns_order_hosts(NULL, 0, seq_next, &s);
	set_hosts(h, names, prefs, 1);
	dns_order_hosts(h, 1, seq_next, &s);
	assert_string_equal(h[0].name, "only");
	assert_int_equal(s.calls, 0);
}

/* ---- dns_new -------------------------------------------------------------- */

static void test_dns_new_accepts_resolver_specs(void **state)
{
	static const char *const good[] = { "system", "127.0.0.1:53", "[::1]:5353", "192.0.2.1:65535" };
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err[0] = '\0';
		struct dns *d = dns_new(good[i], err, sizeof(err));
		if (d == NULL)
			fail_msg("%s: %s", good[i], err);
		assert_string_equal(err, "");
		dns_free(d);
	}
	dns_free(NULL);
}

static void test_dns_new_refuses_bad_specs(void **state)
{
	static const char *const bad[] = {
		"", "System", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:53x", "127.0.0.1:+53", "127.0.0.1: 53", "256.0.0.1:53", "localhost:53",
		"::1:53", "[::1]", "[::1]53", "[::1]:", "[127.0.0.1]:53", "[::1:53", "[]:53",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		struct dns *d = dns_new(bad[i], err, sizeof(err));
		if (d != NULL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "dns \""));
		assert_non_null(strstr(err, bad[i]));
	}
}

/* ---- answers without a query ---------------------------------------------- */

/* A resolver where nothing listens: any query would fail. */
static struct dns *deaf_dns(void)
{
	return new_dns_at(free_port());
}

static void test_dns_address_literals_need_no_query(void **state)
{
	struct dns *d = deaf_dns();
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(d, "[127.0.0.5]", 1, &r), DNS_OK);
	assert_single(&r, "[127.0.0.5]", "127.0.0.5");
	assert_int_equal(r.implicit, 0);
	assert_int_equal(dns_lookup_mx(d, "[IPv6:::1]", 1, &r), DNS_OK);
	assert_single(&r, "[IPv6:::1]", "::1");
	assert_int_equal(dns_lookup_mx(d, "[ipv6:2001:DB8::1]", 1, &r), DNS_OK);
	assert_single(&r, "[ipv6:2001:DB8::1]", "2001:db8::1");
	assert_int_equal(dns_lookup_host(d, "[192.0.2.9]", 1, &r), DNS_OK);
	assert_single(&r, "[192.0.2.9]", "192.0.2.9");
	dns_free(d);
}

static void test_dns_bad_literals_are_notfound(void **state)
{
	static const char *const bad[] = {
		"[]", "[", "[1.2.3.4", "[300.1.1.1]", "[IPv6:zz]", "[IPv6:]", "[::1]",
		"[IPv6:1.2.3.4.5]", "[mx.example.com]",
	};
	struct dns *d = deaf_dns();
	struct dns_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dns_lookup_mx(d, bad[i], 1, &r) != DNS_NOTFOUND)
			fail_msg("\"%s\" was not refused", bad[i]);
		assert_string_equal(r.error, "malformed address literal");
		assert_int_equal(r.nhosts, 0);
		assert_int_equal(dns_lookup_host(d, bad[i], 1, &r), DNS_NOTFOUND);
	}
	dns_free(d);
}

static void test_dns_host_numeric_needs_no_query(void **state)
{
	struct dns *d = deaf_dns();
	struct dns_result r;

	assert_int_equal(dns_lookup_host(d, "192.0.2.7", 1, &r), DNS_OK);
	assert_single(&r, "192.0.2.7", "192.0.2.7");
	assert_int_equal(dns_lookup_host(d, "2001:db8::7", 1, &r), DNS_OK);
	assert_single(&r, "2001:db8::7", "2001:db8::7");
	dns_free(d);
}

static void test_dns_bad_names_are_notfound(void **state)
{
	static const char *const bad[] = { "", ".", ".example.com", "a..b" };
	struct dns *d = deaf_dns();
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(d, "", 1, &r), DNS_NOTFOUND);
	assert_string_equal(r.error, "bad domain name");
	assert_int_equal(dns_lookup_host(d, ".", 1, &r), DNS_NOTFOUND);
	assert_string_equal(r.error, "bad host name");
	/* c-ares refuses the empty label itself. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dns_lookup_mx(d, bad[i], 1, &r), DNS_NOTFOUND);
	dns_free(d);
}

static void test_dns_dead_server_is_tempfail(void **state)
{
	struct dns *d = deaf_dns();
	struct dns_result r;
	double t0 = now_s();

	assert_int_equal(dns_lookup_mx(d, "example.test", 2, &r), DNS_TEMPFAIL);
	assert_true(now_s() - t0 < 3.0);
	assert_int_equal(r.nhosts, 0);
	assert_non_null(strstr(r.error, "DNS lookup of MX for example.test failed: "));
	assert_non_null(strstr(r.error, "(temporary)"));
	assert_int_equal(dns_lookup_host(d, "mx.example.test", 2, &r), DNS_TEMPFAIL);
	dns_free(d);
}

/* ---- dnsmasq -------------------------------------------------------------- */

static const char *const zone[] = {
	"--mx-host=two.test,mx1.two.test,10",
	"--mx-host=two.test,mx2.two.test,20",
	"--host-record=mx1.two.test,127.0.0.2",
	"--host-record=mx2.two.test,127.0.0.3,::1",
	"--host-record=implicit.test,127.0.0.4",
	"--mx-host=eq.test,mx1.two.test,10",
	"--mx-host=eq.test,mx2.two.test,10",
	"--dns-rr=nullmx.test,15,000000",	/* preference 0, the root name */
	"--dns-rr=nullplus.test,15,000000",
	"--mx-host=nullplus.test,mx1.two.test,10",
	"--txt-record=txtonly.test,no address here",
	"--cname=alias.two.test,mx1.two.test",
	"--mx-host=cname.test,alias.two.test,10",
	"--mx-host=dangling.test,nothere.test,10",
	"--mx-host=dup.test,mx1.two.test,10",
	"--mx-host=dup.test,MX1.Two.Test,20",
	"--mx-host=partial.test,mx1.two.test,20",
	"--mx-host=partial.test,x.tempfail.test,10",
	"--server=/tempfail.test/127.0.0.1#9",	/* a dead upstream: no answer */
	"--local=/test/",			/* the rest of .test is NXDOMAIN */
};

#define ZONE_ARGS (sizeof(zone) / sizeof(zone[0]))
#define DNSMASQ_FIXED_ARGS 11

/* Execs dnsmasq on 127.0.0.1:port in the child; never returns. */
static void dnsmasq_exec(unsigned port)
{
	static char many[2 * MANY_MX][64];
	const char *argv[DNSMASQ_FIXED_ARGS + ZONE_ARGS + 2 * MANY_MX + 1];
	char port_arg[32], user_arg[64];
	const struct passwd *pw = getpwuid(geteuid());
	size_t n = 0;

	snprintf(port_arg, sizeof(port_arg), "--port=%u", port);
	snprintf(user_arg, sizeof(user_arg), "--user=%s", pw != NULL ? pw->pw_name : "root");
	const char *fixed[DNSMASQ_FIXED_ARGS] = {
		"dnsmasq", "--keep-in-foreground", port_arg, "--listen-address=127.0.0.1",
		"--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		user_arg, "--pid-file=", "--log-facility=/dev/null",
	};
	for (size_t i = 0; i < DNSMASQ_FIXED_ARGS; i++)
		argv[n++] = fixed[i];
	for (size_t i = 0; i < ZONE_ARGS; i++)
		argv[n++] = zone[i];
	/* many.test: MX h1..h20 with preferences 20..1, listed best last. */
	for (int i = 1; i <= MANY_MX; i++) {
		snprintf(many[2 * i - 2], sizeof(many[0]), "--mx-host=many.test,h%d.many.test,%d", i,
			 MANY_MX + 1 - i);
		snprintf(many[2 * i - 1], sizeof(many[0]), "--host-record=h%d.many.test,127.0.1.%d", i, i);
		argv[n++] = many[2 * i - 2];
		argv[n++] = many[2 * i - 1];
	}
	argv[n] = NULL;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	int null = open("/dev/null", O_RDWR);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	execvp("dnsmasq", (char *const *)argv);
	execv("/usr/sbin/dnsmasq", (char *const *)argv);
	_exit(127);
}

/* Waits until dnsmasq answers a query; -1 when it exited or stayed mute. */
static int dnsmasq_wait_ready(struct dns *d)
{
	const struct timespec pause = { 0, 20 * 1000 * 1000 };
	double until = now_s() + DNSMASQ_READY_SECONDS;
	struct dns_result r;
	int status;

	while (now_s() < until) {
		if (waitpid(dnsmasq_pid, &status, WNOHANG) == dnsmasq_pid) {
			dnsmasq_pid = -1;
			return -1;
		}
		if (dns_lookup_host(d, "mx1.two.test", 1, &r) == DNS_OK)
			return 0;
		nanosleep(&pause, NULL);	/* "connection refused" comes back at once */
	}
	return -1;
}

static int dnsmasq_start(void **state)
{
	for (int attempt = 0; attempt < DNSMASQ_PORT_ATTEMPTS; attempt++) {
		unsigned port = free_port();
		dnsmasq_pid = fork();
		if (dnsmasq_pid < 0)
			return -1;
		if (dnsmasq_pid == 0)
			dnsmasq_exec(port);
		live = new_dns_at(port);
		if (dnsmasq_wait_ready(live) == 0)
			return 0;
		dns_free(live);
		live = NULL;
		if (dnsmasq_pid > 0) {
			kill(dnsmasq_pid, SIGTERM);
			waitpid(dnsmasq_pid, NULL, 0);
			dnsmasq_pid = -1;
		}
	}
	fprintf(stderr, "test_dns: dnsmasq did not start (is dnsmasq-base installed?)\n");
	return -1;
}

static int dnsmasq_stop(void **state)
{
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
	dns_free(live);
	live = NULL;
	return 0;
}

static void test_dns_mx_ordered_by_preference(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "two.test", 5, &r), DNS_OK);
	assert_string_equal(r.error, "");
	assert_int_equal(r.implicit, 0);
	assert_int_equal(r.nhosts, 2);
	assert_string_equal(r.hosts[0].name, "mx1.two.test");
	assert_int_equal(r.hosts[0].pref, 10);
	assert_int_equal(r.hosts[0].naddrs, 1);
	assert_addr(&r.hosts[0].addrs[0], "127.0.0.2");
	assert_string_equal(r.hosts[1].name, "mx2.two.test");
	assert_int_equal(r.hosts[1].pref, 20);
	/* IPv6 first when a host has both. */
	assert_int_equal(r.hosts[1].naddrs, 2);
	assert_addr(&r.hosts[1].addrs[0], "::1");
	assert_addr(&r.hosts[1].addrs[1], "127.0.0.3");
}

static void test_dns_mx_name_is_case_and_dot_insensitive(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "TWO.Test.", 5, &r), DNS_OK);
	assert_int_equal(r.nhosts, 2);
	assert_string_equal(r.hosts[0].name, "mx1.two.test");
	assert_string_equal(r.hosts[1].name, "mx2.two.test");
}

static void test_dns_mx_equal_preferences_shuffled(void **state)
{
	struct dns_result r;
	int mx1_first = 0;

	for (int i = 0; i < SHUFFLE_LOOKUPS; i++) {
		assert_int_equal(dns_lookup_mx(live, "eq.test", 5, &r), DNS_OK);
		assert_int_equal(r.nhosts, 2);
		assert_int_equal(r.hosts[0].pref, 10);
		assert_int_equal(r.hosts[1].pref, 10);
		mx1_first += strcmp(r.hosts[0].name, "mx1.two.test") == 0;
	}
	/* Both orders show up (each missing: odds 2^-64). */
	assert_in_range(mx1_first, 1, SHUFFLE_LOOKUPS - 1);
}

static void test_dns_mx_keeps_the_best_hosts(void **state)
{
	struct dns_result r;
	char name[32];

	assert_int_equal(dns_lookup_mx(live, "many.test", 5, &r), DNS_OK);
	assert_int_equal(r.nhosts, DNS_HOSTS_MAX);
	for (size_t i = 0; i < DNS_HOSTS_MAX; i++) {
		snprintf(name, sizeof(name), "h%zu.many.test", MANY_MX - i);
		assert_string_equal(r.hosts[i].name, name);
		assert_int_equal(r.hosts[i].pref, i + 1);
		assert_int_equal(r.hosts[i].naddrs, 1);
	}
}

static void test_dns_mx_duplicate_exchanger_once(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "dup.test", 5, &r), DNS_OK);
	assert_int_equal(r.nhosts, 1);
	assert_string_equal(r.hosts[0].name, "mx1.two.test");
	assert_int_equal(r.hosts[0].pref, 10);
}

static void test_dns_host_a_and_aaaa(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_host(live, "MX2.two.test.", 5, &r), DNS_OK);
	assert_int_equal(r.implicit, 0);
	assert_int_equal(r.nhosts, 1);
	assert_string_equal(r.hosts[0].name, "mx2.two.test");
	assert_int_equal(r.hosts[0].pref, 0);
	assert_int_equal(r.hosts[0].naddrs, 2);
	assert_addr(&r.hosts[0].addrs[0], "::1");
	assert_addr(&r.hosts[0].addrs[1], "127.0.0.3");
}

static void test_dns_implicit_mx(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "implicit.test", 5, &r), DNS_OK);
	assert_int_equal(r.implicit, 1);
	assert_single(&r, "implicit.test", "127.0.0.4");
}

static void test_dns_implicit_mx_without_address_is_notfound(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "txtonly.test", 5, &r), DNS_NOTFOUND);
	assert_int_equal(r.nhosts, 0);
	assert_string_equal(r.error, "no MX or A/AAAA records for txtonly.test (no data)");
}

static void test_dns_null_mx(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "nullmx.test", 5, &r), DNS_NULLMX);
	assert_int_equal(r.nhosts, 0);
	assert_non_null(strstr(r.error, "nullmx.test does not accept mail"));
}

static void test_dns_null_mx_among_others_is_skipped(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "nullplus.test", 5, &r), DNS_OK);
	assert_int_equal(r.nhosts, 1);
	assert_string_equal(r.hosts[0].name, "mx1.two.test");
}

static void test_dns_nxdomain_is_notfound(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "nx.test", 5, &r), DNS_NOTFOUND);
	assert_int_equal(r.nhosts, 0);
	assert_string_equal(r.error, "no MX or A/AAAA records for nx.test (NXDOMAIN)");
	assert_int_equal(dns_lookup_host(live, "nx.test", 5, &r), DNS_NOTFOUND);
	assert_string_equal(r.error, "no A/AAAA records for nx.test (NXDOMAIN)");
}

static void test_dns_mx_without_addresses_is_notfound(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "dangling.test", 5, &r), DNS_NOTFOUND);
	assert_int_equal(r.nhosts, 0);
	assert_string_equal(r.error,
			    "no A/AAAA records for any MX host of dangling.test (nothere.test: NXDOMAIN)");
}

static void test_dns_mx_to_cname_is_resolved(void **state)
{
	struct dns_result r;

	assert_int_equal(dns_lookup_mx(live, "cname.test", 5, &r), DNS_OK);
	assert_int_equal(r.nhosts, 1);
	assert_string_equal(r.hosts[0].name, "alias.two.test");
	assert_int_equal(r.hosts[0].naddrs, 1);
	assert_addr(&r.hosts[0].addrs[0], "127.0.0.2");
}

static void test_dns_tempfail_is_bounded_by_timeout(void **state)
{
	struct dns_result r;
	double t0 = now_s();

	assert_int_equal(dns_lookup_mx(live, "tempfail.test", 1, &r), DNS_TEMPFAIL);
	double took = now_s() - t0;
	assert_true(took >= 0.9 && took < 1.8);
	assert_int_equal(r.nhosts, 0);
	assert_string_equal(r.error, "DNS lookup of MX for tempfail.test failed: timeout (temporary)");

	t0 = now_s();
	assert_int_equal(dns_lookup_host(live, "x.tempfail.test", 1, &r), DNS_TEMPFAIL);
	assert_true(now_s() - t0 < 1.8);
	assert_non_null(strstr(r.error, "for x.tempfail.test failed: timeout (temporary)"));
}

static void test_dns_partial_failure_keeps_resolved_hosts(void **state)
{
	struct dns_result r;
	double t0 = now_s();

	assert_int_equal(dns_lookup_mx(live, "partial.test", 1, &r), DNS_OK);
	assert_true(now_s() - t0 < 1.8);
	assert_string_equal(r.error, "");
	assert_int_equal(r.nhosts, 1);
	assert_string_equal(r.hosts[0].name, "mx1.two.test");
	assert_int_equal(r.hosts[0].pref, 20);
}

static void *lookup_thread(void *arg)
{
	int *ok = arg;
	struct dns_result r;

	for (int i = 0; i < THREAD_LOOKUPS; i++)
		if (dns_lookup_mx(live, "two.test", 5, &r) == DNS_OK && r.nhosts == 2 &&
		    strcmp(r.hosts[1].name, "mx2.two.test") == 0)
			(*ok)++;
	return NULL;
}

static void test_dns_threads_share_one_resolver(void **state)
{
	pthread_t t[THREADS];
	int ok[THREADS] = { 0 };

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, lookup_thread, &ok[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(ok[i], THREAD_LOOKUPS);
	}
}

int main(void)
{
	const struct CMUnitTest offline[] = {
		cmocka_unit_test(test_dns_order_sorts_by_preference_stably),
		cmocka_unit_test(test_dns_order_shuffles_with_rnd),
		cmocka_unit_test(test_dns_order_shuffle_reaches_every_permutation),
		cmocka_unit_test(test_dns_order_empty_and_single),
		cmocka_unit_test(test_dns_new_accepts_resolver_specs),
		cmocka_unit_test(test_dns_new_refuses_bad_specs),
		cmocka_unit_test(test_dns_address_literals_need_no_query),
		cmocka_unit_test(test_dns_bad_literals_are_notfound),
		cmocka_unit_test(test_dns_host_numeric_needs_no_query),
		cmocka_unit_test(test_dns_bad_names_are_notfound),
		cmocka_unit_test(test_dns_dead_server_is_tempfail),
	};
	const struct CMUnitTest dnsmasq[] = {
		cmocka_unit_test(test_dns_mx_ordered_by_preference),
		cmocka_unit_test(test_dns_mx_name_is_case_and_dot_insensitive),
		cmocka_unit_test(test_dns_mx_equal_preferences_shuffled),
		cmocka_unit_test(test_dns_mx_keeps_the_best_hosts),
		cmocka_unit_test(test_dns_mx_duplicate_exchanger_once),
		cmocka_unit_test(test_dns_host_a_and_aaaa),
		cmocka_unit_test(test_dns_implicit_mx),
		cmocka_unit_test(test_dns_implicit_mx_without_address_is_notfound),
		cmocka_unit_test(test_dns_null_mx),
		cmocka_unit_test(test_dns_null_mx_among_others_is_skipped),
		cmocka_unit_test(test_dns_nxdomain_is_notfound),
		cmocka_unit_test(test_dns_mx_without_addresses_is_notfound),
		cmocka_unit_test(test_dns_mx_to_cname_is_resolved),
		cmocka_unit_test(test_dns_tempfail_is_bounded_by_timeout),
		cmocka_unit_test(test_dns_partial_failure_keeps_resolved_hosts),
		cmocka_unit_test(test_dns_threads_share_one_resolver),
	};
	int failed = cmocka_run_group_tests_name("dns offline", offline, NULL, NULL);
	return failed + cmocka_run_group_tests_name("dns with dnsmasq", dnsmasq, dnsmasq_start, dnsmasq_stop);
}
