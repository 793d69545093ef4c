"""The 'with' field on a room's archive (XEP-0313 4.1.1), through real
Prosody and ejabberd with the archive in Redis.

4.1.1: "If a 'with' field is present in the form, it contains a JID against
which to match messages. The server MUST only return messages if they match
the supplied JID." On a room's archive the sender is an occupant JID
(room@service/nick); the room's bare JID is every message. Paging (XEP-0059)
runs over the matches only. The archive has no index by sender, so a query
looks at 5000 entries at most (component/muc/mamwith.h); when that cuts it
short, the page is not complete and its open end lets the client go on."""

from __future__ import annotations

import subprocess
import time

from mucutil import assert_error, create_room, fin_of, mam_query, mam_row, new_room, say, \
    the_stanza_id
from xmpp import dump

SCAN = 5000  # MUC_MAM_WITH_SCAN


def bodies(rows):
    return [mam_row(m)["body"] for m in rows]


def test_with_names_an_occupant_4_1_1(stack, connect, redis):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "mamwith")
    create_room(alice, room)
    bob.join(room, "Bob")
    sids = {}
    for i in range(6):
        who = bob if i % 2 else alice
        sids[f"m{i}"] = the_stanza_id(say(who, room, f"m{i}"), room)
    key = f"stoa-{stack.kind}:muc:log:{room}"
    assert redis.wait_reply(":6", "XLEN", key) == ":6", f"the archive in Redis ({key})"
    bob_jid = {"with": f"{room}/Bob"}

    # Forwards, two at a time, over Bob's messages only.
    rows, fin = mam_query(alice, room, "<max>2</max>", fields=bob_jid)
    assert bodies(rows) == ["m1", "m3"], [dump(m) for m in rows]
    assert {mam_row(m)["msg_from"] for m in rows} == {f"{room}/Bob"}
    assert fin_of(fin) == ("false", sids["m1"], sids["m3"])
    rows, fin = mam_query(alice, room, f"<max>2</max><after>{sids['m3']}</after>", fields=bob_jid)
    assert bodies(rows) == ["m5"]
    assert fin_of(fin) == ("true", sids["m5"], sids["m5"])
    # Backwards from the newest.
    rows, fin = mam_query(alice, room, "<max>2</max><before/>", fields=bob_jid)
    assert bodies(rows) == ["m3", "m5"]
    assert fin_of(fin) == ("false", sids["m3"], sids["m5"])
    rows, fin = mam_query(alice, room, f"<max>2</max><before>{sids['m3']}</before>",
                          fields=bob_jid)
    assert bodies(rows) == ["m1"]
    assert fin_of(fin) == ("true", sids["m1"], sids["m1"])
    # With the time and id fields too.
    rows, fin = mam_query(alice, room, fields={**bob_jid, "after-id": sids["m1"],
                                               "before-id": sids["m5"]})
    assert bodies(rows) == ["m3"]

    # The room's bare JID: everyone's.
    rows, fin = mam_query(bob, room, fields={"with": room})
    assert bodies(rows) == [f"m{i}" for i in range(6)]
    assert fin_of(fin)[0] == "true"
    # A nick nobody sent under, a real JID: nothing (no message of this
    # archive is "with" them), a complete page.
    for other in (f"{room}/Carol", stack.jid("bob")):
        rows, fin = mam_query(alice, room, fields={"with": other})
        assert rows == [] and fin_of(fin) == ("true", None, None), (other, dump(fin))
    # Not a JID at all.
    rows, fin = mam_query(alice, room, fields={"with": f"@{stack.domain}"})
    assert rows == []
    assert_error(fin, "jid-malformed", frm=room)
    # An RSM id the archive does not hold is still item-not-found (4.3.2).
    for who in (f"{room}/Bob", stack.jid("bob")):
        rows, fin = mam_query(alice, room, "<after>ffffffffffffffff</after>",
                              fields={"with": who})
        assert_error(fin, "item-not-found", frm=room)


def fill(redis, key: str, first_ms: int, count: int) -> None:
    """Writes count messages by 'Filler' straight into the archive stream,
    one a millisecond from first_ms: a long archive without sending it."""
    script = ("for i=0,tonumber(ARGV[2])-1 do local ms=tonumber(ARGV[1])+i "
              "redis.call('XADD',KEYS[1],ms..'-0','nick','Filler','oid','',"
              "'stamp',string.format('%.3f',ms/1000),'payload','<body>filler</body>') end "
              "return redis.call('XLEN',KEYS[1])")
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "EVAL", script, "1", key,
                          str(first_ms), str(count)], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == str(count), (out.stdout, out.stderr)


def test_with_scan_is_bounded_and_resumable(stack, connect, redis):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "mamscan")
    create_room(alice, room)
    key = f"stoa-{stack.kind}:muc:log:{room}"
    # 6000 messages by someone else, older than anything sent now, then Bob's.
    fill(redis, key, int(time.time() * 1000) - 600_000, SCAN + 1000)
    bob.join(room, "Bob")
    sid = the_stanza_id(say(bob, room, "from Bob"), room)
    assert redis.wait_reply(f":{SCAN + 1001}", "XLEN", key) == f":{SCAN + 1001}"
    bob_jid = {"with": f"{room}/Bob"}

    # Forwards: the first 5000 entries hold nothing of Bob's. The page is
    # empty but not complete, and <last> is where the scan stopped.
    rows, fin = mam_query(alice, room, "<max>5</max>", fields=bob_jid)
    complete, first, last = fin_of(fin)
    assert rows == [] and complete == "false" and first == last and last is not None, dump(fin)
    rows, fin = mam_query(alice, room, f"<max>5</max><after>{last}</after>", fields=bob_jid)
    assert bodies(rows) == ["from Bob"]
    assert fin_of(fin) == ("true", sid, sid)

    # Backwards: Bob's message fills the page; looking for one more hits the
    # bound, so not complete, and the page's own first id goes on from it.
    rows, fin = mam_query(alice, room, "<max>1</max><before/>", fields=bob_jid)
    assert bodies(rows) == ["from Bob"]
    assert fin_of(fin) == ("false", sid, sid)
    rows, fin = mam_query(alice, room, f"<max>1</max><before>{sid}</before>", fields=bob_jid)
    complete, first, last = fin_of(fin)
    assert rows == [] and complete == "false" and first == last and first < sid, dump(fin)
    rows, fin = mam_query(alice, room, f"<max>1</max><before>{first}</before>", fields=bob_jid)
    assert rows == [] and fin_of(fin) == ("true", None, None), dump(fin)
