/* forward.c - meshdns-forward's event loop (see forward.h).
 *
 * Per accepted connection: pick an endpoint of the listener's SRV set by
 * weight, connect with a timeout, and on failure count it against the
 * endpoint (which may eject it) and try another, up to --retries more; then
 * hand both sockets to the relay. While any endpoint is up, a dead backend
 * costs the client a connect timeout at most, and only until it is ejected. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>
#include "addr.h"
#include "balance.h"
#include "discovery.h"
#include "forward.h"
#include "log.h"
#include "promhttp.h"
#include "relay.h"
#include "wrand.h"

#define TRIES_MAX 16

struct listener {
	struct fwd *f;
	const struct fwd_listen *cfg;
	uv_tcp_t h;
	char text[ADDR_TEXT_MAX];
	struct balance bal;
	struct discovery *disc;
	int have_set;
	size_t last_n;
	uint64_t accepted, active, rejected, no_endpoint, bytes_up, bytes_down;
};

struct conn {
	struct relay r;              /* first: the relay's done callback casts back */
	struct listener *l;
	uv_connect_t creq;
	uv_timer_t timer;            /* connect timeout */
	struct sockaddr_storage ep;  /* the endpoint being tried / relayed to */
	int tried[TRIES_MAX];
	size_t ntried;
	int upstream_open, timer_open, connecting, relaying;
	struct conn *prev, *next;    /* every connection, for a forced close */
};

struct fwd {
	uv_loop_t *loop;
	struct fwd_opts *o;
	struct aresuv *dns;
	struct listener l[FWD_LISTEN_MAX];
	int nl;
	uv_signal_t sig[4];
	uv_timer_t drain;
	uint64_t active;
	int draining, forced, failed;
	struct conn *conns;
	struct wrand_rng rng;
	struct promhttp *metrics;    /* --metrics, else NULL */
	double start_time;           /* unix seconds */
};

static uint64_t now_ms(struct fwd *f)
{
	return uv_now(f->loop);
}

static int find_ep(struct balance *b, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < b->n; i++)
		if (!memcmp(&b->ep[i].addr, a, sizeof(*a)))
			return (int)i;
	return -1;
}

/* ---- a connection's life ---- */

static void conn_freed(struct relay *r)
{
	struct conn *c = (struct conn *)r;
	struct listener *l = c->l;
	struct fwd *f = l->f;
	int i = find_ep(&l->bal, &c->ep);

	l->bytes_up += c->r.up.bytes;
	l->bytes_down += c->r.down.bytes;
	if (c->relaying && i >= 0) {
		l->bal.ep[i].active--;
		l->bal.ep[i].bytes_up += c->r.up.bytes;
		l->bal.ep[i].bytes_down += c->r.down.bytes;
	}
	l->active--;
	f->active--;
	if (c->prev)
		c->prev->next = c->next;
	else
		f->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	if (f->draining && f->active == 0) {
		log_info("forward", "drained: every connection has finished");
		uv_timer_stop(&f->drain);
		uv_stop(f->loop);
	}
}

static void timer_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->timer_open = 0;
	if (c->relaying)
		return;
	relay_abort(&c->r, 1, c->upstream_open, conn_freed);
}

/* Gives up on c before any relay started. */
static void conn_fail(struct conn *c)
{
	uv_close((uv_handle_t *)&c->timer, timer_closed);
}

static void try_connect(struct conn *c);

static void upstream_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->upstream_open = 0;
	try_connect(c); /* next endpoint */
}

static void connect_failed(struct conn *c, const char *why)
{
	struct listener *l = c->l;
	int i = find_ep(&l->bal, &c->ep);

	if (i >= 0) {
		log_debug("forward", "connect to %s failed: %s", l->bal.ep[i].text, why);
		if (balance_failed(&l->bal, i, now_ms(l->f)))
			log_warn("forward", "%s: endpoint %s ejected for %llu ms after %u failed connects",
				 l->cfg->name, l->bal.ep[i].text,
				 (unsigned long long)(l->bal.ep[i].ejected_until - now_ms(l->f)),
				 l->bal.ep[i].failures);
	}
	c->connecting = 0;
	uv_close((uv_handle_t *)&c->r.upstream, upstream_closed);
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->connecting)
		connect_failed(c, "timeout");
}

static void on_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct listener *l = c->l;
	int i;

	if (!c->connecting)
		return; /* timed out already; the close is under way */
	uv_timer_stop(&c->timer);
	if (status < 0) {
		connect_failed(c, uv_strerror(status));
		return;
	}
	c->connecting = 0;
	i = find_ep(&l->bal, &c->ep);
	if (i >= 0) {
		balance_connected(&l->bal, i);
		l->bal.ep[i].active++;
	}
	c->relaying = 1;
	uv_tcp_nodelay(&c->r.upstream, 1);
	uv_close((uv_handle_t *)&c->timer, timer_closed);
	relay_start(&c->r, l->f->o->idle_timeout_ms, conn_freed);
}

static void try_connect(struct conn *c)
{
	struct listener *l = c->l;
	struct fwd *f = l->f;
	int i;

	if (f->forced || c->ntried > f->o->retries || c->ntried >= TRIES_MAX ||
	    (i = balance_pick(&l->bal, &f->rng, now_ms(f), c->tried, c->ntried)) < 0) {
		if (c->ntried == 0)
			l->no_endpoint++;
		log_debug("forward", "%s: no endpoint left to try", l->cfg->name);
		conn_fail(c);
		return;
	}
	c->tried[c->ntried++] = i;
	c->ep = l->bal.ep[i].addr;
	if (uv_tcp_init(f->loop, &c->r.upstream) < 0) {
		conn_fail(c);
		return;
	}
	c->r.upstream.data = c;
	c->upstream_open = 1;
	c->connecting = 1;
	c->creq.data = c;
	if (uv_tcp_connect(&c->creq, &c->r.upstream, (struct sockaddr *)&c->ep, on_connected) < 0) {
		connect_failed(c, "cannot start a connect");
		return;
	}
	uv_timer_start(&c->timer, on_connect_timeout, f->o->connect_timeout_ms, 0);
}

static void on_accept(uv_stream_t *s, int status)
{
	struct listener *l = s->data;
	struct fwd *f = l->f;
	struct conn *c;

	if (status < 0) {
		log_warn("forward", "accept on %s failed: %s", l->text, uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || uv_tcp_init(f->loop, &c->r.client) < 0) {
		free(c);
		return;
	}
	c->l = l;
	c->r.client.data = c;
	l->active++;
	f->active++;
	c->next = f->conns;
	if (f->conns)
		f->conns->prev = c;
	f->conns = c;
	if (uv_accept(s, (uv_stream_t *)&c->r.client) < 0 ||
	    uv_timer_init(f->loop, &c->timer) < 0) {
		relay_abort(&c->r, 1, 0, conn_freed);
		return;
	}
	c->timer.data = c;
	c->timer_open = 1;
	l->accepted++;
	if (f->active > f->o->max_connections) {
		l->rejected++;
		conn_fail(c);
		return;
	}
	uv_tcp_nodelay(&c->r.client, 1);
	try_connect(c);
}

/* ---- endpoints ---- */

static void on_set(void *arg, const struct srv_set *set)
{
	struct listener *l = arg;
	struct sockaddr_storage addrs[SRV_MAX];
	uint16_t weights[SRV_MAX];
	size_t n = 0;

	for (size_t i = 0; i < set->n; i++) {
		if (!set->t[i].naddr)
			continue;
		addrs[n] = set->t[i].addr[0];
		weights[n++] = set->t[i].weight;
	}
	if (!l->have_set && set->rcode == 3) {
		log_err("forward", "%s does not exist (NXDOMAIN from %s): check --listen",
			l->cfg->name, l->f->o->dns[0] ? l->f->o->dns : "the system resolver");
		l->f->failed = 1;
		uv_stop(l->f->loop);
		return;
	}
	if (!l->have_set || n != l->last_n) {
		if (n)
			log_info("forward", "%s: %zu endpoints (ttl %u s)", l->cfg->name, n, set->ttl);
		else
			log_warn("forward", "%s has no endpoints (%s): refusing its connections",
				 l->cfg->name, set->rcode == 3 ? "NXDOMAIN" : "no SRV records");
	}
	l->have_set = 1;
	l->last_n = n;
	balance_update(&l->bal, addrs, weights, n);
	balance_compact(&l->bal);
}

static void log_counters(struct fwd *f)
{
	for (int k = 0; k < f->nl; k++) {
		struct listener *l = &f->l[k];

		log_info("stats", "listener=%s name=%s accepted=%llu active=%llu rejected=%llu"
			 " no_endpoint=%llu bytes_up=%llu bytes_down=%llu", l->text, l->cfg->name,
			 (unsigned long long)l->accepted, (unsigned long long)l->active,
			 (unsigned long long)l->rejected, (unsigned long long)l->no_endpoint,
			 (unsigned long long)l->bytes_up, (unsigned long long)l->bytes_down);
		for (size_t i = 0; i < l->bal.n; i++) {
			const struct endpoint *e = &l->bal.ep[i];

			log_info("stats", "listener=%s endpoint=%s weight=%u present=%d ejected=%d"
				 " connections=%llu active=%llu connect_failures=%llu ejections=%llu"
				 " bytes_up=%llu bytes_down=%llu", l->text, e->text, e->weight, e->present,
				 e->ejected_until > now_ms(f), (unsigned long long)e->connections,
				 (unsigned long long)e->active, (unsigned long long)e->connect_failures,
				 (unsigned long long)e->ejections, (unsigned long long)e->bytes_up,
				 (unsigned long long)e->bytes_down);
		}
	}
}

/* ---- metrics (GET /metrics, see promhttp.h) ---- */

/* l: the label text; returns 0, or -1 when a label did not fit. */
static int fwd_labels(char *l, size_t cap, const struct listener *lis, const struct endpoint *e)
{
	l[0] = '\0';
	if (expo_label(l, cap, "listener", lis->text) < 0 ||
	    expo_label(l, cap, "name", lis->cfg->name) < 0 ||
	    (e && expo_label(l, cap, "endpoint", e->text) < 0))
		return -1;
	return 0;
}

/* One series for every listener (e NULL) or every endpoint of every listener. */
static void fwd_series(struct expo *x, struct fwd *f, const char *name, const char *type,
		       const char *help, int per_endpoint, size_t field)
{
	char l[512];

	expo_head(x, name, type, help);
	for (int k = 0; k < f->nl; k++) {
		const struct listener *lis = &f->l[k];

		if (!per_endpoint) {
			if (fwd_labels(l, sizeof(l), lis, NULL) == 0)
				expo_u64(x, name, l, *(const uint64_t *)((const char *)lis + field));
			continue;
		}
		for (size_t i = 0; i < lis->bal.n; i++) {
			const struct endpoint *e = &lis->bal.ep[i];

			if (fwd_labels(l, sizeof(l), lis, e) == 0)
				expo_u64(x, name, l, *(const uint64_t *)((const char *)e + field));
		}
	}
}

static void render_metrics(void *arg, struct expo *x)
{
	struct fwd *f = arg;
	uint64_t now = now_ms(f);
	char l[512];

#define L(n, t, h, m) fwd_series(x, f, "meshdns_forward_" n, t, h, 0, offsetof(struct listener, m))
#define E(n, t, h, m) fwd_series(x, f, "meshdns_forward_" n, t, h, 1, offsetof(struct endpoint, m))
	L("connections_total", "counter", "Connections accepted on the listener.", accepted);
	L("connections_active", "gauge", "Connections open on the listener now.", active);
	L("connections_rejected_total", "counter",
	  "Connections closed at accept: max_connections reached.", rejected);
	L("connections_no_endpoint_total", "counter",
	  "Connections closed because no endpoint could be connected.", no_endpoint);
	L("received_bytes_total", "counter", "Bytes read from the listener's clients (added when a connection closes).", bytes_up);
	L("sent_bytes_total", "counter", "Bytes written to the listener's clients (added when a connection closes).", bytes_down);
	E("endpoint_connections_total", "counter",
	  "Connections relayed to the endpoint (connected).", connections);
	E("endpoint_connections_active", "gauge", "Connections relayed to the endpoint now.",
	  active);
	E("endpoint_sent_bytes_total", "counter", "Bytes written to the endpoint (added when a connection closes).", bytes_up);
	E("endpoint_received_bytes_total", "counter", "Bytes read from the endpoint (added when a connection closes).", bytes_down);
	E("endpoint_connect_failures_total", "counter",
	  "Connects to the endpoint that failed or timed out.", connect_failures);
	E("endpoint_ejections_total", "counter",
	  "Times the endpoint was ejected after consecutive connect failures.", ejections);
#undef L
#undef E
	expo_head(x, "meshdns_forward_endpoint_ejected", "gauge",
		  "1 while the endpoint is ejected, else 0.");
	for (int k = 0; k < f->nl; k++)
		for (size_t i = 0; i < f->l[k].bal.n; i++)
			if (fwd_labels(l, sizeof(l), &f->l[k], &f->l[k].bal.ep[i]) == 0)
				expo_u64(x, "meshdns_forward_endpoint_ejected", l,
					 f->l[k].bal.ep[i].ejected_until > now);
	expo_head(x, "meshdns_forward_endpoint_weight", "gauge",
		  "The endpoint's SRV weight (0 when it left the SRV set).");
	for (int k = 0; k < f->nl; k++)
		for (size_t i = 0; i < f->l[k].bal.n; i++)
			if (fwd_labels(l, sizeof(l), &f->l[k], &f->l[k].bal.ep[i]) == 0)
				expo_u64(x, "meshdns_forward_endpoint_weight", l,
					 f->l[k].bal.ep[i].present ? f->l[k].bal.ep[i].weight : 0);
	expo_one_double(x, "meshdns_forward_process_start_time_seconds", "gauge",
			"When the process started, unix seconds.", f->start_time);
}

/* ---- signals ---- */

static void on_drain_timeout(uv_timer_t *t)
{
	struct fwd *f = t->data;

	log_warn("forward", "drain timeout: closing %llu connections", (unsigned long long)f->active);
	uv_stop(f->loop);
}

static void start_drain(struct fwd *f, int signum)
{
	if (f->draining) {
		uv_stop(f->loop); /* a second signal: stop now */
		return;
	}
	f->draining = 1;
	if (f->metrics)
		promhttp_close(f->metrics);
	f->metrics = NULL;
	log_info("forward", "%s: no new connections; draining %llu for at most %u ms",
		 strsignal(signum), (unsigned long long)f->active, f->o->drain_timeout_ms);
	for (int k = 0; k < f->nl; k++) {
		uv_close((uv_handle_t *)&f->l[k].h, NULL);
		discovery_stop(f->l[k].disc);
	}
	aresuv_close(f->dns);
	if (f->active == 0)
		uv_stop(f->loop);
	else
		uv_timer_start(&f->drain, on_drain_timeout, f->o->drain_timeout_ms, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct fwd *f = h->data;
	char err[512];

	if (signum == SIGUSR1) {
		log_counters(f);
	} else if (signum == SIGHUP) {
		if (fwd_opts_reload(f->o, err, sizeof(err)) < 0) {
			log_err("forward", "reload failed, keeping the current settings: %s", err);
			return;
		}
		for (int k = 0; k < f->nl; k++)
			f->l[k].bal.cfg = f->o->outlier;
		log_info("forward", "reloaded %s (listeners apply after a restart)",
			 f->o->config_file[0] ? f->o->config_file : "(no config file)");
	} else {
		start_drain(f, signum);
	}
}

/* ---- start and stop ---- */

static int start_listener(struct fwd *f, struct listener *l, const struct fwd_listen *cfg)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;

	l->f = f;
	l->cfg = cfg;
	balance_init(&l->bal, &f->o->outlier);
	if ((rc = uv_tcp_init(f->loop, &l->h)) < 0)
		return rc;
	l->h.data = l;
	if ((rc = uv_tcp_bind(&l->h, (const struct sockaddr *)&cfg->addr, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&l->h, 511, on_accept)) < 0 ||
	    (rc = uv_tcp_getsockname(&l->h, (struct sockaddr *)&ss, &len)) < 0) {
		addr_format((const struct sockaddr *)&cfg->addr, l->text);
		log_err("forward", "cannot listen on %s: %s%s", l->text, uv_strerror(rc),
			rc == UV_EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : "");
		return rc;
	}
	addr_format((struct sockaddr *)&ss, l->text);
	return discovery_start(&l->disc, f->loop, f->dns, cfg->name, on_set, l);
}

/* After uv_run stopped: close what is still open and let the loop finish. */
static void close_everything(struct fwd *f)
{
	f->forced = 1;
	for (struct conn *c = f->conns; c; c = c->next) {
		if (c->relaying) {
			relay_close(&c->r);
		} else if (c->connecting) {
			c->connecting = 0;
			uv_timer_stop(&c->timer);
			uv_close((uv_handle_t *)&c->r.upstream, upstream_closed);
		}
	}
	for (int i = 0; i < 4; i++)
		uv_close((uv_handle_t *)&f->sig[i], NULL);
	uv_close((uv_handle_t *)&f->drain, NULL);
	if (f->metrics)
		promhttp_close(f->metrics);
	f->metrics = NULL;
	if (!f->draining) { /* a start-up failure */
		for (int k = 0; k < f->nl; k++) {
			if (!uv_is_closing((uv_handle_t *)&f->l[k].h))
				uv_close((uv_handle_t *)&f->l[k].h, NULL);
			if (f->l[k].disc)
				discovery_stop(f->l[k].disc);
		}
		if (f->dns)
			aresuv_close(f->dns);
	}
	uv_run(f->loop, UV_RUN_DEFAULT);
}

static int setup(struct fwd *f)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	char err[512], desc[2048] = "";
	size_t o = 0;

	for (int i = 0; i < 4; i++) {
		uv_signal_init(f->loop, &f->sig[i]);
		f->sig[i].data = f;
		if (uv_signal_start(&f->sig[i], on_signal, sigs[i]) < 0)
			return -1;
	}
	uv_timer_init(f->loop, &f->drain);
	f->drain.data = f;
	if (aresuv_new(&f->dns, f->loop, f->o->dns, 1000, 2, err, sizeof(err)) < 0) {
		log_err("forward", "%s", err);
		return -1;
	}
	for (int k = 0; k < f->o->nlisten; k++) {
		f->nl++;
		if (start_listener(f, &f->l[k], &f->o->listen[k]) < 0)
			return -1;
		o += (size_t)snprintf(desc + o, sizeof(desc) - o, " listen=%s=%s", f->l[k].text,
				      f->l[k].cfg->name);
		if (o >= sizeof(desc))
			o = sizeof(desc) - 1;
	}
	if (f->o->has_metrics) {
		if (promhttp_new(&f->metrics, f->loop, &f->o->metrics, render_metrics, f, err,
				 sizeof(err)) < 0) {
			log_err("forward", "%s", err);
			return -1;
		}
		snprintf(desc + o, sizeof(desc) - o, " metrics=%s", promhttp_address(f->metrics));
	}
	log_info("forward", "serving%s dns=%s version=%s", desc, f->o->dns[0] ? f->o->dns : "system",
		 MESHDNS_VERSION);
	return 0;
}

int forward_run(struct fwd_opts *o)
{
	static struct fwd f;
	int status = 0;

	memset(&f, 0, sizeof(f));
	f.o = o;
	{
		struct timeval tv;

		if (gettimeofday(&tv, NULL) == 0)
			f.start_time = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
	}
	f.loop = uv_default_loop();
	wrand_seed_auto(&f.rng);
	signal(SIGPIPE, SIG_IGN);
	if (setup(&f) < 0)
		status = 1;
	else
		uv_run(f.loop, UV_RUN_DEFAULT);
	status = status || f.failed;
	if (f.failed)
		f.draining = 0; /* close listeners and lookups too */
	close_everything(&f);
	if (uv_loop_close(f.loop) < 0)
		log_warn("forward", "event loop closed with handles still open");
	if (!status)
		log_info("forward", "stopped");
	return status;
}
