/* rtbl_internal.h: what rtbl's two files share. rtbl.c holds its life, the
 * lists and their lookup, and the Redis mirror; rtbl_sub.c the subscriber's
 * XMPP side (subscriptions, fetches, notifications). Nothing outside
 * lib/safety/rtbl*.c includes it.
 *
 * Ownership: the rtbl owns its nodes; a node owns its item strings (each
 * map's keys), the fetch being gathered and its example of a bad id. */
#ifndef STOA_SAFETY_RTBL_INTERNAL_H
#define STOA_SAFETY_RTBL_INTERNAL_H

#include "hmap.h"
#include "safety/rtbl.h"

typedef struct rtbl_node {
    char *name;      /* the pubsub node */
    char *key;       /* "<service>/<node>": its name in the mirror and the logs */
    bool hashes;     /* item ids are SHA-256 hashes (else domains) */
    bool configured; /* ours to subscribe to (else learnt from the mirror) */
    hmap items;      /* id -> the same string, malloc'ed */
    hmap *fresh;     /* a fetch being gathered page by page; NULL: none */
    size_t bad;      /* malformed ids seen in the fetch */
    char *bad_example;
    bool over;             /* the fetch met max_items */
    bool dirty;            /* changed while Redis was away: written whole when it is back */
    unsigned gen;          /* numbers this node's requests: older answers are ignored */
    double deadline;       /* a request is due by then (monotonic); 0: none */
    char *pending;         /* the id of the request due */
    bool subscribed;       /* the service said so */
    unsigned long changes; /* local changes: a mirror read that began before one is stale */
} rtbl_node;

struct rtbl {
    char *service, *jid, *prefix; /* service NULL: a reader */
    size_t max_items;
    double poll, timeout;
    struct ev_loop *loop;
    ev_timer timer;
    rdb *r;
    out sink;
    bool has_sink;
    rtbl_node **nodes;
    size_t nnodes;
    long long serial; /* the mirror's serial last read; -1: never */
    bool redis_up, reading, closed;
    bool link_up;        /* between rtbl_link_ready and rtbl_link_down */
    double refresh;      /* seconds between whole fetches */
    double next_refresh; /* monotonic */
    void (*on_change)(void *ud);
    void *change_ud;
};

/* rtbl.c */
/* The lists held changed: tells the holder (rtbl_on_change). */
void rtbl_changed(rtbl *t);
rtbl_node *rtbl_node_find(rtbl *t, const char *name);
/* The normalized item id of `id` for node n into out (65 bytes for a hash,
 * a domain up to 1024): 0, or -1 with why. */
int rtbl_item_id(const rtbl_node *n, const char *id, char *out, size_t outlen, const char **why);
/* A published (add) or retracted item: applied in memory and mirrored. */
void rtbl_item_change(rtbl *t, rtbl_node *n, const char *id, bool add);
/* Empties node n (a purge or a delete of the node). */
void rtbl_node_clear(rtbl *t, rtbl_node *n);
/* The fetch of n is whole: its items replace what n held. */
void rtbl_fetch_done(rtbl *t, rtbl_node *n);
/* Adds id (already normalized) to the fetch being gathered; false once
 * max_items are there. */
bool rtbl_fetch_add(rtbl *t, rtbl_node *n, const char *id);
double rtbl_now(const rtbl *t);

/* rtbl_sub.c */
/* Sends the items request of n (after: the RSM cursor, NULL: from the
 * start). */
void rtbl_request_items(rtbl *t, rtbl_node *n, const char *after);
/* Requests unanswered past their deadline are logged and sent again. */
void rtbl_check_deadlines(rtbl *t);

#endif
