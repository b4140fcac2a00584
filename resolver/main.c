/* main.c - meshdns: command-line flags, then the daemon (daemon.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "daemon.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meshdns [-c FILE] [-t] [-v]... [--recover] [--log-format text|json]\n"
		"  -c FILE   configuration file (YAML); without it, the embedded default:\n"
		"            namespace local., listening on 127.0.0.1:53 and [::1]:53\n"
		"  -t        check the configuration and zone files, then exit (0 = valid)\n"
		"  -v        debug logging: per-query and per-connection events\n"
		"  -q        less logging (errors only)\n"
		"  --recover start even if the journal is corrupt, dropping the bad record\n"
		"            and everything after it (the message names the offset)\n"
		"  --log-format text|json\n"
		"            log lines as text (default) or one JSON object a line\n"
		"  -V        print the version\n"
		"  -h        this help\n"
		"signals: SIGHUP reloads config and zones, SIGTERM/SIGINT stop\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recover", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "log-format", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon_opts opts = { 0 };
	int c, level = LOG_INFO;

	while ((c = getopt_long(argc, argv, "c:tvqVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opts.config_file = optarg; break;
		case 't': opts.check_only = 1; break;
		case 'R': opts.recover = 1; break;
		case 'L':
			if (log_set_format(optarg) < 0) {
				fprintf(stderr, "meshdns: --log-format: \"%s\" is neither text nor json\n",
					optarg);
				return 2;
			}
			break;
		case 'v': level++; break;
		case 'q': level = LOG_ERR; break;
		case 'V': printf("meshdns %s\n", MESHDNS_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "meshdns: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	log_set_level(level);
	return daemon_run(&opts);
}
