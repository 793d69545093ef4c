/* resolve: host name resolution that does not block the event loop.
 *
 * getaddrinfo() blocks; numeric addresses are answered at once, anything
 * else is resolved on a short-lived thread whose answer is handed back to
 * the loop through an ev_async watcher.
 *
 * Ownership: the addrinfo list passed to the callback belongs to the
 * callback (freeaddrinfo it). A request can be cancelled; its callback is
 * then never called. */
#ifndef STOA_RESOLVE_H
#define STOA_RESOLVE_H

#include <ev.h>
#include <netdb.h>

typedef struct resolve_req resolve_req;

/* status: 0, or a getaddrinfo EAI_* code (res NULL). */
typedef void (*resolve_cb)(void *ud, int status, struct addrinfo *res);

/* Starts resolving host:port for a TCP connection. The callback always runs
 * later from the loop, never from inside this call. Returns NULL on OOM. */
resolve_req *resolve_start(struct ev_loop *loop, const char *host, int port, resolve_cb cb,
                           void *ud);
void resolve_cancel(resolve_req *r);

#endif
