/* keys: every Redis key Stoa reads or writes, in one place.
 *
 * A key is the [redis] prefix, a stem below, and for most keys the object
 * it is about (written <...> after each stem). C code makes keys with
 * keys_make or keys_format; the Lua scripts that build keys inside Redis
 * paste the same stems into their text (KEY_MUTE in "p..'" KEY_MUTE
 * "'..tgt"), so a stem is spelled here and nowhere else.
 * schemas/redis-keys.md mirrors this file row by row, with each key's
 * type, expiry, writers, readers and contents: change both together.
 *
 * Both daemons share one Redis, so the gateway's keys will come here too
 * (under a stem of their own, e.g. "gw:").
 *
 * Ownership: keys_make returns a string the caller frees. */
#ifndef STOA_KEYS_H
#define STOA_KEYS_H

#include <stddef.h>

/* ---- safety: what the gate enforces (lib/safety, the desk) ---- */
#define KEY_BAN_JID "safety:ban:jid:"                 /* <bare JID>: string, the ban's reason */
#define KEY_BAN_DOMAIN "safety:ban:domain:"           /* <domain>: string, the block's reason */
#define KEY_MUTE "safety:mute:"                       /* <bare JID>: string, the mute's reason */
#define KEY_SPAM_DOMAINS "safety:spamdomains"         /* set of domains */
#define KEY_SPAM_LOADING "safety:spamdomains:loading" /* the list being replaced */
/* A pub/sub channel, not a key: the desk publishes a domain it has just
 * blocked (KEY_BAN_DOMAIN set first), so every gateway closes its streams. */
#define KEY_BLOCKS_CHANNEL "safety:blocked"
/* Token buckets: KEY_RATE <class> KEY_RATE_JID <bare JID>,
 * KEY_RATE <class> KEY_RATE_DOMAIN <domain>, and a room's own limit
 * KEY_RATE <class> KEY_RATE_ROOM <room JID> KEY_RATE_JID <bare JID>. */
#define KEY_RATE "safety:rl:"
#define KEY_RATE_JID ":jid:"
#define KEY_RATE_DOMAIN ":dom:"
#define KEY_RATE_ROOM ":room:"
#define KEY_RATE_VIOLATIONS "safety:rlv:" /* <bare JID>: refusals in the window */
#define KEY_UBLOCK "safety:ublock:"       /* <owner's bare JID>: set, whom they block */
/* Real-time block lists (lib/safety/rtbl.c): KEY_RTBL_ITEMS <service>/<node>
 * is a set of the node's item ids, KEY_RTBL_NODES a hash of the nodes
 * mirrored (<service>/<node> -> "hashes" or "domains"), KEY_RTBL_SERIAL a
 * counter raised at every change, which readers poll. */
#define KEY_RTBL_ITEMS "safety:rtbl:items:"
#define KEY_RTBL_LOADING "safety:rtbl:loading:" /* <service>/<node>: the set being replaced */
#define KEY_RTBL_NODES "safety:rtbl:nodes"
#define KEY_RTBL_SERIAL "safety:rtbl:serial"

/* ---- muc: the rooms (component/muc) ---- */
#define KEY_MUC_ROOMS "muc:rooms"   /* set of persistent rooms' JIDs */
#define KEY_MUC_ROOM "muc:room:"    /* <room JID>: string, the room's state document */
#define KEY_MUC_LOG "muc:log:"      /* <room JID>: stream, the archive */
#define KEY_MUC_OCC "muc:occ:"      /* <room JID>: hash, one record per session */
#define KEY_MUC_LIVE "muc:live:"    /* <service domain>: set of rooms with occupants */
#define KEY_MUC_SECRET "muc:secret" /* string, the key of every derived identifier */

/* ---- desk: reports and the audit log (component/desk) ---- */
#define KEY_DESK_REPORT "desk:report:"           /* <report id>: hash */
#define KEY_DESK_OPEN "desk:open"                /* sorted set of open reports */
#define KEY_DESK_BY_TARGET "desk:by-target:"     /* <JID>: set of report ids */
#define KEY_DESK_BY_REPORTER "desk:by-reporter:" /* <pseudonym>: set of report ids */
#define KEY_DESK_REPORTERS "desk:reporters:"     /* <JID>: sorted set of reporters */
#define KEY_DESK_FLOOD "desk:flood:"             /* <pseudonym>: reports this minute */
#define KEY_DESK_AUDIT "desk:audit"              /* stream, the audit log */

/* ---- roster: group rosters (component/roster) ---- */
#define KEY_ROSTER_GROUPS "roster:groups"    /* set of group names */
#define KEY_ROSTER_MEMBERS "roster:members:" /* <group>: set of members' bare JIDs */
#define KEY_ROSTER_SHOWN "roster:shown:"     /* <group>: set of groups it is displayed to */
#define KEY_ROSTER_GIVEN "roster:given:"     /* <user's bare JID>: hash, contact -> groups */

/* prefix, stem and who (NULL: none) as one new string; NULL on OOM. */
char *keys_make(const char *prefix, const char *stem, const char *who);
/* The same into out; -1 when it does not fit in n bytes. */
int keys_format(char *out, size_t n, const char *prefix, const char *stem, const char *who);

/* A room's archive (KEY_MUC_LOG) is a stream whose entry ids are the
 * messages' stanza-ids: a stanza-id is 16 lower-case hex digits,
 * (milliseconds << 12 | counter), and its entry id "milliseconds-counter".
 * Each returns 0, or -1 when its input does not have that form. */
int keys_entry_of_sid(const char *sid, char *out, size_t n);
int keys_sid_of_entry(const char *entry, char out[17]);

#endif
