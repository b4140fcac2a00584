/* checkmain.h - the end of every unit suite's main() (header only): runs
 * the given suites (a NULL-terminated list) and turns the failures into the
 * exit status that automake's test driver reads. */
#ifndef MESHDNS_CHECKMAIN_H
#define MESHDNS_CHECKMAIN_H

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>

static inline int check_run(Suite *first, ...)
{
	SRunner *sr = srunner_create(first);
	va_list ap;
	Suite *s;
	int failed;

	va_start(ap, first);
	while ((s = va_arg(ap, Suite *)))
		srunner_add_suite(sr, s);
	va_end(ap);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
