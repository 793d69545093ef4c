/* Voice requests (XEP-0045 7.13) and their approval by a moderator (8.6). */
#include <stdlib.h>
#include <string.h>

#include "dataform.h"
#include "jid.h"
#include "muc/admin.h"
#include "muc/fanout.h"
#include "muc/presence.h"
#include "muc/voice.h"

static const dataform_option roles[] = {{NULL, "participant"}, {NULL, NULL}};

/* What a request holds (7.13: "only a muc#role field with a value of
 * participant") and what an approval may send back (8.6: the whole form). */
static const dataform_spec request_specs[] = {
    {"muc#role", DATAFORM_LIST_SINGLE, "Requested role", DATAFORM_REQUIRED, NULL, roles, 0},
};
static const dataform_spec approval_specs[] = {
    {"muc#role", DATAFORM_LIST_SINGLE, "Requested role", DATAFORM_REQUIRED | DATAFORM_ABSENT_OK,
     "participant", roles, 0},
    {"muc#jid", DATAFORM_JID_SINGLE, "User ID", 0, NULL, NULL, 0},
    {"muc#roomnick", DATAFORM_TEXT_SINGLE, "Room Nickname", DATAFORM_REQUIRED, NULL, NULL, 0},
    {"muc#request_allow", DATAFORM_BOOLEAN, "Grant voice to this person?", 0, "false", NULL, 0},
};
#define NSPECS(a) (sizeof(a) / sizeof(a)[0])

static bool checked(muc *m, const xml_node *st, const dataform *f, const dataform_spec *specs,
                    size_t n)
{
    dataform_error err;
    if (dataform_check(f, specs, n, &err) == 0)
        return true;
    char text[200];
    dataform_error_text(&err, text, sizeof text);
    muc_error(m, st, err.cond, text);
    return false;
}

/* 8.6: the form every moderator gets, with the visitor's nick and address
 * filled in (moderators see real JIDs in every room this service has). */
static char *approval_form(const muc_session *s)
{
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, "Voice request",
                               "To approve this request for voice, select the \"Grant voice to "
                               "this person?\" checkbox and click OK. To skip this request, "
                               "click the cancel button.");
    dataform_add_form_type(x, NS_MUC_REQUEST);
    dataform_add_spec(x, &approval_specs[0]);
    dataform_add_field(x, "muc#jid", DATAFORM_JID_SINGLE, "User ID", s->jid, 0);
    dataform_add_field(x, "muc#roomnick", DATAFORM_TEXT_SINGLE, "Room Nickname", s->occ->nick, 0);
    xml_node *last = dataform_add_spec(x, &approval_specs[3]);
    char *out = NULL;
    buf b = BUF_INIT;
    if (last && xml_serialize(x, &b, NS_COMPONENT) == 0)
        out = buf_strdup(&b);
    buf_free(&b);
    xml_free(x);
    return out;
}

static size_t moderators(const muc_room *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->noccupants; i++)
        n += r->occupants[i]->role == ROLE_MODERATOR;
    return n;
}

static void request(muc *m, muc_room *r, muc_session *s, const xml_node *st, const dataform *f)
{
    if (!checked(m, st, f, request_specs, NSPECS(request_specs)))
        return;
    if (s->occ->role != ROLE_VISITOR) {
        muc_error(m, st, STANZA_ERR_NOT_ALLOWED, "you have voice in this room already");
        return;
    }
    if (!moderators(r)) {
        muc_error(m, st, STANZA_ERR_RECIPIENT_UNAVAILABLE, "no moderator is here to approve it");
        return;
    }
    char *form = approval_form(s);
    if (!form) {
        muc_error(m, st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    char sid[17];
    muc_new_stanza_id(m, sid);
    buf head = BUF_INIT, tail = BUF_INIT;
    buf_puts(&head, "<message from=\"");
    buf_puts(&head, r->jid_attr);
    buf_printf(&head, "\" id=\"voice-%s\" to=\"", sid);
    buf_puts(&tail, "\">");
    buf_puts(&tail, form);
    buf_puts(&tail, "</message>");
    muc_fanout_wrapped(r, &(muc_audience){.moderators = true}, buf_unread(&head),
                       buf_unread_len(&head), buf_unread(&tail), buf_unread_len(&tail));
    buf_free(&head);
    buf_free(&tail);
    free(form);
}

/* Whether addr (a submitted muc#jid) is o: its bare JID or a session's. */
static bool is_of(const muc_occupant *o, const char *addr)
{
    jid j;
    if (jid_parse(addr, &j) != JID_OK)
        return false;
    char *full = jid_full(&j);
    bool yes = full && strcmp(full, o->bare) == 0;
    for (size_t i = 0; full && !yes && i < o->nsessions; i++)
        yes = strcmp(full, o->sessions[i]->jid) == 0;
    free(full);
    jid_free(&j);
    return yes;
}

static void approval(muc *m, muc_room *r, muc_session *s, const xml_node *st, const dataform *f)
{
    if (!checked(m, st, f, approval_specs, NSPECS(approval_specs)))
        return;
    bool allow = false;
    dataform_bool(f, "muc#request_allow", &allow);
    if (!allow)
        return; /* the moderator let it pass: nothing to say to anyone */
    muc_occupant *t = muc_occupant_by_nick(r, dataform_get(f, "muc#roomnick"));
    const char *addr = dataform_get(f, "muc#jid");
    if (!t || (addr && *addr && !is_of(t, addr))) {
        muc_error(m, st, STANZA_ERR_ITEM_NOT_FOUND, "the person who asked is no longer here");
        return;
    }
    if (t->role != ROLE_VISITOR)
        return; /* voice granted already (another moderator was quicker) */
    /* 8.3: the same presence as a voice granted through muc#admin. */
    t->role = ROLE_PARTICIPANT;
    char *extra = muc_item_children(s->occ->nick, NULL);
    muc_presence_broadcast(r, t, NULL, NULL, 0, extra, NULL);
    free(extra);
}

bool muc_voice_message(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *st = c->st;
    const char *type = xml_attr(st, "type");
    if (c->to.resource || (type && strcmp(type, "normal") != 0))
        return false;
    const xml_node *x = dataform_find(st);
    if (!x)
        return false;
    dataform *f = muc_form_parse(m, st, x);
    if (!f)
        return true;
    const char *ft = dataform_form_type(f);
    if (!ft || strcmp(ft, NS_MUC_REQUEST) != 0) {
        dataform_free(f);
        return false;
    }
    muc_session *s = c->from_full ? muc_session_by_jid(r, c->from_full) : NULL;
    if (!s)
        muc_error(m, st, STANZA_ERR_NOT_ACCEPTABLE, "you are not in this room");
    else if (dataform_kind(f) != DATAFORM_SUBMIT)
        muc_error(m, st, STANZA_ERR_BAD_REQUEST, "send the form with type='submit'");
    else if (s->occ->role == ROLE_MODERATOR && dataform_has(f, "muc#request_allow"))
        approval(m, r, s, st, f);
    else
        request(m, r, s, st, f);
    dataform_free(f);
    return true;
}
