/* settings: stoa-component's configuration file, its schema and defaults.
 *
 * Ownership: settings_load fills a settings struct whose strings it owns;
 * settings_free releases them. */
#ifndef STOA_SETTINGS_H
#define STOA_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define SETTINGS_RL_CLASSES 7 /* GATE_C__COUNT */
/* [muc] on_stop: what SIGTERM does to the occupants. */
enum { SETTINGS_STOP_KEEP = 0, SETTINGS_STOP_ANNOUNCE };

typedef struct settings {
    /* [component] */
    char *domain;
    char *secret; /* from secret, secret_file or STOA_COMPONENT_SECRET */
    char *secret_file;
    bool secret_in_file, password_in_file; /* the configuration text held them */
    char *server_host;
    long server_port;
    char *name;
    double keepalive;
    double reconnect_min, reconnect_max, connect_timeout;
    /* [limits] */
    size_t max_stanza_size;
    long max_depth, max_attributes, max_elements;
    /* [muc] */
    char *muc_topics; /* comma-separated topic categories */
    long muc_history, muc_history_max, muc_max_rooms, muc_archive_max;
    int muc_on_stop; /* SETTINGS_STOP_KEEP or SETTINGS_STOP_ANNOUNCE */
    long muc_recheck_rate;
    double muc_recheck_timeout;
    /* [redis] */
    bool redis_enabled;
    char *redis_host;
    long redis_port;
    char *redis_password; /* from password, password_file or STOA_REDIS_PASSWORD */
    char *redis_password_file;
    long redis_db;
    char *redis_prefix;
    /* [ratelimit]: per class in safety/gate.h order (room_message,
     * private_message, join, presence, invite, report, other) */
    bool rl_enabled;
    double rl_interval[SETTINGS_RL_CLASSES], rl_domain_interval[SETTINGS_RL_CLASSES];
    long rl_burst[SETTINGS_RL_CLASSES], rl_domain_burst[SETTINGS_RL_CLASSES];
    long rl_violations, rl_queue_max, rl_local_max;
    double rl_violation_window, rl_mute;
    /* [blocking] */
    bool blocking_enabled;
    char *spam_domains_file, *block_domains, *allow_domains, *only_domains;
    /* [links] */
    int links_policy; /* linkpol_action */
    long links_stranger_minutes;
    /* [desk] (abuse reports and the moderator desk, docs/safety.md) */
    char *desk_moderators;     /* comma-separated bare JIDs */
    char *desk_report_servers; /* comma-separated trusted server domains */
    double desk_report_retention, desk_escalate_window;
    long desk_escalate_reporters, desk_reports_per_minute, desk_audit_max;
    bool desk_forward_reports;
    /* [roster] (group rosters and who is online, docs/rosters.md) */
    bool roster_enabled;
    char *roster_admins; /* comma-separated bare JIDs; "": the desk's moderators */
    char *roster_groups; /* "Name: jid jid; Name2: jid" */
    long roster_rate, roster_group_max;
    double roster_permission_wait;
    /* [gateways] (stoa-gateway links, docs/gateway.md) */
    char *gateways_listen;
    long gateways_port; /* 0: no gateway listener */
    char *gateways_secret;
    char *gateways_host_domains; /* comma separated: traffic that stays on the host link */
    /* [rtbl] (real-time block lists, docs/safety.md) */
    char *rtbl_service; /* "": no lists */
    char *rtbl_hash_nodes, *rtbl_domain_nodes;
    long rtbl_max_items;
    /* [log] */
    int log_level; /* log_level value */
    bool log_syslog;
} settings;

extern const config_key settings_schema[];

/* Loads and validates path. Returns 0, or -1 with a message naming the file,
 * line and key in err. */
int settings_load(const char *path, settings *s, char *err, size_t errlen);
/* Same from text, for tests. */
int settings_load_string(const char *name, const char *text, settings *s, char *err, size_t errlen);
void settings_free(settings *s);
/* The configuration structs of the modules the settings feed. */
typedef enum {
    SETTINGS_SERVICE,  /* service_config (service.h): names, rooms, desk, prefix, blocking */
    SETTINGS_GATE,     /* gate_config (safety/gate.h) */
    SETTINGS_LINK,     /* complink_config (complink.h), but its stream options */
    SETTINGS_STREAM,   /* xstream_options (xstream.h): the link's limits and keepalive */
    SETTINGS_REDIS,    /* rdb_config (rdb.h) */
    SETTINGS_GATEWAYS, /* gateways_config (gateways.h), but host_domains and stream */
    SETTINGS_RTBL,     /* rtbl_config (safety/rtbl.h) */
} settings_target;

/* Copies into dst, a struct of target t already set to its defaults,
 * every setting that goes there: a table in settings.c says, for each
 * module field, which key of the schema feeds it, and the schema row says
 * where that key's value is and what type it has, so a key reaches a
 * module in one row. Strings point into s. -1 when a row of the table
 * names a key the schema lacks (a bug: the unit tests fill every target). */
int settings_fill(const settings *s, settings_target t, void *dst);

/* Refuses (-1, message in err) a file holding a secret that others may read
 * (config_check_private): the configuration file when it holds the secret
 * or the password itself, and each secret_file / password_file. */
int settings_check_private(const char *path, const settings *s, char *err, size_t errlen);
/* Splits [muc] topics into a NULL-terminated array of trimmed names; free
 * with settings_free_topics. NULL on OOM. */
char **settings_topics(const settings *s);
void settings_free_topics(char **topics);

#endif
