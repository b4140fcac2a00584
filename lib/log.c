/* log.c - line-oriented logging to stderr (see log.h). */
#include <stdarg.h>
#include <stdio.h>
#include "log.h"

int log_threshold = LOG_INFO;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_set_level(int level)
{
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_threshold = level;
}

void log_msg(int level, const char *component, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	n = snprintf(line, sizeof(line), "%s %s: ", level_names[level], component);
	if (n < 0)
		return;
	va_start(ap, fmt);
	if ((size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent writers do not interleave. */
	fprintf(stderr, "%s\n", line);
}
