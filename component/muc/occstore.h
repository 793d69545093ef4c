/* occstore: who is in which room, kept in Redis as it changes, so that a
 * restarted component seats everyone again instead of dropping them (their
 * clients would still believe they are in, and their next message would be
 * refused). recheck.c then asks each client whether it is still there.
 *
 * One hash per room holds a record per session (field: the real full JID;
 * value: an <s/> document with the nickname, role, time of joining,
 * occupant id and presence payload), and one set per service domain lists
 * the rooms that have records, so an instance reads only its own domain's
 * rooms. A join costs one HSET (and an SADD when the room was empty), a
 * presence change or a new role one HSET, a departure one HDEL, all pipelined with the store's
 * other writes (and queued with them while Redis is away); a message costs nothing. The key layout
 * is in schemas/redis-keys.md.
 *
 * Ownership: every function borrows the store (NULL: nothing is kept) and
 * the rooms; records returned are the caller's to free. */
#ifndef STOA_MUC_OCCSTORE_H
#define STOA_MUC_OCCSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "muc/room.h"
#include "muc/store.h"

/* Writes the records of every session of o (after it joined, or its
 * presence, nickname or role changed). */
void muc_occstore_save(muc_store *st, muc_room *r, const muc_occupant *o);
/* Writes one session's record (another session joined under a nick). */
void muc_occstore_save_session(muc_store *st, muc_room *r, const muc_session *s);
/* r was empty and someone joined: lists r with the rooms that have
 * occupants. */
void muc_occstore_joined(muc_store *st, const muc_room *r);
/* Forgets the record of session `full`; emptied: it was r's last, and r
 * leaves the list. */
void muc_occstore_forget(muc_store *st, muc_room *r, const char *full, bool emptied);

/* Seats everyone recorded for m's service domain again, each session
 * marked unverified and queued for a check, and tidies what is left over:
 * records of rooms that are gone, temporary rooms nobody could be seated
 * in. Runs after muc_store_load. done gets the number of sessions seated,
 * or -1 when Redis could not be asked. */
void muc_occstore_load(muc_store *st, muc *m, void (*done)(void *ud, int sessions), void *ud);

/* A session's record, and back (exposed for tests). muc_occupant_restore
 * seats the session `full` in r as the record says, or returns NULL when
 * the record is unreadable or the seat cannot be given (the session or
 * nickname is taken by someone else, or the person is no longer allowed
 * in). */
char *muc_occupant_record(const muc_session *s);
muc_session *muc_occupant_restore(muc_room *r, const char *full, const char *rec, size_t len);

#endif
