/* The room service the check_muc_* unit tests of issue 14 run against: a
 * service with a fixed clock and id seed whose output goes to a buffer,
 * and the few steps every room test takes (literal stanza in, literal
 * output back).
 *
 * Ownership: rf_feed's result lives until the next call or rf_teardown. */
#ifndef STOA_ROOMS_FIXTURE_H
#define STOA_ROOMS_FIXTURE_H

#include "service.h"

#define RF_SVC "rooms.example.org"
#define RF_ALICE "alice@example.org/pc"
#define RF_BOB "bob@example.org/phone"
#define RF_CAROL "carol@example.org/web"
#define RF_ERR(cond) "<" cond " xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"

extern service *rf_svc;

void rf_setup(void);
void rf_teardown(void);
/* Feeds one stanza (as on the component stream); returns what came out. */
const char *rf_feed(const char *in);
/* rf_feed of a printf format. */
const char *rf_feedf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Alice (RF_ALICE, nick Alice) creates `room` as an instant room, with the
 * muc#roomconfig fields given as "<field …/>…" (NULL: none). */
void rf_make_room(const char *room, const char *fields);
/* full joins room under nick; returns the output. */
const char *rf_join(const char *full, const char *room, const char *nick);
/* How many times needle occurs in hay. */
unsigned rf_count(const char *hay, const char *needle);

#define rf_has(got, part)                                                                          \
    ck_assert_msg(strstr((got), (part)) != NULL, "expected\n  %s\nin\n  %s", (part), (got))
#define rf_lacks(got, part)                                                                        \
    ck_assert_msg(strstr((got), (part)) == NULL, "did not expect\n  %s\nin\n  %s", (part), (got))

#endif
