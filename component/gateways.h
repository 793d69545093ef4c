/* gateways: stoa-component's links to one or more stoa-gateway processes.
 *
 * A listening socket (loopback or a configured address) where gateways
 * connect and authenticate as XEP-0114 components do with the shared
 * secret: the gateway opens a jabber:component:accept stream to the
 * component's domain, we answer with a stream id, it sends the hex SHA-1 of
 * the id and the secret (docs/gateway.md has the wire protocol).
 *
 * Inbound: what an authenticated gateway sends goes to on_stanza, the same
 * entry the host server's link uses, so the gate and the rooms see a remote
 * user's stanza exactly as if the host server had relayed it.
 *
 * Outbound: gateways_sink() is where handlers write. While no gateway is
 * attached it is the host link's own queue, untouched. With one attached,
 * handlers write into a staging buffer and commit splits it stanza by
 * stanza (xmlframe finds the boundaries and the `to` of each): a stanza for
 * the component's own domain or one of the host server's domains (and
 * their subdomains) goes to the host link, any other to a gateway, chosen
 * by the destination domain so that one domain's stanzas keep their order.
 *
 * Ownership: strings in the config are copied, except host_domains,
 * borrowed for the life of g. Stanzas handed to on_stanza
 * and on_dropped belong to the callback. */
#ifndef STOA_GATEWAYS_H
#define STOA_GATEWAYS_H

#include <ev.h>

#include "out.h"
#include "xml.h"
#include "xstream.h"

typedef struct gateways gateways;

typedef struct gateways_config {
    const char *listen; /* IP address */
    int port;
    const char *secret;
    const char *domain;       /* the component's domain */
    char **host_domains;      /* NULL-terminated: stay on the host link */
    xstream_options stream;   /* limits on what a gateway sends */
    double handshake_timeout; /* seconds to authenticate */
} gateways_config;

typedef struct gateways_callbacks {
    void (*on_stanza)(void *ud, xml_node *stanza);
    void (*on_dropped)(void *ud, xml_node *shell, const char *why);
} gateways_callbacks;

/* NULL with err on failure (cannot listen, OOM). `host` is the host link's
 * sink (copied). */
gateways *gateways_new(struct ev_loop *loop, const gateways_config *cfg, const out *host,
                       const gateways_callbacks *cb, void *ud, char *err, size_t errlen);
void gateways_free(gateways *g);
/* The sink handlers write into (valid as long as g). */
const out *gateways_sink(gateways *g);
/* Gateways authenticated now. */
unsigned gateways_attached(const gateways *g);
/* Stops listening and closes every link. */
void gateways_stop(gateways *g);

#endif
