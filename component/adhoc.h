/* adhoc: the service's XEP-0050 ad-hoc command engine.
 *
 * Modules register their commands as table rows, {node, name, who may run
 * it, steps}, with adhoc_register. The engine answers everything XEP-0050
 * asks of the service itself: disco#items of the commands node (each asker
 * sees the commands they may run, in registration order), disco#info of a
 * command node, and <command/> requests, with sessions (random ids, owned by
 * the full JID that opened them, lapsing after ADHOC_SESSION_TTL, at most
 * ADHOC_SESSIONS_MAX in all and ADHOC_SESSIONS_PER_USER per bare JID, the
 * oldest of whom gives way), stages, actions, notes and XEP-0050's errors.
 *
 * A command is a list of stages, one adhoc_step row each. On execute the
 * engine opens a session and calls stage 0's show, which presents the
 * stage (adhoc_form) or ends the command at once (adhoc_complete). When the
 * stage's form comes back (action execute, next or complete: all three
 * submit the stage shown; a client's "complete" on an early stage goes on to
 * the next one rather than failing), the engine parses it, holds it against
 * the stage's field specs (lib/dataform.h) and calls its submit, which
 * moves on (adhoc_next: the next stage's show), ends the command, or
 * refuses the form (adhoc_error: the session stays for a corrected form).
 * prev shows the previous stage again when the command allows it; cancel
 * ends the session. Who may run a command is a set of roles: the module's
 * roles function says which the asker holds, once per request.
 *
 * Ownership: adhoc_handle borrows the stanza context. A show or submit callback
 * takes the adhoc_req it is given and must end it with exactly one of
 * adhoc_form, adhoc_next, adhoc_complete, adhoc_error, adhoc_fail, or
 * adhoc_req_drop, at once or later (a step waiting for Redis keeps the req
 * in its request and ends it from the reply). The req owns a copy of the
 * IQ; nothing it returns outlives it. Sessions are found again by id when a
 * req ends, so an answer arriving after its session was cancelled or lapsed
 * is safe. Command tables are borrowed (static); a session's data (set
 * with adhoc_req_set_data) is the session's, freed with it. A module that
 * goes away before the engine calls adhoc_unregister and drops its reqs;
 * adhoc_req_drop never touches the engine, so it is safe after
 * adhoc_free. */
#ifndef STOA_ADHOC_H
#define STOA_ADHOC_H

#include <stdbool.h>
#include <stddef.h>

#include "dataform.h"
#include "jid.h"
#include "out.h"
#include "router.h"
#include "stanza.h"
#include "xml.h"

#define ADHOC_SESSIONS_MAX 1024
#define ADHOC_SESSIONS_PER_USER 32
#define ADHOC_SESSION_TTL 600.0 /* seconds from the session's start */

typedef struct adhoc adhoc;
typedef struct adhoc_req adhoc_req;

/* Who may run a command: anyone holding one of `roles` (0: everyone).
 * refusal is the text of the forbidden error the others get. */
typedef struct adhoc_who {
    unsigned roles;
    const char *refusal;
} adhoc_who;

/* One stage of a command. */
typedef struct adhoc_step {
    /* Presents the stage: on execute (stage 0), after the stage before
     * called adhoc_next, and on prev. Takes q. */
    void (*show)(adhoc_req *q);
    /* Takes the stage's submitted form, already held against fields. NULL
     * for a stage whose show always ends the command. Takes q. */
    void (*submit)(adhoc_req *q);
    const dataform_spec *fields; /* what the stage's form accepts */
    size_t nfields;
    /* Bounds on the submitted form; NULL: dataform's defaults. A form that
     * shows long text (which clients send back) needs longer values. */
    const dataform_limits *limits;
} adhoc_step;

/* One command: a row of a module's table. */
typedef struct adhoc_command {
    const char *node; /* unique on the service */
    const char *name; /* shown in disco#items and the identity */
    const adhoc_who *who;
    const adhoc_step *steps;
    size_t nsteps;
    bool prev; /* stages after the first offer <prev/> */
} adhoc_command;

/* The roles the requester (bare JID) holds, as a bit set. */
typedef unsigned (*adhoc_roles_fn)(void *ud, const char *bare);

typedef enum { ADHOC_INFO, ADHOC_WARN, ADHOC_ERROR } adhoc_note;

/* domain: the service's normalized domain (copied); sink: copied. */
adhoc *adhoc_new(const char *domain, const out *sink);
void adhoc_free(adhoc *a);
/* Adds a module's commands (cmds borrowed, n rows). roles may be NULL when
 * every command is for everyone. 0, or -1 on OOM or when a node is taken. */
int adhoc_register(adhoc *a, const adhoc_command *cmds, size_t n, adhoc_roles_fn roles, void *ud);
/* Removes the commands registered with ud, and their sessions. */
void adhoc_unregister(adhoc *a, void *ud);
/* The clock sessions lapse by (seconds, monotonic); for tests. NULL: the
 * real one. */
void adhoc_set_clock(adhoc *a, double (*now)(void));

/* Handles c when it is the engine's (an IQ to the service itself carrying
 * <command xmlns='http://jabber.org/protocol/commands'/>, or disco of the
 * commands node or of a command node) and returns true; false leaves it to
 * the caller. */
bool adhoc_handle(adhoc *a, const stanza_ctx *c);
/* The engine's rows for the service's router (ud: the adhoc), with its
 * disco#info feature. */
#define ADHOC_ROUTES 3
extern const router_route adhoc_routes[ADHOC_ROUTES];

/* ---- what a step sees ---- */

void *adhoc_req_ud(const adhoc_req *q); /* the module's, from adhoc_register */
const xml_node *adhoc_req_iq(const adhoc_req *q);
const char *adhoc_req_full(const adhoc_req *q); /* the requester, normalized */
const char *adhoc_req_bare(const adhoc_req *q);
unsigned adhoc_req_roles(const adhoc_req *q);
const adhoc_command *adhoc_req_command(const adhoc_req *q);
const char *adhoc_req_sessionid(const adhoc_req *q);
size_t adhoc_req_stage(const adhoc_req *q);
/* The form submitted with this request, or NULL (execute, prev). */
const dataform *adhoc_req_form(const adhoc_req *q);
/* dataform_get and dataform_text on that form (NULL without one). */
const char *adhoc_req_value(const adhoc_req *q, const char *var);
const char *adhoc_req_text(const adhoc_req *q, const char *var);
/* What the session keeps between stages; NULL when none is set or the
 * session is gone. */
void *adhoc_req_data(const adhoc_req *q);
/* Replaces it (the old data is freed with its free function). Takes data:
 * when the session is gone it is freed at once and -1 returned. */
int adhoc_req_set_data(adhoc_req *q, void *data, void (*free_fn)(void *));

/* ---- how a step ends (each takes q) ---- */

/* Shows this stage: status executing, payload (taken; usually a form from
 * dataform_new(NULL, ...)) and the actions the stage allows. A session gone
 * meanwhile gets session-expired instead; a NULL payload (a builder ran
 * out of memory) internal-server-error. */
void adhoc_form(adhoc_req *q, xml_node *payload);
/* Goes on to the next stage: calls its show with q. */
void adhoc_next(adhoc_req *q);
/* Ends the command: status completed, payload (taken, may be NULL), then a
 * note when text is not NULL. The session ends (after text is read: it may
 * point into the session's data). */
void adhoc_complete(adhoc_req *q, xml_node *payload, adhoc_note type, const char *text);
/* Refuses the request with a stanza error, plus XEP-0050's specific
 * condition (e.g. "bad-payload") when not NULL. adhoc_error keeps the
 * session (the form can be fixed and sent again); adhoc_fail ends it. */
void adhoc_error(adhoc_req *q, stanza_error e, const char *specific, const char *text);
void adhoc_fail(adhoc_req *q, stanza_error e, const char *specific, const char *text);
/* Frees q without answering (its module is going away). */
void adhoc_req_drop(adhoc_req *q);

#endif
