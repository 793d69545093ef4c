#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "stanza.h"
#include "testutil.h"

static void expect_reply(const char *in, stanza_error e, const char *text,
                         const char *from_override, const char *want)
{
    xml_node *st = tu_stanza(in);
    ck_assert_ptr_nonnull(st);
    tu_expect(stanza_error_reply(st, e, text, from_override), want);
    xml_free(st);
}

START_TEST(iq_error_drops_payload)
{
    expect_reply("<iq type='get' id='7' from='u@h/r' to='svc'><query xmlns='urn:x'/></iq>",
                 STANZA_ERR_SERVICE_UNAVAILABLE, NULL, NULL,
                 "<iq id=\"7\" to=\"u@h/r\" from=\"svc\" type=\"error\"><error type=\"cancel\">"
                 "<service-unavailable xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"
                 "</error></iq>");
}
END_TEST

START_TEST(message_error_keeps_payload_and_text)
{
    expect_reply("<message from='u@h/r' to='svc' id='m1'><body>hi</body></message>",
                 STANZA_ERR_POLICY_VIOLATION, "slow down", NULL,
                 "<message id=\"m1\" to=\"u@h/r\" from=\"svc\" type=\"error\"><body>hi</body>"
                 "<error type=\"modify\"><policy-violation "
                 "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/><text "
                 "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" xml:lang=\"en\">slow down</text>"
                 "</error></message>");
}
END_TEST

START_TEST(from_override_for_malformed_to)
{
    expect_reply(
        "<presence from='u@h/r' to='bad@@x'/>", STANZA_ERR_JID_MALFORMED, NULL, "svc",
        "<presence to=\"u@h/r\" from=\"svc\" type=\"error\"><error type=\"modify\">"
        "<jid-malformed xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error></presence>");
}
END_TEST

START_TEST(never_answer_errors_or_results)
{
    expect_reply("<iq type='result' id='1' from='a' to='b'/>", STANZA_ERR_BAD_REQUEST, NULL, NULL,
                 NULL);
    expect_reply("<message type='error' from='a' to='b'/>", STANZA_ERR_BAD_REQUEST, NULL, NULL,
                 NULL);
    expect_reply("<presence type='error' from='a' to='b'/>", STANZA_ERR_BAD_REQUEST, NULL, NULL,
                 NULL);
}
END_TEST

START_TEST(escaped_text)
{
    expect_reply("<iq type='set' id='a&amp;b' from='u@h' to='s'><x xmlns='y'/></iq>",
                 STANZA_ERR_BAD_REQUEST, "<bad> & \"worse\"", NULL,
                 "<iq id=\"a&amp;b\" to=\"u@h\" from=\"s\" type=\"error\"><error type=\"modify\">"
                 "<bad-request xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/><text "
                 "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" xml:lang=\"en\">&lt;bad&gt; &amp; "
                 "&quot;worse&quot;</text></error></iq>");
}
END_TEST

START_TEST(every_condition_has_a_type)
{
    for (int e = 0; e < STANZA_ERR__COUNT; e++) {
        ck_assert_ptr_nonnull(stanza_error_condition((stanza_error)e));
        const char *t = stanza_error_type((stanza_error)e);
        ck_assert(strcmp(t, "cancel") == 0 || strcmp(t, "modify") == 0 || strcmp(t, "auth") == 0 ||
                  strcmp(t, "wait") == 0);
    }
}
END_TEST

/* The condition of an error someone sent: what a room needs to tell a
 * client's own refusal from its server's "that session is gone". */
START_TEST(condition_of_a_received_error)
{
    xml_node *e = tu_stanza("<iq type='error' id='1'><error type='cancel'><service-unavailable "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:"
                            "params:xml:ns:xmpp-stanzas'>gone</text></error></iq>");
    ck_assert_int_eq(stanza_error_of(e), STANZA_ERR_SERVICE_UNAVAILABLE);
    xml_free(e);
    e = tu_stanza("<iq type='error' id='1'><error type='cancel'><text xmlns='urn:ietf:params:"
                  "xml:ns:xmpp-stanzas'/><feature-not-implemented xmlns='urn:ietf:params:xml:ns:"
                  "xmpp-stanzas'/></error></iq>");
    ck_assert_int_eq(stanza_error_of(e), STANZA_ERR_FEATURE_NOT_IMPLEMENTED);
    xml_free(e);
    /* No condition, a condition in another namespace, an unknown one. */
    const char *odd[] = {"<iq type='error' id='1'/>",
                         "<iq type='error' id='1'><error><item-not-found/></error></iq>",
                         ("<iq type='error' id='1'><error><nope xmlns='urn:ietf:params:xml:ns:"
                          "xmpp-stanzas'/></error></iq>")};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        e = tu_stanza(odd[i]);
        ck_assert_int_eq(stanza_error_of(e), STANZA_ERR_UNDEFINED_CONDITION);
        xml_free(e);
    }
}
END_TEST

START_TEST(iq_result_and_payload)
{
    xml_node *iq =
        tu_stanza("<iq type='get' id='p' from='u@h/r' to='s'> <ping xmlns='urn:xmpp:ping'/> </iq>");
    xml_node *p = stanza_iq_payload(iq);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(xml_name(p), "ping");
    xml_node *r = stanza_iq_result(iq);
    char *s = tu_str(r);
    ck_assert_str_eq(s, "<iq id=\"p\" to=\"u@h/r\" from=\"s\" type=\"result\"/>");
    free(s);
    xml_free(r);
    xml_free(iq);
    iq = tu_stanza("<iq type='get' id='p'><a/><b/></iq>");
    ck_assert_ptr_null(stanza_iq_payload(iq));
    xml_free(iq);
    iq = tu_stanza("<iq type='get' id='p'/>");
    ck_assert_ptr_null(stanza_iq_payload(iq));
    xml_free(iq);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stanza");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, iq_error_drops_payload);
    tcase_add_test(tc, message_error_keeps_payload_and_text);
    tcase_add_test(tc, from_override_for_malformed_to);
    tcase_add_test(tc, never_answer_errors_or_results);
    tcase_add_test(tc, escaped_text);
    tcase_add_test(tc, every_condition_has_a_type);
    tcase_add_test(tc, iq_result_and_payload);
    tcase_add_test(tc, condition_of_a_received_error);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
