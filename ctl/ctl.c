#include "ctl.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "jid.h"
#include "keys.h"
#include "settings.h"
#include "xtime.h"

int ctl_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("stoactl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

/* The audit log names a person where one ran it through sudo. */
static void default_actor(ctl *c)
{
    const char *who = getenv("SUDO_USER");
    struct passwd *pw = (!who || !*who) ? getpwuid(getuid()) : NULL;
    if (pw)
        who = pw->pw_name;
    snprintf(c->actor, sizeof c->actor, "stoactl:%s", who && *who ? who : "?");
}

static int auth_and_select(ctl *c, const settings *s)
{
    redisReply *r;
    if (s->redis_password && *s->redis_password) {
        r = redisCommand(c->rc, "AUTH %s", s->redis_password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            int st = ctl_fail(r ? CTL_NOPERM : CTL_UNAVAILABLE, "redis %s:%ld: AUTH: %s",
                              s->redis_host, s->redis_port, r ? r->str : c->rc->errstr);
            if (r)
                freeReplyObject(r);
            return st;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c->rc, "SELECT %ld", s->redis_db);
    int st = CTL_OK;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        bool noauth = r && strncmp(r->str, "NOAUTH", 6) == 0;
        st = ctl_fail(noauth ? CTL_NOPERM : CTL_UNAVAILABLE, "redis %s:%ld: %s", s->redis_host,
                      s->redis_port, r ? r->str : c->rc->errstr);
    }
    if (r)
        freeReplyObject(r);
    return st;
}

int ctl_open(ctl *c, const char *config_path)
{
    settings s;
    char err[512];
    if (!c->actor[0])
        default_actor(c);
    if (settings_load(config_path, &s, err, sizeof err) < 0) {
        settings_free(&s);
        return ctl_fail(CTL_CONFIG, "%s", err);
    }
    int st = CTL_OK;
    if (!s.redis_enabled) {
        st = ctl_fail(CTL_CONFIG, "%s: [redis] enabled = false: there is no shared state to steer",
                      config_path);
        goto out;
    }
    c->prefix = strdup(s.redis_prefix);
    c->domain = strdup(s.domain);
    c->audit_max = (unsigned)s.desk_audit_max;
    c->group_max = (unsigned)s.roster_group_max;
    if (!c->prefix || !c->domain) {
        st = ctl_fail(CTL_SOFTWARE, "out of memory");
        goto out;
    }
    struct timeval tv = {5, 0};
    c->rc = redisConnectWithTimeout(s.redis_host, (int)s.redis_port, tv);
    if (!c->rc || c->rc->err) {
        st = ctl_fail(CTL_UNAVAILABLE, "redis %s:%ld: %s", s.redis_host, s.redis_port,
                      c->rc ? c->rc->errstr : "out of memory");
        goto out;
    }
    redisSetTimeout(c->rc, (struct timeval){10, 0});
    st = auth_and_select(c, &s);
out:
    settings_free(&s);
    return st;
}

void ctl_close(ctl *c)
{
    if (c->rc)
        redisFree(c->rc);
    free(c->prefix);
    free(c->domain);
}

static redisReply *checked(ctl *c, redisReply *r, int *status)
{
    if (!r) {
        *status = ctl_fail(CTL_UNAVAILABLE, "redis: %s", c->rc->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *status = ctl_fail(CTL_SOFTWARE, "redis refused the command: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    *status = CTL_OK;
    return r;
}

redisReply *ctl_run(ctl *c, desk_store_cmd *cmd, int *status)
{
    redisReply *r = NULL;
    if (cmd->argc == 0 || cmd->oom) {
        *status = ctl_fail(CTL_SOFTWARE, "out of memory");
    } else {
        size_t lens[DESK_STORE_ARGS_MAX];
        for (int i = 0; i < cmd->argc; i++)
            lens[i] = strlen(cmd->argv[i]);
        r = checked(c, redisCommandArgv(c->rc, cmd->argc, cmd->argv, lens), status);
    }
    desk_store_cmd_free(cmd);
    return r;
}

redisReply *ctl_cmd(ctl *c, int *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c->rc, fmt, ap);
    va_end(ap);
    return checked(c, r, status);
}

char *ctl_key(const ctl *c, const char *stem, const char *who)
{
    return keys_make(c->prefix, stem, who);
}

int ctl_audit(ctl *c, const char *action, const char *target, const char *room, const char *detail)
{
    desk_store_cmd cmd;
    desk_store_audit_entry e = {c->actor, action, target, room, c->reason, detail};
    desk_store_audit_add(&cmd, c->prefix, c->audit_max, &e);
    int st;
    redisReply *r = ctl_run(c, &cmd, &st);
    if (!r)
        return -1;
    freeReplyObject(r);
    return 0;
}

char *ctl_bare(const char *s)
{
    jid j;
    jid_err e = jid_parse(s, &j);
    if (e != JID_OK) {
        ctl_fail(CTL_DATAERR, "%s: not a valid JID: %s", s, jid_strerror(e));
        return NULL;
    }
    char *b = j.local && !j.resource ? jid_bare(&j) : NULL;
    if (!j.local || j.resource)
        ctl_fail(CTL_DATAERR, "%s: not a bare JID (user@domain)", s);
    jid_free(&j);
    return b;
}

char *ctl_domain(const char *s)
{
    jid j;
    jid_err e = jid_parse(s, &j);
    if (e != JID_OK) {
        ctl_fail(CTL_DATAERR, "%s: not a valid domain: %s", s, jid_strerror(e));
        return NULL;
    }
    char *d = !j.local && !j.resource ? strdup(j.domain) : NULL;
    if (!d)
        ctl_fail(CTL_DATAERR, "%s: a domain alone, without user@ or /resource", s);
    jid_free(&j);
    return d;
}

int ctl_scan(ctl *c, const char *stem, void (*cb)(void *ud, const char *key, const char *rest),
             void *ud)
{
    char *pattern = ctl_key(c, stem, "*");
    size_t skip = strlen(c->prefix) + strlen(stem);
    if (!pattern)
        return ctl_fail(CTL_SOFTWARE, "out of memory");
    char cursor[32] = "0";
    int st = CTL_OK;
    do {
        redisReply *r = ctl_cmd(c, &st, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r)
            break;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !r->element[0]->str ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            st = ctl_fail(CTL_SOFTWARE, "redis: SCAN answered something unexpected");
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++)
            if (keys->element[i]->str && strlen(keys->element[i]->str) >= skip)
                cb(ud, keys->element[i]->str, keys->element[i]->str + skip);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(pattern);
    return st;
}

void ctl_ttl(long long secs, char *out, size_t n)
{
    if (secs < 0)
        snprintf(out, n, "until lifted");
    else if (secs >= 86400)
        snprintf(out, n, "%lldd%lldh", secs / 86400, secs % 86400 / 3600);
    else if (secs >= 3600)
        snprintf(out, n, "%lldh%lldm", secs / 3600, secs % 3600 / 60);
    else if (secs >= 60)
        snprintf(out, n, "%lldm%llds", secs / 60, secs % 60);
    else
        snprintf(out, n, "%llds", secs);
}

void ctl_when(double t, char out[64])
{
    xtime_format(t, out);
}
