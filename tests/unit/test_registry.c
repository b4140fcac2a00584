/* test_registry.c - check suite for resolver/registry.h and the weights that
 * view_build (view.h) derives from it: the "router share maths".
 *
 * Each case loads an inline YAML config, builds the registry and a view, and
 * reads a service's or router's answer set (struct vset) directly: a
 * member's share is its step in cum4 over the total, its SRV weight is the
 * field in its precomputed SRV head. Health changes go through
 * registry_set_health and a rebuilt view, as the main loop does. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "err.h"
#include "testutil.h"
#include "checkmain.h"

#define NOW 100000 /* ms; any fixed monotonic time */

/* ---- reading a vset ---- */

static const struct vset *set_of(const struct view *v, const char *name)
{
	const struct vnode *n = tnode(v, name);

	ck_assert_msg(n != NULL, "no node %s", name);
	ck_assert_msg(n->kind == VN_SET, "%s is not a set (kind %d)", name, n->kind);
	ck_assert_ptr_nonnull(n->set);
	return n->set;
}

/* Index in set->members of the instance named inst, or -1. */
static long member(const struct view *v, const struct vset *s, const char *inst)
{
	const struct vnode *n = tnode(v, inst);

	ck_assert_msg(n != NULL && n->kind == VN_INSTANCE, "no instance node %s", inst);
	for (uint32_t i = 0; i < s->n; i++)
		if (s->members[i].node == n)
			return (long)i;
	return -1;
}

/* The member behind the set's j-th IPv4 (v6 = 0) or IPv6 entry: entries
 * follow the members with that address, in member order. */
static long member_of_entry(const struct vset *s, uint32_t j, int v6)
{
	for (uint32_t i = 0; i < s->n; i++) {
		const struct vmember *mb = &s->members[i];

		if ((v6 ? mb->has6 : mb->has4) && j-- == 0)
			return (long)i;
	}
	return -1;
}

/* Share of the whole IPv4 weight that instance inst holds (its cum4 step). */
static double share4(const struct view *v, const struct vset *s, const char *inst)
{
	long m = member(v, s, inst);

	ck_assert_msg(m >= 0, "%s is not a member", inst);
	ck_assert_uint_gt(s->n4, 0);
	for (uint32_t j = 0; j < s->n4; j++) {
		if (member_of_entry(s, j, 0) != m)
			continue;
		uint64_t step = s->cum4[j] - (j ? s->cum4[j - 1] : 0);

		return (double)step / (double)s->cum4[s->n4 - 1];
	}
	ck_abort_msg("%s has no IPv4 entry", inst);
	return 0;
}

static unsigned srv_weight(const struct view *v, const struct vset *s, const char *inst)
{
	long m = member(v, s, inst);

	ck_assert_msg(m >= 0, "%s is not a member", inst);
	return s->members[m].srv_weight;
}

static void assert_near(double got, double want, double tol, const char *what)
{
	ck_assert_msg(fabs(got - want) <= tol, "%s: got %.6f, want %.6f +- %.6f",
		      what, got, want, tol);
}

/* Each member's address families must be its instance's, the cum arrays
 * must rise strictly (every member drawable), the address arrays must hold
 * the addresses of the members with that family, in member order, and there
 * must be one entry per such member. */
static void assert_set_sane(const struct vset *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		const struct vnode *n = s->members[i].node;

		/* A target named as a set's SRV name is that set's node. */
		ck_assert(n->kind == VN_INSTANCE || n->kind == VN_SET);
		if (n->kind == VN_INSTANCE) {
			ck_assert_uint_eq(s->members[i].has4, n->inst->has4);
			ck_assert_uint_eq(s->members[i].has6, n->inst->has6);
		}
	}
	for (uint32_t j = 0; j < s->n4; j++) {
		long m = member_of_entry(s, j, 0);

		ck_assert_int_ge(m, 0);
		if (s->members[m].node->kind == VN_INSTANCE)
			ck_assert_mem_eq(s->addr4[j], s->members[m].node->inst->a_tail + 10, 4);
		ck_assert_uint_gt(s->cum4[j], j ? s->cum4[j - 1] : 0);
	}
	ck_assert_int_lt(member_of_entry(s, s->n4, 0), 0);
	for (uint32_t j = 0; j < s->n6; j++) {
		long m = member_of_entry(s, j, 1);

		ck_assert_int_ge(m, 0);
		if (s->members[m].node->kind == VN_INSTANCE)
			ck_assert_mem_eq(s->addr6[j], s->members[m].node->inst->aaaa_tail + 10, 16);
		ck_assert_uint_gt(s->cum6[j], j ? s->cum6[j - 1] : 0);
	}
	ck_assert_int_lt(member_of_entry(s, s->n6, 1), 0);
}

/* ---- configs ---- */

static const char cfg_weights[] =
	"listen: [\"127.0.0.1:0\"]\n"
	"namespaces:\n"
	"  - name: local\n"
	"    services:\n"
	"      svc:\n"
	"        instances:\n"
	"          - {id: a, address: 10.0.0.1, port: 80, weight: 100}\n"
	"          - {id: b, address: 10.0.0.2, port: 81, weight: 50}\n";

static const char cfg_health[] =
	"listen: [\"127.0.0.1:0\"]\n"
	"namespaces:\n"
	"  - name: local\n"
	"    services:\n"
	"      svc:\n"
	"        instances:\n"
	"          - {id: a, address: 10.0.0.1, port: 80}\n"
	"          - {id: b, address: 10.0.0.2, port: 80}\n"
	"          - {id: c, address: [10.0.0.3, \"fd00::3\"], port: 80}\n";

static const char cfg_router[] =
	"listen: [\"127.0.0.1:0\"]\n"
	"namespaces:\n"
	"  - name: local\n"
	"    services:\n"
	"      payments-v1:\n"
	"        instances:\n"
	"          - {id: a, address: 10.0.1.1, port: 5000}\n"
	"          - {id: b, address: 10.0.1.2, port: 5000}\n"
	"          - {id: c, address: 10.0.1.3, port: 5000}\n"
	"      payments-v2:\n"
	"        instances:\n"
	"          - {id: d, address: 10.0.2.1, port: 6000}\n"
	"      payments-v3: {}\n"
	"    routers:\n"
	"      payments:\n"
	"        routes:\n"
	"          - {target: payments-v1, weight: 90}\n"
	"          - {target: payments-v2, weight: 10}\n"
	"      canary:\n"
	"        routes:\n"
	"          - {target: payments-v1, weight: 100}\n"
	"          - {target: payments-v2, weight: 0}\n"
	"      newonly:\n"
	"        routes:\n"
	"          - {target: payments-v1, weight: 50}\n"
	"          - {target: payments-v3, weight: 50}\n";

/* ---- weights ---- */

START_TEST(test_weights_proportional)
{
	struct tenv t;
	const struct vset *s;

	tenv_load(&t, cfg_weights, NOW);
	s = set_of(t.v, "svc.local.");
	ck_assert_uint_eq(s->n, 2);
	ck_assert_uint_eq(s->n4, 2);
	ck_assert_uint_eq(s->n6, 0);
	ck_assert_uint_eq(s->max_answers, 8);
	assert_set_sane(s);
	assert_near(share4(t.v, s, "a.svc.local."), 2.0 / 3, 1e-6, "share a");
	assert_near(share4(t.v, s, "b.svc.local."), 1.0 / 3, 1e-6, "share b");
	ck_assert_uint_eq(srv_weight(t.v, s, "a.svc.local."), 65535);
	ck_assert_uint_ge(srv_weight(t.v, s, "b.svc.local."), 32767);
	ck_assert_uint_le(srv_weight(t.v, s, "b.svc.local."), 32768);
	/* The SRV head: type SRV, class IN, ttl 5, priority 0, the port. */
	{
		uint8_t h[16];

		vset_srv_head(s, &s->members[member(t.v, s, "b.svc.local.")], h);

		ck_assert_uint_eq(h[0] << 8 | h[1], 33);
		ck_assert_uint_eq(h[2] << 8 | h[3], 1);
		ck_assert_uint_eq((uint32_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7], 5);
		ck_assert_uint_eq(h[10] << 8 | h[11], 0);
		ck_assert_uint_eq(h[14] << 8 | h[15], 81);
	}
	/* _svc._tcp.local. answers from the same set. */
	ck_assert_ptr_eq(set_of(t.v, "_svc._tcp.local."), s);
	tenv_free(&t);
}
END_TEST

START_TEST(test_unhealthy_excluded_warning_factor)
{
	struct tenv t;
	const struct vset *s;
	struct instance *b, *c;

	tenv_load(&t, cfg_health, NOW);
	b = tinstance(t.reg, "svc.local.", "b");
	c = tinstance(t.reg, "svc.local.", "c");
	ck_assert_int_eq(registry_set_health(t.reg, b, HEALTH_UNHEALTHY, NOW), 1);
	ck_assert_int_eq(registry_set_health(t.reg, b, HEALTH_UNHEALTHY, NOW), 0);
	ck_assert_int_eq(registry_set_health(t.reg, c, HEALTH_WARNING, NOW), 1);
	ck_assert_int_eq(b->health, HEALTH_UNHEALTHY);
	ck_assert_int_eq(c->health, HEALTH_WARNING);
	tenv_rebuild(&t, NOW);
	s = set_of(t.v, "svc.local.");
	ck_assert_uint_eq(s->n, 2);
	ck_assert_int_lt(member(t.v, s, "b.svc.local."), 0);
	ck_assert_uint_eq(s->n6, 1);
	assert_set_sane(s);
	/* a: 100, c: 100 x 0.5 */
	assert_near(share4(t.v, s, "a.svc.local."), 100.0 / 150, 1e-6, "share a");
	assert_near(share4(t.v, s, "c.svc.local."), 50.0 / 150, 1e-6, "share c");
	ck_assert_uint_eq(srv_weight(t.v, s, "a.svc.local."), 65535);
	ck_assert_uint_ge(srv_weight(t.v, s, "c.svc.local."), 32767);
	ck_assert_uint_le(srv_weight(t.v, s, "c.svc.local."), 32768);
	tenv_free(&t);
}
END_TEST

START_TEST(test_warning_factor_configured)
{
	static const char yaml[] =
		"listen: [\"127.0.0.1:0\"]\n"
		"namespaces:\n"
		"  - name: local\n"
		"    warning_factor: 0.25\n"
		"    services:\n"
		"      svc:\n"
		"        instances:\n"
		"          - {id: a, address: 10.0.0.1, port: 80}\n"
		"          - {id: b, address: 10.0.0.2, port: 80}\n";
	struct tenv t;
	const struct vset *s;

	tenv_load(&t, yaml, NOW);
	ck_assert_int_eq(registry_set_health(t.reg, tinstance(t.reg, "svc.local.", "b"),
					     HEALTH_WARNING, NOW), 1);
	tenv_rebuild(&t, NOW);
	s = set_of(t.v, "svc.local.");
	ck_assert_uint_eq(s->n, 2);
	assert_near(share4(t.v, s, "b.svc.local."), 25.0 / 125, 1e-6, "share b");
	tenv_free(&t);
}
END_TEST

START_TEST(test_all_unhealthy_all)
{
	struct tenv t;
	const struct vset *s;

	tenv_load(&t, cfg_weights, NOW);
	registry_set_health(t.reg, tinstance(t.reg, "svc.local.", "a"), HEALTH_UNHEALTHY, NOW);
	registry_set_health(t.reg, tinstance(t.reg, "svc.local.", "b"), HEALTH_UNHEALTHY, NOW);
	tenv_rebuild(&t, NOW);
	s = set_of(t.v, "svc.local.");
	/* Every instance, by configured weight. */
	ck_assert_uint_eq(s->n, 2);
	assert_set_sane(s);
	assert_near(share4(t.v, s, "a.svc.local."), 2.0 / 3, 1e-6, "share a");
	assert_near(share4(t.v, s, "b.svc.local."), 1.0 / 3, 1e-6, "share b");
	tenv_free(&t);
}
END_TEST

START_TEST(test_all_unhealthy_none)
{
	static const char yaml[] =
		"listen: [\"127.0.0.1:0\"]\n"
		"namespaces:\n"
		"  - name: local\n"
		"    on_all_unhealthy: none\n"
		"    services:\n"
		"      svc:\n"
		"        instances:\n"
		"          - {id: a, address: 10.0.0.1, port: 80}\n"
		"          - {id: b, address: 10.0.0.2, port: 80}\n"
		"    routers:\n"
		"      r:\n"
		"        routes:\n"
		"          - {target: svc, weight: 1}\n";
	struct tenv t;

	tenv_load(&t, yaml, NOW);
	ck_assert_uint_eq(set_of(t.v, "svc.local.")->n, 2);
	ck_assert_uint_eq(set_of(t.v, "r.local.")->n, 2);
	registry_set_health(t.reg, tinstance(t.reg, "svc.local.", "a"), HEALTH_UNHEALTHY, NOW);
	registry_set_health(t.reg, tinstance(t.reg, "svc.local.", "b"), HEALTH_UNHEALTHY, NOW);
	tenv_rebuild(&t, NOW);
	ck_assert_uint_eq(set_of(t.v, "svc.local.")->n, 0);
	ck_assert_uint_eq(set_of(t.v, "svc.local.")->n4, 0);
	ck_assert_uint_eq(set_of(t.v, "r.local.")->n, 0);
	/* The instances themselves still answer by name. */
	ck_assert_ptr_nonnull(tnode(t.v, "a.svc.local."));
	tenv_free(&t);
}
END_TEST

START_TEST(test_weight_zero_share_equally)
{
	static const char yaml[] =
		"listen: [\"127.0.0.1:0\"]\n"
		"namespaces:\n"
		"  - name: local\n"
		"    services:\n"
		"      svc:\n"
		"        instances:\n"
		"          - {id: a, address: 10.0.0.1, port: 80, weight: 0}\n"
		"          - {id: b, address: 10.0.0.2, port: 80, weight: 0}\n"
		"      mix:\n"
		"        instances:\n"
		"          - {id: a, address: 10.0.0.1, port: 80, weight: 0}\n"
		"          - {id: b, address: 10.0.0.2, port: 80, weight: 10}\n";
	struct tenv t;
	const struct vset *s;

	tenv_load(&t, yaml, NOW);
	/* A service drained to 0 everywhere is not blackholed. */
	s = set_of(t.v, "svc.local.");
	ck_assert_uint_eq(s->n, 2);
	assert_near(share4(t.v, s, "a.svc.local."), 0.5, 1e-6, "share a");
	/* Weight 0 next to a positive weight is left out. */
	s = set_of(t.v, "mix.local.");
	ck_assert_uint_eq(s->n, 1);
	ck_assert_int_lt(member(t.v, s, "a.mix.local."), 0);
	tenv_free(&t);
}
END_TEST

/* ---- routers ---- */

START_TEST(test_router_90_10)
{
	struct tenv t;
	const struct vset *s;
	const char *v1[] = { "a.payments-v1.local.", "b.payments-v1.local.",
			     "c.payments-v1.local." };

	tenv_load(&t, cfg_router, NOW);
	s = set_of(t.v, "payments.local.");
	ck_assert_uint_eq(s->n, 4);
	assert_set_sane(s);
	for (int i = 0; i < 3; i++)
		assert_near(share4(t.v, s, v1[i]), 0.3, 0.001, v1[i]);
	assert_near(share4(t.v, s, "d.payments-v2.local."), 0.1, 0.001, "v2 d");
	/* SRV weights scale the largest to 65535: 0.1 / 0.3 of it for d. */
	ck_assert_uint_eq(srv_weight(t.v, s, v1[0]), 65535);
	ck_assert_uint_ge(srv_weight(t.v, s, "d.payments-v2.local."), 21844);
	ck_assert_uint_le(srv_weight(t.v, s, "d.payments-v2.local."), 21846);
	ck_assert_ptr_eq(set_of(t.v, "_payments._tcp.local."), s);
	tenv_free(&t);
}
END_TEST

START_TEST(test_router_unhealthy_route_gives_share)
{
	struct tenv t;
	const struct vset *s;

	tenv_load(&t, cfg_router, NOW);
	registry_set_health(t.reg, tinstance(t.reg, "payments-v2.local.", "d"),
			    HEALTH_UNHEALTHY, NOW);
	tenv_rebuild(&t, NOW);
	s = set_of(t.v, "payments.local.");
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_lt(member(t.v, s, "d.payments-v2.local."), 0);
	assert_near(share4(t.v, s, "a.payments-v1.local."), 1.0 / 3, 0.001, "a");
	assert_near(share4(t.v, s, "c.payments-v1.local."), 1.0 / 3, 0.001, "c");
	/* A declared route target with no instance at all gives its share too. */
	s = set_of(t.v, "newonly.local.");
	ck_assert_uint_eq(s->n, 3);
	assert_near(share4(t.v, s, "b.payments-v1.local."), 1.0 / 3, 0.001, "newonly b");
	tenv_free(&t);
}
END_TEST

START_TEST(test_router_route_weight_zero)
{
	struct tenv t;
	const struct vset *s;

	tenv_load(&t, cfg_router, NOW);
	s = set_of(t.v, "canary.local.");
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_lt(member(t.v, s, "d.payments-v2.local."), 0);
	assert_near(share4(t.v, s, "a.payments-v1.local."), 1.0 / 3, 0.001, "a");
	tenv_free(&t);
}
END_TEST

START_TEST(test_router_warning_scaled_within_route)
{
	struct tenv t;
	const struct vset *s;

	tenv_load(&t, cfg_router, NOW);
	/* v1: a warning (50), b and c 100 each: a holds 0.9 x 50/250 = 0.18. */
	registry_set_health(t.reg, tinstance(t.reg, "payments-v1.local.", "a"),
			    HEALTH_WARNING, NOW);
	tenv_rebuild(&t, NOW);
	s = set_of(t.v, "payments.local.");
	ck_assert_uint_eq(s->n, 4);
	assert_near(share4(t.v, s, "a.payments-v1.local."), 0.18, 0.001, "a");
	assert_near(share4(t.v, s, "b.payments-v1.local."), 0.36, 0.001, "b");
	assert_near(share4(t.v, s, "d.payments-v2.local."), 0.10, 0.001, "d");
	tenv_free(&t);
}
END_TEST

START_TEST(test_router_same_target_twice)
{
	/* Two routes to one service: either the config is refused, or the
	 * view holds the service's instances with their whole share (and
	 * building it stays inside its scratch space: ASan watches). */
	static const char yaml[] =
		"listen: [\"127.0.0.1:0\"]\n"
		"namespaces:\n"
		"  - name: local\n"
		"    services:\n"
		"      svc:\n"
		"        instances:\n"
		"          - {id: a, address: 10.0.0.1, port: 80}\n"
		"          - {id: b, address: 10.0.0.2, port: 80}\n"
		"    routers:\n"
		"      r:\n"
		"        routes:\n"
		"          - {target: svc, weight: 1}\n"
		"          - {target: svc, weight: 1}\n"
		"          - {target: svc, weight: 1}\n";
	struct config *cfg = NULL;
	struct registry *reg = NULL;
	struct view *v = NULL;
	const struct vset *s;
	char err[CFG_ERR_MAX];
	double sum = 0;

	if (config_load_text(&cfg, "<test>", yaml, err, sizeof(err)) < 0) {
		ck_assert_ptr_null(cfg);
		return;
	}
	ck_assert_int_eq(registry_new(&reg, cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(view_build(&v, reg, NOW), 0);
	s = set_of(v, "r.local.");
	assert_set_sane(s);
	ck_assert_uint_le(s->n, 6);
	for (uint32_t j = 0; j < s->n4; j++)
		if (s->members[member_of_entry(s, j, 0)].node == tnode(v, "a.svc.local."))
			sum += (double)(s->cum4[j] - (j ? s->cum4[j - 1] : 0));
	assert_near(sum / (double)s->cum4[s->n4 - 1], 0.5, 0.001, "a over all routes");
	view_free(v);
	registry_free(reg);
	config_free(cfg);
}
END_TEST

/* ---- slow start ---- */

START_TEST(test_slow_start)
{
	static const char yaml[] =
		"listen: [\"127.0.0.1:0\"]\n"
		"namespaces:\n"
		"  - name: local\n"
		"    slow_start: 10\n"
		"    services:\n"
		"      svc:\n"
		"        instances:\n"
		"          - {id: a, address: 10.0.0.1, port: 80}\n"
		"          - {id: b, address: 10.0.0.2, port: 80}\n";
	struct tenv t;
	const struct vset *s;
	struct instance *a;
	double sa, sb;

	tenv_load(&t, yaml, NOW);
	/* Healthy from the start: no ramp, nothing to rebuild. */
	ck_assert_uint_eq(t.v->rebuild_at_ms, 0);
	s = set_of(t.v, "svc.local.");
	assert_near(share4(t.v, s, "a.svc.local."), 0.5, 1e-6, "initial a");
	a = tinstance(t.reg, "svc.local.", "a");
	registry_set_health(t.reg, a, HEALTH_UNHEALTHY, NOW);
	registry_set_health(t.reg, a, HEALTH_HEALTHY, NOW + 5000);
	ck_assert_uint_eq(a->healthy_since_ms, NOW + 5000);

	tenv_rebuild(&t, NOW + 6000);
	s = set_of(t.v, "svc.local.");
	ck_assert_uint_eq(s->n, 2);
	sa = share4(t.v, s, "a.svc.local.");
	sb = share4(t.v, s, "b.svc.local.");
	ck_assert_msg(sa / sb >= 0.05 && sa / sb <= 0.20,
		      "weight after 1 s of 10 s slow start: %.4f of full", sa / sb);
	ck_assert_uint_gt(t.v->rebuild_at_ms, NOW + 6000);
	ck_assert_uint_le(t.v->rebuild_at_ms, NOW + 5000 + 10000);

	tenv_rebuild(&t, NOW + 10000);
	s = set_of(t.v, "svc.local.");
	sa = share4(t.v, s, "a.svc.local.");
	sb = share4(t.v, s, "b.svc.local.");
	ck_assert_msg(sa < sb && sa / sb > 0.20, "mid ramp: %.4f", sa / sb);
	ck_assert_uint_ne(t.v->rebuild_at_ms, 0);

	tenv_rebuild(&t, NOW + 5000 + 10000);
	s = set_of(t.v, "svc.local.");
	assert_near(share4(t.v, s, "a.svc.local."), 0.5, 1e-6, "after ramp a");
	ck_assert_uint_eq(t.v->rebuild_at_ms, 0);
	tenv_free(&t);
}
END_TEST

/* ---- look-ups and reloads ---- */

START_TEST(test_find)
{
	struct tenv t;
	uint8_t name[WIRE_NAME_MAX];
	size_t len;
	struct service *svc;

	tenv_load(&t, cfg_router, NOW);
	len = tname("payments-v1.local.", name);
	svc = registry_find_service(t.reg, name, len);
	ck_assert_ptr_nonnull(svc);
	ck_assert_str_eq(svc->name, "payments-v1");
	ck_assert_uint_eq(svc->n, 3);
	ck_assert_ptr_nonnull(tservice(t.reg, "PAYMENTS-V2.Local."));
	ck_assert_ptr_nonnull(tservice(t.reg, "payments-v3.local."));
	ck_assert_ptr_null(tservice(t.reg, "payments.local.")); /* a router */
	ck_assert_ptr_null(tservice(t.reg, "nothing.local."));
	ck_assert_ptr_null(tservice(t.reg, "payments-v1.other."));
	ck_assert_ptr_null(tservice(t.reg, "a.payments-v1.local."));

	ck_assert_ptr_nonnull(registry_find_instance(svc, "b"));
	ck_assert_str_eq(registry_find_instance(svc, "b")->id, "b");
	ck_assert_ptr_eq(registry_find_instance(svc, "b")->svc, svc);
	ck_assert_ptr_eq(registry_find_instance(svc, "B"), registry_find_instance(svc, "b"));
	ck_assert_ptr_null(registry_find_instance(svc, "d"));
	ck_assert_ptr_null(registry_find_instance(svc, ""));
	ck_assert_str_eq(registry_health_str(HEALTH_HEALTHY), "healthy");
	ck_assert_str_eq(registry_health_str(HEALTH_UNHEALTHY), "unhealthy");
	ck_assert_str_eq(registry_health_str(HEALTH_WARNING), "warning");
	tenv_free(&t);
}
END_TEST

START_TEST(test_set_health_counts_changes)
{
	struct tenv t;
	struct instance *a;
	uint64_t changes;
	uint32_t serial;

	tenv_load(&t, cfg_weights, NOW);
	a = tinstance(t.reg, "svc.local.", "a");
	ck_assert_int_eq(a->health, HEALTH_HEALTHY);
	changes = t.reg->changes;
	serial = a->svc->ns->serial;
	ck_assert_int_eq(registry_set_health(t.reg, a, HEALTH_HEALTHY, NOW), 0);
	ck_assert_uint_eq(t.reg->changes, changes);
	ck_assert_int_eq(registry_set_health(t.reg, a, HEALTH_WARNING, NOW), 1);
	ck_assert_uint_eq(t.reg->changes, changes + 1);
	ck_assert_uint_gt(a->svc->ns->serial, serial);
	/* warning -> healthy is not a recovery: no ramp restarts. */
	ck_assert_int_eq(registry_set_health(t.reg, a, HEALTH_HEALTHY, NOW + 1), 1);
	ck_assert_uint_eq(a->healthy_since_ms, 0);
	ck_assert_int_eq(registry_set_health(t.reg, a, HEALTH_UNHEALTHY, NOW + 2), 1);
	ck_assert_int_eq(registry_set_health(t.reg, a, HEALTH_HEALTHY, NOW + 3), 1);
	ck_assert_uint_eq(a->healthy_since_ms, NOW + 3);
	tenv_free(&t);
}
END_TEST

START_TEST(test_carry_health)
{
	static const char moved[] =
		"listen: [\"127.0.0.1:0\"]\n"
		"namespaces:\n"
		"  - name: local\n"
		"    services:\n"
		"      svc:\n"
		"        instances:\n"
		"          - {id: a, address: 10.0.0.1, port: 80}\n"
		"          - {id: b, address: 10.0.0.2, port: 80}\n"
		"          - {id: c, address: [10.0.0.3, \"fd00::3\"], port: 8080}\n"
		"          - {id: e, address: 10.0.0.5, port: 80}\n";
	struct tenv t1, t2, t3;

	tenv_load(&t1, cfg_health, NOW);
	registry_set_health(t1.reg, tinstance(t1.reg, "svc.local.", "b"), HEALTH_UNHEALTHY, NOW);
	registry_set_health(t1.reg, tinstance(t1.reg, "svc.local.", "c"), HEALTH_UNHEALTHY, NOW);
	registry_set_health(t1.reg, tinstance(t1.reg, "svc.local.", "c"), HEALTH_WARNING, NOW + 7);

	/* Same config reloaded: every health is carried. */
	tenv_load(&t2, cfg_health, NOW);
	ck_assert_int_eq(tinstance(t2.reg, "svc.local.", "b")->health, HEALTH_HEALTHY);
	registry_carry_health(t2.reg, t1.reg);
	ck_assert_int_eq(tinstance(t2.reg, "svc.local.", "a")->health, HEALTH_HEALTHY);
	ck_assert_int_eq(tinstance(t2.reg, "svc.local.", "b")->health, HEALTH_UNHEALTHY);
	ck_assert_int_eq(tinstance(t2.reg, "svc.local.", "c")->health, HEALTH_WARNING);
	ck_assert_uint_eq(tinstance(t2.reg, "svc.local.", "c")->healthy_since_ms, NOW + 7);
	tenv_rebuild(&t2, NOW);
	ck_assert_uint_eq(set_of(t2.v, "svc.local.")->n, 2);

	/* c moved to another port: it starts over as healthy; e is new. */
	tenv_load(&t3, moved, NOW);
	registry_carry_health(t3.reg, t1.reg);
	ck_assert_int_eq(tinstance(t3.reg, "svc.local.", "b")->health, HEALTH_UNHEALTHY);
	ck_assert_int_eq(tinstance(t3.reg, "svc.local.", "c")->health, HEALTH_HEALTHY);
	ck_assert_int_eq(tinstance(t3.reg, "svc.local.", "e")->health, HEALTH_HEALTHY);
	tenv_free(&t3);
	tenv_free(&t2);
	tenv_free(&t1);
}
END_TEST

/* ---- zone conflicts ---- */

static const char zone_soa[] =
	"$ORIGIN local.\n"
	"$TTL 300\n"
	"@ IN SOA ns.local. hostmaster.local. 1 3600 600 86400 5\n"
	"ns IN A 127.0.0.1\n";

/* Loads cfg_router with a zone of zone_soa + extra; returns registry_new's
 * code and leaves its message in err. */
static int load_with_zone(const char *extra, char path[64], char *err, size_t errlen)
{
	char text[1024], yaml[2048];
	struct config *cfg = NULL;
	struct registry *reg = NULL;
	int rc;

	snprintf(text, sizeof(text), "%s%s", zone_soa, extra);
	tzone_write(path, text);
	snprintf(yaml, sizeof(yaml),
		 "listen: [\"127.0.0.1:0\"]\n"
		 "namespaces:\n"
		 "  - name: local\n"
		 "    zone: %s\n"
		 "    services:\n"
		 "      payments-v1:\n"
		 "        instances:\n"
		 "          - {id: a, address: 10.0.1.1, port: 5000}\n"
		 "      payments-v2: {}\n"
		 "    routers:\n"
		 "      payments:\n"
		 "        routes:\n"
		 "          - {target: payments-v1, weight: 1}\n", path);
	rc = config_load_text(&cfg, "<test>", yaml, err, errlen);
	ck_assert_msg(rc == 0, "config: %s", err);
	err[0] = 0;
	rc = registry_new(&reg, cfg, err, errlen);
	if (rc == 0) {
		ck_assert_ptr_nonnull(reg);
		registry_free(reg);
	} else {
		ck_assert_ptr_null(reg);
	}
	config_free(cfg);
	unlink(path);
	return rc;
}

static void expect_conflict(const char *extra, int line)
{
	char path[64], err[CFG_ERR_MAX], prefix[96];
	int rc = load_with_zone(extra, path, err, sizeof(err));

	ck_assert_msg(rc == ERR_ZONE, "'%s': want ERR_ZONE, got %d (%s)", extra, rc, err);
	snprintf(prefix, sizeof(prefix), "%s:%d:", path, line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "want prefix '%s', got '%s'",
		      prefix, err);
}

START_TEST(test_zone_conflict)
{
	char path[64], err[CFG_ERR_MAX];

	expect_conflict("gw IN A 10.0.0.1\npayments-v1 IN A 10.9.9.9\n", 6);
	expect_conflict("payments-v1.local. IN TXT \"mine\"\n", 5);
	expect_conflict("x.payments-v1 IN A 10.9.9.9\n", 5);
	expect_conflict("_payments-v1._tcp IN SRV 0 0 80 gw.local.\n", 5);
	expect_conflict("PAYMENTS-V2 IN A 10.9.9.9\n", 5);      /* declared, empty */
	expect_conflict("payments IN A 10.9.9.9\n", 5);         /* a router */
	expect_conflict("x.payments IN A 10.9.9.9\n", 5);
	/* Names next to the services are fine. */
	ck_assert_int_eq(load_with_zone("payments-v1x IN A 10.0.0.1\n"
					"v1.payments-x IN A 10.0.0.1\n", path, err,
					sizeof(err)), 0);
}
END_TEST

/* Under _svc._tcp: the registry answers that name, so nothing goes below it. */
START_TEST(test_zone_conflict_under_service_srv_name)
{
	expect_conflict("x._payments-v1._tcp IN TXT \"mine\"\n", 5);
}
END_TEST

/* A router answers SRV at _router._tcp.<ns> just as a service does. */
START_TEST(test_zone_conflict_router_srv_name)
{
	expect_conflict("_payments._tcp IN TXT \"mine\"\n", 5);
}
END_TEST

/* Service _tcp's instance _web is named as service web's SRV name,
 * _web._tcp.local: the name answers web's SRV set, in either order of the
 * two services in the config. */
START_TEST(test_instance_named_as_srv_name)
{
	static const char *const orders[2][2] = {
		{ "      web:\n", "      _tcp:\n" }, { "      _tcp:\n", "      web:\n" },
	};

	for (int o = 0; o < 2; o++) {
		char yaml[1024], err[CFG_ERR_MAX];
		struct config *cfg = NULL;
		struct registry *reg = NULL;
		struct view *v = NULL;
		const struct vset *s;
		size_t len = 0;

		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"listen: [\"127.0.0.1:0\"]\nnamespaces:\n  - name: local\n"
					"    services:\n");
		for (int k = 0; k < 2; k++) {
			int web = orders[o][k][6] == 'w';

			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
						"%s        instances:\n"
						"          - {id: %s, address: 10.0.%d.1, port: 80}\n",
						orders[o][k], web ? "a" : "_web", web ? 1 : 2);
		}
		ck_assert_uint_lt(len, sizeof(yaml));
		ck_assert_msg(config_load_text(&cfg, "<test>", yaml, err, sizeof(err)) == 0, "%s",
			      err);
		ck_assert_int_eq(registry_new(&reg, cfg, err, sizeof(err)), 0);
		ck_assert_int_eq(view_build(&v, reg, NOW), 0);
		s = set_of(v, "_web._tcp.local.");
		ck_assert_ptr_eq(s, set_of(v, "web.local."));
		ck_assert_uint_eq(s->n, 1);
		ck_assert_ptr_eq(s->members[0].node, tnode(v, "a.web.local."));
		/* _tcp's own set still lists its instance, named by the node
		 * web's set holds, with its own address. */
		s = set_of(v, "_tcp.local.");
		assert_set_sane(s);
		ck_assert_uint_eq(s->n, 1);
		ck_assert_ptr_eq(s->members[0].node, tnode(v, "_web._tcp.local."));
		ck_assert_uint_eq(s->members[0].has4, 1);
		ck_assert_uint_eq(s->n4, 1);
		ck_assert_mem_eq(s->addr4[0], "\x0a\x00\x02\x01", 4);
		view_free(v);
		registry_free(reg);
		config_free(cfg);
	}
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("weights");

	tcase_add_test(tc, test_weights_proportional);
	tcase_add_test(tc, test_unhealthy_excluded_warning_factor);
	tcase_add_test(tc, test_warning_factor_configured);
	tcase_add_test(tc, test_all_unhealthy_all);
	tcase_add_test(tc, test_all_unhealthy_none);
	tcase_add_test(tc, test_weight_zero_share_equally);
	suite_add_tcase(s, tc);
	tc = tcase_create("routers");
	tcase_add_test(tc, test_router_90_10);
	tcase_add_test(tc, test_router_unhealthy_route_gives_share);
	tcase_add_test(tc, test_router_route_weight_zero);
	tcase_add_test(tc, test_router_warning_scaled_within_route);
	tcase_add_test(tc, test_router_same_target_twice);
	tcase_add_test(tc, test_slow_start);
	suite_add_tcase(s, tc);
	tc = tcase_create("registry");
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_set_health_counts_changes);
	tcase_add_test(tc, test_carry_health);
	tcase_add_test(tc, test_zone_conflict);
	tcase_add_test(tc, test_zone_conflict_under_service_srv_name);
	tcase_add_test(tc, test_zone_conflict_router_srv_name);
	tcase_add_test(tc, test_instance_named_as_srv_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(registry_suite(), NULL);
}
