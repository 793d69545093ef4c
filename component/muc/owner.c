/* The owner protocol (XEP-0045 10): the room configuration form, instant
 * rooms, and destroying a room. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataform.h"
#include "log.h"
#include "muc/fanout.h"
#include "muc/owner.h"
#include "muc/presence.h"
#include "ns.h"
#include "safety/linkpol.h"

/* ---- the form ---- */

/* A field showing the room's value, "" for one not set (the form shows an
 * empty value rather than none). */
static xml_node *field(xml_node *x, const char *var, dataform_ftype type, const char *label,
                       const char *v)
{
    return dataform_add_field(x, var, type, label, v ? v : "", 0);
}

static void bool_field(xml_node *x, const char *var, const char *label, bool v)
{
    field(x, var, DATAFORM_BOOLEAN, label, v ? "1" : "0");
}

static void who_field(xml_node *x, const char *var, const char *label, muc_who v, int first,
                      int last)
{
    xml_node *f = field(x, var, DATAFORM_LIST_SINGLE, label, muc_who_name(v));
    for (int i = first; i <= last; i++)
        dataform_add_option(f, muc_who_name((muc_who)i), muc_who_name((muc_who)i));
}

static void send_form(muc *m, muc_room *r, const xml_node *iq)
{
    const muc_room_config *c = &r->cfg;
    xml_node *q;
    xml_node *res = stanza_iq_reply(iq, "query", NS_MUC_OWNER, &q);
    xml_node *x = dataform_new(q, DATAFORM_FORM, "Room configuration", NULL);
    if (!x) {
        xml_free(res);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    dataform_add_form_type(x, NS_MUC_ROOMCONFIG);
    field(x, "muc#roomconfig_roomname", DATAFORM_TEXT_SINGLE, "Name", c->name);
    field(x, "muc#roomconfig_roomdesc", DATAFORM_TEXT_SINGLE, "Description", c->description);
    field(x, "muc#roomconfig_lang", DATAFORM_TEXT_SINGLE, "Language", c->lang);
    xml_node *t = field(x, "x-stoa#topic", DATAFORM_LIST_SINGLE, "Topic", c->topic);
    dataform_add_option(t, "(none)", "");
    for (size_t i = 0; m->topics[i]; i++)
        dataform_add_option(t, m->topics[i], m->topics[i]);
    bool_field(x, "muc#roomconfig_persistentroom", "Keep the room when it is empty", c->persistent);
    bool_field(x, "muc#roomconfig_publicroom", "List the room in the directory", c->public);
    bool_field(x, "muc#roomconfig_membersonly", "Members only", c->members_only);
    bool_field(x, "muc#roomconfig_moderatedroom", "Only participants with voice may speak",
               c->moderated);
    bool_field(x, "muc#roomconfig_passwordprotectedroom", "Password required", c->password != NULL);
    field(x, "muc#roomconfig_roomsecret", DATAFORM_TEXT_PRIVATE, "Password", c->password);
    char num[16];
    snprintf(num, sizeof num, "%u", c->max_users);
    xml_node *mu = field(x, "muc#roomconfig_maxusers", DATAFORM_LIST_SINGLE, "Maximum occupants",
                         c->max_users ? num : "none");
    static const char *const sizes[] = {"10", "20", "30", "50", "100", "500", "1000", NULL};
    for (size_t i = 0; sizes[i]; i++)
        dataform_add_option(mu, sizes[i], sizes[i]);
    dataform_add_option(mu, "no limit", "none");
    /* The list skips "participants" for whois: XEP-0045 defines two values. */
    who_field(x, "muc#roomconfig_whois", "Who may see real addresses", c->whois, WHO_ANYONE,
              WHO_MODERATORS);
    who_field(x, "muc#roomconfig_allowpm", "Who may send private messages", c->allow_pm, WHO_ANYONE,
              WHO_NOBODY);
    bool_field(x, "muc#roomconfig_allowinvites", "Participants may invite others",
               c->allow_invites);
    bool_field(x, "muc#roomconfig_changesubject", "Participants may change the subject",
               c->change_subject);
    snprintf(num, sizeof num, "%u", c->history_length);
    field(x, "muc#maxhistoryfetch", DATAFORM_TEXT_SINGLE, "Messages of history kept", num);
    /* docs/safety.md: what a newcomer's links and files meet here. */
    xml_node *sl =
        field(x, "x-stoa#stranger_links", DATAFORM_LIST_SINGLE, "Links and files from newcomers",
              c->stranger_links ? linkpol_names[c->stranger_links - 1] : "default");
    dataform_add_option(sl, "the service's policy", "default");
    for (size_t i = 0; linkpol_names[i]; i++)
        dataform_add_option(sl, linkpol_names[i], linkpol_names[i]);
    /* docs/safety.md: the room's own limit, on top of the service's. Empty
     * rather than "0" when unset: 0 would read as "nobody may speak". */
    snprintf(num, sizeof num, "%u", c->message_rate);
    field(x, "x-stoa#message_rate", DATAFORM_TEXT_SINGLE,
          "Messages a minute one person may send (empty: the service's limit)",
          c->message_rate ? num : "");
    muc_send(m, res);
    xml_free(res);
}

/* ---- applying a submitted form ---- */

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

/* The text and boolean fields, which map straight onto the config. */
static const char *apply_plain(const dataform *f, muc_room_config *c)
{
    static const struct {
        const char *var;
        size_t off;
    } texts[] = {
        {"muc#roomconfig_roomname", offsetof(muc_room_config, name)},
        {"muc#roomconfig_roomdesc", offsetof(muc_room_config, description)},
        {"muc#roomconfig_lang", offsetof(muc_room_config, lang)},
    };
    const char *v;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        if ((v = dataform_get(f, texts[i].var))) {
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
        if ((v = dataform_get(f, bools[i].var)) &&
            dataform_bool_value(v, (bool *)((char *)c + bools[i].off)) < 0)
            return bools[i].var;
    }
    return NULL;
}

/* The password: protected needs a secret, and unprotected drops it. */
static const char *apply_password(const dataform *f, muc_room_config *c)
{
    const char *prot = dataform_get(f, "muc#roomconfig_passwordprotectedroom");
    const char *secret = dataform_get(f, "muc#roomconfig_roomsecret");
    bool protect = c->password != NULL;
    if (prot && dataform_bool_value(prot, &protect) < 0)
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

/* Fills `c` (a copy of the current configuration) from the form. Returns
 * NULL, or the name of the first field that is not acceptable. */
static const char *apply_form(muc *m, const dataform *f, muc_room_config *c)
{
    const char *v, *bad = apply_plain(f, c);
    if (bad)
        return bad;
    if ((v = dataform_get(f, "x-stoa#topic"))) {
        bool ok = !*v;
        for (size_t i = 0; !ok && m->topics[i]; i++)
            ok = strcmp(m->topics[i], v) == 0;
        if (!ok || set_str(&c->topic, v) < 0)
            return "x-stoa#topic";
    }
    if ((v = dataform_get(f, "muc#roomconfig_maxusers"))) {
        if (strcmp(v, "none") == 0 || !*v)
            c->max_users = 0;
        else if (parse_uint(v, 100000, &c->max_users) < 0)
            return "muc#roomconfig_maxusers";
    }
    if ((v = dataform_get(f, "muc#roomconfig_whois")) &&
        (muc_who_parse(v, &c->whois) < 0 || (c->whois != WHO_ANYONE && c->whois != WHO_MODERATORS)))
        return "muc#roomconfig_whois";
    if ((v = dataform_get(f, "muc#roomconfig_allowpm")) && muc_who_parse(v, &c->allow_pm) < 0)
        return "muc#roomconfig_allowpm";
    /* Prosody calls it historylength; XEP-0045's registry maxhistoryfetch. */
    if ((v = dataform_get(f, "muc#maxhistoryfetch")) ||
        (v = dataform_get(f, "muc#roomconfig_historylength"))) {
        if (parse_uint(v, m->history_max, &c->history_length) < 0)
            return "muc#maxhistoryfetch";
    }
    if ((v = dataform_get(f, "x-stoa#stranger_links"))) {
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
    if ((v = dataform_get(f, "x-stoa#message_rate"))) {
        if (!*v)
            c->message_rate = 0;
        else if (parse_uint(v, MUC_MESSAGE_RATE_MAX, &c->message_rate) < 0)
            return "x-stoa#message_rate";
    }
    return apply_password(f, c);
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
static void announce_change(muc_room *r, bool whois_changed)
{
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

typedef struct destroyed {
    muc_room *r;
    const char *extra; /* the <destroy/> element */
} destroyed;

static void write_destroyed(void *ud, buf *b, const muc_occupant *p, const muc_session *to)
{
    const destroyed *d = ud;
    muc_presence_write(d->r, b, p, to, "unavailable", NULL, 0, NULL, d->extra);
}

void muc_room_destroy_announced(muc_room *r, const char *alt, const char *reason)
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
    if (extra) {
        destroyed d = {r, extra};
        muc_fanout(r, NULL, write_destroyed, &d);
    }
    free(extra);
    log_info("room %s destroyed", r->jid);
    muc_room_changed(r, MUC_ROOM_GONE);
    muc_room_destroy(r);
}

/* A submitted configuration form: the room takes it whole or not at all. */
static void configure(muc *m, muc_room *r, const xml_node *iq, const xml_node *x)
{
    dataform *f = muc_form_parse(m, iq, x);
    if (!f)
        return;
    const char *ft = dataform_form_type(f);
    muc_room_config c;
    const char *bad = NULL;
    if (ft && *ft && strcmp(ft, NS_MUC_ROOMCONFIG) != 0) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "not a room configuration form");
    } else if (config_copy(&c, &r->cfg) < 0) {
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    } else if ((bad = apply_form(m, f, &c))) {
        char text[200];
        snprintf(text, sizeof text, "unacceptable value for %s", bad);
        muc_room_config_free(&c);
        muc_error(m, iq, STANZA_ERR_NOT_ACCEPTABLE, text);
    } else {
        bool whois_changed = c.whois != r->cfg.whois;
        bool now_members_only = c.members_only && !r->cfg.members_only;
        bool was_locked = r->locked;
        muc_room_config_free(&r->cfg);
        r->cfg = c;
        r->locked = false;
        muc_history_resize(r, r->cfg.history_length);
        muc_result(m, iq);
        muc_room_changed(r, MUC_ROOM_STATE);
        if (!was_locked)
            announce_change(r, whois_changed);
        if (now_members_only)
            drop_non_members(r);
        muc_room_reap(r);
    }
    dataform_free(f);
}

void muc_owner(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *iq = c->st, *q = c->payload;
    bool owner = c->from_bare && muc_room_aff(r, c->from_bare) == AFF_OWNER;
    if (!owner) {
        muc_error(m, iq, STANZA_ERR_FORBIDDEN, "only owners may configure the room");
        return;
    }
    if (strcmp(c->type, "get") == 0) {
        send_form(m, r, iq);
        return;
    }
    const xml_node *destroy = xml_child(q, "destroy", NULL);
    if (destroy) {
        const char *alt = xml_attr(destroy, "jid");
        xml_node *reason = xml_child(destroy, "reason", NULL);
        muc_result(m, iq);
        muc_room_destroy_announced(r, alt, reason ? xml_text(reason) : NULL);
        return;
    }
    const xml_node *x = dataform_find(q);
    const char *xtype = x ? xml_attr(x, "type") : NULL;
    if (!xtype) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "expected a data form or <destroy/>");
    } else if (strcmp(xtype, "cancel") == 0) {
        muc_result(m, iq);
        /* Cancelling the initial configuration abandons the new room. */
        if (r->locked)
            muc_room_destroy_announced(r, NULL, NULL);
    } else if (strcmp(xtype, "submit") != 0) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "the form must be submitted");
    } else {
        configure(m, r, iq, x);
    }
}
