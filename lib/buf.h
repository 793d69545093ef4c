/* buf: a growable byte buffer.
 *
 * Used for serialized XML and for socket output queues. A buf owns its
 * storage; buf_free() releases it. Data is kept contiguous so it can be
 * handed to write()/gnutls_record_send() directly, and consumed from the
 * front (buf_consume) without moving bytes until compaction pays off. */
#ifndef STOA_BUF_H
#define STOA_BUF_H

#include <stddef.h>

typedef struct buf {
    char *data; /* start of storage (owned) */
    size_t off; /* bytes already consumed from the front */
    size_t len; /* bytes in use, counted from data (so unread = len - off) */
    size_t cap; /* allocated size */
} buf;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* All appenders return 0, or -1 when memory is exhausted (buf unchanged). */
int buf_append(buf *b, const void *p, size_t n);
int buf_puts(buf *b, const char *s);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with XML escaping of & < > " ' (for text and attribute values). */
int buf_append_xml_escaped(buf *b, const char *s, size_t n);

static inline const char *buf_unread(const buf *b)
{
    return b->data + b->off;
}
static inline size_t buf_unread_len(const buf *b)
{
    return b->len - b->off;
}
/* Marks n unread bytes as consumed. */
void buf_consume(buf *b, size_t n);
/* Forgets the contents but keeps the storage for reuse. */
void buf_reset(buf *b);
/* Returns a NUL-terminated copy of the unread bytes, or NULL on OOM. Caller frees. */
char *buf_strdup(const buf *b);
/* A NUL-terminated copy of s escaped for XML text or attributes, or NULL on
 * OOM. Caller frees. */
char *buf_xml_escaped_dup(const char *s);
/* Gives storage back when a burst left a large, mostly empty buffer. */
void buf_shrink(buf *b, size_t keep);
void buf_free(buf *b);

#endif
