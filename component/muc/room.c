/* The MUC core: the service's room registry, rooms, occupants, sessions and
 * affiliations, and routing of stanzas to the feature files. */
#include "room.h"
#include "occstore.h"
#include "store.h"

#include <gnutls/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "ns.h"
#include "safety/ublock.h"
#include "xtime.h"

double muc_now(const muc *m)
{
    return m->now();
}

static char *attr_escape(const char *s)
{
    buf b = BUF_INIT;
    if (buf_append_xml_escaped(&b, s, strlen(s)) < 0) {
        buf_free(&b);
        return NULL;
    }
    char *r = buf_strdup(&b);
    buf_free(&b);
    return r;
}

/* ---- service ---- */

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

void muc_set_ublock(muc *m, struct ublock *ub)
{
    m->ublock = ub;
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

void muc_set_store(muc *m, struct muc_store *store)
{
    m->store = store;
}

void muc_shutdown(muc *m, bool announce)
{
    static const int c332[] = {110, 332};
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
        buf *b = m->sink.begin(m->sink.ud);
        for (size_t k = 0; b && k < r->noccupants; k++) {
            const muc_occupant *o = r->occupants[k];
            for (size_t j = 0; j < o->nsessions; j++)
                muc_presence_write(r, b, o, o->sessions[j], "unavailable", c332, 2, NULL, NULL);
        }
        if (b)
            m->sink.commit(m->sink.ud);
        while (r->noccupants)
            muc_occupant_remove(r, r->occupants[r->noccupants - 1]);
        muc_room_reap(r);
    }
    free(rooms);
    /* From here the records in Redis stay as they are: freeing the rooms
     * at exit is not everyone leaving. */
    m->store = NULL;
}

unsigned muc_room_count(const muc *m)
{
    return (unsigned)m->rooms.count;
}

unsigned muc_occupant_count(const muc *m)
{
    return m->occupants;
}

void muc_send(muc *m, const xml_node *st)
{
    out_stanza(&m->sink, st);
}

void muc_result(muc *m, const xml_node *iq)
{
    xml_node *r = stanza_iq_result(iq);
    if (r) {
        muc_send(m, r);
        xml_free(r);
    }
}

void muc_error(muc *m, const xml_node *st, stanza_error e, const char *text)
{
    xml_node *r = stanza_error_reply(st, e, text, NULL);
    if (r) {
        muc_send(m, r);
        xml_free(r);
    }
}

bool muc_valid_stanza_id(const char *s)
{
    if (!s || strlen(s) != 16)
        return false;
    for (const char *c = s; *c; c++) {
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    }
    return true;
}

void muc_room_notice(muc_room *r, const char *rest, size_t len)
{
    buf *b = r->svc->sink.begin(r->svc->sink.ud);
    if (!b)
        return;
    for (size_t i = 0; i < r->noccupants; i++) {
        const muc_occupant *o = r->occupants[i];
        for (size_t j = 0; j < o->nsessions; j++) {
            buf_puts(b, "<message from=\"");
            buf_puts(b, r->jid_attr);
            buf_puts(b, "\" to=\"");
            buf_puts(b, o->sessions[j]->jid_attr);
            buf_append(b, rest, len);
        }
    }
    r->svc->sink.commit(r->svc->sink.ud);
}

void muc_new_stanza_id(muc *m, char out[17])
{
    /* Time-ordered (milliseconds in the high bits) and unique (a counter
     * below), so archive order and id order agree. */
    uint64_t t = (uint64_t)(muc_now(m) * 1000.0) << 12;
    m->next_seq = t > m->next_seq ? t : m->next_seq + 1;
    snprintf(out, 17, "%016llx", (unsigned long long)m->next_seq);
}

/* ---- names ---- */

static const char *const aff_names[] = {"none", "outcast", "member", "admin", "owner"};
static const char *const role_names[] = {"none", "visitor", "participant", "moderator"};
static const char *const who_names[] = {"anyone", "participants", "moderators", "none"};

const char *muc_aff_name(muc_aff a)
{
    return aff_names[a];
}

const char *muc_role_name(muc_role r)
{
    return role_names[r];
}

const char *muc_who_name(muc_who w)
{
    return who_names[w];
}

int muc_aff_parse(const char *s, muc_aff *out)
{
    for (int i = 0; i <= AFF_OWNER; i++) {
        if (s && strcmp(s, aff_names[i]) == 0) {
            *out = (muc_aff)i;
            return 0;
        }
    }
    return -1;
}

int muc_role_parse(const char *s, muc_role *out)
{
    for (int i = 0; i <= ROLE_MODERATOR; i++) {
        if (s && strcmp(s, role_names[i]) == 0) {
            *out = (muc_role)i;
            return 0;
        }
    }
    return -1;
}

int muc_who_parse(const char *s, muc_who *out)
{
    for (int i = 0; i <= WHO_NOBODY; i++) {
        if (s && strcmp(s, who_names[i]) == 0) {
            *out = (muc_who)i;
            return 0;
        }
    }
    return -1;
}

/* ---- rooms ---- */

muc_room *muc_room_get(muc *m, const char *local)
{
    return hmap_get(&m->rooms, local);
}

muc_room *muc_room_by_jid(muc *m, const char *room_jid)
{
    const char *at = strchr(room_jid, '@');
    if (!at || strcmp(at + 1, m->domain) != 0)
        return NULL;
    char local[1024];
    size_t n = (size_t)(at - room_jid);
    if (n == 0 || n >= sizeof local)
        return NULL;
    memcpy(local, room_jid, n);
    local[n] = '\0';
    return muc_room_get(m, local);
}

muc_room *muc_room_create(muc *m, const char *local, const char *owner_bare)
{
    if (m->max_rooms && m->rooms.count >= m->max_rooms)
        return NULL;
    muc_room *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->svc = m;
    r->local = strdup(local);
    size_t n = strlen(local) + strlen(m->domain) + 2;
    r->jid = malloc(n);
    if (!r->local || !r->jid)
        goto fail;
    snprintf(r->jid, n, "%s@%s", local, m->domain);
    r->jid_attr = attr_escape(r->jid);
    if (!r->jid_attr)
        goto fail;
    /* Defaults follow what Prosody and ejabberd ship: a temporary, public,
     * open, semi-anonymous room. */
    r->cfg.public = true;
    r->cfg.allow_invites = false;
    r->cfg.change_subject = false;
    r->cfg.whois = WHO_MODERATORS;
    r->cfg.allow_pm = WHO_ANYONE;
    r->cfg.history_length = m->history_default;
    r->created = muc_now(m);
    r->locked = true;
    muc_history_resize(r, r->cfg.history_length);
    if (owner_bare && muc_room_set_aff(r, owner_bare, AFF_OWNER, NULL) < 0)
        goto fail;
    if (hmap_put(&m->rooms, r->local, r) < 0)
        goto fail;
    return r;
fail:
    muc_history_free(r);
    free(r->local);
    free(r->jid);
    free(r->jid_attr);
    free(r);
    return NULL;
}

void muc_room_destroy(muc_room *r)
{
    while (r->noccupants)
        muc_occupant_remove(r, r->occupants[r->noccupants - 1]);
    hmap_del(&r->svc->rooms, r->local);
    size_t it = 0;
    void *v;
    while (hmap_next(&r->affs, &it, NULL, &v)) {
        muc_aff_entry *e = v;
        free(e->jid);
        free(e->reason);
        free(e);
    }
    hmap_free(&r->affs);
    hmap_free(&r->by_nick);
    hmap_free(&r->by_jid);
    free(r->occupants);
    muc_history_free(r);
    muc_room_config_free(&r->cfg);
    free(r->subject);
    free(r->subject_by);
    free(r->local);
    free(r->jid);
    free(r->jid_attr);
    free(r->occ_key);
    free(r);
}

bool muc_room_reap(muc_room *r)
{
    if (r->noccupants > 0 || r->cfg.persistent)
        return false;
    /* A temporary room's archive goes with it. */
    muc_store_drop_room(r->svc->store, r->jid);
    muc_room_destroy(r);
    return true;
}

/* ---- affiliations ---- */

muc_aff muc_room_aff(const muc_room *r, const char *bare)
{
    muc_aff_entry *e = hmap_get(&r->affs, bare);
    if (e)
        return e->aff;
    /* A ban or membership may name a whole domain. */
    const char *at = strchr(bare, '@');
    if (at && (e = hmap_get(&r->affs, at + 1)))
        return e->aff;
    return AFF_NONE;
}

size_t muc_room_owner_count(const muc_room *r)
{
    size_t n = 0, it = 0;
    void *v;
    while (hmap_next(&r->affs, &it, NULL, &v))
        n += ((const muc_aff_entry *)v)->aff == AFF_OWNER;
    return n;
}

int muc_room_set_aff(muc_room *r, const char *bare, muc_aff aff, const char *reason)
{
    muc_aff_entry *e = hmap_get(&r->affs, bare);
    if (aff == AFF_NONE) {
        if (e) {
            hmap_del(&r->affs, bare);
            free(e->jid);
            free(e->reason);
            free(e);
        }
        return 0;
    }
    char *rs = reason ? strdup(reason) : NULL;
    if (reason && !rs)
        return -1;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->jid = strdup(bare)) || hmap_put(&r->affs, e->jid, e) < 0) {
            if (e)
                free(e->jid);
            free(e);
            free(rs);
            return -1;
        }
    }
    e->aff = aff;
    free(e->reason);
    e->reason = rs;
    return 0;
}

muc_role muc_room_default_role(const muc_room *r, muc_aff aff)
{
    switch (aff) {
    case AFF_OWNER:
    case AFF_ADMIN:
        return ROLE_MODERATOR;
    case AFF_MEMBER:
        return ROLE_PARTICIPANT;
    case AFF_NONE:
        return r->cfg.moderated ? ROLE_VISITOR : ROLE_PARTICIPANT;
    case AFF_OUTCAST:
        break;
    }
    return ROLE_NONE;
}

/* ---- occupants and sessions ---- */

muc_occupant *muc_occupant_by_nick(const muc_room *r, const char *nick)
{
    return hmap_get(&r->by_nick, nick);
}

muc_session *muc_session_by_jid(const muc_room *r, const char *full)
{
    return hmap_get(&r->by_jid, full);
}

static char *occupant_from(const muc_room *r, const char *nick)
{
    size_t n = strlen(r->jid) + strlen(nick) + 2;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s/%s", r->jid, nick);
    char *e = attr_escape(s);
    free(s);
    return e;
}

int muc_mac(const muc *m, char *out, size_t hexlen, const char *label, ...)
{
    /* The key is the 16 bytes the secret's 32 hex digits spell, as Redis
     * keeps it ({p}muc:secret). */
    unsigned char key[16], mac[32];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)(m->id_key[i / 8] >> (56 - 8 * (i % 8)));
    out[0] = '\0';
    gnutls_hmac_hd_t h;
    if (hexlen > 2 * sizeof mac || gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, key, sizeof key) < 0)
        return -1;
    int rc = gnutls_hmac(h, label, strlen(label) + 1);
    va_list ap;
    va_start(ap, label);
    for (const char *f; rc >= 0 && (f = va_arg(ap, const char *));)
        rc = gnutls_hmac(h, f, strlen(f) + 1);
    va_end(ap);
    gnutls_hmac_deinit(h, mac);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < hexlen; i++)
        out[i] = "0123456789abcdef"[(mac[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    out[hexlen] = '\0';
    return 0;
}

void muc_occupant_id_for(const muc *m, const char *room_jid, const char *bare, char out[33])
{
    /* Keyed by the service secret, so the id is stable for one person in one
     * room yet reveals nothing about the real JID (XEP-0421 section 4). */
    muc_mac(m, out, 32, "occupant-id", room_jid, bare, (const char *)NULL);
}

muc_occupant *muc_occupant_add(muc_room *r, const char *nick, const char *bare)
{
    if (r->noccupants == r->occ_cap) {
        size_t cap = r->occ_cap ? r->occ_cap * 2 : 4;
        muc_occupant **a = realloc(r->occupants, cap * sizeof *a);
        if (!a)
            return NULL;
        r->occupants = a;
        r->occ_cap = cap;
    }
    muc_occupant *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->nick = strdup(nick);
    o->bare = strdup(bare);
    o->from_attr = occupant_from(r, nick);
    if (!o->nick || !o->bare || !o->from_attr || hmap_put(&r->by_nick, o->nick, o) < 0) {
        free(o->nick);
        free(o->bare);
        free(o->from_attr);
        free(o);
        return NULL;
    }
    muc_occupant_id_for(r->svc, r->jid, bare, o->occupant_id);
    o->joined = muc_now(r->svc);
    o->blocks = ublock_acquire(r->svc->ublock, o->bare);
    o->index = r->noccupants;
    r->occupants[r->noccupants++] = o;
    r->svc->occupants++;
    return o;
}

muc_session *muc_session_add(muc_room *r, muc_occupant *o, const char *full)
{
    muc_session **a = realloc(o->sessions, (o->nsessions + 1) * sizeof *a);
    if (!a)
        return NULL;
    o->sessions = a;
    muc_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->jid = strdup(full);
    s->jid_attr = attr_escape(full);
    s->pres = strdup("");
    if (!s->jid || !s->jid_attr || !s->pres || hmap_put(&r->by_jid, s->jid, s) < 0) {
        free(s->jid);
        free(s->jid_attr);
        free(s->pres);
        free(s);
        return NULL;
    }
    s->occ = o;
    o->sessions[o->nsessions++] = s;
    return s;
}

static void session_free(muc_room *r, muc_session *s, bool emptied)
{
    muc_occstore_forget(r->svc->store, r, s->jid, emptied);
    muc_recheck_settle(r->svc, s);
    hmap_del(&r->by_jid, s->jid);
    free(s->jid);
    free(s->jid_attr);
    free(s->pres);
    free(s);
}

void muc_occupant_remove(muc_room *r, muc_occupant *o)
{
    bool emptied = r->noccupants == 1;
    for (size_t i = 0; i < o->nsessions; i++)
        session_free(r, o->sessions[i], emptied && i + 1 == o->nsessions);
    hmap_del(&r->by_nick, o->nick);
    /* Swap-remove keeps the dense array dense. */
    muc_occupant *last = r->occupants[--r->noccupants];
    r->occupants[o->index] = last;
    last->index = o->index;
    r->svc->occupants--;
    ublock_release(r->svc->ublock, o->blocks);
    free(o->sessions);
    free(o->nick);
    free(o->bare);
    free(o->from_attr);
    free(o);
}

void muc_session_remove(muc_room *r, muc_session *s)
{
    muc_occupant *o = s->occ;
    if (o->nsessions == 1) {
        muc_occupant_remove(r, o);
        return;
    }
    for (size_t i = 0; i < o->nsessions; i++) {
        if (o->sessions[i] == s) {
            o->sessions[i] = o->sessions[--o->nsessions];
            break;
        }
    }
    session_free(r, s, false);
}

int muc_occupant_rename(muc_room *r, muc_occupant *o, const char *nick)
{
    char *n = strdup(nick);
    char *f = occupant_from(r, nick);
    if (!n || !f) {
        free(n);
        free(f);
        return -1;
    }
    hmap_del(&r->by_nick, o->nick);
    free(o->nick);
    free(o->from_attr);
    o->nick = n;
    o->from_attr = f;
    if (hmap_put(&r->by_nick, o->nick, o) < 0)
        return -1;
    return 0;
}

/* ---- routing ---- */

static void handle_iq(muc *m, muc_room *r, const xml_node *st, const jid *from, const jid *to)
{
    const char *type = xml_attr(st, "type");
    bool answer = type && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0);
    const xml_node *q = stanza_iq_payload(st);
    if (!answer && (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) || !q)) {
        muc_error(m, st, STANZA_ERR_BAD_REQUEST, NULL);
        return;
    }
    const char *ns = q && xml_ns(q) ? xml_ns(q) : "";
    if (to->resource) {
        /* XEP-0410: a ping to one's own occupant address tells a client
         * whether it is still joined; the room answers it. */
        char *full = jid_full(from);
        muc_session *s = full ? muc_session_by_jid(r, full) : NULL;
        free(full);
        if (!answer && strcmp(ns, NS_PING) == 0 && s && strcmp(s->occ->nick, to->resource) == 0)
            muc_result(m, st);
        else
            muc_iq_to_occupant(m, r, st, from, to);
        return;
    }
    if (answer)
        return; /* the room asks nothing, and answers are never answered */
    if (strcmp(ns, NS_DISCO_INFO) == 0 || strcmp(ns, NS_DISCO_ITEMS) == 0)
        muc_room_disco(m, r, st, q);
    else if (strcmp(ns, NS_MUC_OWNER) == 0)
        muc_owner(m, r, st, q, from);
    else if (strcmp(ns, NS_MUC_ADMIN) == 0)
        muc_admin(m, r, st, q, from);
    else if (strcmp(ns, NS_MAM) == 0)
        muc_mam(m, r, st, q, from);
    else if (muc_is_moderation(q) && strcmp(type, "set") == 0)
        muc_moderate(m, r, st, q, from);
    else if (strcmp(ns, NS_PING) == 0 && strcmp(type, "get") == 0) {
        muc_result(m, st);
    } else
        muc_error(m, st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
}

/* A session being checked (recheck.c) that sends something is there. Not
 * an error, nor an IQ answer: a server sends those for a session that is
 * gone, from its address. */
static void notice(muc *m, muc_room *r, const xml_node *st, const jid *from)
{
    if (stanza_is_unanswerable(st))
        return;
    char *full = jid_full(from);
    muc_session *s = full ? muc_session_by_jid(r, full) : NULL;
    free(full);
    if (s)
        muc_recheck_heard(m, s);
}

bool muc_route(void *ud, const stanza_ctx *c)
{
    muc *m = ud;
    const xml_node *st = c->st;
    const jid *from = &c->from, *to = &c->to;
    const char *name = xml_name(st);
    muc_room *r = muc_room_get(m, to->local);
    if (r && muc_recheck_unverified(m))
        notice(m, r, st, from);
    /* The answers to the room's own checks, before a locked room hides. */
    if (r && !to->resource && strcmp(name, "iq") == 0 && muc_recheck_answer(m, r, st, from))
        return true;
    if (strcmp(name, "presence") == 0) {
        /* presence.c creates rooms on first join. */
        muc_presence(m, r, st, from, to);
        return true;
    }
    /* A locked room (created, not yet configured) exists only for its
     * owner, who is configuring it. */
    bool hidden = !r;
    if (r && r->locked) {
        char *bare = jid_bare(from);
        hidden = !bare || muc_room_aff(r, bare) != AFF_OWNER || strcmp(name, "iq") != 0;
        free(bare);
    }
    if (hidden) {
        muc_error(m, st, STANZA_ERR_ITEM_NOT_FOUND, "no such room");
        return true;
    }
    if (strcmp(name, "message") == 0)
        muc_message(m, r, st, from, to);
    else
        handle_iq(m, r, st, from, to);
    return true;
}
