#include "peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dial.h"
#include "hmap.h"
#include "jid.h"
#include "log.h"
#include "stanza.h"

typedef struct route route;
typedef struct incoming incoming;

/* A dialback claim of an incoming stream, asked on a route's stream. */
typedef struct verify {
    struct verify *next;
    incoming *in; /* NULL once that stream has gone */
    char *id, *key;
    bool sent;
} verify;

typedef enum { R_IDLE, R_RESOLVING, R_ADDRESSES, R_DIALING, R_STREAM, R_READY } route_state;

typedef struct peer {
    peer_info info;
    route *routes; /* outgoing, one per local domain */
} peer;

struct route {
    route *next;
    peers *ps;
    peer *p;
    char *local;
    route_state state;
    s2s *out;
    dns_query *q;
    dial_req *dial;
    dns_target *targets;
    size_t ntargets, next_target;
    xml_node **queue;
    size_t qlen;
    verify *verifies;
    char last_error[256];
};

struct incoming {
    incoming *next, *prev;
    peers *ps;
    s2s *s;
    peer *p; /* once authenticated */
};

struct peers {
    peers_config cfg;
    peers_callbacks cb;
    void *ud;
    peers_edge edge;
    void *edge_ud;
    hmap peers; /* remote domain -> peer */
    incoming *in;
};

static void route_connect(route *r);
static void route_next_target(route *r);

/* ---- peers and routes ---- */

static peer *peer_get(peers *ps, const char *domain)
{
    peer *p = hmap_get(&ps->peers, domain);
    if (p)
        return p;
    p = calloc(1, sizeof *p);
    char *d = p ? strdup(domain) : NULL;
    if (!d || hmap_put(&ps->peers, d, p) < 0) {
        free(d);
        free(p);
        return NULL;
    }
    p->info.domain = d;
    p->info.first_seen = ev_now(ps->cfg.loop);
    return p;
}

static route *route_get(peers *ps, const char *local, const char *remote)
{
    peer *p = peer_get(ps, remote);
    if (!p)
        return NULL;
    for (route *r = p->routes; r; r = r->next)
        if (strcasecmp(r->local, local) == 0)
            return r;
    route *r = calloc(1, sizeof *r);
    if (!r || !(r->local = strdup(local))) {
        free(r);
        return NULL;
    }
    r->ps = ps;
    r->p = p;
    r->next = p->routes;
    p->routes = r;
    return r;
}

static void bounce(peers *ps, xml_node *st, stanza_error e, const char *text)
{
    xml_node *reply = stanza_error_reply(st, e, text, NULL);
    xml_free(st);
    if (reply)
        ps->cb.bounce(ps->ud, reply);
}

static void free_targets(route *r)
{
    for (size_t i = 0; i < r->ntargets; i++)
        free(r->targets[i].host);
    free(r->targets);
    r->targets = NULL;
    r->ntargets = r->next_target = 0;
}

static void verify_free(verify *v)
{
    free(v->id);
    free(v->key);
    free(v);
}

/* Nobody can vouch for the claims this route was asked about. */
static void fail_verifies(route *r)
{
    while (r->verifies) {
        verify *v = r->verifies;
        r->verifies = v->next;
        if (v->in)
            s2s_dialback_result(v->in->s, r->local, r->p->info.domain, false);
        verify_free(v);
    }
}

static void route_failed(route *r, const char *why)
{
    log_warn("s2s %s -> %s: %s", r->local, r->p->info.domain, why);
    free_targets(r);
    r->state = R_IDLE;
    for (size_t i = 0; i < r->qlen; i++)
        bounce(r->ps, r->queue[i], STANZA_ERR_REMOTE_SERVER_NOT_FOUND, NULL);
    free(r->queue);
    r->queue = NULL;
    r->qlen = 0;
    fail_verifies(r);
}

static void send_verifies(route *r)
{
    for (verify *v = r->verifies; v; v = v->next) {
        if (v->sent || !v->in)
            continue;
        v->sent = s2s_send_verify(r->out, r->local, r->p->info.domain, v->id, v->key) == 0;
    }
}

/* ---- the outgoing stream ---- */

static void out_ready(void *ud, s2s *s, const char *local, const char *remote)
{
    route *r = ud;
    (void)s;
    log_info("s2s %s -> %s ready (%s, %s)", local, remote, s2s_auth_method(r->out),
             s2s_is_secure(r->out) ? "TLS" : "no TLS");
    r->state = R_READY;
    free_targets(r);
    for (size_t i = 0; i < r->qlen; i++) {
        s2s_send(r->out, r->queue[i]);
        r->p->info.stanzas_out++;
        xml_free(r->queue[i]);
    }
    free(r->queue);
    r->queue = NULL;
    r->qlen = 0;
}

static void out_verify_result(void *ud, s2s *s, const char *local, const char *remote,
                              const char *id, bool valid)
{
    (void)s;
    route *r = ud;
    for (verify **vp = &r->verifies; *vp; vp = &(*vp)->next) {
        verify *v = *vp;
        if (strcmp(v->id, id) != 0)
            continue;
        *vp = v->next;
        if (v->in)
            s2s_dialback_result(v->in->s, local, remote, valid);
        verify_free(v);
        return;
    }
}

static void out_closed(void *ud, s2s *s, const char *why)
{
    route *r = ud;
    bool was_ready = r->state == R_READY;
    s2s_free(s);
    r->out = NULL;
    snprintf(r->last_error, sizeof r->last_error, "%s", why);
    if (was_ready) {
        log_info("s2s %s -> %s closed: %s", r->local, r->p->info.domain, why);
        r->state = R_IDLE;
        fail_verifies(r);
        if (r->qlen > 0)
            route_connect(r);
        return;
    }
    /* The stream failed before it was authenticated: the next target. */
    for (verify *v = r->verifies; v; v = v->next)
        v->sent = false;
    route_next_target(r);
}

static const s2s_callbacks out_cb = {out_ready, NULL, NULL, out_verify_result, out_closed, NULL};

static void on_dialed(void *ud, int fd, const char *error)
{
    route *r = ud;
    r->dial = NULL;
    if (fd < 0) {
        snprintf(r->last_error, sizeof r->last_error, "%s", error);
        route_next_target(r);
        return;
    }
    const dns_target *t = &r->targets[r->next_target - 1];
    r->out = s2s_connect(r->ps->cfg.loop, fd, t->direct_tls, r->local, r->p->info.domain,
                         r->ps->cfg.s2s, &out_cb, r);
    if (!r->out) {
        route_failed(r, "out of memory");
        return;
    }
    log_debug("s2s %s -> %s: connected to %s:%d%s", r->local, r->p->info.domain, t->host, t->port,
              t->direct_tls ? " (direct TLS)" : "");
    r->state = R_STREAM;
    send_verifies(r);
}

static void on_addresses(void *ud, const dial_addr *addrs, size_t n, const char *error)
{
    route *r = ud;
    r->q = NULL;
    if (n == 0) {
        snprintf(r->last_error, sizeof r->last_error, "%s", error);
        route_next_target(r);
        return;
    }
    r->state = R_DIALING;
    r->dial = dial_addrs(r->ps->cfg.loop, addrs, n, r->ps->cfg.attempt_timeout, on_dialed, r);
    if (!r->dial)
        route_failed(r, "out of memory");
}

static void route_next_target(route *r)
{
    if (r->next_target >= r->ntargets) {
        char why[300];
        snprintf(why, sizeof why, "cannot reach the server: %s",
                 r->last_error[0] ? r->last_error : "no target");
        route_failed(r, why);
        return;
    }
    const dns_target *t = &r->targets[r->next_target++];
    r->state = R_ADDRESSES;
    r->q = dns_addresses(r->ps->cfg.dns, t->host, t->port, on_addresses, r);
    if (!r->q)
        route_failed(r, "out of memory");
}

static void on_targets(void *ud, const dns_target *targets, size_t n, const char *error)
{
    route *r = ud;
    r->q = NULL;
    if (n == 0) {
        route_failed(r, error);
        return;
    }
    r->targets = calloc(n, sizeof *r->targets);
    if (!r->targets) {
        route_failed(r, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        r->targets[i] = targets[i];
        r->targets[i].host = strdup(targets[i].host);
        if (!r->targets[i].host) {
            r->ntargets = i;
            route_failed(r, "out of memory");
            return;
        }
    }
    r->ntargets = n;
    r->next_target = 0;
    route_next_target(r);
}

static void route_connect(route *r)
{
    if (r->state != R_IDLE)
        return;
    r->state = R_RESOLVING;
    r->last_error[0] = '\0';
    r->q = dns_xmpp_server(r->ps->cfg.dns, r->p->info.domain, on_targets, r);
    if (!r->q)
        route_failed(r, "out of memory");
}

/* ---- sending ---- */

static char *domain_of(const char *addr)
{
    jid j;
    if (!addr || jid_parse(addr, &j) != JID_OK)
        return NULL;
    char *d = strdup(j.domain);
    jid_free(&j);
    return d;
}

/* The gateway speaks for its own domains only: never a relay that opens
 * streams as someone else, or to them. */
static bool served(const peers *ps, const char *domain)
{
    for (const char *const *d = ps->cfg.s2s->local_domains; d && *d; d++)
        if (strcasecmp(*d, domain) == 0)
            return true;
    return false;
}

void peers_send(peers *ps, xml_node *st)
{
    char *local = domain_of(xml_attr(st, "from"));
    char *remote = domain_of(xml_attr(st, "to"));
    route *r = NULL;
    if (!local || !remote) {
        log_debug("component sent a stanza without valid from/to: dropped");
        xml_free(st);
    } else if (!served(ps, local) || served(ps, remote)) {
        log_warn("a stanza from %s to %s is not ours to carry: dropped", local, remote);
        xml_free(st);
    } else if (!(r = route_get(ps, local, remote))) {
        bounce(ps, st, STANZA_ERR_RESOURCE_CONSTRAINT, NULL);
    } else if (r->state == R_READY) {
        s2s_send(r->out, st);
        r->p->info.stanzas_out++;
        xml_free(st);
    } else if (r->qlen >= ps->cfg.queue_max) {
        bounce(ps, st, STANZA_ERR_RESOURCE_CONSTRAINT, "too many stanzas wait for that server");
    } else {
        xml_node **q = realloc(r->queue, (r->qlen + 1) * sizeof *q);
        if (!q) {
            bounce(ps, st, STANZA_ERR_RESOURCE_CONSTRAINT, NULL);
        } else {
            r->queue = q;
            r->queue[r->qlen++] = st;
            route_connect(r);
        }
    }
    free(local);
    free(remote);
}

/* ---- incoming streams ---- */

static void in_release(incoming *in)
{
    peers *ps = in->ps;
    /* Claims this stream made that are still being checked: nobody waits. */
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(&ps->peers, &it, &k, &v))
        for (route *r = ((peer *)v)->routes; r; r = r->next)
            for (verify *vf = r->verifies; vf; vf = vf->next)
                if (vf->in == in)
                    vf->in = NULL;
    if (in->p && in->p->info.incoming_streams > 0)
        in->p->info.incoming_streams--;
    if (in->prev)
        in->prev->next = in->next;
    else
        ps->in = in->next;
    if (in->next)
        in->next->prev = in->prev;
    s2s_free(in->s);
    free(in);
}

static bool in_admit(void *ud, s2s *s, const char *local, const char *remote, const char **why)
{
    incoming *in = ud;
    peers *ps = in->ps;
    (void)s;
    peer *p = peer_get(ps, remote);
    if (!p) {
        *why = "out of memory";
        return false;
    }
    if (ps->edge.admit && !ps->edge.admit(ps->edge_ud, &p->info, local, why)) {
        log_info("s2s %s <- %s refused: %s", local, remote, *why ? *why : "policy");
        return false;
    }
    return true;
}

static void in_ready(void *ud, s2s *s, const char *local, const char *remote)
{
    incoming *in = ud;
    peers *ps = in->ps;
    peer *p = peer_get(ps, remote);
    if (!p) {
        s2s_close(s, "internal-server-error", NULL);
        return;
    }
    if (!in->p) {
        in->p = p;
        p->info.incoming_streams++;
    }
    p->info.last_seen = ev_now(ps->cfg.loop);
    log_info("s2s %s <- %s ready (%s, %s)", local, remote, s2s_auth_method(s),
             s2s_is_secure(s) ? "TLS" : "no TLS");
}

static void in_stanza(void *ud, s2s *s, xml_node *st)
{
    incoming *in = ud;
    peers *ps = in->ps;
    char *remote = domain_of(xml_attr(st, "from"));
    peer *p = remote ? peer_get(ps, remote) : NULL;
    free(remote);
    if (!p) {
        xml_free(st);
        return;
    }
    p->info.stanzas_in++;
    p->info.last_seen = ev_now(ps->cfg.loop);
    edge_verdict v = ps->edge.check ? ps->edge.check(ps->edge_ud, &p->info, st) : EDGE_PASS;
    switch (v) {
    case EDGE_PASS:
        ps->cb.deliver(ps->ud, st);
        return;
    case EDGE_BOUNCE: {
        /* Back to the remote sender, on our stream to its domain. */
        xml_node *reply = stanza_error_reply(st, STANZA_ERR_POLICY_VIOLATION, NULL, NULL);
        xml_free(st);
        if (reply)
            peers_send(ps, reply);
        return;
    }
    case EDGE_CLOSE:
        s2s_close(s, "policy-violation", NULL);
        break;
    case EDGE_DROP:
        break;
    }
    xml_free(st);
}

static void in_verify_needed(void *ud, s2s *s, const char *local, const char *remote,
                             const char *id, const char *key)
{
    incoming *in = ud;
    route *r = route_get(in->ps, local, remote);
    verify *v = calloc(1, sizeof *v);
    if (!r || !v || !(v->id = strdup(id)) || !(v->key = strdup(key))) {
        if (v)
            verify_free(v);
        s2s_dialback_result(s, local, remote, false);
        return;
    }
    v->in = in;
    v->next = r->verifies;
    r->verifies = v;
    if (r->out)
        send_verifies(r);
    else
        route_connect(r);
}

static void in_closed(void *ud, s2s *s, const char *why)
{
    incoming *in = ud;
    log_info("s2s incoming %s%s%s closed: %s", s2s_local(s) ? s2s_local(s) : "?",
             s2s_remote(s) ? " <- " : "", s2s_remote(s) ? s2s_remote(s) : "", why);
    in_release(in);
}

static const s2s_callbacks in_cb = {in_ready, in_stanza, in_verify_needed,
                                    NULL,     in_closed, in_admit};

void peers_accept(peers *ps, int fd, bool direct_tls)
{
    incoming *in = calloc(1, sizeof *in);
    if (!in) {
        close(fd);
        return;
    }
    in->ps = ps;
    in->s = s2s_accept(ps->cfg.loop, fd, direct_tls, ps->cfg.s2s, &in_cb, in);
    if (!in->s) {
        free(in);
        return;
    }
    in->next = ps->in;
    if (ps->in)
        ps->in->prev = in;
    ps->in = in;
}

/* ---- the whole ---- */

peers *peers_new(const peers_config *cfg, const peers_callbacks *cb, void *ud)
{
    peers *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->cfg = *cfg;
    ps->cb = *cb;
    ps->ud = ud;
    return ps;
}

void peers_set_edge(peers *ps, const peers_edge *edge, void *ud)
{
    ps->edge = *edge;
    ps->edge_ud = ud;
}

static void route_free(route *r)
{
    dns_cancel(r->q);
    dial_cancel(r->dial);
    s2s_free(r->out);
    free_targets(r);
    for (size_t i = 0; i < r->qlen; i++)
        xml_free(r->queue[i]);
    free(r->queue);
    while (r->verifies) {
        verify *v = r->verifies;
        r->verifies = v->next;
        verify_free(v);
    }
    free(r->local);
    free(r);
}

void peers_free(peers *ps)
{
    if (!ps)
        return;
    while (ps->in) {
        incoming *in = ps->in;
        ps->in = in->next;
        s2s_free(in->s);
        free(in);
    }
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(&ps->peers, &it, &k, &v)) {
        peer *p = v;
        if (ps->edge.forget)
            ps->edge.forget(ps->edge_ud, &p->info);
        while (p->routes) {
            route *r = p->routes;
            p->routes = r->next;
            route_free(r);
        }
        free((char *)p->info.domain);
        free(p);
    }
    hmap_free(&ps->peers);
    free(ps);
}

void peers_close_all(peers *ps)
{
    for (incoming *in = ps->in; in; in = in->next)
        s2s_close(in->s, "system-shutdown", NULL);
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(&ps->peers, &it, &k, &v))
        for (route *r = ((peer *)v)->routes; r; r = r->next)
            if (r->out)
                s2s_close(r->out, "system-shutdown", NULL);
}

void peers_counts(const peers *ps, unsigned *incoming_n, unsigned *outgoing_n)
{
    unsigned a = 0, b = 0;
    for (incoming *in = ps->in; in; in = in->next)
        a++;
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(&ps->peers, &it, &k, &v))
        for (route *r = ((peer *)v)->routes; r; r = r->next)
            b += r->out != NULL;
    *incoming_n = a;
    *outgoing_n = b;
}

unsigned peers_close_domain(peers *ps, const char *domain, const char *condition, const char *text)
{
    unsigned n = 0;
    for (incoming *in = ps->in, *next; in; in = next) {
        next = in->next;
        if (in->p && strcasecmp(in->p->info.domain, domain) == 0) {
            s2s_close(in->s, condition, text);
            n++;
        }
    }
    peer *p = hmap_get(&ps->peers, domain);
    for (route *r = p ? p->routes : NULL; r; r = r->next)
        if (r->out) {
            s2s_close(r->out, condition, text);
            n++;
        }
    return n;
}

void peers_each_connected(peers *ps, void (*fn)(void *ud, peer_info *info), void *ud)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (hmap_next(&ps->peers, &it, &k, &v))
        if (((peer *)v)->info.incoming_streams > 0)
            fn(ud, &((peer *)v)->info);
}
