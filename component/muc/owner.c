/* The owner protocol (XEP-0045 10): the room configuration form, instant
 * rooms, and destroying a room. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ns.h"
#include "room.h"
#include "safety/linkpol.h"
#include "store.h"

void muc_room_config_free(muc_room_config *c)
{
    free(c->name);
    free(c->description);
    free(c->lang);
    free(c->topic);
    free(c->password);
    memset(c, 0, sizeof *c);
}

/* ---- the form ---- */

static xml_node *add_field(xml_node *x, const char *var, const char *type, const char *label)
{
    xml_node *f = xml_append_new(x, "field", NULL);
    if (!f)
        return NULL;
    xml_set_attr(f, "var", var);
    if (type)
        xml_set_attr(f, "type", type);
    if (label)
        xml_set_attr(f, "label", label);
    return f;
}

static void add_value(xml_node *f, const char *v)
{
    if (f)
        xml_append_text(xml_append_new(f, "value", NULL), v ? v : "");
}

static void add_option(xml_node *f, const char *label, const char *v)
{
    xml_node *o = f ? xml_append_new(f, "option", NULL) : NULL;
    if (o) {
        xml_set_attr(o, "label", label);
        add_value(o, v);
    }
}

static void text_field(xml_node *x, const char *var, const char *label, const char *v)
{
    add_value(add_field(x, var, "text-single", label), v);
}

static void bool_field(xml_node *x, const char *var, const char *label, bool v)
{
    add_value(add_field(x, var, "boolean", label), v ? "1" : "0");
}

static void who_field(xml_node *x, const char *var, const char *label, muc_who v, int first,
                      int last)
{
    xml_node *f = add_field(x, var, "list-single", label);
    add_value(f, muc_who_name(v));
    for (int i = first; i <= last; i++)
        add_option(f, muc_who_name((muc_who)i), muc_who_name((muc_who)i));
}

static void send_form(muc *m, muc_room *r, const xml_node *iq)
{
    const muc_room_config *c = &r->cfg;
    xml_node *q;
    xml_node *res = stanza_iq_reply(iq, "query", NS_MUC_OWNER, &q);
    xml_node *x = q ? xml_append_new(q, "x", NS_DATA) : NULL;
    if (!x) {
        xml_free(res);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    xml_set_attr(x, "type", "form");
    xml_append_text(xml_append_new(x, "title", NULL), "Room configuration");
    add_value(add_field(x, "FORM_TYPE", "hidden", NULL), NS_MUC_ROOMCONFIG);
    text_field(x, "muc#roomconfig_roomname", "Name", c->name);
    text_field(x, "muc#roomconfig_roomdesc", "Description", c->description);
    text_field(x, "muc#roomconfig_lang", "Language", c->lang);
    xml_node *t = add_field(x, "x-stoa#topic", "list-single", "Topic");
    add_value(t, c->topic ? c->topic : "");
    add_option(t, "(none)", "");
    for (size_t i = 0; m->topics[i]; i++)
        add_option(t, m->topics[i], m->topics[i]);
    bool_field(x, "muc#roomconfig_persistentroom", "Keep the room when it is empty", c->persistent);
    bool_field(x, "muc#roomconfig_publicroom", "List the room in the directory", c->public);
    bool_field(x, "muc#roomconfig_membersonly", "Members only", c->members_only);
    bool_field(x, "muc#roomconfig_moderatedroom", "Only participants with voice may speak",
               c->moderated);
    bool_field(x, "muc#roomconfig_passwordprotectedroom", "Password required", c->password != NULL);
    add_value(add_field(x, "muc#roomconfig_roomsecret", "text-private", "Password"), c->password);
    char max[16];
    snprintf(max, sizeof max, "%u", c->max_users);
    xml_node *mu = add_field(x, "muc#roomconfig_maxusers", "list-single", "Maximum occupants");
    add_value(mu, c->max_users ? max : "none");
    static const char *const sizes[] = {"10", "20", "30", "50", "100", "500", "1000", NULL};
    for (size_t i = 0; sizes[i]; i++)
        add_option(mu, sizes[i], sizes[i]);
    add_option(mu, "no limit", "none");
    who_field(x, "muc#roomconfig_whois", "Who may see real addresses", c->whois, WHO_ANYONE,
              WHO_MODERATORS);
    /* The list skips "participants" for whois: XEP-0045 defines two values. */
    who_field(x, "muc#roomconfig_allowpm", "Who may send private messages", c->allow_pm, WHO_ANYONE,
              WHO_NOBODY);
    bool_field(x, "muc#roomconfig_allowinvites", "Participants may invite others",
               c->allow_invites);
    bool_field(x, "muc#roomconfig_changesubject", "Participants may change the subject",
               c->change_subject);
    snprintf(max, sizeof max, "%u", c->history_length);
    text_field(x, "muc#maxhistoryfetch", "Messages of history kept", max);
    /* docs/safety.md: what a newcomer's links and files meet here. */
    xml_node *sl =
        add_field(x, "x-stoa#stranger_links", "list-single", "Links and files from newcomers");
    add_value(sl, c->stranger_links ? linkpol_names[c->stranger_links - 1] : "default");
    add_option(sl, "the service's policy", "default");
    for (size_t i = 0; linkpol_names[i]; i++)
        add_option(sl, linkpol_names[i], linkpol_names[i]);
    /* docs/safety.md: the room's own limit, on top of the service's. Empty
     * rather than "0" when unset: 0 would read as "nobody may speak". */
    snprintf(max, sizeof max, "%u", c->message_rate);
    text_field(x, "x-stoa#message_rate",
               "Messages a minute one person may send (empty: the service's limit)",
               c->message_rate ? max : "");
    muc_send(m, res);
    xml_free(res);
}

/* ---- applying a submitted form ---- */

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

static int parse_uint(const char *v, unsigned max, unsigned *out)
{
    char *end;
    if (!*v)
        return -1;
    unsigned long x = strtoul(v, &end, 10);
    if (*end || v[0] == '-' || x > max)
        return -1;
    *out = (unsigned)x;
    return 0;
}

static int set_str(char **dst, const char *v)
{
    char *c = *v ? strdup(v) : NULL;
    if (*v && !c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

#define MAX_TEXT 1024

/* Fills `c` (a copy of the current configuration) from the form. Returns
 * NULL, or the name of the first field that is not acceptable. */
static const char *apply_form(muc *m, const xml_node *x, muc_room_config *c)
{
    const char *v;
    static const struct {
        const char *var;
        size_t off;
    } texts[] = {
        {"muc#roomconfig_roomname", offsetof(muc_room_config, name)},
        {"muc#roomconfig_roomdesc", offsetof(muc_room_config, description)},
        {"muc#roomconfig_lang", offsetof(muc_room_config, lang)},
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        if ((v = stanza_form_value(x, texts[i].var))) {
            if (strlen(v) > MAX_TEXT || set_str((char **)((char *)c + texts[i].off), v) < 0)
                return texts[i].var;
        }
    }
    static const struct {
        const char *var;
        size_t off;
    } bools[] = {
        {"muc#roomconfig_persistentroom", offsetof(muc_room_config, persistent)},
        {"muc#roomconfig_publicroom", offsetof(muc_room_config, public)},
        {"muc#roomconfig_membersonly", offsetof(muc_room_config, members_only)},
        {"muc#roomconfig_moderatedroom", offsetof(muc_room_config, moderated)},
        {"muc#roomconfig_allowinvites", offsetof(muc_room_config, allow_invites)},
        {"muc#roomconfig_changesubject", offsetof(muc_room_config, change_subject)},
    };
    for (size_t i = 0; i < sizeof bools / sizeof *bools; i++) {
        if ((v = stanza_form_value(x, bools[i].var)) &&
            parse_bool(v, (bool *)((char *)c + bools[i].off)) < 0)
            return bools[i].var;
    }
    if ((v = stanza_form_value(x, "x-stoa#topic"))) {
        bool ok = !*v;
        for (size_t i = 0; !ok && m->topics[i]; i++)
            ok = strcmp(m->topics[i], v) == 0;
        if (!ok || set_str(&c->topic, v) < 0)
            return "x-stoa#topic";
    }
    if ((v = stanza_form_value(x, "muc#roomconfig_maxusers"))) {
        if (strcmp(v, "none") == 0 || !*v)
            c->max_users = 0;
        else if (parse_uint(v, 100000, &c->max_users) < 0)
            return "muc#roomconfig_maxusers";
    }
    if ((v = stanza_form_value(x, "muc#roomconfig_whois")) &&
        (muc_who_parse(v, &c->whois) < 0 || (c->whois != WHO_ANYONE && c->whois != WHO_MODERATORS)))
        return "muc#roomconfig_whois";
    if ((v = stanza_form_value(x, "muc#roomconfig_allowpm")) && muc_who_parse(v, &c->allow_pm) < 0)
        return "muc#roomconfig_allowpm";
    /* Prosody calls it historylength; XEP-0045's registry maxhistoryfetch. */
    if ((v = stanza_form_value(x, "muc#maxhistoryfetch")) ||
        (v = stanza_form_value(x, "muc#roomconfig_historylength"))) {
        if (parse_uint(v, m->history_max, &c->history_length) < 0)
            return "muc#maxhistoryfetch";
    }
    if ((v = stanza_form_value(x, "x-stoa#stranger_links"))) {
        int k = strcmp(v, "default") == 0 || !*v ? 0 : -1;
        for (int i = 0; k < 0 && linkpol_names[i]; i++)
            if (strcmp(linkpol_names[i], v) == 0)
                k = i + 1;
        if (k < 0)
            return "x-stoa#stranger_links";
        c->stranger_links = k;
    }
    /* Only a stricter limit is possible: the gate applies this one and the
     * service's, so a large number lifts nothing. */
    if ((v = stanza_form_value(x, "x-stoa#message_rate"))) {
        if (!*v)
            c->message_rate = 0;
        else if (parse_uint(v, MUC_MESSAGE_RATE_MAX, &c->message_rate) < 0)
            return "x-stoa#message_rate";
    }
    const char *prot = stanza_form_value(x, "muc#roomconfig_passwordprotectedroom");
    const char *secret = stanza_form_value(x, "muc#roomconfig_roomsecret");
    bool protect = c->password != NULL;
    if (prot && parse_bool(prot, &protect) < 0)
        return "muc#roomconfig_passwordprotectedroom";
    if (secret && (strlen(secret) > MAX_TEXT || set_str(&c->password, secret) < 0))
        return "muc#roomconfig_roomsecret";
    if (!protect) {
        free(c->password);
        c->password = NULL;
    } else if (!c->password) {
        return "muc#roomconfig_roomsecret";
    }
    return NULL;
}

static int config_copy(muc_room_config *dst, const muc_room_config *src)
{
    *dst = *src;
    dst->name = dst->description = dst->lang = dst->topic = dst->password = NULL;
    if ((src->name && !(dst->name = strdup(src->name))) ||
        (src->description && !(dst->description = strdup(src->description))) ||
        (src->lang && !(dst->lang = strdup(src->lang))) ||
        (src->topic && !(dst->topic = strdup(src->topic))) ||
        (src->password && !(dst->password = strdup(src->password)))) {
        muc_room_config_free(dst);
        return -1;
    }
    return 0;
}

/* Tells occupants the configuration changed (status 104, plus 172/173 when
 * real JIDs became visible or hidden: a privacy change people must see). */
static void announce_change(muc *m, muc_room *r, bool whois_changed)
{
    (void)m;
    char rest[200];
    int n =
        snprintf(rest, sizeof rest,
                 "\" type=\"groupchat\"><x xmlns=\"" NS_MUC_USER "\"><status code=\"104\"/>%s</x>"
                 "</message>",
                 !whois_changed               ? ""
                 : r->cfg.whois == WHO_ANYONE ? "<status code=\"172\"/>"
                                              : "<status code=\"173\"/>");
    muc_room_notice(r, rest, (size_t)n);
}

/* Removes everyone who lost their seat when the room became members-only
 * (XEP-0045 9.7, status 322). */
static void drop_non_members(muc_room *r)
{
    for (size_t i = r->noccupants; i-- > 0;) {
        muc_occupant *o = r->occupants[i];
        if (muc_room_aff(r, o->bare) >= AFF_MEMBER)
            continue;
        static const int c322[] = {322};
        muc_presence_broadcast(r, o, "unavailable", c322, 1, NULL, NULL);
        muc_occupant_remove(r, o);
    }
}

void muc_room_destroy_announced(muc *m, muc_room *r, const char *alt, const char *reason)
{
    buf x = BUF_INIT;
    buf_puts(&x, "<destroy");
    if (alt) {
        buf_puts(&x, " jid=\"");
        buf_append_xml_escaped(&x, alt, strlen(alt));
        buf_puts(&x, "\"");
    }
    if (reason) {
        buf_puts(&x, "><reason>");
        buf_append_xml_escaped(&x, reason, strlen(reason));
        buf_puts(&x, "</reason></destroy>");
    } else {
        buf_puts(&x, "/>");
    }
    char *extra = buf_strdup(&x);
    buf_free(&x);
    buf *b = m->sink.begin(m->sink.ud);
    if (b && extra) {
        for (size_t i = 0; i < r->noccupants; i++) {
            const muc_occupant *o = r->occupants[i];
            for (size_t j = 0; j < o->nsessions; j++)
                muc_presence_write(r, b, o, o->sessions[j], "unavailable", NULL, 0, NULL, extra);
        }
        m->sink.commit(m->sink.ud);
    }
    free(extra);
    log_info("room %s destroyed", r->jid);
    muc_store_drop_room(m->store, r->jid);
    muc_room_destroy(r);
}

void muc_owner(muc *m, muc_room *r, const xml_node *iq, const xml_node *q, const jid *from)
{
    char *bare = jid_bare(from);
    bool owner = bare && muc_room_aff(r, bare) == AFF_OWNER;
    free(bare);
    if (!owner) {
        muc_error(m, iq, STANZA_ERR_FORBIDDEN, "only owners may configure the room");
        return;
    }
    bool get = strcmp(xml_attr(iq, "type"), "get") == 0;
    if (get) {
        send_form(m, r, iq);
        return;
    }
    const xml_node *destroy = xml_child(q, "destroy", NULL);
    if (destroy) {
        const char *alt = xml_attr(destroy, "jid");
        xml_node *reason = xml_child(destroy, "reason", NULL);
        muc_result(m, iq);
        muc_room_destroy_announced(m, r, alt, reason ? xml_text(reason) : NULL);
        return;
    }
    const xml_node *x = xml_child(q, "x", NS_DATA);
    const char *xtype = x ? xml_attr(x, "type") : NULL;
    if (!xtype) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "expected a data form or <destroy/>");
        return;
    }
    if (strcmp(xtype, "cancel") == 0) {
        muc_result(m, iq);
        /* Cancelling the initial configuration abandons the new room. */
        if (r->locked)
            muc_room_destroy_announced(m, r, NULL, NULL);
        return;
    }
    if (strcmp(xtype, "submit") != 0) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "the form must be submitted");
        return;
    }
    const char *ft = stanza_form_value(x, "FORM_TYPE");
    if (ft && *ft && strcmp(ft, NS_MUC_ROOMCONFIG) != 0) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "not a room configuration form");
        return;
    }
    muc_room_config c;
    if (config_copy(&c, &r->cfg) < 0) {
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    const char *bad = apply_form(m, x, &c);
    if (bad) {
        char text[200];
        snprintf(text, sizeof text, "unacceptable value for %s", bad);
        muc_room_config_free(&c);
        muc_error(m, iq, STANZA_ERR_NOT_ACCEPTABLE, text);
        return;
    }
    bool whois_changed = c.whois != r->cfg.whois;
    bool now_members_only = c.members_only && !r->cfg.members_only;
    bool was_locked = r->locked;
    muc_room_config_free(&r->cfg);
    r->cfg = c;
    r->locked = false;
    muc_history_resize(r, r->cfg.history_length);
    muc_result(m, iq);
    muc_store_save_room(m->store, r);
    if (!was_locked)
        announce_change(m, r, whois_changed);
    if (now_members_only)
        drop_non_members(r);
    muc_room_reap(r);
}
