/* peers: the gateway's server-to-server side, one entry per remote domain.
 *
 * Outgoing: a stanza for a remote domain (from the component) goes on the
 * one stream kept for its pair of domains (local, remote): reused while it
 * lives, set up on demand (DNS SRV, then each target's addresses, dialled
 * in turn), with stanzas queued meanwhile (up to queue_max, then bounced
 * with resource-constraint); when no target can be reached, what waited is
 * bounced with remote-server-not-found, so the sender learns of it. Idle
 * streams close by themselves (s2s idle_timeout).
 *
 * Incoming: every accepted connection is an incoming s2s stream. Dialback
 * claims are checked on the outgoing stream to the claimed domain
 * (db:verify). Stanzas from an authenticated pair pass the edge and go to
 * the component.
 *
 * The edge (peers_edge): where the safety policy sits at the boundary.
 * admit is asked just before a remote domain is granted a stream (SASL
 * success, dialback valid; refused: the stream closes with
 * policy-violation, and the peer never believed it could send); check when
 * each stanza from it
 * arrives, before the component sees it. Each peer (remote domain) has a
 * `peer_info` the policy may read (streams, stanzas, when seen) and a slot
 * of its own (`policy`) for per-domain state. Without an edge everything
 * passes.
 *
 * A stanza the edge bounces is answered with policy-violation to its remote
 * sender, on the outgoing stream back to that domain.
 *
 * Ownership: stanzas given to peers_send belong to peers; stanzas handed
 * to deliver and bounce belong to the callback. */
#ifndef STOA_GW_PEERS_H
#define STOA_GW_PEERS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "s2s.h"
#include "xml.h"

typedef struct peers peers;

/* What the edge may know of a remote domain (read-only for it, except
 * `policy`, which is its own). */
typedef struct peer_info {
    const char *domain;
    unsigned incoming_streams; /* authenticated incoming streams now */
    unsigned long stanzas_in, stanzas_out;
    double first_seen, last_seen; /* ev_now() */
    void *policy;                 /* the edge's per-domain state; NULL at first */
} peer_info;

typedef enum {
    EDGE_PASS,   /* on to the component */
    EDGE_BOUNCE, /* answered with policy-violation, not delivered */
    EDGE_DROP,   /* dropped silently */
    EDGE_CLOSE,  /* the whole stream closes with policy-violation */
} edge_verdict;

typedef struct peers_edge {
    /* A stream authenticated `remote`: false refuses it (why: a reason). */
    bool (*admit)(void *ud, peer_info *p, const char *local, const char **why);
    /* A stanza from `p`, borrowed. */
    edge_verdict (*check)(void *ud, peer_info *p, const xml_node *stanza);
    /* The peer entry goes: free what `policy` holds. */
    void (*forget)(void *ud, peer_info *p);
} peers_edge;

typedef struct peers_config {
    struct ev_loop *loop;
    dns *dns;
    const s2s_config *s2s; /* borrowed */
    double attempt_timeout;
    size_t queue_max;
} peers_config;

typedef struct peers_callbacks {
    void (*deliver)(void *ud, xml_node *stanza); /* inbound, to the component */
    void (*bounce)(void *ud, xml_node *reply);   /* an error for the component's sender */
} peers_callbacks;

peers *peers_new(const peers_config *cfg, const peers_callbacks *cb, void *ud);
/* Closes every stream and frees everything (no callbacks). */
void peers_free(peers *p);
void peers_set_edge(peers *p, const peers_edge *edge, void *ud);
/* Sends a stanza from a local domain to a remote one (owned). */
void peers_send(peers *p, xml_node *stanza);
/* An accepted connection (fd owned): an incoming stream. */
void peers_accept(peers *p, int fd, bool direct_tls);
/* Closes every stream politely (shutdown). */
void peers_close_all(peers *p);
/* Closes every stream to and from `domain` with a stream error (the desk
 * blocked it). Returns how many streams began to close. */
unsigned peers_close_domain(peers *p, const char *domain, const char *condition, const char *text);
/* Calls fn for every remote domain with an authenticated incoming stream. */
void peers_each_connected(peers *p, void (*fn)(void *ud, peer_info *info), void *ud);
/* Streams open now: incoming and outgoing. */
void peers_counts(const peers *p, unsigned *incoming, unsigned *outgoing);

#endif
