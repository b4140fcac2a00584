/* registry.c - the writer's model of namespaces and services (see registry.h).
 *
 * Built from a config at start and on every reload; the zone files are loaded
 * here so a reload that fails on a zone keeps the old registry serving. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "registry.h"

const char *registry_health_str(enum health_state h)
{
	switch (h) {
	case HEALTH_HEALTHY: return "healthy";
	case HEALTH_UNHEALTHY: return "unhealthy";
	case HEALTH_WARNING: return "warning";
	}
	return "?";
}

/* label + '.' + parent wire name, lower-cased. */
static int make_child_name(const char *label, const uint8_t *parent, size_t plen,
			   uint8_t *out, size_t *outlen)
{
	size_t ll = strlen(label);

	if (ll == 0 || ll > WIRE_LABEL_MAX || 1 + ll + plen > WIRE_NAME_MAX)
		return ERR_NAME;
	out[0] = (uint8_t)ll;
	memcpy(out + 1, label, ll);
	memcpy(out + 1 + ll, parent, plen);
	*outlen = 1 + ll + plen;
	wire_name_lower(out);
	return 0;
}

/* A zeroed instance of svc with its id and the id lower-cased (the key of
 * the service's id table) stored behind it. NULL when out of memory. */
static struct instance *instance_alloc(struct service *svc, const char *id)
{
	size_t n = strlen(id);
	struct instance *in;
	char *p;

	if (n >= CFG_LABEL_MAX)
		return NULL;
	in = calloc(1, sizeof(*in) + 2 * (n + 1));
	if (!in)
		return NULL;
	p = in->names;
	memcpy(p, id, n + 1);
	for (size_t i = 0; i < n; i++)
		p[n + 1 + i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] + 32 : id[i]);
	in->id = p;
	in->key = (const uint8_t *)p + n + 1;
	in->id_len = (uint8_t)n;
	in->svc = svc;
	return in;
}

static int index_add(struct service *svc, struct instance *in)
{
	return nametab_put(&svc->ids, in->key, in->id_len, in);
}

static void instance_free(struct instance *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->nattrs; i++)
		free(in->attrs[i]);
	free(in->attrs);
	free(in);
}

static int instance_from_cfg(struct service *svc, const struct cfg_instance *ci,
			     struct instance **out)
{
	struct instance *in;

	if (1 + strlen(ci->id) + svc->wire_len > WIRE_NAME_MAX)
		return ERR_NAME; /* <id>.<service>.<ns> must stay a valid name */
	in = instance_alloc(svc, ci->id);
	if (!in)
		return -ENOMEM;
	in->has4 = ci->has4;
	in->has6 = ci->has6;
	memcpy(in->addr4, ci->addr4, 4);
	memcpy(in->addr6, ci->addr6, 16);
	in->port = ci->port;
	in->weight = ci->weight;
	in->health = HEALTH_HEALTHY;
	in->origin = ORIGIN_CONFIG;
	if (ci->nattrs) {
		in->attrs = calloc(ci->nattrs, sizeof(char *));
		if (!in->attrs)
			goto nomem;
		for (size_t i = 0; i < ci->nattrs; i++) {
			in->attrs[i] = strdup(ci->attrs[i]);
			if (!in->attrs[i])
				goto nomem;
			in->nattrs++;
		}
	}
	*out = in;
	return 0;
nomem:
	instance_free(in);
	return -ENOMEM;
}

static int service_init(struct registry *reg, struct ns *ns, struct service *svc,
			const struct cfg_service *cs)
{
	int rc;

	snprintf(svc->name, sizeof(svc->name), "%s", cs->name);
	svc->ns = ns;
	svc->hc = cs->hc;
	rc = make_child_name(cs->name, ns->cfg->wire, ns->cfg->wire_len, svc->wire, &svc->wire_len);
	if (rc < 0 || svc->wire_len + 6 > WIRE_NAME_MAX) /* room for _svc._tcp.<ns> */
		return ERR_NAME;
	svc->cap = cs->ninstances ? cs->ninstances : 4;
	svc->inst = calloc(svc->cap, sizeof(*svc->inst));
	if (!svc->inst || nametab_init(&svc->ids, svc->cap) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < cs->ninstances; i++) {
		rc = instance_from_cfg(svc, &cs->instances[i], &svc->inst[i]);
		if (rc < 0)
			return rc;
		svc->n++;
		if ((rc = index_add(svc, svc->inst[i])) < 0)
			return rc;
	}
	return nametab_put(&reg->services, svc->wire, svc->wire_len, svc);
}

static int router_init(struct ns *ns, struct router *r, const struct cfg_router *cr)
{
	int rc;

	snprintf(r->name, sizeof(r->name), "%s", cr->name);
	r->ns = ns;
	rc = make_child_name(cr->name, ns->cfg->wire, ns->cfg->wire_len, r->wire, &r->wire_len);
	if (rc < 0 || r->wire_len + 6 > WIRE_NAME_MAX)
		return ERR_NAME;
	r->routes = calloc(cr->nroutes ? cr->nroutes : 1, sizeof(*r->routes));
	if (!r->routes)
		return -ENOMEM;
	for (size_t i = 0; i < cr->nroutes; i++) {
		r->routes[i].weight = cr->routes[i].weight;
		r->routes[i].target = NULL;
		for (size_t s = 0; s < ns->nservices; s++)
			if (strcasecmp(ns->services[s].name, cr->routes[i].target) == 0)
				r->routes[i].target = &ns->services[s];
		if (!r->routes[i].target)
			return ERR_CONFIG; /* config validation makes this unreachable */
		r->nroutes++;
	}
	return 0;
}

/* 1 if owner is at or under name, or under _label._tcp.<ns> for name = label.<ns>. */
static int owned_by(const uint8_t *owner, const uint8_t *name, size_t len)
{
	uint8_t srv[WIRE_NAME_MAX];
	size_t ll = name[0];

	if (wire_name_in(owner, name))
		return 1;
	if (len + 6 > WIRE_NAME_MAX)
		return 0;
	srv[0] = (uint8_t)(ll + 1);
	srv[1] = '_';
	memcpy(srv + 2, name + 1, ll);
	memcpy(srv + 2 + ll, "\004_tcp", 5);
	memcpy(srv + 7 + ll, name + 1 + ll, len - 1 - ll);
	return wire_name_in(owner, srv);
}

/* A static record may not sit on or under a name the registry answers for. */
static int check_zone_conflicts(const struct ns *ns, char *errbuf, size_t errlen)
{
	const struct zone *z = ns->zone;

	for (size_t i = 0; z && i < z->n; i++) {
		const uint8_t *owner = z->rrs[i].owner;
		const char *what = NULL, *name = NULL;

		for (size_t s = 0; s < ns->nservices && !what; s++)
			if (owned_by(owner, ns->services[s].wire, ns->services[s].wire_len))
				what = "service", name = ns->services[s].name;
		for (size_t r = 0; r < ns->nrouters && !what; r++)
			if (owned_by(owner, ns->routers[r].wire, ns->routers[r].wire_len))
				what = "router", name = ns->routers[r].name;
		if (what) {
			char text[WIRE_NAME_TEXT_MAX];

			wire_name_to_text(owner, text, sizeof(text));
			snprintf(errbuf, errlen, "%s:%d: %s belongs to %s \"%s\" of namespace %s;"
				 " static records may not be placed there",
				 z->file, z->rrs[i].line, text, what, name, ns->cfg->name);
			return ERR_ZONE;
		}
	}
	return 0;
}

static int ns_init(struct registry *reg, struct ns *ns, const struct cfg_namespace *cn,
		   char *errbuf, size_t errlen)
{
	int rc;

	ns->cfg = cn;
	ns->serial = 1;
	if (cn->zone) {
		rc = zone_load(&ns->zone, cn->zone, cn->wire, cn->ttl, errbuf, errlen);
		if (rc < 0)
			return rc;
	}
	ns->services = calloc(cn->nservices ? cn->nservices : 1, sizeof(*ns->services));
	ns->routers = calloc(cn->nrouters ? cn->nrouters : 1, sizeof(*ns->routers));
	if (!ns->services || !ns->routers)
		return -ENOMEM;
	for (size_t i = 0; i < cn->nservices; i++) {
		ns->nservices++;
		rc = service_init(reg, ns, &ns->services[i], &cn->services[i]);
		if (rc < 0)
			goto fail;
	}
	for (size_t i = 0; i < cn->nrouters; i++) {
		ns->nrouters++;
		rc = router_init(ns, &ns->routers[i], &cn->routers[i]);
		if (rc < 0)
			goto fail;
	}
	return check_zone_conflicts(ns, errbuf, errlen);
fail:
	snprintf(errbuf, errlen, "%s: namespace %s: %s%s", reg->cfg->file, cn->name, err_str(rc),
		 rc == ERR_NAME ? " (an instance, service or router name would exceed 255 bytes)" : "");
	return rc;
}

int registry_new(struct registry **out, const struct config *cfg, char *errbuf, size_t errlen)
{
	struct registry *reg = calloc(1, sizeof(*reg));
	int rc;

	*out = NULL;
	if (!reg)
		return -ENOMEM;
	reg->cfg = cfg;
	rc = nametab_init(&reg->services, 64);
	if (rc < 0)
		goto fail;
	reg->ns = calloc(cfg->nnamespaces, sizeof(*reg->ns));
	if (!reg->ns) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < cfg->nnamespaces; i++) {
		reg->nns++;
		rc = ns_init(reg, &reg->ns[i], &cfg->namespaces[i], errbuf, errlen);
		if (rc < 0)
			goto fail;
	}
	*out = reg;
	return 0;
fail:
	if (rc == -ENOMEM)
		snprintf(errbuf, errlen, "%s: out of memory building the registry", cfg->file);
	registry_free(reg);
	return rc;
}

void registry_free(struct registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->nns; i++) {
		struct ns *ns = &reg->ns[i];

		for (size_t s = 0; ns->services && s < ns->nservices; s++) {
			struct service *svc = &ns->services[s];

			for (size_t k = 0; k < svc->n; k++)
				instance_free(svc->inst[k]);
			free(svc->inst);
			nametab_close(&svc->ids);
		}
		for (size_t r = 0; ns->routers && r < ns->nrouters; r++)
			free(ns->routers[r].routes);
		free(ns->services);
		free(ns->routers);
		zone_free(ns->zone);
	}
	free(reg->ns);
	nametab_close(&reg->services);
	free(reg);
}

struct service *registry_find_service(const struct registry *reg, const uint8_t *wire, size_t len)
{
	return nametab_find(&reg->services, wire, len);
}

struct instance *registry_find_instance(const struct service *svc, const char *id)
{
	uint8_t key[CFG_LABEL_MAX];
	size_t n = strlen(id);

	if (n >= sizeof(key))
		return NULL;
	for (size_t i = 0; i < n; i++)
		key[i] = (uint8_t)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] + 32 : id[i]);
	return nametab_find(&svc->ids, key, n);
}

int registry_set_health(struct registry *reg, struct instance *inst,
			enum health_state health, uint64_t now_ms)
{
	if (inst->health == health)
		return 0;
	if (health != HEALTH_UNHEALTHY && inst->health == HEALTH_UNHEALTHY)
		inst->healthy_since_ms = now_ms ? now_ms : 1;
	inst->health = health;
	inst->svc->ns->serial++;
	reg->changes++;
	return 1;
}

int registry_set_drained(struct registry *reg, struct instance *inst, int drained)
{
	if (inst->drained == (drained != 0))
		return 0;
	inst->drained = drained != 0;
	inst->svc->ns->serial++;
	reg->changes++;
	return 1;
}

void registry_carry_health(struct registry *reg, const struct registry *old)
{
	for (size_t i = 0; i < reg->nns; i++) {
		for (size_t s = 0; s < reg->ns[i].nservices; s++) {
			struct service *svc = &reg->ns[i].services[s];
			const struct service *osvc = registry_find_service(old, svc->wire, svc->wire_len);

			for (size_t k = 0; osvc && k < svc->n; k++) {
				struct instance *in = svc->inst[k];
				const struct instance *o = registry_find_instance(osvc, in->id);

				if (o && o->port == in->port && o->has4 == in->has4 &&
				    o->has6 == in->has6 && !memcmp(o->addr4, in->addr4, 4) &&
				    !memcmp(o->addr6, in->addr6, 16)) {
					in->health = o->health;
					in->healthy_since_ms = o->healthy_since_ms;
					in->drained = o->drained;
				}
			}
		}
	}
}

int registry_health_parse(const char *s, size_t len)
{
	static const char *const names[] = { "healthy", "unhealthy", "warning" };

	for (int i = 0; i < 3; i++)
		if (strlen(names[i]) == len && strncasecmp(s, names[i], len) == 0)
			return i;
	return -1;
}

struct ns *registry_find_ns(const struct registry *reg, const uint8_t *wire, size_t len)
{
	for (size_t i = 0; i < reg->nns; i++)
		if (reg->ns[i].cfg->wire_len == len && memcmp(reg->ns[i].cfg->wire, wire, len) == 0)
			return &reg->ns[i];
	return NULL;
}

static struct service *service_of(const struct registry *reg, const struct jrec *r)
{
	uint8_t name[WIRE_NAME_MAX];
	size_t len;

	if (make_child_name(r->svc, r->ns, r->ns_len, name, &len) < 0)
		return NULL;
	return registry_find_service(reg, name, len);
}

/* TXT strings (u8 len + bytes) to owned "key=value" strings. */
static int attrs_from_txt(struct instance *in, const uint8_t *p, size_t len)
{
	size_t n = 0;

	for (size_t o = 0; o < len; o += 1 + (size_t)p[o])
		n++;
	in->attrs = n ? calloc(n, sizeof(char *)) : NULL;
	if (n && !in->attrs)
		return -ENOMEM;
	for (size_t o = 0; o < len; o += 1 + (size_t)p[o]) {
		in->attrs[in->nattrs] = strndup((const char *)p + o + 1, p[o]);
		if (!in->attrs[in->nattrs])
			return -ENOMEM;
		in->nattrs++;
	}
	return 0;
}

static void remove_at(struct service *svc, size_t i)
{
	struct instance *in = svc->inst[i];

	nametab_del(&svc->ids, in->key, in->id_len);
	instance_free(in);
	memmove(&svc->inst[i], &svc->inst[i + 1], (svc->n - i - 1) * sizeof(*svc->inst));
	svc->n--;
}

static int put_instance(struct registry *reg, struct service *svc, const struct jrec *r,
			uint64_t now_ms)
{
	struct instance *old = registry_find_instance(svc, r->id), *in;
	int rc;

	if (old && old->origin == ORIGIN_CONFIG)
		return ERR_EXISTS;
	if (1 + strlen(r->id) + svc->wire_len > WIRE_NAME_MAX)
		return ERR_NAME;
	in = instance_alloc(svc, r->id);
	if (!in)
		return -ENOMEM;
	in->has4 = r->has4, in->has6 = r->has6;
	memcpy(in->addr4, r->addr4, 4);
	memcpy(in->addr6, r->addr6, 16);
	in->port = r->port;
	in->weight = r->weight;
	in->health = r->health <= HEALTH_WARNING ? r->health : HEALTH_HEALTHY;
	in->lease_expiry = r->lease_expiry;
	in->origin = ORIGIN_UPDATE;
	in->drained = r->drain_set ? (r->drained != 0) : old ? old->drained : 0;
	if ((rc = attrs_from_txt(in, r->attrs, r->attrs_len)) < 0) {
		instance_free(in);
		return rc;
	}
	if (old) {
		if (old->health == HEALTH_UNHEALTHY && in->health != HEALTH_UNHEALTHY)
			in->healthy_since_ms = now_ms ? now_ms : 1;
		else
			in->healthy_since_ms = old->healthy_since_ms;
		for (size_t i = 0; i < svc->n; i++)
			if (svc->inst[i] == old) {
				nametab_del(&svc->ids, old->key, old->id_len);
				instance_free(old);
				svc->inst[i] = in;
			}
		return index_add(svc, in);
	}
	if (svc->n == svc->cap) {
		size_t cap = svc->cap ? svc->cap * 2 : 4;
		struct instance **ni = realloc(svc->inst, cap * sizeof(*ni));

		if (!ni) {
			instance_free(in);
			return -ENOMEM;
		}
		svc->inst = ni;
		svc->cap = cap;
	}
	svc->inst[svc->n++] = in;
	return index_add(svc, in);
}

enum reg_change registry_change(const struct instance *in, const struct jrec *r)
{
	uint8_t buf[1024];
	struct jrec cur;

	if (!in || in->origin != ORIGIN_UPDATE || r->op != JOURNAL_PUT ||
	    registry_to_jrec(in, &cur, buf, sizeof(buf)) < 0)
		return REG_ANSWERS;
	if (cur.has4 != r->has4 || cur.has6 != r->has6 ||
	    (r->has4 && memcmp(cur.addr4, r->addr4, 4)) ||
	    (r->has6 && memcmp(cur.addr6, r->addr6, 16)) || cur.port != r->port ||
	    cur.weight != r->weight || cur.health != r->health ||
	    (r->drain_set && (r->drained != 0) != in->drained) || cur.attrs_len != r->attrs_len ||
	    (r->attrs_len && memcmp(cur.attrs, r->attrs, r->attrs_len)))
		return REG_ANSWERS;
	return cur.lease_expiry == r->lease_expiry ? REG_SAME : REG_LEASE;
}

int registry_apply(struct registry *reg, const struct jrec *r, uint64_t now_ms)
{
	struct service *svc = service_of(reg, r);
	int rc = 0;

	if (!svc)
		return ERR_NOTFOUND;
	if (r->op == JOURNAL_PUT) {
		struct instance *in = registry_find_instance(svc, r->id);

		/* A renewal: the answers stay as they are, so do the serial
		 * and the instance (its slow-start clock included). */
		if (registry_change(in, r) != REG_ANSWERS) {
			in->lease_expiry = r->lease_expiry;
			return 0;
		}
		rc = put_instance(reg, svc, r, now_ms);
	} else if (r->op == JOURNAL_DEL) {
		struct instance *in = registry_find_instance(svc, r->id);

		for (size_t i = 0; in && in->origin == ORIGIN_UPDATE && i < svc->n; i++)
			if (svc->inst[i] == in) {
				remove_at(svc, i);
				break;
			}
	} else {
		return ERR_MALFORMED;
	}
	if (rc == 0) {
		svc->ns->serial++;
		reg->changes++;
	}
	return rc;
}

int registry_to_jrec(const struct instance *in, struct jrec *r, uint8_t *buf, size_t cap)
{
	size_t o = 0;

	memset(r, 0, sizeof(*r));
	r->op = JOURNAL_PUT;
	memcpy(r->ns, in->svc->ns->cfg->wire, in->svc->ns->cfg->wire_len);
	r->ns_len = in->svc->ns->cfg->wire_len;
	snprintf(r->svc, sizeof(r->svc), "%s", in->svc->name);
	snprintf(r->id, sizeof(r->id), "%s", in->id);
	r->has4 = (uint8_t)in->has4, r->has6 = (uint8_t)in->has6;
	memcpy(r->addr4, in->addr4, 4);
	memcpy(r->addr6, in->addr6, 16);
	r->port = in->port;
	r->weight = (uint16_t)in->weight;
	r->health = (uint8_t)in->health;
	r->origin = (uint8_t)in->origin;
	/* Only a drained instance writes the drain flags (journal.h). */
	r->drained = r->drain_set = in->drained;
	r->lease_expiry = in->lease_expiry;
	for (size_t i = 0; i < in->nattrs; i++) {
		size_t l = strlen(in->attrs[i]);

		if (l > 255 || o + 1 + l > cap)
			return ERR_SPACE;
		buf[o++] = (uint8_t)l;
		memcpy(buf + o, in->attrs[i], l);
		o += l;
	}
	r->attrs = buf;
	r->attrs_len = (uint16_t)o;
	return 0;
}

size_t registry_expire(struct registry *reg, uint64_t now, struct jrec *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < reg->nns; i++) {
		for (size_t s = 0; s < reg->ns[i].nservices; s++) {
			struct service *svc = &reg->ns[i].services[s];

			for (size_t k = 0; k < svc->n && n < max;) {
				struct instance *in = svc->inst[k];

				if (in->origin != ORIGIN_UPDATE || !in->lease_expiry || in->lease_expiry > now) {
					k++;
					continue;
				}
				memset(&out[n], 0, sizeof(out[n]));
				out[n].op = JOURNAL_DEL;
				memcpy(out[n].ns, reg->ns[i].cfg->wire, reg->ns[i].cfg->wire_len);
				out[n].ns_len = reg->ns[i].cfg->wire_len;
				snprintf(out[n].svc, sizeof(out[n].svc), "%s", svc->name);
				snprintf(out[n].id, sizeof(out[n].id), "%s", in->id);
				n++;
				remove_at(svc, k);
				svc->ns->serial++;
				reg->changes++;
			}
		}
	}
	return n;
}

uint64_t registry_next_expiry(const struct registry *reg)
{
	uint64_t next = 0;

	for (size_t i = 0; i < reg->nns; i++)
		for (size_t s = 0; s < reg->ns[i].nservices; s++)
			for (size_t k = 0; k < reg->ns[i].services[s].n; k++) {
				uint64_t e = reg->ns[i].services[s].inst[k]->lease_expiry;

				if (e && (!next || e < next))
					next = e;
			}
	return next;
}

void registry_carry_instances(struct registry *reg, const struct registry *old)
{
	uint8_t buf[4096];
	struct jrec r;

	for (size_t i = 0; i < old->nns; i++)
		for (size_t s = 0; s < old->ns[i].nservices; s++)
			for (size_t k = 0; k < old->ns[i].services[s].n; k++) {
				const struct instance *in = old->ns[i].services[s].inst[k];
				struct service *svc;
				struct instance *now;

				if (in->origin != ORIGIN_UPDATE ||
				    registry_to_jrec(in, &r, buf, sizeof(buf)) < 0 ||
				    registry_apply(reg, &r, 0) < 0)
					continue;
				svc = service_of(reg, &r);
				now = svc ? registry_find_instance(svc, in->id) : NULL;
				if (now)
					now->healthy_since_ms = in->healthy_since_ms;
			}
}
