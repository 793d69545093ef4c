/* The component's dispatch: literal stanzas in, literal stanzas out. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "service.h"
#include "testutil.h"

static buf output = BUF_INIT;
static service *svc;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static void setup(void)
{
    service_config c = {.domain = "rooms.example.org",
                        .name = "Rooms & more",
                        .version = "1.2.3",
                        .muc = {.history_default = 20}};
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    svc = service_new(&c, &sink);
}

static void teardown(void)
{
    service_free(svc);
    buf_free(&output);
}

/* Feeds one stanza; returns everything the service wrote in answer. */
static char *run(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    buf_reset(&output);
    service_handle(svc, st);
    return buf_strdup(&output);
}

/* Expects exactly `want` as the answer ("" when none is allowed). */
static void expect(const char *in, const char *want)
{
    char *got = run(in);
    ck_assert_str_eq(got, want ? want : "");
    free(got);
}

/* Answers that tests check in part. */
static char *last;
static const char *reply_to(const char *in)
{
    free(last);
    last = run(in);
    ck_assert_msg(last[0] == '<', "no reply to %s", in);
    return last;
}

#define ERR(cond, type)                                                                            \
    "<error type=\"" type "\"><" cond " xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error>"

START_TEST(disco_info)
{
    expect(
        "<iq type='get' id='d1' from='alice@example.org/pc' to='rooms.example.org'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        "<iq id=\"d1\" to=\"alice@example.org/pc\" from=\"rooms.example.org\" type=\"result\">"
        "<query xmlns=\"http://jabber.org/protocol/disco#info\">"
        "<identity category=\"conference\" type=\"text\" name=\"Rooms &amp; more\"/>"
        "<feature var=\"http://jabber.org/protocol/disco#info\"/>"
        "<feature var=\"http://jabber.org/protocol/disco#items\"/>"
        "<feature var=\"urn:xmpp:ping\"/><feature var=\"jabber:iq:version\"/>"
        "<feature var=\"http://jabber.org/protocol/commands\"/>"
        "<feature var=\"urn:xmpp:reporting:1\"/>"
        "<feature var=\"http://jabber.org/protocol/muc\"/><feature var=\"urn:xmpp:sid:0\"/>"
        "<feature var=\"urn:xmpp:occupant-id:0\"/>"
        "<feature var=\"http://jabber.org/protocol/muc#stable_id\"/><feature var=\"vcard-temp\"/>"
        "<feature var=\"urn:xmpp:channel-search:0:search\"/></query></iq>");
}
END_TEST

START_TEST(disco_info_unknown_node)
{
    expect("<iq type='get' id='d2' from='a@example.org/r' to='rooms.example.org'>"
           "<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/></iq>",
           "<iq id=\"d2\" to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"error\">"
           "<error type=\"cancel\"><item-not-found xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"
           "<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" xml:lang=\"en\">no such node</text>"
           "</error></iq>");
}
END_TEST

START_TEST(disco_items_empty)
{
    expect("<iq type='get' id='d3' from='a@example.org/r' to='rooms.example.org'>"
           "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
           "<iq id=\"d3\" to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"result\">"
           "<query xmlns=\"http://jabber.org/protocol/disco#items\"/></iq>");
}
END_TEST

START_TEST(ping)
{
    expect("<iq type='get' id='p1' from='a@example.org/r' to='rooms.example.org'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>",
           "<iq id=\"p1\" to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"result\"/>");
}
END_TEST

START_TEST(version)
{
    expect("<iq type='get' id='v1' from='a@example.org/r' to='rooms.example.org'>"
           "<query xmlns='jabber:iq:version'/></iq>",
           "<iq id=\"v1\" to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"result\">"
           "<query xmlns=\"jabber:iq:version\"><name>Stoa</name><version>1.2.3</version></query>"
           "</iq>");
}
END_TEST

START_TEST(unknown_namespace_is_service_unavailable)
{
    expect("<iq type='get' id='u1' from='a@example.org/r' to='rooms.example.org'>"
           "<query xmlns='urn:example:unknown'/></iq>",
           "<iq id=\"u1\" to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"error\">" ERR(
               "service-unavailable", "cancel") "</iq>");
}
END_TEST

START_TEST(known_namespace_wrong_type_is_feature_not_implemented)
{
    expect("<iq type='set' id='s1' from='a@example.org/r' to='rooms.example.org'>"
           "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
           "<iq id=\"s1\" to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"error\">" ERR(
               "feature-not-implemented", "cancel") "</iq>");
}
END_TEST

START_TEST(iq_without_payload_or_with_two)
{
    const char *want_prefix = "<iq id=\"b1\" to=\"a@example.org/r\" from=\"rooms.example.org\" "
                              "type=\"error\"><error type=\"modify\"><bad-request ";
    const char *r =
        reply_to("<iq type='get' id='b1' from='a@example.org/r' to='rooms.example.org'/>");
    ck_assert_int_eq(strncmp(r, want_prefix, strlen(want_prefix)), 0);
    r = reply_to(
        "<iq type='get' id='b1' from='a@example.org/r' to='rooms.example.org'><a xmlns='x'/>"
        "<b xmlns='y'/></iq>");
    ck_assert_int_eq(strncmp(r, want_prefix, strlen(want_prefix)), 0);
}
END_TEST

START_TEST(iq_bad_type)
{
    const char *want_prefix = "<iq id=\"t1\" to=\"a@example.org/r\" from=\"rooms.example.org\" "
                              "type=\"error\"><error type=\"modify\"><bad-request ";
    const char *r =
        reply_to("<iq type='fetch' id='t1' from='a@example.org/r' to='rooms.example.org'>"
                 "<ping xmlns='urn:xmpp:ping'/></iq>");
    ck_assert_int_eq(strncmp(r, want_prefix, strlen(want_prefix)), 0);
}
END_TEST

START_TEST(results_and_errors_are_never_answered)
{
    expect("<iq type='result' id='r1' from='a@example.org/r' to='rooms.example.org'/>", NULL);
    expect("<iq type='error' id='r2' from='a@example.org/r' to='rooms.example.org'/>", NULL);
    expect("<message type='error' from='a@example.org/r' to='rooms.example.org'/>", NULL);
    expect("<presence type='error' from='a@example.org/r' to='rooms.example.org'/>", NULL);
}
END_TEST

START_TEST(malformed_to)
{
    const char *r =
        reply_to("<iq type='get' id='j1' from='a@example.org/r' to='x@@rooms.example.org'>"
                 "<ping xmlns='urn:xmpp:ping'/></iq>");
    ck_assert_ptr_nonnull(strstr(r, "<jid-malformed "));
    ck_assert_ptr_nonnull(strstr(r, "from=\"rooms.example.org\""));
}
END_TEST

START_TEST(malformed_from)
{
    /* A from with a prohibited character in the local part. */
    const char *r = reply_to("<message id='j2' from='a b@example.org/r' "
                             "to='rooms.example.org'><body>x</body></message>");
    ck_assert_ptr_nonnull(strstr(r, "<jid-malformed "));
    ck_assert_ptr_nonnull(strstr(r, "type=\"error\""));
}
END_TEST

START_TEST(normalizes_addresses)
{
    /* Upper case domain in 'to' is the same service. */
    expect("<iq type='get' id='n1' from='A@Example.ORG/r' to='ROOMS.example.org'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>",
           "<iq id=\"n1\" to=\"A@Example.ORG/r\" from=\"ROOMS.example.org\" type=\"result\"/>");
}
END_TEST

START_TEST(other_domain_is_item_not_found)
{
    const char *r =
        reply_to("<iq type='get' id='o1' from='a@example.org/r' to='elsewhere.example.org'>"
                 "<ping xmlns='urn:xmpp:ping'/></iq>");
    ck_assert_ptr_nonnull(strstr(r, "<item-not-found "));
}
END_TEST

START_TEST(message_and_presence_to_service)
{
    expect(
        "<message from='a@example.org/r' to='rooms.example.org' id='m'><body>hi</body></message>",
        "<message id=\"m\" to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"error\">"
        "<body>hi</body>" ERR("service-unavailable", "cancel") "</message>");
    expect("<presence from='a@example.org/r' to='rooms.example.org'/>",
           "<presence to=\"a@example.org/r\" from=\"rooms.example.org\" type=\"error\">" ERR(
               "service-unavailable", "cancel") "</presence>");
    expect("<presence type='unavailable' from='a@example.org/r' to='rooms.example.org'/>", NULL);
}
END_TEST

START_TEST(iq_to_a_room_that_does_not_exist)
{
    expect("<iq type='get' id='q1' from='a@example.org/r' to='room@rooms.example.org'>"
           "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
           "<iq id=\"q1\" to=\"a@example.org/r\" from=\"room@rooms.example.org\" "
           "type=\"error\"><error type=\"cancel\"><item-not-found "
           "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/><text "
           "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" xml:lang=\"en\">no such room</text>"
           "</error></iq>");
}
END_TEST

START_TEST(unknown_top_level_element_dropped)
{
    expect("<foo from='a@example.org' to='rooms.example.org'/>", NULL);
    expect("<message xmlns='jabber:client' from='a@example.org' to='rooms.example.org'/>", NULL);
}
END_TEST

START_TEST(rename_on_reload)
{
    service_set_name(svc, "New name");
    const char *r = reply_to("<iq type='get' id='d1' from='a@example.org/r' to='rooms.example.org'>"
                             "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    ck_assert_ptr_nonnull(strstr(r, "name=\"New name\""));
}
END_TEST

/* With blocking on, the service's disco#info advertises XEP-0191 (its
 * feature comes from ublock's row in the router), and a blocking IQ to the
 * service reaches the block lists through the router. */
START_TEST(blocking_is_routed_and_advertised)
{
    service_free(svc);
    service_config c = {.domain = "rooms.example.org",
                        .name = "Rooms",
                        .version = "1",
                        .muc = {.history_default = 20},
                        .blocking = true};
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    svc = service_new(&c, &sink);
    ck_assert_ptr_nonnull(svc);
    const char *r = reply_to("<iq type='get' id='d' from='a@example.org/r' to='rooms.example.org'>"
                             "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    ck_assert_ptr_nonnull(strstr(r, "<feature var=\"urn:xmpp:blocking\"/>"));
    /* Each feature once, the desk's report namespace among them. */
    ck_assert_ptr_null(strstr(strstr(r, "urn:xmpp:blocking") + 1, "urn:xmpp:blocking"));
    ck_assert_ptr_nonnull(strstr(r, "<feature var=\"urn:xmpp:reporting:1\"/>"));
    /* Not loaded and no Redis: the block lists answer, they do not pretend. */
    r = reply_to("<iq type='get' id='b' from='a@example.org/r' to='rooms.example.org'>"
                 "<blocklist xmlns='urn:xmpp:blocking'/></iq>");
    ck_assert_ptr_nonnull(strstr(r, "<resource-constraint"));
    /* To a resource of the service it is no blocking request. */
    expect("<iq type='get' id='b2' from='a@example.org/r' to='rooms.example.org/x'>"
           "<blocklist xmlns='urn:xmpp:blocking'/></iq>",
           "<iq id=\"b2\" to=\"a@example.org/r\" from=\"rooms.example.org/x\" type=\"error\">" ERR(
               "service-unavailable", "cancel") "</iq>");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("dispatch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, disco_info);
    tcase_add_test(tc, disco_info_unknown_node);
    tcase_add_test(tc, disco_items_empty);
    tcase_add_test(tc, ping);
    tcase_add_test(tc, version);
    tcase_add_test(tc, unknown_namespace_is_service_unavailable);
    tcase_add_test(tc, known_namespace_wrong_type_is_feature_not_implemented);
    tcase_add_test(tc, iq_without_payload_or_with_two);
    tcase_add_test(tc, iq_bad_type);
    tcase_add_test(tc, results_and_errors_are_never_answered);
    tcase_add_test(tc, malformed_to);
    tcase_add_test(tc, malformed_from);
    tcase_add_test(tc, normalizes_addresses);
    tcase_add_test(tc, other_domain_is_item_not_found);
    tcase_add_test(tc, message_and_presence_to_service);
    tcase_add_test(tc, iq_to_a_room_that_does_not_exist);
    tcase_add_test(tc, unknown_top_level_element_dropped);
    tcase_add_test(tc, rename_on_reload);
    tcase_add_test(tc, blocking_is_routed_and_advertised);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(last);
    return rc;
}
