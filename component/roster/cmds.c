/* The group rosters' ad-hoc commands: admins create and delete groups,
 * add and remove members, display a group to another and list them; any
 * member sees who of a group is online. A change is written to Redis
 * first and applied (model, rosters) only once Redis took it, so a
 * refused or failed command changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataform.h"
#include "jid.h"
#include "keys.h"
#include "log.h"
#include "roster/internal.h"

enum { ROLE_ADMIN = 1u << 0 };

static const adhoc_who who_admin = {ROLE_ADMIN, "only the roster admins may do that"};

static unsigned roles(void *ud, const char *bare)
{
    return roster_is_admin(ud, bare) ? ROLE_ADMIN : 0;
}

/* Members a form may name at once: a few requests for the largest group
 * (the host's own stanza limit is usually lower). */
static const dataform_limits many = {0, 20000, 0, false};

/* ---- forms ---- */

static void add_group_options(void *ud, const char *name)
{
    dataform_add_option(ud, NULL, name);
}

/* Shows the stage's fields; a field named group or to lists the groups
 * (all of them for admins, one's own for the others). */
static void show_fields(adhoc_req *q)
{
    roster *r = adhoc_req_ud(q);
    const adhoc_command *cmd = adhoc_req_command(q);
    const adhoc_step *st = &cmd->steps[adhoc_req_stage(q)];
    if (!r->loaded) {
        adhoc_fail(q, STANZA_ERR_SERVICE_UNAVAILABLE, NULL, "the groups are not loaded (Redis?)");
        return;
    }
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, cmd->name, NULL);
    for (size_t i = 0; x && i < st->nfields; i++) {
        xml_node *f = dataform_add_spec(x, &st->fields[i]);
        if (f && st->fields[i].type == DATAFORM_LIST_SINGLE) {
            if (adhoc_req_roles(q) & ROLE_ADMIN)
                grp_each(r->groups, add_group_options, f);
            else
                grp_each_group_of(r->groups, adhoc_req_bare(q), add_group_options, f);
        }
    }
    adhoc_form(q, x);
}

/* The named group, or the command fails with item-not-found. */
static const char *group_of(adhoc_req *q, const char *var)
{
    roster *r = adhoc_req_ud(q);
    const char *g = adhoc_req_value(q, var);
    if (!g || !grp_exists(r->groups, g)) {
        adhoc_error(q, STANZA_ERR_ITEM_NOT_FOUND, "bad-payload", "no such group");
        return NULL;
    }
    return g;
}

/* The members field as normalized bare user JIDs (a NULL-terminated array
 * the caller frees with config_list_free), or NULL with the request ended. */
static char **members_of(adhoc_req *q, size_t *n)
{
    const dataform *f = adhoc_req_form(q);
    const char *const *v = dataform_values(f, "members", n);
    char **out = calloc(*n + 1, sizeof *out);
    for (size_t i = 0; out && i < *n; i++) {
        jid j = {0};
        jid_err e = jid_parse(v[i], &j);
        if (e != JID_OK || !j.local || j.resource) {
            char why[300];
            snprintf(why, sizeof why, "'%.200s' is not a bare user JID%s%s", v[i],
                     e != JID_OK ? ": " : "", e != JID_OK ? jid_strerror(e) : "");
            jid_free(&j);
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            adhoc_error(q, STANZA_ERR_JID_MALFORMED, "bad-payload", why);
            return NULL;
        }
        out[i] = jid_bare(&j);
        jid_free(&j);
    }
    if (!out)
        adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
    return out;
}

/* ---- a change: Redis first, then the model and the rosters ---- */

typedef enum { CH_CREATE, CH_DELETE, CH_ADD, CH_REMOVE, CH_SHOW, CH_HIDE } change_kind;

typedef struct change {
    change_kind kind;
    char **members; /* CH_CREATE, CH_ADD, CH_REMOVE */
    size_t n;
} change;

static void change_free(void *p)
{
    change *ch = p;
    if (ch)
        config_list_free(ch->members);
    free(ch);
}

static void apply_delete(roster *r, const char *group)
{
    /* Everyone who held the group's members: taken out one by one, so each
     * roster is rewritten through the members' pairs. */
    grp_names w = {NULL, 0, 0};
    grp_each_member(r->groups, group, grp_names_add, &w);
    for (size_t i = 0; i < w.n; i++)
        if (grp_remove(r->groups, group, w.v[i]) == 0)
            apply_member(r->ap, group, w.v[i]);
    config_list_free(w.v);
    grp_delete(r->groups, group);
}

/* Applies a change Redis took to the model and the rosters. */
static void apply_change(roster *r, const change *ch, const char *group, const char *other)
{
    switch (ch->kind) {
    case CH_CREATE:
    case CH_ADD:
        grp_create(r->groups, group);
        for (size_t i = 0; i < ch->n; i++)
            if (grp_add(r->groups, group, ch->members[i]) == 0)
                apply_member(r->ap, group, ch->members[i]);
        break;
    case CH_REMOVE:
        for (size_t i = 0; i < ch->n; i++)
            if (grp_remove(r->groups, group, ch->members[i]) == 0)
                apply_member(r->ap, group, ch->members[i]);
        break;
    case CH_DELETE:
        apply_delete(r, group);
        break;
    case CH_SHOW:
    case CH_HIDE: {
        grp_display(r->groups, group, other, ch->kind == CH_SHOW);
        grp_names w = {NULL, 0, 0};
        grp_each_member(r->groups, group, grp_names_add, &w);
        grp_each_member(r->groups, other, grp_names_add, &w);
        for (size_t i = 0; i < w.n; i++)
            apply_user(r->ap, w.v[i]);
        config_list_free(w.v);
        break;
    }
    }
}

static void on_changed(rq *q, const redisReply *reply)
{
    adhoc_req *req = q->req;
    q->req = NULL;
    if (!reply || rdb_error(reply)) {
        log_warn("roster: Redis refused a change of group %s: %s", q->a,
                 reply ? rdb_error(reply) : "no answer");
        adhoc_fail(req, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, "the change could not be stored");
        return;
    }
    change *ch = q->data;
    apply_change(q->r, ch, q->a, q->b);
    char note[200];
    snprintf(note, sizeof note, "Done: group %s has %zu member%s.", q->a,
             grp_size(q->r->groups, q->a), grp_size(q->r->groups, q->a) == 1 ? "" : "s");
    adhoc_complete(req, NULL, ADHOC_INFO, note);
}

/* Sends the MULTI/EXEC of a change as one script-free transaction: the
 * writes below, wrapped so that either all or none are stored. */
static void send_change(adhoc_req *q, change *ch, const char *group, const char *other)
{
    roster *r = adhoc_req_ud(q);
    char kg[512], km[512], ks[512], ko[512];
    if (roster_key(r, KEY_ROSTER_GROUPS, NULL, kg, sizeof kg) < 0 ||
        roster_key(r, KEY_ROSTER_MEMBERS, group, km, sizeof km) < 0 ||
        roster_key(r, KEY_ROSTER_SHOWN, group, ks, sizeof ks) < 0 ||
        roster_key(r, KEY_ROSTER_SHOWN, other ? other : "", ko, sizeof ko) < 0) {
        change_free(ch);
        adhoc_fail(q, STANZA_ERR_NOT_ACCEPTABLE, NULL, "the group's name is too long");
        return;
    }
    const char **argv = calloc(ch->n + 4, sizeof *argv);
    rq *req = roster_rq(r, on_changed, group, other);
    if (!argv || !req) {
        free(argv);
        rq_free(req);
        change_free(ch);
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    req->data = ch;
    req->free_data = change_free;
    int argc = 0;
    switch (ch->kind) {
    case CH_CREATE:
        argv[argc++] = "SADD", argv[argc++] = kg, argv[argc++] = group;
        break;
    case CH_DELETE:
        /* The members' set is emptied through the rosters' rewrite below;
         * the keys go at once. */
        argv[argc++] = "DEL", argv[argc++] = km, argv[argc++] = ks;
        break;
    case CH_ADD:
    case CH_REMOVE:
        argv[argc++] = ch->kind == CH_ADD ? "SADD" : "SREM", argv[argc++] = km;
        for (size_t i = 0; i < ch->n; i++)
            argv[argc++] = ch->members[i];
        break;
    case CH_SHOW:
    case CH_HIDE:
        argv[argc++] = ch->kind == CH_SHOW ? "SADD" : "SREM", argv[argc++] = ks,
        argv[argc++] = other;
        break;
    }
    /* create with members: the members go in a second write after the
     * group exists; delete: the group leaves the list too. */
    req->req = q;
    int rc = roster_send(r, req, argc, argv);
    if (rc == 0 && ch->kind == CH_CREATE && ch->n) {
        const char **m = calloc(ch->n + 2, sizeof *m);
        if (m) {
            m[0] = "SADD", m[1] = km;
            for (size_t i = 0; i < ch->n; i++)
                m[i + 2] = ch->members[i];
            roster_send(r, NULL, (int)ch->n + 2, m);
            free(m);
        }
    } else if (rc == 0 && ch->kind == CH_DELETE) {
        const char *g[] = {"SREM", kg, group};
        roster_send(r, NULL, 3, g);
    }
    free(argv);
}

static void submit_change(adhoc_req *q, change_kind kind)
{
    roster *r = adhoc_req_ud(q);
    const char *group = kind == CH_CREATE ? adhoc_req_value(q, "name") : group_of(q, "group");
    if (!group)
        return;
    if (kind == CH_CREATE && !grp_name_ok(group)) {
        adhoc_error(q, STANZA_ERR_NOT_ACCEPTABLE, "bad-payload",
                    "a group's name is 1 to 64 bytes, without control characters, ',' ';' ':' "
                    "or spaces around it");
        return;
    }
    if (kind == CH_CREATE && grp_exists(r->groups, group)) {
        adhoc_error(q, STANZA_ERR_CONFLICT, "bad-payload", "that group exists");
        return;
    }
    const char *other = NULL;
    if (kind == CH_SHOW && !(other = group_of(q, "to")))
        return;
    change *ch = calloc(1, sizeof *ch);
    if (!ch) {
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    ch->kind = kind;
    if ((kind == CH_CREATE || kind == CH_ADD || kind == CH_REMOVE) &&
        !(ch->members = members_of(q, &ch->n))) {
        free(ch);
        return;
    }
    if (kind == CH_SHOW) {
        bool on = true;
        dataform_bool(adhoc_req_form(q), "display", &on);
        ch->kind = on ? CH_SHOW : CH_HIDE;
    }
    size_t after = grp_size(r->groups, group) + (kind == CH_REMOVE ? 0 : ch->n);
    if (after > r->group_max) {
        char why[200];
        snprintf(why, sizeof why,
                 "group %s would have up to %zu members; the limit is %u "
                 "([roster] group_max): nothing was changed",
                 group, after, r->group_max);
        change_free(ch);
        adhoc_error(q, STANZA_ERR_NOT_ACCEPTABLE, "bad-payload", why);
        return;
    }
    send_change(q, ch, group, other);
}

static void create_submit(adhoc_req *q)
{
    submit_change(q, CH_CREATE);
}
static void delete_submit(adhoc_req *q)
{
    submit_change(q, CH_DELETE);
}
static void add_submit(adhoc_req *q)
{
    submit_change(q, CH_ADD);
}
static void remove_submit(adhoc_req *q)
{
    submit_change(q, CH_REMOVE);
}
static void display_submit(adhoc_req *q)
{
    submit_change(q, CH_SHOW);
}

/* ---- remove and block a contact ---- */

static void on_dropped(rq *q, const redisReply *reply)
{
    adhoc_req *req = q->req;
    q->req = NULL;
    if (!reply || rdb_error(reply)) {
        adhoc_fail(req, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, "the change could not be stored");
        return;
    }
    roster *r = q->r;
    char key[512];
    if (roster_key(r, KEY_UBLOCK, q->a, key, sizeof key) == 0) {
        const char *argv[] = {"SADD", key, q->b};
        roster_send(r, NULL, 3, argv);
    }
    apply_drop(r->ap, q->a, q->b);
    char note[400];
    snprintf(note, sizeof note,
             "%s is being removed from your roster; the groups will not put it back, and it is "
             "blocked in this service's rooms.",
             q->b);
    adhoc_complete(req, NULL, ADHOC_INFO, note);
}

/* One step for a person who reports someone: the contact leaves their
 * roster (even one a group gave) for good, and joins their block list in
 * the rooms (the per-user list, {p}safety:ublock:<user>). */
static void drop_submit(adhoc_req *q)
{
    roster *r = adhoc_req_ud(q);
    const char *user = adhoc_req_bare(q);
    const char *at = strchr(user, '@');
    if (!roster_groups_on(r) || !r->host || !at || strcmp(at + 1, r->host) != 0) {
        adhoc_fail(q, STANZA_ERR_SERVICE_UNAVAILABLE, NULL,
                   "Stoa does not manage your roster (see docs/rosters.md)");
        return;
    }
    jid j = {0};
    char *contact = jid_parse(adhoc_req_value(q, "jid"), &j) == JID_OK ? jid_bare(&j) : NULL;
    jid_free(&j);
    char key[512];
    rq *req = contact ? roster_rq(r, on_dropped, user, contact) : NULL;
    if (!req || strcmp(contact, user) == 0 ||
        roster_key(r, KEY_ROSTER_GIVEN, user, key, sizeof key) < 0) {
        free(contact);
        rq_free(req);
        adhoc_error(q, STANZA_ERR_JID_MALFORMED, "bad-payload", "that is not a contact's address");
        return;
    }
    req->req = q;
    free(contact);
    const char *argv[] = {"HSET", key, req->b, ""}; /* the request's own copy */
    roster_send(r, req, 4, argv);
}

/* ---- list, online ---- */

static const dataform_spec list_cols[] = {
    {"name", DATAFORM_TEXT_SINGLE, "Group", 0, NULL, NULL, 0},
    {"members", DATAFORM_TEXT_SINGLE, "Members", 0, NULL, NULL, 0},
};

static void list_item(void *ud, const char *name)
{
    roster *r = ((void **)ud)[0];
    char n[32];
    snprintf(n, sizeof n, "%zu", grp_size(r->groups, name));
    const char *vars[] = {"name", "members"};
    const char *vals[] = {name, n};
    dataform_add_item(((void **)ud)[1], vars, vals, 2);
}

static void list_show(adhoc_req *q)
{
    roster *r = adhoc_req_ud(q);
    if (!r->loaded) {
        adhoc_fail(q, STANZA_ERR_SERVICE_UNAVAILABLE, NULL, "the groups are not loaded (Redis?)");
        return;
    }
    xml_node *x = dataform_new(NULL, DATAFORM_RESULT, "Groups", NULL);
    if (!dataform_add_reported(x, list_cols, 2)) {
        xml_free(x);
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    void *ud[2] = {r, x};
    grp_each(r->groups, list_item, ud);
    adhoc_complete(q, x, ADHOC_INFO, NULL);
}

static void online_submit(adhoc_req *q)
{
    roster *r = adhoc_req_ud(q);
    const char *group = group_of(q, "group");
    if (!group)
        return;
    if (!(adhoc_req_roles(q) & ROLE_ADMIN) && !grp_is_member(r->groups, group, adhoc_req_bare(q))) {
        adhoc_fail(q, STANZA_ERR_FORBIDDEN, NULL, "only the group's members may look");
        return;
    }
    if (!roster_online_on(r)) {
        adhoc_fail(q, STANZA_ERR_SERVICE_UNAVAILABLE, NULL,
                   "the host grants no presence: who is online is off");
        return;
    }
    xml_node *x = online_form(r, group);
    if (!x)
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
    else
        adhoc_complete(q, x, ADHOC_INFO, NULL);
}

/* ---- the table ---- */

#define F_GROUP(var, label)                                                                        \
    {                                                                                              \
        var, DATAFORM_LIST_SINGLE, label, DATAFORM_REQUIRED, NULL, NULL, 0                         \
    }
#define F_MEMBERS(flags)                                                                           \
    {                                                                                              \
        "members", DATAFORM_JID_MULTI, "Members", flags, NULL, NULL, 0                             \
    }

static const dataform_spec create_fields[] = {
    {"name", DATAFORM_TEXT_SINGLE, "Name", DATAFORM_REQUIRED, NULL, NULL, GRP_NAME_MAX},
    F_MEMBERS(0),
};
static const dataform_spec delete_fields[] = {F_GROUP("group", "Group")};
static const dataform_spec members_fields[] = {F_GROUP("group", "Group"),
                                               F_MEMBERS(DATAFORM_REQUIRED)};
static const dataform_spec display_fields[] = {
    F_GROUP("group", "Group"),
    F_GROUP("to", "Displayed to the members of"),
    {"display", DATAFORM_BOOLEAN, "Display (uncheck to stop)", 0, "1", NULL, 0},
};
static const dataform_spec online_fields[] = {F_GROUP("group", "Group")};
static const dataform_spec drop_fields[] = {
    {"jid", DATAFORM_JID_SINGLE, "Contact", DATAFORM_REQUIRED, NULL, NULL, 0}};

#define STEP(submit, fields, lim)                                                                  \
    {                                                                                              \
        show_fields, submit, fields, sizeof fields / sizeof fields[0], lim                         \
    }

static const adhoc_step create_steps[] = {STEP(create_submit, create_fields, &many)};
static const adhoc_step delete_steps[] = {STEP(delete_submit, delete_fields, NULL)};
static const adhoc_step add_steps[] = {STEP(add_submit, members_fields, &many)};
static const adhoc_step remove_steps[] = {STEP(remove_submit, members_fields, &many)};
static const adhoc_step display_steps[] = {STEP(display_submit, display_fields, NULL)};
static const adhoc_step list_steps[] = {{list_show, NULL, NULL, 0, NULL}};
static const adhoc_step online_steps[] = {STEP(online_submit, online_fields, NULL)};
static const adhoc_step drop_steps[] = {STEP(drop_submit, drop_fields, NULL)};

static const adhoc_command commands[] = {
    {"roster-online", "Who is online in a group", NULL, online_steps, 1, false},
    {"roster-drop", "Remove and block a contact", NULL, drop_steps, 1, false},
    {"roster-groups", "List the roster groups", &who_admin, list_steps, 1, false},
    {"roster-create", "Create a roster group", &who_admin, create_steps, 1, false},
    {"roster-add", "Add members to a roster group", &who_admin, add_steps, 1, false},
    {"roster-remove", "Remove members from a roster group", &who_admin, remove_steps, 1, false},
    {"roster-display", "Display a roster group to another", &who_admin, display_steps, 1, false},
    {"roster-delete", "Delete a roster group", &who_admin, delete_steps, 1, false},
};

int roster_register_commands(roster *r)
{
    return adhoc_register(r->commands, commands, sizeof commands / sizeof commands[0], roles, r);
}
