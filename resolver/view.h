/* view.h - an immutable, query-ready snapshot of the registry.
 *
 * The writer builds a view from the registry after every change and publishes
 * it with one atomic pointer store; queries read the view only. Everything a
 * query needs is precomputed here: a tree of name nodes found by one hash
 * lookup, each instance's records as wire fragments (type, class, TTL and
 * rdata ready to copy), and for every service and router the effective
 * weights as cumulative arrays for RFC 2782 selection (wrand.h). Building a
 * view costs O(records); answering from one allocates nothing.
 *
 * A node's own part of the name ("label") is what it writes before its
 * parent: one label for ordinary nodes, the whole namespace name for an apex
 * (whose parent is NULL). Writing a name is walking to the root, so answer
 * compression is a table of (node, offset) pairs. */
#ifndef MESHDNS_VIEW_H
#define MESHDNS_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "nametab.h"
#include "wire.h"

struct registry;

enum vnode_kind { VN_ENT = 0, VN_APEX, VN_SET, VN_INSTANCE };

/* Static records of one type at one node: count tails back to back, each
 * "type class ttl rdlength rdata" in wire form. */
struct vrrset {
	uint16_t type;
	uint16_t count;
	uint32_t len;
	const uint8_t *tails;
};

struct vnode;
struct vdebug;

/* The record types a view builds. */
#define TYPE_A 1
#define TYPE_SOA 6
#define TYPE_TXT 16
#define TYPE_AAAA 28
#define TYPE_SRV 33

#define VINST_A_TAIL 14       /* type A, IN, ttl, 4, address */
#define VINST_AAAA_TAIL 26    /* type AAAA, IN, ttl, 16, address */

/* One instance in a view: 72 bytes (a view may hold 100,000). The AAAA tail
 * lives in the arena, only for instances that have an IPv6 address. The
 * fields an answer at the instance's name reads come last: the builder puts
 * the instance's node right after it, so node and fields are adjacent.
 * (Answers at a set's names read the set's own copies, struct vset.) */
struct vinst {
	const uint8_t *txt_tail;    /* TXT: attributes and health= */
	uint64_t expiry;            /* lease end, unix s; 0 = none */
	/* Used while the view is built: the set last given this instance and
	 * its SRV weight there, for that set's debugging listing. */
	const void *build_set;
	/* For the debugging listing. */
	uint32_t weight;
	uint16_t port;
	uint16_t txt_len;
	uint16_t build_srvw;
	uint8_t health, origin;     /* enum health_state, enum origin */
	uint8_t drained;
	const uint8_t *aaaa_tail;   /* VINST_AAAA_TAIL bytes, when has6 */
	uint8_t a_tail[VINST_A_TAIL];
	uint8_t has4, has6;
	const struct vnode *node;   /* <id>.<service>.<ns> */
};

/* One SRV target of a set: 16 bytes. Its addresses are the set's addr4 and
 * addr6 entries (one per member with such an address, in member order), so
 * an SRV answer and its glue read the set and the targets' nodes, no vinst.
 * The node is the target name, even when a set holds that name too. */
struct vmember {
	const struct vnode *node;   /* <id>.<service>.<ns> */
	uint16_t srv_weight;        /* in this set: the heaviest member 65535, at least 1 */
	uint16_t port;
	uint8_t has4, has6;
};

/* The answer set of a service or router: members with positive effective
 * weight (or every instance, when all are unhealthy and the namespace says
 * on_all_unhealthy: all). cum4/addr4 cover the members with an IPv4 address,
 * in member order, cum6/addr6 those with an IPv6 address: an A or AAAA
 * answer reads the set alone, not the instances (with 100,000 instances each
 * would be a cache miss). The arrays follow the set in the arena, those that
 * address answers read first. */
struct vset {
	uint32_t n;
	uint32_t ttl;               /* of its A, AAAA and SRV records */
	uint32_t n4, n6;
	uint32_t max_answers;
	const uint64_t *cum4, *cum6;
	const uint8_t (*addr4)[4];
	const uint8_t (*addr6)[16];
	const struct vmember *members;
	const struct vdebug *debug; /* the CH TXT listing at the set's names */
};

/* The debugging listing of a service or router (class CH TXT at its name):
 * one line per instance, unhealthy ones included. It is formatted when asked
 * (not per view build), from these fields; the lease left is computed then. */
struct vdebug_item {
	const struct vinst *vi;
	uint16_t srvw;              /* its SRV weight in this set; 0 = not answered */
};

struct vdebug {
	uint32_t n;
	const struct vdebug_item *items;
};

struct vns {
	const struct vnode *apex;
	const uint8_t *soa_neg;     /* SOA tail with TTL = min(TTL, minimum) (RFC 2308 5) */
	uint16_t soa_neg_len;
};

/* A name of the view: 36 bytes, then its wire form. A set's and an
 * instance's node hold one pointer to what they answer with. */
struct vnode {
	const struct vns *ns;       /* negative answers */
	const struct vrrset *rrsets;
	const struct vnode *parent; /* NULL at a namespace apex */
	union {
		const struct vset *set;     /* VN_SET */
		const struct vinst *inst;   /* VN_INSTANCE */
	};
	uint8_t name_len;
	uint8_t label_len;          /* bytes of name this node writes itself */
	uint8_t kind;               /* enum vnode_kind */
	uint8_t nrrsets;
	uint8_t name[];             /* lower-cased wire name, name_len bytes */
};

struct view {
	struct nametab names;       /* wire name -> struct vnode */
	void *arena;                /* everything above lives here */
	uint32_t udp_payload;
	uint64_t rebuild_at_ms;     /* 0, or when slow-start ramps want a new view */
	uint64_t generation;
};

/* Builds a view of reg at monotonic time now_ms. Returns 0 or -ENOMEM. */
int view_build(struct view **out, const struct registry *reg, uint64_t now_ms);
void view_free(struct view *v);
/* Writes serial into the SOA of apex (and its negative-answer copy), in a
 * view that is built but not yet published: zone transfers (xfr.h) own the
 * serial, not the zone file. */
void view_set_serial(struct view *v, const struct vnode *apex, uint32_t serial);
/* The SOA serial of apex, 0 when it has no SOA. */
uint32_t view_serial(const struct vnode *apex);

/* A record's fixed part after its owner: type, class IN, TTL, rdlength. */
static inline void view_tail_head(uint8_t *p, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	wire_set16(p, type);
	wire_set16(p + 2, 1);
	wire_set32(p + 4, ttl);
	wire_set16(p + 8, rdlen);
}

/* The SRV record of member m of set s up to its target: type, class, TTL,
 * rdlength (0: the caller writes the target, then the length), priority 0,
 * weight, port. */
static inline void vset_srv_head(const struct vset *s, const struct vmember *m, uint8_t head[16])
{
	view_tail_head(head, TYPE_SRV, s->ttl, 0);
	wire_set16(head + 10, 0);
	wire_set16(head + 12, m->srv_weight);
	wire_set16(head + 14, m->port);
}

/* The A (v6 = 0) or AAAA record of the set's k-th address of that family,
 * after the owner: type, class, TTL, rdlength, address. Returns its length
 * (VINST_A_TAIL or VINST_AAAA_TAIL). */
static inline size_t vset_addr_tail(const struct vset *s, int v6, uint32_t k,
				    uint8_t tail[VINST_AAAA_TAIL])
{
	size_t alen = v6 ? 16 : 4;

	view_tail_head(tail, v6 ? TYPE_AAAA : TYPE_A, s->ttl, (uint16_t)alen);
	memcpy(tail + 10, v6 ? s->addr6[k] : s->addr4[k], alen);
	return 10 + alen;
}

static inline const struct vnode *view_lookup(const struct view *v, const uint8_t *name,
					      size_t len, uint32_t hash)
{
	return (const struct vnode *)nametab_get(&v->names, name, len, hash);
}

#endif
