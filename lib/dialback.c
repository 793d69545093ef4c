#include "dialback.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int dialback_key(const char *secret, const char *receiving, const char *originating, const char *id,
                 char out[DIALBACK_KEY_LEN + 1])
{
    unsigned char digest[32], mac[32];
    char k[65]; /* XEP-0185: the HMAC key is SHA-256 of the secret, in hex */
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, strlen(secret), digest) < 0)
        return -1;
    hex(digest, sizeof digest, k);
    memset(digest, 0, sizeof digest);
    size_t n = strlen(receiving) + strlen(originating) + strlen(id) + 3;
    char *text = malloc(n);
    if (!text)
        return -1;
    snprintf(text, n, "%s %s %s", receiving, originating, id);
    int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, k, 64, text, strlen(text), mac);
    free(text);
    memset(k, 0, sizeof k);
    if (rc < 0)
        return -1;
    hex(mac, sizeof mac, out);
    return 0;
}

bool dialback_key_valid(const char *secret, const char *receiving, const char *originating,
                        const char *id, const char *key)
{
    char want[DIALBACK_KEY_LEN + 1];
    if (!key || strlen(key) != DIALBACK_KEY_LEN ||
        dialback_key(secret, receiving, originating, id, want) < 0)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < DIALBACK_KEY_LEN; i++)
        diff |= (unsigned char)(want[i] ^ key[i]);
    return diff == 0;
}

int dialback_stream_id(char out[33])
{
    unsigned char r[16];
    if (gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof r) < 0)
        return -1;
    hex(r, sizeof r, out);
    return 0;
}
