#include "service.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "log.h"
#include "ns.h"
#include "stanza.h"

struct service {
    char *domain, *name, *version;
    out sink;
    muc *rooms;
    adhoc *commands;
    desk *desk;
};

/* Features this service offers, in disco#info order: its own, then those
 * of the ad-hoc engine and the desk (their tables). */
static const char *const features[] = {NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, NULL};
static const char *const *const feature_tables[] = {features, adhoc_features, desk_features};

service *service_new(const service_config *cfg, const out *sink)
{
    service *svc = calloc(1, sizeof *svc);
    if (!svc)
        return NULL;
    svc->domain = strdup(cfg->domain);
    svc->name = strdup(cfg->name);
    svc->version = strdup(cfg->version);
    if (!svc->domain || !svc->name || !svc->version) {
        service_free(svc);
        return NULL;
    }
    svc->sink = *sink;
    muc_config mc = cfg->muc;
    mc.domain = svc->domain;
    svc->rooms = muc_new(&mc, sink);
    svc->commands = adhoc_new(svc->domain, sink);
    svc->desk = svc->rooms && svc->commands
                    ? desk_new(&cfg->desk, svc->domain, svc->rooms, svc->commands, sink)
                    : NULL;
    if (!svc->rooms || !svc->commands || !svc->desk) {
        service_free(svc);
        return NULL;
    }
    return svc;
}

void service_free(service *svc)
{
    if (!svc)
        return;
    desk_free(svc->desk);
    adhoc_free(svc->commands);
    muc_free(svc->rooms);
    free(svc->domain);
    free(svc->name);
    free(svc->version);
    free(svc);
}

int service_set_name(service *svc, const char *name)
{
    char *n = strdup(name);
    if (!n)
        return -1;
    free(svc->name);
    svc->name = n;
    return 0;
}

/* Sends and frees a reply; a NULL reply means the stanza must not be
 * answered (an error or result) or memory ran out, and either way nothing
 * more can be done for it. */
static void emit(service *svc, xml_node *reply)
{
    if (!reply)
        return;
    if (out_stanza(&svc->sink, reply) < 0)
        log_debug("link not ready; reply dropped");
    xml_free(reply);
}

static void reply_error(service *svc, const xml_node *st, stanza_error e, const char *text)
{
    emit(svc, stanza_error_reply(st, e, text, NULL));
}

static void disco_info(service *svc, const xml_node *iq, const xml_node *q)
{
    if (xml_attr(q, "node")) {
        reply_error(svc, iq, STANZA_ERR_ITEM_NOT_FOUND, "no such node");
        return;
    }
    xml_node *query;
    xml_node *r = stanza_iq_reply(iq, "query", NS_DISCO_INFO, &query);
    xml_node *id = query ? xml_append_new(query, "identity", NULL) : NULL;
    if (!id || xml_set_attr(id, "category", "conference") < 0 ||
        xml_set_attr(id, "type", "text") < 0 || xml_set_attr(id, "name", svc->name) < 0)
        goto oom;
    for (size_t t = 0; t < sizeof feature_tables / sizeof feature_tables[0]; t++) {
        for (const char *const *f = feature_tables[t]; *f; f++) {
            xml_node *fe = xml_append_new(query, "feature", NULL);
            if (!fe || xml_set_attr(fe, "var", *f) < 0)
                goto oom;
        }
    }
    muc_disco_info(svc->rooms, query);
    emit(svc, r);
    return;
oom:
    xml_free(r);
    reply_error(svc, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
}

static void disco_items(service *svc, const xml_node *iq, const xml_node *q)
{
    const char *node = xml_attr(q, "node");
    xml_node *query;
    xml_node *r = stanza_iq_reply(iq, "query", NS_DISCO_ITEMS, &query);
    if (!query) {
        xml_free(r);
        reply_error(svc, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    if (node && xml_set_attr(query, "node", node) < 0) {
        xml_free(r);
        reply_error(svc, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    if (!muc_disco_items(svc->rooms, node, query)) {
        xml_free(r);
        reply_error(svc, iq, STANZA_ERR_ITEM_NOT_FOUND, "no such node");
        return;
    }
    emit(svc, r);
}

static void version(service *svc, const xml_node *iq)
{
    /* No <os/>: telling the world the host's OS helps attackers more than
     * users. */
    xml_node *q;
    xml_node *r = stanza_iq_reply(iq, "query", NS_VERSION, &q);
    xml_node *n = q ? xml_append_new(q, "name", NULL) : NULL;
    xml_node *v = q ? xml_append_new(q, "version", NULL) : NULL;
    if (!n || !v || xml_append_text(n, "Stoa") < 0 || xml_append_text(v, svc->version) < 0) {
        xml_free(r);
        reply_error(svc, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    emit(svc, r);
}

static bool ns_is(const xml_node *n, const char *ns)
{
    return xml_ns(n) && strcmp(xml_ns(n), ns) == 0;
}

static void handle_iq(service *svc, const xml_node *iq, const jid *to)
{
    const char *type = xml_attr(iq, "type");
    bool get = type && strcmp(type, "get") == 0;
    bool set = type && strcmp(type, "set") == 0;
    if (!get && !set) {
        reply_error(svc, iq, STANZA_ERR_BAD_REQUEST, "an IQ must have type get or set");
        return;
    }
    if (!xml_attr(iq, "id")) {
        reply_error(svc, iq, STANZA_ERR_BAD_REQUEST, "an IQ must have an id");
        return;
    }
    const xml_node *q = stanza_iq_payload(iq);
    if (!q) {
        reply_error(svc, iq, STANZA_ERR_BAD_REQUEST,
                    "an IQ get or set carries exactly one payload");
        return;
    }
    if (to->resource) {
        /* The service itself has no resources. */
        reply_error(svc, iq, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    if (muc_search_handle(svc->rooms, iq, q))
        return;
    const char *name = xml_name(q);
    bool known = true;
    if (ns_is(q, NS_DISCO_INFO) && strcmp(name, "query") == 0) {
        if (get) {
            disco_info(svc, iq, q);
            return;
        }
    } else if (ns_is(q, NS_DISCO_ITEMS) && strcmp(name, "query") == 0) {
        if (get) {
            disco_items(svc, iq, q);
            return;
        }
    } else if (ns_is(q, NS_PING) && strcmp(name, "ping") == 0) {
        if (get) {
            emit(svc, stanza_iq_result(iq));
            return;
        }
    } else if (ns_is(q, NS_VERSION) && strcmp(name, "query") == 0) {
        if (get) {
            version(svc, iq);
            return;
        }
    } else {
        known = false;
    }
    /* RFC 6120 8.3.3: a namespace we understand but a request we do not
     * support is feature-not-implemented; an unknown one is
     * service-unavailable. */
    reply_error(svc, iq,
                known ? STANZA_ERR_FEATURE_NOT_IMPLEMENTED : STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
}

void service_handle(service *svc, xml_node *st)
{
    const char *name = xml_name(st);
    bool is_iq = strcmp(name, "iq") == 0;
    bool is_msg = strcmp(name, "message") == 0;
    bool is_pres = strcmp(name, "presence") == 0;
    if ((!is_iq && !is_msg && !is_pres) || !ns_is(st, NS_COMPONENT)) {
        log_warn("dropping unexpected <%s/> from the server", name);
        xml_free(st);
        return;
    }
    /* Errors and results are never answered. The one kind the service acts
     * on is an answer to an IQ a room sent: one it forwarded to an
     * occupant, which comes back addressed to room/nick, or its own check
     * of an occupant (muc/recheck.c), addressed to the room. */
    bool answer = stanza_is_unanswerable(st);
    if (answer && !is_iq) {
        xml_free(st);
        return;
    }
    const char *from = xml_attr(st, "from");
    const char *to = xml_attr(st, "to");
    jid jfrom, jto;
    jid_err e;
    if (!from || (e = jid_parse(from, &jfrom)) != JID_OK) {
        /* Without a usable sender there is nobody to answer; the server
         * normally stamps 'from', so this is a server bug worth a log line. */
        if (!from) {
            log_warn("dropping <%s/> without a 'from'", name);
        } else {
            reply_error(svc, st, STANZA_ERR_JID_MALFORMED, jid_strerror(e));
        }
        xml_free(st);
        return;
    }
    if (!to || (e = jid_parse(to, &jto)) != JID_OK) {
        emit(svc, stanza_error_reply(st, STANZA_ERR_JID_MALFORMED,
                                     to ? jid_strerror(e) : "missing 'to'", svc->domain));
        jid_free(&jfrom);
        xml_free(st);
        return;
    }
    if (answer) {
        if (jto.local && strcmp(jto.domain, svc->domain) == 0)
            muc_handle(svc->rooms, st, &jfrom, &jto);
    } else if (strcmp(jto.domain, svc->domain) != 0) {
        emit(svc, stanza_error_reply(st, STANZA_ERR_ITEM_NOT_FOUND, "not a domain of this service",
                                     svc->domain));
    } else if (adhoc_handle(svc->commands, st, &jfrom, &jto)) {
        /* an ad-hoc command, or disco of the commands */
    } else if (desk_handle(svc->desk, st, &jfrom, &jto)) {
        /* a report */
    } else if (jto.local) {
        muc_handle(svc->rooms, st, &jfrom, &jto);
    } else if (is_iq) {
        handle_iq(svc, st, &jto);
    } else if (is_pres) {
        const char *type = xml_attr(st, "type");
        /* An unavailable presence needs no answer: there is no session to
         * end, and answering it would only add traffic. */
        if (!type || strcmp(type, "unavailable") != 0)
            reply_error(svc, st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
    } else {
        reply_error(svc, st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
    }
    jid_free(&jto);
    jid_free(&jfrom);
    xml_free(st);
}

void service_reject(service *svc, xml_node *shell, const char *why)
{
    char text[160];
    snprintf(text, sizeof text, "stanza refused: %s", why);
    if (xml_ns(shell) && strcmp(xml_ns(shell), NS_COMPONENT) == 0)
        emit(svc, stanza_error_reply(shell, STANZA_ERR_POLICY_VIOLATION, text, NULL));
    xml_free(shell);
}

muc *service_muc(service *svc)
{
    return svc->rooms;
}

desk *service_desk(service *svc)
{
    return svc->desk;
}

adhoc *service_adhoc(service *svc)
{
    return svc->commands;
}
