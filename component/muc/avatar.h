/* avatar: a room's avatar (XEP-0486, on XEP-0054 and XEP-0153). The room's
 * vCard (vcard-temp on the room JID) holds one PHOTO: anyone may read it,
 * only owners set or remove it. The image must be PNG, JPEG, GIF or WebP,
 * of that type indeed (its first bytes), and at most MUC_AVATAR_MAX bytes;
 * it is kept with the room's state (store.c). Its SHA-1 is the room's
 * muc#roominfo_avatarhash (disco.c); a change is announced with status 104
 * and a presence from the room carrying the XEP-0153 hash, for clients
 * that learned rooms' avatars that way (Converse.js fetches again on it).
 *
 * Ownership: everything is borrowed for the call; the room owns its copy. */
#ifndef STOA_MUC_AVATAR_H
#define STOA_MUC_AVATAR_H

#include "muc/room.h"

/* The largest image a room takes, decoded: four times what XEP-0153 asks
 * clients to publish (8 KiB), room enough for the 96-192 pixel images
 * clients make, and small beside the room's state, which carries it. */
#define MUC_AVATAR_MAX (32 * 1024)

/* A vcard-temp get or set on the room. */
void muc_avatar_iq(muc *m, muc_room *r, const stanza_ctx *c);
/* Gives r the avatar read back from the store (type and base64 as stored),
 * checked as a new one is; -1 (the room keeps none) when it is not one. */
int muc_avatar_restore(muc_room *r, const char *type, const char *b64);

#endif
