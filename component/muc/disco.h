/* disco: a room's service discovery (its disco#info with muc#roominfo, and
 * its occupants as items where anyone may see them). The service's own
 * directory is muc_disco_items (muc.h).
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_DISCO_H
#define STOA_MUC_DISCO_H

#include "muc/room.h"

void muc_room_disco(muc *m, muc_room *r, const stanza_ctx *c);

#endif
