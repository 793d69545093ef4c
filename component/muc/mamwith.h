/* mamwith: a room's archive filtered by sender (the XEP-0313 'with' field
 * naming an occupant JID, room@service/nick).
 *
 * The archive is one Redis stream per room with no index by sender, so the
 * filter walks the stream in batches (one Redis round trip each, the loop
 * free in between) until the page holds max matches and one more is seen,
 * the stream ends, or MUC_MAM_WITH_SCAN entries were looked at. In the
 * last case the page is what was found, not complete, and resume names
 * the last entry looked at, so the client's next query (RSM after it, or
 * before it when paging backwards) carries on from there.
 *
 * Ownership: q, room_jid and nick are copied; rows passed to the callback
 * are borrowed for the call. */
#ifndef STOA_MUC_MAMWITH_H
#define STOA_MUC_MAMWITH_H

#include "muc/store.h"

/* Entries looked at per query, at most, and per Redis round trip. */
#define MUC_MAM_WITH_SCAN 5000
#define MUC_MAM_WITH_BATCH 500

/* rows: the page, oldest first; resume: NULL, or the id to report at the
 * open end of the page (RSM <last> going forwards, <first> backwards). */
typedef void (*muc_mam_with_cb)(void *ud, muc_store_result res, muc_history_entry *rows, size_t n,
                                bool complete, const char *resume);
/* Returns -1 when Redis is not up (the callback will not run). */
int muc_mam_with_query(muc_store *s, const char *room_jid, const muc_store_query *q,
                       const char *nick, muc_mam_with_cb cb, void *ud);

#endif
