/* The stream parser tests' fixture (xpfix.h). */
#include "xpfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void note(rec *r, const char *kind, const char *what)
{
    size_t len = strlen(r->log);
    snprintf(r->log + len, sizeof r->log - len, "%s%s;", kind, what);
}

static void r_open(void *ud, xml_node *h)
{
    rec *r = ud;
    r->opens++;
    const char *id = xml_attr(h, "id");
    strncpy(r->header_id, id ? id : "", sizeof r->header_id - 1);
    xml_free(h);
}

static void r_stanza(void *ud, xml_node *s)
{
    rec *r = ud;
    r->stanzas++;
    char *str = tu_str(s);
    strncpy(r->last, str, sizeof r->last - 1);
    note(r, "S", strlen(str) < 200 ? str : "(long)");
    free(str);
    xml_free(s);
}

static void r_close(void *ud)
{
    ((rec *)ud)->closes++;
    note(ud, "C", "");
}

static void r_dropped(void *ud, xml_node *shell, xmlparse_err why, const char *text)
{
    rec *r = ud;
    r->drops++;
    r->drop_why = why;
    snprintf(r->drop_text, sizeof r->drop_text, "%s", text);
    ck_assert_ptr_nonnull(shell);
    r->drop_has_ns = xml_ns(shell) != NULL;
    char *str = tu_str(shell);
    snprintf(r->dropped, sizeof r->dropped, "%s", str);
    note(r, "D", str);
    free(str);
    xml_free(shell);
}

const xmlparse_callbacks cbs = {r_open, r_stanza, r_close, r_dropped};
const xmlparse_limits lim = {4096, 8, 10, 50};

xmlparse_err feed(xmlparse *p, const char *s)
{
    return xmlparse_feed(p, s, strlen(s));
}

xmlparse *open_stream(rec *r, const xmlparse_limits *l)
{
    memset(r, 0, sizeof *r);
    xmlparse *p = xmlparse_new(l, &cbs, r);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(feed(p, HDR), XMLPARSE_OK);
    return p;
}

char *build(const char *head, const char *unit, size_t times, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * times + tl + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < times; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * times, tail, tl + 1);
    return s;
}

xmlparse_err feed_free(xmlparse *p, char *s)
{
    xmlparse_err e = feed(p, s);
    free(s);
    return e;
}

char *stanza_of(size_t size)
{
    const char *head = "<message id='n'><body>", *tail = "</body></message>";
    size_t fixed = strlen(head) + strlen(tail);
    ck_assert_uint_ge(size, fixed);
    return build(head, "c", size - fixed, tail);
}
