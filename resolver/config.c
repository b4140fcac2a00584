/* config.c - the resolver's YAML configuration (see config.h).
 *
 * The YAML is loaded into a positioned tree (ydoc.h) and walked with a few
 * checked getters; each knows the node it reads, so every error can name
 * file:line:col. Maps are checked against the keys they allow first, so a
 * typo is reported as an unknown key rather than as a missing one. */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "addr.h"
#include "config.h"
#include "err.h"
#include "nametab.h"
#include "ydoc.h"

const char config_default_text[] =
	"listen: [\"127.0.0.1:53\", \"[::1]:53\"]\n"
	"upstream: [system]\n"
	"state_dir: /var/lib/meshdns\n"
	"namespaces:\n"
	"  - name: local\n";

struct cctx {
	const char *file;
	char dir[4096];
	char *err;
	size_t errlen;
	struct config *cfg;
};

typedef struct ydoc_node node;

__attribute__((format(printf, 3, 4)))
static int errf(struct cctx *c, const node *n, const char *fmt, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		snprintf(c->err, c->errlen, "%s:%d:%d: %s", c->file, n->line, n->col, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->file, msg);
	return ERR_CONFIG;
}

static const char *kind_name(const node *n)
{
	return n->kind == YDOC_MAP ? "a mapping" : n->kind == YDOC_SEQ ? "a list" : "a scalar";
}

static int want(struct cctx *c, const node *n, enum ydoc_kind k, const char *what)
{
	static const char *const names[] = { "a scalar", "a list", "a mapping" };

	if (n->kind != k)
		return errf(c, n, "%s must be %s, got %s", what, names[k], kind_name(n));
	return 0;
}

/* Unknown and duplicate keys; allowed is a NULL-terminated list. */
static int check_keys(struct cctx *c, const node *m, const char *const *allowed, const char *what)
{
	for (size_t i = 0; i < m->n; i++) {
		const node *k = ydoc_key(m, i);
		size_t a;

		if (k->kind != YDOC_SCALAR)
			return errf(c, k, "keys in %s must be plain names", what);
		for (a = 0; allowed[a] && strcmp(allowed[a], k->value); a++)
			;
		if (!allowed[a]) {
			char list[400] = "";

			for (a = 0; allowed[a]; a++) {
				strncat(list, a ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, allowed[a], sizeof(list) - strlen(list) - 1);
			}
			return errf(c, k, "unknown key \"%s\" in %s (expected one of: %s)", k->value,
				    what, list);
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(ydoc_key(m, j)->value, k->value))
				return errf(c, k, "duplicate key \"%s\" in %s (first at line %d)",
					    k->value, what, ydoc_key(m, j)->line);
	}
	return 0;
}

static const node *get(const node *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(ydoc_key(m, i)->value, key))
			return ydoc_val(m, i);
	return NULL;
}

static int get_uint(struct cctx *c, const node *n, uint64_t min, uint64_t max, uint64_t *out,
		    const char *what)
{
	char *end;
	unsigned long long v;

	if (n->kind != YDOC_SCALAR || n->quoted || n->value[0] < '0' || n->value[0] > '9')
		goto bad;
	errno = 0;
	v = strtoull(n->value, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return errf(c, n, "%s must be an integer from %llu to %llu, got \"%s\"", what,
		    (unsigned long long)min, (unsigned long long)max,
		    n->kind == YDOC_SCALAR ? n->value : kind_name(n));
}

static int get_u32(struct cctx *c, const node *m, const char *key, uint32_t min, uint32_t max,
		   uint32_t *out)
{
	const node *n = get(m, key);
	uint64_t v;
	int rc;

	if (!n)
		return 0;
	if ((rc = get_uint(c, n, min, max, &v, key)) < 0)
		return rc;
	*out = (uint32_t)v;
	return 0;
}

static int get_double(struct cctx *c, const node *n, double min, double max, double *out,
		      const char *what)
{
	char *end;
	double v;

	if (n->kind != YDOC_SCALAR || n->quoted || !n->value[0])
		goto bad;
	v = strtod(n->value, &end);
	if (*end || !(v >= min && v <= max))
		goto bad;
	*out = v;
	return 0;
bad:
	return errf(c, n, "%s must be a number from %g to %g, got \"%s\"", what, min, max,
		    n->kind == YDOC_SCALAR ? n->value : kind_name(n));
}

/* Seconds, possibly fractional, stored in milliseconds. */
static int get_ms(struct cctx *c, const node *m, const char *key, double min_s, double max_s,
		  uint32_t *out)
{
	const node *n = get(m, key);
	double v;
	int rc;

	if (!n)
		return 0;
	if ((rc = get_double(c, n, min_s, max_s, &v, key)) < 0)
		return rc;
	*out = (uint32_t)(v * 1000.0 + 0.5);
	return 0;
}

static int get_str(struct cctx *c, const node *m, const char *key, char **out)
{
	const node *n = get(m, key);

	if (!n)
		return 0;
	if (n->kind != YDOC_SCALAR || !n->value[0])
		return errf(c, n, "%s must be a non-empty string", key);
	free(*out);
	*out = strdup(n->value);
	return *out ? 0 : -ENOMEM;
}

static int get_label(struct cctx *c, const node *n, char out[CFG_LABEL_MAX], const char *what)
{
	if (n->kind != YDOC_SCALAR || !wire_label_valid(n->value, strlen(n->value)))
		return errf(c, n, "%s must be a DNS label (letters, digits, '-', '_'; 1 to 63),"
			    " got \"%s\"", what, n->kind == YDOC_SCALAR ? n->value : kind_name(n));
	snprintf(out, CFG_LABEL_MAX, "%s", n->value);
	return 0;
}

/* ---- addresses ---- */

static int get_addrs(struct cctx *c, const node *n, const char *key, uint16_t port,
		     struct sockaddr_storage **out, size_t *count, int *system)
{
	int rc;

	if ((rc = want(c, n, YDOC_SEQ, key)) < 0)
		return rc;
	*out = calloc(n->n ? n->n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	*count = 0;
	for (size_t i = 0; i < n->n; i++) {
		const node *a = n->items[i];

		if (a->kind != YDOC_SCALAR)
			return errf(c, a, "%s entries must be \"IP:PORT\" strings", key);
		if (system && !strcmp(a->value, "system")) {
			*system = 1;
			continue;
		}
		if (addr_parse(a->value, port, &(*out)[*count]) < 0)
			return errf(c, a, "%s: \"%s\" is not an address (IPv4, IPv4:PORT or"
				    " [IPv6]:PORT)", key, a->value);
		(*count)++;
	}
	return 0;
}

/* ---- services ---- */

static int load_health_check(struct cctx *c, const node *m, struct cfg_health_check *hc)
{
	static const char *const keys[] = { "protocol", "path", "port", "interval", "timeout",
		"healthy_threshold", "unhealthy_threshold", NULL };
	const node *p;
	uint32_t port = 0;
	int rc;

	if ((rc = want(c, m, YDOC_MAP, "health_check")) < 0 ||
	    (rc = check_keys(c, m, keys, "health_check")) < 0)
		return rc;
	p = get(m, "protocol");
	if (!p)
		return errf(c, m, "health_check needs a protocol (tcp or http)");
	if (p->kind != YDOC_SCALAR || (strcmp(p->value, "tcp") && strcmp(p->value, "http")))
		return errf(c, p, "protocol must be tcp or http");
	hc->protocol = strcmp(p->value, "tcp") ? HC_HTTP : HC_TCP;
	if ((p = get(m, "path"))) {
		if (hc->protocol != HC_HTTP)
			return errf(c, p, "path applies to protocol http only");
		if (p->kind != YDOC_SCALAR || p->value[0] != '/' || strlen(p->value) >= sizeof(hc->path) ||
		    strpbrk(p->value, " \r\n"))
			return errf(c, p, "path must start with / and contain no spaces");
		snprintf(hc->path, sizeof(hc->path), "%s", p->value);
	}
	if ((rc = get_u32(c, m, "port", 0, 65535, &port)) < 0 ||
	    (rc = get_ms(c, m, "interval", 0.1, 3600, &hc->interval_ms)) < 0 ||
	    (rc = get_ms(c, m, "timeout", 0.1, 3600, &hc->timeout_ms)) < 0 ||
	    (rc = get_u32(c, m, "healthy_threshold", 1, 100, &hc->healthy_threshold)) < 0 ||
	    (rc = get_u32(c, m, "unhealthy_threshold", 1, 100, &hc->unhealthy_threshold)) < 0)
		return rc;
	hc->port = (uint16_t)port;
	if (hc->timeout_ms > hc->interval_ms)
		return errf(c, get(m, "timeout") ? get(m, "timeout") : m,
			    "timeout must not exceed interval");
	return 0;
}

static int load_address(struct cctx *c, const node *n, struct cfg_instance *in)
{
	const node *items[2];
	size_t count = 1;

	if (n->kind == YDOC_SEQ) {
		if (n->n < 1 || n->n > 2)
			return errf(c, n, "address lists hold one IPv4 and/or one IPv6 address");
		count = n->n;
		items[0] = n->items[0];
		items[1] = count > 1 ? n->items[1] : NULL;
	} else {
		items[0] = n;
	}
	for (size_t i = 0; i < count; i++) {
		uint8_t b[16];
		int fam;

		if (items[i]->kind != YDOC_SCALAR || addr_parse_ip(items[i]->value, &fam, b) < 0)
			return errf(c, items[i], "address must be an IPv4 or IPv6 address, got \"%s\"",
				    items[i]->kind == YDOC_SCALAR ? items[i]->value : kind_name(items[i]));
		if ((fam == AF_INET && in->has4) || (fam == AF_INET6 && in->has6))
			return errf(c, items[i], "at most one IPv4 and one IPv6 address");
		if (fam == AF_INET)
			memcpy(in->addr4, b, 4), in->has4 = 1;
		else
			memcpy(in->addr6, b, 16), in->has6 = 1;
	}
	return 0;
}

static int load_attributes(struct cctx *c, const node *m, struct cfg_instance *in)
{
	int rc;

	if ((rc = want(c, m, YDOC_MAP, "attributes")) < 0)
		return rc;
	in->attrs = calloc(m->n ? m->n : 1, sizeof(char *));
	if (!in->attrs)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		const node *k = ydoc_key(m, i), *v = ydoc_val(m, i);
		size_t len;

		if (k->kind != YDOC_SCALAR || !k->value[0] || strpbrk(k->value, "= \t"))
			return errf(c, k, "attribute names must be non-empty, without '=' or spaces");
		if (!strcasecmp(k->value, "health"))
			return errf(c, k, "attribute \"health\" is reserved: health comes from checks");
		for (size_t j = 0; j < i; j++)
			if (!strcmp(ydoc_key(m, j)->value, k->value))
				return errf(c, k, "duplicate attribute \"%s\"", k->value);
		if (v->kind != YDOC_SCALAR)
			return errf(c, v, "attribute values must be scalars");
		len = strlen(k->value) + 1 + strlen(v->value);
		if (len > 255)
			return errf(c, k, "attribute %s=... is longer than 255 bytes", k->value);
		if (!(in->attrs[in->nattrs] = malloc(len + 1)))
			return -ENOMEM;
		snprintf(in->attrs[in->nattrs++], len + 1, "%s=%s", k->value, v->value);
	}
	return 0;
}

static int load_instance(struct cctx *c, const node *m, struct cfg_service *svc,
			 struct cfg_instance *in)
{
	static const char *const keys[] = { "id", "address", "port", "weight", "attributes", NULL };
	const node *n;
	uint32_t port = 0;
	int rc;

	in->weight = 100;
	in->line = m->line;
	if ((rc = want(c, m, YDOC_MAP, "an instance")) < 0 ||
	    (rc = check_keys(c, m, keys, "an instance")) < 0)
		return rc;
	if (!(n = get(m, "id")))
		return errf(c, m, "instance needs an id");
	if ((rc = get_label(c, n, in->id, "id")) < 0)
		return rc;
	for (size_t i = 0; i < svc->ninstances; i++)
		if (!strcasecmp(svc->instances[i].id, in->id))
			return errf(c, n, "duplicate instance id \"%s\" in service %s (first at line %d)",
				    in->id, svc->name, svc->instances[i].line);
	if (!(n = get(m, "address")))
		return errf(c, m, "instance %s needs an address", in->id);
	if ((rc = load_address(c, n, in)) < 0 ||
	    (rc = get_u32(c, m, "port", 0, 65535, &port)) < 0 ||
	    (rc = get_u32(c, m, "weight", 0, 65535, &in->weight)) < 0)
		return rc;
	in->port = (uint16_t)port;
	if ((n = get(m, "attributes")) && (rc = load_attributes(c, n, in)) < 0)
		return rc;
	return 0;
}

static int load_service(struct cctx *c, const node *k, const node *m, struct cfg_service *svc)
{
	static const char *const keys[] = { "health_check", "instances", NULL };
	const node *n;
	int rc;

	if ((rc = get_label(c, k, svc->name, "service name")) < 0)
		return rc;
	svc->hc.interval_ms = 5000;
	svc->hc.timeout_ms = 2000;
	svc->hc.healthy_threshold = 2;
	svc->hc.unhealthy_threshold = 2;
	snprintf(svc->hc.path, sizeof(svc->hc.path), "/");
	if (m->kind == YDOC_SCALAR && !m->value[0])
		return 0; /* "payments-v2:" with nothing after it */
	if ((rc = want(c, m, YDOC_MAP, "a service")) < 0 ||
	    (rc = check_keys(c, m, keys, "a service")) < 0)
		return rc;
	if ((n = get(m, "health_check")) && (rc = load_health_check(c, n, &svc->hc)) < 0)
		return rc;
	if (!(n = get(m, "instances")))
		return 0;
	if ((rc = want(c, n, YDOC_SEQ, "instances")) < 0)
		return rc;
	svc->instances = calloc(n->n ? n->n : 1, sizeof(*svc->instances));
	if (!svc->instances)
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		rc = load_instance(c, n->items[i], svc, &svc->instances[i]);
		svc->ninstances++;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- routers ---- */

static int load_router(struct cctx *c, const node *k, const node *m, struct cfg_namespace *ns,
		       struct cfg_router *r)
{
	static const char *const keys[] = { "routes", NULL };
	static const char *const rkeys[] = { "target", "weight", NULL };
	const node *routes;
	int rc;

	if ((rc = get_label(c, k, r->name, "router name")) < 0)
		return rc;
	if (config_find_service(ns, r->name))
		return errf(c, k, "router \"%s\" has the name of a service of namespace %s", r->name,
			    ns->name);
	if ((rc = want(c, m, YDOC_MAP, "a router")) < 0 ||
	    (rc = check_keys(c, m, keys, "a router")) < 0)
		return rc;
	if (!(routes = get(m, "routes")))
		return errf(c, m, "router %s needs routes", r->name);
	if ((rc = want(c, routes, YDOC_SEQ, "routes")) < 0)
		return rc;
	if (routes->n == 0)
		return errf(c, routes, "router %s needs at least one route", r->name);
	r->routes = calloc(routes->n, sizeof(*r->routes));
	if (!r->routes)
		return -ENOMEM;
	for (size_t i = 0; i < routes->n; i++) {
		const node *rm = routes->items[i], *t, *w;
		struct cfg_route *rt = &r->routes[i];
		uint64_t v;

		if ((rc = want(c, rm, YDOC_MAP, "a route")) < 0 ||
		    (rc = check_keys(c, rm, rkeys, "a route")) < 0)
			return rc;
		if (!(t = get(rm, "target")) || !(w = get(rm, "weight")))
			return errf(c, rm, "a route needs a target and a weight");
		if ((rc = get_label(c, t, rt->target, "target")) < 0)
			return rc;
		if (!config_find_service(ns, rt->target))
			return errf(c, t, "route target \"%s\" is not a service of namespace %s",
				    rt->target, ns->name);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(r->routes[j].target, rt->target))
				return errf(c, t, "router %s routes to \"%s\" twice", r->name, rt->target);
		if ((rc = get_uint(c, w, 0, 65535, &v, "weight")) < 0)
			return rc;
		rt->weight = (uint32_t)v;
		r->nroutes++;
	}
	return 0;
}

/* ---- namespaces ---- */

static int load_ns_settings(struct cctx *c, const node *m, struct cfg_namespace *ns)
{
	const node *n;
	int rc;

	if ((rc = get_u32(c, m, "ttl", 0, 86400, &ns->ttl)) < 0 ||
	    (rc = get_u32(c, m, "negative_ttl", 0, 86400, &ns->negative_ttl)) < 0 ||
	    (rc = get_u32(c, m, "max_answers", 1, 64, &ns->max_answers)) < 0 ||
	    (rc = get_u32(c, m, "default_lease", 0, 31536000, &ns->default_lease)) < 0 ||
	    (rc = get_u32(c, m, "min_lease", 1, 31536000, &ns->min_lease)) < 0 ||
	    (rc = get_u32(c, m, "max_lease", 1, 31536000, &ns->max_lease)) < 0 ||
	    (rc = get_u32(c, m, "slow_start", 0, 3600, &ns->slow_start)) < 0 ||
	    (rc = get_u32(c, m, "max_instances", 1, 10000000, &ns->max_instances)) < 0 ||
	    (rc = get_u32(c, m, "max_instances_per_service", 1, 10000000,
			  &ns->max_instances_per_service)) < 0 ||
	    (rc = get_u32(c, m, "max_attributes", 0, 64, &ns->max_attributes)) < 0 ||
	    (rc = get_u32(c, m, "max_attribute_size", 3, 255, &ns->max_attribute_size)) < 0)
		return rc;
	if (ns->min_lease > ns->max_lease)
		return errf(c, get(m, "min_lease"), "min_lease must not exceed max_lease");
	if ((n = get(m, "warning_factor")) &&
	    (rc = get_double(c, n, 0, 1, &ns->warning_factor, "warning_factor")) < 0)
		return rc;
	if ((n = get(m, "on_all_unhealthy"))) {
		if (n->kind != YDOC_SCALAR || (strcmp(n->value, "all") && strcmp(n->value, "none")))
			return errf(c, n, "on_all_unhealthy must be all or none");
		ns->on_all_unhealthy = strcmp(n->value, "all") ? ALL_UNHEALTHY_NONE : ALL_UNHEALTHY_ALL;
	}
	if ((n = get(m, "zone"))) {
		char path[8192];

		if (n->kind != YDOC_SCALAR || !n->value[0])
			return errf(c, n, "zone must be a file path");
		if (n->value[0] == '/' || !c->dir[0])
			snprintf(path, sizeof(path), "%s", n->value);
		else
			snprintf(path, sizeof(path), "%s/%s", c->dir, n->value);
		if (!(ns->zone = strdup(path)))
			return -ENOMEM;
	}
	return 0;
}

/* Loads the services of map n into ns->services (allocated for n->n).
 * Duplicates (names compare case-insensitively) are found with a hash
 * table of the lower-cased names: a namespace may hold 25,000 services. */
static int load_services(struct cctx *c, const node *n, struct cfg_namespace *ns)
{
	struct nametab seen;
	uint8_t (*low)[CFG_LABEL_MAX] = calloc(n->n ? n->n : 1, sizeof(*low));
	int rc = 0;

	if (!low || nametab_init(&seen, n->n) < 0) {
		free(low);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n->n && rc == 0; i++) {
		const char *name = ns->services[i].name;
		size_t len;

		rc = load_service(c, ydoc_key(n, i), ydoc_val(n, i), &ns->services[i]);
		ns->nservices++;
		if (rc < 0)
			break;
		for (len = 0; name[len] && len < CFG_LABEL_MAX - 1; len++)
			low[i][len] = (uint8_t)(name[len] >= 'A' && name[len] <= 'Z' ?
						name[len] + 32 : name[len]);
		rc = nametab_put(&seen, low[i], len, &ns->services[i]);
		if (rc == ERR_EXISTS)
			rc = errf(c, ydoc_key(n, i), "duplicate service \"%s\" in namespace %s",
				  name, ns->name);
	}
	nametab_close(&seen);
	free(low);
	return rc;
}

static int load_ns_maps(struct cctx *c, const node *m, struct cfg_namespace *ns)
{
	const node *n;
	int rc;

	if ((n = get(m, "services")) && !(n->kind == YDOC_SCALAR && !n->value[0])) {
		if ((rc = want(c, n, YDOC_MAP, "services")) < 0)
			return rc;
		ns->services = calloc(n->n ? n->n : 1, sizeof(*ns->services));
		if (!ns->services)
			return -ENOMEM;
		if ((rc = load_services(c, n, ns)) < 0)
			return rc;
	}
	if ((n = get(m, "routers")) && !(n->kind == YDOC_SCALAR && !n->value[0])) {
		if ((rc = want(c, n, YDOC_MAP, "routers")) < 0)
			return rc;
		ns->routers = calloc(n->n ? n->n : 1, sizeof(*ns->routers));
		if (!ns->routers)
			return -ENOMEM;
		for (size_t i = 0; i < n->n; i++) {
			rc = load_router(c, ydoc_key(n, i), ydoc_val(n, i), ns, &ns->routers[i]);
			ns->nrouters++;
			if (rc < 0)
				return rc;
			for (size_t j = 0; j < i; j++)
				if (!strcasecmp(ns->routers[j].name, ns->routers[i].name))
					return errf(c, ydoc_key(n, i), "duplicate router \"%s\"",
						    ns->routers[i].name);
		}
	}
	return 0;
}

static int load_namespace(struct cctx *c, const node *m, struct cfg_namespace *ns)
{
	static const char *const keys[] = { "name", "zone", "ttl", "negative_ttl", "max_answers",
		"default_lease", "min_lease", "max_lease", "slow_start", "warning_factor",
		"on_all_unhealthy", "services", "routers", "max_instances",
		"max_instances_per_service", "max_attributes", "max_attribute_size",
		"allow_transfer", "notify", NULL };
	const node *n;
	int rc, len;

	ns->ttl = 5, ns->negative_ttl = 5, ns->max_answers = 8;
	ns->min_lease = 1, ns->max_lease = 86400, ns->warning_factor = 0.5;
	ns->max_instances = 10000, ns->max_instances_per_service = 1000;
	ns->max_attributes = 16, ns->max_attribute_size = 255;
	if ((rc = want(c, m, YDOC_MAP, "a namespace")) < 0 ||
	    (rc = check_keys(c, m, keys, "a namespace")) < 0)
		return rc;
	if (!(n = get(m, "name")))
		return errf(c, m, "namespace needs a name");
	if (n->kind != YDOC_SCALAR || (len = wire_name_from_text(n->value, ns->wire)) <= 1)
		return errf(c, n, "namespace name must be a domain name, got \"%s\"",
			    n->kind == YDOC_SCALAR ? n->value : kind_name(n));
	ns->wire_len = (size_t)len;
	wire_name_lower(ns->wire);
	wire_name_to_text(ns->wire, ns->name, sizeof(ns->name));
	if (ns->wire_len + 2 * 64 + 6 > WIRE_NAME_MAX)
		return errf(c, n, "namespace name is too long to hold service and instance names");
	if ((rc = load_ns_settings(c, m, ns)) < 0)
		return rc;
	return load_ns_maps(c, m, ns);
}

static int load_namespaces(struct cctx *c, const node *n)
{
	struct config *cfg = c->cfg;
	int rc;

	if ((rc = want(c, n, YDOC_SEQ, "namespaces")) < 0)
		return rc;
	if (n->n == 0)
		return errf(c, n, "at least one namespace is needed");
	cfg->namespaces = calloc(n->n, sizeof(*cfg->namespaces));
	if (!cfg->namespaces)
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		struct cfg_namespace *ns = &cfg->namespaces[i];

		rc = load_namespace(c, n->items[i], ns);
		cfg->nnamespaces++;
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			const struct cfg_namespace *o = &cfg->namespaces[j];

			if (wire_name_eq(o->wire, ns->wire))
				return errf(c, n->items[i], "duplicate namespace %s", ns->name);
			if (wire_name_in(ns->wire, o->wire) || wire_name_in(o->wire, ns->wire))
				return errf(c, n->items[i], "namespace %s is nested with namespace %s;"
					    " namespaces must not overlap", ns->name, o->name);
		}
	}
	return 0;
}

/* ---- keys ---- */

static int b64_valid(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n == 0 || n % 4)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '=') {
			if (i < n - 2 || ++pad > 2)
				return 0;
		} else if (pad || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/')) {
			return 0;
		}
	}
	return 1;
}

static int allowed_name_ok(const struct config *cfg, const char *text)
{
	uint8_t w[WIRE_NAME_MAX];
	int len = wire_name_from_text(text, w);

	if (len <= 1)
		return 0;
	wire_name_lower(w);
	for (size_t i = 0; i < cfg->nnamespaces; i++) {
		const struct cfg_namespace *ns = &cfg->namespaces[i];
		size_t l1 = (size_t)w[0];

		if ((size_t)len != 1 + l1 + ns->wire_len || memcmp(w + 1 + l1, ns->wire, ns->wire_len))
			continue;
		for (size_t s = 0; s < ns->nservices; s++)
			if (strlen(ns->services[s].name) == l1 &&
			    !strncasecmp(ns->services[s].name, (const char *)w + 1, l1))
				return 1;
	}
	return 0;
}

static int load_key(struct cctx *c, const node *m, struct cfg_key *k)
{
	static const char *const keys[] = { "name", "algorithm", "secret", "allow", NULL };
	const node *n;
	uint8_t w[WIRE_NAME_MAX];
	int rc;

	snprintf(k->algorithm, sizeof(k->algorithm), "hmac-sha256");
	if ((rc = want(c, m, YDOC_MAP, "a key")) < 0 || (rc = check_keys(c, m, keys, "a key")) < 0)
		return rc;
	if (!(n = get(m, "name")) || n->kind != YDOC_SCALAR || wire_name_from_text(n->value, w) <= 1)
		return errf(c, n ? n : m, "a key needs a name that is a domain name");
	snprintf(k->name, sizeof(k->name), "%s", n->value);
	if ((n = get(m, "algorithm"))) {
		if (n->kind != YDOC_SCALAR || (strcmp(n->value, "hmac-sha256") &&
					       strcmp(n->value, "hmac-sha512")))
			return errf(c, n, "algorithm must be hmac-sha256 or hmac-sha512");
		snprintf(k->algorithm, sizeof(k->algorithm), "%s", n->value);
	}
	if (!(n = get(m, "secret")))
		return errf(c, m, "key %s needs a secret (base64, e.g. from tsig-keygen)", k->name);
	if (n->kind != YDOC_SCALAR || !b64_valid(n->value))
		return errf(c, n, "secret of key %s is not valid base64", k->name);
	if (!(k->secret = strdup(n->value)))
		return -ENOMEM;
	if (!(n = get(m, "allow")))
		return 0;
	if ((rc = want(c, n, YDOC_SEQ, "allow")) < 0)
		return rc;
	k->allow = calloc(n->n ? n->n : 1, sizeof(char *));
	if (!k->allow)
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const node *a = n->items[i];

		if (a->kind != YDOC_SCALAR || !allowed_name_ok(c->cfg, a->value))
			return errf(c, a, "allow: \"%s\" is not a service of a configured namespace"
				    " (write it as service.namespace)",
				    a->kind == YDOC_SCALAR ? a->value : kind_name(a));
		if (!(k->allow[k->nallow] = strdup(a->value)))
			return -ENOMEM;
		k->nallow++;
	}
	return 0;
}

static int load_keys(struct cctx *c, const node *n)
{
	struct config *cfg = c->cfg;
	int rc;

	if ((rc = want(c, n, YDOC_SEQ, "keys")) < 0)
		return rc;
	cfg->keys = calloc(n->n ? n->n : 1, sizeof(*cfg->keys));
	if (!cfg->keys)
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		rc = load_key(c, n->items[i], &cfg->keys[i]);
		cfg->nkeys++;
		if (rc < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(cfg->keys[j].name, cfg->keys[i].name))
				return errf(c, n->items[i], "duplicate key %s", cfg->keys[i].name);
	}
	return 0;
}

/* ---- zone transfers ---- */

/* allow_transfer: key names from `keys`, so it is read after them. */
static int get_key_names(struct cctx *c, const node *n, char ***out, size_t *count)
{
	int rc;

	if ((rc = want(c, n, YDOC_SEQ, "allow_transfer")) < 0)
		return rc;
	if (!(*out = calloc(n->n ? n->n : 1, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const node *a = n->items[i];
		size_t k = 0;

		while (a->kind == YDOC_SCALAR && k < c->cfg->nkeys &&
		       strcasecmp(c->cfg->keys[k].name, a->value))
			k++;
		if (a->kind != YDOC_SCALAR || k == c->cfg->nkeys)
			return errf(c, a, "allow_transfer: \"%s\" is not the name of a key in `keys`",
				    a->kind == YDOC_SCALAR ? a->value : kind_name(a));
		if (!((*out)[*count] = strdup(a->value)))
			return -ENOMEM;
		(*count)++;
	}
	return 0;
}

static int load_xfr(struct cctx *c, const node *root)
{
	struct config *cfg = c->cfg;
	const node *n, *nss = get(root, "namespaces");
	int rc;

	if ((n = get(root, "allow_transfer")) &&
	    (rc = get_key_names(c, n, &cfg->allow_transfer, &cfg->nallow_transfer)) < 0)
		return rc;
	if ((n = get(root, "notify")) &&
	    (rc = get_addrs(c, n, "notify", 53, &cfg->notify, &cfg->nnotify, NULL)) < 0)
		return rc;
	for (size_t i = 0; i < cfg->nnamespaces; i++) {
		struct cfg_namespace *ns = &cfg->namespaces[i];

		if ((n = get(nss->items[i], "allow_transfer"))) {
			ns->has_allow_transfer = 1;
			if ((rc = get_key_names(c, n, &ns->allow_transfer, &ns->nallow_transfer)) < 0)
				return rc;
		}
		if ((n = get(nss->items[i], "notify"))) {
			ns->has_notify = 1;
			if ((rc = get_addrs(c, n, "notify", 53, &ns->notify, &ns->nnotify, NULL)) < 0)
				return rc;
		}
	}
	return 0;
}

/* ---- top level ---- */

static int load_cache_keys(struct cctx *c, const node *root)
{
	struct config *cfg = c->cfg;
	const node *n;
	uint64_t v;
	int rc;

	if ((rc = get_u32(c, root, "cache_size", 0, 10000000, &cfg->cache_size)) < 0 ||
	    (rc = get_u32(c, root, "cache_min_ttl", 0, 86400, &cfg->cache_min_ttl)) < 0 ||
	    (rc = get_u32(c, root, "cache_max_ttl", 0, 604800, &cfg->cache_max_ttl)) < 0 ||
	    (rc = get_u32(c, root, "cache_max_negative_ttl", 0, 86400,
			  &cfg->cache_max_negative_ttl)) < 0 ||
	    (rc = get_u32(c, root, "serve_stale", 0, 604800, &cfg->serve_stale)) < 0 ||
	    (rc = get_ms(c, root, "upstream_timeout", 0.1, 60, &cfg->upstream_timeout_ms)) < 0 ||
	    (rc = get_u32(c, root, "upstream_max_inflight", 1, 1000000,
			  &cfg->upstream_max_inflight)) < 0)
		return rc;
	if ((n = get(root, "cache_bytes"))) {
		if ((rc = get_uint(c, n, 4096, (uint64_t)1 << 40, &v, "cache_bytes")) < 0)
			return rc;
		cfg->cache_bytes = v;
	}
	if (cfg->cache_min_ttl > cfg->cache_max_ttl)
		return errf(c, get(root, "cache_min_ttl"), "cache_min_ttl must not exceed cache_max_ttl");
	return 0;
}

/* Limits against abuse; each key is documented in README.md. */
static int load_limit_keys(struct cctx *c, const node *root)
{
	struct config *cfg = c->cfg;
	const node *n;
	int rc;

	if ((rc = get_u32(c, root, "tcp_max_connections_per_client", 1, 65535,
			  &cfg->tcp_max_connections_per_client)) < 0 ||
	    (rc = get_ms(c, root, "tcp_read_timeout", 0.1, 3600, &cfg->tcp_read_timeout_ms)) < 0 ||
	    (rc = get_ms(c, root, "commit_delay", 0, 1, &cfg->commit_delay_ms)) < 0 ||
	    (rc = get_u32(c, root, "max_message_size", 512, 65535, &cfg->max_message_size)) < 0 ||
	    (rc = get_u32(c, root, "update_rate", 0, 1000000, &cfg->update_rate)) < 0 ||
	    (rc = get_u32(c, root, "update_burst", 1, 1000000, &cfg->update_burst)) < 0 ||
	    (rc = get_u32(c, root, "tsig_fudge_max", 1, 3600, &cfg->tsig_fudge_max)) < 0 ||
	    (rc = get_u32(c, root, "tsig_replay_cache", 0, 10000000, &cfg->tsig_replay_cache)) < 0 ||
	    (rc = get_u32(c, root, "udp_payload_without_cookie", 512, 4096,
			  &cfg->udp_payload_without_cookie)) < 0 ||
	    (rc = get_u32(c, root, "rrl_rate", 0, 1000000, &cfg->rrl_rate)) < 0 ||
	    (rc = get_u32(c, root, "rrl_slip", 0, 100, &cfg->rrl_slip)) < 0 ||
	    (rc = get_u32(c, root, "rrl_ipv4_prefix", 8, 32, &cfg->rrl_ipv4_prefix)) < 0 ||
	    (rc = get_u32(c, root, "rrl_ipv6_prefix", 16, 64, &cfg->rrl_ipv6_prefix)) < 0 ||
	    (rc = get_u32(c, root, "rrl_table_size", 16, 16777216, &cfg->rrl_table_size)) < 0)
		return rc;
	if ((n = get(root, "cookies"))) {
		if (n->kind != YDOC_SCALAR || n->quoted ||
		    (strcmp(n->value, "true") && strcmp(n->value, "false")))
			return errf(c, n, "cookies must be true or false");
		cfg->cookies = !strcmp(n->value, "true");
	}
	if ((n = get(root, "cookie_secret"))) {
		if (n->kind != YDOC_SCALAR || strlen(n->value) != 32 ||
		    strspn(n->value, "0123456789abcdefABCDEF") != 32)
			return errf(c, n, "cookie_secret must be 32 hex digits (16 bytes, e.g. from"
				    " `openssl rand -hex 16`)");
		for (int i = 0; i < 16; i++) {
			unsigned b;

			if (sscanf(n->value + 2 * i, "%2x", &b) != 1)
				return errf(c, n, "cookie_secret must be 32 hex digits");
			cfg->cookie_secret[i] = (uint8_t)b;
		}
		cfg->has_cookie_secret = 1;
	}
	return 0;
}

/* control_socket (meshdns-ctl) and query_log: operating the server. */
static int load_ops_keys(struct cctx *c, const node *root)
{
	static const char *const qkeys[] = { "sample", NULL };
	const node *n;
	int rc;

	if ((n = get(root, "control_socket"))) {
		if (n->kind != YDOC_SCALAR)
			return errf(c, n, "control_socket must be a path, or \"\" to turn it off");
		free(c->cfg->control_socket);
		if (!(c->cfg->control_socket = strdup(n->value)))
			return -ENOMEM;
	}
	if ((n = get(root, "query_log"))) {
		const node *s;

		if ((rc = want(c, n, YDOC_MAP, "query_log")) < 0 ||
		    (rc = check_keys(c, n, qkeys, "query_log")) < 0)
			return rc;
		c->cfg->query_log = 1;
		c->cfg->query_log_sample = 1.0;
		if ((s = get(n, "sample")) &&
		    (rc = get_double(c, s, 0, 1, &c->cfg->query_log_sample, "sample")) < 0)
			return rc;
	}
	return 0;
}

/* threads: a count, or auto (one per online CPU). Each thread has a UDP
 * socket per listen address (SO_REUSEPORT), at most 16 of them. */
static int get_threads(struct cctx *c, const node *n)
{
	struct config *cfg = c->cfg;
	unsigned long long v;
	char *end = NULL;

	if (n->kind == YDOC_SCALAR && !n->quoted && !strcmp(n->value, "auto")) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		v = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned long long)cpus;
	} else if (n->kind != YDOC_SCALAR || n->quoted || n->value[0] < '0' || n->value[0] > '9' ||
		   (v = strtoull(n->value, &end, 10)) < 1 || v > 64 || *end) {
		/* One message for every wrong value, so that it names auto too. */
		return errf(c, n, "threads must be auto or an integer from 1 to 64, got \"%s\"",
			    n->kind == YDOC_SCALAR ? n->value : kind_name(n));
	}
	if (v > 1 && cfg->nlisten > 16)
		return errf(c, n, "threads above 1 allow at most 16 listen addresses (there are %zu)",
			    cfg->nlisten);
	cfg->threads = (uint32_t)v;
	return 0;
}

static int load_top(struct cctx *c, const node *root)
{
	static const char *const keys[] = { "listen", "upstream", "state_dir", "udp_payload",
		"tcp_idle_timeout", "tcp_max_connections", "cache_size", "cache_bytes",
		"cache_min_ttl", "cache_max_ttl", "cache_max_negative_ttl", "serve_stale",
		"upstream_timeout", "upstream_max_inflight", "namespaces", "keys",
		"tcp_max_connections_per_client", "tcp_read_timeout", "commit_delay", "max_message_size",
		"update_rate", "update_burst", "tsig_fudge_max", "tsig_replay_cache", "cookies",
		"cookie_secret", "udp_payload_without_cookie", "rrl_rate", "rrl_slip",
		"rrl_ipv4_prefix", "rrl_ipv6_prefix", "rrl_table_size", "control_socket",
		"query_log", "metrics_listen", "threads",
		"allow_transfer", "notify", NULL };
	struct config *cfg = c->cfg;
	const node *n;
	int rc;

	if (!root)
		return errf(c, NULL, "the configuration is empty: it needs at least namespaces");
	if ((rc = want(c, root, YDOC_MAP, "the configuration")) < 0 ||
	    (rc = check_keys(c, root, keys, "the top level")) < 0)
		return rc;
	if ((n = get(root, "listen"))) {
		if ((rc = get_addrs(c, n, "listen", 53, &cfg->listen, &cfg->nlisten, NULL)) < 0)
			return rc;
		if (cfg->nlisten == 0)
			return errf(c, n, "listen needs at least one address");
	} else {
		cfg->listen = calloc(2, sizeof(*cfg->listen));
		if (!cfg->listen)
			return -ENOMEM;
		addr_parse("127.0.0.1:53", 53, &cfg->listen[0]);
		addr_parse("[::1]:53", 53, &cfg->listen[1]);
		cfg->nlisten = 2;
	}
	if ((n = get(root, "threads")) && (rc = get_threads(c, n)) < 0)
		return rc;
	if ((n = get(root, "upstream"))) {
		cfg->upstream_system = 0;
		if ((rc = get_addrs(c, n, "upstream", 53, &cfg->upstreams, &cfg->nupstreams,
				    &cfg->upstream_system)) < 0)
			return rc;
		if (cfg->upstream_system && cfg->nupstreams)
			return errf(c, n, "upstream is either [system] or a list of addresses");
	}
	if ((rc = load_cache_keys(c, root)) < 0 || (rc = load_limit_keys(c, root)) < 0 ||
	    (rc = load_ops_keys(c, root)) < 0)
		return rc;
	if ((n = get(root, "metrics_listen"))) {
		if (n->kind != YDOC_SCALAR || addr_parse(n->value, 9153, &cfg->metrics_listen) < 0)
			return errf(c, n, "metrics_listen: \"%s\" is not an address (IPv4, IPv4:PORT"
				    " or [IPv6]:PORT)", n->kind == YDOC_SCALAR ? n->value : kind_name(n));
		cfg->has_metrics = 1;
	}
	if ((rc = get_str(c, root, "state_dir", &cfg->state_dir)) < 0 ||
	    (rc = get_u32(c, root, "udp_payload", 512, 4096, &cfg->udp_payload)) < 0 ||
	    (rc = get_ms(c, root, "tcp_idle_timeout", 0.1, 3600, &cfg->tcp_idle_timeout_ms)) < 0 ||
	    (rc = get_u32(c, root, "tcp_max_connections", 1, 65535, &cfg->tcp_max_connections)) < 0)
		return rc;
	if (!(n = get(root, "namespaces")))
		return errf(c, root, "the configuration needs namespaces");
	if ((rc = load_namespaces(c, n)) < 0)
		return rc;
	if ((n = get(root, "keys")) && (rc = load_keys(c, n)) < 0)
		return rc;
	return load_xfr(c, root);
}

static int load(struct config **out, const char *name, const char *text, char *errbuf,
		size_t errlen)
{
	struct cctx c = { .file = name, .err = errbuf, .errlen = errlen };
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct ydoc *doc = NULL;
	char tmp[4096];
	int rc;

	*out = NULL;
	if (!cfg || !(cfg->file = strdup(name)) || !(cfg->state_dir = strdup("/var/lib/meshdns"))) {
		config_free(cfg);
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	cfg->udp_payload = 1232;
	cfg->tcp_idle_timeout_ms = 10000;
	cfg->tcp_max_connections = 512;
	cfg->tcp_max_connections_per_client = 32;
	cfg->tcp_read_timeout_ms = 2000;
	cfg->commit_delay_ms = 5;
	cfg->threads = 1;
	cfg->max_message_size = 65535;
	cfg->update_rate = 1000;
	cfg->update_burst = 2000;
	cfg->tsig_fudge_max = 300;
	cfg->tsig_replay_cache = 65536;
	cfg->cookies = 1;
	cfg->udp_payload_without_cookie = 512;
	cfg->rrl_slip = 2;
	cfg->rrl_ipv4_prefix = 24;
	cfg->rrl_ipv6_prefix = 56;
	cfg->rrl_table_size = 65536;
	cfg->upstream_system = 1;
	cfg->cache_size = 10000;
	cfg->cache_bytes = 32u << 20;
	cfg->cache_max_ttl = 86400;
	cfg->cache_max_negative_ttl = 3600;
	cfg->upstream_timeout_ms = 2500;
	cfg->upstream_max_inflight = 1000;
	c.cfg = cfg;
	if (strcmp(name, "<default>") && strchr(name, '/')) {
		snprintf(tmp, sizeof(tmp), "%s", name);
		snprintf(c.dir, sizeof(c.dir), "%s", dirname(tmp));
	}
	rc = ydoc_load(&doc, name, text, errbuf, errlen);
	if (rc == 0)
		rc = load_top(&c, doc->root);
	if (rc == -ENOMEM)
		snprintf(errbuf, errlen, "%s: out of memory", name);
	ydoc_free(doc);
	if (rc < 0) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int config_load(struct config **out, const char *file, char *errbuf, size_t errlen)
{
	return load(out, file, NULL, errbuf, errlen);
}

int config_load_text(struct config **out, const char *name, const char *text,
		     char *errbuf, size_t errlen)
{
	return load(out, name, text, errbuf, errlen);
}

const struct cfg_service *config_find_service(const struct cfg_namespace *ns, const char *name)
{
	for (size_t i = 0; i < ns->nservices; i++)
		if (!strcasecmp(ns->services[i].name, name))
			return &ns->services[i];
	return NULL;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; cfg->namespaces && i < cfg->nnamespaces; i++) {
		struct cfg_namespace *ns = &cfg->namespaces[i];

		for (size_t s = 0; ns->services && s < ns->nservices; s++) {
			struct cfg_service *svc = &ns->services[s];

			for (size_t k = 0; svc->instances && k < svc->ninstances; k++)
				free_strings(svc->instances[k].attrs, svc->instances[k].nattrs);
			free(svc->instances);
		}
		for (size_t r = 0; ns->routers && r < ns->nrouters; r++)
			free(ns->routers[r].routes);
		free(ns->services);
		free(ns->routers);
		free(ns->zone);
		free_strings(ns->allow_transfer, ns->nallow_transfer);
		free(ns->notify);
	}
	free_strings(cfg->allow_transfer, cfg->nallow_transfer);
	free(cfg->notify);
	for (size_t i = 0; cfg->keys && i < cfg->nkeys; i++) {
		free(cfg->keys[i].secret);
		free_strings(cfg->keys[i].allow, cfg->keys[i].nallow);
	}
	free(cfg->keys);
	free(cfg->namespaces);
	free(cfg->listen);
	free(cfg->upstreams);
	free(cfg->state_dir);
	free(cfg->control_socket);
	free(cfg->file);
	free(cfg);
}
