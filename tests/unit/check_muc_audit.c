/* What issue 14's audit of XEP-0045 and XEP-0313 changed, literal stanzas in
 * and out: 9.1 (banning oneself), 10.3/10.6 (admins granting admin or
 * owner), 17.4 (a role and an affiliation in one item), XEP-0313 4.1.5
 * (unknown form fields) and 5 (archive metadata, here from the history in
 * memory: the service has no store). */
#include <check.h>
#include <string.h>

#include "rooms_fixture.h"
#include "testutil.h"

static const char *admin_set(const char *from, const char *item)
{
    return rf_feedf("<iq type='set' id='a1' from='%s' to='room1@" RF_SVC "'>"
                    "<query xmlns='http://jabber.org/protocol/muc#admin'>%s</query></iq>",
                    from, item);
}

START_TEST(banning_oneself_is_a_conflict)
{
    rf_make_room("room1", NULL);
    rf_has(admin_set(RF_ALICE, "<item affiliation='owner' jid='bob@example.org'/>"),
           "type=\"result\"");
    const char *got = admin_set(RF_ALICE, "<item affiliation='outcast' jid='alice@example.org'/>");
    rf_has(got, "<error type=\"cancel\">" RF_ERR("conflict"));
    rf_has(got, "you cannot ban yourself");
    rf_lacks(got, "status code=\"301\"");
}
END_TEST

START_TEST(admins_grant_neither_admin_nor_owner)
{
    rf_make_room("room1", NULL);
    admin_set(RF_ALICE, "<item affiliation='admin' jid='carol@example.org'/>");
    const char *got = admin_set(RF_CAROL, "<item affiliation='owner' jid='dave@example.org'/>");
    rf_has(got, "<error type=\"auth\">" RF_ERR("forbidden"));
    got = admin_set(RF_CAROL, "<item affiliation='outcast' jid='alice@example.org'/>");
    rf_has(got, "<error type=\"cancel\">" RF_ERR("not-allowed"));
    got = admin_set(RF_CAROL, "<item affiliation='member' jid='dave@example.org'/>");
    rf_has(got, "type=\"result\"");
}
END_TEST

START_TEST(role_and_affiliation_together_refused)
{
    rf_make_room("room1", NULL);
    rf_join(RF_BOB, "room1", "Bob");
    const char *got = admin_set(RF_ALICE, "<item nick='Bob' role='visitor' affiliation='member' "
                                          "jid='bob@example.org'/>");
    rf_has(got, "<error type=\"modify\">" RF_ERR("bad-request"));
    rf_has(got, "an item changes a role or an affiliation, not both");
    rf_lacks(got, "role=\"visitor\"");
}
END_TEST

START_TEST(mam_unknown_field_not_implemented)
{
    rf_make_room("room1", NULL);
    const char *got = rf_feed(
        "<iq type='set' id='q1' from='" RF_ALICE "' to='room1@" RF_SVC "'><query "
        "xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
        "<value>urn:xmpp:mam:2</value></field><field var='colour'><value>blue</value></field>"
        "</x></query></iq>");
    rf_has(got, RF_ERR("feature-not-implemented"));
    rf_has(got, "unknown field colour");
}
END_TEST

START_TEST(mam_metadata)
{
    rf_make_room("room1", NULL);
    const char *md = "<iq type='get' id='m1' from='" RF_ALICE "' to='room1@" RF_SVC "'>"
                     "<metadata xmlns='urn:xmpp:mam:2'/></iq>";
    ck_assert_str_eq(rf_feed(md), "<iq from=\"room1@" RF_SVC "\" to=\"" RF_ALICE
                                  "\" type=\"result\" id=\"m1\"><metadata "
                                  "xmlns=\"urn:xmpp:mam:2\"/></iq>");
    for (int i = 0; i < 3; i++)
        rf_feed("<message from='" RF_ALICE "' type='groupchat' to='room1@" RF_SVC "'>"
                "<body>hi</body></message>");
    ck_assert_str_eq(rf_feed(md), "<iq from=\"room1@" RF_SVC "\" to=\"" RF_ALICE
                                  "\" type=\"result\" id=\"m1\"><metadata "
                                  "xmlns=\"urn:xmpp:mam:2\"><start id=\"000003b9aca00000\" "
                                  "timestamp=\"1970-01-12T13:46:40.000Z\"/><end "
                                  "id=\"000003b9aca00002\" timestamp=\"1970-01-12T13:46:40.000Z\"/>"
                                  "</metadata></iq>");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_audit");
    TCase *tc = tcase_create("audit");
    tcase_add_checked_fixture(tc, rf_setup, rf_teardown);
    tcase_add_test(tc, banning_oneself_is_a_conflict);
    tcase_add_test(tc, admins_grant_neither_admin_nor_owner);
    tcase_add_test(tc, role_and_affiliation_together_refused);
    tcase_add_test(tc, mam_unknown_field_not_implemented);
    tcase_add_test(tc, mam_metadata);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
