/* splice.c - is splice(2) worth it for meshdns-forward's relay?
 *
 * One relay thread moves BYTES from a client socket to a backend socket over
 * loopback TCP, either the way the forwarder does (read into a user-space
 * buffer, write it out: 64 KiB at a time) or with splice(2) through a pipe
 * (socket -> pipe -> socket, no copy to user space). A source thread writes
 * the bytes, a sink thread reads and drops them; only the relay thread's
 * CPU (RUSAGE_THREAD) is the figure, with the wall-clock throughput.
 *
 *   splice [MIB] [RUNS]    (default 2048 MiB, 3 runs; modes alternate)
 * Built by bench/forward.sh or: cc -O2 -pthread splice.c -o splice */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

static size_t total;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int listen_any(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0)
		die("listen");
	return fd;
}

static int dial(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		die("connect");
	return fd;
}

static void *source(void *arg)
{
	static char buf[CHUNK];
	int fd = dial(arg);
	size_t left = total;

	while (left) {
		ssize_t n = write(fd, buf, left < CHUNK ? left : CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("source write");
		}
		left -= (size_t)n;
	}
	close(fd);
	return NULL;
}

static void *sink(void *arg)
{
	static char buf[CHUNK];
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		die("sink accept");
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			die("sink read");
	}
	close(fd);
	return NULL;
}

static size_t relay_copy(int in, int out)
{
	static char buf[CHUNK];
	size_t moved = 0;

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf)), off = 0;

		if (n == 0)
			return moved;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("relay read");
		}
		while (off < n) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("relay write");
			}
			off += w;
		}
		moved += (size_t)n;
	}
}

static size_t relay_splice(int in, int out)
{
	int p[2];
	size_t moved = 0;

	if (pipe(p) < 0)
		die("pipe");
	(void)fcntl(p[1], F_SETPIPE_SZ, CHUNK);
	for (;;) {
		ssize_t n = splice(in, NULL, p[1], NULL, CHUNK, SPLICE_F_MOVE), left;

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("splice in");
		}
		for (left = n; left > 0;) {
			ssize_t w = splice(p[0], NULL, out, NULL, (size_t)left, SPLICE_F_MOVE);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("splice out");
			}
			left -= w;
		}
		moved += (size_t)n;
	}
	close(p[0]);
	close(p[1]);
	return moved;
}

static double secs(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* One run: returns relay CPU seconds and wall seconds. */
static void run(int use_splice, double *cpu, double *wall)
{
	struct sockaddr_in relay_sa, sink_sa;
	int rl = listen_any(&relay_sa), sl = listen_any(&sink_sa), in, out;
	pthread_t ts, tk;
	struct rusage r0, r1;
	struct timespec w0, w1;
	size_t moved;

	if (pthread_create(&tk, NULL, sink, &sl) || pthread_create(&ts, NULL, source, &relay_sa))
		die("pthread_create");
	in = accept(rl, NULL, NULL);
	out = dial(&sink_sa);
	if (in < 0)
		die("accept");
	clock_gettime(CLOCK_MONOTONIC, &w0);
	getrusage(RUSAGE_THREAD, &r0);
	moved = use_splice ? relay_splice(in, out) : relay_copy(in, out);
	getrusage(RUSAGE_THREAD, &r1);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	close(out);
	pthread_join(ts, NULL);
	pthread_join(tk, NULL);
	close(in);
	close(rl);
	close(sl);
	if (moved != total) {
		fprintf(stderr, "moved %zu of %zu bytes\n", moved, total);
		exit(1);
	}
	*cpu = secs(&r1.ru_utime) + secs(&r1.ru_stime) - secs(&r0.ru_utime) - secs(&r0.ru_stime);
	*wall = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 2048;
	int runs = argc > 2 ? atoi(argv[2]) : 3;
	double cpu[2][32], mbs[2][32];

	if (!mib || runs < 1 || runs > 32) {
		fprintf(stderr, "usage: splice [MIB] [RUNS<=32]\n");
		return 2;
	}
	total = mib << 20;
	for (int r = 0; r < runs; r++)
		for (int m = 0; m < 2; m++) {
			double c, w;

			run(m, &c, &w);
			cpu[m][r] = c * 1e6 / (double)mib;     /* relay CPU us per MiB */
			mbs[m][r] = (double)mib / w;
			printf("# run %d %s: %.1f us CPU/MiB, %.0f MiB/s\n", r + 1,
			       m ? "splice" : "copy", cpu[m][r], mbs[m][r]);
		}
	for (int m = 0; m < 2; m++) {
		qsort(cpu[m], (size_t)runs, sizeof(double), cmp);
		qsort(mbs[m], (size_t)runs, sizeof(double), cmp);
	}
	printf("relay of %zu MiB over loopback TCP, medians of %d runs:\n", mib, runs);
	printf("  copy (read/write, 64 KiB): %.1f us CPU per MiB, %.0f MiB/s\n",
	       cpu[0][runs / 2], mbs[0][runs / 2]);
	printf("  splice (via a pipe):       %.1f us CPU per MiB, %.0f MiB/s\n",
	       cpu[1][runs / 2], mbs[1][runs / 2]);
	printf("  splice/copy CPU: %.2f\n", cpu[1][runs / 2] / cpu[0][runs / 2]);
	return 0;
}
