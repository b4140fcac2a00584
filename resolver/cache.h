/* cache.h - answers from upstream resolvers, kept for their TTL.
 *
 * An entry is the upstream's answer in wire form with its OPT record cut
 * off and the offset of every TTL noted, so serving it is a hash lookup, one
 * memcpy and a few TTL rewrites (counted down by the entry's age), with the
 * client's ID, question (its letter case) and EDNS put in. Nothing on a hit
 * allocates. The cache is bounded in entries and bytes and evicts the least
 * recently used entry. TTLs are clamped to [min_ttl, max_ttl]; negative
 * answers are kept for min(SOA TTL, SOA minimum) (RFC 2308 5), at most
 * max_negative_ttl, and not at all without an SOA. With stale_ttl > 0
 * expired entries are kept that much longer, to answer (with TTL 30, RFC
 * 8767) while the upstream is failing. No I/O, no libuv. */
#ifndef MESHDNS_CACHE_H
#define MESHDNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache_cfg {
	uint32_t max_entries;        /* default 10000 */
	uint64_t max_bytes;          /* default 32 MiB */
	uint32_t min_ttl;            /* default 0 */
	uint32_t max_ttl;            /* default 86400 */
	uint32_t max_negative_ttl;   /* default 3600 */
	uint32_t stale_ttl;          /* default 0 (serve-stale off) */
};

/* What a client asked, as needed to answer it. */
struct cache_client {
	uint16_t id;
	uint16_t flags;              /* the query's flags: RD and CD are copied */
	const uint8_t *question;     /* the question as the client sent it */
	size_t question_len;         /* name + type + class */
	int edns, do_bit;
	uint16_t payload;            /* client's EDNS buffer size */
	int tcp;
	uint32_t udp_max;            /* our udp_payload */
};

struct cache;
struct cache_entry;

struct cache_stats {
	uint64_t hits, misses, stale_hits, inserts, evictions, entries, bytes;
};

int cache_new(struct cache **out, const struct cache_cfg *cfg);
void cache_free(struct cache *c);
/* Applies new limits (a reload); shrinks at once if needed. */
void cache_set_cfg(struct cache *c, const struct cache_cfg *cfg);

/* Stores msg, the upstream's answer to (qname, qtype, qclass); qname is the
 * lower-cased wire name. now: seconds. Returns the entry, or NULL when the
 * answer is not cacheable (SERVFAIL, TC, no SOA on a negative, TTL 0...). */
const struct cache_entry *cache_put(struct cache *c, const uint8_t *qname, size_t qlen,
				    uint16_t qtype, uint16_t qclass, const uint8_t *msg,
				    size_t len, uint64_t now);
/* The live entry for the question, or NULL. With allow_stale, an expired
 * entry still within stale_ttl is returned and *stale set. Counts a hit or
 * a miss. */
const struct cache_entry *cache_get(struct cache *c, const uint8_t *qname, size_t qlen,
				    uint16_t qtype, uint16_t qclass, uint64_t now,
				    int allow_stale, int *stale);
/* Writes the answer for client from e into out. Returns its length, or 0
 * when it cannot (a question that does not match). */
size_t cache_render(const struct cache_entry *e, uint64_t now, int stale,
		    const struct cache_client *cl, uint8_t *out, size_t cap);
/* The same for an upstream answer that was not cached (TTLs as they are). */
size_t cache_render_raw(const uint8_t *msg, size_t len, const struct cache_client *cl,
			uint8_t *out, size_t cap);
/* An answer with no records: rcode (e.g. SERVFAIL) and, when the client
 * has EDNS, an Extended DNS Error (RFC 8914) with info and text. */
size_t cache_render_error(int rcode, uint16_t info, const char *text,
			  const struct cache_client *cl, uint8_t *out, size_t cap);

void cache_get_stats(const struct cache *c, struct cache_stats *st);

#endif
