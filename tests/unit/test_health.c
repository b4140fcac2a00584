/* test_health.c - check suite for lib/health.h.
 *
 * The status-line parse (health_http_status) is tested on its own, on
 * buffers of exactly the input's length. The checks run on a real libuv
 * loop: each of their tests owns a loop, a tiny TCP/HTTP server on
 * 127.0.0.1 port 0 and a health instance. Waiting is always bounded: wait()
 * runs the loop until the health callback or the server stops it, or until
 * a guard timer does, so a broken implementation fails a test instead of
 * hanging it. Every test ends by closing everything and asserting that
 * uv_loop_close succeeds, which proves that no handle was left open;
 * ASan/LSan catch the rest. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "err.h"
#include "health.h"
#include "log.h"
#include "checkmain.h"

#define GUARD_MS 5000
#define SLACK_MS 150

/* ---- test server: accepts, and answers HTTP with the current status ---- */

enum srv_mode { SRV_TCP, SRV_HTTP, SRV_SILENT };

struct client {
	uv_tcp_t tcp;
	uv_write_t write;
	struct client *next, **prev;
	char buf[1024];
	size_t len;
	int answered;
};

struct server {
	uv_loop_t *loop;
	uv_tcp_t tcp;
	int listening;
	uint16_t port;
	enum srv_mode mode;
	const char *response;         /* SRV_HTTP: whole response */
	struct client *clients;
	unsigned accepted;
	int stop_on_accept;           /* uv_stop the loop on each accept */
};

static void client_closed(uv_handle_t *handle)
{
	struct client *c = handle->data;

	*c->prev = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static void client_close(struct client *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, client_closed);
}

static void client_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct client *c = handle->data;

	*buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len - 1));
}

static void client_written(uv_write_t *req, int status)
{
	client_close(req->data);
}

static void client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = stream->data;
	struct server *s = (struct server *)stream->loop->data;
	uv_buf_t out;

	if (nread < 0 || c->len + (size_t)nread >= sizeof(c->buf) - 1) {
		client_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->buf[c->len] = '\0';
	if (c->answered || s->mode != SRV_HTTP || !strstr(c->buf, "\r\n\r\n"))
		return;
	ck_assert_msg(strncmp(c->buf, "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1:", 39) == 0,
		      "bad request: %s", c->buf);
	ck_assert_ptr_nonnull(strstr(c->buf, "User-Agent: meshdns-health\r\n"));
	c->answered = 1;
	c->write.data = c;
	out = uv_buf_init((char *)s->response, (unsigned)strlen(s->response));
	if (uv_write(&c->write, stream, &out, 1, client_written) < 0)
		client_close(c);
}

static void server_accept(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	struct client *c;

	ck_assert_int_eq(status, 0);
	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(uv_tcp_init(s->loop, &c->tcp), 0);
	c->tcp.data = c;
	c->next = s->clients;
	c->prev = &s->clients;
	if (s->clients)
		s->clients->prev = &c->next;
	s->clients = c;
	ck_assert_int_eq(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
	s->accepted++;
	if (s->stop_on_accept)
		uv_stop(s->loop);
	if (s->mode == SRV_TCP)
		client_close(c);
	else
		ck_assert_int_eq(uv_read_start((uv_stream_t *)&c->tcp, client_alloc,
					       client_read), 0);
}

/* Listens on 127.0.0.1:port (0: any free port) and sets s->port. */
static void server_start(struct server *s, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	int len = sizeof(ss);

	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", port, &sin), 0);
	ck_assert_int_eq(uv_tcp_init(s->loop, &s->tcp), 0);
	s->tcp.data = s;
	ck_assert_int_eq(uv_tcp_bind(&s->tcp, (struct sockaddr *)&sin, 0), 0);
	ck_assert_int_eq(uv_listen((uv_stream_t *)&s->tcp, 16, server_accept), 0);
	ck_assert_int_eq(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len), 0);
	s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	s->listening = 1;
}

static void server_stop(struct server *s)
{
	if (s->listening)
		uv_close((uv_handle_t *)&s->tcp, NULL);
	s->listening = 0;
	for (struct client *c = s->clients; c; c = c->next)
		client_close(c);
}

/* ---- the loop, the health callback and bounded waiting ---- */

struct event {
	void *cookie;
	int healthy;
	uint64_t at_ms;
};

struct fixture {
	uv_loop_t loop;
	uv_timer_t guard;
	int timed_out;
	struct server srv;
	struct health *h;
	struct event ev[16];
	unsigned nev;
	int stop_on_event;
};

static void on_health(void *arg, void *cookie, int healthy)
{
	struct fixture *f = arg;

	ck_assert_uint_lt(f->nev, 16);
	f->ev[f->nev].cookie = cookie;
	f->ev[f->nev].healthy = healthy;
	f->ev[f->nev].at_ms = uv_hrtime() / 1000000;
	f->nev++;
	if (f->stop_on_event)
		uv_stop(&f->loop);
}

static void on_guard(uv_timer_t *timer)
{
	struct fixture *f = timer->data;

	f->timed_out = 1;
	uv_stop(&f->loop);
}

/* Runs the loop until something calls uv_stop or ms pass; returns 1 if the
 * bound was reached. */
static int wait_ms(struct fixture *f, uint64_t ms)
{
	f->timed_out = 0;
	ck_assert_int_eq(uv_timer_start(&f->guard, on_guard, ms, 0), 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_timer_stop(&f->guard), 0);
	return f->timed_out;
}

static void fixture_init(struct fixture *f, enum srv_mode mode)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	f->loop.data = &f->srv;
	ck_assert_int_eq(uv_timer_init(&f->loop, &f->guard), 0);
	f->guard.data = f;
	f->srv.loop = &f->loop;
	f->srv.mode = mode;
	f->srv.response = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
	f->stop_on_event = 1;
	ck_assert_int_eq(health_new(&f->h, &f->loop, on_health, f), 0);
}

/* Closes everything and checks that the loop ends with no handle left. */
static void fixture_close(struct fixture *f)
{
	if (f->h)
		health_close(f->h);
	f->h = NULL;
	server_stop(&f->srv);
	uv_close((uv_handle_t *)&f->guard, NULL);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static void add_target(struct fixture *f, enum hc_protocol proto, void *cookie,
		       int initial_healthy)
{
	struct cfg_health_check hc = {
		.protocol = proto,
		.path = "/healthz",
		.interval_ms = 100,
		.timeout_ms = 100,
		.healthy_threshold = 2,
		.unhealthy_threshold = 2,
	};
	struct sockaddr_in sin;

	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", f->srv.port, &sin), 0);
	ck_assert_int_eq(health_add(f->h, (struct sockaddr *)&sin, &hc, cookie,
				    initial_healthy), 0);
}

/* Waits for the next transition and checks it; returns how long it took. */
static uint64_t expect_event(struct fixture *f, void *cookie, int healthy)
{
	uint64_t start = uv_hrtime() / 1000000;
	unsigned before = f->nev;

	ck_assert_msg(!wait_ms(f, GUARD_MS), "no callback within %d ms", GUARD_MS);
	ck_assert_uint_eq(f->nev, before + 1);
	ck_assert_ptr_eq(f->ev[before].cookie, cookie);
	ck_assert_int_eq(f->ev[before].healthy, healthy);
	return f->ev[before].at_ms - start;
}

/* ---- tests ---- */

static int cookie_a, cookie_b;

/* interval * (threshold + 1) + slack: the bound on detecting a change. */
#define DETECT_MS (100 * (2 + 1) + SLACK_MS)

START_TEST(tcp_down_and_up)
{
	struct fixture f;
	uint16_t port;
	uint64_t took;

	fixture_init(&f, SRV_TCP);
	server_start(&f.srv, 0);
	port = f.srv.port;
	add_target(&f, HC_TCP, &cookie_a, 1);
	ck_assert_uint_eq(health_count(f.h), 1);
	ck_assert_msg(wait_ms(&f, 600), "callback while the server is up");
	ck_assert_uint_eq(f.nev, 0);
	ck_assert_uint_ge(f.srv.accepted, 3);

	server_stop(&f.srv);
	took = expect_event(&f, &cookie_a, 0);
	fprintf(stderr, "tcp: unhealthy after %llu ms (bound %d)\n",
		(unsigned long long)took, DETECT_MS);
	ck_assert_uint_lt(took, DETECT_MS);

	server_start(&f.srv, port);
	ck_assert_uint_eq(f.srv.port, port);
	took = expect_event(&f, &cookie_a, 1);
	fprintf(stderr, "tcp: healthy after %llu ms (bound %d)\n",
		(unsigned long long)took, DETECT_MS);
	ck_assert_uint_lt(took, DETECT_MS);
	fixture_close(&f);
}
END_TEST

START_TEST(http_status)
{
	static char junk[2000];
	struct fixture f;
	uint64_t took;

	fixture_init(&f, SRV_HTTP);
	server_start(&f.srv, 0);
	add_target(&f, HC_HTTP, &cookie_a, 1);
	ck_assert_msg(wait_ms(&f, 600), "callback while answering 200");
	ck_assert_uint_ge(f.srv.accepted, 3);

	f.srv.response = "HTTP/1.0 503 X\r\n\r\n";
	took = expect_event(&f, &cookie_a, 0);
	fprintf(stderr, "http: unhealthy after %llu ms\n", (unsigned long long)took);
	ck_assert_uint_lt(took, DETECT_MS);

	f.srv.response = "HTTP/1.1 204 No Content\r\n\r\n";
	took = expect_event(&f, &cookie_a, 1);
	fprintf(stderr, "http: healthy after %llu ms\n", (unsigned long long)took);
	ck_assert_uint_lt(took, DETECT_MS);

	/* A status line that is not HTTP counts as a failure. */
	f.srv.response = "SSH-2.0-OpenSSH\r\n";
	expect_event(&f, &cookie_a, 0);
	f.srv.response = "HTTP/1.0 200 OK\r\n\r\n";
	expect_event(&f, &cookie_a, 1);

	/* No "\r\n" within the bounded buffer, then an empty answer. */
	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	f.srv.response = junk;
	expect_event(&f, &cookie_a, 0);
	f.srv.response = "HTTP/1.0 200 OK\r\n\r\n";
	expect_event(&f, &cookie_a, 1);
	f.srv.response = "";
	expect_event(&f, &cookie_a, 0);
	fixture_close(&f);
}
END_TEST

START_TEST(http_timeout)
{
	struct fixture f;
	uint64_t took;

	/* A server that accepts and never answers: each check times out. */
	fixture_init(&f, SRV_SILENT);
	server_start(&f.srv, 0);
	add_target(&f, HC_HTTP, &cookie_a, 1);
	took = expect_event(&f, &cookie_a, 0);
	fprintf(stderr, "http silent: unhealthy after %llu ms\n", (unsigned long long)took);
	ck_assert_uint_lt(took, 100 * 3 + 100 + SLACK_MS);
	fixture_close(&f);
}
END_TEST

START_TEST(starts_unhealthy)
{
	struct fixture f;
	uint64_t took;

	fixture_init(&f, SRV_HTTP);
	server_start(&f.srv, 0);
	add_target(&f, HC_HTTP, &cookie_b, 0);
	took = expect_event(&f, &cookie_b, 1);
	fprintf(stderr, "initially unhealthy: healthy after %llu ms\n",
		(unsigned long long)took);
	ck_assert_uint_lt(took, DETECT_MS);
	/* Stays healthy: no further callback. */
	ck_assert(wait_ms(&f, 400));
	ck_assert_uint_eq(f.nev, 1);
	fixture_close(&f);
}
END_TEST

START_TEST(clear_in_flight)
{
	struct fixture f;

	/* A silent server holds each HTTP check open until its timeout, so
	 * when the server sees a connection, a check is in flight. */
	fixture_init(&f, SRV_SILENT);
	server_start(&f.srv, 0);
	f.srv.stop_on_accept = 1;
	add_target(&f, HC_HTTP, &cookie_a, 0);
	add_target(&f, HC_HTTP, &cookie_b, 1);
	ck_assert_uint_eq(health_count(f.h), 2);
	ck_assert_msg(!wait_ms(&f, GUARD_MS), "no check reached the server");
	health_clear(f.h);
	ck_assert_uint_eq(health_count(f.h), 0);
	f.srv.stop_on_accept = 0;
	ck_assert(wait_ms(&f, 400));
	ck_assert_uint_eq(f.nev, 0);

	/* The instance is usable after a clear; then close it mid-check. */
	f.srv.stop_on_accept = 1;
	add_target(&f, HC_HTTP, &cookie_a, 1);
	ck_assert_msg(!wait_ms(&f, GUARD_MS), "no check reached the server");
	fixture_close(&f);
	ck_assert_uint_eq(f.nev, 0);
}
END_TEST

static void clear_from_cb(void *arg, void *cookie, int healthy)
{
	struct fixture *f = arg;

	on_health(arg, cookie, healthy);
	health_clear(f->h);
}

START_TEST(clear_from_callback)
{
	struct fixture f;
	struct cfg_health_check hc = {
		.protocol = HC_TCP, .interval_ms = 100, .timeout_ms = 100,
		.healthy_threshold = 1, .unhealthy_threshold = 1,
	};
	struct sockaddr_in sin;

	fixture_init(&f, SRV_TCP);
	health_close(f.h);
	ck_assert_int_eq(health_new(&f.h, &f.loop, clear_from_cb, &f), 0);
	server_start(&f.srv, 0);
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", f.srv.port, &sin), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(health_add(f.h, (struct sockaddr *)&sin, &hc,
					    &cookie_a, 0), 0);
	f.stop_on_event = 0;
	ck_assert(wait_ms(&f, 400));
	/* The first transition clears every target: the others never report. */
	ck_assert_uint_eq(f.nev, 1);
	ck_assert_uint_eq(health_count(f.h), 0);
	fixture_close(&f);
}
END_TEST

START_TEST(bad_arguments)
{
	struct fixture f;
	struct cfg_health_check hc = {
		.protocol = HC_NONE, .interval_ms = 100, .timeout_ms = 100,
		.healthy_threshold = 1, .unhealthy_threshold = 1,
	};
	struct sockaddr_in sin;
	struct sockaddr sa = { .sa_family = AF_UNIX };

	fixture_init(&f, SRV_TCP);
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 1, &sin), 0);
	ck_assert_int_lt(health_add(f.h, (struct sockaddr *)&sin, &hc, NULL, 1), 0);
	hc.protocol = HC_TCP;
	ck_assert_int_lt(health_add(f.h, &sa, &hc, NULL, 1), 0);
	ck_assert_uint_eq(health_count(f.h), 0);
	/* Port 0 cannot be connected to: each check fails, synchronously or not. */
	ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	ck_assert_int_eq(health_add(f.h, (struct sockaddr *)&sin, &hc, &cookie_a, 1), 0);
	expect_event(&f, &cookie_a, 0);
	fixture_close(&f);
}
END_TEST

/* Runs health_http_status on a copy of text's first len bytes in a buffer of
 * exactly that size, so ASan sees a read past len. */
static int status_of(const char *text, size_t len, int *status)
{
	char *buf = malloc(len ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, text, len);
	*status = -1;
	rc = health_http_status(buf, len, status);
	free(buf);
	return rc;
}

static void status_ok(const char *text, int want)
{
	int status;

	ck_assert_msg(status_of(text, strlen(text), &status) == 0, "rejected: %s", text);
	ck_assert_int_eq(status, want);
}

static void status_bad(const char *text)
{
	int status;

	ck_assert_msg(status_of(text, strlen(text), &status) == ERR_MALFORMED,
		      "not malformed: %s", text);
	ck_assert_int_eq(status, -1);
}

static void status_more(const char *text)
{
	int status;

	ck_assert_msg(status_of(text, strlen(text), &status) == -EAGAIN,
		      "complete: %s", text);
	ck_assert_int_eq(status, -1);
}

START_TEST(http_status_line)
{
	int status;

	status_ok("HTTP/1.0 200 OK\r\n\r\n", 200);
	status_ok("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\nbody", 204);
	status_ok("HTTP/1.1 503\r\n", 503);          /* no reason phrase */
	status_ok("HTTP/1.0 100 \r\n", 100);
	status_ok("HTTP/1.9 999 x\r\n", 999);

	status_bad("SSH-2.0-OpenSSH\r\n");
	status_bad("\r\n");
	status_bad("HTTP/2 200\r\n");
	status_bad("http/1.1 200 OK\r\n");
	status_bad("HTTP/1.x 200 OK\r\n");
	status_bad("HTTP/1.1  200 OK\r\n");
	status_bad("HTTP/1.1 20 OK\r\n");
	status_bad("HTTP/1.1 2000 OK\r\n");
	status_bad("HTTP/1.1 200OK\r\n");
	status_bad("HTTP/1.1 2x0 OK\r\n");
	status_bad("HTTP/1.0 081 -\r\n");          /* no class: found by fuzz_http */
	status_bad("HTTP/1.0 000\r\n");
	status_bad("HTTP/1.1\r\n200 OK\r\n");

	/* No CRLF yet: read more, even if the line looks complete. */
	status_more("");
	status_more("HTTP/1.1 200 OK");
	status_more("HTTP/1.1 200 OK\r");
	status_more("HTTP/1.1 200 OK\n");
	/* The CRLF lies beyond len: it is not read. */
	ck_assert_int_eq(status_of("HTTP/1.1 200 OK\r\n", 16, &status), -EAGAIN);
	ck_assert_int_eq(status_of("HTTP/1.1 200 OK\r\n", 17, &status), 0);
	ck_assert_int_eq(status, 200);
}
END_TEST

static Suite *health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, http_status_line);
	tcase_add_test(tc, tcp_down_and_up);
	tcase_add_test(tc, http_status);
	tcase_add_test(tc, http_timeout);
	tcase_add_test(tc, starts_unhealthy);
	tcase_add_test(tc, clear_in_flight);
	tcase_add_test(tc, clear_from_callback);
	tcase_add_test(tc, bad_arguments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	log_set_level(LOG_INFO);

	return check_run(health_suite(), NULL);
}
