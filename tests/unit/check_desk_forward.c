/* Reports across federation (component/desk/forward.c): the disco#info
 * query, the serverinfo form's abuse addresses and the XEP-0377 message, as
 * literal stanzas. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "desk/internal.h"
#include "service.h"
#include "testutil.h"

static buf output = BUF_INIT;
static service *svc;
static desk *d;

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
                        .name = "Rooms",
                        .version = "1",
                        .muc = {.history_default = 20},
                        .desk = {.report_servers = "example.org", .forward_reports = true}};
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    svc = service_new(&c, &sink);
    ck_assert_ptr_nonnull(svc);
    d = service_desk(svc);
}

static void teardown(void)
{
    service_free(svc);
    buf_free(&output);
}

static char *answer(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_ptr_nonnull(st);
    buf_reset(&output);
    service_handle(svc, st);
    return buf_strdup(&output);
}

#define DISCO                                                                                      \
    "<iq type=\"get\" from=\"rooms.example.org\" to=\"evil.example\" id=\"desk-fwd-1\">"           \
    "<query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>"
#define FORM(values)                                                                               \
    "<iq type='result' from='evil.example' to='rooms.example.org' id='desk-fwd-1'>"                \
    "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' "            \
    "type='im'/><x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>"      \
    "<value>http://jabber.org/network/serverinfo</value></field><field var='abuse-addresses' "     \
    "type='list-multi'>" values "</field></x></query></iq>"

START_TEST(remote_is_neither_ours_nor_a_host_server)
{
    ck_assert(desk_forward_remote(d, "spammer@evil.example"));
    ck_assert(!desk_forward_remote(d, "alice@example.org"));
    ck_assert(!desk_forward_remote(d, "lobby@rooms.example.org"));
    ck_assert(!desk_forward_remote(d, "lobby@x.rooms.example.org"));
    ck_assert(!desk_forward_remote(d, "evil.example"));
    ck_assert(!desk_forward_remote(d, "lobby@rooms.example.org/nick"));
}
END_TEST

START_TEST(the_report_goes_to_each_xmpp_abuse_address)
{
    buf_reset(&output);
    desk_forward(d, "mod@example.org", "spammer@evil.example", "spam", "buys followers",
                 "<m><msg nick='s' stamp='1700000000'><body>cheap &lt;pills&gt;</body></msg></m>");
    char *got = buf_strdup(&output);
    ck_assert_str_eq(got, DISCO);
    free(got);
    got = answer(FORM("<value>mailto:abuse@evil.example</value>"
                      "<value>xmpp:abuse@evil.example?message</value>"
                      "<value>https://evil.example/abuse</value>"
                      "<value>xmpp:desk%2Done@Evil.Example</value>"
                      "<value>xmpp:a@@b</value>"));
    /* The second address, percent-decoded and normalized, gets the same. */
    char *second = strstr(got, "<message from=\"rooms.example.org\" to=\"desk-one@evil.example\" "
                               "id=\"desk-fwd-1-1\"");
    ck_assert_ptr_nonnull(second);
    *second = '\0';
    ck_assert_str_eq(
        got, "<message from=\"rooms.example.org\" to=\"abuse@evil.example\" "
             "id=\"desk-fwd-1-0\" type=\"normal\"><body>Abuse report from rooms.example.org about "
             "spammer@evil.example (spam), confirmed by its moderators: buys followers</body>"
             "<report xmlns=\"urn:xmpp:reporting:1\" reason=\"urn:xmpp:reporting:spam\">"
             "<jid xmlns=\"urn:xmpp:jid:0\">spammer@evil.example</jid><text>buys followers</text>"
             "</report><forwarded xmlns=\"urn:xmpp:forward:0\"><delay xmlns=\"urn:xmpp:delay\" "
             "stamp=\"2023-11-14T22:13:20.000Z\"/><message xmlns=\"jabber:client\" "
             "from=\"spammer@evil.example\"><body>cheap &lt;pills&gt;</body></message>"
             "</forwarded></message>");
    free(got);
    /* Answered once: the same answer again is nobody's. */
    got = answer(FORM("<value>xmpp:abuse@evil.example</value>"));
    ck_assert_str_eq(got, "");
    free(got);
}
END_TEST

START_TEST(no_address_or_a_refusal_sends_nothing)
{
    desk_forward(d, "mod@example.org", "spammer@evil.example", "abuse", "", "");
    char *got = answer(FORM("<value>mailto:abuse@evil.example</value>"));
    ck_assert_str_eq(got, "");
    free(got);
    buf_reset(&output);
    desk_forward(d, "mod@example.org", "spammer@evil.example", "abuse", "", "");
    got = answer("<iq type='error' from='evil.example' to='rooms.example.org' id='desk-fwd-2'>"
                 "<error type='cancel'><service-unavailable "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    ck_assert_str_eq(got, "");
    free(got);
    /* An answer from another domain is not the one asked. */
    buf_reset(&output);
    desk_forward(d, "mod@example.org", "spammer@evil.example", "abuse", "", "");
    got = answer("<iq type='result' from='mallory.example' to='rooms.example.org' "
                 "id='desk-fwd-3'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    ck_assert_str_eq(got, "");
    free(got);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("desk_forward");
    TCase *tc = tcase_create("forward");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, remote_is_neither_ours_nor_a_host_server);
    tcase_add_test(tc, the_report_goes_to_each_xmpp_abuse_address);
    tcase_add_test(tc, no_address_or_a_refusal_sends_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
