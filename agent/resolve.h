/* resolve.h - the agent's --server: an IP, or a name resolved with c-ares. */
#ifndef MESHDNS_AGENT_RESOLVE_H
#define MESHDNS_AGENT_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* host is an IP, "[IPv6]:port" or a name (looked up with c-ares, waiting at
 * most timeout_ms). Returns 0, or a negative code with a message in err. */
int resolve_server(const char *host, uint16_t port, int timeout_ms,
		   struct sockaddr_storage *out, char *err, size_t errlen);

#endif
