/* cache.c - the answer cache (see cache.h).
 *
 * Entries hang in hash chains keyed by (name, type, class) and on one LRU
 * list. An entry is one allocation: the struct, its TTL table and its wire
 * bytes. Allocation happens on insert (after an upstream round trip), never
 * on a hit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cache.h"
#include "wire.h"

#define T_SOA 6
#define T_OPT 41
#define TTL_MAX_RECORDS 128
#define STALE_TTL 30             /* RFC 8767 4 */

struct cache_entry {
	struct cache_entry *hnext;   /* hash chain */
	struct cache_entry *prev, *next;  /* LRU: head is the oldest */
	uint8_t name[WIRE_NAME_MAX];
	uint8_t name_len;
	uint16_t type, klass;
	uint32_t hash;
	uint64_t stored;             /* seconds */
	uint64_t expires;
	size_t size;                 /* bytes charged to the cache */
	uint16_t len;                /* wire bytes, OPT removed */
	uint16_t nttl;
	uint16_t ttl_off[TTL_MAX_RECORDS];
	uint32_t ttl[TTL_MAX_RECORDS];
	uint8_t wire[];
};

struct cache {
	struct cache_cfg cfg;
	struct cache_entry **buckets;
	size_t nbuckets;             /* power of two */
	struct cache_entry *head, *tail;
	struct cache_stats st;
};

int cache_new(struct cache **out, const struct cache_cfg *cfg)
{
	struct cache *c = calloc(1, sizeof(*c));
	size_t nb = 64;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	while (nb < cfg->max_entries && nb < ((size_t)1 << 24))
		nb *= 2;
	c->buckets = calloc(nb, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	c->nbuckets = nb;
	c->cfg = *cfg;
	*out = c;
	return 0;
}

static void unlink_entry(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	c->st.entries--;
	c->st.bytes -= e->size;
	free(e);
}

static void shrink(struct cache *c, size_t room)
{
	while (c->head && (c->st.entries + 1 > c->cfg.max_entries ||
			   c->st.bytes + room > c->cfg.max_bytes)) {
		unlink_entry(c, c->head);
		c->st.evictions++;
	}
}

void cache_set_cfg(struct cache *c, const struct cache_cfg *cfg)
{
	c->cfg = *cfg;
	shrink(c, 0);
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	while (c->head)
		unlink_entry(c, c->head);
	free(c->buckets);
	free(c);
}

static struct cache_entry *find(struct cache *c, const uint8_t *name, size_t len,
				uint16_t type, uint16_t klass, uint32_t hash)
{
	struct cache_entry *e = c->buckets[hash & (c->nbuckets - 1)];

	for (; e; e = e->hnext)
		if (e->hash == hash && e->type == type && e->klass == klass &&
		    e->name_len == len && !memcmp(e->name, name, len))
			return e;
	return NULL;
}

static uint32_t key_hash(const uint8_t *name, size_t len, uint16_t type, uint16_t klass)
{
	return wire_name_hash(name, len) ^ ((uint32_t)type * 2654435761u) ^ klass;
}

static void lru_touch(struct cache *c, struct cache_entry *e)
{
	if (c->tail == e)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	e->next->prev = e->prev;
	e->prev = c->tail;
	e->next = NULL;
	c->tail->next = e;
	c->tail = e;
}

/* ---- reading an upstream answer ---- */

struct scan {
	size_t qend, len;            /* end of the question; length without OPT */
	uint16_t an, ns, ar;         /* counts without OPT */
	int rcode, tc;
	uint16_t nttl;
	uint16_t ttl_off[TTL_MAX_RECORDS];
	uint32_t ttl[TTL_MAX_RECORDS];
	uint32_t min_an_ttl;
	int has_soa;
	uint32_t soa_ttl, soa_min;
};

static void scan_record(struct wire *w, struct scan *s, unsigned i, unsigned total, int *bad)
{
	uint8_t name[WIRE_NAME_MAX];
	size_t start = w->pos;
	uint16_t type, rdlen;
	size_t ttl_at;

	wire_name_read(w, name, 0);
	type = wire_u16(w);
	wire_u16(w);
	ttl_at = w->pos;
	wire_u32(w);
	rdlen = wire_u16(w);
	if (w->err || wire_left(w) < rdlen) {
		*bad = 1;
		return;
	}
	if (type == T_OPT) {
		if (i != total - 1 || i < (unsigned)s->an + s->ns) {
			*bad = 1;            /* an OPT not last, or outside additional */
			return;
		}
		s->len = start;
		s->ar--;
		wire_skip(w, rdlen);
		return;
	}
	if (s->nttl == TTL_MAX_RECORDS) {
		*bad = 1;
		return;
	}
	s->ttl_off[s->nttl] = (uint16_t)ttl_at;
	s->ttl[s->nttl] = wire_get32(w->base + ttl_at);
	if (i < s->an && s->ttl[s->nttl] < s->min_an_ttl)
		s->min_an_ttl = s->ttl[s->nttl];
	if (type == T_SOA && i >= s->an && i < (unsigned)s->an + s->ns && rdlen >= 22) {
		s->has_soa = 1;
		s->soa_ttl = s->ttl[s->nttl];
		s->soa_min = wire_get32(w->base + w->pos + rdlen - 4);
	}
	s->nttl++;
	wire_skip(w, rdlen);
}

/* 0 when msg is a well-formed answer to one question; fills s. */
static int scan(const uint8_t *msg, size_t len, struct scan *s)
{
	struct wire w;
	uint8_t name[WIRE_NAME_MAX];
	uint16_t qd, flags;
	unsigned total;
	int bad = 0;

	memset(s, 0, sizeof(*s));
	s->min_an_ttl = UINT32_MAX;
	wire_init_ro(&w, msg, len);
	wire_u16(&w);
	flags = wire_u16(&w);
	qd = wire_u16(&w);
	s->an = wire_u16(&w);
	s->ns = wire_u16(&w);
	s->ar = wire_u16(&w);
	s->rcode = flags & 0xF;
	s->tc = (flags & 0x0200) != 0;
	if (w.err || qd != 1 || !(flags & 0x8000))
		return -1;
	wire_name_read(&w, name, 0);
	wire_skip(&w, 4);
	s->qend = w.pos;
	s->len = len;
	total = (unsigned)s->an + s->ns + s->ar;
	for (unsigned i = 0; i < total && !bad && !w.err; i++)
		scan_record(&w, s, i, total, &bad);
	return bad || w.err ? -1 : 0;
}

/* ---- storing ---- */

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The entry's lifetime, or 0 when the answer must not be cached. */
static uint32_t lifetime(const struct cache *c, const struct scan *s)
{
	if (s->tc || (s->rcode != 0 && s->rcode != 3))
		return 0;
	if (s->rcode == 0 && s->an > 0)
		return clamp(s->min_an_ttl, c->cfg.min_ttl, c->cfg.max_ttl);
	if (!s->has_soa)
		return 0; /* RFC 2308 5: a negative answer without SOA is not cached */
	return clamp(s->soa_ttl < s->soa_min ? s->soa_ttl : s->soa_min,
		     c->cfg.min_ttl, c->cfg.max_negative_ttl);
}

const struct cache_entry *cache_put(struct cache *c, const uint8_t *qname, size_t qlen,
				    uint16_t qtype, uint16_t qclass, const uint8_t *msg,
				    size_t len, uint64_t now)
{
	struct scan s;
	struct cache_entry *e, *old;
	uint32_t life, hash = key_hash(qname, qlen, qtype, qclass);
	size_t size;

	if (len > 65535 || qlen > WIRE_NAME_MAX || scan(msg, len, &s) < 0 ||
	    !(life = lifetime(c, &s)))
		return NULL;
	size = sizeof(*e) + s.len;
	if (size > c->cfg.max_bytes || c->cfg.max_entries == 0)
		return NULL;
	if ((old = find(c, qname, qlen, qtype, qclass, hash)))
		unlink_entry(c, old);
	shrink(c, size);
	if (!(e = malloc(size)))
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e->name, qname, qlen);
	e->name_len = (uint8_t)qlen;
	e->type = qtype;
	e->klass = qclass;
	e->hash = hash;
	e->stored = now;
	e->expires = now + life;
	e->size = size;
	e->len = (uint16_t)s.len;
	memcpy(e->wire, msg, s.len);
	e->wire[10] = (uint8_t)(s.ar >> 8), e->wire[11] = (uint8_t)s.ar;
	e->nttl = s.nttl;
	/* No record outlives the entry: a negative answer's SOA is served with
	 * the negative TTL left (RFC 2308 5), not its own longer TTL, or the
	 * client's cache would keep the negative answer longer than ours. */
	for (unsigned i = 0; i < s.nttl; i++) {
		e->ttl_off[i] = s.ttl_off[i];
		e->ttl[i] = clamp(s.ttl[i], c->cfg.min_ttl, c->cfg.max_ttl);
		if (e->ttl[i] > life)
			e->ttl[i] = life;
	}
	e->hnext = c->buckets[hash & (c->nbuckets - 1)];
	c->buckets[hash & (c->nbuckets - 1)] = e;
	e->prev = c->tail;
	if (c->tail)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->st.entries++;
	c->st.bytes += size;
	c->st.inserts++;
	return e;
}

const struct cache_entry *cache_get(struct cache *c, const uint8_t *qname, size_t qlen,
				    uint16_t qtype, uint16_t qclass, uint64_t now,
				    int allow_stale, int *stale)
{
	struct cache_entry *e = find(c, qname, qlen, qtype, qclass,
				     key_hash(qname, qlen, qtype, qclass));

	*stale = 0;
	if (e && e->expires <= now) {
		if (now >= e->expires + c->cfg.stale_ttl) {
			unlink_entry(c, e); /* too old even to be stale */
			e = NULL;
		} else if (allow_stale) {
			*stale = 1;
		} else {
			e = NULL;
		}
	}
	if (!e) {
		c->st.misses++;
		return NULL;
	}
	if (*stale)
		c->st.stale_hits++;
	else
		c->st.hits++;
	lru_touch(c, e);
	return e;
}

void cache_get_stats(const struct cache *c, struct cache_stats *st)
{
	*st = c->st;
}

/* ---- answering ---- */

static size_t limit_of(const struct cache_client *cl, size_t cap)
{
	size_t lim = 512;

	if (cl->tcp)
		lim = 65535;
	else if (cl->edns)
		lim = cl->payload < 512 ? 512 : cl->payload > cl->udp_max ? cl->udp_max : cl->payload;
	return lim < cap ? lim : cap;
}

static size_t put_opt(uint8_t *p, const struct cache_client *cl, uint16_t info, const char *text)
{
	size_t tl = text ? strlen(text) : 0, n = 11;

	p[0] = 0;
	p[1] = 0, p[2] = T_OPT;
	p[3] = (uint8_t)(cl->udp_max >> 8), p[4] = (uint8_t)cl->udp_max;
	p[5] = 0, p[6] = 0, p[7] = cl->do_bit ? 0x80 : 0, p[8] = 0;
	p[9] = 0, p[10] = 0;
	if (text) {
		p[10] = (uint8_t)(6 + tl);
		p[11] = 0, p[12] = 15, p[13] = 0, p[14] = (uint8_t)(2 + tl);
		p[15] = (uint8_t)(info >> 8), p[16] = (uint8_t)info;
		memcpy(p + 17, text, tl);
		n += 6 + tl;
	}
	return n;
}

/* Copies src (len bytes, no OPT) for the client: its ID, flags, question and
 * EDNS; e's TTL table (if e) counted down by age, or 30 when stale. */
static size_t render(const uint8_t *src, size_t len, size_t qend, const struct cache_entry *e,
		     uint64_t age, int stale, const struct cache_client *cl, uint8_t *out, size_t cap)
{
	size_t lim = limit_of(cl, cap), opt = cl->edns ? 11 : 0, n;
	uint16_t flags;
	int tc = 0;

	if (qend != 12 + cl->question_len || lim < qend + opt)
		return 0;
	if (len + opt <= lim) {
		memcpy(out, src, len);
		n = len;
		for (unsigned i = 0; e && i < e->nttl; i++)
			wire_set32(out + e->ttl_off[i], stale ? STALE_TTL : e->ttl[i] > age ? (uint32_t)(e->ttl[i] - age) : 0);
	} else {
		memcpy(out, src, qend); /* does not fit: TC, the client retries over TCP */
		memset(out + 6, 0, 6);
		n = qend;
		tc = 1;
	}
	memcpy(out + 12, cl->question, cl->question_len);
	out[0] = (uint8_t)(cl->id >> 8), out[1] = (uint8_t)cl->id;
	flags = (uint16_t)(0x8000 | 0x0080 | (cl->flags & 0x0110) | (src[3] & 0xF) | (tc ? 0x0200 : 0));
	out[2] = (uint8_t)(flags >> 8), out[3] = (uint8_t)flags;
	if (opt) {
		uint16_t ar = (uint16_t)(out[10] << 8 | out[11]);

		n += put_opt(out + n, cl, 0, NULL);
		ar++;
		out[10] = (uint8_t)(ar >> 8), out[11] = (uint8_t)ar;
	}
	return n;
}

size_t cache_render(const struct cache_entry *e, uint64_t now, int stale,
		    const struct cache_client *cl, uint8_t *out, size_t cap)
{
	struct wire w;
	uint8_t name[WIRE_NAME_MAX];

	wire_init_ro(&w, e->wire, e->len);
	wire_skip(&w, 12);
	wire_name_read(&w, name, 0);
	wire_skip(&w, 4);
	if (w.err)
		return 0;
	return render(e->wire, e->len, w.pos, e, now > e->stored ? now - e->stored : 0, stale,
		      cl, out, cap);
}

size_t cache_render_raw(const uint8_t *msg, size_t len, const struct cache_client *cl,
			uint8_t *out, size_t cap)
{
	static uint8_t tmp[65535];
	struct scan s;

	if (len > sizeof(tmp) || scan(msg, len, &s) < 0)
		return 0;
	memcpy(tmp, msg, s.len);
	tmp[10] = (uint8_t)(s.ar >> 8), tmp[11] = (uint8_t)s.ar;
	return render(tmp, s.len, s.qend, NULL, 0, 0, cl, out, cap);
}

size_t cache_render_error(int rcode, uint16_t info, const char *text,
			  const struct cache_client *cl, uint8_t *out, size_t cap)
{
	size_t n = 12 + cl->question_len;
	uint16_t flags = (uint16_t)(0x8000 | 0x0080 | (cl->flags & 0x0110) | (rcode & 0xF));

	if (cap < n + 11 + 6 + (text ? strlen(text) : 0))
		return 0;
	memset(out, 0, 12);
	out[0] = (uint8_t)(cl->id >> 8), out[1] = (uint8_t)cl->id;
	out[2] = (uint8_t)(flags >> 8), out[3] = (uint8_t)flags;
	out[5] = 1;
	memcpy(out + 12, cl->question, cl->question_len);
	if (cl->edns) {
		n += put_opt(out + n, cl, info, text);
		out[11] = 1;
	}
	return n;
}
