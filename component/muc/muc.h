/* muc: multi-user chat rooms (XEP-0045) on the component; what the rest of
 * the component sees of them.
 *
 * Inside, a core and features, as in Prosody's plugins/muc: room.c is the
 * model (rooms, occupants, affiliations, history ring, identifiers), muc.c
 * the service object and the dispatch, fanout.c how a room writes to its
 * occupants, and one file per feature with a header of its own: presence.c
 * (joining, leaving, nick changes), message.c (groupchat, subject, private
 * messages, invitations), history.c (replay), disco.c (the directory and
 * room info), search.c (XEP-0433), owner.c (configuration), admin.c (roles
 * and affiliations), mam.c (archive queries), moderation.c (retraction),
 * iqfwd.c (IQs between occupants), recheck.c (occupants checked after a
 * restart), sanction.c (what the desk does in rooms), nick.c (nickname
 * rules), voice.c (voice requests), avatar.c (the room's vCard avatar). Persistence is
 * store.c, occstore.c and persist.c, which the model reaches only through
 * its change hook.
 *
 * Ownership: muc_route borrows the stanza context; the muc owns its rooms. */
#ifndef STOA_MUC_H
#define STOA_MUC_H

#include <stdbool.h>
#include <stdint.h>

#include "jid.h"
#include "out.h"
#include "router.h"
#include "xml.h"

typedef struct muc muc;

typedef struct muc_config {
    const char *domain;        /* the service's normalized domain */
    const char *const *topics; /* NULL-terminated topic categories offered to owners */
    unsigned history_default;  /* messages of history a new room keeps */
    unsigned history_max;      /* the most an owner may configure */
    unsigned max_rooms;        /* 0: unlimited */
    uint64_t seed;             /* stanza and occupant id seed; 0: random (tests fix it) */
    double (*now)(void);       /* wall clock in seconds; NULL: the real one */
    int links_policy;          /* linkpol_action for strangers' links; 0: deliver */
    double stranger_seconds;   /* how long a newcomer without affiliation is a stranger */
    double recheck_rate;       /* occupant checks sent a second (recheck); 0: 100 */
    double recheck_timeout;    /* seconds a check may go unanswered; 0: 30 */
} muc_config;

/* Copies what it keeps of cfg. NULL on OOM. */
muc *muc_new(const muc_config *cfg, const out *sink);
void muc_free(muc *m);

/* A stanza to room@service or room@service/nick (ud: the muc); always
 * handles it. */
bool muc_route(void *ud, const stanza_ctx *c);
/* The rows the rooms add to the service's router (ud: the muc): rooms and
 * occupants, channel search on the service, and their disco#info
 * features. They go after the desk's (reports to rooms are the desk's). */
#define MUC_ROUTES 7
extern const router_route muc_routes[MUC_ROUTES];

/* disco#items on the service itself (node may be NULL): public rooms, or
 * those of one topic. Appends <item/>s to query. Returns false when the
 * node is unknown. */
bool muc_disco_items(muc *m, const char *node, xml_node *query);

/* Persists rooms, occupants and archives through store (see store.h): its
 * change hook is set on the rooms; NULL: memory only. The muc borrows it. */
struct muc_store;
void muc_set_store(muc *m, struct muc_store *store);

/* Per-user blocking (safety/ublock.h); NULL: none. The muc borrows it. */
struct ublock;
void muc_set_ublock(muc *m, struct ublock *ub);
/* Real-time block lists (safety/rtbl.h); NULL: none. The muc borrows it.
 * A listed sender without affiliation in a room may not join it nor send
 * to it (members, admins and owners are exempt, as in Prosody's
 * mod_muc_rtbl). */
struct rtbl;
void muc_set_rtbl(muc *m, struct rtbl *t);
/* Whether the full JID `full` is in room `local` (the gate tells joins from
 * presence changes). */
bool muc_is_occupant(muc *m, const char *local, const char *full);
/* The limit the owner of room `local` (prepared) set on the messages one
 * person may send there, per minute (x-stoa#message_rate); 0: none. */
unsigned muc_room_message_rate(muc *m, const char *local);

/* The component is stopping. announce: every occupant is told the service
 * is going down (status 332) and leaves, in Redis too, so the next start
 * seats nobody. Otherwise nobody is told anything and the occupants stay in
 * Redis for the next start to seat again and check (a restart users do not
 * notice). Either way the muc writes nothing more to the store. */
void muc_shutdown(muc *m, bool announce);

/* ---- Occupants after a restart or a lost link (recheck.c) ----
 * Occupants seated again from Redis at start, or every occupant once a lost
 * link to the host server is back (presence sent to the room meanwhile was
 * bounced), are checked: the room pings each session's client (XEP-0199,
 * and disco#info when the ping is refused as unknown), keeps those who
 * answer without a word to anyone, and removes the rest with status 333, as
 * Prosody and ejabberd remove an occupant whose client bounces. */
/* Queues every occupant for a check (the link is back after a loss). */
void muc_recheck_all(muc *m);
/* Sends the next checks, paced at recheck_rate a second, and removes the
 * occupants whose check timed out. Call it every tenth of a second or so
 * while the link is up; returns false once no check is waiting or in
 * flight. */
bool muc_recheck_tick(muc *m);
/* The link went down: checks in flight are sent again once it is back. */
void muc_recheck_pause(muc *m);

/* ---- Safety actions for the abuse desk (sanction.c) ----
 * Addresses are normalized: room_jid "room@service", bare "user@host".
 * Returned strings and arrays are the caller's to free. */
/* Whether bare is an admin or owner of the room (may act on it). */
bool muc_may_manage(muc *m, const char *room_jid, const char *bare);
/* Rooms bare administers or owns, as a NULL-terminated array (NULL on OOM,
 * an empty array when none). */
char **muc_managed_rooms(muc *m, const char *bare);
bool muc_room_exists(muc *m, const char *room_jid);
/* The owners of room_jid (bare JIDs of people), as a NULL-terminated array
 * (NULL on OOM, an empty array when there is no such room). */
char **muc_room_owners(muc *m, const char *room_jid);
/* The real bare JID behind "room@service/nick", NULL when nobody by that
 * nick is in the room. */
char *muc_occupant_real(muc *m, const char *occupant_jid);
/* The real bare JID of whoever wrote the history message `sid` in the room,
 * when that person is in the room now; else NULL. */
char *muc_message_author(muc *m, const char *room_jid, const char *sid);
/* XEP-0421 occupant id of bare in room_jid. */
void muc_occupant_id_of(const muc *m, const char *room_jid, const char *bare, char out[33]);
/* The id Stoa 0.1.0 and earlier gave (two SipHash-1-3 words, not a MAC), which
 * messages archived then still carry: only for finding those (the desk's
 * erase), never to hand out. */
void muc_occupant_id_legacy(const muc *m, const char *room_jid, const char *bare, char out[33]);
/* A stable keyed pseudonym of s (32 hex digits) that reveals nothing
 * without the service secret; `purpose` separates uses. */
void muc_pseudonym(const muc *m, const char *purpose, const char *s, char out[33]);
/* Sends every occupant whose real bare JID is `who` (or, with domain true,
 * whose JID is in domain `who`) out of room_jid (NULL: every room) with
 * status 301 (banned) or 307 (kicked). Returns how many occupants left. */
unsigned muc_expel(muc *m, const char *room_jid, const char *who, bool domain, int code,
                   const char *actor, const char *reason);
/* Makes bare an outcast of room_jid and sends them out (301). -1: no room. */
int muc_ban_from_room(muc *m, const char *room_jid, const char *bare, const char *reason);
/* Revokes voice (role visitor) of bare in room_jid (NULL: every room);
 * room admins and owners keep theirs unless `all_rooms`. Returns count. */
unsigned muc_silence(muc *m, const char *room_jid, const char *bare, const char *reason);
/* Calls cb for every room this instance holds. */
void muc_each_room(muc *m, void (*cb)(void *ud, const char *room_jid), void *ud);
/* Erases bare from the rooms in memory: affiliations (except where bare is
 * a room's only owner: kept, counted in *kept_owner) and its messages in
 * the replay history (replaced by a tombstone). Returns affiliations
 * dropped; *history gets the history messages erased. */
unsigned muc_erase_jid(muc *m, const char *bare, unsigned *history, unsigned *kept_owner);

/* Statistics for logs and benchmarks. */
unsigned muc_room_count(const muc *m);
unsigned muc_occupant_count(const muc *m);

#endif
