/* The chat-room tests' fixture (mucfix.h). */
#include "mucfix.h"

buf output = BUF_INIT;
service *svc;
double clock_now = NOW;
char *last;
char oids[8][33];
int noids;
static const char *const topics[] = {"sports", "movies", NULL};

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

out mucfix_out(void)
{
    return (out){sink_begin, sink_commit, NULL, "jabber:component:accept"};
}

static double fixed_clock(void)
{
    return clock_now;
}

/* The service every test runs against; policy and stranger_seconds are
 * the [links] settings (LINKPOL_DELIVER, 0: none). */
service *new_service(linkpol_action policy, double stranger_seconds)
{
    service_config c = {.domain = SVC,
                        .name = "Rooms",
                        .version = "1.0",
                        .muc = {.topics = topics,
                                .history_default = 20,
                                .history_max = 50,
                                .seed = 42,
                                .now = fixed_clock,
                                .links_policy = policy,
                                .stranger_seconds = stranger_seconds}};
    out sink = mucfix_out();
    return service_new(&c, &sink);
}

void mucfix_setup(void)
{
    clock_now = NOW;
    noids = 0;
    svc = new_service(LINKPOL_DELIVER, 0);
}

void mucfix_teardown(void)
{
    service_free(svc);
    buf_free(&output);
}

/* Replaces each 32-hex occupant id with OID-N, numbering ids in order of
 * first appearance, so expected output reads OID-1 (first person seen). */
static char *normalize(const char *s)
{
    buf b = BUF_INIT;
    const char *marker = "occupant-id xmlns=\"urn:xmpp:occupant-id:0\" id=\"";
    const char *p = s;
    for (;;) {
        const char *q = strstr(p, marker);
        if (!q) {
            buf_puts(&b, p);
            break;
        }
        q += strlen(marker);
        buf_append(&b, p, (size_t)(q - p));
        int k;
        for (k = 0; k < noids; k++) {
            if (strncmp(oids[k], q, 32) == 0)
                break;
        }
        if (k == noids && noids < 8)
            memcpy(oids[noids++], q, 32);
        buf_printf(&b, "OID-%d", k + 1);
        p = q + 32;
    }
    char *r = buf_strdup(&b);
    buf_free(&b);
    return r;
}

const char *mucfix_take(void)
{
    char *raw = buf_strdup(&output);
    free(last);
    last = normalize(raw);
    free(raw);
    return last;
}

const char *feed(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    buf_reset(&output);
    service_handle(svc, st);
    return mucfix_take();
}

void make_room(const char *room)
{
    char in[512];
    snprintf(in, sizeof in,
             "<presence from='" ALICE "' to='%s@" SVC "/Alice'>"
             "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
             room);
    feed(in);
    snprintf(in, sizeof in,
             "<iq type='set' id='cfg' from='" ALICE "' to='%s@" SVC "'>"
             "<query xmlns='http://jabber.org/protocol/muc#owner'>"
             "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
             room);
    feed(in);
    ck_assert_msg(strstr(last, "type=\"result\"") != NULL, "instant room refused: %s", last);
}

void join(const char *full, const char *room, const char *nick)
{
    char in[512];
    snprintf(in, sizeof in, "<presence from='%s' to='%s@" SVC "/%s'/>", full, room, nick);
    feed(in);
}

int mucfix_run(Suite *s)
{
    int rc = tu_run(s);
    free(last);
    last = NULL;
    return rc;
}
