/* Searching the room directory (XEP-0433, Extended Channel Search): words in
 * names, descriptions and addresses, a topic category, a minimum number of
 * occupants, sorted by occupants or address, paged with RSM. Only public,
 * configured rooms are ever listed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataform.h"
#include "muc/fanout.h"
#include "muc/search.h"
#include "ns.h"

#define ORDER_NUSERS "{" NS_CHANNEL_SEARCH_ORDER "}nusers"
#define ORDER_ADDRESS "{" NS_CHANNEL_SEARCH_ORDER "}address"
/* Our own field, in Clark notation as XEP-0433 asks of extensions. */
#define FIELD_TOPIC "{" NS_STOA "}topic"
#define PAGE_DEFAULT 50
#define PAGE_MAX 100
#define MAX_TERMS 8

static bool truthy(const char *v, bool def)
{
    if (!v)
        return def;
    return strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
}

static const dataform_option orders[] = {
    {"Number of online users", ORDER_NUSERS}, {"Address", ORDER_ADDRESS}, {NULL, NULL}};

/* The search form (XEP-0433 4.1); the topic's options are the service's
 * categories. */
static const dataform_spec fields[] = {
    {"q", DATAFORM_TEXT_SINGLE, "Search for", 0, NULL, NULL, 0},
    {"all", DATAFORM_BOOLEAN, "Return all entries (ignore search terms)", 0, "false", NULL, 0},
    {"sinname", DATAFORM_BOOLEAN, "Search in name", 0, "true", NULL, 0},
    {"sindescription", DATAFORM_BOOLEAN, "Search in description", 0, "true", NULL, 0},
    {"sinaddr", DATAFORM_BOOLEAN, "Search in address", 0, "true", NULL, 0},
    {"min_users", DATAFORM_TEXT_SINGLE, "Minimum number of users", 0, "0", NULL, 0},
    {FIELD_TOPIC, DATAFORM_LIST_SINGLE, "Topic", 0, "", NULL, 0},
    {"key", DATAFORM_LIST_SINGLE, "Sort results by", 0, ORDER_NUSERS, orders, 0},
};

static void send_form(muc *m, const xml_node *iq)
{
    xml_node *s;
    xml_node *res = stanza_iq_reply(iq, "search", NS_CHANNEL_SEARCH, &s);
    xml_node *x = dataform_new(s, DATAFORM_FORM, NULL, NULL);
    bool ok = dataform_add_form_type(x, NS_CHANNEL_SEARCH_PARAMS) != NULL;
    for (size_t i = 0; ok && i < sizeof fields / sizeof fields[0]; i++) {
        xml_node *f = dataform_add_spec(x, &fields[i]);
        ok = f != NULL;
        if (ok && strcmp(fields[i].var, FIELD_TOPIC) == 0) {
            ok = dataform_add_option(f, "(any)", "") == 0;
            for (size_t t = 0; ok && m->topics[t]; t++)
                ok = dataform_add_option(f, m->topics[t], m->topics[t]) == 0;
        }
    }
    if (ok)
        muc_send(m, res);
    else
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    xml_free(res);
}

/* An error with XEP-0433's application condition next to the stanza one. */
static void search_error(muc *m, const xml_node *iq, stanza_error e, const char *type,
                         const char *app, const char *text)
{
    xml_node *r = stanza_error_reply(iq, e, text, NULL);
    xml_node *err = r ? xml_child(r, "error", NULL) : NULL;
    if (err) {
        xml_set_attr(err, "type", type);
        xml_append_new(err, app, NS_CHANNEL_SEARCH_ERRORS);
        muc_send(m, r);
    }
    xml_free(r);
}

/* Case-insensitive substring search (ASCII folding; other scripts must
 * match as typed). */
static bool contains(const char *hay, const char *needle)
{
    if (!hay)
        return false;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return true;
    }
    return false;
}

typedef struct criteria {
    char *copy; /* the words, cut into terms */
    char *terms[MAX_TERMS];
    size_t nterms;
    bool in_name, in_desc, in_addr;
    bool by_nusers; /* sorted by occupants, else by address */
    unsigned long min_users;
    const char *topic;
} criteria;

static bool matches(const muc_room *r, const criteria *c)
{
    if (!r->cfg.public || r->locked || r->noccupants < c->min_users)
        return false;
    if (c->topic && *c->topic && (!r->cfg.topic || strcmp(r->cfg.topic, c->topic) != 0))
        return false;
    for (size_t i = 0; i < c->nterms; i++) {
        const char *t = c->terms[i];
        if (!((c->in_name && contains(r->cfg.name ? r->cfg.name : r->local, t)) ||
              (c->in_desc && contains(r->cfg.description, t)) ||
              (c->in_addr && contains(r->jid, t))))
            return false;
    }
    return true;
}

static bool by_nusers;

static int compare(const void *a, const void *b)
{
    const muc_room *x = *(muc_room *const *)a, *y = *(muc_room *const *)b;
    if (by_nusers && x->noccupants != y->noccupants)
        return x->noccupants < y->noccupants ? 1 : -1;
    return strcmp(x->jid, y->jid);
}

static void text_child(xml_node *parent, const char *name, const char *text)
{
    if (text && *text)
        xml_append_text(xml_append_new(parent, name, NULL), text);
}

static void add_item(xml_node *result, const muc_room *r)
{
    xml_node *item = xml_append_new(result, "item", NULL);
    if (!item)
        return;
    xml_set_attr(item, "address", r->jid);
    text_child(item, "name", r->cfg.name ? r->cfg.name : r->local);
    text_child(item, "description", r->cfg.description);
    text_child(item, "language", r->cfg.lang);
    char num[24];
    snprintf(num, sizeof num, "%zu", r->noccupants);
    text_child(item, "nusers", num);
    text_child(item, "service-type", "xep-0045");
    if (!r->cfg.members_only && !r->cfg.password)
        xml_append_new(item, "is-open", NULL);
}

/* Reads a submitted search into c (its terms point into c->copy, which the
 * caller frees). false when the search is refused: the error has been
 * sent. */
static bool read_criteria(muc *m, const xml_node *iq, const dataform *f, criteria *c)
{
    *c = (criteria){.in_name = truthy(dataform_get(f, "sinname"), true),
                    .in_desc = truthy(dataform_get(f, "sindescription"), true),
                    .in_addr = truthy(dataform_get(f, "sinaddr"), true),
                    .topic = dataform_get(f, FIELD_TOPIC)};
    bool all = truthy(dataform_get(f, "all"), false);
    const char *words = dataform_get(f, "q");
    const char *key = dataform_get(f, "key");
    const char *mu = dataform_get(f, "min_users");
    if (mu && *mu) {
        char *end;
        c->min_users = strtoul(mu, &end, 10);
        if (*end || mu[0] == '-') {
            muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "min_users must be a number");
            return false;
        }
    }
    if (key && *key && strcmp(key, ORDER_NUSERS) != 0 && strcmp(key, ORDER_ADDRESS) != 0) {
        search_error(m, iq, STANZA_ERR_FEATURE_NOT_IMPLEMENTED, "modify", "invalid-sort-key", NULL);
        return false;
    }
    c->by_nusers = !key || !*key || strcmp(key, ORDER_NUSERS) == 0;
    c->copy = words ? strdup(words) : NULL;
    for (char *save = NULL, *w = c->copy ? strtok_r(c->copy, " \t\r\n", &save) : NULL;
         w && c->nterms < MAX_TERMS; w = strtok_r(NULL, " \t\r\n", &save)) {
        c->terms[c->nterms++] = w;
    }
    bool has_topic = c->topic && *c->topic;
    if (all && c->nterms) {
        search_error(m, iq, STANZA_ERR_BAD_REQUEST, "modify", "conflicting-fields",
                     "cannot both return all entries and search by keywords");
        return false;
    }
    if (!all && !c->nterms && !has_topic) {
        search_error(m, iq, STANZA_ERR_BAD_REQUEST, "modify",
                     words ? "invalid-search-terms" : "no-search-conditions",
                     "give search words, a topic, or ask for all entries");
        return false;
    }
    return true;
}

/* One page of the hits, with its RSM set: the cursor is the position in
 * this ordering. */
static void send_page(muc *m, const xml_node *iq, const xml_node *q, muc_room **hits, size_t n)
{
    unsigned long max = PAGE_DEFAULT, start = 0;
    const xml_node *set = xml_child(q, "set", NS_RSM);
    xml_node *e;
    if (set && (e = xml_child(set, "max", NS_RSM)) && xml_text(e))
        max = strtoul(xml_text(e), NULL, 10);
    if (max > PAGE_MAX)
        max = PAGE_MAX;
    if (set && (e = xml_child(set, "after", NS_RSM)) && xml_text(e))
        start = strtoul(xml_text(e), NULL, 10) + 1;
    xml_node *result;
    xml_node *res = stanza_iq_reply(iq, "result", NS_CHANNEL_SEARCH, &result);
    size_t end = start + max < n ? start + max : n;
    for (size_t i = start; result && i < end; i++)
        add_item(result, hits[i]);
    xml_node *rs = result ? xml_append_new(result, "set", NS_RSM) : NULL;
    if (rs) {
        char num[24];
        if (end > start) {
            xml_node *first = xml_append_new(rs, "first", NULL);
            snprintf(num, sizeof num, "%lu", start);
            if (first) {
                xml_set_attr(first, "index", num);
                xml_append_text(first, num);
            }
            snprintf(num, sizeof num, "%zu", end - 1);
            text_child(rs, "last", num);
        }
        snprintf(num, sizeof num, "%zu", n);
        text_child(rs, "count", num);
    }
    if (rs)
        muc_send(m, res);
    else
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    xml_free(res);
}

void muc_search(muc *m, const xml_node *iq, const xml_node *q)
{
    const xml_node *x = dataform_find(q);
    if (!x) {
        send_form(m, iq);
        return;
    }
    dataform *f = muc_form_parse(m, iq, x);
    if (!f)
        return;
    criteria c;
    if (read_criteria(m, iq, f, &c)) {
        muc_room **hits = calloc(m->rooms.count ? m->rooms.count : 1, sizeof *hits);
        size_t n = 0, it = 0;
        void *v;
        while (hits && hmap_next(&m->rooms, &it, NULL, &v)) {
            if (matches(v, &c))
                hits[n++] = v;
        }
        by_nusers = c.by_nusers;
        qsort(hits, n, sizeof *hits, compare);
        send_page(m, iq, q, hits, n);
        free(hits);
    }
    free(c.copy);
    dataform_free(f);
}
