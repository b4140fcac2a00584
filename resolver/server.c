/* server.c - UDP and TCP listeners for the resolver (see server.h).
 *
 * UDP sockets are our own, watched with uv_poll: when one is readable,
 * recvmmsg() takes up to UDP_BATCH datagrams into the server's receive
 * slots, each is answered into its send slot, and one sendmmsg() sends the
 * answers. A batch costs three system calls (wake-up, receive, send) however
 * many queries it holds, and the slots are allocated once, so a query costs
 * no allocation. TCP connections own bounded, lazily grown buffers; a
 * response is first tried with uv_try_write and only what the kernel does not
 * take is queued. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "expo.h"
#include "err.h"
#include "log.h"
#include "qlog.h"
#include "rrl.h"
#include "server.h"
#include "xfr.h"

#define MSG_MAX 65535
#define TCP_IN_START 4096
#define TCP_OUT_HIGH 65536       /* stop answering (and reading) above this */
#define TCP_OUT_MAX (TCP_OUT_HIGH + MSG_MAX + 2)
#define TCP_XFR_MAX (256u << 20)  /* a zone transfer queues all its messages */
#define UDP_BATCH 32             /* datagrams per recvmmsg/sendmmsg */
#define UDP_ROUNDS 4             /* batches per wake-up before polling again */
#define UDP_OUT_MAX 4096         /* udp_payload's upper bound */
#define CONN_BUCKETS 4096        /* per-address connection counting (a power of 2) */
/* The query socket's receive buffer: the default (208 KiB) held fewer than 300
 * small queries, and a burst from a few hundred clients while the loop is
 * busy (answering a batch of upstream deadlines, say) overflowed it and lost
 * queries in the kernel (tests/e2e/blackhole.sh). 1 MiB, as NSD and Unbound
 * recommend; the kernel caps it at net.core.rmem_max. */
#define UDP_RCVBUF (1 << 20)

/* The UDP slots: a datagram up to 64 KiB may arrive (an UPDATE), answers
 * are at most udp_payload. Pages are touched only as far as datagrams reach. */
struct udp_slots {
	struct mmsghdr rx[UDP_BATCH], tx[UDP_BATCH];
	struct iovec rxv[UDP_BATCH], txv[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	uint8_t in[UDP_BATCH][MSG_MAX + 1];
	uint8_t out[UDP_BATCH][UDP_OUT_MAX];
};

struct server;

/* Each listener is its own allocation: a bind retry abandons one while its
 * handles are still closing, and libuv owns them until their callbacks ran. */
struct listener {
	struct server *srv;
	uv_poll_t udp;
	int fd;                     /* the UDP socket, -1 when none */
	uv_tcp_t tcp;
	struct sockaddr_storage addr;
	int open;                   /* handles not yet closed */
};

struct conn {
	uv_tcp_t h;
	uv_timer_t idle;            /* idle timeout, or read timeout while a message is partial */
	struct server *srv;
	struct conn *prev, *next;   /* activity order: head is the least recently used */
	struct conn *bnext;         /* same address bucket */
	uint8_t peer[17];           /* family byte + address: the per-client key */
	struct sockaddr_storage peer_addr;
	uint32_t bucket;
	int hashed;
	uint64_t partial_since;     /* loop ms when the partial message began, 0 none */
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out, *wbuf;        /* queued bytes; bytes handed to uv_write */
	size_t out_len, out_cap, wbuf_len, wbuf_cap;
	uv_write_t wreq;
	int writing, paused, eof, closing, open;
	int refs;                   /* pending UPDATE replies that point here */
};

/* A pending UPDATE: where its answer goes. */
struct server_req {
	struct server *srv;
	struct listener *l;         /* UDP: the socket and the client */
	struct sockaddr_storage peer;
	struct conn *conn;          /* TCP: the connection (holds a reference) */
	uint64_t t0;                /* uv_hrtime() when the query arrived */
};

struct server {
	uv_loop_t *loop;
	struct listener **ls;
	size_t nls;
	const struct view *view;
	struct query_ctx qctx;
	uint32_t idle_ms, read_ms, max_conns, max_per_client, max_msg;
	uint64_t hash_seed;
	struct conn *buckets[CONN_BUCKETS];
	uint64_t tcp_refused, tcp_evicted, tcp_timeouts, tcp_accepted;
	struct expo_hist latency;   /* meshdns_query_duration_seconds */
	int cookie_set;             /* qctx.cookies.cur holds a secret */
	struct rrl rrl;             /* rrl_rate; the table is rebuilt when a reload changes it */
	server_update_cb update_cb;
	void *update_arg;
	server_xfr_cb xfr_cb;
	void *xfr_arg;
	server_forward_cb forward_cb;
	void *forward_arg;
	size_t pending;             /* server_req not yet replied */
	struct conn *head, *tail;
	size_t nconns;
	int open, closing;
	struct udp_slots *slots;
	struct qlog qlog;           /* query_log */
	uint8_t wscratch[MSG_MAX + 2];
};

static void server_maybe_free(struct server *s)
{
	if (s->closing && s->open == 0 && s->pending == 0) {
		rrl_close(&s->rrl);
		free(s->slots);
		free(s->ls);
		free(s);
	}
}

/* Close callback of a listener's UDP or TCP handle (data: the listener). */
static void handle_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	struct server *s = l->srv;

	if (h == (uv_handle_t *)&l->udp && l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	if (--l->open == 0)
		free(l);
	s->open--;
	server_maybe_free(s);
}

/* A pending answer to a UDP client (listener l, peer) or a TCP connection c. */
static struct server_req *req_new(struct server *s, struct listener *l, const struct sockaddr *peer,
				  struct conn *c)
{
	struct server_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->srv = s;
	r->l = l;
	if (peer)
		memcpy(&r->peer, peer, addr_len(peer));
	r->conn = c;
	r->t0 = uv_hrtime();
	if (c)
		c->refs++;
	s->pending++;
	return r;
}

/* ---- UDP ---- */

/* An UPDATE request: opcode 5 and QR clear. */
static int is_update(const char *msg, size_t len)
{
	return len >= 12 && (msg[2] & 0xF8) == (5 << 3);
}

static size_t rrl_apply(struct server *s, const struct sockaddr *from, uint8_t *out, size_t n);

/* Answers datagram i of the batch into its send slot; returns the answer's
 * length, 0 when none is due now (deferred to an UPDATE or the upstream). */
static size_t udp_answer(struct server *s, struct listener *l, const struct view *v, unsigned i,
			 size_t len)
{
	struct udp_slots *u = s->slots;
	const struct sockaddr *from = (const struct sockaddr *)&u->peer[i];
	size_t n;
	uint64_t t0;

	if (is_update((const char *)u->in[i], len) && s->update_cb) {
		struct server_req *r = req_new(s, l, from, NULL);

		if (r)
			s->update_cb(s->update_arg, r, u->in[i], len);
		return 0;
	}
	if (s->xfr_cb && xfr_is_transfer(u->in[i], len)) {
		struct server_req *r = req_new(s, l, from, NULL);

		if (r)
			s->xfr_cb(s->xfr_arg, r, u->in[i], len, 0);
		return 0;
	}
	s->qctx.client = from;
	t0 = qlog_sampled(&s->qlog) ? uv_hrtime() : 0;
	n = query_process(&s->qctx, v, u->in[i], len, u->out[i], UDP_OUT_MAX, 0);
	if (t0 && n)
		qlog_write(from, u->in[i], len, u->out[i], n, uv_hrtime() - t0, 0);
	if (n && s->rrl.t && !s->qctx.cookie_ok)
		n = rrl_apply(s, from, u->out[i], n);
	if (n)
		query_stats_answer(&s->qctx.stats, u->out[i], n);
	if (!n) {
		struct server_req *r;

		if (s->qctx.fwd.pending && s->forward_cb && (r = req_new(s, l, from, NULL)))
			s->forward_cb(s->forward_arg, r, &s->qctx.fwd);
	}
	return n;
}

/* A valid server cookie proves the address, so such clients skip RRL (as
 * in Knot); TCP is never limited. Returns the length to send: n, a
 * truncated copy (slip: header + question, TC=1), or 0 (drop). */
static size_t rrl_apply(struct server *s, const struct sockaddr *from, uint8_t *out, size_t n)
{
	size_t p = 12;

	switch (rrl_check(&s->rrl, from, uv_now(s->loop) + 1)) {
	case RRL_SEND:
		return n;
	case RRL_DROP:
		s->qctx.stats.dropped++;
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

/* Sends the batch's answers; what the socket buffer does not take is dropped
 * (the client retries), as a full interface queue would. */
static void udp_flush(struct server *s, struct listener *l, unsigned nout)
{
	struct mmsghdr *tx = s->slots->tx;
	unsigned done = 0;

	while (done < nout) {
		int rc = sendmmsg(l->fd, tx + done, nout - done, MSG_DONTWAIT);

		if (rc < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN, or an error of the first datagram (e.g. an
			 * unreachable peer): skip that one. */
			s->qctx.stats.dropped++;
			done++;
			continue;
		}
		done += (unsigned)rc;
	}
}

static void udp_readable(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;
	struct server *s = l->srv;
	struct udp_slots *u = s->slots;
	const struct view *v = __atomic_load_n(&s->view, __ATOMIC_ACQUIRE);

	if (status < 0 || !(events & UV_READABLE) || !v)
		return;
	s->qctx.now = uv_now(s->loop) / 1000;
	s->qctx.wall = (uint32_t)time(NULL);
	for (int round = 0; round < UDP_ROUNDS; round++) {
		uint64_t t0 = uv_hrtime();
		unsigned nout = 0;
		int n;

		for (unsigned i = 0; i < UDP_BATCH; i++) {
			u->rxv[i].iov_len = sizeof(u->in[i]);
			u->rx[i].msg_hdr.msg_namelen = sizeof(u->peer[i]);
		}
		n = recvmmsg(l->fd, u->rx, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return; /* EAGAIN: drained; other errors: poll again */
		for (unsigned i = 0; i < (unsigned)n; i++) {
			size_t len = u->rx[i].msg_len, out;

			if ((u->rx[i].msg_hdr.msg_flags & MSG_TRUNC) || len > s->max_msg) {
				s->qctx.stats.dropped++;
				continue;
			}
			if (!(out = udp_answer(s, l, v, i, len)))
				continue;
			u->tx[nout].msg_hdr.msg_name = &u->peer[i];
			u->tx[nout].msg_hdr.msg_namelen = u->rx[i].msg_hdr.msg_namelen;
			u->tx[nout].msg_hdr.msg_iov = &u->txv[i];
			u->tx[nout].msg_hdr.msg_iovlen = 1;
			u->txv[i].iov_base = u->out[i];
			u->txv[i].iov_len = out;
			nout++;
		}
		udp_flush(s, l, nout);
		if (nout)  /* one clock read per batch: every answer took the batch's time */
			expo_hist_observe(&s->latency, (double)(uv_hrtime() - t0) / 1e9, nout);
		if (n < UDP_BATCH)
			return;
	}
}

static struct udp_slots *udp_slots_new(void)
{
	struct udp_slots *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	for (unsigned i = 0; i < UDP_BATCH; i++) {
		u->rxv[i].iov_base = u->in[i];
		u->rx[i].msg_hdr.msg_name = &u->peer[i];
		u->rx[i].msg_hdr.msg_iov = &u->rxv[i];
		u->rx[i].msg_hdr.msg_iovlen = 1;
	}
	return u;
}

/* A UDP socket bound to *a (IPv6 only for an IPv6 address): the fd, or a
 * negative libuv error code. */
static int udp_socket(const struct sockaddr_storage *a)
{
	int v6 = a->ss_family == AF_INET6, one = 1, rcvbuf = UDP_RCVBUF, fd, rc;

	fd = socket(a->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uv_translate_sys_error(errno);
	/* Best effort: the kernel caps it at net.core.rmem_max, and the
	 * default is still a working socket. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if ((v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)a, addr_len((const struct sockaddr *)a)) < 0) {
		rc = uv_translate_sys_error(errno);
		close(fd);
		return rc;
	}
	return fd;
}

/* ---- TCP ---- */

/* The per-client key: family byte + IPv4 or IPv6 address (IPv4-mapped IPv6
 * counts as IPv4). */
static void peer_key(const struct sockaddr_storage *ss, uint8_t key[17])
{
	memset(key, 0, 17);
	if (ss->ss_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (!memcmp(a, mapped, 12)) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 16);
		}
	}
}

/* FNV-1a over the key, seeded at start so a client cannot aim at one bucket. */
static uint32_t peer_bucket(const struct server *s, const uint8_t key[17])
{
	uint64_t h = 1469598103934665603ull ^ s->hash_seed;

	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (uint32_t)(h ^ h >> 32) & (CONN_BUCKETS - 1);
}

static size_t peer_count(const struct server *s, const uint8_t key[17], uint32_t b)
{
	size_t n = 0;

	for (const struct conn *c = s->buckets[b]; c; c = c->bnext)
		n += !memcmp(c->peer, key, 17);
	return n;
}

static void peer_unhash(struct conn *c)
{
	struct conn **pp = &c->srv->buckets[c->bucket];

	if (!c->hashed)
		return;
	while (*pp && *pp != c)
		pp = &(*pp)->bnext;
	if (*pp)
		*pp = c->bnext;
	c->hashed = 0;
}

static void conn_unlink(struct conn *c)
{
	struct server *s = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else if (s->head == c)
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (s->tail == c)
		s->tail = c->prev;
	c->prev = c->next = NULL;
}

static void conn_touch(struct conn *c)
{
	struct server *s = c->srv;

	conn_unlink(c);
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct server *s = c->srv;

	if (--c->open > 0 || c->refs > 0)
		return;
	free(c->in);
	free(c->out);
	free(c->wbuf);
	free(c);
	s->open--;
	server_maybe_free(s);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	conn_unlink(c);
	peer_unhash(c);
	c->srv->nconns--;
	uv_close((uv_handle_t *)&c->h, conn_closed);
	uv_close((uv_handle_t *)&c->idle, conn_closed);
}

static void conn_arm_timer(struct conn *c);

static void conn_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->partial_since) {
		/* Slowloris: a message begun must be finished within tcp_read_timeout,
		 * however the bytes trickle in. */
		log_debug("server", "closing TCP connection: message not finished within the read"
			  " timeout");
	} else if (c->refs > 0) {
		conn_arm_timer(c);  /* an upstream or UPDATE answer is on its way: not idle */
		return;
	} else {
		log_debug("server", "closing idle TCP connection");
	}
	c->srv->tcp_timeouts++;
	conn_close(c);
}

/* One timer per connection: while part of a message is buffered it runs to
 * partial_since + tcp_read_timeout (not moved by more bytes), otherwise to
 * now + tcp_idle_timeout. */
static void conn_arm_timer(struct conn *c)
{
	struct server *s = c->srv;
	uint64_t now = uv_now(s->loop), due;

	if (c->closing)
		return;
	if (c->in_len && !c->paused) {
		if (!c->partial_since)
			c->partial_since = now;
		due = c->partial_since + s->read_ms;
	} else {
		c->partial_since = 0;
		due = now + s->idle_ms;
	}
	if (uv_timer_start(&c->idle, conn_timeout, due > now ? due - now : 0, 0) < 0)
		conn_close(c);
}

static int grow(uint8_t **buf, size_t *cap, size_t need, size_t max)
{
	size_t nc = *cap ? *cap : TCP_IN_START;
	uint8_t *nb;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -ENOBUFS;
	while (nc < need)
		nc *= 2;
	nc = nc > max ? max : nc;
	nb = realloc(*buf, nc);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = nc;
	return 0;
}

static void conn_flush(struct conn *c);

static void conn_written(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = 0;
	c->wbuf_len = 0;
	if (status < 0 || c->closing) {
		conn_close(c);
		return;
	}
	conn_flush(c);
	if (c->eof && !c->writing && !c->out_len)
		conn_close(c);
}

static void conn_process(struct conn *c);
static void conn_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);
static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

/* Hands queued bytes to libuv; resumes reading once the queue drained. */
static void conn_flush(struct conn *c)
{
	if (!c->writing && c->out_len) {
		uint8_t *t = c->wbuf;
		size_t tc = c->wbuf_cap;
		uv_buf_t b;

		c->wbuf = c->out, c->wbuf_cap = c->out_cap, c->wbuf_len = c->out_len;
		c->out = t, c->out_cap = tc, c->out_len = 0;
		b = uv_buf_init((char *)c->wbuf, (unsigned)c->wbuf_len);
		c->wreq.data = c;
		if (uv_write(&c->wreq, (uv_stream_t *)&c->h, &b, 1, conn_written) < 0) {
			conn_close(c);
			return;
		}
		c->writing = 1;
	}
	if (c->paused && !c->eof && c->out_len < TCP_OUT_HIGH) {
		c->paused = 0;
		conn_process(c);
		if (!c->paused && !c->closing &&
		    uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read) < 0)
			conn_close(c);
	}
}

static int conn_send_max(struct conn *c, const uint8_t *msg, size_t len, size_t max)
{
	size_t done = 0;
	int rc;

	if (!c->writing && !c->out_len) {
		uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
		int n = uv_try_write((uv_stream_t *)&c->h, &b, 1);

		if (n > 0)
			done = (size_t)n;
		else if (n != UV_EAGAIN)
			return n;
		if (done == len)
			return 0;
	}
	rc = grow(&c->out, &c->out_cap, c->out_len + len - done, max);
	if (rc < 0)
		return rc;
	memcpy(c->out + c->out_len, msg + done, len - done);
	c->out_len += len - done;
	conn_flush(c);
	return 0;
}

static int conn_send(struct conn *c, const uint8_t *msg, size_t len)
{
	return conn_send_max(c, msg, len, TCP_OUT_MAX);
}

/* Answers every complete message in the input buffer, in order (RFC 7766 6.2.1.1). */
static void conn_process(struct conn *c)
{
	struct server *s = c->srv;
	uint64_t t0 = uv_hrtime(), nans = 0;
	size_t off = 0;

	while (!c->closing && c->in_len - off >= 2) {
		size_t mlen = (size_t)c->in[off] << 8 | c->in[off + 1], n;
		uint64_t tq;               /* the query log's clock, when sampled */

		if (mlen > s->max_msg) {
			log_debug("server", "closing TCP connection: message of %zu bytes is over"
				  " max_message_size", mlen);
			conn_close(c);
			return;
		}
		if (c->in_len - off < 2 + mlen) {
			if (grow(&c->in, &c->in_cap, 2 + mlen, MSG_MAX + 2) < 0)
				conn_close(c);
			break;
		}
		if (c->out_len >= TCP_OUT_HIGH) {
			c->paused = 1;
			uv_read_stop((uv_stream_t *)&c->h);
			break;
		}
		if (is_update((const char *)c->in + off + 2, mlen) && s->update_cb) {
			struct server_req *r = req_new(s, NULL, NULL, c);

			off += 2 + mlen;
			if (r)
				s->update_cb(s->update_arg, r, c->in + off - mlen, mlen);
			continue;
		}
		if (s->xfr_cb && xfr_is_transfer(c->in + off + 2, mlen)) {
			struct server_req *r = req_new(s, NULL, NULL, c);

			off += 2 + mlen;
			if (r)
				s->xfr_cb(s->xfr_arg, r, c->in + off - mlen, mlen, 1);
			continue;
		}
		s->qctx.now = uv_now(s->loop) / 1000;
		s->qctx.wall = (uint32_t)time(NULL);
		s->qctx.client = (const struct sockaddr *)&c->peer_addr;
		tq = qlog_sampled(&s->qlog) ? uv_hrtime() : 0;
		n = s->view ? query_process(&s->qctx, s->view, c->in + off + 2, mlen,
					    s->wscratch + 2, MSG_MAX, 1) : 0;
		if (tq && n)
			qlog_write(s->qctx.client, c->in + off + 2, mlen, s->wscratch + 2, n,
				   uv_hrtime() - tq, 1);
		off += 2 + mlen;
		if (!n) {
			struct server_req *r;

			if (s->qctx.fwd.pending && s->forward_cb && (r = req_new(s, NULL, NULL, c)))
				s->forward_cb(s->forward_arg, r, &s->qctx.fwd);
			continue;
		}
		s->wscratch[0] = (uint8_t)(n >> 8);
		s->wscratch[1] = (uint8_t)n;
		query_stats_answer(&s->qctx.stats, s->wscratch + 2, n);
		nans++;
		if (conn_send(c, s->wscratch, n + 2) < 0)
			conn_close(c);
	}
	if (nans)
		expo_hist_observe(&s->latency, (double)(uv_hrtime() - t0) / 1e9, nans);
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		c->partial_since = 0;  /* a message was finished: the next starts now */
	}
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	if (c->in_len == c->in_cap && grow(&c->in, &c->in_cap, c->in_len + 1, MSG_MAX + 2) < 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = (char *)c->in + c->in_len;
	buf->len = c->in_cap - c->in_len;
}

static void conn_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = h->data;

	if (nread < 0) {
		/* EOF: answers already queued still go out, then we close. */
		if (nread == UV_EOF && (c->writing || c->out_len)) {
			uv_read_stop(h);
			c->eof = 1;
			return;
		}
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	c->in_len += (size_t)nread;
	conn_touch(c);
	conn_process(c);
	conn_arm_timer(c);
}

/* The least recently active connection with no query in progress: no
 * answer pending (UPDATE or upstream), none being written. A partial message
 * is not a query yet, so a slowloris connection can be evicted. */
static struct conn *evictable(struct server *s)
{
	for (struct conn *c = s->head; c; c = c->next)
		if (!c->refs && !c->writing && !c->out_len && !c->eof)
			return c;
	return NULL;
}

/* Admits the accepted connection c or closes it: at most
 * tcp_max_connections_per_client from one address; at tcp_max_connections
 * the longest idle connection makes room (RFC 7766 6.2.3), and when every
 * connection has a query in progress the new one is closed. */
static int tcp_admit(struct server *s, struct conn *c)
{
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	struct conn *victim;

	if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&peer, &plen) < 0)
		return -1;
	peer_key(&peer, c->peer);
	c->peer_addr = peer;
	c->bucket = peer_bucket(s, c->peer);
	if (peer_count(s, c->peer, c->bucket) >= s->max_per_client) {
		log_debug("server", "refusing TCP connection: tcp_max_connections_per_client reached");
		s->tcp_refused++;
		return -1;
	}
	if (s->nconns > s->max_conns) {  /* nconns counts c already */
		if (!(victim = evictable(s))) {
			log_debug("server", "refusing TCP connection: every connection is busy");
			s->tcp_refused++;
			return -1;
		}
		s->tcp_evicted++;
		conn_close(victim);
	}
	s->tcp_accepted++;
	c->bnext = s->buckets[c->bucket];
	s->buckets[c->bucket] = c;
	c->hashed = 1;
	return 0;
}

static void tcp_accept(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct server *s = l->srv;
	struct conn *c;

	if (status < 0) {
		log_warn("server", "accept failed: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || uv_tcp_init(s->loop, &c->h) < 0) {
		free(c);
		return;
	}
	c->srv = s;
	c->h.data = c;
	c->idle.data = c;
	c->open = 1;
	s->open++;
	s->nconns++;
	if (uv_timer_init(s->loop, &c->idle) < 0) {
		s->nconns--;
		c->closing = 1;
		uv_close((uv_handle_t *)&c->h, conn_closed);
		return;
	}
	c->open = 2;
	if (uv_accept(server, (uv_stream_t *)&c->h) < 0 || tcp_admit(s, c) < 0) {
		conn_close(c);
		return;
	}
	conn_touch(c);
	if (uv_read_start((uv_stream_t *)&c->h, conn_alloc, conn_read) < 0) {
		conn_close(c);
		return;
	}
	if (uv_tcp_nodelay(&c->h, 1) < 0)
		log_debug("server", "TCP_NODELAY not set");
	conn_arm_timer(c);
}

/* ---- binding ---- */

static const char *bind_hint(int rc, uint16_t port)
{
	if (rc == UV_EADDRINUSE)
		return "address already in use (another DNS server is running there?)";
	if (rc == UV_EACCES || rc == UV_EPERM)
		return port < 1024 ? "permission denied: ports below 1024 need root or "
				     "CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep meshdns)"
				   : "permission denied";
	if (rc == UV_EADDRNOTAVAIL)
		return "address not available: no interface of this host has it";
	return uv_strerror(rc);
}

static int bind_one(struct server *s, struct listener *l, const struct sockaddr_storage *want,
		    char *errbuf, size_t errlen)
{
	struct sockaddr_storage a = *want;
	int v6 = a.ss_family == AF_INET6, rc;
	char text[ADDR_TEXT_MAX];
	socklen_t alen = sizeof(l->addr);

	l->srv = s;
	l->udp.data = l;
	l->tcp.data = l;
	if ((rc = l->fd = udp_socket(&a)) < 0)
		goto fail;
	if (getsockname(l->fd, (struct sockaddr *)&l->addr, &alen) < 0) {
		rc = uv_translate_sys_error(errno);
		close(l->fd);
		l->fd = -1;
		goto fail;
	}
	if ((rc = uv_poll_init_socket(s->loop, &l->udp, l->fd)) < 0) {
		close(l->fd);
		l->fd = -1;
		goto fail;
	}
	s->open++;
	l->open++;
	if ((rc = uv_tcp_init(s->loop, &l->tcp)) < 0)
		goto fail;
	s->open++;
	l->open++;
	rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&l->addr, v6 ? UV_TCP_IPV6ONLY : 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 128, tcp_accept);
	if (rc == 0)
		rc = uv_poll_start(&l->udp, UV_READABLE, udp_readable);
	if (rc == 0)
		return 0;
fail:
	snprintf(errbuf, errlen, "cannot listen on %s: %s", addr_format((struct sockaddr *)want, text),
		 bind_hint(rc, addr_port((struct sockaddr *)want)));
	return rc;
}

/* Closes l's handles; l is freed by the last close callback (or now, when
 * no handle was ever opened). */
static void close_listener(struct listener *l)
{
	if (!l)
		return;
	if (l->open == 0) {
		free(l);
		return;
	}
	if (l->open && l->udp.loop && !uv_is_closing((uv_handle_t *)&l->udp))
		uv_close((uv_handle_t *)&l->udp, handle_closed);
	if (l->open > 1 && l->tcp.loop && !uv_is_closing((uv_handle_t *)&l->tcp))
		uv_close((uv_handle_t *)&l->tcp, handle_closed);
}

int server_new(struct server **out, uv_loop_t *loop, const struct config *cfg,
	       char *errbuf, size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	int rc = 0;

	*out = NULL;
	if (!s || !(s->ls = calloc(cfg->nlisten, sizeof(*s->ls))) ||
	    !(s->slots = udp_slots_new())) {
		if (s)
			free(s->ls);
		free(s);
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	s->loop = loop;
	if (getrandom(&s->hash_seed, sizeof(s->hash_seed), 0) != sizeof(s->hash_seed))
		s->hash_seed = uv_hrtime();
	query_ctx_init(&s->qctx, 0);
	expo_hist_init(&s->latency, server_latency_bounds, SERVER_LATENCY_BUCKETS);
	server_set_limits(s, cfg);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		s->nls++;
		/* Port 0: UDP picks the port; retry when TCP finds it taken. */
		for (int tries = 0; tries < 16; tries++) {
			if (!(s->ls[i] = calloc(1, sizeof(*s->ls[i])))) {
				rc = -ENOMEM;
				break;
			}
			rc = bind_one(s, s->ls[i], &cfg->listen[i], errbuf, errlen);
			if (rc != UV_EADDRINUSE || addr_port((struct sockaddr *)&cfg->listen[i]))
				break;
			close_listener(s->ls[i]); /* freed once its handles closed */
			s->ls[i] = NULL;
		}
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		server_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* DNS Cookies: the configured secret, or a random one at start; a reload
 * (SIGHUP) rotates it, and the secret before stays accepted until the next
 * rotation (RFC 9018 4.3 rollover). */
static void cookie_secret_set(struct server *s, const struct config *cfg)
{
	struct cookie_secrets *k = &s->qctx.cookies;
	uint8_t fresh[COOKIE_SECRET_LEN];

	k->udp_cap = cfg->udp_payload_without_cookie;
	if (cfg->has_cookie_secret) {
		memcpy(fresh, cfg->cookie_secret, sizeof(fresh));
	} else if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh)) {
		log_err("server", "no random bytes for the DNS cookie secret: %s; cookies are off",
			strerror(errno));
		k->on = 0;
		return;
	}
	if (!s->cookie_set || memcmp(fresh, k->cur, sizeof(fresh))) {
		if (s->cookie_set) {
			memcpy(k->prev, k->cur, sizeof(k->prev));
			k->has_prev = 1;
			log_info("server", "DNS cookie secret rotated");
		}
		memcpy(k->cur, fresh, sizeof(k->cur));
		s->cookie_set = 1;
	}
	k->on = cfg->cookies;
}

void server_set_limits(struct server *s, const struct config *cfg)
{
	s->idle_ms = cfg->tcp_idle_timeout_ms;
	s->read_ms = cfg->tcp_read_timeout_ms;
	s->max_conns = cfg->tcp_max_connections;
	s->max_per_client = cfg->tcp_max_connections_per_client;
	s->max_msg = cfg->max_message_size;
	qlog_set(&s->qlog, cfg->query_log, cfg->query_log_sample);
	cookie_secret_set(s, cfg);
	if (cfg->rrl_rate != s->rrl.rate || cfg->rrl_slip != s->rrl.slip ||
	    cfg->rrl_ipv4_prefix != s->rrl.v4_prefix || cfg->rrl_ipv6_prefix != s->rrl.v6_prefix ||
	    (s->rrl.t && cfg->rrl_table_size > s->rrl.mask + 1)) {
		struct rrl nr;

		if (rrl_init(&nr, cfg->rrl_table_size, cfg->rrl_rate, cfg->rrl_slip,
			     cfg->rrl_ipv4_prefix, cfg->rrl_ipv6_prefix, s->hash_seed) < 0) {
			log_err("server", "out of memory for the RRL table: rate limiting keeps its"
				" old settings");
		} else {
			rrl_close(&s->rrl);
			s->rrl = nr;
		}
	}
}

void server_set_view(struct server *s, const struct view *v)
{
	__atomic_store_n(&s->view, v, __ATOMIC_RELEASE);
}

void server_describe(const struct server *s, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->nls && o < outlen; i++) {
		char text[ADDR_TEXT_MAX];
		int n = snprintf(out + o, outlen - o, " listen=%s",
				 addr_format((const struct sockaddr *)&s->ls[i]->addr, text));

		if (n < 0)
			break;
		o += (size_t)n;
	}
}

const struct query_stats *server_stats(const struct server *s)
{
	return &s->qctx.stats;
}

size_t server_tcp_connections(const struct server *s)
{
	return s->nconns;
}

const double server_latency_bounds[SERVER_LATENCY_BUCKETS] = {
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1
};

void server_get_metrics(const struct server *s, struct server_metrics *m)
{
	m->latency = &s->latency;
	m->tcp_open = s->nconns;
	m->tcp_accepted = s->tcp_accepted;
	m->tcp_refused = s->tcp_refused;
	m->tcp_evicted = s->tcp_evicted;
	m->tcp_timeouts = s->tcp_timeouts;
}

void server_set_update_cb(struct server *s, server_update_cb cb, void *arg)
{
	s->update_cb = cb;
	s->update_arg = arg;
}

void server_set_xfr_cb(struct server *s, server_xfr_cb cb, void *arg)
{
	s->xfr_cb = cb;
	s->xfr_arg = arg;
}

int server_reply_part(struct server_req *r, const uint8_t *msg, size_t len)
{
	struct server *s = r->srv;
	struct conn *c = r->conn;
	uint8_t pre[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (!len || len > MSG_MAX)
		return -EINVAL;
	if (!c) {
		if (s->closing || r->l->fd < 0)
			return -EPIPE;
		if (sendto(r->l->fd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&r->peer,
			   addr_len((struct sockaddr *)&r->peer)) < 0)
			s->qctx.stats.dropped++;
		return 0;
	}
	if (c->closing)
		return -EPIPE;
	/* Prefix and message queued back to back: two sends, one order. */
	if (conn_send_max(c, pre, 2, TCP_XFR_MAX) < 0 ||
	    conn_send_max(c, msg, len, TCP_XFR_MAX) < 0) {
		conn_close(c);
		return -EPIPE;
	}
	return 0;
}

void server_set_forward(struct server *s, struct cache *cache, server_forward_cb cb, void *arg)
{
	s->qctx.cache = cache;
	s->forward_cb = cb;
	s->forward_arg = arg;
}

void server_reply(struct server_req *r, const uint8_t *msg, size_t len)
{
	struct server *s = r->srv;
	struct conn *c = r->conn;

	/* Answers to queries (not UPDATEs) that waited for the upstream. */
	if (len >= 12 && (msg[2] & 0xF8) == 0x80) {
		query_stats_answer(&s->qctx.stats, msg, len);
		expo_hist_observe(&s->latency, (double)(uv_hrtime() - r->t0) / 1e9, 1);
	}
	if (c) {
		c->refs--;
		if (len && len <= MSG_MAX && !c->closing) {
			s->wscratch[0] = (uint8_t)(len >> 8);
			s->wscratch[1] = (uint8_t)len;
			memcpy(s->wscratch + 2, msg, len);
			if (conn_send(c, s->wscratch, len + 2) < 0)
				conn_close(c);
		}
		if (c->closing && c->refs == 0 && c->open == 0) {
			c->open = 1;       /* both handles already closed: free now */
			conn_closed((uv_handle_t *)&c->h);
		}
	} else if (len && !s->closing && r->l->fd >= 0) {
		if (sendto(r->l->fd, msg, len, MSG_DONTWAIT, (struct sockaddr *)&r->peer,
			   addr_len((struct sockaddr *)&r->peer)) < 0)
			s->qctx.stats.dropped++;
	}
	free(r);
	s->pending--;
	server_maybe_free(s);
}

void server_close(struct server *s)
{
	s->closing = 1;
	for (size_t i = 0; i < s->nls; i++)
		close_listener(s->ls[i]);
	while (s->head)
		conn_close(s->head);
	server_maybe_free(s);
}
