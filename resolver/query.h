/* query.h - a DNS query in, its answer out (RFC 1034/1035, 2308, 6891, 8914).
 *
 * This is the hot path. It reads the question straight from the wire, finds
 * the node with one hash lookup in the current view, and writes the answer
 * into the caller's buffer from the view's precompiled fragments. It never
 * allocates, never logs (except at debug level), and knows no sockets, so it
 * is unit-tested and fuzzed without a network. A struct query_ctx holds what
 * one thread needs between queries (its random generator and scratch). */
#ifndef MESHDNS_QUERY_H
#define MESHDNS_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include "cache.h"
#include "cookie.h"
#include "view.h"
#include "wire.h"
#include "wrand.h"

#define QUERY_COMP_MAX 64     /* names remembered for compression per answer */
#define QUERY_UDP_MIN 512     /* RFC 1035 4.2.1 */

/* Answers by question type and rcode (meshdns_queries_total): a bounded
 * label set, the common types and the header rcodes 0-5, each with "other". */
#define QSTAT_TYPES 13
#define QSTAT_RCODES 7
extern const char *const query_stat_types[QSTAT_TYPES];
extern const char *const query_stat_rcodes[QSTAT_RCODES];

struct query_stats {
	uint64_t queries, noerror, nxdomain, servfail, formerr, notimp, refused, dropped;
	uint64_t truncated, cache_hits, forwarded;
	uint64_t badcookie;
	uint64_t cache_misses;   /* outside our namespaces and not in the cache */
	uint64_t answers[QSTAT_TYPES][QSTAT_RCODES];  /* counted by query_stats_answer */
};

/* A question for the upstream resolvers: what query_process leaves in
 * query_ctx.fwd when it returns 0 with fwd.pending set. */
struct query_fwd {
	int pending;
	uint8_t qname[WIRE_NAME_MAX];     /* lower-cased */
	size_t qname_len;
	uint16_t qtype, qclass;
	struct cache_client cl;           /* cl.question points into question[] */
	uint8_t question[WIRE_NAME_MAX + 4];
};

struct query_ctx {
	struct wrand_rng rng;
	const struct vnode *comp_node[QUERY_COMP_MAX];
	uint16_t comp_off[QUERY_COMP_MAX];
	unsigned ncomp;
	const struct vnode *comp_rest; /* the question's ancestors not yet in comp_node */
	uint16_t comp_rest_off;        /* where comp_rest's name starts */
	struct query_stats stats;
	struct cache *cache;     /* non-NULL when names outside our namespaces are
				    forwarded: answered from it, or via fwd */
	uint64_t now;            /* monotonic seconds, set by the caller */
	struct query_fwd fwd;
	/* DNS Cookies (RFC 7873/9018): on when cookies.on and the caller set
	 * client (the peer of the query being answered) and wall (unix s). */
	struct cookie_secrets cookies;
	const struct sockaddr *client;
	uint32_t wall;
	int cookie_ok;           /* out: the last query had a valid server cookie */
	/* Without a cache: a name outside our namespaces is not REFUSED but
	 * left to whoever has the cache (another thread): query_process
	 * returns 0 with deferred set, and does not count the query. */
	int defer_outside;
	int deferred;            /* out */
};

/* seed 0 seeds from the system's random source. */
void query_ctx_init(struct query_ctx *q, uint64_t seed);

/* Answers req (reqlen bytes) from view v into resp (respcap bytes, at least
 * 512). tcp selects the size limit: 65535 over TCP, else what the client's
 * EDNS(0) buffer size and the view's udp_payload allow. Returns the response
 * length, or 0 when nothing must be sent now: too short to answer, a
 * response, or (q->fwd.pending) a question for the upstream resolvers. */
size_t query_process(struct query_ctx *q, const struct view *v, const uint8_t *req,
		     size_t reqlen, uint8_t *resp, size_t respcap, int tcp);

/* Counts an answer about to be sent (resp, len bytes) in st->answers by its
 * question's type and its header rcode; no question counts as "other". */
void query_stats_answer(struct query_stats *st, const uint8_t *resp, size_t len);

#endif
