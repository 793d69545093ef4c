#include "muc/fanout.h"

#include <stdlib.h>
#include <string.h>

#include "expander.h"
#include "log.h"
#include "metrics.h"
#include "safety/ublock.h"

static bool reaches(const muc_audience *who, const muc_occupant *p)
{
    if (!who)
        return true;
    if (who->only && p != who->only)
        return false;
    if (who->session && p != who->session->occ)
        return false;
    if (who->moderators && p->role != ROLE_MODERATOR)
        return false;
    /* Only people who block someone pay for the check. */
    return !who->unless_blocking || !p->blocks || !ublock_blocks(p->blocks, who->unless_blocking);
}

/* The head-address-tail shape, written in the loop itself: a groupchat
 * message to a thousand occupants is a thousand such writes. */
typedef struct wrapped {
    const char *head, *tail;
    size_t hl, tl;
} wrapped;

/* ---- through the host's expander (expander.h) ----
 *
 * A recipient the expander reaches is not written at once but kept, with
 * the stanza it would get; after the loop each group of recipients who get
 * the same stanza through the same expander becomes one expanded stanza (a
 * group of one a copy, as before). Who gets what is decided exactly as for
 * copies: a writer's stanza is rendered for each recipient, with a mark in
 * place of its address, and recipients share a group only when those bytes
 * are equal, so whatever differs per recipient (the self-presence, a real
 * JID shown to moderators only) keeps them apart by construction. */

/* Where the address goes in a rendered stanza: no XML text holds it. */
#define MARK "\x01"
/* Distinct stanzas of one broadcast expanded; recipients of any more get
 * copies. A presence has at most three (occupants, moderators, the self). */
#define VARIANTS 4

typedef struct pending {
    const muc_session *to;
    const expander_target *t; /* NULL once written */
    unsigned v;               /* its variant */
} pending;

struct fanout_scratch {
    pending *p;
    size_t n, cap;
    buf render;          /* one recipient's stanza, MARK for its address */
    buf var[VARIANTS];   /* the distinct stanzas so far */
    size_t at[VARIANTS]; /* where MARK is in each */
    unsigned nvar;
};

void muc_fanout_scratch_free(fanout_scratch *sc)
{
    if (!sc)
        return;
    free(sc->p);
    buf_free(&sc->render);
    for (unsigned i = 0; i < VARIANTS; i++)
        buf_free(&sc->var[i]);
    free(sc);
}

/* The scratch arrays when an expander is there to use; NULL otherwise. */
static fanout_scratch *scratch(muc *m)
{
    if (!expander_active(m->expander))
        return NULL;
    if (!m->scratch && !(m->scratch = calloc(1, sizeof *m->scratch)))
        return NULL;
    m->scratch->n = 0;
    m->scratch->nvar = 0;
    return m->scratch;
}

/* The variant of the stanza `write` gives session `to`: an index, or -1
 * when it cannot be expanded (its address not exactly once, or too many). */
static int variant(fanout_scratch *sc, muc_write_fn write, void *ud, const muc_occupant *p,
                   const muc_session *to)
{
    muc_session marked = *to;
    marked.jid_attr = MARK;
    buf_reset(&sc->render);
    write(ud, &sc->render, p, &marked);
    size_t len = buf_unread_len(&sc->render);
    if (!len)
        return -1; /* nothing for this one */
    const char *s = buf_unread(&sc->render);
    const char *mark = memchr(s, MARK[0], len);
    if (!mark || memchr(mark + 1, MARK[0], len - (size_t)(mark + 1 - s)))
        return -1;
    for (unsigned i = 0; i < sc->nvar; i++)
        if (buf_unread_len(&sc->var[i]) == len && memcmp(buf_unread(&sc->var[i]), s, len) == 0)
            return (int)i;
    if (sc->nvar == VARIANTS)
        return -1;
    buf_reset(&sc->var[sc->nvar]);
    if (buf_append(&sc->var[sc->nvar], s, len) < 0)
        return -1;
    sc->at[sc->nvar] = (size_t)(mark - s);
    return (int)sc->nvar++;
}

/* Keeps `to` for an expanded stanza; false when it gets a copy instead. */
static bool defer(fanout_scratch *sc, const expander *x, const wrapped *w, muc_write_fn write,
                  void *ud, const muc_occupant *p, const muc_session *to)
{
    const expander_target *t = expander_for(x, to->jid);
    if (!t)
        return false;
    int v = w ? 0 : variant(sc, write, ud, p, to);
    if (v < 0)
        return false;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 64;
        pending *np = realloc(sc->p, cap * sizeof *np);
        if (!np)
            return false;
        sc->p = np;
        sc->cap = cap;
    }
    sc->p[sc->n++] = (pending){to, t, (unsigned)v};
    return true;
}

/* The stanza of variant v as head and tail around the address. */
static wrapped shape(const fanout_scratch *sc, const wrapped *w, unsigned v)
{
    if (w)
        return *w;
    const char *s = buf_unread(&sc->var[v]);
    size_t len = buf_unread_len(&sc->var[v]), at = sc->at[v];
    return (wrapped){s, s + at + 1, at, len - at - 1};
}

/* Writes the recipients kept, one group (variant and expander) at a time;
 * returns the number of stanzas written. */
static unsigned long long expand(fanout_scratch *sc, const expander *x, buf *b, const wrapped *w)
{
    unsigned long long written = 0;
    for (size_t i = 0; i < sc->n; i++) {
        const expander_target *t = sc->p[i].t;
        unsigned v = sc->p[i].v;
        if (!t)
            continue;
        size_t members = 0;
        for (size_t k = i; k < sc->n; k++)
            members += sc->p[k].t == t && sc->p[k].v == v;
        wrapped s = shape(sc, w, v);
        expander_batch eb;
        bool presence = s.hl > 9 && memcmp(s.head, "<presence", 9) == 0;
        bool batch =
            members > 1 && expander_batch_begin(&eb, x, t, b, s.head, s.hl, s.tail, s.tl, presence);
        for (size_t k = i; k < sc->n; k++) {
            if (sc->p[k].t != t || sc->p[k].v != v)
                continue;
            if (batch) {
                expander_batch_add(&eb, sc->p[k].to->jid_attr);
            } else {
                buf_append(b, s.head, s.hl);
                buf_puts(b, sc->p[k].to->jid_attr);
                buf_append(b, s.tail, s.tl);
            }
            sc->p[k].t = NULL;
        }
        if (batch) {
            size_t stanzas = expander_batch_end(&eb);
            log_debug("fan-out: %zu recipients in %zu stanzas through %s", members, stanzas,
                      t->jid);
            written += stanzas;
        } else {
            written += members;
        }
    }
    return written;
}

/* One stanza per session in the audience: by write, or wrapped by w; those
 * the host's expander reaches in as few stanzas as it takes. */
static void fanout(muc_room *r, const muc_audience *who, muc_write_fn write, void *ud,
                   const wrapped *w)
{
    out *sink = &r->svc->sink;
    buf *b = sink->begin(sink->ud);
    if (!b)
        return;
    unsigned long long sent = 0;
    size_t first = buf_unread_len(b); /* where the first stanza starts: its kind is theirs */
    fanout_scratch *sc = scratch(r->svc);
    for (size_t i = 0; i < r->noccupants; i++) {
        const muc_occupant *p = r->occupants[i];
        if (!reaches(who, p))
            continue;
        for (size_t j = 0; j < p->nsessions; j++) {
            const muc_session *to = p->sessions[j];
            if (who && who->session && who->session != to)
                continue;
            if (sc && defer(sc, r->svc->expander, w, write, ud, p, to))
                continue;
            sent++;
            if (!w) {
                write(ud, b, p, to);
                continue;
            }
            buf_append(b, w->head, w->hl);
            buf_puts(b, to->jid_attr);
            buf_append(b, w->tail, w->tl);
        }
    }
    if (sc)
        sent += expand(sc, r->svc->expander, b, w);
    /* Every stanza of one fan-out is of one kind (an expanded one too). */
    if (metrics_metered(sink->ud) && sent && buf_unread_len(b) > first)
        metrics_count_serialized(buf_unread(b) + first, buf_unread_len(b) - first, sent);
    sink->commit(sink->ud);
}

void muc_fanout(muc_room *r, const muc_audience *who, muc_write_fn write, void *ud)
{
    fanout(r, who, write, ud, NULL);
}

void muc_fanout_wrapped(muc_room *r, const muc_audience *who, const char *head, size_t hl,
                        const char *tail, size_t tl)
{
    wrapped w = {head, tail, hl, tl};
    fanout(r, who, NULL, NULL, &w);
}

void muc_room_notice(muc_room *r, const char *rest, size_t len)
{
    buf head = BUF_INIT;
    buf_puts(&head, "<message from=\"");
    buf_puts(&head, r->jid_attr);
    buf_puts(&head, "\" to=\"");
    muc_fanout_wrapped(r, NULL, buf_unread(&head), buf_unread_len(&head), rest, len);
    buf_free(&head);
}

void muc_send(muc *m, const xml_node *st)
{
    out_stanza(&m->sink, st);
}

void muc_result(muc *m, const xml_node *iq)
{
    xml_node *r = stanza_iq_result(iq);
    if (r) {
        muc_send(m, r);
        xml_free(r);
    }
}

void muc_error(muc *m, const xml_node *st, stanza_error e, const char *text)
{
    xml_node *r = stanza_error_reply(st, e, text, NULL);
    if (r) {
        muc_send(m, r);
        xml_free(r);
    }
}

dataform *muc_form_parse(muc *m, const xml_node *iq, const xml_node *x)
{
    /* A field given twice counts once, the first, as the rooms have always
     * read their forms (clients send FORM_TYPE twice). */
    static const dataform_limits lim = {.first_wins = true};
    dataform_error err;
    dataform *f = dataform_parse(x, &lim, &err);
    if (!f) {
        char text[200];
        dataform_error_text(&err, text, sizeof text);
        muc_error(m, iq, err.cond, text);
    }
    return f;
}
