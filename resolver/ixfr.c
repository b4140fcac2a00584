/* ixfr.c - the IXFR history (RFC 1995): per namespace, the records of the
 * current version as a sorted set, and the differences of the last
 * XFR_HISTORY versions, computed when a view is published (xfr_publish).
 *
 * A set is built by one walk over the view (walk_ns) into owned bytes, so a
 * difference stays valid after its views are freed; a merge of two sorted
 * sets gives the removals and additions. This costs a copy of the zone per
 * namespace that allows transfers, and nothing for the others. A client
 * whose serial is older than the history gets the whole zone instead. */
#include <stdlib.h>
#include <string.h>
#include "xfr_int.h"

static int set_push(struct ixset *s, uint64_t h, const uint8_t *a, size_t al,
		    const uint8_t *b, size_t bl, const uint8_t *c, size_t cl)
{
	size_t len = al + bl + cl;

	if (s->blen + len > s->bcap) {
		size_t cap = s->bcap ? 2 * s->bcap : 4096;
		uint8_t *nb;

		while (cap < s->blen + len)
			cap *= 2;
		if (!(nb = realloc(s->bytes, cap)))
			return -1;
		s->bytes = nb;
		s->bcap = cap;
	}
	if (s->n == s->rcap) {
		size_t cap = s->rcap ? 2 * s->rcap : 64;
		struct ixrec *nr = realloc(s->r, cap * sizeof(*nr));

		if (!nr)
			return -1;
		s->r = nr;
		s->rcap = cap;
	}
	memcpy(s->bytes + s->blen, a, al);
	if (bl)
		memcpy(s->bytes + s->blen + al, b, bl);
	if (cl)
		memcpy(s->bytes + s->blen + al + bl, c, cl);
	s->r[s->n].h = h;
	s->r[s->n].off = (uint32_t)s->blen;
	s->r[s->n].len = (uint32_t)len;
	s->n++;
	s->blen += len;
	return 0;
}

static void set_free(struct ixset *s)
{
	free(s->r);
	free(s->bytes);
	memset(s, 0, sizeof(*s));
}

struct collect {
	struct ixset *s;
	int err;
};

static void collect_rec(void *arg, const struct vnode *owner, const uint8_t *tail, size_t len,
			const struct vnode *target)
{
	struct collect *c = arg;
	uint8_t fixed[16];

	if (c->err)
		return;
	if (target) {
		/* An SRV head has rdlength 0 in the view: the target decides it. */
		memcpy(fixed, tail, 16);
		fixed[8] = (uint8_t)((6 + target->name_len) >> 8);
		fixed[9] = (uint8_t)(6 + target->name_len);
		tail = fixed;
	}
	if (set_push(c->s, rec_hash(owner, tail, len, target), owner->name, owner->name_len,
		     tail, len, target ? target->name : NULL, target ? target->name_len : 0) < 0)
		c->err = 1;
}

static const uint8_t *base;    /* qsort has no argument: the set being sorted */

static int rec_cmp(const void *pa, const void *pb)
{
	const struct ixrec *a = pa, *b = pb;
	int c;

	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	c = memcmp(base + a->off, base + b->off, a->len);
	return c;
}

static int cmp_in(const struct ixset *x, size_t i, const struct ixset *y, size_t j)
{
	const struct ixrec *a = &x->r[i], *b = &y->r[j];

	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(x->bytes + a->off, y->bytes + b->off, a->len);
}

static void set_sort_unique(struct ixset *s)
{
	size_t k = 0;

	base = s->bytes;
	qsort(s->r, s->n, sizeof(*s->r), rec_cmp);
	for (size_t i = 0; i < s->n; i++)
		if (k == 0 || cmp_in(s, k - 1, s, i) != 0)
			s->r[k++] = s->r[i];
	s->n = k;
}

static int copy_rec(struct ixset *to, const struct ixset *from, size_t i)
{
	return set_push(to, from->r[i].h, from->bytes + from->r[i].off, from->r[i].len,
			NULL, 0, NULL, 0);
}

static void diff_free(struct ixdiff *d)
{
	set_free(&d->del);
	set_free(&d->add);
	free(d->from_soa);
	free(d->to_soa);
	memset(d, 0, sizeof(*d));
}

void ixfr_clear(struct xns *n)
{
	for (size_t i = 0; i < n->nhist; i++)
		diff_free(&n->hist[i]);
	n->nhist = 0;
	set_free(&n->cur);
	free(n->cur_soa);
	n->cur_soa = NULL;
	n->cur_soa_len = 0;
}

static uint8_t *soa_bytes(const struct vnode *apex, size_t *len)
{
	for (size_t r = 0; r < apex->nrrsets; r++)
		if (apex->rrsets[r].type == 6) {
			size_t tl = apex->rrsets[r].len;
			uint8_t *p = malloc(apex->name_len + tl);

			if (!p)
				return NULL;
			memcpy(p, apex->name, apex->name_len);
			memcpy(p + apex->name_len, apex->rrsets[r].tails, tl);
			*len = apex->name_len + tl;
			return p;
		}
	return NULL;
}

void ixfr_record(struct xns *n, const struct view *v, const struct vnode *apex, int keep,
		 uint32_t old)
{
	struct ixset now = { 0 };
	struct collect c = { &now, 0 };
	struct ixdiff d = { 0 };
	size_t i = 0, j = 0, soa_len = 0;
	uint8_t *soa;

	if (!keep) {
		ixfr_clear(n);
		return;
	}
	walk_ns(v, apex, collect_rec, &c);
	soa = soa_bytes(apex, &soa_len);
	if (c.err || !soa) {
		set_free(&now);
		free(soa);
		ixfr_clear(n);   /* a gap: older serials get the whole zone */
		return;
	}
	set_sort_unique(&now);
	if (old && n->cur_soa) {
		while (!c.err && (i < n->cur.n || j < now.n)) {
			int cmp = i == n->cur.n ? 1 : j == now.n ? -1 : cmp_in(&n->cur, i, &now, j);

			if (cmp < 0)
				c.err = copy_rec(&d.del, &n->cur, i++) < 0;
			else if (cmp > 0)
				c.err = copy_rec(&d.add, &now, j++) < 0;
			else
				i++, j++;
		}
		d.from = old;
		d.to = n->serial;
		d.from_soa = n->cur_soa;
		d.from_soa_len = n->cur_soa_len;
		d.to_soa = malloc(soa_len);
		if (c.err || !d.to_soa) {
			free(d.to_soa);
			d.to_soa = NULL;
			diff_free(&d);
			n->cur_soa = NULL;
			ixfr_clear(n);
		} else {
			memcpy(d.to_soa, soa, soa_len);
			d.to_soa_len = soa_len;
			n->cur_soa = NULL;
			if (n->nhist == XFR_HISTORY) {
				diff_free(&n->hist[0]);
				memmove(n->hist, n->hist + 1, (XFR_HISTORY - 1) * sizeof(n->hist[0]));
				n->nhist--;
			}
			n->hist[n->nhist++] = d;
		}
	} else {
		ixfr_clear(n);
	}
	set_free(&n->cur);
	free(n->cur_soa);
	n->cur = now;
	n->cur_soa = soa;
	n->cur_soa_len = soa_len;
}

int ixfr_put_diffs(struct xfer *t, const struct xns *n, uint32_t have)
{
	size_t i = 0;

	while (i < n->nhist && n->hist[i].from != have)
		i++;
	if (i == n->nhist || n->hist[n->nhist - 1].to != n->serial)
		return 0;
	put_soa(t);
	for (; i < n->nhist; i++) {
		const struct ixdiff *d = &n->hist[i];

		put_raw(t, d->from_soa, d->from_soa_len);
		for (size_t k = 0; k < d->del.n; k++)
			put_raw(t, d->del.bytes + d->del.r[k].off, d->del.r[k].len);
		put_raw(t, d->to_soa, d->to_soa_len);
		for (size_t k = 0; k < d->add.n; k++)
			put_raw(t, d->add.bytes + d->add.r[k].off, d->add.r[k].len);
	}
	put_soa(t);
	return 1;
}
