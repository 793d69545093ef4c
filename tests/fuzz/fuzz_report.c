/* Reports (component/desk/report.c): any stanza with a report's shape either
 * parses into a report batch or is refused with a stanza error and a
 * reason. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzzutil.h"
#include "desk/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const trusted[] = {"example.org", NULL};
    xml_node *st = fz_stanza((const char *)data, size);
    if (!st)
        return 0;
    /* As the desk does: only what has a report's shape is parsed. */
    if (!report_is_report(st)) {
        xml_free(st);
        return 0;
    }
    report_batch b;
    stanza_error e;
    const char *why = NULL;
    if (report_parse(st, "alice@example.org/pc", trusted, &b, &e, &why) == 0) {
        report_batch_free(&b);
    } else if (!why) {
        fprintf(stderr, "a report refused without a reason\n");
        abort();
    }
    xml_free(st);
    return 0;
}
