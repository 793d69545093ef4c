/* roster: presence and roster management for the host server's users.
 *
 * Stoa is a privileged entity (XEP-0356) of the host server: it reads the
 * permissions the host advertises (urn:xmpp:privilege:2 from Prosody's
 * mod_privilege, urn:xmpp:privilege:1 from ejabberd 23.01's), and with
 * them keeps group rosters (every member of a group holds the others under
 * the group's name, subscription both, live) and tracks who is online.
 * Groups live in Redis (schemas/redis-keys.md), defined in the
 * configuration or by admins through ad-hoc commands; what Stoa wrote into
 * whose roster is recorded there too, so a restart neither duplicates nor
 * forgets an item, and items the users added themselves are never touched.
 * A permission the host does not grant switches off only what needs it,
 * with one log line naming the configuration to add. docs/rosters.md.
 *
 * Files: roster.c (life, routes, permissions, the groups in Redis),
 * apply.c (the paced writer of roster items), cmds.c (ad-hoc commands),
 * online.c (presence, who is online), grp.c (the group model), priv.c (the
 * privilege message).
 *
 * Ownership: the roster borrows the ad-hoc engine (free the roster first),
 * the loop and the rdb connection; it copies its configuration. The
 * router borrows the rows. */
#ifndef STOA_ROSTER_H
#define STOA_ROSTER_H

#include <ev.h>
#include <stdbool.h>

#include "adhoc.h"
#include "out.h"
#include "rdb.h"
#include "router.h"

typedef struct roster roster;

typedef struct roster_config {
    bool enabled;
    const char *admins;     /* comma-separated bare JIDs; "" : the desk's moderators */
    const char *moderators; /* the desk's, for the fallback */
    const char *groups;     /* the [roster] groups setting */
    double rate;            /* roster writes per second */
    unsigned group_max;     /* members of one group */
    double permission_wait; /* seconds for the host's privilege message */
} roster_config;

/* NULL on OOM or a bad admin JID or group setting (checked earlier by the
 * settings). loop NULL: no pacing (unit tests): writes go out at once. */
roster *roster_new(const roster_config *cfg, const char *domain, struct ev_loop *loop,
                   adhoc *commands, const out *sink);
void roster_free(roster *r);
/* Where the groups live; NULL: nowhere (groups off). prefix is copied. */
void roster_set_redis(roster *r, rdb *redis, const char *prefix);
/* Redis came up: the groups are read (once), the configured ones seeded. */
void roster_redis_up(roster *r);
/* The link is up (the host advertises permissions per connection) or down. */
void roster_link_up(roster *r);
void roster_link_down(roster *r);

/* The desk's hygiene: a service-wide ban of a bare JID, or a domain block
 * (domain true), takes the JID (or everyone at the domain) out of every
 * group and out of every roster Stoa wrote them into; erase does the same
 * for one person. */
void roster_forget(roster *r, const char *who, bool domain);

/* The roster's rows for the service's router (ud: the roster). */
#define ROSTER_ROUTES 5
extern const router_route roster_routes[ROSTER_ROUTES];

#endif
