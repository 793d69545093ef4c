/* The audit log: every desk action and escalation recorded in Redis, and
 * the "audit" command that reads it back. */
#include "desk/internal.h"
#include "log.h"
#include "xtime.h"

#define AUDIT_SHOW 50 /* entries a moderator sees; room admins' are filtered from 10x */

void desk_audit(desk *d, const char *actor, const char *action, const char *target,
                const char *room, const char *reason, const char *detail)
{
    desk_store_cmd c;
    desk_store_audit_entry e = {actor, action, target, room, reason, detail};
    desk_store_audit_add(&c, d->prefix ? d->prefix : "", d->audit_max, &e);
    if (desk_send(d, NULL, &c) < 0)
        log_warn("audit log: Redis away; %s %s %s by %s not recorded", action, target ? target : "",
                 room ? room : "", actor);
    log_info("desk: %s %s %s%s by %s", action, target ? target : "", room ? "in " : "",
             room ? room : "", actor);
}

static const dataform_spec columns[] = {
    {"when", DATAFORM_TEXT_SINGLE, "When", 0, NULL, NULL, 0},
    {"actor", DATAFORM_TEXT_SINGLE, "Who", 0, NULL, NULL, 0},
    {"action", DATAFORM_TEXT_SINGLE, "Action", 0, NULL, NULL, 0},
    {"target", DATAFORM_TEXT_SINGLE, "Target", 0, NULL, NULL, 0},
    {"room", DATAFORM_TEXT_SINGLE, "Room", 0, NULL, NULL, 0},
    {"reason", DATAFORM_TEXT_SINGLE, "Reason", 0, NULL, NULL, 0},
};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

static void audit_done(pend *p, const redisReply *r)
{
    desk *d = p->d;
    adhoc_req *q = desk_cmd_take(p);
    if (!rdb_is_array(r, NULL)) {
        desk_redis_away(q);
        return;
    }
    desk_scope s;
    xml_node *x = dataform_new(NULL, DATAFORM_RESULT, "Audit log (newest first)", NULL);
    if (desk_scope_of(d, adhoc_req_bare(q), &s) < 0 ||
        !dataform_add_reported(x, columns, NCOLUMNS)) {
        desk_scope_free(&s);
        xml_free(x);
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    static const char *const vars[] = {"when", "actor", "action", "target", "room", "reason"};
    size_t shown = 0;
    for (size_t i = 0; i < desk_store_audit_count(r); i++) {
        desk_store_audit_entry e;
        double at;
        if (desk_store_audit_at(r, i, &e, &at) < 0 || !desk_scope_sees(&s, e.room))
            continue;
        char when[64] = "";
        xtime_format(at, when);
        const char *vals[] = {when, e.actor, e.action, e.target, e.room, e.reason};
        dataform_add_item(x, vars, vals, NCOLUMNS);
        shown++;
    }
    desk_scope_free(&s);
    adhoc_complete(q, x, ADHOC_INFO, shown ? NULL : "The audit log is empty.");
}

static void audit_show(adhoc_req *q)
{
    desk *d = adhoc_req_ud(q);
    bool mod = adhoc_req_roles(q) & DESK_ROLE_MOD;
    cmd_pend *cp = desk_cmd_pend(d, q, sizeof *cp, audit_done, NULL);
    if (!cp)
        return;
    desk_store_cmd c;
    desk_store_audit_read(&c, d->prefix ? d->prefix : "", mod ? AUDIT_SHOW : AUDIT_SHOW * 10);
    desk_send(d, &cp->p, &c);
}

const adhoc_step desk_audit_steps[1] = {{audit_show, NULL, NULL, 0, NULL}};
