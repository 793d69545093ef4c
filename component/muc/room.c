/* The MUC core's data model (room.h): rooms, occupants, sessions,
 * affiliations, the history ring and the identifiers. It sends nothing and
 * stores nothing: what persistence must know it learns from muc_changed. */
#include "muc/room.h"

#include <gnutls/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/rtbl.h"
#include "safety/ublock.h"

double muc_now(const muc *m)
{
    return m->now();
}

/* ---- what changed ---- */

void muc_set_change_hook(muc *m, muc_change_fn fn, void *ud)
{
    m->on_change = fn;
    m->change_ud = ud;
}

void muc_changed(muc *m, const muc_change *c)
{
    if (m->on_change)
        m->on_change(m->change_ud, c);
}

void muc_room_changed(muc_room *r, muc_change_kind kind)
{
    muc_changed(r->svc, &(muc_change){.kind = kind, .room = r});
}

/* ---- identifiers ---- */

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

void muc_new_stanza_id(muc *m, char out[17])
{
    /* Time-ordered (milliseconds in the high bits) and unique (a counter
     * below), so archive order and id order agree. */
    uint64_t t = (uint64_t)(muc_now(m) * 1000.0) << 12;
    m->next_seq = t > m->next_seq ? t : m->next_seq + 1;
    snprintf(out, 17, "%016llx", (unsigned long long)m->next_seq);
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
    r->jid_attr = buf_xml_escaped_dup(r->jid);
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
    free(r->avatar_type);
    free(r->avatar_b64);
    free(r);
}

bool muc_room_reap(muc_room *r)
{
    if (r->noccupants > 0 || r->cfg.persistent)
        return false;
    /* A temporary room's archive goes with it. */
    muc_room_changed(r, MUC_ROOM_GONE);
    muc_room_destroy(r);
    return true;
}

void muc_room_config_free(muc_room_config *c)
{
    free(c->name);
    free(c->description);
    free(c->lang);
    free(c->topic);
    free(c->password);
    memset(c, 0, sizeof *c);
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

bool muc_room_rtbl_refuses(const muc_room *r, const char *bare)
{
    /* Affiliation first: looking it up is cheaper than the list's hashes. */
    return r->svc->rtbl && muc_room_aff(r, bare) < AFF_MEMBER && rtbl_listed(r->svc->rtbl, bare);
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
    char *e = buf_xml_escaped_dup(s);
    free(s);
    return e;
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
    s->jid_attr = buf_xml_escaped_dup(full);
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

void muc_session_unverify(muc *m, muc_session *s)
{
    if (!s->unverified) {
        s->unverified = true;
        m->unverified++;
    }
}

bool muc_session_settle(muc *m, muc_session *s)
{
    if (!s->unverified)
        return false;
    s->unverified = false;
    m->unverified--;
    return true;
}

static void session_free(muc_room *r, muc_session *s, bool emptied)
{
    muc_changed(
        r->svc,
        &(muc_change){.kind = MUC_SESSION_LEFT, .room = r, .full = s->jid, .emptied = emptied});
    muc_session_settle(r->svc, s);
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
    free(o->fold);
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
    free(o->fold);
    o->fold = NULL;
    o->nick = n;
    o->from_attr = f;
    if (hmap_put(&r->by_nick, o->nick, o) < 0)
        return -1;
    return 0;
}

/* ---- the history ring ---- */

static void entry_clear(muc_history_entry *e)
{
    free(e->nick);
    free(e->payload);
    free(e->stanza_id);
    memset(e, 0, sizeof *e);
}

void muc_history_free(muc_room *r)
{
    for (size_t i = 0; i < r->hist_cap; i++)
        entry_clear(&r->history[i]);
    free(r->history);
    r->history = NULL;
    r->hist_cap = r->hist_len = r->hist_head = 0;
}

muc_history_entry *muc_history_at(const muc_room *r, size_t i)
{
    return &r->history[(r->hist_head + r->hist_cap - r->hist_len + i) % r->hist_cap];
}

void muc_history_resize(muc_room *r, unsigned n)
{
    if (n == r->hist_cap)
        return;
    muc_history_entry *h = n ? calloc(n, sizeof *h) : NULL;
    if (n && !h)
        return; /* keep the old ring; the room works with it */
    size_t keep = r->hist_len < n ? r->hist_len : n;
    /* Keep the newest `keep` entries, oldest first. */
    for (size_t i = 0; i < r->hist_len; i++) {
        muc_history_entry *e = muc_history_at(r, i);
        if (i >= r->hist_len - keep)
            h[i - (r->hist_len - keep)] = *e;
        else
            entry_clear(e);
    }
    free(r->history);
    r->history = h;
    r->hist_cap = n;
    r->hist_len = keep;
    r->hist_head = n ? keep % n : 0;
}

void muc_history_add(muc_room *r, const muc_occupant *o, const char *payload, const char *stanza_id,
                     double stamp)
{
    if (r->hist_cap == 0)
        return;
    muc_history_entry *e = &r->history[r->hist_head];
    entry_clear(e);
    e->nick = strdup(o->nick);
    e->payload = strdup(payload);
    e->stanza_id = strdup(stanza_id);
    if (!e->nick || !e->payload || !e->stanza_id) {
        entry_clear(e);
        return;
    }
    memcpy(e->occupant_id, o->occupant_id, sizeof e->occupant_id);
    e->stamp = stamp;
    r->hist_head = (r->hist_head + 1) % r->hist_cap;
    if (r->hist_len < r->hist_cap)
        r->hist_len++;
}
