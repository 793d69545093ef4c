/* Room avatars (XEP-0486 on XEP-0054 and XEP-0153), muc/avatar.c: the
 * vCard on the room JID, owners only, the checks, the hash in disco#info and
 * in the room's presence, and the avatar kept with the room's state. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "muc/avatar.h"
#include "muc/muc.h"
#include "muc/room.h"
#include "muc/store.h"
#include "rooms_fixture.h"
#include "testutil.h"

/* A 2x2 PNG, and the hex SHA-1 of its bytes. */
#define PNG                                                                                        \
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEUlEQVR42mP4zwAEIOI/kAAAG/ID/"                \
    "SGOiJAAAAAASUVOR"                                                                             \
    "K5CYII="
#define PNG_SHA1 "2623da58d65b4c96abee96faed563e59fdee9429"
static const char png[] = PNG;

static const char *vcard_set(const char *from, const char *inner)
{
    return rf_feedf("<iq type='set' id='v1' from='%s' to='room1@" RF_SVC "'>"
                    "<vCard xmlns='vcard-temp'>%s</vCard></iq>",
                    from, inner);
}

static const char *photo_set(const char *type, const char *b64)
{
    return rf_feedf("<iq type='set' id='v1' from='" RF_ALICE "' to='room1@" RF_SVC "'>"
                    "<vCard xmlns='vcard-temp'><PHOTO><TYPE>%s</TYPE><BINVAL>%s</BINVAL></PHOTO>"
                    "</vCard></iq>",
                    type, b64);
}

static const char *vcard_get(const char *from)
{
    return rf_feedf("<iq type='get' id='g1' from='%s' to='room1@" RF_SVC "'>"
                    "<vCard xmlns='vcard-temp'/></iq>",
                    from);
}

static const char *room_info(void)
{
    return rf_feed("<iq type='get' id='d' from='" RF_BOB "' to='room1@" RF_SVC "'>"
                   "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
}

START_TEST(owner_sets_and_everyone_reads)
{
    rf_make_room("room1", NULL);
    rf_join(RF_BOB, "room1", "Bob");
    /* None yet: an empty vCard, no hash. */
    ck_assert_str_eq(vcard_get(RF_BOB), "<iq id=\"g1\" to=\"" RF_BOB "\" from=\"room1@" RF_SVC
                                        "\" type=\"result\"><vCard xmlns=\"vcard-temp\"/></iq>");
    rf_lacks(room_info(), "avatarhash");
    rf_has(room_info(), "<feature var=\"vcard-temp\"/>");
    /* The owner sets it (line breaks in BINVAL are allowed, XEP-0153). */
    const char *got = rf_feedf("<iq type='set' id='v1' from='" RF_ALICE "' to='room1@" RF_SVC "'>"
                               "<vCard xmlns='vcard-temp'><FN>ignored</FN><PHOTO><TYPE>image/png"
                               "</TYPE><BINVAL>%.40s\n%s</BINVAL></PHOTO></vCard></iq>",
                               png, png + 40);
    rf_has(got, "<iq id=\"v1\" to=\"" RF_ALICE "\" from=\"room1@" RF_SVC "\" type=\"result\"/>");
    /* 104 and the room's presence with the hash, to each occupant. */
    rf_has(got,
           "<message from=\"room1@" RF_SVC "\" to=\"" RF_BOB "\" type=\"groupchat\"><x "
           "xmlns=\"http://jabber.org/protocol/muc#user\"><status code=\"104\"/></x></message>");
    rf_has(got, "<presence from=\"room1@" RF_SVC "\" to=\"" RF_BOB "\"><x xmlns=\"vcard-temp:x:"
                "update\"><photo>" PNG_SHA1 "</photo></x></presence>");
    ck_assert_uint_eq(rf_count(got, "<photo>" PNG_SHA1), 2);
    ck_assert_str_eq(vcard_get(RF_CAROL),
                     "<iq id=\"g1\" to=\"" RF_CAROL "\" from=\"room1@" RF_SVC "\" type=\"result\">"
                     "<vCard xmlns=\"vcard-temp\"><PHOTO><TYPE>image/png</TYPE><BINVAL>" PNG
                     "</BINVAL></PHOTO></vCard></iq>");
    rf_has(room_info(), "<field var=\"muc#roominfo_avatarhash\" type=\"text-multi\" label=\"Avatar "
                        "hash\"><value>" PNG_SHA1 "</value></field>");
    /* An empty vCard removes it. */
    got = vcard_set(RF_ALICE, "");
    rf_has(got, "type=\"result\"");
    rf_has(got, "<x xmlns=\"vcard-temp:x:update\"><photo/></x>");
    rf_lacks(room_info(), "avatarhash");
    rf_has(vcard_get(RF_BOB), "<vCard xmlns=\"vcard-temp\"/>");
}
END_TEST

START_TEST(only_owners)
{
    rf_make_room("room1", NULL);
    rf_join(RF_BOB, "room1", "Bob");
    rf_feed("<iq type='set' id='a' from='" RF_ALICE "' to='room1@" RF_SVC "'><query "
            "xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='admin' "
            "jid='bob@example.org'/></query></iq>");
    static const char *const who[] = {RF_BOB, RF_CAROL};
    for (size_t i = 0; i < 2; i++) {
        const char *got =
            vcard_set(who[i], "<PHOTO><TYPE>image/png</TYPE><BINVAL>" PNG "</BINVAL></PHOTO>");
        rf_has(got, "<error type=\"auth\">" RF_ERR("forbidden"));
        rf_has(got, "only owners may change the room&apos;s avatar");
        rf_lacks(got, "vcard-temp:x:update");
    }
    rf_has(vcard_get(RF_BOB), "<vCard xmlns=\"vcard-temp\"/>");
}
END_TEST

/* Bad input: each a clear error, and nothing changes. */
START_TEST(bad_avatars)
{
    rf_make_room("room1", NULL);
    static const struct {
        const char *type, *b64, *cond, *text;
    } bad[] = {
        {"image/svg+xml", PNG, "not-acceptable",
         "a room&apos;s avatar is a PNG, JPEG, GIF or WebP image (TYPE)"},
        {"", PNG, "not-acceptable",
         "a room&apos;s avatar is a PNG, JPEG, GIF or WebP image (TYPE)"},
        {"image/jpeg", PNG, "not-acceptable", "the image is not of the TYPE it claims"},
        {"image/gif", "R0lG", "not-acceptable", "the image is not of the TYPE it claims"},
        {"image/png", "!!not base64!!", "bad-request", "BINVAL is not base64"},
        {"image/png", "iVBORw0KGgo", "bad-request", "BINVAL is not base64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *got = photo_set(bad[i].type, bad[i].b64);
        rf_has(got, bad[i].cond);
        rf_has(got, bad[i].text);
        rf_lacks(got, "vcard-temp:x:update");
    }
    /* Over 32 KiB, refused before it is decoded. */
    size_t n = 48 * 1024;
    char *big = malloc(n + 400);
    ck_assert_ptr_nonnull(big);
    int k = snprintf(big, 400,
                     "<iq type='set' id='v1' from='" RF_ALICE "' to='room1@" RF_SVC
                     "'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>"
                     "iVBORw0KGgo");
    memset(big + k, 'A', n);
    strcpy(big + k + n, "</BINVAL></PHOTO></vCard></iq>");
    const char *got = rf_feed(big);
    free(big);
    rf_has(got, "<error type=\"modify\">" RF_ERR("not-acceptable"));
    rf_has(got, "the image is larger than 32 KiB");
    /* A link instead of an image; something else than a vCard. */
    got = vcard_set(RF_ALICE, "<PHOTO><EXTVAL>https://example.org/a.png</EXTVAL></PHOTO>");
    rf_has(got, RF_ERR("not-acceptable"));
    rf_has(got, "not a link (EXTVAL)");
    got = rf_feed("<iq type='set' id='v2' from='" RF_ALICE "' to='room1@" RF_SVC "'>"
                  "<vcard xmlns='vcard-temp'/></iq>");
    rf_has(got, RF_ERR("bad-request"));
    rf_has(vcard_get(RF_BOB), "<vCard xmlns=\"vcard-temp\"/>");
    rf_lacks(room_info(), "avatarhash");
}
END_TEST

/* The avatar is part of the room's state (store.c), checked again when it
 * is read back: a damaged one is dropped and the room kept. */
START_TEST(kept_with_the_room)
{
    rf_make_room("room1", "<field var='muc#roomconfig_persistentroom'><value>1</value></field>");
    rf_has(photo_set("image/png", PNG), "type=\"result\"");
    muc *m = service_muc(rf_svc);
    muc_room *r = muc_room_get(m, "room1");
    ck_assert_ptr_nonnull(r);
    char *state = muc_room_state(r);
    ck_assert_ptr_nonnull(state);
    rf_has(state, "<avatar type=\"image/png\">" PNG "</avatar>");
    muc_room_destroy(r);
    r = muc_room_restore(m, state, strlen(state));
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->avatar_hash, PNG_SHA1);
    ck_assert_str_eq(r->avatar_type, "image/png");
    muc_room_destroy(r);
    char *bad = strstr(state, PNG);
    memcpy(bad, "AAAA", 4); /* no longer a PNG */
    r = muc_room_restore(m, state, strlen(state));
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->avatar_hash, "");
    ck_assert_ptr_null(r->avatar_type);
    free(state);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("muc_avatar");
    TCase *tc = tcase_create("avatar");
    tcase_add_checked_fixture(tc, rf_setup, rf_teardown);
    tcase_add_test(tc, owner_sets_and_everyone_reads);
    tcase_add_test(tc, only_owners);
    tcase_add_test(tc, bad_avatars);
    tcase_add_test(tc, kept_with_the_room);
    suite_add_tcase(s, tc);
    return mucfix_run(s);
}
