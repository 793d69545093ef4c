/* priv: the host's XEP-0356 privilege message, in either namespace.
 *
 * Prosody's mod_privilege (prosody-modules, Debian 12) speaks
 * urn:xmpp:privilege:2 and lists only what it grants; ejabberd 23.01's
 * speaks urn:xmpp:privilege:1 and lists roster, presence and message with
 * type "none" for what it does not grant (and sends nothing at all when it
 * grants nothing). Both send <perm access='roster|presence|message'
 * type='…'/>; privilege:2 may add access='iq', which Stoa does not use.
 *
 * Ownership: nothing is kept; the advice is written into the caller's
 * buffer. */
#ifndef STOA_ROSTER_PRIV_H
#define STOA_ROSTER_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "xml.h"

enum { PRIV_ROSTER_GET = 1u << 0, PRIV_ROSTER_SET = 1u << 1 };
typedef enum { PRIV_PRESENCE_NONE = 0, PRIV_PRESENCE_MANAGED, PRIV_PRESENCE_ROSTER } priv_presence;

typedef struct priv_perms {
    int version;     /* 1 or 2: the namespace's */
    unsigned roster; /* PRIV_ROSTER_GET | PRIV_ROSTER_SET */
    priv_presence presence;
    bool message; /* outgoing */
} priv_perms;

/* Reads the <privilege/> child of a message from the host. 0, or -1 when
 * the message carries none (in either namespace). */
int priv_parse(const xml_node *message, priv_perms *out);

/* How group rosters are written on the host. */
typedef enum {
    PRIV_WRITER_NONE = 0,
    PRIV_WRITER_PRIVILEGED, /* XEP-0356 roster set (privilege:2) */
    PRIV_WRITER_CONTRIB,    /* contrib/ejabberd/mod_stoa_roster */
} priv_writer;

/* Which writer the permissions and the host's modules allow: a privileged
 * set on privilege:2, the contrib module where the host lists it (even a
 * fixed ejabberd's privileged set ignores subscription), never
 * privilege:1's set (it cuts the link: ejabberd issue #3942). Roster reads
 * are always privileged, so both need PRIV_ROSTER_GET. */
priv_writer priv_pick_writer(const priv_perms *p, bool contrib);

/* The one log line for what is missing: which features are off and the
 * configuration that turns them on, for the server that spoke (p NULL: no
 * privilege message came at all). Returns false when nothing is missing
 * (out then holds ""). */
bool priv_advice(const priv_perms *p, bool contrib, const char *host, const char *domain, char *out,
                 size_t n);

#endif
