/* opts.h - meshdns-agent's settings from flags and MESHDNS_* variables.
 *
 * Every flag --some-flag also reads MESHDNS_SOME_FLAG from the environment,
 * as task definitions set them; a flag on the command line wins. Parsing is
 * pure (no I/O beyond gethostname for the default id), so it is unit-tested. */
#ifndef MESHDNS_AGENT_OPTS_H
#define MESHDNS_AGENT_OPTS_H

#include <stdint.h>
#include <sys/socket.h>
#include "healthspec.h"

#define AGENT_ATTRS_MAX 16

struct agent_opts {
	char server[256];            /* host name or IP */
	uint16_t server_port;        /* default 53 */
	char key_file[4096];
	char service[256];           /* payments-v1.local (no trailing dot needed) */
	char zone[256];              /* the namespace: service minus its first label */
	char svc_label[64];
	uint16_t port;
	char id[64];                 /* default: the host name, made a label */
	char address[64];            /* "auto" or an IP */
	uint32_t weight;             /* default 100 */
	char attrs[AGENT_ATTRS_MAX][256];   /* "key=value" */
	int nattrs;
	uint32_t lease;              /* seconds, default 30; 0 = none */
	struct cfg_health_check hc;  /* protocol HC_NONE without --check */
	struct sockaddr_storage check_addr;
	int drain_ms;                /* -1: one TTL of the registration */
	char **cmd;                  /* wrap mode: argv of the task, or NULL */
	int verbose;
};

enum { OPTS_OK = 0, OPTS_EXIT_OK = 1, OPTS_ERROR = -1 };

/* Parses argv (and the environment). OPTS_EXIT_OK after --help/--version
 * (printed to stdout); OPTS_ERROR with a message in err. */
int opts_parse(struct agent_opts *o, int argc, char **argv, char *err, size_t errlen);

#endif
