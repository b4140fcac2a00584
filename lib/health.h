/* health.h - active health checks of config-declared instances (libuv).
 *
 * Each target is checked every interval: TCP connects, or HTTP sends
 * "GET path HTTP/1.0" and wants a 2xx status line, each within the timeout.
 * A target starts in the state its caller gives; it turns unhealthy after
 * unhealthy_threshold consecutive failures and healthy again after
 * healthy_threshold consecutive successes, and only those transitions are
 * reported, through the callback. The first check of each target runs after
 * a random fraction of its interval so checks do not fire in lock-step. */
#ifndef MESHDNS_HEALTH_H
#define MESHDNS_HEALTH_H

#include <uv.h>
#include "healthspec.h"

struct health;

/* Called on a state change of the target registered with cookie. */
typedef void (*health_cb)(void *arg, void *cookie, int healthy);

int health_new(struct health **out, uv_loop_t *loop, health_cb cb, void *arg);
/* Starts checking addr (its port is the one to check) with hc. hc is copied.
 * initial_healthy is the state before any check (1 or 0); -1 means unknown:
 * the first check runs at once and its outcome is reported as the state,
 * thresholds apply from then on. Returns 0 or -errno. The callback may call
 * health_clear or health_close. */
int health_add(struct health *h, const struct sockaddr *addr,
	       const struct cfg_health_check *hc, void *cookie, int initial_healthy);
/* Stops and forgets every target (their handles close asynchronously); the
 * callback is not called for them again. */
void health_clear(struct health *h);
/* Clears, then frees h once its handles have closed (uv_run must go on). */
void health_close(struct health *h);
/* Number of targets being checked. */
size_t health_count(const struct health *h);

/* Reads the status line at the start of the HTTP response resp[0, len), which
 * need not be NUL-terminated and is never read beyond len: "HTTP/1.x NNN",
 * then a space or the line's end, the line ending in CRLF. Returns 0 with the
 * status (100..999) in *status, -EAGAIN when no CRLF has arrived yet (read
 * more), or ERR_MALFORMED when the complete line is not such a status line.
 * No I/O, so unit tests and a fuzz target call it directly. */
int health_http_status(const char *resp, size_t len, int *status);

#endif
