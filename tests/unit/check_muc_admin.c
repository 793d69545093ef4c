/* What owners and moderators control (passwords, members, kicks, bans,
 * voice, destruction, the configuration form), the room directory, and
 * what else a room or an occupant answers (self-ping, IQs between occupants,
 * invitations, subscriptions).
 * Literal stanzas in, literal stanzas out (mucfix.h). */
#include "mucfix.h"

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

int main(void)
{
    Suite *s = suite_create("muc_admin");
    TCase *tc = tcase_create("admin");
    tcase_add_checked_fixture(tc, mucfix_setup, mucfix_teardown);
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
    tcase_add_test(tc, iq_to_occupant_forwarded);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
