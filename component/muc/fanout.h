/* fanout: how the rooms write what they send.
 *
 * Every broadcast (a groupchat message, a presence, a notice from the room)
 * is one stanza per session of the occupants it reaches (or, through the
 * host's fan-out expander, one stanza per group of them), written into one
 * begin/commit of the link's queue (out.h): a room of a thousand sessions
 * costs one pass and no allocation per recipient. muc_fanout is that loop,
 * once; who it reaches is a muc_audience. Backpressure is not the fan-out's
 * business: while the link is backed up the policy gate holds the stanzas
 * that would cause one (safety/gate.h).
 *
 * Ownership: nothing is kept; writers borrow the buf for the call. */
#ifndef STOA_MUC_FANOUT_H
#define STOA_MUC_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "dataform.h"
#include "muc/room.h"

/* Who a broadcast reaches; a zeroed one (or NULL) is every session of the
 * room. The restrictions add up. */
typedef struct muc_audience {
    const muc_occupant *only;    /* only this occupant's sessions */
    const muc_session *session;  /* only this one session */
    bool moderators;             /* only occupants with the moderator role */
    const char *unless_blocking; /* not occupants who block this bare JID (ublock.h) */
} muc_audience;

/* Appends one whole stanza for session `to` of occupant p to b. */
typedef void (*muc_write_fn)(void *ud, buf *b, const muc_occupant *p, const muc_session *to);

/* The fan-out's arrays, kept by the service between broadcasts. */
typedef struct fanout_scratch fanout_scratch;
void muc_fanout_scratch_free(fanout_scratch *sc);

/* One stanza per session in the audience; nothing when the link is down.
 * With the host's fan-out expander (muc_set_expander), the recipients it
 * reaches who would get the same bytes get them in one stanza to it. */
void muc_fanout(muc_room *r, const muc_audience *who, muc_write_fn write, void *ud);
/* The common stanza: head, the session's escaped address, tail, the same
 * bytes for every session around it. */
void muc_fanout_wrapped(muc_room *r, const muc_audience *who, const char *head, size_t hl,
                        const char *tail, size_t tl);
/* A message from the room itself to everyone: <message from="ROOM"
 * to="SESSION" followed by rest (which must close the start tag's last
 * attribute quote and the message). */
void muc_room_notice(muc_room *r, const char *rest, size_t len);

/* Sends a tree. */
void muc_send(muc *m, const xml_node *st);
/* Replies with an error from the room (or the occupant address `from`). */
void muc_error(muc *m, const xml_node *st, stanza_error e, const char *text);
/* Answers an IQ with an empty result. */
void muc_result(muc *m, const xml_node *iq);
/* The data form x submitted with iq, parsed as every room form is (within
 * dataform's limits, a field given twice read as its first); NULL when it
 * is refused, the error answered. */
dataform *muc_form_parse(muc *m, const xml_node *iq, const xml_node *x);

#endif
