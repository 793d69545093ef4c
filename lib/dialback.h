/* dialback: XEP-0220 keys, generated as XEP-0185 recommends.
 *
 *   key = HEX( HMAC-SHA256( HEX(SHA256(secret)), receiving ' ' originating ' ' id ) )
 *
 * so the authoritative side verifies a key without remembering it, and a
 * key is good for one stream id and one pair of domains only.
 *
 * Ownership: nothing is kept; out is the caller's. */
#ifndef STOA_DIALBACK_H
#define STOA_DIALBACK_H

#include <stdbool.h>

#define DIALBACK_KEY_LEN 64 /* hex characters, without the NUL */

/* Writes the key into out (DIALBACK_KEY_LEN + 1 bytes). 0, or -1. */
int dialback_key(const char *secret, const char *receiving, const char *originating, const char *id,
                 char out[DIALBACK_KEY_LEN + 1]);
/* Whether key is the one for these values (compared in constant time). */
bool dialback_key_valid(const char *secret, const char *receiving, const char *originating,
                        const char *id, const char *key);
/* A fresh stream id: 32 random hex characters into out (33 bytes). */
int dialback_stream_id(char out[33]);

#endif
