/* wrand.c - RFC 2782 weighted random selection (see wrand.h). */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "wrand.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void wrand_seed(struct wrand_rng *rng, uint64_t seed)
{
	rng->s[0] = splitmix64(&seed);
	rng->s[1] = splitmix64(&seed);
	if ((rng->s[0] | rng->s[1]) == 0)
		rng->s[1] = 1;
}

void wrand_seed_auto(struct wrand_rng *rng)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)rng;
	wrand_seed(rng, seed);
}

/* xorshift128+: fast, and good enough for load spreading (not for secrets). */
uint64_t wrand_next(struct wrand_rng *rng)
{
	uint64_t s1 = rng->s[0];
	const uint64_t s0 = rng->s[1];

	rng->s[0] = s0;
	s1 ^= s1 << 23;
	rng->s[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
	return rng->s[1] + s0;
}

uint64_t wrand_below(struct wrand_rng *rng, uint64_t bound)
{
	/* Lemire's multiply-shift; the bias for bound < 2^40 is below 2^-24. */
	return (uint64_t)(((unsigned __int128)wrand_next(rng) * bound) >> 64);
}

/* Smallest i with cum[i] > r. */
static size_t upper(const uint64_t *cum, size_t n, uint64_t r)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static uint64_t weight_at(const uint64_t *cum, size_t i)
{
	return i ? cum[i] - cum[i - 1] : cum[0];
}

long wrand_pick(struct wrand_rng *rng, const uint64_t *cum, size_t n)
{
	if (n == 0 || cum[n - 1] == 0)
		return -1;
	return (long)upper(cum, n, wrand_below(rng, cum[n - 1]));
}

static int chosen(const uint32_t *out, size_t m, size_t idx)
{
	for (size_t i = 0; i < m; i++)
		if (out[i] == idx)
			return 1;
	return 0;
}

size_t wrand_order(struct wrand_rng *rng, const uint64_t *cum, size_t n,
		   size_t k, uint32_t *out)
{
	uint64_t total, taken = 0;
	size_t m = 0;

	if (n == 0 || k == 0)
		return 0;
	if (k > WRAND_MAX_K)
		k = WRAND_MAX_K;
	total = cum[n - 1];
	while (m < k && taken < total) {
		size_t idx = n;
		int tries;

		/* Rejection is cheap while the drawn items hold little weight. */
		for (tries = 0; tries < 8; tries++) {
			size_t c = upper(cum, n, wrand_below(rng, total));

			if (!chosen(out, m, c)) {
				idx = c;
				break;
			}
		}
		if (idx == n) {
			uint64_t r = wrand_below(rng, total - taken);

			for (size_t i = 0; i < n; i++) {
				uint64_t wi;

				if (chosen(out, m, i))
					continue;
				wi = weight_at(cum, i);
				if (r < wi) {
					idx = i;
					break;
				}
				r -= wi;
			}
			if (idx == n)
				break; /* unreachable with consistent cum */
		}
		out[m++] = (uint32_t)idx;
		taken += weight_at(cum, idx);
	}
	return m;
}
