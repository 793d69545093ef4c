/* mhttp: the metrics and health endpoint, HTTP on the daemon's own loop.
 *
 *   GET /metrics   the counters and gauges (metrics.h), Prometheus text
 *   GET /health    200 "ok", or 503 and why (the owner's health hook)
 *
 * libmicrohttpd runs in its external mode with epoll: its one epoll
 * descriptor is watched by a libev io watcher and its timeouts by a libev
 * timer, and MHD_run is called from those, so nothing blocks the loop and
 * no other thread reads the counters. Every answer is built whole and
 * small, in one call. The listener should be on loopback (the [metrics]
 * address defaults to 127.0.0.1): the endpoint has no authentication.
 *
 * Ownership: mhttp_new copies nothing it needs after it returns; the caller
 * owns the handle and frees it with mhttp_free before the loop. */
#ifndef STOA_MHTTP_H
#define STOA_MHTTP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* true when healthy; else writes why into why (one line). */
typedef bool (*mhttp_health_fn)(void *ud, buf *why);

typedef struct mhttp mhttp;

/* Listens on address (numeric IPv4 or IPv6) and port. NULL with err. */
mhttp *mhttp_new(struct ev_loop *loop, const char *address, unsigned port, mhttp_health_fn health,
                 void *ud, char *err, size_t errlen);
void mhttp_free(mhttp *h);
/* The port it listens on (the one chosen when port 0 was asked for). */
unsigned mhttp_port(const mhttp *h);

#endif
