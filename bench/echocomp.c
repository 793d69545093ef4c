/* echocomp: the do-nothing chat room component, the ceiling for the
 * benchmark's end-to-end runs.
 *
 *   echocomp --port P --domain D --secret S [--mimic] [--expand JID]
 *
 * It connects to a host server's XEP-0114 listener and keeps, per room, the
 * list of JIDs that sent it presence. Each groupchat message is reflected to
 * every one of them, with the least markup a MUC message can have; each
 * presence gets a self-presence (status 110) back; each IQ gets an empty
 * result. There is no roster broadcast, no history, no occupant-id, no
 * stanza-id: whatever a real room component costs the host server beyond
 * this is the room's own doing, which is what the comparison is for.
 * --mimic adds the two elements every Stoa groupchat copy carries
 * (XEP-0359 stanza-id, XEP-0421 occupant-id), to measure what they cost the
 * host server. --expand sends each message once, to the host's fan-out
 * expander JID (XEP-0033, one bcc address per recipient), instead of one copy
 * per recipient: the most an external component can get through that host
 * with the expander. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "scan.h"
#include "stats.h"

#define MAX_ROOMS 64
#define MAX_MEMBERS 4096

typedef struct member {
    char jid[256];
    char nick[64];
} member;

typedef struct room {
    char name[128]; /* the room's bare JID */
    member *members;
    size_t n;
} room;

typedef struct echo {
    int fd;
    buf out;
    scan sc;
    const char *domain, *secret;
    bool ready;
    bool mimic;         /* --mimic: add Stoa's stanza-id and occupant-id to each copy */
    const char *expand; /* --expand JID: one stanza with a bcc list, to JID */
    unsigned long seq;
    room rooms[MAX_ROOMS];
    size_t nrooms;
} echo;

static void fail(const char *msg)
{
    fprintf(stderr, "echocomp: %s\n", msg);
    exit(1);
}

static void put(echo *e, const char *s, size_t n)
{
    if (buf_append(&e->out, s, n) < 0)
        fail("out of memory");
}

static void puts0(echo *e, const char *s)
{
    put(e, s, strlen(s));
}

/* Copies an attribute value into dst (NUL-terminated); false if absent or
 * too long. */
static bool attr(const char *s, size_t n, const char *name, char *dst, size_t cap)
{
    size_t l;
    const char *v = scan_attr(s, n, name, &l);
    if (!v || l >= cap)
        return false;
    memcpy(dst, v, l);
    dst[l] = '\0';
    return true;
}

static room *find_room(echo *e, const char *bare, bool create)
{
    for (size_t i = 0; i < e->nrooms; i++)
        if (strcmp(e->rooms[i].name, bare) == 0)
            return &e->rooms[i];
    if (!create || e->nrooms == MAX_ROOMS || strlen(bare) >= sizeof e->rooms[0].name)
        return NULL;
    room *r = &e->rooms[e->nrooms++];
    strcpy(r->name, bare);
    r->members = calloc(MAX_MEMBERS, sizeof *r->members);
    if (!r->members)
        fail("out of memory");
    return r;
}

static void on_presence(echo *e, const char *s, size_t n)
{
    char from[256], to[256], type[32] = "";
    if (!attr(s, n, "from", from, sizeof from) || !attr(s, n, "to", to, sizeof to))
        return;
    attr(s, n, "type", type, sizeof type);
    char *slash = strchr(to, '/');
    if (!slash)
        return;
    *slash = '\0';
    const char *nick = slash + 1;
    room *r = find_room(e, to, true);
    if (!r)
        return;
    size_t i;
    for (i = 0; i < r->n; i++)
        if (strcmp(r->members[i].jid, from) == 0)
            break;
    if (strcmp(type, "unavailable") == 0) {
        if (i < r->n)
            r->members[i] = r->members[--r->n];
        return;
    }
    if (i == r->n) {
        if (r->n == MAX_MEMBERS || strlen(nick) >= sizeof r->members[0].nick)
            return;
        strcpy(r->members[i].jid, from);
        strcpy(r->members[i].nick, nick);
        r->n++;
    }
    char tmp[1024];
    int l =
        snprintf(tmp, sizeof tmp,
                 "<presence from='%s/%s' to='%s'><x xmlns='http://jabber.org/protocol/muc#user'>"
                 "<item affiliation='none' role='participant'/><status code='110'/></x>"
                 "</presence>",
                 to, nick, from);
    if (l > 0 && (size_t)l < sizeof tmp)
        put(e, tmp, (size_t)l);
}

static void on_message(echo *e, const char *s, size_t n)
{
    char from[256], to[256], type[32] = "", id[128] = "";
    if (!attr(s, n, "from", from, sizeof from) || !attr(s, n, "to", to, sizeof to))
        return;
    attr(s, n, "type", type, sizeof type);
    if (strcmp(type, "groupchat") != 0)
        return;
    attr(s, n, "id", id, sizeof id);
    room *r = find_room(e, to, false);
    if (!r)
        return;
    const char *nick = NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->members[i].jid, from) == 0)
            nick = r->members[i].nick;
    if (!nick)
        return;
    /* The payload: what lies between the start tag and </message>. */
    const char *gt = memchr(s, '>', n);
    if (!gt || gt[-1] == '/')
        return;
    const char *inner = gt + 1;
    size_t inner_len = (size_t)(s + n - inner) - strlen("</message>");
    char head[512];
    int hl = snprintf(head, sizeof head, "<message type='groupchat' from='%s/%s' id='%s' to='", to,
                      nick, id);
    if (hl <= 0 || (size_t)hl >= sizeof head)
        return;
    char extra[512] = "";
    if (e->mimic)
        snprintf(extra, sizeof extra,
                 "<stanza-id xmlns='urn:xmpp:sid:0' id='%016lx' by='%s'/>"
                 "<occupant-id xmlns='urn:xmpp:occupant-id:0' "
                 "id='46a0af32d4ce2753ada292c1b1cd7882'/>",
                 e->seq++, to);
    if (e->expand) {
        put(e, head, (size_t)hl);
        puts0(e, e->expand);
        put(e, "'>", 2);
        put(e, inner, inner_len);
        puts0(e, extra);
        puts0(e, "<addresses xmlns='http://jabber.org/protocol/address'>");
        for (size_t i = 0; i < r->n; i++) {
            puts0(e, "<address type='bcc' jid='");
            puts0(e, r->members[i].jid);
            put(e, "'/>", 3);
        }
        puts0(e, "</addresses></message>");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        put(e, head, (size_t)hl);
        puts0(e, r->members[i].jid);
        put(e, "'>", 2);
        put(e, inner, inner_len);
        puts0(e, extra);
        put(e, "</message>", 10);
    }
}

static void on_iq(echo *e, const char *s, size_t n)
{
    char from[256], to[256], type[32] = "", id[128] = "";
    if (!attr(s, n, "from", from, sizeof from) || !attr(s, n, "to", to, sizeof to))
        return;
    attr(s, n, "type", type, sizeof type);
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return;
    attr(s, n, "id", id, sizeof id);
    char tmp[1024];
    int l =
        snprintf(tmp, sizeof tmp, "<iq type='result' from='%s' to='%s' id='%s'/>", to, from, id);
    if (l > 0 && (size_t)l < sizeof tmp)
        put(e, tmp, (size_t)l);
}

static void on_stanza(void *ud, const char *s, size_t n)
{
    echo *e = ud;
    if (scan_is(s, n, "message"))
        on_message(e, s, n);
    else if (scan_is(s, n, "presence"))
        on_presence(e, s, n);
    else if (scan_is(s, n, "iq"))
        on_iq(e, s, n);
    else if (scan_is(s, n, "handshake")) {
        e->ready = true;
        fprintf(stderr, "echocomp: component link ready: %s\n", e->domain);
    } else if (scan_find(s, n, "stream:error"))
        fail("stream error from the server");
}

static void send_handshake(echo *e)
{
    unsigned char dg[20];
    char in[512], hex[41];
    int l = snprintf(in, sizeof in, "%s%s", e->sc.stream_id, e->secret);
    if (l < 0 || (size_t)l >= sizeof in)
        fail("secret too long");
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, in, (size_t)l, dg) < 0)
        fail("SHA-1 failed");
    for (int i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    puts0(e, "<handshake>");
    puts0(e, hex);
    puts0(e, "</handshake>");
}

int main(int argc, char **argv)
{
    echo e = {.fd = -1, .domain = "echo.localhost", .secret = NULL};
    int port = 0;
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},   {"domain", required_argument, NULL, 'd'},
        {"secret", required_argument, NULL, 's'}, {"mimic", no_argument, NULL, 'm'},
        {"expand", required_argument, NULL, 'x'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'd':
            e.domain = optarg;
            break;
        case 's':
            e.secret = optarg;
            break;
        case 'm':
            e.mimic = true;
            break;
        case 'x':
            e.expand = optarg;
            break;
        default:
            fail("usage: echocomp --port P --domain D --secret S");
        }
    }
    if (port <= 0 || !e.secret)
        fail("usage: echocomp --port P --domain D --secret S");
    scan_init(&e.sc);
    e.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (e.fd < 0 || connect(e.fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("echocomp: connect");
        return 1;
    }
    int one = 1;
    setsockopt(e.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
             "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>",
             e.domain);
    puts0(&e, hdr);
    bool handshake_sent = false;
    static char rb[1 << 18];
    for (;;) {
        struct pollfd pfd = {.fd = e.fd, .events = POLLIN};
        if (buf_unread_len(&e.out))
            pfd.events |= POLLOUT;
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("echocomp: poll");
            return 1;
        }
        if (pfd.revents & POLLOUT) {
            ssize_t w =
                send(e.fd, buf_unread(&e.out), buf_unread_len(&e.out), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                perror("echocomp: send");
                return 1;
            }
            if (w > 0) {
                buf_consume(&e.out, (size_t)w);
                if (!buf_unread_len(&e.out))
                    buf_reset(&e.out);
            }
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(e.fd, rb, sizeof rb, MSG_DONTWAIT);
            if (n == 0) {
                fprintf(stderr, "echocomp: the server closed the connection\n");
                return 0;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                perror("echocomp: recv");
                return 1;
            }
            if (scan_feed(&e.sc, rb, (size_t)n, on_stanza, &e) < 0)
                fail("out of memory");
            if (e.sc.opened && !handshake_sent) {
                send_handshake(&e);
                handshake_sent = true;
            }
            if (e.sc.ended) {
                fprintf(stderr, "echocomp: the server ended the stream\n");
                return 0;
            }
        }
    }
}
