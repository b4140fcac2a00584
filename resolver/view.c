/* view.c - building the immutable query snapshot from the registry (view.h).
 *
 * All memory of a view comes from one arena, freed at once with the view, so
 * a build is a sequence of bump allocations and a free is a walk over a few
 * blocks. Weights are computed here, once per change, so queries only draw
 * from cumulative arrays. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <strings.h>
#include "err.h"
#include "registry.h"
#include "view.h"
#include "wire.h"

/* ---- arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	int mapped;                 /* a huge block from mmap, not malloc */
	_Alignas(16) unsigned char data[];
};

/* A large view (100,000 instances is ~20 MiB) is read at random by every
 * query: with 4 KiB pages most lookups also miss the TLB. Past the first
 * SMALL_BLOCKS blocks the arena grows in 2 MiB blocks, mmap'd and advised as
 * transparent huge pages (when the system allows them), as is the name
 * table's slot array. Small views stay in small malloc'd blocks. */
#define SMALL_BLOCKS 16
#define HUGE_BLOCK (2u << 20)

static void advise_huge(void *p, size_t len)
{
	uintptr_t a = ((uintptr_t)p + HUGE_BLOCK - 1) & ~(uintptr_t)(HUGE_BLOCK - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(uintptr_t)(HUGE_BLOCK - 1);

	if (e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice only */
}

/* Instance -> its vinst, for this build: sets, SRV weights and debug
 * listings each look every instance up again, and a pointer hash is a
 * fraction of hashing and comparing its name (which took over half of a
 * build). Open addressing, at most half full, sized once. */
struct imap {
	const struct instance **key;
	struct vinst **val;
	size_t mask;
};

struct builder {
	struct view *v;
	struct arena_block *blocks;
	size_t nblocks;
	const struct registry *reg;
	uint64_t now_ms;
	int nomem;
	struct imap imap;
};

static int imap_init(struct imap *m, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	m->key = calloc(cap, sizeof(*m->key));
	m->val = malloc(cap * sizeof(*m->val));
	m->mask = cap - 1;
	return m->key && m->val ? 0 : -ENOMEM;
}

static void imap_free(struct imap *m)
{
	free(m->key);
	free(m->val);
}

static size_t imap_slot(const struct imap *m, const struct instance *in)
{
	uint64_t h = ((uint64_t)(uintptr_t)in >> 3) * 0x9E3779B97F4A7C15ull;
	size_t i = (size_t)(h >> 32) & m->mask;

	while (m->key[i] && m->key[i] != in)
		i = (i + 1) & m->mask;
	return i;
}

/* Every instance is put once (the table has room for all of them). */
static void imap_put(struct imap *m, const struct instance *in, struct vinst *vi)
{
	size_t i = imap_slot(m, in);

	m->key[i] = in;
	m->val[i] = vi;
}

static void *balloc(struct builder *b, size_t size)
{
	struct arena_block *blk = b->blocks;

	/* 8-byte alignment: the view's structs hold nothing wider than a
	 * pointer or a uint64_t, and 100,000 instances make several small
	 * allocations each (node, name, TXT), so 16 would cost ~1 MiB. */
	size = (size + 7) & ~(size_t)7;
	if (!blk || blk->cap - blk->used < size) {
		size_t cap = size > 65536 ? size : 65536;
		int mapped = 0;

		if (b->nblocks >= SMALL_BLOCKS && sizeof(*blk) + size <= HUGE_BLOCK) {
			/* Twice the size, so that an aligned 2 MiB lies inside. */
			void *m = mmap(NULL, 2 * HUGE_BLOCK, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (m == MAP_FAILED) {
				b->nomem = 1;
				return NULL;
			}
			{
				uintptr_t a = ((uintptr_t)m + HUGE_BLOCK - 1) &
					      ~(uintptr_t)(HUGE_BLOCK - 1);
				size_t head = a - (uintptr_t)m;

				/* Keep exactly the aligned 2 MiB. */
				if (head)
					munmap(m, head);
				munmap((char *)a + HUGE_BLOCK, HUGE_BLOCK - head);
				blk = (struct arena_block *)a;
			}
			(void)madvise(blk, HUGE_BLOCK, MADV_HUGEPAGE);
			cap = HUGE_BLOCK - sizeof(*blk);
			mapped = 1;
		} else {
			blk = malloc(sizeof(*blk) + cap);
		}
		if (!blk) {
			b->nomem = 1;
			return NULL;
		}
		b->nblocks++;
		blk->mapped = mapped;
		blk->next = b->blocks;
		blk->used = 0;
		blk->cap = cap;
		b->blocks = blk;
		b->v->arena = blk;
	}
	blk->used += size;
	return memset(blk->data + blk->used - size, 0, size);
}


/* ---- nodes ---- */

static struct vnode *node_get(struct builder *b, const uint8_t *name, size_t len)
{
	uint32_t hash = wire_name_hash(name, len);
	struct vnode *n = nametab_get(&b->v->names, name, len, hash);

	if (n || b->nomem)
		return n;
	if (len <= 1)
		return NULL; /* above every apex: cannot happen for names inside a namespace */
	n = balloc(b, sizeof(*n) + len);
	if (!n)
		return NULL;
	memcpy(n->name, name, len);
	n->name_len = (uint8_t)len;
	n->label_len = (uint8_t)(1 + name[0]);
	n->kind = VN_ENT;
	n->parent = node_get(b, name + n->label_len, len - n->label_len);
	if (!n->parent)
		return NULL;
	n->ns = n->parent->ns;
	if (nametab_put_hashed(&b->v->names, n->name, len, hash, n) < 0) {
		b->nomem = 1;
		return NULL;
	}
	return n;
}

static struct vnode *apex_new(struct builder *b, const struct ns *ns)
{
	struct vnode *n = balloc(b, sizeof(*n) + ns->cfg->wire_len);
	struct vns *vns = balloc(b, sizeof(*vns));

	if (!n || !vns)
		return NULL;
	memcpy(n->name, ns->cfg->wire, ns->cfg->wire_len);
	n->name_len = (uint8_t)ns->cfg->wire_len;
	n->label_len = (uint8_t)(ns->cfg->wire_len - 1);
	n->kind = VN_APEX;
	n->ns = vns;
	vns->apex = n;
	if (nametab_put(&b->v->names, n->name, n->name_len, n) < 0) {
		b->nomem = 1;
		return NULL;
	}
	return n;
}

/* ---- static records ---- */

struct rr_ref {
	const struct zone_rr *rr;
	size_t idx;
};

static int rr_cmp(const void *pa, const void *pb)
{
	const struct rr_ref *a = pa, *b = pb;

	if (a->rr->owner_len != b->rr->owner_len)
		return a->rr->owner_len < b->rr->owner_len ? -1 : 1;
	int c = memcmp(a->rr->owner, b->rr->owner, a->rr->owner_len);
	if (c)
		return c;
	if (a->rr->type != b->rr->type)
		return a->rr->type < b->rr->type ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Builds the rrsets of one owner from refs[0..n), all of that owner. */
static void attach_rrsets(struct builder *b, const struct rr_ref *refs, size_t n)
{
	struct vnode *node = node_get(b, refs[0].rr->owner, refs[0].rr->owner_len);
	struct vrrset *sets;
	size_t ntypes = 1, k = 0;

	for (size_t i = 1; i < n; i++)
		ntypes += refs[i].rr->type != refs[i - 1].rr->type;
	sets = balloc(b, ntypes * sizeof(*sets));
	if (!node || !sets)
		return;
	for (size_t i = 0; i < n;) {
		size_t j = i, len = 0;
		uint8_t *p;

		while (j < n && refs[j].rr->type == refs[i].rr->type)
			len += 10 + refs[j++].rr->rdlen;
		p = balloc(b, len);
		if (!p)
			return;
		sets[k].type = refs[i].rr->type;
		sets[k].count = (uint16_t)(j - i);
		sets[k].len = (uint32_t)len;
		sets[k].tails = p;
		for (; i < j; i++) {
			const struct zone_rr *rr = refs[i].rr;

			view_tail_head(p, rr->type, rr->ttl, rr->rdlen);
			memcpy(p + 10, rr->rdata, rr->rdlen);
			p += 10 + rr->rdlen;
		}
		k++;
	}
	node->rrsets = sets;
	node->nrrsets = (uint8_t)(ntypes > 255 ? 255 : ntypes);
}

static void add_zone(struct builder *b, const struct zone *z)
{
	struct rr_ref *refs = malloc(z->n * sizeof(*refs));

	if (!refs) {
		b->nomem = 1;
		return;
	}
	for (size_t i = 0; i < z->n; i++) {
		refs[i].rr = &z->rrs[i];
		refs[i].idx = i;
	}
	qsort(refs, z->n, sizeof(*refs), rr_cmp);
	for (size_t i = 0; i < z->n && !b->nomem;) {
		size_t j = i + 1;

		while (j < z->n && refs[j].rr->owner_len == refs[i].rr->owner_len &&
		       !memcmp(refs[j].rr->owner, refs[i].rr->owner, refs[i].rr->owner_len))
			j++;
		attach_rrsets(b, refs + i, j - i);
		i = j;
	}
	free(refs);
}

/* "prefix.<ns>" in wire form into out; returns its length. */
static size_t prefixed(const char *label, const struct ns *ns, uint8_t *out)
{
	size_t ll = strlen(label);

	out[0] = (uint8_t)ll;
	memcpy(out + 1, label, ll);
	memcpy(out + 1 + ll, ns->cfg->wire, ns->cfg->wire_len);
	return 1 + ll + ns->cfg->wire_len;
}

/* A namespace without a zone file still needs an SOA for negative answers. */
static void synth_soa(struct builder *b, struct vnode *apex, const struct ns *ns)
{
	uint8_t mname[WIRE_NAME_MAX + 16], rname[WIRE_NAME_MAX + 16];
	size_t ml, rl, rdlen;
	struct vrrset *set = balloc(b, sizeof(*set));
	uint8_t *p;

	if (ns->cfg->wire_len + 12 > WIRE_NAME_MAX) {
		mname[0] = 0, rname[0] = 0, ml = rl = 1; /* too long to prefix: use the root */
	} else {
		ml = prefixed("ns", ns, mname);
		rl = prefixed("hostmaster", ns, rname);
	}
	rdlen = ml + rl + 20;
	p = balloc(b, 10 + rdlen);
	if (!set || !p)
		return;
	view_tail_head(p, TYPE_SOA, ns->cfg->ttl, (uint16_t)rdlen);
	memcpy(p + 10, mname, ml);
	memcpy(p + 10 + ml, rname, rl);
	wire_set32(p + 10 + ml + rl, ns->serial);
	wire_set32(p + 14 + ml + rl, 3600);
	wire_set32(p + 18 + ml + rl, 600);
	wire_set32(p + 22 + ml + rl, 86400);
	wire_set32(p + 26 + ml + rl, ns->cfg->negative_ttl);
	set->type = TYPE_SOA;
	set->count = 1;
	set->len = (uint32_t)(10 + rdlen);
	set->tails = p;
	apex->rrsets = set;
	apex->nrrsets = 1;
}

/* RFC 2308 5: the SOA of a negative answer carries min(TTL, SOA minimum). */
static void negative_soa(struct builder *b, struct vnode *apex)
{
	struct vns *vns = (struct vns *)apex->ns;

	for (size_t i = 0; i < apex->nrrsets; i++) {
		const struct vrrset *s = &apex->rrsets[i];
		uint8_t *p;
		uint32_t ttl, min;
		uint16_t len = (uint16_t)(s->len / s->count);

		if (s->type != TYPE_SOA)
			continue;
		len = (uint16_t)(10 + (s->tails[8] << 8 | s->tails[9]));
		p = balloc(b, len);
		if (!p)
			return;
		memcpy(p, s->tails, len);
		ttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
		min = (uint32_t)p[len - 4] << 24 | (uint32_t)p[len - 3] << 16 |
		      (uint32_t)p[len - 2] << 8 | p[len - 1];
		wire_set32(p + 4, ttl < min ? ttl : min);
		vns->soa_neg = p;
		vns->soa_neg_len = len;
	}
}

/* ---- instances ---- */

static struct vinst *vinst_new(struct builder *b, const struct instance *in)
{
	const struct ns *ns = in->svc->ns;
	uint8_t name[WIRE_NAME_MAX];
	size_t len, ll = strlen(in->id), txt = 0;
	struct vinst *vi = balloc(b, sizeof(*vi));
	struct vnode *node;
	uint8_t *p;
	const char *h = registry_health_str(in->health);

	if (!vi || 1 + ll + in->svc->wire_len > WIRE_NAME_MAX)
		return NULL;
	name[0] = (uint8_t)ll;
	memcpy(name + 1, in->id, ll);
	memcpy(name + 1 + ll, in->svc->wire, in->svc->wire_len);
	len = 1 + ll + in->svc->wire_len;
	wire_name_lower(name);
	node = node_get(b, name, len);
	if (!node)
		return NULL;
	/* An instance named as a service's or router's SRV name (service
	 * "_tcp", instance "_web": _web._tcp.<ns>) leaves the name to the set,
	 * whichever of the two is built first. */
	if (node->kind != VN_SET) {
		node->kind = VN_INSTANCE;
		node->inst = vi;
	}
	vi->node = node;
	imap_put(&b->imap, in, vi);
	vi->has4 = (uint8_t)in->has4;
	vi->has6 = (uint8_t)in->has6;
	vi->port = in->port;
	vi->weight = in->weight;
	vi->health = (uint8_t)in->health;
	vi->origin = (uint8_t)in->origin;
	vi->drained = in->drained;
	vi->expiry = in->lease_expiry;
	view_tail_head(vi->a_tail, TYPE_A, ns->cfg->ttl, 4);
	memcpy(vi->a_tail + 10, in->addr4, 4);
	if (in->has6) {
		uint8_t *t6 = balloc(b, VINST_AAAA_TAIL);

		if (!t6)
			return NULL;
		view_tail_head(t6, TYPE_AAAA, ns->cfg->ttl, 16);
		memcpy(t6 + 10, in->addr6, 16);
		vi->aaaa_tail = t6;
	}
	for (size_t i = 0; i < in->nattrs; i++) {
		size_t l = strlen(in->attrs[i]);

		txt += 1 + (l > 255 ? 255 : l);
	}
	txt += 1 + 7 + strlen(h);
	if (txt > 60000)
		return NULL;
	p = balloc(b, 10 + txt);
	if (!p)
		return NULL;
	view_tail_head(p, TYPE_TXT, ns->cfg->ttl, (uint16_t)txt);
	vi->txt_tail = p;
	vi->txt_len = (uint16_t)(10 + txt);
	p += 10;
	for (size_t i = 0; i < in->nattrs; i++) {
		size_t l = strlen(in->attrs[i]);

		l = l > 255 ? 255 : l;
		*p++ = (uint8_t)l;
		memcpy(p, in->attrs[i], l);
		p += l;
	}
	*p++ = (uint8_t)(7 + strlen(h));
	memcpy(p, "health=", 7);
	memcpy(p + 7, h, strlen(h));
	return vi;
}

/* ---- weights ---- */

struct wmember {
	const struct instance *in;
	double w;
};

static double health_factor(const struct instance *in)
{
	switch (in->health) {
	case HEALTH_HEALTHY: return 1.0;
	case HEALTH_WARNING: return in->svc->ns->cfg->warning_factor;
	default: return 0.0;
	}
}

/* Slow start: a weight ramps linearly from 5% to 100% after turning healthy. */
static double ramp(struct builder *b, const struct instance *in)
{
	uint64_t window = (uint64_t)in->svc->ns->cfg->slow_start * 1000, age;

	if (!window || !in->healthy_since_ms || b->now_ms < in->healthy_since_ms)
		return 1.0;
	age = b->now_ms - in->healthy_since_ms;
	if (age >= window)
		return 1.0;
	if (!b->v->rebuild_at_ms || b->v->rebuild_at_ms > b->now_ms + 1000)
		b->v->rebuild_at_ms = b->now_ms + 1000;
	return 0.05 + 0.95 * (double)age / (double)window;
}

/* Appends svc's members to out with weights summing to share (when
 * any_health, every instance by configured weight). Returns the count. */
static size_t collect(struct builder *b, const struct service *svc, int any_health,
		      double share, struct wmember *out)
{
	size_t m = 0, zero = 0;
	double sum = 0;

	for (size_t i = 0; i < svc->n; i++) {
		const struct instance *in = svc->inst[i];
		double f = any_health ? 1.0 : health_factor(in);
		/* A drained instance counts as weight 0. */
		double w = (in->drained ? 0 : in->weight) *
			   (f > 0 && !any_health ? f * ramp(b, in) : f);

		if (w > 0) {
			out[m].in = in;
			out[m++].w = w;
			sum += w;
		} else if (any_health || in->health != HEALTH_UNHEALTHY) {
			zero++;
		}
	}
	if (m == 0 && zero) {
		/* Only weight-0 candidates: they share equally rather than vanish. */
		for (size_t i = 0; i < svc->n; i++) {
			const struct instance *in = svc->inst[i];

			if (any_health || in->health != HEALTH_UNHEALTHY) {
				out[m].in = in;
				out[m++].w = 1.0;
			}
		}
		sum = (double)m;
	}
	for (size_t i = 0; i < m; i++)
		out[i].w = out[i].w / sum * share;
	return m;
}

static const struct vinst *vinst_of(struct builder *b, const struct instance *in)
{
	size_t i = imap_slot(&b->imap, in);

	return b->imap.key[i] ? b->imap.val[i] : NULL;
}

/* A set for m members, with its arrays in the order answers read them: an
 * address answer reads the set, cum4 and addr4; SRV answers the members.
 * Only the registry is read (the instances' vinsts may not exist yet). */
static struct vset *set_alloc(struct builder *b, const struct wmember *wm, size_t m)
{
	struct vset *s = balloc(b, sizeof(*s));
	size_t m4 = 0, m6 = 0;

	for (size_t i = 0; i < m; i++) {
		m4 += wm[i].in->has4 != 0;
		m6 += wm[i].in->has6 != 0;
	}
	if (!s)
		return NULL;
	s->cum4 = balloc(b, (m4 ? m4 : 1) * sizeof(*s->cum4));
	s->addr4 = balloc(b, (m4 ? m4 : 1) * sizeof(*s->addr4));
	s->members = balloc(b, (m ? m : 1) * sizeof(*s->members));
	s->cum6 = m6 ? balloc(b, m6 * sizeof(*s->cum6)) : NULL;
	s->addr6 = m6 ? balloc(b, m6 * sizeof(*s->addr6)) : NULL;
	if (!s->cum4 || !s->addr4 || !s->members || (m6 && (!s->cum6 || !s->addr6)))
		return NULL;
	return s;
}

/* Fills s (from set_alloc with the same members) once their vinsts exist.
 * Returns 0, or -1 when a member has no vinst (the build ran out of memory). */
static int set_fill(struct builder *b, struct vset *s, const struct wmember *wm, size_t m,
		    const struct ns *ns)
{
	struct vmember *mem = (struct vmember *)s->members;
	uint8_t(*addr4)[4] = (uint8_t(*)[4])s->addr4, (*addr6)[16] = (uint8_t(*)[16])s->addr6;
	uint64_t *cum4 = (uint64_t *)s->cum4, *cum6 = (uint64_t *)s->cum6;
	double maxw = 0, sum = 0;
	uint64_t c4 = 0, c6 = 0;

	for (size_t i = 0; i < m; i++) {
		maxw = wm[i].w > maxw ? wm[i].w : maxw;
		sum += wm[i].w;
	}
	for (size_t i = 0; i < m; i++) {
		const struct vinst *vi = vinst_of(b, wm[i].in);
		uint64_t iw = (uint64_t)llround(wm[i].w / sum * 1e9);
		long srvw = lround(wm[i].w / maxw * 65535.0);

		if (!vi)
			return -1;
		iw = iw ? iw : 1;
		((struct vinst *)vi)->build_set = s;  /* built here, so not yet shared */
		((struct vinst *)vi)->build_srvw = (uint16_t)(srvw < 1 ? 1 : srvw);
		mem[s->n].node = vi->node;
		mem[s->n].srv_weight = (uint16_t)(srvw < 1 ? 1 : srvw);
		mem[s->n].port = wm[i].in->port;
		mem[s->n].has4 = vi->has4;
		mem[s->n].has6 = vi->has6;
		if (vi->has4) {
			memcpy(addr4[s->n4], vi->a_tail + 10, 4);
			cum4[s->n4++] = c4 += iw;
		}
		if (vi->has6) {
			memcpy(addr6[s->n6], vi->aaaa_tail + 10, 16);
			cum6[s->n6++] = c6 += iw;
		}
		s->n++;
	}
	s->ttl = ns->cfg->ttl;
	s->max_answers = ns->cfg->max_answers;
	return 0;
}

static size_t service_members(struct builder *b, const struct service *svc, struct wmember *wm)
{
	size_t m = collect(b, svc, 0, 1.0, wm);

	if (m == 0 && svc->ns->cfg->on_all_unhealthy == ALL_UNHEALTHY_ALL)
		m = collect(b, svc, 1, 1.0, wm);
	return m;
}

/* Route weight x instance weight; a route with no healthy instance gives its
 * share to the others, in proportion to their route weights. */
static size_t router_members(struct builder *b, const struct router *r, struct wmember *wm)
{
	double total = 0;
	size_t m = 0;
	int any_health;

	for (any_health = 0; any_health < 2 && m == 0; any_health++) {
		total = 0;
		for (size_t i = 0; i < r->nroutes; i++) {
			size_t k = collect(b, r->routes[i].target, any_health, 1.0, wm);

			if (k && r->routes[i].weight)
				total += r->routes[i].weight;
		}
		for (size_t i = 0; total > 0 && i < r->nroutes; i++) {
			double share = r->routes[i].weight / total;

			if (share > 0)
				m += collect(b, r->routes[i].target, any_health, share, wm + m);
		}
		if (r->ns->cfg->on_all_unhealthy == ALL_UNHEALTHY_NONE)
			break;
	}
	return m;
}

static unsigned srv_weight_in(struct builder *b, const struct vset *set,
			      const struct instance *in)
{
	const struct vinst *vi = vinst_of(b, in);

	return vi && set && vi->build_set == set ? vi->build_srvw : 0;
}

/* The listing covers every instance of the given services, healthy or not. */
static const struct vdebug *debug_of(struct builder *b, const struct service *const *svcs,
				     size_t nsvc, const struct vset *set)
{
	struct vdebug *d = balloc(b, sizeof(*d));
	struct vdebug_item *items;
	size_t total = 0, k = 0;

	for (size_t i = 0; i < nsvc; i++)
		total += svcs[i]->n;
	items = balloc(b, (total ? total : 1) * sizeof(*items));
	if (!d || !items)
		return NULL;
	for (size_t i = 0; i < nsvc; i++)
		for (size_t j = 0; j < svcs[i]->n; j++) {
			const struct instance *in = svcs[i]->inst[j];

			items[k].vi = vinst_of(b, in);
			items[k].srvw = (uint16_t)srv_weight_in(b, set, in);
			k += items[k].vi != NULL;
		}
	d->n = (uint32_t)k;
	d->items = items;
	return d;
}

static void add_set_nodes(struct builder *b, const char *label, const uint8_t *wire,
			  size_t len, const struct vset *set)
{
	uint8_t srv[WIRE_NAME_MAX];
	size_t ll = strlen(label);
	struct vnode *n = node_get(b, wire, len);

	if (!n)
		return;
	n->kind = VN_SET;
	n->set = set;
	/* _label._tcp.<ns>, for clients that look up SRV the RFC 2782 way. */
	if (len - 1 - ll + ll + 2 + 5 > WIRE_NAME_MAX)
		return;
	srv[0] = (uint8_t)(ll + 1);
	srv[1] = '_';
	memcpy(srv + 2, wire + 1, ll);
	memcpy(srv + 2 + ll, "\004_tcp", 5);
	memcpy(srv + 7 + ll, wire + 1 + ll, len - 1 - ll);
	n = node_get(b, srv, len + 6);
	if (!n)
		return;
	n->kind = VN_SET;
	n->set = set;
}

/* Fills set (from set_alloc for the m members wm, whose vinsts exist now),
 * gives it the listing of svcs' instances, and names it (add_set_nodes).
 * Any failure is the build's out-of-memory. */
static void name_set(struct builder *b, const char *label, const uint8_t *wire, size_t len,
		     struct vset *set, const struct wmember *wm, size_t m, const struct ns *ns,
		     const struct service *const *svcs, size_t nsvc)
{
	if (!set || b->nomem || set_fill(b, set, wm, m, ns) < 0 ||
	    !(set->debug = debug_of(b, svcs, nsvc, set))) {
		b->nomem = 1;
		return;
	}
	add_set_nodes(b, label, wire, len, set);
}

static void add_ns(struct builder *b, const struct ns *ns, struct wmember *wm)
{
	struct vnode *apex = apex_new(b, ns);

	if (!apex)
		return;
	if (ns->zone)
		add_zone(b, ns->zone);
	else
		synth_soa(b, apex, ns);
	negative_soa(b, apex);
	/* Per service, its node, set and set arrays first, adjacent (an address
	 * answer reads nothing else), then its instances (vinst and node each). */
	for (size_t s = 0; s < ns->nservices && !b->nomem; s++) {
		const struct service *svc = &ns->services[s];
		size_t m;
		struct vset *set;

		if (!node_get(b, svc->wire, svc->wire_len))
			break;
		m = service_members(b, svc, wm);
		set = set_alloc(b, wm, m);
		for (size_t i = 0; i < svc->n; i++)
			if (!vinst_new(b, svc->inst[i]) && !b->nomem)
				b->nomem = 1;
		name_set(b, svc->name, svc->wire, svc->wire_len, set, wm, m, ns, &svc, 1);
	}
	for (size_t r = 0; r < ns->nrouters && !b->nomem; r++) {
		const struct router *rt = &ns->routers[r];
		const struct service *targets[64];
		size_t m, nt = 0;

		if (!node_get(b, rt->wire, rt->wire_len))
			break;
		m = router_members(b, rt, wm);
		for (size_t i = 0; i < rt->nroutes && nt < 64; i++)
			targets[nt++] = rt->routes[i].target;
		name_set(b, rt->name, rt->wire, rt->wire_len, set_alloc(b, wm, m), wm, m, ns,
			 targets, nt);
	}
}

int view_build(struct view **out, const struct registry *reg, uint64_t now_ms)
{
	struct builder b = { .reg = reg, .now_ms = now_ms };
	size_t names = 16, maxm = 1, total = 0;
	struct wmember *wm;

	for (size_t i = 0; i < reg->nns; i++) {
		size_t all = 0;

		names += reg->ns[i].zone ? reg->ns[i].zone->n : 1;
		for (size_t s = 0; s < reg->ns[i].nservices; s++) {
			names += 3 + reg->ns[i].services[s].n;
			all += reg->ns[i].services[s].n;
		}
		names += 2 * reg->ns[i].nrouters;
		maxm = all > maxm ? all : maxm;
		total += all;
		/* A router lists each route's instances: size for the largest sum. */
		for (size_t r = 0; r < reg->ns[i].nrouters; r++) {
			size_t sum = 0;

			for (size_t k = 0; k < reg->ns[i].routers[r].nroutes; k++)
				sum += reg->ns[i].routers[r].routes[k].target->n;
			maxm = sum > maxm ? sum : maxm;
		}
	}
	*out = NULL;
	b.v = calloc(1, sizeof(*b.v));
	wm = malloc(maxm * sizeof(*wm));
	if (!b.v || !wm || imap_init(&b.imap, total) < 0 ||
	    nametab_init(&b.v->names, names) < 0) {
		imap_free(&b.imap);
		free(wm);
		free(b.v);
		return -ENOMEM;
	}
	if (b.v->names.cap * sizeof(*b.v->names.slots) >= 2 * HUGE_BLOCK)
		advise_huge(b.v->names.slots, b.v->names.cap * sizeof(*b.v->names.slots));
	b.v->udp_payload = reg->cfg->udp_payload;
	b.v->generation = reg->changes;
	for (size_t i = 0; i < reg->nns && !b.nomem; i++)
		add_ns(&b, &reg->ns[i], wm);
	free(wm);
	imap_free(&b.imap);
	b.v->arena = b.blocks;
	if (b.nomem) {
		view_free(b.v);
		return -ENOMEM;
	}
	*out = b.v;
	return 0;
}

void view_free(struct view *v)
{
	struct arena_block *blk, *next;

	if (!v)
		return;
	for (blk = v->arena; blk; blk = next) {
		next = blk->next;
		if (blk->mapped)
			munmap(blk, HUGE_BLOCK);
		else
			free(blk);
	}
	nametab_close(&v->names);
	free(v);
}

/* The serial's offset in an SOA tail: after the head and the two names. */
static size_t soa_serial_at(const uint8_t *tail)
{
	size_t m = wire_name_len(tail + 10);

	return 10 + m + wire_name_len(tail + 10 + m);
}

void view_set_serial(struct view *v, const struct vnode *apex, uint32_t serial)
{
	(void)v; /* the view is the caller's until published: its arena is writable */
	for (size_t i = 0; i < apex->nrrsets; i++)
		if (apex->rrsets[i].type == TYPE_SOA) {
			uint8_t *t = (uint8_t *)apex->rrsets[i].tails;

			wire_set32(t + soa_serial_at(t), serial);
		}
	if (apex->ns->soa_neg) {
		uint8_t *t = (uint8_t *)apex->ns->soa_neg;

		wire_set32(t + soa_serial_at(t), serial);
	}
}

uint32_t view_serial(const struct vnode *apex)
{
	for (size_t i = 0; i < apex->nrrsets; i++)
		if (apex->rrsets[i].type == TYPE_SOA) {
			const uint8_t *p = apex->rrsets[i].tails;

			p += soa_serial_at(p);
			return wire_get32(p);
		}
	return 0;
}
