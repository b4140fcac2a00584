/* aresuv.h - a c-ares channel driven by a libuv loop.
 *
 * c-ares says which sockets it wants watched (sock_state_cb); each gets a
 * uv_poll_t, and a timer calls ares_process_fd when c-ares's own timeout is
 * due, so lookups never block the loop. Shared by the forwarder (SRV
 * discovery) and the resolver (upstream forwarding). */
#ifndef MESHDNS_ARESUV_H
#define MESHDNS_ARESUV_H

#include <ares.h>
#include <uv.h>

struct aresuv;

/* servers: "IP[:PORT],..." or NULL/"" for the host's resolv.conf.
 * timeout_ms and tries are c-ares's per-try timeout and tries per server. */
int aresuv_new(struct aresuv **out, uv_loop_t *loop, const char *servers, int timeout_ms,
	       int tries, char *err, size_t errlen);
ares_channel aresuv_channel(struct aresuv *d);
/* Call after starting queries: arms the timer for c-ares's next timeout. */
void aresuv_kick(struct aresuv *d);
/* Destroys the channel (pending queries are called back with
 * ARES_EDESTRUCTION, before this returns) and frees d once its handles have
 * closed (uv_run must go on). */
void aresuv_close(struct aresuv *d);

#endif
