/* stoa-gateway: Stoa's own server-to-server edge.
 *
 * Wires the pieces onto one libev loop: the settings, TLS credentials, DNS
 * (c-ares), the listeners remote servers connect to, the peers (every
 * server-to-server stream, gateway/peers.h) and the link to stoa-component
 * (complink: the gateway connects to the component's gateway listener and
 * authenticates as XEP-0114 does, docs/gateway.md). Stanzas from remote
 * servers go to the component; the component's stanzas for remote domains
 * go out on the peers' streams. SIGTERM/SIGINT close every stream and exit;
 * SIGHUP reloads the log level. */
#define _GNU_SOURCE /* accept4 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "complink.h"
#include "dns.h"
#include "edge.h"
#include "log.h"
#include "metrics.h"
#include "mhttp.h"
#include "ns.h"
#include "out.h"
#include "peers.h"
#include "s2s.h"
#include "gwset.h"
#include "tls.h"

#define EXIT_CONFIG 78
#define SHUTDOWN_GRACE 3.0

typedef struct listener {
    ev_io w;
    bool direct_tls;
} listener;

typedef struct gw {
    struct ev_loop *loop;
    const char *config_path;
    gwset cfg;
    tls_ctx *tls;
    dns *dns;
    s2s_config s2s;
    peers *peers;
    edge *edge;
    complink *link;
    size_t high_water, low_water; /* the component link's */
    bool congested;
    ev_prepare drained; /* lets the edge's gate go on once the link drained */
    listener plain, direct;
    ev_signal sigterm, sigint, sighup;
    ev_timer grace;
    bool stopping;
    mhttp *http; /* the metrics and health endpoint, or NULL */
} gw;

static void stream_options(const gwset *s, xstream_options *o)
{
    xstream_options_default(o);
    o->limits.max_stanza_bytes = s->max_stanza_size;
    o->limits.max_depth = (unsigned)s->max_depth;
    o->limits.max_attrs = (unsigned)s->max_attributes;
    o->limits.max_elements = (unsigned)s->max_elements;
    o->keepalive = s->keepalive;
}

/* ---- the component link ---- */

static buf *link_begin(void *ud)
{
    return complink_out_begin(((gw *)ud)->link);
}

static void link_commit(void *ud)
{
    complink_out_commit(((gw *)ud)->link);
}

/* To the component, in its stream's namespace. While the link is down the
 * stanza is lost, as it would be on a host server that lost its
 * component; the sender's server sees nothing bounce. */
static void to_component(void *ud, xml_node *st)
{
    gw *g = ud;
    out o = {link_begin, link_commit, g, NS_COMPONENT};
    /* The gateway's "in": what remote servers sent. */
    metrics_count_in(xml_name(st));
    xml_move_ns(st, NS_SERVER, NS_COMPONENT);
    if (out_stanza(&o, st) < 0)
        log_debug("component link down: a <%s/> from %s was dropped", xml_name(st),
                  xml_attr(st, "from") ? xml_attr(st, "from") : "?");
    xml_free(st);
}

/* From a remote server, past the edge's own checks: into its gate. */
static void to_edge(void *ud, xml_node *st)
{
    edge_submit(((gw *)ud)->edge, st);
}

/* Whether the component link is backed up (over high water, until back
 * under low water): the gate then holds what remote servers send, as the
 * component's gate does for the host link. */
static bool link_congested(void *ud)
{
    gw *g = ud;
    size_t q = complink_out_queued(g->link);
    if (q > g->high_water)
        g->congested = true;
    else if (q <= g->low_water)
        g->congested = false;
    return g->congested;
}

static void on_drained(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    gw *g = w->data;
    if (g->congested && !link_congested(g))
        edge_resume(g->edge);
}

static void from_component(void *ud, xml_node *st)
{
    gw *g = ud;
    metrics_count_out(xml_name(st));
    xml_move_ns(st, NS_COMPONENT, NS_SERVER);
    peers_send(g->peers, st);
}

static void link_ready(void *ud)
{
    (void)ud;
    metrics_inc(METRIC_LINK_CONNECTS);
}

static void link_down(void *ud)
{
    (void)ud;
}

static void link_stopped(void *ud)
{
    gw *g = ud;
    ev_break(g->loop, EVBREAK_ALL);
}

static void link_dropped(void *ud, xml_node *shell, const char *why)
{
    (void)ud;
    log_warn("the component sent a stanza over the limits (%s): dropped", why);
    xml_free(shell);
}

/* ---- listeners ---- */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    gw *g = w->data;
    listener *l = (listener *)w;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        peers_accept(g->peers, fd, l->direct_tls);
    }
}

static int listen_on(gw *g, listener *l, const char *addr, long port, bool direct, char *err,
                     size_t errlen)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        len = sizeof *s4;
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        len = sizeof *s6;
    } else {
        snprintf(err, errlen, "[s2s] listen: '%s' is not an IP address", addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "cannot listen on %s port %ld: %s", addr, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    l->direct_tls = direct;
    ev_io_init(&l->w, on_accept, fd, EV_READ);
    l->w.data = g;
    ev_io_start(g->loop, &l->w);
    return 0;
}

static void unlisten(gw *g, listener *l)
{
    if (!ev_is_active(&l->w))
        return;
    ev_io_stop(g->loop, &l->w);
    close(l->w.fd);
}

/* ---- signals ---- */

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_terminate(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    gw *g = w->data;
    if (g->stopping) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    g->stopping = true;
    log_info("signal %d: closing every stream", w->signum);
    unlisten(g, &g->plain);
    unlisten(g, &g->direct);
    peers_close_all(g->peers);
    ev_timer_init(&g->grace, on_grace, SHUTDOWN_GRACE, 0);
    ev_timer_start(loop, &g->grace);
    complink_stop(g->link);
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    gw *g = w->data;
    gwset fresh;
    char err[512];
    if (gwset_load(g->config_path, &fresh, err, sizeof err) < 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        return;
    }
    log_set_level((log_level)fresh.log_level);
    g->cfg.log_level = fresh.log_level;
    gwset_free(&fresh);
    log_info("configuration reloaded (log level) from %s", g->config_path);
}

/* ---- metrics and health (docs/operating.md) ---- */

static void collect(void *ud)
{
    gw *g = ud;
    unsigned in = 0, out = 0;
    peers_counts(g->peers, &in, &out);
    metrics_set(METRIC_G_LINK_UP, complink_get_state(g->link) == COMPLINK_READY);
    metrics_set(METRIC_G_PEERS, in + out);
}

/* Healthy while the component takes what remote servers send. */
static bool health(void *ud, buf *why)
{
    gw *g = ud;
    complink_state s = complink_get_state(g->link);
    if (s == COMPLINK_READY && !g->stopping)
        return true;
    buf_printf(why, "%s", g->stopping ? "stopping" : "component link ");
    if (!g->stopping)
        buf_puts(why, complink_state_name(s));
    return false;
}

/* ---- start ---- */

static int setup(gw *g, char *err, size_t errlen)
{
    tls_config tc = {g->cfg.certificate, g->cfg.key, g->cfg.ca_file, g->cfg.priority};
    g->tls = tls_ctx_new(&tc, err, errlen);
    if (!g->tls)
        return -1;
    g->dns = dns_new(g->loop, g->cfg.dns_servers, g->cfg.dns_timeout, err, errlen);
    if (!g->dns)
        return -1;
    g->s2s = (s2s_config){
        .tls = g->tls,
        .local_domains = (const char *const *)g->cfg.domain_list,
        .dialback_secret = g->cfg.dialback_secret,
        .dialback = g->cfg.dialback,
        .require_valid_certificate = g->cfg.require_valid_certificate,
        .setup_timeout = g->cfg.setup_timeout,
        .idle_timeout = g->cfg.idle_timeout,
    };
    stream_options(&g->cfg, &g->s2s.stream);
    peers_config pc = {g->loop, g->dns, &g->s2s, g->cfg.connect_attempt_timeout,
                       (size_t)g->cfg.queue_max};
    static const peers_callbacks pcb = {to_edge, to_component};
    g->peers = peers_new(&pc, &pcb, g);
    if (!g->peers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    static const edge_hooks eh = {to_component, link_congested, NULL};
    edge_hooks h = eh;
    h.ud = g;
    g->edge = edge_new(g->loop, &g->cfg, g->peers, &h, err, errlen);
    if (!g->edge)
        return -1;
    complink_config lc = {
        .host = g->cfg.component_host,
        .port = (int)g->cfg.component_port,
        .domain = g->cfg.domain_list[0],
        .secret = g->cfg.component_secret,
        .connect_timeout = g->cfg.connect_timeout,
        .backoff_min = g->cfg.reconnect_min,
        .backoff_max = g->cfg.reconnect_max,
    };
    xstream_options_default(&lc.stream);
    lc.stream.limits.max_stanza_bytes = 64 * 1024 * 1024;
    static const complink_callbacks lcb = {link_ready, from_component, link_down, link_stopped,
                                           link_dropped};
    g->link = complink_new(g->loop, &lc, &lcb, g);
    g->high_water = lc.stream.high_water;
    g->low_water = lc.stream.low_water;
    ev_prepare_init(&g->drained, on_drained);
    g->drained.data = g;
    ev_prepare_start(g->loop, &g->drained);
    if (!g->link) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    metrics_setup("stoa-gateway", METRICS_F_STANZAS | METRICS_F_LINK, collect, g);
    if (g->cfg.metrics_port > 0 &&
        !(g->http = mhttp_new(g->loop, g->cfg.metrics_address, (unsigned)g->cfg.metrics_port,
                              health, g, err, errlen)))
        return -1;
    if (listen_on(g, &g->plain, g->cfg.listen, g->cfg.port, false, err, errlen) < 0)
        return -1;
    if (g->cfg.tls_port > 0 &&
        listen_on(g, &g->direct, g->cfg.listen, g->cfg.tls_port, true, err, errlen) < 0)
        return -1;
    return 0;
}

static void teardown(gw *g)
{
    mhttp_free(g->http);
    unlisten(g, &g->plain);
    unlisten(g, &g->direct);
    ev_timer_stop(g->loop, &g->grace);
    ev_signal_stop(g->loop, &g->sigterm);
    ev_signal_stop(g->loop, &g->sigint);
    ev_signal_stop(g->loop, &g->sighup);
    ev_prepare_stop(g->loop, &g->drained);
    edge_free(g->edge);
    peers_free(g->peers);
    complink_free(g->link);
    dns_free(g->dns);
    tls_ctx_free(g->tls);
    gwset_free(&g->cfg);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stoa-gateway [-c FILE] [-t] [-d] [--syslog]\n"
            "  -c, --config FILE  configuration file (default %s)\n"
            "  -t, --test-config  check the configuration and exit\n"
            "  -d, --debug        log at debug level, whatever the file says\n"
            "      --syslog       log to syslog instead of stderr\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         this text\n",
            SYSCONFDIR "/stoa/stoa-gateway.conf");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test-config", no_argument, NULL, 't'},
        {"debug", no_argument, NULL, 'd'},
        {"syslog", no_argument, NULL, 'S'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    gw g = {0};
    g.config_path = SYSCONFDIR "/stoa/stoa-gateway.conf";
    bool test_only = false, debug = false, force_syslog = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:tdVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            g.config_path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'd':
            debug = true;
            break;
        case 'S':
            force_syslog = true;
            break;
        case 'V':
            printf("stoa-gateway %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    char err[512];
    if (gwset_load(g.config_path, &g.cfg, err, sizeof err) < 0 ||
        config_check_private(g.config_path, gwset_schema, &g.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "stoa-gateway: %s\n", err);
        gwset_free(&g.cfg);
        return EXIT_CONFIG;
    }
    if (test_only) {
        printf("stoa-gateway: %s: configuration OK\n", g.config_path);
        gwset_free(&g.cfg);
        return 0;
    }
    log_init("stoa-gateway", debug ? LOG_LVL_DEBUG : (log_level)g.cfg.log_level,
             force_syslog || g.cfg.log_syslog);
    signal(SIGPIPE, SIG_IGN);
    g.loop = ev_default_loop(EVFLAG_AUTO);
    if (setup(&g, err, sizeof err) < 0) {
        log_error("%s", err);
        teardown(&g);
        log_close();
        return EXIT_CONFIG;
    }
    ev_signal_init(&g.sigterm, on_terminate, SIGTERM);
    ev_signal_init(&g.sigint, on_terminate, SIGINT);
    ev_signal_init(&g.sighup, on_reload, SIGHUP);
    g.sigterm.data = g.sigint.data = g.sighup.data = &g;
    ev_signal_start(g.loop, &g.sigterm);
    ev_signal_start(g.loop, &g.sigint);
    ev_signal_start(g.loop, &g.sighup);
    log_info("stoa-gateway %s starting: %s on %s port %ld%s, component at %s:%ld", PACKAGE_VERSION,
             g.cfg.domains, g.cfg.listen, g.cfg.port, g.cfg.tls_port > 0 ? " (and direct TLS)" : "",
             g.cfg.component_host, g.cfg.component_port);
    edge_start(g.edge);
    complink_start(g.link);
    ev_run(g.loop, 0);
    teardown(&g);
    log_info("stopped");
    log_close();
    ev_loop_destroy(g.loop);
    return 0;
}
