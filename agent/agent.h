/* agent.h - meshdns-agent's event loop: register, renew, check, drain. */
#ifndef MESHDNS_AGENT_AGENT_H
#define MESHDNS_AGENT_AGENT_H

#include "opts.h"

/* Runs until stopped; returns the process exit status: 0 after a clean
 * deregistration, the task's status in wrap mode (128+signal if it was
 * killed), 1 for errors retrying cannot fix (bad key, refused scope). */
int agent_run(struct agent_opts *o);

#endif
