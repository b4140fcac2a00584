/* update.h - DNS UPDATE (RFC 2136) with TSIG (RFC 8945) and UPDATE-LEASE
 * (RFC 9664), mapped onto registry instances in the Cloud Map layout:
 *
 *   <id>.<service>.<ns>  A / AAAA / TXT ("health=..." and "key=value")
 *   <service>.<ns> (or _<service>._tcp.<ns>)  SRV prio weight port <id>.<service>.<ns>
 *
 * update_plan() checks a message completely (TSIG, zone, prerequisites, key
 * scope, the record layout) against the registry without changing it, and
 * turns it into journal records (PUT or DEL per instance). The daemon then
 * appends them to the journal, applies them with registry_apply(), and once
 * they are durable sends the answer update_answer() writes. A message applies
 * whole or not at all. This module knows no sockets; it reads the message in
 * place with wire.h and checks its TSIG with tsig.c. */
#ifndef MESHDNS_UPDATE_H
#define MESHDNS_UPDATE_H

#include <stddef.h>
#include <stdint.h>
#include "journal.h"
#include "registry.h"
#include "tsig.h"

#define UPDATE_MAX_CHANGES 64     /* instances one message may touch */
#define UPDATE_FUDGE 300          /* TSIG time window, seconds (RFC 8945 10) */


struct update_plan {
	int rcode;                    /* DNS rcode of the answer */
	uint16_t tsig_error;          /* 0, or TSIG_BAD* */
	const char *why;              /* EDE text (RFC 8914) for refusals, or NULL */
	char why_buf[160];
	const struct cfg_key *key;    /* the verified key, or NULL */
	const struct cfg_key *error_key; /* BADTIME: the key whose MAC verified */
	uint8_t request_mac[80];      /* the request's MAC rdata (u16 size + MAC) */
	uint16_t request_mac_len;
	uint64_t time_signed;         /* of the request */
	int edns;                     /* the request had an OPT */
	int has_lease;                /* it had an UPDATE-LEASE option */
	uint32_t lease;               /* the lease granted, seconds */
	struct jrec changes[UPDATE_MAX_CHANGES];
	size_t nchanges;              /* changes to journal and apply */
	size_t nvisible;              /* of those, changes to the answers (not a lease alone) */
	uint8_t attrs[UPDATE_MAX_CHANGES][512];  /* storage for changes[i].attrs */
};

/* Plans req (an UPDATE message) against reg at unix time now. Always fills
 * plan (rcode NOERROR with changes, or the error to answer); returns 0, or -1
 * when the message is too broken to answer at all (no header). */
int update_plan(const struct registry *reg, const uint8_t *req, size_t len,
		uint64_t now, struct update_plan *plan);

/* Writes the answer to req for plan into out (cap bytes), signed with the
 * request's key when it verified. Returns the length, or 0 on failure. */
size_t update_answer(const struct update_plan *plan, const uint8_t *req, size_t len,
		     uint64_t now, uint8_t *out, size_t cap);

#endif
