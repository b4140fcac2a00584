/* health.c - active TCP and HTTP health checks on the libuv loop (see health.h).
 *
 * Each target owns three handles: an interval timer (tick), a timeout timer
 * (deadline) and, while a check runs, a TCP handle. Everything a check needs
 * (request text, response buffer, connect and write requests) lives in the
 * target, allocated once in health_add, so a check allocates nothing. At most
 * one check per target is in flight: a check ends when its TCP handle's close
 * callback has run, and a tick that finds a check still running is skipped.
 *
 * libuv closes handles asynchronously and a closed TCP handle still delivers
 * its pending connect and write callbacks (with UV_ECANCELED), so a target is
 * never freed directly: health_clear marks it dead and closes its handles,
 * and the last close callback frees it. A finished check sets `done`, which
 * makes every late callback of that check a no-op. health_close frees the
 * health itself when its last target has been freed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "err.h"
#include "health.h"
#include "log.h"
#include "wrand.h"

#define HC_REQ_MAX 512    /* "GET " + path (< 256) + headers */
#define HC_RESP_MAX 512   /* the status line must fit in this */

struct target {
	struct target *next;
	struct health *h;
	struct sockaddr_storage addr;
	char text[ADDR_TEXT_MAX];      /* addr, for logs and the Host header */
	struct cfg_health_check hc;
	void *cookie;
	int healthy;
	unsigned successes, failures;  /* consecutive */
	int dead;                      /* cleared: no more checks, no callback */
	int handles;                   /* open handles; freed when 0 and dead */
	int in_flight;                 /* the TCP handle is open */
	int done;                      /* this check's outcome is recorded */
	uv_timer_t tick, deadline;
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	char req[HC_REQ_MAX];
	size_t req_len;
	char resp[HC_RESP_MAX];
	size_t resp_len;
	char reason[64];
};

struct health {
	uv_loop_t *loop;
	health_cb cb;
	void *arg;
	struct wrand_rng rng;
	struct target *targets;        /* live targets only */
	size_t count;                  /* live targets */
	size_t allocated;              /* live and dead targets not yet freed */
	int closing;                   /* health_close: free h when allocated is 0 */
};

int health_new(struct health **out, uv_loop_t *loop, health_cb cb, void *arg)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->cb = cb;
	h->arg = arg;
	wrand_seed_auto(&h->rng);
	*out = h;
	return 0;
}

static void target_free(struct target *t)
{
	struct health *h = t->h;

	free(t);
	h->allocated--;
	if (h->closing && h->allocated == 0)
		free(h);
}

static void target_release(struct target *t)
{
	if (--t->handles == 0 && t->dead)
		target_free(t);
}

static void on_timer_close(uv_handle_t *handle)
{
	target_release(handle->data);
}

static void on_tcp_close(uv_handle_t *handle)
{
	struct target *t = handle->data;

	t->in_flight = 0;
	target_release(t);
}

static void close_handle(uv_handle_t *handle, uv_close_cb cb)
{
	if (!uv_is_closing(handle))
		uv_close(handle, cb);
}

/* Counts one outcome and reports a transition. The callback may clear or
 * close h; nothing here touches the target after it, and the target itself
 * stays allocated until its close callbacks run. */
static void record(struct target *t, int ok)
{
	struct health *h = t->h;
	unsigned need;

	if (t->dead)
		return;
	if (t->healthy < 0) {
		/* Unknown start: the first outcome is the state, reported at once. */
		t->healthy = ok;
		t->successes = ok ? 1 : 0;
		t->failures = ok ? 0 : 1;
		log_info("health", "target %s first check %s%s%s", t->text, ok ? "passed" : "failed",
			 ok ? "" : ": ", ok ? "" : t->reason);
		h->cb(h->arg, t->cookie, t->healthy);
		return;
	}
	if (ok) {
		t->failures = 0;
		t->successes++;
		need = t->hc.healthy_threshold ? t->hc.healthy_threshold : 1;
		if (t->healthy || t->successes < need)
			return;
		t->healthy = 1;
		log_info("health", "target %s now healthy after %u successes",
			 t->text, t->successes);
	} else {
		t->successes = 0;
		t->failures++;
		need = t->hc.unhealthy_threshold ? t->hc.unhealthy_threshold : 1;
		if (!t->healthy || t->failures < need)
			return;
		t->healthy = 0;
		log_info("health", "target %s now unhealthy after %u failures (%s)",
			 t->text, t->failures, t->reason);
	}
	h->cb(h->arg, t->cookie, t->healthy);
}

/* Ends the running check: stops its timeout, closes its connection (the
 * check stays in flight until the close callback) and counts the outcome. */
static void finish(struct target *t, int ok, const char *reason)
{
	int rc;

	if (t->done)
		return;
	t->done = 1;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	rc = uv_timer_stop(&t->deadline);
	if (rc < 0)
		log_warn("health", "cannot stop timer of %s: %s", t->text, uv_strerror(rc));
	close_handle((uv_handle_t *)&t->tcp, on_tcp_close);
	record(t, ok);
}

static void finish_uv(struct target *t, int status)
{
	finish(t, 0, status == UV_EOF ? "connection closed" : uv_strerror(status));
}

static void on_timeout(uv_timer_t *timer)
{
	finish(timer->data, 0, "timeout");
}

/* "HTTP/1.x NNN" followed by a space or the end of the line; the first
 * digit is the status class (RFC 9110 15), so 000-099 is no status. */
static int parse_status(const char *line, size_t len)
{
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    line[7] < '0' || line[7] > '9' || line[8] != ' ' || line[9] == '0')
		return -1;
	for (size_t i = 9; i < 12; i++)
		if (line[i] < '0' || line[i] > '9')
			return -1;
	if (len > 12 && line[12] != ' ')
		return -1;
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

static const char *find_crlf(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (s[i] == '\r' && s[i + 1] == '\n')
			return s + i;
	return NULL;
}

int health_http_status(const char *resp, size_t len, int *status)
{
	const char *eol = find_crlf(resp, len);
	int st;

	if (!eol)
		return -EAGAIN;
	st = parse_status(resp, (size_t)(eol - resp));
	if (st < 0)
		return ERR_MALFORMED;
	*status = st;
	return 0;
}

static void check_status_line(struct target *t)
{
	char reason[32];
	int status, rc;

	rc = health_http_status(t->resp, t->resp_len, &status);
	if (rc == -EAGAIN) {
		if (t->resp_len == sizeof(t->resp))
			finish(t, 0, "status line too long");
		return;
	}
	if (rc < 0) {
		finish(t, 0, "malformed HTTP status line");
		return;
	}
	snprintf(reason, sizeof(reason), "HTTP status %d", status);
	finish(t, status >= 200 && status <= 299, reason);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct target *t = handle->data;

	/* finish() runs when resp is full, so there is always room here. */
	*buf = uv_buf_init(t->resp + t->resp_len,
			   (unsigned)(sizeof(t->resp) - t->resp_len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct target *t = stream->data;

	if (t->done || nread == 0)
		return;
	if (nread < 0) {
		finish_uv(t, (int)nread);
		return;
	}
	t->resp_len += (size_t)nread;
	check_status_line(t);
}

static void on_write(uv_write_t *req, int status)
{
	struct target *t = req->data;

	if (status < 0 && !t->done)
		finish_uv(t, status);
}

static void send_request(struct target *t)
{
	uv_buf_t buf = uv_buf_init(t->req, (unsigned)t->req_len);
	int rc;

	t->write.data = t;
	rc = uv_write(&t->write, (uv_stream_t *)&t->tcp, &buf, 1, on_write);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read);
	if (rc < 0)
		finish_uv(t, rc);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct target *t = req->data;

	if (t->done)
		return;
	if (status < 0)
		finish_uv(t, status);
	else if (t->hc.protocol == HC_HTTP)
		send_request(t);
	else
		finish(t, 1, "connected");
}

static void start_check(struct target *t)
{
	int rc;

	t->done = 0;
	t->resp_len = 0;
	rc = uv_tcp_init(t->h->loop, &t->tcp);
	if (rc < 0) {
		/* No handle to close: the check ends here. */
		t->done = 1;
		snprintf(t->reason, sizeof(t->reason), "%s", uv_strerror(rc));
		record(t, 0);
		return;
	}
	t->tcp.data = t;
	t->handles++;
	t->in_flight = 1;
	rc = uv_timer_start(&t->deadline, on_timeout, t->hc.timeout_ms, 0);
	if (rc < 0) {
		finish_uv(t, rc);
		return;
	}
	t->connect.data = t;
	rc = uv_tcp_connect(&t->connect, &t->tcp, (const struct sockaddr *)&t->addr,
			    on_connect);
	if (rc < 0)
		finish_uv(t, rc);
}

static void on_tick(uv_timer_t *timer)
{
	struct target *t = timer->data;

	if (t->dead)
		return;
	if (t->in_flight) {
		log_debug("health", "check of %s still running, tick skipped", t->text);
		return;
	}
	start_check(t);
}

static int target_init(struct target *t, const struct sockaddr *addr,
		       const struct cfg_health_check *hc)
{
	int n;

	if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if ((hc->protocol != HC_TCP && hc->protocol != HC_HTTP) ||
	    hc->interval_ms == 0 || hc->timeout_ms == 0)
		return -EINVAL;
	memcpy(&t->addr, addr, addr_len(addr));
	t->hc = *hc;
	t->hc.path[sizeof(t->hc.path) - 1] = '\0';
	addr_format(addr, t->text);
	n = snprintf(t->req, sizeof(t->req),
		     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: meshdns-health\r\n"
		     "Connection: close\r\n\r\n",
		     t->hc.path[0] ? t->hc.path : "/", t->text);
	if (n < 0 || (size_t)n >= sizeof(t->req))
		return -ENAMETOOLONG;
	t->req_len = (size_t)n;
	return 0;
}

static int target_start(struct health *h, struct target *t)
{
	int rc;

	rc = uv_timer_init(h->loop, &t->tick);
	if (rc < 0)
		return rc;
	t->tick.data = t;
	t->handles++;
	rc = uv_timer_init(h->loop, &t->deadline);
	if (rc < 0)
		return rc;
	t->deadline.data = t;
	t->handles++;
	/* An unknown state is worth learning now; known ones spread out. */
	return uv_timer_start(&t->tick, on_tick,
			      t->healthy < 0 ? 0 : wrand_below(&h->rng, t->hc.interval_ms),
			      t->hc.interval_ms);
}

/* Marks t dead and closes its handles; the last close callback frees it. */
static void target_stop(struct target *t)
{
	t->dead = 1;
	t->done = 1;
	if (t->handles == 0) {
		target_free(t);
		return;
	}
	/* data is set once a timer is initialised, so it says what to close. */
	if (t->tick.data)
		close_handle((uv_handle_t *)&t->tick, on_timer_close);
	if (t->deadline.data)
		close_handle((uv_handle_t *)&t->deadline, on_timer_close);
	if (t->in_flight)
		close_handle((uv_handle_t *)&t->tcp, on_tcp_close);
}

int health_add(struct health *h, const struct sockaddr *addr,
	       const struct cfg_health_check *hc, void *cookie, int initial_healthy)
{
	struct target *t;
	int rc;

	if (h->closing)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->h = h;
	t->cookie = cookie;
	t->healthy = initial_healthy < 0 ? -1 : initial_healthy ? 1 : 0;
	rc = target_init(t, addr, hc);
	if (rc < 0) {
		free(t);
		return rc;
	}
	h->allocated++;
	rc = target_start(h, t);
	if (rc < 0) {
		target_stop(t);
		return rc;
	}
	t->next = h->targets;
	h->targets = t;
	h->count++;
	return 0;
}

void health_clear(struct health *h)
{
	struct target *t = h->targets, *next;

	h->targets = NULL;
	h->count = 0;
	for (; t; t = next) {
		next = t->next;
		target_stop(t);
	}
}

void health_close(struct health *h)
{
	h->closing = 1;
	health_clear(h);
	if (h->allocated == 0)
		free(h);
}

size_t health_count(const struct health *h)
{
	return h->count;
}
