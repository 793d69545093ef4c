/* stoactl's verbs on the rooms' state in Redis (schemas/redis-keys.md,
 * muc:), and erase, which searches every room's archive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/verbs.h"
#include "keys.h"
#include "muc/muc.h"
#include "rdb.h"
#include "xml.h"
#include "xmlparse.h"

/* The rooms Redis knows for this service: the persistent ones and those
 * with occupants or a temporary room's state, sorted, each once. */
typedef struct stored_room {
    char *jid;
    bool persistent;
} stored_room;

typedef struct room_set {
    stored_room *r;
    size_t n;
} room_set;

static void rooms_free(room_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->r[i].jid);
    free(s->r);
}

static int add_members(room_set *s, const redisReply *r, bool persistent)
{
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *j = rdb_str(r->element[i]);
        size_t k = 0;
        while (j && k < s->n && strcmp(s->r[k].jid, j) != 0)
            k++;
        if (!j || k < s->n) {
            if (j && persistent)
                s->r[k].persistent = true;
            continue;
        }
        stored_room *a = realloc(s->r, (s->n + 1) * sizeof *a);
        if (!a)
            return -1;
        s->r = a;
        if (!(s->r[s->n].jid = strdup(j)))
            return -1;
        s->r[s->n++].persistent = persistent;
    }
    return 0;
}

static int by_jid(const void *a, const void *b)
{
    return strcmp(((const stored_room *)a)->jid, ((const stored_room *)b)->jid);
}

static int rooms_get(ctl *c, room_set *s)
{
    *s = (room_set){0};
    char *all = ctl_key(c, KEY_MUC_ROOMS, NULL), *live = ctl_key(c, KEY_MUC_LIVE, c->domain);
    int st = all && live ? CTL_OK : ctl_fail(CTL_SOFTWARE, "out of memory");
    redisReply *p = st == CTL_OK ? ctl_cmd(c, &st, "SMEMBERS %s", all) : NULL;
    redisReply *l = p ? ctl_cmd(c, &st, "SMEMBERS %s", live) : NULL;
    if (p && l && (add_members(s, p, true) < 0 || add_members(s, l, false) < 0))
        st = ctl_fail(CTL_SOFTWARE, "out of memory");
    if (p)
        freeReplyObject(p);
    if (l)
        freeReplyObject(l);
    free(all);
    free(live);
    if (s->n)
        qsort(s->r, s->n, sizeof *s->r, by_jid);
    return st;
}

static long long count_of(ctl *c, const char *cmd, const char *stem, const char *room, int *st)
{
    char *k = ctl_key(c, stem, room);
    redisReply *r = k && *st == CTL_OK ? ctl_cmd(c, st, "%s %s", cmd, k) : NULL;
    long long n = r ? rdb_int(r, 0) : 0;
    if (r)
        freeReplyObject(r);
    free(k);
    return n;
}

int ctl_rooms_list(ctl *c, char **args)
{
    (void)args;
    room_set s;
    int st = rooms_get(c, &s);
    if (st == CTL_OK && s.n)
        printf("ROOM\tKIND\tOCCUPANTS\tARCHIVED\n");
    for (size_t i = 0; st == CTL_OK && i < s.n; i++) {
        const stored_room *r = &s.r[i];
        long long occ = count_of(c, "HLEN", KEY_MUC_OCC, r->jid, &st);
        long long log = count_of(c, "XLEN", KEY_MUC_LOG, r->jid, &st);
        if (st == CTL_OK)
            printf("%s\t%s\t%lld\t%lld\n", r->jid, r->persistent ? "persistent" : "temporary", occ,
                   log);
    }
    if (st == CTL_OK && s.n == 0)
        fprintf(stderr, "no rooms stored for %s\n", c->domain);
    rooms_free(&s);
    return st;
}

/* A room of this service, normalized; NULL after printing why. */
static char *room_of(ctl *c, const char *s)
{
    char *r = ctl_bare(s);
    const char *at = r ? strchr(r, '@') : NULL;
    if (at && strcmp(at + 1, c->domain) != 0) {
        ctl_fail(CTL_DATAERR, "%s: not a room of %s", r, c->domain);
        free(r);
        return NULL;
    }
    return r;
}

static void print_state(const char *state, size_t len)
{
    static const xmlparse_limits lim = {4 * 1024 * 1024, 8, 16, 200000};
    xml_node *root = xml_parse_document(state, len, &lim);
    if (!root) {
        printf("state: unreadable (%zu bytes)\n", len);
        return;
    }
    printf("created: %s\n", xml_attr(root, "created") ? xml_attr(root, "created") : "?");
    printf("locked: %s\n",
           xml_attr(root, "locked") ? "yes (its owner has not configured it)" : "no");
    for (xml_node *n = xml_first_child(root); n; n = xml_next(n)) {
        const char *name = xml_is_text(n) ? "" : xml_name(n);
        const char *k, *v;
        if (strcmp(name, "config") == 0)
            for (size_t i = 0; xml_attr_at(n, i, &k, &v); i++)
                printf("config %s: %s\n", k, v);
        else if (strcmp(name, "subject") == 0)
            printf("subject: %s (by %s)\n", xml_text(n) ? xml_text(n) : "",
                   xml_attr(n, "by") ? xml_attr(n, "by") : "?");
        else if (strcmp(name, "aff") == 0)
            printf("affiliation: %s %s%s%s\n", xml_attr(n, "jid"), xml_attr(n, "aff"),
                   xml_attr(n, "reason") ? " " : "",
                   xml_attr(n, "reason") ? xml_attr(n, "reason") : "");
    }
    xml_free(root);
}

/* The occupant records: who is seated, with nickname and role. */
static int print_occupants(ctl *c, const char *room)
{
    char *k = ctl_key(c, KEY_MUC_OCC, room);
    int st = k ? CTL_OK : ctl_fail(CTL_SOFTWARE, "out of memory");
    redisReply *r = k ? ctl_cmd(c, &st, "HGETALL %s", k) : NULL;
    static const xmlparse_limits lim = {256 * 1024, 16, 64, 4096};
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const char *v = rdb_str(r->element[i + 1]);
        xml_node *s = v ? xml_parse_document(v, strlen(v), &lim) : NULL;
        printf("occupant: %s nick=%s role=%s\n", rdb_str(r->element[i]),
               s && xml_attr(s, "nick") ? xml_attr(s, "nick") : "?",
               s && xml_attr(s, "role") ? xml_attr(s, "role") : "?");
        xml_free(s);
    }
    if (r)
        freeReplyObject(r);
    free(k);
    return st;
}

int ctl_rooms_inspect(ctl *c, char **args)
{
    char *room = room_of(c, args[0]);
    if (!room)
        return CTL_DATAERR;
    char *k = ctl_key(c, KEY_MUC_ROOM, room);
    int st = k ? CTL_OK : ctl_fail(CTL_SOFTWARE, "out of memory");
    redisReply *r = k ? ctl_cmd(c, &st, "GET %s", k) : NULL;
    if (r && r->type != REDIS_REPLY_STRING) {
        st = ctl_fail(CTL_NOINPUT, "no room %s in Redis (see stoactl rooms list)", room);
    } else if (r) {
        printf("room: %s\n", room);
        print_state(r->str, r->len);
        st = print_occupants(c, room);
        long long log = count_of(c, "XLEN", KEY_MUC_LOG, room, &st);
        if (st == CTL_OK)
            printf("archived messages: %lld\n", log);
    }
    if (r)
        freeReplyObject(r);
    free(k);
    free(room);
    return st;
}

/* Every key of the room, as a destroy by its owner removes them. */
int ctl_rooms_destroy(ctl *c, char **args)
{
    if (!c->yes)
        return ctl_fail(CTL_USAGE, "rooms destroy removes the room, its archive and its "
                                   "occupants for good: add --yes");
    char *room = room_of(c, args[0]);
    if (!room)
        return CTL_DATAERR;
    char *state = ctl_key(c, KEY_MUC_ROOM, room), *log = ctl_key(c, KEY_MUC_LOG, room),
         *occ = ctl_key(c, KEY_MUC_OCC, room), *all = ctl_key(c, KEY_MUC_ROOMS, NULL),
         *live = ctl_key(c, KEY_MUC_LIVE, c->domain);
    int st = state && log && occ && all && live ? CTL_OK : ctl_fail(CTL_SOFTWARE, "out of memory");
    redisReply *r = st == CTL_OK ? ctl_cmd(c, &st, "DEL %s %s %s", state, log, occ) : NULL;
    long long gone = r ? rdb_int(r, 0) : 0;
    if (r)
        freeReplyObject(r);
    redisReply *s1 = st == CTL_OK ? ctl_cmd(c, &st, "SREM %s %s", all, room) : NULL;
    redisReply *s2 = s1 ? ctl_cmd(c, &st, "SREM %s %s", live, room) : NULL;
    gone += (s1 ? rdb_int(s1, 0) : 0) + (s2 ? rdb_int(s2, 0) : 0);
    if (s1)
        freeReplyObject(s1);
    if (s2)
        freeReplyObject(s2);
    if (st == CTL_OK && gone == 0)
        st = ctl_fail(CTL_NOINPUT, "no room %s in Redis (see stoactl rooms list)", room);
    else if (st == CTL_OK && ctl_audit(c, "destroy-room", NULL, room, NULL) == 0)
        printf("%s is gone from Redis; a running stoa-component forgets it at its next "
               "restart (docs/operating.md)\n",
               room);
    free(state);
    free(log);
    free(occ);
    free(all);
    free(live);
    free(room);
    return st;
}

/* ---- erase ---- */

typedef struct erase_sum {
    desk_store_erased sum;
    int st;
} erase_sum;

static void erase_batch(ctl *c, const char *bare, const char *ps, bool keys,
                        const desk_store_erase_room *rooms, size_t n, erase_sum *e)
{
    desk_store_cmd cmd;
    desk_store_erase(&cmd, c->prefix, bare, ps, keys, rooms, n);
    redisReply *r = ctl_run(c, &cmd, &e->st);
    desk_store_erased got;
    if (r && desk_store_read_erased(r, &got) == 0) {
        e->sum.reports += got.reports;
        e->sum.keys += got.keys;
        e->sum.msgs += got.msgs;
    } else if (r) {
        e->st = ctl_fail(CTL_SOFTWARE, "redis: the erase script answered something unexpected");
    }
    if (r)
        freeReplyObject(r);
}

/* The identifiers the rooms derived from {p}muc:secret: the person's
 * reporter pseudonym and occupant ids (current and 0.1.0's) per room. */
static int erase_all(ctl *c, muc *m, const char *bare, erase_sum *e)
{
    room_set s;
    if ((e->st = rooms_get(c, &s)) != CTL_OK)
        return e->st;
    char ps[33];
    muc_pseudonym(m, "desk-reporter", bare, ps);
    desk_store_erase_room *rooms = calloc(s.n ? s.n : 1, sizeof *rooms);
    char(*oids)[68] = calloc(s.n ? s.n : 1, sizeof *oids);
    if (!rooms || !oids)
        e->st = ctl_fail(CTL_SOFTWARE, "out of memory");
    for (size_t i = 0; e->st == CTL_OK && i < s.n; i++) {
        char oid[33], old[33];
        muc_occupant_id_of(m, s.r[i].jid, bare, oid);
        muc_occupant_id_legacy(m, s.r[i].jid, bare, old);
        snprintf(oids[i], sizeof oids[i], "%s %s", oid, old);
        rooms[i] = (desk_store_erase_room){s.r[i].jid, oids[i]};
    }
    size_t per = DESK_STORE_ERASE_ROOMS;
    for (size_t from = 0; e->st == CTL_OK && (from < s.n || from == 0); from += per) {
        size_t n = s.n - from < per ? s.n - from : per;
        erase_batch(c, bare, ps, from == 0, rooms + from, n, e);
        if (s.n == 0)
            break;
    }
    free(rooms);
    free(oids);
    rooms_free(&s);
    return e->st;
}

static int load_secret(ctl *c, muc *m)
{
    char *k = ctl_key(c, KEY_MUC_SECRET, NULL);
    int st = k ? CTL_OK : ctl_fail(CTL_SOFTWARE, "out of memory");
    redisReply *r = k ? ctl_cmd(c, &st, "GET %s", k) : NULL;
    if (r && muc_set_secret(m, rdb_str(r)) < 0)
        st = ctl_fail(CTL_NOINPUT,
                      "%s holds no identifier secret: has stoa-component ever run on this Redis?",
                      k);
    if (r)
        freeReplyObject(r);
    free(k);
    return st;
}

static buf *no_output(void *ud)
{
    (void)ud;
    return NULL;
}

static void no_commit(void *ud)
{
    (void)ud;
}

int ctl_erase(ctl *c, char **args)
{
    if (!c->yes)
        return ctl_fail(CTL_USAGE, "erase removes everything Stoa holds about a person and "
                                   "cannot be undone: add --yes");
    char *bare = ctl_bare(args[0]);
    if (!bare)
        return CTL_DATAERR;
    /* A service object with no rooms and no output, for its identifiers. */
    out sink = {no_output, no_commit, NULL, NULL};
    muc_config mc = {.domain = c->domain};
    muc *m = muc_new(&mc, &sink);
    erase_sum e = {{0, 0, 0}, CTL_OK};
    int st = m ? load_secret(c, m) : ctl_fail(CTL_SOFTWARE, "out of memory");
    if (st == CTL_OK)
        st = erase_all(c, m, bare, &e);
    if (st == CTL_OK) {
        char ps[33], who[48], detail[200];
        muc_pseudonym(m, "desk-erased", bare, ps);
        snprintf(who, sizeof who, "erased:%s", ps);
        snprintf(detail, sizeof detail, "reports=%lld keys=%lld archive=%lld", e.sum.reports,
                 e.sum.keys, e.sum.msgs);
        if (ctl_audit(c, "erase", who, NULL, detail) < 0)
            st = CTL_UNAVAILABLE;
        else
            printf("erased for %s: %lld reports, %lld keys (bans, mutes, block list, report "
                   "indexes), %lld archived room messages\n",
                   bare, e.sum.reports, e.sum.keys, e.sum.msgs);
    }
    muc_free(m);
    free(bare);
    return st;
}
