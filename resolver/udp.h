/* udp.h - one thread's UDP query engine: batches of datagrams in, answers out.
 *
 * When a socket is readable, recvmmsg() takes up to UDP_BATCH datagrams into
 * slots allocated once, each is answered from the view into its send slot,
 * and one sendmmsg() sends the answers: three system calls a batch, no
 * allocation a query. Everything the engine writes (slots, the query context
 * with its random generator and counters, the RRL table, the query-log
 * sampler, the latency histogram) is its own, so with `threads: N` each
 * thread has an engine and the threads share nothing but the immutable view.
 *
 * What the engine does not answer itself goes to its defer callback: UPDATEs,
 * zone transfers, questions for the upstream, and (on an engine without the
 * cache) names outside our namespaces. No libuv: the caller owns the sockets'
 * readiness. */
#ifndef MESHDNS_UDP_H
#define MESHDNS_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "config.h"
#include "expo.h"
#include "qlog.h"
#include "query.h"
#include "rrl.h"
#include "view.h"

#define UDP_BATCH 32             /* datagrams per recvmmsg/sendmmsg */
#define UDP_ROUNDS 4             /* batches per wake-up before polling again */
#define UDP_OUT_MAX 4096         /* udp_payload's upper bound */
#define UDP_MSG_MAX 65535

enum udp_defer {
	UDP_DEFER_UPDATE,        /* an UPDATE request (opcode 5) */
	UDP_DEFER_XFR,           /* an AXFR or IXFR query */
	UDP_DEFER_FORWARD,       /* a question for the upstream, in e->qctx.fwd */
	UDP_DEFER_OUTSIDE,       /* outside our namespaces, and the engine has no cache */
};

/* sock: what the caller passed with the socket the datagram came in on.
 * msg and peer are valid only during the call. */
typedef void (*udp_defer_cb)(void *arg, void *sock, enum udp_defer kind,
			     const struct sockaddr *peer, const uint8_t *msg, size_t len);

/* What a reload may change, by value (an engine on another thread copies it). */
struct udp_settings {
	uint32_t max_msg;                /* max_message_size */
	int qlog_on;
	double qlog_sample;
	struct cookie_secrets cookies;
	uint32_t rrl_rate, rrl_slip, rrl_v4_prefix, rrl_v6_prefix, rrl_size;
	int defer_outside;               /* hand names outside our namespaces on */
};

struct udp_slots;

struct udp_engine {
	struct udp_slots *slots;
	struct query_ctx qctx;
	struct rrl rrl;
	struct qlog qlog;
	struct expo_hist latency;        /* per batch: recvmmsg to sendmmsg */
	uint32_t max_msg;
	uint64_t seed;                   /* the RRL hash seed */
	int take_update, take_xfr;       /* defer these kinds; else the query path answers */
	udp_defer_cb defer;
	void *defer_arg;
};

/* The settings of cfg, except cookies.cur/prev (the caller's rotation). */
void udp_settings_of(struct udp_settings *st, const struct config *cfg);
/* seed: the RRL hash seed. Returns 0 or -ENOMEM. */
int udp_engine_init(struct udp_engine *e, uint64_t seed);
void udp_engine_close(struct udp_engine *e);
void udp_engine_apply(struct udp_engine *e, const struct udp_settings *st);

/* Reads and answers up to UDP_ROUNDS batches from fd (non-blocking). The view
 * is loaded from *vp (acquire) after each receive, so a datagram is answered
 * from a view at least as new as the one published before it arrived.
 * Returns the number of datagrams read. */
unsigned udp_engine_run(struct udp_engine *e, int fd, void *sock, const struct view *const *vp);

/* Answers one datagram (in, len) from peer into out (UDP_OUT_MAX bytes):
 * the answer's length, or 0 when there is none now (dropped, or deferred). */
size_t udp_engine_answer(struct udp_engine *e, void *sock, const struct view *v,
			 const struct sockaddr *peer, const uint8_t *in, size_t len, uint8_t *out);

/* Monotonic milliseconds, coarse (a vDSO read, no system call), never 0:
 * the engines' clock for RRL and for the workers' counter snapshots. */
uint64_t udp_clock_ms(void);

/* A non-blocking UDP socket bound to *a (IPv6 only for an IPv6 address),
 * with SO_REUSEPORT when reuseport: the fd, or a negative libuv error code. */
int udp_socket(const struct sockaddr_storage *a, int reuseport);

#endif
