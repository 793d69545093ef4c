/* room: the MUC core's data model: the service's rooms, their occupants,
 * sessions, affiliations, configuration and history ring, and the
 * identifiers the service derives. Shared by the files of muc/ and by
 * nothing else (the rest of the component sees only muc.h).
 *
 * The model sends nothing and stores nothing. What must be kept when the
 * model changes reaches persistence through one hook (muc_changed, below),
 * which the store sets (persist.c); the feature files say what changed,
 * never how it is stored. Each feature has a header of its own, and they
 * depend on each other one way: see muc.c.
 *
 * Ownership: a muc owns its rooms; a room owns its occupants, sessions,
 * affiliation entries and history. Hash map keys point into the values they
 * index (occupant->nick, session->jid, aff->jid, room->local). A change
 * event borrows everything it names for the call. */
#ifndef STOA_MUC_ROOM_H
#define STOA_MUC_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hmap.h"
#include "muc.h"
#include "ns.h"
#include "stanza.h"

typedef enum { AFF_NONE = 0, AFF_OUTCAST, AFF_MEMBER, AFF_ADMIN, AFF_OWNER } muc_aff;
typedef enum { ROLE_NONE = 0, ROLE_VISITOR, ROLE_PARTICIPANT, ROLE_MODERATOR } muc_role;
/* Who may send private messages, see real JIDs, change the subject. */
typedef enum { WHO_ANYONE = 0, WHO_PARTICIPANTS, WHO_MODERATORS, WHO_NOBODY } muc_who;

typedef struct muc_room_config {
    char *name;
    char *description;
    char *lang;
    char *topic;    /* one of the service's topic categories, or NULL */
    char *password; /* NULL: none */
    bool persistent;
    bool public;
    bool members_only;
    bool moderated;
    bool allow_invites;  /* may participants invite? (moderators always may) */
    bool change_subject; /* may participants change the subject? */
    muc_who whois;       /* WHO_ANYONE (non-anonymous) or WHO_MODERATORS */
    muc_who allow_pm;
    unsigned max_users; /* 0: unlimited */
    unsigned history_length;
    int stranger_links; /* 0: the service's [links] policy; else linkpol_action + 1 */
    /* x-stoa#message_rate: messages a minute one person may send here, on
     * top of the service's [ratelimit]; 0: no limit of the room's own. */
    unsigned message_rate;
} muc_room_config;

/* The most x-stoa#message_rate may say: 100 a second is beyond any limit
 * worth setting, and keeps the bucket's numbers small. */
#define MUC_MESSAGE_RATE_MAX 6000

typedef struct muc_occupant muc_occupant;

/* One client session (full real JID) in the room. */
typedef struct muc_session {
    char *jid;      /* normalized full real JID; key of room->by_jid */
    char *jid_attr; /* jid escaped for an XML attribute, for fan-out */
    char *pres;     /* serialized presence payload (show, status, caps...) */
    muc_occupant *occ;
    /* Seated again from Redis after a restart (or kept across a lost link)
     * and not yet heard from: recheck.c asks its client. */
    bool unverified;
} muc_session;

struct muc_occupant {
    char *nick;      /* key of room->by_nick */
    char *bare;      /* normalized real bare JID */
    char *from_attr; /* "room@service/nick", escaped for an attribute */
    muc_role role;
    char occupant_id[33]; /* XEP-0421, stable per room and real bare JID */
    muc_session **sessions;
    size_t nsessions;
    size_t index;               /* position in room->occupants */
    double joined;              /* muc_now() when the occupant came in */
    struct ublock_list *blocks; /* whom this person blocks (safety/ublock.h) */
    char *fold;                 /* owned: the nick's look-alike key (nick.c), made on first use */
};

typedef struct muc_aff_entry {
    char *jid; /* bare JID (or a domain); key of room->affs */
    muc_aff aff;
    char *reason;
} muc_aff_entry;

typedef struct muc_history_entry {
    char *nick;
    char *payload; /* serialized message children (body, etc.) */
    char *stanza_id;
    char occupant_id[33];
    double stamp;
} muc_history_entry;

typedef struct muc_room {
    struct muc *svc;
    char *local;    /* normalized node; key of svc->rooms */
    char *jid;      /* local@service */
    char *jid_attr; /* escaped */
    muc_room_config cfg;
    bool locked;              /* created and not yet configured by its owner */
    hmap by_nick;             /* nick -> muc_occupant */
    hmap by_jid;              /* full real JID -> muc_session */
    hmap affs;                /* bare JID -> muc_aff_entry */
    muc_occupant **occupants; /* dense, for fan-out */
    size_t noccupants, occ_cap;
    char *subject;              /* NULL: never set */
    char *subject_by;           /* nick */
    muc_history_entry *history; /* ring of cfg.history_length */
    size_t hist_cap, hist_len, hist_head;
    double created;
    char *occ_key; /* owned: occstore.c's key for its occupants, made on first use */
    /* The room's avatar (avatar.c): its vCard's PHOTO, NULL when none. */
    char *avatar_type;    /* "image/png", ... */
    char *avatar_b64;     /* the image in base64, without whitespace */
    char avatar_hash[41]; /* hex SHA-1 of the image (XEP-0153); "" when none */
} muc_room;

/* ---- what changed, for persistence ---- */

typedef enum {
    MUC_ROOM_STATE,     /* configuration, affiliations or subject; a room created */
    MUC_ROOM_GONE,      /* the room is about to be freed: destroyed, or reaped empty */
    MUC_ROOM_OCCUPIED,  /* someone joined the room while it was empty */
    MUC_OCCUPANT,       /* o joined, or its presence, nickname or role changed */
    MUC_SESSION_JOINED, /* s joined under an occupant already present */
    MUC_SESSION_LEFT,   /* the session `full` left; emptied: nobody is left */
    MUC_MESSAGE,        /* e was said in the room */
    MUC_RETRACTED,      /* the message `sid` was retracted */
} muc_change_kind;

typedef struct muc_change {
    muc_change_kind kind;
    muc_room *room;
    const muc_occupant *occupant;   /* MUC_OCCUPANT */
    const muc_session *session;     /* MUC_SESSION_JOINED */
    const char *full;               /* MUC_SESSION_LEFT */
    bool emptied;                   /* MUC_SESSION_LEFT */
    const muc_history_entry *entry; /* MUC_MESSAGE */
    const char *sid;                /* MUC_RETRACTED */
} muc_change;

typedef void (*muc_change_fn)(void *ud, const muc_change *c);

struct muc_store;

struct muc {
    char *domain;
    struct muc_store *store; /* NULL: rooms live in memory only (mam.c reads it) */
    muc_change_fn on_change; /* NULL: nothing is kept */
    void *change_ud;
    char **topics; /* NULL-terminated copy */
    unsigned history_default, history_max, max_rooms;
    double (*now)(void);
    uint64_t id_key[2]; /* keys stanza-ids and occupant-ids */
    uint64_t next_seq;
    hmap rooms; /* local -> muc_room */
    out sink;
    unsigned occupants;
    struct ublock *ublock; /* NULL: no per-user blocking */
    struct rtbl *rtbl;     /* NULL: no real-time block lists */
    int links_policy;      /* linkpol_action */
    double stranger_seconds;
    struct muc_recheck *recheck; /* owned: checks of occupants after a restart */
    size_t unverified;           /* sessions not yet heard from (recheck.c) */
};

/* ---- the service's rooms ---- */
muc_room *muc_room_get(muc *m, const char *local);
/* "local@service" -> the room, when it is one of ours. */
muc_room *muc_room_by_jid(muc *m, const char *room_jid);
muc_room *muc_room_create(muc *m, const char *local, const char *owner_bare);
void muc_room_destroy(muc_room *r);
/* Drops a temporary room that has nobody left in it (MUC_ROOM_GONE).
 * Returns true if gone. */
bool muc_room_reap(muc_room *r);
void muc_room_config_free(muc_room_config *c);

/* Tells the hook (if any) what changed. */
void muc_changed(muc *m, const muc_change *c);
/* The same for a change that names the room alone (MUC_ROOM_STATE,
 * MUC_ROOM_GONE, MUC_ROOM_OCCUPIED). */
void muc_room_changed(muc_room *r, muc_change_kind kind);
void muc_set_change_hook(muc *m, muc_change_fn fn, void *ud);

/* ---- affiliations and roles ---- */
muc_aff muc_room_aff(const muc_room *r, const char *bare);
int muc_room_set_aff(muc_room *r, const char *bare, muc_aff aff, const char *reason);
/* Whether bare is on a real-time block list and not affiliated with the
 * room (members, admins and owners are exempt): its joins and messages are
 * refused. */
bool muc_room_rtbl_refuses(const muc_room *r, const char *bare);
#define MUC_RTBL_TEXT "you are banned from this service"
/* How many owners the room has: nobody may take away the last one. */
size_t muc_room_owner_count(const muc_room *r);
muc_role muc_room_default_role(const muc_room *r, muc_aff aff);

/* ---- occupants and sessions ---- */
muc_occupant *muc_occupant_by_nick(const muc_room *r, const char *nick);
muc_session *muc_session_by_jid(const muc_room *r, const char *full);
muc_occupant *muc_occupant_add(muc_room *r, const char *nick, const char *bare);
muc_session *muc_session_add(muc_room *r, muc_occupant *o, const char *full);
/* Removes one session (MUC_SESSION_LEFT); the occupant goes too when it
 * was its last. */
void muc_session_remove(muc_room *r, muc_session *s);
void muc_occupant_remove(muc_room *r, muc_occupant *o);
int muc_occupant_rename(muc_room *r, muc_occupant *o, const char *nick);
/* A session seated again and not yet heard from (recheck.c asks it), and
 * settled: muc_session_settle returns whether it was unverified. */
void muc_session_unverify(muc *m, muc_session *s);
bool muc_session_settle(muc *m, muc_session *s);

/* ---- the history ring (what history.c replays, the archive's newest) ---- */
void muc_history_add(muc_room *r, const muc_occupant *o, const char *payload, const char *stanza_id,
                     double stamp);
/* The i-th oldest entry (i < r->hist_len). */
muc_history_entry *muc_history_at(const muc_room *r, size_t i);
void muc_history_resize(muc_room *r, unsigned n);
void muc_history_free(muc_room *r);

/* ---- identifiers ---- */
/* Every identifier the service derives from its secret (m->id_key):
 * HMAC-SHA-256 (RFC 2104, GnuTLS) of label and the fields that follow up to
 * a NULL, each ended by a NUL byte (none can contain one, so two field
 * lists never hash the same text), under the 16-byte key. Writes the first
 * hexlen (at most 64) hex digits and a NUL to out; returns 0, or -1 with
 * out "" when GnuTLS failed. Each use has a label of its own. */
int muc_mac(const muc *m, char *out, size_t hexlen, const char *label, ...)
    __attribute__((sentinel));
/* The XEP-0421 occupant id of bare in room_jid (the desk needs it for
 * people who are not in the room now): muc_mac "occupant-id", 32 digits. */
void muc_occupant_id_for(const muc *m, const char *room_jid, const char *bare, char out[33]);
/* Whether s has the form of the stanza-ids this service hands out (16 lower
 * hex digits), before it is used to page or to delete. */
bool muc_valid_stanza_id(const char *s);
/* A fresh stanza-id, unique and increasing within the service. */
void muc_new_stanza_id(muc *m, char out[17]);
double muc_now(const muc *m);

/* ---- names ---- */
const char *muc_aff_name(muc_aff a);
const char *muc_role_name(muc_role r);
const char *muc_who_name(muc_who w);
int muc_aff_parse(const char *s, muc_aff *out);
int muc_role_parse(const char *s, muc_role *out);
int muc_who_parse(const char *s, muc_who *out);

#endif
