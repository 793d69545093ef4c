/* moderation: message moderation (XEP-0425), both versions clients send.
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_MODERATION_H
#define STOA_MUC_MODERATION_H

#include "muc/room.h"

/* A moderator's retraction (an IQ set whose payload is <moderate/> of :1 or
 * <apply-to/> of fasten:0). */
void muc_moderate(muc *m, muc_room *r, const stanza_ctx *c);

#endif
