/* udp.c - one thread's UDP query engine (see udp.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "addr.h"
#include "log.h"
#include "server.h"
#include "udp.h"
#include "xfr.h"

/* The query socket's receive buffer: the default (208 KiB) held fewer than 300
 * small queries, and a burst from a few hundred clients while the loop is
 * busy (answering a batch of upstream deadlines, say) overflowed it and lost
 * queries in the kernel (tests/e2e/blackhole.sh). 1 MiB, as NSD and Unbound
 * recommend; the kernel caps it at net.core.rmem_max. */
#define UDP_RCVBUF (1 << 20)

/* A datagram up to 64 KiB may arrive (an UPDATE), answers are at most
 * udp_payload. Pages are touched only as far as datagrams reach. */
struct udp_slots {
	struct mmsghdr rx[UDP_BATCH], tx[UDP_BATCH];
	struct iovec rxv[UDP_BATCH], txv[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	uint8_t in[UDP_BATCH][UDP_MSG_MAX + 1];
	uint8_t out[UDP_BATCH][UDP_OUT_MAX];
};

void udp_settings_of(struct udp_settings *st, const struct config *cfg)
{
	st->max_msg = cfg->max_message_size;
	st->qlog_on = cfg->query_log;
	st->qlog_sample = cfg->query_log_sample;
	st->cookies.on = cfg->cookies;
	st->cookies.udp_cap = cfg->udp_payload_without_cookie;
	st->rrl_rate = cfg->rrl_rate;
	st->rrl_slip = cfg->rrl_slip;
	st->rrl_v4_prefix = cfg->rrl_ipv4_prefix;
	st->rrl_v6_prefix = cfg->rrl_ipv6_prefix;
	st->rrl_size = cfg->rrl_table_size;
}

int udp_engine_init(struct udp_engine *e, uint64_t seed)
{
	struct udp_slots *u;

	memset(e, 0, sizeof(*e));
	if (!(u = calloc(1, sizeof(*u))))
		return -ENOMEM;
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		u->rxv[i].iov_base = u->in[i];
		u->rx[i].msg_hdr.msg_name = &u->peer[i];
		u->rx[i].msg_hdr.msg_iov = &u->rxv[i];
		u->rx[i].msg_hdr.msg_iovlen = 1;
	}
	e->slots = u;
	e->seed = seed;
	e->max_msg = UDP_MSG_MAX;
	query_ctx_init(&e->qctx, 0);
	expo_hist_init(&e->latency, server_latency_bounds, SERVER_LATENCY_BUCKETS);
	return 0;
}

void udp_engine_close(struct udp_engine *e)
{
	rrl_close(&e->rrl);
	free(e->slots);
	e->slots = NULL;
}

void udp_engine_apply(struct udp_engine *e, const struct udp_settings *st)
{
	struct rrl *r = &e->rrl;

	e->max_msg = st->max_msg;
	e->qctx.cookies = st->cookies;
	e->qctx.defer_outside = st->defer_outside;
	qlog_set(&e->qlog, st->qlog_on, st->qlog_sample);
	if (st->rrl_rate != r->rate || st->rrl_slip != r->slip ||
	    st->rrl_v4_prefix != r->v4_prefix || st->rrl_v6_prefix != r->v6_prefix ||
	    (r->t && st->rrl_size > r->mask + 1)) {
		struct rrl nr;

		if (rrl_init(&nr, st->rrl_size, st->rrl_rate, st->rrl_slip, st->rrl_v4_prefix,
			     st->rrl_v6_prefix, e->seed) < 0) {
			log_err("server", "out of memory for the RRL table: rate limiting keeps its"
				" old settings");
		} else {
			nr.dropped = r->dropped;
			nr.slipped = r->slipped;
			rrl_close(r);
			*r = nr;
		}
	}
}

/* An UPDATE request: opcode 5 and QR clear. */
static int is_update(const uint8_t *msg, size_t len)
{
	return len >= 12 && (msg[2] & 0xF8) == (5 << 3);
}

uint64_t udp_clock_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0)
		return 1;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1;
}

/* A valid server cookie proves the address, so such clients skip RRL (as
 * in Knot); TCP is never limited. Returns the length to send: n, a
 * truncated copy (slip: header + question, TC=1), or 0 (drop). */
static size_t rrl_apply(struct udp_engine *e, const struct sockaddr *from, uint8_t *out, size_t n,
			uint64_t now_ms)
{
	size_t p = 12;

	switch (rrl_check(&e->rrl, from, now_ms)) {
	case RRL_SEND:
		return n;
	case RRL_DROP:
		e->qctx.stats.dropped++;
		return 0;
	case RRL_SLIP:
		break;
	}
	if (n < 12)
		return 0;
	if (out[4] | out[5]) {              /* keep the question (one, uncompressed) */
		while (p < n && out[p] && out[p] < 64)
			p += 1 + (size_t)out[p];
		if (p + 5 > n || out[p])
			return 0;
		p += 5;
	}
	out[2] |= 0x02;                     /* TC */
	memset(out + 6, 0, 6);              /* no answer, authority or additional */
	return p;
}

/* One datagram; the clock fields of e->qctx are set by the caller. */
static size_t answer(struct udp_engine *e, void *sock, const struct view *v,
		     const struct sockaddr *from, const uint8_t *in, size_t len, uint8_t *out,
		     uint64_t now_ms)
{
	struct query_ctx *q = &e->qctx;
	size_t n;
	uint64_t t0;

	if (e->take_update && is_update(in, len)) {
		e->defer(e->defer_arg, sock, UDP_DEFER_UPDATE, from, in, len);
		return 0;
	}
	if (e->take_xfr && xfr_is_transfer(in, len)) {
		e->defer(e->defer_arg, sock, UDP_DEFER_XFR, from, in, len);
		return 0;
	}
	q->client = from;
	t0 = qlog_sampled(&e->qlog) ? uv_hrtime() : 0;
	n = query_process(q, v, in, len, out, UDP_OUT_MAX, 0);
	if (t0 && n)
		qlog_write(from, in, len, out, n, uv_hrtime() - t0, 0);
	if (n && e->rrl.t && !q->cookie_ok)
		n = rrl_apply(e, from, out, n, now_ms);
	if (n)
		query_stats_answer(&q->stats, out, n);
	else if (q->deferred && e->defer)
		e->defer(e->defer_arg, sock, UDP_DEFER_OUTSIDE, from, in, len);
	else if (q->fwd.pending && e->defer)
		e->defer(e->defer_arg, sock, UDP_DEFER_FORWARD, from, in, len);
	return n;
}

size_t udp_engine_answer(struct udp_engine *e, void *sock, const struct view *v,
			 const struct sockaddr *peer, const uint8_t *in, size_t len, uint8_t *out)
{
	uint64_t now = udp_clock_ms();

	if (len > e->max_msg) {
		e->qctx.stats.dropped++;
		return 0;
	}
	e->qctx.now = now / 1000;
	e->qctx.wall = (uint32_t)time(NULL);
	return answer(e, sock, v, peer, in, len, out, now);
}

/* Sends the batch's answers; what the socket buffer does not take is dropped
 * (the client retries), as a full interface queue would. */
static void flush(struct udp_engine *e, int fd, unsigned nout)
{
	struct mmsghdr *tx = e->slots->tx;
	unsigned done = 0;

	while (done < nout) {
		int rc = sendmmsg(fd, tx + done, nout - done, MSG_DONTWAIT);

		if (rc < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN, or an error of the first datagram (e.g. an
			 * unreachable peer): skip that one. */
			e->qctx.stats.dropped++;
			done++;
			continue;
		}
		done += (unsigned)rc;
	}
}

unsigned udp_engine_run(struct udp_engine *e, int fd, void *sock, const struct view *const *vp)
{
	struct udp_slots *u = e->slots;
	uint64_t now = udp_clock_ms();
	unsigned total = 0;

	e->qctx.now = now / 1000;
	e->qctx.wall = (uint32_t)time(NULL);
	for (int round = 0; round < UDP_ROUNDS; round++) {
		uint64_t t0 = uv_hrtime();
		const struct view *v;
		unsigned nout = 0;
		int n;

		for (unsigned i = 0; i < UDP_BATCH; i++) {
			u->rxv[i].iov_len = sizeof(u->in[i]);
			u->rx[i].msg_hdr.msg_namelen = sizeof(u->peer[i]);
		}
		n = recvmmsg(fd, u->rx, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break; /* EAGAIN: drained; other errors: poll again */
		total += (unsigned)n;
		if (!(v = __atomic_load_n(vp, __ATOMIC_ACQUIRE)))
			break;
		for (unsigned i = 0; i < (unsigned)n; i++) {
			size_t len = u->rx[i].msg_len, out;

			if ((u->rx[i].msg_hdr.msg_flags & MSG_TRUNC) || len > e->max_msg) {
				e->qctx.stats.dropped++;
				continue;
			}
			out = answer(e, sock, v, (const struct sockaddr *)&u->peer[i], u->in[i], len,
				     u->out[i], now);
			if (!out)
				continue;
			u->tx[nout].msg_hdr.msg_name = &u->peer[i];
			u->tx[nout].msg_hdr.msg_namelen = u->rx[i].msg_hdr.msg_namelen;
			u->tx[nout].msg_hdr.msg_iov = &u->txv[i];
			u->tx[nout].msg_hdr.msg_iovlen = 1;
			u->txv[i].iov_base = u->out[i];
			u->txv[i].iov_len = out;
			nout++;
		}
		flush(e, fd, nout);
		if (nout)  /* one clock read per batch: every answer took the batch's time */
			expo_hist_observe(&e->latency, (double)(uv_hrtime() - t0) / 1e9, nout);
		if (n < UDP_BATCH)
			break;
	}
	return total;
}

int udp_socket(const struct sockaddr_storage *a, int reuseport)
{
	int v6 = a->ss_family == AF_INET6, one = 1, rcvbuf = UDP_RCVBUF, fd, rc;

	fd = socket(a->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uv_translate_sys_error(errno);
	/* Best effort: the kernel caps it at net.core.rmem_max, and the
	 * default is still a working socket. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if ((v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)a, addr_len((const struct sockaddr *)a)) < 0) {
		rc = uv_translate_sys_error(errno);
		close(fd);
		return rc;
	}
	return fd;
}
