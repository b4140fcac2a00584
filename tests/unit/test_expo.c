/* test_expo.c - unit tests of the Prometheus text formatter (lib/expo.c):
 * exact lines for samples, labels with escapes, histograms made cumulative
 * with +Inf = _count, bounds printed short, a label that does not fit; and
 * query_stats_answer's type/rcode mapping (resolver/query.c). */
#include <check.h>
#include <math.h>
#include <string.h>
#include "expo.h"
#include "query.h"
#include "checkmain.h"

START_TEST(test_samples_and_labels)
{
	struct expo e;
	char l[64] = "";

	expo_init(&e);
	ck_assert_int_eq(expo_label(l, sizeof(l), "a", "x\"y\\z\nw"), 0);
	ck_assert_int_eq(expo_label(l, sizeof(l), "b", "2"), 0);
	ck_assert_str_eq(l, "a=\"x\\\"y\\\\z\\nw\",b=\"2\"");
	expo_head(&e, "m_total", "counter", "Things.");
	expo_u64(&e, "m_total", l, 18446744073709551615ull);
	expo_u64(&e, "m_total", NULL, 0);
	expo_double(&e, "g", "", 1.5);
	expo_double(&e, "g", NULL, INFINITY);
	ck_assert_int_eq(e.err, 0);
	ck_assert_str_eq(e.buf, "# HELP m_total Things.\n# TYPE m_total counter\n"
			 "m_total{a=\"x\\\"y\\\\z\\nw\",b=\"2\"} 18446744073709551615\n"
			 "m_total 0\ng 1.5\ng +Inf\n");
	ck_assert_uint_eq(e.len, strlen(e.buf));
	expo_free(&e);
}
END_TEST

START_TEST(test_one_sample_series)
{
	struct expo e;

	expo_init(&e);
	expo_one_u64(&e, "n_total", "counter", "Ns.", 7);
	expo_one_double(&e, "t_seconds", "gauge", "When.", 0.25);
	ck_assert_int_eq(e.err, 0);
	ck_assert_str_eq(e.buf, "# HELP n_total Ns.\n# TYPE n_total counter\nn_total 7\n"
			 "# HELP t_seconds When.\n# TYPE t_seconds gauge\nt_seconds 0.25\n");
	expo_free(&e);
}
END_TEST

START_TEST(test_label_does_not_fit)
{
	char l[16] = "k=\"v\"";

	ck_assert_int_eq(expo_label(l, sizeof(l), "long", "0123456789"), -1);
	ck_assert_str_eq(l, "k=\"v\"");   /* left as it was */
}
END_TEST

START_TEST(test_histogram)
{
	static const double le[] = { 0.00025, 0.1, 1 };
	struct expo_hist h;
	struct expo e;

	expo_hist_init(&h, le, 3);
	expo_hist_observe(&h, 0.0001, 2);   /* first bucket */
	expo_hist_observe(&h, 0.1, 1);      /* le is inclusive */
	expo_hist_observe(&h, 5, 1);        /* above every bound */
	expo_init(&e);
	expo_histogram(&e, "d_seconds", "x=\"1\"", &h);
	expo_histogram(&e, "n_seconds", NULL, &h);
	ck_assert_int_eq(e.err, 0);
	ck_assert_str_eq(e.buf,
			 "d_seconds_bucket{x=\"1\",le=\"0.00025\"} 2\n"
			 "d_seconds_bucket{x=\"1\",le=\"0.1\"} 3\n"
			 "d_seconds_bucket{x=\"1\",le=\"1\"} 3\n"
			 "d_seconds_bucket{x=\"1\",le=\"+Inf\"} 4\n"
			 "d_seconds_sum{x=\"1\"} 5.1002\n"
			 "d_seconds_count{x=\"1\"} 4\n"
			 "n_seconds_bucket{le=\"0.00025\"} 2\n"
			 "n_seconds_bucket{le=\"0.1\"} 3\n"
			 "n_seconds_bucket{le=\"1\"} 3\n"
			 "n_seconds_bucket{le=\"+Inf\"} 4\n"
			 "n_seconds_sum 5.1002\n"
			 "n_seconds_count 4\n");
	expo_free(&e);
}
END_TEST

START_TEST(test_grows)
{
	struct expo e;

	expo_init(&e);
	for (int i = 0; i < 10000; i++)
		expo_u64(&e, "a_long_metric_name_total", "k=\"v\"", (uint64_t)i);
	ck_assert_int_eq(e.err, 0);
	ck_assert_uint_eq(e.len, strlen(e.buf));
	ck_assert_ptr_nonnull(strstr(e.buf, "a_long_metric_name_total{k=\"v\"} 9999\n"));
	expo_free(&e);
}
END_TEST

START_TEST(test_answer_counts)
{
	/* header (rcode 3) + question example.com AAAA IN */
	static const uint8_t nx_aaaa[] = { 0, 1, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 28, 0, 1 };
	static const uint8_t noq_badvers[] = { 0, 1, 0x81, 0x0e, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t caa[] = { 0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0,
		0, 1, 1, 0, 1 };   /* root CAA (257): "other" */
	struct query_stats st;

	memset(&st, 0, sizeof(st));
	query_stats_answer(&st, nx_aaaa, sizeof(nx_aaaa));
	query_stats_answer(&st, noq_badvers, sizeof(noq_badvers));
	query_stats_answer(&st, caa, sizeof(caa));
	query_stats_answer(&st, caa, 5);   /* too short: not counted */
	ck_assert_str_eq(query_stat_types[1], "AAAA");
	ck_assert_str_eq(query_stat_rcodes[3], "NXDOMAIN");
	ck_assert_uint_eq(st.answers[1][3], 1);
	ck_assert_uint_eq(st.answers[QSTAT_TYPES - 1][QSTAT_RCODES - 1], 1);
	ck_assert_uint_eq(st.answers[QSTAT_TYPES - 1][0], 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("expo");
	TCase *tc = tcase_create("expo");

	tcase_add_test(tc, test_samples_and_labels);
	tcase_add_test(tc, test_one_sample_series);
	tcase_add_test(tc, test_label_does_not_fit);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_grows);
	tcase_add_test(tc, test_answer_counts);
	suite_add_tcase(s, tc);
	return check_run(s, NULL);
}
