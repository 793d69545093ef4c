/* Room nicknames beyond Resourceprep (muc/nick.c): XEP-0045 17.1 (no
 * empty or invisible nicks), 7.2.9 and 7.6 (conflict), and the look-alike
 * policy of nick.h. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "muc/muc.h"
#include "muc/nick.h"
#include "rooms_fixture.h"
#include "testutil.h"

static void folds_to(const char *nick, const char *key)
{
    char *f = muc_nick_fold(nick);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f, key);
    free(f);
}

START_TEST(fold_keys)
{
    folds_to("Alice", "alice");
    folds_to("ALICE", "alice");
    folds_to(" Al ice ", "alice");
    folds_to("\xEF\xBC\xA1lice", "alice"); /* fullwidth A (NFKC) */
    folds_to("\xD0\x90lice", "alice");     /* Cyrillic capital A */
    folds_to("Al\xCE\xB9"
             "ce",
             "alice");              /* Greek iota */
    folds_to("B0b", "bob");         /* the digit zero */
    folds_to("\xEF\xAC\x80", "ff"); /* the ff ligature */
    folds_to("Stra\xC3\x9F"
             "e",
             "strasse");                    /* sharp s, case folded */
    folds_to("Alice\xE3\x85\xA4", "alice"); /* a Hangul filler after it */
    folds_to("Jos\xC3\xA9", "jos\xC3\xA9"); /* accents stay */
}
END_TEST

START_TEST(blank_nicks)
{
    ck_assert(muc_nick_blank(" "));
    ck_assert(muc_nick_blank("   "));
    ck_assert(muc_nick_blank("\xE3\x85\xA4"));     /* U+3164 Hangul filler */
    ck_assert(muc_nick_blank("\xE2\xA0\x80 "));    /* U+2800 braille blank */
    ck_assert(muc_nick_blank("\xCC\x81\xCC\x81")); /* combining acute accents alone */
    ck_assert(muc_nick_blank("\xE1\x85\x9F"));     /* U+115F */
    ck_assert(!muc_nick_blank(" a "));
    ck_assert(!muc_nick_blank("\xE2\x98\x83")); /* a snowman is visible */
    ck_assert(!muc_nick_blank("_"));
}
END_TEST

/* XEP-0045 17.1: "MUST NOT allow empty or invisible Room Nicknames": the
 * join is refused with jid-malformed and no room is made for it. */
START_TEST(blank_nick_refused_on_join)
{
    rf_make_room("room1", NULL);
    static const char *const blanks[] = {"   ", " ", "\xE3\x85\xA4\xE3\x85\xA4", "\xCC\x81"};
    for (size_t i = 0; i < sizeof blanks / sizeof blanks[0]; i++) {
        const char *got = rf_join(RF_BOB, "room1", blanks[i]);
        rf_has(got, "type=\"error\"");
        rf_has(got, "<error type=\"modify\">" RF_ERR("jid-malformed"));
        rf_has(got, "a nickname must have something visible in it");
        rf_lacks(got, "to=\"" RF_ALICE "\"");
    }
    unsigned rooms = muc_room_count(service_muc(rf_svc));
    const char *got = rf_join(RF_BOB, "newroom", "  ");
    rf_has(got, RF_ERR("jid-malformed"));
    ck_assert_uint_eq(muc_room_count(service_muc(rf_svc)), rooms);
    /* An empty nick is an address without a resource or an empty one. */
    got = rf_feed("<presence from='" RF_BOB "' to='room1@" RF_SVC "'>"
                  "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    rf_has(got, RF_ERR("jid-malformed"));
    ck_assert_uint_eq(muc_occupant_count(service_muc(rf_svc)), 1);
}
END_TEST

/* Look-alikes of a nick someone else holds are that nick: conflict (7.2.9). */
START_TEST(lookalike_refused_on_join)
{
    rf_make_room("room1", NULL);
    static const char *const alikes[] = {"alice", "ALICE", "Al ice",
                                         "\xD0\x90lice", /* Cyrillic A */
                                         "Alice\xE3\x85\xA4"};
    for (size_t i = 0; i < sizeof alikes / sizeof alikes[0]; i++) {
        const char *got = rf_join(RF_BOB, "room1", alikes[i]);
        rf_has(got, "<error type=\"cancel\">" RF_ERR("conflict"));
        rf_has(got, "that nickname looks like one in use");
        rf_lacks(got, "to=\"" RF_ALICE "\"");
    }
    ck_assert_uint_eq(muc_occupant_count(service_muc(rf_svc)), 1);
    /* The same nick exactly is the old conflict; a fullwidth A is that
     * nick already (Resourceprep's NFKC, in the router). */
    rf_has(rf_join(RF_BOB, "room1", "Alice"), "that nickname is in use");
    rf_has(rf_join(RF_BOB, "room1", "\xEF\xBC\xA1lice"), "that nickname is in use");
    /* Alice herself may take a variant from another client. */
    rf_has(rf_join("alice@example.org/phone", "room1", "alice"), "<status code=\"110\"/>");
    /* Someone else's different nick is fine. */
    rf_has(rf_join(RF_BOB, "room1", "Alicia"), "<status code=\"110\"/>");
}
END_TEST

/* A nick change (7.6) follows the same rules; one's own nick in other
 * capitals is not a look-alike of someone else's. */
START_TEST(lookalike_refused_on_nick_change)
{
    rf_make_room("room1", NULL);
    rf_join(RF_BOB, "room1", "Bob");
    const char *got = rf_feed("<presence from='" RF_BOB "' to='room1@" RF_SVC "/aIice'/>");
    rf_lacks(got, RF_ERR("conflict")); /* capital I is not l: not folded */
    got = rf_feed("<presence from='" RF_BOB "' to='room1@" RF_SVC "/ALICE'/>");
    rf_has(got, RF_ERR("conflict"));
    rf_has(got, "that nickname looks like one in use");
    got = rf_feed("<presence from='" RF_BOB "' to='room1@" RF_SVC "/   '/>");
    rf_has(got, RF_ERR("jid-malformed"));
    got = rf_feed("<presence from='" RF_BOB "' to='room1@" RF_SVC "/AIICE'/>");
    rf_has(got, "<status code=\"303\"/>");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_nicks");
    TCase *tc = tcase_create("nicks");
    tcase_add_checked_fixture(tc, rf_setup, rf_teardown);
    tcase_add_test(tc, fold_keys);
    tcase_add_test(tc, blank_nicks);
    tcase_add_test(tc, blank_nick_refused_on_join);
    tcase_add_test(tc, lookalike_refused_on_join);
    tcase_add_test(tc, lookalike_refused_on_nick_change);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
