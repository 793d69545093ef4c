/* metrics: the daemon's counters and gauges, in Prometheus's text format.
 *
 * Counters are process-wide, like the logger: every module counts what it
 * sees (a stanza in, a refusal, a report) without a handle threaded through
 * every constructor, and a process has exactly one set. They are plain
 * integers touched only from the loop's thread, which also serves the
 * scrapes (mhttp.h), so no locking is needed. Gauges (rooms, queue depths,
 * link and Redis state) are not kept up to date as they change: the owner
 * registers a collect hook that sets them when a scrape asks.
 *
 * Each series is one row of the table in metrics.c: name, labels, help.
 * Ownership: nothing here allocates but metrics_render's output, which
 * goes into the caller's buf. */
#ifndef STOA_METRICS_H
#define STOA_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef enum {
    /* stoa_stanzas_in_total{kind}: read from the host server (or a peer) */
    METRIC_IN_MESSAGE = 0,
    METRIC_IN_PRESENCE,
    METRIC_IN_IQ,
    METRIC_IN_OTHER,
    /* stoa_stanzas_out_total{kind}: written to the host server (or a peer) */
    METRIC_OUT_MESSAGE,
    METRIC_OUT_PRESENCE,
    METRIC_OUT_IQ,
    METRIC_OUT_OTHER,
    /* stoa_refusals_total{reason}: the gate's verdicts (safety/gate.h order
     * from GATE_BANNED_JID), then a stanza over the [limits] */
    METRIC_REFUSED_BANNED_JID,
    METRIC_REFUSED_BANNED_DOMAIN,
    METRIC_REFUSED_SPAM_DOMAIN,
    METRIC_REFUSED_BLOCKED_DOMAIN,
    METRIC_REFUSED_MUTED,
    METRIC_REFUSED_RATE_JID,
    METRIC_REFUSED_RATE_DOMAIN,
    METRIC_REFUSED_MUTED_NOW,
    METRIC_REFUSED_RATE_ROOM,
    METRIC_REFUSED_OVERFLOW,
    METRIC_REFUSED_LIMITS,
    /* stoa_reports_total{result} */
    METRIC_REPORTS_FILED,
    METRIC_REPORTS_REPEATED,
    METRIC_REPORTS_FLOODED,
    METRIC_REPORTS_ESCALATED,
    /* stoa_link_connects_total, stoa_redis_connects_total */
    METRIC_LINK_CONNECTS,
    METRIC_REDIS_CONNECTS,
    /* gauges, set by the collect hook */
    METRIC_G_LINK_UP,
    METRIC_G_REDIS_UP,
    METRIC_G_ROOMS,
    METRIC_G_OCCUPANTS,
    METRIC_G_GATE_QUEUE,
    METRIC_G_LINK_QUEUE_BYTES,
    METRIC_G_GATEWAYS,
    METRIC_G_PEERS,
    METRIC_G_START_TIME,
    METRIC__COUNT
} metric_id;

void metrics_inc(metric_id id);
void metrics_add(metric_id id, unsigned long long n);
/* For gauges. */
void metrics_set(metric_id id, double v);
double metrics_get(metric_id id);

/* The daemon's own output: writers count what they send into the out
 * sink (out.h) whose ud is this one, and nothing written into another
 * (tests' buffers, a gateway's relay to the component). NULL: none. */
void metrics_meter(const void *sink_ud);
bool metrics_metered(const void *sink_ud);

/* Counts one stanza read, or one sent, by its element name. */
void metrics_count_in(const char *name);
void metrics_count_out(const char *name);
/* Counts n stanzas sent of the kind whose serialized form starts at stanza
 * (len bytes of it readable): only its element name is looked at, so a
 * writer counts in constant time what it just wrote. */
void metrics_count_serialized(const char *stanza, size_t len, unsigned long long n);

/* The counter families a program keeps (the others are left out of its
 * output rather than shown as zeros that mean nothing). */
enum {
    METRICS_F_STANZAS = 1, /* stoa_stanzas_in/out_total */
    METRICS_F_SAFETY = 2,  /* stoa_refusals_total */
    METRICS_F_DESK = 4,    /* stoa_reports_total */
    METRICS_F_LINK = 8,    /* stoa_link_connects_total */
    METRICS_F_REDIS = 16,  /* stoa_redis_connects_total */
    METRICS_F_ALL = 31,
};

/* What the process is called in the output (stoa_info{program}), the
 * counter families it keeps, and the hook that sets the gauges before each
 * rendering (may be NULL). A gauge no hook sets is left out. */
void metrics_setup(const char *program, unsigned families, void (*collect)(void *ud), void *ud);

/* Appends the Prometheus text exposition (format 0.0.4). 0, or -1 on OOM. */
int metrics_render(buf *out);

/* Forgets every value (tests). */
void metrics_reset(void);

#endif
