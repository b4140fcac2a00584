/* test_wrand.c - check suite for lib/wrand.h, tested statistically.
 *
 * Each case makes DRAWS weighted draws or orderings from a fixed seed and
 * compares the observed frequencies with the exact RFC 2782 probabilities,
 * within TOL percentage points. With 10000 draws one standard deviation is at
 * most 0.5 points, so TOL is three of them: a correct implementation passes
 * and a biased one (ignoring weights, sorting by weight, drawing the second
 * item from all weights) fails. The seed makes the outcome deterministic. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "wrand.h"
#include "checkmain.h"

#define DRAWS 10000
#define TOL 1.5
#define SEED 0x6d657368646e73ull

/* Cumulative weights from plain ones. */
static void cumulate(const uint64_t *w, size_t n, uint64_t *cum)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		sum += w[i];
		cum[i] = sum;
	}
}

static void assert_pct(const char *what, size_t i, long count, double want)
{
	double got = 100.0 * (double)count / DRAWS;

	ck_assert_msg(got > want - TOL && got < want + TOL,
		      "%s[%zu]: %.2f%%, want %.2f%% +- %.1f", what, i, got, want, TOL);
}

/* Draws DRAWS picks and checks each index against its share of the weight. */
static void check_pick(const uint64_t *w, size_t n)
{
	struct wrand_rng rng;
	uint64_t cum[16], total = 0;
	long count[16] = { 0 };

	ck_assert_uint_le(n, 16);
	cumulate(w, n, cum);
	for (size_t i = 0; i < n; i++)
		total += w[i];
	wrand_seed(&rng, SEED);
	for (int d = 0; d < DRAWS; d++) {
		long i = wrand_pick(&rng, cum, n);

		ck_assert(i >= 0 && (size_t)i < n);
		count[i]++;
	}
	for (size_t i = 0; i < n; i++) {
		if (w[i] == 0)
			ck_assert_int_eq(count[i], 0);
		assert_pct("pick", i, count[i], 100.0 * (double)w[i] / (double)total);
	}
}

START_TEST(test_pick_90_10)
{
	const uint64_t w[] = { 90, 10 };

	check_pick(w, 2);
}
END_TEST

START_TEST(test_pick_1234)
{
	const uint64_t w[] = { 1, 2, 3, 4 };

	check_pick(w, 4);
}
END_TEST

START_TEST(test_pick_zero)
{
	const uint64_t w[] = { 0, 5, 0, 5, 0 };
	const uint64_t zero[] = { 0, 0, 0 };
	uint64_t cum[5];
	struct wrand_rng rng;

	check_pick(w, 5);
	cumulate(zero, 3, cum);
	wrand_seed(&rng, SEED);
	ck_assert_int_eq(wrand_pick(&rng, cum, 3), -1);
	ck_assert_int_eq(wrand_pick(&rng, cum, 0), -1);
}
END_TEST

/* 1 if out[0..m) holds distinct indices below n. */
static int distinct(const uint32_t *out, size_t m, size_t n)
{
	for (size_t i = 0; i < m; i++) {
		if (out[i] >= n)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (out[i] == out[j])
				return 0;
	}
	return 1;
}

/* RFC 2782: P(second = i) = sum over j != i of p_j * w_i / (W - w_j). */
static double second_pct(const uint64_t *w, size_t n, size_t i)
{
	double total = 0, p = 0;

	for (size_t j = 0; j < n; j++)
		total += (double)w[j];
	for (size_t j = 0; j < n; j++)
		if (j != i)
			p += (double)w[j] / total * (double)w[i] / (total - (double)w[j]);
	return 100.0 * p;
}

START_TEST(test_order_positions)
{
	const uint64_t w[] = { 50, 30, 20 };
	long first[3] = { 0 }, second0 = 0;
	uint64_t cum[3];
	uint32_t out[3];
	struct wrand_rng rng;

	cumulate(w, 3, cum);
	wrand_seed(&rng, SEED);
	for (int d = 0; d < DRAWS; d++) {
		ck_assert_uint_eq(wrand_order(&rng, cum, 3, 3, out), 3);
		ck_assert(distinct(out, 3, 3));
		first[out[0]]++;
		if (out[1] == 0)
			second0++;
	}
	for (size_t i = 0; i < 3; i++)
		assert_pct("first", i, first[i], (double)w[i]);
	/* 33.93%: an order sorted by weight, or a second draw that does not
	 * leave out the first, lands far from it. */
	assert_pct("second", 0, second0, second_pct(w, 3, 0));
}
END_TEST

START_TEST(test_order_short)
{
	const uint64_t w[] = { 5, 0, 7, 1, 0, 3 };
	uint64_t cum[6];
	uint32_t out[WRAND_MAX_K];
	struct wrand_rng rng;

	cumulate(w, 6, cum);
	wrand_seed(&rng, SEED);
	for (int d = 0; d < 1000; d++) {
		ck_assert_uint_eq(wrand_order(&rng, cum, 6, 2, out), 2);
		ck_assert(distinct(out, 2, 6));
		/* Weight 0 is excluded: only the four positive items come back. */
		ck_assert_uint_eq(wrand_order(&rng, cum, 6, 6, out), 4);
		ck_assert(distinct(out, 4, 6));
		for (size_t i = 0; i < 4; i++)
			ck_assert(out[i] != 1 && out[i] != 4);
	}
	ck_assert_uint_eq(wrand_order(&rng, cum, 6, 0, out), 0);
	ck_assert_uint_eq(wrand_order(&rng, cum, 0, 4, out), 0);
	memset(cum, 0, sizeof(cum));
	ck_assert_uint_eq(wrand_order(&rng, cum, 6, 4, out), 0);
}
END_TEST

START_TEST(test_order_large)
{
	const size_t n = 10000;
	uint64_t *cum = malloc(n * sizeof(*cum)), sum = 0;
	uint32_t out[WRAND_MAX_K];
	struct wrand_rng rng;

	ck_assert_ptr_nonnull(cum);
	for (size_t i = 0; i < n; i++) {
		sum += i + 1;
		cum[i] = sum;
	}
	wrand_seed(&rng, SEED);
	for (int d = 0; d < 1000; d++) {
		ck_assert_uint_eq(wrand_order(&rng, cum, n, 8, out), 8);
		ck_assert(distinct(out, 8, n));
	}
	/* k is capped at WRAND_MAX_K. */
	ck_assert_uint_eq(wrand_order(&rng, cum, n, WRAND_MAX_K, out), WRAND_MAX_K);
	ck_assert(distinct(out, WRAND_MAX_K, n));
	free(cum);
}
END_TEST

START_TEST(test_order_heavy_drawn_first)
{
	/* One item holds almost all the weight: once it is drawn, rejection
	 * would keep hitting it, so the fallback scan must finish the order,
	 * with the same distribution. */
	const uint64_t w[] = { 1, 1000000, 1, 1 };
	long second[4] = { 0 };
	uint64_t cum[4];
	uint32_t out[4];
	struct wrand_rng rng;

	cumulate(w, 4, cum);
	wrand_seed(&rng, SEED);
	for (int d = 0; d < DRAWS; d++) {
		ck_assert_uint_eq(wrand_order(&rng, cum, 4, 4, out), 4);
		ck_assert(distinct(out, 4, 4));
		second[out[1]]++;
	}
	for (size_t i = 0; i < 4; i++)
		assert_pct("second", i, second[i], second_pct(w, 4, i));
}
END_TEST

START_TEST(test_seed_deterministic)
{
	struct wrand_rng a, b;

	wrand_seed(&a, 42);
	wrand_seed(&b, 42);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(wrand_next(&a), wrand_next(&b));
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_lt(wrand_below(&a, 7), 7);
}
END_TEST

static Suite *wrand_suite(void)
{
	Suite *s = suite_create("wrand");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_pick_90_10);
	tcase_add_test(tc, test_pick_1234);
	tcase_add_test(tc, test_pick_zero);
	tcase_add_test(tc, test_order_positions);
	tcase_add_test(tc, test_order_short);
	tcase_add_test(tc, test_order_large);
	tcase_add_test(tc, test_order_heavy_drawn_first);
	tcase_add_test(tc, test_seed_deterministic);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(wrand_suite(), NULL);
}
