/* scan: see scan.h. */
/* memmem() is a GNU extension. */
#define _GNU_SOURCE
#include "scan.h"

#include <string.h>

enum { S_TEXT, S_LT, S_TAG, S_QUOTE, S_DECL };

void scan_init(scan *s)
{
    memset(s, 0, sizeof *s);
}

void scan_free(scan *s)
{
    buf_free(&s->in);
    scan_init(s);
}

long scan_feed(scan *s, const char *data, size_t n, scan_stanza_fn fn, void *ud)
{
    if (buf_append(&s->in, data, n) < 0)
        return -1;
    const char *p = buf_unread(&s->in);
    size_t len = buf_unread_len(&s->in), done = 0;
    long count = 0;
    for (size_t i = s->pos; i < len; i++) {
        char c = p[i];
        switch (s->state) {
        case S_TEXT:
            if (c == '<')
                s->state = S_LT;
            break;
        case S_LT:
            s->slash = false;
            if (c == '?' || c == '!') {
                s->state = S_DECL;
            } else {
                s->closing = c == '/';
                if (!s->closing && s->depth <= 1)
                    s->start = i - 1;
                s->state = S_TAG;
            }
            break;
        case S_DECL:
            if (c == '>')
                s->state = S_TEXT;
            break;
        case S_QUOTE:
            if (c == s->quote)
                s->state = S_TAG;
            break;
        case S_TAG:
            if (c == '"' || c == '\'') {
                s->quote = c;
                s->state = S_QUOTE;
            } else if (c == '>') {
                s->state = S_TEXT;
                bool complete = false;
                if (s->closing) {
                    s->depth--;
                    complete = s->depth == 1;
                    if (s->depth == 0)
                        s->ended = true;
                } else if (s->slash) {
                    complete = s->depth == 1;
                } else {
                    s->depth++;
                    if (s->depth == 1) {
                        s->opened = true;
                        size_t il;
                        const char *id = scan_attr(p + s->start, i + 1 - s->start, "id", &il);
                        if (id && il < sizeof s->stream_id) {
                            memcpy(s->stream_id, id, il);
                            s->stream_id[il] = '\0';
                        }
                    }
                }
                if (complete) {
                    fn(ud, p + s->start, i + 1 - s->start);
                    count++;
                    done = i + 1;
                } else if (s->depth <= 1) {
                    done = i + 1; /* the header, or whitespace: nothing to keep */
                }
            } else {
                s->slash = c == '/';
            }
            break;
        }
    }
    /* Keep only the unfinished stanza (if any). */
    if (s->depth <= 1 && s->state == S_TEXT)
        done = len;
    buf_consume(&s->in, done);
    s->pos = len - done;
    if (s->start >= done)
        s->start -= done;
    return count;
}

const char *scan_attr(const char *s, size_t n, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *end = memchr(s, '>', n);
    if (!end)
        return NULL;
    char q = 0;
    for (const char *p = s + 1; p + nl + 2 < end; p++) {
        if (q) {
            if (*p == q)
                q = 0;
            continue;
        }
        if (*p == '"' || *p == '\'') {
            q = *p;
            continue;
        }
        if ((p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n') && memcmp(p, name, nl) == 0 &&
            p[nl] == '=' && (p[nl + 1] == '"' || p[nl + 1] == '\'')) {
            const char *v = p + nl + 2;
            const char *ve = memchr(v, p[nl + 1], (size_t)(end - v));
            if (!ve)
                return NULL;
            *len = (size_t)(ve - v);
            return v;
        }
    }
    return NULL;
}

bool scan_is(const char *s, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n < nl + 2 || s[0] != '<' || memcmp(s + 1, name, nl) != 0)
        return false;
    char c = s[nl + 1];
    return c == ' ' || c == '/' || c == '>' || c == '\t' || c == '\n';
}

const char *scan_find(const char *s, size_t n, const char *needle)
{
    return memmem(s, n, needle, strlen(needle));
}
