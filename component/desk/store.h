/* desk/store: the desk's state in Redis (its key formats and Lua scripts)
 * as commands to send and replies to read.
 *
 * Nothing here speaks XMPP or runs a loop: stoa-component sends these
 * commands through rdb (desk_send), and an operator's tool can send the very
 * same ones with hiredis's blocking API, so every writer of the desk's keys
 * writes them one way. The keys are documented in schemas/redis-keys.md.
 * Each multi-key step runs in Redis as one script, so a caller waits on one
 * reply and no other instance sees half of it.
 *
 * Ownership: a desk_store_cmd owns the strings it formatted (keys, numbers)
 * and borrows the caller's arguments until it is sent; desk_store_cmd_free
 * releases it. A builder that runs out of memory leaves the command empty
 * (argc 0), which a sender treats as a command Redis refused. Readers return
 * views into the reply, valid as long as the reply. */
#ifndef STOA_DESK_STORE_H
#define STOA_DESK_STORE_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define DESK_STORE_ARGS_MAX 128
#define DESK_STORE_REFS_MAX 20    /* cited messages in one report (REPORT_REFS_MAX) */
#define DESK_STORE_ERASE_ROOMS 50 /* rooms searched by one erase script */

typedef struct desk_store_cmd {
    int argc;
    const char *argv[DESK_STORE_ARGS_MAX];
    char *own[DESK_STORE_ARGS_MAX]; /* what the command formatted */
    int nown;
    bool oom;
} desk_store_cmd;

void desk_store_cmd_free(desk_store_cmd *c);

/* ---- reports ---- */

typedef struct desk_store_policy {
    double retention;    /* seconds a report lives after its last repetition */
    double window;       /* seconds distinct reporters are counted over */
    unsigned per_minute; /* reports one reporter may file in a minute */
} desk_store_policy;

/* A message a report cites. */
typedef struct desk_store_ref {
    const char *room; /* the service's room whose archive may hold it, or NULL */
    const char *sid;  /* its stanza-id, as cited */
    const char *oid;  /* the target's occupant id in that room, "" when unknown: then
                         any author's message is evidence */
} desk_store_ref;

typedef struct desk_store_report {
    const char *id;       /* 16 hex digits: one report per reporter, target, room, refs */
    const char *reporter; /* pseudonym, never the JID */
    const char *target;
    const char *room;      /* "" when none */
    const char *reason;    /* "spam" or "abuse" */
    const char *text;      /* "" when none */
    const char *via;       /* "direct", "block" or "forward" */
    const char *forwarded; /* "" when none */
    unsigned threshold;    /* distinct reporters that mute the target; 0: never */
    double now;
    const desk_store_ref *refs;
    size_t nrefs; /* at most DESK_STORE_REFS_MAX */
} desk_store_report;

/* Files r (or counts it again): the flood counter, the report hash with the
 * evidence copied out of the room archives, the indexes, and escalation. */
void desk_store_file(desk_store_cmd *c, const char *prefix, const desk_store_policy *pol,
                     const desk_store_report *r);

typedef struct desk_store_filed {
    bool flooded;   /* over per_minute: nothing stored */
    bool fresh;     /* a new report, not a repetition */
    bool escalated; /* this report muted the target service-wide */
    long long count, distinct, held;
} desk_store_filed;

/* 0, or -1 when r is not the script's answer (Redis failed). */
int desk_store_read_filed(const redisReply *r, desk_store_filed *out);

/* The open reports, newest first (the script drops the expired from the
 * index as it goes). */
void desk_store_list(desk_store_cmd *c, const char *prefix, unsigned max);

typedef struct desk_store_open {
    const char *id, *target, *room, *reason, *count, *last, *text, *held;
} desk_store_open;

/* Rows in a list reply (0 when it is not one), and the i-th. */
size_t desk_store_open_count(const redisReply *r);
void desk_store_open_at(const redisReply *r, size_t i, desk_store_open *out);

/* One report's hash; read its fields with desk_store_field. */
void desk_store_get(desk_store_cmd *c, const char *prefix, const char *id);
/* The value of a field of an HGETALL (or stream entry) reply, "" when absent. */
const char *desk_store_field(const redisReply *r, const char *name);

/* Dismisses report id. rooms: the only rooms whose reports the dismisser
 * may dismiss (NULL-terminated; NULL: any, a service moderator, who alone
 * lifts an escalation mute by dismissing). */
void desk_store_dismiss(desk_store_cmd *c, const char *prefix, const char *id, char *const *rooms);

typedef struct desk_store_dismissed {
    bool gone;      /* no such report (dismissed or lapsed) */
    bool forbidden; /* about a room not in rooms */
    bool unmuted;   /* the target's escalation mute was lifted */
    const char *target, *room;
} desk_store_dismissed;

int desk_store_read_dismissed(const redisReply *r, desk_store_dismissed *out);

/* ---- erase ---- */

typedef struct desk_store_erase_room {
    const char *room;
    const char *oids; /* the person's occupant ids there, space separated */
} desk_store_erase_room;

/* One erase script: with keys, the reports about and by the person and
 * their keys (bans, mutes, block list, indexes); then their messages in
 * the archives of n rooms (n <= DESK_STORE_ERASE_ROOMS), so that no single
 * script holds Redis for the whole service. */
void desk_store_erase(desk_store_cmd *c, const char *prefix, const char *bare,
                      const char *pseudonym, bool keys, const desk_store_erase_room *rooms,
                      size_t n);

typedef struct desk_store_erased {
    long long reports, keys, msgs;
} desk_store_erased;

int desk_store_read_erased(const redisReply *r, desk_store_erased *out);

/* ---- the audit log ---- */

typedef struct desk_store_audit_entry {
    const char *actor, *action, *target, *room, *reason, *detail;
} desk_store_audit_entry;

/* Appends an entry (NULL members are written empty); the log keeps about
 * max entries. */
void desk_store_audit_add(desk_store_cmd *c, const char *prefix, unsigned max,
                          const desk_store_audit_entry *e);
/* The newest count entries, newest first. */
void desk_store_audit_read(desk_store_cmd *c, const char *prefix, unsigned count);
size_t desk_store_audit_count(const redisReply *r);
/* The i-th entry and its time (seconds); -1 for a malformed one. */
int desk_store_audit_at(const redisReply *r, size_t i, desk_store_audit_entry *out, double *when);

/* ---- sanctions the gate enforces ---- */

/* A service-wide ban or mute of bare for secs seconds (0: until lifted). */
void desk_store_ban(desk_store_cmd *c, const char *prefix, const char *bare, const char *reason,
                    long secs);
void desk_store_mute(desk_store_cmd *c, const char *prefix, const char *bare, const char *reason,
                     long secs);
/* Lift a ban or a domain block (the reply: 1, or 0 when there was none). */
void desk_store_unban(desk_store_cmd *c, const char *prefix, const char *bare);
void desk_store_unblock_domain(desk_store_cmd *c, const char *prefix, const char *domain);
/* Lifts a mute and forgets the reporters counted towards escalation. */
void desk_store_unmute(desk_store_cmd *c, const char *prefix, const char *bare);
void desk_store_block_domain(desk_store_cmd *c, const char *prefix, const char *domain,
                             const char *reason);
/* Tells stoa-gateway instances (KEY_BLOCKS_CHANNEL) that `domain` was just
 * blocked: they close its open streams at once. Sent after the block. */
void desk_store_announce_block(desk_store_cmd *c, const char *prefix, const char *domain);

/* ---- a user's block list, as the host server copies it ---- */

void desk_store_ublock_clear(desk_store_cmd *c, const char *prefix, const char *owner);
/* Adds (or removes) the first of n JIDs, as many as one command holds;
 * returns how many it took. */
size_t desk_store_ublock_change(desk_store_cmd *c, const char *prefix, const char *owner, bool add,
                                char *const *jids, size_t n);

#endif
