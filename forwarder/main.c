/* main.c - meshdns-forward: flags, then the event loop (forward.c). */
#include <stdio.h>
#include "forward.h"
#include "log.h"
#include "opts.h"

int main(int argc, char **argv)
{
	static struct fwd_opts o;
	char err[512];
	int rc = fwd_opts_parse(&o, argc, argv, err, sizeof(err));

	if (rc == FWD_OPTS_EXIT)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "meshdns-forward: %s\n", err);
		return 2;
	}
	log_set_level(LOG_INFO + o.verbose);
	return forward_run(&o);
}
