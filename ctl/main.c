/* stoactl: the operator's command line for Stoa's shared state in Redis:
 * rooms, reports, bans, domain blocks, limits, erase, roster groups and
 * the audit log (man stoactl; docs/operating.md). It reads stoa-component's own
 * configuration file for the Redis address, password, database and
 * prefix, writes through the desk's own commands (desk/store.h), and
 * records every change in the desk's audit log. */
#include "autoconfig.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl/verbs.h"

enum { O_REASON = 1, O_DURATION = 2, O_YES = 4, O_COUNT = 8 };

/* What stoactl's changes to the groups mean for a component running. */
#define GROUPS_NOTE                                                                                \
    "stoa-component reads the groups from Redis once, when it starts: a running\n"                 \
    "component applies this change to the rosters at its next start (the ad-hoc\n"                 \
    "commands apply theirs at once). A person taken out of every group keeps the\n"                \
    "contacts the groups gave them; the ad-hoc roster-remove takes them out."

typedef struct verb {
    const char *noun, *verb; /* verb NULL: the noun alone is the command */
    int (*run)(ctl *c, char **args);
    int nargs;           /* positional arguments, exactly; -n: at least n */
    const char *args;    /* how they are written in the usage */
    unsigned opts;       /* O_* it takes */
    const char *summary; /* one line */
    const char *help;    /* more, for --help */
} verb;

static const verb verbs[] = {
    {"rooms", "list", ctl_rooms_list, 0, "", 0, "list the rooms stored in Redis",
     "Columns: room, persistent or temporary, occupant sessions recorded, archived messages."},
    {"rooms", "inspect", ctl_rooms_inspect, 1, "ROOM", 0,
     "show a room's configuration, affiliations, occupants and archive size", NULL},
    {"rooms", "destroy", ctl_rooms_destroy, 1, "ROOM", O_YES | O_REASON,
     "remove a room, its archive and occupant records from Redis",
     "Needs --yes. A running stoa-component keeps the room in memory until it restarts\n"
     "and writes it back if it changes: stop it first, or have the owner destroy the\n"
     "room from a client, which tells its occupants."},
    {"reports", "list", ctl_reports_list, 0, "", O_COUNT, "list open reports, newest first",
     "Columns: id, target, room, reason, count, last time, evidence messages, text."},
    {"reports", "view", ctl_reports_view, 1, "ID", 0, "show one report with its evidence", NULL},
    {"reports", "dismiss", ctl_reports_dismiss, 1, "ID", O_REASON,
     "dismiss a report (and lift an automatic mute it caused)", NULL},
    {"bans", "list", ctl_bans_list, 0, "", 0, "list service-wide bans", NULL},
    {"bans", "add", ctl_bans_add, 1, "JID", O_REASON | O_DURATION,
     "ban a bare JID from the whole service",
     "The policy gate refuses every stanza from JID from now on; occupants already in\n"
     "rooms stay seated but can send nothing (the desk's ban also removes them)."},
    {"bans", "remove", ctl_bans_remove, 1, "JID", O_REASON, "lift a service-wide ban", NULL},
    {"blocks", "list", ctl_blocks_list, 0, "", 0, "list blocked domains", NULL},
    {"blocks", "add", ctl_blocks_add, 1, "DOMAIN", O_REASON, "refuse everything from a domain",
     NULL},
    {"blocks", "remove", ctl_blocks_remove, 1, "DOMAIN", O_REASON, "lift a domain block", NULL},
    {"limits", "list", ctl_limits_list, 0, "", 0,
     "list service-wide mutes and rate-limit refusals being counted",
     "A mute comes from a moderator, from escalation (distinct reporters) or from the\n"
     "gate after [ratelimit] violations refusals; muted people may not send messages,\n"
     "private messages or invitations."},
    {"limits", "add", ctl_limits_add, 1, "JID", O_REASON | O_DURATION,
     "mute a bare JID service-wide", NULL},
    {"limits", "remove", ctl_limits_remove, 1, "JID", O_REASON,
     "lift a mute and forget the refusals and reporters counted towards the next", NULL},
    {"erase", NULL, ctl_erase, 1, "JID", O_YES,
     "erase a person's reports, bans, mutes, block list and archived room messages",
     "Needs --yes; cannot be undone. Room affiliations and the history a running\n"
     "stoa-component holds in memory are erased by the desk's erase command (XMPP)."},
    {"groups", "list", ctl_groups_list, 0, "", 0, "list the roster groups",
     "Columns: group, members, the groups it is displayed to.\n" GROUPS_NOTE},
    {"groups", "show", ctl_groups_show, 1, "GROUP", 0,
     "show a group's members and the groups it is displayed to", NULL},
    {"groups", "create", ctl_groups_create, 1, "GROUP", 0, "create an empty roster group",
     "A name is 1 to 64 bytes of UTF-8, without control characters, ',' ';' ':' or\n"
     "spaces around it; it is the roster group the members find each other under.\n" GROUPS_NOTE},
    {"groups", "delete", ctl_groups_delete, 1, "GROUP", O_YES,
     "delete a group, its members and its displays", "Needs --yes.\n" GROUPS_NOTE},
    {"groups", "add", ctl_groups_add, -2, "GROUP JID...", 0, "add bare JIDs to a group",
     "Refused, nothing changed, past [roster] group_max members.\n" GROUPS_NOTE},
    {"groups", "remove", ctl_groups_remove, -2, "GROUP JID...", 0, "take bare JIDs out of a group",
     "Refused, nothing changed, if one is not a member.\n" GROUPS_NOTE},
    {"groups", "display", ctl_groups_display, 2, "GROUP OTHER", 0,
     "display GROUP to OTHER: their members hold each other", GROUPS_NOTE},
    {"groups", "undisplay", ctl_groups_undisplay, 2, "GROUP OTHER", 0,
     "stop displaying GROUP to OTHER", GROUPS_NOTE},
    {"audit", NULL, ctl_audit_list, 0, "", O_COUNT,
     "show the audit log of the desk and stoactl, newest first", NULL},
};
#define NVERBS (sizeof verbs / sizeof verbs[0])

static const char *const opt_help[] = {
    "  --reason TEXT      the reason, shown to the person and kept in the audit log\n",
    "  --duration TIME    how long (seconds, or 90m, 24h); default: until lifted\n",
    "  --yes              confirm what cannot be undone\n",
    "  --count N          rows to show (default 50)\n",
};

static void usage_line(FILE *f, const verb *v)
{
    fprintf(f, "  stoactl %s%s%s%s%s", v->noun, v->verb ? " " : "", v->verb ? v->verb : "",
            *v->args ? " " : "", v->args);
    for (unsigned i = 0; i < 4; i++)
        if (v->opts & (1u << i))
            fprintf(f, " [%.*s]", (int)strcspn(opt_help[i] + 2, " "), opt_help[i] + 2);
    fputc('\n', f);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: stoactl [-c FILE] [--actor NAME] NOUN VERB [ARGS] [OPTIONS]\n"
               "Steers Stoa's shared state in Redis (docs/operating.md, man stoactl).\n\n");
    for (size_t i = 0; i < NVERBS; i++) {
        usage_line(f, &verbs[i]);
        fprintf(f, "      %s\n", verbs[i].summary);
    }
    fprintf(f,
            "\nGlobal options:\n"
            "  -c, --config FILE  stoa-component's configuration (default %s)\n"
            "      --actor NAME   who the audit log names (default stoactl:$SUDO_USER or "
            "$USER)\n"
            "  -h, --help         this text; NOUN --help, NOUN VERB --help: theirs\n"
            "  -V, --version      the version\n"
            "Exit status: 0, 64 usage, 65 bad input, 66 no such thing, 69 Redis away,\n"
            "70 unexpected reply, 77 Redis refused the password, 78 configuration.\n",
            SYSCONFDIR "/stoa/stoa-component.conf");
}

static void verb_help(const verb *v)
{
    printf("Usage:\n");
    usage_line(stdout, v);
    printf("%s.\n", v->summary);
    if (v->help)
        printf("%s\n", v->help);
    if (v->opts)
        printf("Options:\n");
    for (unsigned i = 0; i < 4; i++)
        if (v->opts & (1u << i))
            fputs(opt_help[i], stdout);
}

static int noun_help(const char *noun, FILE *f)
{
    int n = 0;
    for (size_t i = 0; i < NVERBS; i++)
        if (strcmp(verbs[i].noun, noun) == 0) {
            if (n++ == 0)
                fprintf(f, "Usage:\n");
            usage_line(f, &verbs[i]);
            fprintf(f, "      %s\n", verbs[i].summary);
        }
    return n;
}

/* The verb's options into c. CTL_OK, or the exit status. */
static int verb_options(ctl *c, const verb *v, int argc, char **argv, bool *help)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'}, {"duration", required_argument, NULL, 'd'},
        {"yes", no_argument, NULL, 'y'},          {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    static const unsigned flag[] = {O_REASON, O_DURATION, O_YES, O_COUNT};
    int ch, idx;
    optind = 0; /* glibc: start over, the earlier parse forgotten */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        if (ch == 'h') {
            *help = true;
            return CTL_OK;
        }
        if (ch == '?' || ch == ':' || !(v->opts & flag[idx]))
            return ctl_fail(CTL_USAGE, "%s%s%s: %s is not one of its options (--help)", v->noun,
                            v->verb ? " " : "", v->verb ? v->verb : "", argv[optind - 1]);
        double secs;
        char *end;
        if (ch == 'r')
            c->reason = optarg;
        else if (ch == 'y')
            c->yes = true;
        else if (ch == 'd' &&
                 (!config_parse_seconds(optarg, &secs) || secs < 0 || secs > 315360000))
            return ctl_fail(CTL_DATAERR, "--duration %s: seconds, or with a unit (90m, 24h)",
                            optarg);
        else if (ch == 'd')
            c->duration = secs;
        else if (ch == 'n' && ((c->count = (unsigned)strtoul(optarg, &end, 10)) == 0 || *end ||
                               c->count > 10000))
            return ctl_fail(CTL_DATAERR, "--count %s: a number from 1 to 10000", optarg);
    }
    return CTL_OK;
}

static const verb *find(const char *noun, const char *name)
{
    for (size_t i = 0; i < NVERBS; i++)
        if (strcmp(verbs[i].noun, noun) == 0 &&
            (verbs[i].verb ? name && strcmp(verbs[i].verb, name) == 0 : true))
            return &verbs[i];
    return NULL;
}

/* Runs the command in argv (from its noun on). */
static int command(ctl *c, const char *config, int argc, char **argv)
{
    const char *noun = argv[0];
    bool noun_alone = find(noun, NULL) && !find(noun, NULL)->verb;
    const char *name = noun_alone || argc < 2 ? NULL : argv[1];
    if (!noun_alone && (!name || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)) {
        if (!noun_help(noun, name ? stdout : stderr))
            return ctl_fail(CTL_USAGE, "%s: no such command (stoactl --help)", noun);
        return name ? CTL_OK : CTL_USAGE;
    }
    const verb *v = find(noun, name);
    if (!v) {
        noun_help(noun, stderr);
        return ctl_fail(CTL_USAGE, "%s %s: no such command", noun, name);
    }
    int skip = v->verb ? 1 : 0; /* argv[skip] is the verb (or noun), as getopt's argv[0] */
    bool help = false;
    int st = verb_options(c, v, argc - skip, argv + skip, &help);
    if (st != CTL_OK || help) {
        if (help)
            verb_help(v);
        return st;
    }
    int nargs = argc - skip - optind;
    if (v->nargs >= 0 ? nargs != v->nargs : nargs < -v->nargs) {
        fprintf(stderr, "Usage:\n");
        usage_line(stderr, v);
        int want = v->nargs < 0 ? -v->nargs : v->nargs;
        return ctl_fail(CTL_USAGE, "%s takes %s%d argument%s%s%s", v->verb ? v->verb : v->noun,
                        v->nargs < 0 ? "at least " : "", want, want == 1 ? "" : "s",
                        want ? ": " : "", v->args);
    }
    if ((st = ctl_open(c, config)) == CTL_OK)
        st = v->run(c, argv + skip + optind);
    return st;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"actor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config = SYSCONFDIR "/stoa/stoa-component.conf";
    ctl c = {0};
    int ch;
    /* "+": the global options end at the noun. */
    while ((ch = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'a':
            snprintf(c.actor, sizeof c.actor, "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("stoactl %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    int st = command(&c, config, argc - optind, argv + optind);
    ctl_close(&c);
    return st;
}
