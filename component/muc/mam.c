/* Message archive queries on a room (XEP-0313, with XEP-0059 paging).
 *
 * With a store and Redis up the archive is the room's Redis stream; without
 * them the room's recent history in memory answers, so a client still gets
 * what the room holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataform.h"
#include "log.h"
#include "muc/fanout.h"
#include "muc/mam.h"
#include "muc/store.h"
#include "ns.h"
#include "xtime.h"

#define MAM_DEFAULT_MAX 50
#define MAM_MAX 250

/* What the reply needs once rows come back; the query stanza is gone by
 * then, and so may be the room. */
typedef struct mam_reply {
    muc *m;
    char *iq_id, *to, *room, *queryid;
} mam_reply;

static void reply_free(mam_reply *q)
{
    free(q->iq_id);
    free(q->to);
    free(q->room);
    free(q->queryid);
    free(q);
}

static void send_rows(mam_reply *q, const muc_history_entry *rows, size_t n, bool complete)
{
    muc *m = q->m;
    buf *b = m->sink.begin(m->sink.ud);
    if (!b)
        return;
    buf q_attr = BUF_INIT, to = BUF_INIT, room = BUF_INIT;
    if (q->queryid)
        buf_append_xml_escaped(&q_attr, q->queryid, strlen(q->queryid));
    buf_append_xml_escaped(&to, q->to, strlen(q->to));
    buf_append_xml_escaped(&room, q->room, strlen(q->room));
    buf_puts(&q_attr, "");
    buf_puts(&to, "");
    buf_puts(&room, "");
    char *qa = buf_strdup(&q_attr), *ta = buf_strdup(&to), *ra = buf_strdup(&room);
    for (size_t i = 0; i < n && qa && ta && ra; i++) {
        const muc_history_entry *e = &rows[i];
        char stamp[64];
        xtime_format(e->stamp, stamp);
        buf_printf(b, "<message from=\"%s\" to=\"%s\"><result xmlns=\"" NS_MAM "\"", ra, ta);
        if (q->queryid)
            buf_printf(b, " queryid=\"%s\"", qa);
        buf_printf(b,
                   " id=\"%s\"><forwarded xmlns=\"" NS_FORWARD "\"><delay xmlns=\"" NS_DELAY
                   "\" stamp=\"%s\"/><message xmlns=\"" NS_CLIENT "\" from=\"%s/",
                   e->stanza_id, stamp, ra);
        buf_append_xml_escaped(b, e->nick, strlen(e->nick));
        buf_puts(b, "\" type=\"groupchat\">");
        buf_puts(b, e->payload);
        if (e->occupant_id[0])
            buf_printf(b, "<occupant-id xmlns=\"" NS_OCCUPANT_ID "\" id=\"%s\"/>", e->occupant_id);
        buf_puts(b, "</message></forwarded></result></message>");
    }
    buf_printf(b, "<iq from=\"%s\" to=\"%s\" type=\"result\" id=\"", ra ? ra : "", ta ? ta : "");
    buf_append_xml_escaped(b, q->iq_id, strlen(q->iq_id));
    buf_printf(b, "\"><fin xmlns=\"" NS_MAM "\" complete=\"%s\"><set xmlns=\"" NS_RSM "\">",
               complete ? "true" : "false");
    if (n > 0)
        buf_printf(b, "<first>%s</first><last>%s</last>", rows[0].stanza_id, rows[n - 1].stanza_id);
    buf_puts(b, "</set></fin></iq>");
    m->sink.commit(m->sink.ud);
    free(qa);
    free(ta);
    free(ra);
    buf_free(&q_attr);
    buf_free(&to);
    buf_free(&room);
}

/* The query stanza is gone by the time the answer is known: the error
 * answers the request it stood for. */
static void reply_error(mam_reply *q, stanza_error e, const char *text)
{
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    if (iq) {
        xml_set_attr(iq, "from", q->to);
        xml_set_attr(iq, "to", q->room);
        xml_set_attr(iq, "id", q->iq_id);
        xml_set_attr(iq, "type", "set");
        muc_error(q->m, iq, e, text);
        xml_free(iq);
    }
}

/* XEP-0313 4.3.2 (RSM after/before) and 4.1.3 (after-id/before-id): an id
 * the archive does not hold is item-not-found, not an empty page. */
#define NO_SUCH_ID "no message with that id in the archive"

static void on_store_rows(void *ud, muc_store_result res, muc_history_entry *rows, size_t n,
                          bool complete)
{
    mam_reply *q = ud;
    if (res == MUC_STORE_ROWS)
        send_rows(q, rows, n, complete);
    else if (res == MUC_STORE_UNKNOWN)
        reply_error(q, STANZA_ERR_ITEM_NOT_FOUND, NO_SUCH_ID);
    else /* Redis failed mid-query: say so rather than pretend it is empty. */
        reply_error(q, STANZA_ERR_RESOURCE_CONSTRAINT, "the archive is unavailable");
    reply_free(q);
}

static bool ring_has(const muc_history_entry *all, size_t n, const char *sid)
{
    for (size_t i = 0; sid && i < n; i++)
        if (strcmp(all[i].stanza_id, sid) == 0)
            return true;
    return !sid;
}

/* The in-memory fallback: the same selection over the history ring. With a
 * store (Redis away for now) the ring is only the newest part of the
 * archive: an id it lacks may still be archived, so that is "unavailable",
 * not item-not-found. */
static void query_ring(muc *m, muc_room *r, const muc_store_query *sq, mam_reply *q)
{
    size_t n = r->hist_len, lo = 0, hi = n;
    muc_history_entry *all = calloc(n ? n : 1, sizeof *all);
    if (!all) {
        reply_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++)
        all[i] = *muc_history_at(r, i);
    if (!ring_has(all, n, sq->after) || !ring_has(all, n, sq->before)) {
        if (m->store)
            reply_error(q, STANZA_ERR_RESOURCE_CONSTRAINT, "the archive is unavailable");
        else
            reply_error(q, STANZA_ERR_ITEM_NOT_FOUND, NO_SUCH_ID);
        free(all);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (sq->after && strcmp(all[i].stanza_id, sq->after) <= 0)
            lo = i + 1;
        if (sq->start >= 0 && all[i].stamp < sq->start)
            lo = i + 1;
    }
    for (size_t i = n; i-- > 0;) {
        if (sq->before && strcmp(all[i].stanza_id, sq->before) >= 0)
            hi = i;
        if (sq->end >= 0 && all[i].stamp > sq->end)
            hi = i;
    }
    if (hi < lo)
        hi = lo;
    bool reverse = (sq->before || sq->last_page) && !sq->after;
    size_t avail = hi - lo, take = avail < sq->max ? avail : sq->max;
    size_t from = reverse ? hi - take : lo;
    send_rows(q, all + from, take, avail <= sq->max);
    free(all);
}

/* The query form (XEP-0313 4.1.1): the fields a room's archive is
 * filtered by. */
static const dataform_spec query_fields[] = {
    {"start", DATAFORM_TEXT_SINGLE, NULL, 0, NULL, NULL, 0},
    {"end", DATAFORM_TEXT_SINGLE, NULL, 0, NULL, NULL, 0},
    {"before-id", DATAFORM_TEXT_SINGLE, NULL, 0, NULL, NULL, 0},
    {"after-id", DATAFORM_TEXT_SINGLE, NULL, 0, NULL, NULL, 0},
};

static void send_form(muc *m, const xml_node *iq)
{
    xml_node *qn;
    xml_node *res = stanza_iq_reply(iq, "query", NS_MAM, &qn);
    xml_node *x = dataform_new(qn, DATAFORM_FORM, NULL, NULL);
    bool ok = dataform_add_form_type(x, NS_MAM) != NULL;
    for (size_t i = 0; ok && i < sizeof query_fields / sizeof query_fields[0]; i++)
        ok = dataform_add_spec(x, &query_fields[i]) != NULL;
    if (ok)
        muc_send(m, res);
    else
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    xml_free(res);
}

/* Reads the query's form (f, NULL without one) and RSM set into sq, whose
 * ids then point into them. NULL, or the name of what is unacceptable. */
static const char *read_query(const xml_node *q, const dataform *f, muc_store_query *sq)
{
    const char *v;
    const char *bad = NULL;
    if ((v = dataform_get(f, "start")) && (sq->start = xtime_parse(v)) < 0)
        bad = "start";
    if ((v = dataform_get(f, "end")) && (sq->end = xtime_parse(v)) < 0)
        bad = "end";
    if ((v = dataform_get(f, "after-id")) && !muc_valid_stanza_id(sq->after = v))
        bad = "after-id";
    if ((v = dataform_get(f, "before-id")) && !muc_valid_stanza_id(sq->before = v))
        bad = "before-id";
    if (dataform_get(f, "with"))
        bad = "with"; /* a room's archive is not filtered by correspondent */
    /* 4.1.5: "If a client includes a form field that the server does not
     * recognise, the server MUST respond with a 'feature-not-implemented'
     * error" (reported as the field's name: see muc_mam). */
    for (size_t i = 0; f && i < dataform_count(f); i++) {
        const char *var = dataform_var_at(f, i);
        bool known = strcmp(var, "FORM_TYPE") == 0;
        for (size_t k = 0; !known && k < sizeof query_fields / sizeof query_fields[0]; k++)
            known = strcmp(var, query_fields[k].var) == 0;
        if (!known && strcmp(var, "with") != 0)
            bad = var;
    }
    const xml_node *set = xml_child(q, "set", NS_RSM);
    xml_node *n;
    if (set && (n = xml_child(set, "max", NS_RSM))) {
        char *end;
        const char *t = xml_text(n);
        long mx = t ? strtol(t, &end, 10) : -1;
        if (!t || *end || mx < 0)
            bad = "max";
        else
            sq->max = mx > MAM_MAX ? MAM_MAX : (unsigned)mx;
    }
    if (set && (n = xml_child(set, "after", NS_RSM)) &&
        !muc_valid_stanza_id(sq->after = xml_text(n)))
        bad = "after";
    if (set && (n = xml_child(set, "before", NS_RSM))) {
        const char *t = xml_text(n);
        if (!t || !*t)
            sq->last_page = true;
        else if (!muc_valid_stanza_id(sq->before = t))
            bad = "before";
    }
    return bad;
}

/* Whoever could join may read the archive; a hidden room's archive is for
 * those in it or affiliated with it. */
static bool may_read(const muc_room *r, const stanza_ctx *c)
{
    muc_aff aff = muc_room_aff(r, c->from_bare);
    bool present = muc_session_by_jid(r, c->from_full) != NULL;
    return aff != AFF_OUTCAST && (!r->cfg.members_only || aff >= AFF_MEMBER) &&
           (r->cfg.public || present || aff >= AFF_MEMBER);
}

/* Runs the query: from the store, or from the ring when it cannot. */
static void query(muc *m, muc_room *r, const stanza_ctx *c, const muc_store_query *sq)
{
    const xml_node *iq = c->st;
    mam_reply *mr = calloc(1, sizeof *mr);
    const char *qid = xml_attr(c->payload, "queryid");
    if (!mr || !(mr->iq_id = strdup(xml_attr(iq, "id"))) || !(mr->room = strdup(r->jid)) ||
        !(mr->to = strdup(c->from_full)) || (qid && !(mr->queryid = strdup(qid)))) {
        if (mr)
            reply_free(mr);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    mr->m = m;
    if (muc_store_query_archive(m->store, r->jid, sq, on_store_rows, mr) == 0)
        return;
    query_ring(m, r, sq, mr);
    reply_free(mr);
}

void muc_mam(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *iq = c->st;
    if (!c->from_bare || !c->from_full) {
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    if (!may_read(r, c)) {
        muc_error(m, iq, STANZA_ERR_FORBIDDEN, "you may not read this room's archive");
        return;
    }
    if (strcmp(c->type, "get") == 0) {
        send_form(m, iq);
        return;
    }
    const xml_node *x = dataform_find(c->payload);
    dataform *f = x ? muc_form_parse(m, iq, x) : NULL;
    if (x && !f)
        return;
    muc_store_query sq = {NULL, NULL, false, -1, -1, MAM_DEFAULT_MAX};
    const char *bad = read_query(c->payload, f, &sq);
    if (bad) {
        /* A field the room does not filter by (with, or one it does not
         * know) is not implemented; a bad value of one it knows is not
         * acceptable. */
        static const char *const values[] = {"start", "end",   "after-id", "before-id",
                                             "max",   "after", "before"};
        bool value = false;
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
            value |= strcmp(bad, values[i]) == 0;
        char text[96];
        snprintf(text, sizeof text, value ? "unacceptable value for %.40s" : "unknown field %.40s",
                 bad);
        muc_error(m, iq, value ? STANZA_ERR_NOT_ACCEPTABLE : STANZA_ERR_FEATURE_NOT_IMPLEMENTED,
                  text);
    } else {
        query(m, r, c, &sq);
    }
    dataform_free(f);
}

/* ---- archive metadata (XEP-0313 5) ---- */

/* The first message, held while the last is asked for. */
typedef struct meta_query {
    mam_reply *q;
    char first_id[17];
    double first_stamp;
} meta_query;

/* 5: "If the archive is not empty, this element MUST include <start/> and
 * <end/> elements ...; If the archive is empty, the server MUST instead send
 * an empty <metadata/> element." */
static void send_meta(mam_reply *q, const char *first_id, double first_stamp, const char *last_id,
                      double last_stamp)
{
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    xml_node *md = iq ? xml_append_new(iq, "metadata", NS_MAM) : NULL;
    bool ok = md && xml_set_attr(iq, "from", q->room) == 0 && xml_set_attr(iq, "to", q->to) == 0 &&
              xml_set_attr(iq, "type", "result") == 0 && xml_set_attr(iq, "id", q->iq_id) == 0;
    const char *names[] = {"start", "end"}, *ids[] = {first_id, last_id};
    double stamps[] = {first_stamp, last_stamp};
    for (int i = 0; ok && first_id && i < 2; i++) {
        char stamp[64];
        xtime_format(stamps[i], stamp);
        xml_node *e = xml_append_new(md, names[i], NULL);
        ok = e && xml_set_attr(e, "id", ids[i]) == 0 && xml_set_attr(e, "timestamp", stamp) == 0;
    }
    if (ok)
        muc_send(q->m, iq);
    else
        reply_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    xml_free(iq);
}

static void on_meta_last(void *ud, muc_store_result res, muc_history_entry *rows, size_t n,
                         bool complete)
{
    (void)complete;
    meta_query *mq = ud;
    if (res == MUC_STORE_ROWS && n == 1)
        send_meta(mq->q, mq->first_id, mq->first_stamp, rows[0].stanza_id, rows[0].stamp);
    else /* emptied in between, or Redis went away: ask again later */
        reply_error(mq->q, STANZA_ERR_RESOURCE_CONSTRAINT, "the archive is unavailable");
    reply_free(mq->q);
    free(mq);
}

static void on_meta_first(void *ud, muc_store_result res, muc_history_entry *rows, size_t n,
                          bool complete)
{
    (void)complete;
    meta_query *mq = ud;
    if (res == MUC_STORE_ROWS && n == 1) {
        snprintf(mq->first_id, sizeof mq->first_id, "%s", rows[0].stanza_id);
        mq->first_stamp = rows[0].stamp;
        muc_store_query last = {NULL, NULL, true, -1, -1, 1};
        if (muc_store_query_archive(mq->q->m->store, mq->q->room, &last, on_meta_last, mq) == 0)
            return;
    }
    if (res == MUC_STORE_ROWS && n == 0)
        send_meta(mq->q, NULL, 0, NULL, 0);
    else
        reply_error(mq->q, STANZA_ERR_RESOURCE_CONSTRAINT, "the archive is unavailable");
    reply_free(mq->q);
    free(mq);
}

void muc_mam_metadata(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *iq = c->st;
    if (!c->from_bare || !c->from_full || !may_read(r, c)) {
        muc_error(m, iq, STANZA_ERR_FORBIDDEN, "you may not read this room's archive");
        return;
    }
    meta_query *mq = calloc(1, sizeof *mq);
    mam_reply *mr = mq ? calloc(1, sizeof *mr) : NULL;
    if (!mr || !(mr->iq_id = strdup(xml_attr(iq, "id"))) || !(mr->room = strdup(r->jid)) ||
        !(mr->to = strdup(c->from_full))) {
        if (mr)
            reply_free(mr);
        free(mq);
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    mr->m = m;
    mq->q = mr;
    muc_store_query first = {NULL, NULL, false, -1, -1, 1};
    if (muc_store_query_archive(m->store, r->jid, &first, on_meta_first, mq) == 0)
        return;
    /* Without a store the history in memory is the archive; with one whose
     * Redis is away it is only the newest part: no answer is better than a
     * wrong start. */
    if (m->store)
        reply_error(mr, STANZA_ERR_RESOURCE_CONSTRAINT, "the archive is unavailable");
    else if (r->hist_len == 0)
        send_meta(mr, NULL, 0, NULL, 0);
    else
        send_meta(mr, muc_history_at(r, 0)->stanza_id, muc_history_at(r, 0)->stamp,
                  muc_history_at(r, r->hist_len - 1)->stanza_id,
                  muc_history_at(r, r->hist_len - 1)->stamp);
    reply_free(mr);
    free(mq);
}
