/* complink: the XEP-0114 component link to a host server.
 *
 * Connects (resolving without blocking), opens a jabber:component:accept
 * stream, authenticates with the handshake, and keeps the link up: when the
 * server goes away or refuses us, it reconnects with exponential backoff and
 * jitter. An authentication failure (wrong secret) or a `conflict` (another
 * instance holds the domain) is logged once as an error and retried at the
 * maximum delay, so a misconfiguration never becomes a hot loop. A working
 * link that we closed for bad input comes back at the shortest delay: the
 * fault was in that stream alone.
 *
 * This module knows nothing of what the component does with stanzas: the
 * application's dispatch lives elsewhere and only sees on_stanza.
 *
 * Ownership: complink copies the strings in its config. Stanzas passed to
 * on_stanza belong to the callback. */
#ifndef STOA_COMPLINK_H
#define STOA_COMPLINK_H

#include <ev.h>
#include <stdbool.h>

#include "xml.h"
#include "xstream.h"

typedef struct complink complink;

typedef struct complink_config {
    const char *host;   /* host server address (name or IP) */
    int port;           /* its component port */
    const char *domain; /* our component domain */
    const char *secret; /* shared secret; never logged */
    double connect_timeout;
    double backoff_min, backoff_max;
    xstream_options stream;
} complink_config;

typedef enum {
    COMPLINK_IDLE = 0,
    COMPLINK_RESOLVING, /* not entered since the dialer resolves and connects in one step */
    COMPLINK_CONNECTING,
    COMPLINK_HANDSHAKE,
    COMPLINK_READY,
    COMPLINK_WAITING, /* backing off before the next attempt */
    COMPLINK_STOPPING,
    COMPLINK_STOPPED,
} complink_state;

typedef struct complink_callbacks {
    void (*on_ready)(void *ud);                    /* handshake accepted */
    void (*on_stanza)(void *ud, xml_node *stanza); /* callee owns the stanza */
    void (*on_down)(void *ud);                     /* a ready link was lost */
    void (*on_stopped)(void *ud);                  /* complink_stop finished */
    /* A stanza skipped for breaking a limit: its shell, callee owns it. */
    void (*on_dropped)(void *ud, xml_node *shell, const char *why);
} complink_callbacks;

complink *complink_new(struct ev_loop *loop, const complink_config *cfg,
                       const complink_callbacks *cb, void *ud);
void complink_free(complink *cl);
void complink_start(complink *cl);
/* Closes the stream properly and stops reconnecting; on_stopped follows. */
void complink_stop(complink *cl);
/* The link's output queue (see out.h); begin returns NULL when not ready. */
buf *complink_out_begin(complink *cl);
void complink_out_commit(complink *cl);
/* Bytes waiting in the link's write queue (0 when the link is down). */
size_t complink_out_queued(const complink *cl);
complink_state complink_get_state(const complink *cl);
const char *complink_state_name(complink_state s);
/* Applies new stream options (keepalive, limits) to the live link. */
void complink_set_stream_options(complink *cl, const xstream_options *opt);
/* The XEP-0114 handshake value for a stream id and secret: 40 lowercase hex
 * digits and a NUL into hex. 0, or -1. (The accepting side uses it too.) */
int complink_handshake_digest(const char *id, const char *secret, char hex[41]);
/* How many times the link became ready (for tests and stats). */
unsigned complink_sessions(const complink *cl);

#endif
