/* The roster module's life: its routes, the host's permissions, the groups
 * in Redis, the desk's hygiene. */
#include "roster/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jid.h"
#include "keys.h"
#include "log.h"
#include "ns.h"

/* ---- small shared things ---- */

bool roster_is_admin(const roster *r, const char *bare)
{
    for (size_t i = 0; bare && r->admins && r->admins[i]; i++)
        if (strcmp(r->admins[i], bare) == 0)
            return true;
    return false;
}

bool roster_groups_on(const roster *r)
{
    return r->enabled && r->redis && r->loaded && r->link_up && r->decided &&
           r->writer != PRIV_WRITER_NONE;
}

bool roster_online_on(const roster *r)
{
    return r->enabled && r->link_up && r->have_perms && r->perms.presence != PRIV_PRESENCE_NONE;
}

void roster_emit(roster *r, xml_node *st)
{
    if (!st)
        return;
    if (out_stanza(&r->sink, st) < 0)
        log_debug("roster: link not ready; stanza dropped");
    xml_free(st);
}

void roster_next_id(roster *r, const char *kind, char *out, size_t n)
{
    snprintf(out, n, "stoa-%s-%lu", kind, ++r->seq);
}

int roster_key(const roster *r, const char *stem, const char *who, char *out, size_t n)
{
    return keys_format(out, n, r->prefix ? r->prefix : "", stem, who);
}

rq *roster_rq(roster *r, rq_done done, const char *a, const char *b)
{
    rq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->r = r;
    q->done = done;
    if ((a && !(q->a = strdup(a))) || (b && !(q->b = strdup(b)))) {
        rq_free(q);
        return NULL;
    }
    return q;
}

void rq_free(rq *q)
{
    if (!q)
        return;
    if (q->free_data)
        q->free_data(q->data);
    if (q->req)
        adhoc_fail(q->req, STANZA_ERR_SERVICE_UNAVAILABLE, NULL, "Redis is not available");
    free(q->a);
    free(q->b);
    free(q);
}

static void on_reply(void *ud, redisReply *reply)
{
    rq *q = ud;
    if (q->done)
        q->done(q, reply);
    rq_free(q);
}

int roster_send(roster *r, rq *q, int argc, const char **argv)
{
    if (!r->redis || rdb_command_argv(r->redis, q ? on_reply : NULL, q, argc, argv, NULL) < 0) {
        rq_free(q);
        return -1;
    }
    return 0;
}

/* ---- the groups in Redis ---- */

static void loaded(roster *r)
{
    r->loading = false;
    r->loaded = true;
    log_info("roster: %zu group%s", grp_count(r->groups), grp_count(r->groups) == 1 ? "" : "s");
    if (roster_groups_on(r))
        apply_everyone(r->ap);
}

typedef struct load_state {
    size_t waiting;
    bool failed;
} load_state;

/* One read of the load is done; the last one finishes the load and frees
 * the shared state. */
static void load_step_done(roster *r, load_state *ls)
{
    if (--ls->waiting > 0)
        return;
    bool failed = ls->failed;
    free(ls);
    if (failed) {
        log_warn("roster: the groups could not be read from Redis; will retry when it returns");
        r->loading = false;
    } else {
        loaded(r);
    }
}

static void on_members(rq *q, const redisReply *reply)
{
    load_state *ls = q->data;
    size_t n;
    if (!rdb_is_array(reply, &n))
        ls->failed = true;
    for (size_t i = 0; i < n; i++) {
        const char *v = rdb_str(rdb_elem(reply, i));
        if (v && grp_add(q->r->groups, q->a, v) < 0)
            ls->failed = true;
    }
    load_step_done(q->r, ls);
}

static void on_shown(rq *q, const redisReply *reply)
{
    load_state *ls = q->data;
    size_t n;
    if (!rdb_is_array(reply, &n))
        ls->failed = true;
    for (size_t i = 0; i < n; i++) {
        const char *v = rdb_str(rdb_elem(reply, i));
        if (v && grp_create(q->r->groups, v) >= 0 && grp_display(q->r->groups, q->a, v, true) < 0)
            ls->failed = true;
    }
    load_step_done(q->r, ls);
}

static void read_set(roster *r, load_state *ls, rq_done done, const char *stem, const char *group)
{
    char key[512];
    rq *q = roster_rq(r, done, group, NULL);
    if (!q || roster_key(r, stem, group, key, sizeof key) < 0) {
        rq_free(q);
        ls->failed = true;
        return;
    }
    q->data = ls;
    ls->waiting++;
    const char *argv[] = {"SMEMBERS", key};
    if (roster_send(r, q, 2, argv) < 0) {
        ls->waiting--;
        ls->failed = true;
    }
}

static void on_groups(rq *q, const redisReply *reply)
{
    roster *r = q->r;
    size_t n;
    if (!rdb_is_array(reply, &n)) {
        r->loading = false;
        log_warn("roster: the groups could not be read from Redis; will retry when it returns");
        return;
    }
    load_state *ls = calloc(1, sizeof *ls);
    if (!ls) {
        r->loading = false;
        return;
    }
    ls->waiting = 1; /* this step */
    for (size_t i = 0; i < n; i++) {
        const char *g = rdb_str(rdb_elem(reply, i));
        if (!g || !grp_name_ok(g) || grp_create(r->groups, g) < 0)
            continue;
        read_set(r, ls, on_members, KEY_ROSTER_MEMBERS, g);
        read_set(r, ls, on_shown, KEY_ROSTER_SHOWN, g);
    }
    load_step_done(r, ls);
}

/* A group of the configuration: created and filled in Redis and the model
 * (adding is idempotent; what the configuration no longer lists stays, for
 * an admin to remove). */
static int seed(void *ud, const char *name, const char *member)
{
    roster *r = ud;
    char key[512];
    if (grp_create(r->groups, name) < 0 || (member && grp_add(r->groups, name, member) < 0))
        return -1;
    if (roster_key(r, KEY_ROSTER_GROUPS, NULL, key, sizeof key) == 0) {
        const char *argv[] = {"SADD", key, name};
        roster_send(r, NULL, 3, argv);
    }
    if (member && roster_key(r, KEY_ROSTER_MEMBERS, name, key, sizeof key) == 0) {
        const char *argv[] = {"SADD", key, member};
        roster_send(r, NULL, 3, argv);
    }
    return 0;
}

void roster_redis_up(roster *r)
{
    if (!r->enabled || !r->redis || r->loaded || r->loading)
        return;
    char key[512];
    rq *q = roster_rq(r, on_groups, NULL, NULL);
    if (!q || roster_key(r, KEY_ROSTER_GROUPS, NULL, key, sizeof key) < 0) {
        rq_free(q);
        return;
    }
    r->loading = true;
    char err[256];
    /* The configured groups first: the SADDs go before the reads on the
     * one connection, so the reads see them. */
    if (grp_parse_config(r->groups_setting, r->group_max, seed, r, err, sizeof err) < 0)
        log_error("roster: [roster] groups: %s", err);
    const char *argv[] = {"SMEMBERS", key};
    if (roster_send(r, q, 2, argv) < 0)
        r->loading = false;
}

/* ---- the host's permissions ---- */

static void decide(roster *r)
{
    r->decided = true;
    r->writer = priv_pick_writer(&r->perms, r->contrib);
    char line[900];
    if (priv_advice(&r->perms, r->contrib, r->host, r->domain, line, sizeof line))
        log_warn("%s", line);
    else
        log_info("roster: %s grants roster read and write and presence: group rosters (%s) and "
                 "who is online are on",
                 r->host,
                 r->writer == PRIV_WRITER_CONTRIB ? "through mod_stoa_roster"
                                                  : "through privileged roster sets");
    if (roster_groups_on(r))
        apply_everyone(r->ap);
}

static void ask_host_features(roster *r)
{
    roster_next_id(r, "di", r->disco_id, sizeof r->disco_id);
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    if (!iq || xml_set_attr(iq, "type", "get") < 0 || xml_set_attr(iq, "id", r->disco_id) < 0 ||
        xml_set_attr(iq, "from", r->domain) < 0 || xml_set_attr(iq, "to", r->host) < 0 ||
        !xml_append_new(iq, "query", NS_DISCO_INFO)) {
        xml_free(iq);
        decide(r);
        return;
    }
    roster_emit(r, iq);
}

static bool on_privilege(void *ud, const stanza_ctx *c)
{
    roster *r = ud;
    priv_perms p;
    if (!r->enabled || c->from.local || c->from.resource || priv_parse(c->st, &p) < 0)
        return false;
    if (r->host && strcmp(r->host, c->from.domain) != 0) {
        log_info("roster: privileges from %s ignored: Stoa manages the users of %s", c->from.domain,
                 r->host);
        return true;
    }
    char *host = strdup(c->from.domain);
    if (!host)
        return true;
    free(r->host);
    r->host = host;
    r->perms = p;
    r->have_perms = true;
    ev_timer_stop(r->loop, &r->wait);
    r->contrib = false;
    r->decided = false;
    /* ejabberd's set cuts the link: look for mod_stoa_roster first. */
    if (p.version == 1)
        ask_host_features(r);
    else
        decide(r);
    return true;
}

static void on_features(roster *r, const stanza_ctx *c)
{
    r->disco_id[0] = '\0';
    const xml_node *q = xml_child(c->st, "query", NS_DISCO_INFO);
    for (const xml_node *f = q ? xml_first_child(q) : NULL; f; f = xml_next(f)) {
        const char *var = xml_is_text(f) ? NULL : xml_attr(f, "var");
        if (var && strcmp(var, NS_STOA_ROSTER) == 0)
            r->contrib = true;
    }
    decide(r);
}

static bool on_answer(void *ud, const stanza_ctx *c)
{
    roster *r = ud;
    const char *id = xml_attr(c->st, "id");
    if (!id || strncmp(id, "stoa-", 5) != 0)
        return false;
    if (r->disco_id[0] && strcmp(id, r->disco_id) == 0) {
        on_features(r, c);
        return true;
    }
    return online_answer(r, c) || apply_answer(r->ap, c);
}

static bool on_presence(void *ud, const stanza_ctx *c)
{
    return online_presence(ud, c);
}

static bool on_disco_items(void *ud, const stanza_ctx *c)
{
    return online_disco(ud, c);
}

const router_route roster_routes[ROSTER_ROUTES] = {
    {ROUTE_MESSAGE, ROUTE_TO_SERVICE, NS_PRIVILEGE2, "privilege", on_privilege, NULL},
    {ROUTE_MESSAGE, ROUTE_TO_SERVICE, NS_PRIVILEGE1, "privilege", on_privilege, NULL},
    {ROUTE_IQ_ANSWER, ROUTE_TO_SERVICE, NULL, NULL, on_answer, NULL},
    {ROUTE_PRESENCE, ROUTE_TO_SERVICE, NULL, NULL, on_presence, NULL},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, NS_DISCO_ITEMS, "query", on_disco_items, NULL},
};

static void on_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    roster *r = w->data;
    char line[900];
    if (!r->have_perms && priv_advice(NULL, false, r->host, r->domain, line, sizeof line))
        log_warn("%s", line);
}

void roster_link_up(roster *r)
{
    r->link_up = true;
    if (r->enabled && r->loop && !r->have_perms) {
        ev_timer_set(&r->wait, r->permission_wait, 0);
        ev_timer_start(r->loop, &r->wait);
    }
}

void roster_link_down(roster *r)
{
    r->link_up = false;
    r->have_perms = false;
    r->decided = false;
    r->contrib = false;
    r->disco_id[0] = '\0';
    r->writer = PRIV_WRITER_NONE;
    if (r->loop)
        ev_timer_stop(r->loop, &r->wait);
    apply_reset(r->ap);
    online_clear(r);
}

/* ---- the desk's hygiene ---- */

int roster_leave(roster *r, const char *group, const char *member)
{
    char key[512];
    if (roster_key(r, KEY_ROSTER_MEMBERS, group, key, sizeof key) < 0)
        return -1;
    const char *argv[] = {"SREM", key, member};
    if (roster_send(r, NULL, 3, argv) < 0)
        return -1;
    if (grp_remove(r->groups, group, member) == 0)
        apply_member(r->ap, group, member);
    return 0;
}

typedef struct forget_walk {
    roster *r;
    const char *who;
    bool domain;
    grp_names found;
} forget_walk;

static void match_member(void *ud, const char *member)
{
    forget_walk *w = ud;
    const char *at = strchr(member, '@');
    if (w->domain ? at && strcmp(at + 1, w->who) == 0 : strcmp(member, w->who) == 0)
        grp_names_add(&w->found, member);
}

static void forget_in(void *ud, const char *group)
{
    forget_walk *w = ud;
    grp_each_member(w->r->groups, group, match_member, w);
}

void roster_forget(roster *r, const char *who, bool domain)
{
    if (!r || !r->enabled || !r->loaded)
        return;
    forget_walk w = {r, who, domain, {NULL, 0, 0}};
    /* Collected first: a walk must not change the maps it walks. */
    grp_each(r->groups, forget_in, &w);
    for (size_t i = 0; i < w.found.n; i++) {
        grp_names groups = {NULL, 0, 0};
        grp_each_group_of(r->groups, w.found.v[i], grp_names_add, &groups);
        for (size_t g = 0; g < groups.n; g++)
            if (roster_leave(r, groups.v[g], w.found.v[i]) < 0)
                log_warn("roster: Redis away: %s stays in group %s", w.found.v[i], groups.v[g]);
        config_list_free(groups.v);
    }
    if (w.found.n)
        log_info("roster: %s taken out of the groups (%zu member%s)", who, w.found.n,
                 w.found.n == 1 ? "" : "s");
    config_list_free(w.found.v);
}

/* ---- life ---- */

roster *roster_new(const roster_config *cfg, const char *domain, struct ev_loop *loop,
                   adhoc *commands, const out *sink)
{
    roster *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->sink = *sink;
    r->loop = loop;
    r->commands = commands;
    r->enabled = cfg->enabled;
    r->rate = cfg->rate > 0 ? cfg->rate : 100;
    r->group_max = cfg->group_max ? cfg->group_max : 10000;
    r->permission_wait = cfg->permission_wait > 0 ? cfg->permission_wait : 10;
    const char *admins = cfg->admins && *cfg->admins ? cfg->admins : cfg->moderators;
    char bad[256];
    r->domain = strdup(domain);
    r->groups_setting = strdup(cfg->groups ? cfg->groups : "");
    r->admins = jid_list_parse(admins ? admins : "", JID_LIST_USERS, bad, sizeof bad);
    r->groups = grp_new();
    if (!r->domain || !r->groups_setting || !r->admins || !r->groups || !(r->ap = apply_new(r)) ||
        (r->enabled && roster_register_commands(r) < 0)) {
        roster_free(r);
        return NULL;
    }
    ev_timer_init(&r->wait, on_wait, r->permission_wait, 0);
    r->wait.data = r;
    return r;
}

void roster_free(roster *r)
{
    if (!r)
        return;
    if (r->commands)
        adhoc_unregister(r->commands, r);
    if (r->loop)
        ev_timer_stop(r->loop, &r->wait);
    online_clear(r);
    apply_free(r->ap);
    grp_free(r->groups);
    config_list_free(r->admins);
    free(r->groups_setting);
    free(r->host);
    free(r->prefix);
    free(r->domain);
    free(r);
}

void roster_set_redis(roster *r, rdb *redis, const char *prefix)
{
    r->redis = redis;
    free(r->prefix);
    r->prefix = prefix ? strdup(prefix) : NULL;
}
