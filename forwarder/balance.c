/* balance.c - endpoint selection and outlier ejection (see balance.h). */
#include <netinet/in.h>
#include <string.h>
#include "balance.h"

void balance_init(struct balance *b, const struct outlier_cfg *cfg)
{
	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *c)
{
	return a->ss_family == c->ss_family &&
	       !memcmp(a, c, a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						       : sizeof(struct sockaddr_in));
}

void balance_update(struct balance *b, const struct sockaddr_storage *addrs,
		    const uint16_t *weights, size_t n)
{
	for (size_t i = 0; i < b->n; i++)
		b->ep[i].present = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i;

		for (i = 0; i < b->n && !same_addr(&b->ep[i].addr, &addrs[k]); i++)
			;
		if (i == b->n) {
			if (b->n == BALANCE_MAX)
				balance_compact(b);
			if (b->n == BALANCE_MAX)
				continue;
			memset(&b->ep[i], 0, sizeof(b->ep[i]));
			b->ep[i].addr = addrs[k];
			addr_format((const struct sockaddr *)&addrs[k], b->ep[i].text);
			b->n++;
		}
		b->ep[i].present = 1;
		b->ep[i].weight = weights[k];
	}
}

void balance_compact(struct balance *b)
{
	size_t k = 0;

	for (size_t i = 0; i < b->n; i++)
		if (b->ep[i].present || b->ep[i].active)
			b->ep[k++] = b->ep[i];
	b->n = k;
}

static int available(struct balance *b, size_t i, uint64_t now)
{
	struct endpoint *e = &b->ep[i];

	if (!e->present)
		return 0;
	if (e->ejected_until && e->ejected_until <= now) {
		e->ejected_until = 0;        /* back in service; one more failure re-ejects */
		e->failures = b->cfg.consecutive_failures ? b->cfg.consecutive_failures - 1 : 0;
	}
	return !e->ejected_until;
}

int balance_pick(struct balance *b, struct wrand_rng *rng, uint64_t now,
		 const int *tried, size_t ntried)
{
	size_t m = 0;
	uint64_t sum = 0;
	long k;

	for (size_t i = 0; i < b->n; i++) {
		int skip = !available(b, i, now);

		for (size_t t = 0; t < ntried && !skip; t++)
			skip = tried[t] == (int)i;
		if (skip)
			continue;
		b->idx[m] = (uint32_t)i;
		sum += b->ep[i].weight;
		b->cum[m++] = sum;
	}
	if (m == 0)
		return -1;
	if (sum == 0) /* all weight 0: RFC 2782 lets each be chosen; spread evenly */
		return (int)b->idx[wrand_below(rng, m)];
	k = wrand_pick(rng, b->cum, m);
	return k < 0 ? -1 : (int)b->idx[k];
}

size_t balance_ejected(const struct balance *b, uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n; i++)
		n += b->ep[i].present && b->ep[i].ejected_until > now;
	return n;
}

int balance_failed(struct balance *b, int i, uint64_t now)
{
	struct endpoint *e = &b->ep[i];
	size_t present = 0, allowed;
	uint64_t ms;

	e->connect_failures++;
	e->failures++;
	if (!b->cfg.consecutive_failures || e->failures < b->cfg.consecutive_failures ||
	    e->ejected_until > now)
		return 0;
	for (size_t k = 0; k < b->n; k++)
		present += b->ep[k].present;
	allowed = present * b->cfg.max_ejection_percent / 100;
	if (allowed == 0 && present > 1 && b->cfg.max_ejection_percent > 0)
		allowed = 1;
	if (balance_ejected(b, now) >= allowed)
		return 0;
	e->times_ejected++;
	ms = (uint64_t)b->cfg.base_ejection_ms * e->times_ejected;
	ms = ms > b->cfg.max_ejection_ms ? b->cfg.max_ejection_ms : ms;
	e->ejected_until = now + (ms ? ms : 1);
	e->ejections++;
	return 1;
}

void balance_connected(struct balance *b, int i)
{
	b->ep[i].failures = 0;
	b->ep[i].connections++;
}
