/* daemon.c - the resolver's process: one libuv loop that owns the config, the
 * registry (the writer's model), the published view, the sockets, the health
 * checks and the signals (see daemon.h).
 *
 * Every change to the registry ends in publish(): a new view is built and
 * handed to the server with one pointer store. A build is O(instances), so
 * registrations arriving by the thousand a second would spend the loop on
 * builds: publishes that registrations cause are paced, PACE_FACTOR build
 * times apart while queries come (builds take at most ~1/PACE_FACTOR of
 * the loop), closer when fewer come, and an UPDATE's answer waits for the
 * view that holds its change.
 * Renewals that only move a lease change no answer: they wait for no build,
 * and the view's lease figures follow within LEASE_REFRESH_MS.
 * The old view goes back to the server, which frees it at once with one
 * thread, or once no worker thread can be reading it (workers.h). A reload
 * builds a whole new config and registry first and only swaps when both
 * loaded, so a bad file never stops a running server. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <netinet/in.h>
#include <uv.h>
#include "control.h"
#include "ctlcmd.h"
#include "daemon.h"
#include "err.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "promhttp.h"
#include "registrar.h"
#include "registry.h"
#include "server.h"
#include "tsig.h"
#include "notify.h"
#include "upstream.h"
#include "view.h"
#include "xfr.h"

struct daemon {
	uv_loop_t loop;
	uv_signal_t sighup, sigterm, sigint;
	uv_timer_t rebuild;
	uv_check_t coalesce;           /* publishes once per loop turn after updates */
	uv_timer_t pace;               /* ...or when the pacing allows */
	uv_timer_t leases;             /* renewals reach the view's lease figures */
	int dirty;
	int leases_stale;              /* a renewal moved a lease the view still shows */
	uint64_t build_ns;             /* how long the last view build took */
	uint64_t builds, builds_ns;    /* every build, for the metrics */
	uint64_t next_publish_ns;      /* paced publishes wait until then */
	uint64_t pace_at_ns, pace_queries; /* the query rate's last sample: time, count */
	double pace_qps;               /* and the rate it gave */
	const char *file;
	struct config *cfg;
	struct registry *reg;
	struct view *view;
	struct server *srv;
	struct health *health;
	struct registrar *registrar;   /* NULL until a key allows registrations */
	struct cache *cache;
	struct upstream *upstream;     /* NULL: names outside our namespaces are REFUSED */
	struct xfr *xfr;               /* serials and zone transfers */
	struct notifier *notifier;     /* NOTIFY after a serial rose */
	int recover;
	struct control *control;       /* meshdns-ctl's socket; NULL when off */
	struct ctlcmd_env ctl;
	struct promhttp *metrics;      /* NULL unless metrics_listen is set */
	double start_time;             /* unix seconds */
};

static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static int load(const char *file, struct config **cfg, struct registry **reg,
		char *err, size_t errlen)
{
	int rc = file ? config_load(cfg, file, err, errlen)
		      : config_load_text(cfg, "<default>", config_default_text, err, errlen);

	if (rc < 0)
		return rc;
	rc = registry_new(reg, *cfg, err, errlen);
	if (rc < 0) {
		config_free(*cfg);
		*cfg = NULL;
	}
	return rc;
}

static void rebuild_due(uv_timer_t *t);
static void on_pace(uv_timer_t *t);

/* Registration-driven builds are spaced PACE_FACTOR build times apart,
 * and at most PACE_MAX_NS: with 100,000 instances (a build of tens of ms) an
 * UPDATE waits at most that long for its answer. What a build costs is the
 * queries it holds up, so the spacing follows the query rate: PACE_FACTOR
 * at PACE_BUSY_QPS or more, down to PACE_IDLE_FACTOR when no query comes,
 * where registrations alone get their views (and answers) at once. */
#define PACE_FACTOR 100
#define PACE_IDLE_FACTOR 2
#define PACE_BUSY_QPS 10000.0
#define PACE_MAX_NS 500000000ull

static void on_serial(void *arg, const struct cfg_namespace *ns, uint32_t serial)
{
	struct daemon *d = arg;

	log_debug("xfr", "%s serial %u", ns->name, serial);
	notifier_changed(d->notifier, d->cfg, ns, serial);
}

static int xfr_emit(void *arg, const uint8_t *msg, size_t len)
{
	return server_reply_part(arg, msg, len);
}

/* AXFR/IXFR from the server (server_xfr_cb): answered at once, from the
 * published view. */
static void on_xfr(void *arg, struct server_req *req, const uint8_t *msg, size_t len, int tcp)
{
	struct daemon *d = arg;
	int rc = xfr_answer(d->xfr, d->view, d->cfg, msg, len, tcp, (uint64_t)time(NULL),
			    xfr_emit, req);

	if (rc < 0)
		log_debug("xfr", "transfer ended early: %s", err_str(rc));
	server_reply(req, NULL, 0);
}

static int publish(struct daemon *d)
{
	struct view *v;
	uint64_t t0 = uv_hrtime();
	int rc = view_build(&v, d->reg, mono_ms());

	if (rc < 0) {
		log_err("meshdns", "cannot build answers: %s; still serving the previous state",
			err_str(rc));
		return rc;
	}
	/* Serials and IXFR differences are part of the build's cost (pacing). */
	xfr_publish(d->xfr, v, d->cfg, (uint64_t)time(NULL), on_serial, d);
	d->build_ns = uv_hrtime() - t0;
	d->leases_stale = 0;
	d->builds++;
	d->builds_ns += d->build_ns;
	d->dirty = 0;
	if (d->srv)
		server_set_view(d->srv, v);
	server_retire_view(d->srv, d->view);
	d->view = v;
	if (d->registrar)
		registrar_published(d->registrar);
	if (v->rebuild_at_ms) {
		uint64_t now = mono_ms();

		uv_timer_start(&d->rebuild, rebuild_due,
			       v->rebuild_at_ms > now ? v->rebuild_at_ms - now : 0, 0);
	}
	return 0;
}

static void rebuild_due(uv_timer_t *t)
{
	publish(t->data);
}

/* A renewal that moved a lease and nothing else changes no answer: only
 * the lease left that the CH TXT listing shows (view.h's expiry). That
 * waits for the next build, at most LEASE_REFRESH_MS, so a thousand
 * renewals a second cost one build a second, not one a pace. */
#define LEASE_REFRESH_MS 1000

static void leases_due(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (d->leases_stale)
		publish(d);
}

/* Registrations change the registry many times per loop turn under load.
 * The view is rebuilt after the turn's I/O (the check phase), or later when
 * the pacing says so; their answers wait for both the journal sync and that
 * view (registrar_published), so NOERROR still means "durable and visible".
 * answers == 0: only leases moved (registrar.h). */
static double load_share(struct daemon *d, uint64_t now);

static void on_changed(void *arg, int answers)
{
	struct daemon *d = arg;

	/* The registrar's syncs wait longer while queries come. */
	if (d->registrar)
		registrar_set_load(d->registrar, load_share(d, uv_hrtime()));
	if (answers) {
		d->dirty = 1;
		return;
	}
	d->leases_stale = 1;
	if (!uv_is_active((uv_handle_t *)&d->leases))
		uv_timer_start(&d->leases, leases_due, LEASE_REFRESH_MS, 0);
}

/* The query rate, for the spacing of paced builds and the registrar's
 * syncs. It is sampled over at least PACE_SAMPLE_NS: worker threads
 * publish their counts every few milliseconds (workers.h), so a shorter
 * window would often see none of their queries. */
#define PACE_SAMPLE_NS 50000000ull

/* How busy the query path is: 0 without queries, 1 at PACE_BUSY_QPS. */
static double load_share(struct daemon *d, uint64_t now)
{
	struct query_stats st;

	if (d->srv && now - d->pace_at_ns >= PACE_SAMPLE_NS) {
		server_stats(d->srv, &st, NULL, 0);
		if (d->pace_at_ns)
			d->pace_qps = (double)(st.queries - d->pace_queries) * 1e9 /
				      (double)(now - d->pace_at_ns);
		d->pace_queries = st.queries;
		d->pace_at_ns = now;
	}
	return d->pace_qps >= PACE_BUSY_QPS ? 1 : d->pace_qps / PACE_BUSY_QPS;
}

static double pace_factor(struct daemon *d, uint64_t now)
{
	return PACE_IDLE_FACTOR + (PACE_FACTOR - PACE_IDLE_FACTOR) * load_share(d, now);
}

static void paced_publish(struct daemon *d)
{
	uint64_t now = uv_hrtime(), gap;

	if (!d->dirty)
		return;
	if (now < d->next_publish_ns) {
		if (!uv_is_active((uv_handle_t *)&d->pace))
			uv_timer_start(&d->pace, on_pace,
				       (d->next_publish_ns - now + 999999) / 1000000, 0);
		return;
	}
	publish(d);
	gap = (uint64_t)((double)d->build_ns * pace_factor(d, now));
	d->next_publish_ns = now + (gap < PACE_MAX_NS ? gap : PACE_MAX_NS);
}

static void on_pace(uv_timer_t *t)
{
	paced_publish(t->data);
}

static void on_check(uv_check_t *h)
{
	paced_publish(h->data);
}

/* Registrations need keys; the journal opens when the first key appears. */
static int open_registrar(struct daemon *d)
{
	char err[CFG_ERR_MAX];
	int rc;

	if (d->registrar || d->cfg->nkeys == 0)
		return 0;
	rc = registrar_new(&d->registrar, &d->loop, d->cfg->state_dir, d->recover, d->reg,
			   on_changed, d, err, sizeof(err));
	if (rc < 0) {
		log_err("journal", "%s", err);
		return rc;
	}
	if (d->srv)
		server_set_update_cb(d->srv, registrar_on_update, d->registrar);
	return 0;
}

static void on_health(void *arg, void *cookie, int healthy)
{
	struct daemon *d = arg;
	struct instance *in = cookie;

	if (registry_set_health(d->reg, in, healthy ? HEALTH_HEALTHY : HEALTH_UNHEALTHY, mono_ms())) {
		log_info("registry", "instance %s.%s.%s is %s", in->id, in->svc->name,
			 in->svc->ns->cfg->name, registry_health_str(in->health));
		publish(d);
	}
}

static void start_checks(struct daemon *d)
{
	for (size_t i = 0; i < d->reg->nns; i++) {
		for (size_t s = 0; s < d->reg->ns[i].nservices; s++) {
			struct service *svc = &d->reg->ns[i].services[s];

			for (size_t k = 0; svc->hc.protocol != HC_NONE && k < svc->n; k++) {
				struct instance *in = svc->inst[k];
				struct sockaddr_storage ss = { 0 };
				uint16_t port = htons(svc->hc.port ? svc->hc.port : in->port);
				int rc;

				if (in->has4) {
					struct sockaddr_in *a = (struct sockaddr_in *)&ss;

					a->sin_family = AF_INET;
					a->sin_port = port;
					memcpy(&a->sin_addr, in->addr4, 4);
				} else {
					struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

					a->sin6_family = AF_INET6;
					a->sin6_port = port;
					memcpy(&a->sin6_addr, in->addr6, 16);
				}
				rc = health_add(d->health, (struct sockaddr *)&ss, &svc->hc, in,
						in->health != HEALTH_UNHEALTHY);
				if (rc < 0)
					log_err("health", "cannot check %s.%s: %s", in->id, svc->name,
						err_str(rc));
			}
		}
	}
}

static void cache_cfg_of(const struct config *cfg, struct cache_cfg *cc)
{
	cc->max_entries = cfg->cache_size;
	cc->max_bytes = cfg->cache_bytes;
	cc->min_ttl = cfg->cache_min_ttl;
	cc->max_ttl = cfg->cache_max_ttl;
	cc->max_negative_ttl = cfg->cache_max_negative_ttl;
	cc->stale_ttl = cfg->serve_stale;
}

/* Forwarding: the upstream list of cfg, or off when it names none. */
static void open_upstream(struct daemon *d)
{
	char err[CFG_ERR_MAX];
	int rc = upstream_new(&d->upstream, &d->loop, d->cfg, d->cache, err, sizeof(err));

	if (rc < 0) {
		d->upstream = NULL;
		if (rc == ERR_NOTFOUND)
			log_info("upstream", "forwarding off (%s): other names get REFUSED", err);
		else
			log_err("upstream", "forwarding off: %s", err);
	}
	if (d->srv)
		server_set_forward(d->srv, d->upstream ? d->cache : NULL,
				   d->upstream ? upstream_forward : NULL, d->upstream);
}

static int same_upstream(const struct config *a, const struct config *b)
{
	return a->upstream_system == b->upstream_system && a->nupstreams == b->nupstreams &&
	       !memcmp(a->upstreams, b->upstreams, a->nupstreams * sizeof(*a->upstreams));
}

static int same_listen(const struct config *a, const struct config *b)
{
	if (a->nlisten != b->nlisten)
		return 0;
	for (size_t i = 0; i < a->nlisten; i++)
		if (memcmp(&a->listen[i], &b->listen[i], sizeof(a->listen[i])))
			return 0;
	return 1;
}

/* 0, or -1 with the reason in err (a control socket's reload reply). */
static int reload(struct daemon *d, char *err, size_t errlen)
{
	struct config *cfg;
	struct registry *reg;

	log_info("meshdns", "reloading %s", d->file ? d->file : "<default>");
	if (load(d->file, &cfg, &reg, err, errlen) < 0) {
		log_err("meshdns", "reload failed, still serving the previous configuration: %s", err);
		return -1;
	}
	if (!same_listen(d->cfg, cfg))
		log_warn("meshdns", "listen addresses changed: they apply after a restart");
	if (d->cfg->threads != cfg->threads)
		log_warn("meshdns", "threads changed: it applies after a restart");
	if (d->cfg->has_metrics != cfg->has_metrics ||
	    memcmp(&d->cfg->metrics_listen, &cfg->metrics_listen, sizeof(cfg->metrics_listen)))
		log_warn("meshdns", "metrics_listen changed: it applies after a restart");
	registry_carry_health(reg, d->reg);
	registry_carry_instances(reg, d->reg);
	health_clear(d->health);
	tsig_cleanup();         /* no keyed context outlives a key the new file drops */
	struct registry *old_reg = d->reg;
	struct config *old_cfg = d->cfg;

	d->reg = reg;
	d->cfg = cfg;
	server_set_limits(d->srv, cfg);
	{
		struct cache_cfg cc;

		cache_cfg_of(cfg, &cc);
		cache_set_cfg(d->cache, &cc);
	}
	if (!same_upstream(old_cfg, cfg)) {
		if (d->upstream)
			upstream_close(d->upstream);
		open_upstream(d);
	} else if (d->upstream) {
		upstream_set_limits(d->upstream, cfg);
	}
	if (publish(d) < 0) {
		d->reg = old_reg;
		d->cfg = old_cfg;
		registry_free(reg);
		config_free(cfg);
		start_checks(d);
		snprintf(err, errlen, "cannot build answers from the new configuration;"
			 " still serving the previous one");
		return -1;
	}
	if (d->registrar)
		registrar_set_registry(d->registrar, reg);
	else if (open_registrar(d) < 0)
		log_err("meshdns", "registrations stay disabled until the journal opens");
	registry_free(old_reg);
	config_free(old_cfg);
	start_checks(d);
	log_info("meshdns", "reloaded namespaces=%zu", cfg->nnamespaces);
	return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (signum == SIGHUP) {
		char err[CFG_ERR_MAX];

		(void)reload(d, err, sizeof(err));
		return;
	}
	log_info("meshdns", "stopping on %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	if (d->metrics)
		promhttp_close(d->metrics);
	d->metrics = NULL;
	if (d->registrar)
		registrar_close(d->registrar);
	d->registrar = NULL;
	control_close(d->control);
	d->control = NULL;
	if (d->upstream)
		upstream_close(d->upstream);
	d->upstream = NULL;
	notifier_close(d->notifier);
	d->notifier = NULL;
	server_close(d->srv);
	d->srv = NULL;
	health_close(d->health);
	d->health = NULL;
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->rebuild, NULL);
	uv_close((uv_handle_t *)&d->coalesce, NULL);
	uv_close((uv_handle_t *)&d->pace, NULL);
	uv_close((uv_handle_t *)&d->leases, NULL);
}

static int count_instances(const struct registry *reg, size_t *services)
{
	int n = 0;

	*services = 0;
	for (size_t i = 0; i < reg->nns; i++) {
		*services += reg->ns[i].nservices;
		for (size_t s = 0; s < reg->ns[i].nservices; s++)
			n += (int)reg->ns[i].services[s].n;
	}
	return n;
}

static int ctl_reload(void *arg, char *err, size_t errlen)
{
	return reload(arg, err, errlen);
}

static void ctl_changed(void *arg)
{
	publish(arg);
}

/* The control socket (control.h). Another meshdns holding it stops the
 * start; any other failure does too when control_socket was set, and only
 * warns for the default path (say, a state_dir this user cannot write). */
static int open_control(struct daemon *d)
{
	char path[4096], err[CFG_ERR_MAX];
	const char *cs = d->cfg->control_socket;
	int rc;

	if (cs && !cs[0])
		return 0;
	if (snprintf(path, sizeof(path), "%s%s", cs ? cs : d->cfg->state_dir,
		     cs ? "" : "/control.sock") >= (int)sizeof(path)) {
		log_err("control", "control socket path too long");
		return -ENAMETOOLONG;
	}
	/* The default lives in state_dir, which the journal only creates when
	 * keys allow registrations: create it here too (its parent must exist;
	 * a failure shows in the bind's message). */
	if (!cs && mkdir(d->cfg->state_dir, 0750) < 0 && errno != EEXIST)
		log_debug("control", "cannot create %s: %s", d->cfg->state_dir, strerror(errno));
	d->ctl = (struct ctlcmd_env){ .cfg = &d->cfg, .reg = &d->reg, .srv = &d->srv,
		.cache = &d->cache, .registrar = &d->registrar, .started_ms = mono_ms(),
		.reload = ctl_reload, .changed = ctl_changed, .arg = d };
	rc = control_open(&d->control, &d->loop, path, ctlcmd_run, &d->ctl, err, sizeof(err));
	if (rc < 0 && (cs || rc == -EADDRINUSE)) {
		log_err("control", "%s", err);
		return rc;
	}
	if (rc < 0)
		log_warn("control", "meshdns-ctl cannot connect: %s", err);
	return 0;
}

static void render_metrics(void *arg, struct expo *e)
{
	struct daemon *d = arg;
	struct metrics_src src = { .srv = d->srv, .reg = d->reg, .registrar = d->registrar,
				   .upstream = d->upstream, .start_time = d->start_time,
				   .view_builds = d->builds, .view_build_ns = d->builds_ns };

	metrics_render(e, &src);
}

/* metrics_listen: GET /metrics on its own HTTP thread (promhttp.h). */
static int open_metrics(struct daemon *d, char *desc, size_t desclen)
{
	char err[CFG_ERR_MAX];
	size_t o = strlen(desc);
	int rc;

	if (!d->cfg->has_metrics)
		return 0;
	rc = promhttp_new(&d->metrics, &d->loop, &d->cfg->metrics_listen, render_metrics, d,
			  err, sizeof(err));
	if (rc < 0) {
		log_err("meshdns", "%s", err);
		return rc;
	}
	if (o < desclen)
		snprintf(desc + o, desclen - o, " metrics=%s", promhttp_address(d->metrics));
	return 0;
}

static int start(struct daemon *d)
{
	char err[CFG_ERR_MAX], desc[1024];
	size_t nsvc;
	int rc, ninst;

	if ((rc = uv_loop_init(&d->loop)) < 0) {
		log_err("meshdns", "cannot start the event loop: %s", uv_strerror(rc));
		return rc;
	}
	d->rebuild.data = d->sighup.data = d->sigterm.data = d->sigint.data = d;
	d->coalesce.data = d->pace.data = d->leases.data = d;
	uv_timer_init(&d->loop, &d->rebuild);
	uv_timer_init(&d->loop, &d->pace);
	uv_timer_init(&d->loop, &d->leases);
	if ((rc = uv_check_init(&d->loop, &d->coalesce)) < 0 ||
	    (rc = uv_check_start(&d->coalesce, on_check)) < 0)
		return rc;
	if ((rc = open_registrar(d)) < 0)
		return rc;
	if ((rc = xfr_new(&d->xfr, d->cfg->state_dir)) < 0 ||
	    (rc = notifier_new(&d->notifier, &d->loop)) < 0) {
		log_err("meshdns", "cannot start zone transfers: %s", err_str(rc));
		return rc;
	}
	if ((rc = publish(d)) < 0)
		return rc;
	/* Parsing the config and replaying the journal freed far more than they
	 * kept (the YAML tree, replaced instances); give it back to the system
	 * rather than hold it for the life of the process. */
	malloc_trim(0);
	if ((rc = server_new(&d->srv, &d->loop, d->cfg, err, sizeof(err))) < 0) {
		log_err("meshdns", "%s", err);
		return rc;
	}
	server_set_view(d->srv, d->view);
	{
		struct cache_cfg cc;

		cache_cfg_of(d->cfg, &cc);
		if ((rc = cache_new(&d->cache, &cc)) < 0) {
			log_err("meshdns", "cannot create the cache: %s", err_str(rc));
			return rc;
		}
	}
	open_upstream(d);
	if (d->registrar)
		server_set_update_cb(d->srv, registrar_on_update, d->registrar);
	server_set_xfr_cb(d->srv, on_xfr, d);
	if ((rc = health_new(&d->health, &d->loop, on_health, d)) < 0) {
		log_err("meshdns", "cannot start health checks: %s", err_str(rc));
		return rc;
	}
	start_checks(d);
	if (uv_signal_init(&d->loop, &d->sighup) < 0 || uv_signal_init(&d->loop, &d->sigterm) < 0 ||
	    uv_signal_init(&d->loop, &d->sigint) < 0 ||
	    uv_signal_start(&d->sighup, on_signal, SIGHUP) < 0 ||
	    uv_signal_start(&d->sigterm, on_signal, SIGTERM) < 0 ||
	    uv_signal_start(&d->sigint, on_signal, SIGINT) < 0) {
		log_err("meshdns", "cannot install signal handlers");
		return -1;
	}
	if ((rc = open_control(d)) < 0)
		return rc;
	ninst = count_instances(d->reg, &nsvc);
	server_describe(d->srv, desc, sizeof(desc));
	if ((rc = open_metrics(d, desc, sizeof(desc))) < 0)
		return rc;
	log_info("meshdns", "serving%s namespaces=%zu services=%zu instances=%d checks=%zu version=%s",
		 desc, d->cfg->nnamespaces, nsvc, ninst, health_count(d->health), MESHDNS_VERSION);
	return 0;
}


static void close_any(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int daemon_run(const struct daemon_opts *opts)
{
	struct daemon d = { .file = opts->config_file, .recover = opts->recover };
	char err[CFG_ERR_MAX];
	struct timeval tv;
	int rc, status = 0;

	if (gettimeofday(&tv, NULL) == 0)
		d.start_time = (double)tv.tv_sec + (double)tv.tv_usec / 1e6;

	signal(SIGPIPE, SIG_IGN);
	if (load(d.file, &d.cfg, &d.reg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (opts->check_only) {
		size_t nsvc;
		int ninst = count_instances(d.reg, &nsvc);

		printf("%s: configuration OK (namespaces=%zu services=%zu instances=%d)\n",
		       d.cfg->file, d.cfg->nnamespaces, nsvc, ninst);
		registry_free(d.reg);
		config_free(d.cfg);
		return 0;
	}
	if (start(&d) < 0) {
		status = 1;
		if (d.registrar)
			registrar_close(d.registrar);
		d.registrar = NULL;
		control_close(d.control);
		d.control = NULL;
		if (d.upstream)
			upstream_close(d.upstream);
		d.upstream = NULL;
		notifier_close(d.notifier);
		d.notifier = NULL;
		if (d.srv)
			server_close(d.srv);
		if (d.health)
			health_close(d.health);
		if (d.metrics)
			promhttp_close(d.metrics);
		d.metrics = NULL;
		d.srv = NULL;
		d.health = NULL;
		uv_walk(&d.loop, close_any, NULL);
	}
	rc = uv_run(&d.loop, UV_RUN_DEFAULT);
	(void)rc;
	if (uv_loop_close(&d.loop) < 0)
		log_warn("meshdns", "event loop closed with handles still open");
	view_free(d.view);
	xfr_free(d.xfr);
	cache_free(d.cache);
	registry_free(d.reg);
	config_free(d.cfg);
	tsig_cleanup();
	if (!status)
		log_info("meshdns", "stopped");
	return status;
}
