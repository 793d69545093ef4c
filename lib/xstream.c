#include "xstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "ns.h"

#define READ_CHUNK 65536

typedef enum { XS_OPEN, XS_CLOSING, XS_DEAD } xs_state;

struct xstream {
    struct ev_loop *loop;
    int fd;
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
    if (on == xs->reading || xs->state == XS_DEAD)
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
    if (xs->fd >= 0)
        close(xs->fd);
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
    xs->state = XS_DEAD;
    ev_io_stop(xs->loop, &xs->rw);
    ev_io_stop(xs->loop, &xs->ww);
    ev_timer_stop(xs->loop, &xs->keepalive);
    ev_timer_stop(xs->loop, &xs->close_timer);
    xs->reading = false;
    if (xs->fd >= 0) {
        close(xs->fd);
        xs->fd = -1;
    }
    /* detail may point into close_detail; copy before anyone frees it. */
    char *d = detail ? strdup(detail) : NULL;
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
    queue_stream_error(xs, cond, text);
    buf_puts(&xs->out, "</stream:stream>");
    start_closing(xs, XSTREAM_CLOSED_BAD_INPUT, detail, false);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    xstream *xs = w->data;
    char data[READ_CHUNK];
    ssize_t n = read(xs->fd, data, sizeof data);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    enter(xs);
    if (n < 0) {
        finish(xs, XSTREAM_CLOSED_IO_ERROR, strerror(errno));
    } else if (n == 0) {
        finish(xs, xs->state == XS_CLOSING ? xs->close_reason : XSTREAM_CLOSED_EOF,
               xs->state == XS_CLOSING ? xs->close_detail : "connection closed by peer");
    } else if (xs->state == XS_OPEN || (xs->state == XS_CLOSING && xs->wait_peer_close)) {
        xmlparse_err err = xmlparse_feed(xs->parser, data, (size_t)n);
        if (err != XMLPARSE_OK && err != XMLPARSE_ERR_CLOSED && xs->state == XS_OPEN &&
            !xs->free_pending)
            handle_bad_input(xs, err);
        if (xs->restart_pending && !xs->free_pending) {
            xs->restart_pending = false;
            xmlparse_reset(xs->parser);
        }
    }
    leave(xs);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    xstream *xs = w->data;
    size_t len = buf_unread_len(&xs->out);
    if (len == 0) {
        ev_io_stop(xs->loop, &xs->ww);
        return;
    }
    ssize_t n = send(xs->fd, buf_unread(&xs->out), len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    enter(xs);
    if (n < 0) {
        finish(xs, XSTREAM_CLOSED_IO_ERROR, strerror(errno));
    } else {
        buf_consume(&xs->out, (size_t)n);
        xs->last_write = ev_now(xs->loop);
        if (buf_unread_len(&xs->out) == 0) {
            ev_io_stop(xs->loop, &xs->ww);
            /* A burst can leave a large buffer behind; keep a modest one. */
            buf_shrink(&xs->out, 64 * 1024);
        }
        if (xs->state == XS_OPEN && !xs->reading && buf_unread_len(&xs->out) <= xs->opt.low_water)
            set_reading(xs, true);
        check_close_done(xs);
    }
    leave(xs);
}

static void on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    xstream *xs = w->data;
    if (xs->state != XS_OPEN || xs->opt.keepalive <= 0)
        return;
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

xstream *xstream_new(struct ev_loop *loop, int fd, const xstream_options *opt,
                     const xstream_callbacks *cb, void *ud)
{
    xstream *xs = calloc(1, sizeof *xs);
    if (!xs)
        return NULL;
    static const xmlparse_callbacks pcb = {p_open, p_stanza, p_close, p_dropped};
    xs->loop = loop;
    xs->fd = fd;
    xs->opt = *opt;
    xs->content_ns = strdup(opt->content_ns ? opt->content_ns : NS_COMPONENT);
    xs->parser = xmlparse_new(&opt->limits, &pcb, xs);
    if (!xs->content_ns || !xs->parser) {
        xmlparse_free(xs->parser);
        free(xs->content_ns);
        free(xs);
        return NULL;
    }
    xs->opt.content_ns = xs->content_ns;
    xs->cb = *cb;
    xs->ud = ud;
    xs->state = XS_OPEN;
    xs->last_write = ev_now(loop);
    ev_io_init(&xs->rw, on_read, fd, EV_READ);
    ev_io_init(&xs->ww, on_write, fd, EV_WRITE);
    xs->rw.data = xs->ww.data = xs;
    ev_init(&xs->keepalive, on_keepalive);
    ev_init(&xs->close_timer, on_close_timeout);
    xs->keepalive.data = xs->close_timer.data = xs;
    set_reading(xs, true);
    if (opt->keepalive > 0) {
        xs->keepalive.repeat = opt->keepalive;
        ev_timer_again(loop, &xs->keepalive);
    }
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
