/* log.h - one line per event on stderr: "level component: message key=value".
 *
 * --log-format json writes the same events as JSON objects (log_set_format).
 * The level threshold is global and set once by main (-v raises it). Nothing
 * on the query path logs except at LOG_DEBUG, which is checked first. */
#ifndef MESHDNS_LOG_H
#define MESHDNS_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_threshold;

void log_set_level(int level);
/* "text" (the default: "level component: message key=value") or "json" (one
 * object a line: ts, level, component, msg and each key=value as a field).
 * Returns 0, or -1 for another name. */
int log_set_format(const char *name);
void log_msg(int level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_enabled(lvl) ((lvl) <= log_threshold)
#define log_err(comp, ...) log_msg(LOG_ERR, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_info(comp, ...) log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...) \
	do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, comp, __VA_ARGS__); } while (0)

#endif
