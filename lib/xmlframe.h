/* xmlframe: finds stanza boundaries and enforces the per-stanza limits on the
 * raw bytes of an XMPP stream, ahead of expat.
 *
 * Why a scanner of our own: expat has no limits of its own that help. It
 * keeps a tag stack entry per open element (about 144 bytes for a 3-byte
 * "<a>"), a binding per namespace declaration (about 190 bytes each), and
 * every distinct element, attribute and prefix name for the parser's life.
 * Whatever a stanza breaks, expat has already paid for it by the time its
 * callbacks could count. So the framer counts first, on the bytes: a stanza
 * that breaks a limit is never handed to expat past the byte that broke it,
 * and the rest of it is skipped here at constant memory, however deep, wide
 * or long it is. xmlparse then gives expat a fresh parser for what follows.
 *
 * It understands just enough XML to follow the nesting: tags, attribute
 * values (a '>' inside quotes is not the end of a tag), CDATA sections, the
 * XML declaration. It does not check well-formedness: expat does that for
 * every byte the framer passes on. Of a skipped stanza it checks nothing,
 * except that it contains no comment, processing instruction or DTD.
 *
 * Of each top-level start tag (the stream header, each stanza) it keeps the
 * raw text of the element name and of the attributes an error reply needs
 * (from, to, id, type and the element's namespace declarations), so a
 * skipped stanza can still be answered.
 *
 * Ownership: the framer owns its state; it keeps no pointer to the input. */
#ifndef STOA_XMLFRAME_H
#define STOA_XMLFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xmlparse.h"

typedef struct xmlframe xmlframe;

typedef enum {
    XMLFRAME_MORE,    /* every byte was consumed; nothing happened */
    XMLFRAME_HEADER,  /* the stream header's start tag ended at the last byte consumed */
    XMLFRAME_STANZA,  /* a stanza within the limits ended at the last byte consumed,
                       * at or past the mark of xmlframe_mark_stanza_end */
    XMLFRAME_OVER,    /* the last byte consumed broke a limit: skipping starts */
    XMLFRAME_SKIPPED, /* the skipped stanza ended at the last byte consumed */
    XMLFRAME_END,     /* </stream:stream> ended at the last byte consumed */
    XMLFRAME_ERROR,   /* the last byte consumed cannot be on an XMPP stream */
} xmlframe_event;

/* The attributes kept of a top-level start tag. */
typedef enum {
    XMLFRAME_FROM,
    XMLFRAME_TO,
    XMLFRAME_ID,
    XMLFRAME_TYPE,
    XMLFRAME_XMLNS,        /* xmlns='…' */
    XMLFRAME_XMLNS_PREFIX, /* xmlns:P='…' where P is the element's own prefix */
    XMLFRAME_NKEPT
} xmlframe_kept;

/* A stanza larger than this (or than 4 × max_stanza_bytes) ends the stream
 * even while it is skipped: no server relays it, and a stanza that never
 * ends would otherwise hold the link for ever. Skipping it costs nothing but
 * time until then. */
#define XMLFRAME_HARD_LIMIT ((uint64_t)64 << 20)

/* NULL on OOM. The limits are read at every check (see xmlframe_set_limits). */
xmlframe *xmlframe_new(const xmlparse_limits *limits);
void xmlframe_free(xmlframe *f);
void xmlframe_set_limits(xmlframe *f, const xmlparse_limits *limits);
/* Back to the state before a stream header. */
void xmlframe_reset(xmlframe *f);
/* Consumes bytes until something happens or the input ends; *used is how
 * many (at least 1 when n > 0). After XMLFRAME_ERROR the framer consumes
 * nothing more until reset. */
xmlframe_event xmlframe_scan(xmlframe *f, const char *data, size_t n, size_t *used);
/* Only a stanza ending at or after this offset is reported (XMLFRAME_STANZA;
 * 0 after a reset: every one). The others pass without an event, so the bytes
 * of many stanzas reach expat in one call. */
void xmlframe_mark_stanza_end(xmlframe *f, uint64_t offset);
/* True while a stanza that broke a limit is being skipped: the bytes it
 * consumes are not for expat. */
bool xmlframe_skipping(const xmlframe *f);
/* Why the last OVER or ERROR happened: an error code and a short text. */
xmlparse_err xmlframe_why(const xmlframe *f, const char **text);
/* Absolute offset (from the start of the stream) of the next byte. */
uint64_t xmlframe_offset(const xmlframe *f);
/* The raw qualified name of the last top-level start tag, or NULL when it
 * was too long to keep. */
const char *xmlframe_top_name(const xmlframe *f);
/* A kept attribute of the last top-level start tag as it appeared (entities
 * not expanded), and its quote character; NULL when absent or too long. */
const char *xmlframe_top_attr(const xmlframe *f, xmlframe_kept which, char *quote);

#endif
