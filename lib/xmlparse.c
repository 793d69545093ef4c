#include "autoconfig.h"

#include "xmlparse.h"

#include <expat.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ns.h"
#include "xmlframe.h"

/* Not an XML character, so no namespace name can contain it. */
#define NS_SEP '\x01'
/* Expat keeps every distinct element, attribute and prefix name it has seen
 * until the parser is freed, and resetting keeps its grown hash tables. So
 * after this many bytes, at the next stanza boundary, the stream continues on
 * a fresh parser (about 5 microseconds, the header replayed), which bounds
 * what a stream of ever-new names can make expat hold. */
#define FRESH_AFTER (256 * 1024)
/* XML_Parse takes an int length. */
#define EXPAT_CHUNK (1 << 20)

struct xmlparse {
    XML_Parser xp;
    xmlframe *fr;
    xmlparse_limits limits;
    xmlparse_callbacks cb;
    void *ud;
    unsigned depth;   /* expat's view: 0 before the header, 1 between stanzas */
    xml_node *stanza; /* stanza being built */
    xml_node **stack; /* open elements inside the stanza */
    unsigned stack_cap;
    buf text;   /* character data not yet attached */
    buf header; /* the stream's bytes up to the end of its header */
    bool header_done;
    bool replaying;        /* feeding the header to a fresh parser */
    uint64_t expat_base;   /* stream offset of the current parser's first own byte */
    size_t replayed;       /* header bytes the current parser was given first */
    char *header_ns;       /* the header's default namespace as written, for shells */
    char header_ns_quote;  /* and its quote character */
    xmlparse_err drop_err; /* why the stanza being skipped was dropped */
    char drop_text[96];
    xmlparse_err err;
    bool stopped;
    bool closed;
    char errtext[200];
};

static unsigned long long stream_offset(const xmlparse *p)
{
    long long i = XML_GetCurrentByteIndex(p->xp);
    if (i < 0 || (unsigned long long)i < p->replayed)
        return (unsigned long long)p->expat_base;
    return (unsigned long long)p->expat_base + (unsigned long long)i - p->replayed;
}

static void fail(xmlparse *p, xmlparse_err e, const char *detail)
{
    if (p->err == XMLPARSE_OK) {
        p->err = e;
        snprintf(p->errtext, sizeof p->errtext, "byte %llu: %s", stream_offset(p), detail);
    }
    XML_StopParser(p->xp, XML_FALSE);
}

/* Expat reports "uri\x01local" for names in a namespace. */
static void split_name(const char *full, char **uri, const char **local)
{
    const char *sep = strchr(full, NS_SEP);
    if (!sep) {
        *uri = NULL;
        *local = full;
        return;
    }
    *uri = strndup(full, (size_t)(sep - full));
    *local = sep + 1;
}

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

/* An attribute as the tree names it: "xml:lang" for the XML namespace (the
 * conventional prefix handlers look for), "uri local" for other namespaces. */
static int set_attr(xml_node *n, const char *aname, const char *value)
{
    const char *sep = strchr(aname, NS_SEP);
    if (!sep)
        return xml_set_attr(n, aname, value);
    size_t urilen = (size_t)(sep - aname);
    buf name = BUF_INIT;
    int rc;
    if (urilen == sizeof NS_XML - 1 && memcmp(aname, NS_XML, urilen) == 0)
        rc = buf_printf(&name, "xml:%s", sep + 1);
    else
        rc = buf_printf(&name, "%.*s %s", (int)urilen, aname, sep + 1);
    if (rc == 0) {
        char *s = buf_strdup(&name);
        rc = s ? xml_set_attr(n, s, value) : -1;
        free(s);
    }
    buf_free(&name);
    return rc;
}

static xml_node *make_element(const char *name, const char **attrs)
{
    char *uri;
    const char *local;
    split_name(name, &uri, &local);
    xml_node *n = xml_new(local, uri);
    free(uri);
    for (const char **a = attrs; n && a[0]; a += 2) {
        if (set_attr(n, a[0], a[1]) < 0) {
            xml_free(n);
            n = NULL;
        }
    }
    return n;
}

static int push(xmlparse *p, xml_node *n)
{
    unsigned idx = p->depth - 1;
    if (idx >= p->stack_cap) {
        unsigned cap = p->stack_cap ? p->stack_cap * 2 : 16;
        xml_node **s = realloc(p->stack, cap * sizeof *s);
        if (!s)
            return -1;
        p->stack = s;
        p->stack_cap = cap;
    }
    p->stack[idx] = n;
    p->depth++;
    return 0;
}

static void open_header(xmlparse *p, const XML_Char *name, const XML_Char **attrs)
{
    if (strcmp(name, NS_STREAMS "\x01"
                                "stream") != 0) {
        fail(p, XMLPARSE_ERR_BAD_STREAM, "the stream does not start with <stream:stream>");
        return;
    }
    xml_node *h = make_element(name, attrs);
    if (!h) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    p->depth = 1;
    if (p->cb.on_open && !p->replaying)
        p->cb.on_open(p->ud, h);
    else
        xml_free(h);
}

/* The framer has already checked every limit on these bytes (xmlframe.h),
 * so the callbacks only build the tree. */
static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    xmlparse *p = ud;
    if (p->err || p->stopped)
        return;
    if (p->depth == 0) {
        open_header(p, name, attrs);
        return;
    }
    if (p->depth >= 2 && flush_text(p) < 0) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    xml_node *n = make_element(name, attrs);
    if (!n) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    if (p->depth == 1)
        p->stanza = n;
    else
        xml_append(p->stack[p->depth - 2], n);
    if (push(p, n) < 0)
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    xmlparse *p = ud;
    if (p->err || p->stopped)
        return;
    if (p->depth >= 2 && flush_text(p) < 0) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    p->depth--;
    if (p->depth == 1) {
        xml_node *s = p->stanza;
        p->stanza = NULL;
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
    if (p->depth < 2) {
        /* Whitespace keepalives between stanzas: nothing to keep. Anything
         * else at stream level is not XMPP. */
        for (int i = 0; i < len; i++) {
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
                fail(p, XMLPARSE_ERR_SYNTAX, "text outside any stanza");
                return;
            }
        }
        return;
    }
    if (buf_append(&p->text, s, (size_t)len) < 0)
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
}

/* The framer refuses these first; expat's handlers stay as a second line. */
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

/* A new expat parser with our handlers, in place of the current one. */
static int new_expat(xmlparse *p)
{
    /* UTF-8 whatever the XML declaration says (RFC 6120 section 11.6).
     * Expat still guesses UTF-16 from a 0 byte or a byte order mark among
     * the first two; the framer refuses those bytes before the header. */
    XML_Parser xp = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!xp)
        return -1;
    if (p->xp)
        XML_ParserFree(p->xp);
    p->xp = xp;
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
    /* Expat's reparse deferral (its guard against re-scanning one huge token
     * again and again) holds back a stanza whose last bytes arrive in a small
     * read until more input comes, which on a quiet stream may be never. The
     * framer's byte limit already bounds every token, and so the cost of
     * rescanning. */
    XML_SetReparseDeferralEnabled(xp, XML_FALSE);
#endif
    XML_SetUserData(xp, p);
    XML_SetElementHandler(xp, on_start, on_end);
    XML_SetCharacterDataHandler(xp, on_text);
    XML_SetCommentHandler(xp, on_comment);
    XML_SetProcessingInstructionHandler(xp, on_pi);
    XML_SetStartDoctypeDeclHandler(xp, on_doctype);
    XML_SetEntityDeclHandler(xp, on_entity);
    p->depth = 0;
    p->replayed = 0;
    return 0;
}

static xmlparse_err expat_error(xmlparse *p)
{
    enum XML_Error code = XML_GetErrorCode(p->xp);
    snprintf(p->errtext, sizeof p->errtext, "byte %llu: %s", stream_offset(p),
             XML_ErrorString(code));
    switch (code) {
    case XML_ERROR_NO_MEMORY:
        return XMLPARSE_ERR_NOMEM;
#ifdef XML_ERROR_AMPLIFICATION_LIMIT_BREACH
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
#endif
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_UNDEFINED_ENTITY:
        return XMLPARSE_ERR_RESTRICTED;
    default:
        /* An undeclared prefix included: RFC 6120 section 4.9.3.13 makes
         * namespace errors not-well-formed. */
        return XMLPARSE_ERR_SYNTAX;
    }
}

/* Hands bytes the framer passed to expat. -1 when the parser failed or was
 * stopped from a callback. */
static int give_expat(xmlparse *p, const char *data, size_t n)
{
    if (!p->header_done && buf_append(&p->header, data, n) < 0) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return -1;
    }
    while (n > 0) {
        size_t k = n < EXPAT_CHUNK ? n : EXPAT_CHUNK;
        enum XML_Status st = XML_Parse(p->xp, data, (int)k, XML_FALSE);
        if (p->err || p->stopped)
            return -1;
        if (st != XML_STATUS_OK) {
            p->err = expat_error(p);
            return -1;
        }
        data += k;
        n -= k;
    }
    return 0;
}

/* Continues the stream on a fresh expat parser, given the header again. */
static int fresh_parser(xmlparse *p)
{
    xml_free(p->stanza);
    p->stanza = NULL;
    buf_reset(&p->text);
    if (new_expat(p) < 0) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return -1;
    }
    p->replaying = true;
    enum XML_Status st =
        XML_Parse(p->xp, buf_unread(&p->header), (int)buf_unread_len(&p->header), XML_FALSE);
    p->replaying = false;
    if (st != XML_STATUS_OK || p->depth != 1) {
        fail(p, XMLPARSE_ERR_NOMEM, "cannot restart the parser");
        return -1;
    }
    p->replayed = buf_unread_len(&p->header);
    p->expat_base = xmlframe_offset(p->fr);
    xmlframe_mark_stanza_end(p->fr, p->expat_base + FRESH_AFTER);
    return 0;
}

static int keep_header(xmlparse *p)
{
    p->header_done = true;
    char q;
    const char *ns = xmlframe_top_attr(p->fr, XMLFRAME_XMLNS, &q);
    free(p->header_ns);
    p->header_ns = ns ? strdup(ns) : NULL;
    p->header_ns_quote = q;
    if (ns && !p->header_ns) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

static void shell_attr(buf *b, const char *name, const char *value, char quote)
{
    if (value)
        buf_printf(b, " %s=%c%s%c", name, quote, value, quote);
}

/* The skipped stanza's shell, rebuilt from what the framer kept of its start
 * tag and parsed again, so that its values are checked and unescaped like
 * any other input before a reply quotes them. */
static xml_node *make_shell(xmlparse *p)
{
    static const xmlparse_limits shell_limits = {64 * 1024, 0, 16, 4};
    static const char *const names[] = {"from", "to", "id", "type"};
    const char *name = xmlframe_top_name(p->fr);
    xml_node *shell = NULL;
    if (name) {
        buf b = BUF_INIT;
        char q;
        const char *v = xmlframe_top_attr(p->fr, XMLFRAME_XMLNS, &q);
        buf_printf(&b, "<%s", name);
        if (v)
            shell_attr(&b, "xmlns", v, q);
        else if (!strchr(name, ':') && p->header_ns)
            shell_attr(&b, "xmlns", p->header_ns, p->header_ns_quote);
        v = xmlframe_top_attr(p->fr, XMLFRAME_XMLNS_PREFIX, &q);
        if (v)
            buf_printf(&b, " xmlns:%.*s=%c%s%c", (int)(strchr(name, ':') - name), name, q, v, q);
        for (int i = 0; i < 4; i++) {
            v = xmlframe_top_attr(p->fr, (xmlframe_kept)(XMLFRAME_FROM + i), &q);
            shell_attr(&b, names[i], v, q);
        }
        buf_puts(&b, "/>");
        shell = xml_parse_document(buf_unread(&b), buf_unread_len(&b), &shell_limits);
        buf_free(&b);
    }
    if (!shell) {
        /* Not enough was kept, or it does not parse: a shell nobody answers. */
        const char *colon = name ? strchr(name, ':') : NULL;
        shell = xml_new(colon ? colon + 1 : name ? name : "unknown", NULL);
    }
    return shell;
}

static void report_dropped(xmlparse *p)
{
    if (!p->cb.on_dropped)
        return;
    xml_node *shell = make_shell(p);
    if (!shell) {
        fail(p, XMLPARSE_ERR_NOMEM, "out of memory");
        return;
    }
    p->cb.on_dropped(p->ud, shell, p->drop_err, p->drop_text);
}

static void framer_failed(xmlparse *p)
{
    const char *text;
    xmlparse_err why = xmlframe_why(p->fr, &text);
    if (p->err == XMLPARSE_OK) {
        p->err = why;
        snprintf(p->errtext, sizeof p->errtext, "byte %llu: %s",
                 (unsigned long long)xmlframe_offset(p->fr), text);
    }
}

/* What the framer said about the bytes it just consumed. Returns false when
 * feeding must end (error, stop or close). */
static bool after_event(xmlparse *p, xmlframe_event ev)
{
    const char *text;
    switch (ev) {
    case XMLFRAME_MORE:
        break;
    case XMLFRAME_HEADER:
        return keep_header(p) == 0;
    case XMLFRAME_STANZA:
        /* Reported once FRESH_AFTER bytes have gone to this parser. */
        return fresh_parser(p) == 0;
    case XMLFRAME_OVER:
        /* Expat holds part of the stanza: it is dropped with its parser
         * once the framer has skipped the rest. */
        p->drop_err = xmlframe_why(p->fr, &text);
        snprintf(p->drop_text, sizeof p->drop_text, "%s", text);
        xml_free(p->stanza);
        p->stanza = NULL;
        buf_reset(&p->text);
        break;
    case XMLFRAME_SKIPPED:
        if (fresh_parser(p) < 0)
            return false;
        report_dropped(p);
        return !p->err && !p->stopped;
    case XMLFRAME_END:
        /* Expat has seen the same close tag, unless the two disagree on
         * where the stream ends, which must end it. */
        if (!p->closed)
            fail(p, XMLPARSE_ERR_SYNTAX, "the stream ended inside an element");
        return false;
    case XMLFRAME_ERROR:
        framer_failed(p);
        return false;
    }
    return true;
}

xmlparse_err xmlparse_feed(xmlparse *p, const char *data, size_t n)
{
    /* Nothing fed is nothing after the end either (fuzz_stream). */
    if (p->err || n == 0)
        return p->err;
    if (p->closed || p->stopped)
        return XMLPARSE_ERR_CLOSED;
    while (n > 0) {
        bool skipping = xmlframe_skipping(p->fr);
        size_t used;
        xmlframe_event ev = xmlframe_scan(p->fr, data, n, &used);
        if (!skipping && used > 0 && give_expat(p, data, used) < 0)
            return p->err;
        data += used;
        n -= used;
        if (!after_event(p, ev))
            break;
    }
    if (p->err)
        return p->err;
    if (p->closed && n > 0)
        return XMLPARSE_ERR_CLOSED;
    return XMLPARSE_OK;
}

static void clear_state(xmlparse *p)
{
    xml_free(p->stanza);
    p->stanza = NULL;
    p->depth = 0;
    buf_reset(&p->text);
    buf_shrink(&p->text, 0);
    buf_free(&p->header);
    p->header_done = false;
    free(p->header_ns);
    p->header_ns = NULL;
    p->expat_base = 0;
    p->err = XMLPARSE_OK;
    p->stopped = p->closed = false;
    p->errtext[0] = '\0';
}

xmlparse *xmlparse_new(const xmlparse_limits *limits, const xmlparse_callbacks *cb, void *ud)
{
    xmlparse *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->limits = *limits;
    p->cb = *cb;
    p->ud = ud;
    p->fr = xmlframe_new(limits);
    if (!p->fr || new_expat(p) < 0) {
        xmlframe_free(p->fr);
        free(p);
        return NULL;
    }
    xmlframe_mark_stanza_end(p->fr, FRESH_AFTER);
    return p;
}

void xmlparse_free(xmlparse *p)
{
    if (!p)
        return;
    clear_state(p);
    buf_free(&p->text);
    free(p->stack);
    xmlframe_free(p->fr);
    XML_ParserFree(p->xp);
    free(p);
}

int xmlparse_reset(xmlparse *p)
{
    clear_state(p);
    xmlframe_reset(p->fr);
    xmlframe_mark_stanza_end(p->fr, FRESH_AFTER);
    return new_expat(p);
}

void xmlparse_set_limits(xmlparse *p, const xmlparse_limits *limits)
{
    p->limits = *limits;
    xmlframe_set_limits(p->fr, limits);
}

void xmlparse_stop(xmlparse *p)
{
    p->stopped = true;
    XML_StopParser(p->xp, XML_FALSE);
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
