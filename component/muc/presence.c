/* Joining, leaving, nick changes and presence updates (XEP-0045 7.1-7.4,
 * 7.6, 7.14). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "muc/fanout.h"
#include "muc/history.h"
#include "muc/message.h"
#include "muc/nick.h"
#include "muc/presence.h"
#include "ns.h"

/* Whether `viewer` may see the real JID of occupants (XEP-0045 "whois"). */
static bool sees_jids(const muc_room *r, const muc_occupant *viewer)
{
    return r->cfg.whois == WHO_ANYONE || viewer->role == ROLE_MODERATOR;
}

void muc_presence_write(muc_room *r, buf *b, const muc_occupant *o, const muc_session *to,
                        const char *type, const int *codes, size_t ncodes, const char *extra_item,
                        const char *extra_x)
{
    bool self = to->occ == o;
    buf_puts(b, "<presence from=\"");
    buf_puts(b, o->from_attr);
    buf_puts(b, "\" to=\"");
    buf_puts(b, to->jid_attr);
    if (type) {
        buf_puts(b, "\" type=\"");
        buf_puts(b, type);
    }
    buf_puts(b, "\">");
    if (!type && o->nsessions > 0)
        buf_puts(b, o->sessions[0]->pres);
    buf_puts(b, "<x xmlns=\"" NS_MUC_USER "\"><item affiliation=\"");
    buf_puts(b, muc_aff_name(muc_room_aff(r, o->bare)));
    buf_puts(b, "\" role=\"");
    buf_puts(b, type ? "none" : muc_role_name(o->role));
    if ((self || sees_jids(r, to->occ)) && o->nsessions > 0) {
        buf_puts(b, "\" jid=\"");
        buf_puts(b, self ? to->jid_attr : o->sessions[0]->jid_attr);
    }
    buf_puts(b, "\"");
    if (extra_item && *extra_item == '>') {
        buf_puts(b, extra_item); /* children of <item/>, closes it */
    } else {
        if (extra_item)
            buf_puts(b, extra_item);
        buf_puts(b, "/>");
    }
    for (size_t i = 0; i < ncodes; i++)
        buf_printf(b, "<status code=\"%d\"/>", codes[i]);
    if (extra_x)
        buf_puts(b, extra_x);
    buf_puts(b, "</x><occupant-id xmlns=\"" NS_OCCUPANT_ID "\" id=\"");
    buf_puts(b, o->occupant_id);
    buf_puts(b, "\"/></presence>");
}

/* One presence of `o` for everyone, with 110 first among the codes its
 * own sessions get. */
typedef struct presence_out {
    muc_room *r;
    const muc_occupant *o;
    const char *type, *extra_item, *extra_x;
    const int *codes;
    size_t ncodes;
    int self[8];
    size_t nself;
} presence_out;

static void write_presence(void *ud, buf *b, const muc_occupant *p, const muc_session *to)
{
    const presence_out *po = ud;
    bool self = p == po->o;
    muc_presence_write(po->r, b, po->o, to, po->type, self ? po->self : po->codes,
                       self ? po->nself : po->ncodes, po->extra_item, po->extra_x);
}

static void presence_out_init(presence_out *po, muc_room *r, const muc_occupant *o,
                              const char *type, const int *codes, size_t ncodes,
                              const char *extra_item, const char *extra_x)
{
    *po = (presence_out){r, o, type, extra_item, extra_x, codes, ncodes, {110}, 1};
    for (size_t i = 0; i < ncodes && po->nself < 8; i++)
        po->self[po->nself++] = codes[i];
}

void muc_presence_broadcast(muc_room *r, const muc_occupant *o, const char *type, const int *codes,
                            size_t ncodes, const char *extra_item, const char *extra_x)
{
    /* What others learn of an occupant is what a restart must know:
     * whenever its presence goes out (it joined, or its status, nick or
     * role changed), its record follows. */
    if (!type)
        muc_changed(r->svc, &(muc_change){.kind = MUC_OCCUPANT, .room = r, .occupant = o});
    presence_out po;
    presence_out_init(&po, r, o, type, codes, ncodes, extra_item, extra_x);
    muc_fanout(r, NULL, write_presence, &po);
}

/* The part of a client's presence that others see: everything but the MUC
 * join element and anything pretending to come from the room. */
static char *presence_payload(const xml_node *st)
{
    buf b = BUF_INIT;
    buf_puts(&b, "");
    for (xml_node *c = xml_first_child(st); c; c = xml_next(c)) {
        if (xml_is_text(c))
            continue;
        const char *ns = xml_ns(c);
        if (ns && (strcmp(ns, NS_MUC) == 0 || strcmp(ns, NS_MUC_USER) == 0 ||
                   strcmp(ns, NS_OCCUPANT_ID) == 0))
            continue;
        xml_serialize(c, &b, NS_COMPONENT);
    }
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

void muc_session_leave(muc_room *r, muc_session *s, const int *codes, size_t ncodes)
{
    muc_occupant *o = s->occ;
    if (o->nsessions > 1) {
        /* Another session stays under this nick: only this one leaves. */
        presence_out po;
        presence_out_init(&po, r, o, "unavailable", codes, ncodes, NULL, NULL);
        muc_fanout(r, &(muc_audience){.session = s}, write_presence, &po);
        muc_session_remove(r, s);
        return;
    }
    muc_presence_broadcast(r, o, "unavailable", codes, ncodes, NULL, NULL);
    muc_occupant_remove(r, o);
    muc_room_reap(r);
}

static void update(muc_room *r, muc_session *s, const xml_node *st)
{
    char *payload = presence_payload(st);
    if (!payload)
        return;
    free(s->pres);
    s->pres = payload;
    muc_presence_broadcast(r, s->occ, NULL, NULL, 0, NULL, NULL);
}

static void change_nick(muc *m, muc_room *r, muc_session *s, const xml_node *st, const char *nick)
{
    muc_occupant *o = s->occ;
    muc_occupant *other = muc_occupant_by_nick(r, nick);
    if (other) {
        muc_error(m, st, STANZA_ERR_CONFLICT, "that nickname is in use");
        return;
    }
    stanza_error e;
    const char *why = muc_nick_refusal(r, nick, o->bare, o, &e);
    if (why) {
        muc_error(m, st, e, why);
        return;
    }
    if (o->nsessions > 1) {
        muc_error(m, st, STANZA_ERR_NOT_ACCEPTABLE,
                  "leave from your other clients before changing nickname");
        return;
    }
    /* XEP-0045 7.6: unavailable with 303 and the new nick from the old
     * address, then available from the new one. */
    buf nickattr = BUF_INIT;
    buf_puts(&nickattr, " nick=\"");
    buf_append_xml_escaped(&nickattr, nick, strlen(nick));
    buf_puts(&nickattr, "\"");
    char *extra = buf_strdup(&nickattr);
    buf_free(&nickattr);
    static const int c303[] = {303};
    muc_presence_broadcast(r, o, "unavailable", c303, 1, extra, NULL);
    free(extra);
    if (muc_occupant_rename(r, o, nick) < 0) {
        log_error("out of memory renaming an occupant");
        return;
    }
    char *payload = presence_payload(st);
    if (payload) {
        free(s->pres);
        s->pres = payload;
    }
    muc_presence_broadcast(r, o, NULL, NULL, 0, NULL, NULL);
}

static bool password_ok(const muc_room *r, const xml_node *st)
{
    if (!r->cfg.password)
        return true;
    const xml_node *x = xml_child(st, "x", NS_MUC);
    xml_node *pw = x ? xml_child(x, "password", NS_MUC) : NULL;
    return pw && xml_text(pw) && strcmp(xml_text(pw), r->cfg.password) == 0;
}

/* Refusals in the order XEP-0045 7.2 lists them; NULL when admitted. */
static const char *refusal(const muc_room *r, const char *bare, muc_aff aff, const xml_node *st,
                           bool seated, stanza_error *e)
{
    if (r->locked && aff != AFF_OWNER) {
        *e = STANZA_ERR_ITEM_NOT_FOUND;
        return "the room is being set up by its owner";
    }
    if (aff == AFF_OUTCAST) {
        *e = STANZA_ERR_FORBIDDEN;
        return "you are banned from this room";
    }
    if (aff < AFF_MEMBER && muc_room_rtbl_refuses(r, bare)) {
        *e = STANZA_ERR_FORBIDDEN;
        return MUC_RTBL_TEXT;
    }
    if (r->cfg.members_only && aff < AFF_MEMBER) {
        *e = STANZA_ERR_REGISTRATION_REQUIRED;
        return "this room is for members only";
    }
    if (aff < AFF_ADMIN && !password_ok(r, st)) {
        *e = STANZA_ERR_NOT_AUTHORIZED;
        return "a password is required";
    }
    /* Another session of someone already seated takes no seat. */
    if (r->cfg.max_users && r->noccupants >= r->cfg.max_users && aff < AFF_ADMIN && !seated) {
        *e = STANZA_ERR_SERVICE_UNAVAILABLE;
        return "the room is full";
    }
    return NULL;
}

/* What a joining session is sent (XEP-0045 7.2.3): everyone already
 * present; its own presence with 110 and `codes` (to everyone when
 * tell_all, else to it alone); then the history (unless the room is new)
 * and the subject, which tells the client the join is complete. */
static void write_others(void *ud, buf *b, const muc_occupant *p, const muc_session *to)
{
    muc_room *r = ud;
    for (size_t i = 0; i < r->noccupants; i++)
        if (r->occupants[i] != p)
            muc_presence_write(r, b, r->occupants[i], to, NULL, NULL, 0, NULL, NULL);
}

typedef struct catch_up {
    muc_room *r;
    const xml_node *hist; /* the join's <history/>, NULL: none asked */
    bool history;         /* the room is not new */
} catch_up;

static void write_catch_up(void *ud, buf *b, const muc_occupant *p, const muc_session *to)
{
    (void)p;
    const catch_up *cu = ud;
    if (cu->history)
        muc_history_send(cu->r, b, to, cu->hist);
    muc_subject_send(cu->r, b, to);
}

static void welcome(muc_room *r, muc_session *s, const xml_node *st, const int *codes,
                    size_t ncodes, bool tell_all, bool history)
{
    const muc_audience only_s = {.session = s};
    muc_fanout(r, &only_s, write_others, r);
    if (tell_all) {
        muc_presence_broadcast(r, s->occ, NULL, codes, ncodes, NULL, NULL);
    } else {
        presence_out po;
        presence_out_init(&po, r, s->occ, NULL, codes, ncodes, NULL, NULL);
        muc_fanout(r, &only_s, write_presence, &po);
    }
    const xml_node *x = xml_child(st, "x", NS_MUC);
    catch_up cu = {r, x ? xml_child(x, "history", NS_MUC) : NULL, history};
    muc_fanout(r, &only_s, write_catch_up, &cu);
}

static void join(muc *m, muc_room *r, const xml_node *st, const char *full, const char *bare,
                 const char *nick, const char *local)
{
    bool created = false;
    stanza_error e;
    /* Before anything is made for it (XEP-0045 17.1). */
    if (muc_nick_blank(nick)) {
        muc_error(m, st, STANZA_ERR_JID_MALFORMED, "a nickname must have something visible in it");
        return;
    }
    if (!r) {
        r = muc_room_create(m, local, bare);
        if (!r) {
            muc_error(m, st, STANZA_ERR_RESOURCE_CONSTRAINT, "no more rooms can be created");
            return;
        }
        created = true;
    }
    muc_aff aff = muc_room_aff(r, bare);
    muc_occupant *seat = muc_occupant_by_nick(r, nick);
    const char *why = refusal(r, bare, aff, st, seat && strcmp(seat->bare, bare) == 0, &e);
    if (why) {
        muc_error(m, st, e, why);
        if (created)
            muc_room_reap(r);
        return;
    }
    muc_occupant *o = muc_occupant_by_nick(r, nick);
    bool new_occupant = !o;
    if (o && strcmp(o->bare, bare) != 0) {
        muc_error(m, st, STANZA_ERR_CONFLICT, "that nickname is in use");
        return;
    }
    why = o ? NULL : muc_nick_refusal(r, nick, bare, NULL, &e);
    if (why) {
        muc_error(m, st, e, why);
        if (created)
            muc_room_reap(r);
        return;
    }
    if (!o) {
        o = muc_occupant_add(r, nick, bare);
        if (o)
            o->role = muc_room_default_role(r, aff);
    }
    muc_session *s = o ? muc_session_add(r, o, full) : NULL;
    if (!s) {
        if (o && o->nsessions == 0)
            muc_occupant_remove(r, o);
        muc_error(m, st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        if (created)
            muc_room_reap(r);
        return;
    }
    char *payload = presence_payload(st);
    if (payload) {
        free(s->pres);
        s->pres = payload;
    }
    /* A temporary room is stored for as long as it has occupants, so a
     * restart can seat them again (occstore.c); a room that was empty is
     * listed again. */
    if (created)
        muc_room_changed(r, MUC_ROOM_STATE);
    else if (r->noccupants == 1 && new_occupant)
        muc_room_changed(r, MUC_ROOM_OCCUPIED);
    if (!new_occupant)
        muc_changed(m, &(muc_change){.kind = MUC_SESSION_JOINED, .room = r, .session = s});
    int codes[3];
    size_t n = 0;
    if (r->cfg.whois == WHO_ANYONE)
        codes[n++] = 100;
    if (created)
        codes[n++] = 201;
    /* (Another session of someone already present: only it learns.) */
    welcome(r, s, st, codes, n, new_occupant, !created);
}

/* A session already in the room sends a join again: its client lost track
 * (it rejoins after a restart of ours or of its own, say). It gets what a
 * join gets; the others hear of it only if its presence changed. */
static void rejoin(muc_room *r, muc_session *s, const xml_node *st)
{
    char *payload = presence_payload(st);
    bool changed = payload && strcmp(payload, s->pres) != 0;
    if (payload) {
        free(s->pres);
        s->pres = payload;
    }
    int codes[1];
    size_t n = 0;
    if (r->cfg.whois == WHO_ANYONE)
        codes[n++] = 100;
    welcome(r, s, st, codes, n, changed, true);
}

void muc_presence(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *st = c->st;
    const jid *to = &c->to;
    const char *type = c->type;
    const char *full = c->from_full, *bare = c->from_bare;
    if (!full || !bare)
        return;
    muc_session *s = r ? muc_session_by_jid(r, full) : NULL;
    if (type && (strcmp(type, "unavailable") == 0 || strcmp(type, "error") == 0)) {
        /* An error presence from an occupant means its client is gone. */
        if (s)
            muc_session_leave(r, s, NULL, 0);
    } else if (type) {
        /* Subscriptions and probes have no meaning for a room. */
        muc_error(m, st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
    } else if (!to->resource) {
        muc_error(m, st, STANZA_ERR_JID_MALFORMED, "a nickname is required");
    } else if (!s) {
        join(m, r, st, full, bare, to->resource, to->local);
    } else if (strcmp(s->occ->nick, to->resource) == 0 && xml_child(st, "x", NS_MUC)) {
        rejoin(r, s, st);
    } else if (strcmp(s->occ->nick, to->resource) == 0) {
        update(r, s, st);
    } else {
        change_nick(m, r, s, st, to->resource);
    }
}
