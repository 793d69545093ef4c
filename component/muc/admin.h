/* admin: the admin protocol (XEP-0045 8, 9): roles (kick, voice,
 * moderator) and affiliations (ban, member, admin, owner lists), and
 * sending an occupant away, which the desk's sanctions use too.
 *
 * Ownership: everything is borrowed for the call; strings returned are the
 * caller's. */
#ifndef STOA_MUC_ADMIN_H
#define STOA_MUC_ADMIN_H

#include "muc/room.h"

void muc_admin(muc *m, muc_room *r, const stanza_ctx *c);
/* The rest of an <item/> in a presence that sends someone away:
 * "><actor nick='..'/><reason>..</reason></item>" (actor and an empty reason
 * left out). Caller frees; NULL on OOM. */
char *muc_item_children(const char *actor, const char *reason);
/* Sends o away with a status (307 kicked, 301 banned, 321 no longer a
 * member), actor and reason, and removes it; the room is not reaped. */
void muc_occupant_expel(muc_room *r, muc_occupant *o, int code, const char *actor,
                        const char *reason);

#endif
