/* Nickname rules beyond Resourceprep: blank nicks and look-alikes (see
 * nick.h for the policy). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "muc/nick.h"

/* Characters that show as nothing or as a space and that Resourceprep
 * leaves in (it maps B.1 to nothing and prohibits the non-ASCII spaces of
 * C.1.2 and the controls of C.2, but not these). */
static bool invisible(uint32_t c)
{
    return c == 0x20 || c == 0x034F || c == 0x115F || c == 0x1160 || c == 0x17B4 || c == 0x17B5 ||
           (c >= 0x180B && c <= 0x180E) || (c >= 0x200B && c <= 0x200F) ||
           (c >= 0x2060 && c <= 0x2064) || c == 0x2800 || c == 0x3164 || c == 0xFEFF ||
           c == 0xFFA0 || (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0000 && c <= 0xE0FFF);
}

/* Combining marks: a nick of nothing else is a floating accent. */
static bool mark(uint32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x20D0 && c <= 0x20FF);
}

bool muc_nick_blank(const char *nick)
{
    size_t n = 0;
    uint32_t *u = stringprep_utf8_to_ucs4(nick, -1, &n);
    if (!u)
        return true; /* not UTF-8: the router never lets one through */
    bool blank = true;
    for (size_t i = 0; i < n && blank; i++)
        blank = invisible(u[i]) || mark(u[i]);
    free(u);
    return blank;
}

/* Lower-case Cyrillic and Greek letters (what B.2 leaves of capitals too)
 * drawn like a Latin letter in common fonts (Unicode's confusables.txt),
 * and the digit 0. */
static const struct {
    uint32_t from;
    char to;
} lookalikes[] = {
    {'0', 'o'},    {0x03B1, 'a'}, {0x03B9, 'i'}, {0x03BA, 'k'}, {0x03BD, 'v'}, {0x03BF, 'o'},
    {0x03C1, 'p'}, {0x03C5, 'u'}, {0x03C7, 'x'}, {0x0430, 'a'}, {0x0435, 'e'}, {0x043E, 'o'},
    {0x0440, 'p'}, {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'},
    {0x0458, 'j'}, {0x04BB, 'h'}, {0x04CF, 'l'}, {0x0501, 'd'}, {0x051B, 'q'}, {0x051D, 'w'},
};

static uint32_t unconfuse(uint32_t c)
{
    for (size_t i = 0; i < sizeof lookalikes / sizeof lookalikes[0]; i++)
        if (lookalikes[i].from == c)
            return (uint32_t)lookalikes[i].to;
    return c;
}

/* libidn's tables end with an all-zero row; stringprep wants their length. */
static size_t table_len(const Stringprep_table_element *t)
{
    size_t n = 0;
    while (t[n].start || t[n].end)
        n++;
    return n;
}

char *muc_nick_fold(const char *nick)
{
    /* B.2 is the case folding Nodeprep uses: for NFKC, so "ﬀ" is "ff". */
    static Stringprep_profile fold[] = {
        {STRINGPREP_MAP_TABLE, 0, stringprep_rfc3454_B_1, 0},
        {STRINGPREP_MAP_TABLE, 0, stringprep_rfc3454_B_2, 0},
        {STRINGPREP_NFKC, 0, NULL, 0},
        {0, 0, NULL, 0},
    };
    if (!fold[0].table_size) {
        fold[0].table_size = table_len(stringprep_rfc3454_B_1);
        fold[1].table_size = table_len(stringprep_rfc3454_B_2);
    }
    size_t n = 0;
    uint32_t *in = stringprep_utf8_to_ucs4(nick, -1, &n);
    if (!in)
        return NULL;
    /* Case folding at most triples a character (RFC 3454 B.2). */
    size_t cap = n * 3 + 8, len = n;
    uint32_t *u = calloc(cap, sizeof *u);
    if (!u) {
        free(in);
        return NULL;
    }
    memcpy(u, in, n * sizeof *u);
    free(in);
    if (stringprep_4i(u, &len, cap, 0, fold) != STRINGPREP_OK)
        len = 0; /* unfoldable: the key is empty, which no nick has */
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (!invisible(u[i]))
            u[k++] = unconfuse(u[i]);
    char *s = stringprep_ucs4_to_utf8(u, (ssize_t)k, NULL, NULL);
    free(u);
    return s;
}

static const char *fold_of(muc_occupant *o)
{
    if (!o->fold)
        o->fold = muc_nick_fold(o->nick);
    return o->fold;
}

const char *muc_nick_refusal(muc_room *r, const char *nick, const char *bare,
                             const muc_occupant *self, stanza_error *e)
{
    if (muc_nick_blank(nick)) {
        *e = STANZA_ERR_JID_MALFORMED;
        return "a nickname must have something visible in it";
    }
    char *key = muc_nick_fold(nick);
    if (!key) {
        *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
        return "out of memory";
    }
    const char *why = NULL;
    for (size_t i = 0; i < r->noccupants && !why; i++) {
        muc_occupant *o = r->occupants[i];
        if (o == self || strcmp(o->bare, bare) == 0)
            continue;
        const char *theirs = fold_of(o);
        if (theirs && strcmp(theirs, key) == 0) {
            *e = STANZA_ERR_CONFLICT;
            why = strcmp(o->nick, nick) == 0 ? "that nickname is in use"
                                             : "that nickname looks like one in use";
        }
    }
    free(key);
    return why;
}
