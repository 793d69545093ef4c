/* The whole component as the link feeds it: the input is what the server
 * sends after the stream header. Each stanza goes through the policy gate
 * (lib/safety/gate.c, on its local limits: Redis is away), which hands what
 * passes to the service's router (component/service.c, lib/router.c) with
 * per-user blocking on, as main.c wires them; each skipped one is answered
 * as the daemon answers it. Whatever comes in,
 * what goes out must be stanzas a server accepts: bytes it rejects would
 * cost the link and every room with it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzzutil.h"
#include "ns.h"
#include "safety/gate.h"
#include "xmlparse.h"

typedef struct component {
    service *svc;
    gate *g;
} component;

static void on_open(void *ud, xml_node *h)
{
    (void)ud;
    xml_free(h);
}

static void on_stanza(void *ud, xml_node *st)
{
    gate_submit(((component *)ud)->g, st);
}

static void on_dropped(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    (void)why;
    service_reject(((component *)ud)->svc, shell, text);
}

static gate_config gate_settings(void)
{
    gate_config c = {0};
    c.enabled = true;
    c.domains_enabled = true;
    c.prefix = "fz:";
    for (int i = 0; i < GATE_C__COUNT; i++) {
        c.jid[i] = (gate_limit){1.0, 5};
        c.dom[i] = (gate_limit){0.01, 1000};
    }
    c.violations = 3;
    c.violation_window = 60;
    c.mute_seconds = 300;
    c.queue_max = 64;
    c.local_max = 1000;
    c.block_domains = "spam.example";
    c.now = fz_clock;
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The daemon's [limits], smaller, so that skipping happens too. */
    static const xmlparse_limits lim = {16384, 16, 32, 256};
    static const xmlparse_callbacks cb = {on_open, on_stanza, NULL, on_dropped};
    static const char header[] = "<stream:stream xmlns='" NS_COMPONENT "' xmlns:stream='" NS_STREAMS
                                 "' id='fz' from='example.org'>";
    component c;
    c.svc = fz_service_make(true);
    gate_config gc = gate_settings();
    gate_hooks gh = service_gate_hooks(c.svc);
    char err[200];
    c.g = gate_new(&gc, NULL, &fz_sink, &gh, err, sizeof err);
    if (!c.g) {
        fprintf(stderr, "setting up: %s\n", err);
        abort();
    }
    xmlparse *p = xmlparse_new(&lim, &cb, &c);
    if (!p)
        abort();
    if (xmlparse_feed(p, header, sizeof header - 1) == XMLPARSE_OK)
        xmlparse_feed(p, (const char *)data, size);
    xmlparse_free(p);
    fz_check_output();
    gate_close(c.g);
    service_close(c.svc);
    service_free(c.svc);
    gate_free(c.g);
    fz_check_output();
    return 0;
}
