/* Who is online: the presence the host forwards to a privileged entity
 * (XEP-0356 section 7: every available and unavailable presence of its
 * users, with presence "managed_entity" or "roster"), kept per full JID,
 * and listed per group as an ad-hoc command's result and a disco node
 * ("online/<group>"), for members of the group and admins.
 *
 * A session that ends without an unavailable presence of its own (a
 * client that just closes its stream) is not forwarded by ejabberd 23.01's
 * mod_privilege (it forwards what the user sends, and what contacts
 * receive). So whenever a group's online members are listed, the sessions
 * listed that were not asked in the last RECHECK_AFTER seconds are sent a
 * disco#info query; the server's service-unavailable (the session is
 * gone) forgets the session, and the next listing is right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataform.h"
#include "log.h"
#include "ns.h"
#include "roster/internal.h"

#define ONLINE_NODE "online/"
#define TEXT_MAX 200 /* bytes of show or status kept */

#define RECHECK_AFTER 10.0 /* seconds before a session listed is asked again */

typedef struct seen {
    char *full, *bare;
    char *show, *status;
    double checked; /* when it was last asked whether it is still there */
    char ask_id[32];
} seen;

static void seen_free(seen *s)
{
    if (!s)
        return;
    free(s->full);
    free(s->bare);
    free(s->show);
    free(s->status);
    free(s);
}

void online_clear(roster *r)
{
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(&r->online, &i, &k, &v);)
        seen_free(v);
    hmap_free(&r->online);
    hmap_free(&r->asked);
}

static void ask(roster *r, seen *s)
{
    double t = r->loop ? ev_now(r->loop) : 0;
    if (s->ask_id[0] || (s->checked && t - s->checked < RECHECK_AFTER))
        return;
    s->checked = t;
    roster_next_id(r, "op", s->ask_id, sizeof s->ask_id);
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    if (!iq || xml_set_attr(iq, "type", "get") < 0 || xml_set_attr(iq, "id", s->ask_id) < 0 ||
        xml_set_attr(iq, "from", r->domain) < 0 || xml_set_attr(iq, "to", s->full) < 0 ||
        !xml_append_new(iq, "query", NS_DISCO_INFO) || hmap_put(&r->asked, s->ask_id, s) < 0) {
        xml_free(iq);
        s->ask_id[0] = '\0';
        return;
    }
    roster_emit(r, iq);
}

bool online_answer(roster *r, const stanza_ctx *c)
{
    const char *id = xml_attr(c->st, "id");
    seen *s = id ? hmap_del(&r->asked, id) : NULL;
    if (!s)
        return false;
    s->ask_id[0] = '\0';
    /* RFC 6121 8.5.3.2.1: the server answers for a session that is gone
     * with service-unavailable; a client without disco answers otherwise
     * (slixmpp: feature-not-implemented), and is there. */
    stanza_error e =
        c->type && strcmp(c->type, "error") == 0 ? stanza_error_of(c->st) : STANZA_ERR__COUNT;
    if (e == STANZA_ERR_SERVICE_UNAVAILABLE || e == STANZA_ERR_RECIPIENT_UNAVAILABLE ||
        e == STANZA_ERR_ITEM_NOT_FOUND) {
        log_debug("roster: %s is gone", s->full);
        hmap_del(&r->online, s->full);
        seen_free(s);
    }
    return true;
}

static char *child_text(const xml_node *st, const char *name)
{
    xml_node *c = xml_child(st, name, xml_ns(st));
    const char *t = c ? xml_text(c) : NULL;
    return t ? strndup(t, TEXT_MAX) : strdup("");
}

static void forget_session(roster *r, const char *full)
{
    seen *s = hmap_del(&r->online, full);
    if (s && s->ask_id[0])
        hmap_del(&r->asked, s->ask_id);
    seen_free(s);
}

static void remember(roster *r, const stanza_ctx *c)
{
    forget_session(r, c->from_full);
    seen *s = calloc(1, sizeof *s);
    if (!s || !(s->full = strdup(c->from_full)) || !(s->bare = strdup(c->from_bare)) ||
        !(s->show = child_text(c->st, "show")) || !(s->status = child_text(c->st, "status")) ||
        hmap_put(&r->online, s->full, s) < 0) {
        seen_free(s);
        log_warn("roster: out of memory: %s's presence is not tracked", c->from_full);
    }
}

bool online_presence(roster *r, const stanza_ctx *c)
{
    /* Only the host's users' presence is the host's forwarding; the rest is
     * someone else's business (and answered as before). */
    if (!r->enabled || !r->host || !c->from_full || !c->from.local ||
        strcmp(c->from.domain, r->host) != 0)
        return false;
    log_debug("roster: presence of %s%s%s", c->from_full, c->type ? ", " : "",
              c->type ? c->type : "");
    if (!roster_online_on(r))
        return true;
    if (!c->type)
        remember(r, c);
    else if (strcmp(c->type, "unavailable") == 0)
        forget_session(r, c->from_full);
    return true;
}

/* Whether bare may see who of group is online. */
static bool may_look(const roster *r, const char *group, const char *bare)
{
    return roster_is_admin(r, bare) || grp_is_member(r->groups, group, bare);
}

typedef void (*each_online_fn)(void *ud, const seen *s);

static void each_online(roster *r, const char *group, each_online_fn fn, void *ud)
{
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(&r->online, &i, &k, &v);)
        if (grp_is_member(r->groups, group, ((seen *)v)->bare)) {
            fn(ud, v);
            ask(r, v);
        }
}

static void disco_item(void *ud, const seen *s)
{
    xml_node *it = xml_append_new(ud, "item", NS_DISCO_ITEMS);
    char name[2 * TEXT_MAX + 8];
    snprintf(name, sizeof name, "%s%s%s", *s->show ? s->show : "available", *s->status ? ": " : "",
             s->status);
    if (it) {
        xml_set_attr(it, "jid", s->full);
        xml_set_attr(it, "name", name);
    }
}

bool online_disco(roster *r, const stanza_ctx *c)
{
    const char *node = xml_attr(c->payload, "node");
    if (!r->enabled || !node || strncmp(node, ONLINE_NODE, strlen(ONLINE_NODE)) != 0)
        return false;
    const char *group = node + strlen(ONLINE_NODE);
    stanza_error e = !r->loaded || !grp_exists(r->groups, group) ? STANZA_ERR_ITEM_NOT_FOUND
                     : !may_look(r, group, c->from_bare)         ? STANZA_ERR_FORBIDDEN
                     : !roster_online_on(r)                      ? STANZA_ERR_SERVICE_UNAVAILABLE
                                                                 : STANZA_ERR__COUNT;
    if (e != STANZA_ERR__COUNT) {
        const char *why = e == STANZA_ERR_ITEM_NOT_FOUND ? "no such group"
                          : e == STANZA_ERR_FORBIDDEN    ? "only the group's members may look"
                                                         : "the host grants no presence";
        roster_emit(r, stanza_error_reply(c->st, e, why, NULL));
        return true;
    }
    xml_node *q;
    xml_node *reply = stanza_iq_reply(c->st, "query", NS_DISCO_ITEMS, &q);
    if (q && xml_set_attr(q, "node", node) == 0)
        each_online(r, group, disco_item, q);
    roster_emit(r, reply);
    return true;
}

static const dataform_spec online_cols[] = {
    {"jid", DATAFORM_JID_SINGLE, "Address", 0, NULL, NULL, 0},
    {"show", DATAFORM_TEXT_SINGLE, "Show", 0, NULL, NULL, 0},
    {"status", DATAFORM_TEXT_SINGLE, "Status", 0, NULL, NULL, 0},
};

static void form_item(void *ud, const seen *s)
{
    const char *vars[] = {"jid", "show", "status"};
    const char *vals[] = {s->full, *s->show ? s->show : "available", s->status};
    dataform_add_item(ud, vars, vals, 3);
}

xml_node *online_form(roster *r, const char *group)
{
    char title[GRP_NAME_MAX + 32];
    snprintf(title, sizeof title, "Online in %s", group);
    xml_node *x = dataform_new(NULL, DATAFORM_RESULT, title, NULL);
    if (!dataform_add_reported(x, online_cols, 3)) {
        xml_free(x);
        return NULL;
    }
    each_online(r, group, form_item, x);
    return x;
}
