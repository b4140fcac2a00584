/* main.c - meshdns-agent: flags, then the event loop (agent.c). */
#include <stdio.h>
#include "agent.h"
#include "log.h"
#include "opts.h"

int main(int argc, char **argv)
{
	struct agent_opts o;
	char err[512];
	int rc = opts_parse(&o, argc, argv, err, sizeof(err));

	if (rc == OPTS_EXIT_OK)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "meshdns-agent: %s\n", err);
		return 2;
	}
	log_set_level(LOG_INFO + o.verbose);
	return agent_run(&o);
}
