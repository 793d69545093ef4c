#include "dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resolve.h"

struct dial_req {
    struct ev_loop *loop;
    dial_cb cb;
    void *ud;
    double attempt_timeout;
    char *host; /* for messages; NULL when given addresses */
    int port;
    resolve_req *resolving;
    dial_addr *addrs;
    size_t n, next;
    int fd;
    ev_io connect_w;
    ev_timer timer;
    ev_idle report_w; /* reports a failure from the loop, not from dial_* */
    char error[256];
};

static void try_next(dial_req *d);

static void release(dial_req *d)
{
    ev_io_stop(d->loop, &d->connect_w);
    ev_timer_stop(d->loop, &d->timer);
    ev_idle_stop(d->loop, &d->report_w);
    if (d->fd >= 0)
        close(d->fd);
    if (d->resolving)
        resolve_cancel(d->resolving);
    free(d->addrs);
    free(d->host);
    free(d);
}

static void done(dial_req *d, int fd)
{
    d->fd = -1;
    dial_cb cb = d->cb;
    void *ud = d->ud;
    char error[sizeof d->error];
    memcpy(error, d->error, sizeof error);
    release(d);
    cb(ud, fd, fd >= 0 ? NULL : error);
}

static void on_report(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    done(w->data, -1);
}

/* Failure of everything: reported from the loop (an idle watcher), so a
 * caller never sees its callback inside dial_addrs. */
static void fail_later(dial_req *d)
{
    ev_idle_start(d->loop, &d->report_w);
}

static void attempt_failed(dial_req *d, int err)
{
    char where[80];
    dial_addr_format(&d->addrs[d->next - 1], where, sizeof where);
    const char *why = err == ETIMEDOUT ? "connection timed out" : strerror(err);
    /* A name is shown with the address it led to; an address alone once. */
    size_t hl = d->host ? strlen(d->host) : 0;
    if (d->host && !(strncmp(where, d->host, hl) == 0 && where[hl] == ':'))
        snprintf(d->error, sizeof d->error, "cannot connect to %s (%s): %s", d->host, where, why);
    else
        snprintf(d->error, sizeof d->error, "cannot connect to %s: %s", where, why);
    ev_io_stop(d->loop, &d->connect_w);
    ev_timer_stop(d->loop, &d->timer);
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
    }
    try_next(d);
}

static void on_connect(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    dial_req *d = w->data;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0)
        done(d, d->fd);
    else
        attempt_failed(d, err);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    attempt_failed(w->data, ETIMEDOUT);
}

static void try_next(dial_req *d)
{
    while (d->next < d->n) {
        const dial_addr *a = &d->addrs[d->next++];
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(d->error, sizeof d->error, "socket: %s", strerror(errno));
            continue;
        }
        d->fd = fd;
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0 || errno == EINPROGRESS) {
            /* Even an immediate success is reported from the loop. */
            ev_io_set(&d->connect_w, fd, EV_WRITE);
            ev_io_start(d->loop, &d->connect_w);
            if (d->attempt_timeout > 0) {
                ev_timer_set(&d->timer, d->attempt_timeout, 0);
                ev_timer_start(d->loop, &d->timer);
            }
            return;
        }
        attempt_failed(d, errno);
        return;
    }
    if (!d->error[0])
        snprintf(d->error, sizeof d->error, "%s: no usable address", d->host ? d->host : "dial");
    fail_later(d);
}

static dial_req *new_req(struct ev_loop *loop, double attempt_timeout, dial_cb cb, void *ud)
{
    dial_req *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->loop = loop;
    d->cb = cb;
    d->ud = ud;
    d->attempt_timeout = attempt_timeout;
    d->fd = -1;
    ev_init(&d->connect_w, on_connect);
    ev_init(&d->timer, on_timeout);
    ev_idle_init(&d->report_w, on_report);
    d->connect_w.data = d->timer.data = d->report_w.data = d;
    return d;
}

static void on_resolved(void *ud, int status, struct addrinfo *res)
{
    dial_req *d = ud;
    d->resolving = NULL;
    if (status != 0) {
        snprintf(d->error, sizeof d->error, "cannot resolve %s: %s", d->host, gai_strerror(status));
        done(d, -1);
        return;
    }
    size_t n = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        n++;
    d->addrs = calloc(n ? n : 1, sizeof *d->addrs);
    if (!d->addrs) {
        freeaddrinfo(res);
        snprintf(d->error, sizeof d->error, "out of memory");
        done(d, -1);
        return;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof d->addrs[0].sa)
            continue;
        memcpy(&d->addrs[d->n].sa, ai->ai_addr, ai->ai_addrlen);
        d->addrs[d->n++].len = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    try_next(d);
}

dial_req *dial_host(struct ev_loop *loop, const char *host, int port, double attempt_timeout,
                    dial_cb cb, void *ud)
{
    dial_req *d = new_req(loop, attempt_timeout, cb, ud);
    if (!d)
        return NULL;
    d->host = strdup(host);
    d->port = port;
    d->resolving = d->host ? resolve_start(loop, host, port, on_resolved, d) : NULL;
    if (!d->resolving) {
        free(d->host);
        free(d);
        return NULL;
    }
    return d;
}

dial_req *dial_addrs(struct ev_loop *loop, const dial_addr *addrs, size_t n, double attempt_timeout,
                     dial_cb cb, void *ud)
{
    dial_req *d = new_req(loop, attempt_timeout, cb, ud);
    if (!d)
        return NULL;
    d->addrs = malloc((n ? n : 1) * sizeof *addrs);
    if (!d->addrs) {
        free(d);
        return NULL;
    }
    memcpy(d->addrs, addrs, n * sizeof *addrs);
    d->n = n;
    try_next(d);
    return d;
}

void dial_cancel(dial_req *d)
{
    if (d)
        release(d);
}

void dial_addr_format(const dial_addr *a, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->sa;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
        port = ntohs(s->sin_port);
        snprintf(out, len, "%s:%d", ip, port);
    } else if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        port = ntohs(s->sin6_port);
        snprintf(out, len, "[%s]:%d", ip, port);
    } else {
        snprintf(out, len, "(address family %d)", a->sa.ss_family);
    }
}
