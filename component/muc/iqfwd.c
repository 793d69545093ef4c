/* IQs between occupants (XEP-0045 7.x "IQ to an occupant"): a client asks
 * another occupant's client something (its avatar, its software version,
 * its time) knowing only the occupant address. The room forwards the
 * request under the asker's own occupant address, so semi-anonymous rooms
 * stay anonymous, and routes the answer back.
 *
 * No state is kept per request: the asker's real address and its id travel
 * in the forwarded id, sealed with a keyed hash so nobody can craft an
 * answer that the room would deliver to a JID of their choosing. An answer
 * that never comes costs nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "log.h"
#include "metrics.h"
#include "muc/fanout.h"
#include "muc/iqfwd.h"
#include "ns.h"

#define FWD_PREFIX "stoa1."

static const char hexdigits[] = "0123456789abcdef";

static void put_hex(buf *b, const char *s)
{
    for (; *s; s++) {
        char two[2] = {hexdigits[(unsigned char)*s >> 4], hexdigits[(unsigned char)*s & 15]};
        buf_append(b, two, 2);
    }
}

/* Decodes n hex digits into a fresh string; NULL if malformed (or NUL). */
static char *get_hex(const char *s, size_t n)
{
    if (n % 2)
        return NULL;
    char *out = malloc(n / 2 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 2) {
        int v = 0;
        for (size_t k = 0; k < 2; k++) {
            char c = s[i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) {
                free(out);
                return NULL;
            }
            v = v * 16 + d;
        }
        if (v == 0) {
            free(out);
            return NULL;
        }
        out[i / 2] = (char)v;
    }
    out[n / 2] = '\0';
    return out;
}

/* The seal binds the room, the asker and its id together: 64 bits of an
 * HMAC, "" when it could not be made (then no answer matches). */
static void seal(const muc *m, const muc_room *r, const char *asker, const char *id, char out[17])
{
    muc_mac(m, out, 16, "iq-forward", r->jid, asker, id, (const char *)NULL);
}

/* Writes the iq's children, as the asker sent them. */
static void put_children(buf *b, const xml_node *st)
{
    for (xml_node *c = xml_first_child(st); c; c = xml_next(c)) {
        if (!xml_is_text(c))
            xml_serialize(c, b, NS_COMPONENT);
    }
}

static void forward_request(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *st = c->st;
    const char *asker_full = c->from_full;
    muc_session *s = asker_full ? muc_session_by_jid(r, asker_full) : NULL;
    if (!s) {
        muc_error(m, st, STANZA_ERR_NOT_ACCEPTABLE, "you are not in this room");
        return;
    }
    muc_occupant *target = muc_occupant_by_nick(r, c->to.resource);
    if (!target || target->nsessions == 0) {
        muc_error(m, st, STANZA_ERR_ITEM_NOT_FOUND, "nobody by that nickname is here");
        return;
    }
    const char *id = xml_attr(st, "id");
    if (!id)
        id = "";
    const xml_node *q = c->payload;
    const char *qns = q && xml_ns(q) ? xml_ns(q) : "";
    /* A vCard belongs to the account, and the account's server answers for
     * it (XEP-0054): a client would otherwise be asked about an avatar it
     * does not hold. */
    bool vcard = strcmp(xml_name(q), "vCard") == 0 && strcmp(qns, NS_VCARD) == 0;
    buf *b = m->sink.begin(m->sink.ud);
    if (b) {
        buf_puts(b, "<iq type=\"");
        buf_puts(b, xml_attr(st, "type"));
        buf_puts(b, "\" from=\"");
        buf_puts(b, s->occ->from_attr);
        buf_puts(b, "\" to=\"");
        if (vcard)
            buf_append_xml_escaped(b, target->bare, strlen(target->bare));
        else
            buf_puts(b, target->sessions[0]->jid_attr);
        buf_puts(b, "\" id=\"" FWD_PREFIX);
        put_hex(b, asker_full);
        buf_puts(b, ".");
        put_hex(b, id);
        char sl[17];
        seal(m, r, asker_full, id, sl);
        buf_printf(b, ".%s\">", sl);
        put_children(b, st);
        buf_puts(b, "</iq>");
        if (metrics_metered(m->sink.ud))
            metrics_inc(METRIC_OUT_IQ);
        m->sink.commit(m->sink.ud);
    }
}

/* An answer to a forwarded request: back to the asker, from the answering
 * occupant's address, under the asker's own id. */
static void route_answer(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *st = c->st;
    const char *fid = xml_attr(st, "id");
    size_t plen = strlen(FWD_PREFIX);
    if (!fid || strncmp(fid, FWD_PREFIX, plen) != 0)
        return; /* not ours: answers are never answered (RFC 6120 8.2.3) */
    const char *a = fid + plen;
    const char *dot1 = strchr(a, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strlen(dot2 + 1) != 16)
        return;
    char *asker = get_hex(a, (size_t)(dot1 - a));
    char *id = dot2 == dot1 + 1 ? strdup("") : get_hex(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    char want[17] = "";
    if (asker && id)
        seal(m, r, asker, id, want);
    /* The answer must come from someone in the room (an avatar answer
     * comes from the account's bare JID), and carry an intact seal. */
    const char *full = c->from_full, *bare = c->from_bare;
    muc_occupant *answerer = NULL;
    muc_session *fs = full ? muc_session_by_jid(r, full) : NULL;
    if (fs) {
        answerer = fs->occ;
    } else if (bare) {
        for (size_t i = 0; i < r->noccupants && !answerer; i++) {
            if (strcmp(r->occupants[i]->bare, bare) == 0)
                answerer = r->occupants[i];
        }
    }
    if (!asker || !id || strcmp(want, dot2 + 1) != 0 || !answerer) {
        log_debug("muc: %s: dropped an IQ answer that matches no forwarded request", r->jid);
    } else {
        buf *b = m->sink.begin(m->sink.ud);
        if (b) {
            buf_puts(b, "<iq type=\"");
            buf_puts(b, xml_attr(st, "type"));
            buf_puts(b, "\" from=\"");
            buf_puts(b, answerer->from_attr);
            buf_puts(b, "\" to=\"");
            buf_append_xml_escaped(b, asker, strlen(asker));
            buf_puts(b, "\" id=\"");
            buf_append_xml_escaped(b, id, strlen(id));
            buf_puts(b, "\">");
            put_children(b, st);
            buf_puts(b, "</iq>");
            if (metrics_metered(m->sink.ud))
                metrics_inc(METRIC_OUT_IQ);
            m->sink.commit(m->sink.ud);
        }
    }
    free(asker);
    free(id);
}

void muc_iq_to_occupant(muc *m, muc_room *r, const stanza_ctx *c)
{
    if (c->answer)
        route_answer(m, r, c);
    else
        forward_request(m, r, c);
}
