#include "jid.h"

#include "config.h"

#include <arpa/inet.h>
#include <idna.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

/* Unassigned code points (relative to Unicode 3.2, which the stringprep
 * tables are frozen at) are refused in local parts and domains: those name
 * rooms and hosts that get stored, and RFC 3454 section 7 forbids unassigned
 * code points in stored strings. Resources are prepared in query mode
 * (unassigned allowed) on purpose: they carry MUC nicknames and client
 * resources, where emoji and other post-3.2 characters are everyday input
 * that servers such as Prosody accept, and refusing them would lock those
 * users out. Allowing them is stable, because a frozen profile passes
 * unassigned code points through unchanged forever. */
#define LOCAL_FLAGS STRINGPREP_NO_UNASSIGNED
#define DOMAIN_FLAGS STRINGPREP_NO_UNASSIGNED
#define RESOURCE_FLAGS 0

/* Raw bytes accepted per part before preparation. Preparation can shrink
 * text (fullwidth and mathematical letters fold to ASCII, at most 4 bytes to
 * 1), so the limit cannot be JID_PART_MAX itself; anything beyond 4x can only
 * be padding with characters that map to nothing, and refusing it up front
 * spares hostile inputs a full normalization pass. */
#define RAW_PART_MAX (4 * JID_PART_MAX)

#define LABEL_MAX 63

/* stringprep only partly checks UTF-8 on some libidn versions, and a broken
 * sequence must never reach the normalization tables. Strict: no overlong
 * forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, lowest;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
            lowest = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
            lowest = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
            lowest = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < lowest || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Runs one stringprep profile over in[0..n) and stores a malloc'ed result in
 * *out. Returns JID_OK, JID_ERR_NOMEM, or `bad` for anything the profile or
 * the length rules refuse (an empty result included: a part made only of
 * characters that map to nothing is still an empty part). */
static jid_err prep(const char *in, size_t n, const Stringprep_profile *profile,
                    Stringprep_profile_flags flags, jid_err bad, char **out)
{
    *out = NULL;
    if (n > RAW_PART_MAX || !utf8_valid((const unsigned char *)in, n))
        return bad;
    /* Printable ASCII without capitals comes out of every XMPP profile
     * unchanged, except for the few characters Nodeprep prohibits, and it
     * is what nearly every address is made of: skip stringprep, the
     * costliest step of parsing a JID, for it. */
    const char *prohibited = profile == stringprep_xmpp_nodeprep ? "\"&'/:<>@" : "";
    bool plain = n > 0 && n <= JID_PART_MAX;
    for (size_t i = 0; plain && i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        plain = c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z') && !strchr(prohibited, c);
    }
    if (plain) {
        *out = strndup(in, n);
        return *out ? JID_OK : JID_ERR_NOMEM;
    }
    /* stringprep() works in place and fails when the result does not fit, so
     * a buffer of max(n, JID_PART_MAX) + 1 both holds the input and makes
     * "too small" mean "longer than allowed". */
    size_t cap = (n > JID_PART_MAX ? n : JID_PART_MAX) + 1;
    char *buf = malloc(cap);
    if (!buf)
        return JID_ERR_NOMEM;
    memcpy(buf, in, n);
    buf[n] = '\0';
    int rc = stringprep(buf, cap, flags, profile);
    if (rc == STRINGPREP_MALLOC_ERROR) {
        free(buf);
        return JID_ERR_NOMEM;
    }
    size_t len = rc == STRINGPREP_OK ? strlen(buf) : 0;
    if (len == 0 || len > JID_PART_MAX) {
        free(buf);
        return bad;
    }
    char *shrunk = realloc(buf, len + 1);
    *out = shrunk ? shrunk : buf;
    return JID_OK;
}

/* RFC 7622 3.2: "[::1]". Canonicalized through inet_ntop so that every
 * spelling of one address compares equal. */
static jid_err prep_ipv6(const char *d, size_t n, char **out)
{
    char inner[INET6_ADDRSTRLEN];
    char text[INET6_ADDRSTRLEN];
    struct in6_addr addr;

    if (n < 3 || d[n - 1] != ']' || n - 2 >= sizeof inner)
        return JID_ERR_DOMAIN;
    memcpy(inner, d + 1, n - 2);
    inner[n - 2] = '\0';
    if (inet_pton(AF_INET6, inner, &addr) != 1 || !inet_ntop(AF_INET6, &addr, text, sizeof text))
        return JID_ERR_DOMAIN;
    size_t len = strlen(text);
    char *s = malloc(len + 3);
    if (!s)
        return JID_ERR_NOMEM;
    s[0] = '[';
    memcpy(s + 1, text, len);
    s[len + 1] = ']';
    s[len + 2] = '\0';
    *out = s;
    return JID_OK;
}

/* Length of the label separator at s (RFC 3490 3.1: full stop, ideographic
 * full stop, fullwidth full stop, halfwidth ideographic full stop), or 0. */
static size_t separator_len(const unsigned char *s, size_t left)
{
    if (s[0] == '.')
        return 1;
    if (left >= 3 && ((s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x82) ||
                      (s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x8E) ||
                      (s[0] == 0xEF && s[1] == 0xBD && s[2] == 0xA1)))
        return 3;
    return 0;
}

/* Nameprep accepts ASCII that no host name may hold (controls, space,
 * punctuation, and '.' or '/' produced by NFKC from look-alikes such as
 * U+2024 or U+FF0F), so the prepared label is held to LDH rules too. A
 * non-ASCII label's DNS length is that of its ACE form, which can exceed
 * its UTF-8 length, so ask ToASCII. */
static bool label_valid(const char *label)
{
    size_t len = strlen(label);
    bool ascii = true;

    if (label[0] == '-' || label[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)label[i];
        if (c >= 0x80)
            ascii = false;
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    if (ascii)
        return len <= LABEL_MAX;
    char *ace = NULL;
    int rc = idna_to_ascii_8z(label, &ace, 0);
    bool ok = rc == IDNA_SUCCESS && strlen(ace) <= LABEL_MAX;
    free(ace);
    return ok;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* Nameprep is applied label by label, as IDNA does: over the whole name its
 * bidi rule would refuse a right-to-left label next to "com". */
static jid_err prep_domain(const char *d, size_t n, char **out)
{
    *out = NULL;
    if (n > RAW_PART_MAX || !utf8_valid((const unsigned char *)d, n))
        return JID_ERR_DOMAIN;
    if (d[0] == '[')
        return prep_ipv6(d, n, out);

    char *res = malloc(JID_PART_MAX + 1);
    if (!res)
        return JID_ERR_NOMEM;
    size_t len = 0, last_label = 0;
    size_t i = 0;
    jid_err err = JID_OK;
    while (i < n) {
        size_t start = i, sep = 0;
        while (i < n && (sep = separator_len((const unsigned char *)d + i, n - i)) == 0)
            i++;
        if (i == start) {
            err = JID_ERR_DOMAIN; /* empty label: leading or doubled dot */
            break;
        }
        char *label;
        err = prep(d + start, i - start, stringprep_nameprep, DOMAIN_FLAGS, JID_ERR_DOMAIN, &label);
        if (err != JID_OK)
            break;
        size_t ll = strlen(label);
        bool ok = label_valid(label) && len + (len > 0) + ll <= JID_PART_MAX;
        if (ok) {
            if (len > 0)
                res[len++] = '.';
            last_label = len;
            memcpy(res + len, label, ll);
            len += ll;
        }
        free(label);
        if (!ok) {
            err = JID_ERR_DOMAIN;
            break;
        }
        /* Past the last label this skips the one trailing dot of a fully
         * qualified name, so "example.com." means "example.com". */
        i += sep;
    }
    if (err == JID_OK && len == 0)
        err = JID_ERR_DOMAIN;
    res[len] = '\0';
    /* No top-level domain is all digits (RFC 3696 2), so such a name must
     * be a dotted-quad IPv4 literal. */
    struct in_addr v4;
    if (err == JID_OK && all_digits(res + last_label, len - last_label) &&
        inet_pton(AF_INET, res, &v4) != 1)
        err = JID_ERR_DOMAIN;
    if (err != JID_OK) {
        free(res);
        return err;
    }
    char *shrunk = realloc(res, len + 1);
    *out = shrunk ? shrunk : res;
    return JID_OK;
}

jid_err jid_parse(const char *s, jid *out)
{
    if (!out)
        return JID_ERR_EMPTY;
    memset(out, 0, sizeof *out);
    if (!s || !*s)
        return JID_ERR_EMPTY;

    /* RFC 7622 3.1: the resource starts at the first '/', and the local part
     * ends at the first '@' before it; an '@' after it belongs to the
     * resource, a second '@' before it to the domain (which refuses it). */
    size_t total = strlen(s);
    const char *slash = memchr(s, '/', total);
    size_t bare_len = slash ? (size_t)(slash - s) : total;
    const char *at = memchr(s, '@', bare_len);
    const char *dom = at ? at + 1 : s;
    size_t dom_len = bare_len - (size_t)(dom - s);

    if (at == s || dom_len == 0 || (slash && slash[1] == '\0'))
        return JID_ERR_EMPTY;

    jid_err err = JID_OK;
    if (at)
        err = prep(s, (size_t)(at - s), stringprep_xmpp_nodeprep, LOCAL_FLAGS, JID_ERR_LOCAL,
                   &out->local);
    if (err == JID_OK)
        err = prep_domain(dom, dom_len, &out->domain);
    if (err == JID_OK && slash)
        err = prep(slash + 1, total - bare_len - 1, stringprep_xmpp_resourceprep, RESOURCE_FLAGS,
                   JID_ERR_RESOURCE, &out->resource);
    if (err != JID_OK)
        jid_free(out);
    return err;
}

void jid_free(jid *j)
{
    if (!j)
        return;
    free(j->local);
    free(j->domain);
    free(j->resource);
    j->local = j->domain = j->resource = NULL;
}

const char *jid_strerror(jid_err e)
{
    switch (e) {
    case JID_OK:
        return "valid address";
    case JID_ERR_EMPTY:
        return "empty address or empty part";
    case JID_ERR_LOCAL:
        return "invalid local part";
    case JID_ERR_DOMAIN:
        return "invalid domain";
    case JID_ERR_RESOURCE:
        return "invalid resource";
    case JID_ERR_NOMEM:
        return "out of memory";
    }
    return "unknown address error";
}

static char *join(const jid *j, bool with_resource)
{
    if (!j || !j->domain)
        return NULL;
    size_t ll = j->local ? strlen(j->local) + 1 : 0;
    size_t dl = strlen(j->domain);
    size_t rl = with_resource && j->resource ? strlen(j->resource) + 1 : 0;
    char *s = malloc(ll + dl + rl + 1);
    if (!s)
        return NULL;
    char *p = s;
    if (ll) {
        memcpy(p, j->local, ll - 1);
        p[ll - 1] = '@';
        p += ll;
    }
    memcpy(p, j->domain, dl);
    p += dl;
    if (rl) {
        *p = '/';
        memcpy(p + 1, j->resource, rl - 1);
        p += rl;
    }
    *p = '\0';
    return s;
}

char *jid_full(const jid *j)
{
    return join(j, true);
}

char *jid_bare(const jid *j)
{
    return join(j, false);
}

char *jid_normalize(const char *s, jid_err *err)
{
    jid j;
    jid_err e = jid_parse(s, &j);
    char *r = NULL;
    if (e == JID_OK) {
        r = jid_full(&j);
        if (!r)
            e = JID_ERR_NOMEM;
        jid_free(&j);
    }
    if (err)
        *err = e;
    return r;
}

static bool part_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool jid_bare_equal(const jid *a, const jid *b)
{
    return a && b && part_equal(a->local, b->local) && part_equal(a->domain, b->domain);
}

bool jid_equal(const jid *a, const jid *b)
{
    return jid_bare_equal(a, b) && part_equal(a->resource, b->resource);
}

char **jid_list_parse(const char *csv, jid_list_kind kind, char *bad, size_t badlen)
{
    if (badlen)
        bad[0] = '\0';
    char **list = config_list(csv);
    for (size_t i = 0; list && list[i]; i++) {
        jid j;
        if (jid_parse(list[i], &j) != JID_OK) {
            snprintf(bad, badlen, "%s", list[i]);
            config_list_free(list);
            return NULL;
        }
        bool fits = !j.resource && (kind == JID_LIST_USERS ? j.local != NULL : j.local == NULL);
        char *norm = fits ? jid_bare(&j) : NULL;
        jid_free(&j);
        if (!norm) {
            if (!fits)
                snprintf(bad, badlen, "%s", list[i]);
            config_list_free(list);
            return NULL;
        }
        free(list[i]);
        list[i] = norm;
    }
    return list;
}
