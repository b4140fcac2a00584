/* test_cache.c - check suite for resolver/cache.c.
 *
 * Upstream answers are built with ldns as an upstream would send them, put
 * into a cache with a chosen clock (seconds), looked up, rendered for a
 * client and parsed back with ldns, so every assertion is about the wire a
 * client would see: TTLs counted down and clamped, RFC 2308 negative
 * caching, serve-stale (RFC 8767), the bounds and the LRU order, and the
 * client's ID, question case and flags restored. */
#include <check.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>
#include "cache.h"
#include "wire.h"
#include "checkmain.h"

#define T0 1000000u

static struct cache *C;

static struct cache_cfg cfg_default(void)
{
	struct cache_cfg c = { .max_entries = 100, .max_bytes = 1 << 20, .min_ttl = 0,
			       .max_ttl = 86400, .max_negative_ttl = 3600, .stale_ttl = 0 };
	return c;
}

static void setup_with(struct cache_cfg c)
{
	ck_assert_int_eq(cache_new(&C, &c), 0);
}

static void teardown(void)
{
	cache_free(C);
	C = NULL;
}

/* An upstream answer for (name, type): rcode, answer records (zone-file
 * lines), an optional SOA in the authority section. Returns malloc'ed wire. */
static uint8_t *answer(const char *name, ldns_rr_type type, ldns_pkt_rcode rcode,
		       const char *const *rrs, const char *soa, size_t *len)
{
	ldns_pkt *p = NULL;
	ldns_rr *rr = NULL;
	uint8_t *wire = NULL;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_id(p, 4242);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	for (; rrs && *rrs; rrs++) {
		ck_assert_int_eq(ldns_rr_new_frm_str(&rr, *rrs, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	if (soa) {
		ck_assert_int_eq(ldns_rr_new_frm_str(&rr, soa, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	ck_assert_int_eq(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return wire;
}

/* The lower-cased wire form of name, into buf; returns its length. */
static size_t qname(const char *name, uint8_t *buf)
{
	ldns_rdf *d = ldns_dname_new_frm_str(name);
	size_t n;

	ck_assert_ptr_nonnull(d);
	ldns_dname2canonical(d);
	n = ldns_rdf_size(d);
	memcpy(buf, ldns_rdf_data(d), n);
	ldns_rdf_deep_free(d);
	return n;
}

static const struct cache_entry *put(const char *name, ldns_rr_type type, const uint8_t *msg,
				     size_t len, uint64_t now)
{
	uint8_t q[256];
	size_t n = qname(name, q);

	return cache_put(C, q, n, type, LDNS_RR_CLASS_IN, msg, len, now);
}

static const struct cache_entry *get(const char *name, ldns_rr_type type, uint64_t now,
				     int allow_stale, int *stale)
{
	uint8_t q[256];
	size_t n = qname(name, q);
	int dummy = 0;

	return cache_get(C, q, n, type, LDNS_RR_CLASS_IN, now, allow_stale,
			 stale ? stale : &dummy);
}

/* Renders e for a client that asked `asked` (its letter case) with id;
 * returns the parsed packet (the caller frees it). */
static ldns_pkt *render(const struct cache_entry *e, uint64_t now, int stale, const char *asked,
			ldns_rr_type type, uint16_t id)
{
	uint8_t qbuf[300], out[4096];
	ldns_rdf *d = ldns_dname_new_frm_str(asked);
	struct cache_client cl = { .id = id, .flags = 0x0100, .udp_max = 1232, .payload = 512 };
	size_t n, qlen;
	ldns_pkt *p = NULL;

	ck_assert_ptr_nonnull(d);
	qlen = ldns_rdf_size(d);
	memcpy(qbuf, ldns_rdf_data(d), qlen);
	ldns_rdf_deep_free(d);
	qbuf[qlen] = (uint8_t)(type >> 8);
	qbuf[qlen + 1] = (uint8_t)type;
	qbuf[qlen + 2] = 0;
	qbuf[qlen + 3] = 1;
	cl.question = qbuf;
	cl.question_len = qlen + 4;
	n = cache_render(e, now, stale, &cl, out, sizeof(out));
	ck_assert_uint_gt(n, 12);
	ck_assert_int_eq(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
	return p;
}

static uint32_t first_ttl(const ldns_pkt *p, ldns_pkt_section s)
{
	const ldns_rr_list *l = s == LDNS_SECTION_ANSWER ? ldns_pkt_answer(p) : ldns_pkt_authority(p);

	ck_assert_uint_gt(ldns_rr_list_rr_count(l), 0);
	return ldns_rr_ttl(ldns_rr_list_rr(l, 0));
}

static const char *const WWW[] = { "www.example.com. 300 IN A 192.0.2.80",
				   "www.example.com. 300 IN A 192.0.2.81", NULL };
static const char *const SOA = "example.com. 600 IN SOA ns.example.com. h.example.com. "
			       "1 3600 600 86400 120";

START_TEST(test_hit_and_countdown)
{
	size_t len;
	uint8_t *m = answer("www.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, WWW, NULL, &len);
	const struct cache_entry *e;
	ldns_pkt *p;

	ck_assert_ptr_nonnull(put("www.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	ck_assert_ptr_null(get("www.example.com.", LDNS_RR_TYPE_AAAA, T0, 0, NULL));
	ck_assert_ptr_null(get("other.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
	e = get("WWW.Example.COM.", LDNS_RR_TYPE_A, T0 + 100, 0, NULL);
	ck_assert_msg(e != NULL, "lookup is case-insensitive");
	p = render(e, T0 + 100, 0, "WwW.ExAmPlE.cOm.", LDNS_RR_TYPE_A, 777);
	ck_assert_uint_eq(ldns_pkt_id(p), 777);
	ck_assert(ldns_pkt_qr(p));
	ck_assert(ldns_pkt_rd(p));
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 2);
	ck_assert_uint_eq(first_ttl(p, LDNS_SECTION_ANSWER), 200);
	{
		/* The question keeps the client's letter case (0x20 clients). */
		char *q = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));

		ck_assert_str_eq(q, "WwW.ExAmPlE.cOm.");
		free(q);
	}
	ldns_pkt_free(p);
	ck_assert_ptr_null(get("www.example.com.", LDNS_RR_TYPE_A, T0 + 300, 0, NULL));
	free(m);
}
END_TEST

START_TEST(test_clamps)
{
	struct cache_cfg c = cfg_default();
	size_t len;
	uint8_t *m;
	const struct cache_entry *e;
	ldns_pkt *p;
	static const char *const SHORT[] = { "a.example.com. 5 IN A 192.0.2.1", NULL };
	static const char *const LONG[] = { "b.example.com. 999999 IN A 192.0.2.2", NULL };

	teardown();
	c.min_ttl = 60;
	c.max_ttl = 3600;
	setup_with(c);
	m = answer("a.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, SHORT, NULL, &len);
	ck_assert_ptr_nonnull(put("a.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	free(m);
	e = get("a.example.com.", LDNS_RR_TYPE_A, T0 + 30, 0, NULL);
	ck_assert_msg(e != NULL, "a 5 s TTL is raised to min_ttl 60");
	p = render(e, T0 + 30, 0, "a.example.com.", LDNS_RR_TYPE_A, 1);
	ck_assert_uint_eq(first_ttl(p, LDNS_SECTION_ANSWER), 30);
	ldns_pkt_free(p);
	m = answer("b.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, LONG, NULL, &len);
	ck_assert_ptr_nonnull(put("b.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	free(m);
	e = get("b.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL);
	p = render(e, T0, 0, "b.example.com.", LDNS_RR_TYPE_A, 1);
	ck_assert_uint_eq(first_ttl(p, LDNS_SECTION_ANSWER), 3600);
	ldns_pkt_free(p);
	ck_assert_ptr_null(get("b.example.com.", LDNS_RR_TYPE_A, T0 + 3600, 0, NULL));
}
END_TEST

START_TEST(test_negative)
{
	size_t len;
	uint8_t *m;
	const struct cache_entry *e;
	ldns_pkt *p;

	/* NXDOMAIN with an SOA: kept for min(SOA TTL 600, minimum 120). */
	m = answer("nx.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, NULL, SOA, &len);
	ck_assert_ptr_nonnull(put("nx.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	free(m);
	e = get("nx.example.com.", LDNS_RR_TYPE_A, T0 + 20, 0, NULL);
	ck_assert_ptr_nonnull(e);
	p = render(e, T0 + 20, 0, "nx.example.com.", LDNS_RR_TYPE_A, 9);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ck_assert_uint_eq(first_ttl(p, LDNS_SECTION_AUTHORITY), 100);
	ldns_pkt_free(p);
	ck_assert_ptr_null(get("nx.example.com.", LDNS_RR_TYPE_A, T0 + 120, 0, NULL));

	/* NODATA (NOERROR, no answer) with an SOA: cached the same way. */
	m = answer("www.example.com.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, NULL, SOA, &len);
	ck_assert_ptr_nonnull(put("www.example.com.", LDNS_RR_TYPE_AAAA, m, len, T0));
	free(m);
	e = get("www.example.com.", LDNS_RR_TYPE_AAAA, T0 + 119, 0, NULL);
	ck_assert_ptr_nonnull(e);
	p = render(e, T0 + 119, 0, "www.example.com.", LDNS_RR_TYPE_AAAA, 9);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_answer(p)), 0);
	ldns_pkt_free(p);

	/* Without an SOA a negative answer is not cached (RFC 2308 5). */
	m = answer("bare.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, NULL, NULL, &len);
	ck_assert_ptr_null(put("bare.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	free(m);
	/* Nor are SERVFAIL answers. */
	m = answer("sf.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_SERVFAIL, NULL, NULL, &len);
	ck_assert_ptr_null(put("sf.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	free(m);
}
END_TEST

START_TEST(test_negative_cap)
{
	struct cache_cfg c = cfg_default();
	size_t len;
	uint8_t *m;
	static const char *const BIG_SOA = "example.com. 86400 IN SOA ns.example.com. "
					   "h.example.com. 1 3600 600 86400 86400";

	teardown();
	c.max_negative_ttl = 50;
	setup_with(c);
	m = answer("nx.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, NULL, BIG_SOA, &len);
	ck_assert_ptr_nonnull(put("nx.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	free(m);
	ck_assert_ptr_nonnull(get("nx.example.com.", LDNS_RR_TYPE_A, T0 + 49, 0, NULL));
	ck_assert_ptr_null(get("nx.example.com.", LDNS_RR_TYPE_A, T0 + 50, 0, NULL));
}
END_TEST

START_TEST(test_stale)
{
	struct cache_cfg c = cfg_default();
	size_t len;
	uint8_t *m;
	const struct cache_entry *e;
	int stale = 0;
	ldns_pkt *p;

	teardown();
	c.stale_ttl = 600;
	setup_with(c);
	m = answer("www.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, WWW, NULL, &len);
	ck_assert_ptr_nonnull(put("www.example.com.", LDNS_RR_TYPE_A, m, len, T0));
	free(m);
	/* Expired: not for a normal lookup... */
	ck_assert_ptr_null(get("www.example.com.", LDNS_RR_TYPE_A, T0 + 400, 0, NULL));
	/* ...but while the upstream fails, within stale_ttl, with TTL 30. */
	e = get("www.example.com.", LDNS_RR_TYPE_A, T0 + 400, 1, &stale);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(stale, 1);
	p = render(e, T0 + 400, stale, "www.example.com.", LDNS_RR_TYPE_A, 5);
	ck_assert_uint_eq(first_ttl(p, LDNS_SECTION_ANSWER), 30);
	ldns_pkt_free(p);
	/* A live entry is not stale. */
	stale = -1;
	ck_assert_ptr_null(get("www.example.com.", LDNS_RR_TYPE_A, T0 + 300 + 600, 1, &stale));
}
END_TEST

START_TEST(test_bounds_lru)
{
	struct cache_cfg c = cfg_default();
	struct cache_stats st;
	char name[64], line[128];
	size_t len;
	uint8_t *m;

	teardown();
	c.max_entries = 3;
	setup_with(c);
	for (int i = 0; i < 3; i++) {
		const char *rr[] = { line, NULL };

		snprintf(name, sizeof(name), "n%d.example.com.", i);
		snprintf(line, sizeof(line), "%s 300 IN A 192.0.2.%d", name, i + 1);
		m = answer(name, LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, rr, NULL, &len);
		ck_assert_ptr_nonnull(put(name, LDNS_RR_TYPE_A, m, len, T0));
		free(m);
	}
	/* n0 is used, so n1 is now the least recently used. */
	ck_assert_ptr_nonnull(get("n0.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
	{
		const char *rr[] = { "n3.example.com. 300 IN A 192.0.2.4", NULL };

		m = answer("n3.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, rr, NULL, &len);
		ck_assert_ptr_nonnull(put("n3.example.com.", LDNS_RR_TYPE_A, m, len, T0));
		free(m);
	}
	ck_assert_ptr_null(get("n1.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
	ck_assert_ptr_nonnull(get("n0.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
	ck_assert_ptr_nonnull(get("n2.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
	ck_assert_ptr_nonnull(get("n3.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
	cache_get_stats(C, &st);
	ck_assert_uint_eq(st.entries, 3);
	ck_assert_uint_ge(st.evictions, 1);

	/* A byte bound below one answer's size keeps nothing that exceeds it. */
	c.max_entries = 100;
	c.max_bytes = 64;
	cache_set_cfg(C, &c);
	cache_get_stats(C, &st);
	ck_assert_uint_le(st.bytes, 64);
}
END_TEST

START_TEST(test_byte_bound)
{
	struct cache_cfg c = cfg_default();
	struct cache_stats st;
	char name[64], line[128];
	size_t len;
	uint8_t *m;

	teardown();
	c.max_bytes = 2000;
	setup_with(c);
	for (int i = 0; i < 200; i++) {
		const char *rr[] = { line, NULL };

		snprintf(name, sizeof(name), "n%d.example.com.", i);
		snprintf(line, sizeof(line), "%s 300 IN A 192.0.2.1", name);
		m = answer(name, LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, rr, NULL, &len);
		put(name, LDNS_RR_TYPE_A, m, len, T0);
		free(m);
		cache_get_stats(C, &st);
		ck_assert_uint_le(st.bytes, 2000);
	}
	ck_assert_uint_gt(st.entries, 0);
	ck_assert_uint_lt(st.entries, 100);
	/* The newest is kept, the oldest is gone. */
	ck_assert_ptr_nonnull(get("n199.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
	ck_assert_ptr_null(get("n0.example.com.", LDNS_RR_TYPE_A, T0, 0, NULL));
}
END_TEST

START_TEST(test_error_render)
{
	uint8_t q[64], out[512];
	size_t qlen = qname("x.example.com.", q), n;
	struct cache_client cl = { .id = 99, .flags = 0x0100, .edns = 1, .payload = 1232,
				   .udp_max = 1232 };
	ldns_pkt *p = NULL;

	q[qlen] = 0, q[qlen + 1] = 1, q[qlen + 2] = 0, q[qlen + 3] = 1;
	cl.question = q;
	cl.question_len = qlen + 4;
	n = cache_render_error(LDNS_RCODE_SERVFAIL, 22, "no upstream answered", &cl, out,
			       sizeof(out));
	ck_assert_uint_gt(n, 12);
	ck_assert_int_eq(ldns_wire2pkt(&p, out, n), LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ck_assert_uint_eq(ldns_pkt_id(p), 99);
	ck_assert(ldns_pkt_edns(p));
	{
		/* The EDE option (code 15): info 22 and the text. */
		const ldns_rdf *d = ldns_pkt_edns_data(p);
		const uint8_t *o;

		ck_assert_ptr_nonnull(d);
		o = ldns_rdf_data(d);
		ck_assert_uint_ge(ldns_rdf_size(d), 6);
		ck_assert_uint_eq(o[0] << 8 | o[1], 15);
		ck_assert_uint_eq(o[4] << 8 | o[5], 22);
		ck_assert(memmem(o, ldns_rdf_size(d), "no upstream answered", 20) != NULL);
	}
	ldns_pkt_free(p);
}
END_TEST

static void setup(void)
{
	setup_with(cfg_default());
}

/* Each test starts with a default cache; tests that need other limits
 * replace it. */
static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hit_and_countdown);
	tcase_add_test(tc, test_clamps);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_negative_cap);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_bounds_lru);
	tcase_add_test(tc, test_byte_bound);
	tcase_add_test(tc, test_error_render);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(cache_suite(), NULL);
}
