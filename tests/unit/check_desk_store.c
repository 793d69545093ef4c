/* desk/store: the desk's Redis commands as literal argument lists, and its
 * readers fed literal Redis replies (RESP bytes through hiredis's own
 * reader). Built alone, without the rest of the desk: an operator's tool
 * links this module the same way. */
#include <check.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "desk/store.h"
#include "testutil.h"

#define P "t:"

static desk_store_cmd c;
static char *joined;
static redisReply *reply;

static void teardown(void)
{
    desk_store_cmd_free(&c);
    free(joined);
    joined = NULL;
    if (reply)
        freeReplyObject(reply);
    reply = NULL;
}

/* The command as "arg|arg|...", a script shown as <script>. */
static const char *args(void)
{
    buf b = BUF_INIT;
    for (int i = 0; i < c.argc; i++) {
        bool script = i == 1 && strcmp(c.argv[0], "EVAL") == 0;
        buf_printf(&b, "%s%s", i ? "|" : "", script ? "<script>" : c.argv[i]);
    }
    free(joined);
    joined = buf_strdup(&b);
    buf_free(&b);
    return joined;
}

/* Parses one literal RESP reply (freed at teardown). */
static const redisReply *resp(const char *bytes)
{
    if (reply)
        freeReplyObject(reply);
    redisReader *rd = redisReaderCreate();
    void *out = NULL;
    ck_assert_int_eq(redisReaderFeed(rd, bytes, strlen(bytes)), REDIS_OK);
    ck_assert_int_eq(redisReaderGetReply(rd, &out), REDIS_OK);
    ck_assert_ptr_nonnull(out);
    redisReaderFree(rd);
    reply = out;
    return reply;
}

START_TEST(sanctions)
{
    desk_store_ban(&c, P, "eve@x.example", "spam wave", 3600);
    ck_assert_str_eq(args(), "SET|t:safety:ban:jid:eve@x.example|spam wave|EX|3600");
    desk_store_cmd_free(&c);
    desk_store_mute(&c, P, "eve@x.example", "calm down", 0);
    ck_assert_str_eq(args(), "SET|t:safety:mute:eve@x.example|calm down");
    desk_store_cmd_free(&c);
    desk_store_block_domain(&c, P, "spam.example", "blocked");
    ck_assert_str_eq(args(), "SET|t:safety:ban:domain:spam.example|blocked");
    desk_store_cmd_free(&c);
    desk_store_announce_block(&c, P, "spam.example");
    ck_assert_str_eq(args(), "PUBLISH|t:safety:blocked|spam.example");
    desk_store_cmd_free(&c);
    desk_store_unmute(&c, P, "eve@x.example");
    ck_assert_str_eq(args(), "DEL|t:safety:mute:eve@x.example|t:desk:reporters:eve@x.example");
}
END_TEST

START_TEST(audit_log)
{
    desk_store_audit_entry e = {"mod@x.example", "warn", "eve@x.example", NULL, "be nice", NULL};
    desk_store_audit_add(&c, P, 100, &e);
    ck_assert_str_eq(args(), "XADD|t:desk:audit|MAXLEN|~|100|*|actor|mod@x.example|action|warn|"
                             "target|eve@x.example|room||reason|be nice|detail|");
    desk_store_cmd_free(&c);
    desk_store_audit_read(&c, P, 50);
    ck_assert_str_eq(args(), "XREVRANGE|t:desk:audit|+|-|COUNT|50");
    /* Two entries, the second malformed (no field list). */
    const redisReply *r = resp("*2\r\n*2\r\n$15\r\n1700000000123-0\r\n*4\r\n$5\r\nactor\r\n$5\r\n"
                               "m@x.y\r\n$6\r\naction\r\n$3\r\nban\r\n*1\r\n$3\r\n1-0\r\n");
    ck_assert_uint_eq(desk_store_audit_count(r), 2);
    double when;
    ck_assert_int_eq(desk_store_audit_at(r, 0, &e, &when), 0);
    ck_assert_str_eq(e.actor, "m@x.y");
    ck_assert_str_eq(e.action, "ban");
    ck_assert_str_eq(e.room, "");
    ck_assert(when > 1700000000.12 && when < 1700000000.13);
    ck_assert_int_eq(desk_store_audit_at(r, 1, &e, &when), -1);
    ck_assert_int_eq(desk_store_audit_at(r, 2, &e, &when), -1);
}
END_TEST

START_TEST(filing)
{
    static const desk_store_policy pol = {3600, 86400, 10};
    /* Cited: a message of our room (evidence), one whose id is not ours in
     * form, one of a room elsewhere. */
    desk_store_ref refs[] = {{"den@svc.example", "0000000000002003", "0123"},
                             {"den@svc.example", "not-a-stanza-id", "0123"},
                             {NULL, "abc", ""}};
    desk_store_report r = {"00aa11bb22cc33dd",
                           "ps",
                           "eve@x.example",
                           "den@svc.example",
                           "spam",
                           "",
                           "direct",
                           "",
                           3,
                           12.5,
                           refs,
                           3};
    desk_store_file(&c, P, &pol, &r);
    ck_assert_str_eq(args(), "EVAL|<script>|0|t:|12.500|3600|86400|3|10|00aa11bb22cc33dd|ps|"
                             "eve@x.example|den@svc.example|spam||direct||3|"
                             "t:muc:log:den@svc.example|2-3|0123|0000000000002003"
                             "||||not-a-stanza-id||||abc");
    desk_store_filed f;
    ck_assert_int_eq(desk_store_read_filed(resp("*1\r\n:-1\r\n"), &f), 0);
    ck_assert(f.flooded);
    ck_assert_int_eq(desk_store_read_filed(resp("*5\r\n:1\r\n:2\r\n:3\r\n:1\r\n:4\r\n"), &f), 0);
    ck_assert(!f.flooded && f.fresh && f.escalated);
    ck_assert_int_eq(f.count, 2);
    ck_assert_int_eq(f.distinct, 3);
    ck_assert_int_eq(f.held, 4);
    ck_assert_int_eq(desk_store_read_filed(resp("-ERR script failed\r\n"), &f), -1);
    ck_assert_int_eq(desk_store_read_filed(NULL, &f), -1);
}
END_TEST

START_TEST(review)
{
    desk_store_list(&c, P, 1000);
    ck_assert_str_eq(args(), "EVAL|<script>|0|t:|1000");
    const redisReply *r = resp("*8\r\n$2\r\nid\r\n$1\r\nt\r\n$0\r\n\r\n$4\r\nspam\r\n$1\r\n2\r\n"
                               "$4\r\n12.5\r\n$0\r\n\r\n$1\r\n0\r\n");
    ck_assert_uint_eq(desk_store_open_count(r), 1);
    desk_store_open o;
    desk_store_open_at(r, 0, &o);
    ck_assert_str_eq(o.id, "id");
    ck_assert_str_eq(o.reason, "spam");
    ck_assert_str_eq(o.last, "12.5");
    ck_assert_str_eq(o.held, "0");
    ck_assert_uint_eq(desk_store_open_count(resp("$2\r\nno\r\n")), 0);
    desk_store_cmd_free(&c);

    desk_store_get(&c, P, "ab");
    ck_assert_str_eq(args(), "HGETALL|t:desk:report:ab");
    r = resp("*4\r\n$6\r\ntarget\r\n$3\r\ne@x\r\n$4\r\nroom\r\n$0\r\n\r\n");
    ck_assert_str_eq(desk_store_field(r, "target"), "e@x");
    ck_assert_str_eq(desk_store_field(r, "text"), "");
    desk_store_cmd_free(&c);

    /* A moderator may dismiss any report; a room admin only their rooms'
     * (and one who has none, nothing). */
    desk_store_dismiss(&c, P, "ab", NULL);
    ck_assert_str_eq(args(), "EVAL|<script>|0|t:|ab");
    desk_store_cmd_free(&c);
    char *none[] = {NULL}, *two[] = {"a@svc", "b@svc", NULL};
    desk_store_dismiss(&c, P, "ab", none);
    ck_assert_str_eq(args(), "EVAL|<script>|0|t:|ab|\n");
    desk_store_cmd_free(&c);
    desk_store_dismiss(&c, P, "ab", two);
    ck_assert_str_eq(args(), "EVAL|<script>|0|t:|ab|a@svc|b@svc");
    desk_store_dismissed d;
    ck_assert_int_eq(desk_store_read_dismissed(resp("*0\r\n"), &d), 0);
    ck_assert(d.gone);
    ck_assert_int_eq(desk_store_read_dismissed(resp("*1\r\n$9\r\nforbidden\r\n"), &d), 0);
    ck_assert(d.forbidden && !d.gone);
    ck_assert_int_eq(
        desk_store_read_dismissed(resp("*3\r\n$3\r\ne@x\r\n$5\r\nr@svc\r\n:1\r\n"), &d), 0);
    ck_assert(!d.gone && !d.forbidden && d.unmuted);
    ck_assert_str_eq(d.target, "e@x");
    ck_assert_str_eq(d.room, "r@svc");
    ck_assert_int_eq(desk_store_read_dismissed(resp("-ERR\r\n"), &d), -1);
}
END_TEST

START_TEST(erase)
{
    desk_store_erase_room rooms[] = {{"a@svc", "o1 o2"}, {"b@svc", "o3 o4"}};
    desk_store_erase(&c, P, "eve@x", "ps", true, rooms, 2);
    ck_assert_str_eq(args(), "EVAL|<script>|0|t:|eve@x|ps|1|t:muc:log:a@svc|o1 o2|"
                             "t:muc:log:b@svc|o3 o4");
    desk_store_erased e;
    ck_assert_int_eq(desk_store_read_erased(resp("*3\r\n:1\r\n:2\r\n:30\r\n"), &e), 0);
    ck_assert_int_eq(e.reports + e.keys + e.msgs, 33);
    ck_assert_int_eq(desk_store_read_erased(NULL, &e), -1);
}
END_TEST

START_TEST(block_lists_in_pieces)
{
    char *jids[300];
    char names[300][16];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "u%d@x", i);
        jids[i] = names[i];
    }
    size_t done = 0, pieces = 0;
    while (done < 300) {
        size_t took = desk_store_ublock_change(&c, P, "o@x", true, jids + done, 300 - done);
        ck_assert_int_eq(c.argc, (int)took + 2);
        ck_assert_str_eq(c.argv[0], "SADD");
        ck_assert_str_eq(c.argv[1], "t:safety:ublock:o@x");
        ck_assert_str_eq(c.argv[2], names[done]);
        desk_store_cmd_free(&c);
        done += took;
        pieces++;
    }
    ck_assert_uint_eq(pieces, 3); /* 126 + 126 + 48 */
    desk_store_ublock_change(&c, P, "o@x", false, jids, 1);
    ck_assert_str_eq(args(), "SREM|t:safety:ublock:o@x|u0@x");
    desk_store_cmd_free(&c);
    desk_store_ublock_clear(&c, P, "o@x");
    ck_assert_str_eq(args(), "DEL|t:safety:ublock:o@x");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("desk_store");
    TCase *t = tcase_create("store");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, sanctions);
    tcase_add_test(t, audit_log);
    tcase_add_test(t, filing);
    tcase_add_test(t, review);
    tcase_add_test(t, erase);
    tcase_add_test(t, block_lists_in_pieces);
    suite_add_tcase(s, t);
    return tu_run(s);
}
