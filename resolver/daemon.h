/* daemon.h - the running resolver: config, registry, view, server, health
 * checks and signals wired onto one libuv loop. main() parses flags and calls
 * daemon_run(); tests start the real binary instead. */
#ifndef MESHDNS_DAEMON_H
#define MESHDNS_DAEMON_H

struct daemon_opts {
	const char *config_file;   /* NULL: the embedded default */
	int check_only;            /* -t: load, validate, exit */
	int recover;               /* --recover: drop a corrupt journal tail */
};

/* Returns the process exit status. */
int daemon_run(const struct daemon_opts *opts);

#endif
