#include "safety/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "ns.h"
#include "safety/gate_internal.h"
#include "xtime.h"

_Static_assert(GATE_BANNED_JID == 1 && GATE_BANNED_DOMAIN == 2 && GATE_SPAM_DOMAIN == 3 &&
                   GATE_MUTED == 5 && GATE_RATE_JID == 6 && GATE_RATE_DOMAIN == 7 &&
                   GATE_MUTED_NOW == 8 && GATE_RATE_ROOM == 9,
               "the script returns gate_verdict numbers");

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

bool gate_in_list(char **l, const char *d)
{
    for (size_t i = 0; l && l[i]; i++)
        if (strcmp(l[i], d) == 0)
            return true;
    return false;
}

bool gate_mute_applies(gate_class c)
{
    return c == GATE_C_ROOM_MESSAGE || c == GATE_C_PRIVATE_MESSAGE || c == GATE_C_INVITE;
}

gate *gate_new(const gate_config *cfg, rdb *r, const out *sink, const gate_hooks *hooks, char *err,
               size_t errlen)
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
    g->cfg.block_domains = g->cfg.allow_domains = g->cfg.only_domains = NULL;
    gate_script_args(g);
    g->r = r;
    g->sink = *sink;
    g->hooks = *hooks;
    return g;
}

void gate_set_congested(gate *g, gate_congested_cb cb, void *ud)
{
    g->congested = cb;
    g->congested_ud = ud;
}

static bool congested(gate *g)
{
    return g->congested && g->congested(g->congested_ud);
}

void gate_entry_free(gate_entry *e)
{
    stanza_ctx_free(e->c);
    free(e->room);
    free(e);
}

void gate_close(gate *g)
{
    if (!g)
        return;
    g->closed = true;
    while (g->head) {
        gate_entry *e = g->head;
        g->head = e->next;
        if (e->waiting) {
            /* Redis still owes a reply that names this entry. */
            e->orphan = true;
            stanza_ctx_free(e->c);
            e->c = NULL;
        } else {
            gate_entry_free(e);
        }
    }
    g->tail = NULL;
    g->count = 0;
}

void gate_free(gate *g)
{
    if (!g)
        return;
    gate_close(g);
    gate_local_free(g);
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

/* The class of c, whose sender parsed. Only the shape of 'to' matters for
 * most (a local part? a resource?), so the address as written is split
 * rather than read from c->to: a 'to' that does not parse is classed (and
 * limited) all the same, and refused after the gate. RFC 7622: the
 * resource starts at the first '/', the local part ends at the first '@'
 * before it. */
static gate_class classify(const stanza_ctx *c, const gate_hooks *h)
{
    const xml_node *st = c->st;
    if (c->answer)
        return GATE_C_NONE;
    const char *to = xml_attr(st, "to");
    const char *slash = strchr(to, '/');
    const char *at = memchr(to, '@', slash ? (size_t)(slash - to) : strlen(to));
    bool local = at && at > to, resource = slash && slash[1];
    const char *type = c->type;
    if (c->kind == STANZA_PRESENCE) {
        /* Leaving is always allowed: refusing it would keep a ghost in the
         * room. */
        if (type && strcmp(type, "unavailable") == 0)
            return GATE_C_NONE;
        if (type || !local || !resource)
            return GATE_C_OTHER;
        if (c->to_err != JID_OK || !c->to.local)
            return GATE_C_JOIN;
        bool in = c->from_full && h->in_room && h->in_room(h->ud, c->to.local, c->from_full);
        return in ? GATE_C_PRESENCE : GATE_C_JOIN;
    }
    /* A server (no local part) forwarding its users' reports or blocks
     * speaks for many people: it gets the roomier "other" limits, not one
     * person's report allowance. */
    if (is_report(st))
        return c->from.local ? GATE_C_REPORT : GATE_C_OTHER;
    if (c->kind != STANZA_MESSAGE || !local)
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

gate_class gate_classify(const stanza_ctx *c, gate_in_room_cb in_room, void *ud)
{
    gate_hooks h = {NULL, in_room, NULL, ud};
    return c->from_err == JID_OK && c->has_to ? classify(c, &h) : GATE_C_NONE;
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
        if (!gate_mute_applies(c))
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

/* ---- the FIFO ---- */

static void emit(gate *g, xml_node *err)
{
    if (!err)
        return;
    if (out_stanza(&g->sink, err) < 0)
        log_debug("link not ready; refusal dropped");
    xml_free(err);
}

_Static_assert(METRIC_REFUSED_OVERFLOW - METRIC_REFUSED_BANNED_JID ==
                   GATE_OVERFLOW - GATE_BANNED_JID,
               "one refusal counter per verdict, in gate_verdict order");

static void count_refusal(gate *g, gate_verdict v)
{
    g->refused++;
    if (v >= GATE_BANNED_JID && v <= GATE_OVERFLOW)
        metrics_inc(METRIC_REFUSED_BANNED_JID + (v - GATE_BANNED_JID));
}

static void act(gate *g, gate_entry *e)
{
    stanza_ctx *c = e->c;
    e->c = NULL;
    if (e->v == GATE_PASS) {
        g->hooks.pass(g->hooks.ud, c);
        return;
    }
    xml_node *err = gate_refusal(c->st, e->cls, e->v, e->reason, e->ttl);
    if (!err && (e->v == GATE_MUTED || e->v == GATE_MUTED_NOW) && !gate_mute_applies(e->cls)) {
        /* A mute leaves presence and everything else alone. */
        g->hooks.pass(g->hooks.ud, c);
        return;
    }
    count_refusal(g, e->v);
    log_debug("gate: refused %s from %s: verdict %d", gate_class_name(e->cls),
              c->from_bare ? c->from_bare : "?", (int)e->v);
    emit(g, err);
    stanza_ctx_free(c);
}

void gate_drain(gate *g)
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
        gate_entry *e = g->head;
        g->head = e->next;
        if (!g->head)
            g->tail = NULL;
        g->count--;
        act(g, e);
        gate_entry_free(e);
    }
}

/* For a groupchat or private message: the prepared room JID, when the
 * room has a limit of its own (*rate); else NULL. The room is named as the
 * muc names it (prepared), or "LOBBY@svc" would slip past lobby's limit. */
static char *room_limit(gate *g, const stanza_ctx *c, unsigned *rate)
{
    *rate = 0;
    if (c->to_err != JID_OK || !c->to.local)
        return NULL; /* the router answers jid-malformed */
    *rate = g->hooks.room_rate(g->hooks.ud, c->to.local);
    return *rate ? jid_bare(&c->to) : NULL;
}

static void refuse_now(gate *g, stanza_ctx *c, gate_class cls, gate_verdict v)
{
    count_refusal(g, v);
    emit(g, gate_refusal(c->st, cls, v, NULL, 0));
    stanza_ctx_free(c);
}

/* Takes c: passes it, refuses it, or queues it (see gate.h). */
static void submit(gate *g, stanza_ctx *c)
{
    /* Behind others, or while the link is backed up, a stanza waits its
     * turn, checked or not: the FIFO is where fan-out is held. */
    bool hold = g->head || congested(g);
    if (g->closed || (!g->cfg.enabled && !hold)) {
        g->hooks.pass(g->hooks.ud, c);
        return;
    }
    /* Unparsable addresses go through unchecked: the router answers them
     * with jid-malformed. */
    gate_class cls = c->from_err == JID_OK && c->has_to ? classify(c, &g->hooks) : GATE_C_NONE;
    if (cls == GATE_C_NONE && !hold) {
        g->hooks.pass(g->hooks.ud, c);
        return;
    }
    if (g->count >= g->cfg.queue_max) {
        if (cls != GATE_C_NONE) {
            refuse_now(g, c, cls, GATE_OVERFLOW);
            return;
        }
        /* An error, a result or an unavailable presence: nothing may answer
         * it, and no room is left. Said, at least. */
        if (g->lost++ % 1000 == 0)
            log_warn("gate: the FIFO is full (%zu); %lu stanza%s that must not be answered "
                     "dropped so far",
                     g->count, g->lost, g->lost == 1 ? "" : "s");
        stanza_ctx_free(c);
        return;
    }
    bool check = g->cfg.enabled && cls != GATE_C_NONE;
    gate_entry *e = !check || c->from_bare ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        refuse_now(g, c, cls, GATE_OVERFLOW);
        return;
    }
    e->g = g;
    e->c = c;
    e->cls = cls;
    if (check && g->hooks.room_rate &&
        (cls == GATE_C_ROOM_MESSAGE || cls == GATE_C_PRIVATE_MESSAGE))
        e->room = room_limit(g, c, &e->room_rate);
    if (check) {
        const char *dom = c->from.domain;
        if (g->cfg.domains_enabled &&
            (gate_in_list(g->block, dom) || (g->only[0] && !gate_in_list(g->only, dom)))) {
            e->v = GATE_BLOCKED_DOMAIN;
        } else if (!g->r || !g->redis_up || gate_send_check(g, e) < 0) {
            gate_judge_entry(g, e);
        }
    }
    if (g->tail)
        g->tail->next = e;
    else
        g->head = e;
    g->tail = e;
    g->count++;
    gate_drain(g);
}

void gate_submit(gate *g, xml_node *st)
{
    stanza_ctx *c = stanza_ctx_new(st);
    if (c)
        submit(g, c);
    else
        log_warn("gate: out of memory; a stanza is lost");
}

void gate_resume(gate *g)
{
    if (!g->closed)
        gate_drain(g);
}
