/* gwset: stoa-gateway's configuration file, its schema and defaults.
 *
 * Ownership: gwset_load fills a gwset struct whose strings it owns;
 * gwset_free releases them. */
#ifndef STOA_GW_SETTINGS_H
#define STOA_GW_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* [edge] links: the index of its choice. */
enum { GW_LINKS_DELIVER = 0, GW_LINKS_REJECT = 1 };

typedef struct gwset {
    /* [gateway] */
    char *domains;      /* comma-separated Stoa domains served */
    char **domain_list; /* the same, normalized, NULL-terminated */
    /* [component]: the link to stoa-component */
    char *component_host;
    long component_port;
    char *component_secret;
    double reconnect_min, reconnect_max, connect_timeout;
    /* [s2s] */
    char *listen;      /* address for server-to-server connections */
    long port;         /* STARTTLS port (5269) */
    long tls_port;     /* direct TLS port (XEP-0368, 5270; 0: off) */
    char *dns_servers; /* "ip:port,…"; empty: /etc/resolv.conf */
    double dns_timeout;
    double setup_timeout, idle_timeout, connect_attempt_timeout;
    long queue_max; /* stanzas held per remote domain while connecting */
    bool dialback;
    bool require_valid_certificate;
    char *dialback_secret;
    /* [tls] */
    char *certificate, *key, *ca_file, *priority;
    /* [limits] */
    size_t max_stanza_size;
    long max_depth, max_attributes, max_elements;
    double keepalive;
    /* [redis]: the state the component keeps (bans, blocks, buckets) */
    bool redis_enabled;
    char *redis_host, *redis_password, *redis_prefix;
    long redis_port, redis_db;
    /* [edge]: the safety policy at the boundary (gateway/edge.h) */
    char *block_domains, *only_domains, *allow_domains;
    bool rate_enabled;
    double jid_interval, domain_interval;
    long jid_burst, domain_burst, violations;
    double violation_window, mute;
    long max_streams_per_domain;
    int links; /* GW_LINKS_DELIVER or GW_LINKS_REJECT */
    /* [log] */
    char *metrics_address;
    long metrics_port; /* 0: no endpoint */
    int log_level;
    bool log_syslog;
} gwset;

extern const config_key gwset_schema[];

/* Loads and validates path. 0, or -1 with a message naming the file, line
 * and key in err. */
int gwset_load(const char *path, gwset *s, char *err, size_t errlen);
int gwset_load_string(const char *name, const char *text, gwset *s, char *err, size_t errlen);
void gwset_free(gwset *s);

#endif
