/* stoactl's verbs on the group rosters' state in Redis (schemas/
 * redis-keys.md, roster:): the same keys, names and checks as the
 * component's ad-hoc commands (component/roster/cmds.c), whose model
 * (roster/grp.h) gives the name rule. stoactl cannot reach a running
 * component: it reads the groups once, when it starts (docs/rosters.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/verbs.h"
#include "keys.h"
#include "rdb.h"
#include "roster/grp.h"

static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The strings of an array reply, sorted, printed one a line after indent. */
static void print_sorted(const redisReply *r, const char *indent)
{
    size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    const char **v = n ? calloc(n, sizeof *v) : NULL;
    size_t k = 0;
    for (size_t i = 0; v && i < n; i++)
        if (rdb_str(r->element[i]))
            v[k++] = rdb_str(r->element[i]);
    if (k)
        qsort(v, k, sizeof *v, by_str);
    for (size_t i = 0; i < k; i++)
        printf("%s%s\n", indent, v[i]);
    free(v);
}

/* A reply for "CMD {p}<stem><who> [arg]"; NULL after printing why. */
static redisReply *on_key(ctl *c, int *st, const char *cmd, const char *stem, const char *who,
                          const char *arg)
{
    char *k = ctl_key(c, stem, who);
    if (!k) {
        *st = ctl_fail(CTL_SOFTWARE, "out of memory");
        return NULL;
    }
    redisReply *r = arg ? ctl_cmd(c, st, "%s %s %s", cmd, k, arg) : ctl_cmd(c, st, "%s %s", cmd, k);
    free(k);
    return r;
}

static long long int_of(ctl *c, int *st, const char *cmd, const char *stem, const char *who,
                        const char *arg)
{
    redisReply *r = *st == CTL_OK ? on_key(c, st, cmd, stem, who, arg) : NULL;
    long long n = r ? rdb_int(r, 0) : 0;
    if (r)
        freeReplyObject(r);
    return n;
}

/* CTL_OK when the group exists, else the status (printed). */
static int existing(ctl *c, const char *group)
{
    int st = CTL_OK;
    long long in = int_of(c, &st, "SISMEMBER", KEY_ROSTER_GROUPS, NULL, group);
    if (st == CTL_OK && !in)
        st = ctl_fail(CTL_NOINPUT, "%s: no such group (stoactl groups list)", group);
    return st;
}

int ctl_groups_list(ctl *c, char **args)
{
    (void)args;
    int st = CTL_OK;
    redisReply *g = on_key(c, &st, "SMEMBERS", KEY_ROSTER_GROUPS, NULL, NULL);
    if (!g)
        return st;
    size_t n = g->type == REDIS_REPLY_ARRAY ? g->elements : 0, k = 0;
    const char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        if (rdb_str(g->element[i]))
            v[k++] = rdb_str(g->element[i]);
    if (k)
        qsort(v, k, sizeof *v, by_str);
    if (k)
        printf("GROUP\tMEMBERS\tDISPLAYED TO\n");
    else
        fprintf(stderr, "no roster groups\n");
    for (size_t i = 0; st == CTL_OK && i < k; i++) {
        long long m = int_of(c, &st, "SCARD", KEY_ROSTER_MEMBERS, v[i], NULL);
        redisReply *s =
            st == CTL_OK ? on_key(c, &st, "SMEMBERS", KEY_ROSTER_SHOWN, v[i], NULL) : NULL;
        if (!s)
            continue;
        printf("%s\t%lld\t", v[i], m);
        for (size_t j = 0; s->type == REDIS_REPLY_ARRAY && j < s->elements; j++)
            printf("%s%s", j ? "," : "", rdb_str(s->element[j]) ? rdb_str(s->element[j]) : "");
        printf("\n");
        freeReplyObject(s);
    }
    free(v);
    freeReplyObject(g);
    return st;
}

int ctl_groups_show(ctl *c, char **args)
{
    int st = existing(c, args[0]);
    redisReply *m =
        st == CTL_OK ? on_key(c, &st, "SMEMBERS", KEY_ROSTER_MEMBERS, args[0], NULL) : NULL;
    redisReply *s = m ? on_key(c, &st, "SMEMBERS", KEY_ROSTER_SHOWN, args[0], NULL) : NULL;
    if (m && s) {
        printf("group: %s\nmembers: %zu\n", args[0], m->elements);
        print_sorted(m, "  ");
        printf("displayed to:\n");
        print_sorted(s, "  ");
    }
    if (m)
        freeReplyObject(m);
    if (s)
        freeReplyObject(s);
    return st;
}

int ctl_groups_create(ctl *c, char **args)
{
    if (!grp_name_ok(args[0]))
        return ctl_fail(CTL_DATAERR,
                        "%s: a group's name is 1 to %d bytes, without control characters, ',' ';' "
                        "':' or spaces around it",
                        args[0], GRP_NAME_MAX);
    int st = CTL_OK;
    long long added = int_of(c, &st, "SADD", KEY_ROSTER_GROUPS, NULL, args[0]);
    if (st == CTL_OK && !added)
        return ctl_fail(CTL_DATAERR, "%s: that group exists", args[0]);
    if (st == CTL_OK && ctl_audit(c, "roster-create", args[0], NULL, NULL) == 0)
        printf("created group %s\n", args[0]);
    return st;
}

typedef struct shown_walk {
    ctl *c;
    const char *group;
    int st;
} shown_walk;

/* Another group displayed to the one deleted forgets it, or a component's
 * next start would bring it back as an empty group. */
static void unshow(void *ud, const char *key, const char *rest)
{
    shown_walk *w = ud;
    (void)rest;
    redisReply *r = w->st == CTL_OK ? ctl_cmd(w->c, &w->st, "SREM %s %s", key, w->group) : NULL;
    if (r)
        freeReplyObject(r);
}

int ctl_groups_delete(ctl *c, char **args)
{
    if (!c->yes)
        return ctl_fail(CTL_USAGE, "groups delete %s: needs --yes", args[0]);
    int st = existing(c, args[0]);
    long long had = int_of(c, &st, "SCARD", KEY_ROSTER_MEMBERS, args[0], NULL);
    char *km = ctl_key(c, KEY_ROSTER_MEMBERS, args[0]), *ks = ctl_key(c, KEY_ROSTER_SHOWN, args[0]),
         *kg = ctl_key(c, KEY_ROSTER_GROUPS, NULL);
    if (st == CTL_OK && (!km || !ks || !kg))
        st = ctl_fail(CTL_SOFTWARE, "out of memory");
    redisReply *r = st == CTL_OK ? ctl_cmd(c, &st, "MULTI") : NULL;
    const char *q[] = {"DEL %s %s", "SREM %s %s", "EXEC"};
    for (int i = 0; r && i < 3; i++) {
        freeReplyObject(r);
        r = i == 0   ? ctl_cmd(c, &st, q[0], km, ks)
            : i == 1 ? ctl_cmd(c, &st, q[1], kg, args[0])
                     : ctl_cmd(c, &st, q[2]);
    }
    if (r)
        freeReplyObject(r);
    free(km);
    free(ks);
    free(kg);
    shown_walk w = {c, args[0], st};
    if (st == CTL_OK && (st = ctl_scan(c, KEY_ROSTER_SHOWN, unshow, &w)) == CTL_OK)
        st = w.st;
    char detail[64];
    snprintf(detail, sizeof detail, "%lld member%s", had, had == 1 ? "" : "s");
    if (st == CTL_OK && ctl_audit(c, "roster-delete", args[0], NULL, detail) == 0)
        printf("deleted group %s (%s)\n", args[0], detail);
    return st;
}

/* args[1...] as normalized bare JIDs, NULL-terminated; NULL after printing
 * why (nothing changed). */
static char **members_of(char **args, size_t *n)
{
    for (*n = 0; args[*n + 1]; (*n)++)
        ;
    char **v = calloc(*n + 1, sizeof *v);
    for (size_t i = 0; v && i < *n; i++)
        if (!(v[i] = ctl_bare(args[i + 1]))) {
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return NULL;
        }
    if (!v)
        ctl_fail(CTL_SOFTWARE, "out of memory");
    return v;
}

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* SADD (add) or SREM of the members, all or nothing. */
static int change_members(ctl *c, char **args, bool add)
{
    size_t n;
    char **m = members_of(args, &n);
    if (!m)
        return CTL_DATAERR;
    int st = existing(c, args[0]);
    long long have = int_of(c, &st, "SCARD", KEY_ROSTER_MEMBERS, args[0], NULL);
    if (st == CTL_OK && add && (size_t)have + n > c->group_max)
        st = ctl_fail(CTL_DATAERR,
                      "group %s would have up to %zu members; the limit is %u ([roster] "
                      "group_max): nothing was changed",
                      args[0], (size_t)have + n, c->group_max);
    for (size_t i = 0; st == CTL_OK && !add && i < n; i++)
        if (!int_of(c, &st, "SISMEMBER", KEY_ROSTER_MEMBERS, args[0], m[i]) && st == CTL_OK)
            st = ctl_fail(CTL_NOINPUT, "%s is not a member of %s: nothing was changed", m[i],
                          args[0]);
    char *k = ctl_key(c, KEY_ROSTER_MEMBERS, args[0]);
    const char **argv = calloc(n + 2, sizeof *argv);
    size_t *lens = calloc(n + 2, sizeof *lens);
    if (st == CTL_OK && (!k || !argv || !lens))
        st = ctl_fail(CTL_SOFTWARE, "out of memory");
    long long changed = 0;
    if (st == CTL_OK) {
        argv[0] = add ? "SADD" : "SREM", argv[1] = k;
        for (size_t i = 0; i < n + 2; i++)
            lens[i] = strlen(i < 2 ? argv[i] : (argv[i] = m[i - 2]));
        redisReply *r = redisCommandArgv(c->rc, (int)n + 2, argv, lens);
        if (!r || r->type != REDIS_REPLY_INTEGER)
            st = ctl_fail(r ? CTL_SOFTWARE : CTL_UNAVAILABLE, "redis: %s",
                          r && r->str ? r->str : c->rc->errstr);
        changed = r ? r->integer : 0;
        if (r)
            freeReplyObject(r);
    }
    char detail[64];
    snprintf(detail, sizeof detail, "%lld of %zu", changed, n);
    for (size_t i = 0; st == CTL_OK && i < n; i++)
        if (ctl_audit(c, add ? "roster-add" : "roster-remove", m[i], NULL, args[0]) < 0)
            st = CTL_UNAVAILABLE;
    if (st == CTL_OK)
        printf("group %s: %s %s %s\n", args[0], add ? "added" : "removed", detail,
               add ? "(the others were members)" : "");
    free(k);
    free(argv);
    free(lens);
    free_list(m);
    return st;
}

int ctl_groups_add(ctl *c, char **args)
{
    return change_members(c, args, true);
}

int ctl_groups_remove(ctl *c, char **args)
{
    return change_members(c, args, false);
}

static int change_display(ctl *c, char **args, bool on)
{
    if (strcmp(args[0], args[1]) == 0)
        return ctl_fail(CTL_DATAERR, "%s: a group's members already hold each other", args[0]);
    int st = existing(c, args[0]);
    if (st == CTL_OK)
        st = existing(c, args[1]);
    long long changed = int_of(c, &st, on ? "SADD" : "SREM", KEY_ROSTER_SHOWN, args[0], args[1]);
    if (st == CTL_OK && !changed)
        return ctl_fail(on ? CTL_DATAERR : CTL_NOINPUT, "%s is %s displayed to %s", args[0],
                        on ? "already" : "not", args[1]);
    if (st == CTL_OK &&
        ctl_audit(c, on ? "roster-display" : "roster-undisplay", args[0], NULL, args[1]) == 0)
        printf("group %s is %s displayed to %s\n", args[0], on ? "now" : "no longer", args[1]);
    return st;
}

int ctl_groups_display(ctl *c, char **args)
{
    return change_display(c, args, true);
}

int ctl_groups_undisplay(ctl *c, char **args)
{
    return change_display(c, args, false);
}
