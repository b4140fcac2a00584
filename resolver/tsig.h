/* tsig.h - TSIG (RFC 8945) on the wire: checking a request's record against
 * the configured keys, and signing an answer. UPDATE (update.c) and zone
 * transfers (xfr.c) both start here.
 *
 * The MACs are computed here with OpenSSL's HMAC, one keyed context a key,
 * kept between messages, so a message costs no allocation and no algorithm
 * look-up; MACs are compared in constant time (CRYPTO_memcmp). This module
 * finds the key (name and algorithm) and applies the time window: the
 * client's fudge, but never more than tsig_fudge_max. No I/O. The contexts
 * are shared, so the functions that compute a MAC run on one thread (the
 * main loop; workers hand UPDATEs and transfers to it). */
#ifndef MESHDNS_TSIG_H
#define MESHDNS_TSIG_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "wire.h"

/* TSIG error codes (RFC 8945 5.3). */
enum { TSIG_BADSIG = 16, TSIG_BADKEY = 17, TSIG_BADTIME = 18 };

#define TSIG_MAC_MAX 64         /* hmac-sha512 */

enum tsig_result {
	TSIG_OK = 0,        /* key is set */
	TSIG_UNSIGNED,      /* no TSIG record */
	TSIG_MALFORMED,     /* a TSIG record that cannot be read */
	TSIG_FAILED         /* error is TSIG_BADKEY, TSIG_BADSIG or TSIG_BADTIME */
};

/* A message's TSIG record, read off the wire (tsig_find). */
struct tsig_rr {
	size_t at;                      /* the record's offset: the message without it is [0, at) */
	uint8_t name[WIRE_NAME_MAX];    /* the key name, lower case, uncompressed */
	uint8_t alg[WIRE_NAME_MAX];     /* the algorithm name, lower case */
	uint64_t time_signed;
	uint16_t fudge, orig_id, error, other_len;
	const uint8_t *mac;             /* in the message: the MAC size (2 bytes), then the MAC */
	uint16_t mac_len;               /* the MAC's own size */
	const uint8_t *other;
};

struct tsig_check {
	/* The key whose MAC verified: TSIG_OK, or TSIG_FAILED with BADTIME
	 * (whose answer it signs, RFC 8945 5.2.3); else NULL. */
	const struct cfg_key *key;
	uint16_t error;             /* TSIG_FAILED: which check failed */
	uint64_t time_signed;       /* the record's time, once a record was read */
	const uint8_t *mac;         /* the request's MAC with its 2-byte size (in the message), or NULL */
	size_t mac_size;            /* 2 + the MAC's length */
};

/* Finds the TSIG record of msg: 1 and *out filled when there is one, 0
 * when there is none, ERR_MALFORMED when the message fails wire_msg_scan
 * (a TSIG that is not the last record, counts that lie) or the record's
 * class, TTL or fields are wrong. */
int tsig_find(const uint8_t *msg, size_t len, struct tsig_rr *out);

/* RFC 8945 5.2: checks req's TSIG at unix time now. */
enum tsig_result tsig_verify(const struct config *cfg, const uint8_t *req, size_t len,
			     uint64_t now, struct tsig_check *out);

/* RFC 8945 4.3: appends a TSIG record signed with key to the message
 * msg[0..len) (cap bytes of room) and adds one to its ARCOUNT. prior is the
 * MAC with its 2-byte size that this message answers: the request's for an
 * answer, the previous message's for a later message of a transfer, which
 * signs the timers only (timers_only, RFC 8945 5.3.1). The new MAC with its
 * size goes to mac_out (2 + TSIG_MAC_MAX bytes) when that is not NULL.
 * Returns the new length, or a negative error (ERR_SPACE, -ENOMEM). */
long tsig_sign(const struct cfg_key *key, const uint8_t *prior, size_t prior_size,
	       int timers_only, uint64_t now, uint16_t fudge, uint8_t *msg, size_t len,
	       size_t cap, uint8_t *mac_out);

/* RFC 8945 5.3.2: appends the TSIG record that answers a request whose
 * record was req with error to msg, and adds one to its ARCOUNT. BADKEY and
 * BADSIG answers are unsigned (empty MAC; they must not be signed). BADTIME
 * carries now (unix seconds) as other data and the request's time signed,
 * and is signed with key, the request's, over the request's MAC (5.2.3); a
 * NULL key leaves it unsigned. Returns the new length, ERR_SPACE, or
 * -ENOMEM when the MAC cannot be computed. */
long tsig_put_error(const struct tsig_rr *req, const struct cfg_key *key, uint16_t id,
		    uint16_t error, uint64_t now, uint8_t *msg, size_t len, size_t cap);


/* Frees the cached keyed contexts (at exit, for leak checkers). */
void tsig_cleanup(void);

#endif
