/* control.h - the control socket: a unix stream socket on the daemon's loop
 * that meshdns-ctl talks to.
 *
 * Protocol (one request at a time per connection; a client may send several):
 *   request: one line of text, "COMMAND [ARG...]\n" (words split on blanks,
 *            at most CONTROL_LINE_MAX bytes with the newline)
 *   reply:   zero or more body lines, then one status line: "ok" or
 *            "error: MESSAGE". No body line is "ok" or starts with "error: ".
 * The socket is created mode 0600 (only its owner, usually root, may use it).
 * A stale socket (no one accepts on it) is removed at start; a live one means
 * another meshdns runs with the same path, and control_open fails. */
#ifndef MESHDNS_CONTROL_H
#define MESHDNS_CONTROL_H

#include <stddef.h>
#include <uv.h>

#define CONTROL_LINE_MAX 1024
#define CONTROL_ARGS_MAX 8

struct control;

/* A reply being written: body lines with control_printf. */
struct control_out {
	char *buf;
	size_t len, cap;
	int failed;              /* out of memory: the reply becomes an error */
};

/* Appends text to the body (the caller writes whole lines, ending in \n). */
void control_printf(struct control_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Runs one command: argv[0] is the command, argc >= 1. Returns 0 (status
 * "ok") or -1 with a message in err (status "error: err"). */
typedef int (*control_cmd_cb)(void *arg, int argc, char **argv, struct control_out *out,
			      char *err, size_t errlen);

/* Listens on path. On failure returns a negative code with a message naming
 * path and what to do in errbuf. */
int control_open(struct control **out, uv_loop_t *loop, const char *path, control_cmd_cb cb,
		 void *arg, char *errbuf, size_t errlen);
/* Closes the listener and every connection, removes the socket file; frees c
 * once its handles are closed (uv_run must go on). */
void control_close(struct control *c);

#endif
