/* fuzz_query.c - libFuzzer target: any bytes as a query, over UDP and TCP,
 * against a view with services, a router, instances and a static zone. The
 * answer, when there is one, must be a well-formed DNS message: it is parsed
 * back with ldns, and a failure to parse aborts (a fuzzer-visible crash). */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include "config.h"
#include "query.h"
#include "registry.h"
#include "view.h"

static const char fuzz_config[] =
	"listen: [\"127.0.0.1:0\"]\n"
	"namespaces:\n"
	"  - name: local\n"
	"    services:\n"
	"      payments-v1:\n"
	"        instances:\n"
	"          - {id: a, address: 10.0.0.1, port: 5000, weight: 100, attributes: {az: a}}\n"
	"          - {id: b, address: [10.0.0.2, \"fd00::2\"], port: 5000, weight: 50}\n"
	"          - {id: c, address: \"fd00::3\", port: 5001, weight: 0}\n"
	"      payments-v2:\n"
	"        instances:\n"
	"          - {id: d, address: 10.0.0.4, port: 6000}\n"
	"      empty: {}\n"
	"    routers:\n"
	"      payments:\n"
	"        routes:\n"
	"          - {target: payments-v1, weight: 90}\n"
	"          - {target: payments-v2, weight: 10}\n"
	"  - name: mesh.example\n";

static struct view *view;
static struct query_ctx qctx;

static void setup(void)
{
	static struct config *cfg;
	static struct registry *reg;
	char err[CFG_ERR_MAX];

	if (config_load_text(&cfg, "<fuzz>", fuzz_config, err, sizeof(err)) < 0 ||
	    registry_new(&reg, cfg, err, sizeof(err)) < 0 || view_build(&view, reg, 1) < 0) {
		fprintf(stderr, "fuzz setup failed: %s\n", err);
		abort();
	}
	query_ctx_init(&qctx, 42);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[65536];

	if (!view)
		setup();
	for (int tcp = 0; tcp < 2; tcp++) {
		size_t n = query_process(&qctx, view, data, size, out, sizeof(out), tcp);
		ldns_pkt *pkt = NULL;

		if (!n)
			continue;
		if (n < 12 || (!tcp && n > 1232) || ldns_wire2pkt(&pkt, out, n) != LDNS_STATUS_OK)
			abort();
		ldns_pkt_free(pkt);
	}
	return 0;
}
