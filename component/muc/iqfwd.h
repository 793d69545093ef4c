/* iqfwd: IQs between occupants, forwarded under the occupants' room
 * addresses with the asker sealed into the id (see iqfwd.c).
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_IQFWD_H
#define STOA_MUC_IQFWD_H

#include "muc/room.h"

/* An IQ to room/nick: a request is forwarded to that occupant, an answer
 * to a forwarded request goes back to the asker. */
void muc_iq_to_occupant(muc *m, muc_room *r, const stanza_ctx *c);

#endif
