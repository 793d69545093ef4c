/* router: where each stanza addressed to a service goes.
 *
 * Modules register table rows {kinds, address shapes, payload namespace and
 * element, handler, disco feature} with router_add. router_dispatch checks
 * what every stanza needs checked once (its kind, namespace and addresses,
 * answered with the RFC 6120 error that fits), then tries the rows whose
 * pattern matches in the order they were added; the first handler that
 * returns true has handled the stanza. What no row handles gets the error
 * RFC 6120 8.3.3 and RFC 6121 give for it: feature-not-implemented for an IQ
 * whose payload some row knows (but not that type of request),
 * service-unavailable for the rest; answers (errors, IQ results) are never
 * answered, only rows that ask for ROUTE_IQ_ANSWER see them.
 *
 * The service's disco#info lists the features of its rows, in the order
 * they were added (router_features): a handler and the feature it stands
 * for are written on one row, and a row may carry a feature alone.
 *
 * Ownership: rows are borrowed (static tables); the router copies the
 * domain and the sink. router_dispatch takes the stanza context and frees
 * it once dispatched: handlers borrow it for the call and copy what they
 * keep (an IQ answered later, say). */
#ifndef STOA_ROUTER_H
#define STOA_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "out.h"
#include "stanza.h"
#include "xml.h"

/* What a row takes, by stanza and type. */
enum {
    ROUTE_IQ_GET = 1u << 0,
    ROUTE_IQ_SET = 1u << 1,
    ROUTE_IQ_BAD = 1u << 2,    /* an IQ with no type, or one that is no IQ type */
    ROUTE_IQ_ANSWER = 1u << 3, /* result and error IQs */
    ROUTE_MESSAGE = 1u << 4,   /* error messages are answers, never routed */
    ROUTE_PRESENCE = 1u << 5,  /* error presences too */
    ROUTE_IQ = ROUTE_IQ_GET | ROUTE_IQ_SET,
    ROUTE_ANY = ROUTE_IQ | ROUTE_IQ_BAD | ROUTE_MESSAGE | ROUTE_PRESENCE,
};

/* Where a row takes it: the shape of 'to' within the service's domain. */
enum {
    ROUTE_TO_SERVICE = 1u << 0,          /* domain */
    ROUTE_TO_SERVICE_RESOURCE = 1u << 1, /* domain/resource */
    ROUTE_TO_NODE = 1u << 2,             /* node@domain (a room) */
    ROUTE_TO_NODE_RESOURCE = 1u << 3,    /* node@domain/resource (an occupant) */
    ROUTE_TO_NODES = ROUTE_TO_NODE | ROUTE_TO_NODE_RESOURCE,
    ROUTE_TO_ANY = ROUTE_TO_SERVICE | ROUTE_TO_SERVICE_RESOURCE | ROUTE_TO_NODES,
};

/* Handles c (borrowed): true when it did, false to leave it to the rows
 * after. ud is the one given to router_add. */
typedef bool (*router_fn)(void *ud, const stanza_ctx *c);

typedef struct router_route {
    unsigned kinds;      /* ROUTE_IQ_GET ... */
    unsigned to;         /* ROUTE_TO_... */
    const char *ns;      /* the payload's namespace: an IQ's one payload element, any
                            child of a message or presence; NULL: any (or none) */
    const char *element; /* the payload's name; NULL: any */
    router_fn handle;    /* NULL: a row that only advertises its feature */
    const char *feature; /* what the service's disco#info lists; NULL: nothing */
} router_route;

typedef struct router router;

/* domain: the service's normalized domain. NULL on OOM. */
router *router_new(const char *domain, const out *sink);
void router_free(router *r);
/* Appends n rows, each called with ud. 0, or -1 on OOM. */
int router_add(router *r, const router_route *rows, size_t n, void *ud);
/* Routes c and frees it (see above). */
void router_dispatch(router *r, stanza_ctx *c);
/* Appends <feature var=…/> to query for every feature of the rows, in the
 * order added, each once. 0, or -1 on OOM. */
int router_features(const router *r, xml_node *query);
#endif
