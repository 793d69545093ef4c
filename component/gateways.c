#define _GNU_SOURCE /* accept4 */
#include "gateways.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "complink.h"
#include "dial.h"
#include "dialback.h"
#include "hmap.h"
#include "log.h"
#include "ns.h"
#include "xmlframe.h"

typedef struct gwconn gwconn;

struct gwconn {
    gwconn *next, *prev;
    gateways *g;
    xstream *xs;
    bool authed;
    char id[33];
    char peer[64];
    ev_timer auth_timer;
};

struct gateways {
    struct ev_loop *loop;
    gateways_config cfg;
    char *listen, *secret, *domain;
    gateways_callbacks cb;
    void *ud;
    out host, sink;
    ev_io accept_w;
    gwconn *conns;
    unsigned attached;
    buf staging;
    bool staged; /* begin handed out the staging buffer */
    xmlframe *fr;
};

/* ---- one gateway's link ---- */

static void conn_free(gwconn *c)
{
    gateways *g = c->g;
    if (c->authed && g->attached > 0)
        g->attached--;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ev_timer_stop(g->loop, &c->auth_timer);
    xstream_free(c->xs);
    free(c);
}

static void c_open(void *ud, xml_node *h)
{
    gwconn *c = ud;
    gateways *g = c->g;
    const char *to = xml_attr(h, "to");
    char hdr[400];
    snprintf(hdr, sizeof hdr,
             "<?xml version='1.0'?><stream:stream xmlns='" NS_COMPONENT
             "' xmlns:stream='" NS_STREAMS "' id='%s' from='%s'>",
             c->id, g->domain);
    xstream_send_raw(c->xs, hdr, strlen(hdr));
    if (!to || strcasecmp(to, g->domain) != 0)
        xstream_close(c->xs, "host-unknown", NULL);
    xml_free(h);
}

static bool digest_ok(gwconn *c, const char *got)
{
    char want[41];
    if (!got || strlen(got) != 40 || complink_handshake_digest(c->id, c->g->secret, want) < 0)
        return false;
    unsigned char diff = 0;
    for (int i = 0; i < 40; i++)
        diff |= (unsigned char)(want[i] ^ got[i]);
    return diff == 0;
}

static void c_stanza(void *ud, xml_node *st)
{
    gwconn *c = ud;
    gateways *g = c->g;
    if (c->authed) {
        g->cb.on_stanza(g->ud, st);
        return;
    }
    if (strcmp(xml_name(st), "handshake") == 0 && digest_ok(c, xml_text(st))) {
        c->authed = true;
        g->attached++;
        ev_timer_stop(g->loop, &c->auth_timer);
        xstream_send_raw(c->xs, "<handshake/>", 12);
        log_info("gateway attached from %s (%u attached)", c->peer, g->attached);
    } else {
        log_warn("gateway link from %s: handshake refused", c->peer);
        xstream_close(c->xs, "not-authorized", NULL);
    }
    xml_free(st);
}

static void c_closed(void *ud, xstream_close_reason why, const char *detail)
{
    (void)why;
    gwconn *c = ud;
    if (c->authed)
        log_info("gateway from %s detached: %s", c->peer, detail ? detail : "closed");
    conn_free(c);
}

static void c_dropped(void *ud, xml_node *shell, const char *why)
{
    gwconn *c = ud;
    if (c->authed && c->g->cb.on_dropped)
        c->g->cb.on_dropped(c->g->ud, shell, why);
    else
        xml_free(shell);
}

static void on_auth_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    gwconn *c = w->data;
    xstream_close(c->xs, "connection-timeout", "handshake not completed in time");
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    gateways *g = w->data;
    static const xstream_callbacks xcb = {c_open, c_stanza, c_closed, c_dropped, NULL, NULL};
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    gwconn *c = calloc(1, sizeof *c);
    if (!c || dialback_stream_id(c->id) < 0) {
        free(c);
        close(fd);
        return;
    }
    c->g = g;
    dial_addr a = {.len = len};
    memcpy(&a.sa, &ss, len <= sizeof a.sa ? len : sizeof a.sa);
    dial_addr_format(&a, c->peer, sizeof c->peer);
    c->xs = xstream_new(loop, fd, &g->cfg.stream, &xcb, c);
    if (!c->xs) {
        close(fd);
        free(c);
        return;
    }
    ev_timer_init(&c->auth_timer, on_auth_timeout, g->cfg.handshake_timeout, 0);
    c->auth_timer.data = c;
    ev_timer_start(loop, &c->auth_timer);
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
}

/* ---- the sink ---- */

static buf *sink_begin(void *ud)
{
    gateways *g = ud;
    if (g->attached == 0) {
        g->staged = false;
        return g->host.begin(g->host.ud);
    }
    g->staged = true;
    buf_reset(&g->staging);
    return &g->staging;
}

/* The domain of a raw `to` value: after any '@', before any '/'. */
static void to_domain(const char *to, char *out, size_t len)
{
    const char *slash = strchr(to, '/');
    size_t end = slash ? (size_t)(slash - to) : strlen(to);
    const char *at = memchr(to, '@', end);
    const char *d = at ? at + 1 : to;
    size_t n = end - (size_t)(d - to);
    if (n >= len)
        n = len - 1;
    memcpy(out, d, n);
    out[n] = '\0';
}

static bool stays_home(const gateways *g, const char *domain)
{
    if (!domain[0] || strchr(domain, '&') || strcasecmp(domain, g->domain) == 0)
        return true;
    size_t dl = strlen(domain);
    for (char **h = g->cfg.host_domains; h && *h; h++) {
        size_t hl = strlen(*h);
        if (strcasecmp(domain, *h) == 0 ||
            (dl > hl && domain[dl - hl - 1] == '.' && strcasecmp(domain + dl - hl, *h) == 0))
            return true;
    }
    return false;
}

/* The gateway for a remote domain: always the same one while the set of
 * attached gateways stays, so one domain's stanzas keep their order. */
static gwconn *gateway_for(gateways *g, const char *domain)
{
    uint64_t h = hmap_hash(domain, strlen(domain));
    unsigned pick = (unsigned)(h % g->attached), i = 0;
    for (gwconn *c = g->conns; c; c = c->next)
        if (c->authed && i++ == pick)
            return c;
    return NULL;
}

static void put(gateways *g, gwconn *c, const char *data, size_t n)
{
    buf *b = c ? xstream_out_begin(c->xs) : g->host.begin(g->host.ud);
    if (!b)
        return; /* that link is down: lost, as on the host link alone */
    buf_append(b, data, n);
    if (c)
        xstream_out_commit(c->xs);
    else
        g->host.commit(g->host.ud);
}

static void reset_framer(gateways *g)
{
    static const char hdr[] =
        "<stream:stream xmlns='" NS_COMPONENT "' xmlns:stream='" NS_STREAMS "'>";
    size_t used;
    xmlframe_reset(g->fr);
    xmlframe_scan(g->fr, hdr, sizeof hdr - 1, &used);
}

/* Our own serialized stanzas, split by destination. */
static void sink_commit(void *ud)
{
    gateways *g = ud;
    if (!g->staged) {
        g->host.commit(g->host.ud);
        return;
    }
    g->staged = false;
    if (buf_unread_len(&g->staging) == 0)
        return;
    const char *p = buf_unread(&g->staging);
    size_t n = buf_unread_len(&g->staging), start = 0, off = 0;
    while (off < n) {
        size_t used;
        xmlframe_event ev = xmlframe_scan(g->fr, p + off, n - off, &used);
        off += used;
        if (ev == XMLFRAME_STANZA) {
            char q, domain[256];
            const char *to = xmlframe_top_attr(g->fr, XMLFRAME_TO, &q);
            to_domain(to ? to : "", domain, sizeof domain);
            put(g, stays_home(g, domain) ? NULL : gateway_for(g, domain), p + start, off - start);
            start = off;
        } else if (ev != XMLFRAME_MORE) {
            /* Not expected of our own output: what is left goes home. */
            log_error("gateways: cannot split the component's output (event %d)", (int)ev);
            reset_framer(g);
            break;
        }
    }
    if (start < n)
        put(g, NULL, p + start, n - start);
    buf_reset(&g->staging);
    buf_shrink(&g->staging, 64 * 1024);
}

/* ---- the whole ---- */

static int start_listening(gateways *g, char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, g->listen, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)g->cfg.port);
        len = sizeof *s4;
    } else if (inet_pton(AF_INET6, g->listen, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)g->cfg.port);
        len = sizeof *s6;
    } else {
        snprintf(err, errlen, "[gateways] listen: '%s' is not an IP address", g->listen);
        return -1;
    }
    int one = 1, fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "[gateways] cannot listen on %s port %d: %s", g->listen, g->cfg.port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ev_io_init(&g->accept_w, on_accept, fd, EV_READ);
    g->accept_w.data = g;
    ev_io_start(g->loop, &g->accept_w);
    return 0;
}

gateways *gateways_new(struct ev_loop *loop, const gateways_config *cfg, const out *host,
                       const gateways_callbacks *cb, void *ud, char *err, size_t errlen)
{
    static const xmlparse_limits own = {64 * 1024 * 1024, 100000, 100000, 100000000};
    gateways *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->loop = loop;
    g->cfg = *cfg;
    g->listen = strdup(cfg->listen);
    g->secret = strdup(cfg->secret);
    g->domain = strdup(cfg->domain);
    g->fr = xmlframe_new(&own);
    g->host = *host;
    g->sink = (out){sink_begin, sink_commit, g, host->ns};
    g->cb = *cb;
    g->ud = ud;
    if (!g->listen || !g->secret || !g->domain || !g->fr) {
        snprintf(err, errlen, "out of memory");
        gateways_free(g);
        return NULL;
    }
    reset_framer(g);
    if (start_listening(g, err, errlen) < 0) {
        gateways_free(g);
        return NULL;
    }
    log_info("listening for gateways on %s port %d", g->listen, g->cfg.port);
    return g;
}

void gateways_stop(gateways *g)
{
    if (!g)
        return;
    if (ev_is_active(&g->accept_w)) {
        ev_io_stop(g->loop, &g->accept_w);
        close(g->accept_w.fd);
    }
    for (gwconn *c = g->conns; c; c = c->next)
        xstream_close(c->xs, "system-shutdown", NULL);
}

void gateways_free(gateways *g)
{
    if (!g)
        return;
    if (ev_is_active(&g->accept_w)) {
        ev_io_stop(g->loop, &g->accept_w);
        close(g->accept_w.fd);
    }
    while (g->conns)
        conn_free(g->conns);
    if (g->secret)
        memset(g->secret, 0, strlen(g->secret));
    free(g->listen);
    free(g->secret);
    free(g->domain);
    xmlframe_free(g->fr);
    buf_free(&g->staging);
    free(g);
}

const out *gateways_sink(gateways *g)
{
    return &g->sink;
}

unsigned gateways_attached(const gateways *g)
{
    return g ? g->attached : 0;
}
