/* control.c - the control socket's transport and line protocol (control.h).
 *
 * Commands are few and small, so each reply is formatted whole into one
 * malloc'd buffer and written with one uv_write; the connection is not read
 * again until that write finished, so a client that never reads holds at most
 * one reply. This is far from the query path: allocating here is fine. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "control.h"
#include "log.h"

#define CONTROL_CONNS_MAX 16

struct conn {
	uv_pipe_t pipe;
	struct control *c;
	struct conn *next;
	uv_write_t wreq;
	char *wbuf;
	int writing;
	int reading;             /* uv_read_start is in effect */
	size_t len;
	char in[CONTROL_LINE_MAX];
};

struct control {
	uv_pipe_t listener;
	control_cmd_cb cb;
	void *arg;
	struct conn *conns;
	size_t nconns;
	int handles;             /* listener and connections not yet closed */
	int closing;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

void control_printf(struct control_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if (o->buf && o->len + (size_t)n < o->cap) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap : 4096;

		while (cap < o->len + (size_t)n + 64)
			cap *= 2;
		char *nb = realloc(o->buf, cap);

		if (!nb) {
			o->failed = 1;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
}

static void maybe_free(struct control *c)
{
	if (c->closing && c->handles == 0)
		free(c);
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *k = h->data;
	struct control *c = k->c;

	for (struct conn **p = &c->conns; *p; p = &(*p)->next)
		if (*p == k) {
			*p = k->next;
			break;
		}
	c->nconns--;
	c->handles--;
	free(k->wbuf);
	free(k);
	maybe_free(c);
}

static void conn_close(struct conn *k)
{
	if (!uv_is_closing((uv_handle_t *)&k->pipe))
		uv_close((uv_handle_t *)&k->pipe, conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *k = h->data;

	(void)suggested;
	buf->base = k->in + k->len;
	buf->len = sizeof(k->in) - k->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void process(struct conn *k);

static void on_written(uv_write_t *w, int status)
{
	struct conn *k = w->data;

	free(k->wbuf);
	k->wbuf = NULL;
	k->writing = 0;
	if (status < 0 || k->c->closing) {
		conn_close(k);
		return;
	}
	process(k);
}

/* Splits line into words on blanks; returns the count. */
static int split(char *line, char **argv)
{
	int argc = 0;

	for (char *p = strtok(line, " \t\r"); p; p = strtok(NULL, " \t\r")) {
		if (argc == CONTROL_ARGS_MAX)
			return -1;
		argv[argc++] = p;
	}
	return argc;
}

static void reply(struct conn *k, char *line)
{
	struct control_out o = { 0 };
	char err[512] = "", *argv[CONTROL_ARGS_MAX];
	int argc = split(line, argv), rc;
	uv_buf_t b;

	if (argc < 0) {
		snprintf(err, sizeof(err), "too many arguments (at most %d words)", CONTROL_ARGS_MAX);
		rc = -1;
	} else if (argc == 0) {
		snprintf(err, sizeof(err), "empty command; try \"help\"");
		rc = -1;
	} else {
		rc = k->c->cb(k->c->arg, argc, argv, &o, err, sizeof(err));
	}
	if (o.failed) {
		snprintf(err, sizeof(err), "out of memory formatting the reply");
		rc = -1;
		o.len = 0;
		o.failed = 0;
	}
	if (rc < 0)
		control_printf(&o, "error: %s\n", err[0] ? err : "command failed");
	else
		control_printf(&o, "ok\n");
	if (o.failed) {
		free(o.buf);
		conn_close(k);
		return;
	}
	k->wbuf = o.buf;
	k->writing = 1;
	k->wreq.data = k;
	b = uv_buf_init(o.buf, (unsigned)o.len);
	if (uv_write(&k->wreq, (uv_stream_t *)&k->pipe, &b, 1, on_written) < 0) {
		free(k->wbuf);
		k->wbuf = NULL;
		k->writing = 0;
		conn_close(k);
	}
}

/* Answers the first complete line in the buffer, if any; reading is off
 * while a reply is being written. */
static void process(struct conn *k)
{
	char *nl = memchr(k->in, '\n', k->len);

	if (!nl) {
		if (k->len == sizeof(k->in)) {
			log_warn("control", "request longer than %d bytes: connection closed",
				 CONTROL_LINE_MAX);
			conn_close(k);
			return;
		}
		if (!k->reading && uv_read_start((uv_stream_t *)&k->pipe, on_alloc, on_read) < 0) {
			conn_close(k);
			return;
		}
		k->reading = 1;
		return;
	}
	char line[CONTROL_LINE_MAX];
	size_t l = (size_t)(nl - k->in);

	memcpy(line, k->in, l);
	line[l] = 0;
	k->len -= l + 1;
	memmove(k->in, nl + 1, k->len);
	uv_read_stop((uv_stream_t *)&k->pipe);
	k->reading = 0;
	reply(k, line);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *k = s->data;

	(void)buf;
	if (n < 0) {
		conn_close(k);
		return;
	}
	k->len += (size_t)n;
	if (!k->writing)
		process(k);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct control *c = server->data;
	struct conn *k;

	if (status < 0) {
		log_warn("control", "accept failed: %s", uv_strerror(status));
		return;
	}
	k = calloc(1, sizeof(*k));
	if (!k || uv_pipe_init(server->loop, &k->pipe, 0) < 0) {
		free(k);
		log_warn("control", "cannot accept a connection: out of memory");
		return;
	}
	k->c = c;
	k->pipe.data = k;
	k->next = c->conns;
	c->conns = k;
	c->nconns++;
	c->handles++;
	if (uv_accept(server, (uv_stream_t *)&k->pipe) < 0 || c->nconns > CONTROL_CONNS_MAX) {
		if (c->nconns > CONTROL_CONNS_MAX)
			log_warn("control", "more than %d control connections: new one closed",
				 CONTROL_CONNS_MAX);
		conn_close(k);
		return;
	}
	if (uv_read_start((uv_stream_t *)&k->pipe, on_alloc, on_read) < 0)
		conn_close(k);
	else
		k->reading = 1;
}

/* 0 when nothing is at path (any more), 1 when a live server accepts there,
 * else -errno (e.g. it is not a socket). A socket no one accepts on is stale
 * (the meshdns that made it is gone) and is removed. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0)
		return 1;
	if (errno != ECONNREFUSED)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	log_info("control", "removed a stale control socket path=%s", path);
	return 0;
}

static void listener_closed(uv_handle_t *h)
{
	struct control *c = h->data;

	c->handles--;
	maybe_free(c);
}

int control_open(struct control **out, uv_loop_t *loop, const char *path, control_cmd_cb cb,
		 void *arg, char *errbuf, size_t errlen)
{
	struct control *c;
	mode_t old;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(c->path)) {
		snprintf(errbuf, errlen, "control_socket %s: path longer than %zu bytes; choose a "
			 "shorter one", path, sizeof(c->path) - 1);
		return -ENAMETOOLONG;
	}
	rc = clear_stale(path);
	if (rc == 1) {
		snprintf(errbuf, errlen, "control_socket %s: another meshdns is running and holds "
			 "it; stop it, or give this one another control_socket (or state_dir)", path);
		return -EADDRINUSE;
	}
	if (rc < 0) {
		snprintf(errbuf, errlen, "control_socket %s: %s", path,
			 rc == -EEXIST ? "exists and is not a socket; remove it or choose another path"
				       : strerror(-rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(errbuf, errlen, "control_socket %s: out of memory", path);
		return -ENOMEM;
	}
	memcpy(c->path, path, strlen(path) + 1);
	c->cb = cb;
	c->arg = arg;
	c->listener.data = c;
	if ((rc = uv_pipe_init(loop, &c->listener, 0)) < 0) {
		free(c);
		snprintf(errbuf, errlen, "control_socket %s: %s", path, uv_strerror(rc));
		return rc;
	}
	c->handles = 1;
	/* Created 0600 from the start, not chmod'ed after: no window in which
	 * another user could connect. */
	old = umask(0177);
	rc = uv_pipe_bind(&c->listener, path);
	umask(old);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&c->listener, 8, on_connection);
	if (rc < 0) {
		snprintf(errbuf, errlen, "control_socket %s: cannot listen: %s%s", path,
			 uv_strerror(rc), rc == UV_ENOENT || rc == UV_EACCES ?
			 " (does its directory exist, and may this user write there?)" : "");
		c->closing = 1;
		c->path[0] = 0;
		uv_close((uv_handle_t *)&c->listener, listener_closed);
		return rc;
	}
	*out = c;
	return 0;
}

void control_close(struct control *c)
{
	if (!c)
		return;
	c->closing = 1;
	if (c->path[0] && unlink(c->path) < 0 && errno != ENOENT)
		log_warn("control", "cannot remove %s: %s", c->path, strerror(errno));
	for (struct conn *k = c->conns; k; k = k->next)
		conn_close(k);
	uv_close((uv_handle_t *)&c->listener, listener_closed);
}
