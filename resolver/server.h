/* server.h - the resolver's sockets: UDP and TCP listeners on a libuv loop.
 *
 * UDP datagrams are answered synchronously from one receive buffer and sent
 * with uv_udp_try_send, so a query costs no allocation. TCP connections
 * (RFC 7766) read length-prefixed messages into a bounded per-connection
 * buffer, answer them in order (pipelining), and queue answers in a bounded
 * output buffer; while it is full the connection is not read (back-pressure).
 * Idle connections are closed after tcp_idle_timeout, a message begun must
 * be finished within tcp_read_timeout (slowloris), a client address may hold
 * tcp_max_connections_per_client connections, and beyond tcp_max_connections
 * a new connection closes the longest idle one that has no query in progress
 * (or is closed itself when there is none). Messages over max_message_size
 * close the connection (TCP) or are dropped (UDP).
 *
 * Queries are answered from the view set by server_set_view(). With
 * `threads: N`, N-1 more threads answer UDP queries (workers.h), so a replaced
 * view is handed back with server_retire_view(), which frees it once no thread
 * reads it. */
#ifndef MESHDNS_SERVER_H
#define MESHDNS_SERVER_H

#include <uv.h>
#include "config.h"
#include "query.h"
#include "view.h"

struct server;

/* Binds every listen address of cfg (UDP and TCP on the same port; port 0
 * picks one). On failure returns a negative code and writes a message that
 * says why (port in use, privileges for ports below 1024) into errbuf. */
int server_new(struct server **out, uv_loop_t *loop, const struct config *cfg,
	       char *errbuf, size_t errlen);
/* Applies the limits of a reloaded config (listen addresses are kept). */
void server_set_limits(struct server *s, const struct config *cfg);
void server_set_view(struct server *s, const struct view *v);
/* Takes ownership of old, a view replaced by server_set_view(): freed now,
 * or with worker threads once none of them can be reading it. s may be NULL
 * (no server yet: freed now). */
void server_retire_view(struct server *s, struct view *old);
/* " listen=IP:PORT" for every bound address, into out. */
void server_describe(const struct server *s, char *out, size_t outlen);
/* Every thread's counters summed into out; per_thread[i] (nper entries at
 * most) gets thread i's query count, thread 0 being the main loop. Worker
 * threads' counters are at most a few milliseconds old. */
void server_stats(const struct server *s, struct query_stats *out, uint64_t *per_thread,
		  size_t nper);
unsigned server_threads(const struct server *s);
size_t server_tcp_connections(const struct server *s);
/* For the metrics: the query latency histogram (seconds from a batch's
 * arrival to its answers' send; for forwarded queries, to the upstream's
 * answer being sent) and the TCP counters. */
#define SERVER_LATENCY_BUCKETS 16
extern const double server_latency_bounds[SERVER_LATENCY_BUCKETS];
struct expo_hist;
struct server_metrics {
	const struct expo_hist *latency;
	size_t tcp_open;
	uint64_t tcp_accepted, tcp_refused, tcp_evicted, tcp_timeouts;
};
void server_get_metrics(struct server *s, struct server_metrics *m);
/* UPDATE messages (opcode 5) are not answered by the query path: they go to
 * cb with a pending request, and whoever handles them answers later with
 * server_reply() (after the journal made the change durable). Without a
 * callback they get NOTIMP. */
struct server_req;
typedef void (*server_update_cb)(void *arg, struct server_req *req,
				 const uint8_t *msg, size_t len);
void server_set_update_cb(struct server *s, server_update_cb cb, void *arg);
/* Sends msg (len bytes, copied) to the client of req and frees req; a client
 * that has gone away is skipped. len 0 frees req without sending. */
void server_reply(struct server_req *req, const uint8_t *msg, size_t len);

/* Zone transfers (AXFR/IXFR queries, xfr.h) are not answered by the query
 * path either: they go to cb, which answers with server_reply_part() for each
 * message and then server_reply(req, NULL, 0). Without a callback the query
 * path refuses them. */
typedef void (*server_xfr_cb)(void *arg, struct server_req *req, const uint8_t *msg,
			      size_t len, int tcp);
void server_set_xfr_cb(struct server *s, server_xfr_cb cb, void *arg);
/* Sends one message of a multi-message answer (copied; a transfer may queue
 * more than the usual output cap). Returns 0, or <0 when the client is gone. */
int server_reply_part(struct server_req *req, const uint8_t *msg, size_t len);

/* Names outside our namespaces: answered from cache by the query path when
 * it can; otherwise the question goes to cb, which answers later with
 * server_reply(). cache NULL turns forwarding off (REFUSED). */
typedef void (*server_forward_cb)(void *arg, struct server_req *req,
				  const struct query_fwd *f);
void server_set_forward(struct server *s, struct cache *cache, server_forward_cb cb, void *arg);

/* Stops listening and closes every connection; frees s when all handles are
 * closed (uv_run must go on). */
void server_close(struct server *s);

#endif
