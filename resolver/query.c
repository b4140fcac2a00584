/* query.c - answering one DNS query from a view (see query.h).
 *
 * Order of work: parse the header and question (RFC 1035 4.1), the OPT record
 * (RFC 6891 6.1), then find the node and write the sections. Names in answers
 * are compressed through a per-answer table of (node, offset) pairs; SRV
 * targets are written whole (RFC 2782: no compression in its rdata) and later
 * owners point at them. Truncation follows RFC 2181 9: additional records are
 * dropped first, and only an answer or authority section that does not fit
 * sets TC. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "query.h"
#include "wire.h"

#ifndef MESHDNS_VERSION
#define MESHDNS_VERSION "dev"
#endif

enum {
	RC_NOERROR = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3,
	RC_NOTIMP = 4, RC_REFUSED = 5, RC_BADVERS = 16
};
enum {
	T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_TXT = 16, T_AAAA = 28, T_SRV = 33,
	T_OPT = 41, T_TKEY = 249, T_TSIG = 250, T_IXFR = 251, T_AXFR = 252,
	T_MAILB = 253, T_MAILA = 254, T_ANY = 255
};
enum { C_IN = 1, C_CH = 3, C_ANY = 255 };
enum { F_QR = 0x8000, F_AA = 0x0400, F_TC = 0x0200, F_RD = 0x0100, F_CD = 0x0010 };
enum { EDE_PROHIBITED = 18, EDE_NOT_AUTHORITATIVE = 20, EDE_NOT_SUPPORTED = 21 };
enum { OPT_COOKIE = 10, RC_BADCOOKIE = 23 };

#define HDR 12
#define MAX_CNAME_HOPS 8

struct request {
	uint16_t id, flags;
	uint8_t qname[WIRE_NAME_MAX];
	size_t qname_len;
	uint32_t qhash;
	uint16_t qtype, qclass;
	size_t qend;          /* offset after the question */
	int edns, do_bit;
	uint16_t payload;
	uint8_t version;
	int cookie;           /* a COOKIE option came: 1 client only, 2 with a server cookie */
	int cookie_ok;        /* its server cookie is valid */
	uint8_t cookie_in[40];
	uint8_t cookie_len;
};

struct answer {
	struct wire w;
	uint16_t count[3];    /* answer, authority, additional */
	int rcode, aa, tc, ra;
	int outside;          /* outside our namespaces, with forwarding on */
	uint16_t ede;
	const char *ede_text;
	int capped;           /* UDP size cut to udp_payload_without_cookie */
};

void query_ctx_init(struct query_ctx *q, uint64_t seed)
{
	memset(q, 0, sizeof(*q));
	if (seed)
		wrand_seed(&q->rng, seed);
	else
		wrand_seed_auto(&q->rng);
}

/* ---- compression ---- */

static uint16_t comp_lookup(const struct query_ctx *q, const struct vnode *n)
{
	for (unsigned i = 0; i < q->ncomp; i++)
		if (q->comp_node[i] == n)
			return q->comp_off[i];
	return 0;
}

static void comp_add(struct query_ctx *q, const struct vnode *n, size_t off)
{
	if (q->ncomp < QUERY_COMP_MAX && off < 0x4000 && !comp_lookup(q, n)) {
		q->comp_node[q->ncomp] = n;
		q->comp_off[q->ncomp++] = (uint16_t)off;
	}
}

/* Enters the question's ancestors that comp_question left for later. */
static void comp_expand(struct query_ctx *q)
{
	size_t at = q->comp_rest_off;

	for (const struct vnode *p = q->comp_rest; p; p = p->parent) {
		comp_add(q, p, at);
		at += p->label_len;
	}
	q->comp_rest = NULL;
}

/* The offset n's name was written at, or 0. The question's ancestors are
 * entered on the first miss, before any name the answer writes: most
 * answers only point at the question's own name, and with a large view
 * reading its parent node is a cache miss. */
static uint16_t comp_find(struct query_ctx *q, const struct vnode *n)
{
	uint16_t off = comp_lookup(q, n);

	if (!off && q->comp_rest) {
		comp_expand(q);
		off = comp_lookup(q, n);
	}
	return off;
}

/* Forgets offsets at or after pos (their bytes were rolled back). */
static void comp_trim(struct query_ctx *q, size_t pos)
{
	unsigned k = 0;

	for (unsigned i = 0; i < q->ncomp; i++)
		if (q->comp_off[i] < pos) {
			q->comp_node[k] = q->comp_node[i];
			q->comp_off[k++] = q->comp_off[i];
		}
	q->ncomp = k;
}

/* Registers node as written at off (inside the question), its ancestors
 * when first needed (comp_find). */
static void comp_question(struct query_ctx *q, const struct vnode *n, size_t off)
{
	comp_add(q, n, off);
	q->comp_rest = n->parent;
	q->comp_rest_off = (uint16_t)(off + n->label_len);
}

static void put_name(struct query_ctx *q, struct wire *w, const struct vnode *n, int compress)
{
	if (!compress && q->comp_rest)
		comp_expand(q);
	for (; n; n = n->parent) {
		uint16_t off = compress ? comp_find(q, n) : 0;

		if (off) {
			wire_put_u16(w, (uint16_t)(0xC000 | off));
			return;
		}
		comp_add(q, n, w->pos);
		wire_put(w, n->name, n->label_len);
	}
	wire_put_u8(w, 0);
}

/* ---- records ---- */

static void put_rr(struct query_ctx *q, struct answer *a, int sec, const struct vnode *owner,
		   const uint8_t *tail, size_t len)
{
	put_name(q, &a->w, owner, 1);
	wire_put(&a->w, tail, len);
	a->count[sec]++;
}

static size_t tail_len(const uint8_t *tail)
{
	return 10 + (size_t)(tail[8] << 8 | tail[9]);
}

static const struct vrrset *rrset_find(const struct vnode *n, uint16_t type)
{
	for (unsigned i = 0; i < n->nrrsets; i++)
		if (n->rrsets[i].type == type)
			return &n->rrsets[i];
	return NULL;
}

static void put_rrset(struct query_ctx *q, struct answer *a, int sec, const struct vnode *owner,
		      const struct vrrset *s)
{
	const uint8_t *p = s->tails;

	for (unsigned i = 0; i < s->count; i++) {
		size_t l = tail_len(p);

		put_rr(q, a, sec, owner, p, l);
		p += l;
	}
}

/* The set's addresses in weighted order; the records are put together from
 * the set's own arrays, without reading the instances. */
static void put_addrs(struct query_ctx *q, struct answer *a, const struct vnode *owner,
		      const struct vset *s, int v6)
{
	uint32_t order[WRAND_MAX_K];
	uint8_t tail[VINST_AAAA_TAIL];
	size_t k = wrand_order(&q->rng, v6 ? s->cum6 : s->cum4, v6 ? s->n6 : s->n4,
			       s->max_answers, order);

	for (size_t i = 0; i < k; i++)
		put_rr(q, a, 0, owner, tail, vset_addr_tail(s, v6, order[i], tail));
}

static void put_srvs(struct query_ctx *q, struct answer *a, const struct vnode *owner,
		     const struct vset *s)
{
	uint8_t head[16];

	for (uint32_t i = 0; i < s->n; i++) {
		size_t start;

		put_name(q, &a->w, owner, 1);
		vset_srv_head(s, &s->members[i], head);
		wire_put(&a->w, head, sizeof(head));
		start = a->w.pos;
		put_name(q, &a->w, s->members[i].node, 0);
		wire_poke_u16(&a->w, start - 8, (uint16_t)(6 + a->w.pos - start));
		a->count[0]++;
	}
}

/* Glue for SRV targets, from the set's address arrays; an RRset that does
 * not fit is dropped with the rest. */
static void put_glue(struct query_ctx *q, struct answer *a, const struct vset *s)
{
	uint8_t tail[VINST_AAAA_TAIL];
	uint32_t k4 = 0, k6 = 0;

	for (uint32_t i = 0; i < s->n && !a->w.err; i++) {
		const struct vmember *m = &s->members[i];
		size_t mark = a->w.pos;
		uint16_t ar = a->count[2];

		if (m->has4)
			put_rr(q, a, 2, m->node, tail, vset_addr_tail(s, 0, k4++, tail));
		if (m->has6)
			put_rr(q, a, 2, m->node, tail, vset_addr_tail(s, 1, k6++, tail));
		if (a->w.err) {
			a->w.pos = mark;
			a->count[2] = ar;
			comp_trim(q, mark);
		}
	}
	a->w.err = 0;
}

/* Answers qtype at node; returns the records added to the answer section. */
static unsigned answer_node(struct query_ctx *q, struct answer *a, const struct vnode *n,
			    uint16_t qtype)
{
	uint16_t before = a->count[0];
	int any = qtype == T_ANY;

	for (unsigned i = 0; i < n->nrrsets; i++)
		if (any || n->rrsets[i].type == qtype)
			put_rrset(q, a, 0, n, &n->rrsets[i]);
	if (n->kind == VN_SET) {
		if (any || qtype == T_A)
			put_addrs(q, a, n, n->set, 0);
		if (any || qtype == T_AAAA)
			put_addrs(q, a, n, n->set, 1);
		if (any || qtype == T_SRV) {
			put_srvs(q, a, n, n->set);
			if (!a->w.err)
				put_glue(q, a, n->set);
		}
	} else if (n->kind == VN_INSTANCE) {
		const struct vinst *vi = n->inst;

		if ((any || qtype == T_A) && vi->has4)
			put_rr(q, a, 0, n, vi->a_tail, VINST_A_TAIL);
		if ((any || qtype == T_AAAA) && vi->has6)
			put_rr(q, a, 0, n, vi->aaaa_tail, VINST_AAAA_TAIL);
		if (any || qtype == T_TXT)
			put_rr(q, a, 0, n, vi->txt_tail, vi->txt_len);
	}
	return (unsigned)(a->count[0] - before);
}

/* ---- lookup ---- */

/* Closest existing ancestor of name (or NULL: outside every namespace);
 * *skip gets the bytes of name in front of it. */
static const struct vnode *closest(const struct view *v, const uint8_t *name, size_t len,
				   size_t *skip)
{
	size_t p = 0;

	while (name[p]) {
		p += 1 + (size_t)name[p];
		const struct vnode *n = view_lookup(v, name + p, len - p,
						    wire_name_hash(name + p, len - p));
		if (n) {
			*skip = p;
			return n;
		}
	}
	return NULL;
}

static void negative(struct query_ctx *q, struct answer *a, const struct vnode *n, int rcode)
{
	const struct vns *ns = n->ns;

	a->rcode = rcode;
	if (ns->soa_neg)
		put_rr(q, a, 1, ns->apex, ns->soa_neg, ns->soa_neg_len);
}

/* Follows an in-view CNAME from n; returns the next node or NULL to stop. */
static const struct vnode *cname_next(struct query_ctx *q, const struct view *v,
				      struct answer *a, const struct vrrset *cn)
{
	uint8_t target[WIRE_NAME_MAX];
	struct wire r;
	size_t len, skip;
	const struct vnode *next, *ce;

	wire_init_ro(&r, cn->tails + 10, tail_len(cn->tails) - 10);
	len = wire_name_read(&r, target, 1);
	if (r.err || !len)
		return NULL;
	next = view_lookup(v, target, len, wire_name_hash(target, len));
	if (next)
		return next;
	ce = closest(v, target, len, &skip);
	if (ce)
		negative(q, a, ce, RC_NXDOMAIN);
	return NULL;
}

static void answer_in(struct query_ctx *q, const struct view *v, struct answer *a,
		      const struct request *r)
{
	const struct vnode *n = view_lookup(v, r->qname, r->qname_len, r->qhash);
	size_t skip = 0;

	if (!n) {
		n = closest(v, r->qname, r->qname_len, &skip);
		if (!n && (q->cache || q->defer_outside)) {
			a->outside = 1;
			return;
		}
		if (!n) {
			a->rcode = RC_REFUSED;
			a->ede = EDE_NOT_AUTHORITATIVE;
			a->ede_text = "name is outside every namespace this server serves";
			return;
		}
		comp_question(q, n, HDR + skip);
		a->aa = 1;
		negative(q, a, n, RC_NXDOMAIN);
		return;
	}
	comp_question(q, n, HDR);
	a->aa = 1;
	for (int hops = 0; hops <= MAX_CNAME_HOPS; hops++) {
		const struct vrrset *cn = rrset_find(n, T_CNAME);

		if (cn && r->qtype != T_CNAME && r->qtype != T_ANY) {
			put_rrset(q, a, 0, n, cn);
			n = cname_next(q, v, a, cn);
			if (!n)
				return;
			continue;
		}
		if (!answer_node(q, a, n, r->qtype) && !a->count[0])
			negative(q, a, n, RC_NOERROR);
		return;
	}
}

/* One line of the listing: name, addresses, port, weights, health, origin
 * and the lease left. */
static size_t listing_line(const struct vdebug_item *it, uint64_t now, char *out, size_t cap)
{
	static const char *const health[] = { "healthy", "unhealthy", "warning" };
	const struct vinst *vi = it->vi;
	char name[WIRE_NAME_TEXT_MAX], a4[INET_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "";
	char lease[32];
	int n;

	wire_name_to_text(vi->node->name, name, sizeof(name));
	if (vi->has4)
		inet_ntop(AF_INET, vi->a_tail + 10, a4, sizeof(a4));
	if (vi->has6)
		inet_ntop(AF_INET6, vi->aaaa_tail + 10, a6, sizeof(a6));
	if (vi->expiry)
		snprintf(lease, sizeof(lease), "%llus",
			 (unsigned long long)(vi->expiry > now ? vi->expiry - now : 0));
	else
		snprintf(lease, sizeof(lease), "none");
	n = snprintf(out, cap, "%s addr=%s%s%s port=%u weight=%u srv_weight=%u health=%s"
		     " origin=%s lease=%s%s", name, a4, vi->has4 && vi->has6 ? "," : "", a6,
		     vi->port, vi->weight, it->srvw, health[vi->health % 3],
		     vi->origin ? "update" : "config", lease, vi->drained ? " drained" : "");
	return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/* CH TXT at a service or router name: every instance, for debugging with dig
 * (not the hot path: it formats text and reads the clock). */
static void answer_listing(struct answer *a, const struct vdebug *d)
{
	uint64_t now = (uint64_t)time(NULL);

	a->aa = 1;
	for (uint32_t i = 0; i < d->n && !a->w.err; i++) {
		char line[256];
		size_t l = listing_line(&d->items[i], now, line, sizeof(line));

		wire_put_u16(&a->w, 0xC000 | HDR);
		wire_put_u16(&a->w, T_TXT);
		wire_put_u16(&a->w, C_CH);
		wire_put_u32(&a->w, 0);
		wire_put_u16(&a->w, (uint16_t)(1 + l));
		wire_put_u8(&a->w, (uint8_t)l);
		wire_put(&a->w, line, l);
		a->count[0]++;
	}
}

/* version.bind / version.server in class CH, as BIND, NSD and Knot answer;
 * service and router names list their instances. */
static void answer_chaos(const struct view *v, struct answer *a, const struct request *r)
{
	const struct vnode *n = view_lookup(v, r->qname, r->qname_len, r->qhash);

	if (n && n->kind == VN_SET && n->set && n->set->debug &&
	    (r->qtype == T_TXT || r->qtype == T_ANY)) {
		answer_listing(a, n->set->debug);
		return;
	}
	static const uint8_t vb[] = "\007version\004bind";
	static const uint8_t vs[] = "\007version\006server";
	static const char text[] = "meshdns " MESHDNS_VERSION;

	if ((r->qtype != T_TXT && r->qtype != T_ANY) ||
	    !(wire_name_eq(r->qname, vb) || wire_name_eq(r->qname, vs))) {
		a->rcode = RC_REFUSED;
		return;
	}
	a->aa = 1;
	wire_put_u16(&a->w, 0xC000 | HDR);
	wire_put_u16(&a->w, T_TXT);
	wire_put_u16(&a->w, C_CH);
	wire_put_u32(&a->w, 0);
	wire_put_u16(&a->w, (uint16_t)(sizeof(text)));
	wire_put_u8(&a->w, (uint8_t)(sizeof(text) - 1));
	wire_put(&a->w, text, sizeof(text) - 1);
	a->count[0]++;
}

/* ---- parsing ---- */

/* RFC 6891 6.1: one OPT, owner root; options must fill its rdata exactly. */
static int parse_opt(struct wire *w, struct request *r)
{
	uint16_t cls = wire_u16(w);
	uint32_t ttl = wire_u32(w);
	uint16_t rdlen = wire_u16(w);
	size_t end = w->pos + rdlen;

	if (w->err || r->edns || end > w->end)
		return RC_FORMERR;
	r->edns = 1;
	r->payload = cls;
	r->version = (uint8_t)(ttl >> 16);
	r->do_bit = (ttl & 0x8000) != 0;
	while (!w->err && w->pos < end) {
		uint16_t code = wire_u16(w), olen = wire_u16(w);

		if (w->pos + olen > end)
			return RC_FORMERR;
		if (code == OPT_COOKIE && !w->err) {
			/* RFC 7873 5.2.2: 8 bytes, or 16 to 40; one COOKIE option. */
			if (r->cookie || olen < 8 || (olen > 8 && olen < 16) || olen > 40)
				return RC_FORMERR;
			memcpy(r->cookie_in, w->base + w->pos, olen);
			r->cookie_len = (uint8_t)olen;
			r->cookie = olen == 8 ? 1 : 2;
		}
		wire_skip(w, olen);
	}
	return w->err || w->pos != end ? RC_FORMERR : RC_NOERROR;
}

static int parse_additional(struct wire *w, struct request *r, uint16_t arcount)
{
	for (uint16_t i = 0; i < arcount; i++) {
		uint8_t name[WIRE_NAME_MAX];
		size_t len = wire_name_read(w, name, 0);
		uint16_t type = wire_u16(w);

		if (w->err)
			return RC_FORMERR;
		if (type == T_OPT) {
			if (len != 1 || parse_opt(w, r) != RC_NOERROR)
				return RC_FORMERR;
			continue;
		}
		/* Other records (e.g. TSIG on a query) are not used for queries. */
		wire_skip(w, 6);
		wire_skip(w, wire_u16(w));
	}
	return w->err || w->pos != w->end ? RC_FORMERR : RC_NOERROR;
}

/* Returns RC_NOERROR, RC_FORMERR (question unusable), or -1 when the error
 * lies after a valid question (which can then be echoed). */
static int parse_question(struct wire *w, struct request *r)
{
	size_t start = w->pos;

	r->qname_len = wire_name_read(w, r->qname, 1);
	r->qtype = wire_u16(w);
	r->qclass = wire_u16(w);
	/* A question name that points elsewhere cannot be echoed as it came. */
	if (w->err || w->pos - start != r->qname_len + 4)
		return RC_FORMERR;
	r->qhash = wire_name_hash(r->qname, r->qname_len);
	r->qend = w->pos;
	return RC_NOERROR;
}

/* ---- assembly ---- */

/* 1 when this query's cookies are handled: on, and the caller said who asks. */
static int cookies_on(const struct query_ctx *q)
{
	return q->cookies.on && q->client;
}

static void put_opt(struct query_ctx *q, struct answer *a, const struct request *r,
		    const struct view *v, int ext_rcode)
{
	size_t tl = a->ede_text ? strlen(a->ede_text) : 0;
	int ck = r->cookie && cookies_on(q);
	size_t rdlen = (a->ede ? 6 + tl : 0) + (ck ? 4 + COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN : 0);

	wire_put_u8(&a->w, 0);
	wire_put_u16(&a->w, T_OPT);
	wire_put_u16(&a->w, (uint16_t)v->udp_payload);
	wire_put_u32(&a->w, (uint32_t)ext_rcode << 24 | (r->do_bit ? 0x8000u : 0));
	wire_put_u16(&a->w, (uint16_t)rdlen);
	if (ck) {
		/* RFC 7873 5.2: the client cookie back, and a fresh server cookie. */
		uint8_t sc[COOKIE_SERVER_LEN];

		cookie_make(q->cookies.cur, r->cookie_in, q->client, q->wall, sc);
		wire_put_u16(&a->w, OPT_COOKIE);
		wire_put_u16(&a->w, COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN);
		wire_put(&a->w, r->cookie_in, COOKIE_CLIENT_LEN);
		wire_put(&a->w, sc, COOKIE_SERVER_LEN);
	}
	if (a->ede) {
		wire_put_u16(&a->w, 15); /* RFC 8914 EDE */
		wire_put_u16(&a->w, (uint16_t)(2 + tl));
		wire_put_u16(&a->w, a->ede);
		wire_put(&a->w, a->ede_text, tl);
	}
	a->count[2]++;
}

static size_t size_limit(const struct query_ctx *q, const struct request *r,
			 const struct view *v, size_t cap, int tcp, int *capped)
{
	size_t lim = QUERY_UDP_MIN;

	if (tcp)
		lim = 65535;
	else if (r->edns)
		lim = r->payload < QUERY_UDP_MIN ? QUERY_UDP_MIN :
		      r->payload > v->udp_payload ? v->udp_payload : r->payload;
	/* Without a valid server cookie a UDP source address is unproven: keep
	 * the answer small, so a spoofed query amplifies little. */
	if (!tcp && r->edns && cookies_on(q) && !r->cookie_ok && lim > q->cookies.udp_cap) {
		lim = q->cookies.udp_cap < QUERY_UDP_MIN ? QUERY_UDP_MIN : q->cookies.udp_cap;
		if (capped)
			*capped = 1;
	}
	return lim < cap ? lim : cap;
}

static size_t finish(struct query_ctx *q, struct answer *a, const struct request *r,
		     const struct view *v, size_t limit, int with_question)
{
	size_t qend = with_question ? r->qend : HDR;
	int rc = a->rcode;
	uint16_t flags;

	/* Answer or authority did not fit: send the question alone with TC. */
	if (a->w.err) {
		a->w.err = 0;
		a->w.pos = qend;
		a->count[0] = a->count[1] = a->count[2] = 0;
		if (a->capped && r->cookie) {
			/* RFC 7873 5.2.3: it would fit with a valid server cookie, and
			 * the client speaks cookies: BADCOOKIE with a fresh one, which
			 * it retries with over UDP, rather than TC and a TCP retry. */
			rc = RC_BADCOOKIE;
			a->aa = 0;
			q->stats.badcookie++;
		} else {
			a->tc = 1;
			q->stats.truncated++;
		}
	}
	a->w.end = limit;
	if (r->edns)
		put_opt(q, a, r, v, rc >> 4);
	if (a->w.err)
		return 0;
	flags = (uint16_t)(F_QR | (r->flags & (0x7800 | F_RD | F_CD)) | (rc & 0xF));
	if (a->aa)
		flags |= F_AA;
	if (a->tc)
		flags |= F_TC;
	if (a->ra)
		flags |= 0x0080;
	wire_poke_u16(&a->w, 2, flags);
	wire_poke_u16(&a->w, 4, with_question ? 1 : 0);
	wire_poke_u16(&a->w, 6, a->count[0]);
	wire_poke_u16(&a->w, 8, a->count[1]);
	wire_poke_u16(&a->w, 10, a->count[2]);
	switch (rc) {
	case RC_NOERROR: q->stats.noerror++; break;
	case RC_NXDOMAIN: q->stats.nxdomain++; break;
	case RC_FORMERR: q->stats.formerr++; break;
	case RC_NOTIMP: q->stats.notimp++; break;
	case RC_REFUSED: q->stats.refused++; break;
	default: break;
	}
	return a->w.pos;
}

/* Writes the header and (when present) the question copied from the query,
 * which keeps the client's letter case (RFC 4343 4.1). */
static void start_answer(struct answer *a, const uint8_t *req, const struct request *r,
			 uint8_t *resp, size_t cap, int with_question)
{
	memset(a, 0, sizeof(*a));
	wire_init(&a->w, resp, cap);
	wire_put_u16(&a->w, r->id);
	wire_put(&a->w, "\0\0\0\0\0\0\0\0\0\0", 10);
	if (with_question)
		wire_put(&a->w, req + HDR, r->qend - HDR);
}

static void dispatch(struct query_ctx *q, const struct view *v, struct answer *a,
		     const struct request *r)
{
	if (r->edns && r->version > 0) {
		a->rcode = RC_BADVERS; /* RFC 6891 6.1.3 */
		return;
	}
	switch (r->qtype) {
	case T_OPT: case T_TSIG: case T_TKEY:
		a->rcode = RC_FORMERR;
		return;
	case T_AXFR: case T_IXFR:
		a->rcode = RC_REFUSED;
		a->ede = EDE_PROHIBITED;
		a->ede_text = "zone transfers are not enabled";
		return;
	case T_MAILA: case T_MAILB:
		a->rcode = RC_NOTIMP;
		return;
	}
	if (r->qclass == C_IN || r->qclass == C_ANY)
		answer_in(q, v, a, r);
	else if (r->qclass == C_CH)
		answer_chaos(v, a, r);
	else
		a->rcode = RC_REFUSED;
}

/* A name outside our namespaces, with forwarding on: the cache answers, or
 * the question goes upstream (RD set), or REFUSED (RD clear: cache only). */
static size_t outside(struct query_ctx *q, const struct view *v, struct answer *a,
		      const struct request *r, const uint8_t *req, uint8_t *resp, size_t cap,
		      int tcp)
{
	struct query_fwd *f = &q->fwd;
	const struct cache_entry *e;
	int stale;
	size_t n;

	f->cl.id = r->id;
	f->cl.flags = r->flags;
	f->cl.question_len = r->qend - HDR;
	memcpy(f->question, req + HDR, f->cl.question_len);
	f->cl.question = f->question;
	f->cl.edns = r->edns;
	f->cl.do_bit = r->do_bit;
	f->cl.payload = r->payload;
	f->cl.tcp = tcp;
	f->cl.udp_max = (uint32_t)size_limit(q, r, v, 65535, 0, NULL);
	e = cache_get(q->cache, r->qname, r->qname_len, r->qtype, r->qclass, q->now, 0, &stale);
	if (e && (n = cache_render(e, q->now, 0, &f->cl, resp, cap)) > 0) {
		q->stats.cache_hits++;
		return n;
	}
	q->stats.cache_misses++;
	if (!(r->flags & F_RD)) {
		a->rcode = RC_REFUSED;
		a->ede = EDE_NOT_AUTHORITATIVE;
		a->ede_text = "not in the cache, and the query did not ask for recursion";
		return finish(q, a, r, v, size_limit(q, r, v, cap, tcp, NULL), 1);
	}
	memcpy(f->qname, r->qname, r->qname_len);
	f->qname_len = r->qname_len;
	f->qtype = r->qtype;
	f->qclass = r->qclass;
	f->pending = 1;
	q->stats.forwarded++;
	return 0;
}

size_t query_process(struct query_ctx *q, const struct view *v, const uint8_t *req,
		     size_t reqlen, uint8_t *resp, size_t respcap, int tcp)
{
	struct request r = { 0 };
	struct answer a;
	struct wire w;
	uint16_t qd, an, ns, ar;
	int rc, opcode, have_q, capped = 0;
	size_t limit;

	q->stats.queries++;
	q->fwd.pending = 0;
	q->cookie_ok = 0;
	q->deferred = 0;
	wire_init_ro(&w, req, reqlen);
	r.id = wire_u16(&w);
	r.flags = wire_u16(&w);
	qd = wire_u16(&w), an = wire_u16(&w), ns = wire_u16(&w), ar = wire_u16(&w);
	if (w.err || (r.flags & F_QR) || respcap < QUERY_UDP_MIN) {
		q->stats.dropped++;
		return 0; /* nothing to answer to, or a response: never reply */
	}
	q->ncomp = 0;
	q->comp_rest = NULL;
	opcode = (r.flags >> 11) & 0xF;
	have_q = qd == 1 && parse_question(&w, &r) == RC_NOERROR;
	rc = opcode != 0 ? RC_NOTIMP : !have_q ? RC_FORMERR :
	     (an || ns) ? RC_FORMERR : parse_additional(&w, &r, ar);
	/* UPDATEs reach this path only when no key allows registrations. */
	if (opcode == 5)
		rc = RC_REFUSED;
	if (rc != RC_NOERROR)
		r.edns = 0; /* RFC 6891 7: no OPT in answers to broken queries */
	if (rc == RC_NOERROR && r.cookie == 2 && cookies_on(q))
		r.cookie_ok = cookie_valid(&q->cookies, r.cookie_in, r.cookie_in + COOKIE_CLIENT_LEN,
					   r.cookie_len - COOKIE_CLIENT_LEN, q->client, q->wall);
	q->cookie_ok = r.cookie_ok;
	limit = size_limit(q, &r, v, respcap, tcp, &capped);
	start_answer(&a, req, &r, resp, limit, have_q);
	a.capped = capped;
	a.rcode = rc;
	a.ra = q->cache || q->defer_outside;
	if (rc == RC_NOERROR) {
		/* Leave room for the OPT record (its EDE and COOKIE options) at the end. */
		a.w.end = limit - (r.edns ? 11 + 6 + 80 + 28 : 0);
		dispatch(q, v, &a, &r);
		if (a.outside && !q->cache) {
			q->stats.queries--;  /* counted where it is answered */
			q->deferred = 1;
			return 0;
		}
		if (a.outside)
			return outside(q, v, &a, &r, req, resp, respcap, tcp);
	}
	return finish(q, &a, &r, v, limit, have_q);
}

const char *const query_stat_types[QSTAT_TYPES] = {
	"A", "AAAA", "SRV", "TXT", "PTR", "CNAME", "MX", "NS", "SOA", "ANY", "HTTPS", "SVCB",
	"other"
};
const char *const query_stat_rcodes[QSTAT_RCODES] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other"
};

static unsigned stat_type(uint16_t t)
{
	switch (t) {
	case 1: return 0;
	case 28: return 1;
	case 33: return 2;
	case 16: return 3;
	case 12: return 4;
	case 5: return 5;
	case 15: return 6;
	case 2: return 7;
	case 6: return 8;
	case 255: return 9;
	case 65: return 10;
	case 64: return 11;
	default: return QSTAT_TYPES - 1;
	}
}

void query_stats_answer(struct query_stats *st, const uint8_t *resp, size_t len)
{
	unsigned rc, ty = QSTAT_TYPES - 1;
	size_t p = HDR;

	if (len < HDR)
		return;
	rc = resp[3] & 0xF;
	if (rc >= QSTAT_RCODES - 1)
		rc = QSTAT_RCODES - 1;
	if (resp[4] | resp[5]) {   /* the question's name is never compressed */
		while (p < len && resp[p] && resp[p] < 64)
			p += 1 + (size_t)resp[p];
		if (p + 3 <= len && !resp[p])
			ty = stat_type((uint16_t)(resp[p + 1] << 8 | resp[p + 2]));
	}
	st->answers[ty][rc]++;
}
