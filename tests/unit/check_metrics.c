/* metrics: our own output counted by kind, the Prometheus text, and the
 * endpoint answering real HTTP requests from the loop (mhttp). */
#include "autoconfig.h"

#include "metrics.h"
#include "mhttp.h"

#include <arpa/inet.h>
#include <check.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

static char *render(void)
{
    buf b = BUF_INIT;
    ck_assert_int_eq(metrics_render(&b), 0);
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

START_TEST(output_counted_by_kind)
{
    metrics_reset();
    /* What a fan-out wrote, counted by the first stanza's name: a
     * thousand copies cost one look. */
    static const char fan[] = "<message from='r@s/a' to='u@h/x' type='groupchat'><body/></message>";
    metrics_count_serialized(fan, sizeof fan - 1, 1000);
    static const char pres[] = "<presence/>";
    metrics_count_serialized(pres, sizeof pres - 1, 2);
    metrics_count_serialized("<iq>", 4, 1);
    metrics_count_serialized("<stream:error>", 14, 1);
    metrics_count_serialized("<messages/>", 11, 1);
    metrics_count_serialized("", 0, 5);
    ck_assert_double_eq(metrics_get(METRIC_OUT_MESSAGE), 1000);
    ck_assert_double_eq(metrics_get(METRIC_OUT_PRESENCE), 2);
    ck_assert_double_eq(metrics_get(METRIC_OUT_IQ), 1);
    ck_assert_double_eq(metrics_get(METRIC_OUT_OTHER), 2);
    int daemon, test;
    metrics_meter(&daemon);
    ck_assert(metrics_metered(&daemon));
    ck_assert(!metrics_metered(&test));
    ck_assert(!metrics_metered(NULL));
    metrics_count_in("iq");
    metrics_count_in("stream:error");
    metrics_count_out("presence");
    ck_assert_double_eq(metrics_get(METRIC_IN_IQ), 1);
    ck_assert_double_eq(metrics_get(METRIC_IN_OTHER), 1);
    ck_assert_double_eq(metrics_get(METRIC_OUT_PRESENCE), 3);
}
END_TEST

static void set_rooms(void *ud)
{
    metrics_set(METRIC_G_ROOMS, *(int *)ud);
}

START_TEST(text_format)
{
    metrics_reset();
    int rooms = 7;
    metrics_setup("stoa-test", METRICS_F_ALL & ~METRICS_F_DESK, set_rooms, &rooms);
    metrics_inc(METRIC_REFUSED_RATE_JID);
    metrics_add(METRIC_IN_MESSAGE, 41);
    metrics_inc(METRIC_IN_MESSAGE);
    char *s = render();
    ck_assert_ptr_nonnull(
        strstr(s, "stoa_info{program=\"stoa-test\",version=\"" PACKAGE_VERSION "\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE stoa_stanzas_in_total counter\n"
                                    "stoa_stanzas_in_total{kind=\"message\"} 42\n"));
    ck_assert_ptr_nonnull(strstr(s, "stoa_refusals_total{reason=\"rate_jid\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "# TYPE stoa_rooms gauge\nstoa_rooms 7\n"));
    /* One HELP and TYPE per name; a gauge nobody sets is left out. */
    char *first = strstr(s, "# TYPE stoa_refusals_total");
    ck_assert_ptr_null(strstr(first + 1, "# TYPE stoa_refusals_total"));
    ck_assert_ptr_null(strstr(s, "stoa_occupants"));
    ck_assert_ptr_null(strstr(s, "stoa_peers"));
    ck_assert_ptr_null(strstr(s, "stoa_reports_total")); /* a family it does not keep */
    free(s);
    rooms = 8;
    s = render();
    ck_assert_ptr_nonnull(strstr(s, "\nstoa_rooms 8\n"));
    free(s);
    metrics_setup(NULL, 0, NULL, NULL);
}
END_TEST

/* ---- the endpoint: a client thread asks while the loop serves ---- */

typedef struct client {
    unsigned port;
    const char *request;
    char reply[65536];
    ev_async done;
    struct ev_loop *loop;
} client;

static void *ask(void *arg)
{
    client *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t got = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, c->request, strlen(c->request)) == (ssize_t)strlen(c->request)) {
        ssize_t n;
        while (got < sizeof c->reply - 1 &&
               (n = read(fd, c->reply + got, sizeof c->reply - 1 - got)) > 0)
            got += (size_t)n;
    }
    c->reply[got] = '\0';
    if (fd >= 0)
        close(fd);
    ev_async_send(c->loop, &c->done);
    return NULL;
}

static void on_done(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static bool healthy;

static bool health(void *ud, buf *why)
{
    (void)ud;
    if (!healthy)
        buf_puts(why, "component link waiting");
    return healthy;
}

static void get(mhttp *h, struct ev_loop *loop, const char *request, client *c)
{
    c->port = mhttp_port(h);
    c->request = request;
    c->loop = loop;
    ev_async_init(&c->done, on_done);
    ev_async_start(loop, &c->done);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, ask, c), 0);
    ev_run(loop, 0);
    pthread_join(t, NULL);
    ev_async_stop(loop, &c->done);
}

START_TEST(endpoint_answers_from_the_loop)
{
    metrics_reset();
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[200];
    ck_assert_ptr_null(mhttp_new(loop, "localhost", 0, health, NULL, err, sizeof err));
    ck_assert_str_eq(err, "metrics: address localhost is not a numeric IPv4 or IPv6 address");
    mhttp *h = mhttp_new(loop, "127.0.0.1", 0, health, NULL, err, sizeof err);
    ck_assert_msg(h != NULL, "%s", err);
    ck_assert_uint_gt(mhttp_port(h), 0);
    client *c = calloc(1, sizeof *c);
    metrics_setup("stoa-test", METRICS_F_ALL, NULL, NULL);
    metrics_add(METRIC_IN_PRESENCE, 3);
    get(h, loop, "GET /metrics HTTP/1.0\r\n\r\n", c);
    ck_assert_msg(strncmp(c->reply, "HTTP/1.0 200", 12) == 0 ||
                      strncmp(c->reply, "HTTP/1.1 200", 12) == 0,
                  "%s", c->reply);
    ck_assert_ptr_nonnull(strstr(c->reply, "text/plain; version=0.0.4"));
    ck_assert_ptr_nonnull(strstr(c->reply, "\nstoa_stanzas_in_total{kind=\"presence\"} 3\n"));
    healthy = false;
    get(h, loop, "GET /health HTTP/1.0\r\n\r\n", c);
    ck_assert_ptr_nonnull(strstr(c->reply, " 503 "));
    ck_assert_ptr_nonnull(strstr(c->reply, "\r\n\r\ncomponent link waiting\n"));
    healthy = true;
    get(h, loop, "GET /health HTTP/1.0\r\n\r\n", c);
    ck_assert_ptr_nonnull(strstr(c->reply, " 200 "));
    ck_assert_ptr_nonnull(strstr(c->reply, "\r\n\r\nok\n"));
    get(h, loop, "GET /nothing HTTP/1.0\r\n\r\n", c);
    ck_assert_ptr_nonnull(strstr(c->reply, " 404 "));
    get(h, loop, "DELETE /metrics HTTP/1.0\r\n\r\n", c);
    ck_assert_ptr_nonnull(strstr(c->reply, " 405 "));
    /* A second listener on the same port is refused with the reason. */
    char port[8];
    snprintf(port, sizeof port, "%u", mhttp_port(h));
    mhttp *again = mhttp_new(loop, "127.0.0.1", mhttp_port(h), NULL, NULL, err, sizeof err);
    ck_assert_ptr_null(again);
    ck_assert_ptr_nonnull(strstr(err, port));
    free(c);
    mhttp_free(h);
    ev_loop_destroy(loop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, output_counted_by_kind);
    tcase_add_test(tc, text_format);
    tcase_add_test(tc, endpoint_answers_from_the_loop);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
