/* Reports coming in: every shape report.c parses, resolved to the person
 * and room they are about, filed in Redis with the evidence, moderators
 * told; and the "report" command, which files a direct report for clients
 * that have ad-hoc commands but no XEP-0377. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/internal.h"
#include "desk/report.h"
#include "log.h"
#include "metrics.h"
#include "ns.h"
#include "xtime.h"

/* One report stanza: its items are filed one script each, counted here;
 * the last to finish answers the reporter. */
typedef struct filing {
    desk *d;
    xml_node *iq; /* a direct IQ to answer (a copy), or NULL */
    adhoc_req *q; /* the report command to end, or NULL */
    bool flooded, failed;
    int left; /* scripts still to finish, plus one while they are sent */
    int refs; /* requests holding the filing, plus one while they are sent */
} filing;

/* One item's script, and what the moderators are told when it is new. */
typedef struct file_pend {
    pend p;
    filing *f;
    char *id, *target, *room, *text;
    const char *reason; /* static */
} file_pend;

static void filing_unref(filing *f)
{
    if (--f->refs > 0)
        return;
    xml_free(f->iq);
    adhoc_req_drop(f->q);
    free(f);
}

static void answer(filing *f)
{
    desk *d = f->d;
    adhoc_req *q = f->q;
    f->q = NULL;
    stanza_error e = STANZA_ERR_RESOURCE_CONSTRAINT;
    const char *why = "too many reports; try again in a minute";
    if (!f->flooded && f->failed) {
        e = STANZA_ERR_SERVICE_UNAVAILABLE;
        why = "reports cannot be stored right now";
    }
    if (f->flooded || f->failed) {
        if (q)
            adhoc_fail(q, e, NULL, why);
        else if (f->iq)
            desk_reply_error(d, f->iq, e, why);
    } else if (q) {
        adhoc_complete(q, NULL, ADHOC_INFO, "Thank you. The moderators have your report.");
    } else if (f->iq) {
        desk_emit(d, stanza_iq_result(f->iq));
    }
}

static void filed_done(pend *p, const redisReply *r)
{
    file_pend *fp = (file_pend *)p;
    filing *f = fp->f;
    desk *d = p->d;
    desk_store_filed out;
    if (desk_store_read_filed(r, &out) < 0) {
        log_warn("desk: storing a report failed: %s", rdb_error(r) ? rdb_error(r) : "no reply");
        f->failed = true;
    } else if (out.flooded) {
        metrics_inc(METRIC_REPORTS_FLOODED);
        f->flooded = true;
    } else {
        metrics_inc(out.fresh ? METRIC_REPORTS_FILED : METRIC_REPORTS_REPEATED);
        if (out.escalated)
            metrics_inc(METRIC_REPORTS_ESCALATED);
        if (out.fresh)
            desk_notify_report(d, fp->id, fp->target, fp->reason, fp->room, out.held, fp->text);
        if (out.escalated) {
            unsigned n = muc_silence(d->rooms, NULL, fp->target, "muted pending review of reports");
            desk_notify_escalation(d, fp->target, out.distinct, n);
            char detail[64];
            snprintf(detail, sizeof detail, "%lld distinct reporters", out.distinct);
            desk_audit(d, "stoa", "escalation-mute", fp->target, fp->room, "automatic escalation",
                       detail);
        }
    }
    if (--f->left == 0)
        answer(f);
}

static void file_free(pend *p)
{
    file_pend *fp = (file_pend *)p;
    filing_unref(fp->f);
    free(fp->id);
    free(fp->target);
    free(fp->room);
    free(fp->text);
    free(fp);
}

/* ---- resolving and filing ---- */

/* Whether j ("local@domain", no resource) names a room of this service. */
static bool our_room(const desk *d, const char *j)
{
    const char *at = strchr(j, '@');
    return at && at != j && !strchr(j, '/') && strcmp(at + 1, d->domain) == 0;
}

/* The target a report names (or, addressed to an occupant, that occupant):
 * an occupant of ours resolved to the person behind the nick when present. */
static const char *resolve_named(desk *d, const char *named, char **target, char **room,
                                 bool *resolved)
{
    jid t;
    if (jid_parse(named, &t) != JID_OK)
        return "the reported address is not a valid JID";
    if (strcmp(t.domain, d->domain) == 0 && t.local && t.resource) {
        /* An occupant: the room knows who is behind the nick. */
        jid r = {t.local, t.domain, NULL};
        free(*room);
        *room = jid_bare(&r);
        char *full = jid_full(&t);
        *target = full ? muc_occupant_real(d->rooms, full) : NULL;
        if (!*target) {
            *target = full;
            full = NULL;
            *resolved = false;
        }
        free(full);
    } else {
        *target = t.local ? jid_bare(&t) : strdup(t.domain);
    }
    jid_free(&t);
    return *target ? NULL : "out of memory";
}

/* The real target and room of one report item. Returns NULL or a reason to
 * refuse. */
static const char *resolve(desk *d, const report_item *it, const jid *to, char **target,
                           char **room, bool *resolved)
{
    *target = *room = NULL;
    *resolved = true;
    if (to->local) {
        jid r = {to->local, to->domain, NULL};
        *room = jid_bare(&r);
        if (*room && !muc_room_exists(d->rooms, *room))
            return "no such room";
    }
    for (size_t i = 0; !*room && i < it->nrefs; i++)
        if (our_room(d, it->refs[i].by))
            *room = strdup(it->refs[i].by);
    /* A report addressed to an occupant is about that occupant. */
    if (it->target)
        return resolve_named(d, it->target, target, room, resolved);
    if (to->local && to->resource) {
        char *occ = jid_full(to);
        const char *err = occ ? resolve_named(d, occ, target, room, resolved) : "out of memory";
        free(occ);
        return err;
    }
    for (size_t i = 0; i < it->nrefs && !*target; i++)
        if (our_room(d, it->refs[i].by))
            *target = muc_message_author(d->rooms, it->refs[i].by, it->refs[i].id);
    if (!*target)
        return "cannot tell who wrote that message now; name them with <jid/>";
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The report's id: the same reporter, target, room and evidence make the
 * same report. */
static void report_id(desk *d, const char *rep, const report_item *it, const char *target,
                      const char *room, char out[33])
{
    buf k = BUF_INIT;
    buf_printf(&k, "%s\n%s\n%s\n", rep, target, room ? room : "");
    char *ids[REPORT_REFS_MAX];
    for (size_t i = 0; i < it->nrefs; i++)
        ids[i] = it->refs[i].id;
    qsort(ids, it->nrefs, sizeof ids[0], cmp_str);
    for (size_t i = 0; i < it->nrefs; i++)
        buf_printf(&k, "%s ", ids[i]);
    char *ks = buf_strdup(&k);
    buf_free(&k);
    muc_pseudonym(d->rooms, "desk-report", ks ? ks : "", out);
    free(ks);
    out[16] = '\0';
}

/* Files one report item; its reply counts towards f. */
static void file_item(filing *f, const report_batch *b, const report_item *it, const char *target,
                      const char *room, bool resolved)
{
    desk *d = f->d;
    static const char *const via[] = {"direct", "block", "forward"};
    char rep[33], id[33];
    muc_pseudonym(d->rooms, "desk-reporter", b->reporter, rep);
    report_id(d, rep, it, target, room, id);
    /* An occupant nobody can name now cannot be muted by escalation, nor
     * have their messages told from others'. */
    bool person = resolved && strchr(target, '@');
    desk_store_ref refs[REPORT_REFS_MAX];
    char oids[REPORT_REFS_MAX][33];
    for (size_t i = 0; i < it->nrefs; i++) {
        const report_ref *r = &it->refs[i];
        oids[i][0] = '\0';
        bool ours = our_room(d, r->by);
        if (ours && person)
            muc_occupant_id_of(d->rooms, r->by, target, oids[i]);
        refs[i] = (desk_store_ref){ours ? r->by : NULL, r->id, oids[i]};
    }
    desk_store_report sr = {id,
                            rep,
                            target,
                            room ? room : "",
                            it->reason,
                            it->text ? it->text : "",
                            via[b->via],
                            it->forwarded ? it->forwarded : "",
                            person ? d->threshold : 0,
                            xtime_wall(),
                            refs,
                            it->nrefs};
    file_pend *fp = calloc(1, sizeof *fp);
    if (!fp) {
        f->failed = true;
        return;
    }
    fp->f = f;
    f->left++;
    f->refs++;
    desk_pend_link(d, &fp->p, filed_done, file_free);
    fp->id = strdup(id);
    fp->target = strdup(target);
    fp->room = strdup(room ? room : "");
    fp->text = strdup(it->text ? it->text : "");
    fp->reason = it->reason;
    desk_store_cmd c;
    desk_store_file(&c, d->prefix, &d->policy, &sr);
    if (!fp->id || !fp->target || !fp->room || !fp->text)
        desk_store_cmd_free(&c); /* sent empty, it ends as if Redis were away */
    desk_send(d, &fp->p, &c);
}

/* A host server's copy of a user's block: the user's list follows. */
static void apply_blocklist(desk *d, const report_batch *b)
{
    desk_store_cmd c;
    if (b->unblock_all) {
        desk_store_ublock_clear(&c, d->prefix, b->reporter);
        desk_send(d, NULL, &c);
    }
    for (size_t done = 0; !b->unblock_all && done < b->nblocked;) {
        done += desk_store_ublock_change(&c, d->prefix, b->reporter, !b->unblock, b->blocked + done,
                                         b->nblocked - done);
        desk_send(d, NULL, &c);
    }
    if (d->blocklist_changed)
        d->blocklist_changed(d->blocklist_ud, b->reporter);
}

/* Refuses a report: to the command, the IQ's sender, or (a message has
 * nobody to answer) the log. */
static void refuse(desk *d, const xml_node *st, adhoc_req *q, const char *from, stanza_error e,
                   const char *why)
{
    if (q)
        adhoc_fail(q, e, NULL, why);
    else if (strcmp(xml_name(st), "iq") == 0)
        desk_reply_error(d, st, e, why);
    else
        log_info("desk: report from %s refused: %s", from, why);
}

/* Files every item of b, once each has been resolved. */
static void file_batch(desk *d, const xml_node *st, adhoc_req *q, const report_batch *b,
                       char **targets, char **rooms, const bool *resolved)
{
    filing *f = calloc(1, sizeof *f);
    bool is_iq = strcmp(xml_name(st), "iq") == 0;
    if (!f || (is_iq && !q && !(f->iq = xml_copy(st)))) {
        free(f);
        refuse(d, st, q, b->reporter, STANZA_ERR_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    f->d = d;
    f->q = q;
    f->left = f->refs = 1; /* held while the items are sent */
    for (size_t i = 0; i < b->n; i++)
        file_item(f, b, &b->items[i], targets[i], rooms[i], resolved[i]);
    if (--f->left == 0)
        answer(f);
    filing_unref(f);
}

void desk_intake(desk *d, const xml_node *st, const jid *from, const jid *to, adhoc_req *q)
{
    const char *type = xml_attr(st, "type");
    if (strcmp(xml_name(st), "iq") == 0 && (!type || strcmp(type, "set") != 0)) {
        refuse(d, st, q, NULL, STANZA_ERR_BAD_REQUEST, "reports are IQ sets");
        return;
    }
    char *fromstr = jid_full(from);
    report_batch b;
    stanza_error e;
    const char *why;
    if (!fromstr || report_parse(st, fromstr, (const char *const *)d->servers, &b, &e, &why) < 0) {
        refuse(d, st, q, fromstr ? fromstr : "?", fromstr ? e : STANZA_ERR_INTERNAL_SERVER_ERROR,
               fromstr ? why : "out of memory");
        free(fromstr);
        return;
    }
    free(fromstr);
    if (!desk_redis_up(d)) {
        if (q || strcmp(xml_name(st), "iq") == 0)
            refuse(d, st, q, b.reporter, STANZA_ERR_SERVICE_UNAVAILABLE,
                   "reports cannot be stored right now");
        else
            log_warn("desk: Redis away; a report from %s was lost", b.reporter);
        report_batch_free(&b);
        return;
    }
    if (b.via == REPORT_BLOCK)
        apply_blocklist(d, &b);
    /* Resolve every item before storing any, so a bad one refuses all. */
    char *targets[REPORT_ITEMS_MAX] = {0}, *rooms[REPORT_ITEMS_MAX] = {0};
    bool resolved[REPORT_ITEMS_MAX];
    const char *bad = NULL;
    for (size_t i = 0; i < b.n && !bad; i++)
        bad = resolve(d, &b.items[i], to, &targets[i], &rooms[i], &resolved[i]);
    if (bad)
        refuse(d, st, q, b.reporter, STANZA_ERR_ITEM_NOT_FOUND, bad);
    else
        file_batch(d, st, q, &b, targets, rooms, resolved);
    for (size_t i = 0; i < b.n; i++) {
        free(targets[i]);
        free(rooms[i]);
    }
    report_batch_free(&b);
}

/* ---- the "report" command ---- */

static const dataform_option reasons[] = {
    {"Abuse or harassment", "abuse"}, {"Spam", "spam"}, {NULL, NULL}};

static const dataform_spec fields[] = {
    {"jid", DATAFORM_JID_SINGLE, "Who (a JID, or room@service/nick)", DATAFORM_REQUIRED, NULL, NULL,
     0},
    /* Left out, a report is about abuse, as it always was. */
    {"reason", DATAFORM_LIST_SINGLE, "Why", DATAFORM_REQUIRED | DATAFORM_ABSENT_OK, "abuse",
     reasons, 0},
    {"text", DATAFORM_TEXT_MULTI, "What happened (optional)", 0, NULL, NULL, 0},
};

static void report_show(adhoc_req *q)
{
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, adhoc_req_command(q)->name, NULL);
    for (size_t i = 0; x && i < sizeof fields / sizeof fields[0]; i++)
        dataform_add_spec(x, &fields[i]);
    if (!x) {
        adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    adhoc_form(q, x);
}

/* Builds the documented direct report and takes it like any other; its
 * outcome ends the command. */
static void report_submit(adhoc_req *q)
{
    const char *who = adhoc_req_value(q, "jid");
    const char *reason = adhoc_req_value(q, "reason");
    const char *text = adhoc_req_text(q, "text");
    xml_node *iq = xml_copy(adhoc_req_iq(q));
    xml_node *old = iq ? stanza_iq_payload(iq) : NULL;
    if (old)
        xml_remove_child(iq, old);
    xml_node *r = iq ? xml_append_new(iq, "report", NS_REPORTING1) : NULL;
    jid from = {0}, to = {0};
    if (!r || jid_parse(xml_attr(iq, "from"), &from) != JID_OK ||
        jid_parse(xml_attr(iq, "to"), &to) != JID_OK) {
        adhoc_fail(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
    } else {
        xml_set_attr(r, "reason",
                     reason && strcmp(reason, "spam") == 0 ? NS_REPORTING_SPAM
                                                           : NS_REPORTING_ABUSE);
        xml_append_text(xml_append_new(r, "jid", NS_JID0), who);
        if (text && *text)
            xml_append_text(xml_append_new(r, "text", NULL), text);
        desk_intake(adhoc_req_ud(q), iq, &from, &to, q);
    }
    jid_free(&from);
    jid_free(&to);
    xml_free(iq);
}

const adhoc_step desk_report_steps[1] = {
    {report_show, report_submit, fields, sizeof fields / sizeof fields[0], NULL}};
