/* service: what stoa-component does with each stanza the server routes to it.
 *
 * The dispatch is kept apart from the link (complink), so unit tests can feed
 * literal stanzas in and read the stanzas that come out without a socket.
 * It answers service discovery (XEP-0030), ping (XEP-0199) and software
 * version (XEP-0092) for the service itself, validates addresses, hands
 * stanzas for rooms to muc/, and answers everything else with the RFC 6120
 * error that fits.
 *
 * Ownership: service_handle takes the stanza. */
#ifndef STOA_SERVICE_H
#define STOA_SERVICE_H

#include "adhoc.h"
#include "desk/desk.h"
#include "muc/muc.h"
#include "out.h"
#include "xml.h"

typedef struct service service;

typedef struct service_config {
    const char *domain;  /* normalized component domain */
    const char *name;    /* disco identity name */
    const char *version; /* XEP-0092 version */
    muc_config muc;      /* rooms; muc.domain is filled in from domain */
    desk_config desk;    /* abuse reports and the moderator desk */
} service_config;

/* Copies the config strings and the sink. NULL on OOM. */
service *service_new(const service_config *cfg, const out *sink);
void service_free(service *svc);
/* Changes the disco name (SIGHUP). 0 or -1 on OOM. */
int service_set_name(service *svc, const char *name);
/* Handles one stanza from the server; takes ownership. */
void service_handle(service *svc, xml_node *stanza);
/* Answers a stanza the stream skipped for breaking a limit (its shell:
 * name and addressing only) with policy-violation; takes ownership. */
void service_reject(service *svc, xml_node *shell, const char *why);
/* The rooms, for statistics. */
muc *service_muc(service *svc);
/* The abuse desk, to give it Redis. */
desk *service_desk(service *svc);
/* The ad-hoc command engine, for modules to register their commands in. */
adhoc *service_adhoc(service *svc);

#endif
