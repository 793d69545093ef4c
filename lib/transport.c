#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct sock_transport {
    transport base;
    int wants;
    char err[128];
} sock_transport;

static ssize_t sock_read(transport *t, void *data, size_t n)
{
    sock_transport *s = (sock_transport *)t;
    ssize_t r = recv(t->fd, data, n, 0);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        s->wants = EV_READ;
        return TRANSPORT_AGAIN;
    }
    snprintf(s->err, sizeof s->err, "%s", strerror(errno));
    return TRANSPORT_ERROR;
}

static ssize_t sock_write(transport *t, const void *data, size_t n)
{
    sock_transport *s = (sock_transport *)t;
    ssize_t r = send(t->fd, data, n, MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        s->wants = EV_WRITE;
        return TRANSPORT_AGAIN;
    }
    snprintf(s->err, sizeof s->err, "%s", strerror(errno));
    return TRANSPORT_ERROR;
}

static int sock_wants(transport *t)
{
    return ((sock_transport *)t)->wants;
}

static void sock_free(transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

static const char *sock_error(transport *t)
{
    sock_transport *s = (sock_transport *)t;
    return s->err[0] ? s->err : "no error";
}

static const transport_ops sock_ops = {
    .name = "tcp",
    .read = sock_read,
    .write = sock_write,
    .pending = NULL,
    .handshake = NULL,
    .wants = sock_wants,
    .free = sock_free,
    .error = sock_error,
};

transport *transport_socket_new(int fd)
{
    sock_transport *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.ops = &sock_ops;
    s->base.fd = fd;
    s->wants = EV_READ;
    return &s->base;
}

int transport_wants(transport *t)
{
    return t->ops->wants ? t->ops->wants(t) : EV_READ;
}

void transport_free(transport *t)
{
    if (t)
        t->ops->free(t);
}
