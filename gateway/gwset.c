#include "gwset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

#define OFF(f) offsetof(gwset, f)

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
/* GW_LINKS_*: the edge cannot mark or hold, as rooms can. */
static const char *const link_choices[] = {"deliver", "reject", NULL};

// clang-format off
/* The one place every key, its default and its bounds are written down;
 * stoa-gateway(8) and gateway/stoa-gateway.conf.example follow it. */
const config_key gwset_schema[] = {
    {"gateway", "domains", CFG_STRING, OFF(domains), NULL, true, false, false, 0, 0, NULL,
     "the Stoa domains this gateway serves to the federation, comma separated"},
    {"component", "host", CFG_STRING, OFF(component_host), "127.0.0.1", false, false, false, 0, 0,
     NULL, "address of stoa-component's gateway listener"},
    {"component", "port", CFG_INT, OFF(component_port), "5348", false, false, false, 1, 65535,
     NULL, "port of stoa-component's gateway listener"},
    {"component", "secret", CFG_STRING, OFF(component_secret), NULL, true, false, true, 0, 0, NULL,
     "the secret shared with stoa-component ([gateways] secret there)"},
    {"component", "reconnect_min", CFG_SECONDS, OFF(reconnect_min), "250ms", false, false, false,
     0.01, 3600, NULL, "shortest delay before reconnecting to the component"},
    {"component", "reconnect_max", CFG_SECONDS, OFF(reconnect_max), "30s", false, false, false,
     0.01, 3600, NULL, "longest delay before reconnecting to the component"},
    {"component", "connect_timeout", CFG_SECONDS, OFF(connect_timeout), "10s", false, false, false,
     0.1, 600, NULL, "time allowed to connect to the component and complete the handshake"},
    {"s2s", "listen", CFG_STRING, OFF(listen), "0.0.0.0", false, false, false, 0, 0, NULL,
     "address remote servers connect to"},
    {"s2s", "port", CFG_INT, OFF(port), "5269", false, false, false, 1, 65535, NULL,
     "server-to-server port (STARTTLS)"},
    {"s2s", "tls_port", CFG_INT, OFF(tls_port), "0", false, false, false, 0, 65535, NULL,
     "direct TLS port (XEP-0368, usually 5270; 0: none)"},
    {"s2s", "dns_servers", CFG_STRING, OFF(dns_servers), "", false, false, false, 0, 0, NULL,
     "DNS servers as ip:port, comma separated (empty: /etc/resolv.conf)"},
    {"s2s", "dns_timeout", CFG_SECONDS, OFF(dns_timeout), "5s", false, false, false, 0.1, 60, NULL,
     "time allowed for one DNS query"},
    {"s2s", "connect_timeout", CFG_SECONDS, OFF(connect_attempt_timeout), "10s", false, false,
     false, 0.1, 600, NULL, "time allowed to connect to one address of a remote server"},
    {"s2s", "setup_timeout", CFG_SECONDS, OFF(setup_timeout), "30s", false, false, false, 1, 600,
     NULL, "time a stream has to authenticate before it is closed"},
    {"s2s", "idle_timeout", CFG_SECONDS, OFF(idle_timeout), "10m", false, false, false, 0, 86400,
     NULL, "a stream without stanzas for this long is closed (0: never)"},
    {"s2s", "queue_max", CFG_INT, OFF(queue_max), "1000", false, false, false, 1, 1000000, NULL,
     "stanzas held for a remote domain while its stream is set up"},
    {"s2s", "dialback", CFG_BOOL, OFF(dialback), "true", false, false, false, 0, 0, NULL,
     "server dialback (XEP-0220) where SASL EXTERNAL cannot be used"},
    {"s2s", "require_valid_certificate", CFG_BOOL, OFF(require_valid_certificate), "true", false,
     false, false, 0, 0, NULL, "refuse peers whose certificate does not verify, dialback or not"},
    {"s2s", "dialback_secret", CFG_STRING, OFF(dialback_secret), NULL, true, false, true, 0, 0,
     NULL, "the key of our dialback keys (XEP-0185); the same on every instance"},
    {"tls", "certificate", CFG_STRING, OFF(certificate), NULL, true, false, false, 0, 0, NULL,
     "PEM certificate chain for the served domains (DNS-ID and SRV-ID names)"},
    {"tls", "key", CFG_STRING, OFF(key), NULL, true, false, false, 0, 0, NULL,
     "PEM private key of the certificate"},
    {"tls", "ca_file", CFG_STRING, OFF(ca_file), "", false, false, false, 0, 0, NULL,
     "PEM trust anchors for peers' certificates (empty: the system's)"},
    {"tls", "priority", CFG_STRING, OFF(priority), "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-SSL3.0",
     false, false, false, 0, 0, NULL, "GnuTLS priority string (RFC 7590: TLS 1.2 and later)"},
    {"limits", "max_stanza_size", CFG_SIZE, OFF(max_stanza_size), "512k", false, false, false,
     1024, 64.0 * 1024 * 1024, NULL, "largest stanza a remote server may send, in bytes"},
    {"limits", "max_depth", CFG_INT, OFF(max_depth), "32", false, false, false, 2, 1000, NULL,
     "deepest element nesting accepted inside a stanza"},
    {"limits", "max_attributes", CFG_INT, OFF(max_attributes), "64", false, false, false, 4,
     10000, NULL, "most attributes accepted on one element"},
    {"limits", "max_elements", CFG_INT, OFF(max_elements), "4096", false, false, false, 8, 1000000,
     NULL, "most elements accepted in one stanza"},
    {"limits", "keepalive", CFG_SECONDS, OFF(keepalive), "60s", false, false, false, 0, 86400,
     NULL, "seconds of silence before a whitespace keepalive (0: off)"},
    {"redis", "enabled", CFG_BOOL, OFF(redis_enabled), "true", false, false, false, 0, 0, NULL,
     "share bans, domain blocks and rate limits with stoa-component through Redis"},
    {"redis", "host", CFG_STRING, OFF(redis_host), "127.0.0.1", false, false, false, 0, 0, NULL,
     "Redis address (IP) or unix socket path; the component's"},
    {"redis", "port", CFG_INT, OFF(redis_port), "6379", false, false, false, 1, 65535, NULL,
     "Redis TCP port"},
    {"redis", "password", CFG_STRING, OFF(redis_password), "", false, false, true, 0, 0, NULL,
     "Redis AUTH password (empty: none)"},
    {"redis", "db", CFG_INT, OFF(redis_db), "0", false, false, false, 0, 1000, NULL,
     "Redis database number; the component's"},
    {"redis", "prefix", CFG_STRING, OFF(redis_prefix), "stoa:", false, false, false, 0, 0, NULL,
     "key prefix; the component's, so both read the same bans and blocks"},
    {"edge", "block_domains", CFG_STRING, OFF(block_domains), "", false, false, false, 0, 0, NULL,
     "remote domains refused at stream open (besides the desk's blocks in Redis)"},
    {"edge", "only_domains", CFG_STRING, OFF(only_domains), "", false, false, false, 0, 0, NULL,
     "allow-list mode when set: only these partner domains federate"},
    {"edge", "allow_domains", CFG_STRING, OFF(allow_domains), "", false, false, false, 0, 0, NULL,
     "partner domains: exempt from the spam-domain list and the link policy"},
    {"edge", "ratelimit", CFG_BOOL, OFF(rate_enabled), "true", false, false, false, 0, 0, NULL,
     "rate limits on remote senders (per JID and per domain, shared through Redis)"},
    {"edge", "jid_interval", CFG_SECONDS, OFF(jid_interval), "1s", false, false, false, 0, 3600,
     NULL, "one remote JID earns a stanza every this long (0: no limit)"},
    {"edge", "jid_burst", CFG_INT, OFF(jid_burst), "30", false, false, false, 1, 1000000, NULL,
     "stanzas one remote JID may send at once"},
    {"edge", "domain_interval", CFG_SECONDS, OFF(domain_interval), "20ms", false, false, false, 0,
     3600, NULL, "one remote domain earns a stanza every this long (0: no limit)"},
    {"edge", "domain_burst", CFG_INT, OFF(domain_burst), "500", false, false, false, 1, 10000000,
     NULL, "stanzas one remote domain may send at once"},
    {"edge", "violations", CFG_INT, OFF(violations), "10", false, false, false, 0, 100000, NULL,
     "refusals within violation_window that mute a remote JID (0: never)"},
    {"edge", "violation_window", CFG_SECONDS, OFF(violation_window), "60s", false, false, false, 1,
     86400, NULL, "the window violations are counted over"},
    {"edge", "mute", CFG_SECONDS, OFF(mute), "5m", false, false, false, 1, 604800, NULL,
     "how long such a mute lasts"},
    {"edge", "max_streams_per_domain", CFG_INT, OFF(max_streams_per_domain), "8", false, false,
     false, 1, 10000, NULL, "authenticated incoming streams one remote domain may hold"},
    {"edge", "links", CFG_ENUM, OFF(links), "deliver", false, false, false, 0, 0, link_choices,
     "messages with links or file offers from domains outside allow_domains"},
    {"metrics", "address", CFG_STRING, OFF(metrics_address), "127.0.0.1", false, false, false, 0,
     0, NULL, "numeric address of the metrics and health endpoint (keep it on loopback)"},
    {"metrics", "port", CFG_INT, OFF(metrics_port), "0", false, false, false, 0, 65535, NULL,
     "port of the metrics and health endpoint, /metrics and /health (0: none)"},
    {"log", "level", CFG_ENUM, OFF(log_level), "info", false, true, false, 0, 0, log_levels,
     "least severe level logged"},
    {"log", "syslog", CFG_BOOL, OFF(log_syslog), "false", false, false, false, 0, 0, NULL,
     "log to syslog instead of stderr"},
    {NULL, NULL, 0, 0, NULL, false, false, false, 0, 0, NULL, NULL},
};
// clang-format on

static int validate(const char *name, gwset *s, char *err, size_t errlen)
{
    char bad[256];
    s->domain_list = jid_list_parse(s->domains, JID_LIST_DOMAINS, bad, sizeof bad);
    if (!s->domain_list || !s->domain_list[0]) {
        snprintf(err, errlen, "%s: [gateway] domains: '%s' is not a domain", name,
                 s->domain_list ? "" : bad);
        return -1;
    }
    if (!s->component_secret[0] || !s->dialback_secret[0]) {
        snprintf(err, errlen, "%s: [component] secret and [s2s] dialback_secret must not be empty",
                 name);
        return -1;
    }
    if (s->reconnect_min > s->reconnect_max) {
        snprintf(err, errlen, "%s: [component] reconnect_min must not exceed reconnect_max", name);
        return -1;
    }
    return 0;
}

int gwset_load(const char *path, gwset *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (config_load(path, gwset_schema, s, err, errlen) < 0 || validate(path, s, err, errlen) < 0) {
        gwset_free(s);
        return -1;
    }
    return 0;
}

int gwset_load_string(const char *name, const char *text, gwset *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (config_load_string(name, text, gwset_schema, s, err, errlen) < 0 ||
        validate(name, s, err, errlen) < 0) {
        gwset_free(s);
        return -1;
    }
    return 0;
}

void gwset_free(gwset *s)
{
    config_list_free(s->domain_list);
    config_free_values(gwset_schema, s);
    memset(s, 0, sizeof *s);
}
