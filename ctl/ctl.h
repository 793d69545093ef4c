/* stoactl's shared parts: the Redis connection, running the desk's own
 * commands (desk/store.h) on it, the audit log, normalizing what the
 * operator typed, and the exit statuses.
 *
 * stoactl is a short-lived command-line program: it uses hiredis's
 * blocking API (nothing here runs on a loop) and exits on the first error
 * with a sysexits status, after a message naming what failed.
 *
 * Ownership: ctl owns its connection and the strings it copied from the
 * configuration; replies returned by ctl_run/ctl_cmd belong to the caller
 * (freeReplyObject). Errors are printed by ctl_fail, which every verb
 * returns through. */
#ifndef STOA_CTL_H
#define STOA_CTL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "desk/store.h"

/* sysexits.h's values, so scripts can tell what went wrong. */
enum {
    CTL_OK = 0,
    CTL_USAGE = 64,       /* EX_USAGE: a bad command line */
    CTL_DATAERR = 65,     /* EX_DATAERR: a bad JID, duration or id */
    CTL_NOINPUT = 66,     /* EX_NOINPUT: no such room, report or entry */
    CTL_UNAVAILABLE = 69, /* EX_UNAVAILABLE: Redis unreachable, or not in this version */
    CTL_SOFTWARE = 70,    /* EX_SOFTWARE: Redis answered what nobody expects */
    CTL_NOPERM = 77,      /* EX_NOPERM: Redis refused the password */
    CTL_CONFIG = 78,      /* EX_CONFIG: the configuration file */
};

typedef struct ctl {
    redisContext *rc;
    char *prefix; /* [redis] prefix */
    char *domain; /* [component] domain */
    unsigned audit_max;
    unsigned group_max; /* [roster] group_max */
    char actor[128]; /* who the audit log names: "stoactl:<user>" or --actor */
    /* the verb's options */
    const char *reason;
    double duration; /* seconds; 0: until lifted */
    bool yes;        /* erase and destroy were confirmed */
    unsigned count;  /* rows to show; 0: the verb's default */
} ctl;

/* Loads the component's configuration file and connects to its Redis.
 * Returns CTL_OK or the status to exit with (the message printed). */
int ctl_open(ctl *c, const char *config_path);
void ctl_close(ctl *c);

/* Prints "stoactl: <message>" to stderr and returns status. */
int ctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs a desk command (consumed). NULL after printing why (Redis error or
 * gone); *status then holds the exit status. */
redisReply *ctl_run(ctl *c, desk_store_cmd *cmd, int *status);
/* The same for a command written as words (hiredis's redisCommand format). */
redisReply *ctl_cmd(ctl *c, int *status, const char *fmt, ...);

/* "{p}<stem><who>", malloc'ed; NULL on OOM. */
char *ctl_key(const ctl *c, const char *stem, const char *who);

/* Appends to the desk's audit log (as the desk writes it); -1 if it failed
 * (printed). */
int ctl_audit(ctl *c, const char *action, const char *target, const char *room, const char *detail);

/* The operator's JID normalized as the component does (a bare JID with a
 * local part; or a domain alone), malloc'ed, or NULL after printing why. */
char *ctl_bare(const char *s);
char *ctl_domain(const char *s);

/* Every key matching "{p}<stem>*" (SCAN, so Redis is never held), with
 * the part after the stem given to cb. Returns CTL_OK or a status. */
int ctl_scan(ctl *c, const char *stem, void (*cb)(void *ud, const char *key, const char *rest),
             void *ud);

/* A time left as the operator reads it: "until lifted", "3h12m". */
void ctl_ttl(long long secs, char *out, size_t n);
/* A Unix time as XEP-0082 UTC ("2026-11-28T13:45:00Z"). */
void ctl_when(double t, char out[64]);

#endif
