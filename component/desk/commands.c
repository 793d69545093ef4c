/* The desk's ad-hoc commands (schemas/desk-commands.md): one row each, in
 * the order clients list them, and the fields several of them share. */
#include "desk/internal.h"

const adhoc_who desk_who_manager = {DESK_ROLE_MOD | DESK_ROLE_ROOM_ADMIN,
                                    "only service moderators and room administrators may do that"};
const adhoc_who desk_who_mod = {DESK_ROLE_MOD, "only service moderators may do that"};

static const adhoc_command commands[] = {
    {"report", "Report abuse", NULL, desk_report_steps, 1, false},
    {"list", "List open reports", &desk_who_manager, desk_list_steps, 1, false},
    {"view", "View a report", &desk_who_manager, desk_view_steps, 2, false},
    {"dismiss", "Dismiss a report", &desk_who_manager, desk_dismiss_steps, 1, false},
    {"warn", "Warn a user", &desk_who_manager, desk_warn_steps, 1, false},
    {"mute", "Mute a user", &desk_who_manager, desk_mute_steps, 1, false},
    {"unmute", "Unmute a user", &desk_who_mod, desk_unmute_steps, 1, false},
    {"kick", "Kick a user", &desk_who_manager, desk_kick_steps, 1, false},
    {"ban-room", "Ban a user from a room", &desk_who_manager, desk_ban_room_steps, 1, false},
    {"ban", "Ban a user from the service", &desk_who_mod, desk_ban_steps, 1, false},
    {"block-domain", "Block a whole domain", &desk_who_mod, desk_block_domain_steps, 1, false},
    {"erase", "Erase everything about a JID", &desk_who_mod, desk_erase_steps, 1, false},
    {"audit", "Read the audit log", &desk_who_manager, desk_audit_steps, 1, false},
};

int desk_register_commands(desk *d)
{
    if (!d->commands)
        return 0;
    return adhoc_register(d->commands, commands, sizeof commands / sizeof commands[0], desk_roles,
                          d);
}

const dataform_option desk_durations[] = {
    {"one hour", "3600"},       {"one day", "86400"},  {"one week", "604800"},
    {"thirty days", "2592000"}, {"until lifted", "0"}, {NULL, NULL},
};

void desk_add_room_field(xml_node *x, const desk_scope *s, bool required)
{
    if (s->mod) {
        dataform_add_field(x, "room", DATAFORM_JID_SINGLE,
                           required ? "Room" : "Room (empty: every room of the service)", NULL,
                           required ? DATAFORM_REQUIRED : 0);
        return;
    }
    xml_node *f =
        dataform_add_field(x, "room", DATAFORM_LIST_SINGLE, "Room", NULL, DATAFORM_REQUIRED);
    for (size_t i = 0; s->rooms && s->rooms[i]; i++)
        dataform_add_option(f, s->rooms[i], s->rooms[i]);
}
