#include "autoconfig.h"

#include "xmlparse.h"

#include <expat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ns.h"

/* Bytes handed to expat per call. Small enough that the byte limit is checked
 * often (expat buffers an unfinished tag in full, so without this a peer
 * could make it hold an arbitrarily long attribute), large enough to keep the
 * per-call overhead negligible. */
#define FEED_CHUNK 16384

struct xmlparse {
    XML_Parser xp;
    xmlparse_limits limits;
    xmlparse_callbacks cb;
    void *ud;
    unsigned depth;   /* 0: before the header, 1: between stanzas, 2+: in one */
    xml_node *stanza; /* stanza being built */
    xml_node **stack; /* open elements inside the stanza */
    unsigned stack_cap;
    unsigned elements;           /* elements in the current stanza */
    buf text;                    /* character data not yet attached */
    unsigned long long fed;      /* bytes fed since the stream began */
    unsigned long long boundary; /* offset where the current stanza (or gap) began */
    xmlparse_err err;
    /* Skipping a stanza that broke a limit: its shell, and why. */
    bool skipping;
    xml_node *dropped;
    xmlparse_err drop_err;
    char drop_text[96];
    bool stopped;
    bool closed;
    char errtext[200];
};

static void fail(xmlparse *p, xmlparse_err e, const char *detail)
{
    if (p->err == XMLPARSE_OK) {
        p->err = e;
        snprintf(p->errtext, sizeof p->errtext, "line %lu column %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(p->xp),
                 (unsigned long)XML_GetCurrentColumnNumber(p->xp), detail);
    }
    XML_StopParser(p->xp, XML_FALSE);
}

/* Expat reports "uri local" (separator ' ') for names in a namespace. */
static void split_name(const char *full, char **uri, const char **local)
{
    const char *sp = strchr(full, ' ');
    if (!sp) {
        *uri = NULL;
        *local = full;
        return;
    }
    *uri = strndup(full, (size_t)(sp - full));
    *local = sp + 1;
}

static xml_node *make_shell(const char *name, const char **attrs);
static void drop_stanza(xmlparse *p, xml_node *shell, xmlparse_err why, const char *text);

static int flush_text(xmlparse *p)
{
    if (buf_unread_len(&p->text) == 0)
        return 0;
    xml_node *parent = p->stack[p->depth - 2];
    xml_node *t = xml_new_text(buf_unread(&p->text), buf_unread_len(&p->text));
    buf_reset(&p->text);
    if (!t)
        return -1;
    xml_append(parent, t);
    return 0;
}

static xml_node *make_element(xmlparse *p, const char *name, const char **attrs)
{
    char *uri;
    const char *local;
    split_name(name, &uri, &local);
    xml_node *n = xml_new(local, uri);
    free(uri);
    if (!n)
        return NULL;
    unsigned count = 0;
    for (const char **a = attrs; a[0]; a += 2) {
        if (++count > p->limits.max_attrs) {
            xml_free(n);
            if (p->depth < 1) {
                fail(p, XMLPARSE_ERR_TOO_MANY, "too many attributes on one element");
            } else {
                drop_stanza(p, p->depth == 1 ? make_shell(name, attrs) : NULL,
                            XMLPARSE_ERR_TOO_MANY, "too many attributes on one element");
            }
            return NULL;
        }
        const char *aname = a[0];
        char xmlname[64];
        /* xml:lang and friends come back as the XML namespace URI plus the
         * local name; keep the conventional prefix so handlers see "xml:lang". */
        size_t nslen = sizeof NS_XML - 1;
        if (strncmp(aname, NS_XML, nslen) == 0 && aname[nslen] == ' ') {
            snprintf(xmlname, sizeof xmlname, "xml:%s", aname + nslen + 1);
            aname = xmlname;
        }
        if (xml_set_attr(n, aname, a[1]) < 0) {
            xml_free(n);
            return NULL;
        }
    }
    return n;
}

/* A shell of the stanza for the error reply: its name and addressing only,
 * whatever else it carried. */
static xml_node *make_shell(const char *name, const char **attrs)
{
    char *uri;
    const char *local;
    split_name(name, &uri, &local);
    xml_node *n = xml_new(local, uri);
    free(uri);
    for (const char **a = attrs; n && a && a[0]; a += 2) {
        if (strcmp(a[0], "from") == 0 || strcmp(a[0], "to") == 0 || strcmp(a[0], "id") == 0 ||
            strcmp(a[0], "type") == 0)
            xml_set_attr(n, a[0], a[1]);
    }
    return n;
}

/* Starts skipping the current stanza. `shell` replaces the partial tree. */
static void drop_stanza(xmlparse *p, xml_node *shell, xmlparse_err why, const char *text)
{
    if (!shell && p->stanza) {
        shell = xml_new(xml_name(p->stanza), xml_ns(p->stanza));
        static const char *const keep[] = {"from", "to", "id", "type"};
        for (size_t i = 0; shell && i < 4; i++) {
            const char *v = xml_attr(p->stanza, keep[i]);
            if (v)
                xml_set_attr(shell, keep[i], v);
        }
    }
    xml_free(p->stanza);
    p->stanza = NULL;
    xml_free(p->dropped);
    p->dropped = shell;
    buf_reset(&p->text);
    p->skipping = true;
    p->drop_err = why;
    snprintf(p->drop_text, sizeof p->drop_text, "%s", text);
}

/* Marks the end of the current event as the start of what comes next, so
 * the byte limit measures one stanza (or one gap between stanzas) at a time. */
static void mark_boundary(xmlparse *p)
{
    p->boundary = (unsigned long long)XML_GetCurrentByteIndex(p->xp) +
                  (unsigned long long)XML_GetCurrentByteCount(p->xp);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xmlparse *p = ud;
    if (p->err || p->stopped)
        return;
    if (p->depth == 0) {
        if (strcmp(name, NS_STREAMS " stream") != 0) {
            fail(p, XMLPARSE_ERR_BAD_STREAM, "the stream does not start with <stream:stream>");
            return;
        }
        xml_node *h = make_element(p, name, attrs);
        if (!h) {
            fail(p, p->err ? p->err : XMLPARSE_ERR_NOMEM, "out of memory");
            return;
        }
        p->depth = 1;
        mark_boundary(p);
        if (p->cb.on_open)
            p->cb.on_open(p->ud, h);
        else
            xml_free(h);
        return;
    }
    if (p->depth == 1) {
        p->elements = 0;
        p->boundary = (unsigned long long)XML_GetCurrentByteIndex(p->xp);
    }
    ++p->elements;
    if (p->skipping) {
        /* Only count: past these the peer is not relaying one odd stanza
         * but attacking the stream. */
        if (p->depth - 1 > 2 * p->limits.max_depth)
            fail(p, XMLPARSE_ERR_TOO_DEEP, "elements nested far too deeply");
        else if (p->elements > 4 * p->limits.max_elements)
            fail(p, XMLPARSE_ERR_TOO_MANY, "far too many elements in one stanza");
        p->depth++;
        return;
    }
    if (p->depth >= 2 && flush_text(p) < 0) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    if (p->depth - 1 > p->limits.max_depth) {
        drop_stanza(p, NULL, XMLPARSE_ERR_TOO_DEEP, "elements nested too deeply");
        p->depth++;
        return;
    }
    if (p->elements > p->limits.max_elements) {
        drop_stanza(p, NULL, XMLPARSE_ERR_TOO_MANY, "too many elements in one stanza");
        p->depth++;
        return;
    }
    xml_node *n = make_element(p, name, attrs);
    if (!n) {
        if (p->skipping && !p->err)
            p->depth++;
        else
            fail(p, p->err ? p->err : XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    if (p->depth == 1) {
        p->stanza = n;
    } else {
        xml_append(p->stack[p->depth - 2], n);
    }
    unsigned idx = p->depth - 1;
    if (idx >= p->stack_cap) {
        unsigned cap = p->stack_cap ? p->stack_cap * 2 : 16;
        xml_node **s = realloc(p->stack, cap * sizeof *s);
        if (!s) {
            fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
            return;
        }
        p->stack = s;
        p->stack_cap = cap;
    }
    p->stack[idx] = n;
    p->depth++;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    xmlparse *p = ud;
    if (p->err || p->stopped)
        return;
    if (p->skipping) {
        if (--p->depth == 1) {
            xml_node *shell = p->dropped;
            p->dropped = NULL;
            p->skipping = false;
            p->elements = 0;
            mark_boundary(p);
            if (p->cb.on_dropped && shell)
                p->cb.on_dropped(p->ud, shell, p->drop_err, p->drop_text);
            else
                xml_free(shell);
        }
        return;
    }
    if (p->depth >= 2 && flush_text(p) < 0) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    p->depth--;
    if (p->depth == 1) {
        xml_node *s = p->stanza;
        p->stanza = NULL;
        p->elements = 0;
        /* The next stanza's budget starts after this one's last byte. */
        mark_boundary(p);
        if (p->cb.on_stanza)
            p->cb.on_stanza(p->ud, s);
        else
            xml_free(s);
    } else if (p->depth == 0) {
        p->closed = true;
        if (p->cb.on_close)
            p->cb.on_close(p->ud);
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    xmlparse *p = ud;
    if (p->err || p->stopped)
        return;
    if (p->skipping)
        return;
    if (p->depth < 2) {
        /* Whitespace keepalives between stanzas: nothing to keep, and they
         * must not count against the next stanza's size. Anything else at
         * stream level is not XMPP. */
        for (int i = 0; i < len; i++) {
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                fail(p, XMLPARSE_ERR_SYNTAX, "text outside any stanza");
                return;
            }
        }
        mark_boundary(p);
        return;
    }
    if (buf_append(&p->text, s, (size_t)len) < 0)
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    fail(ud, XMLPARSE_ERR_RESTRICTED, "comments are not allowed in XMPP");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target;
    (void)data;
    fail(ud, XMLPARSE_ERR_RESTRICTED, "processing instructions are not allowed in XMPP");
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(ud, XMLPARSE_ERR_RESTRICTED, "DTDs are not allowed in XMPP");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    fail(ud, XMLPARSE_ERR_RESTRICTED, "entity declarations are not allowed in XMPP");
}

static void install_handlers(xmlparse *p)
{
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
    /* Expat's reparse deferral (its guard against re-scanning one huge token
     * again and again) holds back a stanza whose last bytes arrive in a small
     * read until more input comes, which on a quiet stream may be never. Our
     * byte limit already bounds every token, and so the cost of rescanning. */
    XML_SetReparseDeferralEnabled(p->xp, XML_FALSE);
#endif
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    XML_SetCommentHandler(p->xp, on_comment);
    XML_SetProcessingInstructionHandler(p->xp, on_pi);
    XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
    XML_SetEntityDeclHandler(p->xp, on_entity);
}

static void clear_state(xmlparse *p)
{
    xml_free(p->stanza);
    p->stanza = NULL;
    xml_free(p->dropped);
    p->dropped = NULL;
    p->skipping = false;
    p->depth = 0;
    p->elements = 0;
    buf_reset(&p->text);
    buf_shrink(&p->text, 0);
    p->fed = p->boundary = 0;
    p->err = XMLPARSE_OK;
    p->stopped = p->closed = false;
    p->errtext[0] = '\0';
}

xmlparse *xmlparse_new(const xmlparse_limits *limits, const xmlparse_callbacks *cb, void *ud)
{
    xmlparse *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->xp = XML_ParserCreateNS(NULL, ' ');
    if (!p->xp) {
        free(p);
        return NULL;
    }
    p->limits = *limits;
    p->cb = *cb;
    p->ud = ud;
    install_handlers(p);
    return p;
}

void xmlparse_free(xmlparse *p)
{
    if (!p)
        return;
    clear_state(p);
    buf_free(&p->text);
    free(p->stack);
    XML_ParserFree(p->xp);
    free(p);
}

int xmlparse_reset(xmlparse *p)
{
    clear_state(p);
    if (!XML_ParserReset(p->xp, NULL))
        return -1;
    install_handlers(p);
    return 0;
}

void xmlparse_set_limits(xmlparse *p, const xmlparse_limits *limits)
{
    p->limits = *limits;
}

void xmlparse_stop(xmlparse *p)
{
    p->stopped = true;
    XML_StopParser(p->xp, XML_FALSE);
}

static xmlparse_err expat_error(xmlparse *p)
{
    enum XML_Error code = XML_GetErrorCode(p->xp);
    snprintf(p->errtext, sizeof p->errtext, "line %lu column %lu: %s",
             (unsigned long)XML_GetCurrentLineNumber(p->xp),
             (unsigned long)XML_GetCurrentColumnNumber(p->xp), XML_ErrorString(code));
    switch (code) {
    case XML_ERROR_NO_MEMORY:
        return XMLPARSE_ERR_NOMEM;
#ifdef XML_ERROR_AMPLIFICATION_LIMIT_BREACH
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
#endif
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_UNDEFINED_ENTITY:
        return XMLPARSE_ERR_RESTRICTED;
    case XML_ERROR_UNBOUND_PREFIX:
        return XMLPARSE_ERR_BAD_STREAM;
    default:
        return XMLPARSE_ERR_SYNTAX;
    }
}

/* Over the byte limit: a stanza whose start tag is complete is skipped
 * (up to four times the limit); an unfinished tag or worse ends the stream,
 * since expat would have to hold it all. Returns false on a stream error. */
static bool check_size(xmlparse *p)
{
    if (p->depth >= 2 && !p->skipping) {
        drop_stanza(p, NULL, XMLPARSE_ERR_TOO_BIG, "stanza too large");
        return true;
    }
    if (p->skipping && p->fed - p->boundary <= 4 * (unsigned long long)p->limits.max_stanza_bytes)
        return true;
    fail(p, XMLPARSE_ERR_TOO_BIG, "stanza too large");
    return false;
}

xmlparse_err xmlparse_feed(xmlparse *p, const char *data, size_t n)
{
    if (p->err)
        return p->err;
    if (p->closed || p->stopped)
        return XMLPARSE_ERR_CLOSED;
    while (n > 0) {
        if (p->fed - p->boundary > p->limits.max_stanza_bytes && !check_size(p))
            return p->err;
        size_t k = n < FEED_CHUNK ? n : FEED_CHUNK;
        enum XML_Status st = XML_Parse(p->xp, data, (int)k, XML_FALSE);
        p->fed += k;
        data += k;
        n -= k;
        if (p->err)
            return p->err;
        if (p->stopped)
            return XMLPARSE_OK;
        if (st != XML_STATUS_OK) {
            p->err = expat_error(p);
            return p->err;
        }
        if (p->closed && n > 0) {
            return XMLPARSE_ERR_CLOSED;
        }
    }
    if (p->depth > 0 && p->fed - p->boundary > p->limits.max_stanza_bytes && !check_size(p))
        return p->err;
    return XMLPARSE_OK;
}

const char *xmlparse_error_text(const xmlparse *p)
{
    return p->errtext;
}

const char *xmlparse_err_condition(xmlparse_err e)
{
    switch (e) {
    case XMLPARSE_OK:
        return NULL;
    case XMLPARSE_ERR_SYNTAX:
        return "not-well-formed";
    case XMLPARSE_ERR_RESTRICTED:
        return "restricted-xml";
    case XMLPARSE_ERR_TOO_BIG:
    case XMLPARSE_ERR_TOO_DEEP:
    case XMLPARSE_ERR_TOO_MANY:
        return "policy-violation";
    case XMLPARSE_ERR_BAD_STREAM:
        return "invalid-namespace";
    case XMLPARSE_ERR_NOMEM:
        return "internal-server-error";
    case XMLPARSE_ERR_CLOSED:
        return "not-well-formed";
    }
    return "undefined-condition";
}

static void doc_open(void *ud, xml_node *h)
{
    (void)ud;
    xml_free(h);
}

static void doc_element(void *ud, xml_node *n)
{
    xml_node **out = ud;
    if (*out)
        xml_free(n); /* only the first element is the document */
    else
        *out = n;
}

xml_node *xml_parse_document(const char *data, size_t n, const xmlparse_limits *limits)
{
    /* The stream machinery wants a stream around its elements; give it one
     * so stored documents get the same limits and restrictions as the wire. */
    static const xmlparse_callbacks cb = {doc_open, doc_element, NULL, NULL};
    static const char wrap[] = "<s:stream xmlns:s='" NS_STREAMS "'>";
    xml_node *out = NULL;
    xmlparse *p = xmlparse_new(limits, &cb, &out);
    if (!p)
        return NULL;
    if (xmlparse_feed(p, wrap, sizeof wrap - 1) != XMLPARSE_OK ||
        xmlparse_feed(p, data, n) != XMLPARSE_OK) {
        xml_free(out);
        out = NULL;
    }
    xmlparse_free(p);
    return out;
}
