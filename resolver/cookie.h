/* cookie.h - DNS Cookies (RFC 7873) with the interoperable server cookie of
 * RFC 9018: Version 1 | Reserved 0 (3) | Timestamp (4) | Hash (8), where
 * Hash = SipHash-2-4(secret, Client Cookie | Version | Reserved | Timestamp
 * | Client IP).
 *
 * A small SipHash-2-4 lives here (Debian's libraries expose none we could
 * link portably). Pure functions of their arguments: the query path calls
 * them without allocating; the server owns the secrets and rotates them. */
#ifndef MESHDNS_COOKIE_H
#define MESHDNS_COOKIE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define COOKIE_CLIENT_LEN 8
#define COOKIE_SERVER_LEN 16
#define COOKIE_SECRET_LEN 16
#define COOKIE_MAX_AGE 3600     /* RFC 9018 4.3: accept cookies up to an hour old */
#define COOKIE_MAX_AHEAD 300    /* ... and five minutes from the future */

struct cookie_secrets {
	int on;                            /* cookies: true */
	uint8_t cur[COOKIE_SECRET_LEN];    /* signs new server cookies */
	uint8_t prev[COOKIE_SECRET_LEN];   /* still accepted after a rotation */
	int has_prev;
	uint32_t udp_cap;                  /* udp_payload_without_cookie */
};

uint64_t siphash24(const uint8_t key[16], const uint8_t *in, size_t len);

/* Writes the server cookie for client cookie cc, client address ip (AF_INET
 * or AF_INET6 sockaddr) at unix time now, signed with secret, into out. */
void cookie_make(const uint8_t secret[COOKIE_SECRET_LEN], const uint8_t cc[COOKIE_CLIENT_LEN],
		 const struct sockaddr *ip, uint32_t now, uint8_t out[COOKIE_SERVER_LEN]);
/* 1 when sc (len bytes) is a server cookie we made for cc and ip, with
 * either secret, no older than COOKIE_MAX_AGE at now. */
int cookie_valid(const struct cookie_secrets *s, const uint8_t cc[COOKIE_CLIENT_LEN],
		 const uint8_t *sc, size_t len, const struct sockaddr *ip, uint32_t now);

#endif
