/* The safety gate without Redis (its local fallback), the verdict-to-error
 * mapping, the link detector and XEP-0191 block IQs: literal stanzas in,
 * literal stanzas out, on a fixed clock. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "safety/gate.h"
#include "safety/linkpol.h"
#include "safety/ublock.h"
#include "testutil.h"

#define ERRNS "urn:ietf:params:xml:ns:xmpp-stanzas"

static buf output = BUF_INIT;
static buf passed = BUF_INIT;
static double clock_now = 1000;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static const out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};

static double fixed_clock(void)
{
    return clock_now;
}

/* Records what passed, one stanza a line. */
static void on_pass(void *ud, stanza_ctx *c)
{
    (void)ud;
    char *s = tu_str(c->st);
    buf_puts(&passed, s);
    buf_puts(&passed, "\n");
    free(s);
    stanza_ctx_free(c);
}

static bool in_room(void *ud, const char *local, const char *full)
{
    (void)ud;
    return strcmp(local, "lobby") == 0 && strcmp(full, "in@example.org/pc") == 0;
}

static gate_config base_config(void)
{
    gate_config c = {0};
    c.enabled = true;
    c.domains_enabled = true;
    c.prefix = "t:";
    for (int i = 0; i < GATE_C__COUNT; i++) {
        c.jid[i] = (gate_limit){1.0, 3};
        c.dom[i] = (gate_limit){0.01, 1000};
    }
    c.violations = 3;
    c.violation_window = 60;
    c.mute_seconds = 300;
    c.now = fixed_clock;
    return c;
}

static const gate_hooks hooks = {on_pass, in_room, NULL, NULL};

/* A gate whose rooms set their own limits with room_rate (NULL: none). */
static gate *make_rated_gate(gate_config *c, unsigned (*room_rate)(void *, const char *))
{
    char err[200];
    gate_hooks h = hooks;
    h.room_rate = room_rate;
    gate *g = gate_new(c, NULL, &sink, &h, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    return g;
}

static gate *make_gate(gate_config *c)
{
    return make_rated_gate(c, NULL);
}

static void setup(void)
{
    clock_now = 1000;
    buf_free(&output);
    buf_free(&passed);
}

static char *take(buf *b)
{
    char *s = buf_strdup(b);
    buf_free(b);
    return s ? s : strdup("");
}

static void submit(gate *g, const char *xml)
{
    xml_node *st = tu_stanza(xml);
    ck_assert_ptr_nonnull(st);
    gate_submit(g, st);
}

/* ---- classification ---- */

static gate_class classify(const char *xml)
{
    xml_node *st = tu_stanza(xml);
    ck_assert_ptr_nonnull(st);
    stanza_ctx *ctx = stanza_ctx_new(st);
    ck_assert_int_eq(ctx->from_err, JID_OK);
    gate_class c = gate_classify(ctx, in_room, NULL);
    stanza_ctx_free(ctx);
    return c;
}

START_TEST(classes)
{
    ck_assert_int_eq(classify("<message from='a@b/c' to='lobby@svc' type='groupchat'>"
                              "<body>x</body></message>"),
                     GATE_C_ROOM_MESSAGE);
    ck_assert_int_eq(classify("<message from='a@b/c' to='lobby@svc/nick' type='chat'/>"),
                     GATE_C_PRIVATE_MESSAGE);
    ck_assert_int_eq(classify("<presence from='a@b/c' to='lobby@svc/nick'/>"), GATE_C_JOIN);
    ck_assert_int_eq(classify("<presence from='in@example.org/pc' to='lobby@svc/new'/>"),
                     GATE_C_PRESENCE);
    /* The room's name is prepared before the lookup. */
    ck_assert_int_eq(classify("<presence from='IN@example.org/pc' to='LOBBY@svc/new'/>"),
                     GATE_C_PRESENCE);
    ck_assert_int_eq(classify("<message from='a@b/c' to='lobby@svc/a/b' type='chat'/>"),
                     GATE_C_PRIVATE_MESSAGE);
    ck_assert_int_eq(classify("<message from='a@b/c' to='svc/x@y' type='chat'/>"), GATE_C_OTHER);
    ck_assert_int_eq(classify("<presence from='a@b/c' to='lobby@svc/n' type='unavailable'/>"),
                     GATE_C_NONE);
    ck_assert_int_eq(classify("<message from='a@b/c' to='lobby@svc'><x "
                              "xmlns='http://jabber.org/protocol/muc#user'><invite "
                              "to='d@e'/></x></message>"),
                     GATE_C_INVITE);
    ck_assert_int_eq(classify("<iq type='set' id='1' from='a@b/c' to='svc'><report "
                              "xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>"
                              "</iq>"),
                     GATE_C_REPORT);
    ck_assert_int_eq(classify("<message from='example.org' to='svc'><report "
                              "xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>"
                              "</message>"),
                     GATE_C_OTHER);
    ck_assert_int_eq(classify("<message from='a@b/c' to='lobby@svc' type='error'/>"), GATE_C_NONE);
    ck_assert_int_eq(classify("<iq type='get' id='1' from='a@b/c' to='svc'><ping "
                              "xmlns='urn:xmpp:ping'/></iq>"),
                     GATE_C_OTHER);
}
END_TEST

/* ---- verdict to error ---- */

static void expect_refusal(const char *in, gate_class c, gate_verdict v, const char *reason,
                           double ttl, const char *want)
{
    xml_node *st = tu_stanza(in);
    ck_assert_ptr_nonnull(st);
    tu_expect(gate_refusal(st, c, v, reason, ttl), want);
    xml_free(st);
}

START_TEST(banned_join_is_403)
{
    expect_refusal("<presence from='a@b/c' to='lobby@svc/nick'><x "
                   "xmlns='http://jabber.org/protocol/muc'/></presence>",
                   GATE_C_JOIN, GATE_BANNED_JID, "spam", 0,
                   "<presence to=\"a@b/c\" from=\"lobby@svc/nick\" type=\"error\"><x "
                   "xmlns=\"http://jabber.org/protocol/muc\"/><error type=\"auth\"><forbidden "
                   "xmlns=\"" ERRNS "\"/><text xmlns=\"" ERRNS "\" xml:lang=\"en\">you are "
                   "banned from this service: spam</text></error></presence>");
}
END_TEST

START_TEST(rate_message_is_policy_violation)
{
    expect_refusal("<message from='a@b/c' to='lobby@svc' type='groupchat' id='m'><body>hi</body>"
                   "</message>",
                   GATE_C_ROOM_MESSAGE, GATE_RATE_JID, NULL, 0,
                   "<message id=\"m\" to=\"a@b/c\" from=\"lobby@svc\" type=\"error\"><body>hi"
                   "</body><error type=\"modify\"><policy-violation xmlns=\"" ERRNS "\"/><text "
                   "xmlns=\"" ERRNS "\" xml:lang=\"en\">rate limit: too many room_message "
                   "stanzas from you; slow down</text></error></message>");
}
END_TEST

START_TEST(rate_join_is_resource_constraint)
{
    expect_refusal("<presence from='a@b/c' to='lobby@svc/nick'/>", GATE_C_JOIN, GATE_RATE_DOMAIN,
                   NULL, 0,
                   "<presence to=\"a@b/c\" from=\"lobby@svc/nick\" type=\"error\"><error "
                   "type=\"wait\"><resource-constraint xmlns=\"" ERRNS "\"/><text xmlns=\"" ERRNS
                   "\" xml:lang=\"en\">rate limit: too many join stanzas from your server; slow "
                   "down</text></error></presence>");
}
END_TEST

START_TEST(muted_refuses_messages_not_presence)
{
    expect_refusal("<message from='a@b/c' to='lobby@svc' type='groupchat'><body>x</body>"
                   "</message>",
                   GATE_C_ROOM_MESSAGE, GATE_MUTED, "flooding", 42,
                   "<message to=\"a@b/c\" from=\"lobby@svc\" type=\"error\"><body>x</body>"
                   "<error type=\"auth\"><forbidden xmlns=\"" ERRNS "\"/><text xmlns=\"" ERRNS
                   "\" xml:lang=\"en\">muted for 42 more seconds: flooding</text></error>"
                   "</message>");
    expect_refusal("<presence from='a@b/c' to='lobby@svc/nick'/>", GATE_C_PRESENCE, GATE_MUTED,
                   NULL, 42, NULL);
}
END_TEST

START_TEST(errors_are_never_answered)
{
    expect_refusal("<message from='a@b/c' to='lobby@svc' type='error'/>", GATE_C_ROOM_MESSAGE,
                   GATE_BANNED_JID, NULL, 0, NULL);
    expect_refusal("<iq from='a@b/c' to='svc' type='result' id='1'/>", GATE_C_OTHER, GATE_RATE_JID,
                   NULL, 0, NULL);
}
END_TEST

/* ---- the local fallback ---- */

#define GC(id)                                                                                     \
    "<message from='flood@example.org/pc' to='lobby@svc' type='groupchat' id='" id "'><body>x"     \
    "</body></message>"

START_TEST(local_bucket_cuts_off_and_refills)
{
    gate_config c = base_config();
    c.violations = 0;
    gate *g = make_gate(&c);
    submit(g, GC("1"));
    submit(g, GC("2"));
    submit(g, GC("3"));
    submit(g, GC("4"));
    char *p = take(&passed), *o = take(&output);
    ck_assert_int_eq((int)(strstr(p, "id=\"3\"") != NULL), 1);
    ck_assert_ptr_null(strstr(p, "id=\"4\""));
    ck_assert_ptr_nonnull(strstr(o, "<message id=\"4\" to=\"flood@example.org/pc\""));
    ck_assert_ptr_nonnull(strstr(o, "<policy-violation"));
    free(p);
    free(o);
    clock_now += 1.0; /* one token back */
    submit(g, GC("5"));
    submit(g, GC("6"));
    p = take(&passed);
    o = take(&output);
    ck_assert_ptr_nonnull(strstr(p, "id=\"5\""));
    ck_assert_ptr_nonnull(strstr(o, "id=\"6\""));
    /* Another sender has a bucket of its own. */
    submit(g, "<message from='calm@example.org/pc' to='lobby@svc' type='groupchat' id='7'/>");
    ck_assert_ptr_nonnull(strstr(buf_unread(&passed), "id=\"7\""));
    ck_assert_uint_eq(gate_refused(g), 2);
    free(p);
    free(o);
    gate_free(g);
}
END_TEST

START_TEST(repeated_violations_mute)
{
    gate_config c = base_config();
    gate *g = make_gate(&c);
    for (int i = 0; i < 6; i++)
        submit(g, GC("x"));
    char *o = take(&output);
    /* 3 pass, 2 are over the limit, the third violation mutes. */
    ck_assert_ptr_nonnull(strstr(o, "muted for 300 more seconds: repeated rate-limit violations"));
    free(o);
    buf_free(&passed);
    clock_now += 100; /* the bucket is full again, the mute still holds */
    submit(g, GC("y"));
    o = take(&output);
    ck_assert_ptr_nonnull(strstr(o, "muted for 200 more seconds"));
    ck_assert_uint_eq(buf_unread_len(&passed), 0);
    free(o);
    /* Presence still goes through. */
    submit(g, "<presence from='flood@example.org/pc' to='lobby@svc/n'/>");
    ck_assert_ptr_nonnull(strstr(buf_unread(&passed), "<presence"));
    clock_now += 201;
    buf_free(&passed);
    submit(g, GC("z"));
    ck_assert_ptr_nonnull(strstr(buf_unread(&passed), "id=\"z\""));
    gate_free(g);
}
END_TEST

START_TEST(domain_lists)
{
    gate_config c = base_config();
    c.block_domains = "Evil.example, spam.test";
    gate *g = make_gate(&c);
    submit(g, "<presence from='x@EVIL.example/r' to='lobby@svc/n'/>");
    char *o = take(&output);
    ck_assert_ptr_nonnull(strstr(o, "<forbidden"));
    ck_assert_ptr_nonnull(strstr(o, "does not accept users of your server"));
    ck_assert_uint_eq(buf_unread_len(&passed), 0);
    free(o);
    gate_free(g);

    c = base_config();
    c.only_domains = "staff.example";
    g = make_gate(&c);
    submit(g, "<presence from='x@other.example/r' to='lobby@svc/n'/>");
    submit(g, "<presence from='y@staff.example/r' to='lobby@svc/n'/>");
    o = take(&output);
    ck_assert_ptr_nonnull(strstr(o, "to=\"x@other.example/r\""));
    ck_assert_ptr_nonnull(strstr(buf_unread(&passed), "y@staff.example/r"));
    free(o);
    gate_free(g);

    c = base_config();
    c.block_domains = "not a domain@";
    char err[200];
    ck_assert_ptr_null(gate_new(&c, NULL, &sink, &hooks, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "block_domains"));
}
END_TEST

START_TEST(spam_list_and_allow_list)
{
    char path[] = "/tmp/stoa-spamXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("# community list\nspam.example\n  JUNK.example  # shouting\n\nbad@@\n", f);
    fclose(f);
    gate_config c = base_config();
    c.allow_domains = "junk.example";
    gate *g = make_gate(&c);
    char err[200];
    ck_assert_int_eq(gate_load_spam_domains(g, path, err, sizeof err), 2);
    unlink(path);
    submit(g, "<message from='a@spam.example/r' to='lobby@svc' type='groupchat'/>");
    submit(g, "<message from='b@junk.example/r' to='lobby@svc' type='groupchat' id='ok'/>");
    char *o = take(&output);
    ck_assert_ptr_nonnull(strstr(o, "to=\"a@spam.example/r\""));
    ck_assert_ptr_nonnull(strstr(buf_unread(&passed), "id=\"ok\""));
    free(o);
    gate_free(g);
}
END_TEST

START_TEST(disabled_gate_passes_everything)
{
    gate_config c = base_config();
    c.enabled = false;
    c.block_domains = "evil.example";
    gate *g = make_gate(&c);
    for (int i = 0; i < 10; i++)
        submit(g, "<message from='x@evil.example/r' to='lobby@svc' type='groupchat'/>");
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    ck_assert_uint_eq(gate_refused(g), 0);
    gate_free(g);
}
END_TEST

/* A backed-up link: nothing leaves the FIFO and every stanza joins it,
 * checked or not, in order; a full FIFO refuses (resource-constraint) what
 * may be answered. gate_resume lets them go once the link has drained. */
static bool backed_up;

static bool sink_congested(void *ud)
{
    (void)ud;
    return backed_up;
}

static void holds_while_congested(bool enabled)
{
    gate_config c = base_config();
    c.enabled = enabled;
    c.queue_max = 4;
    for (int i = 0; i < GATE_C__COUNT; i++)
        c.jid[i] = c.dom[i] = (gate_limit){0, 0};
    char err[200];
    gate *g = gate_new(&c, NULL, &sink, &hooks, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    gate_set_congested(g, sink_congested, NULL);
    backed_up = true;
    submit(g, "<message from='a@example.org/r' to='lobby@svc' type='groupchat' id='1'/>");
    submit(g, "<message from='b@example.org/r' to='lobby@svc' type='error' id='2'/>");
    submit(g, "<presence from='c@example.org/r' to='lobby@svc/c' id='3'/>");
    submit(g, "<message from='d@example.org/r' to='lobby@svc' type='groupchat' id='4'/>");
    ck_assert_uint_eq(buf_unread_len(&passed), 0);
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    ck_assert_uint_eq(gate_pending(g), 4);
    /* Full: answered if it may be, else dropped (and counted in the log). */
    submit(g, "<message from='e@example.org/r' to='lobby@svc' type='groupchat' id='5'/>");
    submit(g, "<iq from='f@example.org/r' to='svc' type='result' id='6'/>");
    char *o = take(&output);
    ck_assert_ptr_nonnull(strstr(o, "id=\"5\""));
    ck_assert_ptr_nonnull(strstr(o, "<resource-constraint xmlns=\"" ERRNS "\"/>"));
    ck_assert_ptr_null(strstr(o, "id=\"6\""));
    free(o);
    gate_resume(g); /* still backed up: nothing moves */
    ck_assert_uint_eq(buf_unread_len(&passed), 0);
    backed_up = false;
    gate_resume(g);
    char *p = take(&passed);
    const char *i1 = strstr(p, "id=\"1\""), *i2 = strstr(p, "id=\"2\""),
               *i3 = strstr(p, "id=\"3\""), *i4 = strstr(p, "id=\"4\"");
    ck_assert_msg(i1 && i2 && i3 && i4 && i1 < i2 && i2 < i3 && i3 < i4, "passed: %s", p);
    free(p);
    ck_assert_uint_eq(gate_pending(g), 0);
    /* Drained: stanzas go straight through again. */
    submit(g, "<message from='a@example.org/r' to='lobby@svc' type='groupchat' id='7'/>");
    ck_assert_ptr_nonnull(strstr(buf_unread(&passed), "id=\"7\""));
    gate_free(g);
}

START_TEST(congested_link_holds_checked_stanzas)
{
    holds_while_congested(true);
}
END_TEST

START_TEST(congested_link_holds_unchecked_stanzas)
{
    holds_while_congested(false);
}
END_TEST

START_TEST(errors_pass_unchecked)
{
    gate_config c = base_config();
    c.block_domains = "evil.example";
    gate *g = make_gate(&c);
    submit(g, "<message from='x@evil.example/r' to='lobby@svc' type='error'/>");
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    ck_assert_ptr_nonnull(strstr(buf_unread(&passed), "type=\"error\""));
    gate_free(g);
}
END_TEST

START_TEST(bounded_buckets)
{
    gate_config c = base_config();
    c.local_max = 16;
    gate *g = make_gate(&c);
    char st[200];
    for (int i = 0; i < 500; i++) {
        snprintf(st, sizeof st,
                 "<message from='u%d@example.org/r' to='lobby@svc' "
                 "type='groupchat'/>",
                 i);
        submit(g, st);
    }
    ck_assert_uint_eq(gate_refused(g), 0);
    gate_free(g);
}
END_TEST

/* ---- the room's own limit, in the local fallback ---- */

static unsigned lobby_rate;

/* Only "lobby" sets a limit of its own. */
static unsigned room_rate(void *ud, const char *local)
{
    (void)ud;
    return strcmp(local, "lobby") == 0 ? lobby_rate : 0;
}

#define TO(room, id)                                                                               \
    "<message from='flood@example.org/pc' to='" room "' type='groupchat' id='" id "'><body>x"      \
    "</body></message>"

static unsigned count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* How often needle is in b so far (b's bytes are not NUL-terminated). */
static unsigned seen(const buf *b, const char *needle)
{
    char *s = buf_strdup(b);
    unsigned n = s ? count(s, needle) : 0;
    free(s);
    return n;
}

START_TEST(room_limit_is_stricter_than_the_service)
{
    gate_config c = base_config();
    /* The service lets one person send 100 at once: only the room bites. */
    c.jid[GATE_C_ROOM_MESSAGE] = c.jid[GATE_C_PRIVATE_MESSAGE] = (gate_limit){1.0, 100};
    gate *g = make_rated_gate(&c, room_rate);
    lobby_rate = 3;
    for (int i = 0; i < 8; i++)
        submit(g, TO("lobby@svc", "l"));
    char *p = take(&passed), *o = take(&output);
    ck_assert_uint_eq(count(p, "id=\"l\""), 3);
    ck_assert_uint_eq(count(o, "<policy-violation"), 5);
    ck_assert_uint_eq(count(o, "rate limit: this room&apos;s own limit is 3 messages a minute per "
                               "person; slow down"),
                      5);
    /* Five refusals with violations = 3, yet no mute: the owner's limit
     * counts no violation of the service's. */
    ck_assert_ptr_null(strstr(o, "muted"));
    free(p);
    free(o);
    /* Another room has no limit of its own: the service's burst applies. */
    for (int i = 0; i < 8; i++)
        submit(g, TO("hall@svc", "h"));
    ck_assert_uint_eq(seen(&passed, "id=\"h\""), 8);
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    buf_free(&passed);
    /* Another spelling of the room is the same room and the same bucket. */
    submit(g, TO("LOBBY@SVC", "u"));
    ck_assert_uint_eq(buf_unread_len(&passed), 0);
    ck_assert_uint_gt(seen(&output, "this room&apos;s own limit"), 0);
    buf_free(&output);
    /* A token every 60/3 = 20 s. */
    clock_now += 20;
    submit(g, TO("lobby@svc", "a"));
    submit(g, TO("lobby@svc", "b"));
    ck_assert_uint_gt(seen(&passed, "id=\"a\""), 0);
    ck_assert_uint_gt(seen(&output, "id=\"b\""), 0);
    buf_free(&passed);
    buf_free(&output);
    /* Private messages through the room: the same limit, a bucket of their
     * own. */
    for (int i = 0; i < 4; i++)
        submit(g, "<message from='flood@example.org/pc' to='lobby@svc/Nick' type='chat' "
                  "id='pm'><body>x</body></message>");
    ck_assert_uint_eq(seen(&passed, "id=\"pm\""), 3);
    ck_assert_uint_gt(seen(&output, "this room&apos;s own limit is 3"), 0);
    buf_free(&passed);
    buf_free(&output);
    /* Each person has a bucket of their own. */
    submit(g, "<message from='calm@example.org/pc' to='lobby@svc' type='groupchat' id='c'/>");
    ck_assert_uint_gt(seen(&passed, "id=\"c\""), 0);
    buf_free(&passed);
    /* The owner lifts the limit: the service's alone again. */
    lobby_rate = 0;
    for (int i = 0; i < 5; i++)
        submit(g, TO("lobby@svc", "z"));
    ck_assert_uint_eq(seen(&passed, "id=\"z\""), 5);
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    gate_free(g);
}
END_TEST

START_TEST(room_limit_never_lifts_the_service_limit)
{
    gate_config c = base_config(); /* the service: a burst of 3 */
    c.violations = 0;
    gate *g = make_rated_gate(&c, room_rate);
    lobby_rate = 6000;
    for (int i = 0; i < 5; i++)
        submit(g, TO("lobby@svc", "s"));
    ck_assert_uint_eq(seen(&passed, "id=\"s\""), 3);
    ck_assert_uint_eq(seen(&output, "too many room_message stanzas from you"), 2);
    gate_free(g);
}
END_TEST

START_TEST(room_limit_refusal)
{
    expect_refusal("<message from='a@b/c' to='lobby@svc' type='groupchat' id='m'><body>hi</body>"
                   "</message>",
                   GATE_C_ROOM_MESSAGE, GATE_RATE_ROOM, "3 messages a minute", 0,
                   "<message id=\"m\" to=\"a@b/c\" from=\"lobby@svc\" type=\"error\"><body>hi"
                   "</body><error type=\"modify\"><policy-violation xmlns=\"" ERRNS "\"/><text "
                   "xmlns=\"" ERRNS "\" xml:lang=\"en\">rate limit: this room&apos;s own limit is "
                   "3 messages a minute per person; slow down</text></error></message>");
}
END_TEST

/* ---- links ---- */

static unsigned detect(const char *xml)
{
    xml_node *st = tu_stanza(xml);
    ck_assert_ptr_nonnull(st);
    unsigned f = linkpol_detect(st);
    xml_free(st);
    return f;
}

START_TEST(link_detector)
{
    ck_assert_uint_eq(detect("<message><body>hello there</body></message>"), 0);
    ck_assert_uint_eq(detect("<message><body>see HTTPS://x.example/a</body></message>"),
                      LINKPOL_LINK);
    ck_assert_uint_eq(detect("<message><body>go to www.example.com</body></message>"),
                      LINKPOL_LINK);
    ck_assert_uint_eq(detect("<message><body>join xmpp:room@conf?join</body></message>"),
                      LINKPOL_LINK);
    /* Split by an entity: still one text. */
    ck_assert_uint_eq(detect("<message><body>http&#x3a;//x.example</body></message>"),
                      LINKPOL_LINK);
    ck_assert_uint_eq(detect("<message><body>pic</body><x xmlns='jabber:x:oob'><url>"
                             "https://up.example/f.png</url></x></message>"),
                      LINKPOL_LINK | LINKPOL_FILE);
    ck_assert_uint_eq(detect("<message><reference xmlns='urn:xmpp:reference:0' type='data'>"
                             "<media-sharing xmlns='urn:xmpp:sims:1'/></reference></message>"),
                      LINKPOL_LINK | LINKPOL_FILE);
    ck_assert_uint_eq(detect("<message><file-sharing xmlns='urn:xmpp:sfs:0'/></message>"),
                      LINKPOL_LINK | LINKPOL_FILE);
    ck_assert_uint_eq(detect("<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body "
                             "xmlns='http://www.w3.org/1999/xhtml'><a href='foo'>click</a>"
                             "</body></html></message>"),
                      LINKPOL_LINK);
    ck_assert_uint_eq(detect("<message><body>aesgcm://up.example/f#k</body></message>"),
                      LINKPOL_LINK | LINKPOL_FILE);
}
END_TEST

/* ---- XEP-0191 ---- */

/* Hands the IQ to u, which must take it; returns what u answered. */
static char *answer(ublock *u, const char *xml)
{
    ck_assert(ublock_handle(u, tu_stanza(xml)));
    return take(&output);
}

/* The same, the answer holding part. */
static void answer_has(ublock *u, const char *xml, const char *part)
{
    char *o = answer(u, xml);
    ck_assert_ptr_nonnull(strstr(o, part));
    free(o);
}

START_TEST(block_iq)
{
    ublock *u = ublock_new(NULL, "t:", "svc.example", &sink);
    ck_assert_ptr_nonnull(u);
    /* Not loaded and no Redis: refused, not pretended. */
    answer_has(u,
               "<iq type='set' id='b1' from='me@example.org/pc' "
               "to='svc.example'><block xmlns='urn:xmpp:blocking'><item "
               "jid='troll@example.org'/></block></iq>",
               "<resource-constraint");
    ublock_list *l = ublock_acquire(u, "me@example.org");
    ck_assert(!ublock_blocks(l, "troll@example.org"));
    char *o = answer(u, "<iq type='set' id='b2' from='me@example.org/pc' to='svc.example'><block "
                        "xmlns='urn:xmpp:blocking'><item jid='TROLL@example.org/res'/><item "
                        "jid='spam.example'/></block></iq>");
    ck_assert_str_eq(o, "<iq id=\"b2\" to=\"me@example.org/pc\" from=\"svc.example\" "
                        "type=\"result\"/>");
    free(o);
    ck_assert(ublock_blocks(l, "troll@example.org"));
    ck_assert(ublock_blocks(l, "anyone@spam.example"));
    ck_assert(!ublock_blocks(l, "friend@example.org"));
    o = answer(u, "<iq type='get' id='g' from='me@example.org/pc' to='svc.example'><blocklist "
                  "xmlns='urn:xmpp:blocking'/></iq>");
    ck_assert_ptr_nonnull(strstr(o, "<item jid=\"troll@example.org\"/>"));
    ck_assert_ptr_nonnull(strstr(o, "<item jid=\"spam.example\"/>"));
    free(o);
    /* Unicode tricks normalize (fullwidth letters) or are refused (a
     * prohibited character). */
    free(answer(u, "<iq type='set' id='u1' from='me@example.org/pc' to='svc.example'><unblock "
                   "xmlns='urn:xmpp:blocking'><item jid='\xef\xbd\x94roll@example.org'/>"
                   "</unblock></iq>"));
    ck_assert(!ublock_blocks(l, "troll@example.org"));
    answer_has(u,
               "<iq type='set' id='u2' from='me@example.org/pc' to='svc.example'><block "
               "xmlns='urn:xmpp:blocking'><item jid='a\xe2\x80\xae"
               "b@example.org'/>"
               "</block></iq>",
               "<jid-malformed");
    answer_has(u,
               "<iq type='set' id='u3' from='me@example.org/pc' to='svc.example'><block "
               "xmlns='urn:xmpp:blocking'/></iq>",
               "<bad-request");
    answer_has(u,
               "<iq type='set' id='u4' from='me@example.org/pc' to='svc.example'><block "
               "xmlns='urn:xmpp:blocking'><item/></block></iq>",
               "<bad-request");
    /* A block with a report is the desk's: observed, not answered. */
    xml_node *st =
        tu_stanza("<iq type='set' id='r1' from='me@example.org/pc' to='svc.example'><block "
                  "xmlns='urn:xmpp:blocking'><item jid='spammer@example.org'><report "
                  "xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/></item>"
                  "</block></iq>");
    ck_assert(!ublock_handle(u, st));
    xml_free(st);
    ck_assert_uint_eq(buf_unread_len(&output), 0);
    ck_assert(ublock_blocks(l, "spammer@example.org"));
    /* Not for us: other payloads and other addresses. */
    st = tu_stanza("<iq type='get' id='p' from='me@example.org/pc' to='svc.example'><ping "
                   "xmlns='urn:xmpp:ping'/></iq>");
    ck_assert(!ublock_handle(u, st));
    xml_free(st);
    ublock_release(u, l);
    ublock_free(u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safety");
    TCase *tc = tcase_create("safety");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, classes);
    tcase_add_test(tc, banned_join_is_403);
    tcase_add_test(tc, rate_message_is_policy_violation);
    tcase_add_test(tc, rate_join_is_resource_constraint);
    tcase_add_test(tc, muted_refuses_messages_not_presence);
    tcase_add_test(tc, errors_are_never_answered);
    tcase_add_test(tc, local_bucket_cuts_off_and_refills);
    tcase_add_test(tc, repeated_violations_mute);
    tcase_add_test(tc, domain_lists);
    tcase_add_test(tc, spam_list_and_allow_list);
    tcase_add_test(tc, disabled_gate_passes_everything);
    tcase_add_test(tc, congested_link_holds_checked_stanzas);
    tcase_add_test(tc, congested_link_holds_unchecked_stanzas);
    tcase_add_test(tc, errors_pass_unchecked);
    tcase_add_test(tc, bounded_buckets);
    tcase_add_test(tc, room_limit_is_stricter_than_the_service);
    tcase_add_test(tc, room_limit_never_lifts_the_service_limit);
    tcase_add_test(tc, room_limit_refusal);
    tcase_add_test(tc, link_detector);
    tcase_add_test(tc, block_iq);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
