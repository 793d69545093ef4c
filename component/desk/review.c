/* Reviewing reports: list the open ones, view one with its evidence and act
 * on it, dismiss one. Room administrators see their rooms' reports only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/internal.h"
#include "xmlparse.h"
#include "xtime.h"

#define LIST_MAX 50 /* reports shown */
#define REPORT_ID_MAX 64

/* ---- the open reports: list, and the pick of view and dismiss ---- */

static const dataform_spec columns[] = {
    {"id", DATAFORM_TEXT_SINGLE, "Report", 0, NULL, NULL, 0},
    {"target", DATAFORM_TEXT_SINGLE, "Reported", 0, NULL, NULL, 0},
    {"room", DATAFORM_TEXT_SINGLE, "Room", 0, NULL, NULL, 0},
    {"reason", DATAFORM_TEXT_SINGLE, "Reason", 0, NULL, NULL, 0},
    {"count", DATAFORM_TEXT_SINGLE, "Times", 0, NULL, NULL, 0},
    {"last", DATAFORM_TEXT_SINGLE, "Last", 0, NULL, NULL, 0},
    {"held", DATAFORM_TEXT_SINGLE, "Evidence held", 0, NULL, NULL, 0},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

/* Adds the reports the asker may see to x: as result items (list) or as
 * options of pick. Returns how many. */
static size_t add_open(const redisReply *r, const desk_scope *s, xml_node *x, xml_node *pick)
{
    static const char *const vars[] = {"id", "target", "room", "reason", "count", "last", "held"};
    size_t shown = 0;
    for (size_t i = 0; i < desk_store_open_count(r) && shown < LIST_MAX; i++) {
        desk_store_open o;
        desk_store_open_at(r, i, &o);
        if (!desk_scope_sees(s, o.room))
            continue;
        shown++;
        if (pick) {
            char label[600];
            snprintf(label, sizeof label, "%s: %s for %s x%s%s%s", o.id, o.target, o.reason,
                     o.count, *o.room ? " in " : "", o.room);
            dataform_add_option(pick, label, o.id);
            continue;
        }
        char when[64] = "";
        double last = atof(o.last);
        if (last > 0)
            xtime_format(last, when);
        const char *vals[] = {o.id, o.target, o.room, o.reason, o.count, when, o.held};
        dataform_add_item(x, vars, vals, NCOLUMNS);
    }
    return shown;
}

static const dataform_spec reason_field = DESK_FIELD_REASON;

/* Which command asked for the open reports. */
typedef enum { OPEN_LIST, OPEN_VIEW, OPEN_DISMISS } open_for;

typedef struct open_pend {
    cmd_pend cp;
    open_for mode;
} open_pend;

static void open_done(pend *p, const redisReply *r)
{
    open_for mode = ((open_pend *)p)->mode;
    adhoc_req *q = desk_cmd_take(p);
    if (!rdb_is_array(r, NULL)) {
        desk_redis_away(q);
        return;
    }
    /* list ends with the reports; view and dismiss go on with a pick. */
    bool list = mode == OPEN_LIST;
    desk_scope s;
    int rc = desk_scope_of(p->d, adhoc_req_bare(q), &s);
    xml_node *x = dataform_new(NULL, list ? DATAFORM_RESULT : DATAFORM_FORM,
                               list ? "Open reports" : adhoc_req_command(q)->name, NULL);
    xml_node *pick = list ? dataform_add_reported(x, columns, NCOLUMNS)
                          : dataform_add_field(x, "report", DATAFORM_LIST_SINGLE, "Report", NULL,
                                               DATAFORM_REQUIRED);
    if (rc < 0 || !pick) {
        desk_scope_free(&s);
        xml_free(x);
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    size_t shown = add_open(r, &s, x, list ? NULL : pick);
    desk_scope_free(&s);
    if (shown == 0) {
        xml_free(x);
        adhoc_complete(q, NULL, ADHOC_INFO, "No open reports.");
    } else if (list) {
        adhoc_complete(q, x, ADHOC_INFO, NULL);
    } else {
        if (mode == OPEN_DISMISS)
            dataform_add_spec(x, &reason_field);
        adhoc_form(q, x);
    }
}

static void open_reports(adhoc_req *q, open_for mode)
{
    desk *d = adhoc_req_ud(q);
    open_pend *op = desk_cmd_pend(d, q, sizeof *op, open_done, NULL);
    if (!op)
        return;
    op->mode = mode;
    desk_store_cmd c;
    desk_store_list(&c, d->prefix ? d->prefix : "", LIST_MAX * 20);
    desk_send(d, &op->cp.p, &c);
}

static void list_show(adhoc_req *q)
{
    open_reports(q, OPEN_LIST);
}

static void view_pick_show(adhoc_req *q)
{
    open_reports(q, OPEN_VIEW);
}

static void dismiss_pick_show(adhoc_req *q)
{
    open_reports(q, OPEN_DISMISS);
}

/* ---- dismiss ---- */

typedef struct dismiss_pend {
    cmd_pend cp;
    char *id;
    char *reason;
} dismiss_pend;

static void dismiss_free(pend *p)
{
    dismiss_pend *dp = (dismiss_pend *)p;
    free(dp->id);
    free(dp->reason);
    desk_cmd_pend_free(p);
}

static void dismiss_done(pend *p, const redisReply *r)
{
    dismiss_pend *dp = (dismiss_pend *)p;
    adhoc_req *q = desk_cmd_take(p);
    desk_store_dismissed out;
    if (desk_store_read_dismissed(r, &out) < 0) {
        desk_redis_away(q);
    } else if (out.gone) {
        adhoc_fail(q, STANZA_ERR_ITEM_NOT_FOUND, NULL, "no such report (dismissed or expired)");
    } else if (out.forbidden) {
        adhoc_fail(q, STANZA_ERR_FORBIDDEN, NULL, "that report is about another room");
    } else {
        desk_audit(p->d, adhoc_req_bare(q), "dismiss", out.target, *out.room ? out.room : NULL,
                   dp->reason, dp->id);
        char note[400];
        snprintf(note, sizeof note, "Report %s about %s dismissed.%s", dp->id, out.target,
                 out.unmuted ? " The automatic mute is lifted." : "");
        adhoc_complete(q, NULL, ADHOC_INFO, note);
    }
}

/* Dismisses report id (the dismiss command, or view's action). */
static void dismiss(adhoc_req *q, const char *id, const char *reason)
{
    desk *d = adhoc_req_ud(q);
    if (!id || !*id || strlen(id) > REPORT_ID_MAX) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-payload", "choose a report");
        return;
    }
    desk_scope s;
    if (desk_scope_of(d, adhoc_req_bare(q), &s) < 0) {
        adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    dismiss_pend *dp = desk_cmd_pend(d, q, sizeof *dp, dismiss_done, dismiss_free);
    if (dp) {
        dp->id = strdup(id);
        dp->reason = strdup(reason ? reason : "");
        desk_store_cmd c;
        desk_store_dismiss(&c, d->prefix ? d->prefix : "", id, s.mod ? NULL : s.rooms);
        if (!dp->id || !dp->reason)
            desk_store_cmd_free(&c); /* sent empty, it ends as if Redis were away */
        desk_send(d, &dp->cp.p, &c);
    }
    desk_scope_free(&s);
}

static void dismiss_submit(adhoc_req *q)
{
    dismiss(q, adhoc_req_value(q, "report"), adhoc_req_value(q, "reason"));
}

/* ---- view ---- */

/* What view remembers between its stages. */
typedef struct view_data {
    char *report, *target, *room;
    char *reason, *text, *evidence; /* kept for a forward (forward.c) */
} view_data;

static void view_data_free(void *v)
{
    view_data *vd = v;
    if (!vd)
        return;
    free(vd->report);
    free(vd->target);
    free(vd->room);
    free(vd->reason);
    free(vd->text);
    free(vd->evidence);
    free(vd);
}

static void pick_submit(adhoc_req *q)
{
    const char *id = adhoc_req_value(q, "report");
    if (!id || !*id || strlen(id) > REPORT_ID_MAX) {
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-payload", "choose a report");
        return;
    }
    view_data *vd = calloc(1, sizeof *vd);
    if (!vd || !(vd->report = strdup(id))) {
        view_data_free(vd);
        adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    if (adhoc_req_set_data(q, vd, view_data_free) < 0) {
        adhoc_fail(q, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
        return;
    }
    adhoc_next(q);
}

/* The evidence field: the cited messages only, one value per line. */
static void add_evidence(xml_node *x, const char *ev)
{
    xmlparse_limits lim = {1 << 20, 16, 16, 4096};
    xml_node *doc = *ev ? xml_parse_document(ev, strlen(ev), &lim) : NULL;
    xml_node *f = dataform_add_field(x, "evidence", DATAFORM_TEXT_MULTI,
                                     "Evidence held by the service", NULL, 0);
    size_t lines = 0;
    for (xml_node *m = doc ? xml_first_child(doc) : NULL; m; m = xml_next(m)) {
        if (xml_is_text(m))
            continue;
        xml_node *body = xml_child(m, "body", NULL);
        char stamp[64] = "";
        if (xml_attr(m, "stamp") && atof(xml_attr(m, "stamp")) > 0)
            xtime_format(atof(xml_attr(m, "stamp")), stamp);
        buf b = BUF_INIT;
        buf_printf(&b, "[%s] %s: %s", stamp, xml_attr(m, "nick") ? xml_attr(m, "nick") : "?",
                   body && xml_text(body) ? xml_text(body) : "(no text)");
        char *line = buf_strdup(&b);
        buf_free(&b);
        /* A value is one line (XEP-0004): newlines inside become spaces. */
        for (char *c = line; c && *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        if (line)
            dataform_add_value(f, line);
        free(line);
        lines++;
    }
    if (!lines)
        dataform_add_value(f, "(none held)");
    xml_free(doc);
}

static const dataform_option actions[] = {
    {"Nothing for now", "none"},
    {"Dismiss the report", "dismiss"},
    {"Warn the user", "warn"},
    {"Mute", "mute"},
    {"Kick", "kick"},
    {"Ban from the room", "ban-room"},
    {"Ban from the service", "ban"},
    {NULL, NULL},
};

static const dataform_spec act_fields[] = {
    {"action", DATAFORM_LIST_SINGLE, "Action", DATAFORM_REQUIRED | DATAFORM_ABSENT_OK, "none",
     actions, 0},
    {"reason", DATAFORM_TEXT_SINGLE, "Reason or warning text", 0, NULL, NULL, 0},
    DESK_FIELD_DURATION,
};

/* The form of one report: what it says, its evidence, what to do. */
static xml_node *report_form(const redisReply *r, const char *id, bool mod)
{
    const char *room = desk_store_field(r, "room");
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, "Report", NULL);
    dataform_add_field(x, "report", DATAFORM_HIDDEN, NULL, id, 0);
    dataform_add_field(x, "target", DATAFORM_JID_SINGLE, "Reported", desk_store_field(r, "target"),
                       0);
    if (*room)
        dataform_add_field(x, "room", DATAFORM_JID_SINGLE, "Room", room, 0);
    dataform_add_field(x, "reason-given", DATAFORM_TEXT_SINGLE, "Reason",
                       desk_store_field(r, "reason"), 0);
    dataform_add_field(x, "count", DATAFORM_TEXT_SINGLE, "Times reported",
                       desk_store_field(r, "count"), 0);
    char when[64] = "";
    if (atof(desk_store_field(r, "first")) > 0)
        xtime_format(atof(desk_store_field(r, "first")), when);
    dataform_add_field(x, "first", DATAFORM_TEXT_SINGLE, "First reported", when, 0);
    if (*desk_store_field(r, "text"))
        dataform_add_field(x, "text", DATAFORM_TEXT_MULTI, "Reporter's words",
                           desk_store_field(r, "text"), 0);
    if (*desk_store_field(r, "forwarded"))
        dataform_add_field(x, "forwarded", DATAFORM_TEXT_MULTI, "Forwarded messages",
                           desk_store_field(r, "forwarded"), 0);
    add_evidence(x, desk_store_field(r, "evidence"));
    xml_node *f =
        dataform_add_field(x, "action", DATAFORM_LIST_SINGLE, "Action", "none", DATAFORM_REQUIRED);
    for (const dataform_option *o = actions; o->value; o++) {
        /* A room ban needs a room; a service ban, a service moderator. */
        if ((strcmp(o->value, "ban-room") == 0 && !*room) || (strcmp(o->value, "ban") == 0 && !mod))
            continue;
        dataform_add_option(f, o->label, o->value);
    }
    dataform_add_spec(x, &act_fields[1]);
    dataform_add_spec(x, &act_fields[2]);
    return x;
}

static void report_done(pend *p, const redisReply *r)
{
    desk *d = p->d;
    adhoc_req *q = desk_cmd_take(p);
    if (!rdb_is_array(r, NULL)) {
        desk_redis_away(q);
        return;
    }
    const char *target = desk_store_field(r, "target"), *room = desk_store_field(r, "room");
    desk_scope s;
    if (desk_scope_of(d, adhoc_req_bare(q), &s) < 0) {
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    bool sees = desk_scope_sees(&s, room);
    desk_scope_free(&s);
    view_data *vd = adhoc_req_data(q);
    if (!*target) {
        adhoc_fail(q, STANZA_ERR_ITEM_NOT_FOUND, NULL, "no such report (dismissed or expired)");
    } else if (!sees) {
        adhoc_fail(q, STANZA_ERR_FORBIDDEN, NULL, "that report is about another room");
    } else if (!vd) {
        adhoc_fail(q, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
    } else {
        free(vd->target);
        free(vd->room);
        vd->target = strdup(target);
        vd->room = *room ? strdup(room) : NULL;
        if (desk_forward_remote(d, target)) {
            free(vd->reason);
            free(vd->text);
            free(vd->evidence);
            vd->reason = strdup(desk_store_field(r, "reason"));
            vd->text = strdup(desk_store_field(r, "text"));
            vd->evidence = strdup(desk_store_field(r, "evidence"));
        }
        adhoc_form(q, report_form(r, vd->report, adhoc_req_roles(q) & DESK_ROLE_MOD));
    }
}

static void report_show(adhoc_req *q)
{
    desk *d = adhoc_req_ud(q);
    view_data *vd = adhoc_req_data(q);
    if (!vd) {
        adhoc_fail(q, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
        return;
    }
    cmd_pend *cp = desk_cmd_pend(d, q, sizeof *cp, report_done, NULL);
    if (!cp)
        return;
    desk_store_cmd c;
    desk_store_get(&c, d->prefix ? d->prefix : "", vd->report);
    desk_send(d, &cp->p, &c);
}

static void act_submit(adhoc_req *q)
{
    desk *d = adhoc_req_ud(q);
    view_data *vd = adhoc_req_data(q);
    const char *a = adhoc_req_value(q, "action");
    const char *reason = adhoc_req_value(q, "reason");
    bool mod = adhoc_req_roles(q) & DESK_ROLE_MOD;
    if (!vd || !vd->target) {
        adhoc_fail(q, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
    } else if (!a || strcmp(a, "none") == 0) {
        adhoc_complete(q, NULL, ADHOC_INFO, "Nothing done.");
    } else if (strcmp(a, "dismiss") == 0) {
        dismiss(q, vd->report, reason);
    } else if (strcmp(a, "ban") == 0 && !mod) {
        adhoc_error(q, STANZA_ERR_FORBIDDEN, NULL, "only service moderators ban");
    } else {
        desk_scope s;
        if (desk_scope_of(d, adhoc_req_bare(q), &s) < 0) {
            adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
            return;
        }
        /* mute, kick and warn are limited to the report's room, if any. */
        desk_act in = {vd->target, vd->room, reason, adhoc_req_value(q, "duration"), reason};
        char note[800];
        stanza_error e;
        const char *err =
            desk_sanction_run(d, &s, adhoc_req_bare(q), a, &in, note, sizeof note, &e);
        desk_scope_free(&s);
        /* Acting on the report confirms it: a service moderator's decision
         * may go to the remote user's own server. */
        if (!err && mod && vd->reason && desk_forward_remote(d, vd->target)) {
            desk_forward(d, adhoc_req_bare(q), vd->target, vd->reason, vd->text, vd->evidence);
            size_t len = strlen(note);
            snprintf(note + len, sizeof note - len,
                     " The report goes to the abuse contact of %s, if it publishes one.",
                     strchr(vd->target, '@') + 1);
        }
        if (err)
            adhoc_error(q, e, "bad-payload", err);
        else
            adhoc_complete(q, NULL, ADHOC_INFO, note);
    }
}

/* Clients send the report's text and evidence back with the form. */
static const dataform_limits report_limits = {.value_len = 1 << 20};

const adhoc_step desk_list_steps[1] = {{list_show, NULL, NULL, 0, NULL}};
static const dataform_spec pick_fields[] = {
    {"report", DATAFORM_LIST_SINGLE, "Report", DATAFORM_REQUIRED, NULL, NULL, 0},
};
const adhoc_step desk_view_steps[2] = {
    {view_pick_show, pick_submit, pick_fields, 1, NULL},
    {report_show, act_submit, act_fields, sizeof act_fields / sizeof act_fields[0], &report_limits},
};
static const dataform_spec dismiss_fields[] = {
    {"report", DATAFORM_LIST_SINGLE, "Report", DATAFORM_REQUIRED, NULL, NULL, 0},
    DESK_FIELD_REASON,
};
const adhoc_step desk_dismiss_steps[1] = {
    {dismiss_pick_show, dismiss_submit, dismiss_fields, 2, NULL},
};
