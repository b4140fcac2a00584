/* opts.h - meshdns-forward's settings: flags and an optional YAML file with
 * the same settings (flags win). Pure parsing; errors name file:line:col. */
#ifndef MESHDNS_FWD_OPTS_H
#define MESHDNS_FWD_OPTS_H

#include <stdint.h>
#include <sys/socket.h>
#include "balance.h"

#define FWD_LISTEN_MAX 32

struct fwd_listen {
	struct sockaddr_storage addr;
	char name[256];                  /* the SRV name to follow, e.g. payments.local */
};

struct fwd_opts {
	struct fwd_listen listen[FWD_LISTEN_MAX];
	int nlisten;
	char dns[64];                    /* "" = the host's resolv.conf */
	uint32_t connect_timeout_ms;     /* default 1000 */
	uint32_t idle_timeout_ms;        /* default 300000 */
	uint32_t drain_timeout_ms;       /* default 30000 */
	uint32_t retries;                /* further endpoints tried after a failed connect, default 2 */
	uint32_t max_connections;        /* default 10000 */
	struct outlier_cfg outlier;
	int has_metrics;                 /* --metrics: serve /metrics (applies at start only) */
	struct sockaddr_storage metrics;
	char config_file[4096];
	int verbose;
};

enum { FWD_OPTS_OK = 0, FWD_OPTS_EXIT = 1, FWD_OPTS_ERROR = -1 };

int fwd_opts_parse(struct fwd_opts *o, int argc, char **argv, char *err, size_t errlen);
/* Re-reads o->config_file over the current settings (SIGHUP); listeners are
 * kept. Returns 0 or FWD_OPTS_ERROR with a message. */
int fwd_opts_reload(struct fwd_opts *o, char *err, size_t errlen);

#endif
