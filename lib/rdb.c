#include "rdb.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "resolve.h"

struct rdb {
    struct ev_loop *loop;
    rdb_config cfg;
    char *host, *password, *channel;
    rdb_state state;
    redisAsyncContext *ac;
    resolve_req *resolving;
    backoff bo;
    ev_timer retry;
    ev_timer ping;
    bool ping_pending;
    ev_tstamp ping_sent;
    rdb_state_cb on_state;
    void *ud;
    bool warned; /* said once at warn level that Redis is unreachable */
};

static void connect_now(rdb *r, const char *addr);

const char *rdb_state_name(rdb_state s)
{
    switch (s) {
    case RDB_DOWN:
        return "down";
    case RDB_CONNECTING:
        return "connecting";
    case RDB_UP:
        return "up";
    }
    return "?";
}

static void set_state(rdb *r, rdb_state s)
{
    if (r->state == s)
        return;
    r->state = s;
    if (r->on_state)
        r->on_state(r->ud, s);
}

/* The connection is gone or unusable: forget it and try again later. Safe
 * to call from hiredis callbacks, which free the context themselves. */
static void lost(rdb *r, const char *reason, bool free_ctx)
{
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->ping_pending = false;
    bool was_up = r->state == RDB_UP;
    set_state(r, RDB_DOWN);
    if (free_ctx && ac)
        redisAsyncFree(ac);
    double delay = backoff_next(&r->bo);
    /* Say it once where an operator will see it, then only at debug level
     * until Redis is back: a retry line every few seconds is noise. */
    if (was_up || !r->warned)
        log_warn("redis down: %s; serving without redis, retrying in %.1fs", reason, delay);
    else
        log_debug("redis still unreachable: %s; retrying in %.1fs", reason, delay);
    r->warned = true;
    ev_timer_stop(r->loop, &r->retry);
    ev_timer_set(&r->retry, delay, 0);
    ev_timer_start(r->loop, &r->retry);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rdb *r = ac->data;
    if (!r || r->ac != ac)
        return; /* we dropped it ourselves */
    lost(r, status == REDIS_OK ? "connection closed" : (ac->errstr[0] ? ac->errstr : "error"),
         false);
}

static void on_first_pong(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    rdb *r = ac->data;
    redisReply *rep = reply;
    if (!r || r->ac != ac || !rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "%s", rep->str);
        log_error("redis refused us: %s", why);
        lost(r, why, true);
        return;
    }
    backoff_reset(&r->bo);
    r->warned = false;
    if (r->cfg.host[0] == '/')
        log_info("redis up: %s", r->cfg.host);
    else
        log_info("redis up: %s:%d", r->cfg.host, r->cfg.port);
    set_state(r, RDB_UP);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    rdb *r = ac->data;
    redisReply *rep = reply;
    if (!r || r->ac != ac || !rep || rep->type != REDIS_REPLY_ERROR)
        return;
    log_error("redis %s failed: %s", (const char *)priv, rep->str);
}

/* Every reply of a subscribed connection: the confirmation (up), then the
 * channel's messages. */
static void on_subscribed(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    rdb *r = ac->data;
    redisReply *rep = reply;
    const char *kind = rdb_str(rdb_elem(rep, 0));
    if (!r || r->ac != ac || !rep)
        return;
    if (rdb_error(rep)) {
        on_first_pong(ac, reply, NULL); /* says why and drops the connection */
    } else if (kind && strcmp(kind, "subscribe") == 0) {
        redisEnableKeepAlive(&ac->c);
        backoff_reset(&r->bo);
        r->warned = false;
        log_info("redis up: subscribed to %s", r->channel);
        set_state(r, RDB_UP);
    } else if (kind && strcmp(kind, "message") == 0 && rdb_str(rdb_elem(rep, 2)) &&
               r->cfg.on_message) {
        r->cfg.on_message(r->ud, rep->element[2]->str, rep->element[2]->len);
    }
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rdb *r = ac->data;
    if (!r || r->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        char why[200];
        snprintf(why, sizeof why, "%s", ac->errstr[0] ? ac->errstr : "connect failed");
        lost(r, why, false);
        return;
    }
    /* AUTH and SELECT are pipelined; the PING after them only succeeds if
     * they did, and it is what declares the connection usable. */
    if (r->password && *r->password)
        redisAsyncCommand(ac, on_setup_reply, (void *)"AUTH", "AUTH %s", r->password);
    if (r->channel) {
        /* Channels are not per database: no SELECT. */
        redisAsyncCommand(ac, on_subscribed, NULL, "SUBSCRIBE %s", r->channel);
        return;
    }
    if (r->cfg.db)
        redisAsyncCommand(ac, on_setup_reply, (void *)"SELECT", "SELECT %d", r->cfg.db);
    redisAsyncCommand(ac, on_first_pong, NULL, "PING");
}

static void connect_now(rdb *r, const char *addr)
{
    redisAsyncContext *ac =
        addr[0] == '/' ? redisAsyncConnectUnix(addr) : redisAsyncConnect(addr, r->cfg.port);
    if (!ac) {
        lost(r, "out of memory", false);
        return;
    }
    if (ac->err) {
        char why[200];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        lost(r, why, false);
        return;
    }
    ac->data = r;
    r->ac = ac;
    redisLibevAttach(r->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* hiredis resolves names with a blocking getaddrinfo(); resolve on our
 * resolver thread first and hand it a numeric address. */
static void on_resolved(void *ud, int status, struct addrinfo *res)
{
    rdb *r = ud;
    r->resolving = NULL;
    if (status != 0) {
        lost(r, gai_strerror(status), false);
        return;
    }
    char ip[NI_MAXHOST];
    int rc = getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (rc != 0) {
        lost(r, gai_strerror(rc), false);
        return;
    }
    connect_now(r, ip);
}

static void attempt(rdb *r)
{
    set_state(r, RDB_CONNECTING);
    if (r->cfg.host[0] == '/') {
        connect_now(r, r->cfg.host);
        return;
    }
    r->resolving = resolve_start(r->loop, r->cfg.host, r->cfg.port, on_resolved, r);
    if (!r->resolving)
        lost(r, "cannot start resolver", false);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    attempt(w->data);
}

static void on_pong(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)reply;
    (void)priv;
    rdb *r = ac->data;
    if (r && r->ac == ac)
        r->ping_pending = false;
}

static void on_ping_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    rdb *r = w->data;
    if (r->state != RDB_UP || !r->ac || r->channel)
        return;
    if (r->ping_pending) {
        /* A server that stopped answering (paused, or a dead peer whose
         * socket never closed) is as good as gone. */
        if (ev_now(loop) - r->ping_sent > 2 * r->cfg.ping_interval)
            lost(r, "no answer to PING", true);
        return;
    }
    if (redisAsyncCommand(r->ac, on_pong, NULL, "PING") == REDIS_OK) {
        r->ping_pending = true;
        r->ping_sent = ev_now(loop);
    }
}

rdb *rdb_new(struct ev_loop *loop, const rdb_config *cfg, rdb_state_cb on_state, void *ud)
{
    rdb *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->host = strdup(cfg->host);
    r->password = cfg->password ? strdup(cfg->password) : NULL;
    r->channel = cfg->subscribe ? strdup(cfg->subscribe) : NULL;
    if (!r->host || (cfg->password && !r->password) || (cfg->subscribe && !r->channel)) {
        free(r->host);
        free(r->password);
        free(r->channel);
        free(r);
        return NULL;
    }
    r->loop = loop;
    r->cfg = *cfg;
    r->cfg.host = r->host;
    r->cfg.password = r->password;
    if (r->cfg.ping_interval <= 0)
        r->cfg.ping_interval = 5;
    r->on_state = on_state;
    r->ud = ud;
    backoff_init(&r->bo, cfg->backoff_min, cfg->backoff_max, 0);
    ev_init(&r->retry, on_retry);
    r->retry.data = r;
    ev_timer_init(&r->ping, on_ping_timer, r->cfg.ping_interval, r->cfg.ping_interval);
    r->ping.data = r;
    return r;
}

void rdb_start(rdb *r)
{
    ev_timer_start(r->loop, &r->ping);
    attempt(r);
}

void rdb_free(rdb *r)
{
    if (!r)
        return;
    ev_timer_stop(r->loop, &r->retry);
    ev_timer_stop(r->loop, &r->ping);
    if (r->resolving)
        resolve_cancel(r->resolving);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    free(r->host);
    free(r->password);
    free(r->channel);
    free(r);
}

rdb_state rdb_get_state(const rdb *r)
{
    return r->state;
}

/* Both entry points funnel here so the up-check and reply plumbing are one. */
struct call {
    rdb_reply_cb cb;
    void *ud;
};

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct call *c = priv;
    if (c->cb)
        c->cb(c->ud, reply);
    free(c);
}

static struct call *new_call(rdb *r, rdb_reply_cb cb, void *ud)
{
    if (r->state != RDB_UP || !r->ac || r->channel)
        return NULL;
    struct call *c = malloc(sizeof *c);
    if (c) {
        c->cb = cb;
        c->ud = ud;
    }
    return c;
}

int rdb_command(rdb *r, rdb_reply_cb cb, void *ud, const char *fmt, ...)
{
    struct call *c = new_call(r, cb, ud);
    if (!c)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, on_reply, c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(c);
        return -1;
    }
    return 0;
}

int rdb_command_argv(rdb *r, rdb_reply_cb cb, void *ud, int argc, const char **argv,
                     const size_t *argvlen)
{
    struct call *c = new_call(r, cb, ud);
    if (!c)
        return -1;
    if (redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- reading replies ---- */

bool rdb_is_array(const redisReply *r, size_t *n)
{
    bool a = r && r->type == REDIS_REPLY_ARRAY;
    if (n)
        *n = a ? r->elements : 0;
    return a;
}

const redisReply *rdb_elem(const redisReply *r, size_t i)
{
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

const char *rdb_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : NULL;
}

long long rdb_int(const redisReply *r, long long def)
{
    if (r && r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r && r->type == REDIS_REPLY_STRING) {
        char *end;
        long long v = strtoll(r->str, &end, 10);
        return end != r->str ? v : def;
    }
    return def;
}

const char *rdb_field(const redisReply *r, const char *name)
{
    size_t n;
    rdb_is_array(r, &n);
    for (size_t i = 0; i + 1 < n; i += 2) {
        const redisReply *k = r->element[i];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0)
            return rdb_str(r->element[i + 1]);
    }
    return NULL;
}

const char *rdb_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}
