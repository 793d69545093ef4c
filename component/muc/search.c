/* Searching the room directory (XEP-0433, Extended Channel Search): words in
 * names, descriptions and addresses, a topic category, a minimum number of
 * occupants, sorted by occupants or address, paged with RSM. Only public,
 * configured rooms are ever listed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ns.h"
#include "room.h"

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

static xml_node *field(xml_node *x, const char *var, const char *type, const char *label,
                       const char *value)
{
    xml_node *f = xml_append_new(x, "field", NULL);
    if (!f)
        return NULL;
    xml_set_attr(f, "var", var);
    xml_set_attr(f, "type", type);
    if (label)
        xml_set_attr(f, "label", label);
    if (value)
        xml_append_text(xml_append_new(f, "value", NULL), value);
    return f;
}

static void option(xml_node *f, const char *label, const char *value)
{
    xml_node *o = f ? xml_append_new(f, "option", NULL) : NULL;
    if (o) {
        xml_set_attr(o, "label", label);
        xml_append_text(xml_append_new(o, "value", NULL), value);
    }
}

static void send_form(muc *m, const xml_node *iq)
{
    xml_node *s;
    xml_node *res = stanza_iq_reply(iq, "search", NS_CHANNEL_SEARCH, &s);
    xml_node *x = s ? xml_append_new(s, "x", NS_DATA) : NULL;
    if (!x) {
        xml_free(res);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    xml_set_attr(x, "type", "form");
    field(x, "FORM_TYPE", "hidden", NULL, NS_CHANNEL_SEARCH_PARAMS);
    field(x, "q", "text-single", "Search for", NULL);
    field(x, "all", "boolean", "Return all entries (ignore search terms)", "false");
    field(x, "sinname", "boolean", "Search in name", "true");
    field(x, "sindescription", "boolean", "Search in description", "true");
    field(x, "sinaddr", "boolean", "Search in address", "true");
    field(x, "min_users", "text-single", "Minimum number of users", "0");
    xml_node *t = field(x, FIELD_TOPIC, "list-single", "Topic", "");
    option(t, "(any)", "");
    for (size_t i = 0; m->topics[i]; i++)
        option(t, m->topics[i], m->topics[i]);
    xml_node *k = field(x, "key", "list-single", "Sort results by", ORDER_NUSERS);
    option(k, "Number of online users", ORDER_NUSERS);
    option(k, "Address", ORDER_ADDRESS);
    muc_send(m, res);
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
    char *terms[MAX_TERMS];
    size_t nterms;
    bool in_name, in_desc, in_addr;
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

void muc_search(muc *m, const xml_node *iq, const xml_node *q)
{
    const xml_node *x = xml_child(q, "x", NS_DATA);
    if (!x) {
        send_form(m, iq);
        return;
    }
    criteria c = {.in_name = truthy(stanza_form_value(x, "sinname"), true),
                  .in_desc = truthy(stanza_form_value(x, "sindescription"), true),
                  .in_addr = truthy(stanza_form_value(x, "sinaddr"), true),
                  .topic = stanza_form_value(x, FIELD_TOPIC)};
    bool all = truthy(stanza_form_value(x, "all"), false);
    const char *words = stanza_form_value(x, "q");
    const char *key = stanza_form_value(x, "key");
    const char *mu = stanza_form_value(x, "min_users");
    if (mu && *mu) {
        char *end;
        c.min_users = strtoul(mu, &end, 10);
        if (*end || mu[0] == '-') {
            muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "min_users must be a number");
            return;
        }
    }
    if (key && *key && strcmp(key, ORDER_NUSERS) != 0 && strcmp(key, ORDER_ADDRESS) != 0) {
        search_error(m, iq, STANZA_ERR_FEATURE_NOT_IMPLEMENTED, "modify", "invalid-sort-key", NULL);
        return;
    }
    by_nusers = !key || !*key || strcmp(key, ORDER_NUSERS) == 0;
    char *copy = words ? strdup(words) : NULL;
    for (char *save = NULL, *w = copy ? strtok_r(copy, " \t\r\n", &save) : NULL;
         w && c.nterms < MAX_TERMS; w = strtok_r(NULL, " \t\r\n", &save)) {
        c.terms[c.nterms++] = w;
    }
    bool has_topic = c.topic && *c.topic;
    if (all && c.nterms) {
        free(copy);
        search_error(m, iq, STANZA_ERR_BAD_REQUEST, "modify", "conflicting-fields",
                     "cannot both return all entries and search by keywords");
        return;
    }
    if (!all && !c.nterms && !has_topic) {
        free(copy);
        search_error(m, iq, STANZA_ERR_BAD_REQUEST, "modify",
                     words ? "invalid-search-terms" : "no-search-conditions",
                     "give search words, a topic, or ask for all entries");
        return;
    }
    muc_room **hits = calloc(m->rooms.count ? m->rooms.count : 1, sizeof *hits);
    size_t n = 0, it = 0;
    void *v;
    while (hits && hmap_next(&m->rooms, &it, NULL, &v)) {
        if (matches(v, &c))
            hits[n++] = v;
    }
    free(copy);
    qsort(hits, n, sizeof *hits, compare);

    /* RSM: the cursor is the position in this ordering. */
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
    for (size_t i = start; result && i < end; i++) {
        const muc_room *r = hits[i];
        xml_node *item = xml_append_new(result, "item", NULL);
        if (!item)
            continue;
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
    free(hits);
}
