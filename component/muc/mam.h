/* mam: message archive queries on a room (XEP-0313 with XEP-0059 paging),
 * from the room's archive in the store, or from its history in memory
 * without one.
 *
 * Ownership: everything is borrowed for the call; an answer that waits for
 * Redis keeps copies of what it needs. */
#ifndef STOA_MUC_MAM_H
#define STOA_MUC_MAM_H

#include "muc/room.h"

void muc_mam(muc *m, muc_room *r, const stanza_ctx *c);
/* The archive's first and last message ids and times (XEP-0313 5). */
void muc_mam_metadata(muc *m, muc_room *r, const stanza_ctx *c);

#endif
