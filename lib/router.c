#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct row {
    const router_route *r;
    void *ud;
} row;

struct router {
    char *domain;
    out sink;
    row *rows;
    size_t n;
    const char **features; /* the rows' features, each once, in order */
    size_t nfeatures;
};

router *router_new(const char *domain, const out *sink)
{
    router *r = calloc(1, sizeof *r);
    if (!r || !(r->domain = strdup(domain))) {
        free(r);
        return NULL;
    }
    r->sink = *sink;
    return r;
}

void router_free(router *r)
{
    if (!r)
        return;
    free(r->rows);
    free(r->features);
    free(r->domain);
    free(r);
}

static bool has_feature(const router *r, const char *f)
{
    for (size_t i = 0; i < r->nfeatures; i++)
        if (strcmp(r->features[i], f) == 0)
            return true;
    return false;
}

int router_add(router *r, const router_route *rows, size_t n, void *ud)
{
    row *a = realloc(r->rows, (r->n + n) * sizeof *a);
    if (!a)
        return -1;
    r->rows = a;
    const char **f = realloc(r->features, (r->nfeatures + n) * sizeof *f);
    if (!f)
        return -1;
    r->features = f;
    for (size_t i = 0; i < n; i++) {
        r->rows[r->n++] = (row){&rows[i], ud};
        if (rows[i].feature && !has_feature(r, rows[i].feature))
            r->features[r->nfeatures++] = rows[i].feature;
    }
    return 0;
}

int router_features(const router *r, xml_node *query)
{
    for (size_t i = 0; i < r->nfeatures; i++) {
        xml_node *fe = xml_append_new(query, "feature", NULL);
        if (!fe || xml_set_attr(fe, "var", r->features[i]) < 0)
            return -1;
    }
    return 0;
}

/* Sends and frees a reply; NULL (a stanza that must not be answered, or
 * out of memory) sends nothing. */
static void emit(router *r, xml_node *reply)
{
    if (!reply)
        return;
    if (out_stanza(&r->sink, reply) < 0)
        log_debug("link not ready; reply dropped");
    xml_free(reply);
}

static void reply_error(router *r, const stanza_ctx *c, stanza_error e, const char *text)
{
    emit(r, stanza_error_reply(c->st, e, text, NULL));
}

static unsigned kind_of(const stanza_ctx *c)
{
    switch (c->kind) {
    case STANZA_IQ:
        if (c->answer)
            return ROUTE_IQ_ANSWER;
        if (c->type && strcmp(c->type, "get") == 0)
            return ROUTE_IQ_GET;
        if (c->type && strcmp(c->type, "set") == 0)
            return ROUTE_IQ_SET;
        return ROUTE_IQ_BAD;
    case STANZA_MESSAGE:
        return ROUTE_MESSAGE;
    case STANZA_PRESENCE:
        return ROUTE_PRESENCE;
    case STANZA_OTHER:
        break;
    }
    return 0;
}

static unsigned shape_of(const jid *to)
{
    if (to->local)
        return to->resource ? ROUTE_TO_NODE_RESOURCE : ROUTE_TO_NODE;
    return to->resource ? ROUTE_TO_SERVICE_RESOURCE : ROUTE_TO_SERVICE;
}

static bool element_is(const xml_node *n, const router_route *rt)
{
    const char *ns = xml_ns(n);
    return (!rt->ns || (ns && strcmp(ns, rt->ns) == 0)) &&
           (!rt->element || strcmp(xml_name(n), rt->element) == 0);
}

/* An IQ is about its one payload; a message or presence may carry the
 * element among its children. */
static bool payload_matches(const router_route *rt, const stanza_ctx *c)
{
    if (!rt->ns && !rt->element)
        return true;
    if (c->kind == STANZA_IQ)
        return c->payload && element_is(c->payload, rt);
    for (xml_node *ch = xml_first_child(c->st); ch; ch = xml_next(ch))
        if (!xml_is_text(ch) && element_is(ch, rt))
            return true;
    return false;
}

/* Nobody handled c. */
static void unhandled(router *r, const stanza_ctx *c, unsigned kind, bool known)
{
    switch (kind) {
    case ROUTE_IQ_ANSWER:
        return; /* answers are never answered (RFC 6120 8.2.3) */
    case ROUTE_IQ_BAD:
        reply_error(r, c, STANZA_ERR_BAD_REQUEST, "an IQ must have type get or set");
        return;
    case ROUTE_IQ_GET:
    case ROUTE_IQ_SET:
        /* RFC 6120 8.3.3: a payload we understand but a request we do not
         * support is feature-not-implemented; an unknown one is
         * service-unavailable. */
        reply_error(r, c,
                    known ? STANZA_ERR_FEATURE_NOT_IMPLEMENTED : STANZA_ERR_SERVICE_UNAVAILABLE,
                    NULL);
        return;
    case ROUTE_PRESENCE:
        /* An unavailable presence needs no answer: there is no session to
         * end, and answering it would only add traffic. */
        if (c->type && strcmp(c->type, "unavailable") == 0)
            return;
        break;
    default:
        break;
    }
    reply_error(r, c, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
}

static void route_rows(router *r, const stanza_ctx *c)
{
    unsigned kind = kind_of(c), shape = shape_of(&c->to);
    bool known = false;
    /* Whether a payload is known matters only for an IQ get or set: for
     * anything else a row of other kinds is passed over at once. */
    bool request = kind & (ROUTE_IQ_GET | ROUTE_IQ_SET);
    for (size_t i = 0; i < r->n; i++) {
        const router_route *rt = r->rows[i].r;
        bool kind_ok = rt->kinds & kind;
        if (!rt->handle || !(rt->to & shape) || (!kind_ok && !request) || !payload_matches(rt, c))
            continue;
        if (!kind_ok) {
            known |= rt->ns != NULL;
            continue;
        }
        if (rt->handle(r->rows[i].ud, c))
            return;
    }
    unhandled(r, c, kind, known);
}

void router_dispatch(router *r, stanza_ctx *c)
{
    const char *name = xml_name(c->st);
    const char *ns = xml_ns(c->st);
    if (c->kind == STANZA_OTHER || !ns || strcmp(ns, r->sink.ns) != 0) {
        log_warn("dropping unexpected <%s/> from the server", name);
    } else if (c->answer && c->kind != STANZA_IQ) {
        /* An error message or presence: nothing to do. (An IQ answer may
         * answer a request a room sent.) */
    } else if (c->from_err != JID_OK) {
        /* Without a usable sender there is nobody to answer; the server
         * normally stamps 'from', so this is a server bug worth a log line. */
        if (!c->has_from)
            log_warn("dropping <%s/> without a 'from'", name);
        else
            reply_error(r, c, STANZA_ERR_JID_MALFORMED, jid_strerror(c->from_err));
    } else if (c->to_err != JID_OK) {
        emit(r,
             stanza_error_reply(c->st, STANZA_ERR_JID_MALFORMED,
                                c->has_to ? jid_strerror(c->to_err) : "missing 'to'", r->domain));
    } else if (strcmp(c->to.domain, r->domain) != 0) {
        emit(r, stanza_error_reply(c->st, STANZA_ERR_ITEM_NOT_FOUND, "not a domain of this service",
                                   r->domain));
    } else {
        route_rows(r, c);
    }
    stanza_ctx_free(c);
}
