/* The logger: level names both ways, the line format, truncation at a
 * character boundary, control characters shown as '?', syslog instead of
 * stderr. */
#include "log.h"

#include <check.h>
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "testutil.h"

/* Runs fn with stderr redirected and returns what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    /* The logger wrote to the descriptor, not through tmp's stdio buffer. */
    off_t n = lseek(fileno(tmp), 0, SEEK_END);
    ck_assert_int_ge(n, 0);
    char *out = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(pread(fileno(tmp), out, (size_t)n, 0), n);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

START_TEST(test_log_level_parse)
{
    static const struct {
        const char *text;
        log_level want;
    } ok[] = {
        {"debug", LOG_LVL_DEBUG},  {"info", LOG_LVL_INFO},   {"warn", LOG_LVL_WARN},
        {"warning", LOG_LVL_WARN}, {"error", LOG_LVL_ERROR}, {"DEBUG", LOG_LVL_DEBUG},
        {"Warning", LOG_LVL_WARN}, {"ERROR", LOG_LVL_ERROR},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        log_level l = (log_level)-1;
        ck_assert_int_eq(log_level_parse(ok[i].text, &l), 0);
        ck_assert_int_eq(l, ok[i].want);
    }
    static const char *const bad[] = {"", "verbose", "warn ", " info", "err", "errors", NULL};
    for (int i = 0; bad[i]; i++) {
        log_level l = LOG_LVL_ERROR;
        ck_assert_int_eq(log_level_parse(bad[i], &l), -1);
        ck_assert_int_eq(l, LOG_LVL_ERROR); /* untouched */
    }
    log_level l;
    ck_assert_int_eq(log_level_parse(NULL, &l), -1);
    ck_assert_int_eq(log_level_parse("info", NULL), -1);
}
END_TEST

START_TEST(test_log_level_name)
{
    ck_assert_str_eq(log_level_name(LOG_LVL_DEBUG), "debug");
    ck_assert_str_eq(log_level_name(LOG_LVL_INFO), "info");
    ck_assert_str_eq(log_level_name(LOG_LVL_WARN), "warn");
    ck_assert_str_eq(log_level_name(LOG_LVL_ERROR), "error");
    ck_assert_str_eq(log_level_name((log_level)42), "unknown");
    log_set_level(LOG_LVL_WARN);
    ck_assert_int_eq(log_get_level(), LOG_LVL_WARN);
}
END_TEST

static void log_some(void)
{
    log_init("stoa-test", LOG_LVL_INFO, false);
    errno = EAGAIN;
    log_debug("not shown %d", 1);
    log_info("hello %d", 42);
    ck_assert_int_eq(errno, EAGAIN);
    log_set_level(LOG_LVL_ERROR);
    log_warn("not shown either");
    log_error("bad\nthing\r\x1b[31m\tend");
    log_close();
}

START_TEST(test_log_format)
{
    char *out = capture_stderr(log_some);
    regex_t re;
    const char *pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                          "INFO stoa-test: hello 42\n"
                          "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                          "ERROR stoa-test: bad\\?thing\\?\\?\\[31m\tend\n$";
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "unexpected log output: %s", out);
    regfree(&re);
    free(out);
}
END_TEST

static void log_long(void)
{
    log_init("t", LOG_LVL_DEBUG, false);
    char *big = malloc(20000);
    /* Two-byte characters, so the cut can land inside one. */
    for (int i = 0; i < 19998; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    big[19998] = '\0';
    log_debug("%s", big);
    free(big);
    log_close();
}

START_TEST(test_log_truncates)
{
    char *out = capture_stderr(log_long);
    size_t n = strlen(out);
    ck_assert_uint_lt(n, 8192);
    ck_assert_uint_gt(n, 8000);
    ck_assert_ptr_eq(strchr(out, '\n'), out + n - 1); /* one line */
    ck_assert_str_eq(out + n - 4, "\xe2\x80\xa6\n");
    /* Cut at a character boundary: a whole "é" precedes the ellipsis. */
    ck_assert_int_eq((unsigned char)out[n - 6], 0xc3);
    ck_assert_int_eq((unsigned char)out[n - 5], 0xa9);
    ck_assert_ptr_nonnull(strstr(out, "Z DEBUG t: \xc3\xa9"));
    free(out);
}
END_TEST

static void log_to_syslog(void)
{
    log_init("stoa-test", LOG_LVL_DEBUG, true);
    log_error("to syslog only");
    log_close();
}

START_TEST(test_log_syslog_not_stderr)
{
    char *out = capture_stderr(log_to_syslog);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, test_log_level_parse);
    tcase_add_test(tc, test_log_level_name);
    tcase_add_test(tc, test_log_format);
    tcase_add_test(tc, test_log_truncates);
    tcase_add_test(tc, test_log_syslog_not_stderr);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
