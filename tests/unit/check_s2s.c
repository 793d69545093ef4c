/* The server-to-server stream's state machines, fed literal XML over a
 * socket pair (no TLS: the s2s_config has none, as only tests may), and
 * the bytes the stream writes compared with what RFC 6120 and XEP-0220
 * say it must write. TLS, SASL EXTERNAL and real peers are in
 * tests/e2e/test_gateway.py. */
#include <check.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dialback.h"
#include "dns.h"
#include "s2s.h"
#include "gwset.h"
#include "testutil.h"

#define LOCAL "rooms.example"
#define REMOTE "remote.example"
#define SECRET "s3cret"
#define PEER_HDR                                                                                   \
    "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "        \
    "xmlns:db='jabber:server:dialback' version='1.0' "

static const char *const locals[] = {LOCAL, NULL};

typedef struct fixture {
    struct ev_loop *loop;
    int peer; /* our end of the socket pair: the remote server */
    s2s *s;
    int ready, closed, verify_needed, verify_results;
    char verify_id[80], verify_key[80], why[300], last_stanza[1024];
    bool verify_valid;
    bool refuse; /* on_admit refuses */
} fixture;

static void f_ready(void *ud, s2s *s, const char *local, const char *remote)
{
    (void)s;
    (void)local;
    (void)remote;
    ((fixture *)ud)->ready++;
}

static void f_stanza(void *ud, s2s *s, xml_node *st)
{
    (void)s;
    fixture *f = ud;
    char *str = xml_to_string(st, "jabber:server");
    snprintf(f->last_stanza, sizeof f->last_stanza, "%s", str);
    free(str);
    xml_free(st);
}

static void f_verify_needed(void *ud, s2s *s, const char *local, const char *remote, const char *id,
                            const char *key)
{
    (void)s;
    (void)local;
    (void)remote;
    fixture *f = ud;
    f->verify_needed++;
    snprintf(f->verify_id, sizeof f->verify_id, "%s", id);
    snprintf(f->verify_key, sizeof f->verify_key, "%s", key);
}

static void f_verify_result(void *ud, s2s *s, const char *local, const char *remote, const char *id,
                            bool valid)
{
    (void)s;
    (void)local;
    (void)remote;
    fixture *f = ud;
    f->verify_results++;
    f->verify_valid = valid;
    snprintf(f->verify_id, sizeof f->verify_id, "%s", id);
}

static void f_closed(void *ud, s2s *s, const char *why)
{
    fixture *f = ud;
    f->closed++;
    snprintf(f->why, sizeof f->why, "%s", why);
    s2s_free(s);
    f->s = NULL;
}

static bool f_admit(void *ud, s2s *s, const char *local, const char *remote, const char **why)
{
    (void)s;
    (void)local;
    (void)remote;
    *why = "not a partner";
    return !((fixture *)ud)->refuse;
}

static const s2s_callbacks cbs = {f_ready,         f_stanza, f_verify_needed,
                                  f_verify_result, f_closed, f_admit};

static s2s_config config(void)
{
    s2s_config c = {0};
    c.local_domains = locals;
    c.dialback_secret = SECRET;
    c.dialback = true;
    c.setup_timeout = 5;
    xstream_options_default(&c.stream);
    c.stream.keepalive = 0;
    c.stream.limits.max_stanza_bytes = 4096;
    return c;
}

static void setup(fixture *f, bool incoming)
{
    memset(f, 0, sizeof *f);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    f->peer = sv[1];
    s2s_config c = config();
    f->s = incoming ? s2s_accept(f->loop, sv[0], false, &c, &cbs, f)
                    : s2s_connect(f->loop, sv[0], false, LOCAL, REMOTE, &c, &cbs, f);
    ck_assert_ptr_nonnull(f->s);
}

static void teardown(fixture *f)
{
    s2s_free(f->s);
    close(f->peer);
    ev_loop_destroy(f->loop);
}

static void spin(fixture *f)
{
    for (int i = 0; i < 20; i++)
        ev_run(f->loop, EVRUN_NOWAIT);
}

static void say(fixture *f, const char *xml)
{
    ck_assert_int_eq(write(f->peer, xml, strlen(xml)), (ssize_t)strlen(xml));
    spin(f);
}

/* What the stream wrote since the last call, with the value of the first
 * id='…' it holds replaced by ID (ours is random) and kept in id. */
static char *heard(fixture *f, char *id, size_t idlen)
{
    spin(f);
    static char out[8192];
    ssize_t n = read(f->peer, out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    char *p = strstr(out, " id='");
    if (p) {
        char *q = strchr(p + 5, '\'');
        if (id)
            snprintf(id, idlen, "%.*s", (int)(q - p - 5), p + 5);
        memmove(p + 7, q, strlen(q) + 1);
        memcpy(p + 5, "ID", 2);
    }
    return out;
}

#define OUR_HDR(from, to)                                                                          \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "           \
    "from='" from "'" to " id='ID' version='1.0'>"

START_TEST(incoming_offers_dialback)
{
    fixture f;
    setup(&f, true);
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "'>");
    ck_assert_str_eq(heard(&f, NULL, 0),
                     OUR_HDR(LOCAL, " to='" REMOTE "'") "<stream:features><dialback "
                                                        "xmlns='urn:xmpp:features:dialback'><"
                                                        "errors/></dialback></stream:features>");
    teardown(&f);
}
END_TEST

START_TEST(incoming_unknown_host)
{
    fixture f;
    setup(&f, true);
    say(&f, PEER_HDR "from='" REMOTE "' to='elsewhere.example'>");
    ck_assert_str_eq(heard(&f, NULL, 0),
                     OUR_HDR(LOCAL, " to='" REMOTE "'") "<stream:error><host-unknown "
                                                        "xmlns='urn:ietf:params:xml:ns:xmpp-"
                                                        "streams'/><text xmlns='urn:ietf:params:"
                                                        "xml:ns:xmpp-streams'>this server does "
                                                        "not serve that domain</text></"
                                                        "stream:error></stream:stream>");
    teardown(&f);
}
END_TEST

/* RFC 6120 4.9.1.3: a header that does not parse is still answered with
 * our header before the error (found by fuzz_s2s). */
START_TEST(incoming_malformed_header_gets_our_header_first)
{
    fixture f;
    setup(&f, true);
    say(&f, "<stream:stream xmlns='jabber:server' <<<");
    ck_assert_str_eq(heard(&f, NULL, 0),
                     "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                     "xmlns:stream='http://etherx.jabber.org/streams' "
                     "xmlns:db='jabber:server:dialback' from='" LOCAL "' version='1.0'>"
                     "<stream:error><not-well-formed "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>byte 37: not well-formed "
                     "(invalid token)</text></stream:error></stream:stream>");
    teardown(&f);
}
END_TEST

START_TEST(incoming_old_version)
{
    fixture f;
    setup(&f, true);
    say(&f, "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/"
            "streams' to='" LOCAL "'>");
    ck_assert_ptr_nonnull(strstr(heard(&f, NULL, 0), "<unsupported-version"));
    teardown(&f);
}
END_TEST

START_TEST(incoming_stanza_before_auth)
{
    fixture f;
    setup(&f, true);
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "'>");
    heard(&f, NULL, 0);
    say(&f, "<message from='a@" REMOTE "' to='r@" LOCAL "'><body>hi</body></message>");
    ck_assert_str_eq(heard(&f, NULL, 0),
                     "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                     "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>the stream is not "
                     "authenticated</text></stream:error></stream:stream>");
    ck_assert_str_eq(f.last_stanza, "");
    teardown(&f);
}
END_TEST

/* XEP-0220 as the receiving server: the claim goes to the owner, the
 * answer comes back as db:result, then the pair may send. */
START_TEST(incoming_dialback_then_stanzas)
{
    fixture f;
    setup(&f, true);
    char id[80];
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "'>");
    heard(&f, id, sizeof id);
    say(&f, "<db:result from='" REMOTE "' to='" LOCAL "'>abcdef</db:result>");
    ck_assert_int_eq(f.verify_needed, 1);
    ck_assert_str_eq(f.verify_id, id);
    ck_assert_str_eq(f.verify_key, "abcdef");
    s2s_dialback_result(f.s, LOCAL, REMOTE, true);
    ck_assert_str_eq(heard(&f, NULL, 0),
                     "<db:result from='" LOCAL "' to='" REMOTE "' type='valid'/>");
    ck_assert_int_eq(f.ready, 1);
    ck_assert(s2s_pair_valid(f.s, LOCAL, REMOTE));
    say(&f, "<message from='a@" REMOTE "/r' to='room@" LOCAL "'><body>hi</body></message>");
    ck_assert_str_eq(f.last_stanza, "<message from=\"a@" REMOTE "/r\" to=\"room@" LOCAL
                                    "\"><body>hi</body></message>");
    /* A domain the stream never authenticated. */
    say(&f, "<message from='a@spoofed.example' to='room@" LOCAL "'/>");
    ck_assert_ptr_nonnull(strstr(heard(&f, NULL, 0), "<invalid-from"));
    teardown(&f);
}
END_TEST

/* The owner's policy refuses the domain: the peer hears policy-violation
 * instead of type='valid', so it never sends stanzas that would be lost. */
START_TEST(incoming_dialback_refused_by_policy)
{
    fixture f;
    setup(&f, true);
    f.refuse = true;
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "'>");
    heard(&f, NULL, 0);
    say(&f, "<db:result from='" REMOTE "' to='" LOCAL "'>abcdef</db:result>");
    s2s_dialback_result(f.s, LOCAL, REMOTE, true);
    ck_assert_str_eq(heard(&f, NULL, 0),
                     "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                     "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>not a partner"
                     "</text></stream:error></stream:stream>");
    ck_assert_int_eq(f.ready, 0);
    teardown(&f);
}
END_TEST

START_TEST(incoming_dialback_invalid)
{
    fixture f;
    setup(&f, true);
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "'>");
    heard(&f, NULL, 0);
    say(&f, "<db:result from='" REMOTE "' to='" LOCAL "'>abcdef</db:result>");
    s2s_dialback_result(f.s, LOCAL, REMOTE, false);
    ck_assert_str_eq(heard(&f, NULL, 0),
                     "<db:result from='" LOCAL "' to='" REMOTE "' type='invalid'/>"
                     "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                     "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>dialback key not valid"
                     "</text></stream:error></stream:stream>");
    teardown(&f);
}
END_TEST

/* XEP-0220 as the authoritative server: our own keys verify, others not. */
START_TEST(incoming_db_verify)
{
    fixture f;
    setup(&f, true);
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "'>");
    heard(&f, NULL, 0);
    char key[DIALBACK_KEY_LEN + 1], msg[400];
    ck_assert_int_eq(dialback_key(SECRET, REMOTE, LOCAL, "s1d", key), 0);
    snprintf(msg, sizeof msg,
             "<db:verify from='" REMOTE "' to='" LOCAL "' id='s1d'>%s</db:verify>"
             "<db:verify from='" REMOTE "' to='" LOCAL "' id='other'>%s</db:verify>",
             key, key);
    say(&f, msg);
    ck_assert_str_eq(heard(&f, NULL, 0), "<db:verify from='" LOCAL "' to='" REMOTE
                                         "' id='ID' type='valid'/><db:verify from='" LOCAL
                                         "' to='" REMOTE "' id='other' type='invalid'/>");
    teardown(&f);
}
END_TEST

START_TEST(incoming_oversized_stanza)
{
    fixture f;
    setup(&f, true);
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "'>");
    heard(&f, NULL, 0);
    char big[6000];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\0';
    say(&f, "<message from='a@" REMOTE "' to='r@" LOCAL "'><body>");
    say(&f, big);
    say(&f, "</body></message>");
    ck_assert_ptr_nonnull(strstr(heard(&f, NULL, 0), "<policy-violation"));
    teardown(&f);
}
END_TEST

/* The initiating side: header, then dialback with the XEP-0185 key for
 * the id the peer chose, then stanzas once the peer says valid. */
START_TEST(outgoing_dialback)
{
    fixture f;
    setup(&f, false);
    ck_assert_str_eq(heard(&f, NULL, 0),
                     "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                     "xmlns:stream='http://etherx.jabber.org/streams' "
                     "xmlns:db='jabber:server:dialback' from='" LOCAL "' to='" REMOTE
                     "' version='1.0'>");
    s2s_send_verify(f.s, LOCAL, REMOTE, "in1", "k3y");
    say(&f, PEER_HDR "from='" REMOTE "' to='" LOCAL "' id='peer1'>"
                     "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
                     "</stream:features>");
    char key[DIALBACK_KEY_LEN + 1], want[600];
    ck_assert_int_eq(dialback_key(SECRET, REMOTE, LOCAL, "peer1", key), 0);
    snprintf(want, sizeof want,
             "<db:verify from='" LOCAL "' to='" REMOTE "' id='ID'>k3y</db:verify>"
             "<db:result from='" LOCAL "' to='" REMOTE "'>%s</db:result>",
             key);
    ck_assert_str_eq(heard(&f, NULL, 0), want);
    say(&f, "<db:verify from='" REMOTE "' to='" LOCAL "' id='in1' type='valid'/>");
    ck_assert_int_eq(f.verify_results, 1);
    ck_assert(f.verify_valid);
    ck_assert_int_eq(f.ready, 0);
    say(&f, "<db:result from='" REMOTE "' to='" LOCAL "' type='valid'/>");
    ck_assert_int_eq(f.ready, 1);
    xml_node *m = tu_stanza("<message from='r@" LOCAL "' to='u@" REMOTE "'><body>x</body>"
                            "</message>");
    xml_move_ns(m, "jabber:component:accept", "jabber:server");
    ck_assert_int_eq(s2s_send(f.s, m), 0);
    xml_free(m);
    ck_assert_str_eq(heard(&f, NULL, 0),
                     "<message from=\"r@" LOCAL "\" to=\"u@" REMOTE "\"><body>x</body></message>");
    teardown(&f);
}
END_TEST

START_TEST(outgoing_refused)
{
    fixture f;
    setup(&f, false);
    heard(&f, NULL, 0);
    say(&f, PEER_HDR "id='p2'><stream:features/>");
    heard(&f, NULL, 0);
    say(&f, "<db:result from='" REMOTE "' to='" LOCAL "' type='invalid'/>");
    ck_assert_str_eq(heard(&f, NULL, 0), "</stream:stream>");
    say(&f, "</stream:stream>");
    ck_assert_int_eq(f.ready, 0);
    ck_assert_int_eq(f.closed, 1);
    ck_assert_str_eq(f.why, "dialback refused by " REMOTE " (invalid)");
    teardown(&f);
}
END_TEST

/* The example of XEP-0185, section 3. */
START_TEST(dialback_key_vector)
{
    char key[DIALBACK_KEY_LEN + 1];
    ck_assert_int_eq(
        dialback_key("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F", key), 0);
    ck_assert_str_eq(key, "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
    ck_assert(dialback_key_valid("s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org",
                                 "D60000229F", key));
    ck_assert(!dialback_key_valid("s3cr3tf0rd14lb4ck", "example.org", "xmpp.example.com",
                                  "D60000229F", key));
}
END_TEST

static double zero(void)
{
    return 0.0;
}

static double almost_one(void)
{
    return 0.999;
}

/* RFC 2782: by priority; within one, the draw picks by running weight. */
START_TEST(srv_order)
{
    dns_srv r[4] = {
        {{"c", 1, false}, 20, 0},
        {{"a", 1, false}, 10, 5},
        {{"b", 1, true}, 10, 0},
        {{"d", 1, false}, 10, 60},
    };
    dns_srv_order(r, 4, zero);
    /* A draw of 0 picks the first of the running sum: the zero weight. */
    ck_assert_str_eq(r[0].t.host, "b");
    ck_assert_str_eq(r[3].t.host, "c");
    dns_srv s[3] = {
        {{"a", 1, false}, 10, 5},
        {{"b", 1, false}, 10, 0},
        {{"d", 1, false}, 10, 60},
    };
    dns_srv_order(s, 3, almost_one);
    ck_assert_str_eq(s[0].t.host, "d");
    ck_assert_str_eq(s[1].t.host, "a");
    ck_assert_str_eq(s[2].t.host, "b");
}
END_TEST

START_TEST(gateway_example_loads)
{
    const char *dir = getenv("STOA_SRCDIR");
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/gateway/stoa-gateway.conf.example", dir ? dir : ".");
    gwset s;
    ck_assert_msg(gwset_load(path, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s.domain_list[0], "rooms.example.org");
    ck_assert_int_eq(s.port, 5269);
    gwset_free(&s);
    ck_assert_int_eq(gwset_load_string("g.conf", "[gateway]\ndomains = a@b\n", &s, err, sizeof err),
                     -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("s2s");
    TCase *tc = tcase_create("s2s");
    tcase_add_test(tc, incoming_offers_dialback);
    tcase_add_test(tc, incoming_unknown_host);
    tcase_add_test(tc, incoming_old_version);
    tcase_add_test(tc, incoming_stanza_before_auth);
    tcase_add_test(tc, incoming_dialback_then_stanzas);
    tcase_add_test(tc, incoming_dialback_invalid);
    tcase_add_test(tc, incoming_dialback_refused_by_policy);
    tcase_add_test(tc, incoming_malformed_header_gets_our_header_first);
    tcase_add_test(tc, incoming_db_verify);
    tcase_add_test(tc, incoming_oversized_stanza);
    tcase_add_test(tc, outgoing_dialback);
    tcase_add_test(tc, outgoing_refused);
    tcase_add_test(tc, dialback_key_vector);
    tcase_add_test(tc, srv_order);
    tcase_add_test(tc, gateway_example_loads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
