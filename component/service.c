#include "service.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "muc/occstore.h"
#include "muc/store.h"
#include "ns.h"
#include "router.h"
#include "safety/rtbl.h"
#include "safety/ublock.h"
#include "stanza.h"

/* Writes the room store queues while Redis is away. */
#define STORE_QUEUE_MAX 100000

struct service {
    char *domain, *name, *version;
    out sink;
    router *router;
    muc *rooms;
    adhoc *commands;
    desk *desk;
    roster *roster;
    ublock *ublock;   /* NULL: no per-user blocking */
    rtbl *rtbl;       /* borrowed; NULL: no real-time block lists */
    muc_store *store; /* NULL: no Redis */
    bool rooms_loaded;
    void (*loaded)(void *ud);
    void *loaded_ud;
};

/* Sends and frees a reply; a NULL reply means the stanza must not be
 * answered (an error or result) or memory ran out, and either way nothing
 * more can be done for it. */
static void emit(service *svc, xml_node *reply)
{
    if (!reply)
        return;
    if (out_stanza(&svc->sink, reply) < 0)
        log_debug("link not ready; reply dropped");
    xml_free(reply);
}

static void reply_error(service *svc, const xml_node *st, stanza_error e, const char *text)
{
    emit(svc, stanza_error_reply(st, e, text, NULL));
}

/* ---- the service's own answers ---- */

static bool disco_info(void *ud, const stanza_ctx *c)
{
    service *svc = ud;
    if (xml_attr(c->payload, "node")) {
        reply_error(svc, c->st, STANZA_ERR_ITEM_NOT_FOUND, "no such node");
        return true;
    }
    xml_node *query;
    xml_node *r = stanza_iq_reply(c->st, "query", NS_DISCO_INFO, &query);
    xml_node *id = query ? xml_append_new(query, "identity", NULL) : NULL;
    if (!id || xml_set_attr(id, "category", "conference") < 0 ||
        xml_set_attr(id, "type", "text") < 0 || xml_set_attr(id, "name", svc->name) < 0 ||
        router_features(svc->router, query) < 0) {
        xml_free(r);
        reply_error(svc, c->st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return true;
    }
    emit(svc, r);
    return true;
}

static bool disco_items(void *ud, const stanza_ctx *c)
{
    service *svc = ud;
    const char *node = xml_attr(c->payload, "node");
    xml_node *query;
    xml_node *r = stanza_iq_reply(c->st, "query", NS_DISCO_ITEMS, &query);
    stanza_error e = STANZA_ERR__COUNT;
    if (!query || (node && xml_set_attr(query, "node", node) < 0))
        e = STANZA_ERR_INTERNAL_SERVER_ERROR;
    else if (!muc_disco_items(svc->rooms, node, query))
        e = STANZA_ERR_ITEM_NOT_FOUND;
    if (e == STANZA_ERR__COUNT) {
        emit(svc, r);
        return true;
    }
    xml_free(r);
    reply_error(svc, c->st, e, e == STANZA_ERR_ITEM_NOT_FOUND ? "no such node" : NULL);
    return true;
}

static bool ping(void *ud, const stanza_ctx *c)
{
    emit(ud, stanza_iq_result(c->st));
    return true;
}

static bool version(void *ud, const stanza_ctx *c)
{
    service *svc = ud;
    /* No <os/>: telling the world the host's OS helps attackers more than
     * users. */
    xml_node *q;
    xml_node *r = stanza_iq_reply(c->st, "query", NS_VERSION, &q);
    xml_node *n = q ? xml_append_new(q, "name", NULL) : NULL;
    xml_node *v = q ? xml_append_new(q, "version", NULL) : NULL;
    if (!n || !v || xml_append_text(n, "Stoa") < 0 || xml_append_text(v, svc->version) < 0) {
        xml_free(r);
        reply_error(svc, c->st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return true;
    }
    emit(svc, r);
    return true;
}

/* What every IQ to the service itself must be before anything of the
 * service's answers it: handled (refused) when it is not. */
static bool check_iq(void *ud, const stanza_ctx *c)
{
    service *svc = ud;
    bool get_or_set = c->type && (strcmp(c->type, "get") == 0 || strcmp(c->type, "set") == 0);
    const char *why = !get_or_set              ? "an IQ must have type get or set"
                      : !xml_attr(c->st, "id") ? "an IQ must have an id"
                      : !c->payload            ? "an IQ get or set carries exactly one payload"
                                               : NULL;
    if (why)
        reply_error(svc, c->st, STANZA_ERR_BAD_REQUEST, why);
    else if (c->to.resource) /* the service itself has no resources */
        reply_error(svc, c->st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
    return why || c->to.resource;
}

/* The features of the service's own answers come first in its disco#info,
 * though their rows come after the modules' (whose rows take IQs as they
 * come, before check_iq). */
static const router_route own_features[] = {
    {0, 0, NULL, NULL, NULL, NS_DISCO_INFO},
    {0, 0, NULL, NULL, NULL, NS_DISCO_ITEMS},
    {0, 0, NULL, NULL, NULL, NS_PING},
    {0, 0, NULL, NULL, NULL, NS_VERSION},
};

static const router_route own_routes[] = {
    {ROUTE_IQ | ROUTE_IQ_BAD, ROUTE_TO_SERVICE | ROUTE_TO_SERVICE_RESOURCE, NULL, NULL, check_iq,
     NULL},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, NS_DISCO_INFO, "query", disco_info, NULL},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, NS_DISCO_ITEMS, "query", disco_items, NULL},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, NS_PING, "ping", ping, NULL},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, NS_VERSION, "query", version, NULL},
};

#define ROWS(t) t, sizeof t / sizeof t[0]

/* The order rows are tried in: the block lists' notifications and answers
 * before anything that takes messages to the service (the desk would look
 * for a report in an item's payload), blocking IQs before the desk's (which takes
 * the blocks that carry reports, and every block when there is no
 * blocking), reports before the rooms (a report to a room is the desk's),
 * the roster's (the host's privilege message and presence, the answers to
 * its roster IQs, the who-is-online disco node) before the commands and the
 * desk, which takes every message to the service;
 * commands and reports before what every IQ to the service must be
 * (check_iq), which comes before the service's own answers and channel
 * search. */
static int add_routes(service *svc)
{
    return router_add(svc->router, ROWS(own_features), svc) < 0 ||
                   (svc->rtbl && router_add(svc->router, ROWS(rtbl_routes), svc->rtbl) < 0) ||
                   (svc->ublock && router_add(svc->router, ROWS(ublock_routes), svc->ublock) < 0) ||
                   router_add(svc->router, ROWS(roster_routes), svc->roster) < 0 ||
                   router_add(svc->router, ROWS(adhoc_routes), svc->commands) < 0 ||
                   router_add(svc->router, ROWS(desk_routes), svc->desk) < 0 ||
                   router_add(svc->router, ROWS(own_routes), svc) < 0 ||
                   router_add(svc->router, ROWS(muc_routes), svc->rooms) < 0
               ? -1
               : 0;
}

/* ---- life ---- */

/* The desk stored a host server's copy of a user's block: reload the
 * user's list where it is loaded. */
static void on_desk_blocklist(void *ud, const char *owner)
{
    ublock_reload(ud, owner);
}

static void on_desk_forget(void *ud, const char *who, bool domain)
{
    roster_forget(ud, who, domain);
}

/* Everything that needs Redis, or blocking, beside the rooms and the desk. */
static int attach(service *svc, const service_config *cfg)
{
    const char *prefix = cfg->prefix ? cfg->prefix : "";
    svc->rtbl = cfg->rtbl;
    muc_set_rtbl(svc->rooms, cfg->rtbl);
    if (cfg->blocking) {
        if (!(svc->ublock = ublock_new(cfg->redis, prefix, svc->domain, &svc->sink)))
            return -1;
        muc_set_ublock(svc->rooms, svc->ublock);
        desk_on_blocklist(svc->desk, on_desk_blocklist, svc->ublock);
    }
    if (cfg->redis) {
        if (!(svc->store = muc_store_new(cfg->redis, prefix, cfg->archive_max, STORE_QUEUE_MAX)))
            return -1;
        muc_set_store(svc->rooms, svc->store);
        desk_set_redis(svc->desk, cfg->redis, prefix);
        roster_set_redis(svc->roster, cfg->redis, prefix);
    }
    desk_on_forget(svc->desk, on_desk_forget, svc->roster);
    return 0;
}

service *service_new(const service_config *cfg, const out *sink)
{
    service *svc = calloc(1, sizeof *svc);
    if (!svc)
        return NULL;
    svc->domain = strdup(cfg->domain);
    svc->name = strdup(cfg->name);
    svc->version = strdup(cfg->version);
    svc->sink = *sink;
    muc_config mc = cfg->muc;
    mc.domain = svc->domain;
    if (svc->domain && svc->name && svc->version) {
        svc->router = router_new(svc->domain, sink);
        svc->rooms = muc_new(&mc, sink);
        svc->commands = adhoc_new(svc->domain, sink);
    }
    if (svc->rooms && svc->commands) {
        svc->desk = desk_new(&cfg->desk, svc->domain, svc->rooms, svc->commands, sink);
        roster_config rc = cfg->roster;
        rc.moderators = cfg->desk.moderators;
        svc->roster = roster_new(&rc, svc->domain, cfg->loop, svc->commands, sink);
    }
    if (!svc->router || !svc->desk || !svc->roster || attach(svc, cfg) < 0 || add_routes(svc) < 0) {
        service_free(svc);
        return NULL;
    }
    return svc;
}

void service_close(service *svc)
{
    ublock_close(svc->ublock);
}

void service_free(service *svc)
{
    if (!svc)
        return;
    desk_free(svc->desk);
    roster_free(svc->roster);
    adhoc_free(svc->commands);
    /* The rooms release their occupants' block lists and may still write
     * to the store as they go. */
    muc_free(svc->rooms);
    muc_store_free(svc->store);
    ublock_free(svc->ublock);
    router_free(svc->router);
    free(svc->domain);
    free(svc->name);
    free(svc->version);
    free(svc);
}

int service_set_name(service *svc, const char *name)
{
    char *n = strdup(name);
    if (!n)
        return -1;
    free(svc->name);
    svc->name = n;
    return 0;
}

/* ---- stanzas ---- */

void service_dispatch(service *svc, stanza_ctx *c)
{
    router_dispatch(svc->router, c);
}

void service_handle(service *svc, xml_node *st)
{
    stanza_ctx *c = stanza_ctx_new(st);
    if (c)
        router_dispatch(svc->router, c);
}

void service_reject(service *svc, xml_node *shell, const char *why)
{
    char text[160];
    if (rtbl_dropped(svc->rtbl, shell, why)) {
        xml_free(shell);
        return;
    }
    snprintf(text, sizeof text, "stanza refused: %s", why);
    if (xml_ns(shell) && strcmp(xml_ns(shell), NS_COMPONENT) == 0)
        emit(svc, stanza_error_reply(shell, STANZA_ERR_POLICY_VIOLATION, text, NULL));
    xml_free(shell);
}

static void gate_pass(void *ud, stanza_ctx *c)
{
    service_dispatch(ud, c);
}

static bool gate_in_room(void *ud, const char *local, const char *full)
{
    return muc_is_occupant(((service *)ud)->rooms, local, full);
}

static unsigned gate_room_rate(void *ud, const char *local)
{
    return muc_room_message_rate(((service *)ud)->rooms, local);
}

gate_hooks service_gate_hooks(service *svc)
{
    return (gate_hooks){gate_pass, gate_in_room, gate_room_rate, svc};
}

/* ---- Redis ---- */

static void loaded(service *svc)
{
    if (svc->loaded)
        svc->loaded(svc->loaded_ud);
}

static void on_occupants_loaded(void *ud, int sessions)
{
    if (sessions >= 0)
        log_info("%d occupant session%s seated again from Redis", sessions,
                 sessions == 1 ? "" : "s");
    else
        log_warn("occupants could not be read from Redis: nobody is seated again");
    loaded(ud);
}

static void on_rooms_loaded(void *ud, int rooms)
{
    service *svc = ud;
    if (rooms >= 0)
        log_info("%d persistent room%s restored from Redis", rooms, rooms == 1 ? "" : "s");
    else
        log_warn("persistent rooms could not be read from Redis; will retry when it returns");
    svc->rooms_loaded = rooms >= 0;
    if (rooms >= 0)
        muc_occstore_load(svc->store, svc->rooms, on_occupants_loaded, svc);
    else
        loaded(svc);
}

void service_redis_state(service *svc, rdb_state state)
{
    if (state == RDB_UP)
        roster_redis_up(svc->roster);
    if (state != RDB_UP || !svc->store)
        return;
    muc_store_redis_up(svc->store);
    if (!svc->rooms_loaded)
        muc_store_load(svc->store, svc->rooms, on_rooms_loaded, svc);
}

void service_on_loaded(service *svc, void (*cb)(void *ud), void *ud)
{
    svc->loaded = cb;
    svc->loaded_ud = ud;
}

void service_link_up(service *svc)
{
    roster_link_up(svc->roster);
}

void service_link_down(service *svc)
{
    roster_link_down(svc->roster);
}

muc *service_muc(service *svc)
{
    return svc->rooms;
}

desk *service_desk(service *svc)
{
    return svc->desk;
}

adhoc *service_adhoc(service *svc)
{
    return svc->commands;
}
