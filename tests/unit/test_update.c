/* test_update.c - check suite for resolver/update.h (and the agent's reading
 * of UPDATE answers, agent/register.h, which shares the message checks).
 *
 * Messages are built with ldns from presentation-form records and signed
 * with ldns at the current time, as nsupdate would send them; the registry
 * starts with one config instance and two UPDATE instances. Malformed
 * messages (counts that lie, a second or misplaced TSIG) are made by editing
 * the signed bytes. Each case checks the plan (rcode, TSIG error, changes)
 * and, where the answer matters, the answer update_answer writes. */
#include <arpa/inet.h>
#include <check.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "config.h"
#include "journal.h"
#include "log.h"
#include "register.h"
#include "registry.h"
#include "update.h"
#include "wire.h"
#include "checkmain.h"

#define S256 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define S512 "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGiow=="

static const char yaml[] =
	"listen: [\"127.0.0.1:0\"]\n"
	"namespaces:\n"
	"  - name: local\n"
	"    services:\n"
	"      payments-v1:\n"
	"        instances:\n"
	"          - {id: static, address: 10.0.0.1, port: 5000}\n"
	"      payments-v2: {}\n"
	"      orders: {}\n"
	"keys:\n"
	"  - {name: k256, algorithm: hmac-sha256, secret: \"" S256 "\",\n"
	"     allow: [payments-v1.local, payments-v2.local]}\n"
	"  - {name: k512, algorithm: hmac-sha512, secret: \"" S512 "\",\n"
	"     allow: [orders.local]}\n";

static struct config *cfg;
static struct registry *reg;
static struct update_plan plan;
static uint8_t msg[4096];
static size_t msg_len;

static void put(const char *ns, const char *svc, const char *id, const char *v4,
		const char *v6, uint16_t port, uint16_t weight, const char *attrs)
{
	struct jrec r;

	memset(&r, 0, sizeof(r));
	r.op = JOURNAL_PUT;
	r.ns_len = (size_t)wire_name_from_text(ns, r.ns);
	snprintf(r.svc, sizeof(r.svc), "%s", svc);
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.has4 = v4 && inet_pton(AF_INET, v4, r.addr4) == 1;
	r.has6 = v6 && inet_pton(AF_INET6, v6, r.addr6) == 1;
	r.port = port;
	r.weight = weight;
	r.origin = ORIGIN_UPDATE;
	r.attrs = (const uint8_t *)attrs;
	r.attrs_len = attrs ? (uint16_t)strlen(attrs) : 0;
	ck_assert_int_eq(registry_apply(reg, &r, 1), 0);
}

static void setup(void)
{
	char err[CFG_ERR_MAX];

	log_set_level(LOG_ERR);
	ck_assert_int_eq(config_load_text(&cfg, "<test>", yaml, err, sizeof(err)), 0);
	ck_assert_int_eq(registry_new(&reg, cfg, err, sizeof(err)), 0);
	/* t1: v4 only, "\4az=a"; t2: v4 and v6, weight 7 port 6000. */
	put("local", "payments-v1", "t1", "10.0.1.5", NULL, 5000, 100, "\4az=a");
	put("local", "payments-v2", "t2", "10.0.1.6", "fd00::6", 6000, 7, NULL);
	put("local", "orders", "o1", "10.0.1.7", NULL, 5000, 100, NULL);
}

static void teardown(void)
{
	registry_free(reg);
	config_free(cfg);
}

/* One record in presentation form; "NAME 0 CLASS TYPE" without rdata (the
 * deletes and prerequisites of RFC 2136) is read as a question, which ldns
 * allows without rdata. */
static ldns_rr *rr_of(const char *text)
{
	ldns_rr *rr = NULL;
	char q[300];
	const char *ttl = strstr(text, " 0 ");

	if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) == LDNS_STATUS_OK)
		return rr;
	ck_assert_msg(ttl != NULL, "bad record %s", text);
	snprintf(q, sizeof(q), "%.*s%s", (int)(ttl - text), text, ttl + 2);
	ck_assert_msg(ldns_rr_new_question_frm_str(&rr, q, NULL, NULL) == LDNS_STATUS_OK,
		      "bad record %s", text);
	ldns_rr_set_ttl(rr, 0);
	return rr;
}

/* Builds an UPDATE for zone with prerequisites and updates (NULL-terminated
 * lists of records in presentation form), signed with key (NULL: unsigned;
 * secret NULL: the key's own). lease > 0 adds an UPDATE-LEASE option. */
static void build(const char *zone, const char *const *pre, const char *const *up,
		  const char *key, const char *secret, uint32_t lease)
{
	ldns_pkt *pkt = ldns_pkt_new();
	ldns_rr *z = NULL;
	uint8_t *wire = NULL;

	ck_assert_ptr_nonnull(pkt);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	ldns_pkt_set_id(pkt, 0x4242);
	char q[300];

	snprintf(q, sizeof(q), "%s. IN SOA", zone);
	ck_assert_int_eq(ldns_rr_new_question_frm_str(&z, q, NULL, NULL), LDNS_STATUS_OK);
	ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, z);
	for (size_t i = 0; pre && pre[i]; i++)
		ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr_of(pre[i]));
	for (size_t i = 0; up && up[i]; i++)
		ldns_pkt_push_rr(pkt, LDNS_SECTION_AUTHORITY, rr_of(up[i]));
	if (lease) {
		uint8_t opt[8] = { 0, 2, 0, 4, (uint8_t)(lease >> 24), (uint8_t)(lease >> 16),
				   (uint8_t)(lease >> 8), (uint8_t)lease };

		ldns_pkt_set_edns_udp_size(pkt, 1232);
		ldns_pkt_set_edns_data(pkt, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 8, opt));
	}
	if (key) {
		int k512 = !strcmp(key, "k512");

		ck_assert_int_eq(ldns_pkt_tsig_sign(pkt, key, secret ? secret : k512 ? S512 : S256,
						    300, k512 ? "hmac-sha512." : "hmac-sha256.",
						    NULL), LDNS_STATUS_OK);
	}
	ck_assert_int_eq(ldns_pkt2wire(&wire, pkt, &msg_len), LDNS_STATUS_OK);
	ck_assert_uint_le(msg_len, sizeof(msg));
	memcpy(msg, wire, msg_len);
	free(wire);
	ldns_pkt_free(pkt);
}

static void plan_it(void)
{
	ck_assert_int_eq(update_plan(reg, msg, msg_len, (uint64_t)time(NULL), &plan), 0);
}

/* Plans an UPDATE of zone local with prerequisites pre and updates up,
 * signed with k256 (lease > 0: an UPDATE-LEASE), and checks its rcode, its
 * changes and, when nvisible >= 0, how many of them the answers show. */
#define expect_plan(...) expect_plan_at(__LINE__, __VA_ARGS__)
static void expect_plan_at(int line, const char *const *pre, const char *const *up, uint32_t lease,
			   int rcode, size_t nchanges, int nvisible)
{
	build("local", pre, up, "k256", NULL, lease);
	plan_it();
	ck_assert_msg(plan.rcode == rcode && plan.nchanges == nchanges &&
		      (nvisible < 0 || plan.nvisible == (size_t)nvisible),
		      "line %d: rcode %d changes %zu visible %zu, expected %d %zu %d", line,
		      plan.rcode, plan.nchanges, plan.nvisible, rcode, nchanges, nvisible);
}

static void apply_plan(void)
{
	for (size_t i = 0; i < plan.nchanges; i++)
		ck_assert_int_eq(registry_apply(reg, &plan.changes[i], 2), 0);
}

static struct instance *inst(const char *svc, const char *id)
{
	uint8_t w[WIRE_NAME_MAX];
	char name[128];
	struct service *s;

	snprintf(name, sizeof(name), "%s.local", svc);
	ck_assert_int_gt(wire_name_from_text(name, w), 0);
	ck_assert_ptr_nonnull(s = registry_find_service(reg, w, wire_name_len(w)));
	return registry_find_instance(s, id);
}

#define REG(id, ip) \
	id ".payments-v1.local. 0 ANY ANY", \
	id ".payments-v1.local. 5 IN A " ip, \
	id ".payments-v1.local. 5 IN TXT \"health=healthy\" \"az=b\"", \
	"payments-v1.local. 5 IN SRV 0 100 5000 " id ".payments-v1.local."

START_TEST(accepted_add)
{
	const char *up[] = { "t3.payments-v1.local. 0 ANY ANY",
			     "t3.payments-v1.local. 5 IN A 10.0.1.9",
			     "t3.payments-v1.local. 5 IN TXT \"health=warning\" \"az=b\"",
			     "payments-v1.local. 5 IN SRV 0 30 5001 t3.payments-v1.local.", NULL };
	struct instance *in;

	build("local", NULL, up, "k256", NULL, 60);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 1);
	ck_assert_int_eq(plan.changes[0].op, JOURNAL_PUT);
	ck_assert_uint_eq(plan.lease, 60);
	apply_plan();
	ck_assert_ptr_nonnull(in = inst("payments-v1", "t3"));
	ck_assert_uint_eq(in->port, 5001);
	ck_assert_uint_eq(in->weight, 30);
	ck_assert_int_eq(in->health, HEALTH_WARNING);
	ck_assert_uint_eq(in->nattrs, 1);
	ck_assert_str_eq(in->attrs[0], "az=b");
}
END_TEST

START_TEST(replace_same_id)
{
	const char *up[] = { "t1.payments-v1.local. 5 IN A 10.0.1.50",
			     "payments-v1.local. 5 IN SRV 0 1 7000 t1.payments-v1.local.", NULL };
	struct instance *in;

	build("local", NULL, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 1);
	apply_plan();
	in = inst("payments-v1", "t1");
	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(in->addr4[3], 50);
	ck_assert_uint_eq(in->port, 7000);
	ck_assert_uint_eq(in->nattrs, 0);       /* a fresh registration: old attrs gone */
	ck_assert_uint_eq(inst("payments-v1", "static") != NULL, 1);
}
END_TEST

/* Registering again what is registered changes nothing: no record to
 * journal. With a lease the record moves the lease only (nvisible 0), and
 * registry_apply moves it in place: the same instance, the same serial.
 * Any field of the answers that differs is a change the view shows. */
START_TEST(renewal_changes_nothing_but_the_lease)
{
	const char *same[] = { "t1.payments-v1.local. 0 ANY ANY",
			       "t1.payments-v1.local. 5 IN A 10.0.1.5",
			       "t1.payments-v1.local. 5 IN TXT \"az=a\"",
			       "payments-v1.local. 5 IN SRV 0 100 5000 t1.payments-v1.local.", NULL };
	const char *port[] = { "t1.payments-v1.local. 0 ANY ANY",
			       "t1.payments-v1.local. 5 IN A 10.0.1.5",
			       "t1.payments-v1.local. 5 IN TXT \"az=a\"",
			       "payments-v1.local. 5 IN SRV 0 100 5001 t1.payments-v1.local.", NULL };
	const char *health[] = { "t1.payments-v1.local. 0 ANY ANY",
				 "t1.payments-v1.local. 5 IN A 10.0.1.5",
				 "t1.payments-v1.local. 5 IN TXT \"az=a\" \"health=warning\"",
				 "payments-v1.local. 5 IN SRV 0 100 5000 t1.payments-v1.local.", NULL };
	struct instance *before = inst("payments-v1", "t1");
	uint32_t serial = before->svc->ns->serial;

	expect_plan(NULL, same, 0, 0, 0, 0);
	expect_plan(NULL, same, 30, 0, 1, 0);
	apply_plan();
	ck_assert_ptr_eq(inst("payments-v1", "t1"), before);
	ck_assert_uint_ge(before->lease_expiry, (uint64_t)time(NULL) + 29);
	ck_assert_uint_eq(before->svc->ns->serial, serial);
	expect_plan(NULL, port, 30, 0, 1, 1);
	expect_plan(NULL, health, 30, 0, 1, 1);
	apply_plan();
	ck_assert_ptr_ne(inst("payments-v1", "t1"), before);
	ck_assert_uint_eq(inst("payments-v1", "t1")->svc->ns->serial, serial + 1);
}
END_TEST

START_TEST(delete_any)
{
	const char *up[] = { "t1.payments-v1.local. 0 ANY ANY", NULL };

	build("local", NULL, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 1);
	ck_assert_int_eq(plan.changes[0].op, JOURNAL_DEL);
	apply_plan();
	ck_assert_ptr_null(inst("payments-v1", "t1"));
}
END_TEST

START_TEST(delete_srv_rrset)
{
	const char *up[] = { "payments-v1.local. 0 ANY SRV", NULL };

	build("local", NULL, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 1);    /* t1; the config instance stays */
	apply_plan();
	ck_assert_ptr_null(inst("payments-v1", "t1"));
	ck_assert_ptr_nonnull(inst("payments-v1", "static"));
}
END_TEST

START_TEST(delete_one_srv_matches_rdata)
{
	const char *wrong[] = { "payments-v2.local. 0 NONE SRV 0 8 6000 t2.payments-v2.local.", NULL };
	const char *right[] = { "payments-v2.local. 0 NONE SRV 0 7 6000 t2.payments-v2.local.", NULL };

	build("local", NULL, wrong, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 0);    /* another weight: not that RR */
	build("local", NULL, right, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 1);
	ck_assert_int_eq(plan.changes[0].op, JOURNAL_DEL);
}
END_TEST

START_TEST(delete_one_rr_matches_rdata)
{
	const char *wrong[] = { "t2.payments-v2.local. 0 NONE A 10.9.9.9", NULL };
	const char *right[] = { "t2.payments-v2.local. 0 NONE A 10.0.1.6", NULL };
	const char *txt[] = { "t1.payments-v1.local. 0 NONE TXT \"az=a\" \"health=healthy\"", NULL };
	struct instance *in;

	expect_plan(NULL, wrong, 0, 0, 0, -1);
	expect_plan(NULL, right, 0, 0, 1, -1);
	ck_assert_int_eq(plan.changes[0].op, JOURNAL_PUT);  /* the AAAA keeps it */
	apply_plan();
	in = inst("payments-v2", "t2");
	ck_assert_int_eq(in->has4, 0);
	ck_assert_int_eq(in->has6, 1);
	build("local", NULL, txt, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 1);
	apply_plan();
	ck_assert_uint_eq(inst("payments-v1", "t1")->nattrs, 0);
}
END_TEST

START_TEST(prerequisites)
{
	const char *ok[] = { "t1.payments-v1.local. 0 ANY ANY", "t1.payments-v1.local. 0 IN A 10.0.1.5",
			     "t9.payments-v1.local. 0 NONE ANY", "payments-v1.local. 0 ANY SRV", NULL };
	const char *nx[] = { "t9.payments-v1.local. 0 ANY ANY", NULL };
	const char *differs[] = { "t1.payments-v1.local. 0 IN A 10.0.1.99", NULL };
	const char *yx[] = { "t1.payments-v1.local. 0 NONE A", NULL };
	const char *up[] = { REG("t9", "10.0.1.90"), NULL };

	build("local", ok, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	build("local", nx, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_NXDOMAIN);
	build("local", differs, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_NXRRSET);
	build("local", yx, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_YXRRSET);
	ck_assert_uint_eq(plan.nchanges, 0);
}
END_TEST

/* Prerequisites that name values (RFC 2136 2.4.2) are compared with the
 * records served: the whole SRV RRset of a service, an instance's TXT. */
START_TEST(prerequisites_by_value)
{
	const char *srv_all[] = { "payments-v1.local. 0 IN SRV 0 100 5000 t1.payments-v1.local.",
				  "payments-v1.local. 0 IN SRV 0 100 5000 static.payments-v1.local.",
				  NULL };
	const char *srv_part[] = { "payments-v1.local. 0 IN SRV 0 100 5000 t1.payments-v1.local.",
				   NULL };
	const char *srv_port[] = { "payments-v1.local. 0 IN SRV 0 100 5001 t1.payments-v1.local.",
				   "payments-v1.local. 0 IN SRV 0 100 5000 static.payments-v1.local.",
				   NULL };
	const char *txt[] = { "t1.payments-v1.local. 0 IN TXT \"az=a\" \"health=healthy\"", NULL };
	const char *txt_other[] = { "t1.payments-v1.local. 0 IN TXT \"az=b\" \"health=healthy\"",
				    NULL };
	/* t1's A and TXT rdata under type ANY: a value names its type too. */
	const char *any[] = { "t1.payments-v1.local. 0 IN TYPE255 \\# 4 0a000105",
			      "t1.payments-v1.local. 0 IN TYPE255 \\# 20 04617a3d610e6865616c74683d"
			      "6865616c746879", NULL };
	const char *up[] = { REG("t9", "10.0.1.90"), NULL };
	struct { const char *const *pre; int rcode; } c[] = {
		{ srv_all, 0 }, { srv_part, LDNS_RCODE_NXRRSET }, { srv_port, LDNS_RCODE_NXRRSET },
		{ txt, 0 }, { txt_other, LDNS_RCODE_NXRRSET }, { any, LDNS_RCODE_NXRRSET } };

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		expect_plan(c[i].pre, up, 0, c[i].rcode, c[i].rcode ? 0 : 1, -1);
}
END_TEST

/* An unsigned UPDATE of zone local written byte by byte: one update record
 * of type with rdata rd (rdlen bytes), then nopt OPT records. */
static void raw(uint16_t type, const void *rd, uint16_t rdlen, int nopt)
{
	uint8_t owner[WIRE_NAME_MAX], zone[WIRE_NAME_MAX];
	struct wire w;

	wire_name_from_text("t1.payments-v1.local", owner);
	wire_name_from_text("local", zone);
	wire_init(&w, msg, sizeof(msg));
	wire_put_u16(&w, 0x4242);
	wire_put_u16(&w, 5 << 11);              /* opcode UPDATE */
	wire_put_u16(&w, 1);
	wire_put_u16(&w, 0);
	wire_put_u16(&w, 1);
	wire_put_u16(&w, (uint16_t)nopt);
	wire_put(&w, zone, wire_name_len(zone));
	wire_put_u16(&w, 6);
	wire_put_u16(&w, 1);
	wire_put(&w, owner, wire_name_len(owner));
	wire_put_u16(&w, type);
	wire_put_u16(&w, 1);
	wire_put_u32(&w, 5);
	wire_put_u16(&w, rdlen);
	wire_put(&w, rd, rdlen);
	for (int i = 0; i < nopt; i++) {
		wire_put_u8(&w, 0);
		wire_put_u16(&w, 41);
		wire_put_u16(&w, 1232);
		wire_put_u32(&w, 0);
		wire_put_u16(&w, 0);
	}
	ck_assert_int_eq(w.err, 0);
	msg_len = w.pos;
}

/* Record data that does not have its type's shape is FORMERR, before the
 * missing signature is looked at, as is a second OPT record. */
START_TEST(formerr_rdata_shapes)
{
	struct { uint16_t type; const char *rd; uint16_t rdlen; int nopt, rcode; } c[] = {
		{ 1, "\x0a\0\0\x05", 4, 1, LDNS_RCODE_REFUSED },    /* well-formed: unsigned */
		{ 1, "\x0a\0\0", 3, 0, LDNS_RCODE_FORMERR },         /* A of 3 bytes */
		{ 28, "\xfd\0\0\0", 4, 0, LDNS_RCODE_FORMERR },      /* AAAA of 4 bytes */
		{ 16, "\x05" "ab", 3, 0, LDNS_RCODE_FORMERR },       /* TXT string overruns */
		{ 33, "\0\0\0\x64\x13\x88\x02t1", 9, 0, LDNS_RCODE_FORMERR }, /* target cut */
		{ 33, "\0\0\0\x64\x13\x88\0\0", 8, 0, LDNS_RCODE_FORMERR }, /* byte after it */
		{ 1, "\x0a\0\0\x05", 4, 2, LDNS_RCODE_FORMERR } };  /* two OPT records */

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		raw(c[i].type, c[i].rd, c[i].rdlen, c[i].nopt);
		plan_it();
		ck_assert_int_eq(plan.rcode, c[i].rcode);
		ck_assert_uint_eq(plan.nchanges, 0);
	}
	raw(1, "\x0a\0\0\x05", 4, 1);
	plan_it();
	ck_assert_int_eq(plan.edns, 1);
}
END_TEST

/* The answer to the current message carries an EDE option (RFC 8914). */
static int answer_has_ede(void)
{
	static uint8_t out[4096];
	size_t n = update_answer(&plan, msg, msg_len, (uint64_t)time(NULL), out, sizeof(out));
	ldns_pkt *ans = NULL;
	const ldns_rdf *d;
	int found = 0;

	ck_assert_uint_ge(n, 12);
	ck_assert_int_eq(ldns_wire2pkt(&ans, out, n), LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt_get_rcode(ans), plan.rcode);
	if ((d = ldns_pkt_edns_data(ans)) != NULL) {
		const uint8_t *p = ldns_rdf_data(d);

		for (size_t i = 0; i + 4 <= ldns_rdf_size(d); i += 4 + (size_t)(p[i + 2] << 8 | p[i + 3]))
			found |= (p[i] << 8 | p[i + 1]) == 15;
	}
	ldns_pkt_free(ans);
	return found;
}

START_TEST(refused_out_of_model_with_ede)
{
	const char *mx[] = { "t1.payments-v1.local. 5 IN MX 10 mx.local.", NULL };
	const char *deep[] = { "a.b.payments-v1.local. 5 IN A 10.0.0.1", NULL };

	build("local", NULL, mx, "k256", NULL, 60);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_REFUSED);
	ck_assert_ptr_nonnull(plan.why);
	ck_assert_int_eq(answer_has_ede(), 1);
	build("local", NULL, deep, "k256", NULL, 60);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_REFUSED);
	ck_assert_int_eq(answer_has_ede(), 1);
}
END_TEST

START_TEST(formerr_malformed)
{
	const char *cls[] = { "t1.payments-v1.local. 5 ANY A 10.0.0.1", NULL };
	const char *none_any[] = { "t1.payments-v1.local. 0 NONE ANY", NULL };

	build("local", NULL, cls, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
	build("local", NULL, none_any, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
}
END_TEST

/* Header counts that lie, and bytes after the last record: FORMERR. */
START_TEST(formerr_counts_lie)
{
	const char *up[] = { REG("t3", "10.0.1.9"), NULL };

	build("local", NULL, up, "k256", NULL, 0);
	msg[9]++;                               /* NSCOUNT one more than there are */
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
	ck_assert_uint_eq(plan.nchanges, 0);
	build("local", NULL, up, "k256", NULL, 0);
	msg[7] = 1;                             /* a prerequisite that is the first update */
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
	build("local", NULL, up, "k256", NULL, 0);
	memset(msg + msg_len, 0, 4);
	msg_len += 4;                           /* trailing bytes */
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
}
END_TEST

/* Offset of the last additional record (the TSIG) in msg. */
static size_t last_rr_offset(void)
{
	uint8_t name[WIRE_NAME_MAX];
	struct wire w;
	unsigned counts[4], total, seen = 0;
	size_t at = 0;

	wire_init_ro(&w, msg, msg_len);
	wire_skip(&w, 4);
	for (int i = 0; i < 4; i++)
		counts[i] = wire_u16(&w);
	wire_name_read(&w, name, 0);
	wire_skip(&w, 4);
	total = counts[1] + counts[2] + counts[3];
	while (seen < total) {
		at = w.pos;
		wire_name_read(&w, name, 0);
		wire_skip(&w, 8);
		wire_skip(&w, wire_u16(&w));
		seen++;
	}
	ck_assert_int_eq(w.err, 0);
	return at;
}

START_TEST(formerr_tsig_twice_or_not_last)
{
	static uint8_t out[4096];
	const char *up[] = { REG("t3", "10.0.1.9"), NULL };
	uint8_t tsig[512];
	size_t at, tl, n;

	/* A second TSIG after the first. */
	build("local", NULL, up, "k256", NULL, 0);
	at = last_rr_offset();
	tl = msg_len - at;
	memcpy(tsig, msg + at, tl);
	memcpy(msg + msg_len, tsig, tl);
	msg_len += tl;
	msg[11]++;
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
	n = update_answer(&plan, msg, msg_len, (uint64_t)time(NULL), out, sizeof(out));
	ck_assert_uint_eq(n, 12);
	ck_assert_uint_eq(out[3] & 15, LDNS_RCODE_FORMERR);

	/* A TSIG followed by an OPT. */
	build("local", NULL, up, "k256", NULL, 0);
	memcpy(msg + msg_len, "\0\0\x29\x04\xd0\0\0\0\0\0\0", 11);
	msg_len += 11;
	msg[11]++;
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
}
END_TEST

START_TEST(tsig_refusals)
{
	const char *up[] = { REG("t3", "10.0.1.9"), NULL };

	build("local", NULL, up, NULL, NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_REFUSED);
	ck_assert_uint_eq(plan.tsig_error, 0);
	build("local", NULL, up, "k256", S512, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_NOTAUTH);
	ck_assert_uint_eq(plan.tsig_error, TSIG_BADSIG);
	build("local", NULL, up, "nokey", S256, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_NOTAUTH);
	ck_assert_uint_eq(plan.tsig_error, TSIG_BADKEY);
	build("local", NULL, up, "k256", NULL, 0);
	ck_assert_int_eq(update_plan(reg, msg, msg_len, (uint64_t)time(NULL) + 1000, &plan), 0);
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_NOTAUTH);
	ck_assert_uint_eq(plan.tsig_error, TSIG_BADTIME);
	ck_assert_uint_eq(plan.nchanges, 0);
}
END_TEST

START_TEST(allow_list_scope)
{
	const char *orders[] = { "o2.orders.local. 5 IN A 10.0.2.1",
				 "orders.local. 5 IN SRV 0 1 80 o2.orders.local.", NULL };

	build("local", NULL, orders, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_REFUSED);
	ck_assert_ptr_nonnull(strstr(plan.why, "may not change"));
	build("local", NULL, orders, "k512", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	ck_assert_uint_eq(plan.nchanges, 1);
}
END_TEST

START_TEST(instance_id_host_label)
{
	const char *up[] = { "a\\032b.payments-v1.local. 5 IN A 10.0.1.9", NULL };
	const char *dot[] = { "a\\.b.payments-v1.local. 5 IN A 10.0.1.9", NULL };
	const char *nul[] = { "a\\000b.payments-v1.local. 0 ANY ANY", NULL };

	build("local", NULL, up, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_REFUSED);
	ck_assert_uint_eq(plan.nchanges, 0);
	build("local", NULL, dot, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_REFUSED);
	build("local", NULL, nul, "k256", NULL, 0);
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_REFUSED);
}
END_TEST

/* The agent's answer check runs the same message scan: a spoofed answer
 * with two TSIGs is not an answer (and, under ASan, leaks nothing). */
START_TEST(agent_answer_two_tsigs)
{
	struct reg_request rq;
	struct reg_answer ans;
	struct tsig_key k = { .name = "k256", .algorithm = "hmac-sha256", .secret = S256 };
	const char *up[] = { "t1.payments-v1.local. 0 ANY ANY", NULL };
	uint8_t tsig[512];
	size_t at, tl;

	build("local", NULL, up, "k256", NULL, 0);
	msg[2] |= 0x80;                         /* make it look like an answer */
	at = last_rr_offset();
	tl = msg_len - at;
	memcpy(tsig, msg + at, tl);
	memcpy(msg + msg_len, tsig, tl);
	msg_len += tl;
	msg[11]++;
	memset(&rq, 0, sizeof(rq));
	rq.id = 0x4242;
	ck_assert_int_eq(reg_check(&rq, msg, msg_len, &k, &ans), -1);
	msg_len -= tl;
	msg[11]--;
	ck_assert_int_eq(reg_check(&rq, msg, msg_len, &k, &ans), 0);
}
END_TEST

/* An answer whose TSIG names an algorithm ldns does not know: ldns cannot
 * compute a MAC, so it does not verify, and (under ASan) the TSIG that
 * ldns took off the packet is not leaked. Found by fuzz_answer. */
START_TEST(agent_answer_unknown_algorithm)
{
	struct reg_request rq;
	struct reg_answer ans;
	struct tsig_key k = { .name = "k256", .algorithm = "hmac-sha256", .secret = S256 };
	const char *up[] = { "t1.payments-v1.local. 0 ANY ANY", NULL };
	size_t alg;

	build("local", NULL, up, "k256", NULL, 0);
	msg[2] |= 0x80;                         /* make it look like an answer */
	alg = last_rr_offset() + 6 + 10;        /* owner "k256", type .. rdlength */
	ck_assert_uint_eq(msg[alg], 11);
	ck_assert_int_eq(memcmp(msg + alg + 1, "hmac-sha256", 11), 0);
	msg[alg + 1] = 'x';                     /* "xmac-sha256" */
	memset(&rq, 0, sizeof(rq));
	rq.id = 0x4242;
	ck_assert_int_eq(reg_check(&rq, msg, msg_len, &k, &ans), 0);
	ck_assert_int_eq(ans.outcome, REG_RETRY);
	ck_assert_ptr_nonnull(strstr(ans.why, "does not verify"));
}
END_TEST

/* The answer update_answer writes for the current plan, parsed by ldns. */
static ldns_pkt *answer_of(uint8_t *out, size_t cap, size_t *n)
{
	ldns_pkt *ans = NULL;

	*n = update_answer(&plan, msg, msg_len, (uint64_t)time(NULL), out, cap);
	ck_assert_uint_gt(*n, 12);
	ck_assert_int_eq(ldns_wire2pkt(&ans, out, *n), LDNS_STATUS_OK);
	return ans;
}

/* Answers are signed on the wire by tsig.c; ldns's own verifier, given the
 * request's MAC (RFC 8945 4.3.1), must accept them, with either algorithm,
 * and refuse them under the other key. The lease comes back in the OPT. */
START_TEST(answer_signature_verifies)
{
	static uint8_t out[4096];
	const char *up[] = { REG("t4", "10.0.1.10"), NULL };
	const char *orders[] = { "o2.orders.local. 5 IN A 10.0.2.1",
				 "orders.local. 5 IN SRV 0 1 80 o2.orders.local.", NULL };
	struct { const char *key, *secret, *alg; const char *const *up; } k[] = {
		{ "k256", S256, "hmac-sha256.", up }, { "k512", S512, "hmac-sha512.", orders } };

	for (size_t i = 0; i < 2; i++) {
		ldns_pkt *req = NULL, *ans;
		ldns_rdf *mac;
		size_t n;

		build("local", NULL, k[i].up, k[i].key, NULL, 90);
		plan_it();
		ck_assert_int_eq(plan.rcode, 0);
		ck_assert_int_eq(ldns_wire2pkt(&req, msg, msg_len), LDNS_STATUS_OK);
		mac = ldns_rr_rdf(ldns_pkt_tsig(req), 3);
		ans = answer_of(out, sizeof(out), &n);
		ck_assert_int_eq(ldns_pkt_get_opcode(ans), LDNS_PACKET_UPDATE);
		ck_assert(ldns_pkt_qr(ans));
		ck_assert_uint_eq(ldns_pkt_id(ans), 0x4242);
		ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_question(ans)), 1);
		ck_assert_uint_eq(ldns_pkt_edns_udp_size(ans), 1232);
		ck_assert_uint_eq(ldns_rdf_size(ldns_pkt_edns_data(ans)), 8);
		ck_assert_uint_eq(ldns_rdf_data(ldns_pkt_edns_data(ans))[7], 90);
		ck_assert(ldns_pkt_tsig_verify(ans, out, n, k[i].key, k[i].secret, mac));
		ck_assert(!ldns_pkt_tsig_verify(ans, out, n, k[i].key, k[!i].secret, mac));
		out[13] ^= 0x20;                   /* the zone name's case */
		ck_assert(!ldns_pkt_tsig_verify(ans, out, n, k[i].key, k[i].secret, mac));
		ldns_pkt_free(ans);
		ldns_pkt_free(req);
	}
}
END_TEST

/* BADSIG and BADKEY answers carry the unsigned TSIG record of RFC 8945
 * 5.3.2 with the error, the request's key and algorithm and an empty MAC.
 * The BADTIME answer is signed with the request's key over its MAC (5.2.3),
 * with the request's time signed and the server's time as other data. A
 * MAC cut short (5.2.2.1) is BADSIG. */
START_TEST(answer_tsig_errors)
{
	static uint8_t out[4096];
	const char *up[] = { REG("t4", "10.0.1.10"), NULL };
	struct { const char *key, *secret; uint64_t skew; uint16_t error; } c[] = {
		{ "k256", S512, 0, TSIG_BADSIG }, { "nokey", S256, 0, TSIG_BADKEY },
		{ "k256", NULL, 1000, TSIG_BADTIME } };

	for (size_t i = 0; i < 3; i++) {
		ldns_pkt *ans = NULL, *req = NULL;
		const ldns_rr *t;
		int badtime = c[i].error == TSIG_BADTIME;
		uint64_t now = (uint64_t)time(NULL) + c[i].skew;
		size_t n;
		char *owner;

		build("local", NULL, up, c[i].key, c[i].secret, 0);
		ck_assert_int_eq(update_plan(reg, msg, msg_len, now, &plan), 0);
		ck_assert_uint_eq(plan.tsig_error, c[i].error);
		n = update_answer(&plan, msg, msg_len, now, out, sizeof(out));
		ck_assert_int_eq(ldns_wire2pkt(&ans, out, n), LDNS_STATUS_OK);
		ck_assert_int_eq(ldns_pkt_get_rcode(ans), LDNS_RCODE_NOTAUTH);
		ck_assert_ptr_nonnull(t = ldns_pkt_tsig(ans));
		owner = ldns_rdf2str(ldns_rr_owner(t));
		ck_assert_str_eq(owner, !strcmp(c[i].key, "k256") ? "k256." : "nokey.");
		free(owner);
		/* An empty MAC, or hmac-sha256's 32 bytes. */
		ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(t, 3)), badtime ? 2 + 32 : 2);
		ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(t, 4)), 0x4242);
		ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(t, 5)), c[i].error);
		ck_assert_uint_eq(ldns_rdf_size(ldns_rr_rdf(t, 6)), badtime ? 8 : 2);
		if (badtime) {
			const ldns_rr *rt;
			const uint8_t *other = ldns_rdf_data(ldns_rr_rdf(t, 6)) + 2;
			uint64_t at = 0;

			ck_assert_int_eq(ldns_wire2pkt(&req, msg, msg_len), LDNS_STATUS_OK);
			rt = ldns_pkt_tsig(req);
			ck_assert(ldns_pkt_tsig_verify(ans, out, n, "k256", S256,
						       ldns_rr_rdf(rt, 3)));
			ck_assert(!ldns_pkt_tsig_verify(ans, out, n, "k256", S512,
							ldns_rr_rdf(rt, 3)));
			ck_assert_int_eq(ldns_rdf_compare(ldns_rr_rdf(t, 1), ldns_rr_rdf(rt, 1)), 0);
			for (int b = 0; b < 6; b++)
				at = at << 8 | other[b];
			ck_assert_uint_eq(at, now);
			ldns_pkt_free(req);
		}
		ldns_pkt_free(ans);
	}
	/* hmac-sha256 MAC cut to 16 bytes: rdata and lengths rewritten. */
	build("local", NULL, up, "k256", NULL, 0);
	{
		size_t at = last_rr_offset(), rd = at + 6 + 8, mac = rd + 2 + 13 + 8;

		ck_assert_uint_eq((size_t)(msg[mac] << 8 | msg[mac + 1]), 32);
		memmove(msg + mac + 2 + 16, msg + mac + 2 + 32, msg_len - (mac + 2 + 32));
		msg_len -= 16;
		msg[mac + 1] = 16;
		msg[rd + 1] = (uint8_t)(msg[rd + 1] - 16);
	}
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_NOTAUTH);
	ck_assert_uint_eq(plan.tsig_error, TSIG_BADSIG);
}
END_TEST

/* RFC 8945 4.2: a TSIG record's class is ANY and its TTL 0; the MAC is
 * computed as if they were, so other values are refused as malformed. */
START_TEST(tsig_class_and_ttl)
{
	const char *up[] = { REG("t4", "10.0.1.10"), NULL };
	size_t cls;

	build("local", NULL, up, "k256", NULL, 0);
	cls = last_rr_offset() + 6 + 2;         /* owner "k256", type */
	ck_assert_uint_eq(msg[cls + 1], 255);
	plan_it();
	ck_assert_int_eq(plan.rcode, 0);
	msg[cls + 1] = 1;                       /* IN */
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
	msg[cls + 1] = 255;
	msg[cls + 5] = 1;                       /* TTL 1 */
	plan_it();
	ck_assert_int_eq(plan.rcode, LDNS_RCODE_FORMERR);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("update");
	TCase *t = tcase_create("plan");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, accepted_add);
	tcase_add_test(t, replace_same_id);
	tcase_add_test(t, renewal_changes_nothing_but_the_lease);
	tcase_add_test(t, delete_any);
	tcase_add_test(t, delete_srv_rrset);
	tcase_add_test(t, delete_one_srv_matches_rdata);
	tcase_add_test(t, delete_one_rr_matches_rdata);
	tcase_add_test(t, prerequisites);
	tcase_add_test(t, refused_out_of_model_with_ede);
	tcase_add_test(t, formerr_malformed);
	tcase_add_test(t, formerr_counts_lie);
	tcase_add_test(t, formerr_tsig_twice_or_not_last);
	tcase_add_test(t, tsig_refusals);
	tcase_add_test(t, allow_list_scope);
	tcase_add_test(t, instance_id_host_label);
	tcase_add_test(t, agent_answer_two_tsigs);
	tcase_add_test(t, agent_answer_unknown_algorithm);
	tcase_add_test(t, answer_signature_verifies);
	tcase_add_test(t, answer_tsig_errors);
	tcase_add_test(t, tsig_class_and_ttl);
	tcase_add_test(t, prerequisites_by_value);
	tcase_add_test(t, formerr_rdata_shapes);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return check_run(suite(), NULL);
}
