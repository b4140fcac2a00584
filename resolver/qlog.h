/* qlog.h - the optional query log (config query_log: {sample: F}): one info
 * line for a sampled fraction of the queries answered.
 *
 * The sampling decision is on the hot path, so it is a xorshift draw and one
 * compare, no allocation and no clock read; only a sampled query reads the
 * clock (for its latency) and formats a line (into a stack buffer). */
#ifndef MESHDNS_QLOG_H
#define MESHDNS_QLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct qlog {
	int on;
	int all;                 /* sample 1: every query, no draw */
	uint64_t threshold;      /* a draw below it is sampled */
	uint64_t state;          /* xorshift64 */
};

/* on: the config has query_log; sample: 0..1. */
void qlog_set(struct qlog *q, int on, double sample);

static inline int qlog_sampled(struct qlog *q)
{
	uint64_t x;

	if (!q->on)
		return 0;
	if (q->all)
		return 1;
	x = q->state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	q->state = x;
	return x < q->threshold;
}

/* Logs one answered query: client, qname and qtype (from req), rcode and
 * answer count (from resp), latency_ns, and the transport. */
void qlog_write(const struct sockaddr *client, const uint8_t *req, size_t reqlen,
		const uint8_t *resp, size_t resplen, uint64_t latency_ns, int tcp);

#endif
