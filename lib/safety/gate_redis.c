/* The gate's shared state in Redis: one script call per checked stanza,
 * the script kept loaded, and the community spam-domain list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "safety/gate_internal.h"

/* The script runs atomically in Redis, so two component processes judging
 * the same sender at once cannot both take the last token. Time comes from
 * Redis (TIME), not from the callers, whose clocks may disagree.
 *
 * KEYS: 1 ban:jid:<bare>, 2 ban:domain:<dom>, 3 spamdomains, 4 mute:<bare>,
 *       5 rl:<class>:jid:<bare>, 6 rl:<class>:dom:<dom>, 7 rlv:<bare>,
 *       8 rl:<class>:room:<room>:jid:<bare> (only with the room's limit)
 * ARGV: 1 domain, 2 check the spam list (0/1), 3 mute applies (0/1),
 *       4 jid ms/token, 5 jid burst, 6 dom ms/token, 7 dom burst,
 *       8 violations that mute, 9 violation window (s), 10 mute (s),
 *       11 room ms/token, 12 room burst (both absent: no room limit)
 * Returns {verdict, reason, ttl ms}: the verdict numbers are gate_verdict's;
 * for non-ban verdicts the ttl is the mute's (-2: not muted). */
static const char script[] =
    /* Redis before 5 replicates scripts verbatim and refuses writes after
     * TIME unless told to replicate effects; later versions always do. */
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local r = redis.call('GET', KEYS[1])\n"
    "if r then return {1, r, redis.call('PTTL', KEYS[1])} end\n"
    "r = redis.call('GET', KEYS[2])\n"
    "if r then return {2, r, redis.call('PTTL', KEYS[2])} end\n"
    "if ARGV[2] == '1' and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then\n"
    "  return {3, 'on the spam-domain list', -1} end\n"
    "local mttl = redis.call('PTTL', KEYS[4])\n"
    "if mttl ~= -2 and ARGV[3] == '1' then\n"
    "  return {5, redis.call('GET', KEYS[4]) or 'muted', mttl} end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local function level(key, ms, burst)\n"
    "  if ms <= 0 then return nil end\n"
    "  local v = redis.call('HMGET', key, 't', 'ts')\n"
    "  local tok, ts = tonumber(v[1]), tonumber(v[2])\n"
    "  if not tok then return burst end\n"
    "  return math.min(burst, tok + (now - ts) / ms)\n"
    "end\n"
    "local function take(key, tok, ms, burst)\n"
    "  if not tok then return end\n"
    "  redis.call('HSET', key, 't', tostring(tok - 1), 'ts', now)\n"
    "  redis.call('PEXPIRE', key, math.ceil(burst * ms) + 1000)\n"
    "end\n"
    "local mj, bj = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local md, bd = tonumber(ARGV[6]), tonumber(ARGV[7])\n"
    "local mr, br = tonumber(ARGV[11] or '0'), tonumber(ARGV[12] or '0')\n"
    "local tj, td = level(KEYS[5], mj, bj), level(KEYS[6], md, bd)\n"
    "local tr = level(KEYS[8], mr, br)\n"
    "local over = 0\n"
    "if tj and tj < 1 then over = 6 elseif td and td < 1 then over = 7\n"
    "elseif tr and tr < 1 then over = 9 end\n"
    "if over == 0 then\n"
    "  take(KEYS[5], tj, mj, bj)\n"
    "  take(KEYS[6], td, md, bd)\n"
    "  take(KEYS[8], tr, mr, br)\n"
    "  return {0, '', mttl}\n"
    "end\n"
    /* The room's limit is its owner's choice: going over it must not earn
     * a mute on the whole service, so it counts no violation. */
    "if over == 9 then return {9, '', mttl} end\n"
    "local n = redis.call('INCR', KEYS[7])\n"
    "if n == 1 then redis.call('EXPIRE', KEYS[7], ARGV[9]) end\n"
    "local th = tonumber(ARGV[8])\n"
    "if th > 0 and n >= th then\n"
    "  redis.call('SET', KEYS[4], 'repeated rate-limit violations', 'EX', ARGV[10])\n"
    "  redis.call('DEL', KEYS[7])\n"
    "  return {8, 'repeated rate-limit violations', tonumber(ARGV[10]) * 1000}\n"
    "end\n"
    "return {over, '', mttl}\n";

_Static_assert(GATE_BANNED_JID == 1 && GATE_BANNED_DOMAIN == 2 && GATE_SPAM_DOMAIN == 3 &&
                   GATE_MUTED == 5 && GATE_RATE_JID == 6 && GATE_RATE_DOMAIN == 7 &&
                   GATE_MUTED_NOW == 8 && GATE_RATE_ROOM == 9,
               "the script returns gate_verdict numbers");

/* Small enough not to pull in libm. */
static double dmax(double a, double b)
{
    return a > b ? a : b;
}

void gate_script_args(gate *g)
{
    for (int c = 0; c < GATE_C__COUNT; c++) {
        const gate_limit *lj = &g->cfg.jid[c], *ld = &g->cfg.dom[c];
        char(*a)[24] = g->args[c];
        snprintf(a[0], sizeof a[0], "%d", gate_mute_applies((gate_class)c) ? 1 : 0);
        snprintf(a[1], sizeof a[1], "%.3f", lj->interval * 1000);
        snprintf(a[2], sizeof a[2], "%.3f", lj->burst);
        snprintf(a[3], sizeof a[3], "%.3f", ld->interval * 1000);
        snprintf(a[4], sizeof a[4], "%.3f", ld->burst);
        snprintf(a[5], sizeof a[5], "%u", g->cfg.violations);
        snprintf(a[6], sizeof a[6], "%.0f", dmax(1, g->cfg.violation_window));
        snprintf(a[7], sizeof a[7], "%.0f", dmax(1, g->cfg.mute_seconds));
    }
}

static void on_reply(void *ud, redisReply *reply)
{
    gate_entry *e = ud;
    gate *g = e->g;
    if (e->orphan) {
        gate_entry_free(e);
        return;
    }
    if (rdb_error(reply) && strncmp(rdb_error(reply), "NOSCRIPT", 8) == 0 && !e->eval) {
        /* Redis lost the script (restart, SCRIPT FLUSH): send it whole
         * once; the entry keeps its place in the FIFO. */
        e->eval = true;
        g->sha[0] = '\0';
        if (gate_send_check(g, e) == 0)
            return;
        reply = NULL;
    }
    e->waiting = false;
    size_t n;
    if (rdb_is_array(reply, &n) && n == 3 && reply->element[0]->type == REDIS_REPLY_INTEGER) {
        long long v = reply->element[0]->integer;
        long long ttl = rdb_int(reply->element[2], 0);
        const char *rs = rdb_str(reply->element[1]);
        e->v = v >= 0 && v <= GATE_RATE_ROOM ? (gate_verdict)v : GATE_PASS;
        if (e->v == GATE_RATE_ROOM)
            snprintf(e->reason, sizeof e->reason, "%u messages a minute", e->room_rate);
        else if (rs)
            snprintf(e->reason, sizeof e->reason, "%s", rs);
        e->ttl = ttl > 0 ? (double)ttl / 1000.0 : 0;
        gate_cache_verdict(g, e, ttl);
    } else {
        /* Lost connection or a refusal: judge here rather than drop. */
        if (rdb_error(reply))
            log_warn("gate: Redis refused the check: %s", rdb_error(reply));
        else if (!reply && !g->lost_logged)
            log_info("gate: checks in flight when Redis went away are judged locally");
        g->lost_logged |= !reply;
        gate_judge_entry(g, e);
    }
    gate_drain(g);
}

int gate_send_check(gate *g, gate_entry *e)
{
    char k[7][1200], rk[4500];
    const char *p = g->prefix;
    char cn[64];
    snprintf(cn, sizeof cn, "%s%s", g->cfg.rate_scope ? g->cfg.rate_scope : "",
             gate_class_name(e->cls));
    keys_format(k[0], sizeof k[0], p, KEY_BAN_JID, e->c->from_bare);
    keys_format(k[1], sizeof k[1], p, KEY_BAN_DOMAIN, e->c->from.domain);
    keys_format(k[2], sizeof k[2], p, KEY_SPAM_DOMAINS, NULL);
    keys_format(k[3], sizeof k[3], p, KEY_MUTE, e->c->from_bare);
    snprintf(k[4], sizeof k[4], "%s" KEY_RATE "%s" KEY_RATE_JID "%s", p, cn, e->c->from_bare);
    snprintf(k[5], sizeof k[5], "%s" KEY_RATE "%s" KEY_RATE_DOMAIN "%s", p, cn, e->c->from.domain);
    keys_format(k[6], sizeof k[6], p, KEY_RATE_VIOLATIONS, e->c->from_bare);
    const char *spam =
        g->cfg.domains_enabled && !gate_in_list(g->allow, e->c->from.domain) ? "1" : "0";
    /* The room's bucket rides in the same script call (one round trip per
     * stanza); without a room limit the call is the same as before. */
    char rms[32], rburst[16];
    if (e->room) {
        snprintf(rk, sizeof rk, "%s" KEY_RATE "%s" KEY_RATE_ROOM "%s" KEY_RATE_JID "%s", p, cn,
                 e->room, e->c->from_bare);
        snprintf(rms, sizeof rms, "%.3f", 60000.0 / e->room_rate);
        snprintf(rburst, sizeof rburst, "%u", e->room_rate);
    }
    const char *argv[3 + 8 + 12];
    int n = 0;
    bool sha = g->sha[0] && !e->eval;
    argv[n++] = sha ? "EVALSHA" : "EVAL";
    argv[n++] = sha ? g->sha : script;
    argv[n++] = e->room ? "8" : "7";
    for (int i = 0; i < 7; i++)
        argv[n++] = k[i];
    if (e->room)
        argv[n++] = rk;
    argv[n++] = e->c->from.domain;
    argv[n++] = spam;
    for (int i = 0; i < GATE_CLASS_ARGS; i++)
        argv[n++] = g->args[e->cls][i];
    if (e->room) {
        argv[n++] = rms;
        argv[n++] = rburst;
    }
    size_t lens[3 + 8 + 12];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (rdb_command_argv(g->r, on_reply, e, n, argv, lens) < 0)
        return -1;
    e->waiting = true;
    return 0;
}

/* ---- Redis state and the spam list ---- */

static void on_script_loaded(void *ud, redisReply *reply)
{
    gate *g = ud;
    if (g->closed)
        return;
    if (rdb_str(reply) && reply->len == 40)
        memcpy(g->sha, reply->str, 41);
    else
        log_warn("gate: SCRIPT LOAD failed; sending the script whole");
}

static void push_spam(gate *g);

void gate_redis_state(gate *g, rdb_state state)
{
    bool up = state == RDB_UP;
    if (up == g->redis_up)
        return;
    g->redis_up = up;
    if (up) {
        g->sha[0] = '\0';
        g->lost_logged = false;
        rdb_command(g->r, on_script_loaded, g, "SCRIPT LOAD %s", script);
        push_spam(g);
        if (g->was_local)
            log_info("gate: Redis is back; limits, bans and mutes are shared again");
        g->was_local = false;
    } else if (state == RDB_DOWN && !g->was_local) {
        g->was_local = true;
        log_warn("gate: Redis is away; rate limits run on local buckets and bans/mutes on the "
                 "last decisions Redis gave");
    }
}

static void on_spam_reply(void *ud, redisReply *reply)
{
    (void)ud;
    if (rdb_error(reply))
        log_warn("gate: storing the spam-domain list failed: %s", rdb_error(reply));
}

/* Replaces {p}safety:spamdomains with the local list: filled under a
 * temporary key, then RENAMEd, so readers never see half a list. Only done
 * when a list was loaded from a file: without one, the set in Redis (maybe
 * kept by another instance) is left alone. */
static void push_spam(gate *g)
{
    if (!g->r || !g->redis_up || !g->have_spam_file)
        return;
    char key[512], tmp[560];
    keys_format(key, sizeof key, g->prefix, KEY_SPAM_DOMAINS, NULL);
    keys_format(tmp, sizeof tmp, g->prefix, KEY_SPAM_LOADING, NULL);
    rdb_command(g->r, on_spam_reply, NULL, "DEL %s", tmp);
    const char *argv[2 + 256];
    size_t lens[2 + 256];
    int n = 0;
    size_t it = 0;
    const char *d;
    void *v;
    bool any = false;
    for (;;) {
        bool more = hmap_next(&g->spam, &it, &d, &v);
        if (more) {
            if (n == 0) {
                argv[n++] = "SADD";
                argv[n++] = tmp;
            }
            argv[n++] = d;
        }
        if (n && (!more || n == 2 + 256)) {
            for (int i = 0; i < n; i++)
                lens[i] = strlen(argv[i]);
            rdb_command_argv(g->r, on_spam_reply, NULL, n, argv, lens);
            any = true;
            n = 0;
        }
        if (!more)
            break;
    }
    if (any)
        rdb_command(g->r, on_spam_reply, NULL, "RENAME %s %s", tmp, key);
    else
        rdb_command(g->r, on_spam_reply, NULL, "DEL %s", key);
}

long gate_load_spam_domains(gate *g, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    hmap fresh = HMAP_INIT;
    char line[2048];
    long n = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h)
            *h = '\0';
        char *a = line, *b = line + strlen(line);
        while (*a == ' ' || *a == '\t')
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r'))
            b--;
        *b = '\0';
        if (!*a)
            continue;
        jid j;
        if (jid_parse(a, &j) != JID_OK || j.local || j.resource) {
            if (j.domain)
                jid_free(&j);
            log_warn("%s:%ld: '%s' is not a domain; skipped", path, lineno, a);
            continue;
        }
        char *d = j.domain;
        j.domain = NULL;
        jid_free(&j);
        if (hmap_get(&fresh, d) || hmap_put(&fresh, d, d) < 0) {
            free(d);
            continue;
        }
        n++;
    }
    fclose(f);
    size_t it = 0;
    void *v;
    while (hmap_next(&g->spam, &it, NULL, &v))
        free(v);
    hmap_free(&g->spam);
    g->spam = fresh;
    g->have_spam_file = true;
    push_spam(g);
    return n;
}
