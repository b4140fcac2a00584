/* test_rrl.c - unit tests of response rate limiting (resolver/rrl.c): one
 * prefix shares a bucket, over the rate every slip-th answer slips and the
 * rest drop, other prefixes and rate 0 are untouched. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include "rrl.h"
#include "checkmain.h"

static struct sockaddr_storage ip(const char *text)
{
	struct sockaddr_storage ss = { 0 };

	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
		ss.ss_family = AF_INET6;
	}
	return ss;
}

START_TEST(test_prefix_bucket)
{
	struct rrl r;
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.200"), c = ip("192.0.3.1");
	int send = 0, slip = 0, drop = 0;

	ck_assert_int_eq(rrl_init(&r, 1024, 5, 3, 24, 56, 42), 0);
	for (int i = 0; i < 35; i++) {
		enum rrl_action x = rrl_check(&r, (struct sockaddr *)(i % 2 ? &a : &b), 1000);

		send += x == RRL_SEND, slip += x == RRL_SLIP, drop += x == RRL_DROP;
	}
	ck_assert_int_eq(send, 5);           /* one /24 shares the burst */
	ck_assert_int_eq(slip, 10);          /* every 3rd of the 30 over it */
	ck_assert_int_eq(drop, 20);
	ck_assert_int_eq(rrl_check(&r, (struct sockaddr *)&c, 1000), RRL_SEND);
	ck_assert_int_eq(rrl_check(&r, (struct sockaddr *)&a, 1200), RRL_SEND); /* refilled */
	rrl_close(&r);
}
END_TEST

START_TEST(test_ipv6_prefix)
{
	struct rrl r;
	struct sockaddr_storage a = ip("2001:db8:0:100::1"), b = ip("2001:db8:0:1ff::2"),
				c = ip("2001:db8:0:200::1");

	ck_assert_int_eq(rrl_init(&r, 16, 1, 0, 24, 56, 7), 0);
	ck_assert_int_eq(rrl_check(&r, (struct sockaddr *)&a, 1), RRL_SEND);
	ck_assert_int_eq(rrl_check(&r, (struct sockaddr *)&b, 1), RRL_DROP);  /* same /56 */
	ck_assert_int_eq(rrl_check(&r, (struct sockaddr *)&c, 1), RRL_SEND);  /* next /56 */
	rrl_close(&r);
}
END_TEST

START_TEST(test_off)
{
	struct rrl r;
	struct sockaddr_storage a = ip("192.0.2.1");

	ck_assert_int_eq(rrl_init(&r, 1024, 0, 2, 24, 56, 1), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(rrl_check(&r, (struct sockaddr *)&a, 1), RRL_SEND);
	rrl_close(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rrl");
	TCase *tc = tcase_create("rrl");

	tcase_add_test(tc, test_prefix_bucket);
	tcase_add_test(tc, test_ipv6_prefix);
	tcase_add_test(tc, test_off);
	suite_add_tcase(s, tc);
	return check_run(s, NULL);
}
