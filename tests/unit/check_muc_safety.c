/* The safety features rooms apply: the link policy for strangers, the
 * per-room message rate, per-user block lists.
 * Literal stanzas in, literal stanzas out (mucfix.h). */
#include "mucfix.h"

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
    out sink = mucfix_out();
    ublock *ub = ublock_new(NULL, "t:", SVC, &sink);
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
    mucfix_setup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_safety");
    TCase *tc = tcase_create("safety");
    tcase_add_checked_fixture(tc, mucfix_setup, mucfix_teardown);
    tcase_add_test(tc, stranger_links_rejected);
    tcase_add_test(tc, stranger_links_marked);
    tcase_add_test(tc, stranger_links_room_override);
    tcase_add_test(tc, stranger_links_held);
    tcase_add_test(tc, message_rate_room_setting);
    tcase_add_test(tc, blocked_sender_filtered);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
