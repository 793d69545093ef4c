/* The abuse desk: report parsing (every shape, hostile input) and ad-hoc
 * command flows through the component's dispatch, without Redis (what
 * needs Redis is covered end to end in tests/e2e/test_desk.py). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "desk/report.h"
#include "service.h"
#include "testutil.h"

#define SVC "rooms.example.org"
#define MOD "mod@example.org/desk"
#define ALICE "alice@example.org/pc"
#define EVE "eve@example.org/x"

static const char *const trusted[] = {"example.org", NULL};

/* ---- report_parse ---- */

static report_batch b;
static stanza_error err;
static const char *why;

static int parse(const char *xml, const char *from)
{
    xml_node *st = tu_stanza(xml);
    ck_assert_msg(st != NULL, "does not parse: %s", xml);
    int rc = report_parse(st, from, trusted, &b, &err, &why);
    xml_free(st);
    return rc;
}

static void parse_teardown(void)
{
    report_batch_free(&b);
}

START_TEST(direct_report_v1)
{
    ck_assert_int_eq(parse("<iq type='set' id='r' to='" SVC "'>"
                           "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:abuse'>"
                           "<jid xmlns='urn:xmpp:jid:0'>Eve@Example.ORG</jid>"
                           "<stanza-id xmlns='urn:xmpp:sid:0' by='room@" SVC
                           "' id='00000000000000ab'/>"
                           "<text>mean words</text></report></iq>",
                           ALICE),
                     0);
    ck_assert_int_eq(b.via, REPORT_DIRECT);
    ck_assert_str_eq(b.reporter, "alice@example.org");
    ck_assert_uint_eq(b.n, 1);
    ck_assert_str_eq(b.items[0].target, "eve@example.org");
    ck_assert_str_eq(b.items[0].reason, "abuse");
    ck_assert_str_eq(b.items[0].text, "mean words");
    ck_assert_uint_eq(b.items[0].nrefs, 1);
    ck_assert_str_eq(b.items[0].refs[0].by, "room@" SVC);
    ck_assert_str_eq(b.items[0].refs[0].id, "00000000000000ab");
}
END_TEST

START_TEST(block_with_reports_both_namespaces)
{
    ck_assert_int_eq(parse("<iq type='set' id='b' to='" SVC "'><block xmlns='urn:xmpp:blocking'>"
                           "<item jid='a@spam.example'><report xmlns='urn:xmpp:reporting:0'><spam/>"
                           "<text>old style</text></report></item>"
                           "<item jid='b@spam.example'><report xmlns='urn:xmpp:reporting:1' "
                           "reason='urn:xmpp:reporting:spam'/></item>"
                           "<item jid='c@spam.example'/></block></iq>",
                           ALICE),
                     0);
    ck_assert_uint_eq(b.n, 2);
    ck_assert_str_eq(b.items[0].reason, "spam");
    ck_assert_str_eq(b.items[0].text, "old style");
    ck_assert_str_eq(b.items[1].target, "b@spam.example");
    ck_assert_uint_eq(b.nblocked, 3);
    ck_assert_str_eq(b.blocked[2], "c@spam.example");
}
END_TEST

START_TEST(copied_blocking_iq)
{
    const char *msg =
        "<message from='example.org' to='" SVC "'><forwarded xmlns='urn:xmpp:forward:0'>"
        "<iq xmlns='jabber:client' type='set' id='x' from='alice@example.org/phone'>"
        "<block xmlns='urn:xmpp:blocking'><item jid='spammer@spam.example'>"
        "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item>"
        "</block></iq></forwarded></message>";
    xml_node *st = tu_stanza(msg);
    ck_assert(report_is_report(st));
    xml_free(st);
    ck_assert_int_eq(parse(msg, "example.org"), 0);
    ck_assert_int_eq(b.via, REPORT_BLOCK);
    ck_assert_str_eq(b.reporter, "alice@example.org");
    ck_assert_uint_eq(b.n, 1);
    ck_assert_str_eq(b.items[0].target, "spammer@spam.example");
    ck_assert(!b.unblock);
    report_batch_free(&b);
    /* An untrusted server, a server speaking for another's users, or a user
     * forging a server copy: refused. */
    ck_assert_int_eq(parse(msg, "other.example"), -1);
    ck_assert_int_eq(err, STANZA_ERR_FORBIDDEN);
    ck_assert_int_eq(parse(msg, "mallory@example.org/x"), -1);
    ck_assert_int_eq(err, STANZA_ERR_FORBIDDEN);
    ck_assert_int_eq(
        parse("<message from='example.org' to='" SVC "'><forwarded xmlns='urn:xmpp:forward:0'>"
              "<iq xmlns='jabber:client' type='set' from='alice@elsewhere.example/p'>"
              "<block xmlns='urn:xmpp:blocking'><item jid='s@spam.example'/></block></iq>"
              "</forwarded></message>",
              "example.org"),
        -1);
    ck_assert_int_eq(err, STANZA_ERR_FORBIDDEN);
}
END_TEST

START_TEST(copied_unblock_all)
{
    ck_assert_int_eq(parse("<message from='example.org' to='" SVC
                           "'><forwarded xmlns='urn:xmpp:forward:0'>"
                           "<iq xmlns='jabber:client' type='set' from='alice@example.org/p'>"
                           "<unblock xmlns='urn:xmpp:blocking'/></iq></forwarded></message>",
                           "example.org"),
                     0);
    ck_assert(b.unblock && b.unblock_all);
    ck_assert_uint_eq(b.n, 0);
}
END_TEST

START_TEST(report_forward_format)
{
    ck_assert_int_eq(
        parse("<message from='remote.example' to='" SVC "' id='f'><body>A user reported...</body>"
              "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'>"
              "<text>spam again</text><jid xmlns='urn:xmpp:jid:0'>bot@spam.example</jid></report>"
              "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' "
              "stamp='2026-11-23T10:00:00Z'/><message xmlns='jabber:client' "
              "from='bot@spam.example/x' type='chat'><body>cheap pills</body></message>"
              "</forwarded></message>",
              "remote.example"),
        0);
    ck_assert_int_eq(b.via, REPORT_FORWARD);
    ck_assert_str_eq(b.reporter, "remote.example");
    ck_assert_str_eq(b.items[0].target, "bot@spam.example");
    ck_assert_str_eq(b.items[0].forwarded, "cheap pills");
    ck_assert_str_eq(b.items[0].text, "spam again");
}
END_TEST

START_TEST(hostile_reports)
{
#define REP(inner)                                                                                 \
    "<iq type='set' id='r' to='" SVC "'><report xmlns='urn:xmpp:reporting:1' "                     \
    "reason='urn:xmpp:reporting:spam'>" inner "</report></iq>"
    /* No target at all. */
    ck_assert_int_eq(parse(REP(""), ALICE), -1);
    ck_assert_int_eq(err, STANZA_ERR_BAD_REQUEST);
    /* An invalid JID. */
    ck_assert_int_eq(parse(REP("<jid xmlns='urn:xmpp:jid:0'>a@b@c</jid>"), ALICE), -1);
    ck_assert_int_eq(err, STANZA_ERR_JID_MALFORMED);
    /* A blocking item without a jid. */
    ck_assert_int_eq(parse("<iq type='set' id='b' to='" SVC "'><block xmlns='urn:xmpp:blocking'>"
                           "<item><report xmlns='urn:xmpp:reporting:0'><spam/></report></item>"
                           "</block></iq>",
                           ALICE),
                     -1);
    ck_assert_int_eq(err, STANZA_ERR_JID_MALFORMED);
    /* No reason, or one we do not know. */
    ck_assert_int_eq(parse("<iq type='set' id='r' to='" SVC
                           "'><report xmlns='urn:xmpp:reporting:1'>"
                           "<jid xmlns='urn:xmpp:jid:0'>e@x.example</jid></report></iq>",
                           ALICE),
                     -1);
    ck_assert_str_eq(why, "a report needs a reason");
    /* A report from a server (no local part) is not a user's. */
    ck_assert_int_eq(parse(REP("<jid xmlns='urn:xmpp:jid:0'>e@x.example</jid>"), "example.org"),
                     -1);
    ck_assert_int_eq(err, STANZA_ERR_FORBIDDEN);
    /* Oversized text: refused when the sender can be told. */
    char big[1200 + 256];
    char text[1002];
    memset(text, 'x', 1001);
    text[1001] = '\0';
    snprintf(big, sizeof big, REP("<jid xmlns='urn:xmpp:jid:0'>e@x.example</jid><text>%s</text>"),
             text);
    ck_assert_int_eq(parse(big, ALICE), -1);
    ck_assert_int_eq(err, STANZA_ERR_NOT_ACCEPTABLE);
    /* 1000 stanza-ids. */
    buf many = BUF_INIT;
    buf_puts(&many,
             "<iq type='set' id='r' to='" SVC "'><report xmlns='urn:xmpp:reporting:1' "
             "reason='urn:xmpp:reporting:spam'><jid xmlns='urn:xmpp:jid:0'>e@x.example</jid>");
    for (int i = 0; i < 1000; i++)
        buf_printf(&many, "<stanza-id xmlns='urn:xmpp:sid:0' by='r@" SVC "' id='%016x'/>", i);
    buf_puts(&many, "</report></iq>");
    char *m = buf_strdup(&many);
    buf_free(&many);
    ck_assert_int_eq(parse(m, ALICE), -1);
    ck_assert_int_eq(err, STANZA_ERR_POLICY_VIOLATION);
    free(m);
#undef REP
}
END_TEST

START_TEST(unicode_tricks)
{
    /* Bidi overrides (U+202E) and isolates (U+2066) cannot reorder what a
     * moderator reads; a fullwidth-free JID is normalized by stringprep. */
    ck_assert_int_eq(parse("<iq type='set' id='r' to='" SVC
                           "'><report xmlns='urn:xmpp:reporting:1' "
                           "reason='urn:xmpp:reporting:abuse'><jid xmlns='urn:xmpp:jid:0'>"
                           "\xc3\x89VE@Example.org</jid><text>a\xe2\x80\xae"
                           "cba\xe2\x81\xa6z</text></report></iq>",
                           ALICE),
                     0);
    ck_assert_str_eq(b.items[0].target, "\xc3\xa9ve@example.org");
    ck_assert_str_eq(b.items[0].text, "a?cba?z");
    report_batch_free(&b);
    /* A JID part Nodeprep refuses (U+0020 is prohibited in a local part). */
    ck_assert_int_eq(parse("<iq type='set' id='r' to='" SVC
                           "'><report xmlns='urn:xmpp:reporting:1' "
                           "reason='urn:xmpp:reporting:abuse'><jid xmlns='urn:xmpp:jid:0'>"
                           "e ve@example.org</jid></report></iq>",
                           ALICE),
                     -1);
    ck_assert_int_eq(err, STANZA_ERR_JID_MALFORMED);
}
END_TEST

START_TEST(forwarded_copies_are_bounded)
{
    /* A server's copy has nobody to answer: what fits is kept. */
    buf m = BUF_INIT;
    buf_puts(&m, "<message from='example.org' to='" SVC "'><forwarded xmlns='urn:xmpp:forward:0'>"
                 "<iq xmlns='jabber:client' type='set' from='alice@example.org/p'>"
                 "<block xmlns='urn:xmpp:blocking'><item jid='s@spam.example'>"
                 "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'><text>");
    for (int i = 0; i < 1500; i++)
        buf_puts(&m, "y");
    buf_puts(&m, "</text>");
    for (int i = 0; i < 1000; i++)
        buf_printf(&m, "<stanza-id xmlns='urn:xmpp:sid:0' by='example.org' id='%d'/>", i);
    buf_puts(&m, "</report></item></block></iq></forwarded></message>");
    char *s = buf_strdup(&m);
    buf_free(&m);
    ck_assert_int_eq(parse(s, "example.org"), 0);
    free(s);
    ck_assert_uint_eq(strlen(b.items[0].text), REPORT_TEXT_MAX);
    ck_assert_uint_eq(b.items[0].nrefs, REPORT_REFS_MAX);
}
END_TEST

/* ---- through the dispatch ---- */

static buf output = BUF_INIT;
static service *svc;
static char *last;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static void svc_setup(void)
{
    service_config c = {.domain = SVC,
                        .name = "Rooms",
                        .version = "1.0",
                        .muc = {.history_default = 20, .seed = 7}};
    c.desk.moderators = "Mod@example.org, admin@other.example";
    c.desk.report_servers = "example.org";
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    svc = service_new(&c, &sink);
    ck_assert(svc != NULL);
}

static void svc_teardown(void)
{
    service_free(svc);
    buf_free(&output);
    free(last);
    last = NULL;
}

static const char *feed(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    buf_reset(&output);
    service_handle(svc, st);
    free(last);
    last = buf_strdup(&output);
    return last;
}

#define has(part) ck_assert_msg(strstr(last, part) != NULL, "expected\n  %s\nin\n  %s", part, last)
#define lacks(part)                                                                                \
    ck_assert_msg(strstr(last, part) == NULL, "unexpected\n  %s\nin\n  %s", part, last)

/* The sessionid in the last answer. */
static void session_of(char out[17])
{
    const char *p = strstr(last, "sessionid=\"");
    ck_assert_msg(p != NULL, "no session in %s", last);
    memcpy(out, p + 11, 16);
    out[16] = '\0';
}

#define CMD(from, node, extra)                                                                     \
    "<iq type='set' id='c' from='" from "' to='" SVC "'>"                                          \
    "<command xmlns='http://jabber.org/protocol/commands' node='" node "'" extra "</command></iq>"

static void feed_sid(const char *fmt, const char *sid)
{
    char in[1024];
    snprintf(in, sizeof in, fmt, sid);
    feed(in);
}

/* Completes session sid of a command with the form fields given. */
#define COMPLETE(from, node, sid, fields)                                                          \
    feed_sid(                                                                                      \
        CMD(from, node,                                                                            \
            " sessionid='%s' action='complete'><x xmlns='jabber:x:data' type='submit'>" fields     \
            "</x>"),                                                                               \
        sid)

START_TEST(commands_by_role)
{
    feed("<iq type='get' id='i' from='" MOD "' to='" SVC "'><query "
         "xmlns='http://jabber.org/protocol/disco#items' "
         "node='http://jabber.org/protocol/commands'/>"
         "</iq>");
    has("<item jid=\"" SVC "\" node=\"ban\" name=\"Ban a user from the service\"/>");
    has("node=\"erase\"");
    feed("<iq type='get' id='i' from='" ALICE "' to='" SVC "'><query "
         "xmlns='http://jabber.org/protocol/disco#items' "
         "node='http://jabber.org/protocol/commands'/>"
         "</iq>");
    ck_assert_str_eq(last, "<iq id=\"i\" to=\"" ALICE "\" from=\"" SVC "\" type=\"result\">"
                           "<query xmlns=\"http://jabber.org/protocol/disco#items\" "
                           "node=\"http://jabber.org/protocol/commands\"><item jid=\"" SVC
                           "\" node=\"report\" name=\"Report abuse\"/></query></iq>");
    feed("<iq type='get' id='i' from='" ALICE "' to='" SVC "'><query "
         "xmlns='http://jabber.org/protocol/disco#info' node='kick'/></iq>");
    has("<identity category=\"automation\" type=\"command-node\" name=\"Kick a user\"/>");
    feed(CMD(ALICE, "ban", ">"));
    has("<forbidden ");
    feed(CMD(ALICE, "list", ">"));
    has("<forbidden ");
    /* Without Redis, what needs it says so. */
    feed(CMD(MOD, "list", ">"));
    has("<service-unavailable ");
    feed("<iq type='set' id='r' from='" ALICE "' to='" SVC "'><report xmlns='urn:xmpp:reporting:1' "
         "reason='urn:xmpp:reporting:spam'><jid xmlns='urn:xmpp:jid:0'>e@x.example</jid></report>"
         "</iq>");
    has("<service-unavailable ");
}
END_TEST

START_TEST(warn_flow)
{
    feed(CMD(MOD, "warn", ">"));
    has("status=\"executing\"");
    has("<actions execute=\"complete\"><complete/></actions>");
    has("<field var=\"jid\" type=\"jid-single\" label=\"User (bare JID)\"><required/></field>");
    has("<field var=\"message\" type=\"text-multi\" label=\"Warning\"><required/></field>");
    char sid[17], in[1024];
    session_of(sid);
    /* Someone else cannot continue it. */
    snprintf(in, sizeof in,
             CMD(ALICE, "warn",
                 " sessionid='%s' action='complete'><x xmlns='jabber:x:data' "
                 "type='submit'/>"),
             sid);
    feed(in);
    has("<forbidden ");
    snprintf(in, sizeof in,
             CMD("mod@example.org/other", "warn",
                 " sessionid='%s' action='complete'><x xmlns='jabber:x:data' type='submit'/>"),
             sid);
    feed(in);
    has("<bad-sessionid xmlns=\"http://jabber.org/protocol/commands\"/>");
    /* A bad JID: an error, and the session stays for a corrected form. */
    COMPLETE(MOD, "warn", sid, "<field var='jid'><value>not a jid@@</value></field>");
    has("<jid-malformed ");
    has("<bad-payload xmlns=\"http://jabber.org/protocol/commands\"/>");
    COMPLETE(MOD, "warn", sid,
             "<field var='jid'><value>eve@example.org</value></field>"
             "<field var='message'><value>stop it</value></field>");
    has("<message from=\"" SVC "\" to=\"eve@example.org\" type=\"chat\"><body>Warning from the "
        "moderators of " SVC ": stop it</body></message>");
    has("status=\"completed\"");
    has("<note type=\"info\">eve@example.org has been warned.</note>");
    /* The session is over. */
    feed(in);
    has("<bad-sessionid ");
}
END_TEST

START_TEST(cancel_and_bad_action)
{
    feed(CMD(MOD, "ban", ">"));
    has("<field var=\"duration\" type=\"list-single\" label=\"For\"><required/><value>86400</value>"
        "<option label=\"one hour\"><value>3600</value></option>");
    char sid[17], in[512];
    session_of(sid);
    snprintf(in, sizeof in, CMD(MOD, "ban", " sessionid='%s' action='prev'>"), sid);
    feed(in);
    has("<bad-action ");
    snprintf(in, sizeof in, CMD(MOD, "ban", " sessionid='%s' action='cancel'>"), sid);
    feed(in);
    has("status=\"canceled\"");
    feed(CMD(MOD, "nonsense", ">"));
    has("<item-not-found ");
}
END_TEST

static void room_with_eve(void)
{
    feed("<presence from='" ALICE "' to='den@" SVC
         "/Alice'><x xmlns='http://jabber.org/protocol/muc'/>"
         "</presence>");
    feed("<iq type='set' id='cfg' from='" ALICE "' to='den@" SVC "'>"
         "<query xmlns='http://jabber.org/protocol/muc#owner'>"
         "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
    feed("<presence from='" EVE "' to='den@" SVC "/Eve'/>");
    has("<status code=\"110\"/>");
}

START_TEST(owner_kicks_in_own_room_only)
{
    room_with_eve();
    feed("<presence from='bob@example.org/b' to='other@" SVC "/Bob'><x "
         "xmlns='http://jabber.org/protocol/muc'/></presence>");
    /* Alice owns den: she gets the room tools, scoped to den. */
    feed(CMD(ALICE, "kick", ">"));
    has("<field var=\"room\" type=\"list-single\" label=\"Room\"><required/>"
        "<option label=\"den@" SVC "\"><value>den@" SVC "</value></option></field>");
    lacks("other@");
    char sid[17];
    session_of(sid);
    COMPLETE(ALICE, "kick", sid,
             "<field var='jid'><value>eve@example.org</value></field>"
             "<field var='room'><value>other@" SVC "</value></field>");
    has("<forbidden ");
    COMPLETE(ALICE, "kick", sid,
             "<field var='jid'><value>eve@example.org</value></field>"
             "<field var='room'><value>den@" SVC "</value></field>"
             "<field var='reason'><value>calm down</value></field>");
    has("<presence from=\"den@" SVC "/Eve\" to=\"" EVE "\" type=\"unavailable\">");
    has("<status code=\"307\"/>");
    has("<reason>calm down</reason>");
    has("<note type=\"info\">eve@example.org kicked from 1 room.</note>");
    /* Owners cannot ban from the whole service. */
    feed(CMD(ALICE, "ban", ">"));
    has("<forbidden ");
}
END_TEST

START_TEST(service_ban_sends_out_everywhere)
{
    room_with_eve();
    feed(CMD(MOD, "ban", ">"));
    char sid[17];
    session_of(sid);
    COMPLETE(MOD, "ban", sid,
             "<field var='jid'><value>Eve@Example.org</value></field>"
             "<field var='duration'><value>3600</value></field>");
    has("<presence from=\"den@" SVC "/Eve\" to=\"" EVE "\" type=\"unavailable\">");
    has("<status code=\"301\"/>");
    has("sent out of 1 room.");
    /* Moderators are not sanctioned from the desk. */
    feed(CMD(MOD, "ban", ">"));
    session_of(sid);
    COMPLETE(MOD, "ban", sid, "<field var='jid'><value>admin@other.example</value></field>");
    has("<not-allowed ");
}
END_TEST

START_TEST(mute_in_room_revokes_voice)
{
    room_with_eve();
    feed(CMD(MOD, "mute", ">"));
    char sid[17];
    session_of(sid);
    COMPLETE(MOD, "mute", sid,
             "<field var='jid'><value>eve@example.org</value></field>"
             "<field var='room'><value>den@" SVC "</value></field>");
    has("role=\"visitor\"");
    has("eve@example.org lost voice in den@" SVC " (1 occupant).");
    /* A muted occupant cannot speak in the room. */
    feed("<message type='groupchat' id='m' from='" EVE "' to='den@" SVC
         "'><body>hi</body></message>");
    has("<forbidden ");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("desk");
    TCase *p = tcase_create("parse");
    tcase_add_checked_fixture(p, NULL, parse_teardown);
    tcase_add_test(p, direct_report_v1);
    tcase_add_test(p, block_with_reports_both_namespaces);
    tcase_add_test(p, copied_blocking_iq);
    tcase_add_test(p, copied_unblock_all);
    tcase_add_test(p, report_forward_format);
    tcase_add_test(p, hostile_reports);
    tcase_add_test(p, unicode_tricks);
    tcase_add_test(p, forwarded_copies_are_bounded);
    suite_add_tcase(s, p);
    TCase *c = tcase_create("commands");
    tcase_add_checked_fixture(c, svc_setup, svc_teardown);
    tcase_add_test(c, commands_by_role);
    tcase_add_test(c, warn_flow);
    tcase_add_test(c, cancel_and_bad_action);
    tcase_add_test(c, owner_kicks_in_own_room_only);
    tcase_add_test(c, service_ban_sends_out_everywhere);
    tcase_add_test(c, mute_in_room_revokes_voice);
    suite_add_tcase(s, c);
    return tu_run(s);
}
