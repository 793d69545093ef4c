/* report: abuse reports (XEP-0377) as they reach the service, parsed and
 * checked, before the desk stores anything.
 *
 * Three shapes arrive:
 *  - direct: an IQ set to the service or to a room whose payload is a
 *    <report xmlns='urn:xmpp:reporting:1'> naming its target with
 *    <jid xmlns='urn:xmpp:jid:0'/> and/or stanza-ids of room messages
 *    (schemas/desk-report.rnc), or a <block xmlns='urn:xmpp:blocking'> with
 *    reports inside its items;
 *  - copied blocking IQ: a <message> from a trusted host server carrying an
 *    XEP-0297 <forwarded> copy of one of its users' XEP-0191 block/unblock
 *    IQs (Prosody's mod_firewall FORWARD, see docs/safety.md);
 *  - forwarded report: a <message> from a server carrying a <report> with a
 *    <jid/> of the reported address and <forwarded> copies of the reported
 *    messages (the format of Prosody's mod_report_forward).
 * Both urn:xmpp:reporting:1 and the older urn:xmpp:reporting:0 are read.
 *
 * Ownership: report_parse fills a report_batch the caller releases with
 * report_batch_free; the stanza is only borrowed. */
#ifndef STOA_REPORT_H
#define STOA_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "ns.h"
#include "stanza.h"
#include "xml.h"

#define REPORT_TEXT_MAX 1000     /* bytes of a reporter's explanation */
#define REPORT_REFS_MAX 20       /* stanza-ids cited by one report */
#define REPORT_ITEMS_MAX 20      /* reports in one stanza */
#define REPORT_BLOCKED_MAX 256   /* JIDs in one copied block IQ */
#define REPORT_FWD_TEXT_MAX 2000 /* bytes kept of forwarded message bodies */

typedef enum { REPORT_DIRECT, REPORT_BLOCK, REPORT_FORWARD } report_via;

typedef struct report_ref {
    char *by; /* normalized bare JID that assigned the id */
    char *id;
} report_ref;

typedef struct report_item {
    char *target;       /* normalized JID: bare, a domain, or an occupant JID */
    const char *reason; /* "spam" or "abuse" (static) */
    char *text;         /* NULL when none; bidi controls neutralized */
    report_ref refs[REPORT_REFS_MAX];
    size_t nrefs;
    char *forwarded; /* bodies of forwarded copies (mod_report_forward), or NULL */
} report_item;

typedef struct report_batch {
    report_via via;
    char *reporter; /* normalized bare JID, or the forwarding server's domain */
    report_item items[REPORT_ITEMS_MAX];
    size_t n;
    /* From a copied block/unblock IQ: the reporter's block list change. */
    char **blocked;
    size_t nblocked;
    bool unblock; /* blocked lists JIDs to unblock instead */
    bool unblock_all;
} report_batch;

/* Whether st has one of the shapes above (it may still be refused). */
bool report_is_report(const xml_node *st);

/* Parses st (an IQ set or a message, already addressed to this service)
 * from the sender `from` (normalized full JID string) into out. Servers in
 * `trusted` (NULL-terminated domains) may forward their users' blocking IQs.
 * Returns 0, or -1 with *e and *why set (why is a static string). A hostile
 * or oversized stanza is refused whole: nothing is half-parsed. */
int report_parse(const xml_node *st, const char *from, const char *const *trusted,
                 report_batch *out, stanza_error *e, const char **why);
void report_batch_free(report_batch *b);

#endif
