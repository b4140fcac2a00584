/* test_query.c - check suite for resolver/query.h: answer building
 * (including truncation), and name handling (case, escapes, compression).
 *
 * Queries are built by hand in wire form (so malformed ones can be too) and
 * run through query_process against a view built from inline YAML; answers
 * are parsed back with ldns_wire2pkt, which also proves that every
 * compression pointer in them is valid. Random choices use a fixed seed, so
 * every run sees the same answers. */
#include <check.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "err.h"
#include "query.h"
#include "testutil.h"
#include "checkmain.h"

#define NOW 100000
#define SEED 12345

enum { T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_MX = 15, T_TXT = 16, T_AAAA = 28,
       T_SRV = 33, T_OPT = 41, T_AXFR = 252, T_ANY = 255 };
enum { C_IN = 1, C_CH = 3 };
enum { F_QR = 0x8000, F_AA = 0x0400, F_TC = 0x0200, F_RD = 0x0100, F_RA = 0x0080 };
#define NO_EDNS (-1)

static const char cfg_main[] =
	"listen: [\"127.0.0.1:0\"]\n"
	"namespaces:\n"
	"  - name: local\n"
	"    ttl: 7\n"
	"    negative_ttl: 3\n"
	"    max_answers: 3\n"
	"    services:\n"
	"      payments-v1:\n"
	"        instances:\n"
	"          - {id: a, address: 10.0.1.1, port: 5001, weight: 100,\n"
	"             attributes: {az: a, tier: gold}}\n"
	"          - {id: b, address: [10.0.1.2, \"fd00::12\"], port: 5002, weight: 50}\n"
	"          - {id: d, address: 10.0.1.4, port: 5004}\n"
	"          - {id: e, address: 10.0.1.5, port: 5005}\n"
	"          - {id: f, address: 10.0.1.6, port: 5006}\n"
	"      payments-v2:\n"
	"        instances:\n"
	"          - {id: g, address: 10.0.2.1, port: 6000}\n"
	"      v6only:\n"
	"        instances:\n"
	"          - {id: h, address: \"fd00::99\", port: 7000}\n"
	"      empty: {}\n"
	"    routers:\n"
	"      payments:\n"
	"        routes:\n"
	"          - {target: payments-v1, weight: 90}\n"
	"          - {target: payments-v2, weight: 10}\n"
	"  - name: mesh.example\n"
	"    ttl: 2\n"
	"    negative_ttl: 10\n";

static struct tenv env;
static struct query_ctx qctx;
static uint8_t resp[65536];

static void setup_main(void)
{
	tenv_load(&env, cfg_main, NOW);
	/* f is down: it must never be answered. */
	ck_assert_int_eq(registry_set_health(env.reg, tinstance(env.reg, "payments-v1.local.", "f"),
					     HEALTH_UNHEALTHY, NOW), 1);
	tenv_rebuild(&env, NOW);
	query_ctx_init(&qctx, SEED);
}

static void teardown(void)
{
	tenv_free(&env);
}

/* ---- building queries ---- */

struct tq {
	uint8_t b[1024];
	size_t len;
};

static void put16(struct tq *q, uint16_t v)
{
	q->b[q->len++] = (uint8_t)(v >> 8);
	q->b[q->len++] = (uint8_t)v;
}

static void put32(struct tq *q, uint32_t v)
{
	put16(q, (uint16_t)(v >> 16));
	put16(q, (uint16_t)v);
}

static void put_bytes(struct tq *q, const void *p, size_t n)
{
	memcpy(q->b + q->len, p, n);
	q->len += n;
}

static void hdr(struct tq *q, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		uint16_t ns, uint16_t ar)
{
	q->len = 0;
	put16(q, id), put16(q, flags), put16(q, qd), put16(q, an), put16(q, ns), put16(q, ar);
}

/* An OPT record: payload, extended rcode/version/DO in ttl, no options. */
static void opt(struct tq *q, uint16_t payload, uint32_t ttl)
{
	q->b[q->len++] = 0;
	put16(q, T_OPT), put16(q, payload), put32(q, ttl), put16(q, 0);
}

/* A query for name (presentation form, case kept, escapes allowed). */
static void mkq(struct tq *q, uint16_t id, uint16_t flags, const char *name, uint16_t type,
		uint16_t cls, int edns, uint32_t optttl)
{
	uint8_t w[WIRE_NAME_MAX];
	int n = wire_name_from_text(name, w);

	ck_assert_msg(n > 0, "bad name %s", name);
	hdr(q, id, flags, 1, 0, 0, edns >= 0);
	put_bytes(q, w, (size_t)n);
	put16(q, type), put16(q, cls);
	if (edns >= 0)
		opt(q, (uint16_t)edns, optttl);
}

static size_t run(const struct view *v, const struct tq *q, int tcp)
{
	return query_process(&qctx, v, q->b, q->len, resp, sizeof(resp), tcp);
}

static ldns_pkt *parse(size_t len)
{
	ldns_pkt *p = NULL;
	ldns_status st;

	ck_assert_uint_ge(len, 12);
	st = ldns_wire2pkt(&p, resp, len);
	ck_assert_msg(st == LDNS_STATUS_OK, "ldns_wire2pkt: %s", ldns_get_errorstr_by_id(st));
	return p;
}

/* Asks v for name/type/class over UDP (or TCP), returns the parsed answer. */
static ldns_pkt *ask_v(const struct view *v, const char *name, uint16_t type, uint16_t cls,
		       int edns, int tcp, size_t *lenp)
{
	struct tq q;
	size_t len;

	mkq(&q, 0x1234, F_RD, name, type, cls, edns, 0);
	len = run(v, &q, tcp);
	if (lenp)
		*lenp = len;
	return parse(len);
}

static ldns_pkt *ask(const char *name, uint16_t type)
{
	return ask_v(env.v, name, type, C_IN, NO_EDNS, 0, NULL);
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int name_is(const ldns_rdf *rdf, const char *text)
{
	char *s = ldns_rdf2str(rdf);
	int eq = s && strcasecmp(s, text) == 0;

	free(s);
	return eq;
}

/* Walks the raw response to its OPT record; returns a pointer to the OPT's
 * class field (payload) or NULL when there is none. */
static const uint8_t *raw_opt(size_t len)
{
	size_t p = 12;
	unsigned counts[4];

	for (int i = 0; i < 4; i++)
		counts[i] = rd16(resp + 4 + 2 * i);
	for (int sec = 0; sec < 4; sec++)
		for (unsigned i = 0; i < counts[sec]; i++) {
			while (p < len && resp[p] && (resp[p] & 0xC0) != 0xC0)
				p += 1 + resp[p];
			p += p < len && resp[p] ? 2 : 1;
			if (sec == 0) {
				p += 4;
				continue;
			}
			ck_assert_uint_le(p + 10, len);
			if (sec == 3 && rd16(resp + p) == T_OPT)
				return resp + p + 2;
			p += 10 + rd16(resp + p + 8);
		}
	return NULL;
}

static ldns_rr *an(ldns_pkt *p, size_t i)
{
	return ldns_rr_list_rr(ldns_pkt_answer(p), i);
}

/* ---- answers ---- */

START_TEST(test_service_a)
{
	static const uint8_t healthy[][4] = { {10,0,1,1}, {10,0,1,2}, {10,0,1,4}, {10,0,1,5} };
	struct tq q;
	size_t len;
	ldns_pkt *p;

	mkq(&q, 0xBEEF, F_RD, "PaYmEnTs-V1.LoCaL.", T_A, C_IN, NO_EDNS, 0);
	len = run(env.v, &q, 0);
	p = parse(len);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_id(p), 0xBEEF);
	ck_assert(ldns_pkt_qr(p));
	ck_assert(ldns_pkt_aa(p));
	ck_assert(ldns_pkt_rd(p));
	ck_assert(!ldns_pkt_ra(p));
	ck_assert(!ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
	/* Four healthy IPv4 instances, max_answers 3. */
	ck_assert_uint_eq(ldns_pkt_ancount(p), 3);
	ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
	ck_assert_uint_eq(ldns_pkt_arcount(p), 0);
	/* The question, byte for byte, in the client's letter case. */
	ck_assert_mem_eq(resp + 12, q.b + 12, q.len - 12);
	ck_assert_uint_eq(resp[2] & 0x78, 0); /* opcode QUERY */
	for (size_t i = 0; i < 3; i++) {
		ldns_rr *rr = an(p, i);
		const uint8_t *ad;
		int found = 0;

		ck_assert_int_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
		ck_assert_int_eq(ldns_rr_get_class(rr), LDNS_RR_CLASS_IN);
		ck_assert_uint_eq(ldns_rr_ttl(rr), 7);
		ck_assert(name_is(ldns_rr_owner(rr), "PaYmEnTs-V1.LoCaL."));
		ad = ldns_rdf_data(ldns_rr_rdf(rr, 0));
		for (size_t k = 0; k < 4; k++)
			found |= !memcmp(ad, healthy[k], 4);
		ck_assert_msg(found, "answer %u.%u.%u.%u is not a healthy instance",
			      ad[0], ad[1], ad[2], ad[3]);
		for (size_t j = 0; j < i; j++)
			ck_assert_mem_ne(ad, ldns_rdf_data(ldns_rr_rdf(an(p, j), 0)), 4);
	}
	ldns_pkt_free(p);

	/* Without RD, RD stays clear; AAAA gives b, the only IPv6 member. */
	mkq(&q, 7, 0, "payments-v1.local.", T_AAAA, C_IN, NO_EDNS, 0);
	p = parse(run(env.v, &q, 0));
	ck_assert(!ldns_pkt_rd(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_int_eq(ldns_rr_get_type(an(p, 0)), LDNS_RR_TYPE_AAAA);
	ck_assert_uint_eq(ldns_rdf_data(ldns_rr_rdf(an(p, 0), 0))[15], 0x12);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(test_router_distribution)
{
	struct tq q;
	unsigned v1 = 0, v2 = 0, other = 0;
	const int N = 10000;

	mkq(&q, 1, 0, "payments.local.", T_A, C_IN, NO_EDNS, 0);
	for (int i = 0; i < N; i++) {
		size_t len = run(env.v, &q, 0);
		size_t p = q.len;

		ck_assert_uint_gt(len, q.len + 16);
		ck_assert_uint_ge(rd16(resp + 6), 1);
		/* First answer: pointer, A IN ttl 4, the address. */
		ck_assert_uint_eq(rd16(resp + p), 0xC00C);
		ck_assert_uint_eq(rd16(resp + p + 2), T_A);
		if (resp[p + 12] == 10 && resp[p + 13] == 0 && resp[p + 14] == 1)
			v1++;
		else if (resp[p + 12] == 10 && resp[p + 13] == 0 && resp[p + 14] == 2)
			v2++;
		else
			other++;
		ck_assert_msg(resp[p + 15] != 6, "unhealthy f answered");
	}
	ck_assert_uint_eq(other, 0);
	ck_assert_msg(v1 >= 0.885 * N && v1 <= 0.915 * N, "v1 first %u of %d", v1, N);
	ck_assert_uint_eq(v1 + v2, (unsigned)N);
	ck_assert_uint_eq(qctx.stats.queries, (uint64_t)N);
	ck_assert_uint_eq(qctx.stats.noerror, (uint64_t)N);
}
END_TEST

START_TEST(test_service_first_answer_weights)
{
	/* payments-v1: a 100, b 50, d/e 100 (f down): a first 100/350. */
	struct tq q;
	unsigned a = 0, b = 0;
	const int N = 10000;

	mkq(&q, 1, 0, "payments-v1.local.", T_A, C_IN, NO_EDNS, 0);
	for (int i = 0; i < N; i++) {
		ck_assert_uint_gt(run(env.v, &q, 0), q.len + 16);
		a += resp[q.len + 15] == 1;
		b += resp[q.len + 15] == 2;
	}
	ck_assert_msg(a >= (100.0 / 350 - 0.015) * N && a <= (100.0 / 350 + 0.015) * N,
		      "a first %u of %d", a, N);
	ck_assert_msg(b >= (50.0 / 350 - 0.015) * N && b <= (50.0 / 350 + 0.015) * N,
		      "b first %u of %d", b, N);
}
END_TEST

static void check_srv(const char *qname, int tcp)
{
	static const char *targets[] = { "a.payments-v1.local.", "b.payments-v1.local.",
					 "d.payments-v1.local.", "e.payments-v1.local." };
	static const uint16_t ports[] = { 5001, 5002, 5004, 5005 };
	ldns_pkt *p = ask_v(env.v, qname, T_SRV, C_IN, NO_EDNS, tcp, NULL);
	ldns_rr_list *add = ldns_pkt_additional(p);
	unsigned seen_a = 0, seen_aaaa = 0;

	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert(ldns_pkt_aa(p));
	ck_assert(!ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 4);
	for (size_t i = 0; i < 4; i++) {
		ldns_rr *rr = an(p, i);

		ck_assert_int_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_SRV);
		ck_assert(name_is(ldns_rr_owner(rr), qname));
		ck_assert_uint_eq(ldns_rr_ttl(rr), 7);
		ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)), 0);
		/* Configuration order; a is the heaviest, b half of it. */
		ck_assert_msg(name_is(ldns_rr_rdf(rr, 3), targets[i]), "SRV %zu target", i);
		ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(rr, 2)), ports[i]);
	}
	ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(an(p, 0), 1)), 65535);
	ck_assert_uint_ge(ldns_rdf2native_int16(ldns_rr_rdf(an(p, 1), 1)), 32767);
	ck_assert_uint_le(ldns_rdf2native_int16(ldns_rr_rdf(an(p, 1), 1)), 32768);
	/* Glue: an A for each target, and b's AAAA. */
	ck_assert_uint_eq(ldns_pkt_arcount(p), 5);
	for (size_t i = 0; i < ldns_rr_list_rr_count(add); i++) {
		ldns_rr *rr = ldns_rr_list_rr(add, i);
		int t = -1;

		for (int k = 0; k < 4; k++)
			if (name_is(ldns_rr_owner(rr), targets[k]))
				t = k;
		ck_assert_msg(t >= 0, "glue owner not a target");
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A) {
			seen_a |= 1u << t;
			ck_assert_uint_eq(ldns_rdf_data(ldns_rr_rdf(rr, 0))[3], ports[t] % 10);
		} else {
			ck_assert_int_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_AAAA);
			ck_assert_int_eq(t, 1);
			seen_aaaa |= 1u << t;
		}
	}
	ck_assert_uint_eq(seen_a, 0xF);
	ck_assert_uint_eq(seen_aaaa, 0x2);
	ldns_pkt_free(p);
}

START_TEST(test_srv)
{
	check_srv("payments-v1.local.", 0);
	check_srv("_payments-v1._tcp.local.", 0);
	check_srv("_PAYMENTS-V1._TCP.LOCAL.", 1);
}
END_TEST

START_TEST(test_router_srv)
{
	ldns_pkt *p = ask("_payments._tcp.local.", T_SRV);

	ck_assert_uint_eq(ldns_pkt_ancount(p), 5);
	ck_assert(name_is(ldns_rr_rdf(an(p, 4), 3), "g.payments-v2.local."));
	ck_assert_uint_eq(ldns_pkt_arcount(p), 6);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(test_instance)
{
	ldns_pkt *p;
	ldns_rr *rr;
	int az = 0, tier = 0, health = 0;

	p = ask("A.Payments-V1.Local.", T_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert(ldns_pkt_aa(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_uint_eq(ldns_rr_ttl(an(p, 0)), 7);
	ck_assert_mem_eq(ldns_rdf_data(ldns_rr_rdf(an(p, 0), 0)), "\x0a\x00\x01\x01", 4);
	ldns_pkt_free(p);

	p = ask("b.payments-v1.local.", T_AAAA);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_mem_eq(ldns_rdf_data(ldns_rr_rdf(an(p, 0), 0)),
			 "\xfd\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\x12", 16);
	ldns_pkt_free(p);

	p = ask("a.payments-v1.local.", T_TXT);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	rr = an(p, 0);
	ck_assert_int_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_TXT);
	ck_assert_uint_eq(ldns_rr_ttl(rr), 7);
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const uint8_t *d = ldns_rdf_data(ldns_rr_rdf(rr, i));
		char s[256];

		memcpy(s, d + 1, d[0]);
		s[d[0]] = 0;
		az |= !strcmp(s, "az=a");
		tier |= !strcmp(s, "tier=gold");
		health |= !strcmp(s, "health=healthy");
	}
	ck_assert(az && tier && health);
	ldns_pkt_free(p);

	/* The down instance still answers by name, and says so. */
	p = ask("f.payments-v1.local.", T_TXT);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	rr = an(p, 0);
	ck_assert_uint_eq(ldns_rr_rd_count(rr), 1);
	ck_assert_mem_eq(ldns_rdf_data(ldns_rr_rdf(rr, 0)), "\x10health=unhealthy", 17);
	ldns_pkt_free(p);

	/* ANY: A and TXT; a v4-only instance has no AAAA: NODATA. */
	p = ask("a.payments-v1.local.", T_ANY);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
	ldns_pkt_free(p);
	p = ask("a.payments-v1.local.", T_AAAA);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
	ldns_pkt_free(p);
	p = ask("h.v6only.local.", T_AAAA);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
}
END_TEST

/* Asserts a negative answer: rcode, AA, no answers, one SOA of zone with ttl. */
static void check_negative(const char *name, uint16_t type, ldns_pkt_rcode rcode,
			   const char *zone, uint32_t ttl)
{
	ldns_pkt *p = ask(name, type);
	ldns_rr *soa;

	ck_assert_msg(ldns_pkt_get_rcode(p) == rcode, "%s/%u: rcode %d, want %d", name, type,
		      ldns_pkt_get_rcode(p), rcode);
	ck_assert(ldns_pkt_aa(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
	soa = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
	ck_assert_int_eq(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	ck_assert_msg(name_is(ldns_rr_owner(soa), zone), "SOA owner for %s", name);
	ck_assert_msg(ldns_rr_ttl(soa) == ttl, "%s: SOA TTL %u, want %u", name,
		      ldns_rr_ttl(soa), ttl);
	ldns_pkt_free(p);
}

START_TEST(test_negative)
{
	/* local.: ttl 7, negative_ttl 3 -> 3; mesh.example.: ttl 2, minimum 10 -> 2. */
	check_negative("nope.local.", T_A, LDNS_RCODE_NXDOMAIN, "local.", 3);
	check_negative("x.a.payments-v1.local.", T_A, LDNS_RCODE_NXDOMAIN, "local.", 3);
	check_negative("x.y.z.Mesh.Example.", T_AAAA, LDNS_RCODE_NXDOMAIN, "mesh.example.", 2);
	check_negative("empty.local.", T_A, LDNS_RCODE_NOERROR, "local.", 3);
	check_negative("empty.local.", T_SRV, LDNS_RCODE_NOERROR, "local.", 3);
	check_negative("_empty._tcp.local.", T_SRV, LDNS_RCODE_NOERROR, "local.", 3);
	check_negative("payments-v1.local.", T_MX, LDNS_RCODE_NOERROR, "local.", 3);
	check_negative("payments.local.", T_TXT, LDNS_RCODE_NOERROR, "local.", 3);
	check_negative("v6only.local.", T_A, LDNS_RCODE_NOERROR, "local.", 3);
	check_negative("_tcp.local.", T_A, LDNS_RCODE_NOERROR, "local.", 3); /* empty non-terminal */
	check_negative("local.", T_A, LDNS_RCODE_NOERROR, "local.", 3);
}
END_TEST

START_TEST(test_apex_soa)
{
	ldns_pkt *p = ask("local.", T_SOA);

	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_int_eq(ldns_rr_get_type(an(p, 0)), LDNS_RR_TYPE_SOA);
	ck_assert_uint_eq(ldns_rr_ttl(an(p, 0)), 7);
	ck_assert_uint_eq(ldns_rdf2native_int32(ldns_rr_rdf(an(p, 0), 6)), 3);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(test_refused_outside)
{
	struct tq q;
	size_t len;
	ldns_pkt *p;
	const uint8_t *o;

	p = ask("example.com.", T_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ck_assert(!ldns_pkt_aa(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p) + ldns_pkt_nscount(p) + ldns_pkt_arcount(p), 0);
	ldns_pkt_free(p);
	p = ask("example.", T_A); /* shares no label with a namespace */
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	p = ask(".", T_NS);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	p = ask("xmesh.example.", T_A); /* beside mesh.example., not inside it */
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);

	mkq(&q, 9, F_RD, "www.example.com.", T_A, C_IN, 1232, 0);
	len = run(env.v, &q, 0);
	p = parse(len);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ck_assert(ldns_pkt_edns(p));
	ldns_pkt_free(p);
	o = raw_opt(len);
	ck_assert_ptr_nonnull(o);
	/* class=payload, ttl, rdlen, then option 15: info code 20, text. */
	ck_assert_uint_ge(rd16(o + 6), 6);
	ck_assert_uint_eq(rd16(o + 8), 15);
	ck_assert_uint_eq(rd16(o + 10), rd16(o + 6) - 4);
	ck_assert_uint_eq(rd16(o + 12), 20);
	ck_assert_uint_eq((size_t)(o + 8 + rd16(o + 6) - resp), len);
}
END_TEST

/* ---- truncation ---- */

/* A namespace with service big of n instances (IPv4 and IPv6), ids i00... */
static char *big_config(int n, const char *extra)
{
	size_t cap = 512 + 96 * (size_t)n;
	char *s = malloc(cap);
	size_t len;

	ck_assert_ptr_nonnull(s);
	len = (size_t)snprintf(s, cap,
			       "listen: [\"127.0.0.1:0\"]\n%s"
			       "namespaces:\n"
			       "  - name: local\n"
			       "    services:\n"
			       "      big:\n"
			       "        instances:\n", extra);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len,
					"          - {id: i%02d, address: [10.1.0.%d, \"fd00::%x\"],"
					" port: %d}\n", i, i + 1, i + 1, 8000 + i);
	return s;
}

START_TEST(test_truncation)
{
	char *yaml = big_config(60, "");
	struct tq q;
	size_t len;
	ldns_pkt *p;

	tenv_load(&env, yaml, NOW);
	free(yaml);
	query_ctx_init(&qctx, SEED);

	/* UDP, no EDNS: 512 bytes; the SRV set does not fit. */
	mkq(&q, 1, 0, "big.local.", T_SRV, C_IN, NO_EDNS, 0);
	len = run(env.v, &q, 0);
	ck_assert_uint_le(len, 512);
	p = parse(len);
	ck_assert(ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
	ck_assert_uint_eq(ldns_pkt_arcount(p), 0);
	ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(qctx.stats.truncated, 1);
	ldns_pkt_free(p);

	/* EDNS 1232: truncated or complete, never larger. */
	mkq(&q, 1, 0, "big.local.", T_SRV, C_IN, 1232, 0);
	len = run(env.v, &q, 0);
	ck_assert_uint_le(len, 1232);
	p = parse(len);
	ck_assert(ldns_pkt_tc(p) ? ldns_pkt_ancount(p) == 0 : ldns_pkt_ancount(p) == 60);
	ck_assert(ldns_pkt_edns(p));
	ldns_pkt_free(p);

	/* EDNS 4096: still capped at udp_payload (1232). */
	mkq(&q, 1, 0, "big.local.", T_SRV, C_IN, 4096, 0);
	len = run(env.v, &q, 0);
	ck_assert_uint_le(len, 1232);
	p = parse(len);
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(p), 1232);
	ldns_pkt_free(p);

	/* EDNS below 512 counts as 512. */
	mkq(&q, 1, 0, "big.local.", T_SRV, C_IN, 100, 0);
	len = run(env.v, &q, 0);
	ck_assert_uint_le(len, 512);
	p = parse(len);
	ck_assert(ldns_pkt_tc(p));
	ldns_pkt_free(p);

	/* TCP: everything, with glue. */
	mkq(&q, 1, 0, "big.local.", T_SRV, C_IN, NO_EDNS, 0);
	len = run(env.v, &q, 1);
	ck_assert_uint_gt(len, 1232);
	p = parse(len);
	ck_assert(!ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 60);
	ck_assert_uint_eq(ldns_pkt_arcount(p), 120);
	ldns_pkt_free(p);

	/* A and AAAA: max_answers (8) always fits. */
	for (int t = 0; t < 2; t++) {
		mkq(&q, 1, 0, "big.local.", t ? T_AAAA : T_A, C_IN, NO_EDNS, 0);
		len = run(env.v, &q, 0);
		ck_assert_uint_le(len, 512);
		p = parse(len);
		ck_assert(!ldns_pkt_tc(p));
		ck_assert_uint_eq(ldns_pkt_ancount(p), 8);
		ldns_pkt_free(p);
	}
}
END_TEST

START_TEST(test_truncation_drops_glue_first)
{
	/* 12 SRVs fit in 512 bytes without their glue: RFC 2181 9, no TC. */
	char *yaml = big_config(12, "");
	size_t len;
	ldns_pkt *p;

	tenv_load(&env, yaml, NOW);
	free(yaml);
	query_ctx_init(&qctx, SEED);
	p = ask_v(env.v, "big.local.", T_SRV, C_IN, NO_EDNS, 0, &len);
	ck_assert_uint_le(len, 512);
	ck_assert(!ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 12);
	ck_assert_uint_lt(ldns_pkt_arcount(p), 24);
	/* Glue goes whole RRset by RRset: every A has its AAAA. */
	ck_assert_uint_eq(ldns_pkt_arcount(p) % 2, 0);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(test_udp_payload_config)
{
	char *yaml = big_config(60, "udp_payload: 4096\n");
	size_t len;
	ldns_pkt *p;

	tenv_load(&env, yaml, NOW);
	free(yaml);
	query_ctx_init(&qctx, SEED);
	p = ask_v(env.v, "big.local.", T_SRV, C_IN, 4096, 0, &len);
	ck_assert_uint_le(len, 4096);
	ck_assert_uint_gt(len, 1232);
	ck_assert(!ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 60);
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(p), 4096);
	ldns_pkt_free(p);
}
END_TEST

/* ---- EDNS ---- */

START_TEST(test_edns)
{
	struct tq q;
	size_t len;
	ldns_pkt *p;

	/* Plain EDNS: OPT with our payload, DO clear. */
	mkq(&q, 3, 0, "payments-v1.local.", T_A, C_IN, 4096, 0);
	p = parse(run(env.v, &q, 0));
	ck_assert(ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(p), 1232);
	ck_assert(!ldns_pkt_edns_do(p));
	ck_assert_uint_eq(ldns_pkt_edns_version(p), 0);
	ck_assert_uint_eq(rd16(resp + 10), 1); /* ldns counts the OPT apart */
	ck_assert_uint_eq(ldns_pkt_ancount(p), 3);
	ldns_pkt_free(p);

	/* DO copied. */
	mkq(&q, 3, 0, "payments-v1.local.", T_A, C_IN, 1232, 0x8000);
	p = parse(run(env.v, &q, 0));
	ck_assert(ldns_pkt_edns_do(p));
	ldns_pkt_free(p);

	/* Also on negative answers. */
	mkq(&q, 3, 0, "nope.local.", T_A, C_IN, 1232, 0x8000);
	p = parse(run(env.v, &q, 0));
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ck_assert(ldns_pkt_edns(p));
	ck_assert(ldns_pkt_edns_do(p));
	ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
	ldns_pkt_free(p);

	/* No EDNS in, none out. */
	mkq(&q, 3, 0, "payments-v1.local.", T_A, C_IN, NO_EDNS, 0);
	p = parse(run(env.v, &q, 0));
	ck_assert(!ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_arcount(p), 0);
	ldns_pkt_free(p);

	/* Version 1: BADVERS = 16: header rcode 0, extended rcode 1, no answer. */
	mkq(&q, 3, 0, "payments-v1.local.", T_A, C_IN, 1232, 1u << 16);
	len = run(env.v, &q, 0);
	p = parse(len);
	ck_assert_uint_eq(resp[3] & 0x0F, 0);
	ck_assert(ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_edns_extended_rcode(p), 1);
	ck_assert_uint_eq(ldns_pkt_edns_version(p), 0);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
	ldns_pkt_free(p);

	/* An OPT with an option (a cookie) is accepted and ignored. */
	mkq(&q, 3, 0, "payments-v1.local.", T_A, C_IN, NO_EDNS, 0);
	q.b[11] = 1;
	opt(&q, 1232, 0);
	q.len -= 2;
	put16(&q, 12), put16(&q, 10), put16(&q, 8);
	put_bytes(&q, "\1\2\3\4\5\6\7\x8", 8);
	p = parse(run(env.v, &q, 0));
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 3);
	ldns_pkt_free(p);
}
END_TEST

/* ---- malformed queries ---- */

static void expect_rcode(const struct tq *q, int rcode, int with_question)
{
	size_t len = run(env.v, q, 0);
	ldns_pkt *p = parse(len);

	ck_assert_msg((int)ldns_pkt_get_rcode(p) == rcode, "rcode %d, want %d",
		      ldns_pkt_get_rcode(p), rcode);
	ck_assert(ldns_pkt_qr(p));
	ck_assert_uint_eq(ldns_pkt_id(p), rd16(q->b));
	ck_assert_uint_eq(ldns_pkt_qdcount(p), with_question);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	if (rcode != LDNS_RCODE_NXDOMAIN)
		ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
	ck_assert(!ldns_pkt_edns(p));
	ldns_pkt_free(p);
}

START_TEST(test_malformed)
{
	struct tq q;

	/* Too short; and responses are never answered. */
	mkq(&q, 1, 0, "local.", T_A, C_IN, NO_EDNS, 0);
	for (size_t n = 0; n < 12; n++)
		ck_assert_uint_eq(query_process(&qctx, env.v, q.b, n, resp, sizeof(resp), 0), 0);
	mkq(&q, 1, F_QR, "local.", T_A, C_IN, NO_EDNS, 0);
	ck_assert_uint_eq(run(env.v, &q, 0), 0);
	/* Too small an output buffer. */
	mkq(&q, 1, 0, "local.", T_A, C_IN, NO_EDNS, 0);
	ck_assert_uint_eq(query_process(&qctx, env.v, q.b, q.len, resp, 511, 0), 0);

	/* qdcount 0 and 2. */
	hdr(&q, 2, 0, 0, 0, 0, 0);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 0);
	mkq(&q, 3, 0, "local.", T_A, C_IN, NO_EDNS, 0);
	q.b[5] = 2;
	put_bytes(&q, "\5local\0\0\1\0\1", 11);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 0);

	/* Truncated question, at every length. */
	mkq(&q, 4, 0, "payments-v1.local.", T_A, C_IN, NO_EDNS, 0);
	for (size_t n = 12; n < q.len; n++) {
		struct tq t = q;

		t.len = n;
		expect_rcode(&t, LDNS_RCODE_FORMERR, 0);
	}

	/* Pointer loops: to itself, and forwards-then-back. */
	hdr(&q, 5, 0, 1, 0, 0, 0);
	put_bytes(&q, "\xC0\x0C\0\1\0\1", 6);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 0);
	hdr(&q, 5, 0, 1, 0, 0, 0);
	put_bytes(&q, "\3foo\xC0\x0C\0\1\0\1", 10);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 0);
	hdr(&q, 5, 0, 1, 0, 0, 0);
	put_bytes(&q, "\xC0\x0E\xC0\x0C\0\1\0\1", 8);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 0);
	/* A valid backward pointer (to the 00 of qdcount: the root). */
	hdr(&q, 6, 0, 1, 0, 0, 0);
	put_bytes(&q, "\3foo\xC0\x04\0\1\0\1", 10);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 0);
	/* Extended label types 0x40 and 0x80. */
	hdr(&q, 6, 0, 1, 0, 0, 0);
	put_bytes(&q, "\x41\0\0\1\0\1", 6);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 0);

	/* Records in answer or authority; keep the question. */
	mkq(&q, 7, 0, "local.", T_A, C_IN, NO_EDNS, 0);
	q.b[7] = 1;
	put_bytes(&q, "\xC0\x0C\0\1\0\1\0\0\0\5\0\4\1\2\3\4", 16);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);
	q.b[7] = 0, q.b[9] = 1;
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);

	/* Two OPTs; an OPT not at the root; an OPT overrunning its rdata. */
	mkq(&q, 8, 0, "local.", T_A, C_IN, 1232, 0);
	q.b[11] = 2;
	opt(&q, 1232, 0);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);
	mkq(&q, 8, 0, "local.", T_A, C_IN, NO_EDNS, 0);
	q.b[11] = 1;
	put_bytes(&q, "\xC0\x0C\0\x29\4\xD0\0\0\0\0\0\0", 12);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);
	mkq(&q, 8, 0, "local.", T_A, C_IN, NO_EDNS, 0);
	q.b[11] = 1;
	put_bytes(&q, "\0\0\x29\4\xD0\0\0\0\0\0\6\0\x0a\0\4\1\2", 17);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);
	/* Fewer additional records than arcount says. */
	mkq(&q, 8, 0, "local.", T_A, C_IN, 1232, 0);
	q.b[11] = 2;
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);

	/* Trailing garbage after a complete message. */
	mkq(&q, 9, 0, "local.", T_A, C_IN, NO_EDNS, 0);
	put_bytes(&q, "\0", 1);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);
	mkq(&q, 9, 0, "local.", T_A, C_IN, 1232, 0);
	put_bytes(&q, "xyz", 3);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);

	/* Opcodes other than QUERY: STATUS (2) is NOTIMP; UPDATE (5) reaches the
	 * query path only when no key allows registrations: REFUSED. */
	mkq(&q, 10, 2 << 11, "local.", T_A, C_IN, NO_EDNS, 0);
	expect_rcode(&q, LDNS_RCODE_NOTIMPL, 1);
	ck_assert_uint_eq((resp[2] >> 3) & 0xF, 2);
	mkq(&q, 10, 5 << 11, "local.", T_SOA, C_IN, NO_EDNS, 0);
	expect_rcode(&q, LDNS_RCODE_REFUSED, 1);
	ck_assert_uint_eq((resp[2] >> 3) & 0xF, 5);
	hdr(&q, 10, 4 << 11, 0, 0, 0, 0);
	expect_rcode(&q, LDNS_RCODE_NOTIMPL, 0);

	/* Meta types. */
	mkq(&q, 11, 0, "local.", T_OPT, C_IN, NO_EDNS, 0);
	expect_rcode(&q, LDNS_RCODE_FORMERR, 1);
	mkq(&q, 11, 0, "local.", T_AXFR, C_IN, NO_EDNS, 0);
	expect_rcode(&q, LDNS_RCODE_REFUSED, 1);
}
END_TEST

/* ---- CHAOS ---- */

START_TEST(test_chaos)
{
	ldns_pkt *p;
	const uint8_t *d;

	p = ask_v(env.v, "VERSION.bind.", T_TXT, C_CH, NO_EDNS, 0, NULL);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_int_eq(ldns_rr_get_type(an(p, 0)), LDNS_RR_TYPE_TXT);
	ck_assert_int_eq(ldns_rr_get_class(an(p, 0)), LDNS_RR_CLASS_CH);
	d = ldns_rdf_data(ldns_rr_rdf(an(p, 0), 0));
	ck_assert_uint_gt(d[0], 8);
	ck_assert_mem_eq(d + 1, "meshdns ", 8);
	ldns_pkt_free(p);

	p = ask_v(env.v, "version.server.", T_TXT, C_CH, 1232, 0, NULL);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);

	p = ask_v(env.v, "version.bind.", T_A, C_CH, NO_EDNS, 0, NULL);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	p = ask_v(env.v, "hostname.bind.", T_TXT, C_CH, NO_EDNS, 0, NULL);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	p = ask_v(env.v, "payments-v1.local.", T_A, 4 /* HS */, NO_EDNS, 0, NULL);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
}
END_TEST

/* ---- zone files: escapes, CNAMEs ---- */

static const char zone_text[] =
	"$ORIGIN local.\n"
	"$TTL 300\n"
	"@ IN SOA ns.local. hostmaster.local. 1 3600 600 86400 5\n"
	"  IN NS ns.local.\n"
	"ns IN A 127.0.0.1\n"
	"a\\.b IN A 10.9.0.1\n"
	"sp\\032ace IN TXT \"x\"\n"
	"gateway IN A 10.0.0.1\n"
	"www IN CNAME gateway\n"
	"dangling IN CNAME nothing.local.\n"
	"away IN CNAME www.example.com.\n"
	"loop1 IN CNAME loop2\n"
	"loop2 IN CNAME loop1\n"
	"alias IN CNAME svc\n";

static void setup_zone(char path[64])
{
	char yaml[1024];

	tzone_write(path, zone_text);
	snprintf(yaml, sizeof(yaml),
		 "listen: [\"127.0.0.1:0\"]\n"
		 "namespaces:\n"
		 "  - name: local\n"
		 "    zone: %s\n"
		 "    services:\n"
		 "      svc:\n"
		 "        instances:\n"
		 "          - {id: a, address: 10.0.0.5, port: 80}\n", path);
	tenv_load(&env, yaml, NOW);
	query_ctx_init(&qctx, SEED);
}

START_TEST(test_escapes)
{
	char path[64];
	struct tq q;
	ldns_pkt *p;

	setup_zone(path);
	/* A dot inside a label is one label, not two. */
	p = ask("A\\.B.local.", T_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_mem_eq(ldns_rdf_data(ldns_rr_rdf(an(p, 0), 0)), "\x0a\x09\x00\x01", 4);
	ck_assert_uint_eq(ldns_rdf_size(ldns_rr_owner(an(p, 0))), 11);
	ldns_pkt_free(p);
	check_negative("a.b.local.", T_A, LDNS_RCODE_NXDOMAIN, "local.", 5);
	check_negative("b.local.", T_A, LDNS_RCODE_NXDOMAIN, "local.", 5);
	check_negative("x\\.y.local.", T_A, LDNS_RCODE_NXDOMAIN, "local.", 5);
	/* "svc.local" as one label under the root: outside every namespace. */
	p = ask("svc\\.local.", T_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	p = ask("sp ace.local.", T_TXT);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);

	/* Binary labels: NUL, 0xFF, an embedded "\xC0". */
	hdr(&q, 1, 0, 1, 0, 0, 0);
	put_bytes(&q, "\4\0\xff\xc0.\5local\0\0\1\0\1", 16);
	expect_rcode(&q, LDNS_RCODE_NXDOMAIN, 1);
	ck_assert_mem_eq(resp + 12, q.b + 12, 16);

	/* A 63-byte label and a 255-byte name. */
	{
		char name[300];
		size_t n = 0;

		for (int l = 0; l < 3; l++) {
			memset(name + n, 'x', 63);
			n += 63;
			name[n++] = '.';
		}
		memset(name + n, 'y', 55);
		n += 55;
		strcpy(name + n, ".local.");
		mkq(&q, 1, 0, name, T_A, C_IN, NO_EDNS, 0);
		ck_assert_uint_eq(q.len, 12 + 255 + 4);
		p = parse(run(env.v, &q, 0));
		ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
		ldns_pkt_free(p);
	}
	tenv_free(&env);
	unlink(path);
}
END_TEST

START_TEST(test_static_and_cname)
{
	char path[64];
	ldns_pkt *p;

	setup_zone(path);
	/* Zone SOA: TTL 300, minimum 5 -> 5 on negative answers. */
	check_negative("nope.local.", T_A, LDNS_RCODE_NXDOMAIN, "local.", 5);
	p = ask("local.", T_SOA);
	ck_assert_uint_eq(ldns_rr_ttl(an(p, 0)), 300);
	ldns_pkt_free(p);
	p = ask("local.", T_NS);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert(name_is(ldns_rr_rdf(an(p, 0), 0), "ns.local."));
	ldns_pkt_free(p);
	p = ask("gateway.local.", T_A);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_uint_eq(ldns_rr_ttl(an(p, 0)), 300);
	ldns_pkt_free(p);

	/* CNAME followed inside the view. */
	p = ask("WWW.local.", T_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
	ck_assert_int_eq(ldns_rr_get_type(an(p, 0)), LDNS_RR_TYPE_CNAME);
	ck_assert_int_eq(ldns_rr_get_type(an(p, 1)), LDNS_RR_TYPE_A);
	ck_assert(name_is(ldns_rr_owner(an(p, 1)), "gateway.local."));
	ldns_pkt_free(p);
	p = ask("www.local.", T_CNAME);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	/* To a missing name of ours: NXDOMAIN (RFC 6604), CNAME kept. */
	p = ask("dangling.local.", T_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
	ldns_pkt_free(p);
	p = ask("away.local.", T_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	/* A loop ends. */
	p = ask("loop1.local.", T_A);
	ck_assert_uint_ge(ldns_pkt_ancount(p), 2);
	ck_assert_uint_le(ldns_pkt_ancount(p), 10);
	ldns_pkt_free(p);
	/* A CNAME into the registry. */
	p = ask("alias.local.", T_A);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
	ck_assert(name_is(ldns_rr_owner(an(p, 1)), "svc.local."));
	ldns_pkt_free(p);
	p = ask("alias.local.", T_SRV);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
	ck_assert_uint_eq(ldns_pkt_arcount(p), 1);
	ldns_pkt_free(p);
	/* The registry beside the zone. */
	p = ask("svc.local.", T_A);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_uint_eq(ldns_rr_ttl(an(p, 0)), 5);
	ldns_pkt_free(p);
	tenv_free(&env);
	unlink(path);
}
END_TEST

/* ---- fuzz-ish ---- */

static uint64_t xs;

static uint64_t xorshift(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return xs;
}

START_TEST(test_random_packets)
{
	static const char *names[] = { "payments-v1.local.", "PAYMENTS.local.",
				       "_payments._tcp.local.", "b.payments-v1.local.",
				       "nope.local.", "empty.local.", "local.", "x.mesh.example.",
				       "example.com.", "version.bind." };
	static const uint16_t types[] = { T_A, T_AAAA, T_SRV, T_TXT, T_ANY, T_SOA, T_NS,
					  T_MX, T_CNAME };
	const int N = 100000;
	unsigned answered = 0;

	xs = 0x9E3779B97F4A7C15ull;
	for (int i = 0; i < N; i++) {
		struct tq q;
		int tcp = i & 1;
		size_t len;

		if (xorshift() % 4 == 0) {
			q.len = (size_t)(xorshift() % 300);
			for (size_t k = 0; k < q.len; k++)
				q.b[k] = (uint8_t)xorshift();
			if (xorshift() % 2)
				q.b[2] &= 0x7F; /* a query, not a response */
		} else {
			mkq(&q, (uint16_t)xorshift(), (uint16_t)(xorshift() % 2 ? F_RD : 0),
			    names[xorshift() % 10], types[xorshift() % 9],
			    xorshift() % 8 ? C_IN : C_CH,
			    xorshift() % 2 ? (int)(xorshift() % 5000) : NO_EDNS,
			    (uint32_t)(xorshift() % 3 ? 0 : xorshift()));
			for (int m = (int)(xorshift() % 4); m > 0; m--) {
				switch (xorshift() % 4) {
				case 0:
					q.b[xorshift() % q.len] = (uint8_t)xorshift();
					break;
				case 1:
					q.b[12 + xorshift() % (q.len - 12)] ^=
						(uint8_t)(1u << (xorshift() % 8));
					break;
				case 2:
					q.len = 12 + (size_t)(xorshift() % (q.len - 11));
					break;
				default:
					if (q.len < sizeof(q.b) - 8)
						for (int k = 0; k < 8; k++)
							q.b[q.len++] = (uint8_t)xorshift();
					break;
				}
				if (q.len <= 12)
					break;
			}
			q.b[2] &= 0x7F;
		}
		len = run(env.v, &q, tcp);
		if (!len)
			continue;
		answered++;
		ck_assert_msg(len <= (tcp ? 65535u : 1232u), "packet %d: %zu bytes", i, len);
		ck_assert_uint_eq(rd16(resp), rd16(q.b));
		ck_assert(resp[2] & 0x80);
		{
			ldns_pkt *p = NULL;
			ldns_status st = ldns_wire2pkt(&p, resp, len);

			ck_assert_msg(st == LDNS_STATUS_OK, "packet %d: %s", i,
				      ldns_get_errorstr_by_id(st));
			ldns_pkt_free(p);
		}
	}
	ck_assert_uint_gt(answered, N / 2);
	ck_assert_uint_eq(qctx.stats.queries, (uint64_t)N);
}
END_TEST

static Suite *query_suite(void)
{
	Suite *s = suite_create("query");
	TCase *tc = tcase_create("answers");

	tcase_add_checked_fixture(tc, setup_main, teardown);
	tcase_add_test(tc, test_service_a);
	tcase_add_test(tc, test_router_distribution);
	tcase_add_test(tc, test_service_first_answer_weights);
	tcase_add_test(tc, test_srv);
	tcase_add_test(tc, test_router_srv);
	tcase_add_test(tc, test_instance);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_apex_soa);
	tcase_add_test(tc, test_refused_outside);
	tcase_add_test(tc, test_edns);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_chaos);
	suite_add_tcase(s, tc);

	tc = tcase_create("truncation");
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_truncation_drops_glue_first);
	tcase_add_test(tc, test_udp_payload_config);
	tcase_add_checked_fixture(tc, NULL, teardown);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_escapes);
	tcase_add_test(tc, test_static_and_cname);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, setup_main, teardown);
	tcase_add_test(tc, test_random_packets);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(query_suite(), NULL);
}
