/* owner: the owner protocol (XEP-0045 10): the room configuration form,
 * instant rooms, and destroying a room.
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_OWNER_H
#define STOA_MUC_OWNER_H

#include "muc/room.h"

void muc_owner(muc *m, muc_room *r, const stanza_ctx *c);
/* Tells every occupant the room is gone (with an optional alternate venue
 * and reason), then destroys it (MUC_ROOM_GONE). */
void muc_room_destroy_announced(muc_room *r, const char *alt, const char *reason);

#endif
