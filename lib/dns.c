#include "dns.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XMPP_SERVER_PORT 5269

typedef struct sockw {
    ev_io io;
    struct sockw *next;
} sockw;

struct dns {
    struct ev_loop *loop;
    ares_channel ch;
    ev_timer timer;
    sockw *socks;
    dns_query *queries; /* every query not yet freed */
};

struct dns_query {
    dns *d;
    dns_query *prev, *next;
    bool cancelled;
    int outstanding; /* c-ares callbacks still to come */
    dns_target_cb tcb;
    dns_addr_cb acb;
    void *ud;
    char *domain;
    int port;
    dns_srv *recs;
    size_t n, cap;
    unsigned answered; /* SRV lookups that returned records (even ".") */
    unsigned dots;     /* of those, the ones that said "no service" */
    /* c-ares may answer inside ares_query (no server, out of memory): the
     * answer is then handed over from the loop, never inside dns_*. */
    ev_idle later;
    int got_status;
    struct ares_addrinfo *got_res;
    char error[200];
};

static void srv_finish(dns_query *q);
static void addr_finish(dns_query *q, int status, struct ares_addrinfo *res);

/* ---- the loop ---- */

static void rearm(dns *d)
{
    struct timeval tv, *tvp = ares_timeout(d->ch, NULL, &tv);
    ev_timer_stop(d->loop, &d->timer);
    if (tvp) {
        ev_timer_set(&d->timer, (double)tv.tv_sec + (double)tv.tv_usec / 1e6, 0);
        ev_timer_start(d->loop, &d->timer);
    }
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    dns *d = w->data;
    ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(d);
}

static void on_sock(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    dns *d = w->data;
    int fd = w->fd;
    ares_process_fd(d->ch, revents & EV_READ ? fd : ARES_SOCKET_BAD,
                    revents & EV_WRITE ? fd : ARES_SOCKET_BAD);
    rearm(d);
}

/* c-ares says which of its sockets it waits on. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns *d = data;
    sockw **pp = &d->socks;
    while (*pp && (*pp)->io.fd != fd)
        pp = &(*pp)->next;
    sockw *s = *pp;
    if (!readable && !writable) {
        if (s) {
            ev_io_stop(d->loop, &s->io);
            *pp = s->next;
            free(s);
        }
        return;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return; /* the query times out instead */
        s->next = d->socks;
        d->socks = s;
    } else {
        ev_io_stop(d->loop, &s->io);
    }
    ev_io_init(&s->io, on_sock, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    s->io.data = d;
    ev_io_start(d->loop, &s->io);
}

dns *dns_new(struct ev_loop *loop, const char *servers, double timeout, char *err, size_t errlen)
{
    static bool lib_ready;
    if (!lib_ready) {
        int rc = ares_library_init(ARES_LIB_INIT_ALL);
        if (rc != ARES_SUCCESS) {
            snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
            return NULL;
        }
        lib_ready = true;
    }
    dns *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->loop = loop;
    struct ares_options o = {0};
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = d;
    o.timeout = (int)(timeout * 1000);
    o.tries = 2;
    int rc =
        ares_init_options(&d->ch, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc == ARES_SUCCESS && servers && servers[0])
        rc = ares_set_servers_ports_csv(d->ch, servers);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "DNS%s%s: %s", servers && servers[0] ? " servers " : "",
                 servers ? servers : "", ares_strerror(rc));
        if (d->ch)
            ares_destroy(d->ch);
        free(d);
        return NULL;
    }
    ev_init(&d->timer, on_timer);
    d->timer.data = d;
    return d;
}

static void query_free(dns_query *q)
{
    dns *d = q->d;
    if (q->prev)
        q->prev->next = q->next;
    else
        d->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    ev_idle_stop(d->loop, &q->later);
    if (q->got_res)
        ares_freeaddrinfo(q->got_res);
    for (size_t i = 0; i < q->n; i++)
        free(q->recs[i].t.host);
    free(q->recs);
    free(q->domain);
    free(q);
}

void dns_free(dns *d)
{
    if (!d)
        return;
    for (dns_query *q = d->queries; q; q = q->next)
        q->cancelled = true;
    /* Every callback still due runs now with ARES_EDESTRUCTION and frees
     * its query. */
    ares_destroy(d->ch);
    while (d->queries)
        query_free(d->queries);
    ev_timer_stop(d->loop, &d->timer);
    while (d->socks) {
        sockw *s = d->socks;
        d->socks = s->next;
        ev_io_stop(d->loop, &s->io);
        free(s);
    }
    free(d);
}

void dns_cancel(dns_query *q)
{
    if (q)
        q->cancelled = true;
}

static dns_query *new_query(dns *d, const char *domain, int port, void *ud)
{
    dns_query *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->domain = strdup(domain);
    if (!q->domain) {
        free(q);
        return NULL;
    }
    q->d = d;
    q->port = port;
    q->ud = ud;
    /* One more than the c-ares callbacks: held while the query is issued. */
    q->outstanding = 1;
    ev_idle_init(&q->later, NULL);
    q->later.data = q;
    q->next = d->queries;
    if (d->queries)
        d->queries->prev = q;
    d->queries = q;
    return q;
}

/* ---- SRV ---- */

static void swap(dns_srv *a, dns_srv *b)
{
    dns_srv t = *a;
    *a = *b;
    *b = t;
}

void dns_srv_order(dns_srv *r, size_t n, double (*rnd)(void))
{
    /* By priority (insertion sort: a handful of records). */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && r[j - 1].priority > r[j].priority; j--)
            swap(&r[j - 1], &r[j]);
    /* Within each priority, RFC 2782's draw: a record's chance of coming
     * next is its weight over the weights left (zero weights get a small
     * chance, by coming first in the running sum). */
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && r[end].priority == r[start].priority)
            end++;
        for (size_t i = start; i < end; i++)
            for (size_t j = i; j > start && r[j - 1].weight > 0 && r[j].weight == 0; j--)
                swap(&r[j - 1], &r[j]);
        for (size_t i = start; i + 1 < end; i++) {
            unsigned long total = 0;
            for (size_t j = i; j < end; j++)
                total += r[j].weight;
            unsigned long pick = (unsigned long)(rnd() * (double)(total + 1));
            unsigned long sum = 0;
            size_t chosen = end - 1;
            for (size_t j = i; j < end; j++) {
                sum += r[j].weight;
                if (sum >= pick) {
                    chosen = j;
                    break;
                }
            }
            /* Keep the rest in their order, zero weights first. */
            dns_srv c = r[chosen];
            memmove(&r[i + 1], &r[i], (chosen - i) * sizeof *r);
            r[i] = c;
        }
        start = end;
    }
}

static double draw(void)
{
    return (double)random() / ((double)RAND_MAX + 1.0);
}

static int add_srv(dns_query *q, const struct ares_srv_reply *s, bool direct)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        dns_srv *r = realloc(q->recs, cap * sizeof *r);
        if (!r)
            return -1;
        q->recs = r;
        q->cap = cap;
    }
    dns_srv *r = &q->recs[q->n];
    memset(r, 0, sizeof *r);
    r->t.host = strdup(s->host);
    if (!r->t.host)
        return -1;
    size_t hl = strlen(r->t.host);
    if (hl > 0 && r->t.host[hl - 1] == '.')
        r->t.host[hl - 1] = '\0';
    r->t.port = s->port;
    r->t.direct_tls = direct;
    r->priority = s->priority;
    r->weight = s->weight;
    q->n++;
    return 0;
}

static void srv_finish(dns_query *q)
{
    dns_target single = {q->domain, XMPP_SERVER_PORT, false};
    if (q->n > 0) {
        dns_srv_order(q->recs, q->n, draw);
        dns_target *t = malloc(q->n * sizeof *t);
        if (!t) {
            q->tcb(q->ud, NULL, 0, "out of memory");
            return;
        }
        for (size_t i = 0; i < q->n; i++)
            t[i] = q->recs[i].t;
        q->tcb(q->ud, t, q->n, NULL);
        free(t);
    } else if (q->answered > 0 && q->dots == q->answered) {
        snprintf(q->error, sizeof q->error, "%s offers no XMPP server service (SRV target \".\")",
                 q->domain);
        q->tcb(q->ud, NULL, 0, q->error);
    } else {
        /* No SRV record: the domain itself (RFC 6120 section 3.2.2). */
        q->tcb(q->ud, &single, 1, NULL);
    }
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen, bool direct)
{
    (void)timeouts;
    dns_query *q = arg;
    if (!q->cancelled && status == ARES_SUCCESS) {
        struct ares_srv_reply *srv = NULL;
        if (ares_parse_srv_reply(abuf, alen, &srv) == ARES_SUCCESS && srv) {
            q->answered++;
            bool dot = !srv->next && (srv->host[0] == '\0' || strcmp(srv->host, ".") == 0);
            if (dot)
                q->dots++;
            for (struct ares_srv_reply *s = srv; s && !dot; s = s->next)
                if (add_srv(q, s, direct) < 0)
                    break;
            ares_free_data(srv);
        }
    }
    if (--q->outstanding > 0)
        return;
    if (!q->cancelled)
        srv_finish(q);
    query_free(q);
}

static void srv_later(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    dns_query *q = w->data;
    if (!q->cancelled)
        srv_finish(q);
    query_free(q);
}

/* The query is issued: the hold taken by new_query goes. When the answers
 * came already, they are handed over from the loop. */
static void issued(dns_query *q, void (*later)(struct ev_loop *, ev_idle *, int))
{
    if (--q->outstanding > 0)
        return;
    ev_set_cb(&q->later, later);
    ev_idle_start(q->d->loop, &q->later);
}

static void on_srv_starttls(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    on_srv(arg, status, timeouts, abuf, alen, false);
}

static void on_srv_direct(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    on_srv(arg, status, timeouts, abuf, alen, true);
}

dns_query *dns_xmpp_server(dns *d, const char *domain, dns_target_cb cb, void *ud)
{
    dns_query *q = new_query(d, domain, XMPP_SERVER_PORT, ud);
    if (!q)
        return NULL;
    q->tcb = cb;
    char name[300];
    q->outstanding += 2;
    snprintf(name, sizeof name, "_xmpp-server._tcp.%s", domain);
    ares_query(d->ch, name, C_IN, T_SRV, on_srv_starttls, q);
    snprintf(name, sizeof name, "_xmpps-server._tcp.%s", domain);
    ares_query(d->ch, name, C_IN, T_SRV, on_srv_direct, q);
    issued(q, srv_later);
    rearm(d);
    return q;
}

/* ---- addresses ---- */

static void addr_finish(dns_query *q, int status, struct ares_addrinfo *res)
{
    size_t n = 0;
    for (struct ares_addrinfo_node *a = res ? res->nodes : NULL; a; a = a->ai_next)
        n++;
    dial_addr *addrs = n ? calloc(n, sizeof *addrs) : NULL;
    size_t k = 0;
    for (struct ares_addrinfo_node *a = res ? res->nodes : NULL; addrs && a; a = a->ai_next) {
        if ((size_t)a->ai_addrlen > sizeof addrs[k].sa)
            continue;
        memcpy(&addrs[k].sa, a->ai_addr, (size_t)a->ai_addrlen);
        addrs[k++].len = (socklen_t)a->ai_addrlen;
    }
    if (k > 0) {
        q->acb(q->ud, addrs, k, NULL);
    } else {
        snprintf(q->error, sizeof q->error, "cannot resolve %s: %s", q->domain,
                 status == ARES_SUCCESS ? "no address" : ares_strerror(status));
        q->acb(q->ud, NULL, 0, q->error);
    }
    free(addrs);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    dns_query *q = arg;
    q->got_status = status;
    q->got_res = res;
    if (--q->outstanding > 0)
        return;
    if (!q->cancelled)
        addr_finish(q, status, res);
    query_free(q);
}

static void addr_later(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    dns_query *q = w->data;
    if (!q->cancelled)
        addr_finish(q, q->got_status, q->got_res);
    query_free(q);
}

dns_query *dns_addresses(dns *d, const char *host, int port, dns_addr_cb cb, void *ud)
{
    dns_query *q = new_query(d, host, port, ud);
    if (!q)
        return NULL;
    q->acb = cb;
    q->outstanding++;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct ares_addrinfo_hints hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NUMERICSERV;
    ares_getaddrinfo(d->ch, host, service, &hints, on_addrinfo, q);
    issued(q, addr_later);
    rearm(d);
    return q;
}
