/* ctlcmd.c - what meshdns-ctl's commands do inside meshdns (ctlcmd.h).
 *
 * Replies are "key: value" lines (status, stats) or one line per instance
 * (list), so both people and scripts can read them. Commands run on the
 * daemon's loop, between two callbacks, so they read the registry directly. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include "cache.h"
#include "config.h"
#include "ctlcmd.h"
#include "err.h"
#include "log.h"
#include "registrar.h"
#include "registry.h"
#include "server.h"
#include "workers.h"
#include "wire.h"

static void count(const struct registry *reg, size_t *svcs, size_t *insts, size_t *drained)
{
	*svcs = *insts = *drained = 0;
	for (size_t i = 0; i < reg->nns; i++) {
		*svcs += reg->ns[i].nservices;
		for (size_t s = 0; s < reg->ns[i].nservices; s++) {
			const struct service *svc = &reg->ns[i].services[s];

			*insts += svc->n;
			for (size_t k = 0; k < svc->n; k++)
				*drained += svc->inst[k]->drained;
		}
	}
}

static int cmd_status(struct ctlcmd_env *e, struct control_out *o)
{
	const struct config *cfg = *e->cfg;
	size_t nsvc, ninst, ndrained;
	uint64_t acc = 0, ref = 0, jbytes = 0;
	char listen[1024];

	count(*e->reg, &nsvc, &ninst, &ndrained);
	if (*e->registrar)
		registrar_counts(*e->registrar, &acc, &ref, &jbytes);
	server_describe(*e->srv, listen, sizeof(listen));
	control_printf(o, "version: %s\n", MESHDNS_VERSION);
	control_printf(o, "uptime: %" PRIu64 "s\n", (uv_hrtime() / 1000000 - e->started_ms) / 1000);
	control_printf(o, "config: %s\n", cfg->file);
	control_printf(o, "namespaces: %zu\n", cfg->nnamespaces);
	control_printf(o, "services: %zu\n", nsvc);
	control_printf(o, "instances: %zu\n", ninst);
	control_printf(o, "drained: %zu\n", ndrained);
	control_printf(o, "journal: %s\n", *e->registrar ? "open" : "closed (no keys)");
	control_printf(o, "journal_bytes: %" PRIu64 "\n", jbytes);
	control_printf(o, "tcp_connections: %zu\n", server_tcp_connections(*e->srv));
	/* server_describe writes " listen=A listen=B". */
	control_printf(o, "listen:");
	for (char *p = strstr(listen, "listen="); p; p = strstr(p + 7, "listen=")) {
		size_t l = strcspn(p + 7, " ");

		control_printf(o, " %.*s", (int)l, p + 7);
	}
	control_printf(o, "\n");
	return 0;
}

static double health_factor(const struct instance *in)
{
	switch (in->health) {
	case HEALTH_HEALTHY: return 1.0;
	case HEALTH_WARNING: return in->svc->ns->cfg->warning_factor;
	default: return 0.0;
	}
}

static void list_instance(const struct instance *in, struct control_out *o)
{
	char a4[INET_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "", lease[32];
	uint64_t now = (uint64_t)time(NULL);
	double eff = in->drained ? 0 : in->weight * health_factor(in);

	if (in->has4 && !inet_ntop(AF_INET, in->addr4, a4, sizeof(a4)))
		a4[0] = 0;
	if (in->has6 && !inet_ntop(AF_INET6, in->addr6, a6, sizeof(a6)))
		a6[0] = 0;
	if (in->lease_expiry)
		snprintf(lease, sizeof(lease), "%" PRIu64 "s",
			 in->lease_expiry > now ? in->lease_expiry - now : 0);
	else
		snprintf(lease, sizeof(lease), "none");
	control_printf(o, "%s.%s.%s health=%s weight=%u effective_weight=%.0f drained=%s"
		       " lease=%s origin=%s address=", in->id, in->svc->name,
		       in->svc->ns->cfg->name, registry_health_str(in->health), in->weight, eff,
		       in->drained ? "yes" : "no", lease,
		       in->origin == ORIGIN_UPDATE ? "update" : "config");
	if (in->has4)
		control_printf(o, "%s:%u", a4, in->port);
	if (in->has6)
		control_printf(o, "%s[%s]:%u", in->has4 ? "," : "", a6, in->port);
	control_printf(o, "\n");
}

/* "svc.ns" (or "id.svc.ns" with id_out) to a service; NULL with err set. */
static struct service *find_service(struct ctlcmd_env *e, const char *name, char *err,
				    size_t errlen)
{
	uint8_t wire[WIRE_NAME_MAX];
	int len = wire_name_from_text(name, wire);
	struct service *svc;

	if (len < 0) {
		snprintf(err, errlen, "\"%s\" is not a domain name", name);
		return NULL;
	}
	wire_name_lower(wire);
	svc = registry_find_service(*e->reg, wire, (size_t)len);
	if (!svc)
		snprintf(err, errlen, "no service %s (give SERVICE.NAMESPACE, e.g. payments-v1.local)",
			 name);
	return svc;
}

static int cmd_list(struct ctlcmd_env *e, int argc, char **argv, struct control_out *o,
		    char *err, size_t errlen)
{
	const struct registry *reg = *e->reg;

	if (argc > 2) {
		snprintf(err, errlen, "usage: list [SERVICE.NAMESPACE]");
		return -1;
	}
	if (argc == 2) {
		const struct service *svc = find_service(e, argv[1], err, errlen);

		if (!svc)
			return -1;
		for (size_t k = 0; k < svc->n; k++)
			list_instance(svc->inst[k], o);
		return 0;
	}
	for (size_t i = 0; i < reg->nns; i++)
		for (size_t s = 0; s < reg->ns[i].nservices; s++)
			for (size_t k = 0; k < reg->ns[i].services[s].n; k++)
				list_instance(reg->ns[i].services[s].inst[k], o);
	return 0;
}

static int cmd_drain(struct ctlcmd_env *e, int argc, char **argv, struct control_out *o,
		     char *err, size_t errlen, int drained)
{
	const char *verb = drained ? "drain" : "undrain";
	char id[CFG_LABEL_MAX];
	const char *dot;
	struct service *svc;
	struct instance *in;
	int rc;

	if (argc != 2 || !(dot = strchr(argv[1], '.')) || dot == argv[1] ||
	    (size_t)(dot - argv[1]) >= sizeof(id)) {
		snprintf(err, errlen, "usage: %s ID.SERVICE.NAMESPACE", verb);
		return -1;
	}
	memcpy(id, argv[1], (size_t)(dot - argv[1]));
	id[dot - argv[1]] = 0;
	if (!(svc = find_service(e, dot + 1, err, errlen)))
		return -1;
	if (!(in = registry_find_instance(svc, id))) {
		snprintf(err, errlen, "no instance %s in %s", id, dot + 1);
		return -1;
	}
	if (in->drained == drained) {
		control_printf(o, "%s: already %s\n", argv[1], drained ? "drained" : "not drained");
		return 0;
	}
	if (in->origin == ORIGIN_UPDATE && *e->registrar) {
		if ((rc = registrar_set_drained(*e->registrar, in, drained)) < 0) {
			snprintf(err, errlen, "cannot journal the %s of %s: %s", verb, argv[1],
				 err_str(rc));
			return -1;
		}
	} else if (registry_set_drained(*e->reg, in, drained)) {
		e->changed(e->arg);
	}
	log_info("control", "%s %s", drained ? "drained" : "undrained", argv[1]);
	control_printf(o, "%s: %s\n", argv[1], drained ? "drained" : "undrained");
	return 0;
}

static int cmd_stats(struct ctlcmd_env *e, struct control_out *o)
{
	struct query_stats stats;
	const struct query_stats *q = &stats;
	uint64_t per_thread[WORKERS_MAX];
	unsigned nthreads = server_threads(*e->srv);
	struct cache_stats cs = { 0 };
	uint64_t acc = 0, ref = 0, jbytes = 0;

	if (*e->cache)
		cache_get_stats(*e->cache, &cs);
	if (*e->registrar)
		registrar_counts(*e->registrar, &acc, &ref, &jbytes);
	server_stats(*e->srv, &stats, per_thread, WORKERS_MAX);
	control_printf(o, "queries: %" PRIu64 "\n", q->queries);
	control_printf(o, "noerror: %" PRIu64 "\n", q->noerror);
	control_printf(o, "nxdomain: %" PRIu64 "\n", q->nxdomain);
	control_printf(o, "servfail: %" PRIu64 "\n", q->servfail);
	control_printf(o, "formerr: %" PRIu64 "\n", q->formerr);
	control_printf(o, "notimp: %" PRIu64 "\n", q->notimp);
	control_printf(o, "refused: %" PRIu64 "\n", q->refused);
	control_printf(o, "dropped: %" PRIu64 "\n", q->dropped);
	control_printf(o, "truncated: %" PRIu64 "\n", q->truncated);
	control_printf(o, "badcookie: %" PRIu64 "\n", q->badcookie);
	control_printf(o, "forwarded: %" PRIu64 "\n", q->forwarded);
	control_printf(o, "cache_hits: %" PRIu64 "\n", cs.hits);
	control_printf(o, "cache_misses: %" PRIu64 "\n", cs.misses);
	control_printf(o, "cache_entries: %" PRIu64 "\n", cs.entries);
	control_printf(o, "updates_accepted: %" PRIu64 "\n", acc);
	control_printf(o, "updates_refused: %" PRIu64 "\n", ref);
	control_printf(o, "threads: %u\n", nthreads);
	/* Per thread: how evenly the kernel spreads clients (SO_REUSEPORT). */
	control_printf(o, "thread_queries:");
	for (unsigned t = 0; t < nthreads && t < WORKERS_MAX; t++)
		control_printf(o, " %" PRIu64, per_thread[t]);
	control_printf(o, "\n");
	return 0;
}

int ctlcmd_run(void *arg, int argc, char **argv, struct control_out *o, char *err,
	       size_t errlen)
{
	struct ctlcmd_env *e = arg;
	const char *c = argv[0];

	if (!strcmp(c, "status") && argc == 1)
		return cmd_status(e, o);
	if (!strcmp(c, "stats") && argc == 1)
		return cmd_stats(e, o);
	if (!strcmp(c, "list"))
		return cmd_list(e, argc, argv, o, err, errlen);
	if (!strcmp(c, "drain") || !strcmp(c, "undrain"))
		return cmd_drain(e, argc, argv, o, err, errlen, !strcmp(c, "drain"));
	if (!strcmp(c, "reload") && argc == 1) {
		if (e->reload(e->arg, err, errlen) < 0)
			return -1;
		control_printf(o, "reloaded: %s\n", (*e->cfg)->file);
		return 0;
	}
	if (!strcmp(c, "help") && argc == 1) {
		control_printf(o, "commands: status, list [SERVICE.NAMESPACE], drain ID.SERVICE.NAMESPACE,"
			       " undrain ID.SERVICE.NAMESPACE, reload, stats, help\n");
		return 0;
	}
	snprintf(err, errlen, "unknown command or wrong arguments: \"%s\"; try \"help\"", c);
	return -1;
}
