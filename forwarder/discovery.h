/* discovery.h - following one name's SRV records with c-ares on libuv.
 *
 * Each listener's name is looked up at start and again when its TTL runs out
 * (at least every second, at most every 5 minutes). Addresses come from the
 * answer's additional section, or from a follow-up A/AAAA query per target
 * that had none. When a lookup fails the last good set stays in use, and
 * the failure is logged once until a lookup succeeds again. */
#ifndef MESHDNS_FWD_DISCOVERY_H
#define MESHDNS_FWD_DISCOVERY_H

#include <uv.h>
#include "aresuv.h"
#include "srv.h"

struct discovery;

/* Called with each new set of endpoints (a fresh lookup that succeeded). */
typedef void (*discovery_cb)(void *arg, const struct srv_set *set);

int discovery_start(struct discovery **out, uv_loop_t *loop, struct aresuv *d, const char *name,
		    discovery_cb cb, void *arg);
/* Stops following; call aresuv_close on the channel in the same tick after
 * stopping every discovery on it. */
void discovery_stop(struct discovery *disc);

#endif
