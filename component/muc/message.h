/* message: groupchat messages, subject changes, private messages and
 * mediated invitations (XEP-0045 7.4, 7.5, 7.8.2, 8.1), with the strangers'
 * link policy (safety/linkpol.h) and per-user blocking (safety/ublock.h).
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_MESSAGE_H
#define STOA_MUC_MESSAGE_H

#include "muc/room.h"

void muc_message(muc *m, muc_room *r, const stanza_ctx *c);
/* Sends the current subject (always, even empty) to one session. */
void muc_subject_send(muc_room *r, buf *b, const muc_session *to);

#endif
