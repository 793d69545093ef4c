/* The admin protocol (XEP-0045 8, 9): roles (kick, voice, moderator) and
 * affiliations (ban, member, admin, owner lists). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc/admin.h"
#include "muc/fanout.h"
#include "muc/presence.h"
#include "ns.h"

typedef struct change {
    const xml_node *item;
    bool is_role;
    muc_role role;
    muc_aff aff;
    char *target; /* nick (role) or normalized bare JID (affiliation) */
    const char *reason;
} change;

/* Returns NULL when `actor` may make the change, else an error to send. */
static const char *check(const muc_room *r, const muc_occupant *actor, const char *actor_bare,
                         muc_aff actor_aff, const change *c, stanza_error *e)
{
    *e = STANZA_ERR_NOT_ALLOWED;
    if (c->is_role) {
        const muc_occupant *t = muc_occupant_by_nick(r, c->target);
        if (!actor || actor->role != ROLE_MODERATOR) {
            *e = STANZA_ERR_FORBIDDEN;
            return "only moderators may change roles";
        }
        if (!t) {
            *e = STANZA_ERR_ITEM_NOT_FOUND;
            return "nobody by that nickname is here";
        }
        muc_aff taff = muc_room_aff(r, t->bare);
        if (taff >= AFF_ADMIN && actor_aff != AFF_OWNER && t != actor)
            return "admins and owners keep their role";
        if ((c->role == ROLE_MODERATOR || t->role == ROLE_MODERATOR) && actor_aff < AFF_ADMIN)
            return "only admins and owners may grant or revoke moderation";
        if (taff >= AFF_ADMIN && c->role != ROLE_MODERATOR)
            return "admins and owners are always moderators";
        return NULL;
    }
    muc_aff cur = muc_room_aff(r, c->target);
    if (actor_aff < AFF_ADMIN) {
        *e = STANZA_ERR_FORBIDDEN;
        return "only admins and owners may change affiliations";
    }
    /* XEP-0045 9.1: "If an admin or owner attempts to ban himself, the
     * service MUST deny the request and return a <conflict/> error". */
    if (c->aff == AFF_OUTCAST && strcmp(c->target, actor_bare) == 0) {
        *e = STANZA_ERR_CONFLICT;
        return "you cannot ban yourself";
    }
    /* 10.3 and 10.6: granting admin or owner is the owners' ("MUST return
     * a <forbidden/> error"); 9.1: an admin who tries to ban an owner (or
     * change an admin) is refused with not-allowed. */
    if (actor_aff == AFF_ADMIN && c->aff >= AFF_ADMIN) {
        *e = STANZA_ERR_FORBIDDEN;
        return "only owners may grant admin or owner";
    }
    if (actor_aff == AFF_ADMIN && cur >= AFF_ADMIN)
        return "only owners may change admins and owners";
    if (cur == AFF_OWNER && c->aff != AFF_OWNER && muc_room_owner_count(r) <= 1) {
        *e = STANZA_ERR_CONFLICT;
        return "a room must keep at least one owner";
    }
    return NULL;
}

char *muc_item_children(const char *actor, const char *reason)
{
    buf b = BUF_INIT;
    buf_puts(&b, ">");
    if (actor) {
        buf_puts(&b, "<actor nick=\"");
        buf_append_xml_escaped(&b, actor, strlen(actor));
        buf_puts(&b, "\"/>");
    }
    if (reason && *reason) {
        buf_puts(&b, "<reason>");
        buf_append_xml_escaped(&b, reason, strlen(reason));
        buf_puts(&b, "</reason>");
    }
    buf_puts(&b, "</item>");
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

void muc_occupant_expel(muc_room *r, muc_occupant *o, int code, const char *actor,
                        const char *reason)
{
    char *extra = muc_item_children(actor, reason);
    const int codes[] = {code};
    muc_presence_broadcast(r, o, "unavailable", codes, 1, extra, NULL);
    free(extra);
    muc_occupant_remove(r, o);
}

/* actor is the acting occupant's nick (a copy: the actor may be among those
 * expelled). */
static void apply(muc_room *r, const char *actor, const change *c)
{
    if (c->is_role) {
        muc_occupant *t = muc_occupant_by_nick(r, c->target);
        if (!t)
            return;
        if (c->role == ROLE_NONE) {
            muc_occupant_expel(r, t, 307, actor, c->reason);
            return;
        }
        t->role = c->role;
        char *extra = muc_item_children(actor, c->reason);
        muc_presence_broadcast(r, t, NULL, NULL, 0, extra, NULL);
        free(extra);
        return;
    }
    muc_room_set_aff(r, c->target, c->aff, c->reason);
    /* Everyone present under that bare JID feels the change. */
    for (size_t i = r->noccupants; i-- > 0;) {
        muc_occupant *o = r->occupants[i];
        if (strcmp(o->bare, c->target) != 0)
            continue;
        if (c->aff == AFF_OUTCAST) {
            muc_occupant_expel(r, o, 301, actor, c->reason);
        } else if (r->cfg.members_only && c->aff < AFF_MEMBER) {
            muc_occupant_expel(r, o, 321, actor, c->reason);
        } else {
            o->role = muc_room_default_role(r, c->aff);
            char *extra = muc_item_children(actor, c->reason);
            muc_presence_broadcast(r, o, NULL, NULL, 0, extra, NULL);
            free(extra);
        }
    }
}

static void list(muc *m, muc_room *r, const xml_node *iq, const xml_node *item,
                 const muc_occupant *actor, muc_aff actor_aff)
{
    muc_aff aff;
    muc_role role;
    bool by_aff = muc_aff_parse(xml_attr(item, "affiliation"), &aff) == 0;
    bool by_role = !by_aff && muc_role_parse(xml_attr(item, "role"), &role) == 0;
    if (!by_aff && !by_role) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "ask for an affiliation or a role");
        return;
    }
    /* Members and moderators are visible to moderators; the rest of the
     * lists (who is banned, who runs the room) to admins and owners. */
    bool allowed = by_role || aff == AFF_MEMBER
                       ? (actor && actor->role == ROLE_MODERATOR) || actor_aff >= AFF_ADMIN
                       : actor_aff >= AFF_ADMIN;
    if (!allowed) {
        muc_error(m, iq, STANZA_ERR_FORBIDDEN, NULL);
        return;
    }
    xml_node *q;
    xml_node *res = stanza_iq_reply(iq, "query", NS_MUC_ADMIN, &q);
    if (!q) {
        xml_free(res);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    if (by_aff) {
        size_t it = 0;
        void *v;
        while (hmap_next(&r->affs, &it, NULL, &v)) {
            const muc_aff_entry *e = v;
            if (e->aff != aff)
                continue;
            xml_node *i = xml_append_new(q, "item", NULL);
            if (!i)
                continue;
            xml_set_attr(i, "affiliation", muc_aff_name(aff));
            xml_set_attr(i, "jid", e->jid);
            if (e->reason)
                xml_append_text(xml_append_new(i, "reason", NULL), e->reason);
        }
    } else {
        for (size_t k = 0; k < r->noccupants; k++) {
            const muc_occupant *o = r->occupants[k];
            if (o->role != role)
                continue;
            xml_node *i = xml_append_new(q, "item", NULL);
            if (!i)
                continue;
            xml_set_attr(i, "role", muc_role_name(role));
            xml_set_attr(i, "nick", o->nick);
            xml_set_attr(i, "affiliation", muc_aff_name(muc_room_aff(r, o->bare)));
            if (r->cfg.whois == WHO_ANYONE || (actor && actor->role == ROLE_MODERATOR))
                xml_set_attr(i, "jid", o->bare);
        }
    }
    muc_send(m, res);
    xml_free(res);
}

#define MAX_ITEMS 64

/* Reads one <item/> of a set; NULL, or why it is refused (with *e). Only
 * an item read whole holds a target to free. */
static const char *parse_item(const xml_node *it, change *ch, stanza_error *e)
{
    memset(ch, 0, sizeof *ch);
    ch->item = it;
    xml_node *reason = xml_child(it, "reason", NULL);
    ch->reason = reason ? xml_text(reason) : NULL;
    const char *nick = xml_attr(it, "nick");
    const char *role = xml_attr(it, "role");
    const char *aff = xml_attr(it, "affiliation");
    const char *target = xml_attr(it, "jid");
    /* XEP-0045 17.4: one or the other; both in one item is a bad request. */
    if (role && aff)
        return "an item changes a role or an affiliation, not both";
    if (role && nick) {
        ch->is_role = true;
        if (muc_role_parse(role, &ch->role) < 0)
            return "unknown role";
        ch->target = strdup(nick);
    } else if (aff && target) {
        if (muc_aff_parse(aff, &ch->aff) < 0)
            return "unknown affiliation";
        jid j;
        jid_err je = jid_parse(target, &j);
        if (je != JID_OK) {
            *e = STANZA_ERR_JID_MALFORMED;
            return jid_strerror(je);
        }
        ch->target = jid_bare(&j);
        jid_free(&j);
    } else {
        return "an item needs nick and role, or jid and affiliation";
    }
    if (!ch->target) {
        *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
        return "out of memory";
    }
    return NULL;
}

/* Applies checked changes, the affiliations kept. */
static void apply_all(muc_room *r, const muc_occupant *actor, change *changes, size_t n)
{
    /* A copy: the actor may be among those sent away. */
    char *actor_nick = actor ? strdup(actor->nick) : NULL;
    bool affs_changed = false;
    for (size_t i = 0; i < n; i++) {
        apply(r, actor_nick, &changes[i]);
        affs_changed |= !changes[i].is_role;
    }
    free(actor_nick);
    if (affs_changed)
        muc_room_changed(r, MUC_ROOM_STATE);
    muc_room_reap(r);
}

void muc_admin(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *iq = c->st, *q = c->payload;
    if (!c->from_full || !c->from_bare) {
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    muc_session *s = muc_session_by_jid(r, c->from_full);
    const muc_occupant *actor = s ? s->occ : NULL;
    muc_aff actor_aff = muc_room_aff(r, c->from_bare);
    const xml_node *first = xml_child(q, "item", NULL);
    if (!first) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "no <item/>");
        return;
    }
    if (strcmp(c->type, "get") == 0) {
        list(m, r, iq, first, actor, actor_aff);
        return;
    }
    change changes[MAX_ITEMS];
    size_t n = 0;
    const char *why = NULL;
    stanza_error e = STANZA_ERR_BAD_REQUEST;
    /* All items are checked before any is applied, so a batch either
     * happens or not at all. */
    for (xml_node *it = xml_first_child(q); it && !why; it = xml_next(it)) {
        if (xml_is_text(it) || strcmp(xml_name(it), "item") != 0)
            continue;
        if (n == MAX_ITEMS) {
            e = STANZA_ERR_POLICY_VIOLATION;
            why = "too many items in one request";
        } else if (!(why = parse_item(it, &changes[n], &e))) {
            why = check(r, actor, c->from_bare, actor_aff, &changes[n], &e);
            n++;
        }
    }
    if (why) {
        muc_error(m, iq, e, why);
    } else {
        muc_result(m, iq);
        apply_all(r, actor, changes, n);
    }
    for (size_t i = 0; i < n; i++)
        free(changes[i].target);
}
