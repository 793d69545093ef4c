/* desk: the abuse desk. Takes XEP-0377 reports (desk/report.h) and stores
 * them in Redis with the evidence Stoa holds, tells the service moderators,
 * escalates when several people report one JID, and gives moderators and
 * room owners XEP-0050 ad-hoc commands to act: list and view reports,
 * dismiss, warn, mute, kick, ban from a room or the whole service, block a
 * domain, erase a JID's data, read the audit log. Keys are documented in
 * schemas/redis-keys.md, the commands in schemas/desk-commands.md,
 * behaviour in docs/safety.md.
 *
 * One file per concern under component/desk/: intake.c (reports in),
 * review.c (list, view, dismiss), sanction.c (the actions on a person),
 * erase.c, audit.c, notify.c (messages to moderators and users),
 * commands.c (the command table), store.c (the Redis key formats and
 * scripts, without XMPP), core.c (life, dispatch, the Redis send).
 *
 * Ownership: the desk borrows the muc, the ad-hoc engine it registers its
 * commands in (free the desk first) and the rdb connection (set later with
 * desk_set_redis); desk_handle borrows the stanza context. */
#ifndef STOA_DESK_H
#define STOA_DESK_H

#include <stdbool.h>

#include "adhoc.h"
#include "jid.h"
#include "muc/muc.h"
#include "out.h"
#include "rdb.h"
#include "router.h"
#include "xml.h"

typedef struct desk desk;

typedef struct desk_config {
    const char *moderators;     /* comma-separated bare JIDs; NULL or "": none */
    const char *report_servers; /* comma-separated domains trusted to forward blocking IQs */
    double report_retention;    /* seconds a report lives after its last repetition */
    double escalate_window;     /* seconds */
    unsigned escalate_reporters;
    unsigned reports_per_minute;
    unsigned audit_max;
    bool forward_reports; /* reports acted on go to remote users' abuse contacts */
} desk_config;

/* Copies the config; `domain` is the service's normalized domain. Registers
 * the desk's commands in `commands`. NULL on OOM or when a moderator or
 * server in the config is not a valid JID. */
desk *desk_new(const desk_config *cfg, const char *domain, muc *rooms, adhoc *commands,
               const out *sink);
/* Unregisters the commands; replies Redis still owes find the desk gone. */
void desk_free(desk *d);
/* Where reports and the audit log live; NULL: nowhere (commands that need
 * Redis answer service-unavailable). prefix is copied. */
void desk_set_redis(desk *d, rdb *r, const char *prefix);
/* Called with the owner's bare JID after the desk changed
 * {p}safety:ublock:<owner> (a host server's copy of a user's block), so a
 * block list loaded in the rooms follows (ublock_reload). */
void desk_on_blocklist(desk *d, void (*changed)(void *ud, const char *owner), void *ud);

/* Called after a service-wide ban of a bare JID, a domain block (domain
 * true) or an erase, so the group rosters let go of them too
 * (roster_forget). */
void desk_on_forget(desk *d, void (*forget)(void *ud, const char *who, bool domain), void *ud);

/* Handles c when it is a report (an IQ set to the service, a room or an
 * occupant; a server's message to the service) and returns true; false
 * leaves it to the caller. The desk's commands reach it through the ad-hoc
 * engine (adhoc_handle). c is addressed to the service domain. */
bool desk_handle(desk *d, const stanza_ctx *c);
/* The desk's rows for the service's router (ud: the desk), with its
 * disco#info feature. */
#define DESK_ROUTES 5
extern const router_route desk_routes[DESK_ROUTES];

#endif
