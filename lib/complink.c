#include "complink.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "dial.h"
#include "log.h"
#include "ns.h"

/* A session shorter than this does not earn a fresh, short backoff: a server
 * that accepts and then drops us at once must not be hammered. Unless we
 * closed it for bad input after it had carried stanzas (backoff.h). */
#define STABLE_SESSION 10.0

struct complink {
    struct ev_loop *loop;
    complink_config cfg; /* strings below are our own copies */
    char *host, *domain, *secret;
    complink_callbacks cb;
    void *ud;
    complink_state state;
    backoff bo;
    dial_req *dialing; /* during CONNECTING */
    ev_timer timer;    /* connect/handshake deadline, or the backoff wait */
    xstream *xs;
    ev_tstamp ready_at;
    unsigned sessions;
    unsigned long session_stanzas; /* stanzas the current session delivered */
    /* A stream error the server sent before closing, so the log line that
     * follows names the real cause (e.g. not-authorized) once. */
    char refusal[64];
    char refusal_text[160];
};

static void attempt(complink *cl);

const char *complink_state_name(complink_state s)
{
    static const char *const names[] = {"idle",  "resolving", "connecting", "handshake",
                                        "ready", "waiting",   "stopping",   "stopped"};
    return s <= COMPLINK_STOPPED ? names[s] : "?";
}

static void drop_connect(complink *cl)
{
    dial_cancel(cl->dialing);
    cl->dialing = NULL;
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void arm_timer(complink *cl, double seconds)
{
    ev_timer_stop(cl->loop, &cl->timer);
    ev_timer_set(&cl->timer, seconds, 0);
    ev_timer_start(cl->loop, &cl->timer);
}

/* Every failure path ends here: pick the next delay and wait. */
static void schedule_retry(complink *cl, log_level lvl, const char *what)
{
    drop_connect(cl);
    if (cl->state == COMPLINK_STOPPING || cl->state == COMPLINK_STOPPED)
        return;
    /* Only these say the server will not have us as configured; anything
     * else (system-shutdown, a restart) is an ordinary loss. */
    bool refused = strcmp(cl->refusal, "not-authorized") == 0 ||
                   strcmp(cl->refusal, "conflict") == 0 || strcmp(cl->refusal, "host-unknown") == 0;
    if (refused) {
        /* Retrying fast cannot fix a wrong secret or a domain held by
         * another instance; an operator has to act. */
        backoff_to_max(&cl->bo);
    }
    double delay = backoff_next(&cl->bo);
    if (refused && delay < cl->cfg.backoff_max / 2)
        delay = cl->cfg.backoff_max / 2;
    if (refused) {
        const char *hint = "";
        if (strcmp(cl->refusal, "not-authorized") == 0)
            hint = " (wrong secret?)";
        else if (strcmp(cl->refusal, "conflict") == 0)
            hint = " (is another component connected for this domain?)";
        else if (strcmp(cl->refusal, "host-unknown") == 0)
            hint = " (is the domain declared as a component on the server?)";
        log_error("component link refused by %s:%d: %s%s%s%s; retrying in %.1fs", cl->host,
                  cl->cfg.port, cl->refusal, hint, cl->refusal_text[0] ? ": " : "",
                  cl->refusal_text, delay);
    } else if (cl->refusal[0]) {
        log_msg(lvl, "%s (server said %s); reconnecting in %.1fs", what, cl->refusal, delay);
    } else {
        log_msg(lvl, "%s; reconnecting in %.1fs", what, delay);
    }
    cl->refusal[0] = cl->refusal_text[0] = '\0';
    cl->state = COMPLINK_WAITING;
    arm_timer(cl, delay);
}

/* ---- the stream ---- */

int complink_handshake_digest(const char *id, const char *secret, char hex[41])
{
    /* XEP-0114: hex SHA-1 of the stream id followed by the secret. */
    size_t idlen = strlen(id), slen = strlen(secret);
    char *in = malloc(idlen + slen + 1);
    unsigned char digest[20];
    if (!in)
        return -1;
    memcpy(in, id, idlen);
    memcpy(in + idlen, secret, slen);
    int rc = gnutls_hash_fast(GNUTLS_DIG_SHA1, in, idlen + slen, digest);
    /* The secret must not linger in freed memory. */
    memset(in, 0, idlen + slen);
    free(in);
    if (rc < 0)
        return -1;
    for (int i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

static void send_handshake(complink *cl, const char *id)
{
    char hex[41];
    if (complink_handshake_digest(id, cl->secret, hex) < 0) {
        xstream_close(cl->xs, "internal-server-error", NULL);
        return;
    }
    char msg[80];
    int n = snprintf(msg, sizeof msg, "<handshake>%s</handshake>", hex);
    xstream_send_raw(cl->xs, msg, (size_t)n);
}

static void s_open(void *ud, xml_node *header)
{
    complink *cl = ud;
    const char *id = xml_attr(header, "id");
    if (cl->state == COMPLINK_HANDSHAKE && id && *id) {
        send_handshake(cl, id);
    } else {
        log_warn("component link: server stream header has no id");
        xstream_close(cl->xs, "invalid-id", NULL);
    }
    xml_free(header);
}

static void note_stream_error(complink *cl, xml_node *err)
{
    const char *cond = "undefined-condition";
    for (xml_node *c = xml_first_child(err); c; c = xml_next(c)) {
        if (xml_is_text(c) || !xml_ns(c) || strcmp(xml_ns(c), NS_STREAM_ERRORS) != 0)
            continue;
        if (strcmp(xml_name(c), "text") == 0) {
            const char *t = xml_text(c);
            snprintf(cl->refusal_text, sizeof cl->refusal_text, "%s", t ? t : "");
        } else {
            cond = xml_name(c);
        }
    }
    snprintf(cl->refusal, sizeof cl->refusal, "%s", cond);
}

static void s_stanza(void *ud, xml_node *stanza)
{
    complink *cl = ud;
    const char *name = xml_name(stanza);
    const char *ns = xml_ns(stanza);
    if (ns && strcmp(ns, NS_STREAMS) == 0) {
        if (strcmp(name, "error") == 0)
            note_stream_error(cl, stanza);
        xml_free(stanza);
        return;
    }
    if (cl->state == COMPLINK_HANDSHAKE) {
        if (strcmp(name, "handshake") == 0) {
            ev_timer_stop(cl->loop, &cl->timer);
            cl->state = COMPLINK_READY;
            cl->ready_at = ev_now(cl->loop);
            cl->sessions++;
            cl->session_stanzas = 0;
            log_info("component link ready: %s via %s:%d", cl->domain, cl->host, cl->cfg.port);
            if (cl->cb.on_ready)
                cl->cb.on_ready(cl->ud);
        } else {
            log_warn("component link: unexpected <%s/> before the handshake", name);
        }
        xml_free(stanza);
        return;
    }
    if (cl->state == COMPLINK_READY)
        cl->session_stanzas++;
    if (cl->state == COMPLINK_READY && cl->cb.on_stanza)
        cl->cb.on_stanza(cl->ud, stanza);
    else
        xml_free(stanza);
}

static void s_dropped(void *ud, xml_node *shell, const char *why)
{
    complink *cl = ud;
    log_warn("skipped a <%s/> from %s: %s", xml_name(shell),
             xml_attr(shell, "from") ? xml_attr(shell, "from") : "?", why);
    if (cl->state == COMPLINK_READY && cl->cb.on_dropped)
        cl->cb.on_dropped(cl->ud, shell, why);
    else
        xml_free(shell);
}

static const char *close_reason_text(xstream_close_reason why)
{
    switch (why) {
    case XSTREAM_CLOSED_LOCAL:
        return "closed by us";
    case XSTREAM_CLOSED_PEER:
        return "server closed the stream";
    case XSTREAM_CLOSED_EOF:
        return "server closed the connection";
    case XSTREAM_CLOSED_IO_ERROR:
        return "I/O error";
    case XSTREAM_CLOSED_BAD_INPUT:
        return "bad input from the server";
    case XSTREAM_CLOSED_TIMEOUT:
        return "close timed out";
    case XSTREAM_CLOSED_TLS:
        return "TLS failed";
    }
    return "?";
}

static void s_closed(void *ud, xstream_close_reason why, const char *detail)
{
    complink *cl = ud;
    bool was_ready = cl->state == COMPLINK_READY;
    xstream_free(cl->xs);
    cl->xs = NULL;
    if (cl->state == COMPLINK_STOPPING) {
        ev_timer_stop(cl->loop, &cl->timer);
        cl->state = COMPLINK_STOPPED;
        log_info("component link closed");
        if (cl->cb.on_stopped)
            cl->cb.on_stopped(cl->ud);
        return;
    }
    if (was_ready) {
        /* Bad input ends one stream; the next starts clean. Under an attack
         * that got through the parser, a stream that had been working comes
         * back at once instead of backing off further each time. */
        bool curable = why == XSTREAM_CLOSED_BAD_INPUT && cl->session_stanzas > 0;
        backoff_session_ended(&cl->bo, ev_now(cl->loop) - cl->ready_at, STABLE_SESSION, curable);
    }
    char what[400];
    snprintf(what, sizeof what, "component link %s: %s%s%s", was_ready ? "lost" : "failed",
             close_reason_text(why), detail ? ": " : "", detail ? detail : "");
    cl->state = COMPLINK_WAITING;
    if (was_ready && cl->cb.on_down)
        cl->cb.on_down(cl->ud);
    schedule_retry(cl, LOG_LVL_WARN, what);
}

/* ---- connecting ---- */

static void connected(complink *cl, int fd)
{
    static const xstream_callbacks xcb = {s_open, s_stanza, s_closed, s_dropped, NULL, NULL};
    cl->xs = xstream_new(cl->loop, fd, &cl->cfg.stream, &xcb, cl);
    if (!cl->xs) {
        close(fd);
        schedule_retry(cl, LOG_LVL_ERROR, "component link: out of memory");
        return;
    }
    cl->state = COMPLINK_HANDSHAKE;
    cl->refusal[0] = cl->refusal_text[0] = '\0';
    char hdr[600];
    int n = snprintf(hdr, sizeof hdr,
                     "<?xml version='1.0'?><stream:stream xmlns='" NS_COMPONENT
                     "' xmlns:stream='" NS_STREAMS "' to='%s'>",
                     cl->domain);
    xstream_send_raw(cl->xs, hdr, (size_t)n);
}

static void on_dialed(void *ud, int fd, const char *error)
{
    complink *cl = ud;
    cl->dialing = NULL;
    if (fd >= 0) {
        connected(cl, fd);
        return;
    }
    ev_timer_stop(cl->loop, &cl->timer);
    schedule_retry(cl, LOG_LVL_WARN, error);
}

static void attempt(complink *cl)
{
    cl->state = COMPLINK_CONNECTING;
    /* One deadline covers resolving, connecting and the handshake. */
    arm_timer(cl, cl->cfg.connect_timeout);
    cl->dialing = dial_host(cl->loop, cl->host, cl->cfg.port, 0, on_dialed, cl);
    if (!cl->dialing)
        schedule_retry(cl, LOG_LVL_ERROR, "component link: cannot start connecting");
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    complink *cl = w->data;
    switch (cl->state) {
    case COMPLINK_WAITING:
        attempt(cl);
        break;
    case COMPLINK_RESOLVING:
    case COMPLINK_CONNECTING:
        schedule_retry(cl, LOG_LVL_WARN, "component link: connection timed out");
        break;
    case COMPLINK_HANDSHAKE:
        /* s_closed schedules the retry. */
        xstream_close(cl->xs, "connection-timeout", "handshake not completed in time");
        break;
    case COMPLINK_STOPPING:
        /* xstream's own close timeout ends this; nothing to add. */
        break;
    default:
        break;
    }
}

/* ---- public ---- */

complink *complink_new(struct ev_loop *loop, const complink_config *cfg,
                       const complink_callbacks *cb, void *ud)
{
    complink *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->host = strdup(cfg->host);
    cl->domain = strdup(cfg->domain);
    cl->secret = strdup(cfg->secret);
    if (!cl->host || !cl->domain || !cl->secret) {
        complink_free(cl);
        return NULL;
    }
    cl->loop = loop;
    cl->cfg = *cfg;
    cl->cfg.host = cl->host;
    cl->cfg.domain = cl->domain;
    cl->cfg.secret = cl->secret;
    cl->cb = *cb;
    cl->ud = ud;
    backoff_init(&cl->bo, cfg->backoff_min, cfg->backoff_max, 0);
    ev_init(&cl->timer, on_timer);
    cl->timer.data = cl;
    return cl;
}

void complink_free(complink *cl)
{
    if (!cl)
        return;
    if (cl->loop) {
        ev_timer_stop(cl->loop, &cl->timer);
        drop_connect(cl);
    }
    if (cl->xs)
        xstream_free(cl->xs);
    if (cl->secret)
        memset(cl->secret, 0, strlen(cl->secret));
    free(cl->host);
    free(cl->domain);
    free(cl->secret);
    free(cl);
}

void complink_start(complink *cl)
{
    if (cl->state == COMPLINK_IDLE || cl->state == COMPLINK_STOPPED)
        attempt(cl);
}

void complink_stop(complink *cl)
{
    switch (cl->state) {
    case COMPLINK_HANDSHAKE:
    case COMPLINK_READY:
        cl->state = COMPLINK_STOPPING;
        ev_timer_stop(cl->loop, &cl->timer);
        xstream_close(cl->xs, NULL, NULL);
        return;
    case COMPLINK_STOPPING:
    case COMPLINK_STOPPED:
        return;
    default:
        break;
    }
    ev_timer_stop(cl->loop, &cl->timer);
    drop_connect(cl);
    cl->state = COMPLINK_STOPPED;
    if (cl->cb.on_stopped)
        cl->cb.on_stopped(cl->ud);
}

buf *complink_out_begin(complink *cl)
{
    return cl->state == COMPLINK_READY && cl->xs ? xstream_out_begin(cl->xs) : NULL;
}

void complink_out_commit(complink *cl)
{
    if (cl->xs)
        xstream_out_commit(cl->xs);
}

size_t complink_out_queued(const complink *cl)
{
    return cl->xs ? xstream_queued(cl->xs) : 0;
}

complink_state complink_get_state(const complink *cl)
{
    return cl->state;
}

void complink_set_stream_options(complink *cl, const xstream_options *opt)
{
    cl->cfg.stream = *opt;
    if (cl->xs)
        xstream_set_options(cl->xs, opt);
}

unsigned complink_sessions(const complink *cl)
{
    return cl->sessions;
}
