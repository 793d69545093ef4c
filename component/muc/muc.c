/* The rooms as a service: the muc object, its life, and the dispatch of
 * every stanza addressed to a room or an occupant to the feature that
 * answers it.
 *
 * muc/ is a core and features. room.c is the model; fanout.c writes what
 * the rooms send; every feature file includes the model, fanout.h and the
 * headers of the features it builds on, never one that builds on it:
 * history and message (the subject) under presence; presence under admin,
 * owner and recheck; admin under sanction; the store (store.c, occstore.c,
 * persist.c) beside them, reached by the model only through its change
 * hook. This file alone includes them all. */
#include "muc/muc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "muc/admin.h"
#include "muc/avatar.h"
#include "muc/disco.h"
#include "muc/fanout.h"
#include "muc/iqfwd.h"
#include "muc/mam.h"
#include "muc/message.h"
#include "muc/moderation.h"
#include "muc/owner.h"
#include "muc/presence.h"
#include "muc/recheck.h"
#include "muc/room.h"
#include "muc/search.h"
#include "muc/store.h"
#include "muc/voice.h"
#include "xtime.h"

/* ---- the service ---- */

muc *muc_new(const muc_config *cfg, const out *sink)
{
    muc *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->domain = strdup(cfg->domain);
    size_t nt = 0;
    while (cfg->topics && cfg->topics[nt])
        nt++;
    m->topics = calloc(nt + 1, sizeof *m->topics);
    if (!m->domain || !m->topics) {
        muc_free(m);
        return NULL;
    }
    for (size_t i = 0; i < nt; i++) {
        if (!(m->topics[i] = strdup(cfg->topics[i]))) {
            muc_free(m);
            return NULL;
        }
    }
    m->history_default = cfg->history_default;
    m->history_max = cfg->history_max;
    m->max_rooms = cfg->max_rooms;
    m->now = cfg->now ? cfg->now : xtime_wall;
    if (cfg->seed) {
        m->id_key[0] = cfg->seed;
        m->id_key[1] = cfg->seed * 0x9E3779B97F4A7C15ULL;
    } else if (getrandom(m->id_key, sizeof m->id_key, 0) != (ssize_t)sizeof m->id_key) {
        m->id_key[0] = (uint64_t)xtime_wall();
        m->id_key[1] = (uint64_t)(uintptr_t)m;
    }
    m->sink = *sink;
    m->links_policy = cfg->links_policy;
    m->stranger_seconds = cfg->stranger_seconds;
    m->recheck = muc_recheck_new(cfg->recheck_rate, cfg->recheck_timeout);
    if (!m->recheck) {
        muc_free(m);
        return NULL;
    }
    return m;
}

void muc_free(muc *m)
{
    if (!m)
        return;
    size_t it = 0;
    void *v;
    /* Destroying edits the map; collect first. */
    while (m->rooms.count && hmap_next(&m->rooms, &it, NULL, &v)) {
        muc_room_destroy(v);
        it = 0;
    }
    hmap_free(&m->rooms);
    muc_recheck_free(m->recheck);
    for (size_t i = 0; m->topics && m->topics[i]; i++)
        free(m->topics[i]);
    free(m->topics);
    free(m->domain);
    free(m);
}

void muc_set_ublock(muc *m, struct ublock *ub)
{
    m->ublock = ub;
}

void muc_set_rtbl(muc *m, struct rtbl *t)
{
    m->rtbl = t;
}

void muc_set_store(muc *m, struct muc_store *store)
{
    m->store = store;
    muc_set_change_hook(m, store ? muc_persist_change : NULL, store);
}

bool muc_is_occupant(muc *m, const char *local, const char *full)
{
    muc_room *r = muc_room_get(m, local);
    return r && muc_session_by_jid(r, full);
}

unsigned muc_room_message_rate(muc *m, const char *local)
{
    muc_room *r = muc_room_get(m, local);
    return r ? r->cfg.message_rate : 0;
}

unsigned muc_room_count(const muc *m)
{
    return (unsigned)m->rooms.count;
}

unsigned muc_occupant_count(const muc *m)
{
    return m->occupants;
}

static void write_going(void *ud, buf *b, const muc_occupant *p, const muc_session *to)
{
    static const int c332[] = {110, 332};
    muc_presence_write(ud, b, p, to, "unavailable", c332, 2, NULL, NULL);
}

void muc_shutdown(muc *m, bool announce)
{
    /* Leaving edits the map of rooms: collect first. */
    size_t n = 0, it = 0;
    void *v;
    muc_room **rooms = announce && m->rooms.count ? calloc(m->rooms.count, sizeof *rooms) : NULL;
    while (rooms && hmap_next(&m->rooms, &it, NULL, &v))
        rooms[n++] = v;
    for (size_t i = 0; i < n; i++) {
        muc_room *r = rooms[i];
        /* Each is told of its own departure only: everyone's to everyone
         * would be the square of a room's size. */
        muc_fanout(r, NULL, write_going, r);
        while (r->noccupants)
            muc_occupant_remove(r, r->occupants[r->noccupants - 1]);
        muc_room_reap(r);
    }
    free(rooms);
    /* From here the records in Redis stay as they are: freeing the rooms
     * at exit is not everyone leaving. */
    muc_set_store(m, NULL);
}

/* ---- dispatch ---- */

static void ping(muc *m, muc_room *r, const stanza_ctx *c)
{
    (void)r;
    muc_result(m, c->st);
}

/* What a room answers itself, by the IQ's payload. */
typedef struct room_iq {
    const char *ns, *element; /* element NULL: any */
    bool get, set;
    void (*handle)(muc *m, muc_room *r, const stanza_ctx *c);
} room_iq;

static const room_iq room_iqs[] = {
    {NS_DISCO_INFO, NULL, true, true, muc_room_disco},
    {NS_DISCO_ITEMS, NULL, true, true, muc_room_disco},
    {NS_MUC_OWNER, NULL, true, true, muc_owner},
    {NS_MUC_ADMIN, NULL, true, true, muc_admin},
    {NS_MAM, "query", true, true, muc_mam},
    {NS_MAM, "metadata", true, false, muc_mam_metadata},
    {NS_MODERATE1, "moderate", false, true, muc_moderate},
    {NS_FASTEN, "apply-to", false, true, muc_moderate},
    {NS_PING, NULL, true, false, ping},
    {NS_VCARD, NULL, true, true, muc_avatar_iq},
};

static void handle_iq(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *st = c->st, *q = c->payload;
    bool get = c->type && strcmp(c->type, "get") == 0;
    bool set = c->type && strcmp(c->type, "set") == 0;
    if (!c->answer && ((!get && !set) || !q)) {
        muc_error(m, st, STANZA_ERR_BAD_REQUEST, NULL);
        return;
    }
    const char *ns = q && xml_ns(q) ? xml_ns(q) : "";
    if (c->to.resource) {
        /* XEP-0410: a ping to one's own occupant address tells a client
         * whether it is still joined; the room answers it. */
        muc_session *s = c->from_full ? muc_session_by_jid(r, c->from_full) : NULL;
        if (!c->answer && strcmp(ns, NS_PING) == 0 && s &&
            strcmp(s->occ->nick, c->to.resource) == 0)
            muc_result(m, st);
        else
            muc_iq_to_occupant(m, r, c);
        return;
    }
    if (c->answer)
        return; /* the room asks nothing, and answers are never answered */
    for (size_t i = 0; i < sizeof room_iqs / sizeof room_iqs[0]; i++) {
        const room_iq *ri = &room_iqs[i];
        if (strcmp(ns, ri->ns) == 0 && (!ri->element || strcmp(xml_name(q), ri->element) == 0) &&
            ((get && ri->get) || (set && ri->set))) {
            ri->handle(m, r, c);
            return;
        }
    }
    muc_error(m, st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
}

/* A session being checked (recheck.c) that sends something is there. Not
 * an error, nor an IQ answer: a server sends those for a session that is
 * gone, from its address. */
static void notice(muc *m, muc_room *r, const stanza_ctx *c)
{
    muc_session *s = !c->answer && c->from_full ? muc_session_by_jid(r, c->from_full) : NULL;
    if (s)
        muc_recheck_heard(m, s);
}

bool muc_route(void *ud, const stanza_ctx *c)
{
    muc *m = ud;
    muc_room *r = muc_room_get(m, c->to.local);
    if (r && m->unverified)
        notice(m, r, c);
    /* The answers to the room's own checks, before a locked room hides. */
    if (r && !c->to.resource && c->kind == STANZA_IQ && muc_recheck_answer(m, r, c))
        return true;
    if (c->kind == STANZA_PRESENCE) {
        /* presence.c creates rooms on first join. */
        muc_presence(m, r, c);
        return true;
    }
    /* A locked room (created, not yet configured) exists only for its
     * owner, who is configuring it. */
    bool hidden = !r || (r->locked && (!c->from_bare || c->kind != STANZA_IQ ||
                                       muc_room_aff(r, c->from_bare) != AFF_OWNER));
    if (hidden)
        muc_error(m, c->st, STANZA_ERR_ITEM_NOT_FOUND, "no such room");
    else if (c->kind != STANZA_MESSAGE)
        handle_iq(m, r, c);
    else if (!muc_voice_message(m, r, c))
        muc_message(m, r, c);
    return true;
}

static bool search_route(void *ud, const stanza_ctx *c)
{
    muc_search(ud, c->st, c->payload);
    return true;
}

const router_route muc_routes[MUC_ROUTES] = {
    {0, 0, NULL, NULL, NULL, NS_MUC},
    {0, 0, NULL, NULL, NULL, NS_SID},
    {0, 0, NULL, NULL, NULL, NS_OCCUPANT_ID},
    /* XEP-0045 7.4: reflected messages keep their id, "on both the service
     * domain and on individual MUCs". */
    {0, 0, NULL, NULL, NULL, NS_MUC_STABLE_ID},
    /* XEP-0486: the service's rooms have avatars (avatar.c). */
    {0, 0, NULL, NULL, NULL, NS_VCARD},
    /* Rooms and occupants: everything, answers too (an occupant's answer
     * to an IQ the room forwarded, a client's to the room's own check). */
    {ROUTE_ANY | ROUTE_IQ_ANSWER, ROUTE_TO_NODES, NULL, NULL, muc_route, NULL},
    {ROUTE_IQ, ROUTE_TO_SERVICE, NS_CHANNEL_SEARCH, "search", search_route, NS_CHANNEL_SEARCH},
};
