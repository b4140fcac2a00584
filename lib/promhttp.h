/* promhttp.h - the /metrics HTTP listener (libmicrohttpd) for a libuv program.
 *
 * libmicrohttpd parses HTTP on its own thread (MHD_USE_INTERNAL_POLLING_THREAD).
 * The counters belong to the event loop thread and are plain integers there,
 * so the HTTP thread never reads them: for each GET /metrics it wakes the loop
 * (uv_async_send) and waits on a condition variable; the loop calls the
 * program's render callback into a struct expo and hands the text back under
 * the mutex. The query path takes no lock and pays nothing per scrape; a
 * scrape costs one loop wake-up and one render. Other paths get 404, other
 * methods 405. */
#ifndef MESHDNS_PROMHTTP_H
#define MESHDNS_PROMHTTP_H

#include <sys/socket.h>
#include <uv.h>
#include "expo.h"

struct promhttp;

/* Renders every series into e; runs on the loop thread. */
typedef void (*promhttp_render_cb)(void *arg, struct expo *e);

/* Listens on addr (port 0 picks one) and serves until promhttp_close(). On
 * failure returns a negative code with a message in errbuf. */
int promhttp_new(struct promhttp **out, uv_loop_t *loop, const struct sockaddr_storage *addr,
		 promhttp_render_cb cb, void *arg, char *errbuf, size_t errlen);
/* The bound address, "IP:PORT". */
const char *promhttp_address(const struct promhttp *m);
/* Stops the HTTP thread (a scrape waiting for the loop gets 503) and frees m
 * once its handle closed (uv_run must go on). */
void promhttp_close(struct promhttp *m);

#endif
