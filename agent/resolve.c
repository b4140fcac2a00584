/* resolve.c - looking up the agent's server with c-ares (see resolve.h).
 *
 * The agent resolves its server once at start and again before a retry, so
 * a blocking c-ares loop bounded in time is enough; it keeps the event loop
 * free of a second I/O model for a few lookups an hour. */
#include <ares.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include "addr.h"
#include "err.h"
#include "resolve.h"

struct lookup {
	int done, status;
	struct sockaddr_storage addr;
};

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *l = arg;

	(void)timeouts;
	l->done = 1;
	l->status = status;
	if (status == ARES_SUCCESS && res && res->nodes &&
	    res->nodes->ai_addrlen <= sizeof(l->addr))
		memcpy(&l->addr, res->nodes->ai_addr, res->nodes->ai_addrlen);
	else if (status == ARES_SUCCESS)
		l->status = ARES_ENODATA;
	if (res)
		ares_freeaddrinfo(res);
}

static void run(ares_channel ch, struct lookup *l, int timeout_ms)
{
	struct timeval limit = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 }, tv, *tvp;

	while (!l->done && (limit.tv_sec > 0 || limit.tv_usec > 0)) {
		fd_set r, w;
		int nfds;

		FD_ZERO(&r);
		FD_ZERO(&w);
		nfds = ares_fds(ch, &r, &w);
		if (nfds == 0)
			break;
		tvp = ares_timeout(ch, &limit, &tv);
		if (select(nfds, &r, &w, NULL, tvp) < 0)
			break;
		ares_process(ch, &r, &w);
		limit.tv_usec -= tvp->tv_usec;
		limit.tv_sec -= tvp->tv_sec;
		if (limit.tv_usec < 0) {
			limit.tv_usec += 1000000;
			limit.tv_sec--;
		}
	}
}

int resolve_server(const char *host, uint16_t port, int timeout_ms,
		   struct sockaddr_storage *out, char *err, size_t errlen)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	struct lookup l = { 0 };
	ares_channel ch;
	int rc;

	if (addr_parse(host, port, out) == 0)
		return 0;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS ||
	    (rc = ares_init(&ch)) != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot start the resolver: %s", ares_strerror(rc));
		return ERR_ADDR;
	}
	ares_getaddrinfo(ch, host, NULL, &hints, on_addrinfo, &l);
	run(ch, &l, timeout_ms);
	ares_destroy(ch);
	ares_library_cleanup();
	if (!l.done || l.status != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot resolve server %s: %s", host,
			 l.done ? ares_strerror(l.status) : "timed out");
		return ERR_ADDR;
	}
	*out = l.addr;
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons(port);
	return 0;
}
