/* stoactl's verbs on the desk's state: reports, service bans, domain
 * blocks, limits (mutes and rate-limit violations), erase and the audit
 * log. Each writes through desk/store.h, as the desk does, and leaves an
 * audit entry as the desk's commands do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/verbs.h"
#include "keys.h"
#include "rdb.h"

#define LIST_DEFAULT 50

static bool report_id(const char *id)
{
    if (strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16)
        return true;
    ctl_fail(CTL_DATAERR, "%s: a report id is 16 hex digits (see stoactl reports list)", id);
    return false;
}

/* ---- reports ---- */

int ctl_reports_list(ctl *c, char **args)
{
    (void)args;
    desk_store_cmd cmd;
    desk_store_list(&cmd, c->prefix, c->count ? c->count : LIST_DEFAULT);
    int st;
    redisReply *r = ctl_run(c, &cmd, &st);
    if (!r)
        return st;
    size_t n = desk_store_open_count(r);
    if (n)
        printf("ID\tTARGET\tROOM\tREASON\tCOUNT\tLAST\tEVIDENCE\tTEXT\n");
    for (size_t i = 0; i < n; i++) {
        desk_store_open o;
        desk_store_open_at(r, i, &o);
        char when[64];
        ctl_when(atof(o.last), when);
        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.60s\n", o.id, o.target, *o.room ? o.room : "-",
               o.reason, o.count, when, o.held, o.text);
    }
    if (n == 0)
        fprintf(stderr, "no open reports\n");
    freeReplyObject(r);
    return CTL_OK;
}

int ctl_reports_view(ctl *c, char **args)
{
    if (!report_id(args[0]))
        return CTL_DATAERR;
    desk_store_cmd cmd;
    desk_store_get(&cmd, c->prefix, args[0]);
    int st;
    redisReply *r = ctl_run(c, &cmd, &st);
    if (!r)
        return st;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        freeReplyObject(r);
        return ctl_fail(CTL_NOINPUT, "no report %s (dismissed or expired)", args[0]);
    }
    static const char *const fields[] = {"target", "room",  "reason",    "via",
                                         "count",  "first", "last",      "text",
                                         "held",   "sids",  "forwarded", "evidence"};
    printf("id: %s\n", args[0]);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *v = desk_store_field(r, fields[i]);
        char when[64];
        if ((strcmp(fields[i], "first") == 0 || strcmp(fields[i], "last") == 0) && *v) {
            ctl_when(atof(v), when);
            v = when;
        }
        printf("%s: %s\n", fields[i], v);
    }
    freeReplyObject(r);
    return CTL_OK;
}

int ctl_reports_dismiss(ctl *c, char **args)
{
    if (!report_id(args[0]))
        return CTL_DATAERR;
    desk_store_cmd cmd;
    desk_store_dismiss(&cmd, c->prefix, args[0], NULL);
    int st;
    redisReply *r = ctl_run(c, &cmd, &st);
    if (!r)
        return st;
    desk_store_dismissed out;
    if (desk_store_read_dismissed(r, &out) < 0)
        st = ctl_fail(CTL_SOFTWARE, "redis: the dismiss script answered something unexpected");
    else if (out.gone)
        st = ctl_fail(CTL_NOINPUT, "no report %s (dismissed or expired)", args[0]);
    else if (ctl_audit(c, "dismiss", out.target, *out.room ? out.room : NULL, args[0]) < 0)
        st = CTL_UNAVAILABLE;
    else
        printf("report %s about %s dismissed%s\n", args[0], out.target,
               out.unmuted ? "; the automatic mute is lifted" : "");
    freeReplyObject(r);
    return st;
}

/* ---- keys of the gate: bans, blocks, mutes ---- */

typedef struct listing {
    ctl *c;
    int st;
    unsigned rows;
} listing;

/* One row: the key's subject, the time it has left and its reason. */
static void list_row(void *ud, const char *key, const char *rest)
{
    listing *l = ud;
    if (l->st != CTL_OK)
        return;
    redisReply *v = ctl_cmd(l->c, &l->st, "GET %s", key);
    redisReply *t = v ? ctl_cmd(l->c, &l->st, "TTL %s", key) : NULL;
    if (v && t && rdb_str(v)) {
        char left[32];
        ctl_ttl(rdb_int(t, -1), left, sizeof left);
        if (l->rows++ == 0)
            printf("WHO\tLEFT\tREASON\n");
        printf("%s\t%s\t%s\n", rest, left, rdb_str(v));
    }
    if (v)
        freeReplyObject(v);
    if (t)
        freeReplyObject(t);
}

static int list_keys(ctl *c, const char *stem, const char *none)
{
    listing l = {c, CTL_OK, 0};
    int st = ctl_scan(c, stem, list_row, &l);
    if (st == CTL_OK && l.st == CTL_OK && l.rows == 0)
        fprintf(stderr, "%s\n", none);
    return st != CTL_OK ? st : l.st;
}

static long duration(const ctl *c)
{
    return (long)(c->duration + 0.5);
}

static int apply(ctl *c, desk_store_cmd *cmd)
{
    int st;
    redisReply *r = ctl_run(c, cmd, &st);
    if (r)
        freeReplyObject(r);
    return st;
}

/* Runs a DEL-style command: CTL_NOINPUT (with what) when it removed nothing. */
static int lift(ctl *c, desk_store_cmd *cmd, const char *what)
{
    int st;
    redisReply *r = ctl_run(c, cmd, &st);
    if (!r)
        return st;
    long long n = rdb_int(r, 0);
    freeReplyObject(r);
    return n > 0 ? CTL_OK : ctl_fail(CTL_NOINPUT, "%s", what);
}

int ctl_bans_list(ctl *c, char **args)
{
    (void)args;
    return list_keys(c, KEY_BAN_JID, "nobody is banned from the service");
}

int ctl_bans_add(ctl *c, char **args)
{
    char *who = ctl_bare(args[0]);
    if (!who)
        return CTL_DATAERR;
    desk_store_cmd cmd;
    desk_store_ban(&cmd, c->prefix, who, c->reason ? c->reason : "banned", duration(c));
    int st = apply(c, &cmd);
    char detail[32];
    snprintf(detail, sizeof detail, "%lds", duration(c));
    if (st == CTL_OK && ctl_audit(c, "ban", who, NULL, detail) == 0)
        printf("%s is banned from the service %s\n", who,
               duration(c) ? "for the given time" : "until lifted");
    free(who);
    return st;
}

int ctl_bans_remove(ctl *c, char **args)
{
    char *who = ctl_bare(args[0]);
    if (!who)
        return CTL_DATAERR;
    desk_store_cmd cmd;
    desk_store_unban(&cmd, c->prefix, who);
    char what[400];
    snprintf(what, sizeof what, "%s is not banned", who);
    int st = lift(c, &cmd, what);
    if (st == CTL_OK && ctl_audit(c, "unban", who, NULL, NULL) == 0)
        printf("the ban of %s is lifted\n", who);
    free(who);
    return st;
}

int ctl_blocks_list(ctl *c, char **args)
{
    (void)args;
    return list_keys(c, KEY_BAN_DOMAIN, "no domain is blocked");
}

int ctl_blocks_add(ctl *c, char **args)
{
    char *dom = ctl_domain(args[0]);
    if (!dom)
        return CTL_DATAERR;
    int st = CTL_OK;
    if (strcmp(dom, c->domain) == 0) {
        st = ctl_fail(CTL_DATAERR, "%s is this service: it cannot block itself", dom);
    } else {
        desk_store_cmd cmd;
        desk_store_block_domain(&cmd, c->prefix, dom, c->reason ? c->reason : "blocked");
        st = apply(c, &cmd);
        /* stoa-gateway instances close the domain's open streams at once. */
        if (st == CTL_OK) {
            desk_store_announce_block(&cmd, c->prefix, dom);
            st = apply(c, &cmd);
        }
        if (st == CTL_OK && ctl_audit(c, "block-domain", dom, NULL, NULL) == 0)
            printf("%s is blocked\n", dom);
    }
    free(dom);
    return st;
}

int ctl_blocks_remove(ctl *c, char **args)
{
    char *dom = ctl_domain(args[0]);
    if (!dom)
        return CTL_DATAERR;
    desk_store_cmd cmd;
    desk_store_unblock_domain(&cmd, c->prefix, dom);
    char what[400];
    snprintf(what, sizeof what, "%s is not blocked", dom);
    int st = lift(c, &cmd, what);
    if (st == CTL_OK && ctl_audit(c, "unblock-domain", dom, NULL, NULL) == 0)
        printf("%s is no longer blocked\n", dom);
    free(dom);
    return st;
}

/* Limits: the service-wide mutes (set by moderators, by escalation, or by
 * the gate after too many rate-limit refusals) and the refusals counted
 * towards the next one. */
static void violations_row(void *ud, const char *key, const char *rest)
{
    listing *l = ud;
    if (l->st != CTL_OK)
        return;
    redisReply *v = ctl_cmd(l->c, &l->st, "GET %s", key);
    if (v && rdb_str(v)) {
        if (l->rows++ == 0)
            printf("WHO\tRATE-LIMIT REFUSALS IN THE WINDOW\n");
        printf("%s\t%s\n", rest, rdb_str(v));
    }
    if (v)
        freeReplyObject(v);
}

int ctl_limits_list(ctl *c, char **args)
{
    (void)args;
    int st = list_keys(c, KEY_MUTE, "nobody is muted service-wide");
    if (st != CTL_OK)
        return st;
    listing l = {c, CTL_OK, 0};
    st = ctl_scan(c, KEY_RATE_VIOLATIONS, violations_row, &l);
    return st != CTL_OK ? st : l.st;
}

int ctl_limits_add(ctl *c, char **args)
{
    char *who = ctl_bare(args[0]);
    if (!who)
        return CTL_DATAERR;
    desk_store_cmd cmd;
    desk_store_mute(&cmd, c->prefix, who, c->reason ? c->reason : "muted by an operator",
                    duration(c));
    int st = apply(c, &cmd);
    char detail[32];
    snprintf(detail, sizeof detail, "%lds", duration(c));
    if (st == CTL_OK && ctl_audit(c, "mute", who, NULL, detail) == 0)
        printf("%s is muted service-wide %s\n", who,
               duration(c) ? "for the given time" : "until unmuted");
    free(who);
    return st;
}

int ctl_limits_remove(ctl *c, char **args)
{
    char *who = ctl_bare(args[0]);
    if (!who)
        return CTL_DATAERR;
    char *mute = ctl_key(c, KEY_MUTE, who), *rlv = ctl_key(c, KEY_RATE_VIOLATIONS, who);
    int st;
    redisReply *r = mute && rlv ? ctl_cmd(c, &st, "EXISTS %s %s", mute, rlv) : NULL;
    if (!mute || !rlv)
        st = ctl_fail(CTL_SOFTWARE, "out of memory");
    else if (r && rdb_int(r, 0) == 0)
        st = ctl_fail(CTL_NOINPUT, "%s is neither muted nor rate-limited", who);
    if (r)
        freeReplyObject(r);
    if (st == CTL_OK) {
        desk_store_cmd cmd;
        desk_store_unmute(&cmd, c->prefix, who);
        st = apply(c, &cmd);
        redisReply *d = st == CTL_OK ? ctl_cmd(c, &st, "DEL %s", rlv) : NULL;
        if (d)
            freeReplyObject(d);
    }
    if (st == CTL_OK && ctl_audit(c, "unmute", who, NULL, NULL) == 0)
        printf("%s is no longer muted or rate-limited (voice returns when they rejoin)\n", who);
    free(mute);
    free(rlv);
    free(who);
    return st;
}

/* ---- the audit log ---- */

int ctl_audit_list(ctl *c, char **args)
{
    (void)args;
    desk_store_cmd cmd;
    desk_store_audit_read(&cmd, c->prefix, c->count ? c->count : LIST_DEFAULT);
    int st;
    redisReply *r = ctl_run(c, &cmd, &st);
    if (!r)
        return st;
    size_t n = desk_store_audit_count(r);
    if (n)
        printf("WHEN\tACTOR\tACTION\tTARGET\tROOM\tREASON\tDETAIL\n");
    for (size_t i = 0; i < n; i++) {
        desk_store_audit_entry e;
        double t;
        if (desk_store_audit_at(r, i, &e, &t) < 0)
            continue;
        char when[64];
        ctl_when(t, when);
        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when, e.actor, e.action, e.target,
               *e.room ? e.room : "-", e.reason, e.detail);
    }
    if (n == 0)
        fprintf(stderr, "the audit log is empty\n");
    freeReplyObject(r);
    return CTL_OK;
}
