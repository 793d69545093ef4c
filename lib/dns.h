/* dns: the gateway's DNS, c-ares driven by libev.
 *
 * Where to connect for a remote XMPP server: RFC 6120 section 3.2 with
 * XEP-0368. The SRV records _xmpp-server._tcp (STARTTLS) and
 * _xmpps-server._tcp (direct TLS) are asked for at once and merged into one
 * list, ordered by priority and, within a priority, by a weighted random
 * draw (RFC 2782), direct TLS and STARTTLS alike. A single "." target means
 * the domain offers no such service. With no SRV record at all, the domain
 * itself on port 5269 (STARTTLS). Then each target's A and AAAA records
 * (dns_addresses), which the dialer tries in turn.
 *
 * c-ares does the asking; its sockets are libev watchers and its timeouts a
 * libev timer, so nothing blocks the loop (libstrophe's own use of c-ares
 * is a blocking loop of select() calls).
 *
 * Ownership: results passed to callbacks are borrowed for the call. A query
 * ends with its callback, exactly once, unless cancelled first (then
 * never); dns_free cancels every query still running. */
#ifndef STOA_DNS_H
#define STOA_DNS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "dial.h"

typedef struct dns dns;
typedef struct dns_query dns_query;

typedef struct dns_target {
    char *host;
    int port;
    bool direct_tls; /* from _xmpps-server: TLS from the first byte */
} dns_target;

/* targets: in the order to try; n == 0 with error set on failure. */
typedef void (*dns_target_cb)(void *ud, const dns_target *targets, size_t n, const char *error);
/* addrs: in the order to try; n == 0 with error set on failure. */
typedef void (*dns_addr_cb)(void *ud, const dial_addr *addrs, size_t n, const char *error);

/* servers: "192.0.2.53:53,[2001:db8::53]:53", or NULL/"" for the system's
 * (/etc/resolv.conf). timeout: seconds per try. NULL with err on failure. */
dns *dns_new(struct ev_loop *loop, const char *servers, double timeout, char *err, size_t errlen);
void dns_free(dns *d);

/* The targets for a remote server domain (see above). NULL on OOM. */
dns_query *dns_xmpp_server(dns *d, const char *domain, dns_target_cb cb, void *ud);
/* A and AAAA of host, as addresses on port. NULL on OOM. */
dns_query *dns_addresses(dns *d, const char *host, int port, dns_addr_cb cb, void *ud);
void dns_cancel(dns_query *q);

/* RFC 2782's order, exposed for the unit tests: sorts n records in place by
 * priority, and within a priority by a weighted draw using `rnd` (a
 * function returning a uniform value in [0, 1)). */
typedef struct dns_srv {
    dns_target t;
    unsigned priority, weight;
} dns_srv;
void dns_srv_order(dns_srv *recs, size_t n, double (*rnd)(void));

#endif
