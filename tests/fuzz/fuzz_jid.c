/* JIDs (lib/jid.c): any string either fails or normalizes to a form that
 * parses again to itself; the bare form and jid_normalize agree with it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

static void fail(const char *what, const char *in, const char *a, const char *b)
{
    fprintf(stderr, "%s\ninput: %s\n%s\n%s\n", what, in, a ? a : "(null)", b ? b : "(null)");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = strndup((const char *)data, size);
    if (!s)
        return 0;
    jid j;
    jid_err e = jid_parse(s, &j);
    jid_err e2;
    char *norm = jid_normalize(s, &e2);
    if (e != JID_OK) {
        if (norm || e2 != e)
            fail("jid_parse refused what jid_normalize did not", s, norm, jid_strerror(e));
        free(s);
        return 0;
    }
    char *full = jid_full(&j), *bare = jid_bare(&j);
    if (!full || !bare || !norm || strcmp(full, norm) != 0)
        fail("jid_full and jid_normalize differ", s, full, norm);
    jid k;
    if (jid_parse(full, &k) != JID_OK)
        fail("a normalized JID does not parse", s, full, NULL);
    char *again = jid_full(&k);
    if (!again || strcmp(again, full) != 0 || !jid_equal(&j, &k) || !jid_bare_equal(&j, &k))
        fail("normalizing is not stable", s, full, again);
    jid b;
    if (jid_parse(bare, &b) != JID_OK || b.resource)
        fail("the bare form does not parse as a bare JID", s, bare, NULL);
    jid_free(&b);
    free(again);
    jid_free(&k);
    free(full);
    free(bare);
    free(norm);
    jid_free(&j);
    free(s);
    return 0;
}
