/* tbucket.h - a token bucket (rate per second, burst), for the limits of
 * UPDATEs per TSIG key, answers per client prefix.
 *
 * Integer arithmetic in thousandths of a token over a millisecond clock: no
 * floating point, no allocation, 16 bytes a bucket, so tables of them are
 * preallocated and bounded. */
#ifndef MESHDNS_TBUCKET_H
#define MESHDNS_TBUCKET_H

#include <stdint.h>

struct tbucket {
	uint64_t milli;     /* tokens x 1000 */
	uint64_t last_ms;   /* when it was last refilled; 0 = never used (full) */
};

/* Refills b for the time since its last use (at rate tokens a second, up to
 * burst tokens) and takes one token. Returns 1 when there was one, 0 when
 * the caller is over the rate. now_ms must not go backwards (a monotonic
 * clock) and must not be 0. */
int tbucket_take(struct tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

#endif
