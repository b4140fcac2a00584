/* ctlcmd.h - the commands of the control socket (control.h): status, list,
 * drain, undrain, reload, stats, help.
 *
 * The daemon owns everything; it hands this module pointers to its fields
 * (which a reload replaces, hence the double pointers) and two callbacks. */
#ifndef MESHDNS_CTLCMD_H
#define MESHDNS_CTLCMD_H

#include <stddef.h>
#include <stdint.h>
#include "control.h"

struct config;
struct registry;
struct server;
struct cache;
struct registrar;

struct ctlcmd_env {
	struct config **cfg;
	struct registry **reg;
	struct server **srv;
	struct cache **cache;
	struct registrar **registrar;
	uint64_t started_ms;             /* monotonic, uv_hrtime based */
	/* Reloads like SIGHUP; 0, or -1 with the error ("file:line:col: ...") in err. */
	int (*reload)(void *arg, char *err, size_t errlen);
	/* The registry changed: publish a new view. */
	void (*changed)(void *arg);
	void *arg;
};

/* A control_cmd_cb; arg is a struct ctlcmd_env. */
int ctlcmd_run(void *arg, int argc, char **argv, struct control_out *out, char *err,
	       size_t errlen);

#endif
