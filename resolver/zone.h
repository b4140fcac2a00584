/* zone.h - static records of a namespace, read from a master file with ldns.
 *
 * The file is read record by record so every error names file:line. Records
 * are kept in uncompressed wire form with lower-cased owners, ready to be
 * copied into answers. Loading happens at start and on SIGHUP, never on the
 * query path. */
#ifndef MESHDNS_ZONE_H
#define MESHDNS_ZONE_H

#include <stddef.h>
#include <stdint.h>

struct zone_rr {
	uint8_t *owner;        /* lower-cased uncompressed wire name */
	size_t owner_len;
	uint16_t type;
	uint16_t rclass;       /* always 1 (IN) */
	uint32_t ttl;
	uint8_t *rdata;        /* uncompressed wire rdata */
	uint16_t rdlen;
	int line;              /* line in the file, for messages */
};

struct zone {
	char *file;
	struct zone_rr *rrs;   /* in file order */
	size_t n;
	size_t soa;            /* index of the SOA record in rrs */
};

/* Loads path with origin (wire form) as the default $ORIGIN and default_ttl
 * as the default $TTL. Rejects, with "file:line: message" in errbuf:
 * syntax errors; records outside the origin; classes other than IN; wildcard
 * owners (not supported); a missing SOA, an SOA not at the origin, or more
 * than one SOA. Returns 0, -errno (file unreadable) or ERR_ZONE. */
int zone_load(struct zone **out, const char *path, const uint8_t *origin,
	      uint32_t default_ttl, char *errbuf, size_t errlen);
void zone_free(struct zone *z);

#endif
