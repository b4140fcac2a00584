/* wire.c - bounded DNS wire cursor and name helpers (see wire.h). */
#include <string.h>
#include "err.h"
#include "wire.h"

static const uint8_t lower_table[256] = {
#define L(c) ((uint8_t)((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c)))
#define R4(b) L(b), L(b + 1), L(b + 2), L(b + 3)
#define R16(b) R4(b), R4(b + 4), R4(b + 8), R4(b + 12)
#define R64(b) R16(b), R16(b + 16), R16(b + 32), R16(b + 48)
	R64(0), R64(64), R64(128), R64(192)
#undef R64
#undef R16
#undef R4
#undef L
};

void wire_init(struct wire *w, uint8_t *buf, size_t len)
{
	w->base = buf;
	w->pos = 0;
	w->end = len;
	w->err = 0;
}

void wire_init_ro(struct wire *w, const uint8_t *buf, size_t len)
{
	/* The cast is confined here: read functions never write through base. */
	wire_init(w, (uint8_t *)(uintptr_t)buf, len);
}

static int need(struct wire *w, size_t n, int err)
{
	if (w->err)
		return 0;
	if (w->end - w->pos < n) {
		w->err = err;
		return 0;
	}
	return 1;
}

uint8_t wire_u8(struct wire *w)
{
	if (!need(w, 1, ERR_MALFORMED))
		return 0;
	return w->base[w->pos++];
}

uint16_t wire_u16(struct wire *w)
{
	uint16_t v;

	if (!need(w, 2, ERR_MALFORMED))
		return 0;
	v = (uint16_t)(w->base[w->pos] << 8 | w->base[w->pos + 1]);
	w->pos += 2;
	return v;
}

uint32_t wire_u32(struct wire *w)
{
	uint32_t v;

	if (!need(w, 4, ERR_MALFORMED))
		return 0;
	v = (uint32_t)w->base[w->pos] << 24 | (uint32_t)w->base[w->pos + 1] << 16 |
	    (uint32_t)w->base[w->pos + 2] << 8 | w->base[w->pos + 3];
	w->pos += 4;
	return v;
}

void wire_read(struct wire *w, void *dst, size_t n)
{
	if (!need(w, n, ERR_MALFORMED))
		return;
	memcpy(dst, w->base + w->pos, n);
	w->pos += n;
}

void wire_skip(struct wire *w, size_t n)
{
	if (need(w, n, ERR_MALFORMED))
		w->pos += n;
}

void wire_put_u8(struct wire *w, uint8_t v)
{
	if (need(w, 1, ERR_SPACE))
		w->base[w->pos++] = v;
}

void wire_put_u16(struct wire *w, uint16_t v)
{
	if (!need(w, 2, ERR_SPACE))
		return;
	w->base[w->pos] = (uint8_t)(v >> 8);
	w->base[w->pos + 1] = (uint8_t)v;
	w->pos += 2;
}

void wire_put_u32(struct wire *w, uint32_t v)
{
	if (!need(w, 4, ERR_SPACE))
		return;
	w->base[w->pos] = (uint8_t)(v >> 24);
	w->base[w->pos + 1] = (uint8_t)(v >> 16);
	w->base[w->pos + 2] = (uint8_t)(v >> 8);
	w->base[w->pos + 3] = (uint8_t)v;
	w->pos += 4;
}

void wire_put(struct wire *w, const void *src, size_t n)
{
	if (!need(w, n, ERR_SPACE))
		return;
	memcpy(w->base + w->pos, src, n);
	w->pos += n;
}

void wire_poke_u16(struct wire *w, size_t at, uint16_t v)
{
	if (w->err || at + 2 > w->pos)
		return;
	w->base[at] = (uint8_t)(v >> 8);
	w->base[at + 1] = (uint8_t)v;
}

size_t wire_name_read(struct wire *w, uint8_t out[WIRE_NAME_MAX], int lower)
{
	size_t p, len = 0, resume = 0;
	size_t limit; /* pointers must go strictly below this offset */
	unsigned hops = 0;

	if (w->err)
		return 0;
	p = w->pos;
	limit = w->pos;
	for (;;) {
		uint8_t c;

		if (p >= w->end)
			goto bad;
		c = w->base[p];
		if ((c & 0xC0) == 0xC0) {
			size_t target;

			if (p + 1 >= w->end)
				goto bad;
			target = (size_t)(c & 0x3F) << 8 | w->base[p + 1];
			if (!resume)
				resume = p + 2;
			/* A name has at most 127 labels; more hops than that are
			 * pointers to pointers, which only cost the reader. */
			if (target >= limit || ++hops > WIRE_NAME_MAX / 2)
				goto bad;
			limit = target;
			p = target;
			continue;
		}
		if (c & 0xC0) /* 0x40 and 0x80: extended label types, obsolete (RFC 6891 5) */
			goto bad;
		if (p + 1 + c > w->end || len + 1 + c > WIRE_NAME_MAX)
			goto bad;
		out[len++] = c;
		if (c == 0)
			break;
		if (lower) {
			for (size_t i = 0; i < c; i++)
				out[len + i] = lower_table[w->base[p + 1 + i]];
		} else {
			memcpy(out + len, w->base + p + 1, c);
		}
		len += c;
		p += 1 + (size_t)c;
	}
	w->pos = resume ? resume : p + 1;
	return len;
bad:
	w->err = ERR_MALFORMED;
	return 0;
}

size_t wire_name_len(const uint8_t *name)
{
	size_t n = 0;

	while (name[n])
		n += 1 + (size_t)name[n];
	return n + 1;
}

int wire_name_labels(const uint8_t *name)
{
	int n = 0;

	for (size_t p = 0; name[p]; p += 1 + (size_t)name[p])
		n++;
	return n;
}

int wire_name_eq(const uint8_t *a, const uint8_t *b)
{
	size_t la = wire_name_len(a), lb = wire_name_len(b);

	if (la != lb)
		return 0;
	for (size_t i = 0; i < la; i++)
		if (lower_table[a[i]] != lower_table[b[i]])
			return 0;
	return 1;
}

int wire_name_in(const uint8_t *name, const uint8_t *zone)
{
	size_t ln = wire_name_len(name), lz = wire_name_len(zone), p = 0;

	if (lz > ln)
		return 0;
	/* Walk label boundaries so "xlocal." is not inside "local.". */
	while (ln - p > lz)
		p += 1 + (size_t)name[p];
	return ln - p == lz && wire_name_eq(name + p, zone);
}

void wire_name_lower(uint8_t *name)
{
	for (size_t p = 0; name[p]; p += 1 + (size_t)name[p])
		for (size_t i = 1; i <= name[p]; i++)
			name[p + i] = lower_table[name[p + i]];
}

uint32_t wire_name_hash(const uint8_t *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= lower_table[name[i]];
		h *= 16777619u;
	}
	return h;
}

int wire_name_from_text(const char *text, uint8_t out[WIRE_NAME_MAX])
{
	size_t len = 0, lab = 0; /* lab: offset of the current label's length byte */
	const char *s = text;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	if (*s == '\0' || *s == '.')
		return ERR_NAME;
	out[0] = 0;
	len = 1;
	while (*s) {
		int c = (unsigned char)*s++;

		if (c == '.') {
			if (out[lab] == 0)
				return ERR_NAME; /* empty label */
			if (*s == '\0')
				break;
			if (len >= WIRE_NAME_MAX)
				return ERR_NAME;
			lab = len;
			out[len++] = 0;
			continue;
		}
		if (c == '\\') {
			if (s[0] >= '0' && s[0] <= '9') {
				if (!(s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'))
					return ERR_NAME;
				c = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
				if (c > 255)
					return ERR_NAME;
				s += 3;
			} else if (*s) {
				c = (unsigned char)*s++;
			} else {
				return ERR_NAME;
			}
		}
		if (out[lab] == WIRE_LABEL_MAX || len >= WIRE_NAME_MAX - 1)
			return ERR_NAME;
		out[len++] = (uint8_t)c;
		out[lab]++;
	}
	if (out[lab] == 0)
		return ERR_NAME;
	if (len >= WIRE_NAME_MAX)
		return ERR_NAME;
	out[len++] = 0;
	return (int)len;
}

int wire_name_to_text(const uint8_t *name, char *out, size_t outsz)
{
	size_t o = 0;

#define PUT(ch) do { if (o + 1 >= outsz) return ERR_SPACE; out[o++] = (char)(ch); } while (0)
	if (name[0] == 0) {
		PUT('.');
		out[o] = '\0';
		return (int)o;
	}
	for (size_t p = 0; name[p]; p += 1 + (size_t)name[p]) {
		for (size_t i = 1; i <= name[p]; i++) {
			unsigned c = name[p + i];

			if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' ||
			    c == ')' || c == '@' || c == '$') {
				PUT('\\');
				PUT(c);
			} else if (c <= 0x20 || c >= 0x7f) {
				PUT('\\');
				PUT('0' + c / 100);
				PUT('0' + c / 10 % 10);
				PUT('0' + c % 10);
			} else {
				PUT(c);
			}
		}
		PUT('.');
	}
#undef PUT
	out[o] = '\0';
	return (int)o;
}

int wire_label_valid(const char *text, size_t len)
{
	if (len == 0 || len > WIRE_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int wire_msg_scan_last(const uint8_t *msg, size_t len, size_t *last)
{
	uint8_t name[WIRE_NAME_MAX];
	uint16_t count[4];
	struct wire w;

	*last = 0;
	wire_init_ro(&w, msg, len);
	wire_skip(&w, 4);
	for (int s = 0; s < 4; s++)
		count[s] = wire_u16(&w);
	for (unsigned i = 0; i < count[0] && !w.err; i++) {
		wire_name_read(&w, name, 0);
		wire_skip(&w, 4);
	}
	for (int s = 1; s < 4; s++)
		for (unsigned i = 0; i < count[s] && !w.err; i++) {
			uint16_t type, rdlen;

			*last = w.pos;
			wire_name_read(&w, name, 0);
			type = wire_u16(&w);
			wire_skip(&w, 6);
			rdlen = wire_u16(&w);
			wire_skip(&w, rdlen);
			if (type == 250 && (s != 3 || i + 1 != count[3]))
				return ERR_MALFORMED;  /* TSIG not last (or not alone) */
		}
	return w.err || w.pos != len ? ERR_MALFORMED : 0;
}

int wire_msg_scan(const uint8_t *msg, size_t len)
{
	size_t last;

	return wire_msg_scan_last(msg, len, &last);
}
