/* compdrive: drives stoa-component alone, playing the host server's side of
 * XEP-0114, and prints what it measured as one "RESULT key=value ..." line.
 *
 *   compdrive --port P --pid-file F --scenario msg|join|disco [options]
 *
 * It listens on 127.0.0.1:P, accepts the component's connection, answers the
 * stream header and accepts any handshake (the secret is not what is being
 * measured), then plays as many users as needed: u<k>@localhost/r, nick n<k>,
 * in rooms r<i>@DOMAIN.
 *
 *   msg    one room of --occupants N; occupants take turns sending groupchat
 *          messages, at most --window messages waiting for their last copy,
 *          for --seconds. Latency is measured from sending to the first and
 *          to the last of the N copies (the id carries the sequence number
 *          that keys the send time).
 *   join   --rooms R rooms of --occupants N; the first occupant of each room
 *          creates and configures it, then the others join, --window joins in
 *          flight. Reports joins/s and, after the last join, the component's
 *          RSS and peak RSS (the memory scenario is a large join run).
 *   disco  disco#info queries, alternately to the service and to a room.
 *
 * CPU seconds come from /proc/PID/stat of the component (its pid is read
 * from the pid file once the link is up), so "per core" rates need no
 * assumption about how busy the machine was. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "buf.h"
#include "scan.h"
#include "stats.h"

typedef struct drive {
    int fd;
    buf out;
    scan sc;
    const char *domain;
    const char *host;
    bool handshake_seen;
    bool trace;   /* COMPDRIVE_TRACE=1: every stanza received on stderr */
    bool closing; /* we ended the stream: its end from the peer is expected */
    /* counters (monotonic for the whole run) */
    long stanzas;
    long joined;     /* self-presences (status 110) */
    long configured; /* owner form results */
    long errors;     /* stanzas of type error */
    long disco_done;
    /* the message scenario */
    int room_size;
    double *sent_at; /* by sequence number */
    int *copies;
    size_t nmsgs, msgs_cap;
    long msgs_done;
    long copies_total;
    stats_samples first, last;
    /* the disco scenario */
    stats_samples disco_lat;
    double last_rx;
} drive;

static void die(const char *what)
{
    fprintf(stderr, "compdrive: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *msg)
{
    fprintf(stderr, "compdrive: %s\n", msg);
    exit(1);
}

static void out_printf(drive *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(drive *d, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp || buf_append(&d->out, tmp, (size_t)n) < 0)
        fail("cannot queue output");
}

static long parse_seq(const char *v, size_t n, char prefix)
{
    if (!v || n < 2 || v[0] != prefix)
        return -1;
    long x = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static bool is_error(const char *s, size_t n)
{
    size_t tl;
    const char *t = scan_attr(s, n, "type", &tl);
    return t && tl == 5 && memcmp(t, "error", 5) == 0;
}

static void on_stanza(void *ud, const char *s, size_t n)
{
    drive *d = ud;
    double now = stats_now();
    if (d->trace)
        fprintf(stderr, "compdrive: << %.*s\n", (int)n, s);
    d->stanzas++;
    d->last_rx = now;
    if (scan_is(s, n, "message")) {
        if (is_error(s, n)) {
            d->errors++;
            return;
        }
        size_t il = 0;
        const char *id = scan_attr(s, n, "id", &il);
        long seq = parse_seq(id, il, 'b');
        if (seq < 0 || (size_t)seq >= d->nmsgs)
            return;
        d->copies_total++;
        int c = ++d->copies[seq];
        if (c == 1)
            stats_add(&d->first, now - d->sent_at[seq]);
        if (c == d->room_size) {
            stats_add(&d->last, now - d->sent_at[seq]);
            d->msgs_done++;
        }
    } else if (scan_is(s, n, "presence")) {
        if (is_error(s, n))
            d->errors++;
        else if (scan_find(s, n, "code=\"110\"") || scan_find(s, n, "code='110'"))
            d->joined++;
    } else if (scan_is(s, n, "iq")) {
        size_t il = 0;
        const char *id = scan_attr(s, n, "id", &il);
        if (is_error(s, n)) {
            d->errors++;
            fprintf(stderr, "compdrive: error reply: %.*s\n", (int)(n > 600 ? 600 : n), s);
        }
        if (id && il > 0 && id[0] == 'c')
            d->configured++;
        long seq = parse_seq(id, il, 'd');
        if (seq >= 0 && (size_t)seq < d->nmsgs) {
            stats_add(&d->disco_lat, now - d->sent_at[seq]);
            d->disco_done++;
        }
    } else if (scan_is(s, n, "handshake")) {
        d->handshake_seen = true;
    }
}

/* One round of I/O: writes what it can, reads what is there (waiting at most
 * timeout_ms for something to happen). */
static void pump(drive *d, int timeout_ms)
{
    struct pollfd pfd = {.fd = d->fd, .events = POLLIN};
    if (buf_unread_len(&d->out))
        pfd.events |= POLLOUT;
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0) {
        if (errno == EINTR)
            return;
        die("poll");
    }
    if (pfd.revents & POLLOUT) {
        ssize_t w = send(d->fd, buf_unread(&d->out), buf_unread_len(&d->out), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            die("send");
        if (w > 0) {
            buf_consume(&d->out, (size_t)w);
            if (buf_unread_len(&d->out) == 0)
                buf_reset(&d->out);
        }
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
        static char rb[1 << 18];
        for (int i = 0; i < 8; i++) {
            ssize_t n = recv(d->fd, rb, sizeof rb, 0);
            if (n == 0) {
                if (d->closing)
                    return;
                fail("the component closed the connection");
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                die("recv");
            }
            if (scan_feed(&d->sc, rb, (size_t)n, on_stanza, d) < 0)
                fail("out of memory");
            if (d->sc.ended && !d->closing)
                fail("the component ended the stream");
            if ((size_t)n < sizeof rb)
                break;
        }
    }
}

static void wait_until(drive *d, const long *counter, long target, double timeout, const char *what)
{
    double deadline = stats_now() + timeout;
    while (*counter < target) {
        if (stats_now() > deadline) {
            fprintf(stderr, "compdrive: timed out waiting for %s (%ld of %ld)\n", what, *counter,
                    target);
            exit(1);
        }
        pump(d, 50);
    }
}

static void ensure_msgs(drive *d, size_t n)
{
    if (n <= d->msgs_cap)
        return;
    size_t cap = d->msgs_cap ? d->msgs_cap : 65536;
    while (cap < n)
        cap *= 2;
    double *s = realloc(d->sent_at, cap * sizeof *s);
    if (!s)
        fail("out of memory");
    d->sent_at = s;
    int *c = realloc(d->copies, cap * sizeof *c);
    if (!c)
        fail("out of memory");
    memset(c + d->msgs_cap, 0, (cap - d->msgs_cap) * sizeof *c);
    d->copies = c;
    d->msgs_cap = cap;
}

static void send_join(drive *d, long user, long room)
{
    out_printf(d,
               "<presence from='u%ld@%s/r' to='r%ld@%s/n%ld'>"
               "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>",
               user, d->host, room, d->domain, user);
}

static void send_config(drive *d, long user, long room, bool persistent)
{
    out_printf(d,
               "<iq type='set' id='c%ld' from='u%ld@%s/r' to='r%ld@%s'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'>"
               "<x xmlns='jabber:x:data' type='submit'>"
               "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value>"
               "</field><field var='muc#roomconfig_persistentroom'><value>%d</value></field>"
               "</x></query></iq>",
               room, user, d->host, room, d->domain, persistent ? 1 : 0);
}

/* Creates rooms [0, rooms) with occupants users each (user k of room i is
 * i * occupants + k), window joins in flight. */
static void setup_rooms(drive *d, long rooms, long occupants, long window, bool persistent)
{
    long base_joined = d->joined, base_conf = d->configured;
    long sent = 0;
    while (sent < rooms || d->joined - base_joined < rooms) {
        while (sent < rooms && sent - (d->joined - base_joined) < window) {
            send_join(d, sent * occupants, sent);
            sent++;
        }
        pump(d, 50);
    }
    for (long i = 0; i < rooms; i++)
        send_config(d, i * occupants, i, persistent);
    wait_until(d, &d->configured, base_conf + rooms, 60, "room configuration");
    long total = rooms * (occupants - 1), done0 = d->joined;
    sent = 0;
    double deadline = stats_now() + 600;
    while (sent < total || d->joined - done0 < total) {
        while (sent < total && sent - (d->joined - done0) < window) {
            long room = sent / (occupants - 1), k = 1 + sent % (occupants - 1);
            send_join(d, room * occupants + k, room);
            sent++;
        }
        pump(d, 50);
        if (stats_now() > deadline)
            fail("joins did not complete within 600 s");
    }
}

static void drain(drive *d, double quiet)
{
    /* Reads until nothing arrived for `quiet` seconds. */
    d->last_rx = stats_now();
    while (stats_now() - d->last_rx < quiet)
        pump(d, 20);
}

static int listen_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    if (listen(s, 4) < 0)
        die("listen");
    return s;
}

static int read_pid(const char *path)
{
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            int pid = 0;
            int ok = fscanf(f, "%d", &pid);
            fclose(f);
            if (ok == 1 && pid > 0)
                return pid;
        }
        usleep(20000);
    }
    fail("no pid in the pid file");
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: compdrive --port P --pid-file F --scenario msg|join|disco\n"
                    "  [--domain D] [--occupants N] [--rooms R] [--seconds T] [--window W]\n"
                    "  [--persistent]\n");
    exit(2);
}

/* The command line. */
typedef struct options {
    int port;
    const char *pid_file, *scenario;
    long occupants, rooms, window;
    double seconds;
    bool persistent;
} options;

static void parse_args(int argc, char **argv, drive *d, options *o)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},      {"pid-file", required_argument, NULL, 'f'},
        {"scenario", required_argument, NULL, 's'},  {"domain", required_argument, NULL, 'd'},
        {"occupants", required_argument, NULL, 'n'}, {"rooms", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 't'},   {"window", required_argument, NULL, 'w'},
        {"persistent", no_argument, NULL, 'P'},      {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->port = atoi(optarg);
            break;
        case 'f':
            o->pid_file = optarg;
            break;
        case 's':
            o->scenario = optarg;
            break;
        case 'd':
            d->domain = optarg;
            break;
        case 'n':
            o->occupants = atol(optarg);
            break;
        case 'r':
            o->rooms = atol(optarg);
            break;
        case 't':
            o->seconds = atof(optarg);
            break;
        case 'w':
            o->window = atol(optarg);
            break;
        case 'P':
            o->persistent = true;
            break;
        default:
            usage();
        }
    }
    if (o->port <= 0 || !o->pid_file || !o->scenario || o->occupants < 2 || o->rooms < 1)
        usage();
}

/* Waits for the component on port and answers its XEP-0114 opening, server
 * side. */
static void accept_component(drive *d, int port)
{
    int ls = listen_on(port);
    printf("LISTENING %d\n", port);
    fflush(stdout);
    d->fd = accept(ls, NULL, NULL);
    if (d->fd < 0)
        die("accept");
    close(ls);
    int one = 1;
    setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) | O_NONBLOCK);

    double deadline = stats_now() + 10;
    while (!d->sc.opened) {
        if (stats_now() > deadline)
            fail("no stream header from the component");
        pump(d, 50);
    }
    out_printf(d,
               "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
               "xmlns:stream='http://etherx.jabber.org/streams' from='%s' id='bench%d'>",
               d->domain, (int)getpid());
    while (!d->handshake_seen) {
        if (stats_now() > deadline)
            fail("no handshake from the component");
        pump(d, 50);
    }
    out_printf(d, "<handshake/>");
}

/* Groupchat messages to one room of o->occupants, window of them in flight. */
static void run_msg(drive *d, int pid, const options *o)
{
    long occupants = o->occupants, window = o->window;
    setup_rooms(d, 1, occupants, 64, o->persistent);
    drain(d, 0.3);
    d->room_size = (int)occupants;
    if (window <= 0)
        window = occupants >= 20000 ? 1 : 20000 / occupants;
    long base_stanzas = d->stanzas;
    double cpu0 = stats_cpu(pid), me0 = stats_self_cpu(), t0 = stats_now();
    double stop = t0 + o->seconds;
    size_t seq = 0;
    while (stats_now() < stop) {
        while ((long)seq - d->msgs_done < window) {
            ensure_msgs(d, seq + 1);
            long u = (long)(seq % (size_t)occupants);
            d->sent_at[seq] = stats_now();
            d->nmsgs = seq + 1;
            out_printf(d,
                       "<message type='groupchat' id='b%zu' from='u%ld@%s/r' to='r0@%s'>"
                       "<body>benchmark message %zu</body></message>",
                       seq, u, d->host, d->domain, seq);
            seq++;
        }
        pump(d, 50);
    }
    /* Let what was sent arrive (bounded: a lost copy must not hang us). */
    double drain_end = stats_now() + 10;
    while (d->msgs_done < (long)seq && stats_now() < drain_end)
        pump(d, 20);
    if (d->msgs_done < (long)seq) {
        long partial = 0, none = 0;
        for (size_t i = 0; i < seq; i++) {
            partial += d->copies[i] > 0 && d->copies[i] < d->room_size;
            none += d->copies[i] == 0;
        }
        fprintf(stderr,
                "compdrive: %ld of %zu messages did not reach all %d occupants "
                "(%ld partly, %ld not at all)\n",
                (long)seq - d->msgs_done, seq, d->room_size, partial, none);
    }
    double t1 = d->last_rx > t0 ? d->last_rx : stats_now();
    double cpu = stats_cpu(pid) - cpu0, wall = t1 - t0, me = stats_self_cpu() - me0;
    long delivered = d->copies_total;
    printf("RESULT scenario=msg occupants=%ld sent=%zu complete=%ld delivered=%ld "
           "stanzas=%ld errors=%ld wall_s=%.3f cpu_s=%.3f rate_wall=%.0f rate_cpu=%.0f "
           "p50_first_ms=%.3f p99_first_ms=%.3f p50_last_ms=%.3f p99_last_ms=%.3f "
           "driver_cpu_s=%.3f rss_kib=%ld hwm_kib=%ld\n",
           occupants, seq, d->msgs_done, delivered, d->stanzas - base_stanzas, d->errors, wall, cpu,
           delivered / wall, cpu > 0 ? delivered / cpu : 0, stats_pct(&d->first, 50) * 1e3,
           stats_pct(&d->first, 99) * 1e3, stats_pct(&d->last, 50) * 1e3,
           stats_pct(&d->last, 99) * 1e3, me, stats_vm_kib(pid, "VmRSS"),
           stats_vm_kib(pid, "VmHWM"));
}

/* o->rooms rooms of o->occupants made and joined, window joins in flight. */
static void run_join(drive *d, int pid, const options *o)
{
    long rooms = o->rooms, occupants = o->occupants, window = o->window;
    if (window <= 0)
        window = 64;
    long rss0 = stats_vm_kib(pid, "VmRSS");
    long base_stanzas = d->stanzas;
    double cpu0 = stats_cpu(pid), me0 = stats_self_cpu(), t0 = stats_now();
    setup_rooms(d, rooms, occupants, window, o->persistent);
    double t1 = stats_now();
    double cpu = stats_cpu(pid) - cpu0, wall = t1 - t0, me = stats_self_cpu() - me0;
    drain(d, 0.5);
    long joins = rooms * occupants, stanzas = d->stanzas - base_stanzas;
    printf("RESULT scenario=join rooms=%ld occupants=%ld joins=%ld delivered=%ld errors=%ld "
           "wall_s=%.3f cpu_s=%.3f joins_wall=%.0f joins_cpu=%.0f rate_wall=%.0f "
           "rate_cpu=%.0f driver_cpu_s=%.3f rss0_kib=%ld rss_kib=%ld hwm_kib=%ld\n",
           rooms, occupants * rooms, joins, stanzas, d->errors, wall, cpu, joins / wall,
           cpu > 0 ? joins / cpu : 0, stanzas / wall, cpu > 0 ? stanzas / cpu : 0, me, rss0,
           stats_vm_kib(pid, "VmRSS"), stats_vm_kib(pid, "VmHWM"));
}

/* disco#info queries, to the service and to a room by turns. */
static void run_disco(drive *d, int pid, const options *o)
{
    long window = o->window;
    setup_rooms(d, 1, o->occupants, 64, o->persistent);
    drain(d, 0.3);
    if (window <= 0)
        window = 256;
    long base_stanzas = d->stanzas;
    double cpu0 = stats_cpu(pid), me0 = stats_self_cpu(), t0 = stats_now();
    double stop = t0 + o->seconds;
    size_t seq = 0;
    while (stats_now() < stop) {
        while ((long)seq - d->disco_done < window) {
            ensure_msgs(d, seq + 1);
            d->sent_at[seq] = stats_now();
            d->nmsgs = seq + 1;
            out_printf(d,
                       "<iq type='get' id='d%zu' from='u0@%s/r' to='%s%s'>"
                       "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
                       seq, d->host, seq % 2 ? "r0@" : "", d->domain);
            seq++;
        }
        pump(d, 50);
    }
    double drain_end = stats_now() + 10;
    while (d->disco_done < (long)seq && stats_now() < drain_end)
        pump(d, 20);
    double t1 = d->last_rx > t0 ? d->last_rx : stats_now();
    double cpu = stats_cpu(pid) - cpu0, wall = t1 - t0, me = stats_self_cpu() - me0;
    long delivered = d->stanzas - base_stanzas;
    printf("RESULT scenario=disco sent=%zu delivered=%ld errors=%ld wall_s=%.3f cpu_s=%.3f "
           "rate_wall=%.0f rate_cpu=%.0f p50_ms=%.3f p99_ms=%.3f driver_cpu_s=%.3f "
           "rss_kib=%ld hwm_kib=%ld\n",
           seq, delivered, d->errors, wall, cpu, delivered / wall, cpu > 0 ? delivered / cpu : 0,
           stats_pct(&d->disco_lat, 50) * 1e3, stats_pct(&d->disco_lat, 99) * 1e3, me,
           stats_vm_kib(pid, "VmRSS"), stats_vm_kib(pid, "VmHWM"));
}

/* Closes the stream, lets the close go out, and frees the drive. */
static void finish(drive *d)
{
    d->closing = true;
    out_printf(d, "</stream:stream>");
    for (int i = 0; i < 20 && buf_unread_len(&d->out); i++)
        pump(d, 50);
    close(d->fd);
    scan_free(&d->sc);
    buf_free(&d->out);
    free(d->sent_at);
    free(d->copies);
    stats_free(&d->first);
    stats_free(&d->last);
    stats_free(&d->disco_lat);
}

int main(int argc, char **argv)
{
    drive d = {.fd = -1, .domain = "rooms.localhost", .host = "localhost"};
    options o = {.occupants = 10, .rooms = 1, .seconds = 5};
    parse_args(argc, argv, &d, &o);
    d.trace = getenv("COMPDRIVE_TRACE") != NULL;
    scan_init(&d.sc);
    accept_component(&d, o.port);
    int pid = read_pid(o.pid_file);

    if (strcmp(o.scenario, "msg") == 0)
        run_msg(&d, pid, &o);
    else if (strcmp(o.scenario, "join") == 0)
        run_join(&d, pid, &o);
    else if (strcmp(o.scenario, "disco") == 0)
        run_disco(&d, pid, &o);
    else
        usage();
    fflush(stdout);
    finish(&d);
    return 0;
}
