/* Discussion history (XEP-0045 7.2.15): the room's ring of its last
 * messages with a body (room.c), replayed to each newcomer within the
 * limits it asks for. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "muc/history.h"
#include "ns.h"
#include "xtime.h"

static long attr_long(const xml_node *n, const char *name, long def)
{
    const char *v = n ? xml_attr(n, name) : NULL;
    if (!v || !*v)
        return def;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 ? def : x;
}

/* One history message as `to` receives it. */
static void write_entry(const muc_room *r, buf *b, const muc_history_entry *e,
                        const muc_session *to)
{
    char stamp[64];
    xtime_format(e->stamp, stamp);
    buf_puts(b, "<message from=\"");
    buf_puts(b, r->jid_attr);
    buf_puts(b, "/");
    buf_append_xml_escaped(b, e->nick, strlen(e->nick));
    buf_puts(b, "\" to=\"");
    buf_puts(b, to->jid_attr);
    buf_puts(b, "\" type=\"groupchat\">");
    buf_puts(b, e->payload);
    buf_printf(b,
               "<delay xmlns=\"" NS_DELAY "\" from=\"%s\" stamp=\"%s\"/>"
               "<stanza-id xmlns=\"" NS_SID "\" id=\"%s\" by=\"%s\"/>"
               "<occupant-id xmlns=\"" NS_OCCUPANT_ID "\" id=\"%s\"/></message>",
               r->jid_attr, stamp, e->stanza_id, r->jid_attr, e->occupant_id);
}

void muc_history_send(muc_room *r, buf *b, const muc_session *to, const xml_node *hist)
{
    size_t n = r->hist_len;
    long maxstanzas = attr_long(hist, "maxstanzas", (long)n);
    long maxchars = attr_long(hist, "maxchars", -1);
    long seconds = attr_long(hist, "seconds", -1);
    double since = -1;
    if (hist && xml_attr(hist, "since"))
        since = xtime_parse(xml_attr(hist, "since"));
    double now = muc_now(r->svc);
    /* Walk back from the newest entry while every limit still holds;
     * maxchars counts whole stanzas as this recipient gets them. */
    size_t first = n;
    long chars = 0;
    buf scratch = BUF_INIT;
    while (first > 0 && (long)(n - first) < maxstanzas) {
        const muc_history_entry *e = muc_history_at(r, first - 1);
        if (seconds >= 0 && e->stamp < now - (double)seconds)
            break;
        if (since >= 0 && e->stamp <= since)
            break;
        if (maxchars >= 0) {
            buf_reset(&scratch);
            write_entry(r, &scratch, e, to);
            /* Characters, not bytes: UTF-8 continuation bytes do not count. */
            long len = 0;
            for (size_t k = 0; k < buf_unread_len(&scratch); k++)
                len += (buf_unread(&scratch)[k] & 0xC0) != 0x80;
            if (chars + len > maxchars)
                break;
            chars += len;
        }
        first--;
    }
    buf_free(&scratch);
    for (size_t i = first; i < n; i++)
        write_entry(r, b, muc_history_at(r, i), to);
}
