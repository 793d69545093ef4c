#include "fuzzutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "xmlparse.h"

buf fz_output = BUF_INIT;

static buf *sink_begin(void *ud)
{
    (void)ud;
    return &fz_output;
}

static void sink_commit(void *ud)
{
    (void)ud;
}

const out fz_sink = {sink_begin, sink_commit, NULL, NS_COMPONENT};

static const char header[] =
    "<stream:stream xmlns='" NS_COMPONENT "' xmlns:stream='" NS_STREAMS "'>";

static void drop_header(void *ud, xml_node *h)
{
    (void)ud;
    xml_free(h);
}

static void keep_first(void *ud, xml_node *st)
{
    xml_node **out = ud;
    if (*out)
        xml_free(st);
    else
        *out = st;
}

xml_node *fz_stanza(const char *xml, size_t n)
{
    static const xmlparse_limits lim = {1 << 20, 64, 64, 10000};
    static const xmlparse_callbacks cb = {drop_header, keep_first, NULL, NULL};
    xml_node *st = NULL;
    xmlparse *p = xmlparse_new(&lim, &cb, &st);
    if (!p)
        abort();
    if (xmlparse_feed(p, header, sizeof header - 1) != XMLPARSE_OK ||
        xmlparse_feed(p, xml, n) != XMLPARSE_OK) {
        xml_free(st);
        st = NULL;
    }
    xmlparse_free(p);
    return st;
}

static void count_stanza(void *ud, xml_node *st)
{
    (*(size_t *)ud)++;
    xml_free(st);
}

static void no_drop(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    (void)ud;
    (void)why;
    fprintf(stderr, "the component sent a stanza over the parse limits: %s\n", text);
    xml_free(shell);
    abort();
}

void fz_check_output(void)
{
    /* Generous limits: this is about well-formedness, not size. */
    static const xmlparse_limits lim = {1u << 30, 100000, 100000, 1u << 30};
    static const xmlparse_callbacks cb = {drop_header, count_stanza, NULL, no_drop};
    size_t n = 0;
    xmlparse *p = xmlparse_new(&lim, &cb, &n);
    if (!p)
        abort();
    xmlparse_err e = xmlparse_feed(p, header, sizeof header - 1);
    /* buf_unread of a buffer never written is NULL + 0. */
    if (e == XMLPARSE_OK && buf_unread_len(&fz_output) > 0)
        e = xmlparse_feed(p, buf_unread(&fz_output), buf_unread_len(&fz_output));
    if (e != XMLPARSE_OK) {
        fprintf(stderr, "the component sent bytes a server would refuse (%s: %s):\n%.*s\n",
                xmlparse_err_condition(e), xmlparse_error_text(p),
                (int)(buf_unread_len(&fz_output) > 4000 ? 4000 : buf_unread_len(&fz_output)),
                buf_unread(&fz_output));
        abort();
    }
    xmlparse_free(p);
    buf_reset(&fz_output);
}

double fz_clock(void)
{
    static double now = 1700000000;
    now += 0.25;
    return now;
}

service *fz_service_make(bool blocking)
{
    static const char *const topics[] = {"general", "music", NULL};
    service_config c = {.domain = FZ_DOMAIN,
                        .name = "Rooms",
                        .version = "1.0",
                        .muc = {.topics = topics,
                                .history_default = 20,
                                .history_max = 50,
                                .seed = 42,
                                .now = fz_clock},
                        .desk = {.moderators = FZ_MODERATOR,
                                 .report_servers = "example.org",
                                 .report_retention = 86400,
                                 .escalate_window = 3600,
                                 .escalate_reporters = 3,
                                 .reports_per_minute = 5,
                                 .audit_max = 100},
                        .prefix = "fz:",
                        .blocking = blocking};
    service *svc = service_new(&c, &fz_sink);
    if (!svc)
        abort();
    return svc;
}

/* fz_feed's parser lives across calls (a new one per stanza was much of a
 * target's time). Each call feeds one stanza and then <fz-sync/>: unless
 * exactly those two come out, the parser starts over, so nothing a broken
 * input left open carries into the next call. */
static xmlparse *feeder;
static service *feeding;
static int fed;
static bool synced;

static void feed_stanza(void *ud, xml_node *st)
{
    (void)ud;
    fed++;
    if (fed == 2 && strcmp(xml_name(st), "fz-sync") == 0)
        synced = true;
    if (fed == 1)
        service_handle(feeding, st);
    else
        xml_free(st);
}

void fz_feed(service *svc, const char *xml)
{
    static const xmlparse_limits lim = {1 << 20, 64, 64, 10000};
    static const xmlparse_callbacks cb = {drop_header, feed_stanza, NULL, NULL};
    if (!feeder) {
        feeder = xmlparse_new(&lim, &cb, NULL);
        if (!feeder || xmlparse_feed(feeder, header, sizeof header - 1) != XMLPARSE_OK)
            abort();
    }
    static const char sync[] = "<fz-sync/>";
    feeding = svc;
    fed = 0;
    synced = false;
    if (xmlparse_feed(feeder, xml, strlen(xml)) != XMLPARSE_OK ||
        xmlparse_feed(feeder, sync, sizeof sync - 1) != XMLPARSE_OK || fed != 2 || !synced) {
        if (xmlparse_reset(feeder) < 0 ||
            xmlparse_feed(feeder, header, sizeof header - 1) != XMLPARSE_OK)
            abort();
    }
}

service *fz_service_new(void)
{
    return fz_service_make(false);
}

service *fz_service_with_room(const char *room_jid, bool configure)
{
    service *svc = fz_service_new();
    buf b = BUF_INIT;
    buf_printf(&b,
               "<presence from='" FZ_OWNER "' to='%s/Owner'>"
               "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
               room_jid);
    fz_feed(svc, buf_unread(&b));
    if (configure) {
        buf_reset(&b);
        buf_printf(&b,
                   "<iq type='set' id='cfg' from='" FZ_OWNER "' to='%s'>"
                   "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                   "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
                   room_jid);
        fz_feed(svc, buf_unread(&b));
    }
    buf_free(&b);
    fz_check_output();
    return svc;
}
