/* The stream parser (lib/xmlparse.c and lib/xmlframe.c) on any bytes.
 *
 * Input: one byte of flags (bit 0: the input brings its own stream header;
 * bits 1-7 choose small limits, so that skipping is exercised), one byte
 * saying how many cuts, then the stream. The bytes are fed once whole and
 * once cut at points drawn from the input, and:
 * - both feeds must give the same events (the framer and expat must agree
 *   on every boundary wherever a read ends);
 * - every stanza and every shell must serialize to XML that parses back to
 *   the same serialization: what the component forwards must never be
 *   refused by the server. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzzutil.h"
#include "ns.h"
#include "xmlparse.h"

static const char header[] = "<?xml version='1.0'?><stream:stream xmlns='" NS_COMPONENT
                             "' xmlns:stream='" NS_STREAMS "' id='fz' from='example.org'>";

/* Serializes n and checks that it reads back the same. */
static void log_tree(buf *log, const char *kind, const xml_node *n)
{
    char *s = xml_to_string(n, NS_COMPONENT);
    if (!s)
        abort();
    xml_node *again = fz_stanza(s, strlen(s));
    if (!again) {
        fprintf(stderr, "a parsed stanza serializes to XML that does not parse:\n%s\n", s);
        abort();
    }
    char *s2 = xml_to_string(again, NS_COMPONENT);
    if (!s2 || strcmp(s, s2) != 0) {
        fprintf(stderr, "serialization is not stable:\n%s\n%s\n", s, s2 ? s2 : "(null)");
        abort();
    }
    buf_printf(log, "%s%s;", kind, s);
    free(s);
    free(s2);
    xml_free(again);
}

static void on_open(void *ud, xml_node *h)
{
    buf_puts(ud, "O;");
    xml_free(h);
}

static void on_stanza(void *ud, xml_node *st)
{
    log_tree(ud, "S", st);
    xml_free(st);
}

static void on_close(void *ud)
{
    buf_puts(ud, "C;");
}

static void on_dropped(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    buf_printf(ud, "D%d %s ", (int)why, text);
    log_tree(ud, "", shell);
    xml_free(shell);
}

static const xmlparse_callbacks cbs = {on_open, on_stanza, on_close, on_dropped};

/* Feeds data in pieces ending at cuts[] (ascending); logs the result. */
static void run(const xmlparse_limits *lim, bool own_header, const uint8_t *data, size_t n,
                const size_t *cuts, size_t ncuts, buf *log)
{
    xmlparse *p = xmlparse_new(lim, &cbs, log);
    if (!p)
        abort();
    xmlparse_err e = XMLPARSE_OK;
    if (!own_header)
        e = xmlparse_feed(p, header, sizeof header - 1);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts && e == XMLPARSE_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        e = xmlparse_feed(p, (const char *)data + at, end - at);
        at = end;
    }
    buf_printf(log, "E%d", (int)e);
    xmlparse_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data[0];
    size_t ncuts = data[1] % 16;
    data += 2;
    size -= 2;
    xmlparse_limits lim = {64u << (flags >> 1 & 7), 1 + (flags >> 4 & 7), 2 + (flags >> 5 & 3),
                           4 + (flags >> 3 & 15)};
    size_t cuts[16];
    uint64_t x = 0x9E3779B97F4A7C15ULL ^ size;
    for (size_t i = 0; i < size; i++)
        x = (x ^ data[i]) * 0x100000001B3ULL;
    for (size_t i = 0; i < ncuts; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cuts[i] = size ? (size_t)(x % (size + 1)) : 0;
    }
    for (size_t i = 1; i < ncuts; i++) /* insertion sort: ascending cuts */
        for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    buf whole = BUF_INIT, cut = BUF_INIT;
    run(&lim, flags & 1, data, size, NULL, 0, &whole);
    run(&lim, flags & 1, data, size, cuts, ncuts, &cut);
    if (buf_unread_len(&whole) != buf_unread_len(&cut) ||
        memcmp(buf_unread(&whole), buf_unread(&cut), buf_unread_len(&whole)) != 0) {
        fprintf(stderr, "events differ with the input cut:\nwhole: %.*s\ncut:   %.*s\n",
                (int)buf_unread_len(&whole), buf_unread(&whole), (int)buf_unread_len(&cut),
                buf_unread(&cut));
        abort();
    }
    buf_free(&whole);
    buf_free(&cut);
    return 0;
}
