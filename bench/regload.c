/* regload.c - UPDATE load generator for bench/registrations.sh.
 *
 * Sends TSIG-signed DNS UPDATEs over UDP, each registering one new instance
 * (A at <prefix><n>.<service>.<zone> plus an SRV at <service>.<zone> pointing
 * to it), keeping a window of W updates in flight: group commit only pays
 * off when many updates wait for the same sync, and a one-at-a-time client
 * would measure the fsync latency instead of the server. Answers are matched
 * by message ID; the NOERROR answers that arrive within the D seconds are
 * the result. An update without an answer after 2 s is counted lost and its
 * slot reused. Answers are not TSIG-verified (the servers under test are
 * ours; verifying would only slow the client down).
 *
 *   regload -p PORT -y ALG:NAME:SECRET [-s 127.0.0.1] [-z local] [-S payments-v1]
 *           [-d 10] [-w 64] [-P i] [-r RATE] [-m IDS] [-c] [-L LEASE]
 * -r paces the updates at RATE a second (default: as fast as the window
 * allows); -m re-registers ids 0..IDS-1 in turn instead of always new ones
 * (re-registrations, as running agents send them). A re-registration of
 * the same records changes nothing; -c changes each one's SRV port on every
 * pass (from a random start), so that every message changes the answers;
 * -L asks for a lease of LEASE seconds (RFC 9664 UPDATE-LEASE), so that
 * each re-registration is a renewal that moves the lease.
 * prints one line: ok=N rate=R/s other=N lost=N late=N sent=N, then the counts
 * of other rcodes (rcodeN=) and the NOERROR answers of each second
 * (per_second=a,b,...): a rate that falls as the registry grows shows there.
 * Built by the script: cc -O2 regload.c $(pkg-config --cflags --libs ldns). */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOST_AFTER_NS 2000000000LL

struct slot {
	long long sent_ns; /* 0 = free */
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: regload -p PORT -y ALG:NAME:SECRET [-s ADDR] [-z ZONE] [-S SERVICE]"
		" [-d SECONDS] [-w WINDOW] [-P PREFIX] [-r RATE] [-m IDS] [-c] [-L LEASE]\n");
	exit(2);
}

/* Builds the signed UPDATE registering instance n; returns its wire form. */
static uint8_t *build(const char *zone, const char *svc, const char *prefix, unsigned n,
		      unsigned port, uint32_t lease, uint16_t id, const char *alg, const char *key,
		      const char *secret, size_t *len)
{
	char text[512];
	ldns_rr_list *up = ldns_rr_list_new();
	ldns_rdf *zrdf = ldns_dname_new_frm_str(zone);
	ldns_rr *rr = NULL;
	ldns_pkt *p;
	uint8_t *wire = NULL;

	snprintf(text, sizeof(text), "%s%u.%s.%s. 5 IN A 10.%u.%u.%u", prefix, n, svc, zone,
		 64 + (n >> 16) % 64, (n >> 8) & 255, n & 255);
	if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return NULL;
	ldns_rr_list_push_rr(up, rr);
	snprintf(text, sizeof(text), "%s.%s. 5 IN SRV 0 100 %u %s%u.%s.%s.", svc, zone,
		 port, prefix, n, svc, zone);
	if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		return NULL;
	ldns_rr_list_push_rr(up, rr);
	p = ldns_update_pkt_new(zrdf, LDNS_RR_CLASS_IN, NULL, up, NULL);
	ldns_rr_list_deep_free(up);
	if (!p)
		return NULL;
	ldns_pkt_set_rd(p, false);
	ldns_pkt_set_id(p, id);
	if (lease) {
		uint8_t opt[8] = { 0, 2, 0, 4, (uint8_t)(lease >> 24), (uint8_t)(lease >> 16),
				   (uint8_t)(lease >> 8), (uint8_t)lease };
		ldns_rdf *d = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 8, opt);

		if (!d) {
			ldns_pkt_free(p);
			return NULL;
		}
		ldns_pkt_set_edns_udp_size(p, 1232);
		ldns_pkt_set_edns_data(p, d);
	}
	if (ldns_pkt_tsig_sign(p, key, secret, 300, alg, NULL) != LDNS_STATUS_OK ||
	    ldns_pkt2wire(&wire, p, len) != LDNS_STATUS_OK) {
		ldns_pkt_free(p);
		return NULL;
	}
	ldns_pkt_free(p);
	return wire;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *zone = "local", *svc = "payments-v1", *prefix = "i";
	char *keyspec = NULL, alg[64], *key, *secret;
	int port = 0, secs = 10, window = 64, o, fd, rcvbuf = 4 << 20;
	static struct slot slots[65536];
	long long start, end, t, last_scan = 0;
	unsigned long long sent = 0, ok = 0, other = 0, lost = 0, late = 0, rc_count[16] = { 0 };
	unsigned long long per_sec[3600] = { 0 };
	unsigned next = 0, inflight = 0, ids = 0, seed = 0;
	uint32_t lease = 0;
	int change = 0;
	double rate = 0;
	uint16_t next_id = 1;
	struct sockaddr_in sa;
	uint8_t buf[65536];

	while ((o = getopt(argc, argv, "s:p:y:z:S:d:w:P:r:m:cL:")) != -1) {
		switch (o) {
		case 's': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'y': keyspec = optarg; break;
		case 'z': zone = optarg; break;
		case 'S': svc = optarg; break;
		case 'd': secs = atoi(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'P': prefix = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'm': ids = (unsigned)atoi(optarg); break;
		case 'c': change = 1; break;
		case 'L': lease = (uint32_t)atoi(optarg); break;
		default: usage();
		}
	}
	if (!port || !keyspec || window < 1 || window > 4096 || secs < 1 || secs > 3600)
		usage();
	key = strchr(keyspec, ':');
	secret = key ? strchr(key + 1, ':') : NULL;
	if (!secret)
		usage();
	*key++ = 0;
	*secret++ = 0;
	snprintf(alg, sizeof(alg), "%s.", keyspec);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		usage();
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("regload: socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	start = now_ns();
	end = start + secs * 1000000000LL;
	seed = (unsigned)(start / 1000) % 1000;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		t = now_ns();
		if (t >= end && (inflight == 0 || t >= end + 500000000LL))
			break;
		while (t < end && inflight < (unsigned)window &&
		       (rate <= 0 || sent < (unsigned long long)((t - start) * 1e-9 * rate) + 1)) {
			size_t len;
			uint8_t *wire;

			while (slots[next_id].sent_ns)
				next_id++;
			{
				unsigned n = ids ? next % ids : next;
				unsigned pass = ids && change ? next / ids + seed : 0;

				wire = build(zone, svc, prefix, n, 5000 + (n + pass) % 1000, lease,
					     next_id, alg, key, secret, &len);
			}
			if (!wire) {
				fprintf(stderr, "regload: cannot build update %u\n", next);
				return 1;
			}
			if (send(fd, wire, len, 0) < 0) {
				free(wire);
				/* ECONNREFUSED reports an ICMP error queued on the
				 * connected socket earlier; the next send goes out. */
				if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED)
					break;
				perror("regload: send");
				return 1;
			}
			free(wire);
			slots[next_id].sent_ns = t;
			next_id++;
			next++;
			sent++;
			inflight++;
		}
		poll(&pfd, 1, rate > 0 ? 1 : 5);
		while ((n = recv(fd, buf, sizeof(buf), 0)) >= 12) {
			uint16_t id = (uint16_t)(buf[0] << 8 | buf[1]);
			int rc = buf[3] & 15;

			if (!slots[id].sent_ns)
				continue; /* already counted lost */
			slots[id].sent_ns = 0;
			inflight--;
			if (now_ns() > end) {
				late++;
				continue;
			}
			rc_count[rc]++;
			if (rc == 0) {
				ok++;
				long long sec = (now_ns() - start) / 1000000000LL;

				per_sec[sec < secs ? sec : secs - 1]++;
			}
			else
				other++;
		}
		t = now_ns();
		if (inflight && t - last_scan > 100000000LL) {
			last_scan = t;
			for (unsigned i = 0; i < 65536; i++) {
				if (slots[i].sent_ns && t - slots[i].sent_ns > LOST_AFTER_NS) {
					slots[i].sent_ns = 0;
					inflight--;
					lost++;
				}
			}
		}
	}
	printf("ok=%llu rate=%.0f/s other=%llu lost=%llu late=%llu sent=%llu", ok,
	       ok / (double)secs, other, lost, late, sent);
	for (int i = 1; i < 16; i++)
		if (rc_count[i])
			printf(" rcode%d=%llu", i, rc_count[i]);
	printf(" per_second=");
	for (int i = 0; i < secs; i++)
		printf("%s%llu", i ? "," : "", per_sec[i]);
	printf("\n");
	return 0;
}
