/* test_xfr.c - zone transfers out of a view (xfr.c, ixfr.c): the serial
 * rule, a multi-message AXFR whose every message verifies with the running
 * TSIG MAC (RFC 8945 5.3.1, checked with ldns), the ACL, and IXFR
 * differences. */
#include <check.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "testutil.h"
#include "xfr.h"
#include "checkmain.h"

#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
#define NINST 2000

struct msgs {
	uint8_t *m[256];
	size_t len[256];
	size_t n;
};

static int collect(void *arg, const uint8_t *msg, size_t len)
{
	struct msgs *ms = arg;

	ck_assert_uint_lt(ms->n, 256);
	ms->m[ms->n] = malloc(len);
	ck_assert_ptr_nonnull(ms->m[ms->n]);
	memcpy(ms->m[ms->n], msg, len);
	ms->len[ms->n++] = len;
	return 0;
}

static void msgs_free(struct msgs *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->m[i]);
	ms->n = 0;
}

static char *big_yaml(const char *allow)
{
	size_t cap = 200 + NINST * 80, o = 0;
	char *y = malloc(cap);

	ck_assert_ptr_nonnull(y);
	o += (size_t)snprintf(y + o, cap - o,
		"listen: [\"127.0.0.1:0\"]\nupstream: []\nallow_transfer: [%s]\n"
		"namespaces:\n  - name: local\n    max_instances_per_service: 5000\n"
		"    services:\n      web:\n        instances:\n", allow);
	for (int i = 0; i < NINST; i++)
		o += (size_t)snprintf(y + o, cap - o,
			"          - {id: i%d, address: 10.%d.%d.1, port: 80}\n",
			i, i / 256, i % 256);
	snprintf(y + o, cap - o, "keys:\n  - {name: xk, secret: \"%s\"}\n"
		 "  - {name: other, secret: \"%s\"}\n", SECRET, SECRET);
	return y;
}

/* A transfer request for local. signed with key (NULL: unsigned); its MAC
 * goes to *mac. ixfr_serial 0: AXFR. */
static size_t request(uint8_t *out, const char *key, uint32_t ixfr_serial, ldns_rdf **mac)
{
	ldns_rdf *name = ldns_dname_new_frm_str("local.");
	ldns_pkt *p = ldns_pkt_query_new(name, ixfr_serial ? LDNS_RR_TYPE_IXFR : LDNS_RR_TYPE_AXFR,
					 LDNS_RR_CLASS_IN, 0);
	uint8_t *wire = NULL;
	size_t n = 0;

	ck_assert_ptr_nonnull(p);
	ldns_pkt_set_id(p, 4242);
	if (ixfr_serial) {
		char text[200];
		ldns_rr *soa = NULL;

		snprintf(text, sizeof(text), "local. 5 IN SOA ns.local. h.local. %u 1 1 1 1",
			 ixfr_serial);
		ck_assert_int_eq(ldns_rr_new_frm_str(&soa, text, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, soa);
	}
	if (key) {
		ck_assert_int_eq(ldns_pkt_tsig_sign(p, key, SECRET, 300, "hmac-sha256.", NULL),
				 LDNS_STATUS_OK);
		*mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3));
	}
	ck_assert_int_eq(ldns_pkt2wire(&wire, p, &n), LDNS_STATUS_OK);
	memcpy(out, wire, n);
	free(wire);
	ldns_pkt_free(p);
	return n;
}

/* Verifies every message's TSIG as a client does (RFC 8945 5.3.1) and
 * returns the answer records of all messages (caller frees). */
static ldns_rr_list *verify_all(const struct msgs *ms, ldns_rdf *mac)
{
	ldns_rr_list *all = ldns_rr_list_new();
	ldns_rdf *prev = mac;

	for (size_t i = 0; i < ms->n; i++) {
		ldns_pkt *p = NULL;

		ck_assert_uint_le(ms->len[i], 65535);
		ck_assert_int_eq(ldns_wire2pkt(&p, ms->m[i], ms->len[i]), LDNS_STATUS_OK);
		ck_assert_msg(ldns_pkt_tsig(p), "message %zu is not signed", i);
		ck_assert_msg(ldns_pkt_tsig_verify_next(p, ms->m[i], ms->len[i], "xk", SECRET, prev,
							i > 0),
			      "message %zu of %zu does not verify", i, ms->n);
		if (prev != mac)
			ldns_rdf_deep_free(prev);
		prev = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3));
		ck_assert_int_eq(ldns_pkt_get_rcode(p), 0);
		{
			ldns_rr_list *copy = ldns_rr_list_clone(ldns_pkt_answer(p));

			ck_assert_ptr_nonnull(copy);
			ck_assert(ldns_rr_list_push_rr_list(all, copy));
			ldns_rr_list_free(copy);   /* the records now belong to all */
		}
		ldns_pkt_free(p);
	}
	if (prev != mac)
		ldns_rdf_deep_free(prev);
	return all;
}

static uint32_t soa_serial(const ldns_rr *rr)
{
	ck_assert_int_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_SOA);
	return ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
}

static uint32_t view_soa(const struct tenv *t)
{
	const uint8_t w[] = "\005local";
	const struct vnode *apex = view_lookup(t->v, w, 7, wire_name_hash(w, 7));

	ck_assert_ptr_nonnull(apex);
	return view_serial(apex);
}

START_TEST(test_axfr_signed_multi_message)
{
	char *yaml = big_yaml("xk");
	struct tenv t;
	struct xfr *x;
	struct msgs ms = { .n = 0 };
	uint8_t req[1024];
	ldns_rdf *mac = NULL;
	ldns_rr_list *rrs;
	size_t n, na = 0, nsrv = 0;
	uint64_t now = (uint64_t)time(NULL);

	tenv_load(&t, yaml, 1000);
	ck_assert_int_eq(xfr_new(&x, NULL), 0);
	xfr_publish(x, t.v, t.cfg, now, NULL, NULL);
	ck_assert_uint_eq(view_soa(&t), (uint32_t)now);   /* max(1, unix time) */
	n = request(req, "xk", 0, &mac);
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 1, now, collect, &ms), 0);
	ck_assert_uint_gt(ms.n, 2);
	rrs = verify_all(&ms, mac);
	/* SOA, per instance A + TXT, at web and _web._tcp an A and an SRV each, SOA. */
	ck_assert_uint_eq(ldns_rr_list_rr_count(rrs), 2 + NINST * 2 + NINST * 4);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(rrs, 0)), (uint32_t)now);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(rrs, ldns_rr_list_rr_count(rrs) - 1)),
			  (uint32_t)now);
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		ldns_rr_type ty = ldns_rr_get_type(ldns_rr_list_rr(rrs, i));

		na += ty == LDNS_RR_TYPE_A;
		nsrv += ty == LDNS_RR_TYPE_SRV;
	}
	ck_assert_uint_eq(na, 3 * NINST);
	ck_assert_uint_eq(nsrv, 2 * NINST);
	ldns_rr_list_deep_free(rrs);
	ldns_rdf_deep_free(mac);
	msgs_free(&ms);
	xfr_free(x);
	tenv_free(&t);
	free(yaml);
}
END_TEST

static int rcode_of(const struct msgs *ms)
{
	ck_assert_uint_eq(ms->n, 1);
	return ms->m[0][3] & 0xF;
}

START_TEST(test_acl)
{
	char *yaml = big_yaml("xk");
	struct tenv t;
	struct xfr *x;
	struct msgs ms = { .n = 0 };
	uint8_t req[1024];
	ldns_rdf *mac = NULL;
	size_t n;
	uint64_t now = (uint64_t)time(NULL);

	tenv_load(&t, yaml, 1000);
	ck_assert_int_eq(xfr_new(&x, NULL), 0);
	xfr_publish(x, t.v, t.cfg, now, NULL, NULL);
	n = request(req, NULL, 0, NULL);
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 1, now, collect, &ms), 0);
	ck_assert_int_eq(rcode_of(&ms), 5);   /* REFUSED */
	msgs_free(&ms);
	n = request(req, "other", 0, &mac);    /* a valid key, not in allow_transfer */
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 1, now, collect, &ms), 0);
	ck_assert_int_eq(rcode_of(&ms), 5);
	msgs_free(&ms);
	ldns_rdf_deep_free(mac);
	n = request(req, "xk", 0, &mac);
	req[n - 30] ^= 1;                      /* inside the MAC */
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 1, now, collect, &ms), 0);
	ck_assert_int_eq(rcode_of(&ms), 9);   /* NOTAUTH (BADSIG) */
	{
		/* RFC 8945 5.3.2: the unsigned TSIG error record. */
		ldns_pkt *p = NULL;
		const ldns_rr *tr;

		ck_assert_int_eq(ldns_wire2pkt(&p, ms.m[0], ms.len[0]), LDNS_STATUS_OK);
		ck_assert_ptr_nonnull(tr = ldns_pkt_tsig(p));
		ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(tr, 3)), 2);       /* no MAC */
		ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(tr, 5)), 16);
		ldns_pkt_free(p);
	}
	msgs_free(&ms);
	ldns_rdf_deep_free(mac);
	n = request(req, "xk", 0, &mac);       /* AXFR over UDP: FORMERR */
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 0, now, collect, &ms), 0);
	ck_assert_int_eq(rcode_of(&ms), 1);
	msgs_free(&ms);
	ldns_rdf_deep_free(mac);
	xfr_free(x);
	tenv_free(&t);
	free(yaml);
}
END_TEST

START_TEST(test_serial_and_ixfr)
{
	char *yaml = big_yaml("xk");
	struct tenv t;
	struct xfr *x;
	struct msgs ms = { .n = 0 };
	uint8_t req[1024];
	ldns_rdf *mac = NULL;
	ldns_rr_list *rrs;
	size_t n;
	uint32_t s0, s1;
	uint64_t now = (uint64_t)time(NULL);
	struct service *svc;

	tenv_load(&t, yaml, 1000);
	ck_assert_int_eq(xfr_new(&x, NULL), 0);
	xfr_publish(x, t.v, t.cfg, now, NULL, NULL);
	s0 = view_soa(&t);
	tenv_rebuild(&t, 1000);
	xfr_publish(x, t.v, t.cfg, now, NULL, NULL);
	ck_assert_uint_eq(view_soa(&t), s0);   /* same records: same serial */
	svc = &t.reg->ns[0].services[0];
	ck_assert_int_eq(registry_set_health(t.reg, svc->inst[7], HEALTH_UNHEALTHY, 1000), 1);
	tenv_rebuild(&t, 1000);
	xfr_publish(x, t.v, t.cfg, now, NULL, NULL);
	s1 = view_soa(&t);
	ck_assert_uint_eq(s1, s0 + 1);         /* same second: last + 1 */

	n = request(req, "xk", s0, &mac);
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 1, now, collect, &ms), 0);
	rrs = verify_all(&ms, mac);
	/* SOA s1, SOA s0, -TXT healthy, -A/-SRV at two set names, SOA s1,
	 * +TXT unhealthy, SOA s1. */
	ck_assert_uint_eq(ldns_rr_list_rr_count(rrs), 10);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(rrs, 0)), s1);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(rrs, 1)), s0);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(rrs, 7)), s1);
	ck_assert_uint_eq(soa_serial(ldns_rr_list_rr(rrs, 9)), s1);
	ldns_rr_list_deep_free(rrs);
	msgs_free(&ms);
	ldns_rdf_deep_free(mac);

	n = request(req, "xk", s1, &mac);     /* up to date: the SOA alone */
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 1, now, collect, &ms), 0);
	rrs = verify_all(&ms, mac);
	ck_assert_uint_eq(ldns_rr_list_rr_count(rrs), 1);
	ldns_rr_list_deep_free(rrs);
	msgs_free(&ms);
	ldns_rdf_deep_free(mac);

	n = request(req, "xk", s0 - 5, &mac); /* not in the history: the whole zone */
	ck_assert_int_eq(xfr_answer(x, t.v, t.cfg, req, n, 1, now, collect, &ms), 0);
	rrs = verify_all(&ms, mac);
	ck_assert_uint_eq(ldns_rr_list_rr_count(rrs), 2 + (NINST - 1) * 6 + 2);
	ldns_rr_list_deep_free(rrs);
	msgs_free(&ms);
	ldns_rdf_deep_free(mac);
	xfr_free(x);
	tenv_free(&t);
	free(yaml);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xfr");
	TCase *tc = tcase_create("xfr");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_axfr_signed_multi_message);
	tcase_add_test(tc, test_acl);
	tcase_add_test(tc, test_serial_and_ixfr);
	suite_add_tcase(s, tc);
	return check_run(s, NULL);
}
