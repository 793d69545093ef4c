/* service: what stoa-component does with each stanza the server routes to it.
 *
 * The service is where the component's parts meet. It makes the router
 * (router.h) and the modules that register their rows in it, in the order
 * those rows must be tried: per-user blocking, the ad-hoc engine, the abuse
 * desk, the service's own answers, the rooms. It answers for the service
 * itself: disco#info (its features generated from the router's rows),
 * disco#items (the room directory), ping (XEP-0199) and software version
 * (XEP-0092). With Redis it makes the room store and reads the rooms and
 * their occupants back when Redis first comes up.
 *
 * The dispatch is kept apart from the link (complink), so unit tests can
 * feed literal stanzas in and read the stanzas that come out without a
 * socket.
 *
 * Ownership: service_dispatch takes the stanza context, service_handle and
 * service_reject the stanza. The service borrows the rdb connection (free
 * it after service_close, before service_free). */
#ifndef STOA_SERVICE_H
#define STOA_SERVICE_H

#include <stdbool.h>

#include "adhoc.h"
#include "desk/desk.h"
#include "muc/muc.h"
#include "out.h"
#include "rdb.h"
#include "roster/roster.h"
#include "safety/gate.h"
#include "stanza.h"
#include "xml.h"

typedef struct service service;

typedef struct service_config {
    const char *domain;   /* normalized component domain */
    const char *name;     /* disco identity name */
    const char *version;  /* XEP-0092 version */
    muc_config muc;       /* rooms; muc.domain is filled in from domain */
    desk_config desk;     /* abuse reports and the moderator desk */
    rdb *redis;           /* NULL: no Redis (rooms in memory, the desk without storage) */
    const char *prefix;   /* the [redis] prefix */
    unsigned archive_max; /* messages kept in each room's archive */
    bool blocking;        /* per-user block lists (XEP-0191) */
    roster_config roster; /* group rosters and who is online */
    struct ev_loop *loop; /* for paced work (roster writes); NULL in unit tests */
    struct rtbl *rtbl;    /* real-time block lists (safety/rtbl.h), borrowed; NULL: none */
} service_config;

/* Copies the config strings and the sink. NULL on OOM. */
service *service_new(const service_config *cfg, const out *sink);
/* Stops what answers from Redis replies (before rdb_free). */
void service_close(service *svc);
void service_free(service *svc);
/* Changes the disco name (SIGHUP). 0 or -1 on OOM. */
int service_set_name(service *svc, const char *name);
/* Routes one stanza from the server; takes c. */
void service_dispatch(service *svc, stanza_ctx *c);
/* The same for a bare stanza (tests, fuzzing): takes it. */
void service_handle(service *svc, xml_node *stanza);
/* Answers a stanza the stream skipped for breaking a limit (its shell:
 * name and addressing only) with policy-violation; takes ownership. */
void service_reject(service *svc, xml_node *shell, const char *why);
/* What the policy gate in front of the service passes to it (its stanzas)
 * and asks of it (who is in which room, each room's own message limit). */
gate_hooks service_gate_hooks(service *svc);

/* Redis changed state. With a store, the writes queued while it was away
 * go out when it is up, and the first time it is (and each time after, until
 * it worked) the persistent rooms and then every room's occupants are
 * read back; loaded then runs, whatever came of it. */
void service_redis_state(service *svc, rdb_state state);
void service_on_loaded(service *svc, void (*loaded)(void *ud), void *ud);

/* The link to the host server is up (again) or down: the host grants its
 * privileges per connection. */
void service_link_up(service *svc);
void service_link_down(service *svc);

/* The rooms, for statistics and the daemon's life (checks, shutdown). */
muc *service_muc(service *svc);
/* The abuse desk. */
desk *service_desk(service *svc);
/* The ad-hoc command engine, for modules to register their commands in. */
adhoc *service_adhoc(service *svc);

#endif
