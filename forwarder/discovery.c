/* discovery.c - SRV lookups with c-ares driven by libuv (see discovery.h).
 *
 * c-ares tells us which sockets it wants watched (sock_state_cb); each gets a
 * uv_poll_t, and a timer calls ares_process_fd when c-ares's own timeout is
 * due, so lookups never block the relay. */
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "discovery.h"
#include "err.h"
#include "log.h"

#define POLL_MAX 16
#define REFRESH_MIN_MS 1000
#define REFRESH_MAX_MS 300000

struct dns_poll {
	uv_poll_t h;
	struct dns *d;
	ares_socket_t fd;
	int used;
};

struct dns {
	uv_loop_t *loop;
	ares_channel ch;
	uv_timer_t timer;
	struct dns_poll polls[POLL_MAX];
	int closing;
};

struct discovery {
	struct dns *d;
	char name[256];
	discovery_cb cb;
	void *arg;
	uv_timer_t refresh;
	struct srv_set set;          /* the lookup in progress */
	int pending;                 /* follow-up address queries outstanding */
	int failing, stopped, busy;
};

static void dns_kick(struct dns *d);

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct dns_poll *p = h->data;
	ares_socket_t r = ARES_SOCKET_BAD, w = ARES_SOCKET_BAD;

	if (status < 0 || (events & UV_READABLE))
		r = p->fd;
	if (status < 0 || (events & UV_WRITABLE))
		w = p->fd;
	ares_process_fd(p->d->ch, r, w);
	dns_kick(p->d);
}

/* Close callback of every poll; during dns_close it also counts down. */
static void poll_closed(uv_handle_t *h)
{
	struct dns_poll *p = h->data;
	struct dns *d = p->d;

	p->used = 0;
	if (d->closing && --d->closing == 0)
		free(d);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_poll *p = NULL, *free_slot = NULL;

	for (int i = 0; i < POLL_MAX; i++) {
		if (d->polls[i].used == 1 && d->polls[i].fd == fd)
			p = &d->polls[i];
		if (!d->polls[i].used && !free_slot)
			free_slot = &d->polls[i];
	}
	if (!readable && !writable) {
		if (p) {
			p->used = 2; /* closing */
			uv_close((uv_handle_t *)&p->h, poll_closed);
		}
		return;
	}
	if (!p) {
		if (!free_slot || uv_poll_init_socket(d->loop, &free_slot->h, fd) < 0) {
			log_err("discovery", "cannot watch a DNS socket");
			return;
		}
		p = free_slot;
		p->used = 1;
		p->fd = fd;
		p->d = d;
		p->h.data = p;
	}
	uv_poll_start(&p->h, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

static void on_timer(uv_timer_t *t)
{
	struct dns *d = t->data;

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_kick(d);
}

/* Arms the timer for c-ares's next timeout, if it has queries. */
static void dns_kick(struct dns *d)
{
	struct timeval tv, *tvp;

	if (d->closing)
		return;
	tvp = ares_timeout(d->ch, NULL, &tv);
	if (tvp)
		uv_timer_start(&d->timer, on_timer, (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000 + 1, 0);
	else
		uv_timer_stop(&d->timer);
}

int dns_new(struct dns **out, uv_loop_t *loop, const char *server, char *err, size_t errlen)
{
	struct dns *d = calloc(1, sizeof(*d));
	struct ares_options ao = { 0 };
	int rc;

	*out = NULL;
	if (!d)
		return -1;
	d->loop = loop;
	ao.sock_state_cb = on_sock_state;
	ao.sock_state_cb_data = d;
	ao.timeout = 1000;
	ao.tries = 2;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS ||
	    (rc = ares_init_options(&d->ch, &ao, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
				    ARES_OPT_TRIES)) != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot start c-ares: %s", ares_strerror(rc));
		free(d);
		return -1;
	}
	if (server[0] && (rc = ares_set_servers_ports_csv(d->ch, server)) != ARES_SUCCESS) {
		snprintf(err, errlen, "--dns %s: %s", server, ares_strerror(rc));
		ares_destroy(d->ch);
		free(d);
		return -1;
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	*out = d;
	return 0;
}

static void timer_closed(uv_handle_t *h)
{
	struct dns *d = h->data;

	if (--d->closing == 0)
		free(d);
}

/* Closes the channel (pending lookups are called back with ARES_EDESTRUCTION)
 * and its handles; d is freed when the last handle has closed. Call it right
 * after discovery_stop of every discovery using it. */
void dns_close(struct dns *d)
{
	d->closing = 1;       /* handles still to close: the timer, and polls */
	ares_destroy(d->ch);
	ares_library_cleanup();
	for (int i = 0; i < POLL_MAX; i++) {
		if (d->polls[i].used == 2)
			d->closing++;
		if (d->polls[i].used == 1) {
			d->closing++;
			d->polls[i].used = 2;
			uv_close((uv_handle_t *)&d->polls[i].h, poll_closed);
		}
	}
	uv_close((uv_handle_t *)&d->timer, timer_closed);
}

/* ---- following one name ---- */

static void lookup(struct discovery *disc);

static void on_refresh(uv_timer_t *t)
{
	lookup(t->data);
}

static void schedule(struct discovery *disc, uint64_t ms)
{
	if (disc->stopped)
		return;
	ms = ms < REFRESH_MIN_MS ? REFRESH_MIN_MS : ms > REFRESH_MAX_MS ? REFRESH_MAX_MS : ms;
	uv_timer_start(&disc->refresh, on_refresh, ms, 0);
}

static void failed(struct discovery *disc, const char *why)
{
	if (!disc->failing)
		log_warn("discovery", "cannot look up %s SRV (%s); keeping the last good endpoints",
			 disc->name, why);
	disc->failing = 1;
	disc->busy = 0;
	schedule(disc, REFRESH_MIN_MS);
}

static void done(struct discovery *disc)
{
	disc->busy = 0;
	if (disc->failing)
		log_info("discovery", "%s SRV looks up again: %zu endpoints", disc->name, disc->set.n);
	disc->failing = 0;
	disc->cb(disc->arg, &disc->set);
	schedule(disc, (uint64_t)disc->set.ttl * 1000);
}

static void on_addr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct discovery *disc = arg;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION)
		return;
	if (status == ARES_SUCCESS && abuf)
		srv_add_addresses(&disc->set, abuf, (size_t)alen);
	if (--disc->pending == 0 && !disc->stopped)
		done(disc);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct discovery *disc = arg;
	char name[WIRE_NAME_TEXT_MAX];

	(void)timeouts;
	if (status == ARES_EDESTRUCTION || disc->stopped)
		return;
	if (status == ARES_ENODATA || status == ARES_ENOTFOUND) {
		disc->set.n = 0;     /* NODATA/NXDOMAIN is an answer: no endpoints */
		disc->set.ttl = 5;
		disc->set.rcode = status == ARES_ENOTFOUND ? 3 : 0;
		done(disc);
		return;
	}
	if (status != ARES_SUCCESS || srv_parse(abuf, (size_t)alen, &disc->set) < 0) {
		failed(disc, status != ARES_SUCCESS ? ares_strerror(status) : "malformed answer");
		return;
	}
	disc->pending = 1;
	for (size_t i = 0; i < disc->set.n; i++) {
		if (disc->set.t[i].naddr)
			continue;
		if (wire_name_to_text(disc->set.t[i].name, name, sizeof(name)) < 0)
			continue;
		disc->pending += 2;
		ares_query(disc->d->ch, name, ns_c_in, ns_t_a, on_addr, disc);
		ares_query(disc->d->ch, name, ns_c_in, ns_t_aaaa, on_addr, disc);
	}
	if (--disc->pending == 0)
		done(disc);
	dns_kick(disc->d);
}

static void lookup(struct discovery *disc)
{
	if (disc->busy || disc->stopped)
		return;
	disc->busy = 1;
	ares_query(disc->d->ch, disc->name, ns_c_in, ns_t_srv, on_srv, disc);
	dns_kick(disc->d);
}

int discovery_start(struct discovery **out, struct dns *d, const char *name,
		    discovery_cb cb, void *arg)
{
	struct discovery *disc = calloc(1, sizeof(*disc));

	*out = NULL;
	if (!disc)
		return -1;
	disc->d = d;
	disc->cb = cb;
	disc->arg = arg;
	snprintf(disc->name, sizeof(disc->name), "%s", name);
	uv_timer_init(d->loop, &disc->refresh);
	disc->refresh.data = disc;
	lookup(disc);
	*out = disc;
	return 0;
}

static void refresh_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Stops following; queries still pending see `stopped` and do nothing. The
 * memory goes when the timer closes; close the dns channel after this. */
void discovery_stop(struct discovery *disc)
{
	disc->stopped = 1;
	uv_close((uv_handle_t *)&disc->refresh, refresh_closed);
}
