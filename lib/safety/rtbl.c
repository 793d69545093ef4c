/* rtbl: the lists, their lookup and their mirror in Redis (rtbl.h). */
#include <ctype.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "keys.h"
#include "log.h"
#include "safety/rtbl_internal.h"
#include "xtime.h"

#define DEFAULT_MAX_ITEMS 100000
#define DEFAULT_POLL 0.5
#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_REFRESH 3600.0
#define SADD_CHUNK 256 /* members per SADD while a node is written whole */

/* ---- the lists ---- */

void rtbl_sha256_hex(const char *s, char out[65])
{
    unsigned char d[32];
    static const char hex[] = "0123456789abcdef";
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), d) < 0)
        memset(d, 0, sizeof d);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}

static bool has(const rtbl_node *n, const char *id)
{
    return n->items.count && hmap_get(&n->items, id);
}

bool rtbl_listed(const rtbl *t, const char *who)
{
    return rtbl_list_of(t, who) != NULL;
}

const char *rtbl_list_of(const rtbl *t, const char *who)
{
    if (!t || !who || !*who)
        return NULL;
    const char *at = strchr(who, '@');
    const char *domain = at ? at + 1 : who;
    char hw[65] = "", hd[65] = "";
    for (size_t i = 0; i < t->nnodes; i++) {
        const rtbl_node *n = t->nodes[i];
        if (!n->items.count)
            continue;
        if (!n->hashes) {
            if (has(n, domain))
                return n->key;
            continue;
        }
        /* Hashed once, and only when a node of hashes holds anything. */
        if (!hd[0]) {
            rtbl_sha256_hex(domain, hd);
            if (at)
                rtbl_sha256_hex(who, hw);
        }
        if (has(n, hd) || (at && has(n, hw)))
            return n->key;
    }
    return NULL;
}

void rtbl_on_change(rtbl *t, void (*fn)(void *ud), void *ud)
{
    if (!t)
        return;
    t->on_change = fn;
    t->change_ud = ud;
}

void rtbl_changed(rtbl *t)
{
    if (t->on_change && !t->closed)
        t->on_change(t->change_ud);
}

size_t rtbl_count(const rtbl *t)
{
    size_t c = 0;
    for (size_t i = 0; t && i < t->nnodes; i++)
        c += t->nodes[i]->items.count;
    return c;
}

static void set_free(hmap *m)
{
    size_t it = 0;
    void *v;
    while (hmap_next(m, &it, NULL, &v))
        free(v);
    hmap_free(m);
}

/* Adds a copy of id to m; 0, or -1 on OOM. */
static int set_add(hmap *m, const char *id)
{
    if (hmap_get(m, id))
        return 0;
    char *k = strdup(id);
    if (!k || hmap_put(m, k, k) < 0) {
        free(k);
        return -1;
    }
    return 0;
}

static void set_del(hmap *m, const char *id)
{
    free(hmap_del(m, id));
}

int rtbl_item_id(const rtbl_node *n, const char *id, char *out, size_t outlen, const char **why)
{
    size_t len = id ? strlen(id) : 0;
    if (n->hashes) {
        /* xmppbl.org writes lowercase; upper case is the same hash. */
        bool ok = len == 64 && outlen > 64;
        for (size_t i = 0; ok && i < 64; i++) {
            ok = isxdigit((unsigned char)id[i]);
            out[i] = (char)tolower((unsigned char)id[i]);
        }
        out[ok ? 64 : 0] = '\0';
        *why = "not a hex SHA-256";
        return ok ? 0 : -1;
    }
    jid j;
    jid_err e = len ? jid_parse(id, &j) : JID_ERR_EMPTY;
    bool ok = e == JID_OK && !j.local && !j.resource && strlen(j.domain) < outlen;
    if (ok)
        strcpy(out, j.domain);
    if (e == JID_OK)
        jid_free(&j);
    *why = "not a domain";
    return ok ? 0 : -1;
}

rtbl_node *rtbl_node_find(rtbl *t, const char *name)
{
    for (size_t i = 0; name && i < t->nnodes; i++)
        if (t->nodes[i]->configured && strcmp(t->nodes[i]->name, name) == 0)
            return t->nodes[i];
    return NULL;
}

static rtbl_node *node_by_key(rtbl *t, const char *key)
{
    for (size_t i = 0; i < t->nnodes; i++)
        if (strcmp(t->nodes[i]->key, key) == 0)
            return t->nodes[i];
    return NULL;
}

static void node_free(rtbl_node *n)
{
    if (!n)
        return;
    set_free(&n->items);
    if (n->fresh) {
        set_free(n->fresh);
        free(n->fresh);
    }
    free(n->bad_example);
    free(n->pending);
    free(n->name);
    free(n->key);
    free(n);
}

static rtbl_node *node_add(rtbl *t, const char *key, const char *name, bool hashes)
{
    rtbl_node **nn = realloc(t->nodes, (t->nnodes + 1) * sizeof *nn);
    if (!nn)
        return NULL;
    t->nodes = nn;
    rtbl_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->hashes = hashes;
    n->key = strdup(key);
    n->name = strdup(name);
    if (!n->key || !n->name) {
        node_free(n);
        return NULL;
    }
    t->nodes[t->nnodes++] = n;
    return n;
}

/* ---- the mirror: writing ---- */

static void on_written(void *ud, redisReply *reply)
{
    (void)ud;
    if (rdb_error(reply))
        log_warn("rtbl: Redis refused a write of the lists: %s", rdb_error(reply));
}

/* The serial after our own change: when nobody else changed anything
 * since we last read, there is nothing new to read back. */
static void on_serial_raised(void *ud, redisReply *reply)
{
    rtbl *t = ud;
    long long v = rdb_int(reply, -1);
    if (v > 0 && v == t->serial + 1)
        t->serial = v;
}

static bool redis_ok(const rtbl *t)
{
    return t->r && t->redis_up && !t->closed;
}

static int cmd(rtbl *t, rdb_reply_cb cb, int argc, const char **argv)
{
    size_t lens[2 + SADD_CHUNK];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rdb_command_argv(t->r, cb, t, argc, argv, lens) < 0)
        return -1;
    return 0;
}

static void raise_serial(rtbl *t, const rtbl_node *n)
{
    char idx[512], ser[512];
    keys_format(idx, sizeof idx, t->prefix, KEY_RTBL_NODES, NULL);
    keys_format(ser, sizeof ser, t->prefix, KEY_RTBL_SERIAL, NULL);
    cmd(t, on_written, 4, (const char *[]){"HSET", idx, n->key, n->hashes ? "hashes" : "domains"});
    cmd(t, on_serial_raised, 2, (const char *[]){"INCR", ser});
}

/* Replaces the node's set in Redis with what n holds: filled under a
 * temporary key and RENAMEd, so readers never see half a list. */
static void write_whole(rtbl *t, rtbl_node *n)
{
    if (!redis_ok(t)) {
        n->dirty = true;
        return;
    }
    n->dirty = false;
    char key[1200], tmp[1200];
    keys_format(key, sizeof key, t->prefix, KEY_RTBL_ITEMS, n->key);
    keys_format(tmp, sizeof tmp, t->prefix, KEY_RTBL_LOADING, n->key);
    cmd(t, on_written, 2, (const char *[]){"DEL", tmp});
    const char *argv[2 + SADD_CHUNK] = {"SADD", tmp};
    int argc = 2;
    size_t it = 0;
    const char *id;
    for (bool more = true; more;) {
        more = hmap_next(&n->items, &it, &id, NULL);
        if (more)
            argv[argc++] = id;
        if (argc > 2 && (!more || argc == 2 + SADD_CHUNK)) {
            cmd(t, on_written, argc, argv);
            argc = 2;
        }
    }
    if (n->items.count)
        cmd(t, on_written, 3, (const char *[]){"RENAME", tmp, key});
    else
        cmd(t, on_written, 2, (const char *[]){"DEL", key});
    raise_serial(t, n);
}

void rtbl_item_change(rtbl *t, rtbl_node *n, const char *id, bool add)
{
    n->changes++;
    if (add ? set_add(&n->items, id) < 0 : (set_del(&n->items, id), 0))
        log_error("rtbl: %s: out of memory adding an item", n->key);
    /* A notification that arrives while a fetch is gathered is newer than
     * what the fetch will bring for that item. */
    if (n->fresh && (add ? set_add(n->fresh, id) : (set_del(n->fresh, id), 0)) < 0)
        log_error("rtbl: %s: out of memory adding an item", n->key);
    rtbl_changed(t);
    if (!redis_ok(t) || n->dirty) {
        n->dirty = true;
        return;
    }
    char key[1200];
    keys_format(key, sizeof key, t->prefix, KEY_RTBL_ITEMS, n->key);
    cmd(t, on_written, 3, (const char *[]){add ? "SADD" : "SREM", key, id});
    raise_serial(t, n);
}

void rtbl_node_clear(rtbl *t, rtbl_node *n)
{
    n->changes++;
    set_free(&n->items);
    n->items = (hmap)HMAP_INIT;
    rtbl_changed(t);
    write_whole(t, n);
}

bool rtbl_fetch_add(rtbl *t, rtbl_node *n, const char *id)
{
    if (n->fresh->count >= t->max_items) {
        n->over = true;
        return false;
    }
    if (set_add(n->fresh, id) < 0)
        log_error("rtbl: %s: out of memory gathering items", n->key);
    return true;
}

void rtbl_fetch_done(rtbl *t, rtbl_node *n)
{
    size_t added = 0, removed = 0, it = 0;
    const char *id;
    n->changes++;
    while (hmap_next(n->fresh, &it, &id, NULL))
        added += !hmap_get(&n->items, id);
    it = 0;
    while (hmap_next(&n->items, &it, &id, NULL))
        removed += !hmap_get(n->fresh, id);
    set_free(&n->items);
    n->items = *n->fresh;
    free(n->fresh);
    n->fresh = NULL;
    rtbl_changed(t);
    log_info("rtbl: %s: %zu entries (%zu added, %zu removed)", n->key, n->items.count, added,
             removed);
    if (n->bad)
        log_warn("rtbl: %s: %zu malformed item id%s ignored, e.g. '%.70s': %s", n->key, n->bad,
                 n->bad == 1 ? "" : "s", n->bad_example ? n->bad_example : "",
                 n->hashes ? "not a hex SHA-256" : "not a domain");
    if (n->over)
        log_warn("rtbl: %s: the node has more than [rtbl] max_items = %zu items; only the first "
                 "%zu are applied",
                 n->key, t->max_items, t->max_items);
    write_whole(t, n);
}

/* ---- the mirror: reading ---- */

typedef struct read_req {
    rtbl *t;
    char *key;
    bool hashes;
    unsigned long changes; /* the node's when the read was sent */
} read_req;

static void on_members(void *ud, redisReply *reply)
{
    read_req *q = ud;
    rtbl *t = q->t;
    size_t n;
    if (!t->closed && rdb_is_array(reply, &n)) {
        rtbl_node *node = node_by_key(t, q->key);
        const char *slash = strchr(q->key, '/');
        if (!node)
            node = node_add(t, q->key, slash ? slash + 1 : q->key, q->hashes);
        /* The subscriber's own changes made while Redis was away go the
         * other way: written whole, never overwritten by an older mirror;
         * nor is a change made here since the read was sent: the next look
         * reads again, for what others changed meanwhile. */
        if (node && node->changes != q->changes)
            t->serial = -1;
        else if (node && !node->dirty) {
            hmap fresh = HMAP_INIT;
            for (size_t i = 0; i < n && fresh.count < t->max_items; i++)
                if (rdb_str(rdb_elem(reply, i)))
                    set_add(&fresh, rdb_str(rdb_elem(reply, i)));
            set_free(&node->items);
            node->items = fresh;
            rtbl_changed(t);
        }
    }
    free(q->key);
    free(q);
}

static void on_index(void *ud, redisReply *reply)
{
    rtbl *t = ud;
    t->reading = false;
    size_t n;
    if (t->closed || !rdb_is_array(reply, &n))
        return;
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *key = rdb_str(rdb_elem(reply, i)), *kind = rdb_str(rdb_elem(reply, i + 1));
        read_req *q = key && kind ? calloc(1, sizeof *q) : NULL;
        if (!q || !(q->key = strdup(key))) {
            free(q);
            continue;
        }
        q->t = t;
        q->hashes = strcmp(kind, "hashes") == 0;
        rtbl_node *node = node_by_key(t, key);
        q->changes = node ? node->changes : 0;
        char k[1200];
        keys_format(k, sizeof k, t->prefix, KEY_RTBL_ITEMS, key);
        size_t lens[2] = {8, strlen(k)};
        if (rdb_command_argv(t->r, on_members, q, 2, (const char *[]){"SMEMBERS", k}, lens) < 0) {
            free(q->key);
            free(q);
            continue;
        }
    }
}

static void on_serial(void *ud, redisReply *reply)
{
    rtbl *t = ud;
    long long v = rdb_int(reply, 0);
    if (t->closed || !reply || rdb_error(reply) || v == t->serial) {
        t->reading = false;
        return;
    }
    t->serial = v;
    char idx[512];
    keys_format(idx, sizeof idx, t->prefix, KEY_RTBL_NODES, NULL);
    if (cmd(t, on_index, 2, (const char *[]){"HGETALL", idx}) < 0)
        t->reading = false;
}

static void read_mirror(rtbl *t)
{
    if (!redis_ok(t) || t->reading)
        return;
    char ser[512];
    keys_format(ser, sizeof ser, t->prefix, KEY_RTBL_SERIAL, NULL);
    if (cmd(t, on_serial, 2, (const char *[]){"GET", ser}) == 0)
        t->reading = true;
}

void rtbl_redis_state(rtbl *t, rdb_state state)
{
    if (!t || (state == RDB_UP) == t->redis_up)
        return;
    t->redis_up = state == RDB_UP;
    if (!t->redis_up)
        return;
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i]->dirty)
            write_whole(t, t->nodes[i]);
    t->serial = -1; /* read it all again: anything may have changed meanwhile */
    read_mirror(t);
}

/* ---- life ---- */

double rtbl_now(const rtbl *t)
{
    return t->loop ? ev_now(t->loop) : xtime_mono();
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    rtbl *t = w->data;
    read_mirror(t);
    rtbl_check_deadlines(t);
}

/* Adds the configured nodes of one kind; -1 with err on a bad name. */
static int add_nodes(rtbl *t, const char *list, bool hashes, char *err, size_t errlen)
{
    char *copy = strdup(list ? list : ""), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *s = strtok_r(copy, ", \t", &save); s && rc == 0; s = strtok_r(NULL, ", \t", &save)) {
        char key[1100];
        if (strlen(s) > 256 || strpbrk(s, "/\"'<>&")) {
            snprintf(err, errlen, "[rtbl] node '%.60s' is not a usable node name", s);
            rc = -1;
            break;
        }
        snprintf(key, sizeof key, "%s/%s", t->service, s);
        rtbl_node *n = node_by_key(t, key);
        if (n) {
            snprintf(err, errlen, "[rtbl] node '%.60s' is listed twice", s);
            rc = -1;
        } else if (!(n = node_add(t, key, s, hashes))) {
            rc = -1;
        } else {
            n->configured = true;
        }
    }
    free(copy);
    return rc;
}

rtbl *rtbl_new(struct ev_loop *loop, rdb *r, const rtbl_config *cfg, const out *sink, char *err,
               size_t errlen)
{
    rtbl *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->loop = loop;
    t->r = r;
    t->serial = -1;
    t->max_items = cfg->max_items ? cfg->max_items : DEFAULT_MAX_ITEMS;
    t->poll = cfg->poll > 0 ? cfg->poll : DEFAULT_POLL;
    t->timeout = cfg->timeout > 0 ? cfg->timeout : DEFAULT_TIMEOUT;
    t->refresh = cfg->refresh > 0 ? cfg->refresh : DEFAULT_REFRESH;
    if (sink) {
        t->sink = *sink;
        t->has_sink = true;
    }
    t->prefix = strdup(cfg->prefix ? cfg->prefix : "");
    t->jid = strdup(cfg->jid ? cfg->jid : "");
    bool ok = t->prefix && t->jid;
    if (ok && cfg->service && *cfg->service) {
        jid_err e;
        t->service = jid_normalize(cfg->service, &e);
        if (!t->service) {
            snprintf(err, errlen, "[rtbl] service '%.100s': %s", cfg->service, jid_strerror(e));
            ok = false;
        }
        ok = ok && add_nodes(t, cfg->hash_nodes, true, err, errlen) == 0 &&
             add_nodes(t, cfg->domain_nodes, false, err, errlen) == 0;
    }
    if (!ok) {
        rtbl_free(t);
        return NULL;
    }
    if (loop) {
        ev_timer_init(&t->timer, on_tick, t->poll, t->poll);
        t->timer.data = t;
        ev_timer_start(loop, &t->timer);
    }
    return t;
}

void rtbl_close(rtbl *t)
{
    if (!t || t->closed)
        return;
    t->closed = true;
    if (t->loop)
        ev_timer_stop(t->loop, &t->timer);
}

void rtbl_free(rtbl *t)
{
    if (!t)
        return;
    rtbl_close(t);
    for (size_t i = 0; i < t->nnodes; i++)
        node_free(t->nodes[i]);
    free(t->nodes);
    free(t->service);
    free(t->jid);
    free(t->prefix);
    free(t);
}
