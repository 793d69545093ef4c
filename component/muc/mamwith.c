/* The archive filtered by sender, scanned in batches: see mamwith.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc/mamwith.h"

typedef struct scan {
    muc_store *s;
    char *room, *nick;
    muc_store_query q; /* the next batch; after/before point at cursor */
    bool reverse;
    unsigned max;
    char cursor[17];         /* the last entry looked at */
    char bound[17];          /* the client's before, kept for every batch */
    muc_history_entry *hits; /* max + 1, in the order of the scan */
    size_t nhits, scanned, batches;
    muc_mam_with_cb cb;
    void *ud;
} scan;

static void scan_free(scan *sc)
{
    for (size_t i = 0; i < sc->nhits; i++) {
        free(sc->hits[i].nick);
        free(sc->hits[i].payload);
        free(sc->hits[i].stanza_id);
    }
    free(sc->hits);
    free(sc->room);
    free(sc->nick);
    free(sc);
}

static bool keep(scan *sc, const muc_history_entry *e)
{
    muc_history_entry *h = &sc->hits[sc->nhits];
    *h = *e;
    h->nick = strdup(e->nick);
    h->payload = strdup(e->payload);
    h->stanza_id = strdup(e->stanza_id);
    if (!h->nick || !h->payload || !h->stanza_id) {
        free(h->nick);
        free(h->payload);
        free(h->stanza_id);
        return false;
    }
    sc->nhits++;
    return true;
}

/* The page, oldest first, to the callback; then the scan is gone. */
static void finish(scan *sc, bool complete, bool bounded)
{
    size_t n = sc->nhits < sc->max ? sc->nhits : sc->max;
    muc_history_entry *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        sc->cb(sc->ud, MUC_STORE_FAILED, NULL, 0, false, NULL);
        scan_free(sc);
        return;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = sc->hits[sc->reverse ? n - 1 - i : i];
    sc->cb(sc->ud, MUC_STORE_ROWS, rows, n, complete, bounded ? sc->cursor : NULL);
    free(rows);
    scan_free(sc);
}

static int next_batch(scan *sc);

static void on_batch(void *ud, muc_store_result res, muc_history_entry *rows, size_t n,
                     bool complete)
{
    scan *sc = ud;
    if (res != MUC_STORE_ROWS) {
        sc->cb(sc->ud, res, NULL, 0, false, NULL);
        scan_free(sc);
        return;
    }
    /* Rows come oldest first; a backward scan reads them newest first. */
    for (size_t k = 0; k < n; k++) {
        const muc_history_entry *e = &rows[sc->reverse ? n - 1 - k : k];
        snprintf(sc->cursor, sizeof sc->cursor, "%s", e->stanza_id);
        sc->scanned++;
        if (strcmp(e->nick, sc->nick) == 0 && !keep(sc, e)) {
            sc->cb(sc->ud, MUC_STORE_FAILED, NULL, 0, false, NULL);
            scan_free(sc);
            return;
        }
        if (sc->nhits > sc->max) { /* one match beyond the page */
            finish(sc, false, false);
            return;
        }
        if (sc->scanned >= MUC_MAM_WITH_SCAN && (k + 1 < n || !complete)) {
            /* A full page needs no resume point: its own edge is one. */
            finish(sc, false, sc->nhits < sc->max);
            return;
        }
    }
    if (complete) {
        finish(sc, true, false);
        return;
    }
    /* Rows Redis sent but that are not messages (rows_from_reply skips
     * them) count too, or a run of them would be read again and again. */
    if (++sc->batches > MUC_MAM_WITH_SCAN / MUC_MAM_WITH_BATCH) {
        finish(sc, false, sc->nhits < sc->max && sc->cursor[0]);
        return;
    }
    if (sc->reverse)
        sc->q.before = sc->cursor;
    else
        sc->q.after = sc->cursor;
    sc->q.cursor = true;
    if (next_batch(sc) < 0) {
        sc->cb(sc->ud, MUC_STORE_FAILED, NULL, 0, false, NULL);
        scan_free(sc);
    }
}

static int next_batch(scan *sc)
{
    return muc_store_query_archive(sc->s, sc->room, &sc->q, on_batch, sc);
}

int muc_mam_with_query(muc_store *s, const char *room_jid, const muc_store_query *q,
                       const char *nick, muc_mam_with_cb cb, void *ud)
{
    scan *sc = calloc(1, sizeof *sc);
    if (!sc)
        return -1;
    sc->hits = calloc(q->max + 1, sizeof *sc->hits);
    sc->room = strdup(room_jid);
    sc->nick = strdup(nick);
    if (!sc->hits || !sc->room || !sc->nick) {
        scan_free(sc);
        return -1;
    }
    sc->s = s;
    sc->q = *q;
    if (q->before && q->after) { /* a forward scan up to the client's before */
        snprintf(sc->bound, sizeof sc->bound, "%s", q->before);
        sc->q.before = sc->bound;
    }
    sc->q.max = MUC_MAM_WITH_BATCH;
    sc->max = q->max;
    sc->reverse = (q->before || q->last_page) && !q->after;
    sc->cb = cb;
    sc->ud = ud;
    if (next_batch(sc) < 0) {
        scan_free(sc);
        return -1;
    }
    return 0;
}
