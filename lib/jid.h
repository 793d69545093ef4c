/* jid: XMPP addresses (RFC 7622), parsed and normalized.
 *
 * Normalization uses libidn's stringprep profiles (Nodeprep, Nameprep,
 * Resourceprep, as RFC 3920 defined them and as Prosody and ejabberd still
 * apply them), so two spellings of one address compare equal and an address
 * a server would refuse is refused here too.
 *
 * Ownership: a jid owns its three parts; jid_free() releases them. */
#ifndef STOA_JID_H
#define STOA_JID_H

#include <stdbool.h>
#include <stddef.h>

#define JID_PART_MAX 1023 /* bytes per part after preparation (RFC 7622 3.1) */

typedef struct jid {
    char *local;    /* NULL when absent */
    char *domain;   /* never NULL in a valid jid */
    char *resource; /* NULL when absent */
} jid;

typedef enum {
    JID_OK = 0,
    JID_ERR_EMPTY,    /* empty string or empty part ("@d", "l@", "d/") */
    JID_ERR_LOCAL,    /* local part fails Nodeprep or is too long */
    JID_ERR_DOMAIN,   /* domain fails Nameprep, bad label, or too long */
    JID_ERR_RESOURCE, /* resource fails Resourceprep or is too long */
    JID_ERR_NOMEM,
} jid_err;

/* Parses and normalizes s (NUL-terminated UTF-8) into out. On error out is
 * left zeroed. */
jid_err jid_parse(const char *s, jid *out);
void jid_free(jid *j);
/* Message for an error code, for logs and error stanza text. */
const char *jid_strerror(jid_err e);

/* Normalized string forms; caller frees; NULL on OOM. */
char *jid_full(const jid *j);
char *jid_bare(const jid *j);
/* Convenience: normalized full form of s, or NULL (with *err set) if invalid. */
char *jid_normalize(const char *s, jid_err *err);

bool jid_equal(const jid *a, const jid *b);

/* What a list of addresses in a configuration value may hold. */
typedef enum {
    JID_LIST_USERS,  /* bare user JIDs: local@domain */
    JID_LIST_DOMAINS /* domains alone */
} jid_list_kind;
/* Parses a comma-separated list of addresses (a configuration value) into
 * their normalized forms, so "EXAMPLE.com" and "example.com" are one entry:
 * a NULL-terminated array to release with config_list_free (an empty one
 * for an empty list). NULL when an entry is not of that kind (copied,
 * truncated, into bad, which is "" on OOM). */
char **jid_list_parse(const char *csv, jid_list_kind kind, char *bad, size_t badlen);
bool jid_bare_equal(const jid *a, const jid *b);

#endif
