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
#include <ldns/ldns.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "err.h"
#include "update.h"
#include "wire.h"

enum { RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3, RC_NOTIMP = 4, RC_REFUSED = 5,
       RC_YXDOMAIN = 6, RC_YXRRSET = 7, RC_NXRRSET = 8, RC_NOTAUTH = 9, RC_NOTZONE = 10 };
enum { OPT_UPDATE_LEASE = 2 };

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

static int owner_of(struct ctx *c, const ldns_rdf *rdf, struct owner *o)
{
	const struct ns *ns = c->ns;
	size_t nl = ns->cfg->wire_len, p;
	uint8_t svcname[WIRE_NAME_MAX];

	memset(o, 0, sizeof(*o));
	if (ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME || ldns_rdf_size(rdf) > WIRE_NAME_MAX)
		return -1;
	o->len = ldns_rdf_size(rdf);
	memcpy(o->wire, ldns_rdf_data(rdf), o->len);
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

static int add_txt(struct ctx *c, struct pending *pd, const ldns_rr *rr)
{
	if (!pd->txt_seen) {
		pd->r.attrs_len = 0;
		pd->r.health = HEALTH_HEALTHY;
		pd->txt_seen = 1;
	}
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *d = ldns_rdf_data(f);
		size_t l = ldns_rdf_size(f) ? d[0] : 0;
		const char *s = (const char *)d + 1, *eq = memchr(s, '=', l);

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
static struct pending *srv_target(struct ctx *c, const struct owner *o, const ldns_rr *rr)
{
	struct owner t;

	if (ldns_rr_rd_count(rr) != 4 || owner_of(c, ldns_rr_rdf(rr, 3), &t) < 0 ||
	    t.kind != NK_INSTANCE || t.svc != o->svc) {
		refuse(c->plan, RC_REFUSED, "an SRV at service %s must point to an instance of it",
		       o->svc->name);
		return NULL;
	}
	return pend_get(c, o->svc, t.id);
}

static int add_rr(struct ctx *c, const struct owner *o, const ldns_rr *rr, int fresh)
{
	ldns_rr_type type = ldns_rr_get_type(rr);
	struct pending *pd;

	if (o->kind == NK_INSTANCE && (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_AAAA ||
				       type == LDNS_RR_TYPE_TXT)) {
		if (!(pd = pend_get(c, o->svc, o->id)))
			return -1;
		if (fresh && !pd->touched)
			pend_fresh(pd);
		pd->touched = 1;
		pd->deleted = 0;
		if (type == LDNS_RR_TYPE_TXT)
			return add_txt(c, pd, rr);
		if (ldns_rr_rd_count(rr) != 1)
			return refuse(c->plan, RC_FORMERR, "bad address record");
		if (type == LDNS_RR_TYPE_A) {
			pd->r.has4 = 1;
			memcpy(pd->r.addr4, ldns_rdf_data(ldns_rr_rdf(rr, 0)), 4);
		} else {
			pd->r.has6 = 1;
			memcpy(pd->r.addr6, ldns_rdf_data(ldns_rr_rdf(rr, 0)), 16);
		}
		return 0;
	}
	if ((o->kind == NK_SERVICE || o->kind == NK_SRV) && type == LDNS_RR_TYPE_SRV) {
		if (!(pd = srv_target(c, o, rr)))
			return -1;
		pd->touched = 1;
		pd->r.weight = ldns_rdf2native_int16(ldns_rr_rdf(rr, 1));
		pd->r.port = ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
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
static int pending_has(const struct pending *pd, const ldns_rr *rr)
{
	ldns_rr_type type = ldns_rr_get_type(rr);
	const ldns_rdf *f = ldns_rr_rd_count(rr) ? ldns_rr_rdf(rr, 0) : NULL;
	const char *h = registry_health_str(pd->r.health);
	size_t pos = 0, hl = strlen(h);

	if (type == LDNS_RR_TYPE_A)
		return pd->r.has4 && ldns_rr_rd_count(rr) == 1 && ldns_rdf_size(f) == 4 &&
		       !memcmp(ldns_rdf_data(f), pd->r.addr4, 4);
	if (type == LDNS_RR_TYPE_AAAA)
		return pd->r.has6 && ldns_rr_rd_count(rr) == 1 && ldns_rdf_size(f) == 16 &&
		       !memcmp(ldns_rdf_data(f), pd->r.addr6, 16);
	if (type != LDNS_RR_TYPE_TXT || pd->deleted)
		return 0;
	/* The TXT as served: the attributes, then health=. */
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *s = ldns_rr_rdf(rr, i);
		size_t n = ldns_rdf_size(s);

		if (i + 1 == ldns_rr_rd_count(rr))
			return pos == pd->r.attrs_len && n == 1 + 7 + hl &&
			       !memcmp(ldns_rdf_data(s) + 1, "health=", 7) &&
			       !strncasecmp((const char *)ldns_rdf_data(s) + 8, h, hl);
		if (pos + n > pd->r.attrs_len || memcmp(ldns_rdf_data(s), pd->attrs + pos, n))
			return 0;
		pos += n;
	}
	return 0;
}

/* whole: delete an RRset (class ANY); else one RR (class NONE). */
static int delete_rr(struct ctx *c, const struct owner *o, const ldns_rr *rr, int whole)
{
	ldns_rr_type type = ldns_rr_get_type(rr);
	struct pending *pd;

	if (!whole && type == LDNS_RR_TYPE_ANY)  /* RFC 2136 3.4.1.3 */
		return refuse(c->plan, RC_FORMERR, "class NONE with type ANY in the update section");
	if (o->kind == NK_INSTANCE) {
		if (!(pd = pend_get(c, o->svc, o->id)))
			return -1;
		if (!whole && !pending_has(pd, rr))
			return 0;       /* not there: a no-op (RFC 2136 3.4.2.4) */
		pd->touched = 1;
		if (type == LDNS_RR_TYPE_ANY)
			delete_instance(c, pd);
		else if (type == LDNS_RR_TYPE_A)
			pd->r.has4 = 0;
		else if (type == LDNS_RR_TYPE_AAAA)
			pd->r.has6 = 0;
		else if (type == LDNS_RR_TYPE_TXT)
			pd->r.attrs_len = 0, pd->r.health = HEALTH_HEALTHY;
		if (!pd->r.has4 && !pd->r.has6)
			delete_instance(c, pd); /* an instance without an address is gone */
		return 0;
	}
	if ((o->kind == NK_SERVICE || o->kind == NK_SRV) &&
	    (type == LDNS_RR_TYPE_SRV || type == LDNS_RR_TYPE_ANY)) {
		if (!whole) {
			if (!(pd = srv_target(c, o, rr)))
				return -1;
			/* Only the SRV as served goes: priority 0, its weight and port. */
			if (!pd->deleted && ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)) == 0 &&
			    ldns_rdf2native_int16(ldns_rr_rdf(rr, 1)) == pd->r.weight &&
			    ldns_rdf2native_int16(ldns_rr_rdf(rr, 2)) == pd->r.port)
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
static int registers(const ldns_rr_list *ups, const struct owner *o)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(ups); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ups, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		const ldns_rdf *ow = ldns_rr_owner(rr);

		if (ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
		    (t == LDNS_RR_TYPE_A || t == LDNS_RR_TYPE_AAAA) &&
		    ldns_rdf_size(ow) == o->len &&
		    wire_name_eq(ldns_rdf_data(ow), o->wire))
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

static int update_section(struct ctx *c, const ldns_rr_list *ups)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(ups); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ups, i);
		ldns_rr_class cls = ldns_rr_get_class(rr);
		struct owner o;
		int rc;

		if (owner_of(c, ldns_rr_owner(rr), &o) < 0)
			return refuse(c->plan, RC_NOTZONE, "%s is outside the zone", o.text);
		if (o.bad_id)
			return refuse(c->plan, RC_REFUSED, "%s: an instance id must be a host label"
				      " (letters, digits, '-', '_')", o.text);
		if (o.svc && check_scope(c, o.svc) < 0)
			return -1;
		if (cls == LDNS_RR_CLASS_IN)
			rc = add_rr(c, &o, rr, registers(ups, &o));
		else if (cls == LDNS_RR_CLASS_ANY && ldns_rr_ttl(rr) == 0 && ldns_rr_rd_count(rr) == 0)
			rc = delete_rr(c, &o, rr, 1);
		else if (cls == LDNS_RR_CLASS_NONE && ldns_rr_ttl(rr) == 0)
			rc = delete_rr(c, &o, rr, 0);
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

	for (size_t s = 0; s < c->ns->nservices; s++)
		ns_total += c->ns->services[s].n;
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

static ldns_rr *rr_from(const uint8_t *owner, size_t olen, uint16_t type,
			const uint8_t *rdata, size_t rdlen)
{
	uint8_t buf[WIRE_NAME_MAX + 10 + 1024];
	size_t pos = 0;
	ldns_rr *rr = NULL;

	if (olen + 10 + rdlen > sizeof(buf))
		return NULL;
	memcpy(buf, owner, olen);
	buf[olen] = (uint8_t)(type >> 8), buf[olen + 1] = (uint8_t)type;
	buf[olen + 2] = 0, buf[olen + 3] = 1;
	memset(buf + olen + 4, 0, 4);
	buf[olen + 8] = (uint8_t)(rdlen >> 8), buf[olen + 9] = (uint8_t)rdlen;
	memcpy(buf + olen + 10, rdata, rdlen);
	if (ldns_wire2rr(&rr, buf, olen + 10 + rdlen, &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK)
		return NULL;
	return rr;
}

static void push(ldns_rr_list *l, ldns_rr *rr)
{
	if (rr && !ldns_rr_list_push_rr(l, rr))
		ldns_rr_free(rr);
}

static void render_instance(const struct owner *o, const struct instance *in,
			    ldns_rr_type type, ldns_rr_list *l)
{
	uint8_t txt[1024];
	size_t t = 0;
	const char *h = registry_health_str(in->health);

	if (in->has4 && (type == LDNS_RR_TYPE_ANY || type == LDNS_RR_TYPE_A))
		push(l, rr_from(o->wire, o->len, LDNS_RR_TYPE_A, in->addr4, 4));
	if (in->has6 && (type == LDNS_RR_TYPE_ANY || type == LDNS_RR_TYPE_AAAA))
		push(l, rr_from(o->wire, o->len, LDNS_RR_TYPE_AAAA, in->addr6, 16));
	if (type != LDNS_RR_TYPE_ANY && type != LDNS_RR_TYPE_TXT)
		return;
	for (size_t i = 0; i < in->nattrs; i++) {
		size_t n = strlen(in->attrs[i]);

		if (n > 255 || t + 1 + n > sizeof(txt) - 32)
			break;
		txt[t++] = (uint8_t)n;
		memcpy(txt + t, in->attrs[i], n);
		t += n;
	}
	txt[t++] = (uint8_t)(7 + strlen(h));
	memcpy(txt + t, "health=", 7);
	memcpy(txt + t + 7, h, strlen(h));
	t += 7 + strlen(h);
	push(l, rr_from(o->wire, o->len, LDNS_RR_TYPE_TXT, txt, t));
}

/* The records the server would serve at o of type (ANY: all types). */
static ldns_rr_list *render(const struct ctx *c, const struct owner *o, ldns_rr_type type)
{
	ldns_rr_list *l = ldns_rr_list_new();
	const struct zone *z = c->ns->zone;

	if (!l)
		return NULL;
	for (size_t i = 0; z && i < z->n; i++)
		if (z->rrs[i].owner_len == o->len && !memcmp(z->rrs[i].owner, o->wire, o->len) &&
		    (type == LDNS_RR_TYPE_ANY || z->rrs[i].type == type))
			push(l, rr_from(o->wire, o->len, z->rrs[i].type, z->rrs[i].rdata, z->rrs[i].rdlen));
	if (o->kind == NK_INSTANCE) {
		const struct instance *in = registry_find_instance(o->svc, o->id);

		if (in)
			render_instance(o, in, type, l);
	} else if ((o->kind == NK_SERVICE || o->kind == NK_SRV) &&
		   (type == LDNS_RR_TYPE_ANY || type == LDNS_RR_TYPE_SRV)) {
		for (size_t i = 0; i < o->svc->n; i++) {
			const struct instance *in = o->svc->inst[i];
			uint8_t rd[6 + WIRE_NAME_MAX];
			size_t il = strlen(in->id);

			if (6 + 1 + il + o->svc->wire_len > sizeof(rd))
				continue;
			rd[0] = 0, rd[1] = 0;
			rd[2] = (uint8_t)(in->weight >> 8), rd[3] = (uint8_t)in->weight;
			rd[4] = (uint8_t)(in->port >> 8), rd[5] = (uint8_t)in->port;
			rd[6] = (uint8_t)il;
			memcpy(rd + 7, in->id, il);
			memcpy(rd + 7 + il, o->svc->wire, o->svc->wire_len);
			push(l, rr_from(o->wire, o->len, LDNS_RR_TYPE_SRV, rd, 7 + il + o->svc->wire_len));
		}
	}
	return l;
}

static int name_in_use(const struct ctx *c, const struct owner *o)
{
	ldns_rr_list *l;
	int used;

	if (o->kind == NK_APEX || o->kind == NK_SERVICE || o->kind == NK_SRV)
		return 1;
	l = render(c, o, LDNS_RR_TYPE_ANY);
	used = l && ldns_rr_list_rr_count(l) > 0;
	ldns_rr_list_deep_free(l);
	return used;
}

static int rdata_eq(const ldns_rr *a, const ldns_rr *b)
{
	if (ldns_rr_get_type(a) != ldns_rr_get_type(b) || ldns_rr_rd_count(a) != ldns_rr_rd_count(b))
		return 0;
	for (size_t i = 0; i < ldns_rr_rd_count(a); i++)
		if (ldns_rdf_compare(ldns_rr_rdf(a, i), ldns_rr_rdf(b, i)) != 0)
			return 0;
	return 1;
}

/* Value-dependent: the RRset at (owner, type) equals the set of prerequisite
 * records with that owner and type (RFC 2136 3.2.3). */
static int rrset_equals(const struct ctx *c, const struct owner *o, const ldns_rr_list *pre,
			ldns_rr_type type)
{
	ldns_rr_list *have = render(c, o, type);
	size_t want = 0, n;
	int ok = have != NULL;

	for (size_t i = 0; ok && i < ldns_rr_list_rr_count(pre); i++) {
		const ldns_rr *p = ldns_rr_list_rr(pre, i);
		int found = 0;

		if (ldns_rr_get_class(p) != LDNS_RR_CLASS_IN || ldns_rr_get_type(p) != type ||
		    ldns_dname_compare(ldns_rr_owner(p), ldns_rr_owner(ldns_rr_list_rr(pre, i))) != 0)
			continue;
		if (ldns_rdf_size(ldns_rr_owner(p)) != o->len ||
		    !wire_name_eq(ldns_rdf_data(ldns_rr_owner(p)), o->wire))
			continue;
		want++;
		n = have ? ldns_rr_list_rr_count(have) : 0;
		for (size_t k = 0; k < n && !found; k++)
			found = rdata_eq(p, ldns_rr_list_rr(have, k));
		ok = found;
	}
	if (ok && ldns_rr_list_rr_count(have) != want)
		ok = 0;
	ldns_rr_list_deep_free(have);
	return ok;
}

static int prerequisites(struct ctx *c, const ldns_rr_list *pre)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(pre); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(pre, i);
		ldns_rr_class cls = ldns_rr_get_class(rr);
		ldns_rr_type type = ldns_rr_get_type(rr);
		struct owner o;
		ldns_rr_list *l;
		int exists;

		if (ldns_rr_ttl(rr) != 0)
			return refuse(c->plan, RC_FORMERR, "prerequisite with a TTL");
		if (owner_of(c, ldns_rr_owner(rr), &o) < 0)
			return refuse(c->plan, RC_NOTZONE, "prerequisite %s is outside the zone", o.text);
		if (cls == LDNS_RR_CLASS_IN) {
			if (!rrset_equals(c, &o, pre, type))
				return refuse(c->plan, RC_NXRRSET, "prerequisite RRset at %s differs", o.text);
			continue;
		}
		if ((cls != LDNS_RR_CLASS_ANY && cls != LDNS_RR_CLASS_NONE) || ldns_rr_rd_count(rr))
			return refuse(c->plan, RC_FORMERR, "bad prerequisite at %s", o.text);
		if (type == LDNS_RR_TYPE_ANY) {
			exists = name_in_use(c, &o);
		} else {
			l = render(c, &o, type);
			exists = l && ldns_rr_list_rr_count(l) > 0;
			ldns_rr_list_deep_free(l);
		}
		if (cls == LDNS_RR_CLASS_ANY && !exists)
			return refuse(c->plan, type == LDNS_RR_TYPE_ANY ? RC_NXDOMAIN : RC_NXRRSET,
				      "prerequisite: %s does not exist", o.text);
		if (cls == LDNS_RR_CLASS_NONE && exists)
			return refuse(c->plan, type == LDNS_RR_TYPE_ANY ? RC_YXDOMAIN : RC_YXRRSET,
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
	return refuse(p, RC_NOTAUTH, t.error == TSIG_BADKEY ? "unknown TSIG key or algorithm" :
		      t.error == TSIG_BADSIG ? "TSIG signature does not verify" :
		      "TSIG time is outside the allowed window");
}

/* ---- lease (RFC 9664) ---- */

static void lease_of(struct ctx *c, ldns_pkt *pkt)
{
	struct update_plan *p = c->plan;
	const struct cfg_namespace *ns = c->ns->cfg;
	const ldns_rdf *d = ldns_pkt_edns_data(pkt);
	const uint8_t *o = d ? ldns_rdf_data(d) : NULL;
	size_t n = d ? ldns_rdf_size(d) : 0;

	p->lease = ns->default_lease;
	for (size_t i = 0; i + 4 <= n;) {
		uint16_t code = (uint16_t)(o[i] << 8 | o[i + 1]), olen = (uint16_t)(o[i + 2] << 8 | o[i + 3]);

		if (i + 4 + olen > n)
			break;
		if (code == OPT_UPDATE_LEASE && (olen == 4 || olen == 8)) {
			uint32_t l = (uint32_t)o[i + 4] << 24 | (uint32_t)o[i + 5] << 16 |
				     (uint32_t)o[i + 6] << 8 | o[i + 7];

			p->has_lease = 1;
			p->lease = l < ns->min_lease ? ns->min_lease : l > ns->max_lease ? ns->max_lease : l;
		}
		i += 4 + (size_t)olen;
	}
}

/* ---- the whole message ---- */

static int zone_section(struct ctx *c, ldns_pkt *pkt)
{
	const ldns_rr_list *zl = ldns_pkt_question(pkt);
	const ldns_rr *z;
	const ldns_rdf *name;
	uint8_t w[WIRE_NAME_MAX];

	if (ldns_rr_list_rr_count(zl) != 1)
		return refuse(c->plan, RC_FORMERR, "an UPDATE names exactly one zone");
	z = ldns_rr_list_rr(zl, 0);
	name = ldns_rr_owner(z);
	if (ldns_rr_get_type(z) != LDNS_RR_TYPE_SOA || ldns_rr_get_class(z) != LDNS_RR_CLASS_IN)
		return refuse(c->plan, RC_FORMERR, "the zone section must be SOA IN");
	if (ldns_rdf_size(name) > WIRE_NAME_MAX)
		return refuse(c->plan, RC_FORMERR, "bad zone name");
	memcpy(w, ldns_rdf_data(name), ldns_rdf_size(name));
	wire_name_lower(w);
	c->ns = registry_find_ns(c->reg, w, ldns_rdf_size(name));
	if (!c->ns)
		return refuse(c->plan, RC_NOTAUTH, "this server is not authoritative for that zone");
	return 0;
}

int update_plan(const struct registry *reg, const uint8_t *req, size_t len,
		uint64_t now, struct update_plan *plan)
{
	static struct ctx c;  /* large; the planner runs on the writer's thread only */
	ldns_pkt *pkt = NULL;

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
	if (wire_msg_scan(req, len) < 0) {
		refuse(plan, RC_FORMERR, "the sections do not match the header counts, or a TSIG"
		       " record is not the last additional record");
		return 0;
	}
	if (ldns_wire2pkt(&pkt, req, len) != LDNS_STATUS_OK) {
		plan->rcode = RC_FORMERR;
		return 0;
	}
	plan->edns = ldns_pkt_edns(pkt);
	if (verify_tsig(&c, req, len, now) == 0 && zone_section(&c, pkt) == 0) {
		lease_of(&c, pkt);
		if (prerequisites(&c, ldns_pkt_answer(pkt)) == 0 &&
		    update_section(&c, ldns_pkt_authority(pkt)) == 0 &&
		    finish_changes(&c, now) == 0)
			plan->rcode = 0;
	}
	if (plan->rcode)
		plan->nchanges = plan->nvisible = 0;
	ldns_pkt_free(pkt);
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
	wire_put_u8(&w, 0x80 | LDNS_PACKET_UPDATE << 3);
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
		end = tsig_put_error(&t, wire_get16(req), plan->tsig_error, now,
				     out, w.pos, cap);
	else if (!plan->tsig_error && plan->key)
		end = tsig_sign(plan->key, plan->request_mac, plan->request_mac_len, 0, now,
				UPDATE_FUDGE, out, w.pos, cap, NULL);
	return end < 0 ? bare_answer(req, RC_SERVFAIL, out, cap) : (size_t)end;
}
