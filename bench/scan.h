/* scan: splits an XMPP byte stream into top-level stanzas without building
 * them, for the benchmark drivers.
 *
 * A driver that must read several hundred thousand stanzas a second cannot
 * afford a DOM per stanza. The stream it reads comes from a trusted peer on
 * loopback (the component or the host server under test), so a small state
 * machine that tracks tag nesting and quoted attribute values is enough: it
 * finds where each depth-1 element ends and hands its bytes over. It does not
 * validate XML and must never be used on input from strangers. */
#ifndef STOA_BENCH_SCAN_H
#define STOA_BENCH_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Called for each complete stanza; the bytes are valid only during the call. */
typedef void (*scan_stanza_fn)(void *ud, const char *s, size_t n);

typedef struct scan {
    buf in;              /* bytes not yet handed out as whole stanzas */
    size_t pos;          /* next byte of in (relative to its unread start) to look at */
    size_t start;        /* start of the stanza being read (relative, valid at depth >= 2) */
    int depth;           /* element depth: 1 inside the stream header */
    int state;           /* see scan.c */
    char quote;          /* the quote that opened the attribute value being read */
    bool closing;        /* the tag being read is an end tag */
    bool slash;          /* the last character in the tag was '/' */
    bool opened;         /* the stream header has been read */
    bool ended;          /* </stream:stream> has been read */
    char stream_id[128]; /* the id attribute of the stream header, if any */
} scan;

void scan_init(scan *s);
void scan_free(scan *s);
/* Appends n bytes and calls fn for each stanza they complete. Returns the
 * number of stanzas, or -1 when out of memory. */
long scan_feed(scan *s, const char *data, size_t n, scan_stanza_fn fn, void *ud);

/* The value of attribute name on the stanza's first tag (not unescaped), or
 * NULL; *len receives its length. */
const char *scan_attr(const char *s, size_t n, const char *name, size_t *len);
/* Whether the stanza starts with <name followed by a blank, '/' or '>'. */
bool scan_is(const char *s, size_t n, const char *name);
/* The first occurrence of needle in the stanza, or NULL. */
const char *scan_find(const char *s, size_t n, const char *needle);

#endif
