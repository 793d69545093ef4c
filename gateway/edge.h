/* edge: the safety policy at the federation boundary, from the same Redis
 * state and the same library (lib/safety) as stoa-component.
 *
 * At stream open (peers_edge admit), a remote domain is refused with
 * policy-violation when [edge] only_domains is set and does not list it
 * (allow-list mode), when [edge] block_domains lists it, when it already
 * holds max_streams_per_domain streams, and, a Redis round trip later, when
 * the desk blocked it ({p}safety:ban:domain:<d>) or it is on the community
 * spam-domain list (outside allow_domains): then the stream that was just
 * admitted closes. A domain on a real-time block list (lib/safety/rtbl.h,
 * read from the component's mirror in Redis, outside allow_domains) is
 * refused from memory, and loses its open streams when a list names it
 * later; listed JIDs are the rooms' to refuse (members are exempt). The desk announces a new block on a pub/sub channel
 * (KEY_BLOCKS_CHANNEL); every gateway closes that domain's open streams at
 * once, and checks every connected domain again whenever its subscription
 * is (re)established, so a block made while it was away is not missed.
 *
 * For each stanza (peers_edge check, then edge_submit): a message carrying
 * a link or a file offer from a domain outside allow_domains is bounced
 * when [edge] links = reject; then the gate (lib/safety/gate.h) judges it:
 * bans, mutes, domain blocks, and token buckets per remote JID and per
 * remote domain ([edge] limits, shared by every gateway through Redis, in
 * buckets of their own: the component's gate still applies its own
 * limits behind). Refusals go back to the remote sender as stanza errors.
 *
 * Ownership: the edge borrows the settings, the peers and the loop;
 * edge_submit takes the stanza; what passes is handed to the pass hook,
 * which takes it. */
#ifndef STOA_GW_EDGE_H
#define STOA_GW_EDGE_H

#include <ev.h>
#include <stdbool.h>

#include "gwset.h"
#include "peers.h"
#include "xml.h"

typedef struct edge edge;

typedef struct edge_hooks {
    void (*pass)(void *ud, xml_node *stanza); /* on to the component; takes it */
    bool (*congested)(void *ud);              /* the component link is backed up */
    void *ud;
} edge_hooks;

/* Installs itself as ps's edge. NULL with err on a bad domain list or OOM. */
edge *edge_new(struct ev_loop *loop, const gwset *set, peers *ps, const edge_hooks *hooks,
               char *err, size_t errlen);
/* Connects to Redis (when enabled). */
void edge_start(edge *e);
/* Drops what the gate holds and the Redis connections (at shutdown). */
void edge_free(edge *e);
/* A stanza that passed the edge's check: into the gate (takes it). */
void edge_submit(edge *e, xml_node *stanza);
/* The component link drained: what the gate held goes on. */
void edge_resume(edge *e);
/* Statistics: stanzas the gate refused. */
unsigned long edge_refused(const edge *e);

#endif
