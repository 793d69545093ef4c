#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "complink.h"
#include "gateways.h"
#include "jid.h"
#include "log.h"
#include "rdb.h"
#include "safety/gate.h"
#include "safety/rtbl.h"
#include "roster/grp.h"
#include "service.h"

#define OFF(f) offsetof(settings, f)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
/* linkpol_names, in linkpol_action order. */
static const char *const link_policies[] = {"deliver", "mark", "hold", "reject", NULL};
/* SETTINGS_STOP_* order. */
static const char *const stop_modes[] = {"keep", "announce", NULL};

/* One stanza class's four rate-limit keys: seconds per token and bucket
 * size, for each bare JID and for each sender domain. */
// clang-format off
#define RL(cls, i, iv, b, div, db)                                                                 \
    {"ratelimit", cls "_interval", CFG_SECONDS, OFF(rl_interval[i]), iv, false, false, false,     \
     0, 86400, NULL, "seconds per " cls " stanza per sender once the burst is spent (0: no limit)"},\
    {"ratelimit", cls "_burst", CFG_INT, OFF(rl_burst[i]), b, false, false, false,                \
     1, 1000000, NULL, cls " stanzas a sender may send in a burst"},                               \
    {"ratelimit", cls "_domain_interval", CFG_SECONDS, OFF(rl_domain_interval[i]), div, false,     \
     false, false, 0, 86400, NULL, "seconds per " cls " stanza per sender domain (0: no limit)"},  \
    {"ratelimit", cls "_domain_burst", CFG_INT, OFF(rl_domain_burst[i]), db, false, false, false,  \
     1, 100000000, NULL, cls " stanzas one domain's users may send in a burst"}
// clang-format on

/* The one place every key, its default and its bounds are written down;
 * docs/configuration.md follows this table. */
const config_key settings_schema[] = {
    {"component", "domain", CFG_STRING, OFF(domain), NULL, true, false, false, 0, 0, NULL,
     "the component's own domain, as declared on the host server"},
    {"component", "secret", CFG_STRING, OFF(secret), NULL, false, false, true, 0, 0, NULL,
     "shared secret of the server's component listener (or secret_file)"},
    {"component", "secret_file", CFG_STRING, OFF(secret_file), "", false, false, false, 0, 0, NULL,
     "file whose one line is the secret (a Docker secret, a systemd credential)"},
    {"component", "server_host", CFG_STRING, OFF(server_host), "127.0.0.1", false, false, false, 0,
     0, NULL, "address of the host server's component listener"},
    {"component", "server_port", CFG_INT, OFF(server_port), "5347", false, false, false, 1, 65535,
     NULL, "port of the host server's component listener"},
    {"component", "name", CFG_STRING, OFF(name), "Stoa chat rooms", false, true, false, 0, 0, NULL,
     "name shown in service discovery"},
    {"component", "keepalive", CFG_SECONDS, OFF(keepalive), "60s", false, true, false, 0, 86400,
     NULL, "seconds of silence before a whitespace keepalive (0: off)"},
    {"component", "reconnect_min", CFG_SECONDS, OFF(reconnect_min), "250ms", false, false, false,
     0.01, 3600, NULL, "shortest delay before reconnecting"},
    {"component", "reconnect_max", CFG_SECONDS, OFF(reconnect_max), "30s", false, false, false,
     0.01, 3600, NULL, "longest delay before reconnecting"},
    {"component", "connect_timeout", CFG_SECONDS, OFF(connect_timeout), "10s", false, false, false,
     0.1, 600, NULL, "time allowed to connect and complete the handshake"},
    {"limits", "max_stanza_size", CFG_SIZE, OFF(max_stanza_size), "256k", false, true, false, 1024,
     64.0 * 1024 * 1024, NULL, "largest stanza accepted, in bytes"},
    {"limits", "max_depth", CFG_INT, OFF(max_depth), "32", false, true, false, 2, 1000, NULL,
     "deepest element nesting accepted inside a stanza"},
    {"limits", "max_attributes", CFG_INT, OFF(max_attributes), "64", false, true, false, 4, 10000,
     NULL, "most attributes accepted on one element"},
    {"limits", "max_elements", CFG_INT, OFF(max_elements), "4096", false, true, false, 8, 1000000,
     NULL, "most elements accepted in one stanza"},
    {"muc", "topics", CFG_STRING, OFF(muc_topics),
     "general, sports, movies, music, technology, games, books, news", false, false, false, 0, 0,
     NULL, "topic categories owners may file their rooms under, comma separated"},
    {"muc", "history", CFG_INT, OFF(muc_history), "20", false, false, false, 0, 1000, NULL,
     "messages of history a new room keeps and replays to newcomers"},
    {"muc", "history_max", CFG_INT, OFF(muc_history_max), "100", false, false, false, 0, 10000,
     NULL, "the most history an owner may configure"},
    {"muc", "archive_max", CFG_INT, OFF(muc_archive_max), "10000", false, false, false, 0,
     100000000, NULL, "messages kept per room in its Redis archive (MAM)"},
    {"muc", "max_rooms", CFG_INT, OFF(muc_max_rooms), "0", false, false, false, 0, 10000000, NULL,
     "the most rooms the service holds (0: no limit)"},
    {"muc", "on_stop", CFG_ENUM, OFF(muc_on_stop), "keep", false, true, false, 0, 0, stop_modes,
     "on SIGTERM: keep occupants for the next start, or announce the shutdown (332)"},
    {"muc", "recheck_rate", CFG_INT, OFF(muc_recheck_rate), "200", false, false, false, 1, 100000,
     NULL, "occupant checks sent a second after a restart or a lost link"},
    {"muc", "recheck_timeout", CFG_SECONDS, OFF(muc_recheck_timeout), "30s", false, false, false, 1,
     3600, NULL, "how long an occupant's client has to answer its check"},
    {"redis", "enabled", CFG_BOOL, OFF(redis_enabled), "true", false, false, false, 0, 0, NULL,
     "connect to Redis (shared state); false runs on local state only"},
    {"redis", "host", CFG_STRING, OFF(redis_host), "127.0.0.1", false, false, false, 0, 0, NULL,
     "Redis address, or a unix socket path starting with '/'"},
    {"redis", "port", CFG_INT, OFF(redis_port), "6379", false, false, false, 1, 65535, NULL,
     "Redis TCP port"},
    {"redis", "password", CFG_STRING, OFF(redis_password), NULL, false, false, true, 0, 0, NULL,
     "Redis AUTH password (empty: none; or password_file)"},
    {"redis", "password_file", CFG_STRING, OFF(redis_password_file), "", false, false, false, 0, 0,
     NULL, "file whose one line is the Redis password"},
    {"redis", "db", CFG_INT, OFF(redis_db), "0", false, false, false, 0, 1000, NULL,
     "Redis database number"},
    {"redis", "prefix", CFG_STRING, OFF(redis_prefix), "stoa:", false, false, false, 0, 0, NULL,
     "prefix of every Redis key Stoa writes"},
    {"ratelimit", "enabled", CFG_BOOL, OFF(rl_enabled), "true", false, false, false, 0, 0, NULL,
     "pass every stanza through the policy gate (bans, mutes, rate limits)"},
    /* Per sender: a person typing, a client rejoining its bookmarks or
     * sending a status change to every room it is in. Per domain: high
     * enough for a big server's users together, low enough to stop one
     * server flooding the service. */
    RL("room_message", 0, "1s", "10", "5ms", "2000"),
    RL("private_message", 1, "1s", "10", "5ms", "2000"),
    RL("join", 2, "1s", "30", "10ms", "1000"),
    RL("presence", 3, "500ms", "60", "5ms", "2000"),
    RL("invite", 4, "10s", "5", "100ms", "100"),
    RL("report", 5, "20s", "3", "200ms", "50"),
    RL("other", 6, "100ms", "100", "2ms", "5000"),
    {"ratelimit", "violations", CFG_INT, OFF(rl_violations), "10", false, false, false, 0, 100000,
     NULL, "refusals within violation_window that mute the sender (0: never mute)"},
    {"ratelimit", "violation_window", CFG_SECONDS, OFF(rl_violation_window), "60s", false, false,
     false, 1, 86400, NULL, "window over which rate-limit refusals are counted"},
    {"ratelimit", "mute", CFG_SECONDS, OFF(rl_mute), "5m", false, false, false, 1, 604800, NULL,
     "how long repeated violations mute a sender"},
    {"ratelimit", "queue_max", CFG_INT, OFF(rl_queue_max), "10000", false, false, false, 1,
     10000000, NULL, "stanzas that may wait for Redis's verdict before new ones are refused"},
    {"ratelimit", "local_max", CFG_INT, OFF(rl_local_max), "100000", false, false, false, 16,
     100000000, NULL, "local buckets and cached decisions kept for when Redis is away"},
    {"blocking", "enabled", CFG_BOOL, OFF(blocking_enabled), "true", false, false, false, 0, 0,
     NULL, "per-user blocking (XEP-0191) and the domain lists below"},
    {"blocking", "spam_domains_file", CFG_STRING, OFF(spam_domains_file), "", false, false, false,
     0, 0, NULL, "community spam-domain list, one domain a line (re-read on SIGHUP)"},
    {"blocking", "block_domains", CFG_STRING, OFF(block_domains), "", false, false, false, 0, 0,
     NULL, "domains whose users are refused, comma separated"},
    {"blocking", "allow_domains", CFG_STRING, OFF(allow_domains), "", false, false, false, 0, 0,
     NULL, "domains exempt from the spam-domain list, comma separated"},
    {"blocking", "only_domains", CFG_STRING, OFF(only_domains), "", false, false, false, 0, 0, NULL,
     "if set, only users of these domains are served, comma separated"},
    {"links", "policy", CFG_ENUM, OFF(links_policy), "reject", false, false, false, 0, 0,
     link_policies, "links and files from strangers: deliver, mark, hold or reject"},
    {"links", "stranger_minutes", CFG_INT, OFF(links_stranger_minutes), "10", false, false, false,
     0, 100000, NULL, "minutes a newcomer without affiliation counts as a stranger"},
    {"desk", "moderators", CFG_STRING, OFF(desk_moderators), "", false, false, false, 0, 0, NULL,
     "bare JIDs of the service moderators, comma separated"},
    {"desk", "report_servers", CFG_STRING, OFF(desk_report_servers), "", false, false, false, 0, 0,
     NULL, "server domains trusted to forward their users' blocking requests, comma separated"},
    {"desk", "report_retention", CFG_SECONDS, OFF(desk_report_retention), "720h", false, false,
     false, 60, 315360000, NULL, "how long a report is kept after its last repetition"},
    {"desk", "escalate_reporters", CFG_INT, OFF(desk_escalate_reporters), "3", false, false, false,
     2, 1000, NULL, "distinct reporters that mute a JID service-wide until a decision"},
    {"desk", "escalate_window", CFG_SECONDS, OFF(desk_escalate_window), "24h", false, false, false,
     60, 31536000, NULL, "the time within which those reports must arrive"},
    {"desk", "reports_per_minute", CFG_INT, OFF(desk_reports_per_minute), "10", false, false, false,
     1, 10000, NULL, "reports one reporter may file per minute"},
    {"desk", "audit_max", CFG_INT, OFF(desk_audit_max), "10000", false, false, false, 100,
     100000000, NULL, "entries kept in the audit log"},
    {"desk", "forward_reports", CFG_BOOL, OFF(desk_forward_reports), "false", false, false, false,
     0, 0, NULL,
     "when a service moderator acts on a report about a user of a remote domain, forward it to "
     "that domain's abuse addresses (XEP-0157)"},
    {"roster", "enabled", CFG_BOOL, OFF(roster_enabled), "false", false, false, false, 0, 0, NULL,
     "group rosters and who is online for the host server's users (XEP-0356)"},
    {"roster", "admins", CFG_STRING, OFF(roster_admins), "", false, false, false, 0, 0, NULL,
     "bare JIDs who manage the groups, comma separated (empty: [desk] moderators)"},
    {"roster", "groups", CFG_STRING, OFF(roster_groups), "", false, false, false, 0, 0, NULL,
     "groups created at start: 'Name: jid jid ...; Other: jid ...'"},
    {"roster", "rate", CFG_INT, OFF(roster_rate), "200", false, false, false, 1, 100000, NULL,
     "roster items written to the host per second"},
    {"roster", "group_max", CFG_INT, OFF(roster_group_max), "10000", false, false, false, 2,
     1000000, NULL, "members of one group"},
    {"roster", "permission_wait", CFG_SECONDS, OFF(roster_permission_wait), "10s", false, false,
     false, 1, 3600, NULL, "how long to wait for the host's privilege message before saying so"},
    {"gateways", "listen", CFG_STRING, OFF(gateways_listen), "127.0.0.1", false, false, false, 0, 0,
     NULL, "address where stoa-gateway processes connect"},
    {"gateways", "port", CFG_INT, OFF(gateways_port), "0", false, false, false, 0, 65535, NULL,
     "port of the gateway listener (0: no gateway)"},
    {"gateways", "secret", CFG_STRING, OFF(gateways_secret), "", false, false, true, 0, 0, NULL,
     "the secret gateways authenticate with"},
    {"gateways", "host_domains", CFG_STRING, OFF(gateways_host_domains), "", false, false, false, 0,
     0, NULL,
     "the host server's domains (and their subdomains), comma separated: their "
     "traffic stays on the host link, any other domain's goes through a gateway"},
    {"rtbl", "service", CFG_STRING, OFF(rtbl_service), "", false, false, false, 0, 0, NULL,
     "JID of the pubsub service publishing the real-time block lists (e.g. xmppbl.org); "
     "empty: none"},
    {"rtbl", "hash_nodes", CFG_STRING, OFF(rtbl_hash_nodes), "muc_bans_sha256", false, false, false,
     0, 0, NULL,
     "nodes whose item ids are SHA-256 hashes of bare JIDs or domains, comma separated"},
    {"rtbl", "domain_nodes", CFG_STRING, OFF(rtbl_domain_nodes), "", false, false, false, 0, 0,
     NULL, "nodes whose item ids are domain names (e.g. spam_source_domains), comma separated"},
    {"rtbl", "max_items", CFG_INT, OFF(rtbl_max_items), "100000", false, false, false, 1, 10000000,
     NULL, "the most items applied from one node"},
    {"log", "level", CFG_ENUM, OFF(log_level), "info", false, true, false, 0, 0, log_levels,
     "least severe level logged"},
    {"log", "syslog", CFG_BOOL, OFF(log_syslog), "false", false, false, false, 0, 0, NULL,
     "log to syslog instead of stderr"},
    {NULL, NULL, 0, 0, NULL, false, false, false, 0, 0, NULL, NULL},
};

/* [roster] groups is only checked here; the roster seeds the groups. */
static int count_member(void *ud, const char *name, const char *member)
{
    (void)ud;
    (void)name;
    (void)member;
    return 0;
}

/* ---- from the settings to the modules ---- */

_Static_assert(SETTINGS_RL_CLASSES == GATE_C__COUNT, "one rate limit per gate class");

/* How a value is stored in the module's field. */
typedef enum { AS_STR, AS_BOOL, AS_INT, AS_UINT, AS_DOUBLE, AS_SIZE, AS_MINUTES } as_type;

typedef struct binding {
    settings_target to;
    size_t off; /* of the field in the target's struct */
    as_type as;
    const char *section, *name; /* the schema's key */
} binding;

#define SVC(f) SETTINGS_SERVICE, offsetof(service_config, f)
#define GATE(f) SETTINGS_GATE, offsetof(gate_config, f)
#define LINK(f) SETTINGS_LINK, offsetof(complink_config, f)
#define STREAM(f) SETTINGS_STREAM, offsetof(xstream_options, f)
#define REDIS(f) SETTINGS_REDIS, offsetof(rdb_config, f)
#define GATEWAYS(f) SETTINGS_GATEWAYS, offsetof(gateways_config, f)
#define RTBL(f) SETTINGS_RTBL, offsetof(rtbl_config, f)
/* One stanza class's four limits, in gate_config's buckets. */
#define RL_TO(cls, i)                                                                              \
    {GATE(jid[i].interval), AS_DOUBLE, "ratelimit", cls "_interval"},                              \
        {GATE(jid[i].burst), AS_DOUBLE, "ratelimit", cls "_burst"},                                \
        {GATE(dom[i].interval), AS_DOUBLE, "ratelimit", cls "_domain_interval"},                   \
    {                                                                                              \
        GATE(dom[i].burst), AS_DOUBLE, "ratelimit", cls "_domain_burst"                            \
    }

static const binding bindings[] = {
    {SVC(domain), AS_STR, "component", "domain"},
    {SVC(name), AS_STR, "component", "name"},
    {SVC(muc.history_default), AS_UINT, "muc", "history"},
    {SVC(muc.history_max), AS_UINT, "muc", "history_max"},
    {SVC(muc.max_rooms), AS_UINT, "muc", "max_rooms"},
    {SVC(muc.recheck_rate), AS_DOUBLE, "muc", "recheck_rate"},
    {SVC(muc.recheck_timeout), AS_DOUBLE, "muc", "recheck_timeout"},
    {SVC(muc.links_policy), AS_INT, "links", "policy"},
    {SVC(muc.stranger_seconds), AS_MINUTES, "links", "stranger_minutes"},
    {SVC(desk.moderators), AS_STR, "desk", "moderators"},
    {SVC(desk.report_servers), AS_STR, "desk", "report_servers"},
    {SVC(desk.report_retention), AS_DOUBLE, "desk", "report_retention"},
    {SVC(desk.escalate_window), AS_DOUBLE, "desk", "escalate_window"},
    {SVC(desk.escalate_reporters), AS_UINT, "desk", "escalate_reporters"},
    {SVC(desk.reports_per_minute), AS_UINT, "desk", "reports_per_minute"},
    {SVC(desk.audit_max), AS_UINT, "desk", "audit_max"},
    {SVC(desk.forward_reports), AS_BOOL, "desk", "forward_reports"},
    {SVC(roster.enabled), AS_BOOL, "roster", "enabled"},
    {SVC(roster.admins), AS_STR, "roster", "admins"},
    {SVC(roster.groups), AS_STR, "roster", "groups"},
    {SVC(roster.rate), AS_DOUBLE, "roster", "rate"},
    {SVC(roster.group_max), AS_UINT, "roster", "group_max"},
    {SVC(roster.permission_wait), AS_DOUBLE, "roster", "permission_wait"},
    {SVC(prefix), AS_STR, "redis", "prefix"},
    {SVC(archive_max), AS_UINT, "muc", "archive_max"},
    {SVC(blocking), AS_BOOL, "blocking", "enabled"},
    {GATE(enabled), AS_BOOL, "ratelimit", "enabled"},
    {GATE(domains_enabled), AS_BOOL, "blocking", "enabled"},
    {GATE(prefix), AS_STR, "redis", "prefix"},
    {GATE(violations), AS_UINT, "ratelimit", "violations"},
    {GATE(violation_window), AS_DOUBLE, "ratelimit", "violation_window"},
    {GATE(mute_seconds), AS_DOUBLE, "ratelimit", "mute"},
    {GATE(queue_max), AS_SIZE, "ratelimit", "queue_max"},
    {GATE(local_max), AS_SIZE, "ratelimit", "local_max"},
    {GATE(block_domains), AS_STR, "blocking", "block_domains"},
    {GATE(allow_domains), AS_STR, "blocking", "allow_domains"},
    {GATE(only_domains), AS_STR, "blocking", "only_domains"},
    RL_TO("room_message", 0),
    RL_TO("private_message", 1),
    RL_TO("join", 2),
    RL_TO("presence", 3),
    RL_TO("invite", 4),
    RL_TO("report", 5),
    RL_TO("other", 6),
    {LINK(host), AS_STR, "component", "server_host"},
    {LINK(port), AS_INT, "component", "server_port"},
    {LINK(domain), AS_STR, "component", "domain"},
    {LINK(secret), AS_STR, "component", "secret"},
    {LINK(connect_timeout), AS_DOUBLE, "component", "connect_timeout"},
    {LINK(backoff_min), AS_DOUBLE, "component", "reconnect_min"},
    {LINK(backoff_max), AS_DOUBLE, "component", "reconnect_max"},
    {STREAM(limits.max_stanza_bytes), AS_SIZE, "limits", "max_stanza_size"},
    {STREAM(limits.max_depth), AS_UINT, "limits", "max_depth"},
    {STREAM(limits.max_attrs), AS_UINT, "limits", "max_attributes"},
    {STREAM(limits.max_elements), AS_UINT, "limits", "max_elements"},
    {STREAM(keepalive), AS_DOUBLE, "component", "keepalive"},
    {REDIS(host), AS_STR, "redis", "host"},
    {REDIS(port), AS_INT, "redis", "port"},
    {REDIS(password), AS_STR, "redis", "password"},
    {REDIS(db), AS_INT, "redis", "db"},
    {REDIS(backoff_min), AS_DOUBLE, "component", "reconnect_min"},
    {REDIS(backoff_max), AS_DOUBLE, "component", "reconnect_max"},
    {GATEWAYS(listen), AS_STR, "gateways", "listen"},
    {GATEWAYS(port), AS_INT, "gateways", "port"},
    {GATEWAYS(secret), AS_STR, "gateways", "secret"},
    {GATEWAYS(domain), AS_STR, "component", "domain"},
    {GATEWAYS(handshake_timeout), AS_DOUBLE, "component", "connect_timeout"},
    {RTBL(service), AS_STR, "rtbl", "service"},
    {RTBL(hash_nodes), AS_STR, "rtbl", "hash_nodes"},
    {RTBL(domain_nodes), AS_STR, "rtbl", "domain_nodes"},
    {RTBL(max_items), AS_SIZE, "rtbl", "max_items"},
    {RTBL(jid), AS_STR, "component", "domain"},
    {RTBL(prefix), AS_STR, "redis", "prefix"},
};

static const config_key *schema_key(const char *section, const char *name)
{
    for (const config_key *k = settings_schema; k->name; k++)
        if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* A number-like setting as a double (exact for every bound the schema
 * allows but sizes, which are copied as they are). */
static double number_of(const config_key *k, const void *v)
{
    switch (k->type) {
    case CFG_INT:
        return (double)*(const long *)v;
    case CFG_BOOL:
        return *(const bool *)v;
    case CFG_SECONDS:
        return *(const double *)v;
    case CFG_SIZE:
        return (double)*(const size_t *)v;
    case CFG_ENUM:
        return *(const int *)v;
    case CFG_STRING:
        break;
    }
    return 0;
}

int settings_fill(const settings *s, settings_target t, void *dst)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof bindings / sizeof bindings[0]; i++) {
        const binding *b = &bindings[i];
        if (b->to != t)
            continue;
        const config_key *k = schema_key(b->section, b->name);
        if (!k) {
            rc = -1;
            continue;
        }
        const void *v = (const char *)s + k->offset;
        void *f = (char *)dst + b->off;
        double x = number_of(k, v);
        switch (b->as) {
        case AS_STR:
            *(const char **)f = *(char *const *)v;
            break;
        case AS_BOOL:
            *(bool *)f = x != 0;
            break;
        case AS_INT:
            *(int *)f = (int)x;
            break;
        case AS_UINT:
            *(unsigned *)f = (unsigned)x;
            break;
        case AS_DOUBLE:
            *(double *)f = x;
            break;
        case AS_SIZE:
            *(size_t *)f = k->type == CFG_SIZE ? *(const size_t *)v : (size_t)x;
            break;
        case AS_MINUTES:
            *(double *)f = x * 60;
            break;
        }
    }
    return rc;
}

/* A secret comes from its key, from KEY_file, or else from the environment
 * (for containers): one source only, so that which one won is never a
 * question. `required`: none of the three is an error; otherwise "". */
static int take_secret(const char *name, const char *section, const char *key, char **value,
                       const char *file, const char *env, bool required, char *err, size_t errlen)
{
    if (*value && file[0]) {
        snprintf(err, errlen, "%s: [%s] %s and %s_file are both set: keep one", name, section, key,
                 key);
        return -1;
    }
    if (file[0]) {
        char why[400];
        if (config_read_secret(file, value, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: [%s] %s_file: %s", name, section, key, why);
            return -1;
        }
        return 0;
    }
    const char *from_env = *value ? NULL : getenv(env);
    if (from_env && from_env[0])
        *value = strdup(from_env);
    else if (!*value && !required)
        *value = strdup("");
    else if (!*value) {
        snprintf(err, errlen, "%s: [%s] %s is required (or %s_file, or %s in the environment)",
                 name, section, key, key, env);
        return -1;
    }
    if (!*value) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    return 0;
}

/* Checks that go beyond one key's type: they need jid.c or two keys. */
static int validate(const char *name, settings *s, char *err, size_t errlen)
{
    s->secret_in_file = s->secret && s->secret[0];
    s->password_in_file = s->redis_password && s->redis_password[0];
    if (take_secret(name, "component", "secret", &s->secret, s->secret_file,
                    "STOA_COMPONENT_SECRET", true, err, errlen) < 0 ||
        take_secret(name, "redis", "password", &s->redis_password, s->redis_password_file,
                    "STOA_REDIS_PASSWORD", false, err, errlen) < 0)
        return -1;
    jid j;
    jid_err je = jid_parse(s->domain, &j);
    if (je != JID_OK || j.local || j.resource) {
        snprintf(err, errlen, "%s: [component] domain: '%s' is not a valid domain%s%s", name,
                 s->domain, je != JID_OK ? ": " : "", je != JID_OK ? jid_strerror(je) : "");
        if (je == JID_OK)
            jid_free(&j);
        return -1;
    }
    /* Store the normalized form: every later comparison is against
     * normalized addresses. */
    char *norm = jid_full(&j);
    jid_free(&j);
    if (!norm) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    free(s->domain);
    s->domain = norm;
    if (s->secret[0] == '\0') {
        snprintf(err, errlen, "%s: [component] secret must not be empty", name);
        return -1;
    }
    if (s->muc_history > s->muc_history_max) {
        snprintf(err, errlen, "%s: [muc] history must not exceed history_max", name);
        return -1;
    }
    /* The address lists, parsed here so that -t catches a typo before the
     * daemon runs. */
    const struct {
        const char *section, *key, *what, *value;
        jid_list_kind kind;
    } lists[] = {
        {"blocking", "block_domains", "a domain", s->block_domains, JID_LIST_DOMAINS},
        {"blocking", "allow_domains", "a domain", s->allow_domains, JID_LIST_DOMAINS},
        {"blocking", "only_domains", "a domain", s->only_domains, JID_LIST_DOMAINS},
        {"desk", "moderators", "a bare user JID", s->desk_moderators, JID_LIST_USERS},
        {"desk", "report_servers", "a domain", s->desk_report_servers, JID_LIST_DOMAINS},
        {"roster", "admins", "a bare user JID", s->roster_admins, JID_LIST_USERS},
        {"gateways", "host_domains", "a domain", s->gateways_host_domains, JID_LIST_DOMAINS},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char bad[256];
        char **l = jid_list_parse(lists[i].value, lists[i].kind, bad, sizeof bad);
        if (!l) {
            snprintf(err, errlen, "%s: [%s] %s: '%s' is not %s", name, lists[i].section,
                     lists[i].key, bad, lists[i].what);
            return -1;
        }
        config_list_free(l);
    }
    char gerr[300];
    if (grp_parse_config(s->roster_groups, (size_t)s->roster_group_max, count_member, NULL, gerr,
                         sizeof gerr) < 0) {
        snprintf(err, errlen, "%s: [roster] groups: %s", name, gerr);
        return -1;
    }
    if (s->gateways_port > 0 && !s->gateways_secret[0]) {
        snprintf(err, errlen, "%s: [gateways] secret must be set when port is", name);
        return -1;
    }
    if (s->reconnect_min > s->reconnect_max) {
        snprintf(err, errlen, "%s: [component] reconnect_min must not exceed reconnect_max", name);
        return -1;
    }
    return 0;
}

int settings_load(const char *path, settings *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (config_load(path, settings_schema, s, err, errlen) < 0 ||
        validate(path, s, err, errlen) < 0) {
        settings_free(s);
        return -1;
    }
    return 0;
}

int settings_load_string(const char *name, const char *text, settings *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (config_load_string(name, text, settings_schema, s, err, errlen) < 0 ||
        validate(name, s, err, errlen) < 0) {
        settings_free(s);
        return -1;
    }
    return 0;
}

int settings_check_private(const char *path, const settings *s, char *err, size_t errlen)
{
    /* A view holding only the secrets the checked file itself holds. */
    settings view = *s;
    view.secret = s->secret_in_file ? s->secret : NULL;
    view.redis_password = s->password_in_file ? s->redis_password : NULL;
    if (config_check_private(path, settings_schema, &view, err, errlen) < 0)
        return -1;
    const struct {
        const char *file;
        char **slot;
        char *value;
    } files[] = {
        {s->secret_file, &view.secret, s->secret},
        {s->redis_password_file, &view.redis_password, s->redis_password},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!files[i].file[0])
            continue;
        view.secret = view.redis_password = NULL;
        *files[i].slot = files[i].value;
        if (config_check_private(files[i].file, settings_schema, &view, err, errlen) < 0)
            return -1;
    }
    return 0;
}

void settings_free(settings *s)
{
    config_free_values(settings_schema, s);
    memset(s, 0, sizeof *s);
}

char **settings_topics(const settings *s)
{
    return config_list(s->muc_topics);
}

void settings_free_topics(char **topics)
{
    config_list_free(topics);
}
