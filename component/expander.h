/* expander: the host server's fan-out expander, found by service discovery.
 *
 * A host server with an XEP-0033 (Extended Stanza Addressing) service that
 * takes type='bcc' addresses from this component (Stoa's own Prosody module,
 * contrib/prosody/mod_stoa_multicast.lua; ejabberd's mod_multicast with
 * `access` restricted to this domain) makes the copies of a broadcast
 * itself: the component sends one stanza with the list of its local
 * recipients where it would send one copy per recipient, and the host parses
 * one stanza instead of hundreds (docs/benchmarks.md, issue 13). This module
 * knows which expander reaches which of the host's domains and how many
 * addresses one stanza may hold; it writes the expanded stanzas for
 * muc/fanout.c, which decides who gets a copy at all.
 *
 * Discovery, each time the host link is up: disco#items of each host domain,
 * then disco#info of each item; the first with the feature
 * http://jabber.org/protocol/address reaches that domain's users, with the
 * limits its XEP-0128 form gives (ejabberd's default, 20 addresses, when it
 * gives none). [fanout] expander = JID asks that JID alone. The answers are
 * IQ results addressed to the component, handed over by expander_handle;
 * until they come, and without an expander, every copy goes on its own. A
 * lost link forgets it all (the host may come back configured otherwise).
 *
 * Ownership: the expander copies what its configuration points to; targets
 * belong to it and live until the next link change (expander_generation
 * says when they changed, for callers that remember a session's target). */
#ifndef STOA_EXPANDER_H
#define STOA_EXPANDER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "out.h"
#include "xml.h"

typedef struct expander expander;

typedef enum { EXPANDER_AUTO, EXPANDER_OFF, EXPANDER_JID } expander_mode;

typedef struct expander_config {
    const char *domain;        /* the component's domain: the queries' from */
    expander_mode mode;        /* discover, never use one, or ask jid */
    const char *jid;           /* EXPANDER_JID: the expander */
    char *const *host_domains; /* NULL-terminated: whose users an expander may reach */
    size_t stanza_limit;       /* bytes of one expanded stanza at most */
} expander_config;

/* An expander as found: where to send, and how much one stanza may carry. */
typedef struct expander_target {
    char *jid;           /* its address */
    char *jid_attr;      /* the same, escaped for an attribute value */
    size_t max_message;  /* addresses per message stanza; 0: no limit */
    size_t max_presence; /* addresses per presence stanza; 0: no limit */
} expander_target;

/* NULL when out of memory. */
expander *expander_new(const expander_config *cfg);
void expander_free(expander *x);

/* The host link is up: asks the host (through o) what it has. */
void expander_link_up(expander *x, const out *o);
/* The host link is down: no expander until the next discovery. */
void expander_link_down(expander *x);
/* An IQ addressed to the component: true when it answered one of the
 * expander's questions (and was used up), false when it is someone else's.
 * It may send further questions through o. */
bool expander_handle(expander *x, const xml_node *iq, const out *o);

/* An error message or presence from `from`: when it is an expander's (it
 * refused a stanza: its access does not list this domain, say), that
 * expander is given up until the link comes up again, with a warning, and
 * true is returned. */
bool expander_refused(expander *x, const char *from, const xml_node *st);

/* The expander reaching the users of a full or bare JID's domain, or NULL
 * (no expander for it, a domain alone, or expanding off). */
const expander_target *expander_for(const expander *x, const char *jid);
/* Whether any expander was found (expander_for may answer non-NULL). */
bool expander_active(const expander *x);
/* Changes whenever what expander_for answers may change. */
unsigned expander_generation(const expander *x);

/* Writing one broadcast through an expander, into the link's queue b: the
 * stanza every recipient would get is head + ADDRESS + tail, as the fan-out
 * writes a copy (tail closes the start tag's last attribute value, and ends
 * with the stanza's end tag or "/>"). Each add writes one recipient's
 * address (escaped for an attribute); a stanza is closed and another begun
 * when the target's count or the byte limit would be passed. */
typedef struct expander_batch {
    buf *b;
    const expander_target *t;
    const char *head, *tail;
    size_t hl, tl;
    size_t tail_open;  /* bytes of tail up to where the addresses go */
    const char *close; /* what ends the stanza after them */
    size_t max, limit; /* addresses (0: any), bytes per stanza */
    size_t n;          /* addresses in the stanza being written */
    size_t start;      /* where in b that stanza began */
    size_t stanzas;    /* stanzas written */
} expander_batch;

/* false when tail has no recognizable end (then send copies instead). */
bool expander_batch_begin(expander_batch *eb, const expander *x, const expander_target *t, buf *b,
                          const char *head, size_t hl, const char *tail, size_t tl, bool presence);
void expander_batch_add(expander_batch *eb, const char *jid_attr);
/* Closes the last stanza; returns how many stanzas were written. */
size_t expander_batch_end(expander_batch *eb);

#endif
