#include "mhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"

/* A scraper or a health probe asks once in a while; more than this many at
 * once is somebody else. */
#define MHTTP_CONNECTIONS 16
#define MHTTP_TIMEOUT 10 /* seconds an idle connection is kept */

struct mhttp {
    struct ev_loop *loop;
    struct MHD_Daemon *d;
    ev_io io;
    ev_timer timer; /* MHD's next deadline; 0 when it has work already */
    mhttp_health_fn health;
    void *ud;
};

static void schedule(mhttp *h);

static void run(mhttp *h)
{
    MHD_run(h->d);
    schedule(h);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    run(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run(w->data);
}

/* MHD says how long it may wait before it must run again (idle
 * connections to close; 0: data already read but not yet processed, which
 * a timer of 0 serves on the next iteration, busy loop or not). */
static void schedule(mhttp *h)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    ev_timer_stop(h->loop, &h->timer);
    if (MHD_get_timeout(h->d, &ms) != MHD_YES)
        return;
    ev_timer_set(&h->timer, (double)ms / 1000.0, 0);
    ev_timer_start(h->loop, &h->timer);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const buf *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        buf_unread_len(body), (void *)buf_unread(body), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    mhttp *h = cls;
    /* A request body is refused without reading it. */
    if (*upload_size)
        return MHD_NO;
    (void)state;
    buf body = BUF_INIT;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; charset=utf-8";
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, "HEAD") == 0;
    if (!get) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        buf_puts(&body, "GET only\n");
    } else if (strcmp(url, "/metrics") == 0) {
        type = "text/plain; version=0.0.4; charset=utf-8";
        if (metrics_render(&body) < 0) {
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            buf_reset(&body);
        }
    } else if (strcmp(url, "/health") == 0) {
        if (h->health && !h->health(h->ud, &body))
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
        else
            buf_puts(&body, "ok");
        buf_puts(&body, "\n");
    } else {
        status = MHD_HTTP_NOT_FOUND;
        buf_puts(&body, "/metrics or /health\n");
    }
    enum MHD_Result rc = reply(c, status, type, &body);
    buf_free(&body);
    return rc;
}

static int parse_address(const char *address, unsigned port, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    *v6 = false;
    if (inet_pton(AF_INET, address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return 0;
    }
    return -1;
}

/* MHD's own messages would go to stderr around our log; they are dropped,
 * and a failure to start is reported through err. */
static void quiet(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap;
}

mhttp *mhttp_new(struct ev_loop *loop, const char *address, unsigned port, mhttp_health_fn health,
                 void *ud, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    bool v6;
    if (parse_address(address, port, &ss, &v6) < 0) {
        snprintf(err, errlen, "metrics: address %s is not a numeric IPv4 or IPv6 address", address);
        return NULL;
    }
    mhttp *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->health = health;
    h->ud = ud;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    errno = 0;
    h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)MHTTP_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)MHTTP_TIMEOUT, MHD_OPTION_EXTERNAL_LOGGER, quiet, NULL,
                            MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        snprintf(err, errlen, "metrics: cannot listen on %s port %u%s%s", address, port,
                 errno ? ": " : "", errno ? strerror(errno) : "");
        mhttp_free(h);
        return NULL;
    }
    ev_io_init(&h->io, on_io, info->epoll_fd, EV_READ);
    ev_timer_init(&h->timer, on_timer, 0, 0);
    h->io.data = h->timer.data = h;
    ev_io_start(loop, &h->io);
    schedule(h);
    return h;
}

void mhttp_free(mhttp *h)
{
    if (!h)
        return;
    if (h->loop) {
        ev_io_stop(h->loop, &h->io);
        ev_timer_stop(h->loop, &h->timer);
    }
    if (h->d)
        MHD_stop_daemon(h->d);
    free(h);
}

unsigned mhttp_port(const mhttp *h)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}
