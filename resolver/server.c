/* server.c - UDP and TCP listeners for the resolver (see server.h).
 *
 * UDP sockets are our own, watched with uv_poll: when one is readable, the
 * main loop's udp_engine (udp.h) answers its datagrams in batches. With
 * `threads: N` the UDP sockets are bound with SO_REUSEPORT and N-1 worker
 * threads (workers.h) serve sockets of their own on the same addresses; what
 * they hand on comes back here through udp_handoff(). TCP connections own
 * bounded, lazily grown buffers; a response is first tried with uv_try_write
 * and only what the kernel does not take is queued. */
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
#include "server.h"
#include "udp.h"
#include "workers.h"
#include "xfr.h"

#define MSG_MAX 65535
#define TCP_IN_START 4096
#define TCP_OUT_HIGH 65536       /* stop answering (and reading) above this */
#define TCP_OUT_MAX (TCP_OUT_HIGH + MSG_MAX + 2)
#define TCP_XFR_MAX (256u << 20)  /* a zone transfer queues all its messages */
#define CONN_BUCKETS 4096        /* per-address connection counting (a power of 2) */
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
	struct udp_engine eng;      /* the main loop's; its qctx also answers TCP */
	struct workers *workers;    /* threads 2..N; NULL with threads: 1 */
	struct expo_hist lat_sum;   /* server_get_metrics: every thread's latency */
	unsigned threads;           /* the config's threads */
	struct udp_settings settings;  /* the main engine's, from the config */
	uint32_t idle_ms, read_ms, max_conns, max_per_client;
	uint64_t hash_seed;
	struct conn *buckets[CONN_BUCKETS];
	uint64_t tcp_refused, tcp_evicted, tcp_timeouts, tcp_accepted;
	int cookie_set;             /* settings.cookies.cur holds a secret */
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
	uint8_t hout[UDP_OUT_MAX];  /* answers to handed-on datagrams */
	uint8_t wscratch[MSG_MAX + 2];
};

static void server_maybe_free(struct server *s)
{
	if (s->closing && s->open == 0 && s->pending == 0) {
		udp_engine_close(&s->eng);
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

/* The main engine's defer callback (sock: the listener): an UPDATE, a
 * transfer or an upstream question gets a pending request. */
static void udp_defer(void *arg, void *sock, enum udp_defer kind, const struct sockaddr *peer,
		      const uint8_t *msg, size_t len)
{
	struct server *s = arg;
	struct listener *l = sock;
	struct server_req *r = req_new(s, l, peer, NULL);

	if (!r)
		return;
	switch (kind) {
	case UDP_DEFER_UPDATE:
		s->update_cb(s->update_arg, r, msg, len);
		break;
	case UDP_DEFER_XFR:
		s->xfr_cb(s->xfr_arg, r, msg, len, 0);
		break;
	case UDP_DEFER_FORWARD:
		if (s->forward_cb) {
			s->forward_cb(s->forward_arg, r, &s->eng.qctx.fwd);
			break;
		}
		/* fall through */
	case UDP_DEFER_OUTSIDE:  /* the main engine has the cache: not reached */
		server_reply(r, NULL, 0);
		break;
	}
}

static void udp_readable(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;
	struct server *s = l->srv;

	if (status < 0 || !(events & UV_READABLE))
		return;
	udp_engine_run(&s->eng, l->fd, l, &s->view);
}

/* A datagram a worker thread handed on (workers_handoff_cb): answered here
 * as if it had come to our socket on the same address. */
static void udp_handoff(void *arg, size_t addr_index, const struct sockaddr *peer,
			const uint8_t *msg, size_t len)
{
	struct server *s = arg;
	struct listener *l = addr_index < s->nls ? s->ls[addr_index] : NULL;
	size_t n;

	if (!l || l->fd < 0 || s->closing || !s->view)
		return;
	n = udp_engine_answer(&s->eng, l, s->view, peer, msg, len, s->hout);
	if (n && sendto(l->fd, s->hout, n, MSG_DONTWAIT, peer, addr_len(peer)) < 0)
		s->eng.qctx.stats.dropped++;
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

/* Appends msg to the output queue (at most max bytes queued); conn_push
 * sends it. The answers to the queries of one read are queued together and
 * pushed once: one write(2), not one per answer. */
static int conn_queue(struct conn *c, const uint8_t *msg, size_t len, size_t max)
{
	int rc = grow(&c->out, &c->out_cap, c->out_len + len, max);

	if (rc < 0)
		return rc;
	memcpy(c->out + c->out_len, msg, len);
	c->out_len += len;
	return 0;
}

/* Sends the queue: straight to the socket when no write is in flight, what
 * the kernel does not take through uv_write. <0: the connection failed (the
 * caller closes it). */
static int conn_push(struct conn *c)
{
	if (c->closing)
		return 0;
	if (!c->writing && c->out_len) {
		uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
		int n = uv_try_write((uv_stream_t *)&c->h, &b, 1);

		if (n > 0) {
			memmove(c->out, c->out + n, c->out_len - (size_t)n);
			c->out_len -= (size_t)n;
		} else if (n != UV_EAGAIN) {
			return n;
		}
	}
	conn_flush(c);
	return 0;
}

static int conn_send_max(struct conn *c, const uint8_t *msg, size_t len, size_t max)
{
	int rc = conn_queue(c, msg, len, max);

	return rc < 0 ? rc : conn_push(c);
}

static int conn_send(struct conn *c, const uint8_t *msg, size_t len)
{
	return conn_send_max(c, msg, len, TCP_OUT_MAX);
}

/* Answers every complete message in the input buffer, in order (RFC 7766 6.2.1.1). */
static void conn_process(struct conn *c)
{
	struct server *s = c->srv;
	struct query_ctx *q = &s->eng.qctx;
	uint64_t t0 = uv_hrtime(), nans = 0;
	size_t off = 0;

	while (!c->closing && c->in_len - off >= 2) {
		size_t mlen = (size_t)c->in[off] << 8 | c->in[off + 1], n;
		uint64_t tq;               /* the query log's clock, when sampled */

		if (mlen > s->eng.max_msg) {
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
		if (s->update_cb && mlen >= 12 && (c->in[off + 4] & 0xF8) == (5 << 3)) {
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
		q->now = uv_now(s->loop) / 1000;
		q->wall = (uint32_t)time(NULL);
		q->client = (const struct sockaddr *)&c->peer_addr;
		tq = qlog_sampled(&s->eng.qlog) ? uv_hrtime() : 0;
		n = s->view ? query_process(q, s->view, c->in + off + 2, mlen,
					    s->wscratch + 2, MSG_MAX, 1) : 0;
		if (tq && n)
			qlog_write(q->client, c->in + off + 2, mlen, s->wscratch + 2, n,
				   uv_hrtime() - tq, 1);
		off += 2 + mlen;
		if (!n) {
			struct server_req *r;

			if (q->fwd.pending && s->forward_cb && (r = req_new(s, NULL, NULL, c)))
				s->forward_cb(s->forward_arg, r, &q->fwd);
			continue;
		}
		s->wscratch[0] = (uint8_t)(n >> 8);
		s->wscratch[1] = (uint8_t)n;
		query_stats_answer(&q->stats, s->wscratch + 2, n);
		nans++;
		if (conn_queue(c, s->wscratch, n + 2, TCP_OUT_MAX) < 0)
			conn_close(c);
	}
	if (nans) {
		if (conn_push(c) < 0)
			conn_close(c);
		expo_hist_observe(&s->eng.latency, (double)(uv_hrtime() - t0) / 1e9, nans);
	}
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
	if ((rc = l->fd = udp_socket(&a, s->threads > 1)) < 0)
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

static void worker_settings(const struct server *s, struct udp_settings *st);

/* Threads 2..N, on the addresses the listeners bound (ports resolved). */
static int start_workers(struct server *s, char *errbuf, size_t errlen)
{
	struct sockaddr_storage addrs[WORKERS_ADDRS_MAX];
	struct udp_settings st;

	if (s->nls > WORKERS_ADDRS_MAX) {
		snprintf(errbuf, errlen, "threads: at most %d listen addresses", WORKERS_ADDRS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < s->nls; i++)
		addrs[i] = s->ls[i]->addr;
	worker_settings(s, &st);
	return workers_start(&s->workers, s->loop, s->threads - 1, addrs, s->nls, &st, udp_handoff,
			     s, errbuf, errlen);
}

int server_new(struct server **out, uv_loop_t *loop, const struct config *cfg,
	       char *errbuf, size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	int rc = 0;

	*out = NULL;
	if (!s || !(s->ls = calloc(cfg->nlisten, sizeof(*s->ls))) ||
	    udp_engine_init(&s->eng, 0) < 0) {
		if (s)
			free(s->ls);
		free(s);
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	s->loop = loop;
	if (getrandom(&s->hash_seed, sizeof(s->hash_seed), 0) != sizeof(s->hash_seed))
		s->hash_seed = uv_hrtime();
	s->eng.seed = s->hash_seed;
	s->eng.defer = udp_defer;
	s->eng.defer_arg = s;
	s->threads = cfg->threads;
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
	if (rc == 0 && s->threads > 1)
		rc = start_workers(s, errbuf, errlen);
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
	struct cookie_secrets *k = &s->settings.cookies;
	uint8_t fresh[COOKIE_SECRET_LEN];

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

/* What the worker threads need of the main engine's settings; names
 * outside our namespaces come here when the main loop has the cache. */
static void worker_settings(const struct server *s, struct udp_settings *st)
{
	*st = s->settings;
	st->defer_outside = s->eng.qctx.cache != NULL;
}

void server_set_limits(struct server *s, const struct config *cfg)
{
	s->idle_ms = cfg->tcp_idle_timeout_ms;
	s->read_ms = cfg->tcp_read_timeout_ms;
	s->max_conns = cfg->tcp_max_connections;
	s->max_per_client = cfg->tcp_max_connections_per_client;
	udp_settings_of(&s->settings, cfg);   /* leaves the secrets to the rotation */
	cookie_secret_set(s, cfg);
	udp_engine_apply(&s->eng, &s->settings);
	if (s->workers) {
		struct udp_settings st;

		worker_settings(s, &st);
		workers_apply(s->workers, &st);
	}
}

void server_set_view(struct server *s, const struct view *v)
{
	__atomic_store_n(&s->view, v, __ATOMIC_RELEASE);
	if (s->workers)
		workers_set_view(s->workers, v);
}

void server_retire_view(struct server *s, struct view *old)
{
	if (s && s->workers)
		workers_retire(s->workers, old);
	else
		view_free(old);
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

void server_stats(const struct server *s, struct query_stats *out, uint64_t *per_thread,
		  size_t nper)
{
	*out = s->eng.qctx.stats;
	if (nper)
		per_thread[0] = s->eng.qctx.stats.queries;
	if (s->workers)
		workers_add_stats(s->workers, out, NULL, nper ? per_thread + 1 : NULL,
				  nper ? nper - 1 : 0);
}

unsigned server_threads(const struct server *s)
{
	return s->threads;
}

size_t server_tcp_connections(const struct server *s)
{
	return s->nconns;
}

const double server_latency_bounds[SERVER_LATENCY_BUCKETS] = {
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1
};

void server_get_metrics(struct server *s, struct server_metrics *m)
{
	s->lat_sum = s->eng.latency;
	if (s->workers)
		workers_add_stats(s->workers, NULL, &s->lat_sum, NULL, 0);
	m->latency = &s->lat_sum;
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
	s->eng.take_update = cb != NULL;
}

void server_set_xfr_cb(struct server *s, server_xfr_cb cb, void *arg)
{
	s->xfr_cb = cb;
	s->xfr_arg = arg;
	s->eng.take_xfr = cb != NULL;
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
			s->eng.qctx.stats.dropped++;
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
	s->eng.qctx.cache = cache;
	s->forward_cb = cb;
	s->forward_arg = arg;
	if (s->workers) {
		struct udp_settings st;

		worker_settings(s, &st);
		workers_apply(s->workers, &st);
	}
}

void server_reply(struct server_req *r, const uint8_t *msg, size_t len)
{
	struct server *s = r->srv;
	struct conn *c = r->conn;

	/* Answers to queries (not UPDATEs) that waited for the upstream. */
	if (len >= 12 && (msg[2] & 0xF8) == 0x80) {
		query_stats_answer(&s->eng.qctx.stats, msg, len);
		expo_hist_observe(&s->eng.latency, (double)(uv_hrtime() - r->t0) / 1e9, 1);
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
			s->eng.qctx.stats.dropped++;
	}
	free(r);
	s->pending--;
	server_maybe_free(s);
}

void server_close(struct server *s)
{
	s->closing = 1;
	if (s->workers)
		workers_stop(s->workers);
	s->workers = NULL;
	for (size_t i = 0; i < s->nls; i++)
		close_listener(s->ls[i]);
	while (s->head)
		conn_close(s->head);
	server_maybe_free(s);
}
