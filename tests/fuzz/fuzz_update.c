/* fuzz_update.c - libFuzzer target: any bytes as a DNS UPDATE, planned
 * against a registry with TSIG keys, applied, and answered, the way the
 * registrar does it (update_plan, registry_apply, update_answer; the journal
 * and the event loop around them have fuzz_journal and the e2e tests).
 *
 * local. has a static zone (written to a temp dir at start), so that
 * prerequisites meet zone records too. The first byte chooses the mode:
 *   bit 0 clear  the rest is the message as it arrives, TSIG and all. Seeds
 *                signed for FUZZ_NOW (tests/fuzz/gen-update-seeds) get past
 *                TSIG; mutations of them mostly hit BADSIG, which is fine:
 *                this mode fuzzes the parse and the TSIG check.
 *   bit 0 set    the rest is the unsigned body: if ldns parses it, the target
 *                signs it (bit 1: key k512, else k256) at the current time,
 *                so every input reaches the update logic behind TSIG.
 * Besides memory safety it checks what update.h promises: an accepted
 * message was verified with a key, changes only services that key may
 * change, has ids that are host labels, encodes as journal records and
 * applies cleanly; every answer parses, and a verified one is signed. What
 * ldns signs here verifies in tsig.c, and what tsig.c signs verifies in ldns.
 * FUZZ_UPDATE_VERBOSE=1 in the environment prints each input's outcome. */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "journal.h"
#include "log.h"
#include "registry.h"
#include "update.h"
#include "view.h"
#include "wire.h"

#define FUZZ_NOW 1700000000u   /* the time the raw-mode seeds are signed at */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The static zone of local., so prerequisites also meet zone records. */
static const char fuzz_zone[] =
	"$ORIGIN local.\n"
	"@ 5 IN SOA ns.local. hostmaster.local. 1 3600 600 86400 5\n"
	"@ 5 IN NS ns.local.\n"
	"ns 5 IN A 127.0.0.1\n"
	"gateway 5 IN A 10.0.0.1\n"
	"gateway 5 IN TXT \"static\"\n"
	"www 5 IN CNAME gateway\n";

static const char fuzz_config[] =
	"listen: [\"127.0.0.1:0\"]\n"
	"namespaces:\n"
	"  - name: local\n"
	"    zone: %s\n"
	"    max_lease: 3600\n"
	"    services:\n"
	"      payments-v1:\n"
	"        instances:\n"
	"          - {id: static, address: 10.0.0.1, port: 5000}\n"
	"      payments-v2: {}\n"
	"      orders: {}\n"
	"  - name: mesh.example\n"
	"    default_lease: 30\n"
	"    services:\n"
	"      api: {}\n"
	"keys:\n"
	"  - {name: k256, algorithm: hmac-sha256,\n"
	"     secret: \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\",\n"
	"     allow: [payments-v1.local, payments-v2.local]}\n"
	"  - {name: k512.example, algorithm: hmac-sha512,\n"
	"     secret: \"ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGiow==\",\n"
	"     allow: [payments-v1.local, orders.local, api.mesh.example]}\n";

static struct config *cfg;
static int verbose;
static char dir[64], zone_path[96];

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_update: %s\n", what);
		abort();
	}
}

static void cleanup(void)
{
	unlink(zone_path);
	rmdir(dir);
	config_free(cfg);
}

/* Writes the zone into a temp dir made once (removed at exit) and loads the
 * config that names it. */
static void setup(void)
{
	char err[CFG_ERR_MAX], text[sizeof(fuzz_config) + 128];
	FILE *f;

	log_set_level(LOG_ERR);
	verbose = getenv("FUZZ_UPDATE_VERBOSE") != NULL;
	snprintf(dir, sizeof(dir), "/tmp/meshdns_fuzz_update.XXXXXX");
	check(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(zone_path, sizeof(zone_path), "%s/local.zone", dir);
	check((f = fopen(zone_path, "w")) != NULL, "create the zone file");
	check(fputs(fuzz_zone, f) >= 0 && fclose(f) == 0, "write the zone file");
	snprintf(text, sizeof(text), fuzz_config, zone_path);
	if (config_load_text(&cfg, "<fuzz>", text, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz setup failed: %s\n", err);
		abort();
	}
	atexit(cleanup);
}

/* Registers an UPDATE instance, as an earlier message would have. */
static void seed_instance(struct registry *reg, const char *ns, const char *svc,
			  const char *id, uint8_t last, int v6)
{
	static const uint8_t attrs[] = { 4, 'a', 'z', '=', 'a' };
	struct jrec r;
	int len;

	memset(&r, 0, sizeof(r));
	r.op = JOURNAL_PUT;
	len = wire_name_from_text(ns, r.ns);
	check(len > 0, "seed namespace");
	r.ns_len = (size_t)len;
	snprintf(r.svc, sizeof(r.svc), "%s", svc);
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.has4 = 1;
	memcpy(r.addr4, (uint8_t[]){ 10, 0, 1, last }, 4);
	if (v6) {
		r.has6 = 1;
		r.addr6[0] = 0xfd, r.addr6[15] = last;
	}
	r.port = 5000;
	r.weight = 100;
	r.origin = ORIGIN_UPDATE;
	r.attrs = attrs;
	r.attrs_len = sizeof(attrs);
	check(registry_apply(reg, &r, 1) == 0, "seed instance");
}

/* 1 if key may change the service whose wire name is svc. */
static int in_scope(const struct cfg_key *key, const uint8_t *svc)
{
	for (size_t i = 0; i < key->nallow; i++) {
		uint8_t w[WIRE_NAME_MAX];

		if (wire_name_from_text(key->allow[i], w) > 0 && wire_name_eq(w, svc))
			return 1;
	}
	return 0;
}

static void check_change(const struct update_plan *p, const struct jrec *r,
			 struct registry *reg)
{
	static uint8_t buf[JOURNAL_PAYLOAD_MAX];
	uint8_t svc[WIRE_NAME_MAX];
	struct jrec back;
	int len, slen;

	check(r->op == JOURNAL_PUT || r->op == JOURNAL_DEL, "change op");
	check(wire_label_valid(r->id, strlen(r->id)), "instance id is not a host label");
	check(wire_label_valid(r->svc, strlen(r->svc)), "service is not a label");
	check(r->op == JOURNAL_DEL || r->has4 || r->has6, "PUT without an address");
	svc[0] = (uint8_t)strlen(r->svc);
	memcpy(svc + 1, r->svc, svc[0]);
	slen = 1 + svc[0];
	check(slen + r->ns_len <= WIRE_NAME_MAX, "service name length");
	memcpy(svc + slen, r->ns, r->ns_len);
	check(in_scope(p->key, svc), "change outside the key's allow list");
	len = journal_encode(r, buf, sizeof(buf));
	check(len > 0, "change does not encode as a journal record");
	check(journal_decode(buf, (size_t)len, &back) == 0, "journal record does not decode");
	check(back.op == r->op && !strcmp(back.id, r->id) && back.attrs_len == r->attrs_len,
	      "journal record round trip");
	check(registry_apply(reg, r, 2) == 0, "planned change does not apply");
}

static void run(const uint8_t *msg, size_t len, uint64_t now, int signed_here)
{
	static struct update_plan plan;
	static uint8_t out[65535];
	struct registry *reg;
	struct view *view;
	char err[CFG_ERR_MAX];
	ldns_pkt *ans = NULL;
	size_t n;
	int rc;

	check(registry_new(&reg, cfg, err, sizeof(err)) == 0, "registry_new");
	seed_instance(reg, "local", "payments-v1", "t1", 5, 0);
	seed_instance(reg, "local", "payments-v2", "t2", 6, 1);
	seed_instance(reg, "local", "orders", "o1", 7, 0);
	seed_instance(reg, "mesh.example", "api", "x", 8, 1);

	rc = update_plan(reg, msg, len, now, &plan);
	check(rc == 0 || (rc == -1 && len < 12), "update_plan failed on a message with a header");
	if (rc < 0) {
		registry_free(reg);
		return;
	}
	if (verbose)
		fprintf(stderr, "rcode=%d tsig_error=%u changes=%zu why=%s\n", plan.rcode,
			plan.tsig_error, plan.nchanges, plan.why ? plan.why : "");
	check(plan.rcode >= 0 && plan.rcode <= 15, "rcode range");
	check(plan.nchanges <= UPDATE_MAX_CHANGES, "change count");
	check(plan.rcode == 0 || plan.nchanges == 0, "a refused plan has changes");
	check(plan.rcode != 0 || plan.key != NULL, "accepted without a verified key");
	for (size_t i = 0; i < plan.nchanges; i++)
		check_change(&plan, &plan.changes[i], reg);
	if (plan.nchanges) {
		check(view_build(&view, reg, 3) == 0, "view_build after the update");
		view_free(view);
	}

	n = update_answer(&plan, msg, len, now, out, sizeof(out));
	check(n >= 12, "no answer");
	check(ldns_wire2pkt(&ans, out, n) == LDNS_STATUS_OK, "answer does not parse");
	check(ldns_pkt_qr(ans) && ldns_pkt_id(ans) == (uint16_t)(msg[0] << 8 | msg[1]),
	      "answer header");
	check(!plan.key || plan.tsig_error || ldns_pkt_get_rcode(ans) == LDNS_RCODE_SERVFAIL ||
	      ldns_pkt_tsig(ans), "a verified request got an unsigned answer");
	/* tsig.c against ldns both ways: what ldns signed just now verifies
	 * here (unless ldns cannot read it back: FORMERR), and what tsig.c
	 * signs verifies in ldns with the request's MAC. */
	check(!signed_here || plan.key || plan.rcode == 1, "ldns's signature did not verify");
	if (plan.key && !plan.tsig_error && ldns_pkt_tsig(ans)) {
		ldns_rdf *mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, plan.request_mac_len,
						      plan.request_mac);

		check(mac && ldns_pkt_tsig_verify(ans, out, n, plan.key->name, plan.key->secret, mac),
		      "ldns does not verify the answer's TSIG");
		ldns_rdf_deep_free(mac);
	}
	ldns_pkt_free(ans);
	registry_free(reg);
}

/* Signs body with key k256 or k512.example at the current time; returns the
 * signed wire (the caller frees it) or NULL when ldns does not parse body. */
static uint8_t *sign(const uint8_t *body, size_t len, int k512, size_t *outlen)
{
	const struct cfg_key *key = &cfg->keys[k512 ? 1 : 0];
	char alg[40];
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;

	/* wire_msg_scan first, as the server does: ldns leaks the first of
	 * two TSIG records, and the bodies here may carry them. */
	if (wire_msg_scan(body, len) < 0 || ldns_wire2pkt(&pkt, body, len) != LDNS_STATUS_OK)
		return NULL;
	if (ldns_pkt_tsig(pkt)) {       /* the body's own TSIG goes; ours replaces it */
		ldns_rr_free(ldns_pkt_tsig(pkt));
		ldns_pkt_set_tsig(pkt, NULL);
	}
	snprintf(alg, sizeof(alg), "%s.", key->algorithm);
	if (ldns_pkt_tsig_sign(pkt, key->name, key->secret, UPDATE_FUDGE, alg, NULL) != LDNS_STATUS_OK ||
	    ldns_pkt2wire(&wire, pkt, outlen) != LDNS_STATUS_OK) {
		free(wire);
		wire = NULL;
	}
	ldns_pkt_free(pkt);
	return wire;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *signed_msg;
	size_t len;

	if (!cfg)
		setup();
	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		run(data + 1, size - 1, FUZZ_NOW, 0);
		return 0;
	}
	signed_msg = sign(data + 1, size - 1, data[0] & 2, &len);
	if (signed_msg) {
		run(signed_msg, len, (uint64_t)time(NULL), 1);
		free(signed_msg);
	} else {
		run(data + 1, size - 1, (uint64_t)time(NULL), 0);
	}
	return 0;
}
