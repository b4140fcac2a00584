/* nametab.h - open-addressing hash table from domain names to pointers.
 *
 * Keys are lower-cased uncompressed wire names owned by the caller (they must
 * outlive the table). Lookups do not allocate, so the query path can use it.
 * The table is sized once for its final count (it never shrinks and grows by
 * doubling), with a load factor of at most 1/2 to keep probe chains short. */
#ifndef MESHDNS_NAMETAB_H
#define MESHDNS_NAMETAB_H

#include <stddef.h>
#include <stdint.h>

struct nametab_slot {
	const uint8_t *key;
	uint32_t hash;
	uint8_t len;
	void *value;
};

struct nametab {
	struct nametab_slot *slots;
	size_t cap;   /* power of two */
	size_t n;
};

int nametab_init(struct nametab *t, size_t expected);
void nametab_close(struct nametab *t);
/* Inserts key -> value; ERR_EXISTS if present, -ENOMEM on growth failure. */
int nametab_put(struct nametab *t, const uint8_t *key, size_t len, void *value);
/* The same with hash = wire_name_hash(key, len), known already (a lookup
 * that missed computed it). */
int nametab_put_hashed(struct nametab *t, const uint8_t *key, size_t len, uint32_t hash,
		       void *value);
/* key must be lower-cased; hash is wire_name_hash(key, len). */
void *nametab_get(const struct nametab *t, const uint8_t *key, size_t len, uint32_t hash);
void *nametab_find(const struct nametab *t, const uint8_t *key, size_t len);
/* Removes key; returns its value or NULL. */
void *nametab_del(struct nametab *t, const uint8_t *key, size_t len);

#endif
