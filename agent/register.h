/* register.h - the agent's UPDATE messages and how it reads the answers.
 *
 * A registration is one atomic UPDATE in the Cloud Map layout: delete the
 * instance name (so the message replaces any older registration), then its
 * A/AAAA, its TXT (health= and the attributes) and the SRV at the service,
 * with an EDNS(0) UPDATE-LEASE option (RFC 9664). A deregistration deletes
 * the instance name. Both are TSIG-signed, and an answer is only believed
 * when its TSIG verifies against the request's MAC. No sockets here. */
#ifndef MESHDNS_AGENT_REGISTER_H
#define MESHDNS_AGENT_REGISTER_H

#include <stddef.h>
#include <stdint.h>
#include "keyfile.h"
#include "opts.h"

struct reg_request {
	uint8_t wire[4096];
	size_t len;
	uint16_t id;
	uint8_t mac[80];         /* the request's TSIG MAC rdata (u16 size + MAC) */
	size_t mac_len;
};

enum reg_outcome {
	REG_OK = 0,      /* accepted */
	REG_RETRY,       /* SERVFAIL, unverifiable answer, ...: try again later */
	REG_FATAL        /* refused for a reason retrying cannot fix */
};

struct reg_answer {
	enum reg_outcome outcome;
	int rcode;
	uint32_t lease;          /* granted lease, when the answer carried one */
	int has_lease;
	char why[256];           /* for logs: rcode, TSIG error, EDE text */
};

/* Builds the registration (deregister = 0) or deregistration of the task
 * described by o, at address family/bytes addr, with health "healthy",
 * "unhealthy" or "warning", signed with k at unix time now. */
int reg_build(struct reg_request *req, const struct agent_opts *o, int family,
	      const uint8_t addr[16], const char *health, int deregister,
	      const struct tsig_key *k, uint64_t now, uint16_t id);
/* Judges an answer to req. Returns 0, or -1 when it is not an answer to req
 * at all (wrong ID or unparsable), which the caller ignores. */
int reg_check(const struct reg_request *req, const uint8_t *wire, size_t len,
	      const struct tsig_key *k, struct reg_answer *ans);

#endif
