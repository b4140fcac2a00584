/* workers.c - the extra UDP threads of `threads: N` (see workers.h).
 *
 * Memory ordering of the view's reclamation. The main loop publishes a view
 * with a store, then increments gen, then compares each worker's seen with
 * it; a worker stores seen = gen before it loads the view, and stores
 * QS_OFFLINE before it sleeps. All are sequentially consistent, so a worker
 * whose seen is at least the generation of a replacement, or offline, can
 * only load the replacement or a newer view. A view retired at generation g
 * is freed when every worker's seen is >= g (offline counts as infinite).
 * A busy worker announces at every wake-up (each at most UDP_ROUNDS
 * batches), an idle one is offline, so views wait milliseconds.
 *
 * The hand-off queue is two buffers a worker: the worker appends under the
 * mutex, the main loop swaps the buffers under it and drains its own copy
 * without it. A full queue drops the datagram (the client retries), so the
 * memory it holds is bounded. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "addr.h"
#include "log.h"
#include "server.h"
#include "workers.h"

#define QS_OFFLINE UINT64_MAX
#define HANDOFF_BYTES (256u << 10)  /* per buffer, two a worker */
#define RECLAIM_MS 10
#define SNAPSHOT_MS 5

struct handoff {
	size_t used;
	uint8_t buf[HANDOFF_BYTES];
};

/* One record of a hand-off buffer; msg follows, padded to 8 bytes. */
struct handoff_rec {
	uint32_t len, addr_index;
	struct sockaddr_storage peer;
};

struct worker {
	struct workers *ws;
	unsigned index;                /* 1..N-1 (0 is the main loop) */
	pthread_t tid;
	int started, mu_ok;
	int fds[WORKERS_ADDRS_MAX];
	struct udp_engine eng;
	uint64_t last_snap_ms;
	/* Written by the worker, read by the main loop. */
	_Alignas(64) uint64_t seen;
	/* Guarded by mu. */
	pthread_mutex_t mu;
	int has_pending;               /* also read without mu, atomically */
	struct udp_settings pending;
	struct query_stats snap;
	struct expo_hist snap_lat;
	struct handoff *q, *spare;
	uint64_t handoff_dropped;
};

struct retired {
	struct view *v;
	uint64_t gen;
	struct retired *next;
};

struct workers {
	uv_loop_t *loop;
	uv_async_t async;
	uv_timer_t reclaim;
	int open;                      /* handles not closed */
	int efd;                       /* wakes the workers to stop */
	int stop;
	const struct view *view;
	uint64_t gen;
	struct retired *retired;
	size_t naddrs;
	workers_handoff_cb cb;
	void *arg;
	unsigned n;                    /* workers (threads - 1) */
	struct worker *w;
};

/* ---- on the worker's thread ---- */

/* The engine's defer callback: every kind goes to the main loop. */
static void handoff(void *arg, void *sock, enum udp_defer kind, const struct sockaddr *peer,
		    const uint8_t *msg, size_t len)
{
	struct worker *w = arg;
	struct handoff_rec rec = { .len = (uint32_t)len, .addr_index = (uint32_t)(uintptr_t)sock };
	size_t need = (sizeof(rec) + len + 7) & ~(size_t)7;
	int queued = 0;

	(void)kind;
	memcpy(&rec.peer, peer, addr_len(peer));
	if (pthread_mutex_lock(&w->mu) != 0)
		return;
	if (w->q->used + need <= HANDOFF_BYTES) {
		memcpy(w->q->buf + w->q->used, &rec, sizeof(rec));
		memcpy(w->q->buf + w->q->used + sizeof(rec), msg, len);
		w->q->used += need;
		queued = 1;
	} else {
		w->handoff_dropped++;
	}
	pthread_mutex_unlock(&w->mu);
	if (queued)
		uv_async_send(&w->ws->async);
}

static void snapshot(struct worker *w, uint64_t now_ms)
{
	if (pthread_mutex_lock(&w->mu) != 0)
		return;
	w->snap = w->eng.qctx.stats;
	w->snap_lat = w->eng.latency;
	pthread_mutex_unlock(&w->mu);
	w->last_snap_ms = now_ms;
}

static void take_settings(struct worker *w)
{
	struct udp_settings st;

	if (!__atomic_load_n(&w->has_pending, __ATOMIC_ACQUIRE) ||
	    pthread_mutex_lock(&w->mu) != 0)
		return;
	st = w->pending;
	w->has_pending = 0;
	pthread_mutex_unlock(&w->mu);
	udp_engine_apply(&w->eng, &st);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct workers *ws = w->ws;
	struct pollfd pfd[WORKERS_ADDRS_MAX + 1];
	size_t n = ws->naddrs;
	char name[16];

	/* top -H, ps -L and perf show which thread is which. */
	snprintf(name, sizeof(name), "meshdns-udp%u", w->index);
	(void)pthread_setname_np(pthread_self(), name);

	for (size_t i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = w->fds[i], .events = POLLIN };
	pfd[n] = (struct pollfd){ .fd = ws->efd, .events = POLLIN };
	for (;;) {
		uint64_t now = udp_clock_ms();
		int rc = poll(pfd, n + 1, 0);

		if (rc == 0) {
			/* Nothing to read: publish the counters, hold no view, sleep. */
			snapshot(w, now);
			__atomic_store_n(&w->seen, QS_OFFLINE, __ATOMIC_SEQ_CST);
			rc = poll(pfd, n + 1, -1);
		} else if (now - w->last_snap_ms >= SNAPSHOT_MS) {
			snapshot(w, now);
		}
		if (__atomic_load_n(&ws->stop, __ATOMIC_ACQUIRE))
			break;
		if (rc < 0)
			continue;  /* EINTR; poll has no other error on valid fds */
		__atomic_store_n(&w->seen, __atomic_load_n(&ws->gen, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
		take_settings(w);
		for (size_t i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				udp_engine_run(&w->eng, w->fds[i], (void *)(uintptr_t)i, &ws->view);
	}
	__atomic_store_n(&w->seen, QS_OFFLINE, __ATOMIC_SEQ_CST);
	return NULL;
}

/* ---- on the main loop ---- */

static void drain(uv_async_t *a)
{
	struct workers *ws = a->data;

	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		struct handoff *h;

		if (pthread_mutex_lock(&w->mu) != 0)
			continue;
		h = w->q;
		w->q = w->spare;
		w->spare = h;
		pthread_mutex_unlock(&w->mu);
		for (size_t off = 0; off < h->used;) {
			struct handoff_rec rec;

			memcpy(&rec, h->buf + off, sizeof(rec));
			ws->cb(ws->arg, rec.addr_index, (const struct sockaddr *)&rec.peer,
			       h->buf + off + sizeof(rec), rec.len);
			off += (sizeof(rec) + rec.len + 7) & ~(size_t)7;
		}
		h->used = 0;
	}
}

/* Frees the retired views no worker can hold; stops the timer when none is left. */
static void reclaim(struct workers *ws)
{
	uint64_t min = QS_OFFLINE;
	struct retired **pp = &ws->retired;

	for (unsigned i = 0; i < ws->n; i++) {
		uint64_t s = __atomic_load_n(&ws->w[i].seen, __ATOMIC_SEQ_CST);

		if (s < min)
			min = s;
	}
	while (*pp) {
		struct retired *r = *pp;

		if (r->gen <= min) {
			*pp = r->next;
			view_free(r->v);
			free(r);
		} else {
			pp = &r->next;
		}
	}
	if (!ws->retired)
		uv_timer_stop(&ws->reclaim);
}

static void on_reclaim(uv_timer_t *t)
{
	reclaim(t->data);
}

void workers_set_view(struct workers *ws, const struct view *v)
{
	__atomic_store_n(&ws->view, v, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&ws->gen, 1, __ATOMIC_SEQ_CST);
}

void workers_retire(struct workers *ws, struct view *old)
{
	struct retired *r;

	if (!old)
		return;
	if (!(r = malloc(sizeof(*r)))) {
		/* Cannot queue it: keep it (a leak), never free it under a reader. */
		log_err("server", "out of memory: a replaced view stays allocated");
		return;
	}
	r->v = old;
	r->gen = __atomic_load_n(&ws->gen, __ATOMIC_SEQ_CST);
	r->next = ws->retired;
	ws->retired = r;
	reclaim(ws);
	if (ws->retired && !uv_is_active((uv_handle_t *)&ws->reclaim))
		uv_timer_start(&ws->reclaim, on_reclaim, RECLAIM_MS, RECLAIM_MS);
}

void workers_apply(struct workers *ws, const struct udp_settings *st)
{
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];

		if (pthread_mutex_lock(&w->mu) != 0)
			continue;
		w->pending = *st;
		__atomic_store_n(&w->has_pending, 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&w->mu);
	}
}

void workers_add_stats(struct workers *ws, struct query_stats *q, struct expo_hist *lat,
		       uint64_t *per_thread, size_t nper)
{
	_Static_assert(sizeof(struct query_stats) % sizeof(uint64_t) == 0,
		       "query_stats holds only uint64_t counters");

	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		uint64_t *dst = (uint64_t *)q;
		const uint64_t *src = (const uint64_t *)&w->snap;

		if (pthread_mutex_lock(&w->mu) != 0)
			continue;
		for (size_t k = 0; q && k < sizeof(*q) / sizeof(uint64_t); k++)
			dst[k] += src[k];
		if (q)
			q->dropped += w->handoff_dropped;
		for (unsigned b = 0; lat && b <= lat->nle; b++)
			lat->bucket[b] += w->snap_lat.bucket[b];
		if (lat) {
			lat->count += w->snap_lat.count;
			lat->sum += w->snap_lat.sum;
		}
		if (i < nper)
			per_thread[i] = w->snap.queries;
		pthread_mutex_unlock(&w->mu);
	}
}

static void handle_closed(uv_handle_t *h)
{
	struct workers *ws = h->data;

	if (--ws->open == 0)
		free(ws);
}

void workers_stop(struct workers *ws)
{
	uint64_t one = 1;

	__atomic_store_n(&ws->stop, 1, __ATOMIC_RELEASE);
	if (write(ws->efd, &one, sizeof(one)) != sizeof(one))
		log_err("server", "cannot wake the worker threads: %s", strerror(errno));
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];

		if (w->started && pthread_join(w->tid, NULL) != 0)
			log_err("server", "cannot join worker thread %u", w->index);
		for (size_t k = 0; k < ws->naddrs; k++)
			if (w->fds[k] >= 0)
				close(w->fds[k]);
		udp_engine_close(&w->eng);
		if (w->mu_ok)
			pthread_mutex_destroy(&w->mu);
		free(w->q);
		free(w->spare);
	}
	free(ws->w);
	ws->w = NULL;
	ws->n = 0;
	reclaim(ws);  /* no worker left: frees them all */
	close(ws->efd);
	uv_close((uv_handle_t *)&ws->async, handle_closed);
	uv_close((uv_handle_t *)&ws->reclaim, handle_closed);
}

/* The worker's sockets, engine and queue; 0 or a negative code (err says why). */
static int worker_init(struct workers *ws, struct worker *w, const struct sockaddr_storage *addrs,
		       const struct udp_settings *st, char *err, size_t errlen)
{
	int rc;

	for (size_t k = 0; k < WORKERS_ADDRS_MAX; k++)
		w->fds[k] = -1;
	if ((rc = pthread_mutex_init(&w->mu, NULL)) != 0) {
		snprintf(err, errlen, "cannot create a worker's lock: %s", strerror(rc));
		return -rc;
	}
	w->mu_ok = 1;
	w->seen = QS_OFFLINE;
	if (!(w->q = calloc(1, sizeof(*w->q))) || !(w->spare = calloc(1, sizeof(*w->spare))) ||
	    udp_engine_init(&w->eng, (uint64_t)w->index * 0x9E3779B97F4A7C15ull) < 0) {
		snprintf(err, errlen, "out of memory for worker thread %u", w->index);
		return -ENOMEM;
	}
	w->eng.take_update = w->eng.take_xfr = 1;
	w->eng.defer = handoff;
	w->eng.defer_arg = w;
	udp_engine_apply(&w->eng, st);
	expo_hist_init(&w->snap_lat, server_latency_bounds, SERVER_LATENCY_BUCKETS);
	for (size_t k = 0; k < ws->naddrs; k++) {
		char text[ADDR_TEXT_MAX];

		if ((rc = w->fds[k] = udp_socket(&addrs[k], 1)) < 0) {
			snprintf(err, errlen, "worker thread %u cannot listen on %s: %s", w->index,
				 addr_format((const struct sockaddr *)&addrs[k], text), uv_strerror(rc));
			return rc;
		}
	}
	return 0;
}

int workers_start(struct workers **out, uv_loop_t *loop, unsigned n,
		  const struct sockaddr_storage *addrs, size_t naddrs,
		  const struct udp_settings *st, workers_handoff_cb cb, void *arg, char *err,
		  size_t errlen)
{
	struct workers *ws = calloc(1, sizeof(*ws));
	int rc = 0;

	*out = NULL;
	if (naddrs > WORKERS_ADDRS_MAX) {
		free(ws);
		snprintf(err, errlen, "threads: more than %d listen addresses", WORKERS_ADDRS_MAX);
		return -EINVAL;
	}
	if (!ws || !(ws->w = calloc(n, sizeof(*ws->w)))) {
		free(ws);
		snprintf(err, errlen, "out of memory for %u worker threads", n);
		return -ENOMEM;
	}
	ws->loop = loop;
	ws->naddrs = naddrs;
	ws->cb = cb;
	ws->arg = arg;
	ws->gen = 1;
	ws->async.data = ws->reclaim.data = ws;
	if ((ws->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = -errno;
		free(ws->w);
		free(ws);
		snprintf(err, errlen, "cannot create an eventfd: %s", strerror(-rc));
		return rc;
	}
	if ((rc = uv_async_init(loop, &ws->async, drain)) < 0) {
		close(ws->efd);
		free(ws->w);
		free(ws);
		snprintf(err, errlen, "cannot create the hand-off wake-up: %s", uv_strerror(rc));
		return rc;
	}
	ws->open = 1;
	if ((rc = uv_timer_init(loop, &ws->reclaim)) < 0) {
		/* The async handle is closing: ws is freed by its callback. */
		close(ws->efd);
		free(ws->w);
		ws->w = NULL;
		uv_close((uv_handle_t *)&ws->async, handle_closed);
		snprintf(err, errlen, "cannot create the reclaim timer: %s", uv_strerror(rc));
		return rc;
	}
	ws->open++;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct worker *w = &ws->w[i];

		ws->n++;
		w->ws = ws;
		w->index = i + 1;
		if ((rc = worker_init(ws, w, addrs, st, err, errlen)) < 0)
			break;
		if ((rc = pthread_create(&w->tid, NULL, worker_main, w)) != 0) {
			snprintf(err, errlen, "cannot start worker thread %u: %s", w->index,
				 strerror(rc));
			rc = -rc;
			break;
		}
		w->started = 1;
	}
	if (rc < 0) {
		workers_stop(ws);
		return rc;
	}
	*out = ws;
	return 0;
}
