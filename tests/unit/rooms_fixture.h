/* What the check_muc_* programs of issue 14 (nicks, voice, avatar, audit)
 * add to the shared room fixture (mucfix.h): a room made with
 * configuration fields, printf-style input, a join that returns its output,
 * and the assertions they use. The service, its clock and the output are
 * mucfix's.
 *
 * Ownership: rf_feed's result is mucfix's `last`, valid until the next
 * stanza is fed. */
#ifndef STOA_ROOMS_FIXTURE_H
#define STOA_ROOMS_FIXTURE_H

#include "mucfix.h"

#define RF_SVC SVC
#define RF_ALICE ALICE
#define RF_BOB BOB
#define RF_CAROL CAROL
#define RF_ERR(cond) STANZA_ERR(cond)
#define rf_svc svc
#define rf_setup mucfix_setup
#define rf_teardown mucfix_teardown
#define rf_feed feed

/* rf_feed of a printf format. */
const char *rf_feedf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Alice (RF_ALICE, nick Alice) creates `room` as an instant room, with the
 * muc#roomconfig fields given as "<field …/>…" (NULL: none). */
void rf_make_room(const char *room, const char *fields);
/* full joins room under nick (with the MUC <x/>); returns the output. */
const char *rf_join(const char *full, const char *room, const char *nick);
/* How many times needle occurs in hay. */
unsigned rf_count(const char *hay, const char *needle);

#define rf_has(got, part)                                                                          \
    ck_assert_msg(strstr((got), (part)) != NULL, "expected\n  %s\nin\n  %s", (part), (got))
#define rf_lacks(got, part)                                                                        \
    ck_assert_msg(strstr((got), (part)) == NULL, "did not expect\n  %s\nin\n  %s", (part), (got))

#endif
