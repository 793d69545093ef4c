/* Reading the privilege message and saying what it lacks. */
#include "roster/priv.h"

#include <stdio.h>
#include <string.h>

#include "ns.h"

static void read_perm(const xml_node *perm, priv_perms *out)
{
    const char *access = xml_attr(perm, "access"), *type = xml_attr(perm, "type");
    if (!access || !type)
        return;
    if (strcmp(access, "roster") == 0) {
        out->roster = strcmp(type, "both") == 0  ? PRIV_ROSTER_GET | PRIV_ROSTER_SET
                      : strcmp(type, "get") == 0 ? PRIV_ROSTER_GET
                      : strcmp(type, "set") == 0 ? PRIV_ROSTER_SET
                                                 : 0;
    } else if (strcmp(access, "presence") == 0) {
        out->presence = strcmp(type, "roster") == 0           ? PRIV_PRESENCE_ROSTER
                        : strcmp(type, "managed_entity") == 0 ? PRIV_PRESENCE_MANAGED
                                                              : PRIV_PRESENCE_NONE;
    } else if (strcmp(access, "message") == 0) {
        out->message = strcmp(type, "outgoing") == 0;
    }
}

int priv_parse(const xml_node *message, priv_perms *out)
{
    memset(out, 0, sizeof *out);
    const xml_node *p = xml_child(message, "privilege", NS_PRIVILEGE2);
    out->version = 2;
    if (!p) {
        p = xml_child(message, "privilege", NS_PRIVILEGE1);
        out->version = 1;
    }
    if (!p)
        return -1;
    for (const xml_node *c = xml_first_child(p); c; c = xml_next(c))
        if (!xml_is_text(c) && strcmp(xml_name(c), "perm") == 0 && xml_ns(c) &&
            strcmp(xml_ns(c), xml_ns(p)) == 0)
            read_perm(c, out);
    return 0;
}

priv_writer priv_pick_writer(const priv_perms *p, bool contrib)
{
    if (!(p->roster & PRIV_ROSTER_GET))
        return PRIV_WRITER_NONE;
    if (contrib)
        return PRIV_WRITER_CONTRIB;
    if (p->version == 2 && (p->roster & PRIV_ROSTER_SET))
        return PRIV_WRITER_PRIVILEGED;
    return PRIV_WRITER_NONE;
}

bool priv_advice(const priv_perms *p, bool contrib, const char *host, const char *domain, char *out,
                 size_t n)
{
    out[0] = '\0';
    if (!p) {
        snprintf(
            out, n,
            "roster: %s sent no XEP-0356 privilege message: group rosters and who is online "
            "are off. Prosody: load mod_privilege and set on the VirtualHost "
            "privileged_entities = { [\"%s\"] = { roster = \"both\", presence = \"roster\" } }; "
            "ejabberd: mod_privilege with roster: both and presence: roster for %s, and "
            "contrib/ejabberd/mod_stoa_roster (docs/rosters.md)",
            host ? host : "the host server", domain, domain);
        return true;
    }
    bool groups = priv_pick_writer(p, contrib) != PRIV_WRITER_NONE;
    bool online = p->presence != PRIV_PRESENCE_NONE;
    if (groups && online)
        return false;
    const char *off = !groups && !online ? "group rosters and who is online are"
                      : !groups          ? "group rosters are"
                                         : "who is online is";
    if (p->version == 2) {
        snprintf(out, n,
                 "roster: %s grants %s%s%s: %s off. Set on its VirtualHost privileged_entities = "
                 "{ [\"%s\"] = { roster = \"both\", presence = \"roster\" } } (docs/rosters.md)",
                 host, groups ? "" : "no roster read and write", !groups && !online ? " and " : "",
                 online ? "" : "no presence", off, domain);
    } else if (!groups && (p->roster & PRIV_ROSTER_GET) && !contrib) {
        snprintf(out, n,
                 "roster: %s (ejabberd, urn:xmpp:privilege:1) cannot write roster items with their "
                 "subscription (its privileged roster set cuts the link: ejabberd issue #3942): %s "
                 "off. Load contrib/ejabberd/mod_stoa_roster with service: \"%s\"%s "
                 "(docs/rosters.md)",
                 host, off, domain, online ? "" : ", and grant mod_privilege presence: roster");
    } else {
        snprintf(out, n,
                 "roster: %s (ejabberd) grants %s%s%s: %s off. Add to ejabberd.yml: mod_privilege: "
                 "{roster: {both: <an acl matching %s>}, presence: {roster: <the same>}}%s "
                 "(docs/rosters.md)",
                 host, groups ? "" : "no roster read", !groups && !online ? " and " : "",
                 online ? "" : "no presence", off, domain,
                 contrib ? "" : ", and load contrib/ejabberd/mod_stoa_roster");
    }
    return true;
}
