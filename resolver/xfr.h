/* xfr.h - zone transfers out (AXFR, RFC 5936; IXFR, RFC 1995) and the SOA
 * serial they carry.
 *
 * Read replicas are stock DNS servers (NSD, Knot, BIND) configured as
 * secondaries of meshdns. A transfer is rendered straight from the published
 * view (immutable, so no copy of the registry is taken): the SOA, the zone
 * file's static records, and for every service and router the A/AAAA and SRV
 * records of every member an answer could hold, plus each instance's
 * A/AAAA/TXT, then the SOA again.
 *
 * The serial is ours, not the zone file's: every publish computes a digest of
 * each namespace's records (an order-free sum of per-record hashes) and when
 * it differs from the last one the serial becomes
 *     max(zone file serial, unix time, last serial + 1)   (RFC 1982 order)
 * and is written to <state_dir>/serial.<namespace> so that a restart never
 * goes backwards (the unix-time term covers a lost file as long as changes
 * average under one a second). The serial is patched into the view's SOA
 * before the view is published, so queries and transfers agree. A namespace
 * with neither allow_transfer nor notify keeps its zone file's serial and
 * costs nothing at publish time.
 *
 * Access: only requests signed (TSIG, RFC 8945) with a key the namespace's
 * allow_transfer lists get data; every message of the answer is signed, the
 * second and later ones with the running MAC (RFC 8945 5.3.1). This module
 * uses ldns for TSIG and knows no sockets. */
#ifndef MESHDNS_XFR_H
#define MESHDNS_XFR_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "view.h"

#define XFR_MSG_TARGET 32768   /* bytes of records per message before TSIG */
#define XFR_HISTORY 16         /* IXFR differences kept per namespace */

struct xfr;

/* A namespace's serial rose (after xfr_publish): NOTIFY its secondaries. */
typedef void (*xfr_changed_cb)(void *arg, const struct cfg_namespace *ns, uint32_t serial);
/* One message of an answer; returns 0, or <0 to stop (the client is gone). */
typedef int (*xfr_emit_cb)(void *arg, const uint8_t *msg, size_t len);

/* state_dir may be NULL (serials are then not kept across restarts). */
int xfr_new(struct xfr **out, const char *state_dir);
void xfr_free(struct xfr *x);

/* Gives every namespace of v (built from cfg, not yet published) its serial
 * and writes it into v's SOA records; calls cb for each whose serial rose. */
void xfr_publish(struct xfr *x, struct view *v, const struct config *cfg, uint64_t unix_now,
		 xfr_changed_cb cb, void *arg);

/* Whether msg is a query (opcode 0) for AXFR or IXFR. */
int xfr_is_transfer(const uint8_t *msg, size_t len);

/* Answers the transfer request req from view v: over TCP the whole zone (or
 * an IXFR difference) in as many messages as it takes; over UDP an IXFR gets
 * the current SOA only (RFC 1995 2: the client retries over TCP) and an AXFR
 * is refused. Refusals are one message. Returns 0, or <0 when emit failed or
 * memory ran out (the caller closes the connection). */
int xfr_answer(struct xfr *x, const struct view *v, const struct config *cfg,
	       const uint8_t *req, size_t len, int tcp, uint64_t unix_now,
	       xfr_emit_cb emit, void *arg);

#endif
