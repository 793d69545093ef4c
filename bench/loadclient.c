/* loadclient: K real XMPP client connections in one process (libstrophe),
 * all in one chat room, for the benchmark's end-to-end runs.
 *
 *   loadclient --port P --host H --room ROOM@SERVICE --users K --password PW
 *              [--senders S] [--rate R | --window W] [--seconds T]
 *              [--field VAR=VALUE]... [--cpu NAME=PID]...
 *
 * Users u1..uK (all with password PW) log in to 127.0.0.1:P. u1 joins first
 * and submits the room configuration form (instant room, plus the --field
 * values, e.g. to make it persistent or archived), then the others join.
 * Once everyone is in, u1..uS send groupchat messages for T seconds, either
 * at R messages/s in total or unpaced with at most W of each sender's
 * messages not yet received by every one of the K users (the sender's own
 * copy from the room included). Each body carries the
 * sender's monotonic send time, so every receiver measures latency on the
 * same clock. Copies received by the senders themselves only pace them;
 * "delivered" counts copies received by the other K - S users.
 *
 * CPU seconds of each --cpu process are read over exactly the sending and
 * draining phase; the result is one "RESULT key=value ..." line. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "stats.h"

#define MAX_CPU 4

typedef struct client {
    struct load *load;
    xmpp_conn_t *conn;
    int index; /* 1-based: user u<index> */
    char nick[32];
    bool connected, joined, failed;
    long sent, echoed;
    long *got; /* messages received from each sender (u1..uS), in order */
} client;

typedef struct load {
    xmpp_ctx_t *ctx;
    client *clients;
    int k, senders;
    const char *room;
    bool measuring;
    double t0;
    long delivered, configured, errors;
    double last_rx;
    stats_samples lat;
} load;

static void fail(const char *msg)
{
    fprintf(stderr, "loadclient: %s\n", msg);
    exit(1);
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    (void)conn;
    client *c = ud;
    load *l = c->load;
    const char *type = xmpp_stanza_get_type(st);
    if (type && strcmp(type, "error") == 0) {
        l->errors++;
        return 1;
    }
    xmpp_stanza_t *body = xmpp_stanza_get_child_by_name(st, "body");
    if (!body)
        return 1;
    char *text = xmpp_stanza_get_text(body);
    if (!text)
        return 1;
    int sender;
    long seq;
    long long ns;
    if (sscanf(text, "bench %d %ld %lld", &sender, &seq, &ns) == 3) {
        double now = stats_now(), sent = (double)ns / 1e9;
        if (sender >= 1 && sender <= l->senders)
            c->got[sender - 1]++;
        if (sender == c->index) {
            c->echoed++;
        } else if (l->measuring && sent >= l->t0) {
            l->delivered++;
            stats_add(&l->lat, now - sent);
        }
        l->last_rx = now;
    }
    xmpp_free(l->ctx, text);
    return 1;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    (void)conn;
    client *c = ud;
    const char *type = xmpp_stanza_get_type(st);
    const char *from = xmpp_stanza_get_from(st);
    if (type && strcmp(type, "error") == 0) {
        fprintf(stderr, "loadclient: u%d: presence error from %s\n", c->index, from ? from : "?");
        c->failed = true;
        return 1;
    }
    /* Our own presence in the room: from ROOM/OURNICK (status 110 is not
     * sent by every room implementation). */
    size_t rl = strlen(c->load->room);
    if (from && strncmp(from, c->load->room, rl) == 0 && from[rl] == '/' &&
        strcmp(from + rl + 1, c->nick) == 0)
        c->joined = true;
    return 1;
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    (void)conn;
    client *c = ud;
    const char *id = xmpp_stanza_get_id(st);
    const char *type = xmpp_stanza_get_type(st);
    if (id && strcmp(id, "cfg") == 0) {
        if (type && strcmp(type, "error") == 0)
            fprintf(stderr, "loadclient: the room refused its configuration form "
                            "(going on with its defaults)\n");
        c->load->configured++;
    }
    return 1;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se,
                    void *ud)
{
    (void)conn;
    (void)se;
    client *c = ud;
    if (ev == XMPP_CONN_CONNECT) {
        c->connected = true;
        xmpp_send_raw_string(c->conn, "<presence/>");
    } else {
        if (!c->failed)
            fprintf(stderr, "loadclient: u%d: disconnected (error %d)\n", c->index, err);
        c->failed = true;
    }
}

static void run_until(load *l, bool (*done)(load *), double timeout, const char *what)
{
    double deadline = stats_now() + timeout;
    while (!done(l)) {
        for (int i = 0; i < l->k; i++)
            if (l->clients[i].failed) {
                fprintf(stderr, "loadclient: u%d failed while waiting for %s\n", i + 1, what);
                exit(1);
            }
        if (stats_now() > deadline) {
            fprintf(stderr, "loadclient: timed out waiting for %s\n", what);
            exit(1);
        }
        xmpp_run_once(l->ctx, 5);
    }
}

static bool all_connected(load *l)
{
    for (int i = 0; i < l->k; i++)
        if (!l->clients[i].connected)
            return false;
    return true;
}

static bool owner_joined(load *l)
{
    return l->clients[0].joined;
}

static bool owner_configured(load *l)
{
    return l->configured > 0;
}

static bool all_joined(load *l)
{
    for (int i = 0; i < l->k; i++)
        if (!l->clients[i].joined)
            return false;
    return true;
}

static void join(load *l, client *c)
{
    xmpp_send_raw_string(c->conn,
                         "<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'>"
                         "<history maxstanzas='0'/></x></presence>",
                         l->room, c->nick);
}

static void send_one(load *l, client *c)
{
    long long ns = (long long)(stats_now() * 1e9);
    xmpp_send_raw_string(c->conn,
                         "<message to='%s' type='groupchat'><body>bench %d %ld %lld</body>"
                         "</message>",
                         l->room, c->index, c->sent, ns);
    c->sent++;
}

/* The command line. */
typedef struct options {
    int port;
    const char *host, *password;
    double seconds, rate;
    long window;
    char fields[2048]; /* the --field values as form fields */
    const char *cpu_name[MAX_CPU];
    int cpu_pid[MAX_CPU], ncpu;
} options;

/* --field VAR=VALUE appended to o->fields as a form field. */
static void add_field(options *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        fail("--field wants VAR=VALUE");
    size_t used = strlen(o->fields);
    int n = snprintf(o->fields + used, sizeof o->fields - used,
                     "<field var='%.*s'><value>%s</value></field>", (int)(eq - arg), arg, eq + 1);
    if (n < 0 || (size_t)n >= sizeof o->fields - used)
        fail("too many --field");
}

/* --cpu NAME=PID: arg is cut at the '=' and keeps the name. */
static void add_cpu(options *o, char *arg)
{
    char *eq = strchr(arg, '=');
    if (!eq || o->ncpu == MAX_CPU)
        fail("--cpu wants NAME=PID (at most 4)");
    *eq = '\0';
    o->cpu_name[o->ncpu] = arg;
    o->cpu_pid[o->ncpu++] = atoi(eq + 1);
}

static void parse_args(int argc, char **argv, load *l, options *o)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},     {"host", required_argument, NULL, 'h'},
        {"room", required_argument, NULL, 'r'},     {"users", required_argument, NULL, 'k'},
        {"password", required_argument, NULL, 'P'}, {"senders", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'R'},     {"window", required_argument, NULL, 'w'},
        {"seconds", required_argument, NULL, 't'},  {"field", required_argument, NULL, 'f'},
        {"cpu", required_argument, NULL, 'c'},      {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            o->port = atoi(optarg);
            break;
        case 'h':
            o->host = optarg;
            break;
        case 'r':
            l->room = optarg;
            break;
        case 'k':
            l->k = atoi(optarg);
            break;
        case 'P':
            o->password = optarg;
            break;
        case 's':
            l->senders = atoi(optarg);
            break;
        case 'R':
            o->rate = atof(optarg);
            break;
        case 'w':
            o->window = atol(optarg);
            break;
        case 't':
            o->seconds = atof(optarg);
            break;
        case 'f':
            add_field(o, optarg);
            break;
        case 'c':
            add_cpu(o, optarg);
            break;
        default:
            fail("bad option (see the comment at the top of bench/loadclient.c)");
        }
    }
    if (o->port <= 0 || !l->room || !o->password || l->k < 2 || l->senders < 1 ||
        l->senders >= l->k)
        fail("usage: loadclient --port P --room ROOM --users K --password PW [...]");
}

/* Logs users u1..uK in, and waits until all are. */
static void connect_all(load *l, const options *o)
{
    xmpp_initialize();
    l->ctx = xmpp_ctx_new(NULL, NULL);
    l->clients = calloc((size_t)l->k, sizeof *l->clients);
    if (!l->ctx || !l->clients)
        fail("out of memory");
    for (int i = 0; i < l->k; i++) {
        client *c = &l->clients[i];
        c->load = l;
        c->index = i + 1;
        snprintf(c->nick, sizeof c->nick, "n%d", c->index);
        c->conn = xmpp_conn_new(l->ctx);
        c->got = calloc((size_t)l->senders, sizeof *c->got);
        if (!c->conn || !c->got)
            fail("out of memory");
        char jid[128];
        snprintf(jid, sizeof jid, "u%d@%s/bench", c->index, o->host);
        xmpp_conn_set_jid(c->conn, jid);
        xmpp_conn_set_pass(c->conn, o->password);
        /* Loopback benchmark: TLS would measure the ciphers, and stream
         * management would add acks the rooms have nothing to do with. */
        xmpp_conn_set_flags(c->conn, XMPP_CONN_FLAG_DISABLE_TLS | XMPP_CONN_FLAG_DISABLE_SM);
        xmpp_handler_add(c->conn, on_message, NULL, "message", NULL, c);
        xmpp_handler_add(c->conn, on_presence, NULL, "presence", NULL, c);
        xmpp_handler_add(c->conn, on_iq, NULL, "iq", NULL, c);
        if (xmpp_connect_client(c->conn, "127.0.0.1", (unsigned short)o->port, on_conn, c) != 0)
            fail("cannot start connecting");
    }
    run_until(l, all_connected, 60, "logins");
}

/* u1 makes and configures the room, then everyone else joins; returns
 * once join traffic settled. */
static void fill_room(load *l, const options *o)
{
    join(l, &l->clients[0]);
    run_until(l, owner_joined, 20, "the owner's join");
    xmpp_send_raw_string(l->clients[0].conn,
                         "<iq type='set' id='cfg' to='%s'>"
                         "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                         "<x xmlns='jabber:x:data' type='submit'>"
                         "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
                         "</value></field>%s</x></query></iq>",
                         l->room, o->fields);
    run_until(l, owner_configured, 20, "the room configuration");
    for (int i = 1; i < l->k; i++)
        join(l, &l->clients[i]);
    run_until(l, all_joined, 60, "joins");
    /* Let join traffic settle before measuring. */
    double settle = stats_now() + 0.5;
    while (stats_now() < settle)
        xmpp_run_once(l->ctx, 5);
}

/* The senders send until o->seconds after l->t0; returns how many
 * messages they sent. */
static long send_for(load *l, const options *o)
{
    double stop = l->t0 + o->seconds;
    long total_sent = 0;
    while (stats_now() < stop) {
        double now = stats_now();
        for (int i = 0; i < l->senders; i++) {
            client *c = &l->clients[i];
            if (o->rate > 0) {
                /* Paced: each sender keeps to its share of the offered rate. */
                long due = (long)((now - l->t0) * o->rate / l->senders) + 1;
                while (c->sent < due && c->sent - c->echoed < 10000)
                    send_one(l, c);
            } else {
                /* Unpaced, but closed-loop on the slowest receiver: a
                 * server that acks its sender quickly while other
                 * receivers fall behind must not look faster for it. */
                long slowest = c->sent;
                for (int j = 0; j < l->k; j++)
                    if (l->clients[j].got[i] < slowest)
                        slowest = l->clients[j].got[i];
                while (c->sent - slowest < o->window)
                    send_one(l, c);
            }
        }
        xmpp_run_once(l->ctx, 1);
        for (int i = 0; i < l->k; i++)
            if (l->clients[i].failed)
                fail("a client was disconnected during the run");
    }
    for (int i = 0; i < l->senders; i++)
        total_sent += l->clients[i].sent;
    return total_sent;
}

/* Drain: until every sender saw all its messages echoed, nothing has come
 * for half a second, or 10 s passed. */
static void drain(load *l)
{
    double drain_end = stats_now() + 10;
    l->last_rx = stats_now();
    for (;;) {
        bool all = true;
        for (int i = 0; i < l->senders; i++)
            for (int j = 0; j < l->k; j++)
                all = all && l->clients[j].got[i] >= l->clients[i].sent;
        double now = stats_now();
        if ((all && now - l->last_rx > 0.2) || now - l->last_rx > 0.5 || now > drain_end)
            break;
        xmpp_run_once(l->ctx, 1);
    }
}

int main(int argc, char **argv)
{
    load l = {.k = 26, .senders = 1};
    options o = {.host = "localhost", .seconds = 5, .window = 8};
    parse_args(argc, argv, &l, &o);
    connect_all(&l, &o);
    fill_room(&l, &o);

    double cpu0[MAX_CPU];
    for (int i = 0; i < o.ncpu; i++)
        cpu0[i] = stats_cpu(o.cpu_pid[i]);
    double me0 = stats_self_cpu();
    l.t0 = stats_now();
    l.measuring = true;
    long total_sent = send_for(&l, &o);
    drain(&l);
    double t1 = l.last_rx > l.t0 ? l.last_rx : stats_now();
    double wall = t1 - l.t0;
    printf("RESULT users=%d senders=%d sent=%ld delivered=%ld errors=%ld wall_s=%.3f "
           "rate_wall=%.0f p50_ms=%.3f p99_ms=%.3f driver_cpu_s=%.3f",
           l.k, l.senders, total_sent, l.delivered, l.errors, wall, l.delivered / wall,
           stats_pct(&l.lat, 50) * 1e3, stats_pct(&l.lat, 99) * 1e3, stats_self_cpu() - me0);
    for (int i = 0; i < o.ncpu; i++)
        printf(" cpu_%s_s=%.3f", o.cpu_name[i], stats_cpu(o.cpu_pid[i]) - cpu0[i]);
    printf("\n");
    fflush(stdout);
    /* No orderly logout: the servers are stopped right after, and 26
     * logouts would only add noise to the next measurement. */
    return 0;
}
