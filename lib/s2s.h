/* s2s: one server-to-server XMPP stream (RFC 6120, RFC 7590), either way.
 *
 * Outgoing (s2s_connect, we are the initiating server for local -> remote):
 * stream header, STARTTLS (or TLS from the first byte, XEP-0368), the
 * peer's certificate checked for `remote` (tls.h), then SASL EXTERNAL
 * (XEP-0178) when the peer offers it and its certificate is valid, else
 * dialback (XEP-0220: we send db:result with our key and the peer asks our
 * authoritative side). The stream also carries db:verify requests for the
 * gateway's incoming streams (s2s_send_verify), as soon as its features are
 * in, before it is authenticated itself.
 *
 * Incoming (s2s_accept, we are the receiving server): the header's `to`
 * must be a local domain; features offer STARTTLS (required unless no TLS
 * is configured), then SASL EXTERNAL when the peer's certificate is valid
 * for its `from`, and dialback. A db:result is verified through the owner
 * (on_verify_needed, answered with s2s_dialback_result); a db:verify is
 * answered here from the keyed HMAC (dialback.h). Only stanzas between an
 * authenticated pair of domains reach on_stanza, in jabber:server.
 *
 * Stream errors are the ones RFC 6120 section 4.9.3 names: host-unknown,
 * invalid-from, not-authorized, policy-violation (a stanza over the size
 * limit, TLS refused where it is required), unsupported-version,
 * invalid-namespace, unsupported-stanza-type, connection-timeout; the
 * parser's own (not-well-formed, restricted-xml) come from xstream.
 *
 * Ownership: the config's strings and tls_ctx are borrowed and must outlive
 * the stream. Stanzas handed to on_stanza belong to the callback. s2s_free
 * is safe inside any callback. */
#ifndef STOA_S2S_H
#define STOA_S2S_H

#include <ev.h>
#include <stdbool.h>

#include "tls.h"
#include "xml.h"
#include "xstream.h"

typedef struct s2s s2s;

typedef struct s2s_config {
    tls_ctx *tls;                     /* NULL: no TLS at all (tests only) */
    const char *const *local_domains; /* NULL-terminated: the domains we serve */
    const char *dialback_secret;      /* the HMAC key of our dialback keys */
    bool dialback;                    /* offer and use dialback */
    bool require_valid_certificate;   /* no dialback with a certificate that fails */
    double setup_timeout;             /* seconds until authenticated, else closed */
    double idle_timeout;              /* seconds without a stanza, then closed; 0: never */
    xstream_options stream;           /* limits, keepalive, buffers */
} s2s_config;

typedef struct s2s_callbacks {
    /* A pair of domains is authenticated: outgoing, the stream may carry
     * stanzas (s2s_send); incoming, the peer may send for the pair. */
    void (*on_ready)(void *ud, s2s *s, const char *local, const char *remote);
    /* Incoming: a stanza from an authenticated pair; the callee owns it. */
    void (*on_stanza)(void *ud, s2s *s, xml_node *stanza);
    /* Incoming: the peer claims `remote` by dialback; ask remote's
     * authoritative server whether `key` is valid for `id`, then call
     * s2s_dialback_result. */
    void (*on_verify_needed)(void *ud, s2s *s, const char *local, const char *remote,
                             const char *id, const char *key);
    /* Outgoing: the peer answered a db:verify sent with s2s_send_verify. */
    void (*on_verify_result)(void *ud, s2s *s, const char *local, const char *remote,
                             const char *id, bool valid);
    /* The stream is over (why: a short reason, never NULL). Called once;
     * the owner frees it (s2s_free). */
    void (*on_closed)(void *ud, s2s *s, const char *why);
    /* Incoming, optional: asked before `remote` is granted (SASL success,
     * dialback valid), so a refused peer never believes it may send: false
     * closes the stream with policy-violation (why: its text). */
    bool (*on_admit)(void *ud, s2s *s, const char *local, const char *remote, const char **why);
} s2s_callbacks;

/* A connected socket (owned from now on, closed on failure too): with
 * direct_tls, TLS from the first byte (XEP-0368). NULL on failure. */
s2s *s2s_connect(struct ev_loop *loop, int fd, bool direct_tls, const char *local,
                 const char *remote, const s2s_config *cfg, const s2s_callbacks *cb, void *ud);
s2s *s2s_accept(struct ev_loop *loop, int fd, bool direct_tls, const s2s_config *cfg,
                const s2s_callbacks *cb, void *ud);
void s2s_free(s2s *s);

/* Outgoing, once ready: writes the stanza (borrowed). -1 when not ready. */
int s2s_send(s2s *s, const xml_node *stanza);
/* Outgoing: asks the peer (authoritative for `remote`) about a key another
 * stream presented; sent once the features are in. -1 on OOM or closing. */
int s2s_send_verify(s2s *s, const char *local, const char *remote, const char *id, const char *key);
/* Incoming: the answer to on_verify_needed. */
void s2s_dialback_result(s2s *s, const char *local, const char *remote, bool valid);
/* Closes with a stream error condition (NULL: none) and text (NULL: none). */
void s2s_close(s2s *s, const char *condition, const char *text);

bool s2s_is_ready(const s2s *s);
bool s2s_is_incoming(const s2s *s);
/* Outgoing: the pair; incoming: the first domains the peer named. */
const char *s2s_local(const s2s *s);
const char *s2s_remote(const s2s *s);
/* Whether an incoming stream may carry stanzas from `remote` to `local`. */
bool s2s_pair_valid(const s2s *s, const char *local, const char *remote);
/* "SASL EXTERNAL", "dialback", "none" */
const char *s2s_auth_method(const s2s *s);
/* Whether TLS is up on the stream. */
bool s2s_is_secure(const s2s *s);

#endif
