/* stoactl's verbs: each takes the positional arguments its table row
 * asked for (args[0]..., NULL-terminated) and returns an exit status (ctl.h). */
#ifndef STOA_CTL_VERBS_H
#define STOA_CTL_VERBS_H

#include "ctl/ctl.h"

int ctl_rooms_list(ctl *c, char **args);
int ctl_rooms_inspect(ctl *c, char **args);
int ctl_rooms_destroy(ctl *c, char **args);
int ctl_reports_list(ctl *c, char **args);
int ctl_reports_view(ctl *c, char **args);
int ctl_reports_dismiss(ctl *c, char **args);
int ctl_bans_list(ctl *c, char **args);
int ctl_bans_add(ctl *c, char **args);
int ctl_bans_remove(ctl *c, char **args);
int ctl_blocks_list(ctl *c, char **args);
int ctl_blocks_add(ctl *c, char **args);
int ctl_blocks_remove(ctl *c, char **args);
int ctl_limits_list(ctl *c, char **args);
int ctl_limits_add(ctl *c, char **args);
int ctl_limits_remove(ctl *c, char **args);
int ctl_audit_list(ctl *c, char **args);
int ctl_erase(ctl *c, char **args);
int ctl_groups_list(ctl *c, char **args);
int ctl_groups_show(ctl *c, char **args);
int ctl_groups_create(ctl *c, char **args);
int ctl_groups_delete(ctl *c, char **args);
int ctl_groups_add(ctl *c, char **args);
int ctl_groups_remove(ctl *c, char **args);
int ctl_groups_display(ctl *c, char **args);
int ctl_groups_undisplay(ctl *c, char **args);

#endif
