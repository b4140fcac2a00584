/* aresuv.c - c-ares on a libuv loop (see aresuv.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aresuv.h"
#include "log.h"

#define POLL_MAX 16

struct aresuv_poll {
	uv_poll_t h;
	struct aresuv *d;
	ares_socket_t fd;
	int used;
};

struct aresuv {
	uv_loop_t *loop;
	ares_channel ch;
	uv_timer_t timer;
	struct aresuv_poll polls[POLL_MAX];
	int closing;
};

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct aresuv_poll *p = h->data;
	ares_socket_t r = ARES_SOCKET_BAD, w = ARES_SOCKET_BAD;

	if (status < 0 || (events & UV_READABLE))
		r = p->fd;
	if (status < 0 || (events & UV_WRITABLE))
		w = p->fd;
	ares_process_fd(p->d->ch, r, w);
	aresuv_kick(p->d);
}

/* Close callback of every poll; during aresuv_close it also counts down. */
static void poll_closed(uv_handle_t *h)
{
	struct aresuv_poll *p = h->data;
	struct aresuv *d = p->d;

	p->used = 0;
	if (d->closing && --d->closing == 0)
		free(d);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct aresuv *d = data;
	struct aresuv_poll *p = NULL, *free_slot = NULL;

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
			log_err("dns", "cannot watch a DNS socket");
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
	struct aresuv *d = t->data;

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	aresuv_kick(d);
}

/* Arms the timer for c-ares's next timeout, if it has queries. */
void aresuv_kick(struct aresuv *d)
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

int aresuv_new(struct aresuv **out, uv_loop_t *loop, const char *servers, int timeout_ms,
	       int tries, char *err, size_t errlen)
{
	struct aresuv *d = calloc(1, sizeof(*d));
	struct ares_options ao = { 0 };
	int rc;

	*out = NULL;
	if (!d)
		return -1;
	d->loop = loop;
	ao.sock_state_cb = on_sock_state;
	ao.sock_state_cb_data = d;
	ao.timeout = timeout_ms;
	ao.tries = tries;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS ||
	    (rc = ares_init_options(&d->ch, &ao, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
				    ARES_OPT_TRIES)) != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot start c-ares: %s", ares_strerror(rc));
		free(d);
		return -1;
	}
	if (servers && servers[0] && (rc = ares_set_servers_ports_csv(d->ch, servers)) != ARES_SUCCESS) {
		snprintf(err, errlen, "DNS servers \"%s\": %s", servers, ares_strerror(rc));
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
	struct aresuv *d = h->data;

	if (--d->closing == 0)
		free(d);
}

/* Closes the channel (pending lookups are called back with ARES_EDESTRUCTION)
 * and its handles; d is freed when the last handle has closed. Call it right
 * after stopping everything that has queries on it. */
void aresuv_close(struct aresuv *d)
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

ares_channel aresuv_channel(struct aresuv *d)
{
	return d->ch;
}
