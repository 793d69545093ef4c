#include "stanza.h"

#include <stdlib.h>
#include <string.h>

#include "ns.h"

static const struct {
    const char *condition;
    const char *type;
} errors[STANZA_ERR__COUNT] = {
    /* Types follow RFC 6120 section 8.3.3's suggestions. */
    [STANZA_ERR_BAD_REQUEST] = {"bad-request", "modify"},
    [STANZA_ERR_CONFLICT] = {"conflict", "cancel"},
    [STANZA_ERR_FEATURE_NOT_IMPLEMENTED] = {"feature-not-implemented", "cancel"},
    [STANZA_ERR_FORBIDDEN] = {"forbidden", "auth"},
    [STANZA_ERR_GONE] = {"gone", "cancel"},
    [STANZA_ERR_INTERNAL_SERVER_ERROR] = {"internal-server-error", "cancel"},
    [STANZA_ERR_ITEM_NOT_FOUND] = {"item-not-found", "cancel"},
    [STANZA_ERR_JID_MALFORMED] = {"jid-malformed", "modify"},
    [STANZA_ERR_NOT_ACCEPTABLE] = {"not-acceptable", "modify"},
    [STANZA_ERR_NOT_ALLOWED] = {"not-allowed", "cancel"},
    [STANZA_ERR_NOT_AUTHORIZED] = {"not-authorized", "auth"},
    [STANZA_ERR_POLICY_VIOLATION] = {"policy-violation", "modify"},
    [STANZA_ERR_RECIPIENT_UNAVAILABLE] = {"recipient-unavailable", "wait"},
    [STANZA_ERR_REDIRECT] = {"redirect", "modify"},
    [STANZA_ERR_REGISTRATION_REQUIRED] = {"registration-required", "auth"},
    [STANZA_ERR_REMOTE_SERVER_NOT_FOUND] = {"remote-server-not-found", "cancel"},
    [STANZA_ERR_REMOTE_SERVER_TIMEOUT] = {"remote-server-timeout", "wait"},
    [STANZA_ERR_RESOURCE_CONSTRAINT] = {"resource-constraint", "wait"},
    [STANZA_ERR_SERVICE_UNAVAILABLE] = {"service-unavailable", "cancel"},
    [STANZA_ERR_SUBSCRIPTION_REQUIRED] = {"subscription-required", "auth"},
    [STANZA_ERR_UNDEFINED_CONDITION] = {"undefined-condition", "cancel"},
    [STANZA_ERR_UNEXPECTED_REQUEST] = {"unexpected-request", "wait"},
};

const char *stanza_error_condition(stanza_error e)
{
    return e < STANZA_ERR__COUNT ? errors[e].condition : "undefined-condition";
}

const char *stanza_error_type(stanza_error e)
{
    return e < STANZA_ERR__COUNT ? errors[e].type : "cancel";
}

stanza_error stanza_error_of(const xml_node *stanza)
{
    const xml_node *err = xml_child(stanza, "error", NULL);
    for (xml_node *c = err ? xml_first_child(err) : NULL; c; c = xml_next(c)) {
        if (xml_is_text(c) || !xml_ns(c) || strcmp(xml_ns(c), NS_STANZAS) != 0)
            continue;
        for (int e = 0; e < STANZA_ERR__COUNT; e++) {
            if (strcmp(xml_name(c), errors[e].condition) == 0)
                return (stanza_error)e;
        }
    }
    return STANZA_ERR_UNDEFINED_CONDITION;
}

bool stanza_is_unanswerable(const xml_node *stanza)
{
    const char *type = xml_attr(stanza, "type");
    if (type && strcmp(type, "error") == 0)
        return true;
    if (strcmp(xml_name(stanza), "iq") == 0 && type && strcmp(type, "result") == 0)
        return true;
    return false;
}

/* A reply shell: same element and id, from and to swapped. */
static xml_node *reply_shell(const xml_node *stanza, const char *type, const char *from_override)
{
    xml_node *r = xml_new(xml_name(stanza), xml_ns(stanza));
    if (!r)
        return NULL;
    const char *id = xml_attr(stanza, "id");
    const char *from = xml_attr(stanza, "from");
    const char *to = from_override ? from_override : xml_attr(stanza, "to");
    if ((id && xml_set_attr(r, "id", id) < 0) || (from && xml_set_attr(r, "to", from) < 0) ||
        (to && xml_set_attr(r, "from", to) < 0) || xml_set_attr(r, "type", type) < 0) {
        xml_free(r);
        return NULL;
    }
    return r;
}

xml_node *stanza_error_reply(const xml_node *stanza, stanza_error e, const char *text,
                             const char *from_override)
{
    if (stanza_is_unanswerable(stanza))
        return NULL;
    xml_node *r = reply_shell(stanza, "error", from_override);
    if (!r)
        return NULL;
    /* Echoing a message's or presence's payload helps the sender see what
     * failed; an IQ's payload is not echoed (RFC 6120 8.3.1 makes it optional
     * and it may be large). */
    if (strcmp(xml_name(stanza), "iq") != 0) {
        for (xml_node *c = xml_first_child(stanza); c; c = xml_next(c)) {
            if (xml_is_text(c) || strcmp(xml_name(c), "error") == 0)
                continue;
            xml_node *cc = xml_copy(c);
            if (!cc)
                goto fail;
            xml_append(r, cc);
        }
    }
    xml_node *err = xml_append_new(r, "error", NULL);
    if (!err || xml_set_attr(err, "type", stanza_error_type(e)) < 0 ||
        !xml_append_new(err, stanza_error_condition(e), NS_STANZAS))
        goto fail;
    if (text) {
        xml_node *t = xml_append_new(err, "text", NS_STANZAS);
        if (!t || xml_set_attr(t, "xml:lang", "en") < 0 || xml_append_text(t, text) < 0)
            goto fail;
    }
    return r;
fail:
    xml_free(r);
    return NULL;
}

xml_node *stanza_iq_result(const xml_node *iq)
{
    return reply_shell(iq, "result", NULL);
}

xml_node *stanza_iq_reply(const xml_node *iq, const char *name, const char *ns, xml_node **payload)
{
    xml_node *r = stanza_iq_result(iq);
    *payload = r ? xml_append_new(r, name, ns) : NULL;
    if (!*payload) {
        xml_free(r);
        return NULL;
    }
    return r;
}

xml_node *stanza_iq_payload(const xml_node *iq)
{
    xml_node *found = NULL;
    for (xml_node *c = xml_first_child(iq); c; c = xml_next(c)) {
        if (xml_is_text(c))
            continue;
        if (found)
            return NULL;
        found = c;
    }
    return found;
}

/* ---- a stanza as it comes in ---- */

static jid_err parse_addr(const xml_node *st, const char *name, jid *out, bool *has)
{
    const char *s = xml_attr(st, name);
    *has = s != NULL;
    return s ? jid_parse(s, out) : JID_ERR_EMPTY;
}

stanza_ctx *stanza_ctx_new(xml_node *st)
{
    stanza_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        xml_free(st);
        return NULL;
    }
    c->st = st;
    const char *name = xml_name(st);
    c->kind = strcmp(name, "iq") == 0         ? STANZA_IQ
              : strcmp(name, "message") == 0  ? STANZA_MESSAGE
              : strcmp(name, "presence") == 0 ? STANZA_PRESENCE
                                              : STANZA_OTHER;
    c->type = xml_attr(st, "type");
    c->answer = stanza_is_unanswerable(st);
    c->payload = c->kind == STANZA_IQ ? stanza_iq_payload(st) : NULL;
    c->from_err = parse_addr(st, "from", &c->from, &c->has_from);
    c->to_err = parse_addr(st, "to", &c->to, &c->has_to);
    if (c->from_err == JID_OK) {
        /* One allocation for both forms: the full JID, then the bare one. */
        char *full = jid_full(&c->from);
        size_t fl = full ? strlen(full) : 0;
        size_t bl = c->from.resource ? fl - strlen(c->from.resource) - 1 : fl;
        char *both = full ? realloc(full, fl + 1 + bl + 1) : NULL;
        if (both) {
            memcpy(both + fl + 1, both, bl);
            both[fl + 1 + bl] = '\0';
            c->from_full = both;
            c->from_bare = both + fl + 1;
        } else {
            free(full);
        }
    }
    return c;
}

void stanza_ctx_free(stanza_ctx *c)
{
    if (!c)
        return;
    free((char *)c->from_full);
    if (c->from_err == JID_OK)
        jid_free(&c->from);
    if (c->to_err == JID_OK)
        jid_free(&c->to);
    xml_free(c->st);
    free(c);
}
