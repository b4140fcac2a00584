/* fuzz_config.c - libFuzzer target: any bytes as the resolver's YAML config
 * (config_load_text, the loader behind config_load and `meshdns -t`). A
 * config that loads and names no zone file is then built into a registry
 * and a view, the way a start or a SIGHUP does, so the values the loader
 * lets through are exercised too. Zone files are left out: a fuzzed path
 * could name any file on the machine (fuzz_zone covers the zone loader).
 * A failure must say why, as "file:line:col: message". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"
#include "registry.h"
#include "view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_config: %s\n", what);
		abort();
	}
}

static int has_zone(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nnamespaces; i++)
		if (cfg->namespaces[i].zone)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	char err[CFG_ERR_MAX] = "";
	struct config *cfg = NULL;
	struct registry *reg;
	struct view *view;
	char *text;
	int rc;

	if (!init) {
		log_set_level(LOG_ERR);
		init = 1;
	}
	if (!(text = malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = config_load_text(&cfg, "/fuzz/config.yaml", text, err, sizeof(err));
	free(text);
	if (rc < 0) {
		check(cfg == NULL, "a failed load returned a config");
		check(strncmp(err, "/fuzz/config.yaml", 17) == 0 || rc == -12,
		      "an error without file:line:col");
		return 0;
	}
	check(cfg && cfg->nlisten >= 1 && cfg->nnamespaces >= 1, "loaded config invariants");
	if (!has_zone(cfg) && registry_new(&reg, cfg, err, sizeof(err)) == 0) {
		check(view_build(&view, reg, 1) == 0, "view_build of a loaded config");
		view_free(view);
		registry_free(reg);
	}
	config_free(cfg);
	return 0;
}
