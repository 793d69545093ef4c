/* The fixture both check_xmlparse programs share: a stream parser whose
 * callbacks record every event, and builders of long inputs. */
#ifndef STOA_XPFIX_H
#define STOA_XPFIX_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include "xmlparse.h"

#define HDR                                                                                        \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "                         \
    "xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.org'>"

typedef struct rec {
    int opens, stanzas, closes, drops;
    char dropped[512];
    xmlparse_err drop_why;
    char drop_text[96];
    bool drop_has_ns;
    char last[4096];
    char header_id[64];
    /* Every event in order, so that two ways of feeding one input can be
     * compared: "S" stanza, "D" drop (with the shell), "C" close. */
    char log[8192];
} rec;

/* Callbacks that record into the rec passed as user data. */
extern const xmlparse_callbacks cbs;
/* Small limits: 4096 bytes, depth 8, 10 attributes, 50 elements. */
extern const xmlparse_limits lim;

xmlparse_err feed(xmlparse *p, const char *s);
/* A parser under l recording into r (cleared), the stream header fed. */
xmlparse *open_stream(rec *r, const xmlparse_limits *l);
/* head, then `unit` `times` times, then tail: a malloc'ed string. */
char *build(const char *head, const char *unit, size_t times, const char *tail);
/* Feeds a malloc'ed string and frees it. */
xmlparse_err feed_free(xmlparse *p, char *s);
/* The same stanza of exactly `size` bytes, malloc'ed. */
char *stanza_of(size_t size);

#endif
