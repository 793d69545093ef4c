/* What rooms keep: their state, the message archive (XEP-0313), moderated
 * retraction (XEP-0425) and the channel search (XEP-0433).
 * Literal stanzas in, literal stanzas out (mucfix.h). */
#include "mucfix.h"

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

/* XEP-0313 4.1.1: 'with' on a room's archive names the sender by occupant
 * JID; the room's bare JID is everyone; paging (RSM) runs over the matches
 * only. Here the room's history in memory answers (no store). */
#define WITH_Q(id, with, rsm)                                                                      \
    "<iq type='set' id='" id "' from='" ALICE "' to='room1@" SVC "'><query "                       \
    "xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"        \
    "<value>urn:xmpp:mam:2</value></field><field var='with'><value>" with "</value></field>"       \
    "</x><set xmlns='http://jabber.org/protocol/rsm'>" rsm "</set></query></iq>"
#define SID3 "000003b9aca00003"
#define FIN(complete, rsm)                                                                         \
    "<iq from=\"room1@" SVC "\" to=\"" ALICE "\" type=\"result\" id=\"w\"><fin "                   \
    "xmlns=\"urn:xmpp:mam:2\" complete=\"" complete "\"><set "                                     \
    "xmlns=\"http://jabber.org/protocol/rsm\">" rsm "</set></fin></iq>"

START_TEST(archive_with_filters_by_sender)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    for (int i = 0; i < 5; i++) {
        char in[256];
        snprintf(in, sizeof in,
                 "<message type='groupchat' from='%s' to='room1@" SVC
                 "'><body>m%d</body></message>",
                 i % 2 ? BOB : ALICE, i);
        feed(in);
    }
    /* Bob's first message only, and not the last of his. */
    expect(WITH_Q("w", "room1@" SVC "/Bob", "<max>1</max>"),
           "<message from=\"room1@" SVC "\" to=\"" ALICE "\"><result xmlns=\"urn:xmpp:mam:2\" "
           "id=\"" SID2 "\"><forwarded xmlns=\"urn:xmpp:forward:0\"><delay "
           "xmlns=\"urn:xmpp:delay\" stamp=\"1970-01-12T13:46:40.000Z\"/><message "
           "xmlns=\"jabber:client\" from=\"room1@" SVC "/Bob\" type=\"groupchat\">"
           "<body>m1</body><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/>"
           "</message></forwarded></result></message>" FIN(
               "false", "<first>" SID2 "</first><last>" SID2 "</last>"));
    const char *got = feed(WITH_Q("w", "room1@" SVC "/Bob", "<after>" SID2 "</after>"));
    ck_assert(strstr(got, "<body>m3</body>") && !strstr(got, "<body>m2</body>") &&
              !strstr(got, "<body>m4</body>"));
    ck_assert_ptr_nonnull(strstr(got, FIN("true", "<first>" SID3 "</first><last>" SID3 "</last>")));
    /* Backwards from the newest: Bob's last. */
    got = feed(WITH_Q("w", "room1@" SVC "/Bob", "<max>1</max><before/>"));
    ck_assert(strstr(got, "<body>m3</body>") && !strstr(got, "<body>m1</body>"));
    ck_assert_ptr_nonnull(
        strstr(got, FIN("false", "<first>" SID3 "</first><last>" SID3 "</last>")));
    /* The room's bare JID is everyone; a nick's case is the nick's own. */
    got = feed(WITH_Q("w", "ROOM1@" SVC, ""));
    ck_assert(strstr(got, "<body>m0</body>") && strstr(got, "<body>m4</body>"));
    /* Nobody here by that address or nick: an empty, complete page. */
    expect(WITH_Q("w", "bob@example.org", ""), FIN("true", ""));
    expect(WITH_Q("w", "room1@" SVC "/Nobody", ""), FIN("true", ""));
    expect(WITH_Q("w", "room1@" SVC "/bob", ""), FIN("true", ""));
    expect_has(WITH_Q("w", "bob@example.org", "<after>ffffffffffffffff</after>"),
               STANZA_ERR("item-not-found"));
    expect_has(WITH_Q("w", "@" SVC, ""), STANZA_ERR("jid-malformed"));
    expect_has(WITH_Q("w", "room1@" SVC "/Bob", "<max>1</max><after>ffffffffffffffff</after>"),
               STANZA_ERR("item-not-found"));
    /* The form says 'with' is there to use. */
    expect_has("<iq type='get' id='f' from='" ALICE "' to='room1@" SVC "'><query "
               "xmlns='urn:xmpp:mam:2'/></iq>",
               "<field var=\"with\" type=\"jid-single\"/>");
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

int main(void)
{
    Suite *s = suite_create("muc_archive");
    TCase *tc = tcase_create("archive");
    tcase_add_checked_fixture(tc, mucfix_setup, mucfix_teardown);
    tcase_add_test(tc, room_state_round_trip);
    tcase_add_test(tc, archive_query_pages);
    tcase_add_test(tc, archive_unknown_ids_are_item_not_found);
    tcase_add_test(tc, archive_with_filters_by_sender);
    tcase_add_test(tc, moderator_retracts_a_message);
    tcase_add_test(tc, channel_search);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
