/* stoa-component: the XEP-0114 component daemon.
 *
 * Wires the pieces together on one libev loop: the link to the host server
 * (complink) hands each stanza to the policy gate (safety/gate.h), which
 * hands what passes to the service's router (service.h); Redis (rdb) feeds
 * the gate and the service. Signals arrive as libev watchers, so handlers
 * run on the loop like everything else: SIGTERM/SIGINT close the stream
 * properly and exit (the occupants stay in Redis for the next start, or
 * are told of the shutdown, as [muc] on_stop says), SIGUSR1 does the same
 * and always tells them, SIGHUP reloads what can change safely. */
#include "autoconfig.h"

#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "complink.h"
#include "gateways.h"
#include "jid.h"
#include "log.h"
#include "notify.h"
#include "ns.h"
#include "rdb.h"
#include "safety/gate.h"
#include "safety/rtbl.h"
#include "service.h"
#include "settings.h"

/* sysexits.h's EX_CONFIG: init systems and scripts can tell a configuration
 * error from a crash. */
#define EXIT_CONFIG 78
#define SHUTDOWN_GRACE 5.0
/* Occupant checks (muc_recheck_tick) go out in slices this far apart. */
#define RECHECK_TICK 0.1
/* The link opens without stored rooms when Redis has not answered by then. */
#define LOAD_DEADLINE 3.0

typedef struct daemon_state {
    struct ev_loop *loop;
    const char *config_path;
    settings cfg;
    complink *link;
    service *svc;
    rdb *redis;
    gate *gate;
    rtbl *rtbl;                   /* NULL: no [rtbl] service, and no Redis to read lists from */
    out sink;                     /* where handlers write: the link, or split off to gateways */
    gateways *gws;                /* NULL: no gateway listener */
    char **host_domains;          /* [gateways] host_domains, parsed */
    size_t high_water, low_water; /* the link's, from its stream options */
    bool congested;
    ev_prepare drained; /* lets the gate go on once the link has drained */
    ev_timer load_deadline;
    ev_signal sigterm, sigint, sighup, sigusr1;
    ev_timer shutdown_deadline;
    bool stopping;
    bool was_ready;       /* the link has been up before: a new ready is a relink */
    ev_timer recheck;     /* paces the occupant checks while the link is up */
    bool recheck_stalled; /* checks waited for the link to drain */
} daemon_state;

static void stream_options_from(const settings *s, xstream_options *o)
{
    xstream_options_default(o);
    settings_fill(s, SETTINGS_STREAM, o);
}

static buf *link_begin(void *ud)
{
    return complink_out_begin(((daemon_state *)ud)->link);
}

static void link_commit(void *ud)
{
    complink_out_commit(((daemon_state *)ud)->link);
}

/* Backed up from over the high-water mark until back under the low one:
 * the marks at which the stream itself stops and resumes reading. */
static bool link_congested(void *ud)
{
    daemon_state *d = ud;
    size_t q = complink_out_queued(d->link);
    if (q > d->high_water)
        d->congested = true;
    else if (q <= d->low_water)
        d->congested = false;
    return d->congested;
}

/* Before the loop blocks, after every callback of the iteration (an ev_check
 * would run before the writes that drained the link, and the next event may
 * be seconds away). */
static void on_drained(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    daemon_state *d = w->data;
    if (gate_pending(d->gate) && !link_congested(d))
        gate_resume(d->gate);
}

/* The link hands every stanza to the gate, the gate what passes to the
 * service (service_gate_hooks). */
static void on_stanza(void *ud, xml_node *stanza)
{
    gate_submit(((daemon_state *)ud)->gate, stanza);
}

static void on_dropped(void *ud, xml_node *shell, const char *why)
{
    service_reject(((daemon_state *)ud)->svc, shell, why);
}

static void load_spam_domains(daemon_state *d)
{
    char err[512];
    if (!d->cfg.blocking_enabled || !d->cfg.spam_domains_file[0])
        return;
    long n = gate_load_spam_domains(d->gate, d->cfg.spam_domains_file, err, sizeof err);
    if (n < 0)
        log_error("spam-domain list not loaded: %s", err);
    else
        log_info("%ld spam domain%s loaded from %s", n, n == 1 ? "" : "s",
                 d->cfg.spam_domains_file);
}

/* The link opens only once persistent rooms are back (or Redis is clearly
 * away): a join arriving earlier would create a fresh room in place of a
 * stored one. */
static void open_link(daemon_state *d)
{
    ev_timer_stop(d->loop, &d->load_deadline);
    if (complink_get_state(d->link) == COMPLINK_IDLE && !d->stopping)
        complink_start(d->link);
}

/* Occupant checks run while the link is up and there are any. */
static void recheck_start(daemon_state *d)
{
    if (complink_get_state(d->link) == COMPLINK_READY && !d->stopping && !ev_is_active(&d->recheck))
        ev_timer_start(d->loop, &d->recheck);
}

static void on_recheck(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    daemon_state *d = w->data;
    muc *m = service_muc(d->svc);
    /* A backed-up link takes no more (a removal is a fan-out), and stops
     * reading the answers: checks in flight then are asked again once it
     * has drained, rather than timed out for our own delay. */
    if (link_congested(d)) {
        d->recheck_stalled = true;
        return;
    }
    if (d->recheck_stalled) {
        d->recheck_stalled = false;
        muc_recheck_pause(m);
    }
    if (!muc_recheck_tick(m))
        ev_timer_stop(loop, w);
}

static void on_ready(void *ud)
{
    daemon_state *d = ud;
    /* Presence sent to the rooms while the link was down was bounced by
     * the server: anyone may have left meanwhile. */
    if (d->was_ready) {
        log_info("link back: checking that every occupant is still there");
        muc_recheck_all(service_muc(d->svc));
    }
    d->was_ready = true;
    recheck_start(d);
    service_link_up(d->svc);
    rtbl_link_ready(d->rtbl);
    /* systemd (Type=notify): ready once the host server accepted the link. */
    char status[300];
    snprintf(status, sizeof status, "serving %s via %s:%ld", d->cfg.domain, d->cfg.server_host,
             d->cfg.server_port);
    notify_ready(status);
}

static void on_down(void *ud)
{
    daemon_state *d = ud;
    ev_timer_stop(d->loop, &d->recheck);
    muc_recheck_pause(service_muc(d->svc));
    service_link_down(d->svc);
    rtbl_link_down(d->rtbl);
    notify_status("component link down, reconnecting");
}

/* The rooms and occupants stored in Redis are back (or could not be). */
static void on_loaded(void *ud)
{
    daemon_state *d = ud;
    open_link(d);
    recheck_start(d); /* Redis came back late, with the link already up */
}

static void on_load_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    log_warn("Redis is not answering; opening the link without stored rooms for now");
    open_link(w->data);
}

static void on_redis_state(void *ud, rdb_state state)
{
    daemon_state *d = ud;
    gate_redis_state(d->gate, state);
    rtbl_redis_state(d->rtbl, state);
    service_redis_state(d->svc, state);
}

static void on_flushed(void *ud, redisReply *reply)
{
    (void)reply;
    daemon_state *d = ud;
    ev_break(d->loop, EVBREAK_ALL);
}

static void on_stopped(void *ud)
{
    daemon_state *d = ud;
    /* Redis answers in order: once this PING is answered, every write made
     * before it (the occupants' last state among them) is in. */
    if (!d->redis || rdb_command(d->redis, on_flushed, d, "PING") < 0)
        ev_break(d->loop, EVBREAK_ALL);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    log_warn("the server did not close the stream in time; exiting anyway");
    ev_break(loop, EVBREAK_ALL);
}

static void on_terminate(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    daemon_state *d = w->data;
    if (d->stopping) {
        log_warn("second signal: exiting now");
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    d->stopping = true;
    notify_stopping();
    bool announce = w->signum == SIGUSR1 || d->cfg.muc_on_stop == SETTINGS_STOP_ANNOUNCE;
    log_info("signal %d: closing the component link; occupants %s", w->signum,
             announce ? "are told the service is going down" : "stay for the next start");
    ev_timer_start(loop, &d->shutdown_deadline);
    ev_timer_stop(loop, &d->recheck);
    muc_shutdown(service_muc(d->svc), announce);
    gateways_stop(d->gws);
    complink_stop(d->link);
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    daemon_state *d = w->data;
    settings fresh;
    char err[512];
    if (settings_load(d->config_path, &fresh, err, sizeof err) < 0 ||
        settings_check_private(d->config_path, &fresh, err, sizeof err) < 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        settings_free(&fresh);
        return;
    }
    char changed[512];
    if (config_unreloadable_changes(settings_schema, &d->cfg, &fresh, changed, sizeof changed) > 0)
        log_warn("reload: %s changed but take effect only after a restart", changed);
    /* The reloadable keys (the schema says which) take their new values;
     * the others keep their running ones. */
    config_take_reloadable(settings_schema, &d->cfg, &fresh);
    settings_free(&fresh);
    log_set_level((log_level)d->cfg.log_level);
    service_set_name(d->svc, d->cfg.name);
    xstream_options o;
    stream_options_from(&d->cfg, &o);
    complink_set_stream_options(d->link, &o);
    load_spam_domains(d);
    log_info("configuration reloaded from %s", d->config_path);
}

/* Gateways (docs/gateway.md) attach beside the host link: what they send
 * enters where the host's stanzas do; the sink handlers write into becomes
 * the one that splits remote domains' stanzas off to a gateway. */
static int start_gateways(daemon_state *d, out *sink)
{
    static const gateways_callbacks gcb = {on_stanza, on_dropped};
    char err[512], bad[256];
    if (d->cfg.gateways_port == 0)
        return 0;
    d->host_domains =
        jid_list_parse(d->cfg.gateways_host_domains, JID_LIST_DOMAINS, bad, sizeof bad);
    gateways_config gc = {.host_domains = d->host_domains};
    settings_fill(&d->cfg, SETTINGS_GATEWAYS, &gc);
    stream_options_from(&d->cfg, &gc.stream);
    d->gws = d->host_domains ? gateways_new(d->loop, &gc, sink, &gcb, d, err, sizeof err) : NULL;
    if (!d->gws) {
        fprintf(stderr, "stoa-component: %s\n", d->host_domains ? err : "out of memory");
        return -1;
    }
    *sink = *gateways_sink(d->gws);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: stoa-component [-c FILE] [-t] [-d] [--syslog]\n"
            "  -c, --config FILE  configuration file (default %s)\n"
            "  -t, --test-config  check the configuration and exit\n"
            "  -d, --debug        log at debug level, whatever the file says\n"
            "      --syslog       log to syslog instead of stderr\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         this text\n",
            SYSCONFDIR "/stoa/stoa-component.conf");
}

typedef struct options {
    bool test_only, debug, force_syslog;
} options;

/* -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, daemon_state *d, options *o)
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
    int c;
    while ((c = getopt_long(argc, argv, "c:tdVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d->config_path = optarg;
            break;
        case 't':
            o->test_only = true;
            break;
        case 'd':
            o->debug = true;
            break;
        case 'S':
            o->force_syslog = true;
            break;
        case 'V':
            printf("stoa-component %s\n", PACKAGE_VERSION);
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
    return -1;
}

/* The block lists, when a service publishes them or Redis may hold them
 * (another instance subscribes). -1 on a bad [rtbl] section. */
static int start_rtbl(daemon_state *d)
{
    if (!d->cfg.rtbl_service[0] && !d->redis)
        return 0;
    rtbl_config rc = {0};
    settings_fill(&d->cfg, SETTINGS_RTBL, &rc);
    char err[256] = "out of memory";
    if (!(d->rtbl = rtbl_new(d->loop, d->redis, &rc, &d->sink, err, sizeof err))) {
        fprintf(stderr, "stoa-component: %s\n", err);
        return -1;
    }
    if (d->cfg.rtbl_service[0])
        log_info("rtbl: lists from %s: hashes in '%s', domains in '%s'", d->cfg.rtbl_service,
                 d->cfg.rtbl_hash_nodes, d->cfg.rtbl_domain_nodes);
    return 0;
}

/* The service first (the gate passes to it), then the link and the gate.
 * 0, or the exit status. */
static int build(daemon_state *d)
{
    d->sink = (out){link_begin, link_commit, d, NS_COMPONENT};
    if (start_gateways(d, &d->sink) < 0)
        return EXIT_CONFIG;
    if (d->cfg.redis_enabled) {
        rdb_config rc = {.ping_interval = 5};
        settings_fill(&d->cfg, SETTINGS_REDIS, &rc);
        if (!(d->redis = rdb_new(d->loop, &rc, on_redis_state, d)))
            return 1;
    }
    if (start_rtbl(d) < 0)
        return EXIT_CONFIG;
    char **topics = settings_topics(&d->cfg);
    service_config sc = {
        .version = PACKAGE_VERSION, .redis = d->redis, .rtbl = d->rtbl, .loop = d->loop};
    settings_fill(&d->cfg, SETTINGS_SERVICE, &sc);
    sc.muc.topics = (const char *const *)topics;
    d->svc = topics ? service_new(&sc, &d->sink) : NULL;
    settings_free_topics(topics);
    complink_config lc = {0};
    settings_fill(&d->cfg, SETTINGS_LINK, &lc);
    stream_options_from(&d->cfg, &lc.stream);
    d->high_water = lc.stream.high_water;
    d->low_water = lc.stream.low_water;
    static const complink_callbacks lcb = {on_ready, on_stanza, on_down, on_stopped, on_dropped};
    d->link = d->svc ? complink_new(d->loop, &lc, &lcb, d) : NULL;
    if (!d->link)
        return 1;
    service_on_loaded(d->svc, on_loaded, d);
    gate_config gc = {0};
    settings_fill(&d->cfg, SETTINGS_GATE, &gc);
    gate_hooks gh = service_gate_hooks(d->svc);
    char err[256];
    if (!(d->gate = gate_new(&gc, d->redis, &d->sink, &gh, err, sizeof err))) {
        fprintf(stderr, "stoa-component: %s\n", err);
        return EXIT_CONFIG;
    }
    gate_set_congested(d->gate, link_congested, d);
    load_spam_domains(d);
    return 0;
}

static void watch(daemon_state *d)
{
    ev_signal_init(&d->sigterm, on_terminate, SIGTERM);
    ev_signal_init(&d->sigint, on_terminate, SIGINT);
    ev_signal_init(&d->sighup, on_reload, SIGHUP);
    ev_signal_init(&d->sigusr1, on_terminate, SIGUSR1);
    d->sigterm.data = d->sigint.data = d->sighup.data = d->sigusr1.data = d;
    ev_signal_start(d->loop, &d->sigterm);
    ev_signal_start(d->loop, &d->sigint);
    ev_signal_start(d->loop, &d->sighup);
    ev_signal_start(d->loop, &d->sigusr1);
    ev_timer_init(&d->recheck, on_recheck, RECHECK_TICK, RECHECK_TICK);
    d->recheck.data = d;
    ev_prepare_init(&d->drained, on_drained);
    d->drained.data = d;
    ev_prepare_start(d->loop, &d->drained);
    ev_timer_init(&d->load_deadline, on_load_deadline, LOAD_DEADLINE, 0);
    d->load_deadline.data = d;
    ev_timer_init(&d->shutdown_deadline, on_deadline, SHUTDOWN_GRACE, 0);
}

static void unwatch(daemon_state *d)
{
    ev_timer_stop(d->loop, &d->shutdown_deadline);
    ev_timer_stop(d->loop, &d->load_deadline);
    ev_signal_stop(d->loop, &d->sigterm);
    ev_signal_stop(d->loop, &d->sigint);
    ev_signal_stop(d->loop, &d->sighup);
    ev_signal_stop(d->loop, &d->sigusr1);
    ev_timer_stop(d->loop, &d->recheck);
    ev_prepare_stop(d->loop, &d->drained);
}

/* The gate and the service stop sending before the link goes. rdb goes
 * first of all: freeing it runs every callback still due (reply NULL), and
 * those name the gate's entries, block lists, the desk, archive queries
 * (the rooms) and the room load (the link). */
static void teardown(daemon_state *d)
{
    gate_close(d->gate);
    rtbl_close(d->rtbl);
    if (d->svc)
        service_close(d->svc);
    rdb_free(d->redis);
    gateways_free(d->gws);
    config_list_free(d->host_domains);
    complink_free(d->link);
    service_free(d->svc);
    gate_free(d->gate);
    rtbl_free(d->rtbl);
}

int main(int argc, char **argv)
{
    daemon_state d = {0};
    options o = {0};
    d.config_path = SYSCONFDIR "/stoa/stoa-component.conf";
    int rc = parse_options(argc, argv, &d, &o);
    if (rc >= 0)
        return rc;

    char err[512];
    if (settings_load(d.config_path, &d.cfg, err, sizeof err) < 0 ||
        settings_check_private(d.config_path, &d.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "stoa-component: %s\n", err);
        settings_free(&d.cfg);
        return EXIT_CONFIG;
    }
    if (o.test_only) {
        printf("stoa-component: %s: configuration OK\n", d.config_path);
        settings_free(&d.cfg);
        return 0;
    }
    log_init("stoa-component", o.debug ? LOG_LVL_DEBUG : (log_level)d.cfg.log_level,
             o.force_syslog || d.cfg.log_syslog);
    signal(SIGPIPE, SIG_IGN);
    d.loop = ev_default_loop(EVFLAG_AUTO);
    if ((rc = build(&d)) != 0) {
        if (rc == 1)
            fprintf(stderr, "stoa-component: out of memory\n");
        return rc;
    }
    watch(&d);

    log_info("stoa-component %s starting: %s via %s:%ld", PACKAGE_VERSION, d.cfg.domain,
             d.cfg.server_host, d.cfg.server_port);
    notify_start(d.loop);
    if (d.redis) {
        ev_timer_start(d.loop, &d.load_deadline);
        rdb_start(d.redis);
    } else {
        complink_start(d.link);
    }
    ev_run(d.loop, 0);

    notify_stop(d.loop);
    unwatch(&d);
    teardown(&d);
    settings_free(&d.cfg);
    log_info("stopped");
    log_close();
    ev_loop_destroy(d.loop);
    return 0;
}
