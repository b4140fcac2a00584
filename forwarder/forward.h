/* forward.h - meshdns-forward's process: listeners, picks, connects, signals. */
#ifndef MESHDNS_FWD_FORWARD_H
#define MESHDNS_FWD_FORWARD_H

#include "opts.h"

/* Runs until SIGTERM/SIGINT and the drain are over; returns the exit status.
 * argc/argv are kept so SIGHUP can apply the flags over the re-read file. */
int forward_run(struct fwd_opts *o);

#endif
