/* fuzz_answer.c - libFuzzer target: any bytes as the answer to the agent's
 * UPDATE, judged the way the agent does it (reg_check, agent/register.h).
 *
 * The request is built once: the registration of t1.payments-v1.local with
 * a lease, signed with key k256 (reg_build). ldns signs it at the current
 * time, so its MAC is new in every process and no committed input can carry
 * a MAC over it (nor can the fuzzer learn one: ldns compares MACs with
 * CRYPTO_memcmp, which libFuzzer does not see). The first byte chooses the
 * mode:
 *   bit 0 clear  the rest is the answer as it arrives. It must never be
 *                REG_OK: this fuzzes the parse, the EDNS options and the
 *                refusals of the TSIG check.
 *   bit 0 set    the rest is an answer body. If it parses, the target gives
 *                it the request's ID and QR, drops any TSIG it has and signs
 *                it the way bits 1-2 say:
 *                  0  as the server does: k256 over the request MAC; a
 *                     NOERROR answer must be REG_OK (the logic behind TSIG)
 *                  1  with a wrong secret
 *                  2  without the request MAC (not bound to our request)
 *                  3  as 0, then the AD bit flipped (the MAC covers it)
 *                and 1-3 must never be REG_OK. A body ldns does not parse
 *                (or sign) is judged as it is, like bit 0 clear.
 * In every mode reg_check returns 0 or -1, and on 0 its answer says
 * REG_OK, REG_RETRY or REG_FATAL, REG_OK only for NOERROR, with an rcode of
 * 4 bits, a lease only when the answer had one and a NUL-terminated why.
 * FUZZ_ANSWER_VERBOSE=1 in the environment prints each input's outcome. */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "register.h"
#include "wire.h"

#define FUZZ_ID 0x4d53   /* the request's ID, which seeds of raw mode carry */
#define S256 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define S512 "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGiow=="

enum sign_how { SIGN_GENUINE, SIGN_WRONG_SECRET, SIGN_UNBOUND, SIGN_TAMPERED };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tsig_key key = {
	.name = "k256", .algorithm = "hmac-sha256", .secret = S256
};
static struct reg_request req;
static int ready, verbose;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_answer: %s\n", what);
		abort();
	}
}

static void setup(void)
{
	static struct agent_opts o;
	uint8_t addr[16] = { 10, 0, 1, 9 };

	verbose = getenv("FUZZ_ANSWER_VERBOSE") != NULL;
	snprintf(o.service, sizeof(o.service), "payments-v1.local");
	snprintf(o.zone, sizeof(o.zone), "local");
	snprintf(o.svc_label, sizeof(o.svc_label), "payments-v1");
	snprintf(o.id, sizeof(o.id), "t1");
	snprintf(o.attrs[0], sizeof(o.attrs[0]), "az=a");
	o.nattrs = 1;
	o.port = 5000;
	o.weight = 100;
	o.lease = 30;
	check(reg_build(&req, &o, AF_INET, addr, "healthy", 0, &key, 0, FUZZ_ID) == 0,
	      "reg_build");
	check(req.id == FUZZ_ID && req.mac_len > 2, "the request has no MAC");
	ready = 1;
}

/* Judges wire as the answer; may_be_ok says whether REG_OK is allowed (1)
 * or required for a NOERROR answer that reg_check takes (2). */
static void judge(const uint8_t *wire, size_t len, int may_be_ok)
{
	struct reg_answer ans;
	int rc;

	memset(&ans, 0xa5, sizeof(ans));   /* reg_check must set every field */
	rc = reg_check(&req, wire, len, &key, &ans);
	check(rc == 0 || rc == -1, "reg_check returned neither 0 nor -1");
	if (verbose)
		fprintf(stderr, "rc=%d outcome=%d rcode=%d lease=%d/%u why=%.*s\n", rc,
			rc ? -1 : (int)ans.outcome, ans.rcode, ans.has_lease, ans.lease,
			rc ? 0 : (int)sizeof(ans.why), ans.why);
	if (rc < 0)
		return;
	check(ans.outcome == REG_OK || ans.outcome == REG_RETRY || ans.outcome == REG_FATAL,
	      "outcome out of range");
	check(memchr(ans.why, '\0', sizeof(ans.why)) != NULL, "why is not NUL-terminated");
	check(ans.why[0] != '\0', "an outcome without a why");
	check(ans.rcode >= 0 && ans.rcode <= 15, "rcode out of range");
	check(ans.has_lease == 0 || ans.has_lease == 1, "has_lease is not 0 or 1");
	check(ans.has_lease || ans.lease == 0, "a lease without has_lease");
	check(ans.outcome != REG_OK || ans.rcode == LDNS_RCODE_NOERROR, "REG_OK without NOERROR");
	check(may_be_ok || ans.outcome != REG_OK, "REG_OK for an answer that does not verify");
	check(may_be_ok < 2 || ans.rcode != LDNS_RCODE_NOERROR || ans.outcome == REG_OK,
	      "a genuine NOERROR answer is not REG_OK");
}

/* Signs body as an answer to req the way how says; returns the wire (the
 * caller frees it), or NULL when ldns does not parse or cannot sign body.
 * The scan comes first because ldns leaks the first of two TSIGs. */
static uint8_t *sign(const uint8_t *body, size_t len, enum sign_how how, size_t *outlen)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *mac = NULL;
	uint8_t *wire = NULL;
	ldns_status st;

	if (len < 12 || wire_msg_scan(body, len) < 0 ||
	    ldns_wire2pkt(&pkt, body, len) != LDNS_STATUS_OK)
		return NULL;
	ldns_pkt_set_id(pkt, req.id);
	ldns_pkt_set_qr(pkt, true);
	if (ldns_pkt_tsig(pkt)) {
		ldns_rr_free(ldns_pkt_tsig(pkt));
		ldns_pkt_set_tsig(pkt, NULL);
	}
	if (how != SIGN_UNBOUND) {
		mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, req.mac_len, req.mac);
		check(mac != NULL, "out of memory");
	}
	st = ldns_pkt_tsig_sign(pkt, key.name, how == SIGN_WRONG_SECRET ? S512 : key.secret,
				300, "hmac-sha256.", mac);
	if (st != LDNS_STATUS_OK || ldns_pkt2wire(&wire, pkt, outlen) != LDNS_STATUS_OK) {
		free(wire);
		wire = NULL;
	} else if (how == SIGN_TAMPERED && *outlen >= 12) {
		wire[3] ^= 0x20;
	}
	ldns_rdf_deep_free(mac);
	ldns_pkt_free(pkt);
	return wire;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum sign_how how;
	uint8_t *wire;
	size_t len;

	if (!ready)
		setup();
	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		judge(data + 1, size - 1, 0);
		return 0;
	}
	how = (enum sign_how)((data[0] >> 1) & 3);
	wire = sign(data + 1, size - 1, how, &len);
	if (!wire) {
		judge(data + 1, size - 1, 0);
		return 0;
	}
	judge(wire, len, how == SIGN_GENUINE ? 2 : 0);
	free(wire);
	return 0;
}
