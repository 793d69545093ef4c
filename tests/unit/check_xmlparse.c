/* The stream parser: events in order however the bytes arrive, well-formed
 * and restricted XML (RFC 6120 11), namespaces, encodings, resets. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "xmlparse.h"
#include "xpfix.h"

START_TEST(header_stanzas_close)
{
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    ck_assert_int_eq(r.opens, 1);
    ck_assert_str_eq(r.header_id, "abc");
    ck_assert_int_eq(
        feed(p, "<handshake/> <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"),
        XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 2);
    ck_assert_str_eq(r.last, "<iq type=\"get\" id=\"1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>");
    ck_assert_int_eq(feed(p, "</stream:stream>"), XMLPARSE_OK);
    ck_assert_int_eq(r.closes, 1);
    /* Nothing may follow the end of the stream; nothing at all is fine. */
    ck_assert_int_eq(xmlparse_feed(p, "", 0), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "<presence/>"), XMLPARSE_ERR_CLOSED);
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
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    for (int i = 0; i < 20000; i++)
        ck_assert_int_eq(feed(p, " "), XMLPARSE_OK);
    ck_assert_int_eq(feed(p, "<presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

START_TEST(text_between_stanzas_is_not_well_formed)
{
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    ck_assert_int_eq(feed(p, "<presence/> hello"), XMLPARSE_ERR_SYNTAX);
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
}
END_TEST

/* A namespace name may contain a space (expat >= 2.4.5 refused it while
 * the space was also the separator, and the whole stream with it). */
START_TEST(namespace_with_a_space)
{
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    ck_assert_int_eq(feed(p, "<message type='groupchat' to='r@rooms.localhost'><body>x</body>"
                             "<q xmlns='urn:a b'/></message>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_str_eq(r.last, "<message type=\"groupchat\" to=\"r@rooms.localhost\"><body>x</body>"
                             "<q xmlns=\"urn:a b\"/></message>");
    /* An attribute in such a namespace, and one in a namespace ending in a
     * space: written back with a declared prefix, and read back the same. */
    ck_assert_int_eq(feed(p, "<message><q xmlns:p='urn:a b' p:x='1' xmlns:s='urn:s ' s:y='2'/>"
                             "</message>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 2);
    ck_assert_str_eq(r.last, "<message><q xmlns:a0=\"urn:a b\" a0:x=\"1\" xmlns:a1=\"urn:s \" "
                             "a1:y=\"2\"/></message>");
    xml_node *again = tu_stanza(r.last);
    ck_assert_ptr_nonnull(again);
    xml_node *q = xml_first_child(again);
    ck_assert_str_eq(xml_attr(q, "urn:a b x"), "1");
    ck_assert_str_eq(xml_attr(q, "urn:s  y"), "2");
    xml_free(again);
    /* xml:lang keeps its conventional name. */
    ck_assert_int_eq(feed(p, "<message xml:lang='de'/>"), XMLPARSE_OK);
    ck_assert_str_eq(r.last, "<message xml:lang=\"de\"/>");
    xmlparse_free(p);
}
END_TEST

START_TEST(undeclared_prefix_is_not_well_formed)
{
    /* RFC 6120 section 4.9.3.13: a namespace error is not-well-formed. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    xmlparse_err e = feed(p, "<message><p:x/></message>");
    ck_assert_int_eq(e, XMLPARSE_ERR_SYNTAX);
    ck_assert_str_eq(xmlparse_err_condition(e), "not-well-formed");
    xmlparse_free(p);
}
END_TEST

START_TEST(restricted_xml)
{
    static const char *const bad[] = {
        "<message><!-- hi --></message>",
        "<?pi data?>",
        "<message><?pi data?></message>",
        /* Inside a stanza already being skipped, too. */
        "<message><a><a><a><a><a><a><a><a><a><a><!-- x --></a></a></a></a></a></a></a></a></a></a>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rec r;
        xmlparse *p = open_stream(&r, &lim);
        xmlparse_err e = feed(p, bad[i]);
        ck_assert_msg(e == XMLPARSE_ERR_RESTRICTED, "case %zu gave %d", i, e);
        ck_assert_str_eq(xmlparse_err_condition(e), "restricted-xml");
        ck_assert_int_eq(r.drops, 0);
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
        "<message><body>a < b</body></message>",
        "<message><![if]></message>",
    };
    static const xmlparse_err want[] = {
        XMLPARSE_ERR_SYNTAX, XMLPARSE_ERR_SYNTAX, XMLPARSE_ERR_RESTRICTED, XMLPARSE_ERR_SYNTAX,
        XMLPARSE_ERR_SYNTAX, XMLPARSE_ERR_SYNTAX, XMLPARSE_ERR_SYNTAX,     XMLPARSE_ERR_SYNTAX,
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rec r;
        xmlparse *p = open_stream(&r, &lim);
        xmlparse_err e = feed(p, bad[i]);
        ck_assert_msg(e == want[i], "case %zu (%s) gave %d, want %d", i, bad[i], e, want[i]);
        ck_assert_int_eq(r.stanzas, 0);
        ck_assert_ptr_nonnull(strstr(xmlparse_error_text(p), "byte "));
        xmlparse_free(p);
    }
}
END_TEST

START_TEST(utf16_is_not_read)
{
    /* XMPP is UTF-8 (RFC 6120 section 11.6). Expat guesses the encoding
     * from the first two bytes, even when told it is UTF-8: it took these
     * for UTF-16 when they came in one read and for UTF-8 when they did not
     * (found by fuzz_stream), and the framer reads bytes. */
    static const char utf16[] = "<\0s\0:\0s\0t\0r\0e\0a\0m\0>\0";
    static const char odd[] = "h\0\x06t";
    for (size_t cut = 0; cut < 4; cut++) {
        rec r = {0};
        xmlparse *p = xmlparse_new(&lim, &cbs, &r);
        xmlparse_err e = xmlparse_feed(p, odd, cut);
        if (e == XMLPARSE_OK)
            e = xmlparse_feed(p, odd + cut, sizeof odd - 1 - cut);
        ck_assert_msg(e == XMLPARSE_ERR_SYNTAX, "cut at %zu gave %d", cut, e);
        xmlparse_free(p);
    }
    rec r = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &r);
    ck_assert_int_eq(xmlparse_feed(p, utf16, sizeof utf16 - 1), XMLPARSE_ERR_SYNTAX);
    ck_assert_int_eq(r.opens, 0);
    xmlparse_free(p);
    /* A UTF-8 byte order mark is fine. */
    p = xmlparse_new(&lim, &cbs, &r);
    ck_assert_int_eq(feed(p, "\xef\xbb\xbf" HDR "<presence/>"), XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 1);
    xmlparse_free(p);
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
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    feed(p, "<message><");
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
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    feed(p, "<message><body>\xe2");
    feed(p, "\x98");
    feed(p, "\xba</body></message>");
    ck_assert_int_eq(r.stanzas, 1);
    ck_assert_str_eq(r.last, "<message><body>\xe2\x98\xba</body></message>");
    xmlparse_free(p);
}
END_TEST

START_TEST(markup_inside_values_and_cdata)
{
    /* '>' and "/>" inside attribute values and CDATA end nothing. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    ck_assert_int_eq(feed(p,
                          "<message id='a/>b' to=\"x>'y\"><body><![CDATA[1 > 0 </message> <x/>]]>"
                          "</body></message><presence/>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.stanzas, 2);
    ck_assert_str_eq(r.log, "S<message id=\"a/&gt;b\" to=\"x&gt;&apos;y\"><body>1 &gt; 0 "
                            "&lt;/message&gt; &lt;x/&gt;</body></message>;S<presence/>;");
    /* The same inside a stanza being skipped. */
    ck_assert_int_eq(feed(p, "<message id='s'><a><a><a><a><a><a><a><a><a x='</a>'><![CDATA[</a>]]>"
                             "</a></a></a></a></a></a></a></a></a></message><presence/>"),
                     XMLPARSE_OK);
    ck_assert_int_eq(r.drops, 1);
    ck_assert_int_eq(r.stanzas, 3);
    xmlparse_free(p);
}
END_TEST

START_TEST(fresh_parsers_carry_on)
{
    /* Many stanzas with ever-new names: the stream moves to a fresh expat
     * parser every 256 KiB; nothing is lost or changed at the seams. */
    rec r;
    xmlparse *p = open_stream(&r, &lim);
    char st[256];
    int n = 0;
    for (int i = 0; i < 8000; i++) {
        int len =
            snprintf(st, sizeof st,
                     "<message id='%d'><e%d xmlns:q%d='urn:%d' q%d:a%d='v'>t</e%d></message> ", i,
                     i, i, i, i, i, i);
        ck_assert_int_eq(xmlparse_feed(p, st, (size_t)len), XMLPARSE_OK);
        n += len;
    }
    ck_assert_int_gt(n, 2 * 256 * 1024);
    ck_assert_int_eq(r.stanzas, 8000);
    ck_assert_str_eq(r.last, "<message id=\"7999\"><e7999 xmlns:a0=\"urn:7999\" a0:a7999=\"v\">t"
                             "</e7999></message>");
    ck_assert_int_eq(feed(p, "</stream:stream>"), XMLPARSE_OK);
    ck_assert_int_eq(r.closes, 1);
    xmlparse_free(p);
}
END_TEST

/* Wherever the input is cut, the same events come out. */
START_TEST(any_split_gives_the_same_events)
{
    const char *all =
        HDR "<message id='1'><body>one</body></message> <iq id='2' x='a>b'><![CDATA[<]]></iq>"
            "<message id='3' from='a@b'><a><a><a><a><a><a><a><a><a/></a></a></a></a></a></a></a>"
            "</a></message>\n<presence id='4' a1='' a2='' a3='' a4='' a5='' a6='' a7='' a8='' "
            "a9='' a10='' a11=''/><presence id='5'/></stream:stream>";
    size_t n = strlen(all);
    rec whole = {0};
    xmlparse *p = xmlparse_new(&lim, &cbs, &whole);
    ck_assert_int_eq(xmlparse_feed(p, all, n), XMLPARSE_OK);
    xmlparse_free(p);
    ck_assert_int_eq(whole.stanzas, 3);
    ck_assert_int_eq(whole.drops, 2);
    ck_assert_int_eq(whole.closes, 1);
    for (size_t a = 1; a < n; a++) {
        rec r = {0};
        p = xmlparse_new(&lim, &cbs, &r);
        size_t b = a + (n - a) / 2;
        ck_assert_int_eq(xmlparse_feed(p, all, a), XMLPARSE_OK);
        ck_assert_int_eq(xmlparse_feed(p, all + a, b - a), XMLPARSE_OK);
        ck_assert_int_eq(xmlparse_feed(p, all + b, n - b), XMLPARSE_OK);
        ck_assert_msg(strcmp(r.log, whole.log) == 0, "cut at %zu and %zu:\n%s\nwhole:\n%s", a, b,
                      r.log, whole.log);
        xmlparse_free(p);
    }
}
END_TEST

START_TEST(stored_documents)
{
    static const xmlparse_limits doc = {1 << 20, 4, 8, 100};
    xml_node *d = xml_parse_document("<room xmlns='urn:x'><a b='c'/></room>", 37, &doc);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(xml_ns(d), "urn:x");
    xml_free(d);
    /* Over a limit there is no document, and no report to anyone. */
    ck_assert_ptr_null(xml_parse_document("<r><a><a><a><a><a/></a></a></a></a></r>", 39, &doc));
    ck_assert_ptr_null(xml_parse_document("<r><a></r>", 10, &doc));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xmlparse");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, header_stanzas_close);
    tcase_add_test(tc, byte_by_byte);
    tcase_add_test(tc, whitespace_keepalives_never_add_up);
    tcase_add_test(tc, text_between_stanzas_is_not_well_formed);
    tcase_add_test(tc, namespace_with_a_space);
    tcase_add_test(tc, undeclared_prefix_is_not_well_formed);
    tcase_add_test(tc, restricted_xml);
    tcase_add_test(tc, doctype_and_entities_refused);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, utf16_is_not_read);
    tcase_add_test(tc, wrong_root);
    tcase_add_test(tc, reset_starts_a_new_stream);
    tcase_add_test(tc, split_utf8_sequence);
    tcase_add_test(tc, markup_inside_values_and_cdata);
    tcase_add_test(tc, fresh_parsers_carry_on);
    tcase_add_test(tc, any_split_gives_the_same_events);
    tcase_add_test(tc, stored_documents);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
