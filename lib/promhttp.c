/* promhttp.c - the /metrics HTTP listener (see promhttp.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>
#include "addr.h"
#include "promhttp.h"

#define RENDER_WAIT_S 5            /* a loop busy this long gets a 503 */

struct promhttp {
	uv_async_t wake;
	struct MHD_Daemon *mhd;
	promhttp_render_cb cb;
	void *arg;
	char addr[ADDR_TEXT_MAX];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu: */
	uint64_t asked, answered;      /* scrape sequence numbers */
	char *out;                     /* the text rendered for `answered` */
	size_t outlen;
	int stopping;
};

/* Loop thread: render what the HTTP thread asked for. */
static void on_wake(uv_async_t *h)
{
	struct promhttp *m = h->data;
	struct expo e;
	uint64_t seq;

	if (pthread_mutex_lock(&m->mu))
		return;
	seq = m->asked;
	if (seq == m->answered || m->stopping) {
		pthread_mutex_unlock(&m->mu);
		return;
	}
	pthread_mutex_unlock(&m->mu);
	expo_init(&e);
	m->cb(m->arg, &e);
	if (e.err)
		expo_free(&e);
	if (pthread_mutex_lock(&m->mu)) {
		expo_free(&e);
		return;
	}
	free(m->out);
	m->out = e.buf;            /* NULL when the render failed: 500 */
	m->outlen = e.len;
	m->answered = seq;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

/* HTTP thread: ask the loop for a render and wait for it. Returns the text
 * (the caller frees it) or NULL with *status set. */
static char *scrape(struct promhttp *m, size_t *len, unsigned *status)
{
	struct timespec until;
	char *text = NULL;
	uint64_t seq;
	int rc = 0;

	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	if (clock_gettime(CLOCK_REALTIME, &until) < 0 || pthread_mutex_lock(&m->mu))
		return NULL;
	until.tv_sec += RENDER_WAIT_S;
	seq = ++m->asked;
	if (uv_async_send(&m->wake) < 0) {
		pthread_mutex_unlock(&m->mu);
		return NULL;
	}
	while (!m->stopping && m->answered < seq && rc == 0)
		rc = pthread_cond_timedwait(&m->cv, &m->mu, &until);
	if (!m->stopping && m->answered >= seq) {
		text = m->out;
		*len = m->outlen;
		m->out = NULL;
		*status = text ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	pthread_mutex_unlock(&m->mu);
	return text;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
			     const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (body)
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (type && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_NO) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct promhttp *m = cls;
	unsigned status;
	size_t len = 0;
	char *text;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, 0, NULL);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, NULL, 0, NULL);
	text = scrape(m, &len, &status);
	return reply(c, status, text, len, text ? "text/plain; version=0.0.4; charset=utf-8" : NULL);
}

static void wake_closed(uv_handle_t *h)
{
	struct promhttp *m = h->data;

	free(m->out);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int promhttp_new(struct promhttp **out, uv_loop_t *loop, const struct sockaddr_storage *addr,
		 promhttp_render_cb cb, void *arg, char *errbuf, size_t errlen)
{
	struct promhttp *m = calloc(1, sizeof(*m));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	char want[ADDR_TEXT_MAX];
	int rc;

	*out = NULL;
	addr_format((const struct sockaddr *)addr, want);
	if (!m) {
		snprintf(errbuf, errlen, "metrics: out of memory");
		return -ENOMEM;
	}
	m->cb = cb;
	m->arg = arg;
	if (pthread_mutex_init(&m->mu, NULL)) {
		free(m);
		snprintf(errbuf, errlen, "metrics: cannot create a mutex");
		return -ENOMEM;
	}
	if (pthread_cond_init(&m->cv, NULL)) {
		pthread_mutex_destroy(&m->mu);
		free(m);
		snprintf(errbuf, errlen, "metrics: cannot create a condition variable");
		return -ENOMEM;
	}
	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
				  MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_END);
	if (!m->mhd) {
		snprintf(errbuf, errlen, "metrics: cannot listen on %s (is the port in use, or"
			 " below 1024 without the privilege?)", want);
		rc = -EADDRINUSE;
		goto fail;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_LISTEN_FD);
	if (!info || getsockname(info->listen_fd, (struct sockaddr *)&bound, &blen) < 0) {
		snprintf(errbuf, errlen, "metrics: cannot read the address bound for %s", want);
		rc = -EINVAL;
		goto fail_mhd;
	}
	addr_format((const struct sockaddr *)&bound, m->addr);
	m->wake.data = m;
	if ((rc = uv_async_init(loop, &m->wake, on_wake)) < 0) {
		snprintf(errbuf, errlen, "metrics: %s", uv_strerror(rc));
		goto fail_mhd;
	}
	*out = m;
	return 0;
fail_mhd:
	MHD_stop_daemon(m->mhd);
fail:
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
	return rc;
}

const char *promhttp_address(const struct promhttp *m)
{
	return m->addr;
}

void promhttp_close(struct promhttp *m)
{
	if (pthread_mutex_lock(&m->mu) == 0) {
		m->stopping = 1;
		pthread_cond_broadcast(&m->cv);
		pthread_mutex_unlock(&m->mu);
	}
	MHD_stop_daemon(m->mhd);   /* joins the HTTP thread */
	m->mhd = NULL;
	uv_close((uv_handle_t *)&m->wake, wake_closed);
}
