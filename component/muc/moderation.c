/* Message moderation (XEP-0425): a moderator retracts a message for
 * everyone. Both the current protocol (message-moderate:1) and the older one
 * clients still send (message-moderate:0 inside a fastening) are accepted,
 * and the announcement carries both forms, as Prosody's does. The message
 * leaves the history and the archive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "muc/fanout.h"
#include "muc/moderation.h"
#include "ns.h"

/* Replaces the message in the in-memory history with a tombstone, so
 * newcomers do not receive what was retracted. */
static void tombstone(muc_room *r, const char *sid, const char *by)
{
    for (size_t i = 0; i < r->hist_cap; i++) {
        muc_history_entry *e = &r->history[i];
        if (!e->stanza_id || strcmp(e->stanza_id, sid) != 0)
            continue;
        buf b = BUF_INIT;
        buf_puts(&b, "<retracted xmlns=\"" NS_RETRACT1 "\"><moderated xmlns=\"" NS_MODERATE1
                     "\" by=\"");
        buf_append_xml_escaped(&b, by, strlen(by));
        buf_puts(&b, "\"/></retracted>");
        char *t = buf_strdup(&b);
        buf_free(&b);
        if (t) {
            free(e->payload);
            e->payload = t;
        }
        return;
    }
}

void muc_moderate(muc *m, muc_room *r, const stanza_ctx *c)
{
    const xml_node *iq = c->st, *q = c->payload;
    muc_session *s = c->from_full ? muc_session_by_jid(r, c->from_full) : NULL;
    if (!s || s->occ->role != ROLE_MODERATOR) {
        muc_error(m, iq, STANZA_ERR_FORBIDDEN, "only moderators present in the room may do that");
        return;
    }
    const char *sid = xml_attr(q, "id");
    const xml_node *mod = q;
    if (strcmp(xml_name(q), "apply-to") == 0) {
        mod = xml_child(q, "moderate", NS_MODERATE0);
        if (!mod || !xml_child(mod, "retract", NS_RETRACT0)) {
            muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "expected <moderate><retract/></moderate>");
            return;
        }
    } else if (!xml_child(q, "retract", NS_RETRACT1)) {
        muc_error(m, iq, STANZA_ERR_BAD_REQUEST, "only retraction is supported");
        return;
    }
    if (!muc_valid_stanza_id(sid)) {
        muc_error(m, iq, STANZA_ERR_ITEM_NOT_FOUND, "no message with that id");
        return;
    }
    xml_node *reason = xml_child(mod, "reason", NULL);
    const char *why = reason ? xml_text(reason) : NULL;

    muc_result(m, iq);
    char by[3200];
    snprintf(by, sizeof by, "%s/%s", r->jid, s->occ->nick);
    buf tail = BUF_INIT;
    buf_puts(&tail, "\" type=\"groupchat\"><retract xmlns=\"" NS_RETRACT1 "\" id=\"");
    buf_puts(&tail, sid);
    buf_puts(&tail, "\"><moderated xmlns=\"" NS_MODERATE1 "\" by=\"");
    buf_append_xml_escaped(&tail, by, strlen(by));
    buf_puts(&tail, "\"><occupant-id xmlns=\"" NS_OCCUPANT_ID "\" id=\"");
    buf_puts(&tail, s->occ->occupant_id);
    buf_puts(&tail, "\"/></moderated>");
    if (why) {
        buf_puts(&tail, "<reason>");
        buf_append_xml_escaped(&tail, why, strlen(why));
        buf_puts(&tail, "</reason>");
    }
    buf_puts(&tail, "</retract><apply-to xmlns=\"" NS_FASTEN "\" id=\"");
    buf_puts(&tail, sid);
    buf_puts(&tail, "\"><moderated xmlns=\"" NS_MODERATE0 "\" by=\"");
    buf_append_xml_escaped(&tail, by, strlen(by));
    buf_puts(&tail, "\"><retract xmlns=\"" NS_RETRACT0 "\"/>");
    if (why) {
        buf_puts(&tail, "<reason>");
        buf_append_xml_escaped(&tail, why, strlen(why));
        buf_puts(&tail, "</reason>");
    }
    buf_puts(&tail, "</moderated></apply-to></message>");
    muc_room_notice(r, buf_unread(&tail), buf_unread_len(&tail));
    buf_free(&tail);
    tombstone(r, sid, by);
    muc_changed(m, &(muc_change){.kind = MUC_RETRACTED, .room = r, .sid = sid});
}
