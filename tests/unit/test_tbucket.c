/* test_tbucket.c - unit tests of the token bucket (resolver/tbucket.c): a
 * burst passes whole and no more, the rate refills it, idle time never
 * fills it past the burst. */
#include <check.h>
#include "tbucket.h"
#include "checkmain.h"

START_TEST(test_burst_then_rate)
{
	struct tbucket b = { 0, 0 };
	int n = 0;

	for (int i = 0; i < 20; i++)
		n += tbucket_take(&b, 5, 5, 1000);
	ck_assert_int_eq(n, 5);                        /* the burst, then nothing */
	ck_assert_int_eq(tbucket_take(&b, 5, 5, 1199), 0); /* 0.995 tokens after 199 ms */
	ck_assert_int_eq(tbucket_take(&b, 5, 5, 1200), 1); /* one at 200 ms (5/s) */
	n = 0;
	for (uint64_t t = 1200; t <= 11200; t += 10)       /* 10 s asking every 10 ms */
		n += tbucket_take(&b, 5, 5, t);
	ck_assert_int_ge(n, 49);
	ck_assert_int_le(n, 51);
}
END_TEST

START_TEST(test_idle_caps_at_burst)
{
	struct tbucket b = { 0, 0 };
	int n = 0;

	ck_assert_int_eq(tbucket_take(&b, 1000000, 3, 1), 1);
	for (int i = 0; i < 10; i++)
		n += tbucket_take(&b, 1000000, 3, 1000000000000ull); /* a long idle, a high rate */
	ck_assert_int_eq(n, 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tbucket");
	TCase *tc = tcase_create("tbucket");

	tcase_add_test(tc, test_burst_then_rate);
	tcase_add_test(tc, test_idle_caps_at_burst);
	suite_add_tcase(s, tc);
	return check_run(s, NULL);
}
