/* relay.h - moving bytes both ways between two TCP streams (libuv).
 *
 * A direction borrows one RELAY_BUF buffer when its side becomes readable: a
 * read fills it, the bytes are written with uv_try_write, and only what the
 * kernel did not take goes through uv_write, during which that side is not
 * read (back-pressure). Once the bytes are out the buffer goes back to a
 * shared free list, so an idle connection holds no buffer (about 1 KiB of
 * state) and a busy one never more than 2 x RELAY_BUF, whatever the peers
 * do. An EOF is passed on as a shutdown of the other side's write half
 * (half-close); the relay ends when both halves are shut, on any error (which
 * closes both sides), or after idle_ms without a byte. */
#ifndef MESHDNS_FWD_RELAY_H
#define MESHDNS_FWD_RELAY_H

#include <uv.h>

#define RELAY_BUF 16384

struct relay;

struct relay_dir {
	struct relay *r;
	uv_stream_t *from, *to;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	int writing, eof, shut;
	uint64_t bytes;
	char *buf;                   /* borrowed while bytes are in flight, or NULL */
};

/* Called once both handles and the timer have closed; arg owns the relay. */
typedef void (*relay_done_cb)(struct relay *r);

struct relay {
	uv_tcp_t client, upstream;   /* both initialised by the caller */
	uv_timer_t idle;
	struct relay_dir up, down;   /* client -> upstream, upstream -> client */
	uint32_t idle_ms;
	int open, closing;
	relay_done_cb done;
	void *data;                  /* the caller's */
};

/* Starts relaying between r->client and r->upstream (both connected). */
int relay_start(struct relay *r, uint32_t idle_ms, relay_done_cb done);
/* Closes both sides now; done runs when they have closed. */
void relay_close(struct relay *r);
/* Sets up close accounting for handles initialised but not relayed yet:
 * closes the given handles and calls done once they closed. */
void relay_abort(struct relay *r, int client_open, int upstream_open, relay_done_cb done);

#endif
