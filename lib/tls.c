#include "tls.h"

#include <errno.h>
#include <ev.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 7590: TLS 1.2 or later. */
#define DEFAULT_PRIORITY "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-SSL3.0"
#define OID_SRVNAME "1.3.6.1.5.5.7.8.7"
#define OID_XMPPADDR "1.3.6.1.5.5.7.8.5"
/* The most bytes one record carries: a larger write is cut to this, so the
 * length given again after GNUTLS_E_AGAIN is always the same. */
#define RECORD_MAX 16384

struct tls_ctx {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
};

typedef struct tls_transport {
    transport base;
    transport *inner;
    gnutls_session_t s;
    bool handshake_done;
    size_t retry_len; /* a write that returned AGAIN, to be completed first */
    char err[200];
} tls_transport;

static int cfg_error(char *err, size_t errlen, const char *what, const char *file, int rc)
{
    snprintf(err, errlen, "%s %s: %s", what, file ? file : "", gnutls_strerror(rc));
    return -1;
}

static int load_credentials(tls_ctx *c, const tls_config *cfg, char *err, size_t errlen)
{
    int rc;
    if (cfg->ca_file && cfg->ca_file[0]) {
        rc = gnutls_certificate_set_x509_trust_file(c->cred, cfg->ca_file, GNUTLS_X509_FMT_PEM);
        if (rc <= 0)
            return cfg_error(err, errlen, "cannot read the CA file", cfg->ca_file,
                             rc == 0 ? GNUTLS_E_NO_CERTIFICATE_FOUND : rc);
    } else {
        rc = gnutls_certificate_set_x509_system_trust(c->cred);
        if (rc < 0)
            return cfg_error(err, errlen, "cannot load the system trust store", NULL, rc);
    }
    if (cfg->cert_file && cfg->cert_file[0]) {
        rc = gnutls_certificate_set_x509_key_file(c->cred, cfg->cert_file, cfg->key_file,
                                                  GNUTLS_X509_FMT_PEM);
        if (rc < 0)
            return cfg_error(err, errlen, "cannot use the certificate and key", cfg->cert_file, rc);
    }
    const char *pos = NULL;
    rc = gnutls_priority_init(&c->prio, cfg->priority ? cfg->priority : DEFAULT_PRIORITY, &pos);
    if (rc < 0) {
        snprintf(err, errlen, "bad TLS priority string near '%s': %s", pos ? pos : "",
                 gnutls_strerror(rc));
        return -1;
    }
    return 0;
}

tls_ctx *tls_ctx_new(const tls_config *cfg, char *err, size_t errlen)
{
    tls_ctx *c = calloc(1, sizeof *c);
    if (!c || gnutls_certificate_allocate_credentials(&c->cred) < 0) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    if (load_credentials(c, cfg, err, errlen) < 0) {
        tls_ctx_free(c);
        return NULL;
    }
    return c;
}

void tls_ctx_free(tls_ctx *c)
{
    if (!c)
        return;
    if (c->prio)
        gnutls_priority_deinit(c->prio);
    gnutls_certificate_free_credentials(c->cred);
    free(c);
}

/* ---- the transport ---- */

static ssize_t t_push(gnutls_transport_ptr_t p, const void *data, size_t n)
{
    tls_transport *t = p;
    ssize_t r = transport_write(t->inner, data, n);
    if (r >= 0)
        return r;
    gnutls_transport_set_errno(t->s, r == TRANSPORT_AGAIN ? EAGAIN : EIO);
    return -1;
}

static ssize_t t_pull(gnutls_transport_ptr_t p, void *data, size_t n)
{
    tls_transport *t = p;
    ssize_t r = transport_read(t->inner, data, n);
    if (r >= 0)
        return r;
    gnutls_transport_set_errno(t->s, r == TRANSPORT_AGAIN ? EAGAIN : EIO);
    return -1;
}

/* GnuTLS may ask whether input is waiting; never wait here (the loop does). */
static int t_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
    (void)ms;
    tls_transport *t = p;
    struct pollfd pfd = {.fd = t->base.fd, .events = POLLIN};
    return poll(&pfd, 1, 0);
}

static ssize_t fail(tls_transport *t, int rc)
{
    snprintf(t->err, sizeof t->err, "TLS: %s", gnutls_strerror(rc));
    return TRANSPORT_ERROR;
}

static ssize_t tls_read(transport *base, void *data, size_t n)
{
    tls_transport *t = (tls_transport *)base;
    ssize_t r = gnutls_record_recv(t->s, data, n);
    if (r >= 0)
        return r;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        return TRANSPORT_AGAIN;
    if (r == GNUTLS_E_PREMATURE_TERMINATION)
        return 0; /* TCP closed without close_notify: an end like any other */
    return fail(t, (int)r);
}

static ssize_t tls_write(transport *base, const void *data, size_t n)
{
    tls_transport *t = (tls_transport *)base;
    ssize_t r;
    if (t->retry_len) {
        /* GnuTLS finishes the record it began: same data, or NULL and 0. */
        r = gnutls_record_send(t->s, NULL, 0);
        if (r >= 0) {
            r = (ssize_t)t->retry_len;
            t->retry_len = 0;
        }
    } else {
        size_t k = n < RECORD_MAX ? n : RECORD_MAX;
        r = gnutls_record_send(t->s, data, k);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            t->retry_len = k;
    }
    if (r >= 0)
        return r;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        return TRANSPORT_AGAIN;
    return fail(t, (int)r);
}

static size_t tls_pending(transport *base)
{
    tls_transport *t = (tls_transport *)base;
    return t->handshake_done ? gnutls_record_check_pending(t->s) : 0;
}

static int tls_handshake(transport *base)
{
    tls_transport *t = (tls_transport *)base;
    if (t->handshake_done)
        return 0;
    int rc = gnutls_handshake(t->s);
    if (rc == GNUTLS_E_SUCCESS) {
        t->handshake_done = true;
        return 0;
    }
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(rc))
        return TRANSPORT_AGAIN;
    if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
        snprintf(t->err, sizeof t->err, "TLS handshake: peer sent alert %s",
                 gnutls_alert_get_name(gnutls_alert_get(t->s)));
    else
        snprintf(t->err, sizeof t->err, "TLS handshake: %s", gnutls_strerror(rc));
    return TRANSPORT_ERROR;
}

static int tls_wants(transport *base)
{
    tls_transport *t = (tls_transport *)base;
    return gnutls_record_get_direction(t->s) ? EV_WRITE : EV_READ;
}

static void tls_free(transport *base)
{
    tls_transport *t = (tls_transport *)base;
    /* close_notify, once and without waiting: the socket closes next. */
    if (t->handshake_done)
        gnutls_bye(t->s, GNUTLS_SHUT_WR);
    gnutls_deinit(t->s);
    transport_free(t->inner);
    free(t);
}

static const char *tls_error(transport *base)
{
    tls_transport *t = (tls_transport *)base;
    if (t->err[0])
        return t->err;
    return transport_error(t->inner);
}

static const transport_ops tls_ops = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .wants = tls_wants,
    .free = tls_free,
    .error = tls_error,
};

bool tls_is_tls(const transport *t)
{
    return t && t->ops == &tls_ops;
}

static int setup_session(tls_transport *t, tls_ctx *c, tls_role role, const char *server_name,
                         const char *alpn)
{
    unsigned flags = (role == TLS_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK;
    if (gnutls_init(&t->s, flags) < 0)
        return -1;
    if (gnutls_priority_set(t->s, c->prio) < 0 ||
        gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, c->cred) < 0)
        return -1;
    if (role == TLS_SERVER)
        gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_REQUEST);
    else if (server_name &&
             gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, server_name, strlen(server_name)) < 0)
        return -1;
    if (alpn) {
        gnutls_datum_t p = {(unsigned char *)(uintptr_t)alpn, (unsigned)strlen(alpn)};
        if (gnutls_alpn_set_protocols(t->s, &p, 1, 0) < 0)
            return -1;
    }
    gnutls_transport_set_ptr(t->s, t);
    gnutls_transport_set_push_function(t->s, t_push);
    gnutls_transport_set_pull_function(t->s, t_pull);
    gnutls_transport_set_pull_timeout_function(t->s, t_pull_timeout);
    return 0;
}

transport *tls_wrap(tls_ctx *c, transport *inner, tls_role role, const char *server_name,
                    const char *alpn)
{
    tls_transport *t = calloc(1, sizeof *t);
    if (!t) {
        transport_free(inner);
        return NULL;
    }
    t->base.ops = &tls_ops;
    t->base.fd = inner->fd;
    t->inner = inner;
    if (setup_session(t, c, role, server_name, alpn) < 0) {
        if (t->s)
            gnutls_deinit(t->s);
        transport_free(inner);
        free(t);
        return NULL;
    }
    return &t->base;
}

/* ---- identity (RFC 6125) ---- */

/* The IA5String or UTF8String inside an otherName value, as GnuTLS hands
 * it over (DER, possibly still inside its [0] EXPLICIT tag). */
static int der_string(const unsigned char *p, size_t n, const unsigned char **s, size_t *len)
{
    for (int unwrap = 0; unwrap < 2; unwrap++) {
        if (n < 2)
            return -1;
        unsigned char tag = p[0];
        size_t l = p[1], hdr = 2;
        if (l & 0x80) {
            size_t k = l & 0x7f;
            if (k == 0 || k > 2 || n < 2 + k)
                return -1;
            l = 0;
            for (size_t i = 0; i < k; i++)
                l = (l << 8) | p[2 + i];
            hdr = 2 + k;
        }
        if (hdr + l > n)
            return -1;
        if (tag == 0xa0) { /* [0] EXPLICIT: look inside */
            p += hdr;
            n = l;
            continue;
        }
        if (tag != 0x16 && tag != 0x0c) /* IA5String, UTF8String */
            return -1;
        *s = p + hdr;
        *len = l;
        return 0;
    }
    return -1;
}

static bool equal_name(const unsigned char *s, size_t len, const char *prefix, const char *domain)
{
    size_t pl = strlen(prefix), dl = strlen(domain);
    /* A trailing dot names the same domain. */
    if (len > 0 && s[len - 1] == '.')
        len--;
    return len == pl + dl && strncasecmp((const char *)s, prefix, pl) == 0 &&
           strncasecmp((const char *)s + pl, domain, dl) == 0;
}

/* SRV-ID (_xmpp-server.<domain>) and XmppAddr among the otherNames. */
static bool othername_matches(gnutls_x509_crt_t crt, unsigned seq, const char *domain)
{
    char oid[64];
    size_t oidlen = sizeof oid;
    if (gnutls_x509_crt_get_subject_alt_othername_oid(crt, seq, oid, &oidlen) < 0)
        return false;
    bool srv = strcmp(oid, OID_SRVNAME) == 0;
    if (!srv && strcmp(oid, OID_XMPPADDR) != 0)
        return false;
    unsigned char val[1024];
    size_t vlen = sizeof val;
    unsigned crit;
    if (gnutls_x509_crt_get_subject_alt_name(crt, seq, val, &vlen, &crit) < 0)
        return false;
    const unsigned char *s;
    size_t len;
    if (der_string(val, vlen, &s, &len) < 0)
        return false;
    return equal_name(s, len, srv ? "_xmpp-server." : "", domain);
}

static int names_domain(gnutls_x509_crt_t crt, const char *domain)
{
    /* DNS-IDs (wildcards as RFC 6125 allows them), and the CN only when no
     * subject alternative name is there: GnuTLS's hostname check. */
    if (gnutls_x509_crt_check_hostname2(crt, domain, 0))
        return 0;
    for (unsigned seq = 0; seq < 64; seq++) {
        char buf[8];
        size_t len = sizeof buf;
        unsigned crit;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &len, &crit);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if ((type == GNUTLS_SAN_OTHERNAME || type == GNUTLS_SAN_OTHERNAME_XMPP ||
             type == GNUTLS_E_SHORT_MEMORY_BUFFER) &&
            othername_matches(crt, seq, domain))
            return 0;
    }
    return -1;
}

int tls_cert_names_domain(const void *der, size_t len, const char *domain)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return -1;
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)der, (unsigned)len};
    int rc =
        gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0 ? -1 : names_domain(crt, domain);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

int tls_peer_valid_for(transport *base, const char *domain, char *why, size_t len)
{
    if (!tls_is_tls(base)) {
        snprintf(why, len, "no TLS");
        return -1;
    }
    tls_transport *t = (tls_transport *)base;
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(t->s, &n);
    if (!certs || n == 0) {
        snprintf(why, len, "no certificate");
        return -1;
    }
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers2(t->s, &status);
    if (rc < 0 || status != 0) {
        gnutls_datum_t out = {NULL, 0};
        if (rc >= 0 &&
            gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) >= 0) {
            snprintf(why, len, "not trusted: %s", out.data);
            gnutls_free(out.data);
        } else {
            snprintf(why, len, "not trusted: %s", gnutls_strerror(rc));
        }
        return -1;
    }
    if (tls_cert_names_domain(certs[0].data, certs[0].size, domain) < 0) {
        snprintf(why, len, "certificate not valid for %s", domain);
        return -1;
    }
    return 0;
}

const char *tls_describe(transport *base, char *out, size_t len)
{
    if (!tls_is_tls(base)) {
        snprintf(out, len, "plain");
        return out;
    }
    tls_transport *t = (tls_transport *)base;
    char *d = gnutls_session_get_desc(t->s);
    snprintf(out, len, "%s", d ? d : "TLS");
    gnutls_free(d);
    return out;
}
