/* desk/internal.h: what the desk's files share. Nothing outside
 * component/desk/ includes it (desk/desk.h is the desk's interface).
 *
 * Ownership: see struct pend for every request waiting for Redis; the
 * rest borrows from the desk, which outlives its calls. */
#ifndef STOA_DESK_INTERNAL_H
#define STOA_DESK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "adhoc.h"
#include "dataform.h"
#include "desk/desk.h"
#include "desk/store.h"
#include "stanza.h"

typedef struct pend pend;
typedef struct desk_fwd desk_fwd;
typedef void (*pend_done)(pend *p, const redisReply *r);

struct desk {
    char *domain;
    out sink;
    muc *rooms;
    adhoc *commands;
    rdb *redis;
    char *prefix;
    char **mods, **servers;
    desk_store_policy policy;
    unsigned threshold; /* distinct reporters who mute a target */
    unsigned audit_max;
    pend *pending; /* waiting for Redis; orphaned when the desk goes */
    void (*blocklist_changed)(void *ud, const char *owner);
    void *blocklist_ud;
    void (*forget)(void *ud, const char *who, bool domain);
    void *forget_ud;
    bool forward;     /* [desk] forward_reports */
    desk_fwd *fwd;    /* forwards waiting for the remote domain's disco#info */
    unsigned fwd_seq; /* numbers their requests */
};

/* Tells the group rosters to let go of who (desk_on_forget). */
void desk_forget(desk *d, const char *who, bool domain);

/* ---- requests waiting for Redis (core.c) ----
 *
 * Every kind of request is a struct of its own (its typed context) that
 * starts with a pend; done casts the pend back to it.
 *
 * The one rule: desk_send consumes the request, whatever happens. done runs
 * exactly once, with the reply, or with NULL when the command could not be
 * built, Redis refused it, or Redis went away before answering; free then
 * releases the request. Only when the desk goes first does free run
 * without done (the request is orphaned). So a caller builds its request
 * completely, sends it last and never touches it again. */
struct pend {
    desk *d; /* NULL once the desk is gone */
    pend *next, **pprev;
    pend_done done;
    void (*free)(pend *p);
};

/* Links p (already allocated) to the desk's pending requests. */
void desk_pend_link(desk *d, pend *p, pend_done done, void (*free_fn)(pend *));
/* Sends c with p waiting for the reply (p NULL: a write nobody waits for),
 * consuming both (see struct pend). -1 when Redis refused it. */
int desk_send(desk *d, pend *p, desk_store_cmd *c);

/* A command's request: the ad-hoc request it ends. */
typedef struct cmd_pend {
    pend p;
    adhoc_req *q;
} cmd_pend;

/* A new request of `size` bytes (a struct that starts with a cmd_pend)
 * carrying q, linked; free_fn NULL: desk_cmd_pend_free. On OOM q is
 * answered (internal-server-error) and NULL returned. */
void *desk_cmd_pend(desk *d, adhoc_req *q, size_t size, pend_done done, void (*free_fn)(pend *));
/* Takes the ad-hoc request out, for done to end; free then leaves it. */
adhoc_req *desk_cmd_take(pend *p);
/* Frees a cmd_pend (dropping q if it is still there) and the struct. */
void desk_cmd_pend_free(pend *p);

/* ---- who asks (core.c) ---- */

enum { DESK_ROLE_MOD = 1u << 0, DESK_ROLE_ROOM_ADMIN = 1u << 1 };

/* The asker's reach: every room (a service moderator) or the rooms they
 * administer. */
typedef struct desk_scope {
    bool mod;
    char **rooms; /* managed rooms, NULL-terminated, always filled */
} desk_scope;

unsigned desk_roles(void *d, const char *bare);
/* 0, or -1 on OOM. */
int desk_scope_of(desk *d, const char *bare, desk_scope *out);
void desk_scope_free(desk_scope *s);
bool desk_scope_sees(const desk_scope *s, const char *room);
bool desk_is_mod(const desk *d, const char *bare);

/* ---- small shared helpers (core.c) ---- */

void desk_emit(desk *d, xml_node *st);
void desk_reply_error(desk *d, const xml_node *st, stanza_error e, const char *text);
bool desk_redis_up(const desk *d);
/* Ends q with service-unavailable: the desk's storage is away. */
void desk_redis_away(adhoc_req *q);
/* The normalized bare JID a form value names, or NULL. */
char *desk_bare_of(const char *s);

/* ---- the command table and its shared fields (commands.c) ---- */

int desk_register_commands(desk *d);
extern const adhoc_who desk_who_manager, desk_who_mod;
extern const dataform_option desk_durations[];

/* Fields several forms share, as initializers of their spec tables. */
#define DESK_FIELD_JID                                                                             \
    {                                                                                              \
        "jid", DATAFORM_JID_SINGLE, "User (bare JID)", DATAFORM_REQUIRED, NULL, NULL, 0            \
    }
/* Checked as a JID; whether one is needed depends on who asks (sanction.c),
 * and desk_add_room_field writes it. */
#define DESK_FIELD_ROOM                                                                            \
    {                                                                                              \
        "room", DATAFORM_JID_SINGLE, "Room", 0, NULL, NULL, 0                                      \
    }
/* Left out, it means "until lifted", as it always has. */
#define DESK_FIELD_DURATION                                                                        \
    {                                                                                              \
        "duration", DATAFORM_LIST_SINGLE, "For", DATAFORM_REQUIRED | DATAFORM_ABSENT_OK, "86400",  \
            desk_durations, 0                                                                      \
    }
#define DESK_FIELD_REASON                                                                          \
    {                                                                                              \
        "reason", DATAFORM_TEXT_SINGLE, "Reason (shown to the user and in the audit log)", 0,      \
            NULL, NULL, 0                                                                          \
    }
/* The room field as the asker sees it: a JID to type (moderators; empty:
 * every room unless required) or a list of the rooms they administer. */
void desk_add_room_field(xml_node *x, const desk_scope *s, bool required);

/* ---- the concerns ---- */

/* intake.c: takes a report (st parsed from `from` to `to`). q: the report
 * command that filed it, which the outcome ends; NULL: answer st itself. */
void desk_intake(desk *d, const xml_node *st, const jid *from, const jid *to, adhoc_req *q);
extern const adhoc_step desk_report_steps[1];

/* review.c */
extern const adhoc_step desk_list_steps[1], desk_view_steps[2], desk_dismiss_steps[1];

/* sanction.c: the actions on a person, for their commands and for view. */
typedef struct desk_act {
    const char *target, *room, *reason, *duration, *message;
} desk_act;
/* Whether `name` is an action view offers or a sanction command. */
bool desk_sanction_known(const char *name);
/* Runs the sanction `name` for the asker (bare JID, scope). Returns NULL
 * with the outcome in note, or an error text with *e. */
const char *desk_sanction_run(desk *d, const desk_scope *s, const char *actor, const char *name,
                              const desk_act *in, char *note, size_t nlen, stanza_error *e);
extern const adhoc_step desk_warn_steps[1], desk_mute_steps[1], desk_unmute_steps[1],
    desk_kick_steps[1], desk_ban_room_steps[1], desk_ban_steps[1], desk_block_domain_steps[1];

/* erase.c */
extern const adhoc_step desk_erase_steps[1];

/* forward.c: a report a service moderator acted on, about a user of a
 * remote domain, to that domain's abuse addresses (XEP-0157). */
/* Whether target is a user of a remote domain and forwarding is on. */
bool desk_forward_remote(const desk *d, const char *target);
/* Asks the target's domain for its abuse addresses, then sends each the
 * report (reason "spam" or "abuse", the reporter's text, the evidence
 * held as the store keeps it). */
void desk_forward(desk *d, const char *actor, const char *target, const char *reason,
                  const char *text, const char *evidence);
/* The domain's disco#info answer: true when it was one (c borrowed). */
bool desk_forward_answer(desk *d, const stanza_ctx *c);
void desk_forward_free(desk *d);

/* audit.c */
void desk_audit(desk *d, const char *actor, const char *action, const char *target,
                const char *room, const char *reason, const char *detail);
extern const adhoc_step desk_audit_steps[1];

/* notify.c: messages from the service */
void desk_send_chat(desk *d, const char *from, const char *to, const char *body);
void desk_notify_mods(desk *d, const char *body);
void desk_notify_report(desk *d, const char *id, const char *target, const char *reason,
                        const char *room, long long held, const char *text);
void desk_notify_escalation(desk *d, const char *target, long long distinct, unsigned rooms);
void desk_warn_user(desk *d, const char *room, const char *target, const char *message);

#endif
