/* xfr.c - AXFR and IXFR out of the published view, and the serial (xfr.h).
 *
 * One walk over a namespace's nodes yields its records (walk_ns); the same
 * walk feeds the serial's digest at publish time, the messages of an AXFR,
 * and the record sets IXFR differences are computed from (ixfr.c). Messages
 * are written by hand with name compression against the view's nodes, as
 * query.c does, then signed in place by tsig.c (RFC 8945 5.3.1). */
#include <errno.h>
#include <fcntl.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "log.h"
#include "tsig.h"
#include "wire.h"
#include "xfr.h"
#include "xfr_int.h"

enum { RC_NOERROR = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NOTAUTH = 9, RC_REFUSED = 5,
	RC_NOTIMP = 4 };
enum { T_A = 1, T_SOA = 6, T_TXT = 16, T_AAAA = 28, T_SRV = 33, T_IXFR = 251,
	T_AXFR = 252 };

#define HDR 12
#define XFR_FUDGE 300
#define COMP_SLOTS 8192         /* names remembered per message (a power of 2) */

/* ---- the records of a namespace ---- */

static int node_in(const struct vnode *n, const struct vnode *apex)
{
	return n && n->ns == apex->ns;
}

/* Calls fn for every record of apex's namespace except the apex SOA. */
void walk_ns(const struct view *v, const struct vnode *apex, walk_fn fn, void *arg)
{
	for (size_t i = 0; i < v->names.cap; i++) {
		const struct vnode *n = v->names.slots[i].key ? v->names.slots[i].value : NULL;

		if (!node_in(n, apex))
			continue;
		for (size_t r = 0; r < n->nrrsets; r++) {
			const struct vrrset *s = &n->rrsets[r];
			const uint8_t *p = s->tails;

			if (n == apex && s->type == T_SOA)
				continue;
			for (size_t k = 0; k < s->count; k++) {
				size_t len = 10 + (size_t)(p[8] << 8 | p[9]);

				fn(arg, n, p, len, NULL);
				p += len;
			}
		}
		if (n->kind == VN_INSTANCE) {
			const struct vinst *vi = n->inst;

			if (vi->has4)
				fn(arg, n, vi->a_tail, VINST_A_TAIL, NULL);
			if (vi->has6)
				fn(arg, n, vi->aaaa_tail, VINST_AAAA_TAIL, NULL);
			fn(arg, n, vi->txt_tail, vi->txt_len, NULL);
		} else if (n->kind == VN_SET && n->set) {
			const struct vset *set = n->set;

			/* Every member, not max_answers: what some answer may hold. */
			uint8_t tail[VINST_AAAA_TAIL];
			uint32_t k4 = 0, k6 = 0;

			for (uint32_t m = 0; m < set->n; m++) {
				const struct vmember *mb = &set->members[m];

				if (mb->has4)
					fn(arg, n, tail, vset_addr_tail(set, 0, k4++, tail), NULL);
				if (mb->has6)
					fn(arg, n, tail, vset_addr_tail(set, 1, k6++, tail), NULL);
				vset_srv_head(set, mb, tail);
				fn(arg, n, tail, 16, mb->node);
			}
		}
	}
}

/* ---- serials ---- */

static int serial_gt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) > 0; /* RFC 1982 3.2 */
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

uint64_t rec_hash(const struct vnode *owner, const uint8_t *tail, size_t len,
		  const struct vnode *target)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, owner->name, owner->name_len);

	h = fnv(h, tail, len);
	if (target)
		h = fnv(h, target->name, target->name_len);
	return mix(h);
}

struct digest {
	uint64_t sum;
	uint64_t n;
};

static void digest_rec(void *arg, const struct vnode *owner, const uint8_t *tail, size_t len,
		       const struct vnode *target)
{
	struct digest *d = arg;

	d->sum += rec_hash(owner, tail, len, target);
	d->n++;
}

static struct xns *xns_get(struct xfr *x, const struct cfg_namespace *cfg)
{
	struct xns *n;

	for (size_t i = 0; i < x->nns; i++)
		if (x->ns[i].wire_len == cfg->wire_len && !memcmp(x->ns[i].wire, cfg->wire, cfg->wire_len))
			return &x->ns[i];
	if (x->nns == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 4;
		struct xns *a = realloc(x->ns, cap * sizeof(*a));

		if (!a)
			return NULL;
		x->ns = a;
		x->cap = cap;
	}
	n = &x->ns[x->nns++];
	memset(n, 0, sizeof(*n));
	memcpy(n->wire, cfg->wire, cfg->wire_len);
	n->wire_len = cfg->wire_len;
	snprintf(n->name, sizeof(n->name), "%s", cfg->name);
	n->serial = serial_load(x, n);
	return n;
}

static void serial_path(const struct xfr *x, const struct xns *n, char *out, size_t cap)
{
	snprintf(out, cap, "%s/serial.%s", x->state_dir, n->name);
}

uint32_t serial_load(const struct xfr *x, const struct xns *n)
{
	char path[4096];
	unsigned long v = 0;
	FILE *f;

	if (!x->state_dir)
		return 0;
	serial_path(x, n, path, sizeof(path));
	if (!(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%lu", &v) != 1)
		v = 0;
	fclose(f);
	return (uint32_t)v;
}

/* Written without fsync: the unix-time term of the rule covers a file that
 * a crash left behind. */
static void serial_save(const struct xfr *x, const struct xns *n)
{
	char path[4096], tmp[4200], text[16];
	int fd, len, ok;

	if (!x->state_dir)
		return;
	serial_path(x, n, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = snprintf(text, sizeof(text), "%u\n", n->serial);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_debug("xfr", "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	ok = write(fd, text, (size_t)len) == len;
	if (close(fd) < 0 || !ok || rename(tmp, path) < 0)
		log_debug("xfr", "cannot write %s: %s", path, strerror(errno));
}

static uint32_t next_serial(uint32_t last, uint32_t zone, uint64_t unix_now, int first)
{
	uint32_t s = first && !last ? zone : last + 1;

	if (serial_gt(zone, s))
		s = zone;
	if (serial_gt((uint32_t)unix_now, s))
		s = (uint32_t)unix_now;
	return s;
}

/* A namespace nobody transfers or is notified about keeps its zone file's
 * serial, and costs nothing here. */
static int xfr_on(const struct config *cfg, const struct cfg_namespace *c)
{
	return (c->has_allow_transfer ? c->nallow_transfer : cfg->nallow_transfer) > 0 ||
	       (c->has_notify ? c->nnotify : cfg->nnotify) > 0;
}

void xfr_publish(struct xfr *x, struct view *v, const struct config *cfg, uint64_t unix_now,
		 xfr_changed_cb cb, void *arg)
{
	for (size_t i = 0; i < cfg->nnamespaces; i++) {
		const struct cfg_namespace *c = &cfg->namespaces[i];
		const struct vnode *apex = view_lookup(v, c->wire, c->wire_len,
						       wire_name_hash(c->wire, c->wire_len));
		struct digest d = { 0, 0 };
		struct xns *n;
		int first;

		if (!xfr_on(cfg, c) || !apex || apex->kind != VN_APEX || !(n = xns_get(x, c)))
			continue;
		walk_ns(v, apex, digest_rec, &d);
		/* The zone file's SOA is part of the content too. */
		for (size_t r = 0; r < apex->nrrsets; r++)
			if (apex->rrsets[r].type == T_SOA)
				d.sum += rec_hash(apex, apex->rrsets[r].tails,
						  apex->rrsets[r].len, NULL) ^ 0x5a;
		first = !n->have;
		if (first || d.sum != n->digest || d.n != n->count) {
			uint32_t old = n->serial;

			n->serial = next_serial(n->serial, view_serial(apex), unix_now, first);
			n->digest = d.sum;
			n->count = d.n;
			n->have = 1;
			serial_save(x, n);
			view_set_serial(v, apex, n->serial);
			ixfr_record(n, v, apex, 1, first ? 0 : old);
			if (cb)
				cb(arg, c, n->serial);
		} else {
			view_set_serial(v, apex, n->serial);
		}
	}
}

int xfr_new(struct xfr **out, const char *state_dir)
{
	struct xfr *x = calloc(1, sizeof(*x));

	*out = NULL;
	if (!x || (state_dir && !(x->state_dir = strdup(state_dir)))) {
		free(x);
		return -ENOMEM;
	}
	*out = x;
	return 0;
}

void xfr_free(struct xfr *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->nns; i++)
		ixfr_clear(&x->ns[i]);
	free(x->ns);
	free(x->state_dir);
	free(x);
}

/* ---- requests ---- */

int xfr_is_transfer(const uint8_t *msg, size_t len)
{
	size_t p = HDR;

	if (len < HDR + 5 || (msg[2] & 0xF8) != 0 || msg[4] != 0 || msg[5] != 1)
		return 0;
	while (p < len && msg[p] && msg[p] < 64)
		p += 1 + msg[p];
	if (p + 5 > len || msg[p])
		return 0;
	return msg[p + 1] == 0 && (msg[p + 2] == T_AXFR || msg[p + 2] == T_IXFR);
}

static int key_allowed(const struct config *cfg, const struct cfg_namespace *ns,
		       const struct cfg_key *key)
{
	char **list = ns->has_allow_transfer ? ns->allow_transfer : cfg->allow_transfer;
	size_t n = ns->has_allow_transfer ? ns->nallow_transfer : cfg->nallow_transfer;

	for (size_t i = 0; key && i < n; i++)
		if (!strcasecmp(list[i], key->name))
			return 1;
	return 0;
}

/* Verifies the request's TSIG (RFC 8945 5.2, tsig.c). Fills t->key and
 * t->mac, or t->rcode and t->tsig_error. */
static void verify(struct xfer *t, const uint8_t *req, size_t len, const struct config *cfg)
{
	struct tsig_check c;

	switch (tsig_verify(cfg, req, len, t->now, &c)) {
	case TSIG_UNSIGNED:
		t->rcode = RC_REFUSED;
		t->why = "zone transfers need a TSIG key listed in allow_transfer";
		return;
	case TSIG_MALFORMED:
		t->rcode = RC_FORMERR;
		return;
	case TSIG_FAILED:
		t->rcode = RC_NOTAUTH;
		t->tsig_error = c.error;
		t->error_key = c.key;   /* BADTIME: its answer is signed */
		return;
	case TSIG_OK:
		break;
	}
	t->key = c.key;
	if (c.mac_size > sizeof(t->mac)) {
		t->rcode = RC_SERVFAIL;
		return;
	}
	memcpy(t->mac, c.mac, c.mac_size);
	t->mac_size = c.mac_size;
}

/* ---- writing messages ---- */


static uint16_t comp_find(const struct xfer *t, const struct vnode *n)
{
	size_t h = ((uintptr_t)n >> 4) & (COMP_SLOTS - 1);

	while (t->comp[h].node) {
		if (t->comp[h].node == n)
			return t->comp[h].off;
		h = (h + 1) & (COMP_SLOTS - 1);
	}
	return 0;
}

static void comp_add(struct xfer *t, const struct vnode *n, size_t off)
{
	size_t h = ((uintptr_t)n >> 4) & (COMP_SLOTS - 1);

	if (off >= 0x4000 || t->ncomp >= COMP_SLOTS / 2)
		return;
	while (t->comp[h].node) {
		if (t->comp[h].node == n)
			return;
		h = (h + 1) & (COMP_SLOTS - 1);
	}
	t->comp[h].node = n;
	t->comp[h].off = (uint16_t)off;
	t->ncomp++;
}

static void put_name(struct xfer *t, const struct vnode *n, int compress)
{
	for (; n; n = n->parent) {
		uint16_t off = compress ? comp_find(t, n) : 0;

		if (off) {
			wire_set16(t->buf + t->pos, (uint16_t)(0xC000 | off));
			t->pos += 2;
			return;
		}
		comp_add(t, n, t->pos);
		memcpy(t->buf + t->pos, n->name, n->label_len);
		t->pos += n->label_len;
	}
	t->buf[t->pos++] = 0;
}

/* Header and question of a new message. */
static void msg_start(struct xfer *t)
{
	memset(t->comp, 0, sizeof(t->comp));
	t->ncomp = 0;
	memcpy(t->buf, t->req, 2);
	t->buf[2] = (uint8_t)(0x80 | 0x04 | (t->req[2] & 0x01)); /* QR AA, RD copied */
	t->buf[3] = (uint8_t)t->rcode;
	memset(t->buf + 4, 0, 8);
	t->pos = HDR;
	t->ancount = 0;
	if (t->qlen) {
		t->buf[5] = 1;
		memcpy(t->buf + HDR, t->req + HDR, t->qlen);
		if (t->apex)
			comp_add(t, t->apex, HDR); /* the question names the apex */
		t->pos += t->qlen;
	}
}

/* Signs the message (RFC 8945 5.3.1: the first with the request's MAC, the
 * next ones with the previous MAC and the timers only) and emits it. */
static int msg_flush(struct xfer *t)
{
	long n;
	int rc;

	wire_set16(t->buf + 6, t->ancount);
	if (!t->key) {
		t->nmsg++;
		return t->emit(t->arg, t->buf, t->pos);
	}
	n = tsig_sign(t->key, t->mac, t->mac_size, t->nmsg > 0, t->now, XFR_FUDGE, t->buf, t->pos,
		      65535, t->mac);
	rc = n < 0 ? (int)n : t->emit(t->arg, t->buf, (size_t)n);
	t->mac_size = n < 0 ? 0 : 2 + (size_t)wire_get16(t->mac);
	t->nmsg++;
	return rc;
}

/* One record; starts a new message when this one is full. */
static void put_rec(struct xfer *t, const struct vnode *owner, const uint8_t *tail, size_t len,
		    const struct vnode *target)
{
	size_t need = owner->name_len + len + (target ? target->name_len : 0);

	if (t->err)
		return;
	if (t->ancount && (t->pos + need > XFR_MSG_TARGET || t->ancount == 65535)) {
		if ((t->err = msg_flush(t)) < 0)
			return;
		msg_start(t);
	}
	put_name(t, owner, 1);
	memcpy(t->buf + t->pos, tail, len);
	if (target) {
		/* RFC 2782: the target is not compressed; later owners may point at it. */
		wire_set16(t->buf + t->pos + 8, (uint16_t)(6 + target->name_len));
		t->pos += len;
		put_name(t, target, 0);
	} else {
		t->pos += len;
	}
	t->ancount++;
}

static void walk_put(void *arg, const struct vnode *owner, const uint8_t *tail, size_t len,
		     const struct vnode *target)
{
	put_rec(arg, owner, tail, len, target);
}

void put_soa(struct xfer *t)
{
	for (size_t r = 0; r < t->apex->nrrsets; r++)
		if (t->apex->rrsets[r].type == T_SOA)
			put_rec(t, t->apex, t->apex->rrsets[r].tails, t->apex->rrsets[r].len, NULL);
}

/* Writes uncompressed record bytes (owner name first), for IXFR. */
void put_raw(struct xfer *t, const uint8_t *rec, size_t len)
{
	if (t->err)
		return;
	if (t->ancount && (t->pos + len > XFR_MSG_TARGET || t->ancount == 65535)) {
		if ((t->err = msg_flush(t)) < 0)
			return;
		msg_start(t);
	}
	memcpy(t->buf + t->pos, rec, len);
	t->pos += len;
	t->ancount++;
}

/* ---- refusals ---- */

/* A one-message answer with no records: the rcode, an EDE text for
 * refusals when the request had EDNS, and for TSIG errors the unsigned TSIG
 * record of RFC 8945 5.3.2. */
static int refuse(struct xfer *t, ldns_pkt *req)
{
	ldns_pkt *resp;
	uint8_t *wire = NULL;
	size_t n = 0;
	int rc = -ENOMEM;

	if (!req) {
		msg_start(t);
		t->buf[3] = RC_FORMERR;
		return msg_flush(t);
	}
	if (t->key && !t->tsig_error) {
		/* A valid key that this namespace does not list: a signed refusal. */
		msg_start(t);
		return msg_flush(t);
	}
	if (!(resp = ldns_pkt_new()))
		return -ENOMEM;
	ldns_pkt_set_id(resp, ldns_pkt_id(req));
	ldns_pkt_set_qr(resp, true);
	ldns_pkt_set_rd(resp, ldns_pkt_rd(req));
	ldns_pkt_set_rcode(resp, (uint8_t)t->rcode);
	if (ldns_rr_list_rr_count(ldns_pkt_question(req)) == 1) {
		ldns_rr *q = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(req), 0));

		if (q && !ldns_pkt_push_rr(resp, LDNS_SECTION_QUESTION, q))
			ldns_rr_free(q);
	}
	if (t->why && ldns_pkt_edns(req)) {
		uint8_t opt[200];
		size_t tl = strlen(t->why) < 190 ? strlen(t->why) : 190;
		ldns_rdf *rdf;

		opt[0] = 0, opt[1] = 15; /* RFC 8914 EDE: 18 Prohibited */
		wire_set16(opt + 2, (uint16_t)(2 + tl));
		wire_set16(opt + 4, 18);
		memcpy(opt + 6, t->why, tl);
		ldns_pkt_set_edns_udp_size(resp, 1232);
		if ((rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 6 + tl, opt)))
			ldns_pkt_set_edns_data(resp, rdf);
	}
	if (ldns_pkt2wire(&wire, resp, &n) == LDNS_STATUS_OK && n <= sizeof(t->buf)) {
		struct tsig_rr tr;
		long end = (long)n;

		memcpy(t->buf, wire, n);
		if (t->tsig_error && tsig_find(t->req, t->reqlen, &tr) == 1)
			end = tsig_put_error(&tr, t->error_key, ldns_pkt_id(req), t->tsig_error, t->now,
					     t->buf, n, sizeof(t->buf));
		rc = end < 0 ? (int)end : t->emit(t->arg, t->buf, (size_t)end);
	}
	free(wire);
	ldns_pkt_free(resp);
	return rc;
}

/* ---- answers ---- */

static const struct cfg_namespace *ns_of(const struct config *cfg, const uint8_t *wire,
					 size_t len)
{
	for (size_t i = 0; i < cfg->nnamespaces; i++)
		if (cfg->namespaces[i].wire_len == len && wire_name_eq(cfg->namespaces[i].wire, wire))
			return &cfg->namespaces[i];
	return NULL;
}

/* The serial of an IXFR request's authority SOA, or -1. */
static int64_t ixfr_serial_of(const ldns_pkt *pkt)
{
	const ldns_rr_list *auth = ldns_pkt_authority(pkt);
	const ldns_rr *soa;

	if (ldns_rr_list_rr_count(auth) != 1)
		return -1;
	soa = ldns_rr_list_rr(auth, 0);
	if (ldns_rr_get_type(soa) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(soa) < 3)
		return -1;
	return ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
}

static int answer(struct xfr *x, struct xfer *t, const struct view *v,
		  const struct config *cfg, ldns_pkt *pkt, int tcp)
{
	uint8_t qname[WIRE_NAME_MAX];
	const ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	const ldns_rdf *o = ldns_rr_owner(q);
	const struct cfg_namespace *ns;
	const struct vnode *apex = NULL;
	uint16_t qtype = (uint16_t)ldns_rr_get_type(q);
	struct xns *xn;

	if (ldns_rdf_size(o) > WIRE_NAME_MAX)
		return refuse(t, NULL);
	memcpy(qname, ldns_rdf_data(o), ldns_rdf_size(o));
	wire_name_lower(qname);
	if ((ns = ns_of(cfg, qname, ldns_rdf_size(o))) && v)
		apex = view_lookup(v, qname, ldns_rdf_size(o), wire_name_hash(qname, ldns_rdf_size(o)));
	verify(t, t->req, t->reqlen, cfg);
	if (t->rcode == RC_NOERROR && (!apex || ldns_rr_get_class(q) != LDNS_RR_CLASS_IN))
		t->rcode = RC_NOTAUTH;
	if (t->rcode == RC_NOERROR && !key_allowed(cfg, ns, t->key)) {
		t->rcode = RC_REFUSED;
		t->why = "zone transfers need a TSIG key listed in allow_transfer";
	}
	if (t->rcode == RC_NOERROR && !tcp && qtype == T_AXFR) {
		t->rcode = RC_FORMERR; /* RFC 5936 4.2: AXFR is TCP only */
		t->why = NULL;
	}
	if (t->rcode != RC_NOERROR)
		return refuse(t, pkt);
	t->apex = apex;
	if (!(xn = xns_get(x, ns)))
		return -ENOMEM;
	msg_start(t);
	if (qtype == T_IXFR) {
		int64_t have = ixfr_serial_of(pkt);

		/* Up to date, or over UDP: the current SOA alone (RFC 1995 2, 4). */
		if (!tcp || (have >= 0 && !serial_gt(xn->serial, (uint32_t)have))) {
			put_soa(t);
			return t->err ? t->err : msg_flush(t);
		}
		if (have >= 0 && ixfr_put_diffs(t, xn, (uint32_t)have))
			return t->err ? t->err : msg_flush(t);
		/* Not in the history: the whole zone, as AXFR would (RFC 1995 4). */
	}
	put_soa(t);
	walk_ns(v, apex, walk_put, t);
	put_soa(t);
	return t->err ? t->err : msg_flush(t);
}

int xfr_answer(struct xfr *x, const struct view *v, const struct config *cfg,
	       const uint8_t *req, size_t len, int tcp, uint64_t unix_now,
	       xfr_emit_cb emit, void *arg)
{
	struct xfer *t = calloc(1, sizeof(*t));
	ldns_pkt *pkt = NULL;
	size_t p = HDR;
	int rc;

	if (!t)
		return -ENOMEM;
	t->req = req;
	t->reqlen = len;
	t->now = unix_now;
	t->emit = emit;
	t->arg = arg;
	while (p < len && req[p] && req[p] < 64)
		p += 1 + req[p];
	t->qlen = p + 5 <= len ? p + 5 - HDR : 0;
	/* wire_msg_scan first: ldns checks neither the counts nor that a TSIG
	 * is the last record (and leaks a second one). */
	if (wire_msg_scan(req, len) < 0 || ldns_wire2pkt(&pkt, req, len) != LDNS_STATUS_OK ||
	    ldns_rr_list_rr_count(ldns_pkt_question(pkt)) != 1) {
		rc = refuse(t, NULL);
	} else {
		rc = answer(x, t, v, cfg, pkt, tcp);
	}
	ldns_pkt_free(pkt);
	free(t);
	return rc;
}
