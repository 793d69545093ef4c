#include "backoff.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

START_TEST(test_init)
{
    backoff b;
    backoff_init(&b, 0.25, 30, 42);
    ck_assert_double_eq(b.min, 0.25);
    ck_assert_double_eq(b.max, 30);
    ck_assert_double_eq(b.ceiling, 0.25);
    ck_assert_uint_eq(b.attempts, 0);
    ck_assert(b.rng != 0);
}
END_TEST

START_TEST(test_growth)
{
    static const double ceilings[] = {0.25, 0.5, 1, 2, 4, 8, 16, 30, 30, 30};
    backoff b;
    backoff_init(&b, 0.25, 30, 42);
    for (unsigned i = 0; i < sizeof ceilings / sizeof ceilings[0]; i++) {
        ck_assert_double_eq(b.ceiling, ceilings[i]);
        ck_assert_uint_eq(b.attempts, i);
        backoff_next(&b);
    }
}
END_TEST

START_TEST(test_first_delay_is_min)
{
    /* The ceiling starts at min, so the first draw has nowhere to go. */
    backoff b;
    backoff_init(&b, 0.25, 30, 7);
    ck_assert_double_eq(backoff_next(&b), 0.25);
}
END_TEST

START_TEST(test_bounds)
{
    backoff b;
    backoff_init(&b, 0.25, 30, 12345);
    for (int i = 0; i < 20000; i++) {
        if (i % 13 == 0)
            backoff_reset(&b);
        double ceiling = b.ceiling;
        double d = backoff_next(&b);
        ck_assert_msg(d >= 0.25 && d <= ceiling, "draw %d: %f outside [0.25, %f]", i, d, ceiling);
    }
}
END_TEST

START_TEST(test_reset)
{
    backoff b;
    backoff_init(&b, 1, 60, 99);
    for (int i = 0; i < 5; i++)
        backoff_next(&b);
    ck_assert_double_eq(b.ceiling, 32);
    ck_assert_uint_eq(b.attempts, 5);
    backoff_reset(&b);
    ck_assert_double_eq(b.ceiling, 1);
    ck_assert_uint_eq(b.attempts, 0);
    ck_assert_double_eq(backoff_next(&b), 1);
    ck_assert_double_eq(b.ceiling, 2);
}
END_TEST

/* The attack: a hostile stanza once a second, each cutting the link
 * after a second of service. Closed by our side for bad input on a working
 * stream, each session earns a fresh start: delays stay at min, where they
 * used to climb to the maximum (23 s were measured). */
START_TEST(test_session_closed_for_bad_input_resets)
{
    backoff b;
    backoff_init(&b, 0.25, 30, 11);
    for (int i = 0; i < 60; i++) {
        backoff_session_ended(&b, 1.0, 10.0, true);
        ck_assert_double_eq(backoff_next(&b), 0.25);
    }
}
END_TEST

START_TEST(test_short_session_keeps_growing)
{
    /* A server that accepts and drops us at once, for no fault of the
     * stream: the ceiling keeps climbing to the maximum. */
    backoff b;
    backoff_init(&b, 0.25, 30, 12);
    for (int i = 0; i < 10; i++) {
        backoff_session_ended(&b, 1.0, 10.0, false);
        backoff_next(&b);
    }
    ck_assert_double_eq(b.ceiling, 30);
    /* A session of at least `stable` seconds starts again from min. */
    backoff_session_ended(&b, 9.99, 10.0, false);
    ck_assert_double_eq(b.ceiling, 30);
    backoff_session_ended(&b, 10.0, 10.0, false);
    ck_assert_double_eq(b.ceiling, 0.25);
    ck_assert_uint_eq(b.attempts, 0);
}
END_TEST

START_TEST(test_to_max)
{
    backoff b;
    backoff_init(&b, 0.5, 30, 5);
    backoff_to_max(&b);
    ck_assert_double_eq(b.ceiling, 30);
    double hi = 0;
    for (int i = 0; i < 200; i++) {
        double d = backoff_next(&b);
        ck_assert(d >= 0.5 && d <= 30);
        ck_assert_double_eq(b.ceiling, 30);
        hi = d > hi ? d : hi;
    }
    /* Jitter spans the whole range once at the maximum. */
    ck_assert(hi > 25);
    backoff_reset(&b);
    ck_assert_double_eq(b.ceiling, 0.5);
}
END_TEST

START_TEST(test_reproducible)
{
    backoff a, b, c;
    backoff_init(&a, 0.1, 100, 2026);
    backoff_init(&b, 0.1, 100, 2026);
    backoff_init(&c, 0.1, 100, 2027);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        if (i % 11 == 0) {
            backoff_reset(&a);
            backoff_reset(&b);
            backoff_reset(&c);
        }
        double x = backoff_next(&a);
        ck_assert_double_eq(x, backoff_next(&b));
        differ += x != backoff_next(&c);
    }
    /* 10 of the 100 draws are first draws (always min); the rest differ. */
    ck_assert_int_ge(differ, 85);
}
END_TEST

START_TEST(test_spread)
{
    enum { N = 10000, BUCKETS = 10 };
    int hist[BUCKETS] = {0};
    double sum = 0;
    backoff b;
    backoff_init(&b, 1, 11, 31337);
    backoff_to_max(&b);
    for (int i = 0; i < N; i++) {
        double d = backoff_next(&b);
        sum += d;
        int k = (int)(d - 1);
        hist[k < BUCKETS ? k : BUCKETS - 1]++;
    }
    /* Uniform over [1, 11]: mean 6, about N/10 per unit-wide bucket. */
    ck_assert_double_eq_tol(sum / N, 6.0, 0.15);
    for (int k = 0; k < BUCKETS; k++)
        ck_assert_msg(hist[k] > 850 && hist[k] < 1150, "bucket %d holds %d", k, hist[k]);
}
END_TEST

START_TEST(test_unseeded)
{
    backoff a, b;
    backoff_init(&a, 1, 1000, 0);
    backoff_init(&b, 1, 1000, 0);
    ck_assert(a.rng != 0);
    ck_assert(a.rng != b.rng);
    backoff_to_max(&a);
    backoff_to_max(&b);
    int differ = 0;
    for (int i = 0; i < 10; i++) {
        double x = backoff_next(&a), y = backoff_next(&b);
        ck_assert(x >= 1 && x <= 1000 && y >= 1 && y <= 1000);
        differ += x != y;
    }
    ck_assert_int_ge(differ, 9);
}
END_TEST

START_TEST(test_min_equals_max)
{
    backoff b;
    backoff_init(&b, 5, 5, 1);
    for (int i = 0; i < 10; i++)
        ck_assert_double_eq(backoff_next(&b), 5);
}
END_TEST

START_TEST(test_bad_arguments_repaired)
{
    backoff b;
    backoff_init(&b, 0, 10, 1);
    ck_assert_double_eq(b.min, 0.001);
    ck_assert(backoff_next(&b) > 0);
    backoff_init(&b, 10, 1, 1);
    ck_assert_double_eq(b.max, 10);
    backoff_init(&b, NAN, NAN, 1);
    ck_assert_double_eq(b.min, 0.001);
    ck_assert_double_eq(b.max, 0.001);
    backoff_init(&b, -3, 2, 1);
    ck_assert_double_eq(b.min, 0.001);
    ck_assert_double_eq(b.max, 2);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_growth);
    tcase_add_test(tc, test_first_delay_is_min);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_to_max);
    tcase_add_test(tc, test_session_closed_for_bad_input_resets);
    tcase_add_test(tc, test_short_session_keeps_growing);
    tcase_add_test(tc, test_reproducible);
    tcase_add_test(tc, test_spread);
    tcase_add_test(tc, test_unseeded);
    tcase_add_test(tc, test_min_equals_max);
    tcase_add_test(tc, test_bad_arguments_repaired);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backoff_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
