/* Joining, speaking, history, private messages, nicknames, leaving and the
 * subject of a chat room (XEP-0045 7), through the component's dispatch.
 * Literal stanzas in, literal stanzas out (mucfix.h). */
#include "mucfix.h"

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

int main(void)
{
    Suite *s = suite_create("muc_rooms");
    TCase *tc = tcase_create("rooms");
    tcase_add_checked_fixture(tc, mucfix_setup, mucfix_teardown);
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
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
