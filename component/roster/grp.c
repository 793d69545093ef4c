/* The group model: a few hash maps of names, and an index of who is in
 * which group so one person's contacts are found without walking every
 * group. */
#include "roster/grp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "jid.h"

typedef struct group {
    char *name;
    hmap members; /* member -> its own copy of the JID (key and value) */
    hmap to;      /* groups this one is displayed to: name -> group */
    hmap from;    /* groups displayed to this one: name -> group */
} group;

typedef struct person {
    char *jid;
    hmap groups; /* name -> group */
} person;

struct grp_set {
    hmap groups; /* name -> group */
    hmap people; /* bare JID -> person */
};

grp_set *grp_new(void)
{
    return calloc(1, sizeof(grp_set));
}

static void free_strings(hmap *m)
{
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(m, &i, &k, &v);)
        free(v);
    hmap_free(m);
}

static void group_free(group *gr)
{
    free_strings(&gr->members);
    hmap_free(&gr->to);
    hmap_free(&gr->from);
    free(gr->name);
    free(gr);
}

void grp_free(grp_set *g)
{
    if (!g)
        return;
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(&g->groups, &i, &k, &v);)
        group_free(v);
    hmap_free(&g->groups);
    for (size_t i = 0; hmap_next(&g->people, &i, &k, &v);) {
        person *p = v;
        hmap_free(&p->groups);
        free(p->jid);
        free(p);
    }
    hmap_free(&g->people);
    free(g);
}

bool grp_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > GRP_NAME_MAX || name[0] == ' ' || name[n - 1] == ' ')
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ',' || *p == ';' || *p == ':')
            return false;
    return true;
}

int grp_create(grp_set *g, const char *name)
{
    if (hmap_get(&g->groups, name))
        return 1;
    group *gr = calloc(1, sizeof *gr);
    if (!gr || !(gr->name = strdup(name)) || hmap_put(&g->groups, gr->name, gr) < 0) {
        if (gr)
            free(gr->name);
        free(gr);
        return -1;
    }
    return 0;
}

/* Drops the person's index entry for the group, and the person with their
 * last group. */
static void unindex(grp_set *g, const char *member, const char *name)
{
    person *p = hmap_get(&g->people, member);
    if (!p)
        return;
    hmap_del(&p->groups, name);
    if (p->groups.count == 0) {
        hmap_del(&g->people, p->jid);
        hmap_free(&p->groups);
        free(p->jid);
        free(p);
    }
}

int grp_delete(grp_set *g, const char *name)
{
    group *gr = hmap_get(&g->groups, name);
    if (!gr)
        return 1;
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(&gr->to, &i, &k, &v);)
        hmap_del(&((group *)v)->from, name);
    for (size_t i = 0; hmap_next(&gr->from, &i, &k, &v);)
        hmap_del(&((group *)v)->to, name);
    for (size_t i = 0; hmap_next(&gr->members, &i, &k, &v);)
        unindex(g, k, name);
    hmap_del(&g->groups, name);
    group_free(gr);
    return 0;
}

int grp_add(grp_set *g, const char *name, const char *member)
{
    group *gr = hmap_get(&g->groups, name);
    if (!gr)
        return -1;
    if (hmap_get(&gr->members, member))
        return 1;
    person *p = hmap_get(&g->people, member);
    bool new_person = !p;
    if (new_person) {
        if (!(p = calloc(1, sizeof *p)) || !(p->jid = strdup(member)) ||
            hmap_put(&g->people, p->jid, p) < 0) {
            if (p)
                free(p->jid);
            free(p);
            return -1;
        }
    }
    char *copy = strdup(member);
    if (!copy || hmap_put(&p->groups, gr->name, gr) < 0 || hmap_put(&gr->members, copy, copy) < 0) {
        free(copy);
        hmap_del(&p->groups, gr->name);
        if (new_person)
            unindex(g, member, name);
        return -1;
    }
    return 0;
}

int grp_remove(grp_set *g, const char *name, const char *member)
{
    group *gr = hmap_get(&g->groups, name);
    char *copy = gr ? hmap_del(&gr->members, member) : NULL;
    if (!copy)
        return 1;
    unindex(g, member, name);
    free(copy);
    return 0;
}

int grp_display(grp_set *g, const char *shown, const char *viewers, bool on)
{
    group *s = hmap_get(&g->groups, shown), *v = hmap_get(&g->groups, viewers);
    if (!s || !v)
        return -1;
    if (!on) {
        bool had = hmap_del(&s->to, viewers) != NULL;
        hmap_del(&v->from, shown);
        return had ? 0 : 1;
    }
    if (hmap_get(&s->to, viewers))
        return 1;
    if (hmap_put(&s->to, v->name, v) < 0)
        return -1;
    if (hmap_put(&v->from, s->name, s) < 0) {
        hmap_del(&s->to, viewers);
        return -1;
    }
    return 0;
}

bool grp_exists(const grp_set *g, const char *name)
{
    return hmap_get(&g->groups, name) != NULL;
}

bool grp_is_member(const grp_set *g, const char *name, const char *member)
{
    group *gr = hmap_get(&g->groups, name);
    return gr && hmap_get(&gr->members, member);
}

size_t grp_size(const grp_set *g, const char *name)
{
    group *gr = hmap_get(&g->groups, name);
    return gr ? gr->members.count : 0;
}

size_t grp_count(const grp_set *g)
{
    return g->groups.count;
}

static void each_key(const hmap *m, void (*fn)(void *ud, const char *s), void *ud)
{
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(m, &i, &k, &v);)
        fn(ud, k);
}

void grp_each(const grp_set *g, void (*fn)(void *ud, const char *name), void *ud)
{
    each_key(&g->groups, fn, ud);
}

void grp_each_member(const grp_set *g, const char *name, void (*fn)(void *ud, const char *member),
                     void *ud)
{
    group *gr = hmap_get(&g->groups, name);
    if (gr)
        each_key(&gr->members, fn, ud);
}

void grp_each_display(const grp_set *g, const char *name, bool to,
                      void (*fn)(void *ud, const char *other), void *ud)
{
    group *gr = hmap_get(&g->groups, name);
    if (gr)
        each_key(to ? &gr->to : &gr->from, fn, ud);
}

void grp_each_group_of(const grp_set *g, const char *user, void (*fn)(void *ud, const char *name),
                       void *ud)
{
    person *p = hmap_get(&g->people, user);
    if (p)
        each_key(&p->groups, fn, ud);
}

/* ---- one person's view ---- */

#define LABELS_MAX 64 /* distinct labels of one contact; more are dropped */

typedef struct labels {
    const char *v[LABELS_MAX];
    size_t n;
} labels;

static void label_add(labels *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return;
    if (l->n < LABELS_MAX)
        l->v[l->n++] = name;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void linked_labels(const hmap *links, const char *contact, labels *l)
{
    const char *k;
    void *v;
    for (size_t j = 0; hmap_next(links, &j, &k, &v);)
        if (hmap_get(&((group *)v)->members, contact))
            label_add(l, k);
}

int grp_labels(const grp_set *g, const char *user, const char *contact, char *out, size_t n)
{
    labels l = {.n = 0};
    person *p = strcmp(user, contact) != 0 ? hmap_get(&g->people, user) : NULL;
    const char *k;
    void *v;
    for (size_t i = 0; p && hmap_next(&p->groups, &i, &k, &v);) {
        group *gr = v;
        if (hmap_get(&gr->members, contact))
            label_add(&l, k);
        linked_labels(&gr->to, contact, &l);
        linked_labels(&gr->from, contact, &l);
    }
    qsort(l.v, l.n, sizeof l.v[0], cmp_str);
    size_t used = 0;
    if (n == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < l.n; i++) {
        size_t len = strlen(l.v[i]);
        if (used + len + (i ? 1 : 0) + 1 > n)
            return -1;
        if (i)
            out[used++] = '\n';
        memcpy(out + used, l.v[i], len + 1);
        used += len;
    }
    return 0;
}

typedef struct contact_walk {
    const char *user;
    void (*fn)(void *ud, const char *contact);
    void *ud;
} contact_walk;

static void walk_members(const contact_walk *w, const group *gr)
{
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(&gr->members, &i, &k, &v);)
        if (strcmp(k, w->user) != 0)
            w->fn(w->ud, k);
}

void grp_each_contact(const grp_set *g, const char *user, void (*fn)(void *ud, const char *contact),
                      void *ud)
{
    contact_walk w = {user, fn, ud};
    person *p = hmap_get(&g->people, user);
    const char *k, *k2;
    void *v, *v2;
    for (size_t i = 0; p && hmap_next(&p->groups, &i, &k, &v);) {
        group *gr = v;
        walk_members(&w, gr);
        for (size_t j = 0; hmap_next(&gr->to, &j, &k2, &v2);)
            walk_members(&w, v2);
        for (size_t j = 0; hmap_next(&gr->from, &j, &k2, &v2);)
            walk_members(&w, v2);
    }
}

/* ---- the configuration ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int parse_group(char *spec, size_t max,
                       int (*fn)(void *ud, const char *name, const char *member), void *ud,
                       char *err, size_t errlen)
{
    char *colon = strchr(spec, ':');
    if (!colon) {
        snprintf(err, errlen, "'%.40s' is not 'Name: member member ...'", spec);
        return -1;
    }
    *colon = '\0';
    char *name = trim(spec);
    if (!grp_name_ok(name)) {
        snprintf(err, errlen, "'%.70s' is not a group name", name);
        return -1;
    }
    size_t count = 0;
    char *save = NULL;
    for (char *w = strtok_r(colon + 1, " \t\n,", &save); w; w = strtok_r(NULL, " \t\n,", &save)) {
        jid j = {0};
        if (jid_parse(w, &j) != JID_OK || !j.local || j.resource) {
            jid_free(&j);
            snprintf(err, errlen, "group %s: '%.70s' is not a bare user JID", name, w);
            return -1;
        }
        char *bare = jid_bare(&j);
        jid_free(&j);
        if (++count > max) {
            free(bare);
            snprintf(err, errlen, "group %s has more than %zu members ([roster] group_max)", name,
                     max);
            return -1;
        }
        int rc = bare ? fn(ud, name, bare) : -1;
        free(bare);
        if (rc < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return count ? 0 : fn(ud, name, NULL);
}

int grp_parse_config(const char *text, size_t max,
                     int (*fn)(void *ud, const char *name, const char *member), void *ud, char *err,
                     size_t errlen)
{
    char *copy = strdup(text ? text : "");
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    char *save = NULL;
    for (char *spec = strtok_r(copy, ";", &save); spec && rc == 0;
         spec = strtok_r(NULL, ";", &save))
        if (*trim(spec))
            rc = parse_group(spec, max, fn, ud, err, errlen);
    free(copy);
    return rc;
}

void grp_names_add(void *ud, const char *s)
{
    grp_names *l = ud;
    if (l->n + 1 >= l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(s)))
        l->v[++l->n] = NULL;
}
