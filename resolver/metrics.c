/* metrics.c - meshdns's Prometheus series (see metrics.h). Names follow the
 * Prometheus conventions: meshdns_ prefix, _total for counters, base units
 * (_seconds, _bytes). Label sets are bounded: query types and rcodes are
 * mapped to a fixed list plus "other", refusal reasons are a fixed enum, and
 * instances are labelled by the configured namespaces and services only. */
#include <stdio.h>
#include <string.h>
#include "metrics.h"
#include "workers.h"

static void queries(struct expo *e, struct server *srv)
{
	struct query_stats stats;
	const struct query_stats *st = &stats;
	uint64_t per_thread[WORKERS_MAX];
	unsigned nthreads = server_threads(srv);
	struct server_metrics m;

	server_stats(srv, &stats, per_thread, WORKERS_MAX);

	expo_head(e, "meshdns_queries_total", "counter",
		  "DNS answers sent, by question type and response code (header rcode).");
	for (unsigned t = 0; t < QSTAT_TYPES; t++)
		for (unsigned r = 0; r < QSTAT_RCODES; r++) {
			char l[96] = "";

			/* Every pair, zeros too (91 lines): a series that appears
			 * only at its first answer would hide that answer from rate(). */
			expo_label(l, sizeof(l), "type", query_stat_types[t]);
			expo_label(l, sizeof(l), "rcode", query_stat_rcodes[r]);
			expo_u64(e, "meshdns_queries_total", l, st->answers[t][r]);
		}
	expo_one_u64(e, "meshdns_queries_received_total", "counter",
		"DNS queries (not UPDATEs) read and parsed, answered or not.",
		st->queries);
	expo_head(e, "meshdns_thread_queries_received_total", "counter",
		  "DNS queries read and parsed, by the thread that answered them (0 is the main"
		  " loop, which also serves TCP and answers what the other threads hand on).");
	for (unsigned t = 0; t < nthreads && t < WORKERS_MAX; t++) {
		char l[32] = "", num[16];

		snprintf(num, sizeof(num), "%u", t);
		expo_label(l, sizeof(l), "thread", num);
		expo_u64(e, "meshdns_thread_queries_received_total", l, per_thread[t]);
	}
	expo_one_u64(e, "meshdns_queries_dropped_total", "counter",
		"Queries dropped unanswered: malformed, oversized, response-rate limited or"
		" not sendable.",
		st->dropped);
	expo_one_u64(e, "meshdns_responses_truncated_total", "counter",
		"Answers sent with TC=1 because they did not fit the UDP size.",
		st->truncated);
	expo_one_u64(e, "meshdns_cache_hits_total", "counter",
		"Questions outside our namespaces answered from the cache.",
		st->cache_hits);
	expo_one_u64(e, "meshdns_cache_misses_total", "counter",
		"Questions outside our namespaces not in the cache (forwarded, or REFUSED"
		" when RD is clear).",
		st->cache_misses);

	server_get_metrics(srv, &m);
	expo_head(e, "meshdns_query_duration_seconds", "histogram",
		  "Time from reading a query to sending its answer: per UDP batch (recvmmsg to"
		  " sendmmsg) or TCP read, every answer of it counted with the batch's time;"
		  " forwarded queries until the upstream's answer is sent.");
	expo_histogram(e, "meshdns_query_duration_seconds", NULL, m.latency);
	expo_one_u64(e, "meshdns_tcp_connections_open", "gauge",
		"TCP connections open now.",
		m.tcp_open);
	expo_one_u64(e, "meshdns_tcp_connections_accepted_total", "counter",
		"TCP connections admitted.",
		m.tcp_accepted);
	expo_one_u64(e, "meshdns_tcp_connections_refused_total", "counter",
		"TCP connections closed at accept: per-client limit, or every connection busy.",
		m.tcp_refused);
	expo_one_u64(e, "meshdns_tcp_connections_evicted_total", "counter",
		"Idle TCP connections closed to make room at tcp_max_connections.",
		m.tcp_evicted);
	expo_one_u64(e, "meshdns_tcp_connections_timed_out_total", "counter",
		"TCP connections closed by tcp_idle_timeout or tcp_read_timeout.",
		m.tcp_timeouts);
}

static void upstream(struct expo *e, const struct upstream *u)
{
	struct upstream_stats st = { 0 };

	if (u)
		upstream_get_stats(u, &st);
	expo_one_u64(e, "meshdns_upstream_queries_total", "counter",
		"Queries sent to the upstream resolvers (identical questions in flight share one).",
		st.sent);
	expo_one_u64(e, "meshdns_upstream_timeouts_total", "counter",
		"Questions whose upstream_timeout passed before an answer.",
		st.timeouts);
	expo_one_u64(e, "meshdns_upstream_failures_total", "counter",
		"Upstream queries that failed (no answer from any upstream).",
		st.failed);
	expo_one_u64(e, "meshdns_upstream_inflight", "gauge",
		"Upstream queries in flight now.",
		st.inflight);
}

static void updates(struct expo *e, const struct registrar *r)
{
	struct registrar_metrics m = { 0 };
	struct expo_hist empty;

	expo_hist_init(&empty, registrar_fsync_bounds, REGISTRAR_FSYNC_BUCKETS);
	if (r)
		registrar_get_metrics(r, &m);
	else
		m.fsync = &empty;
	expo_one_u64(e, "meshdns_updates_accepted_total", "counter",
		"DNS UPDATEs applied, made durable and answered NOERROR.",
		m.accepted);
	expo_head(e, "meshdns_updates_refused_total", "counter",
		  "DNS UPDATEs refused or failed, by reason (tsig, scope, limit, rate, replay,"
		  " malformed, prerequisite, zone, content, servfail, other).");
	for (unsigned i = 0; i < REGISTRAR_NWHY; i++) {
		char l[64] = "";

		expo_label(l, sizeof(l), "reason", registrar_why_names[i]);
		expo_u64(e, "meshdns_updates_refused_total", l, m.refused[i]);
	}
	expo_one_u64(e, "meshdns_journal_size_bytes", "gauge",
		"Bytes in the registration journal (not counting the snapshot).",
		m.journal_bytes);
	expo_one_u64(e, "meshdns_journal_records", "gauge",
		"Records in the registration journal.",
		m.journal_records);
	expo_head(e, "meshdns_journal_fsync_duration_seconds", "histogram",
		  "Time one fdatasync of the journal took (a group commit).");
	expo_histogram(e, "meshdns_journal_fsync_duration_seconds", NULL, m.fsync);
}

static void instances(struct expo *e, const struct registry *reg)
{
	expo_head(e, "meshdns_instances", "gauge",
		  "Instances registered or configured, by namespace, service and health.");
	for (size_t i = 0; reg && i < reg->nns; i++) {
		const struct ns *ns = &reg->ns[i];
		char nsname[WIRE_NAME_TEXT_MAX];
		size_t nl;

		snprintf(nsname, sizeof(nsname), "%s", ns->cfg->name);
		nl = strlen(nsname);
		if (nl > 1 && nsname[nl - 1] == '.')
			nsname[nl - 1] = 0;   /* "local", as the config names it */

		for (size_t s = 0; s < ns->nservices; s++) {
			const struct service *svc = &ns->services[s];
			uint64_t n[3] = { 0, 0, 0 };

			for (size_t k = 0; k < svc->n; k++)
				if (svc->inst[k]->health < 3)
					n[svc->inst[k]->health]++;
			for (unsigned h = 0; h < 3; h++) {
				char l[256] = "";

				if (expo_label(l, sizeof(l), "namespace", nsname) < 0 ||
				    expo_label(l, sizeof(l), "service", svc->name) < 0 ||
				    expo_label(l, sizeof(l), "health", registry_health_str(h)) < 0)
					continue;
				expo_u64(e, "meshdns_instances", l, n[h]);
			}
		}
	}
}

void metrics_render(struct expo *e, const struct metrics_src *src)
{
	if (src->srv)
		queries(e, src->srv);
	upstream(e, src->upstream);
	updates(e, src->registrar);
	instances(e, src->reg);
	expo_one_u64(e, "meshdns_view_builds_total", "counter",
		"Views (the answers' precompiled state) built and published: at start, per"
		" reload, health change and (paced) batch of registrations.",
		src->view_builds);
	expo_one_double(e, "meshdns_view_build_seconds_total", "counter",
		"Time the main loop spent building views.",
		(double)src->view_build_ns / 1e9);
	expo_one_double(e, "meshdns_process_start_time_seconds", "gauge",
		"When the process started, unix seconds.",
		src->start_time);
}
