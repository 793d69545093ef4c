#include "expander.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ns.h"

/* The ids of the expander's questions: "stoa-x-ROUND-i-D" asks domain D for
 * its items, "stoa-x-ROUND-f-D-K" item K of domain D for its features
 * (D = "a" in EXPANDER_JID mode: one answer for every domain). A round is
 * one link session, so an answer that arrives after the link changed is
 * recognized and dropped. */
#define ID_PREFIX "stoa-x-"
/* Items of one domain asked about: a host lists its components there, and
 * the expander is one of the first few on any real server. */
#define MAX_ITEMS 32
/* Addresses one stanza may carry when the service does not say: ejabberd's
 * default for a sender it counts as remote (a component is one). */
#define DEFAULT_MAX 20

typedef struct host_domain {
    char *name;
    const expander_target *t; /* the expander reaching its users, if any */
    char *items[MAX_ITEMS];   /* what its disco#items listed */
    size_t nitems;
    size_t pending; /* disco#info answers still due */
} host_domain;

struct expander {
    char *domain;
    expander_mode mode;
    char *jid;
    size_t stanza_limit;
    host_domain *hosts;
    size_t nhosts;
    expander_target **targets; /* owned */
    size_t ntargets;
    unsigned round; /* link sessions so far */
    unsigned gen;
};

static void forget(expander *x)
{
    for (size_t i = 0; i < x->ntargets; i++) {
        free(x->targets[i]->jid);
        free(x->targets[i]->jid_attr);
        free(x->targets[i]);
    }
    free(x->targets);
    x->targets = NULL;
    x->ntargets = 0;
    for (size_t i = 0; i < x->nhosts; i++) {
        host_domain *h = &x->hosts[i];
        h->t = NULL;
        for (size_t k = 0; k < h->nitems; k++)
            free(h->items[k]);
        h->nitems = 0;
        h->pending = 0;
    }
    x->gen++;
}

expander *expander_new(const expander_config *cfg)
{
    expander *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->mode = cfg->mode;
    x->stanza_limit = cfg->stanza_limit;
    x->gen = 1;
    x->domain = strdup(cfg->domain);
    x->jid = cfg->jid ? strdup(cfg->jid) : NULL;
    size_t n = 0;
    while (cfg->host_domains && cfg->host_domains[n])
        n++;
    x->hosts = calloc(n ? n : 1, sizeof *x->hosts);
    if (!x->domain || (cfg->jid && !x->jid) || !x->hosts) {
        expander_free(x);
        return NULL;
    }
    for (; x->nhosts < n; x->nhosts++) {
        x->hosts[x->nhosts].name = strdup(cfg->host_domains[x->nhosts]);
        if (!x->hosts[x->nhosts].name) {
            expander_free(x);
            return NULL;
        }
    }
    return x;
}

void expander_free(expander *x)
{
    if (!x)
        return;
    forget(x);
    for (size_t i = 0; i < x->nhosts; i++)
        free(x->hosts[i].name);
    free(x->hosts);
    free(x->domain);
    free(x->jid);
    free(x);
}

static void ask(const expander *x, const out *o, const char *to, const char *ns, const char *id)
{
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    if (!iq)
        return;
    if (xml_set_attr(iq, "type", "get") == 0 && xml_set_attr(iq, "id", id) == 0 &&
        xml_set_attr(iq, "from", x->domain) == 0 && xml_set_attr(iq, "to", to) == 0 &&
        xml_append_new(iq, "query", ns))
        out_stanza(o, iq);
    xml_free(iq);
}

void expander_link_up(expander *x, const out *o)
{
    forget(x);
    x->round++;
    if (x->mode == EXPANDER_OFF || x->nhosts == 0)
        return;
    char id[64];
    if (x->mode == EXPANDER_JID) {
        snprintf(id, sizeof id, ID_PREFIX "%u-f-a-0", x->round);
        ask(x, o, x->jid, NS_DISCO_INFO, id);
        return;
    }
    for (size_t i = 0; i < x->nhosts; i++) {
        snprintf(id, sizeof id, ID_PREFIX "%u-i-%zu", x->round, i);
        ask(x, o, x->hosts[i].name, NS_DISCO_ITEMS, id);
    }
}

void expander_link_down(expander *x)
{
    forget(x);
    x->round++;
}

static const char *field_value(const xml_node *field)
{
    xml_node *v = xml_child(field, "value", NS_DATA);
    const char *s = v ? xml_text(v) : NULL;
    return s ? s : "";
}

/* A limit field's value: "infinite" is 0 (none), a number is itself. */
static size_t limit_value(const xml_node *field)
{
    const char *s = field_value(field);
    if (strcmp(s, "infinite") == 0)
        return 0;
    char *end;
    unsigned long n = strtoul(s, &end, 10);
    return *s && !*end && n > 0 ? (size_t)n : DEFAULT_MAX;
}

static const xml_node *field(const xml_node *form, const char *var)
{
    for (const xml_node *f = xml_first_child(form); f; f = xml_next(f)) {
        const char *v = xml_is_text(f) ? NULL : xml_attr(f, "var");
        if (v && strcmp(v, var) == 0)
            return f;
    }
    return NULL;
}

/* The limits an XEP-0128 form of the address namespace gives. */
static void read_limits(const xml_node *query, expander_target *t)
{
    t->max_message = t->max_presence = DEFAULT_MAX;
    for (const xml_node *x = xml_first_child(query); x; x = xml_next(x)) {
        if (xml_is_text(x) || strcmp(xml_name(x), "x") != 0 || strcmp(xml_ns(x), NS_DATA) != 0)
            continue;
        const xml_node *ft = field(x, "FORM_TYPE");
        if (!ft || strcmp(field_value(ft), NS_ADDRESS) != 0)
            continue;
        const xml_node *m = field(x, "message"), *p = field(x, "presence");
        if (m)
            t->max_message = limit_value(m);
        if (p)
            t->max_presence = limit_value(p);
    }
}

static bool has_feature(const xml_node *query, const char *var)
{
    for (const xml_node *f = xml_first_child(query); f; f = xml_next(f)) {
        if (xml_is_text(f) || strcmp(xml_name(f), "feature") != 0)
            continue;
        const char *v = xml_attr(f, "var");
        if (v && strcmp(v, var) == 0)
            return true;
    }
    return false;
}

/* The target for jid, made once however many domains it reaches. */
static const expander_target *target(expander *x, const char *jid, const xml_node *query)
{
    for (size_t i = 0; i < x->ntargets; i++)
        if (strcmp(x->targets[i]->jid, jid) == 0)
            return x->targets[i];
    expander_target **ts = realloc(x->targets, (x->ntargets + 1) * sizeof *ts);
    if (!ts)
        return NULL;
    x->targets = ts;
    expander_target *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->jid = strdup(jid);
    t->jid_attr = buf_xml_escaped_dup(jid);
    if (!t->jid || !t->jid_attr) {
        free(t->jid);
        free(t->jid_attr);
        free(t);
        return NULL;
    }
    read_limits(query, t);
    x->targets[x->ntargets++] = t;
    return t;
}

static void describe(const host_domain *h)
{
    if (!h->t) {
        log_info("fan-out: no expander on %s: one copy per recipient", h->name);
        return;
    }
    char m[32] = "any", p[32] = "any";
    if (h->t->max_message)
        snprintf(m, sizeof m, "%zu", h->t->max_message);
    if (h->t->max_presence)
        snprintf(p, sizeof p, "%zu", h->t->max_presence);
    log_info("fan-out: %s users through the expander %s (addresses per stanza: %s in a message, "
             "%s in a presence)",
             h->name, h->t->jid, m, p);
}

static void on_items(expander *x, size_t d, const xml_node *iq, const out *o)
{
    host_domain *h = &x->hosts[d];
    const char *from = xml_attr(iq, "from");
    const xml_node *q = xml_child(iq, "query", NS_DISCO_ITEMS);
    if (!from || strcmp(from, h->name) != 0 || h->nitems || h->t)
        return;
    if (q && strcmp(xml_attr(iq, "type"), "result") == 0) {
        for (const xml_node *it = xml_first_child(q); it && h->nitems < MAX_ITEMS;
             it = xml_next(it)) {
            const char *jid = xml_is_text(it) ? NULL : xml_attr(it, "jid");
            /* An item with a node is a page of something, not a service. */
            if (!jid || xml_attr(it, "node") || strcmp(xml_name(it), "item") != 0)
                continue;
            char *copy = strdup(jid);
            if (!copy)
                break;
            h->items[h->nitems++] = copy;
        }
    }
    char id[80];
    for (size_t k = 0; k < h->nitems; k++) {
        snprintf(id, sizeof id, ID_PREFIX "%u-f-%zu-%zu", x->round, d, k);
        ask(x, o, h->items[k], NS_DISCO_INFO, id);
    }
    h->pending = h->nitems;
    if (!h->pending)
        describe(h);
}

static void found(expander *x, host_domain *h, const expander_target *t)
{
    if (h->t)
        return;
    h->t = t;
    x->gen++;
    describe(h);
}

static void on_info(expander *x, const char *which, size_t k, const xml_node *iq)
{
    const char *from = xml_attr(iq, "from");
    const xml_node *q = xml_child(iq, "query", NS_DISCO_INFO);
    bool ok =
        q && from && strcmp(xml_attr(iq, "type"), "result") == 0 && has_feature(q, NS_ADDRESS);
    if (strcmp(which, "a") == 0) { /* EXPANDER_JID: one answer for every domain */
        if (!from || strcmp(from, x->jid) != 0)
            return;
        const expander_target *t = ok ? target(x, from, q) : NULL;
        if (!t)
            log_warn("fan-out: %s is no expander (no %s in its disco#info): one copy per "
                     "recipient",
                     x->jid, NS_ADDRESS);
        for (size_t i = 0; t && i < x->nhosts; i++)
            found(x, &x->hosts[i], t);
        return;
    }
    char *end;
    unsigned long d = strtoul(which, &end, 10);
    if (*end || d >= x->nhosts)
        return;
    host_domain *h = &x->hosts[d];
    if (k >= h->nitems || !from || strcmp(from, h->items[k]) != 0 || !h->pending)
        return;
    h->pending--;
    const expander_target *t = ok ? target(x, from, q) : NULL;
    if (t)
        found(x, h, t);
    else if (!h->pending && !h->t)
        describe(h);
}

bool expander_handle(expander *x, const xml_node *iq, const out *o)
{
    const char *id = xml_attr(iq, "id"), *type = xml_attr(iq, "type");
    if (!x || !id || strncmp(id, ID_PREFIX, strlen(ID_PREFIX)) != 0 || !type ||
        (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return false;
    char kind[2] = "", which[24] = "";
    unsigned round;
    size_t k = 0;
    int n = sscanf(id + strlen(ID_PREFIX), "%u-%1[if]-%23[0-9a]-%zu", &round, kind, which, &k);
    if (n < 3 || round != x->round)
        return true; /* ours, from an earlier link session */
    if (kind[0] == 'i') {
        char *end;
        unsigned long d = strtoul(which, &end, 10);
        if (!*end && d < x->nhosts)
            on_items(x, d, iq, o);
    } else if (n == 4) {
        on_info(x, which, k, iq);
    }
    return true;
}

const expander_target *expander_for(const expander *x, const char *jid)
{
    if (!x || !x->ntargets)
        return NULL;
    const char *at = strchr(jid, '@');
    if (!at)
        return NULL;
    const char *d = at + 1, *slash = strchr(d, '/');
    size_t n = slash ? (size_t)(slash - d) : strlen(d);
    for (size_t i = 0; i < x->nhosts; i++)
        if (x->hosts[i].t && strncmp(x->hosts[i].name, d, n) == 0 && !x->hosts[i].name[n])
            return x->hosts[i].t;
    return NULL;
}

bool expander_refused(expander *x, const char *from, const xml_node *st)
{
    if (!x || !from)
        return false;
    bool mine = false;
    for (size_t i = 0; i < x->nhosts; i++) {
        if (!x->hosts[i].t || strcmp(x->hosts[i].t->jid, from) != 0)
            continue;
        x->hosts[i].t = NULL;
        mine = true;
    }
    if (!mine)
        return false;
    x->gen++;
    const xml_node *e = xml_child(st, "error", NS_COMPONENT);
    const xml_node *cond = e ? xml_first_child(e) : NULL;
    while (cond && xml_is_text(cond))
        cond = xml_next(cond);
    log_warn("fan-out: the expander %s refused a stanza (%s): one copy per recipient until the "
             "link comes up again; does it trust %s?",
             from, cond ? xml_name(cond) : "no condition", x->domain);
    return true;
}

bool expander_active(const expander *x)
{
    for (size_t i = 0; x && i < x->nhosts; i++)
        if (x->hosts[i].t)
            return true;
    return false;
}

unsigned expander_generation(const expander *x)
{
    return x ? x->gen : 0;
}

/* ---- writing expanded stanzas ---- */

static void open_stanza(expander_batch *eb)
{
    eb->start = buf_unread_len(eb->b);
    buf_append(eb->b, eb->head, eb->hl);
    buf_puts(eb->b, eb->t->jid_attr);
    buf_append(eb->b, eb->tail, eb->tail_open);
    if (eb->tail_open + 2 == eb->tl) /* the stanza was empty: "/>" */
        buf_puts(eb->b, ">");
    buf_puts(eb->b, "<addresses xmlns=\"" NS_ADDRESS "\">");
    eb->n = 0;
    eb->stanzas++;
}

static void close_stanza(expander_batch *eb)
{
    buf_puts(eb->b, "</addresses>");
    buf_puts(eb->b, eb->close);
}

bool expander_batch_begin(expander_batch *eb, const expander *x, const expander_target *t, buf *b,
                          const char *head, size_t hl, const char *tail, size_t tl, bool presence)
{
    static const char *const names[] = {"message", "presence"};
    const char *name = names[presence];
    size_t nl = strlen(name);
    memset(eb, 0, sizeof *eb);
    if (hl < nl + 1 || head[0] != '<' || memcmp(head + 1, name, nl) != 0)
        return false;
    if (tl >= nl + 3 && tail[tl - nl - 3] == '<' && tail[tl - nl - 2] == '/' &&
        memcmp(tail + tl - nl - 1, name, nl) == 0 && tail[tl - 1] == '>') {
        eb->tail_open = tl - nl - 3;
        eb->close = presence ? "</presence>" : "</message>";
    } else if (tl >= 2 && tail[tl - 2] == '/' && tail[tl - 1] == '>') {
        eb->tail_open = tl - 2;
        eb->close = presence ? "</presence>" : "</message>";
    } else {
        return false;
    }
    eb->b = b;
    eb->t = t;
    eb->head = head;
    eb->hl = hl;
    eb->tail = tail;
    eb->tl = tl;
    eb->max = presence ? t->max_presence : t->max_message;
    eb->limit = x->stanza_limit;
    return true;
}

/* Whether one more address of `more` bytes would pass a limit. */
static bool full(const expander_batch *eb, size_t more)
{
    if (eb->max && eb->n >= eb->max)
        return true;
    size_t used = buf_unread_len(eb->b) - eb->start;
    return used + more + strlen("</addresses>") + strlen(eb->close) > eb->limit;
}

void expander_batch_add(expander_batch *eb, const char *jid_attr)
{
    static const char pre[] = "<address type=\"bcc\" jid=\"", post[] = "\"/>";
    size_t more = sizeof pre - 1 + strlen(jid_attr) + sizeof post - 1;
    if (!eb->stanzas) {
        open_stanza(eb);
    } else if (eb->n > 0 && full(eb, more)) {
        close_stanza(eb);
        open_stanza(eb);
    }
    buf_append(eb->b, pre, sizeof pre - 1);
    buf_puts(eb->b, jid_attr);
    buf_append(eb->b, post, sizeof post - 1);
    eb->n++;
}

size_t expander_batch_end(expander_batch *eb)
{
    if (eb->stanzas)
        close_stanza(eb);
    return eb->stanzas;
}
