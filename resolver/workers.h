/* workers.h - the extra UDP threads of `threads: N`.
 *
 * Thread 0 is the main loop; workers_start() adds threads 1..N-1. Each has
 * its own UDP socket on every listen address, bound with SO_REUSEPORT beside
 * the main loop's, so the kernel spreads clients across the threads (by a
 * hash of address and port), and its own udp_engine. They answer from the
 * published view, which is immutable: a replaced view is freed only once
 * every worker has passed a quiescent state since the replacement
 * (quiescent-state-based reclamation, as in userspace RCU). A worker
 * announces the generation it has seen before it loads the view, and that it
 * holds no view before it sleeps, so the main loop never waits for a worker.
 *
 * What a worker does not answer from the view (UPDATEs, zone transfers,
 * names outside our namespaces) it copies into a bounded queue that the main
 * loop drains (uv_async); the main loop answers it as if it had come to its
 * own socket on the same address. TCP is served by the main loop alone. */
#ifndef MESHDNS_WORKERS_H
#define MESHDNS_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include "udp.h"
#include "view.h"

#define WORKERS_MAX 64          /* the config's bound on threads */
#define WORKERS_ADDRS_MAX 16    /* listen addresses a worker serves */

struct workers;

/* A datagram a worker handed on: it came to listen address addr_index. */
typedef void (*workers_handoff_cb)(void *arg, size_t addr_index, const struct sockaddr *peer,
				   const uint8_t *msg, size_t len);

/* Starts n threads serving the naddrs bound addresses (ports resolved), with
 * settings st; cb runs on loop. On failure returns a negative code and writes
 * why into err. */
int workers_start(struct workers **out, uv_loop_t *loop, unsigned n,
		  const struct sockaddr_storage *addrs, size_t naddrs,
		  const struct udp_settings *st, workers_handoff_cb cb, void *arg, char *err,
		  size_t errlen);
/* Publishes v to the workers (one atomic store). */
void workers_set_view(struct workers *w, const struct view *v);
/* Takes ownership of old, a view no longer published: it is freed once no
 * worker can still be reading it. */
void workers_retire(struct workers *w, struct view *old);
/* The settings of a reload; each worker takes them before its next batch. */
void workers_apply(struct workers *w, const struct udp_settings *st);
/* Adds every worker's counters, as of its last snapshot (taken at least once
 * every few milliseconds while it is busy, and before it sleeps), to q and
 * lat (either may be NULL); per_thread[i] gets worker i+1's query count (nper
 * entries at most). */
void workers_add_stats(struct workers *w, struct query_stats *q, struct expo_hist *lat,
		       uint64_t *per_thread, size_t nper);
/* Stops and joins the threads and frees every retired view; w itself is
 * freed once its handles closed (uv_run must go on). */
void workers_stop(struct workers *w);

#endif
