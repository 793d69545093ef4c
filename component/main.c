/* stoa-component: the XEP-0114 component daemon.
 *
 * Wires the pieces together on one libev loop: the settings, the link to the
 * host server (complink), the dispatch (service), and Redis (rdb). Signals
 * arrive as libev watchers, so handlers run on the loop like everything
 * else: SIGTERM/SIGINT close the stream properly and exit (the occupants
 * stay in Redis for the next start, or are told of the shutdown, as
 * [muc] on_stop says), SIGUSR1 does the same and always tells them, SIGHUP
 * reloads what can change safely. */
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
#include "service.h"
#include "muc/occstore.h"
#include "muc/store.h"
#include "safety/gate.h"
#include "safety/ublock.h"
#include "settings.h"

/* sysexits.h's EX_CONFIG: init systems and scripts can tell a configuration
 * error from a crash. */
#define EXIT_CONFIG 78
#define SHUTDOWN_GRACE 5.0
/* Occupant checks (muc_recheck_tick) go out in slices this far apart. */
#define RECHECK_TICK 0.1

typedef struct daemon_state {
    struct ev_loop *loop;
    const char *config_path;
    settings cfg;
    complink *link;
    service *svc;
    rdb *redis;
    muc_store *store;
    gate *gate;
    ublock *ublock;
    gateways *gws;                /* NULL: no gateway listener */
    char **host_domains;          /* [gateways] host_domains, parsed */
    bool rooms_loaded;            /* persistent rooms read from Redis (or given up on) */
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
    o->limits.max_stanza_bytes = s->max_stanza_size;
    o->limits.max_depth = (unsigned)s->max_depth;
    o->limits.max_attrs = (unsigned)s->max_attributes;
    o->limits.max_elements = (unsigned)s->max_elements;
    o->keepalive = s->keepalive;
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

static void on_stanza(void *ud, xml_node *stanza)
{
    daemon_state *d = ud;
    gate_submit(d->gate, stanza);
}

/* What the gate let through: blocking IQs to the service, then the rest. */
static void on_pass(void *ud, xml_node *stanza)
{
    daemon_state *d = ud;
    if (!ublock_handle(d->ublock, stanza))
        service_handle(d->svc, stanza);
}

/* The desk stored a host server's copy of a user's block: reload the
 * user's list where it is loaded. */
static void on_desk_blocklist(void *ud, const char *owner)
{
    daemon_state *d = ud;
    ublock_reload(d->ublock, owner);
}

static bool in_room(void *ud, const char *local, const char *full)
{
    daemon_state *d = ud;
    return muc_is_occupant(service_muc(d->svc), local, full);
}

static unsigned room_rate(void *ud, const char *local)
{
    daemon_state *d = ud;
    return muc_room_message_rate(service_muc(d->svc), local);
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
    notify_status("component link down, reconnecting");
}

static void on_occupants_loaded(void *ud, int sessions)
{
    daemon_state *d = ud;
    if (sessions >= 0)
        log_info("%d occupant session%s seated again from Redis", sessions,
                 sessions == 1 ? "" : "s");
    else
        log_warn("occupants could not be read from Redis: nobody is seated again");
    open_link(d);
    recheck_start(d); /* Redis came back late, with the link already up */
}

static void on_rooms_loaded(void *ud, int rooms)
{
    daemon_state *d = ud;
    if (rooms >= 0)
        log_info("%d persistent room%s restored from Redis", rooms, rooms == 1 ? "" : "s");
    else
        log_warn("persistent rooms could not be read from Redis; will retry when it returns");
    d->rooms_loaded = rooms >= 0;
    if (rooms >= 0)
        muc_occstore_load(d->store, service_muc(d->svc), on_occupants_loaded, d);
    else
        open_link(d);
}

static void on_load_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    daemon_state *d = w->data;
    log_warn("Redis is not answering; opening the link without stored rooms for now");
    open_link(d);
}

static void on_redis_state(void *ud, rdb_state state)
{
    daemon_state *d = ud;
    gate_redis_state(d->gate, state);
    if (state != RDB_UP)
        return;
    muc_store_redis_up(d->store);
    if (!d->rooms_loaded)
        muc_store_load(d->store, service_muc(d->svc), on_rooms_loaded, d);
}

static void on_dropped(void *ud, xml_node *shell, const char *why)
{
    daemon_state *d = ud;
    service_reject(d->svc, shell, why);
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
    ev_timer_init(&d->shutdown_deadline, on_deadline, SHUTDOWN_GRACE, 0);
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
    /* Apply the reloadable keys; the others keep their running values. */
    log_set_level((log_level)fresh.log_level);
    service_set_name(d->svc, fresh.name);
    xstream_options o;
    stream_options_from(&fresh, &o);
    complink_set_stream_options(d->link, &o);
#define TAKE(f)                                                                                    \
    do {                                                                                           \
        d->cfg.f = fresh.f;                                                                        \
    } while (0)
    TAKE(keepalive);
    TAKE(max_stanza_size);
    TAKE(max_depth);
    TAKE(max_attributes);
    TAKE(max_elements);
    TAKE(log_level);
    TAKE(muc_on_stop);
#undef TAKE
    char *tmp = d->cfg.name;
    d->cfg.name = fresh.name;
    fresh.name = tmp;
    settings_free(&fresh);
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
    gateways_config gc = {
        .listen = d->cfg.gateways_listen,
        .port = (int)d->cfg.gateways_port,
        .secret = d->cfg.gateways_secret,
        .domain = d->cfg.domain,
        .host_domains = d->host_domains,
        .handshake_timeout = d->cfg.connect_timeout,
    };
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
    daemon_state d = {0};
    d.config_path = SYSCONFDIR "/stoa/stoa-component.conf";
    bool test_only = false, debug = false, force_syslog = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:tdVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            d.config_path = optarg;
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

    char err[512];
    if (settings_load(d.config_path, &d.cfg, err, sizeof err) < 0 ||
        settings_check_private(d.config_path, &d.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "stoa-component: %s\n", err);
        settings_free(&d.cfg);
        return EXIT_CONFIG;
    }
    if (test_only) {
        printf("stoa-component: %s: configuration OK\n", d.config_path);
        settings_free(&d.cfg);
        return 0;
    }
    log_init("stoa-component", debug ? LOG_LVL_DEBUG : (log_level)d.cfg.log_level,
             force_syslog || d.cfg.log_syslog);
    signal(SIGPIPE, SIG_IGN);

    d.loop = ev_default_loop(EVFLAG_AUTO);
    char **topics = settings_topics(&d.cfg);
    service_config sc = {
        .domain = d.cfg.domain,
        .name = d.cfg.name,
        .version = PACKAGE_VERSION,
        .muc =
            {
                .topics = (const char *const *)topics,
                .history_default = (unsigned)d.cfg.muc_history,
                .history_max = (unsigned)d.cfg.muc_history_max,
                .max_rooms = (unsigned)d.cfg.muc_max_rooms,
                .links_policy = d.cfg.links_policy,
                .stranger_seconds = (double)d.cfg.links_stranger_minutes * 60,
                .recheck_rate = (double)d.cfg.muc_recheck_rate,
                .recheck_timeout = d.cfg.muc_recheck_timeout,
            },
        .desk =
            {
                .moderators = d.cfg.desk_moderators,
                .report_servers = d.cfg.desk_report_servers,
                .report_retention = d.cfg.desk_report_retention,
                .escalate_window = d.cfg.desk_escalate_window,
                .escalate_reporters = (unsigned)d.cfg.desk_escalate_reporters,
                .reports_per_minute = (unsigned)d.cfg.desk_reports_per_minute,
                .audit_max = (unsigned)d.cfg.desk_audit_max,
            },
    };
    out sink = {link_begin, link_commit, &d, NS_COMPONENT};
    if (start_gateways(&d, &sink) < 0)
        return EXIT_CONFIG;
    d.svc = service_new(&sc, &sink);
    complink_config lc = {
        .host = d.cfg.server_host,
        .port = (int)d.cfg.server_port,
        .domain = d.cfg.domain,
        .secret = d.cfg.secret,
        .connect_timeout = d.cfg.connect_timeout,
        .backoff_min = d.cfg.reconnect_min,
        .backoff_max = d.cfg.reconnect_max,
    };
    stream_options_from(&d.cfg, &lc.stream);
    d.high_water = lc.stream.high_water;
    d.low_water = lc.stream.low_water;
    static const complink_callbacks lcb = {on_ready, on_stanza, on_down, on_stopped, on_dropped};
    d.link = complink_new(d.loop, &lc, &lcb, &d);
    settings_free_topics(topics);
    if (!d.svc || !d.link) {
        fprintf(stderr, "stoa-component: out of memory\n");
        return 1;
    }
    if (d.cfg.redis_enabled) {
        rdb_config rc = {
            .host = d.cfg.redis_host,
            .port = (int)d.cfg.redis_port,
            .password = d.cfg.redis_password,
            .db = (int)d.cfg.redis_db,
            .backoff_min = d.cfg.reconnect_min,
            .backoff_max = d.cfg.reconnect_max,
            .ping_interval = 5,
        };
        d.redis = rdb_new(d.loop, &rc, on_redis_state, &d);
        d.store = d.redis ? muc_store_new(d.redis, d.cfg.redis_prefix,
                                          (unsigned)d.cfg.muc_archive_max, 100000)
                          : NULL;
        if (!d.store) {
            fprintf(stderr, "stoa-component: out of memory\n");
            return 1;
        }
        muc_set_store(service_muc(d.svc), d.store);
        desk_set_redis(service_desk(d.svc), d.redis, d.cfg.redis_prefix);
    }
    _Static_assert(SETTINGS_RL_CLASSES == GATE_C__COUNT, "one rate limit per gate class");
    gate_config gc = {
        .enabled = d.cfg.rl_enabled,
        .domains_enabled = d.cfg.blocking_enabled,
        .prefix = d.cfg.redis_prefix,
        .violations = (unsigned)d.cfg.rl_violations,
        .violation_window = d.cfg.rl_violation_window,
        .mute_seconds = d.cfg.rl_mute,
        .queue_max = (size_t)d.cfg.rl_queue_max,
        .local_max = (size_t)d.cfg.rl_local_max,
        .block_domains = d.cfg.block_domains,
        .allow_domains = d.cfg.allow_domains,
        .only_domains = d.cfg.only_domains,
    };
    for (int i = 0; i < GATE_C__COUNT; i++) {
        gc.jid[i] = (gate_limit){d.cfg.rl_interval[i], (double)d.cfg.rl_burst[i]};
        gc.dom[i] = (gate_limit){d.cfg.rl_domain_interval[i], (double)d.cfg.rl_domain_burst[i]};
    }
    char gerr[256];
    d.gate = gate_new(&gc, d.redis, &sink, on_pass, in_room, &d, gerr, sizeof gerr);
    if (!d.gate) {
        fprintf(stderr, "stoa-component: %s\n", gerr);
        return EXIT_CONFIG;
    }
    gate_set_room_rate(d.gate, room_rate);
    gate_set_congested(d.gate, link_congested);
    if (d.cfg.blocking_enabled) {
        d.ublock = ublock_new(d.redis, d.cfg.redis_prefix, d.cfg.domain, &sink);
        if (!d.ublock) {
            fprintf(stderr, "stoa-component: out of memory\n");
            return 1;
        }
        muc_set_ublock(service_muc(d.svc), d.ublock);
        desk_on_blocklist(service_desk(d.svc), on_desk_blocklist, &d);
    }
    load_spam_domains(&d);

    ev_signal_init(&d.sigterm, on_terminate, SIGTERM);
    ev_signal_init(&d.sigint, on_terminate, SIGINT);
    ev_signal_init(&d.sighup, on_reload, SIGHUP);
    ev_signal_init(&d.sigusr1, on_terminate, SIGUSR1);
    d.sigterm.data = d.sigint.data = d.sighup.data = d.sigusr1.data = &d;
    ev_signal_start(d.loop, &d.sigterm);
    ev_signal_start(d.loop, &d.sigint);
    ev_signal_start(d.loop, &d.sighup);
    ev_signal_start(d.loop, &d.sigusr1);
    ev_timer_init(&d.recheck, on_recheck, RECHECK_TICK, RECHECK_TICK);
    d.recheck.data = &d;
    ev_prepare_init(&d.drained, on_drained);
    d.drained.data = &d;
    ev_prepare_start(d.loop, &d.drained);

    log_info("stoa-component %s starting: %s via %s:%ld", PACKAGE_VERSION, d.cfg.domain,
             d.cfg.server_host, d.cfg.server_port);
    notify_start(d.loop);
    ev_timer_init(&d.load_deadline, on_load_deadline, 3.0, 0);
    d.load_deadline.data = &d;
    if (d.redis) {
        ev_timer_start(d.loop, &d.load_deadline);
        rdb_start(d.redis);
    } else {
        complink_start(d.link);
    }
    ev_run(d.loop, 0);

    ev_timer_stop(d.loop, &d.shutdown_deadline);
    ev_timer_stop(d.loop, &d.load_deadline);
    notify_stop(d.loop);
    ev_signal_stop(d.loop, &d.sigterm);
    ev_signal_stop(d.loop, &d.sigint);
    ev_signal_stop(d.loop, &d.sighup);
    ev_signal_stop(d.loop, &d.sigusr1);
    ev_timer_stop(d.loop, &d.recheck);
    ev_prepare_stop(d.loop, &d.drained);
    /* The gate and ublock stop sending before the link goes. rdb goes
     * first of all: freeing it runs every callback still due (reply NULL),
     * and those name the gate's and ublock's entries, the desk, archive
     * queries (the rooms) and the room load (the link). */
    gate_close(d.gate);
    ublock_close(d.ublock);
    rdb_free(d.redis);
    gateways_free(d.gws);
    config_list_free(d.host_domains);
    complink_free(d.link);
    service_free(d.svc);
    muc_store_free(d.store);
    gate_free(d.gate);
    ublock_free(d.ublock);
    settings_free(&d.cfg);
    log_info("stopped");
    log_close();
    ev_loop_destroy(d.loop);
    return 0;
}
