/* replay.c - TSIG replay cache (see replay.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "replay.h"

#define END UINT32_MAX

int replay_init(struct replay *r, uint32_t cap)
{
	memset(r, 0, sizeof(*r));
	if (!cap)
		return 0;
	r->nbuckets = 1;
	while (r->nbuckets < cap && r->nbuckets < (1u << 30))
		r->nbuckets <<= 1;
	r->ring = calloc(cap, sizeof(*r->ring));
	r->heads = malloc((size_t)r->nbuckets * sizeof(*r->heads));
	if (!r->ring || !r->heads) {
		replay_close(r);
		return -ENOMEM;
	}
	memset(r->heads, 0xff, (size_t)r->nbuckets * sizeof(*r->heads));
	r->cap = cap;
	return 0;
}

void replay_close(struct replay *r)
{
	free(r->ring);
	free(r->heads);
	memset(r, 0, sizeof(*r));
}

/* The MAC is an HMAC: its first bytes are as good a hash as any. */
static uint32_t bucket_of(const struct replay *r, const uint8_t *mac, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len && i < 8; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h & (r->nbuckets - 1);
}

static void unlink_ent(struct replay *r, uint32_t i)
{
	uint32_t *p = &r->heads[r->ring[i].bucket];

	while (*p != END && *p != i)
		p = &r->ring[*p].next;
	if (*p == i)
		*p = r->ring[i].next;
}

int replay_seen(struct replay *r, const uint8_t *mac, size_t len, uint64_t now, uint64_t expires)
{
	struct replay_ent *e;
	uint32_t b, i;

	if (!r->cap || !len)
		return 0;
	if (len > REPLAY_MAC_MAX)
		len = REPLAY_MAC_MAX;
	b = bucket_of(r, mac, len);
	for (i = r->heads[b]; i != END; i = r->ring[i].next) {
		e = &r->ring[i];
		if (e->len == len && !memcmp(e->mac, mac, len) && e->expires >= now)
			return 1;
	}
	i = r->next;
	r->next = (r->next + 1) % r->cap;
	e = &r->ring[i];
	if (e->expires) {
		if (e->expires >= now)
			r->overflows++;
		unlink_ent(r, i);
	}
	memcpy(e->mac, mac, len);
	e->len = (uint8_t)len;
	e->expires = expires ? expires : 1;
	e->bucket = b;
	e->next = r->heads[b];
	r->heads[b] = i;
	return 0;
}
