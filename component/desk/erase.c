/* Erase: everything Stoa holds about a JID, in the rooms of this instance
 * and in Redis (docs/safety.md, "Privacy"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/internal.h"

/* One erasure: its Redis scripts (one per DESK_STORE_ERASE_ROOMS rooms)
 * add up here, and whichever finishes last answers. */
typedef struct erase_job {
    desk *d;
    adhoc_req *q;
    char *target;
    unsigned affs, hist, kept; /* what the rooms erased */
    desk_store_erased sum;
    bool failed;
    int left; /* scripts still to finish, plus one while they are sent */
    int refs; /* requests holding the job, plus one while they are sent */
} erase_job;

typedef struct erase_pend {
    pend p;
    erase_job *job;
} erase_pend;

static void job_unref(erase_job *j)
{
    if (--j->refs > 0)
        return;
    adhoc_req_drop(j->q);
    free(j->target);
    free(j);
}

static void answer(erase_job *j)
{
    adhoc_req *q = j->q;
    j->q = NULL;
    if (j->failed) {
        desk_redis_away(q);
        return;
    }
    long long rep = j->sum.reports, keys = j->sum.keys, msgs = j->sum.msgs;
    char note[700];
    snprintf(note, sizeof note,
             "Erased for %s: %lld report%s, %lld key%s (bans, mutes, block list, report "
             "indexes), %lld archived room message%s, %u history message%s, %u room "
             "affiliation%s.%s",
             j->target, rep, rep == 1 ? "" : "s", keys, keys == 1 ? "" : "s", msgs,
             msgs == 1 ? "" : "s", j->hist, j->hist == 1 ? "" : "s", j->affs,
             j->affs == 1 ? "" : "s",
             j->kept ? " They are the only owner of some rooms: those ownerships were kept." : "");
    char detail[200];
    snprintf(detail, sizeof detail, "reports=%lld keys=%lld archive=%lld history=%u affs=%u", rep,
             keys, msgs, j->hist, j->affs);
    /* The audit names the erased JID only by pseudonym. */
    char ps[33], who[48];
    muc_pseudonym(j->d->rooms, "desk-erased", j->target, ps);
    snprintf(who, sizeof who, "erased:%s", ps);
    desk_audit(j->d, adhoc_req_bare(q), "erase", who, NULL, NULL, detail);
    adhoc_complete(q, NULL, ADHOC_INFO, note);
}

static void erase_done(pend *p, const redisReply *r)
{
    erase_job *j = ((erase_pend *)p)->job;
    desk_store_erased got;
    if (desk_store_read_erased(r, &got) < 0) {
        j->failed = true;
    } else {
        j->sum.reports += got.reports;
        j->sum.keys += got.keys;
        j->sum.msgs += got.msgs;
    }
    if (--j->left == 0)
        answer(j);
}

static void erase_free(pend *p)
{
    job_unref(((erase_pend *)p)->job);
    free(p);
}

/* The rooms of this instance and the person's occupant ids in each: the
 * current one and the one messages archived by 0.1.0 and earlier carry. */
typedef struct room_list {
    desk *d;
    const char *bare;
    desk_store_erase_room *rooms;
    size_t n, cap;
} room_list;

static void add_room(void *ud, const char *room_jid)
{
    room_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        desk_store_erase_room *a = realloc(l->rooms, cap * sizeof *a);
        if (!a)
            return;
        l->rooms = a;
        l->cap = cap;
    }
    char oid[33], old[33], both[68];
    muc_occupant_id_of(l->d->rooms, room_jid, l->bare, oid);
    muc_occupant_id_legacy(l->d->rooms, room_jid, l->bare, old);
    snprintf(both, sizeof both, "%s %s", oid, old);
    char *room = strdup(room_jid), *oids = strdup(both);
    if (!room || !oids) {
        free(room);
        free(oids);
        return;
    }
    l->rooms[l->n++] = (desk_store_erase_room){room, oids};
}

/* Sends the scripts: the first also erases the reports and keys, each
 * searches up to DESK_STORE_ERASE_ROOMS archives. */
static void send_scripts(erase_job *j, const room_list *l)
{
    desk *d = j->d;
    char ps[33];
    muc_pseudonym(d->rooms, "desk-reporter", j->target, ps);
    size_t per = DESK_STORE_ERASE_ROOMS;
    size_t calls = l->n ? (l->n + per - 1) / per : 1;
    for (size_t c = 0; c < calls; c++) {
        erase_pend *ep = calloc(1, sizeof *ep);
        if (!ep) {
            j->failed = true;
            continue;
        }
        ep->job = j;
        j->left++;
        j->refs++;
        desk_pend_link(d, &ep->p, erase_done, erase_free);
        size_t from = c * per, n = l->n - from < per ? l->n - from : per;
        desk_store_cmd cmd;
        desk_store_erase(&cmd, d->prefix, j->target, ps, c == 0, l->rooms + from, l->n ? n : 0);
        desk_send(d, &ep->p, &cmd);
    }
}

static void erase_submit(adhoc_req *q)
{
    desk *d = adhoc_req_ud(q);
    char *target = desk_bare_of(adhoc_req_value(q, "jid"));
    bool confirmed = false;
    if (!target) {
        adhoc_error(q, STANZA_ERR_JID_MALFORMED, "bad-payload", "not a valid bare JID");
        return;
    }
    if (dataform_bool(adhoc_req_form(q), "confirm", &confirmed) < 0 || !confirmed) {
        free(target);
        adhoc_error(q, STANZA_ERR_BAD_REQUEST, "bad-payload", "confirm the erasure");
        return;
    }
    erase_job *j = desk_redis_up(d) ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        free(target);
        /* Nothing erased yet: the session stays for when Redis is back. */
        adhoc_error(q, STANZA_ERR_SERVICE_UNAVAILABLE, NULL, "the desk's storage (Redis) is away");
        return;
    }
    *j = (erase_job){d, q, target, 0, 0, 0, {0, 0, 0}, false, 1, 1};
    j->affs = muc_erase_jid(d->rooms, target, &j->hist, &j->kept);
    desk_forget(d, target, false);
    room_list l = {d, target, NULL, 0, 0};
    muc_each_room(d->rooms, add_room, &l);
    send_scripts(j, &l);
    for (size_t i = 0; i < l.n; i++) {
        free((char *)l.rooms[i].room);
        free((char *)l.rooms[i].oids);
    }
    free(l.rooms);
    /* Release the hold: answers now if every script has finished. */
    if (--j->left == 0)
        answer(j);
    job_unref(j);
}

static void erase_show(adhoc_req *q)
{
    xml_node *x = dataform_new(NULL, DATAFORM_FORM, adhoc_req_command(q)->name,
                               "Erases the JID's reports, bans, mutes, block list, archived room "
                               "messages and affiliations. This cannot be undone.");
    if (!x) {
        adhoc_error(q, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL, NULL);
        return;
    }
    const adhoc_step *st = &adhoc_req_command(q)->steps[0];
    for (size_t i = 0; i < st->nfields; i++)
        dataform_add_spec(x, &st->fields[i]);
    adhoc_form(q, x);
}

static const dataform_spec fields[] = {
    DESK_FIELD_JID,
    {"confirm", DATAFORM_BOOLEAN, "Yes, erase it all", DATAFORM_REQUIRED, "0", NULL, 0},
};

const adhoc_step desk_erase_steps[1] = {{erase_show, erase_submit, fields, 2, NULL}};
