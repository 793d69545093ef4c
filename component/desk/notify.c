/* What the desk tells people in chat messages: moderators (and the
 * owners of the room concerned) about new reports, moderators about
 * escalations, users about a warning. */
#include <stdio.h>

#include "config.h"
#include "desk/internal.h"

void desk_send_chat(desk *d, const char *from, const char *to, const char *body)
{
    xml_node *m = xml_new("message", NULL);
    xml_node *b = m ? xml_append_new(m, "body", NULL) : NULL;
    if (!b || xml_set_attr(m, "from", from ? from : d->domain) < 0 ||
        xml_set_attr(m, "to", to) < 0 || xml_set_attr(m, "type", "chat") < 0 ||
        xml_append_text(b, body) < 0) {
        xml_free(m);
        return;
    }
    desk_emit(d, m);
}

void desk_notify_mods(desk *d, const char *body)
{
    for (size_t i = 0; d->mods && d->mods[i]; i++)
        desk_send_chat(d, NULL, d->mods[i], body);
}

/* The owners of the room a report is about hear of it too, in the same
 * words, unless they are service moderators (who have heard already): it
 * is their room, and the desk's commands show them the reports of the rooms
 * they manage (desk_scope). Only owners: admins are the owners' to choose
 * and tell. */
static void notify_owners(desk *d, const char *room, const char *body)
{
    char **owners = *room ? muc_room_owners(d->rooms, room) : NULL;
    for (size_t i = 0; owners && owners[i]; i++)
        if (!desk_is_mod(d, owners[i]))
            desk_send_chat(d, NULL, owners[i], body);
    config_list_free(owners);
}

void desk_notify_report(desk *d, const char *id, const char *target, const char *reason,
                        const char *room, long long held, const char *text)
{
    char body[1600];
    snprintf(body, sizeof body,
             "New report %s: %s reported for %s%s%s; %lld message%s of evidence held.%s%.300s%s"
             "\nUse the ad-hoc command \"View a report\" on %s.",
             id, target, reason, *room ? " in " : "", room, held, held == 1 ? "" : "s",
             *text ? " Reporter says: \"" : "", text, *text ? "\"" : "", d->domain);
    desk_notify_mods(d, body);
    notify_owners(d, room, body);
}

void desk_notify_escalation(desk *d, const char *target, long long distinct, unsigned rooms)
{
    char body[600];
    snprintf(body, sizeof body,
             "%s is now muted service-wide: %lld distinct people reported them. Dismiss the "
             "report or use \"Unmute a user\" to lift it (voice revoked in %u room%s).",
             target, distinct, rooms, rooms == 1 ? "" : "s");
    desk_notify_mods(d, body);
}

void desk_warn_user(desk *d, const char *room, const char *target, const char *message)
{
    char body[2200];
    snprintf(body, sizeof body, "Warning from the moderators of %s: %.2000s",
             room ? room : d->domain, message);
    desk_send_chat(d, room, target, body);
}
