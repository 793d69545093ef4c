/* s2s_out: the initiating side of a server-to-server stream. */
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dialback.h"
#include "ns.h"
#include "s2s_internal.h"

void s2s_out_open(s2s *s, xml_node *h)
{
    const char *id = xml_attr(h, "id");
    const char *ver = xml_attr(h, "version");
    if (!ver || strcmp(ver, "1.0") != 0) {
        s2s_close(s, "unsupported-version", "version 1.0 is required");
        return;
    }
    /* The dialback key is bound to the id the receiving server chose. */
    if (!id || !*id || strlen(id) >= sizeof s->id) {
        s2s_close(s, "invalid-xml", "the stream header has no usable id");
        return;
    }
    snprintf(s->id, sizeof s->id, "%s", id);
    s->state = S2S_FEATURES;
}

void s2s_out_secured(s2s *s)
{
    s2s_check_cert(s);
    if (!s->cert_valid && s->cfg.require_valid_certificate) {
        s2s_close(s, "policy-violation", s->why);
        return;
    }
    /* After STARTTLS the stream starts again; with direct TLS the header
     * queued at the start goes out now. */
    if (s->tls_restart) {
        s->tls_restart = false;
        s->state = S2S_OPENING;
        s2s_send_header(s, s->local, s->remote, NULL);
    }
}

static void send_auth(s2s *s)
{
    gnutls_datum_t in = {(unsigned char *)s->local, (unsigned)strlen(s->local)}, b64;
    if (gnutls_base64_encode2(&in, &b64) < 0) {
        s2s_close(s, "internal-server-error", NULL);
        return;
    }
    s2s_writef(s, "<auth xmlns='" NS_SASL "' mechanism='EXTERNAL'>%.*s</auth>", (int)b64.size,
               (const char *)b64.data);
    gnutls_free(b64.data);
    s->state = S2S_SASL;
}

static void send_db_result(s2s *s)
{
    char key[DIALBACK_KEY_LEN + 1];
    if (dialback_key(s->cfg.dialback_secret, s->remote, s->local, s->id, key) < 0) {
        s2s_close(s, "internal-server-error", NULL);
        return;
    }
    /* Domains are normalized by us (s2s_connect's caller): no escaping. */
    s2s_writef(s, "<db:result from='%s' to='%s'>%s</db:result>", s->local, s->remote, key);
    s->state = S2S_DIALBACK;
}

static void ready(s2s *s)
{
    s->state = S2S_READY;
    s2s_now_authenticated(s);
    if (s->cb.on_ready)
        s->cb.on_ready(s->ud, s, s->local, s->remote);
}

/* Dialback when SASL is not to be had; else there is no way in. */
static void try_dialback(s2s *s)
{
    if (s2s_dialback_allowed(s)) {
        send_db_result(s);
        return;
    }
    if (!s->why[0])
        snprintf(s->why, sizeof s->why, "no authentication both sides accept");
    s2s_close(s, "not-authorized", s->why);
}

static void handle_features(s2s *s, xml_node *f)
{
    xml_node *mechs = xml_child(f, "mechanisms", NS_SASL);
    bool external = false;
    for (xml_node *m = mechs ? xml_first_child(mechs) : NULL; m; m = xml_next(m))
        if (!xml_is_text(m) && strcmp(xml_name(m), "mechanism") == 0 && xml_text(m) &&
            strcmp(xml_text(m), "EXTERNAL") == 0)
            external = true;
    s->dialback_offered = xml_child(f, "dialback", NS_DIALBACK_FEATURE) != NULL;
    if (!s->secure && s->cfg.tls) {
        if (!xml_child(f, "starttls", NS_TLS)) {
            s2s_close(s, "policy-violation", "TLS is required");
            return;
        }
        s2s_write(s, "<starttls xmlns='" NS_TLS "'/>");
        s->state = S2S_STARTTLS;
        return;
    }
    s->features_seen = true;
    s2s_flush_verifies(s);
    if (s->sasl_done) {
        ready(s);
        return;
    }
    s2s_check_cert(s);
    if (s->cert_valid && external)
        send_auth(s);
    else
        try_dialback(s);
}

static void handle_db_result(s2s *s, xml_node *r)
{
    const char *type = xml_attr(r, "type");
    if (s->state != S2S_DIALBACK)
        return;
    if (type && strcmp(type, "valid") == 0) {
        s->auth = "dialback";
        ready(s);
    } else {
        snprintf(s->why, sizeof s->why, "dialback refused by %s (%s)", s->remote,
                 type ? type : "no type");
        s2s_close(s, NULL, NULL);
    }
}

static void handle_db_verify(s2s *s, xml_node *v)
{
    const char *type = xml_attr(v, "type");
    const char *id = xml_attr(v, "id");
    const char *from = xml_attr(v, "from"), *to = xml_attr(v, "to");
    if (!id || !from || !to || !s->cb.on_verify_result)
        return;
    s->cb.on_verify_result(s->ud, s, to, from, id, type && strcmp(type, "valid") == 0);
}

void s2s_out_stanza(s2s *s, xml_node *st)
{
    if (s2s_is(st, "features", NS_STREAMS)) {
        handle_features(s, st);
    } else if (s2s_is(st, "error", NS_STREAMS)) {
        s2s_note_stream_error(s, st);
    } else if (s2s_is(st, "proceed", NS_TLS) && s->state == S2S_STARTTLS) {
        s->tls_restart = true;
        if (xstream_starttls(s->xs, s2s_wrap_tls, s) < 0)
            s2s_close(s, "internal-server-error", NULL);
    } else if (s2s_is(st, "failure", NS_TLS)) {
        snprintf(s->why, sizeof s->why, "%s refused STARTTLS", s->remote);
        s2s_close(s, NULL, NULL);
    } else if (s2s_is(st, "success", NS_SASL) && s->state == S2S_SASL) {
        s->sasl_done = true;
        s->auth = "SASL EXTERNAL";
        s->state = S2S_OPENING;
        xstream_restart(s->xs);
        s2s_send_header(s, s->local, s->remote, NULL);
    } else if (s2s_is(st, "failure", NS_SASL) && s->state == S2S_SASL) {
        try_dialback(s);
    } else if (s2s_is(st, "result", NS_DIALBACK)) {
        handle_db_result(s, st);
    } else if (s2s_is(st, "verify", NS_DIALBACK)) {
        handle_db_verify(s, st);
    }
    /* Anything else on an outgoing stream has no business there. */
    xml_free(st);
}
