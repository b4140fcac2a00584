/* expo.h - the Prometheus text exposition format, version 0.0.4.
 *
 * A growing text buffer with one helper per line kind: HELP/TYPE headers,
 * samples with labels, and histograms. Counters live wherever their program
 * keeps them (plain integers on the event loop); a program renders them into
 * a struct expo on request, off the query path, so this module may allocate.
 * Histograms are the exception that hot paths feed: struct expo_hist is a
 * fixed array of per-bucket counts, and expo_hist_observe() is a short loop
 * with no allocation. Buckets are stored per bucket and made cumulative when
 * rendered, as the format wants (le="+Inf" equal to _count). */
#ifndef MESHDNS_EXPO_H
#define MESHDNS_EXPO_H

#include <stddef.h>
#include <stdint.h>

#define EXPO_HIST_MAX 16           /* finite bucket bounds at most */

struct expo {
	char *buf;
	size_t len, cap;
	int err;                       /* sticky: -ENOMEM once an append failed */
};

struct expo_hist {
	const double *le;              /* finite upper bounds, increasing, seconds */
	unsigned nle;
	uint64_t bucket[EXPO_HIST_MAX + 1];  /* [nle] counts those above every bound */
	uint64_t count;
	double sum;
};

void expo_init(struct expo *e);
/* Frees the buffer (e->buf may have been taken: set it NULL first). */
void expo_free(struct expo *e);
/* # HELP and # TYPE lines; type is "counter", "gauge" or "histogram". */
void expo_head(struct expo *e, const char *name, const char *type, const char *help);
/* name{labels} value; labels is the text between the braces, already
 * escaped (expo_label), or NULL / "" for none. */
void expo_u64(struct expo *e, const char *name, const char *labels, uint64_t v);
void expo_double(struct expo *e, const char *name, const char *labels, double v);
/* A series of one unlabelled sample: its HELP and TYPE lines, then v. */
void expo_one_u64(struct expo *e, const char *name, const char *type, const char *help,
		  uint64_t v);
void expo_one_double(struct expo *e, const char *name, const char *type, const char *help,
		     double v);
/* name_bucket{labels,le="..."} lines, then name_sum and name_count. */
void expo_histogram(struct expo *e, const char *name, const char *labels,
		    const struct expo_hist *h);
/* Writes key="value" into out (cap bytes) with \, " and newline escaped;
 * appends after what out holds, with a comma when it is not empty. Returns 0,
 * or -1 when it did not fit (out is then left as it was). */
int expo_label(char *out, size_t cap, const char *key, const char *value);

/* le: n increasing bounds (n <= EXPO_HIST_MAX), which must outlive h. */
void expo_hist_init(struct expo_hist *h, const double *le, unsigned n);
/* Records n observations of v seconds. */
void expo_hist_observe(struct expo_hist *h, double v, uint64_t n);

#endif
