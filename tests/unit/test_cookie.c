/* test_cookie.c - unit tests of resolver/cookie.c: SipHash-2-4 against the
 * reference vectors of the SipHash paper, and RFC 9018 server cookies: made
 * and checked, bound to the client cookie and address, accepted with the
 * previous secret, refused once older than an hour. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include "cookie.h"
#include "checkmain.h"

START_TEST(test_siphash_vectors)
{
	uint8_t key[16], in[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		in[i] = (uint8_t)i;
	/* vectors.h of the reference implementation, read as little-endian */
	ck_assert_uint_eq(siphash24(key, in, 0), 0x726fdb47dd0e0e31ull);
	ck_assert_uint_eq(siphash24(key, in, 1), 0x74f839c593dc67fdull);
	ck_assert_uint_eq(siphash24(key, in, 8), 0x93f5f5799a932462ull);
	ck_assert_uint_eq(siphash24(key, in, 15), 0xa129ca6149be45e5ull);
	ck_assert_uint_eq(siphash24(key, in, 63), 0x958a324ceb064572ull);
}
END_TEST

static struct sockaddr_in v4(const char *ip)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

START_TEST(test_server_cookie)
{
	struct cookie_secrets s = { .on = 1 };
	uint8_t cc[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, other[8] = { 9 }, sc[16];
	struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
	const struct sockaddr *ip = (const struct sockaddr *)&a;

	memset(s.cur, 0x11, 16);
	cookie_make(s.cur, cc, ip, 1000000, sc);
	ck_assert_uint_eq(sc[0], 1);
	ck_assert_uint_eq(sc[1] | sc[2] | sc[3], 0);
	ck_assert_uint_eq((uint32_t)sc[4] << 24 | sc[5] << 16 | sc[6] << 8 | sc[7], 1000000);
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000), 1);
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000 + 3600), 1);
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000 + 3601), 0);   /* too old */
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000 - 300), 1);    /* clock skew */
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000 - 301), 0);
	ck_assert_int_eq(cookie_valid(&s, other, sc, 16, ip, 1000000), 0);       /* client cookie */
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, (const struct sockaddr *)&b, 1000000), 0);
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 8, ip, 1000000), 0);           /* length */
	sc[15] ^= 1;
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000), 0);          /* hash */
	sc[15] ^= 1;
	/* Rotation: the old secret becomes prev and its cookies stay valid. */
	memcpy(s.prev, s.cur, 16);
	s.has_prev = 1;
	memset(s.cur, 0x22, 16);
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000), 1);
	s.has_prev = 0;
	ck_assert_int_eq(cookie_valid(&s, cc, sc, 16, ip, 1000000), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cookie");
	TCase *tc = tcase_create("cookie");

	tcase_add_test(tc, test_siphash_vectors);
	tcase_add_test(tc, test_server_cookie);
	suite_add_tcase(s, tc);
	return check_run(s, NULL);
}
