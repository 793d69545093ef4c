#include "adhoc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hmap.h"
#include "log.h"
#include "ns.h"
#include "xtime.h"

/* The commands one module registered. */
typedef struct module {
    const adhoc_command *cmds;
    size_t n;
    adhoc_roles_fn roles;
    void *ud;
} module;

typedef struct session {
    char id[17]; /* the key in adhoc->sessions */
    char *owner; /* full JID that opened it */
    char *bare;  /* its bare JID, for the per-user cap */
    const adhoc_command *cmd;
    void *ud; /* the module's */
    size_t stage;
    double started;
    void *data;
    void (*data_free)(void *);
} session;

struct adhoc {
    char *domain;
    out sink;
    module *mods;
    size_t nmods;
    hmap sessions;
    double (*now)(void);
};

struct adhoc_req {
    adhoc *a;
    xml_node *iq; /* a copy: the req may outlive the stanza */
    const adhoc_command *cmd;
    void *ud;
    char *full, *bare;
    unsigned roles;
    char sid[17];
    size_t stage;
    dataform *form; /* points into iq */
};

typedef enum { ACT_EXECUTE, ACT_NEXT, ACT_PREV, ACT_COMPLETE, ACT_CANCEL, ACT_BAD } action;

static void emit(adhoc *a, xml_node *st)
{
    if (!st)
        return;
    if (out_stanza(&a->sink, st) < 0)
        log_debug("link not ready; ad-hoc answer dropped");
    xml_free(st);
}

/* A stanza error, with XEP-0050's own condition beside the stanza one. */
static void send_error(adhoc *a, const xml_node *iq, stanza_error e, const char *specific,
                       const char *text)
{
    xml_node *r = stanza_error_reply(iq, e, text, NULL);
    xml_node *er = r ? xml_child(r, "error", NULL) : NULL;
    if (er && specific)
        xml_append_new(er, specific, NS_COMMANDS);
    emit(a, r);
}

/* ---- sessions ---- */

static void session_free(session *s)
{
    if (s->data_free)
        s->data_free(s->data);
    free(s->owner);
    free(s->bare);
    free(s);
}

static void session_drop(adhoc *a, session *s)
{
    if (!s)
        return;
    hmap_del(&a->sessions, s->id);
    session_free(s);
}

static session *session_find(adhoc *a, const char *id)
{
    return id && *id ? hmap_get(&a->sessions, id) : NULL;
}

static bool expired(const adhoc *a, const session *s)
{
    return a->now() - s->started > ADHOC_SESSION_TTL;
}

/* Drops the lapsed sessions, and the oldest of `bare` when they hold
 * ADHOC_SESSIONS_PER_USER: one person cannot fill the table, and one who
 * walks away from forms is never locked out. */
static void sweep(adhoc *a, const char *bare)
{
    session *gone[ADHOC_SESSIONS_MAX + 1];
    size_t ngone = 0, mine = 0, it = 0;
    session *oldest = NULL;
    void *v;
    while (hmap_next(&a->sessions, &it, NULL, &v) && ngone < ADHOC_SESSIONS_MAX) {
        session *s = v;
        if (expired(a, s)) {
            gone[ngone++] = s;
        } else if (strcmp(s->bare, bare) == 0) {
            mine++;
            if (!oldest || s->started < oldest->started)
                oldest = s;
        }
    }
    if (mine >= ADHOC_SESSIONS_PER_USER && oldest)
        gone[ngone++] = oldest;
    for (size_t i = 0; i < ngone; i++)
        session_drop(a, gone[i]);
}

static session *session_open(adhoc *a, const adhoc_req *q)
{
    sweep(a, q->bare);
    if (a->sessions.count >= ADHOC_SESSIONS_MAX)
        return NULL;
    session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    do {
        unsigned char rnd[8];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            uint64_t x = (uint64_t)(a->now() * 1e6) ^ (uint64_t)(uintptr_t)s ^ a->sessions.count;
            memcpy(rnd, &x, sizeof rnd);
        }
        for (int i = 0; i < 8; i++)
            snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
    } while (hmap_get(&a->sessions, s->id));
    s->owner = strdup(q->full);
    s->bare = strdup(q->bare);
    s->cmd = q->cmd;
    s->ud = q->ud;
    s->started = a->now();
    if (!s->owner || !s->bare || hmap_put(&a->sessions, s->id, s) < 0) {
        session_free(s);
        return NULL;
    }
    return s;
}

/* ---- the request ---- */

static void req_free(adhoc_req *q)
{
    dataform_free(q->form);
    xml_free(q->iq);
    free(q->full);
    free(q->bare);
    free(q);
}

void adhoc_req_drop(adhoc_req *q)
{
    if (q)
        req_free(q);
}

void *adhoc_req_ud(const adhoc_req *q)
{
    return q->ud;
}

const xml_node *adhoc_req_iq(const adhoc_req *q)
{
    return q->iq;
}

const char *adhoc_req_full(const adhoc_req *q)
{
    return q->full;
}

const char *adhoc_req_bare(const adhoc_req *q)
{
    return q->bare;
}

unsigned adhoc_req_roles(const adhoc_req *q)
{
    return q->roles;
}

const adhoc_command *adhoc_req_command(const adhoc_req *q)
{
    return q->cmd;
}

const char *adhoc_req_sessionid(const adhoc_req *q)
{
    return q->sid;
}

size_t adhoc_req_stage(const adhoc_req *q)
{
    return q->stage;
}

const dataform *adhoc_req_form(const adhoc_req *q)
{
    return q->form;
}

const char *adhoc_req_value(const adhoc_req *q, const char *var)
{
    return q->form ? dataform_get(q->form, var) : NULL;
}

const char *adhoc_req_text(const adhoc_req *q, const char *var)
{
    return q->form ? dataform_text(q->form, var) : NULL;
}

void *adhoc_req_data(const adhoc_req *q)
{
    session *s = session_find(q->a, q->sid);
    return s ? s->data : NULL;
}

int adhoc_req_set_data(adhoc_req *q, void *data, void (*free_fn)(void *))
{
    session *s = session_find(q->a, q->sid);
    if (!s) {
        if (free_fn)
            free_fn(data);
        return -1;
    }
    if (s->data_free && s->data != data)
        s->data_free(s->data);
    s->data = data;
    s->data_free = free_fn;
    return 0;
}

/* <iq type=result><command node sessionid status/></iq> */
static xml_node *command_reply(const adhoc_req *q, const char *status, xml_node **c)
{
    xml_node *r = stanza_iq_reply(q->iq, "command", NS_COMMANDS, c);
    if (!*c || xml_set_attr(*c, "node", q->cmd->node) < 0 ||
        xml_set_attr(*c, "sessionid", q->sid) < 0 || xml_set_attr(*c, "status", status) < 0) {
        xml_free(r);
        *c = NULL;
        return NULL;
    }
    return r;
}

/* Sends r, or internal-server-error when building it ran out of memory. */
static void send_or_fail(adhoc_req *q, xml_node *r, bool ok)
{
    if (r && ok)
        emit(q->a, r);
    else {
        xml_free(r);
        send_error(q->a, q->iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
    }
}

static int add_actions(xml_node *c, const adhoc_command *cmd, size_t stage)
{
    bool last = stage + 1 >= cmd->nsteps;
    const char *go = last ? "complete" : "next";
    xml_node *acts = xml_append_new(c, "actions", NULL);
    if (!acts || xml_set_attr(acts, "execute", go) < 0 ||
        (cmd->prev && stage > 0 && !xml_append_new(acts, "prev", NULL)) ||
        !xml_append_new(acts, go, NULL))
        return -1;
    return 0;
}

void adhoc_form(adhoc_req *q, xml_node *payload)
{
    session *s = session_find(q->a, q->sid);
    if (!s) {
        xml_free(payload);
        send_error(q->a, q->iq, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
        req_free(q);
        return;
    }
    s->stage = q->stage;
    xml_node *c;
    xml_node *r = command_reply(q, "executing", &c);
    bool ok = c && payload && add_actions(c, q->cmd, q->stage) == 0;
    if (ok)
        ok = xml_append(c, payload) != NULL; /* takes payload either way */
    else
        xml_free(payload);
    send_or_fail(q, r, ok);
    req_free(q);
}

void adhoc_next(adhoc_req *q)
{
    if (q->stage + 1 >= q->cmd->nsteps) {
        log_warn("ad-hoc %s: no stage after %zu", q->cmd->node, q->stage);
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    q->stage++;
    q->cmd->steps[q->stage].show(q);
}

void adhoc_complete(adhoc_req *q, xml_node *payload, adhoc_note type, const char *text)
{
    static const char *const types[] = {"info", "warn", "error"};
    xml_node *c;
    xml_node *r = command_reply(q, "completed", &c);
    bool ok = c != NULL;
    if (ok && payload)
        ok = xml_append(c, payload) != NULL;
    else
        xml_free(payload);
    xml_node *n = ok && text ? xml_append_new(c, "note", NULL) : NULL;
    if (text && (!n || xml_set_attr(n, "type", types[type]) < 0 || xml_append_text(n, text) < 0))
        ok = false;
    /* Only now: text may point into the session's data. */
    session_drop(q->a, session_find(q->a, q->sid));
    send_or_fail(q, r, ok);
    req_free(q);
}

void adhoc_error(adhoc_req *q, stanza_error e, const char *specific, const char *text)
{
    send_error(q->a, q->iq, e, specific, text);
    req_free(q);
}

void adhoc_fail(adhoc_req *q, stanza_error e, const char *specific, const char *text)
{
    /* The error first: text may point into the session's data. */
    send_error(q->a, q->iq, e, specific, text);
    session_drop(q->a, session_find(q->a, q->sid));
    req_free(q);
}

/* ---- requests ---- */

static const adhoc_command *find_command(const adhoc *a, const char *node, const module **mod)
{
    for (size_t m = 0; node && m < a->nmods; m++) {
        for (size_t i = 0; i < a->mods[m].n; i++) {
            if (strcmp(a->mods[m].cmds[i].node, node) == 0) {
                if (mod)
                    *mod = &a->mods[m];
                return &a->mods[m].cmds[i];
            }
        }
    }
    return NULL;
}

static bool may(const adhoc_command *c, unsigned roles)
{
    return !c->who || !c->who->roles || (roles & c->who->roles);
}

static action parse_action(const char *s)
{
    static const char *const names[] = {"execute", "next", "prev", "complete", "cancel"};
    if (!s)
        return ACT_EXECUTE;
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return (action)i;
    return ACT_BAD;
}

static adhoc_req *req_new(adhoc *a, const xml_node *iq, const adhoc_command *cmd, const module *mod,
                          const jid *from)
{
    adhoc_req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->a = a;
    q->cmd = cmd;
    q->ud = mod->ud;
    q->iq = xml_copy(iq);
    q->full = jid_full(from);
    q->bare = jid_bare(from);
    if (!q->iq || !q->full || !q->bare) {
        req_free(q);
        return NULL;
    }
    q->roles = mod->roles ? mod->roles(mod->ud, q->bare) : 0;
    return q;
}

/* The submitted form of the session's stage, parsed and held against the
 * stage's fields; the stage's submit then takes q. */
static void submit(adhoc_req *q)
{
    const adhoc_step *st = &q->cmd->steps[q->stage];
    /* The copy's <command/> is where the form lives from now on. */
    const xml_node *x = dataform_find(stanza_iq_payload(q->iq));
    if (!x || !xml_attr(x, "type") || strcmp(xml_attr(x, "type"), "submit") != 0) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-payload", "submit the form");
        return;
    }
    dataform_error err;
    char text[200];
    if (!(q->form = dataform_parse(x, st->limits, &err)) ||
        dataform_check(q->form, st->fields, st->nfields, &err) < 0) {
        dataform_error_text(&err, text, sizeof text);
        adhoc_error(q, err.cond, "bad-payload", text);
        return;
    }
    if (!st->submit) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-action", "this stage takes no form");
        return;
    }
    st->submit(q);
}

/* A request naming a session. */
static void resume(adhoc_req *q, action act, const char *sid)
{
    adhoc *a = q->a;
    session *s = session_find(a, sid);
    if (!s || strcmp(s->owner, q->full) != 0 || s->cmd != q->cmd) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-sessionid", NULL);
        return;
    }
    memcpy(q->sid, s->id, sizeof q->sid);
    if (expired(a, s)) {
        adhoc_fail(q, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
        return;
    }
    q->stage = s->stage;
    if (act == ACT_CANCEL) {
        session_drop(a, s);
        xml_node *c;
        xml_node *r = command_reply(q, "canceled", &c);
        send_or_fail(q, r, c != NULL);
        req_free(q);
    } else if (act == ACT_PREV) {
        if (!q->cmd->prev || s->stage == 0) {
            adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-action",
                        q->cmd->prev ? "there is no stage before this one"
                                     : "this command goes forward only");
            return;
        }
        q->stage--;
        q->cmd->steps[q->stage].show(q);
    } else {
        submit(q);
    }
}

static void handle_command(adhoc *a, const xml_node *iq, const xml_node *cmdn, const jid *from)
{
    const char *type = xml_attr(iq, "type");
    if (!type || strcmp(type, "set") != 0) {
        send_error(a, iq, STANZA_ERR_BAD_REQUEST, NULL, "commands are IQ sets");
        return;
    }
    const module *mod = NULL;
    const adhoc_command *cmd = find_command(a, xml_attr(cmdn, "node"), &mod);
    if (!cmd) {
        send_error(a, iq, STANZA_ERR_ITEM_NOT_FOUND, NULL, "no such command");
        return;
    }
    adhoc_req *q = req_new(a, iq, cmd, mod, from);
    if (!q) {
        send_error(a, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    if (!may(cmd, q->roles)) {
        adhoc_error(q, STANZA_ERR_FORBIDDEN, NULL, cmd->who->refusal);
        return;
    }
    action act = parse_action(xml_attr(cmdn, "action"));
    const char *sid = xml_attr(cmdn, "sessionid");
    if (act == ACT_BAD) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "malformed-action", "no such action");
    } else if (sid) {
        resume(q, act, sid);
    } else if (act == ACT_CANCEL) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, NULL, "nothing to cancel");
    } else if (act == ACT_PREV) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-action", "there is no stage before this one");
    } else {
        session *s = session_open(a, q);
        if (!s) {
            adhoc_error(q, STANZA_ERR_RESOURCE_CONSTRAINT, NULL, "too many open command sessions");
            return;
        }
        memcpy(q->sid, s->id, sizeof q->sid);
        cmd->steps[0].show(q);
    }
}

/* ---- discovery ---- */

static void commands_items(adhoc *a, const xml_node *iq, const jid *from)
{
    xml_node *qn;
    xml_node *r = stanza_iq_reply(iq, "query", NS_DISCO_ITEMS, &qn);
    char *bare = jid_bare(from);
    bool ok = qn && bare && xml_set_attr(qn, "node", NS_COMMANDS) == 0;
    for (size_t m = 0; ok && m < a->nmods; m++) {
        const module *mod = &a->mods[m];
        unsigned roles = mod->roles ? mod->roles(mod->ud, bare) : 0;
        for (size_t i = 0; ok && i < mod->n; i++) {
            if (!may(&mod->cmds[i], roles))
                continue;
            xml_node *it = xml_append_new(qn, "item", NULL);
            ok = it && xml_set_attr(it, "jid", a->domain) == 0 &&
                 xml_set_attr(it, "node", mod->cmds[i].node) == 0 &&
                 xml_set_attr(it, "name", mod->cmds[i].name) == 0;
        }
    }
    free(bare);
    if (ok) {
        emit(a, r);
        return;
    }
    xml_free(r);
    send_error(a, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
}

static void command_info(adhoc *a, const xml_node *iq, const adhoc_command *c)
{
    xml_node *qn;
    xml_node *r = stanza_iq_reply(iq, "query", NS_DISCO_INFO, &qn);
    xml_node *id = qn ? xml_append_new(qn, "identity", NULL) : NULL;
    xml_node *f1 = qn ? xml_append_new(qn, "feature", NULL) : NULL;
    xml_node *f2 = qn ? xml_append_new(qn, "feature", NULL) : NULL;
    if (!id || !f1 || !f2 || xml_set_attr(qn, "node", c->node) < 0 ||
        xml_set_attr(id, "category", "automation") < 0 ||
        xml_set_attr(id, "type", "command-node") < 0 || xml_set_attr(id, "name", c->name) < 0 ||
        xml_set_attr(f1, "var", NS_COMMANDS) < 0 || xml_set_attr(f2, "var", NS_DATA) < 0) {
        xml_free(r);
        send_error(a, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    emit(a, r);
}

static bool ns_is(const xml_node *n, const char *ns)
{
    return xml_ns(n) && strcmp(xml_ns(n), ns) == 0;
}

static bool on_route(void *ud, const stanza_ctx *c)
{
    return adhoc_handle(ud, c);
}

const router_route adhoc_routes[ADHOC_ROUTES] = {
    {ROUTE_IQ, ROUTE_TO_SERVICE, NS_COMMANDS, "command", on_route, NS_COMMANDS},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, NS_DISCO_ITEMS, "query", on_route, NULL},
    {ROUTE_IQ_GET, ROUTE_TO_SERVICE, NS_DISCO_INFO, "query", on_route, NULL},
};

bool adhoc_handle(adhoc *a, const stanza_ctx *c)
{
    const xml_node *st = c->st;
    const jid *from = &c->from;
    if (!a || c->to.local || c->to.resource || c->kind != STANZA_IQ)
        return false;
    const xml_node *p = c->payload;
    if (!p)
        return false;
    if (ns_is(p, NS_COMMANDS) && strcmp(xml_name(p), "command") == 0) {
        handle_command(a, st, p, from);
        return true;
    }
    const char *type = c->type;
    const char *node = xml_attr(p, "node");
    if (!type || strcmp(type, "get") != 0 || !node || strcmp(xml_name(p), "query") != 0)
        return false;
    if (ns_is(p, NS_DISCO_ITEMS) && strcmp(node, NS_COMMANDS) == 0) {
        commands_items(a, st, from);
        return true;
    }
    const adhoc_command *cmd = ns_is(p, NS_DISCO_INFO) ? find_command(a, node, NULL) : NULL;
    if (cmd) {
        command_info(a, st, cmd);
        return true;
    }
    return false;
}

/* ---- life ---- */

adhoc *adhoc_new(const char *domain, const out *sink)
{
    adhoc *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->domain = strdup(domain);
    if (!a->domain) {
        free(a);
        return NULL;
    }
    a->sink = *sink;
    a->now = xtime_mono;
    return a;
}

void adhoc_free(adhoc *a)
{
    if (!a)
        return;
    size_t it = 0;
    void *v;
    while (hmap_next(&a->sessions, &it, NULL, &v))
        session_free(v);
    hmap_free(&a->sessions);
    free(a->mods);
    free(a->domain);
    free(a);
}

void adhoc_set_clock(adhoc *a, double (*now)(void))
{
    a->now = now ? now : xtime_mono;
}

int adhoc_register(adhoc *a, const adhoc_command *cmds, size_t n, adhoc_roles_fn roles, void *ud)
{
    for (size_t i = 0; i < n; i++) {
        if (find_command(a, cmds[i].node, NULL) || !cmds[i].nsteps || !cmds[i].steps[0].show) {
            log_error("ad-hoc command %s: node taken or no first stage", cmds[i].node);
            return -1;
        }
    }
    module *m = realloc(a->mods, (a->nmods + 1) * sizeof *m);
    if (!m)
        return -1;
    a->mods = m;
    a->mods[a->nmods++] = (module){cmds, n, roles, ud};
    return 0;
}

void adhoc_unregister(adhoc *a, void *ud)
{
    if (!a)
        return;
    for (size_t m = 0; m < a->nmods;) {
        if (a->mods[m].ud == ud)
            memmove(&a->mods[m], &a->mods[m + 1], (--a->nmods - m) * sizeof *a->mods);
        else
            m++;
    }
    session *gone[ADHOC_SESSIONS_MAX];
    size_t n = 0, it = 0;
    void *v;
    while (hmap_next(&a->sessions, &it, NULL, &v) && n < ADHOC_SESSIONS_MAX)
        if (((session *)v)->ud == ud)
            gone[n++] = v;
    for (size_t i = 0; i < n; i++)
        session_drop(a, gone[i]);
}
