/* rrl.h - response rate limiting per client prefix, after NSD's
 * and Knot's RRL: UDP answers to one IPv4 /24 (or IPv6 /56, configurable)
 * draw from one token bucket; over the rate, answers are dropped, except
 * every slip-th one, which goes out truncated (TC=1) so a real client
 * behind a spoofed-at prefix can still retry over TCP.
 *
 * The table is allocated once (a power of two of entries) and direct
 * mapped: a prefix whose slot holds another prefix takes the slot over with
 * a full bucket. That bounds memory whatever the number of sources, at the
 * price of forgetting under a flood of many prefixes (it then limits less,
 * never more). The hash is seeded at start so a client cannot aim at a
 * victim's slot. No I/O; one thread. */
#ifndef MESHDNS_RRL_H
#define MESHDNS_RRL_H

#include <stdint.h>
#include <sys/socket.h>
#include "tbucket.h"

enum rrl_action { RRL_SEND = 0, RRL_DROP, RRL_SLIP };

struct rrl_entry {
	uint8_t key[9];            /* family + prefix bytes */
	uint32_t over;             /* answers over the rate since the slot was taken */
	struct tbucket b;
};

struct rrl {
	struct rrl_entry *t;
	uint32_t mask;             /* size - 1; t NULL when off */
	uint32_t rate, burst, slip, v4_prefix, v6_prefix;
	uint64_t seed;
	uint64_t dropped, slipped;
};

/* rate 0 turns it off (no table). size is rounded up to a power of two.
 * Returns 0 or -ENOMEM. */
int rrl_init(struct rrl *r, uint32_t size, uint32_t rate, uint32_t slip, uint32_t v4_prefix,
	     uint32_t v6_prefix, uint64_t seed);
void rrl_close(struct rrl *r);
/* What to do with one UDP answer to client at now_ms (monotonic, > 0). */
enum rrl_action rrl_check(struct rrl *r, const struct sockaddr *client, uint64_t now_ms);

#endif
