/* recheck: checks of occupants the service is not sure of (after a restart
 * or a lost link), see recheck.c. What the daemon calls is in muc.h
 * (muc_recheck_all, _tick, _pause).
 *
 * Ownership: the muc owns its muc_recheck; everything else is borrowed. */
#ifndef STOA_MUC_RECHECK_H
#define STOA_MUC_RECHECK_H

#include "muc/room.h"

struct muc_recheck *muc_recheck_new(double rate, double timeout);
void muc_recheck_free(struct muc_recheck *rc);
/* Marks s unverified and queues a check of its client. */
void muc_recheck_add(muc *m, muc_room *r, muc_session *s);
/* s was heard from: it is in the room after all. */
void muc_recheck_heard(muc *m, muc_session *s);
/* An IQ answer addressed to a room: true when it answers one of our checks
 * (and has been handled). */
bool muc_recheck_answer(muc *m, muc_room *r, const stanza_ctx *c);

#endif
