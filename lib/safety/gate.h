/* gate: the policy gate every stanza from a sender passes before dispatch.
 *
 * It refuses stanzas from banned senders and blocked domains, refuses
 * messages from muted senders, and applies token-bucket rate limits per
 * stanza class, per bare JID and per sender domain, plus the room's own
 * limit on messages (an owner's setting, only ever stricter). When Redis is up every
 * checked stanza costs one pipelined EVALSHA (an atomic Lua script, so
 * several component processes on one Redis share bans, mutes and buckets);
 * when Redis is away the same limits run on local buckets, with the last
 * ban and mute decisions Redis gave kept in a local cache, so a banned user
 * stays banned while Redis is gone. See docs/safety.md.
 *
 * Stanzas leave the gate in the order they entered it: a FIFO holds those
 * waiting for Redis and those queued behind them. The FIFO is bounded;
 * overflow is answered with resource-constraint, never dropped silently.
 *
 * Backpressure: while the link is congested (its write queue over the
 * high-water mark, until back under the low one: gate_set_congested) nothing
 * leaves the FIFO and every new stanza joins it, whether the gate checks
 * stanzas or not: what a stanza would fan out waits as the stanza itself, in
 * bounded memory. The owner calls gate_resume when the link has drained.
 *
 * The gate is where a stanza's context is made (stanza.h): its addresses
 * are parsed once here, for the gate's own checks and for everyone after.
 *
 * Ownership: gate_submit takes the stanza; a passing stanza's context is
 * handed to the pass hook, which takes it; a refused one is answered
 * through the sink and freed. The gate borrows the rdb connection (which
 * may be NULL). */
#ifndef STOA_SAFETY_GATE_H
#define STOA_SAFETY_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "jid.h"
#include "out.h"
#include "rdb.h"
#include "stanza.h"
#include "xml.h"

typedef enum {
    GATE_C_ROOM_MESSAGE = 0, /* groupchat to a room (subject changes too) */
    GATE_C_PRIVATE_MESSAGE,  /* a message to room@service/nick */
    GATE_C_JOIN,             /* presence to a room the sender is not in */
    GATE_C_PRESENCE,         /* presence (nick or status change) in a room */
    GATE_C_INVITE,           /* a mediated invitation */
    GATE_C_REPORT,           /* anything carrying urn:xmpp:reporting */
    GATE_C_OTHER,
    GATE_C__COUNT,
    GATE_C_NONE /* never checked: errors, results, unavailable presence */
} gate_class;

typedef enum {
    GATE_PASS = 0,
    GATE_BANNED_JID,     /* {p}safety:ban:jid:<bare> */
    GATE_BANNED_DOMAIN,  /* {p}safety:ban:domain:<domain> */
    GATE_SPAM_DOMAIN,    /* on the community spam-domain list */
    GATE_BLOCKED_DOMAIN, /* [blocking] block_domains / only_domains */
    GATE_MUTED,          /* {p}safety:mute:<bare> */
    GATE_RATE_JID,       /* over the sender's own limit */
    GATE_RATE_DOMAIN,    /* over the sender domain's limit */
    GATE_MUTED_NOW,      /* over a limit once too often: muted from now */
    GATE_RATE_ROOM,      /* over the room's own message limit */
    GATE_OVERFLOW,       /* the FIFO is full (never from Redis) */
} gate_verdict;

typedef struct gate_limit {
    double interval; /* seconds per token; 0: no limit */
    double burst;    /* bucket size */
} gate_limit;

typedef struct gate_config {
    bool enabled;         /* false: stanzas pass unchecked (held while congested) */
    bool domains_enabled; /* [blocking] enabled: domain lists apply */
    const char *prefix;   /* the [redis] prefix */
    /* Put before the class in the rate buckets' keys (NULL: none): the
     * gateway's buckets ("edge:") are not the component's, so a stanza the
     * gateway let through is not charged twice. Borrowed: must outlive the
     * gate. */
    const char *rate_scope;
    gate_limit jid[GATE_C__COUNT], dom[GATE_C__COUNT];
    unsigned violations; /* refusals within violation_window that mute; 0: never */
    double violation_window;
    double mute_seconds;
    size_t queue_max; /* FIFO bound */
    size_t local_max; /* local buckets and cached decisions */
    const char *block_domains, *allow_domains, *only_domains; /* comma separated */
    double (*now)(void); /* monotonic seconds; NULL: the real clock */
} gate_config;

/* Whether the full JID `full` is in the room `room_local` (join or change). */
typedef bool (*gate_in_room_cb)(void *ud, const char *room_local, const char *full);
/* Whether the link is backed up (see Backpressure above). */
typedef bool (*gate_congested_cb)(void *ud);

/* Where the gate sends what passes, and what it asks of the rooms behind
 * it; all with ud. */
typedef struct gate_hooks {
    /* A stanza that passed, in its context; takes it. */
    void (*pass)(void *ud, stanza_ctx *c);
    /* NULL: nobody is in any room (every room presence is a join). */
    gate_in_room_cb in_room;
    /* The limit the owner of room `room_local` (prepared) set on the
     * messages one person may send there, per minute; 0: none, the
     * service's alone. NULL: no room has one. */
    unsigned (*room_rate)(void *ud, const char *room_local);
    void *ud;
} gate_hooks;

typedef struct gate gate;

/* Copies cfg and hooks. r may be NULL (local limits only). NULL on OOM or
 * a bad domain list (err says which). */
gate *gate_new(const gate_config *cfg, rdb *r, const out *sink, const gate_hooks *hooks, char *err,
               size_t errlen);
/* Drops what waits in the FIFO (at shutdown, before the service goes);
 * replies still due from Redis are ignored. Call gate_free after rdb_free. */
void gate_close(gate *g);
void gate_free(gate *g);
/* Asks cb (with ud) whether to hold stanzas; NULL (the default): never. */
void gate_set_congested(gate *g, gate_congested_cb cb, void *ud);
void gate_submit(gate *g, xml_node *stanza);
/* Tell the gate about Redis: loads the script when it comes up, logs the
 * switch between shared and local limits once. */
void gate_redis_state(gate *g, rdb_state state);
/* Replaces the community spam-domain list (one domain per line, '#'
 * comments) from path: locally at once, and in Redis through a temporary
 * key and RENAME. Returns the number of domains, or -1 (err says why). */
long gate_load_spam_domains(gate *g, const char *path, char *err, size_t errlen);
/* Statistics: stanzas refused, stanzas in the FIFO. */
unsigned long gate_refused(const gate *g);
size_t gate_pending(const gate *g);
/* Passes what the FIFO held while the sink was congested, as far as it no
 * longer is (and no entry still waits for Redis). */
void gate_resume(gate *g);

/* ---- exposed for tests ---- */
/* GATE_C_NONE unless the sender parsed and 'to' is there. */
gate_class gate_classify(const stanza_ctx *c, gate_in_room_cb in_room, void *ud);
const char *gate_class_name(gate_class c);
/* The error answering `st` for verdict v (NULL for GATE_PASS, for a verdict
 * that does not apply to class c, or when st must not be answered). */
xml_node *gate_refusal(const xml_node *st, gate_class c, gate_verdict v, const char *reason,
                       double ttl);
/* Judges one stanza with local state only, as when Redis is down. room:
 * the prepared room JID whose own limit applies, room_rate messages a
 * minute (NULL, 0: none). */
gate_verdict gate_judge_local(gate *g, gate_class c, const char *bare, const char *domain,
                              const char *room, unsigned room_rate, char *reason, size_t rlen,
                              double *ttl);

#endif
