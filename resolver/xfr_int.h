/* xfr_int.h - what xfr.c (AXFR, serials) and ixfr.c (IXFR history) share. */
#ifndef MESHDNS_XFR_INT_H
#define MESHDNS_XFR_INT_H

#include <ldns/ldns.h>
#include "tsig.h"
#include "xfr.h"

/* A namespace's records as one sorted set of uncompressed records (owner
 * name, type, class, TTL, rdlength, rdata), unique. */
struct ixrec {
	uint64_t h;
	uint32_t off, len;
};

struct ixset {
	struct ixrec *r;
	size_t n, rcap;
	uint8_t *bytes;
	size_t blen, bcap;
};

/* One published change: records removed and added from serial to serial. */
struct ixdiff {
	uint32_t from, to;
	struct ixset del, add;
	uint8_t *from_soa, *to_soa;
	size_t from_soa_len, to_soa_len;
};

struct xns {
	uint8_t wire[WIRE_NAME_MAX];
	size_t wire_len;
	char name[WIRE_NAME_TEXT_MAX];
	uint32_t serial;
	uint64_t digest, count;
	int have;
	struct ixset cur;            /* the records at serial (when IXFR is kept) */
	uint8_t *cur_soa;
	size_t cur_soa_len;
	struct ixdiff hist[XFR_HISTORY];   /* oldest first */
	size_t nhist;
};

struct xfr {
	char *state_dir;
	struct xns *ns;
	size_t nns, cap;
};

/* One transfer being written. */
struct xfer {
	const uint8_t *req;
	size_t reqlen, qlen;
	xfr_emit_cb emit;
	void *arg;
	int rcode;
	uint16_t tsig_error;
	const char *why;
	const struct cfg_key *key;
	const struct cfg_key *error_key; /* BADTIME: the key whose MAC verified */
	uint8_t mac[2 + TSIG_MAC_MAX]; /* the request's, then the last message's (with its size) */
	size_t mac_size;
	uint64_t now;                /* unix s: the TSIG time of every message */
	const struct vnode *apex;
	unsigned nmsg;
	int err;
	size_t pos;
	uint16_t ancount;
	unsigned ncomp;
	struct { const struct vnode *node; uint16_t off; } comp[8192];
	uint8_t buf[65536];
};

typedef void (*walk_fn)(void *arg, const struct vnode *owner, const uint8_t *tail, size_t len,
			const struct vnode *target);
void walk_ns(const struct view *v, const struct vnode *apex, walk_fn fn, void *arg);
uint64_t rec_hash(const struct vnode *owner, const uint8_t *tail, size_t len,
		  const struct vnode *target);
uint32_t serial_load(const struct xfr *x, const struct xns *n);
void put_soa(struct xfer *t);
void put_raw(struct xfer *t, const uint8_t *rec, size_t len);

/* After n's serial rose from old (0: first version): keeps the difference
 * between the previous and this version of the records, when keep (the
 * namespace allows transfers at all; otherwise the history is dropped). */
void ixfr_record(struct xns *n, const struct view *v, const struct vnode *apex, int keep,
		 uint32_t old);
/* Writes an IXFR answer from serial have to n's current serial (RFC 1995 4:
 * SOA, then per version the old SOA, removals, new SOA, additions, then the
 * SOA); returns 0, writing nothing, when have is not in the history. */
int ixfr_put_diffs(struct xfer *t, const struct xns *n, uint32_t have);
void ixfr_clear(struct xns *n);

#endif
