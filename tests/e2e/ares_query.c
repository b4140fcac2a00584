/*
 * tests/e2e/ares_query.c - a tiny c-ares client for the interop tests.
 *
 *     ares_query [--tcp] SERVER:PORT NAME A|AAAA|ADDR|SRV
 *
 * Asks SERVER:PORT (only it: no /etc/hosts, no search list) about NAME and
 * prints the answers one a line: addresses for A, AAAA and ADDR (A and AAAA
 * together) through ares_getaddrinfo(), or "PRIORITY WEIGHT PORT TARGET."
 * for SRV through ares_query() and ares_parse_srv_reply(), as `dig +short`
 * prints them, so a test can compare the two. A DNS failure prints
 * "status=ENOTFOUND (...)" (NXDOMAIN), "status=ENODATA (...)", ... and exits
 * 2; a bad argument or a c-ares setup error exits 1.
 *
 * It exists because Debian 12 does not package c-ares' own `ahost`/`adig`,
 * and the resolver's users resolve through c-ares (meshdns-forward and many
 * others): tests/e2e/clients.sh checks that it sees what dig sees.
 * The loop is the plain ares_getsock() + poll() one: this is a one-shot tool.
 */
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CLASS_IN 1
#define TYPE_SRV 33

struct result {
	int done;
	int status;
};

static const char *status_name(int status)
{
	switch (status) {
	case ARES_ENODATA: return "ENODATA";
	case ARES_EFORMERR: return "EFORMERR";
	case ARES_ESERVFAIL: return "ESERVFAIL";
	case ARES_ENOTFOUND: return "ENOTFOUND";
	case ARES_ENOTIMP: return "ENOTIMP";
	case ARES_EREFUSED: return "EREFUSED";
	case ARES_EBADRESP: return "EBADRESP";
	case ARES_ECONNREFUSED: return "ECONNREFUSED";
	case ARES_ETIMEOUT: return "ETIMEOUT";
	case ARES_ENOMEM: return "ENOMEM";
	default: return "EOTHER";
	}
}

static void print_status(int status)
{
	printf("status=%s (%s)\n", status_name(status), ares_strerror(status));
}

static void addrinfo_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct result *r = arg;
	struct ares_addrinfo_node *n;
	char text[INET6_ADDRSTRLEN];
	const void *a;

	r->done = 1;
	r->status = status;
	if (status != ARES_SUCCESS) {
		print_status(status);
		return;
	}
	for (n = res->nodes; n != NULL; n = n->ai_next) {
		if (n->ai_family == AF_INET)
			a = &((const struct sockaddr_in *)(const void *)n->ai_addr)->sin_addr;
		else if (n->ai_family == AF_INET6)
			a = &((const struct sockaddr_in6 *)(const void *)n->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(n->ai_family, a, text, sizeof(text)) != NULL)
			printf("%s\n", text);
	}
	ares_freeaddrinfo(res);
}

static void srv_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct result *r = arg;
	struct ares_srv_reply *srv = NULL, *s;

	r->done = 1;
	r->status = status;
	if (status == ARES_SUCCESS)
		status = ares_parse_srv_reply(abuf, alen, &srv);
	if (status != ARES_SUCCESS) {
		r->status = status;
		print_status(status);
		return;
	}
	for (s = srv; s != NULL; s = s->next)
		printf("%u %u %u %s.\n", s->priority, s->weight, s->port, s->host);
	ares_free_data(srv);
}

/* Runs the channel until the query's callback has run (c-ares times the
 * query out itself, so this ends). */
static int run(ares_channel ch, const struct result *r)
{
	while (!r->done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		unsigned bits;
		int i, n = 0, ms, rc;

		/* Bits tested as unsigned: c-ares' ARES_GETSOCK_WRITABLE()
		 * shifts an int 1 by up to 31 (undefined behaviour). */
		bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;
			if (bits & (1u << i))
				ev |= POLLIN;
			if (bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (ev == 0)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = ev;
			pfd[n].revents = 0;
			n++;
		}
		tvp = ares_timeout(ch, NULL, &tv);
		ms = tvp != NULL ? (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000) : 1000;
		rc = poll(pfd, (nfds_t)n, ms);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			perror("ares_query: poll");
			return -1;
		}
		if (rc == 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (i = 0; i < n; i++) {
			ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
			if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
				rfd = pfd[i].fd;
			if (pfd[i].revents & POLLOUT)
				wfd = pfd[i].fd;
			if (rfd != ARES_SOCKET_BAD || wfd != ARES_SOCKET_BAD)
				ares_process_fd(ch, rfd, wfd);
		}
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ares_query [--tcp] SERVER:PORT NAME A|AAAA|ADDR|SRV\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct ares_options opts;
	struct ares_addrinfo_hints hints;
	struct result r = {0, 0};
	ares_channel ch;
	const char *server, *name, *type;
	char lookups[] = "b";
	int optmask, rc, tcp = 0, ret = 1;

	if (argc > 1 && strcmp(argv[1], "--tcp") == 0) {
		tcp = 1;
		argc--;
		argv++;
	}
	if (argc != 4)
		return usage();
	server = argv[1];
	name = argv[2];
	type = argv[3];
	if (strcmp(type, "A") != 0 && strcmp(type, "AAAA") != 0 &&
	    strcmp(type, "ADDR") != 0 && strcmp(type, "SRV") != 0)
		return usage();

	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		fprintf(stderr, "ares_query: ares_library_init: %s\n", ares_strerror(rc));
		return 1;
	}
	/* DNS only (no /etc/hosts), no search list, 2 s per try, 2 tries. */
	memset(&opts, 0, sizeof(opts));
	opts.lookups = lookups;
	opts.ndomains = 0;
	opts.domains = NULL;
	opts.timeout = 2000;
	opts.tries = 2;
	opts.flags = tcp ? ARES_FLAG_USEVC : 0;
	optmask = ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
		  ARES_OPT_FLAGS;
	rc = ares_init_options(&ch, &opts, optmask);
	if (rc != ARES_SUCCESS) {
		fprintf(stderr, "ares_query: ares_init_options: %s\n", ares_strerror(rc));
		goto out_lib;
	}
	rc = ares_set_servers_ports_csv(ch, server);
	if (rc != ARES_SUCCESS) {
		fprintf(stderr, "ares_query: bad server %s: %s\n", server, ares_strerror(rc));
		goto out_channel;
	}

	if (strcmp(type, "SRV") == 0) {
		ares_query(ch, name, CLASS_IN, TYPE_SRV, srv_done, &r);
	} else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = strcmp(type, "A") == 0 ? AF_INET :
				  strcmp(type, "AAAA") == 0 ? AF_INET6 : AF_UNSPEC;
		hints.ai_flags = ARES_AI_NOSORT;
		ares_getaddrinfo(ch, name, NULL, &hints, addrinfo_done, &r);
	}
	if (run(ch, &r) == 0)
		ret = r.status == ARES_SUCCESS ? 0 : 2;
	fflush(stdout);

out_channel:
	ares_destroy(ch);
out_lib:
	ares_library_cleanup();
	return ret;
}
