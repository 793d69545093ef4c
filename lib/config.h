/* config: INI-style configuration files described by a schema.
 *
 *   # comment            ; comment
 *   [section]
 *   key = value          (surrounding whitespace trimmed; "quoted values"
 *                         keep their spaces and may hold # and ;)
 *
 * The caller describes every key it accepts (section, name, type, bounds,
 * default, whether it is required, whether SIGHUP may change it) and where to
 * store it in the caller's struct. Loading fails on the first problem with a
 * message naming the file, the line and the key, e.g.
 *   "/etc/stoa/stoa.conf:12: [component] unknown key 'secert'"
 * so that a daemon can print it and exit before touching the network.
 *
 * Ownership: string values are malloc'ed into the caller's struct;
 * config_free_values() frees them. */
#ifndef STOA_CONFIG_H
#define STOA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CFG_STRING,  /* char *: any non-empty text (empty allowed if no default and not required) */
    CFG_INT,     /* long: decimal integer within [min, max] */
    CFG_BOOL,    /* bool: true/false/yes/no/on/off/1/0 */
    CFG_SECONDS, /* double: seconds, "1.5", "250ms", "2s", "5m", "1h"; within [min, max] */
    CFG_SIZE,    /* size_t: bytes, "65536", "64k", "1M"; within [min, max] */
    CFG_ENUM,    /* int: index into `choices` (NULL-terminated) */
} config_type;

typedef struct config_key {
    const char *section;
    const char *name;
    config_type type;
    size_t offset;              /* offsetof(struct, field) in the caller's struct */
    const char *def;            /* default as text, parsed like file values; NULL: none */
    bool required;              /* must appear in the file */
    bool reloadable;            /* may change on SIGHUP */
    bool secret;                /* never echoed in error messages or dumps */
    double min, max;            /* bounds for INT, SECONDS, SIZE (both 0: unbounded) */
    const char *const *choices; /* for CFG_ENUM */
    const char *help;           /* one line, for docs and --help-config */
} config_key;

/* Loads path into `out` using the NULL-name-terminated schema. Defaults are
 * applied first. Returns 0, or -1 with a one-line message in err. */
int config_load(const char *path, const config_key *schema, void *out, char *err, size_t errlen);
/* Same, from a string (for tests); `name` stands in for the file name. */
int config_load_string(const char *name, const char *text, const config_key *schema, void *out,
                       char *err, size_t errlen);
/* Whether the file at path is fit to hold the secrets `values` took from
 * it: when a `secret` key is set (not empty), nobody but its owner and the
 * caller's own group (the effective gid: Debian ships such files root:<the
 * daemon's group> 0640) may read or write it. Returns 0, or -1 with err
 * naming the key, who may read it and the chmod that fixes it. */
int config_check_private(const char *path, const config_key *schema, const void *values, char *err,
                         size_t errlen);
/* Frees every CFG_STRING value in `values`. */
void config_free_values(const config_key *schema, void *values);
/* Compares old and new values: for each changed key that is not reloadable,
 * writes "[section] name" into changed (comma separated) and returns the
 * count. Lets SIGHUP refuse changes it cannot apply safely. */
int config_unreloadable_changes(const config_key *schema, const void *old_values,
                                const void *new_values, char *changed, size_t len);

/* Takes every reloadable key's value from fresh into running (SIGHUP),
 * leaving running's old values in fresh for config_free_values: the keys a
 * reload applies are the schema's reloadable ones, listed nowhere else. */
void config_take_reloadable(const config_key *schema, void *running, void *fresh);

/* Reads a secret kept in a file of its own (a Docker secret, a systemd
 * credential): its first line, without the line end; the file must hold
 * nothing else but that one line. Returns 0 and a malloc'ed string in *out,
 * or -1 with a message naming the file (never its content) in err. */
/* A duration as the files write it: a decimal number of seconds, or with
 * a unit ms, s, m or h ("90s", "1.5h"). false when it is not one. */
bool config_parse_seconds(const char *s, double *out);
int config_read_secret(const char *path, char **out, char *err, size_t errlen);

/* Splits a comma-separated value ("a, b,c") into its non-empty entries,
 * trimmed of blanks: a NULL-terminated array (empty for NULL or ""), which
 * config_list_free releases. NULL on OOM. */
char **config_list(const char *csv);
void config_list_free(char **list);

#endif
