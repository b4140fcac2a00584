/* opts.c - meshdns-agent's flags and environment (see opts.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"
#include "log.h"
#include "opts.h"
#include "wire.h"

#ifndef MESHDNS_VERSION
#define MESHDNS_VERSION "dev"
#endif

enum {
	O_SERVER = 1, O_KEY_FILE, O_SERVICE, O_PORT, O_ID, O_ADDRESS, O_WEIGHT, O_ATTR, O_LEASE,
	O_CHECK, O_INTERVAL, O_TIMEOUT, O_HEALTHY, O_UNHEALTHY, O_DRAIN, O_VERBOSE, O_HELP, O_VERSION,
	O_LOG_FORMAT
};

static const struct option longopts[] = {
	{ "server", required_argument, NULL, O_SERVER },
	{ "key-file", required_argument, NULL, O_KEY_FILE },
	{ "service", required_argument, NULL, O_SERVICE },
	{ "port", required_argument, NULL, O_PORT },
	{ "id", required_argument, NULL, O_ID },
	{ "address", required_argument, NULL, O_ADDRESS },
	{ "weight", required_argument, NULL, O_WEIGHT },
	{ "attr", required_argument, NULL, O_ATTR },
	{ "lease", required_argument, NULL, O_LEASE },
	{ "check", required_argument, NULL, O_CHECK },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "healthy-threshold", required_argument, NULL, O_HEALTHY },
	{ "unhealthy-threshold", required_argument, NULL, O_UNHEALTHY },
	{ "drain", required_argument, NULL, O_DRAIN },
	{ "verbose", no_argument, NULL, O_VERBOSE },
	{ "help", no_argument, NULL, O_HELP },
	{ "version", no_argument, NULL, O_VERSION },
	{ "log-format", required_argument, NULL, O_LOG_FORMAT },
	{ NULL, 0, NULL, 0 }
};

static const char usage[] =
	"usage: meshdns-agent --server HOST[:PORT] --key-file FILE --service NAME --port PORT\n"
	"                     [--id ID] [--address auto|IP] [--weight 100] [--attr K=V]...\n"
	"                     [--lease 30] [--check http://IP:PORT/PATH | tcp://IP:PORT]\n"
	"                     [--interval 5] [--timeout 2] [--healthy-threshold 2]\n"
	"                     [--unhealthy-threshold 3] [--drain SECONDS] [-v]\n"
	"                     [--log-format text|json]\n"
	"                     [-- COMMAND ARGS...]\n"
	"Registers this task in meshdns by signed DNS UPDATE, renews its lease, reports\n"
	"health changes, and deregisters on SIGTERM/SIGINT. With -- COMMAND it runs the\n"
	"task, registers it once it is up, drains it on a stop signal and exits with its\n"
	"status. Every flag also reads MESHDNS_<FLAG> (e.g. MESHDNS_KEY_FILE); --attr reads\n"
	"MESHDNS_ATTR as a comma-separated list. The key file is what tsig-keygen writes,\n"
	"or one line ALGORITHM:NAME:SECRET.\n";

static int fail(char *err, size_t errlen, const char *what, const char *value, const char *want)
{
	snprintf(err, errlen, "--%s: invalid value \"%.200s\": %s", what, value, want);
	return OPTS_ERROR;
}

static int num(const char *v, double min, double max, double *out)
{
	char *end;
	double d;

	if (!*v)
		return -1;
	d = strtod(v, &end);
	if (*end || !(d >= min && d <= max))
		return -1;
	*out = d;
	return 0;
}

static int parse_check(struct agent_opts *o, const char *v, char *err, size_t errlen)
{
	char host[300];
	const char *rest;
	size_t hl;

	if (!strncmp(v, "http://", 7)) {
		o->hc.protocol = HC_HTTP;
		rest = v + 7;
	} else if (!strncmp(v, "tcp://", 6)) {
		o->hc.protocol = HC_TCP;
		rest = v + 6;
	} else {
		return fail(err, errlen, "check", v, "use http://IP:PORT/PATH or tcp://IP:PORT");
	}
	hl = strcspn(rest, "/");
	if (hl == 0 || hl >= sizeof(host))
		return fail(err, errlen, "check", v, "missing IP:PORT");
	memcpy(host, rest, hl);
	host[hl] = '\0';
	if (!strncmp(host, "localhost:", 10)) {
		char port[16];

		snprintf(port, sizeof(port), "%.15s", host + 10);
		snprintf(host, sizeof(host), "127.0.0.1:%s", port);
	}
	if (addr_parse(host, 0, &o->check_addr) < 0 || addr_port((struct sockaddr *)&o->check_addr) == 0)
		return fail(err, errlen, "check", v, "the host must be an IP address with a port");
	snprintf(o->hc.path, sizeof(o->hc.path), "%s", rest[hl] ? rest + hl : "/");
	if (o->hc.protocol == HC_TCP && rest[hl] && strcmp(rest + hl, "/"))
		return fail(err, errlen, "check", v, "tcp:// checks take no path");
	return 0;
}

static int add_attr(struct agent_opts *o, const char *v, char *err, size_t errlen)
{
	const char *eq = strchr(v, '=');

	if (!eq || eq == v || strpbrk(v, " \t") || strlen(v) > 255)
		return fail(err, errlen, "attr", v, "use KEY=VALUE (no spaces, at most 255 bytes)");
	if (!strncasecmp(v, "health=", 7))
		return fail(err, errlen, "attr", v, "health= is set by the health check");
	if (o->nattrs == AGENT_ATTRS_MAX)
		return fail(err, errlen, "attr", v, "at most 16 attributes");
	snprintf(o->attrs[o->nattrs++], sizeof(o->attrs[0]), "%s", v);
	return 0;
}

/* One option's value, from a flag or the environment. */
static int apply(struct agent_opts *o, int code, const char *v, char *err, size_t errlen)
{
	const char *name = longopts[code - 1].name;
	double d;

	switch (code) {
	case O_SERVER: {
		const char *colon = strrchr(v, ':');

		snprintf(o->server, sizeof(o->server), "%s", v);
		if (v[0] == '[' || (colon && !strchr(v, '.') && strchr(v, ':') != colon))
			return 0; /* an IPv6 form: addr_parse handles the port */
		if (colon) {
			if (num(colon + 1, 1, 65535, &d) < 0)
				return fail(err, errlen, name, v, "HOST[:PORT]");
			o->server_port = (uint16_t)d;
			o->server[colon - v] = '\0';
		}
		return 0;
	}
	case O_KEY_FILE: snprintf(o->key_file, sizeof(o->key_file), "%s", v); return 0;
	case O_SERVICE: snprintf(o->service, sizeof(o->service), "%s", v); return 0;
	case O_ID: snprintf(o->id, sizeof(o->id), "%.63s", v); return 0;
	case O_ADDRESS: snprintf(o->address, sizeof(o->address), "%s", v); return 0;
	case O_ATTR: return add_attr(o, v, err, errlen);
	case O_CHECK: return parse_check(o, v, err, errlen);
	case O_VERBOSE: o->verbose++; return 0;
	case O_LOG_FORMAT:
		return log_set_format(v) < 0 ? fail(err, errlen, name, v, "text or json") : 0;
	}
	if (num(v, 0, 1e9, &d) < 0)
		return fail(err, errlen, name, v, "a number");
	switch (code) {
	case O_PORT: if (d < 1 || d > 65535 || d != (int)d) return fail(err, errlen, name, v, "1..65535");
		o->port = (uint16_t)d; return 0;
	case O_WEIGHT: if (d > 65535 || d != (int)d) return fail(err, errlen, name, v, "0..65535");
		o->weight = (uint32_t)d; return 0;
	case O_LEASE: if (d > 31536000 || d != (int)d) return fail(err, errlen, name, v, "seconds");
		o->lease = (uint32_t)d; return 0;
	case O_INTERVAL: if (d < 0.1 || d > 3600) return fail(err, errlen, name, v, "0.1..3600 s");
		o->hc.interval_ms = (uint32_t)(d * 1000 + 0.5); return 0;
	case O_TIMEOUT: if (d < 0.1 || d > 3600) return fail(err, errlen, name, v, "0.1..3600 s");
		o->hc.timeout_ms = (uint32_t)(d * 1000 + 0.5); return 0;
	case O_HEALTHY: if (d < 1 || d > 100 || d != (int)d) return fail(err, errlen, name, v, "1..100");
		o->hc.healthy_threshold = (uint32_t)d; return 0;
	case O_UNHEALTHY: if (d < 1 || d > 100 || d != (int)d) return fail(err, errlen, name, v, "1..100");
		o->hc.unhealthy_threshold = (uint32_t)d; return 0;
	case O_DRAIN: if (d > 3600) return fail(err, errlen, name, v, "0..3600 s");
		o->drain_ms = (int)(d * 1000 + 0.5); return 0;
	}
	return OPTS_ERROR;
}

/* MESHDNS_KEY_FILE for key-file, and so on. */
static int from_env(struct agent_opts *o, char *err, size_t errlen)
{
	for (const struct option *lo = longopts; lo->name; lo++) {
		char var[64] = "MESHDNS_";
		const char *v;
		size_t n = strlen(var);

		if (lo->has_arg == no_argument)
			continue;
		for (const char *p = lo->name; *p && n < sizeof(var) - 1; p++)
			var[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		var[n] = '\0';
		if (!(v = getenv(var)) || !*v)
			continue;
		if (lo->val == O_ATTR) {
			char list[4096], *save = NULL;

			snprintf(list, sizeof(list), "%s", v);
			for (char *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save))
				if (add_attr(o, a, err, errlen) < 0)
					return OPTS_ERROR;
			continue;
		}
		if (apply(o, lo->val, v, err, errlen) < 0) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, " (from %s)", var);
			return OPTS_ERROR;
		}
	}
	return 0;
}

static void default_id(struct agent_opts *o)
{
	char host[256] = "";
	size_t n = 0;

	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	/* The first label of the host name, with anything not LDH made '-'. */
	for (const char *p = host; *p && *p != '.' && n < sizeof(o->id) - 1; p++)
		o->id[n++] = isalnum((unsigned char)*p) || *p == '-' ? (char)tolower((unsigned char)*p) : '-';
	o->id[n] = '\0';
	if (!n)
		snprintf(o->id, sizeof(o->id), "task-%d", (int)getpid());
}

/* service payments-v1.local -> label payments-v1, zone local */
static int split_service(struct agent_opts *o, char *err, size_t errlen)
{
	uint8_t w[WIRE_NAME_MAX];
	const char *dot = strchr(o->service, '.');

	if (!o->service[0] || !dot || dot == o->service || !dot[1] ||
	    wire_name_from_text(o->service, w) < 0 || w[0] >= sizeof(o->svc_label))
		return fail(err, errlen, "service", o->service, "use SERVICE.NAMESPACE, e.g. payments-v1.local");
	memcpy(o->svc_label, o->service, (size_t)(dot - o->service));
	o->svc_label[dot - o->service] = '\0';
	snprintf(o->zone, sizeof(o->zone), "%s", dot + 1);
	return 0;
}

static int validate(struct agent_opts *o, char *err, size_t errlen)
{
	if (!o->server[0] || !o->key_file[0] || !o->service[0] || !o->port) {
		snprintf(err, errlen, "--server, --key-file, --service and --port are required"
			 " (or MESHDNS_SERVER, MESHDNS_KEY_FILE, MESHDNS_SERVICE, MESHDNS_PORT)");
		return OPTS_ERROR;
	}
	if (split_service(o, err, errlen) < 0)
		return OPTS_ERROR;
	if (!o->id[0])
		default_id(o);
	if (!wire_label_valid(o->id, strlen(o->id)))
		return fail(err, errlen, "id", o->id, "a DNS label: letters, digits, '-', '_'");
	if (strcmp(o->address, "auto")) {
		uint8_t b[16];
		int fam;

		if (addr_parse_ip(o->address, &fam, b) < 0)
			return fail(err, errlen, "address", o->address, "auto, or an IPv4/IPv6 address");
	}
	if (o->hc.protocol != HC_NONE && o->hc.timeout_ms > o->hc.interval_ms) {
		snprintf(err, errlen, "--timeout %.3g s is longer than --interval %.3g s: a check must "
			 "end before the next one starts", o->hc.timeout_ms / 1000.0,
			 o->hc.interval_ms / 1000.0);
		return OPTS_ERROR;
	}
	return 0;
}

int opts_parse(struct agent_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->server_port = 53;
	o->weight = 100;
	o->lease = 30;
	o->drain_ms = -1;
	snprintf(o->address, sizeof(o->address), "auto");
	o->hc.interval_ms = 5000;
	o->hc.timeout_ms = 2000;
	o->hc.healthy_threshold = 2;
	o->hc.unhealthy_threshold = 3;
	if (from_env(o, err, errlen) < 0)
		return OPTS_ERROR;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+vhV", longopts, NULL)) != -1) {
		if (c == 'v')
			c = O_VERBOSE;
		if (c == 'h' || c == O_HELP) {
			fputs(usage, stdout);
			return OPTS_EXIT_OK;
		}
		if (c == 'V' || c == O_VERSION) {
			printf("meshdns-agent %s\n", MESHDNS_VERSION);
			return OPTS_EXIT_OK;
		}
		if (c == '?') {
			snprintf(err, errlen, "unknown option (see --help)");
			return OPTS_ERROR;
		}
		if (apply(o, c, optarg, err, errlen) < 0)
			return OPTS_ERROR;
	}
	if (optind < argc)
		o->cmd = argv + optind;
	return validate(o, err, errlen);
}
