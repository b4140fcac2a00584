/* registry.h - namespaces, services, instances and routers: the writer's model.
 *
 * The registry is the mutable source of truth, owned by one writer (the main
 * loop: config, health checks, and later UPDATE and lease expiry). Queries
 * never read it: after a change the writer builds an immutable struct view
 * from it (view.h) and publishes that, so readers on any thread see either the
 * old or the new state, never a half-made one. Services are found by name in
 * O(1) through a hash table keyed by their wire names. */
#ifndef MESHDNS_REGISTRY_H
#define MESHDNS_REGISTRY_H

#include <stdint.h>
#include "config.h"
#include "journal.h"
#include "nametab.h"
#include "zone.h"

enum health_state { HEALTH_HEALTHY = 0, HEALTH_UNHEALTHY, HEALTH_WARNING };
enum origin { ORIGIN_CONFIG = 0, ORIGIN_UPDATE };

struct service;

/* One instance. A registry may hold 100,000 of them, so the struct is kept
 * small: the id and its lower-cased key live in one allocation with it. */
struct instance {
	const char *id;           /* as registered; points into names[] */
	const uint8_t *key;       /* id lower-cased: the key in its service's ids */
	struct service *svc;
	char **attrs;             /* owned "key=value" strings */
	uint64_t healthy_since_ms;/* when it last turned healthy; 0 = always was */
	uint64_t lease_expiry;    /* unix seconds, 0 = no lease */
	uint32_t weight;
	uint16_t port;
	uint16_t nattrs;
	uint8_t addr4[4];
	uint8_t addr6[16];
	uint8_t has4, has6;
	uint8_t id_len;
	uint8_t health;           /* enum health_state */
	uint8_t origin;           /* enum origin */
	uint8_t drained;          /* meshdns-ctl drain: weight 0 in answers */
	char names[];             /* id, NUL, key, NUL */
};

struct service {
	char name[CFG_LABEL_MAX];
	struct ns *ns;
	uint8_t wire[WIRE_NAME_MAX];   /* svc.ns. lower-cased */
	size_t wire_len;
	struct cfg_health_check hc;
	struct instance **inst;
	size_t n, cap;
	struct nametab ids;            /* instance key -> struct instance, O(1) by id */
};

struct route {
	struct service *target;
	uint32_t weight;
};

struct router {
	char name[CFG_LABEL_MAX];
	struct ns *ns;
	uint8_t wire[WIRE_NAME_MAX];
	size_t wire_len;
	struct route *routes;
	size_t nroutes;
};

struct ns {
	const struct cfg_namespace *cfg;   /* settings: ttl, max_answers, ... */
	struct zone *zone;                 /* NULL when it has no zone file */
	struct service *services;
	size_t nservices;
	struct router *routers;
	size_t nrouters;
	uint32_t serial;                   /* rises on every change */
};

struct registry {
	const struct config *cfg;          /* not owned */
	struct ns *ns;
	size_t nns;
	struct nametab services;           /* service wire name -> struct service */
	uint64_t changes;                  /* count of changes since creation */
};

/* Builds the registry from cfg (which must outlive it), loading each
 * namespace's zone file. On failure returns ERR_ZONE/ERR_CONFIG/-errno with a
 * "file:line: message" in errbuf. */
int registry_new(struct registry **out, const struct config *cfg,
		 char *errbuf, size_t errlen);
void registry_free(struct registry *reg);

struct service *registry_find_service(const struct registry *reg,
				      const uint8_t *wire, size_t len);
struct instance *registry_find_instance(const struct service *svc, const char *id);

/* Sets an instance's health; returns 1 when it changed (and the registry
 * needs a new view), 0 when it was already so. now_ms is a monotonic clock. */
int registry_set_health(struct registry *reg, struct instance *inst,
			enum health_state health, uint64_t now_ms);
/* Copies the health of every config instance that also exists in old (same
 * namespace, service, id, address and port) into reg: a reload keeps what the
 * checks have learnt. */
void registry_carry_health(struct registry *reg, const struct registry *old);

/* Drains (weight 0 in answers, still registered) or undrains an instance;
 * returns 1 when it changed. Config instances only: an UPDATE instance's
 * drain goes through the journal (a PUT with drain_set, registrar.h). */
int registry_set_drained(struct registry *reg, struct instance *inst, int drained);

const char *registry_health_str(enum health_state h);
/* Parses "healthy", "unhealthy" or "warning"; -1 for anything else. */
int registry_health_parse(const char *s, size_t len);

struct ns *registry_find_ns(const struct registry *reg, const uint8_t *wire, size_t len);

/* Applies one journal record: PUT adds or replaces an UPDATE instance (which
 * keeps its drained flag unless the record has drain_set), DEL
 * removes one. A record for a namespace or service that is no longer
 * configured returns ERR_NOTFOUND and changes nothing (a replay after a
 * config change skips it). now_ms: monotonic clock, for slow start. */
int registry_apply(struct registry *reg, const struct jrec *r, uint64_t now_ms);
/* What a PUT record would change in the UPDATE instance in (NULL: none):
 * REG_SAME nothing at all, REG_LEASE only the lease's end (no answer
 * changes: registry_apply then moves the lease in place, without a new
 * serial), REG_ANSWERS records the answers show. */
enum reg_change { REG_SAME = 0, REG_LEASE, REG_ANSWERS };
enum reg_change registry_change(const struct instance *in, const struct jrec *r);
/* The record that recreates in (a PUT); attrs are written into buf. */
int registry_to_jrec(const struct instance *in, struct jrec *r, uint8_t *buf, size_t cap);
/* Removes UPDATE instances whose lease ended at or before now (unix s) and
 * writes a DEL record for each into out (at most max). Returns the count. */
size_t registry_expire(struct registry *reg, uint64_t now, struct jrec *out, size_t max);
/* Earliest lease expiry of any instance (unix s), or 0 when none has one. */
uint64_t registry_next_expiry(const struct registry *reg);
/* Copies every UPDATE instance of old that still fits reg's configuration
 * into reg (a reload keeps registrations). */
void registry_carry_instances(struct registry *reg, const struct registry *old);

#endif
