/* notify.h - NOTIFY (RFC 1996) to secondaries when a namespace's serial
 * rose (xfr.h), on the libuv loop. Targets come from the namespace's
 * `notify` list, or the top level's. */
#ifndef MESHDNS_NOTIFY_H
#define MESHDNS_NOTIFY_H

#include <stdint.h>
#include <uv.h>
#include "config.h"

struct notifier;

int notifier_new(struct notifier **out, uv_loop_t *loop);
/* ns (of cfg) is at serial now: tell its secondaries. */
void notifier_changed(struct notifier *nf, const struct config *cfg,
		      const struct cfg_namespace *ns, uint32_t serial);
/* Frees nf once its handles closed (uv_run must go on). */
void notifier_close(struct notifier *nf);

#endif
