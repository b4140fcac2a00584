/* discovery.c - SRV lookups with c-ares driven by libuv (see discovery.h).
 *
 * The c-ares channel runs on the loop through lib/aresuv.c. */
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "aresuv.h"
#include "discovery.h"
#include "err.h"
#include "log.h"

#define REFRESH_MIN_MS 1000
#define REFRESH_MAX_MS 300000

struct discovery {
	struct aresuv *d;
	uv_loop_t *loop;
	char name[256];
	discovery_cb cb;
	void *arg;
	uv_timer_t refresh;
	struct srv_set set;          /* the lookup in progress */
	int pending;                 /* follow-up address queries outstanding */
	int failing, stopped, busy;
};

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
		ares_query(aresuv_channel(disc->d), name, ns_c_in, ns_t_a, on_addr, disc);
		ares_query(aresuv_channel(disc->d), name, ns_c_in, ns_t_aaaa, on_addr, disc);
	}
	if (--disc->pending == 0)
		done(disc);
	aresuv_kick(disc->d);
}

static void lookup(struct discovery *disc)
{
	if (disc->busy || disc->stopped)
		return;
	disc->busy = 1;
	ares_query(aresuv_channel(disc->d), disc->name, ns_c_in, ns_t_srv, on_srv, disc);
	aresuv_kick(disc->d);
}

int discovery_start(struct discovery **out, uv_loop_t *loop, struct aresuv *d, const char *name,
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
	disc->loop = loop;
	uv_timer_init(loop, &disc->refresh);
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
