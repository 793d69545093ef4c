/* rtbl: the subscriber's XMPP side (XEP-0060): subscriptions, fetching
 * every item (paged with XEP-0059 where the service pages), and the
 * notifications of publishes, retractions, purges and deletions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "ns.h"
#include "safety/rtbl_internal.h"

#define PAGE 500 /* items asked for per page (ejabberd pages; Prosody 0.12 sends all) */
#define ID_PREFIX "rtbl-"

static void send(rtbl *t, xml_node *st)
{
    if (st && (!t->has_sink || t->closed || out_stanza(&t->sink, st) < 0))
        log_debug("rtbl: link not ready; request dropped");
    xml_free(st);
}

/* <iq type=TYPE from=us to=service id=rtbl-IDX-GEN-WHAT><pubsub/></iq> */
static xml_node *request(rtbl *t, rtbl_node *n, const char *type, char what, xml_node **pubsub)
{
    size_t idx = 0;
    while (t->nodes[idx] != n)
        idx++;
    char id[64];
    snprintf(id, sizeof id, ID_PREFIX "%zu-%u-%c", idx, n->gen, what);
    xml_node *iq = xml_new("iq", t->sink.ns);
    *pubsub = iq ? xml_append_new(iq, "pubsub", NS_PUBSUB) : NULL;
    if (!*pubsub || xml_set_attr(iq, "type", type) < 0 || xml_set_attr(iq, "from", t->jid) < 0 ||
        xml_set_attr(iq, "to", t->service) < 0 || xml_set_attr(iq, "id", id) < 0) {
        xml_free(iq);
        return NULL;
    }
    if (what == 'i') {
        free(n->pending);
        n->pending = strdup(id);
        n->deadline = rtbl_now(t) + t->timeout;
    }
    return iq;
}

static void subscribe(rtbl *t, rtbl_node *n)
{
    xml_node *ps, *iq = request(t, n, "set", 's', &ps);
    xml_node *sub = iq ? xml_append_new(ps, "subscribe", NS_PUBSUB) : NULL;
    if (!sub || xml_set_attr(sub, "node", n->name) < 0 || xml_set_attr(sub, "jid", t->jid) < 0) {
        xml_free(iq);
        return;
    }
    send(t, iq);
}

void rtbl_request_items(rtbl *t, rtbl_node *n, const char *after)
{
    if (!after) {
        if (n->fresh) {
            hmap *f = n->fresh;
            n->fresh = NULL;
            size_t it = 0;
            void *v;
            while (hmap_next(f, &it, NULL, &v))
                free(v);
            hmap_free(f);
            free(f);
        }
        if (!(n->fresh = calloc(1, sizeof *n->fresh)))
            return;
        n->bad = 0;
        n->over = false;
        free(n->bad_example);
        n->bad_example = NULL;
    }
    xml_node *ps, *iq = request(t, n, "get", 'i', &ps);
    xml_node *items = iq ? xml_append_new(ps, "items", NS_PUBSUB) : NULL;
    xml_node *set = items ? xml_append_new(ps, "set", NS_RSM) : NULL;
    xml_node *max = set ? xml_append_new(set, "max", NS_RSM) : NULL;
    xml_node *aft = max && after ? xml_append_new(set, "after", NS_RSM) : NULL;
    if (!max || xml_set_attr(items, "node", n->name) < 0 || xml_append_text(max, "500") < 0 ||
        (after && (!aft || xml_append_text(aft, after) < 0))) {
        xml_free(iq);
        return;
    }
    send(t, iq);
}

static void ask(rtbl *t, rtbl_node *n)
{
    n->gen++;
    /* Subscribed first: a publish after the fetch is answered reaches us
     * as a notification, one before it is in the fetch. */
    subscribe(t, n);
    rtbl_request_items(t, n, NULL);
}

void rtbl_link_ready(rtbl *t)
{
    if (!t || !t->service || t->closed)
        return;
    t->link_up = true;
    t->next_refresh = rtbl_now(t) + t->refresh;
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i]->configured)
            ask(t, t->nodes[i]);
}

void rtbl_link_down(rtbl *t)
{
    if (!t)
        return;
    /* Nothing will answer now; the next link asks everything again. */
    t->link_up = false;
    for (size_t i = 0; i < t->nnodes; i++) {
        free(t->nodes[i]->pending);
        t->nodes[i]->pending = NULL;
    }
}

void rtbl_check_deadlines(rtbl *t)
{
    double now = rtbl_now(t);
    if (!t->link_up)
        return;
    /* A notification refused on its way (the service's own rate limit,
     * the gate's) is lost to us: the whole list is fetched again now and
     * then. */
    if (now >= t->next_refresh) {
        rtbl_link_ready(t);
        return;
    }
    for (size_t i = 0; t->service && i < t->nnodes; i++) {
        rtbl_node *n = t->nodes[i];
        if (!n->configured || !n->pending || now < n->deadline)
            continue;
        log_warn("rtbl: %s: no answer from the service within %g s; asking again", n->key,
                 t->timeout);
        ask(t, n);
    }
}

/* ---- answers ---- */

static void log_refusal(const rtbl_node *n, const xml_node *st, const char *what)
{
    const xml_node *e = xml_child(st, "error", xml_ns(st));
    const xml_node *text = e ? xml_child(e, "text", NS_STANZAS) : NULL;
    log_error("rtbl: %s: the service refused the %s: %s%s%.200s", n->key, what,
              stanza_error_condition(stanza_error_of(st)), text ? ": " : "",
              text ? xml_text((xml_node *)text) : "");
}

/* Takes one item id of a fetch page; malformed ones are counted and one of
 * them kept for the log line. */
static void page_item(rtbl *t, rtbl_node *n, const char *id)
{
    char norm[1100];
    const char *why;
    if (rtbl_item_id(n, id, norm, sizeof norm, &why) == 0) {
        rtbl_fetch_add(t, n, norm);
        return;
    }
    if (!n->bad++)
        n->bad_example = strdup(id ? id : "(no id)");
}

static void on_items(rtbl *t, rtbl_node *n, const stanza_ctx *c)
{
    free(n->pending);
    n->pending = NULL;
    if (!n->fresh)
        return;
    const xml_node *ps = xml_child(c->st, "pubsub", NS_PUBSUB);
    const xml_node *items = ps ? xml_child(ps, "items", NS_PUBSUB) : NULL;
    if (!items) {
        log_warn("rtbl: %s: the answer to the items request holds no items; the list is kept",
                 n->key);
        return;
    }
    size_t page = 0;
    for (xml_node *i = xml_first_child(items); i && !n->over; i = xml_next(i)) {
        if (xml_is_text(i) || strcmp(xml_name(i), "item") != 0)
            continue;
        page++;
        page_item(t, n, xml_attr(i, "id"));
    }
    const xml_node *set = xml_child(ps, "set", NS_RSM);
    xml_node *last = set ? xml_child(set, "last", NS_RSM) : NULL;
    if (page && last && xml_text(last) && !n->over) {
        rtbl_request_items(t, n, xml_text(last));
        return;
    }
    rtbl_fetch_done(t, n);
}

/* An answer to one of our requests: its id names the node and request. */
static void on_answer(rtbl *t, const stanza_ctx *c)
{
    const char *id = xml_attr(c->st, "id");
    size_t idx;
    unsigned gen;
    char what;
    if (sscanf(id + strlen(ID_PREFIX), "%zu-%u-%c", &idx, &gen, &what) != 3 || idx >= t->nnodes)
        return;
    rtbl_node *n = t->nodes[idx];
    if (gen != n->gen)
        return; /* an answer to a request made before a relink or a retry */
    bool error = c->type && strcmp(c->type, "error") == 0;
    if (what == 's') {
        if (error)
            log_refusal(n, c->st, "subscription");
        else if (!n->subscribed)
            log_info("rtbl: subscribed to %s", n->key);
        n->subscribed = !error;
        return;
    }
    if (!n->pending || strcmp(n->pending, id) != 0)
        return;
    if (error) {
        free(n->pending);
        n->pending = NULL;
        log_refusal(n, c->st, "items request (the list is kept as it was)");
        return;
    }
    on_items(t, n, c);
}

/* ---- notifications ---- */

static void event_item(rtbl *t, rtbl_node *n, const char *id, bool add)
{
    char norm[1100];
    const char *why;
    if (rtbl_item_id(n, id, norm, sizeof norm, &why) < 0) {
        log_warn("rtbl: %s: malformed item id '%.70s' %s: %s", n->key, id ? id : "(none)",
                 add ? "published" : "retracted", why);
        return;
    }
    if (n->items.count >= t->max_items && add && !hmap_get(&n->items, norm)) {
        log_warn("rtbl: %s: [rtbl] max_items = %zu reached; '%s' is not applied", n->key,
                 t->max_items, norm);
        return;
    }
    log_debug("rtbl: %s: %s %s", n->key, add ? "published" : "retracted", norm);
    rtbl_item_change(t, n, norm, add);
}

static void on_event(rtbl *t, const xml_node *ev)
{
    for (xml_node *e = xml_first_child(ev); e; e = xml_next(e)) {
        if (xml_is_text(e))
            continue;
        const char *what = xml_name(e);
        rtbl_node *n = rtbl_node_find(t, xml_attr(e, "node"));
        if (!n)
            continue;
        if (strcmp(what, "purge") == 0 || strcmp(what, "delete") == 0) {
            log_warn("rtbl: %s: the service %s the node; its list is now empty", n->key,
                     what[0] == 'p' ? "purged" : "deleted");
            rtbl_node_clear(t, n);
            continue;
        }
        if (strcmp(what, "items") != 0)
            continue;
        for (xml_node *i = xml_first_child(e); i; i = xml_next(i)) {
            if (xml_is_text(i))
                continue;
            bool add = strcmp(xml_name(i), "item") == 0;
            if (add || strcmp(xml_name(i), "retract") == 0)
                event_item(t, n, xml_attr(i, "id"), add);
        }
    }
}

bool rtbl_route(void *ud, const stanza_ctx *c)
{
    rtbl *t = ud;
    if (!t || !t->service || t->closed || c->to.local || !c->from_full ||
        strcmp(c->from_full, t->service) != 0)
        return false;
    if (c->kind == STANZA_IQ) {
        const char *id = xml_attr(c->st, "id");
        if (!c->answer || !id || strncmp(id, ID_PREFIX, strlen(ID_PREFIX)) != 0)
            return false;
        on_answer(t, c);
        return true;
    }
    const xml_node *ev = xml_child(c->st, "event", NS_PUBSUB_EVENT);
    if (!ev)
        return false;
    on_event(t, ev);
    return true;
}

const router_route rtbl_routes[RTBL_ROUTES] = {
    {ROUTE_IQ_ANSWER, ROUTE_TO_SERVICE, NULL, NULL, rtbl_route, NULL},
    {ROUTE_MESSAGE, ROUTE_TO_SERVICE, NS_PUBSUB_EVENT, "event", rtbl_route, NULL},
};

bool rtbl_handle(rtbl *t, xml_node *st)
{
    stanza_ctx *c = stanza_ctx_new(st);
    if (!c)
        return true;
    bool taken = rtbl_route(t, c);
    stanza_ctx_free(c);
    return taken;
}

bool rtbl_dropped(rtbl *t, const xml_node *shell, const char *why)
{
    const char *from = xml_attr(shell, "from"), *id = xml_attr(shell, "id");
    if (!t || !t->service || !from || !id || strcasecmp(from, t->service) != 0 ||
        strcmp(xml_name(shell), "iq") != 0 || strncmp(id, ID_PREFIX, strlen(ID_PREFIX)) != 0)
        return false;
    size_t idx;
    if (sscanf(id + strlen(ID_PREFIX), "%zu-", &idx) != 1 || idx >= t->nnodes)
        return false;
    rtbl_node *n = t->nodes[idx];
    log_error("rtbl: %s: the service's answer was dropped (%s): a node this big needs a larger "
              "[limits] max_stanza_size, or a service that pages its items (XEP-0059); the list "
              "is kept as it was",
              n->key, why);
    free(n->pending);
    n->pending = NULL;
    return true;
}
