/* stanza: what every handler needs of a stanza: its context (kind, type
 * and both addresses, parsed once), and replies and errors (RFC 6120
 * section 8).
 *
 * Ownership: functions returning xml_node* return a new tree the caller
 * owns; they never take ownership of their arguments. A stanza_ctx owns
 * its stanza: stanza_ctx_new takes it, stanza_ctx_free frees both. */
#ifndef STOA_STANZA_H
#define STOA_STANZA_H

#include <stdbool.h>

#include "jid.h"
#include "xml.h"

typedef enum {
    STANZA_ERR_BAD_REQUEST,
    STANZA_ERR_CONFLICT,
    STANZA_ERR_FEATURE_NOT_IMPLEMENTED,
    STANZA_ERR_FORBIDDEN,
    STANZA_ERR_GONE,
    STANZA_ERR_INTERNAL_SERVER_ERROR,
    STANZA_ERR_ITEM_NOT_FOUND,
    STANZA_ERR_JID_MALFORMED,
    STANZA_ERR_NOT_ACCEPTABLE,
    STANZA_ERR_NOT_ALLOWED,
    STANZA_ERR_NOT_AUTHORIZED,
    STANZA_ERR_POLICY_VIOLATION,
    STANZA_ERR_RECIPIENT_UNAVAILABLE,
    STANZA_ERR_REDIRECT,
    STANZA_ERR_REGISTRATION_REQUIRED,
    STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
    STANZA_ERR_REMOTE_SERVER_TIMEOUT,
    STANZA_ERR_RESOURCE_CONSTRAINT,
    STANZA_ERR_SERVICE_UNAVAILABLE,
    STANZA_ERR_SUBSCRIPTION_REQUIRED,
    STANZA_ERR_UNDEFINED_CONDITION,
    STANZA_ERR_UNEXPECTED_REQUEST,
    STANZA_ERR__COUNT
} stanza_error;

/* Element name of the condition ("service-unavailable"). */
const char *stanza_error_condition(stanza_error e);
/* Default error type for the condition ("cancel", "modify", "auth", "wait"). */
const char *stanza_error_type(stanza_error e);

/* The defined condition of an error stanza someone sent us (its <error/>
 * child's condition element); STANZA_ERR_UNDEFINED_CONDITION when it has
 * none this list knows. */
stanza_error stanza_error_of(const xml_node *stanza);

/* True when the stanza must never be answered with an error: it is itself
 * an error, or an IQ result (RFC 6120 8.3.1 forbids error loops). */
bool stanza_is_unanswerable(const xml_node *stanza);

/* The error reply to `stanza`: same element name and id, from/to swapped,
 * type="error", the original's children kept for message/presence as RFC
 * 6120 allows (dropped for IQ, whose payload is echoed only on request), an
 * <error/> with the condition and optional text. `from_override` replaces
 * the reply's from when the original's `to` was unusable (malformed).
 * Returns NULL on OOM or if stanza_is_unanswerable(stanza). */
xml_node *stanza_error_reply(const xml_node *stanza, stanza_error e, const char *text,
                             const char *from_override);
/* <iq type="result"> reply to an IQ get/set, same id, from/to swapped, no
 * payload (append one to the result). NULL on OOM. */
xml_node *stanza_iq_result(const xml_node *iq);
/* The same result with one payload element <name xmlns=ns/>, stored in
 * *payload for the caller to fill. NULL (and *payload NULL) on OOM. */
xml_node *stanza_iq_reply(const xml_node *iq, const char *name, const char *ns, xml_node **payload);
/* The single element child that defines an IQ's payload, or NULL when the
 * IQ has none or more than one (a bad-request for get/set). */
xml_node *stanza_iq_payload(const xml_node *iq);

/* ---- a stanza as it comes in ---- */

typedef enum { STANZA_IQ, STANZA_MESSAGE, STANZA_PRESENCE, STANZA_OTHER } stanza_kind;

/* Whoever receives a stanza first (the policy gate) makes its context, and
 * everyone after reads it: no address is parsed twice on the way in, and
 * stringprep is the costliest step of reading one. */
typedef struct stanza_ctx {
    xml_node *st;
    stanza_kind kind; /* from the element's name alone */
    const char *type; /* the type attribute, NULL when absent (points into st) */
    bool answer;      /* an error or an IQ result: never answered (stanza_is_unanswerable) */
    /* What an IQ is about: its one payload element (stanza_iq_payload),
     * NULL when it has none or more than one, and for other stanzas. */
    xml_node *payload;
    /* The addresses parsed and normalized (jid.h) when *_err is JID_OK; a
     * missing attribute is JID_ERR_EMPTY with has_* false. */
    jid from, to;
    jid_err from_err, to_err;
    bool has_from, has_to;
    /* The sender's normalized full and bare JID, NULL when from did not
     * parse (or memory ran out). */
    const char *from_full, *from_bare;
} stanza_ctx;

/* Takes st and reads it. NULL on OOM (st is freed then). */
stanza_ctx *stanza_ctx_new(xml_node *st);
void stanza_ctx_free(stanza_ctx *c);

#endif
