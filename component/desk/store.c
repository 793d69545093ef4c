#include "desk/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "rdb.h"

/* ---- the scripts ---- */

/* ARGV: prefix now retention window threshold per_minute id reporter target
 * room reason text via forwarded n, then n x (logkey entry oid sid). */
static const char lua_file[] =
    "local p,now=ARGV[1],tonumber(ARGV[2]) "
    "local ret,win,thr,fmax=tonumber(ARGV[3]),tonumber(ARGV[4]),tonumber(ARGV[5]),"
    "tonumber(ARGV[6]) "
    "local id,rep,tgt,room=ARGV[7],ARGV[8],ARGV[9],ARGV[10] "
    "local n=tonumber(ARGV[15]) "
    "local fk=p..'" KEY_DESK_FLOOD "'..rep "
    "local f=redis.call('INCR',fk) if f==1 then redis.call('EXPIRE',fk,60) end "
    "if f>fmax then return {-1} end "
    "local rk=p..'" KEY_DESK_REPORT "'..id "
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
    "redis.call('ZADD',p..'" KEY_DESK_OPEN "',now,id) "
    "local tk=p..'" KEY_DESK_BY_TARGET
    "'..tgt redis.call('SADD',tk,id) redis.call('EXPIRE',tk,ret) "
    "local bk=p..'" KEY_DESK_BY_REPORTER
    "'..rep redis.call('SADD',bk,id) redis.call('EXPIRE',bk,ret) "
    "local distinct,esc=0,0 "
    "if thr>0 then "
    " local ek=p..'" KEY_DESK_REPORTERS "'..tgt "
    " redis.call('ZADD',ek,now,rep) redis.call('ZREMRANGEBYSCORE',ek,'-inf',now-win) "
    " redis.call('EXPIRE',ek,win) distinct=redis.call('ZCARD',ek) "
    " if distinct>=thr and redis.call('SET',p..'" KEY_MUTE "'..tgt,'escalated: '..distinct.."
    "' distinct reporters','NX') then esc=1 end "
    "end "
    "return {new and 1 or 0,count,distinct,esc,tonumber(redis.call('HGET',rk,'held'))}";

/* ARGV: prefix max -> id target room reason count last text held, ... */
static const char lua_list[] =
    "local p,max=ARGV[1],tonumber(ARGV[2]) "
    "local ids=redis.call('ZREVRANGE',p..'" KEY_DESK_OPEN "',0,999) local out={} "
    "for _,id in ipairs(ids) do "
    " local h=redis.call('HMGET',p..'" KEY_DESK_REPORT
    "'..id,'target','room','reason','count','last',"
    "'text','held') "
    " if not h[1] then redis.call('ZREM',p..'" KEY_DESK_OPEN "',id) "
    " else table.insert(out,id) for k=1,7 do table.insert(out,h[k] or '') end end "
    "end return out";

/* ARGV: prefix id rooms... (rooms: the only rooms allowed; none: any, a
 * service moderator, who alone lifts an escalation mute by dismissing).
 * -> {} gone, {'forbidden'}, or {target, room, unmuted} */
static const char lua_dismiss[] =
    "local p,id=ARGV[1],ARGV[2] local rk=p..'" KEY_DESK_REPORT "'..id "
    "local t,room=redis.call('HGET',rk,'target'),redis.call('HGET',rk,'room') "
    "if not t then redis.call('ZREM',p..'" KEY_DESK_OPEN "',id) return {} end "
    "if #ARGV>2 then local ok=false for i=3,#ARGV do if ARGV[i]==room then ok=true end end "
    " if not ok then return {'forbidden'} end end "
    "redis.call('DEL',rk) redis.call('ZREM',p..'" KEY_DESK_OPEN "',id) "
    "redis.call('SREM',p..'" KEY_DESK_BY_TARGET "'..t,id) "
    "local un,mk=0,p..'" KEY_MUTE "'..t local v=redis.call('GET',mk) "
    "if #ARGV==2 and v and string.sub(v,1,9)=='escalated' then "
    "redis.call('DEL',mk,p..'" KEY_DESK_REPORTERS "'..t) "
    "un=1 end return {t,room or '',un}";

/* ARGV: prefix bare pseudonym dokeys, then (logkey oids) per room, oids
 * the person's occupant ids there separated by spaces (the current one and
 * the one messages archived by 0.1.0 and earlier carry). The reports and
 * keys go in the first call (dokeys 1); rooms come in chunks, so no single
 * script holds Redis for the whole service. */
static const char lua_erase[] =
    "local p,bare,ps=ARGV[1],ARGV[2],ARGV[3] local reports,keys=0,0 "
    "if ARGV[4]=='1' then "
    " local ids=redis.call('SUNION',p..'" KEY_DESK_BY_TARGET "'..bare,p..'" KEY_DESK_BY_REPORTER
    "'..ps) "
    " for _,id in ipairs(ids) do reports=reports+redis.call('DEL',p..'" KEY_DESK_REPORT "'..id) "
    "  redis.call('ZREM',p..'" KEY_DESK_OPEN "',id) end "
    " keys=redis.call('DEL',p..'" KEY_DESK_BY_TARGET "'..bare,p..'" KEY_DESK_BY_REPORTER "'..ps,"
    "p..'" KEY_DESK_REPORTERS "'..bare,p..'" KEY_DESK_FLOOD "'..ps,p..'" KEY_UBLOCK "'..bare,"
    "p..'" KEY_BAN_JID "'..bare,p..'" KEY_MUTE "'..bare) "
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

/* ---- building commands ---- */

void desk_store_cmd_free(desk_store_cmd *c)
{
    for (int i = 0; i < c->nown; i++)
        free(c->own[i]);
    c->nown = 0;
    c->argc = 0;
}

static void start(desk_store_cmd *c)
{
    memset(c, 0, sizeof *c);
}

static void arg(desk_store_cmd *c, const char *s)
{
    if (c->argc < DESK_STORE_ARGS_MAX)
        c->argv[c->argc++] = s ? s : "";
    else
        c->oom = true;
}

/* An argument the command formats and owns. */
static const char *argf(desk_store_cmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *argf(desk_store_cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 && c->nown < DESK_STORE_ARGS_MAX ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        c->oom = true;
        arg(c, "");
        return "";
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->own[c->nown++] = s;
    arg(c, s);
    return s;
}

/* Ends a build: an incomplete command is an empty one. */
static void finish(desk_store_cmd *c)
{
    if (c->oom)
        desk_store_cmd_free(c);
}

static void eval(desk_store_cmd *c, const char *script)
{
    arg(c, "EVAL");
    arg(c, script);
    arg(c, "0");
}

/* ---- reading replies ---- */

/* The desk's readers answer "" and 0 for what a reply lacks. */
static long long int_at(const redisReply *r, size_t i)
{
    return rdb_int(rdb_elem(r, i), 0);
}

static const char *str_at(const redisReply *r, size_t i)
{
    const char *s = rdb_str(rdb_elem(r, i));
    return s ? s : "";
}

static bool is_array(const redisReply *r)
{
    return rdb_is_array(r, NULL);
}

const char *desk_store_field(const redisReply *r, const char *name)
{
    const char *v = rdb_field(r, name);
    return v ? v : "";
}

/* ---- reports ---- */

void desk_store_file(desk_store_cmd *c, const char *prefix, const desk_store_policy *pol,
                     const desk_store_report *r)
{
    start(c);
    eval(c, lua_file);
    arg(c, prefix);
    argf(c, "%.3f", r->now);
    argf(c, "%.0f", pol->retention);
    argf(c, "%.0f", pol->window);
    argf(c, "%u", r->threshold);
    argf(c, "%u", pol->per_minute);
    arg(c, r->id);
    arg(c, r->reporter);
    arg(c, r->target);
    arg(c, r->room);
    arg(c, r->reason);
    arg(c, r->text);
    arg(c, r->via);
    arg(c, r->forwarded);
    size_t n = r->nrefs < DESK_STORE_REFS_MAX ? r->nrefs : DESK_STORE_REFS_MAX;
    argf(c, "%zu", n);
    for (size_t i = 0; i < n; i++) {
        const desk_store_ref *ref = &r->refs[i];
        /* Only messages of our own rooms' archives are evidence Stoa holds. */
        char entry[48];
        if (ref->room && keys_entry_of_sid(ref->sid, entry, sizeof entry) == 0) {
            argf(c, "%s" KEY_MUC_LOG "%s", prefix, ref->room);
            argf(c, "%s", entry);
            arg(c, ref->oid);
        } else {
            arg(c, "");
            arg(c, "");
            arg(c, "");
        }
        arg(c, ref->sid);
    }
    finish(c);
}

int desk_store_read_filed(const redisReply *r, desk_store_filed *out)
{
    memset(out, 0, sizeof *out);
    if (!is_array(r))
        return -1;
    if (int_at(r, 0) < 0) {
        out->flooded = true;
        return 0;
    }
    out->fresh = int_at(r, 0) != 0;
    out->count = int_at(r, 1);
    out->distinct = int_at(r, 2);
    out->escalated = int_at(r, 3) != 0;
    out->held = int_at(r, 4);
    return 0;
}

void desk_store_list(desk_store_cmd *c, const char *prefix, unsigned max)
{
    start(c);
    eval(c, lua_list);
    arg(c, prefix);
    argf(c, "%u", max);
    finish(c);
}

size_t desk_store_open_count(const redisReply *r)
{
    return is_array(r) ? r->elements / 8 : 0;
}

void desk_store_open_at(const redisReply *r, size_t i, desk_store_open *out)
{
    const char **f[] = {&out->id,    &out->target, &out->room, &out->reason,
                        &out->count, &out->last,   &out->text, &out->held};
    for (size_t k = 0; k < 8; k++)
        *f[k] = str_at(r, 8 * i + k);
}

void desk_store_get(desk_store_cmd *c, const char *prefix, const char *id)
{
    start(c);
    arg(c, "HGETALL");
    argf(c, "%s" KEY_DESK_REPORT "%s", prefix, id);
    finish(c);
}

void desk_store_dismiss(desk_store_cmd *c, const char *prefix, const char *id, char *const *rooms)
{
    start(c);
    eval(c, lua_dismiss);
    arg(c, prefix);
    arg(c, id);
    size_t n = 0;
    for (; rooms && rooms[n] && n < 100; n++)
        arg(c, rooms[n]);
    if (rooms && n == 0)
        arg(c, "\n"); /* no room matches: nothing may be dismissed */
    finish(c);
}

int desk_store_read_dismissed(const redisReply *r, desk_store_dismissed *out)
{
    memset(out, 0, sizeof *out);
    out->target = out->room = "";
    if (!is_array(r))
        return -1;
    if (r->elements == 0)
        out->gone = true;
    else if (strcmp(str_at(r, 0), "forbidden") == 0)
        out->forbidden = true;
    else {
        out->target = str_at(r, 0);
        out->room = str_at(r, 1);
        out->unmuted = int_at(r, 2) == 1;
    }
    return 0;
}

/* ---- erase ---- */

void desk_store_erase(desk_store_cmd *c, const char *prefix, const char *bare,
                      const char *pseudonym, bool keys, const desk_store_erase_room *rooms,
                      size_t n)
{
    start(c);
    eval(c, lua_erase);
    arg(c, prefix);
    arg(c, bare);
    arg(c, pseudonym);
    arg(c, keys ? "1" : "0");
    for (size_t i = 0; i < n && i < DESK_STORE_ERASE_ROOMS; i++) {
        argf(c, "%s" KEY_MUC_LOG "%s", prefix, rooms[i].room);
        arg(c, rooms[i].oids);
    }
    finish(c);
}

int desk_store_read_erased(const redisReply *r, desk_store_erased *out)
{
    memset(out, 0, sizeof *out);
    if (!is_array(r))
        return -1;
    out->reports = int_at(r, 0);
    out->keys = int_at(r, 1);
    out->msgs = int_at(r, 2);
    return 0;
}

/* ---- the audit log ---- */

void desk_store_audit_add(desk_store_cmd *c, const char *prefix, unsigned max,
                          const desk_store_audit_entry *e)
{
    start(c);
    arg(c, "XADD");
    argf(c, "%s" KEY_DESK_AUDIT, prefix);
    arg(c, "MAXLEN");
    arg(c, "~");
    argf(c, "%u", max);
    arg(c, "*");
    const char *const names[] = {"actor", "action", "target", "room", "reason", "detail"};
    const char *const vals[] = {e->actor, e->action, e->target, e->room, e->reason, e->detail};
    for (size_t i = 0; i < 6; i++) {
        arg(c, names[i]);
        arg(c, vals[i]);
    }
    finish(c);
}

void desk_store_audit_read(desk_store_cmd *c, const char *prefix, unsigned count)
{
    start(c);
    arg(c, "XREVRANGE");
    argf(c, "%s" KEY_DESK_AUDIT, prefix);
    arg(c, "+");
    arg(c, "-");
    arg(c, "COUNT");
    argf(c, "%u", count);
    finish(c);
}

size_t desk_store_audit_count(const redisReply *r)
{
    return is_array(r) ? r->elements : 0;
}

int desk_store_audit_at(const redisReply *r, size_t i, desk_store_audit_entry *out, double *when)
{
    const redisReply *e = rdb_elem(r, i);
    size_t n;
    if (!rdb_is_array(e, &n) || n != 2)
        return -1;
    const redisReply *fl = e->element[1];
    out->actor = desk_store_field(fl, "actor");
    out->action = desk_store_field(fl, "action");
    out->target = desk_store_field(fl, "target");
    out->room = desk_store_field(fl, "room");
    out->reason = desk_store_field(fl, "reason");
    out->detail = desk_store_field(fl, "detail");
    /* The entry id is the time of the action in milliseconds. */
    *when = (double)strtoull(str_at(e, 0), NULL, 10) / 1000.0;
    return 0;
}

/* ---- sanctions ---- */

/* SET {p}<stem><who> value [EX secs]: the gate reads these keys; with
 * secs 0 the key stays until lifted. */
static void set_safety(desk_store_cmd *c, const char *prefix, const char *stem, const char *who,
                       const char *value, long secs)
{
    start(c);
    arg(c, "SET");
    argf(c, "%s%s%s", prefix, stem, who);
    arg(c, value);
    if (secs > 0) {
        arg(c, "EX");
        argf(c, "%ld", secs);
    }
    finish(c);
}

void desk_store_ban(desk_store_cmd *c, const char *prefix, const char *bare, const char *reason,
                    long secs)
{
    set_safety(c, prefix, KEY_BAN_JID, bare, reason, secs);
}

void desk_store_mute(desk_store_cmd *c, const char *prefix, const char *bare, const char *reason,
                     long secs)
{
    set_safety(c, prefix, KEY_MUTE, bare, reason, secs);
}

void desk_store_block_domain(desk_store_cmd *c, const char *prefix, const char *domain,
                             const char *reason)
{
    set_safety(c, prefix, KEY_BAN_DOMAIN, domain, reason, 0);
}

void desk_store_unban(desk_store_cmd *c, const char *prefix, const char *bare)
{
    start(c);
    arg(c, "DEL");
    argf(c, "%s" KEY_BAN_JID "%s", prefix, bare);
    finish(c);
}

void desk_store_unblock_domain(desk_store_cmd *c, const char *prefix, const char *domain)
{
    start(c);
    arg(c, "DEL");
    argf(c, "%s" KEY_BAN_DOMAIN "%s", prefix, domain);
    finish(c);
}

void desk_store_announce_block(desk_store_cmd *c, const char *prefix, const char *domain)
{
    start(c);
    arg(c, "PUBLISH");
    argf(c, "%s" KEY_BLOCKS_CHANNEL, prefix);
    arg(c, domain);
    finish(c);
}

void desk_store_unmute(desk_store_cmd *c, const char *prefix, const char *bare)
{
    start(c);
    arg(c, "DEL");
    argf(c, "%s" KEY_MUTE "%s", prefix, bare);
    argf(c, "%s" KEY_DESK_REPORTERS "%s", prefix, bare);
    finish(c);
}

/* ---- block lists ---- */

void desk_store_ublock_clear(desk_store_cmd *c, const char *prefix, const char *owner)
{
    start(c);
    arg(c, "DEL");
    argf(c, "%s" KEY_UBLOCK "%s", prefix, owner);
    finish(c);
}

size_t desk_store_ublock_change(desk_store_cmd *c, const char *prefix, const char *owner, bool add,
                                char *const *jids, size_t n)
{
    start(c);
    arg(c, add ? "SADD" : "SREM");
    argf(c, "%s" KEY_UBLOCK "%s", prefix, owner);
    size_t take = n < DESK_STORE_ARGS_MAX - 2 ? n : DESK_STORE_ARGS_MAX - 2;
    for (size_t i = 0; i < take; i++)
        arg(c, jids[i]);
    finish(c);
    return take;
}
