/* wire.h - bounded reading and writing of DNS wire data, and domain names.
 *
 * A struct wire is a cursor over a buffer with a sticky error: every read and
 * write checks bounds, the first failure sets err and makes every later call a
 * no-op, and the caller checks err once at the end (the pattern of Knot's
 * wire_ctx). Nothing here allocates.
 *
 * Names are kept in uncompressed wire form (length-prefixed labels ending in
 * the root label), at most WIRE_NAME_MAX bytes. "Canonical" names are
 * lower-cased (RFC 4034 6.2) so they can be hashed and compared with memcmp. */
#ifndef MESHDNS_WIRE_H
#define MESHDNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_NAME_MAX 255
#define WIRE_LABEL_MAX 63
/* Longest presentation form: every byte escaped as \DDD plus dots. */
#define WIRE_NAME_TEXT_MAX (WIRE_NAME_MAX * 4 + 2)

struct wire {
	uint8_t *base;  /* start of the message (compression pointers are relative to it) */
	size_t pos;     /* next byte to read or write */
	size_t end;     /* one past the last usable byte */
	int err;        /* 0, or the first error (ERR_MALFORMED reading, ERR_SPACE writing) */
};

void wire_init(struct wire *w, uint8_t *buf, size_t len);
/* Read-only view over const data; the cursor never writes through it. */
void wire_init_ro(struct wire *w, const uint8_t *buf, size_t len);

static inline size_t wire_left(const struct wire *w) { return w->err ? 0 : w->end - w->pos; }

uint8_t wire_u8(struct wire *w);
uint16_t wire_u16(struct wire *w);
uint32_t wire_u32(struct wire *w);
void wire_read(struct wire *w, void *dst, size_t n);
void wire_skip(struct wire *w, size_t n);

/* Big-endian fields at a place the caller has already bounded (a header,
 * a precompiled tail), without a cursor. */
static inline void wire_set16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wire_set32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void wire_put_u8(struct wire *w, uint8_t v);
void wire_put_u16(struct wire *w, uint16_t v);
void wire_put_u32(struct wire *w, uint32_t v);
void wire_put(struct wire *w, const void *src, size_t n);
/* Writes a big-endian u16 at an absolute offset already written. */
void wire_poke_u16(struct wire *w, size_t at, uint16_t v);

/* Reads a possibly compressed name at the cursor into out (uncompressed,
 * lower-cased when lower != 0). Pointers must point strictly backwards, so
 * loops are impossible, and a name may follow at most 127 of them.
 * Returns the name length, or sets w->err and returns 0. */
size_t wire_name_read(struct wire *w, uint8_t out[WIRE_NAME_MAX], int lower);

/* Length of a well-formed uncompressed wire name (including the root byte). */
size_t wire_name_len(const uint8_t *name);
/* Number of labels, not counting the root label. */
int wire_name_labels(const uint8_t *name);
/* Case-insensitive equality of two uncompressed names. */
int wire_name_eq(const uint8_t *a, const uint8_t *b);
/* 1 if name equals zone or lies below it (both uncompressed). */
int wire_name_in(const uint8_t *name, const uint8_t *zone);
void wire_name_lower(uint8_t *name);
/* FNV-1a over the lower-cased name: the registry's hash key. */
uint32_t wire_name_hash(const uint8_t *name, size_t len);

/* Presentation form to wire form, relative names taken as absolute ("a.b" ==
 * "a.b."). Handles \. and \DDD escapes. Returns the length or ERR_NAME. */
int wire_name_from_text(const char *text, uint8_t out[WIRE_NAME_MAX]);
/* Wire form to presentation form with a trailing dot, escaping as RFC 1035
 * 5.1 / RFC 4343 require. Returns the text length or ERR_SPACE. */
int wire_name_to_text(const uint8_t *name, char *out, size_t outsz);

/* Walks a whole DNS message (header, question, answer, authority and
 * additional records) and checks that it is exactly what its header counts
 * say, with no byte left over, and that a TSIG record, if any, is the last
 * additional record and the only one (RFC 8945 5.1). Returns 0 or
 * ERR_MALFORMED. ldns does not check these (a second TSIG even leaks), so
 * callers run this before handing a message to ldns_wire2pkt. */
int wire_msg_scan(const uint8_t *msg, size_t len);
/* The same, and *last is the offset of the message's last record after
 * the question (0 when there is none): where a TSIG would be. */
int wire_msg_scan_last(const uint8_t *msg, size_t len, size_t *last);

/* 1 if text is a valid host label (letters, digits, hyphen, underscore; 1-63). */
int wire_label_valid(const char *text, size_t len);

#endif
