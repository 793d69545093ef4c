#include "s2s.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "jid.h"
#include "ns.h"
#include "out.h"
#include "s2s_internal.h"

#define ALPN_XMPP_SERVER "xmpp-server"

/* ---- life ---- */

static void release(s2s *s)
{
    ev_timer_stop(s->loop, &s->setup_timer);
    ev_timer_stop(s->loop, &s->idle_timer);
    xstream_free(s->xs);
    for (unsigned i = 0; i < s->npairs; i++) {
        free(s->pairs[i].local);
        free(s->pairs[i].remote);
    }
    buf_free(&s->verifies);
    free(s->local);
    free(s->remote);
    free(s);
}

static void enter(s2s *s)
{
    s->busy++;
}

static void leave(s2s *s)
{
    if (--s->busy == 0 && s->free_pending)
        release(s);
}

void s2s_free(s2s *s)
{
    if (!s)
        return;
    if (s->busy > 0) {
        /* Inside one of our callbacks: the stream goes now (xstream defers
         * its own release), the struct when the callback returns. */
        s->free_pending = true;
        ev_timer_stop(s->loop, &s->setup_timer);
        ev_timer_stop(s->loop, &s->idle_timer);
        xstream_free(s->xs);
        s->xs = NULL;
        return;
    }
    release(s);
}

/* ---- writing ---- */

void s2s_write(s2s *s, const char *xml)
{
    if (s->xs)
        xstream_send_raw(s->xs, xml, strlen(xml));
}

void s2s_writef(s2s *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[1024];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        s2s_write(s, small);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s2s_write(s, big);
    free(big);
}

void s2s_send_header(s2s *s, const char *from, const char *to, const char *id)
{
    buf b = BUF_INIT;
    buf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='" NS_SERVER
                 "' xmlns:stream='" NS_STREAMS "' xmlns:db='" NS_DIALBACK "'");
    const char *names[] = {"from", "to", "id"};
    const char *values[] = {from, to, id};
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        buf_printf(&b, " %s='", names[i]);
        buf_append_xml_escaped(&b, values[i], strlen(values[i]));
        buf_puts(&b, "'");
    }
    buf_puts(&b, " version='1.0'>");
    if (s->xs)
        xstream_send_raw(s->xs, buf_unread(&b), buf_unread_len(&b));
    s->header_sent = true;
    buf_free(&b);
}

int s2s_send(s2s *s, const xml_node *stanza)
{
    if (!s->xs || s->incoming || s->state != S2S_READY)
        return -1;
    buf *b = xstream_out_begin(s->xs);
    if (!b)
        return -1;
    int rc = xml_serialize(stanza, b, NS_SERVER);
    xstream_out_commit(s->xs);
    s->last_stanza = ev_now(s->loop);
    return rc;
}

int s2s_send_verify(s2s *s, const char *local, const char *remote, const char *id, const char *key)
{
    if (!s->xs || s->incoming)
        return -1;
    buf *b = &s->verifies;
    buf_puts(b, "<db:verify from='");
    buf_append_xml_escaped(b, local, strlen(local));
    buf_puts(b, "' to='");
    buf_append_xml_escaped(b, remote, strlen(remote));
    buf_puts(b, "' id='");
    buf_append_xml_escaped(b, id, strlen(id));
    buf_puts(b, "'>");
    buf_append_xml_escaped(b, key, strlen(key));
    if (buf_puts(b, "</db:verify>") < 0)
        return -1;
    if (s->features_seen)
        s2s_flush_verifies(s);
    return 0;
}

void s2s_flush_verifies(s2s *s)
{
    if (buf_unread_len(&s->verifies) == 0 || !s->xs)
        return;
    xstream_send_raw(s->xs, buf_unread(&s->verifies), buf_unread_len(&s->verifies));
    buf_reset(&s->verifies);
}

void s2s_close(s2s *s, const char *condition, const char *text)
{
    if (!s->xs)
        return;
    if (condition && !s->why[0])
        snprintf(s->why, sizeof s->why, "we sent %s%s%s", condition, text ? ": " : "",
                 text ? text : "");
    xstream_close(s->xs, condition, text);
}

/* ---- shared checks ---- */

bool s2s_is(const xml_node *n, const char *name, const char *ns)
{
    const char *nns = xml_ns(n);
    return strcmp(xml_name(n), name) == 0 && nns && strcmp(nns, ns) == 0;
}

char *s2s_domain(const char *s)
{
    if (!s)
        return NULL;
    jid j;
    if (jid_parse(s, &j) != JID_OK)
        return NULL;
    char *d = j.local || j.resource ? NULL : strdup(j.domain);
    jid_free(&j);
    return d;
}

bool s2s_is_local(const s2s *s, const char *domain)
{
    for (const char *const *d = s->cfg.local_domains; d && *d; d++)
        if (strcasecmp(*d, domain) == 0)
            return true;
    return false;
}

transport *s2s_wrap_tls(void *arg, transport *inner)
{
    s2s *s = arg;
    return tls_wrap(s->cfg.tls, inner, s->incoming ? TLS_SERVER : TLS_CLIENT,
                    s->incoming ? NULL : s->remote, NULL);
}

void s2s_check_cert(s2s *s)
{
    if (s->cert_checked || !s->secure || !s->remote)
        return;
    char why[200];
    s->cert_checked = true;
    s->cert_valid = tls_peer_valid_for(xstream_transport(s->xs), s->remote, why, sizeof why) == 0;
    if (!s->cert_valid)
        snprintf(s->why, sizeof s->why, "certificate of %s: %s", s->remote, why);
}

bool s2s_dialback_allowed(const s2s *s)
{
    if (!s->cfg.dialback || (!s->secure && s->cfg.tls))
        return false;
    return s->cert_valid || !s->cfg.require_valid_certificate;
}

void s2s_now_authenticated(s2s *s)
{
    ev_timer_stop(s->loop, &s->setup_timer);
    s->last_stanza = ev_now(s->loop);
    if (s->cfg.idle_timeout > 0) {
        s->idle_timer.repeat = s->cfg.idle_timeout;
        ev_timer_again(s->loop, &s->idle_timer);
    }
    /* A certificate complaint noted while we fell back to dialback is no
     * longer why anything ends. */
    s->why[0] = '\0';
}

void s2s_note_stream_error(s2s *s, xml_node *err)
{
    const char *cond = "undefined-condition", *text = NULL;
    for (xml_node *c = xml_first_child(err); c; c = xml_next(c)) {
        if (xml_is_text(c) || !xml_ns(c) || strcmp(xml_ns(c), NS_STREAM_ERRORS) != 0)
            continue;
        if (strcmp(xml_name(c), "text") == 0)
            text = xml_text(c);
        else
            cond = xml_name(c);
    }
    snprintf(s->why, sizeof s->why, "peer sent %s%s%s", cond, text ? ": " : "", text ? text : "");
}

/* ---- the stream's callbacks ---- */

static void x_open(void *ud, xml_node *header)
{
    s2s *s = ud;
    enter(s);
    if (s->incoming)
        s2s_in_open(s, header);
    else
        s2s_out_open(s, header);
    xml_free(header);
    leave(s);
}

static void x_stanza(void *ud, xml_node *stanza)
{
    s2s *s = ud;
    enter(s);
    if (s->incoming)
        s2s_in_stanza(s, stanza);
    else
        s2s_out_stanza(s, stanza);
    leave(s);
}

static void x_dropped(void *ud, xml_node *shell, const char *why)
{
    s2s *s = ud;
    /* A peer server sends what fits its own limits; one over ours is not
     * bounced stanza by stanza but ends the stream (RFC 6120 4.9.3.12). */
    char text[160];
    snprintf(text, sizeof text, "<%s/> %s", xml_name(shell), why);
    xml_free(shell);
    enter(s);
    s2s_close(s, "policy-violation", text);
    leave(s);
}

static void x_secured(void *ud)
{
    s2s *s = ud;
    enter(s);
    s->secure = true;
    if (s->incoming)
        s2s_in_secured(s);
    else
        s2s_out_secured(s);
    leave(s);
}

static void x_closed(void *ud, xstream_close_reason why, const char *detail)
{
    s2s *s = ud;
    char text[300];
    if (s->why[0])
        snprintf(text, sizeof text, "%s", s->why);
    else
        snprintf(text, sizeof text, "%s", detail ? detail : "closed");
    (void)why;
    enter(s);
    ev_timer_stop(s->loop, &s->setup_timer);
    ev_timer_stop(s->loop, &s->idle_timer);
    if (s->cb.on_closed)
        s->cb.on_closed(s->ud, s, text);
    leave(s);
}

static void on_setup_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    s2s *s = w->data;
    enter(s);
    s2s_close(s, "connection-timeout", "not authenticated in time");
    leave(s);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    s2s *s = w->data;
    ev_tstamp idle = ev_now(loop) - s->last_stanza;
    if (idle < s->cfg.idle_timeout) {
        w->repeat = s->cfg.idle_timeout - idle;
        ev_timer_again(loop, w);
        return;
    }
    enter(s);
    snprintf(s->why, sizeof s->why, "idle for %.0fs", idle);
    xstream_close(s->xs, NULL, NULL);
    leave(s);
}

/* The peer's header never parsed: ours still goes first (RFC 6120
 * 4.9.1.3), from a domain we serve since we cannot know which it wanted. */
static void x_before_error(void *ud)
{
    s2s *s = ud;
    if (s->incoming && !s->header_sent)
        s2s_send_header(s, s->cfg.local_domains[0], NULL, NULL);
}

static s2s *create(struct ev_loop *loop, int fd, bool direct_tls, bool incoming,
                   const s2s_config *cfg, const s2s_callbacks *cb, void *ud, const char *remote)
{
    static const xstream_callbacks xcb = {x_open,    x_stanza,  x_closed,
                                          x_dropped, x_secured, x_before_error};
    transport *t = transport_socket_new(fd);
    s2s *s = calloc(1, sizeof *s);
    if (!t || !s) {
        if (t)
            transport_free(t);
        else
            close(fd);
        free(s);
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->cfg.stream.content_ns = NS_SERVER;
    s->cb = *cb;
    s->ud = ud;
    s->incoming = incoming;
    s->auth = "none";
    if (direct_tls && cfg->tls)
        t = tls_wrap(cfg->tls, t, incoming ? TLS_SERVER : TLS_CLIENT, remote, ALPN_XMPP_SERVER);
    s->xs = t ? xstream_new_transport(loop, t, &s->cfg.stream, &xcb, s) : NULL;
    if (!s->xs) {
        free(s);
        return NULL;
    }
    ev_timer_init(&s->setup_timer, on_setup_timeout, cfg->setup_timeout, 0);
    ev_init(&s->idle_timer, on_idle);
    s->setup_timer.data = s->idle_timer.data = s;
    ev_timer_start(loop, &s->setup_timer);
    return s;
}

s2s *s2s_connect(struct ev_loop *loop, int fd, bool direct_tls, const char *local,
                 const char *remote, const s2s_config *cfg, const s2s_callbacks *cb, void *ud)
{
    s2s *s = create(loop, fd, direct_tls, false, cfg, cb, ud, remote);
    if (!s)
        return NULL;
    s->local = strdup(local);
    s->remote = strdup(remote);
    if (!s->local || !s->remote) {
        release(s);
        return NULL;
    }
    s2s_send_header(s, local, remote, NULL);
    return s;
}

s2s *s2s_accept(struct ev_loop *loop, int fd, bool direct_tls, const s2s_config *cfg,
                const s2s_callbacks *cb, void *ud)
{
    return create(loop, fd, direct_tls, true, cfg, cb, ud, NULL);
}

/* ---- questions ---- */

bool s2s_is_ready(const s2s *s)
{
    return s->incoming ? s->npairs > 0 && s->pairs[0].valid : s->state == S2S_READY;
}

bool s2s_is_incoming(const s2s *s)
{
    return s->incoming;
}

const char *s2s_local(const s2s *s)
{
    return s->local;
}

const char *s2s_remote(const s2s *s)
{
    return s->remote;
}

bool s2s_pair_valid(const s2s *s, const char *local, const char *remote)
{
    for (unsigned i = 0; i < s->npairs; i++)
        if (s->pairs[i].valid && strcasecmp(s->pairs[i].local, local) == 0 &&
            strcasecmp(s->pairs[i].remote, remote) == 0)
            return true;
    return false;
}

const char *s2s_auth_method(const s2s *s)
{
    return s->auth;
}

bool s2s_is_secure(const s2s *s)
{
    return s->secure;
}
