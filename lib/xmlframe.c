#include "xmlframe.h"

#include <stdlib.h>
#include <string.h>

/* The longest kept attribute value: a JID is at most 3071 bytes, and the
 * raw text may carry a few entity references. */
#define KEEP_MAX 4096
/* The longest element name kept, and the longest attribute name compared
 * ("xmlns:" and the element's prefix). */
#define NAME_MAX_KEPT 256
#define ANAME_MAX (NAME_MAX_KEPT + 8)

typedef enum {
    S_TEXT,  /* character data, or between stanzas */
    S_LT,    /* after '<' */
    S_PI,    /* <? … ?> in the prolog (the XML declaration) */
    S_BANG,  /* after "<!", matching "[CDATA[" */
    S_CDATA, /* inside a CDATA section */
    S_NAME,  /* the element name of a start tag */
    S_TAG,   /* inside a start tag, between attributes */
    S_ANAME, /* an attribute name */
    S_AEQ,   /* after an attribute name, before its value */
    S_VALUE, /* an attribute value */
    S_SLASH, /* '/' in a start tag */
    S_ETAG,  /* an end tag */
    S_FAILED,
} fstate;

typedef struct kept_value {
    bool present, over;
    char quote;
    size_t len;
    char v[KEEP_MAX + 1];
} kept_value;

struct xmlframe {
    xmlparse_limits lim;
    fstate st;
    uint64_t pos;       /* absolute offset of the next byte */
    uint64_t top_start; /* offset of the current stanza's '<' */
    uint64_t depth;     /* open elements, the stream's included */
    uint64_t mark;      /* stanzas ending before this offset are not reported */
    bool in_top;        /* between a stanza's '<' and its end */
    bool skipping;
    unsigned long elements, attrs, nsdecls;
    unsigned match; /* progress through "[CDATA[", or ']' seen before '>' */
    char quote;
    bool pi_question;
    char aname[ANAME_MAX];
    size_t alen;
    /* The top-level start tag (header or stanza) being kept. */
    bool capturing;
    char name[NAME_MAX_KEPT + 1];
    size_t name_len;
    int slot; /* kept_value receiving the current attribute value, or -1 */
    kept_value kept[XMLFRAME_NKEPT];
    xmlparse_err why;
    const char *why_text;
};

xmlframe *xmlframe_new(const xmlparse_limits *limits)
{
    xmlframe *f = malloc(sizeof *f);
    if (!f)
        return NULL;
    f->lim = *limits;
    xmlframe_reset(f);
    return f;
}

void xmlframe_free(xmlframe *f)
{
    free(f);
}

void xmlframe_set_limits(xmlframe *f, const xmlparse_limits *limits)
{
    f->lim = *limits;
}

void xmlframe_reset(xmlframe *f)
{
    xmlparse_limits lim = f->lim;
    memset(f, 0, offsetof(xmlframe, kept));
    for (int i = 0; i < XMLFRAME_NKEPT; i++)
        f->kept[i].present = false;
    f->lim = lim;
    f->st = S_TEXT;
    f->slot = -1;
    f->why = XMLPARSE_OK;
}

void xmlframe_mark_stanza_end(xmlframe *f, uint64_t offset)
{
    f->mark = offset;
}

bool xmlframe_skipping(const xmlframe *f)
{
    return f->skipping;
}

xmlparse_err xmlframe_why(const xmlframe *f, const char **text)
{
    if (text)
        *text = f->why_text ? f->why_text : "";
    return f->why;
}

uint64_t xmlframe_offset(const xmlframe *f)
{
    return f->pos;
}

const char *xmlframe_top_name(const xmlframe *f)
{
    return f->name_len > 0 && f->name_len <= NAME_MAX_KEPT ? f->name : NULL;
}

const char *xmlframe_top_attr(const xmlframe *f, xmlframe_kept which, char *quote)
{
    const kept_value *k = &f->kept[which];
    if (!k->present || k->over)
        return NULL;
    if (quote)
        *quote = k->quote;
    return k->v;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A limit broke at the byte about to be consumed: it is not consumed, and
 * skipping starts with it. Inside the stream header nothing can be skipped. */
static xmlframe_event over(xmlframe *f, xmlparse_err why, const char *text)
{
    f->why = why;
    f->why_text = text;
    if (f->depth == 0) {
        f->st = S_FAILED;
        return XMLFRAME_ERROR;
    }
    f->skipping = true;
    return XMLFRAME_OVER;
}

static xmlframe_event fail(xmlframe *f, xmlparse_err why, const char *text)
{
    f->why = why;
    f->why_text = text;
    f->st = S_FAILED;
    return XMLFRAME_ERROR;
}

/* Where the byte budget of what is being read ends (absolute offset). */
static uint64_t budget_end(const xmlframe *f)
{
    uint64_t max = f->lim.max_stanza_bytes;
    if (f->depth == 0)
        return max; /* the header, with the XML declaration before it */
    if (!f->in_top)
        return UINT64_MAX; /* whitespace between stanzas costs nothing */
    if (f->skipping) {
        uint64_t hard = 4 * max > XMLFRAME_HARD_LIMIT ? 4 * max : XMLFRAME_HARD_LIMIT;
        return f->top_start + hard;
    }
    return f->top_start + max;
}

static xmlframe_event budget_spent(xmlframe *f)
{
    if (f->depth == 0)
        return fail(f, XMLPARSE_ERR_TOO_BIG, "stream header too large");
    if (f->skipping)
        return fail(f, XMLPARSE_ERR_TOO_BIG, "stanza larger than any server relays");
    return over(f, XMLPARSE_ERR_TOO_BIG, "stanza too large");
}

static void begin_capture(xmlframe *f)
{
    f->capturing = true;
    f->name_len = 0;
    for (int i = 0; i < XMLFRAME_NKEPT; i++)
        f->kept[i].present = false;
}

static void keep_name_char(xmlframe *f, char c)
{
    if (!f->capturing)
        return;
    if (f->name_len < NAME_MAX_KEPT)
        f->name[f->name_len] = c;
    f->name_len++;
    if (f->name_len <= NAME_MAX_KEPT)
        f->name[f->name_len] = '\0';
}

static void aname_char(xmlframe *f, char c)
{
    if (f->alen < ANAME_MAX)
        f->aname[f->alen] = c;
    f->alen++;
}

static bool aname_is(const xmlframe *f, const char *s, size_t n)
{
    return f->alen == n && memcmp(f->aname, s, n) == 0;
}

static bool aname_is_nsdecl(const xmlframe *f)
{
    return f->alen >= 5 && memcmp(f->aname, "xmlns", 5) == 0 &&
           (f->alen == 5 || f->aname[5] == ':');
}

/* Which kept value the attribute just named fills, or -1. */
static int kept_slot(const xmlframe *f)
{
    if (!f->capturing || f->alen > ANAME_MAX)
        return -1;
    if (aname_is(f, "from", 4))
        return XMLFRAME_FROM;
    if (aname_is(f, "to", 2))
        return XMLFRAME_TO;
    if (aname_is(f, "id", 2))
        return XMLFRAME_ID;
    if (aname_is(f, "type", 4))
        return XMLFRAME_TYPE;
    if (aname_is(f, "xmlns", 5))
        return XMLFRAME_XMLNS;
    const char *colon = f->name_len <= NAME_MAX_KEPT ? memchr(f->name, ':', f->name_len) : NULL;
    if (colon && f->alen > 6 && memcmp(f->aname, "xmlns:", 6) == 0 &&
        f->alen - 6 == (size_t)(colon - f->name) && memcmp(f->aname + 6, f->name, f->alen - 6) == 0)
        return XMLFRAME_XMLNS_PREFIX;
    return -1;
}

static xmlframe_event begin_value(xmlframe *f, char quote)
{
    /* Namespace declarations are not attributes to expat (nor to the
     * limit on them), but each costs expat a binding: a stanza may have as
     * many as it may have elements. */
    bool nsdecl = aname_is_nsdecl(f);
    if (!f->skipping) {
        if (!nsdecl && f->attrs + 1 > f->lim.max_attrs)
            return over(f, XMLPARSE_ERR_TOO_MANY, "too many attributes on one element");
        if (nsdecl && f->nsdecls + 1 > f->lim.max_elements)
            return over(f, XMLPARSE_ERR_TOO_MANY, "too many namespace declarations in one stanza");
    }
    f->attrs += !nsdecl;
    f->nsdecls += nsdecl;
    f->quote = quote;
    f->slot = kept_slot(f);
    if (f->slot >= 0) {
        kept_value *k = &f->kept[f->slot];
        k->present = true;
        k->over = false;
        k->quote = quote;
        k->len = 0;
        k->v[0] = '\0';
    }
    f->st = S_VALUE;
    return XMLFRAME_MORE;
}

static void keep_value_bytes(xmlframe *f, const char *s, size_t n)
{
    if (f->slot < 0)
        return;
    kept_value *k = &f->kept[f->slot];
    if (k->over || k->len + n > KEEP_MAX) {
        k->over = true;
        return;
    }
    memcpy(k->v + k->len, s, n);
    k->len += n;
    k->v[k->len] = '\0';
}

static xmlframe_event end_top(xmlframe *f)
{
    f->in_top = false;
    if (f->skipping) {
        f->skipping = false;
        return XMLFRAME_SKIPPED;
    }
    return f->pos >= f->mark ? XMLFRAME_STANZA : XMLFRAME_MORE;
}

static xmlframe_event start_tag_end(xmlframe *f, bool empty)
{
    f->capturing = false;
    f->st = S_TEXT;
    if (f->depth == 0) {
        if (empty)
            return XMLFRAME_END;
        f->depth = 1;
        return XMLFRAME_HEADER;
    }
    if (!empty) {
        f->depth++;
        return XMLFRAME_MORE;
    }
    return f->depth == 1 ? end_top(f) : XMLFRAME_MORE;
}

/* '<' followed by c: what kind of markup begins. */
static xmlframe_event after_lt(xmlframe *f, char c)
{
    switch (c) {
    case '/':
        f->st = S_ETAG;
        return XMLFRAME_MORE;
    case '?':
        if (f->depth > 0)
            return fail(f, XMLPARSE_ERR_RESTRICTED,
                        "processing instructions are not allowed in XMPP");
        f->pi_question = false;
        f->st = S_PI;
        return XMLFRAME_MORE;
    case '!':
        f->match = 0;
        f->st = S_BANG;
        return XMLFRAME_MORE;
    default:
        break;
    }
    if (f->depth <= 1) {
        f->elements = 0;
        f->nsdecls = 0;
        begin_capture(f);
    } else if (!f->skipping) {
        /* Nesting below the stanza element, which opens at depth 1. */
        if (f->depth - 1 > f->lim.max_depth)
            return over(f, XMLPARSE_ERR_TOO_DEEP, "elements nested too deeply");
        if (f->elements + 1 > f->lim.max_elements)
            return over(f, XMLPARSE_ERR_TOO_MANY, "too many elements in one stanza");
    }
    f->elements++;
    f->attrs = 0;
    keep_name_char(f, c);
    f->st = S_NAME;
    return XMLFRAME_MORE;
}

static xmlframe_event after_bang(xmlframe *f, char c)
{
    static const char cdata[] = "[CDATA[";
    if (f->depth > 0 && c == cdata[f->match]) {
        if (++f->match == sizeof cdata - 1) {
            f->match = 0;
            f->st = S_CDATA;
        }
        return XMLFRAME_MORE;
    }
    if (f->match == 0 && c == '-')
        return fail(f, XMLPARSE_ERR_RESTRICTED, "comments are not allowed in XMPP");
    if (f->depth == 0)
        return fail(f, XMLPARSE_ERR_RESTRICTED, "DTDs are not allowed in XMPP");
    return fail(f, XMLPARSE_ERR_SYNTAX, "markup declaration inside the stream");
}

/* Inside a start tag (S_TAG, S_ANAME, S_AEQ, S_SLASH). */
static xmlframe_event in_tag(xmlframe *f, char c)
{
    if (c == '\'' || c == '"')
        return begin_value(f, c);
    if (f->st == S_SLASH) {
        if (c == '>')
            return start_tag_end(f, true);
        f->st = S_TAG;
    }
    if (c == '>')
        return start_tag_end(f, false);
    if (c == '/') {
        f->st = S_SLASH;
        return XMLFRAME_MORE;
    }
    if (is_space(c) || c == '=') {
        if (f->st == S_ANAME)
            f->st = S_AEQ;
        return XMLFRAME_MORE;
    }
    if (f->st != S_ANAME) {
        f->alen = 0;
        f->st = S_ANAME;
    }
    aname_char(f, c);
    return XMLFRAME_MORE;
}

static xmlframe_event end_tag_end(xmlframe *f)
{
    f->st = S_TEXT;
    if (f->depth == 0)
        return fail(f, XMLPARSE_ERR_SYNTAX, "end tag outside the stream");
    f->depth--;
    if (f->depth == 0) {
        f->in_top = false;
        return XMLFRAME_END;
    }
    return f->depth == 1 ? end_top(f) : XMLFRAME_MORE;
}

/* One byte through the state machine. OVER and ERROR leave it unconsumed. */
static xmlframe_event step(xmlframe *f, char c)
{
    /* Before the header ends expat still guesses the encoding, and takes a
     * 0 byte or an FE/FF byte order mark among the first two for UTF-16:
     * then it would read what the framer does not. None of these bytes
     * occurs in UTF-8 XML (RFC 6120 section 11.6: streams are UTF-8). Once
     * a parser has read the header, its encoding is settled; each fresh one
     * reads the same header first. */
    if (f->depth == 0 && (c == '\0' || (unsigned char)c >= 0xfe))
        return fail(f, XMLPARSE_ERR_SYNTAX, "the stream is not UTF-8");
    switch (f->st) {
    case S_TEXT:
        if (c == '<') {
            if (f->depth == 1 && !f->in_top) {
                f->in_top = true;
                f->top_start = f->pos;
            }
            f->st = S_LT;
        }
        return XMLFRAME_MORE;
    case S_LT:
        return after_lt(f, c);
    case S_PI:
        if (c == '>' && f->pi_question)
            f->st = S_TEXT;
        f->pi_question = c == '?';
        return XMLFRAME_MORE;
    case S_BANG:
        return after_bang(f, c);
    case S_CDATA:
        if (c == '>' && f->match >= 2)
            f->st = S_TEXT;
        f->match = c == ']' ? f->match + 1 : 0;
        return XMLFRAME_MORE;
    case S_NAME:
        if (is_space(c)) {
            f->st = S_TAG;
        } else if (c == '/') {
            f->st = S_SLASH;
        } else if (c == '>') {
            return start_tag_end(f, false);
        } else {
            keep_name_char(f, c);
        }
        return XMLFRAME_MORE;
    case S_TAG:
    case S_ANAME:
    case S_AEQ:
    case S_SLASH:
        return in_tag(f, c);
    case S_VALUE:
        if (c == f->quote) {
            f->slot = -1;
            f->st = S_TAG;
        } else {
            keep_value_bytes(f, &c, 1);
        }
        return XMLFRAME_MORE;
    case S_ETAG:
        return c == '>' ? end_tag_end(f) : XMLFRAME_MORE;
    case S_FAILED:
        break;
    }
    return XMLFRAME_ERROR;
}

/* Bytes that end a name in a tag: whitespace, '/', '>', '=' and quotes. */
static const unsigned char name_end[256] = {
    [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, ['/'] = 1,
    ['>'] = 1, ['='] = 1,  ['\''] = 1, ['"'] = 1,
};

/* Bytes that cannot change the state (text, the inside of a value, most of
 * a name), up to `avail`: taken in one go instead of one step each. */
static size_t run_length(xmlframe *f, const char *p, size_t avail)
{
    if (f->depth == 0)
        return 0; /* the header: every byte is checked (step) */
    const char *stop;
    size_t k = 0;
    switch (f->st) {
    case S_TEXT:
        stop = memchr(p, '<', avail);
        return stop ? (size_t)(stop - p) : avail;
    case S_VALUE:
        stop = memchr(p, f->quote, avail);
        k = stop ? (size_t)(stop - p) : avail;
        keep_value_bytes(f, p, k);
        return k;
    case S_NAME:
    case S_ANAME:
        /* The first byte of a name went through step. */
        while (k < avail && !name_end[(unsigned char)p[k]])
            k++;
        if (f->st == S_ANAME) {
            if (f->alen < ANAME_MAX)
                memcpy(f->aname + f->alen, p, k < ANAME_MAX - f->alen ? k : ANAME_MAX - f->alen);
            f->alen += k;
        } else {
            for (size_t j = 0; j < k && f->capturing; j++)
                keep_name_char(f, p[j]);
        }
        return k;
    default:
        return 0;
    }
}

xmlframe_event xmlframe_scan(xmlframe *f, const char *data, size_t n, size_t *used)
{
    size_t i = 0;
    while (i < n && f->st != S_FAILED) {
        uint64_t end = budget_end(f);
        if (f->pos >= end) {
            *used = i;
            return budget_spent(f);
        }
        size_t stop = end - f->pos < n - i ? i + (size_t)(end - f->pos) : n;
        bool top = f->in_top;
        /* The budget holds until a stanza begins (or an event returns). */
        while (i < stop && f->in_top == top) {
            size_t k = run_length(f, data + i, stop - i);
            if (k > 0) {
                i += k;
                f->pos += k;
                continue;
            }
            xmlframe_event ev = step(f, data[i]);
            if (ev == XMLFRAME_OVER || ev == XMLFRAME_ERROR) {
                *used = i;
                return ev;
            }
            i++;
            f->pos++;
            if (ev != XMLFRAME_MORE) {
                *used = i;
                return ev;
            }
        }
    }
    *used = i;
    return f->st == S_FAILED ? XMLFRAME_ERROR : XMLFRAME_MORE;
}
