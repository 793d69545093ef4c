/* Checks of occupants the room is not sure of: those seated again from
 * Redis after a restart (occstore.c), and every occupant once a lost link
 * to the host server is back (unavailable presence sent meanwhile was
 * bounced by the server, so anyone may have left).
 *
 * The room pings each such session's client from its own address (XEP-0199,
 * the reverse of XEP-0410's self-ping). A client answers, with a result or
 * with an error of its own (feature-not-implemented from a client without
 * ping); for a session that no longer exists the host server answers
 * service-unavailable (RFC 6121 8.5.3.1; Prosody's mod_iq and ejabberd_sm
 * both do). A client that refuses the ping as unknown says
 * service-unavailable too (RFC 6120 8.4), so that answer earns one more
 * question, disco#info, which every client answers. A session that answers
 * stays and nobody hears of it; the others leave with status 333, as
 * Prosody (util.lib.lua is_kickable_error) and ejabberd (mod_muc_room
 * check_error_kick) remove an occupant whose client bounces an error, on
 * the same conditions. A session that sends anything meanwhile needs no
 * answer. A presence probe would not do: both servers answer a probe from
 * someone without a subscription by the roster alone.
 *
 * Checks wait in a FIFO and go out at [muc] recheck_rate a second, so
 * thousands of occupants seated again do not flood the host server; each
 * has recheck_timeout to be answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "muc/presence.h"
#include "muc/recheck.h"
#include "ns.h"

#define CHECK_PREFIX "stoa-rc."
/* Checks in flight at once, whatever the rate: answers that do not come
 * must not pile up without bound. */
#define MAX_FLIGHT 4096

typedef struct check {
    char *room; /* the room's local part */
    char *full; /* the session's real full JID */
    char id[40];
    bool disco; /* the second question */
    double deadline;
    struct check *prev, *next; /* in flight, oldest first */
} check;

struct muc_recheck {
    double rate, timeout, budget, last;
    check **queue; /* waiting, a ring */
    size_t head, len, cap;
    hmap flight; /* id -> check */
    check *oldest, *newest;
    uint64_t seq;
    unsigned kept, gone; /* since the last report */
    double started;
};

struct muc_recheck *muc_recheck_new(double rate, double timeout)
{
    struct muc_recheck *rc = calloc(1, sizeof *rc);
    if (rc) {
        rc->rate = rate > 0 ? rate : 100;
        rc->timeout = timeout > 0 ? timeout : 30;
    }
    return rc;
}

static void check_free(check *c)
{
    if (c) {
        free(c->room);
        free(c->full);
        free(c);
    }
}

void muc_recheck_free(struct muc_recheck *rc)
{
    if (!rc)
        return;
    for (size_t i = 0; i < rc->len; i++)
        check_free(rc->queue[(rc->head + i) % rc->cap]);
    free(rc->queue);
    for (check *c = rc->oldest, *n; c; c = n) {
        n = c->next;
        check_free(c);
    }
    hmap_free(&rc->flight);
    free(rc);
}

static int push(struct muc_recheck *rc, check *c, bool front)
{
    if (rc->len == rc->cap) {
        size_t cap = rc->cap ? rc->cap * 2 : 64;
        check **q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        for (size_t i = 0; i < rc->len; i++)
            q[i] = rc->queue[(rc->head + i) % rc->cap];
        free(rc->queue);
        rc->queue = q;
        rc->head = 0;
        rc->cap = cap;
    }
    if (front) {
        rc->head = (rc->head + rc->cap - 1) % rc->cap;
        rc->queue[rc->head] = c;
    } else {
        rc->queue[(rc->head + rc->len) % rc->cap] = c;
    }
    rc->len++;
    return 0;
}

static check *pop(struct muc_recheck *rc)
{
    if (!rc->len)
        return NULL;
    check *c = rc->queue[rc->head];
    rc->head = (rc->head + 1) % rc->cap;
    rc->len--;
    return c;
}

void muc_recheck_add(muc *m, muc_room *r, muc_session *s)
{
    struct muc_recheck *rc = m->recheck;
    if (!rc || s->unverified)
        return;
    bool idle = !rc->len && !rc->flight.count;
    check *c = calloc(1, sizeof *c);
    if (!c || !(c->room = strdup(r->local)) || !(c->full = strdup(s->jid)) ||
        push(rc, c, false) < 0) {
        check_free(c);
        return; /* unchecked, the session is simply kept */
    }
    if (idle)
        rc->started = muc_now(m);
    muc_session_unverify(m, s);
}

void muc_recheck_heard(muc *m, muc_session *s)
{
    if (muc_session_settle(m, s) && m->recheck)
        m->recheck->kept++;
}

void muc_recheck_all(muc *m)
{
    size_t it = 0;
    void *v;
    while (hmap_next(&m->rooms, &it, NULL, &v)) {
        muc_room *r = v;
        for (size_t i = 0; i < r->noccupants; i++) {
            for (size_t j = 0; j < r->occupants[i]->nsessions; j++)
                muc_recheck_add(m, r, r->occupants[i]->sessions[j]);
        }
    }
}

static void unlink_flight(struct muc_recheck *rc, check *c)
{
    hmap_del(&rc->flight, c->id);
    if (c->prev)
        c->prev->next = c->next;
    else
        rc->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        rc->newest = c->prev;
    c->prev = c->next = NULL;
}

void muc_recheck_pause(muc *m)
{
    struct muc_recheck *rc = m->recheck;
    /* Newest first to the front: the oldest ends up asked first again. */
    while (rc && rc->newest) {
        check *c = rc->newest;
        unlink_flight(rc, c);
        c->disco = false;
        if (push(rc, c, true) < 0) {
            muc_session *s = NULL;
            muc_room *r = muc_room_get(m, c->room);
            if (r && (s = muc_session_by_jid(r, c->full)))
                muc_session_settle(m, s);
            check_free(c);
        }
    }
}

/* Asks s's client (ping, or disco#info the second time); -1 when nothing
 * can be sent now. */
static int ask(muc *m, muc_room *r, muc_session *s, check *c)
{
    struct muc_recheck *rc = m->recheck;
    buf *b = m->sink.begin(m->sink.ud);
    if (!b)
        return -1;
    snprintf(c->id, sizeof c->id, CHECK_PREFIX "%016llx", (unsigned long long)++rc->seq);
    buf_puts(b, "<iq type=\"get\" from=\"");
    buf_puts(b, r->jid_attr);
    buf_puts(b, "\" to=\"");
    buf_puts(b, s->jid_attr);
    buf_puts(b, "\" id=\"");
    buf_puts(b, c->id);
    buf_puts(b, c->disco ? "\"><query xmlns=\"" NS_DISCO_INFO "\"/></iq>"
                         : "\"><ping xmlns=\"" NS_PING "\"/></iq>");
    if (metrics_metered(m->sink.ud))
        metrics_inc(METRIC_OUT_IQ);
    m->sink.commit(m->sink.ud);
    if (hmap_put(&rc->flight, c->id, c) < 0)
        return -1;
    c->deadline = muc_now(m) + rc->timeout;
    c->prev = rc->newest;
    c->next = NULL;
    if (rc->newest)
        rc->newest->next = c;
    else
        rc->oldest = c;
    rc->newest = c;
    return 0;
}

/* The session did not answer, or its server answered for it: it leaves, as
 * a client that bounces an error leaves a room on Prosody and ejabberd. */
static void remove_session(muc *m, muc_room *r, muc_session *s, const char *why)
{
    static const int c333[] = {333};
    log_info("muc: %s: %s removed: %s", r->jid, s->occ->nick, why);
    muc_session_settle(m, s);
    m->recheck->gone++;
    muc_session_leave(r, s, c333, 1);
}

static muc_session *session_of(muc *m, const check *c, muc_room **r)
{
    *r = muc_room_get(m, c->room);
    return *r ? muc_session_by_jid(*r, c->full) : NULL;
}

/* The conditions on which Prosody and ejabberd remove an occupant whose
 * client bounced a stanza: a server speaking for a session that is gone. */
static bool gone_error(stanza_error e)
{
    switch (e) {
    case STANZA_ERR_GONE:
    case STANZA_ERR_INTERNAL_SERVER_ERROR:
    case STANZA_ERR_ITEM_NOT_FOUND:
    case STANZA_ERR_JID_MALFORMED:
    case STANZA_ERR_RECIPIENT_UNAVAILABLE:
    case STANZA_ERR_REDIRECT:
    case STANZA_ERR_REMOTE_SERVER_NOT_FOUND:
    case STANZA_ERR_REMOTE_SERVER_TIMEOUT:
    case STANZA_ERR_SERVICE_UNAVAILABLE:
    case STANZA_ERR_UNDEFINED_CONDITION:
        return true;
    default:
        return false;
    }
}

bool muc_recheck_answer(muc *m, muc_room *r, const stanza_ctx *ctx)
{
    struct muc_recheck *rc = m->recheck;
    const xml_node *iq = ctx->st;
    const char *id = xml_attr(iq, "id");
    const char *type = ctx->type;
    if (!rc || !id || !type || strncmp(id, CHECK_PREFIX, strlen(CHECK_PREFIX)) != 0 ||
        (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return false;
    check *c = hmap_get(&rc->flight, id);
    const char *full = ctx->from_full;
    /* Only the session asked (or its server, which speaks from its address)
     * settles a check; anything else is dropped and the check waits on. */
    bool asked = c && full && strcmp(c->full, full) == 0 && strcmp(c->room, r->local) == 0;
    if (!asked)
        return true;
    unlink_flight(rc, c);
    muc_session *s = muc_session_by_jid(r, c->full);
    bool result = strcmp(type, "result") == 0;
    stanza_error e = result ? STANZA_ERR__COUNT : stanza_error_of(iq);
    if (s && s->unverified && e == STANZA_ERR_SERVICE_UNAVAILABLE && !c->disco) {
        c->disco = true;
        if (ask(m, r, s, c) == 0)
            return true;
    }
    if (s && s->unverified) {
        if (result || !gone_error(e))
            muc_recheck_heard(m, s);
        else
            remove_session(m, r, s, stanza_error_condition(e));
    }
    check_free(c);
    return true;
}

/* Removes the sessions whose checks are past their time. */
static void expire(muc *m, double now)
{
    struct muc_recheck *rc = m->recheck;
    while (rc->oldest && rc->oldest->deadline <= now) {
        check *c = rc->oldest;
        unlink_flight(rc, c);
        muc_room *r;
        muc_session *s = session_of(m, c, &r);
        if (s && s->unverified)
            remove_session(m, r, s, "no answer");
        check_free(c);
    }
}

bool muc_recheck_tick(muc *m)
{
    struct muc_recheck *rc = m->recheck;
    if (!rc)
        return false;
    double now = muc_now(m);
    expire(m, now);
    /* A token bucket of a fifth of a second's worth: a stalled loop does
     * not turn into a burst. */
    rc->budget += (now - rc->last) * rc->rate;
    if (rc->budget > rc->rate / 5 + 1)
        rc->budget = rc->rate / 5 + 1;
    rc->last = now;
    while (rc->budget >= 1 && rc->len && rc->flight.count < MAX_FLIGHT) {
        check *c = pop(rc);
        muc_room *r;
        muc_session *s = session_of(m, c, &r);
        if (!s || !s->unverified) {
            check_free(c);
            continue;
        }
        if (ask(m, r, s, c) < 0) {
            if (push(rc, c, true) < 0) {
                muc_session_settle(m, s);
                check_free(c);
            }
            break;
        }
        rc->budget -= 1;
    }
    bool busy = rc->len || rc->flight.count;
    if (!busy && (rc->kept || rc->gone)) {
        log_info("muc: occupants checked in %.1fs: %u answered and stay, %u removed",
                 now - rc->started, rc->kept, rc->gone);
        rc->kept = rc->gone = 0;
    }
    return busy;
}
