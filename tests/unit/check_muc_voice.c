/* Voice requests (XEP-0045 7.13) and their approval (8.6), muc/voice.c. */
#include <check.h>
#include <string.h>

#include "rooms_fixture.h"
#include "testutil.h"

#define REQUEST_FORM(role)                                                                         \
    "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"                               \
    "<value>http://jabber.org/protocol/muc#request</value></field>"                                \
    "<field var='muc#role' type='list-single'><value>" role "</value></field></x>"

static const char *request(const char *from, const char *form)
{
    return rf_feedf("<message from='%s' id='vr' to='room1@" RF_SVC "'>%s</message>", from, form);
}

static const char *approve(const char *from, const char *nick, const char *jid, const char *allow)
{
    return rf_feedf(
        "<message from='%s' id='ok' to='room1@" RF_SVC "'><x xmlns='jabber:x:data' "
        "type='submit'><field var='FORM_TYPE' type='hidden'><value>"
        "http://jabber.org/protocol/muc#request</value></field><field var='muc#role'><value>"
        "participant</value></field><field var='muc#jid'><value>%s</value></field><field "
        "var='muc#roomnick'><value>%s</value></field><field var='muc#request_allow'><value>%s"
        "</value></field></x></message>",
        from, jid, nick, allow);
}

static void moderated_room_with_bob(void)
{
    rf_make_room("room1", "<field var='muc#roomconfig_moderatedroom'><value>1</value></field>");
    rf_has(rf_join(RF_BOB, "room1", "Bob"), "role=\"visitor\"");
}

/* 7.13: a visitor's request reaches the moderators as 8.6's form, and
 * nobody else. */
START_TEST(request_reaches_moderators)
{
    moderated_room_with_bob();
    rf_join(RF_CAROL, "room1", "Carol"); /* another visitor */
    const char *got = request(RF_BOB, REQUEST_FORM("participant"));
    ck_assert_str_eq(
        got, "<message from=\"room1@" RF_SVC "\" id=\"voice-000003b9aca00000\" to=\"" RF_ALICE
             "\"><x xmlns=\"jabber:x:data\" type=\"form\"><title>Voice request</title>"
             "<instructions>To approve this request for voice, select the &quot;Grant voice to "
             "this person?&quot; checkbox and click OK. To skip this request, click the cancel "
             "button.</instructions><field var=\"FORM_TYPE\" type=\"hidden\"><value>"
             "http://jabber.org/protocol/muc#request</value></field><field var=\"muc#role\" "
             "type=\"list-single\" label=\"Requested role\"><required/><value>participant</value>"
             "<option><value>participant</value></option></field><field var=\"muc#jid\" "
             "type=\"jid-single\" label=\"User ID\"><value>" RF_BOB "</value></field>"
             "<field var=\"muc#roomnick\" type=\"text-single\" label=\"Room Nickname\"><value>Bob"
             "</value></field><field var=\"muc#request_allow\" type=\"boolean\" label=\"Grant "
             "voice to this person?\"><value>false</value></field></x></message>");
}
END_TEST

/* 8.6: approving grants voice with the presence of 8.3; Bob may speak. */
START_TEST(approval_grants_voice)
{
    moderated_room_with_bob();
    request(RF_BOB, REQUEST_FORM("participant"));
    const char *got = approve(RF_ALICE, "Bob", RF_BOB, "true");
    rf_has(got, "<presence from=\"room1@" RF_SVC "/Bob\" to=\"" RF_BOB "\">");
    rf_has(got, "role=\"participant\" jid=\"" RF_BOB "\"><actor nick=\"Alice\"/></item>"
                "<status code=\"110\"/>");
    ck_assert_uint_eq(rf_count(got, "role=\"participant\""), 2); /* Bob's and Alice's view */
    got = rf_feed("<message from='" RF_BOB "' type='groupchat' to='room1@" RF_SVC "'>"
                  "<body>thanks</body></message>");
    rf_has(got, "<body>thanks</body>");
    rf_lacks(got, "type=\"error\"");
    /* Approving again changes nothing, says nothing. */
    ck_assert_str_eq(approve(RF_ALICE, "Bob", RF_BOB, "true"), "");
}
END_TEST

START_TEST(declined_or_stale_approvals)
{
    moderated_room_with_bob();
    ck_assert_str_eq(approve(RF_ALICE, "Bob", RF_BOB, "false"), "");
    const char *got = approve(RF_ALICE, "Nobody", RF_BOB, "true");
    rf_has(got, RF_ERR("item-not-found"));
    got = approve(RF_ALICE, "Bob", "mallory@example.org", "true");
    rf_has(got, RF_ERR("item-not-found"));
    rf_has(got, "the person who asked is no longer here");
    /* Bob is still a visitor. */
    got = rf_feed("<message from='" RF_BOB "' type='groupchat' to='room1@" RF_SVC "'>"
                  "<body>hi</body></message>");
    rf_has(got, RF_ERR("forbidden"));
    /* A visitor cannot approve their own request: it is read as one. */
    got = approve(RF_BOB, "Bob", RF_BOB, "true");
    rf_lacks(got, "role=\"participant\"");
}
END_TEST

/* Bad forms: a clear error each, and no moderator bothered. */
START_TEST(bad_requests)
{
    moderated_room_with_bob();
    const char *got = request(RF_BOB, REQUEST_FORM("moderator"));
    rf_has(got, "<error type=\"modify\">" RF_ERR("bad-request"));
    rf_has(got, "muc#role");
    rf_lacks(got, "to=\"" RF_ALICE "\"");
    got = request(RF_BOB, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
                          "<value>http://jabber.org/protocol/muc#request</value></field></x>");
    rf_has(got, RF_ERR("bad-request"));
    got = request(RF_BOB, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
                          "<value>http://jabber.org/protocol/muc#request</value></field>"
                          "<field var='muc#role'><value>participant</value>"
                          "<value>moderator</value></field></x>");
    rf_has(got, RF_ERR("bad-request"));
    got = request(RF_BOB, "<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'>"
                          "<value>http://jabber.org/protocol/muc#request</value></field>"
                          "<field var='muc#role'><value>participant</value></field></x>");
    rf_has(got, RF_ERR("bad-request"));
    rf_has(got, "send the form with type=&apos;submit&apos;");
    /* Someone with voice already, or not in the room. */
    got = request(RF_ALICE, REQUEST_FORM("participant"));
    rf_lacks(got, "muc#request_allow");
    got = request(RF_CAROL, REQUEST_FORM("participant"));
    rf_has(got, RF_ERR("not-acceptable"));
    /* A moderator's approval with a non-boolean. */
    got = approve(RF_ALICE, "Bob", RF_BOB, "maybe");
    rf_has(got, RF_ERR("bad-request"));
    rf_lacks(got, "role=\"participant\"");
}
END_TEST

START_TEST(request_needs_a_moderator)
{
    moderated_room_with_bob();
    rf_feed("<presence from='" RF_ALICE "' to='room1@" RF_SVC "/Alice' type='unavailable'/>");
    const char *got = request(RF_BOB, REQUEST_FORM("participant"));
    rf_has(got, RF_ERR("recipient-unavailable"));
    /* A participant has voice already. */
    rf_make_room("room2", NULL);
    rf_feed("<presence from='" RF_CAROL "' to='room2@" RF_SVC "/Carol'/>");
    got = rf_feed("<message from='" RF_CAROL "' to='room2@" RF_SVC
                  "'>" REQUEST_FORM("participant") "</message>");
    rf_has(got, RF_ERR("not-allowed"));
    rf_has(got, "you have voice in this room already");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_voice");
    TCase *tc = tcase_create("voice");
    tcase_add_checked_fixture(tc, rf_setup, rf_teardown);
    tcase_add_test(tc, request_reaches_moderators);
    tcase_add_test(tc, approval_grants_voice);
    tcase_add_test(tc, declined_or_stale_approvals);
    tcase_add_test(tc, bad_requests);
    tcase_add_test(tc, request_needs_a_moderator);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
