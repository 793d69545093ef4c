/* stoa-component's own configuration: schema defaults and the checks that
 * go beyond one key (config.c's generic errors are in check_config). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "settings.h"
#include "testutil.h"

static char err[512];

START_TEST(minimal_file_gets_defaults)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = rooms.example.org\n"
                                          "secret = s3cret\n",
                                          &s, err, sizeof err),
                     0);
    ck_assert_str_eq(s.domain, "rooms.example.org");
    ck_assert_str_eq(s.server_host, "127.0.0.1");
    ck_assert_int_eq(s.server_port, 5347);
    ck_assert_str_eq(s.name, "Stoa chat rooms");
    ck_assert_double_eq(s.keepalive, 60);
    ck_assert_double_eq(s.reconnect_min, 0.25);
    ck_assert_double_eq(s.reconnect_max, 30);
    ck_assert_uint_eq(s.max_stanza_size, 256 * 1024);
    ck_assert_int_eq(s.max_depth, 32);
    ck_assert(s.redis_enabled);
    ck_assert_str_eq(s.redis_host, "127.0.0.1");
    ck_assert_int_eq(s.redis_port, 6379);
    ck_assert_str_eq(s.redis_prefix, "stoa:");
    ck_assert_int_eq(s.log_level, LOG_LVL_INFO);
    ck_assert(!s.log_syslog);
    settings_free(&s);
}
END_TEST

START_TEST(example_file_loads)
{
    const char *dir = getenv("STOA_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/component/stoa-component.conf.example", dir ? dir : ".");
    settings s;
    ck_assert_msg(settings_load(path, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s.domain, "rooms.localhost");
    settings_free(&s);
}
END_TEST

START_TEST(desk_addresses_checked)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = rooms.example.org\nsecret = x\n"
                                          "[desk]\nmoderators = Mod@Example.org, nobody\n",
                                          &s, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf: [desk] moderators: 'nobody' is not a bare user JID");
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = rooms.example.org\nsecret = x\n"
                                          "[desk]\nreport_servers = a@example.org\n",
                                          &s, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf: [desk] report_servers: 'a@example.org' is not a domain");
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = rooms.example.org\nsecret = x\n"
                                          "[desk]\nmoderators = a@example.org\n"
                                          "report_servers = example.org\nescalate_reporters = 2\n",
                                          &s, err, sizeof err),
                     0);
    ck_assert_int_eq(s.desk_escalate_reporters, 2);
    ck_assert(s.desk_report_retention == 720 * 3600.0);
    settings_free(&s);
    /* One person must never be enough to escalate. */
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = rooms.example.org\nsecret = x\n"
                                          "[desk]\nescalate_reporters = 1\n",
                                          &s, err, sizeof err),
                     -1);
}
END_TEST

START_TEST(missing_secret)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf", "[component]\ndomain = rooms.example.org\n", &s,
                                          err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf: [component] secret is required but missing");
}
END_TEST

START_TEST(empty_secret)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = rooms.example.org\nsecret =\n", &s,
                                          err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf: [component] secret must not be empty");
}
END_TEST

START_TEST(domain_must_be_a_domain)
{
    static const char *const bad[] = {"user@rooms.example.org", "rooms.example.org/res",
                                      "bad domain", "-x.example.org"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[256];
        snprintf(text, sizeof text, "[component]\ndomain = %s\nsecret = x\n", bad[i]);
        settings s;
        ck_assert_int_eq(settings_load_string("t.conf", text, &s, err, sizeof err), -1);
        char want[300];
        snprintf(want, sizeof want, "t.conf: [component] domain: '%s' is not a valid domain",
                 bad[i]);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "got: %s", err);
    }
}
END_TEST

START_TEST(domain_is_normalized)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = Rooms.Example.org\nsecret = x\n",
                                          &s, err, sizeof err),
                     0);
    ck_assert_str_eq(s.domain, "rooms.example.org");
    settings_free(&s);
}
END_TEST

START_TEST(secret_never_in_errors)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\n"
                                          "secret = hunter2\nsecret = hunter3\n",
                                          &s, err, sizeof err),
                     -1);
    ck_assert_ptr_null(strstr(err, "hunter"));
}
END_TEST

START_TEST(reconnect_bounds_ordered)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = x\n"
                                          "reconnect_min = 10s\nreconnect_max = 1s\n",
                                          &s, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf: [component] reconnect_min must not exceed reconnect_max");
}
END_TEST

START_TEST(unknown_key_names_file_line_key)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = x\n"
                                          "secert = y\n",
                                          &s, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf:4: [component] unknown key 'secert'");
}
END_TEST

START_TEST(port_out_of_range)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = x\n"
                                          "server_port = 70000\n",
                                          &s, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf:4: [component] server_port: expected an integer between 1 and "
                          "65535, got '70000'");
}
END_TEST

START_TEST(reload_detects_restart_only_keys)
{
    settings a, b;
    ck_assert_int_eq(settings_load_string("a", "[component]\ndomain = r.example.org\nsecret = x\n",
                                          &a, err, sizeof err),
                     0);
    ck_assert_int_eq(
        settings_load_string("b",
                             "[component]\ndomain = r.example.org\nsecret = y\n"
                             "name = Other\nserver_port = 5348\n[log]\nlevel = debug\n",
                             &b, err, sizeof err),
        0);
    char changed[256];
    ck_assert_int_eq(config_unreloadable_changes(settings_schema, &a, &b, changed, sizeof changed),
                     2);
    ck_assert_ptr_nonnull(strstr(changed, "[component] secret"));
    ck_assert_ptr_nonnull(strstr(changed, "[component] server_port"));
    ck_assert_ptr_null(strstr(changed, "name"));
    settings_free(&a);
    settings_free(&b);
}
END_TEST

START_TEST(safety_defaults_and_domain_lists)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = x\n"
                                          "[blocking]\nonly_domains = Staff.example, b.example\n",
                                          &s, err, sizeof err),
                     0);
    ck_assert(s.rl_enabled && s.blocking_enabled);
    ck_assert_double_eq(s.rl_interval[0], 1); /* room_message */
    ck_assert_int_eq(s.rl_burst[0], 10);
    ck_assert_int_eq(s.links_policy, 3); /* reject */
    ck_assert_int_eq(s.links_stranger_minutes, 10);
    settings_free(&s);
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = x\n"
                                          "[blocking]\nblock_domains = ok.example, u@bad.example\n",
                                          &s, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "t.conf: [blocking] block_domains: 'u@bad.example' is not a domain");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, minimal_file_gets_defaults);
    tcase_add_test(tc, example_file_loads);
    tcase_add_test(tc, missing_secret);
    tcase_add_test(tc, desk_addresses_checked);
    tcase_add_test(tc, empty_secret);
    tcase_add_test(tc, domain_must_be_a_domain);
    tcase_add_test(tc, domain_is_normalized);
    tcase_add_test(tc, secret_never_in_errors);
    tcase_add_test(tc, reconnect_bounds_ordered);
    tcase_add_test(tc, unknown_key_names_file_line_key);
    tcase_add_test(tc, port_out_of_range);
    tcase_add_test(tc, reload_detects_restart_only_keys);
    tcase_add_test(tc, safety_defaults_and_domain_lists);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
