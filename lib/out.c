#include "out.h"

#include "metrics.h"

int out_stanza(const out *o, const xml_node *stanza)
{
    buf *b = o->begin(o->ud);
    if (!b)
        return -1;
    size_t mark = b->len;
    int rc = xml_serialize(stanza, b, o->ns);
    if (rc < 0)
        b->len = mark; /* never leave half a stanza in the queue */
    else if (metrics_metered(o->ud))
        metrics_count_out(xml_name(stanza));
    o->commit(o->ud);
    return rc;
}
