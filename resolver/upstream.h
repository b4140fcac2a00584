/* upstream.h - forwarding names outside our namespaces to upstream resolvers.
 *
 * Questions the query path could not answer from the cache arrive here with
 * a pending server request. Identical questions in flight share one upstream
 * query (coalescing); at most max_inflight upstream queries run at once and
 * beyond that a question gets SERVFAIL at once. c-ares does the retries,
 * server rotation and TCP fallback on TC. Each question has a deadline
 * (timeout): when it passes the clients get a stale answer if serve-stale
 * allows one, else SERVFAIL with an Extended DNS Error; the upstream query
 * goes on and its answer still fills the cache. */
#ifndef MESHDNS_UPSTREAM_H
#define MESHDNS_UPSTREAM_H

#include <uv.h>
#include "cache.h"
#include "config.h"
#include "query.h"
#include "server.h"

struct upstream;

struct upstream_stats {
	uint64_t sent, answered, failed, timeouts, coalesced, overflow, stale_served;
	uint64_t inflight;
};

/* Builds the upstream list from cfg (upstream: [system] reads resolv.conf and
 * drops our own listen addresses). Returns 0, ERR_NOTFOUND when there is no
 * upstream at all (forwarding off), or another negative code with errbuf. */
int upstream_new(struct upstream **out, uv_loop_t *loop, const struct config *cfg,
		 struct cache *cache, char *errbuf, size_t errlen);
/* The server's forward callback (server_forward_cb); arg is the upstream. */
void upstream_forward(void *arg, struct server_req *req, const struct query_fwd *f);
/* Applies the timeout and in-flight cap of a reloaded config. */
void upstream_set_limits(struct upstream *u, const struct config *cfg);
void upstream_get_stats(const struct upstream *u, struct upstream_stats *st);
/* Answers every waiting client SERVFAIL and frees u once its handles closed. */
void upstream_close(struct upstream *u);

#endif
