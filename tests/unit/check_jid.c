#include "jid.h"

#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Macros rather than helpers so a failure points at the test's own line. */
#define OK(in, want)                                                                               \
    do {                                                                                           \
        jid_err e_ = JID_ERR_NOMEM;                                                                \
        char *s_ = jid_normalize(in, &e_);                                                         \
        ck_assert_msg(s_ != NULL, "'%s' refused: %s", in, jid_strerror(e_));                       \
        ck_assert_int_eq(e_, JID_OK);                                                              \
        ck_assert_str_eq(s_, want);                                                                \
        free(s_);                                                                                  \
    } while (0)

#define BAD(in, want_err)                                                                          \
    do {                                                                                           \
        jid j_;                                                                                    \
        const char *in_ = (in);                                                                    \
        jid_err e_ = jid_parse(in_, &j_);                                                          \
        ck_assert_msg(e_ == (want_err), "'%.80s': got %s, want %s", in_ ? in_ : "(null)",          \
                      jid_strerror(e_), jid_strerror(want_err));                                   \
        ck_assert_ptr_null(j_.local);                                                              \
        ck_assert_ptr_null(j_.domain);                                                             \
        ck_assert_ptr_null(j_.resource);                                                           \
    } while (0)

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, unit, n);
    s[n * times] = '\0';
    return s;
}

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

START_TEST(test_parts)
{
    jid j;
    ck_assert_int_eq(jid_parse("user@example.com/res", &j), JID_OK);
    ck_assert_str_eq(j.local, "user");
    ck_assert_str_eq(j.domain, "example.com");
    ck_assert_str_eq(j.resource, "res");
    jid_free(&j);
    ck_assert_ptr_null(j.domain);

    ck_assert_int_eq(jid_parse("example.com", &j), JID_OK);
    ck_assert_ptr_null(j.local);
    ck_assert_str_eq(j.domain, "example.com");
    ck_assert_ptr_null(j.resource);
    jid_free(&j);

    ck_assert_int_eq(jid_parse("example.com/a@b", &j), JID_OK);
    ck_assert_ptr_null(j.local);
    ck_assert_str_eq(j.domain, "example.com");
    ck_assert_str_eq(j.resource, "a@b");
    jid_free(&j);
    jid_free(&j); /* twice is harmless */
    jid_free(NULL);
}
END_TEST

START_TEST(test_resource_keeps_slashes)
{
    jid j;
    ck_assert_int_eq(jid_parse("user@example.com/res/with/slashes", &j), JID_OK);
    ck_assert_str_eq(j.local, "user");
    ck_assert_str_eq(j.resource, "res/with/slashes");
    jid_free(&j);
    OK("room@muc.example.com/ Alice  Smith ", "room@muc.example.com/ Alice  Smith ");
}
END_TEST

START_TEST(test_case_folding)
{
    /* Local and domain fold, the resource keeps its case. */
    OK("User@Example.COM/Res", "user@example.com/Res");
    OK("Stra\xc3\x9f"
       "e@example.com/Stra\xc3\x9f"
       "e",
       "strasse@example.com/Stra\xc3\x9f"
       "e");
}
END_TEST

START_TEST(test_fullwidth)
{
    OK("\xef\xbc\xb5\xef\xbc\xb3\xef\xbc\xa5\xef\xbc\xb2@example.com", "user@example.com");
    OK("\xef\xbd\x85\xef\xbd\x98.com", "ex.com");
    OK("example.com/\xef\xbc\xa1\xef\xbc\xa2", "example.com/AB");
    /* Fullwidth digits fold into an IPv4 literal. */
    OK("\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1", "127.0.0.1");
}
END_TEST

START_TEST(test_compatibility_chars)
{
    /* U+216B ROMAN NUMERAL TWELVE, U+FB03 LATIN SMALL LIGATURE FFI */
    OK("\xe2\x85\xab@example.com/\xe2\x85\xab", "xii@example.com/XII");
    OK("o\xef\xac\x83"
       "ce@example.com",
       "office@example.com");
    /* U+00A0 NO-BREAK SPACE becomes a plain space in a resource... */
    OK("example.com/a\xc2\xa0"
       "b",
       "example.com/a b");
    /* ...and a plain space is prohibited by Nodeprep. */
    BAD("a\xc2\xa0"
        "b@example.com",
        JID_ERR_LOCAL);
}
END_TEST

START_TEST(test_maps_to_nothing)
{
    /* U+200B ZERO WIDTH SPACE and U+00AD SOFT HYPHEN are mapped out (table
     * B.1) by all three profiles rather than prohibited. */
    OK("a\xe2\x80\x8b"
       "b@exa\xc2\xad"
       "mple.com/c\xe2\x80\x8b"
       "d",
       "ab@example.com/cd");
    /* A part made only of them prepares to nothing: still invalid. */
    BAD("\xe2\x80\x8b@example.com", JID_ERR_LOCAL);
    BAD("user@\xe2\x80\x8b", JID_ERR_DOMAIN);
    BAD("user@example.com/\xe2\x80\x8b\xc2\xad", JID_ERR_RESOURCE);
}
END_TEST

START_TEST(test_empty_parts)
{
    BAD("", JID_ERR_EMPTY);
    BAD(NULL, JID_ERR_EMPTY);
    BAD("@example.com", JID_ERR_EMPTY);
    BAD("user@", JID_ERR_EMPTY);
    BAD("user@/res", JID_ERR_EMPTY);
    BAD("example.com/", JID_ERR_EMPTY);
    BAD("user@example.com/", JID_ERR_EMPTY);
    BAD("/res", JID_ERR_EMPTY);
    BAD("@", JID_ERR_EMPTY);
    BAD("/", JID_ERR_EMPTY);
}
END_TEST

START_TEST(test_nodeprep_prohibited)
{
    const char *bad[] = {"a b", "a\"b", "a&b", "a'b", "a:b", "a<b", "a>b", "a\tb", NULL};
    for (int i = 0; bad[i]; i++) {
        char *s = concat3(bad[i], "@example.com", "");
        BAD(s, JID_ERR_LOCAL);
        free(s);
        /* The resource allows every one of them. */
        s = concat3("example.com/", bad[i], "");
        jid j;
        ck_assert_int_eq(jid_parse(s, &j), bad[i][1] == '\t' ? JID_ERR_RESOURCE : JID_OK);
        jid_free(&j);
        free(s);
    }
    /* '@' and '/' cannot reach Nodeprep literally (they split the address),
     * but their fullwidth forms fold into them and must still be refused. */
    BAD("a\xef\xbc\xa0"
        "b@example.com",
        JID_ERR_LOCAL);
    BAD("a\xef\xbc\x8f"
        "b@example.com",
        JID_ERR_LOCAL);
}
END_TEST

START_TEST(test_second_at_is_domain)
{
    BAD("a@b@c", JID_ERR_DOMAIN);
    BAD("a@b@c/d", JID_ERR_DOMAIN);
    /* An '@' after the first '/' is the resource's. */
    OK("b/a@c", "b/a@c");
}
END_TEST

START_TEST(test_ipv4)
{
    OK("127.0.0.1", "127.0.0.1");
    OK("user@192.0.2.1/r", "user@192.0.2.1/r");
    BAD("1.2.3", JID_ERR_DOMAIN);
    BAD("256.1.1.1", JID_ERR_DOMAIN);
    BAD("01.2.3.4", JID_ERR_DOMAIN);
    BAD("example.123", JID_ERR_DOMAIN);
    BAD("123", JID_ERR_DOMAIN);
    OK("123.example", "123.example");
}
END_TEST

START_TEST(test_ipv6)
{
    OK("[::1]", "[::1]");
    OK("user@[::1]/res", "user@[::1]/res");
    /* Canonical text form, so spellings of one address compare equal. */
    OK("[0:0:0:0:0:0:0:1]", "[::1]");
    OK("[2001:DB8::0001]", "[2001:db8::1]");
    BAD("::1", JID_ERR_DOMAIN);
    BAD("[::1", JID_ERR_DOMAIN);
    BAD("[]", JID_ERR_DOMAIN);
    BAD("[::g]", JID_ERR_DOMAIN);
    BAD("[127.0.0.1]", JID_ERR_DOMAIN);
    BAD("[fe80::1%eth0]", JID_ERR_DOMAIN);
    BAD("[::1].", JID_ERR_DOMAIN);
    BAD("[::1]x", JID_ERR_DOMAIN);
}
END_TEST

START_TEST(test_trailing_dot)
{
    OK("example.com.", "example.com");
    OK("user@example.com./r", "user@example.com/r");
    BAD("example.com..", JID_ERR_DOMAIN);
    BAD(".", JID_ERR_DOMAIN);
    BAD(".example.com", JID_ERR_DOMAIN);
    BAD("a..b", JID_ERR_DOMAIN);
}
END_TEST

START_TEST(test_label_separators)
{
    /* U+3002, U+FF0E and U+FF61 separate labels like '.' (RFC 3490 3.1). */
    OK("example\xe3\x80\x82"
       "com",
       "example.com");
    OK("example\xef\xbc\x8e"
       "com",
       "example.com");
    OK("example\xef\xbd\xa1"
       "com\xe3\x80\x82",
       "example.com");
    /* Look-alikes that NFKC turns into '.' or '/' inside a label are not
     * separators: U+2024 ONE DOT LEADER, U+FF0F FULLWIDTH SOLIDUS. */
    BAD("example\xe2\x80\xa4"
        "com",
        JID_ERR_DOMAIN);
    BAD("example.com\xef\xbc\x8f"
        "evil",
        JID_ERR_DOMAIN);
}
END_TEST

START_TEST(test_labels)
{
    char *l63 = repeat("a", 63), *l64 = repeat("a", 64);
    char *s = concat3(l63, ".example", "");
    OK(s, s);
    free(s);
    s = concat3(l64, ".example", "");
    BAD(s, JID_ERR_DOMAIN);
    free(s);
    free(l63);
    free(l64);

    OK("a-b.example", "a-b.example");
    OK("xn--bcher-kva.example", "xn--bcher-kva.example");
    OK("localhost", "localhost");
    BAD("-ab.example", JID_ERR_DOMAIN);
    BAD("ab-.example", JID_ERR_DOMAIN);
    BAD("a_b.example", JID_ERR_DOMAIN);
    BAD("a b.example", JID_ERR_DOMAIN);
    BAD("a:b.example", JID_ERR_DOMAIN);
    BAD("a*b.example", JID_ERR_DOMAIN);
}
END_TEST

START_TEST(test_idn)
{
    OK("B\xc3\xbc"
       "cher.example",
       "b\xc3\xbc"
       "cher.example");
    /* An all right-to-left label next to "com": Nameprep's bidi rule holds
     * per label, as IDNA applies it. */
    OK("\xd9\x85\xd8\xab\xd8\xa7\xd9\x84.com", "\xd9\x85\xd8\xab\xd8\xa7\xd9\x84.com");
    BAD("\xd9\x85"
        "a.com",
        JID_ERR_DOMAIN);
    /* A label's DNS length is its ACE form's. 30 x U+3042 is 90 bytes of
     * UTF-8 but "xn--l8jaaa..." is 36: fine. */
    char *a30 = repeat("\xe3\x81\x82", 30);
    char *s = concat3(a30, ".example", "");
    OK(s, s);
    free(s);
    free(a30);
    /* Mixed scripts encode poorly: 53 bytes of UTF-8 give an ACE label of
     * exactly 63 characters, 55 bytes one beyond. */
    const char *mix =
        "\xe4\xb8\x80\xc3\xa0\xea\xb0\x80\xe3\x81\x82\xd0\xb0\xe9\xbc\x80\xc4\x81"
        "\xed\x9c\x80\xe4\xb8\x83\xc3\xa3\xea\xb0\x83\xe3\x81\x85\xd0\xb3\xe9\xbc"
        "\x83\xc4\x83\xed\x9c\x83\xe4\xb8\x86\xc3\xa6\xea\xb0\x86\xe3\x81\x88\xd0\xb6";
    char buf[80];
    memcpy(buf, mix, 53);
    strcpy(buf + 53, ".example");
    OK(buf, buf);
    memcpy(buf, mix, 55);
    strcpy(buf + 55, ".example");
    BAD(buf, JID_ERR_DOMAIN);
}
END_TEST

START_TEST(test_control_chars)
{
    BAD("us\x01"
        "er@example.com",
        JID_ERR_LOCAL);
    BAD("example.com/re\x07s", JID_ERR_RESOURCE);
    BAD("example.com/res\x7f", JID_ERR_RESOURCE);
    BAD("example.com/a\nb", JID_ERR_RESOURCE);
    /* Nameprep itself lets ASCII controls through; the LDH check does not. */
    BAD("exa\x01mple.com", JID_ERR_DOMAIN);
    BAD("exa\tmple.com", JID_ERR_DOMAIN);
    /* U+0085 NEXT LINE (C.2.2), U+202E RIGHT-TO-LEFT OVERRIDE (C.8) */
    BAD("a\xc2\x85"
        "b@example.com",
        JID_ERR_LOCAL);
    BAD("example.com/\xe2\x80\xae"
        "abc",
        JID_ERR_RESOURCE);
    /* U+FFFD REPLACEMENT CHARACTER is prohibited (C.6). */
    BAD("example.com/\xef\xbf\xbd", JID_ERR_RESOURCE);
}
END_TEST

START_TEST(test_bidi)
{
    /* U+0627 ARABIC LETTER ALEF mixed with left-to-right letters. */
    BAD("\xd8\xa7"
        "a@example.com",
        JID_ERR_LOCAL);
    BAD("example.com/a\xd8\xa7", JID_ERR_RESOURCE);
    OK("example.com/\xd8\xa7\xd8\xa8", "example.com/\xd8\xa7\xd8\xa8");
    OK("\xd8\xa7\xd8\xa8@example.com", "\xd8\xa7\xd8\xa8@example.com");
}
END_TEST

START_TEST(test_invalid_utf8)
{
    const char *bad[] = {
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong 2-byte */
        "\xe0\x80\xaf",     /* overlong 3-byte '/' */
        "\xf0\x80\x80\xaf", /* overlong 4-byte '/' */
        "\xed\xa0\x80",     /* lone high surrogate U+D800 */
        "\xed\xbf\xbf",     /* lone low surrogate U+DFFF */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xff",
        "\xfe",
        "\x80",      /* stray continuation byte */
        "a\xe2\x82", /* truncated sequence */
        "\xe2\x82"
        "a",                    /* truncated, then ASCII */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        char *s = concat3(bad[i], "@example.com", "");
        BAD(s, JID_ERR_LOCAL);
        free(s);
        s = concat3("user@ex", bad[i], ".com");
        BAD(s, JID_ERR_DOMAIN);
        free(s);
        s = concat3("user@example.com/", bad[i], "");
        BAD(s, JID_ERR_RESOURCE);
        free(s);
    }
}
END_TEST

START_TEST(test_unassigned)
{
    /* U+1F600 is unassigned in Unicode 3.2: refused in stored local parts
     * and domains, accepted in resources (MUC nicknames). */
    BAD("\xf0\x9f\x98\x80@example.com", JID_ERR_LOCAL);
    BAD("\xf0\x9f\x98\x80.example", JID_ERR_DOMAIN);
    OK("room@muc.example/\xf0\x9f\x98\x80 Fox", "room@muc.example/\xf0\x9f\x98\x80 Fox");
    /* U+FFFE is a noncharacter, prohibited rather than unassigned. */
    BAD("example.com/\xef\xbf\xbe", JID_ERR_RESOURCE);
}
END_TEST

START_TEST(test_part_lengths)
{
    char *l1023 = repeat("a", 1023), *l1024 = repeat("a", 1024);
    char *s = concat3(l1023, "@example.com/", l1023);
    OK(s, s);
    free(s);
    s = concat3(l1024, "@example.com", "");
    BAD(s, JID_ERR_LOCAL);
    free(s);
    s = concat3("example.com/", l1024, "");
    BAD(s, JID_ERR_RESOURCE);
    free(s);
    free(l1023);
    free(l1024);

    /* Sixteen 63-byte labels and fifteen dots: exactly 1023 bytes. */
    char *labels = repeat("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.", 16);
    labels[1023] = '\0';
    OK(labels, labels);
    s = concat3(labels, ".b", "");
    BAD(s, JID_ERR_DOMAIN);
    free(s);
    free(labels);
}
END_TEST

START_TEST(test_length_after_preparation)
{
    /* The limit applies after preparation. 500 fullwidth letters are 1500
     * bytes of input but fold to 500 bytes: valid. */
    char *fw = repeat("\xef\xbd\x81", 500);
    char *s = concat3(fw, "@example.com", "");
    char *want = repeat("a", 500);
    char *want_full = concat3(want, "@example.com", "");
    OK(s, want_full);
    free(fw);
    free(s);
    free(want);
    free(want_full);
    /* U+FDFA expands to 18 characters (33 bytes): 40 of them (120 bytes of
     * input) prepare to 1320 bytes, too long. */
    char *fdfa = repeat("\xef\xb7\xba", 40);
    s = concat3("example.com/", fdfa, "");
    BAD(s, JID_ERR_RESOURCE);
    free(s);
    free(fdfa);
}
END_TEST

START_TEST(test_hostile_long_input)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *a = repeat("a", 100 * 1024);
    char *zw = repeat("\xe2\x80\x8b", 34 * 1024);
    char *s = concat3(a, "@example.com", "");
    BAD(s, JID_ERR_LOCAL);
    free(s);
    s = concat3("user@", a, "");
    BAD(s, JID_ERR_DOMAIN);
    free(s);
    s = concat3("user@example.com/", a, "");
    BAD(s, JID_ERR_RESOURCE);
    free(s);
    /* Padding that would map to nothing is refused before preparation. */
    s = concat3(zw, "u@example.com", "");
    BAD(s, JID_ERR_LOCAL);
    free(s);
    s = concat3("example.com/r", zw, "");
    BAD(s, JID_ERR_RESOURCE);
    free(s);
    BAD(a, JID_ERR_DOMAIN);
    char *slashes = repeat("/", 100 * 1024);
    BAD(slashes, JID_ERR_EMPTY);
    free(slashes);
    free(a);
    free(zw);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(secs < 1.0, "hostile inputs took %.3f s", secs);
}
END_TEST

START_TEST(test_full_and_bare)
{
    jid j;
    ck_assert_int_eq(jid_parse("Room@Muc.Example/Nick", &j), JID_OK);
    char *full = jid_full(&j), *bare = jid_bare(&j);
    ck_assert_str_eq(full, "room@muc.example/Nick");
    ck_assert_str_eq(bare, "room@muc.example");
    free(full);
    free(bare);
    jid_free(&j);

    ck_assert_int_eq(jid_parse("muc.example/Nick", &j), JID_OK);
    bare = jid_bare(&j);
    ck_assert_str_eq(bare, "muc.example");
    free(bare);
    jid_free(&j);

    jid none = {NULL, NULL, NULL};
    ck_assert_ptr_null(jid_full(&none));
    ck_assert_ptr_null(jid_bare(NULL));
}
END_TEST

START_TEST(test_equal)
{
    jid a, b, c, d, e;
    ck_assert_int_eq(jid_parse("User@Example.com/Phone", &a), JID_OK);
    ck_assert_int_eq(jid_parse("user@EXAMPLE.COM./Phone", &b), JID_OK);
    ck_assert_int_eq(jid_parse("user@example.com/phone", &c), JID_OK);
    ck_assert_int_eq(jid_parse("user@example.com", &d), JID_OK);
    ck_assert_int_eq(jid_parse("example.com/Phone", &e), JID_OK);

    ck_assert(jid_equal(&a, &b));
    ck_assert(jid_bare_equal(&a, &b));
    ck_assert(!jid_equal(&a, &c)); /* resources are case-sensitive */
    ck_assert(jid_bare_equal(&a, &c));
    ck_assert(!jid_equal(&a, &d));
    ck_assert(jid_bare_equal(&a, &d));
    ck_assert(!jid_bare_equal(&a, &e)); /* no local part vs. a local part */
    ck_assert(!jid_equal(&e, &a));
    ck_assert(!jid_equal(&a, NULL));
    ck_assert(!jid_bare_equal(NULL, &a));

    jid_free(&a);
    jid_free(&b);
    jid_free(&c);
    jid_free(&d);
    jid_free(&e);
}
END_TEST

START_TEST(test_error_leaves_out_zeroed)
{
    jid j = {(char *)"x", (char *)"y", (char *)"z"};
    /* Fails on the resource after local and domain were prepared. */
    ck_assert_int_eq(jid_parse("user@example.com/a\x01", &j), JID_ERR_RESOURCE);
    ck_assert_ptr_null(j.local);
    ck_assert_ptr_null(j.domain);
    ck_assert_ptr_null(j.resource);
}
END_TEST

START_TEST(test_normalize)
{
    jid_err e = JID_OK;
    ck_assert_ptr_null(jid_normalize("a@b@c", &e));
    ck_assert_int_eq(e, JID_ERR_DOMAIN);
    ck_assert_ptr_null(jid_normalize("", NULL));
    char *s = jid_normalize("Example.COM", NULL);
    ck_assert_str_eq(s, "example.com");
    free(s);
}
END_TEST

START_TEST(test_strerror)
{
    ck_assert_str_eq(jid_strerror(JID_OK), "valid address");
    ck_assert_str_eq(jid_strerror(JID_ERR_EMPTY), "empty address or empty part");
    ck_assert_str_eq(jid_strerror(JID_ERR_LOCAL), "invalid local part");
    ck_assert_str_eq(jid_strerror(JID_ERR_DOMAIN), "invalid domain");
    ck_assert_str_eq(jid_strerror(JID_ERR_RESOURCE), "invalid resource");
    ck_assert_str_eq(jid_strerror(JID_ERR_NOMEM), "out of memory");
    ck_assert_str_eq(jid_strerror((jid_err)99), "unknown address error");
}
END_TEST

/* Configuration lists of addresses: one spelling per entry, and the first
 * entry of the wrong kind named. */
START_TEST(test_list_parse)
{
    char bad[64];
    char **l = jid_list_parse(" EXAMPLE.com , spam.example.", JID_LIST_DOMAINS, bad, sizeof bad);
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l[0], "example.com");
    ck_assert_str_eq(l[1], "spam.example");
    ck_assert_ptr_null(l[2]);
    config_list_free(l);
    ck_assert_ptr_null(
        jid_list_parse("example.com, mod@example.com", JID_LIST_DOMAINS, bad, sizeof bad));
    ck_assert_str_eq(bad, "mod@example.com");
    l = jid_list_parse("Mod@Example.COM", JID_LIST_USERS, bad, sizeof bad);
    ck_assert_str_eq(l[0], "mod@example.com");
    config_list_free(l);
    ck_assert_ptr_null(jid_list_parse("example.com", JID_LIST_USERS, bad, sizeof bad));
    ck_assert_str_eq(bad, "example.com");
    ck_assert_ptr_null(jid_list_parse("a@b/res", JID_LIST_USERS, bad, sizeof bad));
    ck_assert_ptr_null(jid_list_parse("not valid@@", JID_LIST_USERS, bad, sizeof bad));
    ck_assert_str_eq(bad, "not valid@@");
    l = jid_list_parse("", JID_LIST_USERS, bad, sizeof bad);
    ck_assert_ptr_null(l[0]);
    config_list_free(l);
}
END_TEST

static Suite *jid_suite(void)
{
    Suite *s = suite_create("jid");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parts);
    tcase_add_test(tc, test_resource_keeps_slashes);
    tcase_add_test(tc, test_case_folding);
    tcase_add_test(tc, test_fullwidth);
    tcase_add_test(tc, test_compatibility_chars);
    tcase_add_test(tc, test_maps_to_nothing);
    tcase_add_test(tc, test_empty_parts);
    tcase_add_test(tc, test_nodeprep_prohibited);
    tcase_add_test(tc, test_second_at_is_domain);
    tcase_add_test(tc, test_control_chars);
    tcase_add_test(tc, test_bidi);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_unassigned);
    tcase_add_test(tc, test_error_leaves_out_zeroed);
    suite_add_tcase(s, tc);

    tc = tcase_create("domain");
    tcase_add_test(tc, test_ipv4);
    tcase_add_test(tc, test_ipv6);
    tcase_add_test(tc, test_trailing_dot);
    tcase_add_test(tc, test_label_separators);
    tcase_add_test(tc, test_labels);
    tcase_add_test(tc, test_idn);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_part_lengths);
    tcase_add_test(tc, test_length_after_preparation);
    tcase_add_test(tc, test_hostile_long_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_test(tc, test_full_and_bare);
    tcase_add_test(tc, test_equal);
    tcase_add_test(tc, test_normalize);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_list_parse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jid_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
