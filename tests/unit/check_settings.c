/* stoa-component's own configuration: schema defaults and the checks that
 * go beyond one key (config.c's generic errors are in check_config). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "complink.h"
#include "gateways.h"
#include "log.h"
#include "rdb.h"
#include "safety/gate.h"
#include "service.h"
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
    ck_assert_str_eq(s.domain, "rooms.example.org");
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
    ck_assert_str_eq(err, "t.conf: [component] secret is required (or secret_file, or "
                          "STOA_COMPONENT_SECRET in the environment)");
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

/* A file in the temporary directory holding text; its path in path. */
static void write_tmp(char *path, size_t len, const char *name, const char *text)
{
    snprintf(path, len, "%s/stoa-check-settings-%d-%s",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(secrets_from_files)
{
    char sec[512], pw[512], text[2048];
    write_tmp(sec, sizeof sec, "secret", "from-a-file\n");
    write_tmp(pw, sizeof pw, "password", "redis-pw\r\n");
    snprintf(text, sizeof text,
             "[component]\ndomain = r.example.org\nsecret_file = %s\n[redis]\npassword_file = %s\n",
             sec, pw);
    settings s;
    ck_assert_msg(settings_load_string("t.conf", text, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s.secret, "from-a-file");
    ck_assert_str_eq(s.redis_password, "redis-pw");
    settings_free(&s);

    /* One source only; a file of two lines is a mistake, not a secret. */
    snprintf(text, sizeof text,
             "[component]\ndomain = r.example.org\nsecret = x\nsecret_file = %s\n", sec);
    ck_assert_int_eq(settings_load_string("t.conf", text, &s, err, sizeof err), -1);
    ck_assert_str_eq(err, "t.conf: [component] secret and secret_file are both set: keep one");
    write_tmp(sec, sizeof sec, "secret", "line-one\nline-two\n");
    snprintf(text, sizeof text, "[component]\ndomain = r.example.org\nsecret_file = %s\n", sec);
    ck_assert_int_eq(settings_load_string("t.conf", text, &s, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "[component] secret_file: "));
    ck_assert_ptr_nonnull(strstr(err, ": holds more than one line"));
    ck_assert_ptr_null(strstr(err, "line-one"));
    write_tmp(sec, sizeof sec, "secret", "\n");
    ck_assert_int_eq(settings_load_string("t.conf", text, &s, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ": is empty"));
    unlink(sec);
    ck_assert_int_eq(settings_load_string("t.conf", text, &s, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ": cannot read: No such file or directory"));
    unlink(pw);
}
END_TEST

START_TEST(secrets_from_the_environment)
{
    settings s;
    setenv("STOA_COMPONENT_SECRET", "env-secret", 1);
    setenv("STOA_REDIS_PASSWORD", "env-pw", 1);
    ck_assert_msg(settings_load_string("t.conf", "[component]\ndomain = r.example.org\n", &s, err,
                                       sizeof err) == 0,
                  "%s", err);
    ck_assert_str_eq(s.secret, "env-secret");
    ck_assert_str_eq(s.redis_password, "env-pw");
    settings_free(&s);
    /* The file wins: the environment fills only what it leaves out. */
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = f\n"
                                          "[redis]\npassword =\n",
                                          &s, err, sizeof err),
                     0);
    ck_assert_str_eq(s.secret, "f");
    ck_assert_str_eq(s.redis_password, "");
    settings_free(&s);
    unsetenv("STOA_COMPONENT_SECRET");
    unsetenv("STOA_REDIS_PASSWORD");
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = f\n", &s,
                                          err, sizeof err),
                     0);
    ck_assert_str_eq(s.redis_password, "");
    settings_free(&s);
}
END_TEST

/* A configuration that only names its secret's file may be world-readable;
 * the secret file may not, nor a configuration holding a secret itself. */
START_TEST(secret_files_must_be_private)
{
    char sec[512], conf[512], text[1024];
    write_tmp(sec, sizeof sec, "private-secret", "s3cret\n");
    chmod(sec, 0600);
    snprintf(text, sizeof text, "[component]\ndomain = r.example.org\nsecret_file = %s\n", sec);
    write_tmp(conf, sizeof conf, "private.conf", text);
    chmod(conf, 0644);
    settings s;
    ck_assert_msg(settings_load(conf, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(settings_check_private(conf, &s, err, sizeof err) == 0, "%s", err);
    chmod(sec, 0644);
    ck_assert_int_eq(settings_check_private(conf, &s, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, sec, strlen(sec)) == 0 && strstr(err, "holds [component] secret") &&
                      strstr(err, "every user of this machine may read it"),
                  "%s", err);
    ck_assert_ptr_null(strstr(err, "s3cret"));
    settings_free(&s);
    /* The secret in the configuration itself: the configuration is checked. */
    write_tmp(conf, sizeof conf, "private.conf",
              "[component]\ndomain = r.example.org\nsecret = x\n");
    chmod(conf, 0644);
    ck_assert_int_eq(settings_load(conf, &s, err, sizeof err), 0);
    ck_assert_int_eq(settings_check_private(conf, &s, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, conf, strlen(conf)) == 0, "%s", err);
    settings_free(&s);
    /* From the environment: nothing to check but the file's other secrets. */
    setenv("STOA_COMPONENT_SECRET", "env", 1);
    write_tmp(conf, sizeof conf, "private.conf", "[component]\ndomain = r.example.org\n");
    chmod(conf, 0644);
    ck_assert_int_eq(settings_load(conf, &s, err, sizeof err), 0);
    ck_assert_msg(settings_check_private(conf, &s, err, sizeof err) == 0, "%s", err);
    settings_free(&s);
    unsetenv("STOA_COMPONENT_SECRET");
    unlink(sec);
    unlink(conf);
}
END_TEST

/* Whether `key` appears in [section] of a text where section headers are
 * lines starting with `head` ("[", ".SS [", "### [") and keys are lines
 * matching `pre` KEY `post` once leading "# " is dropped. */
static bool documents(const char *text, const char *head, const char *section, const char *pre,
                      const char *key, const char *post)
{
    char want_head[128], want_key[128];
    snprintf(want_head, sizeof want_head, "%s%s]", head, section);
    snprintf(want_key, sizeof want_key, "%s%s%s", pre, key, post);
    bool in = false;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, head, strlen(head)) == 0)
            in = strncmp(l, want_head, strlen(want_head)) == 0;
        const char *k = l;
        if (k[0] == '#' && k[1] == ' ')
            k += 2;
        if (in && strncmp(k, want_key, strlen(want_key)) == 0)
            return true;
    }
    return false;
}

static char *slurp(const char *rel)
{
    const char *dir = getenv("STOA_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", rel);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char text[256 * 1024];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return strdup(text);
}

/* The example, the manual page and the reference list every key of the
 * schema, each in its own section, so none of them can fall behind it. */
START_TEST(every_key_documented)
{
    char *example = slurp("component/stoa-component.conf.example");
    char *man = slurp("man/stoa.conf.5");
    char *md = slurp("docs/configuration.md");
    int keys = 0;
    for (const config_key *k = settings_schema; k->name; k++, keys++) {
        ck_assert_msg(documents(example, "[", k->section, "", k->name, " ="),
                      "[%s] %s missing from stoa-component.conf.example", k->section, k->name);
        ck_assert_msg(documents(man, ".SS [", k->section, ".B ", k->name, "\n"),
                      "[%s] %s missing from man/stoa.conf.5", k->section, k->name);
        ck_assert_msg(documents(md, "### [", k->section, "| `", k->name, "` |"),
                      "[%s] %s missing from docs/configuration.md", k->section, k->name);
    }
    ck_assert_int_gt(keys, 70);
    free(example);
    free(man);
    free(md);
}
END_TEST

/* Every module's struct gets what the file says, through the table. */
START_TEST(settings_reach_the_modules)
{
    settings s;
    ck_assert_int_eq(settings_load_string("t.conf",
                                          "[component]\ndomain = r.example.org\nsecret = x\n"
                                          "server_port = 5348\nkeepalive = 90s\n"
                                          "[limits]\nmax_depth = 40\n"
                                          "[muc]\narchive_max = 77\n"
                                          "[links]\nstranger_minutes = 3\n"
                                          "[desk]\nmoderators = m@r.example.org\n"
                                          "[ratelimit]\ninvite_domain_burst = 9\nqueue_max = 12\n"
                                          "[redis]\nprefix = p:\ndb = 2\n",
                                          &s, err, sizeof err),
                     0);
    service_config sc = {0};
    ck_assert_int_eq(settings_fill(&s, SETTINGS_SERVICE, &sc), 0);
    ck_assert_str_eq(sc.domain, "r.example.org");
    ck_assert_str_eq(sc.name, "Stoa chat rooms");
    ck_assert_uint_eq(sc.muc.history_default, 20);
    ck_assert_double_eq(sc.muc.stranger_seconds, 180);
    ck_assert_int_eq(sc.muc.links_policy, 3);
    ck_assert_str_eq(sc.desk.moderators, "m@r.example.org");
    ck_assert_uint_eq(sc.desk.escalate_reporters, 3);
    ck_assert_str_eq(sc.prefix, "p:");
    ck_assert_uint_eq(sc.archive_max, 77);
    ck_assert(sc.blocking);
    gate_config gc = {0};
    ck_assert_int_eq(settings_fill(&s, SETTINGS_GATE, &gc), 0);
    ck_assert(gc.enabled && gc.domains_enabled);
    ck_assert_double_eq(gc.jid[GATE_C_ROOM_MESSAGE].interval, 1);
    ck_assert_double_eq(gc.jid[GATE_C_ROOM_MESSAGE].burst, 10);
    ck_assert_double_eq(gc.dom[GATE_C_INVITE].burst, 9);
    ck_assert_uint_eq(gc.queue_max, 12);
    ck_assert_double_eq(gc.mute_seconds, 300);
    complink_config lc = {0};
    ck_assert_int_eq(settings_fill(&s, SETTINGS_LINK, &lc), 0);
    ck_assert_int_eq(lc.port, 5348);
    ck_assert_str_eq(lc.secret, "x");
    ck_assert_double_eq(lc.backoff_min, 0.25);
    xstream_options o;
    xstream_options_default(&o);
    ck_assert_int_eq(settings_fill(&s, SETTINGS_STREAM, &o), 0);
    ck_assert_uint_eq(o.limits.max_depth, 40);
    ck_assert_uint_eq(o.limits.max_stanza_bytes, 256 * 1024);
    ck_assert_double_eq(o.keepalive, 90);
    rdb_config rc = {0};
    ck_assert_int_eq(settings_fill(&s, SETTINGS_REDIS, &rc), 0);
    ck_assert_int_eq(rc.db, 2);
    ck_assert_int_eq(rc.port, 6379);
    gateways_config gw = {0};
    ck_assert_int_eq(settings_fill(&s, SETTINGS_GATEWAYS, &gw), 0);
    ck_assert_str_eq(gw.listen, "127.0.0.1");
    ck_assert_int_eq(gw.port, 0);
    ck_assert_str_eq(gw.domain, "r.example.org");
    ck_assert_double_eq(gw.handshake_timeout, 10);
    settings_free(&s);
}
END_TEST

/* SIGHUP takes the reloadable keys and only those; the old values are left
 * for freeing. */
START_TEST(reload_takes_the_reloadable_keys)
{
    settings run, fresh;
    ck_assert_int_eq(settings_load_string("a.conf",
                                          "[component]\ndomain = r.example.org\nsecret = x\n", &run,
                                          err, sizeof err),
                     0);
    ck_assert_int_eq(
        settings_load_string("b.conf",
                             "[component]\ndomain = r.example.org\nsecret = y\n"
                             "name = Other\nkeepalive = 5s\n[muc]\non_stop = announce\n"
                             "history = 3\n[log]\nlevel = debug\n",
                             &fresh, err, sizeof err),
        0);
    config_take_reloadable(settings_schema, &run, &fresh);
    ck_assert_str_eq(run.name, "Other");
    ck_assert_double_eq(run.keepalive, 5);
    ck_assert_int_eq(run.muc_on_stop, SETTINGS_STOP_ANNOUNCE);
    ck_assert_int_eq(run.log_level, LOG_LVL_DEBUG);
    ck_assert_str_eq(run.secret, "x");
    ck_assert_int_eq(run.muc_history, 20);
    ck_assert_str_eq(fresh.name, "Stoa chat rooms");
    settings_free(&fresh);
    settings_free(&run);
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
    tcase_add_test(tc, secrets_from_files);
    tcase_add_test(tc, secrets_from_the_environment);
    tcase_add_test(tc, every_key_documented);
    tcase_add_test(tc, secret_files_must_be_private);
    tcase_add_test(tc, settings_reach_the_modules);
    tcase_add_test(tc, reload_takes_the_reloadable_keys);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
