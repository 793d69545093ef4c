/* The desk's life, its dispatch of reports, and the one way a request
 * reaches Redis (desk_send). */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "desk/internal.h"
#include "desk/report.h"
#include "log.h"
#include "ns.h"

/* ---- requests waiting for Redis ---- */

static void pend_unlink(pend *p)
{
    if (p->pprev) {
        *p->pprev = p->next;
        if (p->next)
            p->next->pprev = p->pprev;
    }
    p->pprev = NULL;
    p->next = NULL;
}

void desk_pend_link(desk *d, pend *p, pend_done done, void (*free_fn)(pend *))
{
    p->d = d;
    p->done = done;
    p->free = free_fn;
    p->next = d->pending;
    if (d->pending)
        d->pending->pprev = &p->next;
    d->pending = p;
    p->pprev = &d->pending;
}

static void finish(pend *p, const redisReply *r)
{
    if (p->d)
        p->done(p, r);
    pend_unlink(p);
    p->free(p);
}

static void on_reply(void *ud, redisReply *r)
{
    finish(ud, r);
}

int desk_send(desk *d, pend *p, desk_store_cmd *c)
{
    size_t lens[DESK_STORE_ARGS_MAX];
    for (int i = 0; i < c->argc; i++)
        lens[i] = strlen(c->argv[i]);
    int rc = -1;
    if (c->argc == 0)
        log_warn("desk: out of memory building a Redis command");
    else if (d->redis && d->prefix)
        rc = rdb_command_argv(d->redis, p ? on_reply : NULL, p, c->argc, c->argv, lens);
    desk_store_cmd_free(c);
    /* Refused: the request ends now, as if Redis had gone away. */
    if (rc < 0 && p)
        finish(p, NULL);
    return rc;
}

void *desk_cmd_pend(desk *d, adhoc_req *q, size_t size, pend_done done, void (*free_fn)(pend *))
{
    cmd_pend *cp = calloc(1, size);
    if (!cp) {
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return NULL;
    }
    cp->q = q;
    desk_pend_link(d, &cp->p, done, free_fn ? free_fn : desk_cmd_pend_free);
    return cp;
}

adhoc_req *desk_cmd_take(pend *p)
{
    cmd_pend *cp = (cmd_pend *)p;
    adhoc_req *q = cp->q;
    cp->q = NULL;
    return q;
}

void desk_cmd_pend_free(pend *p)
{
    adhoc_req_drop(((cmd_pend *)p)->q);
    free(p);
}

/* ---- who asks ---- */

bool desk_is_mod(const desk *d, const char *bare)
{
    for (size_t i = 0; d->mods && d->mods[i]; i++)
        if (strcmp(d->mods[i], bare) == 0)
            return true;
    return false;
}

unsigned desk_roles(void *ud, const char *bare)
{
    desk *d = ud;
    unsigned roles = desk_is_mod(d, bare) ? DESK_ROLE_MOD : 0;
    char **rooms = muc_managed_rooms(d->rooms, bare);
    if (rooms && rooms[0])
        roles |= DESK_ROLE_ROOM_ADMIN;
    config_list_free(rooms);
    return roles;
}

int desk_scope_of(desk *d, const char *bare, desk_scope *out)
{
    out->mod = desk_is_mod(d, bare);
    out->rooms = muc_managed_rooms(d->rooms, bare);
    return out->rooms ? 0 : -1;
}

void desk_scope_free(desk_scope *s)
{
    config_list_free(s->rooms);
    s->rooms = NULL;
}

bool desk_scope_sees(const desk_scope *s, const char *room)
{
    if (s->mod)
        return true;
    for (size_t i = 0; s->rooms && s->rooms[i]; i++)
        if (strcmp(s->rooms[i], room) == 0)
            return true;
    return false;
}

/* ---- helpers ---- */

void desk_emit(desk *d, xml_node *st)
{
    if (!st)
        return;
    if (out_stanza(&d->sink, st) < 0)
        log_debug("link not ready; desk stanza dropped");
    xml_free(st);
}

void desk_reply_error(desk *d, const xml_node *st, stanza_error e, const char *text)
{
    desk_emit(d, stanza_error_reply(st, e, text, NULL));
}

bool desk_redis_up(const desk *d)
{
    return d->redis && d->prefix && rdb_get_state(d->redis) == RDB_UP;
}

void desk_redis_away(adhoc_req *q)
{
    adhoc_fail(q, STANZA_ERR_SERVICE_UNAVAILABLE, NULL, "the desk's storage (Redis) is away");
}

char *desk_bare_of(const char *s)
{
    jid j;
    if (!s || !*s || jid_parse(s, &j) != JID_OK)
        return NULL;
    char *b = j.local ? jid_bare(&j) : NULL;
    jid_free(&j);
    return b;
}

/* ---- dispatch ---- */

bool desk_handle(desk *d, const stanza_ctx *c)
{
    if (!d || c->answer)
        return false;
    bool iq = c->kind == STANZA_IQ && !(c->to.resource && !c->to.local);
    bool msg = c->kind == STANZA_MESSAGE && !c->to.local && !c->to.resource;
    if ((!iq && !msg) || !report_is_report(c->st))
        return false;
    desk_intake(d, c->st, &c->from, &c->to, NULL);
    return true;
}

static bool on_route(void *ud, const stanza_ctx *c)
{
    return desk_handle(ud, c);
}

static bool on_answer(void *ud, const stanza_ctx *c)
{
    return ud && desk_forward_answer(ud, c);
}

/* Reports reach the desk wherever they are sent but to the service's own
 * resources: the service itself, a room, or an occupant (a report sent to
 * an occupant must reach the desk, never the reported person, to whom the
 * room would relay the IQ): its rows come before the rooms'. */
#define REPORT_TO (ROUTE_TO_SERVICE | ROUTE_TO_NODES)
const router_route desk_routes[DESK_ROUTES] = {
    {ROUTE_IQ | ROUTE_IQ_BAD, REPORT_TO, NS_REPORTING1, "report", on_route, NS_REPORTING1},
    {ROUTE_IQ | ROUTE_IQ_BAD, REPORT_TO, NS_REPORTING0, "report", on_route, NULL},
    {ROUTE_IQ | ROUTE_IQ_BAD, REPORT_TO, NS_BLOCKING, NULL, on_route, NULL},
    {ROUTE_MESSAGE, ROUTE_TO_SERVICE, NULL, NULL, on_route, NULL},
    {ROUTE_IQ_ANSWER, ROUTE_TO_SERVICE, NULL, NULL, on_answer, NULL},
};

/* ---- life ---- */

desk *desk_new(const desk_config *cfg, const char *domain, muc *rooms, adhoc *commands,
               const out *sink)
{
    desk *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->domain = strdup(domain);
    d->sink = *sink;
    d->rooms = rooms;
    /* settings.c has checked both lists: NULL here means out of memory. */
    char bad[256];
    d->mods = jid_list_parse(cfg->moderators, JID_LIST_USERS, bad, sizeof bad);
    d->servers = jid_list_parse(cfg->report_servers, JID_LIST_DOMAINS, bad, sizeof bad);
    d->policy.retention = cfg->report_retention > 0 ? cfg->report_retention : 30 * 86400.0;
    d->policy.window = cfg->escalate_window > 0 ? cfg->escalate_window : 86400.0;
    d->policy.per_minute = cfg->reports_per_minute ? cfg->reports_per_minute : 10;
    d->threshold = cfg->escalate_reporters >= 2 ? cfg->escalate_reporters : 3;
    d->audit_max = cfg->audit_max ? cfg->audit_max : 10000;
    d->forward = cfg->forward_reports;
    if (!d->domain || !d->mods || !d->servers) {
        desk_free(d);
        return NULL;
    }
    d->commands = commands;
    if (desk_register_commands(d) < 0) {
        d->commands = NULL;
        desk_free(d);
        return NULL;
    }
    return d;
}

void desk_free(desk *d)
{
    if (!d)
        return;
    /* Replies still to come find their desk gone and only free themselves. */
    for (pend *p = d->pending, *next; p; p = next) {
        next = p->next;
        p->d = NULL;
        p->next = NULL;
        p->pprev = NULL;
    }
    adhoc_unregister(d->commands, d);
    desk_forward_free(d);
    config_list_free(d->mods);
    config_list_free(d->servers);
    free(d->prefix);
    free(d->domain);
    free(d);
}

void desk_on_forget(desk *d, void (*forget)(void *ud, const char *who, bool domain), void *ud)
{
    d->forget = forget;
    d->forget_ud = ud;
}

void desk_forget(desk *d, const char *who, bool domain)
{
    if (d->forget)
        d->forget(d->forget_ud, who, domain);
}

void desk_on_blocklist(desk *d, void (*changed)(void *ud, const char *owner), void *ud)
{
    d->blocklist_changed = changed;
    d->blocklist_ud = ud;
}

void desk_set_redis(desk *d, rdb *r, const char *prefix)
{
    if (!d)
        return;
    d->redis = r;
    free(d->prefix);
    d->prefix = strdup(prefix ? prefix : "");
}
