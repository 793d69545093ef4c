/* tls: TLS (GnuTLS) as a transport, and the checks RFC 6125 and RFC 7590
 * ask of a server-to-server peer's certificate.
 *
 * A tls_ctx holds what every session shares: our certificate and key, the
 * trust anchors (the system's store or a configured CA file) and the
 * priority string (TLS 1.2 and later, RFC 7590). tls_wrap turns a transport
 * into a TLS one, for STARTTLS (xstream_starttls) or direct TLS (XEP-0368);
 * the handshake runs inside xstream.
 *
 * Peer identity (RFC 6125, with RFC 6120 section 13.7.1.2): the chain must
 * lead to a trust anchor, be within its dates, and the certificate must name
 * the domain as a DNS-ID (a leftmost wildcard allowed), an SRV-ID
 * "_xmpp-server.<domain>" (id-on-dnsSRV) or an XmppAddr (id-on-xmppAddr);
 * the subject's common name only when the certificate has no subject
 * alternative name at all.
 *
 * Ownership: a tls_ctx outlives every transport made from it. tls_wrap
 * takes the inner transport (freed on failure too). */
#ifndef STOA_TLS_H
#define STOA_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "transport.h"

typedef struct tls_ctx tls_ctx;

typedef struct tls_config {
    const char *cert_file; /* PEM chain, leaf first; NULL: none (a client that shows none) */
    const char *key_file;  /* PEM private key */
    const char *ca_file;   /* PEM trust anchors; NULL or "": the system trust store */
    const char *priority;  /* GnuTLS priority string; NULL: TLS 1.2 and later, NORMAL */
} tls_config;

/* NULL with a message in err when a file cannot be read or does not fit. */
tls_ctx *tls_ctx_new(const tls_config *cfg, char *err, size_t errlen);
void tls_ctx_free(tls_ctx *c);

typedef enum { TLS_CLIENT, TLS_SERVER } tls_role;

/* A TLS transport over `inner`. A client sends `server_name` as SNI; a
 * server asks for the peer's certificate (for SASL EXTERNAL). `alpn`:
 * protocol offered or accepted ("xmpp-server" for XEP-0368), or NULL.
 * NULL on failure. */
transport *tls_wrap(tls_ctx *c, transport *inner, tls_role role, const char *server_name,
                    const char *alpn);
bool tls_is_tls(const transport *t);

/* After the handshake: whether the peer's certificate is valid for
 * `domain` (chain, dates, name as above). 0 when it is; -1 with the reason
 * in why ("no certificate", "not trusted: ...", "not valid for x"). */
int tls_peer_valid_for(transport *t, const char *domain, char *why, size_t len);
/* "TLS1.3 / ECDHE-..." for logs; never NULL. */
const char *tls_describe(transport *t, char *out, size_t len);

/* The name check alone, on a DER certificate (unit tests): 0 or -1. */
int tls_cert_names_domain(const void *der, size_t len, const char *domain);

#endif
