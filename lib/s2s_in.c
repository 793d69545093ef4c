/* s2s_in: the receiving side of a server-to-server stream. */
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dialback.h"
#include "jid.h"
#include "ns.h"
#include "s2s_internal.h"

static void send_features(s2s *s)
{
    buf b = BUF_INIT;
    buf_puts(&b, "<stream:features>");
    if (!s->secure && s->cfg.tls) {
        /* RFC 7590: nothing else is offered before TLS. */
        buf_puts(&b, "<starttls xmlns='" NS_TLS "'><required/></starttls>");
    } else {
        s2s_check_cert(s);
        if (!s->sasl_done && s->cert_valid)
            buf_puts(&b, "<mechanisms xmlns='" NS_SASL
                         "'><mechanism>EXTERNAL</mechanism></mechanisms>");
        if (s2s_dialback_allowed(s))
            buf_puts(&b, "<dialback xmlns='" NS_DIALBACK_FEATURE "'><errors/></dialback>");
    }
    buf_puts(&b, "</stream:features>");
    xstream_send_raw(s->xs, buf_unread(&b), buf_unread_len(&b));
    buf_free(&b);
}

void s2s_in_open(s2s *s, xml_node *h)
{
    const char *ver = xml_attr(h, "version");
    char *to = s2s_domain(xml_attr(h, "to"));
    char *from = s2s_domain(xml_attr(h, "from"));
    if (dialback_stream_id(s->id) < 0) {
        s2s_close(s, "internal-server-error", NULL);
        goto out;
    }
    bool ours = to && s2s_is_local(s, to);
    /* RFC 6120 4.9.1.2: the header goes first, even before an error. */
    s2s_send_header(s, ours ? to : s->cfg.local_domains[0], from, s->id);
    if (!ours) {
        s2s_close(s, "host-unknown", "this server does not serve that domain");
        goto out;
    }
    if (!ver || strcmp(ver, "1.0") != 0) {
        s2s_close(s, "unsupported-version", "version 1.0 is required");
        goto out;
    }
    if (xml_attr(h, "from") && !from) {
        s2s_close(s, "invalid-from", NULL);
        goto out;
    }
    if (!s->local) {
        s->local = to;
        to = NULL;
    }
    if (from && !s->remote) {
        s->remote = from;
        from = NULL;
    }
    s->state = S2S_FEATURES;
    send_features(s);
out:
    free(to);
    free(from);
}

void s2s_in_secured(s2s *s)
{
    /* The peer opens a new stream next; its header may name it only now. */
    s->state = S2S_OPENING;
    s->header_sent = false;
}

static int add_pair(s2s *s, const char *local, const char *remote, bool valid)
{
    for (unsigned i = 0; i < s->npairs; i++) {
        if (strcasecmp(s->pairs[i].local, local) == 0 &&
            strcasecmp(s->pairs[i].remote, remote) == 0) {
            s->pairs[i].valid = s->pairs[i].valid || valid;
            return (int)i;
        }
    }
    if (s->npairs == S2S_MAX_PAIRS)
        return -1;
    s2s_pair *p = &s->pairs[s->npairs];
    p->local = strdup(local);
    p->remote = strdup(remote);
    if (!p->local || !p->remote) {
        free(p->local);
        free(p->remote);
        return -1;
    }
    p->valid = valid;
    return (int)s->npairs++;
}

/* The owner's policy, before the peer is told it may send (else it could
 * send stanzas that the close would silently lose). */
static bool admitted(s2s *s, const char *local, const char *remote)
{
    const char *why = NULL;
    if (!s->cb.on_admit || s->cb.on_admit(s->ud, s, local, remote, &why))
        return true;
    s2s_close(s, "policy-violation", why);
    return false;
}

/* SASL EXTERNAL (XEP-0178): the authorization identity, when given, must be
 * the domain the peer's certificate was checked for. */
static void handle_auth(s2s *s, xml_node *auth)
{
    const char *mech = xml_attr(auth, "mechanism");
    if (!mech || strcmp(mech, "EXTERNAL") != 0) {
        s2s_write(s, "<failure xmlns='" NS_SASL "'><invalid-mechanism/></failure>");
        return;
    }
    s2s_check_cert(s);
    const char *data = xml_text(auth);
    char *authzid = NULL;
    if (data && *data && strcmp(data, "=") != 0) {
        gnutls_datum_t in = {(unsigned char *)(uintptr_t)data, (unsigned)strlen(data)}, outd;
        if (gnutls_base64_decode2(&in, &outd) < 0) {
            s2s_write(s, "<failure xmlns='" NS_SASL "'><incorrect-encoding/></failure>");
            return;
        }
        authzid = strndup((const char *)outd.data, outd.size);
        gnutls_free(outd.data);
    }
    bool ok = !s->sasl_done && s->secure && s->cert_valid && s->remote && s->local &&
              (!authzid || strcasecmp(authzid, s->remote) == 0);
    free(authzid);
    if (ok && !admitted(s, s->local, s->remote))
        return;
    if (!ok || add_pair(s, s->local, s->remote, true) < 0) {
        s2s_write(s, "<failure xmlns='" NS_SASL "'><not-authorized/></failure>");
        return;
    }
    s2s_write(s, "<success xmlns='" NS_SASL "'/>");
    s->sasl_done = true;
    s->auth = "SASL EXTERNAL";
    s->state = S2S_OPENING;
    s->header_sent = false;
    xstream_restart(s->xs);
    s2s_now_authenticated(s);
    if (s->cb.on_ready)
        s->cb.on_ready(s->ud, s, s->local, s->remote);
}

static void write_db(s2s *s, const char *name, const char *from, const char *to, const char *id,
                     const char *type)
{
    buf b = BUF_INIT;
    buf_printf(&b, "<db:%s from='", name);
    buf_append_xml_escaped(&b, from, strlen(from));
    buf_puts(&b, "' to='");
    buf_append_xml_escaped(&b, to, strlen(to));
    if (id) {
        buf_puts(&b, "' id='");
        buf_append_xml_escaped(&b, id, strlen(id));
    }
    buf_printf(&b, "' type='%s'/>", type);
    xstream_send_raw(s->xs, buf_unread(&b), buf_unread_len(&b));
    buf_free(&b);
}

/* XEP-0220: the peer claims `from` for this stream; the owner asks that
 * domain's authoritative server. */
static void handle_db_result(s2s *s, xml_node *r)
{
    char *local = s2s_domain(xml_attr(r, "to"));
    char *remote = s2s_domain(xml_attr(r, "from"));
    const char *key = xml_text(r);
    s2s_check_cert(s);
    if (!remote) {
        s2s_close(s, "invalid-from", NULL);
    } else if (!local || !s2s_is_local(s, local)) {
        s2s_close(s, "host-unknown", NULL);
    } else if (!s2s_dialback_allowed(s) || !key || !*key) {
        s2s_close(s, "not-authorized", s->why[0] ? s->why : "dialback is not accepted here");
    } else if (add_pair(s, local, remote, false) < 0) {
        s2s_close(s, "policy-violation", "too many domains on one stream");
    } else if (s2s_pair_valid(s, local, remote)) {
        write_db(s, "result", local, remote, NULL, "valid");
    } else if (s->cb.on_verify_needed) {
        s->cb.on_verify_needed(s->ud, s, local, remote, s->id, key);
    }
    free(local);
    free(remote);
}

void s2s_dialback_result(s2s *s, const char *local, const char *remote, bool valid)
{
    if (!s->xs)
        return;
    int i = -1;
    for (unsigned k = 0; k < s->npairs; k++)
        if (strcasecmp(s->pairs[k].local, local) == 0 &&
            strcasecmp(s->pairs[k].remote, remote) == 0)
            i = (int)k;
    if (i < 0 || s->pairs[i].valid)
        return;
    if (valid && !admitted(s, local, remote))
        return;
    write_db(s, "result", local, remote, NULL, valid ? "valid" : "invalid");
    if (!valid) {
        s2s_close(s, "not-authorized", "dialback key not valid");
        return;
    }
    s->pairs[i].valid = true;
    if (strcmp(s->auth, "none") == 0)
        s->auth = "dialback";
    s2s_now_authenticated(s);
    if (s->cb.on_ready)
        s->cb.on_ready(s->ud, s, local, remote);
}

/* XEP-0220 as the authoritative server: is this key ours? */
static void handle_db_verify(s2s *s, xml_node *v)
{
    char *local = s2s_domain(xml_attr(v, "to"));
    char *remote = s2s_domain(xml_attr(v, "from"));
    const char *id = xml_attr(v, "id");
    if (!local || !remote || !id) {
        s2s_close(s, "improper-addressing", "db:verify needs from, to and id");
    } else {
        bool ok = s2s_is_local(s, local) &&
                  dialback_key_valid(s->cfg.dialback_secret, remote, local, id, xml_text(v));
        write_db(s, "verify", local, remote, id, ok ? "valid" : "invalid");
    }
    free(local);
    free(remote);
}

/* A stanza from the peer's users: only between a pair it authenticated. */
static void deliver(s2s *s, xml_node *st)
{
    const char *name = xml_name(st);
    if (strcmp(name, "message") != 0 && strcmp(name, "presence") != 0 && strcmp(name, "iq") != 0) {
        s2s_close(s, "unsupported-stanza-type", NULL);
        xml_free(st);
        return;
    }
    char *from = NULL, *to = NULL;
    jid jf, jt;
    bool fok = xml_attr(st, "from") && jid_parse(xml_attr(st, "from"), &jf) == JID_OK;
    bool tok = xml_attr(st, "to") && jid_parse(xml_attr(st, "to"), &jt) == JID_OK;
    if (fok) {
        from = strdup(jf.domain);
        jid_free(&jf);
    }
    if (tok) {
        to = strdup(jt.domain);
        jid_free(&jt);
    }
    if (s->npairs == 0 || !s->pairs[0].valid)
        s2s_close(s, "not-authorized", "the stream is not authenticated");
    else if (!from || !to)
        s2s_close(s, "improper-addressing", "a stanza needs valid from and to addresses");
    else if (!s2s_is_local(s, to))
        s2s_close(s, "host-unknown", NULL);
    else if (!s2s_pair_valid(s, to, from))
        s2s_close(s, "invalid-from", NULL);
    else {
        s->last_stanza = ev_now(s->loop);
        free(from);
        free(to);
        if (s->cb.on_stanza)
            s->cb.on_stanza(s->ud, s, st);
        else
            xml_free(st);
        return;
    }
    free(from);
    free(to);
    xml_free(st);
}

static void handle_starttls(s2s *s)
{
    if (s->secure || !s->cfg.tls) {
        s2s_write(s, "<failure xmlns='" NS_TLS "'/>");
        s2s_close(s, NULL, NULL);
        return;
    }
    s2s_write(s, "<proceed xmlns='" NS_TLS "'/>");
    s->state = S2S_STARTTLS;
    if (xstream_starttls(s->xs, s2s_wrap_tls, s) < 0)
        s2s_close(s, "internal-server-error", NULL);
}

void s2s_in_stanza(s2s *s, xml_node *st)
{
    const char *ns = xml_ns(st) ? xml_ns(st) : "";
    if (strcmp(ns, NS_SERVER) == 0) {
        if (!s->secure && s->cfg.tls) {
            s2s_close(s, "policy-violation", "TLS is required");
            xml_free(st);
            return;
        }
        deliver(s, st);
        return;
    }
    if (s2s_is(st, "error", NS_STREAMS)) {
        s2s_note_stream_error(s, st);
    } else if (s2s_is(st, "starttls", NS_TLS)) {
        handle_starttls(s);
    } else if (!s->secure && s->cfg.tls) {
        s2s_close(s, "policy-violation", "TLS is required");
    } else if (s2s_is(st, "auth", NS_SASL)) {
        handle_auth(s, st);
    } else if (s2s_is(st, "result", NS_DIALBACK)) {
        handle_db_result(s, st);
    } else if (s2s_is(st, "verify", NS_DIALBACK)) {
        handle_db_verify(s, st);
    } else if (strcmp(ns, NS_COMPONENT) == 0 || strcmp(ns, NS_CLIENT) == 0) {
        s2s_close(s, "invalid-namespace", NULL);
    } else {
        s2s_close(s, "unsupported-stanza-type", NULL);
    }
    xml_free(st);
}
