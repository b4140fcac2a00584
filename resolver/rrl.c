/* rrl.c - response rate limiting (see rrl.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "rrl.h"

int rrl_init(struct rrl *r, uint32_t size, uint32_t rate, uint32_t slip, uint32_t v4_prefix,
	     uint32_t v6_prefix, uint64_t seed)
{
	uint32_t n = 1;

	memset(r, 0, sizeof(*r));
	r->rate = rate;
	r->burst = rate;           /* one second's worth, as NSD and Knot do */
	r->slip = slip;
	r->v4_prefix = v4_prefix;
	r->v6_prefix = v6_prefix;
	r->seed = seed;
	if (!rate)
		return 0;
	while (n < size && n < (1u << 24))
		n <<= 1;
	r->t = calloc(n, sizeof(*r->t));
	if (!r->t)
		return -ENOMEM;
	r->mask = n - 1;
	return 0;
}

void rrl_close(struct rrl *r)
{
	free(r->t);
	r->t = NULL;
}

/* Family byte + the address masked to its prefix (at most 64 bits). */
static void prefix_key(const struct rrl *r, const struct sockaddr *sa, uint8_t key[9])
{
	const uint8_t *a;
	uint32_t bits;

	memset(key, 0, 9);
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		bits = r->v4_prefix;
		key[0] = 4;
	} else {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		bits = r->v6_prefix;
		key[0] = 6;
	}
	for (uint32_t i = 0; i < 8 && bits; i++) {
		uint32_t take = bits >= 8 ? 8 : bits;

		key[1 + i] = (uint8_t)(a[i] & (0xFF00u >> take));
		bits -= take;
	}
}

enum rrl_action rrl_check(struct rrl *r, const struct sockaddr *client, uint64_t now_ms)
{
	struct rrl_entry *e;
	uint8_t key[9];
	uint64_t h = 1469598103934665603ull ^ r->seed;

	if (!r->t || (client->sa_family != AF_INET && client->sa_family != AF_INET6))
		return RRL_SEND;
	prefix_key(r, client, key);
	for (int i = 0; i < 9; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	e = &r->t[(h ^ h >> 29) & r->mask];
	if (memcmp(e->key, key, 9)) {
		memcpy(e->key, key, 9);
		e->over = 0;
		e->b.milli = 0;
		e->b.last_ms = 0;         /* a full bucket */
	}
	if (tbucket_take(&e->b, r->rate, r->burst, now_ms))
		return RRL_SEND;
	e->over++;
	if (r->slip && e->over % r->slip == 0) {
		r->slipped++;
		return RRL_SLIP;
	}
	r->dropped++;
	return RRL_DROP;
}
