/* voice: voice requests (XEP-0045 7.13) and their approval (8.6). A
 * visitor sends the room a muc#request form; every moderator gets the
 * approval form built from it; a moderator who submits it with
 * muc#request_allow true grants the visitor voice (8.3).
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_VOICE_H
#define STOA_MUC_VOICE_H

#include "muc/room.h"

/* A message to the room: takes it (and returns true) when it carries a
 * muc#request form, answering errors itself; false leaves it to
 * message.c. */
bool muc_voice_message(muc *m, muc_room *r, const stanza_ctx *c);

#endif
