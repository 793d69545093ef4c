/* What the rooms keep in Redis, from what changed in them: the model tells
 * its change hook (room.h), and this turns each change into the store's
 * writes (store.c for rooms and archives, occstore.c for occupants). */
#include "muc/occstore.h"
#include "muc/store.h"

void muc_persist_change(void *ud, const muc_change *c)
{
    muc_store *st = ud;
    muc_room *r = c->room;
    switch (c->kind) {
    case MUC_ROOM_STATE:
        muc_store_save_room(st, r);
        break;
    case MUC_ROOM_GONE:
        muc_store_drop_room(st, r->jid);
        break;
    case MUC_ROOM_OCCUPIED:
        muc_occstore_joined(st, r);
        break;
    case MUC_OCCUPANT:
        muc_occstore_save(st, r, c->occupant);
        break;
    case MUC_SESSION_JOINED:
        muc_occstore_save_session(st, r, c->session);
        break;
    case MUC_SESSION_LEFT:
        muc_occstore_forget(st, r, c->full, c->emptied);
        break;
    case MUC_MESSAGE:
        muc_store_archive(st, r, c->entry);
        break;
    case MUC_RETRACTED:
        muc_store_forget(st, r->jid, c->sid);
        break;
    }
}
