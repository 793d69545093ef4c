/* ublock: per-user blocking (XEP-0191) inside rooms.
 *
 * A person who blocks another stops receiving that person's groupchat
 * messages, private messages and invitations through this service. Block
 * lists come from two places: XEP-0191 <block/>/<unblock/>/<blocklist/> IQs
 * addressed to the service itself, and the Redis set
 * {p}safety:ublock:<owner-bare> (which the moderation desk also writes when
 * the host server forwards a user's own blocks). An occupant's list is
 * loaded asynchronously when the occupant joins and filters from the moment
 * the reply arrives.
 *
 * Items are normalized bare JIDs or domains (a full JID in a block item is
 * reduced to its bare JID); a domain item blocks everyone at that domain.
 *
 * Ownership: the ublock borrows rdb (may be NULL) and copies the sink. A
 * list returned by ublock_acquire stays valid until the matching
 * ublock_release. ublock_route borrows the stanza context (an answer that
 * waits for Redis keeps a copy of the IQ); ublock_send takes msg. */
#ifndef STOA_SAFETY_UBLOCK_H
#define STOA_SAFETY_UBLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "out.h"
#include "rdb.h"
#include "router.h"
#include "xml.h"

#define UBLOCK_MAX_ITEMS 1000 /* per owner: bounds memory per occupant */

typedef struct ublock ublock;
typedef struct ublock_list ublock_list;

ublock *ublock_new(rdb *r, const char *prefix, const char *domain, const out *sink);
/* Stops sending (before the link goes); replies still due are ignored. */
void ublock_close(ublock *u);
/* Call after rdb_free (replies due name lists the ublock keeps). */
void ublock_free(ublock *u);

/* The list of owner_bare, loaded (again) from Redis in the background.
 * NULL when u is NULL or memory ran out (then nothing is filtered). */
ublock_list *ublock_acquire(ublock *u, const char *owner_bare);
void ublock_release(ublock *u, ublock_list *l);
/* Whether l's owner blocks sender_bare (or its domain). l may be NULL; an
 * empty list answers without looking at the sender. */
bool ublock_blocks(const ublock_list *l, const char *sender_bare);

/* An XEP-0191 IQ to the service (ud: the ublock): true when c was one and
 * has been answered. A <block/> whose items carry XEP-0377 reports is left
 * to the abuse desk (false), which answers it and writes Redis; the loaded
 * list of its sender learns the items at once. */
bool ublock_route(void *ud, const stanza_ctx *c);
/* Its row for the service's router, with the feature it stands for. */
#define UBLOCK_ROUTES 1
extern const router_route ublock_routes[UBLOCK_ROUTES];
/* ublock_route for a bare stanza (tests): takes st when it returns true. */
bool ublock_handle(ublock *u, xml_node *st);
/* Reloads owner_bare's list from Redis if it is loaded here: for whoever
 * else writes {p}safety:ublock:<owner> (the desk, on a host server's copy
 * of a user's block). */
void ublock_reload(ublock *u, const char *owner_bare);

/* Sends msg to its 'to' unless that person blocks sender_bare; when the
 * recipient's list is not in memory, Redis is asked first (SISMEMBER). */
void ublock_send(ublock *u, const char *sender_bare, xml_node *msg);

#endif
