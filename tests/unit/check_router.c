/* The router: rows tried in the order added, a row that declines leaves the
 * stanza to the next, answers only for the rows that ask, the RFC 6120
 * errors for what nobody takes, and disco#info features from the rows. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "router.h"
#include "testutil.h"

#define SVC "svc.example"

static buf output = BUF_INIT;
static buf calls = BUF_INIT; /* which handler saw what, one a line */
static router *rt;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

/* A handler named by its ud; it takes what carries its name in the id,
 * and declines the rest. */
static bool handler(void *ud, const stanza_ctx *c)
{
    const char *id = xml_attr(c->st, "id");
    buf_printf(&calls, "%s:%s\n", (const char *)ud, id ? id : "");
    return id && strstr(id, ud) != NULL;
}

static const router_route first[] = {
    {0, 0, NULL, NULL, NULL, "urn:example:a"},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, "urn:example:q", "query", handler, "urn:example:q"},
    {ROUTE_MESSAGE, ROUTE_TO_SERVICE, "urn:example:m", NULL, handler, NULL},
};
static const router_route second[] = {
    {ROUTE_IQ | ROUTE_IQ_ANSWER, ROUTE_TO_NODES, NULL, NULL, handler, "urn:example:a"},
    {ROUTE_IQ, ROUTE_TO_SERVICE, "urn:example:q", "query", handler, "urn:example:z"},
};

static void setup(void)
{
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    rt = router_new(SVC, &sink);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(router_add(rt, first, 3, "one"), 0);
    ck_assert_int_eq(router_add(rt, second, 2, "two"), 0);
}

static void teardown(void)
{
    router_free(rt);
    buf_free(&output);
    buf_free(&calls);
}

static char *got_calls, *got_output;

static void feed(const char *xml)
{
    buf_reset(&output);
    buf_reset(&calls);
    stanza_ctx *c = stanza_ctx_new(tu_stanza(xml));
    ck_assert_ptr_nonnull(c);
    router_dispatch(rt, c);
    free(got_calls);
    free(got_output);
    got_calls = buf_strdup(&calls);
    got_output = buf_strdup(&output);
}

#define IQ(type, id, to, payload)                                                                  \
    "<iq type='" type "' id='" id "' from='u@example.org/r' to='" to "'>" payload "</iq>"
#define QUERY "<query xmlns='urn:example:q'/>"
#define ERRNS "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\""

START_TEST(rows_in_order_and_declining)
{
    feed(IQ("get", "one", SVC, QUERY));
    ck_assert_str_eq(got_calls, "one:one\n");
    ck_assert_str_eq(got_output, "");
    /* The first declines: the second matching row gets it. */
    feed(IQ("get", "two", SVC, QUERY));
    ck_assert_str_eq(got_calls, "one:two\ntwo:two\n");
    /* A set matches only the second row's kinds. */
    feed(IQ("set", "two", SVC, QUERY));
    ck_assert_str_eq(got_calls, "two:two\n");
    /* Rooms and occupants: the rows for nodes. */
    feed(IQ("get", "two", "room@" SVC "/nick", "<other xmlns='urn:example:o'/>"));
    ck_assert_str_eq(got_calls, "two:two\n");
}
END_TEST

START_TEST(what_nobody_takes)
{
    /* Everyone declines a payload they know: feature-not-implemented when
     * a row knows it for other types only, else service-unavailable. */
    feed(IQ("get", "x", SVC, QUERY));
    ck_assert_ptr_nonnull(strstr(got_output, "<service-unavailable " ERRNS));
    feed(IQ("set", "x", SVC "/res", QUERY));
    ck_assert_str_eq(got_calls, "");
    ck_assert_ptr_nonnull(strstr(got_output, "<service-unavailable " ERRNS));
    feed(IQ("get", "x", SVC, "<ping xmlns='urn:xmpp:ping'/>"));
    ck_assert_ptr_nonnull(strstr(got_output, "<service-unavailable " ERRNS));
    feed(IQ("nonsense", "x", SVC, QUERY));
    ck_assert_ptr_nonnull(strstr(got_output, "<bad-request " ERRNS));
    /* No row for presence: none for unavailable, an error for the rest. */
    feed("<presence from='u@example.org/r' to='" SVC "' type='unavailable'/>");
    ck_assert_str_eq(got_output, "");
    feed("<presence from='u@example.org/r' to='" SVC "'/>");
    ck_assert_ptr_nonnull(strstr(got_output, "<service-unavailable " ERRNS));
}
END_TEST

START_TEST(known_payload_other_type)
{
    router_free(rt);
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    rt = router_new(SVC, &sink);
    router_add(rt, first, 3, "one");
    feed(IQ("set", "one", SVC, QUERY));
    ck_assert_str_eq(got_calls, "");
    ck_assert_ptr_nonnull(strstr(got_output, "<feature-not-implemented " ERRNS));
}
END_TEST

START_TEST(answers_only_where_asked)
{
    /* An IQ result to the service: nobody asked for it, nothing is said. */
    feed("<iq type='result' id='one' from='u@example.org/r' to='" SVC "'/>");
    ck_assert_str_eq(got_calls, "");
    ck_assert_str_eq(got_output, "");
    /* To a room: the row that takes answers sees it. */
    feed("<iq type='error' id='two' from='u@example.org/r' to='room@" SVC "'/>");
    ck_assert_str_eq(got_calls, "two:two\n");
    ck_assert_str_eq(got_output, "");
    /* Error messages are never routed. */
    feed("<message type='error' id='one' from='u@example.org/r' to='" SVC "'>"
         "<x xmlns='urn:example:m'/></message>");
    ck_assert_str_eq(got_calls, "");
    ck_assert_str_eq(got_output, "");
}
END_TEST

START_TEST(messages_match_any_child)
{
    feed("<message id='one' from='u@example.org/r' to='" SVC "'><body>hi</body>"
         "<x xmlns='urn:example:m'/></message>");
    ck_assert_str_eq(got_calls, "one:one\n");
    feed("<message id='one' from='u@example.org/r' to='" SVC "'><body>hi</body></message>");
    ck_assert_str_eq(got_calls, "");
    ck_assert_ptr_nonnull(strstr(got_output, "<service-unavailable " ERRNS));
}
END_TEST

START_TEST(addresses_checked_once)
{
    feed(IQ("get", "one", "svc.example.net", QUERY));
    ck_assert_str_eq(got_calls, "");
    ck_assert_ptr_nonnull(strstr(got_output, "<item-not-found " ERRNS));
    feed("<iq type='get' id='one' from='u@@example.org' to='" SVC "'>" QUERY "</iq>");
    ck_assert_ptr_nonnull(strstr(got_output, "<jid-malformed " ERRNS));
    feed("<iq type='get' id='one' from='u@example.org/r'>" QUERY "</iq>");
    ck_assert_ptr_nonnull(strstr(got_output, "<jid-malformed " ERRNS));
    ck_assert_ptr_nonnull(strstr(got_output, ">missing "));
    /* The context carries both addresses, normalized. */
    stanza_ctx *c =
        stanza_ctx_new(tu_stanza("<message from='U@Example.ORG/R' to='Room@" SVC "'/>"));
    ck_assert_str_eq(c->from_full, "u@example.org/R");
    ck_assert_str_eq(c->from_bare, "u@example.org");
    ck_assert_str_eq(c->to.local, "room");
    stanza_ctx_free(c);
}
END_TEST

START_TEST(features_in_order_each_once)
{
    xml_node *q = xml_new("query", "http://jabber.org/protocol/disco#info");
    ck_assert_int_eq(router_features(rt, q), 0);
    char *s = tu_str(q);
    ck_assert_str_eq(s, "<query xmlns=\"http://jabber.org/protocol/disco#info\">"
                        "<feature var=\"urn:example:a\"/><feature var=\"urn:example:q\"/>"
                        "<feature var=\"urn:example:z\"/></query>");
    free(s);
    xml_free(q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("dispatch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rows_in_order_and_declining);
    tcase_add_test(tc, what_nobody_takes);
    tcase_add_test(tc, known_payload_other_type);
    tcase_add_test(tc, answers_only_where_asked);
    tcase_add_test(tc, messages_match_any_child);
    tcase_add_test(tc, addresses_checked_once);
    tcase_add_test(tc, features_in_order_each_once);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free(got_calls);
    free(got_output);
    return rc;
}
