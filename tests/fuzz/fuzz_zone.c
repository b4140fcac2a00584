/* fuzz_zone.c - libFuzzer target: any bytes as a namespace's zone master
 * file, loaded with zone_load for origin local. (what zone.h promises is
 * checked: one SOA at the origin, every owner inside it, class IN), then
 * through a config that names it, into a registry with services, a router
 * and an instance, and a view: the path a start or SIGHUP takes, with the
 * registry's own checks (no records at or under service names), and each
 * of the first records asked for by owner and type (ANY too) through the
 * query path, which follows CNAMEs in the zone. The file
 * lives in one temp dir made once and removed at exit. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "err.h"
#include "log.h"
#include "query.h"
#include "registry.h"
#include "view.h"
#include "wire.h"
#include "zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96];
static struct config *cfg;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_zone: %s\n", what);
		abort();
	}
}

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
	config_free(cfg);
}

static void setup(void)
{
	char text[1024], err[CFG_ERR_MAX];

	snprintf(dir, sizeof(dir), "/tmp/meshdns_fuzz_zone.XXXXXX");
	check(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/local.zone", dir);
	snprintf(text, sizeof(text),
		 "listen: [\"127.0.0.1:0\"]\n"
		 "namespaces:\n"
		 "  - name: local\n"
		 "    zone: %s\n"
		 "    services:\n"
		 "      payments-v1:\n"
		 "        instances:\n"
		 "          - {id: a, address: 10.0.0.1, port: 5000}\n"
		 "      empty: {}\n"
		 "    routers:\n"
		 "      payments:\n"
		 "        routes: [{target: payments-v1, weight: 1}]\n", path);
	if (config_load_text(&cfg, "<fuzz>", text, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz setup failed: %s\n", err);
		abort();
	}
	log_set_level(LOG_ERR);
	atexit(cleanup);
}

static void check_zone(const struct zone *z, const uint8_t *origin)
{
	size_t soas = 0;

	check(z->n >= 1 && z->soa < z->n, "zone without its SOA");
	for (size_t i = 0; i < z->n; i++) {
		const struct zone_rr *r = &z->rrs[i];

		check(r->owner_len >= 1 && r->owner_len <= WIRE_NAME_MAX &&
		      wire_name_len(r->owner) == r->owner_len, "owner length");
		check(wire_name_in(r->owner, origin), "owner outside the origin");
		check(r->rclass == 1, "class other than IN");
		soas += r->type == 6;
	}
	check(soas == 1 && z->rrs[z->soa].type == 6 && wire_name_eq(z->rrs[z->soa].owner, origin),
	      "one SOA, at the origin");
}

/* Asks view v for (owner, type) over UDP; the answer must be a message. */
static void ask(const struct view *v, const uint8_t *owner, size_t olen, uint16_t type)
{
	static struct query_ctx q;
	static int q_ready;
	static uint8_t out[65536];
	uint8_t req[12 + WIRE_NAME_MAX + 4] = { 0x12, 0x34, 0x01, 0x00, 0, 1 };
	size_t n;

	if (!q_ready) {
		query_ctx_init(&q, 7);
		q_ready = 1;
	}
	memcpy(req + 12, owner, olen);
	req[12 + olen] = (uint8_t)(type >> 8), req[13 + olen] = (uint8_t)type;
	req[14 + olen] = 0, req[15 + olen] = 1;
	n = query_process(&q, v, req, 16 + olen, out, sizeof(out), 0);
	check(n >= 12 && n <= 1232 && out[0] == 0x12 && out[1] == 0x34, "answer to a zone name");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t origin[] = { 5, 'l', 'o', 'c', 'a', 'l', 0 };
	char err[CFG_ERR_MAX] = "";
	struct registry *reg;
	struct view *view;
	struct zone *z;
	int fd, rc;

	if (!cfg)
		setup();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	check(fd >= 0, "open zone file");
	check(write(fd, data, size) == (ssize_t)size, "write zone file");
	check(close(fd) == 0, "close zone file");

	rc = zone_load(&z, path, origin, 5, err, sizeof(err));
	if (rc < 0) {
		check(z == NULL && err[0] != '\0', "a failed load without a message");
		return 0;
	}
	check_zone(z, origin);
	if (registry_new(&reg, cfg, err, sizeof(err)) == 0) {
		check(view_build(&view, reg, 1) == 0, "view_build with the zone");
		for (size_t i = 0; i < z->n && i < 8; i++) {
			ask(view, z->rrs[i].owner, z->rrs[i].owner_len, z->rrs[i].type);
			ask(view, z->rrs[i].owner, z->rrs[i].owner_len, 255);
		}
		view_free(view);
		registry_free(reg);
	}
	zone_free(z);
	return 0;
}
