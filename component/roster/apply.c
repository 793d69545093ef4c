/* The paced writer of group rosters.
 *
 * Work comes as jobs, one per user: the user's whole managed roster, or
 * the few contacts a membership change concerns. A job reads what Stoa
 * gave the user ({p}roster:given:<user>), then the user's roster (a
 * privileged roster get), and turns the difference between what the groups
 * want and what is there into writes:
 *
 *   wanted, not given, not in the roster      -> set (subscription both)
 *   wanted, not given, in the roster          -> nothing: the user's own
 *   wanted, given, labels differ or item gone -> set
 *   not wanted, given                         -> remove
 *
 * and each write, once the host answered it, into the record. Writes leave
 * at [roster] rate a second with at most WINDOW unanswered, so a group of
 * thousands never floods the host; one job is prepared at a time, and the
 * next only while fewer than OPS_LOW writes wait, so memory stays bounded
 * by the job, not the group. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "keys.h"
#include "log.h"
#include "ns.h"
#include "roster/internal.h"

#define WINDOW 64       /* writes the host has not answered yet */
#define OPS_LOW 2000    /* below this many queued writes the next job starts */
#define IQ_TIMEOUT 30.0 /* seconds for the host's answer */
#define TICK 0.01       /* seconds between sends */
#define LABELS_LEN 1024
/* The pace follows the host: a write answered later than SLOW halves it
 * (at most every SLOW), one answered within FAST adds one a second, up to
 * [roster] rate. Prosody 0.12 spends tens of milliseconds on an item (it
 * loads and saves the user's whole roster), during which its other users
 * wait: bench/rosters measured their pings at 600 ms under a fixed pace the
 * host could not follow. */
#define SLOW 0.1
#define FAST 0.03
#define RATE_MIN 2.0

typedef struct job {
    struct job *next;
    char *user;
    bool all;
    hmap contacts; /* contact -> its own copy */
    hmap given;    /* contact -> labels, from Redis */
    hmap held;     /* contacts in the user's roster */
    char id[32];   /* of the roster get */
    double sent;
} job;

typedef struct op {
    struct op *next;
    char *user, *contact;
    char *labels; /* NULL: remove */
    bool drop;    /* the user dropped the contact: remembered, never written again */
    char id[32];
    double sent;
} op;

struct apply {
    roster *r;
    job *head, *tail;
    hmap waiting; /* user -> job not started */
    job *cur;     /* the job being prepared */
    op *ohead, *otail;
    size_t queued;
    hmap inflight; /* id -> op */
    ev_timer tick;
    double tokens, last;
    double rate, cut; /* the pace now (adapted), and when it was last halved */
    bool dropping;    /* queue_op makes drops (apply_drop) */
    unsigned long written, failed, read;
    unsigned long said_written, said_read; /* at the last progress line */
    double said;
};

static void kick(apply *a);

static void free_values(hmap *m)
{
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(m, &i, &k, &v);)
        free(v);
    hmap_free(m);
}

static void job_free(job *j)
{
    if (!j)
        return;
    free_values(&j->contacts);
    free_values(&j->given);
    free_values(&j->held);
    free(j->user);
    free(j);
}

static void op_free(op *o)
{
    if (!o)
        return;
    free(o->user);
    free(o->contact);
    free(o->labels);
    free(o);
}

static double now(const apply *a)
{
    return a->r->loop ? ev_now(a->r->loop) : 0;
}

/* Puts key -> a copy of value (a copy of key when value is NULL) in m; the
 * map's key points into the copy, so keys are copied as values. */
static int put_copy(hmap *m, const char *key, const char *value)
{
    if (hmap_get(m, key))
        return 0;
    size_t kl = strlen(key) + 1, vl = value ? strlen(value) + 1 : 0;
    char *mem = malloc(kl + vl);
    if (!mem)
        return -1;
    memcpy(mem, key, kl);
    if (value)
        memcpy(mem + kl, value, vl);
    if (hmap_put(m, mem, mem) < 0) {
        free(mem);
        return -1;
    }
    return 0;
}

/* The value stored with put_copy (after the key's copy). */
static const char *value_of(const hmap *m, const char *key)
{
    const char *mem = hmap_get(m, key);
    return mem ? mem + strlen(mem) + 1 : NULL;
}

/* ---- jobs ---- */

static void enqueue(apply *a, const char *user, const char *contact)
{
    job *j = hmap_get(&a->waiting, user);
    if (!j) {
        if (!(j = calloc(1, sizeof *j)) || !(j->user = strdup(user)) ||
            hmap_put(&a->waiting, j->user, j) < 0) {
            job_free(j);
            log_warn("roster: out of memory: %s's roster is not rewritten", user);
            return;
        }
        if (a->tail)
            a->tail->next = j;
        else
            a->head = j;
        a->tail = j;
    }
    if (!contact)
        j->all = true;
    else if (!j->all && put_copy(&j->contacts, contact, NULL) < 0)
        j->all = true;
    kick(a);
}

void apply_user(apply *a, const char *user)
{
    enqueue(a, user, NULL);
}

void apply_pair(apply *a, const char *user, const char *contact)
{
    enqueue(a, user, contact);
}

static void user_of(void *ud, const char *member)
{
    apply_user(ud, member);
}

static void each_group(void *ud, const char *name)
{
    apply *a = ud;
    grp_each_member(a->r->groups, name, user_of, a);
}

void apply_everyone(apply *a)
{
    grp_each(a->r->groups, each_group, a);
}

typedef struct pair_walk {
    apply *a;
    const char *member;
} pair_walk;

static void pair_with(void *ud, const char *other)
{
    pair_walk *w = ud;
    if (strcmp(other, w->member) != 0)
        apply_pair(w->a, other, w->member);
}

static void pair_linked(void *ud, const char *group)
{
    pair_walk *w = ud;
    grp_each_member(w->a->r->groups, group, pair_with, w);
}

void apply_member(apply *a, const char *group, const char *member)
{
    /* The member's whole roster, and one item in each roster that shares
     * or sees the group: the work follows the change. */
    apply_user(a, member);
    pair_walk w = {a, member};
    grp_each_member(a->r->groups, group, pair_with, &w);
    grp_each_display(a->r->groups, group, true, pair_linked, &w);
    grp_each_display(a->r->groups, group, false, pair_linked, &w);
}

/* ---- writes ---- */

static xml_node *item_of(const op *o, xml_node *parent, const char *ns)
{
    xml_node *it = xml_append_new(parent, "item", ns);
    if (!it || xml_set_attr(it, "jid", o->contact) < 0 ||
        xml_set_attr(it, "subscription", o->labels ? "both" : "remove") < 0)
        return NULL;
    for (const char *l = o->labels; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char name[GRP_NAME_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)n, l);
        xml_node *g = xml_append_new(it, "group", ns);
        if (!g || xml_append_text(g, name) < 0)
            return NULL;
        l = nl ? nl + 1 : l + n;
    }
    return it;
}

static xml_node *write_iq(apply *a, const op *o)
{
    roster *r = a->r;
    bool contrib = r->writer == PRIV_WRITER_CONTRIB;
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    if (!iq || xml_set_attr(iq, "type", "set") < 0 || xml_set_attr(iq, "id", o->id) < 0 ||
        xml_set_attr(iq, "from", r->domain) < 0 ||
        xml_set_attr(iq, "to", contrib ? r->host : o->user) < 0) {
        xml_free(iq);
        return NULL;
    }
    xml_node *q = contrib ? xml_append_new(iq, "roster", NS_STOA_ROSTER)
                          : xml_append_new(iq, "query", NS_ROSTER);
    if (!q || (contrib && xml_set_attr(q, "user", o->user) < 0) || !item_of(o, q, NS_ROSTER)) {
        xml_free(iq);
        return NULL;
    }
    return iq;
}

static bool send_one(apply *a)
{
    op *o = a->ohead;
    a->ohead = o->next;
    if (!a->ohead)
        a->otail = NULL;
    a->queued--;
    o->next = NULL;
    roster_next_id(a->r, "rs", o->id, sizeof o->id);
    xml_node *iq = write_iq(a, o);
    if (!iq || hmap_put(&a->inflight, o->id, o) < 0) {
        xml_free(iq);
        op_free(o);
        a->failed++;
        return false;
    }
    o->sent = now(a);
    roster_emit(a->r, iq);
    return true;
}

static void record(apply *a, const op *o)
{
    char key[512];
    if (roster_key(a->r, KEY_ROSTER_GIVEN, o->user, key, sizeof key) < 0)
        return;
    const char *set[] = {"HSET", key, o->contact, o->labels ? o->labels : ""};
    const char *del[] = {"HDEL", key, o->contact};
    int rc =
        o->labels || o->drop ? roster_send(a->r, NULL, 4, set) : roster_send(a->r, NULL, 3, del);
    if (rc < 0)
        log_warn("roster: Redis away: the write of %s into %s's roster is not recorded", o->contact,
                 o->user);
}

static void op_failed(apply *a, const op *o, const char *why)
{
    if (a->failed++ % 100 == 0)
        log_warn("roster: %s %s in %s's roster failed: %s (%lu failure%s so far)",
                 o->labels ? "setting" : "removing", o->contact, o->user, why, a->failed,
                 a->failed == 1 ? "" : "s");
}

static void adapt(apply *a, double took)
{
    double t = now(a);
    if (took > SLOW && t - a->cut > SLOW) {
        a->rate = a->rate / 2 > RATE_MIN ? a->rate / 2 : RATE_MIN;
        a->cut = t;
    } else if (took < FAST && a->rate < a->r->rate) {
        a->rate = a->rate + 1 < a->r->rate ? a->rate + 1 : a->r->rate;
    }
}

static void op_answered(apply *a, op *o, const stanza_ctx *c)
{
    hmap_del(&a->inflight, o->id);
    if (a->r->loop)
        adapt(a, now(a) - o->sent);
    bool ok = strcmp(c->type ? c->type : "", "result") == 0;
    stanza_error e = ok ? STANZA_ERR__COUNT : stanza_error_of(c->st);
    /* Removing what is already gone is done. */
    if (ok || (!o->labels && e == STANZA_ERR_ITEM_NOT_FOUND)) {
        a->written++;
        record(a, o);
    } else {
        char why[200];
        const xml_node *err = xml_child(c->st, "error", NULL);
        xml_node *text = err ? xml_child(err, "text", NS_STANZAS) : NULL;
        snprintf(why, sizeof why, "%s%s%.150s", stanza_error_condition(e), text ? ": " : "",
                 text ? xml_text(text) : "");
        op_failed(a, o, why);
    }
    op_free(o);
}

static int queue_op(apply *a, const char *user, const char *contact, const char *labels)
{
    op *o = calloc(1, sizeof *o);
    if (!o || !(o->user = strdup(user)) || !(o->contact = strdup(contact)) ||
        (labels && !(o->labels = strdup(labels)))) {
        op_free(o);
        return -1;
    }
    o->drop = labels == NULL && a->dropping;
    if (a->otail)
        a->otail->next = o;
    else
        a->ohead = o;
    a->otail = o;
    a->queued++;
    return 0;
}

void apply_drop(apply *a, const char *user, const char *contact)
{
    a->dropping = true;
    int rc = queue_op(a, user, contact, NULL);
    a->dropping = false;
    if (rc < 0)
        log_warn("roster: out of memory: %s stays in %s's roster", contact, user);
    kick(a);
}

/* ---- preparing a job ---- */

static void decide_contact(apply *a, job *j, const char *contact)
{
    char want[LABELS_LEN];
    if (grp_labels(a->r->groups, j->user, contact, want, sizeof want) < 0)
        return;
    const char *have = value_of(&j->given, contact);
    bool held = hmap_get(&j->held, contact) != NULL;
    if (have && !*have)
        return; /* the user dropped it (apply_drop): never written again */
    int rc = 0;
    if (want[0] && !have && !held)
        rc = queue_op(a, j->user, contact, want);
    else if (want[0] && have && (strcmp(want, have) != 0 || !held))
        rc = queue_op(a, j->user, contact, want);
    else if (!want[0] && have)
        rc = queue_op(a, j->user, contact, NULL);
    if (rc < 0)
        log_warn("roster: out of memory: %s in %s's roster is not written", contact, j->user);
}

static void add_contact(void *ud, const char *contact)
{
    put_copy(ud, contact, NULL);
}

static void prepared(apply *a, job *j)
{
    hmap todo = HMAP_INIT;
    hmap *list = &j->contacts;
    if (j->all) {
        grp_each_contact(a->r->groups, j->user, add_contact, &todo);
        const char *k;
        void *v;
        for (size_t i = 0; hmap_next(&j->given, &i, &k, &v);)
            put_copy(&todo, k, NULL);
        list = &todo;
    }
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(list, &i, &k, &v);)
        decide_contact(a, j, k);
    free_values(&todo);
}

static void read_roster(job *j, const stanza_ctx *c)
{
    const xml_node *q = xml_child(c->st, "query", NS_ROSTER);
    for (const xml_node *it = q ? xml_first_child(q) : NULL; it; it = xml_next(it)) {
        const char *jid = xml_is_text(it) ? NULL : xml_attr(it, "jid");
        jid_err err;
        char *norm = jid ? jid_normalize(jid, &err) : NULL;
        if (norm)
            put_copy(&j->held, norm, NULL);
        free(norm);
    }
}

static void job_done(apply *a)
{
    job_free(a->cur);
    a->cur = NULL;
    kick(a);
}

static void on_given(rq *q, const redisReply *reply)
{
    apply *a = q->r->ap;
    job *j = a->cur;
    if (!j || !q->a || strcmp(q->a, j->user) != 0 || j->id[0])
        return; /* reset meanwhile */
    size_t n;
    if (!rdb_is_array(reply, &n)) {
        log_warn("roster: Redis did not answer for %s; the job is dropped", j->user);
        job_done(a);
        return;
    }
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *c = rdb_str(rdb_elem(reply, i)), *l = rdb_str(rdb_elem(reply, i + 1));
        if (c && l)
            put_copy(&j->given, c, l);
    }
    roster_next_id(a->r, "rg", j->id, sizeof j->id);
    j->sent = now(a);
    xml_node *iq = xml_new("iq", NS_COMPONENT);
    if (!iq || xml_set_attr(iq, "type", "get") < 0 || xml_set_attr(iq, "id", j->id) < 0 ||
        xml_set_attr(iq, "from", a->r->domain) < 0 || xml_set_attr(iq, "to", j->user) < 0 ||
        !xml_append_new(iq, "query", NS_ROSTER)) {
        xml_free(iq);
        job_done(a);
        return;
    }
    roster_emit(a->r, iq);
}

static void start_job(apply *a)
{
    job *j = a->head;
    a->head = j->next;
    if (!a->head)
        a->tail = NULL;
    j->next = NULL;
    hmap_del(&a->waiting, j->user);
    a->cur = j;
    char key[512];
    rq *q = roster_rq(a->r, on_given, j->user, NULL);
    if (!q || roster_key(a->r, KEY_ROSTER_GIVEN, j->user, key, sizeof key) < 0) {
        rq_free(q);
        job_done(a);
        return;
    }
    const char *argv[] = {"HGETALL", key};
    if (roster_send(a->r, q, 2, argv) < 0) {
        /* Redis away: the job waits for it at the head of the queue. */
        a->cur = NULL;
        j->next = a->head;
        a->head = j;
        if (!a->tail)
            a->tail = j;
        hmap_put(&a->waiting, j->user, j);
    }
}

bool apply_answer(apply *a, const stanza_ctx *c)
{
    const char *id = xml_attr(c->st, "id");
    op *o = id ? hmap_get(&a->inflight, id) : NULL;
    if (o) {
        op_answered(a, o, c);
        kick(a);
        return true;
    }
    job *j = a->cur;
    if (!j || !id || !j->id[0] || strcmp(id, j->id) != 0)
        return false;
    a->read++;
    if (strcmp(c->type ? c->type : "", "result") == 0) {
        read_roster(j, c);
        prepared(a, j);
    } else {
        log_warn("roster: %s's roster could not be read: %s", j->user,
                 stanza_error_condition(stanza_error_of(c->st)));
    }
    job_done(a);
    return true;
}

/* ---- pacing ---- */

static void timeouts(apply *a, double t)
{
    const char *k;
    void *v;
    op *late[WINDOW];
    size_t n = 0;
    for (size_t i = 0; hmap_next(&a->inflight, &i, &k, &v) && n < WINDOW;)
        if (t - ((op *)v)->sent > IQ_TIMEOUT)
            late[n++] = v;
    for (size_t i = 0; i < n; i++) {
        hmap_del(&a->inflight, late[i]->id);
        op_failed(a, late[i], "no answer from the host");
        op_free(late[i]);
    }
    if (a->cur && a->cur->id[0] && t - a->cur->sent > IQ_TIMEOUT) {
        log_warn("roster: %s's roster could not be read: no answer from the host (is it a user "
                 "of %s?)",
                 a->cur->user, a->r->host ? a->r->host : "the host");
        job_done(a);
    }
}

static void pump(apply *a)
{
    double t = now(a);
    if (a->r->loop) {
        a->tokens += (t - a->last) * a->rate;
        double cap = a->rate * TICK * 4 + 1;
        if (a->tokens > cap)
            a->tokens = cap;
    } else {
        a->tokens = WINDOW;
    }
    a->last = t;
    while (a->ohead && a->tokens >= 1 && a->inflight.count < WINDOW) {
        a->tokens -= 1;
        send_one(a);
    }
    if (!a->cur && a->head && a->queued < OPS_LOW && roster_groups_on(a->r))
        start_job(a);
}

static bool busy(const apply *a)
{
    return a->head || a->cur || a->ohead || a->inflight.count;
}

#define PROGRESS_EVERY 5.0 /* seconds between progress lines while busy */

/* Operators (and the bench) see how far a large change has got. */
static void progress(apply *a, double t, bool done)
{
    if (a->written == a->said_written && a->read == a->said_read)
        return;
    if (!done && t - a->said < PROGRESS_EVERY)
        return;
    log_info("roster: %s: %lu item%s written, %lu roster%s read, %zu user%s waiting, %zu write%s "
             "queued, %.0f a second",
             done ? "up to date" : "writing", a->written, a->written == 1 ? "" : "s", a->read,
             a->read == 1 ? "" : "s", a->waiting.count, a->waiting.count == 1 ? "" : "s", a->queued,
             a->queued == 1 ? "" : "s", a->rate);
    a->said = t;
    a->said_written = a->written;
    a->said_read = a->read;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    apply *a = w->data;
    timeouts(a, ev_now(loop));
    pump(a);
    bool idle = !busy(a);
    progress(a, ev_now(loop), idle);
    if (idle || !roster_groups_on(a->r))
        ev_timer_stop(loop, w);
}

static void kick(apply *a)
{
    if (!roster_groups_on(a->r))
        return;
    if (!a->r->loop) {
        pump(a);
        return;
    }
    if (!ev_is_active(&a->tick)) {
        a->last = ev_now(a->r->loop);
        ev_timer_start(a->r->loop, &a->tick);
    }
}

/* ---- life ---- */

apply *apply_new(roster *r)
{
    apply *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->r = r;
    a->rate = r->rate < 10 ? r->rate : 10; /* a slow start */
    ev_timer_init(&a->tick, on_tick, TICK, TICK);
    a->tick.data = a;
    return a;
}

void apply_reset(apply *a)
{
    if (!a)
        return;
    if (a->r->loop)
        ev_timer_stop(a->r->loop, &a->tick);
    while (a->head) {
        job *j = a->head;
        a->head = j->next;
        job_free(j);
    }
    a->tail = NULL;
    hmap_free(&a->waiting);
    job_free(a->cur);
    a->cur = NULL;
    while (a->ohead) {
        op *o = a->ohead;
        a->ohead = o->next;
        op_free(o);
    }
    a->otail = NULL;
    a->queued = 0;
    const char *k;
    void *v;
    for (size_t i = 0; hmap_next(&a->inflight, &i, &k, &v);)
        op_free(v);
    hmap_free(&a->inflight);
}

void apply_free(apply *a)
{
    apply_reset(a);
    free(a);
}

void apply_stats(const apply *a, size_t *jobs, size_t *queued, size_t *inflight,
                 unsigned long *written)
{
    *jobs = a->waiting.count + (a->cur ? 1 : 0);
    *queued = a->queued;
    *inflight = a->inflight.count;
    *written = a->written;
}
