/* hmap: a string-keyed hash map (open addressing, linear probing).
 *
 * Keys are hashed with SipHash-1-3 under a per-process random key, because
 * room names, nicknames and JIDs come from strangers: a predictable hash
 * would let one of them make every lookup walk the whole table.
 *
 * Ownership: the map stores the key pointer and the value pointer as given
 * and owns neither. A key must stay valid and unchanged while its entry is
 * in the map (keys usually point into the value, e.g. room->name). */
#ifndef STOA_HMAP_H
#define STOA_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hmap_slot {
    const char *key; /* NULL: empty */
    void *value;
    uint64_t hash;
} hmap_slot;

typedef struct hmap {
    hmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
} hmap;

#define HMAP_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void *hmap_get(const hmap *m, const char *key);
/* Inserts or replaces. Returns 0, or -1 on OOM (map unchanged). */
int hmap_put(hmap *m, const char *key, void *value);
/* Removes and returns the value, or NULL when absent. */
void *hmap_del(hmap *m, const char *key);
/* Iteration: for (size_t i = 0; hmap_next(m, &i, &k, &v);) — do not insert
 * or delete while iterating. */
bool hmap_next(const hmap *m, size_t *iter, const char **key, void **value);
void hmap_free(hmap *m);
uint64_t hmap_hash(const char *s, size_t len);
/* The same function (SipHash-1-3) under a caller's key. A hash for tables,
 * not a MAC: identifiers derived from a secret use HMAC (muc_mac). */
uint64_t hmap_hash_keyed(const uint64_t key[2], const char *s, size_t len);
/* SipHash-c-d under key (k0, k1: the key's bytes 0-7 and 8-15 read as
 * little-endian words), exposed so the tests can check the round function
 * against the reference vectors, which are for SipHash-2-4. */
uint64_t hmap_siphash(const uint64_t key[2], unsigned crounds, unsigned drounds, const void *in,
                      size_t len);

#endif
