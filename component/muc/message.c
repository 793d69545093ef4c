/* Groupchat messages, subject changes, private messages and mediated
 * invitations (XEP-0045 7.4, 7.5, 7.8.2, 8.1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "muc/fanout.h"
#include "muc/message.h"
#include "ns.h"
#include "safety/linkpol.h"
#include "safety/ublock.h"

/* The message's children as occupants will see them: without anything that
 * only the room may assert (stanza-ids it assigns, occupant ids, MUC user
 * data), so nobody can forge them. */
static int message_payload(const muc_room *r, const xml_node *st, buf *b)
{
    for (xml_node *c = xml_first_child(st); c; c = xml_next(c)) {
        if (xml_is_text(c))
            continue;
        const char *ns = xml_ns(c) ? xml_ns(c) : "";
        if (strcmp(ns, NS_OCCUPANT_ID) == 0 || strcmp(ns, NS_MUC_USER) == 0)
            continue;
        if (strcmp(ns, NS_SID) == 0 && strcmp(xml_name(c), "stanza-id") == 0) {
            const char *by = xml_attr(c, "by");
            if (!by || strcmp(by, r->jid) == 0)
                continue;
        }
        if (xml_serialize(c, b, NS_COMPONENT) < 0)
            return -1;
    }
    return 0;
}

/* A stranger: no affiliation, no moderator role, and in the room for less
 * than [links] stranger_minutes. */
static linkpol_action links_policy(const muc *m, const muc_room *r)
{
    return (linkpol_action)(r->cfg.stranger_links ? r->cfg.stranger_links - 1 : m->links_policy);
}

static bool stranger(muc *m, const muc_room *r, const muc_occupant *o)
{
    return links_policy(m, r) != LINKPOL_DELIVER && o->role != ROLE_MODERATOR &&
           muc_now(m) - o->joined < m->stranger_seconds && muc_room_aff(r, o->bare) == AFF_NONE;
}

/* Holds a stranger's message for the room's moderators: they get its text
 * in a message from the room (there is no release: a moderator who trusts
 * the sender grants membership, and the sender sends again); the sender is
 * told. */
static void hold(muc_room *r, muc_session *s, const xml_node *st)
{
    const xml_node *bodyn = xml_child(st, "body", NS_COMPONENT);
    const char *body = bodyn ? xml_text((xml_node *)bodyn) : NULL;
    buf b = BUF_INIT;
    buf_puts(&b, "\" type=\"normal\"><body>Held for moderators: a message with links or files "
                 "from newcomer ");
    buf_append_xml_escaped(&b, s->occ->nick, strlen(s->occ->nick));
    buf_puts(&b, ": ");
    if (body)
        buf_append_xml_escaped(&b, body, strlen(body));
    buf_puts(&b, "</body><held xmlns=\"" NS_STOA "\" nick=\"");
    buf_append_xml_escaped(&b, s->occ->nick, strlen(s->occ->nick));
    buf_puts(&b, "\"/></message>");
    static const char told[] =
        "\" type=\"normal\"><body>Your message was held for the moderators: links and files from "
        "newcomers need their approval.</body><held xmlns=\"" NS_STOA "\"/></message>";
    buf head = BUF_INIT;
    buf_puts(&head, "<message from=\"");
    buf_puts(&head, r->jid_attr);
    buf_puts(&head, "\" to=\"");
    const char *h = buf_unread(&head);
    size_t hl = buf_unread_len(&head);
    muc_fanout_wrapped(r, &(muc_audience){.moderators = true}, h, hl, buf_unread(&b),
                       buf_unread_len(&b));
    muc_fanout_wrapped(r, &(muc_audience){.session = s}, h, hl, told, sizeof told - 1);
    buf_free(&head);
    buf_free(&b);
}

/* Applies the link policy to a stranger's message. Returns false when the
 * message must not go out (refused or held); *mark asks for the marker. */
static bool link_policy(muc *m, muc_room *r, muc_session *s, const xml_node *st, bool *mark)
{
    *mark = false;
    if (!stranger(m, r, s->occ) || !linkpol_detect(st))
        return true;
    switch (links_policy(m, r)) {
    case LINKPOL_DELIVER:
        return true;
    case LINKPOL_MARK:
        *mark = true;
        return true;
    case LINKPOL_HOLD:
        hold(r, s, st);
        return false;
    case LINKPOL_REJECT:
        break;
    }
    char text[160];
    snprintf(text, sizeof text,
             "links and files from newcomers are not accepted here; try again in %.0f minutes "
             "or ask for membership",
             (m->stranger_seconds - (muc_now(m) - s->occ->joined)) / 60 + 0.5);
    muc_error(m, st, STANZA_ERR_NOT_ACCEPTABLE, text);
    return false;
}

/* Marks links nobody vouched for; the body stays as written (changing it
 * would break corrections, quotes and end-to-end encryption). */
#define UNVERIFIED_MARK "<unverified-links xmlns=\"" NS_STOA "\"/>"

static void write_subject(void *ud, buf *b, const muc_occupant *p, const muc_session *to)
{
    (void)p;
    muc_subject_send(ud, b, to);
}

static void subject_change(muc *m, muc_room *r, muc_session *s, const xml_node *st,
                           const xml_node *subj)
{
    muc_occupant *o = s->occ;
    if (o->role != ROLE_MODERATOR && !(r->cfg.change_subject && o->role >= ROLE_PARTICIPANT)) {
        muc_error(m, st, STANZA_ERR_FORBIDDEN, "you may not change the subject");
        return;
    }
    const char *text = xml_text((xml_node *)subj);
    char *t = strdup(text ? text : "");
    char *by = strdup(o->nick);
    if (!t || !by) {
        free(t);
        free(by);
        muc_error(m, st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    free(r->subject);
    free(r->subject_by);
    r->subject = t;
    r->subject_by = by;
    muc_room_changed(r, MUC_ROOM_STATE);
    muc_fanout(r, NULL, write_subject, r);
}

void muc_subject_send(muc_room *r, buf *b, const muc_session *to)
{
    buf_puts(b, "<message from=\"");
    buf_puts(b, r->jid_attr);
    if (r->subject_by) {
        buf_puts(b, "/");
        buf_append_xml_escaped(b, r->subject_by, strlen(r->subject_by));
    }
    buf_puts(b, "\" to=\"");
    buf_puts(b, to->jid_attr);
    buf_puts(b, "\" type=\"groupchat\">");
    if (r->subject && *r->subject) {
        buf_puts(b, "<subject>");
        buf_append_xml_escaped(b, r->subject, strlen(r->subject));
        buf_puts(b, "</subject></message>");
    } else {
        buf_puts(b, "<subject/></message>");
    }
}

static void groupchat(muc *m, muc_room *r, muc_session *s, const xml_node *st)
{
    muc_occupant *o = s->occ;
    if (o->role < ROLE_PARTICIPANT) {
        muc_error(m, st, STANZA_ERR_FORBIDDEN, "you have no voice in this room");
        return;
    }
    if (muc_room_rtbl_refuses(r, o->bare)) {
        muc_error(m, st, STANZA_ERR_FORBIDDEN, MUC_RTBL_TEXT);
        return;
    }
    const xml_node *subj = xml_child(st, "subject", NS_COMPONENT);
    const xml_node *body = xml_child(st, "body", NS_COMPONENT);
    if (subj && !body) {
        subject_change(m, r, s, st, subj);
        return;
    }
    bool mark;
    if (!link_policy(m, r, s, st, &mark))
        return;
    buf payload = BUF_INIT;
    if (message_payload(r, st, &payload) < 0 || (mark && buf_puts(&payload, UNVERIFIED_MARK) < 0)) {
        buf_free(&payload);
        muc_error(m, st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    char sid[17];
    muc_new_stanza_id(m, sid);

    /* One head and one tail for every recipient: the fan-out below only
     * copies bytes, with no allocation per occupant. */
    buf head = BUF_INIT, tail = BUF_INIT;
    buf_puts(&head, "<message from=\"");
    buf_puts(&head, o->from_attr);
    buf_puts(&head, "\" type=\"groupchat\"");
    const char *id = xml_attr(st, "id");
    if (id) {
        buf_puts(&head, " id=\"");
        buf_append_xml_escaped(&head, id, strlen(id));
        buf_puts(&head, "\"");
    }
    buf_puts(&head, " to=\"");
    buf_puts(&tail, "\">");
    buf_append(&tail, buf_unread(&payload), buf_unread_len(&payload));
    buf_printf(&tail,
               "<stanza-id xmlns=\"" NS_SID "\" id=\"%s\" by=\"%s\"/>"
               "<occupant-id xmlns=\"" NS_OCCUPANT_ID "\" id=\"%s\"/></message>",
               sid, r->jid_attr, o->occupant_id);
    muc_fanout_wrapped(r, &(muc_audience){.unless_blocking = o->bare}, buf_unread(&head),
                       buf_unread_len(&head), buf_unread(&tail), buf_unread_len(&tail));
    if (body) {
        char *pl = buf_strdup(&payload);
        if (pl) {
            double now = muc_now(m);
            muc_history_add(r, o, pl, sid, now);
            muc_history_entry e = {.nick = o->nick, .payload = pl, .stanza_id = sid, .stamp = now};
            memcpy(e.occupant_id, o->occupant_id, sizeof e.occupant_id);
            muc_changed(m, &(muc_change){.kind = MUC_MESSAGE, .room = r, .entry = &e});
        }
        free(pl);
    }
    buf_free(&head);
    buf_free(&tail);
    buf_free(&payload);
}

static bool may_pm(const muc_room *r, const muc_occupant *o)
{
    switch (r->cfg.allow_pm) {
    case WHO_ANYONE:
        return true;
    case WHO_PARTICIPANTS:
        return o->role >= ROLE_PARTICIPANT;
    case WHO_MODERATORS:
        return o->role == ROLE_MODERATOR;
    case WHO_NOBODY:
        return false;
    }
    return false;
}

static void private_message(muc *m, muc_room *r, muc_session *s, const xml_node *st,
                            const char *nick)
{
    const char *type = xml_attr(st, "type");
    if (type && strcmp(type, "groupchat") == 0) {
        muc_error(m, st, STANZA_ERR_BAD_REQUEST, "groupchat messages go to the room itself");
        return;
    }
    muc_occupant *target = muc_occupant_by_nick(r, nick);
    if (!target) {
        muc_error(m, st, STANZA_ERR_ITEM_NOT_FOUND, "nobody by that nickname is here");
        return;
    }
    if (!may_pm(r, s->occ)) {
        muc_error(m, st, STANZA_ERR_FORBIDDEN, "private messages are not allowed in this room");
        return;
    }
    if (muc_room_rtbl_refuses(r, s->occ->bare)) {
        muc_error(m, st, STANZA_ERR_FORBIDDEN, MUC_RTBL_TEXT);
        return;
    }
    bool mark;
    if (!link_policy(m, r, s, st, &mark))
        return;
    /* Blocked: dropped without a word, as in the room itself; an error
     * would tell the sender they are blocked. */
    if (target->blocks && ublock_blocks(target->blocks, s->occ->bare))
        return;
    buf head = BUF_INIT, tail = BUF_INIT;
    buf_puts(&head, "<message from=\"");
    buf_puts(&head, s->occ->from_attr);
    buf_puts(&head, "\" to=\"");
    buf_puts(&tail, "\" type=\"");
    buf_puts(&tail, type ? type : "normal");
    const char *id = xml_attr(st, "id");
    if (id) {
        buf_puts(&tail, "\" id=\"");
        buf_append_xml_escaped(&tail, id, strlen(id));
    }
    buf_puts(&tail, "\">");
    message_payload(r, st, &tail);
    if (mark)
        buf_puts(&tail, UNVERIFIED_MARK);
    /* XEP-0045 7.5: marks the message as coming through a room. */
    buf_puts(&tail,
             "<x xmlns=\"" NS_MUC_USER "\"/><occupant-id xmlns=\"" NS_OCCUPANT_ID "\" id=\"");
    buf_puts(&tail, s->occ->occupant_id);
    buf_puts(&tail, "\"/></message>");
    muc_fanout_wrapped(r, &(muc_audience){.only = target}, buf_unread(&head), buf_unread_len(&head),
                       buf_unread(&tail), buf_unread_len(&tail));
    buf_free(&head);
    buf_free(&tail);
}

static void invite(muc *m, muc_room *r, muc_session *s, const xml_node *st, const xml_node *inv)
{
    muc_occupant *o = s->occ;
    muc_aff aff = muc_room_aff(r, o->bare);
    if (!r->cfg.allow_invites && o->role != ROLE_MODERATOR && aff < AFF_ADMIN) {
        muc_error(m, st, STANZA_ERR_FORBIDDEN, "only moderators may invite to this room");
        return;
    }
    jid to;
    const char *to_s = xml_attr(inv, "to");
    if (!to_s || jid_parse(to_s, &to) != JID_OK) {
        muc_error(m, st, STANZA_ERR_JID_MALFORMED, "the invitee's address is not valid");
        return;
    }
    char *invitee = jid_full(&to);
    char *invitee_bare = jid_bare(&to);
    jid_free(&to);
    if (!invitee || !invitee_bare)
        goto done;
    /* XEP-0045 7.8.2: inviting someone to a members-only room, with the
     * right to do so, makes them a member. */
    if (r->cfg.members_only && muc_room_aff(r, invitee_bare) == AFF_NONE)
        muc_room_set_aff(r, invitee_bare, AFF_MEMBER, NULL);
    xml_node *msg = xml_new("message", NS_COMPONENT);
    xml_node *x = msg ? xml_append_new(msg, "x", NS_MUC_USER) : NULL;
    xml_node *i = x ? xml_append_new(x, "invite", NULL) : NULL;
    if (!i)
        goto fail;
    xml_set_attr(msg, "from", r->jid);
    xml_set_attr(msg, "to", invitee);
    if (xml_attr(st, "id"))
        xml_set_attr(msg, "id", xml_attr(st, "id"));
    xml_set_attr(i, "from", s->jid);
    xml_node *reason = xml_child(inv, "reason", NULL);
    const char *rtext = reason ? xml_text(reason) : NULL;
    if (rtext)
        xml_append_text(xml_append_new(i, "reason", NULL), rtext);
    if (r->cfg.password)
        xml_append_text(xml_append_new(x, "password", NULL), r->cfg.password);
    /* XEP-0249's element too, for clients that only know direct invites. */
    xml_node *conf = xml_append_new(msg, "x", NS_CONFERENCE);
    if (conf) {
        xml_set_attr(conf, "jid", r->jid);
        if (rtext)
            xml_set_attr(conf, "reason", rtext);
        if (r->cfg.password)
            xml_set_attr(conf, "password", r->cfg.password);
    }
    if (m->ublock) {
        /* The invitee may block the inviter; ublock_send checks and takes
         * msg. */
        ublock_send(m->ublock, o->bare, msg);
        msg = NULL;
    } else {
        muc_send(m, msg);
    }
fail:
    xml_free(msg);
done:
    free(invitee);
    free(invitee_bare);
}

static void decline(muc *m, muc_room *r, const xml_node *st, const xml_node *dec, const char *full)
{
    jid to;
    const char *to_s = xml_attr(dec, "to");
    if (!to_s || jid_parse(to_s, &to) != JID_OK) {
        muc_error(m, st, STANZA_ERR_JID_MALFORMED, "the inviter's address is not valid");
        return;
    }
    char *inviter = jid_full(&to);
    jid_free(&to);
    xml_node *msg = xml_new("message", NS_COMPONENT);
    xml_node *x = msg ? xml_append_new(msg, "x", NS_MUC_USER) : NULL;
    xml_node *d = x ? xml_append_new(x, "decline", NULL) : NULL;
    if (d && inviter) {
        xml_set_attr(msg, "from", r->jid);
        xml_set_attr(msg, "to", inviter);
        xml_set_attr(d, "from", full);
        xml_node *reason = xml_child(dec, "reason", NULL);
        if (reason && xml_text(reason))
            xml_append_text(xml_append_new(d, "reason", NULL), xml_text(reason));
        muc_send(m, msg);
    }
    xml_free(msg);
    free(inviter);
}

void muc_message(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *st = c->st;
    const jid *to = &c->to;
    const char *full = c->from_full;
    if (!full) {
        muc_error(m, st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    muc_session *s = muc_session_by_jid(r, full);
    const xml_node *x = xml_child(st, "x", NS_MUC_USER);
    const xml_node *dec = x ? xml_child(x, "decline", NULL) : NULL;
    if (!to->resource && dec) {
        /* Declining needs no seat in the room. */
        decline(m, r, st, dec, full);
    } else if (!s) {
        muc_error(m, st, STANZA_ERR_NOT_ACCEPTABLE, "you are not in this room");
    } else if (to->resource) {
        private_message(m, r, s, st, to->resource);
    } else {
        const char *type = xml_attr(st, "type");
        const xml_node *inv = x ? xml_child(x, "invite", NULL) : NULL;
        if (type && strcmp(type, "groupchat") == 0)
            groupchat(m, r, s, st);
        else if (inv)
            invite(m, r, s, st, inv);
        else
            muc_error(m, st, STANZA_ERR_BAD_REQUEST,
                      "send groupchat messages with type='groupchat'");
    }
}
