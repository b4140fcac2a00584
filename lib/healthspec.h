/* healthspec.h - what an active health check does: protocol, target port,
 * timing and thresholds. Shared by the resolver's config (checks of
 * config-declared instances) and the agent (the check of its task); the
 * checker itself is health.h. No libuv here, so config code stays I/O-free. */
#ifndef MESHDNS_HEALTHSPEC_H
#define MESHDNS_HEALTHSPEC_H

#include <stdint.h>

enum hc_protocol { HC_NONE = 0, HC_TCP, HC_HTTP };

struct cfg_health_check {
	enum hc_protocol protocol;   /* HC_NONE when the service has no health_check */
	char path[256];              /* HC_HTTP: request path, default "/" */
	uint16_t port;               /* 0: the instance's port */
	uint32_t interval_ms;        /* default 5000, 100..3600000 */
	uint32_t timeout_ms;         /* default 2000, 100..interval */
	uint32_t healthy_threshold;  /* default 2, 1..100 */
	uint32_t unhealthy_threshold;/* default 2, 1..100 */
};

#endif
