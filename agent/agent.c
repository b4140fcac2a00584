/* agent.c - meshdns-agent's event loop (see agent.h).
 *
 * One UDP socket, connected to the server, carries one UPDATE at a time. What
 * the agent wants (registered with some health, or gone) is state; sending is
 * a function of that state, so a health change during a send, a timeout or a
 * server that comes back all end in the same place: the next send carries
 * the whole current registration (same id: the server replaces it). Retries
 * back off exponentially with jitter up to about 30 s and never give up while
 * the task runs; answers that no retry can fix (REFUSED, NOTAUTH) stop the
 * agent with an error.
 *
 * Wrap mode runs the task as a child in its own session: a stop signal
 * drains (deregister, wait one TTL, then pass the signal on), and the task's
 * exit ends the agent with the task's status. */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include "addr.h"
#include "agent.h"
#include "health.h"
#include "keyfile.h"
#include "log.h"
#include "register.h"
#include "resolve.h"
#include "wrand.h"

#define ANSWER_TIMEOUT_MS 2000
#define STOP_ATTEMPTS 3          /* deregistration tries when stopping */
#define BACKOFF_MAX_MS 30000

enum want { WANT_NOTHING, WANT_REGISTERED, WANT_GONE };

struct agent {
	uv_loop_t *loop;
	struct agent_opts *o;
	struct tsig_key key;
	struct sockaddr_storage server;
	char server_text[ADDR_TEXT_MAX];
	int family;
	uint8_t addr[16];
	uv_udp_t udp;
	uv_timer_t answer_timer, retry_timer, renew_timer, drain_timer;
	uv_signal_t sig[3];
	struct health *health;
	uv_process_t child;
	int child_running, child_exit;
	enum want want;
	const char *health_now;      /* "healthy" / "unhealthy" */
	const char *health_sent;     /* as last acknowledged, or NULL */
	int in_flight, dirty, unreachable;
	unsigned attempts;
	struct reg_request req;
	uint16_t ttl_query_id;
	uint32_t ttl;                /* learnt from our own record, for draining */
	int stopping, stop_signal, exit_status, closing;
	struct wrand_rng rng;
	uint8_t rbuf[65536];
};

static void send_now(struct agent *a);

static void finish(struct agent *a, int status);
static void on_gone(struct agent *a);

static uint64_t backoff_ms(struct agent *a)
{
	uint64_t base = 1000ull << (a->attempts < 5 ? a->attempts : 5);

	base = base > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base;
	return base * 3 / 4 + wrand_below(&a->rng, base / 2 + 1); /* 75%..125% */
}

/* ---- the wrapped task ---- */

static void after_drain(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->child_running) {
		log_info("agent", "drained: passing signal %d to the task", a->stop_signal);
		uv_process_kill(&a->child, a->stop_signal);
	} else {
		finish(a, a->exit_status);
	}
}

/* Gone from DNS (or given up on that): what stopping does next. */
static void on_gone(struct agent *a)
{
	uint64_t wait_ms;

	if (a->o->cmd && a->child_running) {
		wait_ms = a->o->drain_ms >= 0 ? (uint64_t)a->o->drain_ms
					      : (uint64_t)(a->ttl ? a->ttl : 5) * 1000;
		log_info("agent", "draining for %llu ms so cached answers expire",
			 (unsigned long long)wait_ms);
		uv_timer_start(&a->drain_timer, after_drain, wait_ms, 0);
		return;
	}
	finish(a, a->o->cmd ? a->exit_status : 0);
}

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct agent *a = p->data;

	a->child_running = 0;
	uv_close((uv_handle_t *)p, NULL);
	if (a->closing) {
		finish(a, a->exit_status); /* an error stopped us: now close */
		return;
	}
	a->exit_status = term_signal ? 128 + term_signal : (int)status;
	log_info("agent", "task exited status=%d", a->exit_status);
	if (!a->stopping) {
		/* The task ended on its own: leave DNS, then exit with its status. */
		a->stopping = 1;
		uv_timer_stop(&a->renew_timer);
		if (a->want == WANT_NOTHING && !a->health_sent && !a->in_flight) {
			finish(a, a->exit_status);
			return;
		}
		a->want = WANT_GONE;
		a->attempts = 0;
		send_now(a);
	} else if (a->want == WANT_NOTHING) {
		uv_timer_stop(&a->drain_timer); /* already gone from DNS */
		finish(a, a->exit_status);
	}
}

static int spawn_task(struct agent *a)
{
	uv_stdio_container_t io[3];
	uv_process_options_t po = { 0 };
	int rc;

	for (int i = 0; i < 3; i++) {
		io[i].flags = UV_INHERIT_FD;
		io[i].data.fd = i;
	}
	po.file = a->o->cmd[0];
	po.args = a->o->cmd;
	po.exit_cb = on_child_exit;
	po.stdio = io;
	po.stdio_count = 3;
	po.flags = UV_PROCESS_DETACHED; /* own session: only we pass signals on */
	a->child.data = a;
	rc = uv_spawn(a->loop, &a->child, &po);
	if (rc < 0)
		return rc;
	a->child_running = 1;
	log_info("agent", "task started pid=%d command=%s", a->child.pid, a->o->cmd[0]);
	return 0;
}

/* ---- talking to the server ---- */

static void on_send_timer(uv_timer_t *t)
{
	send_now(t->data);
}

static void schedule_retry(struct agent *a)
{
	uint64_t ms = backoff_ms(a);

	a->attempts++;
	if (a->stopping && a->attempts >= STOP_ATTEMPTS) {
		log_warn("agent", "server %s did not confirm the deregistration; stopping anyway"
			 " (the lease, if any, will remove the instance)", a->server_text);
		a->want = WANT_NOTHING;
		on_gone(a);
		return;
	}
	uv_timer_start(&a->retry_timer, on_send_timer, a->stopping ? 500 : ms, 0);
	log_debug("agent", "retry in %llu ms", (unsigned long long)ms);
}

/* Asks for our own A/AAAA record once, to learn the TTL a drain must wait. */
static void ask_ttl(struct agent *a)
{
	char name[330];
	ldns_pkt *q = NULL;
	uint8_t *wire = NULL;
	size_t n = 0;

	snprintf(name, sizeof(name), "%s.%s.", a->o->id, a->o->service);
	a->ttl_query_id = (uint16_t)wrand_next(&a->rng);
	if (ldns_pkt_query_new_frm_str(&q, name, a->family == AF_INET ? LDNS_RR_TYPE_A
				       : LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 0) == LDNS_STATUS_OK) {
		ldns_pkt_set_id(q, a->ttl_query_id);
		if (ldns_pkt2wire(&wire, q, &n) == LDNS_STATUS_OK) {
			uv_buf_t b = uv_buf_init((char *)wire, (unsigned)n);

			if (uv_udp_try_send(&a->udp, &b, 1, NULL) < 0)
				log_debug("agent", "cannot ask for the TTL");
		}
	}
	free(wire);
	ldns_pkt_free(q);
}

static void on_ttl_answer(struct agent *a, const uint8_t *wire, size_t len)
{
	ldns_pkt *p = NULL;

	if (ldns_wire2pkt(&p, wire, len) == LDNS_STATUS_OK && ldns_pkt_ancount(p) > 0)
		a->ttl = ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0));
	ldns_pkt_free(p);
}

static void on_accepted(struct agent *a, const struct reg_answer *ans)
{
	uint32_t lease = ans->has_lease ? ans->lease : a->o->lease;

	if (a->want == WANT_GONE) {
		log_info("agent", "deregistered %s.%s", a->o->id, a->o->service);
		a->health_sent = NULL;
		a->want = WANT_NOTHING;
		on_gone(a);
		return;
	}
	if (a->health_sent != a->health_now)
		log_info("agent", "registered %s.%s port=%u health=%s lease=%u server=%s",
			 a->o->id, a->o->service, a->o->port, a->health_now, lease, a->server_text);
	if (!a->health_sent && !a->ttl)
		ask_ttl(a);
	a->health_sent = a->health_now;
	/* RFC 9664: renew well before the end (75-80%), jittered so agents spread. */
	if (lease)
		uv_timer_start(&a->renew_timer, on_send_timer,
			       (uint64_t)lease * 1000 * 75 / 100 +
			       wrand_below(&a->rng, (uint64_t)lease * 1000 * 5 / 100 + 1), 0);
}

static void on_answer(struct agent *a, const uint8_t *wire, size_t len)
{
	struct reg_answer ans;

	if (len >= 2 && a->ttl_query_id && (wire[0] << 8 | wire[1]) == a->ttl_query_id) {
		on_ttl_answer(a, wire, len);
		return;
	}
	if (!a->in_flight || reg_check(&a->req, wire, len, &a->key, &ans) < 0)
		return;
	uv_timer_stop(&a->answer_timer);
	a->in_flight = 0;
	if (a->unreachable) {
		log_info("agent", "server %s answers again", a->server_text);
		a->unreachable = 0;
	}
	if (ans.outcome == REG_RETRY) {
		log_warn("agent", "server %s: %s; retrying", a->server_text, ans.why);
		schedule_retry(a);
		return;
	}
	if (ans.outcome == REG_FATAL) {
		log_err("agent", "server %s refused %s.%s: %s", a->server_text, a->o->id,
			a->o->service, ans.why);
		if (a->stopping) {
			a->want = WANT_NOTHING;
			on_gone(a);
		} else {
			finish(a, 1);
		}
		return;
	}
	a->attempts = 0;
	on_accepted(a, &ans);
	if (a->dirty)
		send_now(a);
}

static void on_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;

	a->in_flight = 0;
	if (!a->unreachable)
		log_warn("agent", "server %s does not answer; retrying with backoff", a->server_text);
	a->unreachable = 1;
	schedule_retry(a);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *from, unsigned flags)
{
	struct agent *a = h->data;

	(void)from;
	if (nread > 0 && !(flags & UV_UDP_PARTIAL))
		on_answer(a, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct agent *a = h->data;

	(void)hint;
	buf->base = (char *)a->rbuf;
	buf->len = sizeof(a->rbuf);
}

/* Sends what the current state wants, unless a send is already waiting. */
static void send_now(struct agent *a)
{
	int dereg = a->want == WANT_GONE;
	uv_buf_t b;
	int rc;

	if (a->closing || a->want == WANT_NOTHING)
		return;
	if (a->in_flight) {
		a->dirty = 1;
		return;
	}
	a->dirty = 0;
	uv_timer_stop(&a->retry_timer);
	if (!dereg)
		uv_timer_stop(&a->renew_timer);
	if (reg_build(&a->req, a->o, a->family, a->addr, a->health_now, dereg, &a->key,
		      (uint64_t)time(NULL), (uint16_t)wrand_next(&a->rng)) < 0) {
		log_err("agent", "cannot build or sign the UPDATE (is the key's secret base64?)");
		finish(a, 1);
		return;
	}
	b = uv_buf_init((char *)a->req.wire, (unsigned)a->req.len);
	rc = uv_udp_try_send(&a->udp, &b, 1, NULL);
	a->in_flight = 1;
	if (rc < 0)
		log_debug("agent", "send failed: %s", uv_strerror(rc));
	uv_timer_start(&a->answer_timer, on_timeout, a->stopping ? 1000 : ANSWER_TIMEOUT_MS, 0);
}

/* ---- health ---- */

static void on_health(void *arg, void *cookie, int healthy)
{
	struct agent *a = arg;

	(void)cookie;
	if (a->stopping)
		return;
	a->health_now = healthy ? "healthy" : "unhealthy";
	if (a->want == WANT_NOTHING) {
		/* The first result. In wrap mode the task is registered at its
		 * first passing check; beside a task, the first result is
		 * registered as it is. From then on the thresholds apply. */
		if (!healthy && a->o->cmd)
			return;
		a->want = WANT_REGISTERED;
		health_clear(a->health);
		if (health_add(a->health, (struct sockaddr *)&a->o->check_addr, &a->o->hc, NULL,
			       healthy) < 0)
			log_err("agent", "cannot restart the health check");
	}
	log_info("agent", "health check: %s", a->health_now);
	send_now(a);
}

/* ---- stopping ---- */

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void close_all(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, close_cb);
}

/* Ends the agent with status: stops the task first (its exit calls us
 * again), then closes every handle so uv_run returns. */
static void finish(struct agent *a, int status)
{
	if (!a->closing) {
		a->closing = 1;
		a->exit_status = status;
	}
	if (a->child_running) {
		log_warn("agent", "stopping the task (pid %d) with SIGTERM", a->child.pid);
		uv_process_kill(&a->child, SIGTERM);
		return;
	}
	if (a->health)
		health_close(a->health);
	a->health = NULL;
	uv_walk(a->loop, close_all, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (a->stopping) {
		/* A second signal while draining: pass it on at once. */
		if (a->child_running)
			uv_process_kill(&a->child, signum);
		else
			finish(a, a->o->cmd ? a->exit_status : 0);
		return;
	}
	if (signum == SIGHUP && !a->o->cmd) {
		log_info("agent", "SIGHUP: registering again");
		a->attempts = 0;
		send_now(a);
		return;
	}
	log_info("agent", "%s: deregistering", strsignal(signum));
	a->stopping = 1;
	a->stop_signal = signum;
	uv_timer_stop(&a->renew_timer);
	if (a->want == WANT_NOTHING && !a->health_sent && !a->in_flight) {
		on_gone(a); /* never registered */
		return;
	}
	a->want = WANT_GONE;
	a->attempts = 0;
	send_now(a);
}

/* ---- start ---- */

/* --address auto: the local address of the route to the server, which the
 * connected UDP socket already knows. */
static int pick_address(struct agent *a)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;

	if (strcmp(a->o->address, "auto"))
		return addr_parse_ip(a->o->address, &a->family, a->addr);
	if ((rc = uv_udp_getsockname(&a->udp, (struct sockaddr *)&ss, &len)) < 0)
		return rc;
	a->family = ss.ss_family;
	if (ss.ss_family == AF_INET)
		memcpy(a->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(a->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	return 0;
}

static int open_socket(struct agent *a, char *err, size_t errlen)
{
	int rc;

	if ((rc = uv_udp_init(a->loop, &a->udp)) < 0 ||
	    (rc = uv_udp_connect(&a->udp, (struct sockaddr *)&a->server)) < 0 ||
	    (rc = uv_udp_recv_start(&a->udp, on_alloc, on_recv)) < 0) {
		snprintf(err, errlen, "cannot open a socket to %s: %s", a->server_text, uv_strerror(rc));
		return rc;
	}
	if ((rc = pick_address(a)) < 0) {
		snprintf(err, errlen, "cannot tell the local address toward %s", a->server_text);
		return rc;
	}
	return 0;
}

static int init_handles(struct agent *a)
{
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	uv_timer_t *timers[4] = { &a->answer_timer, &a->retry_timer, &a->renew_timer, &a->drain_timer };
	int rc;

	a->udp.data = a;
	for (int i = 0; i < 4; i++) {
		if ((rc = uv_timer_init(a->loop, timers[i])) < 0)
			return rc;
		timers[i]->data = a;
	}
	for (int i = 0; i < 3; i++) {
		if ((rc = uv_signal_init(a->loop, &a->sig[i])) < 0 ||
		    (rc = uv_signal_start(&a->sig[i], on_signal, sigs[i])) < 0)
			return rc;
		a->sig[i].data = a;
	}
	return 0;
}

static int setup(struct agent *a, char *err, size_t errlen)
{
	struct agent_opts *o = a->o;
	int rc;

	if ((rc = keyfile_load(&a->key, o->key_file, err, errlen)) < 0)
		return rc;
	if ((rc = resolve_server(o->server, o->server_port, 5000, &a->server, err, errlen)) < 0)
		return rc;
	addr_format((struct sockaddr *)&a->server, a->server_text);
	if ((rc = init_handles(a)) < 0) {
		snprintf(err, errlen, "cannot set up the event loop: %s", uv_strerror(rc));
		return rc;
	}
	if ((rc = open_socket(a, err, errlen)) < 0)
		return rc;
	if (o->hc.protocol != HC_NONE) {
		struct cfg_health_check first = o->hc;

		first.healthy_threshold = 1; /* until registered: up at the first pass */
		if ((rc = health_new(&a->health, a->loop, on_health, a)) < 0 ||
		    (rc = health_add(a->health, (struct sockaddr *)&o->check_addr, &first, NULL, -1)) < 0) {
			snprintf(err, errlen, "cannot start the health check: %s", uv_strerror(rc));
			return rc;
		}
	}
	if (o->cmd && (rc = spawn_task(a)) < 0) {
		snprintf(err, errlen, "cannot start the task %s: %s", o->cmd[0], uv_strerror(rc));
		return rc;
	}
	return 0;
}

int agent_run(struct agent_opts *o)
{
	static struct agent a;
	char err[512] = "", ip[64];
	int rc;

	memset(&a, 0, sizeof(a));
	a.o = o;
	a.loop = uv_default_loop();
	a.health_now = "healthy";
	wrand_seed_auto(&a.rng);
	signal(SIGPIPE, SIG_IGN);
	if (setup(&a, err, sizeof(err)) < 0) {
		log_err("agent", "%s", err);
		a.exit_status = a.child_running ? 1 : 2;
		finish(&a, a.exit_status);
		uv_run(a.loop, UV_RUN_DEFAULT);
		uv_loop_close(a.loop);
		return a.exit_status;
	}
	inet_ntop(a.family, a.addr, ip, sizeof(ip));
	log_info("agent", "starting id=%s service=%s address=%s port=%u server=%s check=%s mode=%s",
		 o->id, o->service, ip, o->port, a.server_text,
		 o->hc.protocol == HC_HTTP ? "http" : o->hc.protocol == HC_TCP ? "tcp" : "none",
		 o->cmd ? "wrap" : "sidecar");
	if (o->hc.protocol == HC_NONE) {
		a.want = WANT_REGISTERED;
		send_now(&a);
	}
	rc = uv_run(a.loop, UV_RUN_DEFAULT);
	(void)rc;
	uv_loop_close(a.loop);
	log_info("agent", "exiting status=%d", a.exit_status);
	return a.exit_status;
}
