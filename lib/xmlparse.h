/* xmlparse: incremental XMPP stream parser on expat.
 *
 * Feeds bytes as they arrive from a socket and reports the stream header,
 * every complete top-level element (stanza) as an xml_node tree, and the
 * end of the stream. It enforces the limits every Stoa stream applies to
 * what a peer may send: bytes per stanza, element nesting depth, attributes
 * per element, elements per stanza, and as many namespace declarations per
 * stanza as elements (each element may declare its own namespace, as both
 * servers' serializers do).
 *
 * A server relays what its users send, after checking well-formedness and
 * its own size limit; so nothing well-formed may cost the stream. A stanza
 * that breaks a limit is skipped without building anything, at constant
 * memory however deep, wide or long it is (xmlframe.h counts on the raw
 * bytes, ahead of expat), and reported (on_dropped) so the sender can be
 * answered. The stream ends only for what no server relays: bytes that are
 * not well-formed, restricted XML (RFC 6120 section 11.1: DTDs, entity
 * declarations, comments, processing instructions), a stream header over
 * the byte limit, or a stanza over XMLFRAME_HARD_LIMIT.
 *
 * Expat's namespace separator is \x01, which no namespace name can contain
 * (it is not an XML character): expat >= 2.4.5 refuses a namespace name that
 * contains the separator, and with ' ' any user's xmlns='urn:a b' ended the
 * stream. Attributes in a namespace reach the tree as "uri local" (split at
 * the last space: local names have none).
 *
 * Ownership: the parser owns nothing the caller gets; each stanza passed to
 * on_stanza belongs to the callback, which must xml_free() it (or keep it). */
#ifndef STOA_XMLPARSE_H
#define STOA_XMLPARSE_H

#include <stddef.h>

#include "xml.h"

typedef struct xmlparse xmlparse;

typedef struct xmlparse_limits {
    size_t max_stanza_bytes; /* bytes of one top-level element, markup included */
    unsigned max_depth;      /* nesting below the stanza element itself */
    unsigned max_attrs;      /* attributes on one element */
    unsigned max_elements;   /* elements in one stanza, and namespace declarations */
} xmlparse_limits;

/* Parser errors; each maps to an RFC 6120 stream error condition. */
typedef enum {
    XMLPARSE_OK = 0,
    XMLPARSE_ERR_SYNTAX,     /* not-well-formed */
    XMLPARSE_ERR_RESTRICTED, /* restricted-xml: DTD, comment, PI, entity */
    XMLPARSE_ERR_TOO_BIG,    /* policy-violation: stanza byte limit */
    XMLPARSE_ERR_TOO_DEEP,   /* policy-violation: nesting limit */
    XMLPARSE_ERR_TOO_MANY,   /* policy-violation: attribute/element/namespace limits */
    XMLPARSE_ERR_BAD_STREAM, /* invalid-namespace: the first element is not a stream */
    XMLPARSE_ERR_NOMEM,      /* internal-server-error */
    XMLPARSE_ERR_CLOSED,     /* input after the stream ended */
} xmlparse_err;

typedef struct xmlparse_callbacks {
    /* The stream header: `header` is an element with the header's
     * attributes and namespace, no children; the callee must free it. */
    void (*on_open)(void *ud, xml_node *header);
    /* A complete top-level element; the callee owns it. */
    void (*on_stanza)(void *ud, xml_node *stanza);
    /* The peer sent </stream:stream>. */
    void (*on_close)(void *ud);
    /* A stanza broke a limit and was skipped: `shell` is its top element
     * with only from/to/id/type (callee owns it; never NULL, but without a
     * namespace when the framer could not keep enough of it), so the
     * receiver can bounce an error instead of losing the whole stream.
     * NULL: nothing is reported. */
    void (*on_dropped)(void *ud, xml_node *shell, xmlparse_err why, const char *text);
} xmlparse_callbacks;

/* Returns NULL on OOM. ud is passed to every callback. */
xmlparse *xmlparse_new(const xmlparse_limits *limits, const xmlparse_callbacks *cb, void *ud);
void xmlparse_free(xmlparse *p);
/* Feeds n bytes. Callbacks run from inside this call; a callback may call
 * xmlparse_stop() but must not free the parser. After an error the parser
 * stays failed until xmlparse_reset(). */
xmlparse_err xmlparse_feed(xmlparse *p, const char *data, size_t n);
/* Makes the current xmlparse_feed() return after the current callback. */
void xmlparse_stop(xmlparse *p);
/* Starts over for a new stream (after reconnect or stream restart). */
int xmlparse_reset(xmlparse *p);
void xmlparse_set_limits(xmlparse *p, const xmlparse_limits *limits);
/* Human-readable detail of the last error (with its byte offset in the stream). */
const char *xmlparse_error_text(const xmlparse *p);
/* Parses one standalone element (a stored document, not a stream) under the
 * given limits. Returns the tree (caller frees) or NULL. */
xml_node *xml_parse_document(const char *data, size_t n, const xmlparse_limits *limits);
/* The RFC 6120 stream error condition for an error code. */
const char *xmlparse_err_condition(xmlparse_err e);

#endif
