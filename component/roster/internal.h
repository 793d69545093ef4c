/* roster/internal.h: what the roster's files share. Nothing outside
 * component/roster/ includes it (roster/roster.h is the interface).
 *
 * Ownership: the roster owns its group model, its applier and its online
 * table; every Redis request is a struct rq that the reply callback frees
 * (rdb.h: it runs exactly once once rdb_command returned 0). */
#ifndef STOA_ROSTER_INTERNAL_H
#define STOA_ROSTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "adhoc.h"
#include "hmap.h"
#include "roster/grp.h"
#include "roster/priv.h"
#include "roster/roster.h"
#include "stanza.h"

typedef struct apply apply;

struct roster {
    char *domain;
    out sink;
    struct ev_loop *loop;
    adhoc *commands;
    rdb *redis;
    char *prefix;
    char **admins;
    char *groups_setting;
    double rate, permission_wait;
    unsigned group_max;
    bool enabled;
    grp_set *groups;
    bool loaded, loading; /* the groups from Redis */
    /* What the host grants, on this connection. */
    char *host;      /* the domain that sent the privilege message */
    bool have_perms; /* the message came */
    priv_perms perms;
    bool contrib; /* the host lists NS_STOA_ROSTER */
    bool decided; /* the writer is known (after the host's disco#info on :1) */
    priv_writer writer;
    bool link_up;
    ev_timer wait; /* for the privilege message */
    char disco_id[32];
    unsigned long seq; /* for IQ ids */
    apply *ap;
    hmap online; /* full JID -> struct seen (online.c) */
    hmap asked;  /* IQ id -> struct seen asked whether it is still there */
};

/* ---- roster.c ---- */
bool roster_is_admin(const roster *r, const char *bare);
/* Group rosters may be written: Redis, the groups loaded, a writer. */
bool roster_groups_on(const roster *r);
bool roster_online_on(const roster *r);
/* Takes member out of group, in Redis and the model, and rewrites the
 * rosters concerned. -1 when Redis is away (nothing changed). */
int roster_leave(roster *r, const char *group, const char *member);
/* Sends and frees a stanza. */
void roster_emit(roster *r, xml_node *st);
/* A fresh IQ id with the given two-letter kind ("rg", "rs", "di"). */
void roster_next_id(roster *r, const char *kind, char *out, size_t n);

/* A Redis request: the reply goes to done (reply NULL: none came), then
 * the request is freed with its strings. */
typedef struct rq rq;
typedef void (*rq_done)(rq *q, const redisReply *reply);
struct rq {
    roster *r;
    rq_done done;
    char *a, *b; /* the request's strings (user, group...), freed with it */
    void *data;  /* the caller's, freed with free_data */
    void (*free_data)(void *data);
    adhoc_req *req; /* an ad-hoc request waiting, ended by done (or dropped) */
};
/* Sends argv with q waiting (q may be NULL: a write nobody waits for).
 * Consumes q: on -1 (Redis away) q is freed at once without done. */
int roster_send(roster *r, rq *q, int argc, const char **argv);
rq *roster_rq(roster *r, rq_done done, const char *a, const char *b);
void rq_free(rq *q);
/* The key for stem and who in out (prefix included); -1 when too long. */
int roster_key(const roster *r, const char *stem, const char *who, char *out, size_t n);

/* ---- apply.c: the paced writer ---- */
apply *apply_new(roster *r);
void apply_free(apply *a);
/* Forgets every job and write (the link went down). */
void apply_reset(apply *a);
/* Reconciles user's whole managed roster. */
void apply_user(apply *a, const char *user);
/* Reconciles only what user holds of contact. */
void apply_pair(apply *a, const char *user, const char *contact);
/* Everyone in a group, every pair with member (both ways) in it. */
void apply_everyone(apply *a);
void apply_member(apply *a, const char *group, const char *member);
/* Removes contact from user's roster at once and remembers that the user
 * dropped it: the groups never write it there again. */
void apply_drop(apply *a, const char *user, const char *contact);
/* An IQ answer: true when it was one of the applier's. */
bool apply_answer(apply *a, const stanza_ctx *c);
/* Figures for the logs and the bench. */
void apply_stats(const apply *a, size_t *jobs, size_t *queued, size_t *inflight,
                 unsigned long *written);

/* ---- cmds.c ---- */
int roster_register_commands(roster *r);

/* ---- online.c ---- */
bool online_presence(roster *r, const stanza_ctx *c);
bool online_disco(roster *r, const stanza_ctx *c);
/* The answer to a session's check: true when it was one. */
bool online_answer(roster *r, const stanza_ctx *c);
void online_clear(roster *r);
/* Appends the online members of group to a result form (cmds.c). */
xml_node *online_form(roster *r, const char *group);

#endif
