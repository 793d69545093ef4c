/* out: where handlers write the stanzas they emit.
 *
 * A handler asks for the output buffer (begin), appends serialized stanzas
 * to it directly, and commits. On a live link the buffer is the socket's own
 * write queue, so a stanza fanned out to a thousand occupants is written
 * straight into it without any intermediate copy or allocation; in unit tests
 * it is a plain buf the test reads back.
 *
 * Ownership: the buf returned by begin belongs to the sink and is valid
 * until commit. */
#ifndef STOA_OUT_H
#define STOA_OUT_H

#include "buf.h"
#include "xml.h"

typedef struct out {
    buf *(*begin)(void *ud); /* NULL when nothing can be sent now (link down) */
    void (*commit)(void *ud);
    void *ud;
    const char *ns; /* the stream's content namespace, omitted from stanzas */
} out;

/* Serializes one stanza to o. Returns 0, or -1 when it could not be sent. */
int out_stanza(const out *o, const xml_node *stanza);

#endif
