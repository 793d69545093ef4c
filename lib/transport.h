/* transport: the byte channel under an XML stream.
 *
 * xstream reads and writes through this interface, never through the
 * socket itself, so a stream can run over a plain socket (this module) or
 * over TLS (tls.h), and STARTTLS can swap one for the other in the middle of
 * a connection: the TLS transport takes the plain one as its inner channel.
 * The shape follows libstrophe's conn_interface and Redis's ConnectionType:
 * a table of operations and a small struct every implementation starts with.
 *
 * Every operation is non-blocking. When one cannot go on, it returns
 * TRANSPORT_AGAIN and `wants` says which readiness of the file descriptor
 * (EV_READ or EV_WRITE) lets it continue: a TLS read may have to write
 * first, a handshake goes both ways.
 *
 * Ownership: a transport owns its file descriptor (or its inner transport),
 * and transport_free closes it. */
#ifndef STOA_TRANSPORT_H
#define STOA_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TRANSPORT_ERROR (-1) /* failed for good; transport_error says why */
#define TRANSPORT_AGAIN (-2) /* would block; wait for transport_wants */

typedef struct transport transport;

typedef struct transport_ops {
    const char *name; /* "tcp", "tls" */
    /* Bytes read (> 0), 0 at the end of the stream, or an error code. */
    ssize_t (*read)(transport *t, void *data, size_t n);
    /* Bytes written (> 0, possibly fewer than n), or an error code. */
    ssize_t (*write)(transport *t, const void *data, size_t n);
    /* Bytes the transport holds already, which read returns without the
     * descriptor becoming readable (decrypted TLS records). */
    size_t (*pending)(transport *t);
    /* Advances a handshake: 0 once done, or an error code. NULL: none. */
    int (*handshake)(transport *t);
    /* EV_READ or EV_WRITE: what the last TRANSPORT_AGAIN waits for. */
    int (*wants)(transport *t);
    /* Says goodbye on the channel (TLS close_notify), best effort, and
     * releases everything, the descriptor included. */
    void (*free)(transport *t);
    /* Why the last operation failed; never NULL. */
    const char *(*error)(transport *t);
} transport_ops;

struct transport {
    const transport_ops *ops;
    int fd; /* the socket underneath, for the event loop */
};

/* A plain socket transport over a connected, non-blocking fd (owned from
 * now on). NULL on OOM (fd not closed). */
transport *transport_socket_new(int fd);

static inline ssize_t transport_read(transport *t, void *data, size_t n)
{
    return t->ops->read(t, data, n);
}
static inline ssize_t transport_write(transport *t, const void *data, size_t n)
{
    return t->ops->write(t, data, n);
}
static inline size_t transport_pending(transport *t)
{
    return t->ops->pending ? t->ops->pending(t) : 0;
}
static inline bool transport_has_handshake(const transport *t)
{
    return t->ops->handshake != NULL;
}
static inline int transport_handshake(transport *t)
{
    return t->ops->handshake ? t->ops->handshake(t) : 0;
}
int transport_wants(transport *t);
static inline const char *transport_error(transport *t)
{
    return t->ops->error(t);
}
void transport_free(transport *t);

#endif
