#include "muc/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "muc/avatar.h"
#include "log.h"
#include "safety/linkpol.h"
#include "xmlparse.h"

/* Redis keeps the archive of a temporary room this long after the last
 * message, in case the room's destruction never reached Redis. */
#define TEMP_LOG_TTL "86400"

typedef struct pending {
    int argc;
    char **argv;
    size_t *lens;
    struct pending *next;
} pending;

struct muc_store {
    rdb *r;
    char *prefix;
    char archive_max[24];
    pending *head, *tail;
    size_t queued, queue_max;
    unsigned long dropped;
};

muc_store *muc_store_new(rdb *r, const char *prefix, unsigned archive_max, size_t queue_max)
{
    muc_store *s = calloc(1, sizeof *s);
    if (!s || !(s->prefix = strdup(prefix ? prefix : ""))) {
        free(s);
        return NULL;
    }
    s->r = r;
    snprintf(s->archive_max, sizeof s->archive_max, "%u", archive_max);
    s->queue_max = queue_max;
    return s;
}

static void pending_free(pending *p)
{
    for (int i = 0; i < p->argc; i++)
        free(p->argv[i]);
    free(p->argv);
    free(p->lens);
    free(p);
}

void muc_store_free(muc_store *s)
{
    if (!s)
        return;
    while (s->head) {
        pending *p = s->head;
        s->head = p->next;
        pending_free(p);
    }
    if (s->queued)
        log_warn("store: %zu writes still queued for Redis are lost at exit", s->queued);
    free(s->prefix);
    free(s);
}

static void on_write_reply(void *ud, redisReply *reply)
{
    (void)ud;
    if (rdb_error(reply))
        log_error("store: Redis refused a write: %s", rdb_error(reply));
}

static void enqueue(muc_store *s, int argc, const char **argv, const size_t *lens)
{
    if (s->queued >= s->queue_max) {
        /* Dropping the oldest keeps the newest state, which matters more. */
        pending *old = s->head;
        s->head = old->next;
        if (!s->head)
            s->tail = NULL;
        pending_free(old);
        s->queued--;
        if (s->dropped++ % 1000 == 0)
            log_warn("store: Redis is away and the write queue is full; dropping old writes");
    }
    pending *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->argv = calloc((size_t)argc, sizeof *p->argv);
    p->lens = calloc((size_t)argc, sizeof *p->lens);
    if (!p->argv || !p->lens) {
        pending_free(p);
        return;
    }
    p->argc = argc;
    for (int i = 0; i < argc; i++) {
        p->argv[i] = malloc(lens[i] + 1);
        if (!p->argv[i]) {
            pending_free(p);
            return;
        }
        memcpy(p->argv[i], argv[i], lens[i]);
        p->argv[i][lens[i]] = '\0';
        p->lens[i] = lens[i];
    }
    if (s->tail)
        s->tail->next = p;
    else
        s->head = p;
    s->tail = p;
    s->queued++;
}

/* Sends a write now, or queues it (behind anything already queued, so
 * writes reach Redis in the order they were made). */
void muc_store_write(muc_store *s, int argc, const char **argv)
{
    size_t lens[16];
    if (argc > 16) {
        log_error("store: a write of %d words is more than the store sends", argc);
        return;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (s->head || rdb_command_argv(s->r, on_write_reply, NULL, argc, argv, lens) < 0)
        enqueue(s, argc, argv, lens);
}

void muc_store_redis_up(muc_store *s)
{
    size_t sent = 0;
    while (s->head) {
        pending *p = s->head;
        if (rdb_command_argv(s->r, on_write_reply, NULL, p->argc, (const char **)p->argv, p->lens) <
            0)
            break;
        s->head = p->next;
        if (!s->head)
            s->tail = NULL;
        pending_free(p);
        s->queued--;
        sent++;
    }
    if (sent)
        log_info("store: %zu queued writes sent to Redis", sent);
}

rdb *muc_store_rdb(const muc_store *s)
{
    return s->r;
}

char *muc_store_key(const muc_store *s, const char *stem, const char *jid)
{
    return keys_make(s->prefix, stem, jid);
}

/* ---- room state documents ---- */

static void set_opt(xml_node *n, const char *name, const char *v)
{
    if (v)
        xml_set_attr(n, name, v);
}

static int aff_cmp(const void *a, const void *b)
{
    return strcmp((*(const muc_aff_entry *const *)a)->jid, (*(const muc_aff_entry *const *)b)->jid);
}

char *muc_room_state(const muc_room *r)
{
    const muc_room_config *c = &r->cfg;
    xml_node *root = xml_new("room", NS_STOA_ROOM_DOC);
    xml_node *cfg = root ? xml_append_new(root, "config", NULL) : NULL;
    if (!cfg) {
        xml_free(root);
        return NULL;
    }
    char num[32];
    xml_set_attr(root, "jid", r->jid);
    snprintf(num, sizeof num, "%.3f", r->created);
    xml_set_attr(root, "created", num);
    /* Only a temporary room being set up by its owner is stored locked. */
    if (r->locked)
        xml_set_attr(root, "locked", "1");
    set_opt(cfg, "name", c->name);
    set_opt(cfg, "description", c->description);
    set_opt(cfg, "lang", c->lang);
    set_opt(cfg, "topic", c->topic);
    set_opt(cfg, "password", c->password);
    xml_set_attr(cfg, "persistent", c->persistent ? "1" : "0");
    xml_set_attr(cfg, "public", c->public ? "1" : "0");
    xml_set_attr(cfg, "members_only", c->members_only ? "1" : "0");
    xml_set_attr(cfg, "moderated", c->moderated ? "1" : "0");
    xml_set_attr(cfg, "allow_invites", c->allow_invites ? "1" : "0");
    xml_set_attr(cfg, "change_subject", c->change_subject ? "1" : "0");
    xml_set_attr(cfg, "whois", muc_who_name(c->whois));
    xml_set_attr(cfg, "allow_pm", muc_who_name(c->allow_pm));
    snprintf(num, sizeof num, "%u", c->max_users);
    xml_set_attr(cfg, "max_users", num);
    snprintf(num, sizeof num, "%u", c->history_length);
    xml_set_attr(cfg, "history", num);
    /* Only when the owner chose one: older documents read the same. */
    if (c->stranger_links)
        xml_set_attr(cfg, "stranger_links", linkpol_names[c->stranger_links - 1]);
    if (c->message_rate) {
        snprintf(num, sizeof num, "%u", c->message_rate);
        xml_set_attr(cfg, "message_rate", num);
    }
    if (r->subject) {
        xml_node *sj = xml_append_new(root, "subject", NULL);
        if (sj) {
            set_opt(sj, "by", r->subject_by);
            xml_append_text(sj, r->subject);
        }
    }
    /* In JID order: a room's state is the same document however its map
     * was filled (a restored room holds its entries in another order). */
    size_t n = 0, it = 0;
    void *v;
    while (hmap_next(&r->affs, &it, NULL, &v))
        n++;
    const muc_aff_entry **affs = malloc((n ? n : 1) * sizeof *affs);
    if (!affs) {
        xml_free(root);
        return NULL;
    }
    n = it = 0;
    while (hmap_next(&r->affs, &it, NULL, &v))
        affs[n++] = v;
    qsort(affs, n, sizeof *affs, aff_cmp);
    for (size_t i = 0; i < n; i++) {
        xml_node *a = xml_append_new(root, "aff", NULL);
        if (!a)
            continue;
        xml_set_attr(a, "jid", affs[i]->jid);
        xml_set_attr(a, "aff", muc_aff_name(affs[i]->aff));
        set_opt(a, "reason", affs[i]->reason);
    }
    free(affs);
    /* The avatar (avatar.c) is the room's too: at most 32 KiB of image. */
    xml_node *av = r->avatar_type ? xml_append_new(root, "avatar", NULL) : NULL;
    if (av) {
        xml_set_attr(av, "type", r->avatar_type);
        xml_append_text(av, r->avatar_b64);
    }
    char *out = xml_to_string(root, NULL);
    xml_free(root);
    return out;
}

static bool attr_bool(const xml_node *n, const char *name)
{
    const char *v = xml_attr(n, name);
    return v && strcmp(v, "1") == 0;
}

static char *attr_dup(const xml_node *n, const char *name)
{
    const char *v = xml_attr(n, name);
    return v && *v ? strdup(v) : NULL;
}

static muc_who attr_who(const xml_node *n, const char *name, muc_who def)
{
    muc_who w = def;
    muc_who_parse(xml_attr(n, name), &w);
    return w;
}

muc_room *muc_room_restore(muc *m, const char *state, size_t len)
{
    static const xmlparse_limits lim = {4 * 1024 * 1024, 8, 16, 200000};
    xml_node *root = xml_parse_document(state, len, &lim);
    const char *jid_s = root ? xml_attr(root, "jid") : NULL;
    xml_node *cfg = root ? xml_child(root, "config", NULL) : NULL;
    jid j;
    if (!jid_s || !cfg || jid_parse(jid_s, &j) != JID_OK) {
        xml_free(root);
        return NULL;
    }
    muc_room *r = NULL;
    if (!j.local || strcmp(j.domain, m->domain) != 0 || muc_room_get(m, j.local))
        goto out;
    r = muc_room_create(m, j.local, NULL);
    if (!r)
        goto out;
    r->locked = attr_bool(root, "locked");
    const char *created = xml_attr(root, "created");
    if (created)
        r->created = strtod(created, NULL);
    muc_room_config *c = &r->cfg;
    c->name = attr_dup(cfg, "name");
    c->description = attr_dup(cfg, "description");
    c->lang = attr_dup(cfg, "lang");
    c->topic = attr_dup(cfg, "topic");
    c->password = attr_dup(cfg, "password");
    c->persistent = attr_bool(cfg, "persistent");
    c->public = attr_bool(cfg, "public");
    c->members_only = attr_bool(cfg, "members_only");
    c->moderated = attr_bool(cfg, "moderated");
    c->allow_invites = attr_bool(cfg, "allow_invites");
    c->change_subject = attr_bool(cfg, "change_subject");
    c->whois = attr_who(cfg, "whois", WHO_MODERATORS);
    c->allow_pm = attr_who(cfg, "allow_pm", WHO_ANYONE);
    const char *sl = xml_attr(cfg, "stranger_links");
    for (int i = 0; sl && linkpol_names[i]; i++)
        if (strcmp(linkpol_names[i], sl) == 0)
            c->stranger_links = i + 1;
    /* A damaged or out-of-range value is dropped rather than trusted: the
     * room falls back to the service's limits, as the form would allow. */
    const char *mr = xml_attr(cfg, "message_rate");
    if (mr) {
        char *end;
        unsigned long x = strtoul(mr, &end, 10);
        if (!*end && mr[0] >= '0' && mr[0] <= '9' && x <= MUC_MESSAGE_RATE_MAX)
            c->message_rate = (unsigned)x;
    }
    const char *mu = xml_attr(cfg, "max_users");
    c->max_users = mu ? (unsigned)strtoul(mu, NULL, 10) : 0;
    const char *h = xml_attr(cfg, "history");
    c->history_length = h ? (unsigned)strtoul(h, NULL, 10) : m->history_default;
    if (c->history_length > m->history_max)
        c->history_length = m->history_max;
    muc_history_resize(r, c->history_length);
    for (xml_node *n = xml_first_child(root); n; n = xml_next(n)) {
        if (xml_is_text(n))
            continue;
        if (strcmp(xml_name(n), "subject") == 0) {
            const char *t = xml_text(n);
            r->subject = strdup(t ? t : "");
            r->subject_by = attr_dup(n, "by");
        } else if (strcmp(xml_name(n), "aff") == 0) {
            muc_aff a;
            const char *who = xml_attr(n, "jid");
            if (who && muc_aff_parse(xml_attr(n, "aff"), &a) == 0)
                muc_room_set_aff(r, who, a, xml_attr(n, "reason"));
        } else if (strcmp(xml_name(n), "avatar") == 0) {
            /* Checked again: a damaged one is dropped, the room kept. */
            muc_avatar_restore(r, xml_attr(n, "type"), xml_text(n));
        }
    }
out:
    jid_free(&j);
    xml_free(root);
    return r;
}

/* ---- writes ---- */

char *muc_store_live_key(const muc_store *s, const char *room_jid)
{
    const char *at = strchr(room_jid, '@');
    return muc_store_key(s, KEY_MUC_LIVE, at ? at + 1 : room_jid);
}

void muc_store_save_room(muc_store *s, const muc_room *r)
{
    if (!s)
        return;
    char *state = muc_room_state(r);
    char *rooms = muc_store_key(s, KEY_MUC_ROOMS, NULL);
    char *rk = muc_store_key(s, KEY_MUC_ROOM, r->jid);
    char *lk = muc_store_key(s, KEY_MUC_LOG, r->jid);
    char *live = muc_store_live_key(s, r->jid);
    if (state && rooms && rk && lk && live) {
        const char *set[] = {"SET", rk, state};
        muc_store_write(s, 3, set);
        if (r->cfg.persistent) {
            const char *add[] = {"SADD", rooms, r->jid};
            const char *keep[] = {"PERSIST", lk};
            muc_store_write(s, 3, add);
            muc_store_write(s, 2, keep);
        } else {
            /* A temporary room is kept only for its occupants' sake (a
             * restart seats them again, occstore.c): it is listed with the
             * rooms that have occupants, and goes when it empties. */
            const char *rem[] = {"SREM", rooms, r->jid};
            const char *add[] = {"SADD", live, r->jid};
            muc_store_write(s, 3, rem);
            muc_store_write(s, 3, add);
        }
    }
    free(state);
    free(rooms);
    free(rk);
    free(lk);
    free(live);
}

void muc_store_drop_room(muc_store *s, const char *room_jid)
{
    if (!s)
        return;
    char *rooms = muc_store_key(s, KEY_MUC_ROOMS, NULL);
    char *rk = muc_store_key(s, KEY_MUC_ROOM, room_jid);
    char *lk = muc_store_key(s, KEY_MUC_LOG, room_jid);
    char *ok = muc_store_key(s, KEY_MUC_OCC, room_jid);
    char *live = muc_store_live_key(s, room_jid);
    if (rooms && rk && lk && ok && live) {
        const char *del[] = {"DEL", rk, lk, ok};
        const char *rem[] = {"SREM", rooms, room_jid};
        const char *unlist[] = {"SREM", live, room_jid};
        muc_store_write(s, 4, del);
        muc_store_write(s, 3, rem);
        muc_store_write(s, 3, unlist);
    }
    free(rooms);
    free(rk);
    free(lk);
    free(ok);
    free(live);
}

/* The entry's id is the message's stanza-id (keys_entry_of_sid), so paging
 * by stanza-id is paging by stream range. */
void muc_store_archive(muc_store *s, const muc_room *r, const muc_history_entry *e)
{
    if (!s)
        return;
    char id[48], stamp[32];
    if (keys_entry_of_sid(e->stanza_id, id, sizeof id) < 0)
        return;
    snprintf(stamp, sizeof stamp, "%.3f", e->stamp);
    char *lk = muc_store_key(s, KEY_MUC_LOG, r->jid);
    if (!lk)
        return;
    const char *add[] = {"XADD",  lk,     "MAXLEN",  "~",       s->archive_max,
                         id,      "nick", e->nick,   "oid",     e->occupant_id,
                         "stamp", stamp,  "payload", e->payload};
    muc_store_write(s, 14, add);
    if (!r->cfg.persistent) {
        const char *ttl[] = {"EXPIRE", lk, TEMP_LOG_TTL};
        muc_store_write(s, 3, ttl);
    }
    free(lk);
}

void muc_store_forget(muc_store *s, const char *room_jid, const char *stanza_id)
{
    char id[48];
    if (!s || keys_entry_of_sid(stanza_id, id, sizeof id) < 0)
        return;
    char *lk = muc_store_key(s, KEY_MUC_LOG, room_jid);
    if (lk) {
        const char *del[] = {"XDEL", lk, id};
        muc_store_write(s, 3, del);
    }
    free(lk);
}

/* ---- reads ---- */

/* Turns XRANGE rows into history entries (oldest first when reverse is
 * false). Returns the count filled. */
static size_t rows_from_reply(const redisReply *rep, muc_history_entry *out, size_t max,
                              bool reverse)
{
    size_t n = 0;
    for (size_t i = 0; i < rep->elements && n < max; i++) {
        const redisReply *row = rep->element[reverse ? rep->elements - 1 - i : i];
        if (row->type != REDIS_REPLY_ARRAY || row->elements != 2 ||
            row->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const redisReply *f = row->element[1];
        const char *nick = rdb_field(f, "nick"), *oid = rdb_field(f, "oid"),
                   *st = rdb_field(f, "stamp"), *payload = rdb_field(f, "payload");
        char sid[17];
        if (!nick || !payload || !st || keys_sid_of_entry(row->element[0]->str, sid) < 0)
            continue;
        muc_history_entry *e = &out[n];
        memset(e, 0, sizeof *e);
        e->nick = strdup(nick);
        e->payload = strdup(payload);
        e->stanza_id = strdup(sid);
        if (!e->nick || !e->payload || !e->stanza_id) {
            free(e->nick);
            free(e->payload);
            free(e->stanza_id);
            continue;
        }
        snprintf(e->occupant_id, sizeof e->occupant_id, "%s", oid ? oid : "");
        e->stamp = strtod(st, NULL);
        n++;
    }
    return n;
}

typedef struct query_ctx {
    muc_store_rows_cb cb;
    void *ud;
    unsigned max;
    bool reverse;
} query_ctx;

/* One round trip, and no range is ever asked around an id the archive does
 * not hold (Redis refuses an exclusive end of 0-0, say): first whether
 * ARGV[5] and ARGV[6] (entry ids, or '') are in the stream, then the page.
 * KEYS[1] the log; ARGV: XRANGE or XREVRANGE, from, to, count.
 * -> {0} an id is not there, or {1, rows}. */
static const char lua_page[] =
    "for i=5,6 do local id=ARGV[i] "
    " if id~='' and #redis.call('XRANGE',KEYS[1],id,id)==0 then return {0} end end "
    "return {1,redis.call(ARGV[1],KEYS[1],ARGV[2],ARGV[3],'COUNT',ARGV[4])}";

static void on_rows(void *ud, redisReply *reply)
{
    query_ctx *q = ud;
    const redisReply *rep = NULL;
    size_t len;
    if (rdb_is_array(reply, &len) && len >= 1 && reply->element[0]->type == REDIS_REPLY_INTEGER) {
        if (reply->element[0]->integer == 0) {
            q->cb(q->ud, MUC_STORE_UNKNOWN, NULL, 0, false);
            free(q);
            return;
        }
        if (len == 2 && rdb_is_array(reply->element[1], NULL))
            rep = reply->element[1];
    }
    if (!rep) {
        if (rdb_error(reply))
            log_error("store: archive query failed: %s", rdb_error(reply));
        q->cb(q->ud, MUC_STORE_FAILED, NULL, 0, false);
        free(q);
        return;
    }
    muc_history_entry *rows = calloc(q->max ? q->max : 1, sizeof *rows);
    size_t n = 0;
    if (rows) {
        /* We asked for one row more than the page: its presence says the
         * page is not the last. For a reverse query the extra row is the
         * oldest, which comes last in the reply. */
        size_t have = rep->elements > q->max ? q->max : rep->elements;
        redisReply trimmed = *rep;
        trimmed.elements = have;
        n = rows_from_reply(&trimmed, rows, q->max, q->reverse);
    }
    q->cb(q->ud, rows ? MUC_STORE_ROWS : MUC_STORE_FAILED, rows, n, rep->elements <= q->max);
    for (size_t i = 0; i < n; i++) {
        free(rows[i].nick);
        free(rows[i].payload);
        free(rows[i].stanza_id);
    }
    free(rows);
    free(q);
}

int muc_store_query_archive(muc_store *s, const char *room_jid, const muc_store_query *q,
                            muc_store_rows_cb cb, void *ud)
{
    if (!s || rdb_get_state(s->r) != RDB_UP)
        return -1;
    char lo[64] = "-", hi[64] = "+", after[48] = "", before[48] = "";
    if (q->start >= 0)
        snprintf(lo, sizeof lo, "%llu-0", (unsigned long long)(q->start * 1000.0));
    if (q->end >= 0)
        snprintf(hi, sizeof hi, "%llu-4095", (unsigned long long)(q->end * 1000.0));
    if (q->after) {
        if (keys_entry_of_sid(q->after, after, sizeof after) < 0)
            return -2;
        snprintf(lo, sizeof lo, "(%s", after);
    }
    if (q->before) {
        if (keys_entry_of_sid(q->before, before, sizeof before) < 0)
            return -2;
        snprintf(hi, sizeof hi, "(%s", before);
    }
    bool reverse = (q->before || q->last_page) && !q->after;
    char count[24];
    snprintf(count, sizeof count, "%u", q->max + 1);
    char *lk = muc_store_key(s, KEY_MUC_LOG, room_jid);
    query_ctx *ctx = calloc(1, sizeof *ctx);
    if (!lk || !ctx) {
        free(lk);
        free(ctx);
        return -1;
    }
    ctx->cb = cb;
    ctx->ud = ud;
    ctx->max = q->max;
    ctx->reverse = reverse;
    const char *argv[] = {"EVAL",
                          lua_page,
                          "1",
                          lk,
                          reverse ? "XREVRANGE" : "XRANGE",
                          reverse ? hi : lo,
                          reverse ? lo : hi,
                          count,
                          after,
                          before};
    size_t lens[10];
    for (int i = 0; i < 10; i++)
        lens[i] = strlen(argv[i]);
    int rc = rdb_command_argv(s->r, on_rows, ctx, 10, argv, lens);
    free(lk);
    if (rc < 0) {
        free(ctx);
        return -1;
    }
    return 0;
}

/* ---- loading at start ---- */

typedef struct load_ctx {
    muc_store *s;
    muc *m;
    void (*done)(void *ud, int rooms);
    void *ud;
    int waiting;
    int loaded;
} load_ctx;

static void load_step_done(load_ctx *c)
{
    if (--c->waiting > 0)
        return;
    c->done(c->ud, c->loaded);
    free(c);
}

typedef struct room_load {
    load_ctx *c;
    char *jid;
} room_load;

static void on_room_log(void *ud, redisReply *rep)
{
    room_load *rl = ud;
    jid j;
    if (rdb_is_array(rep, NULL) && jid_parse(rl->jid, &j) == JID_OK) {
        muc_room *r = j.local ? muc_room_get(rl->c->m, j.local) : NULL;
        if (r && r->hist_cap) {
            muc_history_entry *rows = calloc(r->hist_cap, sizeof *rows);
            size_t n = rows ? rows_from_reply(rep, rows, r->hist_cap, true) : 0;
            for (size_t i = 0; i < n; i++) {
                muc_occupant o = {.nick = rows[i].nick};
                memcpy(o.occupant_id, rows[i].occupant_id, sizeof o.occupant_id);
                muc_history_add(r, &o, rows[i].payload, rows[i].stanza_id, rows[i].stamp);
                free(rows[i].nick);
                free(rows[i].payload);
                free(rows[i].stanza_id);
            }
            free(rows);
        }
        jid_free(&j);
    }
    load_ctx *c = rl->c;
    free(rl->jid);
    free(rl);
    load_step_done(c);
}

static void on_room_state(void *ud, redisReply *rep)
{
    room_load *rl = ud;
    load_ctx *c = rl->c;
    muc_room *r = NULL;
    if (rdb_str(rep))
        r = muc_room_restore(c->m, rep->str, rep->len);
    if (r) {
        c->loaded++;
        char *lk = muc_store_key(c->s, KEY_MUC_LOG, rl->jid);
        char count[24];
        snprintf(count, sizeof count, "%zu", r->hist_cap);
        if (lk &&
            rdb_command(c->s->r, on_room_log, rl, "XREVRANGE %s + - COUNT %s", lk, count) == 0) {
            free(lk);
            return; /* on_room_log finishes this room */
        }
        free(lk);
    } else if (rdb_str(rep)) {
        log_warn("store: room %s not restored (unreadable, or already open)", rl->jid);
    }
    free(rl->jid);
    free(rl);
    load_step_done(c);
}

static void on_room_list(void *ud, redisReply *rep)
{
    load_ctx *c = ud;
    if (!rdb_is_array(rep, NULL)) {
        c->done(c->ud, -1);
        free(c);
        return;
    }
    c->waiting = 1; /* held until every request below is sent */
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (!rdb_str(e))
            continue;
        room_load *rl = calloc(1, sizeof *rl);
        char *rk = muc_store_key(c->s, KEY_MUC_ROOM, e->str);
        if (!rl || !rk || !(rl->jid = strdup(e->str))) {
            free(rl);
            free(rk);
            continue;
        }
        rl->c = c;
        if (rdb_command(c->s->r, on_room_state, rl, "GET %s", rk) == 0)
            c->waiting++;
        else {
            free(rl->jid);
            free(rl);
        }
        free(rk);
    }
    load_step_done(c);
}

/* The key behind occupant ids must outlive restarts, or everyone's id would
 * change with each one; the first instance to start picks it. */
static void on_secret(void *ud, redisReply *rep)
{
    muc *m = ud;
    unsigned long long a, b;
    if (rdb_str(rep) && sscanf(rep->str, "%16llx%16llx", &a, &b) == 2) {
        m->id_key[0] = a;
        m->id_key[1] = b;
    } else {
        log_warn("store: no occupant-id secret in Redis; ids will change at restart");
    }
}

void muc_store_load(muc_store *s, muc *m, void (*done)(void *ud, int rooms), void *ud)
{
    load_ctx *c = calloc(1, sizeof *c);
    char *rooms = s ? muc_store_key(s, KEY_MUC_ROOMS, NULL) : NULL;
    char *secret = s ? muc_store_key(s, KEY_MUC_SECRET, NULL) : NULL;
    char fresh[33];
    snprintf(fresh, sizeof fresh, "%016llx%016llx", (unsigned long long)m->id_key[0],
             (unsigned long long)m->id_key[1]);
    if (!c || !rooms || !secret ||
        rdb_command(s->r, NULL, NULL, "SET %s %s NX", secret, fresh) < 0 ||
        rdb_command(s->r, on_secret, m, "GET %s", secret) < 0 ||
        rdb_command(s->r, on_room_list, c, "SMEMBERS %s", rooms) < 0) {
        free(c);
        free(rooms);
        free(secret);
        done(ud, -1);
        return;
    }
    free(rooms);
    free(secret);
    c->s = s;
    c->m = m;
    c->done = done;
    c->ud = ud;
}
