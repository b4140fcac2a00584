/* balance.h - a listener's endpoints: weighted picks and outlier ejection.
 *
 * The set follows the SRV records (balance_update merges a new set by address,
 * keeping counters and ejection state of endpoints that stay). A pick is an
 * RFC 2782 weighted draw over endpoints that are present and not ejected,
 * skipping the ones this connection already tried. Passive outlier
 * detection as in Envoy: consecutive connect failures eject an endpoint for
 * base x (times ejected), capped; never more than max_ejection_percent of
 * the set is out (at least one may be, so a two-endpoint set can shed its
 * dead half). An ejected endpoint returns when its time is up. No I/O. */
#ifndef MESHDNS_FWD_BALANCE_H
#define MESHDNS_FWD_BALANCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "addr.h"
#include "wrand.h"

#define BALANCE_MAX 256

struct outlier_cfg {
	uint32_t consecutive_failures;   /* default 3 */
	uint32_t base_ejection_ms;       /* default 5000 */
	uint32_t max_ejection_ms;        /* default 300000 */
	uint32_t max_ejection_percent;   /* default 50 */
};

struct endpoint {
	struct sockaddr_storage addr;
	char text[ADDR_TEXT_MAX];
	uint16_t weight;
	int present;                     /* in the latest SRV set */
	uint32_t failures;               /* consecutive connect failures */
	uint32_t times_ejected;
	uint64_t ejected_until;          /* monotonic ms; 0 = in service */
	/* counters */
	uint64_t connections, active, bytes_up, bytes_down, connect_failures, ejections;
};

struct balance {
	struct endpoint ep[BALANCE_MAX];
	size_t n;
	struct outlier_cfg cfg;
	uint64_t cum[BALANCE_MAX];       /* scratch for picks */
	uint32_t idx[BALANCE_MAX];
};

void balance_init(struct balance *b, const struct outlier_cfg *cfg);
/* Replaces the set with addrs/weights (n entries). Endpoints no longer
 * listed stay (present = 0) while connections use them. */
void balance_update(struct balance *b, const struct sockaddr_storage *addrs,
		    const uint16_t *weights, size_t n);
/* Picks an endpoint index, skipping the `ntried` indices in tried; -1 when
 * none is available. now: monotonic ms (ends ejections that are due). */
int balance_pick(struct balance *b, struct wrand_rng *rng, uint64_t now,
		 const int *tried, size_t ntried);
/* Outcome of a connect to endpoint i. Returns 1 when the failure ejected it. */
int balance_failed(struct balance *b, int i, uint64_t now);
void balance_connected(struct balance *b, int i);
/* Endpoints ejected at now. */
size_t balance_ejected(const struct balance *b, uint64_t now);
/* Forgets endpoints that left the set and carry no connection. */
void balance_compact(struct balance *b);

#endif
