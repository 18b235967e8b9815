/*
 * dns_order.c — the order in which to try mail exchangers (see dns.h).
 *
 * Owns nothing: a pure function over the caller's array, randomness
 * passed in, so tests can fix it. Looking hosts up is dns.c's.
 *
 * Invariants: after dns_order_hosts() preferences never decrease; hosts of
 * equal preference are a uniform permutation of themselves when rnd is
 * uniform; with a source that always returns 0 the input order of equal
 * preferences is kept (the sort is stable).
 *
 * RFC 5321 5.1: "the MX records MUST be sorted by preference, lowest
 * first"; "if there are multiple destinations with the same preference
 * ... the sender-SMTP MUST randomize them to spread the load".
 */
#include "dns.h"

static void dns_host_swap(struct dns_host *a, struct dns_host *b)
{
	struct dns_host t = *a;

	*a = *b;
	*b = t;
}

void dns_order_hosts(struct dns_host *hosts, size_t n, uint32_t (*rnd)(void *arg), void *arg)
{
	/* Insertion sort: stable, and an MX set is a handful of records. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && hosts[j - 1].pref > hosts[j].pref; j--)
			dns_host_swap(&hosts[j - 1], &hosts[j]);

	/* Fisher-Yates over each run of equal preference. */
	size_t end;
	for (size_t start = 0; start < n; start = end) {
		end = start + 1;
		while (end < n && hosts[end].pref == hosts[start].pref)
			end++;
		for (size_t i = start; i + 1 < end; i++) {
			size_t pick = i + rnd(arg) % (end - i);
			if (pick != i)
				dns_host_swap(&hosts[i], &hosts[pick]);
		}
	}
}
