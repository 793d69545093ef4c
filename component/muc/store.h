/* store: persistent rooms and room archives in Redis.
 *
 * Persistent rooms (configuration, affiliations, subject) are kept as one
 * small XML document per room, and every room's messages in a Redis stream
 * whose entry ids are the messages' stanza-ids, so archive paging (MAM with
 * RSM) maps directly onto XRANGE/XREVRANGE. The key layout is written down
 * in schemas/redis-keys.md.
 *
 * Writes made while Redis is away are queued (up to a bound) and sent when
 * it returns, so a Redis restart loses nothing that fits in the queue.
 *
 * Ownership: the store borrows the rdb connection; callers keep rooms. */
#ifndef STOA_MUC_STORE_H
#define STOA_MUC_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "keys.h"
#include "muc/room.h"
#include "rdb.h"

typedef struct muc_store muc_store;

/* prefix: the [redis] prefix; archive_max: messages kept per room. */
muc_store *muc_store_new(rdb *r, const char *prefix, unsigned archive_max, size_t queue_max);
void muc_store_free(muc_store *s);
/* Call when Redis becomes reachable: flushes queued writes. */
void muc_store_redis_up(muc_store *s);

/* Saves a room's state: a persistent room for good; a temporary one while
 * it has occupants, so that a restart can seat them again. */
void muc_store_save_room(muc_store *s, const muc_room *r);
/* Forgets a room, its archive and its occupants. */
void muc_store_drop_room(muc_store *s, const char *room_jid);
void muc_store_archive(muc_store *s, const muc_room *r, const muc_history_entry *e);
/* Removes one message (by stanza-id) from a room's archive. */
void muc_store_forget(muc_store *s, const char *room_jid, const char *stanza_id);

/* Loads every persistent room into m (rooms already present are kept as
 * they are). done runs once with the number of rooms loaded, or -1 when
 * Redis could not be asked. */
void muc_store_load(muc_store *s, muc *m, void (*done)(void *ud, int rooms), void *ud);

/* An archive query: rows come back oldest first. */
typedef struct muc_store_query {
    const char *after;  /* stanza-id, exclusive; NULL: none */
    const char *before; /* stanza-id, exclusive; NULL: none */
    bool last_page;     /* RSM <before/> empty: the newest page */
    double start, end;  /* time bounds (seconds); <0: none */
    unsigned max;
    /* after/before are a scan's own cursor (mamwith.c), already seen in
     * the archive: not checked again, so a message retracted in between
     * does not end the scan with item-not-found. */
    bool cursor;
} muc_store_query;
typedef enum {
    MUC_STORE_ROWS,    /* rows[0..n) is the page */
    MUC_STORE_FAILED,  /* Redis failed or went away: no answer */
    MUC_STORE_UNKNOWN, /* after or before names no message in the archive */
} muc_store_result;
/* rows (NULL unless MUC_STORE_ROWS) is borrowed for the call; complete says
 * no more rows lie beyond the page in the direction of the query. */
typedef void (*muc_store_rows_cb)(void *ud, muc_store_result res, muc_history_entry *rows, size_t n,
                                  bool complete);
/* after and before must have the form of a stanza-id (muc_valid_stanza_id);
 * whether the archive holds them is checked in the same script as the page
 * (XEP-0313 4.1.3, 4.3.2). Returns -1 when Redis is not up (the callback
 * will not run). */
int muc_store_query_archive(muc_store *s, const char *room_jid, const muc_store_query *q,
                            muc_store_rows_cb cb, void *ud);

/* For the other writers of the store's keys (occstore.c): sends a write
 * now or queues it behind those waiting for Redis, so every write reaches
 * Redis in the order it was made. */
void muc_store_write(muc_store *s, int argc, const char **argv);
/* The key {prefix}<stem><jid> (stem a KEY_MUC_* of keys.h; jid NULL:
 * none); caller frees; NULL on OOM. */
char *muc_store_key(const muc_store *s, const char *stem, const char *jid);
/* The set of rooms with occupants on room_jid's service domain. */
char *muc_store_live_key(const muc_store *s, const char *room_jid);
rdb *muc_store_rdb(const muc_store *s);

/* The rooms' change hook (room.h) when they are kept in store (ud): every
 * change becomes the writes that keep Redis in step (persist.c). */
void muc_persist_change(void *ud, const muc_change *c);

/* Room state as a document, and back: exposed for tests. */
char *muc_room_state(const muc_room *r);
muc_room *muc_room_restore(muc *m, const char *state, size_t len);

#endif
