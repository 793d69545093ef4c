#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "xmlparse.h"

static void keep(void *ud, xml_node *stanza)
{
    xml_node **out = ud;
    if (*out)
        xml_free(stanza);
    else
        *out = stanza;
}

static void drop_header(void *ud, xml_node *h)
{
    (void)ud;
    xml_free(h);
}

xml_node *tu_stanza(const char *xml)
{
    static const xmlparse_limits lim = {1 << 20, 64, 64, 10000};
    static const xmlparse_callbacks cb = {drop_header, keep, NULL, NULL};
    xml_node *out = NULL;
    xmlparse *p = xmlparse_new(&lim, &cb, &out);
    const char *hdr = "<stream:stream xmlns='" NS_COMPONENT "' xmlns:stream='" NS_STREAMS "'>";
    if (xmlparse_feed(p, hdr, strlen(hdr)) != XMLPARSE_OK ||
        xmlparse_feed(p, xml, strlen(xml)) != XMLPARSE_OK) {
        xml_free(out);
        out = NULL;
    }
    xmlparse_free(p);
    return out;
}

char *tu_str(const xml_node *n)
{
    return xml_to_string(n, NS_COMPONENT);
}

void tu_expect(xml_node *r, const char *want)
{
    if (!want) {
        ck_assert_ptr_null(r);
    } else {
        ck_assert_ptr_nonnull(r);
        char *s = tu_str(r);
        ck_assert_str_eq(s, want);
        free(s);
    }
    xml_free(r);
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
