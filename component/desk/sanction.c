/* What moderators and room administrators do to a person: warn, mute,
 * unmute, kick, ban from a room or the service, block a domain. One row
 * each, run by their own commands and by view's action choice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/internal.h"
#include "log.h"

/* Where an action applies. */
typedef enum {
    ROOM_NONE,     /* the whole service; no room field */
    ROOM_OTHERS,   /* moderators: wherever; room administrators choose a room */
    ROOM_OPTIONAL, /* a room, or (moderators only, left empty) every room */
    ROOM_REQUIRED, /* one room */
} room_use;

/* One action, checked and ready to run. */
typedef struct act_ctx {
    desk *d;
    const char *actor;
    const char *target; /* normalized bare JID, or a domain for block-domain */
    const char *room;   /* normalized room, or NULL */
    const char *reason; /* never NULL */
    const char *message;
    long dur; /* seconds; 0: until lifted */
} act_ctx;

typedef const char *(*apply_fn)(const act_ctx *a, char *note, size_t nlen, stanza_error *e);

typedef struct sanction {
    const char *name; /* the command node, and the audit's action */
    room_use room;
    bool on_domain;   /* the target is a domain (block-domain) */
    bool on_mods_too; /* service moderators may be its target (warn) */
    apply_fn apply;
} sanction;

static const char *plural(unsigned n)
{
    return n == 1 ? "" : "s";
}

/* Stores a sanction the gate enforces; without Redis it still holds in the
 * rooms of this instance, and the log says so. */
static void store(desk *d, desk_store_cmd *c, const char *what, const char *target)
{
    if (desk_send(d, NULL, c) < 0)
        log_warn("desk: Redis away; the %s of %s is not stored (it holds on this instance for now)",
                 what, target);
}

static const char *warn(const act_ctx *a, char *note, size_t nlen, stanza_error *e)
{
    if (!a->message || !*a->message) {
        *e = STANZA_ERR_BAD_REQUEST;
        return "write the warning";
    }
    desk_warn_user(a->d, a->room, a->target, a->message);
    desk_audit(a->d, a->actor, "warn", a->target, a->room, a->message, NULL);
    snprintf(note, nlen, "%s has been warned.", a->target);
    return NULL;
}

static const char *mute(const act_ctx *a, char *note, size_t nlen, stanza_error *e)
{
    (void)e;
    desk *d = a->d;
    unsigned n;
    if (a->room) {
        n = muc_silence(d->rooms, a->room, a->target, a->reason);
        snprintf(note, nlen, "%s lost voice in %s (%u occupant%s).", a->target, a->room, n,
                 plural(n));
    } else {
        desk_store_cmd c;
        desk_store_mute(&c, d->prefix ? d->prefix : "", a->target,
                        *a->reason ? a->reason : "muted by a moderator", a->dur);
        store(d, &c, "mute", a->target);
        n = muc_silence(d->rooms, NULL, a->target, a->reason);
        snprintf(note, nlen, "%s is muted service-wide%s; voice revoked in %u room%s.", a->target,
                 a->dur ? " for a while" : " until unmuted", n, plural(n));
    }
    char detail[32];
    snprintf(detail, sizeof detail, "%lds", a->dur);
    desk_audit(d, a->actor, "mute", a->target, a->room, a->reason, a->room ? NULL : detail);
    return NULL;
}

static const char *unmute(const act_ctx *a, char *note, size_t nlen, stanza_error *e)
{
    (void)e;
    desk_store_cmd c;
    desk_store_unmute(&c, a->d->prefix ? a->d->prefix : "", a->target);
    desk_send(a->d, NULL, &c);
    desk_audit(a->d, a->actor, "unmute", a->target, NULL, a->reason, NULL);
    snprintf(note, nlen, "%s is no longer muted (voice returns when they rejoin).", a->target);
    return NULL;
}

static const char *kick(const act_ctx *a, char *note, size_t nlen, stanza_error *e)
{
    (void)e;
    unsigned n = muc_expel(a->d->rooms, a->room, a->target, false, 307, NULL, a->reason);
    desk_audit(a->d, a->actor, "kick", a->target, a->room, a->reason, NULL);
    snprintf(note, nlen, "%s kicked from %u room%s.", a->target, n, plural(n));
    return NULL;
}

static const char *ban_room(const act_ctx *a, char *note, size_t nlen, stanza_error *e)
{
    if (muc_ban_from_room(a->d->rooms, a->room, a->target, a->reason) < 0) {
        *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
        return "the ban could not be recorded";
    }
    desk_audit(a->d, a->actor, "ban-room", a->target, a->room, a->reason, NULL);
    snprintf(note, nlen, "%s is banned from %s.", a->target, a->room);
    return NULL;
}

static const char *ban(const act_ctx *a, char *note, size_t nlen, stanza_error *e)
{
    (void)e;
    desk *d = a->d;
    desk_store_cmd c;
    desk_store_ban(&c, d->prefix ? d->prefix : "", a->target, *a->reason ? a->reason : "banned",
                   a->dur);
    store(d, &c, "ban", a->target);
    unsigned n = muc_expel(d->rooms, NULL, a->target, false, 301, NULL, a->reason);
    desk_forget(d, a->target, false);
    char detail[32];
    snprintf(detail, sizeof detail, "%lds", a->dur);
    desk_audit(d, a->actor, "ban", a->target, NULL, a->reason, detail);
    snprintf(note, nlen, "%s is banned from the service%s; sent out of %u room%s.", a->target,
             a->dur ? " for the chosen period" : " until lifted", n, plural(n));
    return NULL;
}

static const char *block_domain(const act_ctx *a, char *note, size_t nlen, stanza_error *e)
{
    desk *d = a->d;
    if (strcmp(a->target, d->domain) == 0) {
        *e = STANZA_ERR_NOT_ACCEPTABLE;
        return "this service cannot block itself";
    }
    desk_store_cmd c;
    desk_store_block_domain(&c, d->prefix ? d->prefix : "", a->target,
                            *a->reason ? a->reason : "blocked");
    store(d, &c, "block", a->target);
    desk_store_announce_block(&c, d->prefix ? d->prefix : "", a->target);
    store(d, &c, "announcement of the block", a->target);
    unsigned n = muc_expel(d->rooms, NULL, a->target, true, 301, NULL, a->reason);
    desk_forget(d, a->target, true);
    desk_audit(d, a->actor, "block-domain", a->target, NULL, a->reason, NULL);
    snprintf(note, nlen, "%s is blocked; %u occupant%s sent out.", a->target, n, plural(n));
    return NULL;
}

static const sanction sanctions[] = {
    {"warn", ROOM_OTHERS, false, true, warn},
    {"mute", ROOM_OPTIONAL, false, false, mute},
    {"unmute", ROOM_NONE, false, false, unmute},
    {"kick", ROOM_OPTIONAL, false, false, kick},
    {"ban-room", ROOM_REQUIRED, false, false, ban_room},
    {"ban", ROOM_NONE, false, false, ban},
    {"block-domain", ROOM_NONE, true, false, block_domain},
};

static const sanction *find(const char *name)
{
    for (size_t i = 0; name && i < sizeof sanctions / sizeof sanctions[0]; i++)
        if (strcmp(sanctions[i].name, name) == 0)
            return &sanctions[i];
    return NULL;
}

bool desk_sanction_known(const char *name)
{
    return find(name) != NULL;
}

/* The room the asker acts in. Returns an error text or NULL; *room becomes
 * the normalized room (NULL: every room, moderators only). */
static const char *check_room(desk *d, const desk_scope *s, const char *actor, const char *given,
                              bool required, char **room, stanza_error *e)
{
    *room = NULL;
    *e = STANZA_ERR_BAD_REQUEST;
    if (!given || !*given)
        return required || !s->mod ? "choose a room" : NULL;
    *room = desk_bare_of(given);
    if (!*room || !muc_room_exists(d->rooms, *room)) {
        *e = STANZA_ERR_ITEM_NOT_FOUND;
        return "no such room";
    }
    if (!s->mod && !muc_may_manage(d->rooms, *room, actor)) {
        *e = STANZA_ERR_FORBIDDEN;
        return "you do not administer that room";
    }
    return NULL;
}

/* The domain of a block-domain, normalized, or NULL. */
static char *domain_of(const char *s)
{
    jid j;
    if (!s || jid_parse(s, &j) != JID_OK)
        return NULL;
    char *out = !j.local && !j.resource ? strdup(j.domain) : NULL;
    jid_free(&j);
    return out;
}

const char *desk_sanction_run(desk *d, const desk_scope *s, const char *actor, const char *name,
                              const desk_act *in, char *note, size_t nlen, stanza_error *e)
{
    const sanction *sn = find(name);
    *e = STANZA_ERR_BAD_REQUEST;
    if (!sn)
        return "unknown action";
    long dur = in->duration && *in->duration ? atol(in->duration) : 0;
    if (dur < 0 || dur > 315360000)
        return "bad duration";
    act_ctx a = {d, actor, NULL, NULL, in->reason ? in->reason : "", in->message, dur};
    char *target = sn->on_domain ? domain_of(in->target) : desk_bare_of(in->target);
    char *room = NULL;
    const char *err = NULL;
    if (!target) {
        *e = STANZA_ERR_JID_MALFORMED;
        err = sn->on_domain ? "not a domain" : "not a valid bare JID";
    } else if (sn->room != ROOM_NONE &&
               (err = check_room(d, s, actor, in->room,
                                 sn->room == ROOM_REQUIRED || (!s->mod && sn->room != ROOM_NONE),
                                 &room, e))) {
        /* err set */
    } else if (!sn->on_domain && !sn->on_mods_too && desk_is_mod(d, target)) {
        *e = STANZA_ERR_NOT_ALLOWED;
        err = "service moderators cannot be sanctioned from the desk";
    } else {
        a.target = target;
        a.room = room;
        err = sn->apply(&a, note, nlen, e);
    }
    free(target);
    free(room);
    return err;
}

/* ---- the sanction commands ---- */

/* Builds the command's form from its stage's fields; the room field as the
 * asker sees it. */
static void sanction_show(adhoc_req *q)
{
    desk *d = adhoc_req_ud(q);
    const adhoc_command *cmd = adhoc_req_command(q);
    const adhoc_step *st = &cmd->steps[0];
    const sanction *sn = find(cmd->node);
    desk_scope s;
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, cmd->name, NULL);
    if (!x || desk_scope_of(d, adhoc_req_bare(q), &s) < 0) {
        xml_free(x);
        adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < st->nfields; i++) {
        if (strcmp(st->fields[i].var, "room") != 0)
            dataform_add_spec(x, &st->fields[i]);
        else if (!(sn->room == ROOM_OTHERS && s.mod))
            desk_add_room_field(x, &s, sn->room == ROOM_REQUIRED);
    }
    desk_scope_free(&s);
    adhoc_form(q, x);
}

static void sanction_submit(adhoc_req *q)
{
    desk *d = adhoc_req_ud(q);
    const char *node = adhoc_req_command(q)->node;
    desk_scope s;
    if (desk_scope_of(d, adhoc_req_bare(q), &s) < 0) {
        adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    desk_act in = {adhoc_req_value(q, find(node)->on_domain ? "domain" : "jid"),
                   adhoc_req_value(q, "room"), adhoc_req_value(q, "reason"),
                   adhoc_req_value(q, "duration"), adhoc_req_text(q, "message")};
    char note[600];
    stanza_error e;
    const char *err = desk_sanction_run(d, &s, adhoc_req_bare(q), node, &in, note, sizeof note, &e);
    desk_scope_free(&s);
    if (err)
        /* The session stays: the form can be fixed and sent again. */
        adhoc_error(q, e, "bad-payload", err);
    else
        adhoc_complete(q, NULL, ADHOC_INFO, note);
}

#define STEP(fields)                                                                               \
    {                                                                                              \
        {                                                                                          \
            sanction_show, sanction_submit, fields, sizeof fields / sizeof fields[0], NULL         \
        }                                                                                          \
    }

static const dataform_spec warn_fields[] = {
    DESK_FIELD_JID,
    DESK_FIELD_ROOM,
    {"message", DATAFORM_TEXT_MULTI, "Warning", DATAFORM_REQUIRED, NULL, NULL, 0},
};
static const dataform_spec mute_fields[] = {DESK_FIELD_JID, DESK_FIELD_ROOM, DESK_FIELD_DURATION,
                                            DESK_FIELD_REASON};
static const dataform_spec unmute_fields[] = {DESK_FIELD_JID};
static const dataform_spec kick_fields[] = {DESK_FIELD_JID, DESK_FIELD_ROOM, DESK_FIELD_REASON};
static const dataform_spec ban_room_fields[] = {DESK_FIELD_JID, DESK_FIELD_ROOM, DESK_FIELD_REASON};
static const dataform_spec ban_fields[] = {DESK_FIELD_JID, DESK_FIELD_DURATION, DESK_FIELD_REASON};
static const dataform_spec block_domain_fields[] = {
    /* A missing domain is "not a domain", as a malformed one. */
    {"domain", DATAFORM_TEXT_SINGLE, "Domain", DATAFORM_REQUIRED | DATAFORM_ABSENT_OK, NULL, NULL,
     0},
    DESK_FIELD_REASON,
};

const adhoc_step desk_warn_steps[1] = STEP(warn_fields);
const adhoc_step desk_mute_steps[1] = STEP(mute_fields);
const adhoc_step desk_unmute_steps[1] = STEP(unmute_fields);
const adhoc_step desk_kick_steps[1] = STEP(kick_fields);
const adhoc_step desk_ban_room_steps[1] = STEP(ban_room_fields);
const adhoc_step desk_ban_steps[1] = STEP(ban_fields);
const adhoc_step desk_block_domain_steps[1] = STEP(block_domain_fields);
