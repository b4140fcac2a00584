/* log.c - line-oriented logging to stderr (see log.h).
 *
 * Callers write "message key=value ..."; the json format turns each
 * key=value word into a field (a key given twice, like listen=, becomes an
 * array) and the other words into "msg", so callers need not know the format. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "log.h"

int log_threshold = LOG_INFO;
static int log_json;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_set_level(int level)
{
	if (level < LOG_ERR)
		level = LOG_ERR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_threshold = level;
}

int log_set_format(const char *name)
{
	if (!strcmp(name, "text"))
		log_json = 0;
	else if (!strcmp(name, "json"))
		log_json = 1;
	else
		return -1;
	return 0;
}

/* A bounded string builder: output past the end is dropped. */
struct sb {
	char *p;
	size_t len, cap;
};

static void sb_putc(struct sb *b, char c)
{
	if (b->len + 1 < b->cap)
		b->p[b->len++] = c;
}

static void sb_puts(struct sb *b, const char *s)
{
	while (*s)
		sb_putc(b, *s++);
}

/* JSON string body of s[0..n) (RFC 8259 7); surrounding quotes not written. */
static void sb_json(struct sb *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)c);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			sb_puts(b, esc);
		} else {
			sb_putc(b, (char)c);
		}
	}
}

/* Length of the word at s: up to a blank, a quoted value ("...") whole. */
static size_t word_len(const char *s)
{
	size_t i = 0;
	int quoted = 0;

	for (; s[i] && (quoted || s[i] != ' '); i++) {
		if (s[i] == '"' && (i == 0 || s[i - 1] != '\\'))
			quoted = !quoted;
	}
	return i;
}

/* Length of the key when the word is key=value with key [a-z_][a-z0-9_]*. */
static size_t key_len(const char *w, size_t n)
{
	size_t i = 0;

	if (n == 0 || !((w[0] >= 'a' && w[0] <= 'z') || w[0] == '_'))
		return 0;
	while (i < n && ((w[i] >= 'a' && w[i] <= 'z') || (w[i] >= '0' && w[i] <= '9') ||
			 w[i] == '_'))
		i++;
	return i < n && w[i] == '=' ? i : 0;
}

static void json_value(struct sb *b, const char *v, size_t n)
{
	sb_putc(b, '"');
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
		sb_json(b, v + 1, n - 2);
	else
		sb_json(b, v, n);
	sb_putc(b, '"');
}

static void format_json(struct sb *b, int level, const char *component, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char t[40];
	const char *w;
	int first = 1;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm) ||
	    !strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(t, sizeof(t), "1970-01-01T00:00:00");
	sb_puts(b, "{\"ts\":\"");
	sb_puts(b, t);
	snprintf(t, sizeof(t), ".%03ldZ\",\"level\":\"", ts.tv_nsec / 1000000);
	sb_puts(b, t);
	sb_puts(b, level_names[level]);
	sb_puts(b, "\",\"component\":\"");
	sb_json(b, component, strlen(component));
	sb_puts(b, "\",\"msg\":\"");
	for (w = msg; *w;) {
		size_t n = word_len(w);

		if (n && !key_len(w, n)) {
			if (!first)
				sb_putc(b, ' ');
			sb_json(b, w, n);
			first = 0;
		}
		w += n;
		while (*w == ' ')
			w++;
	}
	sb_putc(b, '"');
	/* Fields, in order of first appearance; a repeated key is an array. */
	for (w = msg; *w;) {
		size_t n = word_len(w), k = key_len(w, n), count = 0, seen = 0;

		for (const char *x = msg; k && x < w;) {
			size_t xn = word_len(x);

			seen |= key_len(x, xn) == k && !memcmp(x, w, k);
			x += xn;
			while (*x == ' ')
				x++;
		}
		for (const char *x = w; k && !seen && *x;) {
			size_t xn = word_len(x);

			count += key_len(x, xn) == k && !memcmp(x, w, k);
			x += xn;
			while (*x == ' ')
				x++;
		}
		if (k && !seen) {
			sb_puts(b, ",\"");
			sb_json(b, w, k);
			sb_puts(b, "\":");
			if (count > 1)
				sb_putc(b, '[');
			for (const char *x = w, *sep = ""; *x;) {
				size_t xn = word_len(x);

				if (key_len(x, xn) == k && !memcmp(x, w, k)) {
					sb_puts(b, sep);
					json_value(b, x + k + 1, xn - k - 1);
					sep = ",";
				}
				x += xn;
				while (*x == ' ')
					x++;
			}
			if (count > 1)
				sb_putc(b, ']');
		}
		w += n;
		while (*w == ' ')
			w++;
	}
	/* Room for the closing brace is kept even when the line was cut. */
	if (b->len + 2 > b->cap)
		b->len = b->cap - 2;
	b->p[b->len++] = '}';
	b->p[b->len] = 0;
}

void log_msg(int level, const char *component, const char *fmt, ...)
{
	char msg[1024], line[2048];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_json) {
		struct sb b = { line, 0, sizeof(line) };

		format_json(&b, level, component, msg);
	} else {
		snprintf(line, sizeof(line), "%s %s: %s", level_names[level], component, msg);
	}
	/* One fprintf per line so concurrent writers do not interleave. */
	fprintf(stderr, "%s\n", line);
}
