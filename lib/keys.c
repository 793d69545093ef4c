#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *keys_make(const char *prefix, const char *stem, const char *who)
{
    size_t n = strlen(prefix) + strlen(stem) + (who ? strlen(who) : 0) + 1;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s%s%s", prefix, stem, who ? who : "");
    return k;
}

int keys_format(char *out, size_t n, const char *prefix, const char *stem, const char *who)
{
    int w = snprintf(out, n, "%s%s%s", prefix, stem, who ? who : "");
    return w >= 0 && (size_t)w < n ? 0 : -1;
}

int keys_entry_of_sid(const char *sid, char *out, size_t n)
{
    if (strlen(sid) != 16 || strspn(sid, "0123456789abcdef") != 16)
        return -1;
    unsigned long long v = strtoull(sid, NULL, 16);
    int w = snprintf(out, n, "%llu-%llu", v >> 12, v & 0xfff);
    return w >= 0 && (size_t)w < n ? 0 : -1;
}

int keys_sid_of_entry(const char *entry, char out[17])
{
    unsigned long long ms, seq;
    if (sscanf(entry, "%llu-%llu", &ms, &seq) != 2 || seq > 0xfff || ms >> 52)
        return -1;
    snprintf(out, 17, "%016llx", (ms << 12) | seq);
    return 0;
}
