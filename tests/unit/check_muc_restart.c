/* Restarts: occupants kept in Redis, seated again and checked.
 * Literal stanzas in, literal stanzas out (mucfix.h). */
#include "mucfix.h"

#define PING(to, n)                                                                                \
    "<iq type=\"get\" from=\"room1@" SVC "\" to=\"" to "\" id=\"stoa-rc.000000000000000" n "\">"   \
    "<ping xmlns=\"urn:xmpp:ping\"/></iq>"
#define ANSWER(type, from, n, rest)                                                                \
    "<iq type='" type "' id='stoa-rc.000000000000000" n "' from='" from "' to='room1@" SVC         \
    "'>" rest "</iq>"
#define BOUNCE(cond)                                                                               \
    "<error type='cancel'><" cond " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"

/* What a restart does, Redis aside (occstore.c reads the same documents
 * back): every room's state and every session's record go into a fresh
 * service, as the restarted component, which queues each session for a
 * check; the fresh service replaces the old one. */
static void restart_service(void)
{
    muc *old = service_muc(svc);
    service *fresh = new_service(LINKPOL_DELIVER, 0);
    muc *m = service_muc(fresh);
    size_t it = 0;
    void *v;
    while (hmap_next(&old->rooms, &it, NULL, &v)) {
        muc_room *r = v;
        char *state = muc_room_state(r);
        muc_room *r2 = muc_room_restore(m, state, strlen(state));
        ck_assert_ptr_nonnull(r2);
        free(state);
        for (size_t i = 0; i < r->noccupants; i++) {
            for (size_t j = 0; j < r->occupants[i]->nsessions; j++) {
                const muc_session *s = r->occupants[i]->sessions[j];
                char *rec = muc_occupant_record(s);
                muc_session *s2 = muc_occupant_restore(r2, s->jid, rec, strlen(rec));
                ck_assert_msg(s2 != NULL, "not seated again: %s", rec);
                muc_recheck_add(m, r2, s2);
                free(rec);
            }
        }
    }
    service_free(svc);
    svc = fresh;
}

/* One slice of checks (what the daemon's timer does every 0.1 s). */
static const char *tick(bool *busy)
{
    buf_reset(&output);
    bool b = muc_recheck_tick(service_muc(svc));
    if (busy)
        *busy = b;
    return mucfix_take();
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

START_TEST(occupant_record_round_trip)
{
    make_room("room1");
    feed("<presence from='" BOB "' to='room1@" SVC "/Bob &amp; co'><show>away</show>"
         "<status>out &lt;now&gt;</status><c xmlns='http://jabber.org/protocol/caps' node='n' "
         "ver='v' hash='sha-1'/></presence>");
    muc_room *r = muc_room_get(service_muc(svc), "room1");
    muc_session *s = muc_session_by_jid(r, BOB);
    ck_assert_ptr_nonnull(s);
    s->occ->role = ROLE_VISITOR;
    char *rec = muc_occupant_record(s);
    ck_assert_ptr_nonnull(strstr(rec, "nick=\"Bob &amp; co\" role=\"visitor\" "
                                      "joined=\"1000000000\" oid=\""));
    char *state = muc_room_state(r);
    service *svc2 = new_service(LINKPOL_DELIVER, 0);
    muc_room *r2 = muc_room_restore(service_muc(svc2), state, strlen(state));
    muc_session *s2 = muc_occupant_restore(r2, BOB, rec, strlen(rec));
    ck_assert_ptr_nonnull(s2);
    ck_assert_str_eq(s2->pres, s->pres);
    ck_assert_str_eq(s2->occ->occupant_id, s->occ->occupant_id);
    char *rec2 = muc_occupant_record(s2);
    ck_assert_str_eq(rec2, rec);
    /* The same session twice, a nick someone else holds, garbage, a banned
     * person: no seat. */
    ck_assert_ptr_null(muc_occupant_restore(r2, BOB, rec, strlen(rec)));
    ck_assert_ptr_null(muc_occupant_restore(r2, "eve@example.org/x", rec, strlen(rec)));
    ck_assert_ptr_null(muc_occupant_restore(r2, CAROL, "<s nick='x'>", 12));
    ck_assert_ptr_null(muc_occupant_restore(r2, CAROL, "<p nick='x'/>", 13));
    muc_room_set_aff(r2, "carol@example.org", AFF_OUTCAST, NULL);
    const char *crec = "<s xmlns='urn:stoa:muc:occ:0' nick='Carol' role='participant'/>";
    ck_assert_ptr_null(muc_occupant_restore(r2, CAROL, crec, strlen(crec)));
    muc_room_set_aff(r2, "carol@example.org", AFF_NONE, NULL);
    ck_assert_ptr_nonnull(muc_occupant_restore(r2, CAROL, crec, strlen(crec)));
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc2)), 2);
    free(rec);
    free(rec2);
    free(state);
    service_free(svc2);
}
END_TEST

/* The point of it all: after a restart the occupants are simply still
 * there. Nobody is told anything, a message goes through at once, and the
 * check of a client that answers says nothing either. */
START_TEST(restart_keeps_occupants_silently)
{
    make_room("room1");
    feed("<presence from='" BOB "' to='room1@" SVC "/Bob'><show>away</show></presence>");
    restart_service();
    expect("<message type='groupchat' id='m' from='" BOB "' to='room1@" SVC "'>"
           "<body>still here?</body></message>",
           "<message from=\"room1@" SVC "/Bob\" type=\"groupchat\" id=\"m\" to=\"" ALICE "\">"
           "<body>still here?</body><stanza-id xmlns=\"urn:xmpp:sid:0\" id=\"" SID1
           "\" by=\"room1@" SVC
           "\"/><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></message>"
           "<message from=\"room1@" SVC "/Bob\" type=\"groupchat\" id=\"m\" to=\"" BOB "\">"
           "<body>still here?</body><stanza-id xmlns=\"urn:xmpp:sid:0\" id=\"" SID1
           "\" by=\"room1@" SVC
           "\"/><occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"OID-2\"/></message>");
    /* Bob spoke, so only Alice is asked. */
    bool busy;
    ck_assert_str_eq(tick(&busy), PING(ALICE, "1"));
    ck_assert(busy);
    expect_silence(ANSWER("result", ALICE, "1", ""));
    ck_assert_str_eq(tick(&busy), "");
    ck_assert(!busy);
    /* A newcomer sees both as they were: roles, affiliations, status. */
    const char *got = feed("<presence from='" CAROL "' to='room1@" SVC "/Carol'/>");
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Alice\" to=\"" CAROL "\">"
                                      "<x xmlns=\"http://jabber.org/protocol/muc#user\"><item "
                                      "affiliation=\"owner\" role=\"moderator\"/>"));
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Bob\" to=\"" CAROL "\">"
                                      "<show>away</show><x xmlns=\"http://jabber.org/protocol/"
                                      "muc#user\"><item affiliation=\"none\" "
                                      "role=\"participant\"/>"));
}
END_TEST

/* A client that answers, or says it has no ping, stays; a session its
 * server answers for (twice: once more with disco#info, for clients
 * without ping) or that never answers goes, with status 333. */
START_TEST(recheck_removes_the_gone)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    join(CAROL, "room1", "Carol");
    join("dave@example.org/x", "room1", "Dave");
    restart_service();
    ck_assert_str_eq(tick(NULL), PING(ALICE, "1") PING(BOB, "2") PING(CAROL, "3")
                                     PING("dave@example.org/x", "4"));
    expect_silence(ANSWER("result", ALICE, "1", ""));
    expect_silence(ANSWER("error", BOB, "2", BOUNCE("feature-not-implemented")));
    expect("<iq type='error' id='stoa-rc.0000000000000003' from='" CAROL "' to='room1@" SVC
           "'>" BOUNCE("service-unavailable") "</iq>",
           "<iq type=\"get\" from=\"room1@" SVC "\" to=\"" CAROL
           "\" id=\"stoa-rc.0000000000000005\">"
           "<query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>");
    const char *got = feed(ANSWER("error", CAROL, "5", BOUNCE("service-unavailable")));
    ck_assert_uint_eq(count(got, "from=\"room1@" SVC "/Carol\""), 4);
    ck_assert_uint_eq(count(got, "type=\"unavailable\""), 4);
    ck_assert_uint_eq(count(got, "<status code=\"333\"/>"), 4);
    ck_assert_ptr_nonnull(strstr(got, "to=\"" CAROL "\" type=\"unavailable\"><x xmlns=\"http://"
                                      "jabber.org/protocol/muc#user\"><item affiliation=\"none\" "
                                      "role=\"none\" jid=\"" CAROL "\"/><status code=\"110\"/>"
                                      "<status code=\"333\"/>"));
    /* Someone else cannot answer for Dave, nor can an answer arrive twice. */
    expect_silence(ANSWER("result", BOB, "4", ""));
    expect_silence(ANSWER("result", ALICE, "1", ""));
    clock_now += 29;
    ck_assert_str_eq(tick(NULL), "");
    clock_now += 2;
    bool busy;
    got = tick(&busy);
    ck_assert(!busy);
    ck_assert_uint_eq(count(got, "<status code=\"333\"/>"), 3);
    ck_assert_uint_eq(count(got, "from=\"room1@" SVC "/Dave\""), 3);
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 2);
    /* Those who stayed are in the room as before. */
    expect_has("<message type='groupchat' from='" BOB "' to='room1@" SVC "'><body>ok</body>"
               "</message>",
               "to=\"" ALICE "\"><body>ok</body>");
}
END_TEST

/* After a lost link everyone is checked, and checks in flight when the
 * link drops again are asked again once it is back. */
START_TEST(lost_link_checks_everyone)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    muc *m = service_muc(svc);
    ck_assert_str_eq(tick(NULL), "");
    muc_recheck_all(m);
    muc_recheck_all(m); /* nobody is asked twice */
    ck_assert_str_eq(tick(NULL), PING(ALICE, "1") PING(BOB, "2"));
    muc_recheck_pause(m);
    ck_assert_str_eq(tick(NULL), PING(ALICE, "3") PING(BOB, "4"));
    /* An answer to a question asked before the loss settles nothing. */
    expect_silence(ANSWER("result", ALICE, "1", ""));
    expect_silence(ANSWER("result", ALICE, "3", ""));
    expect_silence(ANSWER("result", BOB, "4", ""));
    bool busy;
    tick(&busy);
    ck_assert(!busy);
    ck_assert_uint_eq(muc_occupant_count(m), 2);
}
END_TEST

/* Thousands seated again must not flood the host: the checks go out at
 * the configured rate (100 a second here), in slices. */
START_TEST(recheck_is_paced)
{
    make_room("room1");
    for (int i = 0; i < 60; i++) {
        char in[256];
        snprintf(in, sizeof in, "<presence from='u%d@example.org/r' to='room1@" SVC "/u%d'/>", i,
                 i);
        feed(in);
    }
    restart_service();
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 21); /* a fifth of a second's worth, + 1 */
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 0);  /* no time has passed */
    clock_now += 0.125;
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 12);
    clock_now += 5; /* a stalled loop does not make a burst */
    ck_assert_uint_eq(count(tick(NULL), "<ping "), 21);
}
END_TEST

/* A client that joins again while the room still has it (it lost track of
 * the room, say across a restart of ours) gets the whole join; the others
 * hear nothing, its presence being unchanged. */
START_TEST(rejoin_gets_the_whole_join)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    restart_service();
    const char *got = feed("<presence from='" BOB "' to='room1@" SVC "/Bob'>"
                           "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    ck_assert_ptr_null(strstr(got, "to=\"" ALICE "\""));
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Alice\" to=\"" BOB "\">"));
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Bob\" to=\"" BOB "\"><x "
                                      "xmlns=\"http://jabber.org/protocol/muc#user\"><item "
                                      "affiliation=\"none\" role=\"participant\" jid=\"" BOB
                                      "\"/><status code=\"110\"/></x>"));
    ck_assert_ptr_nonnull(strstr(got, "<subject/></message>"));
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 2);
    /* With a new status, the others learn it. */
    got = feed("<presence from='" BOB "' to='room1@" SVC "/Bob'><show>dnd</show>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    ck_assert_ptr_nonnull(strstr(got, "<presence from=\"room1@" SVC "/Bob\" to=\"" ALICE "\">"
                                      "<show>dnd</show>"));
}
END_TEST

/* A real shutdown tells everyone (332) and forgets them; a restart says
 * nothing. */
START_TEST(shutdown_announces_or_keeps)
{
    make_room("room1");
    join(BOB, "room1", "Bob");
    buf_reset(&output);
    muc_shutdown(service_muc(svc), false);
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 2);
    muc_shutdown(service_muc(svc), true);
    char *got = buf_strdup(&output);
    ck_assert_uint_eq(count(got, "type=\"unavailable\""), 2);
    ck_assert_uint_eq(count(got, "<status code=\"110\"/><status code=\"332\"/>"), 2);
    ck_assert_uint_eq(muc_occupant_count(service_muc(svc)), 0);
    ck_assert_uint_eq(muc_room_count(service_muc(svc)), 0);
    free(got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_restart");
    TCase *tc = tcase_create("restart");
    tcase_add_checked_fixture(tc, mucfix_setup, mucfix_teardown);
    tcase_add_test(tc, occupant_record_round_trip);
    tcase_add_test(tc, restart_keeps_occupants_silently);
    tcase_add_test(tc, recheck_removes_the_gone);
    tcase_add_test(tc, recheck_is_paced);
    tcase_add_test(tc, lost_link_checks_everyone);
    tcase_add_test(tc, rejoin_gets_the_whole_join);
    tcase_add_test(tc, shutdown_announces_or_keeps);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
