/* Chat rooms (XEP-0045) through the component's dispatch: literal stanzas
 * in, literal stanzas out. The clock is fixed and ids are seeded, so every
 * byte is predictable; occupant ids are checked for stability separately and
 * shown as OID-<nick-of-first-owner> in expected output. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "muc/occstore.h"
#include "muc/recheck.h"
#include "muc/store.h"
#include "safety/linkpol.h"
#include "safety/ublock.h"
#include "service.h"
#include "testutil.h"

#define SVC "rooms.example.org"
#define ALICE "alice@example.org/pc"
#define BOB "bob@example.org/phone"
#define CAROL "carol@example.org/web"
#define NOW 1000000.0 /* 1970-01-12T13:46:40Z */
/* Stanza ids: milliseconds << 12, then a counter. */
#define SID1 "000003b9aca00000"
#define SID2 "000003b9aca00001"

static buf output = BUF_INIT;
static service *svc;
static double clock_now = NOW;
static const char *const topics[] = {"sports", "movies", NULL};

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
    return clock_now;
}

/* The service every test runs against; policy and stranger_seconds are
 * the [links] settings (LINKPOL_DELIVER, 0: none). */
static service *new_service(linkpol_action policy, double stranger_seconds)
{
    service_config c = {.domain = SVC,
                        .name = "Rooms",
                        .version = "1.0",
                        .muc = {.topics = topics,
                                .history_default = 20,
                                .history_max = 50,
                                .seed = 42,
                                .now = fixed_clock,
                                .links_policy = policy,
                                .stranger_seconds = stranger_seconds}};
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    return service_new(&c, &sink);
}

static void setup(void)
{
    clock_now = NOW;
    svc = new_service(LINKPOL_DELIVER, 0);
}

static void teardown(void)
{
    service_free(svc);
    buf_free(&output);
}

/* Replaces each 32-hex occupant id with OID-N, numbering ids in order of
 * first appearance, so expected output reads OID-1 (first person seen). */
static char oids[8][33];
static int noids;

static char *normalize(const char *s)
{
    buf b = BUF_INIT;
    const char *marker = "occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"";
    const char *p = s;
    for (;;) {
        const char *q = strstr(p, marker);
        if (!q) {
            buf_puts(&b, p);
            break;
        }
        q += strlen(marker);
        buf_append(&b, p, (size_t)(q - p));
        int k;
        for (k = 0; k < noids; k++) {
            if (strncmp(oids[k], q, 32) == 0)
                break;
        }
        if (k == noids && noids < 8)
            memcpy(oids[noids++], q, 32);
        buf_printf(&b, "OID-%d", k + 1);
        p = q + 32;
    }
    char *r = buf_strdup(&b);
    buf_free(&b);
    return r;
}

static char *last;

static const char *feed(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    buf_reset(&output);
    service_handle(svc, st);
    char *raw = buf_strdup(&output);
    free(last);
    last = normalize(raw);
    free(raw);
    return last;
}

#define expect(in, want) ck_assert_str_eq(feed(in), want)
#define expect_has(in, part)                                                                       \
    do {                                                                                           \
        const char *got_ = feed(in);                                                               \
        ck_assert_msg(strstr(got_, part) != NULL, "expected\n  %s\nin\n  %s", part, got_);         \
    } while (0)
#define expect_silence(in) ck_assert_str_eq(feed(in), "")

#define STANZA_ERR(cond) "<" cond " xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"

/* Alice creates room1 and accepts the default configuration (an instant
 * room, XEP-0045 10.1.2). */
static void make_room(const char *room)
{
    char in[512];
    snprintf(in, sizeof in,
             "<presence from='" ALICE "' to='%s@" SVC "/Alice'>"
             "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
             room);
    feed(in);
    snprintf(in, sizeof in,
             "<iq type='set' id='cfg' from='" ALICE "' to='%s@" SVC "'>"
             "<query xmlns='http://jabber.org/protocol/muc#owner'>"
             "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
             room);
    feed(in);
    ck_assert_msg(strstr(last, "type=\"result\"") != NULL, "instant room refused: %s", last);
}

static void join(const char *full, const char *room, const char *nick)
{
    char in[512];
    snprintf(in, sizeof in, "<presence from='%s' to='%s@" SVC "/%s'/>", full, room, nick);
    feed(in);
}

START_TEST(create_instant_room)
{
    expect("<presence from='" ALICE "' to='room1@" SVC "/Alice'>"
           "<x xmlns='http://jabber.org/protocol/muc'/><show>chat</show></presence>",
           "<presence from=\"room1@" SVC "/Alice\" to=\"" ALICE "\"><show>chat</show>"
           "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"owner\" "
           "role=\"moderator\" jid=\"" ALICE "\"/><status code=\"110\"/><status code=\"201\"/>"
           "</x><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-1\"/></presence>"
           "<message from=\"room1@" SVC "\" to=\"" ALICE "\" type=\"groupchat\"><subject/>"
           "</message>");
    /* Locked until configured: nobody else can see or enter it. */
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Bob'/>", STANZA_ERR("item-not-found"));
    expect_has("<iq type='get' id='d' from='" BOB "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
               STANZA_ERR("item-not-found"));
    expect("<iq type='set' id='cfg' from='" ALICE "' to='room1@" SVC "'>"
           "<query xmlns='http://jabber.org/protocol/muc#owner'>"
           "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
           "<iq id=\"cfg\" to=\"" ALICE "\" from=\"room1@" SVC "\" type=\"result\"/>");
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Bob'/>", "<status code=\"110\"/>");
}
END_TEST

START_TEST(join_sees_everyone_and_is_seen)
{
    make_room("room1");
    expect("<presence from='" BOB "' to='room1@" SVC "/Bob'/>",
           /* Alice, as Bob (a participant) sees her: no real JID. */
           "<presence from=\"room1@" SVC "/Alice\" to=\"" BOB "\">"
           "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"owner\" "
           "role=\"moderator\"/></x><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-1\"/>"
           "</presence>"
           /* Bob to Alice, a moderator: with his real JID. */
           "<presence from=\"room1@" SVC "/Bob\" to=\"" ALICE "\">"
           "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
           "role=\"participant\" jid=\"" BOB "\"/></x>"
           "<occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></presence>"
           /* Bob's own presence, 110. */
           "<presence from=\"room1@" SVC "/Bob\" to=\"" BOB "\">"
           "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
           "role=\"participant\" jid=\"" BOB "\"/><status code=\"110\"/></x>"
           "<occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></presence>"
           "<message from=\"room1@" SVC "\" to=\"" BOB
           "\" type=\"groupchat\"><subject/></message>");
}
END_TEST

START_TEST(occupant_ids_are_stable_and_distinct)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    const char *a = strstr(last, "OID-");
    ck_assert_ptr_nonnull(a);
    /* Leaving and coming back under another nick keeps Bob's id. */
    feed("<presence type='unavailable' from='" BOB "' to='room1@" SVC "/Bob'/>");
    join(BOB, "room1", "Robert");
    ck_assert_ptr_nonnull(strstr(last, "from=\"room1@" SVC "/Robert\" to=\"" BOB "\">"));
    ck_assert_int_eq(noids, 2); /* Alice and Bob, nobody else */
    ck_assert_str_ne(oids[0], oids[1]);
    /* HMAC-SHA-256 under the seeded key (00..2a f519f86ee2385b72) of
     * "occupant-id\0room1@rooms.example.org\0<bare>\0", as Python's hmac
     * module computes it: the id is a standard MAC, not a hash of our own. */
    ck_assert_str_eq(oids[0], "095c41faedfd9de798436a53105231d7");
    ck_assert_str_eq(oids[1], "7b897fc557a8c6b19d321a0f6d6ca9e7");
    char ps[33];
    muc_pseudonym(service_muc(svc), "desk-reporter", "alice@example.org", ps);
    ck_assert_str_eq(ps, "ee840dec60f9839893f5f860cf1a0f49");
}
END_TEST

START_TEST(nick_conflict)
{
    make_room("room1");
    expect(
        "<presence from='" BOB "' to='room1@" SVC "/Alice'/>",
        "<presence to=\"" BOB "\" from=\"room1@" SVC "/Alice\" type=\"error\"><error "
        "type=\"cancel\">" STANZA_ERR("conflict") "<text "
                                                  "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" "
                                                  "xml:lang=\"en\">that nickname is in "
                                                  "use</text></error></presence>");
}
END_TEST

START_TEST(nickname_required)
{
    expect_has("<presence from='" BOB "' to='room1@" SVC "'/>", STANZA_ERR("jid-malformed"));
}
END_TEST

START_TEST(groupchat_fans_out_with_ids)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    /* A forged stanza-id and occupant-id are dropped, and the room's own
     * added. */
    const char *got = feed("<message type='groupchat' id='m1' from='" BOB "' to='room1@" SVC "'>"
                           "<body>hi &amp; bye</body>"
                           "<stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='room1@" SVC "'/>"
                           "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>");
    const char *tail = "\"><body>hi &amp; bye</body><stanza-id xmlns=\"urn:xmpp:sid:0\" id=\"" SID1
                       "\" by=\"room1@" SVC "\"/><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" "
                       "id=\"OID-2\"/></message>";
    char want[2048];
    snprintf(want, sizeof want,
             "<message from=\"room1@" SVC "/Bob\" type=\"groupchat\" id=\"m1\" to=\"" ALICE
             "%s<message from=\"room1@" SVC "/Bob\" type=\"groupchat\" id=\"m1\" to=\"" BOB "%s",
             tail, tail);
    ck_assert_str_eq(got, want);
}
END_TEST

START_TEST(history_replayed_with_delay)
{
    make_room("room1");
    feed("<message type='groupchat' from='" ALICE "' to='room1@" SVC
         "'><body>one</body></message>");
    clock_now += 60;
    feed("<message type='groupchat' from='" ALICE "' to='room1@" SVC
         "'><body>two</body></message>");
    clock_now += 60;
    const char *got = feed("<presence from='" BOB "' to='room1@" SVC "/Bob'/>");
    const char *h1 = "<message from=\"room1@" SVC "/Alice\" to=\"" BOB "\" type=\"groupchat\">"
                     "<body>one</body><delay xmlns=\"urn:xmpp:delay\" from=\"room1@" SVC
                     "\" stamp=\"1970-01-12T13:46:40.000Z\"/><stanza-id xmlns=\"urn:xmpp:sid:0\" "
                     "id=\"" SID1 "\" by=\"room1@" SVC "\"/>";
    const char *h2 = "<body>two</body><delay xmlns=\"urn:xmpp:delay\" from=\"room1@" SVC
                     "\" stamp=\"1970-01-12T13:47:40.000Z\"/>";
    const char *p1 = strstr(got, h1), *p2 = strstr(got, h2), *subj = strstr(got, "<subject/>"),
               *self = strstr(got, "<status code=\"110\"/>");
    ck_assert_msg(p1 && p2 && subj && self, "got %s", got);
    /* Self-presence, then history oldest first, then the subject. */
    ck_assert(self < p1 && p1 < p2 && p2 < subj);
}
END_TEST

START_TEST(history_limits)
{
    make_room("room1");
    for (int i = 0; i < 5; i++) {
        char in[256];
        snprintf(in, sizeof in,
                 "<message type='groupchat' from='" ALICE "' to='room1@" SVC
                 "'><body>m%d</body></message>",
                 i);
        feed(in);
        clock_now += 10;
    }
    /* now = NOW+50; messages at NOW+0..40 */
    const char *got = feed("<presence from='" BOB "' to='room1@" SVC "/B1'>"
                           "<x xmlns='http://jabber.org/protocol/muc'>"
                           "<history maxstanzas='2'/></x></presence>");
    ck_assert(!strstr(got, "<body>m2</body>") && strstr(got, "<body>m3</body>") &&
              strstr(got, "<body>m4</body>"));
    got = feed("<presence from='bob@example.org/2' to='room1@" SVC "/B2'>"
               "<x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>");
    ck_assert_ptr_null(strstr(got, "<body>"));
    got = feed("<presence from='bob@example.org/3' to='room1@" SVC "/B3'>"
               "<x xmlns='http://jabber.org/protocol/muc'><history seconds='25'/></x></presence>");
    ck_assert(!strstr(got, "<body>m2</body>") && strstr(got, "<body>m3</body>"));
    got = feed("<presence from='bob@example.org/4' to='room1@" SVC "/B4'>"
               "<x xmlns='http://jabber.org/protocol/muc'>"
               "<history since='1970-01-12T13:47:00Z'/></x></presence>");
    /* m2 was at 13:47:00 exactly: "since" means after it. */
    ck_assert(!strstr(got, "<body>m2</body>") && strstr(got, "<body>m3</body>"));
    got = feed("<presence from='bob@example.org/5' to='room1@" SVC "/B5'/>");
    ck_assert(strstr(got, "<body>m0</body>") && strstr(got, "<body>m4</body>"));
}
END_TEST

START_TEST(private_messages)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    expect("<message type='chat' id='p1' from='" BOB "' to='room1@" SVC "/Alice'>"
           "<body>psst</body></message>",
           "<message from=\"room1@" SVC "/Bob\" to=\"" ALICE "\" type=\"chat\" id=\"p1\">"
           "<body>psst</body><x xmlns=\"http://jabber.org/protocol/muc#user\"/>"
           "<occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></message>");
    expect_has("<message type='chat' from='" BOB "' to='room1@" SVC
               "/Nobody'><body>x</body></message>",
               STANZA_ERR("item-not-found"));
    expect_has("<message type='chat' from='" CAROL "' to='room1@" SVC
               "/Alice'><body>x</body></message>",
               STANZA_ERR("not-acceptable"));
    expect_has("<message type='groupchat' from='" BOB "' to='room1@" SVC
               "/Alice'><body>x</body></message>",
               STANZA_ERR("bad-request"));
}
END_TEST

START_TEST(private_messages_policy)
{
    make_room("room1");
    feed("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_allowpm'><value>moderators</value></field>"
         "</x></query></iq>");
    join(BOB, "room1", "Bob");
    expect_has("<message type='chat' from='" BOB "' to='room1@" SVC
               "/Alice'><body>x</body></message>",
               STANZA_ERR("forbidden"));
    expect_has("<message type='chat' from='" ALICE "' to='room1@" SVC
               "/Bob'><body>x</body></message>",
               "<body>x</body>");
}
END_TEST

START_TEST(non_occupant_cannot_speak)
{
    make_room("room1");
    expect_has("<message type='groupchat' from='" CAROL "' to='room1@" SVC
               "'><body>x</body></message>",
               STANZA_ERR("not-acceptable"));
    expect_has("<message type='groupchat' from='" CAROL "' to='nosuch@" SVC
               "'><body>x</body></message>",
               STANZA_ERR("item-not-found"));
}
END_TEST

START_TEST(nick_change)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    const char *got = feed("<presence from='" BOB "' to='room1@" SVC "/Robert'/>");
    /* Unavailable from the old nick with 303 and the new nick... */
    ck_assert_ptr_nonnull(
        strstr(got, "<presence from=\"room1@" SVC "/Bob\" to=\"" ALICE "\" type=\"unavailable\">"
                    "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
                    "role=\"none\" jid=\"" BOB "\" nick=\"Robert\"/><status code=\"303\"/></x>"));
    ck_assert_ptr_nonnull(strstr(got, "<status code=\"110\"/><status code=\"303\"/>"));
    /* ...then available from the new one. */
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Robert\" to=\"" ALICE "\">"));
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Alice'/>", STANZA_ERR("conflict"));
    expect_has("<message type='chat' from='" ALICE "' to='room1@" SVC
               "/Robert'><body>x</body></message>",
               "to=\"" BOB "\"");
}
END_TEST

START_TEST(leaving_and_temporary_rooms)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    expect("<presence type='unavailable' from='" BOB "' to='room1@" SVC "/Bob'/>",
           "<presence from=\"room1@" SVC "/Bob\" to=\"" ALICE "\" type=\"unavailable\">"
           "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
           "role=\"none\" jid=\"" BOB "\"/></x><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" "
           "id=\"OID-2\"/></presence>"
           "<presence from=\"room1@" SVC "/Bob\" to=\"" BOB "\" type=\"unavailable\">"
           "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
           "role=\"none\" jid=\"" BOB "\"/><status code=\"110\"/></x>"
           "<occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></presence>");
    /* Leaving twice is not an error, and says nothing. */
    expect_silence("<presence type='unavailable' from='" BOB "' to='room1@" SVC "/Bob'/>");
    feed("<presence type='unavailable' from='" ALICE "' to='room1@" SVC "/Alice'/>");
    ck_assert_uint_eq(muc_room_count(service_muc(svc)), 0);
    expect_has("<iq type='get' id='d' from='" BOB "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
               STANZA_ERR("item-not-found"));
}
END_TEST

START_TEST(persistent_room_survives_emptiness)
{
    make_room("room1");
    feed("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field>"
         "</x></query></iq>");
    feed("<presence type='unavailable' from='" ALICE "' to='room1@" SVC "/Alice'/>");
    ck_assert_uint_eq(muc_room_count(service_muc(svc)), 1);
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 0);
}
END_TEST

START_TEST(multiple_sessions_one_nick)
{
    make_room("room1");
    const char *got = feed("<presence from='alice@example.org/phone' to='room1@" SVC "/Alice'/>");
    /* The second session learns its own presence; others hear nothing new. */
    ck_assert_ptr_nonnull(strstr(got, "to=\"alice@example.org/phone\""));
    ck_assert_ptr_null(strstr(got, "to=\"" ALICE "\""));
    got = feed("<message type='groupchat' from='alice@example.org/phone' to='room1@" SVC "'>"
               "<body>both</body></message>");
    ck_assert(strstr(got, "to=\"" ALICE "\"") && strstr(got, "to=\"alice@example.org/phone\""));
    /* One session leaves: the occupant stays. */
    feed("<presence type='unavailable' from='alice@example.org/phone' to='room1@" SVC "/Alice'/>");
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 1);
}
END_TEST

START_TEST(subject)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    expect_has("<message type='groupchat' from='" BOB "' to='room1@" SVC "'><subject>mine</subject>"
               "</message>",
               STANZA_ERR("forbidden"));
    const char *got = feed("<message type='groupchat' from='" ALICE "' to='room1@" SVC "'>"
                           "<subject>Football &amp; more</subject></message>");
    ck_assert_ptr_nonnull(strstr(got, "<message from=\"room1@" SVC "/Alice\" to=\"" BOB
                                      "\" type=\"groupchat\"><subject>Football &amp; more"
                                      "</subject></message>"));
    got = feed("<presence from='" CAROL "' to='room1@" SVC "/Carol'/>");
    ck_assert_ptr_nonnull(strstr(got, "<subject>Football &amp; more</subject>"));
    /* The subject is not history. */
    ck_assert_ptr_null(strstr(got, "<delay"));
}
END_TEST

START_TEST(password_protected)
{
    make_room("room1");
    expect_has("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
               "type='submit'><field var='muc#roomconfig_passwordprotectedroom'><value>1</value>"
               "</field></x></query></iq>",
               STANZA_ERR("not-acceptable"));
    feed("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_passwordprotectedroom'><value>1</value>"
         "</field><field var='muc#roomconfig_roomsecret'><value>s3cret</value></field>"
         "</x></query></iq>");
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Bob'/>", STANZA_ERR("not-authorized"));
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Bob'><x "
               "xmlns='http://jabber.org/protocol/muc'><password>wrong</password></x></presence>",
               STANZA_ERR("not-authorized"));
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Bob'><x "
               "xmlns='http://jabber.org/protocol/muc'><password>s3cret</password></x></presence>",
               "<status code=\"110\"/>");
}
END_TEST

START_TEST(members_only)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    /* Becoming members-only removes the non-members present (322). */
    const char *got =
        feed("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
             "<query xmlns='http://jabber.org/protocol/muc#owner'><x "
             "xmlns='jabber:x:data' type='submit'><field "
             "var='muc#roomconfig_membersonly'><value>1</value></field></x></query></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<status code=\"104\"/>"));
    ck_assert_ptr_nonnull(strstr(got, "<status code=\"322\"/>"));
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Bob'/>",
               STANZA_ERR("registration-required"));
    feed("<iq type='set' id='a' from='" ALICE "' to='room1@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#admin'>"
         "<item affiliation='member' jid='bob@example.org'/></query></iq>");
    ck_assert_ptr_nonnull(strstr(last, "type=\"result\""));
    expect_has("<presence from='" BOB "' to='room1@" SVC "/Bob'/>",
               "<item affiliation=\"member\" role=\"participant\"");
    expect_has("<iq type='get' id='l' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#admin'>"
               "<item affiliation='member'/></query></iq>",
               "<item affiliation=\"member\" jid=\"bob@example.org\"/>");
}
END_TEST

START_TEST(kick)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    join(CAROL, "room1", "Carol");
    /* A participant may not kick. */
    expect_has("<iq type='set' id='k' from='" BOB "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#admin'>"
               "<item nick='Carol' role='none'/></query></iq>",
               STANZA_ERR("forbidden"));
    /* Nor anyone kick an owner but another owner. */
    const char *got = feed("<iq type='set' id='k' from='" ALICE "' to='room1@" SVC "'>"
                           "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                           "<item nick='Carol' role='none'><reason>spam</reason></item>"
                           "</query></iq>");
    ck_assert_ptr_nonnull(strstr(got, "type=\"result\""));
    ck_assert_ptr_nonnull(strstr(
        got, "<presence from=\"room1@" SVC "/Carol\" to=\"" CAROL "\" type=\"unavailable\">"
             "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
             "role=\"none\" jid=\"" CAROL "\"><actor nick=\"Alice\"/><reason>spam</reason></item>"
             "<status code=\"110\"/><status code=\"307\"/></x>"));
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 2);
    expect_has("<iq type='set' id='k' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#admin'>"
               "<item nick='Nobody' role='none'/></query></iq>",
               STANZA_ERR("item-not-found"));
}
END_TEST

START_TEST(ban)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    const char *got = feed("<iq type='set' id='b' from='" ALICE "' to='room1@" SVC "'>"
                           "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                           "<item affiliation='outcast' jid='bob@example.org'/></query></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<status code=\"301\"/>"));
    expect_has("<presence from='bob@example.org/other' to='room1@" SVC "/Bob'/>",
               STANZA_ERR("forbidden"));
    /* Banning a whole domain. */
    feed("<iq type='set' id='b' from='" ALICE "' to='room1@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#admin'>"
         "<item affiliation='outcast' jid='spam.example'/></query></iq>");
    expect_has("<presence from='anyone@spam.example/x' to='room1@" SVC "/S'/>",
               STANZA_ERR("forbidden"));
    /* The last owner cannot be removed. */
    expect_has("<iq type='set' id='b' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#admin'>"
               "<item affiliation='none' jid='alice@example.org'/></query></iq>",
               STANZA_ERR("conflict"));
}
END_TEST

START_TEST(moderated_voice)
{
    make_room("room1");
    feed("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_moderatedroom'><value>true</value></field>"
         "</x></query></iq>");
    join(BOB, "room1", "Bob");
    ck_assert_ptr_nonnull(strstr(last, "role=\"visitor\""));
    expect_has("<message type='groupchat' from='" BOB "' to='room1@" SVC
               "'><body>x</body></message>",
               STANZA_ERR("forbidden"));
    const char *got = feed("<iq type='set' id='v' from='" ALICE "' to='room1@" SVC "'>"
                           "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                           "<item nick='Bob' role='participant'/></query></iq>");
    ck_assert_ptr_nonnull(strstr(got, "role=\"participant\""));
    expect_has("<message type='groupchat' from='" BOB "' to='room1@" SVC
               "'><body>x</body></message>",
               "<body>x</body><stanza-id");
}
END_TEST

START_TEST(destroy_with_venue)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    expect_has("<iq type='set' id='d' from='" BOB "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>",
               STANZA_ERR("forbidden"));
    const char *got = feed("<iq type='set' id='d' from='" ALICE "' to='room1@" SVC "'>"
                           "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                           "<destroy jid='room2@" SVC "'><reason>moved</reason></destroy>"
                           "</query></iq>");
    ck_assert_ptr_nonnull(
        strstr(got, "<iq id=\"d\" to=\"" ALICE "\" from=\"room1@" SVC "\" type=\"result\"/>"));
    ck_assert_ptr_nonnull(strstr(got, "to=\"" BOB "\" type=\"unavailable\">"));
    ck_assert_ptr_nonnull(
        strstr(got, "<destroy jid=\"room2@" SVC "\"><reason>moved</reason></destroy>"));
    ck_assert_uint_eq(muc_room_count(service_muc(svc)), 0);
}
END_TEST

START_TEST(config_form)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    expect_has("<iq type='get' id='f' from='" BOB "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>",
               STANZA_ERR("forbidden"));
    const char *got = feed("<iq type='get' id='f' from='" ALICE "' to='room1@" SVC "'>"
                           "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<x xmlns=\"jabber:x:data\" type=\"form\">"));
    ck_assert_ptr_nonnull(
        strstr(got, "<field var=\"muc#roomconfig_publicroom\" type=\"boolean\" label=\"List the "
                    "room in the directory\"><value>1</value></field>"));
    ck_assert_ptr_nonnull(strstr(got, "<option label=\"movies\"><value>movies</value></option>"));
    /* Hostile values are refused whole: nothing changes. */
    expect_has("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
               "type='submit'><field var='muc#roomconfig_roomname'><value>New</value></field>"
               "<field var='muc#roomconfig_maxusers'><value>-5</value></field></x></query></iq>",
               "unacceptable value for muc#roomconfig_maxusers");
    expect_has("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
               "type='submit'><field var='x-stoa#topic'><value>knitting</value></field></x>"
               "</query></iq>",
               "unacceptable value for x-stoa#topic");
    expect_has("<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
               "type='submit'><field var='muc#maxhistoryfetch'><value>5000</value></field></x>"
               "</query></iq>",
               STANZA_ERR("not-acceptable"));
    got = feed("<iq type='get' id='f' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>");
    ck_assert_ptr_null(strstr(got, "<value>New</value>"));
}
END_TEST

START_TEST(directory_by_topic)
{
    make_room("football");
    feed("<iq type='set' id='c' from='" ALICE "' to='football@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_roomname'><value>Football</value></field>"
         "<field var='x-stoa#topic'><value>sports</value></field>"
         "<field var='muc#roomconfig_roomdesc'><value>Matches &amp; gossip</value></field>"
         "</x></query></iq>");
    make_room("secret");
    feed("<iq type='set' id='c' from='" ALICE "' to='secret@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_publicroom'><value>0</value></field>"
         "<field var='x-stoa#topic'><value>sports</value></field></x></query></iq>");
    make_room("cinema");
    feed("<iq type='set' id='c' from='" ALICE "' to='cinema@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='x-stoa#topic'><value>movies</value></field></x></query></iq>");
    const char *got = feed("<iq type='get' id='i' from='" BOB "' to='" SVC "'>"
                           "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<item jid=\"football@" SVC "\" name=\"Football (1)\"/>"));
    ck_assert_ptr_nonnull(strstr(got, "<item jid=\"cinema@" SVC "\" name=\"cinema (1)\"/>"));
    ck_assert_ptr_null(strstr(got, "secret@"));
    expect("<iq type='get' id='t' from='" BOB "' to='" SVC "'>"
           "<query xmlns='http://jabber.org/protocol/disco#items' node='topics'/></iq>",
           "<iq id=\"t\" to=\"" BOB "\" from=\"" SVC "\" type=\"result\"><query "
           "xmlns=\"http://jabber.org/protocol/disco#items\" node=\"topics\"><item jid=\"" SVC
           "\" node=\"topic/sports\" name=\"sports\"/><item jid=\"" SVC
           "\" node=\"topic/movies\" name=\"movies\"/></query></iq>");
    expect("<iq type='get' id='s' from='" BOB "' to='" SVC "'>"
           "<query xmlns='http://jabber.org/protocol/disco#items' node='topic/sports'/></iq>",
           "<iq id=\"s\" to=\"" BOB "\" from=\"" SVC "\" type=\"result\"><query "
           "xmlns=\"http://jabber.org/protocol/disco#items\" node=\"topic/sports\">"
           "<item jid=\"football@" SVC "\" name=\"Football (1)\"/></query></iq>");
    expect_has("<iq type='get' id='s' from='" BOB "' to='" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/disco#items' node='topic/knitting'/></iq>",
               STANZA_ERR("item-not-found"));
    got = feed("<iq type='get' id='r' from='" BOB "' to='football@" SVC "'>"
               "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<identity category=\"conference\" type=\"text\" "
                                      "name=\"Football\"/>"));
    ck_assert_ptr_nonnull(strstr(got, "<feature var=\"muc_public\"/>"));
    ck_assert_ptr_nonnull(strstr(got, "<field var=\"muc#roominfo_description\" "
                                      "label=\"Description\"><value>Matches &amp; gossip</value>"));
    ck_assert_ptr_nonnull(strstr(got, "<field var=\"muc#roominfo_occupants\" label=\"Number of "
                                      "occupants\"><value>1</value></field>"));
    ck_assert_ptr_nonnull(
        strstr(got, "<field var=\"x-stoa#topic\" label=\"Topic\"><value>sports</value></field>"));
}
END_TEST

START_TEST(self_ping)
{
    make_room("room1");
    expect("<iq type='get' id='sp' from='" ALICE "' to='room1@" SVC "/Alice'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>",
           "<iq id=\"sp\" to=\"" ALICE "\" from=\"room1@" SVC "/Alice\" type=\"result\"/>");
    expect_has("<iq type='get' id='sp' from='" BOB "' to='room1@" SVC "/Bob'>"
               "<ping xmlns='urn:xmpp:ping'/></iq>",
               STANZA_ERR("not-acceptable"));
}
END_TEST

/* IQs between occupants go out under the asker's occupant address, and the
 * answer comes back only when its sealed id is intact and it comes from
 * someone in the room. */
START_TEST(iq_to_occupant_forwarded)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    const char *got = feed("<iq type='get' id='v1' from='" BOB "' to='room1@" SVC "/Alice'>"
                           "<query xmlns='jabber:iq:version'/></iq>");
    const char *head = "<iq type=\"get\" from=\"room1@" SVC "/Bob\" to=\"" ALICE "\" id=\"";
    ck_assert_msg(strncmp(got, head, strlen(head)) == 0, "got %s", got);
    ck_assert_ptr_null(strstr(got, "bob@")); /* the asker's real JID stays hidden */
    char fid[512];
    const char *idstart = got + strlen(head);
    size_t idlen = (size_t)(strchr(idstart, '"') - idstart);
    ck_assert_uint_lt(idlen, sizeof fid);
    memcpy(fid, idstart, idlen);
    fid[idlen] = '\0';
    ck_assert_str_eq(strchr(idstart, '"'), "\"><query xmlns=\"jabber:iq:version\"/></iq>");
    /* The seal: HMAC-SHA-256 of "iq-forward\0<room>\0<asker>\0<id>\0", 64 bits. */
    ck_assert_str_eq(fid + idlen - 17, ".857ab4cb84a8bb67");

    char in[1024];
    snprintf(in, sizeof in,
             "<iq type='result' id='%s' from='" ALICE "' to='room1@" SVC "/Bob'>"
             "<query xmlns='jabber:iq:version'><name>Gajim</name></query></iq>",
             fid);
    expect(in, "<iq type=\"result\" from=\"room1@" SVC "/Alice\" to=\"" BOB "\" id=\"v1\">"
               "<query xmlns=\"jabber:iq:version\"><name>Gajim</name></query></iq>");
    /* Someone outside the room cannot answer in an occupant's name. */
    snprintf(in, sizeof in, "<iq type='result' id='%s' from='" CAROL "' to='room1@" SVC "/Bob'/>",
             fid);
    expect_silence(in);
    /* A broken seal is dropped, never answered. */
    fid[idlen - 1] = fid[idlen - 1] == '0' ? '1' : '0';
    snprintf(in, sizeof in, "<iq type='result' id='%s' from='" ALICE "' to='room1@" SVC "/Bob'/>",
             fid);
    expect_silence(in);
    expect_silence("<iq type='error' id='x' from='" ALICE "' to='room1@" SVC "/Bob'/>");

    /* Avatars belong to the account: vCard requests go to the bare JID. */
    expect_has("<iq type='get' id='vc' from='" BOB "' to='room1@" SVC "/Alice'>"
               "<vCard xmlns='vcard-temp'/></iq>",
               "from=\"room1@" SVC "/Bob\" to=\"alice@example.org\" id=\"stoa1.");
    expect_has("<iq type='get' id='n' from='" CAROL "' to='room1@" SVC "/Alice'>"
               "<query xmlns='jabber:iq:version'/></iq>",
               STANZA_ERR("not-acceptable"));
    expect_has("<iq type='get' id='n' from='" BOB "' to='room1@" SVC "/Nobody'>"
               "<query xmlns='jabber:iq:version'/></iq>",
               STANZA_ERR("item-not-found"));
}
END_TEST

START_TEST(mediated_invitation)
{
    make_room("room1");
    expect("<message from='" ALICE "' to='room1@" SVC "' id='inv'>"
           "<x xmlns='http://jabber.org/protocol/muc#user'><invite to='bob@example.org'>"
           "<reason>join us</reason></invite></x></message>",
           "<message from=\"room1@" SVC "\" to=\"bob@example.org\" id=\"inv\">"
           "<x xmlns=\"http://jabber.org/protocol/muc#user\"><invite from=\"" ALICE "\">"
           "<reason>join us</reason></invite></x><x xmlns=\"jabber:x:conference\" "
           "jid=\"room1@" SVC "\" reason=\"join us\"/></message>");
    join(BOB, "room1", "Bob");
    /* Participants may not invite unless the owner allows it. */
    expect_has("<message from='" BOB "' to='room1@" SVC "'>"
               "<x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@example.org'/>"
               "</x></message>",
               STANZA_ERR("forbidden"));
    expect_has("<message from='" ALICE "' to='room1@" SVC "'>"
               "<x xmlns='http://jabber.org/protocol/muc#user'><invite to='not a jid@@'/>"
               "</x></message>",
               STANZA_ERR("jid-malformed"));
}
END_TEST

START_TEST(subscriptions_to_rooms_refused)
{
    make_room("room1");
    expect_has("<presence type='subscribe' from='" BOB "' to='room1@" SVC "/x'/>",
               STANZA_ERR("service-unavailable"));
}
END_TEST

START_TEST(room_state_round_trip)
{
    make_room("keep");
    feed("<iq type='set' id='c' from='" ALICE "' to='keep@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_persistentroom'><value>1</value></field>"
         "<field var='muc#roomconfig_roomname'><value>Keep &lt;me&gt;</value></field>"
         "<field var='x-stoa#topic'><value>movies</value></field>"
         "<field var='muc#roomconfig_membersonly'><value>1</value></field>"
         "<field var='muc#roomconfig_allowpm'><value>none</value></field>"
         "<field var='muc#maxhistoryfetch'><value>7</value></field>"
         "</x></query></iq>");
    feed("<iq type='set' id='a' from='" ALICE "' to='keep@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#admin'>"
         "<item affiliation='outcast' jid='troll@example.org'><reason>abuse</reason></item>"
         "<item affiliation='member' jid='bob@example.org'/></query></iq>");
    feed("<message type='groupchat' from='" ALICE "' to='keep@" SVC
         "'><subject>On \"air\"</subject>"
         "</message>");
    muc *m = service_muc(svc);
    muc_room *r = muc_room_get(m, "keep");
    ck_assert_ptr_nonnull(r);
    char *state = muc_room_state(r);
    ck_assert_ptr_nonnull(state);

    /* A second service (a restarted component) gets the same room back. */
    service *svc2 = new_service(LINKPOL_DELIVER, 0);
    muc_room *r2 = muc_room_restore(service_muc(svc2), state, strlen(state));
    ck_assert_ptr_nonnull(r2);
    char *state2 = muc_room_state(r2);
    ck_assert_str_eq(state2, state);
    ck_assert_ptr_nonnull(strstr(state, "name=\"Keep &lt;me&gt;\""));
    ck_assert_ptr_nonnull(strstr(state, "<aff jid=\"troll@example.org\" aff=\"outcast\" "
                                        "reason=\"abuse\"/>"));
    /* Restoring over an open room is refused; garbage is refused. */
    ck_assert_ptr_null(muc_room_restore(service_muc(svc2), state, strlen(state)));
    ck_assert_ptr_null(muc_room_restore(service_muc(svc2), "<room", 5));
    ck_assert_ptr_null(
        muc_room_restore(service_muc(svc2), "<room jid='x@elsewhere'><config/></room>", 40));
    free(state);
    free(state2);
    service_free(svc2);
}
END_TEST

START_TEST(archive_query_pages)
{
    make_room("room1");
    for (int i = 0; i < 5; i++) {
        char in[256];
        snprintf(in, sizeof in,
                 "<message type='groupchat' from='" ALICE "' to='room1@" SVC
                 "'><body>m%d</body></message>",
                 i);
        feed(in);
    }
    const char *got = feed("<iq type='set' id='q1' from='" ALICE "' to='room1@" SVC "'>"
                           "<query xmlns='urn:xmpp:mam:2' queryid='x'>"
                           "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>"
                           "</query></iq>");
    ck_assert_ptr_nonnull(strstr(
        got, "<message from=\"room1@" SVC "\" to=\"" ALICE "\"><result xmlns=\"urn:xmpp:mam:2\" "
             "queryid=\"x\" id=\"" SID1 "\"><forwarded xmlns=\"urn:xmpp:forward:0\"><delay "
             "xmlns=\"urn:xmpp:delay\" stamp=\"1970-01-12T13:46:40.000Z\"/><message "
             "xmlns=\"jabber:client\" from=\"room1@" SVC "/Alice\" type=\"groupchat\">"
             "<body>m0</body>"));
    ck_assert_ptr_nonnull(strstr(got, "<body>m1</body>"));
    ck_assert_ptr_null(strstr(got, "<body>m2</body>"));
    ck_assert_ptr_nonnull(strstr(got, "<fin xmlns=\"urn:xmpp:mam:2\" complete=\"false\"><set "
                                      "xmlns=\"http://jabber.org/protocol/rsm\"><first>" SID1
                                      "</first><last>" SID2 "</last></set></fin>"));
    got = feed("<iq type='set' id='q2' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
               "<max>10</max><after>" SID2 "</after></set></query></iq>");
    ck_assert(strstr(got, "<body>m2</body>") && strstr(got, "<body>m4</body>") &&
              !strstr(got, "<body>m1</body>") && strstr(got, "complete=\"true\""));
    /* The newest page: an empty <before/>. */
    got = feed("<iq type='set' id='q3' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
               "<max>1</max><before/></set></query></iq>");
    ck_assert(strstr(got, "<body>m4</body>") && !strstr(got, "<body>m3</body>"));
    expect_has("<iq type='set' id='q4' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
               "<after>../../etc</after></set></query></iq>",
               STANZA_ERR("not-acceptable"));
    feed("<iq type='set' id='b' from='" ALICE "' to='room1@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#admin'>"
         "<item affiliation='outcast' jid='carol@example.org'/></query></iq>");
    expect_has("<iq type='set' id='q5' from='" CAROL "' to='room1@" SVC "'>"
               "<query xmlns='urn:xmpp:mam:2'/></iq>",
               STANZA_ERR("forbidden"));
}
END_TEST

/* XEP-0313 4.3.2: an RSM <after/> or <before/> naming an id the archive
 * does not hold is item-not-found, not an empty page; 4.1.3: the same for
 * the after-id and before-id fields. 0000000000000000 can never be an entry
 * (Redis refused even to range below it). */
START_TEST(archive_unknown_ids_are_item_not_found)
{
    make_room("room1");
    feed("<message type='groupchat' from='" ALICE "' to='room1@" SVC "'><body>m0</body></message>");
    static const char *const queries[] = {
        "<set xmlns='http://jabber.org/protocol/rsm'><before>0000000000000000</before></set>",
        "<set xmlns='http://jabber.org/protocol/rsm'><after>0000000000000000</after></set>",
        "<set xmlns='http://jabber.org/protocol/rsm'><after>000003b9aca00fff</after></set>",
        "<set xmlns='http://jabber.org/protocol/rsm'><before>ffffffffffffffff</before></set>",
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2"
        "</value></field><field var='after-id'><value>000003b9aca00fff</value></field></x>",
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2"
        "</value></field><field var='before-id'><value>000003b9aca00fff</value></field></x>",
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char in[1024];
        snprintf(in, sizeof in,
                 "<iq type='set' id='u' from='" ALICE "' to='room1@" SVC "'>"
                 "<query xmlns='urn:xmpp:mam:2'>%s</query></iq>",
                 queries[i]);
        expect(in, "<iq id=\"u\" to=\"" ALICE "\" from=\"room1@" SVC "\" type=\"error\"><error "
                   "type=\"cancel\">" STANZA_ERR(
                       "item-not-found") "<text "
                                         "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" "
                                         "xml:lang=\"en\">no message "
                                         "with that id in the archive</text></error></iq>");
    }
    /* The id that is there still pages. */
    const char *got =
        feed("<iq type='set' id='k' from='" ALICE "' to='room1@" SVC "'>"
             "<query xmlns='urn:xmpp:mam:2'><set "
             "xmlns='http://jabber.org/protocol/rsm'><after>" SID1 "</after></set></query></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<fin xmlns=\"urn:xmpp:mam:2\" complete=\"true\">"));

    /* With a store whose Redis is away, the ring holds only the newest part
     * of the archive: an id it lacks may be archived, so "unavailable". */
    rdb_config rc = {.host = "127.0.0.1", .port = 1, .backoff_min = 1, .backoff_max = 1};
    rdb *r = rdb_new(ev_default_loop(0), &rc, NULL, NULL);
    muc_store *st = muc_store_new(r, "t:", 100, 10);
    ck_assert(r && st);
    muc_set_store(service_muc(svc), st);
    expect_has("<iq type='set' id='u' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
               "<after>000003b9aca00fff</after></set></query></iq>",
               STANZA_ERR("resource-constraint"));
    got = feed("<iq type='set' id='k' from='" ALICE "' to='room1@" SVC "'>"
               "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>"
               "<after>" SID1 "</after></set></query></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<fin xmlns=\"urn:xmpp:mam:2\" complete=\"true\">"));
    muc_set_store(service_muc(svc), NULL);
    muc_store_free(st);
    rdb_free(r);
}
END_TEST

START_TEST(moderator_retracts_a_message)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    feed("<message type='groupchat' from='" BOB "' to='room1@" SVC
         "'><body>spam link</body></message>");
    expect_has("<iq type='set' id='r' from='" BOB "' to='room1@" SVC "'>"
               "<moderate id='" SID1 "' xmlns='urn:xmpp:message-moderate:1'>"
               "<retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>",
               STANZA_ERR("forbidden"));
    const char *got = feed("<iq type='set' id='r' from='" ALICE "' to='room1@" SVC "'>"
                           "<moderate id='" SID1 "' xmlns='urn:xmpp:message-moderate:1'>"
                           "<retract xmlns='urn:xmpp:message-retract:1'/>"
                           "<reason>spam</reason></moderate></iq>");
    ck_assert_ptr_nonnull(
        strstr(got, "<iq id=\"r\" to=\"" ALICE "\" from=\"room1@" SVC "\" type=\"result\"/>"));
    ck_assert_ptr_nonnull(strstr(
        got, "<message from=\"room1@" SVC "\" to=\"" BOB "\" type=\"groupchat\"><retract "
             "xmlns=\"urn:xmpp:message-retract:1\" id=\"" SID1 "\"><moderated "
             "xmlns=\"urn:xmpp:message-moderate:1\" by=\"room1@" SVC "/Alice\"><occupant-id "
             "xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-1\"/></moderated><reason>spam</reason>"
             "</retract><apply-to xmlns=\"urn:xmpp:fasten:0\" id=\"" SID1 "\"><moderated "
             "xmlns=\"urn:xmpp:message-moderate:0\" by=\"room1@" SVC "/Alice\"><retract "
             "xmlns=\"urn:xmpp:message-retract:0\"/><reason>spam</reason></moderated>"
             "</apply-to></message>"));
    /* Newcomers no longer get it from the history. */
    got = feed("<presence from='" CAROL "' to='room1@" SVC "/Carol'/>");
    ck_assert_ptr_null(strstr(got, "spam link"));
    ck_assert_ptr_nonnull(strstr(got, "<retracted xmlns=\"urn:xmpp:message-retract:1\">"));
    /* The older protocol works too. */
    got = feed("<iq type='set' id='r0' from='" ALICE "' to='room1@" SVC "'>"
               "<apply-to xmlns='urn:xmpp:fasten:0' id='" SID1 "'>"
               "<moderate xmlns='urn:xmpp:message-moderate:0'>"
               "<retract xmlns='urn:xmpp:message-retract:0'/></moderate></apply-to></iq>");
    ck_assert_ptr_nonnull(strstr(got, "type=\"result\""));
    expect_has("<iq type='set' id='r' from='" ALICE "' to='room1@" SVC "'>"
               "<moderate id='nonsense' xmlns='urn:xmpp:message-moderate:1'>"
               "<retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>",
               STANZA_ERR("item-not-found"));
}
END_TEST

START_TEST(channel_search)
{
    make_room("football");
    feed("<iq type='set' id='c' from='" ALICE "' to='football@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_roomname'><value>Football Fans</value></field>"
         "<field var='muc#roomconfig_roomdesc'><value>Weekend matches</value></field>"
         "<field var='x-stoa#topic'><value>sports</value></field></x></query></iq>");
    make_room("films");
    feed("<iq type='set' id='c' from='" ALICE "' to='films@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
         "type='submit'><field var='muc#roomconfig_roomdesc'><value>Weekend cinema</value></field>"
         "<field var='x-stoa#topic'><value>movies</value></field></x></query></iq>");
    join(BOB, "films", "Bob");
    const char *got = feed("<iq type='get' id='f' from='" BOB "' to='" SVC "'>"
                           "<search xmlns='urn:xmpp:channel-search:0:search'/></iq>");
    ck_assert_ptr_nonnull(
        strstr(got, "<field var=\"{urn:xmpp:stoa:0}topic\" type=\"list-single\""));
    /* Words: both rooms mention the weekend; busier first. */
    got = feed("<iq type='get' id='s' from='" BOB "' to='" SVC "'>"
               "<search xmlns='urn:xmpp:channel-search:0:search'><x xmlns='jabber:x:data' "
               "type='submit'><field var='q'><value>WEEKEND</value></field></x></search></iq>");
    ck_assert_str_eq(got, "<iq id=\"s\" to=\"" BOB "\" from=\"" SVC "\" type=\"result\"><result "
                          "xmlns=\"urn:xmpp:channel-search:0:search\"><item address=\"films@" SVC
                          "\"><name>films</name><description>Weekend cinema</description><nusers>2"
                          "</nusers><service-type>xep-0045</service-type><is-open/></item><item "
                          "address=\"football@" SVC "\"><name>Football Fans</name><description>"
                          "Weekend matches</description><nusers>1</nusers><service-type>xep-0045"
                          "</service-type><is-open/></item><set "
                          "xmlns=\"http://jabber.org/protocol/rsm\"><first index=\"0\">0</first>"
                          "<last>1</last><count>2</count></set></result></iq>");
    /* A topic alone; words that match nothing; paging. */
    got = feed("<iq type='set' id='s' from='" BOB "' to='" SVC "'>"
               "<search xmlns='urn:xmpp:channel-search:0:search'><x xmlns='jabber:x:data' "
               "type='submit'><field var='{urn:xmpp:stoa:0}topic'><value>sports</value></field>"
               "</x></search></iq>");
    ck_assert(strstr(got, "football@") && !strstr(got, "films@"));
    got = feed("<iq type='set' id='s' from='" BOB "' to='" SVC "'>"
               "<search xmlns='urn:xmpp:channel-search:0:search'><x xmlns='jabber:x:data' "
               "type='submit'><field var='q'><value>knitting</value></field></x></search></iq>");
    ck_assert(strstr(got, "<count>0</count>") && !strstr(got, "<item"));
    got = feed("<iq type='set' id='s' from='" BOB "' to='" SVC "'>"
               "<search xmlns='urn:xmpp:channel-search:0:search'>"
               "<set xmlns='http://jabber.org/protocol/rsm'><max>1</max><after>0</after></set>"
               "<x xmlns='jabber:x:data' type='submit'><field var='all'><value>true</value></field>"
               "<field var='key'><value>{urn:xmpp:channel-search:0:order}address</value></field>"
               "</x></search></iq>");
    ck_assert(strstr(got, "football@") && !strstr(got, "films@"));
    expect_has("<iq type='set' id='s' from='" BOB "' to='" SVC "'>"
               "<search xmlns='urn:xmpp:channel-search:0:search'><x xmlns='jabber:x:data' "
               "type='submit'/></search></iq>",
               "<no-search-conditions xmlns=\"urn:xmpp:channel-search:0:error\"/>");
    expect_has("<iq type='set' id='s' from='" BOB "' to='" SVC "'>"
               "<search xmlns='urn:xmpp:channel-search:0:search'><x xmlns='jabber:x:data' "
               "type='submit'><field var='all'><value>1</value></field><field var='key'>"
               "<value>{x}y</value></field></x></search></iq>",
               "<invalid-sort-key xmlns=\"urn:xmpp:channel-search:0:error\"/>");
}
END_TEST

/* ---- safety: the link policy for strangers and per-user blocks ---- */

static void restart_with_links(linkpol_action policy)
{
    service_free(svc);
    svc = new_service(policy, 600);
}

#define LINK_MSG(from, id)                                                                         \
    "<message type='groupchat' id='" id "' from='" from "' to='room1@" SVC "'>"                    \
    "<body>see https://x.example/</body></message>"

START_TEST(stranger_links_rejected)
{
    restart_with_links(LINKPOL_REJECT);
    make_room("room1");
    join(BOB, "room1", "Bob");
    expect(LINK_MSG(BOB, "l1"),
           "<message id=\"l1\" to=\"" BOB "\" from=\"room1@" SVC "\" type=\"error\"><body>see "
           "https://x.example/</body><error type=\"modify\">" STANZA_ERR(
               "not-acceptable") "<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" "
                                 "xml:lang=\"en\">links and files "
                                 "from newcomers are not accepted here; try again in 10 minutes or "
                                 "ask for "
                                 "membership</text></error></message>");
    /* A file offer in a private message too. */
    expect_has("<message type='chat' id='l2' from='" BOB "' to='room1@" SVC "/Alice'><body>f"
               "</body><x xmlns='jabber:x:oob'><url>https://up.example/f</url></x></message>",
               STANZA_ERR("not-acceptable"));
    /* Plain words pass; so do links from the owner. */
    expect_has("<message type='groupchat' id='w' from='" BOB "' to='room1@" SVC "'>"
               "<body>hello</body></message>",
               "to=\"" ALICE "\"><body>hello</body>");
    expect_has(LINK_MSG(ALICE, "l3"), "to=\"" BOB "\"><body>see https://x.example/</body>");
    /* Ten minutes later Bob is no stranger. */
    clock_now += 601;
    expect_has(LINK_MSG(BOB, "l4"), "to=\"" ALICE "\"><body>see https://x.example/</body>");
}
END_TEST

START_TEST(stranger_links_marked)
{
    restart_with_links(LINKPOL_MARK);
    make_room("room1");
    join(BOB, "room1", "Bob");
    expect_has(LINK_MSG(BOB, "l1"), "to=\"" ALICE "\"><body>see https://x.example/</body>"
                                    "<unverified-links xmlns=\"urn:xmpp:stoa:0\"/><stanza-id");
}
END_TEST

/* The owner overrides the service's policy for the room. */
#define SET_STRANGER_LINKS(v)                                                                      \
    "<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'><query "                            \
    "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field "  \
    "var='x-stoa#stranger_links'><value>" v "</value></field></x></query></iq>"

START_TEST(stranger_links_room_override)
{
    restart_with_links(LINKPOL_REJECT);
    make_room("room1");
    join(BOB, "room1", "Bob");
    const char *got = feed("<iq type='get' id='f' from='" ALICE "' to='room1@" SVC "'>"
                           "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>");
    ck_assert_ptr_nonnull(strstr(got, "<field var=\"x-stoa#stranger_links\" type=\"list-single\" "
                                      "label=\"Links and files from newcomers\"><value>default"
                                      "</value>"));
    expect_has(SET_STRANGER_LINKS("everything"), "unacceptable value for x-stoa#stranger_links");
    expect_has(SET_STRANGER_LINKS("deliver"), "type=\"result\"");
    expect_has(LINK_MSG(BOB, "l1"), "to=\"" ALICE "\"><body>see https://x.example/</body>");
    /* Kept with the room. */
    muc_room *r = muc_room_get(service_muc(svc), "room1");
    char *state = muc_room_state(r);
    ck_assert_ptr_nonnull(strstr(state, "stranger_links=\"deliver\""));
    free(state);
    expect_has(SET_STRANGER_LINKS("default"), "type=\"result\"");
    expect_has(LINK_MSG(BOB, "l2"), STANZA_ERR("not-acceptable"));
}
END_TEST

/* The room's own message limit: validated whole, kept with the room,
 * handed to the gate through muc_room_message_rate. */
#define SET_MESSAGE_RATE(v)                                                                        \
    "<iq type='set' id='c' from='" ALICE "' to='room1@" SVC "'><query "                            \
    "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field "  \
    "var='muc#roomconfig_roomname'><value>Renamed</value></field><field "                          \
    "var='x-stoa#message_rate'><value>" v "</value></field></x></query></iq>"
#define GET_FORM                                                                                   \
    "<iq type='get' id='f' from='" ALICE "' to='room1@" SVC "'>"                                   \
    "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>"

START_TEST(message_rate_room_setting)
{
    make_room("room1");
    muc *m = service_muc(svc);
    ck_assert_uint_eq(muc_room_message_rate(m, "room1"), 0);
    ck_assert_uint_eq(muc_room_message_rate(m, "nosuchroom"), 0);
    ck_assert_ptr_nonnull(strstr(feed(GET_FORM), "<field var=\"x-stoa#message_rate\" "
                                                 "type=\"text-single\" label=\"Messages a minute "
                                                 "one person may send (empty: the service&apos;s "
                                                 "limit)\"><value></value></field>"));
    /* Refused whole: not a number, negative, a fraction, beyond the maximum;
     * the name in the same form is not applied either. */
    static const char *const bad[] = {
        SET_MESSAGE_RATE("abc"),  SET_MESSAGE_RATE("-1"), SET_MESSAGE_RATE("1.5"),
        SET_MESSAGE_RATE("6001"), SET_MESSAGE_RATE("3 "), SET_MESSAGE_RATE("99999999999999999999"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *got = feed(bad[i]);
        ck_assert_ptr_nonnull(strstr(got, "type=\"error\""));
        ck_assert_ptr_nonnull(strstr(got, STANZA_ERR("not-acceptable")));
        ck_assert_ptr_nonnull(strstr(got, "unacceptable value for x-stoa#message_rate"));
    }
    muc_room *r = muc_room_get(m, "room1");
    ck_assert_ptr_null(r->cfg.name);
    ck_assert_uint_eq(muc_room_message_rate(m, "room1"), 0);

    expect_has(SET_MESSAGE_RATE("3"), "type=\"result\"");
    ck_assert_uint_eq(muc_room_message_rate(m, "room1"), 3);
    ck_assert_ptr_nonnull(strstr(feed(GET_FORM), "<field var=\"x-stoa#message_rate\" "
                                                 "type=\"text-single\" label=\"Messages a minute "
                                                 "one person may send (empty: the service&apos;s "
                                                 "limit)\"><value>3</value></field>"));
    /* Kept with the room, and back after a restart. */
    char *state = muc_room_state(r);
    ck_assert_ptr_nonnull(strstr(state, "message_rate=\"3\""));
    service *svc2 = new_service(LINKPOL_DELIVER, 0);
    ck_assert_ptr_nonnull(muc_room_restore(service_muc(svc2), state, strlen(state)));
    ck_assert_uint_eq(muc_room_message_rate(service_muc(svc2), "room1"), 3);
    /* A damaged value in Redis falls back to the service's limits. */
    ck_assert_ptr_nonnull(muc_room_restore(
        service_muc(svc2), "<room jid='bad@" SVC "'><config message_rate='-5'/></room>",
        strlen("<room jid='bad@" SVC "'><config message_rate='-5'/></room>")));
    ck_assert_uint_eq(muc_room_message_rate(service_muc(svc2), "bad"), 0);
    ck_assert_ptr_nonnull(muc_room_restore(
        service_muc(svc2), "<room jid='big@" SVC "'><config message_rate='6001'/></room>",
        strlen("<room jid='big@" SVC "'><config message_rate='6001'/></room>")));
    ck_assert_uint_eq(muc_room_message_rate(service_muc(svc2), "big"), 0);
    service_free(svc2);
    free(state);
    /* Empty (or 0) gives the room back to the service's limits. */
    expect_has(SET_MESSAGE_RATE(""), "type=\"result\"");
    ck_assert_uint_eq(muc_room_message_rate(m, "room1"), 0);
    state = muc_room_state(r);
    ck_assert_ptr_null(strstr(state, "message_rate"));
    free(state);
    expect_has(SET_MESSAGE_RATE("6000"), "type=\"result\"");
    expect_has(SET_MESSAGE_RATE("0"), "type=\"result\"");
    ck_assert_uint_eq(muc_room_message_rate(m, "room1"), 0);
}
END_TEST

START_TEST(stranger_links_held)
{
    restart_with_links(LINKPOL_HOLD);
    make_room("room1");
    join(BOB, "room1", "Bob");
    join(CAROL, "room1", "Carol");
    expect(LINK_MSG(BOB, "l1"),
           "<message from=\"room1@" SVC "\" to=\"" ALICE "\" type=\"normal\"><body>Held for "
           "moderators: a message with links or files from newcomer Bob: see https://x.example/"
           "</body><held xmlns=\"urn:xmpp:stoa:0\" nick=\"Bob\"/></message>"
           "<message from=\"room1@" SVC "\" to=\"" BOB "\" type=\"normal\"><body>Your message "
           "was held for the moderators: links and files from newcomers need their approval."
           "</body><held xmlns=\"urn:xmpp:stoa:0\"/></message>");
}
END_TEST

START_TEST(blocked_sender_filtered)
{
    ublock *ub = ublock_new(NULL, "t:", SVC,
                            &(out){sink_begin, sink_commit, NULL, "jabber:component:accept"});
    muc_set_ublock(service_muc(svc), ub);
    make_room("room1");
    join(BOB, "room1", "Bob");
    join(CAROL, "room1", "Carol");
    buf_reset(&output);
    xml_node *iq = tu_stanza("<iq type='set' id='b' from='" BOB "' to='" SVC "'><block "
                             "xmlns='urn:xmpp:blocking'><item jid='alice@example.org'/></block>"
                             "</iq>");
    ck_assert(ublock_handle(ub, iq));
    ck_assert_ptr_nonnull(strstr(buf_unread(&output), "type=\"result\""));
    /* Alice's groupchat reaches herself and Carol, not Bob. */
    const char *got = feed("<message type='groupchat' id='g' from='" ALICE "' to='room1@" SVC
                           "'><body>hi</body></message>");
    ck_assert_ptr_nonnull(strstr(got, "to=\"" CAROL "\""));
    ck_assert_ptr_nonnull(strstr(got, "to=\"" ALICE "\""));
    ck_assert_ptr_null(strstr(got, "to=\"" BOB "\""));
    /* Her private message to him vanishes without a word. */
    expect_silence("<message type='chat' id='p' from='" ALICE "' to='room1@" SVC "/Bob'>"
                   "<body>psst</body></message>");
    /* Bob's messages still reach Alice: blocking is one way. */
    expect_has("<message type='groupchat' id='g2' from='" BOB "' to='room1@" SVC "'>"
               "<body>yo</body></message>",
               "to=\"" ALICE "\"><body>yo</body>");
    service_free(svc); /* releases the occupants' lists before the ublock goes */
    svc = NULL;
    ublock_free(ub);
    setup();
}
END_TEST

/* ---- restarts: occupants kept in Redis, seated again and checked ---- */

#define PING(to, n)                                                                                \
    "<iq type=\"get\" from=\"room1@" SVC "\" to=\"" to "\" id=\"stoa-rc.000000000000000" n "\">"   \
    "<ping xmlns=\"urn:xmpp:ping\"/></iq>"
#define ANSWER(type, from, n, rest)                                                                \
    "<iq type='" type "' id='stoa-rc.000000000000000" n "' from='" from "' to='room1@" SVC         \
    "'>" rest "</iq>"
#define BOUNCE(cond)                                                                               \
    "<error type='cancel'><" cond " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"

/* What a restart does, Redis aside (occstore.c reads the same documents
 * back): every room's state and every session's record go into a fresh
 * service, as the restarted component, which queues each session for a
 * check; the fresh service replaces the old one. */
static void restart_service(void)
{
    muc *old = service_muc(svc);
    service *fresh = new_service(LINKPOL_DELIVER, 0);
    muc *m = service_muc(fresh);
    size_t it = 0;
    void *v;
    while (hmap_next(&old->rooms, &it, NULL, &v)) {
        muc_room *r = v;
        char *state = muc_room_state(r);
        muc_room *r2 = muc_room_restore(m, state, strlen(state));
        ck_assert_ptr_nonnull(r2);
        free(state);
        for (size_t i = 0; i < r->noccupants; i++) {
            for (size_t j = 0; j < r->occupants[i]->nsessions; j++) {
                const muc_session *s = r->occupants[i]->sessions[j];
                char *rec = muc_occupant_record(s);
                muc_session *s2 = muc_occupant_restore(r2, s->jid, rec, strlen(rec));
                ck_assert_msg(s2 != NULL, "not seated again: %s", rec);
                muc_recheck_add(m, r2, s2);
                free(rec);
            }
        }
    }
    service_free(svc);
    svc = fresh;
}

/* One slice of checks (what the daemon's timer does every 0.1 s). */
static const char *tick(bool *busy)
{
    buf_reset(&output);
    bool b = muc_recheck_tick(service_muc(svc));
    if (busy)
        *busy = b;
    char *raw = buf_strdup(&output);
    free(last);
    last = normalize(raw);
    free(raw);
    return last;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

START_TEST(occupant_record_round_trip)
{
    make_room("room1");
    feed("<presence from='" BOB "' to='room1@" SVC "/Bob &amp; co'><show>away</show>"
         "<status>out &lt;now&gt;</status><c xmlns='http://jabber.org/protocol/caps' node='n' "
         "ver='v' hash='sha-1'/></presence>");
    muc_room *r = muc_room_get(service_muc(svc), "room1");
    muc_session *s = muc_session_by_jid(r, BOB);
    ck_assert_ptr_nonnull(s);
    s->occ->role = ROLE_VISITOR;
    char *rec = muc_occupant_record(s);
    ck_assert_ptr_nonnull(strstr(rec, "nick=\"Bob &amp; co\" role=\"visitor\" "
                                      "joined=\"1000000000\" oid=\""));
    char *state = muc_room_state(r);
    service *svc2 = new_service(LINKPOL_DELIVER, 0);
    muc_room *r2 = muc_room_restore(service_muc(svc2), state, strlen(state));
    muc_session *s2 = muc_occupant_restore(r2, BOB, rec, strlen(rec));
    ck_assert_ptr_nonnull(s2);
    ck_assert_str_eq(s2->pres, s->pres);
    ck_assert_str_eq(s2->occ->occupant_id, s->occ->occupant_id);
    char *rec2 = muc_occupant_record(s2);
    ck_assert_str_eq(rec2, rec);
    /* The same session twice, a nick someone else holds, garbage, a banned
     * person: no seat. */
    ck_assert_ptr_null(muc_occupant_restore(r2, BOB, rec, strlen(rec)));
    ck_assert_ptr_null(muc_occupant_restore(r2, "eve@example.org/x", rec, strlen(rec)));
    ck_assert_ptr_null(muc_occupant_restore(r2, CAROL, "<s nick='x'>", 12));
    ck_assert_ptr_null(muc_occupant_restore(r2, CAROL, "<p nick='x'/>", 13));
    muc_room_set_aff(r2, "carol@example.org", AFF_OUTCAST, NULL);
    const char *crec = "<s xmlns='urn:stoa:muc:occ:0' nick='Carol' role='participant'/>";
    ck_assert_ptr_null(muc_occupant_restore(r2, CAROL, crec, strlen(crec)));
    muc_room_set_aff(r2, "carol@example.org", AFF_NONE, NULL);
    ck_assert_ptr_nonnull(muc_occupant_restore(r2, CAROL, crec, strlen(crec)));
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc2)), 2);
    free(rec);
    free(rec2);
    free(state);
    service_free(svc2);
}
END_TEST

/* The point of it all: after a restart the occupants are simply still
 * there. Nobody is told anything, a message goes through at once, and the
 * check of a client that answers says nothing either. */
START_TEST(restart_keeps_occupants_silently)
{
    make_room("room1");
    feed("<presence from='" BOB "' to='room1@" SVC "/Bob'><show>away</show></presence>");
    restart_service();
    expect("<message type='groupchat' id='m' from='" BOB "' to='room1@" SVC "'>"
           "<body>still here?</body></message>",
           "<message from=\"room1@" SVC "/Bob\" type=\"groupchat\" id=\"m\" to=\"" ALICE "\">"
           "<body>still here?</body><stanza-id xmlns=\"urn:xmpp:sid:0\" id=\"" SID1
           "\" by=\"room1@" SVC
           "\"/><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></message>"
           "<message from=\"room1@" SVC "/Bob\" type=\"groupchat\" id=\"m\" to=\"" BOB "\">"
           "<body>still here?</body><stanza-id xmlns=\"urn:xmpp:sid:0\" id=\"" SID1
           "\" by=\"room1@" SVC
           "\"/><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></message>");
    /* Bob spoke, so only Alice is asked. */
    bool busy;
    ck_assert_str_eq(tick(&busy), PING(ALICE, "1"));
    ck_assert(busy);
    expect_silence(ANSWER("result", ALICE, "1", ""));
    ck_assert_str_eq(tick(&busy), "");
    ck_assert(!busy);
    /* A newcomer sees both as they were: roles, affiliations, status. */
    const char *got = feed("<presence from='" CAROL "' to='room1@" SVC "/Carol'/>");
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Alice\" to=\"" CAROL "\">"
                                      "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item "
                                      "affiliation=\"owner\" role=\"moderator\"/>"));
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Bob\" to=\"" CAROL "\">"
                                      "<show>away</show><x xmlns=\"http://jabber.org/protocol/"
                                      "muc#user\"><item affiliation=\"none\" "
                                      "role=\"participant\"/>"));
}
END_TEST

/* A client that answers, or says it has no ping, stays; a session its
 * server answers for (twice: once more with disco#info, for clients
 * without ping) or that never answers goes, with status 333. */
START_TEST(recheck_removes_the_gone)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    join(CAROL, "room1", "Carol");
    join("dave@example.org/x", "room1", "Dave");
    restart_service();
    ck_assert_str_eq(tick(NULL), PING(ALICE, "1") PING(BOB, "2") PING(CAROL, "3")
                                     PING("dave@example.org/x", "4"));
    expect_silence(ANSWER("result", ALICE, "1", ""));
    expect_silence(ANSWER("error", BOB, "2", BOUNCE("feature-not-implemented")));
    expect("<iq type='error' id='stoa-rc.0000000000000003' from='" CAROL "' to='room1@" SVC
           "'>" BOUNCE("service-unavailable") "</iq>",
           "<iq type=\"get\" from=\"room1@" SVC "\" to=\"" CAROL
           "\" id=\"stoa-rc.0000000000000005\">"
           "<query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>");
    const char *got = feed(ANSWER("error", CAROL, "5", BOUNCE("service-unavailable")));
    ck_assert_uint_eq(count(got, "from=\"room1@" SVC "/Carol\""), 4);
    ck_assert_uint_eq(count(got, "type=\"unavailable\""), 4);
    ck_assert_uint_eq(count(got, "<status code=\"333\"/>"), 4);
    ck_assert_ptr_nonnull(strstr(got, "to=\"" CAROL "\" type=\"unavailable\"><x xmlns=\"http://"
                                      "jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
                                      "role=\"none\" jid=\"" CAROL "\"/><status code=\"110\"/>"
                                      "<status code=\"333\"/>"));
    /* Someone else cannot answer for Dave, nor can an answer arrive twice. */
    expect_silence(ANSWER("result", BOB, "4", ""));
    expect_silence(ANSWER("result", ALICE, "1", ""));
    clock_now += 29;
    ck_assert_str_eq(tick(NULL), "");
    clock_now += 2;
    bool busy;
    got = tick(&busy);
    ck_assert(!busy);
    ck_assert_uint_eq(count(got, "<status code=\"333\"/>"), 3);
    ck_assert_uint_eq(count(got, "from=\"room1@" SVC "/Dave\""), 3);
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 2);
    /* Those who stayed are in the room as before. */
    expect_has("<message type='groupchat' from='" BOB "' to='room1@" SVC "'><body>ok</body>"
               "</message>",
               "to=\"" ALICE "\"><body>ok</body>");
}
END_TEST

/* After a lost link everyone is checked, and checks in flight when the
 * link drops again are asked again once it is back. */
START_TEST(lost_link_checks_everyone)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    muc *m = service_muc(svc);
    ck_assert_str_eq(tick(NULL), "");
    muc_recheck_all(m);
    muc_recheck_all(m); /* nobody is asked twice */
    ck_assert_str_eq(tick(NULL), PING(ALICE, "1") PING(BOB, "2"));
    muc_recheck_pause(m);
    ck_assert_str_eq(tick(NULL), PING(ALICE, "3") PING(BOB, "4"));
    /* An answer to a question asked before the loss settles nothing. */
    expect_silence(ANSWER("result", ALICE, "1", ""));
    expect_silence(ANSWER("result", ALICE, "3", ""));
    expect_silence(ANSWER("result", BOB, "4", ""));
    bool busy;
    tick(&busy);
    ck_assert(!busy);
    ck_assert_uint_eq(muc_occupant_count(m), 2);
}
END_TEST

/* Thousands seated again must not flood the host: the checks go out at
 * the configured rate (100 a second here), in slices. */
START_TEST(recheck_is_paced)
{
    make_room("room1");
    for (int i = 0; i < 60; i++) {
        char in[256];
        snprintf(in, sizeof in, "<presence from='u%d@example.org/r' to='room1@" SVC "/u%d'/>", i,
                 i);
        feed(in);
    }
    restart_service();
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 21); /* a fifth of a second's worth, + 1 */
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 0);  /* no time has passed */
    clock_now += 0.125;
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 12);
    clock_now += 5; /* a stalled loop does not make a burst */
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 21);
}
END_TEST

/* A client that joins again while the room still has it (it lost track of
 * the room, say across a restart of ours) gets the whole join; the others
 * hear nothing, its presence being unchanged. */
START_TEST(rejoin_gets_the_whole_join)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    restart_service();
    const char *got = feed("<presence from='" BOB "' to='room1@" SVC "/Bob'>"
                           "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    ck_assert_ptr_null(strstr(got, "to=\"" ALICE "\""));
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Alice\" to=\"" BOB "\">"));
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Bob\" to=\"" BOB "\"><x "
                                      "xmlns=\"http://jabber.org/protocol/muc#user\"><item "
                                      "affiliation=\"none\" role=\"participant\" jid=\"" BOB
                                      "\"/><status code=\"110\"/></x>"));
    ck_assert_ptr_nonnull(strstr(got, "<subject/></message>"));
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 2);
    /* With a new status, the others learn it. */
    got = feed("<presence from='" BOB "' to='room1@" SVC "/Bob'><show>dnd</show>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Bob\" to=\"" ALICE "\">"
                                      "<show>dnd</show>"));
}
END_TEST

/* A real shutdown tells everyone (332) and forgets them; a restart says
 * nothing. */
START_TEST(shutdown_announces_or_keeps)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    buf_reset(&output);
    muc_shutdown(service_muc(svc), false);
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 2);
    muc_shutdown(service_muc(svc), true);
    char *got = buf_strdup(&output);
    ck_assert_uint_eq(count(got, "type=\"unavailable\""), 2);
    ck_assert_uint_eq(count(got, "<status code=\"110\"/><status code=\"332\"/>"), 2);
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 0);
    ck_assert_uint_eq(muc_room_count(service_muc(svc)), 0);
    free(got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc");
    TCase *tc = tcase_create("rooms");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_instant_room);
    tcase_add_test(tc, join_sees_everyone_and_is_seen);
    tcase_add_test(tc, occupant_ids_are_stable_and_distinct);
    tcase_add_test(tc, nick_conflict);
    tcase_add_test(tc, nickname_required);
    tcase_add_test(tc, groupchat_fans_out_with_ids);
    tcase_add_test(tc, history_replayed_with_delay);
    tcase_add_test(tc, history_limits);
    tcase_add_test(tc, private_messages);
    tcase_add_test(tc, private_messages_policy);
    tcase_add_test(tc, non_occupant_cannot_speak);
    tcase_add_test(tc, nick_change);
    tcase_add_test(tc, leaving_and_temporary_rooms);
    tcase_add_test(tc, persistent_room_survives_emptiness);
    tcase_add_test(tc, multiple_sessions_one_nick);
    tcase_add_test(tc, subject);
    tcase_add_test(tc, password_protected);
    tcase_add_test(tc, members_only);
    tcase_add_test(tc, kick);
    tcase_add_test(tc, ban);
    tcase_add_test(tc, moderated_voice);
    tcase_add_test(tc, destroy_with_venue);
    tcase_add_test(tc, config_form);
    tcase_add_test(tc, directory_by_topic);
    tcase_add_test(tc, self_ping);
    tcase_add_test(tc, mediated_invitation);
    tcase_add_test(tc, subscriptions_to_rooms_refused);
    tcase_add_test(tc, room_state_round_trip);
    tcase_add_test(tc, archive_query_pages);
    tcase_add_test(tc, archive_unknown_ids_are_item_not_found);
    tcase_add_test(tc, moderator_retracts_a_message);
    tcase_add_test(tc, channel_search);
    tcase_add_test(tc, stranger_links_rejected);
    tcase_add_test(tc, stranger_links_marked);
    tcase_add_test(tc, stranger_links_room_override);
    tcase_add_test(tc, stranger_links_held);
    tcase_add_test(tc, message_rate_room_setting);
    tcase_add_test(tc, blocked_sender_filtered);
    tcase_add_test(tc, iq_to_occupant_forwarded);
    tcase_add_test(tc, occupant_record_round_trip);
    tcase_add_test(tc, restart_keeps_occupants_silently);
    tcase_add_test(tc, recheck_removes_the_gone);
    tcase_add_test(tc, recheck_is_paced);
    tcase_add_test(tc, lost_link_checks_everyone);
    tcase_add_test(tc, rejoin_gets_the_whole_join);
    tcase_add_test(tc, shutdown_announces_or_keeps);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(last);
    return rc;
}
