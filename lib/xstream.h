/* xstream: one XML stream over a non-blocking transport, on libev.
 *
 * The engine every Stoa stream uses: the XEP-0114 component link and the
 * gateway's server-to-server streams. It reads and writes through a
 * transport (transport.h: a plain socket, or TLS over one), which STARTTLS
 * replaces in the middle of the connection (xstream_starttls), and runs a
 * transport's handshake before anything else. It reads with a libev watcher,
 * feeds xmlparse, queues output and writes it when the socket is writable,
 * so everything sent during one loop iteration leaves in one write() call.
 *
 * Backpressure: when more than `high_water` bytes wait to be written the
 * stream stops reading its peer (whatever we send is caused by what we read,
 * so this bounds memory), and resumes below `low_water`.
 *
 * Keepalive: after `keepalive` seconds with nothing written, a single space
 * is sent (RFC 6120 4.6.1), because servers drop idle component links.
 *
 * Ownership: the xstream owns its fd (or transport) from xstream_new() on and
 * closes it.
 * Stanzas handed to on_stanza belong to the callback. The owner frees the
 * xstream with xstream_free(), which is safe from inside any callback: the
 * actual release is deferred until the callback returns. */
#ifndef STOA_XSTREAM_H
#define STOA_XSTREAM_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "transport.h"
#include "xml.h"
#include "xmlparse.h"

typedef struct xstream xstream;

typedef enum {
    XSTREAM_CLOSED_LOCAL = 0, /* we closed it (xstream_close) */
    XSTREAM_CLOSED_PEER,      /* peer sent </stream:stream> and we answered */
    XSTREAM_CLOSED_EOF,       /* peer closed the TCP connection */
    XSTREAM_CLOSED_IO_ERROR,  /* read/write error (detail has strerror) */
    XSTREAM_CLOSED_BAD_INPUT, /* peer sent bad XML or broke a limit; we sent a stream error */
    XSTREAM_CLOSED_TIMEOUT,   /* closing handshake took too long */
    XSTREAM_CLOSED_TLS,       /* the TLS handshake failed (detail says why) */
} xstream_close_reason;

typedef struct xstream_callbacks {
    void (*on_open)(void *ud, xml_node *header);   /* peer's stream header; callee owns it */
    void (*on_stanza)(void *ud, xml_node *stanza); /* callee owns it */
    /* The stream is over and the fd closed; called once. detail may be NULL. */
    void (*on_closed)(void *ud, xstream_close_reason why, const char *detail);
    /* A stanza skipped for breaking a limit (see xmlparse.h); callee owns
     * the shell. NULL: ignored. */
    void (*on_dropped)(void *ud, xml_node *shell, const char *why);
    /* The transport's handshake (TLS) completed; NULL: nothing to do. The
     * owner checks the peer's certificate here and may close the stream. */
    void (*on_secured)(void *ud);
    /* Bad input is about to end the stream with a stream error; NULL:
     * nothing. A receiving entity that has not sent its header yet writes
     * it here (xstream_send_raw), since RFC 6120 4.9.1.3 wants the header
     * before the error even when the peer's own header was the problem. */
    void (*before_error)(void *ud);
} xstream_callbacks;

/* Builds the transport that replaces `inner` after STARTTLS, taking
 * ownership of it (it is freed, with its descriptor, on failure too).
 * NULL on failure. */
typedef transport *(*xstream_wrap_fn)(void *arg, transport *inner);

typedef struct xstream_options {
    xmlparse_limits limits;
    const char *content_ns; /* default namespace of stanzas, e.g. NS_COMPONENT */
    double keepalive;       /* seconds of output silence before a space; 0: off */
    size_t high_water;      /* stop reading above this many queued bytes */
    size_t low_water;       /* resume reading below this */
    double close_timeout;   /* seconds to wait for the peer's </stream:stream> */
} xstream_options;

/* Defaults suited to a component link. */
void xstream_options_default(xstream_options *o);

/* Wraps a connected non-blocking fd. Returns NULL on OOM (fd not closed). */
xstream *xstream_new(struct ev_loop *loop, int fd, const xstream_options *opt,
                     const xstream_callbacks *cb, void *ud);
/* The same over a transport (owned from now on, freed on failure too). A
 * transport with a handshake (direct TLS) runs it first: what is queued
 * meanwhile leaves after it, and on_secured follows it. */
xstream *xstream_new_transport(struct ev_loop *loop, transport *t, const xstream_options *opt,
                               const xstream_callbacks *cb, void *ud);
void xstream_free(xstream *xs);

/* Queues bytes as they are (stream header, handshake). 0 or -1 when the
 * stream is closing or on OOM. */
int xstream_send_raw(xstream *xs, const char *data, size_t n);
/* Direct access to the output queue (see out.h): append serialized stanzas
 * between begin and commit (out_stanza serializes one tree). begin returns
 * NULL when the stream is closing. */
buf *xstream_out_begin(xstream *xs);
void xstream_out_commit(xstream *xs);
/* Closes gracefully: optional stream error (condition in
 * urn:ietf:params:xml:ns:xmpp-streams, text may be NULL), then
 * </stream:stream>; waits for the queue to drain and the peer's close (up to
 * close_timeout), then calls on_closed(XSTREAM_CLOSED_LOCAL). */
void xstream_close(xstream *xs, const char *condition, const char *text);
/* Restarts the parser for a new stream on the same connection (after
 * STARTTLS or SASL). */
int xstream_restart(xstream *xs);
/* STARTTLS: stops reading, lets what is queued (the <proceed/> or
 * <starttls/>) leave in the clear, then has wrap(arg, current) build the TLS
 * transport, runs its handshake and calls on_secured; the parser starts a
 * new stream. Nothing the peer sent after the element that asked for TLS is
 * read in the clear. -1 when the stream is closing. */
int xstream_starttls(xstream *xs, xstream_wrap_fn wrap, void *arg);
/* The current transport (to read the peer's certificate). */
transport *xstream_transport(xstream *xs);
void xstream_set_options(xstream *xs, const xstream_options *opt);
size_t xstream_queued(const xstream *xs);
bool xstream_is_open(const xstream *xs);

#endif
