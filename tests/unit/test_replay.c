/* test_replay.c - unit tests of the TSIG replay cache (resolver/replay.c):
 * a MAC seen inside its window is a replay, after it is not, the ring is
 * bounded and counts what it forgot early, and cap 0 turns it off. */
#include <check.h>
#include <string.h>
#include "replay.h"
#include "checkmain.h"

static void mac_of(uint32_t k, uint8_t mac[32])
{
	for (int i = 0; i < 32; i++)
		mac[i] = (uint8_t)((k * 2654435761u) >> (i % 4 * 8)) ^ (uint8_t)i;
}

START_TEST(test_seen_in_window)
{
	struct replay r;
	uint8_t m[32], o[32];

	ck_assert_int_eq(replay_init(&r, 8), 0);
	mac_of(1, m);
	mac_of(2, o);
	ck_assert_int_eq(replay_seen(&r, m, 32, 1000, 1300), 0);   /* first time */
	ck_assert_int_eq(replay_seen(&r, m, 32, 1100, 1400), 1);   /* again: replay */
	ck_assert_int_eq(replay_seen(&r, o, 32, 1100, 1400), 0);   /* another MAC */
	ck_assert_int_eq(replay_seen(&r, m, 32, 1300, 1600), 1);   /* last second of its window */
	ck_assert_int_eq(replay_seen(&r, m, 32, 1301, 1601), 0);   /* window over: BADTIME's job */
	replay_close(&r);
}
END_TEST

START_TEST(test_bounded)
{
	struct replay r;
	uint8_t m[32];

	ck_assert_int_eq(replay_init(&r, 100), 0);
	for (uint32_t k = 0; k < 1000; k++) {
		mac_of(k, m);
		ck_assert_int_eq(replay_seen(&r, m, 32, 10, 1000), 0);
	}
	ck_assert_uint_eq(r.overflows, 900);
	for (uint32_t k = 900; k < 1000; k++) {     /* the last 100 are remembered */
		mac_of(k, m);
		ck_assert_int_eq(replay_seen(&r, m, 32, 10, 1000), 1);
	}
	mac_of(0, m);                               /* the first was pushed out */
	ck_assert_int_eq(replay_seen(&r, m, 32, 10, 1000), 0);
	replay_close(&r);
}
END_TEST

START_TEST(test_off)
{
	struct replay r;
	uint8_t m[32];

	ck_assert_int_eq(replay_init(&r, 0), 0);
	mac_of(7, m);
	ck_assert_int_eq(replay_seen(&r, m, 32, 1, 100), 0);
	ck_assert_int_eq(replay_seen(&r, m, 32, 1, 100), 0);
	replay_close(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_seen_in_window);
	tcase_add_test(tc, test_bounded);
	tcase_add_test(tc, test_off);
	suite_add_tcase(s, tc);
	return check_run(s, NULL);
}
