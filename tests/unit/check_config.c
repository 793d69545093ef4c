#include "config.h"

#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct conf {
    char *domain;
    char *secret;
    char *name;
    char *password;
    long port;
    long pin;
    long offset;
    bool syslog;
    double keepalive;
    double timeout;
    size_t max_stanza;
    size_t buffer;
    int level;
};

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

#define KEY(sec, nm, ty, fld, def, req, rel, sec_, lo, hi)                                         \
    {                                                                                              \
        sec, nm, ty, offsetof(struct conf, fld), def, req, rel, sec_, lo, hi, NULL, NULL           \
    }

static const config_key schema[] = {
    KEY("component", "domain", CFG_STRING, domain, NULL, true, false, false, 0, 0),
    KEY("component", "secret", CFG_STRING, secret, NULL, true, false, true, 0, 0),
    KEY("component", "name", CFG_STRING, name, "Stoa", false, true, false, 0, 0),
    KEY("component", "port", CFG_INT, port, "5347", false, false, false, 1, 65535),
    KEY("component", "keepalive", CFG_SECONDS, keepalive, "60s", false, true, false, 0, 3600),
    KEY("component", "timeout", CFG_SECONDS, timeout, "10s", false, false, false, 0, 0),
    KEY("limits", "max_stanza_size", CFG_SIZE, max_stanza, "256k", false, true, false, 1024,
        16777216),
    KEY("limits", "buffer", CFG_SIZE, buffer, NULL, false, false, false, 0, 0),
    KEY("limits", "offset", CFG_INT, offset, "0", false, true, false, 0, 0),
    KEY("redis", "password", CFG_STRING, password, NULL, false, false, true, 0, 0),
    KEY("redis", "pin", CFG_INT, pin, "0", false, false, true, 0, 9999),
    {"log", "level", CFG_ENUM, offsetof(struct conf, level), "info", false, true, false, 0, 0,
     levels, "debug, info, warn or error"},
    KEY("log", "syslog", CFG_BOOL, syslog, "false", false, true, false, 0, 0),
    {NULL, NULL, CFG_STRING, 0, NULL, false, false, false, 0, 0, NULL, NULL},
};

/* Three lines that satisfy the required keys. */
#define MIN "[component]\ndomain = rooms.example\nsecret = x\n"

static struct conf c;
static char err[1024];

static void setup(void)
{
    memset(&c, 0, sizeof c);
    err[0] = '\0';
}

static void teardown(void)
{
    config_free_values(schema, &c);
}

static int load(const char *text)
{
    return config_load_string("test.conf", text, schema, &c, err, sizeof err);
}

/* A failed load reports exactly `msg` and leaves no string behind. */
#define FAILS(text, msg)                                                                           \
    do {                                                                                           \
        ck_assert_int_eq(load(text), -1);                                                          \
        ck_assert_str_eq(err, msg);                                                                \
        ck_assert_ptr_null(c.domain);                                                              \
        ck_assert_ptr_null(c.secret);                                                              \
        ck_assert_ptr_null(c.name);                                                                \
    } while (0)

#define LOADS(text)                                                                                \
    do {                                                                                           \
        int rc_ = load(text);                                                                      \
        ck_assert_msg(rc_ == 0, "load failed: %s", err);                                           \
    } while (0)

static char *data_path(const char *file)
{
    const char *dir = getenv("STOA_TEST_DATA");
    if (!dir || !*dir)
        dir = "tests/unit/data";
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

START_TEST(test_defaults)
{
    LOADS(MIN);
    ck_assert_str_eq(c.domain, "rooms.example");
    ck_assert_str_eq(c.secret, "x");
    ck_assert_str_eq(c.name, "Stoa");
    ck_assert_ptr_null(c.password);
    ck_assert_int_eq(c.port, 5347);
    ck_assert_int_eq(c.pin, 0);
    ck_assert_int_eq(c.offset, 0);
    ck_assert(!c.syslog);
    ck_assert_double_eq(c.keepalive, 60);
    ck_assert_double_eq(c.timeout, 10);
    ck_assert_uint_eq(c.max_stanza, 256 * 1024);
    ck_assert_uint_eq(c.buffer, 0);
    ck_assert_int_eq(c.level, 1);
}
END_TEST

START_TEST(test_fixture_file)
{
    char *path = data_path("config-valid.conf");
    int rc = config_load(path, schema, &c, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    free(path);
    ck_assert_str_eq(c.domain, "rooms.example");
    ck_assert_str_eq(c.secret, "s3cret #not a comment; really");
    ck_assert_str_eq(c.name, "Stoa test rooms");
    ck_assert_str_eq(c.password, "");
    ck_assert_int_eq(c.port, 5348);
    ck_assert_int_eq(c.pin, 1234);
    ck_assert_int_eq(c.offset, -12);
    ck_assert(c.syslog);
    ck_assert_double_eq(c.keepalive, 90);
    ck_assert_double_eq(c.timeout, 1.5);
    ck_assert_uint_eq(c.max_stanza, 65536);
    ck_assert_uint_eq(c.buffer, 2 * 1024 * 1024);
    ck_assert_int_eq(c.level, 2);
}
END_TEST

START_TEST(test_fixture_error_names_path)
{
    char *path = data_path("config-bad.conf");
    char want[1200];
    snprintf(want, sizeof want,
             "%s:5: [component] port: expected an integer between 1 and 65535, got '70000'", path);
    ck_assert_int_eq(config_load(path, schema, &c, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(c.domain);
    free(path);
}
END_TEST

START_TEST(test_missing_file)
{
    ck_assert_int_eq(config_load("/nonexistent/stoa.conf", schema, &c, err, sizeof err), -1);
    ck_assert_str_eq(err, "/nonexistent/stoa.conf: cannot read: No such file or directory");
}
END_TEST

START_TEST(test_directory)
{
    ck_assert_int_eq(config_load("/", schema, &c, err, sizeof err), -1);
    ck_assert_str_eq(err, "/: cannot read: Is a directory");
}
END_TEST

static char *temp_file(const void *data, size_t n)
{
    char *path = strdup("/tmp/check_config.XXXXXX");
    ck_assert_ptr_nonnull(path);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

START_TEST(test_file_too_large)
{
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, '#', n);
    char *path = temp_file(big, n);
    free(big);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot read: File too large", path);
    ck_assert_int_eq(config_load(path, schema, &c, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_nul_byte)
{
    static const char text[] = MIN "name = a\0b\n";
    char *path = temp_file(text, sizeof text - 1);
    char want[256];
    snprintf(want, sizeof want, "%s:4: unexpected NUL byte", path);
    ck_assert_int_eq(config_load(path, schema, &c, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    unlink(path);
    free(path);
}
END_TEST

/* A file holding a secret may be read by its owner and the daemon's own
 * group only (Debian's root:<daemon group> 0640), never by everyone. */
START_TEST(test_secret_file_private)
{
    static const char text[] = MIN;
    char *path = temp_file(text, sizeof text - 1);
    ck_assert_int_eq(config_load(path, schema, &c, err, sizeof err), 0);
    char want[512];

    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), 0);
    ck_assert_int_eq(chmod(path, 0640), 0); /* mkstemp gave it our own group */
    ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), 0);

    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s holds [component] secret, but every user of this machine may read it (mode "
             "0644): chmod 0600, or 0640 with the group the daemon runs as (chown root:<its "
             "group>)",
             path);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(strstr(err, "= x"));
    ck_assert_int_eq(chmod(path, 0602), 0);
    ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "may change it (mode 0602)"));

    /* Another group: only root may give the file away (tests/run runs as
     * root); as anyone else chown must fail, and says so. */
    ck_assert_int_eq(chmod(path, 0640), 0);
    gid_t other = getegid() + 4242;
    if (chown(path, (uid_t)-1, other) == 0) {
        ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), -1);
        ck_assert_ptr_nonnull(strstr(err, "the members of group "));
        ck_assert_ptr_nonnull(strstr(err, "may read it (mode 0640)"));
    } else {
        ck_assert_int_ne(geteuid(), 0);
    }

    /* Without a secret in it the file may be public. */
    ck_assert_int_eq(chmod(path, 0644), 0);
    free(c.secret);
    c.secret = NULL;
    ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), 0);
    c.secret = strdup("x");
    ck_assert_int_eq(config_check_private(path, schema, &c, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot check who may read it: No such file"));
    free(path);
}
END_TEST

START_TEST(test_comments_and_whitespace)
{
    LOADS("# comment\n"
          "; comment\n"
          "\n"
          "   \t\n"
          "  [component]   # section comment\n"
          "\tdomain\t=\trooms.example\t\n"
          "secret=x;y\n"
          "name = a#b c;d ; comment\n"
          "[ log ] ; spaced name\n"
          "level = error # comment\n");
    ck_assert_str_eq(c.domain, "rooms.example");
    ck_assert_str_eq(c.secret, "x;y");
    ck_assert_str_eq(c.name, "a#b c;d");
    ck_assert_int_eq(c.level, 3);
}
END_TEST

START_TEST(test_quoted_values)
{
    LOADS(MIN "name = \"  two  words # ; \"   # comment\n"
              "[redis]\npassword = \"say \\\"hi\\\" \\\\ C:\\tmp\"\n");
    ck_assert_str_eq(c.name, "  two  words # ; ");
    ck_assert_str_eq(c.password, "say \"hi\" \\ C:\\tmp");
}
END_TEST

START_TEST(test_crlf_and_bom)
{
    LOADS("\xef\xbb\xbf[component]\r\ndomain = rooms.example\r\nsecret = \"x\"\r\n"
          "port = 80\r\n\r\n");
    ck_assert_str_eq(c.domain, "rooms.example");
    ck_assert_str_eq(c.secret, "x");
    ck_assert_int_eq(c.port, 80);
    /* Line numbers still count CRLF lines. */
    FAILS("[component]\r\n\r\nbogus = 1\r\n", "test.conf:3: [component] unknown key 'bogus'");
}
END_TEST

START_TEST(test_no_trailing_newline)
{
    LOADS("[component]\ndomain = d\nsecret = x");
    ck_assert_str_eq(c.secret, "x");
}
END_TEST

START_TEST(test_string_replaced_and_reload)
{
    LOADS(MIN "name = First\n");
    ck_assert_str_eq(c.name, "First");
    /* Loading again into the same struct frees every old string (ASan
     * would report the leak) and drops keys the new file no longer sets. */
    LOADS("[component]\ndomain = other.example\nsecret = y\n[redis]\npassword = p\n");
    ck_assert_str_eq(c.domain, "other.example");
    ck_assert_str_eq(c.name, "Stoa");
    ck_assert_str_eq(c.password, "p");
    LOADS(MIN);
    ck_assert_ptr_null(c.password);
}
END_TEST

START_TEST(test_empty_values)
{
    LOADS(MIN "[redis]\npassword =\n");
    ck_assert_str_eq(c.password, "");
    config_free_values(schema, &c);
    LOADS(MIN "[redis]\npassword = \"\"   ; explicitly empty\n");
    ck_assert_str_eq(c.password, "");
    config_free_values(schema, &c);
    /* Even over a default, and for a required key: whether empty is
     * acceptable is the caller's call (settings.c refuses an empty secret). */
    LOADS("[component]\ndomain = d\nsecret =   # forgot\nname =\n");
    ck_assert_str_eq(c.secret, "");
    ck_assert_str_eq(c.name, "");
    config_free_values(schema, &c);
    /* Other types give their usual message. */
    FAILS(MIN "port =\n",
          "test.conf:4: [component] port: expected an integer between 1 and 65535, got ''");
    FAILS(MIN "keepalive =\n",
          "test.conf:4: [component] keepalive: expected a duration (e.g. 30s, 250ms, 5m), got ''");
}
END_TEST

START_TEST(test_unknown_key)
{
    FAILS("[component]\nsecert = x\n", "test.conf:2: [component] unknown key 'secert'");
    /* Keys are case-sensitive. */
    FAILS(MIN "Port = 1\n", "test.conf:4: [component] unknown key 'Port'");
    /* A key from another section. */
    FAILS("[log]\nport = 1\n", "test.conf:2: [log] unknown key 'port'");
}
END_TEST

START_TEST(test_unknown_section)
{
    FAILS(MIN "[compnent]\n", "test.conf:4: unknown section [compnent]");
    FAILS("[Component]\n", "test.conf:1: unknown section [Component]");
    FAILS("[]\n", "test.conf:1: unknown section []");
}
END_TEST

START_TEST(test_int)
{
    LOADS(MIN "port = +443\n[limits]\noffset = -9223372036854775808\n[redis]\npin = 0042\n");
    ck_assert_int_eq(c.port, 443);
    ck_assert_int_eq(c.offset, (-9223372036854775807L - 1));
    ck_assert_int_eq(c.pin, 42);
    config_free_values(schema, &c);
    FAILS(MIN "port = 70000\n",
          "test.conf:4: [component] port: expected an integer between 1 and 65535, got '70000'");
    FAILS(MIN "port = 0\n",
          "test.conf:4: [component] port: expected an integer between 1 and 65535, got '0'");
    FAILS(MIN "port = 53x\n",
          "test.conf:4: [component] port: expected an integer between 1 and 65535, got '53x'");
    FAILS(MIN "port = 0x10\n",
          "test.conf:4: [component] port: expected an integer between 1 and 65535, got '0x10'");
    FAILS(MIN "port = \" 80\"\n",
          "test.conf:4: [component] port: expected an integer between 1 and 65535, got ' 80'");
    FAILS(MIN "port = -\n",
          "test.conf:4: [component] port: expected an integer between 1 and 65535, got '-'");
    /* Unbounded: the message cannot name a range. */
    FAILS(MIN "[limits]\noffset = 99999999999999999999\n",
          "test.conf:5: [limits] offset: expected an integer, got '99999999999999999999'");
}
END_TEST

START_TEST(test_secret_never_echoed)
{
    FAILS(MIN "[redis]\npin = hunter2\n",
          "test.conf:5: [redis] pin: expected an integer between 0 and 9999, got an invalid value");
    FAILS(MIN "[redis]\npin = 10000\n",
          "test.conf:5: [redis] pin: expected an integer between 0 and 9999, got an invalid value");
    ck_assert_ptr_null(strstr(err, "10000"));
}
END_TEST

START_TEST(test_bool)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", NULL};
    static const char *const no[] = {"false", "no", "off", "0", "False", "OFF", NULL};
    char text[256];
    for (int i = 0; yes[i]; i++) {
        snprintf(text, sizeof text, MIN "[log]\nsyslog = %s\n", yes[i]);
        LOADS(text);
        ck_assert_msg(c.syslog, "%s", yes[i]);
        snprintf(text, sizeof text, MIN "[log]\nsyslog = %s\n", no[i]);
        c.syslog = true;
        LOADS(text);
        ck_assert_msg(!c.syslog, "%s", no[i]);
    }
    FAILS(MIN "[log]\nsyslog = maybe\n",
          "test.conf:5: [log] syslog: expected true or false, got 'maybe'");
    FAILS(MIN "[log]\nsyslog = 2\n", "test.conf:5: [log] syslog: expected true or false, got '2'");
}
END_TEST

START_TEST(test_seconds)
{
    static const struct {
        const char *text;
        double want;
    } ok[] = {
        {"250ms", 0.25}, {"2s", 2},    {"5m", 300},  {"1h", 3600},    {"1.5", 1.5},   {"30", 30},
        {"0", 0},        {"0.1", 0.1}, {".5s", 0.5}, {"1500ms", 1.5}, {"9ms", 0.009},
    };
    char text[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(text, sizeof text, MIN "keepalive = %s\n", ok[i].text);
        LOADS(text);
        ck_assert_msg(c.keepalive == ok[i].want, "%s gave %g", ok[i].text, c.keepalive);
    }
    static const char *const bad[] = {"30x",  "-1s",   "s",    "inf", "nan",  "1e3",
                                      "0x10", "1.5.2", "30 s", "5M",  "1ms2", "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(text, sizeof text, MIN "keepalive = %s\n", bad[i]);
        snprintf(want, sizeof want,
                 "test.conf:4: [component] keepalive: expected a duration (e.g. 30s, 250ms, "
                 "5m), got '%s'",
                 bad[i]);
        FAILS(text, want);
    }
    FAILS(MIN "keepalive = 2h\n",
          "test.conf:4: [component] keepalive: must be between 0 and 3600 seconds");
    /* Unbounded durations still refuse what overflows a double. */
    char *huge = malloc(400);
    memset(huge, '9', 399);
    huge[399] = '\0';
    snprintf(text, sizeof text, MIN "timeout = %.200s\n", huge);
    LOADS(text);
    ck_assert(c.timeout > 1e198);
    config_free_values(schema, &c);
    char *big = malloc(strlen(MIN) + 420);
    sprintf(big, MIN "timeout = %sh\n", huge);
    ck_assert_int_eq(load(big), -1);
    ck_assert_ptr_nonnull(strstr(err, "expected a duration"));
    free(big);
    free(huge);
}
END_TEST

START_TEST(test_size)
{
    static const struct {
        const char *text;
        size_t want;
    } ok[] = {
        {"65536", 65536}, {"64k", 65536},    {"64K", 65536}, {"1M", 1048576},
        {"1m", 1048576},  {"16M", 16777216}, {"1024", 1024},
    };
    char text[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(text, sizeof text, MIN "[limits]\nmax_stanza_size = %s\n", ok[i].text);
        LOADS(text);
        ck_assert_uint_eq(c.max_stanza, ok[i].want);
    }
    LOADS(MIN "[limits]\nbuffer = 2g\n");
    ck_assert_uint_eq(c.buffer, (size_t)2 << 30);
    static const char *const bad[] = {"1.5M",        "-1",    "12kb", "k",
                                      "64 k",        "0x100", "1T",   "99999999999999999999999",
                                      "17179869184G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(text, sizeof text, MIN "[limits]\nbuffer = %s\n", bad[i]);
        snprintf(want, sizeof want,
                 "test.conf:5: [limits] buffer: expected a size (e.g. 65536, 64k, 1M), got '%s'",
                 bad[i]);
        FAILS(text, want);
    }
    FAILS(MIN "[limits]\nmax_stanza_size = 17M\n",
          "test.conf:5: [limits] max_stanza_size: must be between 1024 and 16777216 bytes");
    FAILS(MIN "[limits]\nmax_stanza_size = 1023\n",
          "test.conf:5: [limits] max_stanza_size: must be between 1024 and 16777216 bytes");
}
END_TEST

START_TEST(test_enum)
{
    LOADS(MIN "[log]\nlevel = warn\n");
    ck_assert_int_eq(c.level, 2);
    LOADS(MIN "[log]\nlevel = DEBUG\n");
    ck_assert_int_eq(c.level, 0);
    FAILS(MIN "[log]\nlevel = loud\n",
          "test.conf:5: [log] level: expected one of debug, info, warn, error, got 'loud'");
}
END_TEST

START_TEST(test_set_twice)
{
    FAILS(MIN "\n\nport = 1\nport = 2\n",
          "test.conf:7: [component] port: set twice (first on line 6)");
    /* Reopening the section does not make it legal. */
    FAILS(MIN "[log]\n[component]\ndomain = again\n",
          "test.conf:6: [component] domain: set twice (first on line 2)");
}
END_TEST

START_TEST(test_syntax_errors)
{
    FAILS("domain = x\n", "test.conf:1: key outside any section");
    FAILS("# c\n\nport\n", "test.conf:3: expected 'key = value'");
    FAILS(MIN "just some words\n", "test.conf:4: expected 'key = value'");
    FAILS(MIN " = value\n", "test.conf:4: expected 'key = value'");
    FAILS(MIN "name = \"open\n", "test.conf:4: unterminated quoted value");
    FAILS(MIN "name = \"escaped end\\\"\n", "test.conf:4: unterminated quoted value");
    FAILS(MIN "[log\n", "test.conf:4: unterminated section header");
    FAILS(MIN "[log] level = info\n", "test.conf:4: unexpected text after section header");
    FAILS(MIN "name = \"a\" b\n", "test.conf:4: unexpected text after quoted value");
}
END_TEST

START_TEST(test_required_missing)
{
    FAILS("[component]\ndomain = rooms.example\n",
          "test.conf: [component] secret is required but missing");
    FAILS("", "test.conf: [component] domain is required but missing");
}
END_TEST

START_TEST(test_line_length)
{
    /* "name = " (7 bytes) plus the value: exactly 4096 bytes is fine. */
    char *text = malloc(8192);
    ck_assert_ptr_nonnull(text);
    strcpy(text, MIN "name = ");
    size_t off = strlen(text);
    memset(text + off, 'n', 4096 - 7);
    strcpy(text + off + 4096 - 7, "\r\n");
    LOADS(text);
    ck_assert_uint_eq(strlen(c.name), 4096 - 7);
    config_free_values(schema, &c);
    memset(text + off, 'n', 4096 - 6);
    strcpy(text + off + 4096 - 6, "\n");
    FAILS(text, "test.conf:4: line too long");
    free(text);
}
END_TEST

START_TEST(test_bad_default)
{
    struct conf d = {0};
    static const config_key bad[] = {
        KEY("component", "port", CFG_INT, port, "http", false, false, false, 1, 65535),
        {NULL, NULL, CFG_STRING, 0, NULL, false, false, false, 0, 0, NULL, NULL},
    };
    ck_assert_int_eq(config_load_string("x.conf", "", bad, &d, err, sizeof err), -1);
    ck_assert_str_eq(err, "x.conf: [component] port (default): expected an integer between 1 "
                          "and 65535, got 'http'");
}
END_TEST

START_TEST(test_small_error_buffer)
{
    char small[12];
    memset(small, 'z', sizeof small);
    ck_assert_int_eq(config_load_string("test.conf", "[nope]\n", schema, &c, small, sizeof small),
                     -1);
    ck_assert_str_eq(small, "test.conf:1");
    ck_assert_int_eq(config_load_string("test.conf", "[nope]\n", schema, &c, NULL, 0), -1);
}
END_TEST

START_TEST(test_free_values)
{
    LOADS(MIN "[redis]\npassword = p\n");
    config_free_values(schema, &c);
    ck_assert_ptr_null(c.domain);
    ck_assert_ptr_null(c.secret);
    ck_assert_ptr_null(c.name);
    ck_assert_ptr_null(c.password);
    config_free_values(schema, &c); /* twice is harmless */
    config_free_values(schema, NULL);
}
END_TEST

START_TEST(test_unreloadable_changes)
{
    struct conf old = {0}, new = {0};
    char changed[256];
    ck_assert_int_eq(config_load_string("a", MIN, schema, &old, err, sizeof err), 0);
    ck_assert_int_eq(config_load_string("b", MIN, schema, &new, err, sizeof err), 0);
    ck_assert_int_eq(config_unreloadable_changes(schema, &old, &new, changed, sizeof changed), 0);
    ck_assert_str_eq(changed, "");
    config_free_values(schema, &new);

    /* Reloadable keys (name, keepalive, level) may change freely. */
    ck_assert_int_eq(config_load_string("b",
                                        "[component]\ndomain = other\nsecret = x\nname = N\n"
                                        "port = 1\nkeepalive = 1s\ntimeout = 10000ms\n"
                                        "[redis]\npassword = p\n[log]\nlevel = error\n",
                                        schema, &new, err, sizeof err),
                     0);
    ck_assert_int_eq(config_unreloadable_changes(schema, &old, &new, changed, sizeof changed), 3);
    ck_assert_str_eq(changed, "[component] domain, [component] port, [redis] password");
    /* NULL on the other side too. */
    ck_assert_int_eq(config_unreloadable_changes(schema, &new, &old, changed, sizeof changed), 3);
    /* The count stays right when the text does not fit. */
    char tiny[16];
    ck_assert_int_eq(config_unreloadable_changes(schema, &old, &new, tiny, sizeof tiny), 3);
    ck_assert_str_eq(tiny, "[component] dom");
    ck_assert_int_eq(config_unreloadable_changes(schema, &old, &new, NULL, 0), 3);
    config_free_values(schema, &old);
    config_free_values(schema, &new);
}
END_TEST

START_TEST(test_list_split)
{
    char **l = config_list(" sports ,movies,, \ttech\t,");
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l[0], "sports");
    ck_assert_str_eq(l[1], "movies");
    ck_assert_str_eq(l[2], "tech");
    ck_assert_ptr_null(l[3]);
    config_list_free(l);
    l = config_list(NULL);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_null(l[0]);
    config_list_free(l);
    l = config_list(" , ,");
    ck_assert_ptr_null(l[0]);
    config_list_free(l);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_fixture_file);
    tcase_add_test(tc, test_fixture_error_names_path);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_directory);
    tcase_add_test(tc, test_file_too_large);
    tcase_add_test(tc, test_nul_byte);
    tcase_add_test(tc, test_comments_and_whitespace);
    tcase_add_test(tc, test_quoted_values);
    tcase_add_test(tc, test_crlf_and_bom);
    tcase_add_test(tc, test_no_trailing_newline);
    tcase_add_test(tc, test_string_replaced_and_reload);
    tcase_add_test(tc, test_empty_values);
    tcase_add_test(tc, test_free_values);
    tcase_add_test(tc, test_bad_default);
    tcase_add_test(tc, test_small_error_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_unknown_section);
    tcase_add_test(tc, test_int);
    tcase_add_test(tc, test_secret_never_echoed);
    tcase_add_test(tc, test_secret_file_private);
    tcase_add_test(tc, test_bool);
    tcase_add_test(tc, test_seconds);
    tcase_add_test(tc, test_size);
    tcase_add_test(tc, test_enum);
    tcase_add_test(tc, test_set_twice);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_required_missing);
    tcase_add_test(tc, test_line_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("reload");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unreloadable_changes);
    suite_add_tcase(s, tc);

    tc = tcase_create("list");
    tcase_add_test(tc, test_list_split);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
