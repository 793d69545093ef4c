/* adhoc: the XEP-0050 engine with a module of test commands: literal
 * <command/> requests in, literal answers out. Stages, prev, cancel,
 * sessions (owners, lapse, caps), a step answering later, the forms held
 * against the stage's fields, and disco filtered by role. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adhoc.h"
#include "buf.h"
#include "testutil.h"

#define SVC "svc.example.org"
#define ADMIN "admin@example.org/a"
#define USER "user@example.org/u"
#define NSC "http://jabber.org/protocol/commands"

enum { ROLE_ADMIN = 1 };

static adhoc *eng;
static buf output = BUF_INIT;
static char *last;
static adhoc_req *held; /* a step that answers later keeps its req here */
static double clock_now;
static int data_freed;

static double fake_clock(void)
{
    return clock_now;
}

static unsigned roles(void *ud, const char *bare)
{
    ck_assert_ptr_eq(ud, &eng);
    return strcmp(bare, "admin@example.org") == 0 ? ROLE_ADMIN : 0;
}

/* ---- the test module ---- */

static void hello_show(adhoc_req *q)
{
    adhoc_complete(q, NULL, ADHOC_INFO, "hello");
}

static const dataform_option colours[] = {{"Red", "red"}, {"Blue", "blue"}, {NULL, NULL}};
static const dataform_spec name_fields[] = {
    {"name", DATAFORM_TEXT_SINGLE, "Name", DATAFORM_REQUIRED, NULL, NULL, 16}};
static const dataform_spec colour_fields[] = {
    {"colour", DATAFORM_LIST_SINGLE, "Colour", DATAFORM_REQUIRED, "red", colours, 0}};

static void name_show(adhoc_req *q)
{
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, "Who", NULL);
    dataform_add_spec(x, &name_fields[0]);
    adhoc_form(q, x);
}

static void name_submit(adhoc_req *q)
{
    if (strcmp(adhoc_req_value(q, "name"), "nobody") == 0) {
        adhoc_error(q, STANZA_ERR_NOT_ACCEPTABLE, "bad-payload", "not a name");
        return;
    }
    char *name = strdup(adhoc_req_value(q, "name"));
    ck_assert_int_eq(adhoc_req_set_data(q, name, free), 0);
    adhoc_next(q);
}

static void colour_show(adhoc_req *q)
{
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, adhoc_req_data(q), NULL);
    dataform_add_spec(x, &colour_fields[0]);
    adhoc_form(q, x);
}

static void count_free(void *p)
{
    data_freed++;
    free(p);
}

/* Answers later: the test ends it with finish_held(). */
static void colour_submit(adhoc_req *q)
{
    char *note = malloc(100);
    snprintf(note, 100, "%s likes %s", (char *)adhoc_req_data(q), adhoc_req_value(q, "colour"));
    ck_assert_int_eq(adhoc_req_set_data(q, note, count_free), 0);
    held = q;
}

static void finish_held(void)
{
    adhoc_req *q = held;
    held = NULL;
    const char *note = adhoc_req_data(q);
    adhoc_complete(q, NULL, ADHOC_INFO, note ? note : "(session gone)");
}

static const adhoc_who admins = {ROLE_ADMIN, "only admins may do that"};

static const adhoc_step hello_steps[] = {{hello_show, NULL, NULL, 0, NULL}};
static const dataform_limits short_values = {.value_len = 32};
static const adhoc_step survey_steps[] = {
    {name_show, name_submit, name_fields, 1, NULL},
    {colour_show, colour_submit, colour_fields, 1, &short_values}};

static const adhoc_command commands[] = {
    {"hello", "Say hello", NULL, hello_steps, 1, false},
    {"survey", "Answer a survey", &admins, survey_steps, 2, true},
    {"oneway", "Forward only", NULL, survey_steps, 2, false},
};

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static void engine_setup(void)
{
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    eng = adhoc_new(SVC, &sink);
    ck_assert_ptr_nonnull(eng);
    ck_assert_int_eq(adhoc_register(eng, commands, 3, roles, &eng), 0);
    clock_now = 1000;
    adhoc_set_clock(eng, fake_clock);
    data_freed = 0;
}

static void engine_teardown(void)
{
    if (held)
        adhoc_req_drop(held);
    held = NULL;
    adhoc_free(eng);
    eng = NULL;
    buf_free(&output);
    free(last);
    last = NULL;
}

/* Feeds one stanza; returns whether the engine took it. */
static bool feed(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    stanza_ctx *c = stanza_ctx_new(st);
    ck_assert_int_eq(c->from_err, JID_OK);
    ck_assert_int_eq(c->to_err, JID_OK);
    buf_reset(&output);
    bool taken = adhoc_handle(eng, c);
    stanza_ctx_free(c);
    free(last);
    last = buf_strdup(&output);
    return taken;
}

#define has(part) ck_assert_msg(strstr(last, part) != NULL, "expected\n  %s\nin\n  %s", part, last)
#define lacks(part)                                                                                \
    ck_assert_msg(strstr(last, part) == NULL, "unexpected\n  %s\nin\n  %s", part, last)

#define CMD(from, node, extra)                                                                     \
    "<iq type='set' id='c' from='" from "' to='" SVC "'><command xmlns='" NSC "' node='" node      \
    "'" extra "</command></iq>"
#define SUBMIT(fields) "><x xmlns='jabber:x:data' type='submit'>" fields "</x>"
#define FIELD(var, v) "<field var='" var "'><value>" v "</value></field>"

static char sid[17];

static void session_of(void)
{
    const char *p = strstr(last, "sessionid=\"");
    ck_assert_msg(p != NULL, "no session in %s", last);
    memcpy(sid, p + 11, 16);
    sid[16] = '\0';
}

/* Feeds fmt with the session id in place of its %s. */
static void feed_sid(const char *fmt)
{
    char in[1024];
    snprintf(in, sizeof in, fmt, sid);
    ck_assert(feed(in));
}

START_TEST(one_stage_command_completes_at_once)
{
    ck_assert(feed(CMD(USER, "hello", ">")));
    session_of();
    char want[512];
    snprintf(want, sizeof want,
             "<iq id=\"c\" to=\"" USER "\" from=\"" SVC "\" type=\"result\">"
             "<command xmlns=\"" NSC "\" node=\"hello\" sessionid=\"%s\" status=\"completed\">"
             "<note type=\"info\">hello</note></command></iq>",
             sid);
    ck_assert_str_eq(last, want);
    /* The session ended with the command. */
    feed_sid(CMD(USER, "hello", " sessionid='%s'" SUBMIT("")));
    has("<bad-request ");
    has("<bad-sessionid xmlns=\"" NSC "\"/>");
}
END_TEST

START_TEST(stages_forward_and_back)
{
    ck_assert(feed(CMD(ADMIN, "survey", " action='execute'>")));
    has("status=\"executing\"><actions execute=\"next\"><next/></actions>"
        "<x xmlns=\"jabber:x:data\" type=\"form\"><title>Who</title>"
        "<field var=\"name\" type=\"text-single\" label=\"Name\"><required/></field></x>");
    session_of();
    /* The form is held against the stage's fields before the step sees it. */
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s' action='next'" SUBMIT("")));
    has("<bad-request ");
    has("<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" xml:lang=\"en\">field name is "
        "required</text><bad-payload xmlns=\"" NSC "\"/>");
    feed_sid(CMD(ADMIN, "survey",
                 " sessionid='%s' action='next'" SUBMIT(FIELD("name", "seventeen bytes!!"))));
    has("<not-acceptable ");
    /* The step's own refusal: the session stays for a corrected form. */
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s' action='next'" SUBMIT(FIELD("name", "nobody"))));
    has("<not-acceptable ");
    has("not a name");
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s' action='next'" SUBMIT(FIELD("name", "Ann"))));
    has("<actions execute=\"complete\"><prev/><complete/></actions>"
        "<x xmlns=\"jabber:x:data\" type=\"form\"><title>Ann</title>");
    /* prev shows the first stage again; going on from there works. */
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s' action='prev'>"));
    has("<actions execute=\"next\"><next/></actions>");
    has("<title>Who</title>");
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s' action='prev'>"));
    has("<bad-action ");
    has("there is no stage before this one");
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s' action='complete'" SUBMIT(FIELD("name", "Bo"))));
    has("<title>Bo</title>");
    /* A value outside the options. */
    feed_sid(
        CMD(ADMIN, "survey", " sessionid='%s' action='complete'" SUBMIT(FIELD("colour", "green"))));
    has("field colour is not one of the options");
    /* This stage's own limits, tighter than dataform's. */
    feed_sid(CMD(ADMIN, "survey",
                 " sessionid='%s'" SUBMIT(FIELD("colour", "a colour name thirty-three bytes!"))));
    has("<not-acceptable ");
    has("field colour has a value too long");
    /* The step answers later; nothing is sent until it does. */
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s'" SUBMIT(FIELD("colour", "blue"))));
    ck_assert_str_eq(last, "");
    ck_assert_ptr_nonnull(held);
    buf_reset(&output);
    finish_held();
    free(last);
    last = buf_strdup(&output);
    has("status=\"completed\"><note type=\"info\">Bo likes blue</note></command>");
    ck_assert_int_eq(data_freed, 1);
}
END_TEST

START_TEST(an_answer_after_cancel_is_safe)
{
    ck_assert(feed(CMD(ADMIN, "survey", ">")));
    session_of();
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s'" SUBMIT(FIELD("name", "Cy"))));
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s'" SUBMIT(FIELD("colour", "red"))));
    ck_assert_ptr_nonnull(held);
    /* Cancelled while the step still works on it: the session and its data
     * go; the late answer finds neither and still completes the request. */
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s' action='cancel'>"));
    has("status=\"canceled\"");
    ck_assert_int_eq(data_freed, 1);
    buf_reset(&output);
    finish_held();
    free(last);
    last = buf_strdup(&output);
    has("<note type=\"info\">(session gone)</note>");
}
END_TEST

START_TEST(forward_only_commands_refuse_prev)
{
    ck_assert(feed(CMD(USER, "oneway", ">")));
    session_of();
    feed_sid(CMD(USER, "oneway", " sessionid='%s'" SUBMIT(FIELD("name", "Di"))));
    has("<actions execute=\"complete\"><complete/></actions>");
    feed_sid(CMD(USER, "oneway", " sessionid='%s' action='prev'>"));
    has("<bad-action ");
    has("this command goes forward only");
}
END_TEST

START_TEST(requests_refused)
{
    ck_assert(feed(CMD(USER, "survey", ">")));
    has("<forbidden ");
    has("only admins may do that");
    ck_assert(feed(CMD(USER, "nonsense", ">")));
    has("<item-not-found ");
    ck_assert(feed(CMD(USER, "hello", " action='jump'>")));
    has("<malformed-action xmlns=\"" NSC "\"/>");
    ck_assert(feed(CMD(USER, "hello", " action='cancel'>")));
    has("nothing to cancel");
    ck_assert(feed("<iq type='get' id='g' from='" USER "' to='" SVC "'><command xmlns='" NSC
                   "' node='hello'/></iq>"));
    has("commands are IQ sets");
    /* Someone else's session, or one of another command. */
    ck_assert(feed(CMD(ADMIN, "survey", ">")));
    session_of();
    feed_sid(CMD("admin@example.org/other", "survey", " sessionid='%s'" SUBMIT("")));
    has("<bad-sessionid ");
    feed_sid(CMD(ADMIN, "oneway", " sessionid='%s'" SUBMIT("")));
    has("<bad-sessionid ");
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s'>"));
    has("submit the form");
    /* Not the engine's: a room, a resource, other payloads. */
    ck_assert(!feed("<iq type='set' id='r' from='" USER "' to='room@" SVC "'><command xmlns='" NSC
                    "' node='hello'/></iq>"));
    ck_assert(!feed("<iq type='set' id='r' from='" USER "' to='" SVC "/res'><command xmlns='" NSC
                    "' node='hello'/></iq>"));
    ck_assert(!feed("<iq type='get' id='p' from='" USER "' to='" SVC
                    "'><ping xmlns='urn:xmpp:ping'/></iq>"));
    ck_assert(!feed("<message from='" USER "' to='" SVC "'><body>hi</body></message>"));
    ck_assert_str_eq(last, "");
}
END_TEST

START_TEST(sessions_lapse)
{
    ck_assert(feed(CMD(ADMIN, "survey", ">")));
    session_of();
    clock_now += ADHOC_SESSION_TTL + 1;
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s'" SUBMIT(FIELD("name", "Ed"))));
    has("<not-allowed ");
    has("<session-expired xmlns=\"" NSC "\"/>");
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s'" SUBMIT(FIELD("name", "Ed"))));
    has("<bad-sessionid ");
}
END_TEST

START_TEST(sessions_capped_per_user_and_in_all)
{
    char first[17];
    ck_assert(feed(CMD(USER, "oneway", ">")));
    session_of();
    memcpy(first, sid, sizeof first);
    for (int i = 1; i < ADHOC_SESSIONS_PER_USER; i++) {
        clock_now += 0.001;
        ck_assert(feed(CMD(USER, "oneway", ">")));
    }
    session_of();
    /* At the cap, a new session costs the user their oldest. */
    clock_now += 0.001;
    ck_assert(feed(CMD(USER, "oneway", ">")));
    has("status=\"executing\"");
    feed_sid(CMD(USER, "oneway", " sessionid='%s'" SUBMIT(FIELD("name", "Fay"))));
    has("status=\"executing\"");
    memcpy(sid, first, sizeof sid);
    feed_sid(CMD(USER, "oneway", " sessionid='%s'" SUBMIT(FIELD("name", "Fay"))));
    has("<bad-sessionid ");
    /* Many people fill the table; then nobody opens one until some lapse. */
    char in[512];
    for (int u = 0; u < ADHOC_SESSIONS_MAX / ADHOC_SESSIONS_PER_USER; u++) {
        for (int i = 0; i < ADHOC_SESSIONS_PER_USER; i++) {
            snprintf(in, sizeof in, CMD("u%d@example.org/r", "oneway", ">"), u);
            feed(in);
        }
    }
    has("<resource-constraint ");
    ck_assert(feed(CMD(ADMIN, "oneway", ">")));
    has("too many open command sessions");
    clock_now += ADHOC_SESSION_TTL + 1;
    ck_assert(feed(CMD(ADMIN, "oneway", ">")));
    has("status=\"executing\"");
}
END_TEST

START_TEST(disco_by_role)
{
    ck_assert(feed("<iq type='get' id='i' from='" USER "' to='" SVC "'><query xmlns='"
                   "http://jabber.org/protocol/disco#items' node='" NSC "'/></iq>"));
    ck_assert_str_eq(last, "<iq id=\"i\" to=\"" USER "\" from=\"" SVC "\" type=\"result\">"
                           "<query xmlns=\"http://jabber.org/protocol/disco#items\" node=\"" NSC
                           "\"><item jid=\"" SVC "\" node=\"hello\" name=\"Say hello\"/>"
                           "<item jid=\"" SVC "\" node=\"oneway\" name=\"Forward only\"/>"
                           "</query></iq>");
    ck_assert(feed("<iq type='get' id='i' from='" ADMIN "' to='" SVC "'><query xmlns='"
                   "http://jabber.org/protocol/disco#items' node='" NSC "'/></iq>"));
    has("node=\"survey\" name=\"Answer a survey\"");
    /* The identity of a command is no secret: clients ask before running. */
    ck_assert(feed("<iq type='get' id='n' from='" USER "' to='" SVC "'><query xmlns='"
                   "http://jabber.org/protocol/disco#info' node='survey'/></iq>"));
    ck_assert_str_eq(last, "<iq id=\"n\" to=\"" USER "\" from=\"" SVC "\" type=\"result\">"
                           "<query xmlns=\"http://jabber.org/protocol/disco#info\" node=\"survey\">"
                           "<identity category=\"automation\" type=\"command-node\" "
                           "name=\"Answer a survey\"/><feature var=\"" NSC "\"/>"
                           "<feature var=\"jabber:x:data\"/></query></iq>");
    /* Other nodes, and disco without a node, are not the engine's. */
    ck_assert(!feed("<iq type='get' id='n' from='" USER "' to='" SVC "'><query xmlns='"
                    "http://jabber.org/protocol/disco#info' node='other'/></iq>"));
    ck_assert(!feed("<iq type='get' id='n' from='" USER "' to='" SVC "'><query xmlns='"
                    "http://jabber.org/protocol/disco#info'/></iq>"));
    ck_assert(!feed("<iq type='get' id='n' from='" USER "' to='" SVC "'><query xmlns='"
                    "http://jabber.org/protocol/disco#items'/></iq>"));
    /* The engine's one feature, on its rows for the service's router. */
    ck_assert_str_eq(adhoc_routes[0].feature, NSC);
    for (size_t i = 1; i < ADHOC_ROUTES; i++)
        ck_assert_ptr_null(adhoc_routes[i].feature);
}
END_TEST

static const adhoc_command more[] = {{"extra", "Extra", NULL, hello_steps, 1, false}};
static const adhoc_command clash[] = {{"hello", "Again", NULL, hello_steps, 1, false}};

START_TEST(register_and_unregister)
{
    int other;
    ck_assert_int_eq(adhoc_register(eng, clash, 1, NULL, &other), -1);
    ck_assert_int_eq(adhoc_register(eng, more, 1, NULL, &other), 0);
    ck_assert(feed(CMD(USER, "extra", ">")));
    has("status=\"completed\"");
    ck_assert(feed(CMD(ADMIN, "survey", ">")));
    session_of();
    feed_sid(CMD(ADMIN, "survey", " sessionid='%s'" SUBMIT(FIELD("name", "Gus"))));
    /* The test module goes: its commands and sessions (and their data) go. */
    adhoc_unregister(eng, &eng);
    ck_assert(feed(CMD(ADMIN, "survey", ">")));
    has("<item-not-found ");
    ck_assert(feed("<iq type='get' id='i' from='" ADMIN "' to='" SVC "'><query xmlns='"
                   "http://jabber.org/protocol/disco#items' node='" NSC "'/></iq>"));
    has("node=\"extra\"");
    lacks("node=\"hello\"");
    ck_assert(feed(CMD(USER, "extra", ">")));
    has("status=\"completed\"");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adhoc");
    TCase *t = tcase_create("engine");
    tcase_add_checked_fixture(t, engine_setup, engine_teardown);
    tcase_add_test(t, one_stage_command_completes_at_once);
    tcase_add_test(t, stages_forward_and_back);
    tcase_add_test(t, an_answer_after_cancel_is_safe);
    tcase_add_test(t, forward_only_commands_refuse_prev);
    tcase_add_test(t, requests_refused);
    tcase_add_test(t, sessions_lapse);
    tcase_add_test(t, sessions_capped_per_user_and_in_all);
    tcase_add_test(t, disco_by_role);
    tcase_add_test(t, register_and_unregister);
    suite_add_tcase(s, t);
    return tu_run(s);
}
