/* dial: opens a TCP connection without blocking the loop.
 *
 * Given a host name (resolved by resolve.h) or a list of addresses already
 * resolved (the gateway's DNS, dns.h), it tries each address in order, a
 * non-blocking connect() at a time, each within `attempt_timeout`, and
 * reports the first connected socket, or the last failure once every
 * address has failed. Used by the component link (complink) and the
 * gateway's outgoing server-to-server streams.
 *
 * Ownership: the connected fd passed to the callback belongs to the
 * callback. The address list is copied. A request ends with its callback,
 * exactly once, unless cancelled first (then never). */
#ifndef STOA_DIAL_H
#define STOA_DIAL_H

#include <ev.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct dial_req dial_req;

typedef struct dial_addr {
    struct sockaddr_storage sa;
    socklen_t len;
} dial_addr;

/* fd >= 0: connected (non-blocking, close-on-exec). fd < 0: every address
 * failed; `error` says how the last one did ("cannot resolve x: ...",
 * "cannot connect to 192.0.2.1:5269: Connection refused"). */
typedef void (*dial_cb)(void *ud, int fd, const char *error);

/* Resolves host and tries its addresses on port. attempt_timeout: seconds
 * for each connect (0: no limit of its own). The callback always runs from
 * the loop, never inside this call. NULL on OOM. */
dial_req *dial_host(struct ev_loop *loop, const char *host, int port, double attempt_timeout,
                    dial_cb cb, void *ud);
/* Tries the given addresses (n > 0) in order. NULL on OOM. */
dial_req *dial_addrs(struct ev_loop *loop, const dial_addr *addrs, size_t n, double attempt_timeout,
                     dial_cb cb, void *ud);
void dial_cancel(dial_req *d);
/* "192.0.2.1:5269", "[2001:db8::1]:5269" into out (64 bytes at least). */
void dial_addr_format(const dial_addr *a, char *out, size_t len);

#endif
