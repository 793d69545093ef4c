/* The group rosters: the group model, the privilege message in both
 * namespaces and the one line for what it lacks, and the service taking the
 * host's stanzas (literal stanzas in, literal stanzas out). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "roster/grp.h"
#include "roster/priv.h"
#include "service.h"
#include "testutil.h"

/* ---- the model ---- */

static grp_set *g;

static void model_setup(void)
{
    g = grp_new();
    ck_assert_ptr_nonnull(g);
}

static void model_teardown(void)
{
    grp_free(g);
}

static void labels_are(const char *user, const char *contact, const char *want)
{
    char out[256];
    ck_assert_int_eq(grp_labels(g, user, contact, out, sizeof out), 0);
    ck_assert_str_eq(out, want);
}

START_TEST(members_hold_each_other)
{
    ck_assert_int_eq(grp_create(g, "Staff"), 0);
    ck_assert_int_eq(grp_create(g, "Staff"), 1);
    ck_assert_int_eq(grp_add(g, "Staff", "a@x"), 0);
    ck_assert_int_eq(grp_add(g, "Staff", "b@x"), 0);
    ck_assert_int_eq(grp_add(g, "Staff", "b@x"), 1);
    ck_assert_int_eq(grp_add(g, "Nope", "b@x"), -1);
    labels_are("a@x", "b@x", "Staff");
    labels_are("a@x", "a@x", "");
    labels_are("a@x", "c@x", "");
    grp_create(g, "Board");
    grp_add(g, "Board", "a@x");
    grp_add(g, "Board", "b@x");
    labels_are("b@x", "a@x", "Board\nStaff");
    ck_assert_int_eq(grp_remove(g, "Staff", "b@x"), 0);
    ck_assert_int_eq(grp_remove(g, "Staff", "b@x"), 1);
    labels_are("b@x", "a@x", "Board");
    ck_assert_int_eq(grp_delete(g, "Board"), 0);
    labels_are("b@x", "a@x", "");
    ck_assert_uint_eq(grp_size(g, "Staff"), 1);
    ck_assert(!grp_is_member(g, "Board", "a@x"));
}
END_TEST

static void count(void *ud, const char *s)
{
    (void)s;
    (*(int *)ud)++;
}

START_TEST(displayed_groups_go_both_ways)
{
    grp_create(g, "Sales");
    grp_create(g, "Support");
    grp_add(g, "Sales", "s1@x");
    grp_add(g, "Sales", "s2@x");
    grp_add(g, "Support", "t1@x");
    labels_are("s1@x", "t1@x", "");
    ck_assert_int_eq(grp_display(g, "Support", "Sales", true), 0);
    ck_assert_int_eq(grp_display(g, "Support", "Sales", true), 1);
    labels_are("s1@x", "t1@x", "Support");
    labels_are("t1@x", "s1@x", "Sales");
    int n = 0;
    grp_each_contact(g, "t1@x", count, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(grp_delete(g, "Support"), 0);
    labels_are("s1@x", "t1@x", "");
    ck_assert_int_eq(grp_display(g, "Support", "Sales", false), -1);
}
END_TEST

START_TEST(names)
{
    ck_assert(grp_name_ok("Staff"));
    ck_assert(grp_name_ok("Équipe de nuit"));
    ck_assert(!grp_name_ok(""));
    ck_assert(!grp_name_ok(" Staff"));
    ck_assert(!grp_name_ok("a;b"));
    ck_assert(!grp_name_ok("a:b"));
    ck_assert(!grp_name_ok("a\tb"));
    char big[GRP_NAME_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert(!grp_name_ok(big));
}
END_TEST

static int seed(void *ud, const char *name, const char *member)
{
    buf *b = ud;
    buf_append(b, name, strlen(name));
    buf_append(b, "=", 1);
    buf_append(b, member ? member : "-", strlen(member ? member : "-"));
    buf_append(b, ";", 1);
    return 0;
}

START_TEST(config_setting)
{
    buf b = BUF_INIT;
    char err[256];
    ck_assert_int_eq(grp_parse_config("Staff: Alice@Example.ORG bob@example.org; Empty:", 10, seed,
                                      &b, err, sizeof err),
                     0);
    char *s = buf_strdup(&b);
    ck_assert_str_eq(s, "Staff=alice@example.org;Staff=bob@example.org;Empty=-;");
    free(s);
    ck_assert_int_eq(grp_parse_config("Staff: a@x b@x c@x", 2, seed, &b, err, sizeof err), -1);
    ck_assert_str_eq(err, "group Staff has more than 2 members ([roster] group_max)");
    ck_assert_int_eq(grp_parse_config("Staff: bad user@x", 9, seed, &b, err, sizeof err), -1);
    ck_assert_str_eq(err, "group Staff: 'bad' is not a bare user JID");
    ck_assert_int_eq(grp_parse_config("Staff a@x", 9, seed, &b, err, sizeof err), -1);
    buf_free(&b);
}
END_TEST

/* ---- the privilege message ---- */

static priv_perms parse(const char *xml)
{
    xml_node *m = tu_stanza(xml);
    priv_perms p;
    ck_assert_int_eq(priv_parse(m, &p), 0);
    xml_free(m);
    return p;
}

START_TEST(prosody_privilege_2)
{
    /* As Debian's prosody-modules mod_privilege sends it: only what it
     * grants. */
    priv_perms p = parse("<message from='example.org' to='rooms.example.org'>"
                         "<privilege xmlns='urn:xmpp:privilege:2'>"
                         "<perm access='roster' type='both'/>"
                         "<perm access='presence' type='roster'/></privilege></message>");
    ck_assert_int_eq(p.version, 2);
    ck_assert_uint_eq(p.roster, PRIV_ROSTER_GET | PRIV_ROSTER_SET);
    ck_assert_int_eq(p.presence, PRIV_PRESENCE_ROSTER);
    ck_assert(!p.message);
    ck_assert_int_eq(priv_pick_writer(&p, false), PRIV_WRITER_PRIVILEGED);
    char line[900];
    ck_assert(!priv_advice(&p, false, "example.org", "rooms.example.org", line, sizeof line));
    ck_assert_str_eq(line, "");
}
END_TEST

START_TEST(ejabberd_privilege_1)
{
    /* As ejabberd 23.01 sends it: every access, "none" for what it does
     * not grant. */
    priv_perms p = parse("<message to='rooms.example.org' from='example.org'>"
                         "<privilege xmlns='urn:xmpp:privilege:1'>"
                         "<perm type='none' access='message'/><perm type='both' access='roster'/>"
                         "<perm type='roster' access='presence'/></privilege></message>");
    ck_assert_int_eq(p.version, 1);
    /* Never its privileged set (#3942); the contrib module when listed. */
    ck_assert_int_eq(priv_pick_writer(&p, false), PRIV_WRITER_NONE);
    ck_assert_int_eq(priv_pick_writer(&p, true), PRIV_WRITER_CONTRIB);
    char line[900];
    ck_assert(priv_advice(&p, false, "example.org", "rooms.example.org", line, sizeof line));
    ck_assert_str_eq(line, "roster: example.org (ejabberd, urn:xmpp:privilege:1) cannot write "
                           "roster items with their subscription (its privileged roster set cuts "
                           "the link: ejabberd issue #3942): group rosters are off. Load "
                           "contrib/ejabberd/mod_stoa_roster with service: \"rooms.example.org\" "
                           "(docs/rosters.md)");
    ck_assert(!priv_advice(&p, true, "example.org", "rooms.example.org", line, sizeof line));
}
END_TEST

START_TEST(missing_permissions_one_line)
{
    priv_perms p = parse("<message from='example.org' to='rooms.example.org'>"
                         "<privilege xmlns='urn:xmpp:privilege:2'>"
                         "<perm access='roster' type='get'/></privilege></message>");
    char line[900];
    ck_assert(priv_advice(&p, false, "example.org", "rooms.example.org", line, sizeof line));
    ck_assert_str_eq(line, "roster: example.org grants no roster read and write and no presence: "
                           "group rosters and who is online are off. Set on its VirtualHost "
                           "privileged_entities = { [\"rooms.example.org\"] = { roster = \"both\", "
                           "presence = \"roster\" } } (docs/rosters.md)");
    ck_assert(priv_advice(NULL, false, NULL, "rooms.example.org", line, sizeof line));
    ck_assert(strstr(line, "sent no XEP-0356 privilege message") != NULL);
    xml_node *m = tu_stanza("<message from='example.org' to='rooms.example.org'><body>x</body>"
                            "</message>");
    ck_assert_int_eq(priv_parse(m, &p), -1);
    xml_free(m);
}
END_TEST

/* ---- the service ---- */

static buf output = BUF_INIT;
static service *svc;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static void svc_setup(void)
{
    service_config c = {.domain = "rooms.example.org",
                        .name = "Rooms",
                        .version = "1",
                        .roster = {.enabled = true, .admins = "boss@example.org"}};
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    svc = service_new(&c, &sink);
    ck_assert_ptr_nonnull(svc);
    service_link_up(svc);
}

static void svc_teardown(void)
{
    service_free(svc);
    buf_free(&output);
}

static void expect(const char *in, const char *want)
{
    xml_node *st = tu_stanza(in);
    ck_assert_ptr_nonnull(st);
    buf_reset(&output);
    service_handle(svc, st);
    char *got = buf_strdup(&output);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(privilege_1_asks_for_the_contrib_module)
{
    expect("<message from='example.org' to='rooms.example.org'>"
           "<privilege xmlns='urn:xmpp:privilege:1'><perm type='both' access='roster'/>"
           "<perm type='roster' access='presence'/></privilege></message>",
           "<iq type=\"get\" id=\"stoa-di-1\" from=\"rooms.example.org\" to=\"example.org\">"
           "<query xmlns=\"http://jabber.org/protocol/disco#info\"/></iq>");
    /* The host's answer lists it: taken, nothing said (no Redis: no
     * writes). */
    expect("<iq type='result' id='stoa-di-1' from='example.org' to='rooms.example.org'>"
           "<query xmlns='http://jabber.org/protocol/disco#info'>"
           "<feature var='urn:stoa:roster:0'/></query></iq>",
           "");
    /* The host's users' presence is taken silently, never bounced. */
    expect("<presence from='alice@example.org/phone' to='rooms.example.org'/>", "");
    expect("<presence from='alice@example.org/phone' to='rooms.example.org' "
           "type='unavailable'/>",
           "");
    /* Another host's privileges are not taken over. */
    expect("<message from='evil.example' to='rooms.example.org'>"
           "<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>"
           "</privilege></message>",
           "");
}
END_TEST

START_TEST(online_node_checks_the_asker)
{
    expect("<iq type='get' id='d1' from='eve@example.org/x' to='rooms.example.org'>"
           "<query xmlns='http://jabber.org/protocol/disco#items' node='online/Staff'/></iq>",
           "<iq id=\"d1\" to=\"eve@example.org/x\" from=\"rooms.example.org\" type=\"error\">"
           "<error type=\"cancel\"><item-not-found "
           "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/><text "
           "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\" xml:lang=\"en\">no such group</text>"
           "</error></iq>");
}
END_TEST

static Suite *roster_suite(void)
{
    Suite *s = suite_create("roster");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, model_setup, model_teardown);
    tcase_add_test(tc, members_hold_each_other);
    tcase_add_test(tc, displayed_groups_go_both_ways);
    tcase_add_test(tc, names);
    tcase_add_test(tc, config_setting);
    suite_add_tcase(s, tc);
    tc = tcase_create("privilege");
    tcase_add_test(tc, prosody_privilege_2);
    tcase_add_test(tc, ejabberd_privilege_1);
    tcase_add_test(tc, missing_permissions_one_line);
    suite_add_tcase(s, tc);
    tc = tcase_create("service");
    tcase_add_checked_fixture(tc, svc_setup, svc_teardown);
    tcase_add_test(tc, privilege_1_asks_for_the_contrib_module);
    tcase_add_test(tc, online_node_checks_the_asker);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(roster_suite());
}
