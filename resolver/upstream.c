/* upstream.c - forwarding with coalescing and deadlines (see upstream.h).
 *
 * A `struct pending` is one upstream query: its key (name, type, class), the
 * clients waiting for it and a deadline timer. It leaves the table when it
 * is answered or its deadline passes (so a later question starts afresh),
 * and is freed once both the c-ares callback and the timer close are done. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "aresuv.h"
#include "err.h"
#include "log.h"
#include "upstream.h"

#define BUCKETS 1024
#define WAITERS_MAX 512
#define EDE_NETWORK 23       /* RFC 8914: Network Error */
#define EDE_NO_REACH 22      /* No Reachable Authority */

struct waiter {
	struct waiter *next;
	struct server_req *req;
	struct cache_client cl;
	uint8_t question[WIRE_NAME_MAX + 4];
};

struct pending {
	struct pending *hnext;
	struct upstream *u;
	uint8_t qname[WIRE_NAME_MAX];
	size_t qlen;
	uint16_t qtype, qclass;
	uint32_t hash;
	struct waiter *waiters;
	unsigned nwaiters;
	uv_timer_t deadline;
	int in_table, ares_done, timer_closed;
};

struct upstream {
	uv_loop_t *loop;
	struct aresuv *ares;
	struct cache *cache;
	struct pending *table[BUCKETS];
	uint32_t timeout_ms, max_inflight;
	struct upstream_stats st;
	int closing;
	uint8_t out[65535];
};

static uint32_t key_hash(const uint8_t *n, size_t l, uint16_t t, uint16_t c)
{
	return wire_name_hash(n, l) ^ ((uint32_t)t * 2654435761u) ^ c;
}

static void table_del(struct upstream *u, struct pending *p)
{
	struct pending **pp = &u->table[p->hash % BUCKETS];

	if (!p->in_table)
		return;
	while (*pp && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = p->hnext;
	p->in_table = 0;
}

static void maybe_free(struct pending *p)
{
	if (p->ares_done && p->timer_closed)
		free(p);
}

static void timer_closed(uv_handle_t *h)
{
	struct pending *p = h->data;

	p->timer_closed = 1;
	maybe_free(p);
}

/* Answers every waiter of p: from msg (upstream answer) or entry, else stale
 * or SERVFAIL. */
static void answer_all(struct pending *p, const struct cache_entry *e, const uint8_t *msg,
		       size_t len, const char *why)
{
	struct upstream *u = p->u;
	uint64_t now = uv_now(u->loop) / 1000;

	while (p->waiters) {
		struct waiter *w = p->waiters;
		const struct cache_entry *se = NULL;
		size_t n = 0;
		int stale = 0;

		p->waiters = w->next;
		if (e)
			n = cache_render(e, now, 0, &w->cl, u->out, sizeof(u->out));
		else if (msg)
			n = cache_render_raw(msg, len, &w->cl, u->out, sizeof(u->out));
		if (!n && !msg && (se = cache_get(u->cache, p->qname, p->qlen, p->qtype, p->qclass,
						  now, 1, &stale)) && stale &&
		    (n = cache_render(se, now, 1, &w->cl, u->out, sizeof(u->out))) > 0)
			u->st.stale_served++;
		if (!n)
			n = cache_render_error(2, msg ? EDE_NETWORK : EDE_NO_REACH, why, &w->cl,
					       u->out, sizeof(u->out));
		server_reply(w->req, u->out, n);
		free(w);
	}
	p->nwaiters = 0;
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct pending *p = arg;
	struct upstream *u = p->u;
	const struct cache_entry *e = NULL;

	(void)timeouts;
	p->ares_done = 1;
	u->st.inflight--;
	if (status == ARES_EDESTRUCTION) {
		maybe_free(p);
		return;
	}
	table_del(u, p);
	if (!uv_is_closing((uv_handle_t *)&p->deadline))
		uv_close((uv_handle_t *)&p->deadline, timer_closed);
	if (status == ARES_SUCCESS && abuf) {
		u->st.answered++;
		e = cache_put(u->cache, p->qname, p->qlen, p->qtype, p->qclass, abuf, (size_t)alen,
			      uv_now(u->loop) / 1000);
		answer_all(p, e, abuf, (size_t)alen, "the upstream answer could not be used");
	} else {
		u->st.failed++;
		answer_all(p, NULL, NULL, 0, ares_strerror(status));
	}
	maybe_free(p);
}

static void on_deadline(uv_timer_t *t)
{
	struct pending *p = t->data;

	p->u->st.timeouts++;
	table_del(p->u, p); /* later questions start a new upstream query */
	answer_all(p, NULL, NULL, 0, "no upstream answered in time");
	uv_close((uv_handle_t *)&p->deadline, timer_closed);
}

static void reply_error(struct upstream *u, struct server_req *req, const struct query_fwd *f,
			const char *why)
{
	size_t n = cache_render_error(2, EDE_NO_REACH, why, &f->cl, u->out, sizeof(u->out));

	server_reply(req, u->out, n);
}

static struct pending *start(struct upstream *u, const struct query_fwd *f, uint32_t hash)
{
	char name[WIRE_NAME_TEXT_MAX];
	unsigned char *q = NULL;
	int qlen = 0;
	struct pending *p;

	if (wire_name_to_text(f->qname, name, sizeof(name)) < 0 ||
	    ares_create_query(name, f->qclass, f->qtype, 0, 1, &q, &qlen, 1232) != ARES_SUCCESS)
		return NULL;
	if (!(p = calloc(1, sizeof(*p))) || uv_timer_init(u->loop, &p->deadline) < 0) {
		free(p);
		ares_free_string(q);
		return NULL;
	}
	p->u = u;
	memcpy(p->qname, f->qname, f->qname_len);
	p->qlen = f->qname_len;
	p->qtype = f->qtype;
	p->qclass = f->qclass;
	p->hash = hash;
	p->deadline.data = p;
	p->hnext = u->table[hash % BUCKETS];
	u->table[hash % BUCKETS] = p;
	p->in_table = 1;
	uv_timer_start(&p->deadline, on_deadline, u->timeout_ms, 0);
	u->st.inflight++;
	u->st.sent++;
	ares_send(aresuv_channel(u->ares), q, qlen, on_answer, p);
	ares_free_string(q);
	aresuv_kick(u->ares);
	return p;
}

void upstream_forward(void *arg, struct server_req *req, const struct query_fwd *f)
{
	struct upstream *u = arg;
	uint32_t hash = key_hash(f->qname, f->qname_len, f->qtype, f->qclass);
	struct pending *p = u->table[hash % BUCKETS];
	struct waiter *w;

	if (u->closing) {
		server_reply(req, NULL, 0);
		return;
	}
	while (p && !(p->hash == hash && p->qtype == f->qtype && p->qclass == f->qclass &&
		      p->qlen == f->qname_len && !memcmp(p->qname, f->qname, p->qlen)))
		p = p->hnext;
	if (p && p->nwaiters >= WAITERS_MAX) {
		reply_error(u, req, f, "too many clients wait for this question");
		return;
	}
	if (p) {
		u->st.coalesced++;
	} else if (u->st.inflight >= u->max_inflight) {
		u->st.overflow++;
		reply_error(u, req, f, "too many upstream queries in flight");
		return;
	} else if (!(p = start(u, f, hash))) {
		reply_error(u, req, f, "cannot send the upstream query");
		return;
	}
	if (!(w = calloc(1, sizeof(*w)))) {
		server_reply(req, NULL, 0);
		return;
	}
	w->req = req;
	w->cl = f->cl;
	memcpy(w->question, f->question, f->cl.question_len);
	w->cl.question = w->question;
	w->next = p->waiters;
	p->waiters = w;
	p->nwaiters++;
}

/* 1 if the upstream at (family, bytes, port) could be this server itself. */
static int is_us(const struct config *cfg, int family, const void *bytes, uint16_t port)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct sockaddr *l = (const struct sockaddr *)&cfg->listen[i];
		int wild, same, loop;

		if (l->sa_family != family || addr_port(l) != port)
			continue;
		if (family == AF_INET) {
			const struct in_addr *a = &((const struct sockaddr_in *)l)->sin_addr;

			wild = a->s_addr == htonl(INADDR_ANY);
			same = !memcmp(a, bytes, 4);
			loop = ((const uint8_t *)bytes)[0] == 127;
		} else {
			const struct in6_addr *a = &((const struct sockaddr_in6 *)l)->sin6_addr;

			wild = !memcmp(a, &in6addr_any, 16);
			same = !memcmp(a, bytes, 16);
			loop = !memcmp(bytes, lo6, 16);
		}
		if (same || (wild && loop))
			return 1;
	}
	return 0;
}

/* The host's resolv.conf servers, less this server's own addresses. */
static int system_servers(struct upstream *u, const struct config *cfg, char *errbuf, size_t errlen)
{
	struct ares_addr_port_node *list = NULL, *n;
	char csv[2048] = "", ip[INET6_ADDRSTRLEN];
	size_t o = 0;
	int kept = 0;

	if (ares_get_servers_ports(aresuv_channel(u->ares), &list) != ARES_SUCCESS)
		return -ENOMEM;
	for (n = list; n; n = n->next) {
		uint16_t port = n->udp_port ? (uint16_t)n->udp_port : 53;

		if (is_us(cfg, n->family, &n->addr, port)) {
			inet_ntop(n->family, &n->addr, ip, sizeof(ip));
			log_info("upstream", "skipping %s:%u from resolv.conf: it is this server", ip, port);
			continue;
		}
		inet_ntop(n->family, &n->addr, ip, sizeof(ip));
		o += (size_t)snprintf(csv + o, sizeof(csv) - o, n->family == AF_INET6 ? "%s[%s]:%u" : "%s%s:%u",
				      kept ? "," : "", ip, port);
		if (o >= sizeof(csv))
			o = sizeof(csv) - 1;
		kept++;
	}
	ares_free_data(list);
	if (!kept) {
		snprintf(errbuf, errlen, "resolv.conf names no upstream other than this server");
		return ERR_NOTFOUND;
	}
	if (ares_set_servers_ports_csv(aresuv_channel(u->ares), csv) != ARES_SUCCESS) {
		snprintf(errbuf, errlen, "cannot use the servers of resolv.conf (%s)", csv);
		return ERR_CONFIG;
	}
	log_info("upstream", "servers=%s (from resolv.conf)", csv);
	return 0;
}

static int listed_servers(struct upstream *u, const struct config *cfg, char *errbuf, size_t errlen)
{
	char csv[2048] = "", text[ADDR_TEXT_MAX];
	size_t o = 0;

	for (size_t i = 0; i < cfg->nupstreams; i++) {
		o += (size_t)snprintf(csv + o, sizeof(csv) - o, "%s%s", i ? "," : "",
				      addr_format((const struct sockaddr *)&cfg->upstreams[i], text));
		if (o >= sizeof(csv))
			o = sizeof(csv) - 1;
	}
	if (ares_set_servers_ports_csv(aresuv_channel(u->ares), csv) != ARES_SUCCESS) {
		snprintf(errbuf, errlen, "cannot use upstream servers %s", csv);
		return ERR_CONFIG;
	}
	log_info("upstream", "servers=%s", csv);
	return 0;
}

void upstream_set_limits(struct upstream *u, const struct config *cfg)
{
	u->timeout_ms = cfg->upstream_timeout_ms;
	u->max_inflight = cfg->upstream_max_inflight;
}

int upstream_new(struct upstream **out, uv_loop_t *loop, const struct config *cfg,
		 struct cache *cache, char *errbuf, size_t errlen)
{
	struct upstream *u;
	int rc;

	*out = NULL;
	if (!cfg->upstream_system && cfg->nupstreams == 0) {
		snprintf(errbuf, errlen, "no upstream configured");
		return ERR_NOTFOUND;
	}
	if (!(u = calloc(1, sizeof(*u))))
		return -ENOMEM;
	u->loop = loop;
	u->cache = cache;
	upstream_set_limits(u, cfg);
	/* c-ares's own tries end near the deadline; the deadline is the bound. */
	rc = aresuv_new(&u->ares, loop, NULL, (int)(cfg->upstream_timeout_ms / 3 + 1), 2,
			errbuf, errlen);
	if (rc == 0)
		rc = cfg->nupstreams ? listed_servers(u, cfg, errbuf, errlen)
				     : system_servers(u, cfg, errbuf, errlen);
	if (rc < 0) {
		if (u->ares)
			aresuv_close(u->ares);
		free(u);
		return rc;
	}
	*out = u;
	return 0;
}

void upstream_get_stats(const struct upstream *u, struct upstream_stats *st)
{
	*st = u->st;
}

void upstream_close(struct upstream *u)
{
	u->closing = 1;
	for (size_t b = 0; b < BUCKETS; b++)
		while (u->table[b]) {
			struct pending *p = u->table[b];

			table_del(u, p);
			answer_all(p, NULL, NULL, 0, "the server is stopping");
			if (!uv_is_closing((uv_handle_t *)&p->deadline))
				uv_close((uv_handle_t *)&p->deadline, timer_closed);
		}
	aresuv_close(u->ares); /* calls on_answer with ARES_EDESTRUCTION for the rest */
	free(u);
}
