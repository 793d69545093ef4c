#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "testutil.h"
#include "xmlframe.h"
#include "xmlparse.h"
#include "xstream.h"

#define HDR                                                                                        \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "                         \
    "xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.org'>"

typedef struct rec {
    int opens, stanzas, closes, drops;
    char dropped[512];
    xmlparse_err drop_why;
    char drop_text[96];
    bool drop_has_ns;
    char last[4096];
    char header_id[64];
    /* Every event in order, so that two ways of feeding one input can be
     * compared: "S" stanza, "D" drop (with the shell), "C" close. */
    char log[8192];
} rec;

static void note(rec *r, const char *kind, const char *what)
{
    size_t len = strlen(r->log);
    snprintf(r->log + len, sizeof r->log - len, "%s%s;", kind, what);
}

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
    note(r, "S", strlen(str) < 200 ? str : "(long)");
    free(str);
    xml_free(s);
}

static void r_close(void *ud)
{
    ((rec *)ud)->closes++;
    note(ud, "C", "");
}

static void r_dropped(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    rec *r = ud;
    r->drops++;
    r->drop_why = why;
    snprintf(r->drop_text, sizeof r->drop_text, "%s", text);
    ck_assert_ptr_nonnull(shell);
    r->drop_has_ns = xml_ns(shell) != NULL;
    char *str = tu_str(shell);
    snprintf(r->dropped, sizeof r->dropped, "%s", str);
    note(r, "D", str);
    free(str);
    xml_free(shell);
}

static const xmlparse_callbacks cbs = {r_open, r_stanza, r_close, r_dropped};
static const xmlparse_limits lim = {4096, 8, 10, 50};

static xmlparse_err feed(xmlparse *p, const char *s)
{
    return xmlparse_feed(p, s, strlen(s));
}

static xmlparse *open_stream(rec *r, const xmlparse_limits *l)
{
    memset(r, 0, sizeof *r);
    xmlparse *p = xmlparse_new(l, &cbs, r);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(feed(p, HDR), XMLPARSE_OK);
    return p;
}

/* head, then `unit` `times` times, then tail: a malloc'ed string. */
static char *build(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * times + tl + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * times, tail, tl + 1);
    return s;
}

/* Feeds a malloc'ed string and frees it. */
static xmlparse_err feed_free(xmlparse *p, char *s)
{
    xmlparse_err e = feed(p, s);
    free(s);
    return e;
}

/* The same stanza of exactly `size` bytes. */
static char *stanza_of(size_t size)
{
    const char *head = "<message id='n'><body>", *tail = "</body></message>";
    size_t fixed = strlen(head) + strlen(tail);
    ck_assert_uint_ge(size, fixed);
    return build(head, "c", size - fixed, tail);
}

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
