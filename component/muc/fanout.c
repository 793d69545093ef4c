#include "muc/fanout.h"

#include <string.h>

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

/* One stanza per session in the audience: by write, or wrapped by w. */
static void fanout(muc_room *r, const muc_audience *who, muc_write_fn write, void *ud,
                   const wrapped *w)
{
    out *sink = &r->svc->sink;
    buf *b = sink->begin(sink->ud);
    if (!b)
        return;
    unsigned long long sent = 0;
    size_t first = buf_unread_len(b); /* where the first stanza starts: its kind is theirs */
    for (size_t i = 0; i < r->noccupants; i++) {
        const muc_occupant *p = r->occupants[i];
        if (!reaches(who, p))
            continue;
        for (size_t j = 0; j < p->nsessions; j++) {
            const muc_session *to = p->sessions[j];
            if (who && who->session && who->session != to)
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
    /* Every stanza of one fan-out is of one kind. */
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
