#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "testutil.h"

START_TEST(append_and_consume)
{
    buf b = BUF_INIT;
    ck_assert_int_eq(buf_puts(&b, "hello "), 0);
    ck_assert_int_eq(buf_printf(&b, "%s %d", "world", 42), 0);
    ck_assert_uint_eq(buf_unread_len(&b), 14);
    ck_assert_int_eq(memcmp(buf_unread(&b), "hello world 42", 14), 0);
    buf_consume(&b, 6);
    char *s = buf_strdup(&b);
    ck_assert_str_eq(s, "world 42");
    free(s);
    buf_consume(&b, 100);
    ck_assert_uint_eq(buf_unread_len(&b), 0);
    buf_free(&b);
}
END_TEST

START_TEST(escaping)
{
    buf b = BUF_INIT;
    const char *in = "a<b>&\"c'";
    ck_assert_int_eq(buf_append_xml_escaped(&b, in, strlen(in)), 0);
    char *s = buf_strdup(&b);
    ck_assert_str_eq(s, "a&lt;b&gt;&amp;&quot;c&apos;");
    free(s);
    buf_free(&b);
}
END_TEST

START_TEST(queue_does_not_grow_when_drained)
{
    /* An output queue written as fast as it fills must reuse its storage. */
    buf b = BUF_INIT;
    char chunk[1000];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 10000; i++) {
        ck_assert_int_eq(buf_append(&b, chunk, sizeof chunk), 0);
        buf_consume(&b, 900);
    }
    /* 100 bytes left behind per round: about 1 MB unread at most. */
    ck_assert_uint_le(b.cap, 2u * 1024 * 1024);
    buf_free(&b);
}
END_TEST

START_TEST(shrink_keeps_unread)
{
    buf b = BUF_INIT;
    char big[100000];
    memset(big, 'y', sizeof big);
    buf_append(&b, big, sizeof big);
    buf_consume(&b, sizeof big - 10);
    buf_shrink(&b, 64);
    ck_assert_uint_eq(b.cap, 64);
    ck_assert_uint_eq(buf_unread_len(&b), 10);
    ck_assert_int_eq(memcmp(buf_unread(&b), "yyyyyyyyyy", 10), 0);
    buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, append_and_consume);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, queue_does_not_grow_when_drained);
    tcase_add_test(tc, shrink_keeps_unread);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
