/* presence: joining, leaving, nick changes and presence updates (XEP-0045
 * 7.1-7.4, 7.6, 7.14), and how an occupant's presence is written. Builds
 * on the history (replayed on joining) and the subject (message.h).
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_PRESENCE_H
#define STOA_MUC_PRESENCE_H

#include "muc/room.h"

/* A presence to room@service/nick; r is NULL when no such room exists yet
 * (a join creates it). */
void muc_presence(muc *m, muc_room *r, const stanza_ctx *c);
/* Presence of occupant o as seen by `to`, with extra status codes;
 * extra_item is more of the <item/> (attributes, or children when it
 * starts with '>'), extra_x more of the <x/>. Appended to b. */
void muc_presence_write(muc_room *r, buf *b, const muc_occupant *o, const muc_session *to,
                        const char *type, const int *codes, size_t ncodes, const char *extra_item,
                        const char *extra_x);
/* Broadcasts o's presence to everyone (with 110 to o's own sessions); an
 * available one is what a restart must know (MUC_OCCUPANT). */
void muc_presence_broadcast(muc_room *r, const muc_occupant *o, const char *type, const int *codes,
                            size_t ncodes, const char *extra_item, const char *extra_x);
/* Takes session s out of the room, as leaving does: its own sessions are
 * told (110 and codes), and everyone else when it was the occupant's last
 * session; a temporary room left empty goes. */
void muc_session_leave(muc_room *r, muc_session *s, const int *codes, size_t ncodes);

#endif
