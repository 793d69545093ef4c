/* rtbl: real-time block lists (XEP-0060 nodes in xmppbl.org's format).
 *
 * A list is a pubsub node. In a node of hashes (xmppbl.org's
 * muc_bans_sha256) each item id is the lowercase hex SHA-256 of a bare JID
 * or of a domain, with an optional XEP-0377 <report/> as payload; in a node
 * of domains (spam_source_domains) each item id is a domain name. A sender
 * is listed when a node of hashes holds the hash of its bare JID or of its
 * domain, or a node of domains holds its domain.
 *
 * Two roles share the lists through Redis (schemas/redis-keys.md,
 * KEY_RTBL_*):
 * - the subscriber (stoa-component, a pubsub service configured): subscribes
 *   to the nodes through the host server (or a gateway) and fetches every
 *   item at start and after each relink (rtbl_link_ready), follows the
 *   publish and retract notifications (its router rows), and mirrors each
 *   node into a Redis set, raising a serial at every change;
 * - every instance, subscriber or not (stoa-gateway: no service): reads the
 *   mirror when Redis comes up and again whenever the serial moved (polled),
 *   so a list another process learnt applies here within the poll interval.
 * Lookups (rtbl_listed) are in memory: no round trip per stanza, and the
 * last lists known stay in force while Redis is away.
 *
 * Bad input (an item id that is no hash or no domain, a node over
 * max_items, an answer that does not come) is a log line naming the
 * service and node; what is valid of it still applies.
 *
 * Ownership: rtbl_new copies cfg and the sink and borrows the loop and the
 * rdb (r may be NULL: lists from XMPP only). rtbl_route borrows the stanza
 * context. Free the rtbl after rdb_free (replies still due name it). */
#ifndef STOA_SAFETY_RTBL_H
#define STOA_SAFETY_RTBL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "out.h"
#include "rdb.h"
#include "router.h"
#include "stanza.h"

typedef struct rtbl rtbl;

typedef struct rtbl_config {
    const char *service;      /* the pubsub service's JID; NULL or "": reader only */
    const char *hash_nodes;   /* comma-separated nodes of hashes */
    const char *domain_nodes; /* comma-separated nodes of domains */
    const char *jid;          /* the subscriber: the component's domain */
    const char *prefix;       /* the [redis] prefix */
    size_t max_items;         /* per node; 0: 100000 */
    double poll;              /* seconds between looks at the serial; 0: 0.5 */
    double timeout;           /* seconds an answer from the service may take; 0: 30 */
    double refresh;           /* seconds between whole fetches; 0: an hour */
} rtbl_config;

/* NULL on OOM or a bad configuration (a service or node that is not
 * valid: err says which). loop may be NULL (no polling, no timeouts:
 * tests); sink may be NULL for a reader. */
rtbl *rtbl_new(struct ev_loop *loop, rdb *r, const rtbl_config *cfg, const out *sink, char *err,
               size_t errlen);
/* Stops the timer and sending (before the link and rdb go). */
void rtbl_close(rtbl *t);
void rtbl_free(rtbl *t);

/* The lookup, for the rooms and the gateway's edge: whether `who` (a
 * normalized bare JID, or a domain alone) is on any list. t may be NULL. */
bool rtbl_listed(const rtbl *t, const char *who);
/* The same lookup naming the list: "<service>/<node>" of the first node
 * that lists `who` (owned by t, valid until the next change), or NULL. */
const char *rtbl_list_of(const rtbl *t, const char *who);
/* fn(ud) after every change of the lists held (a mirror read, a fetch, a
 * notification), so that a holder can act on senders already admitted
 * (the gateway closes a listed domain's streams). fn NULL: none. */
void rtbl_on_change(rtbl *t, void (*fn)(void *ud), void *ud);
/* Entries held, over every node (statistics, tests). */
size_t rtbl_count(const rtbl *t);

/* Redis changed state: when it is up, the mirror is read (and the
 * subscriber's lists written to it if they were learnt meanwhile). */
void rtbl_redis_state(rtbl *t, rdb_state state);

/* The subscriber's side (nothing happens without a service). */
/* The link to the host server is (again) up: subscribe to every node and
 * fetch all of its items, replacing what was held once the fetch is whole
 * (again every refresh seconds while the link stays up). */
void rtbl_link_ready(rtbl *t);
/* The link is down: no request is waited for until it is back. */
void rtbl_link_down(rtbl *t);
/* Pubsub notifications and the answers to rtbl's own IQs (ud: the rtbl). */
bool rtbl_route(void *ud, const stanza_ctx *c);
#define RTBL_ROUTES 2
extern const router_route rtbl_routes[RTBL_ROUTES];
/* The stream dropped a stanza for breaking a limit (its shell): true, and
 * a log line saying what to do, when it was the answer to an items request
 * (a node too big for [limits] max_stanza_size). */
bool rtbl_dropped(rtbl *t, const xml_node *shell, const char *why);
/* rtbl_route for a bare stanza (tests): always takes st. */
bool rtbl_handle(rtbl *t, xml_node *st);

/* SHA-256 of s as 64 lowercase hex digits and a NUL. */
void rtbl_sha256_hex(const char *s, char out[65]);

#endif
