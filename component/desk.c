#include "desk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "hmap.h"
#include "jid.h"
#include "log.h"
#include "ns.h"
#include "report.h"
#include "stanza.h"
#include "xmlparse.h"
#include "xtime.h"

#define SESSIONS_MAX 1024
#define SESSION_TTL 600.0
#define LIST_MAX 50
#define AUDIT_SHOW 50
#define MAXARGS 128

typedef enum { WHO_ANY, WHO_MANAGER, WHO_MOD } who_may;

typedef struct cmd {
    const char *node, *name;
    who_may who;
} cmd;

/* Every command, in the order clients list them. */
static const cmd commands[] = {
    {"report", "Report abuse", WHO_ANY},
    {"list", "List open reports", WHO_MANAGER},
    {"view", "View a report", WHO_MANAGER},
    {"dismiss", "Dismiss a report", WHO_MANAGER},
    {"warn", "Warn a user", WHO_MANAGER},
    {"mute", "Mute a user", WHO_MANAGER},
    {"unmute", "Unmute a user", WHO_MOD},
    {"kick", "Kick a user", WHO_MANAGER},
    {"ban-room", "Ban a user from a room", WHO_MANAGER},
    {"ban", "Ban a user from the service", WHO_MOD},
    {"block-domain", "Block a whole domain", WHO_MOD},
    {"erase", "Erase everything about a JID", WHO_MOD},
    {"audit", "Read the audit log", WHO_MANAGER},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

typedef struct session {
    char id[17]; /* key of desk->sessions */
    char *owner; /* full JID that started it */
    const cmd *c;
    int stage;
    char *report, *target, *room; /* view: the report being acted on */
    double expires;
} session;

typedef struct pend pend;

/* An erase runs as several scripts; their counts add up here. */
enum { ER_REPORTS, ER_KEYS, ER_MSGS, ER_FAILED, ER_LEFT, ER__N };

struct desk {
    char *domain;
    out sink;
    muc *rooms;
    rdb *redis;
    char *prefix;
    char **mods, **servers;
    double retention, window;
    unsigned threshold, per_minute, audit_max;
    pend *pending; /* waiting for Redis; orphaned when the desk goes */
    hmap sessions;
    void (*blocklist_changed)(void *ud, const char *owner);
    void *blocklist_ud;
};

/* What a Redis reply needs to finish a request.
 *
 * Ownership, the one rule for every pend: pend_new links it to the desk and
 * the caller fills it; send_argv (and eval, fire) consumes it whatever
 * happens. On success on_reply frees it after the reply; on failure it is
 * freed before send_argv returns -1. So a caller prepares everything first,
 * sends last, and never reads p after the send: a refused send (Redis away)
 * has already freed it. A pend that is never sent is freed with pend_free. */
struct pend {
    desk *d; /* NULL once the desk is gone */
    pend *next, **pprev;
    void (*done)(pend *p, redisReply *r);
    xml_node *iq; /* the request to answer, or NULL */
    char *actor;  /* bare JID of the requester */
    bool mod;
    char **rooms; /* rooms the requester manages (non-moderators) */
    char *sid;    /* ad-hoc session id */
    char *a, *b, *c;
    int *shared;    /* reports of one stanza: replies still to come */
    long long *acc; /* erase: counts shared by its calls (freed by the last) */
    int n;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- small helpers ---- */

static bool strv_has(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static char *key(const desk *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *key(const desk *d, const char *fmt, ...)
{
    buf b = BUF_INIT;
    buf_puts(&b, d->prefix ? d->prefix : "");
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_puts(&b, tmp);
    char *s = buf_strdup(&b);
    buf_free(&b);
    return s;
}

static void emit(desk *d, xml_node *st)
{
    if (!st)
        return;
    if (out_stanza(&d->sink, st) < 0)
        log_debug("link not ready; desk stanza dropped");
    xml_free(st);
}

static void reply_error(desk *d, const xml_node *st, stanza_error e, const char *text)
{
    emit(d, stanza_error_reply(st, e, text, NULL));
}

static bool is_mod(const desk *d, const char *bare)
{
    return strv_has(d->mods, bare);
}

/* A chat message from the service (or `from`) to `to`. */
static void send_chat(desk *d, const char *from, const char *to, const char *body)
{
    xml_node *m = xml_new("message", NULL);
    xml_node *b = m ? xml_append_new(m, "body", NULL) : NULL;
    if (!b || xml_set_attr(m, "from", from ? from : d->domain) < 0 ||
        xml_set_attr(m, "to", to) < 0 || xml_set_attr(m, "type", "chat") < 0 ||
        xml_append_text(b, body) < 0) {
        xml_free(m);
        return;
    }
    emit(d, m);
}

static void notify_mods(desk *d, const char *body)
{
    for (size_t i = 0; d->mods && d->mods[i]; i++)
        send_chat(d, NULL, d->mods[i], body);
}

/* ---- Redis ---- */

static void pend_unlink(pend *p)
{
    if (p->pprev) {
        *p->pprev = p->next;
        if (p->next)
            p->next->pprev = p->pprev;
    }
    p->pprev = NULL;
    p->next = NULL;
}

static void pend_free(pend *p)
{
    pend_unlink(p);
    xml_free(p->iq);
    free(p->actor);
    config_list_free(p->rooms);
    free(p->sid);
    free(p->a);
    free(p->b);
    free(p->c);
    free(p);
}

static pend *pend_new(desk *d, const xml_node *iq, void (*done)(pend *, redisReply *))
{
    pend *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->d = d;
    p->done = done;
    if (iq && !(p->iq = xml_copy(iq))) {
        free(p);
        return NULL;
    }
    p->next = d->pending;
    if (d->pending)
        d->pending->pprev = &p->next;
    d->pending = p;
    p->pprev = &d->pending;
    return p;
}

static void on_reply(void *ud, redisReply *r)
{
    pend *p = ud;
    if (p->d)
        p->done(p, r);
    else if (p->shared && --p->shared[0] == 0)
        free(p->shared);
    else if (p->acc && --p->acc[ER_LEFT] == 0)
        free(p->acc);
    if (p->d && p->acc && p->acc[ER_LEFT] == 0)
        free(p->acc);
    pend_free(p);
}

/* Sends argv to Redis and consumes p (see struct pend): -1 when Redis
 * refused it, p already freed. */
static int send_argv(desk *d, pend *p, int argc, const char **argv)
{
    size_t lens[MAXARGS];
    if (!d->redis || !d->prefix || argc > MAXARGS) {
        if (p)
            pend_free(p);
        return -1;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rdb_command_argv(d->redis, p ? on_reply : NULL, p, argc, argv, lens) < 0) {
        if (p)
            pend_free(p);
        return -1;
    }
    return 0;
}

/* A write nobody waits for. Returns -1 when Redis is away. */
static int fire(desk *d, int argc, const char **argv)
{
    return send_argv(d, NULL, argc, argv);
}

static void audit(desk *d, const char *actor, const char *action, const char *target,
                  const char *room, const char *reason, const char *detail)
{
    char *k = key(d, "desk:audit");
    char max[24];
    snprintf(max, sizeof max, "%u", d->audit_max);
    const char *argv[] = {"XADD",   k,
                          "MAXLEN", "~",
                          max,      "*",
                          "actor",  actor,
                          "action", action,
                          "target", target ? target : "",
                          "room",   room ? room : "",
                          "reason", reason ? reason : "",
                          "detail", detail ? detail : ""};
    if (k && fire(d, 18, argv) < 0)
        log_warn("audit log: Redis away; %s %s %s by %s not recorded", action, target ? target : "",
                 room ? room : "", actor);
    log_info("desk: %s %s %s%s by %s", action, target ? target : "", room ? "in " : "",
             room ? room : "", actor);
    free(k);
}

static const redisReply *elem(const redisReply *r, size_t i)
{
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

static long long int_at(const redisReply *r, size_t i)
{
    const redisReply *e = elem(r, i);
    if (!e)
        return 0;
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return atoll(e->str);
    return 0;
}

static const char *str_at(const redisReply *r, size_t i)
{
    const redisReply *e = elem(r, i);
    return e && e->type == REDIS_REPLY_STRING ? e->str : "";
}

/* ---- Lua scripts: each multi-key step runs in Redis as one command, so
 * the loop waits on one reply and no other instance sees half of it. ---- */

/* ARGV: prefix now retention window threshold per_minute id reporter target
 * room reason text via forwarded n, then n x (logkey entry oid sid). */
static const char lua_file[] =
    "local p,now=ARGV[1],tonumber(ARGV[2]) "
    "local ret,win,thr,fmax=tonumber(ARGV[3]),tonumber(ARGV[4]),tonumber(ARGV[5]),"
    "tonumber(ARGV[6]) "
    "local id,rep,tgt,room=ARGV[7],ARGV[8],ARGV[9],ARGV[10] "
    "local n=tonumber(ARGV[15]) "
    "local fk=p..'desk:flood:'..rep "
    "local f=redis.call('INCR',fk) if f==1 then redis.call('EXPIRE',fk,60) end "
    "if f>fmax then return {-1} end "
    "local rk=p..'desk:report:'..id "
    "local new=redis.call('EXISTS',rk)==0 "
    "if new then "
    " local function esc(s) return (string.gsub(s,'[&<>\"]',{['&']='&amp;',['<']='&lt;',"
    "['>']='&gt;',['\"']='&quot;'})) end "
    " local ev,sids,held={},{},0 "
    " for i=0,n-1 do "
    "  local lk,eid,oid,sid=ARGV[16+4*i],ARGV[17+4*i],ARGV[18+4*i],ARGV[19+4*i] "
    "  table.insert(sids,sid) "
    "  if lk~='' then "
    "   local r=redis.call('XRANGE',lk,eid,eid) "
    "   if r[1] then local fl,h=r[1][2],{} for j=1,#fl,2 do h[fl[j]]=fl[j+1] end "
    "    if oid=='' or h.oid==oid then held=held+1 "
    "     table.insert(ev,'<m sid=\"'..esc(sid)..'\" stamp=\"'..esc(h.stamp or '')..'\" nick=\"'"
    "..esc(h.nick or '')..'\">'..(h.payload or '')..'</m>') end end end end "
    " redis.call('HSET',rk,'target',tgt,'room',room,'reason',ARGV[11],'text',ARGV[12],"
    "'via',ARGV[13],'forwarded',ARGV[14],'reporter',rep,'first',now,'sids',"
    "table.concat(sids,' '),'evidence','<evidence>'..table.concat(ev)..'</evidence>','held',held) "
    "end "
    "local count=redis.call('HINCRBY',rk,'count',1) "
    "redis.call('HSET',rk,'last',now) redis.call('EXPIRE',rk,ret) "
    "redis.call('ZADD',p..'desk:open',now,id) "
    "local tk=p..'desk:by-target:'..tgt redis.call('SADD',tk,id) redis.call('EXPIRE',tk,ret) "
    "local bk=p..'desk:by-reporter:'..rep redis.call('SADD',bk,id) redis.call('EXPIRE',bk,ret) "
    "local distinct,esc=0,0 "
    "if thr>0 then "
    " local ek=p..'desk:reporters:'..tgt "
    " redis.call('ZADD',ek,now,rep) redis.call('ZREMRANGEBYSCORE',ek,'-inf',now-win) "
    " redis.call('EXPIRE',ek,win) distinct=redis.call('ZCARD',ek) "
    " if distinct>=thr and redis.call('SET',p..'safety:mute:'..tgt,'escalated: '..distinct.."
    "' distinct reporters','NX') then esc=1 end "
    "end "
    "return {new and 1 or 0,count,distinct,esc,tonumber(redis.call('HGET',rk,'held'))}";

/* ARGV: prefix max -> id target room reason count last text held, ... */
static const char lua_list[] =
    "local p,max=ARGV[1],tonumber(ARGV[2]) "
    "local ids=redis.call('ZREVRANGE',p..'desk:open',0,999) local out={} "
    "for _,id in ipairs(ids) do "
    " local h=redis.call('HMGET',p..'desk:report:'..id,'target','room','reason','count','last',"
    "'text','held') "
    " if not h[1] then redis.call('ZREM',p..'desk:open',id) "
    " else table.insert(out,id) for k=1,7 do table.insert(out,h[k] or '') end end "
    "end return out";

/* ARGV: prefix id rooms... (rooms: the only rooms allowed; none: any, a
 * service moderator, who alone lifts an escalation mute by dismissing).
 * -> {} gone, {'forbidden'}, or {target, room, unmuted} */
static const char lua_dismiss[] =
    "local p,id=ARGV[1],ARGV[2] local rk=p..'desk:report:'..id "
    "local t,room=redis.call('HGET',rk,'target'),redis.call('HGET',rk,'room') "
    "if not t then redis.call('ZREM',p..'desk:open',id) return {} end "
    "if #ARGV>2 then local ok=false for i=3,#ARGV do if ARGV[i]==room then ok=true end end "
    " if not ok then return {'forbidden'} end end "
    "redis.call('DEL',rk) redis.call('ZREM',p..'desk:open',id) "
    "redis.call('SREM',p..'desk:by-target:'..t,id) "
    "local un,mk=0,p..'safety:mute:'..t local v=redis.call('GET',mk) "
    "if #ARGV==2 and v and string.sub(v,1,9)=='escalated' then "
    "redis.call('DEL',mk,p..'desk:reporters:'..t) "
    "un=1 end return {t,room or '',un}";

/* ARGV: prefix bare pseudonym dokeys, then (logkey oids) per room, oids
 * the person's occupant ids there separated by spaces (the current one and
 * the one messages archived by 0.1.0 and earlier carry). The reports and
 * keys go in the first call (dokeys 1); rooms come in chunks, so no single
 * script holds Redis for the whole service. */
static const char lua_erase[] =
    "local p,bare,ps=ARGV[1],ARGV[2],ARGV[3] local reports,keys=0,0 "
    "if ARGV[4]=='1' then "
    " local ids=redis.call('SUNION',p..'desk:by-target:'..bare,p..'desk:by-reporter:'..ps) "
    " for _,id in ipairs(ids) do reports=reports+redis.call('DEL',p..'desk:report:'..id) "
    "  redis.call('ZREM',p..'desk:open',id) end "
    " keys=redis.call('DEL',p..'desk:by-target:'..bare,p..'desk:by-reporter:'..ps,"
    "p..'desk:reporters:'..bare,p..'desk:flood:'..ps,p..'safety:ublock:'..bare,"
    "p..'safety:ban:jid:'..bare,p..'safety:mute:'..bare) "
    "end "
    "local msgs=0 "
    "for i=5,#ARGV,2 do local lk,cur,oid=ARGV[i],'-',{} "
    " for o in string.gmatch(ARGV[i+1],'%S+') do oid[o]=true end "
    " while true do local b=redis.call('XRANGE',lk,cur,'+','COUNT',500) "
    "  if #b==0 then break end "
    "  for _,e in ipairs(b) do local f=e[2] for j=1,#f,2 do "
    "   if f[j]=='oid' and oid[f[j+1]] then msgs=msgs+redis.call('XDEL',lk,e[1]) end end end "
    "  if #b<500 then break end cur='('..b[#b][1] end end "
    "return {reports,keys,msgs}";

static int eval(desk *d, pend *p, const char *script, int argc, const char **args)
{
    const char *argv[MAXARGS];
    if (argc + 3 > MAXARGS) {
        if (p)
            pend_free(p);
        return -1;
    }
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "0";
    for (int i = 0; i < argc; i++)
        argv[3 + i] = args[i];
    return send_argv(d, p, argc + 3, argv);
}

/* ---- reports ---- */

/* Whether j ("local@domain", no resource) names a room of this service. */
static bool our_room(const desk *d, const char *j)
{
    const char *at = strchr(j, '@');
    return at && at != j && !strchr(j, '/') && strcmp(at + 1, d->domain) == 0;
}

/* Stanza-ids are 16 hex digits, (ms << 12 | seq); archive entries "ms-seq". */
static int sid_entry(const char *sid, char out[48])
{
    if (strlen(sid) != 16 || strspn(sid, "0123456789abcdef") != 16)
        return -1;
    unsigned long long v = strtoull(sid, NULL, 16);
    snprintf(out, 48, "%llu-%llu", v >> 12, v & 0xfff);
    return 0;
}

static void filed_done(pend *p, redisReply *r);
static void done_note(desk *d, const xml_node *iq, const char *node, const char *sid,
                      const char *type, const char *text);

static void answer_filed(desk *d, pend *p)
{
    int *sh = p->shared;
    if (--sh[0] > 0)
        return;
    if (d && p->iq) {
        if (sh[1])
            reply_error(d, p->iq, STANZA_ERR_RESOURCE_CONSTRAINT,
                        "too many reports; try again in a minute");
        else if (sh[2])
            reply_error(d, p->iq, STANZA_ERR_SERVICE_UNAVAILABLE,
                        "reports cannot be stored right now");
        else if (xml_attr(p->iq, "stoa-command"))
            done_note(d, p->iq, "report", xml_attr(p->iq, "stoa-command"), "info",
                      "Thank you. The moderators have your report.");
        else
            emit(d, stanza_iq_result(p->iq));
    }
    free(sh);
}

static void filed_done(pend *p, redisReply *r)
{
    desk *d = p->d;
    int *sh = p->shared;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        log_warn("desk: storing a report failed: %s",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        sh[2]++;
    } else if (int_at(r, 0) < 0) {
        sh[1]++;
    } else {
        long long fresh = int_at(r, 0), distinct = int_at(r, 2), esc = int_at(r, 3);
        long long held = int_at(r, 4);
        /* p->a: id, p->b: target, p->c: "room\treason\ttext" */
        char *room = p->c, *reason = strchr(room, '\t');
        *reason++ = '\0';
        char *text = strchr(reason, '\t');
        *text++ = '\0';
        if (fresh) {
            char body[1600];
            snprintf(
                body, sizeof body,
                "New report %s: %s reported for %s%s%s; %lld message%s of evidence held.%s%.300s%s"
                "\nUse the ad-hoc command \"View a report\" on %s.",
                p->a, p->b, reason, *room ? " in " : "", room, held, held == 1 ? "" : "s",
                *text ? " Reporter says: \"" : "", text, *text ? "\"" : "", d->domain);
            notify_mods(d, body);
        }
        if (esc) {
            unsigned n = muc_silence(d->rooms, NULL, p->b, "muted pending review of reports");
            char body[600];
            snprintf(
                body, sizeof body,
                "%s is now muted service-wide: %lld distinct people reported them. Dismiss the "
                "report or use \"Unmute a user\" to lift it (voice revoked in %u room%s).",
                p->b, distinct, n, n == 1 ? "" : "s");
            notify_mods(d, body);
            char detail[64];
            snprintf(detail, sizeof detail, "%lld distinct reporters", distinct);
            audit(d, "stoa", "escalation-mute", p->b, room, "automatic escalation", detail);
        }
    }
    answer_filed(d, p);
}

/* The real target and room of one report item. Returns NULL or a reason to
 * refuse. */
static const char *resolve(desk *d, const report_item *it, const jid *to, char **target,
                           char **room, bool *resolved)
{
    *target = *room = NULL;
    *resolved = true;
    if (to->local) {
        jid r = {to->local, to->domain, NULL};
        *room = jid_bare(&r);
        if (*room && !muc_room_exists(d->rooms, *room))
            return "no such room";
    }
    for (size_t i = 0; !*room && i < it->nrefs; i++)
        if (our_room(d, it->refs[i].by))
            *room = strdup(it->refs[i].by);
    /* A report addressed to an occupant is about that occupant. */
    char *occ = !it->target && to->local && to->resource ? jid_full(to) : NULL;
    const char *named = it->target ? it->target : occ;
    if (named) {
        jid t;
        jid_err je = jid_parse(named, &t);
        free(occ);
        occ = NULL;
        if (je != JID_OK)
            return "the reported address is not a valid JID";
        if (strcmp(t.domain, d->domain) == 0 && t.local && t.resource) {
            /* An occupant: the room knows who is behind the nick. */
            jid r = {t.local, t.domain, NULL};
            free(*room);
            *room = jid_bare(&r);
            char *full = jid_full(&t);
            *target = full ? muc_occupant_real(d->rooms, full) : NULL;
            if (!*target) {
                *target = full;
                full = NULL;
                *resolved = false;
            }
            free(full);
        } else {
            *target = t.local ? jid_bare(&t) : strdup(t.domain);
        }
        jid_free(&t);
        return *target ? NULL : "out of memory";
    }
    for (size_t i = 0; i < it->nrefs && !*target; i++)
        if (our_room(d, it->refs[i].by))
            *target = muc_message_author(d->rooms, it->refs[i].by, it->refs[i].id);
    if (!*target)
        return "cannot tell who wrote that message now; name them with <jid/>";
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Stores one report item. Every item's pend carries the IQ: the replies
 * may come in any order, or some sends fail, and whichever is the last to
 * finish answers it. */
static int file_item(desk *d, const report_batch *b, const report_item *it, const char *target,
                     const char *room, bool resolved, const xml_node *iq, int *shared)
{
    char rep[33], idh[33], now[32], ret[24], win[24], thr[24], fmax[24], nrefs[8];
    muc_pseudonym(d->rooms, "desk-reporter", b->reporter, rep);
    /* Same reporter, target, room and evidence: the same report. */
    buf k = BUF_INIT;
    buf_printf(&k, "%s\n%s\n%s\n", rep, target, room ? room : "");
    char *ids[REPORT_REFS_MAX];
    for (size_t i = 0; i < it->nrefs; i++)
        ids[i] = it->refs[i].id;
    qsort(ids, it->nrefs, sizeof ids[0], cmp_str);
    for (size_t i = 0; i < it->nrefs; i++)
        buf_printf(&k, "%s ", ids[i]);
    char *ks = buf_strdup(&k);
    buf_free(&k);
    muc_pseudonym(d->rooms, "desk-report", ks ? ks : "", idh);
    free(ks);
    idh[16] = '\0';
    snprintf(now, sizeof now, "%.3f", now_s());
    snprintf(ret, sizeof ret, "%.0f", d->retention);
    snprintf(win, sizeof win, "%.0f", d->window);
    /* An occupant nobody can name now cannot be muted by escalation. */
    snprintf(thr, sizeof thr, "%u", resolved && strchr(target, '@') ? d->threshold : 0);
    snprintf(fmax, sizeof fmax, "%u", d->per_minute);
    snprintf(nrefs, sizeof nrefs, "%zu", it->nrefs);
    static const char *const via[] = {"direct", "block", "forward"};
    const char *args[15 + 4 * REPORT_REFS_MAX];
    char *lks[REPORT_REFS_MAX] = {0};
    char entries[REPORT_REFS_MAX][48];
    char oids[REPORT_REFS_MAX][33];
    int n = 0;
    args[n++] = d->prefix;
    args[n++] = now;
    args[n++] = ret;
    args[n++] = win;
    args[n++] = thr;
    args[n++] = fmax;
    args[n++] = idh;
    args[n++] = rep;
    args[n++] = target;
    args[n++] = room ? room : "";
    args[n++] = it->reason;
    args[n++] = it->text ? it->text : "";
    args[n++] = via[b->via];
    args[n++] = it->forwarded ? it->forwarded : "";
    args[n++] = nrefs;
    for (size_t i = 0; i < it->nrefs; i++) {
        const report_ref *r = &it->refs[i];
        /* Only messages of our own rooms' archives are evidence Stoa holds;
         * only the cited ones, and only if the target wrote them. */
        if (our_room(d, r->by) && sid_entry(r->id, entries[i]) == 0) {
            lks[i] = key(d, "muc:log:%s", r->by);
            oids[i][0] = '\0';
            if (resolved && strchr(target, '@'))
                muc_occupant_id_of(d->rooms, r->by, target, oids[i]);
        } else {
            entries[i][0] = oids[i][0] = '\0';
        }
        args[n++] = lks[i] ? lks[i] : "";
        args[n++] = entries[i];
        args[n++] = oids[i];
        args[n++] = r->id;
    }
    pend *p = pend_new(d, iq, filed_done);
    int rc = -1;
    if (p) {
        p->shared = shared;
        p->a = strdup(idh);
        p->b = strdup(target);
        buf c = BUF_INIT;
        buf_printf(&c, "%s\t%s\t%s", room ? room : "", it->reason, it->text ? it->text : "");
        p->c = buf_strdup(&c);
        buf_free(&c);
        if (p->a && p->b && p->c) {
            shared[0]++;
            rc = eval(d, p, lua_file, n, args);
            if (rc < 0)
                shared[0]--;
        } else {
            pend_free(p);
        }
    }
    for (size_t i = 0; i < it->nrefs; i++)
        free(lks[i]);
    if (rc < 0)
        shared[2]++;
    return rc;
}

static void apply_blocklist(desk *d, const report_batch *b)
{
    char *k = key(d, "safety:ublock:%s", b->reporter);
    if (!k)
        return;
    if (b->unblock_all) {
        const char *argv[] = {"DEL", k};
        fire(d, 2, argv);
    }
    /* SADD/SREM in pieces that fit one command's argument array. */
    for (size_t done = 0; !b->unblock_all && done < b->nblocked;) {
        size_t part = b->nblocked - done > MAXARGS - 2 ? MAXARGS - 2 : b->nblocked - done;
        const char *piece[MAXARGS];
        piece[0] = b->unblock ? "SREM" : "SADD";
        piece[1] = k;
        for (size_t i = 0; i < part; i++)
            piece[2 + i] = b->blocked[done + i];
        fire(d, (int)part + 2, piece);
        done += part;
    }
    free(k);
    if (d->blocklist_changed)
        d->blocklist_changed(d->blocklist_ud, b->reporter);
}

static void take_report(desk *d, const xml_node *st, const jid *from, const jid *to)
{
    bool is_iq = strcmp(xml_name(st), "iq") == 0;
    if (is_iq && (!xml_attr(st, "type") || strcmp(xml_attr(st, "type"), "set") != 0)) {
        reply_error(d, st, STANZA_ERR_BAD_REQUEST, "reports are IQ sets");
        return;
    }
    char *fromstr = jid_full(from);
    report_batch b;
    stanza_error e;
    const char *why;
    if (!fromstr || report_parse(st, fromstr, (const char *const *)d->servers, &b, &e, &why) < 0) {
        if (is_iq)
            reply_error(d, st, fromstr ? e : STANZA_ERR_INTERNAL_SERVER_ERROR, why);
        else
            log_info("desk: report from %s refused: %s", fromstr ? fromstr : "?", why);
        free(fromstr);
        return;
    }
    free(fromstr);
    if (!d->redis || rdb_get_state(d->redis) != RDB_UP) {
        if (is_iq)
            reply_error(d, st, STANZA_ERR_SERVICE_UNAVAILABLE,
                        "reports cannot be stored right now");
        else
            log_warn("desk: Redis away; a report from %s was lost", b.reporter);
        report_batch_free(&b);
        return;
    }
    if (b.via == REPORT_BLOCK)
        apply_blocklist(d, &b);
    /* Resolve every item before storing any, so a bad one refuses all. */
    char *targets[REPORT_ITEMS_MAX] = {0}, *rooms[REPORT_ITEMS_MAX] = {0};
    bool resolved[REPORT_ITEMS_MAX];
    const char *bad = NULL;
    for (size_t i = 0; i < b.n && !bad; i++)
        bad = resolve(d, &b.items[i], to, &targets[i], &rooms[i], &resolved[i]);
    if (bad) {
        if (is_iq)
            reply_error(d, st, STANZA_ERR_ITEM_NOT_FOUND, bad);
        else
            log_info("desk: report from %s refused: %s", b.reporter, bad);
    } else {
        int *shared = calloc(3, sizeof *shared);
        /* shared[0] counts outstanding replies; one extra holds it open
         * while items are sent. */
        if (shared) {
            shared[0] = 1;
            for (size_t i = 0; i < b.n; i++)
                file_item(d, &b, &b.items[i], targets[i], rooms[i], resolved[i], is_iq ? st : NULL,
                          shared);
            /* Release the hold: answers at once when nothing is outstanding. */
            pend tmp = {0};
            tmp.shared = shared;
            tmp.iq = is_iq ? (xml_node *)st : NULL;
            answer_filed(d, &tmp);
        } else if (is_iq) {
            reply_error(d, st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        }
    }
    for (size_t i = 0; i < b.n; i++) {
        free(targets[i]);
        free(rooms[i]);
    }
    report_batch_free(&b);
}

/* ---- ad-hoc commands (XEP-0050) ---- */

static const cmd *find_cmd(const char *node)
{
    for (size_t i = 0; node && i < NCOMMANDS; i++)
        if (strcmp(commands[i].node, node) == 0)
            return &commands[i];
    return NULL;
}

static bool may(const cmd *c, bool mod, char *const *rooms)
{
    switch (c->who) {
    case WHO_ANY:
        return true;
    case WHO_MOD:
        return mod;
    case WHO_MANAGER:
        return mod || (rooms && rooms[0]);
    }
    return false;
}

static void session_drop(desk *d, session *s)
{
    if (!s)
        return;
    hmap_del(&d->sessions, s->id);
    free(s->owner);
    free(s->report);
    free(s->target);
    free(s->room);
    free(s);
}

static session *session_find(desk *d, const char *id)
{
    return id ? hmap_get(&d->sessions, id) : NULL;
}

static session *session_new(desk *d, const char *owner, const cmd *c)
{
    double now = now_s();
    /* Sweep the expired; refuse rather than grow without bound. */
    for (int pass = 0; pass < 2; pass++) {
        size_t it = 0;
        const char *k;
        void *v;
        while (hmap_next(&d->sessions, &it, &k, &v)) {
            session *s = v;
            if (s->expires < now) {
                session_drop(d, s);
                it = 0;
            }
        }
    }
    if (d->sessions.count >= SESSIONS_MAX)
        return NULL;
    session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t x = (uint64_t)(now * 1e6) ^ (uint64_t)(uintptr_t)s;
        memcpy(rnd, &x, sizeof rnd);
    }
    for (int i = 0; i < 8; i++)
        snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
    s->owner = strdup(owner);
    s->c = c;
    s->expires = now + SESSION_TTL;
    if (!s->owner || hmap_put(&d->sessions, s->id, s) < 0) {
        free(s->owner);
        free(s);
        return NULL;
    }
    return s;
}

/* <iq type=result><command node status sessionid/></iq> */
static xml_node *cmd_reply(const xml_node *iq, const char *node, const char *sid,
                           const char *status, xml_node **c)
{
    xml_node *r = stanza_iq_reply(iq, "command", NS_COMMANDS, c);
    if (!*c || xml_set_attr(*c, "node", node) < 0 || xml_set_attr(*c, "sessionid", sid) < 0 ||
        xml_set_attr(*c, "status", status) < 0) {
        xml_free(r);
        *c = NULL;
        return NULL;
    }
    return r;
}

static void add_note(xml_node *c, const char *type, const char *text)
{
    xml_node *n = xml_append_new(c, "note", NULL);
    if (n) {
        xml_set_attr(n, "type", type);
        xml_append_text(n, text);
    }
}

static void add_actions(xml_node *c, const char *exec)
{
    xml_node *a = xml_append_new(c, "actions", NULL);
    if (a) {
        xml_set_attr(a, "execute", exec);
        xml_append_new(a, exec, NULL);
    }
}

static xml_node *add_form(xml_node *c, const char *type, const char *title, const char *instr)
{
    xml_node *x = xml_append_new(c, "x", NS_DATA);
    if (!x)
        return NULL;
    xml_set_attr(x, "type", type);
    if (title)
        xml_append_text(xml_append_new(x, "title", NULL), title);
    if (instr)
        xml_append_text(xml_append_new(x, "instructions", NULL), instr);
    return x;
}

static xml_node *add_field(xml_node *x, const char *var, const char *type, const char *label,
                           const char *value, bool required)
{
    xml_node *f = x ? xml_append_new(x, "field", NULL) : NULL;
    if (!f)
        return NULL;
    if (var)
        xml_set_attr(f, "var", var);
    xml_set_attr(f, "type", type);
    if (label)
        xml_set_attr(f, "label", label);
    if (required)
        xml_append_new(f, "required", NULL);
    if (value)
        xml_append_text(xml_append_new(f, "value", NULL), value);
    return f;
}

static void add_option(xml_node *f, const char *label, const char *value)
{
    xml_node *o = f ? xml_append_new(f, "option", NULL) : NULL;
    if (o) {
        xml_set_attr(o, "label", label);
        xml_append_text(xml_append_new(o, "value", NULL), value);
    }
}

/* A completed command with one note. */
static void done_note(desk *d, const xml_node *iq, const char *node, const char *sid,
                      const char *type, const char *text)
{
    xml_node *c;
    xml_node *r = cmd_reply(iq, node, sid, "completed", &c);
    if (c)
        add_note(c, type, text);
    if (r)
        emit(d, r);
    else
        reply_error(d, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
}

static void cmd_error(desk *d, const xml_node *iq, stanza_error e, const char *specific,
                      const char *text)
{
    xml_node *r = stanza_error_reply(iq, e, text, NULL);
    xml_node *er = r ? xml_child(r, "error", NULL) : NULL;
    if (er && specific)
        xml_append_new(er, specific, NS_COMMANDS);
    emit(d, r);
}

/* The requester and what they may do. */
typedef struct req {
    desk *d;
    const xml_node *iq;
    const cmd *c;
    session *s;
    char *bare, *full;
    bool mod;
    char **rooms; /* managed rooms (always filled) */
} req;

static void room_field(const req *q, xml_node *x, bool required)
{
    if (q->mod) {
        add_field(x, "room", "jid-single",
                  required ? "Room" : "Room (empty: every room of the service)", NULL, required);
        return;
    }
    xml_node *f = add_field(x, "room", "list-single", "Room", NULL, true);
    for (size_t i = 0; q->rooms && q->rooms[i]; i++)
        add_option(f, q->rooms[i], q->rooms[i]);
}

static void duration_field(xml_node *x, const char *def)
{
    xml_node *f = add_field(x, "duration", "list-single", "For", def, true);
    add_option(f, "one hour", "3600");
    add_option(f, "one day", "86400");
    add_option(f, "one week", "604800");
    add_option(f, "thirty days", "2592000");
    add_option(f, "until lifted", "0");
}

static void reason_field(xml_node *x)
{
    add_field(x, "reason", "text-single", "Reason (shown to the user and in the audit log)", NULL,
              false);
}

/* Sends the first form of a synchronous command. */
static void first_form(req *q)
{
    const char *n = q->c->node;
    xml_node *c;
    xml_node *r = cmd_reply(q->iq, n, q->s->id, "executing", &c);
    xml_node *x = c ? add_form(c, "form", q->c->name, NULL) : NULL;
    if (!x) {
        xml_free(r);
        reply_error(q->d, q->iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    add_actions(c, "complete");
    if (strcmp(n, "report") == 0) {
        add_field(x, "jid", "jid-single", "Who (a JID, or room@service/nick)", NULL, true);
        xml_node *f = add_field(x, "reason", "list-single", "Why", "abuse", true);
        add_option(f, "Abuse or harassment", "abuse");
        add_option(f, "Spam", "spam");
        add_field(x, "text", "text-multi", "What happened (optional)", NULL, false);
    } else if (strcmp(n, "block-domain") == 0) {
        add_field(x, "domain", "text-single", "Domain", NULL, true);
        reason_field(x);
    } else {
        add_field(x, "jid", "jid-single", "User (bare JID)", NULL, true);
        if (strcmp(n, "warn") == 0) {
            if (!q->mod)
                room_field(q, x, true);
            add_field(x, "message", "text-multi", "Warning", NULL, true);
        } else if (strcmp(n, "mute") == 0) {
            room_field(q, x, false);
            duration_field(x, "86400");
            reason_field(x);
        } else if (strcmp(n, "kick") == 0) {
            room_field(q, x, false);
            reason_field(x);
        } else if (strcmp(n, "ban-room") == 0) {
            room_field(q, x, true);
            reason_field(x);
        } else if (strcmp(n, "ban") == 0) {
            duration_field(x, "86400");
            reason_field(x);
        } else if (strcmp(n, "erase") == 0) {
            xml_node *i = xml_child(x, "instructions", NULL);
            if (!i)
                xml_append_text(xml_append_new(x, "instructions", NULL),
                                "Erases the JID's reports, bans, mutes, block list, archived "
                                "room messages and affiliations. This cannot be undone.");
            add_field(x, "confirm", "boolean", "Yes, erase it all", "0", true);
        }
    }
    emit(q->d, r);
}

/* ---- the actions ---- */

/* Normalized bare JID of a form value, or NULL. */
static char *bare_of(const char *s)
{
    jid j;
    if (!s || !*s || jid_parse(s, &j) != JID_OK)
        return NULL;
    char *b = j.local ? jid_bare(&j) : NULL;
    jid_free(&j);
    return b;
}

static bool truthy(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* Checks the room a non-moderator acts in. Returns an error text or NULL;
 * *room becomes the normalized room (NULL: every room, moderators only). */
static const char *check_room(const req *q, const char *given, bool required, char **room,
                              stanza_error *e)
{
    *room = NULL;
    *e = STANZA_ERR_BAD_REQUEST;
    if (!given || !*given) {
        if (required || !q->mod) {
            return "choose a room";
        }
        return NULL;
    }
    *room = bare_of(given);
    if (!*room || !muc_room_exists(q->d->rooms, *room)) {
        *e = STANZA_ERR_ITEM_NOT_FOUND;
        return "no such room";
    }
    if (!q->mod && !muc_may_manage(q->d->rooms, *room, q->bare)) {
        *e = STANZA_ERR_FORBIDDEN;
        return "you do not administer that room";
    }
    return NULL;
}

static void set_key(desk *d, const char *k, const char *value, long secs)
{
    char ex[24];
    snprintf(ex, sizeof ex, "%ld", secs);
    const char *argv[] = {"SET", k, value, "EX", ex};
    if (fire(d, secs > 0 ? 5 : 3, argv) < 0)
        log_warn("desk: Redis away; %s not stored (it holds on this instance for now)", k);
}

static void del_keys(desk *d, const char *k1, const char *k2)
{
    const char *argv[] = {"DEL", k1, k2};
    fire(d, k2 ? 3 : 2, argv);
}

/* Runs a synchronous action. Returns NULL and fills note, or an error. */
static const char *act(req *q, const char *action, const char *target_in, const char *room_in,
                       const char *reason, const char *duration, const char *message, char *note,
                       size_t nlen, stanza_error *e)
{
    desk *d = q->d;
    *e = STANZA_ERR_BAD_REQUEST;
    if (!reason)
        reason = "";
    long dur = duration && *duration ? atol(duration) : 0;
    if (dur < 0 || dur > 315360000)
        return "bad duration";
    if (strcmp(action, "block-domain") == 0) {
        jid j;
        if (!target_in || jid_parse(target_in, &j) != JID_OK || j.local || j.resource) {
            if (target_in && jid_parse(target_in, &j) == JID_OK)
                jid_free(&j);
            *e = STANZA_ERR_JID_MALFORMED;
            return "not a domain";
        }
        if (strcmp(j.domain, d->domain) == 0) {
            jid_free(&j);
            *e = STANZA_ERR_NOT_ACCEPTABLE;
            return "this service cannot block itself";
        }
        char *k = key(d, "safety:ban:domain:%s", j.domain);
        if (k)
            set_key(d, k, *reason ? reason : "blocked", 0);
        free(k);
        unsigned n = muc_expel(d->rooms, NULL, j.domain, true, 301, NULL, reason);
        audit(d, q->bare, "block-domain", j.domain, NULL, reason, NULL);
        snprintf(note, nlen, "%s is blocked; %u occupant%s sent out.", j.domain, n,
                 n == 1 ? "" : "s");
        jid_free(&j);
        return NULL;
    }
    char *target = bare_of(target_in);
    if (!target) {
        *e = STANZA_ERR_JID_MALFORMED;
        return "not a valid bare JID";
    }
    char *room = NULL;
    const char *err = NULL;
    bool room_needed = strcmp(action, "ban-room") == 0 || (!q->mod && strcmp(action, "unmute"));
    bool room_used = strcmp(action, "ban") != 0 && strcmp(action, "unmute") != 0;
    if (room_used && (err = check_room(q, room_in, room_needed, &room, e)))
        goto out;
    if (is_mod(d, target) && strcmp(action, "warn") != 0) {
        *e = STANZA_ERR_NOT_ALLOWED;
        err = "service moderators cannot be sanctioned from the desk";
        goto out;
    }
    if (strcmp(action, "warn") == 0) {
        if (!message || !*message) {
            err = "write the warning";
            goto out;
        }
        char body[2200];
        snprintf(body, sizeof body, "Warning from the moderators of %s: %.2000s",
                 room ? room : d->domain, message);
        send_chat(d, room ? room : NULL, target, body);
        audit(d, q->bare, "warn", target, room, message, NULL);
        snprintf(note, nlen, "%s has been warned.", target);
    } else if (strcmp(action, "mute") == 0) {
        unsigned n;
        if (room) {
            n = muc_silence(d->rooms, room, target, reason);
            snprintf(note, nlen, "%s lost voice in %s (%u occupant%s).", target, room, n,
                     n == 1 ? "" : "s");
        } else {
            char *k = key(d, "safety:mute:%s", target);
            if (k)
                set_key(d, k, *reason ? reason : "muted by a moderator", dur);
            free(k);
            n = muc_silence(d->rooms, NULL, target, reason);
            snprintf(note, nlen, "%s is muted service-wide%s; voice revoked in %u room%s.", target,
                     dur ? " for a while" : " until unmuted", n, n == 1 ? "" : "s");
        }
        char detail[32];
        snprintf(detail, sizeof detail, "%lds", dur);
        audit(d, q->bare, "mute", target, room, reason, room ? NULL : detail);
    } else if (strcmp(action, "unmute") == 0) {
        char *k = key(d, "safety:mute:%s", target);
        char *k2 = key(d, "desk:reporters:%s", target);
        if (k && k2)
            del_keys(d, k, k2);
        free(k);
        free(k2);
        audit(d, q->bare, "unmute", target, NULL, reason, NULL);
        snprintf(note, nlen, "%s is no longer muted (voice returns when they rejoin).", target);
    } else if (strcmp(action, "kick") == 0) {
        unsigned n = muc_expel(d->rooms, room, target, false, 307, NULL, reason);
        audit(d, q->bare, "kick", target, room, reason, NULL);
        snprintf(note, nlen, "%s kicked from %u room%s.", target, n, n == 1 ? "" : "s");
    } else if (strcmp(action, "ban-room") == 0) {
        if (muc_ban_from_room(d->rooms, room, target, reason) < 0) {
            *e = STANZA_ERR_INTERNAL_SERVER_ERROR;
            err = "the ban could not be recorded";
            goto out;
        }
        audit(d, q->bare, "ban-room", target, room, reason, NULL);
        snprintf(note, nlen, "%s is banned from %s.", target, room);
    } else if (strcmp(action, "ban") == 0) {
        char *k = key(d, "safety:ban:jid:%s", target);
        if (k)
            set_key(d, k, *reason ? reason : "banned", dur);
        free(k);
        unsigned n = muc_expel(d->rooms, NULL, target, false, 301, NULL, reason);
        char detail[32];
        snprintf(detail, sizeof detail, "%lds", dur);
        audit(d, q->bare, "ban", target, NULL, reason, detail);
        snprintf(note, nlen, "%s is banned from the service%s; sent out of %u room%s.", target,
                 dur ? " for the chosen period" : " until lifted", n, n == 1 ? "" : "s");
    } else {
        err = "unknown action";
    }
out:
    free(target);
    free(room);
    return err;
}

/* ---- commands that wait for Redis ---- */

static pend *req_pend(req *q, void (*done)(pend *, redisReply *))
{
    pend *p = pend_new(q->d, q->iq, done);
    if (!p)
        return NULL;
    p->actor = strdup(q->bare);
    p->mod = q->mod;
    p->sid = strdup(q->s->id);
    if (!q->mod) {
        /* The rooms as they are now; a copy, as the req goes away. */
        size_t n = 0;
        while (q->rooms && q->rooms[n])
            n++;
        p->rooms = calloc(n + 1, sizeof *p->rooms);
        for (size_t i = 0; p->rooms && i < n; i++)
            p->rooms[i] = strdup(q->rooms[i]);
    }
    if (!p->actor || !p->sid || (!q->mod && !p->rooms)) {
        pend_free(p);
        return NULL;
    }
    return p;
}

static void redis_away(desk *d, const xml_node *iq)
{
    reply_error(d, iq, STANZA_ERR_SERVICE_UNAVAILABLE, "the desk's storage (Redis) is away");
}

/* Whether r is the array asked for; if not, Redis is away: the session
 * ends and the IQ is answered so. */
static bool array_or_away(pend *p, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ARRAY)
        return true;
    session_drop(p->d, session_find(p->d, p->sid));
    redis_away(p->d, p->iq);
    return false;
}

/* One row of a reported form: an item with a field per column. */
static void add_row(xml_node *x, const char *const *vars, const char *const *vals, size_t n)
{
    xml_node *item = xml_append_new(x, "item", NULL);
    for (size_t k = 0; k < n; k++) {
        xml_node *f = xml_append_new(item, "field", NULL);
        xml_set_attr(f, "var", vars[k]);
        xml_append_text(xml_append_new(f, "value", NULL), vals[k]);
    }
}

static bool room_visible(const pend *p, const char *room)
{
    return p->mod || strv_has(p->rooms, room);
}

/* list, and the first stage of view and dismiss. p->a: node. */
static void list_done(pend *p, redisReply *r)
{
    desk *d = p->d;
    if (!array_or_away(p, r))
        return;
    bool list = strcmp(p->a, "list") == 0;
    size_t shown = 0;
    xml_node *c;
    xml_node *res = cmd_reply(p->iq, p->a, p->sid, list ? "completed" : "executing", &c);
    if (!c) {
        reply_error(d, p->iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    xml_node *x = add_form(c, list ? "result" : "form",
                           list                        ? "Open reports"
                           : strcmp(p->a, "view") == 0 ? "View a report"
                                                       : "Dismiss a report",
                           NULL);
    xml_node *pick = NULL;
    if (list) {
        xml_node *rep = xml_append_new(x, "reported", NULL);
        static const char *const cols[][2] = {{"id", "Report"},         {"target", "Reported"},
                                              {"room", "Room"},         {"reason", "Reason"},
                                              {"count", "Times"},       {"last", "Last"},
                                              {"held", "Evidence held"}};
        for (size_t i = 0; i < 7; i++)
            add_field(rep, cols[i][0], "text-single", cols[i][1], NULL, false);
    } else {
        pick = add_field(x, "report", "list-single", "Report", NULL, true);
    }
    for (size_t i = 0; i + 7 < r->elements + 0 && shown < LIST_MAX; i += 8) {
        const char *id = str_at(r, i), *target = str_at(r, i + 1), *room = str_at(r, i + 2);
        if (!room_visible(p, room))
            continue;
        shown++;
        char when[64] = "";
        double last = atof(str_at(r, i + 5));
        if (last > 0)
            xtime_format(last, when);
        if (list) {
            const char *vals[] = {id,   target,          room, str_at(r, i + 3), str_at(r, i + 4),
                                  when, str_at(r, i + 7)};
            static const char *const vars[] = {"id",    "target", "room", "reason",
                                               "count", "last",   "held"};
            add_row(x, vars, vals, 7);
        } else {
            char label[600];
            snprintf(label, sizeof label, "%s: %s for %s x%s%s%s", id, target, str_at(r, i + 3),
                     str_at(r, i + 4), *room ? " in " : "", room);
            add_option(pick, label, id);
        }
    }
    if (shown == 0) {
        xml_free(res);
        session_drop(d, session_find(d, p->sid));
        done_note(d, p->iq, p->a, p->sid, "info", "No open reports.");
        return;
    }
    if (list) {
        session_drop(d, session_find(d, p->sid));
    } else {
        if (strcmp(p->a, "dismiss") == 0)
            reason_field(x);
        add_actions(c, strcmp(p->a, "view") == 0 ? "next" : "complete");
        session *s = session_find(d, p->sid);
        if (s)
            s->stage = 1;
    }
    emit(d, res);
}

static void start_list(req *q)
{
    pend *p = req_pend(q, list_done);
    char max[16];
    snprintf(max, sizeof max, "%d", LIST_MAX * 20);
    const char *args[] = {q->d->prefix, max};
    if (p && !(p->a = strdup(q->c->node))) {
        pend_free(p);
        p = NULL;
    }
    if (!p || eval(q->d, p, lua_list, 2, args) < 0) {
        session_drop(q->d, q->s);
        redis_away(q->d, q->iq);
    }
}

static const char *hfield(const redisReply *r, const char *name)
{
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (strcmp(str_at(r, i), name) == 0)
            return str_at(r, i + 1);
    return "";
}

/* view, stage 2: the report and what to do about it. */
static void view_done(pend *p, redisReply *r)
{
    desk *d = p->d;
    if (!array_or_away(p, r))
        return;
    session *s = session_find(d, p->sid);
    const char *target = hfield(r, "target"), *room = hfield(r, "room");
    if (!*target) {
        session_drop(d, s);
        cmd_error(d, p->iq, STANZA_ERR_ITEM_NOT_FOUND, NULL,
                  "no such report (dismissed or expired)");
        return;
    }
    if (!room_visible(p, room)) {
        session_drop(d, s);
        cmd_error(d, p->iq, STANZA_ERR_FORBIDDEN, NULL, "that report is about another room");
        return;
    }
    if (!s) {
        cmd_error(d, p->iq, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
        return;
    }
    free(s->report);
    free(s->target);
    free(s->room);
    s->report = strdup(p->a);
    s->target = strdup(target);
    s->room = *room ? strdup(room) : NULL;
    s->stage = 2;
    xml_node *c;
    xml_node *res = cmd_reply(p->iq, "view", p->sid, "executing", &c);
    xml_node *x = c ? add_form(c, "form", "Report", NULL) : NULL;
    if (!x) {
        xml_free(res);
        reply_error(d, p->iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    add_actions(c, "complete");
    add_field(x, "report", "hidden", NULL, p->a, false);
    add_field(x, "target", "jid-single", "Reported", target, false);
    if (*room)
        add_field(x, "room", "jid-single", "Room", room, false);
    add_field(x, "reason-given", "text-single", "Reason", hfield(r, "reason"), false);
    add_field(x, "count", "text-single", "Times reported", hfield(r, "count"), false);
    char when[64] = "";
    if (atof(hfield(r, "first")) > 0)
        xtime_format(atof(hfield(r, "first")), when);
    add_field(x, "first", "text-single", "First reported", when, false);
    if (*hfield(r, "text"))
        add_field(x, "text", "text-multi", "Reporter's words", hfield(r, "text"), false);
    if (*hfield(r, "forwarded"))
        add_field(x, "forwarded", "text-multi", "Forwarded messages", hfield(r, "forwarded"),
                  false);
    /* The evidence: the cited messages only, one value per line. */
    const char *ev = hfield(r, "evidence");
    xmlparse_limits lim = {1 << 20, 16, 16, 4096};
    xml_node *doc = *ev ? xml_parse_document(ev, strlen(ev), &lim) : NULL;
    xml_node *evf =
        add_field(x, "evidence", "text-multi", "Evidence held by the service", NULL, false);
    size_t lines = 0;
    for (xml_node *m = doc ? xml_first_child(doc) : NULL; m; m = xml_next(m)) {
        if (xml_is_text(m))
            continue;
        xml_node *body = xml_child(m, "body", NULL);
        char stamp[64] = "";
        if (xml_attr(m, "stamp") && atof(xml_attr(m, "stamp")) > 0)
            xtime_format(atof(xml_attr(m, "stamp")), stamp);
        buf b = BUF_INIT;
        buf_printf(&b, "[%s] %s: %s", stamp, xml_attr(m, "nick") ? xml_attr(m, "nick") : "?",
                   body && xml_text(body) ? xml_text(body) : "(no text)");
        char *line = buf_strdup(&b);
        buf_free(&b);
        /* A value is one line (XEP-0004): newlines inside become spaces. */
        for (char *c2 = line; c2 && *c2; c2++)
            if (*c2 == '\n' || *c2 == '\r')
                *c2 = ' ';
        if (line)
            xml_append_text(xml_append_new(evf, "value", NULL), line);
        free(line);
        lines++;
    }
    if (!lines)
        xml_append_text(xml_append_new(evf, "value", NULL), "(none held)");
    xml_free(doc);
    xml_node *f = add_field(x, "action", "list-single", "Action", "none", true);
    add_option(f, "Nothing for now", "none");
    add_option(f, "Dismiss the report", "dismiss");
    add_option(f, "Warn the user", "warn");
    add_option(f, "Mute", "mute");
    add_option(f, "Kick", "kick");
    if (*room)
        add_option(f, "Ban from the room", "ban-room");
    if (p->mod)
        add_option(f, "Ban from the service", "ban");
    add_field(x, "reason", "text-single", "Reason or warning text", NULL, false);
    duration_field(x, "86400");
    emit(d, res);
}

static void start_view(req *q, const char *id)
{
    if (!id || !*id || strlen(id) > 64) {
        cmd_error(q->d, q->iq, STANZA_ERR_BAD_REQUEST, "bad-payload", "choose a report");
        return;
    }
    pend *p = req_pend(q, view_done);
    char *k = key(q->d, "desk:report:%s", id);
    const char *argv[] = {"HGETALL", k};
    if (p && (!k || !(p->a = strdup(id)))) {
        pend_free(p);
        p = NULL;
    }
    if (!p || send_argv(q->d, p, 2, argv) < 0)
        redis_away(q->d, q->iq);
    free(k);
}

/* p->a: node ("dismiss" or "view"); p->b: reason */
static void dismiss_done(pend *p, redisReply *r)
{
    desk *d = p->d;
    if (!array_or_away(p, r))
        return;
    session_drop(d, session_find(d, p->sid));
    if (r->elements == 0) {
        cmd_error(d, p->iq, STANZA_ERR_ITEM_NOT_FOUND, NULL,
                  "no such report (dismissed or expired)");
        return;
    }
    if (strcmp(str_at(r, 0), "forbidden") == 0) {
        cmd_error(d, p->iq, STANZA_ERR_FORBIDDEN, NULL, "that report is about another room");
        return;
    }
    const char *target = str_at(r, 0), *room = str_at(r, 1);
    bool unmuted = int_at(r, 2) == 1;
    audit(d, p->actor, "dismiss", target, *room ? room : NULL, p->b, p->c);
    char note[400];
    snprintf(note, sizeof note, "Report %s about %s dismissed.%s", p->c, target,
             unmuted ? " The automatic mute is lifted." : "");
    done_note(d, p->iq, p->a, p->sid, "info", note);
}

static void start_dismiss(req *q, const char *id, const char *reason)
{
    if (!id || !*id || strlen(id) > 64) {
        cmd_error(q->d, q->iq, STANZA_ERR_BAD_REQUEST, "bad-payload", "choose a report");
        return;
    }
    pend *p = req_pend(q, dismiss_done);
    const char *args[2 + 256];
    int n = 0;
    args[n++] = q->d->prefix;
    args[n++] = id;
    for (size_t i = 0; !q->mod && q->rooms && q->rooms[i] && n < 100; i++)
        args[n++] = q->rooms[i];
    if (!q->mod && n == 2)
        args[n++] = "\n"; /* no room matches: nothing may be dismissed */
    if (p && (!(p->a = strdup(q->c->node)) || !(p->b = strdup(reason ? reason : "")) ||
              !(p->c = strdup(id)))) {
        pend_free(p);
        p = NULL;
    }
    if (!p || eval(q->d, p, lua_dismiss, n, args) < 0)
        redis_away(q->d, q->iq);
}

/* p->b: the erased JID; p->c: "aff history kept" from the rooms; p->acc:
 * the shared counts. Every chunk carries the IQ: whichever finishes last
 * answers, even when a later chunk could not be sent. */
static void erase_done(pend *p, redisReply *r)
{
    desk *d = p->d;
    long long *acc = p->acc;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        acc[ER_FAILED]++;
    } else {
        acc[ER_REPORTS] += int_at(r, 0);
        acc[ER_KEYS] += int_at(r, 1);
        acc[ER_MSGS] += int_at(r, 2);
    }
    if (--acc[ER_LEFT] > 0)
        return;
    session_drop(d, session_find(d, p->sid));
    if (acc[ER_FAILED]) {
        redis_away(d, p->iq);
        return;
    }
    unsigned affs = 0, hist = 0, kept = 0;
    sscanf(p->c, "%u %u %u", &affs, &hist, &kept);
    long long rep = acc[ER_REPORTS], keys = acc[ER_KEYS], msgs = acc[ER_MSGS];
    char note[700];
    snprintf(note, sizeof note,
             "Erased for %s: %lld report%s, %lld key%s (bans, mutes, block list, report "
             "indexes), %lld archived room message%s, %u history message%s, %u room "
             "affiliation%s.%s",
             p->b, rep, rep == 1 ? "" : "s", keys, keys == 1 ? "" : "s", msgs, msgs == 1 ? "" : "s",
             hist, hist == 1 ? "" : "s", affs, affs == 1 ? "" : "s",
             kept ? " They are the only owner of some rooms: those ownerships were kept." : "");
    char detail[200];
    snprintf(detail, sizeof detail, "reports=%lld keys=%lld archive=%lld history=%u affs=%u", rep,
             keys, msgs, hist, affs);
    /* The audit names the erased JID only by pseudonym. */
    char ps[33];
    muc_pseudonym(d->rooms, "desk-erased", p->b, ps);
    char who[48];
    snprintf(who, sizeof who, "erased:%s", ps);
    audit(d, p->actor, "erase", who, NULL, NULL, detail);
    done_note(d, p->iq, "erase", p->sid, "info", note);
}

#define ERASE_ROOMS_PER_CALL 50

typedef struct erase_rooms {
    desk *d;
    const char *bare;
    char **pairs; /* logkey, oid, logkey, oid, ... */
    size_t n, cap;
} erase_rooms;

static void erase_room(void *ud, const char *room_jid)
{
    erase_rooms *er = ud;
    if (er->n + 2 > er->cap) {
        size_t cap = er->cap ? er->cap * 2 : 64;
        char **a = realloc(er->pairs, cap * sizeof *a);
        if (!a)
            return;
        er->pairs = a;
        er->cap = cap;
    }
    char oid[33], old[33], both[68];
    muc_occupant_id_of(er->d->rooms, room_jid, er->bare, oid);
    muc_occupant_id_legacy(er->d->rooms, room_jid, er->bare, old);
    snprintf(both, sizeof both, "%s %s", oid, old);
    char *lk = key(er->d, "muc:log:%s", room_jid);
    char *o = strdup(both);
    if (!lk || !o) {
        free(lk);
        free(o);
        return;
    }
    er->pairs[er->n++] = lk;
    er->pairs[er->n++] = o;
}

static void start_erase(req *q, const char *who, const char *confirm)
{
    desk *d = q->d;
    char *target = bare_of(who);
    if (!target) {
        cmd_error(d, q->iq, STANZA_ERR_JID_MALFORMED, "bad-payload", "not a valid bare JID");
        return;
    }
    if (!truthy(confirm)) {
        free(target);
        cmd_error(d, q->iq, STANZA_ERR_BAD_REQUEST, "bad-payload", "confirm the erasure");
        return;
    }
    long long *acc = calloc(ER__N, sizeof *acc);
    if (!d->redis || rdb_get_state(d->redis) != RDB_UP || !acc) {
        free(acc);
        free(target);
        redis_away(d, q->iq);
        return;
    }
    unsigned hist, kept;
    unsigned affs = muc_erase_jid(d->rooms, target, &hist, &kept);
    char ps[33], counts[64];
    muc_pseudonym(d->rooms, "desk-reporter", target, ps);
    snprintf(counts, sizeof counts, "%u %u %u", affs, hist, kept);
    erase_rooms er = {d, target, NULL, 0, 0};
    muc_each_room(d->rooms, erase_room, &er);
    size_t rooms = er.n / 2;
    size_t calls = rooms ? (rooms + ERASE_ROOMS_PER_CALL - 1) / ERASE_ROOMS_PER_CALL : 1;
    acc[ER_LEFT] = 1; /* held until every call is sent */
    for (size_t c = 0; c < calls; c++) {
        pend *p = pend_new(d, q->iq, erase_done);
        if (p) {
            p->actor = strdup(q->bare);
            p->sid = strdup(q->s->id);
            p->b = strdup(target);
            p->c = strdup(counts);
        }
        if (!p || !p->actor || !p->sid || !p->b || !p->c) {
            if (p)
                pend_free(p);
            acc[ER_FAILED]++;
            continue;
        }
        p->acc = acc;
        const char *args[4 + 2 * ERASE_ROOMS_PER_CALL];
        int n = 0;
        args[n++] = d->prefix;
        args[n++] = target;
        args[n++] = ps;
        args[n++] = c == 0 ? "1" : "0";
        for (size_t i = c * ERASE_ROOMS_PER_CALL; i < rooms && i < (c + 1) * ERASE_ROOMS_PER_CALL;
             i++) {
            args[n++] = er.pairs[2 * i];
            args[n++] = er.pairs[2 * i + 1];
        }
        acc[ER_LEFT]++;
        if (eval(d, p, lua_erase, n, args) < 0) {
            acc[ER_LEFT]--;
            acc[ER_FAILED]++;
        }
    }
    /* Release the hold; when nothing is outstanding, answer now. */
    if (--acc[ER_LEFT] == 0) {
        session_drop(d, q->s);
        redis_away(d, q->iq);
        free(acc);
    }
    for (size_t i = 0; i < er.n; i++)
        free(er.pairs[i]);
    free(er.pairs);
    free(target);
}

static void audit_done(pend *p, redisReply *r)
{
    desk *d = p->d;
    if (!array_or_away(p, r))
        return;
    session_drop(d, session_find(d, p->sid));
    xml_node *c;
    xml_node *res = cmd_reply(p->iq, "audit", p->sid, "completed", &c);
    xml_node *x = c ? add_form(c, "result", "Audit log (newest first)", NULL) : NULL;
    if (!x) {
        xml_free(res);
        reply_error(d, p->iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    static const char *const vars[] = {"when", "actor", "action", "target", "room", "reason"};
    static const char *const labels[] = {"When", "Who", "Action", "Target", "Room", "Reason"};
    xml_node *rep = xml_append_new(x, "reported", NULL);
    for (size_t k = 0; k < 6; k++)
        add_field(rep, vars[k], "text-single", labels[k], NULL, false);
    size_t shown = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        const redisReply *fl = e->element[1];
        const char *room = hfield(fl, "room");
        if (!p->mod && !strv_has(p->rooms, room))
            continue;
        char when[64] = "";
        unsigned long long ms = strtoull(str_at(e, 0), NULL, 10);
        xtime_format((double)ms / 1000.0, when);
        const char *vals[] = {when, hfield(fl, "actor"), hfield(fl, "action"), hfield(fl, "target"),
                              room, hfield(fl, "reason")};
        add_row(x, vars, vals, 6);
        shown++;
    }
    if (!shown)
        add_note(c, "info", "The audit log is empty.");
    emit(d, res);
}

static void start_audit(req *q)
{
    pend *p = req_pend(q, audit_done);
    char *k = key(q->d, "desk:audit");
    char count[16];
    snprintf(count, sizeof count, "%d", q->mod ? AUDIT_SHOW : AUDIT_SHOW * 10);
    const char *argv[] = {"XREVRANGE", k, "+", "-", "COUNT", count};
    if (p && !k) {
        pend_free(p);
        p = NULL;
    }
    if (!p || send_argv(q->d, p, 6, argv) < 0) {
        session_drop(q->d, q->s);
        redis_away(q->d, q->iq);
    }
    free(k);
}

/* The "report" command files a direct report on the user's behalf. */
static void start_report(req *q, const xml_node *x)
{
    const char *who = stanza_form_value(x, "jid");
    const char *reason = stanza_form_value(x, "reason");
    const char *text = stanza_form_value(x, "text");
    if (!who || !*who) {
        cmd_error(q->d, q->iq, STANZA_ERR_BAD_REQUEST, "bad-payload", "say who you report");
        return;
    }
    /* Build the documented direct form and take it like any other. */
    xml_node *iq = xml_copy(q->iq);
    xml_node *old = iq ? stanza_iq_payload(iq) : NULL;
    if (old)
        xml_remove_child(iq, old);
    xml_node *r = iq ? xml_append_new(iq, "report", NS_REPORTING1) : NULL;
    if (!r) {
        xml_free(iq);
        reply_error(q->d, q->iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    /* Marks the copy so its answer is a completed command (answer_filed). */
    xml_set_attr(iq, "stoa-command", q->s->id);
    xml_set_attr(r, "reason",
                 reason && strcmp(reason, "spam") == 0 ? "urn:xmpp:reporting:spam"
                                                       : "urn:xmpp:reporting:abuse");
    xml_append_text(xml_append_new(r, "jid", NS_JID0), who);
    if (text && *text)
        xml_append_text(xml_append_new(r, "text", NULL), text);
    /* Its answer (an empty result or an error) is turned into the
     * command's answer by the caller: see desk_handle. */
    jid from, to;
    jid_parse(xml_attr(iq, "from"), &from);
    jid_parse(xml_attr(iq, "to"), &to);
    take_report(q->d, iq, &from, &to);
    jid_free(&from);
    jid_free(&to);
    xml_free(iq);
}

/* ---- dispatch ---- */

static void commands_items(desk *d, const xml_node *iq, bool mod, char *const *rooms)
{
    xml_node *q;
    xml_node *r = stanza_iq_reply(iq, "query", NS_DISCO_ITEMS, &q);
    if (!q || xml_set_attr(q, "node", NS_COMMANDS) < 0) {
        xml_free(r);
        reply_error(d, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (!may(&commands[i], mod, rooms))
            continue;
        xml_node *it = xml_append_new(q, "item", NULL);
        if (it) {
            xml_set_attr(it, "jid", d->domain);
            xml_set_attr(it, "node", commands[i].node);
            xml_set_attr(it, "name", commands[i].name);
        }
    }
    emit(d, r);
}

static void command_info(desk *d, const xml_node *iq, const cmd *c)
{
    xml_node *q;
    xml_node *r = stanza_iq_reply(iq, "query", NS_DISCO_INFO, &q);
    xml_node *id = q ? xml_append_new(q, "identity", NULL) : NULL;
    if (!id) {
        xml_free(r);
        reply_error(d, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    xml_set_attr(q, "node", c->node);
    xml_set_attr(id, "category", "automation");
    xml_set_attr(id, "type", "command-node");
    xml_set_attr(id, "name", c->name);
    xml_set_attr(xml_append_new(q, "feature", NULL), "var", NS_COMMANDS);
    xml_set_attr(xml_append_new(q, "feature", NULL), "var", NS_DATA);
    emit(d, r);
}

static void run_step(req *q, const char *action, const xml_node *x)
{
    desk *d = q->d;
    session *s = q->s;
    const char *n = q->c->node;
    if (strcmp(n, "view") == 0) {
        if (s->stage == 1) {
            start_view(q, stanza_form_value(x, "report"));
            return;
        }
        const char *a = stanza_form_value(x, "action");
        const char *reason = stanza_form_value(x, "reason");
        if (!a || strcmp(a, "none") == 0) {
            char sid[17];
            memcpy(sid, s->id, sizeof sid);
            session_drop(d, s);
            done_note(d, q->iq, n, sid, "info", "Nothing done.");
            return;
        }
        if (strcmp(a, "dismiss") == 0) {
            start_dismiss(q, s->report, reason);
            return;
        }
        if (strcmp(a, "ban") == 0 && !q->mod) {
            cmd_error(d, q->iq, STANZA_ERR_FORBIDDEN, NULL, "only service moderators ban");
            return;
        }
        char note[600];
        stanza_error e;
        const char *err = act(q, a, s->target, s->room, reason, stanza_form_value(x, "duration"),
                              reason, note, sizeof note, &e);
        if (err) {
            cmd_error(d, q->iq, e, "bad-payload", err);
            return;
        }
        char sid[17];
        memcpy(sid, s->id, sizeof sid);
        session_drop(d, s);
        done_note(d, q->iq, n, sid, "info", note);
        return;
    }
    if (strcmp(n, "dismiss") == 0) {
        start_dismiss(q, stanza_form_value(x, "report"), stanza_form_value(x, "reason"));
        return;
    }
    if (strcmp(n, "erase") == 0) {
        start_erase(q, stanza_form_value(x, "jid"), stanza_form_value(x, "confirm"));
        return;
    }
    if (strcmp(n, "report") == 0) {
        start_report(q, x);
        session_drop(d, s);
        return;
    }
    (void)action;
    char note[600];
    stanza_error e;
    const char *target = strcmp(n, "block-domain") == 0 ? stanza_form_value(x, "domain")
                                                        : stanza_form_value(x, "jid");
    const char *err = act(q, n, target, stanza_form_value(x, "room"),
                          stanza_form_value(x, "reason"), stanza_form_value(x, "duration"),
                          stanza_form_value(x, "message"), note, sizeof note, &e);
    if (err) {
        /* The session stays: the form can be fixed and sent again. */
        cmd_error(d, q->iq, e, "bad-payload", err);
        return;
    }
    char sid[17];
    memcpy(sid, s->id, sizeof sid);
    session_drop(d, s);
    done_note(d, q->iq, n, sid, "info", note);
}

static void handle_command(desk *d, const xml_node *iq, const xml_node *cmdn, const jid *from)
{
    const char *type = xml_attr(iq, "type");
    if (!type || strcmp(type, "set") != 0) {
        reply_error(d, iq, STANZA_ERR_BAD_REQUEST, "commands are IQ sets");
        return;
    }
    const cmd *c = find_cmd(xml_attr(cmdn, "node"));
    if (!c) {
        reply_error(d, iq, STANZA_ERR_ITEM_NOT_FOUND, "no such command");
        return;
    }
    req q = {d, iq, c, NULL, jid_bare(from), jid_full(from), false, NULL};
    if (!q.bare || !q.full) {
        reply_error(d, iq, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        goto out;
    }
    q.mod = is_mod(d, q.bare);
    q.rooms = muc_managed_rooms(d->rooms, q.bare);
    if (!may(c, q.mod, q.rooms)) {
        reply_error(d, iq, STANZA_ERR_FORBIDDEN,
                    c->who == WHO_MOD
                        ? "only service moderators may do that"
                        : "only service moderators and room administrators may do that");
        goto out;
    }
    const char *action = xml_attr(cmdn, "action") ? xml_attr(cmdn, "action") : "execute";
    const char *sid = xml_attr(cmdn, "sessionid");
    if (strcmp(action, "execute") && strcmp(action, "next") && strcmp(action, "complete") &&
        strcmp(action, "cancel")) {
        cmd_error(d, iq, STANZA_ERR_BAD_REQUEST, "bad-action", "this command goes forward only");
        goto out;
    }
    if (sid) {
        session *s = session_find(d, sid);
        if (!s || strcmp(s->owner, q.full) != 0 || s->c != c) {
            cmd_error(d, iq, STANZA_ERR_BAD_REQUEST, "bad-sessionid", NULL);
            goto out;
        }
        if (s->expires < now_s()) {
            session_drop(d, s);
            cmd_error(d, iq, STANZA_ERR_NOT_ALLOWED, "session-expired", NULL);
            goto out;
        }
        if (strcmp(action, "cancel") == 0) {
            xml_node *cn;
            xml_node *r = cmd_reply(iq, c->node, sid, "canceled", &cn);
            session_drop(d, s);
            emit(d, r);
            goto out;
        }
        q.s = s;
        const xml_node *x = xml_child(cmdn, "x", NS_DATA);
        if (!x || !xml_attr(x, "type") || strcmp(xml_attr(x, "type"), "submit") != 0) {
            cmd_error(d, iq, STANZA_ERR_BAD_REQUEST, "bad-payload", "submit the form");
            goto out;
        }
        run_step(&q, action, x);
        goto out;
    }
    if (strcmp(action, "cancel") == 0) {
        reply_error(d, iq, STANZA_ERR_BAD_REQUEST, "nothing to cancel");
        goto out;
    }
    if (!(q.s = session_new(d, q.full, c))) {
        reply_error(d, iq, STANZA_ERR_RESOURCE_CONSTRAINT, "too many open command sessions");
        goto out;
    }
    if (strcmp(c->node, "list") == 0 || strcmp(c->node, "view") == 0 ||
        strcmp(c->node, "dismiss") == 0)
        start_list(&q);
    else if (strcmp(c->node, "audit") == 0)
        start_audit(&q);
    else
        first_form(&q);
out:
    free(q.bare);
    free(q.full);
    config_list_free(q.rooms);
}

bool desk_handle(desk *d, const xml_node *st, const jid *from, const jid *to)
{
    if (!d)
        return false;
    const char *name = xml_name(st);
    bool is_iq = strcmp(name, "iq") == 0;
    if (is_iq && to->local && to->resource) {
        /* A report sent to an occupant must reach the desk, never the
         * reported person (the room would relay the IQ to them). */
        if (!report_is_report(st))
            return false;
        take_report(d, st, from, to);
        return true;
    }
    if (is_iq && !to->resource) {
        const xml_node *p = stanza_iq_payload(st);
        if (!p)
            return false;
        const char *ns = xml_ns(p) ? xml_ns(p) : "";
        if (!to->local && strcmp(ns, NS_COMMANDS) == 0 && strcmp(xml_name(p), "command") == 0) {
            handle_command(d, st, p, from);
            return true;
        }
        const char *type = xml_attr(st, "type");
        bool get = type && strcmp(type, "get") == 0;
        if (!to->local && get && xml_attr(p, "node")) {
            const char *node = xml_attr(p, "node");
            if (strcmp(ns, NS_DISCO_ITEMS) == 0 && strcmp(node, NS_COMMANDS) == 0) {
                char *bare = jid_bare(from);
                char **rooms = bare ? muc_managed_rooms(d->rooms, bare) : NULL;
                commands_items(d, st, bare && is_mod(d, bare), rooms);
                config_list_free(rooms);
                free(bare);
                return true;
            }
            const cmd *c = find_cmd(node);
            if (strcmp(ns, NS_DISCO_INFO) == 0 && c) {
                command_info(d, st, c);
                return true;
            }
        }
        if (report_is_report(st)) {
            take_report(d, st, from, to);
            return true;
        }
        return false;
    }
    if (strcmp(name, "message") == 0 && !to->local && !to->resource) {
        const char *type = xml_attr(st, "type");
        if (type && strcmp(type, "error") == 0)
            return false;
        if (report_is_report(st)) {
            take_report(d, st, from, to);
            return true;
        }
    }
    return false;
}

/* ---- life ---- */

desk *desk_new(const desk_config *cfg, const char *domain, muc *rooms, const out *sink)
{
    desk *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->domain = strdup(domain);
    d->sink = *sink;
    d->rooms = rooms;
    /* settings.c has checked both lists: NULL here means out of memory. */
    char bad[256];
    d->mods = jid_list_parse(cfg->moderators, JID_LIST_USERS, bad, sizeof bad);
    d->servers = jid_list_parse(cfg->report_servers, JID_LIST_DOMAINS, bad, sizeof bad);
    d->retention = cfg->report_retention > 0 ? cfg->report_retention : 30 * 86400.0;
    d->window = cfg->escalate_window > 0 ? cfg->escalate_window : 86400.0;
    d->threshold = cfg->escalate_reporters >= 2 ? cfg->escalate_reporters : 3;
    d->per_minute = cfg->reports_per_minute ? cfg->reports_per_minute : 10;
    d->audit_max = cfg->audit_max ? cfg->audit_max : 10000;
    if (!d->domain || !d->mods || !d->servers) {
        desk_free(d);
        return NULL;
    }
    return d;
}

void desk_free(desk *d)
{
    if (!d)
        return;
    /* Replies still to come find their desk gone and only free themselves. */
    for (pend *p = d->pending, *next; p; p = next) {
        next = p->next;
        p->d = NULL;
        p->next = NULL;
        p->pprev = NULL;
    }
    size_t it = 0;
    void *v;
    while (hmap_next(&d->sessions, &it, NULL, &v)) {
        session *s = v;
        free(s->owner);
        free(s->report);
        free(s->target);
        free(s->room);
        free(s);
    }
    hmap_free(&d->sessions);
    config_list_free(d->mods);
    config_list_free(d->servers);
    free(d->prefix);
    free(d->domain);
    free(d);
}

void desk_on_blocklist(desk *d, void (*changed)(void *ud, const char *owner), void *ud)
{
    d->blocklist_changed = changed;
    d->blocklist_ud = ud;
}

void desk_set_redis(desk *d, rdb *r, const char *prefix)
{
    if (!d)
        return;
    d->redis = r;
    free(d->prefix);
    d->prefix = strdup(prefix ? prefix : "");
}
