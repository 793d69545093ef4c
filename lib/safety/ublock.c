#include "ublock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "jid.h"
#include "keys.h"
#include "log.h"
#include "ns.h"
#include "stanza.h"

struct ublock_list {
    struct ublock *u;
    char *owner; /* key of u->lists */
    char **items;
    size_t n, cap;
    unsigned refs;    /* occupants holding it */
    unsigned loading; /* SMEMBERS replies due */
};

struct ublock {
    rdb *r;
    char *prefix, *domain;
    out sink;
    hmap lists; /* owner bare -> ublock_list */
    bool closed;
};

ublock *ublock_new(rdb *r, const char *prefix, const char *domain, const out *sink)
{
    ublock *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->prefix = strdup(prefix ? prefix : "");
    u->domain = strdup(domain);
    if (!u->prefix || !u->domain) {
        ublock_free(u);
        return NULL;
    }
    u->r = r;
    u->sink = *sink;
    return u;
}

void ublock_close(ublock *u)
{
    if (u)
        u->closed = true;
}

static void items_clear(ublock_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    l->n = 0;
}

static void list_free(ublock_list *l)
{
    items_clear(l);
    free(l->items);
    free(l->owner);
    free(l);
}

void ublock_free(ublock *u)
{
    if (!u)
        return;
    size_t it = 0;
    void *v;
    while (hmap_next(&u->lists, &it, NULL, &v))
        list_free(v);
    hmap_free(&u->lists);
    free(u->prefix);
    free(u->domain);
    free(u);
}

static bool up(const ublock *u)
{
    return u->r && rdb_get_state(u->r) == RDB_UP && !u->closed;
}

static void key_of(const ublock *u, const char *owner, char *k, size_t len)
{
    keys_format(k, len, u->prefix, KEY_UBLOCK, owner);
}

/* An item as stored: the normalized bare JID, or the domain for a domain
 * item. NULL when s is not a JID. */
static char *normalize_item(const char *s, jid_err *err)
{
    jid j;
    jid_err e = jid_parse(s, &j);
    if (err)
        *err = e;
    if (e != JID_OK)
        return NULL;
    char *b = jid_bare(&j);
    jid_free(&j);
    return b;
}

static bool has_item(const ublock_list *l, const char *item)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], item) == 0)
            return true;
    return false;
}

static int add_item(ublock_list *l, const char *item)
{
    if (has_item(l, item))
        return 0;
    if (l->n >= UBLOCK_MAX_ITEMS)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        char **a = realloc(l->items, cap * sizeof *a);
        if (!a)
            return -1;
        l->items = a;
        l->cap = cap;
    }
    if (!(l->items[l->n] = strdup(item)))
        return -1;
    l->n++;
    return 0;
}

static void del_item(ublock_list *l, const char *item)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i], item) == 0) {
            free(l->items[i]);
            l->items[i] = l->items[--l->n];
            return;
        }
    }
}

bool ublock_blocks(const ublock_list *l, const char *sender_bare)
{
    if (!l || l->n == 0)
        return false;
    const char *at = strchr(sender_bare, '@');
    const char *dom = at ? at + 1 : sender_bare;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], sender_bare) == 0 || strcmp(l->items[i], dom) == 0)
            return true;
    return false;
}

static void maybe_free(ublock *u, ublock_list *l)
{
    if (l->refs || l->loading)
        return;
    hmap_del(&u->lists, l->owner);
    list_free(l);
}

static void on_load(void *ud, redisReply *reply)
{
    ublock_list *l = ud;
    l->loading--;
    /* Only the last reply due tells the newest state. */
    size_t n;
    if (!l->loading && rdb_is_array(reply, &n)) {
        items_clear(l);
        for (size_t i = 0; i < n; i++) {
            const char *s = rdb_str(reply->element[i]);
            if (!s)
                continue;
            char *it = normalize_item(s, NULL);
            if (it && add_item(l, it) < 0)
                log_warn("ublock: the block list of %s is over %d items; rest ignored", l->owner,
                         UBLOCK_MAX_ITEMS);
            free(it);
        }
    }
    maybe_free(l->u, l);
}

static void load(ublock *u, ublock_list *l)
{
    if (!up(u))
        return;
    char k[1200];
    key_of(u, l->owner, k, sizeof k);
    if (rdb_command(u->r, on_load, l, "SMEMBERS %s", k) == 0)
        l->loading++;
}

ublock_list *ublock_acquire(ublock *u, const char *owner_bare)
{
    if (!u)
        return NULL;
    ublock_list *l = hmap_get(&u->lists, owner_bare);
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l || !(l->owner = strdup(owner_bare)) || hmap_put(&u->lists, l->owner, l) < 0) {
            if (l)
                free(l->owner);
            free(l);
            return NULL;
        }
        l->u = u;
    }
    l->refs++;
    /* Reloaded at every join: another component process may have changed
     * the set since. */
    load(u, l);
    return l;
}

void ublock_release(ublock *u, ublock_list *l)
{
    if (!u || !l)
        return;
    l->refs--;
    maybe_free(u, l);
}

/* ---- XEP-0191 ---- */

static void emit(ublock *u, xml_node *st)
{
    if (!st)
        return;
    if (out_stanza(&u->sink, st) < 0)
        log_debug("link not ready; reply dropped");
    xml_free(st);
}

/* A block or unblock is answered once Redis has it: a result then means
 * every process sharing that Redis will see it. */
typedef struct set_req {
    ublock *u;
    xml_node *iq;
    char *owner;
} set_req;

static void on_set(void *ud, redisReply *reply)
{
    set_req *q = ud;
    ublock *u = q->u;
    if (!u->closed) {
        if (reply && !rdb_error(reply)) {
            emit(u, stanza_iq_result(q->iq));
        } else {
            if (reply)
                log_error("ublock: Redis refused a write: %s", reply->str);
            /* Lost on the way: it still holds where the list is loaded. */
            bool held = !reply && hmap_get(&u->lists, q->owner);
            emit(u, held ? stanza_iq_result(q->iq)
                         : stanza_error_reply(q->iq, STANZA_ERR_INTERNAL_SERVER_ERROR,
                                              "the block list could not be stored", NULL));
        }
    }
    xml_free(q->iq);
    free(q->owner);
    free(q);
}

typedef struct list_req {
    ublock *u;
    xml_node *iq;
} list_req;

static void reply_list(ublock *u, const xml_node *iq, char **items, size_t n)
{
    xml_node *bl;
    xml_node *r = stanza_iq_reply(iq, "blocklist", NS_BLOCKING, &bl);
    for (size_t i = 0; bl && i < n; i++) {
        xml_node *it = xml_append_new(bl, "item", NULL);
        if (!it || xml_set_attr(it, "jid", items[i]) < 0)
            break;
    }
    emit(u, r);
}

static void on_list(void *ud, redisReply *reply)
{
    list_req *q = ud;
    if (!q->u->closed) {
        size_t len;
        if (rdb_is_array(reply, &len)) {
            char **items = calloc(len + 1, sizeof *items);
            size_t n = 0;
            for (size_t i = 0; items && i < len; i++)
                if (rdb_str(reply->element[i]))
                    items[n++] = reply->element[i]->str;
            reply_list(q->u, q->iq, items, n);
            free(items);
        } else {
            emit(q->u, stanza_error_reply(q->iq, STANZA_ERR_INTERNAL_SERVER_ERROR,
                                          "the block list could not be read", NULL));
        }
    }
    xml_free(q->iq);
    free(q);
}

static void blocklist_get(ublock *u, const xml_node *iq, const char *owner)
{
    if (up(u)) {
        list_req *q = calloc(1, sizeof *q);
        char k[1200];
        key_of(u, owner, k, sizeof k);
        if (q && (q->iq = xml_copy(iq))) {
            q->u = u;
            if (rdb_command(u->r, on_list, q, "SMEMBERS %s", k) == 0)
                return;
            xml_free(q->iq);
        }
        free(q);
    }
    ublock_list *l = hmap_get(&u->lists, owner);
    if (l)
        reply_list(u, iq, l->items, l->n);
    else
        emit(u, stanza_error_reply(iq, STANZA_ERR_RESOURCE_CONSTRAINT,
                                   "the block list is unavailable right now", NULL));
}

/* <block/> or <unblock/>: validates every item before changing anything. */
static void block_set(ublock *u, const xml_node *iq, const xml_node *op, const char *owner,
                      bool block)
{
    size_t n = 0;
    for (xml_node *c = xml_first_child(op); c; c = xml_next(c))
        n += !xml_is_text(c);
    if (block && n == 0) {
        emit(u, stanza_error_reply(iq, STANZA_ERR_BAD_REQUEST, "a block needs at least one item",
                                   NULL));
        return;
    }
    if (n > UBLOCK_MAX_ITEMS) {
        emit(u, stanza_error_reply(iq, STANZA_ERR_NOT_ACCEPTABLE, "too many items", NULL));
        return;
    }
    char **items = calloc(n + 1, sizeof *items);
    const char **argv = calloc(n + 2, sizeof *argv);
    size_t k = 0;
    stanza_error fail = STANZA_ERR__COUNT;
    const char *why = NULL;
    if (!items || !argv) {
        fail = STANZA_ERR_INTERNAL_SERVER_ERROR;
        goto out;
    }
    for (xml_node *c = xml_first_child(op); c; c = xml_next(c)) {
        if (xml_is_text(c))
            continue;
        const char *j = xml_attr(c, "jid");
        if (strcmp(xml_name(c), "item") != 0 || !j) {
            fail = STANZA_ERR_BAD_REQUEST;
            why = "each item needs a jid";
            goto out;
        }
        jid_err e;
        if (!(items[k] = normalize_item(j, &e))) {
            fail = e == JID_ERR_NOMEM ? STANZA_ERR_INTERNAL_SERVER_ERROR : STANZA_ERR_JID_MALFORMED;
            why = jid_strerror(e);
            goto out;
        }
        k++;
    }
    ublock_list *l = hmap_get(&u->lists, owner);
    char key[1200];
    key_of(u, owner, key, sizeof key);
    bool stored = false;
    /* The loaded list first: a full list refuses before Redis is asked. */
    if (l) {
        if (!block && k == 0)
            items_clear(l);
        for (size_t i = 0; i < k; i++) {
            if (!block) {
                del_item(l, items[i]);
            } else if (add_item(l, items[i]) < 0) {
                fail = STANZA_ERR_NOT_ACCEPTABLE;
                why = "the block list is full";
                goto out;
            }
        }
    }
    if (up(u)) {
        int argc = 0;
        argv[argc++] = block ? "SADD" : (k ? "SREM" : "DEL");
        argv[argc++] = key;
        for (size_t i = 0; i < k; i++)
            argv[argc++] = items[i];
        size_t lens[UBLOCK_MAX_ITEMS + 2];
        for (int i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
        set_req *q = calloc(1, sizeof *q);
        if (q && (q->iq = xml_copy(iq)) && (q->owner = strdup(owner))) {
            q->u = u;
            stored = rdb_command_argv(u->r, on_set, q, argc, argv, lens) == 0;
        }
        if (!stored && q) {
            xml_free(q->iq);
            free(q->owner);
            free(q);
        }
    }
    if (!stored && !l) {
        fail = STANZA_ERR_RESOURCE_CONSTRAINT;
        why = "blocking is unavailable right now";
        goto out;
    }
    if (!stored)
        log_warn("ublock: Redis is away; the block change of %s holds in memory only", owner);
out:
    if (fail != STANZA_ERR__COUNT)
        emit(u, stanza_error_reply(iq, fail, why, NULL));
    else if (!stored)
        emit(u, stanza_iq_result(iq)); /* else on_set answers */
    for (size_t i = 0; items && i < k; i++)
        free(items[i]);
    free(items);
    free(argv);
}

/* A block carrying XEP-0377 reports in its items is the abuse desk's to
 * answer and store; the loaded list only learns the blocked JIDs. */
static bool carries_report(const xml_node *op)
{
    for (xml_node *it = xml_first_child(op); it; it = xml_next(it)) {
        for (xml_node *c = xml_is_text(it) ? NULL : xml_first_child(it); c; c = xml_next(c)) {
            const char *ns = xml_is_text(c) ? NULL : xml_ns(c);
            if (ns && strncmp(ns, NS_REPORTING_PREFIX, strlen(NS_REPORTING_PREFIX)) == 0)
                return true;
        }
    }
    return false;
}

static void observe(ublock *u, const xml_node *op, const char *owner, bool block)
{
    ublock_list *l = hmap_get(&u->lists, owner);
    for (xml_node *c = xml_first_child(op); l && c; c = xml_next(c)) {
        const char *j = xml_is_text(c) ? NULL : xml_attr(c, "jid");
        char *item = j ? normalize_item(j, NULL) : NULL;
        if (item && block)
            add_item(l, item);
        else if (item)
            del_item(l, item);
        free(item);
    }
}

void ublock_reload(ublock *u, const char *owner_bare)
{
    ublock_list *l = u ? hmap_get(&u->lists, owner_bare) : NULL;
    if (l)
        load(u, l);
}

bool ublock_route(void *ud, const stanza_ctx *c)
{
    ublock *u = ud;
    const xml_node *st = c->st, *q = c->payload;
    bool get = c->type && strcmp(c->type, "get") == 0;
    bool set = c->type && strcmp(c->type, "set") == 0;
    if (!u || c->kind != STANZA_IQ || (!get && !set) || c->to_err != JID_OK || c->to.local ||
        c->to.resource || strcmp(c->to.domain, u->domain) != 0 || !q || !xml_ns(q) ||
        strcmp(xml_ns(q), NS_BLOCKING) != 0)
        return false;
    if (c->from_err != JID_OK)
        return false; /* the router answers jid-malformed */
    const char *owner = c->from_bare;
    const char *name = xml_name(q);
    if (owner && set && strcmp(name, "block") == 0 && carries_report(q)) {
        observe(u, q, owner, true);
        return false;
    }
    if (!owner)
        emit(u, stanza_error_reply(st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL));
    else if (!xml_attr(st, "id"))
        emit(u, stanza_error_reply(st, STANZA_ERR_BAD_REQUEST, "an IQ must have an id", NULL));
    else if (get && strcmp(name, "blocklist") == 0)
        blocklist_get(u, st, owner);
    else if (set && (strcmp(name, "block") == 0 || strcmp(name, "unblock") == 0))
        block_set(u, st, q, owner, strcmp(name, "block") == 0);
    else
        emit(u, stanza_error_reply(st, STANZA_ERR_BAD_REQUEST,
                                   "use get with <blocklist/>, set with <block/> or <unblock/>",
                                   NULL));
    return true;
}

const router_route ublock_routes[UBLOCK_ROUTES] = {
    {ROUTE_IQ, ROUTE_TO_SERVICE, NS_BLOCKING, NULL, ublock_route, NS_BLOCKING},
};

bool ublock_handle(ublock *u, xml_node *st)
{
    stanza_ctx *c = stanza_ctx_new(st);
    if (!c)
        return true; /* st is gone */
    bool taken = ublock_route(u, c);
    if (!taken)
        c->st = NULL; /* still the caller's */
    stanza_ctx_free(c);
    return taken;
}

/* ---- invitations ---- */

typedef struct send_req {
    ublock *u;
    xml_node *msg;
} send_req;

static void on_member(void *ud, redisReply *reply)
{
    send_req *q = ud;
    bool blocked = false;
    size_t n;
    rdb_is_array(reply, &n);
    for (size_t i = 0; i < n; i++)
        blocked |=
            reply->element[i]->type == REDIS_REPLY_INTEGER && reply->element[i]->integer == 1;
    if (!q->u->closed && !blocked)
        emit(q->u, q->msg);
    else
        xml_free(q->msg);
    free(q);
}

void ublock_send(ublock *u, const char *sender_bare, xml_node *msg)
{
    const char *to = xml_attr(msg, "to");
    char *owner = to ? normalize_item(to, NULL) : NULL;
    if (!u || !owner) {
        free(owner);
        if (u)
            emit(u, msg);
        else
            xml_free(msg);
        return;
    }
    ublock_list *l = hmap_get(&u->lists, owner);
    if (l && !l->loading) {
        if (ublock_blocks(l, sender_bare))
            xml_free(msg);
        else
            emit(u, msg);
        free(owner);
        return;
    }
    if (up(u)) {
        send_req *q = calloc(1, sizeof *q);
        char k[1200];
        key_of(u, owner, k, sizeof k);
        const char *at = strchr(sender_bare, '@');
        if (q) {
            q->u = u;
            q->msg = msg;
            if (rdb_command(u->r, on_member, q, "SMISMEMBER %s %s %s", k, sender_bare,
                            at ? at + 1 : sender_bare) == 0) {
                free(owner);
                return;
            }
            free(q);
        }
    }
    /* Nothing known and nobody to ask: deliver, as before blocking. */
    free(owner);
    emit(u, msg);
}
