#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "testutil.h"

START_TEST(put_get_del)
{
    hmap m = HMAP_INIT;
    ck_assert_ptr_null(hmap_get(&m, "a"));
    int one = 1, two = 2, three = 3;
    ck_assert_int_eq(hmap_put(&m, "a", &one), 0);
    ck_assert_int_eq(hmap_put(&m, "b", &two), 0);
    ck_assert_ptr_eq(hmap_get(&m, "a"), &one);
    ck_assert_int_eq(hmap_put(&m, "a", &three), 0);
    ck_assert_ptr_eq(hmap_get(&m, "a"), &three);
    ck_assert_uint_eq(m.count, 2);
    ck_assert_ptr_eq(hmap_del(&m, "a"), &three);
    ck_assert_ptr_null(hmap_get(&m, "a"));
    ck_assert_ptr_null(hmap_del(&m, "a"));
    ck_assert_ptr_eq(hmap_get(&m, "b"), &two);
    hmap_free(&m);
}
END_TEST

START_TEST(many_with_deletes)
{
    /* Deleting from the middle of probe runs must keep every other key
     * reachable (backward-shift deletion). */
    enum { N = 5000 };
    static char keys[N][16];
    hmap m = HMAP_INIT;
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        ck_assert_int_eq(hmap_put(&m, keys[i], keys[i]), 0);
    }
    for (int i = 0; i < N; i += 3)
        ck_assert_ptr_eq(hmap_del(&m, keys[i]), keys[i]);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            ck_assert_ptr_null(hmap_get(&m, keys[i]));
        else
            ck_assert_ptr_eq(hmap_get(&m, keys[i]), keys[i]);
    }
    size_t it = 0, seen = 0;
    const char *k;
    void *v;
    while (hmap_next(&m, &it, &k, &v)) {
        ck_assert_ptr_eq(k, v);
        seen++;
    }
    ck_assert_uint_eq(seen, m.count);
    ck_assert_uint_eq(seen, N - (N + 2) / 3);
    hmap_free(&m);
}
END_TEST

START_TEST(hash_depends_on_every_byte)
{
    ck_assert(hmap_hash("abcdefgh1", 9) != hmap_hash("abcdefgh2", 9));
    ck_assert(hmap_hash("", 0) != hmap_hash("a", 1));
    ck_assert(hmap_hash("abc", 3) == hmap_hash("abc", 3));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hmap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, put_get_del);
    tcase_add_test(tc, many_with_deletes);
    tcase_add_test(tc, hash_depends_on_every_byte);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
