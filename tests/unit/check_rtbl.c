/* Real-time block lists (lib/safety/rtbl.c): the subscriber's requests,
 * fetches, notifications and malformed input as literal stanzas, and the
 * rooms' refusals behind them. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "safety/rtbl.h"
#include "service.h"
#include "testutil.h"

#define SVC "pubsub.example.net"
#define H_SPAMMER "3854fff008077013f4d9535f5d84dc7bdeb5db3ed92a1e06ca943888ee65a093"
#define H_EVIL_DOMAIN "9c180de0cd699ee78897c47cfdb3e7ee1d75906e31b7746a4747dea536909837"
#define ROOM "lobby@rooms.example.org"

static buf output = BUF_INIT;
static rtbl *t;
static service *svc;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static void make(size_t max_items)
{
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    rtbl_config rc = {.service = SVC,
                      .hash_nodes = "muc_bans_sha256",
                      .domain_nodes = "spam_source_domains",
                      .jid = "rooms.example.org",
                      .max_items = max_items};
    char err[200];
    t = rtbl_new(NULL, NULL, &rc, &sink, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    service_config c = {.domain = "rooms.example.org",
                        .name = "Rooms",
                        .version = "1",
                        .muc = {.history_default = 20},
                        .rtbl = t};
    svc = service_new(&c, &sink);
    ck_assert_ptr_nonnull(svc);
}

static void setup(void)
{
    make(0);
}

static void teardown(void)
{
    service_free(svc);
    rtbl_free(t);
    svc = NULL;
    t = NULL;
    buf_free(&output);
}

/* Feeds one stanza through the service; returns what it wrote. */
static char *run(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    buf_reset(&output);
    service_handle(svc, st);
    return buf_strdup(&output);
}

static void expect(const char *in, const char *want)
{
    char *got = run(in);
    ck_assert_str_eq(got, want);
    free(got);
}

static char *ready(void)
{
    buf_reset(&output);
    rtbl_link_ready(t);
    return buf_strdup(&output);
}

#define SUB(n, node)                                                                               \
    "<iq type=\"set\" from=\"rooms.example.org\" to=\"" SVC "\" id=\"rtbl-" n                      \
    "-s\"><pubsub xmlns=\"http://jabber.org/protocol/pubsub\"><subscribe node=\"" node             \
    "\" jid=\"rooms.example.org\"/></pubsub></iq>"
#define ITEMS(n, node, after)                                                                      \
    "<iq type=\"get\" from=\"rooms.example.org\" to=\"" SVC "\" id=\"rtbl-" n                      \
    "-i\"><pubsub xmlns=\"http://jabber.org/protocol/pubsub\"><items node=\"" node                 \
    "\"/><set xmlns=\"http://jabber.org/protocol/rsm\"><max>500</max>" after                       \
    "</set></pubsub></iq>"

/* An items result for request `id`, with `items` inside <items node>. */
static void answer(const char *id, const char *node, const char *items)
{
    char in[4096];
    snprintf(in, sizeof in,
             "<iq type='result' from='" SVC "' to='rooms.example.org' id='%s'>"
             "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='%s'>%s</items>"
             "</pubsub></iq>",
             id, node, items);
    expect(in, "");
}

static void event(const char *node, const char *what)
{
    char in[4096];
    snprintf(in, sizeof in,
             "<message from='" SVC "' to='rooms.example.org'>"
             "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='%s'>%s</items>"
             "</event></message>",
             node, what);
    expect(in, "");
}

START_TEST(link_ready_subscribes_and_fetches)
{
    char *got = ready();
    ck_assert_str_eq(got,
                     SUB("0-1", "muc_bans_sha256") ITEMS("0-1", "muc_bans_sha256", "")
                         SUB("1-1", "spam_source_domains") ITEMS("1-1", "spam_source_domains", ""));
    free(got);
    /* A relink asks again, with ids of a new generation. */
    got = ready();
    ck_assert_ptr_nonnull(strstr(got, "id=\"rtbl-0-2-i\""));
    free(got);
}
END_TEST

START_TEST(fetch_applies_hashes_of_jids_and_domains)
{
    free(ready());
    ck_assert(!rtbl_listed(t, "spammer@evil.example"));
    answer("rtbl-0-1-i", "muc_bans_sha256",
           "<item id='" H_SPAMMER "'><report xmlns='urn:xmpp:reporting:1' "
           "reason='urn:xmpp:reporting:spam'/></item><item id='not-a-hash'/><item/>");
    ck_assert_uint_eq(rtbl_count(t), 1);
    ck_assert(rtbl_listed(t, "spammer@evil.example"));
    ck_assert(!rtbl_listed(t, "friend@evil.example"));
    ck_assert(!rtbl_listed(t, "evil.example"));
    /* A new fetch replaces the list: the JID is gone, the domain's hash in. */
    free(ready());
    answer("rtbl-0-2-i", "muc_bans_sha256", "<item id='" H_EVIL_DOMAIN "'/>");
    ck_assert(rtbl_listed(t, "friend@evil.example"));
    ck_assert(rtbl_listed(t, "evil.example"));
    ck_assert_uint_eq(rtbl_count(t), 1);
}
END_TEST

START_TEST(stale_and_foreign_answers_are_ignored)
{
    free(ready());
    free(ready());
    answer("rtbl-0-1-i", "muc_bans_sha256", "<item id='" H_SPAMMER "'/>");
    ck_assert_uint_eq(rtbl_count(t), 0);
    /* The same answer from someone else is not the list's. */
    xml_node *st =
        tu_stanza("<iq type='result' from='mallory.example' to='rooms.example.org' "
                  "id='rtbl-0-2-i'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                  "<items node='muc_bans_sha256'><item id='" H_SPAMMER "'/></items></pubsub></iq>");
    ck_assert(!rtbl_handle(t, st));
    ck_assert_uint_eq(rtbl_count(t), 0);
}
END_TEST

START_TEST(notifications_publish_and_retract)
{
    event("muc_bans_sha256", "<item id='" H_SPAMMER "'/>");
    ck_assert(rtbl_listed(t, "spammer@evil.example"));
    event("muc_bans_sha256", "<retract id='" H_SPAMMER "'/>");
    ck_assert(!rtbl_listed(t, "spammer@evil.example"));
    event("spam_source_domains", "<item id='Spam.Example'/><item id='a@b'/><item id=''/>");
    ck_assert_uint_eq(rtbl_count(t), 1);
    ck_assert(rtbl_listed(t, "other@spam.example"));
    ck_assert(rtbl_listed(t, "spam.example"));
    ck_assert(!rtbl_listed(t, "other@notspam.example"));
    expect("<message from='" SVC "' to='rooms.example.org'>"
           "<event xmlns='http://jabber.org/protocol/pubsub#event'>"
           "<purge node='spam_source_domains'/></event></message>",
           "");
    ck_assert(!rtbl_listed(t, "other@spam.example"));
}
END_TEST

static unsigned changes;

static void on_change(void *ud)
{
    (void)ud;
    changes++;
}

/* The gateway's edge names the list in its log and closes the streams of
 * a domain listed after it was admitted: both from what the rtbl says. */
START_TEST(list_named_and_changes_told)
{
    changes = 0;
    rtbl_on_change(t, on_change, NULL);
    ck_assert_ptr_null(rtbl_list_of(t, "evil.example"));
    event("muc_bans_sha256", "<item id='" H_EVIL_DOMAIN "'/>");
    ck_assert_uint_eq(changes, 1);
    ck_assert_str_eq(rtbl_list_of(t, "evil.example"), SVC "/muc_bans_sha256");
    event("spam_source_domains", "<item id='spam.example'/>");
    ck_assert_str_eq(rtbl_list_of(t, "spam.example"), SVC "/spam_source_domains");
    event("muc_bans_sha256", "<retract id='" H_EVIL_DOMAIN "'/>");
    ck_assert_uint_eq(changes, 3);
    ck_assert_ptr_null(rtbl_list_of(t, "evil.example"));
    rtbl_on_change(t, NULL, NULL);
    event("spam_source_domains", "<retract id='spam.example'/>");
    ck_assert_uint_eq(changes, 3);
}
END_TEST

START_TEST(a_notification_during_a_fetch_is_kept)
{
    free(ready());
    event("muc_bans_sha256", "<item id='" H_EVIL_DOMAIN "'/>");
    answer("rtbl-0-1-i", "muc_bans_sha256", "<item id='" H_SPAMMER "'/>");
    ck_assert(rtbl_listed(t, "friend@evil.example"));
    ck_assert(rtbl_listed(t, "spammer@evil.example"));
}
END_TEST

START_TEST(pages_are_followed_and_applied_whole)
{
    free(ready());
    char *got = run("<iq type='result' from='" SVC "' to='rooms.example.org' id='rtbl-0-1-i'>"
                    "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items "
                    "node='muc_bans_sha256'><item id='" H_SPAMMER "'/></items>"
                    "<set xmlns='http://jabber.org/protocol/rsm'><first>a</first><last>" H_SPAMMER
                    "</last></set></pubsub></iq>");
    ck_assert_str_eq(got, ITEMS("0-1", "muc_bans_sha256", "<after>" H_SPAMMER "</after>"));
    free(got);
    ck_assert_uint_eq(rtbl_count(t), 0); /* not before the fetch is whole */
    answer("rtbl-0-1-i", "muc_bans_sha256", "<item id='" H_EVIL_DOMAIN "'/>");
    ck_assert_uint_eq(rtbl_count(t), 2);
}
END_TEST

START_TEST(max_items_bounds_a_node)
{
    teardown();
    make(1);
    free(ready());
    answer("rtbl-0-1-i", "muc_bans_sha256",
           "<item id='" H_SPAMMER "'/><item id='" H_EVIL_DOMAIN "'/>");
    ck_assert_uint_eq(rtbl_count(t), 1);
    event("muc_bans_sha256", "<item id='" H_EVIL_DOMAIN "'/>");
    ck_assert_uint_eq(rtbl_count(t), 1);
}
END_TEST

START_TEST(a_refused_fetch_keeps_the_list)
{
    event("muc_bans_sha256", "<item id='" H_SPAMMER "'/>");
    free(ready());
    expect("<iq type='error' from='" SVC "' to='rooms.example.org' id='rtbl-0-1-i'>"
           "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
           "</error></iq>",
           "");
    ck_assert(rtbl_listed(t, "spammer@evil.example"));
}
END_TEST

START_TEST(bad_configuration_is_refused)
{
    rtbl_config rc = {.service = "a@@b", .hash_nodes = "x", .jid = "rooms.example.org"};
    char err[200] = "";
    ck_assert_ptr_null(rtbl_new(NULL, NULL, &rc, NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "[rtbl] service"));
    rc.service = SVC;
    rc.hash_nodes = "a, a";
    ck_assert_ptr_null(rtbl_new(NULL, NULL, &rc, NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "twice"));
}
END_TEST

static void on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop for about `seconds`. */
static void spin(struct ev_loop *loop, double seconds)
{
    ev_timer stop;
    ev_timer_init(&stop, on_stop, seconds, 0);
    ev_timer_start(loop, &stop);
    ev_run(loop, 0);
    ev_timer_stop(loop, &stop);
}

/* Runs the loop until the output holds `want` (false after 20 s: the
 * bound is for a slow machine, valgrind included, not a measurement). */
static bool spin_until(struct ev_loop *loop, const char *want)
{
    for (int i = 0; i < 2000; i++) {
        char *got = buf_strdup(&output);
        bool found = got && strstr(got, want);
        free(got);
        if (found)
            return true;
        spin(loop, 0.01);
    }
    return false;
}

START_TEST(refetched_now_and_then_and_again_when_unanswered_but_not_while_down)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    rtbl_config rc = {.service = SVC,
                      .hash_nodes = "muc_bans_sha256",
                      .jid = "rooms.example.org",
                      .poll = 0.01,
                      .timeout = 0.05,
                      .refresh = 0.2};
    char err[200];
    rtbl *r = rtbl_new(loop, NULL, &rc, &sink, err, sizeof err);
    ck_assert_ptr_nonnull(r);
    buf_reset(&output);
    rtbl_link_ready(r);
    /* Unanswered: asked again once the timeout is over. */
    ck_assert(spin_until(loop, "id=\"rtbl-0-2-i\""));
    /* Answered (the request of whichever generation is the last): asked
     * again after the refresh period. */
    rtbl_link_down(r);
    buf_reset(&output);
    rtbl_link_ready(r);
    char *got = buf_strdup(&output);
    char *id = strstr(got, "id=\"rtbl-0-");
    ck_assert_ptr_nonnull(id);
    unsigned gen = 0;
    ck_assert_int_eq(sscanf(id, "id=\"rtbl-0-%u-", &gen), 1);
    free(got);
    char in[600], want[64];
    snprintf(in, sizeof in,
             "<iq type='result' from='" SVC "' to='rooms.example.org' id='rtbl-0-%u-i'>"
             "<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='muc_bans_sha256'/>"
             "</pubsub></iq>",
             gen);
    rtbl_handle(r, tu_stanza(in));
    snprintf(want, sizeof want, "id=\"rtbl-0-%u-s\"", gen + 1);
    ck_assert(spin_until(loop, want));
    /* While the link is down nothing is asked, neither again nor anew. */
    rtbl_link_down(r);
    buf_reset(&output);
    spin(loop, 0.3);
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    rtbl_free(r);
    ev_loop_destroy(loop);
}
END_TEST

/* ---- in the rooms ---- */

static void contains(const char *in, const char *want)
{
    char *got = run(in);
    ck_assert_msg(strstr(got, want) != NULL, "wanted %s in %s", want, got);
    free(got);
}

/* The owner makes the room and unlocks it. */
static void open_room(void)
{
    contains("<presence from='owner@example.org/a' to='" ROOM "/owner'>"
             "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
             "status code=\"201\"");
    contains("<iq type='set' id='c1' from='owner@example.org/a' to='" ROOM "'>"
             "<query xmlns='http://jabber.org/protocol/muc#owner'>"
             "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
             "type=\"result\"");
}

#define JOIN(who, nick)                                                                            \
    "<presence from='" who "' to='" ROOM "/" nick "'><x xmlns='http://jabber.org/protocol/muc'/>"  \
    "</presence>"
#define REFUSED "<forbidden xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/><text "

START_TEST(rooms_refuse_listed_joins_and_messages)
{
    open_room();
    contains(JOIN("friend@evil.example/r", "friend"), "status code=\"110\"");
    event("muc_bans_sha256", "<item id='" H_SPAMMER "'/>");
    contains(JOIN("spammer@evil.example/r", "spam"), "you are banned from this service");
    /* Already in the room when the domain was listed: speaks no more. */
    event("muc_bans_sha256", "<item id='" H_EVIL_DOMAIN "'/>");
    contains("<message type='groupchat' from='friend@evil.example/r' to='" ROOM "'>"
             "<body>hi</body></message>",
             REFUSED);
    contains("<message type='chat' from='friend@evil.example/r' to='" ROOM "/owner'>"
             "<body>hi</body></message>",
             REFUSED);
    /* Retracted: admitted again. */
    event("muc_bans_sha256", "<retract id='" H_SPAMMER "'/><retract id='" H_EVIL_DOMAIN "'/>");
    contains(JOIN("spammer@evil.example/r", "spam"), "status code=\"110\"");
}
END_TEST

START_TEST(members_and_owners_are_exempt)
{
    open_room();
    contains("<iq type='set' id='m1' from='owner@example.org/a' to='" ROOM "'>"
             "<query xmlns='http://jabber.org/protocol/muc#admin'>"
             "<item jid='spammer@evil.example' affiliation='member'/></query></iq>",
             "type=\"result\"");
    event("spam_source_domains", "<item id='evil.example'/><item id='example.org'/>");
    contains(JOIN("spammer@evil.example/r", "spam"), "status code=\"110\"");
    contains("<message type='groupchat' from='owner@example.org/a' to='" ROOM "'>"
             "<body>still here</body></message>",
             "still here");
    contains(JOIN("nobody@evil.example/r", "nobody"), "you are banned from this service");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rtbl");
    TCase *tc = tcase_create("rtbl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, link_ready_subscribes_and_fetches);
    tcase_add_test(tc, fetch_applies_hashes_of_jids_and_domains);
    tcase_add_test(tc, stale_and_foreign_answers_are_ignored);
    tcase_add_test(tc, notifications_publish_and_retract);
    tcase_add_test(tc, list_named_and_changes_told);
    tcase_add_test(tc, a_notification_during_a_fetch_is_kept);
    tcase_add_test(tc, pages_are_followed_and_applied_whole);
    tcase_add_test(tc, max_items_bounds_a_node);
    tcase_add_test(tc, a_refused_fetch_keeps_the_list);
    tcase_add_test(tc, bad_configuration_is_refused);
    tcase_add_test(tc, refetched_now_and_then_and_again_when_unanswered_but_not_while_down);
    tcase_add_test(tc, rooms_refuse_listed_joins_and_messages);
    tcase_add_test(tc, members_and_owners_are_exempt);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
