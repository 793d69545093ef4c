/* muc: multi-user chat rooms (XEP-0045) on the component.
 *
 * The room core (room.c) keeps rooms, occupants and affiliations; each
 * feature lives in its own file, as in Prosody's plugins/muc: presence.c
 * (joining, leaving, nick changes), message.c (groupchat, subject, private
 * messages), history.c (discussion history), disco.c (the directory and room
 * info), owner.c (room configuration) and admin.c (roles and affiliations).
 *
 * Ownership: muc_handle borrows the stanza; the muc owns its rooms. */
#ifndef STOA_MUC_H
#define STOA_MUC_H

#include <stdbool.h>
#include <stdint.h>

#include "jid.h"
#include "out.h"
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
} muc_config;

/* Copies what it keeps of cfg. NULL on OOM. */
muc *muc_new(const muc_config *cfg, const out *sink);
void muc_free(muc *m);

/* A stanza to room@service or room@service/nick. `from` and `to` are the
 * stanza's addresses, already parsed and normalized. */
void muc_handle(muc *m, const xml_node *stanza, const jid *from, const jid *to);

/* disco#items on the service itself (node may be NULL): public rooms, or
 * those of one topic. Appends <item/>s to query. Returns false when the
 * node is unknown. */
bool muc_disco_items(muc *m, const char *node, xml_node *query);
/* An XEP-0433 channel search addressed to the service: true when q is one
 * (and has been answered). */
bool muc_search_handle(muc *m, const xml_node *iq, const xml_node *q);
/* Features and extra identities the service adds to its own disco#info. */
void muc_disco_info(muc *m, xml_node *query);

/* Persists rooms and archives through store (see store.h); NULL: memory
 * only. The muc borrows it. */
struct muc_store;
void muc_set_store(muc *m, struct muc_store *store);

/* Per-user blocking (safety/ublock.h); NULL: none. The muc borrows it. */
struct ublock;
void muc_set_ublock(muc *m, struct ublock *ub);
/* Whether the full JID `full` is in room `local` (the gate tells joins from
 * presence changes). */
bool muc_is_occupant(muc *m, const char *local, const char *full);

/* Tells every occupant the service is going down (status 332) before the
 * link closes. */
void muc_shutdown(muc *m);

/* Statistics for logs and benchmarks. */
unsigned muc_room_count(const muc *m);
unsigned muc_occupant_count(const muc *m);

#endif
