/* The rooms' fan-out through the host's expander (component/expander.h,
 * component/muc/fanout.c), through the component's dispatch: the disco
 * answers of a host with an XEP-0033 service in, then joins and messages,
 * and the literal stanzas out. Who gets what must not change: only how
 * many stanzas carry it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "service.h"
#include "testutil.h"

#define SVC "rooms.example.org"
#define MC "multicast.example.org"
#define ALICE "alice@example.org/pc"
#define BOB "bob@example.org/phone"
#define CAROL "carol@example.org/web"
#define DAVE "dave@example.org/cli"
#define ERIN "erin@remote.net/x"
#define NOW 1000000.0
#define SID1 "000003b9aca00000"
#define R "room1@" SVC

static buf output = BUF_INIT;
static service *svc;
static char *const hosts[] = {"example.org", NULL};
static const char *const topics[] = {NULL};

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static double fixed_clock(void)
{
    return NOW;
}

static char *last;

static const char *feed(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    buf_reset(&output);
    service_handle(svc, st);
    free(last);
    last = buf_strdup(&output);
    /* Occupant ids are random per run: blanked. */
    for (char *p = last; (p = strstr(p, "occupant-id:0\" id=\"")) != NULL;) {
        p += strlen("occupant-id:0\" id=\"");
        for (; *p && *p != '"'; p++)
            *p = 'o';
    }
    return last;
}

#define expect(in, want) ck_assert_str_eq(feed(in), want)

static const char form[] =
    "<x xmlns='jabber:x:data' type='result'>"
    "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/address</value></field>"
    "<field var='message'><value>%s</value></field>"
    "<field var='presence'><value>%s</value></field></x>";

/* The service, and the host's answers when max is given: an expander taking
 * max addresses per stanza ("infinite" for no limit). */
static void start(const char *max, size_t stanza_limit)
{
    service_config c = {
        .domain = SVC,
        .name = "Rooms",
        .version = "1.0",
        .muc = {.topics = topics, .seed = 42, .now = fixed_clock},
        .fanout = {.mode = EXPANDER_AUTO, .host_domains = hosts, .stanza_limit = stanza_limit}};
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    svc = service_new(&c, &sink);
    ck_assert_ptr_nonnull(svc);
    buf_reset(&output);
    service_link_up(svc);
    char *asked = buf_strdup(&output);
    ck_assert_str_eq(asked,
                     "<iq type=\"get\" id=\"stoa-x-1-i-0\" from=\"" SVC "\" to=\"example.org\">"
                     "<query xmlns=\"http://jabber.org/protocol/disco#items\"/></iq>");
    free(asked);
    if (!max)
        return;
    expect("<iq type='result' id='stoa-x-1-i-0' from='example.org' to='" SVC "'>"
           "<query xmlns='http://jabber.org/protocol/disco#items'>"
           "<item jid='" SVC "'/><item jid='" MC "'/></query></iq>",
           "<iq type=\"get\" id=\"stoa-x-1-f-0-0\" from=\"" SVC "\" to=\"" SVC "\">"
           "<query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>"
           "<iq type=\"get\" id=\"stoa-x-1-f-0-1\" from=\"" SVC "\" to=\"" MC "\">"
           "<query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>");
    char in[1024], f[512];
    snprintf(f, sizeof f, form, max, max);
    snprintf(in, sizeof in,
             "<iq type='result' id='stoa-x-1-f-0-1' from='" MC "' to='" SVC "'>"
             "<query xmlns='http://jabber.org/protocol/disco#info'>"
             "<identity category='service' type='multicast'/>"
             "<feature var='http://jabber.org/protocol/address'/>%s</query></iq>",
             f);
    expect(in, "");
}

static void teardown(void)
{
    service_free(svc);
    svc = NULL;
    buf_free(&output);
    free(last);
    last = NULL;
}

static void join(const char *full, const char *nick)
{
    char in[512];
    snprintf(in, sizeof in, "<presence from='%s' to='" R "/%s'/>", full, nick);
    feed(in);
}

/* Alice's room (instant, moderators see real JIDs) with Bob, Carol and
 * Dave of the host, and Erin of another server. */
static void room(void)
{
    feed("<presence from='" ALICE "' to='" R "/Alice'><x xmlns='http://jabber.org/protocol/muc'/>"
         "</presence>");
    feed("<iq type='set' id='cfg' from='" ALICE "' to='" R "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'>"
         "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
    join(BOB, "Bob");
    join(CAROL, "Carol");
    join(DAVE, "Dave");
    join(ERIN, "Erin");
}

#define MSG_HEAD(to) "<message from=\"" R "/Bob\" type=\"groupchat\" id=\"m1\" to=\"" to "\">"
#define MSG_TAIL                                                                                   \
    "<body>hi</body><stanza-id xmlns=\"urn:xmpp:sid:0\" id=\"" SID1 "\" by=\"" R "\"/>"            \
    "<occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"oooooooooooooooooooooooooooooooo\"/>"
#define BCC(j) "<address type=\"bcc\" jid=\"" j "\"/>"
#define MESSAGE                                                                                    \
    "<message from='" BOB "' to='" R "' type='groupchat' id='m1'><body>hi</body></message>"

START_TEST(message_once_for_the_host)
{
    start("infinite", 128 * 1024);
    room();
    /* Erin's server is not the expander's: her copy on its own; the host's
     * four users, the sender's reflection included, in one stanza. */
    expect(MESSAGE, MSG_HEAD(ERIN) MSG_TAIL "</message>" MSG_HEAD(MC) MSG_TAIL
           "<addresses xmlns=\"http://jabber.org/protocol/address\">" BCC(ALICE) BCC(BOB) BCC(CAROL)
               BCC(DAVE) "</addresses></message>");
}
END_TEST

START_TEST(split_by_the_expanders_count)
{
    start("3", 128 * 1024);
    room();
    expect(MESSAGE, MSG_HEAD(ERIN) MSG_TAIL "</message>" MSG_HEAD(MC) MSG_TAIL
           "<addresses xmlns=\"http://jabber.org/protocol/address\">" BCC(ALICE) BCC(BOB)
               BCC(CAROL) "</addresses></message>" MSG_HEAD(MC) MSG_TAIL
           "<addresses xmlns=\"http://jabber.org/protocol/address\">" BCC(
               DAVE) "</addresses></message>");
}
END_TEST

START_TEST(copies_without_an_expander)
{
    start(NULL, 128 * 1024);
    room();
    expect(MESSAGE, MSG_HEAD(ALICE) MSG_TAIL "</message>" MSG_HEAD(BOB) MSG_TAIL
           "</message>" MSG_HEAD(CAROL) MSG_TAIL "</message>" MSG_HEAD(DAVE) MSG_TAIL
           "</message>" MSG_HEAD(ERIN) MSG_TAIL "</message>");
}
END_TEST

/* A lost link forgets the expander: copies until it is found again. */
START_TEST(copies_after_the_link_went_down)
{
    start("infinite", 128 * 1024);
    room();
    service_link_down(svc);
    ck_assert_ptr_null(strstr(feed(MESSAGE), MC));
    ck_assert_ptr_nonnull(strstr(last, "to=\"" ALICE "\""));
}
END_TEST

#define PRES_HEAD(to) "<presence from=\"" R "/Carol\" to=\"" to "\"><show>away</show>"
#define PRES_X "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
#define PRES_OID                                                                                   \
    "<occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"oooooooooooooooooooooooooooooooo\"/>"

/* Each recipient gets what it got as a copy: Carol her own presence (110,
 * her JID), Alice as a moderator Carol's JID, Erin of another server a
 * copy; the rest, who see the same bytes, one stanza. */
/* An expander that refuses (its access does not name this domain) is given
 * up: the next broadcasts go as copies. */
START_TEST(copies_after_the_expander_refused)
{
    start("infinite", 128 * 1024);
    room();
    expect("<message type='error' from='" MC "' to='" R "/Bob' id='m0'>"
           "<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
           "</message>",
           "");
    expect(MESSAGE, MSG_HEAD(ALICE) MSG_TAIL "</message>" MSG_HEAD(BOB) MSG_TAIL
           "</message>" MSG_HEAD(CAROL) MSG_TAIL "</message>" MSG_HEAD(DAVE) MSG_TAIL
           "</message>" MSG_HEAD(ERIN) MSG_TAIL "</message>");
}
END_TEST

START_TEST(presence_grouped_by_what_each_sees)
{
    start("infinite", 128 * 1024);
    room();
    join("frank@example.org/f", "Frank");
    expect("<presence from='" CAROL "' to='" R "/Carol'><show>away</show></presence>",
           PRES_HEAD(CAROL) PRES_X "role=\"participant\" jid=\"" CAROL "\"/><status code=\"110\"/>"
                                   "</x>" PRES_OID "</presence>" PRES_HEAD(ERIN) PRES_X
           "role=\"participant\"/></x>" PRES_OID "</presence>" PRES_HEAD(ALICE) PRES_X
           "role=\"participant\" jid=\"" CAROL "\"/></x>" PRES_OID "</presence>" PRES_HEAD(MC)
               PRES_X "role=\"participant\"/></x>" PRES_OID
                      "<addresses xmlns=\"http://jabber.org/protocol/address\">" BCC(BOB) BCC(DAVE)
                          BCC("frank@example.org/f") "</addresses></presence>");
}
END_TEST

/* A stanza past the byte limit is split there, whatever the count. */
START_TEST(split_by_bytes)
{
    start("infinite", 4096);
    feed("<presence from='" ALICE "' to='" R "/Alice'><x xmlns='http://jabber.org/protocol/muc'/>"
         "</presence>");
    feed("<iq type='set' id='cfg' from='" ALICE "' to='" R "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'>"
         "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
    char jid[64], nick[16];
    for (int i = 0; i < 200; i++) {
        snprintf(jid, sizeof jid, "user%03d@example.org/r", i);
        snprintf(nick, sizeof nick, "u%03d", i);
        join(jid, nick);
    }
    feed("<message from='" ALICE "' to='" R "' type='groupchat'><body>hi</body></message>");
    size_t stanzas = 0, addresses = 0;
    for (const char *p = last; (p = strstr(p, "<message ")) != NULL; p++) {
        const char *end = strstr(p, "</message>");
        ck_assert_ptr_nonnull(end);
        ck_assert_uint_le((size_t)(end - p) + strlen("</message>"), 4096);
        stanzas++;
    }
    for (const char *p = last; (p = strstr(p, "type=\"bcc\"")) != NULL; p++)
        addresses++;
    ck_assert_uint_eq(addresses, 201);
    ck_assert_uint_gt(stanzas, 1);
    ck_assert_ptr_null(strstr(last, "to=\"user"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fanout");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, message_once_for_the_host);
    tcase_add_test(tc, split_by_the_expanders_count);
    tcase_add_test(tc, copies_without_an_expander);
    tcase_add_test(tc, copies_after_the_link_went_down);
    tcase_add_test(tc, copies_after_the_expander_refused);
    tcase_add_test(tc, presence_grouped_by_what_each_sees);
    tcase_add_test(tc, split_by_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
