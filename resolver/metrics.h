/* metrics.h - meshdns's Prometheus series (GET /metrics, see promhttp.h).
 *
 * metrics_render() reads the counters the server, registrar and upstream
 * keep on the event loop (plain integers, no locks) and the registry, and
 * writes every meshdns_* series. It runs on the loop thread, once per scrape,
 * so it may walk the registry and allocate. */
#ifndef MESHDNS_METRICS_H
#define MESHDNS_METRICS_H

#include "expo.h"
#include "registrar.h"
#include "registry.h"
#include "server.h"
#include "upstream.h"

struct metrics_src {
	struct server *srv;                /* any of these may be NULL */
	const struct registry *reg;
	const struct registrar *registrar;
	const struct upstream *upstream;
	double start_time;                 /* unix seconds */
	uint64_t view_builds;              /* answers rebuilt (views published) */
	uint64_t view_build_ns;            /* time spent building them */
};

void metrics_render(struct expo *e, const struct metrics_src *src);

#endif
