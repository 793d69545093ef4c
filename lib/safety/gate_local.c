/* The gate on local state: the same limits as the script, on buckets in
 * memory, and the bans and mutes Redis last gave, kept for while Redis is
 * away (see gate.h). Both tables are bounded by [ratelimit] local_max. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/gate_internal.h"

typedef struct bucket {
    char *key; /* "<class>|j|<bare>" or "<class>|d|<domain>" */
    double tokens, ts;
} bucket;

typedef struct decision {
    char *key; /* "j|<bare>", "d|<domain>" (bans), "m|<bare>" (mutes), "v|<bare>" */
    gate_verdict v;
    double until; /* monotonic; 0: until Redis says otherwise */
    double count; /* violations (v| entries) */
    char reason[96];
} decision;

/* Small enough not to pull in libm. */
static double dmin(double a, double b)
{
    return a < b ? a : b;
}

static void decision_put(gate *g, const char *kind, const char *who, gate_verdict v,
                         const char *reason, double until)
{
    char key[1100];
    snprintf(key, sizeof key, "%s|%s", kind, who);
    decision *d = hmap_get(&g->decisions, key);
    if (!d) {
        if (g->decisions.count >= g->cfg.local_max)
            return; /* full: the decision is still enforced by Redis */
        d = calloc(1, sizeof *d);
        if (!d || !(d->key = strdup(key)) || hmap_put(&g->decisions, d->key, d) < 0) {
            if (d)
                free(d->key);
            free(d);
            return;
        }
    }
    d->v = v;
    d->until = until;
    snprintf(d->reason, sizeof d->reason, "%s", reason ? reason : "");
}

static void decision_del(gate *g, const char *kind, const char *who)
{
    char key[1100];
    snprintf(key, sizeof key, "%s|%s", kind, who);
    decision *d = hmap_del(&g->decisions, key);
    if (d) {
        free(d->key);
        free(d);
    }
}

static decision *decision_get(gate *g, const char *kind, const char *who, double now)
{
    char key[1100];
    snprintf(key, sizeof key, "%s|%s", kind, who);
    decision *d = hmap_get(&g->decisions, key);
    if (d && d->until > 0 && d->until <= now) {
        hmap_del(&g->decisions, key);
        free(d->key);
        free(d);
        return NULL;
    }
    return d;
}

/* Room for one more bucket: when the table is full, forget a batch of
 * buckets (whichever the table yields first). A forgotten sender starts
 * again with a full bucket, which costs at most one burst; in exchange
 * memory stays bounded whatever a flood of new senders does. */
static void buckets_make_room(gate *g)
{
    if (g->buckets.count < g->cfg.local_max)
        return;
    size_t it = 0;
    const char *k;
    char *victims[64];
    size_t nv = 0;
    while (nv < 64 && hmap_next(&g->buckets, &it, &k, NULL))
        victims[nv++] = (char *)k;
    for (size_t i = 0; i < nv; i++) {
        bucket *b = hmap_del(&g->buckets, victims[i]);
        free(b->key);
        free(b);
    }
}

static bucket *bucket_get(gate *g, gate_class c, const char *scope, const char *who,
                          const gate_limit *l, double now)
{
    char key[4400]; /* room JID and bare JID for scope "r" */
    snprintf(key, sizeof key, "%d|%s|%s", (int)c, scope, who);
    bucket *b = hmap_get(&g->buckets, key);
    if (b) {
        b->tokens = dmin(l->burst, b->tokens + (now - b->ts) / l->interval);
        b->ts = now;
        return b;
    }
    buckets_make_room(g);
    b = calloc(1, sizeof *b);
    if (!b || !(b->key = strdup(key)) || hmap_put(&g->buckets, b->key, b) < 0) {
        if (b)
            free(b->key);
        free(b);
        return NULL;
    }
    b->tokens = l->burst;
    b->ts = now;
    return b;
}

gate_verdict gate_judge_local(gate *g, gate_class c, const char *bare, const char *domain,
                              const char *room, unsigned room_rate, char *reason, size_t rlen,
                              double *ttl)
{
    double now = g->cfg.now();
    *ttl = 0;
    reason[0] = '\0';
    decision *d;
    if ((d = decision_get(g, "j", bare, now)) || (d = decision_get(g, "d", domain, now))) {
        snprintf(reason, rlen, "%s", d->reason);
        *ttl = d->until > 0 ? d->until - now : -1;
        return d->v;
    }
    if (g->cfg.domains_enabled && !gate_in_list(g->allow, domain) && hmap_get(&g->spam, domain))
        return GATE_SPAM_DOMAIN;
    if ((d = decision_get(g, "m", bare, now)) && gate_mute_applies(c)) {
        snprintf(reason, rlen, "%s", d->reason);
        *ttl = d->until > 0 ? d->until - now : -1;
        return GATE_MUTED;
    }
    const gate_limit *lj = &g->cfg.jid[c], *ld = &g->cfg.dom[c];
    bucket *bj = lj->interval > 0 ? bucket_get(g, c, "j", bare, lj, now) : NULL;
    bucket *bd = ld->interval > 0 ? bucket_get(g, c, "d", domain, ld, now) : NULL;
    bucket *br = NULL;
    if (room && room_rate) {
        /* A minute's worth at once, then one every 60/rate seconds, as in
         * the script. A space joins the two: no prepared JID holds one. */
        gate_limit lr = {60.0 / room_rate, (double)room_rate};
        char who[4300];
        snprintf(who, sizeof who, "%s %s", room, bare);
        br = bucket_get(g, c, "r", who, &lr, now);
    }
    gate_verdict v = GATE_PASS;
    if (bj && bj->tokens < 1)
        v = GATE_RATE_JID;
    else if (bd && bd->tokens < 1)
        v = GATE_RATE_DOMAIN;
    else if (br && br->tokens < 1)
        v = GATE_RATE_ROOM;
    if (v == GATE_PASS) {
        if (bj)
            bj->tokens -= 1;
        if (bd)
            bd->tokens -= 1;
        if (br)
            br->tokens -= 1;
        return v;
    }
    if (v == GATE_RATE_ROOM) {
        /* The owner's limit: no violation counted (see the script). */
        snprintf(reason, rlen, "%u messages a minute", room_rate);
        return v;
    }
    /* Violations: counted in a decision entry of kind "v" that expires
     * with the window, like the Redis counter. */
    d = decision_get(g, "v", bare, now);
    if (!d) {
        decision_put(g, "v", bare, GATE_PASS, "", now + g->cfg.violation_window);
        d = decision_get(g, "v", bare, now);
    }
    if (d && ++d->count >= g->cfg.violations && g->cfg.violations > 0) {
        decision_del(g, "v", bare);
        decision_put(g, "m", bare, GATE_MUTED, "repeated rate-limit violations",
                     now + g->cfg.mute_seconds);
        snprintf(reason, rlen, "repeated rate-limit violations");
        *ttl = g->cfg.mute_seconds;
        return GATE_MUTED_NOW;
    }
    return v;
}

void gate_judge_entry(gate *g, gate_entry *e)
{
    e->v = gate_judge_local(g, e->cls, e->c->from_bare, e->c->from.domain, e->room, e->room_rate,
                            e->reason, sizeof e->reason, &e->ttl);
}

void gate_cache_verdict(gate *g, const gate_entry *e, long long ttl_ms)
{
    double now = g->cfg.now();
    double until = ttl_ms > 0 ? now + (double)ttl_ms / 1000.0 : 0;
    switch (e->v) {
    case GATE_BANNED_JID:
        decision_put(g, "j", e->c->from_bare, e->v, e->reason, until);
        break;
    case GATE_BANNED_DOMAIN:
        decision_put(g, "d", e->c->from.domain, e->v, e->reason, until);
        break;
    case GATE_SPAM_DOMAIN:
        break;
    case GATE_MUTED:
    case GATE_MUTED_NOW:
        decision_put(g, "m", e->c->from_bare, GATE_MUTED, e->reason, until);
        break;
    default:
        /* Redis says neither banned; the mute's ttl came along. */
        decision_del(g, "j", e->c->from_bare);
        decision_del(g, "d", e->c->from.domain);
        if (ttl_ms > 0)
            decision_put(g, "m", e->c->from_bare, GATE_MUTED, "muted", until);
        else
            decision_del(g, "m", e->c->from_bare);
        break;
    }
}

static void free_map(hmap *m)
{
    size_t it = 0;
    void *v;
    while (hmap_next(m, &it, NULL, &v))
        free(*(char **)v), free(v);
    hmap_free(m);
}

void gate_local_free(gate *g)
{
    free_map(&g->buckets);
    free_map(&g->decisions);
}
