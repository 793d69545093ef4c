/* gate_internal.h: what the gate's three files share. gate.c holds its
 * life, the classes, the verdicts' errors and the FIFO; gate_redis.c the
 * script and what the gate keeps in Redis (the checks, the spam-domain
 * list); gate_local.c the same limits judged on local state while Redis is
 * away, and the decisions Redis gave, kept for then. Nothing outside
 * lib/safety/gate*.c includes it (safety/gate.h is the gate's interface).
 *
 * Ownership: an entry owns its stanza context until act() passes it on or
 * frees it; the gate owns its entries, buckets and decisions. */
#ifndef STOA_SAFETY_GATE_INTERNAL_H
#define STOA_SAFETY_GATE_INTERNAL_H

#include "hmap.h"
#include "safety/gate.h"

/* One stanza in the FIFO. */
typedef struct gate_entry {
    struct gate_entry *next;
    gate *g;
    stanza_ctx *c; /* NULL once the gate closed while its reply was due */
    gate_class cls;
    bool waiting; /* a Redis reply is due */
    bool eval;    /* already retried with EVAL after NOSCRIPT */
    bool orphan;  /* the gate closed while the reply was due */
    gate_verdict v;
    double ttl;
    char reason[96];
    char *room;         /* prepared room JID when its own limit applies */
    unsigned room_rate; /* that limit, messages a minute */
} gate_entry;

/* The script's ARGV 3..10, per class. */
#define GATE_CLASS_ARGS 8

struct gate {
    gate_config cfg;
    char *prefix;
    char **block, **allow, **only; /* normalized domains, NULL-terminated */
    rdb *r;
    out sink;
    gate_hooks hooks;
    gate_congested_cb congested;
    void *congested_ud;
    gate_entry *head, *tail;
    size_t count;
    hmap buckets;   /* key -> bucket (gate_local.c) */
    hmap decisions; /* key -> decision (gate_local.c) */
    hmap spam;      /* domain -> its own key (malloc'ed) */
    char sha[41];   /* "" until SCRIPT LOAD answered */
    /* Fixed by the configuration, so written once rather than formatted
     * for every stanza. */
    char args[GATE_C__COUNT][GATE_CLASS_ARGS][24];
    bool redis_up, was_local;
    bool closed;
    bool have_spam_file; /* a list was loaded: Redis gets it on connect */
    bool lost_logged;    /* said once per outage that checks were lost */
    bool holding;        /* drain stopped because the link is backed up */
    unsigned long refused;
    unsigned long lost; /* unanswerable stanzas dropped with the FIFO full */
};

/* gate.c */
bool gate_in_list(char **l, const char *d);
/* What a mute silences: speech, not presence. */
bool gate_mute_applies(gate_class c);
/* Passes what has its verdict, in order (see gate.h, Backpressure). */
void gate_drain(gate *g);
void gate_entry_free(gate_entry *e);

/* gate_redis.c */
/* Writes the script's per-class arguments from the configuration. */
void gate_script_args(gate *g);
/* Asks Redis for e's verdict; -1 when it could not be sent (judge it
 * locally then). */
int gate_send_check(gate *g, gate_entry *e);

/* gate_local.c */
void gate_judge_entry(gate *g, gate_entry *e);
/* Keeps what Redis decided about e's sender for when Redis is away. */
void gate_cache_verdict(gate *g, const gate_entry *e, long long ttl_ms);
void gate_local_free(gate *g);

#endif
