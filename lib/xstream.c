#include "xstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ns.h"

#define READ_CHUNK 65536

typedef enum { XS_OPEN, XS_CLOSING, XS_DEAD } xs_state;

struct xstream {
    struct ev_loop *loop;
    transport *tr;
    ev_io rw, ww;
    ev_timer keepalive, close_timer;
    xmlparse *parser;
    xstream_options opt;
    char *content_ns;
    xstream_callbacks cb;
    void *ud;
    buf out;
    ev_tstamp last_write;
    xs_state state;
    bool reading;
    /* Closing: what on_closed will report, and whether we still wait for the
     * peer's </stream:stream> (only when we started a polite close). */
    xstream_close_reason close_reason;
    bool wait_peer_close;
    bool peer_closed;
    char *close_detail;
    /* Re-entrancy: callbacks may free the stream; the release waits until
     * the outermost libev callback of this stream returns. */
    unsigned busy;
    bool free_pending;
    bool restart_pending;
    /* STARTTLS: the transport is replaced once the queue has drained. */
    xstream_wrap_fn tls_wrap;
    void *tls_arg;
    bool handshaking; /* the transport's handshake runs; no stanza I/O */
};

static void finish(xstream *xs, xstream_close_reason why, const char *detail);

void xstream_options_default(xstream_options *o)
{
    memset(o, 0, sizeof *o);
    o->limits.max_stanza_bytes = 256 * 1024;
    o->limits.max_depth = 32;
    o->limits.max_attrs = 64;
    o->limits.max_elements = 4096;
    o->content_ns = NS_COMPONENT;
    o->keepalive = 60;
    o->high_water = 4 * 1024 * 1024;
    o->low_water = 1024 * 1024;
    o->close_timeout = 5;
}

static void set_reading(xstream *xs, bool on)
{
    /* While TLS is being set up, the watchers follow the handshake. */
    if (on == xs->reading || xs->state == XS_DEAD || xs->handshaking || xs->tls_wrap)
        return;
    xs->reading = on;
    if (on)
        ev_io_start(xs->loop, &xs->rw);
    else
        ev_io_stop(xs->loop, &xs->rw);
}

static void release(xstream *xs)
{
    ev_io_stop(xs->loop, &xs->rw);
    ev_io_stop(xs->loop, &xs->ww);
    ev_timer_stop(xs->loop, &xs->keepalive);
    ev_timer_stop(xs->loop, &xs->close_timer);
    transport_free(xs->tr);
    xmlparse_free(xs->parser);
    buf_free(&xs->out);
    free(xs->content_ns);
    free(xs->close_detail);
    free(xs);
}

static void enter(xstream *xs)
{
    xs->busy++;
}

/* Returns false when the stream was released and must not be touched. */
static bool leave(xstream *xs)
{
    if (--xs->busy == 0 && xs->free_pending) {
        release(xs);
        return false;
    }
    return true;
}

/* Completes a polite close once everything we queued has left and, if we
 * began it, the peer has answered with its own close tag. */
static void check_close_done(xstream *xs)
{
    if (xs->state != XS_CLOSING || buf_unread_len(&xs->out) > 0)
        return;
    if (xs->wait_peer_close && !xs->peer_closed)
        return;
    finish(xs, xs->close_reason, xs->close_detail);
}

static void start_closing(xstream *xs, xstream_close_reason why, const char *detail, bool wait_peer)
{
    xs->state = XS_CLOSING;
    xs->close_reason = why;
    xs->wait_peer_close = wait_peer;
    free(xs->close_detail);
    xs->close_detail = detail ? strdup(detail) : NULL;
    ev_timer_stop(xs->loop, &xs->keepalive);
    ev_timer_set(&xs->close_timer, xs->opt.close_timeout, 0);
    ev_timer_start(xs->loop, &xs->close_timer);
    if (buf_unread_len(&xs->out) > 0)
        ev_io_start(xs->loop, &xs->ww);
    /* Keep reading while closing, to see the peer's close tag or EOF, even if
     * the output had been backed up. */
    set_reading(xs, true);
    check_close_done(xs);
}

static void queue_stream_error(xstream *xs, const char *condition, const char *text)
{
    buf_puts(&xs->out, "<stream:error><");
    buf_puts(&xs->out, condition);
    buf_puts(&xs->out, " xmlns='" NS_STREAM_ERRORS "'/>");
    if (text) {
        buf_puts(&xs->out, "<text xmlns='" NS_STREAM_ERRORS "'>");
        buf_append_xml_escaped(&xs->out, text, strlen(text));
        buf_puts(&xs->out, "</text>");
    }
    buf_puts(&xs->out, "</stream:error>");
}

static void finish(xstream *xs, xstream_close_reason why, const char *detail)
{
    if (xs->state == XS_DEAD)
        return;
    /* detail may point into close_detail or the transport's error text;
     * copy before either is freed. */
    char *d = detail ? strdup(detail) : NULL;
    xs->state = XS_DEAD;
    ev_io_stop(xs->loop, &xs->rw);
    ev_io_stop(xs->loop, &xs->ww);
    ev_timer_stop(xs->loop, &xs->keepalive);
    ev_timer_stop(xs->loop, &xs->close_timer);
    xs->reading = false;
    xs->handshaking = false;
    xs->tls_wrap = NULL;
    transport_free(xs->tr);
    xs->tr = NULL;
    if (xs->cb.on_closed && !xs->free_pending)
        xs->cb.on_closed(xs->ud, why, d);
    free(d);
}

/* ---- parser callbacks ---- */

static void p_open(void *ud, xml_node *header)
{
    xstream *xs = ud;
    if (xs->state == XS_OPEN && xs->cb.on_open && !xs->free_pending)
        xs->cb.on_open(xs->ud, header);
    else
        xml_free(header);
}

static void p_stanza(void *ud, xml_node *stanza)
{
    xstream *xs = ud;
    /* Stanzas that arrive after we began closing have nobody left to serve
     * them; the owner has already said goodbye. */
    if (xs->state == XS_OPEN && xs->cb.on_stanza && !xs->free_pending)
        xs->cb.on_stanza(xs->ud, stanza);
    else
        xml_free(stanza);
    if (xs->free_pending || xs->restart_pending)
        xmlparse_stop(xs->parser);
}

static void p_dropped(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    (void)why;
    xstream *xs = ud;
    if (xs->state == XS_OPEN && xs->cb.on_dropped && !xs->free_pending)
        xs->cb.on_dropped(xs->ud, shell, text);
    else
        xml_free(shell);
}

static void p_close(void *ud)
{
    xstream *xs = ud;
    xs->peer_closed = true;
    if (xs->state == XS_OPEN) {
        buf_puts(&xs->out, "</stream:stream>");
        start_closing(xs, XSTREAM_CLOSED_PEER, "peer closed the stream", false);
    } else {
        check_close_done(xs);
    }
}

/* ---- libev callbacks ---- */

static void handle_bad_input(xstream *xs, xmlparse_err err)
{
    const char *cond = xmlparse_err_condition(err);
    const char *text = xmlparse_error_text(xs->parser);
    char detail[300];
    snprintf(detail, sizeof detail, "%s: %s", cond, text);
    if (xs->cb.before_error && !xs->free_pending)
        xs->cb.before_error(xs->ud);
    queue_stream_error(xs, cond, text);
    buf_puts(&xs->out, "</stream:stream>");
    start_closing(xs, XSTREAM_CLOSED_BAD_INPUT, detail, false);
}

/* Hands what was read to the parser, while the stream still wants input. */
static void feed(xstream *xs, const char *data, size_t n)
{
    if (xs->state == XS_OPEN || (xs->state == XS_CLOSING && xs->wait_peer_close)) {
        xmlparse_err err = xmlparse_feed(xs->parser, data, n);
        if (err != XMLPARSE_OK && err != XMLPARSE_ERR_CLOSED && xs->state == XS_OPEN &&
            !xs->free_pending)
            handle_bad_input(xs, err);
        if (xs->restart_pending && !xs->free_pending) {
            xs->restart_pending = false;
            xmlparse_reset(xs->parser);
        }
    }
}

static bool may_read(const xstream *xs)
{
    return xs->state != XS_DEAD && !xs->free_pending && !xs->handshaking && !xs->tls_wrap;
}

/* Reads while the transport has input: a TLS transport can hold decrypted
 * records that the socket no longer signals. */
static void read_input(xstream *xs)
{
    char data[READ_CHUNK];
    do {
        ssize_t n = transport_read(xs->tr, data, sizeof data);
        if (n == TRANSPORT_AGAIN) {
            /* TLS may have to write before it can read on. */
            if (transport_wants(xs->tr) == EV_WRITE)
                ev_io_start(xs->loop, &xs->ww);
            return;
        }
        if (n < 0) {
            finish(xs, XSTREAM_CLOSED_IO_ERROR, transport_error(xs->tr));
            return;
        }
        if (n == 0) {
            finish(xs, xs->state == XS_CLOSING ? xs->close_reason : XSTREAM_CLOSED_EOF,
                   xs->state == XS_CLOSING ? xs->close_detail : "connection closed by peer");
            return;
        }
        feed(xs, data, (size_t)n);
    } while (may_read(xs) && xs->reading && transport_pending(xs->tr) > 0);
}

/* STARTTLS, once the queue has drained: the TLS transport replaces the
 * plain one and its handshake begins. */
static void advance_handshake(xstream *xs);

static void begin_tls(xstream *xs)
{
    xstream_wrap_fn wrap = xs->tls_wrap;
    xs->tls_wrap = NULL;
    xs->tr = wrap(xs->tls_arg, xs->tr);
    if (!xs->tr) {
        finish(xs, XSTREAM_CLOSED_TLS, "cannot set up TLS");
        return;
    }
    xs->handshaking = true;
    advance_handshake(xs);
}

static void advance_handshake(xstream *xs)
{
    int rc = transport_handshake(xs->tr);
    if (rc == TRANSPORT_AGAIN) {
        bool wr = transport_wants(xs->tr) == EV_WRITE;
        if (wr) {
            ev_io_stop(xs->loop, &xs->rw);
            ev_io_start(xs->loop, &xs->ww);
        } else {
            ev_io_stop(xs->loop, &xs->ww);
            ev_io_start(xs->loop, &xs->rw);
        }
        return;
    }
    if (rc < 0) {
        finish(xs, XSTREAM_CLOSED_TLS, transport_error(xs->tr));
        return;
    }
    xs->handshaking = false;
    ev_io_stop(xs->loop, &xs->rw);
    ev_io_stop(xs->loop, &xs->ww);
    xs->reading = false;
    if (xs->cb.on_secured && !xs->free_pending)
        xs->cb.on_secured(xs->ud);
    if (xs->state == XS_DEAD || xs->free_pending)
        return;
    if (buf_unread_len(&xs->out) > 0)
        ev_io_start(xs->loop, &xs->ww);
    set_reading(xs, true);
    if (transport_pending(xs->tr) > 0)
        read_input(xs);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    xstream *xs = w->data;
    enter(xs);
    if (xs->handshaking)
        advance_handshake(xs);
    else if (may_read(xs))
        read_input(xs);
    leave(xs);
}

static void write_output(xstream *xs)
{
    while (buf_unread_len(&xs->out) > 0) {
        ssize_t n = transport_write(xs->tr, buf_unread(&xs->out), buf_unread_len(&xs->out));
        if (n == TRANSPORT_AGAIN)
            break;
        if (n < 0) {
            finish(xs, XSTREAM_CLOSED_IO_ERROR, transport_error(xs->tr));
            return;
        }
        buf_consume(&xs->out, (size_t)n);
        xs->last_write = ev_now(xs->loop);
    }
    if (buf_unread_len(&xs->out) == 0) {
        ev_io_stop(xs->loop, &xs->ww);
        /* A burst can leave a large buffer behind; keep a modest one. */
        buf_shrink(&xs->out, 64 * 1024);
        if (xs->tls_wrap) {
            begin_tls(xs);
            return;
        }
        /* A TLS read that had to wait for a write goes on. */
        if (xs->reading && transport_pending(xs->tr) > 0)
            read_input(xs);
    }
    if (xs->state == XS_OPEN && !xs->reading && buf_unread_len(&xs->out) <= xs->opt.low_water)
        set_reading(xs, true);
    check_close_done(xs);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    xstream *xs = w->data;
    enter(xs);
    if (xs->handshaking)
        advance_handshake(xs);
    else if (xs->state != XS_DEAD && !xs->free_pending)
        write_output(xs);
    leave(xs);
}

static void on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    xstream *xs = w->data;
    if (xs->state != XS_OPEN || xs->opt.keepalive <= 0)
        return;
    if (xs->handshaking || xs->tls_wrap) {
        ev_timer_again(loop, w);
        return;
    }
    ev_tstamp idle = ev_now(loop) - xs->last_write;
    if (idle >= xs->opt.keepalive && buf_unread_len(&xs->out) == 0) {
        xstream_send_raw(xs, " ", 1);
        idle = 0;
    }
    /* Sleep until the link would next become idle for a full period. */
    w->repeat = xs->opt.keepalive - idle;
    if (w->repeat < 0.01)
        w->repeat = 0.01;
    ev_timer_again(loop, w);
}

static void on_close_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    xstream *xs = w->data;
    enter(xs);
    if (xs->close_reason == XSTREAM_CLOSED_LOCAL && xs->wait_peer_close && !xs->peer_closed)
        finish(xs, XSTREAM_CLOSED_TIMEOUT, "peer did not close the stream in time");
    else
        finish(xs, xs->close_reason, xs->close_detail);
    leave(xs);
}

/* ---- public API ---- */

static xstream *create(struct ev_loop *loop, transport *t, const xstream_options *opt,
                       const xstream_callbacks *cb, void *ud)
{
    xstream *xs = calloc(1, sizeof *xs);
    if (!xs)
        return NULL;
    static const xmlparse_callbacks pcb = {p_open, p_stanza, p_close, p_dropped};
    xs->loop = loop;
    xs->opt = *opt;
    xs->content_ns = strdup(opt->content_ns ? opt->content_ns : NS_COMPONENT);
    xs->parser = xmlparse_new(&opt->limits, &pcb, xs);
    if (!xs->content_ns || !xs->parser) {
        xmlparse_free(xs->parser);
        free(xs->content_ns);
        free(xs);
        return NULL;
    }
    xs->tr = t;
    xs->opt.content_ns = xs->content_ns;
    xs->cb = *cb;
    xs->ud = ud;
    xs->state = XS_OPEN;
    xs->last_write = ev_now(loop);
    ev_io_init(&xs->rw, on_read, t->fd, EV_READ);
    ev_io_init(&xs->ww, on_write, t->fd, EV_WRITE);
    xs->rw.data = xs->ww.data = xs;
    ev_init(&xs->keepalive, on_keepalive);
    ev_init(&xs->close_timer, on_close_timeout);
    xs->keepalive.data = xs->close_timer.data = xs;
    if (transport_has_handshake(t)) {
        /* Direct TLS: the handshake starts from the loop, so that
         * on_secured never runs inside this constructor. */
        xs->handshaking = true;
        ev_io_start(loop, &xs->ww);
    } else {
        set_reading(xs, true);
    }
    if (opt->keepalive > 0) {
        xs->keepalive.repeat = opt->keepalive;
        ev_timer_again(loop, &xs->keepalive);
    }
    return xs;
}

xstream *xstream_new(struct ev_loop *loop, int fd, const xstream_options *opt,
                     const xstream_callbacks *cb, void *ud)
{
    transport *t = transport_socket_new(fd);
    if (!t)
        return NULL;
    xstream *xs = create(loop, t, opt, cb, ud);
    if (!xs) {
        t->fd = -1; /* the caller keeps its descriptor on failure */
        transport_free(t);
    }
    return xs;
}

xstream *xstream_new_transport(struct ev_loop *loop, transport *t, const xstream_options *opt,
                               const xstream_callbacks *cb, void *ud)
{
    xstream *xs = create(loop, t, opt, cb, ud);
    if (!xs)
        transport_free(t);
    return xs;
}

void xstream_free(xstream *xs)
{
    if (!xs)
        return;
    if (xs->busy > 0) {
        xs->free_pending = true;
        ev_io_stop(xs->loop, &xs->rw);
        ev_io_stop(xs->loop, &xs->ww);
        ev_timer_stop(xs->loop, &xs->keepalive);
        ev_timer_stop(xs->loop, &xs->close_timer);
        xmlparse_stop(xs->parser);
        return;
    }
    release(xs);
}

static void after_queue(xstream *xs)
{
    ev_io_start(xs->loop, &xs->ww);
    if (xs->state == XS_OPEN && buf_unread_len(&xs->out) > xs->opt.high_water)
        set_reading(xs, false);
}

int xstream_send_raw(xstream *xs, const char *data, size_t n)
{
    if (xs->state != XS_OPEN || xs->free_pending)
        return -1;
    if (buf_append(&xs->out, data, n) < 0)
        return -1;
    after_queue(xs);
    return 0;
}

buf *xstream_out_begin(xstream *xs)
{
    return xs->state == XS_OPEN && !xs->free_pending ? &xs->out : NULL;
}

void xstream_out_commit(xstream *xs)
{
    if (xs->state == XS_OPEN && buf_unread_len(&xs->out) > 0)
        after_queue(xs);
}

void xstream_close(xstream *xs, const char *condition, const char *text)
{
    if (xs->state != XS_OPEN || xs->free_pending)
        return;
    if (condition)
        queue_stream_error(xs, condition, text);
    buf_puts(&xs->out, "</stream:stream>");
    start_closing(xs, XSTREAM_CLOSED_LOCAL, condition, !xs->peer_closed);
}

int xstream_restart(xstream *xs)
{
    if (xs->busy > 0) {
        xs->restart_pending = true;
        xmlparse_stop(xs->parser);
        return 0;
    }
    return xmlparse_reset(xs->parser);
}

int xstream_starttls(xstream *xs, xstream_wrap_fn wrap, void *arg)
{
    if (xs->state != XS_OPEN || xs->free_pending || xs->handshaking || xs->tls_wrap)
        return -1;
    /* Not a byte more in the clear: what follows is the TLS handshake. */
    ev_io_stop(xs->loop, &xs->rw);
    xs->reading = false;
    xs->tls_wrap = wrap;
    xs->tls_arg = arg;
    if (xstream_restart(xs) < 0)
        return -1;
    /* on_write begins TLS once the queue is empty, from the loop. */
    ev_io_start(xs->loop, &xs->ww);
    return 0;
}

transport *xstream_transport(xstream *xs)
{
    return xs->tr;
}

void xstream_set_options(xstream *xs, const xstream_options *opt)
{
    const char *ns = xs->opt.content_ns;
    xs->opt = *opt;
    xs->opt.content_ns = ns; /* the content namespace is fixed for a stream's life */
    xmlparse_set_limits(xs->parser, &opt->limits);
    if (xs->state == XS_OPEN) {
        if (opt->keepalive > 0) {
            xs->keepalive.repeat = opt->keepalive;
            ev_timer_again(xs->loop, &xs->keepalive);
        } else {
            ev_timer_stop(xs->loop, &xs->keepalive);
        }
    }
}

size_t xstream_queued(const xstream *xs)
{
    return buf_unread_len(&xs->out);
}

bool xstream_is_open(const xstream *xs)
{
    return xs->state == XS_OPEN && !xs->free_pending;
}
