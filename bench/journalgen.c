/* journalgen.c - writes a meshdns journal of N records for bench/startup.sh.
 *
 * The journal is what a server that never got to compact would replay after
 * a crash: INSTANCES live instances spread over SERVICES services (svc0 ...)
 * of namespace local., each registered, then re-registered with a new health
 * or weight, until N records are written. Every UPDATE client does this (a
 * renewal is a re-registration), so replaying it exercises the same replace
 * path as the live server. Records are appended in batches through the
 * resolver's own journal code, so the format is the real one.
 *
 *   journalgen DIR RECORDS INSTANCES SERVICES
 * Built by bench/startup.sh against the build tree's libraries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "journal.h"

#define BATCH 1024

static int no_replay(void *arg, const struct jrec *r)
{
	(void)arg;
	(void)r;
	return 0;
}

int main(int argc, char **argv)
{
	struct journal *j;
	char err[512];
	static struct jrec recs[BATCH];
	static const uint8_t ns[] = { 5, 'l', 'o', 'c', 'a', 'l', 0 };
	static const uint8_t attrs[] = { 4, 'a', 'z', '=', 'a' };
	unsigned long total, inst, svcs, i;
	size_t n = 0;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: journalgen DIR RECORDS INSTANCES SERVICES\n");
		return 2;
	}
	total = strtoul(argv[2], NULL, 10);
	inst = strtoul(argv[3], NULL, 10);
	svcs = strtoul(argv[4], NULL, 10);
	if (!total || !inst || !svcs || inst > 16777216) {
		fprintf(stderr, "journalgen: RECORDS, INSTANCES and SERVICES must be positive\n");
		return 2;
	}
	rc = journal_open(&j, argv[1], 0, no_replay, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "journalgen: %s\n", err);
		return 1;
	}
	for (i = 0; i < total; i++) {
		struct jrec *r = &recs[n++];
		unsigned long k = i % inst;     /* instance k, written i / inst + 1 times */
		unsigned long round = i / inst;

		memset(r, 0, sizeof(*r));
		r->op = JOURNAL_PUT;
		memcpy(r->ns, ns, sizeof(ns));
		r->ns_len = sizeof(ns);
		snprintf(r->svc, sizeof(r->svc), "svc%lu", k % svcs);
		snprintf(r->id, sizeof(r->id), "i%lu", k);
		r->has4 = 1;
		r->addr4[0] = 10;
		r->addr4[1] = (uint8_t)(k >> 16);
		r->addr4[2] = (uint8_t)(k >> 8);
		r->addr4[3] = (uint8_t)k;
		r->port = 8080;
		r->weight = (uint16_t)(100 + round % 7);
		r->health = 0;                  /* HEALTH_HEALTHY */
		r->origin = 1;                  /* ORIGIN_UPDATE */
		r->attrs = attrs;
		r->attrs_len = sizeof(attrs);
		if (n == BATCH || i + 1 == total) {
			rc = journal_append(j, recs, n);
			if (rc < 0) {
				fprintf(stderr, "journalgen: append: error %d\n", rc);
				journal_close(j);
				return 1;
			}
			n = 0;
		}
	}
	rc = journal_sync(j);
	journal_close(j);
	if (rc < 0) {
		fprintf(stderr, "journalgen: sync: error %d\n", rc);
		return 1;
	}
	return 0;
}
