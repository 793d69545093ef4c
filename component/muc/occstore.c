#include "muc/occstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "muc/recheck.h"
#include "ns.h"
#include "xmlparse.h"

/* ---- records ---- */

/* Appends s's record to b, NUL-terminated. Joins are frequent: no
 * floating-point formatting, no second pass. */
static void record_into(buf *b, const muc_session *s)
{
    const muc_occupant *o = s->occ;
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)(o->joined * 1000.0));
    buf_puts(b, "<s xmlns=\"" NS_STOA_OCC_RECORD "\" nick=\"");
    buf_append_xml_escaped(b, o->nick, strlen(o->nick));
    buf_puts(b, "\" role=\"");
    buf_puts(b, muc_role_name(o->role));
    buf_puts(b, "\" joined=\"");
    buf_puts(b, ms);
    buf_puts(b, "\" oid=\"");
    buf_puts(b, o->occupant_id);
    /* The payload was serialized inside a stanza of the component stream;
     * this wrapper puts it back in that namespace. */
    buf_puts(b, "\"><p xmlns=\"" NS_COMPONENT "\">");
    buf_puts(b, s->pres);
    buf_append(b, "</p></s>", 9);
}

char *muc_occupant_record(const muc_session *s)
{
    buf b = BUF_INIT;
    record_into(&b, s);
    char *rec = buf_strdup(&b);
    buf_free(&b);
    return rec;
}

/* The presence payload of a record, as presence.c keeps it. */
static char *record_payload(const xml_node *root)
{
    const xml_node *p = xml_child(root, "p", NS_COMPONENT);
    buf b = BUF_INIT;
    buf_puts(&b, "");
    for (xml_node *c = p ? xml_first_child(p) : NULL; c; c = xml_next(c)) {
        if (!xml_is_text(c))
            xml_serialize(c, &b, NS_COMPONENT);
    }
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

/* Whether bare may sit in r now (the room may have changed since). */
static bool admitted(const muc_room *r, const char *bare)
{
    muc_aff aff = muc_room_aff(r, bare);
    return aff != AFF_OUTCAST && (!r->cfg.members_only || aff >= AFF_MEMBER);
}

/* The occupant `nick` for bare: the one already seated, or a new one as
 * the record describes. NULL when the nick belongs to someone else. */
static muc_occupant *seat(muc_room *r, const char *nick, const char *bare, const xml_node *rec)
{
    muc_occupant *o = muc_occupant_by_nick(r, nick);
    if (o)
        return strcmp(o->bare, bare) == 0 ? o : NULL;
    o = muc_occupant_add(r, nick, bare);
    if (!o)
        return NULL;
    muc_role role;
    if (muc_role_parse(xml_attr(rec, "role"), &role) < 0 || role == ROLE_NONE)
        role = muc_room_default_role(r, muc_room_aff(r, bare));
    o->role = role;
    const char *joined = xml_attr(rec, "joined");
    if (joined)
        o->joined = strtod(joined, NULL) / 1000.0;
    /* The id is derived again, never taken from the record; a difference
     * means the occupant-id key (muc:secret) or the derivation changed, and
     * everyone now shows under a new id. Said once: it is true of all. */
    static bool told;
    const char *oid = xml_attr(rec, "oid");
    if (oid && strcmp(oid, o->occupant_id) != 0 && !told) {
        told = true;
        log_warn("muc: occupant ids changed across the restart (%s in %s, and likely everyone): "
                 "was the occupant-id key in Redis lost?",
                 nick, r->jid);
    }
    return o;
}

muc_session *muc_occupant_restore(muc_room *r, const char *full, const char *rec, size_t len)
{
    static const xmlparse_limits lim = {1024 * 1024, 32, 64, 4096};
    xml_node *root = xml_parse_document(rec, len, &lim);
    const char *nick = root ? xml_attr(root, "nick") : NULL;
    muc_session *s = NULL;
    jid j;
    if (!nick || !*nick || strcmp(xml_name(root), "s") != 0 || !xml_ns(root) ||
        strcmp(xml_ns(root), NS_STOA_OCC_RECORD) != 0 || jid_parse(full, &j) != JID_OK) {
        xml_free(root);
        return NULL;
    }
    char *norm = j.resource ? jid_full(&j) : NULL;
    char *bare = jid_bare(&j);
    jid_free(&j);
    muc_occupant *o = NULL;
    if (norm && bare && !muc_session_by_jid(r, norm) && admitted(r, bare))
        o = seat(r, nick, bare, root);
    char *pres = o ? record_payload(root) : NULL;
    if (pres && (s = muc_session_add(r, o, norm))) {
        free(s->pres);
        s->pres = pres;
        pres = NULL;
    } else if (o && o->nsessions == 0) {
        muc_occupant_remove(r, o);
    }
    free(pres);
    free(norm);
    free(bare);
    xml_free(root);
    return s;
}

/* ---- writes ---- */

/* "{p}muc:occ:<room>", made once per room. */
static const char *occ_key(muc_store *st, muc_room *r)
{
    if (!r->occ_key)
        r->occ_key = muc_store_key(st, KEY_MUC_OCC, r->jid);
    return r->occ_key;
}

void muc_occstore_save_session(muc_store *st, muc_room *r, const muc_session *s)
{
    const char *k = st ? occ_key(st, r) : NULL;
    if (!k)
        return;
    buf rec = BUF_INIT;
    record_into(&rec, s);
    const char *set[] = {"HSET", k, s->jid, buf_unread(&rec)};
    muc_store_write(st, 4, set);
    buf_free(&rec);
}

void muc_occstore_save(muc_store *st, muc_room *r, const muc_occupant *o)
{
    for (size_t i = 0; st && i < o->nsessions; i++)
        muc_occstore_save_session(st, r, o->sessions[i]);
}

void muc_occstore_joined(muc_store *st, const muc_room *r)
{
    if (!st)
        return;
    char *live = muc_store_live_key(st, r->jid);
    if (live) {
        const char *add[] = {"SADD", live, r->jid};
        muc_store_write(st, 3, add);
    }
    free(live);
}

void muc_occstore_forget(muc_store *st, muc_room *r, const char *full, bool emptied)
{
    if (!st)
        return;
    const char *k = occ_key(st, r);
    char *live = emptied ? muc_store_live_key(st, r->jid) : NULL;
    if (k) {
        const char *del[] = {"HDEL", k, full};
        muc_store_write(st, 3, del);
    }
    if (live) {
        const char *rem[] = {"SREM", live, r->jid};
        muc_store_write(st, 3, rem);
    }
    free(live);
}

/* ---- seating everyone again at start ---- */

typedef struct occ_load {
    muc_store *st;
    muc *m;
    void (*done)(void *ud, int sessions);
    void *ud;
    int waiting;
    int seated, refused;
    bool failed;  /* a reply was lost: nothing is tidied on partial knowledge */
    char **rooms; /* the rooms listed, to tidy once all is read */
    size_t nrooms;
} occ_load;

typedef struct room_step {
    occ_load *c;
    char *jid;
} room_step;

/* Takes a room off the list with its records (its state and archive, if
 * any, stay: a room that could not be opened is not ours to erase). */
static void unlist(occ_load *c, const char *room_jid)
{
    char *live = muc_store_live_key(c->st, room_jid);
    char *ok = muc_store_key(c->st, KEY_MUC_OCC, room_jid);
    if (live && ok) {
        const char *del[] = {"DEL", ok};
        const char *rem[] = {"SREM", live, room_jid};
        muc_store_write(c->st, 2, del);
        muc_store_write(c->st, 3, rem);
    }
    free(live);
    free(ok);
}

/* What nobody could be seated in goes off the list; a temporary room goes
 * altogether. */
static void tidy(occ_load *c)
{
    for (size_t i = 0; i < c->nrooms; i++) {
        muc_room *r = muc_room_by_jid(c->m, c->rooms[i]);
        if (!r) {
            log_warn("muc: occupants recorded for %s, a room that is not open: forgotten",
                     c->rooms[i]);
            unlist(c, c->rooms[i]);
        } else if (r->noccupants == 0 && !muc_room_reap(r)) {
            unlist(c, c->rooms[i]);
        }
        free(c->rooms[i]);
    }
    free(c->rooms);
}

static void step_done(occ_load *c)
{
    if (--c->waiting > 0)
        return;
    if (!c->failed) {
        tidy(c);
    } else {
        log_warn("muc: Redis went away while occupants were read back; those read are seated, "
                 "the rest stay recorded for the next start");
        for (size_t i = 0; i < c->nrooms; i++)
            free(c->rooms[i]);
        free(c->rooms);
    }
    if (c->refused)
        log_warn("muc: %d recorded occupant session%s could not be seated again", c->refused,
                 c->refused == 1 ? "" : "s");
    c->done(c->ud, c->seated);
    free(c);
}

static void step_free(room_step *rs)
{
    occ_load *c = rs->c;
    free(rs->jid);
    free(rs);
    step_done(c);
}

static void on_room_doc(void *ud, redisReply *rep)
{
    room_step *rs = ud;
    if (!rep || rdb_error(rep))
        rs->c->failed = true;
    else if (rdb_str(rep) && !muc_room_restore(rs->c->m, rep->str, rep->len))
        log_warn("muc: the state of %s could not be read back", rs->jid);
    step_free(rs);
}

static void on_sessions(void *ud, redisReply *rep)
{
    room_step *rs = ud;
    occ_load *c = rs->c;
    muc_room *r = muc_room_by_jid(c->m, rs->jid);
    size_t n;
    if (!rdb_is_array(rep, &n))
        c->failed = true;
    for (size_t i = 0; r && i + 1 < n; i += 2) {
        const redisReply *f = rep->element[i], *v = rep->element[i + 1];
        if (!rdb_str(f) || !rdb_str(v))
            continue;
        muc_session *s = muc_occupant_restore(r, f->str, v->str, v->len);
        if (s) {
            muc_recheck_add(c->m, r, s);
            c->seated++;
        } else if (!muc_session_by_jid(r, f->str)) {
            c->refused++;
            muc_occstore_forget(c->st, r, f->str, false);
        }
    }
    step_free(rs);
}

/* Asks for one listed room: its state when it is not open (a temporary
 * room), then its sessions; the replies come in that order. */
static void ask_room(occ_load *c, const char *room_jid)
{
    rdb *db = muc_store_rdb(c->st);
    room_step *doc = calloc(1, sizeof *doc), *occ = calloc(1, sizeof *occ);
    char *rk = muc_store_key(c->st, KEY_MUC_ROOM, room_jid);
    char *ok = muc_store_key(c->st, KEY_MUC_OCC, room_jid);
    if (doc && occ && rk && ok && (doc->jid = strdup(room_jid)) && (occ->jid = strdup(room_jid))) {
        doc->c = occ->c = c;
        if (!muc_room_by_jid(c->m, room_jid) &&
            rdb_command(db, on_room_doc, doc, "GET %s", rk) == 0) {
            c->waiting++;
            doc = NULL;
        }
        if (rdb_command(db, on_sessions, occ, "HGETALL %s", ok) == 0) {
            c->waiting++;
            occ = NULL;
        }
    }
    if (doc)
        free(doc->jid);
    if (occ)
        free(occ->jid);
    free(doc);
    free(occ);
    free(rk);
    free(ok);
}

static void on_live_rooms(void *ud, redisReply *rep)
{
    occ_load *c = ud;
    size_t n;
    if (!rdb_is_array(rep, &n)) {
        c->done(c->ud, -1);
        free(c);
        return;
    }
    c->rooms = calloc(n ? n : 1, sizeof *c->rooms);
    c->waiting = 1; /* held until every request is sent */
    for (size_t i = 0; c->rooms && i < n; i++) {
        const char *room = rdb_str(rep->element[i]);
        const char *at = room ? strchr(room, '@') : NULL;
        /* The list is per domain; a room of another service is not ours to
         * seat or to tidy, whatever the list says. */
        if (!at || strcmp(at + 1, c->m->domain) != 0 || !(c->rooms[c->nrooms] = strdup(room)))
            continue;
        ask_room(c, c->rooms[c->nrooms++]);
    }
    step_done(c);
}

void muc_occstore_load(muc_store *st, muc *m, void (*done)(void *ud, int sessions), void *ud)
{
    occ_load *c = st ? calloc(1, sizeof *c) : NULL;
    char *live = c ? muc_store_key(st, KEY_MUC_LIVE, m->domain) : NULL;
    if (!live || rdb_command(muc_store_rdb(st), on_live_rooms, c, "SMEMBERS %s", live) < 0) {
        free(c);
        free(live);
        done(ud, -1);
        return;
    }
    free(live);
    c->st = st;
    c->m = m;
    c->done = done;
    c->ud = ud;
}
