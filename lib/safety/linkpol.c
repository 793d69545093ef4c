#include "linkpol.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "ns.h"

const char *const linkpol_names[] = {"deliver", "mark", "hold", "reject", NULL};

/* Case-insensitive search that needs no copy of the text. */
static bool contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return true;
    return false;
}

/* URI schemes and forms people paste. "aesgcm:" is XEP-0454 (encrypted
 * media) and counts as a file. */
static unsigned text_flags(const char *t)
{
    static const char *const links[] = {"http://", "https://", "www.", "xmpp:", "ftp://", NULL};
    unsigned f = 0;
    for (const char *const *l = links; *l; l++)
        if (contains_ci(t, *l))
            f |= LINKPOL_LINK;
    if (contains_ci(t, "aesgcm://"))
        f |= LINKPOL_LINK | LINKPOL_FILE;
    return f;
}

static bool ns_is(const xml_node *n, const char *ns)
{
    return xml_ns(n) && strcmp(xml_ns(n), ns) == 0;
}

static bool ns_prefix(const xml_node *n, const char *p)
{
    return xml_ns(n) && strncmp(xml_ns(n), p, strlen(p)) == 0;
}

/* Walks the whole message: links hide in XHTML-IM <a href>, in reference
 * URIs, in any text. An element's text is read joined (xml_text), since the
 * parser may split "http://" across text nodes. Depth is bounded by the
 * stream's own limits. */
static unsigned walk(xml_node *n)
{
    unsigned f = 0;
    const char *t = xml_text(n);
    if (t)
        f |= text_flags(t);
    /* XEP-0066 OOB, XEP-0385 SIMS, XEP-0447 SFS, XEP-0234/0353 Jingle file
     * transfer: offers of files, whatever their text says. */
    if (ns_is(n, NS_OOB) || ns_is(n, NS_SIMS) || ns_prefix(n, NS_SFS_PREFIX) ||
        ns_prefix(n, NS_JINGLE_FT_PREFIX) || ns_prefix(n, NS_FILE_METADATA_PREFIX))
        f |= LINKPOL_FILE | LINKPOL_LINK;
    const char *name, *value;
    for (size_t i = 0; xml_attr_at(n, i, &name, &value); i++) {
        if (strcmp(name, "href") == 0 || strcmp(name, "src") == 0 || strcmp(name, "uri") == 0 ||
            strcmp(name, "url") == 0)
            f |= LINKPOL_LINK | text_flags(value);
    }
    for (xml_node *c = xml_first_child(n); c; c = xml_next(c))
        if (!xml_is_text(c))
            f |= walk(c);
    return f;
}

unsigned linkpol_detect(const xml_node *msg)
{
    unsigned f = 0;
    for (xml_node *c = xml_first_child(msg); c; c = xml_next(c))
        if (!xml_is_text(c))
            f |= walk(c);
    return f;
}
