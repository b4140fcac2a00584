/* expo.c - the Prometheus text exposition format (see expo.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "expo.h"

void expo_init(struct expo *e)
{
	memset(e, 0, sizeof(*e));
}

void expo_free(struct expo *e)
{
	free(e->buf);
	e->buf = NULL;
	e->len = e->cap = 0;
}

__attribute__((format(printf, 2, 3)))
static void put(struct expo *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int tries = 0; !e->err && tries < 2; tries++) {
		size_t room = e->cap - e->len;

		va_start(ap, fmt);
		n = vsnprintf(e->buf ? e->buf + e->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			e->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			e->len += (size_t)n;
			return;
		}
		size_t cap = e->cap ? e->cap : 4096;
		char *b;

		while (cap - e->len <= (size_t)n)
			cap *= 2;
		if (!(b = realloc(e->buf, cap))) {
			e->err = -ENOMEM;
			return;
		}
		e->buf = b;
		e->cap = cap;
	}
}

void expo_head(struct expo *e, const char *name, const char *type, const char *help)
{
	put(e, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *braces(const char *labels, const char **open, const char **close)
{
	int any = labels && labels[0];

	*open = any ? "{" : "";
	*close = any ? "}" : "";
	return any ? labels : "";
}

void expo_u64(struct expo *e, const char *name, const char *labels, uint64_t v)
{
	const char *o, *c, *l = braces(labels, &o, &c);

	put(e, "%s%s%s%s %llu\n", name, o, l, c, (unsigned long long)v);
}

void expo_one_u64(struct expo *e, const char *name, const char *type, const char *help,
		  uint64_t v)
{
	expo_head(e, name, type, help);
	expo_u64(e, name, NULL, v);
}

/* Text that reads back as v, and the format's +Inf/-Inf/NaN. */
static void fmt_double(char out[32], double v)
{
	if (isnan(v))
		snprintf(out, 32, "NaN");
	else if (isinf(v))
		snprintf(out, 32, v > 0 ? "+Inf" : "-Inf");
	else {
		snprintf(out, 32, "%.15g", v);   /* 0.00025, not 0.00025000000000000001 */
		if (strtod(out, NULL) != v)
			snprintf(out, 32, "%.17g", v);
	}
}

void expo_double(struct expo *e, const char *name, const char *labels, double v)
{
	const char *o, *c, *l = braces(labels, &o, &c);
	char num[32];

	fmt_double(num, v);
	put(e, "%s%s%s%s %s\n", name, o, l, c, num);
}

void expo_one_double(struct expo *e, const char *name, const char *type, const char *help,
		     double v)
{
	expo_head(e, name, type, help);
	expo_double(e, name, NULL, v);
}

void expo_histogram(struct expo *e, const char *name, const char *labels,
		    const struct expo_hist *h)
{
	const char *sep = labels && labels[0] ? "," : "";
	const char *l = labels ? labels : "";
	uint64_t cum = 0;
	char num[32];

	for (unsigned i = 0; i < h->nle; i++) {
		cum += h->bucket[i];
		fmt_double(num, h->le[i]);
		put(e, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, l, sep, num,
		    (unsigned long long)cum);
	}
	put(e, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep, (unsigned long long)h->count);
	fmt_double(num, h->sum);
	if (labels && labels[0]) {
		put(e, "%s_sum{%s} %s\n", name, l, num);
		put(e, "%s_count{%s} %llu\n", name, l, (unsigned long long)h->count);
	} else {
		put(e, "%s_sum %s\n", name, num);
		put(e, "%s_count %llu\n", name, (unsigned long long)h->count);
	}
}

int expo_label(char *out, size_t cap, const char *key, const char *value)
{
	size_t len = strnlen(out, cap), p;
	int n;

	if (len >= cap)
		return -1;
	n = snprintf(out + len, cap - len, "%s%s=\"", len ? "," : "", key);
	if (n < 0 || (size_t)n >= cap - len)
		goto full;
	p = len + (size_t)n;
	for (const char *s = value; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
		size_t k = esc ? 2 : 1;

		if (p + k + 2 > cap)
			goto full;
		if (esc)
			memcpy(out + p, esc, 2);
		else
			out[p] = *s;
		p += k;
	}
	if (p + 2 > cap)
		goto full;
	out[p++] = '"';
	out[p] = 0;
	return 0;
full:
	out[len] = 0;
	return -1;
}

void expo_hist_init(struct expo_hist *h, const double *le, unsigned n)
{
	memset(h, 0, sizeof(*h));
	h->le = le;
	h->nle = n > EXPO_HIST_MAX ? EXPO_HIST_MAX : n;
}

void expo_hist_observe(struct expo_hist *h, double v, uint64_t n)
{
	unsigned i = 0;

	while (i < h->nle && v > h->le[i])
		i++;
	h->bucket[i] += n;
	h->count += n;
	h->sum += v * (double)n;
}
