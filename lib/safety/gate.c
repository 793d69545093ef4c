#include "gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hmap.h"
#include "keys.h"
#include "log.h"
#include "ns.h"
#include "stanza.h"
#include "xtime.h"

/* The script runs atomically in Redis, so two component processes judging
 * the same sender at once cannot both take the last token. Time comes from
 * Redis (TIME), not from the callers, whose clocks may disagree.
 *
 * KEYS: 1 ban:jid:<bare>, 2 ban:domain:<dom>, 3 spamdomains, 4 mute:<bare>,
 *       5 rl:<class>:jid:<bare>, 6 rl:<class>:dom:<dom>, 7 rlv:<bare>,
 *       8 rl:<class>:room:<room>:jid:<bare> (only with the room's limit)
 * ARGV: 1 domain, 2 check the spam list (0/1), 3 mute applies (0/1),
 *       4 jid ms/token, 5 jid burst, 6 dom ms/token, 7 dom burst,
 *       8 violations that mute, 9 violation window (s), 10 mute (s),
 *       11 room ms/token, 12 room burst (both absent: no room limit)
 * Returns {verdict, reason, ttl ms}: the verdict numbers are gate_verdict's;
 * for non-ban verdicts the ttl is the mute's (-2: not muted). */
static const char script[] =
    /* Redis before 5 replicates scripts verbatim and refuses writes after
     * TIME unless told to replicate effects; later versions always do. */
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local r = redis.call('GET', KEYS[1])\n"
    "if r then return {1, r, redis.call('PTTL', KEYS[1])} end\n"
    "r = redis.call('GET', KEYS[2])\n"
    "if r then return {2, r, redis.call('PTTL', KEYS[2])} end\n"
    "if ARGV[2] == '1' and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then\n"
    "  return {3, 'on the spam-domain list', -1} end\n"
    "local mttl = redis.call('PTTL', KEYS[4])\n"
    "if mttl ~= -2 and ARGV[3] == '1' then\n"
    "  return {5, redis.call('GET', KEYS[4]) or 'muted', mttl} end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function level(key, ms, burst)\n"
    "  if ms <= 0 then return nil end\n"
    "  local v = redis.call('HMGET', key, 't', 'ts')\n"
    "  local tok, ts = tonumber(v[1]), tonumber(v[2])\n"
    "  if not tok then return burst end\n"
    "  return math.min(burst, tok + (now - ts) / ms)\n"
    "end\n"
    "local function take(key, tok, ms, burst)\n"
    "  if not tok then return end\n"
    "  redis.call('HSET', key, 't', tostring(tok - 1), 'ts', now)\n"
    "  redis.call('PEXPIRE', key, math.ceil(burst * ms) + 1000)\n"
    "end\n"
    "local mj, bj = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local md, bd = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local mr, br = tonumber(ARGV[11] or '0'), tonumber(ARGV[12] or '0')\n"
    "local tj, td = level(KEYS[5], mj, bj), level(KEYS[6], md, bd)\n"
    "local tr = level(KEYS[8], mr, br)\n"
    "local over = 0\n"
    "if tj and tj < 1 then over = 6 elseif td and td < 1 then over = 7\n"
    "elseif tr and tr < 1 then over = 9 end\n"
    "if over == 0 then\n"
    "  take(KEYS[5], tj, mj, bj)\n"
    "  take(KEYS[6], td, md, bd)\n"
    "  take(KEYS[8], tr, mr, br)\n"
    "  return {0, '', mttl}\n"
    "end\n"
    /* The room's limit is its owner's choice: going over it must not earn
     * a mute on the whole service, so it counts no violation. */
    "if over == 9 then return {9, '', mttl} end\n"
    "local n = redis.call('INCR', KEYS[7])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[7], ARGV[9]) end\n"
    "local th = tonumber(ARGV[8])\n"
    "if th > 0 and n >= th then\n"
    "  redis.call('SET', KEYS[4], 'repeated rate-limit violations', 'EX', ARGV[10])\n"
    "  redis.call('DEL', KEYS[7])\n"
    "  return {8, 'repeated rate-limit violations', tonumber(ARGV[10]) * 1000}\n"
    "end\n"
    "return {over, '', mttl}\n";

_Static_assert(GATE_BANNED_JID == 1 && GATE_BANNED_DOMAIN == 2 && GATE_SPAM_DOMAIN == 3 &&
                   GATE_MUTED == 5 && GATE_RATE_JID == 6 && GATE_RATE_DOMAIN == 7 &&
                   GATE_MUTED_NOW == 8 && GATE_RATE_ROOM == 9,
               "the script returns gate_verdict numbers");

typedef struct entry {
    struct entry *next;
    gate *g;
    xml_node *st;
    gate_class cls;
    bool waiting; /* a Redis reply is due */
    bool eval;    /* already retried with EVAL after NOSCRIPT */
    bool orphan;  /* the gate closed while the reply was due */
    gate_verdict v;
    double ttl;
    char reason[96];
    char *bare, *domain;
    char *room;         /* prepared room JID when its own limit applies */
    unsigned room_rate; /* that limit, messages a minute */
} entry;

#define CLASS_ARGS 8

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

struct gate {
    gate_config cfg;
    char *prefix;
    char **block, **allow, **only; /* normalized domains, NULL-terminated */
    rdb *r;
    out sink;
    gate_pass_cb pass;
    gate_in_room_cb in_room;
    gate_room_rate_cb room_rate;
    gate_congested_cb congested;
    void *ud;
    entry *head, *tail;
    size_t count;
    hmap buckets;   /* key -> bucket */
    hmap decisions; /* key -> decision */
    hmap spam;      /* domain -> its own key (malloc'ed) */
    char sha[41];   /* "" until SCRIPT LOAD answered */
    /* The script's ARGV 3..10 for each class: fixed by the configuration,
     * so written once rather than formatted for every stanza. */
    char args[GATE_C__COUNT][CLASS_ARGS][24];
    bool redis_up, was_local;
    bool closed;
    bool have_spam_file; /* a list was loaded: Redis gets it on connect */
    bool lost_logged;    /* said once per outage that checks were lost */
    bool holding;        /* drain stopped because the link is backed up */
    unsigned long refused;
    unsigned long lost; /* unanswerable stanzas dropped with the FIFO full */
};

/* Small enough not to pull in libm. */
static double dmin(double a, double b)
{
    return a < b ? a : b;
}

static double dmax(double a, double b)
{
    return a > b ? a : b;
}

static const char *const class_names[GATE_C__COUNT] = {
    "room_message", "private_message", "join", "presence", "invite", "report", "other",
};

const char *gate_class_name(gate_class c)
{
    return c < GATE_C__COUNT ? class_names[c] : "none";
}

/* Splits a comma-separated domain list and normalizes each with the jid
 * module, so "EXAMPLE.com" and "example.com" are one domain. */
static char **parse_domains(const char *s, const char *what, char *err, size_t errlen)
{
    char bad[256];
    char **l = jid_list_parse(s, JID_LIST_DOMAINS, bad, sizeof bad);
    if (!l && bad[0])
        snprintf(err, errlen, "[blocking] %s: '%s' is not a domain", what, bad);
    else if (!l)
        snprintf(err, errlen, "out of memory");
    return l;
}

static bool in_list(char **l, const char *d)
{
    for (size_t i = 0; l && l[i]; i++)
        if (strcmp(l[i], d) == 0)
            return true;
    return false;
}

/* What a mute silences: speech, not presence. */
static bool mute_applies(gate_class c)
{
    return c == GATE_C_ROOM_MESSAGE || c == GATE_C_PRIVATE_MESSAGE || c == GATE_C_INVITE;
}

gate *gate_new(const gate_config *cfg, rdb *r, const out *sink, gate_pass_cb pass,
               gate_in_room_cb in_room, void *ud, char *err, size_t errlen)
{
    gate *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    if (!g->cfg.now)
        g->cfg.now = xtime_mono;
    if (!g->cfg.queue_max)
        g->cfg.queue_max = 10000;
    if (!g->cfg.local_max)
        g->cfg.local_max = 100000;
    snprintf(err, errlen, "out of memory");
    g->prefix = strdup(cfg->prefix ? cfg->prefix : "");
    if (!g->prefix ||
        !(g->block = parse_domains(cfg->block_domains, "block_domains", err, errlen)) ||
        !(g->allow = parse_domains(cfg->allow_domains, "allow_domains", err, errlen)) ||
        !(g->only = parse_domains(cfg->only_domains, "only_domains", err, errlen))) {
        gate_free(g);
        return NULL;
    }
    g->cfg.prefix = g->prefix;
    for (int c = 0; c < GATE_C__COUNT; c++) {
        const gate_limit *lj = &g->cfg.jid[c], *ld = &g->cfg.dom[c];
        char(*a)[24] = g->args[c];
        snprintf(a[0], sizeof a[0], "%d", mute_applies((gate_class)c) ? 1 : 0);
        snprintf(a[1], sizeof a[1], "%.3f", lj->interval * 1000);
        snprintf(a[2], sizeof a[2], "%.3f", lj->burst);
        snprintf(a[3], sizeof a[3], "%.3f", ld->interval * 1000);
        snprintf(a[4], sizeof a[4], "%.3f", ld->burst);
        snprintf(a[5], sizeof a[5], "%u", g->cfg.violations);
        snprintf(a[6], sizeof a[6], "%.0f", dmax(1, g->cfg.violation_window));
        snprintf(a[7], sizeof a[7], "%.0f", dmax(1, g->cfg.mute_seconds));
    }
    g->cfg.block_domains = g->cfg.allow_domains = g->cfg.only_domains = NULL;
    g->r = r;
    g->sink = *sink;
    g->pass = pass;
    g->in_room = in_room;
    g->ud = ud;
    return g;
}

void gate_set_room_rate(gate *g, gate_room_rate_cb cb)
{
    g->room_rate = cb;
}

void gate_set_congested(gate *g, gate_congested_cb cb)
{
    g->congested = cb;
}

static bool congested(gate *g)
{
    return g->congested && g->congested(g->ud);
}

static void entry_free(entry *e)
{
    xml_free(e->st);
    free(e->bare);
    free(e->domain);
    free(e->room);
    free(e);
}

void gate_close(gate *g)
{
    if (!g)
        return;
    g->closed = true;
    while (g->head) {
        entry *e = g->head;
        g->head = e->next;
        if (e->waiting) {
            /* Redis still owes a reply that names this entry. */
            e->orphan = true;
            xml_free(e->st);
            e->st = NULL;
        } else {
            entry_free(e);
        }
    }
    g->tail = NULL;
    g->count = 0;
}

static void free_map(hmap *m)
{
    size_t it = 0;
    void *v;
    while (hmap_next(m, &it, NULL, &v))
        free(*(char **)v), free(v);
    hmap_free(m);
}

void gate_free(gate *g)
{
    if (!g)
        return;
    gate_close(g);
    free_map(&g->buckets);
    free_map(&g->decisions);
    size_t it = 0;
    void *v;
    while (hmap_next(&g->spam, &it, NULL, &v))
        free(v);
    hmap_free(&g->spam);
    config_list_free(g->block);
    config_list_free(g->allow);
    config_list_free(g->only);
    free(g->prefix);
    free(g);
}

unsigned long gate_refused(const gate *g)
{
    return g->refused;
}

size_t gate_pending(const gate *g)
{
    return g->count;
}

/* ---- classification ---- */

static bool ns_prefix(const xml_node *n, const char *p)
{
    const char *ns = xml_ns(n);
    return ns && strncmp(ns, p, strlen(p)) == 0;
}

/* A report (XEP-0377) sits in the stanza's payload or one level below
 * (inside a block/report IQ). */
static bool is_report(const xml_node *st)
{
    for (xml_node *c = xml_first_child(st); c; c = xml_next(c)) {
        if (xml_is_text(c))
            continue;
        if (ns_prefix(c, NS_REPORTING_PREFIX))
            return true;
        for (xml_node *d = xml_first_child(c); d; d = xml_next(d))
            if (!xml_is_text(d) && ns_prefix(d, NS_REPORTING_PREFIX))
                return true;
    }
    return false;
}

gate_class gate_classify(const xml_node *st, const jid *from, const char *to,
                         gate_in_room_cb in_room, void *ud)
{
    if (stanza_is_unanswerable(st))
        return GATE_C_NONE;
    /* Only the shape of 'to' matters here (a local part? a resource?), so
     * it is split, not prepared: stringprep is the costliest step of a
     * JID, and the service prepares 'to' anyway. RFC 7622: the resource
     * starts at the first '/', the local part ends at the first '@' before
     * it. */
    const char *slash = strchr(to, '/');
    const char *at = memchr(to, '@', slash ? (size_t)(slash - to) : strlen(to));
    bool local = at && at > to, resource = slash && slash[1];
    const char *name = xml_name(st);
    const char *type = xml_attr(st, "type");
    if (strcmp(name, "presence") == 0) {
        /* Leaving is always allowed: refusing it would keep a ghost in the
         * room. */
        if (type && strcmp(type, "unavailable") == 0)
            return GATE_C_NONE;
        if (type || !local || !resource)
            return GATE_C_OTHER;
        jid t;
        if (jid_parse(to, &t) != JID_OK || !t.local)
            return GATE_C_JOIN;
        char *full = jid_full(from);
        bool in = full && in_room && in_room(ud, t.local, full);
        free(full);
        jid_free(&t);
        return in ? GATE_C_PRESENCE : GATE_C_JOIN;
    }
    /* A server (no local part) forwarding its users' reports or blocks
     * speaks for many people: it gets the roomier "other" limits, not one
     * person's report allowance. */
    if (is_report(st))
        return from->local ? GATE_C_REPORT : GATE_C_OTHER;
    if (strcmp(name, "message") != 0 || !local)
        return GATE_C_OTHER;
    if (resource)
        return GATE_C_PRIVATE_MESSAGE;
    if (type && strcmp(type, "groupchat") == 0)
        return GATE_C_ROOM_MESSAGE;
    const xml_node *x = xml_child(st, "x", NS_MUC_USER);
    if (x && xml_child(x, "invite", NULL))
        return GATE_C_INVITE;
    return GATE_C_OTHER;
}

/* ---- verdicts ---- */

xml_node *gate_refusal(const xml_node *st, gate_class c, gate_verdict v, const char *reason,
                       double ttl)
{
    char text[200];
    stanza_error e;
    const char *r = reason && *reason ? reason : NULL;
    switch (v) {
    case GATE_PASS:
        return NULL;
    case GATE_BANNED_JID:
    case GATE_BANNED_DOMAIN:
        /* A ban covers everything, joins included (XEP-0045 403). */
        e = STANZA_ERR_FORBIDDEN;
        snprintf(text, sizeof text, "%s%s%s",
                 v == GATE_BANNED_JID ? "you are banned from this service"
                                      : "your server is banned from this service",
                 r ? ": " : "", r ? r : "");
        break;
    case GATE_SPAM_DOMAIN:
    case GATE_BLOCKED_DOMAIN:
        e = STANZA_ERR_FORBIDDEN;
        snprintf(text, sizeof text, "this service does not accept users of your server");
        break;
    case GATE_MUTED:
    case GATE_MUTED_NOW:
        if (!mute_applies(c))
            return NULL;
        e = STANZA_ERR_FORBIDDEN;
        if (ttl > 0)
            snprintf(text, sizeof text, "muted for %.0f more seconds%s%s", ttl + 0.499,
                     r ? ": " : "", r ? r : "");
        else
            snprintf(text, sizeof text, "muted%s%s", r ? ": " : "", r ? r : "");
        break;
    case GATE_RATE_JID:
    case GATE_RATE_DOMAIN: {
        bool msg = c == GATE_C_ROOM_MESSAGE || c == GATE_C_PRIVATE_MESSAGE || c == GATE_C_INVITE;
        e = msg ? STANZA_ERR_POLICY_VIOLATION : STANZA_ERR_RESOURCE_CONSTRAINT;
        snprintf(text, sizeof text, "rate limit: too many %s stanzas from %s; slow down",
                 gate_class_name(c), v == GATE_RATE_JID ? "you" : "your server");
        break;
    }
    case GATE_RATE_ROOM:
        /* Said to be the room's, so nobody takes it for the service's
         * limit (or asks the operator to lift it). */
        e = STANZA_ERR_POLICY_VIOLATION;
        snprintf(text, sizeof text, "rate limit: this room's own limit is %s per person; slow down",
                 r ? r : "fewer messages");
        break;
    case GATE_OVERFLOW:
    default:
        e = STANZA_ERR_RESOURCE_CONSTRAINT;
        snprintf(text, sizeof text, "the service is busy; try again shortly");
        break;
    }
    return stanza_error_reply(st, e, text, NULL);
}

/* ---- local state: buckets and cached decisions ---- */

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
    if (g->cfg.domains_enabled && !in_list(g->allow, domain) && hmap_get(&g->spam, domain))
        return GATE_SPAM_DOMAIN;
    if ((d = decision_get(g, "m", bare, now)) && mute_applies(c)) {
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

/* ---- the FIFO ---- */

static void act(gate *g, entry *e)
{
    xml_node *st = e->st;
    e->st = NULL;
    if (e->v == GATE_PASS) {
        g->pass(g->ud, st);
        return;
    }
    xml_node *err = gate_refusal(st, e->cls, e->v, e->reason, e->ttl);
    if (!err && (e->v == GATE_MUTED || e->v == GATE_MUTED_NOW) && !mute_applies(e->cls)) {
        /* A mute leaves presence and everything else alone. */
        g->pass(g->ud, st);
        return;
    }
    g->refused++;
    log_debug("gate: refused %s from %s: verdict %d", gate_class_name(e->cls),
              e->bare ? e->bare : "?", (int)e->v);
    if (err) {
        if (out_stanza(&g->sink, err) < 0)
            log_debug("link not ready; refusal dropped");
        xml_free(err);
    }
    xml_free(st);
}

/* Passes what has its verdict, in order, until an entry still waits for
 * Redis or the link is backed up: then the rest waits here (see gate.h). */
static void drain(gate *g)
{
    while (g->head && !g->head->waiting) {
        if (congested(g)) {
            if (!g->holding)
                log_debug("gate: the link's output is backed up; holding %zu stanza%s", g->count,
                          g->count == 1 ? "" : "s");
            g->holding = true;
            return;
        }
        g->holding = false;
        entry *e = g->head;
        g->head = e->next;
        if (!g->head)
            g->tail = NULL;
        g->count--;
        act(g, e);
        entry_free(e);
    }
}

static void judge_locally(gate *g, entry *e)
{
    e->v = gate_judge_local(g, e->cls, e->bare, e->domain, e->room, e->room_rate, e->reason,
                            sizeof e->reason, &e->ttl);
}

static void cache_verdict(gate *g, entry *e, long long ttl_ms)
{
    double now = g->cfg.now();
    double until = ttl_ms > 0 ? now + (double)ttl_ms / 1000.0 : 0;
    switch (e->v) {
    case GATE_BANNED_JID:
        decision_put(g, "j", e->bare, e->v, e->reason, until);
        break;
    case GATE_BANNED_DOMAIN:
        decision_put(g, "d", e->domain, e->v, e->reason, until);
        break;
    case GATE_SPAM_DOMAIN:
        break;
    case GATE_MUTED:
    case GATE_MUTED_NOW:
        decision_put(g, "m", e->bare, GATE_MUTED, e->reason, until);
        break;
    default:
        /* Redis says neither banned; the mute's ttl came along. */
        decision_del(g, "j", e->bare);
        decision_del(g, "d", e->domain);
        if (ttl_ms > 0)
            decision_put(g, "m", e->bare, GATE_MUTED, "muted", until);
        else
            decision_del(g, "m", e->bare);
        break;
    }
}

static int send_check(gate *g, entry *e);

static void on_reply(void *ud, redisReply *reply)
{
    entry *e = ud;
    gate *g = e->g;
    if (e->orphan) {
        entry_free(e);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        !e->eval) {
        /* Redis lost the script (restart, SCRIPT FLUSH): send it whole
         * once; the entry keeps its place in the FIFO. */
        e->eval = true;
        g->sha[0] = '\0';
        if (send_check(g, e) == 0)
            return;
        reply = NULL;
    }
    e->waiting = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER) {
        long long v = reply->element[0]->integer;
        long long ttl =
            reply->element[2]->type == REDIS_REPLY_INTEGER ? reply->element[2]->integer : 0;
        const redisReply *rs = reply->element[1];
        e->v = v >= 0 && v <= GATE_RATE_ROOM ? (gate_verdict)v : GATE_PASS;
        if (e->v == GATE_RATE_ROOM)
            snprintf(e->reason, sizeof e->reason, "%u messages a minute", e->room_rate);
        else if (rs->type == REDIS_REPLY_STRING || rs->type == REDIS_REPLY_STATUS)
            snprintf(e->reason, sizeof e->reason, "%.*s", (int)rs->len, rs->str);
        e->ttl = ttl > 0 ? (double)ttl / 1000.0 : 0;
        cache_verdict(g, e, ttl);
    } else {
        /* Lost connection or a refusal: judge here rather than drop. */
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_warn("gate: Redis refused the check: %s", reply->str);
        else if (!reply && !g->lost_logged)
            log_info("gate: checks in flight when Redis went away are judged locally");
        g->lost_logged |= !reply;
        judge_locally(g, e);
    }
    drain(g);
}

static int send_check(gate *g, entry *e)
{
    char k[7][1200], rk[4500];
    const char *p = g->prefix;
    const char *cn = gate_class_name(e->cls);
    keys_format(k[0], sizeof k[0], p, KEY_BAN_JID, e->bare);
    keys_format(k[1], sizeof k[1], p, KEY_BAN_DOMAIN, e->domain);
    keys_format(k[2], sizeof k[2], p, KEY_SPAM_DOMAINS, NULL);
    keys_format(k[3], sizeof k[3], p, KEY_MUTE, e->bare);
    snprintf(k[4], sizeof k[4], "%s" KEY_RATE "%s" KEY_RATE_JID "%s", p, cn, e->bare);
    snprintf(k[5], sizeof k[5], "%s" KEY_RATE "%s" KEY_RATE_DOMAIN "%s", p, cn, e->domain);
    keys_format(k[6], sizeof k[6], p, KEY_RATE_VIOLATIONS, e->bare);
    const char *spam = g->cfg.domains_enabled && !in_list(g->allow, e->domain) ? "1" : "0";
    /* The room's bucket rides in the same script call (one round trip per
     * stanza); without a room limit the call is the same as before. */
    char rms[32], rburst[16];
    if (e->room) {
        snprintf(rk, sizeof rk, "%s" KEY_RATE "%s" KEY_RATE_ROOM "%s" KEY_RATE_JID "%s", p, cn,
                 e->room, e->bare);
        snprintf(rms, sizeof rms, "%.3f", 60000.0 / e->room_rate);
        snprintf(rburst, sizeof rburst, "%u", e->room_rate);
    }
    const char *argv[3 + 8 + 12];
    int n = 0;
    bool sha = g->sha[0] && !e->eval;
    argv[n++] = sha ? "EVALSHA" : "EVAL";
    argv[n++] = sha ? g->sha : script;
    argv[n++] = e->room ? "8" : "7";
    for (int i = 0; i < 7; i++)
        argv[n++] = k[i];
    if (e->room)
        argv[n++] = rk;
    argv[n++] = e->domain;
    argv[n++] = spam;
    for (int i = 0; i < CLASS_ARGS; i++)
        argv[n++] = g->args[e->cls][i];
    if (e->room) {
        argv[n++] = rms;
        argv[n++] = rburst;
    }
    size_t lens[3 + 8 + 12];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (rdb_command_argv(g->r, on_reply, e, n, argv, lens) < 0)
        return -1;
    e->waiting = true;
    return 0;
}

/* For a groupchat or private message: the prepared room JID, when the
 * room has a limit of its own (*rate); else NULL. The room must be named
 * as the muc names it, or "LOBBY@svc" would slip past lobby's limit. */
static char *room_limit(gate *g, const char *to, unsigned *rate)
{
    *rate = 0;
    jid t;
    if (jid_parse(to, &t) != JID_OK)
        return NULL; /* the service answers jid-malformed */
    char *room = t.local && (*rate = g->room_rate(g->ud, t.local)) ? jid_bare(&t) : NULL;
    jid_free(&t);
    return room;
}

static void refuse_now(gate *g, xml_node *st, gate_class c, gate_verdict v)
{
    g->refused++;
    xml_node *err = gate_refusal(st, c, v, NULL, 0);
    if (err) {
        if (out_stanza(&g->sink, err) < 0)
            log_debug("link not ready; refusal dropped");
        xml_free(err);
    }
    xml_free(st);
}

void gate_submit(gate *g, xml_node *st)
{
    /* Behind others, or while the link is backed up, a stanza waits its
     * turn, checked or not: the FIFO is where fan-out is held. */
    bool hold = g->head || congested(g);
    if (g->closed || (!g->cfg.enabled && !hold)) {
        g->pass(g->ud, st);
        return;
    }
    gate_class c = GATE_C_NONE;
    jid from = {0};
    const char *fs = xml_attr(st, "from"), *ts = xml_attr(st, "to");
    bool parsed = fs && ts && jid_parse(fs, &from) == JID_OK;
    if (parsed)
        c = gate_classify(st, &from, ts, g->in_room, g->ud);
    /* Unparsable addresses go through unchecked: the service answers them
     * with jid-malformed. */
    if (c == GATE_C_NONE && !hold) {
        if (parsed)
            jid_free(&from);
        g->pass(g->ud, st);
        return;
    }
    if (g->count >= g->cfg.queue_max) {
        if (parsed)
            jid_free(&from);
        if (c != GATE_C_NONE) {
            refuse_now(g, st, c, GATE_OVERFLOW);
            return;
        }
        /* An error, a result or an unavailable presence: nothing may answer
         * it, and no room is left. Said, at least. */
        if (g->lost++ % 1000 == 0)
            log_warn("gate: the FIFO is full (%zu); %lu stanza%s that must not be answered "
                     "dropped so far",
                     g->count, g->lost, g->lost == 1 ? "" : "s");
        xml_free(st);
        return;
    }
    bool check = g->cfg.enabled && c != GATE_C_NONE;
    entry *e = calloc(1, sizeof *e);
    if (e && check) {
        e->bare = jid_bare(&from);
        e->domain = strdup(from.domain);
    }
    if (parsed)
        jid_free(&from);
    if (!e || (check && (!e->bare || !e->domain))) {
        if (e)
            entry_free(e);
        refuse_now(g, st, c, GATE_OVERFLOW);
        return;
    }
    e->g = g;
    e->st = st;
    e->cls = c;
    if (check && g->room_rate && (c == GATE_C_ROOM_MESSAGE || c == GATE_C_PRIVATE_MESSAGE))
        e->room = room_limit(g, ts, &e->room_rate);
    if (check) {
        if (g->cfg.domains_enabled &&
            (in_list(g->block, e->domain) || (g->only[0] && !in_list(g->only, e->domain)))) {
            e->v = GATE_BLOCKED_DOMAIN;
        } else if (!g->r || !g->redis_up || send_check(g, e) < 0) {
            judge_locally(g, e);
        }
    }
    if (g->tail)
        g->tail->next = e;
    else
        g->head = e;
    g->tail = e;
    g->count++;
    drain(g);
}

void gate_resume(gate *g)
{
    if (!g->closed)
        drain(g);
}

/* ---- Redis state and the spam list ---- */

static void on_script_loaded(void *ud, redisReply *reply)
{
    gate *g = ud;
    if (g->closed)
        return;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40)
        memcpy(g->sha, reply->str, 41);
    else
        log_warn("gate: SCRIPT LOAD failed; sending the script whole");
}

static void push_spam(gate *g);

void gate_redis_state(gate *g, rdb_state state)
{
    bool up = state == RDB_UP;
    if (up == g->redis_up)
        return;
    g->redis_up = up;
    if (up) {
        g->sha[0] = '\0';
        g->lost_logged = false;
        rdb_command(g->r, on_script_loaded, g, "SCRIPT LOAD %s", script);
        push_spam(g);
        if (g->was_local)
            log_info("gate: Redis is back; limits, bans and mutes are shared again");
        g->was_local = false;
    } else if (state == RDB_DOWN && !g->was_local) {
        g->was_local = true;
        log_warn("gate: Redis is away; rate limits run on local buckets and bans/mutes on the "
                 "last decisions Redis gave");
    }
}

static void on_spam_reply(void *ud, redisReply *reply)
{
    (void)ud;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn("gate: storing the spam-domain list failed: %s", reply->str);
}

/* Replaces {p}safety:spamdomains with the local list: filled under a
 * temporary key, then RENAMEd, so readers never see half a list. Only done
 * when a list was loaded from a file: without one, the set in Redis (maybe
 * kept by another instance) is left alone. */
static void push_spam(gate *g)
{
    if (!g->r || !g->redis_up || !g->have_spam_file)
        return;
    char key[512], tmp[560];
    keys_format(key, sizeof key, g->prefix, KEY_SPAM_DOMAINS, NULL);
    keys_format(tmp, sizeof tmp, g->prefix, KEY_SPAM_LOADING, NULL);
    rdb_command(g->r, on_spam_reply, NULL, "DEL %s", tmp);
    const char *argv[2 + 256];
    size_t lens[2 + 256];
    int n = 0;
    size_t it = 0;
    const char *d;
    void *v;
    bool any = false;
    for (;;) {
        bool more = hmap_next(&g->spam, &it, &d, &v);
        if (more) {
            if (n == 0) {
                argv[n++] = "SADD";
                argv[n++] = tmp;
            }
            argv[n++] = d;
        }
        if (n && (!more || n == 2 + 256)) {
            for (int i = 0; i < n; i++)
                lens[i] = strlen(argv[i]);
            rdb_command_argv(g->r, on_spam_reply, NULL, n, argv, lens);
            any = true;
            n = 0;
        }
        if (!more)
            break;
    }
    if (any)
        rdb_command(g->r, on_spam_reply, NULL, "RENAME %s %s", tmp, key);
    else
        rdb_command(g->r, on_spam_reply, NULL, "DEL %s", key);
}

long gate_load_spam_domains(gate *g, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    hmap fresh = HMAP_INIT;
    char line[2048];
    long n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h)
            *h = '\0';
        char *a = line, *b = line + strlen(line);
        while (*a == ' ' || *a == '\t')
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r'))
            b--;
        *b = '\0';
        if (!*a)
            continue;
        jid j;
        if (jid_parse(a, &j) != JID_OK || j.local || j.resource) {
            if (j.domain)
                jid_free(&j);
            log_warn("%s:%ld: '%s' is not a domain; skipped", path, lineno, a);
            continue;
        }
        char *d = j.domain;
        j.domain = NULL;
        jid_free(&j);
        if (hmap_get(&fresh, d) || hmap_put(&fresh, d, d) < 0) {
            free(d);
            continue;
        }
        n++;
    }
    fclose(f);
    size_t it = 0;
    void *v;
    while (hmap_next(&g->spam, &it, NULL, &v))
        free(v);
    hmap_free(&g->spam);
    g->spam = fresh;
    g->have_spam_file = true;
    push_spam(g);
    return n;
}
