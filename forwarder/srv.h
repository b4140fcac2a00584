/* srv.h - reading an SRV answer: targets, ports, weights and the addresses
 * the resolver put in the additional section (RFC 2782). Pure parsing with the
 * bounded wire cursor of lib/wire.h; it is fuzzed. */
#ifndef MESHDNS_FWD_SRV_H
#define MESHDNS_FWD_SRV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "wire.h"

#define SRV_MAX 256

struct srv_target {
	uint8_t name[WIRE_NAME_MAX];     /* lower-cased target */
	size_t name_len;
	uint16_t priority, weight, port;
	int naddr;                       /* addresses found for it (0..2) */
	struct sockaddr_storage addr[2]; /* from the additional section */
};

struct srv_set {
	int rcode;
	uint32_t ttl;                    /* smallest TTL of the SRV records */
	size_t n;
	struct srv_target t[SRV_MAX];
};

/* Parses a DNS answer to an SRV question. Returns 0 (rcode may still be an
 * error, or n 0 for NODATA) or ERR_MALFORMED. Records beyond SRV_MAX are
 * ignored; only the lowest priority's records are kept, as RFC 2782 asks
 * clients to try those first. */
int srv_parse(const uint8_t *msg, size_t len, struct srv_set *out);
/* Fills in the addresses of targets named name from an A or AAAA answer. */
int srv_add_addresses(struct srv_set *set, const uint8_t *msg, size_t len);

#endif
