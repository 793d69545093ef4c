/* Safety actions the abuse desk takes on rooms: kick, ban, silence and
 * erase, for one room or every room this instance holds. They speak the
 * same XEP-0045 statuses as the admin protocol (admin.c), so clients show a
 * service ban as a ban and a kick as a kick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc/admin.h"
#include "muc/presence.h"
#include "muc/room.h"

bool muc_room_exists(muc *m, const char *room_jid)
{
    return muc_room_by_jid(m, room_jid) != NULL;
}

bool muc_may_manage(muc *m, const char *room_jid, const char *bare)
{
    muc_room *r = muc_room_by_jid(m, room_jid);
    return r && muc_room_aff(r, bare) >= AFF_ADMIN;
}

/* Appends a copy of s to the NULL-terminated *out (n entries, room for
 * cap); on OOM the list stays as it was. */
static void strv_push(char ***out, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        char **a = realloc(*out, (*cap * 2 + 1) * sizeof *a);
        if (!a)
            return;
        *out = a;
        *cap *= 2;
    }
    if (((*out)[*n] = strdup(s)))
        (*n)++;
    (*out)[*n] = NULL;
}

char **muc_managed_rooms(muc *m, const char *bare)
{
    size_t n = 0, cap = 4;
    char **out = calloc(cap + 1, sizeof *out);
    size_t it = 0;
    void *v;
    while (out && hmap_next(&m->rooms, &it, NULL, &v)) {
        muc_room *r = v;
        if (muc_room_aff(r, bare) >= AFF_ADMIN)
            strv_push(&out, &n, &cap, r->jid);
    }
    return out;
}

char **muc_room_owners(muc *m, const char *room_jid)
{
    muc_room *r = muc_room_by_jid(m, room_jid);
    size_t n = 0, cap = 4;
    char **out = calloc(cap + 1, sizeof *out);
    size_t it = 0;
    void *v;
    while (out && r && hmap_next(&r->affs, &it, NULL, &v)) {
        const muc_aff_entry *a = v;
        /* Owners are people: a whole domain made owner has nobody to tell. */
        if (a->aff == AFF_OWNER && strchr(a->jid, '@'))
            strv_push(&out, &n, &cap, a->jid);
    }
    return out;
}

char *muc_occupant_real(muc *m, const char *occupant_jid)
{
    const char *slash = strchr(occupant_jid, '/');
    if (!slash)
        return NULL;
    char room_jid[2048];
    size_t n = (size_t)(slash - occupant_jid);
    if (n >= sizeof room_jid)
        return NULL;
    memcpy(room_jid, occupant_jid, n);
    room_jid[n] = '\0';
    muc_room *r = muc_room_by_jid(m, room_jid);
    const muc_occupant *o = r ? muc_occupant_by_nick(r, slash + 1) : NULL;
    return o ? strdup(o->bare) : NULL;
}

char *muc_message_author(muc *m, const char *room_jid, const char *sid)
{
    muc_room *r = muc_room_by_jid(m, room_jid);
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->hist_cap; i++) {
        const muc_history_entry *e = &r->history[i];
        if (!e->stanza_id || strcmp(e->stanza_id, sid) != 0)
            continue;
        for (size_t k = 0; k < r->noccupants; k++)
            if (strcmp(r->occupants[k]->occupant_id, e->occupant_id) == 0)
                return strdup(r->occupants[k]->bare);
        return NULL;
    }
    return NULL;
}

void muc_occupant_id_of(const muc *m, const char *room_jid, const char *bare, char out[33])
{
    muc_occupant_id_for(m, room_jid, bare, out);
}

void muc_occupant_id_legacy(const muc *m, const char *room_jid, const char *bare, char out[33])
{
    size_t n = strlen(room_jid) + strlen(bare) + 2;
    char *s = malloc(n);
    uint64_t h1 = 0, h2 = 0;
    if (s) {
        snprintf(s, n, "%s\n%s", room_jid, bare);
        h1 = hmap_hash_keyed(m->id_key, s, n - 1);
        uint64_t k2[2] = {m->id_key[1], m->id_key[0]};
        h2 = hmap_hash_keyed(k2, s, n - 1);
        free(s);
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

void muc_pseudonym(const muc *m, const char *purpose, const char *s, char out[33])
{
    /* Under a label of its own, so a pseudonym never equals an occupant id. */
    muc_mac(m, out, 32, "pseudonym", purpose, s, (const char *)NULL);
}

static bool matches(const char *bare, const char *who, bool domain)
{
    if (!domain)
        return strcmp(bare, who) == 0;
    const char *at = strchr(bare, '@');
    const char *d = at ? at + 1 : bare;
    return strcmp(d, who) == 0;
}

static unsigned expel_in(muc_room *r, const char *who, bool domain, int code, const char *actor,
                         const char *reason)
{
    unsigned n = 0;
    for (size_t i = r->noccupants; i-- > 0;) {
        muc_occupant *o = r->occupants[i];
        if (!matches(o->bare, who, domain))
            continue;
        muc_occupant_expel(r, o, code, actor, reason);
        n++;
    }
    return n;
}

unsigned muc_expel(muc *m, const char *room_jid, const char *who, bool domain, int code,
                   const char *actor, const char *reason)
{
    if (room_jid) {
        muc_room *r = muc_room_by_jid(m, room_jid);
        if (!r)
            return 0;
        unsigned n = expel_in(r, who, domain, code, actor, reason);
        muc_room_reap(r);
        return n;
    }
    /* Reaping while iterating would disturb the map: collect first. */
    size_t cap = m->rooms.count, k = 0;
    muc_room **rs = cap ? calloc(cap, sizeof *rs) : NULL;
    size_t it = 0;
    void *v;
    unsigned n = 0;
    while (rs && hmap_next(&m->rooms, &it, NULL, &v) && k < cap)
        rs[k++] = v;
    for (size_t i = 0; i < k; i++) {
        n += expel_in(rs[i], who, domain, code, actor, reason);
        muc_room_reap(rs[i]);
    }
    free(rs);
    return n;
}

int muc_ban_from_room(muc *m, const char *room_jid, const char *bare, const char *reason)
{
    muc_room *r = muc_room_by_jid(m, room_jid);
    if (!r)
        return -1;
    if (muc_room_set_aff(r, bare, AFF_OUTCAST, reason) < 0)
        return -1;
    muc_room_changed(r, MUC_ROOM_STATE);
    expel_in(r, bare, false, 301, NULL, reason);
    muc_room_reap(r);
    return 0;
}

static unsigned silence_in(muc_room *r, const char *bare, bool keep_admins, const char *reason)
{
    unsigned n = 0;
    for (size_t i = 0; i < r->noccupants; i++) {
        muc_occupant *o = r->occupants[i];
        if (strcmp(o->bare, bare) != 0 || o->role == ROLE_VISITOR)
            continue;
        if (keep_admins && muc_room_aff(r, bare) >= AFF_ADMIN)
            continue;
        o->role = ROLE_VISITOR;
        char *extra = muc_item_children(NULL, reason);
        muc_presence_broadcast(r, o, NULL, NULL, 0, extra, NULL);
        free(extra);
        n++;
    }
    return n;
}

unsigned muc_silence(muc *m, const char *room_jid, const char *bare, const char *reason)
{
    if (room_jid) {
        muc_room *r = muc_room_by_jid(m, room_jid);
        return r ? silence_in(r, bare, true, reason) : 0;
    }
    unsigned n = 0;
    size_t it = 0;
    void *v;
    while (hmap_next(&m->rooms, &it, NULL, &v))
        n += silence_in(v, bare, false, reason);
    return n;
}

void muc_each_room(muc *m, void (*cb)(void *ud, const char *room_jid), void *ud)
{
    size_t it = 0;
    void *v;
    while (hmap_next(&m->rooms, &it, NULL, &v))
        cb(ud, ((muc_room *)v)->jid);
}

unsigned muc_erase_jid(muc *m, const char *bare, unsigned *history, unsigned *kept_owner)
{
    unsigned dropped = 0;
    *history = *kept_owner = 0;
    size_t it = 0;
    void *v;
    while (hmap_next(&m->rooms, &it, NULL, &v)) {
        muc_room *r = v;
        muc_aff_entry *e = hmap_get(&r->affs, bare);
        if (e && e->aff == AFF_OWNER && muc_room_owner_count(r) <= 1) {
            /* Dropping the last owner would leave a room nobody can run;
             * the operator decides (destroy it or hand it over). */
            (*kept_owner)++;
        } else if (e) {
            muc_room_set_aff(r, bare, AFF_NONE, NULL);
            dropped++;
            muc_room_changed(r, MUC_ROOM_STATE);
        }
        char oid[33];
        muc_occupant_id_for(m, r->jid, bare, oid);
        for (size_t i = 0; i < r->hist_cap; i++) {
            muc_history_entry *h = &r->history[i];
            if (!h->stanza_id || strcmp(h->occupant_id, oid) != 0)
                continue;
            char *t = strdup("<retracted xmlns=\"" NS_RETRACT1 "\"/>");
            char *nick = strdup("-");
            if (t && nick) {
                free(h->payload);
                free(h->nick);
                h->payload = t;
                h->nick = nick;
                (*history)++;
            } else {
                free(t);
                free(nick);
            }
        }
    }
    return dropped;
}
