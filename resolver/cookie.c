/* cookie.c - SipHash-2-4 and RFC 9018 server cookies (see cookie.h). */
#include <netinet/in.h>
#include <string.h>
#include "cookie.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* SipHash-2-4 (Aumasson and Bernstein), 64-bit output, little-endian as in
 * the reference implementation. */
uint64_t siphash24(const uint8_t key[16], const uint8_t *in, size_t len)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8), m, b = (uint64_t)len << 56;
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

void cookie_make(const uint8_t secret[COOKIE_SECRET_LEN], const uint8_t cc[COOKIE_CLIENT_LEN],
		 const struct sockaddr *ip, uint32_t now, uint8_t out[COOKIE_SERVER_LEN])
{
	uint8_t in[COOKIE_CLIENT_LEN + 8 + 16];
	size_t n = COOKIE_CLIENT_LEN + 8;
	uint64_t h;

	out[0] = 1;                          /* Version */
	out[1] = out[2] = out[3] = 0;        /* Reserved */
	out[4] = (uint8_t)(now >> 24), out[5] = (uint8_t)(now >> 16);
	out[6] = (uint8_t)(now >> 8), out[7] = (uint8_t)now;
	memcpy(in, cc, COOKIE_CLIENT_LEN);
	memcpy(in + COOKIE_CLIENT_LEN, out, 8);
	if (ip->sa_family == AF_INET) {
		memcpy(in + n, &((const struct sockaddr_in *)ip)->sin_addr, 4);
		n += 4;
	} else if (ip->sa_family == AF_INET6) {
		memcpy(in + n, &((const struct sockaddr_in6 *)ip)->sin6_addr, 16);
		n += 16;
	}
	h = siphash24(secret, in, n);
	/* RFC 9018 4.4 writes the hash as SipHash's 8 output bytes. */
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(h >> (8 * i));
}

/* Constant time: a timing difference must not tell how many bytes matched. */
static int same8(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (int i = 0; i < 8; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int cookie_valid(const struct cookie_secrets *s, const uint8_t cc[COOKIE_CLIENT_LEN],
		 const uint8_t *sc, size_t len, const struct sockaddr *ip, uint32_t now)
{
	uint8_t want[COOKIE_SERVER_LEN];
	uint32_t ts, age;

	if (len != COOKIE_SERVER_LEN || sc[0] != 1)
		return 0;
	ts = (uint32_t)sc[4] << 24 | (uint32_t)sc[5] << 16 | (uint32_t)sc[6] << 8 | sc[7];
	age = now - ts;                      /* serial arithmetic (RFC 1982) */
	if (age > COOKIE_MAX_AGE && (uint32_t)(ts - now) > COOKIE_MAX_AHEAD)
		return 0;
	cookie_make(s->cur, cc, ip, ts, want);
	if (same8(want + 8, sc + 8))
		return 1;
	if (!s->has_prev)
		return 0;
	cookie_make(s->prev, cc, ip, ts, want);
	return same8(want + 8, sc + 8);
}
