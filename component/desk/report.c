#include "desk/report.h"

#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "ns.h"

static bool ns_is(const xml_node *n, const char *ns)
{
    return n && !xml_is_text(n) && xml_ns(n) && strcmp(xml_ns(n), ns) == 0;
}

static bool named(const xml_node *n, const char *name, const char *ns)
{
    return ns_is(n, ns) && strcmp(xml_name(n), name) == 0;
}

static const xml_node *report_child(const xml_node *n)
{
    const xml_node *r = xml_child(n, "report", NS_REPORTING1);
    return r ? r : xml_child(n, "report", NS_REPORTING0);
}

/* The copied IQ inside a server's <message><forwarded>, if any. */
static const xml_node *forwarded_iq(const xml_node *msg)
{
    const xml_node *f = xml_child(msg, "forwarded", NS_FORWARD);
    const xml_node *iq = f ? xml_child(f, "iq", NULL) : NULL;
    if (!iq || !xml_attr(iq, "type") || strcmp(xml_attr(iq, "type"), "set") != 0)
        return NULL;
    const xml_node *p = stanza_iq_payload(iq);
    if (!p || !ns_is(p, NS_BLOCKING))
        return NULL;
    return iq;
}

bool report_is_report(const xml_node *st)
{
    const char *name = xml_name(st);
    if (strcmp(name, "iq") == 0) {
        const xml_node *p = stanza_iq_payload(st);
        return p && (named(p, "report", NS_REPORTING1) || named(p, "report", NS_REPORTING0) ||
                     (ns_is(p, NS_BLOCKING) && strcmp(xml_name(p), "blocklist") != 0));
    }
    if (strcmp(name, "message") == 0)
        return forwarded_iq(st) || report_child(st);
    return false;
}

/* Normalized JID string of s (bare unless keep_resource), or NULL. */
static char *norm(const char *s, bool keep_resource)
{
    jid j;
    if (!s || jid_parse(s, &j) != JID_OK)
        return NULL;
    char *out = keep_resource ? jid_full(&j) : jid_bare(&j);
    jid_free(&j);
    return out;
}

static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* A copy of at most max bytes (cut on a character boundary) in which
 * bidirectional overrides and isolates (U+202A-202E, U+2066-2069) and other
 * C0 controls but tab and newline become '?': a report shown to moderators
 * must not be able to reorder what they read. */
static char *clean_text(const char *s, size_t max)
{
    size_t n = utf8_cut(s, max);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        if (u[0] == 0xE2 && i + 2 < n + 0 && u[1] == 0x80 && u[2] >= 0xAA && u[2] <= 0xAE) {
            out[k++] = '?';
            i += 3;
        } else if (u[0] == 0xE2 && i + 2 < n && u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9) {
            out[k++] = '?';
            i += 3;
        } else if (u[0] < 0x20 && u[0] != '\n' && u[0] != '\t') {
            out[k++] = '?';
            i++;
        } else {
            out[k++] = s[i++];
        }
    }
    out[k] = '\0';
    return out;
}

static void item_free(report_item *it)
{
    free(it->target);
    free(it->text);
    free(it->forwarded);
    for (size_t i = 0; i < it->nrefs; i++) {
        free(it->refs[i].by);
        free(it->refs[i].id);
    }
    memset(it, 0, sizeof *it);
}

void report_batch_free(report_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        item_free(&b->items[i]);
    for (size_t i = 0; i < b->nblocked; i++)
        free(b->blocked[i]);
    free(b->blocked);
    free(b->reporter);
    memset(b, 0, sizeof *b);
}

#define FAIL(cond, text)                                                                           \
    do {                                                                                           \
        *e = (cond);                                                                               \
        *why = (text);                                                                             \
        return -1;                                                                                 \
    } while (0)

/* Reads one <report/> (either namespace) into it; target may already be
 * set (from a blocking item) or come from the report's <jid/>. strict: the
 * sender can be told about a problem (direct reports); otherwise what can
 * be kept is kept (a server's copy has nobody to answer). */
static int parse_report(const xml_node *r, report_item *it, bool strict, stanza_error *e,
                        const char **why)
{
    if (ns_is(r, NS_REPORTING1)) {
        const char *reason = xml_attr(r, "reason");
        if (!reason)
            FAIL(STANZA_ERR_BAD_REQUEST, "a report needs a reason");
        if (strcmp(reason, NS_REPORTING_SPAM) == 0)
            it->reason = "spam";
        else if (strcmp(reason, NS_REPORTING_ABUSE) == 0)
            it->reason = "abuse";
        else
            FAIL(STANZA_ERR_BAD_REQUEST, "unknown report reason");
    } else {
        if (xml_child(r, "spam", NULL))
            it->reason = "spam";
        else if (xml_child(r, "abuse", NULL))
            it->reason = "abuse";
        else
            FAIL(STANZA_ERR_BAD_REQUEST, "a report needs <spam/> or <abuse/>");
    }
    const xml_node *j = xml_child(r, "jid", NS_JID0);
    if (j && !it->target) {
        const char *t = xml_text((xml_node *)j);
        if (!t || !(it->target = norm(t, true)))
            FAIL(STANZA_ERR_JID_MALFORMED, "the reported address is not a valid JID");
    }
    const xml_node *tx = xml_child(r, "text", NULL);
    if (!tx)
        tx = xml_child(r, "reason", NULL); /* reporting:0 drafts */
    const char *text = tx ? xml_text((xml_node *)tx) : NULL;
    if (text && *text) {
        if (strict && strlen(text) > REPORT_TEXT_MAX)
            FAIL(STANZA_ERR_NOT_ACCEPTABLE, "report text is longer than 1000 bytes");
        if (!(it->text = clean_text(text, REPORT_TEXT_MAX)))
            FAIL(STANZA_ERR_INTERNAL_SERVER_ERROR, "out of memory");
    }
    for (const xml_node *c = xml_first_child(r); c; c = xml_next(c)) {
        if (!named(c, "stanza-id", NS_SID))
            continue;
        if (it->nrefs == REPORT_REFS_MAX) {
            if (strict)
                FAIL(STANZA_ERR_POLICY_VIOLATION, "a report may cite at most 20 messages");
            break;
        }
        const char *id = xml_attr(c, "id");
        char *by = norm(xml_attr(c, "by"), false);
        if (!by || !id || !*id || strlen(id) > 128) {
            free(by);
            if (strict)
                FAIL(STANZA_ERR_BAD_REQUEST, "a stanza-id needs a valid 'by' and an 'id'");
            continue;
        }
        report_ref *ref = &it->refs[it->nrefs];
        if (!(ref->id = strdup(id))) {
            free(by);
            FAIL(STANZA_ERR_INTERNAL_SERVER_ERROR, "out of memory");
        }
        ref->by = by;
        it->nrefs++;
    }
    return 0;
}

/* The bodies of a message's <forwarded> copies, for mod_report_forward. */
static char *forwarded_bodies(const xml_node *msg)
{
    buf b = BUF_INIT;
    for (const xml_node *f = xml_first_child(msg); f; f = xml_next(f)) {
        if (!named(f, "forwarded", NS_FORWARD))
            continue;
        const xml_node *m = xml_child(f, "message", NULL);
        const xml_node *body = m ? xml_child(m, "body", NULL) : NULL;
        const char *t = body ? xml_text((xml_node *)body) : NULL;
        if (!t)
            continue;
        if (b.len)
            buf_puts(&b, "\n");
        buf_puts(&b, t);
        if (b.len > REPORT_FWD_TEXT_MAX)
            break;
    }
    char *raw = b.len ? buf_strdup(&b) : NULL;
    buf_free(&b);
    char *out = raw ? clean_text(raw, REPORT_FWD_TEXT_MAX) : NULL;
    free(raw);
    return out;
}

/* <block>/<unblock> items: reports inside and the block list change. */
static int parse_blocking(const xml_node *p, report_batch *out, bool strict, stanza_error *e,
                          const char **why)
{
    bool block = strcmp(xml_name(p), "block") == 0;
    if (!block && strcmp(xml_name(p), "unblock") != 0)
        FAIL(STANZA_ERR_BAD_REQUEST, "expected <block/> or <unblock/>");
    out->unblock = !block;
    size_t items = 0;
    for (const xml_node *c = xml_first_child(p); c; c = xml_next(c))
        items += named(c, "item", NS_BLOCKING);
    if (items == 0) {
        if (block)
            FAIL(STANZA_ERR_BAD_REQUEST, "a block needs at least one item");
        out->unblock_all = true;
        return 0;
    }
    if (items > REPORT_BLOCKED_MAX)
        FAIL(STANZA_ERR_POLICY_VIOLATION, "too many items");
    if (!(out->blocked = calloc(items, sizeof *out->blocked)))
        FAIL(STANZA_ERR_INTERNAL_SERVER_ERROR, "out of memory");
    for (const xml_node *c = xml_first_child(p); c; c = xml_next(c)) {
        if (!named(c, "item", NS_BLOCKING))
            continue;
        char *j = norm(xml_attr(c, "jid"), true);
        if (!j) {
            if (strict)
                FAIL(STANZA_ERR_JID_MALFORMED, "an item needs a valid 'jid'");
            continue;
        }
        out->blocked[out->nblocked++] = j;
        const xml_node *r = block ? report_child(c) : NULL;
        if (!r)
            continue;
        if (out->n == REPORT_ITEMS_MAX) {
            if (strict)
                FAIL(STANZA_ERR_POLICY_VIOLATION, "at most 20 reports in one request");
            continue;
        }
        report_item *it = &out->items[out->n];
        if (!(it->target = strdup(j)))
            FAIL(STANZA_ERR_INTERNAL_SERVER_ERROR, "out of memory");
        out->n++;
        if (parse_report(r, it, strict, e, why) < 0) {
            if (strict)
                return -1;
            item_free(it);
            out->n--;
        }
    }
    return 0;
}

static bool trusted_server(const char *domain, const char *const *trusted)
{
    for (size_t i = 0; trusted && trusted[i]; i++)
        if (strcmp(trusted[i], domain) == 0)
            return true;
    return false;
}

int report_parse(const xml_node *st, const char *from, const char *const *trusted,
                 report_batch *out, stanza_error *e, const char **why)
{
    memset(out, 0, sizeof *out);
    jid f;
    if (jid_parse(from, &f) != JID_OK)
        FAIL(STANZA_ERR_JID_MALFORMED, "bad sender");
    int rc = -1;
    if (strcmp(xml_name(st), "iq") == 0) {
        out->via = REPORT_DIRECT;
        out->reporter = jid_bare(&f);
        const xml_node *p = stanza_iq_payload(st);
        if (!out->reporter) {
            *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
            *why = "out of memory";
        } else if (!f.local) {
            *e = STANZA_ERR_FORBIDDEN;
            *why = "reports come from user accounts";
        } else if (p && ns_is(p, NS_BLOCKING)) {
            rc = parse_blocking(p, out, true, e, why);
        } else if (p) {
            out->n = 1;
            rc = parse_report(p, &out->items[0], true, e, why);
            const char *to = xml_attr(st, "to");
            bool to_occupant = to && strchr(to, '/');
            if (rc == 0 && !out->items[0].target && out->items[0].nrefs == 0 && !to_occupant) {
                *e = STANZA_ERR_BAD_REQUEST;
                *why = "a report names its target with <jid/> or cites a <stanza-id/>";
                rc = -1;
            }
        }
        goto done;
    }
    /* Messages: only a server (a bare domain) speaks for its users. */
    if (f.local || f.resource) {
        *e = STANZA_ERR_FORBIDDEN;
        *why = "only servers forward reports";
        goto done;
    }
    const xml_node *iq = forwarded_iq(st);
    if (iq) {
        out->via = REPORT_BLOCK;
        jid u;
        if (!trusted_server(f.domain, trusted)) {
            *e = STANZA_ERR_FORBIDDEN;
            *why = "this server is not trusted to forward blocking requests";
        } else if (!xml_attr(iq, "from") || jid_parse(xml_attr(iq, "from"), &u) != JID_OK) {
            *e = STANZA_ERR_JID_MALFORMED;
            *why = "the copied request has no valid sender";
        } else {
            /* A server vouches for its own users only. */
            if (!u.local || strcmp(u.domain, f.domain) != 0) {
                *e = STANZA_ERR_FORBIDDEN;
                *why = "a server forwards only its own users' requests";
            } else if (!(out->reporter = jid_bare(&u))) {
                *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
                *why = "out of memory";
            } else {
                rc = parse_blocking(stanza_iq_payload(iq), out, false, e, why);
            }
            jid_free(&u);
        }
        goto done;
    }
    const xml_node *r = report_child(st);
    if (r) {
        out->via = REPORT_FORWARD;
        out->reporter = strdup(f.domain);
        out->n = 1;
        report_item *it = &out->items[0];
        if (!out->reporter) {
            *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
            *why = "out of memory";
        } else if ((rc = parse_report(r, it, false, e, why)) == 0) {
            if (!it->target) {
                *e = STANZA_ERR_BAD_REQUEST;
                *why = "a forwarded report needs the reported <jid/>";
                rc = -1;
            } else {
                it->forwarded = forwarded_bodies(st);
            }
        }
        goto done;
    }
    *e = STANZA_ERR_BAD_REQUEST;
    *why = "not a report";
done:
    jid_free(&f);
    if (rc < 0)
        report_batch_free(out);
    return rc;
}
