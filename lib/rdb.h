/* rdb: the Redis connection, asynchronous, on hiredis and libev.
 *
 * Keeps one connection up with reconnect and backoff, pings it to notice a
 * silent failure, and exposes a health state that features consult: when
 * Redis is away, commands are refused at once (rdb_command returns -1) so the
 * caller can take its documented local fallback instead of waiting.
 *
 * Ownership: replies passed to callbacks belong to hiredis and are valid only
 * during the callback. A request's ud moves with the request: when
 * rdb_command returns 0, cb runs exactly once, later, from the loop (reply
 * NULL when no answer will come: the connection was lost, or rdb_free), and
 * whatever ud holds is the callback's to free. When it returns -1 nothing
 * was sent, cb never runs and ud is still the caller's, to free at once.
 * A module that wraps this in a send of its own says at its request
 * struct's declaration who frees it (the desk's struct pend, in
 * desk/internal.h: the send, always).
 * rdb_free runs the callbacks still due: free rdb before whatever those
 * callbacks use. */
#ifndef STOA_RDB_H
#define STOA_RDB_H

#include <ev.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rdb rdb;

typedef enum { RDB_DOWN = 0, RDB_CONNECTING, RDB_UP } rdb_state;

typedef struct rdb_config {
    const char *host; /* IP address or path of a unix socket (starts with '/') */
    int port;
    const char *password; /* NULL or "": no AUTH */
    int db;
    double backoff_min, backoff_max;
    double ping_interval; /* seconds between health pings */
    /* A subscriber (NULL: an ordinary connection): the connection only
     * SUBSCRIBEs to this channel, is up once Redis confirms it, and hands
     * each message to on_message (with the state callback's ud). It carries
     * no commands (rdb_command refuses them) and no PINGs, which a
     * subscribed connection cannot answer in hiredis 0.14: TCP keepalive
     * notices a dead peer instead. */
    const char *subscribe;
    void (*on_message)(void *ud, const char *msg, size_t len);
} rdb_config;

/* reply is NULL when the connection was lost before the answer came. */
typedef void (*rdb_reply_cb)(void *ud, redisReply *reply);
typedef void (*rdb_state_cb)(void *ud, rdb_state state);

rdb *rdb_new(struct ev_loop *loop, const rdb_config *cfg, rdb_state_cb on_state, void *ud);
void rdb_start(rdb *r);
void rdb_free(rdb *r);
rdb_state rdb_get_state(const rdb *r);
const char *rdb_state_name(rdb_state s);
/* Sends a command; cb may be NULL. Returns 0, or -1 when Redis is not up. */
int rdb_command(rdb *r, rdb_reply_cb cb, void *ud, const char *fmt, ...);
int rdb_command_argv(rdb *r, rdb_reply_cb cb, void *ud, int argc, const char **argv,
                     const size_t *argvlen);

/* ---- reading replies ----
 * Every reader takes NULL (a lost reply, an element that is not there) and
 * answers "nothing" for it, so a reply is read in one expression without a
 * check per level. What they return points into the reply. */
/* Whether r is an array; with n not NULL, also stores its length (0 when
 * it is not one). */
bool rdb_is_array(const redisReply *r, size_t *n);
/* The i-th element of an array, or NULL. */
const redisReply *rdb_elem(const redisReply *r, size_t i);
/* The text of a string or status reply, or NULL. */
const char *rdb_str(const redisReply *r);
/* An integer reply, or a string reply that holds one; else def. */
long long rdb_int(const redisReply *r, long long def);
/* The value after the string `name` in a flat array of name/value pairs
 * (HGETALL, a stream entry's fields), or NULL. */
const char *rdb_field(const redisReply *r, const char *name);
/* The text of an error reply, or NULL for anything else (NULL included). */
const char *rdb_error(const redisReply *r);

#endif
