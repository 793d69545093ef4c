#include "autoconfig.h"

#include "metrics.h"

#include <stdbool.h>
#include <string.h>

#include "xtime.h"

typedef enum { COUNTER, GAUGE } metric_type;

typedef struct series {
    const char *name;   /* rows of one name are consecutive */
    const char *labels; /* "{kind=\"iq\"}" or "" */
    metric_type type;
    const char *help; /* on the first row of a name */
    unsigned family;  /* METRICS_F_*: counters shown by the programs that keep them */
} series;

// clang-format off
#define IN(k) {"stoa_stanzas_in_total", "{kind=\"" k "\"}", COUNTER, "stanzas read, by kind", \
               METRICS_F_STANZAS}
#define OUT(k) {"stoa_stanzas_out_total", "{kind=\"" k "\"}", COUNTER, \
                "stanzas written, by kind", METRICS_F_STANZAS}
#define REF(r) {"stoa_refusals_total", "{reason=\"" r "\"}", COUNTER, \
                "stanzas refused by the policy gate or the stanza limits, by reason", \
                METRICS_F_SAFETY}
#define REP(r) {"stoa_reports_total", "{result=\"" r "\"}", COUNTER, \
                "abuse reports received: filed (new), repeated, flooded (over the reporter's " \
                "rate, dropped), escalated (muted the target)", METRICS_F_DESK}

static const series table[METRIC__COUNT] = {
    IN("message"), IN("presence"), IN("iq"), IN("other"),
    OUT("message"), OUT("presence"), OUT("iq"), OUT("other"),
    REF("banned_jid"), REF("banned_domain"), REF("spam_domain"), REF("blocked_domain"),
    REF("muted"), REF("rate_jid"), REF("rate_domain"), REF("muted_now"), REF("rate_room"),
    REF("queue_full"), REF("over_limits"),
    REP("filed"), REP("repeated"), REP("flooded"), REP("escalated"),
    {"stoa_link_connects_total", "", COUNTER, "times the link to the XMPP server became ready",
     METRICS_F_LINK},
    {"stoa_redis_connects_total", "", COUNTER, "times the Redis connection came up",
     METRICS_F_REDIS},
    {"stoa_link_up", "", GAUGE, "1 when the link to the XMPP server is ready", 0},
    {"stoa_redis_up", "", GAUGE, "1 when Redis answers", 0},
    {"stoa_rooms", "", GAUGE, "rooms in memory", 0},
    {"stoa_occupants", "", GAUGE, "occupants in all rooms", 0},
    {"stoa_gate_queue", "", GAUGE, "stanzas waiting in the policy gate's FIFO", 0},
    {"stoa_link_queue_bytes", "", GAUGE, "bytes waiting in the link's write queue", 0},
    {"stoa_gateways", "", GAUGE, "stoa-gateway processes attached", 0},
    {"stoa_peers", "", GAUGE, "server-to-server streams", 0},
    {"stoa_start_time_seconds", "", GAUGE, "when the process started, in Unix time", 0},
};
// clang-format on

static struct {
    unsigned long long count[METRIC__COUNT];
    double gauge[METRIC__COUNT];
    bool set[METRIC__COUNT];
    const char *program;
    unsigned families;
    const void *metered; /* the ud of the out sink whose writes are counted */
    void (*collect)(void *ud);
    void *ud;
} m;

void metrics_meter(const void *sink_ud)
{
    m.metered = sink_ud;
}

bool metrics_metered(const void *sink_ud)
{
    return sink_ud && sink_ud == m.metered;
}

void metrics_inc(metric_id id)
{
    m.count[id]++;
}

void metrics_add(metric_id id, unsigned long long n)
{
    m.count[id] += n;
}

void metrics_set(metric_id id, double v)
{
    m.gauge[id] = v;
    m.set[id] = true;
}

double metrics_get(metric_id id)
{
    return table[id].type == GAUGE ? m.gauge[id] : (double)m.count[id];
}

static metric_id kind_of(const char *name, size_t len, metric_id base)
{
    if (len == 7 && memcmp(name, "message", 7) == 0)
        return base;
    if (len == 8 && memcmp(name, "presence", 8) == 0)
        return base + 1;
    if (len == 2 && memcmp(name, "iq", 2) == 0)
        return base + 2;
    return base + 3;
}

void metrics_count_in(const char *name)
{
    m.count[kind_of(name, strlen(name), METRIC_IN_MESSAGE)]++;
}

void metrics_count_out(const char *name)
{
    m.count[kind_of(name, strlen(name), METRIC_OUT_MESSAGE)]++;
}

void metrics_count_serialized(const char *stanza, size_t len, unsigned long long n)
{
    /* "<name " or "<name>" or "<name/>": the name is all that is read. */
    size_t i = 1;
    while (i < len && stanza[i] != ' ' && stanza[i] != '>' && stanza[i] != '/')
        i++;
    if (len > 0)
        m.count[kind_of(stanza + 1, i - 1, METRIC_OUT_MESSAGE)] += n;
}

void metrics_setup(const char *program, unsigned families, void (*collect)(void *ud), void *ud)
{
    m.program = program;
    m.families = families;
    m.collect = collect;
    m.ud = ud;
    metrics_set(METRIC_G_START_TIME, (double)(long long)xtime_wall());
}

int metrics_render(buf *out)
{
    if (m.collect)
        m.collect(m.ud);
    int rc = buf_printf(out,
                        "# HELP stoa_info the program and its version\n"
                        "# TYPE stoa_info gauge\n"
                        "stoa_info{program=\"%s\",version=\"%s\"} 1\n",
                        m.program ? m.program : "stoa", PACKAGE_VERSION);
    const char *last = NULL;
    for (int i = 0; i < METRIC__COUNT && rc == 0; i++) {
        const series *s = &table[i];
        if (s->type == GAUGE ? !m.set[i] : !(s->family & m.families))
            continue;
        if (!last || strcmp(last, s->name) != 0)
            rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
                            s->type == GAUGE ? "gauge" : "counter");
        last = s->name;
        if (rc == 0 && s->type == GAUGE)
            rc = buf_printf(out, "%s%s %.17g\n", s->name, s->labels, m.gauge[i]);
        else if (rc == 0)
            rc = buf_printf(out, "%s%s %llu\n", s->name, s->labels, m.count[i]);
    }
    return rc;
}

void metrics_reset(void)
{
    memset(&m, 0, sizeof m);
}
