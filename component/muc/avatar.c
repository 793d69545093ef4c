/* A room's avatar: its vCard's PHOTO (XEP-0486, XEP-0054, XEP-0153). */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "muc/avatar.h"
#include "muc/fanout.h"

/* The types a room takes, and how each file begins. SVG is left out: it is
 * a document (scripts, external references) that no first bytes vouch for. */
static const struct {
    const char *type, *magic;
    size_t len, at;
} kinds[] = {
    {"image/png", "\x89PNG\r\n\x1a\n", 8, 0},
    {"image/jpeg", "\xff\xd8\xff", 3, 0},
    {"image/gif", "GIF8", 4, 0},
    {"image/webp", "WEBP", 4, 8},
};

/* Decodes and checks an avatar; NULL and the hash of the image in hash, or
 * why not with *e set. b64 is the BINVAL without whitespace. */
static const char *check(const char *type, const char *b64, char hash[41], stanza_error *e)
{
    *e = STANZA_ERR_NOT_ACCEPTABLE;
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].type, type) != 0)
        k++;
    if (k == sizeof kinds / sizeof kinds[0])
        return "a room's avatar is a PNG, JPEG, GIF or WebP image (TYPE)";
    /* Before decoding: three bytes of base64 for four, and no more. */
    if (strlen(b64) > (MUC_AVATAR_MAX + 2) / 3 * 4)
        return "the image is larger than 32 KiB";
    gnutls_datum_t in = {(unsigned char *)b64, (unsigned)strlen(b64)}, img = {NULL, 0};
    if (!*b64 || gnutls_base64_decode2(&in, &img) < 0) {
        *e = STANZA_ERR_BAD_REQUEST;
        return "BINVAL is not base64";
    }
    const char *why = NULL;
    unsigned char sha[20];
    if (img.size > MUC_AVATAR_MAX) {
        why = "the image is larger than 32 KiB";
    } else if (img.size < kinds[k].at + kinds[k].len ||
               memcmp(img.data + kinds[k].at, kinds[k].magic, kinds[k].len) != 0) {
        why = "the image is not of the TYPE it claims";
    } else if (gnutls_hash_fast(GNUTLS_DIG_SHA1, img.data, img.size, sha) < 0) {
        *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
        why = "cannot hash the image";
    } else {
        for (int i = 0; i < 20; i++) {
            hash[2 * i] = "0123456789abcdef"[sha[i] >> 4];
            hash[2 * i + 1] = "0123456789abcdef"[sha[i] & 15];
        }
        hash[40] = '\0';
    }
    gnutls_free(img.data);
    return why;
}

/* Takes the avatar (copies) or, with type NULL, drops it. */
static int set(muc_room *r, const char *type, const char *b64, const char *hash)
{
    char *t = type ? strdup(type) : NULL, *d = b64 ? strdup(b64) : NULL;
    if (type && (!t || !d)) {
        free(t);
        free(d);
        return -1;
    }
    free(r->avatar_type);
    free(r->avatar_b64);
    r->avatar_type = t;
    r->avatar_b64 = d;
    strcpy(r->avatar_hash, type ? hash : "");
    return 0;
}

int muc_avatar_restore(muc_room *r, const char *type, const char *b64)
{
    char hash[41];
    stanza_error e;
    if (!type || !b64 || check(type, b64, hash, &e))
        return -1;
    return set(r, type, b64, hash);
}

/* BINVAL's text without the line breaks and spaces XEP-0153 allows in it. */
static char *squeeze(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    size_t n = 0;
    for (; out && *s; s++)
        if (!strchr(" \t\r\n", *s))
            out[n++] = *s;
    if (out)
        out[n] = '\0';
    return out;
}

static void get(muc *m, muc_room *r, const xml_node *iq)
{
    xml_node *v = NULL;
    xml_node *res = stanza_iq_reply(iq, "vCard", NS_VCARD, &v);
    bool ok = res != NULL;
    if (ok && r->avatar_type) {
        xml_node *photo = xml_append_new(v, "PHOTO", NULL);
        xml_node *t = photo ? xml_append_new(photo, "TYPE", NULL) : NULL;
        xml_node *b = t ? xml_append_new(photo, "BINVAL", NULL) : NULL;
        ok = b && xml_append_text(t, r->avatar_type) == 0 && xml_append_text(b, r->avatar_b64) == 0;
    }
    if (ok)
        muc_send(m, res);
    else
        muc_error(m, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    xml_free(res);
}

/* XEP-0486: status 104 to everyone; and the room's presence with the
 * XEP-0153 hash (an empty <photo/>: no avatar any more). */
static void announce(muc_room *r)
{
    static const char c104[] = "\" type=\"groupchat\"><x xmlns=\"" NS_MUC_USER "\">"
                               "<status code=\"104\"/></x></message>";
    muc_room_notice(r, c104, sizeof c104 - 1);
    buf head = BUF_INIT, tail = BUF_INIT;
    buf_puts(&head, "<presence from=\"");
    buf_puts(&head, r->jid_attr);
    buf_puts(&head, "\" to=\"");
    buf_puts(&tail, "\"><x xmlns=\"" NS_VCARD_UPDATE "\">");
    buf_puts(&tail, *r->avatar_hash ? "<photo>" : "<photo/>");
    if (*r->avatar_hash)
        buf_puts(&tail, r->avatar_hash);
    buf_puts(&tail, *r->avatar_hash ? "</photo></x></presence>" : "</x></presence>");
    muc_fanout_wrapped(r, NULL, buf_unread(&head), buf_unread_len(&head), buf_unread(&tail),
                       buf_unread_len(&tail));
    buf_free(&head);
    buf_free(&tail);
}

/* The new avatar from a vCard set: NULL (and *type NULL when it removes
 * the avatar), or why it is refused with *e set. *b64 is the caller's. */
static const char *parse(const xml_node *vcard, const char **type, char **b64, char hash[41],
                         stanza_error *e)
{
    *type = NULL;
    *b64 = NULL;
    xml_node *photo = xml_child(vcard, "PHOTO", NS_VCARD);
    xml_node *bin = photo ? xml_child(photo, "BINVAL", NS_VCARD) : NULL;
    xml_node *t = photo ? xml_child(photo, "TYPE", NS_VCARD) : NULL;
    if (photo && !bin && xml_child(photo, "EXTVAL", NS_VCARD)) {
        *e = STANZA_ERR_NOT_ACCEPTABLE;
        return "a room's avatar is an image in BINVAL, not a link (EXTVAL)";
    }
    if (!bin || !xml_text(bin) || !*xml_text(bin))
        return NULL; /* an empty vCard or PHOTO: no avatar */
    *type = t && xml_text(t) ? xml_text(t) : "";
    if (!(*b64 = squeeze(xml_text(bin)))) {
        *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
        return "out of memory";
    }
    return check(*type, *b64, hash, e);
}

static void put(muc *m, muc_room *r, const stanza_ctx *c)
{
    if (!c->from_bare || muc_room_aff(r, c->from_bare) != AFF_OWNER) {
        muc_error(m, c->st, STANZA_ERR_FORBIDDEN, "only owners may change the room's avatar");
        return;
    }
    const char *type;
    char *b64, hash[41];
    stanza_error e;
    const char *why = parse(c->payload, &type, &b64, hash, &e);
    if (!why && set(r, type, b64, hash) < 0) {
        e = STANZA_ERR_INTERNAL_SERVER_ERROR;
        why = "out of memory";
    }
    free(b64);
    if (why) {
        muc_error(m, c->st, e, why);
        return;
    }
    muc_room_changed(r, MUC_ROOM_STATE);
    muc_result(m, c->st);
    announce(r);
}

void muc_avatar_iq(muc *m, muc_room *r, const stanza_ctx *c)
{
    if (strcmp(xml_name(c->payload), "vCard") != 0)
        muc_error(m, c->st, STANZA_ERR_BAD_REQUEST, "a vcard-temp request is a <vCard/>");
    else if (strcmp(c->type, "get") == 0)
        get(m, r, c->st);
    else
        put(m, r, c);
}
