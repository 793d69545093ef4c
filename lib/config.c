#include "config.h"

#include <errno.h>
#include <grp.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
/* A configuration file is a few kilobytes; refusing more keeps a wrong path
 * (a log file, /dev/zero) from being slurped into memory. */
#define FILE_MAX_BYTES (1024 * 1024)

struct parser {
    const char *name; /* file name for messages */
    const config_key *schema;
    void *out;
    char *err;
    size_t errlen;
    unsigned *seen; /* per schema key: line it was set on, 0 if not yet */
    bool in_section;
    char section[LINE_MAX_BYTES + 1];
};

/* Writes "NAME:LINE: message" (or "NAME: message" when line is 0). */
static int fail(struct parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, unsigned line, const char *fmt, ...)
{
    if (!p->err || p->errlen == 0)
        return -1;
    int n = line ? snprintf(p->err, p->errlen, "%s:%u: ", p->name, line)
                 : snprintf(p->err, p->errlen, "%s: ", p->name);
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char *skip_blanks(char *s)
{
    while (is_blank(*s))
        s++;
    return s;
}

static char *trim(char *s)
{
    s = skip_blanks(s);
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool unbounded(const config_key *k)
{
    return k->min == 0 && k->max == 0;
}

static bool in_bounds(const config_key *k, double v)
{
    return unbounded(k) || (v >= k->min && v <= k->max);
}

static void *field(const config_key *k, void *values)
{
    return (char *)values + k->offset;
}

static const void *cfield(const config_key *k, const void *values)
{
    return (const char *)values + k->offset;
}

static bool parse_int(const char *s, long *out)
{
    const char *d = s + (*s == '+' || *s == '-');
    if (*d < '0' || *d > '9')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Bool and enum words are matched ignoring case: "True" or "INFO" is what
 * people type, and no schema needs two words differing only in case. */
static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Unsigned decimal with optional fraction, by hand: strtod would also take
 * "inf", "nan", hex floats, exponents and a locale's decimal comma. Returns
 * the number of characters used, 0 if there is no number. */
static size_t parse_decimal(const char *s, double *out)
{
    double v = 0, scale = 1;
    size_t i = 0, digits = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++, digits++)
        v = v * 10 + (s[i] - '0');
    if (s[i] == '.') {
        for (i++; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            v = v * 10 + (s[i] - '0');
            scale *= 10;
        }
    }
    if (digits == 0)
        return 0;
    *out = v / scale;
    return i;
}

bool config_parse_seconds(const char *s, double *out)
{
    double v;
    size_t n = parse_decimal(s, &v);
    if (n == 0)
        return false;
    const char *unit = s + n;
    if (strcmp(unit, "ms") == 0)
        v /= 1000; /* divide: 0.001 is inexact, and 9 * 0.001 != 0.009 */
    else if (strcmp(unit, "m") == 0)
        v *= 60;
    else if (strcmp(unit, "h") == 0)
        v *= 3600;
    else if (*unit != '\0' && strcmp(unit, "s") != 0)
        return false;
    if (!isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool parse_size(const char *s, size_t *out)
{
    size_t v = 0, i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        size_t d = (size_t)(s[i] - '0');
        if (v > (SIZE_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == 0)
        return false;
    size_t mult = 1;
    switch (s[i]) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mult = 1024;
        break;
    case 'm':
    case 'M':
        mult = 1024 * 1024;
        break;
    case 'g':
    case 'G':
        mult = 1024 * 1024 * 1024;
        break;
    default:
        return false;
    }
    if (mult > 1 && s[i + 1] != '\0')
        return false;
    if (v > SIZE_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

static bool parse_enum(const char *s, const char *const *choices, int *out)
{
    for (int i = 0; choices && choices[i]; i++) {
        if (strcasecmp(s, choices[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

/* "…: expected <what the type wants>, got '<value>'"; secret values are
 * never echoed, not even a wrong one (it may be the real secret mistyped
 * into the wrong key, or a near miss of it). */
static int type_error(struct parser *p, unsigned line, const config_key *k, const char *tag,
                      const char *value)
{
    char want[512];
    switch (k->type) {
    case CFG_INT:
        if (unbounded(k))
            snprintf(want, sizeof want, "an integer");
        else
            snprintf(want, sizeof want, "an integer between %.0f and %.0f", k->min, k->max);
        break;
    case CFG_BOOL:
        snprintf(want, sizeof want, "true or false");
        break;
    case CFG_SECONDS:
        snprintf(want, sizeof want, "a duration (e.g. 30s, 250ms, 5m)");
        break;
    case CFG_SIZE:
        snprintf(want, sizeof want, "a size (e.g. 65536, 64k, 1M)");
        break;
    case CFG_ENUM: {
        size_t used = (size_t)snprintf(want, sizeof want, "one of ");
        for (int i = 0; k->choices && k->choices[i] && used < sizeof want; i++) {
            int n = snprintf(want + used, sizeof want - used, "%s%s", i ? ", " : "", k->choices[i]);
            used += n > 0 ? (size_t)n : 0;
        }
        break;
    }
    default:
        snprintf(want, sizeof want, "a valid value");
        break;
    }
    if (k->secret)
        return fail(p, line, "[%s] %s%s: expected %s, got an invalid value", k->section, k->name,
                    tag, want);
    return fail(p, line, "[%s] %s%s: expected %s, got '%s'", k->section, k->name, tag, want, value);
}

/* Secrets are wiped before their memory goes back to the allocator, where
 * a later heap dump or use-after-free bug could still find them. */
static void free_string(const config_key *k, void *slot)
{
    char *s = *(char **)slot;
    if (s && k->secret) {
        volatile char *v = s;
        while (*v)
            *v++ = '\0';
    }
    free(s);
    *(char **)slot = NULL;
}

/* Parses value for key k and stores it; line 0 means the schema default. */
static int set_value(struct parser *p, const config_key *k, const char *value, unsigned line)
{
    const char *tag = line ? "" : " (default)";
    void *dst = field(k, p->out);

    switch (k->type) {
    case CFG_STRING: {
        /* "key =" stores "": whether empty makes sense (a password, a
         * secret) is for the caller's own validation to judge. */
        char *copy = strdup(value);
        if (!copy)
            return fail(p, line, "out of memory");
        free_string(k, dst);
        *(char **)dst = copy;
        return 0;
    }
    case CFG_INT: {
        long v;
        if (!parse_int(value, &v) || !in_bounds(k, (double)v))
            return type_error(p, line, k, tag, value);
        *(long *)dst = v;
        return 0;
    }
    case CFG_BOOL: {
        bool v;
        if (!parse_bool(value, &v))
            return type_error(p, line, k, tag, value);
        *(bool *)dst = v;
        return 0;
    }
    case CFG_SECONDS: {
        double v;
        if (!config_parse_seconds(value, &v))
            return type_error(p, line, k, tag, value);
        if (!in_bounds(k, v))
            return fail(p, line, "[%s] %s%s: must be between %.15g and %.15g seconds", k->section,
                        k->name, tag, k->min, k->max);
        *(double *)dst = v;
        return 0;
    }
    case CFG_SIZE: {
        size_t v;
        if (!parse_size(value, &v))
            return type_error(p, line, k, tag, value);
        if (!in_bounds(k, (double)v))
            return fail(p, line, "[%s] %s%s: must be between %.0f and %.0f bytes", k->section,
                        k->name, tag, k->min, k->max);
        *(size_t *)dst = v;
        return 0;
    }
    case CFG_ENUM: {
        int v;
        if (!parse_enum(value, k->choices, &v))
            return type_error(p, line, k, tag, value);
        *(int *)dst = v;
        return 0;
    }
    }
    return fail(p, line, "[%s] %s: unsupported key type", k->section, k->name);
}

/* Without a default a string becomes NULL and anything else zero, so a
 * struct reused for a reload does not keep a value the new file dropped. */
static int apply_defaults(struct parser *p)
{
    for (const config_key *k = p->schema; k->name; k++) {
        if (k->def) {
            if (set_value(p, k, k->def, 0) < 0)
                return -1;
            continue;
        }
        void *dst = field(k, p->out);
        switch (k->type) {
        case CFG_STRING:
            free_string(k, dst);
            break;
        case CFG_INT:
            *(long *)dst = 0;
            break;
        case CFG_BOOL:
            *(bool *)dst = false;
            break;
        case CFG_SECONDS:
            *(double *)dst = 0;
            break;
        case CFG_SIZE:
            *(size_t *)dst = 0;
            break;
        case CFG_ENUM:
            *(int *)dst = 0;
            break;
        }
    }
    return 0;
}

static bool section_known(const config_key *schema, const char *name)
{
    for (const config_key *k = schema; k->name; k++)
        if (strcmp(k->section, name) == 0)
            return true;
    return false;
}

static const config_key *find_key(const config_key *schema, const char *section, const char *name)
{
    for (const config_key *k = schema; k->name; k++)
        if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* Extracts the value after '=' in place. Unquoted: a '#' or ';' at the
 * start or after a blank begins a comment, so "a#b" and URLs with ';' stay
 * intact. Quoted: \" and \\ are escapes, any other backslash is literal. */
static int parse_value(struct parser *p, unsigned line, char *s, char **out)
{
    s = skip_blanks(s);
    if (*s == '"') {
        char *w = s, *r = s + 1;
        for (;; r++, w++) {
            if (*r == '\0')
                return fail(p, line, "unterminated quoted value");
            if (*r == '"')
                break;
            if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
                r++;
            *w = *r;
        }
        *w = '\0';
        char *rest = skip_blanks(r + 1);
        if (*rest != '\0' && *rest != '#' && *rest != ';')
            return fail(p, line, "unexpected text after quoted value");
        *out = s;
        return 0;
    }
    for (char *c = s; *c; c++) {
        if ((*c == '#' || *c == ';') && (c == s || is_blank(c[-1]))) {
            *c = '\0';
            break;
        }
    }
    *out = trim(s);
    return 0;
}

static int parse_line(struct parser *p, unsigned line, char *s)
{
    s = trim(s);
    if (*s == '\0' || *s == '#' || *s == ';')
        return 0;

    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close)
            return fail(p, line, "unterminated section header");
        char *rest = skip_blanks(close + 1);
        if (*rest != '\0' && *rest != '#' && *rest != ';')
            return fail(p, line, "unexpected text after section header");
        *close = '\0';
        char *name = trim(s + 1);
        if (!section_known(p->schema, name))
            return fail(p, line, "unknown section [%s]", name);
        strcpy(p->section, name);
        p->in_section = true;
        return 0;
    }

    char *eq = strchr(s, '=');
    if (!eq)
        return fail(p, line, "expected 'key = value'");
    *eq = '\0';
    char *key = trim(s);
    if (*key == '\0')
        return fail(p, line, "expected 'key = value'");
    if (!p->in_section)
        return fail(p, line, "key outside any section");
    char *value = NULL;
    if (parse_value(p, line, eq + 1, &value) < 0)
        return -1;
    const config_key *k = find_key(p->schema, p->section, key);
    if (!k)
        return fail(p, line, "[%s] unknown key '%s'", p->section, key);
    size_t idx = (size_t)(k - p->schema);
    if (p->seen[idx])
        return fail(p, line, "[%s] %s: set twice (first on line %u)", k->section, k->name,
                    p->seen[idx]);
    p->seen[idx] = line;
    return set_value(p, k, value, line);
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
    char buf[LINE_MAX_BYTES + 1];
    size_t pos = 0;
    unsigned line = 0;

    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3; /* UTF-8 byte order mark, as some editors write */
    while (pos < len) {
        line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl != NULL);
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n > LINE_MAX_BYTES)
            return fail(p, line, "line too long");
        if (memchr(start, '\0', n))
            return fail(p, line, "unexpected NUL byte");
        memcpy(buf, start, n);
        buf[n] = '\0';
        if (parse_line(p, line, buf) < 0)
            return -1;
    }
    return 0;
}

static int load_text(const char *name, const char *text, size_t len, const config_key *schema,
                     void *out, char *err, size_t errlen)
{
    struct parser *p = calloc(1, sizeof *p);
    if (!p) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    p->name = name;
    p->schema = schema;
    p->out = out;
    p->err = err;
    p->errlen = errlen;

    size_t count = 0;
    while (schema[count].name)
        count++;
    int rc = -1;
    p->seen = calloc(count + 1, sizeof *p->seen);
    if (!p->seen)
        fail(p, 0, "out of memory");
    else if (apply_defaults(p) == 0 && parse_text(p, text, len) == 0)
        rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (schema[i].required && !p->seen[i])
            rc = fail(p, 0, "[%s] %s is required but missing", schema[i].section, schema[i].name);
    }
    /* A failed load leaves no strings behind: the caller is about to print
     * the message and exit, or keep its previous configuration. */
    if (rc < 0)
        config_free_values(schema, out);
    free(p->seen);
    free(p);
    return rc;
}

int config_load_string(const char *name, const char *text, const config_key *schema, void *out,
                       char *err, size_t errlen)
{
    return load_text(name, text ? text : "", text ? strlen(text) : 0, schema, out, err, errlen);
}

/* `out` must be zeroed or hold values from an earlier load: string fields
 * are freed before they are replaced. */
int config_load(const char *path, const config_key *schema, void *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    int read_errno = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(text, cap);
            if (!grown) {
                read_errno = ENOMEM;
                break;
            }
            text = grown;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (len > FILE_MAX_BYTES) {
            read_errno = EFBIG;
            break;
        }
        if (n == 0) {
            if (ferror(f))
                read_errno = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    if (read_errno) {
        free(text);
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
        return -1;
    }
    int rc = load_text(path, text ? text : "", len, schema, out, err, errlen);
    free(text);
    return rc;
}

int config_check_private(const char *path, const config_key *schema, const void *values, char *err,
                         size_t errlen)
{
    const config_key *held = NULL;
    for (const config_key *k = schema; k->name && !held; k++) {
        const char *const *v = cfield(k, values);
        if (k->secret && k->type == CFG_STRING && *v && **v)
            held = k;
    }
    if (!held)
        return 0;
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: cannot check who may read it: %s", path, strerror(errno));
        return -1;
    }
    unsigned mode = (unsigned)st.st_mode & 07777;
    const char *who = NULL;
    char grp[128];
    bool reads = false;
    if (mode & (S_IROTH | S_IWOTH)) {
        who = "every user of this machine";
        reads = mode & S_IROTH;
    } else if ((mode & (S_IRGRP | S_IWGRP)) && st.st_gid != getegid()) {
        reads = mode & S_IRGRP;
        const struct group *g = getgrgid(st.st_gid);
        if (g)
            snprintf(grp, sizeof grp, "the members of group %s", g->gr_name);
        else
            snprintf(grp, sizeof grp, "the members of group %u", (unsigned)st.st_gid);
        who = grp;
    }
    if (!who)
        return 0;
    snprintf(err, errlen,
             "%s holds [%s] %s, but %s may %s it (mode %04o): chmod 0600, or 0640 with the "
             "group the daemon runs as (chown root:<its group>)",
             path, held->section, held->name, who, reads ? "read" : "change", mode);
    return -1;
}

void config_free_values(const config_key *schema, void *values)
{
    if (!schema || !values)
        return;
    for (const config_key *k = schema; k->name; k++) {
        if (k->type == CFG_STRING)
            free_string(k, field(k, values));
    }
}

static bool value_equal(const config_key *k, const void *a, const void *b)
{
    const void *x = cfield(k, a), *y = cfield(k, b);
    switch (k->type) {
    case CFG_STRING: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return s && t ? strcmp(s, t) == 0 : s == t;
    }
    case CFG_INT:
        return *(const long *)x == *(const long *)y;
    case CFG_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case CFG_SECONDS:
        return *(const double *)x == *(const double *)y;
    case CFG_SIZE:
        return *(const size_t *)x == *(const size_t *)y;
    case CFG_ENUM:
        return *(const int *)x == *(const int *)y;
    }
    return true;
}

static size_t value_size(const config_key *k)
{
    switch (k->type) {
    case CFG_STRING:
        return sizeof(char *);
    case CFG_INT:
        return sizeof(long);
    case CFG_BOOL:
        return sizeof(bool);
    case CFG_SECONDS:
        return sizeof(double);
    case CFG_SIZE:
        return sizeof(size_t);
    case CFG_ENUM:
        return sizeof(int);
    }
    return 0;
}

void config_take_reloadable(const config_key *schema, void *running, void *fresh)
{
    for (const config_key *k = schema; k->name; k++) {
        if (!k->reloadable)
            continue;
        /* Swapped, not copied: fresh then holds the running values, strings
         * included, for its config_free_values. */
        unsigned char tmp[sizeof(long double)];
        size_t n = value_size(k);
        memcpy(tmp, field(k, running), n);
        memcpy(field(k, running), field(k, fresh), n);
        memcpy(field(k, fresh), tmp, n);
    }
}

int config_unreloadable_changes(const config_key *schema, const void *old_values,
                                const void *new_values, char *changed, size_t len)
{
    int count = 0;
    size_t used = 0;
    if (changed && len)
        changed[0] = '\0';
    for (const config_key *k = schema; k->name; k++) {
        if (k->reloadable || value_equal(k, old_values, new_values))
            continue;
        count++;
        if (!changed || used + 1 >= len)
            continue;
        int n = snprintf(changed + used, len - used, "%s[%s] %s", count > 1 ? ", " : "", k->section,
                         k->name);
        used = n >= 0 && (size_t)n < len - used ? used + (size_t)n : len;
    }
    return count;
}

char **config_list(const char *csv)
{
    const char *p = csv ? csv : "";
    size_t n = 1;
    for (const char *c = p; *c; c++)
        n += *c == ',';
    char **list = calloc(n + 1, sizeof *list);
    if (!list)
        return NULL;
    size_t k = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a && !(list[k++] = strndup(a, (size_t)(b - a)))) {
            config_list_free(list);
            return NULL;
        }
        p = *end ? end + 1 : end;
    }
    return list;
}

void config_list_free(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/* A secret is a token, never a document: a few kilobytes is plenty, and a
 * bound keeps a wrong path from being read whole. */
#define SECRET_MAX_BYTES 4096

int config_read_secret(const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(SECRET_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, SECRET_MAX_BYTES + 1, f) : 0;
    bool failed = !text || ferror(f);
    fclose(f);
    const char *why = NULL;
    if (failed)
        why = "cannot read it";
    else if (len > SECRET_MAX_BYTES)
        why = "larger than 4096 bytes: not a secret";
    if (!why) {
        if (len > 0 && text[len - 1] == '\n')
            len--;
        if (len > 0 && text[len - 1] == '\r')
            len--;
        text[len] = '\0';
        if (memchr(text, '\0', len) || strchr(text, '\n'))
            why = "holds more than one line";
        else if (len == 0)
            why = "is empty";
    }
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        if (text) {
            volatile char *v = text;
            for (size_t i = 0; i < len; i++)
                v[i] = '\0';
        }
        free(text);
        return -1;
    }
    *out = text;
    return 0;
}
