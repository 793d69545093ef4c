#include "resolve.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared between the loop and one resolver thread. Whichever side finishes
 * last frees it: the thread when the request was cancelled, the loop when
 * the answer was delivered. */
struct resolve_req {
    struct ev_loop *loop;
    ev_async done;
    pthread_mutex_t mu;
    bool finished, cancelled;
    char *host;
    char port[8];
    int status;
    struct addrinfo *res;
    resolve_cb cb;
    void *ud;
};

static void req_destroy(resolve_req *r)
{
    if (r->res)
        freeaddrinfo(r->res);
    pthread_mutex_destroy(&r->mu);
    free(r->host);
    free(r);
}

static void on_done(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    resolve_req *r = w->data;
    ev_async_stop(loop, w);
    /* The thread may still be inside its unlock; wait for it to let go. */
    pthread_mutex_lock(&r->mu);
    pthread_mutex_unlock(&r->mu);
    struct addrinfo *res = r->res;
    r->res = NULL;
    r->cb(r->ud, r->status, res);
    req_destroy(r);
}

static void *resolver(void *arg)
{
    resolve_req *r = arg;
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    struct addrinfo *res = NULL;
    int status = getaddrinfo(r->host, r->port, &hints, &res);
    pthread_mutex_lock(&r->mu);
    r->status = status;
    r->res = status == 0 ? res : NULL;
    r->finished = true;
    bool cancelled = r->cancelled;
    if (!cancelled)
        ev_async_send(r->loop, &r->done);
    pthread_mutex_unlock(&r->mu);
    if (cancelled)
        req_destroy(r);
    return NULL;
}

resolve_req *resolve_start(struct ev_loop *loop, const char *host, int port, resolve_cb cb,
                           void *ud)
{
    resolve_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->host = strdup(host);
    if (!r->host) {
        free(r);
        return NULL;
    }
    snprintf(r->port, sizeof r->port, "%d", port);
    r->loop = loop;
    r->cb = cb;
    r->ud = ud;
    pthread_mutex_init(&r->mu, NULL);
    ev_async_init(&r->done, on_done);
    r->done.data = r;
    ev_async_start(loop, &r->done);

    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&tid, &attr, resolver, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        ev_async_stop(loop, &r->done);
        req_destroy(r);
        return NULL;
    }
    return r;
}

void resolve_cancel(resolve_req *r)
{
    if (!r)
        return;
    ev_async_stop(r->loop, &r->done);
    pthread_mutex_lock(&r->mu);
    bool finished = r->finished;
    r->cancelled = true;
    pthread_mutex_unlock(&r->mu);
    /* A finished thread will not touch r again; otherwise it frees r itself. */
    if (finished)
        req_destroy(r);
}
