/* Service discovery: the room directory on the service (public rooms, and
 * rooms by topic category) and each room's disco#info with muc#roominfo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataform.h"
#include "muc/disco.h"
#include "muc/fanout.h"
#include "ns.h"

/* disco#items nodes: "topics" lists the categories, "topic/NAME" the public
 * rooms of one category. */
#define NODE_TOPICS "topics"
#define NODE_TOPIC_PREFIX "topic/"

static bool listed(const muc_room *r)
{
    return r->cfg.public && !r->locked;
}

static void room_item(xml_node *query, const muc_room *r)
{
    xml_node *it = xml_append_new(query, "item", NULL);
    if (!it)
        return;
    xml_set_attr(it, "jid", r->jid);
    /* disco#items has no field for a count, so the directory says it in the
     * name, as ejabberd does ("Lobby (3)"): room browsers in Gajim, Psi and
     * Converse.js show names, and people pick rooms by how busy they are. */
    const char *name = r->cfg.name && *r->cfg.name ? r->cfg.name : r->local;
    size_t len = strlen(name) + 24;
    char *label = malloc(len);
    if (!label) {
        xml_set_attr(it, "name", name);
        return;
    }
    snprintf(label, len, "%s (%zu)", name, r->noccupants);
    xml_set_attr(it, "name", label);
    free(label);
}

static bool known_topic(const muc *m, const char *t)
{
    for (size_t i = 0; m->topics[i]; i++) {
        if (strcmp(m->topics[i], t) == 0)
            return true;
    }
    return false;
}

bool muc_disco_items(muc *m, const char *node, xml_node *query)
{
    if (node && strcmp(node, NODE_TOPICS) == 0) {
        for (size_t i = 0; m->topics[i]; i++) {
            char n[300];
            snprintf(n, sizeof n, NODE_TOPIC_PREFIX "%s", m->topics[i]);
            xml_node *it = xml_append_new(query, "item", NULL);
            if (it) {
                xml_set_attr(it, "jid", m->domain);
                xml_set_attr(it, "node", n);
                xml_set_attr(it, "name", m->topics[i]);
            }
        }
        return true;
    }
    const char *topic = NULL;
    if (node) {
        if (strncmp(node, NODE_TOPIC_PREFIX, strlen(NODE_TOPIC_PREFIX)) != 0)
            return false;
        topic = node + strlen(NODE_TOPIC_PREFIX);
        if (!known_topic(m, topic))
            return false;
    }
    size_t it = 0;
    void *v;
    while (hmap_next(&m->rooms, &it, NULL, &v)) {
        const muc_room *r = v;
        if (!listed(r))
            continue;
        if (topic && (!r->cfg.topic || strcmp(r->cfg.topic, topic) != 0))
            continue;
        room_item(query, r);
    }
    return true;
}

static void feature(xml_node *q, const char *var)
{
    xml_node *f = xml_append_new(q, "feature", NULL);
    if (f)
        xml_set_attr(f, "var", var);
}

/* A muc#roominfo field (XEP-0045 15.5.4), its value "" when unset. */
static void field(xml_node *x, const char *var, const char *label, const char *value)
{
    dataform_add_field(x, var, DATAFORM_UNTYPED, label, value ? value : "", 0);
}

static void room_info(muc *m, muc_room *r, const xml_node *iq)
{
    xml_node *q;
    xml_node *res = stanza_iq_reply(iq, "query", NS_DISCO_INFO, &q);
    xml_node *id = q ? xml_append_new(q, "identity", NULL) : NULL;
    if (!id) {
        xml_free(res);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    xml_set_attr(id, "category", "conference");
    xml_set_attr(id, "type", "text");
    xml_set_attr(id, "name", r->cfg.name && *r->cfg.name ? r->cfg.name : r->local);
    feature(q, NS_MUC);
    feature(q, NS_MUC_STABLE_ID);
    feature(q, NS_SID);
    feature(q, NS_OCCUPANT_ID);
    feature(q, NS_MAM);
    feature(q, NS_MODERATE0);
    feature(q, NS_MODERATE1);
    feature(q, NS_RETRACT1);
    feature(q, NS_MUC_SELF_PING);
    feature(q, NS_MUC_REQUEST);
    feature(q, NS_VCARD);
    feature(q, r->cfg.public ? "muc_public" : "muc_hidden");
    feature(q, r->cfg.persistent ? "muc_persistent" : "muc_temporary");
    feature(q, r->cfg.members_only ? "muc_membersonly" : "muc_open");
    feature(q, r->cfg.moderated ? "muc_moderated" : "muc_unmoderated");
    feature(q, r->cfg.whois == WHO_ANYONE ? "muc_nonanonymous" : "muc_semianonymous");
    feature(q, r->cfg.password ? "muc_passwordprotected" : "muc_unsecured");
    xml_node *x = dataform_new(q, DATAFORM_RESULT, NULL, NULL);
    if (x) {
        dataform_add_form_type(x, NS_MUC_ROOMINFO);
        field(x, "muc#roominfo_description", "Description", r->cfg.description);
        field(x, "muc#roominfo_subject", "Subject", r->subject);
        char count[24];
        snprintf(count, sizeof count, "%zu", r->noccupants);
        field(x, "muc#roominfo_occupants", "Number of occupants", count);
        field(x, "muc#roominfo_lang", "Language", r->cfg.lang);
        /* The topic category is ours: x- marks it as not registered. */
        field(x, "x-stoa#topic", "Topic", r->cfg.topic);
        /* XEP-0486: only when the room has an avatar. */
        if (*r->avatar_hash)
            dataform_add_field(x, "muc#roominfo_avatarhash", DATAFORM_TEXT_MULTI, "Avatar hash",
                               r->avatar_hash, 0);
    }
    muc_send(m, res);
    xml_free(res);
}

void muc_room_disco(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *iq = c->st, *q = c->payload;
    const char *type = c->type;
    if (strcmp(type, "get") != 0) {
        muc_error(m, iq, STANZA_ERR_FEATURE_NOT_IMPLEMENTED, NULL);
        return;
    }
    const char *node = xml_attr(q, "node");
    if (node && strcmp(node, "x-roomuser-item") == 0 && strcmp(xml_ns(q), NS_DISCO_INFO) == 0) {
        /* XEP-0045 7.12: nobody has a registered nick here (no 7.10), so
         * "the room MUST return a service discovery <query/> element that
         * is empty". */
        xml_node *e;
        xml_node *res = stanza_iq_reply(iq, "query", NS_DISCO_INFO, &e);
        if (e && xml_set_attr(e, "node", node) == 0)
            muc_send(m, res);
        else
            muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        xml_free(res);
        return;
    }
    if (node) {
        muc_error(m, iq, STANZA_ERR_ITEM_NOT_FOUND, "no such node");
        return;
    }
    if (strcmp(xml_ns(q), NS_DISCO_INFO) == 0) {
        room_info(m, r, iq);
        return;
    }
    /* Items are the occupants, only where anyone may see who is present
     * (XEP-0045 6.5); an empty list otherwise. */
    xml_node *items;
    xml_node *res = stanza_iq_reply(iq, "query", NS_DISCO_ITEMS, &items);
    if (!items) {
        xml_free(res);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    if (r->cfg.whois == WHO_ANYONE && r->cfg.public) {
        for (size_t i = 0; i < r->noccupants; i++) {
            xml_node *it = xml_append_new(items, "item", NULL);
            if (!it)
                continue;
            char addr[3200];
            snprintf(addr, sizeof addr, "%s/%s", r->jid, r->occupants[i]->nick);
            xml_set_attr(it, "jid", addr);
        }
    }
    muc_send(m, res);
    xml_free(res);
}
