#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes. Compacts first when the consumed prefix is
 * large, so an output queue that is written as fast as it fills never grows. */
static int buf_reserve(buf *b, size_t n)
{
    if (b->off > 0 && (b->off == b->len || b->off >= b->cap / 2)) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len >= n)
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return -1;
    size_t want = b->len + n;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_puts(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_append_xml_escaped(buf *b, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            continue;
        }
        if (buf_append(b, s + start, i - start) < 0 || buf_puts(b, rep) < 0)
            return -1;
        start = i + 1;
    }
    return buf_append(b, s + start, n - start);
}

void buf_consume(buf *b, size_t n)
{
    size_t unread = b->len - b->off;
    if (n >= unread) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
}

void buf_reset(buf *b)
{
    b->off = b->len = 0;
}

char *buf_strdup(const buf *b)
{
    size_t n = b->len - b->off;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, b->data + b->off, n);
    s[n] = '\0';
    return s;
}

char *buf_xml_escaped_dup(const char *s)
{
    buf b = BUF_INIT;
    char *r = buf_append_xml_escaped(&b, s, strlen(s)) < 0 ? NULL : buf_strdup(&b);
    buf_free(&b);
    return r;
}

void buf_shrink(buf *b, size_t keep)
{
    size_t unread = b->len - b->off;
    if (b->cap <= keep || unread > keep)
        return;
    if (b->off) {
        memmove(b->data, b->data + b->off, unread);
        b->off = 0;
        b->len = unread;
    }
    if (keep == 0 && unread == 0) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
        return;
    }
    char *p = realloc(b->data, keep ? keep : 1);
    if (p) {
        b->data = p;
        b->cap = keep ? keep : 1;
    }
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
