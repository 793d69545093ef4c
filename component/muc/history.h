/* history: discussion history (XEP-0045 7.2.15) replayed to a newcomer
 * within the limits its join asks for. The ring itself is the model's
 * (room.h).
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_HISTORY_H
#define STOA_MUC_HISTORY_H

#include "muc/room.h"

/* Appends the history `to` gets, honouring the <history/> limits of its
 * join presence (hist may be NULL), to b. */
void muc_history_send(muc_room *r, buf *b, const muc_session *to, const xml_node *hist);

#endif
