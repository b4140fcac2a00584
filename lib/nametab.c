/* nametab.c - name -> pointer hash table with linear probing (see nametab.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "nametab.h"
#include "wire.h"

int nametab_init(struct nametab *t, size_t expected)
{
	size_t cap = 16;

	while (cap < expected * 2)
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->cap = cap;
	t->n = 0;
	return 0;
}

void nametab_close(struct nametab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->n = 0;
}

static size_t probe(const struct nametab *t, const uint8_t *key, size_t len, uint32_t hash)
{
	size_t mask = t->cap - 1, i = hash & mask;

	while (t->slots[i].key) {
		const struct nametab_slot *s = &t->slots[i];

		if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0)
			return i;
		i = (i + 1) & mask;
	}
	return i;
}

static int grow(struct nametab *t)
{
	struct nametab old = *t;

	if (nametab_init(t, old.cap) < 0) {
		*t = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++) {
		struct nametab_slot *s = &old.slots[i];

		if (s->key)
			t->slots[probe(t, s->key, s->len, s->hash)] = *s;
	}
	t->n = old.n;
	free(old.slots);
	return 0;
}

int nametab_put(struct nametab *t, const uint8_t *key, size_t len, void *value)
{
	return nametab_put_hashed(t, key, len, wire_name_hash(key, len), value);
}

int nametab_put_hashed(struct nametab *t, const uint8_t *key, size_t len, uint32_t hash,
		       void *value)
{
	size_t i;

	if ((t->n + 1) * 2 > t->cap && grow(t) < 0)
		return -ENOMEM;
	i = probe(t, key, len, hash);
	if (t->slots[i].key)
		return ERR_EXISTS;
	t->slots[i].key = key;
	t->slots[i].len = (uint8_t)len;
	t->slots[i].hash = hash;
	t->slots[i].value = value;
	t->n++;
	return 0;
}

void *nametab_get(const struct nametab *t, const uint8_t *key, size_t len, uint32_t hash)
{
	size_t i;

	if (!t->cap)
		return NULL;
	i = probe(t, key, len, hash);
	return t->slots[i].key ? t->slots[i].value : NULL;
}

void *nametab_find(const struct nametab *t, const uint8_t *key, size_t len)
{
	return nametab_get(t, key, len, wire_name_hash(key, len));
}

void *nametab_del(struct nametab *t, const uint8_t *key, size_t len)
{
	size_t mask = t->cap - 1, i, j;
	void *value;

	if (!t->cap)
		return NULL;
	i = probe(t, key, len, wire_name_hash(key, len));
	if (!t->slots[i].key)
		return NULL;
	value = t->slots[i].value;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	for (j = (i + 1) & mask; t->slots[j].key; j = (j + 1) & mask) {
		size_t home = t->slots[j].hash & mask;

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	t->n--;
	return value;
}
