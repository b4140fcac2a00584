/* test_forward.c - check suites for meshdns-forward's pure modules:
 * forwarder/srv.h (SRV answers and their glue, built with ldns or by hand),
 * forwarder/balance.h (weighted picks, tested statistically as in
 * test_wrand.c, and outlier ejection on a fake clock) and forwarder/opts.h
 * (flags and the YAML file). */
#include <arpa/inet.h>
#include <check.h>
#include <getopt.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "balance.h"
#include "err.h"
#include "opts.h"
#include "srv.h"
#include "wrand.h"
#include "checkmain.h"

#define DRAWS 10000
#define TOL 1.5
#define SEED 0x6d657368646e73ull

/* ---- building answers ---- */

/* An answer to qname/qtype with the given RRs (text, NULL-terminated lists)
 * in the answer and additional sections, as wire bytes in a buffer of exactly
 * *len bytes (so ASan sees any read past the end). */
static uint8_t *answer(size_t *len, ldns_pkt_rcode rcode, const char *q,
		       const char *const *an, const char *const *ad)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *rr;
	uint8_t *wire = NULL, *out;
	char qtext[512];

	ck_assert_ptr_nonnull(p);
	ldns_pkt_set_id(p, 4242);
	ldns_pkt_set_qr(p, 1);
	ldns_pkt_set_aa(p, 1);
	ldns_pkt_set_rcode(p, rcode);
	snprintf(qtext, sizeof(qtext), "%s", q);
	ck_assert_int_eq(ldns_rr_new_question_frm_str(&rr, qtext, NULL, NULL), LDNS_STATUS_OK);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	for (size_t i = 0; an && an[i]; i++) {
		ck_assert_msg(ldns_rr_new_frm_str(&rr, an[i], 0, NULL, NULL) == LDNS_STATUS_OK,
			      "bad RR text %s", an[i]);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	for (size_t i = 0; ad && ad[i]; i++) {
		ck_assert_msg(ldns_rr_new_frm_str(&rr, ad[i], 0, NULL, NULL) == LDNS_STATUS_OK,
			      "bad RR text %s", ad[i]);
		ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, rr);
	}
	ck_assert_int_eq(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	out = malloc(*len);
	ck_assert_ptr_nonnull(out);
	memcpy(out, wire, *len);
	LDNS_FREE(wire);
	ldns_pkt_free(p);
	return out;
}

static int parse(const uint8_t *m, size_t len, struct srv_set *s)
{
	return srv_parse(m, len, s);
}

static void name_text(const struct srv_target *t, char *out, size_t n)
{
	ldns_rdf *r = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, t->name_len, t->name);
	char *s;

	ck_assert_ptr_nonnull(r);
	s = ldns_rdf2str(r);
	snprintf(out, n, "%s", s);
	free(s);
	ldns_rdf_deep_free(r);
}

/* The target named `name` in s, or NULL. */
static const struct srv_target *find_target(const struct srv_set *s, const char *name)
{
	char text[1100];

	for (size_t i = 0; i < s->n; i++) {
		name_text(&s->t[i], text, sizeof(text));
		if (!strcmp(text, name))
			return &s->t[i];
	}
	return NULL;
}

static void assert_v4(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
	char buf[INET_ADDRSTRLEN];

	ck_assert_int_eq(a->sin_family, AF_INET);
	ck_assert_str_eq(inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf)), ip);
	ck_assert_uint_eq(ntohs(a->sin_port), port);
}

static void assert_v6(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN];

	ck_assert_int_eq(a->sin6_family, AF_INET6);
	ck_assert_str_eq(inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf)), ip);
	ck_assert_uint_eq(ntohs(a->sin6_port), port);
}

static struct srv_set set; /* large: keep it off the stack */

static const char *const glue_an[] = {
	"payments.local. 5 IN SRV 0 65535 8001 A.Payments-V1.local.",
	"payments.local. 3 IN SRV 0 7282 8002 b.payments-v2.local.",
	NULL
};
static const char *const glue_ad[] = {
	"a.payments-v1.local. 5 IN A 127.0.0.31",
	"a.payments-v1.local. 5 IN AAAA fd00::31",
	"b.payments-v2.local. 5 IN A 127.0.0.32",
	"unrelated.local. 5 IN A 10.9.9.9",
	NULL
};

/* ---- srv ---- */

START_TEST(test_srv_glue)
{
	size_t len;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "payments.local. IN SRV", glue_an, glue_ad);
	const struct srv_target *a, *b;

	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_int_eq(set.rcode, 0);
	ck_assert_uint_eq(set.n, 2);
	ck_assert_uint_eq(set.ttl, 3);
	a = find_target(&set, "a.payments-v1.local.");  /* lower-cased */
	b = find_target(&set, "b.payments-v2.local.");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(a->priority, 0);
	ck_assert_uint_eq(a->weight, 65535);
	ck_assert_uint_eq(a->port, 8001);
	ck_assert_int_eq(a->naddr, 2);
	assert_v4(&a->addr[0], "127.0.0.31", 8001);
	assert_v6(&a->addr[1], "fd00::31", 8001);
	ck_assert_uint_eq(b->weight, 7282);
	ck_assert_int_eq(b->naddr, 1);
	assert_v4(&b->addr[0], "127.0.0.32", 8002);
	free(m);
}
END_TEST

/* Glue in the answer section before its SRV record still counts. */
START_TEST(test_srv_glue_first)
{
	static const char *const an[] = {
		"x.svc.local. 5 IN A 10.0.0.7",
		"svc.local. 9 IN SRV 1 10 7000 x.svc.local.",
		NULL
	};
	size_t len;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "svc.local. IN SRV", an, NULL);

	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.ttl, 9);
	ck_assert_int_eq(set.t[0].naddr, 1);
	assert_v4(&set.t[0].addr[0], "10.0.0.7", 7000);
	free(m);
}
END_TEST

START_TEST(test_srv_no_glue)
{
	static const char *const an[] = {
		"svc.local. 5 IN SRV 0 10 7000 x.svc.local.",
		"svc.local. 5 IN SRV 0 20 7001 y.svc.local.",
		NULL
	};
	static const char *const ax[] = {
		"x.svc.local. 5 IN A 10.0.0.1",
		"x.svc.local. 5 IN A 10.0.0.2",
		"x.svc.local. 5 IN A 10.0.0.3",  /* beyond the two kept */
		NULL
	};
	static const char *const ay[] = { "Y.svc.local. 5 IN AAAA 2001:db8::9", NULL };
	static const char *const bad_a[] = { "y.svc.local. 5 IN TXT \"x\"", NULL };
	size_t len, la, ly, lb;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "svc.local. IN SRV", an, NULL);
	uint8_t *ma = answer(&la, LDNS_RCODE_NOERROR, "x.svc.local. IN A", ax, NULL);
	uint8_t *my = answer(&ly, LDNS_RCODE_NOERROR, "y.svc.local. IN AAAA", ay, NULL);
	uint8_t *mb = answer(&lb, LDNS_RCODE_NOERROR, "y.svc.local. IN A", bad_a, NULL);
	const struct srv_target *x, *y;

	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_uint_eq(set.n, 2);
	x = find_target(&set, "x.svc.local.");
	y = find_target(&set, "y.svc.local.");
	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(y);
	ck_assert_int_eq(x->naddr, 0);
	ck_assert_int_eq(y->naddr, 0);

	ck_assert_int_eq(srv_add_addresses(&set, mb, lb), 0);  /* no address in it */
	ck_assert_int_eq(y->naddr, 0);
	ck_assert_int_eq(srv_add_addresses(&set, ma, la), 0);
	ck_assert_int_eq(x->naddr, 2);
	assert_v4(&x->addr[0], "10.0.0.1", 7000);
	assert_v4(&x->addr[1], "10.0.0.2", 7000);
	ck_assert_int_eq(y->naddr, 0);
	ck_assert_int_eq(srv_add_addresses(&set, my, ly), 0);
	ck_assert_int_eq(y->naddr, 1);
	assert_v6(&y->addr[0], "2001:db8::9", 7001);
	ck_assert_uint_eq(set.n, 2);
	free(m);
	free(ma);
	free(my);
	free(mb);
}
END_TEST

/* srv_add_addresses keeps the SRV answer's rcode, whatever the A answer's. */
START_TEST(test_srv_add_keeps_rcode)
{
	static const char *const an[] = { "svc.local. 5 IN SRV 0 10 7000 x.svc.local.", NULL };
	size_t len, la;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "svc.local. IN SRV", an, NULL);
	uint8_t *ma = answer(&la, LDNS_RCODE_NXDOMAIN, "x.svc.local. IN A", NULL, NULL);

	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_int_eq(srv_add_addresses(&set, ma, la), 0);
	ck_assert_int_eq(set.rcode, 0);
	ck_assert_int_eq(set.t[0].naddr, 0);
	free(m);
	free(ma);
}
END_TEST

START_TEST(test_srv_lowest_priority)
{
	static const char *const an[] = {
		"svc.local. 2 IN SRV 10 1 1000 p10.local.",
		"svc.local. 30 IN SRV 5 1 1001 p5a.local.",
		"svc.local. 20 IN SRV 20 1 1002 p20.local.",
		"svc.local. 40 IN SRV 5 2 1003 p5b.local.",
		NULL
	};
	size_t len;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "svc.local. IN SRV", an, NULL);

	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_uint_eq(set.n, 2);
	ck_assert_ptr_nonnull(find_target(&set, "p5a.local."));
	ck_assert_ptr_nonnull(find_target(&set, "p5b.local."));
	ck_assert_uint_eq(set.t[0].priority, 5);
	ck_assert_uint_eq(set.t[1].priority, 5);
	ck_assert_uint_eq(set.ttl, 30);  /* the smallest of the records kept */
	free(m);
}
END_TEST

START_TEST(test_srv_ttl_min)
{
	static const char *const an[] = {
		"svc.local. 60 IN SRV 0 1 1000 a.local.",
		"svc.local. 7 IN SRV 0 1 1001 b.local.",
		"svc.local. 300 IN SRV 0 1 1002 c.local.",
		NULL
	};
	size_t len;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "svc.local. IN SRV", an, NULL);

	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_uint_eq(set.n, 3);
	ck_assert_uint_eq(set.ttl, 7);
	free(m);
}
END_TEST

START_TEST(test_srv_nxdomain_nodata)
{
	static const char *const soa[] = {
		"local. 5 IN SOA ns.local. hostmaster.local. 1 3600 600 86400 5", NULL
	};
	size_t len;
	uint8_t *m = answer(&len, LDNS_RCODE_NXDOMAIN, "nope.local. IN SRV", NULL, soa);

	set.n = 99;
	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_int_eq(set.rcode, 3);
	ck_assert_uint_eq(set.n, 0);
	free(m);
	m = answer(&len, LDNS_RCODE_NOERROR, "empty.local. IN SRV", NULL, soa);
	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_int_eq(set.rcode, 0);
	ck_assert_uint_eq(set.n, 0);
	free(m);
}
END_TEST

START_TEST(test_srv_max)
{
	enum { N = SRV_MAX + 20 };
	static char text[N][96];
	static const char *an[N + 1];
	size_t len;
	uint8_t *m;

	for (int i = 0; i < N; i++) {
		snprintf(text[i], sizeof(text[i]), "s.local. 5 IN SRV 0 1 %d t%d.local.", 1000 + i, i);
		an[i] = text[i];
	}
	an[N] = NULL;
	m = answer(&len, LDNS_RCODE_NOERROR, "s.local. IN SRV", an, NULL);
	ck_assert_int_eq(parse(m, len, &set), 0);
	ck_assert_uint_eq(set.n, SRV_MAX);
	free(m);
}
END_TEST

/* Hand-made messages: header, question s.local SRV, then `rrs` bytes. */
static size_t hand(uint8_t *out, uint16_t ancount, const uint8_t *rrs, size_t rlen)
{
	static const uint8_t head[] = {
		0x12, 0x34, 0x84, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		1, 's', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 33, 0, 1,
	};
	memcpy(out, head, sizeof(head));
	out[6] = (uint8_t)(ancount >> 8);
	out[7] = (uint8_t)ancount;
	memcpy(out + sizeof(head), rrs, rlen);
	return sizeof(head) + rlen;
}

static int parse_copy(const uint8_t *m, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	int rc;

	memcpy(c, m, len);
	rc = srv_parse(c, len, &set);
	free(c);
	return rc;
}

START_TEST(test_srv_malformed)
{
	/* 0xc00c: the question name. SRV 0 1 80 "t." (rdlen 9). */
	static const uint8_t good[] = {
		0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 5, 0, 9,
		0, 0, 0, 1, 0, 80, 1, 't', 0,
	};
	/* rdlen 10 with one byte of garbage after the target. */
	static const uint8_t trailing[] = {
		0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 5, 0, 10,
		0, 0, 0, 1, 0, 80, 1, 't', 0, 0xff,
	};
	/* rdlen 8: the target runs past the rdata. */
	static const uint8_t short_rd[] = {
		0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 5, 0, 8,
		0, 0, 0, 1, 0, 80, 1, 't', 0,
	};
	/* A target with a forward compression pointer. */
	static const uint8_t fwd_ptr[] = {
		0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 5, 0, 8,
		0, 0, 0, 1, 0, 80, 0xc0, 0x40,
	};
	/* rdlen beyond the message. */
	static const uint8_t long_rd[] = {
		0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 5, 0xff, 0xff, 0, 0,
	};
	uint8_t m[512];
	size_t n;

	n = hand(m, 1, good, sizeof(good));
	ck_assert_int_eq(parse_copy(m, n), 0);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_uint_eq(set.t[0].port, 80);
	ck_assert_uint_eq(set.ttl, 5);
	n = hand(m, 2, good, sizeof(good));          /* one record short */
	ck_assert_int_eq(parse_copy(m, n), ERR_MALFORMED);
	n = hand(m, 1, trailing, sizeof(trailing));
	ck_assert_int_eq(parse_copy(m, n), ERR_MALFORMED);
	n = hand(m, 1, short_rd, sizeof(short_rd));
	ck_assert_int_eq(parse_copy(m, n), ERR_MALFORMED);
	n = hand(m, 1, fwd_ptr, sizeof(fwd_ptr));
	ck_assert_int_eq(parse_copy(m, n), ERR_MALFORMED);
	n = hand(m, 1, long_rd, sizeof(long_rd));
	ck_assert_int_eq(parse_copy(m, n), ERR_MALFORMED);
	ck_assert_int_eq(parse_copy(m, 0), ERR_MALFORMED);
	ck_assert_int_eq(parse_copy(m, 11), ERR_MALFORMED);
	ck_assert_int_eq(srv_add_addresses(&set, m, 5), ERR_MALFORMED);
}
END_TEST

/* Every prefix of a real answer parses or is refused, never read past. */
START_TEST(test_srv_truncated)
{
	size_t len;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "payments.local. IN SRV", glue_an, glue_ad);

	for (size_t l = 0; l < len; l++) {
		int rc = parse_copy(m, l);

		ck_assert_msg(rc == 0 || rc == ERR_MALFORMED, "len %zu: %d", l, rc);
		ck_assert_uint_le(set.n, 2);
		if (l < 12)
			ck_assert_int_eq(rc, ERR_MALFORMED);
	}
	ck_assert_int_eq(parse_copy(m, len), 0);
	/* And every prefix of it as the answer to an address query. */
	for (size_t l = 0; l < len; l++) {
		uint8_t *c = malloc(l ? l : 1);
		int rc;

		memcpy(c, m, l);
		rc = srv_add_addresses(&set, c, l);
		ck_assert(rc == 0 || rc == ERR_MALFORMED);
		for (size_t i = 0; i < set.n; i++)
			ck_assert_int_le(set.t[i].naddr, 2);
		free(c);
	}
	free(m);
}
END_TEST

/* Single-byte corruptions: never a crash, never more than SRV_MAX. */
START_TEST(test_srv_corrupt)
{
	size_t len;
	uint8_t *m = answer(&len, LDNS_RCODE_NOERROR, "payments.local. IN SRV", glue_an, glue_ad);
	static const uint8_t vals[] = { 0x00, 0x01, 0x3f, 0x40, 0x7f, 0xc0, 0xff };

	for (size_t i = 0; i < len; i++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			uint8_t *c = malloc(len), save;
			int rc;

			memcpy(c, m, len);
			save = c[i];
			c[i] = vals[v];
			rc = srv_parse(c, len, &set);
			ck_assert(rc == 0 || rc == ERR_MALFORMED);
			ck_assert_uint_le(set.n, SRV_MAX);
			c[i] = save;
			free(c);
		}
	}
	free(m);
}
END_TEST

/* ---- balance ---- */

static const struct outlier_cfg cfg_default = { 3, 5000, 300000, 50 };

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	return ss;
}

/* n endpoints 10.0.0.1.. port 80 with the given weights. */
static void setup_bal(struct balance *b, const struct outlier_cfg *cfg, const uint16_t *w, size_t n)
{
	struct sockaddr_storage addrs[BALANCE_MAX];
	char ip[32];

	for (size_t i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%zu", i + 1);
		addrs[i] = v4(ip, 80);
	}
	balance_init(b, cfg);
	balance_update(b, addrs, w, n);
	ck_assert_uint_eq(b->n, n);
}

static struct balance bal;  /* large: keep it off the stack */

static void count_picks(struct balance *b, long *count, uint64_t now)
{
	struct wrand_rng rng;

	wrand_seed(&rng, SEED);
	for (int d = 0; d < DRAWS; d++) {
		int i = balance_pick(b, &rng, now, NULL, 0);

		ck_assert(i >= 0 && (size_t)i < b->n);
		count[i]++;
	}
}

static void assert_pct(size_t i, long count, double want)
{
	double got = 100.0 * (double)count / DRAWS;

	ck_assert_msg(got > want - TOL && got < want + TOL,
		      "endpoint %zu: %.2f%%, want %.2f%% +- %.1f", i, got, want, TOL);
}

START_TEST(test_pick_90_10)
{
	/* The resolver's SRV weights for a 90/10 router: 65535 and 7282. */
	const uint16_t w[] = { 65535, 7282 };
	long count[2] = { 0 };

	setup_bal(&bal, &cfg_default, w, 2);
	count_picks(&bal, count, 1);
	assert_pct(0, count[0], 90.0);
	assert_pct(1, count[1], 10.0);
}
END_TEST

START_TEST(test_pick_weights)
{
	const uint16_t w[] = { 1, 2, 3, 4 };
	long count[4] = { 0 };

	setup_bal(&bal, &cfg_default, w, 4);
	count_picks(&bal, count, 1);
	for (size_t i = 0; i < 4; i++)
		assert_pct(i, count[i], 10.0 * (double)w[i]);
}
END_TEST

START_TEST(test_pick_zero_weight)
{
	const uint16_t w[] = { 0, 5, 0, 5 };
	long count[4] = { 0 };

	setup_bal(&bal, &cfg_default, w, 4);
	count_picks(&bal, count, 1);
	ck_assert_int_eq(count[0], 0);
	ck_assert_int_eq(count[2], 0);
	assert_pct(1, count[1], 50.0);
	assert_pct(3, count[3], 50.0);
}
END_TEST

START_TEST(test_pick_all_zero)
{
	const uint16_t w[] = { 0, 0, 0, 0 };
	long count[4] = { 0 };

	setup_bal(&bal, &cfg_default, w, 4);
	count_picks(&bal, count, 1);
	for (size_t i = 0; i < 4; i++)
		assert_pct(i, count[i], 25.0);
}
END_TEST

/* Weight 0 is still a last resort once the weighted ones are tried. */
START_TEST(test_pick_tried)
{
	const uint16_t w[] = { 10, 10, 0 };
	struct wrand_rng rng;
	int tried[3];

	setup_bal(&bal, &cfg_default, w, 3);
	wrand_seed(&rng, SEED);
	for (int d = 0; d < 1000; d++) {
		tried[0] = 0;
		ck_assert_int_eq(balance_pick(&bal, &rng, 1, tried, 1), 1);
		tried[0] = 1;
		ck_assert_int_eq(balance_pick(&bal, &rng, 1, tried, 1), 0);
		tried[0] = 0;
		tried[1] = 1;
		ck_assert_int_eq(balance_pick(&bal, &rng, 1, tried, 2), 2);
	}
	tried[2] = 2;
	ck_assert_int_eq(balance_pick(&bal, &rng, 1, tried, 3), -1);
	balance_init(&bal, &cfg_default);
	ck_assert_int_eq(balance_pick(&bal, &rng, 1, NULL, 0), -1);  /* empty set */
}
END_TEST

START_TEST(test_eject_consecutive)
{
	const uint16_t w[] = { 1, 1, 1, 1 };
	struct wrand_rng rng;

	setup_bal(&bal, &cfg_default, w, 4);
	wrand_seed(&rng, SEED);
	/* A success in between resets the count. */
	ck_assert_int_eq(balance_failed(&bal, 0, 100), 0);
	ck_assert_int_eq(balance_failed(&bal, 0, 100), 0);
	balance_connected(&bal, 0);
	ck_assert_uint_eq(bal.ep[0].connections, 1);
	ck_assert_int_eq(balance_failed(&bal, 0, 100), 0);
	ck_assert_int_eq(balance_failed(&bal, 0, 100), 0);
	ck_assert_uint_eq(balance_ejected(&bal, 100), 0);
	ck_assert_int_eq(balance_failed(&bal, 0, 100), 1);  /* third in a row */
	ck_assert_uint_eq(bal.ep[0].connect_failures, 5);
	ck_assert_uint_eq(bal.ep[0].ejections, 1);
	ck_assert_uint_eq(bal.ep[0].ejected_until, 100 + 5000);
	ck_assert_uint_eq(balance_ejected(&bal, 100), 1);
	for (int d = 0; d < 2000; d++)
		ck_assert_int_ne(balance_pick(&bal, &rng, 200, NULL, 0), 0);
	/* Failures while ejected do not eject again. */
	ck_assert_int_eq(balance_failed(&bal, 0, 300), 0);
	ck_assert_uint_eq(bal.ep[0].ejections, 1);
}
END_TEST

START_TEST(test_eject_disabled)
{
	const struct outlier_cfg off = { 0, 5000, 300000, 50 };
	const uint16_t w[] = { 1, 1 };

	setup_bal(&bal, &off, w, 2);
	for (int k = 0; k < 50; k++)
		ck_assert_int_eq(balance_failed(&bal, 0, 100), 0);
	ck_assert_uint_eq(balance_ejected(&bal, 100), 0);
	ck_assert_uint_eq(bal.ep[0].connect_failures, 50);
}
END_TEST

/* Ejected for base x times ejected, capped; back when the time is up. */
START_TEST(test_eject_time)
{
	const struct outlier_cfg c = { 3, 1000, 2500, 50 };
	const uint16_t w[] = { 1, 1, 1, 1 };
	struct wrand_rng rng;
	uint64_t now = 1000;
	const uint64_t want[] = { 1000, 2000, 2500, 2500 };
	int seen;

	setup_bal(&bal, &c, w, 4);
	wrand_seed(&rng, SEED);
	for (int k = 0; k < 3; k++)
		balance_failed(&bal, 2, now);
	for (size_t e = 0; e < 4; e++) {
		uint64_t until = bal.ep[2].ejected_until;

		ck_assert_uint_eq(until, now + want[e]);
		ck_assert_uint_eq(bal.ep[2].times_ejected, e + 1);
		ck_assert_uint_eq(balance_ejected(&bal, until - 1), 1);
		for (int d = 0; d < 500; d++)
			ck_assert_int_ne(balance_pick(&bal, &rng, until - 1, NULL, 0), 2);
		/* Time is up: it is picked again. */
		ck_assert_uint_eq(balance_ejected(&bal, until), 0);
		seen = 0;
		for (int d = 0; d < 500; d++)
			seen += balance_pick(&bal, &rng, until, NULL, 0) == 2;
		ck_assert_int_gt(seen, 50);
		ck_assert_uint_eq(bal.ep[2].ejected_until, 0);
		/* Back on probation: a single failure ejects it again, for longer. */
		now = until + 10;
		if (e < 3)
			ck_assert_int_eq(balance_failed(&bal, 2, now), 1);
	}
	ck_assert_uint_eq(bal.ep[2].ejections, 4);
}
END_TEST

/* Back in service and succeeding: it takes consecutive_failures again. */
START_TEST(test_eject_recovered)
{
	const uint16_t w[] = { 1, 1, 1 };
	struct wrand_rng rng;

	setup_bal(&bal, &cfg_default, w, 3);
	wrand_seed(&rng, SEED);
	for (int k = 0; k < 3; k++)
		balance_failed(&bal, 1, 0);
	ck_assert_uint_eq(balance_ejected(&bal, 0), 1);
	for (int d = 0; d < 100; d++)
		balance_pick(&bal, &rng, 6000, NULL, 0);
	balance_connected(&bal, 1);
	ck_assert_int_eq(balance_failed(&bal, 1, 6000), 0);
	ck_assert_int_eq(balance_failed(&bal, 1, 6000), 0);
	ck_assert_int_eq(balance_failed(&bal, 1, 6000), 1);
}
END_TEST

START_TEST(test_eject_percent_two)
{
	const uint16_t w[] = { 1, 1 };
	struct wrand_rng rng;

	setup_bal(&bal, &cfg_default, w, 2);
	wrand_seed(&rng, SEED);
	for (int k = 0; k < 3; k++)
		balance_failed(&bal, 0, 10);
	ck_assert_uint_eq(balance_ejected(&bal, 10), 1);
	for (int k = 0; k < 10; k++)
		ck_assert_int_eq(balance_failed(&bal, 1, 10), 0);
	ck_assert_uint_eq(balance_ejected(&bal, 10), 1);
	ck_assert_uint_eq(bal.ep[1].ejected_until, 0);
	ck_assert_int_eq(balance_pick(&bal, &rng, 10, NULL, 0), 1);
}
END_TEST

/* A percentage below one endpoint's share still lets one go. */
START_TEST(test_eject_percent_small)
{
	const struct outlier_cfg c = { 3, 5000, 300000, 10 };
	const struct outlier_cfg none = { 3, 5000, 300000, 0 };
	const uint16_t w[] = { 1, 1 };

	setup_bal(&bal, &c, w, 2);
	for (int k = 0; k < 3; k++)
		balance_failed(&bal, 0, 10);
	for (int k = 0; k < 3; k++)
		balance_failed(&bal, 1, 10);
	ck_assert_uint_eq(balance_ejected(&bal, 10), 1);
	setup_bal(&bal, &none, w, 2);
	for (int k = 0; k < 6; k++)
		balance_failed(&bal, 0, 10);
	ck_assert_uint_eq(balance_ejected(&bal, 10), 0);
}
END_TEST

START_TEST(test_eject_percent_ten)
{
	const struct outlier_cfg c = { 3, 5000, 300000, 20 };
	const uint16_t w[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct wrand_rng rng;
	int ejected = 0;
	long count[10] = { 0 };

	setup_bal(&bal, &c, w, 10);
	for (int i = 0; i < 10; i++)
		for (int k = 0; k < 3; k++)
			ejected += balance_failed(&bal, i, 10);
	ck_assert_int_eq(ejected, 2);
	ck_assert_uint_eq(balance_ejected(&bal, 10), 2);
	/* Once the first two are back, others may go. */
	wrand_seed(&rng, SEED);
	for (int d = 0; d < 1000; d++)
		count[balance_pick(&bal, &rng, 10, NULL, 0)]++;
	ck_assert_int_eq(count[0], 0);
	ck_assert_int_eq(count[1], 0);
	for (int i = 2; i < 10; i++)
		ck_assert_int_gt(count[i], 0);
	ck_assert_int_eq(balance_failed(&bal, 5, 10 + 5000), 1);
	ck_assert_uint_eq(balance_ejected(&bal, 10 + 5000), 1);
}
END_TEST

START_TEST(test_update_compact)
{
	const uint16_t w[] = { 10, 20 };
	struct sockaddr_storage a[3] = { v4("10.0.0.1", 80), v4("10.0.0.2", 80), v4("10.0.0.3", 80) };
	const uint16_t w2[] = { 30, 40 };
	struct wrand_rng rng;
	int b_idx = -1, c_idx = -1;

	balance_init(&bal, &cfg_default);
	balance_update(&bal, a, w, 2);
	ck_assert_uint_eq(bal.n, 2);
	ck_assert_str_eq(bal.ep[0].text, "10.0.0.1:80");
	balance_connected(&bal, 0);
	bal.ep[0].active = 1;
	balance_connected(&bal, 1);
	balance_connected(&bal, 1);
	balance_failed(&bal, 1, 5);
	bal.ep[1].bytes_up = 123;
	/* New set: 10.0.0.2 and 10.0.0.3; 10.0.0.1 leaves but has a connection. */
	balance_update(&bal, a + 1, w2, 2);
	ck_assert_uint_eq(bal.n, 3);
	for (size_t i = 0; i < bal.n; i++) {
		if (!memcmp(&bal.ep[i].addr, &a[1], sizeof(a[1])))
			b_idx = (int)i;
		if (!memcmp(&bal.ep[i].addr, &a[2], sizeof(a[2])))
			c_idx = (int)i;
	}
	ck_assert_int_ge(b_idx, 0);
	ck_assert_int_ge(c_idx, 0);
	ck_assert_uint_eq(bal.ep[b_idx].connections, 2);
	ck_assert_uint_eq(bal.ep[b_idx].connect_failures, 1);
	ck_assert_uint_eq(bal.ep[b_idx].failures, 1);
	ck_assert_uint_eq(bal.ep[b_idx].bytes_up, 123);
	ck_assert_uint_eq(bal.ep[b_idx].weight, 30);
	ck_assert_int_eq(bal.ep[b_idx].present, 1);
	ck_assert_uint_eq(bal.ep[c_idx].weight, 40);
	ck_assert_uint_eq(bal.ep[c_idx].connections, 0);
	ck_assert_int_eq(bal.ep[0].present, 0);
	wrand_seed(&rng, SEED);
	for (int d = 0; d < 1000; d++)
		ck_assert_int_ne(balance_pick(&bal, &rng, 10, NULL, 0), 0);
	/* Compact keeps the absent one while it carries a connection. */
	balance_compact(&bal);
	ck_assert_uint_eq(bal.n, 3);
	bal.ep[0].active = 0;
	balance_compact(&bal);
	ck_assert_uint_eq(bal.n, 2);
	for (size_t i = 0; i < bal.n; i++) {
		ck_assert_int_eq(bal.ep[i].present, 1);
		ck_assert(memcmp(&bal.ep[i].addr, &a[0], sizeof(a[0])));
		if (!memcmp(&bal.ep[i].addr, &a[1], sizeof(a[1])))
			ck_assert_uint_eq(bal.ep[i].connections, 2);
	}
	/* Coming back makes it a new endpoint with fresh counters. */
	balance_update(&bal, a, w, 1);
	balance_compact(&bal);
	ck_assert_uint_eq(bal.n, 1);
	ck_assert_uint_eq(bal.ep[0].connections, 0);
	ck_assert_uint_eq(bal.ep[0].weight, 10);
}
END_TEST

/* The same IP on another port is another endpoint. */
START_TEST(test_update_ports)
{
	struct sockaddr_storage a[2] = { v4("10.0.0.1", 80), v4("10.0.0.1", 81) };
	const uint16_t w[] = { 1, 1 };

	balance_init(&bal, &cfg_default);
	balance_update(&bal, a, w, 2);
	ck_assert_uint_eq(bal.n, 2);
	ck_assert_str_eq(bal.ep[1].text, "10.0.0.1:81");
	balance_update(&bal, a, w, 2);
	ck_assert_uint_eq(bal.n, 2);
}
END_TEST

/* ---- opts ---- */

static struct fwd_opts opts;
static char errbuf[1024];

static int parse_args(int argc, char **argv)
{
	errbuf[0] = '\0';
	return fwd_opts_parse(&opts, argc, argv, errbuf, sizeof(errbuf));
}

#define PARSE(...) ({                                                     \
	char *argv_[] = { "meshdns-forward", __VA_ARGS__, NULL };         \
	parse_args((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_);  \
})

static char tmpfile_path[64];

static const char *write_tmp(const char *text)
{
	int fd;

	snprintf(tmpfile_path, sizeof(tmpfile_path), "/tmp/test_forward.XXXXXX");
	fd = mkstemp(tmpfile_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmpfile_path;
}

static uint16_t listen_port(int i)
{
	return ntohs(((struct sockaddr_in *)&opts.listen[i].addr)->sin_port);
}

START_TEST(test_opts_defaults)
{
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:15000=payments.local"), 0);
	ck_assert_int_eq(opts.nlisten, 1);
	ck_assert_str_eq(opts.listen[0].name, "payments.local");
	ck_assert_uint_eq(listen_port(0), 15000);
	ck_assert_str_eq(opts.dns, "");
	ck_assert_uint_eq(opts.connect_timeout_ms, 1000);
	ck_assert_uint_eq(opts.idle_timeout_ms, 300000);
	ck_assert_uint_eq(opts.drain_timeout_ms, 30000);
	ck_assert_uint_eq(opts.retries, 2);
	ck_assert_uint_eq(opts.max_connections, 10000);
	ck_assert_uint_eq(opts.outlier.consecutive_failures, 3);
	ck_assert_uint_eq(opts.outlier.base_ejection_ms, 5000);
	ck_assert_uint_eq(opts.outlier.max_ejection_ms, 300000);
	ck_assert_uint_eq(opts.outlier.max_ejection_percent, 50);
	ck_assert_int_eq(opts.verbose, 0);
}
END_TEST

START_TEST(test_opts_flags)
{
	ck_assert_int_eq(PARSE("--dns", "127.0.0.1:5353", "--listen", "127.0.0.1:0=payments.local",
			       "--listen", "[::1]:15001=other.local", "--connect-timeout", "0.25",
			       "--idle-timeout", "2", "--retries", "4", "--max-connections", "7",
			       "--drain-timeout", "3.5", "--consecutive-failures", "5",
			       "--ejection-time", "1.5", "--max-ejection-time", "60",
			       "--max-ejection-percent", "20", "-v", "--verbose"), 0);
	ck_assert_msg(errbuf[0] == '\0', "%s", errbuf);
	ck_assert_int_eq(opts.nlisten, 2);
	ck_assert_str_eq(opts.listen[0].name, "payments.local");
	ck_assert_int_eq(opts.listen[0].addr.ss_family, AF_INET);
	ck_assert_uint_eq(listen_port(0), 0);
	ck_assert_str_eq(opts.listen[1].name, "other.local");
	ck_assert_int_eq(opts.listen[1].addr.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&opts.listen[1].addr)->sin6_port), 15001);
	ck_assert_str_eq(opts.dns, "127.0.0.1:5353");
	ck_assert_uint_eq(opts.connect_timeout_ms, 250);
	ck_assert_uint_eq(opts.idle_timeout_ms, 2000);
	ck_assert_uint_eq(opts.retries, 4);
	ck_assert_uint_eq(opts.max_connections, 7);
	ck_assert_uint_eq(opts.drain_timeout_ms, 3500);
	ck_assert_uint_eq(opts.outlier.consecutive_failures, 5);
	ck_assert_uint_eq(opts.outlier.base_ejection_ms, 1500);
	ck_assert_uint_eq(opts.outlier.max_ejection_ms, 60000);
	ck_assert_uint_eq(opts.outlier.max_ejection_percent, 20);
	ck_assert_int_eq(opts.verbose, 2);
}
END_TEST

START_TEST(test_opts_bad_flags)
{
	ck_assert_int_eq(PARSE("--dns", "127.0.0.1:5353"), FWD_OPTS_ERROR);  /* no listener */
	ck_assert_ptr_nonnull(strstr(errbuf, "--listen"));
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:15000"), FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "listen"));
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:15000="), FWD_OPTS_ERROR);
	ck_assert_int_eq(PARSE("--listen", "not-an-address:1=x.local"), FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "not-an-address"));
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:99999=x.local"), FWD_OPTS_ERROR);
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=bad..name"), FWD_OPTS_ERROR);
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "--dns", "nowhere"), FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "dns"));
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "--retries", "-1"), FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "retries"));
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "--retries", "2x"), FWD_OPTS_ERROR);
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "--connect-timeout", "0"),
			 FWD_OPTS_ERROR);
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "--idle-timeout", ""),
			 FWD_OPTS_ERROR);
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "--max-ejection-percent", "101"),
			 FWD_OPTS_ERROR);
	opterr = 0; /* getopt's own message is not under test */
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "--bogus"), FWD_OPTS_ERROR);
	opterr = 1;
	ck_assert_int_eq(PARSE("--listen", "127.0.0.1:1=x.local", "extra"), FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "extra"));
}
END_TEST

START_TEST(test_opts_too_many_listeners)
{
	char *argv[2 * FWD_LISTEN_MAX + 4];
	static char vals[FWD_LISTEN_MAX + 1][64];
	int argc = 0;

	argv[argc++] = "meshdns-forward";
	for (int i = 0; i <= FWD_LISTEN_MAX; i++) {
		snprintf(vals[i], sizeof(vals[i]), "127.0.0.1:%d=s%d.local", 20000 + i, i);
		argv[argc++] = "--listen";
		argv[argc++] = vals[i];
	}
	argv[argc] = NULL;
	ck_assert_int_eq(parse_args(argc, argv), FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "listeners"));
	ck_assert_int_eq(parse_args(argc - 2, argv), 0);
	ck_assert_int_eq(opts.nlisten, FWD_LISTEN_MAX);
}
END_TEST

static const char full_file[] =
	"listen:\n"
	"  - 127.0.0.1:15000=payments.local\n"
	"  - \"127.0.0.2:15001=orders.local\"\n"
	"dns: 127.0.0.1:5300\n"
	"connect_timeout: 0.5\n"
	"idle_timeout: 60\n"
	"retries: 3\n"
	"max_connections: 100\n"
	"drain_timeout: 10\n"
	"consecutive_failures: 4\n"
	"ejection_time: 2\n"
	"max_ejection_time: 20\n"
	"max_ejection_percent: 30\n";

START_TEST(test_opts_file)
{
	const char *f = write_tmp(full_file);
	char *path = strdup(f);

	ck_assert_msg(PARSE("-c", path) == 0, "%s", errbuf);
	ck_assert_str_eq(opts.config_file, path);
	ck_assert_int_eq(opts.nlisten, 2);
	ck_assert_str_eq(opts.listen[0].name, "payments.local");
	ck_assert_uint_eq(listen_port(0), 15000);
	ck_assert_str_eq(opts.listen[1].name, "orders.local");
	ck_assert_uint_eq(listen_port(1), 15001);
	ck_assert_str_eq(opts.dns, "127.0.0.1:5300");
	ck_assert_uint_eq(opts.connect_timeout_ms, 500);
	ck_assert_uint_eq(opts.idle_timeout_ms, 60000);
	ck_assert_uint_eq(opts.retries, 3);
	ck_assert_uint_eq(opts.max_connections, 100);
	ck_assert_uint_eq(opts.drain_timeout_ms, 10000);
	ck_assert_uint_eq(opts.outlier.consecutive_failures, 4);
	ck_assert_uint_eq(opts.outlier.base_ejection_ms, 2000);
	ck_assert_uint_eq(opts.outlier.max_ejection_ms, 20000);
	ck_assert_uint_eq(opts.outlier.max_ejection_percent, 30);

	/* Flags win over the file, wherever they come on the command line. */
	ck_assert_msg(PARSE("--retries", "9", "-c", path, "--dns", "127.0.0.9",
			    "--max-ejection-percent", "0", "--connect-timeout", "0.1") == 0,
		      "%s", errbuf);
	ck_assert_uint_eq(opts.retries, 9);
	ck_assert_str_eq(opts.dns, "127.0.0.9");
	ck_assert_uint_eq(opts.outlier.max_ejection_percent, 0);
	ck_assert_uint_eq(opts.connect_timeout_ms, 100);
	ck_assert_uint_eq(opts.idle_timeout_ms, 60000);  /* from the file */
	ck_assert_uint_eq(opts.max_connections, 100);
	ck_assert_int_eq(opts.nlisten, 2);
	unlink(path);
	free(path);
}
END_TEST

/* A file without listeners is fine when a flag gives one. */
START_TEST(test_opts_file_partial)
{
	const char *f = write_tmp("retries: 1\nidle_timeout: 0.5\n");
	char *path = strdup(f);

	ck_assert_int_eq(PARSE("-c", path), FWD_OPTS_ERROR);  /* nothing to listen on */
	ck_assert_msg(PARSE("--config", path, "--listen", "127.0.0.1:0=x.local") == 0, "%s", errbuf);
	ck_assert_uint_eq(opts.retries, 1);
	ck_assert_uint_eq(opts.idle_timeout_ms, 500);
	ck_assert_int_eq(opts.nlisten, 1);
	unlink(path);
	free(path);
}
END_TEST

/* assert_file_error TEXT WANT...: the file is refused; the message names
 * file:LINE:COL and contains WANT. */
static void assert_file_error(const char *text, const char *where, const char *want)
{
	const char *f = write_tmp(text);
	char *path = strdup(f), loc[128];

	ck_assert_int_eq(PARSE("-c", path, "--listen", "127.0.0.1:0=x.local"), FWD_OPTS_ERROR);
	snprintf(loc, sizeof(loc), "%s:%s", path, where);
	ck_assert_msg(strstr(errbuf, loc) != NULL, "want \"%s\" in: %s", loc, errbuf);
	ck_assert_msg(strstr(errbuf, want) != NULL, "want \"%s\" in: %s", want, errbuf);
	unlink(path);
	free(path);
}

START_TEST(test_opts_file_errors)
{
	assert_file_error("retries: 2\nbogus_key: 1\n", "2:1", "bogus_key");
	assert_file_error("retries: 2\n  # c\nlisten: [\"127.0.0.1:1\"]\n", "3:10", "listen");
	assert_file_error("listen: 127.0.0.1:1=x.local\n", "1:9", "listen");
	assert_file_error("dns: 127.0.0.1\nretries: lots\n", "2:10", "lots");
	assert_file_error("max_ejection_percent: 150\n", "1:23", "150");
	assert_file_error("idle_timeout: [1]\n", "1:15", "idle_timeout");
	/* Not a mapping, and not YAML. */
	{
		const char *f = write_tmp("- a\n- b\n");
		char *path = strdup(f);

		ck_assert_int_eq(PARSE("-c", path, "--listen", "127.0.0.1:0=x.local"), FWD_OPTS_ERROR);
		ck_assert_ptr_nonnull(strstr(errbuf, path));
		unlink(path);
		f = write_tmp("retries: [1\n");
		strcpy(path, f);
		ck_assert_int_eq(PARSE("-c", path, "--listen", "127.0.0.1:0=x.local"), FWD_OPTS_ERROR);
		ck_assert_ptr_nonnull(strstr(errbuf, path));
		unlink(path);
		free(path);
	}
	ck_assert_int_eq(PARSE("-c", "/nonexistent/forward.yaml", "--listen", "127.0.0.1:0=x.local"),
			 FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "/nonexistent/forward.yaml"));
}
END_TEST

START_TEST(test_opts_reload)
{
	const char *f = write_tmp("listen: [\"127.0.0.1:15000=a.local\"]\nretries: 1\n");
	char *path = strdup(f);
	FILE *fp;

	ck_assert_msg(PARSE("-c", path) == 0, "%s", errbuf);
	ck_assert_uint_eq(opts.retries, 1);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("listen: [\"127.0.0.1:16000=b.local\"]\nretries: 5\nmax_ejection_percent: 10\n", fp);
	fclose(fp);
	ck_assert_int_eq(fwd_opts_reload(&opts, errbuf, sizeof(errbuf)), 0);
	ck_assert_uint_eq(opts.retries, 5);
	ck_assert_uint_eq(opts.outlier.max_ejection_percent, 10);
	ck_assert_int_eq(opts.nlisten, 1);                  /* listeners are kept */
	ck_assert_str_eq(opts.listen[0].name, "a.local");
	fp = fopen(path, "w");
	fputs("retries: many\n", fp);
	fclose(fp);
	ck_assert_int_eq(fwd_opts_reload(&opts, errbuf, sizeof(errbuf)), FWD_OPTS_ERROR);
	ck_assert_ptr_nonnull(strstr(errbuf, "many"));
	ck_assert_uint_eq(opts.retries, 5);                 /* unchanged on error */
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_opts_help)
{
	FILE *saved = stdout;

	stdout = fopen("/dev/null", "w");
	ck_assert_int_eq(PARSE("--help"), FWD_OPTS_EXIT);
	ck_assert_int_eq(PARSE("--version"), FWD_OPTS_EXIT);
	fclose(stdout);
	stdout = saved;
}
END_TEST

static Suite *srv_suite(void)
{
	Suite *s = suite_create("srv");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_srv_glue);
	tcase_add_test(tc, test_srv_glue_first);
	tcase_add_test(tc, test_srv_no_glue);
	tcase_add_test(tc, test_srv_add_keeps_rcode);
	tcase_add_test(tc, test_srv_lowest_priority);
	tcase_add_test(tc, test_srv_ttl_min);
	tcase_add_test(tc, test_srv_nxdomain_nodata);
	tcase_add_test(tc, test_srv_max);
	tcase_add_test(tc, test_srv_malformed);
	tcase_add_test(tc, test_srv_truncated);
	tcase_add_test(tc, test_srv_corrupt);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *balance_suite(void)
{
	Suite *s = suite_create("balance");
	TCase *tc = tcase_create("picks");
	TCase *te = tcase_create("ejection");

	tcase_add_test(tc, test_pick_90_10);
	tcase_add_test(tc, test_pick_weights);
	tcase_add_test(tc, test_pick_zero_weight);
	tcase_add_test(tc, test_pick_all_zero);
	tcase_add_test(tc, test_pick_tried);
	tcase_add_test(tc, test_update_compact);
	tcase_add_test(tc, test_update_ports);
	tcase_add_test(te, test_eject_consecutive);
	tcase_add_test(te, test_eject_disabled);
	tcase_add_test(te, test_eject_time);
	tcase_add_test(te, test_eject_recovered);
	tcase_add_test(te, test_eject_percent_two);
	tcase_add_test(te, test_eject_percent_small);
	tcase_add_test(te, test_eject_percent_ten);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, te);
	return s;
}

static Suite *opts_suite(void)
{
	Suite *s = suite_create("opts");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_opts_defaults);
	tcase_add_test(tc, test_opts_flags);
	tcase_add_test(tc, test_opts_bad_flags);
	tcase_add_test(tc, test_opts_too_many_listeners);
	tcase_add_test(tc, test_opts_file);
	tcase_add_test(tc, test_opts_file_partial);
	tcase_add_test(tc, test_opts_file_errors);
	tcase_add_test(tc, test_opts_reload);
	tcase_add_test(tc, test_opts_help);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(srv_suite(), balance_suite(), opts_suite(), NULL);
}
