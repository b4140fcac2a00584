/* register.c - building the agent's UPDATEs and reading answers (register.h). */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "register.h"
#include "wire.h"

static ldns_rr *rr_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static ldns_rr *rr_text(const char *fmt, ...)
{
	char text[1024];
	ldns_rr *rr = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return NULL;
	return rr;
}

/* "delete NAME ANY": class ANY, type ANY, TTL 0, no rdata (RFC 2136 2.5.3). */
static ldns_rr *delete_all(const char *name)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = ldns_dname_new_frm_str(name);

	if (!rr || !owner) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(owner);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_ANY);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(rr, 0);
	ldns_rr_set_question(rr, true);
	return rr;
}

static int push(ldns_rr_list *l, ldns_rr *rr)
{
	if (!rr)
		return -1;
	if (!ldns_rr_list_push_rr(l, rr)) {
		ldns_rr_free(rr);
		return -1;
	}
	return 0;
}

static int add_records(ldns_rr_list *up, const struct agent_opts *o, const char *inst,
		       int family, const uint8_t addr[16], const char *health)
{
	char ip[INET6_ADDRSTRLEN], txt[AGENT_ATTRS_MAX * 260 + 32];
	size_t t;

	if (!inet_ntop(family, addr, ip, sizeof(ip)))
		return -1;
	if (push(up, rr_text("%s 5 IN %s %s", inst, family == AF_INET ? "A" : "AAAA", ip)) < 0)
		return -1;
	t = (size_t)snprintf(txt, sizeof(txt), "\"health=%s\"", health);
	for (int i = 0; i < o->nattrs && t < sizeof(txt); i++)
		t += (size_t)snprintf(txt + t, sizeof(txt) - t, " \"%s\"", o->attrs[i]);
	if (push(up, rr_text("%s 5 IN TXT %s", inst, txt)) < 0)
		return -1;
	return push(up, rr_text("%s. 5 IN SRV 0 %u %u %s", o->service, o->weight, o->port, inst));
}

static void set_lease(ldns_pkt *pkt, uint32_t lease)
{
	uint8_t opt[8] = { 0, 2, 0, 4,
			   (uint8_t)(lease >> 24), (uint8_t)(lease >> 16), (uint8_t)(lease >> 8),
			   (uint8_t)lease };
	ldns_rdf *rdf;

	ldns_pkt_set_edns_udp_size(pkt, 1232);
	if (lease && (rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, sizeof(opt), opt)))
		ldns_pkt_set_edns_data(pkt, rdf);
}

static int sign_and_wire(struct reg_request *req, ldns_pkt *pkt, const struct tsig_key *k,
			 uint64_t now)
{
	char alg[48];
	uint8_t *wire = NULL;
	size_t n = 0;
	ldns_rr *t;
	int rc = -1;

	(void)now; /* ldns signs with the current time */
	snprintf(alg, sizeof(alg), "%.40s.", k->algorithm);
	if (ldns_pkt_tsig_sign(pkt, k->name, k->secret, 300, alg, NULL) != LDNS_STATUS_OK)
		return -1;
	t = ldns_pkt_tsig(pkt);
	if (t && ldns_rr_rd_count(t) > 3 && ldns_rdf_size(ldns_rr_rdf(t, 3)) <= sizeof(req->mac)) {
		req->mac_len = ldns_rdf_size(ldns_rr_rdf(t, 3));
		memcpy(req->mac, ldns_rdf_data(ldns_rr_rdf(t, 3)), req->mac_len);
		if (ldns_pkt2wire(&wire, pkt, &n) == LDNS_STATUS_OK && n <= sizeof(req->wire)) {
			memcpy(req->wire, wire, n);
			req->len = n;
			rc = 0;
		}
	}
	free(wire);
	return rc;
}

int reg_build(struct reg_request *req, const struct agent_opts *o, int family,
	      const uint8_t addr[16], const char *health, int deregister,
	      const struct tsig_key *k, uint64_t now, uint16_t id)
{
	char inst[330];
	ldns_rr_list *up = ldns_rr_list_new();
	ldns_rdf *zone = ldns_dname_new_frm_str(o->zone);
	ldns_pkt *pkt = NULL;
	int rc = -1;

	memset(req, 0, sizeof(*req));
	snprintf(inst, sizeof(inst), "%s.%s.", o->id, o->service);
	if (!up || !zone || push(up, delete_all(inst)) < 0)
		goto out;
	if (!deregister && add_records(up, o, inst, family, addr, health) < 0)
		goto out;
	pkt = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, NULL, up, NULL);
	if (!pkt)
		goto out;
	zone = NULL; /* owned by pkt now; the update list was copied */
	ldns_pkt_set_id(pkt, id);
	req->id = id;
	if (!deregister)
		set_lease(pkt, o->lease);
	rc = sign_and_wire(req, pkt, k, now);
out:
	ldns_pkt_free(pkt);
	ldns_rr_list_deep_free(up);
	ldns_rdf_deep_free(zone);
	return rc;
}

static void read_options(const ldns_pkt *pkt, struct reg_answer *ans, char *ede, size_t edelen)
{
	const ldns_rdf *d = ldns_pkt_edns_data(pkt);
	const uint8_t *p = d ? ldns_rdf_data(d) : NULL;
	size_t n = d ? ldns_rdf_size(d) : 0;

	for (size_t i = 0; i + 4 <= n;) {
		size_t code = (size_t)(p[i] << 8 | p[i + 1]), len = (size_t)(p[i + 2] << 8 | p[i + 3]);

		if (i + 4 + len > n)
			break;
		if (code == 2 && (len == 4 || len == 8)) {
			ans->has_lease = 1;
			ans->lease = (uint32_t)p[i + 4] << 24 | (uint32_t)p[i + 5] << 16 |
				     (uint32_t)p[i + 6] << 8 | p[i + 7];
		} else if (code == 15 && len >= 2) {
			snprintf(ede, edelen, "%.*s", (int)(len - 2), (const char *)p + i + 6);
		}
		i += 4 + len;
	}
}

int reg_check(const struct reg_request *req, const uint8_t *wire, size_t len,
	      const struct tsig_key *k, struct reg_answer *ans)
{
	ldns_pkt *pkt = NULL;
	ldns_rdf *mac;
	char ede[200] = "";
	const char *rname;
	ldns_lookup_table *lt;

	memset(ans, 0, sizeof(*ans));
	/* wire_msg_scan first: ldns leaks the first of two TSIGs, and a spoofed
	 * answer may carry them. */
	if (len < 12 || (wire[0] << 8 | wire[1]) != req->id || !(wire[2] & 0x80) ||
	    wire_msg_scan(wire, len) < 0 || ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK)
		return -1;
	ans->rcode = ldns_pkt_get_rcode(pkt);
	read_options(pkt, ans, ede, sizeof(ede));
	lt = ldns_lookup_by_id(ldns_rcodes, ans->rcode);
	rname = lt ? lt->name : "?";
	if (ans->rcode == LDNS_RCODE_NOERROR) {
		ldns_rr *tsig = ldns_pkt_tsig(pkt);
		bool ok;

		mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, req->mac_len, req->mac);
		ok = mac && tsig && ldns_pkt_tsig_verify(pkt, wire, len, k->name, k->secret, mac);
		/* ldns takes the TSIG off pkt while it verifies, and returns
		 * without putting it back when it cannot compute a MAC (an
		 * algorithm it does not know): pkt must own it again, or it
		 * leaks with every such answer. ldns never frees it there. */
		if (tsig && ldns_pkt_tsig(pkt) != tsig)
			ldns_pkt_set_tsig(pkt, tsig);
		if (ok) {
			ans->outcome = REG_OK;
			snprintf(ans->why, sizeof(ans->why), "NOERROR");
		} else {
			ans->outcome = REG_RETRY;
			snprintf(ans->why, sizeof(ans->why), "the answer's TSIG does not verify");
		}
		ldns_rdf_deep_free(mac);
	} else if (ans->rcode == LDNS_RCODE_SERVFAIL) {
		ans->outcome = REG_RETRY;
		snprintf(ans->why, sizeof(ans->why), "SERVFAIL (the server could not store it)");
	} else {
		const ldns_rr *t = ldns_pkt_tsig(pkt);
		unsigned terr = t && ldns_rr_rd_count(t) > 5 ? ldns_rdf2native_int16(ldns_rr_rdf(t, 5)) : 0;

		ans->outcome = REG_FATAL;
		snprintf(ans->why, sizeof(ans->why), "%s%s%s%s%s", rname,
			 terr == 16 ? " (BADSIG: wrong secret)" : terr == 17 ? " (BADKEY: unknown key)" :
			 terr == 18 ? " (BADTIME: clocks differ by more than 300 s)" : "",
			 ede[0] ? ": " : "", ede, "");
	}
	ldns_pkt_free(pkt);
	return 0;
}
