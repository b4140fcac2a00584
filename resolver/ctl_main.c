/* ctl_main.c - meshdns-ctl: sends one command to meshdns's control socket
 * (protocol in control.h) and prints the reply.
 *
 * Plain blocking sockets: one request, one reply, then exit. Exit status:
 * 0 the command succeeded, 1 it failed ("error: ..."), 2 usage or the
 * socket cannot be reached. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/var/lib/meshdns/control.sock"
#define LINE_MAX_ 1024

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meshdns-ctl [-s PATH] COMMAND [ARG]\n"
		"  -s, --socket PATH  meshdns's control socket (default " DEFAULT_SOCKET ",\n"
		"                     or $MESHDNS_CONTROL_SOCKET)\n"
		"  -h, --help         this help\n"
		"  -V, --version      print the version\n"
		"commands:\n"
		"  status                         version, uptime, counts, journal, listen addresses\n"
		"  list [SERVICE.NAMESPACE]       every instance: health, weights, drained, lease, origin\n"
		"  drain ID.SERVICE.NAMESPACE     weight 0 in answers, still registered\n"
		"  undrain ID.SERVICE.NAMESPACE   back into answers\n"
		"  reload                         reload config and zones (as SIGHUP)\n"
		"  stats                          query, cache and update counters\n"
		"exit status: 0 ok, 1 the command failed, 2 usage or cannot connect\n");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Prints the reply's body to stdout and its error to stderr; returns the
 * exit status. */
static int read_reply(int fd, const char *path)
{
	char buf[65536], line[65536];
	size_t ll = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "meshdns-ctl: %s: connection closed before the reply ended%s%s\n",
				path, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return 2;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			if (!strcmp(line, "ok"))
				return 0;
			if (!strncmp(line, "error: ", 7)) {
				fprintf(stderr, "meshdns-ctl: %s\n", line + 7);
				return 1;
			}
			if (puts(line) == EOF)
				return 1;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = getenv("MESHDNS_CONTROL_SOCKET");
	char req[LINE_MAX_];
	size_t len = 0;
	int c, fd, rc;

	if (!path || !path[0])
		path = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("meshdns-ctl %s\n", MESHDNS_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "meshdns-ctl: no command given\n");
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (strpbrk(argv[i], "\n\r") || len + l + 2 > sizeof(req)) {
			fprintf(stderr, "meshdns-ctl: command too long or has a newline\n");
			return 2;
		}
		if (len)
			req[len++] = ' ';
		memcpy(req + len, argv[i], l);
		len += l;
	}
	req[len++] = '\n';
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "meshdns-ctl: socket path %s is too long\n", path);
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "meshdns-ctl: socket: %s\n", strerror(errno));
		return 2;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "meshdns-ctl: cannot connect to %s: %s (is meshdns running, with "
			"this control_socket? -s PATH names another)\n", path, strerror(errno));
		close(fd);
		return 2;
	}
	if (write_all(fd, req, len) < 0) {
		fprintf(stderr, "meshdns-ctl: %s: cannot send the command: %s\n", path,
			strerror(errno));
		close(fd);
		return 2;
	}
	rc = read_reply(fd, path);
	close(fd);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "meshdns-ctl: cannot write the reply: %s\n", strerror(errno));
		return 1;
	}
	return rc;
}
