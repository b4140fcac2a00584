/* tsig.c - checking a request's TSIG record (see tsig.h). */
#include <string.h>
#include "tsig.h"
#include "wire.h"

static uint64_t tsig_time(const ldns_rr *t)
{
	const ldns_rdf *f = ldns_rr_rdf(t, 1);
	const uint8_t *d = ldns_rdf_data(f);
	uint64_t v = 0;

	if (ldns_rdf_size(f) != 6)
		return 0;
	for (int i = 0; i < 6; i++)
		v = v << 8 | d[i];
	return v;
}

/* The key whose name and algorithm are the record's. */
static const struct cfg_key *find_key(const struct config *cfg, const ldns_rr *t)
{
	const ldns_rdf *name = ldns_rr_owner(t), *alg = ldns_rr_rdf(t, 0);

	for (size_t i = 0; i < cfg->nkeys; i++) {
		uint8_t w[WIRE_NAME_MAX], a[WIRE_NAME_MAX];
		int len = wire_name_from_text(cfg->keys[i].name, w);

		if (len > 0 && (size_t)len == ldns_rdf_size(name) &&
		    wire_name_eq(w, ldns_rdf_data(name)) &&
		    wire_name_from_text(cfg->keys[i].algorithm, a) > 0 &&
		    ldns_rdf_size(alg) == wire_name_len(a) && wire_name_eq(a, ldns_rdf_data(alg)))
			return &cfg->keys[i];
	}
	return NULL;
}

enum tsig_result tsig_verify(const struct config *cfg, ldns_pkt *pkt, const uint8_t *req,
			     size_t len, uint64_t now, struct tsig_check *out)
{
	ldns_rr *t = ldns_pkt_tsig(pkt);
	const struct cfg_key *key;
	uint32_t fudge;

	memset(out, 0, sizeof(*out));
	if (!t)
		return TSIG_UNSIGNED;
	if (ldns_rr_rd_count(t) < 7)
		return TSIG_MALFORMED;
	out->time_signed = tsig_time(t);
	out->mac = ldns_rr_rdf(t, 3);
	if (!(key = find_key(cfg, t))) {
		out->error = TSIG_BADKEY;
		return TSIG_FAILED;
	}
	/* ldns compares the MACs with CRYPTO_memcmp, in constant time. */
	if (!ldns_pkt_tsig_verify(pkt, req, len, key->name, key->secret, NULL)) {
		out->error = TSIG_BADSIG;
		return TSIG_FAILED;
	}
	/* The window is the client's fudge, but never more than tsig_fudge_max:
	 * a fudge of 65535 s would let a captured message be replayed for 18 h. */
	fudge = ldns_rdf2native_int16(ldns_rr_rdf(t, 2));
	if (fudge > cfg->tsig_fudge_max)
		fudge = cfg->tsig_fudge_max;
	if ((now > out->time_signed ? now - out->time_signed : out->time_signed - now) > fudge) {
		out->error = TSIG_BADTIME;
		return TSIG_FAILED;
	}
	out->key = key;
	return TSIG_OK;
}

ldns_rr *tsig_error_rr(const ldns_pkt *req, uint16_t error, uint64_t now)
{
	const ldns_rr *t = ldns_pkt_tsig(req);
	uint8_t zero[2] = { 0, 0 }, other[8] = { 0, 6 };
	ldns_rr *rr;

	if (!t || ldns_rr_rd_count(t) < 7 || !(rr = ldns_rr_new()))
		return NULL;
	for (int i = 0; i < 6; i++)
		other[2 + i] = (uint8_t)(now >> (40 - 8 * i));
	ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(t)));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TSIG);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_ttl(rr, 0);
	ldns_rr_push_rdf(rr, ldns_rdf_clone(ldns_rr_rdf(t, 0)));
	ldns_rr_push_rdf(rr, ldns_rdf_clone(ldns_rr_rdf(t, 1)));
	ldns_rr_push_rdf(rr, ldns_rdf_clone(ldns_rr_rdf(t, 2)));
	ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, zero));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, ldns_pkt_id(req)));
	ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, error));
	ldns_rr_push_rdf(rr, error == TSIG_BADTIME
			 ? ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 8, other)
			 : ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, zero));
	return rr;
}
