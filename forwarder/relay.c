/* relay.c - both-way byte relay with bounded memory (see relay.h). */
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "relay.h"

#define POOL_MAX 1024            /* free buffers kept for reuse (16 MiB) */

/* Free buffers, linked through their first bytes. One loop thread uses it. */
static void *pool;
static unsigned pooled;

static char *buf_get(void)
{
	void *b = pool;

	if (b) {
		memcpy(&pool, b, sizeof(pool));
		pooled--;
		return b;
	}
	return malloc(RELAY_BUF);
}

static void buf_put(char **bp)
{
	char *b = *bp;

	*bp = NULL;
	if (!b)
		return;
	if (pooled >= POOL_MAX) {
		free(b);
		return;
	}
	memcpy(b, &pool, sizeof(pool));
	pool = b;
	pooled++;
}

static void handle_closed(uv_handle_t *h)
{
	struct relay *r = h->data;

	if (--r->open == 0) {
		buf_put(&r->up.buf);     /* writes were cancelled before this */
		buf_put(&r->down.buf);
		r->done(r);
	}
}

void relay_close(struct relay *r)
{
	if (r->closing)
		return;
	r->closing = 1;
	uv_close((uv_handle_t *)&r->client, handle_closed);
	uv_close((uv_handle_t *)&r->upstream, handle_closed);
	uv_close((uv_handle_t *)&r->idle, handle_closed);
}

void relay_abort(struct relay *r, int client_open, int upstream_open, relay_done_cb done)
{
	r->done = done;
	r->closing = 1;
	r->open = client_open + upstream_open;
	r->client.data = r->upstream.data = r;
	if (client_open)
		uv_close((uv_handle_t *)&r->client, handle_closed);
	if (upstream_open)
		uv_close((uv_handle_t *)&r->upstream, handle_closed);
	if (r->open == 0)
		done(r);
}

static void touch(struct relay *r)
{
	uv_timer_again(&r->idle);
}

static void on_idle(uv_timer_t *t)
{
	struct relay *r = t->data;

	log_debug("relay", "closing an idle connection");
	relay_close(r);
}

static void maybe_end(struct relay *r)
{
	if (r->up.shut && r->down.shut)
		relay_close(r);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct relay_dir *d = req->data;

	d->shut = 1;
	if (status < 0 && status != UV_ECANCELED)
		relay_close(d->r);
	else if (!d->r->closing)
		maybe_end(d->r);
}

/* The reading side said EOF and everything is written: shut the other. */
static void pass_eof(struct relay_dir *d)
{
	d->sreq.data = d;
	if (uv_shutdown(&d->sreq, d->to, on_shutdown) < 0)
		relay_close(d->r);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct relay *r = h->data;
	struct relay_dir *d = (uv_tcp_t *)h == &r->client ? &r->up : &r->down;

	(void)hint;
	if (!d->buf)
		d->buf = buf_get();
	buf->base = d->buf;
	buf->len = d->buf ? RELAY_BUF : 0;   /* 0: libuv reports UV_ENOBUFS */
}

static void on_written(uv_write_t *req, int status)
{
	struct relay_dir *d = req->data;

	d->writing = 0;
	if (status < 0 || d->r->closing) {
		relay_close(d->r);
		return;
	}
	buf_put(&d->buf);
	if (d->eof)
		pass_eof(d);
	else if (uv_read_start(d->from, on_alloc, on_read) < 0)
		relay_close(d->r);
}

static void forward(struct relay_dir *d, size_t n)
{
	uv_buf_t b = uv_buf_init(d->buf, (unsigned)n);
	int w = uv_try_write(d->to, &b, 1);

	if (w < 0 && w != UV_EAGAIN) {
		relay_close(d->r);
		return;
	}
	d->bytes += n;
	if (w == (int)n) {
		buf_put(&d->buf);        /* all out: nothing to hold while idle */
		return;
	}
	w = w < 0 ? 0 : w;
	/* The kernel took part of it: write the rest and stop reading meanwhile. */
	b = uv_buf_init(d->buf + w, (unsigned)(n - (size_t)w));
	d->wreq.data = d;
	if (uv_read_stop(d->from) < 0 || uv_write(&d->wreq, d->to, &b, 1, on_written) < 0) {
		relay_close(d->r);
		return;
	}
	d->writing = 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct relay *r = s->data;
	struct relay_dir *d = (uv_tcp_t *)s == &r->client ? &r->up : &r->down;

	if (r->closing)
		return;
	if (nread <= 0 && buf->base == d->buf && !d->writing)
		buf_put(&d->buf);        /* EOF, error or nothing read: give it back */
	if (nread > 0) {
		touch(r);
		forward(d, (size_t)nread);
	} else if (nread == UV_EOF) {
		d->eof = 1;
		uv_read_stop(s);
		if (!d->writing)
			pass_eof(d);
	} else if (nread < 0) {
		relay_close(r); /* a reset on one side closes both */
	}
}

int relay_start(struct relay *r, uint32_t idle_ms, relay_done_cb done)
{
	int rc;

	r->done = done;
	r->idle_ms = idle_ms;
	r->client.data = r->upstream.data = r->idle.data = r;
	r->up.r = r->down.r = r;
	r->up.from = (uv_stream_t *)&r->client;
	r->up.to = (uv_stream_t *)&r->upstream;
	r->down.from = (uv_stream_t *)&r->upstream;
	r->down.to = (uv_stream_t *)&r->client;
	r->open = 2;
	if ((rc = uv_timer_init(r->client.loop, &r->idle)) < 0) {
		relay_abort(r, 1, 1, done);
		return rc;
	}
	r->open = 3;
	if ((rc = uv_timer_start(&r->idle, on_idle, idle_ms, idle_ms)) < 0 ||
	    (rc = uv_read_start(r->up.from, on_alloc, on_read)) < 0 ||
	    (rc = uv_read_start(r->down.from, on_alloc, on_read)) < 0) {
		relay_close(r);
		return rc;
	}
	return 0;
}
