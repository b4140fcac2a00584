/* notify.c - NOTIFY (RFC 1996) to the secondaries after a serial rose.
 *
 * One target per (namespace, address). A target has at most one NOTIFY in
 * flight; changes that arrive meanwhile only raise the serial it wants
 * announced, and when the answer comes a new NOTIFY goes out if that serial
 * moved on, so a burst of registrations costs one or two NOTIFYs, not one
 * each (the secondary asks for the SOA anyway). A NOTIFY without a NOERROR
 * answer is sent again after 1, 2, 4, 8 s, then given up until the next
 * change (the secondary's refresh timer still catches up). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "addr.h"
#include "log.h"
#include "notify.h"

#define NOTIFY_TRIES 5
#define NOTIFY_FIRST_MS 1000

struct target {
	struct notifier *nf;
	uv_timer_t timer;
	uint8_t zone[WIRE_NAME_MAX];
	size_t zone_len;
	char zone_text[WIRE_NAME_TEXT_MAX];
	struct sockaddr_storage addr;
	uint32_t want, acked;
	uint16_t id;
	int inflight;                /* a NOTIFY is waiting for its answer */
	unsigned tries;
};

struct notifier {
	uv_loop_t *loop;
	uv_udp_t sock4, sock6;
	int has4, has6;              /* bound and receiving */
	int init4, init6;            /* initialised: to be closed */
	struct target **t;
	size_t n, cap;
	int open;                    /* handles not yet closed */
	int closing;
};

static void send_now(struct target *t);

static void maybe_free(struct notifier *nf)
{
	if (nf->closing && nf->open == 0) {
		for (size_t i = 0; i < nf->n; i++)
			free(nf->t[i]);
		free(nf->t);
		free(nf);
	}
}

static void closed(uv_handle_t *h)
{
	struct notifier *nf = h->data;

	nf->open--;
	maybe_free(nf);
}

static void timer_closed(uv_handle_t *h)
{
	struct target *t = h->data;

	t->nf->open--;
	maybe_free(t->nf);
}

static void on_timeout(uv_timer_t *h)
{
	struct target *t = h->data;
	char a[ADDR_TEXT_MAX];

	if (!t->inflight)
		return;
	if (t->tries >= NOTIFY_TRIES) {
		log_warn("notify", "%s: no answer from %s after %u NOTIFYs; its refresh timer"
			 " will catch up", t->zone_text, addr_format((struct sockaddr *)&t->addr, a),
			 t->tries);
		t->inflight = 0;
		return;
	}
	send_now(t);
}

static void send_now(struct target *t)
{
	struct notifier *nf = t->nf;
	uint8_t msg[12 + WIRE_NAME_MAX + 4];
	uv_udp_t *sock = t->addr.ss_family == AF_INET6 ? &nf->sock6 : &nf->sock4;
	int have = t->addr.ss_family == AF_INET6 ? nf->has6 : nf->has4;
	size_t len = 12 + t->zone_len + 4;
	uv_buf_t b;
	int rc;

	if (getrandom(&t->id, sizeof(t->id), 0) != sizeof(t->id))
		t->id = (uint16_t)(t->id * 31 + 7);
	memset(msg, 0, 12);
	msg[0] = (uint8_t)(t->id >> 8), msg[1] = (uint8_t)t->id;
	msg[2] = (4 << 3) | 0x04;    /* opcode NOTIFY, AA (RFC 1996 3.7) */
	msg[5] = 1;
	memcpy(msg + 12, t->zone, t->zone_len);
	msg[12 + t->zone_len + 1] = 6;   /* SOA */
	msg[12 + t->zone_len + 3] = 1;   /* IN */
	msg[12 + t->zone_len] = msg[12 + t->zone_len + 2] = 0;
	t->inflight = 1;
	t->tries++;
	b = uv_buf_init((char *)msg, (unsigned)len);
	rc = have ? uv_udp_try_send(sock, &b, 1, (const struct sockaddr *)&t->addr) : UV_EAFNOSUPPORT;
	if (rc < 0)
		log_debug("notify", "%s: send failed: %s", t->zone_text, uv_strerror(rc));
	if (uv_timer_start(&t->timer, on_timeout, (uint64_t)NOTIFY_FIRST_MS << (t->tries - 1), 0) < 0)
		t->inflight = 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char space[4096];

	(void)h, (void)hint;
	buf->base = space;
	buf->len = sizeof(space);
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	{
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
		    unsigned flags)
{
	struct notifier *nf = h->data;
	const uint8_t *m = (const uint8_t *)buf->base;
	uint16_t id;

	(void)flags;
	if (n < 12 || !from || !(m[2] & 0x80) || ((m[2] >> 3) & 0xF) != 4)
		return;
	id = (uint16_t)(m[0] << 8 | m[1]);
	for (size_t i = 0; i < nf->n; i++) {
		struct target *t = nf->t[i];

		if (!t->inflight || t->id != id || !same_addr(&t->addr, from))
			continue;
		if ((m[3] & 0xF) != 0)
			return;  /* refused or not authoritative there: the timer retries */
		uv_timer_stop(&t->timer);
		t->inflight = 0;
		t->tries = 0;
		if (t->want != t->acked) {
			t->acked = t->want;
			send_now(t);
		}
		return;
	}
}

static int sock_open(struct notifier *nf, uv_udp_t *s, const char *any, int *init)
{
	struct sockaddr_storage ss;

	if (uv_udp_init(nf->loop, s) < 0)
		return 0;
	*init = 1;
	s->data = nf;
	nf->open++;
	if (addr_parse(any, 0, &ss) < 0 || uv_udp_bind(s, (struct sockaddr *)&ss, 0) < 0 ||
	    uv_udp_recv_start(s, on_alloc, on_recv) < 0)
		return 0;
	return 1;
}

int notifier_new(struct notifier **out, uv_loop_t *loop)
{
	struct notifier *nf = calloc(1, sizeof(*nf));

	*out = NULL;
	if (!nf)
		return -ENOMEM;
	nf->loop = loop;
	nf->has4 = sock_open(nf, &nf->sock4, "0.0.0.0:0", &nf->init4);
	nf->has6 = sock_open(nf, &nf->sock6, "[::]:0", &nf->init6);
	*out = nf;
	return 0;
}

static struct target *target_get(struct notifier *nf, const struct cfg_namespace *ns,
				 const struct sockaddr_storage *addr)
{
	struct target *t;

	for (size_t i = 0; i < nf->n; i++)
		if (nf->t[i]->zone_len == ns->wire_len && !memcmp(nf->t[i]->zone, ns->wire, ns->wire_len) &&
		    same_addr(&nf->t[i]->addr, (const struct sockaddr *)addr))
			return nf->t[i];
	if (nf->n == nf->cap) {
		size_t cap = nf->cap ? 2 * nf->cap : 8;
		struct target **a = realloc(nf->t, cap * sizeof(*a));

		if (!a)
			return NULL;
		nf->t = a;
		nf->cap = cap;
	}
	if (!(t = calloc(1, sizeof(*t))))
		return NULL;
	if (uv_timer_init(nf->loop, &t->timer) < 0) {
		free(t);
		return NULL;
	}
	nf->open++;
	t->nf = nf;
	t->timer.data = t;
	memcpy(t->zone, ns->wire, ns->wire_len);
	t->zone_len = ns->wire_len;
	memcpy(t->zone_text, ns->name, sizeof(t->zone_text));
	t->addr = *addr;
	nf->t[nf->n++] = t;
	return t;
}

void notifier_changed(struct notifier *nf, const struct config *cfg,
		      const struct cfg_namespace *ns, uint32_t serial)
{
	const struct sockaddr_storage *list = ns->has_notify ? ns->notify : cfg->notify;
	size_t n = ns->has_notify ? ns->nnotify : cfg->nnotify;

	for (size_t i = 0; nf && !nf->closing && i < n; i++) {
		struct target *t = target_get(nf, ns, &list[i]);

		if (!t) {
			log_warn("notify", "%s: out of memory, NOTIFY skipped", ns->name);
			continue;
		}
		t->want = serial;
		if (!t->inflight) {
			t->acked = serial;
			t->tries = 0;
			send_now(t);
		}
	}
}

void notifier_close(struct notifier *nf)
{
	if (!nf)
		return;
	nf->closing = 1;
	if (nf->init4)
		uv_close((uv_handle_t *)&nf->sock4, closed);
	if (nf->init6)
		uv_close((uv_handle_t *)&nf->sock6, closed);
	for (size_t i = 0; i < nf->n; i++)
		uv_close((uv_handle_t *)&nf->t[i]->timer, timer_closed);
	maybe_free(nf);
}
