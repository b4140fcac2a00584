/* opts.c - meshdns-forward's flags and config file (see opts.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "log.h"
#include "opts.h"
#include "wire.h"
#include "ydoc.h"

#ifndef MESHDNS_VERSION
#define MESHDNS_VERSION "dev"
#endif

/* The order of longopts and file_keys: the file keys are F_LISTEN..F_METRICS. */
enum { F_LISTEN = 1, F_DNS, F_CONNECT, F_IDLE, F_RETRIES, F_MAXCONN, F_DRAIN, F_CONSEC,
       F_EJECT, F_EJECT_MAX, F_EJECT_PCT, F_METRICS, F_CONFIG, F_VERBOSE, F_HELP, F_VERSION,
       F_LOG_FORMAT };

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, F_LISTEN },
	{ "dns", required_argument, NULL, F_DNS },
	{ "connect-timeout", required_argument, NULL, F_CONNECT },
	{ "idle-timeout", required_argument, NULL, F_IDLE },
	{ "retries", required_argument, NULL, F_RETRIES },
	{ "max-connections", required_argument, NULL, F_MAXCONN },
	{ "drain-timeout", required_argument, NULL, F_DRAIN },
	{ "consecutive-failures", required_argument, NULL, F_CONSEC },
	{ "ejection-time", required_argument, NULL, F_EJECT },
	{ "max-ejection-time", required_argument, NULL, F_EJECT_MAX },
	{ "max-ejection-percent", required_argument, NULL, F_EJECT_PCT },
	{ "metrics", required_argument, NULL, F_METRICS },
	{ "config", required_argument, NULL, F_CONFIG },
	{ "verbose", no_argument, NULL, F_VERBOSE },
	{ "help", no_argument, NULL, F_HELP },
	{ "version", no_argument, NULL, F_VERSION },
	{ "log-format", required_argument, NULL, F_LOG_FORMAT },
	{ NULL, 0, NULL, 0 }
};

/* YAML keys, in the order of the F_* codes from F_LISTEN. */
static const char *const file_keys[] = { "listen", "dns", "connect_timeout", "idle_timeout",
	"retries", "max_connections", "drain_timeout", "consecutive_failures",
	"ejection_time", "max_ejection_time", "max_ejection_percent", "metrics", NULL };

static const char usage[] =
	"usage: meshdns-forward --listen ADDR:PORT=NAME [--listen ...] [--dns ADDR:PORT]\n"
	"       [--connect-timeout 1] [--idle-timeout 300] [--retries 2]\n"
	"       [--max-connections 10000] [--drain-timeout 30] [--consecutive-failures 3]\n"
	"       [--ejection-time 5] [--max-ejection-time 300] [--max-ejection-percent 50]\n"
	"       [--metrics ADDR:PORT] [-c FILE] [-v] [--log-format text|json]\n"
	"Forwards each TCP connection accepted on ADDR:PORT to an endpoint of the SRV\n"
	"records of NAME, picked by their weights (RFC 2782), retrying another endpoint\n"
	"when a connect fails and ejecting endpoints that keep failing. Times in seconds.\n"
	"SIGTERM drains, SIGHUP re-reads the config file, SIGUSR1 logs the counters;\n"
	"--metrics serves them to Prometheus at http://ADDR:PORT/metrics.\n";

static int bad(char *err, size_t errlen, const char *where, const char *what, const char *v)
{
	snprintf(err, errlen, "%s%s: invalid value \"%.200s\"", where, what, v);
	return FWD_OPTS_ERROR;
}

static int set_listen(struct fwd_opts *o, const char *v, const char *where, char *err, size_t errlen)
{
	const char *eq = strchr(v, '=');
	char addr[128];
	uint8_t w[WIRE_NAME_MAX];
	struct fwd_listen *l;

	if (o->nlisten == FWD_LISTEN_MAX) {
		snprintf(err, errlen, "%sat most %d listeners", where, FWD_LISTEN_MAX);
		return FWD_OPTS_ERROR;
	}
	l = &o->listen[o->nlisten];
	if (!eq || (size_t)(eq - v) >= sizeof(addr) || !eq[1] || strlen(eq + 1) >= sizeof(l->name))
		return bad(err, errlen, where, "listen (want ADDR:PORT=NAME)", v);
	memcpy(addr, v, (size_t)(eq - v));
	addr[eq - v] = '\0';
	if (addr_parse(addr, 0, &l->addr) < 0 || wire_name_from_text(eq + 1, w) < 0)
		return bad(err, errlen, where, "listen (want ADDR:PORT=NAME)", v);
	snprintf(l->name, sizeof(l->name), "%s", eq + 1);
	o->nlisten++;
	return 0;
}

static int set(struct fwd_opts *o, int code, const char *v, const char *where, char *err, size_t errlen)
{
	char *end;
	double d;

	if (code == F_LISTEN)
		return set_listen(o, v, where, err, errlen);
	if (code == F_DNS) {
		struct sockaddr_storage ss;

		if (addr_parse(v, 53, &ss) < 0 || strlen(v) >= sizeof(o->dns))
			return bad(err, errlen, where, "dns (want IP[:PORT])", v);
		snprintf(o->dns, sizeof(o->dns), "%s", v);
		return 0;
	}
	if (code == F_METRICS) {
		if (addr_parse(v, 9153, &o->metrics) < 0)
			return bad(err, errlen, where, "metrics (want IP[:PORT])", v);
		o->has_metrics = 1;
		return 0;
	}
	d = strtod(v, &end);
	if (!*v || *end || d < 0 || d > 1e7)
		return bad(err, errlen, where, longopts[code - 1].name, v);
	switch (code) {
	case F_CONNECT: o->connect_timeout_ms = (uint32_t)(d * 1000 + 0.5); break;
	case F_IDLE: o->idle_timeout_ms = (uint32_t)(d * 1000 + 0.5); break;
	case F_DRAIN: o->drain_timeout_ms = (uint32_t)(d * 1000 + 0.5); break;
	case F_RETRIES: o->retries = (uint32_t)d; break;
	case F_MAXCONN: o->max_connections = (uint32_t)d; break;
	case F_CONSEC: o->outlier.consecutive_failures = (uint32_t)d; break;
	case F_EJECT: o->outlier.base_ejection_ms = (uint32_t)(d * 1000 + 0.5); break;
	case F_EJECT_MAX: o->outlier.max_ejection_ms = (uint32_t)(d * 1000 + 0.5); break;
	case F_EJECT_PCT:
		if (d > 100)
			return bad(err, errlen, where, "max-ejection-percent (0..100)", v);
		o->outlier.max_ejection_percent = (uint32_t)d;
		break;
	}
	if ((code == F_CONNECT || code == F_IDLE) && d < 0.001)
		return bad(err, errlen, where, longopts[code - 1].name, v);
	return 0;
}

static int load_file(struct fwd_opts *o, const char *file, int keep_listeners, char *err, size_t errlen)
{
	struct ydoc *doc;
	const struct ydoc_node *m;
	char where[4200];
	int rc = 0;

	if (ydoc_load(&doc, file, NULL, err, errlen) < 0)
		return FWD_OPTS_ERROR;
	m = doc->root;
	if (!m || m->kind != YDOC_MAP) {
		snprintf(err, errlen, "%s: the config must be a mapping of settings", file);
		ydoc_free(doc);
		return FWD_OPTS_ERROR;
	}
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		const struct ydoc_node *k = ydoc_key(m, i), *v = ydoc_val(m, i);
		int code = 0;

		for (int j = 0; file_keys[j]; j++)
			if (k->kind == YDOC_SCALAR && !strcmp(k->value, file_keys[j]))
				code = F_LISTEN + j;
		snprintf(where, sizeof(where), "%s:%d:%d: ", file, v->line, v->col);
		if (!code) {
			snprintf(err, errlen, "%s:%d:%d: unknown key \"%s\"", file, k->line, k->col,
				 k->kind == YDOC_SCALAR ? k->value : "?");
			rc = FWD_OPTS_ERROR;
		} else if (code == F_LISTEN) {
			if (v->kind != YDOC_SEQ) {
				rc = bad(err, errlen, where, "listen (want a list)", "");
				break;
			}
			for (size_t j = 0; j < v->n && rc == 0 && !keep_listeners; j++) {
				const struct ydoc_node *it = v->items[j];

				snprintf(where, sizeof(where), "%s:%d:%d: ", file, it->line, it->col);
				rc = it->kind == YDOC_SCALAR ? set(o, code, it->value, where, err, errlen)
							    : bad(err, errlen, where, "listen", "");
			}
		} else {
			rc = v->kind == YDOC_SCALAR ? set(o, code, v->value, where, err, errlen)
						   : bad(err, errlen, where, k->value, "");
		}
	}
	ydoc_free(doc);
	return rc;
}

static void defaults(struct fwd_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = 1000;
	o->idle_timeout_ms = 300000;
	o->drain_timeout_ms = 30000;
	o->retries = 2;
	o->max_connections = 10000;
	o->outlier.consecutive_failures = 3;
	o->outlier.base_ejection_ms = 5000;
	o->outlier.max_ejection_ms = 300000;
	o->outlier.max_ejection_percent = 50;
}

/* The flags, applied over whatever is in o. */
static int apply_flags(struct fwd_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
		if (c == 'c' || c == F_CONFIG || c == 'v' || c == F_VERBOSE || c == F_LOG_FORMAT)
			continue;
		if (c == '?' || c == 'h' || c == 'V' || c == F_HELP || c == F_VERSION) {
			snprintf(err, errlen, "unknown option (see --help)");
			return FWD_OPTS_ERROR;
		}
		if (set(o, c, optarg, "--", err, errlen) < 0)
			return FWD_OPTS_ERROR;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%.200s\"", argv[optind]);
		return FWD_OPTS_ERROR;
	}
	return 0;
}

int fwd_opts_parse(struct fwd_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	int c;

	defaults(o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
		if (c == 'h' || c == F_HELP) {
			fputs(usage, stdout);
			return FWD_OPTS_EXIT;
		}
		if (c == 'V' || c == F_VERSION) {
			printf("meshdns-forward %s\n", MESHDNS_VERSION);
			return FWD_OPTS_EXIT;
		}
		if (c == 'c' || c == F_CONFIG)
			snprintf(o->config_file, sizeof(o->config_file), "%s", optarg);
		if (c == 'v' || c == F_VERBOSE)
			o->verbose++;
		if (c == F_LOG_FORMAT && log_set_format(optarg) < 0) {
			snprintf(err, errlen, "--log-format: invalid value \"%.200s\" (want text or json)",
				 optarg);
			return FWD_OPTS_ERROR;
		}
	}
	if (o->config_file[0] && load_file(o, o->config_file, 0, err, errlen) < 0)
		return FWD_OPTS_ERROR;
	if (apply_flags(o, argc, argv, err, errlen) < 0)
		return FWD_OPTS_ERROR;
	if (o->nlisten == 0) {
		snprintf(err, errlen, "nothing to do: give at least one --listen ADDR:PORT=NAME");
		return FWD_OPTS_ERROR;
	}
	return 0;
}

int fwd_opts_reload(struct fwd_opts *o, char *err, size_t errlen)
{
	struct fwd_opts n = *o;

	if (!o->config_file[0])
		return 0;
	if (load_file(&n, o->config_file, 1, err, errlen) < 0)
		return FWD_OPTS_ERROR;
	n.has_metrics = o->has_metrics;   /* the listener stays until a restart */
	n.metrics = o->metrics;
	*o = n;
	return 0;
}
