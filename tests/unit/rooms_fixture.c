/* The room service of the check_muc_* tests (rooms_fixture.h). */
#include "rooms_fixture.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "testutil.h"

service *rf_svc;
static buf output = BUF_INIT;
static char *last;
static const char *const topics[] = {"sports", NULL};

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

static double fixed_clock(void)
{
    return 1000000.0;
}

void rf_setup(void)
{
    service_config c = {.domain = RF_SVC,
                        .name = "Rooms",
                        .version = "1.0",
                        .muc = {.topics = topics,
                                .history_default = 20,
                                .history_max = 50,
                                .seed = 42,
                                .now = fixed_clock}};
    out sink = {sink_begin, sink_commit, NULL, "jabber:component:accept"};
    rf_svc = service_new(&c, &sink);
    ck_assert_ptr_nonnull(rf_svc);
}

void rf_teardown(void)
{
    service_free(rf_svc);
    rf_svc = NULL;
    buf_free(&output);
    free(last);
    last = NULL;
}

const char *rf_feed(const char *in)
{
    xml_node *st = tu_stanza(in);
    ck_assert_msg(st != NULL, "test input does not parse: %s", in);
    buf_reset(&output);
    service_handle(rf_svc, st);
    free(last);
    last = buf_strdup(&output);
    ck_assert_ptr_nonnull(last);
    return last;
}

const char *rf_feedf(const char *fmt, ...)
{
    char in[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(in, sizeof in, fmt, ap);
    va_end(ap);
    ck_assert_msg(n > 0 && (size_t)n < sizeof in, "test input too long");
    return rf_feed(in);
}

void rf_make_room(const char *room, const char *fields)
{
    rf_feedf("<presence from='" RF_ALICE "' to='%s@" RF_SVC "/Alice'>"
             "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
             room);
    const char *got = rf_feedf(
        "<iq type='set' id='cfg' from='" RF_ALICE "' to='%s@" RF_SVC "'>"
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
        "type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
        "</value></field>%s</x></query></iq>",
        room, fields ? fields : "");
    ck_assert_msg(strstr(got, "type=\"result\"") != NULL, "room not configured: %s", got);
}

const char *rf_join(const char *full, const char *room, const char *nick)
{
    return rf_feedf("<presence from='%s' to='%s@" RF_SVC "/%s'>"
                    "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
                    full, room, nick);
}

unsigned rf_count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}
