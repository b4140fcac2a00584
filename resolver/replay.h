/* replay.h - the TSIG replay cache: MACs of recently verified
 * UPDATEs, so an exact copy of a signed message sent again inside the TSIG
 * time window is recognised.
 *
 * RFC 8945 leaves replay protection to the time window alone; within it a
 * captured UPDATE could be sent again (say, to undo a later deregistration).
 * The cache is a ring of `cap` entries allocated once, indexed by a chained
 * hash, so a check costs O(1) and no allocation. When the ring is full the
 * oldest entry goes, even if its window has not ended: the cache is bounded
 * first, and says so (replay_overflows). No I/O; writer thread only. */
#ifndef MESHDNS_REPLAY_H
#define MESHDNS_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_MAC_MAX 32    /* bytes of a MAC kept: HMAC output, plenty to tell apart */

struct replay_ent {
	uint8_t mac[REPLAY_MAC_MAX];
	uint8_t len;
	uint64_t expires;        /* unix s; 0 = free */
	uint32_t next;           /* chain in the bucket; UINT32_MAX ends */
	uint32_t bucket;
};

struct replay {
	struct replay_ent *ring;
	uint32_t *heads;         /* nbuckets chain heads */
	uint32_t cap, nbuckets, next;
	uint64_t overflows;      /* live entries pushed out by newer ones */
};

/* cap 0 leaves the cache off (replay_seen always 0). -ENOMEM on failure. */
int replay_init(struct replay *r, uint32_t cap);
void replay_close(struct replay *r);
/* Returns 1 when mac (len bytes) is in the cache and has not expired at now
 * (a replay). Otherwise records it until `expires` and returns 0. */
int replay_seen(struct replay *r, const uint8_t *mac, size_t len, uint64_t now, uint64_t expires);

#endif
