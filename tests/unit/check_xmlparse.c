#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "testutil.h"
#include "xmlparse.h"

#define HDR                                                                                        \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "                         \
    "xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.org'>"

typedef struct rec {
    int opens, stanzas, closes, drops;
    char dropped[512];
    xmlparse_err drop_why;
    char last[4096];
    char header_id[64];
} rec;

static void r_open(void *ud, xml_node *h)
{
    rec *r = ud;
    r->opens++;
    const char *id = xml_attr(h, "id");
    strncpy(r->header_id, id ? id : "", sizeof r->header_id - 1);
    xml_free(h);
}

static void r_stanza(void *ud, xml_node *s)
{
    rec *r = ud;
    r->stanzas++;
    char *str = tu_str(s);
    strncpy(r->last, str, sizeof r->last - 1);
    free(str);
    xml_free(s);
}

static void r_close(void *ud)
{
    ((rec *)ud)->closes++;
}

static void r_dropped(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    (void)text;
    rec *r = ud;
    r->drops++;
    r->drop_why = why;
    char *str = tu_str(shell);
    strncpy(r->dropped, str, sizeof r->dropped - 1);
    free(str);
    xml_free(shell);
}

static const xmlparse_callbacks cbs = {r_open, r_stanza, r_close, r_dropped};
static const xmlparse_limits lim = {4096, 8, 10, 50};

static xmlparse_err feed(xmlparse *p, const char *s)
{
    return xmlparse_feed(p, s, strlen(s));
}

START_TEST(header_stanzas_close)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    ck_assert_int_eq(feed(p, HDR), XMLPARSE_OK);
    ck_assert_int_eq(r.opens, 1);
    ck_assert_str_eq(r.header_id, "abc");
    ck_assert_int_eq(
        feed(p, "<handshake/> <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"),
        XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 2);
    ck_assert_str_eq(r.last, "<iq type=\"get\" id=\"1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>");
    ck_assert_int_eq(feed(p, "</stream:stream>"), XMLPARSE_OK);
    ck_assert_int_eq(r.closes, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(byte_by_byte)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    const char *all = HDR "<message to='a@b'><body>x&amp;y</body></message>";
    for (const char *c = all; *c; c++)
        ck_assert_int_eq(xmlparse_feed(p, c, 1), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_str_eq(r.last, "<message to=\"a@b\"><body>x&amp;y</body></message>");
    xmlparse_free(p);
}
END_TEST

START_TEST(whitespace_keepalives_never_add_up)
{
    /* Hours of keepalives between stanzas must not count as one big stanza. */
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR);
    for (int i = 0; i < 20000; i++)
        ck_assert_int_eq(feed(p, " "), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "<presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(oversized_stanza)
{
    /* Over the limit: the stanza is skipped and reported, the stream goes on. */
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<message id='m1' from='a@b/c' to='r@s' foo='bar'><body>");
    char chunk[1024];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(xmlparse_feed(p, chunk, sizeof chunk), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "</body></message><presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_BIG);
    ck_assert_str_eq(r.dropped, "<message from=\"a@b/c\" to=\"r@s\" id=\"m1\"/>");
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_str_eq(r.last, "<presence/>");
    xmlparse_free(p);
}
END_TEST

START_TEST(far_too_big_ends_the_stream)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<message><body>");
    char chunk[1024];
    memset(chunk, 'a', sizeof chunk);
    xmlparse_err e = XMLPARSE_OK;
    for (int i = 0; i < 40 && e == XMLPARSE_OK; i++)
        e = xmlparse_feed(p, chunk, sizeof chunk);
    ck_assert_int_eq(e, XMLPARSE_ERR_TOO_BIG);
    ck_assert_str_eq(xmlparse_err_condition(e), "policy-violation");
    /* Stays failed. */
    ck_assert_int_eq(feed(p, "</body></message>"), XMLPARSE_ERR_TOO_BIG);
    xmlparse_free(p);
}
END_TEST

START_TEST(oversized_unfinished_tag)
{
    /* A never-ending attribute value: expat would buffer it all. */
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<message to='");
    char chunk[1000];
    memset(chunk, 'b', sizeof chunk);
    xmlparse_err e = XMLPARSE_OK;
    for (int i = 0; i < 100 && e == XMLPARSE_OK; i++)
        e = xmlparse_feed(p, chunk, sizeof chunk);
    ck_assert_int_eq(e, XMLPARSE_ERR_TOO_BIG);
    xmlparse_free(p);
}
END_TEST

START_TEST(stanza_just_under_limit_passes)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR);
    char body[4096];
    size_t fixed = strlen("<message><body></body></message>");
    memset(body, 'c', sizeof body);
    body[4096 - fixed] = '\0';
    char st[8192];
    snprintf(st, sizeof st, "<message><body>%s</body></message>", body);
    ck_assert_uint_eq(strlen(st), 4096);
    ck_assert_int_eq(feed(p, st), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(too_deep)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<iq id='d' type='get'>");
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(feed(p, "<a>"), XMLPARSE_OK);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(feed(p, "</a>"), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "</iq><presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_DEEP);
    ck_assert_str_eq(r.dropped, "<iq id=\"d\" type=\"get\"/>");
    ck_assert_int_eq(r.stanzas, 1);
    /* Twice the limit is an attack on the stream, not an odd stanza. */
    feed(p, "<message>");
    xmlparse_err e = XMLPARSE_OK;
    for (int i = 0; i < 40 && e == XMLPARSE_OK; i++)
        e = feed(p, "<a>");
    ck_assert_int_eq(e, XMLPARSE_ERR_TOO_DEEP);
    xmlparse_free(p);
}
END_TEST

START_TEST(depth_at_limit_passes)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<message>");
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(feed(p, "<a>"), XMLPARSE_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(feed(p, "</a>"), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "</message>"), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(too_many_attributes)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR);
    ck_assert_int_eq(feed(p, "<message id='x' a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' "
                             "a9='' a10='' a11=''><body>hi</body></message>"
                             "<message><x b1='' b2='' b3='' b4='' b5='' b6='' b7='' b8='' b9='' "
                             "b10='' b11=''/></message>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 2);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_MANY);
    ck_assert_int_eq(r.stanzas, 0);
    xmlparse_free(p);
}
END_TEST

START_TEST(too_many_elements)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<message>");
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(feed(p, "<x/>"), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "</message>"), XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.drop_why, XMLPARSE_ERR_TOO_MANY);
    feed(p, "<message>");
    xmlparse_err e = XMLPARSE_OK;
    for (int i = 0; i < 300 && e == XMLPARSE_OK; i++)
        e = feed(p, "<x/>");
    ck_assert_int_eq(e, XMLPARSE_ERR_TOO_MANY);
    xmlparse_free(p);
}
END_TEST

START_TEST(restricted_xml)
{
    static const char *const bad[] = {
        "<message><!-- hi --></message>",
        "<?pi data?>",
        "<message><?pi data?></message>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rec r = {0};
        xmlparse *p = xmlparse_new(&lim, &cbs, &r);
        feed(p, HDR);
        xmlparse_err e = feed(p, bad[i]);
        ck_assert_msg(e == XMLPARSE_ERR_RESTRICTED, "case %zu gave %d", i, e);
        ck_assert_str_eq(xmlparse_err_condition(e), "restricted-xml");
        xmlparse_free(p);
    }
}
END_TEST

START_TEST(doctype_and_entities_refused)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    xmlparse_err e = feed(p, "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY a 'aaaa'>]>"
                             "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>");
    ck_assert_int_eq(e, XMLPARSE_ERR_RESTRICTED);
    ck_assert_int_eq(r.opens, 0);
    xmlparse_free(p);
}
END_TEST

START_TEST(malformed)
{
    static const char *const bad[] = {
        "<message></iq>",
        "<message to='a' to='b'/>",
        "<message><body>&nosuch;</body></message>",
        "text at stream level",
        "<p:message/>",
        "<message>\xff\xfe</message>",
    };
    static const xmlparse_err want[] = {
        XMLPARSE_ERR_SYNTAX, XMLPARSE_ERR_SYNTAX,     XMLPARSE_ERR_RESTRICTED,
        XMLPARSE_ERR_SYNTAX, XMLPARSE_ERR_BAD_STREAM, XMLPARSE_ERR_SYNTAX,
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rec r = {0};
        xmlparse *p = xmlparse_new(&lim, &cbs, &r);
        feed(p, HDR);
        xmlparse_err e = feed(p, bad[i]);
        ck_assert_msg(e == want[i], "case %zu (%s) gave %d, want %d", i, bad[i], e, want[i]);
        ck_assert_int_eq(r.stanzas, 0);
        ck_assert_ptr_nonnull(strstr(xmlparse_error_text(p), "line"));
        xmlparse_free(p);
    }
}
END_TEST

START_TEST(wrong_root)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    ck_assert_int_eq(feed(p, "<html>"), XMLPARSE_ERR_BAD_STREAM);
    ck_assert_str_eq(xmlparse_err_condition(XMLPARSE_ERR_BAD_STREAM), "invalid-namespace");
    xmlparse_free(p);
}
END_TEST

START_TEST(reset_starts_a_new_stream)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<message><");
    ck_assert_int_eq(feed(p, "!-- x -->"), XMLPARSE_ERR_RESTRICTED);
    ck_assert_int_eq(xmlparse_reset(p), 0);
    ck_assert_int_eq(feed(p, HDR "<presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.opens, 2);
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(split_utf8_sequence)
{
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    feed(p, HDR "<message><body>\xe2");
    feed(p, "\x98");
    feed(p, "\xba</body></message>");
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_str_eq(r.last, "<message><body>\xe2\x98\xba</body></message>");
    xmlparse_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xmlparse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, header_stanzas_close);
    tcase_add_test(tc, byte_by_byte);
    tcase_add_test(tc, whitespace_keepalives_never_add_up);
    tcase_add_test(tc, oversized_stanza);
    tcase_add_test(tc, far_too_big_ends_the_stream);
    tcase_add_test(tc, oversized_unfinished_tag);
    tcase_add_test(tc, stanza_just_under_limit_passes);
    tcase_add_test(tc, too_deep);
    tcase_add_test(tc, depth_at_limit_passes);
    tcase_add_test(tc, too_many_attributes);
    tcase_add_test(tc, too_many_elements);
    tcase_add_test(tc, restricted_xml);
    tcase_add_test(tc, doctype_and_entities_refused);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, wrong_root);
    tcase_add_test(tc, reset_starts_a_new_stream);
    tcase_add_test(tc, split_utf8_sequence);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
