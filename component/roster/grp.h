/* grp: the group rosters' model: groups, their members and the groups each
 * one is displayed to, and what that means for one person's roster.
 *
 * A group is a name (the roster group its members find the others under)
 * and a set of members (normalized bare JIDs). A group G may be displayed
 * to a group H: H's members then find G's members under G's name, and
 * G's members find H's members under H's name (presence flows only when
 * both rosters hold each other, so display works both ways; see
 * docs/rosters.md). The model knows nothing of Redis or XMPP: roster.c
 * keeps it in step with Redis, apply.c turns its answers into roster
 * pushes.
 *
 * Ownership: the set owns its groups and copies every string it is given;
 * strings it returns live until the entry they belong to is removed. */
#ifndef STOA_ROSTER_GRP_H
#define STOA_ROSTER_GRP_H

#include <stdbool.h>
#include <stddef.h>

#define GRP_NAME_MAX 64 /* bytes of a group's name */

typedef struct grp_set grp_set;

grp_set *grp_new(void);
void grp_free(grp_set *g);

/* Whether name may name a group: 1 to GRP_NAME_MAX bytes of UTF-8 without
 * control characters, and none of ',' ';' ':' (the configuration's
 * separators) nor leading or trailing space. */
bool grp_name_ok(const char *name);

/* Each returns 0 when it changed something, 1 when there was nothing to
 * change (already there, or not there), -1 on OOM. */
int grp_create(grp_set *g, const char *name);
/* Deletes the group, its members and every display to or from it. */
int grp_delete(grp_set *g, const char *name);
int grp_add(grp_set *g, const char *name, const char *member);
int grp_remove(grp_set *g, const char *name, const char *member);
/* shown displayed to viewers (on), or no longer (off). */
int grp_display(grp_set *g, const char *shown, const char *viewers, bool on);

bool grp_exists(const grp_set *g, const char *name);
bool grp_is_member(const grp_set *g, const char *name, const char *member);
size_t grp_size(const grp_set *g, const char *name);
size_t grp_count(const grp_set *g);

/* Calls fn for every group name, in no particular order. */
void grp_each(const grp_set *g, void (*fn)(void *ud, const char *name), void *ud);
/* Calls fn for every member of the group. */
void grp_each_member(const grp_set *g, const char *name, void (*fn)(void *ud, const char *member),
                     void *ud);
/* Calls fn for every group `name` is displayed to (to = true) or that is
 * displayed to it (to = false). */
void grp_each_display(const grp_set *g, const char *name, bool to,
                      void (*fn)(void *ud, const char *other), void *ud);
/* Calls fn for every group user is a member of. */
void grp_each_group_of(const grp_set *g, const char *user, void (*fn)(void *ud, const char *name),
                       void *ud);

/* A list of names collected from a walk above (a walk must not change the
 * maps it walks): v is NULL-terminated; free it with config_list_free. A
 * name that cannot be copied (OOM) is left out. */
typedef struct grp_names {
    char **v;
    size_t n, cap;
} grp_names;

/* Appends a copy of s; ud is a grp_names, so it serves as a walk's fn. */
void grp_names_add(void *ud, const char *s);

/* The roster groups under which user should hold contact: the names of the
 * groups both are members of, of the groups displayed to one of user's
 * groups that contact is in, and of the groups user is in that are displayed
 * to one of contact's groups... sorted, joined by '\n', written into out.
 * "" (and 0) when user should not hold contact at all; -1 when out is too
 * small. */
int grp_labels(const grp_set *g, const char *user, const char *contact, char *out, size_t n);

/* Calls fn once for every person user should hold (everyone sharing or
 * seeing one of user's groups, user excepted); a person may be reported
 * more than once. */
void grp_each_contact(const grp_set *g, const char *user, void (*fn)(void *ud, const char *contact),
                      void *ud);

/* Parses the [roster] groups setting: "Name: jid jid ...; Name2: jid ..."
 * and calls fn for each (group, normalized member). 0, or -1 with a message
 * in err (a bad name or JID, a group over max members). */
int grp_parse_config(const char *text, size_t max,
                     int (*fn)(void *ud, const char *name, const char *member), void *ud, char *err,
                     size_t errlen);

#endif
