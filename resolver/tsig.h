/* tsig.h - checking a request's TSIG record (RFC 8945 5.2) against the
 * configured keys: UPDATE (update.c) and zone transfers (xfr.c) both start
 * here. ldns computes the MAC and compares it in constant time; this module
 * finds the key (name and algorithm), and applies the time window: the
 * client's fudge, but never more than tsig_fudge_max. No I/O. */
#ifndef MESHDNS_TSIG_H
#define MESHDNS_TSIG_H

#include <ldns/ldns.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* TSIG error codes (RFC 8945 5.3). */
enum { TSIG_BADSIG = 16, TSIG_BADKEY = 17, TSIG_BADTIME = 18 };

enum tsig_result {
	TSIG_OK = 0,        /* key is set */
	TSIG_UNSIGNED,      /* no TSIG record */
	TSIG_MALFORMED,     /* a TSIG record with too few fields */
	TSIG_FAILED         /* error is TSIG_BADKEY, TSIG_BADSIG or TSIG_BADTIME */
};

struct tsig_check {
	const struct cfg_key *key;  /* the verified key; NULL unless TSIG_OK */
	uint16_t error;             /* TSIG_FAILED: which check failed */
	uint64_t time_signed;       /* the record's time, once a record was read */
	const ldns_rdf *mac;        /* the request's MAC rdata (in pkt), or NULL */
};

/* RFC 8945 5.3.2: the unsigned TSIG record that answers req with error
 * (BADKEY, BADSIG, or BADTIME with now, unix seconds, as other data); the
 * caller owns it. NULL when req has no complete TSIG or memory ran out. */
ldns_rr *tsig_error_rr(const ldns_pkt *req, uint16_t error, uint64_t now);

enum tsig_result tsig_verify(const struct config *cfg, ldns_pkt *pkt, const uint8_t *req,
			     size_t len, uint64_t now, struct tsig_check *out);

#endif
