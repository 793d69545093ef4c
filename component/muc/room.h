/* room: the MUC core's data model, shared by the feature files of muc/ and
 * by nothing else (the rest of the component sees only muc.h).
 *
 * Ownership: a muc owns its rooms; a room owns its occupants, sessions,
 * affiliation entries and history. Hash map keys point into the values they
 * index (occupant->nick, session->jid, aff->jid, room->local). */
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
    char *occ_key; /* owned: its occupants' key in Redis, made on first use */
} muc_room;

struct muc_store;

struct muc {
    char *domain;
    struct muc_store *store; /* NULL: rooms live in memory only */
    char **topics;           /* NULL-terminated copy */
    unsigned history_default, history_max, max_rooms;
    double (*now)(void);
    uint64_t id_key[2]; /* keys stanza-ids and occupant-ids */
    uint64_t next_seq;
    hmap rooms; /* local -> muc_room */
    out sink;
    unsigned occupants;
    struct ublock *ublock; /* NULL: no per-user blocking */
    int links_policy;      /* linkpol_action */
    double stranger_seconds;
    struct muc_recheck *recheck; /* owned: checks of occupants after a restart */
};

/* ---- room.c: the core ---- */
muc_room *muc_room_get(muc *m, const char *local);
/* "local@service" -> the room, when it is one of ours. */
muc_room *muc_room_by_jid(muc *m, const char *room_jid);
muc_room *muc_room_create(muc *m, const char *local, const char *owner_bare);
void muc_room_destroy(muc_room *r);
/* Drops a temporary room that has nobody left in it. Returns true if gone. */
bool muc_room_reap(muc_room *r);

muc_aff muc_room_aff(const muc_room *r, const char *bare);
int muc_room_set_aff(muc_room *r, const char *bare, muc_aff aff, const char *reason);
/* How many owners the room has: nobody may take away the last one. */
size_t muc_room_owner_count(const muc_room *r);
muc_role muc_room_default_role(const muc_room *r, muc_aff aff);

muc_occupant *muc_occupant_by_nick(const muc_room *r, const char *nick);
muc_session *muc_session_by_jid(const muc_room *r, const char *full);
muc_occupant *muc_occupant_add(muc_room *r, const char *nick, const char *bare);
muc_session *muc_session_add(muc_room *r, muc_occupant *o, const char *full);
/* Removes one session; the occupant goes too when it was its last. */
void muc_session_remove(muc_room *r, muc_session *s);
void muc_occupant_remove(muc_room *r, muc_occupant *o);
int muc_occupant_rename(muc_room *r, muc_occupant *o, const char *nick);
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

const char *muc_aff_name(muc_aff a);
const char *muc_role_name(muc_role r);
const char *muc_who_name(muc_who w);
int muc_aff_parse(const char *s, muc_aff *out);
int muc_role_parse(const char *s, muc_role *out);
int muc_who_parse(const char *s, muc_who *out);

/* Sends every session in the room a message from the room itself:
 * <message from="ROOM" to="SESSION" followed by `rest` (which must close
 * the start tag's last attribute quote and the message). */
void muc_room_notice(muc_room *r, const char *rest, size_t len);
/* Replies with an error from the room (or the occupant address `from`). */
void muc_error(muc *m, const xml_node *st, stanza_error e, const char *text);
/* Answers an IQ with an empty result. */
void muc_result(muc *m, const xml_node *iq);
/* Sends a tree. */
void muc_send(muc *m, const xml_node *st);

/* ---- presence.c ---- */
void muc_presence(muc *m, muc_room *r, const xml_node *st, const jid *from, const jid *to);
/* Presence of occupant o as seen by `viewer` (NULL: as broadcast to
 * non-moderators), with extra status codes; appended to b. */
void muc_presence_write(muc_room *r, buf *b, const muc_occupant *o, const muc_session *to,
                        const char *type, const int *codes, size_t ncodes, const char *extra_item,
                        const char *extra_x);
/* Broadcasts o's presence to everyone (with 110 to o's own sessions). */
void muc_presence_broadcast(muc_room *r, const muc_occupant *o, const char *type, const int *codes,
                            size_t ncodes, const char *extra_item, const char *extra_x);

/* Takes session s out of the room, as leaving does: its own sessions are
 * told (110 and codes), and everyone else when it was the occupant's last
 * session; a temporary room left empty goes. */
void muc_session_leave(muc_room *r, muc_session *s, const int *codes, size_t ncodes);

/* ---- recheck.c: after a restart or a lost link ---- */
struct muc_recheck *muc_recheck_new(double rate, double timeout);
void muc_recheck_free(struct muc_recheck *rc);
/* Marks s unverified and queues a check of its client. */
void muc_recheck_add(muc *m, muc_room *r, muc_session *s);
/* s was heard from: it is in the room after all. */
void muc_recheck_heard(muc *m, muc_session *s);
/* s needs no check any more (heard from, or leaving). */
void muc_recheck_settle(muc *m, muc_session *s);
/* An IQ answer addressed to a room: true when it answers one of our checks
 * (and has been handled). */
bool muc_recheck_answer(muc *m, muc_room *r, const xml_node *iq, const jid *from);
/* How many sessions wait to be heard from. */
size_t muc_recheck_unverified(const muc *m);

/* ---- message.c ---- */
void muc_message(muc *m, muc_room *r, const xml_node *st, const jid *from, const jid *to);
/* Sends the current subject (always, even empty) to one session. */
void muc_subject_send(muc_room *r, buf *b, const muc_session *to);

/* ---- history.c ---- */
void muc_history_add(muc_room *r, const muc_occupant *o, const char *payload, const char *stanza_id,
                     double stamp);
/* Replays history to a joining session, honouring the <history/> limits of
 * its join presence (hist may be NULL). */
void muc_history_send(muc_room *r, buf *b, const muc_session *to, const xml_node *hist);
void muc_history_resize(muc_room *r, unsigned n);
void muc_history_free(muc_room *r);

/* ---- disco.c ---- */
void muc_room_disco(muc *m, muc_room *r, const xml_node *iq, const xml_node *q);

/* ---- owner.c ---- */
void muc_owner(muc *m, muc_room *r, const xml_node *iq, const xml_node *q, const jid *from);
void muc_room_config_free(muc_room_config *c);
/* Tells every occupant the room is gone (with an optional alternate venue
 * and reason), then destroys it. */
void muc_room_destroy_announced(muc *m, muc_room *r, const char *alt, const char *reason);

/* ---- mam.c ---- */
void muc_mam(muc *m, muc_room *r, const xml_node *iq, const xml_node *q, const jid *from);

/* ---- moderation.c ---- */
bool muc_is_moderation(const xml_node *q);
void muc_moderate(muc *m, muc_room *r, const xml_node *iq, const xml_node *q, const jid *from);

/* ---- search.c ---- */
void muc_search(muc *m, const xml_node *iq, const xml_node *q);

/* ---- iqfwd.c ---- */
/* An IQ to room/nick: a request is forwarded to that occupant, an answer
 * to a forwarded request goes back to the asker. */
void muc_iq_to_occupant(muc *m, muc_room *r, const xml_node *st, const jid *from, const jid *to);

/* ---- admin.c ---- */
/* The rest of an <item/> in a presence that sends someone away:
 * "><actor nick='..'/><reason>..</reason></item>" (actor and an empty reason
 * left out). Caller frees; NULL on OOM. */
char *muc_item_children(const char *actor, const char *reason);
/* Sends o away with a status (307 kicked, 301 banned, 321 no longer a
 * member), actor and reason, and removes it; the room is not reaped. */
void muc_occupant_expel(muc_room *r, muc_occupant *o, int code, const char *actor,
                        const char *reason);
void muc_admin(muc *m, muc_room *r, const xml_node *iq, const xml_node *q, const jid *from);

#endif
