#include "edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "jid.h"
#include "keys.h"
#include "log.h"
#include "out.h"
#include "rdb.h"
#include "safety/gate.h"
#include "safety/linkpol.h"
#include "safety/rtbl.h"
#include "xmlparse.h"

/* The gateway's buckets are not the component's (gate.h, rate_scope). */
#define EDGE_RATE_SCOPE "edge:"

struct edge {
    struct ev_loop *loop;
    const gwset *set;
    peers *ps;
    edge_hooks hooks;
    char **block, **only, **allow; /* normalized domains, NULL-terminated */
    rdb *r;                        /* commands: the gate's script, block checks */
    rdb *sub;                      /* the desk's announcements of blocks */
    gate *g;
    rtbl *rtbl;              /* a reader of the component's mirror; NULL: no Redis */
    buf scratch;             /* one refusal, between the gate's sink begin and commit */
    xmlparse_limits refusal; /* a refusal may quote the stanza it answers */
};

static bool listed(char **l, const char *d)
{
    for (size_t i = 0; l && l[i]; i++)
        if (strcmp(l[i], d) == 0)
            return true;
    return false;
}

/* ---- blocks kept in Redis: the desk's, and the spam-domain list ---- */

/* One question to Redis about a domain; freed by its reply. */
typedef struct ask_req {
    edge *e;
    char domain[];
} ask_req;

static void on_block_reply(void *ud, redisReply *reply)
{
    ask_req *q = ud;
    const char *reason = rdb_str(reply);
    if (reason || rdb_int(reply, 0) == 1) {
        unsigned n = peers_close_domain(q->e->ps, q->domain, "policy-violation",
                                        reason ? reason : "on the spam-domain list");
        if (n)
            log_info("edge: %s is blocked (%s): %u stream%s closed", q->domain,
                     reason ? reason : "spam-domain list", n, n == 1 ? "" : "s");
    }
    free(q);
}

/* Whether the desk blocked `domain` (spam: whether it is on the spam
 * list); the reply closes its streams if so. */
static void ask(edge *e, const char *domain, bool spam)
{
    size_t dl = strlen(domain);
    char key[1100];
    ask_req *q = malloc(sizeof *q + dl + 1);
    if (!q)
        return;
    q->e = e;
    memcpy(q->domain, domain, dl + 1);
    keys_format(key, sizeof key, e->set->redis_prefix, spam ? KEY_SPAM_DOMAINS : KEY_BAN_DOMAIN,
                spam ? NULL : domain);
    int rc = spam ? rdb_command(e->r, on_block_reply, q, "SISMEMBER %s %s", key, domain)
                  : rdb_command(e->r, on_block_reply, q, "GET %s", key);
    if (rc < 0)
        free(q);
}

static void check_blocked(edge *e, const char *domain)
{
    if (!e->r || rdb_get_state(e->r) != RDB_UP)
        return;
    ask(e, domain, false);
    if (!listed(e->allow, domain))
        ask(e, domain, true);
}

static void recheck_one(void *ud, peer_info *p)
{
    check_blocked(ud, p->domain);
}

/* Blocks made while we could not hear of them. */
static void recheck_all(edge *e)
{
    peers_each_connected(e->ps, recheck_one, e);
}

static void on_redis_state(void *ud, rdb_state s)
{
    edge *e = ud;
    gate_redis_state(e->g, s);
    rtbl_redis_state(e->rtbl, s);
    if (s == RDB_UP)
        recheck_all(e);
}

static void on_sub_state(void *ud, rdb_state s)
{
    if (s == RDB_UP)
        recheck_all(ud);
}

/* The desk blocked a domain: its key is already set; close at once. */
static void on_announcement(void *ud, const char *msg, size_t len)
{
    edge *e = ud;
    char raw[1024];
    jid j;
    if (len == 0 || len >= sizeof raw)
        return;
    memcpy(raw, msg, len);
    raw[len] = '\0';
    if (jid_parse(raw, &j) != JID_OK)
        return;
    if (!j.local && !j.resource) {
        unsigned n = peers_close_domain(e->ps, j.domain, "policy-violation",
                                        "blocked by the service's moderators");
        log_info("edge: the desk blocked %s: %u stream%s closed", j.domain, n, n == 1 ? "" : "s");
    }
    jid_free(&j);
}

/* ---- real-time block lists: the component's, read from Redis ---- */

static const char *rtbl_refusal = "on a real-time block list";

/* The list naming `domain`, or NULL; partners (allow_domains) are exempt
 * as from the spam-domain list. */
static const char *rtbl_hit(const edge *e, const char *domain)
{
    return listed(e->allow, domain) ? NULL : rtbl_list_of(e->rtbl, domain);
}

static void rtbl_close_one(void *ud, peer_info *p)
{
    edge *e = ud;
    const char *list = rtbl_hit(e, p->domain);
    unsigned n = list ? peers_close_domain(e->ps, p->domain, "policy-violation", rtbl_refusal) : 0;
    if (n)
        log_info("edge: %s is on the real-time block list %s: %u stream%s closed", p->domain, list,
                 n, n == 1 ? "" : "s");
}

/* A list changed: domains it now names lose their open streams at once
 * (streams close asynchronously: the peers stay in the table). */
static void on_rtbl_change(void *ud)
{
    edge *e = ud;
    peers_each_connected(e->ps, rtbl_close_one, e);
}

/* ---- the peers' edge ---- */

static bool admit(void *ud, peer_info *p, const char *local, const char **why)
{
    edge *e = ud;
    (void)local;
    if (e->only[0] && !listed(e->only, p->domain)) {
        *why = "not a partner domain of this service";
        return false;
    }
    if (listed(e->block, p->domain)) {
        *why = "this domain is blocked";
        return false;
    }
    const char *list = rtbl_hit(e, p->domain);
    if (list) {
        log_info("edge: %s refused: on the real-time block list %s", p->domain, list);
        *why = rtbl_refusal;
        return false;
    }
    if (p->incoming_streams >= (unsigned)e->set->max_streams_per_domain) {
        *why = "too many streams from this domain";
        return false;
    }
    /* Decided in Redis: the stream closes when the answer says blocked. */
    check_blocked(e, p->domain);
    return true;
}

static edge_verdict check(void *ud, peer_info *p, const xml_node *st)
{
    edge *e = ud;
    if (e->set->links == GW_LINKS_REJECT && strcmp(xml_name(st), "message") == 0 &&
        !listed(e->allow, p->domain) && linkpol_detect(st)) {
        log_debug("edge: a message with a link or file from %s bounced", p->domain);
        return EDGE_BOUNCE;
    }
    return EDGE_PASS;
}

static const peers_edge edge_calls = {admit, check, NULL};

/* ---- the gate ---- */

static buf *sink_begin(void *ud)
{
    edge *e = ud;
    buf_reset(&e->scratch);
    return &e->scratch;
}

/* The gate writes its refusal as text; it goes back to the remote sender
 * as a stanza on our stream to that domain. */
static void sink_commit(void *ud)
{
    edge *e = ud;
    xml_node *st =
        xml_parse_document(buf_unread(&e->scratch), buf_unread_len(&e->scratch), &e->refusal);
    buf_reset(&e->scratch);
    if (st)
        peers_send(e->ps, st);
}

static void gate_pass(void *ud, stanza_ctx *c)
{
    edge *e = ud;
    xml_node *st = c->st;
    c->st = NULL;
    stanza_ctx_free(c);
    e->hooks.pass(e->hooks.ud, st);
}

static gate *make_gate(edge *e, char *err, size_t errlen)
{
    const gwset *s = e->set;
    gate_config gc = {
        .enabled = true,
        .domains_enabled = true,
        .prefix = s->redis_prefix,
        .rate_scope = EDGE_RATE_SCOPE,
        .violations = (unsigned)s->violations,
        .violation_window = s->violation_window,
        .mute_seconds = s->mute,
        .block_domains = s->block_domains,
        .allow_domains = s->allow_domains,
        .only_domains = s->only_domains,
    };
    for (int c = 0; c < GATE_C__COUNT && s->rate_enabled; c++) {
        gc.jid[c] = (gate_limit){s->jid_interval, (double)s->jid_burst};
        gc.dom[c] = (gate_limit){s->domain_interval, (double)s->domain_burst};
    }
    const out sink = {sink_begin, sink_commit, e, NULL};
    const gate_hooks gh = {gate_pass, NULL, NULL, e};
    return gate_new(&gc, e->r, &sink, &gh, err, errlen);
}

/* ---- life ---- */

static char **domains(const char *csv, const char *key, char *err, size_t errlen)
{
    char bad[256];
    char **l = jid_list_parse(csv, JID_LIST_DOMAINS, bad, sizeof bad);
    if (!l)
        snprintf(err, errlen, "[edge] %s: '%s' is not a domain", key, bad[0] ? bad : "?");
    return l;
}

static rdb *redis(edge *e, const char *channel, rdb_state_cb cb)
{
    const gwset *s = e->set;
    rdb_config rc = {
        .host = s->redis_host,
        .port = (int)s->redis_port,
        .password = s->redis_password[0] ? s->redis_password : NULL,
        .db = (int)s->redis_db,
        .backoff_min = s->reconnect_min,
        .backoff_max = s->reconnect_max,
        .ping_interval = 5,
        .subscribe = channel,
        .on_message = channel ? on_announcement : NULL,
    };
    return rdb_new(e->loop, &rc, cb, e);
}

edge *edge_new(struct ev_loop *loop, const gwset *set, peers *ps, const edge_hooks *hooks,
               char *err, size_t errlen)
{
    edge *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->loop = loop;
    e->set = set;
    e->ps = ps;
    e->hooks = *hooks;
    e->refusal =
        (xmlparse_limits){set->max_stanza_size * 2 + 4096, (unsigned)set->max_depth + 4,
                          (unsigned)set->max_attributes + 8, (unsigned)set->max_elements + 16};
    if (!(e->block = domains(set->block_domains, "block_domains", err, errlen)) ||
        !(e->only = domains(set->only_domains, "only_domains", err, errlen)) ||
        !(e->allow = domains(set->allow_domains, "allow_domains", err, errlen))) {
        edge_free(e);
        return NULL;
    }
    if (set->redis_enabled) {
        char channel[600];
        keys_format(channel, sizeof channel, set->redis_prefix, KEY_BLOCKS_CHANNEL, NULL);
        e->r = redis(e, NULL, on_redis_state);
        e->sub = redis(e, channel, on_sub_state);
        if (!e->r || !e->sub) {
            snprintf(err, errlen, "out of memory");
            edge_free(e);
            return NULL;
        }
    }
    if (!(e->g = make_gate(e, err, errlen))) {
        edge_free(e);
        return NULL;
    }
    if (e->r) {
        rtbl_config rc = {.prefix = set->redis_prefix};
        if (!(e->rtbl = rtbl_new(loop, e->r, &rc, NULL, err, errlen))) {
            snprintf(err, errlen, "out of memory"); /* a reader has nothing else to fail */
            edge_free(e);
            return NULL;
        }
        rtbl_on_change(e->rtbl, on_rtbl_change, e);
    }
    gate_set_congested(e->g, hooks->congested, hooks->ud);
    peers_set_edge(ps, &edge_calls, e);
    return e;
}

void edge_start(edge *e)
{
    if (e->r)
        rdb_start(e->r);
    if (e->sub)
        rdb_start(e->sub);
}

void edge_free(edge *e)
{
    if (!e)
        return;
    if (e->g)
        gate_close(e->g);
    rtbl_close(e->rtbl);
    rdb_free(e->sub);
    rdb_free(e->r);
    rtbl_free(e->rtbl);
    gate_free(e->g);
    config_list_free(e->block);
    config_list_free(e->only);
    config_list_free(e->allow);
    buf_free(&e->scratch);
    free(e);
}

void edge_submit(edge *e, xml_node *st)
{
    gate_submit(e->g, st);
}

void edge_resume(edge *e)
{
    gate_resume(e->g);
}

unsigned long edge_refused(const edge *e)
{
    return e->g ? gate_refused(e->g) : 0;
}
