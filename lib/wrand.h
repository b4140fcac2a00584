/* wrand.h - RFC 2782 weighted random selection, without sorting or allocation.
 *
 * Weights are given as a cumulative array: cum[i] = w[0] + ... + w[i]. An
 * ordering is made by successive draws without replacement, each item drawn
 * with probability w[i] / (sum of the weights not yet drawn), which is exactly
 * the RFC 2782 SRV selection rule. A draw is a binary search over cum
 * (O(log n)); an item drawn twice is redrawn (rejection keeps the distribution
 * exact), and after a few rejections the draw falls back to one linear scan,
 * so a query that wants k answers costs O(k log n) expected. Items of weight 0
 * are never drawn. */
#ifndef MESHDNS_WRAND_H
#define MESHDNS_WRAND_H

#include <stddef.h>
#include <stdint.h>

/* Largest k that wrand_order accepts. */
#define WRAND_MAX_K 64

struct wrand_rng {
	uint64_t s[2];
};

/* Seeds from the given value (use wrand_seed_auto for an unpredictable one). */
void wrand_seed(struct wrand_rng *rng, uint64_t seed);
/* Seeds from getrandom(2); falls back to time and pid if that fails. */
void wrand_seed_auto(struct wrand_rng *rng);
uint64_t wrand_next(struct wrand_rng *rng);
/* Uniform in [0, bound); bound > 0. */
uint64_t wrand_below(struct wrand_rng *rng, uint64_t bound);

/* One weighted draw: an index in [0, n), or -1 when every weight is 0. */
long wrand_pick(struct wrand_rng *rng, const uint64_t *cum, size_t n);

/* Writes up to k (<= WRAND_MAX_K) distinct indices into out, in weighted
 * random order. Returns how many were written: min(k, items of weight > 0). */
size_t wrand_order(struct wrand_rng *rng, const uint64_t *cum, size_t n,
		   size_t k, uint32_t *out);

#endif
