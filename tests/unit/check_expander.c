/* The host's fan-out expander: discovery (literal disco answers in, literal
 * questions out) and the expanded stanzas it writes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "expander.h"
#include "testutil.h"

static buf output = BUF_INIT;
static expander *x;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static const out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};

static char *const two_hosts[] = {"localhost", "example.org", NULL};

static void make(expander_mode mode, const char *jid, size_t limit)
{
    expander_config c = {"rooms.localhost", mode, jid, two_hosts, limit};
    x = expander_new(&c);
    ck_assert_ptr_nonnull(x);
}

static void setup(void)
{
    make(EXPANDER_AUTO, NULL, 128 * 1024);
}

static void teardown(void)
{
    expander_free(x);
    x = NULL;
    buf_free(&output);
}

static char *taken(void)
{
    char *s = buf_strdup(&output);
    buf_reset(&output);
    return s;
}

static void expect_out(const char *want)
{
    char *got = taken();
    ck_assert_str_eq(got, want);
    free(got);
}

/* Hands the expander one stanza; returns what expander_handle said. */
static bool feed(const char *xml)
{
    xml_node *st = tu_stanza(xml);
    ck_assert_msg(st != NULL, "test input does not parse: %s", xml);
    bool r = expander_handle(x, st, &sink);
    xml_free(st);
    return r;
}

#define ITEMS_Q(n, to)                                                                             \
    "<iq type=\"get\" id=\"stoa-x-1-i-" n "\" from=\"rooms.localhost\" to=\"" to "\">"             \
    "<query xmlns=\"http://jabber.org/protocol/disco#items\"/></iq>"
#define INFO_Q(id, to)                                                                             \
    "<iq type=\"get\" id=\"" id "\" from=\"rooms.localhost\" to=\"" to "\">"                       \
    "<query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>"
#define ADDRESS_FEATURE "<feature var='http://jabber.org/protocol/address'/>"
#define LIMITS(m, p)                                                                               \
    "<x xmlns='jabber:x:data' type='result'>"                                                      \
    "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/address</value>"       \
    "</field><field var='message'><value>" m "</value></field>"                                    \
    "<field var='presence'><value>" p "</value></field></x>"

/* localhost lists a MUC and the expander (and a node, not a service). */
static void discover_localhost(const char *info_extra)
{
    expander_link_up(x, &sink);
    expect_out(ITEMS_Q("0", "localhost") ITEMS_Q("1", "example.org"));
    ck_assert(feed("<iq type='result' id='stoa-x-1-i-0' from='localhost' to='rooms.localhost'>"
                   "<query xmlns='http://jabber.org/protocol/disco#items'>"
                   "<item jid='muc.localhost' name='Chatrooms'/>"
                   "<item jid='localhost' node='announcements'/>"
                   "<item jid='multicast.localhost'/></query></iq>"));
    expect_out(INFO_Q("stoa-x-1-f-0-0", "muc.localhost")
                   INFO_Q("stoa-x-1-f-0-1", "multicast.localhost"));
    ck_assert(feed("<iq type='result' id='stoa-x-1-f-0-0' from='muc.localhost' "
                   "to='rooms.localhost'><query xmlns='http://jabber.org/protocol/disco#info'>"
                   "<identity category='conference' type='text'/>"
                   "<feature var='http://jabber.org/protocol/muc'/></query></iq>"));
    ck_assert_ptr_null(expander_for(x, "alice@localhost/phone"));
    char in[2048];
    snprintf(in, sizeof in,
             "<iq type='result' id='stoa-x-1-f-0-1' from='multicast.localhost' "
             "to='rooms.localhost'><query xmlns='http://jabber.org/protocol/disco#info'>"
             "<identity category='service' type='multicast'/>" ADDRESS_FEATURE "%s</query></iq>",
             info_extra);
    ck_assert(feed(in));
    expect_out("");
}

START_TEST(discovers_the_expander_of_a_domain)
{
    unsigned g0 = expander_generation(x);
    discover_localhost(LIMITS("infinite", "500"));
    ck_assert_uint_ne(expander_generation(x), g0);
    const expander_target *t = expander_for(x, "alice@localhost/phone");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->jid, "multicast.localhost");
    ck_assert_uint_eq(t->max_message, 0);
    ck_assert_uint_eq(t->max_presence, 500);
    ck_assert_ptr_eq(expander_for(x, "bob@localhost"), t);
    /* Not a user of that domain: a subdomain, another domain, the domain. */
    ck_assert_ptr_null(expander_for(x, "carol@sub.localhost/x"));
    ck_assert_ptr_null(expander_for(x, "dave@remote.example/x"));
    ck_assert_ptr_null(expander_for(x, "localhost/x"));
    ck_assert_ptr_null(expander_for(x, "eve@localhost.evil/x"));
    /* example.org has none (its items answer was an error). */
    ck_assert(feed("<iq type='error' id='stoa-x-1-i-1' from='example.org' to='rooms.localhost'>"
                   "<error type='cancel'><service-unavailable "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    expect_out("");
    ck_assert_ptr_null(expander_for(x, "frank@example.org/x"));
}
END_TEST

START_TEST(without_a_form_the_limit_is_twenty)
{
    discover_localhost("");
    const expander_target *t = expander_for(x, "alice@localhost/phone");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->max_message, 20);
    ck_assert_uint_eq(t->max_presence, 20);
}
END_TEST

START_TEST(answers_from_elsewhere_or_earlier_are_not_believed)
{
    expander_link_up(x, &sink);
    buf_reset(&output);
    /* Items of localhost claimed by someone else. */
    ck_assert(feed("<iq type='result' id='stoa-x-1-i-0' from='evil.example' to='rooms.localhost'>"
                   "<query xmlns='http://jabber.org/protocol/disco#items'>"
                   "<item jid='relay.evil.example'/></query></iq>"));
    expect_out("");
    ck_assert(feed("<iq type='result' id='stoa-x-1-i-0' from='localhost' to='rooms.localhost'>"
                   "<query xmlns='http://jabber.org/protocol/disco#items'>"
                   "<item jid='multicast.localhost'/></query></iq>"));
    expect_out(INFO_Q("stoa-x-1-f-0-0", "multicast.localhost"));
    /* The feature claimed by another address than the one asked. */
    ck_assert(feed(
        "<iq type='result' id='stoa-x-1-f-0-0' from='relay.evil.example' "
        "to='rooms.localhost'><query xmlns='http://jabber.org/protocol/disco#info'>" ADDRESS_FEATURE
        "</query></iq>"));
    ck_assert_ptr_null(expander_for(x, "alice@localhost/phone"));
    /* The link went down and up: the first round's answer is stale. */
    expander_link_down(x);
    expander_link_up(x, &sink);
    buf_reset(&output);
    ck_assert(feed(
        "<iq type='result' id='stoa-x-1-f-0-0' from='multicast.localhost' "
        "to='rooms.localhost'><query xmlns='http://jabber.org/protocol/disco#info'>" ADDRESS_FEATURE
        "</query></iq>"));
    ck_assert_ptr_null(expander_for(x, "alice@localhost/phone"));
    expect_out("");
    /* Someone else's IQs, and requests with the same id prefix, are not
     * the expander's. */
    ck_assert(!feed("<iq type='result' id='abc' from='localhost' to='rooms.localhost'/>"));
    ck_assert(!feed("<iq type='get' id='stoa-x-2-i-0' from='localhost' to='rooms.localhost'>"
                    "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>"));
}
END_TEST

START_TEST(a_lost_link_forgets_the_expander)
{
    discover_localhost("");
    ck_assert_ptr_nonnull(expander_for(x, "alice@localhost/phone"));
    unsigned g = expander_generation(x);
    expander_link_down(x);
    ck_assert_ptr_null(expander_for(x, "alice@localhost/phone"));
    ck_assert_uint_ne(expander_generation(x), g);
}
END_TEST

START_TEST(off_asks_nothing)
{
    expander_free(x);
    make(EXPANDER_OFF, NULL, 128 * 1024);
    expander_link_up(x, &sink);
    expect_out("");
    ck_assert_ptr_null(expander_for(x, "alice@localhost/phone"));
}
END_TEST

START_TEST(a_configured_jid_is_asked_alone)
{
    expander_free(x);
    make(EXPANDER_JID, "fanout.localhost", 128 * 1024);
    expander_link_up(x, &sink);
    expect_out(INFO_Q("stoa-x-1-f-a-0", "fanout.localhost"));
    ck_assert(feed(
        "<iq type='result' id='stoa-x-1-f-a-0' from='fanout.localhost' "
        "to='rooms.localhost'><query xmlns='http://jabber.org/protocol/disco#info'>" ADDRESS_FEATURE
            LIMITS("100", "infinite") "</query></iq>"));
    const expander_target *a = expander_for(x, "alice@localhost/phone");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(expander_for(x, "frank@example.org/x"), a);
    ck_assert_uint_eq(a->max_message, 100);
    ck_assert_uint_eq(a->max_presence, 0);
}
END_TEST

START_TEST(a_configured_jid_without_the_feature_is_not_used)
{
    expander_free(x);
    make(EXPANDER_JID, "fanout.localhost", 128 * 1024);
    expander_link_up(x, &sink);
    buf_reset(&output);
    ck_assert(feed("<iq type='result' id='stoa-x-1-f-a-0' from='fanout.localhost' "
                   "to='rooms.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/>"
                   "</iq>"));
    ck_assert_ptr_null(expander_for(x, "alice@localhost/phone"));
}
END_TEST

/* ---- the expanded stanzas ---- */

#define HEAD "<message from=\"r@rooms.localhost/n\" type=\"groupchat\" id=\"m1\" to=\""
#define TAIL "\"><body>hi &amp; bye</body></message>"
#define OPEN(to)                                                                                   \
    HEAD to "\"><body>hi &amp; bye</body><addresses xmlns=\"http://jabber.org/protocol/address\">"
#define ADDR(j) "<address type=\"bcc\" jid=\"" j "\"/>"
#define CLOSE "</addresses></message>"

static size_t write_batch(const expander_target *t, bool presence, const char *head,
                          const char *tail, const char *const *jids)
{
    expander_batch eb;
    ck_assert(
        expander_batch_begin(&eb, x, t, &output, head, strlen(head), tail, strlen(tail), presence));
    for (; *jids; jids++)
        expander_batch_add(&eb, *jids);
    return expander_batch_end(&eb);
}

static const char *const five[] = {"a@localhost/1",       "b@localhost/2", "c@localhost/3",
                                   "d&amp;e@localhost/4", "f@localhost/5", NULL};

START_TEST(one_stanza_holds_every_address)
{
    discover_localhost(LIMITS("infinite", "infinite"));
    const expander_target *t = expander_for(x, "a@localhost/1");
    ck_assert_uint_eq(write_batch(t, false, HEAD, TAIL, five), 1);
    expect_out(OPEN("multicast.localhost") ADDR("a@localhost/1") ADDR("b@localhost/2")
                   ADDR("c@localhost/3") ADDR("d&amp;e@localhost/4") ADDR("f@localhost/5") CLOSE);
}
END_TEST

START_TEST(the_count_limit_splits_a_list)
{
    discover_localhost(LIMITS("2", "infinite"));
    const expander_target *t = expander_for(x, "a@localhost/1");
    ck_assert_uint_eq(write_batch(t, false, HEAD, TAIL, five), 3);
    expect_out(OPEN("multicast.localhost") ADDR("a@localhost/1") ADDR("b@localhost/2")
                   CLOSE OPEN("multicast.localhost") ADDR("c@localhost/3")
                       ADDR("d&amp;e@localhost/4") CLOSE OPEN("multicast.localhost")
                           ADDR("f@localhost/5") CLOSE);
}
END_TEST

START_TEST(the_byte_limit_splits_a_list)
{
    /* Room for the stanza and three addresses, not four. */
    const char *one = OPEN("multicast.localhost") ADDR("a@localhost/1") ADDR("b@localhost/2")
        ADDR("c@localhost/3") CLOSE;
    expander_free(x);
    make(EXPANDER_AUTO, NULL, strlen(one) + 10);
    discover_localhost(LIMITS("infinite", "infinite"));
    const expander_target *t = expander_for(x, "a@localhost/1");
    ck_assert_uint_eq(write_batch(t, false, HEAD, TAIL, five), 2);
    char *got = taken();
    ck_assert(strncmp(got, one, strlen(one)) == 0);
    ck_assert_str_eq(got + strlen(one), OPEN("multicast.localhost") ADDR("d&amp;e@localhost/4")
                                            ADDR("f@localhost/5") CLOSE);
    free(got);
    /* An address longer than the limit still goes, alone. */
    expander_free(x);
    make(EXPANDER_AUTO, NULL, 10);
    discover_localhost(LIMITS("infinite", "infinite"));
    t = expander_for(x, "a@localhost/1");
    static const char *const two[] = {"a@localhost/1", "b@localhost/2", NULL};
    ck_assert_uint_eq(write_batch(t, false, HEAD, TAIL, two), 2);
    expect_out(OPEN("multicast.localhost") ADDR("a@localhost/1") CLOSE OPEN("multicast.localhost")
                   ADDR("b@localhost/2") CLOSE);
}
END_TEST

START_TEST(an_empty_presence_is_opened_for_its_addresses)
{
    discover_localhost(LIMITS("infinite", "1"));
    const expander_target *t = expander_for(x, "a@localhost/1");
    static const char *const two[] = {"a@localhost/1", "b@localhost/2", NULL};
    ck_assert_uint_eq(write_batch(t, true, "<presence from=\"r@rooms.localhost/n\" to=\"",
                                  "\" type=\"unavailable\"/>", two),
                      2);
    expect_out(
        "<presence from=\"r@rooms.localhost/n\" to=\"multicast.localhost\" "
        "type=\"unavailable\"><addresses xmlns=\"http://jabber.org/protocol/address\">" ADDR(
            "a@localhost/1") "</addresses></presence>"
                             "<presence from=\"r@rooms.localhost/n\" to=\"multicast.localhost\" "
                             "type=\"unavailable\"><addresses "
                             "xmlns=\"http://jabber.org/protocol/address\">" ADDR(
                                 "b@localhost/2") "</addresses></presence>");
}
END_TEST

START_TEST(a_tail_without_its_end_is_refused)
{
    discover_localhost("");
    const expander_target *t = expander_for(x, "a@localhost/1");
    expander_batch eb;
    ck_assert(!expander_batch_begin(&eb, x, t, &output, HEAD, strlen(HEAD), "\">", 2, false));
    ck_assert(
        !expander_batch_begin(&eb, x, t, &output, HEAD, strlen(HEAD), TAIL, strlen(TAIL), true));
    expect_out("");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("expander");
    TCase *t = tcase_create("discovery");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, discovers_the_expander_of_a_domain);
    tcase_add_test(t, without_a_form_the_limit_is_twenty);
    tcase_add_test(t, answers_from_elsewhere_or_earlier_are_not_believed);
    tcase_add_test(t, a_lost_link_forgets_the_expander);
    tcase_add_test(t, off_asks_nothing);
    tcase_add_test(t, a_configured_jid_is_asked_alone);
    tcase_add_test(t, a_configured_jid_without_the_feature_is_not_used);
    suite_add_tcase(s, t);
    t = tcase_create("batch");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, one_stanza_holds_every_address);
    tcase_add_test(t, the_count_limit_splits_a_list);
    tcase_add_test(t, the_byte_limit_splits_a_list);
    tcase_add_test(t, an_empty_presence_is_opened_for_its_addresses);
    tcase_add_test(t, a_tail_without_its_end_is_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
