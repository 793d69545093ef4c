/* A server-to-server stream (lib/s2s*.c) on any bytes from its peer.
 *
 * Input: one byte of flags (bit 0: we initiated the stream, else the peer
 * did; bit 1: dialback claims are answered valid; bits 2-7: the size of
 * the pieces the rest is fed in, 1 to 64 bytes), then the peer's bytes.
 * The stream runs over a socket pair without TLS (as only tests may), so
 * the fuzzer reaches the features, dialback both ways, db:verify and
 * stanzas. What must hold, beyond no crash, leak or undefined behaviour:
 * - everything the stream writes is one well-formed XML stream (a header,
 *   then elements, maybe the close), whatever it was sent;
 * - every stanza it delivers serializes to XML that parses back. */
#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fuzzutil.h"
#include "ns.h"
#include "s2s.h"
#include "xmlparse.h"

#define LOCAL "rooms.example.org"
#define REMOTE "remote.example"

static const char *const locals[] = {LOCAL, NULL};

typedef struct run {
    s2s *s;
    bool answer_valid;
} run;

static void on_ready(void *ud, s2s *s, const char *local, const char *remote)
{
    (void)ud;
    (void)s;
    (void)local;
    (void)remote;
}

static void on_stanza(void *ud, s2s *s, xml_node *st)
{
    (void)ud;
    (void)s;
    char *str = xml_to_string(st, NS_SERVER);
    if (!str)
        abort();
    xml_node *again = fz_stanza(str, strlen(str));
    if (!again) {
        fprintf(stderr, "a delivered stanza serializes to XML that does not parse:\n%s\n", str);
        abort();
    }
    xml_free(again);
    free(str);
    xml_free(st);
}

static void on_verify_needed(void *ud, s2s *s, const char *local, const char *remote,
                             const char *id, const char *key)
{
    (void)id;
    (void)key;
    s2s_dialback_result(s, local, remote, ((run *)ud)->answer_valid);
}

static void on_verify_result(void *ud, s2s *s, const char *local, const char *remote,
                             const char *id, bool valid)
{
    (void)ud;
    (void)s;
    (void)local;
    (void)remote;
    (void)id;
    (void)valid;
}

static void on_closed(void *ud, s2s *s, const char *why)
{
    (void)why;
    s2s_free(s);
    ((run *)ud)->s = NULL;
}

static const s2s_callbacks cbs = {on_ready,         on_stanza, on_verify_needed,
                                  on_verify_result, on_closed, NULL};

/* The peer's view of what we wrote: one stream. */
static void p_open(void *ud, xml_node *h)
{
    (void)ud;
    xml_free(h);
}

static void p_stanza(void *ud, xml_node *st)
{
    (void)ud;
    xml_free(st);
}

static void p_close(void *ud)
{
    (void)ud;
}

static void p_dropped(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    (void)ud;
    (void)why;
    (void)text;
    xml_free(shell);
}

static const xmlparse_callbacks peer_cbs = {p_open, p_stanza, p_close, p_dropped};

static void check_written(const buf *out)
{
    static const xmlparse_limits lim = {1 << 20, 64, 256, 1 << 16};
    if (buf_unread_len(out) == 0)
        return;
    xmlparse *p = xmlparse_new(&lim, &peer_cbs, NULL);
    if (!p)
        abort();
    xmlparse_err e = xmlparse_feed(p, buf_unread(out), buf_unread_len(out));
    if (e != XMLPARSE_OK) {
        fprintf(stderr, "the stream wrote what a peer cannot parse (%s):\n%.*s\n",
                xmlparse_error_text(p), (int)buf_unread_len(out), buf_unread(out));
        abort();
    }
    xmlparse_free(p);
}

static void drain(int fd, buf *out)
{
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        buf_append(out, tmp, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ev_loop *loop;
    if (!loop && !(loop = ev_loop_new(EVFLAG_AUTO)))
        abort();
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t piece = 1 + ((flags >> 2) & 63);
    data++;
    size--;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        abort();
    s2s_config c = {0};
    c.local_domains = locals;
    c.dialback_secret = "fuzz-secret";
    c.dialback = true;
    c.setup_timeout = 30;
    xstream_options_default(&c.stream);
    c.stream.keepalive = 0;
    c.stream.limits.max_stanza_bytes = 4096;
    c.stream.limits.max_depth = 8;
    run r = {NULL, (flags & 2) != 0};
    r.s = flags & 1 ? s2s_connect(loop, sv[0], false, LOCAL, REMOTE, &c, &cbs, &r)
                    : s2s_accept(loop, sv[0], false, &c, &cbs, &r);
    if (!r.s)
        abort();
    if (flags & 1)
        s2s_send_verify(r.s, LOCAL, REMOTE, "fz-id", "0123abcd");
    buf out = {0};
    for (size_t off = 0; off < size && r.s; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        if (write(sv[1], data + off, n) != (ssize_t)n)
            break;
        for (int i = 0; i < 4; i++)
            ev_run(loop, EVRUN_NOWAIT);
        drain(sv[1], &out);
    }
    for (int i = 0; i < 4 && r.s; i++)
        ev_run(loop, EVRUN_NOWAIT);
    drain(sv[1], &out);
    check_written(&out);
    buf_free(&out);
    s2s_free(r.s);
    close(sv[1]);
    /* Anything the freed stream left on the loop would show up here. */
    ev_run(loop, EVRUN_NOWAIT);
    return 0;
}
