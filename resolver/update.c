/* update.c - planning a DNS UPDATE against the registry (see update.h).
 *
 * The order of checks is RFC 2136 3 and RFC 8945 5.2: parse (FORMERR), TSIG
 * (REFUSED when missing; NOTAUTH with BADKEY, BADSIG or BADTIME), zone
 * section (NOTAUTH for a zone we do not serve), prerequisites (3.2), then the
 * update section (3.4), which is first checked whole and only then turned
 * into journal records, so a message changes everything it asks or nothing.
 *
 * Each instance a message touches gets a pending state that starts from the
 * registered instance; a message that adds an address for an instance, or
 * deletes it first, registers it afresh (a second registration with the same
 * id replaces the first). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "err.h"
#include "update.h"
#include "wire.h"

enum { RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3, RC_NOTIMP = 4, RC_REFUSED = 5,
       RC_YXDOMAIN = 6, RC_YXRRSET = 7, RC_NXRRSET = 8, RC_NOTAUTH = 9, RC_NOTZONE = 10 };
enum { OPT_UPDATE_LEASE = 2, OPCODE_UPDATE = 5 };

/* What a name inside a namespace is, for the update layout. */
enum name_kind { NK_OTHER, NK_APEX, NK_SERVICE, NK_SRV, NK_INSTANCE };

struct pending {
	struct service *svc;
	char id[64];
	int deleted;        /* ends deleted (or was never there) */
	int touched;        /* any change at all */
	int txt_seen;       /* a TXT add replaced the old strings */
	int existed;
	struct jrec r;
	uint8_t *attrs;     /* plan storage for r.attrs */
	size_t attrs_cap;
};

struct ctx {
	const struct registry *reg;
	struct update_plan *plan;
	struct ns *ns;
	struct pending pend[UPDATE_MAX_CHANGES];
	size_t npend;
};

/* Sets the answer's rcode and the EDE text saying why; the compiler checks
 * the format against its arguments. */
static int refuse(struct update_plan *p, int rcode, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct update_plan *p, int rcode, const char *fmt, ...)
{
	va_list ap;

	p->rcode = rcode;
	va_start(ap, fmt);
	vsnprintf(p->why_buf, sizeof(p->why_buf), fmt, ap);
	va_end(ap);
	p->why = p->why_buf;
	return -1;
}

/* ---- the message, read in place ---- */

enum { T_A = 1, T_NS = 2, T_MD = 3, T_MF = 4, T_CNAME = 5, T_SOA = 6, T_MB = 7, T_MG = 8,
       T_MR = 9, T_PTR = 12, T_MINFO = 14, T_MX = 15, T_TXT = 16, T_RP = 17, T_AFSDB = 18,
       T_RT = 21, T_PX = 26, T_AAAA = 28, T_SRV = 33, T_KX = 36, T_DNAME = 39, T_OPT = 41,
       T_ANY = 255 };
enum { C_IN = 1, C_NONE = 254, C_ANY = 255 };
/* RFC 2136 2.2: zone, prerequisite, update and additional sections. */
enum { SEC_ZONE, SEC_PREREQ, SEC_UPDATE, SEC_ADD };

struct msg {
	const uint8_t *m;
	size_t len;
	size_t at[4];       /* offset of each section's first entry */
	uint16_t n[4];      /* entries in each section */
	int opt;            /* an OPT record in the additional section: */
	size_t opt_rd;      /* its rdata's offset */
	uint16_t opt_len;
};

/* One resource record of the message: its owner decompressed (case as
 * sent), its rdata where it lies. */
struct rec {
	uint8_t owner[WIRE_NAME_MAX];
	size_t olen;
	uint16_t type, cls;
	uint32_t ttl;
	size_t rd;          /* offset of the rdata in the message */
	uint16_t rdlen;
};

/* Reads the record at *off and moves *off past it: -1 when it is cut. */
static int rec_read(const struct msg *m, size_t *off, struct rec *r)
{
	struct wire w;

	wire_init_ro(&w, m->m, m->len);
	wire_skip(&w, *off);
	r->olen = wire_name_read(&w, r->owner, 0);
	r->type = wire_u16(&w);
	r->cls = wire_u16(&w);
	r->ttl = wire_u32(&w);
	r->rdlen = wire_u16(&w);
	r->rd = w.pos;
	wire_skip(&w, r->rdlen);
	*off = w.pos;
	return w.err ? -1 : 0;
}

/* A name inside rdata, decompressed: it must end at end. */
static size_t rd_name(const struct msg *m, size_t at, size_t end, uint8_t out[WIRE_NAME_MAX],
		      size_t *next)
{
	struct wire w;
	size_t n;

	wire_init_ro(&w, m->m, end);
	wire_skip(&w, at);
	n = wire_name_read(&w, out, 0);
	*next = w.pos;
	return w.err ? 0 : n;
}

#define RDATA_CANON_MAX (2 * WIRE_NAME_MAX + 20)

/* The rdata of r as a record of its type, checked: names decompressed into
 * buf for the types whose rdata holds names that may be compressed (RFC
 * 3597 4: RFC 1035's, and those later ones receivers decompress), other
 * types in place, as opaque bytes. A, AAAA and TXT must have their shape;
 * empty rdata (deletes and prerequisites) is always well-formed. -1 when
 * malformed: the message is FORMERR. */
static int rdata_view(const struct msg *m, const struct rec *r, uint8_t buf[RDATA_CANON_MAX],
		      const uint8_t **data, size_t *len)
{
	const uint8_t *d = m->m + r->rd;
	size_t end = r->rd + r->rdlen, at = r->rd, fixed = 0, names = 1, tail = 0, n = 0, l;

	*data = d;
	*len = r->rdlen;
	if (!r->rdlen)
		return 0;
	switch (r->type) {
	case T_A: return r->rdlen == 4 ? 0 : -1;
	case T_AAAA: return r->rdlen == 16 ? 0 : -1;
	case T_TXT:
		for (size_t i = 0; i < r->rdlen; i += 1 + (size_t)d[i])
			if (i + 1 + d[i] > r->rdlen)
				return -1;
		return 0;
	case T_NS: case T_MD: case T_MF: case T_CNAME: case T_MB: case T_MG: case T_MR:
	case T_PTR: case T_DNAME: break;
	case T_MINFO: case T_RP: names = 2; break;
	case T_MX: case T_AFSDB: case T_RT: case T_KX: fixed = 2; break;
	case T_PX: fixed = 2, names = 2; break;
	case T_SRV: fixed = 6; break;
	case T_SOA: names = 2, tail = 20; break;
	default: return 0;
	}
	if (r->rdlen < fixed)
		return -1;
	memcpy(buf, d, fixed);
	n = fixed;
	at += fixed;
	for (size_t k = 0; k < names; k++) {
		if (!(l = rd_name(m, at, end, buf + n, &at)))
			return -1;
		n += l;
	}
	if (end - at != tail)
		return -1;
	memcpy(buf + n, m->m + at, tail);
	*data = buf;
	*len = n + tail;
	return 0;
}

enum { MSG_CUT = -1, MSG_BAD_RDATA = -2, MSG_TWO_OPTS = -3 };

/* One walk over a message that passed wire_msg_scan: where each section
 * starts, every record's rdata checked against its type (rdata_view;
 * FORMERR before the TSIG is looked at, as a parser of the whole message
 * would), and the OPT record, of which there may be one (RFC 6891 6.1.1). */
static int msg_open(struct msg *m, const uint8_t *req, size_t len)
{
	uint8_t name[WIRE_NAME_MAX], buf[RDATA_CANON_MAX];
	const uint8_t *d;
	struct rec r;
	struct wire w;
	size_t off, dlen;

	m->m = req;
	m->len = len;
	m->opt = 0;
	m->opt_rd = m->opt_len = 0;
	for (int s = 0; s < 4; s++)
		m->n[s] = wire_get16(req + 4 + 2 * s);
	wire_init_ro(&w, req, len);
	wire_skip(&w, 12);
	for (unsigned i = 0; i < m->n[SEC_ZONE]; i++) {
		wire_name_read(&w, name, 0);
		wire_skip(&w, 4);
	}
	if (w.err)
		return MSG_CUT;
	m->at[SEC_ZONE] = 12;
	off = w.pos;
	for (int s = SEC_PREREQ; s <= SEC_ADD; s++) {
		m->at[s] = off;
		for (unsigned i = 0; i < m->n[s]; i++) {
			if (rec_read(m, &off, &r) < 0)
				return MSG_CUT;
			if (rdata_view(m, &r, buf, &d, &dlen) < 0)
				return MSG_BAD_RDATA;
			if (s != SEC_ADD || r.type != T_OPT)
				continue;
			if (m->opt)
				return MSG_TWO_OPTS;
			m->opt = 1;
			m->opt_rd = r.rd;
			m->opt_len = r.rdlen;
		}
	}
	return 0;
}

/* ---- names ---- */

struct owner {
	uint8_t wire[WIRE_NAME_MAX];
	size_t len;
	enum name_kind kind;
	struct service *svc;
	char id[64];
	int bad_id;         /* <label>.<service> where label is no host label */
	char text[WIRE_NAME_TEXT_MAX];
};

static int owner_of(struct ctx *c, const uint8_t *name, size_t len, struct owner *o)
{
	const struct ns *ns = c->ns;
	size_t nl = ns->cfg->wire_len, p;
	uint8_t svcname[WIRE_NAME_MAX];

	memset(o, 0, sizeof(*o));
	if (!len || len > WIRE_NAME_MAX)
		return -1;
	o->len = len;
	memcpy(o->wire, name, len);
	wire_name_lower(o->wire);
	wire_name_to_text(o->wire, o->text, sizeof(o->text));
	if (!wire_name_in(o->wire, ns->cfg->wire))
		return -1;
	if (o->len == nl) {
		o->kind = NK_APEX;
		return 0;
	}
	p = 1 + (size_t)o->wire[0];
	if (o->len - p == nl) {                 /* svc.ns */
		o->svc = registry_find_service(c->reg, o->wire, o->len);
		o->kind = o->svc ? NK_SERVICE : NK_OTHER;
		return 0;
	}
	if (o->len - p - 1 - o->wire[p] != nl)  /* deeper than two labels */
		return 0;
	if (o->wire[0] > 1 && o->wire[1] == '_' && o->wire[p] == 4 &&
	    memcmp(o->wire + p + 1, "_tcp", 4) == 0) {      /* _svc._tcp.ns */
		svcname[0] = (uint8_t)(o->wire[0] - 1);
		memcpy(svcname + 1, o->wire + 2, svcname[0]);
		memcpy(svcname + 1 + svcname[0], ns->cfg->wire, nl);
		o->svc = registry_find_service(c->reg, svcname, 1 + svcname[0] + nl);
		o->kind = o->svc ? NK_SRV : NK_OTHER;
		return 0;
	}
	o->svc = registry_find_service(c->reg, o->wire + p, o->len - p);   /* id.svc.ns */
	if (o->svc && !wire_label_valid((const char *)o->wire + 1, o->wire[0])) {
		o->bad_id = 1;          /* ids are host labels, as in the config */
		o->svc = NULL;
	} else if (o->svc) {
		o->kind = NK_INSTANCE;
		memcpy(o->id, o->wire + 1, o->wire[0]);
		o->id[o->wire[0]] = '\0';
	}
	return 0;
}

/* ---- pending instances ---- */

static struct pending *pend_get(struct ctx *c, struct service *svc, const char *id)
{
	struct update_plan *p = c->plan;
	struct pending *pd;
	struct instance *in;

	for (size_t i = 0; i < c->npend; i++)
		if (c->pend[i].svc == svc && strcasecmp(c->pend[i].id, id) == 0)
			return &c->pend[i];
	if (c->npend == UPDATE_MAX_CHANGES) {
		refuse(p, RC_REFUSED, "one UPDATE may change at most 64 instances");
		return NULL;
	}
	in = registry_find_instance(svc, id);
	if (in && in->origin == ORIGIN_CONFIG) {
		refuse(p, RC_REFUSED, "instance %s is declared in the configuration and cannot be"
		       " changed by UPDATE", id);
		return NULL;
	}
	pd = &c->pend[c->npend];
	memset(pd, 0, sizeof(*pd));
	pd->svc = svc;
	snprintf(pd->id, sizeof(pd->id), "%s", id);
	pd->attrs = p->attrs[c->npend];
	pd->attrs_cap = sizeof(p->attrs[c->npend]);
	c->npend++;
	pd->existed = in != NULL;
	pd->deleted = !in;
	if (in) {
		if (registry_to_jrec(in, &pd->r, pd->attrs, pd->attrs_cap) < 0)
			pd->r.attrs_len = 0;
	} else {
		pd->r.weight = 100;
	}
	return pd;
}

static void pend_fresh(struct pending *pd)
{
	memset(&pd->r, 0, sizeof(pd->r));
	pd->r.weight = 100;
	pd->deleted = 1;
	pd->txt_seen = 0;
}

/* ---- the update section ---- */

static int add_txt(struct ctx *c, struct pending *pd, const struct msg *m, const struct rec *rr)
{
	const uint8_t *d = m->m + rr->rd;

	if (!pd->txt_seen) {
		pd->r.attrs_len = 0;
		pd->r.health = HEALTH_HEALTHY;
		pd->txt_seen = 1;
	}
	/* rdata_view checked that the strings fill the rdata. */
	for (size_t i = 0; i < rr->rdlen; i += 1 + (size_t)d[i]) {
		size_t l = d[i];
		const char *s = (const char *)d + i + 1, *eq = memchr(s, '=', l);

		if (!l || !eq || eq == s)
			return refuse(c->plan, RC_REFUSED, "TXT strings must be key=value (%s)", pd->id);
		if ((size_t)(eq - s) == 6 && strncasecmp(s, "health", 6) == 0) {
			int h = registry_health_parse(eq + 1, l - 7);

			if (h < 0)
				return refuse(c->plan, RC_REFUSED, "health= must be healthy, unhealthy"
					      " or warning (%s)", pd->id);
			pd->r.health = (uint8_t)h;
			continue;
		}
		if (pd->r.attrs_len + 1 + l > pd->attrs_cap)
			return refuse(c->plan, RC_REFUSED, "attributes of %s exceed 512 bytes", pd->id);
		pd->attrs[pd->r.attrs_len] = (uint8_t)l;
		memcpy(pd->attrs + pd->r.attrs_len + 1, s, l);
		pd->r.attrs_len = (uint16_t)(pd->r.attrs_len + 1 + l);
	}
	return 0;
}

/* An SRV at svc.ns names its instance by target: <id>.<svc>.<ns>. */
static struct pending *srv_target(struct ctx *c, const struct owner *o, const struct msg *m,
				  const struct rec *rr)
{
	uint8_t name[WIRE_NAME_MAX];
	struct owner t;
	size_t n = 0, end;

	if (rr->rdlen > 6)
		n = rd_name(m, rr->rd + 6, rr->rd + rr->rdlen, name, &end);
	if (!n || owner_of(c, name, n, &t) < 0 || t.kind != NK_INSTANCE || t.svc != o->svc) {
		refuse(c->plan, RC_REFUSED, "an SRV at service %s must point to an instance of it",
		       o->svc->name);
		return NULL;
	}
	return pend_get(c, o->svc, t.id);
}

static int add_rr(struct ctx *c, const struct owner *o, const struct msg *m, const struct rec *rr,
		  int fresh)
{
	const uint8_t *d = m->m + rr->rd;
	struct pending *pd;

	if (o->kind == NK_INSTANCE && (rr->type == T_A || rr->type == T_AAAA || rr->type == T_TXT)) {
		if (!(pd = pend_get(c, o->svc, o->id)))
			return -1;
		if (fresh && !pd->touched)
			pend_fresh(pd);
		pd->touched = 1;
		pd->deleted = 0;
		if (rr->type == T_TXT)
			return add_txt(c, pd, m, rr);
		if (!rr->rdlen)
			return refuse(c->plan, RC_FORMERR, "bad address record");
		if (rr->type == T_A) {
			pd->r.has4 = 1;
			memcpy(pd->r.addr4, d, 4);
		} else {
			pd->r.has6 = 1;
			memcpy(pd->r.addr6, d, 16);
		}
		return 0;
	}
	if ((o->kind == NK_SERVICE || o->kind == NK_SRV) && rr->type == T_SRV) {
		if (!(pd = srv_target(c, o, m, rr)))
			return -1;
		pd->touched = 1;
		pd->r.weight = wire_get16(d + 2);
		pd->r.port = wire_get16(d + 4);
		return 0;
	}
	return refuse(c->plan, RC_REFUSED, "%s: only A, AAAA and TXT at <id>.<service> and SRV at"
		      " <service> can be updated", o->text);
}

static void delete_instance(struct ctx *c, struct pending *pd)
{
	(void)c;
	pend_fresh(pd);
	pd->touched = 1;
}

/* 1 if rr's rdata is that of the pending instance's record of its type:
 * what "delete an RR from an RRset" (RFC 2136 2.5.4) must match. */
static int pending_has(const struct pending *pd, const struct msg *m, const struct rec *rr)
{
	const uint8_t *d = m->m + rr->rd;
	const char *h = registry_health_str(pd->r.health);
	size_t hl = strlen(h);

	if (rr->type == T_A)
		return pd->r.has4 && rr->rdlen == 4 && !memcmp(d, pd->r.addr4, 4);
	if (rr->type == T_AAAA)
		return pd->r.has6 && rr->rdlen == 16 && !memcmp(d, pd->r.addr6, 16);
	if (rr->type != T_TXT || pd->deleted)
		return 0;
	/* The TXT as served: the attributes, then health=. */
	for (size_t i = 0; i < rr->rdlen; i += 1 + (size_t)d[i]) {
		size_t n = 1 + (size_t)d[i];

		if (i + n == rr->rdlen)
			return i == pd->r.attrs_len && n == 1 + 7 + hl &&
			       !memcmp(d + i + 1, "health=", 7) &&
			       !strncasecmp((const char *)d + i + 8, h, hl);
		if (i + n > pd->r.attrs_len || memcmp(d + i, pd->attrs + i, n))
			return 0;
	}
	return 0;
}

/* whole: delete an RRset (class ANY); else one RR (class NONE). */
static int delete_rr(struct ctx *c, const struct owner *o, const struct msg *m,
		     const struct rec *rr, int whole)
{
	const uint8_t *d = m->m + rr->rd;
	struct pending *pd;

	if (!whole && rr->type == T_ANY)  /* RFC 2136 3.4.1.3 */
		return refuse(c->plan, RC_FORMERR, "class NONE with type ANY in the update section");
	if (o->kind == NK_INSTANCE) {
		if (!(pd = pend_get(c, o->svc, o->id)))
			return -1;
		if (!whole && !pending_has(pd, m, rr))
			return 0;       /* not there: a no-op (RFC 2136 3.4.2.4) */
		pd->touched = 1;
		if (rr->type == T_ANY)
			delete_instance(c, pd);
		else if (rr->type == T_A)
			pd->r.has4 = 0;
		else if (rr->type == T_AAAA)
			pd->r.has6 = 0;
		else if (rr->type == T_TXT)
			pd->r.attrs_len = 0, pd->r.health = HEALTH_HEALTHY;
		if (!pd->r.has4 && !pd->r.has6)
			delete_instance(c, pd); /* an instance without an address is gone */
		return 0;
	}
	if ((o->kind == NK_SERVICE || o->kind == NK_SRV) &&
	    (rr->type == T_SRV || rr->type == T_ANY)) {
		if (!whole) {
			if (!(pd = srv_target(c, o, m, rr)))
				return -1;
			/* Only the SRV as served goes: priority 0, its weight and port. */
			if (!pd->deleted && wire_get16(d) == 0 && wire_get16(d + 2) == pd->r.weight &&
			    wire_get16(d + 4) == pd->r.port)
				delete_instance(c, pd);
			return 0;
		}
		/* Every UPDATE instance of the service goes. */
		for (size_t i = 0; i < o->svc->n; i++)
			if (o->svc->inst[i]->origin == ORIGIN_UPDATE) {
				if (!(pd = pend_get(c, o->svc, o->svc->inst[i]->id)))
					return -1;
				delete_instance(c, pd);
			}
		return 0;
	}
	return refuse(c->plan, RC_REFUSED, "%s: nothing here can be deleted by UPDATE", o->text);
}

/* 1 if this message adds an address for the instance at o (a registration). */
static int registers(const struct msg *m, const struct owner *o)
{
	size_t off = m->at[SEC_UPDATE];
	struct rec r;

	for (unsigned i = 0; i < m->n[SEC_UPDATE]; i++) {
		if (rec_read(m, &off, &r) < 0)
			return 0;
		if (r.cls == C_IN && (r.type == T_A || r.type == T_AAAA) &&
		    r.olen == o->len && wire_name_eq(r.owner, o->wire))
			return 1;
	}
	return 0;
}

static int check_scope(struct ctx *c, const struct service *svc)
{
	const struct cfg_key *k = c->plan->key;
	char name[WIRE_NAME_TEXT_MAX];

	wire_name_to_text(svc->wire, name, sizeof(name));
	for (size_t i = 0; i < k->nallow; i++) {
		uint8_t w[WIRE_NAME_MAX];
		int len = wire_name_from_text(k->allow[i], w);

		if (len > 0 && wire_name_eq(w, svc->wire))
			return 0;
	}
	snprintf(c->plan->why_buf, sizeof(c->plan->why_buf), "key %.60s may not change %.79s",
		 k->name, name);
	c->plan->why = c->plan->why_buf;
	c->plan->rcode = RC_REFUSED;
	return -1;
}

static int update_section(struct ctx *c, const struct msg *m)
{
	size_t off = m->at[SEC_UPDATE];
	struct rec rr;

	for (unsigned i = 0; i < m->n[SEC_UPDATE]; i++) {
		struct owner o;
		int rc;

		if (rec_read(m, &off, &rr) < 0)
			return refuse(c->plan, RC_FORMERR, "malformed update section");
		if (owner_of(c, rr.owner, rr.olen, &o) < 0)
			return refuse(c->plan, RC_NOTZONE, "%s is outside the zone", o.text);
		if (o.bad_id)
			return refuse(c->plan, RC_REFUSED, "%s: an instance id must be a host label"
				      " (letters, digits, '-', '_')", o.text);
		if (o.svc && check_scope(c, o.svc) < 0)
			return -1;
		if (rr.cls == C_IN)
			rc = add_rr(c, &o, m, &rr, registers(m, &o));
		else if (rr.cls == C_ANY && rr.ttl == 0 && rr.rdlen == 0)
			rc = delete_rr(c, &o, m, &rr, 1);
		else if (rr.cls == C_NONE && rr.ttl == 0)
			rc = delete_rr(c, &o, m, &rr, 0);
		else
			return refuse(c->plan, RC_FORMERR, "bad class or TTL in the update section");
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* +1 when pd registers a new instance, -1 when it removes one, else 0. */
static int pend_delta(const struct pending *pd)
{
	if (!pd->touched)
		return 0;
	return (!pd->deleted && !pd->existed) - (pd->deleted && pd->existed);
}

/* The namespace's limits: instances per service and per namespace,
 * attributes per instance and their size. Only a message that would go over
 * a limit is refused, so one that shrinks an over-full service (after the
 * limit was lowered) still passes. */
static int check_limits(struct ctx *c)
{
	const struct cfg_namespace *cn = c->ns->cfg;
	size_t ns_total = 0;
	long ns_delta = 0;

	for (size_t i = 0; i < c->npend; i++) {
		const struct pending *pd = &c->pend[i];
		long svc_delta = 0;
		size_t nattrs = 0;

		ns_delta += pend_delta(pd);
		for (size_t j = 0; j < c->npend; j++)
			if (c->pend[j].svc == pd->svc)
				svc_delta += pend_delta(&c->pend[j]);
		if (svc_delta > 0 && pd->svc->n + (size_t)svc_delta > cn->max_instances_per_service)
			return refuse(c->plan, RC_REFUSED, "limit max_instances_per_service=%u: service"
				      " %s is full", cn->max_instances_per_service, pd->svc->name);
		if (!pd->txt_seen || pd->deleted)
			continue;
		for (size_t o = 0; o < pd->r.attrs_len; o += 1 + (size_t)pd->attrs[o]) {
			if (pd->attrs[o] > cn->max_attribute_size)
				return refuse(c->plan, RC_REFUSED, "limit max_attribute_size=%u: an"
					      " attribute of %s is %u bytes", cn->max_attribute_size,
					      pd->id, pd->attrs[o]);
			nattrs++;
		}
		if (nattrs > cn->max_attributes)
			return refuse(c->plan, RC_REFUSED, "limit max_attributes=%u: %s has %zu",
				      cn->max_attributes, pd->id, nattrs);
	}
	/* Counted only for a message that adds instances: the walk over every
	 * service was a tenth of planning a re-registration. */
	for (size_t s = 0; ns_delta > 0 && s < c->ns->nservices; s++)
		ns_total += c->ns->services[s].n;
	if (ns_delta > 0 && ns_total + (size_t)ns_delta > cn->max_instances)
		return refuse(c->plan, RC_REFUSED, "limit max_instances=%u: namespace %s is full",
			      cn->max_instances, cn->name);
	return 0;
}

/* Turns pending states into journal records. */
static int finish_changes(struct ctx *c, uint64_t now)
{
	struct update_plan *p = c->plan;

	if (check_limits(c) < 0)
		return -1;

	p->nchanges = 0;
	for (size_t i = 0; i < c->npend; i++) {
		struct pending *pd = &c->pend[i];
		struct jrec *r = &p->changes[p->nchanges];

		if (!pd->touched || (pd->deleted && !pd->existed))
			continue;
		if (!pd->deleted && !pd->r.has4 && !pd->r.has6)
			return refuse(p, RC_REFUSED, "instance %s has no A or AAAA record", pd->id);
		*r = pd->r;
		r->op = pd->deleted ? JOURNAL_DEL : JOURNAL_PUT;
		memcpy(r->ns, c->ns->cfg->wire, c->ns->cfg->wire_len);
		r->ns_len = c->ns->cfg->wire_len;
		snprintf(r->svc, sizeof(r->svc), "%s", pd->svc->name);
		snprintf(r->id, sizeof(r->id), "%s", pd->id);
		r->origin = ORIGIN_UPDATE;
		r->attrs = pd->attrs;
		r->lease_expiry = p->lease ? now + p->lease : 0;
		switch (pd->deleted ? REG_ANSWERS :
			registry_change(registry_find_instance(pd->svc, pd->id), r)) {
		case REG_SAME:
			continue;       /* a renewal within the same second, or no lease */
		case REG_LEASE:
			break;
		case REG_ANSWERS:
			p->nvisible++;
			break;
		}
		p->nchanges++;
	}
	return 0;
}

/* ---- prerequisites (RFC 2136 3.2) ---- */

/* The records the server serves at o of type (T_ANY: every type), one at a
 * time, as (type, rdata): each goes to fn until fn returns nonzero, which
 * served() returns; 0 when fn never did. */
typedef int (*served_fn)(void *arg, uint16_t type, const uint8_t *rd, size_t len);

static int served_instance(const struct instance *in, uint16_t type, served_fn fn, void *arg)
{
	uint8_t txt[1024];
	size_t t = 0, hl;
	const char *h = registry_health_str(in->health);
	int rc;

	if (in->has4 && (type == T_ANY || type == T_A) && (rc = fn(arg, T_A, in->addr4, 4)))
		return rc;
	if (in->has6 && (type == T_ANY || type == T_AAAA) && (rc = fn(arg, T_AAAA, in->addr6, 16)))
		return rc;
	if (type != T_ANY && type != T_TXT)
		return 0;
	for (size_t i = 0; i < in->nattrs; i++) {
		size_t n = strlen(in->attrs[i]);

		if (n > 255 || t + 1 + n > sizeof(txt) - 32)
			break;
		txt[t++] = (uint8_t)n;
		memcpy(txt + t, in->attrs[i], n);
		t += n;
	}
	hl = strlen(h);
	txt[t++] = (uint8_t)(7 + hl);
	memcpy(txt + t, "health=", 7);
	memcpy(txt + t + 7, h, hl);
	t += 7 + hl;
	return fn(arg, T_TXT, txt, t);
}

static int served(const struct ctx *c, const struct owner *o, uint16_t type, served_fn fn,
		  void *arg)
{
	const struct zone *z = c->ns->zone;
	int rc;

	for (size_t i = 0; z && i < z->n; i++)
		if (z->rrs[i].owner_len == o->len && !memcmp(z->rrs[i].owner, o->wire, o->len) &&
		    (type == T_ANY || z->rrs[i].type == type) &&
		    (rc = fn(arg, z->rrs[i].type, z->rrs[i].rdata, z->rrs[i].rdlen)))
			return rc;
	if (o->kind == NK_INSTANCE) {
		const struct instance *in = registry_find_instance(o->svc, o->id);

		return in ? served_instance(in, type, fn, arg) : 0;
	}
	if ((o->kind == NK_SERVICE || o->kind == NK_SRV) && (type == T_ANY || type == T_SRV)) {
		for (size_t i = 0; i < o->svc->n; i++) {
			const struct instance *in = o->svc->inst[i];
			uint8_t rd[6 + WIRE_NAME_MAX];
			size_t il = strlen(in->id);

			if (6 + 1 + il + o->svc->wire_len > sizeof(rd))
				continue;
			wire_set16(rd, 0);
			wire_set16(rd + 2, in->weight);
			wire_set16(rd + 4, in->port);
			rd[6] = (uint8_t)il;
			memcpy(rd + 7, in->id, il);
			memcpy(rd + 7 + il, o->svc->wire, o->svc->wire_len);
			if ((rc = fn(arg, T_SRV, rd, 7 + il + o->svc->wire_len)))
				return rc;
		}
	}
	return 0;
}

static int served_any(void *arg, uint16_t type, const uint8_t *rd, size_t len)
{
	(void)arg, (void)type, (void)rd, (void)len;
	return 1;
}

static int served_count(void *arg, uint16_t type, const uint8_t *rd, size_t len)
{
	(void)type, (void)rd, (void)len;
	++*(size_t *)arg;
	return 0;
}

struct rdata_key {
	uint16_t type;
	const uint8_t *rd;
	size_t len;
};

static int served_match(void *arg, uint16_t type, const uint8_t *rd, size_t len)
{
	const struct rdata_key *k = arg;

	return type == k->type && len == k->len && !memcmp(rd, k->rd, len);
}

/* Value-dependent: the RRset at (owner, type) equals the set of prerequisite
 * records with that owner and type (RFC 2136 3.2.3). */
static int rrset_equals(const struct ctx *c, const struct owner *o, const struct msg *m,
			uint16_t type)
{
	uint8_t buf[RDATA_CANON_MAX];
	size_t off = m->at[SEC_PREREQ], want = 0, have = 0;
	struct rdata_key k;
	struct rec p;

	for (unsigned i = 0; i < m->n[SEC_PREREQ]; i++) {
		if (rec_read(m, &off, &p) < 0 || rdata_view(m, &p, buf, &k.rd, &k.len) < 0)
			return 0;
		if (p.cls != C_IN || p.type != type || p.olen != o->len ||
		    !wire_name_eq(p.owner, o->wire))
			continue;
		want++;
		k.type = p.type;
		if (!served(c, o, type, served_match, &k))
			return 0;
	}
	served(c, o, type, served_count, &have);
	return have == want;
}

/* 1 if a class IN prerequisite before the one at end has r's owner and
 * type: rrset_equals already compared that whole RRset. */
static int rrset_seen(const struct msg *m, size_t end, const struct rec *r)
{
	size_t off = m->at[SEC_PREREQ];
	struct rec p;

	while (off < end && rec_read(m, &off, &p) == 0)
		if (p.cls == C_IN && p.type == r->type && p.olen == r->olen &&
		    wire_name_eq(p.owner, r->owner))
			return 1;
	return 0;
}

static int prerequisites(struct ctx *c, const struct msg *m)
{
	size_t off = m->at[SEC_PREREQ], at;
	struct rec rr;

	for (unsigned i = 0; i < m->n[SEC_PREREQ]; i++) {
		at = off;
		struct owner o;
		int exists;

		if (rec_read(m, &off, &rr) < 0)
			return refuse(c->plan, RC_FORMERR, "malformed prerequisite section");
		if (rr.ttl != 0)
			return refuse(c->plan, RC_FORMERR, "prerequisite with a TTL");
		if (owner_of(c, rr.owner, rr.olen, &o) < 0)
			return refuse(c->plan, RC_NOTZONE, "prerequisite %s is outside the zone", o.text);
		if (rr.cls == C_IN) {
			if (!rrset_seen(m, at, &rr) && !rrset_equals(c, &o, m, rr.type))
				return refuse(c->plan, RC_NXRRSET, "prerequisite RRset at %s differs", o.text);
			continue;
		}
		if ((rr.cls != C_ANY && rr.cls != C_NONE) || rr.rdlen)
			return refuse(c->plan, RC_FORMERR, "bad prerequisite at %s", o.text);
		if (rr.type == T_ANY && (o.kind == NK_APEX || o.kind == NK_SERVICE || o.kind == NK_SRV))
			exists = 1;     /* names that are always in use */
		else
			exists = served(c, &o, rr.type, served_any, NULL);
		if (rr.cls == C_ANY && !exists)
			return refuse(c->plan, rr.type == T_ANY ? RC_NXDOMAIN : RC_NXRRSET,
				      "prerequisite: %s does not exist", o.text);
		if (rr.cls == C_NONE && exists)
			return refuse(c->plan, rr.type == T_ANY ? RC_YXDOMAIN : RC_YXRRSET,
				      "prerequisite: %s exists", o.text);
	}
	return 0;
}

/* ---- TSIG (RFC 8945) ---- */

/* RFC 8945 5.2, through tsig.c; the request's time and MAC are kept for
 * the replay cache and the answer's signature. */
static int verify_tsig(struct ctx *c, const uint8_t *req, size_t len, uint64_t now)
{
	struct update_plan *p = c->plan;
	struct tsig_check t;
	enum tsig_result r = tsig_verify(c->reg->cfg, req, len, now, &t);

	p->time_signed = t.time_signed;
	if (t.mac && t.mac_size <= sizeof(p->request_mac)) {
		memcpy(p->request_mac, t.mac, t.mac_size);
		p->request_mac_len = (uint16_t)t.mac_size;
	}
	switch (r) {
	case TSIG_OK:
		p->key = t.key;
		return 0;
	case TSIG_UNSIGNED:
		return refuse(p, RC_REFUSED, "updates must be signed with a TSIG key");
	case TSIG_MALFORMED:
		return refuse(p, RC_FORMERR, "malformed TSIG record");
	case TSIG_FAILED:
		break;
	}
	p->tsig_error = t.error;
	p->error_key = t.key;   /* BADTIME: its answer is signed */
	return refuse(p, RC_NOTAUTH, t.error == TSIG_BADKEY ? "unknown TSIG key or algorithm" :
		      t.error == TSIG_BADSIG ? "TSIG signature does not verify" :
		      "TSIG time is outside the allowed window");
}


/* ---- lease (RFC 9664) ---- */

/* The lease from the OPT's UPDATE-LEASE option (msg_open found the OPT),
 * clamped to the namespace's bounds; without one, default_lease. */
static void lease_of(struct ctx *c, const struct msg *m)
{
	struct update_plan *p = c->plan;
	const struct cfg_namespace *ns = c->ns->cfg;
	const uint8_t *o = m->m + m->opt_rd;

	p->lease = ns->default_lease;
	for (size_t i = 0; m->opt && i + 4 <= m->opt_len;) {
		uint16_t code = wire_get16(o + i), olen = wire_get16(o + i + 2);

		if (i + 4 + olen > m->opt_len)
			break;
		if (code == OPT_UPDATE_LEASE && (olen == 4 || olen == 8)) {
			uint32_t l = wire_get32(o + i + 4);

			p->has_lease = 1;
			p->lease = l < ns->min_lease ? ns->min_lease : l > ns->max_lease ? ns->max_lease : l;
		}
		i += 4 + (size_t)olen;
	}
}

/* ---- the whole message ---- */

static int zone_section(struct ctx *c, const struct msg *m)
{
	uint8_t w[WIRE_NAME_MAX];
	struct wire r;
	size_t n;

	if (m->n[SEC_ZONE] != 1)
		return refuse(c->plan, RC_FORMERR, "an UPDATE names exactly one zone");
	wire_init_ro(&r, m->m, m->len);
	wire_skip(&r, m->at[SEC_ZONE]);
	n = wire_name_read(&r, w, 1);
	if (wire_u16(&r) != T_SOA || wire_u16(&r) != C_IN || r.err)
		return refuse(c->plan, RC_FORMERR, "the zone section must be SOA IN");
	c->ns = registry_find_ns(c->reg, w, n);
	if (!c->ns)
		return refuse(c->plan, RC_NOTAUTH, "this server is not authoritative for that zone");
	return 0;
}

int update_plan(const struct registry *reg, const uint8_t *req, size_t len,
		uint64_t now, struct update_plan *plan)
{
	static struct ctx c;  /* large; the planner runs on the writer's thread only */
	struct msg m;
	int rc;

	memset(plan, 0, offsetof(struct update_plan, changes));
	plan->nchanges = 0;
	plan->nvisible = 0;
	if (len < 12)
		return -1;
	memset(&c, 0, offsetof(struct ctx, pend));
	c.npend = 0;
	c.reg = reg;
	c.plan = plan;
	/* RFC 2136 3.1.1 (counts that lie), RFC 8945 5.1 (TSIG last, once). */
	if (wire_msg_scan(req, len) < 0 || (rc = msg_open(&m, req, len)) == MSG_CUT) {
		refuse(plan, RC_FORMERR, "the sections do not match the header counts, or a TSIG"
		       " record is not the last additional record");
		return 0;
	}
	if (rc < 0) {
		refuse(plan, RC_FORMERR, rc == MSG_BAD_RDATA ? "malformed record data" :
		       "more than one OPT record");
		return 0;
	}
	plan->edns = m.opt;
	if (verify_tsig(&c, req, len, now) == 0 && zone_section(&c, &m) == 0) {
		lease_of(&c, &m);
		if (prerequisites(&c, &m) == 0 && update_section(&c, &m) == 0 &&
		    finish_changes(&c, now) == 0)
			plan->rcode = 0;
	}
	if (plan->rcode)
		plan->nchanges = plan->nvisible = 0;
	return 0;
}

/* ---- the answer ---- */

/* The OPT record (RFC 6891) of an answer to a request that had one: the
 * lease granted (RFC 9664) and, for a refusal, the EDE text (RFC 8914). */
static void put_opt(struct wire *w, const struct update_plan *p)
{
	size_t rdlen_at;

	wire_put_u8(w, 0);                      /* root */
	wire_put_u16(w, 41);
	wire_put_u16(w, 1232);
	wire_put_u32(w, 0);
	rdlen_at = w->pos;
	wire_put_u16(w, 0);
	if (p->has_lease && p->rcode == 0) {
		wire_put_u16(w, OPT_UPDATE_LEASE);
		wire_put_u16(w, 4);
		wire_put_u32(w, p->lease);
	}
	if (p->why && p->rcode == RC_REFUSED) {
		size_t tl = strlen(p->why);

		wire_put_u16(w, 15);
		wire_put_u16(w, (uint16_t)(2 + tl));
		wire_put_u16(w, p->key ? 0 : 18); /* Other; Prohibited without a valid key */
		wire_put(w, p->why, tl);
	}
	wire_poke_u16(w, rdlen_at, (uint16_t)(w->pos - rdlen_at - 2));
}

/* Answers without a parsable request: header, FORMERR, nothing else. */
static size_t bare_answer(const uint8_t *req, int rcode, uint8_t *out, size_t cap)
{
	if (cap < 12)
		return 0;
	memset(out, 0, 12);
	out[0] = req[0], out[1] = req[1];
	out[2] = (uint8_t)(0x80 | (req[2] & 0x78));
	out[3] = (uint8_t)rcode;
	return 12;
}

/* The answer is written on the wire: header, the request's zone section,
 * an OPT when the request had one, then the TSIG: signed with the request's
 * key, or the unsigned error record of RFC 8945 5.3.2. */
size_t update_answer(const struct update_plan *plan, const uint8_t *req, size_t len,
		     uint64_t now, uint8_t *out, size_t cap)
{
	uint8_t zone[WIRE_NAME_MAX];
	struct wire r, w;
	struct tsig_rr t;
	long end;

	if (len < 12)
		return 0;
	if (wire_msg_scan(req, len) < 0)
		return bare_answer(req, RC_FORMERR, out, cap);
	wire_init(&w, out, cap);
	wire_put(&w, req, 2);
	wire_put_u8(&w, 0x80 | OPCODE_UPDATE << 3);
	wire_put_u8(&w, (uint8_t)(plan->rcode & 15));
	wire_put_u16(&w, wire_get16(req + 4) == 1);
	wire_put_u16(&w, 0);
	wire_put_u16(&w, 0);
	wire_put_u16(&w, plan->edns ? 1 : 0);
	if (wire_get16(req + 4) == 1) {
		wire_init_ro(&r, req, len);
		wire_skip(&r, 12);
		wire_put(&w, zone, wire_name_read(&r, zone, 0));
		wire_put_u16(&w, wire_u16(&r));
		wire_put_u16(&w, wire_u16(&r));
	}
	if (plan->edns)
		put_opt(&w, plan);
	if (w.err)
		return bare_answer(req, RC_SERVFAIL, out, cap);
	end = (long)w.pos;
	if (plan->tsig_error && tsig_find(req, len, &t) == 1)
		end = tsig_put_error(&t, plan->error_key, wire_get16(req), plan->tsig_error, now,
				     out, w.pos, cap);
	else if (!plan->tsig_error && plan->key)
		end = tsig_sign(plan->key, plan->request_mac, plan->request_mac_len, 0, now,
				UPDATE_FUDGE, out, w.pos, cap, NULL);
	return end < 0 ? bare_answer(req, RC_SERVFAIL, out, cap) : (size_t)end;
}
