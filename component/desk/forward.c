/* desk/forward.c: reports across federation. When a service moderator acts
 * on a report about a user of a remote domain ([desk] forward_reports), the
 * report goes to that domain's abuse contact: the xmpp: addresses of the
 * abuse-addresses field in its disco#info serverinfo form (XEP-0157), each
 * sent a message in the shape Prosody's mod_report_forward sends and Stoa's
 * own desk reads (an XEP-0377 <report/> with the reported <jid/>, and
 * <forwarded/> copies of the evidence held). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/internal.h"
#include "jid.h"
#include "log.h"
#include "ns.h"
#include "xmlparse.h"
#include "xtime.h"

#define FWD_PREFIX "desk-fwd-"
#define FWD_PENDING_MAX 64  /* disco requests in flight */
#define FWD_WAIT 60.0       /* seconds a disco#info answer may take */
#define FWD_ADDRESSES_MAX 3 /* abuse addresses written to per report */
#define FWD_EVIDENCE_MAX 20 /* forwarded copies per report */
#define NS_SERVERINFO "http://jabber.org/network/serverinfo"

struct desk_fwd {
    desk_fwd *next;
    char id[32];
    char *domain, *target, *reason, *text, *evidence, *actor;
    double since;
};

static void fwd_free(desk_fwd *f)
{
    if (!f)
        return;
    free(f->domain);
    free(f->target);
    free(f->reason);
    free(f->text);
    free(f->evidence);
    free(f->actor);
    free(f);
}

void desk_forward_free(desk *d)
{
    for (desk_fwd *f = d->fwd, *next; f; f = next) {
        next = f->next;
        fwd_free(f);
    }
    d->fwd = NULL;
}

bool desk_forward_remote(const desk *d, const char *target)
{
    const char *at = target ? strchr(target, '@') : NULL;
    if (!d->forward || !at || strchr(at, '/'))
        return false;
    const char *dom = at + 1;
    size_t n = strlen(d->domain), m = strlen(dom);
    /* Our own service and its subdomains, and the host servers that
     * forward their users' blocks, are not remote. */
    if (strcmp(dom, d->domain) == 0 ||
        (m > n && dom[m - n - 1] == '.' && strcmp(dom + m - n, d->domain) == 0))
        return false;
    for (char **s = d->servers; s && *s; s++)
        if (strcmp(*s, dom) == 0)
            return false;
    return true;
}

/* Drops requests the remote domain never answered, with a word. */
static void expire(desk *d, double now)
{
    desk_fwd **pp = &d->fwd;
    size_t n = 0;
    while (*pp) {
        desk_fwd *f = *pp;
        if (now - f->since > FWD_WAIT || ++n > FWD_PENDING_MAX) {
            log_warn("desk: %s did not answer disco#info within %.0f s: the report about %s "
                     "was not forwarded",
                     f->domain, FWD_WAIT, f->target);
            desk_audit(d, "stoa", "forward-failed", f->target, NULL, NULL, "no disco#info answer");
            *pp = f->next;
            fwd_free(f);
            continue;
        }
        pp = &f->next;
    }
}

void desk_forward(desk *d, const char *actor, const char *target, const char *reason,
                  const char *text, const char *evidence)
{
    double now = xtime_mono();
    expire(d, now);
    desk_fwd *f = calloc(1, sizeof *f);
    const char *dom = strchr(target, '@') + 1;
    if (!f || !(f->domain = strdup(dom)) || !(f->target = strdup(target)) ||
        !(f->reason = strdup(reason ? reason : "abuse")) || !(f->text = strdup(text ? text : "")) ||
        !(f->evidence = strdup(evidence ? evidence : "")) || !(f->actor = strdup(actor))) {
        fwd_free(f);
        log_error("desk: out of memory forwarding a report");
        return;
    }
    f->since = now;
    snprintf(f->id, sizeof f->id, FWD_PREFIX "%u", ++d->fwd_seq);
    xml_node *iq = xml_new("iq", d->sink.ns);
    xml_node *q = iq ? xml_append_new(iq, "query", NS_DISCO_INFO) : NULL;
    if (!q || xml_set_attr(iq, "type", "get") < 0 || xml_set_attr(iq, "from", d->domain) < 0 ||
        xml_set_attr(iq, "to", f->domain) < 0 || xml_set_attr(iq, "id", f->id) < 0) {
        xml_free(iq);
        fwd_free(f);
        return;
    }
    desk_emit(d, iq);
    f->next = d->fwd;
    d->fwd = f;
}

/* ---- the answer ---- */

/* The JID of an xmpp: URI (RFC 5122: percent-encoded, a query after '?'),
 * normalized; NULL when it is none. */
static char *uri_jid(const char *uri)
{
    if (!uri || strncmp(uri, "xmpp:", 5) != 0)
        return NULL;
    const char *s = uri + 5;
    if (s[0] == '/' && s[1] == '/') /* an authority names our account, not theirs */
        return NULL;
    char raw[1024];
    size_t n = 0;
    for (; *s && *s != '?' && *s != '#' && n + 1 < sizeof raw; s++) {
        if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char hex[3] = {s[1], s[2], 0};
            raw[n++] = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            raw[n++] = *s;
        }
    }
    raw[n] = '\0';
    jid_err e;
    return jid_normalize(raw, &e);
}

/* The serverinfo form's abuse addresses that are JIDs; returns how many. */
static size_t abuse_jids(const xml_node *query, char **out, size_t max)
{
    size_t n = 0;
    for (xml_node *x = xml_first_child(query); x; x = xml_next(x)) {
        if (xml_is_text(x) || strcmp(xml_name(x), "x") != 0 || !xml_ns(x) ||
            strcmp(xml_ns(x), NS_DATA) != 0)
            continue;
        const xml_node *ft = NULL, *abuse = NULL;
        for (xml_node *f = xml_first_child(x); f; f = xml_next(f)) {
            const char *var = xml_is_text(f) ? NULL : xml_attr(f, "var");
            if (var && strcmp(var, "FORM_TYPE") == 0)
                ft = f;
            else if (var && strcmp(var, "abuse-addresses") == 0)
                abuse = f;
        }
        xml_node *ftv = ft ? xml_child(ft, "value", NS_DATA) : NULL;
        if (!ftv || !xml_text(ftv) || strcmp(xml_text(ftv), NS_SERVERINFO) != 0 || !abuse)
            continue;
        for (xml_node *v = xml_first_child(abuse); v && n < max; v = xml_next(v))
            if (!xml_is_text(v) && strcmp(xml_name(v), "value") == 0 &&
                (out[n] = uri_jid(xml_text(v))))
                n++;
    }
    return n;
}

/* <forwarded/> copies of the evidence held (an XML list of messages with
 * nick, stamp and body, as the store keeps it). */
static void add_evidence(xml_node *msg, const desk_fwd *f)
{
    xmlparse_limits lim = {1 << 20, 16, 16, 4096};
    xml_node *doc =
        *f->evidence ? xml_parse_document(f->evidence, strlen(f->evidence), &lim) : NULL;
    size_t n = 0;
    for (xml_node *m = doc ? xml_first_child(doc) : NULL; m && n < FWD_EVIDENCE_MAX;
         m = xml_next(m)) {
        xml_node *body = xml_is_text(m) ? NULL : xml_child(m, "body", NULL);
        if (!body || !xml_text(body))
            continue;
        xml_node *fw = xml_append_new(msg, "forwarded", NS_FORWARD);
        xml_node *delay = fw ? xml_append_new(fw, "delay", NS_DELAY) : NULL;
        xml_node *copy = fw ? xml_append_new(fw, "message", "jabber:client") : NULL;
        xml_node *b = copy ? xml_append_new(copy, "body", "jabber:client") : NULL;
        char stamp[64] = "";
        if (xml_attr(m, "stamp") && atof(xml_attr(m, "stamp")) > 0)
            xtime_format(atof(xml_attr(m, "stamp")), stamp);
        if (!b || (*stamp && xml_set_attr(delay, "stamp", stamp) < 0) ||
            xml_set_attr(copy, "from", f->target) < 0 || xml_append_text(b, xml_text(body)) < 0)
            break;
        n++;
    }
    xml_free(doc);
}

static xml_node *report_message(const desk *d, const desk_fwd *f, const char *to, unsigned i)
{
    char id[48], text[1400];
    snprintf(id, sizeof id, "%s-%u", f->id, i);
    snprintf(text, sizeof text,
             "Abuse report from %s about %s (%s), confirmed by its moderators%s%.1000s", d->domain,
             f->target, f->reason, *f->text ? ": " : ".", f->text);
    xml_node *m = xml_new("message", d->sink.ns);
    xml_node *body = m ? xml_append_new(m, "body", d->sink.ns) : NULL;
    xml_node *r = m ? xml_append_new(m, "report", NS_REPORTING1) : NULL;
    xml_node *j = r ? xml_append_new(r, "jid", NS_JID0) : NULL;
    xml_node *t = r && *f->text ? xml_append_new(r, "text", NS_REPORTING1) : NULL;
    bool spam = strcmp(f->reason, "spam") == 0;
    if (!j || xml_set_attr(m, "from", d->domain) < 0 || xml_set_attr(m, "to", to) < 0 ||
        xml_set_attr(m, "id", id) < 0 || xml_set_attr(m, "type", "normal") < 0 ||
        xml_append_text(body, text) < 0 ||
        xml_set_attr(r, "reason", spam ? NS_REPORTING_SPAM : NS_REPORTING_ABUSE) < 0 ||
        xml_append_text(j, f->target) < 0 ||
        (*f->text && (!t || xml_append_text(t, f->text) < 0))) {
        xml_free(m);
        return NULL;
    }
    add_evidence(m, f);
    return m;
}

static void deliver(desk *d, desk_fwd *f, const xml_node *st)
{
    const xml_node *q = xml_child(st, "query", NS_DISCO_INFO);
    char *to[FWD_ADDRESSES_MAX] = {NULL};
    size_t n = q ? abuse_jids(q, to, FWD_ADDRESSES_MAX) : 0;
    if (!n) {
        log_info("desk: %s publishes no xmpp: abuse address (XEP-0157): the report about %s "
                 "was not forwarded",
                 f->domain, f->target);
        desk_audit(d, f->actor, "forward-failed", f->target, NULL, NULL, "no abuse address");
        return;
    }
    char detail[600] = "to";
    for (size_t i = 0; i < n; i++) {
        desk_emit(d, report_message(d, f, to[i], (unsigned)i));
        size_t len = strlen(detail);
        snprintf(detail + len, sizeof detail - len, " %s", to[i]);
        free(to[i]);
    }
    log_info("desk: the report about %s forwarded %s", f->target, detail);
    desk_audit(d, f->actor, "forward", f->target, NULL, NULL, detail);
}

bool desk_forward_answer(desk *d, const stanza_ctx *c)
{
    const char *id = xml_attr(c->st, "id");
    if (!c->answer || c->kind != STANZA_IQ || !id ||
        strncmp(id, FWD_PREFIX, sizeof FWD_PREFIX - 1) != 0)
        return false;
    for (desk_fwd **pp = &d->fwd; *pp; pp = &(*pp)->next) {
        desk_fwd *f = *pp;
        if (strcmp(f->id, id) != 0 || !c->from_full || strcmp(c->from_full, f->domain) != 0)
            continue;
        *pp = f->next;
        if (c->type && strcmp(c->type, "error") == 0) {
            log_info("desk: %s refused disco#info (%s): the report about %s was not forwarded",
                     f->domain, stanza_error_condition(stanza_error_of(c->st)), f->target);
            desk_audit(d, f->actor, "forward-failed", f->target, NULL, NULL, "disco#info refused");
        } else {
            deliver(d, f, c->st);
        }
        fwd_free(f);
        return true;
    }
    return false;
}
