#include "hmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_seed(void)
{
    uint64_t k[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    /* Without entropy the map still works, only predictably. */
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        k[0] ^= (uint64_t)(uintptr_t)&k;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

uint64_t hmap_hash(const char *s, size_t len)
{
    pthread_once(&sip_once, sip_seed);
    const uint64_t key[2] = {sip_k0, sip_k1};
    return hmap_hash_keyed(key, s, len);
}

/* SipHash reads its input as little-endian words, whatever the host. */
static uint64_t le64(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

uint64_t hmap_siphash(const uint64_t key[2], unsigned crounds, unsigned drounds, const void *in,
                      size_t len)
{
    const unsigned char *p = in;
    uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL, v1 = key[1] ^ 0x646f72616e646f6dULL;
    uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL, v3 = key[1] ^ 0x7465646279746573ULL;
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = le64(p + i, 8);
        v3 ^= m;
        for (unsigned r = 0; r < crounds; r++)
            SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56 | le64(p + full, len & 7);
    v3 ^= b;
    for (unsigned r = 0; r < crounds; r++)
        SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (unsigned r = 0; r < drounds; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* SipHash-1-3: the variant Rust and Python use for their hash tables. */
uint64_t hmap_hash_keyed(const uint64_t key[2], const char *s, size_t len)
{
    return hmap_siphash(key, 1, 3, s, len);
}

static size_t find(const hmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const hmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
            return i;
    }
}

void *hmap_get(const hmap *m, const char *key)
{
    if (m->count == 0)
        return NULL;
    size_t i = find(m, key, hmap_hash(key, strlen(key)));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow(hmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 8;
    hmap_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    hmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key)
            m->slots[find(m, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
    }
    free(old.slots);
    return 0;
}

int hmap_put(hmap *m, const char *key, void *value)
{
    /* Load factor at most 3/4 keeps probe sequences short. */
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    uint64_t h = hmap_hash(key, strlen(key));
    size_t i = find(m, key, h);
    if (!m->slots[i].key)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->slots[i].hash = h;
    return 0;
}

void *hmap_del(hmap *m, const char *key)
{
    if (m->count == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = find(m, key, hmap_hash(key, strlen(key)));
    if (!m->slots[i].key)
        return NULL;
    void *v = m->slots[i].value;
    m->slots[i].key = NULL;
    m->count--;
    /* Backward-shift deletion: move later members of the probe run into
     * the hole so lookups never need tombstones. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return v;
}

bool hmap_next(const hmap *m, size_t *iter, const char **key, void **value)
{
    for (size_t i = *iter; i < m->cap; i++) {
        if (m->slots[i].key) {
            if (key)
                *key = m->slots[i].key;
            if (value)
                *value = m->slots[i].value;
            *iter = i + 1;
            return true;
        }
    }
    *iter = m->cap;
    return false;
}

void hmap_free(hmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}
