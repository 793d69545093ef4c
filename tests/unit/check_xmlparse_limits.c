/* The stream parser's per-stanza limits (bytes, depth, attributes,
 * elements, namespaces): what is skipped, what ends the stream, the shell
 * kept of a stanza over them. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "xmlframe.h"
#include "xmlparse.h"
#include "xpfix.h"
#include "xstream.h"

START_TEST(oversized_stanza)
{
    /* Over the limit: the stanza is skipped and reported, the stream goes on. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    feed(p, "<message id='m1' from='a@b/c' to='r@s' foo='bar'><body>");
    char chunk[1024];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(xmlparse_feed(p, chunk, sizeof chunk), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "</body></message><presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_BIG);
    ck_assert_str_eq(r.drop_text, "stanza too large");
    ck_assert_str_eq(r.dropped, "<message from=\"a@b/c\" to=\"r@s\" id=\"m1\"/>");
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_str_eq(r.last, "<presence/>");
    xmlparse_free(p);
}
END_TEST

/* The byte limit is exact wherever the stanza falls in the input: it was
 * checked only between 16 KiB feeds, and a stanza up to 16 KiB over the
 * limit went through when it arrived in one read. */
START_TEST(byte_limit_is_exact)
{
    xmlparse_limits big = {65536, 8, 10, 50};
    for (size_t split = 0; split < 3; split++) {
        rec r;
        xmlparse *p = open_stream(&r, &big);
        char *ok = stanza_of(65536), *over = stanza_of(65537);
        char *both = malloc(strlen(ok) + strlen(over) + 32);
        ck_assert_ptr_nonnull(both);
        sprintf(both, "  %s %s<presence/>", ok, over);
        size_t n = strlen(both), at = split == 0 ? n : split == 1 ? 1 : n / 2;
        ck_assert_int_eq(xmlparse_feed(p, both, at), XMLPARSE_OK);
        ck_assert_int_eq(xmlparse_feed(p, both + at, n - at), XMLPARSE_OK);
        ck_assert_int_eq(r.stanzas, 2);
        ck_assert_int_eq(r.drops, 1);
        ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_BIG);
        ck_assert_str_eq(r.dropped, "<message id=\"n\"/>");
        ck_assert_str_eq(r.last, "<presence/>");
        free(ok);
        free(over);
        free(both);
        xmlparse_free(p);
    }
}
END_TEST

START_TEST(byte_limit_exact_byte_by_byte)
{
    xmlparse_limits small = {1024, 8, 10, 50};
    for (size_t size = 1023; size <= 1025; size++) {
        rec r;
        xmlparse *p = open_stream(&r, &small);
        char *s = stanza_of(size);
        for (size_t i = 0; s[i]; i++)
            ck_assert_int_eq(xmlparse_feed(p, s + i, 1), XMLPARSE_OK);
        free(s);
        ck_assert_int_eq(r.stanzas, size <= 1024);
        ck_assert_int_eq(r.drops, size > 1024);
        xmlparse_free(p);
    }
}
END_TEST

START_TEST(larger_than_any_server_relays_ends_the_stream)
{
    /* Skipping costs nothing but time; past XMLFRAME_HARD_LIMIT no server
     * relays it, and a stanza that never ends must not hold the link. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    feed(p, "<message><body>");
    size_t chunk = 1 << 20;
    char *a = malloc(chunk);
    memset(a, 'a', chunk);
    xmlparse_err e = XMLPARSE_OK;
    size_t fed = 0;
    while (e == XMLPARSE_OK && fed < XMLFRAME_HARD_LIMIT + chunk) {
        e = xmlparse_feed(p, a, chunk);
        fed += chunk;
    }
    free(a);
    ck_assert_int_eq(e, XMLPARSE_ERR_TOO_BIG);
    ck_assert_uint_ge(fed, XMLFRAME_HARD_LIMIT - chunk);
    ck_assert_str_eq(xmlparse_err_condition(e), "policy-violation");
    ck_assert_int_eq(r.drops, 0);
    /* Stays failed. */
    ck_assert_int_eq(feed(p, "</body></message>"), XMLPARSE_ERR_TOO_BIG);
    xmlparse_free(p);
}
END_TEST

START_TEST(oversized_unfinished_tag_is_skipped)
{
    /* An attribute value far over the limit: expat never holds it, and the
     * stanza's other attributes still address the reply. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    feed(p, "<message id='u1' to='");
    char chunk[1000];
    memset(chunk, 'b', sizeof chunk);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(xmlparse_feed(p, chunk, sizeof chunk), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "' from='x@y/z'><body>hi</body></message><presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_BIG);
    ck_assert_str_eq(r.dropped, "<message from=\"x@y/z\" id=\"u1\"/>");
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(header_over_the_limit_ends_the_stream)
{
    rec r = {0};
    xmlparse_limits small = {1024, 8, 10, 50};
    xmlparse *p = xmlparse_new(&small, &cbs, &r);
    xmlparse_err e =
        feed_free(p, build("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' x='",
                           "x", 2000, "'>"));
    ck_assert_int_eq(e, XMLPARSE_ERR_TOO_BIG);
    ck_assert_int_eq(r.opens, 0);
    xmlparse_free(p);
}
END_TEST

START_TEST(too_deep)
{
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    feed(p, "<iq id='d' type='get'>");
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(feed(p, "<a>"), XMLPARSE_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(feed(p, "</a>"), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "</iq><presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_DEEP);
    ck_assert_str_eq(r.dropped, "<iq id=\"d\" type=\"get\"/>");
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(far_too_deep_is_only_skipped)
{
    /* The issue's 70-deep stanza, and one a million deep (3 MB): each costs
     * the stanza, not the stream, and nothing of it is built. */
    static const unsigned depths[] = {70, 1000000};
    xmlparse_limits l = {4 << 20, 32, 64, 4096};
    for (size_t i = 0; i < 2; i++) {
        rec r;
        xmlparse *p = open_stream(&r, &l);
        unsigned d = depths[i];
        ck_assert_int_eq(feed_free(p, build("<message from='a@b/c' to='r@s'>", "<x>", d, "")),
                         XMLPARSE_OK);
        ck_assert_int_eq(feed_free(p, build("", "</x>", d, "</message><presence/>")), XMLPARSE_OK);
        ck_assert_int_eq(r.drops, 1);
        ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_DEEP);
        ck_assert_str_eq(r.dropped, "<message from=\"a@b/c\" to=\"r@s\"/>");
        ck_assert_int_eq(r.stanzas, 1);
        ck_assert_str_eq(r.last, "<presence/>");
        xmlparse_free(p);
    }
}
END_TEST

START_TEST(depth_at_limit_passes)
{
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    feed(p, "<message>");
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(feed(p, "<a>"), XMLPARSE_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(feed(p, "</a>"), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "</message>"), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_int_eq(r.drops, 0);
    xmlparse_free(p);
}
END_TEST

START_TEST(too_many_attributes)
{
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    ck_assert_int_eq(feed(p, "<message id='x' a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' "
                             "a9='' a10='' a11=''><body>hi</body></message>"
                             "<message><x b1='' b2='' b3='' b4='' b5='' b6='' b7='' b8='' b9='' "
                             "b10='' b11=''/></message>"
                             "<message><x c1='' c2='' c3='' c4='' c5='' c6='' c7='' c8='' c9='' "
                             "c10='' xmlns='urn:x' xmlns:p='urn:p'/></message>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 2);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_MANY);
    ck_assert_str_eq(r.drop_text, "too many attributes on one element");
    /* Ten attributes and two namespace declarations: within the limits. */
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(shell_kept_from_a_start_tag_over_the_limit)
{
    /* The limit breaks inside the stanza's own start tag: its addressing,
     * before or after that point, still makes the shell, unescaped. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    ck_assert_int_eq(feed(p, "<message type='chat' id='a&amp;b&#x41;' a1='' a2='' a3='' a4='' "
                             "a5='' a6='' a7='' a8='' a9='' a10='' a11='' from=\"x@y/'z'\"/>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert(r.drop_has_ns);
    ck_assert_str_eq(r.dropped,
                     "<message from=\"x@y/&apos;z&apos;\" id=\"a&amp;bA\" type=\"chat\"/>");
    /* A prefixed stanza element keeps its namespace. */
    ck_assert_int_eq(
        feed(p, "<c:iq xmlns:c='jabber:component:accept' id='q' a1='' a2='' a3='' a4='' a5='' "
                "a6='' a7='' a8='' a9='' a10='' a11=''/>"),
        XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 2);
    ck_assert(r.drop_has_ns);
    ck_assert_str_eq(r.dropped, "<iq id=\"q\"/>");
    /* Values that do not parse leave a shell nobody answers (no namespace). */
    ck_assert_int_eq(feed(p, "<message id='&#1;' a1='' a2='' a3='' a4='' a5='' a6='' a7='' "
                             "a8='' a9='' a10='' a11=''/><presence/>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 3);
    ck_assert(!r.drop_has_ns);
    ck_assert_str_eq(r.dropped, "<message/>");
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(too_many_elements)
{
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    /* 50 elements, the stanza's own included: at the limit. */
    ck_assert_int_eq(feed_free(p, build("<message>", "<x/>", 49, "</message>")), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_int_eq(feed_free(p, build("<message>", "<x/>", 50, "</message>")), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_MANY);
    /* The issue's 20,000 empty children, and a million: skipped, no more. */
    ck_assert_int_eq(feed_free(p, build("<message id='w'>", "<x/>", 20000, "</message>")),
                     XMLPARSE_OK);
    ck_assert_int_eq(feed_free(p, build("<message id='w'>", "<x/>", 1000000, "</message>")),
                     XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "<presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 3);
    ck_assert_int_eq(r.stanzas, 2);
    xmlparse_free(p);
}
END_TEST

START_TEST(too_many_namespaces)
{
    /* Each declaration costs expat a binding: as many as elements. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    ck_assert_int_eq(feed_free(p, build("<message>", "<x xmlns='urn:x'/>", 49, "</message>")),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    char decl[64];
    buf b = BUF_INIT;
    buf_puts(&b, "<message id='ns'><x");
    for (int i = 0; i < 100000; i++) {
        snprintf(decl, sizeof decl, " xmlns:p%d='urn:%d'", i, i);
        buf_puts(&b, decl);
    }
    buf_puts(&b, "/></message><presence/>");
    ck_assert_int_eq(xmlparse_feed(p, buf_unread(&b), buf_unread_len(&b)), XMLPARSE_OK);
    buf_free(&b);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_MANY);
    ck_assert_str_eq(r.drop_text, "too many namespace declarations in one stanza");
    ck_assert_str_eq(r.dropped, "<message id=\"ns\"/>");
    ck_assert_int_eq(r.stanzas, 2);
    xmlparse_free(p);
}
END_TEST

START_TEST(the_issues_payloads_with_the_default_limits)
{
    /* Relayed by Prosody or ejabberd from an ordinary user, each of these
     * cut the link; now each costs its own stanza. */
    xstream_options o;
    xstream_options_default(&o);
    rec r;
    xmlparse *p = open_stream(&r, &o.limits);
    const char *to =
        "<message type='groupchat' to='r@rooms.localhost' from='u@localhost/x' id='h'>";
    ck_assert_int_eq(feed_free(p, build(to, "<body>x</body><q xmlns='urn:a b'/>", 1, "</message>")),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    char *deep = build("", "<x>", 70, "");
    char *undeep = build(deep, "</x>", 70, "</message>");
    ck_assert_int_eq(feed_free(p, build(to, "", 0, undeep)), XMLPARSE_OK);
    free(deep);
    free(undeep);
    ck_assert_int_eq(feed_free(p, build(to, "<x/>", 20000, "</message>")), XMLPARSE_OK);
    ck_assert_int_eq(
        feed_free(p,
                  build("<message type='groupchat' to='r@rooms.localhost'><x xmlns='jabber:x:data' "
                        "type='submit'>",
                        "<field var='f'><value>v</value></field>", 10000, "</x></message>")),
        XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 3);
    ck_assert_int_eq(feed(p, "<presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 2);
    xmlparse_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xmlparse_limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, oversized_stanza);
    tcase_add_test(tc, byte_limit_is_exact);
    tcase_add_test(tc, byte_limit_exact_byte_by_byte);
    tcase_add_test(tc, larger_than_any_server_relays_ends_the_stream);
    tcase_add_test(tc, oversized_unfinished_tag_is_skipped);
    tcase_add_test(tc, header_over_the_limit_ends_the_stream);
    tcase_add_test(tc, too_deep);
    tcase_add_test(tc, far_too_deep_is_only_skipped);
    tcase_add_test(tc, depth_at_limit_passes);
    tcase_add_test(tc, too_many_attributes);
    tcase_add_test(tc, shell_kept_from_a_start_tag_over_the_limit);
    tcase_add_test(tc, too_many_elements);
    tcase_add_test(tc, too_many_namespaces);
    tcase_add_test(tc, the_issues_payloads_with_the_default_limits);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
