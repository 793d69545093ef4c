/* s2s_internal: what s2s.c (the stream's life), s2s_in.c (the receiving
 * side) and s2s_out.c (the initiating side) share. Nothing outside lib/s2s*
 * includes it. */
#ifndef STOA_S2S_INTERNAL_H
#define STOA_S2S_INTERNAL_H

#include "buf.h"
#include "s2s.h"

/* Piggybacked dialback pairs one incoming stream may hold (XEP-0220 2.5). */
#define S2S_MAX_PAIRS 16

typedef enum {
    S2S_OPENING,  /* waiting for the peer's stream header */
    S2S_FEATURES, /* outgoing: waiting for the features; incoming: sent them */
    S2S_STARTTLS, /* TLS being negotiated */
    S2S_SASL,     /* outgoing: auth sent */
    S2S_DIALBACK, /* outgoing: db:result sent */
    S2S_READY,    /* outgoing: authenticated */
} s2s_state;

typedef struct s2s_pair {
    char *local, *remote;
    bool valid; /* false: dialback still being verified */
} s2s_pair;

struct s2s {
    struct ev_loop *loop;
    s2s_config cfg;
    s2s_callbacks cb;
    void *ud;
    xstream *xs;
    bool incoming;
    s2s_state state;
    bool secure;       /* TLS is up */
    bool tls_restart;  /* STARTTLS: a new header follows the handshake */
    bool cert_checked; /* cert_valid says something */
    bool cert_valid;   /* the peer's certificate is valid for `remote` */
    bool sasl_done;
    bool features_seen; /* outgoing: db:verify may go */
    bool dialback_offered;
    bool header_sent; /* of the current stream (reset when it restarts) */
    const char *auth; /* "SASL EXTERNAL", "dialback", "none" */
    char *local, *remote;
    char id[65]; /* the stream id: ours (incoming) or the peer's (outgoing) */
    s2s_pair pairs[S2S_MAX_PAIRS];
    unsigned npairs;
    buf verifies; /* outgoing: db:verify requests held until the features */
    ev_timer setup_timer, idle_timer;
    ev_tstamp last_stanza;
    unsigned busy;
    bool free_pending;
    char why[256]; /* the stream error we sent or received, for on_closed */
};

/* s2s.c */
void s2s_send_header(s2s *s, const char *from, const char *to, const char *id);
/* Queues literal XML on the stream. */
void s2s_write(s2s *s, const char *xml);
void s2s_writef(s2s *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool s2s_is_local(const s2s *s, const char *domain);
/* The normalized domain, or NULL (caller frees). */
char *s2s_domain(const char *s);
transport *s2s_wrap_tls(void *arg, transport *inner);
void s2s_check_cert(s2s *s);
void s2s_now_authenticated(s2s *s);
bool s2s_dialback_allowed(const s2s *s);
void s2s_note_stream_error(s2s *s, xml_node *err);
bool s2s_is(const xml_node *n, const char *name, const char *ns);
void s2s_flush_verifies(s2s *s);

/* s2s_in.c */
void s2s_in_open(s2s *s, xml_node *header);
void s2s_in_stanza(s2s *s, xml_node *stanza);
void s2s_in_secured(s2s *s);

/* s2s_out.c */
void s2s_out_open(s2s *s, xml_node *header);
void s2s_out_stanza(s2s *s, xml_node *stanza);
void s2s_out_secured(s2s *s);

#endif
